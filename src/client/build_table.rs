//! Windows build/UBR tables: is the CredSSP fix for CVE-2018-0886 installed, which
//! `AllowEncryptionOracle` default applies, and which TLS versions SCHANNEL gives a client by
//! default.
//!
//! Sources: Microsoft KB4093492 ("CredSSP updates for CVE-2018-0886": the fix arrived with
//! the March 13, 2018 updates, the default changed from Vulnerable to Mitigated with the
//! May 8, 2018 updates) and the Windows 10 update history (the cumulative update of each
//! month sets the UBR listed here). For Windows 7 / Server 2008 R2 (7601), Server 2012 (9200),
//! Windows 8.1 / Server 2012 R2 (9600) and Vista / Server 2008 (6002) the monthly rollups do
//! not map to a `CurrentBuild`/`UBR` rdpsweep can trust, so the answer there is `unknown`
//! (say `patched = yes|no` in a profile or fleet file instead). Builds after 17134 (1809 and
//! later, Server 2019/2022/2025, Windows 11) shipped with the fix and the Mitigated default.

use super::profile::{OraclePolicy, TlsSupport, Tristate};
use crate::proto::tls::ProtocolVersion;

/// The decision for one build/UBR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixDecision {
    /// CredSSP fix installed?
    pub fix: Tristate,
    /// The `AllowEncryptionOracle` default when the value is absent (only meaningful when
    /// `fix` is yes); `None` when not known.
    pub default_policy: Option<OraclePolicy>,
    /// Why, for people.
    pub note: String,
}

/// One Windows 10 servicing branch: the UBR of the March 13, 2018 cumulative update (the
/// fix) and of the May 8, 2018 one (the Mitigated default).
#[derive(Debug, Clone, Copy)]
pub struct BranchRow {
    pub build: u32,
    pub release: &'static str,
    pub march_ubr: u32,
    pub march_kb: &'static str,
    /// `None` when rdpsweep does not know the May 2018 update of the branch.
    pub may_ubr: Option<u32>,
    pub may_kb: &'static str,
}

/// Windows 10 branches released before the fix. 1803 (17134) shipped with the fix (its first
/// public build, 17134.1, April 30, 2018); its May 8 update is 17134.48.
pub const WIN10_BRANCHES: &[BranchRow] = &[
    BranchRow {
        build: 10240,
        release: "Windows 10 1507",
        march_ubr: 17797,
        march_kb: "KB4088786",
        may_ubr: Some(17861),
        may_kb: "KB4103716",
    },
    BranchRow {
        build: 10586,
        release: "Windows 10 1511",
        march_ubr: 1478,
        march_kb: "KB4088779",
        may_ubr: None,
        may_kb: "",
    },
    BranchRow {
        build: 14393,
        release: "Windows 10 1607 / Server 2016",
        march_ubr: 2125,
        march_kb: "KB4088787",
        may_ubr: Some(2248),
        may_kb: "KB4103723",
    },
    BranchRow {
        build: 15063,
        release: "Windows 10 1703",
        march_ubr: 966,
        march_kb: "KB4088782",
        may_ubr: Some(1088),
        may_kb: "KB4103731",
    },
    BranchRow {
        build: 16299,
        release: "Windows 10 1709 / Server 1709",
        march_ubr: 309,
        march_kb: "KB4088776",
        may_ubr: Some(431),
        may_kb: "KB4103727",
    },
    BranchRow {
        build: 17134,
        release: "Windows 10 1803",
        march_ubr: 0,
        march_kb: "(shipped with the fix)",
        may_ubr: Some(48),
        may_kb: "KB4103721",
    },
];

/// Builds whose March 2018 rollup cannot be read from `CurrentBuild`/`UBR`.
const ROLLUP_BUILDS: &[(u32, &str, &str)] = &[
    (6002, "Windows Vista / Server 2008 SP2", "KB4056564"),
    (6003, "Windows Server 2008 SP2", "KB4056564"),
    (
        7600,
        "Windows 7 / Server 2008 R2 (no SP1)",
        "none (SP1 required)",
    ),
    (
        7601,
        "Windows 7 SP1 / Server 2008 R2 SP1",
        "KB4088875 / KB4088878",
    ),
    (9200, "Windows Server 2012", "KB4088877 / KB4088880"),
    (
        9600,
        "Windows 8.1 / Server 2012 R2",
        "KB4088876 / KB4088879",
    ),
];

/// Is the CredSSP fix installed on Windows build `build` with update revision `ubr`?
pub fn credssp_fix(build: u32, ubr: Option<u32>) -> FixDecision {
    if build > 17134 {
        return FixDecision {
            fix: Tristate::Yes,
            default_policy: Some(OraclePolicy::Mitigated),
            note: format!(
                "build {build} is newer than 1803 (17134): it shipped with the CredSSP fix and the Mitigated default"
            ),
        };
    }
    if let Some(row) = WIN10_BRANCHES.iter().find(|r| r.build == build) {
        return branch_decision(row, ubr);
    }
    if let Some((_, release, kb)) = ROLLUP_BUILDS.iter().find(|(b, _, _)| *b == build) {
        return FixDecision {
            fix: Tristate::Unknown,
            default_policy: None,
            note: format!(
                "build {build} ({release}): the CredSSP fix ({kb}, March 2018 rollup or later) cannot be decided from the build and UBR; give patched=yes|no"
            ),
        };
    }
    if build < 6002 {
        return FixDecision {
            fix: Tristate::No,
            default_policy: None,
            note: format!(
                "build {build} is older than Vista/Server 2008 SP2: Microsoft published no CredSSP fix for it"
            ),
        };
    }
    FixDecision {
        fix: Tristate::Unknown,
        default_policy: None,
        note: format!(
            "build {build} is not in rdpsweep's table of Windows releases: CredSSP fix unknown"
        ),
    }
}

fn branch_decision(row: &BranchRow, ubr: Option<u32>) -> FixDecision {
    let build = row.build;
    let Some(ubr) = ubr else {
        return FixDecision {
            fix: Tristate::Unknown,
            default_policy: None,
            note: format!(
                "build {build} ({}) without UBR: the fix arrived with UBR {} ({}); UBR unknown",
                row.release, row.march_ubr, row.march_kb
            ),
        };
    };
    if ubr < row.march_ubr {
        return FixDecision {
            fix: Tristate::No,
            default_policy: None,
            note: format!(
                "{build}.{ubr} ({}) is older than {build}.{} ({}, March 13, 2018): no CredSSP fix",
                row.release, row.march_ubr, row.march_kb
            ),
        };
    }
    match row.may_ubr {
        Some(may) if ubr >= may => FixDecision {
            fix: Tristate::Yes,
            default_policy: Some(OraclePolicy::Mitigated),
            note: format!(
                "{build}.{ubr} ({}) includes {build}.{may} ({}, May 8, 2018): fix installed, default Mitigated",
                row.release, row.may_kb
            ),
        },
        Some(may) if build == 17134 => FixDecision {
            fix: Tristate::Yes,
            default_policy: None,
            note: format!(
                "{build}.{ubr} (1803) is older than {build}.{may} ({}): fix installed; whether the Mitigated default is in force is unknown",
                row.may_kb
            ),
        },
        Some(may) => FixDecision {
            fix: Tristate::Yes,
            default_policy: Some(OraclePolicy::Vulnerable),
            note: format!(
                "{build}.{ubr} ({}) has the March 2018 fix but not {build}.{may} ({}, May 8, 2018): default Vulnerable",
                row.release, row.may_kb
            ),
        },
        None => FixDecision {
            fix: Tristate::Yes,
            default_policy: None,
            note: format!(
                "{build}.{ubr} ({}) has the March 2018 fix; rdpsweep does not know the branch's May 2018 update, so the default policy is unknown",
                row.release
            ),
        },
    }
}

/// The TLS versions a Windows client (mstsc over SCHANNEL) can use by default, before any
/// SCHANNEL `...\Protocols\TLS 1.x\Client` override.
pub fn windows_default_tls(build: u32) -> (TlsSupport, String) {
    use Tristate::*;
    let mut t = TlsSupport::unknown();
    let mut set = |states: [Tristate; 4]| {
        for (v, s) in ProtocolVersion::TLS.into_iter().zip(states) {
            t.set(v, s);
        }
    };
    let note = match build {
        0..=6001 => {
            set([Yes, No, No, No]);
            format!("build {build}: TLS 1.0 only")
        }
        6002 | 6003 => {
            set([Yes, No, No, No]);
            format!(
                "build {build} (Vista/2008 SP2): TLS 1.0 by default (1.1/1.2 need KB4019276 and SCHANNEL switches)"
            )
        }
        7600 | 7601 => {
            set([Yes, Unknown, Unknown, No]);
            format!(
                "build {build} (Windows 7/2008 R2): TLS 1.0; TLS 1.1/1.2 for RDP need KB3080079 (unknown)"
            )
        }
        9200..=9600 => {
            set([Yes, Yes, Yes, No]);
            format!("build {build}: SCHANNEL default TLS 1.0-1.2")
        }
        10240..=20347 => {
            set([Yes, Yes, Yes, No]);
            format!("build {build}: SCHANNEL default TLS 1.0-1.2")
        }
        20348..=26099 => {
            set([Yes, Yes, Yes, Unknown]);
            format!(
                "build {build}: SCHANNEL default TLS 1.0-1.2; whether the RDP client uses TLS 1.3 is unconfirmed"
            )
        }
        26100.. => {
            set([Unknown, Unknown, Yes, Unknown]);
            format!(
                "build {build}: TLS 1.2; TLS 1.0/1.1 defaults of this release and RDP over TLS 1.3 are unconfirmed"
            )
        }
        _ => format!("build {build} is not in rdpsweep's table: TLS versions unknown"),
    };
    (t, note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win10_branches_switch_at_the_march_and_may_updates() {
        let d = credssp_fix(14393, Some(2124));
        assert_eq!(d.fix, Tristate::No, "{}", d.note);
        let d = credssp_fix(14393, Some(2125));
        assert_eq!(
            (d.fix, d.default_policy),
            (Tristate::Yes, Some(OraclePolicy::Vulnerable))
        );
        let d = credssp_fix(14393, Some(2248));
        assert_eq!(
            (d.fix, d.default_policy),
            (Tristate::Yes, Some(OraclePolicy::Mitigated))
        );
        let d = credssp_fix(16299, Some(308));
        assert_eq!(d.fix, Tristate::No);
        let d = credssp_fix(10586, Some(1478));
        assert_eq!((d.fix, d.default_policy), (Tristate::Yes, None));
        let d = credssp_fix(17134, Some(1));
        assert_eq!((d.fix, d.default_policy), (Tristate::Yes, None));
        let d = credssp_fix(17134, Some(48));
        assert_eq!(d.default_policy, Some(OraclePolicy::Mitigated));
    }

    #[test]
    fn branch_without_ubr_is_unknown() {
        assert_eq!(credssp_fix(15063, None).fix, Tristate::Unknown);
    }

    #[test]
    fn newer_builds_are_fixed_and_mitigated() {
        for b in [17763, 19045, 20348, 22631, 26100] {
            let d = credssp_fix(b, None);
            assert_eq!(
                (d.fix, d.default_policy),
                (Tristate::Yes, Some(OraclePolicy::Mitigated)),
                "{b}"
            );
        }
    }

    #[test]
    fn rollup_builds_are_honestly_unknown() {
        for b in [6002, 7601, 9200, 9600] {
            let d = credssp_fix(b, Some(24000));
            assert_eq!(d.fix, Tristate::Unknown, "{b}: {}", d.note);
            assert!(d.note.contains("patched=yes|no"));
        }
        assert_eq!(credssp_fix(2600, None).fix, Tristate::No);
        assert_eq!(credssp_fix(12345, Some(1)).fix, Tristate::Unknown);
    }

    #[test]
    fn default_tls_by_build() {
        let (t, _) = windows_default_tls(7601);
        assert_eq!(t.get(ProtocolVersion::TLS1_0), Tristate::Yes);
        assert_eq!(t.get(ProtocolVersion::TLS1_2), Tristate::Unknown);
        let (t, _) = windows_default_tls(19045);
        assert_eq!(
            t.enabled(),
            vec![
                ProtocolVersion::TLS1_0,
                ProtocolVersion::TLS1_1,
                ProtocolVersion::TLS1_2
            ]
        );
        assert_eq!(t.get(ProtocolVersion::TLS1_3), Tristate::No);
    }
}
