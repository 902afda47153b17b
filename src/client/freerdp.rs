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
    CertPolicy, CipherPolicy, ClientKind, ClientProfile, OraclePolicy, OracleSetting, ServerAuth,
    TlsSupport, Tristate,
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
    build_profile(name, binary, Some(version), openssl_major)
}

/// The profile of a FreeRDP client that is installed (`binary`) but whose version could not be
/// read; `tried` lists each way that was tried and why it gave no version. What every FreeRDP
/// release shares still holds (no Encryption Oracle setting, certificate prompt, TLS from its
/// OpenSSL); whether it has the CredSSP fix (2.0.0 and later) is `unknown`.
pub fn freerdp_profile_unversioned(
    name: &str,
    binary: &str,
    openssl_major: Option<u32>,
    tried: &[String],
) -> ClientProfile {
    let mut p = build_profile(name, binary, None, openssl_major);
    p.notes.insert(
        0,
        format!(
            "{binary} is installed, but its version could not be read (tried: {}): whether it has the CredSSP fix (FreeRDP 2.0.0 and later) is unknown",
            tried.join("; ")
        ),
    );
    p
}

fn build_profile(
    name: &str,
    binary: &str,
    version: Option<&FreerdpVersion>,
    openssl_major: Option<u32>,
) -> ClientProfile {
    let shown = version.map_or("(version unknown)", |v| v.text.as_str());
    let mut notes = vec![format!(
        "{binary} {shown}: FreeRDP has no AllowEncryptionOracle setting; it falls back to the pre-fix CredSSP exchange with servers that answer a version below 5 (like AllowEncryptionOracle=2)"
    )];
    let credssp_fix = match version.map(|v| (v.major, v.minor, v.patch, &v.pre)) {
        None => Tristate::Unknown,
        Some((0..=1, ..)) => {
            notes.push("FreeRDP 1.x speaks CredSSP version 2/3 only: no CVE-2018-0886 fix".into());
            Tristate::No
        }
        Some((2, 0, 0, Some(pre))) => {
            notes.push(format!(
                "FreeRDP 2.0.0-{pre}: whether this pre-release has CredSSP version 6 is unknown"
            ));
            Tristate::Unknown
        }
        Some(_) => Tristate::Yes,
    };
    let mut tls = TlsSupport::unknown();
    tls.set(ProtocolVersion::TLS1_2, Tristate::Yes);
    match openssl_major {
        Some(m) if m >= 3 => {
            tls.set(ProtocolVersion::TLS1_3, Tristate::Yes);
            tls.set(ProtocolVersion::TLS1_0, Tristate::No);
            tls.set(ProtocolVersion::TLS1_1, Tristate::No);
            let flag = match version.map(|v| v.major) {
                Some(major) if major >= 3 => "/tls:seclevel:0",
                Some(_) => "/tls-seclevel:0",
                None => "/tls-seclevel:0 in 2.x, /tls:seclevel:0 in 3.x",
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
        min_rdp_encryption: None,
        // FreeRDP uses Kerberos only when built and configured for it; whether it is here is
        // not known.
        server_auth: ServerAuth::Unknown,
        os_build: None,
        ubr: None,
        version: version.map(|v| v.text.clone()),
        source: format!("local {binary}"),
        notes,
    }
}

// -------------------------------------------------------------------------------------------
// The version without running the client: package database and library file names.

/// `major.minor.patch`, every part decimal digits (no more, no fewer parts).
fn strict_triplet(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.split('.');
    let mut part = || -> Option<u32> {
        let p = it.next()?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let v = (part()?, part()?, part()?);
    it.next().is_none().then_some(v)
}

/// The FreeRDP version in a Debian package version, as `dpkg-query -W -f='${Version}' PACKAGE`
/// prints it (Debian 12: `2.11.7+dfsg1-6~deb12u1` → 2.11.7). Debian Policy 5.6.12
/// `[epoch:]upstream_version[-debian_revision]`: the epoch and the revision (after the last
/// `-`) are dropped, a repack suffix (`+dfsg1`) is cut, and a `~` pre-release
/// (`2.0.0~git20190204.1.2693389a+dfsg1-1` → 2.0.0 pre-release `git20190204.1.2693389a`)
/// becomes [`FreerdpVersion::pre`]. `None` unless the upstream part is `major.minor.patch`.
///
/// The distribution may have backported fixes into an older upstream version: the version is
/// what the package says, not a patch level.
pub fn parse_dpkg_version(text: &str) -> Option<FreerdpVersion> {
    let v = text.trim();
    if v.is_empty() || v.chars().any(char::is_whitespace) {
        return None;
    }
    let v = match v.split_once(':') {
        Some((epoch, rest)) if !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()) => {
            rest
        }
        Some(_) => return None,
        None => v,
    };
    let upstream = v.rsplit_once('-').map_or(v, |(u, _)| u);
    let upstream = upstream.split('+').next()?;
    let (nums, pre) = match upstream.split_once('~') {
        Some((n, p)) if !p.is_empty() => (n, Some(p.to_owned())),
        Some(_) => return None,
        None => (upstream, None),
    };
    let (major, minor, patch) = strict_triplet(nums)?;
    let text = match &pre {
        Some(p) => format!("{nums}-{p}"),
        None => nums.to_owned(),
    };
    Some(FreerdpVersion {
        major,
        minor,
        patch,
        pre,
        text,
    })
}

/// The packages that own `path`, from `dpkg-query -S PATH` output (`freerdp2-x11:
/// /usr/bin/xfreerdp`; several owners are comma-separated; `diversion by ...` lines are
/// skipped). Names that are not Debian package names (Policy 5.6.1, with an optional
/// `:arch`) are left out.
pub fn parse_dpkg_owners(text: &str, path: &str) -> Vec<String> {
    let valid = |name: &str| {
        let (pkg, arch) = name.split_once(':').unwrap_or((name, "x"));
        let pkg_ok = pkg.len() >= 2
            && pkg
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && pkg.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
            });
        let arch_ok = !arch.is_empty()
            && arch
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        pkg_ok && arch_ok
    };
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("diversion by ") {
            continue;
        }
        let Some(owners) = line.strip_suffix(path).and_then(|l| l.strip_suffix(": ")) else {
            continue;
        };
        for name in owners.split(',').map(str::trim) {
            if valid(name) && !out.iter().any(|o| o == name) {
                out.push(name.to_owned());
            }
        }
    }
    out
}

/// Whether a shared-object name (`DT_NEEDED`, or a file name) is one of FreeRDP's libraries
/// (`libfreerdp2.so.2`, `libfreerdp-client3.so.3`, ...).
pub fn is_freerdp_library(name: &str) -> bool {
    name.starts_with("libfreerdp") && name.contains(".so")
}

/// Whether it is FreeRDP's core library (`libfreerdp2.so.2`, `libfreerdp3.so.3`; 1.x:
/// `libfreerdp-core.so.1.0`), the one that does TLS and CredSSP.
pub fn is_freerdp_core_library(name: &str) -> bool {
    name.strip_prefix("libfreerdp").is_some_and(|rest| {
        rest.bytes().next().is_some_and(|b| b.is_ascii_digit()) || rest.starts_with("-core.")
    })
}

/// The FreeRDP version in the real file name of one of its shared libraries: distributions
/// build them with `WITH_LIBRARY_VERSIONING`, so `libfreerdp2.so.2` is a link to
/// `libfreerdp2.so.2.11.7` (Debian 12). `None` unless the name carries `major.minor.patch`
/// after `.so.` (the link name alone gives only the ABI major).
pub fn parse_library_file_version(file_name: &str) -> Option<FreerdpVersion> {
    if !is_freerdp_library(file_name) {
        return None;
    }
    let (_, version) = file_name.split_once(".so.")?;
    let (major, minor, patch) = strict_triplet(version)?;
    Some(FreerdpVersion {
        major,
        minor,
        patch,
        pre: None,
        text: version.to_owned(),
    })
}

/// The OpenSSL major version a library name stands for (`DT_NEEDED` of FreeRDP or WinPR):
/// `libssl.so.3`/`libcrypto.so.3` → 3 (OpenSSL 3 names its ABI after the major version),
/// `libssl.so.1.1` and `libssl.so.1.0.x` → 1, `libssl.so.10` → 1 (Red Hat's name for 1.0.2).
/// `None` for anything else, e.g. LibreSSL's `libssl.so.53` or NSS's `libssl3.so`.
pub fn openssl_major_from_soname(name: &str) -> Option<u32> {
    let abi = name
        .strip_prefix("libssl.so.")
        .or_else(|| name.strip_prefix("libcrypto.so."))?;
    match abi {
        "10" => Some(1),
        _ if abi.starts_with("1.0") || abi.starts_with("1.1") => Some(1),
        _ if abi.starts_with("0.9.") => Some(0),
        _ if abi.len() == 1 => abi.parse().ok().filter(|m| (3..=9).contains(m)),
        _ => None,
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

    /// Captured on Debian 12 (December 2026): `dpkg-query -W -f='${Version}\n' freerdp2-x11
    /// xrdp libssl3 xvfb` and Debian's FreeRDP 2.0 pre-release / 1.1 package versions.
    #[test]
    fn dpkg_versions_parse() {
        let v = parse_dpkg_version("2.11.7+dfsg1-6~deb12u1").unwrap();
        assert_eq!(
            (v.major, v.minor, v.patch, v.pre.as_deref(), v.text.as_str()),
            (2, 11, 7, None, "2.11.7")
        );
        let v = parse_dpkg_version("2.11.7+dfsg1-6~deb12u1\n").unwrap();
        assert_eq!(v.text, "2.11.7");
        // An epoch and a native-looking revision.
        let v = parse_dpkg_version("2:21.1.7-3+deb12u13").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (21, 1, 7));
        let v = parse_dpkg_version("3.0.22-1~deb12u2").unwrap();
        assert_eq!((v.major, v.pre), (3, None));
        // Debian buster's FreeRDP 2.0.0 pre-release and stretch's 1.1.
        let v = parse_dpkg_version("2.0.0~git20190204.1.2693389a+dfsg1-1+deb10u1").unwrap();
        assert_eq!(v.pre.as_deref(), Some("git20190204.1.2693389a"));
        assert_eq!(v.text, "2.0.0-git20190204.1.2693389a");
        assert_eq!(
            freerdp_profile("l", "xfreerdp", &v, Some(1)).credssp_fix,
            Tristate::Unknown
        );
        let v = parse_dpkg_version("1.1.0~git20140921.1.440916e+dfsg1-13+deb9u4").unwrap();
        assert_eq!(
            freerdp_profile("l", "xfreerdp", &v, Some(1)).credssp_fix,
            Tristate::No
        );
        // xrdp's four-part upstream version is not a FreeRDP triplet.
        assert!(parse_dpkg_version("0.9.21.1-1+deb12u3").is_none());
        for bad in [
            "",
            "  ",
            "dpkg-query: no packages found matching nosuchpkg",
            "x:2.11.7-1",
            "2.11-1",
            "2.11.7~-1",
            "2.x.7-1",
        ] {
            assert!(parse_dpkg_version(bad).is_none(), "{bad:?}");
        }
    }

    /// `dpkg-query -S PATH` output captured on Debian 12.
    #[test]
    fn dpkg_owners_parse() {
        assert_eq!(
            parse_dpkg_owners("freerdp2-x11: /usr/bin/xfreerdp\n", "/usr/bin/xfreerdp"),
            vec!["freerdp2-x11"]
        );
        assert_eq!(
            parse_dpkg_owners(
                "libfreerdp2-2:amd64: /usr/lib/x86_64-linux-gnu/libfreerdp2.so.2.11.7\n",
                "/usr/lib/x86_64-linux-gnu/libfreerdp2.so.2.11.7"
            ),
            vec!["libfreerdp2-2:amd64"]
        );
        let diverted = "diversion by linux-perf from: /usr/share/man/man1/perf.1.gz\n\
                        diversion by linux-perf to: /usr/share/man/man1/perf.wrapper.1.gz\n\
                        linux-perf: /usr/share/man/man1/perf.1.gz\n";
        assert_eq!(
            parse_dpkg_owners(diverted, "/usr/share/man/man1/perf.1.gz"),
            vec!["linux-perf"]
        );
        assert_eq!(
            parse_dpkg_owners(
                "perl, libperl5.36:amd64, xvfb: /usr/share/man/man1",
                "/usr/share/man/man1"
            ),
            vec!["perl", "libperl5.36:amd64", "xvfb"]
        );
        // Printed on standard error when no package owns the file; a path that only ends
        // like the one asked for; names that are not package names.
        for (text, path) in [
            (
                "dpkg-query: no path found matching pattern /bin/xfreerdp",
                "/bin/xfreerdp",
            ),
            ("freerdp2-x11: /usr/bin/xfreerdp", "/bin/xfreerdp"),
            ("Free RDP: /usr/bin/xfreerdp", "/usr/bin/xfreerdp"),
            ("$(rm -rf): /usr/bin/xfreerdp", "/usr/bin/xfreerdp"),
            ("pkg:: /usr/bin/xfreerdp", "/usr/bin/xfreerdp"),
        ] {
            assert!(parse_dpkg_owners(text, path).is_empty(), "{text:?}");
        }
    }

    /// Real file names: Debian 12 (`/usr/lib/x86_64-linux-gnu/libfreerdp2.so.2.11.7`,
    /// `libfreerdp-client2.so.2.11.7`, `libwinpr2.so.2.11.7`) and the DT_NEEDED entries of
    /// its `xfreerdp`, `libfreerdp2.so.2` and `libwinpr2.so.2` (`readelf -d`).
    #[test]
    fn library_names() {
        let v = parse_library_file_version("libfreerdp2.so.2.11.7").unwrap();
        assert_eq!(
            (v.major, v.minor, v.patch, v.text.as_str()),
            (2, 11, 7, "2.11.7")
        );
        let v = parse_library_file_version("libfreerdp-client3.so.3.5.1").unwrap();
        assert_eq!(v.major, 3);
        for no_version in [
            "libfreerdp2.so.2",
            "libfreerdp2.so",
            "libwinpr2.so.2.11.7",
            "libfreerdp2.so.2.11",
            "libfreerdp2.so.2.11.7.1",
            "libfreerdp2.so.2.11.x",
        ] {
            assert!(
                parse_library_file_version(no_version).is_none(),
                "{no_version}"
            );
        }
        assert!(is_freerdp_core_library("libfreerdp2.so.2"));
        assert!(is_freerdp_core_library("libfreerdp3.so.3"));
        assert!(is_freerdp_core_library("libfreerdp-core.so.1.0"));
        assert!(!is_freerdp_core_library("libfreerdp-client2.so.2"));
        assert!(is_freerdp_library("libfreerdp-client2.so.2"));
        assert!(!is_freerdp_library("libwinpr2.so.2"));

        assert_eq!(openssl_major_from_soname("libssl.so.3"), Some(3));
        assert_eq!(openssl_major_from_soname("libcrypto.so.3"), Some(3));
        assert_eq!(openssl_major_from_soname("libssl.so.1.1"), Some(1));
        assert_eq!(openssl_major_from_soname("libssl.so.1.0.2"), Some(1));
        assert_eq!(openssl_major_from_soname("libssl.so.10"), Some(1));
        for other in [
            "libssl3.so",
            "libssl.so.53",
            "libssl.so",
            "libssl.so.",
            "libX11.so.6",
        ] {
            assert_eq!(openssl_major_from_soname(other), None, "{other}");
        }
    }

    #[test]
    fn installed_without_a_version() {
        let tried = vec![
            "`/usr/bin/xfreerdp --version` printed no version (\"failed to open display\")"
                .to_owned(),
            "dpkg-query: no package owns /usr/bin/xfreerdp".to_owned(),
        ];
        let p = freerdp_profile_unversioned("local", "xfreerdp", Some(3), &tried);
        assert_eq!(p.kind, ClientKind::Freerdp);
        assert_eq!(p.credssp_fix, Tristate::Unknown);
        assert_eq!(p.version, None);
        assert_eq!(p.effective_policy(), Some(OraclePolicy::Vulnerable));
        assert_eq!(p.tls.get(ProtocolVersion::TLS1_0), Tristate::No);
        let first = p.notes.first().unwrap();
        assert!(first.contains("is installed"), "{first}");
        assert!(first.contains("failed to open display"), "{first}");
        assert!(first.contains("no package owns"), "{first}");
        assert!(
            p.notes.iter().all(|n| !n.contains("not found")),
            "{:?}",
            p.notes
        );
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
