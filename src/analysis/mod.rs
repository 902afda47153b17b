//! Pure analysis: observations in, verdicts and findings out. No I/O, no clock (`now` is
//! passed in), no protocol bytes (the probe decoded them).

pub mod cert;
pub mod credssp;
pub mod findings;
pub mod os;
pub mod rdp_security;
pub mod security;
pub mod server;
pub mod tls;
pub mod trust;

use crate::observe::tls::TlsEvidence;
use crate::observe::{NegotiationResult, Observation, StageError};
use crate::report::schema::{ErrorInfo, HostReport, Implementation, Stage, Status};

/// Options of the analysis that come from the command line.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// `cert-expiring-soon` threshold.
    pub cert_expiry_warn_days: i64,
    /// The stores certificate chains are judged against (loaded once per scan).
    pub trust: trust::TrustStores,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            cert_expiry_warn_days: 30,
            trust: trust::TrustStores::default(),
        }
    }
}

/// The clocks one endpoint's verdicts use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// The scan's `now` (seconds since 1970): one instant for every verdict of the scan
    /// (certificate validity, trust, end of support).
    pub now_unix: i64,
    /// When this endpoint's probe started (milliseconds since 1970, read by the scheduler):
    /// with the driver's monotonic offsets, when each reply arrived (the clock-skew verdict
    /// compares the server's NTLM timestamp with the moment its CHALLENGE arrived).
    pub probe_started_ms: Option<i64>,
}

impl Clock {
    /// The scan's `now` alone (replies are then taken to arrive at `now`).
    pub fn at(now_unix: i64) -> Self {
        Self {
            now_unix,
            probe_started_ms: None,
        }
    }
}

/// Turns one endpoint's observation into its report.
pub fn analyse(
    mut report: HostReport,
    obs: &Observation,
    clock: &Clock,
    opts: &AnalysisOptions,
) -> HostReport {
    report.connections = obs.connection_count();
    report.elapsed_ms = u64::try_from(obs.elapsed.as_millis()).unwrap_or(u64::MAX);

    if let Some(e) = obs.connect_error() {
        report.status = match e {
            StageError::Refused => Status::Closed,
            StageError::Timeout(_) => Status::Filtered,
            _ => Status::Error,
        };
        if report.status == Status::Error {
            report.error = Some(ErrorInfo {
                stage: Stage::Connect,
                message: e.to_string(),
            });
        }
        return report;
    }

    let negotiations = obs.negotiations();
    match negotiations.first().map(|n| &n.result) {
        Some(NegotiationResult::Confirm(_)) => report.status = Status::Rdp,
        Some(NegotiationResult::NotRdp { detail }) => {
            report.status = Status::NotRdp;
            report.error = Some(ErrorInfo {
                stage: Stage::Negotiate,
                message: format!("not an X.224 Connection Confirm: {detail}"),
            });
            return report;
        }
        Some(NegotiationResult::Failed(e)) => {
            report.status = Status::Error;
            report.error = Some(ErrorInfo {
                stage: Stage::Negotiate,
                message: format!("no Connection Confirm: {e}"),
            });
            return report;
        }
        None => {
            report.status = Status::Error;
            report.error = Some(ErrorInfo {
                stage: Stage::Connect,
                message: "no connection was made".into(),
            });
            return report;
        }
    }

    let now = time::OffsetDateTime::from_unix_timestamp(clock.now_unix)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);

    // CredSSP and the host's identity first: which implementation answered decides what the
    // NTLM version means, and the host's own name is the name clients check on a host found
    // by address.
    let leg = obs.credssp();
    let credssp = (leg != crate::observe::CredsspLeg::NotProbed)
        .then(|| credssp::analyse_credssp(&leg, &obs.emulated_credssp(), now, clock));
    let facts = credssp.as_ref().map(|a| a.facts).unwrap_or_default();
    let server = server::server_report(&obs.connections, facts);

    let (security, findings) = security::security(&negotiations);
    report.security = security;
    report.findings.extend(findings);

    let evidence = TlsEvidence::from_log(&obs.connections);
    if let Some(evidence) = &evidence {
        let cert_opts = cert::CertOptions {
            expiry_warn_days: opts.cert_expiry_warn_days,
        };
        let trust = evidence
            .chain()
            .map(|chain| opts.trust.judge_chain(chain, unix_time(clock.now_unix)))
            .unwrap_or_default();
        let ntlm_dns = credssp
            .as_ref()
            .and_then(|a| a.ntlm.as_ref())
            .and_then(|n| n.dns_computer.as_deref());
        let (tls, findings) = tls::tls_report(
            evidence,
            &trust,
            obs.server_name.as_deref(),
            ntlm_dns,
            report.ip,
            now,
            &cert_opts,
        );
        report.tls = Some(tls);
        report.findings.extend(findings);
    }

    report.rdp_security = rdp_security::rdp_security_report(&obs.connections, now);
    if let Some(rdp) = &report.rdp_security {
        rdp_security::name_the_level(&mut report.findings, rdp);
        report.findings.extend(rdp_security::findings(rdp));
    }

    if let Some(mut a) = credssp {
        // OS names, builds and end of support are Windows facts: another implementation's
        // NTLM VERSION says nothing about an OS (WinPR answers 6.1.7601 on Linux).
        if server.implementation != Implementation::Windows {
            a.without_windows_os(server.implementation);
        }
        report.credssp = Some(a.credssp);
        report.findings.extend(a.findings);
        report.ntlm = a.ntlm;
    }
    report.server = Some(server);
    report
}

/// `now_unix` as the time type webpki takes (the epoch for times before it).
fn unix_time(now_unix: i64) -> rustls::pki_types::UnixTime {
    let secs = u64::try_from(now_unix).unwrap_or(0);
    rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
}
