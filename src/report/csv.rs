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
use crate::proto::tls::ProtocolVersion;
use crate::report::schema::{CertificateReport, Protocols};

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
    Column {
        name: "tls_version",
        value: |r| opt(r.tls.as_ref().and_then(|t| t.version).map(|v| v.label())),
    },
    Column {
        name: "tls_versions",
        value: |r| {
            r.tls
                .as_ref()
                .map(|t| tls_versions_text(t, ";", ProtocolVersion::label))
                .unwrap_or_default()
        },
    },
    Column {
        name: "tls_cipher",
        value: |r| opt(r.tls.as_ref().and_then(|t| t.cipher.as_ref())),
    },
    Column {
        name: "tls_stack",
        value: |r| opt(r.tls.as_ref().and_then(|t| t.stack).map(|s| s.as_str())),
    },
    Column {
        name: "cert_subject_cn",
        value: |r| opt(cert(r).and_then(|c| c.subject_cn.as_ref())),
    },
    Column {
        name: "cert_issuer",
        value: |r| opt(cert(r).map(|c| &c.issuer)),
    },
    Column {
        name: "cert_not_after",
        value: |r| opt(cert(r).map(|c| &c.not_after)),
    },
    Column {
        name: "cert_days_left",
        value: |r| opt(cert(r).map(|c| c.days_left)),
    },
    Column {
        name: "cert_self_signed",
        value: |r| yes_no(cert(r).map(|c| c.self_signed)),
    },
    Column {
        name: "cert_trusted",
        value: |r| yes_no(cert_trusted(r)),
    },
    Column {
        name: "cert_name_ok",
        value: |r| {
            yes_no(
                r.tls
                    .as_ref()
                    .and_then(|t| t.trust.as_ref())
                    .and_then(|t| t.name.as_deref())
                    .map(|v| v == "trusted"),
            )
        },
    },
    Column {
        name: "cert_sha1",
        value: |r| opt(cert(r).map(|c| &c.sha1)),
    },
    Column {
        name: "cert_key_type",
        value: |r| opt(cert(r).map(|c| &c.key_type)),
    },
    Column {
        name: "cert_key_bits",
        value: |r| opt(cert(r).and_then(|c| c.key_bits)),
    },
    Column {
        name: "cert_signature_algorithm",
        value: |r| opt(cert(r).map(|c| &c.signature_algorithm)),
    },
    // CredSSP and NTLM identity (docs/credssp.md).
    Column {
        name: "credssp_version",
        value: |r| opt(r.credssp.as_ref().and_then(|c| c.version)),
    },
    Column {
        name: "cve_2018_0886",
        value: |r| opt(r.credssp.as_ref().map(|c| c.cve_2018_0886.as_str())),
    },
    Column {
        name: "nb_computer",
        value: |r| opt(r.ntlm.as_ref().and_then(|n| n.nb_computer.as_ref())),
    },
    Column {
        name: "nb_domain",
        value: |r| opt(r.ntlm.as_ref().and_then(|n| n.nb_domain.as_ref())),
    },
    Column {
        name: "dns_computer",
        value: |r| opt(r.ntlm.as_ref().and_then(|n| n.dns_computer.as_ref())),
    },
    Column {
        name: "dns_domain",
        value: |r| opt(r.ntlm.as_ref().and_then(|n| n.dns_domain.as_ref())),
    },
    Column {
        name: "os_build",
        value: |r| opt(r.ntlm.as_ref().and_then(|n| n.os_build)),
    },
    Column {
        name: "os_name",
        value: |r| opt(r.ntlm.as_ref().and_then(|n| n.os_name.as_ref())),
    },
    Column {
        name: "clock_skew_s",
        value: |r| opt(r.ntlm.as_ref().and_then(|n| n.clock_skew_s)),
    },
    // Added with the server verdict and Standard RDP Security (docs/output.md).
    Column {
        name: "server",
        value: |r| opt(r.server.as_ref().map(|s| s.implementation.as_str())),
    },
    Column {
        name: "rdp_encryption_level",
        value: |r| {
            opt(r
                .rdp_security
                .as_ref()
                .and_then(|s| s.encryption_level.as_ref()))
        },
    },
    Column {
        name: "rdp_encryption_methods",
        value: |r| {
            r.rdp_security
                .as_ref()
                .map(|s| s.encryption_methods.join(";"))
                .unwrap_or_default()
        },
    },
    Column {
        name: "rdp_server_version",
        value: |r| {
            opt(r
                .server
                .as_ref()
                .and_then(|s| s.rdp_version.as_ref())
                .or_else(|| r.rdp_security.as_ref()?.server_version.as_ref()))
        },
    },
];

/// The accepted TLS versions, then the undecided ones marked `?` (`TLS1.2;TLS1.3;TLS1.0?`):
/// a version that was not decided shows as such, never as refused.
pub fn tls_versions_text(
    t: &crate::report::schema::TlsReport,
    separator: &str,
    name: fn(ProtocolVersion) -> String,
) -> String {
    t.versions
        .iter()
        .map(|v| name(*v))
        .chain(
            t.versions_undecided
                .iter()
                .map(|v| format!("{}?", name(*v))),
        )
        .collect::<Vec<_>>()
        .join(separator)
}

fn cert(r: &HostReport) -> Option<&CertificateReport> {
    r.tls.as_ref().and_then(|t| t.certificate.as_ref())
}

/// `yes` when the chain verifies against the platform store or `--ca-file`, `no` when it was
/// checked and verifies against neither, empty when not checked.
fn cert_trusted(r: &HostReport) -> Option<bool> {
    let trust = r.tls.as_ref()?.trust.as_ref()?;
    let verdicts: Vec<&String> = [&trust.platform, &trust.ca_file]
        .into_iter()
        .flatten()
        .collect();
    if verdicts.is_empty() {
        return None;
    }
    Some(verdicts.iter().any(|v| v.as_str() == "trusted"))
}

/// A CSV writer with the spreadsheet contract of docs/output.md: a UTF-8 byte-order mark first
/// when `bom` (files), every non-numeric field quoted, CRLF line ends. Shared by the host CSV
/// and the matrix CSV.
pub(crate) fn spreadsheet_writer<W: Write>(
    mut out: W,
    bom: bool,
) -> std::io::Result<csv::Writer<W>> {
    if bom {
        out.write_all("\u{feff}".as_bytes())?;
    }
    Ok(csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::NonNumeric)
        .terminator(csv::Terminator::CRLF)
        .from_writer(out))
}

/// Streams rows to `out`.
pub struct CsvWriter<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> CsvWriter<W> {
    /// Writes the header (after a UTF-8 byte-order mark when `bom`).
    pub fn new(out: W, bom: bool) -> std::io::Result<Self> {
        let mut inner = spreadsheet_writer(out, bom)?;
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

    /// The underlying writer (flush first to see every byte in it).
    pub fn get_ref(&self) -> &W {
        self.inner.get_ref()
    }

    pub fn into_inner(self) -> std::io::Result<W> {
        self.inner
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}
