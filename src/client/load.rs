//! Client-state files: format detection and parsing (pure, over bytes), and the thin
//! file-reading wrapper whose errors name the file and line.
//!
//! Accepted by `--client-state [NAME=]FILE` (the format is recognised from the content):
//! - a regedit `.reg` export (UTF-16LE with BOM as regedit writes it, or UTF-8);
//! - the text printed by `reg query ... /v AllowEncryptionOracle` (and other `reg query`s);
//! - rdpsweep's own JSON from `rdpsweep client --format json`, or any JSON profile;
//! - a TOML profile (see [`super::profile::ProfileFile`]).
//!
//! The client is named NAME, else after the file stem. Several registry files given with the
//! same NAME are merged into one client (e.g. a CredSSP export and a CurrentVersion export).

use std::path::{Path, PathBuf};

use super::error::{ClientFileError, ParseError};
use super::fleet;
use super::profile::{self, ClientProfile, ProfileFile};
use super::registry::{self, RegistrySnapshot};
use super::{regfile, regquery};

/// Client-state and fleet files larger than this are refused.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// The formats of a client-state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFormat {
    RegExport,
    RegQuery,
    Json,
    Toml,
}

/// What a client-state file holds, before it becomes a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientState {
    Registry(RegistrySnapshot),
    Profile(Box<ProfileFile>),
}

/// Decodes UTF-16LE/BE (with BOM, or LE detected from NUL bytes) or UTF-8 (BOM optional).
/// Invalid UTF-8 is an error naming the line.
pub fn decode_text(bytes: &[u8]) -> Result<String, ParseError> {
    let utf16 = |body: &[u8], le: bool| {
        let units: Vec<u16> = body
            .chunks(2)
            .map(|c| {
                let a = c.first().copied().unwrap_or(0);
                let b = c.get(1).copied().unwrap_or(0);
                if le {
                    u16::from_le_bytes([a, b])
                } else {
                    u16::from_be_bytes([a, b])
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| ParseError::whole("invalid UTF-16 text"))
    };
    match bytes {
        [0xff, 0xfe, rest @ ..] => utf16(rest, true),
        [0xfe, 0xff, rest @ ..] => utf16(rest, false),
        [0xef, 0xbb, 0xbf, rest @ ..] => utf8(rest),
        // UTF-16LE without BOM: ASCII text has every second byte NUL.
        [a, 0, b, 0, ..] if *a != 0 && *b != 0 => utf16(bytes, true),
        _ => utf8(bytes),
    }
}

fn utf8(bytes: &[u8]) -> Result<String, ParseError> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(e) => {
            let good = bytes.get(..e.valid_up_to()).unwrap_or(&[]);
            let line = good.iter().filter(|b| **b == b'\n').count() + 1;
            Err(ParseError::at(line, "not UTF-8 or UTF-16 text"))
        }
    }
}

/// Recognises the format from the first non-empty line (and the file extension for TOML).
pub fn detect(text: &str, extension: Option<&str>) -> Result<StateFormat, ParseError> {
    let Some((n, first)) = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}').trim()))
        .find(|(_, l)| !l.is_empty())
    else {
        return Err(ParseError::whole("empty client-state file"));
    };
    if regfile::is_reg_header(first) {
        return Ok(StateFormat::RegExport);
    }
    if regquery::is_reg_query(first) {
        return Ok(StateFormat::RegQuery);
    }
    if first.starts_with('{') {
        return Ok(StateFormat::Json);
    }
    let ext = extension.map(str::to_ascii_lowercase);
    if ext.as_deref() == Some("toml") || first.starts_with('#') || first.contains('=') {
        return Ok(StateFormat::Toml);
    }
    if ext.as_deref() == Some("csv") {
        return Err(ParseError::at(
            n,
            "this looks like a fleet CSV: pass it with --clients, not --client-state",
        ));
    }
    Err(ParseError::at(
        n,
        format!(
            "unrecognised client-state format (expected a .reg export, reg query output, rdpsweep client JSON or a TOML profile), found {:?}",
            first.chars().take(60).collect::<String>()
        ),
    ))
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map(|t| t.matches('\n').count() + 1)
        .unwrap_or(1)
}

/// Parses a client-state file's bytes.
pub fn parse_client_state(
    bytes: &[u8],
    extension: Option<&str>,
) -> Result<ClientState, ParseError> {
    let text = decode_text(bytes)?;
    match detect(&text, extension)? {
        StateFormat::RegExport => regfile::parse_reg(&text).map(ClientState::Registry),
        StateFormat::RegQuery => regquery::parse_reg_query(&text).map(ClientState::Registry),
        StateFormat::Json => serde_json::from_str::<ProfileFile>(&text)
            .map(|p| ClientState::Profile(Box::new(p)))
            .map_err(|e| ParseError::at(e.line().max(1), format!("JSON profile: {e}"))),
        StateFormat::Toml => toml::from_str::<ProfileFile>(&text)
            .map(|p| ClientState::Profile(Box::new(p)))
            .map_err(|e| {
                let msg = format!("TOML profile: {}", e.message());
                match e.span() {
                    Some(span) => ParseError::at(line_of_offset(&text, span.start), msg),
                    None => ParseError::whole(msg),
                }
            }),
    }
}

/// Turns a parsed state into a profile named `name`.
pub fn state_to_profile(
    state: ClientState,
    name: &str,
    source: &str,
) -> Result<ClientProfile, ParseError> {
    profile::validate_name(name).map_err(ParseError::whole)?;
    match state {
        ClientState::Registry(snap) => Ok(registry::interpret(&snap, name, source)),
        ClientState::Profile(mut file) => {
            let mut notes = Vec::new();
            if let Some(old) = file.source.take() {
                notes.push(format!("originally from {old}"));
            }
            // The client is named by the command line (NAME=) or the file stem.
            file.name = Some(name.to_owned());
            let mut p = profile::resolve(*file, name, source).map_err(ParseError::whole)?;
            p.notes.extend(notes);
            Ok(p)
        }
    }
}

/// One `--client-state` argument: `[NAME=]FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateArg {
    pub name: String,
    pub path: PathBuf,
}

/// Splits `NAME=FILE`; without a name (or when the part before `=` looks like a path) the
/// client is named after the file stem.
pub fn parse_state_arg(arg: &str) -> Result<StateArg, ClientFileError> {
    if let Some((name, file)) = arg.split_once('=')
        && !name.is_empty()
        && !name.contains(['/', '\\'])
        && !file.is_empty()
    {
        profile::validate_name(name)
            .map_err(|e| ClientFileError::Usage(format!("--client-state {arg}: {e}")))?;
        return Ok(StateArg {
            name: name.to_owned(),
            path: PathBuf::from(file),
        });
    }
    let path = PathBuf::from(arg);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    profile::validate_name(&stem).map_err(|e| {
        ClientFileError::Usage(format!(
            "--client-state {arg}: cannot name the client after the file ({e}); use NAME=FILE"
        ))
    })?;
    Ok(StateArg { name: stem, path })
}

/// Reads a file of at most [`MAX_FILE_BYTES`].
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, ClientFileError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|source| ClientFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| ClientFileError::Read {
            path: path.to_owned(),
            source,
        })?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_FILE_BYTES {
        return Err(ClientFileError::TooLarge {
            path: path.to_owned(),
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(bytes)
}

/// Loads every `--client-state` argument; arguments with the same name are merged when they
/// are all registry files.
pub fn load_client_states(args: &[StateArg]) -> Result<Vec<ClientProfile>, ClientFileError> {
    let mut groups: Vec<(String, Vec<(PathBuf, ClientState)>)> = Vec::new();
    for arg in args {
        let bytes = read_bounded(&arg.path)?;
        let ext = arg.path.extension().and_then(|e| e.to_str());
        let state =
            parse_client_state(&bytes, ext).map_err(|e| ClientFileError::parse(&arg.path, e))?;
        match groups.iter_mut().find(|(n, _)| *n == arg.name) {
            Some((_, list)) => list.push((arg.path.clone(), state)),
            None => groups.push((arg.name.clone(), vec![(arg.path.clone(), state)])),
        }
    }
    let mut out = Vec::new();
    for (name, list) in groups {
        let sources: Vec<String> = list.iter().map(|(p, _)| p.display().to_string()).collect();
        let source = format!("file {}", sources.join(" + "));
        let mut merged: Option<RegistrySnapshot> = None;
        let mut profile_file = None;
        for (path, state) in list {
            match state {
                ClientState::Registry(s) => match merged.as_mut() {
                    Some(m) => m.merge(s),
                    None => merged = Some(s),
                },
                ClientState::Profile(p) => {
                    if profile_file.is_some() || sources.len() > 1 {
                        return Err(ClientFileError::parse(
                            &path,
                            ParseError::whole(format!(
                                "client {name:?} is given by several files; only registry files (.reg, reg query) can be combined"
                            )),
                        ));
                    }
                    profile_file = Some((path, p));
                }
            }
        }
        let profile = match (merged, profile_file) {
            (Some(snap), None) => registry::interpret(&snap, &name, &source),
            (None, Some((path, p))) => state_to_profile(ClientState::Profile(p), &name, &source)
                .map_err(|e| ClientFileError::parse(path, e))?,
            _ => continue,
        };
        out.push(profile);
    }
    Ok(out)
}

/// Loads a fleet CSV (`--clients`).
pub fn load_fleet(path: &Path) -> Result<Vec<ClientProfile>, ClientFileError> {
    let bytes = read_bounded(path)?;
    let text = decode_text(&bytes).map_err(|e| ClientFileError::parse(path, e))?;
    fleet::parse_fleet(&text, &path.display().to_string())
        .map_err(|e| ClientFileError::parse(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le_bom(s: &str) -> Vec<u8> {
        let mut v = vec![0xff, 0xfe];
        for u in s.encode_utf16() {
            v.extend_from_slice(&u.to_le_bytes());
        }
        v
    }

    #[test]
    fn decodes_every_encoding_regedit_and_cmd_write() {
        let s = "Windows Registry Editor Version 5.00\r\n";
        assert_eq!(decode_text(&utf16le_bom(s)).unwrap(), s);
        let no_bom: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(decode_text(&no_bom).unwrap(), s);
        let mut be = vec![0xfe, 0xff];
        be.extend(s.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode_text(&be).unwrap(), s);
        let mut bom8 = vec![0xef, 0xbb, 0xbf];
        bom8.extend_from_slice(s.as_bytes());
        assert_eq!(decode_text(&bom8).unwrap(), s);
        let e = decode_text(b"ok\nok\n\xff\xfe\xfd").unwrap_err();
        assert_eq!(e.line, Some(3));
        // Odd-length UTF-16 and unpaired surrogates error, never panic.
        assert!(decode_text(&[0xff, 0xfe, 0x00, 0xd8]).is_err());
        let _ = decode_text(&[0xff, 0xfe, 0x41]);
    }

    #[test]
    fn detects_formats() {
        assert_eq!(
            detect("\n\nREGEDIT4\n", None).unwrap(),
            StateFormat::RegExport
        );
        assert_eq!(
            detect("\r\nHKEY_LOCAL_MACHINE\\X\r\n", None).unwrap(),
            StateFormat::RegQuery
        );
        assert_eq!(
            detect("ERROR: The system was unable", None).unwrap(),
            StateFormat::RegQuery
        );
        assert_eq!(detect("{\"name\":1}", None).unwrap(), StateFormat::Json);
        assert_eq!(detect("nla = \"yes\"", None).unwrap(), StateFormat::Toml);
        assert!(
            detect("name,build\n", Some("csv"))
                .unwrap_err()
                .message
                .contains("--clients")
        );
        assert!(detect("hello world", None).is_err());
        assert!(detect("  \n", None).is_err());
    }

    #[test]
    fn json_and_toml_errors_carry_lines() {
        let e = parse_client_state(b"{\n\"nla\": \"yes\",\n\"bogus\": 1\n}", None).unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = parse_client_state(
            b"nla = \"yes\"\ncert_policy = \"sometimes\"\n",
            Some("toml"),
        )
        .unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn state_args() {
        let a = parse_state_arg("laptop=dir/x.reg").unwrap();
        assert_eq!(
            (a.name.as_str(), a.path.as_path()),
            ("laptop", Path::new("dir/x.reg"))
        );
        let a = parse_state_arg("dir/pc-7.reg").unwrap();
        assert_eq!(a.name, "pc-7");
        let a = parse_state_arg("dir/a=b.reg").unwrap();
        assert_eq!(a.name, "a=b");
        assert!(parse_state_arg("=x=y.reg").is_err());
    }
}
