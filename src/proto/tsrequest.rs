//! CredSSP `TSRequest` (MS-CSSP 2.2.1): a small, bounded, sans-IO DER codec.
//!
//! ```text
//! TSRequest ::= SEQUENCE {
//!   version     [0] INTEGER,
//!   negoTokens  [1] NegoData OPTIONAL,       -- SEQUENCE OF SEQUENCE { negoToken [0] OCTET STRING }
//!   authInfo    [2] OCTET STRING OPTIONAL,
//!   pubKeyAuth  [3] OCTET STRING OPTIONAL,
//!   errorCode   [4] INTEGER OPTIONAL,        -- NTSTATUS, versions 3, 4 and 6
//!   clientNonce [5] OCTET STRING OPTIONAL    -- versions 5 and 6
//! }
//! ```
//!
//! Decoding is built on `asn1-rs` (the DER layer under `x509-parser`, already in the tree):
//! definite lengths only (X.690 10.1), at most [`MAX_TS_REQUEST_LEN`] bytes, and a fixed
//! structural depth (the decoder never descends into elements it does not know; unknown context
//! tags are skipped and listed in [`TsRequest::skipped`]). The framing helper [`frame_len`] lets a
//! driver read exactly one `TSRequest` from a stream with a cap.

use asn1_rs::{Any, Class, FromDer, Header, Length, Tag, ToDer};
use thiserror::Error;

/// Largest `TSRequest` accepted, in bytes (whole TLV). Real first-leg replies are a few hundred
/// bytes (Windows Server 2019: 221); 64 KiB leaves room for Kerberos/SPNEGO tokens.
pub const MAX_TS_REQUEST_LEN: usize = 64 * 1024;

/// Most `negoTokens` entries kept; the spec sends exactly one.
pub const MAX_NEGO_TOKENS: usize = 16;

/// Most skipped (unknown) elements recorded in [`TsRequest::skipped`].
const MAX_SKIPPED: usize = 16;

/// What went wrong decoding or framing a `TSRequest`. Every variant names the element.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TsRequestError {
    #[error("TSRequest of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("{field}: truncated (message ends inside it)")]
    Truncated { field: &'static str },
    #[error("{field}: indefinite length is not allowed in DER")]
    IndefiniteLength { field: &'static str },
    #[error("{field}: expected {expected}, found {found}")]
    UnexpectedTag {
        field: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("{field}: {detail}")]
    Der { field: &'static str, detail: String },
    #[error("{field}: integer {detail}")]
    Integer { field: &'static str, detail: String },
    #[error("{field}: present twice")]
    Duplicate { field: &'static str },
    #[error("TSRequest has no version field ([0])")]
    MissingVersion,
    #[error("negoTokens: more than {max} tokens")]
    TooManyTokens { max: usize },
    #[error("{len} unexpected bytes after the TSRequest")]
    TrailingBytes { len: usize },
    #[error("TSRequest: invalid length encoding (first length byte 0x{first:02x})")]
    BadLength { first: u8 },
    #[error("encoding TSRequest: {0}")]
    Encode(String),
}

/// An NTSTATUS (MS-ERREF 2.3) as carried in `TSRequest.errorCode`; unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NtStatus(pub u32);

impl NtStatus {
    /// The symbolic name of well-known values seen in CredSSP/NLA failures (MS-ERREF 2.3.1 for
    /// `STATUS_*`, 2.1 for the `SEC_E_*` HRESULTs some implementations put here instead).
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0000_0000 => "STATUS_SUCCESS",
            0xC000_000D => "STATUS_INVALID_PARAMETER",
            0xC000_0016 => "STATUS_MORE_PROCESSING_REQUIRED",
            0xC000_0022 => "STATUS_ACCESS_DENIED",
            0xC000_005E => "STATUS_NO_LOGON_SERVERS",
            0xC000_0064 => "STATUS_NO_SUCH_USER",
            0xC000_006A => "STATUS_WRONG_PASSWORD",
            0xC000_006D => "STATUS_LOGON_FAILURE",
            0xC000_006E => "STATUS_ACCOUNT_RESTRICTION",
            0xC000_006F => "STATUS_INVALID_LOGON_HOURS",
            0xC000_0070 => "STATUS_INVALID_WORKSTATION",
            0xC000_0071 => "STATUS_PASSWORD_EXPIRED",
            0xC000_0072 => "STATUS_ACCOUNT_DISABLED",
            0xC000_00BB => "STATUS_NOT_SUPPORTED",
            0xC000_0133 => "STATUS_TIME_DIFFERENCE_AT_DC",
            0xC000_015B => "STATUS_LOGON_TYPE_NOT_GRANTED",
            0xC000_0193 => "STATUS_ACCOUNT_EXPIRED",
            0xC000_0224 => "STATUS_PASSWORD_MUST_CHANGE",
            0xC000_0234 => "STATUS_ACCOUNT_LOCKED_OUT",
            0xC000_0388 => "STATUS_DOWNGRADE_DETECTED",
            0xC000_0413 => "STATUS_AUTHENTICATION_FIREWALL_FAILED",
            0x8009_0300 => "SEC_E_INSUFFICIENT_MEMORY",
            0x8009_0301 => "SEC_E_INVALID_HANDLE",
            0x8009_0302 => "SEC_E_UNSUPPORTED_FUNCTION",
            0x8009_0303 => "SEC_E_TARGET_UNKNOWN",
            0x8009_0304 => "SEC_E_INTERNAL_ERROR",
            0x8009_0308 => "SEC_E_INVALID_TOKEN",
            0x8009_030C => "SEC_E_LOGON_DENIED",
            0x8009_030D => "SEC_E_UNKNOWN_CREDENTIALS",
            0x8009_030E => "SEC_E_NO_CREDENTIALS",
            0x8009_030F => "SEC_E_MESSAGE_ALTERED",
            0x8009_0310 => "SEC_E_OUT_OF_SEQUENCE",
            0x8009_0311 => "SEC_E_NO_AUTHENTICATING_AUTHORITY",
            0x8009_0317 => "SEC_E_CONTEXT_EXPIRED",
            0x8009_0318 => "SEC_E_INCOMPLETE_MESSAGE",
            0x8009_0322 => "SEC_E_WRONG_PRINCIPAL",
            0x8009_0324 => "SEC_E_TIME_SKEW",
            0x8009_0331 => "SEC_E_ALGORITHM_MISMATCH",
            0x8009_0346 => "SEC_E_BAD_BINDINGS",
            _ => return None,
        })
    }
}

impl std::fmt::Display for NtStatus {
    /// `0xC000006D` (upper-case, eight digits), as Windows shows NTSTATUS values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{:08X}", self.0)
    }
}

/// A decoded `TSRequest` (MS-CSSP 2.2.1). Byte strings are copied out (the whole message is at
/// most [`MAX_TS_REQUEST_LEN`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TsRequest {
    /// `version [0]`: the sender's CredSSP protocol version.
    pub version: u32,
    /// `negoTokens [1]`: each `NegoDataItem.negoToken`, in order (usually one).
    pub nego_tokens: Vec<Vec<u8>>,
    /// `authInfo [2]` (encrypted TSCredentials; never present in a first-leg reply).
    pub auth_info: Option<Vec<u8>>,
    /// `pubKeyAuth [3]`.
    pub pub_key_auth: Option<Vec<u8>>,
    /// `errorCode [4]` (MS-CSSP 2.2.1: versions 3, 4 and 6).
    pub error_code: Option<NtStatus>,
    /// `clientNonce [5]` (versions 5 and 6).
    pub client_nonce: Option<Vec<u8>>,
    /// Elements the decoder skipped without looking inside (e.g. `[7]`), as `class/tag` text.
    pub skipped: Vec<String>,
}

impl TsRequest {
    /// A client's first `TSRequest`: `{ version, negoTokens = [token] }` (MS-CSSP 3.1.5).
    pub fn client_first(version: u32, token: Vec<u8>) -> Self {
        Self {
            version,
            nego_tokens: vec![token],
            ..Self::default()
        }
    }

    /// DER-encodes the fields this crate ever sends: `version`, `negoTokens`, `clientNonce`.
    /// The scanner never sends `authInfo` or `pubKeyAuth`; they are encoded too (for tests that
    /// build server replies), as is `errorCode`.
    pub fn encode(&self) -> Result<Vec<u8>, TsRequestError> {
        let mut body = Vec::new();
        body.extend(explicit(0, &der(&self.version)?)?);
        if !self.nego_tokens.is_empty() {
            let mut items = Vec::new();
            for token in &self.nego_tokens {
                let item = explicit(0, &der(&token.as_slice())?)?;
                items.extend(constructed(Class::Universal, Tag::Sequence, &item)?);
            }
            let nego_data = constructed(Class::Universal, Tag::Sequence, &items)?;
            body.extend(explicit(1, &nego_data)?);
        }
        if let Some(auth_info) = &self.auth_info {
            body.extend(explicit(2, &der(&auth_info.as_slice())?)?);
        }
        if let Some(pub_key_auth) = &self.pub_key_auth {
            body.extend(explicit(3, &der(&pub_key_auth.as_slice())?)?);
        }
        if let Some(code) = self.error_code {
            // INTEGER: NTSTATUS values are 32-bit; write them as the two's-complement i32 Windows
            // uses, so 0xC000006D becomes `02 04 c0 00 00 6d`.
            let signed = i32::from_be_bytes(code.0.to_be_bytes());
            body.extend(explicit(4, &der(&signed)?)?);
        }
        if let Some(nonce) = &self.client_nonce {
            body.extend(explicit(5, &der(&nonce.as_slice())?)?);
        }
        let out = constructed(Class::Universal, Tag::Sequence, &body)?;
        if out.len() > MAX_TS_REQUEST_LEN {
            return Err(TsRequestError::TooLarge {
                len: out.len(),
                max: MAX_TS_REQUEST_LEN,
            });
        }
        Ok(out)
    }

    /// Decodes exactly one `TSRequest` occupying all of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, TsRequestError> {
        if bytes.len() > MAX_TS_REQUEST_LEN {
            return Err(TsRequestError::TooLarge {
                len: bytes.len(),
                max: MAX_TS_REQUEST_LEN,
            });
        }
        let (rest, top) = parse_any(bytes, "TSRequest")?;
        if !rest.is_empty() {
            return Err(TsRequestError::TrailingBytes { len: rest.len() });
        }
        expect_universal(&top, Tag::Sequence, true, "TSRequest", "SEQUENCE")?;

        let mut out = TsRequest::default();
        let mut version = None;
        let mut input = top.data;
        while !input.is_empty() {
            let (rest, field) = parse_any(input, "TSRequest field")?;
            input = rest;
            let number = field.header.tag().0;
            if field.header.class() != Class::ContextSpecific
                || !field.header.is_constructed()
                || number > 5
            {
                if out.skipped.len() < MAX_SKIPPED {
                    out.skipped.push(describe(&field.header));
                }
                continue;
            }
            match number {
                0 => {
                    if version.is_some() {
                        return Err(TsRequestError::Duplicate {
                            field: "version [0]",
                        });
                    }
                    let value = inner_integer(field.data, "version [0]")?;
                    let v = u32::try_from(value).map_err(|_| TsRequestError::Integer {
                        field: "version [0]",
                        detail: format!("{value} is not a valid version"),
                    })?;
                    version = Some(v);
                }
                1 => {
                    if !out.nego_tokens.is_empty() {
                        return Err(TsRequestError::Duplicate {
                            field: "negoTokens [1]",
                        });
                    }
                    out.nego_tokens = decode_nego_data(field.data)?;
                }
                2 => set_once(
                    &mut out.auth_info,
                    inner_octets(field.data, "authInfo [2]")?,
                    "authInfo [2]",
                )?,
                3 => set_once(
                    &mut out.pub_key_auth,
                    inner_octets(field.data, "pubKeyAuth [3]")?,
                    "pubKeyAuth [3]",
                )?,
                4 => {
                    let value = inner_integer(field.data, "errorCode [4]")?;
                    // NTSTATUS is a 32-bit value; accept both the negative i32 form Windows
                    // writes and the positive 5-byte form some encoders produce.
                    let code = if let Ok(v) = u32::try_from(value) {
                        v
                    } else if let Ok(v) = i32::try_from(value) {
                        u32::from_be_bytes(v.to_be_bytes())
                    } else {
                        return Err(TsRequestError::Integer {
                            field: "errorCode [4]",
                            detail: format!("{value} does not fit an NTSTATUS"),
                        });
                    };
                    set_once(&mut out.error_code, NtStatus(code), "errorCode [4]")?;
                }
                _ => set_once(
                    &mut out.client_nonce,
                    inner_octets(field.data, "clientNonce [5]")?,
                    "clientNonce [5]",
                )?,
            }
        }
        out.version = version.ok_or(TsRequestError::MissingVersion)?;
        Ok(out)
    }
}

/// Result of [`frame_len`]: how much of a stream belongs to the first DER TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// At least this many more bytes are needed before the length is known or the TLV complete.
    NeedMore(usize),
    /// The first TLV (header and content) is this many bytes long, and all of it is present.
    Complete(usize),
}

/// Framing for a stream that carries one `TSRequest` (a DER `SEQUENCE`): given the bytes received
/// so far, says how many more are needed, or how long the first TLV is. Rejects anything that is
/// not a universal constructed `SEQUENCE`, indefinite lengths, and lengths over `max`.
pub fn frame_len(prefix: &[u8], max: usize) -> Result<Frame, TsRequestError> {
    let Some(&tag) = prefix.first() else {
        return Ok(Frame::NeedMore(2));
    };
    if tag != 0x30 {
        return Err(TsRequestError::UnexpectedTag {
            field: "TSRequest",
            expected: "SEQUENCE (0x30)",
            found: format!("identifier octet 0x{tag:02x}"),
        });
    }
    let Some(&first) = prefix.get(1) else {
        return Ok(Frame::NeedMore(1));
    };
    let (header_len, content_len) = if first < 0x80 {
        (2usize, usize::from(first))
    } else if first == 0x80 {
        return Err(TsRequestError::IndefiniteLength { field: "TSRequest" });
    } else {
        let count = usize::from(first & 0x7f);
        // Four length octets already describe 4 GiB; anything longer is hostile or broken.
        if count > 4 {
            return Err(TsRequestError::BadLength { first });
        }
        let Some(octets) = prefix.get(2..2 + count) else {
            return Ok(Frame::NeedMore(2 + count - prefix.len()));
        };
        let len = octets
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (2 + count, len)
    };
    let total = header_len.saturating_add(content_len);
    if total > max {
        return Err(TsRequestError::TooLarge { len: total, max });
    }
    if prefix.len() >= total {
        Ok(Frame::Complete(total))
    } else {
        Ok(Frame::NeedMore(total - prefix.len()))
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, field: &'static str) -> Result<(), TsRequestError> {
    if slot.is_some() {
        return Err(TsRequestError::Duplicate { field });
    }
    *slot = Some(value);
    Ok(())
}

/// One DER element, with asn1-rs errors mapped to ours (naming `field`).
fn parse_any<'a>(
    input: &'a [u8],
    field: &'static str,
) -> Result<(&'a [u8], Any<'a>), TsRequestError> {
    Any::from_der(input).map_err(|e| match e {
        asn1_rs::Err::Incomplete(_) => TsRequestError::Truncated { field },
        asn1_rs::Err::Error(err) | asn1_rs::Err::Failure(err) => match err {
            asn1_rs::Error::DerConstraintFailed(asn1_rs::DerConstraint::IndefiniteLength)
            | asn1_rs::Error::IndefiniteLengthUnexpected => {
                TsRequestError::IndefiniteLength { field }
            }
            other => TsRequestError::Der {
                field,
                detail: other.to_string(),
            },
        },
    })
}

fn describe(header: &Header<'_>) -> String {
    let class = match header.class() {
        Class::Universal => "universal",
        Class::Application => "application",
        Class::ContextSpecific => "context",
        Class::Private => "private",
    };
    let form = if header.is_constructed() {
        "constructed"
    } else {
        "primitive"
    };
    format!("{class} [{}] {form}", header.tag().0)
}

fn expect_universal(
    any: &Any<'_>,
    tag: Tag,
    constructed: bool,
    field: &'static str,
    expected: &'static str,
) -> Result<(), TsRequestError> {
    let h = &any.header;
    if h.class() != Class::Universal || h.tag() != tag || h.is_constructed() != constructed {
        return Err(TsRequestError::UnexpectedTag {
            field,
            expected,
            found: describe(h),
        });
    }
    Ok(())
}

/// The single element inside an explicit `[n]` wrapper; bytes after it are an error.
fn single_inner<'a>(data: &'a [u8], field: &'static str) -> Result<Any<'a>, TsRequestError> {
    let (rest, inner) = parse_any(data, field)?;
    if !rest.is_empty() {
        return Err(TsRequestError::Der {
            field,
            detail: format!("{} unexpected bytes after the value", rest.len()),
        });
    }
    Ok(inner)
}

fn inner_integer(data: &[u8], field: &'static str) -> Result<i64, TsRequestError> {
    let inner = single_inner(data, field)?;
    expect_universal(&inner, Tag::Integer, false, field, "INTEGER")?;
    if inner.data.is_empty() {
        return Err(TsRequestError::Integer {
            field,
            detail: "has no content octets".to_owned(),
        });
    }
    i64::try_from(&inner).map_err(|e| TsRequestError::Integer {
        field,
        detail: e.to_string(),
    })
}

fn inner_octets(data: &[u8], field: &'static str) -> Result<Vec<u8>, TsRequestError> {
    let inner = single_inner(data, field)?;
    expect_universal(&inner, Tag::OctetString, false, field, "OCTET STRING")?;
    Ok(inner.data.to_vec())
}

/// `NegoData ::= SEQUENCE OF NegoDataItem`, `NegoDataItem ::= SEQUENCE { negoToken [0] OCTET STRING }`.
fn decode_nego_data(data: &[u8]) -> Result<Vec<Vec<u8>>, TsRequestError> {
    const FIELD: &str = "negoTokens [1]";
    let seq = single_inner(data, FIELD)?;
    expect_universal(&seq, Tag::Sequence, true, FIELD, "SEQUENCE OF NegoDataItem")?;
    let mut tokens = Vec::new();
    let mut input = seq.data;
    while !input.is_empty() {
        if tokens.len() >= MAX_NEGO_TOKENS {
            return Err(TsRequestError::TooManyTokens {
                max: MAX_NEGO_TOKENS,
            });
        }
        let (rest, item) = parse_any(input, "NegoDataItem")?;
        input = rest;
        expect_universal(&item, Tag::Sequence, true, "NegoDataItem", "SEQUENCE")?;
        let mut token = None;
        let mut fields = item.data;
        while !fields.is_empty() {
            let (rest, field) = parse_any(fields, "NegoDataItem field")?;
            fields = rest;
            if field.header.class() == Class::ContextSpecific
                && field.header.tag().0 == 0
                && field.header.is_constructed()
            {
                set_once(
                    &mut token,
                    inner_octets(field.data, "negoToken [0]")?,
                    "negoToken [0]",
                )?;
            }
        }
        let token = token.ok_or_else(|| TsRequestError::Der {
            field: "NegoDataItem",
            detail: "no negoToken [0]".to_owned(),
        })?;
        tokens.push(token);
    }
    Ok(tokens)
}

fn der<T: ToDer>(value: &T) -> Result<Vec<u8>, TsRequestError> {
    value
        .to_der_vec()
        .map_err(|e| TsRequestError::Encode(e.to_string()))
}

fn constructed(class: Class, tag: Tag, content: &[u8]) -> Result<Vec<u8>, TsRequestError> {
    let header = Header::new(class, true, tag, Length::Definite(content.len()));
    let mut out = der(&header)?;
    out.extend_from_slice(content);
    Ok(out)
}

fn explicit(number: u32, content: &[u8]) -> Result<Vec<u8>, TsRequestError> {
    constructed(Class::ContextSpecific, Tag(number), content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::hex;

    const SERVER_2019: &str =
        include_str!("../../fixtures/windows-server-2019-tsrequest-challenge.hex");
    const CLIENT_WIN10: &str =
        include_str!("../../fixtures/windows-10-client-tsrequest-negotiate.hex");

    #[test]
    fn decodes_windows_server_2019_reply() {
        let bytes = hex(SERVER_2019);
        let req = TsRequest::decode(&bytes).expect("decode");
        assert_eq!(req.version, 6);
        assert_eq!(req.nego_tokens.len(), 1);
        assert_eq!(req.nego_tokens[0].len(), 0xc6);
        assert!(req.nego_tokens[0].starts_with(b"NTLMSSP\0\x02\0\0\0"));
        assert_eq!(req.error_code, None);
        assert_eq!(req.auth_info, None);
        assert_eq!(req.pub_key_auth, None);
        assert_eq!(req.client_nonce, None);
        assert!(req.skipped.is_empty());
        assert_eq!(
            frame_len(&bytes, MAX_TS_REQUEST_LEN),
            Ok(Frame::Complete(bytes.len()))
        );
    }

    #[test]
    fn windows_10_client_request_round_trips() {
        let bytes = hex(CLIENT_WIN10);
        let req = TsRequest::decode(&bytes).expect("decode");
        assert_eq!(req.version, 6);
        assert_eq!(req.nego_tokens.len(), 1);
        assert!(req.nego_tokens[0].starts_with(b"NTLMSSP\0\x01\0\0\0"));
        // Our encoder produces byte-identical DER for the same content.
        assert_eq!(
            TsRequest::client_first(6, req.nego_tokens[0].clone())
                .encode()
                .expect("encode"),
            bytes
        );
    }

    #[test]
    fn every_truncated_prefix_is_an_error_and_frames_as_need_more() {
        for fixture in [SERVER_2019, CLIENT_WIN10] {
            let bytes = hex(fixture);
            for n in 0..bytes.len() {
                let prefix = &bytes[..n];
                assert!(TsRequest::decode(prefix).is_err(), "prefix {n} decoded");
                match frame_len(prefix, MAX_TS_REQUEST_LEN) {
                    Ok(Frame::NeedMore(k)) => {
                        assert!(k >= 1 && n + k <= bytes.len(), "prefix {n}: need {k}")
                    }
                    other => panic!("prefix {n}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn synthetic_versions_2_to_6_with_optional_fields() {
        for version in 2..=6u32 {
            let mut req = TsRequest::client_first(version, b"NTLMSSP\0token".to_vec());
            if version >= 3 && version != 5 {
                req.error_code = Some(NtStatus(0xC000_006D));
            }
            if version >= 5 {
                req.client_nonce = Some(vec![0xAB; 32]);
            }
            req.pub_key_auth = Some(vec![1, 2, 3]);
            req.auth_info = Some(vec![4]);
            let bytes = req.encode().expect("encode");
            let back = TsRequest::decode(&bytes).expect("decode");
            assert_eq!(back, req, "version {version}");
        }
    }

    #[test]
    fn error_code_in_both_integer_forms() {
        // 02 04 c0 00 00 6d (negative i32, as Windows writes it)
        let neg = hex("30 0d a0 03 02 01 03 a4 06 02 04 c0 00 00 6d");
        assert_eq!(
            TsRequest::decode(&neg).expect("neg").error_code,
            Some(NtStatus(0xC000_006D))
        );
        // 02 05 00 c0 00 00 6d (positive, five octets)
        let pos = hex("30 0e a0 03 02 01 03 a4 07 02 05 00 c0 00 00 6d");
        let req = TsRequest::decode(&pos).expect("pos");
        assert_eq!(req.error_code, Some(NtStatus(0xC000_006D)));
        assert_eq!(req.nego_tokens.len(), 0);
        assert_eq!(
            req.error_code.map(|c| c.to_string()).as_deref(),
            Some("0xC000006D")
        );
        assert_eq!(NtStatus(0xC000_006D).name(), Some("STATUS_LOGON_FAILURE"));
        assert_eq!(NtStatus(0x1234_5678).name(), None);
        // Too large for 32 bits.
        let big = hex("30 0f a0 03 02 01 03 a4 08 02 06 01 00 00 00 00 00");
        assert!(matches!(
            TsRequest::decode(&big),
            Err(TsRequestError::Integer {
                field: "errorCode [4]",
                ..
            })
        ));
    }

    #[test]
    fn unknown_context_tags_and_universal_elements_are_skipped() {
        // version 6, [7] { NULL }, a stray INTEGER, then [4] errorCode.
        let bytes = hex("30 15 a0 03 02 01 06 a7 02 05 00 02 01 05 bf 1f 01 00 a4 03 02 01 00");
        let req = TsRequest::decode(&bytes).expect("decode");
        assert_eq!(req.version, 6);
        assert_eq!(req.error_code, Some(NtStatus(0)));
        assert_eq!(
            req.skipped,
            vec![
                "context [7] constructed",
                "universal [2] primitive",
                "context [31] constructed"
            ]
        );
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("02 01 06", "not a SEQUENCE"),
            ("30 00", "no version"),
            ("30 05 a0 03 02 01 06 00", "trailing byte"),
            ("30 80 a0 03 02 01 06 00 00", "indefinite top level"),
            ("30 07 a0 80 02 01 06 00 00", "indefinite inner"),
            ("30 05 a0 03 04 01 06", "version not an INTEGER"),
            ("30 05 a0 03 02 01 ff", "negative version"),
            ("30 04 a0 02 02 00", "empty INTEGER"),
            ("30 0a a0 03 02 01 06 a0 03 02 01 06", "duplicate version"),
            ("30 06 a0 04 02 01 06 00", "bytes after version value"),
            ("30 84 ff ff ff ff a0", "length past end"),
            (
                "30 89 01 00 00 00 00 00 00 00 00",
                "absurd length of length",
            ),
            (
                "30 0a a0 03 02 01 06 a1 03 04 01 00",
                "negoTokens not a SEQUENCE",
            ),
            (
                "30 0b a0 03 02 01 06 a1 04 30 02 30 00",
                "NegoDataItem without token",
            ),
            (
                "30 0c a0 03 02 01 06 a2 05 02 03 01 02 03",
                "authInfo not OCTET STRING",
            ),
        ];
        for (text, what) in cases {
            let bytes = hex(text);
            assert!(TsRequest::decode(&bytes).is_err(), "{what} decoded");
        }
    }

    #[test]
    fn too_large_and_too_many_tokens() {
        let big = vec![0u8; MAX_TS_REQUEST_LEN + 1];
        assert!(matches!(
            TsRequest::decode(&big),
            Err(TsRequestError::TooLarge { .. })
        ));
        assert!(matches!(
            frame_len(&hex("30 83 01 00 01"), MAX_TS_REQUEST_LEN),
            Err(TsRequestError::TooLarge { len: 65542, .. })
        ));
        let mut req = TsRequest::client_first(6, vec![1]);
        req.nego_tokens = vec![vec![1]; MAX_NEGO_TOKENS + 1];
        let bytes = req.encode().expect("encode");
        assert_eq!(
            TsRequest::decode(&bytes),
            Err(TsRequestError::TooManyTokens {
                max: MAX_NEGO_TOKENS
            })
        );
    }

    #[test]
    fn frame_len_cases() {
        assert_eq!(frame_len(&[], 100), Ok(Frame::NeedMore(2)));
        assert_eq!(frame_len(&[0x30], 100), Ok(Frame::NeedMore(1)));
        assert_eq!(frame_len(&[0x30, 0x82, 0x00], 1000), Ok(Frame::NeedMore(1)));
        assert_eq!(
            frame_len(&[0x30, 0x82, 0x00, 0x10], 1000),
            Ok(Frame::NeedMore(16))
        );
        assert_eq!(frame_len(&[0x30, 0x00, 0xff], 100), Ok(Frame::Complete(2)));
        assert_eq!(
            frame_len(&[0x30, 0x80], 100),
            Err(TsRequestError::IndefiniteLength { field: "TSRequest" })
        );
        assert_eq!(
            frame_len(&[0x30, 0x85], 100),
            Err(TsRequestError::BadLength { first: 0x85 })
        );
        assert!(matches!(
            frame_len(&[0x15, 0x03], 100),
            Err(TsRequestError::UnexpectedTag { .. })
        ));
        assert!(matches!(
            frame_len(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff], usize::MAX),
            Ok(Frame::NeedMore(_))
        ));
        assert!(matches!(
            frame_len(&[0x30, 0x64], 50),
            Err(TsRequestError::TooLarge { len: 102, max: 50 })
        ));
    }

    #[test]
    fn deeply_nested_unknown_elements_do_not_recurse_or_panic() {
        // [6] containing 10 000 nested SEQUENCEs (definite lengths), then the version.
        let mut inner: Vec<u8> = vec![0x05, 0x00];
        for _ in 0..10_000 {
            let mut wrapped = der(&Header::new(
                Class::Universal,
                true,
                Tag::Sequence,
                Length::Definite(inner.len()),
            ))
            .expect("hdr");
            wrapped.extend(inner);
            inner = wrapped;
            if inner.len() > 60_000 {
                break;
            }
        }
        let mut body = explicit(6, &inner).expect("explicit");
        body.extend(explicit(0, &der(&6u32).expect("int")).expect("explicit"));
        let bytes = constructed(Class::Universal, Tag::Sequence, &body).expect("seq");
        let req = TsRequest::decode(&bytes).expect("decode");
        assert_eq!(req.version, 6);
        assert_eq!(req.skipped, vec!["context [6] constructed"]);

        // Deep nesting with indefinite lengths anywhere is rejected (DER only).
        let mut indefinite = vec![0x30, 0x80];
        for _ in 0..1000 {
            indefinite.extend([0x30, 0x80]);
        }
        assert!(TsRequest::decode(&indefinite).is_err());
        assert!(frame_len(&indefinite, MAX_TS_REQUEST_LEN).is_err());
    }

    #[test]
    fn every_byte_flip_of_the_real_reply_never_panics() {
        let bytes = hex(SERVER_2019);
        for i in 0..bytes.len() {
            for v in [0x00, 0x7f, 0x80, 0x81, 0x84, 0xff] {
                let mut m = bytes.clone();
                m[i] = v;
                let _ = TsRequest::decode(&m);
                let _ = frame_len(&m, MAX_TS_REQUEST_LEN);
            }
        }
    }
}
