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

/// What the client announces in the Connect Initial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectInitialParams {
    /// The protocol the server selected in the X.224 Connection Confirm, echoed in
    /// `serverSelectedProtocol` (MS-RDPBCGR 2.2.1.3.2; [`Protocols::RDP`] after a legacy
    /// confirm without negotiation data).
    pub selected_protocol: Protocols,
    /// The Standard RDP Security methods offered (MS-RDPBCGR 2.2.1.3.3).
    pub encryption_methods: EncryptionMethods,
}

impl ConnectInitialParams {
    /// Standard RDP Security (X.224 selected PROTOCOL_RDP) offering `methods`.
    pub fn standard_rdp(methods: EncryptionMethods) -> Self {
        Self {
            selected_protocol: Protocols::RDP,
            encryption_methods: methods,
        }
    }
}

/// The client name put in the core data (15 characters at most, MS-RDPBCGR 2.2.1.3.2).
const CLIENT_NAME: &str = "rdpsweep";

/// Encodes TPKT + X.224 Data + MCS Connect Initial with a GCC Conference Create Request
/// (MS-RDPBCGR 2.2.1.3) carrying exactly three blocks:
///
/// - client core data (2.2.1.3.2) with `version` 0x00080004 (RDP 5.0-8.1, the value every
///   server since Windows 2000 accepts; servers answer with their own version, not an echo),
///   up to `serverSelectedProtocol`, which echoes `params.selected_protocol`;
///   earlyCapabilityFlags are SUPPORT_ERRINFO_PDU and STRONG_ASYMMETRIC_KEYS (as current
///   clients send, so a server may answer with a key longer than 512 bits);
/// - client security data (2.2.1.3.3) with `encryptionMethods = params.encryption_methods`
///   and `extEncryptionMethods = 0`;
/// - client network data (2.2.1.3.4) with no channel.
///
/// No credentials, no cookie; nothing else is sent after it.
pub fn connect_initial(params: &ConnectInitialParams) -> Result<Vec<u8>, McsError> {
    let core = ClientCoreData {
        version: RdpVersion::V5_PLUS,
        desktop_width: 1024,
        desktop_height: 768,
        color_depth: ColorDepth::Bpp8,
        sec_access_sequence: SecureAccessSequence::Del,
        keyboard_layout: 0x0409,
        client_build: 0,
        client_name: CLIENT_NAME.to_owned(),
        keyboard_type: KeyboardType::IBM_ENHANCED,
        keyboard_subtype: 0,
        keyboard_functional_keys_count: 12,
        ime_file_name: String::new(),
        optional_data: ClientCoreOptionalData {
            post_beta2_color_depth: Some(ColorDepth::Bpp8),
            client_product_id: Some(1),
            serial_number: Some(0),
            high_color_depth: Some(HighColorDepth::Bpp24),
            supported_color_depths: Some(
                SupportedColorDepths::BPP24
                    | SupportedColorDepths::BPP16
                    | SupportedColorDepths::BPP15
                    | SupportedColorDepths::BPP32,
            ),
            early_capability_flags: Some(
                ClientEarlyCapabilityFlags::SUPPORT_ERR_INFO_PDU
                    | ClientEarlyCapabilityFlags::STRONG_ASYMMETRIC_KEYS,
            ),
            dig_product_id: Some(String::new()),
            connection_type: Some(ConnectionType::NotUsed),
            server_selected_protocol: Some(SecurityProtocol::from_bits_retain(
                params.selected_protocol.0,
            )),
            desktop_physical_width: None,
            desktop_physical_height: None,
            desktop_orientation: None,
            desktop_scale_factor: None,
            device_scale_factor: None,
        },
    };
    let blocks = ClientGccBlocks {
        core,
        security: ClientSecurityData {
            encryption_methods: EncryptionMethod::from_bits_retain(params.encryption_methods.0),
            ext_encryption_methods: 0,
        },
        network: Some(ClientNetworkData {
            channels: Vec::new(),
        }),
        cluster: None,
        monitor: None,
        message_channel: None,
        multi_transport_channel: None,
        monitor_extended: None,
    };
    let initial =
        ConnectInitial::with_gcc_blocks(blocks).map_err(|e| McsError::Encode(e.to_string()))?;
    let mcs = ironrdp_core::encode_vec(&initial).map_err(|e| McsError::Encode(e.to_string()))?;
    ironrdp_core::encode_vec(&X224(X224Data {
        data: Cow::Owned(mcs),
    }))
    .map_err(|e| McsError::Encode(e.to_string()))
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

/// A bounds-checked reader over the packet; positions are packet offsets.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// End of the readable region (exclusive).
    end: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], pos: usize, end: usize) -> Self {
        Self {
            buf,
            pos,
            end: end.min(buf.len()),
        }
    }

    fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], McsError> {
        let at = self.pos;
        let bytes = at
            .checked_add(n)
            .filter(|&e| e <= self.end)
            .and_then(|e| self.buf.get(at..e))
            .ok_or_else(|| McsError::Malformed {
                field,
                offset: at,
                why: format!("needs {n} bytes, {} left", self.remaining()),
            })?;
        self.pos += n;
        Ok(bytes)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, McsError> {
        Ok(self.take(1, field)?.first().copied().unwrap_or_default())
    }

    fn expect(&mut self, want: &[u8], field: &'static str) -> Result<(), McsError> {
        let at = self.pos;
        let got = self.take(want.len(), field)?;
        if got == want {
            Ok(())
        } else {
            Err(McsError::Malformed {
                field,
                offset: at,
                why: format!("expected {}, got {}", hex(want), hex(got)),
            })
        }
    }

    /// A BER length (X.690 8.1.3): short form, or long form with 1-4 length bytes.
    fn ber_len(&mut self, field: &'static str) -> Result<usize, McsError> {
        let at = self.pos;
        let first = self.u8(field)?;
        if first < 0x80 {
            return Ok(usize::from(first));
        }
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return Err(McsError::Malformed {
                field,
                offset: at,
                why: format!("unsupported BER length form 0x{first:02x}"),
            });
        }
        let bytes = self.take(count, field)?;
        Ok(bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)))
    }

    /// A BER TLV with tag `tag`; returns its contents.
    fn ber_tlv(&mut self, tag: u8, field: &'static str) -> Result<&'a [u8], McsError> {
        let at = self.pos;
        let got = self.u8(field)?;
        if got != tag {
            return Err(McsError::Malformed {
                field,
                offset: at,
                why: format!("BER tag 0x{got:02x}, expected 0x{tag:02x}"),
            });
        }
        let len = self.ber_len(field)?;
        self.take(len, field)
    }

    /// A PER length determinant (X.691 10.9, as T.124 uses it: 1 byte, or 2 with 0x80 set).
    fn per_len(&mut self, field: &'static str) -> Result<usize, McsError> {
        let first = self.u8(field)?;
        if first & 0x80 == 0 {
            return Ok(usize::from(first));
        }
        let second = self.u8(field)?;
        Ok((usize::from(first & 0x7f) << 8) | usize::from(second))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Big-endian unsigned value of at most 4 bytes (BER / PER integer contents).
fn be_u32(bytes: &[u8], field: &'static str, offset: usize) -> Result<u32, McsError> {
    if bytes.is_empty() || bytes.len() > 5 || (bytes.len() == 5 && bytes.first() != Some(&0)) {
        return Err(McsError::Malformed {
            field,
            offset,
            why: format!("integer of {} bytes", bytes.len()),
        });
    }
    Ok(bytes
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        .try_into()
        .unwrap_or(u32::MAX))
}

fn le_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let end = at.checked_add(2)?;
    let b: [u8; 2] = bytes.get(at..end)?.try_into().ok()?;
    Some(u16::from_le_bytes(b))
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    let b: [u8; 4] = bytes.get(at..end)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

/// Decodes one complete TPKT packet holding an MCS Connect Response (MS-RDPBCGR 2.2.1.4).
///
/// Fails when the packet is not an X.224 Data TPDU carrying an MCS Connect-Response with a
/// GCC ConferenceCreateResponse (or is an MCS / X.224 disconnect, reported as such), or when
/// it ends before the GCC user data. Inside the user data it reads every block it can and
/// records in [`ConnectResponse::anomalies`] what it could not.
pub fn decode_connect_response(packet: &[u8]) -> Result<ConnectResponse, McsError> {
    let len = frame_len(packet)?.ok_or(McsError::Truncated {
        announced: TPKT_HEADER_LEN,
        got: packet.len(),
    })?;
    if packet.len() < len {
        return Err(McsError::Truncated {
            announced: len,
            got: packet.len(),
        });
    }
    let mut r = Reader::new(packet, TPKT_HEADER_LEN, len);
    let mut out = ConnectResponse::default();

    // X.224 Class 0 Data TPDU: LI, code, EOT (X.224 section 13.7).
    let li = r.u8("X.224 length indicator")?;
    let code = r.u8("X.224 TPDU code")?;
    match code & 0xf0 {
        X224_DT => {}
        X224_DR => return Err(McsError::X224Disconnect),
        _ => return Err(McsError::NotX224Data { code, li }),
    }
    if li < 2 {
        return Err(McsError::NotX224Data { code, li });
    }
    let eot = r.u8("X.224 EOT")?;
    if li != 2 {
        out.anomalies.push(format!(
            "X.224 Data length indicator is {li}, expected 2; skipped the extra header bytes"
        ));
        r.take(usize::from(li) - 2, "X.224 header")?;
    }
    if eot & 0x80 == 0 {
        out.anomalies
            .push(format!("X.224 Data EOT flag not set (byte 0x{eot:02x})"));
    }

    // MCS: a Connect-Response (BER), or a Disconnect-Provider-Ultimatum (PER, T.125 7 part 3).
    let mcs_at = r.pos;
    let first = r.u8("MCS PDU")?;
    if first >> 2 == 8 {
        let second = r.u8("MCS Disconnect Provider Ultimatum reason")?;
        // 6 bits of CHOICE (8), then the 3-bit Reason across the byte boundary.
        let reason = ((first & 0x03) << 1) | (second >> 7);
        return Err(McsError::Disconnected(DisconnectReason(reason)));
    }
    r.pos = mcs_at;
    r.expect(&MCS_CONNECT_RESPONSE_TAG, "MCS Connect-Response tag")?;
    let body_at = r.pos;
    let body_len = r.ber_len("MCS Connect-Response length")?;
    let body_start = r.pos;
    let body_end = body_start.saturating_add(body_len);
    if body_end > r.end {
        return Err(McsError::Malformed {
            field: "MCS Connect-Response length",
            offset: body_at,
            why: format!(
                "{body_len} bytes announced, {} in the packet",
                r.remaining()
            ),
        });
    }
    if body_end < r.end {
        out.anomalies.push(format!(
            "{} bytes after the MCS Connect-Response",
            r.end - body_end
        ));
    }
    let mut mcs = Reader::new(packet, body_start, body_end);

    let at = mcs.pos;
    let result = mcs.ber_tlv(BER_ENUMERATED, "MCS result")?;
    let result = match result {
        [v] => *v,
        _ => {
            return Err(McsError::Malformed {
                field: "MCS result",
                offset: at,
                why: format!("ENUMERATED of {} bytes", result.len()),
            });
        }
    };
    out.result = McsResult(result);
    let at = mcs.pos;
    let id = mcs.ber_tlv(BER_INTEGER, "MCS calledConnectId")?;
    out.called_connect_id = be_u32(id, "MCS calledConnectId", at)?;
    mcs.ber_tlv(BER_SEQUENCE, "MCS domainParameters")?;
    let user_data = mcs.ber_tlv(BER_OCTET_STRING, "MCS userData")?;
    if mcs.remaining() > 0 {
        out.anomalies
            .push(format!("{} bytes after the MCS userData", mcs.remaining()));
    }
    if user_data.is_empty() {
        if out.result == McsResult::SUCCESSFUL {
            out.anomalies
                .push("successful MCS result without GCC user data".to_owned());
        }
        return Ok(out);
    }
    let ud_start = mcs.pos - user_data.len();
    let mut gcc = Reader::new(packet, ud_start, mcs.pos);
    decode_gcc(&mut gcc, &mut out)?;
    Ok(out)
}

/// The GCC ConferenceCreateResponse (T.124 section 8.7, PER) and its user data blocks.
fn decode_gcc(r: &mut Reader<'_>, out: &mut ConnectResponse) -> Result<(), McsError> {
    r.expect(&[0x00], "GCC ConnectData key choice")?;
    r.expect(
        &GCC_OBJECT_ID,
        "GCC ConnectData key (T.124 object identifier)",
    )?;
    // connectPDU length: clients ignore it (servers are not consistent about it).
    r.per_len("GCC connectPDU length")?;
    r.expect(
        &[GCC_CONFERENCE_CREATE_RESPONSE],
        "GCC ConnectGCCPDU choice (conferenceCreateResponse)",
    )?;
    // nodeID: a UserID (2 bytes, offset by 1001); clients ignore it.
    r.take(2, "GCC nodeID")?;
    let tag_len = usize::from(r.u8("GCC tag length")?);
    let at = r.pos;
    let tag = r.take(tag_len, "GCC tag")?;
    be_u32(tag, "GCC tag", at)?;
    let result = r.u8("GCC result")?;
    out.conference_result = Some(result);
    if result != 0 {
        out.anomalies.push(format!(
            "GCC ConferenceCreateResponse result {result} (not success)"
        ));
    }
    r.expect(&[0x01], "GCC userData set count")?;
    r.expect(
        &[GCC_H221_NON_STANDARD],
        "GCC userData choice (h221NonStandard)",
    )?;
    let key_len = usize::from(r.u8("GCC H.221 key length")?) + 4;
    let key = r.take(key_len, "GCC H.221 key")?;
    if key != GCC_SERVER_KEY {
        out.anomalies
            .push(format!("H.221 key is {} instead of \"McDn\"", hex(key)));
    }
    let len_at = r.pos;
    let declared = r.per_len("GCC user data length")?;
    let available = r.remaining();
    if declared != available {
        out.anomalies.push(format!(
            "GCC user data length at offset {len_at} says {declared} bytes, {available} are there"
        ));
    }
    let blocks_start = r.pos;
    let blocks = r.take(available, "GCC user data")?;
    decode_blocks(blocks, blocks_start, out);
    Ok(())
}

/// The server data blocks (MS-RDPBCGR 2.2.1.4.1-2.2.1.4.6), each behind a User Data Header.
fn decode_blocks(blocks: &[u8], base: usize, out: &mut ConnectResponse) {
    let mut at = 0usize;
    while at < blocks.len() {
        let (Some(block_type), Some(block_len)) = (le_u16(blocks, at), le_u16(blocks, at + 2))
        else {
            out.anomalies.push(format!(
                "{} stray bytes at offset {} instead of a block header",
                blocks.len() - at,
                base + at
            ));
            return;
        };
        let block_len = usize::from(block_len);
        if block_len < 4 {
            out.anomalies.push(format!(
                "block 0x{block_type:04x} at offset {} has length {block_len}; stopped reading blocks",
                base + at
            ));
            return;
        }
        let body_start = at + 4;
        let wanted_end = at + block_len;
        let body_end = wanted_end.min(blocks.len());
        if wanted_end > blocks.len() {
            out.anomalies.push(format!(
                "block 0x{block_type:04x} at offset {} claims {block_len} bytes, {} are there",
                base + at,
                blocks.len() - at
            ));
        }
        let body = blocks.get(body_start..body_end).unwrap_or_default();
        decode_block(block_type, body, out);
        at = body_end;
    }
}

fn decode_block(block_type: u16, body: &[u8], out: &mut ConnectResponse) {
    let duplicate = |present: bool, out: &mut ConnectResponse| {
        if present {
            out.anomalies.push(format!(
                "second block of type 0x{block_type:04x}; kept the first"
            ));
        }
        present
    };
    match block_type {
        SC_CORE => {
            if !duplicate(out.core.is_some(), out) {
                out.core = decode_core(body, &mut out.anomalies);
            }
        }
        SC_SECURITY => {
            if !duplicate(out.security.is_some(), out) {
                out.security = decode_security(body, &mut out.anomalies);
            }
        }
        SC_NET => {
            if !duplicate(out.network.is_some(), out) {
                out.network = decode_network(body, &mut out.anomalies);
            }
        }
        SC_MCS_MSGCHANNEL => {
            if !duplicate(out.message_channel_id.is_some(), out) {
                out.message_channel_id = le_u16(body, 0);
                if out.message_channel_id.is_none() {
                    out.anomalies
                        .push("message channel block shorter than 2 bytes".to_owned());
                }
            }
        }
        SC_MULTITRANSPORT => {
            if !duplicate(out.multitransport_flags.is_some(), out) {
                out.multitransport_flags = le_u32(body, 0);
                if out.multitransport_flags.is_none() {
                    out.anomalies
                        .push("multitransport block shorter than 4 bytes".to_owned());
                }
            }
        }
        _ => out.unknown_blocks.push(UnknownBlock {
            block_type,
            data: body.to_vec(),
        }),
    }
}

/// TS_UD_SC_CORE (2.2.1.4.2): version, then the optional fields as far as they go.
fn decode_core(body: &[u8], anomalies: &mut Vec<String>) -> Option<ServerCore> {
    let Some(version) = le_u32(body, 0) else {
        anomalies.push(format!(
            "server core data of {} bytes has no version",
            body.len()
        ));
        return None;
    };
    let client_requested_protocols = le_u32(body, 4).map(Protocols);
    let early_capability_flags = le_u32(body, 8).map(ServerEarlyCapabilities);
    if !matches!(body.len(), 4 | 8 | 12) {
        anomalies.push(format!(
            "server core data is {} bytes (expected 4, 8 or 12)",
            body.len()
        ));
    }
    Some(ServerCore {
        version: ServerVersion(version),
        client_requested_protocols,
        early_capability_flags,
    })
}

/// TS_UD_SC_NET (2.2.1.4.4): MCSChannelId, channelCount, channelIdArray, padding to 4 bytes.
fn decode_network(body: &[u8], anomalies: &mut Vec<String>) -> Option<ServerNetwork> {
    let (Some(io_channel), Some(count)) = (le_u16(body, 0), le_u16(body, 2)) else {
        anomalies.push(format!(
            "server network data of {} bytes has no MCSChannelId and channelCount",
            body.len()
        ));
        return None;
    };
    let ids = body.get(4..).unwrap_or_default();
    let channel_ids: Vec<u16> = ids
        .chunks_exact(2)
        .take(usize::from(count))
        .map(|c| {
            u16::from_le_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
        .collect();
    if channel_ids.len() < usize::from(count) {
        anomalies.push(format!(
            "server network data announces {count} channels, holds {}",
            channel_ids.len()
        ));
    }
    Some(ServerNetwork {
        io_channel,
        channel_ids,
    })
}

/// TS_UD_SC_SEC1 (2.2.1.4.3).
fn decode_security(body: &[u8], anomalies: &mut Vec<String>) -> Option<ServerSecurity> {
    let (Some(method), Some(level)) = (le_u32(body, 0), le_u32(body, 4)) else {
        anomalies.push(format!(
            "server security data of {} bytes has no encryption method and level",
            body.len()
        ));
        return None;
    };
    let mut sec = ServerSecurity {
        encryption_method: EncryptionMethods(method),
        encryption_level: EncryptionLevel(level),
        server_random_len: None,
        server_cert_len: None,
        certificate: None,
    };
    if method != 0 && method.count_ones() != 1 {
        anomalies.push(format!(
            "the server selected several encryption methods at once (0x{method:08x})"
        ));
    }
    if (method == 0) != (level == 0) {
        anomalies.push(format!(
            "encryption method {} with level {}: the spec pairs method none with level none only",
            sec.encryption_method.selected_name(),
            sec.encryption_level.name()
        ));
    }
    if method == 0 && level == 0 {
        if body.len() > 8 {
            anomalies.push(format!(
                "{} bytes after encryption method and level none",
                body.len() - 8
            ));
        }
        return Some(sec);
    }
    let (Some(random_len), Some(cert_len)) = (le_u32(body, 8), le_u32(body, 12)) else {
        anomalies.push("server security data ends before serverRandomLen/serverCertLen".to_owned());
        return Some(sec);
    };
    sec.server_random_len = Some(random_len);
    sec.server_cert_len = Some(cert_len);
    if random_len != SERVER_RANDOM_LEN {
        anomalies.push(format!(
            "serverRandomLen is {random_len}, the spec requires 32"
        ));
    }
    let rest = body.get(16..).unwrap_or_default();
    let random_len = usize::try_from(random_len).unwrap_or(usize::MAX);
    let Some(after_random) = rest.get(random_len..) else {
        anomalies.push(format!(
            "serverRandom of {random_len} bytes announced, {} there",
            rest.len()
        ));
        return Some(sec);
    };
    let cert_len = usize::try_from(cert_len).unwrap_or(usize::MAX);
    let cert = match after_random.get(..cert_len) {
        Some(cert) => {
            if after_random.len() > cert_len {
                anomalies.push(format!(
                    "{} bytes after the server certificate",
                    after_random.len() - cert_len
                ));
            }
            cert
        }
        None => {
            anomalies.push(format!(
                "serverCertificate of {cert_len} bytes announced, {} there; read what there is",
                after_random.len()
            ));
            after_random
        }
    };
    if cert.is_empty() {
        anomalies.push("encryption is on but no server certificate was sent".to_owned());
    } else {
        sec.certificate = Some(decode_certificate(cert, anomalies));
    }
    Some(sec)
}

/// SERVER_CERTIFICATE (2.2.1.4.3.1).
fn decode_certificate(cert: &[u8], anomalies: &mut Vec<String>) -> ServerCertificate {
    let Some(version) = le_u32(cert, 0) else {
        anomalies.push(format!(
            "server certificate of {} bytes has no dwVersion",
            cert.len()
        ));
        return ServerCertificate::Unknown {
            version: 0,
            len: cert.len(),
        };
    };
    match version & !CERT_TEMPORARY {
        CERT_CHAIN_VERSION_1 => {
            ServerCertificate::Proprietary(decode_proprietary(version, cert, anomalies))
        }
        CERT_CHAIN_VERSION_2 => ServerCertificate::X509(decode_x509(version, cert, anomalies)),
        _ => {
            anomalies.push(format!(
                "unknown server certificate version 0x{version:08x}"
            ));
            ServerCertificate::Unknown {
                version,
                len: cert.len(),
            }
        }
    }
}

/// PROPRIETARYSERVERCERTIFICATE (2.2.1.4.3.1.1).
fn decode_proprietary(
    version: u32,
    cert: &[u8],
    anomalies: &mut Vec<String>,
) -> ProprietaryCertificate {
    let mut out = ProprietaryCertificate {
        version,
        sig_alg_id: le_u32(cert, 4).unwrap_or(0),
        key_alg_id: le_u32(cert, 8).unwrap_or(0),
        public_key: None,
        signature_len: 0,
    };
    let (Some(key_type), Some(key_len)) = (le_u16(cert, 12), le_u16(cert, 14)) else {
        anomalies.push("proprietary certificate ends before its public key blob".to_owned());
        return out;
    };
    if key_type != BB_RSA_KEY_BLOB {
        anomalies.push(format!(
            "proprietary certificate key blob type 0x{key_type:04x}, expected 0x0006"
        ));
    }
    let key_end = 16 + usize::from(key_len);
    match cert.get(16..key_end) {
        Some(blob) => out.public_key = decode_rsa_key(blob, anomalies),
        None => {
            anomalies.push(format!(
                "proprietary certificate key blob of {key_len} bytes announced, {} there",
                cert.len().saturating_sub(16)
            ));
            return out;
        }
    }
    let (Some(sig_type), Some(sig_len)) = (le_u16(cert, key_end), le_u16(cert, key_end + 2)) else {
        anomalies.push("proprietary certificate has no signature blob".to_owned());
        return out;
    };
    if sig_type != BB_RSA_SIGNATURE_BLOB {
        anomalies.push(format!(
            "proprietary certificate signature blob type 0x{sig_type:04x}, expected 0x0008"
        ));
    }
    let sig_len = usize::from(sig_len);
    let there = cert.len().saturating_sub(key_end + 4);
    if there < sig_len {
        anomalies.push(format!(
            "proprietary certificate signature of {sig_len} bytes announced, {there} there"
        ));
    }
    out.signature_len = sig_len.min(there);
    out
}

/// RSA_PUBLIC_KEY (2.2.1.4.3.1.1.1).
fn decode_rsa_key(blob: &[u8], anomalies: &mut Vec<String>) -> Option<RsaPublicKey> {
    let (Some(magic), Some(key_len), Some(bit_len), Some(_data_len), Some(exponent)) = (
        le_u32(blob, 0),
        le_u32(blob, 4),
        le_u32(blob, 8),
        le_u32(blob, 12),
        le_u32(blob, 16),
    ) else {
        anomalies.push(format!(
            "RSA public key blob of {} bytes is shorter than its 20-byte header",
            blob.len()
        ));
        return None;
    };
    if magic != RSA1_MAGIC {
        anomalies.push(format!(
            "RSA public key magic 0x{magic:08x}, expected 0x31415352 (RSA1)"
        ));
    }
    let modulus = blob.get(20..).unwrap_or_default();
    let key_len = usize::try_from(key_len).unwrap_or(usize::MAX);
    if modulus.len() != key_len {
        anomalies.push(format!(
            "RSA modulus of {key_len} bytes announced, {} there",
            modulus.len()
        ));
    }
    let modulus = modulus.get(..key_len).unwrap_or(modulus);
    let modulus_bits = modulus.iter().rposition(|&b| b != 0).map_or(0, |top| {
        let top_byte = modulus.get(top).copied().unwrap_or(0);
        u32::try_from(top * 8)
            .unwrap_or(u32::MAX)
            .saturating_add(8 - top_byte.leading_zeros())
    });
    if modulus_bits != bit_len {
        anomalies.push(format!(
            "RSA key claims {bit_len} bits, its modulus has {modulus_bits}"
        ));
    }
    Some(RsaPublicKey {
        public_exponent: exponent,
        bit_len,
        modulus_bits,
    })
}

/// X.509 chain (2.2.1.4.3.1.2): NumCertBlobs, then cbCert + abCert each, then padding.
fn decode_x509(version: u32, cert: &[u8], anomalies: &mut Vec<String>) -> X509Chain {
    let mut out = X509Chain {
        version,
        certificates: Vec::new(),
    };
    let Some(count) = le_u32(cert, 4) else {
        anomalies.push("X.509 certificate chain has no NumCertBlobs".to_owned());
        return out;
    };
    let mut at = 8usize;
    for i in 0..count {
        let Some(len) = le_u32(cert, at) else {
            anomalies.push(format!(
                "X.509 chain announces {count} certificates, ends after {i}"
            ));
            break;
        };
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let start = at + 4;
        let Some(der) = start.checked_add(len).and_then(|end| cert.get(start..end)) else {
            anomalies.push(format!(
                "X.509 certificate {} of {len} bytes announced, {} there",
                i + 1,
                cert.len().saturating_sub(start)
            ));
            break;
        };
        out.certificates.push(der.to_vec());
        at = start + len;
    }
    if count < 2 && usize::try_from(count).is_ok_and(|c| c == out.certificates.len()) {
        anomalies.push(format!(
            "X.509 chain of {count} certificates (the spec requires at least 2)"
        ));
    }
    out
}

#[cfg(test)]
mod tests;
