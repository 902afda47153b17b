//! The TLS stage against real xrdp servers on loopback (issue 3): versions, the legacy
//! (OpenSSL) handshake on a TLS 1.0-only host, certificate findings, fingerprints equal to
//! `openssl x509 -fingerprint`, and `--ca-file` trust; TLS versions of FreeRDP shadow servers
//! (NLA required and TLS only) in both `--tls-versions` modes.
//!
//! Host-name cases scan `localhost` (resolved by the system; `--resolve all` and the record for
//! 127.0.0.1 are used, so a resolver that also returns ::1 changes nothing) against an xrdp on
//! 127.0.0.1. Everything binds and connects to 127.0.0.0/8 only.

mod support;

use std::net::{Ipv4Addr, SocketAddrV4};

use serde_json::{Value, json};
use support::net::free_port;
use support::*;

/// This binary's loopback tag (see `support::net::loopback`).
const TAG: u8 = 30;

/// An xrdp on `addr` serving `cert` (security_layer=negotiate), with `ssl_protocols`.
fn xrdp(addr: SocketAddrV4, cert: Option<CertPair>, ssl_protocols: Option<&str>) -> Xrdp {
    let mut opts = XrdpOptions::new(addr, "negotiate");
    opts.certificate = cert;
    opts.ssl_protocols = ssl_protocols.map(str::to_owned);
    Xrdp::start(opts)
}

/// An address on 127.0.0.1 with a free port: `localhost` resolves there.
fn localhost_endpoint() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, free_port(Ipv4Addr::LOCALHOST))
}

/// Scans `targets` with `extra` options and returns the record for `addr`.
fn scan_one(addr: SocketAddrV4, target: &str, extra: &[&str], server: &Xrdp) -> Value {
    scan_record(addr, target, extra, &|| server.log_tail())
}

/// [`scan_one`] for any server: `log_tail` is shown when the record is missing.
fn scan_record(
    addr: SocketAddrV4,
    target: &str,
    extra: &[&str],
    log_tail: &dyn Fn() -> String,
) -> Value {
    let mut args: Vec<String> = vec![
        "--timeout".into(),
        "15s".into(),
        "--resolve".into(),
        "all".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(target.to_owned());
    let (output, records) = scan_jsonl(&args);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    records
        .into_iter()
        .find(|r| r["ip"] == json!(addr.ip().to_string()) && r["port"] == json!(addr.port()))
        .unwrap_or_else(|| panic!("no record for {addr}\n{}\n{}", show(&output), log_tail()))
}

fn finding_ids(record: &Value) -> Vec<String> {
    record["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The TLS and certificate findings only (the security-layer ones are tests/negotiate.rs's).
fn tls_findings(record: &Value) -> Vec<String> {
    let mut ids: Vec<String> = finding_ids(record)
        .into_iter()
        .filter(|id| id.starts_with("cert-") || id.starts_with("tls-"))
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// The certificate section matches the served certificate, fingerprints as
/// `openssl x509 -fingerprint` prints them.
fn assert_certificate(record: &Value, pair: &CertPair) {
    let cert = &record["tls"]["certificate"];
    assert_eq!(cert["sha1"], json!(pair.sha1), "{record:#}");
    assert_eq!(cert["sha256"], json!(pair.sha256), "{record:#}");
    assert_eq!(cert["subject_cn"], json!(pair.name), "{record:#}");
}

#[test]
fn good_ca_signed_certificate_with_tls13_and_ca_file_trust() {
    let certs = Certs::new();
    let pair = certs.ca_signed("localhost", Some(Ipv4Addr::LOCALHOST));
    let addr = localhost_endpoint();
    let server = xrdp(addr, Some(pair.clone()), None);
    let target = format!("localhost:{}", addr.port());
    let ca = certs.ca_cert();
    let ca = ca.to_str().expect("UTF-8 temp path");

    // With --ca-file: trusted, name matches, no TLS finding.
    let r = scan_one(addr, &target, &["--ca-file", ca], &server);
    let tls = &r["tls"];
    assert_eq!(tls["version"], json!("1.3"), "{r:#}");
    assert_eq!(tls["stack"], json!("rustls"), "{r:#}");
    assert!(
        tls["cipher"].as_str().unwrap_or("").starts_with("TLS_AES_"),
        "{r:#}"
    );
    // Default mode: 1.3 from rustls; a hello offering up to 1.2 (on the SSL-only
    // connection) answered with 1.2, one offering up to 1.1 refused by a TLS 1.2+ server
    // (which decides 1.0 too).
    assert_eq!(tls["versions"], json!(["1.2", "1.3"]), "{r:#}");
    assert_eq!(
        tls["versions_probed"],
        json!(["1.0", "1.1", "1.2", "1.3"]),
        "{r:#}"
    );
    assert_eq!(tls["versions_undecided"], json!([]), "{r:#}");
    assert_eq!(tls["trust"]["ca_file"], json!("trusted"), "{r:#}");
    assert_eq!(tls["trust"]["name"], json!("trusted"), "{r:#}");
    assert_eq!(
        tls["trust"]["platform"],
        json!("untrusted: unknown issuer"),
        "{r:#}"
    );
    assert_eq!(tls["certificate"]["self_signed"], json!(false), "{r:#}");
    assert_eq!(tls["certificate"]["key_bits"], json!(2048), "{r:#}");
    assert_eq!(
        tls["certificate"]["issuer"],
        json!("CN=rdpsweep test CA"),
        "{r:#}"
    );
    assert_certificate(&r, &pair);
    assert_eq!(tls_findings(&r), Vec::<String>::new(), "{r:#}");
    // The three negotiation probes and one hello connection, nothing more.
    assert_eq!(r["connections"], json!(4), "{r:#}");

    // Without --ca-file: untrusted.
    let r = scan_one(addr, &target, &[], &server);
    assert_eq!(r["tls"]["trust"]["ca_file"], Value::Null, "{r:#}");
    assert_eq!(tls_findings(&r), sorted(&["cert-untrusted"]), "{r:#}");

    // --tls-versions all decides 1.2 as well, with one more connection.
    let r = scan_one(
        addr,
        &target,
        &["--tls-versions", "all", "--ca-file", ca],
        &server,
    );
    assert_eq!(r["tls"]["versions"], json!(["1.2", "1.3"]), "{r:#}");
    assert_eq!(
        r["tls"]["versions_probed"],
        json!(["1.0", "1.1", "1.2", "1.3"]),
        "{r:#}"
    );
    assert_eq!(r["connections"], json!(4), "{r:#}");
}

#[test]
fn tls10_only_host_yields_its_certificate_and_a_legacy_handshake() {
    let addr = endpoint(TAG);
    let server = xrdp(addr, None, Some("TLSv1"));
    let r = scan_one(addr, &addr.to_string(), &[], &server);
    let tls = &r["tls"];
    assert_eq!(tls["stack"], json!("openssl"), "{r:#}");
    assert_eq!(tls["version"], json!("1.0"), "{r:#}");
    assert!(
        tls["cipher"]
            .as_str()
            .is_some_and(|c| c.starts_with("TLS_")),
        "{r:#}"
    );
    assert_eq!(tls["versions"], json!(["1.0"]), "{r:#}");
    assert_eq!(
        tls["versions_probed"],
        json!(["1.0", "1.1", "1.2", "1.3"]),
        "{r:#}"
    );
    assert_eq!(tls["error"], Value::Null, "{r:#}");
    assert_certificate(&r, server.certificate());
    let ids = tls_findings(&r);
    for id in [
        "tls-deprecated-version",
        "cert-self-signed",
        "cert-untrusted",
    ] {
        assert!(ids.contains(&id.to_owned()), "{id} missing: {r:#}");
    }
    // A, B (carrying the version hello), C, and the OpenSSL connection: the issue-6 budget.
    assert_eq!(r["connections"], json!(4), "{r:#}");
}

/// One scan of [`freerdp_servers_refuse_tls10_and_tls11_with_internal_error`] and its record.
struct Expect<'a> {
    server: &'a FreerdpShadow,
    /// Extra scan options (the `--tls-versions` mode).
    extra: &'a [&'a str],
    versions: &'a [&'a str],
    probed: &'a [&'a str],
    connections: u32,
}

impl<'a> Expect<'a> {
    fn new(
        server: &'a FreerdpShadow,
        extra: &'a [&'a str],
        versions: &'a [&'a str],
        probed: &'a [&'a str],
        connections: u32,
    ) -> Self {
        Self {
            server,
            extra,
            versions,
            probed,
            connections,
        }
    }
}

/// A FreeRDP shadow server: OpenSSL 3.0 with TLS 1.0 allowed but security level 1, so it
/// answers a hello capped at TLS 1.1 or 1.0 with an internal_error alert (no signature algorithm
/// for those versions), which refuses them next to the TLS 1.3 rustls completed.
///
/// NLA required (`/sec:nla`): the SSL-only request B is refused with HYBRID_REQUIRED_BY_SERVER,
/// so the hellos ride extra connections with the mstsc-like request (the server selects HYBRID
/// and the TLS handshake starts). TLS allowed (`/sec:tls`): B carries the first hello.
#[test]
fn freerdp_servers_refuse_tls10_and_tls11_with_internal_error() {
    let nla = FreerdpShadow::start(ShadowOptions::new(endpoint(TAG), "nla"));
    let tls_only = FreerdpShadow::start(ShadowOptions::new(endpoint(TAG), "tls"));
    let scan = |server: &FreerdpShadow, extra: &[&str]| {
        scan_record(server.addr(), &server.target(), extra, &|| {
            server.log_tail()
        })
    };
    const DEFAULT: &[&str] = &[];
    const QUICK: &[&str] = &["--tls-versions", "quick"];
    let cases = [
        // A rustls 1.3 + CredSSP, B refused (so no RDP-only request), C hello <=1.2: 1.2,
        // D hello <=1.1: internal_error (decides 1.0 too).
        Expect::new(
            &nla,
            DEFAULT,
            &["1.2", "1.3"],
            &["1.0", "1.1", "1.2", "1.3"],
            4,
        ),
        // A, B refused, C hello <=1.1: internal_error. 1.2 stays undecided.
        Expect::new(&nla, QUICK, &["1.3"], &["1.0", "1.1", "1.3"], 3),
        // A rustls 1.3, B hello <=1.2: 1.2, C refused, D hello <=1.1: internal_error.
        Expect::new(
            &tls_only,
            DEFAULT,
            &["1.2", "1.3"],
            &["1.0", "1.1", "1.2", "1.3"],
            4,
        ),
        // A rustls 1.3, B hello <=1.1: internal_error, C refused.
        Expect::new(&tls_only, QUICK, &["1.3"], &["1.0", "1.1", "1.3"], 3),
    ];
    for Expect {
        server,
        extra,
        versions,
        probed,
        connections,
    } in cases
    {
        let r = scan(server, extra);
        let tls = &r["tls"];
        assert_eq!(tls["stack"], json!("rustls"), "{r:#}");
        assert_eq!(tls["version"], json!("1.3"), "{r:#}");
        assert_eq!(tls["versions"], json!(versions), "{extra:?} {r:#}");
        assert_eq!(tls["versions_probed"], json!(probed), "{extra:?} {r:#}");
        assert_eq!(r["connections"], json!(connections), "{extra:?} {r:#}");
        assert_eq!(tls["error"], Value::Null, "{r:#}");
        assert!(
            !tls_findings(&r).contains(&"tls-deprecated-version".to_owned()),
            "{r:#}"
        );
        if std::ptr::eq(server, &nla) {
            // NLA required, and CredSSP still ran on A's session.
            assert_eq!(r["security"]["nla"], json!("required"), "{r:#}");
            assert_eq!(r["credssp"]["version"], json!(6), "{r:#}");
        }
    }
}

#[test]
fn expired_certificate() {
    let certs = Certs::new();
    let pair = certs.expired("expired.test");
    let addr = endpoint(TAG);
    let server = xrdp(addr, Some(pair.clone()), None);
    let r = scan_one(addr, &addr.to_string(), &[], &server);
    let cert = &r["tls"]["certificate"];
    assert_eq!(cert["not_before"], json!("2020-01-01T00:00:00Z"), "{r:#}");
    assert_eq!(cert["not_after"], json!("2021-01-01T00:00:00Z"), "{r:#}");
    assert!(
        cert["days_left"].as_i64().is_some_and(|d| d < -365),
        "{r:#}"
    );
    assert_certificate(&r, &pair);
    assert_eq!(
        tls_findings(&r),
        sorted(&["cert-expired", "cert-self-signed", "cert-untrusted"]),
        "{r:#}"
    );
    let expired = r["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == json!("cert-expired")))
        .cloned()
        .unwrap_or_default();
    assert_eq!(expired["severity"], json!("high"), "{r:#}");

    // An expired CA-signed certificate with --ca-file: the CA verdict names the date.
    let pair = certs.expired_ca_signed("expired-ca.test");
    let addr = endpoint(TAG);
    let server = xrdp(addr, Some(pair), None);
    let ca = certs.ca_cert();
    let r = scan_one(
        addr,
        &addr.to_string(),
        &["--ca-file", ca.to_str().unwrap()],
        &server,
    );
    assert_eq!(
        r["tls"]["trust"]["ca_file"],
        json!("untrusted: expired"),
        "{r:#}"
    );
    assert_eq!(
        tls_findings(&r),
        sorted(&["cert-expired", "cert-untrusted"]),
        "{r:#}"
    );
}

#[test]
fn certificate_for_another_host_name() {
    let certs = Certs::new();
    let pair = certs.other_host("other.test");
    let addr = localhost_endpoint();
    let server = xrdp(addr, Some(pair.clone()), None);
    let ca = certs.ca_cert();
    let target = format!("localhost:{}", addr.port());
    let r = scan_one(addr, &target, &["--ca-file", ca.to_str().unwrap()], &server);
    assert_eq!(tls_findings(&r), sorted(&["cert-name-mismatch"]), "{r:#}");
    assert_eq!(r["tls"]["trust"]["ca_file"], json!("trusted"), "{r:#}");
    let name = r["tls"]["trust"]["name"].as_str().unwrap_or_default();
    assert!(
        name.starts_with("untrusted: name mismatch: localhost"),
        "{r:#}"
    );
    assert!(name.contains("other.test"), "{r:#}");
    assert_certificate(&r, &pair);

    // Scanned by address, a certificate without IP SANs gets an `untrusted` name verdict but no
    // cert-name-mismatch finding (addresses are scanned in ranges; names are what users type).
    let r = scan_one(
        addr,
        &addr.to_string(),
        &["--ca-file", ca.to_str().unwrap()],
        &server,
    );
    assert_eq!(tls_findings(&r), Vec::<String>::new(), "{r:#}");
    assert!(
        r["tls"]["trust"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("untrusted: name mismatch: 127.0.0.1")),
        "{r:#}"
    );
}

#[test]
fn weak_rsa1024_sha1_certificate_with_tls10_to_12() {
    let certs = Certs::new();
    let pair = certs.weak("weak.test");
    let addr = endpoint(TAG);
    let server = xrdp(addr, Some(pair.clone()), Some("TLSv1, TLSv1.1, TLSv1.2"));
    let r = scan_one(addr, &addr.to_string(), &[], &server);
    let tls = &r["tls"];
    assert_eq!(tls["stack"], json!("rustls"), "{r:#}");
    assert_eq!(tls["version"], json!("1.2"), "{r:#}");
    // rustls: 1.2 (so 1.3 refused); the 1.1 hello: 1.1 accepted; the 1.0 hello: 1.0.
    assert_eq!(tls["versions"], json!(["1.0", "1.1", "1.2"]), "{r:#}");
    assert_eq!(
        tls["versions_probed"],
        json!(["1.0", "1.1", "1.2", "1.3"]),
        "{r:#}"
    );
    let cert = &tls["certificate"];
    assert_eq!(cert["key_type"], json!("RSA"), "{r:#}");
    assert_eq!(cert["key_bits"], json!(1024), "{r:#}");
    assert_eq!(
        cert["signature_algorithm"],
        json!("sha1WithRSAEncryption"),
        "{r:#}"
    );
    assert_eq!(cert["self_signed"], json!(true), "{r:#}");
    assert_certificate(&r, &pair);
    assert_eq!(
        tls_findings(&r),
        sorted(&[
            "cert-self-signed",
            "cert-untrusted",
            "cert-weak-key",
            "cert-weak-signature",
            "tls-deprecated-version"
        ]),
        "{r:#}"
    );

    // Every version decided: 1.0, 1.1 and 1.2 accepted.
    let r = scan_one(addr, &addr.to_string(), &["--tls-versions", "all"], &server);
    assert_eq!(r["tls"]["versions"], json!(["1.0", "1.1", "1.2"]), "{r:#}");
    assert_eq!(
        r["tls"]["versions_probed"],
        json!(["1.0", "1.1", "1.2", "1.3"]),
        "{r:#}"
    );
}

#[test]
fn csv_carries_the_tls_columns() {
    let certs = Certs::new();
    let pair = certs.weak("csv.test");
    let addr = endpoint(TAG);
    let server = xrdp(addr, Some(pair.clone()), Some("TLSv1"));
    let dir = tempfile::tempdir().expect("temp dir");
    let csv_path = dir.path().join("out.csv");
    let output = rdpsweep([
        "scan",
        "--timeout",
        "15s",
        "--no-progress",
        "-o",
        csv_path.to_str().unwrap(),
        &addr.to_string(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        show(&output),
        server.log_tail()
    );
    let text = std::fs::read_to_string(&csv_path).expect("CSV written");
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().expect("header").clone();
    let row = reader
        .records()
        .next()
        .expect("one row")
        .expect("valid row");
    let col = |name: &str| {
        let i = headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {headers:?}"));
        row.get(i).unwrap_or_default().to_owned()
    };
    assert_eq!(col("tls_version"), "TLS1.0", "{text}");
    assert_eq!(col("tls_versions"), "TLS1.0", "{text}");
    assert_eq!(col("tls_stack"), "openssl", "{text}");
    assert_eq!(col("cert_subject_cn"), "csv.test", "{text}");
    assert_eq!(col("cert_self_signed"), "yes", "{text}");
    assert_eq!(col("cert_trusted"), "no", "{text}");
    assert_eq!(col("cert_sha1"), pair.sha1, "{text}");
    assert_eq!(col("cert_key_bits"), "1024", "{text}");
    assert!(
        col("cert_days_left").parse::<i64>().is_ok_and(|d| d > 300),
        "{text}"
    );
    assert!(col("findings").contains("tls-deprecated-version"), "{text}");
    // The TLS columns come after the foundation's, in this order.
    let names: Vec<&str> = headers.iter().collect();
    let at = names
        .iter()
        .position(|n| *n == "elapsed_ms")
        .expect("elapsed_ms column");
    assert_eq!(
        &names[at + 1..at + 5],
        &["tls_version", "tls_versions", "tls_cipher", "tls_stack"]
    );
}

/// A peer that confirms PROTOCOL_SSL to every Connection Request and then says nothing: the
/// TLS stage gives up after its share of `--timeout`, and the plan's other connections still
/// run.
#[test]
fn stalling_tls_server_does_not_starve_the_plan() {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    let addr = endpoint(TAG);
    let listener = TcpListener::bind(addr).expect("bind loopback");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { return };
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            // X.224 Connection Confirm, RDP_NEG_RSP selecting PROTOCOL_SSL.
            let _ = s.write_all(&[
                0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x01, 0x08,
                0x00, 0x01, 0x00, 0x00, 0x00,
            ]);
            held.push(s);
        }
    });
    let started = Instant::now();
    let (output, records) = scan_jsonl(["--timeout", "8s", &addr.to_string()]);
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let r = records.first().expect("one record");
    assert_eq!(
        r["security"]["probes"].as_array().map(Vec::len),
        Some(3),
        "{r:#}"
    );
    assert!(
        r["tls"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "{r:#}"
    );
    assert_eq!(r["tls"]["versions"], json!([]), "{r:#}");
    // One stalled TLS stage of 2 s (a quarter of --timeout): a stalled handshake ends the
    // version hellos, so the scan does not spend a stage deadline per TLS version.
    assert_eq!(r["connections"], json!(3), "{r:#}");
    assert_eq!(r["tls"]["versions_probed"], json!([]), "{r:#}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
}
