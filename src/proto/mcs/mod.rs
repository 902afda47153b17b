//! MCS Connect Initial / Connect Response with the GCC Conference Create Request / Response
//! (MS-RDPBCGR 2.2.1.3 and 2.2.1.4): what a server does with Standard RDP Security
//! (encryption level and method, its RSA key or certificate chain) and its RDP version.
//!
//! The client side goes through `ironrdp-pdu` (its `mcs::ConnectInitial` and `gcc` client
//! blocks). The server's reply is read by a decoder written here, because IronRDP's
//! `mcs::ConnectResponse` decoder is stricter than a scanner can afford and loses facts:
//!
//! - it reads the MCS `result` and throws it away (a refusal looks like a success);
//! - it rejects a server certificate longer than 1024 bytes, so every X.509 chain
//!   (2.2.1.4.3.1.2; a license-server-issued chain is typically 2-3 KB) fails the whole reply;
//! - it rejects an unknown `encryptionMethod` / `encryptionLevel` and a `serverRandomLen`
//!   other than 32 instead of keeping the value;
//! - it requires the core, security and network blocks all to be there and fails on any
//!   block it cannot parse, where a scanner wants the blocks it can read.
//!
//! So [`decode_connect_response`] returns what it could read and lists what was odd in
//! [`ConnectResponse::anomalies`]; it fails only when the reply is not an MCS Connect
//! Response at all (or is cut short before its user data). The unit tests check that both
//! decoders agree on the facts wherever IronRDP's succeeds.
//!
//! Sans-IO: no sockets, no clock, no panics on input.

use std::borrow::Cow;

use ironrdp_pdu::gcc::{
    ClientCoreData, ClientCoreOptionalData, ClientEarlyCapabilityFlags, ClientGccBlocks,
    ClientNetworkData, ClientSecurityData, ColorDepth, ConnectionType, EncryptionMethod,
    HighColorDepth, KeyboardType, RdpVersion, SecureAccessSequence, SupportedColorDepths,
};
use ironrdp_pdu::mcs::ConnectInitial;
use ironrdp_pdu::nego::SecurityProtocol;
use ironrdp_pdu::x224::{X224, X224Data};

use super::x224::Protocols;

/// The largest Connect Response packet read (TPKT length included).
///
/// A reply with a proprietary certificate (2.2.1.4.3.1.1, a 512- or 2048-bit RSA key) is
/// 0.3-0.6 KB; xrdp's and FreeRDP's are below 400 bytes. An X.509 chain (2.2.1.4.3.1.2) from a
/// licensed terminal server holds two or three certificates of 1-1.5 KB each, so about
/// 2-5 KB. 16 KiB leaves more than three times that, and it is what one probe may hold for
/// this step: a TPKT length above it is refused before any byte of the body is read.
pub const MAX_CONNECT_RESPONSE_LEN: usize = 16 * 1024;

/// TPKT header (T.123 section 8) + X.224 Class 0 Data TPDU header (X.224 section 13.7).
const TPKT_HEADER_LEN: usize = 4;
const X224_DATA_HEADER_LEN: usize = 3;
/// The shortest packet [`frame_len`] accepts: the two headers and one byte of MCS.
const MIN_PACKET_LEN: usize = TPKT_HEADER_LEN + X224_DATA_HEADER_LEN + 1;

/// X.224 TPDU codes (X.224 section 13): Data, Disconnect Request.
const X224_DT: u8 = 0xf0;
const X224_DR: u8 = 0x80;

/// BER identifier of the MCS Connect-Response (T.125 section 7 part 2): [APPLICATION 102],
/// constructed, in the high-tag-number form.
const MCS_CONNECT_RESPONSE_TAG: [u8; 2] = [0x7f, 0x66];
/// BER universal tags.
const BER_ENUMERATED: u8 = 0x0a;
const BER_INTEGER: u8 = 0x02;
const BER_SEQUENCE: u8 = 0x30;
const BER_OCTET_STRING: u8 = 0x04;

/// GCC (T.124) constants as PER-encoded by RDP (MS-RDPBCGR 2.2.1.4): the object identifier
/// of T.124 `{0 0 20 124 0 1}`, the ConnectGCCPDU choice conferenceCreateResponse, the
/// UserData choice h221NonStandard and the server-to-client H.221 key.
const GCC_OBJECT_ID: [u8; 6] = [0x05, 0x00, 0x14, 0x7c, 0x00, 0x01];
const GCC_CONFERENCE_CREATE_RESPONSE: u8 = 0x14;
const GCC_H221_NON_STANDARD: u8 = 0xc0;
const GCC_SERVER_KEY: &[u8; 4] = b"McDn";

/// Server data block types (MS-RDPBCGR 2.2.1.4.1).
const SC_CORE: u16 = 0x0c01;
const SC_SECURITY: u16 = 0x0c02;
const SC_NET: u16 = 0x0c03;
const SC_MCS_MSGCHANNEL: u16 = 0x0c04;
const SC_MULTITRANSPORT: u16 = 0x0c08;

/// serverRandomLen must be 32 (MS-RDPBCGR 2.2.1.4.3).
const SERVER_RANDOM_LEN: u32 = 32;

/// Certificate chain versions and the temporary flag of dwVersion (2.2.1.4.3.1).
const CERT_CHAIN_VERSION_1: u32 = 0x1;
const CERT_CHAIN_VERSION_2: u32 = 0x2;
const CERT_TEMPORARY: u32 = 0x8000_0000;
/// RSA_PUBLIC_KEY magic "RSA1" (2.2.1.4.3.1.1.1).
const RSA1_MAGIC: u32 = 0x3141_5352;
/// Public key and signature blob types (2.2.1.4.3.1.1).
const BB_RSA_KEY_BLOB: u16 = 0x0006;
const BB_RSA_SIGNATURE_BLOB: u16 = 0x0008;

/// encryptionMethods / encryptionMethod (MS-RDPBCGR 2.2.1.3.3, 2.2.1.4.3): a set of bits in
/// the client's offer, one bit (or none) in the server's choice. Unknown bits are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EncryptionMethods(pub u32);

impl EncryptionMethods {
    /// ENCRYPTION_METHOD_NONE: no Standard RDP Security encryption.
    pub const NONE: Self = Self(0);
    /// ENCRYPTION_METHOD_40BIT: 40-bit session keys, RC4.
    pub const BIT_40: Self = Self(0x01);
    /// ENCRYPTION_METHOD_128BIT: 128-bit session keys, RC4.
    pub const BIT_128: Self = Self(0x02);
    /// ENCRYPTION_METHOD_56BIT: 56-bit session keys, RC4.
    pub const BIT_56: Self = Self(0x08);
    /// ENCRYPTION_METHOD_FIPS: Triple DES with SHA-1 MACs (FIPS 140-1).
    pub const FIPS: Self = Self(0x10);
    /// All four methods: what a client offers to learn the server's choice.
    pub const ALL: Self = Self(0x1b);
    /// Each method alone, in the order nmap's rdp-enum-encryption offers them.
    pub const EACH: [Self; 4] = [Self::BIT_40, Self::BIT_56, Self::BIT_128, Self::FIPS];

    const NAMES: [(u32, &'static str); 4] = [
        (0x01, "40bit"),
        (0x08, "56bit"),
        (0x02, "128bit"),
        (0x10, "fips"),
    ];

    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Names of the set bits, weakest first (`none` when no bit is set, unknown bits as hex).
    pub fn names(self) -> Vec<String> {
        if self.0 == 0 {
            return vec!["none".to_owned()];
        }
        let mut out = Vec::new();
        let mut rest = self.0;
        for (bit, name) in Self::NAMES {
            if self.0 & bit != 0 {
                out.push(name.to_owned());
                rest &= !bit;
            }
        }
        if rest != 0 {
            out.push(format!("0x{rest:08x}"));
        }
        out
    }

    /// The single name of a server's *selected* method (`none`, `40bit`, ...; hex otherwise).
    pub fn selected_name(self) -> String {
        match self.names().as_slice() {
            [one] => one.clone(),
            _ => format!("0x{:08x}", self.0),
        }
    }
}

/// encryptionLevel (MS-RDPBCGR 2.2.1.4.3, 5.3.1). Unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EncryptionLevel(pub u32);

impl EncryptionLevel {
    /// ENCRYPTION_LEVEL_NONE: what a server answers when Enhanced RDP Security (TLS,
    /// CredSSP) is in use, or when it encrypts nothing.
    pub const NONE: Self = Self(0);
    /// ENCRYPTION_LEVEL_LOW: only client-to-server data is encrypted.
    pub const LOW: Self = Self(1);
    /// ENCRYPTION_LEVEL_CLIENT_COMPATIBLE: both directions, at the strongest key the client
    /// supports.
    pub const CLIENT_COMPATIBLE: Self = Self(2);
    /// ENCRYPTION_LEVEL_HIGH: both directions, 128-bit keys only.
    pub const HIGH: Self = Self(3);
    /// ENCRYPTION_LEVEL_FIPS: both directions, FIPS 140-1 methods only.
    pub const FIPS: Self = Self(4);

    /// `none`, `low`, `client_compatible`, `high`, `fips`, or the value in hex.
    pub fn name(self) -> String {
        match self.0 {
            0 => "none".to_owned(),
            1 => "low".to_owned(),
            2 => "client_compatible".to_owned(),
            3 => "high".to_owned(),
            4 => "fips".to_owned(),
            other => format!("0x{other:08x}"),
        }
    }
}

/// The server's RDP version (TS_UD_SC_CORE `version`, MS-RDPBCGR 2.2.1.4.2). Unknown values
/// are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ServerVersion(pub u32);

impl ServerVersion {
    /// RDP 4.0.
    pub const RDP_4: Self = Self(0x0008_0001);
    /// RDP 5.0 through 8.1 (Windows 2000 to Windows 8.1 / Server 2012 R2; also xrdp).
    pub const RDP_5_TO_8_1: Self = Self(0x0008_0004);
    /// RDP 10.0, the first RDP 10 value; 10.1 is 0x00080006 and so on.
    pub const RDP_10_0: Self = Self(0x0008_0005);
    /// RDP 10.12, the highest value MS-RDPBCGR 2.2.1.4.2 lists.
    pub const RDP_10_12: Self = Self(0x0008_0011);

    /// `4.0`, `5.0-8.1`, `10.0` ... `10.12`, or the value in hex.
    pub fn name(self) -> String {
        match self.0 {
            0x0008_0001 => "4.0".to_owned(),
            0x0008_0004 => "5.0-8.1".to_owned(),
            v @ 0x0008_0005..=0x0008_0011 => format!("10.{}", v - 0x0008_0005),
            other => format!("0x{other:08x}"),
        }
    }

    /// RDP 10.0 or later, including values above the last one the spec lists.
    pub fn is_rdp10_or_later(self) -> bool {
        self.0 >> 16 == 0x0008 && self.0 >= Self::RDP_10_0.0
    }
}

/// earlyCapabilityFlags of the server core data (MS-RDPBCGR 2.2.1.4.2). Unknown bits are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ServerEarlyCapabilities(pub u32);

impl ServerEarlyCapabilities {
    const NAMES: [(u32, &'static str); 4] = [
        (0x01, "edge_actions_v1"),
        (0x02, "dynamic_dst"),
        (0x04, "edge_actions_v2"),
        (0x08, "skip_channeljoin"),
    ];

    /// Names of the set bits (unknown bits as hex; empty when none is set).
    pub fn names(self) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = self.0;
        for (bit, name) in Self::NAMES {
            if self.0 & bit != 0 {
                out.push(name.to_owned());
                rest &= !bit;
            }
        }
        if rest != 0 {
            out.push(format!("0x{rest:08x}"));
        }
        out
    }
}

/// The MCS Connect-Response `result` (T.125 section 7 part 2, `Result`). Unknown values kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct McsResult(pub u8);

impl McsResult {
    pub const SUCCESSFUL: Self = Self(0);

    const NAMES: [&'static str; 16] = [
        "successful",
        "domain_merging",
        "domain_not_hierarchical",
        "no_such_channel",
        "no_such_domain",
        "no_such_user",
        "not_admitted",
        "other_user_id",
        "parameters_unacceptable",
        "token_not_available",
        "token_not_possessed",
        "too_many_channels",
        "too_many_tokens",
        "too_many_users",
        "unspecified_failure",
        "user_rejected",
    ];

    /// The T.125 name without its `rt-` prefix, in snake case, or the value.
    pub fn name(self) -> String {
        Self::NAMES
            .get(usize::from(self.0))
            .map_or_else(|| format!("0x{:02x}", self.0), |n| (*n).to_owned())
    }
}

/// The reason of an MCS Disconnect-Provider-Ultimatum (T.125 section 7 part 3, `Reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DisconnectReason(pub u8);

impl DisconnectReason {
    pub fn name(self) -> String {
        match self.0 {
            0 => "domain_disconnected".to_owned(),
            1 => "provider_initiated".to_owned(),
            2 => "token_purged".to_owned(),
            3 => "user_requested".to_owned(),
            4 => "channel_purged".to_owned(),
            other => format!("{other}"),
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// Why bytes are not (or cannot be made into) an MCS Connect Response / Connect Initial.
/// Offsets count from the first byte of the TPKT header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McsError {
    #[error("not a TPKT packet (first byte 0x{0:02x}, expected 0x03)")]
    NotTpkt(u8),
    #[error("TPKT length {0} is outside {MIN_PACKET_LEN}..={MAX_CONNECT_RESPONSE_LEN}")]
    BadLength(usize),
    #[error("truncated: the TPKT header announces {announced} bytes but {got} are there")]
    Truncated { announced: usize, got: usize },
    #[error("not an X.224 Data TPDU: code 0x{code:02x} (length indicator {li}) at offset 5")]
    NotX224Data { code: u8, li: u8 },
    #[error("the server sent an X.224 Disconnect Request instead of an MCS Connect Response")]
    X224Disconnect,
    #[error(
        "the server sent an MCS Disconnect Provider Ultimatum ({0}) instead of a Connect Response"
    )]
    Disconnected(DisconnectReason),
    #[error("malformed {field} at offset {offset}: {why}")]
    Malformed {
        field: &'static str,
        offset: usize,
        why: String,
    },
    #[error("cannot encode the MCS Connect Initial: {0}")]
    Encode(String),
}

/// How many bytes the TPKT packet at the start of `buf` needs: `Ok(None)` while fewer than
/// four bytes are there. Checks the version byte and refuses a length outside
/// `8..=`[`MAX_CONNECT_RESPONSE_LEN`], so a hostile length field never makes the caller
/// allocate or wait for more than the cap.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, McsError> {
    let Some(&version) = buf.first() else {
        return Ok(None);
    };
    if version != 0x03 {
        return Err(McsError::NotTpkt(version));
    }
    let Some(&[_, _, hi, lo]) = buf.first_chunk::<TPKT_HEADER_LEN>() else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if !(MIN_PACKET_LEN..=MAX_CONNECT_RESPONSE_LEN).contains(&len) {
        return Err(McsError::BadLength(len));
    }
    Ok(Some(len))
}

/// The server's Connect Response, as far as it could be read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    /// MCS `result`: anything but [`McsResult::SUCCESSFUL`] is a refusal (MS-RDPBCGR
    /// 3.2.5.3.4: the client then drops the connection).
    pub result: McsResult,
    /// MCS `calledConnectId` (clients ignore it).
    pub called_connect_id: u32,
    /// GCC ConferenceCreateResponse `result` (T.124 section 8.7; 0 = success); `None` when the
    /// reply carried no GCC data.
    pub conference_result: Option<u8>,
    /// Server core data (TS_UD_SC_CORE, 2.2.1.4.2).
    pub core: Option<ServerCore>,
    /// Server security data (TS_UD_SC_SEC1, 2.2.1.4.3).
    pub security: Option<ServerSecurity>,
    /// Server network data (TS_UD_SC_NET, 2.2.1.4.4).
    pub network: Option<ServerNetwork>,
    /// Server message channel data (TS_UD_SC_MCS_MSGCHANNEL, 2.2.1.4.5): its MCS channel id.
    pub message_channel_id: Option<u16>,
    /// Server multitransport channel data (TS_UD_SC_MULTITRANSPORT, 2.2.1.4.6): its flags.
    pub multitransport_flags: Option<u32>,
    /// Blocks of a type this decoder does not know, in order.
    pub unknown_blocks: Vec<UnknownBlock>,
    /// What was odd (a wrong length, a missing field, a value the spec forbids), one
    /// sentence each, in the order met. Empty for a well-formed reply.
    pub anomalies: Vec<String>,
}

impl ConnectResponse {
    /// The server's RDP version, if its core data was there.
    pub fn version(&self) -> Option<ServerVersion> {
        self.core.as_ref().map(|c| c.version)
    }

    /// The encryption level, if the security data was there.
    pub fn encryption_level(&self) -> Option<EncryptionLevel> {
        self.security.as_ref().map(|s| s.encryption_level)
    }

    /// The selected encryption method, if the security data was there.
    pub fn encryption_method(&self) -> Option<EncryptionMethods> {
        self.security.as_ref().map(|s| s.encryption_method)
    }
}

/// TS_UD_SC_CORE (MS-RDPBCGR 2.2.1.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerCore {
    pub version: ServerVersion,
    /// The requestedProtocols of the client's X.224 request, echoed (RDP 5.2+ servers).
    pub client_requested_protocols: Option<Protocols>,
    pub early_capability_flags: Option<ServerEarlyCapabilities>,
}

/// TS_UD_SC_SEC1 (MS-RDPBCGR 2.2.1.4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSecurity {
    /// The method the server selected ([`EncryptionMethods::NONE`] with Enhanced RDP
    /// Security).
    pub encryption_method: EncryptionMethods,
    pub encryption_level: EncryptionLevel,
    /// serverRandomLen as sent (32 when present; `None` when method and level are both 0).
    pub server_random_len: Option<u32>,
    /// serverCertLen as sent.
    pub server_cert_len: Option<u32>,
    /// The server certificate, when one was sent.
    pub certificate: Option<ServerCertificate>,
}

/// The server certificate of Standard RDP Security (MS-RDPBCGR 2.2.1.4.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerCertificate {
    /// A proprietary certificate (2.2.1.4.3.1.1): the server's RSA key signed with
    /// Microsoft's well-known Terminal Services key.
    Proprietary(ProprietaryCertificate),
    /// An X.509 chain issued by a license server (2.2.1.4.3.1.2).
    X509(X509Chain),
    /// A dwVersion this decoder does not know; `len` bytes were there.
    Unknown { version: u32, len: usize },
}

/// PROPRIETARYSERVERCERTIFICATE (MS-RDPBCGR 2.2.1.4.3.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProprietaryCertificate {
    /// dwVersion as sent (0x00000001, or 0x80000001 for a temporary certificate).
    pub version: u32,
    /// dwSigAlgId (SIGNATURE_ALG_RSA = 1).
    pub sig_alg_id: u32,
    /// dwKeyAlgId (KEY_EXCHANGE_ALG_RSA = 1).
    pub key_alg_id: u32,
    /// The public key, when its blob could be read.
    pub public_key: Option<RsaPublicKey>,
    /// wSignatureBlobLen (0 when the signature blob is missing).
    pub signature_len: usize,
}

impl ProprietaryCertificate {
    /// Whether a signature blob is there.
    pub fn signature_present(&self) -> bool {
        self.signature_len > 0
    }
}

/// RSA_PUBLIC_KEY (MS-RDPBCGR 2.2.1.4.3.1.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsaPublicKey {
    /// pubExp.
    pub public_exponent: u32,
    /// bitlen as sent: the modulus size the server claims.
    pub bit_len: u32,
    /// The modulus size counted from the modulus bytes (little-endian, leading zeros not
    /// counted); differs from `bit_len` only on a malformed key.
    pub modulus_bits: u32,
}

/// SERVER_CERTIFICATE with dwVersion CERT_CHAIN_VERSION_2 (MS-RDPBCGR 2.2.1.4.3.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509Chain {
    /// dwVersion as sent (0x00000002, or 0x80000002 for a temporary certificate).
    pub version: u32,
    /// The DER certificates in the order sent (the spec puts the server's own certificate
    /// last), for `analysis::cert`.
    pub certificates: Vec<Vec<u8>>,
}

impl ServerCertificate {
    /// The temporary flag (the top bit of dwVersion, 2.2.1.4.3.1).
    pub fn temporary(&self) -> bool {
        let version = match self {
            ServerCertificate::Proprietary(p) => p.version,
            ServerCertificate::X509(x) => x.version,
            ServerCertificate::Unknown { version, .. } => *version,
        };
        version & CERT_TEMPORARY != 0
    }
}

/// TS_UD_SC_NET (MS-RDPBCGR 2.2.1.4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerNetwork {
    /// MCSChannelId: the I/O channel.
    pub io_channel: u16,
    /// channelIdArray: one id per channel the client asked for.
    pub channel_ids: Vec<u16>,
}

/// A server data block of a type this decoder does not know (2.2.1.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownBlock {
    pub block_type: u16,
    /// The block body (header excluded).
    pub data: Vec<u8>,
}

mod request;
mod response;

pub use request::{ConnectInitialParams, connect_initial};
pub use response::decode_connect_response;

#[cfg(test)]
mod tests;
