//! The security-layer verdicts (MS-RDPBCGR 2.2.1.2): which protocols the server accepts and
//! whether it requires NLA, decided from what the server *selected*, never from the mere fact
//! that it replied (nmap's rdp-enum-encryption reports success for protocols the server did
//! not select).

use super::findings::{Finding, Severity, ids};
use crate::observe::{Negotiation, NegotiationKind, NegotiationResult};
use crate::proto::x224::{ConnectionConfirm, NegFailure, Protocols};
use crate::report::schema::{NegotiationProbe, NlaVerdict, Security};

/// What one request told us about the protocol(s) it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// The server selected this protocol, one the request asked for (or Standard RDP
    /// Security, which every client speaks).
    Selected(Protocols),
    Failure(NegFailure),
    Legacy,
    /// An RDP server, but an answer that decides nothing: a protocol that was never
    /// requested or is undefined, or a negotiation structure of an unknown type. The text
    /// says what came back.
    Undecided(String),
    /// No usable answer (error, timeout, not RDP).
    Nothing,
}

/// The known protocol bits (MS-RDPBCGR 2.2.1.1.1).
const DEFINED: u32 = 0x1f;

fn answer(result: &NegotiationResult, requested: Protocols) -> Answer {
    match result {
        NegotiationResult::Confirm(ConnectionConfirm::Response { selected, .. }) => {
            let requested_or_rdp = *selected == Protocols::RDP
                || (selected.0 & !requested.0 == 0 && selected.0 & !DEFINED == 0);
            if requested_or_rdp {
                Answer::Selected(*selected)
            } else {
                Answer::Undecided(format!(
                    "the server selected 0x{:08x}, which was not requested (requested 0x{:08x})",
                    selected.0, requested.0
                ))
            }
        }
        NegotiationResult::Confirm(ConnectionConfirm::Failure(code)) => Answer::Failure(*code),
        NegotiationResult::Confirm(ConnectionConfirm::Legacy) => Answer::Legacy,
        NegotiationResult::Confirm(ConnectionConfirm::Unknown { neg_type, .. }) => {
            Answer::Undecided(format!(
                "the negotiation structure has type 0x{neg_type:02x}, which MS-RDPBCGR does not define"
            ))
        }
        NegotiationResult::NotRdp { .. } | NegotiationResult::Failed(_) => Answer::Nothing,
    }
}

fn describe(result: &NegotiationResult) -> String {
    match result {
        NegotiationResult::Confirm(ConnectionConfirm::Response { selected, .. }) => {
            format!("selected:{}", selected.selected_name())
        }
        NegotiationResult::Confirm(ConnectionConfirm::Failure(code)) => {
            format!("failure:{}", code.name())
        }
        NegotiationResult::Confirm(ConnectionConfirm::Legacy) => "legacy".to_owned(),
        NegotiationResult::Confirm(ConnectionConfirm::Unknown {
            neg_type,
            flags,
            data,
        }) => format!("unknown:type=0x{neg_type:02x},flags=0x{flags:02x},data=0x{data:08x}"),
        NegotiationResult::NotRdp { detail } => format!("not_rdp:{detail}"),
        NegotiationResult::Failed(e) => format!("error:{e}"),
    }
}

/// Builds the `security` section and its findings from the negotiation connections.
pub fn security(negotiations: &[Negotiation]) -> (Security, Vec<Finding>) {
    let mut sec = Security {
        probes: negotiations
            .iter()
            .map(|n| NegotiationProbe {
                requested: n.kind.requested().names(),
                result: describe(&n.result),
            })
            .collect(),
        failure_codes: negotiations
            .iter()
            .filter_map(|n| match &n.result {
                NegotiationResult::Confirm(ConnectionConfirm::Failure(code)) => {
                    Some(format!("{}:{}", n.kind.label(), code.name()))
                }
                _ => None,
            })
            .collect(),
        ..Security::default()
    };
    let find = |kind: NegotiationKind| {
        negotiations
            .iter()
            .find(|n| n.kind == kind)
            .map(|n| answer(&n.result, kind.requested()))
    };
    let mut undecided: Vec<String> = Vec::new();
    let mut findings = Vec::new();

    // The mstsc-like request (SSL | HYBRID | HYBRID_EX).
    let flags = negotiations
        .iter()
        .find(|n| n.kind == NegotiationKind::Nla)
        .and_then(|n| match n.result {
            NegotiationResult::Confirm(ConnectionConfirm::Response { flags, .. }) => Some(flags),
            _ => None,
        });
    match find(NegotiationKind::Nla) {
        Some(Answer::Selected(selected)) => {
            sec.selected = Some(selected.selected_name());
            sec.negotiation_flags = flags.map(|f| f.names()).unwrap_or_default();
            let hybrid =
                selected.contains(Protocols::HYBRID) || selected.contains(Protocols::HYBRID_EX);
            sec.protocols.credssp = Some(hybrid);
            sec.protocols.credssp_early_auth = Some(selected.contains(Protocols::HYBRID_EX));
            if selected == Protocols::SSL {
                sec.protocols.tls = Some(true);
            }
            if selected == Protocols::RDP {
                // Offered TLS and CredSSP, the server chose Standard RDP Security.
                sec.protocols.rdp = Some(true);
                sec.protocols.tls = Some(false);
            }
        }
        Some(Answer::Undecided(why)) => {
            if let Some(NegotiationResult::Confirm(ConnectionConfirm::Response {
                selected, ..
            })) = negotiations
                .iter()
                .find(|n| n.kind == NegotiationKind::Nla)
                .map(|n| &n.result)
            {
                sec.selected = Some(selected.selected_name());
            }
            sec.negotiation_flags = flags.map(|f| f.names()).unwrap_or_default();
            undecided.push(format!("nla: {why}"));
        }
        Some(Answer::Failure(code)) => match code {
            // No TLS, hence no CredSSP.
            NegFailure::SSL_NOT_ALLOWED_BY_SERVER | NegFailure::SSL_CERT_NOT_ON_SERVER => {
                sec.protocols.tls = Some(false);
                sec.protocols.credssp = Some(false);
                sec.protocols.credssp_early_auth = Some(false);
            }
            // CredSSP was offered and refused: the server demands TLS with client
            // certificate authentication instead (MS-RDPBCGR 2.2.1.2.2).
            NegFailure::SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER => {
                sec.protocols.credssp = Some(false);
                sec.protocols.credssp_early_auth = Some(false);
            }
            _ => {}
        },
        Some(Answer::Legacy) => {
            sec.selected = Some("rdp".to_owned());
            sec.protocols = crate::report::schema::Protocols {
                rdp: Some(true),
                tls: Some(false),
                credssp: Some(false),
                credssp_early_auth: Some(false),
                rdstls: Some(false),
                rdsaad: Some(false),
            };
            sec.nla = NlaVerdict::NotSupported;
            sec.nla_reason =
                Some("legacy server: no negotiation, Standard RDP Security only".into());
            findings.push(Finding::new(
                ids::LEGACY_SERVER,
                Severity::High,
                "The server ignores RDP negotiation (Windows 2000/XP/2003-era): Standard RDP Security only, no TLS, no NLA.",
            ));
            let findings = with_layer_findings(&sec, findings);
            return (sec, findings);
        }
        Some(Answer::Nothing) | None => {}
    }

    // SSL only.
    match find(NegotiationKind::Tls) {
        Some(Answer::Selected(p)) => sec.protocols.tls = Some(p == Protocols::SSL),
        Some(Answer::Failure(_)) => sec.protocols.tls = Some(false),
        Some(Answer::Undecided(why)) => undecided.push(format!("tls: {why}")),
        _ => {}
    }
    // Standard RDP Security only.
    match find(NegotiationKind::Rdp) {
        Some(Answer::Selected(p)) => sec.protocols.rdp = Some(p == Protocols::RDP),
        Some(Answer::Failure(_)) => sec.protocols.rdp = Some(false),
        Some(Answer::Legacy) => sec.protocols.rdp = Some(true),
        Some(Answer::Undecided(why)) => undecided.push(format!("rdp: {why}")),
        Some(Answer::Nothing) => {}
        // Not asked: the plan skips the RDP-only request once an SSL-only request was refused
        // with HYBRID_REQUIRED_BY_SERVER (MS-RDPBCGR 2.2.1.2.2: "the server requires that the
        // client support Enhanced RDP Security with CredSSP"): such a server refuses an
        // RDP-only request as well (measured on FreeRDP's server; Windows documents it).
        None => {
            if find(NegotiationKind::Tls)
                == Some(Answer::Failure(NegFailure::HYBRID_REQUIRED_BY_SERVER))
            {
                sec.protocols.rdp = Some(false);
            }
        }
    }
    for (kind, bit) in [
        (NegotiationKind::Rdstls, Protocols::RDSTLS),
        (NegotiationKind::Rdsaad, Protocols::RDSAAD),
    ] {
        let accepted = match find(kind) {
            Some(Answer::Selected(p)) => Some(p == bit),
            Some(Answer::Failure(_) | Answer::Legacy) => Some(false),
            _ => None,
        };
        match kind {
            NegotiationKind::Rdstls => sec.protocols.rdstls = accepted,
            _ => sec.protocols.rdsaad = accepted,
        }
    }

    let (nla, reason) = nla_verdict(&sec, negotiations);
    sec.nla = nla;
    sec.nla_reason = reason;
    if sec.nla == NlaVerdict::Unknown && !undecided.is_empty() {
        sec.nla_reason = Some(undecided.join("; "));
    }
    let findings = with_layer_findings(&sec, findings);
    (sec, findings)
}

fn nla_verdict(sec: &Security, negotiations: &[Negotiation]) -> (NlaVerdict, Option<String>) {
    let p = &sec.protocols;
    let unanswered: Vec<&str> = negotiations
        .iter()
        .filter(|n| matches!(answer(&n.result, n.kind.requested()), Answer::Nothing))
        .filter(|n| {
            matches!(
                n.kind,
                NegotiationKind::Nla | NegotiationKind::Tls | NegotiationKind::Rdp
            )
        })
        .map(|n| n.kind.label())
        .collect();
    match (p.credssp, p.tls, p.rdp) {
        (Some(false), ..) => (
            NlaVerdict::NotSupported,
            Some("the server did not select CredSSP when it was offered".into()),
        ),
        (Some(true), Some(false), Some(false)) => (
            NlaVerdict::Required,
            Some(format!(
                "TLS-only and RDP-only requests were refused ({})",
                sec.failure_codes.join(", ")
            )),
        ),
        (Some(true), Some(true), _) | (Some(true), _, Some(true)) => (
            NlaVerdict::Supported,
            Some(
                "CredSSP is selected when offered, but weaker security layers are accepted".into(),
            ),
        ),
        _ if !unanswered.is_empty() => (
            NlaVerdict::Unknown,
            Some(format!(
                "no answer to the {} request(s)",
                unanswered.join(", ")
            )),
        ),
        _ => (
            NlaVerdict::Unknown,
            Some("the negotiation answers do not decide it".into()),
        ),
    }
}

fn with_layer_findings(sec: &Security, mut findings: Vec<Finding>) -> Vec<Finding> {
    if matches!(sec.nla, NlaVerdict::Supported | NlaVerdict::NotSupported) {
        findings.push(Finding::new(
            ids::NLA_NOT_REQUIRED,
            Severity::Medium,
            "Network Level Authentication is not required: anyone can reach the logon screen; require NLA (System Properties > Remote > 'Allow connections only from computers running Remote Desktop with Network Level Authentication').",
        ));
    }
    if sec.protocols.rdp == Some(true) {
        findings.push(Finding::new(
            ids::STANDARD_RDP_SECURITY_ALLOWED,
            Severity::Medium,
            "Standard RDP Security (RC4, no server authentication) is accepted; set the security layer to SSL/TLS or Negotiate with NLA.",
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::StageError;
    use crate::proto::x224::NegFlags;

    fn selected(p: Protocols) -> NegotiationResult {
        NegotiationResult::Confirm(ConnectionConfirm::Response {
            flags: NegFlags(0),
            selected: p,
        })
    }

    fn failure(code: NegFailure) -> NegotiationResult {
        NegotiationResult::Confirm(ConnectionConfirm::Failure(code))
    }

    fn plan(
        nla: NegotiationResult,
        tls: NegotiationResult,
        rdp: NegotiationResult,
    ) -> Vec<Negotiation> {
        vec![
            Negotiation {
                kind: NegotiationKind::Nla,
                result: nla,
            },
            Negotiation {
                kind: NegotiationKind::Tls,
                result: tls,
            },
            Negotiation {
                kind: NegotiationKind::Rdp,
                result: rdp,
            },
        ]
    }

    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn nla_required_when_weaker_layers_are_refused() {
        // FreeRDP /sec:nla and Windows with NLA required.
        let (sec, findings) = security(&plan(
            selected(Protocols::HYBRID_EX),
            failure(NegFailure::HYBRID_REQUIRED_BY_SERVER),
            failure(NegFailure::HYBRID_REQUIRED_BY_SERVER),
        ));
        assert_eq!(sec.nla, NlaVerdict::Required);
        assert_eq!(sec.selected.as_deref(), Some("credssp_early_auth"));
        assert_eq!(sec.protocols.credssp, Some(true));
        assert_eq!(sec.protocols.credssp_early_auth, Some(true));
        assert_eq!(sec.protocols.tls, Some(false));
        assert_eq!(sec.protocols.rdp, Some(false));
        assert_eq!(sec.protocols.rdstls, None);
        assert_eq!(
            sec.failure_codes,
            [
                "tls:HYBRID_REQUIRED_BY_SERVER",
                "rdp:HYBRID_REQUIRED_BY_SERVER"
            ]
        );
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn nla_supported_when_tls_is_also_accepted() {
        let (sec, findings) = security(&plan(
            selected(Protocols::HYBRID),
            selected(Protocols::SSL),
            failure(NegFailure::SSL_REQUIRED_BY_SERVER),
        ));
        assert_eq!(sec.nla, NlaVerdict::Supported);
        assert_eq!(sec.protocols.credssp_early_auth, Some(false));
        assert_eq!(sec.protocols.tls, Some(true));
        assert_eq!(sec.protocols.rdp, Some(false));
        assert_eq!(ids(&findings), [ids::NLA_NOT_REQUIRED]);
    }

    #[test]
    fn a_server_that_picks_tls_over_credssp_has_no_nla() {
        // xrdp with security_layer=negotiate: TLS when CredSSP is offered, RDP when asked.
        let (sec, findings) = security(&plan(
            selected(Protocols::SSL),
            selected(Protocols::SSL),
            selected(Protocols::RDP),
        ));
        assert_eq!(sec.nla, NlaVerdict::NotSupported);
        assert_eq!(sec.protocols.credssp, Some(false));
        assert_eq!(sec.protocols.tls, Some(true));
        assert_eq!(sec.protocols.rdp, Some(true));
        assert_eq!(
            ids(&findings),
            [ids::NLA_NOT_REQUIRED, ids::STANDARD_RDP_SECURITY_ALLOWED]
        );
    }

    #[test]
    fn a_reply_is_not_acceptance_unless_the_protocol_was_selected() {
        // Asked for SSL only, the server answers "RDP": TLS is not accepted (nmap's bug).
        let (sec, _) = security(&plan(
            selected(Protocols::RDP),
            selected(Protocols::RDP),
            selected(Protocols::RDP),
        ));
        assert_eq!(sec.protocols.tls, Some(false));
        assert_eq!(sec.protocols.credssp, Some(false));
        assert_eq!(sec.protocols.rdp, Some(true));
        assert_eq!(sec.nla, NlaVerdict::NotSupported);
    }

    #[test]
    fn rdp_only_server_refusing_ssl() {
        let (sec, findings) = security(&plan(
            failure(NegFailure::SSL_NOT_ALLOWED_BY_SERVER),
            failure(NegFailure::SSL_NOT_ALLOWED_BY_SERVER),
            selected(Protocols::RDP),
        ));
        assert_eq!(sec.nla, NlaVerdict::NotSupported);
        assert_eq!(sec.protocols.tls, Some(false));
        assert_eq!(sec.protocols.rdp, Some(true));
        assert!(ids(&findings).contains(&ids::STANDARD_RDP_SECURITY_ALLOWED));
    }

    #[test]
    fn legacy_server() {
        let negs = vec![Negotiation {
            kind: NegotiationKind::Nla,
            result: NegotiationResult::Confirm(ConnectionConfirm::Legacy),
        }];
        let (sec, findings) = security(&negs);
        assert_eq!(sec.nla, NlaVerdict::NotSupported);
        assert_eq!(sec.protocols.rdp, Some(true));
        assert_eq!(sec.protocols.tls, Some(false));
        assert_eq!(sec.selected.as_deref(), Some("rdp"));
        assert_eq!(
            ids(&findings),
            [
                ids::LEGACY_SERVER,
                ids::NLA_NOT_REQUIRED,
                ids::STANDARD_RDP_SECURITY_ALLOWED
            ]
        );
    }

    #[test]
    fn unanswered_probes_make_the_verdict_unknown_with_a_reason() {
        let (sec, _) = security(&plan(
            selected(Protocols::HYBRID),
            NegotiationResult::Failed(StageError::Timeout(3000)),
            failure(NegFailure::HYBRID_REQUIRED_BY_SERVER),
        ));
        assert_eq!(sec.nla, NlaVerdict::Unknown);
        assert_eq!(sec.protocols.tls, None);
        assert!(
            sec.nla_reason.as_deref().is_some_and(|r| r.contains("tls")),
            "{:?}",
            sec.nla_reason
        );
        assert_eq!(sec.probes[1].result, "error:timed out after 3000 ms");
    }

    #[test]
    fn deep_probes_fill_rdstls_and_rdsaad() {
        let mut negs = plan(
            selected(Protocols::HYBRID),
            failure(NegFailure::HYBRID_REQUIRED_BY_SERVER),
            failure(NegFailure::HYBRID_REQUIRED_BY_SERVER),
        );
        negs.push(Negotiation {
            kind: NegotiationKind::Rdstls,
            result: selected(Protocols::RDSTLS),
        });
        negs.push(Negotiation {
            kind: NegotiationKind::Rdsaad,
            result: selected(Protocols::HYBRID),
        });
        let (sec, _) = security(&negs);
        assert_eq!(sec.protocols.rdstls, Some(true));
        // RDSAAD asked, HYBRID selected: a protocol never requested decides nothing.
        assert_eq!(sec.protocols.rdsaad, None);
        negs[4].result = failure(NegFailure::SSL_REQUIRED_BY_SERVER);
        assert_eq!(security(&negs).0.protocols.rdsaad, Some(false));
    }

    #[test]
    fn an_unknown_negotiation_type_is_rdp_but_decides_nothing() {
        let unknown = NegotiationResult::Confirm(ConnectionConfirm::Unknown {
            neg_type: 7,
            flags: 0,
            data: 0,
        });
        let (sec, findings) = security(&plan(unknown.clone(), unknown.clone(), unknown));
        assert_eq!(sec.nla, NlaVerdict::Unknown);
        assert_eq!(sec.protocols, crate::report::schema::Protocols::default());
        assert!(
            sec.nla_reason
                .as_deref()
                .is_some_and(|r| r.contains("type 0x07")),
            "{:?}",
            sec.nla_reason
        );
        assert_eq!(
            sec.probes[0].result,
            "unknown:type=0x07,flags=0x00,data=0x00000000"
        );
        assert!(findings.is_empty());
    }

    #[test]
    fn a_protocol_never_requested_or_undefined_decides_nothing() {
        for odd in [Protocols::RDSTLS, Protocols(0x20), Protocols(0x40)] {
            let (sec, findings) = security(&plan(
                selected(odd),
                selected(Protocols::SSL),
                selected(Protocols::RDP),
            ));
            assert_eq!(sec.nla, NlaVerdict::Unknown, "{odd:?}");
            assert_eq!(sec.protocols.credssp, None, "no protocol claimed false");
            assert_eq!(sec.protocols.credssp_early_auth, None);
            assert_eq!(
                sec.selected,
                Some(odd.selected_name()),
                "the raw value is kept"
            );
            assert!(
                sec.nla_reason
                    .as_deref()
                    .is_some_and(|r| r.contains(&format!("0x{:08x}", odd.0))),
                "{:?}",
                sec.nla_reason
            );
            // What the other requests proved still stands.
            assert_eq!(sec.protocols.tls, Some(true));
            assert_eq!(sec.protocols.rdp, Some(true));
            assert!(!findings.iter().any(|f| f.id == ids::NLA_NOT_REQUIRED));
        }
    }

    #[test]
    fn a_failure_that_refuses_credssp_decides_it() {
        let (sec, _) = security(&plan(
            failure(NegFailure::SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER),
            failure(NegFailure::SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER),
            failure(NegFailure::SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER),
        ));
        assert_eq!(sec.protocols.credssp, Some(false));
        assert_eq!(sec.nla, NlaVerdict::NotSupported);
        assert_eq!(sec.protocols.tls, Some(false));
        assert_eq!(sec.protocols.rdp, Some(false));
    }

    #[test]
    fn hybrid_required_to_tls_alone_refuses_rdp_without_asking() {
        // The plan skips the RDP-only request after HYBRID_REQUIRED_BY_SERVER.
        let mut negs = plan(
            selected(Protocols::HYBRID),
            failure(NegFailure::HYBRID_REQUIRED_BY_SERVER),
            selected(Protocols::RDP),
        );
        negs.pop();
        let (sec, findings) = security(&negs);
        assert_eq!(sec.protocols.rdp, Some(false));
        assert_eq!(sec.nla, NlaVerdict::Required);
        assert!(findings.is_empty());
        assert_eq!(sec.probes.len(), 2, "only what was asked is listed");
    }
}
