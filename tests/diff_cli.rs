//! `rdpsweep diff` and `rdpsweep report` over several saved scans, as a user runs them (the
//! real binary; docs/diff.md, docs/output.md "Several saved scans").
//!
//! - `--fail-on` at each level, on the snapshot pair `fixtures/diff/` and on pairs cut from it
//!   (exit 1 only when reached), every output format in files;
//! - bad input: exit 2, a message naming the file and line, and no output file (nor a
//!   `.partial`) left behind; a torn last line is a warning, not an error; schema versions;
//! - real servers on loopback (tag 130): two `scan -o` files with an xrdp restarted with
//!   another certificate and security layer and a CredSSP server patched from version 3 to 6
//!   in between: `rdpsweep diff` lists exactly those changes, with their directions;
//! - the shards of a real scan (`--shard 1/3` .. `3/3`) merged by `report` equal the unsharded
//!   scan, apart from timings.
//!
//! NETWORK SAFETY: every server binds, and every scan targets, 127.0.0.0/8 only.

mod support;

#[path = "support/credssp_server.rs"]
mod credssp_server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::Ordering;

use serde_json::Value;
use support::{Certs, FakeListener, FreerdpShadow, ShadowOptions, Xrdp, XrdpOptions};

/// This binary's loopback tag (`support::net::loopback`).
const TAG: u8 = 130;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The records of a JSONL file.
fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    support::jsonl(text.as_bytes())
}

fn write_jsonl(path: &Path, records: &[Value]) {
    let text: String = records
        .iter()
        .map(|r| serde_json::to_string(r).expect("JSON") + "\n")
        .collect();
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The records of `file` whose target is on 127.70.`net`.x.
fn on_net(file: &str, net: u8) -> Vec<Value> {
    records(&fixture(file))
        .into_iter()
        .filter(|r| {
            r["target"]
                .as_str()
                .is_some_and(|t| t.starts_with(&format!("127.70.{net}.")))
        })
        .collect()
}

/// The names of the files in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// `rdpsweep diff OLD NEW ARGS`.
fn diff(old: &Path, new: &Path, args: &[&str]) -> Output {
    let mut all = vec!["diff", path_str(old), path_str(new)];
    all.extend_from_slice(args);
    support::rdpsweep(&all)
}

// ---- --fail-on ------------------------------------------------------------------------------

#[test]
fn fail_on_each_level_exits_1_only_when_reached() {
    let dir = tempfile::tempdir().expect("temp dir");
    let last = fixture("diff/last.jsonl");
    let today = fixture("diff/today.jsonl");
    // 127.70.2.x only improved (TLS 1.0 → 1.2/1.3); a closed port left the target list.
    let improved_old = dir.path().join("improved-old.jsonl");
    let improved_new = dir.path().join("improved-new.jsonl");
    write_jsonl(&improved_old, &on_net("diff/last.jsonl", 2));
    write_jsonl(&improved_new, &on_net("diff/today.jsonl", 2));
    let closed_gone = dir.path().join("closed-gone.jsonl");
    let mut rest = records(&last);
    rest.retain(|r| r["status"] != "closed");
    assert_eq!(rest.len(), 6);
    write_jsonl(&closed_gone, &rest);

    // Which of regressed, changed, added, removed each pair reaches.
    let all = [true, true, true, true];
    let none = [false, false, false, false];
    for (old, new, expected) in [
        (&last, &today, all),
        (&last, &last, none),
        (&improved_old, &improved_new, [false, true, false, false]),
        (&last, &closed_gone, none),
    ] {
        let levels = ["regressed", "changed", "added", "removed"];
        for (level, expect) in levels.into_iter().zip(expected) {
            let out = diff(old, new, &["--fail-on", level]);
            let err = stderr(&out);
            let shown = format!(
                "diff {} {} --fail-on {level}\n{}",
                old.display(),
                new.display(),
                support::show(&out)
            );
            assert_eq!(
                out.status.code(),
                Some(if expect { 1 } else { 0 }),
                "{shown}"
            );
            let reasons: Vec<&str> = err
                .lines()
                .filter(|l| l.starts_with(&format!("rdpsweep: {level}: ")))
                .collect();
            assert_eq!(!reasons.is_empty(), expect, "{shown}");
            assert!(stdout(&out).ends_with("unchanged\n"), "the table: {shown}");
        }
    }
    // The reasons for the snapshot pair name the endpoints and their first change.
    let out = diff(
        &last,
        &today,
        &["--fail-on", "regressed,added", "--fail-on", "removed"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", support::show(&out));
    let err = stderr(&out);
    for line in [
        "rdpsweep: regressed: 127.70.0.15:3389: security.nla: required → supported (+12 more)",
        "rdpsweep: added: 127.70.7.15:3389 (rdp)",
        "rdpsweep: removed: 127.70.4.15:3389 (rdp)",
    ] {
        assert!(err.lines().any(|l| l == line), "no {line:?} in\n{err}");
    }
    // A closed port that left the target list is counted, not "removed".
    let out = diff(&last, &closed_gone, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    let d: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(d["summary"]["removed"], 1);
    assert_eq!(d["summary"]["removed_closed_or_filtered"], 1);
}

#[test]
fn every_format_to_files_and_stdout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (last, today) = (fixture("diff/last.jsonl"), fixture("diff/today.jsonl"));
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    let file = |name: &str| out_dir.join(name);
    let (txt, json, jsonl, csv) = (
        file("d.txt"),
        file("d.json"),
        file("d.jsonl"),
        file("d.csv"),
    );
    let out = diff(
        &last,
        &today,
        &[
            "-o",
            path_str(&txt),
            "--output",
            path_str(&json),
            "-o",
            path_str(&jsonl),
            "-o",
            path_str(&csv),
            "--fail-on",
            "regressed",
        ],
    );
    // Files are written when a --fail-on condition is reached too.
    assert_eq!(out.status.code(), Some(1), "{}", support::show(&out));
    assert_eq!(files_in(&out_dir), ["d.csv", "d.json", "d.jsonl", "d.txt"]);
    let table = std::fs::read_to_string(&txt).expect("d.txt");
    assert_eq!(table, stdout(&out), "the .txt file is the table on stdout");
    assert!(table.ends_with(
        "1 added, 1 removed, 5 changed: 4 regressed, 1 improved, 0 changed; 1 unchanged\n"
    ));
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("d.json")).expect("JSON");
    assert_eq!(doc["summary"]["changed"], 5);
    let kinds: Vec<Value> = records(&jsonl).iter().map(|l| l["kind"].clone()).collect();
    assert_eq!(
        kinds,
        [
            "added", "removed", "changed", "changed", "changed", "changed", "changed"
        ]
    );
    let csv_text = std::fs::read_to_string(&csv).expect("d.csv");
    assert!(
        csv_text.starts_with("\u{feff}\"kind\",\"endpoint\""),
        "{csv_text}"
    );

    // --format json on stdout is the file's document, and the counts go to stderr.
    let out = diff(&last, &today, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    assert_eq!(
        stdout(&out),
        std::fs::read_to_string(&json).expect("d.json")
    );
    assert!(
        stderr(&out).contains("rdpsweep: 1 added, 1 removed, 5 changed"),
        "{}",
        support::show(&out)
    );
    // On stdout the CSV has no byte-order mark.
    let out = diff(&last, &today, &["--format", "csv"]);
    assert_eq!(stdout(&out), csv_text.trim_start_matches('\u{feff}'));

    // --ignore leaves paths out; --by-target matches a host whose address changed.
    let out = diff(
        &last,
        &today,
        &[
            "--format",
            "json",
            "--ignore",
            "compat,findings",
            "--ignore",
            "ntlm.dns_tree",
        ],
    );
    let d: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let paths: Vec<&str> = d["changed"]
        .as_array()
        .expect("changed")
        .iter()
        .flat_map(|e| e["changes"].as_array().expect("changes"))
        .map(|c| c["path"].as_str().expect("path"))
        .collect();
    assert!(!paths.is_empty());
    assert!(
        paths.iter().all(|p| !p.starts_with("compat")
            && !p.starts_with("findings")
            && *p != "ntlm.dns_tree"),
        "{paths:?}"
    );
    let mut moved = on_net("diff/last.jsonl", 2);
    moved[0]["ip"] = Value::from("127.70.2.99");
    let moved_file = dir.path().join("moved.jsonl");
    write_jsonl(&moved_file, &moved);
    let old = dir.path().join("old.jsonl");
    write_jsonl(&old, &on_net("diff/last.jsonl", 2));
    let by_ip = diff(&old, &moved_file, &["--format", "json"]);
    let d: Value = serde_json::from_str(&stdout(&by_ip)).expect("JSON");
    assert_eq!(
        (
            d["summary"]["added"].clone(),
            d["summary"]["removed"].clone()
        ),
        (1.into(), 1.into())
    );
    let by_target = diff(&old, &moved_file, &["--format", "json", "--by-target"]);
    let d: Value = serde_json::from_str(&stdout(&by_target)).expect("JSON");
    assert_eq!(d["summary"]["changed"], 1, "{}", support::show(&by_target));
    assert_eq!(d["changed"][0]["changes"][0]["path"], "ip");
    assert_eq!(d["changed"][0]["changes"][0]["new"], "127.70.2.99");
}

// ---- bad input ------------------------------------------------------------------------------

/// Inputs that are not saved scans, each with what the error must say.
fn bad_inputs(dir: &Path) -> Vec<(PathBuf, String)> {
    let good = records(&fixture("diff/last.jsonl"));
    let record = serde_json::to_string(&good[0]).expect("JSON");
    let diff_doc = {
        let out = diff(
            &fixture("diff/last.jsonl"),
            &fixture("diff/today.jsonl"),
            &["--format", "json"],
        );
        stdout(&out)
    };
    let diff_line = {
        let out = diff(
            &fixture("diff/last.jsonl"),
            &fixture("diff/today.jsonl"),
            &["--format", "jsonl"],
        );
        stdout(&out).lines().next().expect("a diff line").to_owned()
    };
    let mut newer = good[1].clone();
    newer["schema_version"] = Value::from(99);
    let document = std::fs::read_to_string(fixture("report/loopback-mix.json")).expect("fixture");
    let cases: Vec<(&str, String, String)> = vec![
        (
            "targets.txt",
            "127.0.0.1\n127.0.0.2\n".into(),
            "targets.txt:1: not an rdpsweep host record".into(),
        ),
        (
            "hosts.csv",
            "\u{feff}\"target\",\"ip\",\"port\"\r\n\"a\",\"127.0.0.1\",3389\r\n".into(),
            "hosts.csv:1: not an rdpsweep host record".into(),
        ),
        (
            "changes.json",
            diff_doc,
            "changes.json:1: not an rdpsweep JSON document: this is `rdpsweep diff` output".into(),
        ),
        (
            "document.jsonl",
            document,
            "document.jsonl:1: not an rdpsweep host record: this line is a JSON document".into(),
        ),
        (
            "lines.json",
            format!("{record}\n{record}\n"),
            "lines.json:1: not an rdpsweep JSON document: this is JSONL".into(),
        ),
        (
            "diff-mixed.jsonl",
            format!("{record}\n{diff_line}\n"),
            "diff-mixed.jsonl:2: not an rdpsweep host record: this line is `rdpsweep diff` output"
                .into(),
        ),
        (
            "other-json.jsonl",
            format!("{record}\n{{\"tool\":\"rdpsweep\",\"version\":\"0.1.0\"}}\n"),
            "other-json.jsonl:2: not an rdpsweep host record: missing field".into(),
        ),
        (
            "torn-middle.jsonl",
            format!("{}\n{record}\n", &record[..record.len() / 2]),
            "torn-middle.jsonl:1: not an rdpsweep host record".into(),
        ),
        (
            "newer.jsonl",
            format!("{record}\n{}\n", serde_json::to_string(&newer).expect("JSON")),
            "newer.jsonl:2: written by a newer rdpsweep (schema version 99; this rdpsweep reads versions up to 2)".into(),
        ),
        ("empty.jsonl", String::new(), "empty.jsonl: no host records".into()),
    ];
    let mut out: Vec<(PathBuf, String)> = cases
        .into_iter()
        .map(|(name, content, needle)| {
            let path = dir.join(name);
            std::fs::write(&path, content).expect("write input");
            let needle = needle.replacen(name, path_str(&path), 1);
            (path, needle)
        })
        .collect();
    let missing = dir.join("missing.jsonl");
    out.push((
        missing.clone(),
        format!("cannot read {}", missing.display()),
    ));
    out
}

/// Exit 2, the message, nothing on stdout, and nothing in `out_dir`.
fn assert_refused(out: &Output, needle: &str, out_dir: &Path, what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{what}\n{}", support::show(out));
    assert!(err.contains(needle), "{what}: no {needle:?} in\n{err}");
    assert!(
        out.stdout.is_empty(),
        "{what}: stdout\n{}",
        support::show(out)
    );
    assert_eq!(
        files_in(out_dir),
        Vec::<String>::new(),
        "{what}: files were left behind"
    );
}

#[test]
fn bad_input_exits_2_naming_file_and_line_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let inputs = dir.path().join("in");
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&inputs).expect("mkdir");
    std::fs::create_dir(&out_dir).expect("mkdir");
    let good = fixture("diff/last.jsonl");
    let o = |name: &str| path_str(&out_dir.join(name)).to_owned();
    for (bad, needle) in bad_inputs(&inputs) {
        let shown = bad.display().to_string();
        let out = support::rdpsweep([
            "report",
            "-i",
            path_str(&good),
            "-i",
            path_str(&bad),
            "--client-profile",
            "unpatched",
            "-o",
            &o("r.csv"),
            "-o",
            &o("r.json"),
            "-o",
            &o("r.jsonl"),
            "--matrix",
            &o("m.csv"),
        ]);
        assert_refused(
            &out,
            &needle,
            &out_dir,
            &format!("report -i good -i {shown}"),
        );
        for (old, new) in [(&good, &bad), (&bad, &good)] {
            let out = diff(
                old,
                new,
                &[
                    "-o",
                    &o("d.json"),
                    "-o",
                    &o("d.csv"),
                    "-o",
                    &o("d.txt"),
                    "--fail-on",
                    "changed",
                ],
            );
            assert_refused(&out, &needle, &out_dir, &format!("diff {old:?} {new:?}"));
        }
    }

    // Argument errors, before anything is read or written.
    let today = fixture("diff/today.jsonl");
    for (args, needle) in [
        (
            vec!["-o", "OUT/d.xlsx"],
            "d.xlsx: use a .txt, .json, .jsonl or .csv extension",
        ),
        (vec!["-o", "OUT/d"], "cannot tell the format of output file"),
        (
            vec!["--ignore", "nltm.dns_tree"],
            "--ignore nltm.dns_tree: a host record has no field \"nltm\"",
        ),
        (
            vec!["--fail-on", "worse"],
            "invalid value 'worse' for '--fail-on <WHAT>'",
        ),
        (
            vec!["--format", "xlsx"],
            "invalid value 'xlsx' for '--format <FORMAT>'",
        ),
        // An output that cannot be created: the one created before it is removed again.
        (
            vec!["-o", "OUT/no-such-dir/d.csv"],
            "cannot create output file",
        ),
    ] {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("OUT", path_str(&out_dir)))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = diff(
            &good,
            &today,
            &[&["-o", &o("ok.json")], args.as_slice()].concat(),
        );
        assert_refused(&out, needle, &out_dir, &format!("diff {args:?}"));
    }
    let out = support::rdpsweep(["report"]);
    assert_eq!(out.status.code(), Some(2), "{}", support::show(&out));
    assert!(
        stderr(&out).contains("--input <FILE>"),
        "{}",
        support::show(&out)
    );
}

#[test]
fn a_torn_last_line_is_a_warning_naming_the_endpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let today = fixture("diff/today.jsonl");
    let text = std::fs::read_to_string(&today).expect("fixture");
    let last_line = text.lines().last().expect("a line");
    let torn = dir.path().join("torn.jsonl");
    let kept = text.len() - last_line.len() - 1;
    let cut = &text[..kept + last_line.len() / 3];
    std::fs::write(&torn, cut).expect("write");
    let warning = format!(
        "rdpsweep: warning: {}:7: skipped an incomplete last line ({} bytes, cut off mid-write): the record of 127.70.7.15:3389; scan that endpoint again",
        torn.display(),
        last_line.len() / 3
    );

    let merged = dir.path().join("merged.jsonl");
    let out = support::rdpsweep([
        "report",
        "-i",
        path_str(&torn),
        "--client-profile",
        "unpatched",
        "--format",
        "jsonl",
        "-o",
        path_str(&merged),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    assert!(
        stderr(&out).lines().any(|l| l == warning),
        "{}",
        support::show(&out)
    );
    assert_eq!(records(&merged).len(), 6);

    // diff reads it too: the cut-off endpoint is simply not in the new scan.
    let out = diff(&fixture("diff/last.jsonl"), &torn, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    assert!(
        stderr(&out).lines().any(|l| l == warning),
        "{}",
        support::show(&out)
    );
    let d: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(d["summary"]["added"], 0);
}

#[test]
fn schema_versions_report_refuses_to_merge_diff_compares() {
    let dir = tempfile::tempdir().expect("temp dir");
    let last = fixture("diff/last.jsonl");
    // The same scan as the current version writes it (no field of version 2 differs).
    let mut current = records(&fixture("diff/today.jsonl"));
    for r in &mut current {
        r["schema_version"] = Value::from(2);
    }
    let v2 = dir.path().join("v2.jsonl");
    write_jsonl(&v2, &current);
    // And version 1 as a file written before the field existed.
    let mut unmarked = records(&last);
    for r in &mut unmarked {
        r.as_object_mut().expect("object").remove("schema_version");
    }
    let v1 = dir.path().join("v1.json");
    std::fs::write(
        &v1,
        serde_json::to_string(&serde_json::json!({"hosts": unmarked, "scan": {}})).expect("JSON"),
    )
    .expect("write");

    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    let csv = out_dir.join("all.csv");
    let out = support::rdpsweep([
        "report",
        "-i",
        path_str(&v1),
        path_str(&v2),
        "-o",
        path_str(&csv),
    ]);
    assert_refused(
        &out,
        &format!(
            "cannot merge saved scans of different schema versions: {} (hosts[0]) has version 1, {}:1 has version 2",
            v1.display(),
            v2.display()
        ),
        &out_dir,
        "report v1 v2",
    );
    // Each alone is fine; report keeps a record's version.
    let out = support::rdpsweep(["report", "-i", path_str(&v1), "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    assert!(
        support::jsonl(&out.stdout)
            .iter()
            .all(|r| r["schema_version"] == 1)
    );

    // diff compares them, leaving out what version 1 did not have, and says so.
    let out = diff(&v1, &v2, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    let note = format!(
        "rdpsweep: note: {} has schema version 1, {} has 2: fields added after version 1 are not compared (schema_version, server, rdp_security, tls.versions_undecided, tls.trust.name_checked, ntlm.domain_joined)",
        v1.display(),
        v2.display()
    );
    assert!(
        stderr(&out).lines().any(|l| l == note),
        "{}",
        support::show(&out)
    );
    let same = diff(&last, &fixture("diff/today.jsonl"), &["--format", "json"]);
    assert_eq!(
        stdout(&out),
        stdout(&same),
        "the versions alone change nothing"
    );
}

// ---- real servers ----------------------------------------------------------------------------

/// `rdpsweep scan` of `targets` into `file` with the test CA and two client profiles.
fn scan_to(certs: &Certs, targets: &[String], extra: &[&str], file: &Path) -> Output {
    let mut args: Vec<String> = vec![
        "scan".into(),
        "--no-progress".into(),
        "--timeout".into(),
        "15s".into(),
        "--ca-file".into(),
        certs.ca_cert().display().to_string(),
        "--client-profile".into(),
        "patched-mitigated,unpatched".into(),
        "-o".into(),
        file.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.extend(targets.iter().cloned());
    let out = support::rdpsweep(&args);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    out
}

/// `(endpoint, [(path, direction)])` of a diff's JSON.
fn changes(d: &Value) -> Vec<(String, Vec<(String, String)>)> {
    d["changed"]
        .as_array()
        .expect("changed")
        .iter()
        .map(|e| {
            let list = e["changes"]
                .as_array()
                .expect("changes")
                .iter()
                .map(|c| {
                    (
                        c["path"].as_str().expect("path").to_owned(),
                        c["direction"].as_str().expect("direction").to_owned(),
                    )
                })
                .collect();
            (e["endpoint"].as_str().expect("endpoint").to_owned(), list)
        })
        .collect()
}

#[test]
fn real_servers_reconfigured_between_two_scans() {
    let certs = Certs::new();
    let dir = tempfile::tempdir().expect("temp dir");
    // X: xrdp, TLS only, with a CA-signed certificate (trusted through --ca-file).
    let x_addr = support::endpoint(TAG);
    let mut x_opts = XrdpOptions::new(x_addr, "tls");
    x_opts.certificate = Some(certs.ca_signed("x.rdpsweep.test", Some(*x_addr.ip())));
    let first_cert_made = std::time::Instant::now();
    let x = Xrdp::start(x_opts.clone());
    // C: a CredSSP server answering version 3 (no CVE-2018-0886 fix).
    let (c_addr, _, c_version) = credssp_server::spawn_switchable(support::endpoint(TAG), 3);
    // U: xrdp, Standard RDP Security, unchanged.
    let u = Xrdp::start(XrdpOptions::new(support::endpoint(TAG), "rdp"));
    let targets: Vec<String> = vec![
        x.addr().to_string(),
        c_addr.to_string(),
        u.addr().to_string(),
    ];

    let first = dir.path().join("first.jsonl");
    scan_to(&certs, &targets, &[], &first);
    // Nothing changed yet: nothing to report, at any level.
    let again = dir.path().join("again.json");
    scan_to(&certs, &targets, &[], &again);
    let out = diff(
        &first,
        &again,
        &["--fail-on", "regressed,changed,added,removed"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    assert!(
        stdout(&out).starts_with("No differences."),
        "{}",
        support::show(&out)
    );

    // The week: X restarted with a self-signed certificate and security_layer=negotiate
    // (Standard RDP Security accepted again); C patched (CredSSP 6).
    drop(x);
    let mut x_new = x_opts.clone();
    x_new.security_layer = "negotiate";
    // Both certificates are valid for 365 days from when they were made: a second apart at
    // least, so that `not_after` differs.
    std::thread::sleep(
        std::time::Duration::from_millis(1100).saturating_sub(first_cert_made.elapsed()),
    );
    x_new.certificate = Some(certs.self_signed("x.rdpsweep.test"));
    let x = Xrdp::start(x_new);
    c_version.store(6, Ordering::SeqCst);
    let second = dir.path().join("second.json");
    scan_to(&certs, &targets, &[], &second);

    let table_file = dir.path().join("week.txt");
    let out = diff(
        &first,
        &second,
        &[
            "--format",
            "json",
            "-o",
            path_str(&table_file),
            "--fail-on",
            "regressed",
        ],
    );
    println!("{}", std::fs::read_to_string(&table_file).expect("table"));
    assert_eq!(out.status.code(), Some(1), "{}", support::show(&out));
    let d: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let s = |p: &str, d: &str| (p.to_owned(), d.to_owned());
    assert_eq!(
        changes(&d),
        vec![
            (
                x.addr().to_string(),
                vec![
                    // Standard RDP Security accepted again.
                    s("security.failure_codes", "changed"),
                    s("security.protocols.rdp", "regressed"),
                    // The certificate replaced: a fact, judged by trust and findings.
                    s("tls.certificate.issuer", "changed"),
                    s("tls.certificate.not_after", "changed"),
                    s("tls.certificate.sans", "changed"),
                    s("tls.certificate.self_signed", "changed"),
                    s("tls.certificate.sha256", "changed"),
                    s("tls.trust.ca_file", "regressed"),
                    s("tls.trust.name", "regressed"),
                    // What Standard RDP Security now offers (MCS Connect Response).
                    s("rdp_security.certificate.key_bits", "changed"),
                    s("rdp_security.certificate.public_exponent", "changed"),
                    s("rdp_security.certificate.temporary", "changed"),
                    s("rdp_security.certificate_type", "changed"),
                    s("rdp_security.encryption_level", "changed"),
                    s("rdp_security.encryption_methods", "changed"),
                    s("findings[cert-self-signed]", "regressed"),
                    s("findings[cert-untrusted]", "regressed"),
                    s("findings[standard-rdp-security-allowed]", "regressed"),
                    s("compat[patched-mitigated].outcome", "regressed"),
                    s("compat[unpatched].outcome", "regressed"),
                ]
            ),
            (
                c_addr.to_string(),
                vec![
                    s("credssp.cve_2018_0886", "improved"),
                    s("credssp.version", "improved"),
                    s("findings[credssp-oracle-unpatched]", "improved"),
                    // Patched clients are no longer blocked ...
                    s("compat[patched-mitigated].outcome", "improved"),
                    // ... and an unpatched client now depends on the server's policy (it is
                    // refused under Force Updated Clients): docs/diff.md's outcome scale.
                    s("compat[unpatched].outcome", "regressed"),
                ]
            ),
        ],
        "{d:#}"
    );
    assert_eq!(d["summary"]["unchanged"], 1, "U did not change");
    let value = |endpoint: String, path: &str| {
        d["changed"]
            .as_array()
            .expect("changed")
            .iter()
            .filter(|e| e["endpoint"] == endpoint.as_str())
            .flat_map(|e| e["changes"].as_array().expect("changes"))
            .find(|c| c["path"] == path)
            .map(|c| (c["old"].clone(), c["new"].clone()))
            .unwrap_or_else(|| panic!("no {path} for {endpoint}"))
    };
    assert_eq!(
        value(x.addr().to_string(), "security.protocols.rdp"),
        (false.into(), true.into())
    );
    assert_eq!(
        value(x.addr().to_string(), "tls.trust.ca_file"),
        ("trusted".into(), "untrusted: unknown issuer".into())
    );
    assert_eq!(
        value(c_addr.to_string(), "credssp.version"),
        (3.into(), 6.into())
    );
    assert_eq!(
        value(c_addr.to_string(), "compat[patched-mitigated].outcome"),
        ("blocked:credssp-oracle".into(), "warn:cert-warning".into())
    );
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| l.starts_with(&format!("rdpsweep: regressed: {}: ", x.addr()))),
        "{err}"
    );
    let _ = (u, x);
}

/// A record without what differs between two probes of the same server: timing and clock
/// readings (the volatile fields of docs/diff.md: a certificate made a second before the scan
/// has 365 days left in one scan and 364 in the next).
fn without_timing(mut r: Value) -> Value {
    let map = r.as_object_mut().expect("record");
    map.remove("elapsed_ms");
    if let Some(cert) = map
        .get_mut("tls")
        .and_then(|t| t.get_mut("certificate"))
        .and_then(Value::as_object_mut)
    {
        cert.remove("days_left");
    }
    if let Some(ntlm) = map.get_mut("ntlm").and_then(Value::as_object_mut) {
        ntlm.remove("server_time");
        ntlm.remove("clock_skew_s");
    }
    r
}

fn by_endpoint(records: Vec<Value>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for r in records {
        let key = format!("{}:{}", r["ip"], r["port"]);
        assert!(
            out.insert(key.clone(), without_timing(r)).is_none(),
            "{key} twice"
        );
    }
    out
}

/// The CSV rows (BOM removed) with the timing and clock columns emptied, sorted.
fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().expect("header").clone();
    let timing: Vec<usize> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| matches!(*h, "elapsed_ms" | "clock_skew_s" | "cert_days_left"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(timing.len(), 3, "{headers:?}");
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| {
            r.expect("row")
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if timing.contains(&i) {
                        String::new()
                    } else {
                        v.to_owned()
                    }
                })
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn merged_shards_of_a_real_scan_equal_the_unsharded_scan() {
    let certs = Certs::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let shadow = FreerdpShadow::start(ShadowOptions::new(support::endpoint(TAG), "nla"));
    let xrdp_tls = Xrdp::start(XrdpOptions::new(support::endpoint(TAG), "tls"));
    let xrdp_negotiate = Xrdp::start(XrdpOptions::new(support::endpoint(TAG), "negotiate"));
    let xrdp_rdp = Xrdp::start(XrdpOptions::new(support::endpoint(TAG), "rdp"));
    let http = FakeListener::http_400(TAG);
    let closed = support::closed_port(TAG);
    let targets: Vec<String> = vec![
        shadow.target(),
        xrdp_tls.target(),
        xrdp_negotiate.target(),
        xrdp_rdp.target(),
        http.target(),
        closed.to_string(),
    ];

    let whole = dir.path().join("whole.jsonl");
    scan_to(&certs, &targets, &[], &whole);
    let mut shards = Vec::new();
    for i in 1..=3 {
        let file = dir.path().join(format!("shard-{i}.jsonl"));
        scan_to(&certs, &targets, &["--shard", &format!("{i}/3")], &file);
        let n = records(&file).len();
        assert_eq!(n, 2, "shard {i}/3 holds a third of the 6 endpoints");
        shards.push(file);
    }

    // The documented merge (docs/scaling.md): -i repeated, and several files after one -i.
    let merged_jsonl = dir.path().join("all.jsonl");
    let merged_csv = dir.path().join("all.csv");
    let out = support::rdpsweep([
        "report",
        "-i",
        path_str(&shards[0]),
        "-i",
        path_str(&shards[1]),
        path_str(&shards[2]),
        "--client-profile",
        "patched-mitigated,unpatched",
        "--format",
        "jsonl",
        "-o",
        path_str(&merged_jsonl),
        "-o",
        path_str(&merged_csv),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    assert!(
        !stderr(&out).contains("warning"),
        "no duplicates: {}",
        support::show(&out)
    );

    let merged = by_endpoint(records(&merged_jsonl));
    let unsharded = by_endpoint(records(&whole));
    assert_eq!(merged.len(), 6);
    for (endpoint, record) in &unsharded {
        assert_eq!(merged.get(endpoint), Some(record), "{endpoint}");
    }
    assert_eq!(merged, unsharded);

    let whole_csv = dir.path().join("whole.csv");
    let out = support::rdpsweep([
        "report",
        "-i",
        path_str(&whole),
        "--client-profile",
        "patched-mitigated,unpatched",
        "-o",
        path_str(&whole_csv),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    assert_eq!(csv_rows(&merged_csv), csv_rows(&whole_csv));

    // And rdpsweep diff agrees: nothing added, removed or changed.
    let out = diff(
        &whole,
        &merged_jsonl,
        &["--fail-on", "changed,added,removed"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
    let _ = (shadow, xrdp_tls, xrdp_negotiate, xrdp_rdp, http);
}

// ---- report over several files ---------------------------------------------------------------

#[test]
fn report_of_overlapping_scans_keeps_the_file_given_last() {
    let (last, today) = (fixture("diff/last.jsonl"), fixture("diff/today.jsonl"));
    // With no client profile, report leaves `compat` out: compare the records without it.
    let records = |path: &Path| -> Vec<Value> {
        records(path)
            .into_iter()
            .map(|mut r| {
                r.as_object_mut().expect("record").remove("compat");
                r
            })
            .collect()
    };
    let run = |inputs: &[&Path]| {
        let mut args = vec![
            "report",
            "--client-profile",
            "none",
            "--format",
            "jsonl",
            "-i",
        ];
        args.extend(inputs.iter().map(|p| path_str(p)));
        let out = support::rdpsweep(&args);
        assert_eq!(out.status.code(), Some(0), "{}", support::show(&out));
        out
    };
    let out = run(&[&last, &today]);
    let merged = support::jsonl(&out.stdout);
    // 7 + 7 records, 6 endpoints in both: last's 127.70.4.x, then all of today.
    assert_eq!(merged.len(), 8);
    assert_eq!(merged[0]["target"], "127.70.4.15");
    assert_eq!(
        &merged[1..],
        &records(&today)[..],
        "today's records, as they are"
    );
    let warnings: Vec<String> = stderr(&out)
        .lines()
        .filter(|l| l.starts_with("rdpsweep: warning: "))
        .map(str::to_owned)
        .collect();
    assert_eq!(warnings.len(), 6, "{}", support::show(&out));
    // The line of the shadow server's record in each file.
    let line_of = |path: &Path| {
        1 + records(path)
            .iter()
            .position(|r| r["ip"] == "127.70.0.15")
            .expect("the shadow server's record")
    };
    assert!(
        warnings.contains(&format!(
            "rdpsweep: warning: 127.70.0.15:3389 is in {}:{} and in {}:{}: kept the record from {}, the file given later",
            last.display(),
            line_of(&last),
            today.display(),
            line_of(&today),
            today.display()
        )),
        "{warnings:#?}"
    );
    // The other order keeps last week's records.
    let merged = support::jsonl(&run(&[&today, &last]).stdout);
    assert_eq!(merged.len(), 8);
    assert_eq!(&merged[1..], &records(&last)[..]);

    // One file named twice is read once.
    let again = fixture("diff/../diff/last.jsonl");
    let out = run(&[&last, &again]);
    assert_eq!(support::jsonl(&out.stdout), records(&last));
    assert!(
        stderr(&out).contains(&format!(
            "rdpsweep: warning: {} is the same file as {}: read once",
            again.display(),
            last.display()
        )),
        "{}",
        support::show(&out)
    );
}

#[test]
fn outputs_are_never_half_written_and_never_replace_an_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (last, today) = (fixture("diff/last.jsonl"), fixture("diff/today.jsonl"));
    // The last of three outputs cannot be put in place (a directory holds its name): exit 3,
    // no .partial file is left, and what was renamed before is complete.
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(out_dir.join("d.csv")).expect("mkdir");
    let o = |name: &str| path_str(&out_dir.join(name)).to_owned();
    let out = diff(
        &last,
        &today,
        &["-o", &o("d.json"), "-o", &o("d.txt"), "-o", &o("d.csv")],
    );
    assert_eq!(out.status.code(), Some(3), "{}", support::show(&out));
    assert!(
        stderr(&out).contains("cannot rename"),
        "{}",
        support::show(&out)
    );
    assert!(out.stdout.is_empty(), "{}", support::show(&out));
    let left = files_in(&out_dir);
    assert!(left.iter().all(|f| !f.ends_with(".partial")), "{left:?}");
    for name in left.iter().filter(|f| *f != "d.csv") {
        let text = std::fs::read_to_string(out_dir.join(name)).expect("read");
        assert!(text.contains("unchanged"), "{name} is complete: {text}");
    }

    // -o naming an input is refused before anything is written.
    let copy = dir.path().join("today.jsonl");
    std::fs::copy(&today, &copy).expect("copy");
    let out = diff(&last, &copy, &["-o", path_str(&copy)]);
    assert_eq!(out.status.code(), Some(2), "{}", support::show(&out));
    assert!(
        stderr(&out).contains("that is an input"),
        "{}",
        support::show(&out)
    );
    assert_eq!(
        std::fs::read(&copy).expect("read"),
        std::fs::read(&today).expect("read")
    );
}
