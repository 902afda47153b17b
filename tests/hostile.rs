//! Hostile and broken servers: nothing hangs, nothing crashes, nothing is lost.
//!
//! Every misbehaving listener of the "fleet" runs at once on 127.0.0.1 (ephemeral ports, in
//! this process), next to a well-behaved RDP listener and a closed port, and ONE run of the
//! real binary scans them all together (`--format jsonl --timeout 3s --connect-timeout 1s`,
//! plus CSV, JSON and table files). Each test below then checks one behaviour in that shared
//! result: the endpoint ends as `error` or `not_rdp` with the stage and a clear reason within
//! its per-host budget, while the well-behaved neighbour is still `rdp` and the closed port
//! `closed`. A second fleet (`stage_fleet`) does the same for servers that negotiate
//! correctly and then misbehave in TLS (`hostile/stages.rs`: hand-made records) or CredSSP
//! (a real OpenSSL TLS session carrying hand-made DER and NTLM); such an endpoint stays
//! `rdp` and the failed stage is recorded in `tls.error` / `credssp.note`. Further tests run
//! their own scans: Ctrl-C (no data loss), `--resume`, a low open-file limit, and the memory
//! cap of one probe (measured with a counting allocator).
//!
//! NETWORK SAFETY: only 127.0.0.0/8 is ever bound or scanned.

#[path = "hostile/alloc.rs"]
mod alloc;
#[path = "hostile/servers.rs"]
mod servers;
#[path = "hostile/stages.rs"]
mod stages;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdpsweep::report::HostReport;
use rdpsweep::report::schema::{ErrorInfo, NtlmReport, Stage, Status};
use servers::{Behaviour, confirm, failure};
use stages::{CredsspMisbehaviour as Cs, Stage as St, TlsMisbehaviour as Tm};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// `--timeout` of the fleet scan, and the slack allowed on top of it per endpoint.
const HOST_TIMEOUT: Duration = Duration::from_secs(3);
const SLACK: Duration = Duration::from_millis(700);

/// A string a hostile server would love to see evaluated by a spreadsheet.
const FORMULA: &str = "=cmd|' /C calc'!A0";

fn rdpsweep() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rdpsweep"))
}

/// A loopback port that refuses connections (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    l.local_addr().expect("local address").port()
}

/// Parses JSONL host records, failing on any line that is not one.
fn parse_jsonl(text: &str) -> Vec<HostReport> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSONL line {l:?}: {e}")))
        .collect()
}

fn the_fleet() -> Vec<(&'static str, Behaviour)> {
    let mut garbage_after_header = vec![0x03, 0x00, 0x02, 0x00];
    garbage_after_header.extend(std::iter::repeat_n(0x5a, 508));
    vec![
        ("good_rdp", Behaviour::GoodRdp),
        ("silent", Behaviour::Silent),
        ("slowloris", Behaviour::Slowloris),
        ("close_on_accept", Behaviour::CloseOnAccept),
        ("reset_mid_x224", Behaviour::ResetMidConfirm(7)),
        (
            "tpkt_len_0",
            Behaviour::Reply(b"\x03\x00\x00\x00\x0e\xd0\x00\x00\x12\x34\x00".to_vec()),
        ),
        (
            "tpkt_len_3",
            Behaviour::Reply(b"\x03\x00\x00\x03\x0e\xd0\x00\x00\x12\x34\x00".to_vec()),
        ),
        ("tpkt_len_65535", Behaviour::Reply(tpkt_len(0xffff))),
        ("tpkt_longer_then_silent", Behaviour::Reply(tpkt_len(64))),
        (
            "tpkt_longer_then_close",
            Behaviour::ReplyThenClose(tpkt_len(64)),
        ),
        (
            "tpkt_512_of_garbage",
            Behaviour::Reply(garbage_after_header),
        ),
        ("x224_type_cr", Behaviour::Reply(with_byte(5, 0xe0))),
        ("x224_type_dt", Behaviour::Reply(with_byte(5, 0xf0))),
        ("x224_type_dr", Behaviour::Reply(with_byte(5, 0x80))),
        ("x224_li_too_long", Behaviour::Reply(with_byte(4, 0x40))),
        ("neg_type_unknown", Behaviour::Reply(with_byte(11, 0x07))),
        ("neg_length_16", Behaviour::Reply(with_byte(13, 0x10))),
        ("neg_length_4", Behaviour::Reply(with_byte(13, 0x04))),
        ("neg_failure_code_unknown", Behaviour::Reply(failure(0x99))),
        (
            "neg_selected_unknown",
            Behaviour::Reply(confirm(0xe0, 0x40)),
        ),
        (
            "http",
            Behaviour::ReplyThenClose(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            ),
        ),
        (
            "ssh",
            Behaviour::Banner {
                banner: b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec(),
                answer: b"Invalid SSH identification string.\r\n".to_vec(),
            },
        ),
        (
            "formula_banner",
            Behaviour::Banner {
                banner: format!("{FORMULA}\r\n").into_bytes(),
                answer: Vec::new(),
            },
        ),
        (
            // Clear screen, BEL, invalid UTF-8, a right-to-left override, an OSC title.
            "escape_banner",
            Behaviour::Banner {
                banner: b"\x1b[2J\x07\xff\xfe\xc3\x28\xe2\x80\xae\x1b]0;x\x07".to_vec(),
                answer: Vec::new(),
            },
        ),
        // Standard RDP Security selected, then a broken MCS Connect Response.
        ("mcs_silent", Behaviour::McsReply(Vec::new())),
        ("mcs_garbage", Behaviour::McsReply(mcs_tpkt(&[0x5a; 28]))),
        (
            // The TPKT claims 256 bytes; 14 come, then silence.
            "mcs_lying_length",
            Behaviour::McsReply(
                [
                    &[0x03, 0x00, 0x01, 0x00][..],
                    &[0x02, 0xf0, 0x80, 0x7f, 0x66, 0x82, 0x00, 0xf0, 0x0a, 0x01],
                ]
                .concat(),
            ),
        ),
        (
            // A 65535-byte TPKT: past the 16 KiB a Connect Response may take.
            "mcs_oversize",
            Behaviour::McsReply(
                [
                    &[0x03, 0x00, 0xff, 0xff][..],
                    &[0x02, 0xf0, 0x80, 0x7f, 0x66][..],
                ]
                .concat(),
            ),
        ),
        (
            "flood_16mb",
            Behaviour::Flood {
                header: vec![0x03, 0x00, 0xff, 0xff],
                total: 16 << 20,
            },
        ),
    ]
}

/// `body` in a TPKT header (RFC 1006) that gives its length correctly.
fn mcs_tpkt(body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(body.len() + 4).expect("a short body");
    let mut v = vec![0x03, 0x00];
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A valid NLA Connection Confirm whose TPKT header claims `len` bytes.
fn tpkt_len(len: u16) -> Vec<u8> {
    let mut c = confirm(0x1f, 8);
    c.splice(2..4, len.to_be_bytes());
    c
}

/// A valid NLA Connection Confirm with byte `at` replaced.
fn with_byte(at: usize, value: u8) -> Vec<u8> {
    let mut c = confirm(0x1f, 8);
    c[at] = value;
    c
}

/// The shared scan of every hostile listener at once.
struct Fleet {
    listeners: BTreeMap<&'static str, u16>,
    closed: u16,
    reports: BTreeMap<u16, HostReport>,
    wall: Duration,
    output: Output,
    csv: String,
    table: String,
    json: serde_json::Value,
}

impl Fleet {
    fn port(&self, name: &str) -> u16 {
        *self
            .listeners
            .get(name)
            .unwrap_or_else(|| panic!("no listener named {name}"))
    }

    fn report(&self, name: &str) -> &HostReport {
        let port = self.port(name);
        self.reports
            .get(&port)
            .unwrap_or_else(|| panic!("{name} (port {port}) missing from the scan output"))
    }

    /// Checks that `name` ended in `status` at `stage` with a message containing every one
    /// of `words`, within its budget, and that the neighbours are still right.
    fn expect(&self, name: &str, status: Status, stage: Stage, words: &[&str]) -> &HostReport {
        let r = self.report(name);
        assert_eq!(r.status, status, "{name}: {r:#?}");
        let Some(ErrorInfo {
            stage: got,
            message,
        }) = &r.error
        else {
            panic!("{name}: no error recorded: {r:#?}");
        };
        assert_eq!(*got, stage, "{name}: {message}");
        for w in words {
            assert!(message.contains(w), "{name}: {message:?} lacks {w:?}");
        }
        self.assert_budget(name, r);
        self.assert_neighbours();
        r
    }

    fn assert_budget(&self, name: &str, r: &HostReport) {
        let budget = HOST_TIMEOUT + SLACK;
        assert!(
            Duration::from_millis(r.elapsed_ms) <= budget,
            "{name} took {} ms, over its {budget:?} budget",
            r.elapsed_ms
        );
    }

    fn assert_neighbours(&self) {
        let good = self.report("good_rdp");
        assert_eq!(
            good.status,
            Status::Rdp,
            "the well-behaved server: {good:#?}"
        );
        assert_eq!(good.security.protocols.rdp, Some(true));
        assert_eq!(good.security.protocols.tls, Some(false));
        assert_eq!(good.security.nla.as_str(), "not_supported");
        let closed = self
            .reports
            .get(&self.closed)
            .expect("the closed port is reported");
        assert_eq!(closed.status, Status::Closed, "{closed:#?}");
    }

    /// The CSV row of `name`, as cells.
    fn csv_row(&self, name: &str) -> Vec<String> {
        let port = self.port(name).to_string();
        let mut rows = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(self.csv.trim_start_matches('\u{feff}').as_bytes());
        let headers = rows.headers().expect("CSV header").clone();
        let port_col = headers
            .iter()
            .position(|h| h == "port")
            .expect("a port column");
        rows.records()
            .map(|r| r.expect("a CSV record"))
            .find(|r| r.get(port_col) == Some(port.as_str()))
            .unwrap_or_else(|| panic!("no CSV row for {name}"))
            .iter()
            .map(str::to_owned)
            .collect()
    }
}

/// Scans every listener and a closed port in one run of the binary.
fn scan_fleet(listeners: BTreeMap<&'static str, u16>) -> Fleet {
    let closed = closed_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut targets: Vec<String> = listeners
        .values()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    targets.push(format!("127.0.0.1:{closed}"));
    let (csv_path, table_path, json_path) = (
        dir.path().join("fleet.csv"),
        dir.path().join("fleet.txt"),
        dir.path().join("fleet.json"),
    );
    let started = Instant::now();
    let output = rdpsweep()
        .args(["scan", "--format", "jsonl", "--no-progress"])
        .args(["--timeout", "3s", "--connect-timeout", "1s"])
        .arg("-o")
        .arg(&csv_path)
        .arg("-o")
        .arg(&table_path)
        .arg("-o")
        .arg(&json_path)
        .args(&targets)
        .output()
        .expect("the rdpsweep binary runs");
    let wall = started.elapsed();
    let stdout = String::from_utf8(output.stdout.clone()).expect("JSONL is UTF-8");
    let reports = parse_jsonl(&stdout)
        .into_iter()
        .map(|r| (r.port, r))
        .collect();
    let read =
        |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let json = serde_json::from_str(&read(&json_path)).expect("the JSON output parses");
    Fleet {
        listeners,
        closed,
        reports,
        wall,
        csv: read(&csv_path),
        table: read(&table_path),
        json,
        output,
    }
}

fn fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        let listeners = servers::start(the_fleet())
            .into_iter()
            .map(|(n, l)| (n, l.port))
            .collect();
        scan_fleet(listeners)
    })
}

// ---------------------------------------------------------------------------------------
// The fleet as a whole.

#[test]
fn the_whole_fleet_is_scanned_at_once_within_the_per_host_budget() {
    let f = fleet();
    let stderr = String::from_utf8_lossy(&f.output.stderr);
    assert_eq!(f.output.status.code(), Some(0), "{stderr}");
    assert!(
        f.wall < HOST_TIMEOUT + Duration::from_secs(3),
        "the scan of every hostile endpoint at once took {:?}",
        f.wall
    );
    assert_eq!(
        f.reports.len(),
        f.listeners.len() + 1,
        "every endpoint is reported exactly once"
    );
    for (name, port) in &f.listeners {
        f.assert_budget(name, f.reports.get(port).expect("reported"));
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    let hosts = f.json["hosts"].as_array().expect("hosts array");
    assert_eq!(hosts.len(), f.reports.len(), "JSON has every endpoint");
    assert_eq!(f.json["scan"]["summary"]["endpoints"], f.reports.len());
}

#[test]
fn a_well_behaved_server_among_hostile_ones_is_rdp_and_a_closed_port_closed() {
    let f = fleet();
    f.assert_neighbours();
    let good = f.report("good_rdp");
    assert!(good.error.is_none(), "{good:#?}");
    assert_eq!(good.connections, 3);
}

// ---------------------------------------------------------------------------------------
// Connection-level misbehaviour.

#[test]
fn a_server_that_accepts_and_never_sends_times_out_at_negotiate() {
    fleet().expect(
        "silent",
        Status::Error,
        Stage::Negotiate,
        &["no Connection Confirm", "timed out"],
    );
}

#[test]
fn slowloris_one_byte_per_second_is_cut_off_at_the_exchange_deadline() {
    let r = fleet().expect(
        "slowloris",
        Status::Error,
        Stage::Negotiate,
        &["no Connection Confirm", "timed out"],
    );
    // The X.224 reply may take a quarter of --timeout (the per-exchange deadline), no less
    // and not much more: one byte a second never completes a frame.
    let exchange = HOST_TIMEOUT / 4;
    let elapsed = Duration::from_millis(r.elapsed_ms);
    assert!(
        elapsed >= exchange - Duration::from_millis(50),
        "gave up early: {elapsed:?}"
    );
    assert!(
        elapsed <= exchange + SLACK,
        "held past the exchange deadline: {elapsed:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Standard RDP Security selected, then a broken MCS exchange: the endpoint stays `rdp` with
// what negotiation proved, and `rdp_security.error` says what went wrong.

/// `name` is `rdp`, accepts Standard RDP Security, and its MCS exchange failed with a
/// message containing every one of `words`, within the exchange deadline (a quarter of
/// --timeout) per connection.
fn expect_mcs_failure(name: &str, words: &[&str]) -> Duration {
    let f = fleet();
    let r = f.report(name);
    assert_eq!(r.status, Status::Rdp, "{name}: {r:#?}");
    assert_eq!(r.security.protocols.rdp, Some(true), "{name}");
    let rdp = r.rdp_security.as_ref().expect("an rdp_security section");
    assert_eq!(rdp.encryption_level, None, "{name}: {rdp:?}");
    let error = rdp
        .error
        .as_deref()
        .unwrap_or_else(|| panic!("{name}: no error: {rdp:?}"));
    println!("{name}: {error}");
    for w in words {
        assert!(error.contains(w), "{name}: {error:?} lacks {w:?}");
    }
    assert!(
        !r.findings.iter().any(|f| f.id == "rdp-encryption-weak"),
        "{name}: nothing was learnt about the encryption"
    );
    f.assert_budget(name, r);
    f.assert_neighbours();
    Duration::from_millis(r.elapsed_ms)
}

#[test]
fn a_silent_mcs_exchange_times_out_and_keeps_the_negotiation() {
    let elapsed = expect_mcs_failure("mcs_silent", &["timed out"]);
    assert!(
        elapsed >= HOST_TIMEOUT / 4 - Duration::from_millis(50),
        "{elapsed:?}"
    );
}

#[test]
fn a_garbage_mcs_answer_is_named_and_keeps_the_negotiation() {
    expect_mcs_failure("mcs_garbage", &["MCS Connect Response"]);
}

#[test]
fn an_mcs_answer_shorter_than_its_tpkt_length_times_out() {
    expect_mcs_failure("mcs_lying_length", &["timed out"]);
}

#[test]
fn an_mcs_answer_longer_than_16_kib_is_refused_at_once() {
    let elapsed = expect_mcs_failure("mcs_oversize", &["65535"]);
    assert!(
        elapsed < HOST_TIMEOUT / 4,
        "waited for bytes it would refuse: {elapsed:?}"
    );
}

#[test]
fn a_server_that_closes_right_after_accept_is_an_error_at_negotiate() {
    let r = fleet().expect(
        "close_on_accept",
        Status::Error,
        Stage::Negotiate,
        &["no Connection Confirm"],
    );
    // Closed before or after our request reached it: a FIN (closed) or, when the request
    // arrived at a closed socket, an RST (reset). Both are clear; neither is `closed`.
    let message = &r.error.as_ref().expect("error").message;
    assert!(
        message.contains("closed by peer after 0 bytes") || message.contains("reset by peer"),
        "{message}"
    );
}

#[test]
fn a_reset_in_the_middle_of_the_confirm_is_an_error_at_negotiate() {
    fleet().expect(
        "reset_mid_x224",
        Status::Error,
        Stage::Negotiate,
        &["reset by peer"],
    );
}

// ---------------------------------------------------------------------------------------
// TPKT framing.

#[test]
fn tpkt_length_0_is_not_rdp() {
    fleet().expect(
        "tpkt_len_0",
        Status::NotRdp,
        Stage::Negotiate,
        &["TPKT length 0 is outside"],
    );
}

#[test]
fn tpkt_length_3_is_not_rdp() {
    fleet().expect(
        "tpkt_len_3",
        Status::NotRdp,
        Stage::Negotiate,
        &["TPKT length 3 is outside"],
    );
}

#[test]
fn tpkt_length_65535_is_not_rdp() {
    fleet().expect(
        "tpkt_len_65535",
        Status::NotRdp,
        Stage::Negotiate,
        &["TPKT length 65535 is outside"],
    );
}

#[test]
fn a_tpkt_length_larger_than_what_follows_then_silence_times_out() {
    fleet().expect(
        "tpkt_longer_then_silent",
        Status::Error,
        Stage::Negotiate,
        &["timed out"],
    );
}

#[test]
fn a_tpkt_length_larger_than_what_follows_then_close_is_an_error() {
    fleet().expect(
        "tpkt_longer_then_close",
        Status::Error,
        Stage::Negotiate,
        &["closed by peer after 19 bytes"],
    );
}

#[test]
fn a_full_512_byte_tpkt_of_garbage_is_not_rdp() {
    fleet().expect(
        "tpkt_512_of_garbage",
        Status::NotRdp,
        Stage::Negotiate,
        &["malformed X.224 Connection Confirm"],
    );
}

#[test]
fn a_16_mb_flood_behind_a_65535_byte_tpkt_header_is_refused_at_once() {
    let f = fleet();
    let r = f.expect(
        "flood_16mb",
        Status::NotRdp,
        Stage::Negotiate,
        &["TPKT length 65535 is outside"],
    );
    assert!(r.elapsed_ms < 1000, "{} ms", r.elapsed_ms);
}

// ---------------------------------------------------------------------------------------
// X.224 and RDP_NEG contents.

#[test]
fn x224_connection_request_type_code_in_a_reply_is_not_rdp() {
    fleet().expect(
        "x224_type_cr",
        Status::NotRdp,
        Stage::Negotiate,
        &["malformed X.224 Connection Confirm"],
    );
}

#[test]
fn x224_data_type_code_in_a_reply_is_not_rdp() {
    fleet().expect(
        "x224_type_dt",
        Status::NotRdp,
        Stage::Negotiate,
        &["malformed X.224 Connection Confirm"],
    );
}

#[test]
fn x224_disconnect_request_type_code_in_a_reply_is_not_rdp() {
    fleet().expect(
        "x224_type_dr",
        Status::NotRdp,
        Stage::Negotiate,
        &["malformed X.224 Connection Confirm"],
    );
}

#[test]
fn an_x224_length_indicator_past_the_packet_is_not_rdp() {
    fleet().expect(
        "x224_li_too_long",
        Status::NotRdp,
        Stage::Negotiate,
        &["malformed X.224 Connection Confirm"],
    );
}

/// A valid Connection Confirm whose RDP_NEG structure has a type MS-RDPBCGR does not define is
/// still an RDP server: status `rdp`, the negotiation `unknown` with the raw type, and no
/// protocol claimed either way.
#[test]
fn an_unknown_rdp_neg_type_is_rdp_and_decides_nothing() {
    let f = fleet();
    let r = f.report("neg_type_unknown");
    assert_eq!(r.status, Status::Rdp, "{r:#?}");
    assert_eq!(r.error, None);
    assert_eq!(r.security.nla.as_str(), "unknown", "{r:#?}");
    assert!(
        r.security
            .probes
            .first()
            .is_some_and(|p| p.result.starts_with("unknown:type=0x")),
        "{r:#?}"
    );
    assert!(
        r.security
            .nla_reason
            .as_deref()
            .is_some_and(|why| why.contains("does not define")),
        "{r:#?}"
    );
    assert_eq!(r.security.protocols.credssp, None, "nothing claimed false");
    f.assert_budget("neg_type_unknown", r);
}

/// RDP_NEG length fields other than 8 (MS-RDPBCGR 2.2.1.2.1 says it MUST be 8): IronRDP does
/// not check the field, so the confirm is decoded from its fixed layout. Pinned here so a
/// change is noticed; either way the endpoint is reported promptly and nothing else breaks.
#[test]
fn rdp_neg_lengths_other_than_8_are_decoded_leniently() {
    let f = fleet();
    for name in ["neg_length_16", "neg_length_4"] {
        let r = f.report(name);
        assert_eq!(r.status, Status::Rdp, "{name}: {r:#?}");
        assert_eq!(r.security.selected.as_deref(), Some("credssp_early_auth"));
        f.assert_budget(name, r);
    }
    f.assert_neighbours();
}

/// Unknown values inside a well-formed RDP_NEG are kept, not rejected (the project's rule):
/// the server is RDP and the unknown code / protocol / flags are reported as hex.
#[test]
fn unknown_failure_codes_selected_protocols_and_flags_are_kept() {
    let f = fleet();
    let r = f.report("neg_failure_code_unknown");
    assert_eq!(r.status, Status::Rdp, "{r:#?}");
    assert!(
        r.security
            .failure_codes
            .contains(&"nla:UNKNOWN_0x00000099".to_owned()),
        "{:?}",
        r.security.failure_codes
    );
    f.assert_budget("neg_failure_code_unknown", r);

    let r = f.report("neg_selected_unknown");
    assert_eq!(r.status, Status::Rdp, "{r:#?}");
    assert_eq!(r.security.selected.as_deref(), Some("0x00000040"));
    assert!(
        r.security.negotiation_flags.contains(&"0xe0".to_owned()),
        "{:?}",
        r.security.negotiation_flags
    );
    f.assert_budget("neg_selected_unknown", r);
    f.assert_neighbours();
}

// ---------------------------------------------------------------------------------------
// Other protocols on the RDP port.

#[test]
fn an_http_server_on_the_rdp_port_is_not_rdp_and_named() {
    fleet().expect(
        "http",
        Status::NotRdp,
        Stage::Negotiate,
        &["not a TPKT packet", "\"HTTP/1.1 400 Bad Request"],
    );
}

#[test]
fn an_ssh_banner_on_the_rdp_port_is_not_rdp_and_named() {
    fleet().expect(
        "ssh",
        Status::NotRdp,
        Stage::Negotiate,
        &["not a TPKT packet", "\"SSH-2.0-OpenSSH_9.2p1"],
    );
}

// ---------------------------------------------------------------------------------------
// Output safety: what a server sends never becomes a formula, a terminal escape or invalid
// text.

/// OWASP CSV injection: a cell must not start with one of these.
fn is_formula_start(cell: &str) -> bool {
    match cell.chars().next() {
        Some('=' | '+' | '@' | '\t' | '\r') => true,
        Some('-') => cell.parse::<f64>().is_err(),
        _ => false,
    }
}

/// Characters that must never reach a terminal or a CSV cell raw.
fn is_raw_control(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Checks that no cell starts a formula or carries a raw control character.
fn assert_cells_are_inert<'a>(cells: impl IntoIterator<Item = &'a str>) {
    for cell in cells {
        assert!(!is_formula_start(cell), "formula cell {cell:?}");
        assert!(!cell.chars().any(is_raw_control), "raw control in {cell:?}");
    }
}

#[test]
fn a_formula_sent_by_a_server_never_starts_a_csv_cell() {
    let f = fleet();
    f.expect(
        "formula_banner",
        Status::NotRdp,
        Stage::Negotiate,
        &["not a TPKT packet (first byte 0x3d", FORMULA],
    );
    let row = f.csv_row("formula_banner");
    assert_cells_are_inert(row.iter().map(String::as_str));
    assert!(row.iter().any(|c| c.contains(FORMULA)), "{row:?}");
}

#[test]
fn escape_sequences_and_invalid_utf8_from_a_server_arrive_escaped() {
    let f = fleet();
    let r = f.expect(
        "escape_banner",
        Status::NotRdp,
        Stage::Negotiate,
        &["not a TPKT packet (first byte 0x1b"],
    );
    let message = &r.error.as_ref().expect("error").message;
    for escaped in [r"\x1b[2J", r"\x07", r"\xff\xfe\xc3(", r"\xe2\x80\xae"] {
        assert!(message.contains(escaped), "{message:?} lacks {escaped}");
    }
    assert!(!message.chars().any(is_raw_control), "{message:?}");
    for cell in f.csv_row("escape_banner") {
        assert!(!cell.chars().any(is_raw_control), "raw control in {cell:?}");
    }
}

#[test]
fn the_terminal_table_never_carries_raw_control_characters() {
    let f = fleet();
    assert!(f.table.contains(r"\x1b[2J"), "{}", f.table);
    let bad: Vec<(usize, char)> = f
        .table
        .char_indices()
        .filter(|(_, c)| is_raw_control(*c))
        .collect();
    assert!(
        bad.is_empty(),
        "raw control characters in the table: {bad:?}"
    );
}

#[test]
fn the_csv_as_a_whole_has_no_formula_cells_and_stays_rectangular() {
    let f = fleet();
    let mut rows =
        csv::ReaderBuilder::new().from_reader(f.csv.trim_start_matches('\u{feff}').as_bytes());
    let width = rows.headers().expect("header").len();
    let mut n = 0;
    for rec in rows.records() {
        let rec = rec.expect("a well-formed CSV record");
        assert_eq!(rec.len(), width, "{rec:?}");
        for cell in &rec {
            assert!(!is_formula_start(cell), "formula cell {cell:?}");
        }
        n += 1;
    }
    // One row per endpoint that answered (the closed one is counted, not listed).
    let answered = f
        .reports
        .values()
        .filter(|r| rdpsweep::report::rows::Rows::Answered.lists(r))
        .count();
    assert_eq!(n, answered);
    assert_eq!(answered, f.reports.len() - 1);
}

/// The writers themselves, fed values a hostile server could plant (error text, NTLM names):
/// the CSV cell is `'=cmd...` and the table shows escapes.
#[test]
fn the_writers_neutralise_hostile_values_they_are_given() {
    let mut r = HostReport::new(
        "127.0.0.1".into(),
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        3389,
    );
    r.status = Status::NotRdp;
    r.error = Some(ErrorInfo {
        stage: Stage::Negotiate,
        message: FORMULA.into(),
    });
    r.ntlm = Some(NtlmReport {
        nb_computer: Some("\u{1b}]0;owned\u{7}\u{202e}exe.txt".into()),
        dns_computer: Some("@SUM(1+1)".into()),
        ..NtlmReport::default()
    });

    let mut csv_out = Vec::new();
    {
        let mut w = rdpsweep::report::csv::CsvWriter::new(&mut csv_out, true).expect("csv");
        w.write(&r).expect("write row");
        w.flush().expect("flush");
    }
    let text = String::from_utf8(csv_out).expect("UTF-8 CSV");
    // Kept for the manual spreadsheet check in docs/fuzzing.md (LibreOffice import).
    let _ = std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile-writers.csv"),
        &text,
    );
    let mut rows =
        csv::ReaderBuilder::new().from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = rows.headers().expect("header").clone();
    let rec = rows.records().next().expect("one row").expect("record");
    let error_col = headers
        .iter()
        .position(|h| h == "error")
        .expect("error column");
    assert_eq!(rec.get(error_col), Some("'=cmd|' /C calc'!A0"));
    assert_cells_are_inert(&rec);

    r.status = Status::Rdp;
    let mut table_out = Vec::new();
    {
        let mut t = rdpsweep::report::table::TableWriter::new(
            &mut table_out,
            rdpsweep::report::rows::Rows::Answered,
        );
        t.write(&r).expect("write line");
    }
    let table = String::from_utf8(table_out).expect("UTF-8 table");
    assert!(!table.chars().any(is_raw_control), "{table:?}");
}

// ---------------------------------------------------------------------------------------
// Memory per probe.

/// Probes 127.0.0.1:`port` once, in this process, on a current-thread runtime (1 s connect
/// timeout, [`HOST_TIMEOUT`], the TLS stage only when given a `tls` context), and analyses the
/// observation as host `name`. Returns the report and the heap peak of the probe alone: the
/// options, the runtime and the analysis are outside the measure.
fn probe_measuring_heap(
    name: &str,
    port: u16,
    tls: Option<rdpsweep::probe::tls::TlsContext>,
) -> (HostReport, usize) {
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let opts = rdpsweep::probe::ProbeOptions {
        connect_timeout: Duration::from_secs(1),
        host_timeout: HOST_TIMEOUT,
        tls: tls.map(std::sync::Arc::new),
        ..rdpsweep::probe::ProbeOptions::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (obs, peak) =
        alloc::peak_heap(|| rt.block_on(rdpsweep::probe::probe_endpoint(addr, None, &opts)));
    let report = rdpsweep::analysis::analyse(
        HostReport::new(name.into(), Some(addr.ip()), addr.port()),
        &obs,
        &rdpsweep::analysis::Clock::at(0),
        &rdpsweep::analysis::AnalysisOptions::default(),
    );
    (report, peak)
}

/// The X.224 cap (`MAX_CONFIRM_LEN`, 512 bytes; see ARCHITECTURE.md): a server that claims a
/// 65535-byte packet and then streams 16 MB costs the probe a few kilobytes of heap, and the
/// probe stops reading at once instead of draining the flood.
#[test]
fn one_probe_of_a_16_mb_flood_stays_within_a_few_kilobytes_of_heap() {
    let listeners = servers::start(vec![(
        "flood",
        Behaviour::Flood {
            header: vec![0x03, 0x00, 0xff, 0xff],
            total: 16 << 20,
        },
    )]);
    let flood = listeners.get("flood").expect("flood listener").clone();
    let (report, peak) = probe_measuring_heap("flood", flood.port, None);
    assert_eq!(report.status, Status::NotRdp, "{report:#?}");
    assert!(peak < 64 * 1024, "one probe peaked at {peak} bytes of heap");
    // Give the flooder a moment to notice the closed connection.
    std::thread::sleep(Duration::from_millis(200));
    let taken = flood.accepted.get();
    eprintln!("flood probe: heap peak {peak} bytes; the flooder got {taken} bytes into the socket");
    assert!(
        taken < 16 << 20,
        "the probe drained the whole flood ({taken} bytes)"
    );
}

// ---------------------------------------------------------------------------------------
// No data loss: Ctrl-C, and --resume.

/// Waits for `child` up to `limit`; kills it (SIGKILL) and fails if it is still running.
fn wait_bounded(child: std::process::Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for rdpsweep"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("rdpsweep (pid {pid}) still running after {limit:?}");
        }
    }
}

fn jsonl_lines(path: &Path) -> Vec<HostReport> {
    parse_jsonl(&std::fs::read_to_string(path).unwrap_or_default())
}

const FAST: [&str; 4] = ["fast_0", "fast_1", "fast_2", "fast_3"];
const TARPITS: [&str; 6] = [
    "tarpit_0", "tarpit_1", "tarpit_2", "tarpit_3", "tarpit_4", "tarpit_5",
];

#[test]
fn ctrl_c_exits_130_with_every_completed_endpoint_in_valid_outputs() {
    interrupted_scan_keeps_every_completed_endpoint("INT");
}

#[test]
fn sigterm_exits_130_with_every_completed_endpoint_in_valid_outputs() {
    interrupted_scan_keeps_every_completed_endpoint("TERM");
}

/// Scans tarpits and fast servers with 2 slots, sends `signal` once the first endpoint is
/// written, and checks every output.
fn interrupted_scan_keeps_every_completed_endpoint(signal: &str) {
    let listeners = servers::start(
        FAST.iter()
            .map(|n| (*n, Behaviour::GoodRdp))
            .chain(TARPITS.iter().map(|n| (*n, Behaviour::Silent)))
            .collect(),
    );
    let by_port: BTreeMap<u16, &str> = listeners.iter().map(|(n, l)| (l.port, *n)).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let (jsonl, json, csv_file) = (
        dir.path().join("out.jsonl"),
        dir.path().join("out.json"),
        dir.path().join("out.csv"),
    );
    let child = rdpsweep()
        .args([
            "scan",
            "--format",
            "jsonl",
            "--no-progress",
            "--concurrency",
            "2",
        ])
        .args(["--timeout", "2s", "--connect-timeout", "1s"])
        .arg("-o")
        .arg(&jsonl)
        .arg("-o")
        .arg(&json)
        .arg("-o")
        .arg(&csv_file)
        .args(by_port.keys().map(|p| format!("127.0.0.1:{p}")))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rdpsweep");
    let pid = child.id().to_string();

    // Interrupt once the first endpoint is written (tarpits hold the two slots for 2 s each,
    // so most endpoints are still unscanned then).
    let until = Instant::now() + Duration::from_secs(15);
    while jsonl_lines(&jsonl).is_empty() {
        assert!(Instant::now() < until, "no endpoint finished within 15 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{signal} {pid}");
    let out = wait_bounded(child, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");

    // JSONL: every completed endpoint, each once, each right.
    let lines = jsonl_lines(&jsonl);
    let ports: std::collections::BTreeSet<u16> = lines.iter().map(|r| r.port).collect();
    assert_eq!(ports.len(), lines.len(), "an endpoint was written twice");
    for r in &lines {
        let name = by_port.get(&r.port).expect("a scanned port");
        let want = if name.starts_with("fast") {
            Status::Rdp
        } else {
            Status::Error
        };
        assert_eq!(r.status, want, "{name}: {r:#?}");
    }
    let stdout_lines = parse_jsonl(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(stdout_lines.len(), lines.len(), "stdout and file agree");

    // JSON: renamed from .partial, valid, the same endpoints, the interruption recorded.
    assert!(!dir.path().join("out.json.partial").exists());
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("out.json exists"))
            .expect("out.json is valid JSON");
    let json_ports: std::collections::BTreeSet<u16> = doc["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| u16::try_from(h["port"].as_u64().expect("port")).expect("u16"))
        .collect();
    assert_eq!(json_ports, ports);
    let summary = &doc["scan"]["summary"];
    assert_eq!(summary["interrupted"], true);
    let skipped = summary["skipped"].as_u64().expect("skipped");
    assert_eq!(summary["endpoints"].as_u64(), Some(lines.len() as u64));
    assert_eq!(
        lines.len() as u64 + skipped,
        by_port.len() as u64,
        "{summary}"
    );
    assert!(skipped >= 1, "nothing was left to skip: {summary}");

    // CSV: renamed, one row per completed endpoint.
    assert!(!dir.path().join("out.csv.partial").exists());
    let text = std::fs::read_to_string(&csv_file).expect("out.csv exists");
    let rows = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes())
        .records()
        .count();
    assert_eq!(rows, lines.len());

    // stderr says what was skipped and how to finish.
    assert!(
        stderr.contains(&format!("{skipped} not scanned")),
        "stderr does not count the skipped endpoints: {stderr}"
    );
    assert!(stderr.contains("--resume"), "{stderr}");
}

/// A name that resolves to two addresses (`--resolve all`): the first answers at once, the
/// second is a tarpit still in its exchange when the grace period after Ctrl-C ends and its
/// task is aborted. The first address's report was handed to the writer when it finished, so
/// the host outputs and the matrix hold the same endpoints: that one, and no other.
#[test]
fn a_task_aborted_after_the_grace_period_leaves_matrix_and_outputs_in_step() {
    use std::io::{Read, Write};
    // The same port on two loopback addresses: RDP on the first, silence on the second.
    let fast = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = fast.local_addr().expect("address").port();
    let tarpit = std::net::TcpListener::bind(("127.0.0.2", port)).expect("bind the tarpit");
    std::thread::spawn(move || {
        for conn in fast.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut request = [0u8; 19];
            if conn.read_exact(&mut request).is_ok() {
                // SSL_NOT_ALLOWED_BY_SERVER to what offers TLS, Standard RDP otherwise.
                let answer = if request[15] == 0 {
                    confirm(0, 0)
                } else {
                    failure(2)
                };
                let _ = conn.write_all(&answer);
            }
        }
    });
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = std::sync::Arc::clone(&held);
    std::thread::spawn(move || {
        for conn in tarpit.incoming().flatten() {
            keep.lock().expect("lock").push(conn);
        }
    });
    // A private mount namespace whose /etc/hosts names both addresses (root, as the harness).
    let dir = tempfile::tempdir().expect("tempdir");
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        "127.0.0.1 two.rdpsweep.test\n127.0.0.2 two.rdpsweep.test\n",
    )
    .expect("write hosts");
    let host_conf = dir.path().join("host.conf");
    std::fs::write(&host_conf, "multi on\n").expect("write host.conf");
    let (jsonl, matrix) = (dir.path().join("out.jsonl"), dir.path().join("matrix.csv"));
    let script = r#"mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/host.conf && shift 2 && exec "$@""#;
    let child = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(&hosts)
        .arg(&host_conf)
        .arg(env!("CARGO_BIN_EXE_rdpsweep"))
        .args([
            "scan",
            "--resolve",
            "all",
            "--format",
            "jsonl",
            "--no-progress",
        ])
        .args(["--timeout", "40s", "--client-profile", "patched-mitigated"])
        .arg("-o")
        .arg(&jsonl)
        .arg("--matrix")
        .arg(&matrix)
        .arg(format!("two.rdpsweep.test:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start unshare (util-linux) with rdpsweep");
    let pid = child.id();
    let until = Instant::now() + Duration::from_secs(15);
    while jsonl_lines(&jsonl).is_empty() {
        assert!(
            Instant::now() < until,
            "the first address was not written within 15 s (is unshare -m allowed here?)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Ctrl-C to rdpsweep (exec'd in place of sh, so it has the child's pid).
    let sent = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let out = wait_bounded(child, Duration::from_secs(15));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        !held.lock().expect("lock").is_empty(),
        "the tarpit was reached: the second address was in flight"
    );
    let written: Vec<String> = jsonl_lines(&jsonl)
        .iter()
        .map(HostReport::endpoint)
        .collect();
    assert_eq!(written, [format!("127.0.0.1:{port}")], "{stderr}");
    let text = std::fs::read_to_string(&matrix).expect("matrix written");
    let rows: Vec<String> =
        csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes())
            .records()
            .map(|r| {
                let r = r.expect("matrix row");
                format!("{}:{}", &r[1], &r[2])
            })
            .collect();
    assert_eq!(
        rows, written,
        "the matrix holds exactly the written endpoints"
    );
}

#[test]
fn resume_skips_what_is_done_repairs_a_torn_last_line_and_appends_the_rest() {
    let listeners = servers::start(vec![
        ("a", Behaviour::GoodRdp),
        ("b", Behaviour::GoodRdp),
        ("c", Behaviour::GoodRdp),
    ]);
    let port = |n: &str| listeners.get(n).expect("listener").port;
    let closed = closed_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("scan.jsonl");
    let scan = |targets: &[u16], resume: bool| {
        let mut cmd = rdpsweep();
        cmd.args(["scan", "--format", "jsonl", "--no-progress"])
            .args(["--timeout", "3s", "--connect-timeout", "1s", "-o"])
            .arg(&jsonl)
            .args(targets.iter().map(|p| format!("127.0.0.1:{p}")));
        if resume {
            cmd.arg("--resume").arg(&jsonl);
        }
        let out = cmd.output().expect("run rdpsweep");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };

    // First run: a and b. Then a crash mid-write leaves half a record without its newline.
    scan(&[port("a"), port("b")], false);
    assert_eq!(jsonl_lines(&jsonl).len(), 2);
    let mut torn = std::fs::read(&jsonl).expect("read");
    torn.extend_from_slice(
        format!(
            "{{\"target\":\"127.0.0.1\",\"ip\":\"127.0.0.1\",\"port\":{}",
            port("c")
        )
        .as_bytes(),
    );
    std::fs::write(&jsonl, torn).expect("write the torn line");

    // Second run, same file: a and b are skipped, c (torn) and the closed port are scanned.
    let all = [port("a"), port("b"), port("c"), closed];
    let out = scan(&all, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let new: Vec<u16> = parse_jsonl(&String::from_utf8_lossy(&out.stdout))
        .iter()
        .map(|r| r.port)
        .collect();
    assert_eq!(
        new.iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        [port("c"), closed].into_iter().collect(),
        "{stderr}"
    );
    assert!(stderr.contains("2 endpoints already"), "{stderr}");
    assert!(stderr.contains("incomplete last line"), "{stderr}");
    let file = jsonl_lines(&jsonl);
    let mut ports: Vec<u16> = file.iter().map(|r| r.port).collect();
    ports.sort_unstable();
    let mut want = all.to_vec();
    want.sort_unstable();
    assert_eq!(
        ports, want,
        "every endpoint exactly once in the appended file"
    );

    // Third run: nothing left to do, nothing written, file unchanged.
    let before = std::fs::read(&jsonl).expect("read");
    let out = scan(&all, true);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(std::fs::read(&jsonl).expect("read"), before);

    // A file written by an older rdpsweep (schema version 1: no `schema_version`): appending
    // this version's records would make a file `report` refuses. Refused, file untouched.
    let old: String = String::from_utf8_lossy(&before)
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("a record");
            v.as_object_mut()
                .expect("an object")
                .remove("schema_version");
            format!("{v}\n")
        })
        .collect();
    std::fs::write(&jsonl, &old).expect("write the old file");
    let out = rdpsweep()
        .args(["scan", "--format", "jsonl", "--no-progress", "-o"])
        .arg(&jsonl)
        .arg("--resume")
        .arg(&jsonl)
        .arg(format!("127.0.0.1:{}", port("a")))
        .output()
        .expect("run rdpsweep");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("schema version 1") && stderr.contains("start a new file"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&jsonl).expect("read"), old);
}

// ---------------------------------------------------------------------------------------
// Resource limits.

/// With `ulimit -n 64` the scan cannot raise its open-file limit: it clamps `--concurrency`
/// (and says so), completes, and reports a few hundred refused ports as `closed`, none as
/// `error` because of local descriptor exhaustion.
#[test]
fn a_low_open_file_limit_clamps_concurrency_and_nothing_is_misreported() {
    // An address no test listens on: every port refuses.
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 64 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_rdpsweep"))
        .args(["scan", "127.213.57.9", "-p", "41000-41299"])
        .args([
            "--concurrency",
            "2000",
            "--format",
            "jsonl",
            "--no-progress",
        ])
        .args(["--timeout", "5s", "--connect-timeout", "2s"])
        .output()
        .expect("run rdpsweep under sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("open-file limit 64 cannot cover --concurrency 2000"),
        "no clamp message: {stderr}"
    );
    let reports = parse_jsonl(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(reports.len(), 300);
    for r in &reports {
        assert_eq!(r.status, Status::Closed, "{r:#?}");
    }
}

// ---------------------------------------------------------------------------------------
// The TLS and CredSSP stages: servers that negotiate correctly, then misbehave. The endpoint
// is RDP (its X.224 answer was right), so its status stays `rdp`; the failed stage is
// recorded where the schema keeps it (`tls.error`, `credssp.note`), within the budget, and
// neighbours are unaffected.

fn deep_nesting(levels: usize) -> Vec<u8> {
    let mut inner = der_null();
    for _ in 0..levels {
        inner = stages::der(0x30, &inner);
    }
    let mut body = stages::der(0xa0, &stages::der(0x02, &[6]));
    body.extend(stages::der(0xa1, &inner));
    stages::der(0x30, &body)
}

fn der_null() -> Vec<u8> {
    vec![0x05, 0x00]
}

fn the_stage_fleet() -> Vec<(&'static str, St)> {
    use stages::{av, ntlm_challenge, ts_request, utf16};
    let eol = av(0, &[]);
    let thousands: Vec<u8> = (0..5000u16)
        .flat_map(|i| av(1 + i % 5, &utf16("x")))
        .chain(eol.clone())
        .collect();
    let formula_names = [
        av(1, &utf16(FORMULA)),
        av(2, &utf16("+SUM(1)")),
        av(3, &utf16("\u{1b}[2J\u{202e}evil")),
        av(4, &utf16("@corp")),
        eol.clone(),
    ]
    .concat();
    vec![
        ("tls_garbage_after_hello", St::Tls(Tm::GarbageAfterHello)),
        ("tls_endless_records", St::Tls(Tm::EndlessRecords)),
        ("tls_alert", St::Tls(Tm::Alert)),
        ("tls_10mb_certificate", St::Tls(Tm::HugeCertificate)),
        ("tls_100_certificates", St::Tls(Tm::Chain(100))),
        (
            "tls_malformed_certificate",
            St::Tls(Tm::MalformedCertificate),
        ),
        ("tls_formula_cn", St::Tls(Tm::CommonName(FORMULA.into()))),
        ("tls_reset_mid_hello", St::Tls(Tm::ResetMidHello)),
        (
            "ts_enormous_length",
            St::Credssp(Cs::Reply(
                [&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff][..], &[0u8; 64]].concat(),
            )),
        ),
        (
            "ts_indefinite_length",
            St::Credssp(Cs::Reply(vec![
                0x30, 0x80, 0xa0, 0x03, 0x02, 0x01, 0x06, 0x00, 0x00,
            ])),
        ),
        (
            "ts_deeply_nested",
            St::Credssp(Cs::Reply(deep_nesting(4000))),
        ),
        (
            "ntlm_offsets_outside",
            St::Credssp(Cs::Reply(ts_request(&ntlm_challenge(
                &utf16("A"),
                &[av(1, &utf16("X")), eol.clone()].concat(),
                Some(0xffff_fff0),
                Some(0x7fff_ffff),
            )))),
        ),
        (
            "ntlm_odd_utf16",
            St::Credssp(Cs::Reply(ts_request(&ntlm_challenge(
                b"ABC",
                &[av(1, b"XYZ"), av(3, &[0x00, 0xd8, 0x41, 0x00]), eol.clone()].concat(),
                None,
                None,
            )))),
        ),
        (
            "ntlm_no_eol",
            St::Credssp(Cs::Reply(ts_request(&ntlm_challenge(
                &utf16("HOST"),
                &[av(1, &utf16("HOST")), av(2, &utf16("DOM"))].concat(),
                None,
                None,
            )))),
        ),
        (
            "ntlm_thousands_of_av_pairs",
            St::Credssp(Cs::Reply(ts_request(&ntlm_challenge(
                &utf16("HOST"),
                &thousands,
                None,
                None,
            )))),
        ),
        (
            "ntlm_formula_names",
            St::Credssp(Cs::Reply(ts_request(&ntlm_challenge(
                &utf16(FORMULA),
                &formula_names,
                None,
                None,
            )))),
        ),
        (
            "credssp_reset_mid_reply",
            St::Credssp(Cs::ResetMid(ts_request(&ntlm_challenge(
                &utf16("HOST"),
                &[av(1, &utf16("HOST")), eol].concat(),
                None,
                None,
            )))),
        ),
    ]
}

fn stage_fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        let mut listeners: BTreeMap<&'static str, u16> =
            servers::start(vec![("good_rdp", Behaviour::GoodRdp)])
                .into_iter()
                .map(|(n, l)| (n, l.port))
                .collect();
        listeners.extend(
            stages::start(the_stage_fleet())
                .into_iter()
                .map(|(n, l)| (n, l.port)),
        );
        scan_fleet(listeners)
    })
}

impl Fleet {
    /// Checks that `name` is RDP (a stage failure after X.224 does not change that), within
    /// its budget, and that the neighbours are fine; returns its report.
    fn rdp_report(&self, name: &str) -> &HostReport {
        let r = self.report(name);
        assert_eq!(r.status, Status::Rdp, "{name}: {r:#?}");
        self.assert_budget(name, r);
        self.assert_neighbours();
        r
    }

    /// `name` is RDP, within budget, neighbours fine; returns its TLS error text.
    fn tls_error(&self, name: &str) -> String {
        let r = self.rdp_report(name);
        let tls = r
            .tls
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no tls section: {r:#?}"));
        tls.error
            .clone()
            .unwrap_or_else(|| panic!("{name}: no tls.error: {r:#?}"))
    }

    /// `name` is RDP, within budget, neighbours fine; returns its CredSSP note.
    fn credssp_note(&self, name: &str) -> String {
        let r = self.rdp_report(name);
        let c = r
            .credssp
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no credssp section: {r:#?}"));
        c.note
            .clone()
            .unwrap_or_else(|| panic!("{name}: no credssp.note: {r:#?}"))
    }
}

#[test]
fn the_stage_fleet_is_scanned_at_once_within_the_per_host_budget() {
    let f = stage_fleet();
    let stderr = String::from_utf8_lossy(&f.output.stderr);
    assert_eq!(f.output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        f.wall < HOST_TIMEOUT + Duration::from_secs(3),
        "took {:?}",
        f.wall
    );
    assert_eq!(f.reports.len(), f.listeners.len() + 1);
    for (name, port) in &f.listeners {
        let r = f.reports.get(port).expect("reported");
        f.assert_budget(name, r);
        eprintln!(
            "{name}: status {} tls.error {:?} credssp {:?} ntlm {:?}",
            r.status.as_str(),
            r.tls.as_ref().and_then(|t| t.error.clone()),
            r.credssp.as_ref().map(|c| (c.version, c.note.clone())),
            r.ntlm
                .as_ref()
                .map(|n| (n.nb_computer.clone(), n.dns_computer.clone())),
        );
    }
    f.assert_neighbours();
}

#[test]
fn tls_garbage_after_a_valid_server_hello_is_a_tls_error() {
    let e = stage_fleet().tls_error("tls_garbage_after_hello");
    assert!(e.contains("InvalidContentType"), "{e}");
}

#[test]
fn an_endless_stream_of_tls_records_is_cut_off() {
    let e = stage_fleet().tls_error("tls_endless_records");
    assert!(e.contains("HelloRequest"), "{e}");
}

#[test]
fn a_tls_alert_is_reported_with_its_description() {
    let e = stage_fleet().tls_error("tls_alert");
    assert!(
        e.contains("HandshakeFailure") || e.contains("handshake failure"),
        "{e}"
    );
}

#[test]
fn a_10_mb_certificate_message_is_refused_at_the_cap() {
    let e = stage_fleet().tls_error("tls_10mb_certificate");
    assert!(e.contains("HandshakePayloadTooLarge"), "{e}");
}

#[test]
fn a_chain_of_100_certificates_is_read_and_bounded() {
    let f = stage_fleet();
    let e = f.tls_error("tls_100_certificates");
    assert!(e.contains("rustls"), "{e}");
    let r = f.report("tls_100_certificates");
    if let Some(tls) = &r.tls {
        assert!(tls.chain.len() <= 100, "{} chain entries", tls.chain.len());
    }
}

#[test]
fn a_malformed_certificate_is_named_as_unreadable() {
    let e = stage_fleet().tls_error("tls_malformed_certificate");
    assert!(e.contains("certificate unreadable"), "{e}");
}

#[test]
fn a_reset_in_the_middle_of_the_tls_handshake_is_a_tls_error() {
    let e = stage_fleet().tls_error("tls_reset_mid_hello");
    assert!(e.contains("reset") || e.contains("closed"), "{e}");
}

#[test]
fn a_tsrequest_with_an_enormous_length_is_refused_before_reading_it() {
    let n = stage_fleet().credssp_note("ts_enormous_length");
    assert!(n.contains("exceeds the 65536-byte limit"), "{n}");
}

#[test]
fn an_indefinite_length_tsrequest_is_refused() {
    let n = stage_fleet().credssp_note("ts_indefinite_length");
    assert!(n.contains("indefinite length"), "{n}");
}

#[test]
fn a_tsrequest_nested_4000_levels_deep_is_refused_without_recursing() {
    let n = stage_fleet().credssp_note("ts_deeply_nested");
    assert!(n.contains("malformed TSRequest"), "{n}");
}

#[test]
fn a_reset_in_the_middle_of_the_credssp_reply_is_a_credssp_error() {
    let n = stage_fleet().credssp_note("credssp_reset_mid_reply");
    assert!(n.contains("reset"), "{n}");
}

/// NTLM oddities do not stop the CredSSP verdict (version 6 read from the TSRequest); names
/// that point outside the message are dropped, odd UTF-16 and lone surrogates are escaped,
/// a list without EOL or with thousands of pairs is read up to its cap.
#[test]
fn ntlm_challenges_with_bad_offsets_odd_utf16_no_eol_or_thousands_of_pairs() {
    let f = stage_fleet();
    for name in [
        "ntlm_offsets_outside",
        "ntlm_odd_utf16",
        "ntlm_no_eol",
        "ntlm_thousands_of_av_pairs",
    ] {
        let r = f.report(name);
        assert_eq!(r.status, Status::Rdp, "{name}: {r:#?}");
        f.assert_budget(name, r);
        let c = r.credssp.as_ref().expect("credssp");
        assert_eq!(c.version, Some(6), "{name}: {c:#?}");
    }
    let ntlm = |name: &str| f.report(name).ntlm.clone().unwrap_or_default();
    let outside = ntlm("ntlm_offsets_outside");
    assert_eq!((outside.nb_computer, outside.target_name), (None, None));
    let odd = ntlm("ntlm_odd_utf16");
    assert_eq!(odd.nb_computer.as_deref(), Some("奘\\x5a"));
    assert_eq!(odd.dns_computer.as_deref(), Some("\\u{d800}A"));
    assert_eq!(ntlm("ntlm_no_eol").nb_domain.as_deref(), Some("DOM"));
    assert_eq!(
        ntlm("ntlm_thousands_of_av_pairs").nb_computer.as_deref(),
        Some("x")
    );
    f.assert_neighbours();
}

/// Server-supplied names through the whole pipeline: a certificate CN and NTLM names that
/// start with `=`, `+`, `@` or carry escape sequences arrive in the CSV as text (`'=cmd...`)
/// and in the table as visible escapes.
#[test]
fn hostile_certificate_and_ntlm_names_are_neutralised_in_csv_and_table() {
    let f = stage_fleet();
    let header: Vec<String> = csv::ReaderBuilder::new()
        .from_reader(f.csv.trim_start_matches('\u{feff}').as_bytes())
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let cell = |row: &[String], col: &str| {
        let i = header
            .iter()
            .position(|h| h == col)
            .unwrap_or_else(|| panic!("no column {col}"));
        row.get(i).cloned().unwrap_or_default()
    };

    let ntlm_row = f.csv_row("ntlm_formula_names");
    assert_eq!(cell(&ntlm_row, "nb_computer"), "'=cmd|' /C calc'!A0");
    assert_eq!(cell(&ntlm_row, "nb_domain"), "'+SUM(1)");
    assert_eq!(cell(&ntlm_row, "dns_domain"), "'@corp");
    assert_eq!(cell(&ntlm_row, "dns_computer"), "\\x1b[2J\\u{202e}evil");

    let cn = f
        .report("tls_formula_cn")
        .tls
        .as_ref()
        .and_then(|t| t.certificate.as_ref())
        .and_then(|c| c.subject_cn.clone());
    assert_eq!(
        cn.as_deref(),
        Some(FORMULA),
        "the CN is read from the plaintext flight"
    );
    let tls_row = f.csv_row("tls_formula_cn");
    assert_eq!(cell(&tls_row, "cert_subject_cn"), "'=cmd|' /C calc'!A0");

    for row in [&ntlm_row, &tls_row] {
        assert_cells_are_inert(row.iter().map(String::as_str));
    }
    let bad: Vec<char> = f.table.chars().filter(|c| is_raw_control(*c)).collect();
    assert!(
        bad.is_empty(),
        "raw control characters in the table: {bad:?}"
    );
    assert!(f.table.contains("\\x1b[2J"), "{}", f.table);
}

/// The TLS caps (ARCHITECTURE.md): a server announcing a 10 MB Certificate message and
/// streaming it costs one probe well under a megabyte of heap, and the probe stops reading
/// long before the 10 MB are through. (OpenSSL's own C allocations are not counted here;
/// its certificate-list limit is its default, 100 KiB.)
#[test]
fn one_probe_of_a_10_mb_certificate_stays_within_its_heap_cap() {
    let listeners = stages::start(vec![("huge", St::Tls(Tm::HugeCertificate))]);
    let huge = listeners.get("huge").expect("listener").clone();
    // The per-scan TLS context (trust stores) is built once per scan, outside the measure.
    let tls = rdpsweep::probe::tls::TlsContext::new().expect("TLS context");
    let (report, peak) = probe_measuring_heap("huge", huge.port, Some(tls));
    assert_eq!(report.status, Status::Rdp, "{report:#?}");
    assert!(
        report.tls.as_ref().is_some_and(|t| t.error.is_some()),
        "{report:#?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let taken = huge.accepted.get();
    eprintln!(
        "10 MB certificate probe: heap peak {peak} bytes; the server got {taken} bytes into the socket"
    );
    assert!(peak < 1 << 20, "one probe peaked at {peak} bytes of heap");
    assert!(
        taken < 10 << 20,
        "the probe read the whole 10 MB ({taken} bytes)"
    );
}
