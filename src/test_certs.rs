//! Certificates made with the `openssl` crate for unit tests (TLS drivers, trust verdicts).

use std::net::IpAddr;
use std::path::PathBuf;

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, SubjectAlternativeName};
use openssl::x509::{X509, X509NameBuilder};

const DAY: i64 = 86_400;

pub struct CertSpec<'a> {
    pub cn: &'a str,
    pub sans: &'a [&'a str],
    pub bits: u32,
    pub digest: MessageDigest,
    /// Validity, in days relative to now.
    pub from_days: i64,
    pub to_days: i64,
    pub ca: bool,
}

impl Default for CertSpec<'_> {
    fn default() -> Self {
        Self {
            cn: "rdp.example.test",
            sans: &["rdp.example.test"],
            bits: 2048,
            digest: MessageDigest::sha256(),
            from_days: -1,
            to_days: 365,
            ca: false,
        }
    }
}

/// Makes a certificate, self-signed or signed by `issuer`.
pub fn make_cert(
    spec: &CertSpec<'_>,
    issuer: Option<(&X509, &PKey<Private>)>,
) -> (X509, PKey<Private>) {
    let key = PKey::from_rsa(Rsa::generate(spec.bits).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", spec.cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let serial = BigNum::from_u32(rand_u32())
        .unwrap()
        .to_asn1_integer()
        .unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map_or(name.as_ref(), |(c, _)| c.subject_name()))
        .unwrap();
    b.set_pubkey(&key).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    b.set_not_before(&Asn1Time::from_unix(now + spec.from_days * DAY).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now + spec.to_days * DAY).unwrap())
        .unwrap();
    let mut bc = BasicConstraints::new();
    if spec.ca {
        bc.critical().ca();
    }
    b.append_extension(bc.build().unwrap()).unwrap();
    if !spec.ca {
        b.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
            .unwrap();
    }
    if !spec.sans.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for s in spec.sans {
            if s.parse::<IpAddr>().is_ok() {
                san.ip(s);
            } else {
                san.dns(s);
            }
        }
        let ext = san
            .build(&b.x509v3_context(issuer.map(|(c, _)| c.as_ref()), None))
            .unwrap();
        b.append_extension(ext).unwrap();
    }
    let signer = issuer.map_or(&key, |(_, k)| k);
    b.sign(signer, spec.digest).unwrap();
    (b.build(), key)
}

pub fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    u32::from_be_bytes(b) >> 1
}

pub fn write_pem(dir: &tempfile::TempDir, name: &str, certs: &[&X509]) -> PathBuf {
    let path = dir.path().join(name);
    let mut pem = Vec::new();
    for c in certs {
        pem.extend_from_slice(&c.to_pem().unwrap());
    }
    std::fs::write(&path, pem).unwrap();
    path
}
