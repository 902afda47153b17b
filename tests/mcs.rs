//! The MCS Connect Initial / Connect Response codec (`proto::mcs`) against real servers:
//! xrdp with Standard RDP Security at every `crypt_level`, xrdp `negotiate`, and the FreeRDP
//! shadow server with `/sec:rdp` and its default; one method offered at a time (as nmap's
//! rdp-enum-encryption does); and a Connect Initial sent inside TLS (xrdp `tls`, shadow
//! `/sec:tls`).
//!
//! Everything here is a plain blocking client written for the test: X.224 through the
//! independent `support::x224` client, then the codec under test. The answers asserted are
//! the measured ones (`docs/rdp-security.md` has the tables); the stored captures in
//! `fixtures/mcs/` must decode to exactly what the live servers answer.
//!
//! Set `RDPSWEEP_MCS_CAPTURE_DIR=<dir>` to write every live answer there as hex (how the
//! fixtures were made).

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::time::Duration;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use rdpsweep::proto::mcs::{
    self, ConnectInitialParams, ConnectResponse, EncryptionLevel, EncryptionMethods,
    MAX_CONNECT_RESPONSE_LEN, ServerCertificate, ServerVersion,
};
use rdpsweep::proto::x224::Protocols;
use support::x224::{self as raw, Confirm, PROTOCOL_RDP, PROTOCOL_SSL};
use support::*;

/// This binary's loopback tag (see `support::net::loopback`).
const TAG: u8 = 80;

/// The source address for connections to the shadow server: it switches Standard RDP
/// encryption off for clients at exactly 127.0.0.1 (rdp-facts §6). In this binary's range.
const SOURCE: Ipv4Addr = Ipv4Addr::new(127, TAG, 255, 254);

const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP connection to `addr`, from `source` when given (bound before connecting).
fn connect(addr: SocketAddrV4, source: Option<Ipv4Addr>) -> TcpStream {
    assert!(addr.ip().is_loopback(), "tests only connect to 127.0.0.0/8");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .expect("runtime");
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        if let Some(ip) = source {
            assert!(ip.is_loopback());
            socket
                .bind(SocketAddrV4::new(ip, 0).into())
                .unwrap_or_else(|e| panic!("bind {ip}: {e}"));
        }
        tokio::time::timeout(READ_TIMEOUT, socket.connect(addr.into()))
            .await
            .unwrap_or_else(|_| panic!("connect to {addr} timed out"))
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    });
    let stream = stream.into_std().expect("into_std");
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    stream
}

/// What a server did after the Connect Initial.
#[derive(Debug)]
enum Answer {
    /// A Connect Response (or another MCS/X.224 PDU the decoder reports as an error).
    Packet {
        bytes: Vec<u8>,
        decoded: Result<ConnectResponse, mcs::McsError>,
    },
    /// The server closed the connection after `after` bytes of an answer.
    Closed { after: usize },
    /// Nothing within the read timeout.
    Silent,
}

impl Answer {
    fn response(&self) -> &ConnectResponse {
        match self {
            Answer::Packet { decoded: Ok(r), .. } => r,
            other => panic!("expected a Connect Response, got {other:?}"),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Answer::Packet { bytes, .. } => bytes,
            other => panic!("expected a packet, got {other:?}"),
        }
    }

    /// A one-word summary for the method tables: the selected method, or what happened.
    fn summary(&self) -> String {
        match self {
            Answer::Packet { decoded: Ok(r), .. } => match (&r.security, r.result) {
                (Some(sec), mcs::McsResult::SUCCESSFUL) => format!(
                    "{}/{}",
                    sec.encryption_level.name(),
                    sec.encryption_method.selected_name()
                ),
                (_, result) => format!("mcs:{}", result.name()),
            },
            Answer::Packet {
                decoded: Err(e), ..
            } => format!("error:{e}"),
            Answer::Closed { after } => format!("closed:{after}"),
            Answer::Silent => "silent".to_owned(),
        }
    }
}

/// Reads one TPKT packet framed by `mcs::frame_len` (never more than the cap).
fn read_answer(stream: &mut impl Read) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match mcs::frame_len(&buf) {
            Ok(Some(len)) if buf.len() >= len => {
                buf.truncate(len);
                let decoded = mcs::decode_connect_response(&buf);
                return Answer::Packet {
                    bytes: buf,
                    decoded,
                };
            }
            Ok(_) => {}
            Err(e) => {
                return Answer::Packet {
                    bytes: buf,
                    decoded: Err(e),
                };
            }
        }
        assert!(buf.len() < MAX_CONNECT_RESPONSE_LEN);
        match stream.read(&mut chunk) {
            Ok(0) => return Answer::Closed { after: buf.len() },
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Answer::Silent;
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return Answer::Closed { after: buf.len() };
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// X.224 asking for `requested`; panics unless the server selects `expect_selected`.
fn negotiate(stream: &mut TcpStream, requested: u32, expect_selected: u32) {
    stream
        .write_all(&raw::connection_request(requested))
        .expect("send X.224 request");
    let confirm = raw::read_tpkt(stream).expect("X.224 confirm");
    match raw::parse_confirm(&confirm).expect("X.224 confirm") {
        Confirm::Selected { protocol, .. } if protocol == expect_selected => {}
        other => panic!("asked 0x{requested:x}, expected 0x{expect_selected:x}, got {other:?}"),
    }
}

/// Standard RDP Security: X.224 selecting RDP, then a Connect Initial offering `methods`.
fn standard(addr: SocketAddrV4, source: Option<Ipv4Addr>, methods: EncryptionMethods) -> Answer {
    let mut stream = connect(addr, source);
    negotiate(&mut stream, PROTOCOL_RDP, PROTOCOL_RDP);
    let initial = mcs::connect_initial(&ConnectInitialParams::standard_rdp(methods))
        .expect("encode Connect Initial");
    stream.write_all(&initial).expect("send Connect Initial");
    read_answer(&mut stream)
}

/// Enhanced RDP Security: X.224 selecting TLS, a TLS handshake, then the Connect Initial
/// inside TLS (serverSelectedProtocol = PROTOCOL_SSL).
fn inside_tls(addr: SocketAddrV4, source: Option<Ipv4Addr>, methods: EncryptionMethods) -> Answer {
    let mut stream = connect(addr, source);
    negotiate(&mut stream, PROTOCOL_SSL, PROTOCOL_SSL);
    let mut builder = SslConnector::builder(SslMethod::tls_client()).expect("ssl");
    builder.set_verify(SslVerifyMode::NONE);
    let connector = builder.build();
    let mut tls = connector
        .configure()
        .expect("configure")
        .verify_hostname(false)
        .use_server_name_indication(false)
        .connect("rdp", stream)
        .unwrap_or_else(|e| panic!("TLS handshake with {addr}: {e}"));
    let initial = mcs::connect_initial(&ConnectInitialParams {
        selected_protocol: Protocols::SSL,
        encryption_methods: methods,
    })
    .expect("encode Connect Initial");
    tls.write_all(&initial).expect("send Connect Initial");
    read_answer(&mut tls)
}

/// Writes `bytes` as hex (16 per line) to `$RDPSWEEP_MCS_CAPTURE_DIR/<name>.hex` when set.
fn capture(name: &str, bytes: &[u8]) {
    let Some(dir) = std::env::var_os("RDPSWEEP_MCS_CAPTURE_DIR") else {
        return;
    };
    let text: String = bytes
        .chunks(16)
        .map(|line| {
            let mut l = line
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ");
            l.push('\n');
            l
        })
        .collect();
    let path = std::path::Path::new(&dir).join(format!("{name}.hex"));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Decodes the stored capture `fixtures/mcs/<name>.hex`.
fn fixture(name: &str) -> ConnectResponse {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/mcs")
        .join(format!("{name}.hex"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let bytes: Vec<u8> = text
        .split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex"))
        .collect();
    mcs::decode_connect_response(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn xrdp(security_layer: &'static str, crypt_level: &'static str) -> Xrdp {
    let mut opts = XrdpOptions::new(endpoint(TAG), security_layer);
    opts.crypt_level = crypt_level;
    Xrdp::start(opts)
}

/// The answer's level and selected method, as `level/method` (what the tables compare).
fn level_method(answer: &Answer) -> String {
    answer.summary()
}

/// Offers every method alone, then none, then all four; returns the `level/method` answers.
fn per_method(addr: SocketAddrV4, source: Option<Ipv4Addr>) -> Vec<String> {
    EncryptionMethods::EACH
        .into_iter()
        .chain([EncryptionMethods::NONE, EncryptionMethods::ALL])
        .map(|m| level_method(&standard(addr, source, m)))
        .collect()
}

/// Asserts the live answer decodes to exactly what the stored capture decodes to (the
/// decoded facts hold no server random, so a fresh answer must match field for field).
fn assert_matches_fixture(name: &str, answer: &Answer) {
    capture(name, answer.bytes());
    let live = answer.response();
    assert_eq!(
        live,
        &fixture(name),
        "live answer differs from fixtures/mcs/{name}.hex"
    );
    assert!(live.anomalies.is_empty(), "{name}: {:?}", live.anomalies);
    assert_eq!(live.result, mcs::McsResult::SUCCESSFUL);
    assert_eq!(live.conference_result, Some(0));
}

/// The proprietary certificate of a Standard RDP Security answer: a 2048-bit RSA key with
/// exponent 65537 and a signature (xrdp's `rsakeys.ini` and FreeRDP's generated key alike).
fn assert_proprietary_2048(name: &str, r: &ConnectResponse) {
    let sec = r
        .security
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: no security data"));
    assert_eq!(sec.server_random_len, Some(32), "{name}");
    match &sec.certificate {
        Some(ServerCertificate::Proprietary(cert)) => {
            let key = cert.public_key.unwrap_or_else(|| panic!("{name}: no key"));
            assert_eq!(
                (key.public_exponent, key.bit_len, key.modulus_bits),
                (65537, 2048, 2048)
            );
            assert!(cert.signature_present(), "{name}");
            assert!(
                !sec.certificate
                    .as_ref()
                    .is_some_and(ServerCertificate::temporary)
            );
        }
        other => panic!("{name}: expected a proprietary certificate, got {other:?}"),
    }
}

/// xrdp `security_layer=rdp` at each `crypt_level`: the level and method it answers to all
/// four methods, and to each method alone. xrdp ignores the client's offer: it selects the
/// method of its level whatever is offered (even nothing).
#[test]
fn xrdp_crypt_levels() {
    let expected = [
        ("low", EncryptionLevel::LOW, EncryptionMethods::BIT_40),
        (
            "medium",
            EncryptionLevel::CLIENT_COMPATIBLE,
            EncryptionMethods::BIT_40,
        ),
        ("high", EncryptionLevel::HIGH, EncryptionMethods::BIT_128),
        ("fips", EncryptionLevel::FIPS, EncryptionMethods::FIPS),
    ];
    for (crypt_level, level, method) in expected {
        let mut server = xrdp("rdp", crypt_level);
        let name = format!("xrdp-rdp-{crypt_level}");
        let all = standard(server.addr(), None, EncryptionMethods::ALL);
        assert_matches_fixture(&name, &all);
        let r = all.response();
        assert_eq!(r.encryption_level(), Some(level), "{name}");
        assert_eq!(r.encryption_method(), Some(method), "{name}");
        assert_eq!(r.version(), Some(ServerVersion::RDP_5_TO_8_1), "{name}");
        let core = r.core.expect("core data");
        assert_eq!(core.client_requested_protocols, Some(Protocols::RDP));
        assert_eq!(
            core.early_capability_flags, None,
            "xrdp sends an 8-byte core block"
        );
        assert_eq!(
            r.network
                .as_ref()
                .map(|n| (n.io_channel, n.channel_ids.len())),
            Some((1003, 0))
        );
        assert_proprietary_2048(&name, r);

        let want = format!("{}/{}", level.name(), method.selected_name());
        let got = per_method(server.addr(), None);
        assert_eq!(got, vec![want; 6], "{name}: 40, 56, 128, fips, none, all");
        server.assert_running();
    }
}

/// xrdp `negotiate` (crypt_level high) answers a client that selected RDP like `rdp` does.
#[test]
fn xrdp_negotiate_selecting_rdp() {
    let server = xrdp("negotiate", "high");
    let answer = standard(server.addr(), None, EncryptionMethods::ALL);
    assert_matches_fixture("xrdp-negotiate-rdp", &answer);
    assert_eq!(answer.response(), &fixture("xrdp-rdp-high"));
}

/// The FreeRDP shadow server with `/sec:rdp` and with no `/sec` (RDP and TLS): from a
/// client that is not 127.0.0.1 it answers level client-compatible with the strongest
/// method offered (128-bit when offered nothing); from 127.0.0.1 it switches encryption off
/// (level and method none, no certificate) whatever is offered.
#[test]
fn shadow_standard_security() {
    for sec in ["rdp", "default"] {
        let mut server = FreerdpShadow::start(ShadowOptions::new(endpoint(TAG), sec));
        let name = format!("shadow-{sec}");
        let all = standard(server.addr(), Some(SOURCE), EncryptionMethods::ALL);
        assert_matches_fixture(&name, &all);
        let r = all.response();
        assert_eq!(
            r.encryption_level(),
            Some(EncryptionLevel::CLIENT_COMPATIBLE)
        );
        assert_eq!(r.encryption_method(), Some(EncryptionMethods::BIT_128));
        assert_eq!(r.version(), Some(ServerVersion::RDP_5_TO_8_1));
        let core = r.core.expect("core data");
        assert_eq!(core.early_capability_flags.map(|f| f.0), Some(0));
        assert_proprietary_2048(&name, r);
        assert_eq!(
            per_method(server.addr(), Some(SOURCE)),
            [
                "client_compatible/40bit",
                "client_compatible/56bit",
                "client_compatible/128bit",
                "client_compatible/fips",
                "client_compatible/128bit",
                "client_compatible/128bit",
            ],
            "{name}: 40, 56, 128, fips, none, all"
        );

        let local = standard(
            server.addr(),
            Some(Ipv4Addr::LOCALHOST),
            EncryptionMethods::ALL,
        );
        assert_matches_fixture("shadow-rdp-from-127.0.0.1", &local);
        let r = local.response();
        assert_eq!(r.encryption_level(), Some(EncryptionLevel::NONE));
        assert_eq!(
            r.security.as_ref().and_then(|s| s.certificate.as_ref()),
            None
        );
        assert_eq!(
            per_method(server.addr(), Some(Ipv4Addr::LOCALHOST)),
            vec!["none/none"; 6]
        );
        server.assert_running();
    }
}

/// A Connect Initial sent inside TLS (X.224 selected PROTOCOL_SSL): both servers answer a
/// Connect Response with their version, clientRequestedProtocols = SSL, and encryption
/// level and method none (Enhanced RDP Security), whatever methods are offered.
#[test]
fn connect_initial_inside_tls() {
    let mut xrdp = xrdp("tls", "high");
    let mut shadow = FreerdpShadow::start(ShadowOptions::new(endpoint(TAG), "tls"));
    for (name, addr, source) in [
        ("xrdp-tls-inside", xrdp.addr(), None),
        ("shadow-tls", shadow.addr(), Some(SOURCE)),
    ] {
        let answer = inside_tls(addr, source, EncryptionMethods::ALL);
        assert_matches_fixture(name, &answer);
        let r = answer.response();
        assert_eq!(r.version(), Some(ServerVersion::RDP_5_TO_8_1), "{name}");
        assert_eq!(r.encryption_level(), Some(EncryptionLevel::NONE), "{name}");
        assert_eq!(
            r.encryption_method(),
            Some(EncryptionMethods::NONE),
            "{name}"
        );
        let sec = r.security.as_ref().expect("security data");
        assert_eq!((sec.server_random_len, &sec.certificate), (None, &None));
        assert_eq!(
            r.core.and_then(|c| c.client_requested_protocols),
            Some(Protocols::SSL)
        );
        for methods in [EncryptionMethods::NONE, EncryptionMethods::FIPS] {
            let other = inside_tls(addr, source, methods);
            assert_eq!(other.response(), r, "{name} offered {methods:?}");
        }
    }
    xrdp.assert_running();
    shadow.assert_running();
}
