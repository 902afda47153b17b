//! Which RDP server implementation answered (pure): Windows, xrdp, a WinPR-based server
//! (FreeRDP's shadow server and proxy, gnome-remote-desktop), or unknown, decided from what the
//! probe already saw, with the observations that decided it.
//!
//! The clues, each measured on the real servers or stated by the specification:
//!
//! - **The Connection Confirm's source reference.** Windows sets it to 0x1234 (MS-RDPBCGR
//!   3.3.5.3.2); xrdp does too. FreeRDP's server (and IronRDP's) sends 0x0000. A confirm with
//!   another reference is not from Windows.
//! - **What was selected for what was asked.** Windows Vista and later select CredSSP whenever a
//!   client offers it, unless their security layer is Standard RDP Security (then they refuse
//!   with SSL_NOT_ALLOWED_BY_SERVER) or they have no certificate (SSL_CERT_NOT_ON_SERVER).
//!   xrdp has no CredSSP: it selects TLS when CredSSP is offered, and in its `rdp` mode it
//!   selects Standard RDP Security even for a request that offered TLS alone, which the
//!   specification answers with a failure.
//! - **The RDP_NEG_RSP flags.** FreeRDP's server sends EXTENDED_CLIENT_DATA and
//!   DYNVC_GFX (0x03) from source reference 0x0000; xrdp sends EXTENDED_CLIENT_DATA alone.
//! - **The CredSSP and NTLM versions together.** WinPR answers CredSSP 6 with NTLM VERSION
//!   6.1.7601 whatever it runs on; a real Windows 7 / Server 2008 R2 (6.1.7601) answers 2
//!   (unpatched) or 5 (patched), never 6.
//! - **The RDP version in the MCS Connect Response.** RDP 10 servers (Windows 10 / Server
//!   2016 and later) announce 0x00080005 or higher; xrdp and FreeRDP announce 0x00080004.
//! - **A legacy confirm** (no negotiation data) with source reference 0x1234: Windows 2000 /
//!   XP / 2003 (nmap's fingerprint for the Microsoft Terminal Service).

use crate::observe::{Connection, NegotiationKind, NegotiationResult, Purpose};
use crate::proto::mcs::ServerVersion;
use crate::proto::x224::{ConfirmHeader, ConnectionConfirm, NegFlags, Protocols};
use crate::report::schema::{Implementation, ServerReport};

/// What the CredSSP first leg showed, for the verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CredsspFacts {
    /// The server's TSRequest version.
    pub credssp_version: Option<u32>,
    /// NTLM VERSION `(major, minor, build)`.
    pub ntlm_version: Option<(u8, u8, u16)>,
}

/// How much one clue weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Weight {
    /// Suggests, but another implementation could do the same.
    Hint,
    /// Only this implementation is known to do it.
    Strong,
}

/// One observation that counts for (`Some`) an implementation, or only against Windows.
struct Clue {
    points_to: Option<Implementation>,
    not_windows: bool,
    weight: Weight,
    evidence: String,
}

fn clue(points_to: Implementation, weight: Weight, evidence: impl Into<String>) -> Clue {
    Clue {
        points_to: Some(points_to),
        not_windows: points_to != Implementation::Windows,
        weight,
        evidence: evidence.into(),
    }
}

/// The `server` section, from the connection log and the CredSSP facts.
pub fn server_report(connections: &[Connection], credssp: CredsspFacts) -> ServerReport {
    let mut clues: Vec<Clue> = Vec::new();
    let confirms: Vec<(&Connection, ConfirmHeader, &ConnectionConfirm)> = connections
        .iter()
        .filter_map(|c| match (&c.answer, c.confirm_header) {
            (Ok(NegotiationResult::Confirm(confirm)), Some(header)) => Some((c, header, confirm)),
            _ => None,
        })
        .collect();

    // The source reference.
    let refs: Vec<u16> = confirms.iter().map(|(_, h, _)| h.src_ref).collect();
    let windows_ref = !refs.is_empty() && refs.iter().all(|r| *r == ConfirmHeader::WINDOWS_SRC_REF);
    let flags: Vec<NegFlags> = confirms
        .iter()
        .filter_map(|(_, _, confirm)| match confirm {
            ConnectionConfirm::Response { flags, .. } => Some(*flags),
            _ => None,
        })
        .collect();
    if let Some(other) = refs.iter().find(|r| **r != ConfirmHeader::WINDOWS_SRC_REF) {
        let gfx = !flags.is_empty() && flags.iter().all(|f| *f == NegFlags(0x03));
        if *other == 0 && gfx {
            clues.push(clue(
                Implementation::Freerdp,
                Weight::Hint,
                "Connection Confirm source reference 0x0000 with RDP_NEG_RSP flags 0x03 (FreeRDP's server; Windows and xrdp send 0x1234)",
            ));
        } else {
            clues.push(Clue {
                points_to: None,
                not_windows: true,
                weight: Weight::Strong,
                evidence: format!(
                    "Connection Confirm source reference 0x{other:04x} (Windows sends 0x1234, MS-RDPBCGR 3.3.5.3.2)"
                ),
            });
        }
    }

    // What was selected for what was asked.
    for (c, _, confirm) in &confirms {
        if c.purpose != Purpose::Negotiation {
            continue;
        }
        match (c.request, confirm) {
            (NegotiationKind::Tls, ConnectionConfirm::Response { selected, .. })
                if *selected == Protocols::RDP && windows_ref =>
            {
                clues.push(clue(
                    Implementation::Xrdp,
                    Weight::Strong,
                    "selected Standard RDP Security for a request that offered TLS alone (xrdp's rdp mode; Windows refuses with SSL_NOT_ALLOWED_BY_SERVER)",
                ));
            }
            (NegotiationKind::Nla, ConnectionConfirm::Response { selected, flags })
                if *selected == Protocols::SSL && windows_ref && *flags == NegFlags(0x01) =>
            {
                clues.push(clue(
                    Implementation::Xrdp,
                    Weight::Strong,
                    "selected TLS when CredSSP was offered, with RDP_NEG_RSP flags 0x01 and source reference 0x1234 (xrdp has no CredSSP; Windows selects CredSSP whenever it is offered)",
                ));
            }
            (NegotiationKind::Nla, ConnectionConfirm::Response { selected, .. })
                if *selected == Protocols::SSL && !windows_ref =>
            {
                // A non-Windows server without NLA: nothing more to learn here.
            }
            (NegotiationKind::Nla, ConnectionConfirm::Response { selected, flags })
                if windows_ref
                    && (selected.contains(Protocols::HYBRID)
                        || selected.contains(Protocols::HYBRID_EX)) =>
            {
                clues.push(clue(
                    Implementation::Windows,
                    Weight::Hint,
                    format!(
                        "selected CredSSP with source reference 0x1234 and RDP_NEG_RSP flags 0x{:02x}",
                        flags.0
                    ),
                ));
            }
            (NegotiationKind::Nla, ConnectionConfirm::Legacy) if windows_ref => {
                clues.push(clue(
                    Implementation::Windows,
                    Weight::Strong,
                    "a Connection Confirm without negotiation data and source reference 0x1234 (Windows 2000 / XP / 2003, as nmap fingerprints the Microsoft Terminal Service)",
                ));
            }
            _ => {}
        }
    }

    // The CredSSP and NTLM versions together.
    if let (Some(cv), Some((major, minor, build))) = (credssp.credssp_version, credssp.ntlm_version)
    {
        let version = format!("{major}.{minor}.{build}");
        if (major, minor, build) == (6, 1, 7601) && cv == 6 {
            clues.push(clue(
                Implementation::Freerdp,
                Weight::Strong,
                format!(
                    "NTLM VERSION {version} with CredSSP version 6: WinPR (FreeRDP, gnome-remote-desktop) answers this on any OS; a real Windows 7 / Server 2008 R2 answers CredSSP 2 or 5"
                ),
            ));
        } else if windows_ref && windows_pair(major, minor, cv) {
            clues.push(clue(
                Implementation::Windows,
                Weight::Strong,
                format!(
                    "NTLM VERSION {version} with CredSSP version {cv}, as Windows pairs them, and source reference 0x1234"
                ),
            ));
        } else {
            clues.push(Clue {
                points_to: None,
                not_windows: !windows_pair(major, minor, cv),
                weight: Weight::Hint,
                evidence: format!("NTLM VERSION {version} with CredSSP version {cv}"),
            });
        }
    }

    // The RDP version announced in the MCS Connect Response.
    let version = connections
        .iter()
        .filter_map(|c| c.mcs.as_ref()?.as_ref().ok()?.core.map(|core| core.version))
        .max_by_key(|v| v.0);
    if let Some(v) = version
        && v.is_rdp10_or_later()
        && windows_ref
    {
        clues.push(clue(
            Implementation::Windows,
            Weight::Hint,
            format!(
                "announces {} in its MCS Connect Response (xrdp and FreeRDP announce RDP 5.0-8.1)",
                version_name(v)
            ),
        ));
    }

    let (implementation, mut evidence) = decide(&clues);
    if implementation == Implementation::Unknown && clues.is_empty() {
        evidence.push("no observation tells the implementation apart".into());
    }
    ServerReport {
        implementation,
        evidence,
        rdp_version: version.map(version_name),
        rdp_version_raw: version.map(|v| format!("0x{:08x}", v.0)),
    }
}

/// Whether Windows answers CredSSP `cv` with NTLM VERSION `major.minor` (MS-CSSP 2.2.1 and the
/// releases: 6.0/6.1 answer 2 before the 2018 fix and 5 after; 6.2 and 6.3 answer 2 or 3, then
/// 6; 10.0 answers 3 or 4, then 6).
fn windows_pair(major: u8, minor: u8, cv: u32) -> bool {
    match (major, minor) {
        (6, 0 | 1) => matches!(cv, 2 | 5),
        (6, 2 | 3) => matches!(cv, 2 | 3 | 6),
        (10, 0) => matches!(cv, 3 | 4 | 6),
        _ => false,
    }
}

/// `RDP 5.0-8.1`, `RDP 10.7`, ... (MS-RDPBCGR 2.2.1.4.2); undefined values in hex.
pub fn version_name(v: ServerVersion) -> String {
    let name = v.name();
    if name.starts_with("0x") {
        name
    } else {
        format!("RDP {name}")
    }
}

/// The verdict: the implementation the strongest clues agree on; unknown when they conflict
/// or only speak against Windows.
fn decide(clues: &[Clue]) -> (Implementation, Vec<String>) {
    let evidence: Vec<String> = clues.iter().map(|c| c.evidence.clone()).collect();
    let against_windows = clues
        .iter()
        .any(|c| c.not_windows && c.weight == Weight::Strong);
    let best = clues
        .iter()
        .filter(|c| c.points_to.is_some())
        .map(|c| c.weight)
        .max();
    let Some(best) = best else {
        return (Implementation::Unknown, evidence);
    };
    let mut candidates: Vec<Implementation> = clues
        .iter()
        .filter(|c| c.weight == best)
        .filter_map(|c| c.points_to)
        .filter(|i| !(against_windows && *i == Implementation::Windows))
        .collect();
    candidates.dedup();
    match candidates.as_slice() {
        [one] => {
            // A strong clue for another implementation overrides hints, but two strong clues
            // that disagree leave it open.
            let conflicting = clues
                .iter()
                .any(|c| c.weight == Weight::Strong && c.points_to.is_some_and(|i| i != *one));
            if conflicting {
                (Implementation::Unknown, evidence)
            } else {
                (*one, evidence)
            }
        }
        _ => (Implementation::Unknown, evidence),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::StageError;
    use crate::proto::mcs::{ConnectResponse, ServerCore};
    use crate::proto::x224::NegFailure;

    fn conn(request: NegotiationKind, src_ref: u16, confirm: ConnectionConfirm) -> Connection {
        Connection {
            purpose: Purpose::Negotiation,
            request,
            answer: Ok(NegotiationResult::Confirm(confirm)),
            confirm_header: Some(ConfirmHeader {
                dst_ref: 0,
                src_ref,
                class: 0,
            }),
            upgrade: None,
            credssp: None,
            mcs: None,
        }
    }

    fn rsp(flags: u8, selected: Protocols) -> ConnectionConfirm {
        ConnectionConfirm::Response {
            flags: NegFlags(flags),
            selected,
        }
    }

    fn fail(code: NegFailure) -> ConnectionConfirm {
        ConnectionConfirm::Failure(code)
    }

    use NegotiationKind::{Nla, Rdp, Tls};

    /// The three answers of each measured server kind (tests/support/mod.rs ground truth).
    fn xrdp(mode: &str) -> Vec<Connection> {
        let (nla, tls, rdp) = match mode {
            "negotiate" => (
                rsp(1, Protocols::SSL),
                rsp(1, Protocols::SSL),
                rsp(1, Protocols::RDP),
            ),
            "tls" => (
                rsp(1, Protocols::SSL),
                rsp(1, Protocols::SSL),
                fail(NegFailure::SSL_REQUIRED_BY_SERVER),
            ),
            _ => (
                rsp(1, Protocols::RDP),
                rsp(1, Protocols::RDP),
                rsp(1, Protocols::RDP),
            ),
        };
        vec![
            conn(Nla, 0x1234, nla),
            conn(Tls, 0x1234, tls),
            conn(Rdp, 0x1234, rdp),
        ]
    }

    fn shadow(mode: &str) -> Vec<Connection> {
        let (nla, tls, rdp) = match mode {
            "nla" => (
                rsp(3, Protocols::HYBRID),
                fail(NegFailure::HYBRID_REQUIRED_BY_SERVER),
                fail(NegFailure::HYBRID_REQUIRED_BY_SERVER),
            ),
            "tls" => (
                rsp(3, Protocols::SSL),
                rsp(3, Protocols::SSL),
                fail(NegFailure::SSL_REQUIRED_BY_SERVER),
            ),
            _ => (
                fail(NegFailure::SSL_NOT_ALLOWED_BY_SERVER),
                fail(NegFailure::SSL_NOT_ALLOWED_BY_SERVER),
                rsp(3, Protocols::RDP),
            ),
        };
        vec![conn(Nla, 0, nla), conn(Tls, 0, tls), conn(Rdp, 0, rdp)]
    }

    fn facts(cv: u32, ntlm: (u8, u8, u16)) -> CredsspFacts {
        CredsspFacts {
            credssp_version: Some(cv),
            ntlm_version: Some(ntlm),
        }
    }

    #[test]
    fn xrdp_in_every_mode() {
        for mode in ["negotiate", "tls", "rdp"] {
            let r = server_report(&xrdp(mode), CredsspFacts::default());
            assert_eq!(
                r.implementation,
                Implementation::Xrdp,
                "{mode}: {:?}",
                r.evidence
            );
            assert!(!r.evidence.is_empty());
        }
    }

    #[test]
    fn freerdp_shadow_in_every_mode_and_never_windows_7() {
        for mode in ["tls", "rdp"] {
            let r = server_report(&shadow(mode), CredsspFacts::default());
            assert_eq!(
                r.implementation,
                Implementation::Freerdp,
                "{mode}: {:?}",
                r.evidence
            );
        }
        let r = server_report(&shadow("nla"), facts(6, (6, 1, 7601)));
        assert_eq!(r.implementation, Implementation::Freerdp);
        assert!(
            r.evidence.iter().any(|e| e.contains("WinPR")),
            "{:?}",
            r.evidence
        );
    }

    #[test]
    fn windows_from_its_captures_and_version_pairs() {
        // Windows Server 2019 (fixtures/windows-server-2019-*): flags 0x1f, HYBRID_EX,
        // TSRequest 6, NTLM 10.0.17763.
        let conns = vec![
            conn(Nla, 0x1234, rsp(0x1f, Protocols::HYBRID_EX)),
            conn(Tls, 0x1234, fail(NegFailure::HYBRID_REQUIRED_BY_SERVER)),
        ];
        let r = server_report(&conns, facts(6, (10, 0, 17763)));
        assert_eq!(
            r.implementation,
            Implementation::Windows,
            "{:?}",
            r.evidence
        );
        // 6.1.7601 with 2 is an unpatched Windows 7, with 5 a patched one, with 6 WinPR.
        let win7 = vec![conn(Nla, 0x1234, rsp(0x01, Protocols::HYBRID))];
        for (cv, want) in [
            (2, Implementation::Windows),
            (5, Implementation::Windows),
            (6, Implementation::Freerdp),
        ] {
            let r = server_report(&win7, facts(cv, (6, 1, 7601)));
            assert_eq!(r.implementation, want, "CredSSP {cv}: {:?}", r.evidence);
        }
        // Without CredSSP facts, a hint alone decides.
        let r = server_report(&win7, CredsspFacts::default());
        assert_eq!(r.implementation, Implementation::Windows);
        // A legacy confirm with 0x1234.
        let legacy = vec![conn(Nla, 0x1234, ConnectionConfirm::Legacy)];
        assert_eq!(
            server_report(&legacy, CredsspFacts::default()).implementation,
            Implementation::Windows
        );
    }

    #[test]
    fn an_ironrdp_sspi_server_is_not_called_windows() {
        // IronRDP's confirm (source reference 0) and sspi's NTLM VERSION 10.0.17763.
        let conns = vec![
            conn(Nla, 0, rsp(0, Protocols::HYBRID)),
            conn(Tls, 0, fail(NegFailure::HYBRID_REQUIRED_BY_SERVER)),
        ];
        let r = server_report(&conns, facts(3, (10, 0, 17763)));
        assert_eq!(
            r.implementation,
            Implementation::Unknown,
            "{:?}",
            r.evidence
        );
        assert!(r.evidence.iter().any(|e| e.contains("0x0000")));
    }

    #[test]
    fn the_mcs_version_and_conflicts() {
        let mut conns = vec![conn(Nla, 0x1234, rsp(0x0f, Protocols::HYBRID))];
        conns[0].mcs = Some(Ok(ConnectResponse {
            core: Some(ServerCore {
                version: ServerVersion(0x0008_000c),
                client_requested_protocols: None,
                early_capability_flags: None,
            }),
            ..ConnectResponse::default()
        }));
        let r = server_report(&conns, CredsspFacts::default());
        assert_eq!(r.implementation, Implementation::Windows);
        assert_eq!(r.rdp_version_raw.as_deref(), Some("0x0008000c"));
        // Strong clues that disagree leave it open.
        let mut odd = xrdp("rdp");
        odd.push(conn(Nla, 0x1234, ConnectionConfirm::Legacy));
        assert_eq!(
            server_report(&odd, CredsspFacts::default()).implementation,
            Implementation::Unknown
        );
        // Nothing at all.
        let failed = vec![Connection {
            answer: Err(StageError::Refused),
            confirm_header: None,
            ..conn(Nla, 0, ConnectionConfirm::Legacy)
        }];
        let r = server_report(&failed, CredsspFacts::default());
        assert_eq!(r.implementation, Implementation::Unknown);
        assert_eq!(r.evidence.len(), 1);
    }
}
