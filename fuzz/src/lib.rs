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

use rdpsweep::probe::negotiate::preview;
use rdpsweep::proto::x224::{self, ConnectionConfirm, MAX_CONFIRM_LEN};
use rdpsweep::report::sanitize::{csv_cell, escape_controls};
use rdpsweep::scan::Resume;
use rdpsweep::target::{self, Shard, TargetSet, TargetSpec};

/// Every fuzz target, by name: what `tests/fuzz_corpus.rs` replays `fuzz/corpus/<name>/`
/// and `fuzz/regressions/<name>/` through.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("x224", x224),
    ("target_spec", target_spec),
    ("target_list", target_list),
    ("ports", ports),
    ("sanitize", sanitize),
    ("resume", resume),
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
    match x224::decode_confirm(data) {
        Ok(ConnectionConfirm::Response { flags, selected }) => {
            let _ = flags.names();
            let _ = selected.names();
            let _ = selected.selected_name();
        }
        Ok(ConnectionConfirm::Failure(code)) => {
            let _ = code.name();
        }
        Ok(ConnectionConfirm::Legacy) | Err(_) => {}
    }
    let shown = preview(data);
    assert!(
        !shown.chars().any(char::is_control),
        "raw control character in preview {shown:?}"
    );
    assert!(shown.len() <= 24 * 4 + 8, "preview too long: {}", shown.len());
}

/// Expands at most a few endpoints of a target set, touching every accessor.
fn expand(specs: Vec<TargetSpec>, excludes: Vec<TargetSpec>, ports: &[u16], shard: Option<Shard>) {
    let Ok(set) = TargetSet::new(specs, excludes, ports, 0x5eed, shard) else {
        return;
    };
    let total = set.len();
    let mut seen = 0u64;
    for c in set.iter().take(64) {
        seen += 1;
        assert!(c.port != 0, "port 0 yielded");
        if let target::Host::Ip(ip) = c.host {
            assert!(!set.is_excluded(ip, c.port), "excluded endpoint yielded");
        }
    }
    assert!(seen <= total, "yielded {seen} of a set of {total}");
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
/// exclusions, sharded when the set is small enough for an exact shard count.
pub fn target_list(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(mut specs) = target::parse_target_list(&text, "fuzz input") else {
        return;
    };
    if specs.len() > 64 {
        return;
    }
    let excludes = specs.split_off(specs.len() / 2);
    let small = specs
        .iter()
        .map(|s| s.address_count().unwrap_or(1))
        .sum::<u128>()
        <= 1 << 16;
    let shard = if small { Shard::new(1, 3).ok() } else { None };
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
    assert!(!shown.chars().any(dangerous), "escape_controls left {shown:?}");
    let cell = csv_cell(&text);
    assert!(!cell.chars().any(dangerous), "csv_cell left {cell:?}");
    match cell.chars().next() {
        Some('=' | '+' | '@' | '\t' | '\r') => panic!("formula cell {cell:?}"),
        Some('-') => assert!(cell.parse::<f64>().is_ok(), "formula cell {cell:?}"),
        _ => {}
    }
}

/// The `--resume` reader: any text, never a panic; never more endpoints than lines.
pub fn resume(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let r = Resume::from_jsonl(&text);
    assert!(r.len() + r.unreadable <= text.lines().count());
}
