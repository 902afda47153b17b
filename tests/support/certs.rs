//! Test certificates made with the `openssl` command line tool in a temporary folder.
//!
//! ```ignore
//! let certs = Certs::new();
//! let good = certs.ca_signed("rdp.test", Some(ip));   // trusted with --ca-file certs.ca_cert()
//! let expired = certs.expired("old.test");            // self-signed, 2020-01-01 .. 2021-01-01
//! let weak = certs.weak("weak.test");                 // RSA-1024, sha1WithRSAEncryption
//! ```
//!
//! Every [`CertPair`] keeps the folder alive, so it can outlive the [`Certs`] that made it.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tempfile::TempDir;

use super::process::require_binary;

/// Validity of [`Certs::expired`] and [`Certs::expired_ca_signed`] (`openssl ca` date format).
pub const EXPIRED_START: &str = "20200101000000Z";
pub const EXPIRED_END: &str = "20210101000000Z";

/// Subject CN of the test CA.
pub const CA_NAME: &str = "rdpsweep test CA";

/// A certificate and its key (PEM files), with what a scanner should report about it.
#[derive(Clone)]
pub struct CertPair {
    pub cert: PathBuf,
    /// Unencrypted private key.
    pub key: PathBuf,
    /// The CA certificate that signed it; `None` when self-signed.
    pub ca: Option<PathBuf>,
    /// Subject CN (and DNS SAN for the certificates made here).
    pub name: String,
    /// SHA-1 of the DER certificate: upper-case hex without separators (the Windows thumbprint,
    /// as in `CertificateReport::sha1`).
    pub sha1: String,
    /// SHA-256 of the DER certificate: upper-case hex, colon-separated (as in
    /// `CertificateReport::sha256`).
    pub sha256: String,
    /// RSA-1024 or SHA-1 signed: OpenSSL 3 servers only load it at `@SECLEVEL=0`.
    pub weak: bool,
    _dir: Arc<TempDir>,
}

impl fmt::Debug for CertPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertPair")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("ca", &self.ca)
            .field("name", &self.name)
            .field("sha1", &self.sha1)
            .field("sha256", &self.sha256)
            .field("weak", &self.weak)
            .finish()
    }
}

impl CertPair {
    /// Describes existing PEM files (e.g. the certificate a server generated for itself),
    /// reading the fingerprints and CN back with `openssl x509`.
    pub fn from_files(cert: &Path, key: &Path, dir: Arc<TempDir>) -> Self {
        let (sha1, sha256) = fingerprints(cert);
        let subject = openssl(
            dir.path(),
            &[
                "x509",
                "-in",
                path_str(cert),
                "-noout",
                "-subject",
                "-nameopt",
                "multiline",
            ],
            &[],
        );
        let name = subject
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("commonName")
                    .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
            })
            .unwrap_or_default();
        Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            ca: None,
            name,
            sha1,
            sha256,
            weak: false,
            _dir: dir,
        }
    }

    /// The certificate PEM.
    pub fn cert_pem(&self) -> Vec<u8> {
        std::fs::read(&self.cert)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.cert.display()))
    }
}

/// A factory of certificates sharing one folder and one test CA (made on first use).
pub struct Certs {
    dir: Arc<TempDir>,
    ca: Mutex<Option<(PathBuf, PathBuf)>>,
    counter: AtomicU32,
}

impl Default for Certs {
    fn default() -> Self {
        Self::new()
    }
}

const OPENSSL_CNF: &str = r#"
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = placeholder
[ ca ]
default_ca = test_ca
[ test_ca ]
database = $ENV::RDPSWEEP_CA_DB
new_certs_dir = $ENV::RDPSWEEP_CA_NEW
serial = $ENV::RDPSWEEP_CA_SERIAL
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $ENV::RDPSWEEP_SAN
subjectKeyIdentifier = hash
"#;

impl Certs {
    pub fn new() -> Self {
        require_binary("openssl", "openssl");
        let dir = tempfile::Builder::new()
            .prefix("rdpsweep-certs-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary folder for certificates: {e}"));
        let cnf = dir.path().join("openssl.cnf");
        std::fs::write(&cnf, OPENSSL_CNF)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", cnf.display()));
        Self {
            dir: Arc::new(dir),
            ca: Mutex::new(None),
            counter: AtomicU32::new(0),
        }
    }

    /// The test CA certificate (PEM), for `--ca-file`.
    pub fn ca_cert(&self) -> PathBuf {
        self.ca().0
    }

    /// A certificate for `name` signed by the test CA, SANs `DNS:name` (and `IP:ip`), valid for
    /// a year from now, RSA-2048 / SHA-256.
    pub fn ca_signed(&self, name: &str, ip: Option<Ipv4Addr>) -> CertPair {
        let (ca_cert, ca_key) = self.ca();
        let stem = self.stem(name);
        let (key, csr) = self.request(&stem, name, "rsa:2048");
        let cert = self.path(&format!("{stem}.crt"));
        let serial = format!(
            "0x{:08x}{:08x}",
            std::process::id(),
            self.counter.fetch_add(1, Ordering::Relaxed)
        );
        self.run(
            &[
                "x509",
                "-req",
                "-in",
                path_str(&csr),
                "-CA",
                path_str(&ca_cert),
                "-CAkey",
                path_str(&ca_key),
                "-set_serial",
                &serial,
                "-days",
                "365",
                "-sha256",
                "-extfile",
                path_str(&self.cnf()),
                "-extensions",
                "server_ext",
                "-out",
                path_str(&cert),
            ],
            &san(name, ip),
        );
        self.pair(cert, key, Some(ca_cert), name, false)
    }

    /// A self-signed certificate for `name` (like the default Windows RDP certificate, though
    /// that one has no SAN): RSA-2048 / SHA-256, valid for a year.
    pub fn self_signed(&self, name: &str) -> CertPair {
        self.self_signed_server(name, "rsa:2048", "-sha256", false)
    }

    /// A self-signed certificate for `name` that expired: valid from [`EXPIRED_START`] to
    /// [`EXPIRED_END`] (`openssl ca -selfsign`, because OpenSSL 3's `req -x509` cannot backdate).
    pub fn expired(&self, name: &str) -> CertPair {
        self.expired_signed_by(name, None)
    }

    /// Like [`Certs::expired`] but signed by the test CA, so that with `--ca-file` the only
    /// problem is the date.
    pub fn expired_ca_signed(&self, name: &str) -> CertPair {
        let ca = self.ca();
        self.expired_signed_by(name, Some(ca))
    }

    /// A CA-signed certificate for `other_name`: served by a host you scan under another name,
    /// it is the name-mismatch case.
    pub fn other_host(&self, other_name: &str) -> CertPair {
        self.ca_signed(other_name, None)
    }

    /// A self-signed RSA-1024 certificate signed with sha1WithRSAEncryption. Servers on
    /// OpenSSL 3 need `@SECLEVEL=0` in their cipher string to load it ([`CertPair::weak`]).
    pub fn weak(&self, name: &str) -> CertPair {
        self.self_signed_server(name, "rsa:1024", "-sha1", true)
    }

    /// A self-signed server certificate for `name` (`openssl req -x509`, SAN `DNS:name`, valid
    /// for a year): a new `newkey` key (`rsa:2048`, `rsa:1024`), signed with `digest`
    /// (`-sha256`, `-sha1`); `weak` is what [`CertPair::weak`] says about it.
    fn self_signed_server(&self, name: &str, newkey: &str, digest: &str, weak: bool) -> CertPair {
        let stem = self.stem(name);
        let key = self.path(&format!("{stem}.key"));
        let cert = self.path(&format!("{stem}.crt"));
        self.req_x509(
            &key,
            &cert,
            name,
            &[
                "-newkey",
                newkey,
                digest,
                "-days",
                "365",
                "-extensions",
                "server_ext",
            ],
            &san(name, None),
        );
        self.pair(cert, key, None, name, weak)
    }

    /// An expired server certificate for `name` ([`EXPIRED_START`] to [`EXPIRED_END`], SAN
    /// `DNS:name`, RSA-2048), made with `openssl ca` because OpenSSL 3's `req -x509` cannot
    /// backdate: signed by `ca` (certificate, key), or by its own key when `None`.
    fn expired_signed_by(&self, name: &str, ca: Option<(PathBuf, PathBuf)>) -> CertPair {
        let stem = self.stem(name);
        let (key, csr) = self.request(&stem, name, "rsa:2048");
        let cert = self.path(&format!("{stem}.crt"));
        let mut env = san(name, None);
        env.extend(self.ca_database(&stem));
        let cnf = self.cnf();
        let mut args = vec!["ca", "-batch", "-notext", "-config", path_str(&cnf)];
        match &ca {
            Some((ca_cert, ca_key)) => {
                args.extend(["-cert", path_str(ca_cert), "-keyfile", path_str(ca_key)]);
            }
            None => args.extend(["-selfsign", "-keyfile", path_str(&key)]),
        }
        args.extend([
            "-in",
            path_str(&csr),
            "-out",
            path_str(&cert),
            "-startdate",
            EXPIRED_START,
            "-enddate",
            EXPIRED_END,
            "-extensions",
            "server_ext",
        ]);
        self.run(&args, &env);
        self.pair(cert, key, ca.map(|(ca_cert, _)| ca_cert), name, false)
    }

    fn ca(&self) -> (PathBuf, PathBuf) {
        let mut guard = self.ca.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ca) = guard.as_ref() {
            return ca.clone();
        }
        let cert = self.path("ca.crt");
        let key = self.path("ca.key");
        self.req_x509(
            &key,
            &cert,
            CA_NAME,
            &[
                "-newkey",
                "rsa:2048",
                "-sha256",
                "-days",
                "3650",
                "-extensions",
                "ca_ext",
            ],
            &[],
        );
        *guard = Some((cert.clone(), key.clone()));
        (cert, key)
    }

    /// `openssl req -x509`: a new unencrypted key at `key` and a certificate for CN `cn` signed
    /// by it at `cert`. `options` give the key type, digest, validity and the extensions'
    /// section of the config; `env` the `$ENV::` values that section reads.
    fn req_x509(
        &self,
        key: &Path,
        cert: &Path,
        cn: &str,
        options: &[&str],
        env: &[(&'static str, String)],
    ) {
        let cnf = self.cnf();
        let subj = format!("/CN={cn}");
        let mut args = vec![
            "req",
            "-x509",
            "-config",
            path_str(&cnf),
            "-nodes",
            "-keyout",
            path_str(key),
            "-out",
            path_str(cert),
            "-subj",
            &subj,
        ];
        args.extend_from_slice(options);
        self.run(&args, env);
    }

    /// A key and a certificate request for `name`.
    fn request(&self, stem: &str, name: &str, newkey: &str) -> (PathBuf, PathBuf) {
        let key = self.path(&format!("{stem}.key"));
        let csr = self.path(&format!("{stem}.csr"));
        let subj = format!("/CN={name}");
        self.run(
            &[
                "req",
                "-new",
                "-config",
                path_str(&self.cnf()),
                "-newkey",
                newkey,
                "-nodes",
                "-keyout",
                path_str(&key),
                "-out",
                path_str(&csr),
                "-subj",
                &subj,
            ],
            &[],
        );
        (key, csr)
    }

    /// A private `openssl ca` database for one signing, so concurrent signings never share it.
    fn ca_database(&self, stem: &str) -> Vec<(&'static str, String)> {
        let dir = self.path(&format!("{stem}.db"));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let index = dir.join("index.txt");
        let serial = dir.join("serial");
        std::fs::write(&index, "")
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", index.display()));
        let serial_hex = format!(
            "{:08X}{:08X}\n",
            std::process::id(),
            self.counter.fetch_add(1, Ordering::Relaxed)
        );
        std::fs::write(&serial, serial_hex)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", serial.display()));
        vec![
            ("RDPSWEEP_CA_DB", path_str(&index).to_string()),
            ("RDPSWEEP_CA_NEW", path_str(&dir).to_string()),
            ("RDPSWEEP_CA_SERIAL", path_str(&serial).to_string()),
        ]
    }

    fn pair(
        &self,
        cert: PathBuf,
        key: PathBuf,
        ca: Option<PathBuf>,
        name: &str,
        weak: bool,
    ) -> CertPair {
        let (sha1, sha256) = fingerprints(&cert);
        CertPair {
            cert,
            key,
            ca,
            name: name.to_string(),
            sha1,
            sha256,
            weak,
            _dir: Arc::clone(&self.dir),
        }
    }

    fn stem(&self, name: &str) -> String {
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        format!("{safe}-{}", self.counter.fetch_add(1, Ordering::Relaxed))
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn cnf(&self) -> PathBuf {
        self.path("openssl.cnf")
    }

    fn run(&self, args: &[&str], env: &[(&'static str, String)]) -> String {
        openssl(self.dir.path(), args, env)
    }
}

fn san(name: &str, ip: Option<Ipv4Addr>) -> Vec<(&'static str, String)> {
    let value = match ip {
        Some(ip) => format!("DNS:{name},IP:{ip}"),
        None => format!("DNS:{name}"),
    };
    vec![("RDPSWEEP_SAN", value)]
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("temporary path is not UTF-8: {}", path.display()))
}

/// (SHA-1 bare upper hex, SHA-256 colon-separated upper hex) of a PEM certificate, as printed
/// by `openssl x509 -fingerprint`.
pub fn fingerprints(cert: &Path) -> (String, String) {
    let dir = cert.parent().unwrap_or(Path::new("/"));
    let read = |digest: &str| {
        let out = openssl(
            dir,
            &[
                "x509",
                "-in",
                path_str(cert),
                "-noout",
                "-fingerprint",
                digest,
            ],
            &[],
        );
        out.trim()
            .split_once('=')
            .map(|(_, v)| v.to_ascii_uppercase())
            .unwrap_or_else(|| {
                panic!("unexpected `openssl x509 -fingerprint {digest}` output: {out:?}")
            })
    };
    let sha1 = read("-sha1").replace(':', "");
    let sha256 = read("-sha256");
    assert_eq!(
        sha1.len(),
        40,
        "SHA-1 fingerprint of {}: {sha1}",
        cert.display()
    );
    assert_eq!(
        sha256.len(),
        95,
        "SHA-256 fingerprint of {}: {sha256}",
        cert.display()
    );
    (sha1, sha256)
}

/// Runs `openssl ARGS` in `dir` with the `$ENV::` variables of the config set; panics with its
/// output on failure. Returns stdout.
fn openssl(dir: &Path, args: &[&str], env: &[(&'static str, String)]) -> String {
    let bin = require_binary("openssl", "openssl");
    let mut cmd = Command::new(&bin);
    cmd.args(args).current_dir(dir);
    // The config references these in sections a command may not use; OpenSSL still expands
    // them when it loads the file, so give every one a value.
    for var in [
        "RDPSWEEP_SAN",
        "RDPSWEEP_CA_DB",
        "RDPSWEEP_CA_NEW",
        "RDPSWEEP_CA_SERIAL",
    ] {
        cmd.env(var, "unused");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    if !out.status.success() {
        panic!(
            "`openssl {}` failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}
