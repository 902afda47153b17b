//! Real-server test harness shared by the integration tests (`mod support;`).
//!
//! Fixtures start REAL servers on loopback addresses and stop them on drop; they panic with a
//! clear message (and the server's log tail) when a binary is missing or a server does not
//! listen within 10 s. Tests never skip. NETWORK SAFETY: everything binds 127.0.0.0/8 only.
//!
//! - [`net`] — [`loopback`] / [`endpoint`] (unique address per call, free port), [`closed_port`],
//!   [`FakeListener`] (HTTP 400 "not RDP" or silent listeners).
//! - [`certs`] — [`Certs`] makes CA-signed, self-signed, expired and RSA-1024/SHA-1 certificates
//!   with the `openssl` tool; [`CertPair`] carries the paths and expected fingerprints.
//! - [`xrdp`] — `Xrdp::start(XrdpOptions)`.
//! - [`shadow`] — `FreerdpShadow::start(ShadowOptions)` (with its own Xvfb).
//! - [`x224`] — an independent raw X.224 negotiation client, to check the servers themselves.
//! - [`xfreerdp`] — the real FreeRDP client (`xfreerdp +auth-only` under its own Xvfb): does
//!   it connect, and if not, why (`tests/real_client.rs`).
//! - [`Variant`]: the standard server variants with their measured negotiation answers.
//! - [`viewers`] — LibreOffice, headless Chromium and pdftoppm, to open reports as a person does.
//! - [`rdpsweep`] runs the built binary; [`jsonl`] parses `--format jsonl` output.
//!
//! # Ground truth: what each variant answers (measured, `tests/servers.rs` asserts it)
//!
//! X.224 Connection Confirm to one Connection Request with RDP_NEG_REQ, per requestedProtocols.
//! `RDP`/`TLS`/`HYBRID` = RDP_NEG_RSP selecting PROTOCOL_RDP (0) / PROTOCOL_SSL (1) /
//! PROTOCOL_HYBRID (2); `F1` SSL_REQUIRED_BY_SERVER, `F2` SSL_NOT_ALLOWED_BY_SERVER, `F5`
//! HYBRID_REQUIRED_BY_SERVER (RDP_NEG_FAILURE). Measured with xrdp 0.9.21.1 and FreeRDP 2.11
//! shadow (Debian 12), from 127.0.0.1 and from 127.0.0.2 (same answers).
//!
//! | variant (`Variant::`)                 | RDP 0x0 | SSL 0x1 | SSL\|HYBRID 0x3 | SSL\|HYBRID\|HYBRID_EX 0xB | HYBRID 0x2 | HYBRID_EX 0x8 | RSP flags |
//! |---------------------------------------|---------|---------|-----------------|----------------------------|------------|---------------|-----------|
//! | xrdp `negotiate` (`XrdpNegotiate`)    | RDP     | TLS     | TLS             | TLS                        | RDP        | RDP           | 0x01      |
//! | xrdp `tls` (`XrdpTls`)                | F1      | TLS     | TLS             | TLS                        | F1         | F1            | 0x01      |
//! | xrdp `rdp` (`XrdpRdp`)                | RDP     | RDP (!) | RDP (!)         | RDP (!)                    | RDP        | RDP           | 0x01      |
//! | shadow `/sec:nla` (`ShadowNla`)       | F5      | F5      | HYBRID          | HYBRID                     | HYBRID     | F5            | 0x03      |
//! | shadow `+sec-nla` (`ShadowAll`)       | RDP     | TLS     | HYBRID          | HYBRID                     | HYBRID     | F2            | 0x03      |
//! | shadow `/sec:tls` (`ShadowTls`)       | F1      | TLS     | TLS             | TLS                        | F1         | F1            | 0x03      |
//! | shadow `/sec:rdp` (`ShadowRdp`)       | RDP     | F2      | F2              | F2                         | F2         | F2            | 0x03      |
//! | shadow, no `/sec` (`ShadowDefault`)   | RDP     | TLS     | TLS             | TLS                        | F2         | F2            | 0x03      |
//!
//! Notes for scanner assertions:
//! - xrdp has no CredSSP: NLA is never selected. In `rdp` mode it does NOT send
//!   SSL_NOT_ALLOWED_BY_SERVER: it answers an RDP_NEG_RSP selecting PROTOCOL_RDP to every
//!   request, so "TLS requested, RDP selected" must read as TLS not supported.
//! - Selection never reveals HYBRID_EX (FreeRDP 2 never selects it, even with `/sec:ext`), and
//!   HYBRID_EX alone without HYBRID is refused by the shadow server (F5/F2) and downgraded to
//!   RDP by xrdp `negotiate`.
//! - xrdp confirms carry SRC-REF 0x1234 (like Windows), the shadow server 0x0000. xrdp's RSP
//!   flags are EXTENDED_CLIENT_DATA_SUPPORTED; the shadow server adds DYNVC_GFX_PROTOCOL_SUPPORTED.
//! - FreeRDP keeps the connection open after RDP_NEG_FAILURE (and accepts a TLS handshake after
//!   it): read exactly the TPKT length, never wait for EOF.
//! - The shadow server switches Standard RDP encryption off for clients from exactly
//!   127.0.0.1; the negotiation answers above are the same from 127.0.0.2.
//! - xrdp's listen backlog is 2: at most 2 simultaneous connections to one xrdp endpoint.
//! - TLS: both speak 1.2 and 1.3 by default. A ClientHello capped at TLS 1.1 or 1.0 gets a
//!   fatal `protocol_version` alert from xrdp, and a fatal `internal_error` from the shadow
//!   server (Debian 12's OpenSSL 3.0 with TLS 1.0 allowed at security level 1: no signature
//!   algorithm for those versions), after SSL or HYBRID was selected alike, whatever suites
//!   are offered.
//! - `/sec:ext` (not a standard variant) answers F1 to everything.

// Each test binary uses part of the harness.
#![allow(dead_code, unused_imports)]

pub mod certs;
pub mod net;
pub mod process;
pub mod shadow;
pub mod viewers;
pub mod x224;
pub mod xfreerdp;
pub mod xrdp;

use std::ffi::OsStr;
use std::net::SocketAddrV4;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub use certs::{CertPair, Certs};
pub use net::{FakeListener, Filtered, closed_port, endpoint, loopback};
pub use shadow::{FreerdpShadow, ShadowOptions};
pub use x224::Confirm;
pub use xrdp::{Xrdp, XrdpOptions};

use x224::{PROTOCOL_HYBRID, PROTOCOL_HYBRID_EX, PROTOCOL_RDP, PROTOCOL_SSL};

/// The request sets of the ground-truth table, in its column order.
pub const REQUESTS: [u32; 6] = [
    PROTOCOL_RDP,
    PROTOCOL_SSL,
    PROTOCOL_SSL | PROTOCOL_HYBRID,
    PROTOCOL_SSL | PROTOCOL_HYBRID | PROTOCOL_HYBRID_EX,
    PROTOCOL_HYBRID,
    PROTOCOL_HYBRID_EX,
];

/// A standard server variant (one row of the ground-truth table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    XrdpNegotiate,
    XrdpTls,
    XrdpRdp,
    ShadowNla,
    /// `+sec-nla`: RDP, TLS and NLA.
    ShadowAll,
    ShadowTls,
    ShadowRdp,
    /// No `/sec` option: RDP and TLS (NLA is off unless asked for).
    ShadowDefault,
}

impl Variant {
    pub const ALL: [Variant; 8] = [
        Variant::XrdpNegotiate,
        Variant::XrdpTls,
        Variant::XrdpRdp,
        Variant::ShadowNla,
        Variant::ShadowAll,
        Variant::ShadowTls,
        Variant::ShadowRdp,
        Variant::ShadowDefault,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::XrdpNegotiate => "xrdp negotiate",
            Variant::XrdpTls => "xrdp tls",
            Variant::XrdpRdp => "xrdp rdp",
            Variant::ShadowNla => "shadow /sec:nla",
            Variant::ShadowAll => "shadow +sec-nla",
            Variant::ShadowTls => "shadow /sec:tls",
            Variant::ShadowRdp => "shadow /sec:rdp",
            Variant::ShadowDefault => "shadow (no /sec)",
        }
    }

    pub fn is_xrdp(self) -> bool {
        matches!(
            self,
            Variant::XrdpNegotiate | Variant::XrdpTls | Variant::XrdpRdp
        )
    }

    /// The measured answers to [`REQUESTS`], in order (the ground-truth table).
    pub fn expected(self) -> [Confirm; 6] {
        const XRDP: u8 = 0x01;
        const SHADOW: u8 = 0x03;
        let rdp = |flags| Confirm::Selected {
            protocol: PROTOCOL_RDP,
            flags,
        };
        let tls = |flags| Confirm::Selected {
            protocol: PROTOCOL_SSL,
            flags,
        };
        let hybrid = Confirm::Selected {
            protocol: PROTOCOL_HYBRID,
            flags: SHADOW,
        };
        let f1 = Confirm::Failure {
            code: x224::SSL_REQUIRED_BY_SERVER,
        };
        let f2 = Confirm::Failure {
            code: x224::SSL_NOT_ALLOWED_BY_SERVER,
        };
        let f5 = Confirm::Failure {
            code: x224::HYBRID_REQUIRED_BY_SERVER,
        };
        match self {
            Variant::XrdpNegotiate => [
                rdp(XRDP),
                tls(XRDP),
                tls(XRDP),
                tls(XRDP),
                rdp(XRDP),
                rdp(XRDP),
            ],
            Variant::XrdpTls => [f1, tls(XRDP), tls(XRDP), tls(XRDP), f1, f1],
            Variant::XrdpRdp => [rdp(XRDP); 6],
            Variant::ShadowNla => [f5, f5, hybrid, hybrid, hybrid, f5],
            Variant::ShadowAll => [rdp(SHADOW), tls(SHADOW), hybrid, hybrid, hybrid, f2],
            Variant::ShadowTls => [f1, tls(SHADOW), tls(SHADOW), tls(SHADOW), f1, f1],
            Variant::ShadowRdp => [rdp(SHADOW), f2, f2, f2, f2, f2],
            Variant::ShadowDefault => [rdp(SHADOW), tls(SHADOW), tls(SHADOW), tls(SHADOW), f2, f2],
        }
    }

    /// Starts this variant on a fresh loopback endpoint with default options.
    pub fn start(self, binary_tag: u8) -> Server {
        let addr = endpoint(binary_tag);
        match self {
            Variant::XrdpNegotiate => {
                Server::Xrdp(Xrdp::start(XrdpOptions::new(addr, "negotiate")))
            }
            Variant::XrdpTls => Server::Xrdp(Xrdp::start(XrdpOptions::new(addr, "tls"))),
            Variant::XrdpRdp => Server::Xrdp(Xrdp::start(XrdpOptions::new(addr, "rdp"))),
            Variant::ShadowNla => {
                Server::Shadow(FreerdpShadow::start(ShadowOptions::new(addr, "nla")))
            }
            Variant::ShadowAll => {
                Server::Shadow(FreerdpShadow::start(ShadowOptions::new(addr, "+sec-nla")))
            }
            Variant::ShadowTls => {
                Server::Shadow(FreerdpShadow::start(ShadowOptions::new(addr, "tls")))
            }
            Variant::ShadowRdp => {
                Server::Shadow(FreerdpShadow::start(ShadowOptions::new(addr, "rdp")))
            }
            Variant::ShadowDefault => {
                Server::Shadow(FreerdpShadow::start(ShadowOptions::new(addr, "default")))
            }
        }
    }
}

/// Starts several variants at once (one thread each) and returns them in the same order.
pub fn start_all(variants: &[Variant], binary_tag: u8) -> Vec<Server> {
    std::thread::scope(|s| {
        let handles: Vec<_> = variants
            .iter()
            .map(|&v| s.spawn(move || v.start(binary_tag)))
            .collect();
        handles
            .into_iter()
            .zip(variants)
            .map(|(h, v)| {
                h.join().unwrap_or_else(|e| {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    panic!("starting {} failed: {msg}", v.name())
                })
            })
            .collect()
    })
}

/// Either kind of real server.
#[derive(Debug)]
pub enum Server {
    Xrdp(Xrdp),
    Shadow(FreerdpShadow),
}

impl Server {
    pub fn addr(&self) -> SocketAddrV4 {
        match self {
            Server::Xrdp(s) => s.addr(),
            Server::Shadow(s) => s.addr(),
        }
    }

    /// `ip:port`, as a scan target.
    pub fn target(&self) -> String {
        self.addr().to_string()
    }

    pub fn certificate(&self) -> &CertPair {
        match self {
            Server::Xrdp(s) => s.certificate(),
            Server::Shadow(s) => s.certificate(),
        }
    }

    pub fn log_tail(&self) -> String {
        match self {
            Server::Xrdp(s) => s.log_tail(),
            Server::Shadow(s) => s.log_tail(),
        }
    }

    pub fn assert_running(&mut self) {
        match self {
            Server::Xrdp(s) => s.assert_running(),
            Server::Shadow(s) => s.assert_running(),
        }
    }
}

/// How long [`rdpsweep`] lets the binary run before killing it and failing.
pub const RDPSWEEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the built `rdpsweep` binary with `args` (no stdin), waits at most
/// [`RDPSWEEP_TIMEOUT`], and returns its output. Does not judge the exit status.
pub fn rdpsweep<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let bin = env!("CARGO_BIN_EXE_rdpsweep");
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!("{cmd:?}");
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(RDPSWEEP_TIMEOUT) {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!("waiting for {shown}: {e}"),
        Err(_) => {
            if let Ok(pid) = i32::try_from(pid) {
                // SAFETY: kill() has no memory effects; the child is not reaped yet (the waiting
                // thread still holds it), so the pid is still ours.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            let output = rx
                .recv_timeout(Duration::from_secs(5))
                .ok()
                .and_then(Result::ok);
            let (out, err) = output
                .map(|o| {
                    (
                        String::from_utf8_lossy(&o.stdout).into_owned(),
                        String::from_utf8_lossy(&o.stderr).into_owned(),
                    )
                })
                .unwrap_or_default();
            panic!(
                "{shown} did not finish within {} s (killed)\n--- stdout ---\n{out}\n--- stderr ---\n{err}",
                RDPSWEEP_TIMEOUT.as_secs()
            )
        }
    }
}

/// Parses `--format jsonl` output: one JSON value per non-empty line; panics naming the bad
/// line.
pub fn jsonl(stdout: &[u8]) -> Vec<serde_json::Value> {
    let text =
        std::str::from_utf8(stdout).unwrap_or_else(|e| panic!("rdpsweep stdout is not UTF-8: {e}"));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("stdout line {} is not JSON ({e}): {line}", i + 1))
        })
        .collect()
}

/// `rdpsweep scan --format jsonl ARGS...`: asserts it exits (any status is accepted: callers
/// check it) and returns the parsed records with the raw output for messages.
pub fn scan_jsonl<I, S>(args: I) -> (Output, Vec<serde_json::Value>)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut all: Vec<std::ffi::OsString> = vec!["scan".into(), "--format".into(), "jsonl".into()];
    all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
    let output = rdpsweep(&all);
    let records = jsonl(&output.stdout);
    (output, records)
}

/// stdout and stderr of a run, for assertion messages.
pub fn show(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
