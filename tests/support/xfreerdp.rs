//! The real FreeRDP client (Debian's `freerdp2-x11`, `xfreerdp` 2.11) as a measuring
//! instrument: does a real client connect to a test server, and if not, why (rdp-facts.md
//! section 10).
//!
//! - Each attempt runs `xfreerdp /v:HOST:PORT /u:USER /p:PASSWORD /d:DOMAIN +auth-only
//!   /cert:ignore` plus the row's own arguments, with a time limit ([`CONNECT_LIMIT`]).
//!   `+auth-only` runs the whole connection sequence up to `CONNECTION_STATE_ACTIVE`
//!   (negotiation, TLS or Standard RDP Security, CredSSP, MCS, licensing, capabilities) and
//!   then exits with status 0, without opening a window (libfreerdp/core/freerdp.c).
//! - The client needs an X display even for that: [`Xfreerdp::start`] starts its own Xvfb
//!   (`-displayfd`, so it picks a free display number).
//! - Logs: `/log-filters:` adds the negotiation, connection-state and GCC channels at DEBUG,
//!   so an attempt says which security it negotiated (`Negotiated TLS security`), how far it
//!   got (`--> CONNECTION_STATE_LICENSING`) and, for Standard RDP Security, the server's
//!   encryption method. Standard error and output are captured apart (they would interleave
//!   mid-line in one file).
//! - Source address: FreeRDP servers switch Standard RDP Security encryption off for a peer
//!   at exactly 127.0.0.1 (libfreerdp/core/listener.c, nego.c), and the kernel connects to
//!   any 127.x.y.z from 127.0.0.1. [`Source::Address`] binds the client's socket to another
//!   loopback address first, through a small `LD_PRELOAD` library built here with `cc` (the
//!   client has no option for it); a failed bind fails the connection, so a measurement never
//!   silently comes from 127.0.0.1.
//! - `HOME` and `XDG_CONFIG_HOME` point into a temporary folder (FreeRDP writes its
//!   certificate store there).
//!
//! Panics, naming the package, when `xfreerdp`, `Xvfb` or `cc` is missing: tests never skip.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{ServerProcess, require_binary};
use super::shadow::read_display;

/// The account of rdp-facts.md section 10: (user, domain, password). Shadow servers measured
/// with the real client get it in their SAM file ([`sam`]).
pub const TEST_ACCOUNT: (&str, &str, &str) = ("testuser", "TESTBED", "Password1!");

/// The account as `ShadowOptions::sam` takes it.
pub fn sam() -> Option<(String, String, String)> {
    let (u, d, p) = TEST_ACCOUNT;
    Some((u.to_string(), d.to_string(), p.to_string()))
}

/// How long one attempt may take before it is killed and reported as timed out.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(30);

/// Log channels raised to DEBUG (comma-separated `/log-filters:` value).
const LOG_FILTERS: &str =
    "com.freerdp.core.nego:DEBUG,com.freerdp.core.connection:DEBUG,com.freerdp.core.gcc:DEBUG";

/// Where the client connects from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The kernel's choice: 127.0.0.1 (a "local" peer for FreeRDP servers).
    Kernel,
    /// This loopback address (bound before `connect`).
    Address(Ipv4Addr),
}

/// One connection attempt's settings.
#[derive(Debug, Clone)]
pub struct Connect {
    pub user: String,
    pub domain: String,
    pub password: String,
    /// Extra client arguments (`/tls-seclevel:0`, `/sec:tls`, ...).
    pub extra: Vec<String>,
    pub source: Source,
}

impl Connect {
    /// [`TEST_ACCOUNT`], no extra arguments, from `source`.
    pub fn new(source: Source) -> Self {
        let (u, d, p) = TEST_ACCOUNT;
        Self {
            user: u.to_string(),
            domain: d.to_string(),
            password: p.to_string(),
            extra: Vec::new(),
            source,
        }
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.extra.push(arg.to_string());
        self
    }

    pub fn password(mut self, password: &str) -> Self {
        self.password = password.to_string();
        self
    }
}

/// What one attempt did.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The command line, password shown as `***`.
    pub command: String,
    /// Exit status; `None` when it was killed ([`Attempt::timed_out`]) or died by a signal.
    pub exit: Option<i32>,
    pub timed_out: bool,
    pub elapsed: Duration,
    /// Standard error, then standard output.
    pub log: String,
}

impl Attempt {
    /// The connection reached `CONNECTION_STATE_ACTIVE` and the client exited with 0.
    pub fn connected(&self) -> bool {
        !self.timed_out
            && self.exit == Some(0)
            && self.last_state() == Some("CONNECTION_STATE_ACTIVE")
    }

    /// `NLA`, `TLS`, `RDP` (or `EXT`): from `Negotiated X security`.
    pub fn negotiated(&self) -> Option<&str> {
        self.messages()
            .filter_map(|(_, m)| m.strip_prefix("Negotiated ")?.strip_suffix(" security"))
            .next()
    }

    /// The furthest connection state entered (`CONNECTION_STATE_LICENSING`), from the
    /// `rdp_client_transition_to_state A --> B` lines; the final reset to
    /// `CONNECTION_STATE_INITIAL` is ignored.
    pub fn last_state(&self) -> Option<&str> {
        self.messages()
            .filter_map(|(_, m)| m.split_once(" --> ").map(|(_, to)| to.trim()))
            .filter(|s| *s != "CONNECTION_STATE_INITIAL")
            .max_by_key(|s| state_rank(s))
    }

    /// The server's Standard RDP Security encryption method (`NONE`, `40BIT`, `56BIT`,
    /// `128BIT`, `FIPS`), when one was negotiated.
    pub fn encryption(&self) -> Option<&str> {
        self.messages()
            .filter_map(|(_, m)| m.strip_prefix("Server rdp encryption method: "))
            .next()
    }

    /// `[ERROR]` and `[WARN]` messages, without the lines every `+auth-only` run prints
    /// (`Authentication only, exit status N`, the final `ERRCONNECT_CONNECT_CANCELLED`).
    pub fn errors(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (level, m) in self.messages() {
            let boilerplate = m.starts_with("Authentication only, exit status")
                || (m.contains("freerdp_abort_connect") && m.contains("CONNECT_CANCELLED"));
            if matches!(level, "ERROR" | "WARN") && !boilerplate && !out.contains(&m) {
                out.push(m);
            }
        }
        out
    }

    /// The errors in one line (`; `-separated), for tables.
    pub fn why(&self) -> String {
        if self.timed_out {
            return format!("timed out after {} s", CONNECT_LIMIT.as_secs());
        }
        self.errors().join("; ")
    }

    /// The last `lines` lines of the log.
    pub fn tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self.log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// (level, message) of every WLog line (`[time] [pid:tid] [LEVEL][channel] - message`).
    fn messages(&self) -> impl Iterator<Item = (&str, &str)> {
        self.log.lines().filter_map(|line| {
            let (prefix, message) = line.split_once("] - ")?;
            let level = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE", "FATAL"]
                .into_iter()
                .find(|l| prefix.contains(&format!("[{l}]")))?;
            Some((level, message.trim()))
        })
    }
}

/// Order of the connection states (`CONNECTION_STATE` in include/freerdp/freerdp.h, FreeRDP
/// 2.11); unknown names rank lowest.
fn state_rank(state: &str) -> usize {
    const ORDER: [&str; 15] = [
        "CONNECTION_STATE_INITIAL",
        "CONNECTION_STATE_NEGO",
        "CONNECTION_STATE_NLA",
        "CONNECTION_STATE_MCS_CONNECT",
        "CONNECTION_STATE_MCS_ERECT_DOMAIN",
        "CONNECTION_STATE_MCS_ATTACH_USER",
        "CONNECTION_STATE_MCS_CHANNEL_JOIN",
        "CONNECTION_STATE_RDP_SECURITY_COMMENCEMENT",
        "CONNECTION_STATE_SECURE_SETTINGS_EXCHANGE",
        "CONNECTION_STATE_CONNECT_TIME_AUTO_DETECT",
        "CONNECTION_STATE_LICENSING",
        "CONNECTION_STATE_MULTITRANSPORT_BOOTSTRAPPING",
        "CONNECTION_STATE_CAPABILITIES_EXCHANGE",
        "CONNECTION_STATE_FINALIZATION",
        "CONNECTION_STATE_ACTIVE",
    ];
    ORDER.iter().position(|s| *s == state).map_or(0, |p| p + 1)
}

/// The client with its display; stopped on drop.
pub struct Xfreerdp {
    // Field order is drop order: the display goes before its folder.
    xvfb: ServerProcess,
    display: u32,
    binary: PathBuf,
    dir: TempDir,
}

impl std::fmt::Debug for Xfreerdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xfreerdp")
            .field("binary", &self.binary)
            .field("display", &self.display)
            .finish()
    }
}

impl Xfreerdp {
    /// Finds `xfreerdp` (panics if missing) and starts an Xvfb for it.
    pub fn start() -> Self {
        let binary = require_binary("xfreerdp", "freerdp2-x11");
        let xvfb_bin = require_binary("Xvfb", "xvfb");
        let dir = tempfile::Builder::new()
            .prefix("rdpsweep-xfreerdp-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary folder for xfreerdp: {e}"));
        let mut cmd = Command::new(&xvfb_bin);
        cmd.args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1024x768x24",
            "-nolisten",
            "tcp",
            "-noreset",
        ])
        .current_dir(dir.path());
        let mut xvfb = ServerProcess::spawn("Xvfb", cmd, &dir.path().join("xvfb.log"), true);
        let display = read_display(&mut xvfb);
        std::fs::create_dir_all(dir.path().join("config"))
            .unwrap_or_else(|e| panic!("cannot create the client's config folder: {e}"));
        Self {
            xvfb,
            display,
            binary,
            dir,
        }
    }

    pub fn display(&self) -> u32 {
        self.display
    }

    /// `xfreerdp --version` on this display ("This is FreeRDP version 2.11.7 (2.11.7)").
    pub fn version(&self) -> String {
        let out = Command::new(&self.binary)
            .arg("--version")
            .env("DISPLAY", format!(":{}", self.display))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {} --version: {e}", self.binary.display()));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// One connection attempt to `server` (must be loopback).
    pub fn connect(&mut self, server: SocketAddrV4, how: &Connect) -> Attempt {
        assert!(
            server.ip().is_loopback(),
            "tests only connect to 127.0.0.0/8, not {server}"
        );
        self.xvfb.assert_running("before a client attempt");
        let mut args = vec![
            format!("/v:{server}"),
            format!("/u:{}", how.user),
            format!("/p:{}", how.password),
            format!("/d:{}", how.domain),
            "+auth-only".to_string(),
            "/cert:ignore".to_string(),
            format!("/log-filters:{LOG_FILTERS}"),
        ];
        args.extend(how.extra.iter().cloned());
        let mut command = format!("xfreerdp {}", args.join(" "))
            .replace(&format!("/p:{}", how.password), "/p:***");

        let out_path = self.dir.path().join("client.out");
        let err_path = self.dir.path().join("client.err");
        let file = |p: &Path| {
            std::fs::File::create(p)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", p.display()))
        };
        let mut cmd = Command::new(&self.binary);
        cmd.args(&args)
            .env("DISPLAY", format!(":{}", self.display))
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .stdin(Stdio::null())
            .stdout(file(&out_path))
            .stderr(file(&err_path));
        if let Source::Address(ip) = how.source {
            assert!(ip.is_loopback(), "bind only 127.0.0.0/8, not {ip}");
            cmd.env("LD_PRELOAD", bind_shim())
                .env("RDPSWEEP_BIND_SOURCE", ip.to_string());
            let _ = write!(command, " (from {ip})");
        }
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {command}: {e}"));
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if start.elapsed() < CONNECT_LIMIT => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    timed_out = true;
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Err(e) => panic!("waiting for {command}: {e}"),
            }
        };
        let elapsed = start.elapsed();
        let read =
            |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
        let log = format!("{}{}", read(&err_path), read(&out_path));
        Attempt {
            command,
            exit: status.and_then(|s| s.code()),
            timed_out,
            elapsed,
            log,
        }
    }
}

/// The C source of the `LD_PRELOAD` library: `connect()` on an IPv4 socket first binds it to
/// `$RDPSWEEP_BIND_SOURCE` (port 0); a failed bind fails the connect.
const BIND_SHIM_C: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    static int (*real_connect)(int, const struct sockaddr *, socklen_t);
    const char *source = getenv("RDPSWEEP_BIND_SOURCE");
    if (!real_connect)
        real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
    if (source && addr && addr->sa_family == AF_INET) {
        struct sockaddr_in local;
        memset(&local, 0, sizeof local);
        local.sin_family = AF_INET;
        if (inet_pton(AF_INET, source, &local.sin_addr) != 1)
            return -1;
        if (bind(fd, (const struct sockaddr *)&local, sizeof local) != 0)
            return -1;
    }
    return real_connect(fd, addr, len);
}
"#;

/// Builds the bind library once per test process (in a folder kept for the process's life).
fn bind_shim() -> &'static Path {
    static SHIM: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    &SHIM
        .get_or_init(|| {
            let cc = require_binary("cc", "gcc");
            let dir = tempfile::Builder::new()
                .prefix("rdpsweep-bindsrc-")
                .tempdir()
                .unwrap_or_else(|e| panic!("cannot create a folder for the bind library: {e}"));
            let source = dir.path().join("bindsrc.c");
            let library = dir.path().join("bindsrc.so");
            std::fs::write(&source, BIND_SHIM_C)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", source.display()));
            let out = Command::new(&cc)
                .args(["-shared", "-fPIC", "-O2", "-o"])
                .arg(&library)
                .arg(&source)
                .arg("-ldl")
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", cc.display()));
            assert!(
                out.status.success() && library.exists(),
                "building the source-address library failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (dir, library)
        })
        .1
}
