use super::*;
use flight::HELLO_RETRY_REQUEST_RANDOM;

const TLS10_FLIGHT: &[u8] = include_bytes!("../../../fixtures/tls/server-flight-tls10-rsa.bin");
const TLS12_FLIGHT: &[u8] = include_bytes!("../../../fixtures/tls/server-flight-tls12-ecdhe.bin");
const ALERT: &[u8] = include_bytes!("../../../fixtures/tls/server-alert-protocol-version.bin");
const FIXTURE_CERT_PEM: &str = include_str!("../../../fixtures/tls/rsa1024-sha1-selfsigned.pem");

fn fixture_cert_der() -> Vec<u8> {
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(FIXTURE_CERT_PEM.as_bytes()).expect("fixture PEM parses");
    pem.contents
}

/// Splits a byte string of TLS records into (content type, fragment) pairs.
fn records(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 5 <= bytes.len() {
        let len = usize::from(u16::from_be_bytes([bytes[i + 3], bytes[i + 4]]));
        out.push((bytes[i], bytes[i + 5..i + 5 + len].to_vec()));
        i += 5 + len;
    }
    assert_eq!(i, bytes.len(), "fixture is whole records");
    out
}

/// Re-frames handshake bytes into records of at most `chunk` bytes.
fn reframe(handshake: &[u8], chunk: usize, version: u16) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in handshake.chunks(chunk) {
        out.push(22);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
        out.extend_from_slice(piece);
    }
    out
}

fn handshake_bytes(flight: &[u8]) -> Vec<u8> {
    records(flight)
        .into_iter()
        .filter(|(t, _)| *t == 22)
        .flat_map(|(_, f)| f)
        .collect()
}

fn hello(max: ProtocolVersion, name: Option<&str>) -> Vec<u8> {
    client_hello(&ClientHelloParams {
        max_version: max,
        random: [0x5A; 32],
        server_name: name,
    })
    .expect("hello builds")
}

/// Walks a ClientHello record and returns (client_version, suites, extensions).
type RawExtensions = Vec<(u16, Vec<u8>)>;

fn parse_client_hello(record: &[u8]) -> (u16, Vec<u16>, RawExtensions) {
    assert_eq!(record[0], 22, "handshake record");
    assert_eq!(&record[1..3], &[3, 1], "record version TLS 1.0");
    let rec_len = usize::from(u16::from_be_bytes([record[3], record[4]]));
    assert_eq!(rec_len + 5, record.len());
    let hs = &record[5..];
    assert_eq!(hs[0], 1, "ClientHello");
    let body_len = usize::from(hs[1]) << 16 | usize::from(hs[2]) << 8 | usize::from(hs[3]);
    assert_eq!(body_len + 4, hs.len());
    let b = &hs[4..];
    let version = u16::from_be_bytes([b[0], b[1]]);
    assert_eq!(&b[2..34], &[0x5A; 32], "client random as given");
    assert_eq!(b[34], 0, "empty session id");
    let suites_len = usize::from(u16::from_be_bytes([b[35], b[36]]));
    let suites: Vec<u16> = b[37..37 + suites_len]
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let mut i = 37 + suites_len;
    assert_eq!(&b[i..i + 2], &[1, 0], "null compression only");
    i += 2;
    let ext_len = usize::from(u16::from_be_bytes([b[i], b[i + 1]]));
    i += 2;
    assert_eq!(i + ext_len, b.len(), "extensions fill the rest");
    let mut exts = Vec::new();
    while i < b.len() {
        let t = u16::from_be_bytes([b[i], b[i + 1]]);
        let l = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        exts.push((t, b[i + 4..i + 4 + l].to_vec()));
        i += 4 + l;
    }
    (version, suites, exts)
}

#[test]
fn client_hello_tls12_layout() {
    let rec = hello(ProtocolVersion::TLS1_2, Some("rdp.example.test"));
    let (version, suites, exts) = parse_client_hello(&rec);
    assert_eq!(version, 0x0303);
    assert_eq!(suites.len(), PROBE_CIPHER_SUITES.len());
    // Suites Windows Schannel of every era accepts: CBC with RSA key exchange, GCM, ECDHE.
    for needed in [
        0x002F, 0x0035, 0x000A, 0x009C, 0xC013, 0xC014, 0xC02F, 0xC030,
    ] {
        assert!(suites.contains(&needed), "offers 0x{needed:04X}");
    }
    let types: Vec<u16> = exts.iter().map(|(t, _)| *t).collect();
    for needed in [0, 10, 11, 13, 0xFF01, 23] {
        assert!(
            types.contains(&needed),
            "extension {needed} present in {types:?}"
        );
    }
    let sni = &exts.iter().find(|(t, _)| *t == 0).unwrap().1;
    assert_eq!(&sni[..5], &[0, 19, 0, 0, 16]);
    assert_eq!(&sni[5..], b"rdp.example.test");
    let reneg = &exts.iter().find(|(t, _)| *t == 0xFF01).unwrap().1;
    assert_eq!(reneg, &[0]);
    // The handshake message is kept out of 256..=511 bytes (RFC 7685).
    let hs_len = rec.len() - 5;
    assert!(!(256..512).contains(&hs_len), "handshake length {hs_len}");
}

#[test]
fn client_hello_tls10_and_11_leave_out_signature_algorithms() {
    for (v, wire) in [
        (ProtocolVersion::TLS1_0, 0x0301),
        (ProtocolVersion::TLS1_1, 0x0302),
    ] {
        let (version, _, exts) = parse_client_hello(&hello(v, None));
        assert_eq!(version, wire);
        let types: Vec<u16> = exts.iter().map(|(t, _)| *t).collect();
        assert!(!types.contains(&13), "no signature_algorithms for {v}");
        assert!(!types.contains(&0), "no SNI without a name");
    }
}

#[test]
fn client_hello_refuses_what_it_cannot_offer() {
    for v in [
        ProtocolVersion::SSL3,
        ProtocolVersion::TLS1_3,
        ProtocolVersion(0x0200),
    ] {
        let err = client_hello(&ClientHelloParams {
            max_version: v,
            random: [0; 32],
            server_name: None,
        })
        .unwrap_err();
        assert_eq!(err, HelloError::UnsupportedVersion(v));
    }
    for bad in ["", "10.0.0.1", "::1", "höst.example", &"a".repeat(300)] {
        let err = client_hello(&ClientHelloParams {
            max_version: ProtocolVersion::TLS1_2,
            random: [0; 32],
            server_name: Some(bad),
        })
        .unwrap_err();
        assert!(
            matches!(err, HelloError::InvalidServerName(..)),
            "{bad:?}: {err}"
        );
    }
    // A trailing dot is dropped from SNI.
    let rec = hello(ProtocolVersion::TLS1_2, Some("host.example."));
    let (_, _, exts) = parse_client_hello(&rec);
    assert!(
        exts.iter()
            .find(|(t, _)| *t == 0)
            .unwrap()
            .1
            .ends_with(b"host.example")
    );
}

#[test]
fn client_hello_is_understood_by_openssl_parser_shape() {
    // Our own reader accepts the handshake of what we build: a second, independent check
    // of the length fields (the real-server acceptance is tested in probe::tls).
    let rec = hello(ProtocolVersion::TLS1_2, Some("a.b"));
    let hs = &rec[5..];
    let len = usize::from(hs[1]) << 16 | usize::from(hs[2]) << 8 | usize::from(hs[3]);
    assert_eq!(len + 4, hs.len());
}

#[test]
fn tls10_flight_from_openssl() {
    let flight = parse_server_flight(TLS10_FLIGHT)
        .unwrap()
        .expect("complete");
    let hello = flight.server_hello.as_ref().unwrap();
    assert_eq!(hello.version, ProtocolVersion::TLS1_0);
    assert_eq!(hello.legacy_version, ProtocolVersion::TLS1_0);
    assert_eq!(hello.cipher_suite, CipherSuite(0x002F));
    assert_eq!(
        hello.cipher_suite.to_string(),
        "TLS_RSA_WITH_AES_128_CBC_SHA"
    );
    assert_eq!(flight.record_version, Some(ProtocolVersion::TLS1_0));
    assert!(flight.certificate_received);
    assert_eq!(flight.certificates, vec![fixture_cert_der()]);
    assert!(flight.alert.is_none());
    assert_eq!(
        flight.messages,
        vec![HandshakeType::SERVER_HELLO, HandshakeType::CERTIFICATE]
    );
}

#[test]
fn tls12_flight_from_openssl() {
    let flight = parse_server_flight(TLS12_FLIGHT)
        .unwrap()
        .expect("complete");
    let hello = flight.server_hello.as_ref().unwrap();
    assert_eq!(hello.version, ProtocolVersion::TLS1_2);
    assert_eq!(
        hello.cipher_suite.name(),
        Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
    );
    assert!(!hello.hello_retry_request);
    assert!(
        hello
            .extensions
            .iter()
            .any(|e| e.typ == ExtensionType::RENEGOTIATION_INFO)
    );
    assert_eq!(flight.certificates, vec![fixture_cert_der()]);
}

#[test]
fn alert_from_openssl() {
    let flight = parse_server_flight(ALERT).unwrap().expect("complete");
    assert_eq!(
        flight.alert,
        Some(Alert {
            level: AlertLevel::FATAL,
            description: AlertDescription::PROTOCOL_VERSION
        })
    );
    assert_eq!(
        flight.alert.unwrap().to_string(),
        "fatal alert protocol_version"
    );
    assert!(flight.server_hello.is_none());
}

/// Every strict prefix of a valid flight is "need more", never an error or a panic.
#[test]
fn every_truncated_prefix_needs_more() {
    for fixture in [TLS10_FLIGHT, TLS12_FLIGHT, ALERT] {
        // The flight completes at the Certificate message (or the alert): prefixes before
        // that point are incomplete.
        let complete_at = (1..=fixture.len())
            .find(|n| matches!(parse_server_flight(&fixture[..*n]), Ok(Some(_))))
            .unwrap();
        for n in 0..complete_at {
            assert_eq!(
                parse_server_flight(&fixture[..n]),
                Ok(None),
                "prefix of {n} bytes"
            );
        }
    }
}

/// Feeding byte by byte gives the same result as feeding at once.
#[test]
fn byte_at_a_time_feeding() {
    for fixture in [TLS10_FLIGHT, TLS12_FLIGHT] {
        let mut reader = ServerFlightReader::new();
        let mut status = FlightStatus::NeedMore;
        for b in fixture {
            status = reader.feed(std::slice::from_ref(b)).unwrap();
            if status == FlightStatus::Complete {
                break;
            }
        }
        assert_eq!(status, FlightStatus::Complete);
        assert_eq!(
            Some(reader.into_flight()),
            parse_server_flight(fixture).unwrap()
        );
    }
}

/// Handshake messages split across many small records, and records holding several
/// messages, reassemble to the same flight.
#[test]
fn reassembly_across_records() {
    let whole = parse_server_flight(TLS12_FLIGHT).unwrap().unwrap();
    let hs = handshake_bytes(TLS12_FLIGHT);
    for chunk in [1, 7, 100, 5000] {
        let reframed = reframe(&hs, chunk, 0x0303);
        let got = parse_server_flight(&reframed).unwrap().expect("complete");
        assert_eq!(got.certificates, whole.certificates, "chunk {chunk}");
        assert_eq!(got.server_hello, whole.server_hello, "chunk {chunk}");
    }
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    // An X.224 / TPKT packet where TLS was expected.
    assert!(matches!(
        parse_server_flight(&[0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0]),
        Err(TlsParseError::NotTls {
            content_type: 3,
            ..
        })
    ));
    // HTTP.
    assert!(matches!(
        parse_server_flight(b"HTTP/1.1 400 Bad Request\r\n"),
        Err(TlsParseError::NotTls { .. })
    ));
    // Record version major != 3.
    assert!(matches!(
        parse_server_flight(&[22, 2, 0, 0, 1, 0]),
        Err(TlsParseError::NotTls { .. })
    ));
    // Oversized record.
    assert_eq!(
        parse_server_flight(&[22, 3, 3, 0xFF, 0xFF]),
        Err(TlsParseError::RecordTooLarge { len: 0xFFFF })
    );
    // Certificate before ServerHello.
    assert!(matches!(
        parse_server_flight(&reframe(&[11, 0, 0, 3, 0, 0, 0], 100, 0x0303)),
        Err(TlsParseError::Unexpected { .. })
    ));
    // Application data in the middle of the handshake.
    assert!(matches!(
        parse_server_flight(&[23, 3, 3, 0, 1, 0]),
        Err(TlsParseError::Unexpected { .. })
    ));
    // A ServerHello whose session id is longer than 32 bytes.
    let mut sh = vec![2, 0, 0, 36, 3, 3];
    sh.extend_from_slice(&[0; 32]);
    sh.push(33);
    sh.push(0);
    assert!(matches!(
        parse_server_flight(&reframe(&sh, 100, 0x0303)),
        Err(TlsParseError::Malformed {
            what: "ServerHello",
            ..
        })
    ));
    // A handshake message claiming 16 MiB.
    assert_eq!(
        parse_server_flight(&reframe(&[2, 0xFF, 0xFF, 0xFF], 100, 0x0303)),
        Err(TlsParseError::FlightTooLarge)
    );
    // After an error the reader refuses further input quietly.
    let mut r = ServerFlightReader::new();
    assert!(r.feed(b"garbage!").is_err());
    assert_eq!(r.feed(TLS10_FLIGHT), Ok(FlightStatus::Complete));
}

/// Every single-byte corruption of a real flight parses to a result or an error, never a
/// panic, and never allocates beyond the limits.
#[test]
fn corrupted_flights_never_panic() {
    for fixture in [TLS10_FLIGHT, TLS12_FLIGHT] {
        for i in 0..fixture.len() {
            for v in [0x00, 0x7F, 0x80, 0xFF] {
                let mut bad = fixture.to_vec();
                bad[i] = v;
                let _ = parse_server_flight(&bad);
            }
        }
    }
}

#[test]
fn flight_limit_is_enforced() {
    // ServerKeyExchange-like filler messages until the 256 KiB cap.
    let mut hs = handshake_bytes(TLS12_FLIGHT);
    let sh_len = 4 + usize::from(hs[3]);
    hs.truncate(sh_len);
    for _ in 0..(MAX_FLIGHT_LEN / 16_000 + 2) {
        hs.extend_from_slice(&[12, 0, 0x3E, 0x80]);
        hs.extend_from_slice(&[0u8; 16_000]);
    }
    assert_eq!(
        parse_server_flight(&reframe(&hs, 16_384, 0x0303)),
        Err(TlsParseError::FlightTooLarge)
    );
}

#[test]
fn tls13_server_hello_and_hrr_complete_the_flight() {
    let mut sh = vec![3, 3];
    sh.extend_from_slice(&[7; 32]);
    sh.push(0);
    sh.extend_from_slice(&[0x13, 0x01, 0]);
    sh.extend_from_slice(&[0, 6, 0, 43, 0, 2, 3, 4]);
    let mut msg = vec![2, 0, 0, sh.len() as u8];
    msg.extend_from_slice(&sh);
    let flight = parse_server_flight(&reframe(&msg, 100, 0x0303))
        .unwrap()
        .unwrap();
    let hello = flight.server_hello.unwrap();
    assert_eq!(hello.version, ProtocolVersion::TLS1_3);
    assert_eq!(hello.legacy_version, ProtocolVersion::TLS1_2);
    assert_eq!(hello.cipher_suite.to_string(), "TLS_AES_128_GCM_SHA256");

    let mut hrr = sh.clone();
    hrr[2..34].copy_from_slice(&HELLO_RETRY_REQUEST_RANDOM);
    let mut msg = vec![2, 0, 0, hrr.len() as u8];
    msg.extend_from_slice(&hrr);
    let flight = parse_server_flight(&reframe(&msg, 100, 0x0303))
        .unwrap()
        .unwrap();
    assert!(flight.server_hello.unwrap().hello_retry_request);

    // A malformed supported_versions extension.
    let mut bad = sh.clone();
    let n = bad.len();
    bad[n - 3] = 3; // extension length 3 instead of 2
    assert!(ServerHello::parse(&bad).is_err());
}

#[test]
fn certificate_list_edge_cases() {
    assert_eq!(parse_certificate_list(&[0, 0, 0]), Ok(vec![]));
    assert_eq!(
        parse_certificate_list(&[0, 0, 5, 0, 0, 2, 0xAA, 0xBB]),
        Ok(vec![vec![0xAA, 0xBB]])
    );
    assert!(
        parse_certificate_list(&[0, 0, 3, 0, 0, 0]).is_err(),
        "empty entry"
    );
    assert!(
        parse_certificate_list(&[0, 0, 6, 0, 0, 9, 1, 2, 3]).is_err(),
        "short entry"
    );
    assert!(
        parse_certificate_list(&[0, 0, 0, 1]).is_err(),
        "trailing byte"
    );
    assert!(parse_certificate_list(&[0, 0]).is_err(), "truncated length");
}

#[test]
fn newtypes_keep_unknown_values() {
    assert_eq!(CipherSuite(0xABCD).to_string(), "0xABCD");
    assert_eq!(
        CipherSuite::from_name("TLS_RSA_WITH_AES_128_CBC_SHA"),
        Some(CipherSuite(0x2F))
    );
    assert_eq!(ProtocolVersion(0x7F1C).to_string(), "0x7f1c");
    assert_eq!(
        ProtocolVersion::from_name("1.1"),
        Some(ProtocolVersion::TLS1_1)
    );
    assert!(ProtocolVersion::TLS1_1.is_deprecated());
    assert!(!ProtocolVersion::TLS1_2.is_deprecated());
    assert_eq!(AlertDescription(200).to_string(), "alert 200");
    assert_eq!(AlertLevel(9).to_string(), "level 9");
    // Every suite offered has a name.
    for s in PROBE_CIPHER_SUITES {
        assert!(s.name().is_some(), "{s:?}");
    }
}
