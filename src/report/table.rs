//! The terminal table: one aligned line per endpoint, in endpoint order once the scan ends,
//! and a final count line. Closed and filtered endpoints are counted, not listed, unless
//! `--all-endpoints` ([`super::rows`]). Every value goes through
//! [`sanitize::escape_controls`]: no server text reaches the terminal raw.

use std::collections::BinaryHeap;
use std::io::Write;

use unicode_width::UnicodeWidthStr;

use super::HostReport;
use super::matrix;
use super::rows::{EndpointOrder, Rows};
use super::sanitize;
use super::schema::Status;
use super::summary::Summary;

struct Col {
    title: &'static str,
    width: usize,
    value: fn(&HostReport) -> String,
}

fn dash(s: Option<String>) -> String {
    s.filter(|s| !s.is_empty()).unwrap_or_else(|| "-".into())
}

static COLS: &[Col] = &[
    Col {
        title: "ENDPOINT",
        width: 22,
        value: |r| r.endpoint(),
    },
    Col {
        title: "STATUS",
        width: 7,
        value: |r| r.status.as_str().into(),
    },
    Col {
        title: "NLA",
        width: 13,
        value: |r| match r.status {
            Status::Rdp => r.security.nla.as_str().into(),
            _ => "-".into(),
        },
    },
    Col {
        title: "SERVER",
        width: 7,
        value: |r| match (r.status, r.server.as_ref()) {
            (Status::Rdp, Some(s)) => s.implementation.as_str().into(),
            _ => "-".into(),
        },
    },
    Col {
        title: "LAYERS",
        width: 22,
        value: |r| {
            let p = &r.security.protocols;
            // Standard RDP Security with its encryption level (`rdp(high)`).
            let rdp = match r
                .rdp_security
                .as_ref()
                .and_then(|s| s.encryption_level.as_deref())
            {
                Some("client_compatible") => "rdp(client)".to_owned(),
                Some(level) => format!("rdp({level})"),
                None => "rdp".to_owned(),
            };
            dash(Some(
                [
                    (rdp.as_str(), p.rdp),
                    ("tls", p.tls),
                    ("credssp", p.credssp),
                    ("ex", p.credssp_early_auth),
                ]
                .iter()
                .filter(|(_, v)| *v == Some(true))
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(","),
            ))
        },
    },
    Col {
        title: "TLS",
        width: 15,
        value: |r| {
            dash(
                r.tls
                    .as_ref()
                    .map(|t| super::csv::tls_versions_text(t, ",", |v| v.to_string())),
            )
        },
    },
    Col {
        title: "CERT",
        width: 12,
        value: |r| {
            dash(
                r.tls
                    .as_ref()
                    .and_then(|t| t.certificate.as_ref())
                    .map(|c| {
                        let kind = if c.self_signed { "self" } else { "ca" };
                        if c.days_left < 0 {
                            format!("{kind} expired")
                        } else {
                            format!("{kind} {}d", c.days_left)
                        }
                    }),
            )
        },
    },
    Col {
        title: "CREDSSP",
        width: 10,
        value: |r| {
            dash(r.credssp.as_ref().map(|c| match c.version {
                Some(v) => format!("v{v} {}", c.cve_2018_0886.as_str()),
                None => c.cve_2018_0886.as_str().into(),
            }))
        },
    },
    Col {
        title: "HOST / OS",
        width: 30,
        value: |r| {
            let name = r
                .ntlm
                .as_ref()
                .and_then(|n| n.dns_computer.clone().or_else(|| n.nb_computer.clone()));
            // The OS only where NTLM named a Windows release (the SERVER column says what a
            // non-Windows server is).
            let what = r.ntlm.as_ref().and_then(|n| n.os_name.clone());
            dash(match (name, what) {
                (Some(name), Some(what)) => Some(format!("{name} / {what}")),
                (name, what) => name.or(what),
            })
        },
    },
    Col {
        title: "FINDINGS",
        width: 0,
        value: |r| match &r.error {
            Some(e) if r.status != Status::Rdp => format!("{}: {}", e.stage.as_str(), e.message),
            _ => dash(Some(
                r.findings
                    .iter()
                    .map(|f| f.id.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            )),
        },
    },
];

/// Pads or cuts `s` to `width` display columns (0 = no limit), marking a cut with `…`.
fn fit(s: &str, width: usize) -> String {
    let total = UnicodeWidthStr::width(s);
    if width == 0 {
        return s.to_owned();
    }
    if total <= width {
        return format!("{s}{}", " ".repeat(width - total));
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out.push_str(&" ".repeat(width - 1 - used));
    out
}

/// At most this many hosts in the terminal's compact matrix.
pub const COMPACT_ROWS: usize = 200;

/// One row of the compact matrix: its order, the endpoint and the cell texts in client order.
type CompactRow = (EndpointOrder, String, Vec<String>);

/// Collects the table's lines as endpoints finish and prints them in endpoint order when the
/// scan ends ([`super::rows`]), then the count line and, when clients were evaluated, the
/// compact compatibility matrix (the first [`COMPACT_ROWS`] RDP hosts in that order) and the
/// per-client counts.
pub struct TableWriter<W: Write> {
    out: W,
    rows: Rows,
    clients: Vec<String>,
    lines: Vec<(EndpointOrder, String)>,
    /// The lowest [`COMPACT_ROWS`] RDP hosts so far (a max-heap: the highest is dropped).
    compact: BinaryHeap<CompactRow>,
    compact_more: u64,
}

impl<W: Write> TableWriter<W> {
    pub fn new(out: W, rows: Rows) -> Self {
        Self {
            out,
            rows,
            clients: Vec::new(),
            lines: Vec::new(),
            compact: BinaryHeap::new(),
            compact_more: 0,
        }
    }

    /// Also shows the compact matrix of these clients at the end.
    pub fn with_clients(mut self, clients: &[String]) -> Self {
        self.clients = clients.to_vec();
        self
    }

    fn line(cells: impl Iterator<Item = String>) -> String {
        let line: Vec<String> = cells.collect();
        line.join("  ").trim_end().to_owned()
    }

    pub fn write(&mut self, r: &HostReport) -> std::io::Result<()> {
        if r.status == Status::Rdp && !self.clients.is_empty() {
            let cells = self
                .clients
                .iter()
                .map(|c| matrix::cell_text(r.compat.get(c)))
                .collect();
            self.compact
                .push((EndpointOrder::of(r), r.endpoint(), cells));
            if self.compact.len() > COMPACT_ROWS {
                self.compact.pop();
                self.compact_more += 1;
            }
        }
        if !self.rows.lists(r) {
            return Ok(());
        }
        let cells = COLS
            .iter()
            .map(|c| fit(&sanitize::escape_controls(&(c.value)(r)), c.width));
        self.lines.push((EndpointOrder::of(r), Self::line(cells)));
        Ok(())
    }

    pub fn finish(&mut self, summary: &Summary) -> std::io::Result<()> {
        if !self.lines.is_empty() {
            self.lines.sort_by(|a, b| a.0.cmp(&b.0));
            writeln!(
                self.out,
                "{}",
                Self::line(COLS.iter().map(|c| fit(c.title, c.width)))
            )?;
            for (_, line) in std::mem::take(&mut self.lines) {
                writeln!(self.out, "{line}")?;
            }
            writeln!(self.out)?;
        }
        writeln!(self.out, "{}", summary.count_line())?;
        if !self.clients.is_empty() {
            let rows: Vec<(String, Vec<String>)> = std::mem::take(&mut self.compact)
                .into_sorted_vec()
                .into_iter()
                .map(|(_, endpoint, cells)| (endpoint, cells))
                .collect();
            write!(
                self.out,
                "{}",
                matrix::compact_table(&self.clients, &rows, self.compact_more)
            )?;
            writeln!(self.out, "clients:")?;
            for s in &summary.compat {
                writeln!(self.out, "  {}", s.line())?;
            }
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn fit_pads_and_cuts_by_display_width() {
        assert_eq!(fit("abc", 5), "abc  ");
        assert_eq!(fit("abcdef", 5), "abcd…");
        assert_eq!(fit("abcde", 5), "abcde");
        assert_eq!(fit("日本語です", 6), "日本… ");
        assert_eq!(fit("x", 0), "x");
    }
}
