//! Finding identifiers and severities: the one place where ids are defined, so that the
//! documentation (`docs/output.md`), the tests and every output format agree.

use serde::{Deserialize, Serialize};

/// How much a finding matters to an administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// One observation worth acting on. `id` is stable (see [`ids`]); `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub severity: Severity,
    pub message: String,
}

impl Finding {
    pub fn new(id: &str, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            id: id.to_owned(),
            severity,
            message: message.into(),
        }
    }
}

/// Stable finding ids. Add, never rename: users filter on them.
pub mod ids {
    // Security layer (MS-RDPBCGR 2.2.1.2).
    pub const NLA_NOT_REQUIRED: &str = "nla-not-required";
    pub const STANDARD_RDP_SECURITY_ALLOWED: &str = "standard-rdp-security-allowed";
    pub const LEGACY_SERVER: &str = "legacy-rdp-server";
    pub const RDP_ENCRYPTION_WEAK: &str = "rdp-encryption-weak";
    /// Standard RDP Security with encryption level none: the session travels in clear.
    pub const RDP_ENCRYPTION_NONE: &str = "rdp-encryption-none";
    // TLS and certificate.
    pub const CERT_EXPIRED: &str = "cert-expired";
    pub const CERT_NOT_YET_VALID: &str = "cert-not-yet-valid";
    pub const CERT_EXPIRING_SOON: &str = "cert-expiring-soon";
    pub const CERT_SELF_SIGNED: &str = "cert-self-signed";
    pub const CERT_UNTRUSTED: &str = "cert-untrusted";
    pub const CERT_NAME_MISMATCH: &str = "cert-name-mismatch";
    /// The host's NTLM DNS name is not on the certificate, while the scanned name is: clients
    /// that type the scanned name are fine (informational).
    pub const CERT_NTLM_NAME_DIFFERS: &str = "cert-ntlm-name-differs";
    pub const CERT_WEAK_KEY: &str = "cert-weak-key";
    pub const CERT_WEAK_SIGNATURE: &str = "cert-weak-signature";
    pub const TLS_DEPRECATED_VERSION: &str = "tls-deprecated-version";
    // CredSSP and identity.
    pub const CREDSSP_ORACLE_UNPATCHED: &str = "credssp-oracle-unpatched";
    pub const CLOCK_SKEW: &str = "clock-skew";
    /// A client policy finding (`rdpsweep client`): `AllowEncryptionOracle=2` left in place.
    pub const CLIENT_ORACLE_VULNERABLE: &str = "client-oracle-vulnerable";
    pub const OS_END_OF_SUPPORT: &str = "os-end-of-support";
}
