//! The diff engine (`report::diff`, docs/diff.md) on real scans.
//!
//! - Snapshots (`insta`) of every format for one pair of scans: `fixtures/diff/last.jsonl` and
//!   `today.jsonl`, made from the saved real scan `fixtures/report/loopback-mix.json` by the
//!   week of administration in [`week`] (one change per rule), with the compatibility cells
//!   computed by the real model for built-in client profiles.
//! - Real servers on loopback: two scans of unchanged servers differ in nothing (timing, clock
//!   and probe logs are volatile), and replacing a certificate, enabling TLS 1.0, stopping one
//!   server and starting another shows as exactly those changes.

mod support;

use rdpsweep::report::schema::{CipherSuite, ProtocolVersion, TlsStack};
use std::path::PathBuf;

use rdpsweep::analysis::findings::{Finding, Severity};
use rdpsweep::client::builtin::builtin;
use rdpsweep::report::HostReport;
use rdpsweep::report::diff::{
    DiffFailOn, DiffOptions, Direction, ScanDiff, diff, reached, write_csv, write_json,
    write_jsonl, write_table,
};
use rdpsweep::report::schema::{ErrorInfo, NlaVerdict, OracleFix, Stage, Status};
use unicode_width::UnicodeWidthStr;

use support::{Certs, FreerdpShadow, ShadowOptions, Xrdp, XrdpOptions};

/// This binary's loopback tag (`support::net::loopback`).
const TAG: u8 = 100;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The hosts of the saved real scan.
fn loopback_mix() -> Vec<HostReport> {
    let text = std::fs::read_to_string(root().join("fixtures/report/loopback-mix.json"))
        .expect("fixture readable");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    serde_json::from_value(doc["hosts"].clone()).expect("fixture hosts are host reports")
}

fn on(hosts: &mut [HostReport], net: u8) -> &mut HostReport {
    let prefix = format!("127.70.{net}.");
    hosts
        .iter_mut()
        .find(|h| h.target.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no host on {prefix}x"))
}

/// Fills `compat` with the real model's cells for `clients`.
fn evaluate(hosts: &mut [HostReport], clients: &[&str]) {
    for h in hosts.iter_mut() {
        h.compat.clear();
        for name in clients {
            let profile = builtin(name).unwrap_or_else(|| panic!("built-in profile {name}"));
            let cell = rdpsweep::compat::evaluate(h, &profile);
            h.compat.insert((*name).to_owned(), cell);
        }
    }
}

/// Last week's scan and today's, from the saved real scan (7 endpoints on 127.70.0.0/16).
fn week() -> (Vec<HostReport>, Vec<HostReport>) {
    let mut last = loopback_mix();
    // Last week the shadow server (127.70.0.x) was an unpatched Windows 7: CredSSP 3.
    {
        let h = on(&mut last, 0);
        let cs = h.credssp.as_mut().expect("credssp section");
        cs.version = Some(3);
        cs.cve_2018_0886 = OracleFix::Missing;
        h.findings.push(Finding::new(
            "credssp-oracle-unpatched",
            Severity::High,
            "CredSSP 3: no CVE-2018-0886 fix",
        ));
    }
    let mut today = loopback_mix();
    // 127.70.0.x: patched and upgraded to Server 2019 (CredSSP and end of support improved),
    // but NLA is now only offered and TLS alone is accepted (regressed); clock and timing
    // drifted (volatile); a server-chosen forest name that a spreadsheet would run.
    {
        let h = on(&mut today, 0);
        h.security.nla = NlaVerdict::Supported;
        h.security.protocols.tls = Some(true);
        h.security.failure_codes = vec!["rdp:HYBRID_REQUIRED_BY_SERVER".into()];
        h.security.nla_reason = Some("CredSSP selected, TLS-only accepted".into());
        h.findings.retain(|f| f.id != "os-end-of-support");
        h.findings.push(Finding::new(
            "nla-not-required",
            Severity::Medium,
            "NLA not required",
        ));
        let n = h.ntlm.as_mut().expect("ntlm section");
        n.os_build = Some(17763);
        n.os_version = Some("10.0.17763".into());
        n.os_name = Some("Windows 10 1809 / Server 2019".into());
        n.server_time = Some("2026-12-02T03:00:00Z".into());
        n.clock_skew_s = Some(2);
        n.dns_tree = Some("=HYPERLINK(\"http://x\")".into());
        h.elapsed_ms += 40;
    }
    // 127.70.1.x: the CA-signed certificate was replaced by a self-signed one whose name
    // carries terminal escapes: trust and findings regressed.
    {
        let h = on(&mut today, 1);
        let t = h.tls.as_mut().expect("tls section");
        let cert = t.certificate.as_mut().expect("certificate");
        cert.subject_cn = Some("xrdp\u{1b}[31m-new\u{202e}".into());
        cert.subject = "CN=xrdp-new".into();
        cert.issuer = "CN=xrdp-new".into();
        cert.self_signed = true;
        cert.serial = "01".into();
        cert.not_before = "2026-12-01T00:00:00Z".into();
        cert.not_after = "2027-12-01T00:00:00Z".into();
        cert.days_left = 364;
        cert.sha256 = "5E:9A:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD".into();
        cert.sha1 = "5E9A00112233445566778899AABBCCDDEEFF0011".into();
        let trust = t.trust.as_mut().expect("trust");
        trust.ca_file = Some("untrusted: unknown issuer".into());
        h.findings.push(Finding::new(
            "cert-self-signed",
            Severity::Medium,
            "self-signed",
        ));
        h.findings.push(Finding::new(
            "cert-untrusted",
            Severity::Medium,
            "untrusted",
        ));
    }
    // 127.70.2.x: TLS 1.0 only → TLS 1.2 and 1.3 (improved).
    {
        let h = on(&mut today, 2);
        let t = h.tls.as_mut().expect("tls section");
        t.version = Some(ProtocolVersion::TLS1_3);
        t.cipher = CipherSuite::from_name("TLS_AES_256_GCM_SHA384");
        t.stack = Some(TlsStack::Rustls);
        t.versions = vec![ProtocolVersion::TLS1_2, ProtocolVersion::TLS1_3];
        h.findings.retain(|f| f.id != "tls-deprecated-version");
    }
    // 127.70.3.x: still answers, but the TLS handshake now fails: regressed.
    {
        let h = on(&mut today, 3);
        let (target, ip, port, version) = (h.target.clone(), h.ip, h.port, h.schema_version);
        *h = HostReport::new(target, ip, port);
        h.schema_version = version; // the pair stays one schema version
        h.status = Status::Error;
        h.error = Some(ErrorInfo {
            stage: Stage::Negotiate,
            message: "connection reset by peer".into(),
        });
    }
    // 127.70.4.x (Standard RDP Security only) was decommissioned and left the target list.
    today.retain(|h| !h.target.starts_with("127.70.4."));
    // 127.70.6.x: a closed port where someone enabled RDP (Standard RDP Security).
    {
        let template = loopback_mix()
            .into_iter()
            .find(|h| h.target.starts_with("127.70.4."))
            .expect("rdp-only host");
        let h = on(&mut today, 6);
        let (target, ip, port) = (h.target.clone(), h.ip, h.port);
        *h = template;
        (h.target, h.ip, h.port) = (target, ip, port);
    }
    // A new server: a copy of the shadow server on 127.70.7.15:3389.
    {
        let mut h = on(&mut loopback_mix(), 0).clone();
        h.target = "127.70.7.15".into();
        h.ip = Some("127.70.7.15".parse().expect("address"));
        h.port = 3389;
        today.push(h);
    }
    // The same clients in both scans, plus one evaluated only last week.
    evaluate(
        &mut last,
        &["patched-mitigated", "unpatched", "modern-tls12"],
    );
    evaluate(&mut today, &["patched-mitigated", "unpatched"]);
    (last, today)
}

fn to_jsonl(hosts: &[HostReport]) -> String {
    hosts
        .iter()
        .map(|h| serde_json::to_string(h).expect("serialise") + "\n")
        .collect()
}

fn from_jsonl(text: &str) -> Vec<HostReport> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

const LAST: &str = "fixtures/diff/last.jsonl";
const TODAY: &str = "fixtures/diff/today.jsonl";

/// The pair on disk is what [`week`] makes (so the lead's CLI tests and these snapshots read
/// the same scans). Regenerate: `cargo test --test diff -- --ignored write_fixture_pair`.
#[test]
fn fixture_pair_is_current() {
    let (last, today) = week();
    for (path, hosts) in [(LAST, &last), (TODAY, &today)] {
        let on_disk = std::fs::read_to_string(root().join(path))
            .unwrap_or_else(|e| panic!("{path}: {e} (run write_fixture_pair)"));
        assert_eq!(
            on_disk,
            to_jsonl(hosts),
            "{path} is stale: cargo test --test diff -- --ignored write_fixture_pair"
        );
    }
}

#[test]
#[ignore = "regenerates fixtures/diff/; run on purpose"]
fn write_fixture_pair() {
    let (last, today) = week();
    std::fs::create_dir_all(root().join("fixtures/diff")).expect("mkdir");
    std::fs::write(root().join(LAST), to_jsonl(&last)).expect("write last");
    std::fs::write(root().join(TODAY), to_jsonl(&today)).expect("write today");
}

fn fixture_diff() -> ScanDiff {
    let read = |p: &str| {
        from_jsonl(&std::fs::read_to_string(root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}")))
    };
    diff(&read(LAST), &read(TODAY), &DiffOptions::default())
}

fn text(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut buf = Vec::new();
    write(&mut buf).expect("write to memory");
    String::from_utf8(buf).expect("UTF-8")
}

#[test]
fn table() {
    let out = text(|b| write_table(b, &fixture_diff()));
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{202e}'),
        "{out}"
    );
    for line in out.lines() {
        assert!(
            line.width() <= 120,
            "a table line wider than 120 columns: {line}"
        );
    }
    insta::assert_snapshot!(out);
}

#[test]
fn json() {
    let out = text(|b| write_json(b, &fixture_diff()));
    assert_eq!(out.lines().count(), 1);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    insta::assert_json_snapshot!(doc);
}

#[test]
fn jsonl() {
    let out = text(|b| write_jsonl(b, &fixture_diff()));
    let kinds: Vec<String> = out
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["kind"].as_str().expect("kind").to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "added", "removed", "changed", "changed", "changed", "changed", "changed"
        ]
    );
    insta::assert_snapshot!(out);
}

#[test]
fn csv() {
    let d = fixture_diff();
    let file = text(|b| write_csv(b, &d, true));
    let body = file
        .strip_prefix('\u{feff}')
        .expect("a CSV file starts with a BOM");
    assert_eq!(body.matches("\r\n").count(), body.matches('\n').count());
    assert_eq!(text(|b| write_csv(b, &d, false)), body);
    // One row per change plus one per added/removed endpoint, and the header.
    let changes: usize = d.changed.iter().map(|e| e.changes.len()).sum();
    assert_eq!(
        body.lines().count(),
        1 + changes + d.added.len() + d.removed.len()
    );
    insta::assert_snapshot!(body);
}

#[test]
fn fail_on_reasons() {
    let d = fixture_diff();
    insta::assert_snapshot!(
        reached(
            &d,
            &[
                DiffFailOn::Regressed,
                DiffFailOn::Added,
                DiffFailOn::Removed,
                DiffFailOn::Changed
            ]
        )
        .join("\n")
    );
}

// ---- real servers ----------------------------------------------------------------------

/// `rdpsweep scan --format jsonl` of `targets` with the test CA and two client profiles;
/// the records as host reports.
fn scan(certs: &Certs, targets: &[String]) -> Vec<HostReport> {
    let mut args = vec![
        "--no-progress".to_owned(),
        "--ca-file".into(),
        certs.ca_cert().display().to_string(),
        "--client-profile".into(),
        "patched-mitigated,unpatched".into(),
    ];
    args.extend(targets.iter().cloned());
    let (out, records) = support::scan_jsonl(&args);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    records
        .into_iter()
        .map(|r| serde_json::from_value(r.clone()).unwrap_or_else(|e| panic!("{e}: {r}")))
        .collect()
}

/// Every leaf path where two JSON values differ (arrays compared whole), without any rule.
fn raw_differences(
    path: &str,
    a: &serde_json::Value,
    b: &serde_json::Value,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                raw_differences(
                    &p,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if a != b => out.push(path.to_owned()),
        _ => {}
    }
}

fn summary(d: &ScanDiff) -> Vec<(String, Vec<(String, Direction)>)> {
    d.changed
        .iter()
        .map(|e| {
            (
                e.endpoint.clone(),
                e.changes
                    .iter()
                    .map(|c| (c.path.clone(), c.direction))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn real_servers_rescanned_and_changed() {
    let certs = Certs::new();
    let a_addr = support::endpoint(TAG);
    let mut a_opts = XrdpOptions::new(a_addr, "tls");
    a_opts.certificate = Some(certs.ca_signed("a.rdpsweep.test", Some(*a_addr.ip())));
    let mut a = Xrdp::start(a_opts.clone());
    let mut b_opts = XrdpOptions::new(support::endpoint(TAG), "negotiate");
    // The same certificate across the restart (without one, xrdp's fixture makes a new one).
    b_opts.certificate = Some(certs.self_signed("b.rdpsweep.test"));
    let mut b = Xrdp::start(b_opts.clone());
    let shadow = FreerdpShadow::start(ShadowOptions::new(support::endpoint(TAG), "nla"));
    let d = Xrdp::start(XrdpOptions::new(support::endpoint(TAG), "rdp"));
    let d_addr = d.addr();
    let e_addr = support::endpoint(TAG);
    let targets: Vec<String> = [a.addr(), b.addr(), shadow.addr(), d_addr, e_addr]
        .iter()
        .map(|a| a.to_string())
        .collect();

    let first = scan(&certs, &targets);
    let second = scan(&certs, &targets);
    // Unchanged servers: the records differ (timing, NTLM clock readings), the diff is empty.
    let mut raw = Vec::new();
    let sorted = |scan: &[HostReport]| {
        let mut v = scan.to_vec();
        v.sort_by_key(|h| (h.ip, h.port)); // JSONL is written as endpoints finish
        v
    };
    for (a, b) in sorted(&first).iter().zip(&sorted(&second)) {
        raw_differences(
            "",
            &serde_json::to_value(a).expect("JSON"),
            &serde_json::to_value(b).expect("JSON"),
            &mut raw,
        );
    }
    println!("raw differences between two scans of unchanged servers: {raw:?}");
    assert!(
        raw.iter().any(|p| p == "elapsed_ms"),
        "the rescan should differ in timing at least: {raw:?}"
    );
    let same = diff(&first, &second, &DiffOptions::default());
    assert!(same.is_empty(), "{same:#?}");
    assert_eq!(same.summary().unchanged, 5);

    // The week: A's CA-signed certificate replaced by a self-signed one, B starts accepting
    // TLS 1.0, D is stopped, E (xrdp, TLS only) appears.
    drop(a);
    let mut a_new = a_opts.clone();
    a_new.certificate = Some(certs.self_signed("a.rdpsweep.test"));
    a = Xrdp::start(a_new);
    drop(b);
    let mut b_new = b_opts.clone();
    b_new.ssl_protocols = Some("TLSv1, TLSv1.2, TLSv1.3".into());
    b = Xrdp::start(b_new);
    drop(d);
    let e = Xrdp::start(XrdpOptions::new(e_addr, "tls"));
    let third = scan(&certs, &targets);
    let week = diff(&first, &third, &DiffOptions::default());
    println!("{}", text(|buf| write_table(buf, &week)));

    assert!(week.removed.is_empty(), "{week:#?}");
    assert_eq!(
        week.added.len(),
        0,
        "E's address was scanned (closed) last time"
    );
    use Direction::*;
    let c = |p: &str, d| (p.to_owned(), d);
    assert_eq!(
        summary(&week),
        vec![
            (
                a.addr().to_string(),
                vec![
                    c("tls.certificate.issuer", Changed),
                    c("tls.certificate.not_after", Changed),
                    c("tls.certificate.sans", Changed),
                    c("tls.certificate.self_signed", Changed),
                    c("tls.certificate.sha256", Changed),
                    c("tls.trust.ca_file", Regressed),
                    c("tls.trust.name", Regressed),
                    c("findings[cert-self-signed]", Regressed),
                    c("findings[cert-untrusted]", Regressed),
                    c("compat[patched-mitigated].outcome", Regressed),
                    c("compat[unpatched].outcome", Regressed),
                ]
            ),
            (
                b.addr().to_string(),
                vec![
                    c("tls.versions[1.0]", Regressed),
                    c("findings[tls-deprecated-version]", Regressed),
                ]
            ),
            (d_addr.to_string(), vec![c("status", Changed)]),
            (
                e.addr().to_string(),
                vec![
                    c("status", Changed),
                    c("findings[cert-self-signed]", Regressed),
                    c("findings[cert-untrusted]", Regressed),
                    c("findings[nla-not-required]", Regressed),
                ]
            ),
        ]
    );
    assert!(!reached(&week, &[DiffFailOn::Regressed]).is_empty());
    let _ = (a, b, e, shadow);
}
