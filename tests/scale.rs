//! Scale properties through the CLI, against loopback servers only:
//!
//! - the results do not depend on `--concurrency` and `--connect-concurrency` (every split
//!   gives the same JSONL, apart from `elapsed_ms`), against in-test RDP listeners that answer real X.224 Connection
//!   Confirms with varied selected protocols, failure codes and legacy replies, plus closed
//!   ports;
//! - `--shard I/N` splits a range into disjoint parts whose union is the unsharded scan;
//! - a low open-file limit shrinks the scan's concurrencies instead of losing endpoints, and
//!   a low soft limit is raised to the hard limit.
//!
//! These are correctness tests; there is no timing assertion here (the benchmark lives in
//! `bench/`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn rdpsweep(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rdpsweep"))
        .args(args)
        .output()
        .expect("the rdpsweep binary runs")
}

fn ok_stdout(out: Output, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

// ---------------------------------------------------------------------------------------------
// In-test RDP listeners (MS-RDPBCGR 2.2.1.2 X.224 Connection Confirm)

/// requestedProtocols bits (MS-RDPBCGR 2.2.1.1.1).
const SSL: u32 = 0x1;
const HYBRID: u32 = 0x2;
const HYBRID_EX: u32 = 0x8;

/// How a fake server answers a Connection Request carrying `requestedProtocols`.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Selects CredSSP (HYBRID_EX when offered, like Windows) and refuses anything else with
    /// HYBRID_REQUIRED_BY_SERVER (5).
    NlaRequired,
    /// Prefers CredSSP, then TLS, then Standard RDP Security.
    NlaPreferred,
    /// Like xrdp with security_layer=negotiate: TLS when offered, else Standard RDP Security.
    TlsOrRdp,
    /// TLS only: plain requests get SSL_REQUIRED_BY_SERVER (1).
    TlsRequired,
    /// Standard RDP Security only: requests for TLS get SSL_NOT_ALLOWED_BY_SERVER (2).
    RdpOnly,
    /// A pre-negotiation server (Windows 2000/XP/2003): a confirm without RDP_NEG data.
    Legacy,
    /// Refuses everything with a failure code the spec does not define (0x63).
    UnknownFailure,
}

const BEHAVIOURS: [Behaviour; 7] = [
    Behaviour::NlaRequired,
    Behaviour::NlaPreferred,
    Behaviour::TlsOrRdp,
    Behaviour::TlsRequired,
    Behaviour::RdpOnly,
    Behaviour::Legacy,
    Behaviour::UnknownFailure,
];

/// TPKT + X.224 Connection Confirm + RDP_NEG_RSP selecting `selected`.
fn neg_rsp(flags: u8, selected: u32) -> Vec<u8> {
    let mut v = vec![
        0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, flags, 0x08, 0x00,
    ];
    v.extend_from_slice(&selected.to_le_bytes());
    v
}

/// TPKT + X.224 Connection Confirm + RDP_NEG_FAILURE with `code`.
fn neg_failure(code: u32) -> Vec<u8> {
    let mut v = vec![
        0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x03, 0x00, 0x08, 0x00,
    ];
    v.extend_from_slice(&code.to_le_bytes());
    v
}

fn answer(behaviour: Behaviour, requested: u32) -> Vec<u8> {
    let credssp = requested & (HYBRID | HYBRID_EX) != 0;
    let ssl = requested & SSL != 0;
    match behaviour {
        Behaviour::NlaRequired if requested & HYBRID_EX != 0 => neg_rsp(0x1f, HYBRID_EX),
        Behaviour::NlaRequired if credssp => neg_rsp(0x1f, HYBRID),
        Behaviour::NlaRequired => neg_failure(5),
        Behaviour::NlaPreferred if credssp => neg_rsp(0x01, HYBRID),
        Behaviour::NlaPreferred | Behaviour::TlsOrRdp if ssl => neg_rsp(0x01, SSL),
        Behaviour::NlaPreferred | Behaviour::TlsOrRdp => neg_rsp(0x01, 0),
        Behaviour::TlsRequired if ssl => neg_rsp(0x00, SSL),
        Behaviour::TlsRequired => neg_failure(1),
        Behaviour::RdpOnly if requested != 0 => neg_failure(2),
        Behaviour::RdpOnly => neg_rsp(0x00, 0),
        Behaviour::Legacy => vec![
            0x03, 0x00, 0x00, 0x0b, 0x06, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00,
        ],
        Behaviour::UnknownFailure => neg_failure(0x63),
    }
}

/// Reads one TPKT-framed Connection Request and returns its requestedProtocols (0 when it
/// carries no RDP_NEG_REQ), or None when the client sent something else or went away.
async fn read_request(stream: &mut TcpStream) -> Option<u32> {
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await.ok()?;
    if head[0] != 0x03 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    if !(7..=1024).contains(&len) {
        return None;
    }
    let mut body = vec![0u8; len - 4];
    stream.read_exact(&mut body).await.ok()?;
    // RDP_NEG_REQ is the last 8 bytes: type 0x01, flags, length 0x0008, requestedProtocols.
    match body.len().checked_sub(8).and_then(|at| body.get(at..)) {
        Some([0x01, _, 0x08, 0x00, p0, p1, p2, p3]) => {
            Some(u32::from_le_bytes([*p0, *p1, *p2, *p3]))
        }
        _ => Some(0),
    }
}

/// One connection: answer the request, then half-close and drain whatever the client sends
/// next (a TLS ClientHello, an MCS Connect Initial...) until it closes. Draining before the
/// close means the client always sees an orderly end of stream, never a reset that would
/// depend on timing.
async fn serve(mut stream: TcpStream, behaviour: Behaviour) {
    if let Some(requested) = read_request(&mut stream).await {
        let _ = stream.write_all(&answer(behaviour, requested)).await;
    }
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_secs(30), stream.read(&mut sink)).await
    {
        if n == 0 {
            break;
        }
    }
}

/// Starts `per_behaviour` listeners for every behaviour on 127.0.3.x (ephemeral ports) and
/// returns their endpoints with the behaviour each one has.
async fn start_fake_servers(per_behaviour: u8) -> Vec<(SocketAddr, Behaviour)> {
    let mut endpoints = Vec::new();
    let mut host: u8 = 1;
    for behaviour in BEHAVIOURS {
        for _ in 0..per_behaviour {
            let ip = Ipv4Addr::new(127, 0, 3, host);
            host += 1;
            let listener = TcpListener::bind((ip, 0))
                .await
                .unwrap_or_else(|e| panic!("bind a fake RDP server on {ip}: {e}"));
            let addr = listener.local_addr().expect("local address");
            endpoints.push((addr, behaviour));
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, behaviour));
                }
            });
        }
    }
    endpoints
}

/// Loopback ports that refuse connections (bound, then released), one per address.
fn closed_endpoints(count: u8) -> Vec<SocketAddr> {
    (1..=count)
        .map(|h| {
            let l = StdListener::bind((Ipv4Addr::new(127, 0, 3, 200 + h % 50), 0))
                .expect("bind an ephemeral loopback port");
            l.local_addr().expect("local address")
        })
        .collect()
}

/// Removes every `elapsed_ms` (the only field allowed to differ between runs).
fn without_timing(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("elapsed_ms");
            map.values_mut().for_each(without_timing);
        }
        Value::Array(items) => items.iter_mut().for_each(without_timing),
        _ => {}
    }
}

/// JSONL reports keyed by endpoint, without timing.
fn by_endpoint(jsonl: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for line in jsonl.lines() {
        let mut v: Value = serde_json::from_str(line).expect("each line is JSON");
        without_timing(&mut v);
        let key = format!("{}:{}", v["ip"].as_str().expect("ip"), v["port"]);
        assert!(out.insert(key.clone(), v).is_none(), "{key} reported twice");
    }
    out
}

#[test]
fn results_do_not_depend_on_concurrency() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let servers = rt.block_on(start_fake_servers(12));
    let closed = closed_endpoints(40);

    let dir = tempfile::tempdir().expect("tempdir");
    let targets = dir.path().join("targets.txt");
    let mut list = String::new();
    for (addr, _) in &servers {
        list.push_str(&format!("{addr}\n"));
    }
    for addr in &closed {
        list.push_str(&format!("{addr}\n"));
    }
    std::fs::write(&targets, list).expect("write the target list");
    let targets = targets.to_str().expect("utf-8 path");

    // (--connect-concurrency, --concurrency); None: the default.
    let scan = |connect: Option<&str>, concurrency: &str| {
        let mut args = vec![
            "scan",
            "-i",
            targets,
            "--format",
            "jsonl",
            "--concurrency",
            concurrency,
            "--timeout",
            "20s",
        ];
        if let Some(c) = connect {
            args.extend(["--connect-concurrency", c]);
        }
        by_endpoint(&ok_stdout(
            rdpsweep(&args),
            &format!("--connect-concurrency {connect:?} --concurrency {concurrency}"),
        ))
    };
    let one = scan(Some("1"), "1");

    let expected = servers.len() + closed.len();
    assert_eq!(one.len(), expected, "every endpoint is reported once");
    // Every split of the two concurrencies: one pending connect feeding many probe slots,
    // many pending connects (more connected endpoints than slots and waiting room, so some
    // wait with their connection open and some connect again) feeding one slot, the defaults,
    // and the old single knob high.
    for (connect, concurrency) in [
        (Some("1"), "64"),
        (Some("64"), "1"),
        (Some("1000"), "2"),
        (None, "512"),
        (None, "1000"),
    ] {
        let other = scan(connect, concurrency);
        assert_eq!(
            one.keys().collect::<Vec<_>>(),
            other.keys().collect::<Vec<_>>(),
            "the same endpoints at 1/1 and {connect:?}/{concurrency}"
        );
        for (endpoint, report) in &one {
            assert_eq!(
                Some(report),
                other.get(endpoint),
                "{endpoint} differs between 1/1 and {connect:?}/{concurrency}"
            );
        }
    }

    // The scan saw what the servers did (so the equality above is not two empty results).
    for (addr, behaviour) in &servers {
        let r = &one[&format!("{}:{}", addr.ip(), addr.port())];
        assert_eq!(r["status"], "rdp", "{addr} ({behaviour:?}): {r}");
        let nla = r["security"]["nla"].as_str().expect("nla verdict");
        match behaviour {
            Behaviour::NlaRequired => assert_eq!(nla, "required", "{addr}: {r}"),
            Behaviour::TlsOrRdp | Behaviour::RdpOnly | Behaviour::TlsRequired => {
                assert_eq!(nla, "not_supported", "{addr} ({behaviour:?}): {r}");
            }
            _ => {}
        }
        let conns = r["connections"].as_u64().expect("connections");
        assert!(
            (1..=4).contains(&conns),
            "{addr} ({behaviour:?}): {conns} connections"
        );
    }
    for addr in &closed {
        let r = &one[&format!("{}:{}", addr.ip(), addr.port())];
        assert_eq!(r["status"], "closed", "{addr}: {r}");
        assert_eq!(r["connections"], 1, "{addr}: {r}");
    }
    let statuses: BTreeSet<String> = one
        .values()
        .map(|r| {
            format!(
                "{}/{}",
                r["status"].as_str().unwrap_or("?"),
                r["security"]["nla"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert!(statuses.len() >= 3, "too little variety: {statuses:?}");
    drop(rt);
}

/// A port that refuses connections on 127.0.0.1 (bound, then released). The shard tests
/// scan it on a whole /24 of loopback addresses, where nothing listens on it either.
fn closed_port() -> String {
    let l = StdListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    l.local_addr().expect("local address").port().to_string()
}

fn scanned_ips(jsonl: &str) -> Vec<String> {
    jsonl
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("each line is JSON");
            assert_eq!(v["status"], "closed", "{line}");
            v["ip"].as_str().expect("ip").to_owned()
        })
        .collect()
}

fn sharded_scan(port: &str, shard: Option<&str>, seed: &str) -> Vec<String> {
    let mut args = vec![
        "scan",
        "127.0.2.0/24",
        "-p",
        port,
        "--format",
        "jsonl",
        "--seed",
        seed,
    ];
    if let Some(s) = shard {
        args.extend(["--shard", s]);
    }
    scanned_ips(&ok_stdout(rdpsweep(&args), &format!("--shard {shard:?}")))
}

fn check_shards(port: &str, count: usize, seed: &str) {
    let whole: BTreeSet<String> = sharded_scan(port, None, seed).into_iter().collect();
    let expected: BTreeSet<String> = (0..=255).map(|h| format!("127.0.2.{h}")).collect();
    assert_eq!(whole, expected, "the unsharded scan covers the /24");

    let mut union = BTreeSet::new();
    let mut sizes = Vec::new();
    for i in 1..=count {
        let part = sharded_scan(port, Some(&format!("{i}/{count}")), seed);
        let set: BTreeSet<String> = part.iter().cloned().collect();
        assert_eq!(
            set.len(),
            part.len(),
            "shard {i}/{count} repeats an endpoint"
        );
        for ip in &set {
            assert!(
                union.insert(ip.clone()),
                "{ip} is in shard {i}/{count} and in an earlier shard (seed {seed})"
            );
        }
        sizes.push(set.len());
    }
    assert_eq!(union, whole, "the shards together are the whole scan");
    let (min, max) = (
        sizes.iter().min().copied().unwrap_or(0),
        sizes.iter().max().copied().unwrap_or(0),
    );
    assert!(max - min <= 1, "uneven shards {sizes:?}");
}

#[test]
fn shards_are_disjoint_and_cover_the_scan() {
    let port = closed_port();
    check_shards(&port, 4, "0");
    check_shards(&port, 3, "12345");
}

/// `rdpsweep scan 127.0.2.0/24 -p PORT --format jsonl EXTRA...` (a closed port) under the
/// shell limits `ulimit`.
#[cfg(unix)]
fn scan_closed_24_under(ulimit: &str, port: &str, extra: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(r#"{ulimit} && exec "$0" "$@""#))
        .arg(env!("CARGO_BIN_EXE_rdpsweep"))
        .args(["scan", "127.0.2.0/24", "-p", port, "--format", "jsonl"])
        .args(extra)
        .output()
        .expect("sh runs rdpsweep")
}

#[cfg(unix)]
#[test]
fn a_low_open_file_limit_shrinks_concurrency_instead_of_losing_endpoints() {
    let port = closed_port();
    let out = scan_closed_24_under("ulimit -n 100", &port, &["--concurrency", "1000"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains("open-file limit 100 cannot cover --concurrency 1000"),
        "the clamp is announced: {stderr}"
    );
    let stdout = ok_stdout(out, "ulimit -n 100, --concurrency 1000");
    let ips: BTreeSet<String> = scanned_ips(&stdout).into_iter().collect();
    assert_eq!(ips.len(), 256, "every endpoint reported as closed");
}

/// A low soft limit under a higher hard limit is raised at start: no clamp, no warning.
#[cfg(unix)]
#[test]
fn a_low_soft_open_file_limit_is_raised_to_the_hard_limit() {
    let port = closed_port();
    let out = scan_closed_24_under(
        r#"hard=$(ulimit -Hn); { [ "$hard" = unlimited ] || [ "$hard" -ge 3000 ]; } || { echo "the hard open-file limit $hard is below 3,000: this test needs at least 3,000" >&2; exit 77; }; ulimit -Sn 100"#,
        &port,
        &["--concurrency", "1000", "--connect-concurrency", "1000"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(out.status.code(), Some(77), "{stderr}");
    assert!(
        !stderr.contains("open-file limit"),
        "the soft limit 100 was raised, nothing clamped: {stderr}"
    );
    let stdout = ok_stdout(out, "ulimit -Sn 100, --concurrency 1000");
    let ips: BTreeSet<String> = scanned_ips(&stdout).into_iter().collect();
    assert_eq!(ips.len(), 256, "every endpoint reported as closed");
}
