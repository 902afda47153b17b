//! One test per rule of `docs/diff.md`, on records of a real loopback scan
//! (`fixtures/report/loopback-mix.json`) changed the way a week of administration would.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::rules::{Context, compare_values};
use super::*;
use crate::analysis::findings::{Finding, Severity};
use crate::proto::tls::{CipherSuite, ProtocolVersion};
use crate::report::schema::{CompatCell, EmulatedCredssp, ErrorInfo, NtlmReport, Outcome, Stage};

const FIXTURE: &str = include_str!("../../../fixtures/report/loopback-mix.json");

/// The seven hosts of the saved real scan.
fn scan() -> Vec<HostReport> {
    let doc: Value = serde_json::from_str(FIXTURE).unwrap();
    serde_json::from_value(doc["hosts"].clone()).unwrap()
}

/// The fixture host on `127.70.N.x`: 0 shadow NLA (CredSSP 6, NTLM), 1 xrdp CA-signed TLS,
/// 2 xrdp TLS 1.0 only, 3 xrdp expired certificate, 4 xrdp Standard RDP Security, 5 HTTP
/// (`not_rdp`), 6 closed.
fn host(n: u8) -> HostReport {
    let prefix = format!("127.70.{n}.");
    scan()
        .into_iter()
        .find(|h| h.target.starts_with(&prefix))
        .unwrap()
}

/// The changes between two versions of one endpoint, as (path, direction).
fn changes(old: &HostReport, new: &HostReport) -> Vec<(String, Direction)> {
    full(old, new)
        .into_iter()
        .map(|c| (c.path, c.direction))
        .collect()
}

fn full(old: &HostReport, new: &HostReport) -> Vec<Change> {
    let d = diff(
        std::slice::from_ref(old),
        std::slice::from_ref(new),
        &DiffOptions::default(),
    );
    assert!(d.added.is_empty() && d.removed.is_empty(), "{d:#?}");
    d.changed.into_iter().flat_map(|e| e.changes).collect()
}

fn c(path: &str, d: Direction) -> (String, Direction) {
    (path.to_owned(), d)
}

use Direction::{Changed, Improved, Regressed};

fn finding(id: &str, severity: Severity) -> Finding {
    Finding::new(id, severity, format!("{id} message"))
}

#[test]
fn the_same_scan_has_no_differences() {
    let d = diff(&scan(), &scan(), &DiffOptions::default());
    assert!(d.is_empty(), "{d:#?}");
    assert_eq!(d.summary().unchanged, 7);
    assert_eq!(
        d.summary().count_line(),
        "0 added, 0 removed, 0 changed: 0 regressed, 0 improved, 0 changed; 7 unchanged"
    );
}

#[test]
fn volatile_fields_never_count() {
    let old = scan();
    let mut new = scan();
    for h in &mut new {
        h.elapsed_ms += 12_345;
        h.connections += 7;
        h.security.nla_reason = Some("another wording".into());
        h.security.probes.reverse();
        h.security.probes.pop();
        if let Some(e) = &mut h.error {
            e.message = "reworded error".into();
        }
        if let Some(t) = &mut h.tls {
            t.error = Some("handshake text drifted".into());
            if let Some(cert) = &mut t.certificate {
                cert.days_left -= 7;
            }
        }
        if let Some(cs) = &mut h.credssp {
            cs.note = Some("another note".into());
        }
        if let Some(n) = &mut h.ntlm {
            n.server_time = Some("2026-12-02T08:00:00Z".into());
            n.clock_skew_s = Some(-42);
            n.note = Some("odd".into());
        }
        h.compat.insert(
            "patched-mitigated".into(),
            CompatCell {
                outcome: Outcome::Ok,
                reason: None,
                remediation: None,
            },
        );
    }
    // The same clients on both sides, with a remediation that changed wording.
    let mut old = old;
    for (h, n) in old.iter_mut().zip(&new) {
        let mut cell = n.compat["patched-mitigated"].clone();
        cell.remediation = Some("old wording".into());
        h.compat.insert("patched-mitigated".into(), cell);
    }
    let d = diff(&old, &new, &DiffOptions::default());
    assert!(d.is_empty(), "{d:#?}");

    // Fields the schema does not have yet: by name (timing, notes, reasons) and schema_version.
    let mut o = serde_json::to_value(host(0)).unwrap();
    let mut n = o.clone();
    o["schema_version"] = json!(1);
    n["schema_version"] = json!(2);
    o["rdp_security"] = json!({"handshake_ms": 3, "note": "a", "fallback_reason": "x", "probe_time": "t1", "elapsed_total": 1});
    n["rdp_security"] = json!({"handshake_ms": 9, "note": "b", "fallback_reason": "y", "probe_time": "t2", "elapsed_total": 2});
    let clients = BTreeSet::new();
    let ctx = Context {
        ignore: &[],
        clients: &clients,
    };
    assert_eq!(compare_values(&o, &n, &ctx), vec![]);
}

#[test]
fn server_and_standard_rdp_security_rules() {
    let rdp_only = serde_json::to_value(host(4)).unwrap();
    assert_eq!(rdp_only["rdp_security"]["encryption_level"], json!("high"));
    let mut o = rdp_only.clone();
    o["server"]["evidence"] = json!(["one sentence"]);
    o["rdp_security"]["methods_enumerated"] = json!(true);
    let mut n = rdp_only.clone();
    n["server"]["implementation"] = json!("windows");
    n["server"]["evidence"] = json!(["another sentence"]);
    n["server"]["rdp_version"] = json!("RDP 10.7");
    n["server"]["rdp_version_raw"] = json!("0x00080011");
    n["rdp_security"]["encryption_level"] = json!("low");
    n["rdp_security"]["server_version"] = json!("RDP 10.7");
    n["rdp_security"]["encryption_methods"] = json!(["40bit"]);
    let clients = BTreeSet::new();
    let ctx = Context {
        ignore: &[],
        clients: &clients,
    };
    let got = compare_values(&o, &n, &ctx);
    let got: Vec<(&str, &Value, &Value, Direction)> = got
        .iter()
        .map(|c| (c.path.as_str(), &c.old, &c.new, c.direction))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "server.implementation",
                &json!("xrdp"),
                &json!("windows"),
                Changed
            ),
            (
                "server.rdp_version",
                &json!("RDP 5.0-8.1"),
                &json!("RDP 10.7"),
                Changed
            ),
            (
                "server.rdp_version_raw",
                &json!("0x00080004"),
                &json!("0x00080011"),
                Changed
            ),
            (
                "rdp_security.encryption_level",
                &json!("high"),
                &json!("low"),
                Regressed
            ),
            (
                "rdp_security.encryption_methods",
                &json!(["128bit"]),
                &json!(["40bit"]),
                Changed
            ),
        ],
        "evidence, the copied server version and how methods were probed are not compared"
    );
}

#[test]
fn matching_by_address_sorted_with_added_and_removed() {
    let old = scan();
    let mut new = scan();
    // 127.70.4.x (Standard RDP Security) was decommissioned; two endpoints appeared.
    new.retain(|h| !h.target.starts_with("127.70.4."));
    let mut v6 = host(0);
    v6.ip = Some("::1".parse().unwrap());
    v6.target = "::1".into();
    let mut ten = host(1);
    ten.ip = Some("127.70.10.1".parse().unwrap());
    ten.target = "127.70.10.1".into();
    let mut nine = host(1);
    nine.ip = Some("127.70.9.1".parse().unwrap());
    nine.target = "127.70.9.1".into();
    new.extend([v6, ten, nine]);
    let d = diff(&old, &new, &DiffOptions::default());
    let added: Vec<&str> = d.added.iter().map(|e| e.endpoint.as_str()).collect();
    // Numeric order (9 before 10), IPv4 before IPv6.
    assert_eq!(
        added,
        vec!["127.70.9.1:3389", "127.70.10.1:3389", "[::1]:3389"]
    );
    assert_eq!(d.removed.len(), 1);
    let removed = &d.removed[0];
    assert_eq!(removed.endpoint, "127.70.4.15:3389");
    assert_eq!(removed.nla, Some(NlaVerdict::NotSupported));
    assert_eq!(
        removed.summary(),
        "nla not_supported; findings: nla-not-required (medium), standard-rdp-security-allowed (medium)"
    );
    let shadow = d.added.last().unwrap();
    assert_eq!(
        shadow.summary(),
        "nla required; credssp v6 fixed; findings: cert-self-signed (medium), cert-untrusted (medium)"
    );
    assert!(d.changed.is_empty());
    let s = d.summary();
    assert_eq!((s.old_endpoints, s.new_endpoints, s.unchanged), (7, 9, 6));
}

#[test]
fn matching_by_target_follows_a_host_to_a_new_address() {
    let mut old = host(1);
    old.target = "Desk-7.example.".into();
    let mut new = old.clone();
    new.target = "desk-7.example".into();
    new.ip = Some("127.70.1.99".parse().unwrap());

    let by_ip = diff(
        std::slice::from_ref(&old),
        std::slice::from_ref(&new),
        &DiffOptions::default(),
    );
    assert_eq!((by_ip.added.len(), by_ip.removed.len()), (1, 1));

    let by_target = diff(
        &[old],
        &[new],
        &DiffOptions {
            match_by_target: true,
            ..DiffOptions::default()
        },
    );
    assert!(by_target.added.is_empty() && by_target.removed.is_empty());
    let got: Vec<(String, Direction)> = by_target.changed[0]
        .changes
        .iter()
        .map(|c| (c.path.clone(), c.direction))
        .collect();
    assert_eq!(got, vec![c("target", Changed), c("ip", Changed)]);
}

#[test]
fn unresolved_names_match_by_target_and_duplicates_keep_the_last() {
    let mut unresolved = HostReport::new("gone.example".into(), None, 3389);
    unresolved.error = Some(ErrorInfo {
        stage: Stage::Resolve,
        message: "no such host".into(),
    });
    let mut first = host(1);
    first.findings.clear();
    let second = host(1); // the same endpoint again: this record wins
    let d = diff(
        &[unresolved.clone(), host(1)],
        &[unresolved, first, second],
        &DiffOptions::default(),
    );
    assert!(d.is_empty(), "{d:#?}");
    assert_eq!((d.old_endpoints, d.new_endpoints), (2, 2));
}

#[test]
fn status_leaving_rdp() {
    let old = host(0);
    // Closed or filtered: decommissioned or firewalled. Only the status is listed: the vanished
    // findings are not fixes.
    for status in [Status::Closed, Status::Filtered] {
        let mut new = HostReport::new(old.target.clone(), old.ip, old.port);
        new.status = status;
        assert_eq!(changes(&old, &new), vec![c("status", Changed)]);
    }
    // Still answering, but no longer RDP (or broken): regressed, with the error stage.
    for status in [Status::NotRdp, Status::Error] {
        let mut new = HostReport::new(old.target.clone(), old.ip, old.port);
        new.status = status;
        new.error = Some(ErrorInfo {
            stage: Stage::Negotiate,
            message: "garbage".into(),
        });
        assert_eq!(
            changes(&old, &new),
            vec![c("status", Regressed), c("error.stage", Changed)]
        );
    }
}

#[test]
fn status_becoming_rdp_lists_the_new_findings() {
    let old = host(6); // closed
    let mut new = host(4); // Standard RDP Security only
    new.target = old.target.clone();
    new.ip = old.ip;
    new.port = old.port;
    assert_eq!(
        changes(&old, &new),
        vec![
            c("status", Changed),
            c("findings[nla-not-required]", Regressed),
            c("findings[standard-rdp-security-allowed]", Regressed),
        ]
    );
    // Between two non-RDP states everything is compared, and nothing is better or worse.
    let mut filtered = host(6);
    filtered.status = Status::Filtered;
    assert_eq!(changes(&host(6), &filtered), vec![c("status", Changed)]);
}

#[test]
fn nla_verdict_is_ordered_and_unknown_is_only_changed() {
    let base = host(0);
    let with = |nla| {
        let mut h = base.clone();
        h.security.nla = nla;
        h
    };
    use NlaVerdict::*;
    let cases = [
        (Required, Supported, Regressed),
        (Supported, NotSupported, Regressed),
        (Required, NotSupported, Regressed),
        (NotSupported, Required, Improved),
        (Supported, Required, Improved),
        (Unknown, Required, Changed),
        (Required, Unknown, Changed),
    ];
    for (a, b, dir) in cases {
        assert_eq!(
            changes(&with(a), &with(b)),
            vec![c("security.nla", dir)],
            "{a:?} -> {b:?}"
        );
    }
}

#[test]
fn credssp_version_and_oracle_fix() {
    let base = host(0);
    let with = |v: Option<u32>, fix| {
        let mut h = base.clone();
        let cs = h.credssp.as_mut().unwrap();
        cs.version = v;
        cs.cve_2018_0886 = fix;
        h
    };
    use OracleFix::*;
    assert_eq!(
        changes(&with(Some(3), Missing), &with(Some(6), Fixed)),
        vec![
            c("credssp.cve_2018_0886", Improved),
            c("credssp.version", Improved)
        ]
    );
    assert_eq!(
        changes(&with(Some(6), Fixed), &with(Some(2), Missing)),
        vec![
            c("credssp.cve_2018_0886", Regressed),
            c("credssp.version", Regressed)
        ]
    );
    assert_eq!(
        changes(&with(Some(5), Fixed), &with(Some(6), Fixed)),
        vec![c("credssp.version", Improved)]
    );
    // Not observed this time: not a regression.
    assert_eq!(
        changes(&with(Some(6), Fixed), &with(None, Unknown)),
        vec![
            c("credssp.cve_2018_0886", Changed),
            c("credssp.version", Changed)
        ]
    );
}

#[test]
fn credssp_error_name_only_with_its_code_and_emulated_legs_by_client_version() {
    let base = host(0);
    let mut renamed = base.clone();
    renamed.credssp.as_mut().unwrap().error_name = Some("STATUS_NEW_NAME".into());
    assert_eq!(changes(&base, &renamed), vec![]);

    let mut coded = base.clone();
    let cs = coded.credssp.as_mut().unwrap();
    cs.error_code = Some("0xC000006D".into());
    cs.error_name = Some("STATUS_LOGON_FAILURE".into());
    assert_eq!(
        changes(&base, &coded),
        vec![
            c("credssp.error_code", Changed),
            c("credssp.error_name", Changed)
        ]
    );

    let leg = |client_version, server_version: Option<u32>, note: &str| EmulatedCredssp {
        client_version,
        server_version,
        error_code: None,
        note: Some(note.into()),
    };
    let mut old = base.clone();
    old.credssp.as_mut().unwrap().emulated = vec![leg(2, Some(6), "a"), leg(6, Some(6), "b")];
    let mut new = base.clone();
    new.credssp.as_mut().unwrap().emulated = vec![leg(2, None, "c"), leg(6, Some(6), "d")];
    assert_eq!(
        changes(&old, &new),
        vec![c("credssp.emulated[2].server_version", Changed)]
    );
}

#[test]
fn accepted_protocols() {
    let base = host(0); // rdp false, tls false, credssp true
    let with = |f: fn(&mut HostReport)| {
        let mut h = base.clone();
        f(&mut h);
        h
    };
    let rdp = with(|h| h.security.protocols.rdp = Some(true));
    assert_eq!(
        changes(&base, &rdp),
        vec![c("security.protocols.rdp", Regressed)]
    );
    assert_eq!(
        changes(&rdp, &base),
        vec![c("security.protocols.rdp", Improved)]
    );
    let tls = with(|h| h.security.protocols.tls = Some(true));
    assert_eq!(
        changes(&base, &tls),
        vec![c("security.protocols.tls", Regressed)]
    );
    let no_credssp = with(|h| h.security.protocols.credssp = Some(false));
    assert_eq!(
        changes(&base, &no_credssp),
        vec![c("security.protocols.credssp", Regressed)]
    );
    let early = with(|h| h.security.protocols.credssp_early_auth = Some(true));
    assert_eq!(
        changes(&base, &early),
        vec![c("security.protocols.credssp_early_auth", Improved)]
    );
    // Not probed on one side, or a layer that is neither weaker nor stronger.
    let unprobed = with(|h| h.security.protocols.rdp = None);
    assert_eq!(
        changes(&base, &unprobed),
        vec![c("security.protocols.rdp", Changed)]
    );
    let rdstls = with(|h| h.security.protocols.rdstls = Some(true));
    let rdstls_off = with(|h| h.security.protocols.rdstls = Some(false));
    assert_eq!(
        changes(&rdstls_off, &rdstls),
        vec![c("security.protocols.rdstls", Changed)]
    );
}

#[test]
fn tls_versions_by_deprecation() {
    let shadow = host(0);
    let with = |versions: &[&str], probed: &[&str]| {
        let mut h = shadow.clone();
        let t = h.tls.as_mut().unwrap();
        let parse = |v: &[&str]| v.iter().filter_map(|s| ProtocolVersion::parse(s)).collect();
        t.versions = parse(versions);
        t.versions_probed = parse(probed);
        h
    };
    let all = ["1.0", "1.1", "1.2", "1.3"];
    // Accepts 1.3; 1.0 and 1.1 refused; 1.2 undecided (`--tls-versions quick`).
    let base = with(&["1.3"], &["1.0", "1.1", "1.3"]);
    let modern = with(&["1.2", "1.3"], &all);
    let legacy = with(&["1.0", "1.1", "1.2"], &all);
    assert_eq!(
        changes(&modern, &legacy),
        vec![
            c("tls.versions[1.0]", Regressed),
            c("tls.versions[1.1]", Regressed),
            c("tls.versions[1.3]", Regressed),
        ]
    );
    assert_eq!(
        changes(&legacy, &modern),
        vec![
            c("tls.versions[1.0]", Improved),
            c("tls.versions[1.1]", Improved),
            c("tls.versions[1.3]", Improved),
        ]
    );
    let values = full(&modern, &legacy);
    assert_eq!(
        (&values[0].old, &values[0].new),
        (&json!("refused"), &json!("accepted"))
    );
    // 1.2 is neither: its loss is a change (compat cells say who breaks).
    let only13 = with(&["1.3"], &all);
    assert_eq!(
        changes(&modern, &only13),
        vec![c("tls.versions[1.2]", Changed)]
    );
    // A version decided on one side only is a change; refused <-> undecided is nothing.
    assert_eq!(
        changes(&base, &modern),
        vec![c("tls.versions[1.2]", Changed)]
    );
    let undecided = with(&["1.3"], &["1.3"]);
    assert_eq!(changes(&base, &undecided), vec![]);
}

#[test]
fn negotiated_tls_version_is_ordered() {
    let base = host(0);
    let mut old = base.clone();
    old.tls.as_mut().unwrap().version = Some(ProtocolVersion::TLS1_0);
    assert_eq!(changes(&base, &old), vec![c("tls.version", Regressed)]);
    assert_eq!(changes(&old, &base), vec![c("tls.version", Improved)]);
    let mut odd = base.clone();
    odd.tls.as_mut().unwrap().version = Some(ProtocolVersion(0x0305));
    assert_eq!(changes(&base, &odd), vec![c("tls.version", Changed)]);
}

#[test]
fn a_replaced_certificate_is_one_identity_change() {
    let old = host(2); // self-signed xrdp-test
    let mut new = old.clone();
    let cert = new.tls.as_mut().unwrap().certificate.as_mut().unwrap();
    cert.sha256 = "AA:BB".into();
    cert.sha1 = "AABB".into();
    cert.serial = "01:02".into();
    cert.not_before = "2027-11-01T00:00:00Z".into();
    cert.not_after = "2028-11-01T00:00:00Z".into();
    cert.days_left = 700;
    assert_eq!(
        changes(&old, &new),
        vec![
            c("tls.certificate.not_after", Changed),
            c("tls.certificate.sha256", Changed),
        ]
    );
    // A certificate where there was none: its descriptive fields, not its other identities.
    let mut bare = old.clone();
    bare.tls.as_mut().unwrap().certificate = None;
    let got = changes(&bare, &old);
    assert!(
        got.contains(&c("tls.certificate.sha256", Changed)),
        "{got:?}"
    );
    assert!(
        got.contains(&c("tls.certificate.subject", Changed)),
        "{got:?}"
    );
    assert!(
        !got.iter()
            .any(|(p, _)| p.ends_with(".sha1") || p.ends_with(".serial"))
    );
}

#[test]
fn trust_verdicts() {
    let base = host(1); // platform untrusted, ca_file trusted, name trusted
    let with = |f: fn(&mut TrustReportMut)| {
        let mut h = base.clone();
        f(h.tls.as_mut().unwrap().trust.as_mut().unwrap());
        h
    };
    type TrustReportMut = crate::report::schema::TrustReport;
    let lost = with(|t| t.ca_file = Some("untrusted: expired".into()));
    assert_eq!(
        changes(&base, &lost),
        vec![c("tls.trust.ca_file", Regressed)]
    );
    assert_eq!(
        changes(&lost, &base),
        vec![c("tls.trust.ca_file", Improved)]
    );
    let name = with(|t| t.name = Some("untrusted: name mismatch: x".into()));
    assert_eq!(changes(&base, &name), vec![c("tls.trust.name", Regressed)]);
    let other_reason = with(|t| t.platform = Some("untrusted: expired".into()));
    assert_eq!(
        changes(&base, &other_reason),
        vec![c("tls.trust.platform", Changed)]
    );
    let unchecked = with(|t| t.ca_file = None);
    assert_eq!(
        changes(&base, &unchecked),
        vec![c("tls.trust.ca_file", Changed)]
    );
}

#[test]
fn findings_as_a_set_keyed_by_id() {
    let base = host(3); // nla-not-required, standard-rdp-security-allowed, cert-expired (high), ...
    let mut new = base.clone();
    new.findings
        .retain(|f| f.id != "standard-rdp-security-allowed");
    new.findings
        .push(finding("cert-expiring-soon", Severity::Medium));
    new.findings
        .push(finding("informational-fact", Severity::Info));
    for f in &mut new.findings {
        if f.id == "nla-not-required" {
            f.message = "a reworded message".into();
        }
        if f.id == "cert-self-signed" {
            f.severity = Severity::High;
        }
        if f.id == "cert-expired" {
            f.severity = Severity::Low;
        }
    }
    let got = full(&base, &new);
    let got: Vec<(&str, &Value, &Value, Direction)> = got
        .iter()
        .map(|c| (c.path.as_str(), &c.old, &c.new, c.direction))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "findings[cert-expired]",
                &json!("high"),
                &json!("low"),
                Improved
            ),
            (
                "findings[cert-expiring-soon]",
                &Value::Null,
                &json!("medium"),
                Regressed
            ),
            (
                "findings[cert-self-signed]",
                &json!("medium"),
                &json!("high"),
                Regressed
            ),
            (
                "findings[informational-fact]",
                &Value::Null,
                &json!("info"),
                Changed
            ),
            (
                "findings[standard-rdp-security-allowed]",
                &json!("medium"),
                &Value::Null,
                Improved
            ),
        ]
    );
    // The same id twice (cert-name-mismatch for the target and for the NTLM name) counts once,
    // at its highest severity.
    let mut twice = base.clone();
    twice
        .findings
        .push(finding("cert-name-mismatch", Severity::Medium));
    let mut thrice = twice.clone();
    thrice
        .findings
        .push(finding("cert-name-mismatch", Severity::Medium));
    assert_eq!(changes(&twice, &thrice), vec![]);
}

#[test]
fn compat_cells_per_client() {
    let cell = |outcome, reason: Option<&str>| CompatCell {
        outcome,
        reason: reason.map(str::to_owned),
        remediation: Some(format!("fix for {outcome:?}")),
    };
    let with = |cells: &[(&str, CompatCell)]| {
        let mut h = host(0);
        for (k, v) in cells {
            h.compat.insert((*k).into(), v.clone());
        }
        h
    };
    use Outcome::*;
    let cases = [
        (
            cell(Ok, None),
            cell(Blocked, Some("credssp-oracle")),
            Regressed,
        ),
        (cell(Ok, None), cell(Warn, Some("cert-warning")), Regressed),
        (
            cell(Warn, Some("cert-warning")),
            cell(Exposed, Some("credssp-oracle")),
            Regressed,
        ),
        (
            cell(Exposed, Some("credssp-oracle")),
            cell(Depends, Some("credssp-oracle")),
            Regressed,
        ),
        (
            cell(Blocked, Some("nla-required")),
            cell(Warn, Some("cert-warning")),
            Improved,
        ),
        (
            cell(Blocked, Some("nla-required")),
            cell(Blocked, Some("tls-version")),
            Changed,
        ),
        (
            cell(Unknown, Some("credssp-not-observed")),
            cell(Ok, None),
            Changed,
        ),
        (
            cell(Blocked, Some("tls-version")),
            cell(Unknown, Some("tls-not-observed")),
            Changed,
        ),
    ];
    for (a, b, dir) in cases {
        let got = full(&with(&[("c1", a.clone())]), &with(&[("c1", b.clone())]));
        assert_eq!(got.len(), 1, "{a:?} -> {b:?}: {got:?}");
        assert_eq!(
            (got[0].path.as_str(), got[0].direction),
            ("compat[c1].outcome", dir)
        );
    }
    let got = full(
        &with(&[("c1", cell(Blocked, Some("credssp-oracle")))]),
        &with(&[("c1", cell(Ok, None))]),
    );
    assert_eq!(
        (&got[0].old, &got[0].new),
        (&json!("blocked:credssp-oracle"), &json!("ok"))
    );
    // Only the remediation text changed: nothing.
    let mut reworded = cell(Ok, None);
    reworded.remediation = Some("other words".into());
    assert_eq!(
        changes(&with(&[("c1", cell(Ok, None))]), &with(&[("c1", reworded)])),
        vec![]
    );
    // A client evaluated in only one scan is not compared, and is named.
    let d = diff(
        &[with(&[
            ("c1", cell(Ok, None)),
            ("old-only", cell(Ok, None)),
        ])],
        &[with(&[
            ("c1", cell(Ok, None)),
            ("new-only", cell(Blocked, None)),
        ])],
        &DiffOptions::default(),
    );
    assert!(d.is_empty(), "{d:#?}");
    assert_eq!(d.clients_not_compared, vec!["new-only", "old-only"]);
}

#[test]
fn ntlm_identity() {
    let base = host(0);
    let with = |f: fn(&mut NtlmReport)| {
        let mut h = base.clone();
        f(h.ntlm.as_mut().unwrap());
        h
    };
    let renamed = with(|n| {
        n.dns_computer = Some("vm2".into());
        n.nb_computer = Some("VM2".into());
    });
    assert_eq!(
        changes(&base, &renamed),
        vec![
            c("ntlm.dns_computer", Changed),
            c("ntlm.nb_computer", Changed)
        ]
    );
    // An upgrade shows with its release name; the build alone is only a change (the posture it
    // brings shows in credssp and in os-end-of-support).
    let upgraded = with(|n| {
        n.os_build = Some(17763);
        n.os_version = Some("10.0.17763".into());
        n.os_name = Some("Windows 10 1809 / Server 2019".into());
    });
    assert_eq!(
        changes(&base, &upgraded),
        vec![
            c("ntlm.os_build", Changed),
            c("ntlm.os_name", Changed),
            c("ntlm.os_version", Changed)
        ]
    );
    // rdpsweep's release table learnt a new name: not a change of the host.
    let table = with(|n| n.os_name = Some("Windows 7 SP1 (renamed)".into()));
    assert_eq!(changes(&base, &table), vec![]);
    // NTLM answered where it did not: its fields appear as changes.
    let mut none = base.clone();
    none.ntlm = None;
    assert!(changes(&none, &base).contains(&c("ntlm.dns_computer", Changed)));
}

#[test]
fn the_default_rule_for_known_fields_without_a_rule() {
    let base = host(0);
    let mut new = base.clone();
    new.security.selected = Some("credssp_early_auth".into());
    new.security
        .negotiation_flags
        .push("restricted_admin".into());
    new.tls.as_mut().unwrap().cipher = CipherSuite::from_name("TLS_AES_128_GCM_SHA256");
    assert_eq!(
        changes(&base, &new),
        vec![
            c("security.negotiation_flags", Changed),
            c("security.selected", Changed),
            c("tls.cipher", Changed),
        ]
    );
}

#[test]
fn ignored_paths() {
    let base = host(0);
    let mut new = base.clone();
    new.security.nla = NlaVerdict::Supported;
    new.ntlm.as_mut().unwrap().dns_tree = Some("forest".into());
    new.compat.insert(
        "c1".into(),
        CompatCell {
            outcome: Outcome::Ok,
            reason: None,
            remediation: None,
        },
    );
    let mut old = base.clone();
    old.compat.insert(
        "c1".into(),
        CompatCell {
            outcome: Outcome::Blocked,
            reason: None,
            remediation: None,
        },
    );
    let opts = |ignore: &[&str]| DiffOptions {
        match_by_target: false,
        ignore: ignore.iter().map(|s| s.to_string()).collect(),
    };
    let paths = |ignore: &[&str]| -> Vec<String> {
        diff(
            std::slice::from_ref(&old),
            std::slice::from_ref(&new),
            &opts(ignore),
        )
        .changed
        .into_iter()
        .flat_map(|e| e.changes)
        .map(|c| c.path)
        .collect()
    };
    assert_eq!(
        paths(&[]),
        vec!["security.nla", "ntlm.dns_tree", "compat[c1].outcome"]
    );
    assert_eq!(paths(&["ntlm", "compat[*].outcome"]), vec!["security.nla"]);
    assert_eq!(paths(&["compat[c1]", "security"]), vec!["ntlm.dns_tree"]);
    // A prefix of a name is not a prefix of the path.
    assert_eq!(paths(&["ntl", "security.nl"]).len(), 3);
}

#[test]
fn endpoint_direction_is_the_worst_and_the_summary_counts_endpoints() {
    let old = scan();
    let mut new = scan();
    for h in &mut new {
        match h.target.as_str() {
            // improved and regressed at once: regressed
            t if t.starts_with("127.70.0.") => {
                h.security.protocols.rdp = Some(true);
                h.findings.retain(|f| f.id != "cert-self-signed");
            }
            // improved only
            t if t.starts_with("127.70.2.") => h.findings.clear(),
            // changed only
            t if t.starts_with("127.70.1.") => h.tls.as_mut().unwrap().cipher = None,
            _ => {}
        }
    }
    let d = diff(&old, &new, &DiffOptions::default());
    let dirs: Vec<(&str, Direction)> = d
        .changed
        .iter()
        .map(|e| (e.endpoint.as_str(), e.direction))
        .collect();
    assert_eq!(
        dirs,
        vec![
            ("127.70.0.15:3389", Regressed),
            ("127.70.1.15:3389", Changed),
            ("127.70.2.15:3389", Improved),
        ]
    );
    let s = d.summary();
    assert_eq!(
        (
            s.endpoints.regressed,
            s.endpoints.improved,
            s.endpoints.changed
        ),
        (1, 1, 1)
    );
    assert_eq!(
        (s.changes.regressed, s.changes.improved, s.changes.changed),
        (1, 5, 1)
    );
    assert_eq!(
        s.count_line(),
        "0 added, 0 removed, 3 changed: 1 regressed, 1 improved, 1 changed; 4 unchanged"
    );
}

#[test]
fn fail_on_conditions() {
    let old = scan();
    let mut new = scan();
    // The HTTP listener (not_rdp) and the closed port left the target list.
    new.retain(|h| !h.target.starts_with("127.70.5.") && !h.target.starts_with("127.70.6."));
    for h in &mut new {
        if h.target.starts_with("127.70.0.") {
            h.security.nla = NlaVerdict::Supported;
        }
        if h.target.starts_with("127.70.1.") {
            let cert = h.tls.as_mut().unwrap().certificate.as_mut().unwrap();
            cert.issuer = "x\x1b[2J".into();
        }
    }
    let d = diff(&old, &new, &DiffOptions::default());
    use DiffFailOn as F;
    assert_eq!(reached(&d, &[]), Vec::<String>::new());
    assert_eq!(reached(&d, &[F::Added]), Vec::<String>::new());
    assert_eq!(
        reached(&d, &[F::Regressed, F::Regressed]),
        vec!["regressed: 127.70.0.15:3389: security.nla: required → supported"]
    );
    assert_eq!(
        reached(&d, &[F::Removed, F::Changed]),
        vec![
            "removed: 127.70.5.15:3389 (not_rdp)",
            "changed: 127.70.0.15:3389: security.nla: required → supported",
            "changed: 127.70.1.15:3389: tls.certificate.issuer: CN=rdpsweep test CA → x\\x1b[2J",
        ]
    );

    // Many endpoints: the first few, then a count; closed ones do not count.
    let many: Vec<HostReport> = (1..=10)
        .map(|i| {
            let mut h = if i <= 8 { host(1) } else { host(6) };
            h.ip = Some(format!("127.70.20.{i}").parse().unwrap());
            h
        })
        .collect();
    let d = diff(&[], &many, &DiffOptions::default());
    let got = reached(&d, &[F::Added]);
    assert_eq!(got.len(), MAX_REASONS + 1);
    assert_eq!(got[0], "added: 127.70.20.1:3389 (rdp)");
    assert_eq!(got[MAX_REASONS], "added: ... and 3 more endpoints");
}

#[test]
fn closed_or_filtered_endpoints_in_one_scan_are_counted_not_listed() {
    let mut closed = host(6);
    let mut filtered = host(6);
    filtered.ip = Some("127.70.6.16".parse().unwrap());
    filtered.status = Status::Filtered;
    let added = vec![closed.clone(), filtered, host(1)];
    closed.ip = Some("127.70.6.99".parse().unwrap());
    let d = diff(&[closed], &added, &DiffOptions::default());
    assert_eq!((d.added.len(), d.removed.len()), (3, 1));
    assert_eq!(
        reached(&d, &[DiffFailOn::Added, DiffFailOn::Removed]),
        vec!["added: 127.70.1.15:3389 (rdp)"]
    );
    let mut table = Vec::new();
    write_table(&mut table, &d).unwrap();
    let table = String::from_utf8(table).unwrap();
    assert_eq!(
        table,
        "Added: 3 endpoints (2 closed or filtered, not listed)\n\
         \x20 127.70.1.15:3389  rdp  nla not_supported; findings: nla-not-required (medium)\n\
         \n\
         Removed: 1 endpoint (1 closed or filtered, not listed)\n\
         \n\
         3 added (2 closed or filtered), 1 removed (1 closed or filtered), 0 changed: \
         0 regressed, 0 improved, 0 changed; 0 unchanged\n"
    );
}

#[test]
fn an_endpoint_with_several_changes_names_the_first_worst_one() {
    let old = host(0);
    let mut new = old.clone();
    new.tls.as_mut().unwrap().cipher = CipherSuite::from_name("TLS_AES_128_GCM_SHA256");
    new.findings.push(finding("clock-skew", Severity::Low));
    let d = diff(&[old], &[new], &DiffOptions::default());
    assert_eq!(
        reached(&d, &[DiffFailOn::Regressed]),
        vec!["regressed: 127.70.0.15:3389: findings[clock-skew]: none → low (+1 more)"]
    );
}
