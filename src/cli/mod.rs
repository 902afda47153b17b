//! The command line: clap arguments per subcommand (`scan`, `client`, `report`, `diff`), each
//! resolved into one configuration before anything runs, and the documented exit codes. Logic
//! that tests need lives in the library modules; this module only wires them.

pub mod client;
pub mod diff;
pub mod report;
pub mod scan;
pub mod select;
pub mod trust;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::report::gate::{self, FailOn};
use crate::report::output::{Format, Outputs};
use crate::report::summary::ScanMeta;

/// Exit codes (documented in README.md).
pub mod exit {
    /// The scan completed (whatever the hosts' states).
    pub const OK: u8 = 0;
    /// A `--fail-on` condition was reached.
    pub const FAIL_ON: u8 = 1;
    /// Bad usage or input: nothing was scanned.
    pub const USAGE: u8 = 2;
    /// The scan could not run or its results could not be written.
    pub const RUNTIME: u8 = 3;
    /// Interrupted by Ctrl-C / SIGTERM; completed endpoints were written.
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, Parser)]
#[command(
    name = "rdpsweep",
    version,
    about = "Concurrent, credential-free RDP posture scanner: security layers, NLA, TLS and certificates, CredSSP patch level, host identity, client compatibility.",
    after_help = "Exit status: 0 scan completed, 1 --fail-on reached, 2 usage or input error (nothing scanned), 3 runtime error, 130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe RDP endpoints and report their posture.
    Scan(Box<scan::ScanArgs>),
    /// Describe RDP clients: the local one by default (--format json output can be fed back
    /// with --client-state).
    Client(client::ClientArgs),
    /// Re-evaluate saved scans (JSON or JSONL) against client profiles, without rescanning;
    /// several inputs (shards, subnets) are merged.
    Report(report::ReportArgs),
    /// What changed between two saved scans: added, removed and changed endpoints, each change
    /// regressed, improved or changed (docs/diff.md).
    Diff(diff::DiffArgs),
}

/// True when `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `-o FILE` arguments with the format each extension names (`.csv`, `.json`, `.jsonl`,
/// `.xlsx`, `.html`, `.txt`).
pub(crate) fn output_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Format)>> {
    paths
        .iter()
        .map(|path| {
            let format = Format::from_path(path).with_context(|| {
                format!(
                    "cannot tell the format of output file {}: use a .csv, .json, .jsonl, .xlsx, .html or .txt extension",
                    path.display()
                )
            })?;
            Ok((path.clone(), format))
        })
        .collect()
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Closes the outputs of `scan` or `report` and decides the exit status: the per-client counts
/// go to standard error when standard output is not the table, then `--fail-on` is decided
/// from the finished summary.
pub(crate) fn finish(
    outputs: Outputs,
    meta: &ScanMeta,
    stdout: Format,
    fail_on: &[FailOn],
) -> ExitCode {
    if let Err(e) = outputs.finish(meta) {
        eprintln!("rdpsweep: {e:#}");
        return ExitCode::from(exit::RUNTIME);
    }
    let Some(summary) = &meta.summary else {
        return ExitCode::from(exit::OK);
    };
    if stdout != Format::Table {
        for s in &summary.compat {
            eprintln!("rdpsweep: compat {}", s.line());
        }
    }
    let reasons = gate::reached(fail_on, summary);
    let mut err = std::io::stderr().lock();
    for r in &reasons {
        let _ = writeln!(err, "rdpsweep: {r}");
    }
    if reasons.is_empty() {
        ExitCode::from(exit::OK)
    } else {
        ExitCode::from(exit::FAIL_ON)
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rdpsweep: cannot start the async runtime: {e}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    match cli.command {
        Command::Scan(args) => runtime.block_on(scan::run(*args)),
        Command::Client(args) => client::run(args),
        Command::Report(args) => report::run(args),
        Command::Diff(args) => diff::run(args),
    }
}
