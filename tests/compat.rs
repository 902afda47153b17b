//! The compatibility matrix end to end: `rdpsweep scan` of real servers on loopback (FreeRDP
//! shadow with NLA and CredSSP 6, xrdp with a trusted certificate, xrdp with TLS 1.0 only,
//! xrdp with Standard RDP Security only) against built-in profiles, a `.reg` client state and
//! a fleet file; `rdpsweep report` replaying a saved scan of a host that answers CredSSP
//! version 3; `--fail-on`, `--what-if`, `rdpsweep client`, and bad client files.
//!
//! NETWORK SAFETY: every server binds 127.50.x.y; nothing else is contacted.

mod support;

use std::path::{Path, PathBuf};

use support::{FreerdpShadow, ShadowOptions, Xrdp, XrdpOptions};

/// This binary's loopback tag (`support::net::loopback`).
const TAG: u8 = 50;

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
        .display()
        .to_string()
}

/// Reads a matrix CSV (BOM, CRLF) into rows of fields.
fn read_matrix(path: &Path) -> Vec<Vec<String>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with("\u{feff}".as_bytes()),
        "matrix starts with a BOM"
    );
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.get(3..).unwrap_or_default());
    r.records()
        .map(|rec| {
            rec.expect("a CSV record")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// `host column -> (client -> cell)` of a matrix, by the `port` column.
fn cells(rows: &[Vec<String>], port: u16, client: &str) -> String {
    let header = rows.first().expect("header");
    let col = header
        .iter()
        .position(|h| h == client)
        .unwrap_or_else(|| panic!("no column {client} in {header:?}"));
    let row = rows
        .iter()
        .find(|r| r.get(2).map(String::as_str) == Some(&port.to_string()))
        .unwrap_or_else(|| panic!("no row for port {port}"));
    row.get(col).cloned().unwrap_or_default()
}

#[test]
fn matrix_of_real_servers_with_client_state_and_fleet() {
    let certs = support::Certs::new();
    let shadow = FreerdpShadow::start(ShadowOptions::new(support::endpoint(TAG), "nla"));
    let ca_addr = support::endpoint(TAG);
    let mut ca_opts = XrdpOptions::new(ca_addr, "tls");
    ca_opts.certificate = Some(certs.ca_signed("xrdp-ca.rdpsweep.test", Some(*ca_addr.ip())));
    let xrdp_ca = Xrdp::start(ca_opts);
    let mut old_opts = XrdpOptions::new(support::endpoint(TAG), "tls");
    old_opts.ssl_protocols = Some("TLSv1".to_owned());
    let xrdp_tls10 = Xrdp::start(old_opts);
    let xrdp_rdp = Xrdp::start(XrdpOptions::new(support::endpoint(TAG), "rdp"));
    // Nothing listens here: a closed endpoint has a matrix row but no place in the counts.
    let closed = support::endpoint(TAG);

    let dir = tempfile::tempdir().expect("temp dir");
    let matrix = dir.path().join("matrix.csv");
    let ca = certs.ca_cert();
    let laptop = format!(
        "laptop={}",
        fixture("client-state/win10-22h2-force-no-tls10.utf16.reg")
    );
    let fleet = fixture("client-state/fleet.csv");
    let base: Vec<String> = vec![
        "scan".into(),
        "--no-progress".into(),
        "--timeout".into(),
        "15s".into(),
        "--ca-file".into(),
        ca.display().to_string(),
        "--client-profile".into(),
        "patched-mitigated,unpatched,modern-tls12".into(),
        "--client-state".into(),
        laptop,
        "--clients".into(),
        fleet,
        "--matrix".into(),
        matrix.display().to_string(),
        shadow.addr().to_string(),
        xrdp_ca.addr().to_string(),
        xrdp_tls10.addr().to_string(),
        xrdp_rdp.addr().to_string(),
        closed.to_string(),
    ];
    let mut args = base.clone();
    args.extend(["--fail-on".into(), "blocked".into()]);
    let out = support::rdpsweep(&args);
    let shown = format!(
        "{}\n{}\n{}\n{}\n{}",
        support::show(&out),
        shadow.log_tail(),
        xrdp_ca.log_tail(),
        xrdp_tls10.log_tail(),
        xrdp_rdp.log_tail()
    );
    // Blocked cells exist (below), so --fail-on blocked exits 1, naming one.
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reaches --fail-on blocked"), "{shown}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("compatibility ("), "{shown}");
    assert!(
        stdout.contains("  laptop: "),
        "summary line per client: {shown}"
    );

    let rows = read_matrix(&matrix);
    assert_eq!(
        rows.first()
            .map(|h| h.iter().take(8).cloned().collect::<Vec<_>>()),
        Some(
            [
                "target",
                "ip",
                "port",
                "status",
                "credssp_version",
                "cve_2018_0886",
                "nla",
                "tls_versions"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    // The four servers, in address order; the closed port is counted, not listed (the
    // matrix is a human-facing view: docs/output.md, "Which endpoints, in which order").
    let ports: Vec<String> = rows.iter().skip(1).map(|r| r[2].clone()).collect();
    assert_eq!(
        ports,
        [
            shadow.addr(),
            xrdp_ca.addr(),
            xrdp_tls10.addr(),
            xrdp_rdp.addr()
        ]
        .map(|a| a.port().to_string()),
        "{rows:?}"
    );
    assert!(
        !rows.iter().any(|r| r[2] == closed.port().to_string()),
        "{rows:?}"
    );
    let clients = [
        "patched-mitigated",
        "unpatched",
        "modern-tls12",
        "laptop",
        "helpdesk-win10",
        "kiosk-1607",
        "jump-2019",
        "legacy-win7",
        "workaround-pc",
    ];
    // Expected cells, per server, in `clients` order.
    let expected: [(u16, [&str; 9]); 4] = [
        // NLA required, CredSSP 6 (fixed), self-signed certificate (a certificate prompt),
        // TLS 1.2+ (OpenSSL 3): the default mode's one hello capped at TLS 1.1 gets an
        // internal_error, which refuses 1.0 and 1.1, so the TLS 1.0-only legacy-win7 is
        // blocked (it was unknown:tls-not-observed while that alert proved nothing).
        (
            shadow.addr().port(),
            [
                "warn:cert-warning",
                "depends:credssp-oracle",
                "blocked:cert-strict",
                "warn:cert-warning",
                "warn:cert-warning",
                "depends:credssp-oracle",
                "blocked:cert-strict",
                "blocked:tls-version",
                "exposed:credssp-oracle",
            ],
        ),
        // TLS without NLA (no CredSSP), CA-signed certificate trusted through --ca-file.
        (
            xrdp_ca.addr().port(),
            [
                "ok",
                "ok",
                "ok",
                "ok",
                "ok",
                "ok",
                "ok",
                "blocked:tls-version",
                // No CredSSP exchange to downgrade: the workaround changes nothing here.
                "ok",
            ],
        ),
        // TLS 1.0 only, self-signed.
        (
            xrdp_tls10.addr().port(),
            [
                "warn:cert-warning",
                "warn:cert-warning",
                "blocked:tls-version",
                "blocked:tls-version",
                "warn:cert-warning",
                "warn:cert-warning",
                "blocked:tls-version",
                "warn:cert-warning",
                "warn:cert-warning",
            ],
        ),
        // Standard RDP Security only.
        (
            xrdp_rdp.addr().port(),
            [
                "warn:security-layer",
                "warn:security-layer",
                "blocked:security-layer",
                "warn:security-layer",
                "warn:security-layer",
                "warn:security-layer",
                "blocked:security-layer",
                "warn:security-layer",
                "warn:security-layer",
            ],
        ),
    ];
    let mut problems = Vec::new();
    for (port, row) in expected {
        for (client, want) in clients.iter().zip(row) {
            let got = cells(&rows, port, client);
            if got != want {
                problems.push(format!("port {port} x {client}: got {got}, want {want}"));
            }
            let fix = cells(&rows, port, &format!("{client} remediation"));
            assert_eq!(
                fix.is_empty(),
                got == "ok",
                "{client}: remediation iff not ok: {fix}"
            );
        }
    }
    assert!(problems.is_empty(), "{}\n{rows:#?}", problems.join("\n"));
    for client in clients {
        // The summary line counts the 4 RDP hosts only, exactly as the matrix says.
        let status = rows[0].iter().position(|h| h == "status").expect("status");
        let col = rows[0].iter().position(|h| h == client).expect("column");
        let outcomes: Vec<&str> = rows
            .iter()
            .filter(|r| r.get(status).map(String::as_str) == Some("rdp"))
            .filter_map(|r| r.get(col)?.split(':').next())
            .collect();
        assert_eq!(outcomes.len(), 4, "{client}: {rows:?}");
        let count = |o: &str| outcomes.iter().filter(|x| **x == o).count();
        let want = format!(
            "  {client}: {} ok, {} exposed, {} warn, {} blocked, {} depends, {} unknown",
            count("ok"),
            count("exposed"),
            count("warn"),
            count("blocked"),
            count("depends"),
            count("unknown")
        );
        assert!(
            stdout.lines().any(|l| l == want),
            "no summary line {want:?}: {shown}"
        );
    }
    // The host columns of the NLA server.
    assert_eq!(cells(&rows, shadow.addr().port(), "credssp_version"), "6");
    assert_eq!(cells(&rows, shadow.addr().port(), "cve_2018_0886"), "fixed");
    assert_eq!(cells(&rows, shadow.addr().port(), "nla"), "required");
    assert_eq!(
        cells(&rows, xrdp_tls10.addr().port(), "tls_versions"),
        "TLS1.0"
    );

    // Only clients that are never blocked: --fail-on blocked passes, --fail-on depends fails.
    let only = |fail: &str| {
        let out = support::rdpsweep([
            "scan",
            "--no-progress",
            "--timeout",
            "15s",
            "--ca-file",
            &ca.display().to_string(),
            "--client-profile",
            "patched-mitigated,unpatched",
            "--fail-on",
            fail,
            &shadow.addr().to_string(),
            &xrdp_ca.addr().to_string(),
        ]);
        (out.status.code(), support::show(&out))
    };
    let (code, shown) = only("blocked");
    assert_eq!(code, Some(0), "{shown}");
    let (code, shown) = only("depends");
    assert_eq!(code, Some(1), "{shown}");
}

/// Host columns and client cells of a saved scan of one host answering CredSSP version 3.
#[test]
fn report_replays_a_saved_unpatched_host() {
    let dir = tempfile::tempdir().expect("temp dir");
    let matrix = dir.path().join("m.csv");
    let input = fixture("compat/unpatched-2016.json");
    let out = support::rdpsweep([
        "report",
        "--input",
        &input,
        "--client-profile",
        "patched-mitigated,patched-force,patched-vulnerable,unpatched",
        "--clients",
        &fixture("client-state/fleet.csv"),
        "--matrix",
        &matrix.display().to_string(),
        "--format",
        "jsonl",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    let records = support::jsonl(&out.stdout);
    assert_eq!(records.len(), 1);
    let compat = &records[0]["compat"];
    assert_eq!(compat["patched-mitigated"]["outcome"], "blocked");
    assert_eq!(compat["patched-mitigated"]["reason"], "credssp-oracle");
    let fix = compat["patched-mitigated"]["remediation"]
        .as_str()
        .expect("remediation");
    assert!(fix.contains("CredSSP version 3"), "{fix}");
    assert!(
        fix.contains("/d 2 /f") && fix.contains("ROLLBACK") && fix.contains("/d 1 /f"),
        "{fix}"
    );

    let rows = read_matrix(&matrix);
    let header: Vec<&str> = rows[0].iter().map(String::as_str).collect();
    assert_eq!(
        header,
        [
            "target",
            "ip",
            "port",
            "status",
            "credssp_version",
            "cve_2018_0886",
            "nla",
            "tls_versions",
            "patched-mitigated",
            "patched-mitigated remediation",
            "patched-force",
            "patched-force remediation",
            "patched-vulnerable",
            "patched-vulnerable remediation",
            "unpatched",
            "unpatched remediation",
            "helpdesk-win10",
            "helpdesk-win10 remediation",
            "kiosk-1607",
            "kiosk-1607 remediation",
            "jump-2019",
            "jump-2019 remediation",
            "legacy-win7",
            "legacy-win7 remediation",
            "workaround-pc",
            "workaround-pc remediation",
        ]
    );
    let row = &rows[1];
    let cell = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
    assert_eq!(
        (cell(0), cell(3), cell(4), cell(5), cell(6), cell(7)),
        (
            "srv2016-old.corp.example",
            "rdp",
            "3",
            "missing",
            "required",
            "TLS1.0;TLS1.1;TLS1.2"
        )
    );
    let got: Vec<&str> = (8..row.len()).step_by(2).map(cell).collect();
    assert_eq!(
        got,
        [
            "blocked:credssp-oracle",
            "blocked:credssp-oracle",
            "exposed:credssp-oracle",
            "exposed:credssp-oracle",
            "blocked:credssp-oracle",
            "exposed:credssp-oracle",
            "blocked:credssp-oracle",
            "exposed:credssp-oracle",
            "exposed:credssp-oracle",
        ]
    );
}

#[test]
fn report_fail_on_and_what_if() {
    let input = fixture("compat/unpatched-2016.json");
    let run = |extra: &[&str]| {
        let mut args = vec!["report", "--input", input.as_str(), "--format", "csv"];
        args.extend_from_slice(extra);
        let out = support::rdpsweep(&args);
        (out.status.code(), support::show(&out))
    };
    // (--client-profile, --fail-on, exit code)
    for (profiles, fail_on, want) in [
        ("patched-mitigated", "blocked", 1),
        ("patched-vulnerable,unpatched", "blocked", 0),
        ("patched-vulnerable,unpatched", "exposed", 1),
        // The finding credssp-oracle-unpatched is high.
        ("none", "high", 1),
    ] {
        let (code, shown) = run(&["--client-profile", profiles, "--fail-on", fail_on]);
        assert_eq!(
            code,
            Some(want),
            "--client-profile {profiles} --fail-on {fail_on}: {shown}"
        );
    }
    // "If we push Force Updated Clients tomorrow": the workaround client becomes blocked.
    let (code, shown) = run(&[
        "--client-profile",
        "patched-vulnerable",
        "--what-if",
        "allow_encryption_oracle=0",
        "--fail-on",
        "blocked",
    ]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("patched-vulnerable+what-if"), "{shown}");
    assert!(shown.contains("blocked:credssp-oracle"), "{shown}");
}

#[test]
fn report_reads_jsonl_and_names_bad_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(fixture("compat/unpatched-2016.json")).expect("fixture");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    let host = serde_json::to_string(&doc["hosts"][0]).expect("host");
    // Another endpoint (the same one twice would be merged into one record).
    let mut other = doc["hosts"][0].clone();
    other["port"] = serde_json::json!(3390);
    let other = serde_json::to_string(&other).expect("host");
    let good = dir.path().join("scan.jsonl");
    std::fs::write(&good, format!("{host}\n{other}\n")).expect("write");
    let out = support::rdpsweep([
        "report",
        "--input",
        good.to_str().expect("path"),
        "--client-profile",
        "unpatched",
        "--format",
        "jsonl",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    assert_eq!(support::jsonl(&out.stdout).len(), 2);

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{host}\n{{\"target\": 1}}\n")).expect("write");
    let out = support::rdpsweep(["report", "--input", bad.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", support::show(&out));
    assert!(stderr.contains("bad.jsonl:2:"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_client_files_exit_2_and_nothing_is_scanned() {
    let listener = support::FakeListener::http_400(TAG);
    let target = listener.target();
    for (flag, file, needle) in [
        (
            "--client-state",
            "client-state/malformed-dword.utf16.reg",
            "malformed-dword.utf16.reg:4:",
        ),
        (
            "--client-state",
            "client-state/malformed-query.txt",
            "malformed-query.txt:3:",
        ),
        (
            "--client-state",
            "client-state/malformed-profile.toml",
            "malformed-profile.toml:3:",
        ),
        (
            "--clients",
            "client-state/malformed-fleet.csv",
            "malformed-fleet.csv:4:",
        ),
        ("--client-state", "client-state/missing.reg", "missing.reg"),
    ] {
        let out = support::rdpsweep(["scan", "--no-progress", flag, &fixture(file), &target]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{file}: {}",
            support::show(&out)
        );
        assert!(stderr.contains(needle), "{file}: {stderr}");
        assert!(out.stdout.is_empty(), "{file}: nothing may be written");
    }
    let out = support::rdpsweep([
        "scan",
        "--no-progress",
        "--client-profile",
        "patched",
        &target,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", support::show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown profile"));
    assert_eq!(
        listener.accepted(),
        0,
        "a bad client option must stop the scan"
    );
}

#[test]
fn client_json_feeds_back_into_client_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The local profile (on this Linux machine: FreeRDP if installed, else unknown).
    let out = support::rdpsweep(["client", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    let local: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(local["name"], "local");
    // A .reg client, as JSON, read back under another name.
    let out = support::rdpsweep([
        "client",
        "--format",
        "json",
        "--client-state",
        &format!(
            "pc={}",
            fixture("client-state/win10-22h2-force-no-tls10.utf16.reg")
        ),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    let saved: PathBuf = dir.path().join("pc.json");
    std::fs::write(&saved, &out.stdout).expect("write");
    let back = support::rdpsweep([
        "client",
        "--format",
        "json",
        "--client-state",
        saved.to_str().expect("path"),
    ]);
    assert_eq!(back.status.code(), Some(0), "{}", support::show(&back));
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let b: serde_json::Value = serde_json::from_slice(&back.stdout).expect("json");
    for key in [
        "credssp_fix",
        "allow_encryption_oracle",
        "oracle_default",
        "tls_versions",
        "cert_policy",
        "os_build",
        "ubr",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(b["allow_encryption_oracle"], 0);
    assert_eq!(b["tls_versions"], serde_json::json!(["1.1", "1.2"]));
}
