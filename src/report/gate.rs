//! `--fail-on`: whether a finished scan reached a level an operator gates on, decided from the
//! summary alone (pure), so the exit status and the outputs can never disagree.

use clap::ValueEnum;

use super::schema::Outcome;
use super::summary::{Example, Summary};
use crate::analysis::findings::Severity;

/// A `--fail-on` level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Warn,
    Exposed,
    Depends,
    Blocked,
    Unknown,
    Info,
    Low,
    Medium,
    High,
}

impl FailOn {
    /// Whether a matrix cell with `outcome` reaches this level (warn < exposed < depends <
    /// blocked; `unknown` on its own). The summary counts cells of RDP servers only, so an
    /// endpoint that is not an RDP server never reaches `unknown`.
    pub fn cell_reaches(self, outcome: Outcome) -> bool {
        let rank = |o: Outcome| match o {
            Outcome::Ok | Outcome::Unknown => 0,
            Outcome::Warn => 1,
            Outcome::Exposed => 2,
            Outcome::Depends => 3,
            Outcome::Blocked => 4,
        };
        match self {
            FailOn::Warn => rank(outcome) >= 1,
            FailOn::Exposed => rank(outcome) >= 2,
            FailOn::Depends => rank(outcome) >= 3,
            FailOn::Blocked => rank(outcome) >= 4,
            FailOn::Unknown => outcome == Outcome::Unknown,
            _ => false,
        }
    }

    /// The finding severity this level gates on, if it is one.
    pub fn severity(self) -> Option<Severity> {
        match self {
            FailOn::Info => Some(Severity::Info),
            FailOn::Low => Some(Severity::Low),
            FailOn::Medium => Some(Severity::Medium),
            FailOn::High => Some(Severity::High),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FailOn::Warn => "warn",
            FailOn::Exposed => "exposed",
            FailOn::Depends => "depends",
            FailOn::Blocked => "blocked",
            FailOn::Unknown => "unknown",
            FailOn::Info => "info",
            FailOn::Low => "low",
            FailOn::Medium => "medium",
            FailOn::High => "high",
        }
    }
}

/// How many reasons [`reached`] gives at most.
pub const MAX_REASONS: usize = 5;

/// Why `levels` were reached (empty when none was): one line per example host, at most
/// [`MAX_REASONS`].
pub fn reached(levels: &[FailOn], summary: &Summary) -> Vec<String> {
    let mut out = Vec::new();
    for level in levels {
        for e in &summary.examples {
            let line = match (e, level.severity()) {
                (
                    Example::Finding {
                        endpoint,
                        id,
                        severity,
                    },
                    Some(min),
                ) if *severity >= min => {
                    format!(
                        "{endpoint}: finding {id} ({}) reaches --fail-on {}",
                        severity.as_str(),
                        level.name()
                    )
                }
                (
                    Example::Cell {
                        endpoint,
                        client,
                        outcome,
                        cell,
                    },
                    None,
                ) if level.cell_reaches(*outcome) => {
                    format!(
                        "{endpoint} x {client}: {cell} reaches --fail-on {}",
                        level.name()
                    )
                }
                _ => continue,
            };
            if !out.contains(&line) {
                out.push(line);
            }
            if out.len() >= MAX_REASONS {
                return out;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::findings::Finding;
    use crate::report::HostReport;
    use crate::report::schema::{CompatCell, Status};

    #[test]
    fn fail_on_levels() {
        use Outcome::*;
        assert!(FailOn::Blocked.cell_reaches(Blocked));
        assert!(!FailOn::Blocked.cell_reaches(Depends));
        assert!(FailOn::Depends.cell_reaches(Blocked));
        assert!(FailOn::Exposed.cell_reaches(Depends));
        assert!(!FailOn::Exposed.cell_reaches(Warn));
        assert!(FailOn::Warn.cell_reaches(Exposed));
        assert!(!FailOn::Warn.cell_reaches(Unknown));
        assert!(FailOn::Unknown.cell_reaches(Unknown));
        assert!(!FailOn::High.cell_reaches(Blocked));
    }

    #[test]
    fn reasons_come_from_the_summary() {
        let clients = vec!["a".to_owned(), "b".to_owned()];
        let mut summary = Summary::new(&clients);
        let mut rdp = HostReport::new("h".into(), Some("192.0.2.1".parse().unwrap()), 3389);
        rdp.status = Status::Rdp;
        rdp.findings.push(Finding::new("x", Severity::Medium, "m"));
        rdp.findings.push(Finding::new("y", Severity::Medium, "m"));
        let cell = |outcome, reason: &str| CompatCell {
            outcome,
            reason: Some(reason.into()),
            remediation: None,
        };
        rdp.compat
            .insert("a".into(), cell(Outcome::Blocked, "credssp-oracle"));
        rdp.compat
            .insert("b".into(), cell(Outcome::Unknown, "tls-not-observed"));
        summary.add(&rdp);
        // A closed endpoint: no cell counts, not even unknown:not-rdp.
        let mut closed = HostReport::new("c".into(), Some("192.0.2.2".parse().unwrap()), 3389);
        closed.status = Status::Closed;
        closed
            .compat
            .insert("a".into(), cell(Outcome::Unknown, "not-rdp"));
        summary.add(&closed);

        assert_eq!(summary.compat[0].blocked, 1);
        assert_eq!(summary.compat[1].unknown, 1);
        assert_eq!(
            reached(&[FailOn::Blocked], &summary),
            ["192.0.2.1:3389 x a: blocked:credssp-oracle reaches --fail-on blocked"]
        );
        assert_eq!(
            reached(&[FailOn::Unknown], &summary),
            ["192.0.2.1:3389 x b: unknown:tls-not-observed reaches --fail-on unknown"]
        );
        assert_eq!(
            reached(&[FailOn::Low], &summary),
            ["192.0.2.1:3389: finding x (medium) reaches --fail-on low"],
            "one reason per host and severity"
        );
        assert!(reached(&[FailOn::High, FailOn::Warn], &summary).len() == 1);
        assert!(reached(&[], &summary).is_empty());
    }
}
