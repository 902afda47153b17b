//! Client-state files in real formats (fixtures/client-state/, see its README): each parses
//! into the expected profile, and each broken file fails with its name and line.

use std::path::{Path, PathBuf};

use rdpsweep::client::load::{StateArg, load_client_states, load_fleet, parse_state_arg};
use rdpsweep::client::profile::{CertPolicy, ClientProfile, OraclePolicy, OracleSetting, Tristate};
use rdpsweep::compat::evaluate;
use rdpsweep::proto::tls::ProtocolVersion as TlsVersion;
use rdpsweep::report::schema::TlsStack;
use rdpsweep::report::schema::{
    CertificateReport, CredsspReport, HostReport, NlaVerdict, OracleFix, Outcome, Status,
    TlsReport, TrustReport,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/client-state")
        .join(name)
}

fn load_one(file: &str) -> ClientProfile {
    let arg = parse_state_arg(&fixture(file).display().to_string()).unwrap();
    let mut v = load_client_states(&[arg]).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(v.len(), 1);
    v.remove(0)
}

fn load_err(file: &str) -> String {
    let arg = parse_state_arg(&fixture(file).display().to_string()).unwrap();
    load_client_states(&[arg]).unwrap_err().to_string()
}

#[test]
fn utf16_reg_export_with_the_value() {
    let p = load_one("credssp-vulnerable.utf16.reg");
    assert_eq!(p.name, "credssp-vulnerable.utf16");
    assert_eq!(p.allow_encryption_oracle, OracleSetting::Value(2));
    // No build in the file: the patch level is honestly unknown.
    assert_eq!(p.credssp_fix, Tristate::Unknown);
    assert!(p.source.contains("credssp-vulnerable.utf16.reg"));
}

#[test]
fn utf16_reg_export_without_the_value_means_os_default() {
    let p = load_one("credssp-no-value.utf16.reg");
    assert_eq!(p.allow_encryption_oracle, OracleSetting::Absent);
    assert!(
        p.notes.iter().any(|n| n.contains("OS default")),
        "{:?}",
        p.notes
    );
}

#[test]
fn combined_export_with_build_ubr_and_schannel() {
    let p = load_one("win10-22h2-force-no-tls10.utf16.reg");
    assert_eq!((p.os_build, p.ubr), (Some(19045), Some(3803)));
    assert_eq!(p.credssp_fix, Tristate::Yes);
    assert_eq!(
        p.effective_policy(),
        Some(OraclePolicy::ForceUpdatedClients)
    );
    assert_eq!(p.tls.get(TlsVersion::TLS1_0), Tristate::No);
    assert_eq!(p.tls.get(TlsVersion::TLS1_2), Tristate::Yes);
}

#[test]
fn utf8_reg_export() {
    let p = load_one("credssp-mitigated.utf8.reg");
    assert_eq!(p.allow_encryption_oracle, OracleSetting::Value(1));
    assert_eq!((p.os_build, p.ubr), (Some(17763), Some(0x16d7)));
    assert_eq!(p.credssp_fix, Tristate::Yes);
}

#[test]
fn reg_query_outputs() {
    let p = load_one("reg-query-present.txt");
    assert_eq!(p.allow_encryption_oracle, OracleSetting::Value(2));
    for absent in ["reg-query-absent.txt", "reg-query-absent-wine.txt"] {
        let p = load_one(absent);
        assert_eq!(p.allow_encryption_oracle, OracleSetting::Absent, "{absent}");
    }
    let p = load_one("reg-query-build-ubr.txt");
    assert_eq!((p.os_build, p.ubr), (Some(14393), Some(1868)));
    assert_eq!(p.credssp_fix, Tristate::No);
}

#[test]
fn files_given_the_same_name_are_merged() {
    let args = vec![
        StateArg {
            name: "laptop".into(),
            path: fixture("reg-query-present.txt"),
        },
        StateArg {
            name: "laptop".into(),
            path: fixture("credssp-mitigated.utf8.reg"),
        },
    ];
    let v = load_client_states(&args).unwrap();
    assert_eq!(v.len(), 1);
    let p = &v[0];
    assert_eq!(p.name, "laptop");
    // The later file wins for the value; the build comes from the .reg.
    assert_eq!(p.allow_encryption_oracle, OracleSetting::Value(1));
    assert_eq!(p.os_build, Some(17763));
    // A profile file cannot be merged.
    let args = vec![
        StateArg {
            name: "x".into(),
            path: fixture("reg-query-present.txt"),
        },
        StateArg {
            name: "x".into(),
            path: fixture("jump-host.toml"),
        },
    ];
    assert!(
        load_client_states(&args)
            .unwrap_err()
            .to_string()
            .contains("jump-host.toml")
    );
}

#[test]
fn toml_profile() {
    let p = load_one("jump-host.toml");
    assert_eq!(p.name, "jump-host");
    assert_eq!(p.credssp_fix, Tristate::Yes);
    assert_eq!(
        p.effective_policy(),
        Some(OraclePolicy::ForceUpdatedClients)
    );
    assert_eq!(p.cert_policy, CertPolicy::Strict);
    assert_eq!(
        p.tls.enabled(),
        vec![TlsVersion::TLS1_2, TlsVersion::TLS1_3]
    );
}

#[test]
fn json_profile_round_trip_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let profile = load_one("win10-22h2-force-no-tls10.utf16.reg");
    let path = dir.path().join("laptop.json");
    std::fs::write(&path, serde_json::to_string_pretty(&profile).unwrap()).unwrap();
    let back = load_client_states(&[parse_state_arg(&path.display().to_string()).unwrap()])
        .unwrap()
        .remove(0);
    assert_eq!(back.name, "laptop");
    assert_eq!(back.credssp_fix, profile.credssp_fix);
    assert_eq!(
        back.allow_encryption_oracle,
        profile.allow_encryption_oracle
    );
    assert_eq!(back.tls, profile.tls);
    assert_eq!(back.cert_policy, profile.cert_policy);
}

#[test]
fn fleet_file() {
    let v = load_fleet(&fixture("fleet.csv")).unwrap();
    let names: Vec<&str> = v.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "helpdesk-win10",
            "kiosk-1607",
            "jump-2019",
            "legacy-win7",
            "workaround-pc"
        ]
    );
    assert!(v[0].source.ends_with("fleet.csv line 3"), "{}", v[0].source);
    assert_eq!(v[1].credssp_fix, Tristate::No);
    assert_eq!(v[2].cert_policy, CertPolicy::Strict);
    assert_eq!(v[4].effective_policy(), Some(OraclePolicy::Vulnerable));
}

#[test]
fn malformed_files_name_file_and_line() {
    let cases = [
        (
            "malformed-dword.utf16.reg",
            ":4: value \"AllowEncryptionOracle\"",
        ),
        ("malformed-query.txt", ":3: bad REG_DWORD"),
        ("malformed-profile.toml", ":3: TOML profile"),
        (
            "not-a-client-state.txt",
            ":1: unrecognised client-state format",
        ),
    ];
    for (file, needle) in cases {
        let e = load_err(file);
        assert!(e.contains(file), "{e}");
        assert!(e.contains(needle), "{file}: {e}");
    }
    let e = load_fleet(&fixture("malformed-fleet.csv"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("malformed-fleet.csv:4: nla"), "{e}");
    let e = load_err("does-not-exist.reg");
    assert!(e.contains("does-not-exist.reg"), "{e}");
}

/// The laptop of the Microsoft error message: a patched client with the default policy
/// against a server still answering CredSSP version 3.
#[test]
fn why_cant_this_laptop_connect() {
    let laptop = load_one("credssp-mitigated.utf8.reg");
    let mut h = HostReport::new("old-srv".into(), Some("192.0.2.7".parse().unwrap()), 3389);
    h.status = Status::Rdp;
    h.security.protocols.credssp = Some(true);
    h.security.protocols.tls = Some(false);
    h.security.protocols.rdp = Some(false);
    h.security.nla = NlaVerdict::Required;
    h.tls = Some(TlsReport {
        version: Some(TlsVersion::TLS1_2),
        versions: vec![TlsVersion::TLS1_2],
        versions_probed: TlsVersion::TLS.to_vec(),
        stack: Some(TlsStack::Rustls),
        certificate: Some(CertificateReport::default()),
        trust: Some(TrustReport {
            platform: Some("trusted".into()),
            ..TrustReport::default()
        }),
        ..TlsReport::default()
    });
    h.credssp = Some(CredsspReport {
        version: Some(3),
        cve_2018_0886: OracleFix::Missing,
        ..CredsspReport::default()
    });
    let cell = evaluate(&h, &laptop);
    assert_eq!(cell.outcome, Outcome::Blocked);
    assert_eq!(cell.reason.as_deref(), Some("credssp-oracle"));
    let fix = cell.remediation.unwrap();
    assert!(
        fix.contains("Patch the server 192.0.2.7:3389 (it answers CredSSP version 3"),
        "{fix}"
    );
    assert!(fix.contains("/d 2 /f") && fix.contains("ROLLBACK"), "{fix}");
}

// -------------------------------------------------------------------------------------------
// The `local` client on Linux: the real FreeRDP client (Debian's freerdp2-x11) read without a
// display, and the default client set without any FreeRDP client.

mod local_client {
    use std::ffi::OsStr;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output, Stdio};
    use std::sync::mpsc;
    use std::time::Duration;

    use serde_json::Value;

    /// Runs the built binary with `PATH` set to `path` (the real one when `None`) and no
    /// `DISPLAY`/`WAYLAND_DISPLAY`, as on a headless jump host; at most 60 s.
    fn rdpsweep<I, S>(path: Option<&OsStr>, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rdpsweep"));
        cmd.args(args)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(path) = path {
            cmd.env("PATH", path);
        }
        let shown = format!("{cmd:?}");
        let child = cmd.spawn().unwrap_or_else(|e| panic!("{shown}: {e}"));
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => panic!("{shown}: {e}"),
            Err(_) => {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                panic!("{shown} did not finish within 60 s")
            }
        }
    }

    fn show(out: &Output) -> String {
        format!(
            "status {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// `rdpsweep client --format json` → the local profile.
    fn local_profile(path: Option<&OsStr>) -> Value {
        let out = rdpsweep(path, ["client", "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)))
    }

    fn notes(p: &Value) -> Vec<String> {
        p["notes"]
            .as_array()
            .unwrap_or_else(|| panic!("no notes: {p:#}"))
            .iter()
            .map(|n| n.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The installed `xfreerdp`; panics naming the package when it is missing (never skips).
    fn xfreerdp() -> PathBuf {
        let path = Path::new("/usr/bin/xfreerdp");
        assert!(
            path.is_file(),
            "/usr/bin/xfreerdp is missing: these tests need Debian's freerdp2-x11 \
             (scripts/test.sh installs it)"
        );
        path.to_path_buf()
    }

    /// The upstream version Debian's package database gives for freerdp2-x11, read here with
    /// plain string handling (independent of the parser under test).
    fn packaged_version() -> String {
        let out = Command::new("dpkg-query")
            .args(["-W", "-f=${Version}", "freerdp2-x11"])
            .output()
            .expect("dpkg-query runs");
        let full = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(out.status.success() && !full.is_empty(), "{out:?}");
        full.split(['+', '-', '~']).next().unwrap().to_owned()
    }

    /// A folder holding only `name` (a script with `body`, or a link to `target`), to be the
    /// whole `PATH`.
    fn path_with(dir: &Path, name: &str, body: Option<&str>, target: Option<&Path>) {
        let file = dir.join(name);
        match (body, target) {
            (Some(body), None) => {
                std::fs::write(&file, body).unwrap();
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            (None, Some(target)) => std::os::unix::fs::symlink(target, &file).unwrap(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn freerdp2_version_and_openssl_are_read_without_a_display() {
        xfreerdp();
        let p = local_profile(None);
        let notes = notes(&p);
        assert_eq!(p["kind"], "freerdp", "{p:#}");
        assert_eq!(p["version"], packaged_version().as_str(), "{p:#}");
        assert_eq!(p["credssp_fix"], "yes", "{p:#}");
        // OpenSSL 3 from libssl.so.3, so TLS 1.0/1.1 off and 1.3 on.
        assert_eq!(
            p["tls_versions"],
            serde_json::json!(["1.2", "1.3"]),
            "{p:#}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("libssl.so.3") && n.contains("OpenSSL 3 from the library")),
            "{notes:#?}"
        );
        // Headless, `xfreerdp --version` says "failed to open display": the note says so and
        // where the version came from instead.
        assert!(
            notes.iter().any(|n| n.contains("printed no version")
                && n.contains("failed to open display")
                && n.contains("libfreerdp2.so.2")),
            "{notes:#?}"
        );
    }

    #[test]
    fn the_library_file_name_alone_gives_the_version() {
        // PATH holds only a link to xfreerdp: no dpkg-query, no openssl command.
        let dir = tempfile::tempdir().unwrap();
        path_with(dir.path(), "xfreerdp", None, Some(&xfreerdp()));
        let p = local_profile(Some(dir.path().as_os_str()));
        let notes = notes(&p);
        assert_eq!(p["version"], packaged_version().as_str(), "{p:#}");
        assert_eq!(
            p["tls_versions"],
            serde_json::json!(["1.2", "1.3"]),
            "{p:#}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("from the file name of the FreeRDP library it links")),
            "{notes:#?}"
        );
    }

    #[test]
    fn a_client_that_prints_its_version_is_believed_first() {
        let dir = tempfile::tempdir().unwrap();
        path_with(
            dir.path(),
            "xfreerdp3",
            Some("#!/bin/sh\necho 'This is FreeRDP version 3.5.1 (n/a)'\n"),
            None,
        );
        let p = local_profile(Some(dir.path().as_os_str()));
        assert_eq!(p["kind"], "freerdp", "{p:#}");
        assert_eq!(p["version"], "3.5.1", "{p:#}");
        assert_eq!(p["source"], "local xfreerdp3", "{p:#}");
        assert!(
            notes(&p)
                .iter()
                .any(|n| n.contains("from `") && n.contains("xfreerdp3 --version`")),
            "{p:#}"
        );
    }

    #[test]
    fn an_installed_client_without_a_readable_version_is_never_called_missing() {
        let dir = tempfile::tempdir().unwrap();
        path_with(
            dir.path(),
            "xfreerdp",
            Some("#!/bin/sh\necho 'usage: xfreerdp [options]' >&2\nexit 1\n"),
            None,
        );
        let p = local_profile(Some(dir.path().as_os_str()));
        let notes = notes(&p);
        assert_eq!(p["kind"], "freerdp", "{p:#}");
        assert_eq!(p["version"], Value::Null, "{p:#}");
        assert_eq!(p["credssp_fix"], "unknown", "{p:#}");
        let first = notes.first().expect("a note");
        for said in [
            "is installed, but its version could not be read",
            "--version` printed no version (\"usage: xfreerdp [options]\")",
            "not an ELF file",
            "dpkg-query",
        ] {
            assert!(first.contains(said), "{said:?} missing from {first}");
        }
        assert!(notes.iter().all(|n| !n.contains("not found")), "{notes:#?}");
        // Something is known (it is FreeRDP): the default set keeps it, without a note.
        let out = rdpsweep(
            Some(dir.path().as_os_str()),
            ["report", "-i", &super::report_fixture(), "--format", "json"],
        );
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("leaving `local` out"),
            "{}",
            show(&out)
        );
    }

    /// Client names evaluated by `rdpsweep report` (the JSON document's `scan.clients`), after
    /// checking that every host has a cell for exactly those.
    fn reported_clients(out: &Output) -> Vec<String> {
        assert_eq!(out.status.code(), Some(0), "{}", show(out));
        let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
        let names: Vec<String> = doc["scan"]["clients"]
            .as_array()
            .expect("scan.clients")
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        let hosts = doc["hosts"].as_array().expect("hosts");
        assert!(!hosts.is_empty());
        for h in hosts {
            let mut cells: Vec<String> = h["compat"]
                .as_object()
                .expect("compat")
                .keys()
                .cloned()
                .collect();
            cells.sort();
            let mut want = names.clone();
            want.sort();
            assert_eq!(cells, want, "{h:#}");
        }
        names
    }

    #[test]
    fn the_default_clients_leave_out_a_local_client_nothing_is_known_about() {
        let empty = tempfile::tempdir().unwrap();
        let path = Some(empty.path().as_os_str());
        let fixture = super::report_fixture();

        let out = rdpsweep(path, ["report", "-i", &fixture, "--format", "json"]);
        assert_eq!(
            reported_clients(&out),
            vec!["patched-mitigated", "unpatched"]
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let dropped: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("leaving `local` out"))
            .collect();
        assert_eq!(dropped.len(), 1, "exactly one note: {stderr}");
        let note = dropped[0];
        assert!(note.contains("no FreeRDP client found on PATH"), "{note}");
        assert!(note.contains("--client-state"), "{note}");
        assert!(
            note.contains("--client-profile local,patched-mitigated,unpatched"),
            "{note}"
        );

        // Asked for by name, it stays (an unknown column), without the note.
        let out = rdpsweep(
            path,
            [
                "report",
                "-i",
                &fixture,
                "--format",
                "json",
                "--client-profile",
                "local,patched-mitigated",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(reported_clients(&out), vec!["local", "patched-mitigated"]);
        assert!(!stderr.contains("leaving `local` out"), "{stderr}");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        for h in doc["hosts"].as_array().unwrap() {
            if h["status"] == "rdp" {
                assert_eq!(h["compat"]["local"]["outcome"], "unknown", "{h:#}");
                assert_eq!(h["compat"]["local"]["reason"], "client-unknown", "{h:#}");
            }
        }

        // `rdpsweep client` describes the local client even when nothing is known.
        let p = local_profile(path);
        assert_eq!(p["kind"], "unknown", "{p:#}");
        assert!(
            notes(&p)
                .iter()
                .any(|n| n.contains("no FreeRDP client found on PATH")),
            "{p:#}"
        );

        // With the real client installed, the default set keeps `local`.
        xfreerdp();
        let out = rdpsweep(None, ["report", "-i", &fixture, "--format", "json"]);
        assert_eq!(
            reported_clients(&out),
            vec!["local", "patched-mitigated", "unpatched"]
        );
    }
}

/// The saved scan of real loopback servers (`fixtures/report/`).
fn report_fixture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/report/loopback-mix.json")
        .display()
        .to_string()
}
