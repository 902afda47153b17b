//! The security-layer verdicts (MS-RDPBCGR 2.2.1.2): which protocols the server accepts and
//! whether it requires NLA, decided from what the server *selected*, never from the mere fact
//! that it replied (nmap's rdp-enum-encryption reports success for protocols the server did
//! not select).

use super::findings::{Finding, Severity, ids};
use crate::observe::{Negotiation, NegotiationKind, NegotiationResult};
use crate::proto::x224::{ConnectionConfirm, NegFailure, Protocols};
use crate::report::schema::{NegotiationProbe, NlaVerdict, Security};

/// What one request told us about the protocol(s) it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// The server selected this protocol.
    Selected(Protocols),
    Failure(NegFailure),
    Legacy,
    /// No usable answer (error, timeout, not RDP).
    Nothing,
}

fn answer(result: &NegotiationResult) -> Answer {
    match result {
        NegotiationResult::Confirm(ConnectionConfirm::Response { selected, .. }) => {
            Answer::Selected(*selected)
        }
        NegotiationResult::Confirm(ConnectionConfirm::Failure(code)) => Answer::Failure(*code),
        NegotiationResult::Confirm(ConnectionConfirm::Legacy) => Answer::Legacy,
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
    let find = |kind| {
        negotiations
            .iter()
            .find(|n| n.kind == kind)
            .map(|n| answer(&n.result))
    };
    let mut findings = Vec::new();

    // The mstsc-like request (SSL | HYBRID | HYBRID_EX).
    match negotiations.iter().find(|n| n.kind == NegotiationKind::Nla) {
        Some(Negotiation {
            result: NegotiationResult::Confirm(ConnectionConfirm::Response { flags, selected }),
            ..
        }) => {
            sec.selected = Some(selected.selected_name());
            sec.negotiation_flags = flags.names();
            let hybrid =
                selected.contains(Protocols::HYBRID) || selected.contains(Protocols::HYBRID_EX);
            sec.protocols.credssp = Some(hybrid);
            sec.protocols.credssp_early_auth = Some(selected.contains(Protocols::HYBRID_EX));
            if *selected == Protocols::SSL {
                sec.protocols.tls = Some(true);
            }
            if *selected == Protocols::RDP {
                // Offered TLS and CredSSP, the server chose Standard RDP Security.
                sec.protocols.rdp = Some(true);
                sec.protocols.tls = Some(false);
            }
        }
        Some(Negotiation {
            result: NegotiationResult::Confirm(ConnectionConfirm::Failure(code)),
            ..
        }) => {
            // SSL_NOT_ALLOWED_BY_SERVER / SSL_CERT_NOT_ON_SERVER: no TLS, hence no CredSSP.
            if matches!(
                *code,
                NegFailure::SSL_NOT_ALLOWED_BY_SERVER | NegFailure::SSL_CERT_NOT_ON_SERVER
            ) {
                sec.protocols.tls = Some(false);
                sec.protocols.credssp = Some(false);
                sec.protocols.credssp_early_auth = Some(false);
            }
        }
        Some(Negotiation {
            result: NegotiationResult::Confirm(ConnectionConfirm::Legacy),
            ..
        }) => {
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
        _ => {}
    }

    // SSL only.
    match find(NegotiationKind::Tls) {
        Some(Answer::Selected(p)) => sec.protocols.tls = Some(p == Protocols::SSL),
        Some(Answer::Failure(_)) => sec.protocols.tls = Some(false),
        _ => {}
    }
    // Standard RDP Security only.
    match find(NegotiationKind::Rdp) {
        Some(Answer::Selected(p)) => sec.protocols.rdp = Some(p == Protocols::RDP),
        Some(Answer::Failure(_)) => sec.protocols.rdp = Some(false),
        Some(Answer::Legacy) => sec.protocols.rdp = Some(true),
        _ => {}
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
    let findings = with_layer_findings(&sec, findings);
    (sec, findings)
}

fn nla_verdict(sec: &Security, negotiations: &[Negotiation]) -> (NlaVerdict, Option<String>) {
    let p = &sec.protocols;
    let unanswered: Vec<&str> = negotiations
        .iter()
        .filter(|n| matches!(answer(&n.result), Answer::Nothing))
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
        assert_eq!(sec.protocols.rdsaad, Some(false));
    }
}
