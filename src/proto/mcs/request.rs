//! The MCS Connect Initial carrying a GCC Conference Create Request (MS-RDPBCGR 2.2.1.3).

use super::*;

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
