//! Which endpoints the human-facing views list, and in which order (docs/output.md, "Which
//! endpoints, in which order").
//!
//! The human-facing views are the table, the host CSV, the matrix CSV, the workbook and the
//! HTML page. They list the endpoints that answered (`rdp`, `not_rdp`, `error`), sorted by
//! address, then port; closed and filtered endpoints are only counted, unless
//! `--all-endpoints` asks for every row. JSON and JSONL always hold every endpoint, in
//! completion order: `--resume`, `report` and pipelines read them.
//!
//! A CSV view is written to a spool in completion order (a `.partial` file, so an interrupted
//! or killed run keeps every finished endpoint) while [`SortedRows`] remembers where each row
//! starts; when the view is finished the rows are copied out in endpoint order. Memory: one
//! index entry per listed row, not the rows.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::IpAddr;

use super::HostReport;
use super::schema::Status;

/// Which endpoints a human-facing view lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rows {
    /// The endpoints where something answered: `rdp`, `not_rdp` and `error`.
    #[default]
    Answered,
    /// Every endpoint, closed and filtered ones too (`--all-endpoints`).
    All,
}

impl Rows {
    /// `--all-endpoints` or not.
    pub fn from_all_endpoints(all: bool) -> Self {
        if all { Self::All } else { Self::Answered }
    }

    /// Whether the view lists `r`.
    pub fn lists(self, r: &HostReport) -> bool {
        self == Self::All || !matches!(r.status, Status::Closed | Status::Filtered)
    }
}

/// The order of the human-facing views: by address (IPv4 before IPv6, numerically), then
/// port; names that did not resolve (no address) come last, by name. The target breaks ties
/// (one address scanned under two names).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EndpointOrder {
    unresolved: bool,
    ip: Option<IpAddr>,
    port: u16,
    target: String,
}

impl EndpointOrder {
    pub fn of(r: &HostReport) -> Self {
        Self {
            unresolved: r.ip.is_none(),
            ip: r.ip,
            port: r.port,
            target: r.target.clone(),
        }
    }
}

/// Sorts reports into [`EndpointOrder`] (stable: equal keys keep their order).
pub fn sort(hosts: &mut [HostReport]) {
    hosts.sort_by_cached_key(EndpointOrder::of);
}

/// A writer that counts the bytes written through it: the CSV views learn where each row
/// starts in their spool.
#[derive(Debug)]
pub struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Counting<W> {
    pub fn new(inner: W) -> Self {
        Self { inner, written: 0 }
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.written
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written = self
            .written
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Where the rows of a spooled view start and end, for putting them in order at the end.
#[derive(Debug, Default)]
pub struct SortedRows {
    /// The byte-order mark and header: everything before the first row.
    header_end: u64,
    /// `(order, start, end)` of each row in the spool.
    rows: Vec<(EndpointOrder, u64, u64)>,
}

impl SortedRows {
    /// Starts an index whose rows follow a header ending at `header_end`.
    pub fn new(header_end: u64) -> Self {
        Self {
            header_end,
            rows: Vec::new(),
        }
    }

    /// Records that the row of `r` occupies `start..end` of the spool.
    pub fn push(&mut self, r: &HostReport, start: u64, end: u64) {
        self.rows.push((EndpointOrder::of(r), start, end));
    }

    /// Whether the spool's rows are already in order.
    pub fn in_order(&self) -> bool {
        self.rows.windows(2).all(|w| match w {
            [a, b] => a.0 <= b.0,
            _ => true,
        })
    }

    /// Copies the header and then every row in endpoint order from `spool` to `out`.
    pub fn copy_sorted(
        mut self,
        spool: &mut (impl Read + Seek),
        out: &mut impl Write,
    ) -> io::Result<()> {
        self.rows.sort_by(|a, b| a.0.cmp(&b.0));
        copy_range(spool, out, 0, self.header_end)?;
        for (_, start, end) in &self.rows {
            copy_range(spool, out, *start, *end)?;
        }
        out.flush()
    }
}

fn copy_range(
    spool: &mut (impl Read + Seek),
    out: &mut impl Write,
    start: u64,
    end: u64,
) -> io::Result<()> {
    spool.seek(SeekFrom::Start(start))?;
    let len = end.saturating_sub(start);
    let copied = io::copy(&mut spool.by_ref().take(len), out)?;
    if copied != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the spool ended {} bytes early", len - copied),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn host(ip: Option<&str>, port: u16, status: Status) -> HostReport {
        let mut r = HostReport::new(
            ip.unwrap_or("unresolved.example").to_owned(),
            ip.and_then(|s| s.parse().ok()),
            port,
        );
        r.status = status;
        r
    }

    #[test]
    fn answered_rows_are_rdp_not_rdp_and_error() {
        let listed: Vec<Status> = [
            Status::Rdp,
            Status::NotRdp,
            Status::Closed,
            Status::Filtered,
            Status::Error,
        ]
        .into_iter()
        .filter(|s| Rows::Answered.lists(&host(Some("10.0.0.1"), 3389, *s)))
        .collect();
        assert_eq!(listed, [Status::Rdp, Status::NotRdp, Status::Error]);
        assert!(Rows::All.lists(&host(Some("10.0.0.1"), 3389, Status::Filtered)));
    }

    #[test]
    fn order_is_numeric_ipv4_then_ipv6_then_port_then_unresolved() {
        let mut hosts = vec![
            host(None, 3389, Status::Error),
            host(Some("fd00::1"), 3389, Status::Rdp),
            host(Some("10.0.0.10"), 3389, Status::Rdp),
            host(Some("10.0.0.9"), 3390, Status::Rdp),
            host(Some("10.0.0.9"), 3389, Status::Rdp),
            host(Some("9.255.255.255"), 3389, Status::Rdp),
        ];
        sort(&mut hosts);
        let got: Vec<String> = hosts.iter().map(HostReport::endpoint).collect();
        assert_eq!(
            got,
            [
                "9.255.255.255:3389",
                "10.0.0.9:3389",
                "10.0.0.9:3390",
                "10.0.0.10:3389",
                "[fd00::1]:3389",
                "unresolved.example:3389",
            ]
        );
    }

    #[test]
    fn spooled_rows_come_out_sorted_after_the_header() {
        let mut spool = Counting::new(Vec::new());
        spool.write_all(b"h\n").unwrap();
        let mut index = SortedRows::new(spool.position());
        for (ip, line) in [
            ("10.0.0.3", "c\n"),
            ("10.0.0.1", "a\n"),
            ("10.0.0.2", "b\n"),
        ] {
            let start = spool.position();
            spool.write_all(line.as_bytes()).unwrap();
            index.push(&host(Some(ip), 3389, Status::Rdp), start, spool.position());
        }
        assert!(!index.in_order());
        let mut out = Vec::new();
        index
            .copy_sorted(&mut Cursor::new(spool.into_inner()), &mut out)
            .unwrap();
        assert_eq!(out, b"h\na\nb\nc\n");
    }

    #[test]
    fn a_short_spool_is_an_error_not_a_short_file() {
        let mut index = SortedRows::new(1);
        index.push(&host(Some("10.0.0.1"), 3389, Status::Rdp), 1, 50);
        let err = index
            .copy_sorted(&mut Cursor::new(b"h\nrow".to_vec()), &mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
