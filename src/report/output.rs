//! The result sinks of one scan: stdout in one format plus any number of files and the
//! compatibility matrix, all fed by the scan's single writer loop as endpoints finish (each
//! report already carries its compatibility cells), and closed with the finished summary.
//!
//! Human-facing views (table, host CSV, matrix CSV, workbook, HTML) list the endpoints that
//! answered, in endpoint order ([`super::rows`]); JSON and JSONL hold every endpoint in
//! completion order.
//!
//! Crash safety: JSONL is flushed after every line (append-safe). `.json`, `.csv` and matrix
//! files are written to `NAME.partial` and renamed over `NAME` only when the scan finishes, so
//! an interrupted or failed run never leaves a truncated document under the final name. A CSV
//! `.partial` holds every finished endpoint in completion order (flushed per row); at the end
//! its rows are copied in order to `NAME.sorting`, which is renamed over `NAME`. The workbook
//! and the HTML page are written once, at the end, to `NAME.partial` and renamed.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::HostReport;
use super::csv::CsvWriter;
use super::matrix::MatrixWriter;
use super::rows::{self, Counting, Rows, SortedRows};
use super::summary::ScanMeta;
use super::table::TableWriter;
use super::view::ReportView;

/// Output formats: on standard output (`--format`) and by a file's extension (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Jsonl,
    /// The workbook: files only.
    #[value(skip)]
    Xlsx,
    /// The self-contained HTML page: files only.
    #[value(skip)]
    Html,
}

impl Format {
    /// The format a file name asks for, by extension.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "json" => Some(Self::Json),
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "txt" => Some(Self::Table),
            "xlsx" => Some(Self::Xlsx),
            "html" | "htm" => Some(Self::Html),
            _ => None,
        }
    }
}

type Out = Box<dyn Write + Send>;

/// What a CSV view is written to while the scan runs: its `.partial` file, or memory for
/// standard output.
enum Spool {
    File(BufWriter<File>),
    Memory(Vec<u8>),
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::File(f) => f.write(buf),
            Self::Memory(v) => v.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::File(f) => f.flush(),
            Self::Memory(_) => Ok(()),
        }
    }
}

type Spooled = Counting<Spool>;

/// A view written once, at the end, from every listed report.
enum Whole {
    Xlsx,
    Html,
}

enum Writer {
    Table(TableWriter<Out>),
    Csv(Box<CsvWriter<Spooled>>, SortedRows),
    Json { out: Out, first: bool },
    Jsonl(Out),
    Matrix(Box<MatrixWriter<Spooled>>, SortedRows),
    Whole(Whole, Vec<HostReport>),
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
    /// Which endpoints the human-facing views list (`--all-endpoints`).
    pub rows: Rows,
}

/// Where a sink's bytes end up.
enum Place {
    Stdout,
    /// Written to `partial`, renamed over `path` at the end (or appended to / written in
    /// place when `partial` is `None`).
    File {
        path: PathBuf,
        partial: Option<PathBuf>,
    },
}

struct Sink {
    writer: Writer,
    place: Place,
    name: String,
}

/// All sinks of a scan.
pub struct Outputs {
    sinks: Vec<Sink>,
    rows: Rows,
    clients: Vec<String>,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn create(path: &Path, appending: bool) -> Result<File> {
    if appending {
        File::options().append(true).create(true).open(path)
    } else {
        File::create(path)
    }
    .with_context(|| format!("cannot create output file {}", path.display()))
}

/// A CSV view's spool and the position where its rows start (after the byte-order mark and
/// header the writer wrote).
fn spool(place: &Place) -> Result<Spooled> {
    Ok(Counting::new(match place {
        Place::Stdout => Spool::Memory(Vec::new()),
        Place::File { path, partial } => {
            let target = partial.as_deref().unwrap_or(path);
            Spool::File(BufWriter::new(create(target, false)?))
        }
    }))
}

impl Outputs {
    /// Opens stdout (when asked for) and every file. Fails before any scanning when a file
    /// cannot be created.
    pub fn open(spec: &OutputSpec) -> Result<Self> {
        let mut sinks = Vec::new();
        if let Some(format) = spec.stdout {
            let place = Place::Stdout;
            sinks.push(Sink {
                writer: Self::writer(format, &place, false, spec)?,
                place,
                name: "standard output".into(),
            });
        }
        for (path, format) in &spec.files {
            let appending = *format == Format::Jsonl && spec.append.as_deref() == Some(path);
            let atomic = !matches!(format, Format::Jsonl | Format::Table);
            let place = Place::File {
                path: path.clone(),
                partial: atomic.then(|| with_suffix(path, ".partial")),
            };
            let writer = Self::writer(*format, &place, appending, spec)?;
            sinks.push(Sink {
                writer,
                place,
                name: path.display().to_string(),
            });
        }
        if let Some(path) = &spec.matrix {
            let place = Place::File {
                path: path.clone(),
                partial: Some(with_suffix(path, ".partial")),
            };
            let out = spool(&place)?;
            let matrix = MatrixWriter::new(out, true, spec.clients.clone())
                .and_then(|mut m| m.flush().map(|()| m))
                .with_context(|| format!("cannot write matrix file {}", path.display()))?;
            let index = SortedRows::new(matrix.get_ref().position());
            sinks.push(Sink {
                writer: Writer::Matrix(Box::new(matrix), index),
                place,
                name: path.display().to_string(),
            });
        }
        Ok(Self {
            sinks,
            rows: spec.rows,
            clients: spec.clients.clone(),
        })
    }

    fn writer(format: Format, place: &Place, appending: bool, spec: &OutputSpec) -> Result<Writer> {
        let file = matches!(place, Place::File { .. });
        let out = || -> Result<Out> {
            Ok(match place {
                Place::Stdout => Box::new(BufWriter::new(io::stdout())),
                Place::File { path, partial } => {
                    let target = partial.as_deref().unwrap_or(path);
                    Box::new(BufWriter::new(create(target, appending)?))
                }
            })
        };
        Ok(match format {
            Format::Table => {
                Writer::Table(TableWriter::new(out()?, spec.rows).with_clients(&spec.clients))
            }
            Format::Csv => {
                let mut csv = CsvWriter::new(spool(place)?, file)?;
                csv.flush()?;
                let index = SortedRows::new(csv.get_ref().position());
                Writer::Csv(Box::new(csv), index)
            }
            Format::Json => {
                let mut out = out()?;
                out.write_all(b"{\"hosts\":[")?;
                Writer::Json { out, first: true }
            }
            Format::Jsonl => Writer::Jsonl(out()?),
            // Created now so that a path that cannot be written fails before the scan.
            Format::Xlsx | Format::Html => {
                if file {
                    drop(out()?);
                }
                let whole = if format == Format::Xlsx {
                    Whole::Xlsx
                } else {
                    Whole::Html
                };
                Writer::Whole(whole, Vec::new())
            }
        })
    }

    /// Writes one endpoint to every sink.
    pub fn write(&mut self, report: &HostReport) -> Result<()> {
        let listed = self.rows.lists(report);
        for sink in &mut self.sinks {
            let name = &sink.name;
            let res: io::Result<()> = match &mut sink.writer {
                Writer::Table(t) => t.write(report),
                Writer::Csv(c, index) if listed => {
                    let start = c.get_ref().position();
                    c.write(report).and_then(|()| c.flush()).map(|()| {
                        index.push(report, start, c.get_ref().position());
                    })
                }
                Writer::Matrix(m, index) if listed => {
                    let start = m.get_ref().position();
                    m.write(report).and_then(|()| m.flush()).map(|()| {
                        index.push(report, start, m.get_ref().position());
                    })
                }
                Writer::Csv(..) | Writer::Matrix(..) => Ok(()),
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
                Writer::Whole(_, hosts) => {
                    if listed {
                        hosts.push(report.clone());
                    }
                    Ok(())
                }
            };
            res.with_context(|| format!("cannot write to {name}"))?;
        }
        Ok(())
    }

    /// Closes every sink: trailers, the order of the human-facing views, flush, and the
    /// rename of `.partial` files.
    pub fn finish(self, meta: &ScanMeta) -> Result<()> {
        let clients = self.clients;
        for sink in self.sinks {
            let name = sink.name;
            let place = sink.place;
            let res: Result<()> = match sink.writer {
                Writer::Table(mut t) => match &meta.summary {
                    Some(summary) => t.finish(summary).map_err(Into::into),
                    None => Ok(()),
                },
                Writer::Csv(c, index) => c
                    .into_inner()
                    .and_then(|spool| finish_spool(spool.into_inner(), index, &place))
                    .map_err(Into::into),
                Writer::Matrix(m, index) => m
                    .into_inner()
                    .and_then(|spool| finish_spool(spool.into_inner(), index, &place))
                    .map_err(Into::into),
                Writer::Json { mut out, .. } => (|| -> io::Result<()> {
                    out.write_all(b"\n],\"scan\":")?;
                    serde_json::to_writer(&mut out, meta).map_err(io::Error::other)?;
                    out.write_all(b"}\n")?;
                    out.flush()
                })()
                .map_err(Into::into),
                Writer::Jsonl(mut out) => out.flush().map_err(Into::into),
                Writer::Whole(whole, mut hosts) => {
                    rows::sort(&mut hosts);
                    let view = ReportView {
                        hosts: &hosts,
                        clients: &clients,
                        meta,
                    };
                    write_whole(&whole, &view, &place)
                }
            };
            res.with_context(|| format!("cannot finish {name}"))?;
            rename_into_place(&place)?;
        }
        Ok(())
    }
}

/// Writes a CSV view's rows in endpoint order: to standard output from memory, or from the
/// `.partial` spool to `NAME.sorting` which then replaces the spool (renamed over `NAME` next).
fn finish_spool(spool: Spool, index: SortedRows, place: &Place) -> io::Result<()> {
    match (spool, place) {
        (Spool::Memory(bytes), _) => {
            let mut out = io::stdout().lock();
            index.copy_sorted(&mut io::Cursor::new(bytes), &mut out)
        }
        (Spool::File(mut file), Place::File { path, partial }) => {
            file.flush()?;
            drop(file);
            let Some(partial) = partial else {
                return Ok(());
            };
            if index.in_order() {
                return Ok(());
            }
            let sorting = with_suffix(path, ".sorting");
            {
                let mut src = File::open(partial)?;
                let mut dst = BufWriter::new(File::create(&sorting)?);
                index.copy_sorted(&mut src, &mut dst)?;
                dst.into_inner().map_err(io::IntoInnerError::into_error)?;
                // Both closed before the rename: Windows cannot replace an open file.
            }
            std::fs::rename(&sorting, partial)
        }
        (Spool::File(_), Place::Stdout) => Ok(()),
    }
}

/// Writes the workbook or the HTML page of `view`.
fn write_whole(whole: &Whole, view: &ReportView<'_>, place: &Place) -> Result<()> {
    match place {
        Place::Stdout => Ok(()),
        Place::File { path, partial } => {
            let target = partial.as_deref().unwrap_or(path);
            match whole {
                Whole::Xlsx => super::xlsx::write_xlsx(target, view),
                Whole::Html => {
                    let mut out = BufWriter::new(create(target, false)?);
                    super::html::write_html(&mut out, view)
                        .with_context(|| format!("cannot write {}", target.display()))
                }
            }
        }
    }
}

fn rename_into_place(place: &Place) -> Result<()> {
    if let Place::File {
        path,
        partial: Some(partial),
    } = place
    {
        std::fs::rename(partial, path).with_context(|| {
            format!("cannot rename {} to {}", partial.display(), path.display())
        })?;
    }
    Ok(())
}
