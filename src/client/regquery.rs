//! Parser of the text `reg query` prints, e.g. of
//! `reg query "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters" /v AllowEncryptionOracle`:
//!
//! ```text
//!
//! HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters
//!     AllowEncryptionOracle    REG_DWORD    0x2
//!
//! ```
//!
//! When the key or value does not exist, `reg` prints
//! `ERROR: The system was unable to find the specified registry key or value.`: rdpsweep
//! reads that as "AllowEncryptionOracle absent" (the OS default), which is only right when the
//! file holds the output of that one query. Several queries may be concatenated in one file
//! (e.g. also `reg query "HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion" /v UBR`); an
//! ERROR line then still refers to AllowEncryptionOracle unless the CredSSP key appears.
//! Only the English error text is recognised; other `ERROR:` lines are reported.

use super::error::ParseError;
use super::registry::{ALLOW_ENCRYPTION_ORACLE, CREDSSP_PARAMETERS, RegValue, RegistrySnapshot};

/// The English "not found" message of `reg query`: Windows prints `ERROR: The system was
/// unable to find the specified registry key or value.`, wine `reg: Unable to find the
/// specified registry value` (or `key`).
pub const NOT_FOUND: &str = "unable to find the specified registry";

/// Whether `first_line` looks like `reg query` output.
pub fn is_reg_query(first_line: &str) -> bool {
    let l = first_line
        .trim_start_matches('\u{feff}')
        .trim()
        .to_ascii_uppercase();
    l.starts_with("HKEY_")
        || l.starts_with("HKLM\\")
        || l.starts_with("HKCU\\")
        || l.starts_with("ERROR:")
        || l.starts_with("REG:")
}

fn parse_value(line: &str) -> Option<(&str, &str, &str)> {
    // `    Name    REG_TYPE    data` (data may be empty or contain spaces).
    let t = line.trim();
    let pos = t.find("    REG_").or_else(|| t.find("\tREG_"))?;
    let name = t.get(..pos)?.trim();
    let rest = t.get(pos..)?.trim_start();
    let (ty, data) = match rest.find(char::is_whitespace) {
        Some(i) => (rest.get(..i)?, rest.get(i..)?.trim()),
        None => (rest, ""),
    };
    Some((name, ty, data))
}

fn hex_u64(data: &str) -> Option<u64> {
    let d = data.trim();
    let h = d.strip_prefix("0x").or_else(|| d.strip_prefix("0X"))?;
    u64::from_str_radix(h, 16).ok()
}

/// Parses `reg query` output.
pub fn parse_reg_query(text: &str) -> Result<RegistrySnapshot, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut snap = RegistrySnapshot::new();
    let mut current: Option<String> = None;
    let mut saw_credssp = false;
    let mut not_found_line = None;
    let mut anything = false;

    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let upper = trimmed.to_ascii_uppercase();
        if upper.starts_with("ERROR:") || upper.starts_with("REG:") {
            if trimmed.to_ascii_lowercase().contains(NOT_FOUND) {
                not_found_line = Some(n);
                anything = true;
                continue;
            }
            return Err(ParseError::at(
                n,
                format!("reg query reported an error: {trimmed:?}"),
            ));
        }
        if upper.starts_with("END OF SEARCH") {
            continue;
        }
        if upper.starts_with("HKEY_") || upper.starts_with("HKLM\\") || upper.starts_with("HKCU\\")
        {
            snap.add_key(trimmed);
            if super::registry::canonical_key(trimmed)
                == super::registry::canonical_key(CREDSSP_PARAMETERS)
            {
                saw_credssp = true;
            }
            current = Some(trimmed.to_owned());
            anything = true;
            continue;
        }
        let Some((name, ty, data)) = parse_value(line) else {
            return Err(ParseError::at(
                n,
                format!(
                    "expected a key path or an indented 'Name    REG_TYPE    data' line, found {trimmed:?}"
                ),
            ));
        };
        let Some(key) = current.as_deref() else {
            return Err(ParseError::at(n, "value line before any key path line"));
        };
        let value = match ty {
            "REG_DWORD" => RegValue::Dword(
                hex_u64(data)
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| {
                        ParseError::at(n, format!("bad REG_DWORD data {data:?} (expected 0x...)"))
                    })?,
            ),
            "REG_QWORD" => RegValue::Qword(
                hex_u64(data)
                    .ok_or_else(|| ParseError::at(n, format!("bad REG_QWORD data {data:?}")))?,
            ),
            "REG_SZ" | "REG_EXPAND_SZ" => RegValue::String(data.to_owned()),
            other => RegValue::Other(other.to_owned()),
        };
        let name = if name.eq_ignore_ascii_case("(Default)") {
            ""
        } else {
            name
        };
        snap.set_value(key, name, value);
        anything = true;
    }
    if !anything {
        return Err(ParseError::whole("empty reg query output"));
    }
    if not_found_line.is_some() && !saw_credssp {
        snap.mark_value_missing(CREDSSP_PARAMETERS, ALLOW_ENCRYPTION_ORACLE);
    }
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::registry::{CURRENT_VERSION, ValueState};

    #[test]
    fn value_present() {
        let text = "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System\\CredSSP\\Parameters\r\n    AllowEncryptionOracle    REG_DWORD    0x2\r\n\r\n";
        let s = parse_reg_query(text).unwrap();
        assert_eq!(
            s.value(CREDSSP_PARAMETERS, ALLOW_ENCRYPTION_ORACLE),
            ValueState::Present(&RegValue::Dword(2))
        );
    }

    #[test]
    fn not_found_means_absent() {
        let s = parse_reg_query(
            "ERROR: The system was unable to find the specified registry key or value.\r\n",
        )
        .unwrap();
        assert_eq!(
            s.value(CREDSSP_PARAMETERS, ALLOW_ENCRYPTION_ORACLE),
            ValueState::Absent
        );
    }

    #[test]
    fn concatenated_queries() {
        let text = "\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\n    CurrentBuild    REG_SZ    19045\n    UBR    REG_DWORD    0xedb\n\nERROR: The system was unable to find the specified registry key or value.\n";
        let s = parse_reg_query(text).unwrap();
        assert_eq!(
            s.value(CURRENT_VERSION, "CurrentBuild"),
            ValueState::Present(&RegValue::String("19045".into()))
        );
        assert_eq!(
            s.value(CURRENT_VERSION, "UBR"),
            ValueState::Present(&RegValue::Dword(0xedb))
        );
        assert_eq!(
            s.value(CREDSSP_PARAMETERS, ALLOW_ENCRYPTION_ORACLE),
            ValueState::Absent
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_reg_query("HKEY_LOCAL_MACHINE\\X\n    v    REG_DWORD    2\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse_reg_query("ERROR: Invalid syntax.\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = parse_reg_query("HKEY_LOCAL_MACHINE\\X\nwhat\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse_reg_query("    v    REG_DWORD    0x2\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(parse_reg_query("\n\n").is_err());
    }
}
