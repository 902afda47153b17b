//! Self-tests of the real-server harness (`tests/support`): every server variant starts, answers
//! a real X.224 Connection Request exactly as the ground-truth table in `support/mod.rs` says,
//! serves the certificate it was given, reports the host name it was given, and stops on drop.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::X509;
use support::process::is_listening;
use support::x224::{self, Confirm, PROTOCOL_HYBRID, PROTOCOL_SSL};
use support::*;

/// This binary's loopback tag (see `support::net::loopback`).
const TAG: u8 = 10;

/// Asks `server` every request set of the ground-truth table, one connection at a time, and
/// compares with [`Variant::expected`]; reports all differences at once.
fn assert_ground_truth(variant: Variant, server: &mut Server) {
    let addr = server.addr();
    let mut diffs = Vec::new();
    for (requested, expected) in REQUESTS.iter().zip(variant.expected()) {
        let got = x224::negotiate(addr, *requested);
        if got != expected {
            diffs.push(format!(
                "  requested 0x{requested:x}: expected {expected:?}, got {got:?}"
            ));
        }
    }
    server.assert_running();
    assert!(
        diffs.is_empty(),
        "{} at {addr} disagrees with the ground truth:\n{}\n{}",
        variant.name(),
        diffs.join("\n"),
        server.log_tail()
    );
}

fn variant_test(variant: Variant) {
    let started = Instant::now();
    let mut server = variant.start(TAG);
    let up = started.elapsed();
    assert_ground_truth(variant, &mut server);
    eprintln!(
        "{}: started in {up:?}, checked in {:?}",
        variant.name(),
        started.elapsed() - up
    );
}

#[test]
fn xrdp_negotiate_ground_truth() {
    variant_test(Variant::XrdpNegotiate);
}

#[test]
fn xrdp_tls_ground_truth() {
    variant_test(Variant::XrdpTls);
}

#[test]
fn xrdp_rdp_ground_truth() {
    variant_test(Variant::XrdpRdp);
}

#[test]
fn shadow_nla_ground_truth() {
    variant_test(Variant::ShadowNla);
}

#[test]
fn shadow_all_layers_ground_truth() {
    variant_test(Variant::ShadowAll);
}

#[test]
fn shadow_tls_ground_truth() {
    variant_test(Variant::ShadowTls);
}

#[test]
fn shadow_rdp_ground_truth() {
    variant_test(Variant::ShadowRdp);
}

#[test]
fn shadow_default_ground_truth() {
    variant_test(Variant::ShadowDefault);
}

/// Connects to `addr`, sets `read_timeout` on the socket and sends one X.224 Connection
/// Request for `requested`; the caller reads the answer.
fn send_connection_request(
    addr: SocketAddrV4,
    requested: u32,
    read_timeout: Duration,
) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(read_timeout))
        .expect("timeout");
    stream
        .write_all(&x224::connection_request(requested))
        .expect("send");
    stream
}

/// [`send_connection_request`] (10 s read timeout), then reads the Connection Confirm and
/// checks that it selects `protocol`; returns the stream, ready for TLS.
fn negotiate_selecting(addr: SocketAddrV4, requested: u32, protocol: u32) -> TcpStream {
    let mut stream = send_connection_request(addr, requested, Duration::from_secs(10));
    let confirm =
        x224::parse_confirm(&x224::read_tpkt(&mut stream).expect("confirm")).expect("decode");
    assert!(
        matches!(confirm, Confirm::Selected { protocol: p, .. } if p == protocol),
        "{confirm:?}"
    );
    stream
}

/// After an RDP_NEG_FAILURE the shadow server keeps the connection open (a scanner must decide
/// from the failure itself); the confirm is the 19-byte form of MS-RDPBCGR 2.2.1.2.
#[test]
fn shadow_keeps_connection_open_after_failure() {
    let server = Variant::ShadowNla.start(TAG);
    let mut stream = send_connection_request(
        server.addr(),
        x224::PROTOCOL_RDP,
        Duration::from_millis(500),
    );
    let pdu = x224::read_tpkt(&mut stream).expect("confirm");
    assert_eq!(
        x224::hex(&pdu),
        "03 00 00 13 0e d0 00 00 00 00 00 03 00 08 00 05 00 00 00",
        "{}",
        server.log_tail()
    );
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("expected the shadow server to keep the connection open, got {other:?}"),
    }
}

/// A TLS client that accepts anything (TLS 1.0 and SECLEVEL 0 included), after an X.224
/// exchange that must select `PROTOCOL_SSL`. Returns (negotiated version, leaf certificate).
fn tls_after_x224(addr: SocketAddrV4) -> (String, X509) {
    let stream = negotiate_selecting(addr, PROTOCOL_SSL, PROTOCOL_SSL);
    let ssl = tls_connect(stream);
    let version = ssl.ssl().version_str().to_string();
    let cert = ssl
        .ssl()
        .peer_certificate()
        .expect("the server sent no certificate");
    (version, cert)
}

fn tls_connect(stream: TcpStream) -> openssl::ssl::SslStream<TcpStream> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).expect("ssl");
    builder.set_verify(SslVerifyMode::NONE);
    builder.set_security_level(0);
    builder
        .set_cipher_list("ALL:@SECLEVEL=0")
        .expect("cipher list");
    builder
        .set_min_proto_version(Some(SslVersion::TLS1))
        .expect("min version");
    let connector = builder.build();
    let config = connector
        .configure()
        .expect("configure")
        .verify_hostname(false)
        .use_server_name_indication(false);
    config
        .connect("rdp", stream)
        .unwrap_or_else(|e| panic!("TLS handshake failed: {e}"))
}

fn sha256_colon(cert: &X509) -> String {
    let digest = cert.digest(MessageDigest::sha256()).expect("digest");
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn xrdp_serves_given_certificate_and_tls_versions() {
    let certs = Certs::new();
    let good = certs.ca_signed("xrdp.rdpsweep.test", None);
    let weak = certs.weak("weak.rdpsweep.test");

    let mut modern = XrdpOptions::new(endpoint(TAG), "tls");
    modern.certificate = Some(good.clone());
    let mut legacy = XrdpOptions::new(endpoint(TAG), "negotiate");
    legacy.certificate = Some(weak.clone());
    legacy.ssl_protocols = Some("TLSv1".to_string());
    let (modern, legacy) = std::thread::scope(|s| {
        let a = s.spawn(|| Xrdp::start(modern));
        let b = s.spawn(|| Xrdp::start(legacy));
        (a.join().expect("xrdp tls"), b.join().expect("xrdp TLSv1"))
    });

    let (version, cert) = tls_after_x224(modern.addr());
    assert_eq!(version, "TLSv1.3", "{}", modern.log_tail());
    assert_eq!(sha256_colon(&cert), good.sha256);
    assert!(
        modern
            .ini()
            .contains(&format!("certificate={}", good.cert.display()))
    );

    let (version, cert) = tls_after_x224(legacy.addr());
    assert_eq!(version, "TLSv1", "{}\n{}", legacy.ini(), legacy.log_tail());
    assert_eq!(sha256_colon(&cert), weak.sha256);
    assert_eq!(cert.public_key().expect("key").bits(), 1024);
    assert!(
        legacy.ini().contains("tls_ciphers=DEFAULT:@SECLEVEL=0"),
        "{}",
        legacy.ini()
    );
}

/// What mstsc on Windows 10 sends first inside TLS: TSRequest version 6 with a raw NTLM
/// NEGOTIATE (captured bytes, see /work/shared/fixtures/windows-10-client-tsrequest-negotiate.hex).
const WINDOWS_10_TSREQUEST_NEGOTIATE: [u8; 57] = [
    0x30, 0x37, 0xa0, 0x03, 0x02, 0x01, 0x06, 0xa1, 0x30, 0x30, 0x2e, 0x30, 0x2c, 0xa0, 0x2a, 0x04,
    0x28, 0x4e, 0x54, 0x4c, 0x4d, 0x53, 0x53, 0x50, 0x00, 0x01, 0x00, 0x00, 0x00, 0xb7, 0x82, 0x08,
    0xe2, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x0a, 0x00, 0x61, 0x4a, 0x00, 0x00, 0x00, 0x0f,
];

/// Reads one DER TLV (the server's TSRequest), bounded to 16 KiB.
fn read_der(stream: &mut impl Read) -> Vec<u8> {
    let mut out = vec![0u8; 2];
    stream.read_exact(&mut out).expect("TSRequest header");
    let len = match out[1] {
        n if n < 0x80 => usize::from(n),
        0x81 => {
            let mut b = [0u8; 1];
            stream.read_exact(&mut b).expect("length");
            out.extend_from_slice(&b);
            usize::from(b[0])
        }
        0x82 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b).expect("length");
            out.extend_from_slice(&b);
            usize::from(u16::from_be_bytes(b))
        }
        other => panic!("unexpected DER length byte 0x{other:02x}"),
    };
    assert!(len <= 16 * 1024, "TSRequest of {len} bytes");
    let start = out.len();
    out.resize(start + len, 0);
    stream
        .read_exact(&mut out[start..])
        .expect("TSRequest body");
    out
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The NLA shadow server answers the first CredSSP leg with TSRequest version 6 and an NTLM
/// CHALLENGE naming the host name given through `unshare --uts`, and serves the given
/// certificate.
#[test]
fn shadow_hostname_certificate_and_credssp_first_leg() {
    let certs = Certs::new();
    let cert = certs.self_signed("shadow.rdpsweep.test");
    let mut opts = ShadowOptions::new(endpoint(TAG), "nla");
    opts.hostname = Some("RDPSWEEP-SHADOW".to_string());
    opts.certificate = Some(cert.clone());
    opts.sam = Some(("alice".into(), "EXAMPLE".into(), "Passw0rd!".into()));
    let server = FreerdpShadow::start(opts);

    let stream = negotiate_selecting(
        server.addr(),
        PROTOCOL_SSL | PROTOCOL_HYBRID,
        PROTOCOL_HYBRID,
    );
    let mut tls = tls_connect(stream);
    assert_eq!(
        sha256_colon(tls.ssl().peer_certificate().as_ref().expect("cert")),
        cert.sha256
    );
    tls.write_all(&WINDOWS_10_TSREQUEST_NEGOTIATE)
        .expect("send TSRequest");
    let reply = read_der(&mut tls);
    assert_eq!(reply[0], 0x30, "not a SEQUENCE: {}", x224::hex(&reply));
    assert!(
        contains(&reply, &[0xa0, 0x03, 0x02, 0x01, 0x06]),
        "TSRequest version is not 6: {}",
        x224::hex(&reply)
    );
    assert!(
        contains(&reply, b"NTLMSSP\0\x02\0\0\0"),
        "no NTLM CHALLENGE: {}",
        x224::hex(&reply)
    );
    assert!(
        contains(&reply, &utf16le("RDPSWEEP-SHADOW")),
        "the CHALLENGE does not name RDPSWEEP-SHADOW: {}\n{}",
        x224::hex(&reply),
        server.log_tail()
    );
}

#[test]
fn shadow_generated_certificate_is_read_back() {
    let server = FreerdpShadow::start(ShadowOptions::new(endpoint(TAG), "tls"));
    let (_, cert) = tls_after_x224(server.addr());
    assert_eq!(
        sha256_colon(&cert),
        server.certificate().sha256,
        "{}",
        server.log_tail()
    );
}

#[test]
fn servers_stop_on_drop() {
    let servers = start_all(&[Variant::XrdpNegotiate, Variant::ShadowAll], TAG);
    let addrs: Vec<SocketAddrV4> = servers.iter().map(Server::addr).collect();
    for addr in &addrs {
        assert!(is_listening(*addr), "{addr} does not listen");
    }
    drop(servers);
    for addr in addrs {
        assert!(!is_listening(addr), "{addr} still listens after drop");
        let err = TcpStream::connect(addr).expect_err("connected to a stopped server");
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{addr}: {err}"
        );
    }
}

#[test]
fn start_failure_panics_with_the_server_log() {
    let addr = endpoint(TAG);
    let _squatter = std::net::TcpListener::bind(addr).expect("bind");
    let result = catch_unwind(AssertUnwindSafe(|| {
        Xrdp::start(XrdpOptions::new(addr, "negotiate"))
    }));
    let err = result.expect_err("xrdp started on a taken port");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("xrdp exited"), "{msg}");
    assert!(
        msg.contains("trans_listen_address failed"),
        "no log tail in: {msg}"
    );
}

#[test]
fn certificates_have_the_promised_properties() {
    let certs = Certs::new();
    let ip = loopback(TAG);
    let load = |pair: &CertPair| X509::from_pem(&pair.cert_pem()).expect("PEM");
    let ca = X509::from_pem(&std::fs::read(certs.ca_cert()).expect("ca")).expect("ca PEM");
    let cn = |c: &X509| {
        c.subject_name()
            .entries_by_nid(Nid::COMMONNAME)
            .next()
            .and_then(|e| e.data().to_string().ok())
    };
    let fingerprints_match = |pair: &CertPair, c: &X509| {
        assert_eq!(sha256_colon(c), pair.sha256);
        let sha1: String = c
            .digest(MessageDigest::sha1())
            .expect("sha1")
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(sha1, pair.sha1);
    };

    let good = certs.ca_signed("good.rdpsweep.test", Some(ip));
    let c = load(&good);
    fingerprints_match(&good, &c);
    assert_eq!(cn(&c).as_deref(), Some("good.rdpsweep.test"));
    assert!(
        c.verify(&ca.public_key().expect("ca key")).expect("verify"),
        "not signed by the test CA"
    );
    let sans: Vec<String> = c
        .subject_alt_names()
        .expect("SANs")
        .iter()
        .map(|n| {
            n.dnsname()
                .map(str::to_string)
                .or_else(|| n.ipaddress().map(|b| format!("{b:?}")))
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        sans,
        vec![
            "good.rdpsweep.test".to_string(),
            format!("{:?}", ip.octets())
        ]
    );
    let now = openssl::asn1::Asn1Time::days_from_now(0).expect("now");
    assert!(c.not_after() > now && c.not_before() <= now);
    assert_eq!(good.ca.as_deref(), Some(certs.ca_cert().as_path()));

    let other = certs.other_host("other.rdpsweep.test");
    assert_eq!(cn(&load(&other)).as_deref(), Some("other.rdpsweep.test"));

    let selfs = certs.self_signed("self.rdpsweep.test");
    let c = load(&selfs);
    fingerprints_match(&selfs, &c);
    assert!(
        c.verify(&c.public_key().expect("key")).expect("verify"),
        "not self-signed"
    );
    assert!(selfs.ca.is_none());

    for expired in [
        certs.expired("old.rdpsweep.test"),
        certs.expired_ca_signed("old-ca.rdpsweep.test"),
    ] {
        let c = load(&expired);
        fingerprints_match(&expired, &c);
        assert_eq!(c.not_before().to_string(), "Jan  1 00:00:00 2020 GMT");
        assert_eq!(c.not_after().to_string(), "Jan  1 00:00:00 2021 GMT");
        let signer = if expired.ca.is_some() { &ca } else { &c };
        assert!(
            c.verify(&signer.public_key().expect("key"))
                .expect("verify")
        );
    }

    let weak = certs.weak("weak.rdpsweep.test");
    let c = load(&weak);
    fingerprints_match(&weak, &c);
    assert!(weak.weak);
    assert_eq!(c.public_key().expect("key").bits(), 1024);
    assert_eq!(
        c.signature_algorithm().object().nid(),
        Nid::SHA1WITHRSAENCRYPTION
    );
}

#[test]
fn nt_hash_known_answers() {
    // NTOWFv1 of "Password" is the classic a4f49c40...; "Passw0rd!" checked with
    // `openssl dgst -md4 -provider legacy` on its UTF-16LE bytes.
    assert_eq!(
        shadow::nt_hash("Password"),
        "a4f49c406510bdcab6824ee7c30fd852"
    );
    assert_eq!(
        shadow::nt_hash("Passw0rd!"),
        "fc525c9683e8fe067095ba2ddc971889"
    );
    assert_eq!(
        shadow::sam_line("alice", "EXAMPLE", "Password"),
        "alice:EXAMPLE::a4f49c406510bdcab6824ee7c30fd852:::"
    );
}

#[test]
fn fake_listeners_and_closed_ports() {
    let http = FakeListener::http_400(TAG);
    let mut stream = send_connection_request(http.addr(), PROTOCOL_SSL, Duration::from_secs(5));
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    assert_eq!(answer, net::HTTP_400);
    assert_eq!(http.accepted(), 1);

    let silent = FakeListener::silent(TAG);
    let mut stream =
        send_connection_request(silent.addr(), PROTOCOL_SSL, Duration::from_millis(300));
    let err = stream
        .read(&mut [0u8; 16])
        .expect_err("the silent listener answered");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );

    let closed = closed_port(TAG);
    let err = TcpStream::connect(closed).expect_err("a closed port accepted");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn loopback_addresses_are_unique_and_in_127_8() {
    let addrs: Vec<_> = (0..50).map(|_| loopback(TAG)).collect();
    let mut unique = addrs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), addrs.len());
    for a in addrs {
        assert!(
            a.is_loopback() && a.octets()[1] == TAG && a != std::net::Ipv4Addr::LOCALHOST,
            "{a}"
        );
    }
}

#[test]
fn proc_net_tcp_sees_listeners() {
    let addr = endpoint(TAG);
    assert!(!is_listening(addr));
    let listener = std::net::TcpListener::bind(addr).expect("bind");
    assert!(is_listening(addr));
    drop(listener);
    assert!(!is_listening(addr));
}
