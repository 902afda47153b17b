//! The result sinks of one scan: stdout in one format plus any number of files and the
//! compatibility matrix, all fed by the scan's single writer loop as endpoints finish (each
//! report already carries its compatibility cells), and closed with the finished summary.
//!
//! Crash safety: JSONL is flushed after every line (append-safe). `.json`, `.csv` and matrix
//! files are written to `NAME.partial` and renamed over `NAME` only when the scan finishes, so
//! an interrupted or failed run never leaves a truncated document under the final name.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::HostReport;
use super::csv::CsvWriter;
use super::matrix::MatrixWriter;
use super::summary::ScanMeta;
use super::table::TableWriter;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Jsonl,
}

impl Format {
    /// The format a file name asks for, by extension.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "json" => Some(Self::Json),
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "txt" => Some(Self::Table),
            _ => None,
        }
    }
}

type Out = Box<dyn Write + Send>;

enum Writer {
    Table(TableWriter<Out>),
    Csv(Box<CsvWriter<Out>>),
    Json { out: Out, first: bool },
    Jsonl(Out),
    Matrix(Box<MatrixWriter<Out>>),
}

/// Where a scan's results go.
#[derive(Debug, Clone, Default)]
pub struct OutputSpec {
    /// The format on standard output, if any.
    pub stdout: Option<Format>,
    /// `-o FILE`, with the format each extension names.
    pub files: Vec<(PathBuf, Format)>,
    /// `--matrix FILE.csv`.
    pub matrix: Option<PathBuf>,
    /// A JSONL file among `files` that is appended to instead of truncated (the `--resume`
    /// file); the caller has made sure it ends with a complete line.
    pub append: Option<PathBuf>,
    /// The clients evaluated (matrix columns, in order).
    pub clients: Vec<String>,
}

struct Sink {
    writer: Writer,
    /// `(partial, final)` for files renamed at the end.
    rename: Option<(PathBuf, PathBuf)>,
    name: String,
}

/// All sinks of a scan.
pub struct Outputs {
    sinks: Vec<Sink>,
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Creates (or, `appending`, opens for appending) the file for `path`: `NAME.partial` when
/// `atomic`, with the rename to do at the end.
fn open_file(
    path: &Path,
    atomic: bool,
    appending: bool,
) -> Result<(Out, Option<(PathBuf, PathBuf)>)> {
    let target = if atomic {
        partial_path(path)
    } else {
        path.to_owned()
    };
    let file = if appending {
        File::options().append(true).create(true).open(&target)
    } else {
        File::create(&target)
    }
    .with_context(|| format!("cannot create output file {}", target.display()))?;
    let out: Out = Box::new(BufWriter::new(file));
    Ok((out, atomic.then(|| (target, path.to_owned()))))
}

impl Outputs {
    /// Opens stdout (when asked for) and every file. Fails before any scanning when a file
    /// cannot be created.
    pub fn open(spec: &OutputSpec) -> Result<Self> {
        let mut sinks = Vec::new();
        if let Some(format) = spec.stdout {
            let out: Out = Box::new(BufWriter::new(io::stdout()));
            sinks.push(Sink {
                writer: Self::writer(format, out, false, &spec.clients)?,
                rename: None,
                name: "standard output".into(),
            });
        }
        for (path, format) in &spec.files {
            let atomic = matches!(format, Format::Json | Format::Csv);
            let appending = *format == Format::Jsonl && spec.append.as_deref() == Some(path);
            let (out, rename) = open_file(path, atomic, appending)?;
            sinks.push(Sink {
                writer: Self::writer(*format, out, true, &spec.clients)?,
                rename,
                name: path.display().to_string(),
            });
        }
        if let Some(path) = &spec.matrix {
            let (out, rename) = open_file(path, true, false)?;
            let matrix = MatrixWriter::new(out, true, spec.clients.clone())
                .with_context(|| format!("cannot write matrix file {}", path.display()))?;
            sinks.push(Sink {
                writer: Writer::Matrix(Box::new(matrix)),
                rename,
                name: path.display().to_string(),
            });
        }
        Ok(Self { sinks })
    }

    fn writer(format: Format, mut out: Out, file: bool, clients: &[String]) -> Result<Writer> {
        Ok(match format {
            Format::Table => Writer::Table(TableWriter::new(out).with_clients(clients)),
            Format::Csv => Writer::Csv(Box::new(CsvWriter::new(out, file)?)),
            Format::Json => {
                out.write_all(b"{\"hosts\":[")?;
                Writer::Json { out, first: true }
            }
            Format::Jsonl => Writer::Jsonl(out),
        })
    }

    /// Writes one endpoint to every sink.
    pub fn write(&mut self, report: &HostReport) -> Result<()> {
        for sink in &mut self.sinks {
            let name = &sink.name;
            let res: io::Result<()> = match &mut sink.writer {
                Writer::Table(t) => t.write(report),
                Writer::Csv(c) => c.write(report),
                Writer::Json { out, first } => {
                    let sep: &[u8] = if *first { b"\n" } else { b",\n" };
                    *first = false;
                    out.write_all(sep).and_then(|()| {
                        serde_json::to_writer(&mut *out, report).map_err(io::Error::other)
                    })
                }
                Writer::Jsonl(out) => serde_json::to_writer(&mut *out, report)
                    .map_err(io::Error::other)
                    .and_then(|()| out.write_all(b"\n"))
                    .and_then(|()| out.flush()),
                Writer::Matrix(m) => m.write(report),
            };
            res.with_context(|| format!("cannot write to {name}"))?;
        }
        Ok(())
    }

    /// Closes every sink: trailers, flush, and the rename of `.partial` files.
    pub fn finish(self, meta: &ScanMeta) -> Result<()> {
        for sink in self.sinks {
            let name = sink.name;
            let res: io::Result<()> = (|| {
                match sink.writer {
                    Writer::Table(mut t) => {
                        if let Some(summary) = &meta.summary {
                            t.finish(summary)?;
                        }
                    }
                    Writer::Csv(c) => c.into_inner()?.flush()?,
                    Writer::Json { mut out, .. } => {
                        out.write_all(b"\n],\"scan\":")?;
                        serde_json::to_writer(&mut out, meta).map_err(io::Error::other)?;
                        out.write_all(b"}\n")?;
                        out.flush()?;
                    }
                    Writer::Jsonl(mut out) => out.flush()?,
                    Writer::Matrix(m) => m.into_inner()?.flush()?,
                }
                Ok(())
            })();
            res.with_context(|| format!("cannot finish {name}"))?;
            if let Some((partial, path)) = sink.rename {
                std::fs::rename(&partial, &path).with_context(|| {
                    format!("cannot rename {} to {}", partial.display(), path.display())
                })?;
            }
        }
        Ok(())
    }
}
