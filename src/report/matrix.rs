//! The compatibility matrix CSV (`--matrix FILE.csv`) and the per-client summary counts.
//!
//! One row per host. Columns: `target`, `ip`, `port`, `status`, `credssp_version`,
//! `cve_2018_0886`, `nla`, `tls_versions`, then for every client, in the order given, two
//! columns side by side: `<client>` with the cell (`ok`, `exposed:credssp-oracle`,
//! `warn:cert-warning`, `blocked:<reason>`, `depends:credssp-oracle`, `unknown:<reason>`)
//! and `<client> remediation` with the fix (empty for `ok`), so the fix sits next to each
//! broken cell and a spreadsheet filter on one column shows what to do. See
//! `docs/compat.md`.
//!
//! Spreadsheet rules as in the main CSV: every non-numeric field is quoted (a `;` or tab
//! inside a value never splits a cell), every text goes through [`sanitize::csv_cell`]
//! (formula characters neutralised with a leading `'`, control characters made visible),
//! TLS versions are written `TLS1.2` (never a bare number), CRLF line ends, optional UTF-8
//! byte-order mark.

use std::io::Write;

use serde::Serialize;

use super::sanitize;
use super::schema::{CompatCell, HostReport, Outcome, Status};

/// The host columns, before the client columns.
pub const HOST_COLUMNS: &[&str] = &[
    "target",
    "ip",
    "port",
    "status",
    "credssp_version",
    "cve_2018_0886",
    "nla",
    "tls_versions",
];

/// The suffix of a client's remediation column.
pub const REMEDIATION_SUFFIX: &str = " remediation";

/// `outcome` or `outcome:reason`; `unknown:not-evaluated` when the host has no cell for the
/// client.
pub fn cell_text(cell: Option<&CompatCell>) -> String {
    match cell {
        None => "unknown:not-evaluated".to_owned(),
        Some(c) => match &c.reason {
            Some(r) if c.outcome != Outcome::Ok => format!("{}:{r}", c.outcome.as_str()),
            _ => c.outcome.as_str().to_owned(),
        },
    }
}

/// The header row for `clients`.
pub fn header(clients: &[String]) -> Vec<String> {
    let mut h: Vec<String> = HOST_COLUMNS.iter().map(|s| (*s).to_owned()).collect();
    for c in clients {
        h.push(c.clone());
        h.push(format!("{c}{REMEDIATION_SUFFIX}"));
    }
    h
}

/// `TLS1.0;TLS1.2` from the host's accepted versions (unrecognised strings kept).
pub fn tls_versions(report: &HostReport) -> String {
    report
        .tls
        .as_ref()
        .map(|t| {
            t.versions
                .iter()
                .map(|v| v.label())
                .collect::<Vec<_>>()
                .join(";")
        })
        .unwrap_or_default()
}

/// One host's row (not yet sanitised).
pub fn row(report: &HostReport, clients: &[String]) -> Vec<String> {
    let credssp = report.credssp.as_ref();
    let mut r = vec![
        report.target.clone(),
        report.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        report.port.to_string(),
        report.status.as_str().to_owned(),
        credssp
            .and_then(|c| c.version)
            .map(|v| v.to_string())
            .unwrap_or_default(),
        credssp
            .map(|c| c.cve_2018_0886.as_str().to_owned())
            .unwrap_or_default(),
        if report.status == Status::Rdp {
            report.security.nla.as_str().to_owned()
        } else {
            String::new()
        },
        tls_versions(report),
    ];
    for c in clients {
        let cell = report.compat.get(c);
        r.push(cell_text(cell));
        r.push(cell.and_then(|c| c.remediation.clone()).unwrap_or_default());
    }
    r
}

/// Streams matrix rows to `out`.
pub struct MatrixWriter<W: Write> {
    inner: csv::Writer<W>,
    clients: Vec<String>,
}

impl<W: Write> MatrixWriter<W> {
    /// Writes the header (after a UTF-8 byte-order mark when `bom`).
    pub fn new(out: W, bom: bool, clients: Vec<String>) -> std::io::Result<Self> {
        let mut inner = super::csv::spreadsheet_writer(out, bom)?;
        let h: Vec<String> = header(&clients)
            .iter()
            .map(|c| sanitize::csv_cell(c).into_owned())
            .collect();
        inner.write_record(&h)?;
        Ok(Self { inner, clients })
    }

    pub fn write(&mut self, report: &HostReport) -> std::io::Result<()> {
        let r: Vec<String> = row(report, &self.clients)
            .iter()
            .map(|c| sanitize::csv_cell(c).into_owned())
            .collect();
        self.inner.write_record(&r)?;
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }

    /// The underlying writer (flush first to see every byte in it).
    pub fn get_ref(&self) -> &W {
        self.inner.get_ref()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(self) -> std::io::Result<W> {
        self.inner
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// How many hosts each outcome reached for one client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientSummary {
    pub client: String,
    pub ok: u64,
    pub exposed: u64,
    pub warn: u64,
    pub blocked: u64,
    pub depends: u64,
    pub unknown: u64,
}

impl ClientSummary {
    pub fn new(client: impl Into<String>) -> Self {
        Self {
            client: client.into(),
            ..Self::default()
        }
    }

    pub fn add(&mut self, outcome: Outcome) {
        let slot = match outcome {
            Outcome::Ok => &mut self.ok,
            Outcome::Exposed => &mut self.exposed,
            Outcome::Warn => &mut self.warn,
            Outcome::Blocked => &mut self.blocked,
            Outcome::Depends => &mut self.depends,
            Outcome::Unknown => &mut self.unknown,
        };
        *slot = slot.saturating_add(1);
    }

    pub fn count(&self, outcome: Outcome) -> u64 {
        match outcome {
            Outcome::Ok => self.ok,
            Outcome::Exposed => self.exposed,
            Outcome::Warn => self.warn,
            Outcome::Blocked => self.blocked,
            Outcome::Depends => self.depends,
            Outcome::Unknown => self.unknown,
        }
    }

    pub fn total(&self) -> u64 {
        [
            self.ok,
            self.exposed,
            self.warn,
            self.blocked,
            self.depends,
            self.unknown,
        ]
        .iter()
        .fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// `patched-mitigated: 10 ok, 0 exposed, 1 warn, 2 blocked, 0 depends, 3 unknown`.
    pub fn line(&self) -> String {
        format!(
            "{}: {} ok, {} exposed, {} warn, {} blocked, {} depends, {} unknown",
            self.client, self.ok, self.exposed, self.warn, self.blocked, self.depends, self.unknown
        )
    }
}

/// Per-client counts over `reports` (RDP servers only, see [`super::summary::Summary::add`]).
/// Pure.
pub fn summarize<'a>(
    reports: impl IntoIterator<Item = &'a HostReport>,
    clients: &[String],
) -> Vec<ClientSummary> {
    let mut summary = super::summary::Summary::new(clients);
    for r in reports {
        summary.add(r);
    }
    summary.compat
}

/// The terminal's compact matrix: one line per host (`rows`: endpoint and cell texts in
/// `clients` order), columns as wide as their longest cell (at most 32 characters, cut with
/// `…`); `more` hosts that did not fit are counted at the end. Every text is escaped.
pub fn compact_table(clients: &[String], rows: &[(String, Vec<String>)], more: u64) -> String {
    const MAX: usize = 32;
    let clip = |s: &str| -> String {
        let s = sanitize::escape_controls(s);
        if s.chars().count() > MAX {
            let mut c: String = s.chars().take(MAX - 1).collect();
            c.push('…');
            c
        } else {
            s.into_owned()
        }
    };
    let mut header = vec!["ENDPOINT".to_owned()];
    header.extend(clients.iter().map(|c| clip(c)));
    let mut lines: Vec<Vec<String>> = vec![header];
    for (endpoint, cells) in rows {
        let mut l = vec![clip(endpoint)];
        l.extend(cells.iter().map(|c| clip(c)));
        lines.push(l);
    }
    let cols = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            lines
                .iter()
                .filter_map(|l| l.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::from("\ncompatibility (details: --matrix FILE.csv or --format json):\n");
    if rows.is_empty() {
        out.push_str("  no RDP hosts\n");
        return out;
    }
    for l in &lines {
        let cells: Vec<String> = l
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if more > 0 {
        out.push_str(&format!(
            "  ... and {more} more RDP hosts (see --matrix FILE.csv)\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::schema::{CredsspReport, NlaVerdict, OracleFix, TlsReport};

    fn cell(outcome: Outcome, reason: Option<&str>, fix: Option<&str>) -> CompatCell {
        CompatCell {
            outcome,
            reason: reason.map(str::to_owned),
            remediation: fix.map(str::to_owned),
        }
    }

    fn reports() -> Vec<HostReport> {
        let mut a = HostReport::new(
            "=evil;host".into(),
            Some("192.0.2.1".parse().unwrap()),
            3389,
        );
        a.status = Status::Rdp;
        a.security.nla = NlaVerdict::Required;
        a.credssp = Some(CredsspReport {
            version: Some(3),
            cve_2018_0886: OracleFix::Missing,
            ..CredsspReport::default()
        });
        a.tls = Some(TlsReport {
            versions: vec![
                crate::proto::tls::ProtocolVersion::TLS1_0,
                crate::proto::tls::ProtocolVersion::TLS1_2,
            ],
            ..TlsReport::default()
        });
        a.compat.insert(
            "patched-mitigated".into(),
            cell(
                Outcome::Blocked,
                Some("credssp-oracle"),
                Some("Patch the server; then\tmore"),
            ),
        );
        a.compat.insert(
            "unpatched".into(),
            cell(
                Outcome::Exposed,
                Some("credssp-oracle"),
                Some("-patch both"),
            ),
        );
        let mut b = HostReport::new("b".into(), None, 3390);
        b.status = Status::Closed;
        b.compat.insert(
            "patched-mitigated".into(),
            cell(Outcome::Unknown, Some("not-rdp"), Some("x")),
        );
        vec![a, b]
    }

    #[test]
    fn matrix_csv_is_spreadsheet_safe() {
        let clients = vec!["patched-mitigated".to_owned(), "unpatched".to_owned()];
        let mut w = MatrixWriter::new(Vec::new(), true, clients).unwrap();
        for r in reports() {
            w.write(&r).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let expected = "\u{feff}\"target\",\"ip\",\"port\",\"status\",\"credssp_version\",\"cve_2018_0886\",\"nla\",\"tls_versions\",\"patched-mitigated\",\"patched-mitigated remediation\",\"unpatched\",\"unpatched remediation\"\r\n\
\"'=evil;host\",\"192.0.2.1\",3389,\"rdp\",3,\"missing\",\"required\",\"TLS1.0;TLS1.2\",\"blocked:credssp-oracle\",\"Patch the server; then\\x09more\",\"exposed:credssp-oracle\",\"'-patch both\"\r\n\
\"b\",\"\",3390,\"closed\",\"\",\"\",\"\",\"\",\"unknown:not-rdp\",\"x\",\"unknown:not-evaluated\",\"\"\r\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn summary_counts_per_client() {
        let clients = vec!["patched-mitigated".to_owned(), "unpatched".to_owned()];
        let s = summarize(&reports(), &clients);
        assert_eq!(s.len(), 2);
        // The closed endpoint is not counted: only RDP hosts are.
        assert_eq!((s[0].blocked, s[0].unknown, s[0].total()), (1, 0, 1));
        assert_eq!((s[1].exposed, s[1].unknown), (1, 0));
        assert_eq!(
            s[0].line(),
            "patched-mitigated: 0 ok, 0 exposed, 0 warn, 1 blocked, 0 depends, 0 unknown"
        );
        assert_eq!(s[1].count(Outcome::Exposed), 1);
    }

    #[test]
    fn compact_table_aligns_columns() {
        let clients = vec!["local".to_owned(), "patched-mitigated".to_owned()];
        let rows = vec![
            (
                "127.0.0.2:3389".to_owned(),
                vec!["unknown:client-unknown".to_owned(), "ok".to_owned()],
            ),
            (
                "10.0.0.1:3389".to_owned(),
                vec!["ok".to_owned(), "blocked:credssp-oracle".to_owned()],
            ),
        ];
        let t = compact_table(&clients, &rows, 3);
        let expected = "\ncompatibility (details: --matrix FILE.csv or --format json):\n\
ENDPOINT        local                   patched-mitigated\n\
127.0.0.2:3389  unknown:client-unknown  ok\n\
10.0.0.1:3389   ok                      blocked:credssp-oracle\n  ... and 3 more RDP hosts (see --matrix FILE.csv)\n";
        assert_eq!(t, expected);
        assert!(compact_table(&clients, &[], 0).contains("no RDP hosts"));
    }

    #[test]
    fn cell_texts() {
        assert_eq!(cell_text(Some(&cell(Outcome::Ok, None, None))), "ok");
        assert_eq!(
            cell_text(Some(&cell(
                Outcome::Blocked,
                Some("tls-version"),
                Some("f")
            ))),
            "blocked:tls-version"
        );
        assert_eq!(cell_text(None), "unknown:not-evaluated");
    }
}
