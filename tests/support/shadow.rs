//! A real FreeRDP 2 shadow server (a CredSSP/NLA-capable RDP server) on its own Xvfb display
//! (see rdp-facts.md section 6).
//!
//! - Xvfb runs with `-noreset` (without it, it resets when its last client leaves and the shadow
//!   server dies) and `-displayfd`, so it picks a free display number itself: many servers (and
//!   other agents' servers) can run at once.
//! - The shadow server reads and writes its configuration (and its certificate,
//!   `freerdp/shadow/shadow.{crt,key}`) under `$XDG_CONFIG_HOME`, set to the server's folder.
//! - The host name it reports in NTLM is set with `unshare --uts` (needs root).
//! - It keeps the connection open after an RDP_NEG_FAILURE, and it switches Standard RDP
//!   encryption off for clients connecting from exactly 127.0.0.1.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Command;
use std::sync::Arc;
use std::sync::mpsc;

use md4::{Digest, Md4};
use tempfile::TempDir;

use super::certs::CertPair;
use super::process::{START_TIMEOUT, ServerProcess, require_binary};

/// The SAM entry used when [`ShadowOptions::sam`] is `None`: (user, domain, password).
pub const DEFAULT_SAM: (&str, &str, &str) = ("rdpsweep", "RDPSWEEP", "Not-a-secret-1");

/// Settings of one shadow server.
#[derive(Debug, Clone)]
pub struct ShadowOptions {
    /// Must be in 127.0.0.0/8.
    pub ip: Ipv4Addr,
    pub port: u16,
    /// `nla` (`/sec:nla`, NLA only), `tls` (`/sec:tls`), `rdp` (`/sec:rdp`), `+sec-nla` (all
    /// three layers), `ext` (`/sec:ext`) or `default` (no option: RDP and TLS, NLA off).
    pub sec: &'static str,
    /// (user, domain, password) of the one SAM account; `None` uses [`DEFAULT_SAM`].
    pub sam: Option<(String, String, String)>,
    /// Host name the server sees (and reports in NTLM); `None` keeps the machine's.
    pub hostname: Option<String>,
    /// Served certificate; `None` lets the server generate its own (read back afterwards).
    pub certificate: Option<CertPair>,
}

impl ShadowOptions {
    pub fn new(addr: SocketAddrV4, sec: &'static str) -> Self {
        Self {
            ip: *addr.ip(),
            port: addr.port(),
            sec,
            sam: None,
            hostname: None,
            certificate: None,
        }
    }

    fn sec_args(&self) -> Vec<&'static str> {
        match self.sec {
            "nla" => vec!["/sec:nla"],
            "tls" => vec!["/sec:tls"],
            "rdp" => vec!["/sec:rdp"],
            "ext" => vec!["/sec:ext"],
            "+sec-nla" => vec!["+sec-nla"],
            "default" => vec![],
            other => {
                panic!("shadow sec must be nla, tls, rdp, ext, +sec-nla or default, not {other:?}")
            }
        }
    }
}

/// One SAM file line: `User:Domain:LMhash:NThash:::` with NT hash = MD4(UTF-16LE(password)).
pub fn sam_line(user: &str, domain: &str, password: &str) -> String {
    format!("{user}:{domain}::{}:::", nt_hash(password))
}

/// The NT hash (MS-NLMP 3.3.1 NTOWFv1): MD4 of the UTF-16LE password, lower-case hex.
pub fn nt_hash(password: &str) -> String {
    let utf16: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
    Md4::digest(&utf16)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A running shadow server and its Xvfb; both stopped on drop.
pub struct FreerdpShadow {
    // Field order is drop order: shadow server, then its display, then the folder.
    shadow: ServerProcess,
    xvfb: ServerProcess,
    addr: SocketAddrV4,
    display: u32,
    sec: &'static str,
    hostname: Option<String>,
    sam: (String, String, String),
    certificate: CertPair,
    _dir: Arc<TempDir>,
}

impl std::fmt::Debug for FreerdpShadow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreerdpShadow")
            .field("addr", &self.addr)
            .field("display", &self.display)
            .field("sec", &self.sec)
            .field("pid", &self.shadow.pid())
            .finish()
    }
}

impl FreerdpShadow {
    /// Starts Xvfb on a free display, then `freerdp-shadow-cli` on it, and waits until the
    /// shadow server listens. Panics with the logs if either fails within 10 s.
    pub fn start(opts: ShadowOptions) -> Self {
        assert!(
            opts.ip.is_loopback(),
            "tests only bind 127.0.0.0/8, not {}",
            opts.ip
        );
        let sec_args = opts.sec_args();
        let xvfb_bin = require_binary("Xvfb", "xvfb");
        let shadow_bin = require_binary("freerdp-shadow-cli", "freerdp2-shadow-x11");
        let dir = Arc::new(
            tempfile::Builder::new()
                .prefix("rdpsweep-shadow-")
                .tempdir()
                .unwrap_or_else(|e| {
                    panic!("cannot create a temporary folder for freerdp-shadow: {e}")
                }),
        );
        let path = |name: &str| dir.path().join(name);

        // Xvfb first: it writes its display number to stdout when it accepts clients.
        let mut xvfb_cmd = Command::new(&xvfb_bin);
        xvfb_cmd
            .args([
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
        let mut xvfb = ServerProcess::spawn("Xvfb", xvfb_cmd, &path("xvfb.log"), true);
        let display = read_display(&mut xvfb);

        let config = path("config");
        let shadow_dir = config.join("freerdp").join("shadow");
        std::fs::create_dir_all(&shadow_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", shadow_dir.display()));
        let served_cert = shadow_dir.join("shadow.crt");
        let served_key = shadow_dir.join("shadow.key");
        if let Some(cert) = &opts.certificate {
            for (from, to) in [(&cert.cert, &served_cert), (&cert.key, &served_key)] {
                std::fs::copy(from, to).unwrap_or_else(|e| {
                    panic!("cannot copy {} to {}: {e}", from.display(), to.display())
                });
            }
        }

        let sam = opts.sam.clone().unwrap_or_else(|| {
            (
                DEFAULT_SAM.0.to_string(),
                DEFAULT_SAM.1.to_string(),
                DEFAULT_SAM.2.to_string(),
            )
        });
        let sam_file = path("SAM");
        std::fs::write(&sam_file, format!("{}\n", sam_line(&sam.0, &sam.1, &sam.2)))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", sam_file.display()));

        let mut shadow_args: Vec<String> = vec![
            format!("/bind-address:{}", opts.ip),
            format!("/port:{}", opts.port),
            format!("/sam-file:{}", sam_file.display()),
        ];
        shadow_args.extend(sec_args.iter().map(|s| s.to_string()));
        let mut cmd = match &opts.hostname {
            Some(hostname) => {
                let unshare = require_binary("unshare", "util-linux");
                require_binary("hostname", "hostname");
                let mut cmd = Command::new(unshare);
                cmd.args([
                    "--uts",
                    "sh",
                    "-c",
                    "hostname \"$0\" && exec \"$@\"",
                    hostname,
                ])
                .arg(&shadow_bin)
                .args(&shadow_args);
                cmd
            }
            None => {
                let mut cmd = Command::new(&shadow_bin);
                cmd.args(&shadow_args);
                cmd
            }
        };
        cmd.current_dir(dir.path())
            .env("DISPLAY", format!(":{display}"))
            .env("XDG_CONFIG_HOME", &config)
            .env("HOME", dir.path());
        let mut shadow =
            ServerProcess::spawn("freerdp-shadow-cli", cmd, &path("shadow.log"), false);
        let addr = SocketAddrV4::new(opts.ip, opts.port);
        shadow.wait_listening(addr);
        xvfb.assert_running("while freerdp-shadow-cli started");

        let certificate = match &opts.certificate {
            Some(cert) => cert.clone(),
            None => {
                if !served_cert.exists() {
                    panic!(
                        "freerdp-shadow-cli listens but wrote no {}\n{}",
                        served_cert.display(),
                        shadow.log_tail()
                    );
                }
                CertPair::from_files(&served_cert, &served_key, Arc::clone(&dir))
            }
        };
        Self {
            shadow,
            xvfb,
            addr,
            display,
            sec: opts.sec,
            hostname: opts.hostname.clone(),
            sam,
            certificate,
            _dir: dir,
        }
    }

    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// `ip:port`, as a scan target.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// The X display number its Xvfb took.
    pub fn display(&self) -> u32 {
        self.display
    }

    pub fn sec(&self) -> &'static str {
        self.sec
    }

    pub fn hostname(&self) -> Option<&str> {
        self.hostname.as_deref()
    }

    /// (user, domain, password) of its SAM account.
    pub fn sam(&self) -> &(String, String, String) {
        &self.sam
    }

    /// The certificate this server presents (given, or the one it generated).
    pub fn certificate(&self) -> &CertPair {
        &self.certificate
    }

    /// The end of the shadow server's and Xvfb's output, for assertion messages.
    pub fn log_tail(&self) -> String {
        format!("{}{}", self.shadow.log_tail(), self.xvfb.log_tail())
    }

    /// Panics with the logs if the shadow server or its Xvfb has exited.
    pub fn assert_running(&mut self) {
        self.shadow.assert_running("while the test still needed it");
        self.xvfb.assert_running("while the test still needed it");
    }
}

/// Reads the display number Xvfb prints on `-displayfd 1`; keeps draining its stdout in a
/// thread afterwards (closing the pipe would kill Xvfb with SIGPIPE on any later write).
pub fn read_display(xvfb: &mut ServerProcess) -> u32 {
    let Some(mut stdout) = xvfb.child_mut().stdout.take() else {
        panic!("Xvfb was started without a stdout pipe");
    };
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        let mut sent = false;
        loop {
            match stdout.read(&mut byte) {
                Ok(0) | Err(_) => break,
                Ok(_) if sent => {}
                Ok(_) if byte[0] == b'\n' => {
                    let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
                    sent = true;
                }
                Ok(_) => line.push(byte[0]),
            }
        }
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(line) => line.trim().parse().unwrap_or_else(|_| {
            panic!(
                "Xvfb printed {line:?} instead of a display number\n{}",
                xvfb.log_tail()
            )
        }),
        Err(_) => {
            xvfb.assert_running("before printing its display number");
            panic!(
                "Xvfb printed no display number within {} s\n{}",
                START_TIMEOUT.as_secs(),
                xvfb.log_tail()
            )
        }
    }
}
