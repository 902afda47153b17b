//! The client side of the command line: choosing clients (`--client-profile`,
//! `--client-state`, `--clients`, `--what-if`), the compatibility hook that fills
//! `HostReport.compat`, the matrix file, per-client summaries, `--fail-on`, and the `client`
//! and `report` subcommands. Documented in `docs/compat.md`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use super::exit;
use crate::analysis::findings::Severity;
use crate::client::builtin::{self, BUILTIN_NAMES};
use crate::client::load::{self, parse_state_arg};
use crate::client::profile::{ClientProfile, Tristate};
use crate::client::{local, whatif};
use crate::compat::{self, reasons};
use crate::report::HostReport;
use crate::report::matrix::{self, ClientSummary, MatrixWriter, SummaryCounter};
use crate::report::output::{Format, Outputs};
use crate::report::schema::{Outcome, Status};
use crate::report::summary::{ScanMeta, Summary};
use crate::scan::Enrich;

/// Which clients to evaluate.
#[derive(Debug, Clone, Default, Args)]
pub struct ClientSelection {
    /// Client profiles, comma-separated: local, patched-mitigated, patched-force,
    /// patched-vulnerable, unpatched, modern-tls12, or none. When no client option is given:
    /// local,patched-mitigated,unpatched.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub client_profile: Vec<String>,
    /// A client described by a file: a .reg export, `reg query` output, `rdpsweep client
    /// --format json` output or a TOML profile; named NAME, else after the file stem.
    /// Repeatable; registry files given the same NAME are merged.
    #[arg(long, value_name = "[NAME=]FILE")]
    pub client_state: Vec<String>,
    /// A fleet CSV, one client per row (columns in docs/compat.md). Repeatable.
    #[arg(long, value_name = "FILE.csv")]
    pub clients: Vec<PathBuf>,
    /// Also evaluate every client with a proposed change, e.g. allow_encryption_oracle=0
    /// (KEY=VALUE,...), as `<name>+what-if` next to the original.
    #[arg(long, value_name = "KEY=VALUE")]
    pub what_if: Option<String>,
}

/// Compatibility options of `scan` and `report`.
#[derive(Debug, Clone, Default, Args)]
pub struct CompatArgs {
    #[command(flatten)]
    pub select: ClientSelection,
    /// Write the compatibility matrix to FILE.csv: one row per host, a cell and a remediation
    /// column per client.
    #[arg(long, value_name = "FILE.csv")]
    pub matrix: Option<PathBuf>,
    /// Exit with status 1 when any host/client pair reaches LEVEL (warn < exposed < depends <
    /// blocked; `unknown` on its own), or any finding has severity LEVEL or higher (info, low,
    /// medium, high). Comma-separated or repeated.
    #[arg(long, value_enum, value_name = "LEVEL", value_delimiter = ',')]
    pub fail_on: Vec<FailOn>,
}

/// A `--fail-on` level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Warn,
    Exposed,
    Depends,
    Blocked,
    Unknown,
    Info,
    Low,
    Medium,
    High,
}

impl FailOn {
    /// Whether a matrix cell reaches this level. `unknown` ignores hosts that are not RDP
    /// servers (nothing to connect to).
    pub fn cell_reaches(self, outcome: Outcome, reason: Option<&str>) -> bool {
        let rank = |o: Outcome| match o {
            Outcome::Ok | Outcome::Unknown => 0,
            Outcome::Warn => 1,
            Outcome::Exposed => 2,
            Outcome::Depends => 3,
            Outcome::Blocked => 4,
        };
        match self {
            FailOn::Warn => rank(outcome) >= 1,
            FailOn::Exposed => rank(outcome) >= 2,
            FailOn::Depends => rank(outcome) >= 3,
            FailOn::Blocked => rank(outcome) >= 4,
            FailOn::Unknown => outcome == Outcome::Unknown && reason != Some(reasons::NOT_RDP),
            _ => false,
        }
    }

    fn severity(self) -> Option<Severity> {
        match self {
            FailOn::Info => Some(Severity::Info),
            FailOn::Low => Some(Severity::Low),
            FailOn::Medium => Some(Severity::Medium),
            FailOn::High => Some(Severity::High),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            FailOn::Warn => "warn",
            FailOn::Exposed => "exposed",
            FailOn::Depends => "depends",
            FailOn::Blocked => "blocked",
            FailOn::Unknown => "unknown",
            FailOn::Info => "info",
            FailOn::Low => "low",
            FailOn::Medium => "medium",
            FailOn::High => "high",
        }
    }
}

/// Builds the client list: profiles, client-state files, fleet files, what-if twins. Reads
/// every file before anything is scanned; errors name the file and line. `default` applies
/// when no client option is given.
pub fn resolve_clients(sel: &ClientSelection, default: &[&str]) -> Result<Vec<ClientProfile>> {
    let mut names: Vec<String> = sel
        .client_profile
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let defaulted = names.is_empty() && sel.client_state.is_empty() && sel.clients.is_empty();
    if defaulted {
        names = default.iter().map(|s| (*s).to_owned()).collect();
    }
    let mut out: Vec<ClientProfile> = Vec::new();
    for name in &names {
        match name.as_str() {
            "none" => {}
            "local" => {
                let p = local::local_profile("local");
                match defaulted
                    .then(|| local::default_set_drop_note(&p, default))
                    .flatten()
                {
                    Some(note) => eprintln!("rdpsweep: {note}"),
                    None => out.push(p),
                }
            }
            other => match builtin::builtin(other) {
                Some(p) => out.push(p),
                None => bail!(
                    "--client-profile: unknown profile {other:?} (known: local, {}, none)",
                    BUILTIN_NAMES.join(", ")
                ),
            },
        }
    }
    let mut args = Vec::new();
    for s in &sel.client_state {
        args.push(parse_state_arg(s)?);
    }
    out.extend(load::load_client_states(&args)?);
    for f in &sel.clients {
        out.extend(load::load_fleet(f)?);
    }
    if let Some(spec) = &sel.what_if {
        let changes = whatif::parse_what_if(spec).map_err(anyhow::Error::msg)?;
        let twins: Vec<ClientProfile> = out.iter().map(|p| whatif::apply(p, &changes)).collect();
        out.extend(twins);
    }
    for (i, p) in out.iter().enumerate() {
        if out.iter().skip(i + 1).any(|q| q.name == p.name) {
            bail!(
                "client name {:?} is used twice ({} and another); name clients with NAME=FILE",
                p.name,
                p.source
            );
        }
    }
    Ok(out)
}

/// At most this many hosts in the terminal's compact matrix.
pub const COMPACT_ROWS: usize = 200;

#[derive(Default)]
struct RunState {
    matrix: Option<MatrixWriter<BufWriter<File>>>,
    counter: SummaryCounter,
    compact: Vec<(HostReport, Vec<String>)>,
    compact_more: u64,
    failed: Vec<String>,
    error: Option<String>,
}

/// One run's compatibility evaluation: fills `HostReport.compat`, writes the matrix, counts,
/// and tracks `--fail-on`.
pub struct CompatRun {
    clients: Vec<ClientProfile>,
    names: Vec<String>,
    fail_on: Vec<FailOn>,
    matrix_paths: Option<(PathBuf, PathBuf)>,
    state: Mutex<RunState>,
}

/// What a finished run yields.
pub struct CompatResult {
    pub clients: Vec<ClientProfile>,
    pub summaries: Vec<ClientSummary>,
    pub compact: String,
    /// Why `--fail-on` was reached (empty when it was not).
    pub failed: Vec<String>,
}

fn partial(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

impl CompatRun {
    /// Creates the matrix file (as `FILE.partial`, renamed by [`Self::finish`]).
    pub fn open(
        clients: Vec<ClientProfile>,
        matrix_path: Option<&Path>,
        fail_on: Vec<FailOn>,
    ) -> Result<Self> {
        let names: Vec<String> = clients.iter().map(|c| c.name.clone()).collect();
        let mut state = RunState {
            counter: SummaryCounter::new(&names),
            ..RunState::default()
        };
        let mut matrix_paths = None;
        if let Some(path) = matrix_path {
            let tmp = partial(path);
            let file = File::create(&tmp)
                .with_context(|| format!("cannot create matrix file {}", tmp.display()))?;
            state.matrix = Some(
                MatrixWriter::new(BufWriter::new(file), true, names.clone())
                    .with_context(|| format!("cannot write {}", tmp.display()))?,
            );
            matrix_paths = Some((tmp, path.to_owned()));
        }
        Ok(Self {
            clients,
            names,
            fail_on,
            matrix_paths,
            state: Mutex::new(state),
        })
    }

    /// Whether there is anything to do per host.
    pub fn is_active(&self) -> bool {
        !self.clients.is_empty() || !self.fail_on.is_empty() || self.matrix_paths.is_some()
    }

    /// Evaluates every client for `report` (replacing earlier cells) and records the result.
    pub fn process(&self, report: &mut HostReport) {
        report.compat.clear();
        for c in &self.clients {
            report
                .compat
                .insert(c.name.clone(), compat::evaluate(report, c));
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = st.matrix.as_mut()
            && let Err(e) = m.write(report)
        {
            st.error.get_or_insert_with(|| e.to_string());
        }
        st.counter.add(report);
        if report.status == Status::Rdp && !self.names.is_empty() {
            if st.compact.len() < COMPACT_ROWS {
                let cells = self
                    .names
                    .iter()
                    .map(|n| matrix::cell_text(report.compat.get(n)))
                    .collect();
                let mut slim = HostReport::new(report.target.clone(), report.ip, report.port);
                slim.status = report.status;
                st.compact.push((slim, cells));
            } else {
                st.compact_more += 1;
            }
        }
        if st.failed.len() < 5 {
            for level in &self.fail_on {
                if let Some(sev) = level.severity() {
                    if let Some(f) = report.findings.iter().find(|f| f.severity >= sev) {
                        st.failed.push(format!(
                            "{}: finding {} ({}) reaches --fail-on {}",
                            report.endpoint(),
                            f.id,
                            f.severity.as_str(),
                            level.name()
                        ));
                    }
                } else if let Some((client, cell)) = report
                    .compat
                    .iter()
                    .find(|(_, c)| level.cell_reaches(c.outcome, c.reason.as_deref()))
                {
                    st.failed.push(format!(
                        "{} x {client}: {} reaches --fail-on {}",
                        report.endpoint(),
                        matrix::cell_text(Some(cell)),
                        level.name()
                    ));
                }
            }
        }
    }

    /// The scan hook.
    pub fn enrich(self: &Arc<Self>) -> Enrich {
        let me = Arc::clone(self);
        Arc::new(move |r: &mut HostReport| me.process(r))
    }

    /// Flushes and renames the matrix; returns the summaries. Call once, after the last host.
    pub fn finish(&self) -> Result<CompatResult> {
        let st = std::mem::take(&mut *self.state.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(e) = st.error {
            bail!("cannot write the matrix: {e}");
        }
        if let (Some(m), Some((tmp, path))) = (st.matrix, self.matrix_paths.as_ref()) {
            let mut inner = m
                .into_inner()
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            inner
                .flush()
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(tmp, path).with_context(|| {
                format!("cannot rename {} to {}", tmp.display(), path.display())
            })?;
        }
        let mut rows = st.compact;
        rows.sort_by(|a, b| (a.0.ip, a.0.port, &a.0.target).cmp(&(b.0.ip, b.0.port, &b.0.target)));
        let rows: Vec<(String, Vec<String>)> =
            rows.into_iter().map(|(r, c)| (r.endpoint(), c)).collect();
        let compact = matrix::compact_table(&self.names, &rows, st.compact_more);
        Ok(CompatResult {
            clients: self.clients.clone(),
            summaries: st.counter.into_summaries(),
            compact,
            failed: st.failed,
        })
    }
}

impl CompatResult {
    /// Prints the compact matrix and the summary lines (table view) to `out`, or only the
    /// summary lines to standard error for the other formats.
    pub fn print(&self, table: bool) {
        if self.clients.is_empty() {
            return;
        }
        if table {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{}", self.compact);
            let _ = writeln!(out, "clients:");
            for s in &self.summaries {
                let _ = writeln!(out, "  {}", s.line());
            }
            let _ = out.flush();
        } else {
            for s in &self.summaries {
                eprintln!("rdpsweep: compat {}", s.line());
            }
        }
        for f in &self.failed {
            eprintln!("rdpsweep: {f}");
        }
    }
}

// -------------------------------------------------------------------------------------------
// rdpsweep client

/// Output of `rdpsweep client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// `json` prints what `--client-state` reads back (one object; an array for several).
    #[arg(long, value_enum, default_value = "table")]
    pub format: ClientFormat,
    #[command(flatten)]
    pub select: ClientSelection,
}

fn tristate(t: Tristate) -> &'static str {
    t.as_str()
}

/// The human-readable description of a profile.
pub fn describe_profile(p: &ClientProfile) -> String {
    use crate::report::sanitize::escape_controls;
    let mut s = String::new();
    let tls = |list: Vec<crate::client::profile::TlsVersion>| {
        if list.is_empty() {
            "-".to_owned()
        } else {
            list.iter().map(|v| v.label()).collect::<Vec<_>>().join(" ")
        }
    };
    let policy = match p.effective_policy() {
        Some(pol) => format!("{} ({})", pol.label(), pol.dword()),
        None => "unknown".to_owned(),
    };
    let lines = [
        ("client", p.name.clone()),
        ("kind", p.kind.as_str().to_owned()),
        ("source", p.source.clone()),
        (
            "os build",
            match (p.os_build, p.ubr) {
                (Some(b), Some(u)) => format!("{b}.{u}"),
                (Some(b), None) => format!("{b} (UBR unknown)"),
                _ => "-".to_owned(),
            },
        ),
        (
            "version",
            p.version.clone().unwrap_or_else(|| "-".to_owned()),
        ),
        (
            "credssp fix (CVE-2018-0886)",
            tristate(p.credssp_fix).to_owned(),
        ),
        (
            "AllowEncryptionOracle",
            p.allow_encryption_oracle.to_string(),
        ),
        ("effective policy", policy),
        ("nla", tristate(p.nla).to_owned()),
        ("tls versions", tls(p.tls.enabled())),
        ("tls versions unknown", tls(p.tls.unknown_versions())),
        ("tls ciphers", p.tls_ciphers.as_str().to_owned()),
        ("server authentication", p.cert_policy.as_str().to_owned()),
        (
            "standard rdp security",
            tristate(p.standard_rdp_security).to_owned(),
        ),
    ];
    for (k, v) in lines {
        s.push_str(&format!("{k:<28} {}\n", escape_controls(&v)));
    }
    for n in &p.notes {
        s.push_str(&format!("{:<28} {}\n", "note", escape_controls(n)));
    }
    s
}

/// `rdpsweep client`.
pub fn run_client(args: ClientArgs) -> ExitCode {
    let profiles = match resolve_clients(&args.select, &["local"]) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rdpsweep: {e:#}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let text = match args.format {
        ClientFormat::Json => {
            let json = match profiles.as_slice() {
                [one] => serde_json::to_string_pretty(one),
                many => serde_json::to_string_pretty(many),
            };
            match json {
                Ok(j) => format!("{j}\n"),
                Err(e) => {
                    eprintln!("rdpsweep: {e}");
                    return ExitCode::from(exit::RUNTIME);
                }
            }
        }
        ClientFormat::Table => profiles
            .iter()
            .map(describe_profile)
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(exit::RUNTIME);
    }
    ExitCode::from(exit::OK)
}

// -------------------------------------------------------------------------------------------
// rdpsweep report

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A saved scan: `-o FILE.json` or `-o FILE.jsonl` (or `--format json/jsonl` output).
    #[arg(short, long, value_name = "FILE")]
    pub input: PathBuf,
    /// Format on standard output.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write results to FILE; the format follows the extension (.csv .json .jsonl).
    #[arg(short, long, value_name = "FILE")]
    pub output: Vec<PathBuf>,
    #[command(flatten)]
    pub compat: CompatArgs,
}

/// Saved scans larger than this are refused.
pub const MAX_INPUT_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// A JSONL line longer than this is refused.
pub const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(serde::Deserialize)]
struct SavedDocument {
    hosts: Vec<HostReport>,
}

/// Reads the host reports of a saved scan (JSON document or JSONL); errors name the file and
/// line.
pub fn read_saved(path: &Path) -> Result<Vec<HostReport>> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_INPUT_BYTES {
        bail!("{} is larger than {MAX_INPUT_BYTES} bytes", path.display());
    }
    let mut reader = BufReader::new(file);
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let jsonl = match ext.as_deref() {
        Some("jsonl" | "ndjson") => true,
        Some("json") => false,
        _ => {
            // A document starts with `{"hosts"` (possibly pretty-printed); JSONL with a host.
            let head = reader.fill_buf().unwrap_or(&[]);
            let head = String::from_utf8_lossy(head);
            let compact: String = head
                .chars()
                .filter(|c| !c.is_whitespace())
                .take(9)
                .collect();
            !compact.starts_with("{\"hosts\"")
        }
    };
    let shown = path.display();
    if !jsonl {
        let mut text = String::new();
        reader
            .take(MAX_INPUT_BYTES)
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read {shown}"))?;
        let doc: SavedDocument = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{shown}:{}: not an rdpsweep JSON document: {e}",
                e.line().max(1)
            )
        })?;
        return Ok(doc.hosts);
    }
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut n = 0usize;
    loop {
        line.clear();
        n += 1;
        let read = (&mut reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {shown}"))?;
        if read == 0 {
            break;
        }
        if u64::try_from(line.len()).unwrap_or(u64::MAX) > MAX_LINE_BYTES {
            bail!("{shown}:{n}: line longer than {MAX_LINE_BYTES} bytes");
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| anyhow::anyhow!("{shown}:{n}: not UTF-8"))?
            .trim();
        if text.is_empty() {
            continue;
        }
        let r: HostReport = serde_json::from_str(text)
            .map_err(|e| anyhow::anyhow!("{shown}:{n}: not an rdpsweep host record: {e}"))?;
        out.push(r);
    }
    if out.is_empty() {
        bail!("{shown}: no host records");
    }
    Ok(out)
}

/// `rdpsweep report`: re-evaluates a saved scan without rescanning.
pub fn run_report(args: ReportArgs) -> ExitCode {
    let prepared = (|| -> Result<_> {
        let clients = resolve_clients(&args.compat.select, &builtin::default_profile_names())?;
        let hosts = read_saved(&args.input)?;
        let files = super::output_files(&args.output)?;
        let outputs = Outputs::open(Some(args.format), &files)?;
        let run = CompatRun::open(
            clients,
            args.compat.matrix.as_deref(),
            args.compat.fail_on.clone(),
        )?;
        Ok((hosts, outputs, run))
    })();
    let (hosts, mut outputs, run) = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rdpsweep: {e:#}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let started = super::now_rfc3339();
    let mut summary = Summary::default();
    for mut h in hosts {
        run.process(&mut h);
        summary.add(&h);
        if let Err(e) = outputs.write(&h) {
            eprintln!("rdpsweep: {e:#}");
            return ExitCode::from(exit::RUNTIME);
        }
    }
    let result = match run.finish() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rdpsweep: {e:#}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let meta = ScanMeta {
        tool: "rdpsweep",
        version: env!("CARGO_PKG_VERSION"),
        started,
        finished: Some(super::now_rfc3339()),
        targets: vec![args.input.display().to_string()],
        ports: Vec::new(),
        summary: Some(summary),
        clients: result.clients.clone(),
        compat: result.summaries.clone(),
    };
    if let Err(e) = outputs.finish(&meta) {
        eprintln!("rdpsweep: {e:#}");
        return ExitCode::from(exit::RUNTIME);
    }
    result.print(args.format == Format::Table);
    if result.failed.is_empty() {
        ExitCode::from(exit::OK)
    } else {
        ExitCode::from(exit::FAIL_ON)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_levels() {
        use Outcome::*;
        assert!(FailOn::Blocked.cell_reaches(Blocked, Some("tls-version")));
        assert!(!FailOn::Blocked.cell_reaches(Depends, Some("credssp-oracle")));
        assert!(FailOn::Depends.cell_reaches(Blocked, None));
        assert!(FailOn::Exposed.cell_reaches(Depends, None));
        assert!(!FailOn::Exposed.cell_reaches(Warn, None));
        assert!(FailOn::Warn.cell_reaches(Exposed, None));
        assert!(!FailOn::Warn.cell_reaches(Unknown, None));
        assert!(FailOn::Unknown.cell_reaches(Unknown, Some("tls-not-observed")));
        assert!(!FailOn::Unknown.cell_reaches(Unknown, Some("not-rdp")));
        assert!(!FailOn::High.cell_reaches(Blocked, None));
    }

    #[test]
    fn selection_defaults_names_and_duplicates() {
        let sel = ClientSelection::default();
        let v = resolve_clients(&sel, &["patched-mitigated", "unpatched"]).unwrap();
        assert_eq!(v.len(), 2);
        let sel = ClientSelection {
            client_profile: vec!["patched-force".into()],
            what_if: Some("allow_encryption_oracle=2".into()),
            ..ClientSelection::default()
        };
        let v = resolve_clients(&sel, &[]).unwrap();
        let names: Vec<&str> = v.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["patched-force", "patched-force+what-if"]);
        let sel = ClientSelection {
            client_profile: vec!["unpatched".into(), "unpatched".into()],
            ..ClientSelection::default()
        };
        assert!(
            resolve_clients(&sel, &[])
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let sel = ClientSelection {
            client_profile: vec!["patched".into()],
            ..ClientSelection::default()
        };
        assert!(
            resolve_clients(&sel, &[])
                .unwrap_err()
                .to_string()
                .contains("unknown profile")
        );
        let sel = ClientSelection {
            client_profile: vec!["none".into()],
            ..ClientSelection::default()
        };
        assert!(resolve_clients(&sel, &["unpatched"]).unwrap().is_empty());
    }
}
