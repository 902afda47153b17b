//! Fuzz entry points for rdpsweep's decoders, one function per cargo-fuzz target.
//!
//! Shared by the fuzz binaries (`fuzz/fuzz_targets/*.rs`) and by `tests/fuzz_corpus.rs`,
//! which includes this file with `#[path]` and replays every committed corpus and crash
//! file through the same functions under plain `cargo test`. So this file may use only
//! `rdpsweep` and `std`.
//!
//! Each function feeds untrusted bytes to a public decoder entry point and, beyond "does not
//! panic", checks a few properties the rest of the program relies on (caps, no control
//! characters in sanitised text, no formula starts in CSV cells).

#![allow(clippy::missing_panics_doc)]

use rdpsweep::analysis::cert;
use rdpsweep::client::{fleet, load, whatif};
use rdpsweep::probe::negotiate::preview;
use rdpsweep::proto::mcs::{self, MAX_CONNECT_RESPONSE_LEN, ServerCertificate};
use rdpsweep::proto::ntlm::{self, ChallengeMessage, NegotiateMessage, TargetInfo};
use rdpsweep::proto::tls::{self, FlightStatus, MAX_FLIGHT_LEN, ServerFlightReader, ServerHello};
use rdpsweep::proto::tsrequest::{self, Frame, MAX_TS_REQUEST_LEN, TsRequest};
use rdpsweep::proto::x224::{self, ConnectionConfirm, MAX_CONFIRM_LEN};
use rdpsweep::report::sanitize::{csv_cell, escape_controls};
use rdpsweep::target::{self, Shard, TargetSet, TargetSpec};

/// A fuzz entry point: takes the fuzzer's bytes, panics on a bug.
pub type EntryPoint = fn(&[u8]);

/// Every fuzz target, by name: what `tests/fuzz_corpus.rs` replays `fuzz/corpus/<name>/`
/// and `fuzz/regressions/<name>/` through.
pub const TARGETS: &[(&str, EntryPoint)] = &[
    ("x224", x224),
    ("target_spec", target_spec),
    ("target_list", target_list),
    ("ports", ports),
    ("sanitize", sanitize),
    ("saved_scan", saved_scan),
    ("tls_flight", tls_flight),
    ("certificate", certificate),
    ("tsrequest", tsrequest),
    ("ntlm", ntlm),
    ("client_state", client_state),
    ("client_fleet", client_fleet),
    ("mcs_response", mcs_response),
];

/// TPKT framing and X.224 Connection Confirm / RDP_NEG decoding (MS-RDPBCGR 2.2.1.2), as
/// `probe::negotiate` applies them to a server's reply, plus the reply preview that ends up
/// in error text.
pub fn x224(data: &[u8]) {
    if let Ok(Some(len)) = x224::frame_len(data) {
        assert!(
            (11..=MAX_CONFIRM_LEN).contains(&len),
            "frame_len let {len} through"
        );
    }
    if let (Ok(a), Ok((b, _))) = (
        x224::decode_confirm(data),
        x224::decode_confirm_with_header(data),
    ) {
        assert_eq!(a, b, "the two decoders disagree");
    }
    match x224::decode_confirm(data) {
        Ok(ConnectionConfirm::Response { flags, selected }) => {
            let _ = flags.names();
            let _ = selected.names();
            let _ = selected.selected_name();
        }
        Ok(ConnectionConfirm::Failure(code)) => {
            let _ = code.name();
        }
        Ok(ConnectionConfirm::Legacy | ConnectionConfirm::Unknown { .. }) | Err(_) => {}
    }
    let shown = preview(data);
    assert!(
        !shown.chars().any(char::is_control),
        "raw control character in preview {shown:?}"
    );
    assert!(
        shown.len() <= 24 * 4 + 8,
        "preview too long: {}",
        shown.len()
    );
}

/// Expands at most a few endpoints of a target set, touching every accessor.
fn expand(specs: Vec<TargetSpec>, excludes: Vec<TargetSpec>, ports: &[u16], shard: Option<Shard>) {
    let Ok(set) = TargetSet::new(specs, excludes, ports, 0x5eed, shard) else {
        return;
    };
    let total = set.len();
    // Iteration permutes only the surviving endpoints, so even a /0 with all but one address
    // excluded yields at once (docs/fuzzing.md, "Findings").
    let mut seen = std::collections::HashSet::new();
    for c in set.iter().take(64) {
        assert!(c.port != 0, "port 0 yielded");
        if let target::Host::Ip(ip) = c.host {
            assert!(!set.is_excluded(ip, c.port), "excluded endpoint yielded");
        }
        assert!(seen.insert((c.host, c.port)), "endpoint yielded twice");
    }
    let seen = seen.len() as u64;
    assert!(seen <= total, "yielded {seen} of a set of {total}");
    if total <= 64 {
        assert_eq!(seen, total, "len() is {total} but {seen} were yielded");
    }
}

/// One target token (`parse_target`), then its lazy expansion.
pub fn target_spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = target::parse_target(text) else {
        return;
    };
    let _ = (spec.token(), spec.port(), spec.name(), spec.address_range());
    let _ = spec.address_count();
    expand(vec![spec], Vec::new(), &[3389], None);
}

/// A target file (`parse_target_list`): the first half of its specs as targets, the rest as
/// exclusions; unsharded or shard 1/3, 2/3 or 3/3 by the input's length.
pub fn target_list(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(mut specs) = target::parse_target_list(&text, "fuzz input") else {
        return;
    };
    if specs.len() > 64 {
        return;
    }
    let excludes = specs.split_off(specs.len() / 2);
    let shard = match data.len() % 4 {
        0 => None,
        i => Shard::new(i as u64, 3).ok(),
    };
    expand(specs, excludes, &[3389, 13389], shard);
}

/// A port list (`parse_ports`): no port 0, no duplicates.
pub fn ports(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ports) = target::parse_ports(text) {
        assert!(!ports.contains(&0), "port 0 accepted from {text:?}");
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ports.len(), "duplicates from {text:?}");
    }
}

/// Characters that must never reach a terminal or CSV cell raw.
fn dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The text sanitisers applied to every server-supplied string: no control or bidi
/// character survives, and no CSV cell starts a formula (OWASP CSV injection).
pub fn sanitize(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let shown = escape_controls(&text);
    assert!(
        !shown.chars().any(dangerous),
        "escape_controls left {shown:?}"
    );
    let cell = csv_cell(&text);
    assert!(!cell.chars().any(dangerous), "csv_cell left {cell:?}");
    match cell.chars().next() {
        Some('=' | '+' | '@' | '\t' | '\r') => panic!("formula cell {cell:?}"),
        Some('-') => assert!(cell.parse::<f64>().is_ok(), "formula cell {cell:?}"),
        _ => {}
    }
}

/// The saved-scan reader behind `report`, `diff` and `--resume` (`report::saved`): any bytes,
/// as JSONL, as a JSON document and undeclared; never a panic, never more records than lines;
/// `saved::merge` of a scan with itself keeps each endpoint once.
pub fn saved_scan(data: &[u8]) {
    use rdpsweep::report::saved::{SavedFormat, parse};
    let lines = data.split(|b| *b == b'\n').count();
    for format in [None, Some(SavedFormat::Jsonl), Some(SavedFormat::Json)] {
        if let Ok(saved) = parse(data, "fuzz", format) {
            assert!(saved.format == SavedFormat::Json || saved.hosts.len() <= lines);
            let resume = rdpsweep::scan::Resume::from_saved(&saved);
            assert!(resume.len() <= saved.hosts.len());
            assert_eq!(saved.at.len(), saved.hosts.len());
            // Merged with itself: every record is kept once or dropped as a duplicate.
            let n = saved.hosts.len();
            if let Ok(m) = rdpsweep::report::saved::merge(vec![saved.clone(), saved]) {
                assert_eq!(m.hosts.len() + m.dropped, 2 * n);
                assert!(m.hosts.len() <= n);
            }
        }
    }
}

/// The server's first TLS flight as the hand-built hello reads it (`proto::tls`): fed whole
/// and in uneven chunks (the two must agree), plus the ServerHello and Certificate body
/// parsers on the raw input. The flight never holds more than its cap of certificates.
pub fn tls_flight(data: &[u8]) {
    let whole = tls::parse_server_flight(data);
    let mut reader = ServerFlightReader::new();
    let mut chunked = Ok(FlightStatus::NeedMore);
    let mut at = 0usize;
    let mut step = 1usize;
    while at < data.len() && matches!(chunked, Ok(FlightStatus::NeedMore)) {
        let end = (at + step).min(data.len());
        chunked = reader.feed(data.get(at..end).unwrap_or_default());
        at = end;
        step = step % 7 + 1;
    }
    match (&whole, &chunked) {
        (Ok(Some(flight)), Ok(FlightStatus::Complete)) => {
            assert_eq!(flight, reader.flight(), "whole and chunked parses differ");
        }
        (Err(_), Ok(FlightStatus::Complete)) | (Ok(Some(_)), Err(_)) => {
            panic!("whole {whole:?} and chunked {chunked:?} disagree");
        }
        _ => {}
    }
    let held: usize = reader.flight().certificates.iter().map(Vec::len).sum();
    assert!(held <= MAX_FLIGHT_LEN, "{held} certificate bytes held");
    let _ = ServerHello::parse(data);
    let _ = tls::parse_certificate_list(data);
}

/// Certificate extraction (`analysis::cert`, x509-parser): a DER certificate from a server.
pub fn certificate(data: &[u8]) {
    let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    if let Ok(parsed) = cert::parse_certificate(data, now) {
        let _ = format!("{parsed:?}");
    }
    let _ = cert::chain_entry(data);
    let _ = cert::bit_length(data);
}

/// A CredSSP TSRequest from a server (`proto::tsrequest`): framing then decoding, as
/// `probe::credssp` applies them.
pub fn tsrequest(data: &[u8]) {
    match tsrequest::frame_len(data, MAX_TS_REQUEST_LEN) {
        Ok(Frame::Complete(len)) => {
            assert!(
                len <= MAX_TS_REQUEST_LEN && len <= data.len(),
                "frame {len}"
            );
            if let Ok(req) = TsRequest::decode(data.get(..len).unwrap_or_default()) {
                for token in &req.nego_tokens {
                    ntlm(token);
                }
                let _ = req.error_code.map(|c| c.name());
            }
        }
        Ok(Frame::NeedMore(n)) => assert!(n > 0, "needs 0 more bytes"),
        Err(_) => {}
    }
    let _ = TsRequest::decode(data);
}

/// NTLM messages (`proto::ntlm`): the server's CHALLENGE (names, AV pairs, version), and the
/// NEGOTIATE and AV-pair parsers on the same bytes.
pub fn ntlm(data: &[u8]) {
    let _ = ntlm::message_type(data);
    if let Ok(challenge) = ChallengeMessage::decode(data) {
        if let Some(info) = &challenge.target_info {
            assert!(
                info.pairs.len() <= ntlm::MAX_AV_PAIRS,
                "{} AV pairs",
                info.pairs.len()
            );
            let _ = info.timestamp();
            let _ = info.flags();
        }
        let _ = challenge.flags.names();
    }
    let _ = NegotiateMessage::decode(data);
    let info = TargetInfo::parse(data);
    assert!(info.pairs.len() <= ntlm::MAX_AV_PAIRS);
    let (text, _) = ntlm::utf16le_escaped(data);
    assert!(
        text.len() <= data.len() * 6 + 8,
        "escaped text grew too much"
    );
}

/// A client-state file (`client::load::parse_client_state`: UTF-8/UTF-16 decoding, format
/// detection, `.reg` export, `reg query` output, JSON and TOML profiles), under every
/// extension the CLI passes, then its interpretation as a client profile.
pub fn client_state(data: &[u8]) {
    for ext in [None, Some("reg"), Some("txt"), Some("json"), Some("toml")] {
        if let Ok(state) = load::parse_client_state(data, ext) {
            let _ = load::state_to_profile(state, "fuzz", "fuzz input");
        }
    }
}

/// A fleet CSV (`client::fleet::parse_fleet`) and a `--what-if` list on the same text.
pub fn client_fleet(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = fleet::parse_fleet(&text, "fuzz input");
    if let Ok(changes) = whatif::parse_what_if(&text) {
        let _ = whatif::describe(&changes);
    }
}

/// The server's MCS Connect Response (`proto::mcs`): framing, then decoding of the frame as the
/// probe applies them, and decoding of the raw input. A framed length is within
/// `8..=MAX_CONNECT_RESPONSE_LEN`; a decoded response never holds more bytes (certificates,
/// unknown blocks, channel ids) or more anomaly lines than the input has bytes; every name
/// accessor works; each X.509 certificate goes through the `certificate` entry point.
pub fn mcs_response(data: &[u8]) {
    if let Ok(Some(len)) = mcs::frame_len(data) {
        assert!(
            (8..=MAX_CONNECT_RESPONSE_LEN).contains(&len),
            "frame_len let {len} through"
        );
        if let Some(packet) = data.get(..len) {
            check_mcs_response(packet);
        }
    }
    check_mcs_response(data);
}

fn check_mcs_response(data: &[u8]) {
    let Ok(r) = mcs::decode_connect_response(data) else {
        return;
    };
    let _ = r.result.name();
    let mut held: usize = r.unknown_blocks.iter().map(|b| b.data.len()).sum();
    if let Some(core) = r.core {
        let _ = core.version.name();
        let _ = core.client_requested_protocols.map(|p| p.names());
        let _ = core.early_capability_flags.map(|f| f.names());
    }
    if let Some(net) = &r.network {
        held += net.channel_ids.len() * 2;
    }
    if let Some(sec) = &r.security {
        let _ = sec.encryption_level.name();
        let _ = sec.encryption_method.names();
        let _ = sec.encryption_method.selected_name();
        if let Some(cert) = &sec.certificate {
            let _ = cert.temporary();
            match cert {
                ServerCertificate::X509(chain) => {
                    for der in &chain.certificates {
                        held += der.len();
                        certificate(der);
                    }
                }
                ServerCertificate::Proprietary(p) => {
                    let _ = p.signature_present();
                    assert!(
                        p.signature_len <= data.len(),
                        "signature of {}",
                        p.signature_len
                    );
                }
                ServerCertificate::Unknown { len, .. } => {
                    assert!(*len <= data.len(), "unknown certificate of {len}");
                }
            }
        }
    }
    assert!(
        held <= data.len(),
        "{held} bytes held from {} in",
        data.len()
    );
    assert!(
        r.anomalies.len() <= data.len(),
        "{} anomalies from {} bytes",
        r.anomalies.len(),
        data.len()
    );
}
