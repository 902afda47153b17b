//! FreeRDP as a client: what its version and its OpenSSL mean for compatibility. Pure.
//!
//! - CredSSP: FreeRDP added CredSSP versions 5/6 (the CVE-2018-0886 fix, client nonce and
//!   SHA-256 binding hash) in March 2018 (FreeRDP issue 4488, pull requests 4499 and 4510),
//!   before 2.0.0 was released: 2.x and 3.x releases send version 6. 1.x speaks version 2/3
//!   only. Which 2.0.0 pre-release first had it is not known here: `unknown`.
//! - Encryption Oracle policy: FreeRDP has no such setting. Its client (libfreerdp/core/nla.c)
//!   uses the pre-fix public-key echo whenever the server answers a version below 5, i.e. it
//!   connects to unpatched servers over the vulnerable exchange, like Windows with
//!   `AllowEncryptionOracle=2`.
//! - TLS: with OpenSSL 3, TLS 1.0 and 1.1 need security level 0 (FreeRDP 2.x
//!   `/tls-seclevel:0`, 3.x `/tls:seclevel:0`); FreeRDP's default level is 1, so they are
//!   off. With OpenSSL 1.1 they depend on the distribution's `openssl.cnf` (unknown).
//! - Certificates: FreeRDP asks the user about a certificate it cannot verify (warn);
//!   `/cert:ignore` (3.x) or `/cert-ignore` (2.x) connects silently.

use super::profile::{
    CertPolicy, CipherPolicy, ClientKind, ClientProfile, OraclePolicy, OracleSetting, TlsSupport,
    Tristate,
};
use crate::proto::tls::ProtocolVersion;

/// A FreeRDP version from `xfreerdp --version` ("This is FreeRDP version 2.11.2 (2.11.2)").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreerdpVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// Pre-release tag (`rc4`, `dev5`), if any.
    pub pre: Option<String>,
    /// The version text as printed.
    pub text: String,
}

fn parse_triplet(v: &str) -> Option<(u32, u32, u32, Option<String>)> {
    let (nums, pre) = match v.split_once('-') {
        Some((n, p)) => (n, Some(p.to_owned()).filter(|p| !p.is_empty())),
        None => (v, None),
    };
    let mut it = nums.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next().unwrap_or("0").parse().ok()?;
    let patch = it.next().unwrap_or("0").parse().ok()?;
    Some((major, minor, patch, pre))
}

/// Finds the version in `xfreerdp --version` output.
pub fn parse_freerdp_version(output: &str) -> Option<FreerdpVersion> {
    let line = output
        .lines()
        .find(|l| l.to_ascii_lowercase().contains("freerdp version"))?;
    let lower = line.to_ascii_lowercase();
    let pos = lower.find("version")?;
    let text = line
        .get(pos + "version".len()..)?
        .split_whitespace()
        .next()?;
    let (major, minor, patch, pre) = parse_triplet(text)?;
    Some(FreerdpVersion {
        major,
        minor,
        patch,
        pre,
        text: text.to_owned(),
    })
}

/// The OpenSSL major version from `openssl version` ("OpenSSL 3.0.22 25 Aug 2026 (Library:
/// OpenSSL 3.0.22 ...)"); prefers the library version when both are printed.
pub fn parse_openssl_major(output: &str) -> Option<u32> {
    let text = output
        .rsplit_once("Library:")
        .map(|(_, l)| l)
        .unwrap_or(output);
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case("openssl") {
            let v = words.next()?;
            return v.split('.').next()?.parse().ok();
        }
    }
    None
}

/// The profile of a FreeRDP client of `version`, linked (as far as rdpsweep can tell) with
/// OpenSSL `openssl_major`.
pub fn freerdp_profile(
    name: &str,
    binary: &str,
    version: &FreerdpVersion,
    openssl_major: Option<u32>,
) -> ClientProfile {
    let mut notes = vec![format!(
        "{binary} {}: FreeRDP has no AllowEncryptionOracle setting; it falls back to the pre-fix CredSSP exchange with servers that answer a version below 5 (like AllowEncryptionOracle=2)",
        version.text
    )];
    let credssp_fix = match (version.major, version.minor, version.patch, &version.pre) {
        (0..=1, ..) => {
            notes.push("FreeRDP 1.x speaks CredSSP version 2/3 only: no CVE-2018-0886 fix".into());
            Tristate::No
        }
        (2, 0, 0, Some(pre)) => {
            notes.push(format!(
                "FreeRDP 2.0.0-{pre}: whether this pre-release has CredSSP version 6 is unknown"
            ));
            Tristate::Unknown
        }
        _ => Tristate::Yes,
    };
    let mut tls = TlsSupport::unknown();
    tls.set(ProtocolVersion::TLS1_2, Tristate::Yes);
    match openssl_major {
        Some(m) if m >= 3 => {
            tls.set(ProtocolVersion::TLS1_3, Tristate::Yes);
            tls.set(ProtocolVersion::TLS1_0, Tristate::No);
            tls.set(ProtocolVersion::TLS1_1, Tristate::No);
            let flag = if version.major >= 3 {
                "/tls:seclevel:0"
            } else {
                "/tls-seclevel:0"
            };
            notes.push(format!(
                "OpenSSL {m}: TLS 1.0/1.1 only at security level 0 ({flag}); off by default"
            ));
        }
        Some(m) => {
            tls.set(ProtocolVersion::TLS1_3, Tristate::Yes);
            notes.push(format!(
                "OpenSSL {m}: TLS 1.0/1.1 depend on the system openssl.cnf (unknown)"
            ));
        }
        None => notes.push("OpenSSL version unknown: only TLS 1.2 assumed".into()),
    }
    ClientProfile {
        name: name.to_owned(),
        kind: ClientKind::Freerdp,
        credssp_fix,
        allow_encryption_oracle: OracleSetting::Absent,
        oracle_default: Some(OraclePolicy::Vulnerable),
        nla: Tristate::Yes,
        tls,
        tls_ciphers: CipherPolicy::Any,
        cert_policy: CertPolicy::Warn,
        standard_rdp_security: Tristate::Yes,
        os_build: None,
        ubr: None,
        version: Some(version.text.clone()),
        source: format!("local {binary}"),
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        let v = parse_freerdp_version("This is FreeRDP version 2.11.2 (2.11.2)\n").unwrap();
        assert_eq!(
            (v.major, v.minor, v.patch, v.pre.as_deref()),
            (2, 11, 2, None)
        );
        let v = parse_freerdp_version("This is FreeRDP version 3.5.1 (n/a)").unwrap();
        assert_eq!(v.major, 3);
        let v = parse_freerdp_version("This is FreeRDP version 2.0.0-rc4 (abc)").unwrap();
        assert_eq!(v.pre.as_deref(), Some("rc4"));
        assert!(parse_freerdp_version("command not found").is_none());
        assert!(parse_freerdp_version("This is FreeRDP version x.y").is_none());
        assert_eq!(
            parse_openssl_major("OpenSSL 3.0.22 25 Aug 2026 (Library: OpenSSL 3.0.22 25 Aug 2026)"),
            Some(3)
        );
        assert_eq!(parse_openssl_major("OpenSSL 1.1.1w  11 Sep 2023"), Some(1));
        assert_eq!(parse_openssl_major("LibreSSL 3.8.2"), None);
    }

    #[test]
    fn freerdp2_on_openssl3_is_patched_vulnerable_like_and_tls12_plus() {
        let v = parse_freerdp_version("This is FreeRDP version 2.11.2 (2.11.2)").unwrap();
        let p = freerdp_profile("local", "xfreerdp", &v, Some(3));
        assert_eq!(p.credssp_fix, Tristate::Yes);
        assert_eq!(p.effective_policy(), Some(OraclePolicy::Vulnerable));
        assert_eq!(
            p.tls.enabled(),
            vec![ProtocolVersion::TLS1_2, ProtocolVersion::TLS1_3]
        );
        assert_eq!(p.tls.get(ProtocolVersion::TLS1_0), Tristate::No);
        assert!(p.notes.iter().any(|n| n.contains("/tls-seclevel:0")));
    }

    #[test]
    fn old_and_prerelease_freerdp() {
        let v = parse_freerdp_version("This is FreeRDP version 1.1.0-beta1 (git n/a)").unwrap();
        assert_eq!(
            freerdp_profile("l", "xfreerdp", &v, None).credssp_fix,
            Tristate::No
        );
        let v = parse_freerdp_version("This is FreeRDP version 2.0.0-rc3 (x)").unwrap();
        assert_eq!(
            freerdp_profile("l", "xfreerdp", &v, None).credssp_fix,
            Tristate::Unknown
        );
    }
}
