//! A raw, independent X.224 negotiation client for checking the test servers themselves
//! (MS-RDPBCGR 2.2.1.1 Client X.224 Connection Request PDU, 2.2.1.2 Server X.224 Connection
//! Confirm PDU). Written from the spec with no rdpsweep or ironrdp code, so the ground truth does
//! not depend on the code under test.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::time::Duration;

/// requestedProtocols / selectedProtocol values (MS-RDPBCGR 2.2.1.1.1).
pub const PROTOCOL_RDP: u32 = 0x0000_0000;
pub const PROTOCOL_SSL: u32 = 0x0000_0001;
pub const PROTOCOL_HYBRID: u32 = 0x0000_0002;
pub const PROTOCOL_RDSTLS: u32 = 0x0000_0004;
pub const PROTOCOL_HYBRID_EX: u32 = 0x0000_0008;

/// failureCode values of RDP_NEG_FAILURE (MS-RDPBCGR 2.2.1.2.2).
pub const SSL_REQUIRED_BY_SERVER: u32 = 1;
pub const SSL_NOT_ALLOWED_BY_SERVER: u32 = 2;
pub const SSL_CERT_NOT_ON_SERVER: u32 = 3;
pub const INCONSISTENT_FLAGS: u32 = 4;
pub const HYBRID_REQUIRED_BY_SERVER: u32 = 5;
pub const SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER: u32 = 6;

/// How long [`negotiate`] waits for the confirm.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// TPKT (RFC 1006) + X.224 Connection Request (no cookie) + RDP_NEG_REQ (type 0x01, flags 0,
/// length 8, requestedProtocols LE).
pub fn connection_request(requested: u32) -> Vec<u8> {
    let mut pdu = vec![
        0x03, 0x00, 0x00, 0x13, // TPKT version 3, length 19
        0x0e, // X.224 length indicator: 14 bytes follow
        0xe0, // CR (Connection Request) with CDT 0
        0x00, 0x00, // DST-REF
        0x00, 0x00, // SRC-REF
        0x00, // class 0
        0x01, 0x00, 0x08, 0x00, // RDP_NEG_REQ: type, flags, length 8
    ];
    pdu.extend_from_slice(&requested.to_le_bytes());
    pdu
}

/// What the server answered to one Connection Request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// RDP_NEG_RSP (type 0x02).
    Selected { protocol: u32, flags: u8 },
    /// RDP_NEG_FAILURE (type 0x03).
    Failure { code: u32 },
    /// A Connection Confirm without negotiation data (legacy server).
    NoNegotiationData,
}

impl Confirm {
    /// `selected:tls`, `failure:HYBRID_REQUIRED_BY_SERVER`, ... (the vocabulary of
    /// `NegotiationProbe::result`).
    pub fn label(self) -> String {
        match self {
            Confirm::Selected { protocol, .. } => format!("selected:{}", protocol_name(protocol)),
            Confirm::Failure { code } => format!("failure:{}", failure_name(code)),
            Confirm::NoNegotiationData => "legacy".to_string(),
        }
    }
}

impl fmt::Display for Confirm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// The names rdpsweep's schema uses for one protocol value.
pub fn protocol_name(protocol: u32) -> String {
    match protocol {
        PROTOCOL_RDP => "rdp".into(),
        PROTOCOL_SSL => "tls".into(),
        PROTOCOL_HYBRID => "credssp".into(),
        PROTOCOL_RDSTLS => "rdstls".into(),
        PROTOCOL_HYBRID_EX => "credssp_early_auth".into(),
        other => format!("0x{other:08x}"),
    }
}

pub fn failure_name(code: u32) -> String {
    match code {
        SSL_REQUIRED_BY_SERVER => "SSL_REQUIRED_BY_SERVER".into(),
        SSL_NOT_ALLOWED_BY_SERVER => "SSL_NOT_ALLOWED_BY_SERVER".into(),
        SSL_CERT_NOT_ON_SERVER => "SSL_CERT_NOT_ON_SERVER".into(),
        INCONSISTENT_FLAGS => "INCONSISTENT_FLAGS".into(),
        HYBRID_REQUIRED_BY_SERVER => "HYBRID_REQUIRED_BY_SERVER".into(),
        SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER => "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER".into(),
        other => format!("0x{other:08x}"),
    }
}

/// Decodes a complete TPKT + X.224 Connection Confirm.
pub fn parse_confirm(pdu: &[u8]) -> Result<Confirm, String> {
    let hex = hex(pdu);
    let [0x03, 0x00, hi, lo, rest @ ..] = pdu else {
        return Err(format!("not a TPKT header: {hex}"));
    };
    let total = usize::from(u16::from_be_bytes([*hi, *lo]));
    if total != pdu.len() {
        return Err(format!(
            "TPKT length {total} but {} bytes: {hex}",
            pdu.len()
        ));
    }
    let [li, 0xd0, _, _, _, _, _, neg @ ..] = rest else {
        return Err(format!("not an X.224 Connection Confirm (0xD0): {hex}"));
    };
    if usize::from(*li) + 1 != rest.len() {
        return Err(format!(
            "X.224 length indicator {li} does not match {} bytes: {hex}",
            rest.len()
        ));
    }
    match neg {
        [] => Ok(Confirm::NoNegotiationData),
        [0x02, flags, 0x08, 0x00, p @ ..] => {
            let p: [u8; 4] = p
                .try_into()
                .map_err(|_| format!("RDP_NEG_RSP is not 8 bytes: {hex}"))?;
            Ok(Confirm::Selected {
                protocol: u32::from_le_bytes(p),
                flags: *flags,
            })
        }
        [0x03, _, 0x08, 0x00, c @ ..] => {
            let c: [u8; 4] = c
                .try_into()
                .map_err(|_| format!("RDP_NEG_FAILURE is not 8 bytes: {hex}"))?;
            Ok(Confirm::Failure {
                code: u32::from_le_bytes(c),
            })
        }
        _ => Err(format!("unknown negotiation data after the confirm: {hex}")),
    }
}

/// Sends one Connection Request to `addr` and decodes the confirm. Reads exactly the TPKT
/// length (FreeRDP keeps the connection open after a failure, so never wait for EOF).
/// Panics with the bytes received when anything goes wrong.
pub fn negotiate(addr: SocketAddrV4, requested: u32) -> Confirm {
    let mut stream = TcpStream::connect_timeout(&addr.into(), READ_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .unwrap_or_else(|e| panic!("set timeout: {e}"));
    stream
        .write_all(&connection_request(requested))
        .unwrap_or_else(|e| panic!("send the Connection Request to {addr}: {e}"));
    let pdu =
        read_tpkt(&mut stream).unwrap_or_else(|e| panic!("{addr}, requested 0x{requested:x}: {e}"));
    parse_confirm(&pdu).unwrap_or_else(|e| panic!("{addr}, requested 0x{requested:x}: {e}"))
}

/// Reads one TPKT (at most 64 KiB).
pub fn read_tpkt(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut pdu = vec![0u8; 4];
    stream
        .read_exact(&mut pdu)
        .map_err(|e| format!("reading the TPKT header: {e}"))?;
    if pdu[0] != 0x03 {
        let mut more = [0u8; 64];
        let n = stream.read(&mut more).unwrap_or(0);
        pdu.extend_from_slice(&more[..n]);
        return Err(format!("not a TPKT: {}", hex(&pdu)));
    }
    let total = usize::from(u16::from_be_bytes([pdu[2], pdu[3]]));
    if total < 4 {
        return Err(format!("TPKT length {total} is shorter than its header"));
    }
    pdu.resize(total, 0);
    stream.read_exact(&mut pdu[4..]).map_err(|e| {
        format!(
            "reading {} TPKT bytes after {}: {e}",
            total - 4,
            hex(&pdu[..4])
        )
    })?;
    Ok(pdu)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
