//! `rdpsweep diff OLD NEW`: what changed between two saved scans (pure: no I/O, no clock).
//!
//! [`diff`] matches the endpoints of two scans, lists the ones that appeared or vanished, and
//! for the others lists every [`Change`] with a [`Direction`]: `regressed` (the posture got
//! worse), `improved`, or `changed` (a fact changed, neither better nor worse). The rules, the
//! volatile fields that never count, and the output formats are documented in `docs/diff.md`.
//!
//! # Why the comparison runs over the JSON form
//!
//! A [`HostReport`] is compared as its serde JSON form (`serde_json::to_value`), the same form
//! a saved scan has on disk, by a walker that looks each path up in a small rule table
//! (`rules.rs`): known fields get specific rules (ordered verdicts, protocol flags, trust
//! verdicts, findings keyed by id, compatibility cells per client, volatile fields), and every
//! other field gets the default rule (any difference is `changed`, objects are compared field
//! by field). The schema grows while scans pile up (`server.implementation`,
//! `rdp_security.*`, ...): a typed comparison would need code for every new field, or would
//! silently ignore it; over the JSON form a new field is diffed sensibly the day it is added,
//! and its path in the output is the path a user reads in the saved scan. Volatile fields by
//! name (`*_ms`, `note`, ...) are recognised the same way, so a new timing or free-text field
//! does not turn every rescan into a wall of changes.
//!
//! # Matching
//!
//! Endpoints are matched by (address, port), or by (target, port) with
//! [`DiffOptions::match_by_target`] (hosts with changing DHCP addresses scanned by name). An
//! endpoint without an address (its name did not resolve) is matched by its target in either
//! mode. Targets match case-insensitively, without a trailing dot (DNS names are
//! case-insensitive, RFC 4343). When one scan holds the same endpoint twice, the later record
//! wins. Every list in [`ScanDiff`] is sorted by address (IPv4 before IPv6, numerically; names
//! after addresses), then port.

mod rules;
mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use super::sanitize::escape_controls;
use super::schema::{HostReport, NlaVerdict, OracleFix, Status};
use crate::analysis::findings::Severity;

pub use write::{write_csv, write_json, write_jsonl, write_table};

/// How to compare two scans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffOptions {
    /// Match endpoints by (target, port) instead of (address, port).
    pub match_by_target: bool,
    /// Paths (and everything under them) never compared, e.g. `compat` or `ntlm.dns_tree`;
    /// `[*]` matches any key (`compat[*].outcome`). See `docs/diff.md`.
    pub ignore: Vec<String>,
}

/// Whether a change made the endpoint's posture worse, better, or neither. Ordered from the
/// least to the most urgent, so the worst of several is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A fact changed; neither better nor worse (a replaced certificate, a new name, a value
    /// that was not observed on one side).
    Changed,
    /// The posture got better.
    Improved,
    /// The posture got worse.
    Regressed,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Changed => "changed",
            Direction::Improved => "improved",
            Direction::Regressed => "regressed",
        }
    }

    /// Improved and regressed swap; changed stays.
    pub(crate) fn flip(self) -> Self {
        match self {
            Direction::Improved => Direction::Regressed,
            Direction::Regressed => Direction::Improved,
            Direction::Changed => Direction::Changed,
        }
    }
}

/// One changed value of one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Where, in the host object's JSON form: fields joined with `.`, map keys and list keys in
    /// brackets (`security.nla`, `findings[cert-expired]`, `compat[patched-mitigated].outcome`,
    /// `tls.versions[1.0]`).
    pub path: String,
    /// The value in the old scan (`null` when absent).
    pub old: Value,
    /// The value in the new scan (`null` when absent).
    pub new: Value,
    pub direction: Direction,
}

/// A finding by id and severity (the message is in the scan itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingRef {
    pub id: String,
    pub severity: Severity,
}

/// An endpoint that is in only one of the scans, with a short summary of its posture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointRef {
    /// `ip:port` (`[v6]:port`), or `target:port` without an address.
    pub endpoint: String,
    pub target: String,
    pub ip: Option<IpAddr>,
    pub port: u16,
    pub status: Status,
    /// `security.nla`, only for `rdp` endpoints.
    pub nla: Option<NlaVerdict>,
    /// `credssp.version`.
    pub credssp_version: Option<u32>,
    /// `credssp.cve_2018_0886`, only for `rdp` endpoints with a `credssp` section.
    pub cve_2018_0886: Option<OracleFix>,
    /// The findings, in the scan's order.
    pub findings: Vec<FindingRef>,
}

impl EndpointRef {
    /// Something answered at this endpoint: any status but `closed` and `filtered`. An
    /// endpoint only in one scan where nothing answered is a change of the target list, not
    /// a host that appeared or vanished: the table counts it without listing it, and
    /// `--fail-on added|removed` ignores it (the machine formats keep it).
    pub fn answered(&self) -> bool {
        !matches!(self.status, Status::Closed | Status::Filtered)
    }

    fn of(r: &HostReport) -> Self {
        let rdp = r.status == Status::Rdp;
        Self {
            endpoint: r.endpoint(),
            target: r.target.clone(),
            ip: r.ip,
            port: r.port,
            status: r.status,
            nla: rdp.then_some(r.security.nla),
            credssp_version: r.credssp.as_ref().and_then(|c| c.version),
            cve_2018_0886: r.credssp.as_ref().filter(|_| rdp).map(|c| c.cve_2018_0886),
            findings: r
                .findings
                .iter()
                .map(|f| FindingRef {
                    id: f.id.clone(),
                    severity: f.severity,
                })
                .collect(),
        }
    }

    /// `nla required; credssp v6 fixed; findings: a (medium), b (high)`: the parts that are
    /// known, for the table and the CSV `summary` column (unescaped).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(nla) = self.nla {
            parts.push(format!("nla {}", nla.as_str()));
        }
        match (self.credssp_version, self.cve_2018_0886) {
            (Some(v), Some(fix)) => parts.push(format!("credssp v{v} {}", fix.as_str())),
            (Some(v), None) => parts.push(format!("credssp v{v}")),
            (None, Some(fix)) if fix != OracleFix::Unknown => {
                parts.push(format!("credssp {}", fix.as_str()))
            }
            _ => {}
        }
        if !self.findings.is_empty() {
            let list: Vec<String> = self
                .findings
                .iter()
                .map(|f| format!("{} ({})", f.id, f.severity.as_str()))
                .collect();
            parts.push(format!("findings: {}", list.join(", ")));
        }
        parts.join("; ")
    }
}

/// The changes of one endpoint that is in both scans.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointChanges {
    /// As in the new scan.
    pub endpoint: String,
    pub target: String,
    pub ip: Option<IpAddr>,
    pub port: u16,
    pub old_status: Status,
    pub status: Status,
    /// The worst direction among `changes`.
    pub direction: Direction,
    /// In a fixed order: status and error first, then the sections in schema order.
    pub changes: Vec<Change>,
}

/// What changed between two scans. Unchanged endpoints are only counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScanDiff {
    /// Endpoints only in the new scan.
    pub added: Vec<EndpointRef>,
    /// Endpoints only in the old scan.
    pub removed: Vec<EndpointRef>,
    /// Endpoints in both scans with at least one change.
    pub changed: Vec<EndpointChanges>,
    /// Distinct endpoints in each scan (after dropping duplicates).
    pub old_endpoints: usize,
    pub new_endpoints: usize,
    /// Client profiles evaluated (`compat`) in only one of the scans: their cells are not
    /// compared.
    pub clients_not_compared: Vec<String>,
}

/// Counts per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DirectionCounts {
    pub regressed: usize,
    pub improved: usize,
    pub changed: usize,
}

impl DirectionCounts {
    fn add(&mut self, d: Direction) {
        match d {
            Direction::Regressed => self.regressed += 1,
            Direction::Improved => self.improved += 1,
            Direction::Changed => self.changed += 1,
        }
    }
}

/// The `summary` object of the JSON format and the table's count line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffSummary {
    pub old_endpoints: usize,
    pub new_endpoints: usize,
    pub added: usize,
    pub removed: usize,
    /// Of `added` and `removed`: endpoints where nothing answered (`closed`, `filtered`).
    pub added_closed_or_filtered: usize,
    pub removed_closed_or_filtered: usize,
    /// Endpoints with at least one change.
    pub changed: usize,
    /// Endpoints in both scans without a change.
    pub unchanged: usize,
    /// Changed endpoints by their worst direction (they add up to `changed`).
    pub endpoints: DirectionCounts,
    /// Every single change by direction.
    pub changes: DirectionCounts,
    pub clients_not_compared: Vec<String>,
}

impl ScanDiff {
    /// True when nothing was added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    pub fn summary(&self) -> DiffSummary {
        let mut endpoints = DirectionCounts::default();
        let mut changes = DirectionCounts::default();
        for e in &self.changed {
            endpoints.add(e.direction);
            for c in &e.changes {
                changes.add(c.direction);
            }
        }
        let matched = self.old_endpoints.saturating_sub(self.removed.len());
        DiffSummary {
            old_endpoints: self.old_endpoints,
            new_endpoints: self.new_endpoints,
            added: self.added.len(),
            removed: self.removed.len(),
            added_closed_or_filtered: self.added.iter().filter(|e| !e.answered()).count(),
            removed_closed_or_filtered: self.removed.iter().filter(|e| !e.answered()).count(),
            changed: self.changed.len(),
            unchanged: matched.saturating_sub(self.changed.len()),
            endpoints,
            changes,
            clients_not_compared: self.clients_not_compared.clone(),
        }
    }
}

impl DiffSummary {
    /// `3 added, 1 removed, 5 changed: 2 regressed, 2 improved, 1 changed; 12 unchanged`
    /// (`250 added (248 closed or filtered)` when nothing answered at some of them).
    pub fn count_line(&self) -> String {
        let quiet = |n: usize| {
            if n > 0 {
                format!(" ({n} closed or filtered)")
            } else {
                String::new()
            }
        };
        format!(
            "{} added{}, {} removed{}, {} changed: {} regressed, {} improved, {} changed; {} unchanged",
            self.added,
            quiet(self.added_closed_or_filtered),
            self.removed,
            quiet(self.removed_closed_or_filtered),
            self.changed,
            self.endpoints.regressed,
            self.endpoints.improved,
            self.endpoints.changed,
            self.unchanged
        )
    }
}

/// The matching key: an address, or a normalised name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Addr {
    Ip(IpAddr),
    Name(String),
}

fn name_key(target: &str) -> Addr {
    let t = target.trim_end_matches('.');
    match t.parse::<IpAddr>() {
        Ok(ip) => Addr::Ip(ip),
        Err(_) => Addr::Name(t.to_ascii_lowercase()),
    }
}

fn key(r: &HostReport, opts: &DiffOptions) -> (Addr, u16) {
    let addr = match r.ip {
        Some(ip) if !opts.match_by_target => Addr::Ip(ip),
        _ => name_key(&r.target),
    };
    (addr, r.port)
}

/// One record per key, the later record winning.
fn index<'a>(scan: &'a [HostReport], opts: &DiffOptions) -> BTreeMap<(Addr, u16), &'a HostReport> {
    scan.iter().map(|r| (key(r, opts), r)).collect()
}

/// The records of one scan that [`diff`] leaves out because a later record of the same scan
/// has the same matching key, as `(dropped, kept)` indices into `scan`: for the caller's
/// warnings ("the later record wins").
pub fn duplicates(scan: &[HostReport], opts: &DiffOptions) -> Vec<(usize, usize)> {
    let mut last = BTreeMap::new();
    for (i, r) in scan.iter().enumerate() {
        last.insert(key(r, opts), i);
    }
    scan.iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let kept = *last.get(&key(r, opts))?;
            (kept != i).then_some((i, kept))
        })
        .collect()
}

/// Client profiles with a `compat` cell on any endpoint of the scan.
fn clients(scan: &BTreeMap<(Addr, u16), &HostReport>) -> BTreeSet<String> {
    scan.values()
        .flat_map(|r| r.compat.keys().cloned())
        .collect()
}

/// Compares two scans. See the module documentation and `docs/diff.md`.
pub fn diff(old: &[HostReport], new: &[HostReport], opts: &DiffOptions) -> ScanDiff {
    let old_map = index(old, opts);
    let new_map = index(new, opts);
    let old_clients = clients(&old_map);
    let new_clients = clients(&new_map);
    let shared: BTreeSet<String> = old_clients.intersection(&new_clients).cloned().collect();
    let clients_not_compared = old_clients
        .symmetric_difference(&new_clients)
        .cloned()
        .collect();
    let ctx = rules::Context {
        ignore: &opts.ignore,
        clients: &shared,
    };

    let mut out = ScanDiff {
        old_endpoints: old_map.len(),
        new_endpoints: new_map.len(),
        clients_not_compared,
        ..ScanDiff::default()
    };
    for (k, o) in &old_map {
        match new_map.get(k) {
            None => out.removed.push(EndpointRef::of(o)),
            Some(n) => {
                let changes = rules::compare(o, n, &ctx);
                if let Some(direction) = changes.iter().map(|c| c.direction).max() {
                    out.changed.push(EndpointChanges {
                        endpoint: n.endpoint(),
                        target: n.target.clone(),
                        ip: n.ip,
                        port: n.port,
                        old_status: o.status,
                        status: n.status,
                        direction,
                        changes,
                    });
                }
            }
        }
    }
    out.added = new_map
        .iter()
        .filter(|(k, _)| !old_map.contains_key(k))
        .map(|(_, n)| EndpointRef::of(n))
        .collect();
    out
}

/// What `--fail-on` can trip on (exit status 1 when reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum DiffFailOn {
    /// An endpoint with at least one regressed change.
    Regressed,
    /// An endpoint with any change, of any direction.
    Changed,
    /// An endpoint only in the new scan, where something answered (not closed or filtered).
    Added,
    /// An endpoint only in the old scan, where something answered (not closed or filtered).
    Removed,
}

impl DiffFailOn {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffFailOn::Regressed => "regressed",
            DiffFailOn::Changed => "changed",
            DiffFailOn::Added => "added",
            DiffFailOn::Removed => "removed",
        }
    }
}

/// How many examples [`reached`] gives per condition before counting the rest.
pub const MAX_REASONS: usize = 5;

/// Which `--fail-on` conditions the diff reaches, as human-readable reasons (escaped, one line
/// each): up to [`MAX_REASONS`] endpoints per condition, then `... and N more`. Empty when
/// none is reached. Conditions are reported in the order given, each once.
pub fn reached(diff: &ScanDiff, fail_on: &[DiffFailOn]) -> Vec<String> {
    let mut seen = Vec::new();
    let mut reasons = Vec::new();
    for &cond in fail_on {
        if seen.contains(&cond) {
            continue;
        }
        seen.push(cond);
        let hits: Vec<String> = match cond {
            DiffFailOn::Regressed | DiffFailOn::Changed => diff
                .changed
                .iter()
                .filter(|e| cond == DiffFailOn::Changed || e.direction == Direction::Regressed)
                .map(|e| {
                    let first = e
                        .changes
                        .iter()
                        .find(|c| c.direction == e.direction)
                        .map(|c| {
                            format!(
                                ": {}: {} → {}",
                                c.path,
                                write::value_text(&c.old),
                                write::value_text(&c.new)
                            )
                        })
                        .unwrap_or_default();
                    let more = e.changes.len().saturating_sub(1);
                    let more = if more > 0 {
                        format!(" (+{more} more)")
                    } else {
                        String::new()
                    };
                    format!("{}{first}{more}", e.endpoint)
                })
                .collect(),
            DiffFailOn::Added => diff
                .added
                .iter()
                .filter(|e| e.answered())
                .map(ref_reason)
                .collect(),
            DiffFailOn::Removed => diff
                .removed
                .iter()
                .filter(|e| e.answered())
                .map(ref_reason)
                .collect(),
        };
        let total = hits.len();
        for h in hits.into_iter().take(MAX_REASONS) {
            reasons.push(escape_controls(&format!("{}: {h}", cond.as_str())).into_owned());
        }
        if total > MAX_REASONS {
            reasons.push(format!(
                "{}: ... and {} more endpoints",
                cond.as_str(),
                total - MAX_REASONS
            ));
        }
    }
    reasons
}

fn ref_reason(e: &EndpointRef) -> String {
    format!("{} ({})", e.endpoint, e.status.as_str())
}

#[cfg(test)]
mod tests;
