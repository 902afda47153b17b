//! Scan metadata and the per-status counts written at the end of every output.

use serde::Serialize;

use super::HostReport;
use super::matrix::ClientSummary;
use super::schema::Status;
use crate::client::profile::ClientProfile;

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
}

impl Summary {
    pub fn add(&mut self, r: &HostReport) {
        self.endpoints += 1;
        match r.status {
            Status::Rdp => self.rdp += 1,
            Status::NotRdp => self.not_rdp += 1,
            Status::Closed => self.closed += 1,
            Status::Filtered => self.filtered += 1,
            Status::Error => self.error += 1,
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
