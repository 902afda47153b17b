//! Ground truth of a real client: Debian's FreeRDP client (`freerdp2-x11`, `xfreerdp` 2.11 on
//! OpenSSL 3) against every kind of test server, and why it fails where it fails. The table is
//! asserted row by row, so a change of the test servers or of the client shows here; it is
//! also in docs/compat.md ("How the FreeRDP client is modelled").
//!
//! Each row: one `xfreerdp /v:HOST:PORT /u:testuser /p:Password1! /d:TESTBED +auth-only
//! /cert:ignore` (plus the row's arguments) under Xvfb (`support::xfreerdp`), connecting from
//! another loopback address than 127.0.0.1 unless the row says so (FreeRDP servers switch
//! Standard RDP encryption off for 127.0.0.1). Expected: connected or not, the security it
//! negotiated, the furthest connection state, the Standard RDP encryption method, what the
//! client logs and, where the client's log does not say why, what the server logs.
//!
//! Then the prediction is checked against it: the same servers are scanned by the binary
//! with `--client-profile local` and no `DISPLAY` (as on an SSH jump host), from the client's
//! source address, and every row the model can speak for (the default client: no extra
//! arguments, the right password) must agree: a `local` cell that says ok, warn or exposed
//! must have connected, one that says blocked must have failed; depends and unknown are
//! misses. The test prints `N/N cells agree` and fails on any disagreement or miss.
//!
//! Run with `--nocapture` to see the measured table with the time of each attempt.

mod support;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::xfreerdp::{self, Attempt, Connect, Source, Xfreerdp};
use support::{Certs, FreerdpShadow, Server, ShadowOptions, Xrdp, XrdpOptions, endpoint, loopback};

/// Loopback tag of this test binary (tests/support/net.rs).
const TAG: u8 = 110;

/// The test servers of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// xrdp `security_layer=negotiate`, `crypt_level=high`.
    XrdpNegotiate,
    /// xrdp `security_layer=tls`, `ssl_protocols=TLSv1.2, TLSv1.3` (the packaged default).
    XrdpTls,
    /// xrdp `security_layer=rdp` at this `crypt_level`.
    XrdpRdp(&'static str),
    /// xrdp `tls`, `ssl_protocols=TLSv1`, `tls_ciphers=DEFAULT:@SECLEVEL=0`.
    XrdpTls10,
    /// xrdp `tls`, `ssl_protocols=TLSv1.3`.
    XrdpTls13,
    /// xrdp with `certificate=`/`key_file=` naming files that do not exist, at this
    /// `security_layer`.
    XrdpNoCertificate(&'static str),
    /// FreeRDP shadow server with this `sec` (`ShadowOptions::sec`) and the test account.
    Shadow(&'static str),
}

impl Kind {
    fn label(self) -> String {
        match self {
            Kind::XrdpNegotiate => "xrdp negotiate".into(),
            Kind::XrdpTls => "xrdp tls (TLS 1.2+1.3)".into(),
            Kind::XrdpRdp(level) => format!("xrdp rdp crypt_level={level}"),
            Kind::XrdpTls10 => "xrdp tls, TLS 1.0 only (SECLEVEL=0)".into(),
            Kind::XrdpTls13 => "xrdp tls, TLS 1.3 only".into(),
            Kind::XrdpNoCertificate(layer) => format!("xrdp {layer}, no certificate"),
            Kind::Shadow("default") => "shadow (no /sec)".into(),
            Kind::Shadow("+sec-nla") => "shadow +sec-nla".into(),
            Kind::Shadow(sec) => format!("shadow /sec:{sec}"),
        }
    }

    fn start(self) -> Server {
        let addr = endpoint(TAG);
        match self {
            Kind::XrdpNegotiate => Server::Xrdp(Xrdp::start(XrdpOptions::new(addr, "negotiate"))),
            Kind::XrdpTls => {
                let mut o = XrdpOptions::new(addr, "tls");
                o.ssl_protocols = Some("TLSv1.2, TLSv1.3".into());
                Server::Xrdp(Xrdp::start(o))
            }
            Kind::XrdpRdp(level) => {
                let mut o = XrdpOptions::new(addr, "rdp");
                o.crypt_level = level;
                Server::Xrdp(Xrdp::start(o))
            }
            Kind::XrdpTls10 => {
                let mut o = XrdpOptions::new(addr, "tls");
                o.ssl_protocols = Some("TLSv1".into());
                o.tls_ciphers = Some("DEFAULT:@SECLEVEL=0".into());
                Server::Xrdp(Xrdp::start(o))
            }
            Kind::XrdpTls13 => {
                let mut o = XrdpOptions::new(addr, "tls");
                o.ssl_protocols = Some("TLSv1.3".into());
                Server::Xrdp(Xrdp::start(o))
            }
            Kind::XrdpNoCertificate(layer) => {
                // xrdp checks that both files are readable before it offers TLS
                // (libxrdp/xrdp_iso.c): with `tls` it answers SSL_CERT_NOT_ON_SERVER to every
                // request, with `negotiate` it falls back to Standard RDP Security.
                let pair = Certs::new().self_signed("xrdp-no-certificate");
                for f in [&pair.cert, &pair.key] {
                    std::fs::remove_file(f)
                        .unwrap_or_else(|e| panic!("cannot remove {}: {e}", f.display()));
                }
                let mut o = XrdpOptions::new(addr, layer);
                o.certificate = Some(pair);
                Server::Xrdp(Xrdp::start(o))
            }
            Kind::Shadow(sec) => {
                let mut o = ShadowOptions::new(addr, sec);
                o.sam = xfreerdp::sam();
                Server::Shadow(FreerdpShadow::start(o))
            }
        }
    }
}

/// What a row expects.
#[derive(Debug, Clone, Copy)]
struct Expect {
    connected: bool,
    /// xfreerdp's exit status (`XF_EXIT_CODE`, client/X11/xfreerdp.h): 0 success, 131
    /// CONN_FAILED, 133 NEGO_FAILURE, 143 TLS_CONNECT_FAILED, 147 CONNECT_TRANSPORT_FAILED.
    exit: i32,
    /// `Negotiated X security`.
    negotiated: Option<&'static str>,
    /// The furthest `CONNECTION_STATE_*` (without the prefix).
    reached: &'static str,
    /// Standard RDP Security encryption method.
    encryption: Option<&'static str>,
    /// Substrings of the client's error/warning messages.
    client_says: &'static [&'static str],
    /// A substring of the server's log after the attempt.
    server_says: Option<&'static str>,
}

const CONNECTS: Expect = Expect {
    connected: true,
    exit: 0,
    negotiated: None,
    reached: "ACTIVE",
    // TLS and CredSSP connections: no Standard RDP encryption (MS-RDPBCGR 2.2.1.4.3).
    encryption: Some("NONE"),
    client_says: &[],
    server_says: None,
};

/// One row: a server, the client's extra arguments, and what it does.
struct Row {
    server: Kind,
    extra: &'static [&'static str],
    /// Connect from 127.0.0.1 (the kernel's choice) instead of another loopback address.
    from_localhost: bool,
    /// A wrong password instead of the test account's.
    wrong_password: bool,
    expect: Expect,
}

const fn row(server: Kind, expect: Expect) -> Row {
    Row {
        server,
        extra: &[],
        from_localhost: false,
        wrong_password: false,
        expect,
    }
}

/// xrdp 0.9.21.1-1+deb12u3 (CVE-2026-32105 fix) checks the MAC of Standard RDP Security PDUs
/// and rejects FreeRDP's first encrypted PDU; the client only sees the server hang up.
const XRDP_MAC_REJECTED: &[&str] = &["ERRINFO_LOGOFF_BY_USER"];
const XRDP_MAC_LOG: Option<&str> = Some("MAC checksum error for non-FIPS PDU");

fn table() -> Vec<Row> {
    let tls = Expect {
        negotiated: Some("TLS"),
        ..CONNECTS
    };
    let nla = Expect {
        negotiated: Some("NLA"),
        ..CONNECTS
    };
    let mac_rejected = |encryption| Expect {
        connected: false,
        exit: 131,
        negotiated: Some("RDP"),
        reached: "LICENSING",
        encryption: Some(encryption),
        client_says: XRDP_MAC_REJECTED,
        server_says: XRDP_MAC_LOG,
    };
    vec![
        row(Kind::XrdpNegotiate, tls),
        row(Kind::XrdpTls, tls),
        row(Kind::XrdpRdp("low"), mac_rejected("40BIT")),
        row(Kind::XrdpRdp("medium"), mac_rejected("40BIT")),
        row(Kind::XrdpRdp("high"), mac_rejected("128BIT")),
        row(
            Kind::XrdpRdp("fips"),
            Expect {
                negotiated: Some("RDP"),
                encryption: Some("FIPS"),
                ..CONNECTS
            },
        ),
        row(
            Kind::XrdpTls10,
            Expect {
                connected: false,
                exit: 143,
                negotiated: Some("TLS"),
                reached: "NEGO",
                encryption: None,
                client_says: &["ERRCONNECT_TLS_CONNECT_FAILED"],
                server_says: Some("tlsv1 alert internal error"),
            },
        ),
        Row {
            extra: &["/tls-seclevel:0"],
            ..row(Kind::XrdpTls10, tls)
        },
        row(Kind::XrdpTls13, tls),
        row(
            Kind::XrdpNoCertificate("tls"),
            Expect {
                connected: false,
                exit: 133,
                negotiated: None,
                reached: "NEGO",
                encryption: None,
                client_says: &[
                    "SSL_CERT_NOT_ON_SERVER",
                    "ERRCONNECT_SECURITY_NEGO_CONNECT_FAILED",
                ],
                server_says: Some("certificate or private key file is not readable"),
            },
        ),
        row(Kind::XrdpNoCertificate("negotiate"), mac_rejected("128BIT")),
        row(Kind::Shadow("nla"), nla),
        row(Kind::Shadow("+sec-nla"), nla),
        row(Kind::Shadow("tls"), tls),
        row(
            Kind::Shadow("rdp"),
            Expect {
                negotiated: Some("RDP"),
                encryption: Some("128BIT"),
                client_says: &["SSL_NOT_ALLOWED_BY_SERVER"],
                ..CONNECTS
            },
        ),
        Row {
            from_localhost: true,
            ..row(
                Kind::Shadow("rdp"),
                Expect {
                    negotiated: Some("RDP"),
                    encryption: Some("NONE"),
                    client_says: &["Server uses non-advertised encryption method 0x00000000"],
                    ..CONNECTS
                },
            )
        },
        row(Kind::Shadow("default"), tls),
        Row {
            wrong_password: true,
            ..row(
                Kind::Shadow("nla"),
                Expect {
                    connected: false,
                    exit: 147,
                    negotiated: Some("NLA"),
                    reached: "NLA",
                    encryption: None,
                    client_says: &["ERRCONNECT_CONNECT_TRANSPORT_FAILED"],
                    server_says: Some("client authentication failure"),
                },
            )
        },
    ]
}

/// What a row's attempt does not match, one line per difference.
fn differences(attempt: &Attempt, expect: &Expect, server_log: &str) -> Vec<String> {
    let mut out = Vec::new();
    if attempt.connected() != expect.connected {
        out.push(format!(
            "connected: {} (expected {})",
            attempt.connected(),
            expect.connected
        ));
    }
    if attempt.exit != Some(expect.exit) {
        out.push(format!(
            "exit status: {:?} (expected {})",
            attempt.exit, expect.exit
        ));
    }
    if attempt.negotiated() != expect.negotiated {
        out.push(format!(
            "negotiated: {:?} (expected {:?})",
            attempt.negotiated(),
            expect.negotiated
        ));
    }
    let reached = attempt
        .last_state()
        .map(|s| s.trim_start_matches("CONNECTION_STATE_"));
    if reached != Some(expect.reached) {
        out.push(format!(
            "reached: {reached:?} (expected {:?})",
            expect.reached
        ));
    }
    if attempt.encryption() != expect.encryption {
        out.push(format!(
            "encryption: {:?} (expected {:?})",
            attempt.encryption(),
            expect.encryption
        ));
    }
    let errors = attempt.errors().join("\n");
    for said in expect.client_says {
        if !errors.contains(said) {
            out.push(format!("the client's log lacks {said:?}"));
        }
    }
    if let Some(said) = expect.server_says
        && !server_log.contains(said)
    {
        out.push(format!("the server's log lacks {said:?}"));
    }
    out
}

fn outcome(a: &Attempt) -> String {
    if a.connected() {
        "connected".into()
    } else if a.timed_out {
        "timed out".into()
    } else {
        format!(
            "failed (exit {})",
            a.exit.map_or("-".into(), |c| c.to_string())
        )
    }
}

/// One markdown table line of a measured attempt.
fn table_line(row: &Row, a: &Attempt) -> String {
    let mut client = row.extra.join(" ");
    if row.wrong_password {
        client.push_str(" wrong password");
    }
    if row.from_localhost {
        client.push_str(" from 127.0.0.1");
    }
    format!(
        "| {} | {} | {} | {} | {} | {} | {:.1} | {} |",
        row.server.label(),
        client.trim(),
        outcome(a),
        a.negotiated().unwrap_or("-"),
        a.last_state()
            .map_or("-", |s| s.trim_start_matches("CONNECTION_STATE_")),
        a.encryption().unwrap_or("-"),
        a.elapsed.as_secs_f64(),
        a.why().replace('|', "\\|"),
    )
}

/// `rdpsweep scan --client-profile local` of `targets` without `DISPLAY`, from `source` when
/// given: the `local` cell (`outcome:reason`) of each endpoint.
fn local_cells(targets: &[SocketAddrV4], source: Option<Ipv4Addr>) -> Vec<(SocketAddrV4, String)> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rdpsweep"));
    cmd.env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .args(["scan", "--no-progress", "--format", "jsonl"])
        .args(["--client-profile", "local"])
        .stdin(Stdio::null());
    if let Some(ip) = source {
        cmd.args(["--source-ip", &ip.to_string()]);
    }
    cmd.args(targets.iter().map(ToString::to_string));
    let out = cmd.output().expect("run rdpsweep");
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    let records = support::jsonl(&out.stdout);
    targets
        .iter()
        .map(|addr| {
            let r = records
                .iter()
                .find(|r| r["ip"] == addr.ip().to_string() && r["port"] == addr.port())
                .unwrap_or_else(|| panic!("no record for {addr}: {}", support::show(&out)));
            let cell = &r["compat"]["local"];
            let text = match (cell["outcome"].as_str(), cell["reason"].as_str()) {
                (Some(o), Some(reason)) => format!("{o}:{reason}"),
                (Some(o), None) => o.to_owned(),
                _ => panic!("no local cell for {addr} (is the local FreeRDP detected?): {r:#}"),
            };
            (*addr, text)
        })
        .collect()
}

/// Whether a matrix cell predicts a connection: `Some(true)` for ok, warn and exposed,
/// `Some(false)` for blocked, `None` (a miss) for depends and unknown.
fn predicts_connection(cell: &str) -> Option<bool> {
    match cell.split(':').next() {
        Some("ok" | "warn" | "exposed") => Some(true),
        Some("blocked") => Some(false),
        _ => None,
    }
}

#[test]
fn xfreerdp_against_every_test_server() {
    let rows = table();
    let mut kinds: Vec<Kind> = Vec::new();
    for r in &rows {
        if !kinds.contains(&r.server) {
            kinds.push(r.server);
        }
    }
    // Start every server at once (one thread each), then measure one attempt at a time.
    let mut servers: Vec<(Kind, Server)> = std::thread::scope(|s| {
        let handles: Vec<_> = kinds
            .iter()
            .map(|&k| (k, s.spawn(move || k.start())))
            .collect();
        handles
            .into_iter()
            .map(|(k, h)| {
                let server = h
                    .join()
                    .unwrap_or_else(|_| panic!("starting {} failed", k.label()));
                (k, server)
            })
            .collect()
    });
    let mut client = Xfreerdp::start();
    let version = client.version();
    assert!(
        version.contains("FreeRDP version 2."),
        "the table was measured with FreeRDP 2.x, this is {version:?}"
    );
    let source = Source::Address(loopback(TAG));
    assert_ne!(source, Source::Address(Ipv4Addr::LOCALHOST));

    let mut lines = vec![
        format!("{version}, from {source:?} unless the row says 127.0.0.1"),
        String::new(),
        "| server | client arguments | outcome | security | reached | encryption | time (s) | client log (errors, warnings) |".into(),
        "|---|---|---|---|---|---|---|---|".into(),
    ];
    let mut failures = Vec::new();
    let mut attempts = Vec::new();
    for r in &rows {
        let Some((_, server)) = servers.iter_mut().find(|(k, _)| *k == r.server) else {
            unreachable!("every row's server was started");
        };
        let mut how = Connect::new(if r.from_localhost {
            Source::Kernel
        } else {
            source
        });
        for a in r.extra {
            how = how.arg(a);
        }
        if r.wrong_password {
            how = how.password("Wrong-password-1");
        }
        let attempt = client.connect(server.addr(), &how);
        // Give the server up to 3 s to write its line about this connection.
        let mut server_log = server.log_tail();
        if let Some(said) = r.expect.server_says {
            let deadline = Instant::now() + Duration::from_secs(3);
            while !server_log.contains(said) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
                server_log = server.log_tail();
            }
        }
        server.assert_running();
        let line = table_line(r, &attempt);
        let diff = differences(&attempt, &r.expect, &server_log);
        if !diff.is_empty() {
            failures.push(format!(
                "{}\n  {}\n  command: {}\n--- client log (tail) ---\n{}\n--- server log (tail) ---\n{}",
                line,
                diff.join("\n  "),
                attempt.command,
                attempt.tail(30),
                server_log
            ));
        }
        lines.push(line);
        attempts.push(attempt.connected());
    }
    let table = lines.join("\n");
    println!("{table}");

    // The prediction: the `local` column of a scan of the same servers, from the same source.
    let addr_of = |kind: Kind| {
        servers
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, s)| s.addr())
            .unwrap_or_else(|| unreachable!("every row's server was started"))
    };
    let Source::Address(source_ip) = source else {
        unreachable!("the client's source is an address");
    };
    let compared: Vec<(&Row, bool)> = rows
        .iter()
        .zip(attempts)
        .filter(|(r, _)| r.extra.is_empty() && !r.wrong_password)
        .collect();
    let targets = |localhost: bool| -> Vec<SocketAddrV4> {
        let mut t: Vec<SocketAddrV4> = compared
            .iter()
            .filter(|(r, _)| r.from_localhost == localhost)
            .map(|(r, _)| addr_of(r.server))
            .collect();
        t.dedup();
        t
    };
    let mut cells = local_cells(&targets(false), Some(source_ip));
    let from_localhost = local_cells(&targets(true), None);
    let mut agree = 0;
    let mut wrong = Vec::new();
    let mut matrix = vec![
        String::new(),
        "| server | client arguments | real client | rdpsweep `local` cell | agrees |".into(),
        "|---|---|---|---|---|".into(),
    ];
    for (r, connected) in &compared {
        let addr = addr_of(r.server);
        let list = if r.from_localhost {
            &from_localhost
        } else {
            &mut cells
        };
        let cell = list
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| unreachable!("every compared endpoint was scanned"));
        let verdict = match predicts_connection(&cell) {
            Some(p) if p == *connected => {
                agree += 1;
                "yes"
            }
            Some(_) => "**no**",
            None => "miss",
        };
        let line = format!(
            "| {} | {} | {} | {cell} | {verdict} |",
            r.server.label(),
            if r.from_localhost {
                "from 127.0.0.1"
            } else {
                ""
            },
            if *connected { "connected" } else { "failed" },
        );
        if verdict != "yes" {
            wrong.push(line.clone());
        }
        matrix.push(line);
    }
    matrix.push(String::new());
    matrix.push(format!("{agree}/{} cells agree", compared.len()));
    let matrix = matrix.join("\n");
    println!("{matrix}");
    assert!(
        failures.is_empty(),
        "the real client no longer does what the table says:\n{}\n\nmeasured:\n{table}",
        failures.join("\n\n")
    );
    assert!(
        wrong.is_empty(),
        "the matrix disagrees with the real client (or misses):\n{}\n{matrix}",
        wrong.join("\n")
    );
}
