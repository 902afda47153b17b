//! Pure analysis: observations in, verdicts and findings out. No I/O, no clock (`now` is
//! passed in), no protocol bytes (the probe decoded them).

pub mod cert;
pub mod credssp;
pub mod findings;
pub mod os;
pub mod security;
pub mod tls;
pub mod trust;

use crate::observe::tls::TlsEvidence;
use crate::observe::{NegotiationResult, Observation, StageError};
use crate::report::schema::{ErrorInfo, HostReport, Stage, Status};

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

/// Turns one endpoint's observation into its report. `now_unix` is the scan's clock (seconds
/// since 1970): one instant for every verdict of the scan.
pub fn analyse(
    mut report: HostReport,
    obs: &Observation,
    now_unix: i64,
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

    let (security, findings) = security::security(&negotiations);
    report.security = security;
    report.findings.extend(findings);

    let now = time::OffsetDateTime::from_unix_timestamp(now_unix)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let evidence = TlsEvidence::from_log(&obs.connections);
    if let Some(evidence) = &evidence {
        let cert_opts = cert::CertOptions {
            expiry_warn_days: opts.cert_expiry_warn_days,
        };
        let trust = evidence
            .chain()
            .map(|chain| opts.trust.judge_chain(chain, unix_time(now_unix)))
            .unwrap_or_default();
        let (tls, findings) = tls::tls_report(
            evidence,
            &trust,
            obs.server_name.as_deref(),
            report.ip,
            now,
            &cert_opts,
        );
        report.tls = Some(tls);
        report.findings.extend(findings);
    }

    let leg = obs.credssp();
    if leg != crate::observe::CredsspLeg::NotProbed {
        let a = credssp::analyse_credssp(&leg, &obs.emulated_credssp(), now);
        report.credssp = Some(a.credssp);
        report.findings.extend(a.findings);
        // The certificate checked against the host's own (NTLM) DNS name too.
        if let (Some(ntlm), Some(leaf)) = (
            &a.ntlm,
            evidence
                .as_ref()
                .and_then(|t| t.chain())
                .and_then(|c| c.first()),
        ) && let Some(f) =
            credssp::ntlm_name_finding(ntlm, leaf, obs.server_name.as_deref(), now)
        {
            report.findings.push(f);
        }
        report.ntlm = a.ntlm;
    }
    report
}

/// `now_unix` as the time type webpki takes (the epoch for times before it).
fn unix_time(now_unix: i64) -> rustls::pki_types::UnixTime {
    let secs = u64::try_from(now_unix).unwrap_or(0);
    rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
}
