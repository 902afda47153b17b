//! `rdpsweep scan`: its arguments, resolved into one [`ScanConfig`] before any packet is sent,
//! and the run.

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use clap::Args;

use super::exit;
use super::select::{CompatArgs, resolve_clients};
use crate::analysis::AnalysisOptions;
use crate::observe::tls::TlsVersionMode;
use crate::probe::ProbeOptions;
use crate::probe::pace::Pacer;
use crate::probe::tls::TlsContext;
use crate::report::output::{Format, OutputSpec, Outputs};
use crate::report::rows::Rows;
use crate::report::saved;
use crate::report::schema::SCHEMA_VERSION;
use crate::report::summary::ScanMeta;
use crate::scan::{self, Resolve, ScanConfig};
use crate::target::{self, Shard, TargetSet, TargetSpec};

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Targets: IP, CIDR (10.0.0.0/24, fd00::/120), range (10.0.0.1-10.0.0.50, 10.0.0.1-50),
    /// hostname; each optionally with :PORT (IPv6: [fd00::1]:3390).
    // The brackets are the target syntax, shown as-is by clap, not a rustdoc link.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Ports for targets without their own: 3389 or 3389,13389-13400.
    #[arg(short, long, default_value = "3389")]
    pub ports: String,
    /// Read targets from FILE (one per line, # comments; - for stdin). Repeatable.
    #[arg(short, long, value_name = "FILE")]
    pub input_file: Vec<PathBuf>,
    /// Never scan these (comma-separated addresses, ranges, CIDRs, names).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Read exclusions from FILE.
    #[arg(long, value_name = "FILE")]
    pub exclude_file: Vec<PathBuf>,
    /// Write results to FILE; the format follows the extension: .csv .json .jsonl, .xlsx (a
    /// workbook), .html (a self-contained report), .txt (the table). Repeatable.
    #[arg(short, long, value_name = "FILE")]
    pub output: Vec<PathBuf>,
    /// List every endpoint in the table, CSV, matrix, workbook and HTML, closed and filtered
    /// ones too (by default they list the endpoints that answered and only count the others;
    /// JSON and JSONL always hold every endpoint).
    #[arg(long)]
    pub all_endpoints: bool,
    /// Format on standard output.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Endpoints in the full probe at once (past their first TCP connection).
    #[arg(short, long, default_value_t = 512)]
    pub concurrency: usize,
    /// First TCP connections pending at once (filtered addresses wait here, cheaply).
    /// Default: what the open-file limit allows, at most 16384, less when the local
    /// connection-tracking table is in use (docs/scaling.md).
    #[arg(long, value_name = "N")]
    pub connect_concurrency: Option<usize>,
    /// At most N new TCP connections per second (default: unlimited).
    #[arg(long, value_name = "N")]
    pub rate: Option<u32>,
    /// Per TCP connection attempt (e.g. 3s, 500ms).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// Per endpoint, covering all of its connections.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Connect from this local address (like nmap -S).
    #[arg(long, value_name = "ADDR")]
    pub source_ip: Option<IpAddr>,
    /// Also probe RDSTLS and RDSAAD (two more connections per endpoint) and, where Standard
    /// RDP Security is accepted, offer each of its encryption methods alone (four more).
    #[arg(long)]
    pub deep: bool,
    /// Also run the CredSSP first leg advertising these client versions (2-6, e.g. 2,3,6), one
    /// more connection each, and record the server's answers (see docs/credssp.md).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub credssp_versions: Vec<u32>,
    /// For hostnames: probe the first address or all A/AAAA addresses.
    #[arg(long, value_enum, default_value = "first")]
    pub resolve: Resolve,
    /// Scan only part I of N (1-based, e.g. 2/4); every part must use the same --seed.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Seed of the target order (spreads consecutive probes across subnets).
    #[arg(long, default_value_t = target::DEFAULT_SEED)]
    pub seed: u64,
    /// Days before expiry that raise cert-expiring-soon.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub cert_expiry_warn: i64,
    /// Extra trust anchors (PEM bundle) for the certificate verdict `tls.trust.ca_file`: an
    /// internal CA, or pinned self-signed RDP certificates.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// How many TLS versions to decide (docs/connection-plan.md): `all` decides each of TLS
    /// 1.0 to 1.3; `quick` costs fewer connections and may leave TLS 1.2 undecided.
    #[arg(long, value_enum, value_name = "MODE", default_value = "all")]
    pub tls_versions: TlsVersionMode,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub compat: CompatArgs,
    /// Skip endpoints already present in FILE (JSONL of an earlier, interrupted run). When FILE
    /// is also an `-o` output it is appended to, so repeating the command finishes the scan.
    #[arg(long, value_name = "FILE.jsonl")]
    pub resume: Option<PathBuf>,
}

/// Reads the `--resume` file with the one saved-scan reader. A file that does not exist yet
/// means nothing is done.
fn load_resume(path: &Path) -> Result<scan::Resume> {
    if !path.exists() {
        eprintln!(
            "rdpsweep: --resume {} does not exist yet: scanning everything",
            path.display()
        );
        return Ok(scan::Resume::default());
    }
    let saved = saved::read(path)?;
    for w in &saved.warnings {
        eprintln!("rdpsweep: --resume {w}");
    }
    // Appending records of this version to a file of another would make a file that
    // `report` and `diff` refuse (one schema version per file).
    if let Some((version, _)) = saved
        .schema_versions()
        .into_iter()
        .find(|(v, _)| *v != SCHEMA_VERSION)
    {
        anyhow::bail!(
            "--resume {}: its records have schema version {version}, this rdpsweep writes {SCHEMA_VERSION}; finish that scan with the rdpsweep that started it, or start a new file (docs/output.md, schema versions)",
            path.display()
        );
    }
    Ok(scan::Resume::from_saved(&saved))
}

/// Makes the `--resume` file safe to append to: an incomplete last line (a run killed
/// mid-write) is cut off, so its endpoint is scanned again; a complete record that only
/// lacks its newline gets one.
fn repair_jsonl_tail(path: &Path) -> Result<()> {
    use std::io::Write;
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let tail = bytes.get(keep..).unwrap_or_default();
    let complete = serde_json::from_slice::<serde_json::Value>(tail).is_ok_and(|v| v.is_object());
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {} to append", path.display()))?;
    if complete {
        let mut file = file;
        use std::io::Seek;
        file.seek(std::io::SeekFrom::End(0))
            .and_then(|_| file.write_all(b"\n"))
            .with_context(|| format!("cannot append to {}", path.display()))?;
    } else {
        file.set_len(u64::try_from(keep).unwrap_or(u64::MAX))
            .with_context(|| format!("cannot truncate {}", path.display()))?;
        eprintln!(
            "rdpsweep: --resume {}: removed an incomplete last line ({} bytes); that endpoint is scanned again",
            path.display(),
            tail.len()
        );
    }
    Ok(())
}

/// Reads a target or exclusion file (`-` is standard input), naming it in errors.
fn read_list(path: &Path) -> Result<(String, String)> {
    if path == Path::new("-") {
        let text = std::io::read_to_string(std::io::stdin())
            .context("cannot read targets from standard input")?;
        return Ok((text, "standard input".into()));
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
    Ok((text, path.display().to_string()))
}

fn parse_specs(tokens: &[String], files: &[PathBuf]) -> Result<Vec<TargetSpec>> {
    let mut specs = Vec::new();
    for t in tokens {
        specs.push(target::parse_target(t)?);
    }
    for f in files {
        let (text, origin) = read_list(f)?;
        specs.extend(target::parse_target_list(&text, &origin)?);
    }
    Ok(specs)
}

/// Descriptors kept for everything but the endpoints' sockets: standard streams, outputs,
/// the resolver, the platform's trust store, slack.
const FD_RESERVE: u64 = 64;

/// The most first connections pending at once by default: 4 rounds of connect timeouts for a
/// /16, about 2 KB each (16 MB; see docs/scaling.md for the measured cost).
pub const CONNECT_CONCURRENCY_MAX: usize = 16_384;

/// The local connection-tracking table (Linux netfilter), when it is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conntrack {
    /// `nf_conntrack_max`.
    pub max: u64,
    /// `nf_conntrack_count`.
    pub count: u64,
    /// `nf_conntrack_tcp_timeout_syn_sent`, seconds: how long an unanswered SYN's entry stays.
    pub syn_sent_timeout_s: u64,
}

impl Conntrack {
    /// The table of this network namespace, if the kernel tracks connections in it (a
    /// stateful firewall or NAT is loaded and has entries).
    pub fn read() -> Option<Self> {
        let read = |name: &str| -> Option<u64> {
            std::fs::read_to_string(format!("/proc/sys/net/netfilter/{name}"))
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        let table = Self {
            max: read("nf_conntrack_max")?,
            count: read("nf_conntrack_count")?,
            syn_sent_timeout_s: read("nf_conntrack_tcp_timeout_syn_sent").unwrap_or(120),
        };
        // A table with no entries is not tracking this namespace's traffic (our own
        // connection to the terminal or the network would be in it).
        (table.count > 0).then_some(table)
    }

    /// Pending connects whose entries fit in half the free table: every connect timing out
    /// after `connect_timeout` leaves an entry for the SYN_SENT timeout (120 s on Linux), so
    /// the table holds about `pending / connect_timeout × syn_sent_timeout` of them.
    pub fn pending_cap(&self, connect_timeout: Duration) -> usize {
        let free = self.max.saturating_sub(self.count) / 2;
        let secs = connect_timeout.as_secs_f64().max(0.001);
        let syn_sent = self.syn_sent_timeout_s.max(1) as f64;
        // Float to integer: saturating in Rust; a NaN (impossible here) would give 0.
        let cap = (free as f64 * secs.min(syn_sent) / syn_sent) as u64;
        usize::try_from(cap).unwrap_or(usize::MAX).max(1)
    }
}

/// The two concurrencies a scan runs with, and why they differ from what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    pub concurrency: usize,
    pub connect_concurrency: usize,
    pub warnings: Vec<String>,
}

/// Fits `--concurrency` and `--connect-concurrency` (None: the default) into the open-file
/// limit `nofile` (None: unknown or unlimited) and, for the default only, into the local
/// connection-tracking table. Every endpoint in flight holds at most one socket: the full
/// probes one each, the pending ones one each (those connected and waiting for a slot
/// included).
pub fn fit_concurrency(
    nofile: Option<u64>,
    concurrency: usize,
    connect: Option<usize>,
    conntrack: Option<&Conntrack>,
    connect_timeout: Duration,
) -> Fitted {
    let mut warnings = Vec::new();
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    // Half of what is left after the reserve goes to the full probes at most, the rest to
    // pending connects (at least 1 each).
    let room = nofile.map(|n| to_usize(n.saturating_sub(FD_RESERVE)));
    let mut concurrency = concurrency.max(1);
    if let Some(room) = room {
        let fit = (room / 2).max(1);
        if concurrency > fit {
            warnings.push(format!(
                "open-file limit {} cannot cover --concurrency {concurrency}; using {fit}",
                nofile.unwrap_or_default()
            ));
            concurrency = fit;
        }
    }
    let fd_room = room.map_or(usize::MAX, |r| r.saturating_sub(concurrency).max(1));
    let connect_concurrency = match connect {
        Some(asked) => {
            let asked = asked.max(1);
            if asked > fd_room {
                warnings.push(format!(
                    "open-file limit {} cannot cover --connect-concurrency {asked} with --concurrency {concurrency}; using {fd_room}",
                    nofile.unwrap_or_default()
                ));
                fd_room
            } else {
                asked
            }
        }
        None => {
            let table = conntrack.map_or(usize::MAX, |t| t.pending_cap(connect_timeout));
            CONNECT_CONCURRENCY_MAX.min(fd_room).min(table).max(1)
        }
    };
    Fitted {
        concurrency,
        connect_concurrency,
        warnings,
    }
}

/// Raises the soft open-file limit to the hard limit (Unix); returns the soft limit then in
/// force, or None when there is none to respect.
pub fn raise_nofile() -> Option<u64> {
    #[cfg(unix)]
    {
        let (soft, hard) = rlimit::Resource::NOFILE.get().ok()?;
        if hard > soft {
            // On macOS the hard limit may be "unlimited" while the kernel caps lower;
            // `increase_nofile_limit` knows both.
            let _ = rlimit::increase_nofile_limit(hard);
        }
        let soft = rlimit::Resource::NOFILE
            .get()
            .map(|(s, _)| s)
            .unwrap_or(soft);
        (soft != rlimit::INFINITY).then_some(soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// A fully resolved scan: configuration, targets and outputs.
pub struct ResolvedScan {
    pub config: ScanConfig,
    pub targets: Arc<TargetSet>,
    pub stdout: Format,
    pub files: Vec<(PathBuf, Format)>,
    pub meta: ScanMeta,
}

/// Resolves and validates everything before any packet is sent.
pub fn resolve_scan(args: &ScanArgs) -> Result<ResolvedScan> {
    let specs = parse_specs(&args.targets, &args.input_file)?;
    if specs.is_empty() {
        bail!("no targets given: name some on the command line or with --input-file");
    }
    let mut excludes = Vec::new();
    for t in &args.exclude {
        excludes.push(target::parse_target(t.trim())?);
    }
    for f in &args.exclude_file {
        let (text, origin) = read_list(f)?;
        excludes.extend(target::parse_target_list(&text, &origin)?);
    }
    let ports = target::parse_ports(&args.ports)?;
    let targets = TargetSet::new(specs, excludes, &ports, args.seed, args.shard)?;

    let files = super::output_files(&args.output)?;
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.connect_concurrency == Some(0) {
        bail!("--connect-concurrency must be at least 1");
    }
    if args.rate == Some(0) {
        bail!("--rate must be at least 1 connection per second");
    }
    if args.connect_timeout.is_zero() || args.timeout.is_zero() {
        bail!("timeouts must be longer than zero");
    }
    if let Some(v) = args.credssp_versions.iter().find(|v| !(2..=6).contains(*v)) {
        bail!("--credssp-versions: {v} is not a CredSSP version (MS-CSSP defines 2 to 6)");
    }
    // In the order given, each version once.
    let mut credssp_versions: Vec<u32> = Vec::new();
    for &v in &args.credssp_versions {
        if !credssp_versions.contains(&v) {
            credssp_versions.push(v);
        }
    }
    let clients = resolve_clients(
        &args.compat.select,
        &crate::client::builtin::default_profile_names(),
    )?;
    let tls = TlsContext::new()?;
    let (trust_stores, warnings) = super::trust::load_trust_stores(&super::trust::TrustOptions {
        ca_file: args.ca_file.clone(),
        ..super::trust::TrustOptions::default()
    })?;
    for warning in &warnings {
        tracing::warn!("platform trust store: {warning}");
    }
    let config = ScanConfig {
        probe: ProbeOptions {
            connect_timeout: args.connect_timeout,
            host_timeout: args.timeout,
            source_ip: args.source_ip,
            deep: args.deep,
            pacer: args.rate.map(|r| Arc::new(Pacer::new(r))),
            credssp_versions,
            tls: Some(Arc::new(tls)),
            tls_versions: args.tls_versions,
        },
        analysis: AnalysisOptions {
            cert_expiry_warn_days: args.cert_expiry_warn,
            trust: trust_stores,
        },
        concurrency: args.concurrency,
        // Fitted to the open-file limit by `run`.
        connect_concurrency: args.connect_concurrency.unwrap_or(CONNECT_CONCURRENCY_MAX),
        resolve: args.resolve,
        progress: !args.no_progress && std::io::stderr().is_terminal(),
        grace: args.timeout.min(Duration::from_secs(5)),
        resume: match &args.resume {
            Some(path) => Some(Arc::new(load_resume(path)?)),
            None => None,
        },
        clients: Arc::new(clients),
        now_unix: scan::now_unix(),
    };
    let meta = ScanMeta {
        tool: "rdpsweep",
        version: env!("CARGO_PKG_VERSION"),
        started: super::now_rfc3339(),
        finished: None,
        targets: args.targets.clone(),
        ports,
        summary: None,
        clients: Vec::new(),
        compat: Vec::new(),
    };
    Ok(ResolvedScan {
        config,
        targets: Arc::new(targets),
        stdout: args.format,
        files,
        meta,
    })
}

/// `rdpsweep scan`.
pub async fn run(args: ScanArgs) -> ExitCode {
    let mut resolved = match resolve_scan(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rdpsweep: {e:#}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let conntrack = if cfg!(target_os = "linux") {
        Conntrack::read()
    } else {
        None
    };
    let fitted = fit_concurrency(
        raise_nofile(),
        resolved.config.concurrency,
        args.connect_concurrency,
        conntrack.as_ref(),
        args.connect_timeout,
    );
    for w in &fitted.warnings {
        tracing::warn!("{w}");
    }
    resolved.config.concurrency = fitted.concurrency;
    resolved.config.connect_concurrency = fitted.connect_concurrency;
    // A JSONL output that is also the --resume file is appended to, never truncated.
    let append = args.resume.as_deref().and_then(|resume| {
        resolved
            .files
            .iter()
            .find(|(path, format)| *format == Format::Jsonl && super::same_file(path, resume))
            .map(|(path, _)| path.clone())
    });
    if let Some(path) = &append
        && let Err(e) = repair_jsonl_tail(path)
    {
        eprintln!("rdpsweep: {e:#}");
        return ExitCode::from(exit::USAGE);
    }
    if let Some(done) = resolved.config.resume.as_ref().filter(|r| !r.is_empty()) {
        eprintln!(
            "rdpsweep: resuming: {} endpoints already in the --resume file are not scanned again",
            done.len()
        );
    }
    let spec = OutputSpec {
        stdout: Some(resolved.stdout),
        files: resolved.files.clone(),
        matrix: args.compat.matrix.clone(),
        append,
        clients: resolved
            .config
            .clients
            .iter()
            .map(|c| c.name.clone())
            .collect(),
        rows: Rows::from_all_endpoints(args.all_endpoints),
    };
    let mut outputs = match Outputs::open(&spec) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("rdpsweep: {e:#}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let summary = match scan::run(&resolved.config, resolved.targets.clone(), &mut outputs).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rdpsweep: {e:#}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let mut meta = resolved.meta;
    meta.finished = Some(super::now_rfc3339());
    meta.clients = resolved.config.clients.as_ref().clone();
    meta.compat = summary.compat.clone();
    let interrupted = summary
        .interrupted
        .then_some((summary.endpoints, summary.skipped));
    meta.summary = Some(summary);
    let code = super::finish(outputs, &meta, resolved.stdout, &args.compat.fail_on);
    if let Some((written, skipped)) = interrupted {
        eprintln!("rdpsweep: interrupted; {written} endpoints written, {skipped} not scanned");
        if let Some((path, _)) = resolved.files.iter().find(|(_, f)| *f == Format::Jsonl) {
            eprintln!(
                "rdpsweep: to scan the rest, run the same command with --resume {}",
                path.display()
            );
        }
        return ExitCode::from(exit::INTERRUPTED);
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    const T3: Duration = Duration::from_secs(3);

    #[test]
    fn the_default_connect_concurrency_fills_the_open_file_limit_up_to_the_cap() {
        // 20,000 descriptors: 16,384 pending connects (a /16 in 4 rounds), no warning.
        let f = fit_concurrency(Some(20_000), 512, None, None, T3);
        assert_eq!(
            f,
            Fitted {
                concurrency: 512,
                connect_concurrency: CONNECT_CONCURRENCY_MAX,
                warnings: Vec::new()
            }
        );
        // 4,096: what is left after the reserve and the full probes.
        let f = fit_concurrency(Some(4096), 512, None, None, T3);
        assert_eq!(f.connect_concurrency, 4096 - 64 - 512);
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
        // No limit to respect: the cap.
        let f = fit_concurrency(None, 512, None, None, T3);
        assert_eq!(f.connect_concurrency, CONNECT_CONCURRENCY_MAX);
    }

    #[test]
    fn an_explicit_value_over_the_limit_is_clamped_with_a_warning() {
        let f = fit_concurrency(Some(20_000), 512, Some(30_000), None, T3);
        assert_eq!(f.concurrency, 512);
        assert_eq!(f.connect_concurrency, 20_000 - 64 - 512);
        assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
        assert!(
            f.warnings[0].contains("--connect-concurrency 30000"),
            "{:?}",
            f.warnings
        );
        // Within the limit, an explicit value is kept, above the default cap too.
        let f = fit_concurrency(Some(65_536), 512, Some(40_000), None, T3);
        assert_eq!((f.connect_concurrency, f.warnings.len()), (40_000, 0));
        // A tiny limit: both shrink, each keeps at least one.
        let f = fit_concurrency(Some(100), 1000, Some(1000), None, T3);
        assert_eq!((f.concurrency, f.connect_concurrency), (18, 18));
        assert_eq!(f.warnings.len(), 2, "{:?}", f.warnings);
        let f = fit_concurrency(Some(10), 4, None, None, T3);
        assert_eq!((f.concurrency, f.connect_concurrency), (1, 1));
    }

    #[test]
    fn a_busy_connection_tracking_table_lowers_the_default_only() {
        // Linux defaults: 262,144 entries, an unanswered SYN's entry lives 120 s. Half the
        // free table, at one entry per connect timing out every 3 s: 131,062 x 3 / 120.
        let table = Conntrack {
            max: 262_144,
            count: 20,
            syn_sent_timeout_s: 120,
        };
        assert_eq!(table.pending_cap(T3), 3276);
        let f = fit_concurrency(Some(20_000), 512, None, Some(&table), T3);
        assert_eq!(f.connect_concurrency, 3276);
        // A longer connect timeout means fewer new entries per second.
        assert_eq!(table.pending_cap(Duration::from_secs(12)), 13_106);
        // A full table still allows one.
        let full = Conntrack {
            count: 262_144,
            ..table
        };
        assert_eq!(full.pending_cap(T3), 1);
        // The user's explicit choice is not second-guessed.
        let f = fit_concurrency(Some(20_000), 512, Some(8000), Some(&table), T3);
        assert_eq!(f.connect_concurrency, 8000);
    }

    #[cfg(unix)]
    #[test]
    fn the_soft_open_file_limit_is_raised_to_the_hard_limit() {
        let (_, hard) = rlimit::Resource::NOFILE.get().expect("getrlimit");
        let soft = raise_nofile();
        let (after, _) = rlimit::Resource::NOFILE.get().expect("getrlimit");
        if hard != rlimit::INFINITY {
            assert_eq!(soft, Some(after));
            assert_eq!(after, hard, "the soft limit is the hard limit now");
        }
    }
}
