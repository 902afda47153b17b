//! Certificate facts and findings (RFC 5280 certificates, RFC 6125 name matching).
//!
//! Pure: DER in, [`CertificateReport`] and [`Finding`]s out; the current time is a parameter.
//! Signature checks on the certificate's own key (for `self_signed`) use OpenSSL's `X509_verify`
//! as a computation only, because ring (behind x509-parser's `verify` feature) refuses exactly
//! the certificates a scanner must judge: RSA keys under 2048 bits with SHA-256, MD5 signatures.

use std::net::IpAddr;

use ::time::OffsetDateTime;
use ::time::format_description::well_known::Rfc3339;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::time::ASN1Time;

use crate::analysis::findings::{Finding, Severity, ids};
use crate::report::schema::{CertificateReport, ChainEntry};

/// Default for `--cert-expiry-warn`: warn when the certificate expires within this many days.
pub const DEFAULT_EXPIRY_WARN_DAYS: i64 = 30;

/// RSA (and DSA) keys below this many bits are weak.
pub const MIN_RSA_BITS: u32 = 2048;
/// EC keys below this many bits are weak.
pub const MIN_EC_BITS: u32 = 256;

/// Options of the certificate analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertOptions {
    /// `cert-expiring-soon` fires when fewer than this many days are left.
    pub expiry_warn_days: i64,
}

impl Default for CertOptions {
    fn default() -> Self {
        Self {
            expiry_warn_days: DEFAULT_EXPIRY_WARN_DAYS,
        }
    }
}

/// A certificate that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("certificate is not valid DER X.509: {0}")]
    Parse(String),
    #[error("{0} trailing bytes after the DER certificate")]
    Trailing(usize),
}

/// The kind of public key, with what is needed to judge its strength.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    Ec { curve: Option<&'static str> },
    Ed25519,
    Ed448,
    Dsa,
    Other(String),
}

/// The hash inside a signature algorithm, when it is a broken one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeakHash {
    Md2,
    Md4,
    Md5,
    Sha1,
}

impl WeakHash {
    fn name(self) -> &'static str {
        match self {
            WeakHash::Md2 => "MD2",
            WeakHash::Md4 => "MD4",
            WeakHash::Md5 => "MD5",
            WeakHash::Sha1 => "SHA-1",
        }
    }
}

/// The names a certificate is valid for (RFC 5280 4.2.1.6 subjectAltName, and the subject CN).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertNames {
    /// dNSName entries, as written in the certificate.
    pub dns: Vec<String>,
    /// iPAddress entries.
    pub ips: Vec<IpAddr>,
    /// Subject common names (used only when there is no DNS or IP SAN).
    pub common_names: Vec<String>,
}

impl CertNames {
    /// Whether `name` (a DNS name or an IP address literal, IPv6 optionally in brackets) is one
    /// the certificate is valid for.
    ///
    /// Rules (RFC 6125 6.4, as Windows and browsers apply them): comparison is ASCII
    /// case-insensitive and ignores one trailing dot; a wildcard is only a whole left-most label
    /// `*`, matches exactly one non-empty label, and needs at least two labels after it
    /// (`*.example.com`, never `*.com`); IP addresses match iPAddress SANs only; the subject CN
    /// is used only when the certificate has no DNS and no IP SAN at all.
    pub fn matches(&self, name: &str) -> bool {
        let trimmed = name.trim();
        let unbracketed = trimmed
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(trimmed);
        let no_sans = self.dns.is_empty() && self.ips.is_empty();
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            if self.ips.contains(&ip) {
                return true;
            }
            return no_sans
                && self
                    .common_names
                    .iter()
                    .any(|cn| cn.trim().parse::<IpAddr>().ok() == Some(ip));
        }
        let Some(host) = normalise_dns(trimmed) else {
            return false;
        };
        if self.dns.iter().any(|p| dns_pattern_matches(p, &host)) {
            return true;
        }
        no_sans
            && self
                .common_names
                .iter()
                .any(|cn| dns_pattern_matches(cn, &host))
    }
}

/// Lower-cases and strips one trailing dot; `None` for names that cannot be DNS names.
fn normalise_dns(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || !name.is_ascii() || name.split('.').any(str::is_empty) {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

/// Matches one reference pattern (a SAN or CN) against a normalised host name.
fn dns_pattern_matches(pattern: &str, host: &str) -> bool {
    let Some(pattern) = normalise_dns(pattern.trim()) else {
        return false;
    };
    if let Some(base) = pattern.strip_prefix("*.") {
        if base.contains('*') || base.split('.').count() < 2 {
            return false;
        }
        return match host.split_once('.') {
            Some((first, rest)) => !first.is_empty() && rest == base,
            None => false,
        };
    }
    !pattern.contains('*') && pattern == host
}

/// Everything rdpsweep reads from one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCert {
    /// The report fields (`days_left` relative to the `now` given to [`parse_certificate`]).
    pub report: CertificateReport,
    pub names: CertNames,
    /// notBefore / notAfter as Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub key: KeyKind,
    /// A broken hash inside the signature algorithm.
    pub weak_hash: Option<WeakHash>,
    /// basicConstraints cA.
    pub is_ca: bool,
}

/// Parses a DER certificate into report fields. `now` only feeds `days_left`.
pub fn parse_certificate(der: &[u8], now: OffsetDateTime) -> Result<ParsedCert, CertError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| CertError::Parse(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertError::Trailing(rest.len()));
    }
    let tbs = &cert.tbs_certificate;

    let common_names: Vec<String> = tbs
        .subject
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
        .collect();
    let mut names = CertNames {
        common_names: common_names.clone(),
        ..CertNames::default()
    };
    let mut sans = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for general in &san.value.general_names {
            match general {
                GeneralName::DNSName(d) => {
                    names.dns.push((*d).to_owned());
                    sans.push((*d).to_owned());
                }
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        names.ips.push(ip);
                        sans.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }

    let not_before = tbs.validity.not_before.timestamp();
    let not_after = tbs.validity.not_after.timestamp();
    let days_left = (not_after - now.unix_timestamp()).div_euclid(86_400);

    let (key, key_bits) = key_info(&cert, der);
    let sig_oid = cert.signature_algorithm.algorithm.to_id_string();
    let (signature_algorithm, weak_hash) = signature_info(&cert, &sig_oid);

    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|bc| bc.value.ca);
    let self_signed = tbs.subject.as_raw() == tbs.issuer.as_raw() && verifies_itself(der);

    let sha256 = ring::digest::digest(&ring::digest::SHA256, der);
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);

    let report = CertificateReport {
        subject_cn: common_names.first().cloned(),
        subject: tbs.subject.to_string(),
        sans,
        issuer: tbs.issuer.to_string(),
        serial: serial_hex(tbs.raw_serial()),
        not_before: rfc3339(not_before, &tbs.validity.not_before),
        not_after: rfc3339(not_after, &tbs.validity.not_after),
        days_left,
        key_type: key_type_name(&key),
        key_bits,
        signature_algorithm,
        self_signed,
        sha256: hex_upper(sha256.as_ref(), ":"),
        sha1: hex_upper(sha1.as_ref(), ""),
    };
    Ok(ParsedCert {
        report,
        names,
        not_before,
        not_after,
        key,
        weak_hash,
        is_ca,
    })
}

/// The schema entry for a non-leaf certificate of the chain.
pub fn chain_entry(der: &[u8]) -> ChainEntry {
    let subject = match X509Certificate::from_der(der) {
        Ok((_, cert)) => cert.tbs_certificate.subject.to_string(),
        Err(e) => format!("(unparsable: {e})"),
    };
    let sha256 = ring::digest::digest(&ring::digest::SHA256, der);
    ChainEntry {
        subject,
        sha256: hex_upper(sha256.as_ref(), ":"),
    }
}

/// SHA-256 of a DER certificate, as raw bytes (for pinning comparisons).
pub fn sha256(der: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// RFC 3339 in UTC, falling back to x509-parser's rendering for dates `time` cannot hold.
fn rfc3339(ts: i64, original: &ASN1Time) -> String {
    OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| original.to_string())
}

/// The serial number's magnitude in upper-case hex, colon-separated. The DER sign byte (a
/// leading 0x00 before a byte with the high bit set) is dropped, as `openssl x509 -serial` does.
fn serial_hex(raw: &[u8]) -> String {
    let magnitude = match raw {
        [0, next, ..] if next & 0x80 != 0 => raw.get(1..).unwrap_or(raw),
        _ => raw,
    };
    hex_upper(magnitude, ":")
}

/// Upper-case hex with a separator between bytes.
pub fn hex_upper(bytes: &[u8], sep: &str) -> String {
    let mut out = String::with_capacity(bytes.len() * (2 + sep.len()));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// Counts the bits of a big-endian unsigned integer, ignoring leading zero bytes and bits.
pub fn bit_length(be: &[u8]) -> u32 {
    let Some(first) = be.iter().position(|b| *b != 0) else {
        return 0;
    };
    let significant = be.get(first..).unwrap_or_default();
    let lead = significant.first().copied().unwrap_or(0);
    let rest_bits = u32::try_from(significant.len().saturating_sub(1))
        .unwrap_or(u32::MAX / 16)
        .saturating_mul(8);
    rest_bits.saturating_add(8 - lead.leading_zeros())
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_ED448: &str = "1.3.101.113";
const OID_DSA: &str = "1.2.840.10040.4.1";

/// Named curves (RFC 5480 2.1.1.1, RFC 5639) and their sizes in bits.
const CURVES: &[(&str, &str, u32)] = &[
    ("1.2.840.10045.3.1.1", "P-192", 192),
    ("1.3.132.0.33", "P-224", 224),
    ("1.2.840.10045.3.1.7", "P-256", 256),
    ("1.3.132.0.34", "P-384", 384),
    ("1.3.132.0.35", "P-521", 521),
    ("1.3.132.0.10", "secp256k1", 256),
    ("1.3.36.3.3.2.8.1.1.7", "brainpoolP256r1", 256),
    ("1.3.36.3.3.2.8.1.1.11", "brainpoolP384r1", 384),
    ("1.3.36.3.3.2.8.1.1.13", "brainpoolP512r1", 512),
];

fn key_info(cert: &X509Certificate<'_>, der: &[u8]) -> (KeyKind, Option<u32>) {
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        OID_RSA => {
            let bits = match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => Some(bit_length(rsa.modulus)),
                _ => None,
            };
            (KeyKind::Rsa, bits)
        }
        OID_EC => {
            let curve_oid = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            let known = curve_oid
                .as_deref()
                .and_then(|oid| CURVES.iter().find(|(o, _, _)| *o == oid));
            match known {
                Some((_, name, bits)) => (KeyKind::Ec { curve: Some(name) }, Some(*bits)),
                None => {
                    // Unknown curve: an uncompressed point is 04 || X || Y.
                    let point = spki.subject_public_key.data.len();
                    let bits = (point > 1)
                        .then(|| u32::try_from((point - 1) / 2 * 8).ok())
                        .flatten();
                    (KeyKind::Ec { curve: None }, bits)
                }
            }
        }
        OID_ED25519 => (KeyKind::Ed25519, Some(256)),
        OID_ED448 => (KeyKind::Ed448, Some(456)),
        OID_DSA => (KeyKind::Dsa, openssl_key_bits(der)),
        other => (KeyKind::Other(other.to_owned()), openssl_key_bits(der)),
    }
}

fn key_type_name(key: &KeyKind) -> String {
    match key {
        KeyKind::Rsa => "RSA".into(),
        KeyKind::Ec { .. } => "EC".into(),
        KeyKind::Ed25519 => "Ed25519".into(),
        KeyKind::Ed448 => "Ed448".into(),
        KeyKind::Dsa => "DSA".into(),
        KeyKind::Other(oid) => oid.clone(),
    }
}

fn openssl_key_bits(der: &[u8]) -> Option<u32> {
    let cert = openssl::x509::X509::from_der(der).ok()?;
    Some(cert.public_key().ok()?.bits())
}

/// Whether the certificate's signature verifies with its own public key.
fn verifies_itself(der: &[u8]) -> bool {
    let Ok(cert) = openssl::x509::X509::from_der(der) else {
        return false;
    };
    let Ok(key) = cert.public_key() else {
        return false;
    };
    cert.verify(&key).unwrap_or(false)
}

/// Signature algorithm OIDs (RFC 3279, RFC 4055, RFC 5758, RFC 8410) and their OpenSSL names.
const SIGNATURE_ALGORITHMS: &[(&str, &str, Option<WeakHash>)] = &[
    (
        "1.2.840.113549.1.1.2",
        "md2WithRSAEncryption",
        Some(WeakHash::Md2),
    ),
    (
        "1.2.840.113549.1.1.3",
        "md4WithRSAEncryption",
        Some(WeakHash::Md4),
    ),
    (
        "1.2.840.113549.1.1.4",
        "md5WithRSAEncryption",
        Some(WeakHash::Md5),
    ),
    (
        "1.2.840.113549.1.1.5",
        "sha1WithRSAEncryption",
        Some(WeakHash::Sha1),
    ),
    (
        "1.3.14.3.2.29",
        "sha1WithRSASignature",
        Some(WeakHash::Sha1),
    ),
    ("1.2.840.113549.1.1.14", "sha224WithRSAEncryption", None),
    ("1.2.840.113549.1.1.11", "sha256WithRSAEncryption", None),
    ("1.2.840.113549.1.1.12", "sha384WithRSAEncryption", None),
    ("1.2.840.113549.1.1.13", "sha512WithRSAEncryption", None),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1", Some(WeakHash::Sha1)),
    ("1.2.840.10045.4.3.1", "ecdsa-with-SHA224", None),
    ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256", None),
    ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384", None),
    ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512", None),
    ("1.2.840.10040.4.3", "dsa-with-SHA1", Some(WeakHash::Sha1)),
    ("2.16.840.1.101.3.4.3.1", "dsa-with-SHA224", None),
    ("2.16.840.1.101.3.4.3.2", "dsa-with-SHA256", None),
    ("1.3.101.112", "ED25519", None),
    ("1.3.101.113", "ED448", None),
];

/// Hash OIDs that can appear in RSASSA-PSS parameters (RFC 4055).
const HASHES: &[(&str, &str, Option<WeakHash>)] = &[
    ("1.3.14.3.2.26", "sha1", Some(WeakHash::Sha1)),
    ("2.16.840.1.101.3.4.2.4", "sha224", None),
    ("2.16.840.1.101.3.4.2.1", "sha256", None),
    ("2.16.840.1.101.3.4.2.2", "sha384", None),
    ("2.16.840.1.101.3.4.2.3", "sha512", None),
];

const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";

fn signature_info(cert: &X509Certificate<'_>, oid: &str) -> (String, Option<WeakHash>) {
    if let Some((_, name, weak)) = SIGNATURE_ALGORITHMS.iter().find(|(o, _, _)| *o == oid) {
        return ((*name).to_owned(), *weak);
    }
    if oid == OID_RSASSA_PSS {
        // RSASSA-PSS-params default to SHA-1 when absent (RFC 4055 3.1).
        let hash_oid = match x509_parser::signature_algorithm::SignatureAlgorithm::try_from(
            &cert.signature_algorithm,
        ) {
            Ok(x509_parser::signature_algorithm::SignatureAlgorithm::RSASSA_PSS(params)) => {
                params.hash_algorithm_oid().to_id_string()
            }
            _ => return ("rsassaPss".to_owned(), None),
        };
        return match HASHES.iter().find(|(o, _, _)| *o == hash_oid) {
            Some((_, hash, weak)) => (format!("rsassaPss({hash})"), *weak),
            None => (format!("rsassaPss({hash_oid})"), None),
        };
    }
    (oid.to_owned(), None)
}

/// Why a key is weak, if it is.
pub fn weak_key_reason(key: &KeyKind, bits: Option<u32>) -> Option<String> {
    let bits = bits?;
    match key {
        KeyKind::Rsa if bits < MIN_RSA_BITS => {
            Some(format!("RSA key of {bits} bits (below {MIN_RSA_BITS})"))
        }
        KeyKind::Dsa if bits < MIN_RSA_BITS => {
            Some(format!("DSA key of {bits} bits (below {MIN_RSA_BITS})"))
        }
        KeyKind::Ec { curve } if bits < MIN_EC_BITS => Some(format!(
            "EC key of {bits} bits{} (below {MIN_EC_BITS})",
            curve.map(|c| format!(" on {c}")).unwrap_or_default()
        )),
        _ => None,
    }
}

/// The findings about the certificates themselves: validity period, self-signed, weak key, weak
/// signature. `chain` is the rest of the chain the server sent (leaf excluded); their signature
/// algorithms matter too, except for self-signed roots whose signature nobody checks.
pub fn certificate_findings(
    leaf: &ParsedCert,
    chain: &[ParsedCert],
    now: OffsetDateTime,
    opts: &CertOptions,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let now_ts = now.unix_timestamp();
    let r = &leaf.report;
    if now_ts > leaf.not_after {
        let days = (now_ts - leaf.not_after).div_euclid(86_400);
        findings.push(Finding::new(
            ids::CERT_EXPIRED,
            Severity::High,
            format!("certificate expired on {} ({days} days ago)", r.not_after),
        ));
    } else if now_ts < leaf.not_before {
        findings.push(Finding::new(
            ids::CERT_NOT_YET_VALID,
            Severity::High,
            format!("certificate is not valid before {}", r.not_before),
        ));
    } else if leaf.not_after - now_ts < opts.expiry_warn_days.saturating_mul(86_400) {
        findings.push(Finding::new(
            ids::CERT_EXPIRING_SOON,
            Severity::Medium,
            format!(
                "certificate expires on {} (in {} days; warning threshold {} days)",
                r.not_after,
                (leaf.not_after - now_ts).div_euclid(86_400),
                opts.expiry_warn_days
            ),
        ));
    }
    if r.self_signed {
        findings.push(Finding::new(
            ids::CERT_SELF_SIGNED,
            Severity::Medium,
            format!(
                "certificate is self-signed ({}); clients cannot verify it without pinning",
                r.subject
            ),
        ));
    }
    if let Some(reason) = weak_key_reason(&leaf.key, r.key_bits) {
        let severity = match (&leaf.key, r.key_bits) {
            (KeyKind::Rsa | KeyKind::Dsa, Some(b)) if b < 1024 => Severity::High,
            _ => Severity::Medium,
        };
        findings.push(Finding::new(ids::CERT_WEAK_KEY, severity, reason));
    }
    let mut weak_sigs: Vec<(String, WeakHash)> = Vec::new();
    if let Some(h) = leaf.weak_hash {
        weak_sigs.push((
            format!("certificate signed with {}", r.signature_algorithm),
            h,
        ));
    }
    for c in chain.iter().filter(|c| !c.report.self_signed) {
        if let Some(h) = c.weak_hash {
            weak_sigs.push((
                format!(
                    "chain certificate {} signed with {}",
                    c.report.subject, c.report.signature_algorithm
                ),
                h,
            ));
        }
    }
    if !weak_sigs.is_empty() {
        let severity = if weak_sigs.iter().all(|(_, h)| *h == WeakHash::Sha1) {
            Severity::Medium
        } else {
            Severity::High
        };
        let mut hashes: Vec<&str> = weak_sigs.iter().map(|(_, h)| h.name()).collect();
        hashes.dedup();
        let what: Vec<&str> = weak_sigs.iter().map(|(w, _)| w.as_str()).collect();
        findings.push(Finding::new(
            ids::CERT_WEAK_SIGNATURE,
            severity,
            format!("{} ({} is broken)", what.join("; "), hashes.join(", ")),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// DER of a PEM fixture (compiled in: the pure core reads no files, even in tests).
    fn der(pem: &[u8]) -> Vec<u8> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem).expect("PEM");
        pem.contents
    }

    const NOW: OffsetDateTime = datetime!(2027-01-01 00:00:00 UTC);

    fn ids_of(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn rsa1024_sha1_self_signed_matches_openssl() {
        let c = parse_certificate(
            &der(include_bytes!(
                "../../fixtures/tls/rsa1024-sha1-selfsigned.pem"
            )),
            NOW,
        )
        .unwrap();
        let r = &c.report;
        assert_eq!(r.subject_cn.as_deref(), Some("fixture.test"));
        assert_eq!(r.subject, "CN=fixture.test");
        assert_eq!(r.issuer, "CN=fixture.test");
        assert_eq!(r.sans, vec!["fixture.test", "127.0.0.1"]);
        // `openssl x509 -serial`, `-fingerprint -sha1`, `-fingerprint -sha256`.
        assert_eq!(
            r.serial.replace(':', ""),
            "2DE08EFC7DE6F69E190FFB868FDBCE1C92B0E332"
        );
        assert_eq!(r.sha1, "B2E699B4C33CB05C0A55390E74F51AFADEDB810F");
        assert_eq!(
            r.sha256,
            "35:D4:89:4F:B6:2F:59:59:F4:8F:04:3D:86:04:32:AC:3D:01:FB:33:25:52:83:BE:DF:78:2E:EF:EA:AE:AF:19"
        );
        assert_eq!(r.not_before, "2026-11-25T14:06:22Z");
        assert_eq!(r.not_after, "2036-11-22T14:06:22Z");
        assert_eq!(r.key_type, "RSA");
        assert_eq!(r.key_bits, Some(1024));
        assert_eq!(r.signature_algorithm, "sha1WithRSAEncryption");
        assert!(r.self_signed);
        // 2027-01-01 to 2036-11-22 14:06:22.
        assert_eq!(r.days_left, 3613);

        let f = certificate_findings(&c, &[], NOW, &CertOptions::default());
        assert_eq!(
            ids_of(&f),
            vec![
                ids::CERT_SELF_SIGNED,
                ids::CERT_WEAK_KEY,
                ids::CERT_WEAK_SIGNATURE
            ]
        );
        assert_eq!(f[1].severity, Severity::Medium);
        assert!(f[1].message.contains("1024"), "{}", f[1].message);
        assert!(f[2].message.contains("SHA-1"), "{}", f[2].message);
    }

    #[test]
    fn ca_signed_leaf() {
        let c = parse_certificate(
            &der(include_bytes!("../../fixtures/tls/ca-signed-leaf.pem")),
            NOW,
        )
        .unwrap();
        let r = &c.report;
        assert!(!r.self_signed);
        // The DER serial is 00 A1 ...: the sign byte is not part of the number.
        assert_eq!(r.serial, "A1:B2:C3:D4:E5:F6:07:18");
        assert_eq!(r.issuer, "CN=rdpsweep Test CA, O=rdpsweep");
        assert_eq!(r.sha1, "D8FADF69D0FA78D58042F01347E08F29873CA3B4");
        assert_eq!(r.key_bits, Some(2048));
        assert_eq!(r.signature_algorithm, "sha256WithRSAEncryption");
        assert!(!c.is_ca);
        assert!(certificate_findings(&c, &[], NOW, &CertOptions::default()).is_empty());

        let ca = parse_certificate(&der(include_bytes!("../../fixtures/tls/ca.pem")), NOW).unwrap();
        assert!(ca.report.self_signed);
        assert_eq!(ca.report.subject_cn.as_deref(), Some("rdpsweep Test CA"));
    }

    #[test]
    fn validity_findings_follow_now_and_threshold() {
        let c = parse_certificate(
            &der(include_bytes!("../../fixtures/tls/ca-signed-leaf.pem")),
            NOW,
        )
        .unwrap();
        let opts = CertOptions::default();
        let at = |t: i64| OffsetDateTime::from_unix_timestamp(t).unwrap();
        // One second after notAfter: expired.
        let f = certificate_findings(&c, &[], at(c.not_after + 1), &opts);
        assert_eq!(ids_of(&f), vec![ids::CERT_EXPIRED]);
        assert_eq!(f[0].severity, Severity::High);
        // One second before notBefore: not yet valid.
        let f = certificate_findings(&c, &[], at(c.not_before - 1), &opts);
        assert_eq!(ids_of(&f), vec![ids::CERT_NOT_YET_VALID]);
        // 29 days left: expiring soon; 31 days left: fine; custom threshold 60: soon.
        let f = certificate_findings(&c, &[], at(c.not_after - 29 * 86_400), &opts);
        assert_eq!(ids_of(&f), vec![ids::CERT_EXPIRING_SOON]);
        assert!(f[0].message.contains("in 29 days"), "{}", f[0].message);
        let f = certificate_findings(&c, &[], at(c.not_after - 31 * 86_400), &opts);
        assert!(f.is_empty());
        let sixty = CertOptions {
            expiry_warn_days: 60,
        };
        let f = certificate_findings(&c, &[], at(c.not_after - 31 * 86_400), &sixty);
        assert_eq!(ids_of(&f), vec![ids::CERT_EXPIRING_SOON]);
        // days_left is negative once expired, rounded down.
        let later = parse_certificate(
            &der(include_bytes!("../../fixtures/tls/ca-signed-leaf.pem")),
            at(c.not_after + 10),
        )
        .unwrap();
        assert_eq!(later.report.days_left, -1);
    }

    #[test]
    fn ec_and_odd_keys() {
        let p256 = parse_certificate(
            &der(include_bytes!("../../fixtures/tls/ec-p256-cn-only.pem")),
            NOW,
        )
        .unwrap();
        assert_eq!(p256.report.key_type, "EC");
        assert_eq!(p256.report.key_bits, Some(256));
        assert_eq!(
            p256.key,
            KeyKind::Ec {
                curve: Some("P-256")
            }
        );
        assert_eq!(p256.report.signature_algorithm, "ecdsa-with-SHA256");
        assert!(p256.report.self_signed);
        assert!(p256.report.sans.is_empty());

        let p192 =
            parse_certificate(&der(include_bytes!("../../fixtures/tls/ec-p192.pem")), NOW).unwrap();
        assert_eq!(p192.report.key_bits, Some(192));
        let f = certificate_findings(&p192, &[], NOW, &CertOptions::default());
        assert!(ids_of(&f).contains(&ids::CERT_WEAK_KEY));

        let odd =
            parse_certificate(&der(include_bytes!("../../fixtures/tls/rsa1500.pem")), NOW).unwrap();
        assert_eq!(odd.report.key_bits, Some(1500));
    }

    #[test]
    fn md5_and_pss_signatures() {
        let md5 = parse_certificate(
            &der(include_bytes!("../../fixtures/tls/rsa2048-md5.pem")),
            NOW,
        )
        .unwrap();
        assert_eq!(md5.report.signature_algorithm, "md5WithRSAEncryption");
        assert!(
            md5.report.self_signed,
            "OpenSSL verifies MD5 self-signatures"
        );
        let f = certificate_findings(&md5, &[], NOW, &CertOptions::default());
        let weak = f.iter().find(|f| f.id == ids::CERT_WEAK_SIGNATURE).unwrap();
        assert_eq!(weak.severity, Severity::High);
        assert!(weak.message.contains("MD5"));

        let pss = parse_certificate(
            &der(include_bytes!("../../fixtures/tls/rsa-pss-sha256.pem")),
            NOW,
        )
        .unwrap();
        assert_eq!(pss.report.signature_algorithm, "rsassaPss(sha256)");
        assert!(pss.weak_hash.is_none());
        assert!(pss.report.self_signed);
    }

    #[test]
    fn weak_signature_in_chain_but_not_on_roots() {
        let leaf = parse_certificate(
            &der(include_bytes!("../../fixtures/tls/ca-signed-leaf.pem")),
            NOW,
        )
        .unwrap();
        // A self-signed SHA-1 certificate in the chain is a root: its signature is not used.
        let root_sha1 = parse_certificate(
            &der(include_bytes!(
                "../../fixtures/tls/rsa1024-sha1-selfsigned.pem"
            )),
            NOW,
        )
        .unwrap();
        let f = certificate_findings(
            &leaf,
            std::slice::from_ref(&root_sha1),
            NOW,
            &CertOptions::default(),
        );
        assert!(f.is_empty(), "{f:?}");
        // The same certificate as a non-root intermediate would count.
        let mut intermediate = root_sha1;
        intermediate.report.self_signed = false;
        let f = certificate_findings(&leaf, &[intermediate], NOW, &CertOptions::default());
        assert_eq!(ids_of(&f), vec![ids::CERT_WEAK_SIGNATURE]);
        assert!(f[0].message.contains("chain certificate CN=fixture.test"));
    }

    #[test]
    fn names_follow_rfc6125() {
        let leaf = parse_certificate(
            &der(include_bytes!("../../fixtures/tls/ca-signed-leaf.pem")),
            NOW,
        )
        .unwrap();
        let n = &leaf.names;
        assert!(n.matches("rdp.example.test"));
        assert!(n.matches("RDP.Example.Test."));
        assert!(n.matches("host.wild.example.test"));
        assert!(!n.matches("wild.example.test"), "wildcard needs a label");
        assert!(!n.matches("a.b.wild.example.test"), "wildcard is one label");
        assert!(!n.matches("other.example.test"));
        assert!(n.matches("10.0.0.5"));
        assert!(!n.matches("10.0.0.6"));
        assert!(!n.matches(""));
        assert!(!n.matches("rdp..example.test"));

        // CN fallback only without SANs.
        let cn_only = parse_certificate(
            &der(include_bytes!("../../fixtures/tls/ec-p256-cn-only.pem")),
            NOW,
        )
        .unwrap();
        assert!(cn_only.names.matches("cn-only.example.test"));
        let with_san = parse_certificate(
            &der(include_bytes!(
                "../../fixtures/tls/rsa1024-sha1-selfsigned.pem"
            )),
            NOW,
        )
        .unwrap();
        assert!(with_san.names.matches("127.0.0.1"));
        assert!(with_san.names.matches("[127.0.0.1]"));
        let mut san_and_cn = with_san.names.clone();
        san_and_cn.common_names = vec!["cn.example.test".into()];
        assert!(
            !san_and_cn.matches("cn.example.test"),
            "CN ignored when SANs exist"
        );

        let names = |dns: &[&str]| CertNames {
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ..CertNames::default()
        };
        assert!(
            !names(&["*.com"]).matches("example.com"),
            "no wildcard on a TLD"
        );
        assert!(
            !names(&["f*.example.com"]).matches("foo.example.com"),
            "no partial wildcard"
        );
        assert!(!names(&["*.*.example.com"]).matches("a.b.example.com"));
        let ipv6 = CertNames {
            ips: vec!["::1".parse().unwrap()],
            ..CertNames::default()
        };
        assert!(ipv6.matches("[::1]"));
        assert!(ipv6.matches("0:0::1"));
    }

    #[test]
    fn bit_length_counts_bits() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[1]), 1);
        assert_eq!(bit_length(&[0, 0x80, 0]), 16);
        assert_eq!(bit_length(&[0, 0x0F, 0xFF]), 12);
    }

    #[test]
    fn garbage_and_truncated_certificates_are_errors() {
        let good = der(include_bytes!("../../fixtures/tls/ca-signed-leaf.pem"));
        for n in 0..good.len() {
            assert!(parse_certificate(&good[..n], NOW).is_err(), "prefix {n}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            parse_certificate(&trailing, NOW),
            Err(CertError::Trailing(1))
        );
        for i in (0..good.len()).step_by(7) {
            let mut bad = good.clone();
            bad[i] ^= 0xFF;
            let _ = parse_certificate(&bad, NOW);
        }
        assert!(chain_entry(b"junk").subject.starts_with("(unparsable"));
    }
}
