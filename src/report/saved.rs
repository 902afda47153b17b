//! Reading saved scans: the one reader behind `rdpsweep report`, `--resume` and `rdpsweep
//! diff`. A saved scan is a JSON document (`-o FILE.json`: `{"hosts": [...], "scan": {...}}`)
//! or JSONL (`-o FILE.jsonl`: one host record per line). Every error names the file and the
//! line; a JSONL file whose last line was cut off by a crash is read without that line, and the
//! warning says what was skipped.
//!
//! [`parse`] works on any `BufRead` (no file system), so tests and the fuzz target feed it
//! bytes; [`read`] opens a file with a size cap.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::HostReport;

/// Saved scans larger than this are refused.
pub const MAX_INPUT_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// A JSONL line longer than this is refused.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

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

/// A saved scan, read.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedScan {
    /// The host records, in file order.
    pub hosts: Vec<HostReport>,
    pub format: SavedFormat,
    /// What was skipped (a torn last line), for the user.
    pub warnings: Vec<String>,
}

/// Why a saved scan could not be read. Every message names the file (and line).
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
}

#[derive(serde::Deserialize)]
struct SavedDocument {
    hosts: Vec<HostReport>,
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
    let hosts = match format {
        SavedFormat::Json => {
            let mut text = String::new();
            reader.read_to_string(&mut text).map_err(io)?;
            let doc: SavedDocument =
                serde_json::from_str(&text).map_err(|e| SavedScanError::NotADocument {
                    source_name: source_name.to_owned(),
                    line: e.line().max(1),
                    why: e.to_string(),
                })?;
            return finish(doc.hosts, format, Vec::new(), source_name);
        }
        SavedFormat::Jsonl => read_lines(reader, source_name)?,
    };
    finish(hosts.0, format, hosts.1, source_name)
}

fn finish(
    hosts: Vec<HostReport>,
    format: SavedFormat,
    warnings: Vec<String>,
    source_name: &str,
) -> Result<SavedScan, SavedScanError> {
    if hosts.is_empty() {
        return Err(SavedScanError::Empty {
            source_name: source_name.to_owned(),
        });
    }
    Ok(SavedScan {
        hosts,
        format,
        warnings,
    })
}

/// JSONL: one record per line; a last line without its newline that is not a complete record
/// is what a crash mid-write leaves: skipped with a warning.
fn read_lines<R: BufRead>(
    mut reader: R,
    source_name: &str,
) -> Result<(Vec<HostReport>, Vec<String>), SavedScanError> {
    let mut hosts = Vec::new();
    let mut warnings = Vec::new();
    let mut line = Vec::new();
    let mut number = 0usize;
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
                warnings.push(torn_warning(source_name, number, line.len()));
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
            Ok(r) => hosts.push(r),
            Err(e) if torn && e.is_eof() => {
                warnings.push(torn_warning(source_name, number, line.len()));
                break;
            }
            Err(e) => {
                let why = if text.starts_with("{\"hosts\"") {
                    "this line is a JSON document (rdpsweep -o FILE.json), not a JSONL record: \
                     give the file a .json extension"
                        .to_owned()
                } else {
                    e.to_string()
                };
                return Err(SavedScanError::NotARecord {
                    source_name: source_name.to_owned(),
                    line: number,
                    why,
                });
            }
        }
    }
    Ok((hosts, warnings))
}

fn torn_warning(source_name: &str, line: usize, len: usize) -> String {
    format!(
        "{source_name}:{line}: skipped an incomplete last line ({len} bytes, cut off mid-write)"
    )
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
}
