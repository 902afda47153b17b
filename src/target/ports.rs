//! Port numbers and port lists (`3389`, `3389,13389-13400`).

use super::error::{TargetError, shown};

/// A port number from text: ASCII digits only (no sign, no spaces), value 1-65535.
/// The error is a reason, to be wrapped by the caller with the offending token.
pub(crate) fn parse_port_number(s: &str) -> Result<u16, String> {
    if s.is_empty() {
        return Err("missing port number".to_owned());
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port '{}' is not a number", shown(s)));
    }
    // At most 9 digits fit a u32 without overflow; anything longer is out of range anyway.
    let value = if s.len() <= 9 {
        s.parse::<u32>().unwrap_or(u32::MAX)
    } else {
        u32::MAX
    };
    match u16::try_from(value) {
        Ok(0) => Err("port 0 is not allowed (ports are 1-65535)".to_owned()),
        Ok(port) => Ok(port),
        Err(_) => Err(format!("port {} is out of range (1-65535)", shown(s))),
    }
}

/// Parses a port list: comma-separated items, each a port (`3389`) or an inclusive range
/// (`13389-13400`); spaces around items are allowed. Duplicates are dropped, keeping the first
/// occurrence, so the order given is the order kept.
///
/// Errors (naming the list): empty list or item, non-numeric item, port 0, port above 65535,
/// range whose start is after its end.
pub fn parse_ports(s: &str) -> Result<Vec<u16>, TargetError> {
    let list = s.trim();
    if list.is_empty() {
        return Err(TargetError::ports(list, "empty port list"));
    }
    let mut seen = vec![false; usize::from(u16::MAX) + 1];
    let mut out = Vec::new();
    let mut push = |p: u16, out: &mut Vec<u16>| {
        if let Some(slot) = seen.get_mut(usize::from(p))
            && !*slot
        {
            *slot = true;
            out.push(p);
        }
    };
    for item in list.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(TargetError::ports(
                list,
                "empty item (two commas in a row, or a leading or trailing comma)",
            ));
        }
        let bad = |reason: String| TargetError::ports(list, reason);
        match item.split_once('-') {
            Some((lo, hi)) => {
                let lo = parse_port_number(lo.trim()).map_err(bad)?;
                let hi = parse_port_number(hi.trim()).map_err(bad)?;
                if lo > hi {
                    return Err(bad(format!("range {lo}-{hi} starts after it ends")));
                }
                for p in lo..=hi {
                    push(p, &mut out);
                }
            }
            None => push(parse_port_number(item).map_err(bad)?, &mut out),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_list() {
        assert_eq!(parse_ports("3389").unwrap(), vec![3389]);
        assert_eq!(parse_ports(" 3389 , 443 ").unwrap(), vec![3389, 443]);
        let many = parse_ports("3389,13389-13400").unwrap();
        assert_eq!(many.len(), 13);
        assert_eq!(many.first(), Some(&3389));
        assert_eq!(many.last(), Some(&13400));
        assert_eq!(parse_ports("1-65535").unwrap().len(), 65535);
        assert_eq!(parse_ports("65535").unwrap(), vec![65535]);
        assert_eq!(parse_ports("03389").unwrap(), vec![3389]);
    }

    #[test]
    fn dedup_keeps_first_order() {
        assert_eq!(
            parse_ports("3390,3389,3388-3391,3389").unwrap(),
            vec![3390, 3389, 3388, 3391]
        );
    }

    #[test]
    fn bad_lists_name_the_list() {
        for (bad, needle) in [
            ("", "empty port list"),
            ("  ", "empty port list"),
            ("3389,", "empty item"),
            (",3389", "empty item"),
            ("3389,,443", "empty item"),
            ("0", "port 0"),
            ("99999", "99999"),
            ("65536", "65536"),
            ("12345678901234567890", "out of range"),
            ("abc", "'abc' is not a number"),
            ("+3389", "not a number"),
            ("-3389", "missing port"),
            ("3389-", "missing port"),
            ("3400-3389", "3400-3389"),
            ("1-2-3", "not a number"),
        ] {
            let err = parse_ports(bad).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(&format!("'{}'", bad.trim())), "{bad:?}: {msg}");
            assert!(msg.contains(needle), "{bad:?}: {msg}");
        }
    }
}
