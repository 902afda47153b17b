//! Parser of regedit `.reg` exports (`Windows Registry Editor Version 5.00`, also `REGEDIT4`).
//!
//! The text is already decoded (regedit writes UTF-16LE with a BOM; see
//! [`super::load::decode_text`]). Grammar, as regedit writes it:
//!
//! ```text
//! Windows Registry Editor Version 5.00
//!
//! [HKEY_LOCAL_MACHINE\SOFTWARE\...\CredSSP\Parameters]
//! "AllowEncryptionOracle"=dword:00000002
//! "Name"="string with \\ and \" escapes"
//! "Blob"=hex:01,02,\
//!   03,04
//! "Multi"=hex(7):41,00,00,00,00,00
//! @="default value"
//! "Gone"=-
//! [-HKEY_...\Deleted]
//! ; comment
//! ```
//!
//! Every key section goes into the snapshot (so a key without the value reads as "absent"),
//! and the snapshot is marked as a tree export: an exported ancestor without a subkey section
//! means the subkey does not exist.

use super::error::ParseError;
use super::registry::{RegValue, RegistrySnapshot};

const HEADER_V5: &str = "Windows Registry Editor Version 5.00";
const HEADER_V4: &str = "REGEDIT4";

/// Whether `first_line` is a `.reg` header.
pub fn is_reg_header(first_line: &str) -> bool {
    let l = first_line.trim_start_matches('\u{feff}').trim();
    l.eq_ignore_ascii_case(HEADER_V5) || l.eq_ignore_ascii_case(HEADER_V4)
}

/// Parses a `.reg` export.
pub fn parse_reg(text: &str) -> Result<RegistrySnapshot, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).peekable();

    // Header: the first non-empty line.
    let unicode = loop {
        match lines.next() {
            None => return Err(ParseError::whole("empty file: not a .reg export")),
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((n, l)) => {
                if !is_reg_header(l) {
                    return Err(ParseError::at(
                        n,
                        format!(
                            "not a .reg export: expected {HEADER_V5:?}, found {:?}",
                            clip(l)
                        ),
                    ));
                }
                break !l
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .eq_ignore_ascii_case(HEADER_V4);
            }
        }
    };

    let mut snap = RegistrySnapshot::new();
    snap.tree_export = true;
    let mut current: Option<String> = None;
    let mut in_deleted = false;
    let mut any_key = false;

    while let Some((n, first)) = lines.next() {
        // Join continuation lines (hex data wrapped with a trailing backslash).
        let mut logical = first.trim_end().to_owned();
        while logical.ends_with('\\') && !logical.trim_start().starts_with('[') {
            logical.pop();
            match lines.peek() {
                Some((_, next)) => {
                    logical.push_str(next.trim());
                    lines.next();
                }
                None => break,
            }
        }
        let line = logical.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(inner) = rest.strip_suffix(']') else {
                return Err(ParseError::at(
                    n,
                    format!("key line without closing ']': {:?}", clip(line)),
                ));
            };
            if inner.starts_with('-') {
                // A deletion request: the key is not part of the exported state.
                current = None;
                in_deleted = true;
                continue;
            }
            if inner.trim().is_empty() {
                return Err(ParseError::at(n, "empty key name"));
            }
            snap.add_key(inner);
            current = Some(inner.to_owned());
            in_deleted = false;
            any_key = true;
            continue;
        }
        let (name, data) = split_value_line(line).map_err(|m| ParseError::at(n, m))?;
        let Some(key) = current.as_deref() else {
            if in_deleted {
                // Values of a deleted key section: ignored.
                continue;
            }
            return Err(ParseError::at(n, "value before any [key] line"));
        };
        if data == "-" {
            snap.remove_value(key, &name);
            continue;
        }
        let value = parse_data(data, unicode)
            .map_err(|m| ParseError::at(n, format!("value {name:?}: {m}")))?;
        snap.set_value(key, &name, value);
    }
    if !any_key && !in_deleted {
        return Err(ParseError::whole(".reg export contains no [key] section"));
    }
    Ok(snap)
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
}

/// Reads a quoted string starting at `s` (which begins with `"`); returns the unescaped text
/// and the rest after the closing quote.
fn quoted(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, '"')) => {}
        _ => return Err("expected '\"'".to_owned()),
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, s.get(i + 1..).unwrap_or(""))),
            '\\' => match chars.next() {
                Some((_, e @ ('\\' | '"'))) => out.push(e),
                Some((_, e)) => {
                    out.push('\\');
                    out.push(e);
                }
                None => return Err("string ends inside an escape".to_owned()),
            },
            c => out.push(c),
        }
    }
    Err("string without closing '\"'".to_owned())
}

fn split_value_line(line: &str) -> Result<(String, &str), String> {
    let (name, rest) = if let Some(rest) = line.strip_prefix('@') {
        (String::new(), rest)
    } else if line.starts_with('"') {
        quoted(line)?
    } else {
        return Err(format!(
            "expected a [key], a \"name\"=value line or a comment, found {:?}",
            clip(line)
        ));
    };
    let Some(data) = rest.trim_start().strip_prefix('=') else {
        return Err(format!("value {name:?} without '='"));
    };
    Ok((name, data.trim()))
}

fn hex_bytes(list: &str) -> Result<Vec<u8>, String> {
    let list = list.trim();
    if list.is_empty() {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(|b| {
            let b = b.trim();
            if b.is_empty() || b.len() > 2 {
                return Err(format!("bad hex byte {b:?}"));
            }
            u8::from_str_radix(b, 16).map_err(|_| format!("bad hex byte {b:?}"))
        })
        .collect()
}

fn utf16_string(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| {
            u16::from_le_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
        .take_while(|u| *u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

fn parse_data(data: &str, unicode: bool) -> Result<RegValue, String> {
    if data.starts_with('"') {
        let (s, rest) = quoted(data)?;
        if !rest.trim().is_empty() {
            return Err(format!("text after the closing quote: {:?}", clip(rest)));
        }
        return Ok(RegValue::String(s));
    }
    let lower = data.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("dword:") {
        let hex = hex.trim();
        if hex.is_empty() || hex.len() > 8 {
            return Err(format!("dword needs 1 to 8 hex digits, found {hex:?}"));
        }
        return u32::from_str_radix(hex, 16)
            .map(RegValue::Dword)
            .map_err(|_| format!("bad dword {hex:?}"));
    }
    if let Some(list) = lower.strip_prefix("hex:") {
        hex_bytes(list)?;
        return Ok(RegValue::Other("REG_BINARY".to_owned()));
    }
    if let Some(rest) = lower.strip_prefix("hex(") {
        let Some((kind, list)) = rest.split_once("):") else {
            return Err(format!("bad typed hex value {:?}", clip(data)));
        };
        let kind =
            u32::from_str_radix(kind.trim(), 16).map_err(|_| format!("bad value type {kind:?}"))?;
        let bytes = hex_bytes(list)?;
        return Ok(match kind {
            1 | 2 if unicode => RegValue::String(utf16_string(&bytes)),
            1 | 2 => RegValue::String(
                bytes
                    .iter()
                    .take_while(|b| **b != 0)
                    .map(|b| char::from(*b))
                    .collect(),
            ),
            4 => match <[u8; 4]>::try_from(bytes.as_slice()) {
                Ok(b) => RegValue::Dword(u32::from_le_bytes(b)),
                Err(_) => return Err(format!("hex(4) needs 4 bytes, found {}", bytes.len())),
            },
            0xb => match <[u8; 8]>::try_from(bytes.as_slice()) {
                Ok(b) => RegValue::Qword(u64::from_le_bytes(b)),
                Err(_) => return Err(format!("hex(b) needs 8 bytes, found {}", bytes.len())),
            },
            k => RegValue::Other(format!("hex({k:x})")),
        });
    }
    Err(format!("unrecognised value data {:?}", clip(data)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::registry::{
        ALLOW_ENCRYPTION_ORACLE, CREDSSP_PARAMETERS, CURRENT_VERSION, ValueState,
    };

    const SAMPLE: &str = "Windows Registry Editor Version 5.00\r\n\r\n\
[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System\\CredSSP\\Parameters]\r\n\
\"AllowEncryptionOracle\"=dword:00000002\r\n\r\n\
[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion]\r\n\
\"CurrentBuild\"=\"19045\"\r\n\
\"UBR\"=dword:00000edb\r\n\
\"PathName\"=\"C:\\\\Windows\"\r\n\
\"DigitalProductId\"=hex:a4,00,00,00,03,00,00,00,30,30,33,33,31,2d,31,30,30,30,\\\r\n  30,2d,30,30,30,30,30\r\n\
\"InstallTime\"=hex(b):d4,a8,a6,3d,8e,2b,da,01\r\n\
\"Expand\"=hex(2):25,00,41,00,25,00,00,00\r\n\
@=\"default\"\r\n";

    #[test]
    fn parses_values_of_every_kind() {
        let s = parse_reg(SAMPLE).unwrap();
        assert_eq!(
            s.value(CREDSSP_PARAMETERS, ALLOW_ENCRYPTION_ORACLE),
            ValueState::Present(&RegValue::Dword(2))
        );
        assert_eq!(
            s.value(CURRENT_VERSION, "UBR"),
            ValueState::Present(&RegValue::Dword(0xedb))
        );
        assert_eq!(
            s.value(CURRENT_VERSION, "currentbuild"),
            ValueState::Present(&RegValue::String("19045".into()))
        );
        assert_eq!(
            s.value(CURRENT_VERSION, "PathName"),
            ValueState::Present(&RegValue::String(r"C:\Windows".into()))
        );
        assert_eq!(
            s.value(CURRENT_VERSION, "InstallTime"),
            ValueState::Present(&RegValue::Qword(0x01da_2b8e_3da6_a8d4))
        );
        assert_eq!(
            s.value(CURRENT_VERSION, "Expand"),
            ValueState::Present(&RegValue::String("%A%".into()))
        );
        assert_eq!(
            s.value(CURRENT_VERSION, ""),
            ValueState::Present(&RegValue::String("default".into()))
        );
    }

    #[test]
    fn key_without_the_value_reads_absent() {
        let text = "Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System\\CredSSP\\Parameters]\n";
        let s = parse_reg(text).unwrap();
        assert_eq!(
            s.value(CREDSSP_PARAMETERS, ALLOW_ENCRYPTION_ORACLE),
            ValueState::Absent
        );
    }

    #[test]
    fn deletions_and_comments() {
        let text = "REGEDIT4\n; comment\n[HKEY_LOCAL_MACHINE\\A]\n\"x\"=dword:1\n\"x\"=-\n[-HKEY_LOCAL_MACHINE\\B]\n\"y\"=dword:2\n";
        let s = parse_reg(text).unwrap();
        assert_eq!(s.value(r"HKLM\A", "x"), ValueState::Absent);
        assert_eq!(s.value(r"HKLM\B", "y"), ValueState::NotCovered);
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number() {
        let cases = [
            ("hello\n", 1, "not a .reg export"),
            (
                "Windows Registry Editor Version 5.00\n\"x\"=dword:1\n",
                2,
                "before any [key]",
            ),
            (
                "Windows Registry Editor Version 5.00\n[HKLM\\A]\n\"x\"=dword:123456789\n",
                3,
                "1 to 8",
            ),
            (
                "Windows Registry Editor Version 5.00\n[HKLM\\A]\n\"x\"=dword:zz\n",
                3,
                "bad dword",
            ),
            (
                "Windows Registry Editor Version 5.00\n[HKLM\\A\n",
                2,
                "closing",
            ),
            (
                "Windows Registry Editor Version 5.00\n[HKLM\\A]\n\"x=1\n",
                3,
                "closing",
            ),
            (
                "Windows Registry Editor Version 5.00\n[HKLM\\A]\nfoo\n",
                3,
                "expected",
            ),
            (
                "Windows Registry Editor Version 5.00\n[HKLM\\A]\n\"x\"=hex:1,zz\n",
                3,
                "hex byte",
            ),
            (
                "Windows Registry Editor Version 5.00\n[HKLM\\A]\n\"x\"=hex(4):01,02\n",
                3,
                "4 bytes",
            ),
            (
                "Windows Registry Editor Version 5.00\n[HKLM\\A]\n\"x\"=\"a\"b\n",
                3,
                "after the closing",
            ),
            (
                "Windows Registry Editor Version 5.00\n[HKLM\\A]\n\"x\" dword:1\n",
                3,
                "without '='",
            ),
        ];
        for (text, line, needle) in cases {
            let e = parse_reg(text).unwrap_err();
            assert_eq!(e.line, Some(line), "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
        assert!(parse_reg("").is_err());
        assert!(parse_reg("Windows Registry Editor Version 5.00\n\n").is_err());
    }

    #[test]
    fn every_prefix_of_a_valid_export_parses_or_errors_without_panic() {
        for end in 0..=SAMPLE.len() {
            if let Some(prefix) = SAMPLE.get(..end) {
                let _ = parse_reg(prefix);
            }
        }
    }
}
