//! The fleet file (`--clients FILE.csv`): one client per row, one matrix column per client.
//!
//! The first row is the header; columns are found by name (any order, case-insensitive),
//! only `name` is required, unknown columns are an error (typos would silently change
//! predictions). Lines starting with `#` are comments. Columns:
//!
//! | column | values | empty means |
//! |---|---|---|
//! | `name` | the matrix column name (unique) | (required) |
//! | `kind` | `windows`, `freerdp`, `unknown` | `windows` |
//! | `build` | Windows `CurrentBuild`, e.g. `19045` | unknown |
//! | `ubr` | Windows `UBR`, e.g. `3803` | unknown |
//! | `patched` | CredSSP fix installed: `yes`, `no`, `unknown` (overrides build/UBR) | from build/UBR |
//! | `allow_encryption_oracle` | `0`, `1`, `2`, `absent`, `unknown` | `absent` (OS default) |
//! | `tls_versions` | e.g. `1.2;1.3` or `TLS1.0 TLS1.2` | Windows defaults of `build`, else unknown |
//! | `nla` | `yes`, `no`, `unknown` | `yes` |
//! | `cert_policy` | `ignore`, `warn`, `strict`, `unknown` | `warn` |
//! | `standard_rdp_security` | `yes`, `no`, `unknown` | `yes` |
//! | `tls_ciphers` | `any`, `ecdhe-aead` | `any` |

use super::error::ParseError;
use super::profile::{
    self, CertPolicy, CipherPolicy, ClientKind, ClientProfile, OracleSettingFile, ProfileFile,
    ServerAuth, Tristate,
};

/// The fleet columns, in documentation order.
pub const FLEET_COLUMNS: &[&str] = &[
    "name",
    "kind",
    "build",
    "ubr",
    "patched",
    "allow_encryption_oracle",
    "tls_versions",
    "nla",
    "cert_policy",
    "standard_rdp_security",
    "tls_ciphers",
    "server_auth",
    "min_rdp_encryption",
];

/// At most this many clients in one fleet file.
pub const MAX_CLIENTS: usize = 10_000;

fn number(column: &str, v: &str) -> Result<Option<u32>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse::<u32>()
        .map(Some)
        .map_err(|_| format!("{column}: expected a number, got {v:?}"))
}

fn kind(v: &str) -> Result<Option<ClientKind>, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "windows" | "mstsc" => Ok(Some(ClientKind::Windows)),
        "freerdp" => Ok(Some(ClientKind::Freerdp)),
        "unknown" => Ok(Some(ClientKind::Unknown)),
        other => Err(format!(
            "kind: expected windows, freerdp or unknown, got {other:?}"
        )),
    }
}

/// Parses a fleet CSV. `source` names the file in each profile's `source`
/// (`<source> line N`).
pub fn parse_fleet(text: &str, source: &str) -> Result<Vec<ClientProfile>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header_line = text
        .lines()
        .position(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map_or(1, |i| i + 1);
    let headers = reader
        .headers()
        .map_err(|e| csv_error(&e, text, header_line))?
        .clone();
    let mut index = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim().to_ascii_lowercase();
        if h.is_empty() {
            return Err(ParseError::at(
                header_line,
                format!("header column {} is empty", i + 1),
            ));
        }
        if !FLEET_COLUMNS.contains(&h.as_str()) {
            return Err(ParseError::at(
                header_line,
                format!("unknown column {h:?} (known: {})", FLEET_COLUMNS.join(", ")),
            ));
        }
        if index.iter().any(|(_, c): &(usize, String)| *c == h) {
            return Err(ParseError::at(
                header_line,
                format!("column {h:?} appears twice"),
            ));
        }
        index.push((i, h));
    }
    if !index.iter().any(|(_, c)| c == "name") {
        return Err(ParseError::at(
            header_line,
            "the header has no \"name\" column",
        ));
    }

    let mut out: Vec<ClientProfile> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(&e, text, 0))?;
        let line = record
            .position()
            .map(|p| record_line(text, p.byte()))
            .unwrap_or(0);
        if out.len() >= MAX_CLIENTS {
            return Err(ParseError::at(
                line,
                format!("more than {MAX_CLIENTS} clients"),
            ));
        }
        let fields: Vec<(&str, &str)> = index
            .iter()
            .map(|(i, c)| (c.as_str(), record.get(*i).unwrap_or("")))
            .collect();
        let p = row(&fields, source, line).map_err(|m| ParseError::at(line, m))?;
        if out.iter().any(|o| o.name == p.name) {
            return Err(ParseError::at(
                line,
                format!("client name {:?} appears twice", p.name),
            ));
        }
        out.push(p);
    }
    if out.is_empty() {
        return Err(ParseError::whole(
            "the fleet file has a header but no clients",
        ));
    }
    Ok(out)
}

fn get<'a>(fields: &[(&str, &'a str)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(c, _)| *c == name)
        .map(|(_, v)| *v)
        .unwrap_or("")
}

fn row(fields: &[(&str, &str)], source: &str, line: usize) -> Result<ClientProfile, String> {
    let field = |name: &str| get(fields, name);
    let name = field("name").to_owned();
    if name.is_empty() {
        return Err("name is empty".to_owned());
    }
    let tls = field("tls_versions");
    let file = ProfileFile {
        name: Some(name.clone()),
        kind: kind(field("kind"))?,
        credssp_fix: Tristate::parse(field("patched")).map_err(|e| format!("patched: {e}"))?,
        allow_encryption_oracle: {
            let v = field("allow_encryption_oracle");
            // Validate here so the message names the column.
            profile::OracleSetting::parse(v)?;
            (!v.trim().is_empty()).then(|| OracleSettingFile::Word(v.to_owned()))
        },
        oracle_default: None,
        nla: Tristate::parse(field("nla")).map_err(|e| format!("nla: {e}"))?,
        tls_versions: if tls.trim().is_empty() {
            None
        } else {
            Some(profile::parse_tls_list(tls).map_err(|e| format!("tls_versions: {e}"))?)
        },
        tls_versions_unknown: None,
        tls_ciphers: CipherPolicy::parse(field("tls_ciphers"))
            .map_err(|e| format!("tls_ciphers: {e}"))?,
        cert_policy: CertPolicy::parse(field("cert_policy"))?,
        standard_rdp_security: Tristate::parse(field("standard_rdp_security"))
            .map_err(|e| format!("standard_rdp_security: {e}"))?,
        min_rdp_encryption: match field("min_rdp_encryption").trim() {
            "" => None,
            v => Some(profile::RdpLevel::from_report_name(v).ok_or_else(|| {
                format!(
                    "min_rdp_encryption: expected low, client_compatible, high or fips, got {v:?}"
                )
            })?),
        },
        server_auth: ServerAuth::parse(field("server_auth"))
            .map_err(|e| format!("server_auth: {e}"))?,
        os_build: number("build", field("build"))?,
        ubr: number("ubr", field("ubr"))?,
        version: None,
        source: Some(format!("{source} line {line}")),
        notes: Vec::new(),
        findings: Vec::new(),
    };
    profile::resolve(file, &name, source)
}

/// The 1-based line of byte offset `byte` in `text`.
fn line_at(text: &str, byte: u64) -> usize {
    let end = usize::try_from(byte).unwrap_or(usize::MAX).min(text.len());
    text.as_bytes()
        .get(..end)
        .map_or(1, |b| b.iter().filter(|c| **c == b'\n').count() + 1)
}

/// The line of the record starting at `byte`: the csv crate reports the start of any comment
/// lines it skipped before the record, so skip those (and blank lines) here.
fn record_line(text: &str, byte: u64) -> usize {
    let first = line_at(text, byte);
    text.lines()
        .enumerate()
        .skip(first.saturating_sub(1))
        .find(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map_or(first, |(i, _)| i + 1)
}

fn csv_error(e: &csv::Error, text: &str, fallback_line: usize) -> ParseError {
    let line = e
        .position()
        .map(|p| record_line(text, p.byte()))
        .unwrap_or(fallback_line);
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields like the header, found {len}"),
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".to_owned(),
        _ => e.to_string(),
    };
    if line == 0 {
        ParseError::whole(message)
    } else {
        ParseError::at(line, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::profile::{OraclePolicy, OracleSetting};

    const FLEET: &str = "name,build,ubr,patched,allow_encryption_oracle,tls_versions,nla,cert_policy\n\
# a comment\n\
laptop-1,19045,3803,,,,,\n\
kiosk,14393,1884,,,,,\n\
jump,17763,,,0,1.2,yes,strict\n\
legacy-7,7601,,no,,TLS1.0,yes,warn\n\
workaround,19045,3803,,2,,,\n";

    #[test]
    fn rows_become_profiles() {
        let v = parse_fleet(FLEET, "clients.csv").unwrap();
        let names: Vec<_> = v.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["laptop-1", "kiosk", "jump", "legacy-7", "workaround"]
        );
        let [laptop, kiosk, jump, legacy, workaround] = v.as_slice() else {
            panic!("five rows");
        };
        assert_eq!(laptop.credssp_fix, Tristate::Yes);
        assert_eq!(laptop.effective_policy(), Some(OraclePolicy::Mitigated));
        assert_eq!(laptop.source, "clients.csv line 3");
        assert_eq!(kiosk.credssp_fix, Tristate::No);
        assert_eq!(jump.allow_encryption_oracle, OracleSetting::Value(0));
        assert_eq!(
            jump.tls.enabled(),
            vec![crate::proto::tls::ProtocolVersion::TLS1_2]
        );
        assert_eq!(jump.cert_policy, CertPolicy::Strict);
        assert_eq!(legacy.credssp_fix, Tristate::No);
        assert_eq!(
            workaround.effective_policy(),
            Some(OraclePolicy::Vulnerable)
        );
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("name,colour\nx,red\n", 1, "unknown column"),
            ("build\n19045\n", 1, "no \"name\""),
            ("name,nla\nx,perhaps\n", 2, "nla"),
            ("name,build\nx,19045\ny\n", 3, "fields"),
            (
                "name,allow_encryption_oracle\nx,two\n",
                2,
                "allow_encryption_oracle",
            ),
            ("name,tls_versions\nx,1.2;1.5\n", 2, "tls_versions"),
            ("name\nx\nx\n", 3, "twice"),
            ("name\n=cmd\n", 2, "formula"),
            ("name,build\nx,19045a\n", 2, "build"),
        ];
        for (text, line, needle) in cases {
            let e = parse_fleet(text, "f.csv").unwrap_err();
            assert_eq!(e.line, Some(line), "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
        assert!(parse_fleet("name\n", "f.csv").is_err());
        // Comment lines count: the bad row is on line 5 of the file.
        let e = parse_fleet("# fleet\nname,nla\n# one\nok,yes\nbad,maybe\n", "f.csv").unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        let e = parse_fleet("# fleet\nname,nla,x\n", "f.csv").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }
}
