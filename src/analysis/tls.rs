//! The TLS evidence (`crate::observe::tls`) analysed into the report's `tls` section and the
//! TLS and certificate findings.

use std::net::IpAddr;

use time::OffsetDateTime;

use crate::analysis::cert::{self, CertOptions, ParsedCert};
use crate::analysis::findings::{Finding, Severity, ids};
use crate::analysis::trust::{ChainTrust, TrustVerdict};
use crate::observe::tls::{TlsEvidence, version_knowledge};
use crate::proto::tls::ProtocolVersion;
use crate::report::schema::{TlsReport, TrustReport};

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

/// Two DNS names are the same name (case and a trailing dot aside).
fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
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

/// Builds the report's `tls` section and the TLS and certificate findings. `trust` holds the
/// verdicts on [`TlsEvidence::chain`].
///
/// `scanned_name` is the host name the user gave (None for address targets), `ntlm_dns_name`
/// the host's own DNS name from its NTLM CHALLENGE, `ip` the address probed. The name verdict
/// checks the scanned name, else the NTLM DNS name (what users type to reach a host found by
/// address), else the address against iPAddress SANs; `cert-name-mismatch` agrees with it, and
/// is raised only for names (nobody expects a certificate to name an address that was scanned
/// as part of a range).
pub fn tls_report(
    evidence: &TlsEvidence,
    trust: &ChainTrust,
    scanned_name: Option<&str>,
    ntlm_dns_name: Option<&str>,
    ip: Option<IpAddr>,
    now: OffsetDateTime,
    opts: &CertOptions,
) -> (TlsReport, Vec<Finding>) {
    let mut report = TlsReport::default();
    let mut findings = Vec::new();

    if let Some(h) = &evidence.handshake {
        report.version = Some(h.version);
        report.cipher = Some(h.cipher);
        report.stack = Some(h.stack);
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
        .map(|(v, _)| *v)
        .collect();
    report.versions_probed = known.keys().copied().collect();
    report.versions_undecided = ProtocolVersion::TLS
        .into_iter()
        .filter(|v| !known.contains_key(v))
        .collect();
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

    // The name a client checks is the one it connects to: the scanned host name; for an
    // address target, the host's own DNS name (what users type), else the address.
    let (name_checked, source) = match (scanned_name, ntlm_dns_name) {
        (Some(host), _) => (Some(host.to_owned()), Some("scanned host name")),
        (None, Some(dns)) => (Some(dns.to_owned()), Some("NTLM DNS computer name")),
        (None, None) => (ip.map(|ip| ip.to_string()), None),
    };
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
    // `cert-name-mismatch` follows the name verdict exactly (raised for names, never for a
    // bare address, which nobody expects a certificate to name).
    if let (Some(checked), Some(source)) = (name_checked.as_deref(), source)
        && let Some(f) = name_mismatch_finding(&leaf, checked, source)
    {
        findings.push(f);
    }
    // The scanned name matched, but the host calls itself something the certificate does not
    // name: clients typing that other name would be warned. Informational only.
    if let (Some(host), Some(dns)) = (scanned_name, ntlm_dns_name)
        && leaf.names.matches(host)
        && !same_name(host, dns)
        && !leaf.names.matches(dns)
    {
        findings.push(Finding::new(
            ids::CERT_NTLM_NAME_DIFFERS,
            Severity::Info,
            format!(
                "the certificate names the scanned host name {host} but not the host's own NTLM DNS computer name {dns}: clients connecting by {dns} are warned; it names {}",
                describe_names(&leaf)
            ),
        ));
    }
    report.trust = Some(TrustReport {
        platform: trust.platform.as_ref().map(ToString::to_string),
        ca_file: trust.ca_file.as_ref().map(ToString::to_string),
        name: name.map(|v| v.to_string()),
        name_checked,
    });
    report.certificate = Some(leaf.report);
    (report, findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::findings::Severity;
    use crate::observe::tls::{
        HandshakeFailure, HandshakeFailureKind, TlsObservation, TlsStack, VersionOutcome,
        VersionProbe,
    };
    use crate::proto::tls::{CipherSuite, ProtocolVersion, ProtocolVersion as V};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2027-01-01 00:00:00 UTC);

    /// DER of a PEM fixture (compiled in: the pure core reads no files, even in tests).
    fn der(pem: &[u8]) -> Vec<u8> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem).expect("PEM");
        pem.contents
    }

    fn handshake(stack: TlsStack, version: V, chain: Vec<Vec<u8>>) -> TlsObservation {
        TlsObservation {
            stack,
            version,
            cipher: CipherSuite(0xC02F),
            chain_der: chain,
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
    fn legacy_host_report() {
        // A TLS 1.0-only host: rustls fails on the version, OpenSSL completes TLS 1.0.
        let cert = der(include_bytes!(
            "../../fixtures/tls/rsa1024-sha1-selfsigned.pem"
        ));
        let e = TlsEvidence {
            handshake: Some(handshake(TlsStack::Openssl, V::TLS1_0, vec![cert])),
            failures: vec![HandshakeFailure {
                stack: TlsStack::Rustls,
                kind: HandshakeFailureKind::ProtocolVersion,
                message: "peer is incompatible: ServerDoesNotSupportTls12Or13".into(),
            }],
            ..Default::default()
        };
        let trust = ChainTrust {
            platform: untrusted("unknown issuer"),
            ca_file: None,
        };
        let (r, f) = tls_report(
            &e,
            &trust,
            None,
            None,
            Some("127.0.0.1".parse().unwrap()),
            NOW,
            &CertOptions::default(),
        );
        assert_eq!(r.version, Some(V::TLS1_0));
        assert_eq!(r.stack, Some(TlsStack::Openssl));
        assert_eq!(r.versions, vec![V::TLS1_0]);
        assert_eq!(r.versions_probed, ProtocolVersion::TLS);
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
            handshake: Some(handshake(TlsStack::Rustls, V::TLS1_3, chain)),
            ..Default::default()
        };
        let trust = ChainTrust {
            platform: untrusted("unknown issuer"),
            ca_file: Some(TrustVerdict::Trusted),
        };
        let (r, f) = tls_report(
            &e,
            &trust,
            Some("rdp.example.test"),
            None,
            None,
            NOW,
            &CertOptions::default(),
        );
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(
            r.cipher.map(|c| c.to_string()).as_deref(),
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
            &trust,
            Some("other.example.test"),
            None,
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
        let mut trust2 = trust.clone();
        trust2.ca_file = untrusted("expired");
        let (_, f) = tls_report(
            &e,
            &trust2,
            Some("rdp.example.test"),
            None,
            None,
            NOW,
            &CertOptions::default(),
        );
        assert_eq!(ids_of(&f), vec![ids::CERT_UNTRUSTED]);
        assert!(f[0].message.contains("platform store: unknown issuer"));
        assert!(f[0].message.contains("--ca-file: expired"));
    }

    /// The name clients check: the scanned name; for an address, the host's NTLM DNS name.
    /// `cert-name-mismatch` and `tls.trust.name` never disagree.
    #[test]
    fn the_name_checked_and_the_ntlm_name() {
        // SAN rdp.example.test, *.wild.example.test, 10.0.0.5.
        let chain = vec![der(include_bytes!("../../fixtures/tls/ca-signed-leaf.pem"))];
        let e = TlsEvidence {
            handshake: Some(handshake(TlsStack::Rustls, V::TLS1_3, chain)),
            ..Default::default()
        };
        let trust = ChainTrust::default();
        let run = |scanned: Option<&str>, ntlm: Option<&str>, ip: Option<&str>| {
            tls_report(
                &e,
                &trust,
                scanned,
                ntlm,
                ip.map(|i| i.parse().unwrap()),
                NOW,
                &CertOptions::default(),
            )
        };
        let name_of = |r: &TlsReport| {
            let t = r.trust.clone().unwrap();
            (t.name.unwrap(), t.name_checked.unwrap())
        };
        // Scanned by a name on the certificate, the host calling itself otherwise: trusted,
        // and the NTLM name is an informational note only.
        let (r, f) = run(
            Some("rdp.example.test"),
            Some("fv-az41-637.corp.test"),
            None,
        );
        assert_eq!(name_of(&r), ("trusted".into(), "rdp.example.test".into()));
        assert_eq!(ids_of(&f), [ids::CERT_NTLM_NAME_DIFFERS]);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(
            f[0].message.contains("fv-az41-637.corp.test"),
            "{}",
            f[0].message
        );
        // The NTLM name on the certificate (wildcard): nothing to note.
        let (_, f) = run(
            Some("rdp.example.test"),
            Some("host.wild.example.test"),
            None,
        );
        assert!(f.is_empty(), "{f:?}");
        // By address, with the host's NTLM name not on the certificate: the verdict and the
        // finding are about that name.
        let (r, f) = run(None, Some("fv-az41-637.corp.test"), Some("10.0.0.5"));
        let (verdict, checked) = name_of(&r);
        assert!(verdict.starts_with("untrusted: name mismatch"), "{verdict}");
        assert_eq!(checked, "fv-az41-637.corp.test");
        assert_eq!(ids_of(&f), [ids::CERT_NAME_MISMATCH]);
        assert!(
            f[0].message.contains("NTLM DNS computer name"),
            "{}",
            f[0].message
        );
        // By address, NTLM name on the certificate: trusted, no finding.
        let (r, f) = run(None, Some("RDP.example.test."), Some("192.0.2.1"));
        assert_eq!(name_of(&r).0, "trusted");
        assert!(f.is_empty(), "{f:?}");
        // By address, no NTLM: the address against the IP SANs, never a finding.
        let (r, f) = run(None, None, Some("192.0.2.1"));
        assert!(name_of(&r).0.starts_with("untrusted"));
        assert!(f.is_empty(), "{f:?}");
        let (r, _) = run(None, None, Some("10.0.0.5"));
        assert_eq!(name_of(&r), ("trusted".into(), "10.0.0.5".into()));
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
            ..Default::default()
        };
        let trust = ChainTrust {
            platform: untrusted("unknown issuer"),
            ca_file: None,
        };
        let (r, f) = tls_report(
            &e,
            &trust,
            Some("cn-only.example.test"),
            None,
            None,
            NOW,
            &CertOptions::default(),
        );
        assert_eq!(r.version, None);
        assert_eq!(r.stack, None);
        assert_eq!(r.error.as_deref(), Some("rustls: v; openssl: o"));
        assert_eq!(r.versions, vec![V::TLS1_0]);
        assert_eq!(r.versions_probed, ProtocolVersion::TLS);
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
        let none = ChainTrust::default();
        let (r, _) = tls_report(&e, &none, None, None, None, NOW, &CertOptions::default());
        assert!(
            r.error
                .unwrap()
                .starts_with("server certificate unreadable")
        );
        assert!(r.certificate.is_none());
        let (r, f) = tls_report(
            &TlsEvidence::default(),
            &none,
            None,
            None,
            None,
            NOW,
            &CertOptions::default(),
        );
        assert_eq!(
            r,
            TlsReport {
                versions_undecided: ProtocolVersion::TLS.to_vec(),
                ..TlsReport::default()
            },
            "nothing decided"
        );
        assert!(f.is_empty());
    }
}
