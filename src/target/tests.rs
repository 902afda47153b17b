//! Tests of the target grammar, lists and expansion (the permutation, ports and shard parsing
//! have their own tests beside their code).

use std::collections::HashSet;
use std::net::IpAddr;

use super::expand::MAX_SURVIVOR_RUNS;
use super::*;

const RDP: &[u16] = &[3389];

/// Run limits for [`TargetSet::build`]: the default (survivor runs whenever something is
/// skipped) and 0 (always the whole-space walk, the fallback past the limit).
const LAYOUTS: [usize; 2] = [MAX_SURVIVOR_RUNS, 0];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn spec(s: &str) -> TargetSpec {
    parse_target(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn specs(list: &[&str]) -> Vec<TargetSpec> {
    list.iter().map(|s| spec(s)).collect()
}

fn set(targets: &[&str], excludes: &[&str], ports: &[u16]) -> TargetSet {
    TargetSet::new(specs(targets), specs(excludes), ports, DEFAULT_SEED, None).unwrap()
}

/// Collects the set, checking that `len()` is exact and nothing repeats.
fn collect(set: &TargetSet) -> Vec<Candidate> {
    let all: Vec<Candidate> = set.iter().collect();
    assert_eq!(
        all.len() as u64,
        set.len(),
        "len() differs from the iteration"
    );
    let unique: HashSet<(Host, u16)> = all.iter().map(|c| (c.host.clone(), c.port)).collect();
    assert_eq!(unique.len(), all.len(), "an endpoint was yielded twice");
    all
}

fn endpoints(set: &TargetSet) -> HashSet<(String, u16)> {
    collect(set)
        .into_iter()
        .map(|c| (c.target, c.port))
        .collect()
}

fn range_of(s: &str) -> (IpAddr, IpAddr) {
    spec(s).address_range().unwrap()
}

fn err(s: &str) -> String {
    match parse_target(s) {
        Ok(t) => panic!("{s:?} was accepted as {t:?}"),
        Err(e) => e.to_string(),
    }
}

// ---------------------------------------------------------------- grammar: accepted forms

#[test]
fn single_addresses() {
    let t = spec("10.0.0.7");
    assert_eq!(t.address_range(), Some((ip("10.0.0.7"), ip("10.0.0.7"))));
    assert_eq!(t.port(), None);
    assert_eq!(t.token(), "10.0.0.7");
    assert_eq!(t.address_count(), Some(1));

    let t = spec("  10.0.0.7:3390 ");
    assert_eq!(range_of("10.0.0.7:3390"), (ip("10.0.0.7"), ip("10.0.0.7")));
    assert_eq!(t.port(), Some(3390));
    assert_eq!(t.token(), "10.0.0.7:3390");
    assert_eq!(t.to_string(), "10.0.0.7:3390");

    assert_eq!(range_of("fd00::7"), (ip("fd00::7"), ip("fd00::7")));
    assert_eq!(range_of("[fd00::7]"), (ip("fd00::7"), ip("fd00::7")));
    assert_eq!(spec("[fd00::7]").port(), None);
    assert_eq!(spec("[fd00::7]:3390").port(), Some(3390));
    assert_eq!(range_of("::1"), (ip("::1"), ip("::1")));
    assert_eq!(range_of("[::1]:1"), (ip("::1"), ip("::1")));
    assert_eq!(spec("[::1]:65535").port(), Some(65535));
    // An unbracketed IPv6 address ending in a group that looks like a port is an address.
    assert_eq!(spec("fd00::1:3389").port(), None);
    assert_eq!(
        range_of("::ffff:10.0.0.1"),
        (ip("::ffff:10.0.0.1"), ip("::ffff:10.0.0.1"))
    );
}

#[test]
fn cidr_blocks() {
    assert_eq!(range_of("10.0.0.0/24"), (ip("10.0.0.0"), ip("10.0.0.255")));
    assert_eq!(spec("10.0.0.0/24").address_count(), Some(256));
    // Host bits are accepted and cleared.
    assert_eq!(range_of("10.0.0.77/24"), (ip("10.0.0.0"), ip("10.0.0.255")));
    assert_eq!(range_of("10.0.0.7/32"), (ip("10.0.0.7"), ip("10.0.0.7")));
    assert_eq!(
        range_of("10.1.2.3/8"),
        (ip("10.0.0.0"), ip("10.255.255.255"))
    );
    assert_eq!(
        range_of("192.0.2.4/0"),
        (ip("0.0.0.0"), ip("255.255.255.255"))
    );
    let t = spec("10.0.0.0/24:3390");
    assert_eq!(t.port(), Some(3390));
    assert_eq!(t.address_count(), Some(256));
    assert_eq!(range_of("fd00::/120"), (ip("fd00::"), ip("fd00::ff")));
    assert_eq!(
        range_of("fd00::1234/120"),
        (ip("fd00::1200"), ip("fd00::12ff"))
    );
    assert_eq!(
        range_of("[fd00::/120]:3390"),
        (ip("fd00::"), ip("fd00::ff"))
    );
    assert_eq!(spec("[fd00::/120]:3390").port(), Some(3390));
    assert_eq!(spec("fd00::/128").address_count(), Some(1));
    assert_eq!(spec("::/0").address_count(), None);
    assert_eq!(spec("fd00::/64").address_count(), Some(1 << 64));
}

#[test]
fn ranges() {
    assert_eq!(
        range_of("10.0.0.1-10.0.0.50"),
        (ip("10.0.0.1"), ip("10.0.0.50"))
    );
    assert_eq!(range_of("10.0.0.1-50"), (ip("10.0.0.1"), ip("10.0.0.50")));
    assert_eq!(range_of("10.0.0.1-1"), (ip("10.0.0.1"), ip("10.0.0.1")));
    assert_eq!(range_of("10.0.0.0-255"), (ip("10.0.0.0"), ip("10.0.0.255")));
    assert_eq!(
        range_of("10.0.0.250-10.0.1.5"),
        (ip("10.0.0.250"), ip("10.0.1.5"))
    );
    assert_eq!(spec("10.0.0.1-50:3390").port(), Some(3390));
    assert_eq!(spec("10.0.0.1-10.0.0.50").address_count(), Some(50));
    assert_eq!(
        range_of("fd00::1-fd00::ff"),
        (ip("fd00::1"), ip("fd00::ff"))
    );
    assert_eq!(
        range_of("[fd00::1-fd00::ff]:3390"),
        (ip("fd00::1"), ip("fd00::ff"))
    );
    assert_eq!(spec("[fd00::1-fd00::ff]:3390").port(), Some(3390));
}

#[test]
fn host_names() {
    for (token, name, port) in [
        ("rdp01", "rdp01", None),
        ("RDP01.Corp.Example", "RDP01.Corp.Example", None),
        ("rdp01.corp.example.", "rdp01.corp.example.", None),
        ("rdp01.corp.example:3390", "rdp01.corp.example", Some(3390)),
        ("my-host", "my-host", None),
        ("my-host-1:3389", "my-host-1", Some(3389)),
        ("win_srv01.ad.example", "win_srv01.ad.example", None),
        ("xn--bcher-kva.example", "xn--bcher-kva.example", None),
        ("localhost", "localhost", None),
        ("1host.example", "1host.example", None),
        ("10.0.0.1.example", "10.0.0.1.example", None),
    ] {
        let t = spec(token);
        assert_eq!(t.name(), Some(name), "{token}");
        assert_eq!(t.port(), port, "{token}");
        assert_eq!(t.address_range(), None);
        assert_eq!(t.address_count(), Some(1));
    }
    let label = "a".repeat(63);
    assert!(parse_target(&format!("{label}.example")).is_ok());
    let long = [label.as_str(); 4].join(".");
    assert_eq!(long.len(), 255);
    let just_fits = format!("{}.{}", &long[..249], "ab");
    assert_eq!(just_fits.len(), 252);
    assert!(parse_target(&just_fits).is_ok(), "{just_fits}");
}

// ---------------------------------------------------------------- grammar: rejected forms

#[test]
fn rejects_bad_tokens_with_their_text() {
    for (token, needle) in [
        ("10.0.0.300", "not a valid IPv4 address"),
        ("10.1", "not a valid IPv4 address"),
        ("192.0.2.4.5", "not a valid IPv4 address"),
        ("192.0.02.1", "not a valid IPv4 address"),
        ("10.0.0.0/33", "longer than /32"),
        ("fd00::/129", "longer than /128"),
        ("10.0.0.0/", "prefix length"),
        ("10.0.0.0/abc", "prefix length"),
        ("10.0.0.0/-1", "prefix length"),
        ("10.0.0.0/0024", "prefix length"),
        ("abc/24", "not an IP address"),
        ("10.0.0.300/24", "not an IP address"),
        ("host:99999", "99999 is out of range"),
        ("host:65536", "out of range"),
        ("host:0", "port 0"),
        ("host:", "missing port"),
        ("host:abc", "not a number"),
        ("host:-1", "not a number"),
        (":3389", "missing host"),
        ("10.0.0.1:3389:1", "not a valid IPv6 address"),
        ("10.0.0.5-10.0.0.1", "after its end"),
        ("10.0.0.5-1", "after its end"),
        ("fd00::5-fd00::1", "after its end"),
        ("10.0.0.1-300", "last octet 300"),
        ("10.0.0.1-", "neither an IPv4 address nor a last octet"),
        ("10.0.0.1-abc", "neither an IPv4 address nor a last octet"),
        ("10.0.0.1-fd00::1", "different address families"),
        ("fd00::1-10.0.0.1", "different address families"),
        ("fd00::1-5", "IPv6 ranges need the full end address"),
        ("2001:db8::1:99999", "[address]:port"),
        ("2001:db8:0:0:0:0:0:1:3389", "[address]:port"),
        ("fe80::1%eth0", "zone"),
        ("fd00::zz", "not a valid IPv6 address"),
        ("[10.0.0.1]:3389", "brackets are only for IPv6"),
        ("[10.0.0.0/24]", "brackets are only for IPv6"),
        ("[host]:3389", "not an IPv6 address"),
        ("[]", "missing host"),
        ("[]:3389", "missing host"),
        ("[fd00::1", "missing ']'"),
        ("[fd00::1]x", "after ']'"),
        ("[fd00::1]:", "missing port"),
        ("[fd00::1]:0", "port 0"),
        ("[fd00::1]:99999", "out of range"),
        ("fd00::1]", "misplaced"),
        ("host[1]", "misplaced"),
        ("-host", "starts or ends with '-'"),
        ("host-", "starts or ends with '-'"),
        ("a..b", "empty label"),
        (".host", "empty label"),
        ("host..", "empty label"),
        ("host.123", "all digits"),
        ("ho st", "whitespace"),
        ("a,b", "comma"),
        ("host/", "not an IP address"),
        ("hé.example", "not ASCII"),
        ("bücher.example", "xn--"),
        ("host!", "not allowed"),
        ("host\u{0}", "not allowed"),
        ("a*b.example", "not allowed"),
    ] {
        let msg = err(token);
        assert!(
            msg.contains(&format!("'{token}'")),
            "{token:?}: message does not name the token: {msg}"
        );
        assert!(
            msg.contains(needle),
            "{token:?}: expected {needle:?} in: {msg}"
        );
    }
    let label = "a".repeat(64);
    assert!(err(&format!("{label}.example")).contains("longer than 63"));
    let long = vec!["a".repeat(63); 4].join(".");
    assert!(err(&long).contains("more than 253"));
}

#[test]
fn empty_tokens() {
    assert_eq!(parse_target(""), Err(TargetError::Empty));
    assert_eq!(parse_target(" \t\n"), Err(TargetError::Empty));
    assert_eq!(err(""), "empty target");
}

#[test]
fn long_garbage_is_shortened_in_messages() {
    let garbage = "x!".repeat(100_000);
    let msg = err(&garbage);
    assert!(msg.len() < 400, "{} bytes", msg.len());
    assert!(msg.contains('…'));
}

// ---------------------------------------------------------------- lists

#[test]
fn target_lists() {
    let text = "\u{feff}# header comment\n\
                10.0.0.1\n\
                \n\
                10.0.0.2 10.0.0.3,10.0.0.4  # trailing comment\r\n\
                \t rdp01.example:3390 ,, [fd00::1]:3389\n\
                # 10.9.9.9 commented out\n";
    let got: Vec<String> = parse_target_list(text, "targets.txt")
        .unwrap()
        .iter()
        .map(|t| t.token().to_owned())
        .collect();
    assert_eq!(
        got,
        [
            "10.0.0.1",
            "10.0.0.2",
            "10.0.0.3",
            "10.0.0.4",
            "rdp01.example:3390",
            "[fd00::1]:3389"
        ]
    );
    assert_eq!(parse_target_list("", "x").unwrap(), vec![]);
    assert_eq!(parse_target_list("# only\n\n  \n", "x").unwrap(), vec![]);
}

#[test]
fn list_errors_name_origin_and_line() {
    let e = parse_target_list("10.0.0.1\n# c\n10.0.0.2 10.0.0.300\n", "hosts.txt").unwrap_err();
    let msg = e.to_string();
    assert_eq!(
        msg,
        "hosts.txt, line 3: invalid target '10.0.0.300': not a valid IPv4 address (four parts \
         0-255 without leading zeros) nor a host name"
    );
    match e {
        TargetError::AtLine {
            origin,
            line,
            error,
        } => {
            assert_eq!((origin.as_str(), line), ("hosts.txt", 3));
            assert!(matches!(*error, TargetError::InvalidTarget { .. }));
        }
        other => panic!("{other:?}"),
    }
    let msg = parse_target_list("a\r\nb\r\nhost:0\r\n", "<stdin>")
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("<stdin>, line 3: invalid target 'host:0'"),
        "{msg}"
    );
}

// ---------------------------------------------------------------- expansion counts

#[test]
fn cidr_includes_network_and_broadcast() {
    let s = set(&["10.0.0.0/24"], &[], RDP);
    assert_eq!(s.len(), 256);
    let got = endpoints(&s);
    assert_eq!(got.len(), 256);
    assert!(got.contains(&("10.0.0.0".to_owned(), 3389)));
    assert!(got.contains(&("10.0.0.255".to_owned(), 3389)));
    assert_eq!(set(&["fd00::/120"], &[], RDP).len(), 256);
    assert_eq!(set(&["10.0.0.7/32"], &[], RDP).len(), 1);
}

#[test]
fn ranges_and_shorthand_expand_alike() {
    let full = endpoints(&set(&["10.0.0.1-10.0.0.50"], &[], RDP));
    let short = endpoints(&set(&["10.0.0.1-50"], &[], RDP));
    assert_eq!(full.len(), 50);
    assert_eq!(full, short);
    assert!(full.contains(&("10.0.0.1".to_owned(), 3389)));
    assert!(full.contains(&("10.0.0.50".to_owned(), 3389)));
    assert!(!full.contains(&("10.0.0.51".to_owned(), 3389)));
    let across = endpoints(&set(&["10.0.0.250-10.0.1.5"], &[], RDP));
    assert_eq!(across.len(), 12);
    let v6 = endpoints(&set(&["fd00::1-fd00::10"], &[], RDP));
    assert_eq!(v6.len(), 16);
    assert!(v6.contains(&("fd00::10".to_owned(), 3389)));
}

#[test]
fn ports_default_and_override() {
    let s = set(
        &["10.0.0.0/30", "10.0.1.0/30:443", "rdp01"],
        &[],
        &[3389, 3390, 3389],
    );
    let got = endpoints(&s);
    assert_eq!(got.len(), 4 * 2 + 4 + 2);
    assert!(got.contains(&("10.0.0.3".to_owned(), 3390)));
    assert!(got.contains(&("10.0.1.3".to_owned(), 443)));
    assert!(!got.contains(&("10.0.1.3".to_owned(), 3389)));
    assert!(got.contains(&("rdp01".to_owned(), 3390)));
    // Own ports only: an empty default list is fine.
    assert_eq!(set(&["10.0.0.1:3389", "h:1"], &[], &[]).len(), 2);
}

#[test]
fn candidates_carry_host_and_display() {
    let c = collect(&set(&["[fd00::7]:3390"], &[], RDP));
    assert_eq!(
        c,
        vec![Candidate {
            target: "fd00::7".to_owned(),
            host: Host::Ip(ip("fd00::7")),
            port: 3390
        }]
    );
    let c = collect(&set(&["Rdp01.Example."], &[], RDP));
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].target, "Rdp01.Example.");
    assert_eq!(c[0].host, Host::Name("Rdp01.Example.".to_owned()));
    assert_eq!(c[0].host.to_string(), "Rdp01.Example.");
    assert_eq!(Host::Ip(ip("10.0.0.1")).to_string(), "10.0.0.1");
}

#[test]
fn set_errors() {
    let e = TargetSet::new(specs(&["10.0.0.1", "fd00::/64"]), vec![], RDP, 1, None).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("'fd00::/64'") && msg.contains("18446744073709551616"),
        "{msg}"
    );
    let e = TargetSet::new(specs(&["::/0"]), vec![], RDP, 1, None).unwrap_err();
    assert!(e.to_string().contains("2^32"), "{e}");
    assert!(matches!(e, TargetError::TooLarge { .. }));
    // 2^32 addresses is still allowed (and cheap: nothing is materialised).
    let s = TargetSet::new(specs(&["fd00::/96"]), vec![], RDP, 1, None).unwrap();
    assert_eq!(s.len(), 1 << 32);
    let s = TargetSet::new(specs(&["0.0.0.0/0"]), vec![], &[3389, 3390], 1, None).unwrap();
    assert_eq!(s.len(), 2 << 32);
    // Large blocks are fine as exclusions.
    let s = TargetSet::new(
        specs(&["fd00::/120", "10.0.0.1"]),
        specs(&["::/0"]),
        RDP,
        1,
        None,
    )
    .unwrap();
    assert_eq!(
        endpoints(&s),
        HashSet::from([("10.0.0.1".to_owned(), 3389)])
    );

    let e = TargetSet::new(specs(&["10.0.0.1:3389", "rdp01"]), vec![], &[], 1, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no port for target 'rdp01': it has no ':PORT' and the default port list is empty"
    );
    assert_eq!(
        TargetSet::new(specs(&["h"]), vec![], &[3389, 0], 1, None).unwrap_err(),
        TargetError::ZeroDefaultPort
    );
    let bad_shard = Shard { index: 0, count: 2 };
    let e = TargetSet::new(specs(&["h"]), vec![], RDP, 1, Some(bad_shard)).unwrap_err();
    assert!(e.to_string().contains("'0/2'"), "{e}");
    let empty = TargetSet::new(vec![], vec![], RDP, 1, None).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.iter().count(), 0);
}

// ---------------------------------------------------------------- dedup and exclusions

#[test]
fn dedup_across_overlapping_specs() {
    let s = set(
        &[
            "10.0.0.0/24",
            "10.0.0.128/25",
            "10.0.0.5",
            "10.0.0.1-10",
            "10.0.0.0/24",
        ],
        &[],
        RDP,
    );
    assert_eq!(s.total_before_dedup(), 256 + 128 + 1 + 10 + 256);
    assert_eq!(s.len(), 256);
    assert_eq!(endpoints(&s).len(), 256);
    // A different port is a different endpoint; the same port is not.
    let s = set(&["10.0.0.0/24", "10.0.0.5:3389", "10.0.0.5:443"], &[], RDP);
    assert_eq!(s.len(), 257);
    // Partial overlap of ranges.
    let s = set(
        &["10.0.0.0-10.0.0.99", "10.0.0.50-10.0.0.149"],
        &[],
        &[3389, 3390],
    );
    assert_eq!(s.len(), 150 * 2);
    // Same addresses written in IPv4 and IPv6-mapped form are different endpoints.
    assert_eq!(set(&["10.0.0.1", "::ffff:10.0.0.1"], &[], RDP).len(), 2);
}

#[test]
fn dedup_names_case_insensitively() {
    let s = set(
        &[
            "Rdp01.Example",
            "rdp01.example.",
            "RDP01.EXAMPLE:3389",
            "rdp01.example:443",
            "rdp02",
        ],
        &[],
        &[3389, 3390],
    );
    let got = collect(&s);
    assert_eq!(got.len(), 2 + 1 + 2);
    for c in &got {
        if c.target.eq_ignore_ascii_case("rdp01.example") && c.port != 443 {
            assert_eq!(c.target, "Rdp01.Example", "the first spelling wins");
        }
    }
    assert!(got.iter().any(|c| c.port == 443));
}

#[test]
fn dedup_keeps_the_first_owner() {
    // The second token owns nothing it shares with the first: its display form would be the
    // same anyway for addresses, so check through names.
    let s = set(&["host:3389", "HOST"], &[], &[3389, 3390]);
    let got = collect(&s);
    assert_eq!(got.len(), 2);
    let on_3389 = got.iter().find(|c| c.port == 3389).unwrap();
    assert_eq!(on_3389.target, "host");
    let on_3390 = got.iter().find(|c| c.port == 3390).unwrap();
    assert_eq!(on_3390.target, "HOST");
}

#[test]
fn exclusions() {
    let ports = &[3389, 3390];
    let s = set(&["10.0.0.0/24"], &["10.0.0.0/28"], ports);
    assert_eq!(s.len(), 240 * 2);
    assert!(!endpoints(&s).contains(&("10.0.0.15".to_owned(), 3389)));
    assert!(endpoints(&s).contains(&("10.0.0.16".to_owned(), 3389)));
    // Port-specific exclusion.
    let s = set(&["10.0.0.0/24"], &["10.0.0.5:3389"], ports);
    assert_eq!(s.len(), 511);
    let got = endpoints(&s);
    assert!(!got.contains(&("10.0.0.5".to_owned(), 3389)));
    assert!(got.contains(&("10.0.0.5".to_owned(), 3390)));
    // Ranges, exclusions larger than the target, and exclusions that match nothing.
    let s = set(
        &["10.0.0.0/24", "10.1.1.0/24", "fd00::/120"],
        &[
            "10.0.0.10-20",
            "10.1.0.0/16",
            "192.168.0.0/16",
            "nothing.example",
        ],
        ports,
    );
    assert_eq!(
        s.len(),
        (256 - 11 + 256) * 2,
        "the /16 exclusion covers all of 10.1.1.0/24"
    );
    // IPv6 exclusions leave IPv4 alone.
    let s = set(&["10.0.0.0/30", "fd00::/126"], &["::/0"], RDP);
    assert_eq!(s.len(), 4);
    // Names by exact (case-insensitive) name, with or without port.
    let s = set(
        &["a.example", "b.example", "c.example"],
        &["A.EXAMPLE.", "b.example:3390"],
        ports,
    );
    let got = endpoints(&s);
    assert_eq!(
        got,
        HashSet::from([
            ("b.example".to_owned(), 3389),
            ("c.example".to_owned(), 3389),
            ("c.example".to_owned(), 3390),
        ])
    );
    // Everything excluded.
    let s = set(&["10.0.0.0/24"], &["0.0.0.0/0"], ports);
    assert!(s.is_empty());
    assert_eq!(s.iter().count(), 0);
}

#[test]
fn is_excluded_for_resolved_names() {
    let s = set(
        &["rdp01"],
        &["10.0.0.0/24", "10.0.1.5:3389", "fd00::/64"],
        RDP,
    );
    assert!(s.is_excluded(ip("10.0.0.0"), 3389));
    assert!(s.is_excluded(ip("10.0.0.255"), 1));
    assert!(!s.is_excluded(ip("10.0.1.0"), 3389));
    assert!(s.is_excluded(ip("10.0.1.5"), 3389));
    assert!(!s.is_excluded(ip("10.0.1.5"), 3390));
    assert!(s.is_excluded(ip("fd00::1:2:3:4"), 3389));
    assert!(!s.is_excluded(ip("fd01::"), 3389));
    assert!(!s.is_excluded(ip("::ffff:10.0.0.1"), 3389));
    assert_eq!(s.len(), 1);
}

// ---------------------------------------------------------------- laziness, order, spreading

#[test]
fn slash_eight_is_lazy() {
    let s = set(&["10.0.0.0/8"], &[], &[3389, 3390, 3391]);
    assert_eq!(s.len(), 16_777_216 * 3);
    let first: Vec<Candidate> = s.iter().take(1000).collect();
    assert_eq!(first.len(), 1000);
    let distinct: HashSet<_> = first.iter().map(|c| (c.host.clone(), c.port)).collect();
    assert_eq!(distinct.len(), 1000);
    assert!(first.iter().all(|c| c.target.starts_with("10.")));
    // Constant-size state: the iterator holds a reference and two counters.
    assert!(std::mem::size_of::<Iter<&TargetSet>>() <= 48);
}

#[test]
fn order_is_a_seeded_deterministic_permutation() {
    let build =
        |seed| TargetSet::new(specs(&["10.1.0.0/20"]), vec![], &[3389, 3390], seed, None).unwrap();
    let a: Vec<Candidate> = build(42).iter().collect();
    let b: Vec<Candidate> = build(42).iter().collect();
    let c: Vec<Candidate> = build(43).iter().collect();
    assert_eq!(a, b, "same seed, same order");
    assert_ne!(a, c, "another seed, another order");
    let expected: HashSet<(String, u16)> = (0..4096u32)
        .flat_map(|i| {
            let addr =
                std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(10, 1, 0, 0)) + i);
            [(addr.to_string(), 3389), (addr.to_string(), 3390)]
        })
        .collect();
    let got: HashSet<(String, u16)> = a.iter().map(|c| (c.target.clone(), c.port)).collect();
    assert_eq!(a.len(), 8192);
    assert_eq!(got, expected);
    let got_c: HashSet<(String, u16)> = c.into_iter().map(|c| (c.target, c.port)).collect();
    assert_eq!(got_c, expected);
}

#[test]
fn consecutive_endpoints_are_spread() {
    let s = set(&["10.2.0.0/16"], &[], RDP);
    let octets: Vec<u8> = s
        .iter()
        .map(|c| match c.host {
            Host::Ip(IpAddr::V4(a)) => a.octets()[2],
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(octets.len(), 65536);
    let same = octets.windows(2).filter(|w| w[0] == w[1]).count();
    // A random order puts about 1 pair in 256 in the same /24.
    assert!(
        same < 65536 / 50,
        "{same} consecutive pairs in the same /24"
    );
    // And across several targets, consecutive endpoints do not stick to one target.
    let s = set(
        &["10.3.0.0/24", "10.4.0.0/24", "10.5.0.0/24", "10.6.0.0/24"],
        &[],
        RDP,
    );
    let nets: Vec<String> = s.iter().map(|c| c.target[..5].to_owned()).collect();
    let same = nets.windows(2).filter(|w| w[0] == w[1]).count();
    assert!(
        same < 1023 / 2,
        "{same} of 1023 consecutive pairs in the same target"
    );
}

#[test]
fn iterators_are_send() {
    fn send<T: Send>(_: &T) {}
    fn owned<T: Send + 'static>(_: &T) {}
    let s = set(&["10.0.0.0/30"], &[], RDP);
    send(&s.iter());
    let it = s.clone().into_iter();
    owned(&it);
    assert_eq!(it.count(), 4);
    let arc = std::sync::Arc::new(s);
    let it = Iter::new(std::sync::Arc::clone(&arc));
    owned(&it);
    assert_eq!(it.count(), 4);
    assert_eq!((&*arc).into_iter().count(), 4);
}

// ---------------------------------------------------------------- sharding

fn shards_of(
    targets: &[TargetSpec],
    excludes: &[TargetSpec],
    ports: &[u16],
    seed: u64,
    n: u64,
    max_runs: usize,
) -> Vec<Vec<Candidate>> {
    (1..=n)
        .map(|i| {
            let s = TargetSet::build(
                targets.to_vec(),
                excludes.to_vec(),
                ports,
                seed,
                Some(Shard::new(i, n).unwrap()),
                max_runs,
            )
            .unwrap();
            collect(&s)
        })
        .collect()
}

/// Shards are disjoint, cover the unsharded set exactly, and have exact `len()`s, with either
/// layout.
fn check_shards(targets: &[&str], excludes: &[&str], ports: &[u16], counts: &[u64]) {
    for max_runs in LAYOUTS {
        check_shards_with(targets, excludes, ports, counts, max_runs);
    }
}

fn check_shards_with(
    targets: &[&str],
    excludes: &[&str],
    ports: &[u16],
    counts: &[u64],
    max_runs: usize,
) {
    let (t, e) = (specs(targets), specs(excludes));
    let whole = TargetSet::build(t.clone(), e.clone(), ports, 9, None, max_runs).unwrap();
    let all: HashSet<Candidate> = collect(&whole).into_iter().collect();
    // Shards are even when nothing is skipped or only survivors are permuted.
    let even = whole.len() == whole.permuted_len();
    for &n in counts {
        let shards = shards_of(&t, &e, ports, 9, n, max_runs);
        let mut union = HashSet::new();
        for shard in &shards {
            for c in shard {
                assert!(
                    union.insert(c.clone()),
                    "{targets:?} n={n}: {c:?} in two shards"
                );
            }
        }
        assert_eq!(union, all, "{targets:?} n={n}: shards do not cover the set");
        if even {
            let sizes: Vec<usize> = shards.iter().map(Vec::len).collect();
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(max - min <= 1, "{targets:?} n={n}: sizes {sizes:?}");
        }
    }
}

#[test]
fn shards_are_disjoint_and_cover() {
    let counts = [1, 2, 3, 5, 7, 16, 300];
    check_shards(&["10.0.0.0/24"], &[], RDP, &counts);
    check_shards(
        &["10.0.0.0/22", "fd00::/120", "a", "b:3390"],
        &[],
        &[3389, 3390],
        &counts,
    );
    check_shards(&["10.0.0.1"], &[], RDP, &counts);
    // With duplicates and exclusions (both exact-count paths: few skips, many skips).
    check_shards(
        &["10.0.0.0/22", "10.0.1.7", "10.0.2.0/28"],
        &["10.0.3.0/26"],
        RDP,
        &counts,
    );
    check_shards(
        &["10.0.0.0/24", "10.0.0.0/24", "10.0.0.0/24"],
        &[],
        RDP,
        &counts,
    );
    check_shards(
        &[
            "h1",
            "H1",
            "h2:3389",
            "h2",
            "10.0.0.0/30:3389",
            "10.0.0.0/29",
        ],
        &["h2:3390", "10.0.0.1"],
        &[3389, 3390],
        &counts,
    );
}

#[test]
fn shard_count_paths_on_a_bigger_set() {
    for max_runs in LAYOUTS {
        let build = |t: &[TargetSpec], e: &[TargetSpec], i| {
            let shard = Some(Shard::new(i, 3).unwrap());
            TargetSet::build(t.to_vec(), e.to_vec(), RDP, 5, shard, max_runs).unwrap()
        };
        // Many skips, few positions per shard: with the whole-space walk, counted by a pass over
        // the shard; with survivor runs, by a formula.
        let t = specs(&["10.7.0.0/16", "10.7.0.0/16"]);
        let total: u64 = (1..=3).map(|i| build(&t, &[], i).len()).sum();
        assert_eq!(total, 65536, "max_runs {max_runs}");
        // Few skips: with the whole-space walk, counted through the inverse permutation.
        let t = specs(&["10.7.0.0/16", "10.7.5.0/24"]);
        let e = specs(&["10.7.9.0/24"]);
        let mut sum = 0;
        for i in 1..=3 {
            let s = build(&t, &e, i);
            assert_eq!(s.iter().count() as u64, s.len(), "max_runs {max_runs}");
            sum += s.len();
        }
        assert_eq!(sum, 65536 - 256, "max_runs {max_runs}");
    }
}

// ---------------------------------------------------------------- randomised properties

/// SplitMix64, for reproducible random test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn random_token(rng: &mut Rng) -> String {
    let a = rng.below(4);
    let b = rng.below(256);
    let port = match rng.below(4) {
        0 => format!(":{}", rng.pick(&[3389u16, 3390, 443])),
        _ => String::new(),
    };
    match rng.below(6) {
        0 => format!("10.0.{a}.{b}{port}"),
        1 => format!(
            "10.0.{a}.{}/{}{port}",
            b,
            rng.pick(&[24u8, 26, 28, 30, 32, 23])
        ),
        2 => {
            let c = b + rng.below(256 - b);
            format!("10.0.{a}.{b}-{c}{port}")
        }
        3 => {
            let v6 = format!("fd00::{:x}/{}", b, rng.pick(&[120u8, 124, 128]));
            if port.is_empty() {
                v6
            } else {
                format!("[{v6}]{port}")
            }
        }
        4 => format!(
            "{}{port}",
            rng.pick(&["h1", "H1", "h2.example", "h2.example.", "h3"])
        ),
        _ => {
            let end = if a < 3 {
                format!("10.0.{}.{}", a + 1, rng.below(256))
            } else {
                format!("10.0.3.{}", b + rng.below(256 - b))
            };
            format!("10.0.{a}.{b}-{end}{port}")
        }
    }
}

/// The reference semantics: expand everything eagerly, in order, first occurrence wins.
fn naive(targets: &[TargetSpec], excludes: &[TargetSpec], defaults: &[u16]) -> HashSet<Candidate> {
    let key = |h: &Host| match h {
        Host::Ip(a) => a.to_string(),
        Host::Name(n) => format!("name:{}", n.trim_end_matches('.').to_ascii_lowercase()),
    };
    let hosts = |t: &TargetSpec| -> Vec<(String, Host)> {
        match (t.name(), t.address_range()) {
            (Some(n), _) => vec![(n.to_owned(), Host::Name(n.to_owned()))],
            (None, Some((IpAddr::V4(lo), IpAddr::V4(hi)))) => (u32::from(lo)..=u32::from(hi))
                .map(|v| {
                    let a = IpAddr::V4(v.into());
                    (a.to_string(), Host::Ip(a))
                })
                .collect(),
            (None, Some((IpAddr::V6(lo), IpAddr::V6(hi)))) => (u128::from(lo)..=u128::from(hi))
                .map(|v| {
                    let a = IpAddr::V6(v.into());
                    (a.to_string(), Host::Ip(a))
                })
                .collect(),
            _ => unreachable!(),
        }
    };
    // Exclusions are checked by containment, not expanded, so they may be huge.
    let excluded = |host: &Host, port: u16| {
        excludes.iter().any(|e| {
            e.port().is_none_or(|p| p == port)
                && match (host, e.name(), e.address_range()) {
                    (Host::Name(_), Some(n), _) => key(host) == key(&Host::Name(n.to_owned())),
                    (Host::Ip(a), _, Some((lo, hi))) => {
                        lo.is_ipv4() == a.is_ipv4() && lo <= *a && *a <= hi
                    }
                    _ => false,
                }
        })
    };
    let mut seen = HashSet::new();
    let mut out = HashSet::new();
    for t in targets {
        let ports = t.port().map_or_else(|| defaults.to_vec(), |p| vec![p]);
        for (target, host) in hosts(t) {
            for &port in &ports {
                if excluded(&host, port) {
                    continue;
                }
                if seen.insert((key(&host), port)) {
                    out.insert(Candidate {
                        target: target.clone(),
                        host: host.clone(),
                        port,
                    });
                }
            }
        }
    }
    out
}

#[test]
fn random_sets_match_the_reference_semantics() {
    let mut rng = Rng(0x5eed);
    for round in 0..150 {
        let n_targets = 1 + rng.below(6);
        let n_excludes = rng.below(3);
        let targets: Vec<TargetSpec> = (0..n_targets)
            .map(|_| spec(&random_token(&mut rng)))
            .collect();
        let excludes: Vec<TargetSpec> = (0..n_excludes)
            .map(|_| spec(&random_token(&mut rng)))
            .collect();
        let options: [&[u16]; 3] = [&[3389], &[3389, 3390], &[443, 3389, 8443]];
        let defaults = *rng.pick(&options);
        let seed = rng.next();
        let expected = naive(&targets, &excludes, defaults);
        let whole =
            TargetSet::new(targets.clone(), excludes.clone(), defaults, seed, None).unwrap();
        let got: HashSet<Candidate> = collect(&whole).into_iter().collect();
        let tokens: Vec<&str> = targets.iter().map(TargetSpec::token).collect();
        let ex: Vec<&str> = excludes.iter().map(TargetSpec::token).collect();
        assert_eq!(
            got, expected,
            "round {round}: {tokens:?} minus {ex:?} on {defaults:?}"
        );
        let n = 1 + rng.below(9);
        let mut union = HashSet::new();
        for shard in shards_of(&targets, &excludes, defaults, seed, n, MAX_SURVIVOR_RUNS) {
            for c in shard {
                assert!(
                    union.insert(c),
                    "round {round}: overlap between shards of {n}"
                );
            }
        }
        assert_eq!(
            union, expected,
            "round {round}: shards of {n}: {tokens:?} minus {ex:?}"
        );
    }
}

// ---------------------------------------------------------------- exclusions that leave little

fn candidate(target: &str, port: u16) -> Candidate {
    Candidate {
        target: target.to_owned(),
        host: target
            .parse()
            .map_or_else(|_| Host::Name(target.to_owned()), Host::Ip),
        port,
    }
}

/// Checks that shards 1..=n of a set partition `expected` with sizes differing by at most one
/// and exact `len()`s.
fn check_survivor_shards(
    targets: &[&str],
    excludes: &[&str],
    ports: &[u16],
    expected: &HashSet<Candidate>,
    counts: &[u64],
) {
    let (t, e) = (specs(targets), specs(excludes));
    for &n in counts {
        let shards = shards_of(&t, &e, ports, 11, n, MAX_SURVIVOR_RUNS);
        let mut union = HashSet::new();
        for c in shards.iter().flatten() {
            assert!(union.insert(c.clone()), "n={n}: {c:?} in two shards");
        }
        assert_eq!(&union, expected, "n={n}");
        let sizes: Vec<usize> = shards.iter().map(Vec::len).collect();
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(max - min <= 1, "n={n}: sizes {sizes:?}");
    }
}

/// The whole-space walk visited all 2^32 positions of the `/0` to find the one survivor
/// (minutes); the survivor runs hold exactly that one endpoint.
#[test]
fn slash_zero_minus_all_but_one_address_yields_just_it() {
    let excludes = ["0.0.0.0-127.0.0.0", "127.0.0.2-255.255.255.255"];
    let s = set(&["0.0.0.0/0"], &excludes, RDP);
    assert_eq!(s.total_before_dedup(), 1 << 32);
    assert_eq!((s.len(), s.permuted_len()), (1, 1));
    assert_eq!(collect(&s), vec![candidate("127.0.0.1", 3389)]);

    // The same survivor owned by an earlier target: the later /0 contributes nothing.
    let s = set(&["127.0.0.1", "0.0.0.0/0"], &excludes, &[3389, 3390]);
    assert_eq!((s.len(), s.permuted_len()), (2, 2));
    let expected = HashSet::from([candidate("127.0.0.1", 3389), candidate("127.0.0.1", 3390)]);
    assert_eq!(collect(&s).into_iter().collect::<HashSet<_>>(), expected);
    check_survivor_shards(
        &["127.0.0.1", "0.0.0.0/0"],
        &excludes,
        &[3389, 3390],
        &expected,
        &[1, 2, 3, 64],
    );
}

/// A few survivors of a `/0` on two ports, with port-specific exclusions, a name and a
/// duplicate `/8`; every shard count.
#[test]
fn slash_zero_minus_all_but_a_few_endpoints_on_several_ports() {
    let targets = ["0.0.0.0/0", "rdp01", "10.0.0.0/8:3390"];
    let excludes = [
        "0.0.0.0-10.0.0.0",
        "10.0.0.2-10.0.0.9",
        "10.0.0.11-192.168.0.0",
        "192.168.0.2-255.255.255.255",
        "10.0.0.10:3390",
        "rdp01:3389",
    ];
    let ports = &[3389, 3390];
    let expected = HashSet::from([
        candidate("10.0.0.1", 3389),
        candidate("10.0.0.1", 3390),
        candidate("10.0.0.10", 3389),
        candidate("192.168.0.1", 3389),
        candidate("192.168.0.1", 3390),
        candidate("rdp01", 3390),
    ]);
    let s = set(&targets, &excludes, ports);
    assert_eq!(s.total_before_dedup(), (2 << 32) + 2 + (1 << 24));
    assert_eq!((s.len(), s.permuted_len()), (6, 6));
    assert_eq!(collect(&s).into_iter().collect::<HashSet<_>>(), expected);
    check_survivor_shards(
        &targets,
        &excludes,
        ports,
        &expected,
        &[1, 2, 3, 4, 5, 6, 7],
    );
    // Deterministic for a seed.
    let order = |seed| {
        TargetSet::new(specs(&targets), specs(&excludes), ports, seed, None)
            .unwrap()
            .iter()
            .collect::<Vec<_>>()
    };
    assert_eq!(order(1), order(1));
}

/// Huge IPv6 targets (2^32 + 2^32 + 2^31 addresses on two ports) with all but seven
/// addresses excluded, one port excluded everywhere, and a duplicate /97.
#[test]
fn huge_ipv6_ranges_minus_almost_everything() {
    let targets = ["fd00::/96", "fd00::1:0:0/96", "fd00::/97"];
    let excludes = [
        "::-fd00::1:1",
        "fd00::1:3-fd00::ffff:fffe",
        "fd00::1:0:5-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "[::/0]:3390",
    ];
    let ports = &[3389, 3390];
    let expected: HashSet<Candidate> = [
        "fd00::1:2",
        "fd00::ffff:ffff",
        "fd00::1:0:0",
        "fd00::1:0:1",
        "fd00::1:0:2",
        "fd00::1:0:3",
        "fd00::1:0:4",
    ]
    .into_iter()
    .map(|a| candidate(a, 3389))
    .collect();
    let s = set(&targets, &excludes, ports);
    assert_eq!(s.total_before_dedup(), ((2 << 32) + (1 << 31)) * 2);
    assert_eq!((s.len(), s.permuted_len()), (7, 7));
    assert_eq!(collect(&s).into_iter().collect::<HashSet<_>>(), expected);
    check_survivor_shards(&targets, &excludes, ports, &expected, &[1, 2, 3, 7, 8]);
    // Everything excluded: empty at once.
    let s = set(&targets, &["fd00::/16"], ports);
    assert_eq!((s.len(), s.permuted_len()), (0, 0));
    assert_eq!(s.iter().count(), 0);
}

/// Without duplicates or exclusions the whole index space is permuted, as before survivor
/// runs existed: the same order for the same seed.
#[test]
fn sets_without_skips_keep_the_whole_space_order() {
    let targets = specs(&["10.1.0.0/20", "fd00::/120", "h1", "h2:3390"]);
    for shard in [None, Some(Shard::new(2, 3).unwrap())] {
        let orders: Vec<Vec<Candidate>> = LAYOUTS
            .iter()
            .map(|&max_runs| {
                let s =
                    TargetSet::build(targets.clone(), vec![], &[3389, 3390], 4, shard, max_runs)
                        .unwrap();
                assert_eq!(s.permuted_len(), s.total_before_dedup());
                collect(&s)
            })
            .collect();
        assert_eq!(orders[0], orders[1], "{shard:?}");
    }
}

/// Past the run limit the set falls back to the whole-space walk, with the same endpoints.
#[test]
fn survivor_runs_are_capped() {
    // 10.0.0.0/24 minus .0, .2, .4 survives as three runs: .1, .3, .5-.255.
    let build = |max_runs| {
        TargetSet::build(
            specs(&["10.0.0.0/24"]),
            specs(&["10.0.0.0", "10.0.0.2", "10.0.0.4"]),
            RDP,
            DEFAULT_SEED,
            None,
            max_runs,
        )
        .unwrap()
    };
    let (runs, walk) = (build(3), build(2));
    assert_eq!((runs.len(), runs.permuted_len()), (253, 253));
    assert_eq!((walk.len(), walk.permuted_len()), (253, 256));
    let a: HashSet<Candidate> = collect(&runs).into_iter().collect();
    let b: HashSet<Candidate> = collect(&walk).into_iter().collect();
    assert_eq!(a, b);
    assert_eq!(a.len(), 253);
}

/// Ranges covering `0..=max` except the sorted, distinct values of `keep`.
fn gaps(keep: &[u128], max: u128) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    let mut from = Some(0u128);
    for &k in keep {
        if let Some(f) = from
            && f < k
        {
            out.push((f, k - 1));
        }
        from = k.checked_add(1);
    }
    if let Some(f) = from
        && f <= max
    {
        out.push((f, max));
    }
    out
}

/// Exclusions leaving only a few random addresses of 10.0.0.0/22 and fd00::/120 (where
/// [`random_token`] puts its addresses): the complement of those few over the whole family,
/// some pieces only on one port.
fn complement_exclusions(rng: &mut Rng) -> Vec<String> {
    let base4 = u128::from(u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0)));
    let base6 = u128::from(ip6("fd00::"));
    let mut out = Vec::new();
    for v6 in [false, true] {
        if rng.below(4) == 0 {
            continue;
        }
        let (base, span, max) = if v6 {
            (base6, 256, u128::MAX)
        } else {
            (base4, 1024, u128::from(u32::MAX))
        };
        let mut keep: Vec<u128> = (0..1 + rng.below(5))
            .map(|_| base + u128::from(rng.below(span)))
            .collect();
        keep.sort_unstable();
        keep.dedup();
        for (lo, hi) in gaps(&keep, max) {
            let show = |v: u128| {
                if v6 {
                    std::net::Ipv6Addr::from(v).to_string()
                } else {
                    std::net::Ipv4Addr::from(u32::try_from(v).unwrap()).to_string()
                }
            };
            let range = format!("{}-{}", show(lo), show(hi));
            out.push(match (rng.below(5), v6) {
                (0, true) => format!("[{range}]:{}", rng.pick(&[3389u16, 3390, 443])),
                (0, false) => format!("{range}:{}", rng.pick(&[3389u16, 3390, 443])),
                _ => range,
            });
        }
    }
    out
}

fn ip6(s: &str) -> std::net::Ipv6Addr {
    s.parse().unwrap()
}

/// Random small targets minus exclusions that remove almost the whole address space: the
/// survivor runs yield exactly the reference set, each endpoint once, with exact `len()`s, in
/// a deterministic order; shards partition it evenly; and the whole-space walk (the fallback
/// past the run limit) yields the same set.
#[test]
fn heavy_exclusions_match_the_reference_and_the_fallback() {
    let mut rng = Rng(0xe8c1_0de5);
    for round in 0..200 {
        let targets: Vec<TargetSpec> = (0..1 + rng.below(6))
            .map(|_| spec(&random_token(&mut rng)))
            .collect();
        let mut ex_tokens = complement_exclusions(&mut rng);
        for _ in 0..rng.below(3) {
            ex_tokens.push(random_token(&mut rng));
        }
        let excludes: Vec<TargetSpec> = ex_tokens.iter().map(|t| spec(t)).collect();
        let options: [&[u16]; 3] = [&[3389], &[3389, 3390], &[443, 3389, 8443]];
        let defaults = *rng.pick(&options);
        let seed = rng.next();
        let tokens: Vec<&str> = targets.iter().map(TargetSpec::token).collect();
        let what = format!("round {round}: {tokens:?} minus {ex_tokens:?} on {defaults:?}");
        let expected = naive(&targets, &excludes, defaults);
        let build = |shard, max_runs| {
            TargetSet::build(
                targets.clone(),
                excludes.clone(),
                defaults,
                seed,
                shard,
                max_runs,
            )
            .unwrap()
        };
        for max_runs in LAYOUTS {
            let got: HashSet<Candidate> = collect(&build(None, max_runs)).into_iter().collect();
            assert_eq!(got, expected, "{what}, max_runs {max_runs}");
        }
        let s = build(None, MAX_SURVIVOR_RUNS);
        assert_eq!(s.permuted_len(), s.len(), "{what}: positions skipped");
        assert_eq!(
            collect(&s),
            collect(&build(None, MAX_SURVIVOR_RUNS)),
            "{what}"
        );
        let n = 1 + rng.below(9);
        for max_runs in LAYOUTS {
            let shards = shards_of(&targets, &excludes, defaults, seed, n, max_runs);
            let mut union = HashSet::new();
            for c in shards.iter().flatten() {
                assert!(
                    union.insert(c.clone()),
                    "{what}: {c:?} in two of {n} shards"
                );
            }
            assert_eq!(
                union, expected,
                "{what}: shards of {n}, max_runs {max_runs}"
            );
            if max_runs == MAX_SURVIVOR_RUNS {
                let sizes: Vec<usize> = shards.iter().map(Vec::len).collect();
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(max - min <= 1, "{what}: shard sizes {sizes:?}");
            }
        }
    }
}

// ---------------------------------------------------------------- never panic on input

fn garbage(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "0",
        "1",
        "9",
        "255",
        "256",
        "300",
        "65535",
        "65536",
        "99999",
        "4294967296",
        ".",
        ":",
        "::",
        "/",
        "-",
        "[",
        "]",
        ",",
        "#",
        " ",
        "\t",
        "\n",
        "\r\n",
        "%",
        "a",
        "Z",
        "x",
        "_",
        "é",
        "\u{0}",
        "\u{feff}",
        "\u{200b}",
        "10.0.0.1",
        "fd00::",
        "ffff",
        "/0",
        "/32",
        "/96",
        "/128",
        "/129",
        "host",
        "xn--",
        "-50",
        ":3389",
        "0x10",
        "::ffff:",
        "192.0.2.4.5",
        "💥",
        "\\",
        "*",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "255.255.255.255",
    ];
    let len = rng.below(12);
    (0..len).map(|_| *rng.pick(PIECES)).collect()
}

#[test]
fn garbage_never_panics() {
    let mut rng = Rng(1);
    let mut accepted = 0;
    for _ in 0..6000 {
        let s = garbage(&mut rng);
        let _ = parse_ports(&s);
        let _ = s.parse::<Shard>();
        let _ = parse_target_list(&s, "fuzz");
        if let Ok(t) = parse_target(&s) {
            accepted += 1;
            // Whatever parses must build (or fail cleanly) and iterate without panicking.
            if let Ok(set) = TargetSet::new(vec![t.clone()], vec![t], RDP, 3, None) {
                assert_eq!(set.len(), 0);
            }
        }
    }
    assert!(
        accepted > 100,
        "only {accepted} garbage strings parsed: the generator is too weak"
    );
    // Random bytes as (lossy) text.
    for _ in 0..3000 {
        let bytes: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        let s = String::from_utf8_lossy(&bytes);
        let _ = parse_ports(&s);
        let _ = parse_target_list(&s, "fuzz");
        let _ = s.parse::<Shard>();
        if let Ok(t) = parse_target(&s)
            && let Ok(set) =
                TargetSet::new(vec![t], vec![], RDP, 3, Some(Shard { index: 1, count: 2 }))
        {
            let _ = set.iter().take(10).count();
        }
    }
}

#[test]
fn extreme_ranges_do_not_overflow() {
    let s = set(
        &[
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120",
            "255.255.255.0/24",
            "0.0.0.0/30",
        ],
        &["ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
        &[1, 65535],
    );
    assert_eq!(s.len(), (240 + 256 + 4) * 2);
    let got = endpoints(&s);
    assert!(got.contains(&("255.255.255.255".to_owned(), 65535)));
    assert!(got.contains(&("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffef".to_owned(), 1)));
    // The top /96 of IPv6 with an exclusion at the very end, sharded: exact counts by the
    // inverse permutation (whole-space walk) or by formula (survivor runs).
    for max_runs in LAYOUTS {
        let lens: Vec<u64> = (1..=2)
            .map(|i| {
                TargetSet::build(
                    specs(&["ffff:ffff:ffff:ffff:ffff:ffff::/96"]),
                    specs(&["ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"]),
                    RDP,
                    1,
                    Some(Shard::new(i, 2).unwrap()),
                    max_runs,
                )
                .unwrap()
                .len()
            })
            .collect();
        assert_eq!(lens.iter().sum::<u64>(), (1u64 << 32) - 2, "{lens:?}");
        assert!(lens.iter().all(|&l| l >= (1 << 31) - 2), "{lens:?}");
    }
}
