//! TPKT / X.224 / RDP negotiation (MS-RDPBCGR 2.2.1.1 and 2.2.1.2), through `ironrdp-pdu`.
//!
//! This module adds what a scanner needs on top of IronRDP's PDUs: framing with a size cap,
//! the legacy (pre-Vista) Connection Confirm without negotiation data, which IronRDP decodes
//! as an empty response, and names for every protocol, flag and failure code, with unknown
//! values kept.

use ironrdp_pdu::nego::{self, ResponseFlags, SecurityProtocol};
use ironrdp_pdu::x224::X224;

/// The largest X.224 Connection Confirm we accept. A real one is 11 or 19 bytes; anything
/// above this is not a Connection Confirm, whatever its TPKT length claims.
pub const MAX_CONFIRM_LEN: usize = 512;

/// TPKT header size (RFC 1006 / T.123 section 8).
const TPKT_HEADER_LEN: usize = 4;

/// Length indicator of a Connection Confirm without RDP_NEG data (fixed part only).
const LEGACY_CONFIRM_LI: u8 = 6;

/// requestedProtocols / selectedProtocol (MS-RDPBCGR 2.2.1.1.1). Unknown bits are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Protocols(pub u32);

impl Protocols {
    /// Standard RDP Security: no flag set.
    pub const RDP: Self = Self(0);
    pub const SSL: Self = Self(0x01);
    pub const HYBRID: Self = Self(0x02);
    pub const RDSTLS: Self = Self(0x04);
    pub const HYBRID_EX: Self = Self(0x08);
    pub const RDSAAD: Self = Self(0x10);

    const NAMES: [(u32, &'static str); 5] = [
        (0x01, "tls"),
        (0x02, "credssp"),
        (0x04, "rdstls"),
        (0x08, "credssp_early_auth"),
        (0x10, "rdsaad"),
    ];

    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Names of the set bits (`rdp` when none is set; unknown bits as hex).
    pub fn names(self) -> Vec<String> {
        if self.0 == 0 {
            return vec!["rdp".to_owned()];
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

    /// The single name of a *selected* protocol (a server selects exactly one).
    pub fn selected_name(self) -> String {
        match self.names().as_slice() {
            [one] => one.clone(),
            _ => format!("0x{:08x}", self.0),
        }
    }
}

/// RDP_NEG_RSP flags (MS-RDPBCGR 2.2.1.2.1). Unknown bits are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NegFlags(pub u8);

impl NegFlags {
    const NAMES: [(u8, &'static str); 5] = [
        (0x01, "extended_client_data"),
        (0x02, "gfx"),
        (0x04, "reserved_0x04"),
        (0x08, "restricted_admin"),
        (0x10, "redirected_authentication"),
    ];

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
            out.push(format!("0x{rest:02x}"));
        }
        out
    }
}

/// RDP_NEG_FAILURE failureCode (MS-RDPBCGR 2.2.1.2.2). Unknown codes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NegFailure(pub u32);

impl NegFailure {
    pub const SSL_REQUIRED_BY_SERVER: Self = Self(1);
    pub const SSL_NOT_ALLOWED_BY_SERVER: Self = Self(2);
    pub const SSL_CERT_NOT_ON_SERVER: Self = Self(3);
    pub const INCONSISTENT_FLAGS: Self = Self(4);
    pub const HYBRID_REQUIRED_BY_SERVER: Self = Self(5);
    pub const SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER: Self = Self(6);

    pub fn name(self) -> String {
        match self.0 {
            1 => "SSL_REQUIRED_BY_SERVER".to_owned(),
            2 => "SSL_NOT_ALLOWED_BY_SERVER".to_owned(),
            3 => "SSL_CERT_NOT_ON_SERVER".to_owned(),
            4 => "INCONSISTENT_FLAGS".to_owned(),
            5 => "HYBRID_REQUIRED_BY_SERVER".to_owned(),
            6 => "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER".to_owned(),
            other => format!("UNKNOWN_0x{other:08x}"),
        }
    }
}

/// What a server answered to a Connection Request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionConfirm {
    /// RDP_NEG_RSP: the server selected `selected`.
    Response {
        flags: NegFlags,
        selected: Protocols,
    },
    /// RDP_NEG_FAILURE.
    Failure(NegFailure),
    /// A Connection Confirm without negotiation data: a Windows 2000/XP/2003-era server
    /// that speaks Standard RDP Security only.
    Legacy,
    /// A valid Connection Confirm whose negotiation structure has a type MS-RDPBCGR does not
    /// define (2.2.1.2: 0x02 RDP_NEG_RSP, 0x03 RDP_NEG_FAILURE): an RDP server, but its answer
    /// decides nothing. The raw fields are kept.
    Unknown { neg_type: u8, flags: u8, data: u32 },
}

/// The fixed part of the X.224 Connection Confirm TPDU (X.224 section 13.4). MS-RDPBCGR
/// 3.3.5.3.2 has Windows set the source reference to 0x1234 and the destination reference and
/// class to zero; other implementations differ (FreeRDP's server sends 0x0000), which makes the
/// header part of a server's fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConfirmHeader {
    pub dst_ref: u16,
    pub src_ref: u16,
    pub class: u8,
}

impl ConfirmHeader {
    /// The source reference Windows sends (MS-RDPBCGR 3.3.5.3.2).
    pub const WINDOWS_SRC_REF: u16 = 0x1234;
}

/// Why a reply is not a Connection Confirm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum X224Error {
    #[error("not a TPKT packet (first byte 0x{0:02x}, expected 0x03)")]
    NotTpkt(u8),
    #[error("TPKT length {0} is outside 11..={MAX_CONFIRM_LEN}")]
    BadLength(usize),
    #[error("malformed X.224 Connection Confirm: {0}")]
    Malformed(String),
}

/// Encodes an X.224 Connection Request carrying RDP_NEG_REQ (MS-RDPBCGR 2.2.1.1) with a
/// `Cookie: mstshash=` when `cookie` is given.
pub fn connection_request(requested: Protocols, cookie: Option<&str>) -> Vec<u8> {
    let request = nego::ConnectionRequest {
        nego_data: cookie.map(|c| nego::NegoRequestData::cookie(c.to_owned())),
        flags: nego::RequestFlags::empty(),
        protocol: SecurityProtocol::from_bits_retain(requested.0),
        correlation_info: None,
    };
    // Encoding a fixed-shape request into a fresh vector cannot fail; fall back to the
    // hand-encoded equivalent to keep this function total anyway.
    ironrdp_core::encode_vec(&X224(request)).unwrap_or_else(|_| {
        let p = requested.0.to_le_bytes();
        vec![
            0x03, 0x00, 0x00, 0x13, 0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x08,
            0x00, p[0], p[1], p[2], p[3],
        ]
    })
}

/// How many bytes the first TPKT packet in `buf` needs: `Ok(None)` if fewer than four bytes
/// are there yet. Checks the version byte and caps the length at [`MAX_CONFIRM_LEN`] so that
/// a hostile length field cannot make the caller allocate or wait for more.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, X224Error> {
    let Some(&version) = buf.first() else {
        return Ok(None);
    };
    if version != 0x03 {
        return Err(X224Error::NotTpkt(version));
    }
    let Some(&[_, _, len_hi, len_lo]) = buf.first_chunk::<TPKT_HEADER_LEN>() else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    if !(11..=MAX_CONFIRM_LEN).contains(&len) {
        return Err(X224Error::BadLength(len));
    }
    Ok(Some(len))
}

/// Decodes one complete TPKT packet holding an X.224 Connection Confirm.
pub fn decode_confirm(packet: &[u8]) -> Result<ConnectionConfirm, X224Error> {
    decode_confirm_with_header(packet).map(|(confirm, _)| confirm)
}

/// [`decode_confirm`], with the TPDU's fixed header (the references and class a server
/// fingerprint uses).
pub fn decode_confirm_with_header(
    packet: &[u8],
) -> Result<(ConnectionConfirm, ConfirmHeader), X224Error> {
    let len = frame_len(packet)?.ok_or(X224Error::BadLength(packet.len()))?;
    let packet = packet
        .get(..len)
        .ok_or_else(|| X224Error::Malformed(format!("{} of {len} bytes", packet.len())))?;
    let confirm = decode_body(packet)?;
    // TPKT (4), LI, code, DST-REF (2), SRC-REF (2), class: present once the body decoded.
    let header = match packet.get(TPKT_HEADER_LEN + 2..TPKT_HEADER_LEN + 7) {
        Some(&[d0, d1, s0, s1, class]) => ConfirmHeader {
            dst_ref: u16::from_be_bytes([d0, d1]),
            src_ref: u16::from_be_bytes([s0, s1]),
            class,
        },
        _ => return Err(X224Error::Malformed("no TPDU header".into())),
    };
    Ok((confirm, header))
}

fn decode_body(packet: &[u8]) -> Result<ConnectionConfirm, X224Error> {
    // An RDP_NEG structure of a type MS-RDPBCGR does not define: ironrdp refuses it, but the
    // TPDU around it is a valid Connection Confirm (LI 14, code 0xd0, 8 bytes of negotiation
    // data).
    if let Some(
        &[
            0x0e,
            0xd0,
            _,
            _,
            _,
            _,
            _,
            neg_type,
            flags,
            0x08,
            0x00,
            d0,
            d1,
            d2,
            d3,
        ],
    ) = packet.get(TPKT_HEADER_LEN..TPKT_HEADER_LEN + 15)
        && packet.len() == TPKT_HEADER_LEN + 15
        && !matches!(neg_type, 0x02 | 0x03)
    {
        return Ok(ConnectionConfirm::Unknown {
            neg_type,
            flags,
            data: u32::from_le_bytes([d0, d1, d2, d3]),
        });
    }
    let confirm = ironrdp_core::decode::<X224<nego::ConnectionConfirm>>(packet)
        .map_err(|e| X224Error::Malformed(e.to_string()))?;
    if packet.get(TPKT_HEADER_LEN) == Some(&LEGACY_CONFIRM_LI) {
        return Ok(ConnectionConfirm::Legacy);
    }
    Ok(match confirm.0 {
        nego::ConnectionConfirm::Response { flags, protocol } => ConnectionConfirm::Response {
            flags: NegFlags(ResponseFlags::bits(&flags)),
            selected: Protocols(protocol.bits()),
        },
        nego::ConnectionConfirm::Failure { code } => {
            ConnectionConfirm::Failure(NegFailure(u32::from(code)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::hex;

    const WS2019_CONFIRM: &str =
        include_str!("../../fixtures/windows-server-2019-connection-confirm.hex");

    #[test]
    fn windows_server_2019_confirm_selects_hybrid_ex_with_flags_0x1f() {
        let bytes = hex(WS2019_CONFIRM);
        assert_eq!(frame_len(&bytes), Ok(Some(19)));
        let confirm = decode_confirm(&bytes).expect("decodes");
        assert_eq!(
            confirm,
            ConnectionConfirm::Response {
                flags: NegFlags(0x1f),
                selected: Protocols::HYBRID_EX
            }
        );
        let ConnectionConfirm::Response { flags, selected } = confirm else {
            unreachable!()
        };
        assert_eq!(selected.selected_name(), "credssp_early_auth");
        assert_eq!(
            flags.names(),
            [
                "extended_client_data",
                "gfx",
                "reserved_0x04",
                "restricted_admin",
                "redirected_authentication"
            ]
        );
    }

    #[test]
    fn every_truncated_prefix_is_incomplete_or_an_error() {
        let bytes = hex(WS2019_CONFIRM);
        for n in 0..bytes.len() {
            let prefix = &bytes[..n];
            match frame_len(prefix) {
                Ok(None) => assert!(n < 4),
                Ok(Some(len)) => {
                    assert_eq!(len, 19);
                    assert!(decode_confirm(prefix).is_err(), "prefix of {n} bytes");
                }
                Err(e) => panic!("prefix of {n} bytes: {e}"),
            }
        }
    }

    #[test]
    fn failure_codes_are_named_and_unknown_ones_kept() {
        for (code, name) in [
            (1, "SSL_REQUIRED_BY_SERVER"),
            (2, "SSL_NOT_ALLOWED_BY_SERVER"),
            (3, "SSL_CERT_NOT_ON_SERVER"),
            (4, "INCONSISTENT_FLAGS"),
            (5, "HYBRID_REQUIRED_BY_SERVER"),
            (6, "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER"),
            (0x99, "UNKNOWN_0x00000099"),
        ] {
            // 03 00 00 13 | 0e d0 00 00 12 34 00 | 03 00 08 00 | code u32 LE
            let mut bytes = hex("03 00 00 13 0e d0 00 00 12 34 00 03 00 08 00");
            bytes.extend_from_slice(&u32::to_le_bytes(code));
            assert_eq!(
                decode_confirm(&bytes),
                Ok(ConnectionConfirm::Failure(NegFailure(code)))
            );
            assert_eq!(NegFailure(code).name(), name);
        }
    }

    #[test]
    fn legacy_confirm_without_negotiation_data() {
        // TPKT length 11, LI 6: the fixed part only (Windows 2000/XP/2003).
        let bytes = hex("03 00 00 0b 06 d0 00 00 12 34 00");
        assert_eq!(decode_confirm(&bytes), Ok(ConnectionConfirm::Legacy));
    }

    #[test]
    fn response_selecting_standard_rdp_is_not_legacy() {
        let bytes = hex("03 00 00 13 0e d0 00 00 12 34 00 02 00 08 00 00 00 00 00");
        assert_eq!(
            decode_confirm(&bytes),
            Ok(ConnectionConfirm::Response {
                flags: NegFlags(0),
                selected: Protocols::RDP
            })
        );
        assert_eq!(Protocols::RDP.selected_name(), "rdp");
    }

    #[test]
    fn unknown_protocol_and_flag_bits_are_kept() {
        let bytes = hex("03 00 00 13 0e d0 00 00 12 34 00 02 41 08 00 20 00 00 00");
        let Ok(ConnectionConfirm::Response { flags, selected }) = decode_confirm(&bytes) else {
            panic!("expected a response");
        };
        assert_eq!(selected.selected_name(), "0x00000020");
        assert_eq!(flags.names(), ["extended_client_data", "0x40"]);
    }

    #[test]
    fn hostile_framing_is_rejected() {
        assert_eq!(frame_len(b"HTTP/1.1"), Err(X224Error::NotTpkt(b'H')));
        assert_eq!(frame_len(&[3, 0, 0, 0]), Err(X224Error::BadLength(0)));
        assert_eq!(frame_len(&[3, 0, 0, 3]), Err(X224Error::BadLength(3)));
        assert_eq!(
            frame_len(&[3, 0, 0xff, 0xff]),
            Err(X224Error::BadLength(65535))
        );
        // A Connection Request (0xe0) is not a Confirm.
        let request = connection_request(Protocols::SSL, None);
        assert!(matches!(
            decode_confirm(&request),
            Err(X224Error::Malformed(_))
        ));
    }

    #[test]
    fn an_unknown_rdp_neg_type_is_a_confirm_that_decides_nothing() {
        let bytes = hex("03 00 00 13 0e d0 00 00 12 34 00 07 05 08 00 01 02 03 04");
        assert_eq!(
            decode_confirm(&bytes),
            Ok(ConnectionConfirm::Unknown {
                neg_type: 7,
                flags: 5,
                data: 0x0403_0201
            })
        );
        // Every truncated prefix is still refused.
        for n in 0..bytes.len() {
            assert!(decode_confirm(&bytes[..n]).is_err(), "prefix of {n} bytes");
        }
    }

    #[test]
    fn the_header_carries_the_references() {
        let windows = hex(WS2019_CONFIRM);
        let (_, h) = decode_confirm_with_header(&windows).expect("decodes");
        assert_eq!(
            h,
            ConfirmHeader {
                dst_ref: 0,
                src_ref: ConfirmHeader::WINDOWS_SRC_REF,
                class: 0
            }
        );
        // FreeRDP's shadow server (measured): SRC-REF 0x0000, flags 0x03.
        let shadow = hex("03 00 00 13 0e d0 00 00 00 00 00 02 03 08 00 02 00 00 00");
        let (c, h) = decode_confirm_with_header(&shadow).expect("decodes");
        assert_eq!(h.src_ref, 0);
        assert_eq!(
            c,
            ConnectionConfirm::Response {
                flags: NegFlags(3),
                selected: Protocols::HYBRID
            }
        );
        let (c, h) = decode_confirm_with_header(&hex("03 00 00 0b 06 d0 00 00 12 34 00"))
            .expect("legacy decodes");
        assert_eq!((c, h.src_ref), (ConnectionConfirm::Legacy, 0x1234));
    }

    #[test]
    fn connection_request_matches_the_spec_layout() {
        let req = connection_request(
            Protocols::SSL
                .union(Protocols::HYBRID)
                .union(Protocols::HYBRID_EX),
            None,
        );
        assert_eq!(
            req,
            hex("03 00 00 13 0e e0 00 00 00 00 00 01 00 08 00 0b 00 00 00")
        );
        let with_cookie = connection_request(Protocols::SSL, Some("rdpsweep"));
        assert!(
            with_cookie
                .windows(26)
                .any(|w| w == &b"Cookie: mstshash=rdpsweep\r\n"[..26])
        );
        assert_eq!(usize::from(with_cookie[3]), with_cookie.len());
    }
}
