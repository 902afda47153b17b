//! TLS observations: what the TLS steps saw (handshakes, failures, hand-built hellos), and
//! what that evidence proves about each protocol version. Pure data and pure functions; the
//! driver (`crate::probe::tls`) fills the data, the plan and the analysis read it.

use std::collections::BTreeMap;

use super::{Connection, Purpose, Upgrade};
use crate::proto::tls::{Alert, AlertDescription, AlertLevel, CipherSuite, ProtocolVersion};

/// How many TLS versions to decide with hand-built hellos (`--tls-versions`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsVersionMode {
    /// Decide each of TLS 1.0, 1.1, 1.2 and 1.3 (the default; within the probe's budget of 5
    /// connections per endpoint).
    #[default]
    #[value(alias = "default")]
    All,
    /// The negotiated version plus one hello that decides whether TLS 1.1 or 1.0 is accepted
    /// (at most one extra connection); TLS 1.2 may stay undecided on a TLS 1.3 server.
    Quick,
}

/// The TLS implementation that completed a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsStack {
    Rustls,
    Openssl,
}

impl TlsStack {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsStack::Rustls => "rustls",
            TlsStack::Openssl => "openssl",
        }
    }
}

/// A completed TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsObservation {
    pub stack: TlsStack,
    pub version: ProtocolVersion,
    pub cipher: CipherSuite,
    /// The chain the server sent, DER, leaf first.
    pub chain_der: Vec<Vec<u8>>,
}

/// Why a handshake attempt failed, in the categories that decide what to try next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeFailureKind {
    /// The server chose a version the stack cannot speak (below TLS 1.2 for rustls).
    ProtocolVersion,
    /// No common cipher suite, signature scheme or group, or a handshake_failure /
    /// insufficient_security alert.
    NoSharedParameters,
    /// The server closed or reset the connection during the handshake.
    Closed,
    Timeout,
    /// Anything else (protocol violations, I/O errors).
    Other,
}

/// A failed handshake attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeFailure {
    pub stack: TlsStack,
    pub kind: HandshakeFailureKind,
    pub message: String,
}

impl HandshakeFailure {
    /// Whether the legacy (OpenSSL) stack may succeed where this attempt failed.
    pub fn legacy_may_help(&self) -> bool {
        self.stack == TlsStack::Rustls
            && matches!(
                self.kind,
                HandshakeFailureKind::ProtocolVersion
                    | HandshakeFailureKind::NoSharedParameters
                    | HandshakeFailureKind::Closed
            )
    }
}

/// The outcome of one hand-built ClientHello (see `proto::tls::client_hello`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionOutcome {
    /// The server answered with a ServerHello selecting this version and suite.
    Selected {
        version: ProtocolVersion,
        cipher: CipherSuite,
    },
    /// The server answered with an alert.
    Alert(Alert),
    /// The server closed or reset the connection without answering.
    Closed,
    Timeout,
    /// The answer could not be read (not TLS, malformed, ...).
    Error(String),
}

/// One version probe: the highest version offered, and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionProbe {
    pub offered_max: ProtocolVersion,
    pub outcome: VersionOutcome,
    /// The certificate chain of the server's Certificate message (empty for TLS 1.3 or when
    /// none came).
    pub chain_der: Vec<Vec<u8>>,
}

/// Everything the TLS stage learned about one endpoint: a view of the connection log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsEvidence {
    /// The main handshake (rustls, or OpenSSL after a rustls failure).
    pub handshake: Option<TlsObservation>,
    /// Failed handshake attempts, in order.
    pub failures: Vec<HandshakeFailure>,
    /// Hand-built ClientHello probes, in order.
    pub version_probes: Vec<VersionProbe>,
}

impl TlsEvidence {
    /// The TLS evidence of the plan's connections (the negotiation probes and the extra TLS
    /// connections; emulated CredSSP legs are not TLS evidence), or `None` when no TLS step
    /// was attempted.
    pub fn from_log(connections: &[Connection]) -> Option<Self> {
        let mut evidence = Self::default();
        let mut any = false;
        for c in connections {
            let tls_connection = match c.purpose {
                Purpose::Negotiation => false,
                Purpose::LegacyHandshake | Purpose::VersionHello(_) => true,
                Purpose::EmulatedCredssp { .. } | Purpose::RdpMethod(_) => continue,
            };
            match &c.upgrade {
                Some(Upgrade::Handshake(Ok(h))) => evidence.handshake = Some(h.clone()),
                Some(Upgrade::Handshake(Err(f))) => evidence.failures.push(f.clone()),
                Some(Upgrade::Hello(p)) => evidence.version_probes.push(p.clone()),
                // An extra TLS connection on which TLS never started: its step failed.
                None if tls_connection => {
                    let why = match &c.answer {
                        Err(e) => e.to_string(),
                        Ok(answer) => format!("negotiation answered {answer:?}"),
                    };
                    match c.purpose {
                        Purpose::VersionHello(max) => evidence.version_probes.push(VersionProbe {
                            offered_max: max,
                            outcome: VersionOutcome::Error(format!("no TLS connection: {why}")),
                            chain_der: Vec::new(),
                        }),
                        _ => evidence.failures.push(HandshakeFailure {
                            stack: TlsStack::Openssl,
                            kind: HandshakeFailureKind::Other,
                            message: format!("no TLS connection for the legacy handshake: {why}"),
                        }),
                    }
                }
                None => continue,
            }
            any = true;
        }
        any.then_some(evidence)
    }

    /// The certificate chain to report: the handshake's, or else the first probe's.
    pub fn chain(&self) -> Option<&[Vec<u8>]> {
        if let Some(h) = self.handshake.as_ref().filter(|h| !h.chain_der.is_empty()) {
            return Some(&h.chain_der);
        }
        self.version_probes
            .iter()
            .find(|p| !p.chain_der.is_empty())
            .map(|p| p.chain_der.as_slice())
    }
}

/// The highest version rustls offers.
const RUSTLS_MAX: ProtocolVersion = ProtocolVersion::TLS1_3;
/// The highest version the OpenSSL fallback offers.
const OPENSSL_MAX: ProtocolVersion = ProtocolVersion::TLS1_3;

/// What the evidence proves about each version: `true` accepted, `false` refused; versions
/// absent were not decided.
///
/// A server answers a ClientHello offering up to `max` with the highest version it supports
/// that is not above `max` (RFC 5246 E.1, RFC 8446 4.2.1), so a selection of `v` proves `v`
/// accepted and everything in `(v, max]` refused; an alert or a closed connection in reply
/// to a hello offering up to `max` proves every version from TLS 1.0 to `max` refused (the
/// hello offers a cipher list broad enough for any Windows release). A fatal `internal_error`
/// alert refuses them too, but only when a version above `max` is proven accepted (see
/// [`is_conditional_refusal_alert`]); other alerts prove nothing. A direct acceptance wins
/// over an inferred refusal.
pub fn version_knowledge(evidence: &TlsEvidence) -> BTreeMap<ProtocolVersion, bool> {
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    let mut selected = |v: ProtocolVersion, max: ProtocolVersion, refused: &mut Vec<_>| {
        if v > max {
            return;
        }
        accepted.push(v);
        refused.extend(
            ProtocolVersion::KNOWN
                .into_iter()
                .filter(|k| *k > v && *k <= max),
        );
    };
    if let Some(h) = &evidence.handshake {
        let max = match h.stack {
            TlsStack::Rustls => RUSTLS_MAX,
            TlsStack::Openssl => OPENSSL_MAX,
        };
        selected(h.version, max, &mut refused);
    }
    let up_to = |max: ProtocolVersion| {
        ProtocolVersion::KNOWN
            .into_iter()
            .filter(move |k| *k >= ProtocolVersion::TLS1_0 && *k <= max)
    };
    for p in &evidence.version_probes {
        match &p.outcome {
            VersionOutcome::Selected { version, .. } => {
                selected(*version, p.offered_max, &mut refused)
            }
            VersionOutcome::Alert(a) if is_refusal_alert(a) => refused.extend(up_to(p.offered_max)),
            VersionOutcome::Closed => refused.extend(up_to(p.offered_max)),
            VersionOutcome::Alert(_) | VersionOutcome::Timeout | VersionOutcome::Error(_) => {}
        }
    }
    // Once every direct acceptance is known: an internal_error to a hello capped below a
    // version the server completes handshakes at is that server refusing the lower versions.
    for p in &evidence.version_probes {
        if let VersionOutcome::Alert(a) = &p.outcome
            && is_conditional_refusal_alert(a)
            && accepted.iter().any(|v| *v > p.offered_max)
        {
            refused.extend(up_to(p.offered_max));
        }
    }
    // rustls offers 1.2 and 1.3 only; a protocol-version failure means the server's best is
    // below 1.2.
    if evidence
        .failures
        .iter()
        .any(|f| f.stack == TlsStack::Rustls && f.kind == HandshakeFailureKind::ProtocolVersion)
    {
        refused.extend([ProtocolVersion::TLS1_2, ProtocolVersion::TLS1_3]);
    }
    let mut known = BTreeMap::new();
    for v in refused {
        known.insert(v, false);
    }
    for v in accepted {
        known.insert(v, true);
    }
    known
}

/// Whether an alert means a refusal of the offered versions only when the server is proven to
/// complete handshakes at a higher version: a fatal `internal_error`.
///
/// An OpenSSL 3.0 server whose protocol range still includes TLS 1.0/1.1 but whose security
/// level is 1 or more (FreeRDP 2.11's server on Debian 12, measured) selects the version and
/// then finds no signature algorithm it may use (TLS 1.0/1.1 sign with MD5+SHA-1, under 80 bits
/// of security): it answers any hello capped at 1.1 or 1.0 with `internal_error`
/// (`NO_SUITABLE_SIGNATURE_ALGORITHM`), whatever suites are offered, RSA key exchange included.
/// No client limited to those versions can connect. (OpenSSL 3.6 refuses the same hello with
/// `protocol_version`.) Alone, the alert could be a broken server; next to a completed
/// handshake at a higher version it is this refusal.
pub fn is_conditional_refusal_alert(alert: &Alert) -> bool {
    alert.level == AlertLevel::FATAL && alert.description == AlertDescription::INTERNAL_ERROR
}

/// Whether an alert means "no version or suite in common" (as opposed to a broken peer).
pub fn is_refusal_alert(alert: &Alert) -> bool {
    matches!(
        alert.description,
        AlertDescription::PROTOCOL_VERSION
            | AlertDescription::HANDSHAKE_FAILURE
            | AlertDescription::INSUFFICIENT_SECURITY
            | AlertDescription::ILLEGAL_PARAMETER
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tls::{AlertLevel, ProtocolVersion as V};

    fn handshake(stack: TlsStack, version: V) -> TlsObservation {
        TlsObservation {
            stack,
            version,
            cipher: CipherSuite(0xC02F),
            chain_der: vec![],
        }
    }

    fn probe(max: V, outcome: VersionOutcome) -> VersionProbe {
        VersionProbe {
            offered_max: max,
            outcome,
            chain_der: vec![],
        }
    }

    fn selected(v: V) -> VersionOutcome {
        VersionOutcome::Selected {
            version: v,
            cipher: CipherSuite(0x002F),
        }
    }

    #[test]
    fn knowledge_from_handshakes_and_probes() {
        // rustls got 1.3: 1.3 accepted; nothing else decided.
        let mut e = TlsEvidence {
            handshake: Some(handshake(TlsStack::Rustls, V::TLS1_3)),
            ..Default::default()
        };
        assert_eq!(version_knowledge(&e), BTreeMap::from([(V::TLS1_3, true)]));
        // rustls got 1.2: 1.3 refused.
        e.handshake.as_mut().unwrap().version = V::TLS1_2;
        assert_eq!(
            version_knowledge(&e),
            BTreeMap::from([(V::TLS1_2, true), (V::TLS1_3, false)])
        );
        // A 1.1 hello answered with 1.0: 1.0 accepted, 1.1 refused.
        e.version_probes.push(probe(V::TLS1_1, selected(V::TLS1_0)));
        assert_eq!(
            version_knowledge(&e),
            BTreeMap::from([
                (V::TLS1_0, true),
                (V::TLS1_1, false),
                (V::TLS1_2, true),
                (V::TLS1_3, false)
            ])
        );
        // A refusal alert to a 1.1 hello refuses 1.0 and 1.1; a non-refusal alert proves
        // nothing; a closed connection refuses; a timeout proves nothing.
        let refusal = VersionOutcome::Alert(Alert {
            level: AlertLevel::FATAL,
            description: AlertDescription::PROTOCOL_VERSION,
        });
        let odd = VersionOutcome::Alert(Alert {
            level: AlertLevel::FATAL,
            description: AlertDescription::INTERNAL_ERROR,
        });
        for (outcome, expect) in [
            (refusal, Some(false)),
            (VersionOutcome::Closed, Some(false)),
            (odd, None),
            (VersionOutcome::Timeout, None),
            (VersionOutcome::Error("x".into()), None),
        ] {
            let e = TlsEvidence {
                version_probes: vec![probe(V::TLS1_1, outcome.clone())],
                ..Default::default()
            };
            let k = version_knowledge(&e);
            assert_eq!(k.get(&V::TLS1_0).copied(), expect, "{outcome:?}");
            assert_eq!(k.get(&V::TLS1_1).copied(), expect, "{outcome:?}");
            assert_eq!(k.get(&V::TLS1_2), None);
        }
        // A selection above the offer is ignored (a broken server proves nothing).
        let e = TlsEvidence {
            version_probes: vec![probe(V::TLS1_0, selected(V::TLS1_2))],
            ..Default::default()
        };
        assert!(version_knowledge(&e).is_empty());
    }

    #[test]
    fn internal_error_refuses_below_a_proven_version() {
        // FreeRDP's server (OpenSSL 3, TLS 1.0 allowed, security level 1) answers a hello
        // capped at 1.1 with a fatal internal_error (no signature algorithm for TLS 1.0/1.1).
        let internal = |level| {
            VersionOutcome::Alert(Alert {
                level,
                description: AlertDescription::INTERNAL_ERROR,
            })
        };
        let rustls13 = handshake(TlsStack::Rustls, V::TLS1_3);
        // Default mode: rustls 1.3, then the 1.1 hello: 1.0 and 1.1 refused.
        let mut e = TlsEvidence {
            handshake: Some(rustls13.clone()),
            version_probes: vec![probe(V::TLS1_1, internal(AlertLevel::FATAL))],
            ..Default::default()
        };
        assert_eq!(
            version_knowledge(&e),
            BTreeMap::from([(V::TLS1_0, false), (V::TLS1_1, false), (V::TLS1_3, true)])
        );
        // --tls-versions all: the 1.2 hello proves 1.2; the 1.1 hello's alert refuses 1.1 and
        // 1.0, so no 1.0 hello is needed. The order of the probes does not matter.
        e.version_probes
            .insert(0, probe(V::TLS1_2, selected(V::TLS1_2)));
        let all = BTreeMap::from([
            (V::TLS1_0, false),
            (V::TLS1_1, false),
            (V::TLS1_2, true),
            (V::TLS1_3, true),
        ]);
        assert_eq!(version_knowledge(&e), all);
        e.version_probes.reverse();
        assert_eq!(version_knowledge(&e), all);
        // A proven acceptance above the offer from a probe alone is enough.
        let e = TlsEvidence {
            version_probes: vec![
                probe(V::TLS1_1, internal(AlertLevel::FATAL)),
                probe(V::TLS1_2, selected(V::TLS1_2)),
            ],
            ..Default::default()
        };
        assert_eq!(version_knowledge(&e).get(&V::TLS1_0), Some(&false));
        // Without an acceptance above the offer it proves nothing: alone, or when the best
        // proven version is the offered one (a broken server, not a version refusal).
        for handshake_version in [None, Some(V::TLS1_1)] {
            let e = TlsEvidence {
                handshake: handshake_version.map(|v| handshake(TlsStack::Openssl, v)),
                version_probes: vec![probe(V::TLS1_1, internal(AlertLevel::FATAL))],
                ..Default::default()
            };
            let k = version_knowledge(&e);
            assert_ne!(
                k.get(&V::TLS1_1),
                Some(&false),
                "{handshake_version:?}: {k:?}"
            );
            assert_ne!(
                k.get(&V::TLS1_0),
                Some(&false),
                "{handshake_version:?}: {k:?}"
            );
        }
        // A warning-level internal_error proves nothing either.
        let e = TlsEvidence {
            handshake: Some(rustls13),
            version_probes: vec![probe(V::TLS1_1, internal(AlertLevel::WARNING))],
            ..Default::default()
        };
        assert_eq!(version_knowledge(&e), BTreeMap::from([(V::TLS1_3, true)]));
    }

    #[test]
    fn legacy_fallback_decision() {
        let f = |stack, kind| HandshakeFailure {
            stack,
            kind,
            message: String::new(),
        };
        assert!(f(TlsStack::Rustls, HandshakeFailureKind::ProtocolVersion).legacy_may_help());
        assert!(f(TlsStack::Rustls, HandshakeFailureKind::NoSharedParameters).legacy_may_help());
        assert!(f(TlsStack::Rustls, HandshakeFailureKind::Closed).legacy_may_help());
        assert!(!f(TlsStack::Rustls, HandshakeFailureKind::Timeout).legacy_may_help());
        assert!(!f(TlsStack::Openssl, HandshakeFailureKind::ProtocolVersion).legacy_may_help());
    }
}
