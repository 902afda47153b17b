//! `rdpsweep report`: re-evaluates saved scans (JSON or JSONL) against client profiles, and
//! writes them again in any format, without rescanning. Several inputs (the shards of one
//! scan, scans of several subnets) are merged by `report::saved::merge`: one schema version,
//! and for an endpoint in several files the records of the file given last.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::exit;
use super::select::{CompatArgs, resolve_clients};
use crate::client::builtin;
use crate::report::output::{Format, OutputSpec, Outputs};
use crate::report::rows::Rows;
use crate::report::saved;
use crate::report::summary::{ScanMeta, Summary};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Saved scans: `-o FILE.json` or `-o FILE.jsonl` (or `--format json/jsonl` output).
    /// Repeatable, or several after one -i (`-i shard-*.jsonl`): their endpoints are merged;
    /// an endpoint in several files is taken from the file given last (list them oldest
    /// first).
    #[arg(short, long, value_name = "FILE", num_args = 1.., required = true)]
    pub input: Vec<PathBuf>,
    /// Format on standard output.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write results to FILE; the format follows the extension: .csv .json .jsonl, .xlsx (a
    /// workbook), .html (a self-contained report), .txt (the table). Repeatable.
    #[arg(short, long, value_name = "FILE")]
    pub output: Vec<PathBuf>,
    /// List every endpoint in the table, CSV, matrix, workbook and HTML, closed and filtered
    /// ones too (by default they list the endpoints that answered and only count the others).
    #[arg(long)]
    pub all_endpoints: bool,
    #[command(flatten)]
    pub compat: CompatArgs,
}

/// `rdpsweep report`.
pub fn run(args: ReportArgs) -> ExitCode {
    let prepared = (|| -> Result<_> {
        let clients = resolve_clients(&args.compat.select, &builtin::default_profile_names())?;
        let mut scans = Vec::new();
        let mut read: Vec<&PathBuf> = Vec::new();
        for path in &args.input {
            if let Some(first) = read.iter().find(|p| super::same_file(p, path)) {
                eprintln!(
                    "rdpsweep: warning: {} is the same file as {}: read once",
                    path.display(),
                    first.display()
                );
                continue;
            }
            read.push(path);
            let scan = saved::read(path)?;
            for w in &scan.warnings {
                eprintln!("rdpsweep: warning: {w}");
            }
            scans.push(scan);
        }
        let merged = saved::merge(scans)?;
        for w in &merged.warnings {
            eprintln!("rdpsweep: warning: {w}");
        }
        let outputs = Outputs::open(&OutputSpec {
            stdout: Some(args.format),
            files: super::output_files(&args.output)?,
            matrix: args.compat.matrix.clone(),
            append: None,
            clients: clients.iter().map(|c| c.name.clone()).collect(),
            rows: Rows::from_all_endpoints(args.all_endpoints),
        })?;
        Ok((merged.hosts, outputs, clients))
    })();
    let (hosts, mut outputs, clients) = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rdpsweep: {e:#}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let started = super::now_rfc3339();
    let names: Vec<String> = clients.iter().map(|c| c.name.clone()).collect();
    let mut summary = Summary::new(&names);
    for mut h in hosts {
        crate::compat::evaluate_all(&mut h, &clients);
        summary.add(&h);
        if let Err(e) = outputs.write(&h) {
            eprintln!("rdpsweep: {e:#}");
            return ExitCode::from(exit::RUNTIME);
        }
    }
    let meta = ScanMeta {
        tool: "rdpsweep",
        version: env!("CARGO_PKG_VERSION"),
        started,
        finished: Some(super::now_rfc3339()),
        targets: args.input.iter().map(|p| p.display().to_string()).collect(),
        ports: Vec::new(),
        compat: summary.compat.clone(),
        summary: Some(summary),
        clients,
    };
    super::finish(outputs, &meta, args.format, &args.compat.fail_on)
}
