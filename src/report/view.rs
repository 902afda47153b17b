//! What a finished, human-facing report (the XLSX workbook of [`super::xlsx`] and the HTML page
//! of [`super::html`]) shows, and what both writers share: the outcome and severity palette,
//! the finding and status counts, and the text clipping.
//!
//! The writers are plain functions over a [`ReportView`] built at the end of a scan; they never
//! re-derive a verdict (`compat` and `analysis` decided everything), they only count and colour.

use std::collections::BTreeMap;

use super::HostReport;
use super::matrix::{self, ClientSummary};
use super::sanitize;
use super::schema::Outcome;
use super::summary::ScanMeta;
use crate::analysis::findings::Severity;

/// What a finished human-facing report shows.
#[derive(Debug, Clone, Copy)]
pub struct ReportView<'a> {
    /// Rows, in order (the caller filters and sorts); each has `.compat` filled per client.
    pub hosts: &'a [HostReport],
    /// Matrix columns, in order.
    pub clients: &'a [String],
    /// Scan metadata: times, targets, ports, status counts, client profiles and per-client
    /// outcome counts.
    pub meta: &'a ScanMeta,
}

impl ReportView<'_> {
    /// Per client, how many RDP hosts reached each outcome: `meta.compat` when the scan counted
    /// them, otherwise counted here over `hosts` (same rule: RDP hosts only).
    pub fn client_summaries(&self) -> Vec<ClientSummary> {
        if self.meta.compat.is_empty() {
            matrix::summarize(self.hosts, self.clients)
        } else {
            self.meta.compat.clone()
        }
    }

    /// Every finding id with its severity and the endpoints that have it, most severe first,
    /// then by id.
    pub fn findings_by_id(&self) -> Vec<FindingGroup> {
        let mut groups: BTreeMap<(std::cmp::Reverse<Severity>, String), Vec<String>> =
            BTreeMap::new();
        for h in self.hosts {
            for f in &h.findings {
                groups
                    .entry((std::cmp::Reverse(f.severity), f.id.clone()))
                    .or_default()
                    .push(h.endpoint());
            }
        }
        groups
            .into_iter()
            .map(|((severity, id), endpoints)| FindingGroup {
                id,
                severity: severity.0,
                endpoints,
            })
            .collect()
    }
}

/// One finding id across the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingGroup {
    pub id: String,
    pub severity: Severity,
    /// Endpoints (`ip:port`) with the finding, in host order (an endpoint appears once per
    /// finding it has, so twice when the finding was raised twice).
    pub endpoints: Vec<String>,
}

/// Host CSV columns ([`super::csv::COLUMNS`]) whose values are numbers: the workbook writes
/// them as number cells, the HTML host table sorts them numerically.
pub const NUMBER_COLUMNS: &[&str] = &[
    "port",
    "connections",
    "elapsed_ms",
    "cert_days_left",
    "cert_key_bits",
    "credssp_version",
    "os_build",
    "clock_skew_s",
];

/// Host CSV columns whose values are `yes`/`no`/empty: boolean cells in the workbook.
pub const BOOL_COLUMNS: &[&str] = &[
    "rdp",
    "tls",
    "credssp",
    "credssp_early_auth",
    "rdstls",
    "rdsaad",
    "cert_self_signed",
    "cert_trusted",
    "cert_name_ok",
];

/// Host CSV columns whose values are RFC 3339 times: date cells in the workbook.
pub const DATE_COLUMNS: &[&str] = &["cert_not_after"];

/// How a host CSV column's value is typed in a finished report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Number,
    Bool,
    Date,
}

/// The kind of the host CSV column `name` (text unless listed above).
pub fn column_kind(name: &str) -> ColumnKind {
    if NUMBER_COLUMNS.contains(&name) {
        ColumnKind::Number
    } else if BOOL_COLUMNS.contains(&name) {
        ColumnKind::Bool
    } else if DATE_COLUMNS.contains(&name) {
        ColumnKind::Date
    } else {
        ColumnKind::Text
    }
}

/// Outcomes in the order legends list them (best first).
pub const OUTCOMES: [Outcome; 6] = [
    Outcome::Ok,
    Outcome::Warn,
    Outcome::Exposed,
    Outcome::Depends,
    Outcome::Blocked,
    Outcome::Unknown,
];

/// Severities in the order reports list them (worst first).
pub const SEVERITIES: [Severity; 4] = [
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

/// A cell colour pair, `0xRRGGBB`: a light fill and a dark text colour on it. Every pair has a
/// contrast ratio of at least 7:1 (WCAG AAA), and the cell text always names the outcome, so the
/// colour is never the only carrier of the meaning (colour-blind readers, grey printers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colors {
    pub fill: u32,
    pub text: u32,
}

impl Colors {
    /// `#rrggbb` of the fill.
    pub fn fill_hex(self) -> String {
        format!("#{:06x}", self.fill)
    }

    /// `#rrggbb` of the text.
    pub fn text_hex(self) -> String {
        format!("#{:06x}", self.text)
    }
}

/// The matrix palette, the same in the workbook and the HTML page: ok green, warn yellow,
/// exposed orange, depends light purple, blocked red, unknown grey.
pub fn outcome_colors(o: Outcome) -> Colors {
    let (fill, text) = match o {
        Outcome::Ok => (0xC6EFCE, 0x00501B),
        Outcome::Warn => (0xFFEB9C, 0x5C3C00),
        Outcome::Exposed => (0xF8CBAD, 0x6B2600),
        Outcome::Depends => (0xDCD3F0, 0x3B2470),
        Outcome::Blocked => (0xFFC7CE, 0x7A000E),
        Outcome::Unknown => (0xE4E4E4, 0x333333),
    };
    Colors { fill, text }
}

/// What each outcome means, for legends (`docs/compat.md`).
pub fn outcome_meaning(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "connects, nothing to fix",
        Outcome::Warn => "connects after the user accepts a warning",
        Outcome::Exposed => "connects over the pre-fix CredSSP exchange (CVE-2018-0886)",
        Outcome::Depends => "decided by a server setting that cannot be observed remotely",
        Outcome::Blocked => "refused; the reason says by what",
        Outcome::Unknown => "not enough data; the reason says what is missing",
    }
}

/// The severity palette (findings): high red, medium orange, low yellow, info grey.
pub fn severity_colors(s: Severity) -> Colors {
    let (fill, text) = match s {
        Severity::High => (0xFFC7CE, 0x7A000E),
        Severity::Medium => (0xF8CBAD, 0x6B2600),
        Severity::Low => (0xFFEB9C, 0x5C3C00),
        Severity::Info => (0xE4E4E4, 0x333333),
    };
    Colors { fill, text }
}

/// The first `max` items joined with `; `, then `… and N more` when there are more.
pub fn list_text(items: &[String], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > max {
        s.push_str(&format!("; … and {} more", items.len() - max));
    }
    s
}

/// Untrusted text as a report shows it: control and bidi characters made visible
/// ([`sanitize::escape_controls`]) and at most `max` UTF-16 code units (spreadsheets count
/// UTF-16; Excel's cell limit is 32,767), a cut marked with `…[cut]`.
pub fn display_text(s: &str, max: usize) -> String {
    let escaped = sanitize::escape_controls(s);
    if escaped.encode_utf16().count() <= max {
        return escaped.into_owned();
    }
    const MARK: &str = "…[cut]";
    let budget = max.saturating_sub(MARK.encode_utf16().count());
    let mut out = String::new();
    let mut used = 0usize;
    for c in escaped.chars() {
        let w = c.len_utf16();
        if used + w > budget {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push_str(MARK);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WCAG 2 relative luminance of `0xRRGGBB`.
    fn luminance(rgb: u32) -> f64 {
        let ch = |shift: u32| {
            let c = f64::from((rgb >> shift) & 0xff) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * ch(16) + 0.7152 * ch(8) + 0.0722 * ch(0)
    }

    fn contrast(c: Colors) -> f64 {
        let (a, b) = (luminance(c.fill), luminance(c.text));
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    #[test]
    fn palette_is_readable_and_distinct() {
        for o in OUTCOMES {
            let c = outcome_colors(o);
            assert!(contrast(c) >= 7.0, "{o:?}: contrast {}", contrast(c));
        }
        for s in SEVERITIES {
            assert!(contrast(severity_colors(s)) >= 7.0, "{s:?}");
        }
        let fills: std::collections::HashSet<u32> =
            OUTCOMES.iter().map(|o| outcome_colors(*o).fill).collect();
        assert_eq!(fills.len(), OUTCOMES.len(), "one fill per outcome");
        assert_eq!(outcome_colors(Outcome::Ok).fill_hex(), "#c6efce");
    }

    #[test]
    fn typed_columns_exist_in_the_csv() {
        let names: Vec<&str> = crate::report::csv::COLUMNS.iter().map(|c| c.name).collect();
        for n in NUMBER_COLUMNS
            .iter()
            .chain(BOOL_COLUMNS)
            .chain(DATE_COLUMNS)
        {
            assert!(names.contains(n), "{n} is not a CSV column");
        }
        assert_eq!(column_kind("cert_not_after"), ColumnKind::Date);
        assert_eq!(column_kind("cert_trusted"), ColumnKind::Bool);
        assert_eq!(column_kind("port"), ColumnKind::Number);
        assert_eq!(column_kind("nb_computer"), ColumnKind::Text);
    }

    #[test]
    fn list_text_caps() {
        let items: Vec<String> = (1..=5).map(|i| i.to_string()).collect();
        assert_eq!(list_text(&items, 5), "1; 2; 3; 4; 5");
        assert_eq!(list_text(&items, 2), "1; 2; … and 3 more");
        assert_eq!(list_text(&[], 2), "");
    }

    #[test]
    fn display_text_escapes_and_cuts() {
        assert_eq!(display_text("a\tb", 100), "a\\x09b");
        let long = "é".repeat(40_000);
        let cut = display_text(&long, 32_767);
        assert_eq!(cut.encode_utf16().count(), 32_767);
        assert!(cut.ends_with("…[cut]"));
        // A character outside the BMP counts twice and is never split.
        let astral = "😀".repeat(10);
        let cut = display_text(&astral, 11);
        assert_eq!(cut, format!("{}…[cut]", "😀".repeat(2)));
    }
}

/// A view with hostile server text in every field a report shows, for the writers' tests.
#[cfg(test)]
pub(crate) mod sample {
    use crate::analysis::findings::{Finding, Severity};
    use crate::client::builtin::builtin;
    use crate::report::HostReport;
    use crate::report::schema::{
        CertificateReport, CompatCell, CredsspReport, ErrorInfo, NlaVerdict, NtlmReport, OracleFix,
        Outcome, Stage, Status, TlsReport, TrustReport,
    };
    use crate::report::schema::{CipherSuite, ProtocolVersion, TlsStack};
    use crate::report::summary::{ScanMeta, Summary};

    pub const SCRIPT: &str = "<script>alert(1)</script>";
    pub const IMG: &str = "\"><img src=x onerror=alert(1)>";
    pub const ATTR: &str = "' onmouseover='alert(1)";
    pub const STYLE: &str = "</style><script>alert(2)</script>";
    pub const JS_URL: &str = "javascript:alert(3)";
    pub const FORMULA: &str = "=HYPERLINK(\"http://192.0.2.9/\",\"click\")";
    pub const PLUS: &str = "+1+1";
    pub const MINUS: &str = "-2+3";
    pub const AT: &str = "@SUM(A1:A9)";
    pub const XML_ESCAPE: &str = "_x0041_";
    pub const CONTROL: &str = "tab\there\x1b[31m\u{202e}txt";
    pub const REMEDIATION: &str = "Patch the server <img src=x onerror=alert(4)>; =1+1";

    pub fn clients() -> Vec<String> {
        vec!["patched-mitigated".to_owned(), "unpatched".to_owned()]
    }

    fn cell(outcome: Outcome, reason: Option<&str>, fix: Option<&str>) -> CompatCell {
        CompatCell {
            outcome,
            reason: reason.map(str::to_owned),
            remediation: fix.map(str::to_owned),
        }
    }

    /// A hostile RDP host, a plain RDP host, and an error endpoint whose message is hostile.
    pub fn hosts() -> Vec<HostReport> {
        let mut a = HostReport::new(FORMULA.into(), Some("192.0.2.10".parse().unwrap()), 3389);
        a.status = Status::Rdp;
        a.security.nla = NlaVerdict::Required;
        a.security.protocols.credssp = Some(true);
        a.security.protocols.tls = Some(false);
        a.security.protocols.rdp = Some(false);
        a.security.selected = Some("credssp".into());
        a.tls = Some(TlsReport {
            version: Some(ProtocolVersion::TLS1_2),
            cipher: CipherSuite::from_name("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
            versions: vec![ProtocolVersion::TLS1_2],
            versions_probed: vec![ProtocolVersion::TLS1_2],
            versions_undecided: vec![ProtocolVersion::TLS1_0],
            stack: Some(TlsStack::Rustls),
            certificate: Some(CertificateReport {
                subject_cn: Some(SCRIPT.into()),
                subject: format!("CN={IMG}"),
                sans: vec![JS_URL.into()],
                issuer: STYLE.into(),
                serial: "01".into(),
                not_before: "2026-01-02T03:04:05Z".into(),
                not_after: "2027-01-02T03:04:05Z".into(),
                days_left: -5,
                key_type: "RSA".into(),
                key_bits: Some(2048),
                signature_algorithm: PLUS.into(),
                self_signed: true,
                sha256: "AA:BB".into(),
                sha1: "AABB".into(),
            }),
            chain: vec![],
            trust: Some(TrustReport {
                name_checked: None,
                platform: Some("untrusted: unknown issuer".into()),
                ca_file: None,
                name: Some("trusted".into()),
            }),
            error: None,
        });
        a.credssp = Some(CredsspReport {
            version: Some(3),
            cve_2018_0886: OracleFix::Missing,
            ..CredsspReport::default()
        });
        a.ntlm = Some(NtlmReport {
            nb_computer: Some(ATTR.into()),
            nb_domain: Some(MINUS.into()),
            dns_computer: Some(JS_URL.into()),
            dns_domain: Some(AT.into()),
            os_build: Some(17763),
            os_name: Some(XML_ESCAPE.into()),
            clock_skew_s: Some(-42),
            ..NtlmReport::default()
        });
        a.findings = vec![
            Finding::new(
                "credssp-oracle-unpatched",
                Severity::High,
                format!("unpatched {SCRIPT}"),
            ),
            Finding::new(
                "cert-self-signed",
                Severity::Medium,
                format!("self-signed {STYLE}"),
            ),
        ];
        a.compat.insert(
            "patched-mitigated".into(),
            cell(Outcome::Blocked, Some("credssp-oracle"), Some(REMEDIATION)),
        );
        a.compat.insert(
            "unpatched".into(),
            cell(
                Outcome::Exposed,
                Some("credssp-oracle"),
                Some("Patch both sides."),
            ),
        );
        a.connections = 5;
        a.elapsed_ms = 1234;

        let mut b = HostReport::new(
            "192.0.2.11".into(),
            Some("192.0.2.11".parse().unwrap()),
            3389,
        );
        b.status = Status::Rdp;
        b.security.nla = NlaVerdict::Supported;
        b.ntlm = Some(NtlmReport {
            nb_computer: Some(IMG.into()),
            ..NtlmReport::default()
        });
        b.findings = vec![Finding::new(
            "cert-self-signed",
            Severity::Medium,
            "self-signed",
        )];
        b.compat
            .insert("patched-mitigated".into(), cell(Outcome::Ok, None, None));
        b.compat.insert(
            "unpatched".into(),
            cell(
                Outcome::Depends,
                Some("credssp-oracle"),
                Some("Depends on the server."),
            ),
        );
        b.connections = 4;
        b.elapsed_ms = 20;

        let mut c = HostReport::new(
            "host.example".into(),
            Some("2001:db8::1".parse().unwrap()),
            3390,
        );
        c.status = Status::Error;
        c.error = Some(ErrorInfo {
            stage: Stage::Tls,
            message: format!("{MINUS} {CONTROL}"),
        });
        c.compat.insert(
            "patched-mitigated".into(),
            cell(Outcome::Unknown, Some("not-rdp"), Some("Check the host.")),
        );
        c.connections = 1;
        vec![a, b, c]
    }

    pub fn meta() -> ScanMeta {
        ScanMeta {
            tool: "rdpsweep",
            version: "0.1.0",
            started: "2026-12-01T10:00:00Z".into(),
            finished: Some("2026-12-01T10:00:05Z".into()),
            targets: vec!["192.0.2.0/24".into(), SCRIPT.into()],
            ports: vec![3389, 3390],
            summary: Some(Summary {
                endpoints: 260,
                rdp: 2,
                closed: 257,
                error: 1,
                ..Summary::default()
            }),
            clients: clients().iter().filter_map(|c| builtin(c)).collect(),
            compat: Vec::new(),
        }
    }
}
