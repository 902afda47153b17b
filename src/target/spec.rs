//! One target token: grammar and parsing (see the [module docs](super) for the grammar).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::error::{TargetError, shown};
use super::ports::parse_port_number;

/// Longest host name accepted (RFC 1035 §2.3.4, RFC 1123 §2.1), without a trailing dot.
const MAX_NAME_LEN: usize = 253;
/// Longest label of a host name (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// Address family of an [`AddrRange`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Family {
    V4,
    V6,
}

/// An inclusive range of addresses of one family, as integers (IPv4 in the low 32 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct AddrRange {
    pub(crate) family: Family,
    pub(crate) start: u128,
    pub(crate) end: u128,
}

impl AddrRange {
    pub(crate) fn single(ip: IpAddr) -> Self {
        let (family, v) = to_int(ip);
        Self {
            family,
            start: v,
            end: v,
        }
    }

    /// Number of addresses, `None` when it does not fit a `u128` (only `::/0`).
    pub(crate) fn count(&self) -> Option<u128> {
        self.end.checked_sub(self.start)?.checked_add(1)
    }

    pub(crate) fn contains(&self, family: Family, v: u128) -> bool {
        self.family == family && self.start <= v && v <= self.end
    }
}

pub(crate) fn to_int(ip: IpAddr) -> (Family, u128) {
    match ip {
        IpAddr::V4(a) => (Family::V4, u128::from(u32::from(a))),
        IpAddr::V6(a) => (Family::V6, u128::from(a)),
    }
}

/// The address `v` of `family`; IPv4 values above `u32::MAX` cannot occur for ranges built by
/// the parser and map to `255.255.255.255` rather than panicking.
pub(crate) fn from_int(family: Family, v: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX))),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// What a target names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// Addresses: a single address is a range of one.
    Range(AddrRange),
    /// A host name, as written (resolved later by the scanner).
    Name(String),
}

/// One parsed target: a single address, a CIDR block or an address range (all stored as an
/// inclusive range), or a host name; each with an optional port of its own.
///
/// Built by [`parse_target`] / [`parse_target_list`]; consumed by
/// [`TargetSet::new`](super::TargetSet::new) both as targets and as exclusions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TargetSpec {
    pub(crate) kind: Kind,
    pub(crate) port: Option<u16>,
    pub(crate) token: String,
}

impl TargetSpec {
    /// The token as given (trimmed).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The token's own port (`host:PORT`, `[v6]:PORT`), which overrides the default port list.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The host name, for name targets.
    pub fn name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Name(n) => Some(n),
            Kind::Range(_) => None,
        }
    }

    /// First and last address (inclusive; equal for a single address; a CIDR gives its network
    /// and broadcast address), for address targets.
    pub fn address_range(&self) -> Option<(IpAddr, IpAddr)> {
        match &self.kind {
            Kind::Range(r) => Some((from_int(r.family, r.start), from_int(r.family, r.end))),
            Kind::Name(_) => None,
        }
    }

    /// Number of addresses (1 for a name; `None` only for `::/0`, whose 2^128 does not fit).
    pub fn address_count(&self) -> Option<u128> {
        match &self.kind {
            Kind::Range(r) => r.count(),
            Kind::Name(_) => Some(1),
        }
    }
}

impl fmt::Display for TargetSpec {
    /// The token as given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.token)
    }
}

/// Parses one target token (see the [module docs](super) for the grammar). Leading and trailing
/// whitespace is ignored; whitespace or commas inside are an error (lists go through
/// [`parse_target_list`]).
///
/// The per-target size limit ([`MAX_ADDRESSES_PER_TARGET`](super::MAX_ADDRESSES_PER_TARGET)) is
/// checked by [`TargetSet::new`](super::TargetSet::new), not here, so that large blocks remain
/// usable as exclusions.
pub fn parse_target(s: &str) -> Result<TargetSpec, TargetError> {
    let token = s.trim();
    if token.is_empty() {
        return Err(TargetError::Empty);
    }
    if token.chars().any(|c| c.is_whitespace() || c == ',') {
        return Err(TargetError::invalid(
            token,
            "contains whitespace or a comma; give one target per token",
        ));
    }
    let (host, port, bracketed) = split_port(token)?;
    let kind = parse_host(token, host, bracketed)?;
    Ok(TargetSpec {
        kind,
        port,
        token: token.to_owned(),
    })
}

/// Parses the content of a target file or of stdin: targets separated by whitespace, commas or
/// line breaks (so one per line, or several per line); `#` starts a comment running to the end
/// of the line; blank lines are ignored; a leading UTF-8 byte-order mark is ignored.
///
/// Errors name `origin` (for example the file path or `<stdin>`) and the 1-based line number.
/// An empty list is not an error: the caller decides.
pub fn parse_target_list(text: &str, origin: &str) -> Result<Vec<TargetSpec>, TargetError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut specs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let content = line.split_once('#').map_or(line, |(before, _)| before);
        for token in content.split(|c: char| c.is_whitespace() || c == ',') {
            if token.is_empty() {
                continue;
            }
            let spec = parse_target(token).map_err(|e| TargetError::AtLine {
                origin: shown(origin),
                line: n.saturating_add(1),
                error: Box::new(e),
            })?;
            specs.push(spec);
        }
    }
    Ok(specs)
}

/// Splits `host:port` / `[v6]:port`; returns the host text, the port and whether the host was
/// in brackets.
fn split_port(token: &str) -> Result<(&str, Option<u16>, bool), TargetError> {
    let bad_port = |reason: String| TargetError::invalid(token, reason);
    if let Some(rest) = token.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return Err(TargetError::invalid(token, "missing ']' after '['"));
        };
        if after.is_empty() {
            return Ok((inner, None, true));
        }
        let Some(port) = after.strip_prefix(':') else {
            return Err(TargetError::invalid(
                token,
                format!("unexpected '{}' after ']' (expected ':PORT')", shown(after)),
            ));
        };
        let port = parse_port_number(port).map_err(bad_port)?;
        return Ok((inner, Some(port), true));
    }
    if token.contains(['[', ']']) {
        return Err(TargetError::invalid(
            token,
            "misplaced '[' or ']' (write IPv6 with a port as [address]:port)",
        ));
    }
    let mut colons = token.match_indices(':');
    match (colons.next(), colons.next()) {
        (Some(_), None) => {
            let (host, port) = token.split_once(':').unwrap_or((token, ""));
            if host.is_empty() {
                return Err(TargetError::invalid(token, "missing host before ':'"));
            }
            let port = parse_port_number(port).map_err(bad_port)?;
            Ok((host, Some(port), false))
        }
        // No colon: no port. Two or more: bare IPv6, which cannot carry a port.
        _ => Ok((token, None, false)),
    }
}

fn parse_host(token: &str, host: &str, bracketed: bool) -> Result<Kind, TargetError> {
    let bad = |reason: String| TargetError::invalid(token, reason);
    if host.is_empty() {
        return Err(bad("missing host".to_owned()));
    }
    if let Some(range) = parse_address_form(host).map_err(bad)? {
        if bracketed && range.family == Family::V4 {
            return Err(bad(
                "brackets are only for IPv6; write IPv4 with a port as address:port".to_owned(),
            ));
        }
        return Ok(Kind::Range(range));
    }
    if bracketed {
        return Err(bad(format!(
            "'{}' in brackets is not an IPv6 address, range or CIDR",
            shown(host)
        )));
    }
    if host.contains(':') {
        let reason = if host.contains('%') {
            "IPv6 zone indices ('%') are not supported".to_owned()
        } else if host.rsplit_once(':').is_some_and(|(addr, port)| {
            addr.parse::<Ipv6Addr>().is_ok()
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
        }) {
            "not a valid IPv6 address; to give IPv6 a port write [address]:port".to_owned()
        } else {
            "not a valid IPv6 address".to_owned()
        };
        return Err(bad(reason));
    }
    validate_host_name(host).map_err(bad)?;
    Ok(Kind::Name(host.to_owned()))
}

/// `Ok(Some(range))` for an address, CIDR or range; `Ok(None)` when `host` is not written as an
/// address at all (a host-name candidate, possibly containing '-'); `Err(reason)` for an
/// address form that is wrong.
fn parse_address_form(host: &str) -> Result<Option<AddrRange>, String> {
    if let Some((addr, prefix)) = host.split_once('/') {
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{}' before '/' is not an IP address", shown(addr)))?;
        return parse_cidr(ip, prefix).map(Some);
    }
    if let Some((first, last)) = host.split_once('-') {
        let Ok(start) = first.parse::<IpAddr>() else {
            return Ok(None);
        };
        return parse_range(start, last).map(Some);
    }
    Ok(host.parse::<IpAddr>().ok().map(AddrRange::single))
}

/// CIDR block; host bits are accepted and cleared (`10.0.0.5/24` is `10.0.0.0/24`).
fn parse_cidr(ip: IpAddr, prefix: &str) -> Result<AddrRange, String> {
    let max: u8 = match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "prefix length '/{}' is not a number from 0 to {max}",
            shown(prefix)
        ));
    }
    let len = prefix
        .parse::<u8>()
        .ok()
        .filter(|&l| l <= max)
        .ok_or_else(|| format!("prefix length /{prefix} is longer than /{max}"))?;
    let range = match ip {
        IpAddr::V4(a) => {
            let net = Ipv4Net::new(a, len).map_err(|e| e.to_string())?;
            AddrRange {
                family: Family::V4,
                start: u128::from(u32::from(net.network())),
                end: u128::from(u32::from(net.broadcast())),
            }
        }
        IpAddr::V6(a) => {
            let net = Ipv6Net::new(a, len).map_err(|e| e.to_string())?;
            AddrRange {
                family: Family::V6,
                start: u128::from(net.network()),
                end: u128::from(net.broadcast()),
            }
        }
    };
    Ok(range)
}

/// `START-END` (full end address, same family) or IPv4 `A.B.C.D-E` (last-octet shorthand).
fn parse_range(start: IpAddr, last: &str) -> Result<AddrRange, String> {
    let (family, lo) = to_int(start);
    let hi = if let Ok(end) = last.parse::<IpAddr>() {
        let (end_family, hi) = to_int(end);
        if end_family != family {
            return Err("range start and end are of different address families".to_owned());
        }
        hi
    } else if family == Family::V4
        && !last.is_empty()
        && last.len() <= 3
        && last.bytes().all(|b| b.is_ascii_digit())
    {
        let octet = last
            .parse::<u8>()
            .map_err(|_| format!("last octet {last} is out of range (0-255)"))?;
        (lo & !0xff) | u128::from(octet)
    } else if family == Family::V4 {
        return Err(format!(
            "'{}' after '-' is neither an IPv4 address nor a last octet (0-255)",
            shown(last)
        ));
    } else {
        return Err(format!(
            "'{}' after '-' is not an IPv6 address (IPv6 ranges need the full end address)",
            shown(last)
        ));
    };
    if lo > hi {
        return Err(format!(
            "range start {start} is after its end {}",
            from_int(family, hi)
        ));
    }
    Ok(AddrRange {
        family,
        start: lo,
        end: hi,
    })
}

/// RFC 1123 §2.1 host name, ASCII only: labels of 1-63 letters, digits, '-' (not first or
/// last) and, leniently, '_' (common in Windows/AD names); at most 253 characters; one trailing
/// dot allowed. The last label must not be all digits, which also rejects malformed IPv4
/// (`10.0.0.300`, `10.1`).
fn validate_host_name(host: &str) -> Result<(), String> {
    if !host.is_ascii() {
        return Err(
            "host name is not ASCII; give internationalised names in their IDNA 'xn--' form"
                .to_owned(),
        );
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(
            "not a valid IPv4 address (four parts 0-255 without leading zeros) nor a host name"
                .to_owned(),
        );
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "host name is {} characters long, more than {MAX_NAME_LEN}",
            name.len()
        ));
    }
    let mut last_label = "";
    for label in name.split('.') {
        if label.is_empty() {
            return Err("host name has an empty label (leading or doubled '.')".to_owned());
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!(
                "host name label '{}' is longer than {MAX_LABEL_LEN} characters",
                shown(label)
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(format!(
                "character '{}' is not allowed in a host name",
                c.escape_default()
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "host name label '{}' starts or ends with '-'",
                shown(label)
            ));
        }
        last_label = label;
    }
    if last_label.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "the last label of a host name cannot be all digits ('{}')",
            shown(last_label)
        ));
    }
    Ok(())
}
