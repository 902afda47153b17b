//! Sans-IO TLS codec for version probing: a hand-built ClientHello for a chosen maximum version
//! (TLS 1.0, 1.1 or 1.2) and an incremental parser of the server's first flight up to and
//! including the Certificate message, which is sent in plaintext up to TLS 1.2.
//!
//! rustls cannot speak TLS 1.0/1.1, CBC or RSA key exchange, so this module is how rdpsweep learns
//! whether a server accepts those versions, and reads the certificate of a TLS 1.0-only host,
//! without completing a handshake.
//!
//! Message layouts follow RFC 5246 (TLS 1.2) section 7.4 and RFC 8446 (TLS 1.3) section 4; the
//! record layer follows RFC 5246 section 6.2. Extensions: RFC 6066 (server_name), RFC 8422
//! (supported_groups, ec_point_formats), RFC 5246 7.4.1.4.1 (signature_algorithms), RFC 5746
//! (renegotiation_info), RFC 7627 (extended_master_secret), RFC 7685 (padding), RFC 8446 4.2.1
//! (supported_versions).
//!
//! Everything here is a pure function over bytes: the client random is passed in, nothing reads
//! a socket or a clock, and every length read from the network is bounded.

use std::fmt;

/// Largest record fragment accepted: 2^14 plaintext bytes plus the 2048 bytes of expansion
/// RFC 5246 6.2.3 allows for a TLSCiphertext.
pub const MAX_RECORD_LEN: usize = 16384 + 2048;

/// Upper bound on the handshake bytes of one server flight (ServerHello, Certificate, ...).
/// Real RDP servers send a few KiB; a chain of ten 4096-bit certificates stays below 20 KiB.
pub const MAX_FLIGHT_LEN: usize = 256 * 1024;

/// Length of a TLS record header (content type, version, length).
pub const RECORD_HEADER_LEN: usize = 5;

// ---------------------------------------------------------------------------------------------
// Newtypes that keep unknown values.
// ---------------------------------------------------------------------------------------------

/// `ProtocolVersion` (RFC 5246 6.2.1, RFC 8446 4.1.2): `{major, minor}` as one `u16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion(pub u16);

impl ProtocolVersion {
    pub const SSL3: Self = Self(0x0300);
    pub const TLS1_0: Self = Self(0x0301);
    pub const TLS1_1: Self = Self(0x0302);
    pub const TLS1_2: Self = Self(0x0303);
    pub const TLS1_3: Self = Self(0x0304);

    /// The versions rdpsweep knows how to name, oldest first.
    pub const KNOWN: [Self; 5] = [
        Self::SSL3,
        Self::TLS1_0,
        Self::TLS1_1,
        Self::TLS1_2,
        Self::TLS1_3,
    ];

    /// The short name used in reports: `"ssl3"`, `"1.0"`, `"1.1"`, `"1.2"`, `"1.3"`.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::SSL3 => Some("ssl3"),
            Self::TLS1_0 => Some("1.0"),
            Self::TLS1_1 => Some("1.1"),
            Self::TLS1_2 => Some("1.2"),
            Self::TLS1_3 => Some("1.3"),
            _ => None,
        }
    }

    /// The four TLS versions clients and servers are compared on, oldest first.
    pub const TLS: [Self; 4] = [Self::TLS1_0, Self::TLS1_1, Self::TLS1_2, Self::TLS1_3];

    /// Parses a report name (`"1.0"`, `"ssl3"`, ...) back into a version.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::KNOWN.into_iter().find(|v| v.name() == Some(name))
    }

    /// Parses any common spelling: `1.2`, `TLS1.2`, `TLSv1.2`, `tls1_2`, `TLS 1.2`, `TLSv1`
    /// (1.0), `ssl3`, `SSL3.0`, and the wire value `0x0303`.
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim().to_ascii_lowercase().replace([' ', '_'], ".");
        if let Some(hex) = t.strip_prefix("0x") {
            return u16::from_str_radix(hex, 16).ok().map(Self);
        }
        if matches!(
            t.as_str(),
            "ssl3" | "ssl3.0" | "sslv3" | "ssl.3" | "ssl.3.0"
        ) {
            return Some(Self::SSL3);
        }
        let t = t.strip_prefix("tls").unwrap_or(&t);
        let t = t.strip_prefix('.').unwrap_or(t);
        let t = t.strip_prefix('v').unwrap_or(t);
        match t {
            "1" | "1.0" | "10" => Some(Self::TLS1_0),
            "1.1" | "11" => Some(Self::TLS1_1),
            "1.2" | "12" => Some(Self::TLS1_2),
            "1.3" | "13" => Some(Self::TLS1_3),
            _ => None,
        }
    }

    /// The spreadsheet form: `TLS1.0` ... `TLS1.3`, `SSL3.0` (text a spreadsheet cannot turn
    /// into a number); unknown values as `0x....`.
    pub fn label(self) -> String {
        match self {
            Self::SSL3 => "SSL3.0".to_owned(),
            v => match v.name() {
                Some(n) => format!("TLS{n}"),
                None => v.to_string(),
            },
        }
    }

    /// The position of a TLS version in [`Self::TLS`].
    pub fn tls_index(self) -> Option<usize> {
        Self::TLS.iter().position(|v| *v == self)
    }

    /// TLS 1.1 and older (including SSL 3.0): deprecated by RFC 8996.
    pub fn is_deprecated(self) -> bool {
        self < Self::TLS1_2
    }
}

impl serde::Serialize for ProtocolVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown TLS version {s:?} (expected 1.0, 1.1, 1.2 or 1.3)"
            ))
        })
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "0x{:04x}", self.0),
        }
    }
}

/// `CipherSuite` (RFC 5246 A.5, RFC 8446 B.4), with the IANA names of the suites Windows
/// Schannel, OpenSSL and rustls use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CipherSuite(pub u16);

/// IANA TLS Cipher Suites registry entries that rdpsweep names.
const CIPHER_SUITE_NAMES: &[(u16, &str)] = &[
    (0x0000, "TLS_NULL_WITH_NULL_NULL"),
    (0x0001, "TLS_RSA_WITH_NULL_MD5"),
    (0x0002, "TLS_RSA_WITH_NULL_SHA"),
    (0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5"),
    (0x0004, "TLS_RSA_WITH_RC4_128_MD5"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5"),
    (0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0009, "TLS_RSA_WITH_DES_CBC_SHA"),
    (0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA"),
    (0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA"),
    (0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA"),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA"),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x003B, "TLS_RSA_WITH_NULL_SHA256"),
    (0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
    (0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256"),
    (0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0x006A, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256"),
    (0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
    (0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0x00A2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256"),
    (0x00A3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384"),
    (0x00FF, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
    (0x1301, "TLS_AES_128_GCM_SHA256"),
    (0x1302, "TLS_AES_256_GCM_SHA384"),
    (0x1303, "TLS_CHACHA20_POLY1305_SHA256"),
    (0x1304, "TLS_AES_128_CCM_SHA256"),
    (0x1305, "TLS_AES_128_CCM_8_SHA256"),
    (0x5600, "TLS_FALLBACK_SCSV"),
    (0xC002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA"),
    (0xC007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"),
    (0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
    (0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
    (0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
];

impl CipherSuite {
    /// The IANA name, for the suites rdpsweep knows.
    pub fn name(self) -> Option<&'static str> {
        CIPHER_SUITE_NAMES
            .iter()
            .find(|(id, _)| *id == self.0)
            .map(|(_, n)| *n)
    }

    /// Looks a suite up by its IANA name.
    pub fn from_name(name: &str) -> Option<Self> {
        CIPHER_SUITE_NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(id, _)| Self(*id))
    }
}

impl CipherSuite {
    /// An ECDHE key exchange with an AEAD cipher (AES-GCM, ChaCha20-Poly1305), or a TLS 1.3
    /// suite (always (EC)DHE and AEAD): what a client restricted to modern suites accepts.
    pub fn is_ecdhe_aead(self) -> bool {
        matches!(
            self.0,
            0x1301..=0x1303 | 0xC02B | 0xC02C | 0xC02F | 0xC030 | 0xCCA8 | 0xCCA9
        )
    }

    /// Parses an IANA name or the wire value `0xC02F`.
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim();
        match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(hex) => u16::from_str_radix(hex, 16).ok().map(Self),
            None => Self::from_name(t),
        }
    }
}

impl serde::Serialize for CipherSuite {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for CipherSuite {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown cipher suite {s:?}")))
    }
}

impl fmt::Display for CipherSuite {
    /// The IANA name, or `0xXXXX` for an unknown suite.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "0x{:04X}", self.0),
        }
    }
}

/// The cipher suites offered by [`client_hello`], in preference order: what Windows Schannel,
/// OpenSSL and browsers have offered over the years (ECDHE and DHE with GCM and CBC, RSA key
/// exchange with GCM, CBC, 3DES and RC4), so that any RDP server from Windows Server 2003 on
/// finds one it accepts. Export and NULL suites are left out.
pub const PROBE_CIPHER_SUITES: &[CipherSuite] = &[
    CipherSuite(0xC02C), // TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    CipherSuite(0xC030), // TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    CipherSuite(0xC02B), // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    CipherSuite(0xC02F), // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    CipherSuite(0xCCA9), // TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
    CipherSuite(0xCCA8), // TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
    CipherSuite(0x009F), // TLS_DHE_RSA_WITH_AES_256_GCM_SHA384
    CipherSuite(0x009E), // TLS_DHE_RSA_WITH_AES_128_GCM_SHA256
    CipherSuite(0xC024), // TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384
    CipherSuite(0xC028), // TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384
    CipherSuite(0xC023), // TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256
    CipherSuite(0xC027), // TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256
    CipherSuite(0xC00A), // TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA
    CipherSuite(0xC014), // TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA
    CipherSuite(0xC009), // TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA
    CipherSuite(0xC013), // TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA
    CipherSuite(0x006B), // TLS_DHE_RSA_WITH_AES_256_CBC_SHA256
    CipherSuite(0x0067), // TLS_DHE_RSA_WITH_AES_128_CBC_SHA256
    CipherSuite(0x0039), // TLS_DHE_RSA_WITH_AES_256_CBC_SHA
    CipherSuite(0x0033), // TLS_DHE_RSA_WITH_AES_128_CBC_SHA
    CipherSuite(0x009D), // TLS_RSA_WITH_AES_256_GCM_SHA384
    CipherSuite(0x009C), // TLS_RSA_WITH_AES_128_GCM_SHA256
    CipherSuite(0x003D), // TLS_RSA_WITH_AES_256_CBC_SHA256
    CipherSuite(0x003C), // TLS_RSA_WITH_AES_128_CBC_SHA256
    CipherSuite(0x0035), // TLS_RSA_WITH_AES_256_CBC_SHA
    CipherSuite(0x002F), // TLS_RSA_WITH_AES_128_CBC_SHA
    CipherSuite(0xC012), // TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA
    CipherSuite(0x0016), // TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA
    CipherSuite(0x000A), // TLS_RSA_WITH_3DES_EDE_CBC_SHA
    CipherSuite(0x0005), // TLS_RSA_WITH_RC4_128_SHA
    CipherSuite(0x0004), // TLS_RSA_WITH_RC4_128_MD5
];

/// `ContentType` of a TLS record (RFC 5246 6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentType(pub u8);

impl ContentType {
    pub const CHANGE_CIPHER_SPEC: Self = Self(20);
    pub const ALERT: Self = Self(21);
    pub const HANDSHAKE: Self = Self(22);
    pub const APPLICATION_DATA: Self = Self(23);
}

/// `HandshakeType` (RFC 5246 7.4, RFC 8446 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandshakeType(pub u8);

impl HandshakeType {
    pub const HELLO_REQUEST: Self = Self(0);
    pub const CLIENT_HELLO: Self = Self(1);
    pub const SERVER_HELLO: Self = Self(2);
    pub const CERTIFICATE: Self = Self(11);
    pub const SERVER_KEY_EXCHANGE: Self = Self(12);
    pub const CERTIFICATE_REQUEST: Self = Self(13);
    pub const SERVER_HELLO_DONE: Self = Self(14);
    pub const CERTIFICATE_STATUS: Self = Self(22);
}

/// `ExtensionType` (IANA TLS ExtensionType Values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtensionType(pub u16);

impl ExtensionType {
    pub const SERVER_NAME: Self = Self(0);
    pub const SUPPORTED_GROUPS: Self = Self(10);
    pub const EC_POINT_FORMATS: Self = Self(11);
    pub const SIGNATURE_ALGORITHMS: Self = Self(13);
    pub const PADDING: Self = Self(21);
    pub const EXTENDED_MASTER_SECRET: Self = Self(23);
    pub const SUPPORTED_VERSIONS: Self = Self(43);
    pub const RENEGOTIATION_INFO: Self = Self(0xFF01);
}

/// `AlertLevel` (RFC 5246 7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlertLevel(pub u8);

impl AlertLevel {
    pub const WARNING: Self = Self(1);
    pub const FATAL: Self = Self(2);
}

impl fmt::Display for AlertLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::WARNING => f.write_str("warning"),
            Self::FATAL => f.write_str("fatal"),
            Self(other) => write!(f, "level {other}"),
        }
    }
}

/// `AlertDescription` (RFC 5246 7.2, RFC 8446 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlertDescription(pub u8);

impl AlertDescription {
    pub const CLOSE_NOTIFY: Self = Self(0);
    pub const UNEXPECTED_MESSAGE: Self = Self(10);
    pub const HANDSHAKE_FAILURE: Self = Self(40);
    pub const ILLEGAL_PARAMETER: Self = Self(47);
    pub const DECODE_ERROR: Self = Self(50);
    pub const PROTOCOL_VERSION: Self = Self(70);
    pub const INSUFFICIENT_SECURITY: Self = Self(71);
    pub const INTERNAL_ERROR: Self = Self(80);
    pub const INAPPROPRIATE_FALLBACK: Self = Self(86);

    /// The RFC name (`handshake_failure`, ...).
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "close_notify",
            10 => "unexpected_message",
            20 => "bad_record_mac",
            21 => "decryption_failed",
            22 => "record_overflow",
            30 => "decompression_failure",
            40 => "handshake_failure",
            41 => "no_certificate",
            42 => "bad_certificate",
            43 => "unsupported_certificate",
            44 => "certificate_revoked",
            45 => "certificate_expired",
            46 => "certificate_unknown",
            47 => "illegal_parameter",
            48 => "unknown_ca",
            49 => "access_denied",
            50 => "decode_error",
            51 => "decrypt_error",
            60 => "export_restriction",
            70 => "protocol_version",
            71 => "insufficient_security",
            80 => "internal_error",
            86 => "inappropriate_fallback",
            90 => "user_canceled",
            100 => "no_renegotiation",
            109 => "missing_extension",
            110 => "unsupported_extension",
            112 => "unrecognized_name",
            116 => "certificate_required",
            120 => "no_application_protocol",
            _ => return None,
        })
    }
}

impl fmt::Display for AlertDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "alert {}", self.0),
        }
    }
}

/// An `Alert` message (RFC 5246 7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Alert {
    pub level: AlertLevel,
    pub description: AlertDescription,
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} alert {}", self.level, self.description)
    }
}

// ---------------------------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------------------------

/// What went wrong building a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("cannot build a ClientHello for version {0}: only TLS 1.0, 1.1 and 1.2 can be offered")]
    UnsupportedVersion(ProtocolVersion),
    #[error("server name {0:?} cannot be sent as SNI: {1}")]
    InvalidServerName(String, &'static str),
}

/// What went wrong parsing the server's flight. Every variant names the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsParseError {
    #[error("not a TLS record: content type 0x{content_type:02x}, version 0x{version:04x}")]
    NotTls { content_type: u8, version: u16 },
    #[error("TLS record of {len} bytes exceeds the {MAX_RECORD_LEN}-byte limit")]
    RecordTooLarge { len: usize },
    #[error("server handshake messages exceed the {MAX_FLIGHT_LEN}-byte limit")]
    FlightTooLarge,
    #[error("unexpected {what} before the server's hello flight ended")]
    Unexpected { what: String },
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
}

fn malformed(what: &'static str, detail: impl Into<String>) -> TlsParseError {
    TlsParseError::Malformed {
        what,
        detail: detail.into(),
    }
}

mod flight;
mod hello;

pub use flight::*;
pub use hello::*;

#[cfg(test)]
mod tests;
