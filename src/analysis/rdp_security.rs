//! Standard RDP Security (MS-RDPBCGR 5.3), pure: the server's encryption level and methods,
//! its RDP version and its certificate, from the MCS Connect Responses the probe read, and the
//! findings they raise.
//!
//! The default probe offers all four methods once (on the RDP-only connection) and records the
//! one the server chose; `--deep` offers each method alone, one connection each, and records
//! the ones the server selected as offered (as nmap's rdp-enum-encryption counts them: a server
//! that answers with another method does not accept the offered one).

use time::OffsetDateTime;

use super::cert;
use super::findings::{Finding, Severity, ids};
use super::server::version_name;
use crate::observe::{Connection, NegotiationKind, Purpose};
use crate::proto::mcs::{
    ConnectResponse, EncryptionLevel, EncryptionMethods, McsResult, ServerCertificate,
};
use crate::report::schema::{RdpCertificateReport, RdpSecurityReport};

/// The `rdp_security` section, when the server accepted Standard RDP Security on the RDP-only
/// connection and the MCS exchange ran there; `None` otherwise.
pub fn rdp_security_report(
    connections: &[Connection],
    now: OffsetDateTime,
) -> Option<RdpSecurityReport> {
    let main = connections.iter().find(|c| {
        c.purpose == Purpose::Negotiation && c.request == NegotiationKind::Rdp && c.mcs.is_some()
    })?;
    let mut report = RdpSecurityReport::default();
    let response = match main.mcs.as_ref()? {
        Ok(response) => response,
        Err(e) => {
            report.error = Some(format!("MCS Connect Response: {e}"));
            return Some(report);
        }
    };
    if let Some(refusal) = refusal(response) {
        report.error = Some(refusal);
        return Some(report);
    }
    if let Some(core) = response.core {
        report.server_version = Some(version_name(core.version));
        report.server_version_raw = Some(format!("0x{:08x}", core.version.0));
    }
    let Some(security) = &response.security else {
        report.error = Some("the MCS Connect Response carries no security data".into());
        return Some(report);
    };
    report.encryption_level = Some(security.encryption_level.name());
    let enumerated: Vec<EncryptionMethods> = connections
        .iter()
        .filter_map(|c| match (c.purpose, c.mcs.as_ref()) {
            (Purpose::RdpMethod(offered), Some(Ok(r)))
                if refusal(r).is_none()
                    && r.security.as_ref().map(|s| s.encryption_method) == Some(offered) =>
            {
                Some(offered)
            }
            _ => None,
        })
        .collect();
    report.methods_enumerated = connections
        .iter()
        .any(|c| matches!(c.purpose, Purpose::RdpMethod(_)));
    let methods = if report.methods_enumerated {
        enumerated
            .iter()
            .fold(EncryptionMethods::NONE, |all, m| all.union(*m))
    } else {
        security.encryption_method
    };
    report.encryption_methods = methods.names();
    report.certificate_type = security.certificate.as_ref().map(|c| match c {
        ServerCertificate::Proprietary(_) => "proprietary".to_owned(),
        ServerCertificate::X509(_) => "x509".to_owned(),
        ServerCertificate::Unknown { .. } => "unknown".to_owned(),
    });
    report.certificate = security.certificate.as_ref().map(|c| certificate(c, now));
    Some(report)
}

/// Why a Connect Response is a refusal, if it is one.
fn refusal(response: &ConnectResponse) -> Option<String> {
    (response.result != McsResult::SUCCESSFUL).then(|| {
        format!(
            "the server refused the MCS connection ({})",
            response.result.name()
        )
    })
}

fn certificate(c: &ServerCertificate, now: OffsetDateTime) -> RdpCertificateReport {
    match c {
        ServerCertificate::Proprietary(p) => RdpCertificateReport {
            key_bits: p.public_key.map(|k| k.modulus_bits),
            public_exponent: p.public_key.map(|k| k.public_exponent),
            temporary: p.version & 0x8000_0000 != 0,
            x509: None,
        },
        ServerCertificate::X509(chain) => RdpCertificateReport {
            key_bits: None,
            public_exponent: None,
            temporary: chain.version & 0x8000_0000 != 0,
            // The spec puts the server's own certificate last.
            x509: chain
                .certificates
                .last()
                .and_then(|der| cert::parse_certificate(der, now).ok())
                .map(|parsed| parsed.report),
        },
        ServerCertificate::Unknown { version, .. } => RdpCertificateReport {
            temporary: version & 0x8000_0000 != 0,
            ..RdpCertificateReport::default()
        },
    }
}

/// Names the encryption level and methods in the `standard-rdp-security-allowed` finding
/// (raised from the negotiation alone, before the MCS exchange was read).
pub fn name_the_level(findings: &mut [Finding], report: &RdpSecurityReport) {
    let Some(level) = report.encryption_level.as_deref() else {
        return;
    };
    for f in findings
        .iter_mut()
        .filter(|f| f.id == ids::STANDARD_RDP_SECURITY_ALLOWED)
    {
        f.message = format!(
            "Standard RDP Security (RC4, no server authentication: open to a man in the middle) is accepted, at encryption level {level} ({}); set the security layer to SSL/TLS or Negotiate with NLA.",
            report.encryption_methods.join(", ")
        );
    }
}

/// `rdp-encryption-none` for the level none (nothing encrypted, MS-RDPBCGR 5.3.1);
/// `rdp-encryption-weak` for 40- or 56-bit keys or the low level (only client-to-server
/// traffic encrypted): Nessus plugin 57690's concern.
pub fn findings(report: &RdpSecurityReport) -> Vec<Finding> {
    let level = report.encryption_level.as_deref();
    if level == Some(EncryptionLevel::NONE.name().as_str()) {
        return vec![Finding::new(
            ids::RDP_ENCRYPTION_NONE,
            Severity::High,
            "Standard RDP Security with encryption level none: the session, keystrokes and passwords included, travels unencrypted; set the encryption level to High or FIPS, or better require TLS or NLA.",
        )];
    }
    let weak_methods: Vec<&str> = report
        .encryption_methods
        .iter()
        .map(String::as_str)
        .filter(|m| matches!(*m, "40bit" | "56bit"))
        .collect();
    let low = level == Some(EncryptionLevel::LOW.name().as_str());
    if weak_methods.is_empty() && !low {
        return Vec::new();
    }
    let mut why = Vec::new();
    if !weak_methods.is_empty() {
        why.push(format!("{} RC4 session keys", weak_methods.join(" and ")));
    }
    if low {
        why.push("encryption level low (server-to-client traffic is not encrypted)".to_owned());
    }
    vec![Finding::new(
        ids::RDP_ENCRYPTION_WEAK,
        Severity::Medium,
        format!(
            "Standard RDP Security with weak encryption: {}; set the encryption level to High or FIPS (GPO: Computer Configuration > Administrative Templates > Windows Components > Remote Desktop Services > Remote Desktop Session Host > Security > Set client connection encryption level; xrdp: crypt_level=high), or better require TLS or NLA.",
            why.join(", ")
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{McsFailure, NegotiationResult, StageError};
    use crate::proto::mcs::{ServerCore, ServerSecurity, ServerVersion};
    use crate::proto::x224::{ConnectionConfirm, NegFlags, Protocols};
    use crate::test_fixtures::hex;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-01 00:00 UTC);

    fn rdp_conn(purpose: Purpose, mcs: Result<ConnectResponse, McsFailure>) -> Connection {
        Connection {
            purpose,
            request: NegotiationKind::Rdp,
            answer: Ok(NegotiationResult::Confirm(ConnectionConfirm::Response {
                flags: NegFlags(1),
                selected: Protocols::RDP,
            })),
            confirm_header: None,
            upgrade: None,
            credssp: None,
            mcs: Some(mcs),
        }
    }

    fn response(level: EncryptionLevel, method: EncryptionMethods) -> ConnectResponse {
        ConnectResponse {
            result: McsResult::SUCCESSFUL,
            core: Some(ServerCore {
                version: ServerVersion::RDP_5_TO_8_1,
                client_requested_protocols: None,
                early_capability_flags: None,
            }),
            security: Some(ServerSecurity {
                encryption_method: method,
                encryption_level: level,
                server_random_len: Some(32),
                server_cert_len: None,
                certificate: None,
            }),
            ..ConnectResponse::default()
        }
    }

    #[test]
    fn a_real_xrdp_low_answer_decodes_to_a_weak_report() {
        let bytes = hex(include_str!("../../fixtures/mcs/xrdp-rdp-low.hex"));
        let decoded = crate::proto::mcs::decode_connect_response(&bytes).expect("capture");
        let conns = [rdp_conn(Purpose::Negotiation, Ok(decoded))];
        let r = rdp_security_report(&conns, NOW).expect("report");
        assert_eq!(r.encryption_level.as_deref(), Some("low"));
        assert_eq!(r.encryption_methods, ["40bit"]);
        assert_eq!(r.server_version.as_deref(), Some("RDP 5.0-8.1"));
        assert_eq!(r.server_version_raw.as_deref(), Some("0x00080004"));
        assert_eq!(r.certificate_type.as_deref(), Some("proprietary"));
        assert_eq!(r.certificate.as_ref().and_then(|c| c.key_bits), Some(2048));
        assert!(!r.methods_enumerated);
        let f = findings(&r);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, ids::RDP_ENCRYPTION_WEAK);
        assert!(f[0].message.contains("40bit"), "{}", f[0].message);
        assert!(f[0].message.contains("level low"), "{}", f[0].message);
    }

    #[test]
    fn deep_enumeration_counts_only_methods_selected_as_offered() {
        let mut conns = vec![rdp_conn(
            Purpose::Negotiation,
            Ok(response(
                EncryptionLevel::CLIENT_COMPATIBLE,
                EncryptionMethods::BIT_128,
            )),
        )];
        for m in EncryptionMethods::EACH {
            // The server selects 128-bit whatever is offered (as FreeRDP's shadow does for
            // "none"): only the 128-bit offer counts.
            let chosen = if m == EncryptionMethods::FIPS {
                EncryptionMethods::FIPS
            } else {
                EncryptionMethods::BIT_128
            };
            conns.push(rdp_conn(
                Purpose::RdpMethod(m),
                Ok(response(EncryptionLevel::CLIENT_COMPATIBLE, chosen)),
            ));
        }
        let r = rdp_security_report(&conns, NOW).expect("report");
        assert!(r.methods_enumerated);
        assert_eq!(r.encryption_methods, ["128bit", "fips"]);
        assert!(findings(&r).is_empty());
    }

    #[test]
    fn the_layer_finding_names_the_level() {
        let conns = [rdp_conn(
            Purpose::Negotiation,
            Ok(response(EncryptionLevel::HIGH, EncryptionMethods::BIT_128)),
        )];
        let r = rdp_security_report(&conns, NOW).expect("report");
        let mut f = vec![
            Finding::new(ids::STANDARD_RDP_SECURITY_ALLOWED, Severity::Medium, "x"),
            Finding::new(ids::NLA_NOT_REQUIRED, Severity::Medium, "y"),
        ];
        name_the_level(&mut f, &r);
        assert!(
            f[0].message.contains("encryption level high (128bit)"),
            "{}",
            f[0].message
        );
        assert_eq!(f[1].message, "y");
    }

    #[test]
    fn level_none_is_its_own_high_finding() {
        let conns = [rdp_conn(
            Purpose::Negotiation,
            Ok(response(EncryptionLevel::NONE, EncryptionMethods::NONE)),
        )];
        let r = rdp_security_report(&conns, NOW).expect("report");
        assert_eq!(r.encryption_level.as_deref(), Some("none"));
        assert_eq!(r.encryption_methods, ["none"]);
        let f = findings(&r);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, ids::RDP_ENCRYPTION_NONE);
        assert_eq!(f[0].severity, Severity::High);
        // High keeps no finding.
        let conns = [rdp_conn(
            Purpose::Negotiation,
            Ok(response(EncryptionLevel::HIGH, EncryptionMethods::BIT_128)),
        )];
        let r = rdp_security_report(&conns, NOW).expect("report");
        assert!(findings(&r).is_empty());
    }

    #[test]
    fn no_section_without_the_exchange_and_errors_kept() {
        assert_eq!(rdp_security_report(&[], NOW), None);
        let conns = [rdp_conn(
            Purpose::Negotiation,
            Err(McsFailure::Stage(StageError::Timeout(5000))),
        )];
        let r = rdp_security_report(&conns, NOW).expect("report");
        assert_eq!(r.encryption_level, None);
        assert!(r.error.as_deref().is_some_and(|e| e.contains("timed out")));
        let mut refused = response(EncryptionLevel::HIGH, EncryptionMethods::BIT_128);
        refused.result = McsResult(1);
        let r = rdp_security_report(&[rdp_conn(Purpose::Negotiation, Ok(refused))], NOW)
            .expect("report");
        assert!(r.error.as_deref().is_some_and(|e| e.contains("refused")));
    }
}
