//! The CSV flattening of [`HostReport`]: one row per endpoint, columns in a fixed documented
//! order (`docs/output.md`). New columns are appended, never inserted or renamed.
//!
//! Spreadsheet rules (see `docs/output.md`): every non-numeric field is quoted (so `;` and
//! tab inside a value never split a cell), untrusted text goes through
//! [`sanitize::csv_cell`], booleans are `yes`/`no`, absent values are empty, list values are
//! joined with `;`, versions are written as text that cannot be read as numbers (`TLS1.0`).

use std::io::Write;

use super::HostReport;
use super::sanitize;
use crate::report::schema::Protocols;

/// One CSV column: its header and how to render it.
pub struct Column {
    pub name: &'static str,
    pub value: fn(&HostReport) -> String,
}

fn yes_no(v: Option<bool>) -> String {
    match v {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => String::new(),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn accepted(p: &Protocols) -> String {
    [
        ("rdp", p.rdp),
        ("tls", p.tls),
        ("credssp", p.credssp),
        ("credssp_early_auth", p.credssp_early_auth),
        ("rdstls", p.rdstls),
        ("rdsaad", p.rdsaad),
    ]
    .iter()
    .filter(|(_, v)| *v == Some(true))
    .map(|(n, _)| *n)
    .collect::<Vec<_>>()
    .join(";")
}

/// The columns, in output order.
pub static COLUMNS: &[Column] = &[
    Column {
        name: "target",
        value: |r| r.target.clone(),
    },
    Column {
        name: "ip",
        value: |r| opt(r.ip),
    },
    Column {
        name: "port",
        value: |r| r.port.to_string(),
    },
    Column {
        name: "status",
        value: |r| r.status.as_str().into(),
    },
    Column {
        name: "error_stage",
        value: |r| opt(r.error.as_ref().map(|e| e.stage.as_str())),
    },
    Column {
        name: "error",
        value: |r| opt(r.error.as_ref().map(|e| &e.message)),
    },
    Column {
        name: "nla",
        value: |r| {
            if r.status == crate::report::schema::Status::Rdp {
                r.security.nla.as_str().into()
            } else {
                String::new()
            }
        },
    },
    Column {
        name: "selected",
        value: |r| opt(r.security.selected.as_ref()),
    },
    Column {
        name: "accepted_protocols",
        value: |r| accepted(&r.security.protocols),
    },
    Column {
        name: "rdp",
        value: |r| yes_no(r.security.protocols.rdp),
    },
    Column {
        name: "tls",
        value: |r| yes_no(r.security.protocols.tls),
    },
    Column {
        name: "credssp",
        value: |r| yes_no(r.security.protocols.credssp),
    },
    Column {
        name: "credssp_early_auth",
        value: |r| yes_no(r.security.protocols.credssp_early_auth),
    },
    Column {
        name: "rdstls",
        value: |r| yes_no(r.security.protocols.rdstls),
    },
    Column {
        name: "rdsaad",
        value: |r| yes_no(r.security.protocols.rdsaad),
    },
    Column {
        name: "negotiation_flags",
        value: |r| r.security.negotiation_flags.join(";"),
    },
    Column {
        name: "failure_codes",
        value: |r| r.security.failure_codes.join(";"),
    },
    Column {
        name: "findings",
        value: |r| {
            r.findings
                .iter()
                .map(|f| f.id.as_str())
                .collect::<Vec<_>>()
                .join(";")
        },
    },
    Column {
        name: "max_severity",
        value: |r| {
            opt(r
                .findings
                .iter()
                .map(|f| f.severity)
                .max()
                .map(|s| s.as_str()))
        },
    },
    Column {
        name: "connections",
        value: |r| r.connections.to_string(),
    },
    Column {
        name: "elapsed_ms",
        value: |r| r.elapsed_ms.to_string(),
    },
];

/// Streams rows to `out`.
pub struct CsvWriter<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> CsvWriter<W> {
    /// Writes the header (after a UTF-8 byte-order mark when `bom`).
    pub fn new(mut out: W, bom: bool) -> std::io::Result<Self> {
        if bom {
            out.write_all("\u{feff}".as_bytes())?;
        }
        let mut inner = csv::WriterBuilder::new()
            .quote_style(csv::QuoteStyle::NonNumeric)
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        inner.write_record(COLUMNS.iter().map(|c| c.name))?;
        Ok(Self { inner })
    }

    pub fn write(&mut self, report: &HostReport) -> std::io::Result<()> {
        let row: Vec<String> = COLUMNS
            .iter()
            .map(|c| sanitize::csv_cell(&(c.value)(report)).into_owned())
            .collect();
        self.inner.write_record(&row)?;
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }

    pub fn into_inner(self) -> std::io::Result<W> {
        self.inner
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}
