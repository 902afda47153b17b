//! `rdpsweep diff OLD NEW`: what changed between two saved scans (`docs/diff.md`).
//!
//! Both arguments are read by `report::saved` (JSON or JSONL), compared by the pure engine
//! `report::diff`, and written to standard output (`--format`, a table by default) and to any
//! `-o FILE` (format by extension). Files are written as `NAME.partial` and renamed only when
//! every output is complete, so an error never leaves a half-written diff. Everything the user
//! can get wrong (arguments, inputs, an output that cannot be created) is checked before
//! anything is written.
//!
//! Exit status: 0 written, 1 a `--fail-on` condition reached, 2 bad usage or input (nothing
//! written), 3 an output could not be written.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::exit;
use crate::report::HostReport;
use crate::report::diff::{self, DiffFailOn, DiffOptions, ScanDiff};
use crate::report::sanitize::escape_controls;
use crate::report::saved::{self, MAX_DUPLICATE_WARNINGS, SavedScan};
use crate::report::schema::{SCHEMA_FIELDS, fields_added_after};

/// The formats of a diff (`docs/diff.md`, "Formats").
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Sections of added, removed and changed endpoints, then the counts.
    Table,
    /// One document: `added`, `removed`, `changed`, `summary`.
    Json,
    /// One object per line, each with `kind`.
    Jsonl,
    /// One row per change (spreadsheet-safe).
    Csv,
}

impl DiffFormat {
    /// The format a file name asks for, by extension (`.txt` is the table).
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "txt" => Some(Self::Table),
            "json" => Some(Self::Json),
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    /// Writes `d` in this format; `file` adds what only files get (the CSV byte-order mark).
    fn write<W: Write>(self, out: W, d: &ScanDiff, file: bool) -> io::Result<()> {
        match self {
            DiffFormat::Table => diff::write_table(out, d),
            DiffFormat::Json => diff::write_json(out, d),
            DiffFormat::Jsonl => diff::write_jsonl(out, d),
            DiffFormat::Csv => diff::write_csv(out, d, file),
        }
    }
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier saved scan (`-o FILE.json` or `FILE.jsonl` of `scan` or `report`).
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The later saved scan.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Match endpoints by target and port instead of address and port (hosts with changing
    /// DHCP addresses, scanned by name).
    #[arg(long)]
    pub by_target: bool,
    /// Format on standard output.
    #[arg(long, value_enum, default_value = "table")]
    pub format: DiffFormat,
    /// Also write the diff to FILE; the format follows the extension (.txt .json .jsonl .csv).
    /// Repeatable. Written as FILE.partial and renamed when complete.
    #[arg(short, long, value_name = "FILE")]
    pub output: Vec<PathBuf>,
    /// Exit 1 when an endpoint regressed, changed at all, was added or was removed (added and
    /// removed count only endpoints where something answered). Repeatable, or comma-separated.
    #[arg(long, value_enum, value_name = "WHAT", value_delimiter = ',')]
    pub fail_on: Vec<DiffFailOn>,
    /// Never compare this path or anything below it: `compat`, `ntlm.dns_tree`,
    /// `compat[*].outcome` (paths as the diff lists them). Repeatable, or comma-separated.
    #[arg(long, value_name = "PATH", value_delimiter = ',')]
    pub ignore: Vec<String>,
}

/// `-o FILE` arguments with the format each extension names.
fn output_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, DiffFormat)>> {
    paths
        .iter()
        .map(|path| match DiffFormat::from_path(path) {
            Some(f) => Ok((path.clone(), f)),
            None => bail!(
                "cannot tell the format of output file {}: use a .txt, .json, .jsonl or .csv extension",
                path.display()
            ),
        })
        .collect()
}

/// The top-level fields of a host record (`docs/output.md`), for `--ignore`.
fn record_fields() -> Vec<String> {
    let mut fields: Vec<String> =
        match serde_json::to_value(HostReport::new(String::new(), None, 0)) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        };
    let later = SCHEMA_FIELDS
        .iter()
        .flat_map(|(_, paths)| paths.iter())
        .map(|p| first_segment(p).to_owned());
    for f in later.chain(["compat".to_owned()]) {
        if !fields.contains(&f) {
            fields.push(f);
        }
    }
    fields.sort();
    fields
}

fn first_segment(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or_default()
}

/// `--ignore` paths: each must start with a field of the host record (a typo would otherwise
/// silently ignore nothing).
fn ignore_paths(paths: &[String]) -> Result<Vec<String>> {
    let fields = record_fields();
    let mut out = Vec::new();
    for p in paths {
        let p = p.trim();
        if p.is_empty() {
            bail!("--ignore: an empty path");
        }
        let first = first_segment(p);
        if !fields.iter().any(|f| f == first) {
            bail!(
                "--ignore {}: a host record has no field {:?} (fields: {})",
                escape_controls(p),
                escape_controls(first),
                fields.join(", ")
            );
        }
        out.push(p.to_owned());
    }
    Ok(out)
}

/// The two scans, read and checked, with what the user should know about them.
struct Inputs {
    old: SavedScan,
    new: SavedScan,
    options: DiffOptions,
    notes: Vec<String>,
}

fn read_inputs(args: &DiffArgs) -> Result<(Vec<(PathBuf, DiffFormat)>, Inputs)> {
    let files = output_files(&args.output)?;
    for (path, _) in &files {
        for input in [&args.old, &args.new] {
            if super::same_file(path, input) {
                bail!(
                    "-o {}: that is an input; the diff would replace the saved scan",
                    path.display()
                );
            }
        }
    }
    let ignore = ignore_paths(&args.ignore)?;
    let old = saved::read(&args.old)?;
    let new = saved::read(&args.new)?;
    let mut notes: Vec<String> = old
        .warnings
        .iter()
        .chain(&new.warnings)
        .map(|w| format!("warning: {w}"))
        .collect();
    let mut options = DiffOptions {
        match_by_target: args.by_target,
        ignore,
    };
    // Different schema versions: the fields the older scan could not have are left out.
    let versions = |s: &SavedScan| {
        let mut v: Vec<u32> = s.schema_versions().into_iter().map(|(v, _)| v).collect();
        v.sort_unstable();
        v
    };
    let (old_versions, new_versions) = (versions(&old), versions(&new));
    // (Also when both files mix the same versions: a record may meet one of another version.)
    if old_versions
        .iter()
        .chain(&new_versions)
        .any(|v| Some(v) != old_versions.first())
    {
        let base = old.oldest_schema_version().min(new.oldest_schema_version());
        let left_out = fields_added_after(base);
        let list = |v: &[u32]| {
            v.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" and ")
        };
        notes.push(format!(
            "note: {} has schema version {}, {} has {}: fields added after version {base} are not compared ({})",
            old.source_name,
            list(&old_versions),
            new.source_name,
            list(&new_versions),
            if left_out.is_empty() {
                "none".to_owned()
            } else {
                left_out.join(", ")
            }
        ));
        options
            .ignore
            .extend(left_out.into_iter().map(str::to_owned));
    }
    for scan in [&old, &new] {
        let dups = diff::duplicates(&scan.hosts, &options);
        for (dropped, kept) in dups.iter().take(MAX_DUPLICATE_WARNINGS) {
            let endpoint = scan
                .hosts
                .get(*kept)
                .map(|h| escape_controls(&h.endpoint()).into_owned())
                .unwrap_or_default();
            notes.push(format!(
                "warning: {endpoint} is twice in {} ({} and {}): the later record is compared",
                scan.source_name,
                location_in_file(scan, *dropped),
                location_in_file(scan, *kept),
            ));
        }
        if dups.len() > MAX_DUPLICATE_WARNINGS {
            notes.push(format!(
                "warning: ... and {} more duplicate records in {}",
                dups.len() - MAX_DUPLICATE_WARNINGS,
                scan.source_name
            ));
        }
    }
    Ok((
        files,
        Inputs {
            old,
            new,
            options,
            notes,
        },
    ))
}

fn location_in_file(scan: &SavedScan, i: usize) -> String {
    scan.at.get(i).map(ToString::to_string).unwrap_or_default()
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// The `-o` files, created as `NAME.partial` (nothing written yet).
struct OpenFiles {
    files: Vec<(PathBuf, PathBuf, DiffFormat, BufWriter<File>)>,
}

impl OpenFiles {
    /// Creates every `NAME.partial`; when one cannot be created, removes the others (a usage
    /// error, as for `scan`: nothing is written).
    fn create(files: &[(PathBuf, DiffFormat)]) -> Result<Self> {
        let mut open = Self { files: Vec::new() };
        for (path, format) in files {
            let partial = partial_path(path);
            match File::create(&partial) {
                Ok(file) => {
                    open.files
                        .push((partial, path.clone(), *format, BufWriter::new(file)));
                }
                Err(e) => {
                    open.discard();
                    return Err(e).with_context(|| {
                        format!("cannot create output file {}", partial.display())
                    });
                }
            }
        }
        Ok(open)
    }

    /// Removes every `.partial` file.
    fn discard(self) {
        for (partial, ..) in self.files {
            let _ = std::fs::remove_file(partial);
        }
    }

    /// Writes `d` to every file, then renames them all; on an error removes the `.partial`
    /// files left.
    fn write(mut self, d: &ScanDiff) -> Result<()> {
        let mut result = Ok(());
        for (partial, _, format, out) in &mut self.files {
            result = format
                .write(&mut *out, d, true)
                .and_then(|()| out.flush())
                .with_context(|| format!("cannot write {}", partial.display()));
            if result.is_err() {
                break;
            }
        }
        if result.is_err() {
            self.discard();
            return result;
        }
        for (renamed, (partial, path, ..)) in self.files.iter().enumerate() {
            if let Err(e) = std::fs::rename(partial, path) {
                for (partial, ..) in self.files.iter().skip(renamed) {
                    let _ = std::fs::remove_file(partial);
                }
                return Err(e).with_context(|| {
                    format!("cannot rename {} to {}", partial.display(), path.display())
                });
            }
        }
        Ok(())
    }
}

/// `rdpsweep diff`.
pub fn run(args: DiffArgs) -> ExitCode {
    let (files, inputs) = match read_inputs(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rdpsweep: {e:#}");
            return ExitCode::from(exit::USAGE);
        }
    };
    for n in &inputs.notes {
        eprintln!("rdpsweep: {n}");
    }
    let open = match OpenFiles::create(&files) {
        Ok(open) => open,
        Err(e) => {
            eprintln!("rdpsweep: {e:#}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let d = diff::diff(&inputs.old.hosts, &inputs.new.hosts, &inputs.options);
    if let Err(e) = open.write(&d) {
        eprintln!("rdpsweep: {e:#}");
        return ExitCode::from(exit::RUNTIME);
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if let Err(e) = args
        .format
        .write(&mut out, &d, false)
        .and_then(|()| out.flush())
    {
        eprintln!("rdpsweep: cannot write to standard output: {e}");
        return ExitCode::from(exit::RUNTIME);
    }
    if args.format != DiffFormat::Table {
        eprintln!("rdpsweep: {}", d.summary().count_line());
    }
    let reasons = diff::reached(&d, &args.fail_on);
    for r in &reasons {
        eprintln!("rdpsweep: {r}");
    }
    if reasons.is_empty() {
        ExitCode::from(exit::OK)
    } else {
        ExitCode::from(exit::FAIL_ON)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension() {
        for (name, f) in [
            ("d.txt", Some(DiffFormat::Table)),
            ("d.JSON", Some(DiffFormat::Json)),
            ("d.jsonl", Some(DiffFormat::Jsonl)),
            ("d.ndjson", Some(DiffFormat::Jsonl)),
            ("d.csv", Some(DiffFormat::Csv)),
            ("d.xlsx", None),
            ("d", None),
        ] {
            assert_eq!(DiffFormat::from_path(Path::new(name)), f, "{name}");
        }
        let err = output_files(&[PathBuf::from("out.html")]).unwrap_err();
        assert!(err.to_string().contains("out.html"), "{err}");
    }

    #[test]
    fn ignore_paths_must_start_with_a_record_field() {
        let ok = ignore_paths(&[
            "compat".into(),
            " ntlm.dns_tree ".into(),
            "compat[*].outcome".into(),
            "findings[cert-expired]".into(),
            "server".into(),
        ])
        .unwrap();
        assert_eq!(ok[1], "ntlm.dns_tree");
        let err = ignore_paths(&["nltm.dns_tree".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"nltm\"") && err.contains("ntlm"), "{err}");
        assert!(ignore_paths(&[" ".into()]).is_err());
    }

    fn jsonl(dir: &Path, name: &str, versions: &[u32]) -> PathBuf {
        let text: String = versions
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut h = HostReport::new("192.0.2.1".into(), None, 3389 + i as u16);
                h.schema_version = *v;
                serde_json::to_string(&h).unwrap() + "\n"
            })
            .collect();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn args(old: PathBuf, new: PathBuf) -> DiffArgs {
        DiffArgs {
            old,
            new,
            by_target: false,
            format: DiffFormat::Table,
            output: Vec::new(),
            fail_on: Vec::new(),
            ignore: vec!["compat".into()],
        }
    }

    #[test]
    fn fields_of_newer_versions_are_ignored_when_versions_differ() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ignored = |old: &[u32], new: &[u32]| {
            let (_, inputs) = read_inputs(&args(
                jsonl(d, "old.jsonl", old),
                jsonl(d, "new.jsonl", new),
            ))
            .unwrap();
            (inputs.options.ignore, inputs.notes)
        };
        let (ignore, notes) = ignored(&[2, 2], &[2]);
        assert_eq!(ignore, ["compat"]);
        assert!(notes.is_empty(), "{notes:?}");
        let after_1: Vec<String> = std::iter::once("compat")
            .chain(fields_added_after(1))
            .map(str::to_owned)
            .collect();
        assert!(after_1.contains(&"server".to_owned()));
        let (ignore, notes) = ignored(&[1], &[2]);
        assert_eq!(ignore, after_1);
        assert!(notes[0].contains("has schema version 1,"), "{notes:?}");
        assert!(
            notes[0].ends_with("(schema_version, server, rdp_security, tls.versions_undecided, tls.trust.name_checked, ntlm.domain_joined)")
        );
        // Both files mixing the same versions (resumed by a newer rdpsweep).
        let (ignore, notes) = ignored(&[1, 2], &[2, 1]);
        assert_eq!(ignore, after_1);
        assert!(
            notes[0].contains("has schema version 1 and 2,"),
            "{notes:?}"
        );
    }
}
