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
