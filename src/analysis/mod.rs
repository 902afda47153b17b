//! Pure analysis: observations in, verdicts and findings out. No I/O, no clock (`now` is
//! passed in), no protocol bytes (the probe decoded them).

pub mod cert;
pub mod credssp;
pub mod findings;
pub mod os;
pub mod security;
pub mod tls;

use crate::probe::negotiate::NegotiationResult;
use crate::probe::{Observation, StageError};
use crate::report::schema::{ErrorInfo, HostReport, Stage, Status};

/// Options of the analysis that come from the command line.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// `cert-expiring-soon` threshold.
    pub cert_expiry_warn_days: i64,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            cert_expiry_warn_days: 30,
        }
    }
}

/// Turns one endpoint's observation into its report. `now_unix` is the scanner's clock
/// (seconds since 1970) at analysis time.
pub fn analyse(
    mut report: HostReport,
    obs: &Observation,
    now_unix: i64,
    opts: &AnalysisOptions,
) -> HostReport {
    report.connections = obs.connections;
    report.elapsed_ms = u64::try_from(obs.elapsed.as_millis()).unwrap_or(u64::MAX);

    if let Some(e) = &obs.connect_error {
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

    match obs.negotiations.first().map(|n| &n.result) {
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

    let (security, findings) = security::security(&obs.negotiations);
    report.security = security;
    report.findings.extend(findings);

    if let Some(evidence) = &obs.tls {
        let now = time::OffsetDateTime::from_unix_timestamp(now_unix)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let cert_opts = cert::CertOptions {
            expiry_warn_days: opts.cert_expiry_warn_days,
        };
        let (tls, findings) = tls::tls_report(
            evidence,
            obs.server_name.as_deref(),
            report.ip,
            now,
            &cert_opts,
        );
        report.tls = Some(tls);
        report.findings.extend(findings);
    }

    if let Some(stage) = credssp_stage(obs) {
        let now = time::OffsetDateTime::from_unix_timestamp(now_unix)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let a = credssp::analyse_credssp(stage, &obs.credssp_emulated, now);
        report.credssp = Some(a.credssp);
        report.findings.extend(a.findings);
        // The certificate checked against the host's own (NTLM) DNS name too.
        if let (Some(ntlm), Some(leaf)) = (
            &a.ntlm,
            obs.tls
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

/// What the probe did at the CredSSP stage; `None` when it says nothing (stage not part of
/// this probe), so the report has no `credssp` section.
fn credssp_stage(obs: &Observation) -> Option<credssp::CredsspStage<'_>> {
    match (&obs.credssp, &obs.credssp_skipped) {
        (Some(result), _) => Some(credssp::CredsspStage::Ran(result)),
        (None, Some(why)) => Some(credssp::CredsspStage::NotRun(why)),
        (None, None) if !obs.credssp_emulated.is_empty() => Some(credssp::CredsspStage::NotRun(
            "the main probe did not reach CredSSP",
        )),
        (None, None) => None,
    }
}
