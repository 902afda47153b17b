//! The command line as a user meets it: bad input is refused with exit status 2 and a message
//! naming the offending token before anything is sent; closed ranges are reported in full;
//! every output format is written. Only loopback addresses are used.

use std::net::TcpListener;
use std::process::{Command, Output};

fn rdpsweep(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rdpsweep"))
        .args(args)
        .output()
        .expect("the rdpsweep binary runs")
}

/// A loopback port that refuses connections (bound, then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    l.local_addr().expect("local address").port()
}

#[test]
fn bad_targets_exit_2_naming_the_token() {
    for (args, token) in [
        (vec!["scan", "10.0.0.300"], "10.0.0.300"),
        (vec!["scan", "10.0.0.0/33"], "10.0.0.0/33"),
        (vec!["scan", "host:99999"], "host:99999"),
        (vec!["scan", "10.0.0.9-10.0.0.1"], "10.0.0.9-10.0.0.1"),
        (vec!["scan", "127.0.0.1", "-p", "0"], "0"),
        (
            vec!["scan", "127.0.0.1", "--exclude", "192.0.2.4/99"],
            "192.0.2.4/99",
        ),
        (
            vec!["scan", "-i", "/nonexistent/targets.txt"],
            "/nonexistent/targets.txt",
        ),
        (vec!["scan", "127.0.0.1", "-o", "out.pdf"], "out.pdf"),
        (vec!["scan"], "no targets"),
    ] {
        let out = rdpsweep(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(token),
            "{args:?}: stderr does not name {token:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: nothing may be scanned");
    }
}

#[test]
fn a_bad_line_in_a_target_file_is_named_with_its_line_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("targets.txt");
    std::fs::write(&file, "# lab\n127.0.0.1\n\n127.0.0.999\n").expect("write targets");
    let out = rdpsweep(&["scan", "-i", file.to_str().expect("utf-8 path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("127.0.0.999") && stderr.contains('4'),
        "{stderr}"
    );
}

#[test]
fn a_closed_range_is_reported_in_full_as_closed() {
    let port = closed_port().to_string();
    let out = rdpsweep(&[
        "scan",
        "127.0.64.0/22",
        "-p",
        &port,
        "--format",
        "jsonl",
        "--connect-timeout",
        "2s",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let mut seen = std::collections::HashSet::new();
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        assert_eq!(v["status"], "closed", "{line}");
        assert_eq!(v["connections"], 1, "{line}");
        assert!(
            seen.insert(v["ip"].as_str().expect("ip").to_owned()),
            "duplicate {line}"
        );
    }
    assert_eq!(seen.len(), 1024);
}

#[test]
fn every_output_format_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = closed_port().to_string();
    let csv = dir.path().join("r.csv");
    let json = dir.path().join("r.json");
    let jsonl = dir.path().join("r.jsonl");
    let out = rdpsweep(&[
        "scan",
        "127.0.0.1",
        "127.0.0.2",
        "-p",
        &port,
        "-o",
        csv.to_str().expect("path"),
        "-o",
        json.to_str().expect("path"),
        "-o",
        jsonl.to_str().expect("path"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        table.contains("2 endpoints: 0 rdp, 0 not_rdp, 2 closed"),
        "{table}"
    );

    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json file")).expect("valid JSON");
    assert_eq!(doc["hosts"].as_array().map(Vec::len), Some(2));
    assert_eq!(doc["scan"]["summary"]["closed"], 2);
    assert!(!dir.path().join("r.json.partial").exists());

    let lines = std::fs::read_to_string(&jsonl).expect("jsonl file");
    assert_eq!(lines.lines().count(), 2);

    let csv_text = std::fs::read_to_string(&csv).expect("csv file");
    assert!(
        csv_text.starts_with("\u{feff}\"target\",\"ip\",\"port\",\"status\""),
        "{csv_text}"
    );
    // The CSV lists the endpoints that answered: none here, so only the header.
    let rows: Vec<&str> = csv_text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 1, "{csv_text}");
}

#[test]
fn hostnames_resolve_and_keep_the_name_as_target() {
    let port = closed_port().to_string();
    let out = rdpsweep(&["scan", &format!("localhost:{port}"), "--format", "jsonl"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(v["target"], "localhost");
    assert_eq!(v["status"], "closed");
    let ip = v["ip"].as_str().expect("resolved address");
    assert!(ip == "127.0.0.1" || ip == "::1", "{ip}");
}
