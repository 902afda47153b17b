//! TLS observations (what the TLS stage saw) and their analysis into the report's `tls` section
//! and findings.
//!
//! The observation types live here, not in `probe`, so that this module stays pure: `probe::tls`
//! fills them, [`tls_report`] reads them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use time::OffsetDateTime;

use crate::analysis::cert::{self, CertOptions, ParsedCert};
use crate::analysis::findings::{Finding, Severity, ids};
use crate::proto::tls::{Alert, AlertDescription, AlertLevel, CipherSuite, ProtocolVersion};
use crate::report::schema::{TlsReport, TrustReport};

/// The TLS implementation that completed a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// One trust verdict: `trusted`, or `untrusted: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TrustVerdict {
    Trusted,
    Untrusted(String),
}

impl TrustVerdict {
    pub fn is_trusted(&self) -> bool {
        matches!(self, TrustVerdict::Trusted)
    }
}

impl fmt::Display for TrustVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustVerdict::Trusted => f.write_str("trusted"),
            TrustVerdict::Untrusted(reason) => write!(f, "untrusted: {reason}"),
        }
    }
}

/// Chain verdicts against each trust store; `None` when that store was not checked (no
/// `--ca-file`, or no platform roots could be loaded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainTrust {
    pub platform: Option<TrustVerdict>,
    pub ca_file: Option<TrustVerdict>,
}

/// A completed TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsObservation {
    pub stack: TlsStack,
    pub version: ProtocolVersion,
    pub cipher: CipherSuite,
    /// The chain the server sent, DER, leaf first.
    pub chain_der: Vec<Vec<u8>>,
    /// Verdicts on `chain_der`.
    pub trust: ChainTrust,
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

/// Everything the TLS stage learned about one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsEvidence {
    /// The main handshake (rustls, or OpenSSL after a rustls failure).
    pub handshake: Option<TlsObservation>,
    /// Failed handshake attempts, in order.
    pub failures: Vec<HandshakeFailure>,
    /// Hand-built ClientHello probes.
    pub version_probes: Vec<VersionProbe>,
    /// Verdicts on the chain of a version probe, when no handshake completed.
    pub probe_chain_trust: Option<ChainTrust>,
}

impl TlsEvidence {
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

    /// The trust verdicts belonging to [`Self::chain`].
    pub fn chain_trust(&self) -> Option<&ChainTrust> {
        match &self.handshake {
            Some(h) if !h.chain_der.is_empty() => Some(&h.trust),
            _ => self.probe_chain_trust.as_ref(),
        }
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

/// The name verdict for the scanned name: `trusted`, or `untrusted: name mismatch: ...`.
pub fn name_verdict(cert: &ParsedCert, name: &str) -> TrustVerdict {
    if cert.names.matches(name) {
        TrustVerdict::Trusted
    } else {
        TrustVerdict::Untrusted(format!(
            "name mismatch: {name} is not among {}",
            describe_names(cert)
        ))
    }
}

/// `cert-name-mismatch` when `name` (the scanned host name, or later the NTLM DNS name, as
/// `source` says) is not a name the certificate is valid for.
pub fn name_mismatch_finding(cert: &ParsedCert, name: &str, source: &str) -> Option<Finding> {
    if cert.names.matches(name) {
        return None;
    }
    Some(Finding::new(
        ids::CERT_NAME_MISMATCH,
        Severity::Medium,
        format!(
            "certificate is not valid for the {source} {name}: it names {}",
            describe_names(cert)
        ),
    ))
}

fn describe_names(cert: &ParsedCert) -> String {
    let n = &cert.names;
    if n.dns.is_empty() && n.ips.is_empty() {
        if n.common_names.is_empty() {
            return "no names".into();
        }
        return format!("CN {}", n.common_names.join(", "));
    }
    let mut all: Vec<String> = n.dns.clone();
    all.extend(n.ips.iter().map(ToString::to_string));
    format!("SAN {}", all.join(", "))
}

/// Builds the report's `tls` section and the TLS and certificate findings.
///
/// `scanned_name` is the host name the user gave (None for address targets); `ip` the address
/// probed. The name verdict checks the host name, or else the address against iPAddress SANs;
/// `cert-name-mismatch` is raised only for host names (nobody expects a certificate to name an
/// address that was scanned as part of a range).
pub fn tls_report(
    evidence: &TlsEvidence,
    scanned_name: Option<&str>,
    ip: Option<IpAddr>,
    now: OffsetDateTime,
    opts: &CertOptions,
) -> (TlsReport, Vec<Finding>) {
    let mut report = TlsReport::default();
    let mut findings = Vec::new();

    if let Some(h) = &evidence.handshake {
        report.version = Some(h.version.to_string());
        report.cipher = Some(h.cipher.to_string());
        report.stack = Some(h.stack.as_str().to_owned());
    } else if !evidence.failures.is_empty() {
        let messages: Vec<String> = evidence
            .failures
            .iter()
            .map(|f| format!("{}: {}", f.stack.as_str(), f.message))
            .collect();
        report.error = Some(messages.join("; "));
    }

    let known = version_knowledge(evidence);
    report.versions = known
        .iter()
        .filter(|(_, ok)| **ok)
        .map(|(v, _)| v.to_string())
        .collect();
    report.versions_probed = known.keys().map(ToString::to_string).collect();
    let deprecated: Vec<String> = known
        .iter()
        .filter(|(v, ok)| **ok && v.is_deprecated())
        .map(|(v, _)| {
            if v.name() == Some("ssl3") {
                "SSL 3.0".to_owned()
            } else {
                format!("TLS {v}")
            }
        })
        .collect();
    if !deprecated.is_empty() {
        findings.push(Finding::new(
            ids::TLS_DEPRECATED_VERSION,
            Severity::Medium,
            format!(
                "server accepts deprecated {} (RFC 8996)",
                deprecated.join(" and ")
            ),
        ));
    }

    let Some(chain) = evidence.chain() else {
        return (report, findings);
    };
    let Some((leaf_der, rest)) = chain.split_first() else {
        return (report, findings);
    };
    report.chain = rest.iter().map(|der| cert::chain_entry(der)).collect();
    let leaf = match cert::parse_certificate(leaf_der, now) {
        Ok(leaf) => leaf,
        Err(e) => {
            let msg = format!("server certificate unreadable: {e}");
            report.error = Some(match report.error.take() {
                Some(prev) => format!("{prev}; {msg}"),
                None => msg,
            });
            return (report, findings);
        }
    };
    let intermediates: Vec<ParsedCert> = rest
        .iter()
        .filter_map(|der| cert::parse_certificate(der, now).ok())
        .collect();
    findings.extend(cert::certificate_findings(&leaf, &intermediates, now, opts));

    let trust = evidence.chain_trust().cloned().unwrap_or_default();
    let name_checked = scanned_name
        .map(str::to_owned)
        .or_else(|| ip.map(|ip| ip.to_string()));
    let name = name_checked.as_deref().map(|n| name_verdict(&leaf, n));
    let verdicts: Vec<(&str, &TrustVerdict)> = [
        ("platform store", trust.platform.as_ref()),
        ("--ca-file", trust.ca_file.as_ref()),
    ]
    .into_iter()
    .filter_map(|(store, v)| v.map(|v| (store, v)))
    .collect();
    if !verdicts.is_empty() && !verdicts.iter().any(|(_, v)| v.is_trusted()) {
        let reasons: Vec<String> = verdicts
            .iter()
            .map(|(store, v)| match v {
                TrustVerdict::Untrusted(r) => format!("{store}: {r}"),
                TrustVerdict::Trusted => format!("{store}: trusted"),
            })
            .collect();
        findings.push(Finding::new(
            ids::CERT_UNTRUSTED,
            Severity::Medium,
            format!("certificate chain does not verify ({})", reasons.join("; ")),
        ));
    }
    if let Some(host) = scanned_name
        && let Some(f) = name_mismatch_finding(&leaf, host, "scanned host name")
    {
        findings.push(f);
    }
    report.trust = Some(TrustReport {
        platform: trust.platform.as_ref().map(ToString::to_string),
        ca_file: trust.ca_file.as_ref().map(ToString::to_string),
        name: name.map(|v| v.to_string()),
    });
    report.certificate = Some(leaf.report);
    (report, findings)
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
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2027-01-01 00:00:00 UTC);

    /// DER of a PEM fixture (compiled in: the pure core reads no files, even in tests).
    fn der(pem: &[u8]) -> Vec<u8> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem).expect("PEM");
        pem.contents
    }

    fn handshake(
        stack: TlsStack,
        version: V,
        chain: Vec<Vec<u8>>,
        trust: ChainTrust,
    ) -> TlsObservation {
        TlsObservation {
            stack,
            version,
            cipher: CipherSuite(0xC02F),
            chain_der: chain,
            trust,
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

    fn untrusted(r: &str) -> Option<TrustVerdict> {
        Some(TrustVerdict::Untrusted(r.into()))
    }

    fn ids_of(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn knowledge_from_handshakes_and_probes() {
        // rustls got 1.3: 1.3 accepted; nothing else decided.
        let mut e = TlsEvidence {
            handshake: Some(handshake(
                TlsStack::Rustls,
                V::TLS1_3,
                vec![],
                ChainTrust::default(),
            )),
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
        let rustls13 = handshake(TlsStack::Rustls, V::TLS1_3, vec![], ChainTrust::default());
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
                handshake: handshake_version
                    .map(|v| handshake(TlsStack::Openssl, v, vec![], ChainTrust::default())),
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
    fn legacy_host_report() {
        // A TLS 1.0-only host: rustls fails on the version, OpenSSL completes TLS 1.0.
        let cert = der(include_bytes!(
            "../../fixtures/tls/rsa1024-sha1-selfsigned.pem"
        ));
        let e = TlsEvidence {
            handshake: Some(handshake(
                TlsStack::Openssl,
                V::TLS1_0,
                vec![cert],
                ChainTrust {
                    platform: untrusted("unknown issuer"),
                    ca_file: None,
                },
            )),
            failures: vec![HandshakeFailure {
                stack: TlsStack::Rustls,
                kind: HandshakeFailureKind::ProtocolVersion,
                message: "peer is incompatible: ServerDoesNotSupportTls12Or13".into(),
            }],
            ..Default::default()
        };
        let (r, f) = tls_report(
            &e,
            None,
            Some("127.0.0.1".parse().unwrap()),
            NOW,
            &CertOptions::default(),
        );
        assert_eq!(r.version.as_deref(), Some("1.0"));
        assert_eq!(r.stack.as_deref(), Some("openssl"));
        assert_eq!(r.versions, vec!["1.0"]);
        assert_eq!(r.versions_probed, vec!["1.0", "1.1", "1.2", "1.3"]);
        assert_eq!(
            ids_of(&f),
            vec![
                ids::TLS_DEPRECATED_VERSION,
                ids::CERT_SELF_SIGNED,
                ids::CERT_WEAK_KEY,
                ids::CERT_WEAK_SIGNATURE,
                ids::CERT_UNTRUSTED
            ]
        );
        assert!(f[0].message.contains("TLS 1.0"), "{}", f[0].message);
        let trust = r.trust.unwrap();
        assert_eq!(trust.platform.as_deref(), Some("untrusted: unknown issuer"));
        assert_eq!(trust.ca_file, None);
        // Scanned by address: the name verdict checks IP SANs (this certificate has 127.0.0.1),
        // and no cert-name-mismatch is raised for addresses.
        assert_eq!(trust.name.as_deref(), Some("trusted"));
        let cert = r.certificate.unwrap();
        assert_eq!(cert.sha1, "B2E699B4C33CB05C0A55390E74F51AFADEDB810F");
    }

    #[test]
    fn ca_signed_host_with_ca_file_and_names() {
        let chain = vec![
            der(include_bytes!("../../fixtures/tls/ca-signed-leaf.pem")),
            der(include_bytes!("../../fixtures/tls/ca.pem")),
        ];
        let e = TlsEvidence {
            handshake: Some(handshake(
                TlsStack::Rustls,
                V::TLS1_3,
                chain,
                ChainTrust {
                    platform: untrusted("unknown issuer"),
                    ca_file: Some(TrustVerdict::Trusted),
                },
            )),
            ..Default::default()
        };
        let (r, f) = tls_report(
            &e,
            Some("rdp.example.test"),
            None,
            NOW,
            &CertOptions::default(),
        );
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(
            r.cipher.as_deref(),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        );
        assert_eq!(r.chain.len(), 1);
        assert_eq!(r.chain[0].subject, "CN=rdpsweep Test CA, O=rdpsweep");
        let t = r.trust.unwrap();
        assert_eq!(t.ca_file.as_deref(), Some("trusted"));
        assert_eq!(t.name.as_deref(), Some("trusted"));

        // Scanned under another host name: a mismatch, with the names the certificate has.
        let (r, f) = tls_report(
            &e,
            Some("other.example.test"),
            None,
            NOW,
            &CertOptions::default(),
        );
        assert_eq!(ids_of(&f), vec![ids::CERT_NAME_MISMATCH]);
        assert!(f[0].message.contains("other.example.test"));
        assert!(f[0].message.contains("rdp.example.test"));
        assert!(
            r.trust
                .unwrap()
                .name
                .unwrap()
                .starts_with("untrusted: name mismatch")
        );

        // Without any trusted verdict: cert-untrusted, naming each store's reason.
        let mut e2 = e.clone();
        e2.handshake.as_mut().unwrap().trust.ca_file = untrusted("expired");
        let (_, f) = tls_report(
            &e2,
            Some("rdp.example.test"),
            None,
            NOW,
            &CertOptions::default(),
        );
        assert_eq!(ids_of(&f), vec![ids::CERT_UNTRUSTED]);
        assert!(f[0].message.contains("platform store: unknown issuer"));
        assert!(f[0].message.contains("--ca-file: expired"));
    }

    #[test]
    fn certificate_from_a_version_probe_only() {
        // No handshake completed, but a probe read the certificate.
        let e = TlsEvidence {
            failures: vec![
                HandshakeFailure {
                    stack: TlsStack::Rustls,
                    kind: HandshakeFailureKind::ProtocolVersion,
                    message: "v".into(),
                },
                HandshakeFailure {
                    stack: TlsStack::Openssl,
                    kind: HandshakeFailureKind::Other,
                    message: "o".into(),
                },
            ],
            version_probes: vec![VersionProbe {
                offered_max: V::TLS1_1,
                outcome: selected(V::TLS1_0),
                chain_der: vec![der(include_bytes!(
                    "../../fixtures/tls/ec-p256-cn-only.pem"
                ))],
            }],
            probe_chain_trust: Some(ChainTrust {
                platform: untrusted("unknown issuer"),
                ca_file: None,
            }),
            ..Default::default()
        };
        let (r, f) = tls_report(
            &e,
            Some("cn-only.example.test"),
            None,
            NOW,
            &CertOptions::default(),
        );
        assert_eq!(r.version, None);
        assert_eq!(r.stack, None);
        assert_eq!(r.error.as_deref(), Some("rustls: v; openssl: o"));
        assert_eq!(r.versions, vec!["1.0"]);
        assert_eq!(r.versions_probed, vec!["1.0", "1.1", "1.2", "1.3"]);
        assert_eq!(
            r.certificate.as_ref().unwrap().subject_cn.as_deref(),
            Some("cn-only.example.test")
        );
        assert_eq!(
            r.trust.unwrap().name.as_deref(),
            Some("trusted"),
            "CN fallback"
        );
        assert!(ids_of(&f).contains(&ids::CERT_UNTRUSTED));
    }

    #[test]
    fn unreadable_certificate_and_nothing_at_all() {
        let e = TlsEvidence {
            version_probes: vec![VersionProbe {
                offered_max: V::TLS1_2,
                outcome: selected(V::TLS1_2),
                chain_der: vec![b"not a certificate".to_vec()],
            }],
            ..Default::default()
        };
        let (r, _) = tls_report(&e, None, None, NOW, &CertOptions::default());
        assert!(
            r.error
                .unwrap()
                .starts_with("server certificate unreadable")
        );
        assert!(r.certificate.is_none());
        let (r, f) = tls_report(
            &TlsEvidence::default(),
            None,
            None,
            NOW,
            &CertOptions::default(),
        );
        assert_eq!(r, TlsReport::default());
        assert!(f.is_empty());
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
