//! Making untrusted text (certificate names, NTLM names, error text) safe to show.
//!
//! Two rules, applied by every writer that needs them:
//! - [`escape_controls`]: control characters (C0, DEL, C1, and the Unicode bidi overrides)
//!   become visible `\xNN` / `\u{NNNN}` escapes, so no server can move the cursor, recolour
//!   the terminal or split a CSV row. JSON needs no escaping of its own beyond serde's.
//! - [`csv_cell`]: additionally neutralises spreadsheet formulas (OWASP "CSV injection"): a
//!   cell that starts with `=`, `+`, `@`, or with `-` and is not a plain number, gets a
//!   leading `'`. Tab and CR cannot start a cell because `escape_controls` already turned
//!   them into text. See `docs/output.md`.

use std::borrow::Cow;

fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Replaces control and bidi-override characters with visible escapes.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_dangerous) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_dangerous(c) {
            let code = u32::from(c);
            if code <= 0xff {
                out.push_str(&format!("\\x{code:02x}"));
            } else {
                out.push_str(&format!("\\u{{{code:04x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A CSV cell that a spreadsheet shows as the text it is.
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    let escaped = escape_controls(s);
    let formula = match escaped.chars().next() {
        Some('=' | '+' | '@') => true,
        Some('-') => escaped.parse::<f64>().is_err(),
        _ => false,
    };
    if formula {
        Cow::Owned(format!("'{escaped}"))
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("+1+1"), "'+1+1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("-2+3"), "'-2+3");
        assert_eq!(csv_cell("-12"), "-12");
        assert_eq!(csv_cell("host-1"), "host-1");
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(escape_controls("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(escape_controls("\tx\r\n"), "\\x09x\\x0d\\x0a");
        assert_eq!(escape_controls("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(csv_cell("\t=1"), "\\x09=1");
        assert!(matches!(escape_controls("plain ünïcode"), Cow::Borrowed(_)));
    }
}
