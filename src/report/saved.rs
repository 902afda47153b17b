//! Reading saved scans: the one reader behind `rdpsweep report`, `--resume` and `rdpsweep
//! diff`. A saved scan is a JSON document (`-o FILE.json`: `{"hosts": [...], "scan": {...}}`)
//! or JSONL (`-o FILE.jsonl`: one host record per line). Every error names the file and the
//! line (the `hosts[i]` index in a JSON document); a JSONL file whose last line was cut off by
//! a crash is read without that line, and the warning says what was skipped.
//!
//! Schema versions (`docs/output.md`): a record's `schema_version` (1 when absent) may be any
//! version up to [`SCHEMA_VERSION`]; a newer one is refused ("written by a newer rdpsweep"),
//! because this reader would silently drop the fields it does not know.
//!
//! [`merge`] joins several saved scans (the shards of one scan, or scans of several subnets)
//! for `rdpsweep report`: one schema version only, and for an endpoint in several files the
//! records of the file given last.
//!
//! [`parse`] works on any `BufRead` (no file system), so tests and the fuzz target feed it
//! bytes; [`read`] opens a file with a size cap.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::HostReport;
use super::sanitize::escape_controls;
use super::schema::SCHEMA_VERSION;

/// Saved scans larger than this are refused.
pub const MAX_INPUT_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// A JSONL line longer than this is refused.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;
/// [`merge`] names at most this many duplicate endpoints, then counts the rest.
pub const MAX_DUPLICATE_WARNINGS: usize = 20;

/// The two saved forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SavedFormat {
    /// One JSON document.
    Json,
    /// One host record per line.
    Jsonl,
}

impl SavedFormat {
    /// The form a file name asks for, by extension; `None` when the extension says nothing.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Where a record is in its file: a JSONL line, or an index in a JSON document's `hosts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordAt {
    /// 1-based line of a JSONL file.
    Line(usize),
    /// 0-based index in `hosts` (as `jq '.hosts[3]'` reads it).
    Index(usize),
}

impl fmt::Display for RecordAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordAt::Line(n) => write!(f, "line {n}"),
            RecordAt::Index(i) => write!(f, "hosts[{i}]"),
        }
    }
}

/// A saved scan, read.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedScan {
    /// The host records, in file order.
    pub hosts: Vec<HostReport>,
    /// Where each of `hosts` is in the file (same length and order).
    pub at: Vec<RecordAt>,
    pub format: SavedFormat,
    /// The name given to [`parse`] (the path, for [`read`]), for messages.
    pub source_name: String,
    /// What was skipped (a torn last line), for the user.
    pub warnings: Vec<String>,
}

impl SavedScan {
    /// `FILE:LINE` (`FILE (hosts[i])` in a JSON document) of record `i`.
    pub fn location(&self, i: usize) -> String {
        location(&self.source_name, self.at.get(i).copied())
    }

    /// The schema versions of the records, each with its first record: one entry unless the
    /// file mixes versions (a JSONL file appended to by two rdpsweep versions).
    /// In the order they first appear.
    pub fn schema_versions(&self) -> Vec<(u32, usize)> {
        let mut versions: Vec<(u32, usize)> = Vec::new();
        for (i, h) in self.hosts.iter().enumerate() {
            if !versions.iter().any(|(v, _)| *v == h.schema_version) {
                versions.push((h.schema_version, i));
            }
        }
        versions
    }

    /// The oldest schema version among the records ([`SCHEMA_VERSION`] when there is none).
    pub fn oldest_schema_version(&self) -> u32 {
        self.hosts
            .iter()
            .map(|h| h.schema_version)
            .min()
            .unwrap_or(SCHEMA_VERSION)
    }
}

fn location(source_name: &str, at: Option<RecordAt>) -> String {
    match at {
        Some(RecordAt::Line(n)) => format!("{source_name}:{n}"),
        Some(at @ RecordAt::Index(_)) => format!("{source_name} ({at})"),
        None => source_name.to_owned(),
    }
}

/// Why a saved scan could not be read (or merged). Every message names the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum SavedScanError {
    #[error("cannot read {source_name}: {error}")]
    Io {
        source_name: String,
        error: std::io::Error,
    },
    #[error("{source_name} is larger than {MAX_INPUT_BYTES} bytes")]
    TooLarge { source_name: String },
    #[error("{source_name}:{line}: line longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong { source_name: String, line: usize },
    #[error("{source_name}:{line}: not UTF-8")]
    NotUtf8 { source_name: String, line: usize },
    #[error("{source_name}:{line}: not an rdpsweep JSON document: {why}")]
    NotADocument {
        source_name: String,
        line: usize,
        why: String,
    },
    #[error("{source_name}:{line}: not an rdpsweep host record: {why}")]
    NotARecord {
        source_name: String,
        line: usize,
        why: String,
    },
    #[error("{source_name}: no host records")]
    Empty { source_name: String },
    /// A record of a schema version newer than this reader's.
    #[error(
        "{location}: written by a newer rdpsweep (schema version {version}; this rdpsweep reads versions up to {SCHEMA_VERSION}): read it with that version or a newer one"
    )]
    Newer { location: String, version: u64 },
    /// `schema_version` 0 (versions start at 1).
    #[error("{location}: schema_version 0 is not a schema version (they start at 1)")]
    VersionZero { location: String },
    /// [`merge`] of records with different schema versions.
    #[error(
        "cannot merge saved scans of different schema versions: {first} has version {first_version}, {second} has version {second_version} (written by different rdpsweep versions, their records do not have the same fields); report them separately, or rescan with one rdpsweep version"
    )]
    MixedVersions {
        first: String,
        first_version: u32,
        second: String,
        second_version: u32,
    },
}

#[derive(Deserialize)]
struct SavedDocument {
    hosts: Vec<HostReport>,
}

/// Only the version of a record: explains a record that does not parse.
#[derive(Deserialize)]
struct RecordVersion {
    #[serde(default)]
    schema_version: Option<u64>,
}

/// Only the versions of a document's records.
#[derive(Deserialize)]
struct DocumentVersions {
    hosts: Vec<RecordVersion>,
}

/// The shape of `rdpsweep diff --format json` output.
#[derive(Deserialize)]
struct DiffDocument {
    added: Option<IgnoredAny>,
    changed: Option<IgnoredAny>,
    summary: Option<IgnoredAny>,
}

/// The shape of a `rdpsweep diff --format jsonl` line.
#[derive(Deserialize)]
struct DiffLine {
    kind: Option<String>,
    endpoint: Option<IgnoredAny>,
}

/// Reads a saved scan from `path` (its extension decides the form; without one the content
/// does).
pub fn read(path: &Path) -> Result<SavedScan, SavedScanError> {
    let name = path.display().to_string();
    let io = |error| SavedScanError::Io {
        source_name: name.clone(),
        error,
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_INPUT_BYTES {
        return Err(SavedScanError::TooLarge { source_name: name });
    }
    parse(
        BufReader::new(file.take(MAX_INPUT_BYTES)),
        &name,
        SavedFormat::from_path(path),
    )
}

/// Parses a saved scan named `source_name` (for messages); `format` when known, else the
/// content decides (a document starts with `{"hosts"`).
pub fn parse<R: BufRead>(
    mut reader: R,
    source_name: &str,
    format: Option<SavedFormat>,
) -> Result<SavedScan, SavedScanError> {
    let io = |error| SavedScanError::Io {
        source_name: source_name.to_owned(),
        error,
    };
    let format = match format {
        Some(f) => f,
        None => {
            let head = reader.fill_buf().map_err(io)?;
            let compact: String = String::from_utf8_lossy(head)
                .chars()
                .filter(|c| !c.is_whitespace())
                .take(9)
                .collect();
            if compact.starts_with("{\"hosts\"") {
                SavedFormat::Json
            } else {
                SavedFormat::Jsonl
            }
        }
    };
    let (hosts, at, warnings) = match format {
        SavedFormat::Json => {
            let mut text = String::new();
            reader.read_to_string(&mut text).map_err(io)?;
            let hosts = read_document(&text, source_name)?;
            let at = (0..hosts.len()).map(RecordAt::Index).collect();
            (hosts, at, Vec::new())
        }
        SavedFormat::Jsonl => read_lines(reader, source_name)?,
    };
    if hosts.is_empty() {
        return Err(SavedScanError::Empty {
            source_name: source_name.to_owned(),
        });
    }
    Ok(SavedScan {
        hosts,
        at,
        format,
        source_name: source_name.to_owned(),
        warnings,
    })
}

/// Refuses a version this reader cannot read (newer than its own, or 0).
fn check_version(version: u64, location: impl FnOnce() -> String) -> Result<(), SavedScanError> {
    if version > u64::from(SCHEMA_VERSION) {
        return Err(SavedScanError::Newer {
            location: location(),
            version,
        });
    }
    if version == 0 {
        return Err(SavedScanError::VersionZero {
            location: location(),
        });
    }
    Ok(())
}

/// A JSON document: the records, each version checked.
fn read_document(text: &str, source_name: &str) -> Result<Vec<HostReport>, SavedScanError> {
    let at = |i| location(source_name, Some(RecordAt::Index(i)));
    match serde_json::from_str::<SavedDocument>(text) {
        Ok(doc) => {
            for (i, h) in doc.hosts.iter().enumerate() {
                check_version(u64::from(h.schema_version), || at(i))?;
            }
            Ok(doc.hosts)
        }
        Err(e) => {
            // A newer record may fail on a value this reader does not know: say so rather
            // than show the type error.
            if let Ok(versions) = serde_json::from_str::<DocumentVersions>(text) {
                for (i, r) in versions.hosts.iter().enumerate() {
                    check_version(r.schema_version.unwrap_or(1), || at(i))?;
                }
            }
            Err(SavedScanError::NotADocument {
                source_name: source_name.to_owned(),
                line: e.line().max(1),
                why: document_hint(text).unwrap_or_else(|| e.to_string()),
            })
        }
    }
}

/// What a file that is not a saved-scan document is instead, when it is recognisable.
fn document_hint(text: &str) -> Option<String> {
    if let Ok(d) = serde_json::from_str::<DiffDocument>(text)
        && d.added.is_some()
        && d.changed.is_some()
        && d.summary.is_some()
    {
        return Some("this is `rdpsweep diff` output, not a saved scan".to_owned());
    }
    let first = text.lines().find(|l| !l.trim().is_empty())?;
    serde_json::from_str::<HostReport>(first).ok().map(|_| {
        "this is JSONL (one host record per line), not a JSON document: give the file a \
         .jsonl extension"
            .to_owned()
    })
}

/// What a JSONL line that is not a host record is instead, when it is recognisable.
fn line_hint(text: &str) -> Option<String> {
    if !text.starts_with('{') {
        return Some(
            "not a JSON object (a saved scan holds one host record, a JSON object, per line)"
                .to_owned(),
        );
    }
    if text.starts_with("{\"hosts\"") {
        return Some(
            "this line is a JSON document (rdpsweep -o FILE.json), not a JSONL record: give \
             the file a .json extension"
                .to_owned(),
        );
    }
    let d = serde_json::from_str::<DiffLine>(text).ok()?;
    (d.kind.is_some() && d.endpoint.is_some()).then(|| {
        "this line is `rdpsweep diff` output, not a host record of a saved scan".to_owned()
    })
}

type Lines = (Vec<HostReport>, Vec<RecordAt>, Vec<String>);

/// JSONL: one record per line; a last line without its newline that is not a complete record
/// is what a crash mid-write leaves: skipped with a warning.
fn read_lines<R: BufRead>(mut reader: R, source_name: &str) -> Result<Lines, SavedScanError> {
    let mut hosts = Vec::new();
    let mut at = Vec::new();
    let mut warnings = Vec::new();
    let mut line = Vec::new();
    let mut number = 0usize;
    let here = |n: usize| location(source_name, Some(RecordAt::Line(n)));
    loop {
        line.clear();
        number += 1;
        let limit = u64::try_from(MAX_LINE_BYTES + 1).unwrap_or(u64::MAX);
        let read = (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .map_err(|error| SavedScanError::Io {
                source_name: source_name.to_owned(),
                error,
            })?;
        if read == 0 {
            break;
        }
        if line.len() > MAX_LINE_BYTES {
            return Err(SavedScanError::LineTooLong {
                source_name: source_name.to_owned(),
                line: number,
            });
        }
        let torn = !line.ends_with(b"\n");
        let text = match std::str::from_utf8(&line) {
            Ok(t) => t.trim(),
            Err(_) if torn => {
                let text = String::from_utf8_lossy(&line);
                warnings.push(torn_warning(source_name, number, line.len(), &text));
                break;
            }
            Err(_) => {
                return Err(SavedScanError::NotUtf8 {
                    source_name: source_name.to_owned(),
                    line: number,
                });
            }
        };
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<HostReport>(text) {
            Ok(r) => {
                check_version(u64::from(r.schema_version), || here(number))?;
                hosts.push(r);
                at.push(RecordAt::Line(number));
            }
            Err(e) if torn && e.is_eof() => {
                warnings.push(torn_warning(source_name, number, line.len(), text));
                break;
            }
            Err(e) => {
                if let Ok(r) = serde_json::from_str::<RecordVersion>(text) {
                    check_version(r.schema_version.unwrap_or(1), || here(number))?;
                }
                return Err(SavedScanError::NotARecord {
                    source_name: source_name.to_owned(),
                    line: number,
                    why: line_hint(text).unwrap_or_else(|| e.to_string()),
                });
            }
        }
    }
    Ok((hosts, at, warnings))
}

/// The first value of `"key":` in a torn record, when it is complete (a record starts with
/// `schema_version`, `target`, `ip`, `port`, so a torn line nearly always still has them).
fn torn_field<T: serde::de::DeserializeOwned>(text: &str, key: &str) -> Option<T> {
    let needle = format!("\"{key}\":");
    let rest = text.get(text.find(&needle)? + needle.len()..)?;
    serde_json::Deserializer::from_str(rest)
        .into_iter::<T>()
        .next()?
        .ok()
}

fn torn_warning(source_name: &str, line: usize, len: usize, text: &str) -> String {
    let target: Option<String> = torn_field(text, "target");
    let ip: Option<Option<IpAddr>> = torn_field(text, "ip");
    let port: Option<u16> = torn_field(text, "port");
    let what = match (target, ip, port) {
        (Some(t), Some(ip), Some(port)) => format!(
            ": the record of {}; scan that endpoint again",
            escape_controls(&HostReport::new(t, ip, port).endpoint())
        ),
        (Some(t), _, _) => format!(
            ": a record of target {}; scan it again",
            escape_controls(&t)
        ),
        _ => String::new(),
    };
    format!(
        "{source_name}:{line}: skipped an incomplete last line ({len} bytes, cut off mid-write){what}"
    )
}

/// Several saved scans joined into one list of records ([`merge`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The records kept, in input order (file by file, record by record).
    pub hosts: Vec<HostReport>,
    /// One line per record dropped as a duplicate (at most [`MAX_DUPLICATE_WARNINGS`], then a
    /// count), naming the endpoint and both places.
    pub warnings: Vec<String>,
    /// How many records were dropped.
    pub dropped: usize,
}

impl Merged {
    fn drop_one(&mut self, warning: String) {
        self.dropped += 1;
        if self.warnings.len() < MAX_DUPLICATE_WARNINGS {
            self.warnings.push(warning);
        }
    }
}

/// The endpoint identity across files: (address, port), or (name, port) for a name that did
/// not resolve (case-insensitive, without a trailing dot).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Endpoint {
    Ip(IpAddr, u16),
    Name(String, u16),
}

fn normal_name(target: &str) -> String {
    target.trim_end_matches('.').to_ascii_lowercase()
}

fn endpoint_key(h: &HostReport) -> Endpoint {
    match h.ip {
        Some(ip) => Endpoint::Ip(ip, h.port),
        None => Endpoint::Name(normal_name(&h.target), h.port),
    }
}

/// Joins saved scans given in order, oldest first (`docs/output.md`, "Several saved scans"):
///
/// - all records must have the same schema version, else [`SavedScanError::MixedVersions`];
/// - an endpoint (address and port) in several files: the records of the file given last are
///   kept, the earlier files' records of that endpoint dropped. The order of the files is the
///   only reliable "newest": JSONL has no scan time, and a JSON document's `scan.finished` is
///   the time it was written (by `report` too), not when its endpoints were probed;
/// - within one file, two records of the same target, address and port (the same endpoint
///   probed twice: a concatenation, a rerun appended to the file): the later line is kept.
///   The same address under two targets (a name and its address) is two records, as in the
///   scan that wrote them.
///
/// Every dropped record is a warning naming the endpoint and both places.
pub fn merge(scans: Vec<SavedScan>) -> Result<Merged, SavedScanError> {
    // One schema version: each version with its first record.
    let mut versions: Vec<(u32, String)> = Vec::new();
    for s in &scans {
        for (version, i) in s.schema_versions() {
            if !versions.iter().any(|(v, _)| *v == version) {
                versions.push((version, s.location(i)));
            }
        }
    }
    if let [(first_version, first), (second_version, second), ..] = versions.as_slice() {
        return Err(SavedScanError::MixedVersions {
            first: first.clone(),
            first_version: *first_version,
            second: second.clone(),
            second_version: *second_version,
        });
    }

    // The last file holding each endpoint, and the first record of it there.
    let mut last_file: HashMap<Endpoint, (usize, usize)> = HashMap::new();
    // Within each file: the last record of each (target, endpoint).
    let mut last_in_file: HashMap<(usize, String, Endpoint), usize> = HashMap::new();
    for (f, s) in scans.iter().enumerate() {
        for (i, h) in s.hosts.iter().enumerate() {
            let key = endpoint_key(h);
            match last_file.get(&key) {
                Some((lf, _)) if *lf == f => {}
                _ => {
                    last_file.insert(key.clone(), (f, i));
                }
            }
            last_in_file.insert((f, normal_name(&h.target), key), i);
        }
    }

    let mut merged = Merged {
        hosts: Vec::new(),
        warnings: Vec::new(),
        dropped: 0,
    };
    // Names and record positions, for the warnings (the records move out below).
    let files: Vec<(String, Vec<RecordAt>)> = scans
        .iter()
        .map(|s| (s.source_name.clone(), s.at.clone()))
        .collect();
    let name = |f: usize| files.get(f).map(|(n, _)| n.as_str()).unwrap_or_default();
    let at = |f: usize, i: usize| files.get(f).and_then(|(_, at)| at.get(i)).copied();
    let place = |f: usize, i: usize| location(name(f), at(f, i));
    for (f, s) in scans.into_iter().enumerate() {
        for (i, h) in s.hosts.into_iter().enumerate() {
            let key = endpoint_key(&h);
            let endpoint = escape_controls(&h.endpoint()).into_owned();
            let (lf, li) = last_file.get(&key).copied().unwrap_or((f, i));
            if lf != f {
                merged.drop_one(format!(
                    "{endpoint} is in {} and in {}: kept the record from {}, the file given later",
                    place(f, i),
                    place(lf, li),
                    name(lf)
                ));
                continue;
            }
            let li = last_in_file
                .get(&(f, normal_name(&h.target), key))
                .copied()
                .unwrap_or(i);
            if li != i {
                let line = |i| at(f, i).map(|a| a.to_string()).unwrap_or_default();
                merged.drop_one(format!(
                    "{endpoint} is twice in {} ({} and {}): kept the later record",
                    name(f),
                    line(i),
                    line(li)
                ));
                continue;
            }
            merged.hosts.push(h);
        }
    }
    if merged.dropped > merged.warnings.len() {
        let more = merged.dropped - merged.warnings.len();
        merged.warnings.push(format!(
            "... and {more} more duplicate records (the later one kept each time)"
        ));
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(port: u16) -> String {
        let r = HostReport::new("192.0.2.1".into(), Some("192.0.2.1".parse().unwrap()), port);
        serde_json::to_string(&r).unwrap()
    }

    fn parse_str(text: &str, format: Option<SavedFormat>) -> Result<SavedScan, SavedScanError> {
        parse(text.as_bytes(), "scan", format)
    }

    #[test]
    fn jsonl_and_documents_in_any_form() {
        let jsonl = format!("{}\n\n{}\n", record(1), record(2));
        let s = parse_str(&jsonl, None).unwrap();
        assert_eq!(s.format, SavedFormat::Jsonl);
        assert_eq!(s.hosts.len(), 2);
        assert!(s.warnings.is_empty());
        let doc = format!(
            "{{\n  \"hosts\": [{}, {}],\n  \"scan\": {{}}\n}}\n",
            record(1),
            record(2)
        );
        let s = parse_str(&doc, None).unwrap();
        assert_eq!(s.format, SavedFormat::Json);
        assert_eq!(s.hosts[1].port, 2);
    }

    #[test]
    fn a_torn_last_line_is_skipped_with_a_warning() {
        let full = record(2);
        let text = format!("{}\n{}", record(1), &full[..full.len() / 2]);
        let s = parse_str(&text, Some(SavedFormat::Jsonl)).unwrap();
        assert_eq!(s.hosts.len(), 1);
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].starts_with("scan:2: skipped an incomplete last line"));
        // A complete last record without its newline is kept.
        let s = parse_str(&format!("{}\n{}", record(1), record(2)), None).unwrap();
        assert_eq!(s.hosts.len(), 2);
    }

    #[test]
    fn bad_input_names_the_file_and_line() {
        let err = |text: &str, f| parse_str(text, f).unwrap_err().to_string();
        assert!(
            err(&format!("{}\nhello\n", record(1)), None)
                .starts_with("scan:2: not an rdpsweep host record")
        );
        // A torn line in the middle is not forgiven.
        let full = record(2);
        assert!(err(&format!("{}\n{}\n", &full[..10], record(1)), None).starts_with("scan:1: "));
        assert_eq!(err("", None), "scan: no host records");
        assert_eq!(
            err("\n\n", Some(SavedFormat::Jsonl)),
            "scan: no host records"
        );
        assert!(
            err("[1, 2]", Some(SavedFormat::Json))
                .starts_with("scan:1: not an rdpsweep JSON document")
        );
        let doc = format!("{{\"hosts\": [{}]}}", record(1));
        assert!(
            err(&doc, Some(SavedFormat::Jsonl)).contains("give the file a .json extension"),
            "a document named .jsonl"
        );
        assert!(err("\u{0}\u{1}{", None).starts_with("scan:1: "));
    }

    /// A record as JSON with `schema_version` set to `version` (`None`: the field removed).
    fn versioned(port: u16, version: Option<u64>) -> String {
        let mut v = serde_json::to_value(HostReport::new(
            "192.0.2.1".into(),
            Some("192.0.2.1".parse().unwrap()),
            port,
        ))
        .unwrap();
        let map = v.as_object_mut().unwrap();
        match version {
            Some(n) => map.insert("schema_version".into(), n.into()),
            None => map.remove("schema_version"),
        };
        serde_json::to_string(&v).unwrap()
    }

    #[test]
    fn schema_versions_up_to_ours_are_read_and_newer_ones_refused() {
        // Written first, and the current version.
        assert!(record(1).starts_with(&format!("{{\"schema_version\":{SCHEMA_VERSION},")));
        let s = parse_str(&format!("{}\n{}\n", versioned(1, None), record(2)), None).unwrap();
        assert_eq!(s.hosts[0].schema_version, 1, "no field reads as version 1");
        assert_eq!(s.hosts[1].schema_version, SCHEMA_VERSION);
        assert_eq!(s.schema_versions(), [(1, 0), (2, 1)]);
        assert_eq!(s.oldest_schema_version(), 1);
        assert_eq!(s.at, [RecordAt::Line(1), RecordAt::Line(2)]);

        let newer = u64::from(SCHEMA_VERSION) + 1;
        let jsonl = format!("{}\n{}\n", record(1), versioned(2, Some(newer)));
        let e = parse_str(&jsonl, None).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "scan:2: written by a newer rdpsweep (schema version {newer};"
            )),
            "{e}"
        );
        // A newer record that this reader cannot even parse (a value it does not know) is
        // still named as newer, not as a type error.
        let strange =
            versioned(3, Some(newer)).replace("\"status\":\"error\"", "\"status\":\"rdp_gateway\"");
        let e = parse_str(&format!("{strange}\n"), None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("scan:1: written by a newer rdpsweep"), "{e}");
        // The same in a document, naming the record.
        let doc = format!(
            "{{\"hosts\": [{}, {}]}}",
            record(1),
            versioned(2, Some(newer))
        );
        let e = parse_str(&doc, None).unwrap_err().to_string();
        assert!(
            e.starts_with("scan (hosts[1]): written by a newer rdpsweep"),
            "{e}"
        );
        let doc = format!("{{\"hosts\": [{}, {strange}]}}", record(1));
        let e = parse_str(&doc, None).unwrap_err().to_string();
        assert!(
            e.starts_with("scan (hosts[1]): written by a newer rdpsweep"),
            "{e}"
        );
        let e = parse_str(&versioned(1, Some(0)), None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("scan:1: schema_version 0"), "{e}");
    }

    #[test]
    fn other_rdpsweep_files_are_named() {
        let err = |text: &str, f| parse_str(text, f).unwrap_err().to_string();
        // JSONL given a .json name.
        let e = err(
            &format!("{}\n{}\n", record(1), record(2)),
            Some(SavedFormat::Json),
        );
        assert!(
            e.starts_with("scan:1: not an rdpsweep JSON document: this is JSONL"),
            "{e}"
        );
        // diff output, both forms.
        let diff = r#"{"added":[],"removed":[],"changed":[],"summary":{}}"#;
        let e = err(diff, Some(SavedFormat::Json));
        assert!(e.contains("this is `rdpsweep diff` output"), "{e}");
        let line = r#"{"kind":"added","endpoint":"192.0.2.1:1","target":"192.0.2.1"}"#;
        let e = err(&format!("{}\n{line}\n", record(1)), None);
        assert!(
            e.starts_with(
                "scan:2: not an rdpsweep host record: this line is `rdpsweep diff` output"
            ),
            "{e}"
        );
        // A target list, a CSV: not JSON objects.
        let e = err("127.0.0.1\n10.0.0.0/24\n", None);
        assert!(
            e.starts_with("scan:1: not an rdpsweep host record: not a JSON object"),
            "{e}"
        );
        // Anything else keeps serde's reason.
        let e = err("{\"target\": 5}\n", None);
        assert!(
            e.starts_with("scan:1: not an rdpsweep host record: invalid type"),
            "{e}"
        );
    }

    #[test]
    fn a_torn_line_warning_names_the_endpoint() {
        let full = record(3389);
        let text = format!("{}\n{}", record(1), &full[..full.len() - 20]);
        let s = parse_str(&text, None).unwrap();
        assert_eq!(
            s.warnings,
            [format!(
                "scan:2: skipped an incomplete last line ({} bytes, cut off mid-write): the record of 192.0.2.1:3389; scan that endpoint again",
                full.len() - 20
            )]
        );
        // Cut before the port: the target at least.
        let cut = full.find("\"port\"").unwrap();
        let s = parse_str(&format!("{}\n{}", record(1), &full[..cut]), None).unwrap();
        assert!(s.warnings[0].ends_with(": a record of target 192.0.2.1; scan it again"));
    }

    fn scan_of(name: &str, records: &[HostReport]) -> SavedScan {
        let text: String = records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        parse(text.as_bytes(), name, Some(SavedFormat::Jsonl)).unwrap()
    }

    fn host(target: &str, ip: &str, port: u16, connections: u32) -> HostReport {
        let mut h = HostReport::new(target.into(), ip.parse().ok(), port);
        h.connections = connections; // tells the copies apart
        h
    }

    #[test]
    fn merge_keeps_the_file_given_last_and_warns() {
        let a = scan_of(
            "a.jsonl",
            &[
                host("10.0.0.1", "10.0.0.1", 3389, 1),
                host("10.0.0.2", "10.0.0.2", 3389, 1),
            ],
        );
        let b = scan_of(
            "b.jsonl",
            &[
                host("10.0.0.3", "10.0.0.3", 3389, 2),
                host("10.0.0.2", "10.0.0.2", 3389, 2),
            ],
        );
        let m = merge(vec![a.clone(), b.clone()]).unwrap();
        let got: Vec<(String, u32)> = m
            .hosts
            .iter()
            .map(|h| (h.endpoint(), h.connections))
            .collect();
        assert_eq!(
            got,
            [
                ("10.0.0.1:3389".to_owned(), 1),
                ("10.0.0.3:3389".to_owned(), 2),
                ("10.0.0.2:3389".to_owned(), 2)
            ]
        );
        assert_eq!(m.dropped, 1);
        assert_eq!(
            m.warnings,
            [
                "10.0.0.2:3389 is in a.jsonl:2 and in b.jsonl:2: kept the record from b.jsonl, the file given later"
            ]
        );
        // The other order keeps a's record.
        let m = merge(vec![b, a]).unwrap();
        assert!(
            m.hosts
                .iter()
                .any(|h| h.endpoint() == "10.0.0.2:3389" && h.connections == 1)
        );
    }

    #[test]
    fn merge_within_one_file() {
        // The same target twice (a concatenation): the later line; a name and its address:
        // both kept, as the scan wrote them; an unresolved name matched case-insensitively.
        let a = scan_of(
            "a.jsonl",
            &[
                host("10.0.0.1", "10.0.0.1", 3389, 1),
                host("desk-7.example", "10.0.0.1", 3389, 1),
                host("Gone.example.", "-", 3389, 1),
                host("10.0.0.1", "10.0.0.1", 3389, 2),
                host("gone.example", "-", 3389, 2),
            ],
        );
        let m = merge(vec![a]).unwrap();
        let got: Vec<(String, u32)> = m
            .hosts
            .iter()
            .map(|h| (h.endpoint(), h.connections))
            .collect();
        assert_eq!(
            got,
            [
                ("10.0.0.1:3389".to_owned(), 1),
                ("10.0.0.1:3389".to_owned(), 2),
                ("gone.example:3389".to_owned(), 2)
            ]
        );
        assert_eq!(m.hosts[0].target, "desk-7.example");
        assert_eq!(
            m.warnings,
            [
                "10.0.0.1:3389 is twice in a.jsonl (line 1 and line 4): kept the later record",
                "Gone.example.:3389 is twice in a.jsonl (line 3 and line 5): kept the later record"
            ]
        );
    }

    #[test]
    fn merge_counts_beyond_the_warning_limit() {
        let many: Vec<HostReport> = (0..30u8)
            .map(|i| host(&format!("10.0.1.{i}"), &format!("10.0.1.{i}"), 3389, 1))
            .collect();
        let m = merge(vec![scan_of("a.jsonl", &many), scan_of("b.jsonl", &many)]).unwrap();
        assert_eq!(m.hosts.len(), 30);
        assert_eq!(m.dropped, 30);
        assert_eq!(m.warnings.len(), MAX_DUPLICATE_WARNINGS + 1);
        assert_eq!(
            m.warnings.last().unwrap(),
            "... and 10 more duplicate records (the later one kept each time)"
        );
    }

    #[test]
    fn merge_refuses_two_schema_versions() {
        let mut old = host("10.0.0.1", "10.0.0.1", 3389, 1);
        old.schema_version = 1;
        let new = host("10.0.0.2", "10.0.0.2", 3389, 1);
        let e = merge(vec![
            scan_of("old.jsonl", &[old.clone()]),
            scan_of("new.jsonl", std::slice::from_ref(&new)),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "cannot merge saved scans of different schema versions: old.jsonl:1 has version 1, new.jsonl:1 has version 2"
            ),
            "{e}"
        );
        // Within one file too (a JSONL file appended to by two versions).
        let e = merge(vec![scan_of("mixed.jsonl", &[new, old])])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mixed.jsonl:1 has version 2, mixed.jsonl:2 has version 1"),
            "{e}"
        );
    }
}
