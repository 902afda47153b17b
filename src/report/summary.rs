//! Scan metadata and the per-status counts written at the end of every output.

use serde::Serialize;

use super::HostReport;
use super::matrix::{self, ClientSummary};
use super::schema::{Outcome, Status};
use crate::analysis::findings::Severity;
use crate::client::profile::ClientProfile;

/// How many examples of each outcome and finding severity a summary keeps.
pub const MAX_EXAMPLES: usize = 5;

/// One host that reached an outcome or a finding severity: what `--fail-on` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Example {
    /// `endpoint x client: cell`.
    Cell {
        endpoint: String,
        client: String,
        outcome: Outcome,
        cell: String,
    },
    /// `endpoint: finding id (severity)`.
    Finding {
        endpoint: String,
        id: String,
        severity: Severity,
    },
}

/// Counts by status, and what was not scanned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub endpoints: u64,
    pub rdp: u64,
    pub not_rdp: u64,
    pub closed: u64,
    pub filtered: u64,
    pub error: u64,
    /// True when the scan was interrupted (Ctrl-C, SIGTERM).
    pub interrupted: bool,
    /// Endpoints never started because of the interruption.
    pub skipped: u64,
    /// Endpoints not probed because `--resume` found them in an earlier run's JSONL.
    pub resumed: u64,
    /// Connection attempts that failed for local reasons (descriptors, ports) and were retried.
    pub local_errors: u64,
    /// Per client, in order: how many RDP hosts reached each outcome (the `scan.compat` of the
    /// JSON document).
    #[serde(skip)]
    pub compat: Vec<ClientSummary>,
    /// The highest finding severity seen on any endpoint.
    #[serde(skip)]
    pub max_severity: Option<Severity>,
    /// The first hosts that reached each outcome and finding severity (at most
    /// [`MAX_EXAMPLES`] of each).
    #[serde(skip)]
    pub examples: Vec<Example>,
}

impl Summary {
    /// An empty summary counting outcomes for `clients` (matrix columns, in order).
    pub fn new(clients: &[String]) -> Self {
        Self {
            compat: clients.iter().map(ClientSummary::new).collect(),
            ..Self::default()
        }
    }

    /// Counts one endpoint: its status, and, for an RDP server, each client's outcome (a closed
    /// or non-RDP endpoint says nothing about a client, and would drown the counts on a sparse
    /// range; a client without a cell counts as unknown).
    pub fn add(&mut self, r: &HostReport) {
        self.endpoints += 1;
        match r.status {
            Status::Rdp => self.rdp += 1,
            Status::NotRdp => self.not_rdp += 1,
            Status::Closed => self.closed += 1,
            Status::Filtered => self.filtered += 1,
            Status::Error => self.error += 1,
        }
        for (i, f) in r.findings.iter().enumerate() {
            self.max_severity = self.max_severity.max(Some(f.severity));
            let first_of_its_severity = !r
                .findings
                .iter()
                .take(i)
                .any(|earlier| earlier.severity == f.severity);
            if !first_of_its_severity {
                continue;
            }
            let seen = self
                .examples
                .iter()
                .filter(
                    |e| matches!(e, Example::Finding { severity, .. } if *severity == f.severity),
                )
                .count();
            if seen < MAX_EXAMPLES {
                self.examples.push(Example::Finding {
                    endpoint: r.endpoint(),
                    id: f.id.clone(),
                    severity: f.severity,
                });
            }
        }
        if r.status != Status::Rdp {
            return;
        }
        for s in &mut self.compat {
            let cell = r.compat.get(&s.client);
            let outcome = cell.map_or(Outcome::Unknown, |c| c.outcome);
            s.add(outcome);
            let seen = self
                .examples
                .iter()
                .filter(|e| matches!(e, Example::Cell { outcome: o, .. } if *o == outcome))
                .count();
            if outcome != Outcome::Ok && seen < MAX_EXAMPLES {
                self.examples.push(Example::Cell {
                    endpoint: r.endpoint(),
                    client: s.client.clone(),
                    outcome,
                    cell: matrix::cell_text(cell),
                });
            }
        }
    }

    /// `12 endpoints: 3 rdp, 0 not_rdp, 8 closed, 1 filtered, 0 error`.
    pub fn count_line(&self) -> String {
        let mut line = format!(
            "{} endpoints: {} rdp, {} not_rdp, {} closed, {} filtered, {} error",
            self.endpoints, self.rdp, self.not_rdp, self.closed, self.filtered, self.error
        );
        if self.interrupted {
            line.push_str(&format!("; interrupted, {} not scanned", self.skipped));
        }
        if self.resumed > 0 {
            line.push_str(&format!(
                "; {} already done in an earlier run (--resume)",
                self.resumed
            ));
        }
        if self.local_errors > 0 {
            line.push_str(&format!(
                "; {} local connection errors retried",
                self.local_errors
            ));
        }
        line
    }
}

/// The `scan` object of the JSON document.
#[derive(Debug, Clone, Serialize)]
pub struct ScanMeta {
    pub tool: &'static str,
    pub version: &'static str,
    /// RFC 3339.
    pub started: String,
    pub finished: Option<String>,
    pub targets: Vec<String>,
    pub ports: Vec<u16>,
    pub summary: Option<Summary>,
    /// The client profiles evaluated (`docs/compat.md`); omitted when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientProfile>,
    /// Per client: how many hosts reached each outcome; omitted when no client.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compat: Vec<ClientSummary>,
}
