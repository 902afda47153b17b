//! A real xrdp 0.9 server on a loopback address (see rdp-facts.md section 6).
//!
//! Pitfalls handled here:
//! - xrdp refuses to start while `/var/run/xrdp/xrdp.pid` exists, even with `--nodaemon` (which
//!   never writes it): the file is deleted before each start.
//! - Standard RDP Security needs the server RSA key in `/etc/xrdp/rsakeys.ini` (path compiled
//!   in; the package's postinst makes it with `xrdp-keygen xrdp auto`). xrdp reads it after the
//!   X.224 exchange, when it answers the MCS Connect Initial, so a missing file only shows
//!   later as a dropped connection: [`ensure_rsakeys`] makes it if it is missing.
//! - Without `certificate=` xrdp would serve `/etc/xrdp/cert.pem`; the fixture always writes
//!   absolute paths of its own certificate.
//! - TLS 1.0/1.1 and RSA-1024/SHA-1 certificates need `@SECLEVEL=0` with Debian's OpenSSL 3:
//!   when `tls_ciphers` is not given and the certificate is weak or `ssl_protocols` names
//!   TLSv1/TLSv1.1, the fixture uses `DEFAULT:@SECLEVEL=0`.
//! - The listen backlog is 2: do not open more than 2 connections at once to one xrdp.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use tempfile::TempDir;

use super::certs::{CertPair, Certs};
use super::process::{ServerProcess, require_binary};

const PID_FILE: &str = "/var/run/xrdp/xrdp.pid";
const RSAKEYS: &str = "/etc/xrdp/rsakeys.ini";

/// Settings of one xrdp instance (the `[Globals]` keys of `xrdp.ini`).
#[derive(Debug, Clone)]
pub struct XrdpOptions {
    /// Must be in 127.0.0.0/8.
    pub ip: Ipv4Addr,
    pub port: u16,
    /// `negotiate`, `tls` or `rdp`.
    pub security_layer: &'static str,
    /// `none`, `low`, `medium`, `high` or `fips` (Standard RDP Security encryption level).
    pub crypt_level: &'static str,
    /// Served certificate; `None` makes a self-signed one for `xrdp-test` in the server's folder.
    pub certificate: Option<CertPair>,
    /// `ssl_protocols=`; `None` means `TLSv1.2, TLSv1.3` (the packaged default).
    pub ssl_protocols: Option<String>,
    /// `tls_ciphers=`; `None` leaves OpenSSL's default unless SECLEVEL 0 is needed (see above).
    pub tls_ciphers: Option<String>,
}

impl XrdpOptions {
    /// `security_layer` on `addr` with `crypt_level=high`, a fresh self-signed certificate and
    /// the default TLS settings.
    pub fn new(addr: SocketAddrV4, security_layer: &'static str) -> Self {
        Self {
            ip: *addr.ip(),
            port: addr.port(),
            security_layer,
            crypt_level: "high",
            certificate: None,
            ssl_protocols: None,
            tls_ciphers: None,
        }
    }

    /// The ini file for these options (paths must be absolute).
    pub fn ini(&self, certificate: &CertPair, log_file: &Path) -> String {
        let ssl_protocols = self
            .ssl_protocols
            .clone()
            .unwrap_or_else(|| "TLSv1.2, TLSv1.3".to_string());
        let old_tls = ssl_protocols
            .split(',')
            .any(|p| matches!(p.trim(), "TLSv1" | "TLSv1.0" | "TLSv1.1"));
        let tls_ciphers = match &self.tls_ciphers {
            Some(c) => format!("tls_ciphers={c}\n"),
            None if certificate.weak || old_tls => "tls_ciphers=DEFAULT:@SECLEVEL=0\n".to_string(),
            None => String::new(),
        };
        format!(
            "[Globals]\n\
             ini_version=1\n\
             fork=true\n\
             port=tcp://{ip}:{port}\n\
             use_vsock=false\n\
             tcp_nodelay=true\n\
             tcp_keepalive=true\n\
             security_layer={security_layer}\n\
             crypt_level={crypt_level}\n\
             certificate={cert}\n\
             key_file={key}\n\
             ssl_protocols={ssl_protocols}\n\
             {tls_ciphers}\
             autorun=\n\
             allow_channels=true\n\
             allow_multimon=true\n\
             bitmap_cache=true\n\
             bitmap_compression=true\n\
             bulk_compression=true\n\
             max_bpp=32\n\
             new_cursors=true\n\
             use_fastpath=both\n\
             \n\
             [Logging]\n\
             LogFile={log}\n\
             LogLevel=DEBUG\n\
             EnableSyslog=false\n\
             \n\
             [Channels]\n\
             rdpdr=true\n\
             rdpsnd=true\n\
             drdynvc=true\n\
             cliprdr=true\n\
             rail=true\n\
             xrdpvr=true\n\
             \n\
             [Xorg]\n\
             name=Xorg\n\
             lib=libxup.so\n\
             username=ask\n\
             password=ask\n\
             ip=127.0.0.1\n\
             port=-1\n\
             code=20\n",
            ip = self.ip,
            port = self.port,
            security_layer = self.security_layer,
            crypt_level = self.crypt_level,
            cert = certificate.cert.display(),
            key = certificate.key.display(),
            log = log_file.display(),
        )
    }
}

/// A running xrdp; stopped (with its per-connection children) on drop.
pub struct Xrdp {
    // Field order is drop order: the process goes before its folder.
    process: ServerProcess,
    addr: SocketAddrV4,
    security_layer: &'static str,
    certificate: CertPair,
    ini: String,
    _dir: Arc<TempDir>,
}

impl std::fmt::Debug for Xrdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xrdp")
            .field("addr", &self.addr)
            .field("security_layer", &self.security_layer)
            .field("pid", &self.process.pid())
            .finish()
    }
}

impl Xrdp {
    /// Writes the ini into a temporary folder, runs `xrdp --nodaemon -c <ini>` in its own
    /// session and waits until it listens. Panics with xrdp's log if it does not within 10 s.
    pub fn start(opts: XrdpOptions) -> Self {
        assert!(
            opts.ip.is_loopback(),
            "tests only bind 127.0.0.0/8, not {}",
            opts.ip
        );
        assert!(
            matches!(opts.security_layer, "negotiate" | "tls" | "rdp"),
            "xrdp security_layer must be negotiate, tls or rdp, not {:?}",
            opts.security_layer
        );
        assert!(
            matches!(
                opts.crypt_level,
                "none" | "low" | "medium" | "high" | "fips"
            ),
            "xrdp crypt_level must be none, low, medium, high or fips, not {:?}",
            opts.crypt_level
        );
        let xrdp = require_binary("xrdp", "xrdp");
        ensure_rsakeys();
        let dir = Arc::new(
            tempfile::Builder::new()
                .prefix("rdpsweep-xrdp-")
                .tempdir()
                .unwrap_or_else(|e| panic!("cannot create a temporary folder for xrdp: {e}")),
        );
        let certificate = opts
            .certificate
            .clone()
            .unwrap_or_else(|| Certs::new().self_signed("xrdp-test"));
        let log = dir.path().join("xrdp.log");
        let ini_path = dir.path().join("xrdp.ini");
        let ini = opts.ini(&certificate, &log);
        std::fs::write(&ini_path, &ini)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", ini_path.display()));

        match std::fs::remove_file(PID_FILE) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                panic!("xrdp will not start while {PID_FILE} exists, and it cannot be removed: {e}")
            }
        }

        let mut cmd = Command::new(&xrdp);
        cmd.arg("--nodaemon")
            .arg("-c")
            .arg(&ini_path)
            .current_dir(dir.path());
        let mut process =
            ServerProcess::spawn("xrdp", cmd, &dir.path().join("xrdp.console"), false);
        process.add_log(log);
        let addr = SocketAddrV4::new(opts.ip, opts.port);
        process.wait_listening(addr);
        Self {
            process,
            addr,
            security_layer: opts.security_layer,
            certificate,
            ini,
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

    pub fn security_layer(&self) -> &'static str {
        self.security_layer
    }

    /// The certificate this server presents.
    pub fn certificate(&self) -> &CertPair {
        &self.certificate
    }

    /// The xrdp.ini it runs with.
    pub fn ini(&self) -> &str {
        &self.ini
    }

    /// The end of xrdp's console output and log file, for assertion messages.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// Panics with the log tail if xrdp has exited.
    pub fn assert_running(&mut self) {
        self.process
            .assert_running("while the test still needed it");
    }
}

/// Makes `/etc/xrdp/rsakeys.ini` (the Standard RDP Security key) if the package left none,
/// as its postinst does; written to a temporary name and renamed, so concurrent test processes
/// never see half a file.
pub fn ensure_rsakeys() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if Path::new(RSAKEYS).exists() {
            return;
        }
        let keygen = require_binary("xrdp-keygen", "xrdp");
        let tmp = format!("{RSAKEYS}.rdpsweep-{}", std::process::id());
        let out = Command::new(&keygen)
            .args(["xrdp", &tmp, "2048"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", keygen.display()));
        if !out.status.success() || !Path::new(&tmp).exists() {
            panic!(
                "{RSAKEYS} is missing and `xrdp-keygen xrdp {tmp}` failed ({}), so xrdp cannot do \
                 Standard RDP Security (are the tests running as root?):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::rename(&tmp, RSAKEYS)
            .unwrap_or_else(|e| panic!("cannot rename {tmp} to {RSAKEYS}: {e}"));
    });
}
