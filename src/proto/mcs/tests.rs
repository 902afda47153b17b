use std::borrow::Cow;

use ironrdp_core::decode;
use ironrdp_pdu::gcc::{self, ServerGccBlocks};
use ironrdp_pdu::mcs as irmcs;
use ironrdp_pdu::x224::{X224, X224Data};

use super::*;
use crate::test_fixtures::hex as unhex;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Wraps MCS bytes in TPKT + X.224 Data.
fn wrap(mcs: &[u8]) -> Vec<u8> {
    ironrdp_core::encode_vec(&X224(X224Data {
        data: Cow::Borrowed(mcs),
    }))
    .expect("wrap")
}

/// The MCS payload of a TPKT + X.224 Data packet.
fn payload(packet: &[u8]) -> Vec<u8> {
    let x224 = decode::<X224<X224Data<'_>>>(packet).expect("X.224 Data");
    x224.0.data.into_owned()
}

/// A server data block: type, length, body (MS-RDPBCGR 2.2.1.4.1).
fn block(block_type: u16, body: &[u8]) -> Vec<u8> {
    let mut out = block_type.to_le_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// A Connect Response around `blocks`, hand-assembled from the layout of MS-RDPBCGR 4.1.4
/// (BER Connect-Response, PER ConferenceCreateResponse), with MCS `result`.
fn response(result: u8, blocks: &[u8]) -> Vec<u8> {
    let mut gcc = vec![0x00, 0x05, 0x00, 0x14, 0x7c, 0x00, 0x01];
    let mut ccr = vec![0x14, 0x76, 0x0a, 0x01, 0x01, 0x00, 0x01, 0xc0, 0x00];
    ccr.extend_from_slice(b"McDn");
    per_len(&mut ccr, blocks.len());
    ccr.extend_from_slice(blocks);
    per_len(&mut gcc, ccr.len());
    gcc.extend_from_slice(&ccr);

    let mut body = vec![0x0a, 0x01, result, 0x02, 0x01, 0x00];
    // domainParameters as Windows sends them (22, 3, 0, 1, 0, 1, 65528, 2).
    body.extend_from_slice(&unhex(
        "30 1a 02 01 22 02 01 03 02 01 00 02 01 01 02 01 00 02 01 01 02 03 00 ff f8 02 01 02",
    ));
    body.push(0x04);
    ber_len(&mut body, gcc.len());
    body.extend_from_slice(&gcc);
    let mut mcs = vec![0x7f, 0x66];
    ber_len(&mut mcs, body.len());
    mcs.extend_from_slice(&body);
    wrap(&mcs)
}

fn per_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap());
    } else {
        out.extend_from_slice(&(u16::try_from(len).unwrap() | 0x8000).to_be_bytes());
    }
}

fn ber_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap());
    } else {
        out.push(0x82);
        out.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
    }
}

fn core_block(version: u32, requested: u32, flags: u32) -> Vec<u8> {
    let mut body = version.to_le_bytes().to_vec();
    body.extend_from_slice(&requested.to_le_bytes());
    body.extend_from_slice(&flags.to_le_bytes());
    block(SC_CORE, &body)
}

fn net_block(io: u16, ids: &[u16]) -> Vec<u8> {
    let mut body = io.to_le_bytes().to_vec();
    body.extend_from_slice(&u16::try_from(ids.len()).unwrap().to_le_bytes());
    for id in ids {
        body.extend_from_slice(&id.to_le_bytes());
    }
    if ids.len() % 2 == 1 {
        body.extend_from_slice(&[0, 0]);
    }
    block(SC_NET, &body)
}

/// A proprietary certificate with a `bits`-bit modulus of 0xff bytes (top byte 0x80) and a
/// 72-byte signature blob.
fn proprietary(bits: u32) -> Vec<u8> {
    let modulus_len = usize::try_from(bits / 8).unwrap();
    let mut key = RSA1_MAGIC.to_le_bytes().to_vec();
    key.extend_from_slice(&u32::try_from(modulus_len + 8).unwrap().to_le_bytes());
    key.extend_from_slice(&bits.to_le_bytes());
    key.extend_from_slice(&(bits / 8 - 1).to_le_bytes());
    key.extend_from_slice(&65537u32.to_le_bytes());
    let mut modulus = vec![0xffu8; modulus_len];
    modulus[modulus_len - 1] = 0x80;
    key.extend_from_slice(&modulus);
    key.extend_from_slice(&[0; 8]);

    let mut cert = 1u32.to_le_bytes().to_vec();
    cert.extend_from_slice(&1u32.to_le_bytes());
    cert.extend_from_slice(&1u32.to_le_bytes());
    cert.extend_from_slice(&BB_RSA_KEY_BLOB.to_le_bytes());
    cert.extend_from_slice(&u16::try_from(key.len()).unwrap().to_le_bytes());
    cert.extend_from_slice(&key);
    cert.extend_from_slice(&BB_RSA_SIGNATURE_BLOB.to_le_bytes());
    cert.extend_from_slice(&72u16.to_le_bytes());
    cert.extend_from_slice(&[0x5a; 72]);
    cert
}

fn security_block(method: u32, level: u32, cert: &[u8]) -> Vec<u8> {
    let mut body = method.to_le_bytes().to_vec();
    body.extend_from_slice(&level.to_le_bytes());
    if method != 0 || level != 0 {
        body.extend_from_slice(&32u32.to_le_bytes());
        body.extend_from_slice(&u32::try_from(cert.len()).unwrap().to_le_bytes());
        body.extend_from_slice(&[0x42; 32]);
        body.extend_from_slice(cert);
    }
    block(SC_SECURITY, &body)
}

/// DER of a PEM certificate in `fixtures/tls/` (real openssl-made certificates).
fn der(pem: &str) -> Vec<u8> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
    pem.contents
}

/// Decodes with IronRDP's own decoder (X.224 Data, then `mcs::ConnectResponse`).
fn ironrdp_decode(packet: &[u8]) -> Result<irmcs::ConnectResponse, String> {
    let data = payload(packet);
    decode::<irmcs::ConnectResponse>(&data).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Real captures (fixtures/mcs/README.md)

/// Every capture in `fixtures/mcs/`, with the facts it must decode to: name, bytes, version,
/// level, method, clientRequestedProtocols, earlyCapabilityFlags, proprietary key bits.
struct Capture {
    name: &'static str,
    hex: &'static str,
    level: EncryptionLevel,
    method: EncryptionMethods,
    requested: Protocols,
    early_flags: Option<u32>,
    key_bits: Option<u32>,
}

macro_rules! capture {
    ($name:literal, $level:expr, $method:expr, $requested:expr, $early:expr, $bits:expr) => {
        Capture {
            name: $name,
            hex: include_str!(concat!("../../../fixtures/mcs/", $name, ".hex")),
            level: $level,
            method: $method,
            requested: $requested,
            early_flags: $early,
            key_bits: $bits,
        }
    };
}

fn captures() -> Vec<Capture> {
    use EncryptionLevel as L;
    use EncryptionMethods as M;
    vec![
        capture!(
            "xrdp-rdp-low",
            L::LOW,
            M::BIT_40,
            Protocols::RDP,
            None,
            Some(2048)
        ),
        capture!(
            "xrdp-rdp-medium",
            L::CLIENT_COMPATIBLE,
            M::BIT_40,
            Protocols::RDP,
            None,
            Some(2048)
        ),
        capture!(
            "xrdp-rdp-high",
            L::HIGH,
            M::BIT_128,
            Protocols::RDP,
            None,
            Some(2048)
        ),
        capture!(
            "xrdp-rdp-fips",
            L::FIPS,
            M::FIPS,
            Protocols::RDP,
            None,
            Some(2048)
        ),
        capture!(
            "xrdp-negotiate-rdp",
            L::HIGH,
            M::BIT_128,
            Protocols::RDP,
            None,
            Some(2048)
        ),
        capture!(
            "xrdp-tls-inside",
            L::NONE,
            M::NONE,
            Protocols::SSL,
            None,
            None
        ),
        capture!(
            "shadow-rdp",
            L::CLIENT_COMPATIBLE,
            M::BIT_128,
            Protocols::RDP,
            Some(0),
            Some(2048)
        ),
        capture!(
            "shadow-default",
            L::CLIENT_COMPATIBLE,
            M::BIT_128,
            Protocols::RDP,
            Some(0),
            Some(2048)
        ),
        capture!(
            "shadow-rdp-from-127.0.0.1",
            L::NONE,
            M::NONE,
            Protocols::RDP,
            Some(0),
            None
        ),
        capture!(
            "shadow-tls",
            L::NONE,
            M::NONE,
            Protocols::SSL,
            Some(0),
            None
        ),
    ]
}

#[test]
fn real_captures_decode_to_their_facts() {
    for c in captures() {
        let bytes = unhex(c.hex);
        let name = c.name;
        assert_eq!(frame_len(&bytes), Ok(Some(bytes.len())), "{name}");
        let r = decode_connect_response(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.anomalies, Vec::<String>::new(), "{name}");
        assert_eq!(
            (r.result, r.conference_result),
            (McsResult::SUCCESSFUL, Some(0)),
            "{name}"
        );
        assert_eq!(r.version(), Some(ServerVersion::RDP_5_TO_8_1), "{name}");
        assert_eq!(r.encryption_level(), Some(c.level), "{name}");
        assert_eq!(r.encryption_method(), Some(c.method), "{name}");
        let core = r.core.unwrap();
        assert_eq!(core.client_requested_protocols, Some(c.requested), "{name}");
        assert_eq!(
            core.early_capability_flags.map(|f| f.0),
            c.early_flags,
            "{name}"
        );
        assert_eq!(
            r.network,
            Some(ServerNetwork {
                io_channel: 1003,
                channel_ids: vec![]
            }),
            "{name}"
        );
        assert!(
            r.unknown_blocks.is_empty() && r.message_channel_id.is_none(),
            "{name}"
        );
        let sec = r.security.as_ref().unwrap();
        match (c.key_bits, &sec.certificate) {
            (None, None) => assert_eq!(sec.server_random_len, None, "{name}"),
            (Some(bits), Some(ServerCertificate::Proprietary(cert))) => {
                assert_eq!(sec.server_random_len, Some(32), "{name}");
                assert_eq!((cert.version, cert.sig_alg_id, cert.key_alg_id), (1, 1, 1));
                let key = cert.public_key.unwrap();
                assert_eq!(
                    (key.bit_len, key.modulus_bits, key.public_exponent),
                    (bits, bits, 65537)
                );
                assert_eq!(cert.signature_len, 72, "{name}");
            }
            (want, got) => panic!("{name}: expected a {want:?}-bit key, got {got:?}"),
        }
        // IronRDP reads the same facts from these (it is not stricter than xrdp or FreeRDP).
        let theirs = ironrdp_decode(&bytes).unwrap_or_else(|e| panic!("{name}: IronRDP: {e}"));
        assert_same(&r, &theirs);
    }
}

#[test]
fn every_truncated_prefix_of_a_capture_is_incomplete_or_an_error() {
    for c in captures() {
        let bytes = unhex(c.hex);
        for n in 0..bytes.len() {
            let prefix = &bytes[..n];
            match frame_len(prefix) {
                Ok(None) => assert!(n < 4, "{}: {n}", c.name),
                Ok(Some(len)) => assert_eq!(len, bytes.len(), "{}: {n}", c.name),
                Err(e) => panic!("{}: prefix of {n} bytes: {e}", c.name),
            }
            assert_eq!(
                decode_connect_response(prefix),
                Err(McsError::Truncated {
                    announced: if n < 4 { 4 } else { bytes.len() },
                    got: n
                }),
                "{}: {n}",
                c.name
            );
        }
        // The same packet with a shorter TPKT length: a malformed inner length, or fewer
        // blocks, never a panic.
        for cut in 8..bytes.len() {
            let mut p = bytes[..cut].to_vec();
            p[2..4].copy_from_slice(&u16::try_from(cut).unwrap().to_be_bytes());
            match decode_connect_response(&p) {
                Ok(r) => assert!(
                    !r.anomalies.is_empty() || r.security.is_none(),
                    "{}: {cut}",
                    c.name
                ),
                Err(McsError::Malformed { .. }) => {}
                Err(e) => panic!("{}: cut to {cut}: unexpected {e}", c.name),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connect Initial

#[test]
fn connect_initial_layout() {
    let params = ConnectInitialParams::standard_rdp(EncryptionMethods::ALL);
    let bytes = connect_initial(&params).unwrap();
    // TPKT, X.224 Data with EOT, BER [APPLICATION 101].
    assert_eq!(&bytes[..9], &unhex("03 00 01 75 02 f0 80 7f 65")[..]);
    assert_eq!(
        usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
        bytes.len()
    );
    // The GCC client-to-server key, then the three blocks and nothing else: core (216 bytes,
    // ending with serverSelectedProtocol), security (methods, ext methods), network (no
    // channel).
    let duca = bytes.windows(4).position(|w| w == b"Duca").unwrap();
    let blocks = &bytes[duca + 4 + 2..];
    assert_eq!(&blocks[..4], &unhex("01 c0 d8 00")[..]);
    assert_eq!(
        &blocks[4..8],
        &unhex("04 00 08 00")[..],
        "version 0x00080004"
    );
    assert_eq!(
        &blocks[212..216],
        &unhex("00 00 00 00")[..],
        "serverSelectedProtocol"
    );
    assert_eq!(
        &blocks[216..],
        &unhex("02 c0 0c 00 1b 00 00 00 00 00 00 00 03 c0 08 00 00 00 00 00")[..]
    );
    // The client name is ours, not a machine's.
    let name: Vec<u8> = "rdpsweep"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert!(bytes.windows(name.len()).any(|w| w == name));
}

#[test]
fn connect_initial_round_trips_through_ironrdp() {
    for (selected, methods) in [
        (Protocols::RDP, EncryptionMethods::BIT_40),
        (Protocols::RDP, EncryptionMethods::FIPS),
        (Protocols::SSL, EncryptionMethods::NONE),
        (Protocols::HYBRID, EncryptionMethods(0x8000_0001)),
    ] {
        let bytes = connect_initial(&ConnectInitialParams {
            selected_protocol: selected,
            encryption_methods: methods,
        })
        .unwrap();
        let data = payload(&bytes);
        let initial = decode::<irmcs::ConnectInitial>(&data).expect("IronRDP reads it back");
        let blocks = initial.conference_create_request.gcc_blocks();
        assert_eq!(blocks.core.version, gcc::RdpVersion::V5_PLUS);
        assert_eq!(
            blocks
                .core
                .optional_data
                .server_selected_protocol
                .map(|p| p.bits()),
            Some(selected.0)
        );
        assert_eq!(blocks.security.encryption_methods.bits(), methods.0);
        assert_eq!(blocks.network.as_ref().map(|n| n.channels.len()), Some(0));
        assert_eq!(blocks.core.client_name, "rdpsweep");
    }
}

// ---------------------------------------------------------------------------------------------
// Framing

#[test]
fn framing_caps_the_length() {
    assert_eq!(frame_len(&[]), Ok(None));
    assert_eq!(frame_len(&[3, 0, 1]), Ok(None));
    assert_eq!(frame_len(b"HTTP/1.1 400"), Err(McsError::NotTpkt(b'H')));
    assert_eq!(frame_len(&[3, 0, 0, 7]), Err(McsError::BadLength(7)));
    assert_eq!(frame_len(&[3, 0, 0, 8]), Ok(Some(8)));
    assert_eq!(
        frame_len(&[3, 0, 0x40, 0x00]),
        Ok(Some(MAX_CONNECT_RESPONSE_LEN))
    );
    assert_eq!(
        frame_len(&[3, 0, 0x40, 0x01]),
        Err(McsError::BadLength(16385))
    );
    assert_eq!(
        frame_len(&[3, 0, 0xff, 0xff]),
        Err(McsError::BadLength(65535))
    );
}

// ---------------------------------------------------------------------------------------------
// Decoding built replies

#[test]
fn proprietary_certificate_reply() {
    let mut blocks = core_block(0x0008_000c, 0, 0x0000_000f);
    blocks.extend(net_block(1003, &[1004, 1005, 1006]));
    blocks.extend(security_block(0x02, 2, &proprietary(2048)));
    blocks.extend(block(SC_MCS_MSGCHANNEL, &1007u16.to_le_bytes()));
    blocks.extend(block(0x0c99, b"future"));
    let packet = response(0, &blocks);
    let r = decode_connect_response(&packet).unwrap();
    assert_eq!(r.anomalies, Vec::<String>::new());
    assert_eq!(r.result, McsResult::SUCCESSFUL);
    assert_eq!(r.conference_result, Some(0));
    assert_eq!(r.version(), Some(ServerVersion(0x0008_000c)));
    assert_eq!(r.version().unwrap().name(), "10.7");
    let core = r.core.unwrap();
    assert_eq!(core.client_requested_protocols, Some(Protocols::RDP));
    assert_eq!(
        core.early_capability_flags.unwrap().names(),
        [
            "edge_actions_v1",
            "dynamic_dst",
            "edge_actions_v2",
            "skip_channeljoin"
        ]
    );
    assert_eq!(
        r.network,
        Some(ServerNetwork {
            io_channel: 1003,
            channel_ids: vec![1004, 1005, 1006]
        })
    );
    assert_eq!(r.message_channel_id, Some(1007));
    assert_eq!(
        r.unknown_blocks,
        [UnknownBlock {
            block_type: 0x0c99,
            data: b"future".to_vec()
        }]
    );
    let sec = r.security.unwrap();
    assert_eq!(sec.encryption_method.selected_name(), "128bit");
    assert_eq!(sec.encryption_level.name(), "client_compatible");
    assert_eq!(sec.server_random_len, Some(32));
    let Some(ServerCertificate::Proprietary(cert)) = &sec.certificate else {
        panic!("expected a proprietary certificate: {sec:?}");
    };
    assert!(!sec.certificate.as_ref().unwrap().temporary());
    assert_eq!(
        cert.public_key,
        Some(RsaPublicKey {
            public_exponent: 65537,
            bit_len: 2048,
            modulus_bits: 2048
        })
    );
    assert!(cert.signature_present());
    assert_eq!(cert.signature_len, 72);
}

#[test]
fn x509_chain_longer_than_ironrdp_accepts() {
    let ca = der(include_str!("../../../fixtures/tls/ca.pem"));
    let leaf = der(include_str!("../../../fixtures/tls/ca-signed-leaf.pem"));
    let mut chain = (0x8000_0002u32).to_le_bytes().to_vec();
    chain.extend_from_slice(&2u32.to_le_bytes());
    for c in [&ca, &leaf] {
        chain.extend_from_slice(&u32::try_from(c.len()).unwrap().to_le_bytes());
        chain.extend_from_slice(c);
    }
    chain.extend_from_slice(&[0; 16]);
    assert!(
        chain.len() > 1024,
        "a real chain is over IronRDP's 1024-byte limit"
    );
    let mut blocks = core_block(0x0008_0004, 0, 0);
    blocks.extend(security_block(0x01, 1, &chain));
    blocks.extend(net_block(1003, &[]));
    let packet = response(0, &blocks);

    let r = decode_connect_response(&packet).unwrap();
    let sec = r.security.as_ref().unwrap();
    assert_eq!(sec.encryption_level, EncryptionLevel::LOW);
    assert_eq!(sec.encryption_method, EncryptionMethods::BIT_40);
    let Some(ServerCertificate::X509(x509)) = &sec.certificate else {
        panic!("expected an X.509 chain: {sec:?}");
    };
    assert!(sec.certificate.as_ref().unwrap().temporary());
    assert_eq!(x509.certificates, [ca, leaf]);
    // The padding after the chain is in the spec: not an anomaly.
    assert_eq!(r.anomalies, Vec::<String>::new());
    // The chain's certificates are what analysis::cert reads.
    let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    for c in &x509.certificates {
        crate::analysis::cert::parse_certificate(c, now).expect("parses");
    }
    // IronRDP refuses the whole reply.
    let err = ironrdp_decode(&packet).unwrap_err();
    assert!(
        err.contains("serverCetLen") || err.contains("certificate"),
        "{err}"
    );
}

#[test]
fn enhanced_security_reply_has_level_none_and_no_certificate() {
    let mut blocks = core_block(0x0008_0004, 1, 0);
    blocks.extend(net_block(1003, &[]));
    blocks.extend(security_block(0, 0, &[]));
    let packet = response(0, &blocks);
    let r = decode_connect_response(&packet).unwrap();
    assert_eq!(r.anomalies, Vec::<String>::new());
    assert_eq!(r.encryption_level(), Some(EncryptionLevel::NONE));
    assert_eq!(r.encryption_method(), Some(EncryptionMethods::NONE));
    assert_eq!(r.encryption_method().unwrap().selected_name(), "none");
    assert_eq!(r.security.unwrap().certificate, None);
    assert_eq!(
        r.core.unwrap().client_requested_protocols,
        Some(Protocols::SSL)
    );
}

#[test]
fn unknown_values_are_kept_with_anomalies() {
    let mut blocks = core_block(0x0009_0000, 0, 0x100);
    // Two methods at once, level 9, serverRandomLen 32, a certificate of version 7.
    blocks.extend(security_block(0x12, 9, &7u32.to_le_bytes()));
    let packet = response(0, &blocks);
    let r = decode_connect_response(&packet).unwrap();
    assert_eq!(r.version().unwrap().name(), "0x00090000");
    assert!(!r.version().unwrap().is_rdp10_or_later());
    let sec = r.security.as_ref().unwrap();
    assert_eq!(sec.encryption_level.name(), "0x00000009");
    assert_eq!(sec.encryption_method.names(), ["128bit", "fips"]);
    assert_eq!(sec.encryption_method.selected_name(), "0x00000012");
    assert_eq!(
        sec.certificate,
        Some(ServerCertificate::Unknown { version: 7, len: 4 })
    );
    assert_eq!(
        r.core.unwrap().early_capability_flags.unwrap().names(),
        ["0x00000100"]
    );
    let text = r.anomalies.join("\n");
    assert!(text.contains("several encryption methods"), "{text}");
    assert!(
        text.contains("unknown server certificate version"),
        "{text}"
    );
    // IronRDP refuses an unknown level.
    assert!(ironrdp_decode(&packet).is_err());
}

#[test]
fn refusals_and_disconnects_are_reported() {
    // MCS result rt-parameters-unacceptable with no GCC data.
    let mut body = vec![0x0a, 0x01, 0x08, 0x02, 0x01, 0x00, 0x30, 0x00, 0x04, 0x00];
    let mut mcs = vec![0x7f, 0x66, u8::try_from(body.len()).unwrap()];
    mcs.append(&mut body);
    let r = decode_connect_response(&wrap(&mcs)).unwrap();
    assert_eq!(r.result.name(), "parameters_unacceptable");
    assert_eq!(r.conference_result, None);
    assert_eq!(r.anomalies, Vec::<String>::new());
    assert_eq!(McsResult(99).name(), "0x63");

    // A successful result with GCC result userRejected (1).
    let mut packet = response(0, &core_block(0x0008_0004, 0, 0));
    let at = packet
        .windows(4)
        .position(|w| w == [0x01, 0x01, 0x00, 0x01])
        .unwrap();
    packet[at + 2] = 1;
    let r = decode_connect_response(&packet).unwrap();
    assert_eq!(r.conference_result, Some(1));
    assert!(
        r.anomalies.iter().any(|a| a.contains("result 1")),
        "{:?}",
        r.anomalies
    );

    // MCS Disconnect Provider Ultimatum, rn-user-requested (T.125), as xrdp and Windows send.
    assert_eq!(
        decode_connect_response(&unhex("03 00 00 09 02 f0 80 21 80")),
        Err(McsError::Disconnected(DisconnectReason(3)))
    );
    assert_eq!(DisconnectReason(3).name(), "user_requested");
    // X.224 Disconnect Request.
    assert_eq!(
        decode_connect_response(&unhex("03 00 00 0b 06 80 00 00 00 00 00")),
        Err(McsError::X224Disconnect)
    );
    // An X.224 Connection Confirm is not a Data TPDU.
    assert!(matches!(
        decode_connect_response(&unhex(
            "03 00 00 13 0e d0 00 00 12 34 00 02 01 08 00 00 00 00 00"
        )),
        Err(McsError::NotX224Data { code: 0xd0, .. })
    ));
    // An MCS Connect Initial (our own) is not a Connect Response.
    let initial =
        connect_initial(&ConnectInitialParams::standard_rdp(EncryptionMethods::ALL)).unwrap();
    let err = decode_connect_response(&initial).unwrap_err();
    assert!(
        err.to_string().contains("MCS Connect-Response tag"),
        "{err}"
    );
    assert!(err.to_string().contains("offset 7"), "{err}");
}

#[test]
fn lying_lengths_never_panic_and_are_recorded() {
    let mut blocks = core_block(0x0008_0004, 0, 0);
    blocks.extend(net_block(1003, &[1004]));
    blocks.extend(security_block(0x02, 3, &proprietary(512)));
    let good = response(0, &blocks);
    assert_eq!(
        decode_connect_response(&good).unwrap().anomalies,
        Vec::<String>::new()
    );
    let sec_at = good.windows(2).position(|w| w == [0x02, 0x0c]).unwrap();

    // serverRandomLen 0xffffffff, serverCertLen 0xffffffff.
    for field in [8usize, 12] {
        let mut p = good.clone();
        p[sec_at + 4 + field..sec_at + 8 + field].copy_from_slice(&[0xff; 4]);
        let r = decode_connect_response(&p).unwrap();
        assert_eq!(r.encryption_level(), Some(EncryptionLevel::HIGH));
        assert!(!r.anomalies.is_empty(), "field at {field}");
    }
    // A block longer than the user data.
    let mut p = good.clone();
    p[sec_at + 2..sec_at + 4].copy_from_slice(&0xfff0u16.to_le_bytes());
    let r = decode_connect_response(&p).unwrap();
    assert_eq!(r.encryption_level(), Some(EncryptionLevel::HIGH));
    assert!(
        r.anomalies.iter().any(|a| a.contains("claims 65520 bytes")),
        "{:?}",
        r.anomalies
    );
    // A block of length 0 stops the walk.
    let mut p = good.clone();
    p[sec_at + 2..sec_at + 4].copy_from_slice(&[0, 0]);
    let r = decode_connect_response(&p).unwrap();
    assert_eq!(r.security, None);
    assert!(r.core.is_some() && r.network.is_some());
    // A network block claiming 0xffff channels.
    let net_at = good.windows(2).position(|w| w == [0x03, 0x0c]).unwrap();
    let mut p = good.clone();
    p[net_at + 6..net_at + 8].copy_from_slice(&[0xff, 0xff]);
    let r = decode_connect_response(&p).unwrap();
    assert!(r.network.unwrap().channel_ids.len() <= 2);
    // The MCS length larger than the packet is an error naming the field.
    let mut p = good.clone();
    p[9] = 0xff;
    let err = decode_connect_response(&p).unwrap_err();
    assert!(
        err.to_string().contains("MCS Connect-Response length"),
        "{err}"
    );
    // The GCC user data length disagreeing with what is there is only an anomaly.
    let mut p = good.clone();
    let mcdn = p.windows(4).position(|w| w == b"McDn").unwrap();
    p[mcdn + 4] ^= 0x01;
    let r = decode_connect_response(&p).unwrap();
    assert!(r.security.is_some());
    assert!(
        r.anomalies
            .iter()
            .any(|a| a.contains("GCC user data length")),
        "{:?}",
        r.anomalies
    );
    // The RSA key blob claiming more than the certificate holds.
    let magic = p
        .windows(4)
        .position(|w| w == RSA1_MAGIC.to_le_bytes())
        .unwrap();
    let mut p = good.clone();
    p[magic - 2..magic].copy_from_slice(&0xffffu16.to_le_bytes());
    let r = decode_connect_response(&p).unwrap();
    let Some(ServerCertificate::Proprietary(cert)) = r.security.unwrap().certificate else {
        panic!("proprietary");
    };
    assert_eq!(cert.public_key, None);
    // An X.509 chain claiming 2^32-1 certificates of 2^32-1 bytes.
    let mut chain = 2u32.to_le_bytes().to_vec();
    chain.extend_from_slice(&[0xff; 8]);
    let r = decode_connect_response(&response(0, &security_block(1, 1, &chain))).unwrap();
    let Some(ServerCertificate::X509(x)) = r.security.unwrap().certificate else {
        panic!("x509");
    };
    assert!(x.certificates.is_empty());
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let base = response(0, &security_block(0x02, 3, &proprietary(512)));
    for _ in 0..20_000 {
        let mut p = base.clone();
        let flips = next() % 6 + 1;
        for _ in 0..flips {
            let at = usize::try_from(next() % u64::try_from(p.len()).unwrap()).unwrap();
            p[at] = next().to_le_bytes()[0];
        }
        let _ = frame_len(&p);
        let _ = decode_connect_response(&p);
    }
    for len in 0..64 {
        let junk: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
        let _ = decode_connect_response(&junk);
        let mut tpkt = vec![3, 0, 0, u8::try_from(len + 4).unwrap()];
        tpkt.extend_from_slice(&junk);
        let _ = decode_connect_response(&tpkt);
    }
}

#[test]
fn names() {
    assert_eq!(
        EncryptionMethods::ALL.names(),
        ["40bit", "56bit", "128bit", "fips"]
    );
    assert_eq!(EncryptionMethods::NONE.names(), ["none"]);
    assert_eq!(EncryptionMethods(0x40).names(), ["0x00000040"]);
    for (level, name) in [
        (EncryptionLevel::NONE, "none"),
        (EncryptionLevel::LOW, "low"),
        (EncryptionLevel::CLIENT_COMPATIBLE, "client_compatible"),
        (EncryptionLevel::HIGH, "high"),
        (EncryptionLevel::FIPS, "fips"),
    ] {
        assert_eq!(level.name(), name);
    }
    assert_eq!(ServerVersion::RDP_4.name(), "4.0");
    assert_eq!(ServerVersion::RDP_5_TO_8_1.name(), "5.0-8.1");
    assert_eq!(ServerVersion::RDP_10_0.name(), "10.0");
    assert_eq!(ServerVersion::RDP_10_12.name(), "10.12");
    assert!(ServerVersion(0x0008_0012).is_rdp10_or_later());
    assert!(!ServerVersion::RDP_5_TO_8_1.is_rdp10_or_later());
}

/// IronRDP's decoder agrees with ours where it succeeds (it drops the MCS result).
#[test]
fn agrees_with_ironrdp_where_ironrdp_succeeds() {
    let mut blocks = core_block(0x0008_0004, 0, 1);
    blocks.extend(net_block(1003, &[1004, 1005]));
    blocks.extend(security_block(0x10, 4, &proprietary(2048)));
    let packet = response(0, &blocks);
    let ours = decode_connect_response(&packet).unwrap();
    let theirs = ironrdp_decode(&packet).unwrap();
    assert_same(&ours, &theirs);
}

fn assert_same(ours: &ConnectResponse, theirs: &irmcs::ConnectResponse) {
    let blocks: &ServerGccBlocks = theirs.conference_create_response.gcc_blocks();
    assert_eq!(ours.version().map(|v| v.0), Some(blocks.core.version.0));
    assert_eq!(
        ours.core.unwrap().client_requested_protocols.map(|p| p.0),
        blocks
            .core
            .optional_data
            .client_requested_protocols
            .map(|p| p.bits())
    );
    let net = ours.network.as_ref().unwrap();
    assert_eq!(net.io_channel, blocks.network.io_channel);
    assert_eq!(net.channel_ids, blocks.network.channel_ids);
    let sec = ours.security.as_ref().unwrap();
    assert_eq!(
        sec.encryption_method.0,
        blocks.security.encryption_method.bits()
    );
    assert_eq!(
        Some(sec.encryption_level.0),
        [
            gcc::EncryptionLevel::None,
            gcc::EncryptionLevel::Low,
            gcc::EncryptionLevel::ClientCompatible,
            gcc::EncryptionLevel::High,
            gcc::EncryptionLevel::Fips
        ]
        .iter()
        .position(|l| *l == blocks.security.encryption_level)
        .map(|p| u32::try_from(p).unwrap())
    );
    assert_eq!(
        sec.server_cert_len.unwrap_or(0),
        u32::try_from(blocks.security.server_cert.len()).unwrap()
    );
    assert_eq!(
        ours.message_channel_id,
        blocks
            .message_channel
            .as_ref()
            .map(|m| m.mcs_message_channel_id)
    );
}
