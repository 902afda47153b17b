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

// ---------------------------------------------------------------------------------------------
// ClientHello.
// ---------------------------------------------------------------------------------------------

/// The named groups offered (RFC 8422 5.1.1, RFC 7748): x25519, secp256r1, secp384r1, secp521r1.
const PROBE_GROUPS: &[u16] = &[0x001D, 0x0017, 0x0018, 0x0019];

/// The signature schemes offered in TLS 1.2 (RFC 8446 4.2.3 code points; the SHA-1 ones are the
/// RFC 5246 `{sha1, rsa}` / `{sha1, ecdsa}` pairs that old Schannel may need).
const PROBE_SIGNATURE_SCHEMES: &[u16] = &[
    0x0403, // ecdsa_secp256r1_sha256
    0x0503, // ecdsa_secp384r1_sha384
    0x0603, // ecdsa_secp521r1_sha512
    0x0804, // rsa_pss_rsae_sha256
    0x0805, // rsa_pss_rsae_sha384
    0x0806, // rsa_pss_rsae_sha512
    0x0401, // rsa_pkcs1_sha256
    0x0501, // rsa_pkcs1_sha384
    0x0601, // rsa_pkcs1_sha512
    0x0201, // rsa_pkcs1_sha1
    0x0203, // ecdsa_sha1
    0x0202, // dsa_sha1
];

/// What to put in a probing ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHelloParams<'a> {
    /// The highest version offered (`client_version`): TLS 1.0, 1.1 or 1.2. A server answers
    /// with the highest version it supports that is not above it (RFC 5246 E.1).
    pub max_version: ProtocolVersion,
    /// The 32-byte client random (the caller supplies randomness: this module has no RNG).
    pub random: [u8; 32],
    /// A DNS host name to send as SNI; `None` (for IP targets) sends none.
    pub server_name: Option<&'a str>,
}

/// Builds one TLS record carrying a ClientHello (RFC 5246 7.4.1.2).
///
/// Extensions: server_name (when given), supported_groups, ec_point_formats, renegotiation_info
/// (empty, RFC 5746), extended_master_secret, and signature_algorithms when TLS 1.2 is offered
/// (RFC 5246 7.4.1.4.1 forbids it for older versions). A padding extension keeps the handshake
/// message out of 256..=511 bytes, which some middleboxes and old stacks mishandle (RFC 7685).
pub fn client_hello(params: &ClientHelloParams<'_>) -> Result<Vec<u8>, HelloError> {
    let version = params.max_version;
    if !(ProtocolVersion::TLS1_0..=ProtocolVersion::TLS1_2).contains(&version) {
        return Err(HelloError::UnsupportedVersion(version));
    }

    let mut extensions = Vec::new();
    if let Some(name) = params.server_name {
        let name = validate_sni(name)?;
        // ServerNameList { NameType host_name(0), HostName }
        let mut list = Vec::new();
        list.push(0u8);
        put_u16(&mut list, len_u16(name.len()));
        list.extend_from_slice(name.as_bytes());
        let mut data = Vec::new();
        put_u16(&mut data, len_u16(list.len()));
        data.extend_from_slice(&list);
        put_extension(&mut extensions, ExtensionType::SERVER_NAME, &data);
    }
    let mut groups = Vec::new();
    put_u16(&mut groups, len_u16(PROBE_GROUPS.len() * 2));
    for g in PROBE_GROUPS {
        put_u16(&mut groups, *g);
    }
    put_extension(&mut extensions, ExtensionType::SUPPORTED_GROUPS, &groups);
    // ECPointFormatList: one format, uncompressed(0).
    put_extension(&mut extensions, ExtensionType::EC_POINT_FORMATS, &[1, 0]);
    if version >= ProtocolVersion::TLS1_2 {
        let mut schemes = Vec::new();
        put_u16(&mut schemes, len_u16(PROBE_SIGNATURE_SCHEMES.len() * 2));
        for s in PROBE_SIGNATURE_SCHEMES {
            put_u16(&mut schemes, *s);
        }
        put_extension(
            &mut extensions,
            ExtensionType::SIGNATURE_ALGORITHMS,
            &schemes,
        );
    }
    // renegotiation_info with an empty renegotiated_connection (initial handshake).
    put_extension(&mut extensions, ExtensionType::RENEGOTIATION_INFO, &[0]);
    put_extension(&mut extensions, ExtensionType::EXTENDED_MASTER_SECRET, &[]);

    let mut body = Vec::with_capacity(512);
    put_u16(&mut body, version.0);
    body.extend_from_slice(&params.random);
    body.push(0); // empty session_id
    put_u16(&mut body, len_u16(PROBE_CIPHER_SUITES.len() * 2));
    for suite in PROBE_CIPHER_SUITES {
        put_u16(&mut body, suite.0);
    }
    body.extend_from_slice(&[1, 0]); // compression_methods: null only

    // RFC 7685 padding: the handshake message is 4 (header) + body + 2 (extensions length) +
    // extensions. Keep it out of 256..=511 bytes.
    let unpadded = 4 + body.len() + 2 + extensions.len();
    if (256..512).contains(&unpadded) {
        let pad = (512 - unpadded).saturating_sub(4);
        put_extension(&mut extensions, ExtensionType::PADDING, &vec![0u8; pad]);
    }
    put_u16(&mut body, len_u16(extensions.len()));
    body.extend_from_slice(&extensions);

    let mut handshake = Vec::with_capacity(body.len() + 4);
    handshake.push(HandshakeType::CLIENT_HELLO.0);
    put_u24(&mut handshake, body.len());
    handshake.extend_from_slice(&body);

    // The record version is TLS 1.0 whatever is offered, as OpenSSL and Schannel send it
    // (RFC 5246 E.1: some servers refuse a higher record version).
    let mut record = Vec::with_capacity(handshake.len() + RECORD_HEADER_LEN);
    record.push(ContentType::HANDSHAKE.0);
    put_u16(&mut record, ProtocolVersion::TLS1_0.0);
    put_u16(&mut record, len_u16(handshake.len()));
    record.extend_from_slice(&handshake);
    Ok(record)
}

/// RFC 6066 3: a HostName is an ASCII DNS name without a trailing dot; IP literals are not
/// permitted.
fn validate_sni(name: &str) -> Result<&str, HelloError> {
    let bad = |why| HelloError::InvalidServerName(name.to_owned(), why);
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err(bad("empty"));
    }
    if trimmed.len() > 253 {
        return Err(bad("longer than 253 characters"));
    }
    if trimmed.parse::<std::net::IpAddr>().is_ok() {
        return Err(bad("IP addresses are not sent as SNI"));
    }
    if !trimmed
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err(bad("not an ASCII DNS name"));
    }
    Ok(trimmed)
}

fn len_u16(n: usize) -> u16 {
    // Callers only pass lengths of buffers built here from bounded constants and a name of at
    // most 253 bytes, so this never saturates.
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u24(out: &mut Vec<u8>, v: usize) {
    let v = u32::try_from(v).unwrap_or(u32::MAX).min(0x00FF_FFFF);
    out.extend_from_slice(&v.to_be_bytes()[1..]);
}

fn put_extension(out: &mut Vec<u8>, typ: ExtensionType, data: &[u8]) {
    put_u16(out, typ.0);
    put_u16(out, len_u16(data.len()));
    out.extend_from_slice(data);
}

// ---------------------------------------------------------------------------------------------
// Server flight.
// ---------------------------------------------------------------------------------------------

/// One extension as received, kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub typ: ExtensionType,
    pub data: Vec<u8>,
}

/// The SHA-256 of "HelloRetryRequest": a ServerHello with this random is an HRR (RFC 8446 4.1.3).
const HELLO_RETRY_REQUEST_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// A parsed ServerHello (RFC 5246 7.4.1.3, RFC 8446 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// `server_version` / `legacy_version` as sent.
    pub legacy_version: ProtocolVersion,
    /// The negotiated version: the supported_versions extension when present (TLS 1.3),
    /// otherwise `legacy_version`.
    pub version: ProtocolVersion,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cipher_suite: CipherSuite,
    pub compression_method: u8,
    pub extensions: Vec<Extension>,
    /// A TLS 1.3 HelloRetryRequest rather than a real ServerHello.
    pub hello_retry_request: bool,
}

impl ServerHello {
    /// Parses the body of a ServerHello handshake message (after the 4-byte header).
    pub fn parse(body: &[u8]) -> Result<Self, TlsParseError> {
        const WHAT: &str = "ServerHello";
        let mut r = Reader::new(body, WHAT);
        let legacy_version = ProtocolVersion(r.u16("server_version")?);
        let random: [u8; 32] = r
            .take(32, "random")?
            .try_into()
            .map_err(|_| malformed(WHAT, "random is not 32 bytes"))?;
        let sid_len = usize::from(r.u8("session_id length")?);
        if sid_len > 32 {
            return Err(malformed(
                WHAT,
                format!("session_id length {sid_len} exceeds 32"),
            ));
        }
        let session_id = r.take(sid_len, "session_id")?.to_vec();
        let cipher_suite = CipherSuite(r.u16("cipher_suite")?);
        let compression_method = r.u8("compression_method")?;
        let mut extensions = Vec::new();
        if !r.is_empty() {
            let ext_len = usize::from(r.u16("extensions length")?);
            let mut er = Reader::new(r.take(ext_len, "extensions")?, WHAT);
            while !er.is_empty() {
                let typ = ExtensionType(er.u16("extension type")?);
                let len = usize::from(er.u16("extension length")?);
                let data = er.take(len, "extension data")?.to_vec();
                extensions.push(Extension { typ, data });
            }
        }
        if !r.is_empty() {
            return Err(malformed(
                WHAT,
                format!("{} trailing bytes after the extensions", r.remaining()),
            ));
        }
        let mut version = legacy_version;
        if let Some(ext) = extensions
            .iter()
            .find(|e| e.typ == ExtensionType::SUPPORTED_VERSIONS)
        {
            match ext.data.as_slice() {
                [hi, lo] => version = ProtocolVersion(u16::from_be_bytes([*hi, *lo])),
                other => {
                    return Err(malformed(
                        WHAT,
                        format!(
                            "supported_versions extension of {} bytes, expected 2",
                            other.len()
                        ),
                    ));
                }
            }
        }
        Ok(Self {
            legacy_version,
            version,
            hello_retry_request: random == HELLO_RETRY_REQUEST_RANDOM,
            random,
            session_id,
            cipher_suite,
            compression_method,
            extensions,
        })
    }
}

/// Parses the body of a TLS 1.0-1.2 Certificate message (RFC 5246 7.4.2): the DER certificates,
/// sender's (leaf) first. The certificates themselves are not parsed here.
pub fn parse_certificate_list(body: &[u8]) -> Result<Vec<Vec<u8>>, TlsParseError> {
    const WHAT: &str = "Certificate message";
    let mut r = Reader::new(body, WHAT);
    let total = r.u24("certificate_list length")?;
    let mut list = Reader::new(r.take(total, "certificate_list")?, WHAT);
    if !r.is_empty() {
        return Err(malformed(
            WHAT,
            format!("{} trailing bytes after certificate_list", r.remaining()),
        ));
    }
    let mut certs = Vec::new();
    while !list.is_empty() {
        let len = list.u24("certificate length")?;
        if len == 0 {
            return Err(malformed(WHAT, "empty certificate entry"));
        }
        certs.push(list.take(len, "certificate")?.to_vec());
    }
    Ok(certs)
}

/// The length of the TLS record (header included) that starts `buf`: `Ok(None)` while fewer
/// than [`RECORD_HEADER_LEN`] bytes are there. Refuses what is not a TLS record (an unknown
/// content type, a version whose major byte is not 3) and fragments over [`MAX_RECORD_LEN`]
/// (RFC 5246 6.2.1), before anything is read for them.
pub fn record_len(buf: &[u8]) -> Result<Option<usize>, TlsParseError> {
    let Some(&[typ, v0, v1, l0, l1]) = buf.get(..RECORD_HEADER_LEN) else {
        return Ok(None);
    };
    let content_type = ContentType(typ);
    let version = u16::from_be_bytes([v0, v1]);
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    let known_type = matches!(
        content_type,
        ContentType::CHANGE_CIPHER_SPEC
            | ContentType::ALERT
            | ContentType::HANDSHAKE
            | ContentType::APPLICATION_DATA
    );
    if !known_type || version >> 8 != 3 {
        return Err(TlsParseError::NotTls {
            content_type: content_type.0,
            version,
        });
    }
    if len > MAX_RECORD_LEN {
        return Err(TlsParseError::RecordTooLarge { len });
    }
    Ok(Some(RECORD_HEADER_LEN + len))
}

/// What the server sent in its first flight, as far as it was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFlight {
    /// The record-layer version of the first record.
    pub record_version: Option<ProtocolVersion>,
    pub server_hello: Option<ServerHello>,
    /// Whether a Certificate message was received (it may be empty).
    pub certificate_received: bool,
    /// The DER certificates of the Certificate message, leaf first.
    pub certificates: Vec<Vec<u8>>,
    pub server_hello_done: bool,
    /// An alert, which ends the flight.
    pub alert: Option<Alert>,
    /// Handshake message types in arrival order (HelloRequest excluded).
    pub messages: Vec<HandshakeType>,
    /// The flight ended on a ChangeCipherSpec record (an abbreviated handshake).
    pub change_cipher_spec: bool,
}

/// Result of feeding bytes to a [`ServerFlightReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlightStatus {
    /// The flight is not complete: read more bytes and feed them.
    NeedMore,
    /// Everything a probe needs has arrived; see [`ServerFlightReader::flight`].
    Complete,
}

/// Incremental parser of the server's first flight (records in, ServerHello / Certificate /
/// ServerHelloDone / Alert out).
///
/// The flight is complete at the first of: an Alert; a Certificate message; a ServerHelloDone;
/// a ServerHello that selects TLS 1.3 or is a HelloRetryRequest (the rest is encrypted); a
/// ChangeCipherSpec. Records are limited to [`MAX_RECORD_LEN`] and the reassembled handshake
/// bytes to [`MAX_FLIGHT_LEN`].
#[derive(Debug, Default)]
pub struct ServerFlightReader {
    /// Unconsumed record-layer bytes (at most one partial record once `feed` returns).
    pending: Vec<u8>,
    /// Handshake bytes not yet forming a whole message.
    handshake: Vec<u8>,
    /// Alert bytes (an alert may in theory be split over records).
    alert: Vec<u8>,
    /// Total handshake bytes received.
    handshake_total: usize,
    flight: ServerFlight,
    complete: bool,
}

impl ServerFlightReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// What has been parsed so far (complete once `feed` returned [`FlightStatus::Complete`]).
    pub fn flight(&self) -> &ServerFlight {
        &self.flight
    }

    pub fn into_flight(self) -> ServerFlight {
        self.flight
    }

    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Feeds bytes read from the socket. Bytes after the end of the flight are ignored.
    pub fn feed(&mut self, data: &[u8]) -> Result<FlightStatus, TlsParseError> {
        if self.complete {
            return Ok(FlightStatus::Complete);
        }
        self.pending.extend_from_slice(data);
        let mut consumed = 0;
        let result = loop {
            let rest = self.pending.get(consumed..).unwrap_or_default();
            let record = match record_len(rest) {
                Ok(Some(record)) => record,
                Ok(None) => break Ok(FlightStatus::NeedMore),
                Err(e) => break Err(e),
            };
            let (Some(&[typ, v0, v1, ..]), Some(fragment)) = (
                rest.get(..RECORD_HEADER_LEN),
                rest.get(RECORD_HEADER_LEN..record),
            ) else {
                break Ok(FlightStatus::NeedMore);
            };
            let content_type = ContentType(typ);
            let version = u16::from_be_bytes([v0, v1]);
            let fragment = fragment.to_vec();
            consumed += record;
            self.flight
                .record_version
                .get_or_insert(ProtocolVersion(version));
            match self.record(content_type, &fragment) {
                Ok(FlightStatus::Complete) => {
                    self.complete = true;
                    break Ok(FlightStatus::Complete);
                }
                Ok(FlightStatus::NeedMore) => {}
                Err(e) => break Err(e),
            }
        };
        self.pending.drain(..consumed.min(self.pending.len()));
        if result.is_err() {
            // A broken stream stays broken: refuse further input.
            self.complete = true;
            self.pending.clear();
        }
        result
    }

    fn record(
        &mut self,
        content_type: ContentType,
        fragment: &[u8],
    ) -> Result<FlightStatus, TlsParseError> {
        match content_type {
            ContentType::ALERT => {
                self.alert.extend_from_slice(fragment);
                if let [level, description, ..] = self.alert[..] {
                    self.flight.alert = Some(Alert {
                        level: AlertLevel(level),
                        description: AlertDescription(description),
                    });
                    return Ok(FlightStatus::Complete);
                }
                Ok(FlightStatus::NeedMore)
            }
            ContentType::CHANGE_CIPHER_SPEC => {
                if self.flight.server_hello.is_none() {
                    return Err(TlsParseError::Unexpected {
                        what: "ChangeCipherSpec before ServerHello".into(),
                    });
                }
                self.flight.change_cipher_spec = true;
                Ok(FlightStatus::Complete)
            }
            ContentType::HANDSHAKE => {
                self.handshake_total = self.handshake_total.saturating_add(fragment.len());
                if self.handshake_total > MAX_FLIGHT_LEN {
                    return Err(TlsParseError::FlightTooLarge);
                }
                self.handshake.extend_from_slice(fragment);
                self.handshake_messages()
            }
            _ => Err(TlsParseError::Unexpected {
                what: format!("record of content type {}", content_type.0),
            }),
        }
    }

    /// Parses every complete handshake message in the reassembly buffer.
    fn handshake_messages(&mut self) -> Result<FlightStatus, TlsParseError> {
        let mut consumed = 0;
        let status = loop {
            let rest = self.handshake.get(consumed..).unwrap_or_default();
            let Some(&[typ, l0, l1, l2]) = rest.get(..4) else {
                break FlightStatus::NeedMore;
            };
            let len = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
            if len > MAX_FLIGHT_LEN {
                return Err(TlsParseError::FlightTooLarge);
            }
            let Some(body) = rest.get(4..4 + len) else {
                break FlightStatus::NeedMore;
            };
            let body = body.to_vec();
            consumed += 4 + len;
            if self.message(HandshakeType(typ), &body)? == FlightStatus::Complete {
                break FlightStatus::Complete;
            }
        };
        self.handshake.drain(..consumed.min(self.handshake.len()));
        Ok(status)
    }

    fn message(&mut self, typ: HandshakeType, body: &[u8]) -> Result<FlightStatus, TlsParseError> {
        if typ == HandshakeType::HELLO_REQUEST {
            return Ok(FlightStatus::NeedMore);
        }
        self.flight.messages.push(typ);
        if self.flight.server_hello.is_none() {
            if typ != HandshakeType::SERVER_HELLO {
                return Err(TlsParseError::Unexpected {
                    what: format!("handshake message type {} before ServerHello", typ.0),
                });
            }
            let hello = ServerHello::parse(body)?;
            let encrypted_rest =
                hello.version >= ProtocolVersion::TLS1_3 || hello.hello_retry_request;
            self.flight.server_hello = Some(hello);
            return Ok(if encrypted_rest {
                FlightStatus::Complete
            } else {
                FlightStatus::NeedMore
            });
        }
        match typ {
            HandshakeType::SERVER_HELLO => Err(TlsParseError::Unexpected {
                what: "second ServerHello".into(),
            }),
            HandshakeType::CERTIFICATE => {
                self.flight.certificates = parse_certificate_list(body)?;
                self.flight.certificate_received = true;
                Ok(FlightStatus::Complete)
            }
            HandshakeType::SERVER_HELLO_DONE => {
                if !body.is_empty() {
                    return Err(malformed(
                        "ServerHelloDone",
                        format!("{} bytes of body, expected none", body.len()),
                    ));
                }
                self.flight.server_hello_done = true;
                Ok(FlightStatus::Complete)
            }
            // ServerKeyExchange, CertificateRequest, CertificateStatus, ...: not needed.
            _ => Ok(FlightStatus::NeedMore),
        }
    }
}

/// Bounds-checked big-endian reader over one message.
struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, what }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], TlsParseError> {
        if n > self.buf.len() {
            return Err(malformed(
                self.what,
                format!("{field} needs {n} bytes, only {} left", self.buf.len()),
            ));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &str) -> Result<u8, TlsParseError> {
        match self.take(1, field)? {
            [b] => Ok(*b),
            _ => Err(malformed(self.what, format!("{field} missing"))),
        }
    }

    fn u16(&mut self, field: &str) -> Result<u16, TlsParseError> {
        match self.take(2, field)? {
            [a, b] => Ok(u16::from_be_bytes([*a, *b])),
            _ => Err(malformed(self.what, format!("{field} missing"))),
        }
    }

    fn u24(&mut self, field: &str) -> Result<usize, TlsParseError> {
        match self.take(3, field)? {
            [a, b, c] => Ok(usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c)),
            _ => Err(malformed(self.what, format!("{field} missing"))),
        }
    }
}

/// Parses a whole buffer as a server flight: `Ok(None)` when it is a valid but incomplete prefix.
pub fn parse_server_flight(bytes: &[u8]) -> Result<Option<ServerFlight>, TlsParseError> {
    let mut reader = ServerFlightReader::new();
    match reader.feed(bytes)? {
        FlightStatus::Complete => Ok(Some(reader.into_flight())),
        FlightStatus::NeedMore => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TLS10_FLIGHT: &[u8] = include_bytes!("../../fixtures/tls/server-flight-tls10-rsa.bin");
    const TLS12_FLIGHT: &[u8] = include_bytes!("../../fixtures/tls/server-flight-tls12-ecdhe.bin");
    const ALERT: &[u8] = include_bytes!("../../fixtures/tls/server-alert-protocol-version.bin");
    const FIXTURE_CERT_PEM: &str = include_str!("../../fixtures/tls/rsa1024-sha1-selfsigned.pem");

    fn fixture_cert_der() -> Vec<u8> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(FIXTURE_CERT_PEM.as_bytes())
            .expect("fixture PEM parses");
        pem.contents
    }

    /// Splits a byte string of TLS records into (content type, fragment) pairs.
    fn records(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i + 5 <= bytes.len() {
            let len = usize::from(u16::from_be_bytes([bytes[i + 3], bytes[i + 4]]));
            out.push((bytes[i], bytes[i + 5..i + 5 + len].to_vec()));
            i += 5 + len;
        }
        assert_eq!(i, bytes.len(), "fixture is whole records");
        out
    }

    /// Re-frames handshake bytes into records of at most `chunk` bytes.
    fn reframe(handshake: &[u8], chunk: usize, version: u16) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in handshake.chunks(chunk) {
            out.push(22);
            out.extend_from_slice(&version.to_be_bytes());
            out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
            out.extend_from_slice(piece);
        }
        out
    }

    fn handshake_bytes(flight: &[u8]) -> Vec<u8> {
        records(flight)
            .into_iter()
            .filter(|(t, _)| *t == 22)
            .flat_map(|(_, f)| f)
            .collect()
    }

    fn hello(max: ProtocolVersion, name: Option<&str>) -> Vec<u8> {
        client_hello(&ClientHelloParams {
            max_version: max,
            random: [0x5A; 32],
            server_name: name,
        })
        .expect("hello builds")
    }

    /// Walks a ClientHello record and returns (client_version, suites, extensions).
    type RawExtensions = Vec<(u16, Vec<u8>)>;

    fn parse_client_hello(record: &[u8]) -> (u16, Vec<u16>, RawExtensions) {
        assert_eq!(record[0], 22, "handshake record");
        assert_eq!(&record[1..3], &[3, 1], "record version TLS 1.0");
        let rec_len = usize::from(u16::from_be_bytes([record[3], record[4]]));
        assert_eq!(rec_len + 5, record.len());
        let hs = &record[5..];
        assert_eq!(hs[0], 1, "ClientHello");
        let body_len = usize::from(hs[1]) << 16 | usize::from(hs[2]) << 8 | usize::from(hs[3]);
        assert_eq!(body_len + 4, hs.len());
        let b = &hs[4..];
        let version = u16::from_be_bytes([b[0], b[1]]);
        assert_eq!(&b[2..34], &[0x5A; 32], "client random as given");
        assert_eq!(b[34], 0, "empty session id");
        let suites_len = usize::from(u16::from_be_bytes([b[35], b[36]]));
        let suites: Vec<u16> = b[37..37 + suites_len]
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        let mut i = 37 + suites_len;
        assert_eq!(&b[i..i + 2], &[1, 0], "null compression only");
        i += 2;
        let ext_len = usize::from(u16::from_be_bytes([b[i], b[i + 1]]));
        i += 2;
        assert_eq!(i + ext_len, b.len(), "extensions fill the rest");
        let mut exts = Vec::new();
        while i < b.len() {
            let t = u16::from_be_bytes([b[i], b[i + 1]]);
            let l = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
            exts.push((t, b[i + 4..i + 4 + l].to_vec()));
            i += 4 + l;
        }
        (version, suites, exts)
    }

    #[test]
    fn client_hello_tls12_layout() {
        let rec = hello(ProtocolVersion::TLS1_2, Some("rdp.example.test"));
        let (version, suites, exts) = parse_client_hello(&rec);
        assert_eq!(version, 0x0303);
        assert_eq!(suites.len(), PROBE_CIPHER_SUITES.len());
        // Suites Windows Schannel of every era accepts: CBC with RSA key exchange, GCM, ECDHE.
        for needed in [
            0x002F, 0x0035, 0x000A, 0x009C, 0xC013, 0xC014, 0xC02F, 0xC030,
        ] {
            assert!(suites.contains(&needed), "offers 0x{needed:04X}");
        }
        let types: Vec<u16> = exts.iter().map(|(t, _)| *t).collect();
        for needed in [0, 10, 11, 13, 0xFF01, 23] {
            assert!(
                types.contains(&needed),
                "extension {needed} present in {types:?}"
            );
        }
        let sni = &exts.iter().find(|(t, _)| *t == 0).unwrap().1;
        assert_eq!(&sni[..5], &[0, 19, 0, 0, 16]);
        assert_eq!(&sni[5..], b"rdp.example.test");
        let reneg = &exts.iter().find(|(t, _)| *t == 0xFF01).unwrap().1;
        assert_eq!(reneg, &[0]);
        // The handshake message is kept out of 256..=511 bytes (RFC 7685).
        let hs_len = rec.len() - 5;
        assert!(!(256..512).contains(&hs_len), "handshake length {hs_len}");
    }

    #[test]
    fn client_hello_tls10_and_11_leave_out_signature_algorithms() {
        for (v, wire) in [
            (ProtocolVersion::TLS1_0, 0x0301),
            (ProtocolVersion::TLS1_1, 0x0302),
        ] {
            let (version, _, exts) = parse_client_hello(&hello(v, None));
            assert_eq!(version, wire);
            let types: Vec<u16> = exts.iter().map(|(t, _)| *t).collect();
            assert!(!types.contains(&13), "no signature_algorithms for {v}");
            assert!(!types.contains(&0), "no SNI without a name");
        }
    }

    #[test]
    fn client_hello_refuses_what_it_cannot_offer() {
        for v in [
            ProtocolVersion::SSL3,
            ProtocolVersion::TLS1_3,
            ProtocolVersion(0x0200),
        ] {
            let err = client_hello(&ClientHelloParams {
                max_version: v,
                random: [0; 32],
                server_name: None,
            })
            .unwrap_err();
            assert_eq!(err, HelloError::UnsupportedVersion(v));
        }
        for bad in ["", "10.0.0.1", "::1", "höst.example", &"a".repeat(300)] {
            let err = client_hello(&ClientHelloParams {
                max_version: ProtocolVersion::TLS1_2,
                random: [0; 32],
                server_name: Some(bad),
            })
            .unwrap_err();
            assert!(
                matches!(err, HelloError::InvalidServerName(..)),
                "{bad:?}: {err}"
            );
        }
        // A trailing dot is dropped from SNI.
        let rec = hello(ProtocolVersion::TLS1_2, Some("host.example."));
        let (_, _, exts) = parse_client_hello(&rec);
        assert!(
            exts.iter()
                .find(|(t, _)| *t == 0)
                .unwrap()
                .1
                .ends_with(b"host.example")
        );
    }

    #[test]
    fn client_hello_is_understood_by_openssl_parser_shape() {
        // Our own reader accepts the handshake of what we build: a second, independent check
        // of the length fields (the real-server acceptance is tested in probe::tls).
        let rec = hello(ProtocolVersion::TLS1_2, Some("a.b"));
        let hs = &rec[5..];
        let len = usize::from(hs[1]) << 16 | usize::from(hs[2]) << 8 | usize::from(hs[3]);
        assert_eq!(len + 4, hs.len());
    }

    #[test]
    fn tls10_flight_from_openssl() {
        let flight = parse_server_flight(TLS10_FLIGHT)
            .unwrap()
            .expect("complete");
        let hello = flight.server_hello.as_ref().unwrap();
        assert_eq!(hello.version, ProtocolVersion::TLS1_0);
        assert_eq!(hello.legacy_version, ProtocolVersion::TLS1_0);
        assert_eq!(hello.cipher_suite, CipherSuite(0x002F));
        assert_eq!(
            hello.cipher_suite.to_string(),
            "TLS_RSA_WITH_AES_128_CBC_SHA"
        );
        assert_eq!(flight.record_version, Some(ProtocolVersion::TLS1_0));
        assert!(flight.certificate_received);
        assert_eq!(flight.certificates, vec![fixture_cert_der()]);
        assert!(flight.alert.is_none());
        assert_eq!(
            flight.messages,
            vec![HandshakeType::SERVER_HELLO, HandshakeType::CERTIFICATE]
        );
    }

    #[test]
    fn tls12_flight_from_openssl() {
        let flight = parse_server_flight(TLS12_FLIGHT)
            .unwrap()
            .expect("complete");
        let hello = flight.server_hello.as_ref().unwrap();
        assert_eq!(hello.version, ProtocolVersion::TLS1_2);
        assert_eq!(
            hello.cipher_suite.name(),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        );
        assert!(!hello.hello_retry_request);
        assert!(
            hello
                .extensions
                .iter()
                .any(|e| e.typ == ExtensionType::RENEGOTIATION_INFO)
        );
        assert_eq!(flight.certificates, vec![fixture_cert_der()]);
    }

    #[test]
    fn alert_from_openssl() {
        let flight = parse_server_flight(ALERT).unwrap().expect("complete");
        assert_eq!(
            flight.alert,
            Some(Alert {
                level: AlertLevel::FATAL,
                description: AlertDescription::PROTOCOL_VERSION
            })
        );
        assert_eq!(
            flight.alert.unwrap().to_string(),
            "fatal alert protocol_version"
        );
        assert!(flight.server_hello.is_none());
    }

    /// Every strict prefix of a valid flight is "need more", never an error or a panic.
    #[test]
    fn every_truncated_prefix_needs_more() {
        for fixture in [TLS10_FLIGHT, TLS12_FLIGHT, ALERT] {
            // The flight completes at the Certificate message (or the alert): prefixes before
            // that point are incomplete.
            let complete_at = (1..=fixture.len())
                .find(|n| matches!(parse_server_flight(&fixture[..*n]), Ok(Some(_))))
                .unwrap();
            for n in 0..complete_at {
                assert_eq!(
                    parse_server_flight(&fixture[..n]),
                    Ok(None),
                    "prefix of {n} bytes"
                );
            }
        }
    }

    /// Feeding byte by byte gives the same result as feeding at once.
    #[test]
    fn byte_at_a_time_feeding() {
        for fixture in [TLS10_FLIGHT, TLS12_FLIGHT] {
            let mut reader = ServerFlightReader::new();
            let mut status = FlightStatus::NeedMore;
            for b in fixture {
                status = reader.feed(std::slice::from_ref(b)).unwrap();
                if status == FlightStatus::Complete {
                    break;
                }
            }
            assert_eq!(status, FlightStatus::Complete);
            assert_eq!(
                Some(reader.into_flight()),
                parse_server_flight(fixture).unwrap()
            );
        }
    }

    /// Handshake messages split across many small records, and records holding several
    /// messages, reassemble to the same flight.
    #[test]
    fn reassembly_across_records() {
        let whole = parse_server_flight(TLS12_FLIGHT).unwrap().unwrap();
        let hs = handshake_bytes(TLS12_FLIGHT);
        for chunk in [1, 7, 100, 5000] {
            let reframed = reframe(&hs, chunk, 0x0303);
            let got = parse_server_flight(&reframed).unwrap().expect("complete");
            assert_eq!(got.certificates, whole.certificates, "chunk {chunk}");
            assert_eq!(got.server_hello, whole.server_hello, "chunk {chunk}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        // An X.224 / TPKT packet where TLS was expected.
        assert!(matches!(
            parse_server_flight(&[0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0]),
            Err(TlsParseError::NotTls {
                content_type: 3,
                ..
            })
        ));
        // HTTP.
        assert!(matches!(
            parse_server_flight(b"HTTP/1.1 400 Bad Request\r\n"),
            Err(TlsParseError::NotTls { .. })
        ));
        // Record version major != 3.
        assert!(matches!(
            parse_server_flight(&[22, 2, 0, 0, 1, 0]),
            Err(TlsParseError::NotTls { .. })
        ));
        // Oversized record.
        assert_eq!(
            parse_server_flight(&[22, 3, 3, 0xFF, 0xFF]),
            Err(TlsParseError::RecordTooLarge { len: 0xFFFF })
        );
        // Certificate before ServerHello.
        assert!(matches!(
            parse_server_flight(&reframe(&[11, 0, 0, 3, 0, 0, 0], 100, 0x0303)),
            Err(TlsParseError::Unexpected { .. })
        ));
        // Application data in the middle of the handshake.
        assert!(matches!(
            parse_server_flight(&[23, 3, 3, 0, 1, 0]),
            Err(TlsParseError::Unexpected { .. })
        ));
        // A ServerHello whose session id is longer than 32 bytes.
        let mut sh = vec![2, 0, 0, 36, 3, 3];
        sh.extend_from_slice(&[0; 32]);
        sh.push(33);
        sh.push(0);
        assert!(matches!(
            parse_server_flight(&reframe(&sh, 100, 0x0303)),
            Err(TlsParseError::Malformed {
                what: "ServerHello",
                ..
            })
        ));
        // A handshake message claiming 16 MiB.
        assert_eq!(
            parse_server_flight(&reframe(&[2, 0xFF, 0xFF, 0xFF], 100, 0x0303)),
            Err(TlsParseError::FlightTooLarge)
        );
        // After an error the reader refuses further input quietly.
        let mut r = ServerFlightReader::new();
        assert!(r.feed(b"garbage!").is_err());
        assert_eq!(r.feed(TLS10_FLIGHT), Ok(FlightStatus::Complete));
    }

    /// Every single-byte corruption of a real flight parses to a result or an error, never a
    /// panic, and never allocates beyond the limits.
    #[test]
    fn corrupted_flights_never_panic() {
        for fixture in [TLS10_FLIGHT, TLS12_FLIGHT] {
            for i in 0..fixture.len() {
                for v in [0x00, 0x7F, 0x80, 0xFF] {
                    let mut bad = fixture.to_vec();
                    bad[i] = v;
                    let _ = parse_server_flight(&bad);
                }
            }
        }
    }

    #[test]
    fn flight_limit_is_enforced() {
        // ServerKeyExchange-like filler messages until the 256 KiB cap.
        let mut hs = handshake_bytes(TLS12_FLIGHT);
        let sh_len = 4 + usize::from(hs[3]);
        hs.truncate(sh_len);
        for _ in 0..(MAX_FLIGHT_LEN / 16_000 + 2) {
            hs.extend_from_slice(&[12, 0, 0x3E, 0x80]);
            hs.extend_from_slice(&[0u8; 16_000]);
        }
        assert_eq!(
            parse_server_flight(&reframe(&hs, 16_384, 0x0303)),
            Err(TlsParseError::FlightTooLarge)
        );
    }

    #[test]
    fn tls13_server_hello_and_hrr_complete_the_flight() {
        let mut sh = vec![3, 3];
        sh.extend_from_slice(&[7; 32]);
        sh.push(0);
        sh.extend_from_slice(&[0x13, 0x01, 0]);
        sh.extend_from_slice(&[0, 6, 0, 43, 0, 2, 3, 4]);
        let mut msg = vec![2, 0, 0, sh.len() as u8];
        msg.extend_from_slice(&sh);
        let flight = parse_server_flight(&reframe(&msg, 100, 0x0303))
            .unwrap()
            .unwrap();
        let hello = flight.server_hello.unwrap();
        assert_eq!(hello.version, ProtocolVersion::TLS1_3);
        assert_eq!(hello.legacy_version, ProtocolVersion::TLS1_2);
        assert_eq!(hello.cipher_suite.to_string(), "TLS_AES_128_GCM_SHA256");

        let mut hrr = sh.clone();
        hrr[2..34].copy_from_slice(&HELLO_RETRY_REQUEST_RANDOM);
        let mut msg = vec![2, 0, 0, hrr.len() as u8];
        msg.extend_from_slice(&hrr);
        let flight = parse_server_flight(&reframe(&msg, 100, 0x0303))
            .unwrap()
            .unwrap();
        assert!(flight.server_hello.unwrap().hello_retry_request);

        // A malformed supported_versions extension.
        let mut bad = sh.clone();
        let n = bad.len();
        bad[n - 3] = 3; // extension length 3 instead of 2
        assert!(ServerHello::parse(&bad).is_err());
    }

    #[test]
    fn certificate_list_edge_cases() {
        assert_eq!(parse_certificate_list(&[0, 0, 0]), Ok(vec![]));
        assert_eq!(
            parse_certificate_list(&[0, 0, 5, 0, 0, 2, 0xAA, 0xBB]),
            Ok(vec![vec![0xAA, 0xBB]])
        );
        assert!(
            parse_certificate_list(&[0, 0, 3, 0, 0, 0]).is_err(),
            "empty entry"
        );
        assert!(
            parse_certificate_list(&[0, 0, 6, 0, 0, 9, 1, 2, 3]).is_err(),
            "short entry"
        );
        assert!(
            parse_certificate_list(&[0, 0, 0, 1]).is_err(),
            "trailing byte"
        );
        assert!(parse_certificate_list(&[0, 0]).is_err(), "truncated length");
    }

    #[test]
    fn newtypes_keep_unknown_values() {
        assert_eq!(CipherSuite(0xABCD).to_string(), "0xABCD");
        assert_eq!(
            CipherSuite::from_name("TLS_RSA_WITH_AES_128_CBC_SHA"),
            Some(CipherSuite(0x2F))
        );
        assert_eq!(ProtocolVersion(0x7F1C).to_string(), "0x7f1c");
        assert_eq!(
            ProtocolVersion::from_name("1.1"),
            Some(ProtocolVersion::TLS1_1)
        );
        assert!(ProtocolVersion::TLS1_1.is_deprecated());
        assert!(!ProtocolVersion::TLS1_2.is_deprecated());
        assert_eq!(AlertDescription(200).to_string(), "alert 200");
        assert_eq!(AlertLevel(9).to_string(), "level 9");
        // Every suite offered has a name.
        for s in PROBE_CIPHER_SUITES {
            assert!(s.name().is_some(), "{s:?}");
        }
    }
}
