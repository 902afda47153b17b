//! The scanner's verdicts on real servers on loopback, end to end through the binary: which
//! implementation answered (`server`), what Standard RDP Security offers (`rdp_security`, and
//! the same facts as nmap's `rdp-enum-encryption` reads them from the same servers), and the
//! RDP version read by the MCS exchange inside TLS.
//!
//! nmap runs its RDP scripts without service detection only on port 3389, so the xrdp servers
//! here listen on 3389 of their own loopback address.
//!
//! NETWORK SAFETY: every server and every scan is on 127.0.0.0/8.

mod support;

use std::net::SocketAddrV4;
use std::process::Command;

use serde_json::{Value, json};
use support::*;

/// This binary's loopback tag (see `support::net::loopback`).
const TAG: u8 = 150;

/// A source address other than 127.0.0.1: FreeRDP's server switches Standard RDP Security
/// encryption off for a peer at exactly 127.0.0.1 (rdp-facts section 6).
const SOURCE: &str = "127.150.255.254";

/// `rdpsweep scan --format jsonl` of one target with `extra` options; asserts exit 0 and one
/// record.
fn scan(target: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--no-progress", "--client-profile", "none"];
    args.extend_from_slice(extra);
    args.push(target);
    let (out, records) = scan_jsonl(&args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(records.len(), 1, "{}", show(&out));
    records.into_iter().next().expect("one record")
}

/// The finding `id` of record `r`, if raised.
fn finding<'a>(r: &'a Value, id: &str) -> Option<&'a Value> {
    r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == id)
}

fn finding_ids(r: &Value) -> Vec<String> {
    r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str().map(str::to_owned))
        .collect()
}

/// nmap's `rdp-enum-encryption` on `addr` (port 3389): the encryption level line and the
/// methods it lists as SUCCESS, e.g. `("High", ["128-bit RC4"])`.
fn nmap_encryption(addr: SocketAddrV4) -> (String, Vec<String>) {
    assert!(addr.ip().is_loopback() && addr.port() == 3389, "{addr}");
    let out = Command::new("nmap")
        .args(["-Pn", "-n", "-p", "3389", "--script", "rdp-enum-encryption"])
        .arg(addr.ip().to_string())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run nmap ({e}): scripts/test.sh installs Debian's nmap package")
        });
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "nmap failed:\n{text}");
    let level = text
        .lines()
        .find_map(|l| l.split_once("RDP Encryption level: "))
        .map(|(_, level)| level.trim().to_owned())
        .unwrap_or_else(|| panic!("no encryption level in nmap's output:\n{text}"));
    let methods = text
        .lines()
        .filter_map(|l| {
            l.trim_start_matches(['|', '_', ' '])
                .split_once(": SUCCESS")
        })
        .map(|(m, _)| m.trim().to_owned())
        .filter(|m| m.contains("RC4") || m.contains("FIPS"))
        .collect();
    (level, methods)
}

/// xrdp with Standard RDP Security only, at each `crypt_level`: rdpsweep's level, methods and
/// finding, and nmap's reading of the same server. The default scan offers all four methods
/// once (3 connections); `--deep` offers each alone, as nmap does, and lists what the server
/// selected as offered: xrdp selects its level's method whatever is offered, so one each.
#[test]
fn xrdp_standard_rdp_security_levels_agree_with_nmap() {
    let cases = [
        // crypt_level, level, method, nmap's level, nmap's method, weak
        ("low", "low", "40bit", "Low", "40-bit RC4", true),
        (
            "medium",
            "client_compatible",
            "40bit",
            "Client Compatible",
            "40-bit RC4",
            true,
        ),
        ("high", "high", "128bit", "High", "128-bit RC4", false),
        (
            "fips",
            "fips",
            "fips",
            "FIPS Compliant",
            "FIPS 140-1",
            false,
        ),
    ];
    for (crypt_level, level, method, nmap_level, nmap_method, weak) in cases {
        let addr = SocketAddrV4::new(loopback(TAG), 3389);
        let mut opts = XrdpOptions::new(addr, "rdp");
        opts.crypt_level = crypt_level;
        let mut server = Xrdp::start(opts);
        let target = server.target();

        let r = scan(&target, &[]);
        let what = format!("crypt_level={crypt_level}: {r:#}");
        assert_eq!(r["status"], "rdp", "{what}");
        assert_eq!(r["server"]["implementation"], "xrdp", "{what}");
        assert_eq!(r["server"]["rdp_version"], "RDP 5.0-8.1", "{what}");
        assert_eq!(r["server"]["rdp_version_raw"], "0x00080004", "{what}");
        let rdp = &r["rdp_security"];
        assert_eq!(rdp["encryption_level"], level, "{what}");
        assert_eq!(rdp["encryption_methods"], json!([method]), "{what}");
        assert_eq!(rdp["methods_enumerated"], false, "{what}");
        assert_eq!(rdp["certificate_type"], "proprietary", "{what}");
        assert_eq!(rdp["certificate"]["key_bits"], 2048, "{what}");
        assert_eq!(rdp["error"], Value::Null, "{what}");
        assert_eq!(r["tls"], Value::Null, "{what}");
        assert_eq!(r["connections"], 3, "{what}");
        let ids = finding_ids(&r);
        assert_eq!(
            ids.contains(&"rdp-encryption-weak".to_owned()),
            weak,
            "{what}"
        );
        let layer =
            finding(&r, "standard-rdp-security-allowed").unwrap_or_else(|| panic!("{what}"));
        assert!(
            layer["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("encryption level {level} ({method})"))),
            "{layer:#}"
        );

        let deep = scan(&target, &["--deep"]);
        let rdp = &deep["rdp_security"];
        assert_eq!(rdp["methods_enumerated"], true, "{deep:#}");
        assert_eq!(rdp["encryption_methods"], json!([method]), "{deep:#}");
        // Three negotiation probes, RDSTLS and RDSAAD, four methods alone.
        assert_eq!(deep["connections"], 9, "{deep:#}");

        assert_eq!(
            nmap_encryption(addr),
            (nmap_level.to_owned(), vec![nmap_method.to_owned()]),
            "crypt_level={crypt_level}"
        );
        server.assert_running();
    }
}

/// FreeRDP's shadow server with `/sec:rdp`, scanned from another source than 127.0.0.1: level
/// client-compatible, the strongest method offered (128-bit); `--deep` shows it accepts every
/// method, 40- and 56-bit included. From 127.0.0.1 (the default source for a loopback target)
/// it switches encryption off, and rdpsweep says so.
#[test]
fn shadow_standard_rdp_security_from_another_source_and_from_localhost() {
    let mut server = FreerdpShadow::start(ShadowOptions::new(endpoint(TAG), "rdp"));
    let target = server.target();

    let r = scan(&target, &["--source-ip", SOURCE]);
    let rdp = &r["rdp_security"];
    assert_eq!(rdp["encryption_level"], "client_compatible", "{r:#}");
    assert_eq!(rdp["encryption_methods"], json!(["128bit"]), "{r:#}");
    assert_eq!(r["server"]["rdp_version"], "RDP 5.0-8.1", "{r:#}");
    assert!(!finding_ids(&r).contains(&"rdp-encryption-weak".to_owned()));

    let deep = scan(&target, &["--source-ip", SOURCE, "--deep"]);
    let rdp = &deep["rdp_security"];
    assert_eq!(
        rdp["encryption_methods"],
        json!(["40bit", "56bit", "128bit", "fips"]),
        "{deep:#}"
    );
    let weak = finding(&deep, "rdp-encryption-weak")
        .unwrap_or_else(|| panic!("40- and 56-bit accepted: {deep:#}"));
    assert!(
        weak["message"]
            .as_str()
            .is_some_and(|m| m.contains("40bit and 56bit")),
        "{weak:#}"
    );

    let local = scan(&target, &[]);
    assert_eq!(
        local["rdp_security"]["encryption_level"], "none",
        "{local:#}"
    );
    assert!(
        finding_ids(&local).contains(&"rdp-encryption-none".to_owned()),
        "{local:#}"
    );
    server.assert_running();
}

/// The server implementation of each real server kind, with the evidence that decided it, and
/// the RDP version the MCS exchange inside TLS reads from a TLS-only server at no extra
/// connection.
#[test]
fn each_server_kind_is_named_with_its_evidence() {
    let xrdp_tls = Xrdp::start(XrdpOptions::new(endpoint(TAG), "tls"));
    let xrdp_negotiate = Xrdp::start(XrdpOptions::new(endpoint(TAG), "negotiate"));
    let shadow_nla = FreerdpShadow::start(ShadowOptions::new(endpoint(TAG), "nla"));
    let shadow_tls = FreerdpShadow::start(ShadowOptions::new(endpoint(TAG), "tls"));

    for (name, target, implementation, rdp_version, evidence) in [
        (
            "xrdp tls",
            xrdp_tls.target(),
            "xrdp",
            Some("RDP 5.0-8.1"),
            "xrdp has no CredSSP",
        ),
        (
            "xrdp negotiate",
            xrdp_negotiate.target(),
            "xrdp",
            Some("RDP 5.0-8.1"),
            "xrdp has no CredSSP",
        ),
        ("shadow nla", shadow_nla.target(), "freerdp", None, "WinPR"),
        (
            "shadow tls",
            shadow_tls.target(),
            "freerdp",
            Some("RDP 5.0-8.1"),
            "FreeRDP's server",
        ),
    ] {
        let r = scan(&target, &[]);
        let server = &r["server"];
        assert_eq!(server["implementation"], implementation, "{name}: {r:#}");
        assert_eq!(server["rdp_version"].as_str(), rdp_version, "{name}: {r:#}");
        assert!(
            server["evidence"]
                .as_array()
                .expect("evidence")
                .iter()
                .any(|e| e.as_str().is_some_and(|e| e.contains(evidence))),
            "{name}: no evidence mentioning {evidence:?}: {r:#}"
        );
        // Not Windows: no Windows release, no end-of-support finding, whatever NTLM said.
        assert_eq!(r["ntlm"]["os_name"], Value::Null, "{name}: {r:#}");
        assert!(!finding_ids(&r).contains(&"os-end-of-support".to_owned()));
        // xrdp negotiate accepts Standard RDP Security at its default level too.
        if name == "xrdp negotiate" {
            assert_eq!(r["rdp_security"]["encryption_level"], "high", "{r:#}");
        } else {
            assert_eq!(r["rdp_security"], Value::Null, "{name}: {r:#}");
        }
        // The default plan decides every TLS version within five connections.
        assert_eq!(r["tls"]["versions_undecided"], json!([]), "{name}: {r:#}");
        assert!(
            r["connections"].as_u64().is_some_and(|c| c <= 5),
            "{name}: {r:#}"
        );
    }
}

/// The name judged against the certificate is the one a client types. Scanned as `localhost`
/// (on the certificate), the server is trusted by name and no `cert-name-mismatch` is raised,
/// though the host calls itself something else in NTLM: that is an informational note.
/// Scanned by address, the name clients type is the host's own NTLM DNS name, which the
/// certificate lacks: the verdict and the finding agree on the mismatch.
#[test]
fn names_are_judged_on_the_name_the_client_types() {
    let certs = Certs::new();
    let addr = SocketAddrV4::new(
        std::net::Ipv4Addr::LOCALHOST,
        support::net::free_port(std::net::Ipv4Addr::LOCALHOST),
    );
    let mut opts = ShadowOptions::new(addr, "nla");
    opts.hostname = Some("RDPSWEEP-NAMES".to_owned());
    opts.certificate = Some(certs.self_signed("localhost"));
    let mut server = FreerdpShadow::start(opts);

    let by_name = scan(&format!("localhost:{}", addr.port()), &[]);
    let trust = &by_name["tls"]["trust"];
    assert_eq!(trust["name_checked"], "localhost", "{by_name:#}");
    assert_eq!(trust["name"], "trusted", "{by_name:#}");
    let ids = finding_ids(&by_name);
    assert!(!ids.contains(&"cert-name-mismatch".to_owned()), "{ids:?}");
    let note = finding(&by_name, "cert-ntlm-name-differs")
        .unwrap_or_else(|| panic!("no note about the NTLM name: {by_name:#}"));
    assert_eq!(note["severity"], "info", "{note:#}");
    assert!(
        note["message"]
            .as_str()
            .is_some_and(|m| m.contains("RDPSWEEP-NAMES")),
        "{note:#}"
    );

    let by_address = scan(&addr.to_string(), &[]);
    let trust = &by_address["tls"]["trust"];
    assert_eq!(trust["name_checked"], "RDPSWEEP-NAMES", "{by_address:#}");
    assert!(
        trust["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("untrusted: name mismatch")),
        "{by_address:#}"
    );
    let ids = finding_ids(&by_address);
    assert!(ids.contains(&"cert-name-mismatch".to_owned()), "{ids:?}");
    assert!(
        !ids.contains(&"cert-ntlm-name-differs".to_owned()),
        "{ids:?}"
    );
    server.assert_running();
}
