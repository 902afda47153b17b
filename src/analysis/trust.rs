//! Trust verdicts on a captured certificate chain (pure): webpki chain building, signatures,
//! validity period and serverAuth usage against each configured trust store, at the scan's
//! `now`. The stores are data: the CLI loads the platform store and `--ca-file` once per scan
//! (`crate::cli::trust`); the probe never judges, it only captures the chain.

use std::fmt;
use std::sync::Arc;

use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, RootCertStore};

use crate::analysis::cert;

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

/// One trust store and the SHA-256 of the certificates it was built from (a self-signed leaf
/// pinned as a root fails webpki with `CaUsedAsEndEntity`: it is matched by fingerprint
/// instead).
#[derive(Debug, Clone)]
pub struct TrustStore {
    roots: Arc<RootCertStore>,
    pins: Vec<[u8; 32]>,
}

impl TrustStore {
    /// A store of every usable anchor among `ders` (a platform store); returns it with the
    /// number of certificates that could not be used. `None` when none could.
    pub fn lenient(ders: &[Vec<u8>]) -> (Option<Self>, usize) {
        let mut roots = RootCertStore::empty();
        let (_, ignored) = roots
            .add_parsable_certificates(ders.iter().map(|d| CertificateDer::from(d.as_slice())));
        if roots.is_empty() {
            return (None, ignored);
        }
        let store = Self {
            roots: Arc::new(roots),
            pins: Vec::new(),
        };
        (Some(store), ignored)
    }

    /// A store of exactly `ders`, each pinned by fingerprint too (`--ca-file`): fails with the
    /// (0-based) index and the reason of the first certificate that is not a usable anchor.
    pub fn pinned(ders: &[Vec<u8>]) -> Result<Self, (usize, String)> {
        let mut roots = RootCertStore::empty();
        for (index, der) in ders.iter().enumerate() {
            roots
                .add(CertificateDer::from(der.as_slice()))
                .map_err(|e| (index, e.to_string()))?;
        }
        Ok(Self {
            roots: Arc::new(roots),
            pins: ders.iter().map(|d| cert::sha256(d)).collect(),
        })
    }

    /// How many trust anchors the store holds.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }
}

/// The stores a scan judges chains against.
#[derive(Debug, Clone, Default)]
pub struct TrustStores {
    /// The operating system's store; `None` when it was disabled or empty.
    pub platform: Option<TrustStore>,
    /// `--ca-file`; `None` without the option.
    pub ca_file: Option<TrustStore>,
}

impl TrustStores {
    /// Judges a chain (DER, leaf first) against each configured store at time `now`. Names are
    /// not checked here (see `analysis::tls::name_verdict`).
    pub fn judge_chain(&self, chain: &[Vec<u8>], now: UnixTime) -> ChainTrust {
        let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        ChainTrust {
            platform: self
                .platform
                .as_ref()
                .map(|s| judge(s, chain, now, algorithms)),
            ca_file: self
                .ca_file
                .as_ref()
                .map(|s| judge(s, chain, now, algorithms)),
        }
    }
}

/// One webpki verdict (chain building and signatures, validity period, serverAuth usage).
fn judge(
    store: &TrustStore,
    chain: &[Vec<u8>],
    now: UnixTime,
    algorithms: WebPkiSupportedAlgorithms,
) -> TrustVerdict {
    let Some((leaf, rest)) = chain.split_first() else {
        return TrustVerdict::Untrusted("no certificate".into());
    };
    if store.pins.contains(&cert::sha256(leaf)) {
        // The leaf itself is in the store (a pinned self-signed certificate): trusted while
        // it is within its validity period.
        return pinned_validity(leaf, now);
    }
    let leaf_der = CertificateDer::from(leaf.as_slice());
    let parsed = match ParsedCertificate::try_from(&leaf_der) {
        Ok(p) => p,
        Err(e) => return TrustVerdict::Untrusted(reason(&e)),
    };
    let intermediates: Vec<CertificateDer<'_>> = rest
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    match verify_server_cert_signed_by_trust_anchor(
        &parsed,
        &store.roots,
        &intermediates,
        now,
        algorithms.all,
    ) {
        Ok(()) => TrustVerdict::Trusted,
        Err(e) => TrustVerdict::Untrusted(reason(&e)),
    }
}

fn pinned_validity(leaf: &[u8], now: UnixTime) -> TrustVerdict {
    let now_ts = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let Ok(now_dt) = time::OffsetDateTime::from_unix_timestamp(now_ts) else {
        return TrustVerdict::Untrusted("clock out of range".into());
    };
    match cert::parse_certificate(leaf, now_dt) {
        Err(e) => TrustVerdict::Untrusted(e.to_string()),
        Ok(c) if now_ts > c.not_after => TrustVerdict::Untrusted("expired".into()),
        Ok(c) if now_ts < c.not_before => TrustVerdict::Untrusted("not yet valid".into()),
        Ok(_) => TrustVerdict::Trusted,
    }
}

/// A short reason for a webpki/rustls verification error.
fn reason(e: &rustls::Error) -> String {
    #[allow(deprecated)]
    match e {
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::UnknownIssuer => "unknown issuer".into(),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired".into(),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "not yet valid".into()
            }
            CertificateError::BadSignature => "bad signature".into(),
            CertificateError::BadEncoding => "bad encoding".into(),
            CertificateError::UnsupportedSignatureAlgorithm
            | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                "unsupported or weak signature algorithm".into()
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "not valid for TLS server authentication".into()
            }
            CertificateError::UnhandledCriticalExtension => "unhandled critical extension".into(),
            CertificateError::Revoked => "revoked".into(),
            CertificateError::Other(other) => {
                let text = other.to_string();
                if text.contains("CaUsedAsEndEntity") {
                    "CA certificate used as the server certificate".into()
                } else {
                    text
                }
            }
            other => other.to_string(),
        },
        other => other.to_string(),
    }
}
