//! CredSSP verdict and NTLM host identity (pure): observations from
//! `crate::probe::credssp::first_leg` in, [`CredsspReport`], [`NtlmReport`] and findings out.
//!
//! The CVE-2018-0886 verdict follows MS-CSSP 2.2.1: TSRequest versions 5 and 6 carry the fix
//! (`clientNonce` and the SHA-256 binding hash), versions 2, 3 and 4 predate it. A server answers
//! with its own version (Windows, FreeRDP and sspi do), so the version in its first reply is the
//! server's patch level, whatever version the client advertised.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::analysis::findings::{Finding, Severity, ids};
use crate::analysis::os;
pub use crate::observe::CredsspLeg;
use crate::observe::credssp::{CredsspObservation, EmulatedAttempt};
use crate::proto::ntlm::{AvId, ChallengeMessage};
use crate::report::schema::{CredsspReport, EmulatedCredssp, NtlmReport, OracleFix};

/// Clock skew beyond which Kerberos fails (its default tolerance is 5 minutes).
pub const CLOCK_SKEW_LIMIT_S: i64 = 300;

/// The first build that ships with the CredSSP fix in its release media (Windows 10 1803).
const FIRST_BUILD_WITH_FIX: u16 = 17134;

/// The CredSSP and NTLM sections of a host report, and their findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredsspAnalysis {
    pub credssp: CredsspReport,
    /// Present when a CHALLENGE came back (or failed to parse: then only `note` is set).
    pub ntlm: Option<NtlmReport>,
    pub findings: Vec<Finding>,
}

/// Builds the CredSSP verdict, the NTLM identity and their findings. `now` is the scanner's
/// clock, for the clock skew and end-of-support checks.
pub fn analyse_credssp(
    stage: &CredsspLeg<'_>,
    emulated: &[EmulatedAttempt],
    now: OffsetDateTime,
) -> CredsspAnalysis {
    let mut credssp = CredsspReport {
        emulated: emulated.iter().map(emulated_entry).collect(),
        ..CredsspReport::default()
    };
    let mut notes: Vec<String> = Vec::new();

    // The observation the verdict rests on: the main probe, else the first emulated probe that
    // got an answer (the server sends its own version whatever the client advertised).
    let main = match stage {
        CredsspLeg::NotProbed => {
            notes.push("CredSSP not probed".to_owned());
            None
        }
        CredsspLeg::NotReached(why) => {
            notes.push(format!("CredSSP not probed: {why}"));
            None
        }
        CredsspLeg::Ran(Err(failure)) => {
            notes.push(format!("CredSSP first leg failed: {failure}"));
            None
        }
        CredsspLeg::Ran(Ok(obs)) => Some(obs),
    };
    let source = main.or_else(|| {
        let fallback = emulated.iter().find_map(|a| a.outcome.as_ref().ok())?;
        notes.push(format!(
            "version taken from the probe advertising client version {}",
            fallback.client_version
        ));
        Some(fallback)
    });

    let mut findings = Vec::new();
    let mut ntlm = None;
    match source {
        None => credssp.cve_2018_0886 = OracleFix::Unknown,
        Some(obs) => {
            let version = obs.server.version;
            credssp.version = Some(version);
            if let Some(code) = obs.server.error_code {
                credssp.error_code = Some(code.to_string());
                credssp.error_name = code.name().map(str::to_owned);
                notes.push(format!(
                    "the server answered the NTLM NEGOTIATE with errorCode {code}{}",
                    code.name().map(|n| format!(" ({n})")).unwrap_or_default()
                ));
            }
            credssp.cve_2018_0886 = match version {
                2..=4 => OracleFix::Missing,
                5 | 6 => OracleFix::Fixed,
                7.. => {
                    notes.push(format!(
                        "version {version} is newer than the latest MS-CSSP version (6); every version from 5 on carries the fix"
                    ));
                    OracleFix::Fixed
                }
                0 | 1 => {
                    notes.push(format!(
                        "version {version} is not a CredSSP version defined by MS-CSSP"
                    ));
                    OracleFix::Unknown
                }
            };
            if credssp.cve_2018_0886 == OracleFix::Missing {
                findings.push(Finding::new(
                    ids::CREDSSP_ORACLE_UNPATCHED,
                    Severity::High,
                    format!(
                        "CredSSP version {version}: the server lacks the CVE-2018-0886 fix (versions 5 and 6 carry it); \
                         patched clients set to Force Updated Clients or Mitigated (the default since May 2018) are \
                         refused with the \"CredSSP encryption oracle remediation\" error"
                    ),
                ));
            }
            let (report, ntlm_findings) = ntlm_report(obs, now);
            if let (Some(build), OracleFix::Missing) = (report.os_build, credssp.cve_2018_0886)
                && build >= u32::from(FIRST_BUILD_WITH_FIX)
            {
                notes.push(format!(
                    "NTLM reports build {build}, which ships with the fix, yet the server answered version {version}: \
                     not a plain Windows CredSSP stack?"
                ));
            }
            findings.extend(ntlm_findings);
            ntlm = Some(report);
        }
    }
    if !notes.is_empty() {
        credssp.note = Some(notes.join("; "));
    }
    CredsspAnalysis {
        credssp,
        ntlm,
        findings,
    }
}

/// `cert-name-mismatch` when the server's certificate (`leaf_der`) is not valid for the DNS
/// computer name NTLM reported (issue 4: correlate identity). Nothing when NTLM gave no DNS
/// name, when it equals the scanned host name (the TLS analysis already checked that one), or
/// when the certificate cannot be parsed (the TLS section says why).
pub fn ntlm_name_finding(
    ntlm: &NtlmReport,
    leaf_der: &[u8],
    scanned_name: Option<&str>,
    now: OffsetDateTime,
) -> Option<Finding> {
    let dns = ntlm.dns_computer.as_deref()?;
    let same = |a: &str, b: &str| {
        a.trim_end_matches('.')
            .eq_ignore_ascii_case(b.trim_end_matches('.'))
    };
    if scanned_name.is_some_and(|s| same(s, dns)) {
        return None;
    }
    let leaf = crate::analysis::cert::parse_certificate(leaf_der, now).ok()?;
    crate::analysis::tls::name_mismatch_finding(&leaf, dns, "NTLM DNS computer name")
}

fn emulated_entry(attempt: &EmulatedAttempt) -> EmulatedCredssp {
    match &attempt.outcome {
        Ok(obs) => EmulatedCredssp {
            client_version: attempt.client_version,
            server_version: Some(obs.server.version),
            error_code: obs.server.error_code.map(|c| c.to_string()),
            note: match (&obs.challenge, obs.server.error_code.and_then(|c| c.name())) {
                (_, Some(name)) => Some(name.to_owned()),
                (None, None) => Some("no negoToken in the reply".to_owned()),
                (Some(Err(e)), None) => Some(format!("NTLM CHALLENGE unreadable: {e}")),
                (Some(Ok(_)), None) => None,
            },
        },
        Err(failure) => EmulatedCredssp {
            client_version: attempt.client_version,
            server_version: None,
            error_code: None,
            note: Some(failure.to_string()),
        },
    }
}

/// The NTLM section from the CHALLENGE in `obs` (a report with only `note` when there is none).
fn ntlm_report(obs: &CredsspObservation, now: OffsetDateTime) -> (NtlmReport, Vec<Finding>) {
    let mut report = NtlmReport::default();
    let mut notes: Vec<String> = obs.token_note.iter().cloned().collect();
    let mut findings = Vec::new();
    let challenge: &ChallengeMessage = match &obs.challenge {
        None => {
            report.note =
                Some("the server's TSRequest carried no negoToken (no NTLM CHALLENGE)".to_owned());
            return (report, findings);
        }
        Some(Err(e)) => {
            notes.push(format!("NTLM CHALLENGE could not be parsed: {e}"));
            report.note = Some(notes.join("; "));
            return (report, findings);
        }
        Some(Ok(c)) => c,
    };
    notes.extend(challenge.warnings.iter().cloned());

    report.target_name.clone_from(&challenge.target_name);
    report.negotiate_flags = Some(challenge.flags.to_string());
    if let Some(info) = &challenge.target_info {
        // An empty name (sspi's server sends them) is reported as absent.
        let name = |id| info.string(id).filter(|s| !s.is_empty());
        report.nb_computer = name(AvId::NB_COMPUTER_NAME);
        report.nb_domain = name(AvId::NB_DOMAIN_NAME);
        report.dns_computer = name(AvId::DNS_COMPUTER_NAME);
        report.dns_domain = name(AvId::DNS_DOMAIN_NAME);
        report.dns_tree = name(AvId::DNS_TREE_NAME);
        if let Some(ts) = info.timestamp() {
            let unix = ts.to_unix_seconds();
            match OffsetDateTime::from_unix_timestamp(unix)
                .ok()
                .and_then(|t| t.format(&Rfc3339).ok())
            {
                Some(text) => {
                    report.server_time = Some(text);
                    let skew = unix.saturating_sub(now.unix_timestamp());
                    report.clock_skew_s = Some(skew);
                    if skew.unsigned_abs() > CLOCK_SKEW_LIMIT_S.unsigned_abs() {
                        let direction = if skew > 0 { "ahead of" } else { "behind" };
                        findings.push(Finding::new(
                            ids::CLOCK_SKEW,
                            Severity::Low,
                            format!(
                                "server clock is {} s {direction} the scanner's (over {CLOCK_SKEW_LIMIT_S} s: Kerberos \
                                 authentication fails, clients fall back to NTLM or are refused)",
                                skew.unsigned_abs()
                            ),
                        ));
                    }
                }
                None => notes.push(format!(
                    "MsvAvTimestamp {} is not a representable date",
                    ts.0
                )),
            }
        }
    }
    if let Some(v) = challenge.version {
        report.os_version = Some(v.to_string());
        report.os_build = Some(u32::from(v.build));
        report.os_name = Some(os::release_name(v.major, v.minor, v.build));
        if let Some(release) = os::lookup(v.major, v.minor, v.build)
            && os::out_of_support(v.major, v.minor, v.build, now.date()) == Some(true)
        {
            let (y, m, d) = release.end_of_support;
            findings.push(Finding::new(
                ids::OS_END_OF_SUPPORT,
                Severity::High,
                format!(
                    "Windows {v} ({}) has been out of support since {y:04}-{m:02}-{d:02} (latest date among the editions \
                     sharing this build: {})",
                    release.name, release.end_of_support_edition
                ),
            ));
        }
    } else {
        notes.push("the CHALLENGE carries no VERSION (NEGOTIATE_VERSION not set)".to_owned());
    }
    if !notes.is_empty() {
        report.note = Some(notes.join("; "));
    }
    (report, findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::credssp::CredsspFailure;
    use crate::proto::ntlm::NegotiateFlags;
    use crate::proto::tsrequest::{NtStatus, TsRequest};
    use crate::test_fixtures::hex;
    use time::macros::datetime;

    fn server_2019(client_version: u32) -> CredsspObservation {
        let bytes = hex(include_str!(
            "../../fixtures/windows-server-2019-tsrequest-challenge.hex"
        ));
        let server = TsRequest::decode(&bytes).expect("decode");
        CredsspObservation::new(
            client_version,
            server,
            bytes.len(),
            std::time::Duration::ZERO,
        )
    }

    fn with_version(version: u32) -> CredsspObservation {
        let mut obs = server_2019(6);
        obs.server.version = version;
        obs
    }

    const CAPTURE_TIME: OffsetDateTime = datetime!(2021-02-15 08:02:38 UTC);

    fn ids_of(a: &CredsspAnalysis) -> Vec<&str> {
        a.findings.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn windows_server_2019_capture() {
        let obs = Ok(server_2019(6));
        let a = analyse_credssp(
            &CredsspLeg::Ran(&obs),
            &[],
            CAPTURE_TIME + time::Duration::seconds(10),
        );
        assert_eq!(a.credssp.version, Some(6));
        assert_eq!(a.credssp.cve_2018_0886, OracleFix::Fixed);
        assert_eq!(a.credssp.note, None);
        assert_eq!(a.credssp.error_code, None);
        let n = a.ntlm.expect("ntlm");
        assert_eq!(n.target_name.as_deref(), Some("fv-az41-637"));
        assert_eq!(n.nb_computer.as_deref(), Some("fv-az41-637"));
        assert_eq!(n.nb_domain.as_deref(), Some("fv-az41-637"));
        assert_eq!(n.dns_computer.as_deref(), Some("fv-az41-637"));
        assert_eq!(n.dns_domain.as_deref(), Some("fv-az41-637"));
        assert_eq!(n.dns_tree, None);
        assert_eq!(n.os_version.as_deref(), Some("10.0.17763"));
        assert_eq!(n.os_build, Some(17763));
        assert_eq!(n.os_name.as_deref(), Some("Windows 10 1809 / Server 2019"));
        assert_eq!(n.server_time.as_deref(), Some("2021-02-15T08:02:38Z"));
        assert_eq!(n.clock_skew_s, Some(-10));
        assert_eq!(n.negotiate_flags.as_deref(), Some("0xE28A8235"));
        assert_eq!(n.note, None);
        assert!(a.findings.is_empty(), "{:?}", a.findings);
    }

    #[test]
    fn verdict_by_version() {
        for (version, fix) in [
            (0, OracleFix::Unknown),
            (1, OracleFix::Unknown),
            (2, OracleFix::Missing),
            (3, OracleFix::Missing),
            (4, OracleFix::Missing),
            (5, OracleFix::Fixed),
            (6, OracleFix::Fixed),
            (7, OracleFix::Fixed),
        ] {
            let obs = Ok(with_version(version));
            let a = analyse_credssp(&CredsspLeg::Ran(&obs), &[], CAPTURE_TIME);
            assert_eq!(a.credssp.cve_2018_0886, fix, "version {version}");
            assert_eq!(
                ids_of(&a).contains(&ids::CREDSSP_ORACLE_UNPATCHED),
                fix == OracleFix::Missing
            );
            if matches!(version, 0 | 1 | 7) {
                assert!(a.credssp.note.is_some(), "version {version} needs a note");
            }
        }
        // Build 17763 ships the fix: an old version from it is called out.
        let obs = Ok(with_version(3));
        let a = analyse_credssp(&CredsspLeg::Ran(&obs), &[], CAPTURE_TIME);
        assert!(
            a.credssp
                .note
                .expect("note")
                .contains("build 17763, which ships with the fix")
        );
        let f = &a.findings[0];
        assert_eq!(f.severity, Severity::High);
    }

    #[test]
    fn unknown_with_reasons() {
        let a = analyse_credssp(
            &CredsspLeg::NotReached("the server did not select CredSSP".to_owned()),
            &[],
            CAPTURE_TIME,
        );
        assert_eq!(a.credssp.cve_2018_0886, OracleFix::Unknown);
        assert_eq!(
            a.credssp.note.as_deref(),
            Some("CredSSP not probed: the server did not select CredSSP")
        );
        assert_eq!(a.ntlm, None);

        let failed = Err(CredsspFailure::Reset {
            phase: "waiting for the server's TSRequest",
        });
        let a = analyse_credssp(&CredsspLeg::Ran(&failed), &[], CAPTURE_TIME);
        assert_eq!(a.credssp.cve_2018_0886, OracleFix::Unknown);
        assert_eq!(
            a.credssp.note.as_deref(),
            Some(
                "CredSSP first leg failed: connection reset by the server while waiting for the server's TSRequest"
            )
        );
        assert!(a.findings.is_empty());
    }

    #[test]
    fn error_code_and_missing_token() {
        let mut obs = with_version(3);
        obs.server.nego_tokens.clear();
        obs.server.error_code = Some(NtStatus(0xC000_006D));
        obs.challenge = None;
        let obs = Ok(obs);
        let a = analyse_credssp(&CredsspLeg::Ran(&obs), &[], CAPTURE_TIME);
        assert_eq!(a.credssp.error_code.as_deref(), Some("0xC000006D"));
        assert_eq!(
            a.credssp.error_name.as_deref(),
            Some("STATUS_LOGON_FAILURE")
        );
        assert_eq!(a.credssp.cve_2018_0886, OracleFix::Missing);
        let n = a.ntlm.expect("ntlm");
        assert!(n.note.expect("note").contains("no negoToken"));
        assert_eq!(n.nb_computer, None);

        let mut obs = server_2019(6);
        obs.challenge = Some(Err("not an NTLM message".to_owned()));
        let obs = Ok(obs);
        let a = analyse_credssp(&CredsspLeg::Ran(&obs), &[], CAPTURE_TIME);
        assert_eq!(a.credssp.cve_2018_0886, OracleFix::Fixed);
        assert!(
            a.ntlm
                .expect("ntlm")
                .note
                .expect("note")
                .contains("could not be parsed")
        );
    }

    #[test]
    fn clock_skew_threshold() {
        let obs = Ok(server_2019(6));
        for (offset, flagged) in [
            (300, false),
            (-300, false),
            (301, true),
            (-301, true),
            (86_400, true),
        ] {
            let now = CAPTURE_TIME - time::Duration::seconds(offset);
            let a = analyse_credssp(&CredsspLeg::Ran(&obs), &[], now);
            assert_eq!(a.ntlm.as_ref().and_then(|n| n.clock_skew_s), Some(offset));
            assert_eq!(
                ids_of(&a).contains(&ids::CLOCK_SKEW),
                flagged,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn end_of_support_uses_now() {
        let obs = Ok(server_2019(6));
        let a = analyse_credssp(&CredsspLeg::Ran(&obs), &[], datetime!(2029-01-10 00:00 UTC));
        let f = a
            .findings
            .iter()
            .find(|f| f.id == ids::OS_END_OF_SUPPORT)
            .expect("eos");
        assert!(f.message.contains("since 2029-01-09"), "{}", f.message);
        let a = analyse_credssp(&CredsspLeg::Ran(&obs), &[], datetime!(2029-01-09 12:00 UTC));
        assert!(!ids_of(&a).contains(&ids::OS_END_OF_SUPPORT));

        // FreeRDP reports 6.1.7601: Windows 7 SP1 / Server 2008 R2, out of support since 2020.
        let mut obs = server_2019(6);
        if let Some(Ok(c)) = obs.challenge.as_mut() {
            c.version = Some(crate::proto::ntlm::NtlmVersion {
                major: 6,
                minor: 1,
                build: 7601,
                revision: 15,
            });
            c.flags = NegotiateFlags(c.flags.0);
        }
        let obs = Ok(obs);
        let a = analyse_credssp(&CredsspLeg::Ran(&obs), &[], datetime!(2025-01-01 00:00 UTC));
        assert_eq!(
            a.ntlm.as_ref().and_then(|n| n.os_name.as_deref()),
            Some("Windows 7 SP1 / Server 2008 R2 SP1")
        );
        assert!(ids_of(&a).contains(&ids::OS_END_OF_SUPPORT));
    }

    /// Through `analysis::analyse`: the CredSSP stage of an observation lands in the report.
    #[test]
    fn analyse_fills_credssp_and_ntlm_sections() {
        use crate::analysis::{AnalysisOptions, analyse};
        use crate::observe::tls::{HandshakeFailure, HandshakeFailureKind, TlsStack};
        use crate::observe::{Connection, NegotiationKind, NegotiationResult, Observation};
        use crate::observe::{Purpose, Upgrade};
        use crate::proto::x224::{ConnectionConfirm, NegFlags, Protocols};
        use crate::report::schema::HostReport;

        let mut obs = Observation::new(None, false);
        obs.connections.push(Connection {
            purpose: Purpose::Negotiation,
            request: NegotiationKind::Nla,
            answer: Ok(NegotiationResult::Confirm(ConnectionConfirm::Response {
                flags: NegFlags(0),
                selected: Protocols::HYBRID,
            })),
            upgrade: None,
            credssp: None,
        });
        let fresh = || HostReport::new("h".into(), None, 3389);
        let now = CAPTURE_TIME.unix_timestamp();
        // The stage not run at all (no TLS stage): no section.
        let r = analyse(fresh(), &obs, now, &AnalysisOptions::default());
        assert_eq!(r.credssp, None);
        assert_eq!(r.ntlm, None);
        // Not reached (the TLS handshake failed): an `unknown` section saying why.
        obs.tls_stage = true;
        obs.connections[0].upgrade = Some(Upgrade::Handshake(Err(HandshakeFailure {
            stack: TlsStack::Rustls,
            kind: HandshakeFailureKind::Other,
            message: "handshake failure".into(),
        })));
        let r = analyse(fresh(), &obs, now, &AnalysisOptions::default());
        let c = r.credssp.expect("credssp");
        assert_eq!(c.cve_2018_0886, OracleFix::Unknown);
        assert_eq!(
            c.note.as_deref(),
            Some("CredSSP not probed: the TLS handshake failed")
        );
        // A version 3 answer: section, identity and the finding.
        obs.connections[0].credssp = Some(Ok(with_version(3)));
        let r = analyse(fresh(), &obs, now, &AnalysisOptions::default());
        assert_eq!(
            r.credssp.expect("credssp").cve_2018_0886,
            OracleFix::Missing
        );
        assert_eq!(
            r.ntlm.expect("ntlm").dns_computer.as_deref(),
            Some("fv-az41-637")
        );
        assert!(
            r.findings
                .iter()
                .any(|f| f.id == ids::CREDSSP_ORACLE_UNPATCHED)
        );
    }

    #[test]
    fn certificate_checked_against_the_ntlm_dns_name() {
        let (_, pem) = x509_parser::pem::parse_x509_pem(include_bytes!(
            "../../fixtures/tls/ca-signed-leaf.pem"
        ))
        .expect("PEM");
        let leaf = pem.contents; // SAN rdp.example.test, *.wild.example.test, 10.0.0.5
        let now = datetime!(2027-01-01 00:00 UTC);
        let ntlm = |dns: Option<&str>| NtlmReport {
            dns_computer: dns.map(str::to_owned),
            ..NtlmReport::default()
        };
        let f = ntlm_name_finding(&ntlm(Some("fv-az41-637.corp.test")), &leaf, None, now)
            .expect("mismatch");
        assert_eq!(f.id, ids::CERT_NAME_MISMATCH);
        assert!(
            f.message
                .contains("NTLM DNS computer name fv-az41-637.corp.test"),
            "{}",
            f.message
        );
        assert_eq!(
            ntlm_name_finding(&ntlm(Some("RDP.example.test")), &leaf, None, now),
            None
        );
        assert_eq!(
            ntlm_name_finding(&ntlm(Some("host.wild.example.test")), &leaf, None, now),
            None
        );
        assert_eq!(ntlm_name_finding(&ntlm(None), &leaf, None, now), None);
        // Same as the scanned name: already checked by the TLS analysis, not raised twice.
        assert_eq!(
            ntlm_name_finding(&ntlm(Some("other.test")), &leaf, Some("OTHER.test."), now),
            None
        );
        // An unparsable certificate gives nothing here (the TLS section reports it).
        assert_eq!(
            ntlm_name_finding(&ntlm(Some("x.test")), b"junk", None, now),
            None
        );
    }

    #[test]
    fn emulated_answers_and_fallback() {
        let emulated = vec![
            EmulatedAttempt {
                client_version: 2,
                outcome: Ok(server_2019(2)),
            },
            EmulatedAttempt {
                client_version: 3,
                outcome: Err(CredsspFailure::Closed {
                    phase: "waiting for the server's TSRequest",
                    received: 0,
                }),
            },
        ];
        let failed = Err(CredsspFailure::Timeout {
            phase: "waiting for the server's TSRequest",
            received: 0,
        });
        let a = analyse_credssp(&CredsspLeg::Ran(&failed), &emulated, CAPTURE_TIME);
        assert_eq!(a.credssp.version, Some(6));
        assert_eq!(a.credssp.cve_2018_0886, OracleFix::Fixed);
        assert!(
            a.credssp
                .note
                .expect("note")
                .contains("advertising client version 2")
        );
        assert_eq!(a.credssp.emulated.len(), 2);
        assert_eq!(a.credssp.emulated[0].server_version, Some(6));
        assert_eq!(a.credssp.emulated[0].note, None);
        assert_eq!(a.credssp.emulated[1].server_version, None);
        assert!(
            a.credssp.emulated[1]
                .note
                .as_deref()
                .expect("note")
                .starts_with("connection closed")
        );
    }
}
