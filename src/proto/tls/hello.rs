//! The hand-built ClientHello (RFC 5246 7.4.1.2, RFC 8446 4.1.2) for one maximum version.

use super::*;

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
