//! NTLM messages, sans-IO (MS-NLMP 2.2.1.1 NEGOTIATE_MESSAGE, 2.2.1.2 CHALLENGE_MESSAGE).
//!
//! rdpsweep builds a NEGOTIATE message and parses the server's CHALLENGE; it never builds an
//! AUTHENTICATE_MESSAGE (2.2.1.3) and has no code to do so. The CHALLENGE parser treats every byte
//! as hostile: offsets and lengths are checked against the message (an error names the field),
//! strings that are not valid UTF-16LE come back escaped, and the AV pair list is capped at
//! [`MAX_AV_PAIRS`] and kept when it is cut short (with a note saying so).

use std::fmt;

use thiserror::Error;

/// `Signature` of every NTLM message (MS-NLMP 2.2.1).
pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// Most AV pairs read from a CHALLENGE's TargetInfo; the rest is ignored (with a note).
pub const MAX_AV_PAIRS: usize = 1024;

/// Fixed part of a CHALLENGE_MESSAGE up to and including TargetInfoFields (MS-NLMP 2.2.1.2).
const CHALLENGE_FIXED_LEN: usize = 48;
/// Fixed part of a NEGOTIATE_MESSAGE up to and including WorkstationFields (MS-NLMP 2.2.1.1).
const NEGOTIATE_FIXED_LEN: usize = 32;

/// Errors from the NTLM parsers. Each names the field that was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NtlmError {
    #[error("NTLM message of {len} bytes is too short for {field} (needs {need})")]
    Truncated {
        field: &'static str,
        need: usize,
        len: usize,
    },
    #[error("not an NTLM message: signature is {found}, expected \"NTLMSSP\\0\"")]
    BadSignature { found: String },
    #[error("expected NTLM {expected} message, found message type {found}")]
    WrongMessageType {
        expected: &'static str,
        found: MessageType,
    },
    #[error("{field}: offset {offset} + length {len} lies outside the {message_len}-byte message")]
    FieldOutOfBounds {
        field: &'static str,
        offset: u32,
        len: u16,
        message_len: usize,
    },
}

/// `MessageType` (MS-NLMP 2.2.1); unknown values kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageType(pub u32);

impl MessageType {
    pub const NEGOTIATE: Self = Self(1);
    pub const CHALLENGE: Self = Self(2);
    pub const AUTHENTICATE: Self = Self(3);

    pub fn name(self) -> Option<&'static str> {
        match self.0 {
            1 => Some("NEGOTIATE"),
            2 => Some("CHALLENGE"),
            3 => Some("AUTHENTICATE"),
            _ => None,
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The message type of an NTLM message, if `bytes` starts with the NTLM signature and a type.
pub fn message_type(bytes: &[u8]) -> Option<MessageType> {
    if bytes.get(..8)? != SIGNATURE {
        return None;
    }
    read_u32(bytes, 8).map(MessageType)
}

/// `NegotiateFlags` (MS-NLMP 2.2.2.5). All 32 bits are kept; known ones have names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NegotiateFlags(pub u32);

impl NegotiateFlags {
    pub const UNICODE: u32 = 0x0000_0001;
    pub const OEM: u32 = 0x0000_0002;
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    pub const SIGN: u32 = 0x0000_0010;
    pub const SEAL: u32 = 0x0000_0020;
    pub const DATAGRAM: u32 = 0x0000_0040;
    pub const LM_KEY: u32 = 0x0000_0080;
    pub const NTLM: u32 = 0x0000_0200;
    pub const ANONYMOUS: u32 = 0x0000_0800;
    pub const OEM_DOMAIN_SUPPLIED: u32 = 0x0000_1000;
    pub const OEM_WORKSTATION_SUPPLIED: u32 = 0x0000_2000;
    pub const ALWAYS_SIGN: u32 = 0x0000_8000;
    pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
    pub const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
    pub const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    pub const IDENTIFY: u32 = 0x0010_0000;
    pub const REQUEST_NON_NT_SESSION_KEY: u32 = 0x0040_0000;
    pub const TARGET_INFO: u32 = 0x0080_0000;
    pub const VERSION: u32 = 0x0200_0000;
    pub const N128: u32 = 0x2000_0000;
    pub const KEY_EXCH: u32 = 0x4000_0000;
    pub const N56: u32 = 0x8000_0000;

    /// Names as in MS-NLMP 2.2.2.5 (`NTLMSSP_` prefix dropped), lowest bit first.
    const NAMES: [(u32, &'static str); 22] = [
        (Self::UNICODE, "NEGOTIATE_UNICODE"),
        (Self::OEM, "NEGOTIATE_OEM"),
        (Self::REQUEST_TARGET, "REQUEST_TARGET"),
        (Self::SIGN, "NEGOTIATE_SIGN"),
        (Self::SEAL, "NEGOTIATE_SEAL"),
        (Self::DATAGRAM, "NEGOTIATE_DATAGRAM"),
        (Self::LM_KEY, "NEGOTIATE_LM_KEY"),
        (Self::NTLM, "NEGOTIATE_NTLM"),
        (Self::ANONYMOUS, "ANONYMOUS"),
        (Self::OEM_DOMAIN_SUPPLIED, "NEGOTIATE_OEM_DOMAIN_SUPPLIED"),
        (
            Self::OEM_WORKSTATION_SUPPLIED,
            "NEGOTIATE_OEM_WORKSTATION_SUPPLIED",
        ),
        (Self::ALWAYS_SIGN, "NEGOTIATE_ALWAYS_SIGN"),
        (Self::TARGET_TYPE_DOMAIN, "TARGET_TYPE_DOMAIN"),
        (Self::TARGET_TYPE_SERVER, "TARGET_TYPE_SERVER"),
        (
            Self::EXTENDED_SESSIONSECURITY,
            "NEGOTIATE_EXTENDED_SESSIONSECURITY",
        ),
        (Self::IDENTIFY, "NEGOTIATE_IDENTIFY"),
        (
            Self::REQUEST_NON_NT_SESSION_KEY,
            "REQUEST_NON_NT_SESSION_KEY",
        ),
        (Self::TARGET_INFO, "NEGOTIATE_TARGET_INFO"),
        (Self::VERSION, "NEGOTIATE_VERSION"),
        (Self::N128, "NEGOTIATE_128"),
        (Self::KEY_EXCH, "NEGOTIATE_KEY_EXCH"),
        (Self::N56, "NEGOTIATE_56"),
    ];

    pub fn contains(self, bits: u32) -> bool {
        self.0 & bits == bits
    }

    /// Names of the set bits, lowest first; reserved/unknown bits as `0x........`.
    pub fn names(self) -> Vec<String> {
        (0..32)
            .map(|i| 1u32 << i)
            .filter(|bit| self.0 & bit != 0)
            .map(|bit| match Self::NAMES.iter().find(|(b, _)| *b == bit) {
                Some((_, name)) => (*name).to_owned(),
                None => format!("0x{bit:08X}"),
            })
            .collect()
    }
}

impl fmt::Display for NegotiateFlags {
    /// `0xE28A8235`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.0)
    }
}

/// The VERSION structure (MS-NLMP 2.2.2.10): the sender's Windows version and NTLM revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NtlmVersion {
    pub major: u8,
    pub minor: u8,
    pub build: u16,
    /// `NTLMRevisionCurrent`: 0x0F for NTLMSSP_REVISION_W2K3.
    pub revision: u8,
}

impl NtlmVersion {
    /// What mstsc on Windows 10 2004 sends (the real capture in `fixtures/`).
    pub const WINDOWS_10_2004: Self = Self {
        major: 10,
        minor: 0,
        build: 19041,
        revision: 0x0F,
    };

    fn parse(bytes: &[u8]) -> Option<Self> {
        let b = bytes.get(..8)?;
        Some(Self {
            major: *b.first()?,
            minor: *b.get(1)?,
            build: read_u16(b, 2)?,
            revision: *b.get(7)?,
        })
    }

    fn encode(self) -> [u8; 8] {
        let [b0, b1] = self.build.to_le_bytes();
        [self.major, self.minor, b0, b1, 0, 0, 0, self.revision]
    }
}

impl fmt::Display for NtlmVersion {
    /// `major.minor.build`, e.g. `10.0.17763`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

/// NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1). rdpsweep sends no domain and no workstation name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateMessage {
    pub flags: NegotiateFlags,
    /// Present when `NEGOTIATE_VERSION` is set.
    pub version: Option<NtlmVersion>,
}

impl NegotiateMessage {
    /// The flags mstsc on Windows 10 sends (0xE20882B7): UNICODE, OEM, REQUEST_TARGET, SIGN, SEAL,
    /// LM_KEY, NTLM, ALWAYS_SIGN, EXTENDED_SESSIONSECURITY, VERSION, 128, KEY_EXCH, 56. Looking
    /// like mstsc makes the server answer as it would answer a real client.
    pub const MSTSC_FLAGS: NegotiateFlags = NegotiateFlags(0xE208_82B7);

    /// Serialises the message (40 bytes with VERSION, 32 without).
    pub fn encode(&self) -> Vec<u8> {
        let mut flags = self.flags.0
            & !(NegotiateFlags::OEM_DOMAIN_SUPPLIED | NegotiateFlags::OEM_WORKSTATION_SUPPLIED);
        if self.version.is_some() {
            flags |= NegotiateFlags::VERSION;
        } else {
            flags &= !NegotiateFlags::VERSION;
        }
        let mut out = Vec::with_capacity(40);
        out.extend_from_slice(SIGNATURE);
        out.extend_from_slice(&MessageType::NEGOTIATE.0.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        // DomainNameFields and WorkstationFields: empty (len 0, maxlen 0, offset 0), as mstsc.
        out.extend_from_slice(&[0u8; 16]);
        if let Some(version) = self.version {
            out.extend_from_slice(&version.encode());
        }
        out
    }

    /// Parses a NEGOTIATE_MESSAGE (used by tests and to check what a client sent).
    pub fn decode(bytes: &[u8]) -> Result<Self, NtlmError> {
        check_header(
            bytes,
            MessageType::NEGOTIATE,
            "NEGOTIATE",
            NEGOTIATE_FIXED_LEN,
            "WorkstationFields",
        )?;
        let flags = NegotiateFlags(read_u32(bytes, 12).unwrap_or_default());
        let version =
            if flags.contains(NegotiateFlags::VERSION) {
                Some(bytes.get(32..40).and_then(NtlmVersion::parse).ok_or(
                    NtlmError::Truncated {
                        field: "Version",
                        need: 40,
                        len: bytes.len(),
                    },
                )?)
            } else {
                None
            };
        Ok(Self { flags, version })
    }
}

impl Default for NegotiateMessage {
    /// Byte-for-byte the NEGOTIATE mstsc on Windows 10 2004 sends.
    fn default() -> Self {
        Self {
            flags: Self::MSTSC_FLAGS,
            version: Some(NtlmVersion::WINDOWS_10_2004),
        }
    }
}

/// AvId (MS-NLMP 2.2.2.1); unknown ids kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AvId(pub u16);

impl AvId {
    pub const EOL: Self = Self(0);
    pub const NB_COMPUTER_NAME: Self = Self(1);
    pub const NB_DOMAIN_NAME: Self = Self(2);
    pub const DNS_COMPUTER_NAME: Self = Self(3);
    pub const DNS_DOMAIN_NAME: Self = Self(4);
    pub const DNS_TREE_NAME: Self = Self(5);
    pub const FLAGS: Self = Self(6);
    pub const TIMESTAMP: Self = Self(7);
    pub const SINGLE_HOST: Self = Self(8);
    pub const TARGET_NAME: Self = Self(9);
    pub const CHANNEL_BINDINGS: Self = Self(10);

    /// The spec's name (`MsvAvNbComputerName`, ...), or `None` for an unknown id.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "MsvAvEOL",
            1 => "MsvAvNbComputerName",
            2 => "MsvAvNbDomainName",
            3 => "MsvAvDnsComputerName",
            4 => "MsvAvDnsDomainName",
            5 => "MsvAvDnsTreeName",
            6 => "MsvAvFlags",
            7 => "MsvAvTimestamp",
            8 => "MsvAvSingleHost",
            9 => "MsvAvTargetName",
            10 => "MsvChannelBindings",
            _ => return None,
        })
    }
}

impl fmt::Display for AvId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "AvId {}", self.0),
        }
    }
}

/// One AV_PAIR (MS-NLMP 2.2.2.1), value kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvPair {
    pub id: AvId,
    pub value: Vec<u8>,
}

/// A FILETIME (MS-DTYP 2.3.3): 100-nanosecond intervals since 1601-01-01 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileTime(pub u64);

impl FileTime {
    /// Seconds between 1601-01-01 and 1970-01-01.
    const EPOCH_DIFF_S: i64 = 11_644_473_600;

    /// Whole seconds since the Unix epoch (negative before 1970), sub-second part dropped.
    pub fn to_unix_seconds(self) -> i64 {
        // u64::MAX / 10^7 is about 1.8e12, which always fits an i64.
        i64::try_from(self.0 / 10_000_000).map_or(i64::MAX, |s| s - Self::EPOCH_DIFF_S)
    }
}

/// The CHALLENGE's TargetInfo: the AV pairs in order, and whether the list ended properly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetInfo {
    pub pairs: Vec<AvPair>,
    /// `MsvAvEOL` was found. When false, `issue` says why the list stopped.
    pub eol: bool,
    /// Why parsing stopped early or what was odd (missing EOL, a pair past the end, the cap).
    pub issue: Option<String>,
}

impl TargetInfo {
    /// Parses an AV pair list. Never fails: what was read before a problem is kept.
    pub fn parse(bytes: &[u8]) -> Self {
        let mut info = TargetInfo::default();
        let mut pos = 0usize;
        loop {
            if info.pairs.len() >= MAX_AV_PAIRS {
                info.issue = Some(format!("stopped after {MAX_AV_PAIRS} AV pairs (limit)"));
                break;
            }
            let (Some(id), Some(len)) =
                (read_u16(bytes, pos), read_u16(bytes, pos.saturating_add(2)))
            else {
                info.issue = Some(if pos >= bytes.len() {
                    "no MsvAvEOL: the AV pair list ends without its terminator".to_owned()
                } else {
                    format!(
                        "AV pair header at offset {pos} is cut off ({} bytes left)",
                        bytes.len() - pos
                    )
                });
                break;
            };
            let id = AvId(id);
            if id == AvId::EOL {
                info.eol = true;
                break;
            }
            let start = pos.saturating_add(4);
            let end = start.saturating_add(usize::from(len));
            let Some(value) = bytes.get(start..end) else {
                info.issue = Some(format!(
                    "{id} at offset {pos}: length {len} runs past the end of TargetInfo ({} bytes)",
                    bytes.len()
                ));
                break;
            };
            info.pairs.push(AvPair {
                id,
                value: value.to_vec(),
            });
            pos = end;
        }
        info
    }

    /// The first pair with this id.
    pub fn get(&self, id: AvId) -> Option<&AvPair> {
        self.pairs.iter().find(|p| p.id == id)
    }

    /// The first pair with this id, decoded as UTF-16LE (escaped where invalid).
    pub fn string(&self, id: AvId) -> Option<String> {
        self.get(id).map(|p| utf16le_escaped(&p.value).0)
    }

    /// `MsvAvTimestamp`, when present with its 8 bytes.
    pub fn timestamp(&self) -> Option<FileTime> {
        let value = self.get(AvId::TIMESTAMP)?.value.as_slice();
        let bytes: [u8; 8] = value.try_into().ok()?;
        Some(FileTime(u64::from_le_bytes(bytes)))
    }

    /// `MsvAvFlags`, when present with its 4 bytes.
    pub fn flags(&self) -> Option<u32> {
        let value = self.get(AvId::FLAGS)?.value.as_slice();
        let bytes: [u8; 4] = value.try_into().ok()?;
        Some(u32::from_le_bytes(bytes))
    }
}

/// CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeMessage {
    /// TargetName (UTF-16LE with `NEGOTIATE_UNICODE`, else OEM), escaped where invalid;
    /// `None` when empty.
    pub target_name: Option<String>,
    pub flags: NegotiateFlags,
    pub server_challenge: [u8; 8],
    /// `None` when TargetInfoFields is empty.
    pub target_info: Option<TargetInfo>,
    /// Present when `NEGOTIATE_VERSION` is set and the message is long enough.
    pub version: Option<NtlmVersion>,
    /// Oddities that did not stop parsing (invalid UTF-16, missing EOL, ...).
    pub warnings: Vec<String>,
}

impl ChallengeMessage {
    /// Parses a CHALLENGE_MESSAGE. Errors for a bad signature or type, a message shorter than the
    /// fixed part, or a TargetName/TargetInfo outside the message; partial data otherwise.
    pub fn decode(bytes: &[u8]) -> Result<Self, NtlmError> {
        check_header(
            bytes,
            MessageType::CHALLENGE,
            "CHALLENGE",
            CHALLENGE_FIXED_LEN,
            "TargetInfoFields",
        )?;
        let mut warnings = Vec::new();
        let flags = NegotiateFlags(read_u32(bytes, 20).unwrap_or_default());
        let mut server_challenge = [0u8; 8];
        if let Some(c) = bytes.get(24..32) {
            server_challenge.copy_from_slice(c);
        }

        let name_bytes = payload(bytes, 12, "TargetNameFields")?;
        let target_name = if name_bytes.is_empty() {
            None
        } else if flags.contains(NegotiateFlags::UNICODE) {
            let (text, issue) = utf16le_escaped(name_bytes);
            if let Some(issue) = issue {
                warnings.push(format!("TargetName: {issue}"));
            }
            Some(text)
        } else {
            Some(oem_escaped(name_bytes))
        };

        let info_bytes = payload(bytes, 40, "TargetInfoFields")?;
        let target_info = if info_bytes.is_empty() {
            None
        } else {
            let info = TargetInfo::parse(info_bytes);
            if let Some(issue) = &info.issue {
                warnings.push(format!("TargetInfo: {issue}"));
            }
            for pair in &info.pairs {
                if matches!(pair.id.0, 1..=5 | 9)
                    && let (_, Some(issue)) = utf16le_escaped(&pair.value)
                {
                    warnings.push(format!("{}: {issue}", pair.id));
                }
            }
            Some(info)
        };

        let version = if flags.contains(NegotiateFlags::VERSION) {
            let v = bytes.get(48..56).and_then(NtlmVersion::parse);
            if v.is_none() {
                warnings.push(format!(
                    "NEGOTIATE_VERSION is set but the {}-byte message has no room for VERSION",
                    bytes.len()
                ));
            }
            v
        } else {
            None
        };

        Ok(Self {
            target_name,
            flags,
            server_challenge,
            target_info,
            version,
            warnings,
        })
    }
}

/// Checks Signature and MessageType, and that the fixed part (ending with `last_field`) is there.
fn check_header(
    bytes: &[u8],
    expected: MessageType,
    name: &'static str,
    fixed: usize,
    last_field: &'static str,
) -> Result<(), NtlmError> {
    let Some(sig) = bytes.get(..8) else {
        return Err(NtlmError::Truncated {
            field: "Signature",
            need: 8,
            len: bytes.len(),
        });
    };
    if sig != SIGNATURE {
        return Err(NtlmError::BadSignature {
            found: oem_escaped(sig),
        });
    }
    let found = read_u32(bytes, 8)
        .map(MessageType)
        .ok_or(NtlmError::Truncated {
            field: "MessageType",
            need: 12,
            len: bytes.len(),
        })?;
    if found != expected {
        return Err(NtlmError::WrongMessageType {
            expected: name,
            found,
        });
    }
    if bytes.len() < fixed {
        return Err(NtlmError::Truncated {
            field: last_field,
            need: fixed,
            len: bytes.len(),
        });
    }
    Ok(())
}

/// The bytes a `*Fields` structure (Len u16, MaxLen u16, BufferOffset u32) at `at` points to.
fn payload<'a>(bytes: &'a [u8], at: usize, field: &'static str) -> Result<&'a [u8], NtlmError> {
    let (Some(len), Some(offset)) = (read_u16(bytes, at), read_u32(bytes, at + 4)) else {
        return Err(NtlmError::Truncated {
            field,
            need: at + 8,
            len: bytes.len(),
        });
    };
    if len == 0 {
        return Ok(&[]);
    }
    let out_of_bounds = NtlmError::FieldOutOfBounds {
        field,
        offset,
        len,
        message_len: bytes.len(),
    };
    let start = usize::try_from(offset).map_err(|_| out_of_bounds.clone())?;
    let end = start
        .checked_add(usize::from(len))
        .ok_or_else(|| out_of_bounds.clone())?;
    bytes.get(start..end).ok_or(out_of_bounds)
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_le_bytes(b))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

/// Decodes UTF-16LE, escaping what is not text: unpaired surrogates as `\u{d800}`, a trailing
/// odd byte as `\x41`. Returns the text and, when anything was escaped, what was wrong. Control
/// characters are valid text and are kept; the writers make them visible (`report::sanitize`).
pub fn utf16le_escaped(bytes: &[u8]) -> (String, Option<String>) {
    let mut out = String::with_capacity(bytes.len() / 2);
    let mut issues: Vec<String> = Vec::new();
    let chunks = bytes.chunks_exact(2);
    let odd = chunks.remainder().first().copied();
    let units = chunks.map(|c| {
        u16::from_le_bytes([
            c.first().copied().unwrap_or(0),
            c.get(1).copied().unwrap_or(0),
        ])
    });
    let mut invalid = false;
    for r in char::decode_utf16(units) {
        match r {
            Ok(c) => out.push(c),
            Err(e) => {
                invalid = true;
                out.push_str(&format!("\\u{{{:x}}}", e.unpaired_surrogate()));
            }
        }
    }
    if invalid {
        issues.push("invalid UTF-16 (unpaired surrogate escaped)".to_owned());
    }
    if let Some(b) = odd {
        out.push_str(&format!("\\x{b:02x}"));
        issues.push(format!("odd byte length {} for UTF-16", bytes.len()));
    }
    let issue = if issues.is_empty() {
        None
    } else {
        Some(issues.join("; "))
    };
    (out, issue)
}

/// OEM strings: printable ASCII as is, everything else as `\xNN` (the OEM code page is unknown).
fn oem_escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_graphic() || b == b' ' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tsrequest::TsRequest;
    use crate::test_fixtures::hex;

    fn server_2019_challenge() -> Vec<u8> {
        let ts = hex(include_str!(
            "../../fixtures/windows-server-2019-tsrequest-challenge.hex"
        ));
        TsRequest::decode(&ts)
            .expect("tsrequest")
            .nego_tokens
            .remove(0)
    }

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// A CHALLENGE with the given TargetName bytes and TargetInfo bytes, VERSION 10.0.20348.
    fn build_challenge(flags: u32, name: &[u8], info: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(SIGNATURE);
        m.extend_from_slice(&2u32.to_le_bytes());
        let name_off = 56u32;
        let info_off = name_off + u32::try_from(name.len()).expect("len");
        m.extend_from_slice(&u16::try_from(name.len()).expect("len").to_le_bytes());
        m.extend_from_slice(&u16::try_from(name.len()).expect("len").to_le_bytes());
        m.extend_from_slice(&name_off.to_le_bytes());
        m.extend_from_slice(&flags.to_le_bytes());
        m.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&u16::try_from(info.len()).expect("len").to_le_bytes());
        m.extend_from_slice(&u16::try_from(info.len()).expect("len").to_le_bytes());
        m.extend_from_slice(&info_off.to_le_bytes());
        m.extend_from_slice(&[10, 0, 0x3c, 0x4f, 0, 0, 0, 15]);
        m.extend_from_slice(name);
        m.extend_from_slice(info);
        m
    }

    fn av(id: u16, value: &[u8]) -> Vec<u8> {
        let mut v = id.to_le_bytes().to_vec();
        v.extend_from_slice(&u16::try_from(value.len()).expect("len").to_le_bytes());
        v.extend_from_slice(value);
        v
    }

    const EOL: [u8; 4] = [0; 4];

    #[test]
    fn parses_windows_server_2019_challenge() {
        let token = server_2019_challenge();
        assert_eq!(message_type(&token), Some(MessageType::CHALLENGE));
        let c = ChallengeMessage::decode(&token).expect("challenge");
        assert_eq!(c.flags, NegotiateFlags(0xE28A_8235));
        assert_eq!(c.flags.to_string(), "0xE28A8235");
        assert_eq!(c.target_name.as_deref(), Some("fv-az41-637"));
        assert_eq!(
            c.server_challenge,
            [0x02, 0xe7, 0x30, 0x83, 0x57, 0x22, 0xf8, 0xdf]
        );
        let v = c.version.expect("version");
        assert_eq!(v.to_string(), "10.0.17763");
        assert_eq!(v.revision, 15);
        let info = c.target_info.expect("target info");
        assert!(info.eol);
        assert_eq!(info.issue, None);
        let ids: Vec<u16> = info.pairs.iter().map(|p| p.id.0).collect();
        assert_eq!(ids, vec![2, 1, 4, 3, 7]);
        for id in [
            AvId::NB_COMPUTER_NAME,
            AvId::NB_DOMAIN_NAME,
            AvId::DNS_COMPUTER_NAME,
            AvId::DNS_DOMAIN_NAME,
        ] {
            assert_eq!(info.string(id).as_deref(), Some("fv-az41-637"), "{id}");
        }
        assert_eq!(info.string(AvId::DNS_TREE_NAME), None);
        let ts = info.timestamp().expect("timestamp");
        assert_eq!(ts, FileTime(0x01d7_0370_edb1_d20e));
        assert_eq!(ts.to_unix_seconds(), 1_613_376_158); // 2021-02-15T08:02:38Z
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let names = c.flags.names();
        assert!(names.contains(&"NEGOTIATE_VERSION".to_owned()));
        assert!(names.contains(&"TARGET_TYPE_SERVER".to_owned()));
        assert!(names.contains(&"NEGOTIATE_TARGET_INFO".to_owned()));
    }

    #[test]
    fn windows_10_negotiate_round_trips_and_is_our_default() {
        let ts = hex(include_str!(
            "../../fixtures/windows-10-client-tsrequest-negotiate.hex"
        ));
        let token = TsRequest::decode(&ts)
            .expect("tsrequest")
            .nego_tokens
            .remove(0);
        assert_eq!(message_type(&token), Some(MessageType::NEGOTIATE));
        let n = NegotiateMessage::decode(&token).expect("negotiate");
        assert_eq!(n.flags, NegotiateFlags(0xE208_82B7));
        assert_eq!(
            n.version.map(|v| v.to_string()).as_deref(),
            Some("10.0.19041")
        );
        assert_eq!(n.encode(), token);
        assert_eq!(NegotiateMessage::default().encode(), token);
        // Without VERSION the message is 32 bytes and the flag is cleared.
        let short = NegotiateMessage {
            flags: NegotiateMessage::MSTSC_FLAGS,
            version: None,
        }
        .encode();
        assert_eq!(short.len(), 32);
        assert!(
            !NegotiateMessage::decode(&short)
                .expect("short")
                .flags
                .contains(NegotiateFlags::VERSION)
        );
    }

    #[test]
    fn every_truncated_prefix_errors_without_panic() {
        let token = server_2019_challenge();
        for n in 0..token.len() {
            // Every prefix cuts off TargetInfo (the last payload), so each must be an error.
            assert!(ChallengeMessage::decode(&token[..n]).is_err(), "prefix {n}");
        }
        let negotiate = NegotiateMessage::default().encode();
        for n in 0..negotiate.len() {
            assert!(
                NegotiateMessage::decode(&negotiate[..n]).is_err(),
                "prefix {n}"
            );
        }
    }

    #[test]
    fn wrong_signature_and_type() {
        assert!(matches!(
            ChallengeMessage::decode(b"NTLMSSQ\0\x02\0\0\0"),
            Err(NtlmError::BadSignature { .. })
        ));
        let negotiate = NegotiateMessage::default().encode();
        assert_eq!(
            ChallengeMessage::decode(&negotiate),
            Err(NtlmError::WrongMessageType {
                expected: "CHALLENGE",
                found: MessageType::NEGOTIATE
            })
        );
        assert_eq!(message_type(b"garbage"), None);
        assert_eq!(
            message_type(b"NTLMSSP\0\x03\0\0\0"),
            Some(MessageType::AUTHENTICATE)
        );
    }

    #[test]
    fn bad_offsets_and_lengths_name_the_field() {
        let mut m = build_challenge(0xE28A_8235, &utf16("HOST"), &EOL);
        // TargetName offset far past the end.
        m[16..20].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        match ChallengeMessage::decode(&m) {
            Err(NtlmError::FieldOutOfBounds { field, .. }) => assert_eq!(field, "TargetNameFields"),
            other => panic!("{other:?}"),
        }
        let mut m = build_challenge(0xE28A_8235, &utf16("HOST"), &EOL);
        // TargetInfo length one past the end.
        m[40..42].copy_from_slice(&5u16.to_le_bytes());
        let err = ChallengeMessage::decode(&m).expect_err("out of bounds");
        assert!(err.to_string().starts_with("TargetInfoFields:"), "{err}");
    }

    #[test]
    fn odd_and_invalid_utf16_are_escaped() {
        let mut name = utf16("AB");
        name.push(0x43);
        let mut bad = vec![0x00, 0xD8]; // unpaired high surrogate
        bad.extend(utf16("x\u{1b}"));
        let info = [av(1, &bad), EOL.to_vec()].concat();
        let c =
            ChallengeMessage::decode(&build_challenge(0xE28A_8235, &name, &info)).expect("partial");
        assert_eq!(c.target_name.as_deref(), Some("AB\\x43"));
        let info = c.target_info.expect("info");
        assert_eq!(
            info.string(AvId::NB_COMPUTER_NAME).as_deref(),
            // The control character is text and kept: the writers make it visible.
            Some("\\u{d800}x\u{1b}")
        );
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("odd byte length 5"));
        assert!(c.warnings[1].starts_with("MsvAvNbComputerName: invalid UTF-16"));
        // OEM target name (no NEGOTIATE_UNICODE).
        let c =
            ChallengeMessage::decode(&build_challenge(0x0200_0002, b"SRV\xff", &[])).expect("oem");
        assert_eq!(c.target_name.as_deref(), Some("SRV\\xff"));
        assert_eq!(c.target_info, None);
    }

    #[test]
    fn missing_eol_and_pairs_past_end_keep_what_was_read() {
        let info = [av(1, &utf16("PC1")), av(7, &1u64.to_le_bytes())].concat();
        let c =
            ChallengeMessage::decode(&build_challenge(0xE28A_8235, &[], &info)).expect("partial");
        let ti = c.target_info.expect("info");
        assert!(!ti.eol);
        assert_eq!(ti.pairs.len(), 2);
        assert_eq!(ti.string(AvId::NB_COMPUTER_NAME).as_deref(), Some("PC1"));
        assert!(
            ti.issue
                .as_deref()
                .expect("issue")
                .starts_with("no MsvAvEOL")
        );
        assert_eq!(c.warnings.len(), 1);

        let info = [
            av(3, &utf16("pc1.example")),
            vec![0x04, 0x00, 0xff, 0x7f, 0x41],
        ]
        .concat();
        let ti = TargetInfo::parse(&info);
        assert_eq!(ti.pairs.len(), 1);
        assert!(
            ti.issue
                .as_deref()
                .expect("issue")
                .contains("MsvAvDnsDomainName at offset 26: length 32767 runs past")
        );

        let ti = TargetInfo::parse(&[0x01, 0x00, 0x02]);
        assert!(ti.issue.as_deref().expect("issue").contains("cut off"));
    }

    #[test]
    fn thousands_of_av_pairs_are_capped() {
        let mut info = Vec::new();
        for i in 0..16_000u16 {
            info.extend(av(100 + (i % 7), &[]));
        }
        info.extend(EOL);
        let ti = TargetInfo::parse(&info);
        assert_eq!(ti.pairs.len(), MAX_AV_PAIRS);
        assert!(!ti.eol);
        assert!(ti.issue.as_deref().expect("issue").contains("limit"));
        // Unknown ids are kept raw.
        assert_eq!(ti.pairs[0].id, AvId(100));
        assert_eq!(ti.pairs[0].id.to_string(), "AvId 100");
        // A full-size message with a maximal TargetInfo still parses.
        assert_eq!(info.len(), 64_004);
        let c = ChallengeMessage::decode(&build_challenge(0xE28A_8235, &[], &info)).expect("big");
        assert_eq!(c.target_info.expect("info").pairs.len(), MAX_AV_PAIRS);
    }

    #[test]
    fn huge_lengths_and_version_flag_without_room() {
        let mut m = build_challenge(0xE28A_8235, &[], &EOL);
        m[40..42].copy_from_slice(&u16::MAX.to_le_bytes());
        m[44..48].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            ChallengeMessage::decode(&m),
            Err(NtlmError::FieldOutOfBounds { .. })
        ));
        // 48-byte message: NEGOTIATE_VERSION set but no VERSION bytes.
        let mut m = build_challenge(NegotiateFlags::VERSION, &[], &[]);
        m.truncate(48);
        let c = ChallengeMessage::decode(&m).expect("short");
        assert_eq!(c.version, None);
        assert!(c.warnings[0].contains("no room for VERSION"));
    }

    #[test]
    fn flags_keep_unknown_bits() {
        let f = NegotiateFlags(0x0000_0008 | NegotiateFlags::UNICODE | 0x0400_0000);
        assert_eq!(
            f.names(),
            vec!["NEGOTIATE_UNICODE", "0x00000008", "0x04000000"]
        );
    }

    #[test]
    fn filetime_conversion() {
        assert_eq!(FileTime(116_444_736_000_000_000).to_unix_seconds(), 0);
        assert_eq!(FileTime(0).to_unix_seconds(), -11_644_473_600);
        assert_eq!(
            FileTime(u64::MAX).to_unix_seconds(),
            1_844_674_407_370 - 11_644_473_600
        );
    }

    #[test]
    fn random_mutations_never_panic() {
        let token = server_2019_challenge();
        for i in 0..token.len() {
            for v in [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff] {
                let mut m = token.clone();
                m[i] = v;
                let _ = ChallengeMessage::decode(&m);
                let _ = TargetInfo::parse(&m);
                let _ = utf16le_escaped(&m[i..]);
            }
        }
    }
}
