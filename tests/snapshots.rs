//! Snapshot tests (`insta`) of what users read and import: the terminal table, the host CSV, the
//! JSON document and the matrix CSV, produced by `rdpsweep report` from a saved scan of real
//! loopback servers (`fixtures/report/`), and the `scan --help` text. Output schemas are part of
//! the product (docs/output.md, docs/compat.md): a change here must be deliberate, reviewed with
//! `cargo insta review`, and documented.
//!
//! `report` never connects anywhere; the only fields that depend on the run (`scan.started`,
//! `scan.finished`) are replaced before comparison.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::{Certs, FakeListener, FreerdpShadow, ShadowOptions, Xrdp, XrdpOptions};

/// This binary's loopback tag (`support::net::loopback`), used only by [`recapture_fixture`].
const TAG: u8 = 70;

/// A saved `-o scan.json` of seven loopback endpoints: FreeRDP's shadow server requiring NLA,
/// xrdp with a CA-signed certificate (trusted through `--ca-file`), TLS 1.0 only, an expired
/// self-signed certificate, Standard RDP Security only, an HTTP listener and a closed port.
/// Relative to the crate root, where [`report`] runs (`scan.targets` shows the path).
const FIXTURE: &str = "fixtures/report/loopback-mix.json";

fn fixture() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(FIXTURE)
        .display()
        .to_string()
}

const CLIENTS: &str = "patched-mitigated,unpatched,modern-tls12";

/// Runs `rdpsweep report` on the fixture with `extra` arguments, from the crate root (so that
/// no checkout path reaches the output); asserts exit 0; returns stdout.
fn report(extra: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rdpsweep"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["report", "-i", FIXTURE, "--client-profile", CLIENTS])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run rdpsweep report");
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

#[test]
fn report_table() {
    insta::assert_snapshot!(report(&[]));
}

#[test]
fn report_host_csv_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hosts.csv");
    report(&["-o", file.to_str().expect("UTF-8 temp path")]);
    let csv = std::fs::read_to_string(&file).expect("CSV written");
    // The spreadsheet contract (docs/output.md): a file starts with a BOM; every line ends CRLF.
    let body = csv
        .strip_prefix('\u{feff}')
        .expect("a CSV file starts with a BOM");
    assert_eq!(body.matches("\r\n").count(), body.matches('\n').count());
    insta::assert_snapshot!(body);
}

#[test]
fn report_json_document() {
    let mut doc: Value = serde_json::from_str(&report(&["--format", "json"])).expect("JSON");
    for field in ["started", "finished"] {
        let at = doc
            .get_mut("scan")
            .and_then(|s| s.get_mut(field))
            .unwrap_or_else(|| panic!("scan.{field} is missing"));
        assert!(at.as_str().is_some_and(|s| s.ends_with('Z')), "{at}");
        *at = Value::String("[time]".into());
    }
    insta::assert_json_snapshot!(doc);
}

#[test]
fn report_matrix_csv() {
    let dir = tempfile::tempdir().expect("temp dir");
    let matrix = dir.path().join("matrix.csv");
    report(&[
        "--format",
        "jsonl",
        "--what-if",
        "allow_encryption_oracle=0",
        "--matrix",
        matrix.to_str().expect("UTF-8 temp path"),
    ]);
    let text = std::fs::read_to_string(&matrix).expect("matrix written");
    let body = text
        .strip_prefix('\u{feff}')
        .expect("the matrix starts with a BOM");
    assert_eq!(body.matches("\r\n").count(), body.matches('\n').count());
    insta::assert_snapshot!(body);
}

#[test]
fn scan_help() {
    // clap wraps help text to $COLUMNS (else 100): pin it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rdpsweep"))
        .args(["scan", "--help"])
        .env("COLUMNS", "100")
        .output()
        .expect("run rdpsweep scan --help");
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

/// Not a check: regenerates `fixtures/report/loopback-mix.json` from a real scan of real
/// servers on loopback (then review the snapshot changes with `cargo insta review`). Run it
/// when the scan's output grows, so that the fixture shows what the scanner reports today:
/// `cargo test --test snapshots -- --ignored recapture_fixture`.
#[test]
#[ignore = "regenerates a fixture; run on purpose"]
fn recapture_fixture() {
    let certs = Certs::new();
    let shadow = FreerdpShadow::start(ShadowOptions::new(support::endpoint(TAG), "nla"));
    let ca_addr = support::endpoint(TAG);
    let mut opts = XrdpOptions::new(ca_addr, "tls");
    opts.certificate = Some(certs.ca_signed("xrdp-ca.rdpsweep.test", Some(*ca_addr.ip())));
    let xrdp_ca = Xrdp::start(opts);
    let mut opts = XrdpOptions::new(support::endpoint(TAG), "tls");
    opts.ssl_protocols = Some("TLSv1".to_owned());
    let xrdp_tls10 = Xrdp::start(opts);
    let mut opts = XrdpOptions::new(support::endpoint(TAG), "negotiate");
    opts.certificate = Some(certs.expired("expired.rdpsweep.test"));
    let xrdp_expired = Xrdp::start(opts);
    let xrdp_rdp = Xrdp::start(XrdpOptions::new(support::endpoint(TAG), "rdp"));
    let http = FakeListener::http_400(TAG);
    let closed = support::closed_port(TAG);
    let out = support::rdpsweep([
        "scan".to_owned(),
        "--no-progress".into(),
        "--ca-file".into(),
        certs.ca_cert().display().to_string(),
        "--client-profile".into(),
        "none".into(),
        "-o".into(),
        fixture(),
        shadow.addr().to_string(),
        xrdp_ca.addr().to_string(),
        xrdp_tls10.addr().to_string(),
        xrdp_expired.addr().to_string(),
        xrdp_rdp.addr().to_string(),
        http.target(),
        closed.to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    normalise_addresses(&fixture());
}

/// Rewrites each endpoint `127.70.N.x:port` of the saved scan at `path` to `127.70.N.15:3389`
/// (N tells the servers apart, see `fixtures/report/README.md`) in every field and message, on
/// the text (so the document keeps `scan -o`'s layout and field order), so that a recapture
/// differs from the last one only in what the servers said.
fn normalise_addresses(path: &str) {
    let mut text = std::fs::read_to_string(path).expect("read the saved scan");
    let doc: Value = serde_json::from_str(&text).expect("the saved scan is JSON");
    let mut renames = Vec::new();
    for h in doc["hosts"].as_array().expect("hosts") {
        let ip = h["ip"].as_str().expect("an address").to_owned();
        let port = h["port"].as_u64().expect("a port");
        let n = ip.split('.').nth(2).expect("a dotted IPv4 address");
        let canonical = format!("127.70.{n}.15");
        renames.push((format!("{ip}:{port}"), format!("{canonical}:3389")));
        renames.push((format!("\"port\":{port},"), "\"port\":3389,".to_owned()));
        renames.push((ip, canonical));
    }
    // Longest first, so that no address is rewritten inside a longer one.
    renames.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    for (from, to) in &renames {
        text = text.replace(from.as_str(), to);
    }
    let check: Value = serde_json::from_str(&text).expect("still JSON after the rewrite");
    assert_eq!(check["hosts"].as_array().map(Vec::len), Some(7));
    std::fs::write(path, text).expect("write the saved scan");
}
