//! `rdpsweep scan` against every real server variant of the harness: the security section must
//! match the measured ground truth (`tests/support/mod.rs`), and a closed port and an HTTP
//! server must be reported as `closed` and `not_rdp`.

mod support;

use serde_json::{Value, json};
use support::x224::{PROTOCOL_HYBRID, PROTOCOL_HYBRID_EX, PROTOCOL_RDP, PROTOCOL_SSL};
use support::*;

/// This binary's loopback tag (see `support::net::loopback`).
const TAG: u8 = 11;

/// What the scanner must report for one variant (`security.*`).
struct Expected {
    nla: &'static str,
    rdp: Option<bool>,
    tls: Option<bool>,
    credssp: Option<bool>,
    credssp_early_auth: Option<bool>,
    /// Selected for the mstsc-like request (SSL|HYBRID|HYBRID_EX); `None` after a failure.
    selected: Option<&'static str>,
}

/// The verdicts that follow from the ground truth of each variant. Early-auth is `false`
/// wherever a server answered a request offering HYBRID_EX without selecting it.
fn expected(variant: Variant) -> Expected {
    let e = |nla, rdp, tls, credssp, selected| Expected {
        nla,
        rdp: Some(rdp),
        tls: Some(tls),
        credssp: Some(credssp),
        credssp_early_auth: Some(false),
        selected,
    };
    match variant {
        // RDP->RDP, SSL->TLS, mstsc->TLS.
        Variant::XrdpNegotiate => e("not_supported", true, true, false, Some("tls")),
        // RDP->F1, SSL->TLS, mstsc->TLS.
        Variant::XrdpTls => e("not_supported", false, true, false, Some("tls")),
        // Everything selects RDP (no SSL_NOT_ALLOWED_BY_SERVER).
        Variant::XrdpRdp => e("not_supported", true, false, false, Some("rdp")),
        // RDP->F5, SSL->F5, mstsc->HYBRID.
        Variant::ShadowNla => e("required", false, false, true, Some("credssp")),
        // RDP->RDP, SSL->TLS, mstsc->HYBRID.
        Variant::ShadowAll => e("supported", true, true, true, Some("credssp")),
        // RDP->F1, SSL->TLS, mstsc->TLS.
        Variant::ShadowTls => e("not_supported", false, true, false, Some("tls")),
        // RDP->RDP, SSL->F2, mstsc->F2.
        Variant::ShadowRdp => e("not_supported", true, false, false, None),
        // RDP->RDP, SSL->TLS, mstsc->TLS.
        Variant::ShadowDefault => e("not_supported", true, true, false, Some("tls")),
    }
}

/// requestedProtocols from the names in `security.probes[].requested`.
fn requested_bits(names: &Value) -> Option<u32> {
    let mut bits = 0;
    for name in names.as_array()? {
        bits |= match name.as_str()? {
            "rdp" => PROTOCOL_RDP,
            "tls" => PROTOCOL_SSL,
            "credssp" => PROTOCOL_HYBRID,
            "credssp_early_auth" => PROTOCOL_HYBRID_EX,
            _ => return None,
        };
    }
    Some(bits)
}

/// Every difference between the record and the ground truth of `variant`.
fn check_variant(variant: Variant, record: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    let check = |diffs: &mut Vec<String>, what: &str, got: &Value, want: Value| {
        if *got != want {
            diffs.push(format!("{what}: expected {want}, got {got}"));
        }
    };
    let want = expected(variant);
    let sec = &record["security"];
    check(&mut diffs, "status", &record["status"], json!("rdp"));
    check(&mut diffs, "error", &record["error"], Value::Null);
    check(&mut diffs, "security.nla", &sec["nla"], json!(want.nla));
    check(
        &mut diffs,
        "security.protocols.rdp",
        &sec["protocols"]["rdp"],
        json!(want.rdp),
    );
    check(
        &mut diffs,
        "security.protocols.tls",
        &sec["protocols"]["tls"],
        json!(want.tls),
    );
    check(
        &mut diffs,
        "security.protocols.credssp",
        &sec["protocols"]["credssp"],
        json!(want.credssp),
    );
    check(
        &mut diffs,
        "security.protocols.credssp_early_auth",
        &sec["protocols"]["credssp_early_auth"],
        json!(want.credssp_early_auth),
    );
    check(
        &mut diffs,
        "security.selected",
        &sec["selected"],
        json!(want.selected),
    );

    // Each probe's raw result must be the ground-truth answer to the same request. The
    // RDP-only request is not sent once the TLS-only one was refused with
    // HYBRID_REQUIRED_BY_SERVER (docs/connection-plan.md).
    let probes = sec["probes"].as_array().cloned().unwrap_or_default();
    let tls_truth = variant.expected()[1];
    let want_probes = if tls_truth == (Confirm::Failure { code: 5 }) {
        2
    } else {
        3
    };
    if probes.len() != want_probes {
        diffs.push(format!(
            "security.probes: expected {want_probes} (mstsc, tls{}), got {}",
            if want_probes == 3 { ", rdp" } else { "" },
            probes.len()
        ));
    }
    for probe in &probes {
        let Some(bits) = requested_bits(&probe["requested"]) else {
            diffs.push(format!(
                "security.probes: unknown request {}",
                probe["requested"]
            ));
            continue;
        };
        let Some(i) = REQUESTS.iter().position(|r| *r == bits) else {
            diffs.push(format!(
                "security.probes: request 0x{bits:x} is not in the ground truth"
            ));
            continue;
        };
        let truth = variant.expected()[i];
        check(
            &mut diffs,
            &format!("security.probes[0x{bits:x}].result"),
            &probe["result"],
            json!(truth.label()),
        );
        if bits == REQUESTS[3] {
            let flags = match truth {
                Confirm::Selected { flags: 0x01, .. } => json!(["extended_client_data"]),
                Confirm::Selected { flags: 0x03, .. } => json!(["extended_client_data", "gfx"]),
                _ => json!([]),
            };
            check(
                &mut diffs,
                "security.negotiation_flags",
                &sec["negotiation_flags"],
                flags,
            );
        }
    }
    diffs
}

/// All variants at once (one server each, started in parallel), scanned by ONE rdpsweep run,
/// so the scanner's concurrency is exercised too (it opens one connection at a time per
/// endpoint, which keeps xrdp within its listen backlog of 2).
#[test]
fn scan_reports_every_variant_as_measured() {
    let servers = start_all(&Variant::ALL, TAG);
    let mut args: Vec<String> = vec!["--timeout".into(), "10s".into()];
    args.extend(servers.iter().map(Server::target));
    let (output, records) = scan_jsonl(&args);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert_eq!(
        records.len(),
        servers.len(),
        "one record per target expected\n{}",
        show(&output)
    );

    let mut failures = Vec::new();
    for (variant, server) in Variant::ALL.iter().zip(&servers) {
        let addr = server.addr();
        let found = records
            .iter()
            .find(|r| r["ip"] == json!(addr.ip().to_string()) && r["port"] == json!(addr.port()));
        let Some(record) = found else {
            failures.push(format!("{} ({addr}): no record\n", variant.name()));
            continue;
        };
        let diffs = check_variant(*variant, record);
        if !diffs.is_empty() {
            failures.push(format!(
                "{} ({addr}):\n  {}\nrecord: {}\n{}",
                variant.name(),
                diffs.join("\n  "),
                serde_json::to_string_pretty(record).unwrap_or_default(),
                server.log_tail()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "the scanner disagrees with the ground truth:\n{}",
        failures.join("\n")
    );
}

#[test]
fn closed_port_and_http_server() {
    let closed = closed_port(TAG);
    let http = FakeListener::http_400(TAG);
    let (output, records) = scan_jsonl(["--timeout", "10s", &closed.to_string(), &http.target()]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let record = |addr: std::net::SocketAddrV4| {
        records
            .iter()
            .find(|r| r["ip"] == json!(addr.ip().to_string()) && r["port"] == json!(addr.port()))
            .unwrap_or_else(|| panic!("no record for {addr}\n{}", show(&output)))
    };

    let r = record(closed);
    assert_eq!(r["status"], json!("closed"), "{r:#}");
    assert_eq!(r["security"]["nla"], json!("unknown"), "{r:#}");
    assert_eq!(r["security"]["selected"], Value::Null, "{r:#}");

    let r = record(http.addr());
    assert_eq!(r["status"], json!("not_rdp"), "{r:#}");
    assert_eq!(r["security"]["selected"], Value::Null, "{r:#}");
    assert!(
        http.accepted() >= 1,
        "the scanner never connected to the HTTP listener"
    );
}
