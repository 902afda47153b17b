//! Decoding the MCS Connect Response (MS-RDPBCGR 2.2.1.4) leniently: what can be read is
//! kept, what is odd is recorded as an anomaly.

use super::*;

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
