//! CredSSP verdict and NTLM host identity (pure): observations from
//! `crate::probe::credssp::first_leg` in, [`CredsspReport`], [`NtlmReport`] and findings out.
//!
//! The CVE-2018-0886 verdict follows MS-CSSP 2.2.1: TSRequest versions 5 and 6 carry the fix
//! (`clientNonce` and the SHA-256 binding hash), versions 2, 3 and 4 predate it. A server answers
//! with its own version (Windows, FreeRDP and sspi do), so the version in its first reply is the
//! server's patch level, whatever version the client advertised.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::analysis::Clock;
use crate::analysis::findings::{Finding, Severity, ids};
use crate::analysis::os;
use crate::analysis::server::CredsspFacts;
pub use crate::observe::CredsspLeg;
use crate::observe::credssp::{CredsspObservation, EmulatedAttempt};
use crate::proto::ntlm::{AvId, ChallengeMessage};
use crate::report::schema::Implementation;
use crate::report::schema::{CredsspReport, EmulatedCredssp, NtlmReport, OracleFix};

/// Clock skew beyond which Kerberos fails (its default tolerance is 5 minutes).
pub const CLOCK_SKEW_LIMIT_S: i64 = 300;

/// NTLM timestamps outside these years are no timestamp (a zero FILETIME is 1601), not a
/// skew of centuries.
const PLAUSIBLE_FROM: i32 = 2000;
const PLAUSIBLE_UNTIL: i32 = 2200;

/// Whether the host is a domain member, from the CHALLENGE's names (MS-NLMP 2.2.2.1): a
/// workgroup host names itself as its own NetBIOS domain and has no DNS domain of its own;
/// `None` when the names do not say.
fn domain_joined(n: &NtlmReport) -> Option<bool> {
    let same = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => Some(a.eq_ignore_ascii_case(b)),
        _ => None,
    };
    match same(&n.nb_domain, &n.nb_computer) {
        Some(true) => Some(false),
        Some(false) => {
            Some(n.dns_domain.is_some() && same(&n.dns_domain, &n.dns_computer) != Some(true))
                .filter(|joined| *joined)
        }
        None => None,
    }
}

/// The first build that ships with the CredSSP fix in its release media (Windows 10 1803).
const FIRST_BUILD_WITH_FIX: u16 = 17134;

/// The CredSSP and NTLM sections of a host report, and their findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredsspAnalysis {
    pub credssp: CredsspReport,
    /// Present when a CHALLENGE came back (or failed to parse: then only `note` is set).
    pub ntlm: Option<NtlmReport>,
    pub findings: Vec<Finding>,
    /// The versions the server-implementation verdict weighs.
    pub facts: CredsspFacts,
}

impl CredsspAnalysis {
    /// Drops what only a Windows NTLM VERSION means (the OS name, its build, end of support):
    /// `implementation` answered, and its NTLM VERSION is its own (WinPR answers 6.1.7601 on
    /// any OS), so no OS is inferred from it.
    pub fn without_windows_os(&mut self, implementation: Implementation) {
        let Some(ntlm) = self.ntlm.as_mut() else {
            return;
        };
        if ntlm.os_name.take().is_some() {
            let what = match implementation {
                Implementation::Unknown => "the server is not known to be Windows".to_owned(),
                other => format!("the server is {}", other.label()),
            };
            let note = format!(
                "NTLM VERSION {} is not read as a Windows release: {what}",
                ntlm.os_version.as_deref().unwrap_or("?")
            );
            ntlm.note = Some(match ntlm.note.take() {
                Some(prev) => format!("{prev}; {note}"),
                None => note,
            });
        }
        ntlm.os_build = None;
        self.findings.retain(|f| f.id != ids::OS_END_OF_SUPPORT);
    }
}

/// Builds the CredSSP verdict, the NTLM identity and their findings. `now` is the scanner's
/// clock, for the clock skew and end-of-support checks.
pub fn analyse_credssp(
    stage: &CredsspLeg<'_>,
    emulated: &[EmulatedAttempt],
    now: OffsetDateTime,
    clock: &Clock,
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
    let mut facts = CredsspFacts::default();
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
            // The server's NTLM timestamp is compared with the moment its CHALLENGE arrived.
            let arrived = clock
                .probe_started_ms
                .map(|start| {
                    let after = i64::try_from(obs.received_after.as_millis()).unwrap_or(0);
                    start.saturating_add(after) / 1000
                })
                .unwrap_or(clock.now_unix);
            let (report, ntlm_findings) = ntlm_report(obs, now, arrived);
            facts = CredsspFacts {
                credssp_version: Some(version),
                ntlm_version: obs
                    .challenge
                    .as_ref()
                    .and_then(|c| c.as_ref().ok())
                    .and_then(|c| c.version)
                    .map(|v| (v.major, v.minor, v.build)),
            };
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
        facts,
    }
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
/// The NTLM section. `now` is the scan's clock (end of support); `arrived_unix` when the
/// CHALLENGE arrived, by the scanner's clock (clock skew).
fn ntlm_report(
    obs: &CredsspObservation,
    now: OffsetDateTime,
    arrived_unix: i64,
) -> (NtlmReport, Vec<Finding>) {
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
        report.domain_joined = domain_joined(&report);
        if let Some(ts) = info.timestamp() {
            let unix = ts.to_unix_seconds();
            match OffsetDateTime::from_unix_timestamp(unix)
                .ok()
                .filter(|t| (PLAUSIBLE_FROM..PLAUSIBLE_UNTIL).contains(&t.year()))
                .and_then(|t| t.format(&Rfc3339).ok())
            {
                Some(text) => {
                    report.server_time = Some(text);
                    let skew = unix.saturating_sub(arrived_unix);
                    report.clock_skew_s = Some(skew);
                    if skew.unsigned_abs() > CLOCK_SKEW_LIMIT_S.unsigned_abs() {
                        let direction = if skew > 0 { "ahead of" } else { "behind" };
                        findings.push(Finding::new(
                            ids::CLOCK_SKEW,
                            Severity::Low,
                            format!(
                                "server clock is {} s {direction} this scanner's clock (compared when its NTLM \
                                 CHALLENGE arrived; over {CLOCK_SKEW_LIMIT_S} s Kerberos authentication fails, \
                                 clients fall back to NTLM or are refused)",
                                skew.unsigned_abs()
                            ),
                        ));
                    }
                }
                None => notes.push(format!(
                    "MsvAvTimestamp {} is zero or not a plausible time: no timestamp",
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

    /// The analysis with the scan's clock at `now` (replies arriving then too).
    fn at_time(
        leg: &CredsspLeg<'_>,
        emulated: &[EmulatedAttempt],
        now: OffsetDateTime,
    ) -> CredsspAnalysis {
        analyse_credssp(leg, emulated, now, &Clock::at(now.unix_timestamp()))
    }

    fn ids_of(a: &CredsspAnalysis) -> Vec<&str> {
        a.findings.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn windows_server_2019_capture() {
        let obs = Ok(server_2019(6));
        let a = at_time(
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
            let a = at_time(&CredsspLeg::Ran(&obs), &[], CAPTURE_TIME);
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
        let a = at_time(&CredsspLeg::Ran(&obs), &[], CAPTURE_TIME);
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
        let a = at_time(
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
        let a = at_time(&CredsspLeg::Ran(&failed), &[], CAPTURE_TIME);
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
        let a = at_time(&CredsspLeg::Ran(&obs), &[], CAPTURE_TIME);
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
        let a = at_time(&CredsspLeg::Ran(&obs), &[], CAPTURE_TIME);
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
            let a = at_time(&CredsspLeg::Ran(&obs), &[], now);
            assert_eq!(a.ntlm.as_ref().and_then(|n| n.clock_skew_s), Some(offset));
            assert_eq!(
                ids_of(&a).contains(&ids::CLOCK_SKEW),
                flagged,
                "offset {offset}"
            );
        }
    }

    /// The capture with its MsvAvTimestamp replaced by `filetime`.
    fn with_timestamp(filetime: u64) -> CredsspObservation {
        let mut obs = server_2019(6);
        if let Some(Ok(c)) = obs.challenge.as_mut()
            && let Some(info) = c.target_info.as_mut()
            && let Some(pair) = info.pairs.iter_mut().find(|p| p.id == AvId::TIMESTAMP)
        {
            pair.value = filetime.to_le_bytes().to_vec();
        }
        obs
    }

    #[test]
    fn skew_is_measured_when_the_challenge_arrived() {
        // The scan started an hour before this endpoint's probe, which started 10 s before the
        // capture's timestamp; the CHALLENGE arrived 9.5 s into the probe: under a second of skew (whole
        // seconds, rounded down: 1 s), not an hour.
        let mut obs = server_2019(6);
        obs.received_after = std::time::Duration::from_millis(9_500);
        let obs = Ok(obs);
        let capture = CAPTURE_TIME.unix_timestamp();
        let clock = Clock {
            now_unix: capture - 3600,
            probe_started_ms: Some((capture - 10) * 1000),
        };
        let a = analyse_credssp(&CredsspLeg::Ran(&obs), &[], CAPTURE_TIME, &clock);
        assert_eq!(a.ntlm.as_ref().and_then(|n| n.clock_skew_s), Some(1));
        assert!(!ids_of(&a).contains(&ids::CLOCK_SKEW));
        // Without the probe's start the scan's now is used: an hour.
        let a = analyse_credssp(
            &CredsspLeg::Ran(&obs),
            &[],
            CAPTURE_TIME,
            &Clock::at(capture - 3600),
        );
        assert_eq!(a.ntlm.as_ref().and_then(|n| n.clock_skew_s), Some(3600));
        let f = a
            .findings
            .iter()
            .find(|f| f.id == ids::CLOCK_SKEW)
            .expect("skew");
        assert!(f.message.contains("this scanner's clock"), "{}", f.message);
    }

    #[test]
    fn a_zero_or_absurd_timestamp_is_no_timestamp() {
        // 0 (1601), and 2400-01-01: no time, no skew, no finding, a note.
        for filetime in [0u64, 250_000_000_000_000_000] {
            let obs = Ok(with_timestamp(filetime));
            let a = at_time(&CredsspLeg::Ran(&obs), &[], CAPTURE_TIME);
            let n = a.ntlm.expect("ntlm");
            assert_eq!(n.server_time, None, "{filetime}");
            assert_eq!(n.clock_skew_s, None);
            assert!(n.note.expect("note").contains("no timestamp"));
            assert!(!a.findings.iter().any(|f| f.id == ids::CLOCK_SKEW));
        }
    }

    #[test]
    fn domain_membership_from_the_names() {
        // The capture is a workgroup host: every name is fv-az41-637.
        let obs = Ok(server_2019(6));
        let a = at_time(&CredsspLeg::Ran(&obs), &[], CAPTURE_TIME);
        assert_eq!(a.ntlm.expect("ntlm").domain_joined, Some(false));
        let joined = NtlmReport {
            nb_computer: Some("RDS01".into()),
            nb_domain: Some("CORP".into()),
            dns_computer: Some("rds01.corp.example".into()),
            dns_domain: Some("corp.example".into()),
            ..NtlmReport::default()
        };
        assert_eq!(domain_joined(&joined), Some(true));
        let unknown = NtlmReport {
            nb_computer: Some("RDS01".into()),
            ..NtlmReport::default()
        };
        assert_eq!(domain_joined(&unknown), None);
    }

    #[test]
    fn end_of_support_uses_now() {
        let obs = Ok(server_2019(6));
        let a = at_time(&CredsspLeg::Ran(&obs), &[], datetime!(2029-01-10 00:00 UTC));
        let f = a
            .findings
            .iter()
            .find(|f| f.id == ids::OS_END_OF_SUPPORT)
            .expect("eos");
        assert!(f.message.contains("since 2029-01-09"), "{}", f.message);
        let a = at_time(&CredsspLeg::Ran(&obs), &[], datetime!(2029-01-09 12:00 UTC));
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
        let a = at_time(&CredsspLeg::Ran(&obs), &[], datetime!(2025-01-01 00:00 UTC));
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
            confirm_header: None,
            upgrade: None,
            credssp: None,
            mcs: None,
        });
        let fresh = || HostReport::new("h".into(), None, 3389);
        let now = crate::analysis::Clock::at(CAPTURE_TIME.unix_timestamp());
        // The stage not run at all (no TLS stage): no section.
        let r = analyse(fresh(), &obs, &now, &AnalysisOptions::default());
        assert_eq!(r.credssp, None);
        assert_eq!(r.ntlm, None);
        // Not reached (the TLS handshake failed): an `unknown` section saying why.
        obs.tls_stage = true;
        obs.connections[0].upgrade = Some(Upgrade::Handshake(Err(HandshakeFailure {
            stack: TlsStack::Rustls,
            kind: HandshakeFailureKind::Other,
            message: "handshake failure".into(),
        })));
        let r = analyse(fresh(), &obs, &now, &AnalysisOptions::default());
        let c = r.credssp.expect("credssp");
        assert_eq!(c.cve_2018_0886, OracleFix::Unknown);
        assert_eq!(
            c.note.as_deref(),
            Some("CredSSP not probed: the TLS handshake failed")
        );
        // A version 3 answer: section, identity and the finding.
        obs.connections[0].credssp = Some(Ok(with_version(3)));
        let r = analyse(fresh(), &obs, &now, &AnalysisOptions::default());
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
        let a = at_time(&CredsspLeg::Ran(&failed), &emulated, CAPTURE_TIME);
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
