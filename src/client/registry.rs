//! Registry values that decide a Windows client's RDP behaviour, and their interpretation.
//!
//! A [`RegistrySnapshot`] is filled by the `.reg` parser ([`super::regfile`]), the
//! `reg query` parser ([`super::regquery`]) or, on Windows, the live reader
//! (`client::windows`, Windows only); [`interpret`] turns it into a [`ClientProfile`]. The interpretation
//! is pure, so it is unit-tested on every OS.
//!
//! Values read (all under HKLM unless said otherwise):
//! - [`CREDSSP_PARAMETERS`] `AllowEncryptionOracle` (REG_DWORD 0/1/2; Microsoft KB4093492).
//!   A missing key or value means the OS default, never an error.
//! - [`CURRENT_VERSION`] `CurrentBuild` (REG_SZ) / `CurrentBuildNumber`, `UBR` (REG_DWORD):
//!   decide the CredSSP fix through [`super::build_table`].
//! - [`SCHANNEL_PROTOCOLS`]`\TLS 1.x\Client` `Enabled` / `DisabledByDefault` (REG_DWORD).
//! - [`TS_POLICIES`] `AuthenticationLevel` (GPO "Configure server authentication for client":
//!   0 always connect, 1 do not connect, 2 warn).

use crate::proto::tls::ProtocolVersion;
use std::collections::{BTreeMap, BTreeSet};

use super::build_table;
use super::profile::{
    CertPolicy, CipherPolicy, ClientKind, ClientProfile, OraclePolicy, OracleSetting, ServerAuth,
    TlsSupport, Tristate,
};

pub const CREDSSP_PARAMETERS: &str =
    r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters";
pub const ALLOW_ENCRYPTION_ORACLE: &str = "AllowEncryptionOracle";
pub const CURRENT_VERSION: &str = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion";
pub const SCHANNEL_PROTOCOLS: &str =
    r"HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols";
pub const TS_POLICIES: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services";

/// The SCHANNEL client key of one TLS version.
pub fn schannel_client_key(v: ProtocolVersion) -> String {
    format!(r"{SCHANNEL_PROTOCOLS}\TLS {}\Client", v)
}

/// One registry value, as far as rdpsweep needs to tell them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegValue {
    Dword(u32),
    Qword(u64),
    /// REG_SZ (and REG_EXPAND_SZ from `reg query`).
    String(String),
    /// Any other type, by its name (`REG_BINARY`, `hex(7)`, ...).
    Other(String),
}

impl RegValue {
    pub fn type_name(&self) -> &str {
        match self {
            RegValue::Dword(_) => "REG_DWORD",
            RegValue::Qword(_) => "REG_QWORD",
            RegValue::String(_) => "REG_SZ",
            RegValue::Other(t) => t,
        }
    }
}

/// Converts raw registry data (type code from winnt.h: REG_SZ 1, REG_EXPAND_SZ 2, REG_DWORD 4,
/// REG_DWORD_BIG_ENDIAN 5, REG_QWORD 11) into a [`RegValue`]. Short data is kept as `Other`.
pub fn value_from_raw(reg_type: u32, bytes: &[u8]) -> RegValue {
    match reg_type {
        1 | 2 => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .filter_map(|c| <[u8; 2]>::try_from(c).ok())
                .map(u16::from_le_bytes)
                .take_while(|u| *u != 0)
                .collect();
            RegValue::String(String::from_utf16_lossy(&units))
        }
        4 => match bytes.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
            Some(b) => RegValue::Dword(u32::from_le_bytes(b)),
            None => RegValue::Other("REG_DWORD (short)".to_owned()),
        },
        5 => match bytes.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
            Some(b) => RegValue::Dword(u32::from_be_bytes(b)),
            None => RegValue::Other("REG_DWORD_BIG_ENDIAN (short)".to_owned()),
        },
        11 => match bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(b) => RegValue::Qword(u64::from_le_bytes(b)),
            None => RegValue::Other("REG_QWORD (short)".to_owned()),
        },
        t => RegValue::Other(format!("type {t}")),
    }
}

/// What a snapshot says about one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueState<'a> {
    Present(&'a RegValue),
    /// Known not to exist (its key is known, or known missing).
    Absent,
    /// The snapshot does not cover that key.
    NotCovered,
}

/// Registry keys and values, with canonical (case-insensitive) paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrySnapshot {
    /// canonical key path -> (lower-case value name -> value)
    keys: BTreeMap<String, BTreeMap<String, RegValue>>,
    /// Keys known not to exist.
    missing_keys: BTreeSet<String>,
    /// (canonical key, lower-case value name) known not to exist.
    missing_values: BTreeSet<(String, String)>,
    /// Whether a key's presence covers its subtree (a `.reg` export lists every subkey of an
    /// exported key, so an ancestor without the subkey means the subkey does not exist).
    pub tree_export: bool,
}

/// `HKEY_LOCAL_MACHINE\Foo\` -> `hklm\foo`; `ControlSet001` -> `CurrentControlSet`.
pub fn canonical_key(path: &str) -> String {
    let mut p = path
        .trim()
        .trim_matches(['[', ']'])
        .trim()
        .to_ascii_lowercase();
    for (long, short) in [
        ("hkey_local_machine", "hklm"),
        ("hkey_current_user", "hkcu"),
        ("hkey_users", "hku"),
        ("hkey_classes_root", "hkcr"),
        ("hkey_current_config", "hkcc"),
    ] {
        if let Some(rest) = p.strip_prefix(long) {
            p = format!("{short}{rest}");
            break;
        }
    }
    let mut parts: Vec<String> = p
        .split('\\')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if parts.len() > 2
        && parts.first().map(String::as_str) == Some("hklm")
        && parts.get(1).map(String::as_str) == Some("system")
        && let Some(cs) = parts.get_mut(2)
        && cs
            .strip_prefix("controlset")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    {
        *cs = "currentcontrolset".to_owned();
    }
    parts.join("\\")
}

impl RegistrySnapshot {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `key` exists (possibly without values).
    pub fn add_key(&mut self, key: &str) {
        self.keys.entry(canonical_key(key)).or_default();
    }

    pub fn set_value(&mut self, key: &str, name: &str, value: RegValue) {
        self.keys
            .entry(canonical_key(key))
            .or_default()
            .insert(name.to_ascii_lowercase(), value);
    }

    pub fn remove_value(&mut self, key: &str, name: &str) {
        if let Some(values) = self.keys.get_mut(&canonical_key(key)) {
            values.remove(&name.to_ascii_lowercase());
        }
    }

    pub fn mark_key_missing(&mut self, key: &str) {
        self.missing_keys.insert(canonical_key(key));
    }

    pub fn mark_value_missing(&mut self, key: &str, name: &str) {
        self.missing_values
            .insert((canonical_key(key), name.to_ascii_lowercase()));
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.missing_keys.is_empty() && self.missing_values.is_empty()
    }

    /// Merges `other` into `self` (later values win).
    pub fn merge(&mut self, other: RegistrySnapshot) {
        for (k, values) in other.keys {
            self.keys.entry(k).or_default().extend(values);
        }
        self.missing_keys.extend(other.missing_keys);
        self.missing_values.extend(other.missing_values);
        self.tree_export |= other.tree_export;
    }

    pub fn value(&self, key: &str, name: &str) -> ValueState<'_> {
        let key = canonical_key(key);
        let lname = name.to_ascii_lowercase();
        if let Some(values) = self.keys.get(&key) {
            return match values.get(&lname) {
                Some(v) => ValueState::Present(v),
                None => ValueState::Absent,
            };
        }
        if self.missing_keys.contains(&key) || self.missing_values.contains(&(key.clone(), lname)) {
            return ValueState::Absent;
        }
        if self.tree_export {
            let mut ancestor = key.as_str();
            while let Some((parent, _)) = ancestor.rsplit_once('\\') {
                // A hive root alone (`hklm`) says nothing.
                if !parent.contains('\\') {
                    break;
                }
                if self.keys.contains_key(parent) {
                    return ValueState::Absent;
                }
                ancestor = parent;
            }
        }
        ValueState::NotCovered
    }

    /// Whether any key under `prefix` (or `prefix` itself) is in the snapshot.
    pub fn covers_any_under(&self, prefix: &str) -> bool {
        let p = canonical_key(prefix);
        self.keys
            .keys()
            .chain(self.missing_keys.iter())
            .any(|k| k == &p || k.starts_with(&format!("{p}\\")))
    }
}

fn dword(state: ValueState<'_>) -> Option<u32> {
    match state {
        ValueState::Present(RegValue::Dword(v)) => Some(*v),
        _ => None,
    }
}

fn build_number(state: ValueState<'_>) -> Option<u32> {
    match state {
        ValueState::Present(RegValue::String(s)) => s.trim().parse().ok(),
        ValueState::Present(RegValue::Dword(v)) => Some(*v),
        _ => None,
    }
}

/// The SCHANNEL client switches of one TLS version, applied to the OS default.
///
/// `Enabled` 0 turns the version off; a non-zero `Enabled` with `DisabledByDefault` absent
/// or 0 turns it on; `DisabledByDefault` non-zero means "only when the application asks for
/// it", which rdpsweep cannot decide for the RDP client (unknown).
pub fn schannel_switch(
    default: Tristate,
    enabled: Option<u32>,
    disabled_by_default: Option<u32>,
) -> Tristate {
    match (enabled, disabled_by_default) {
        (Some(0), _) => Tristate::No,
        (_, Some(d)) if d != 0 => Tristate::Unknown,
        (Some(_), _) => Tristate::Yes,
        (None, Some(_)) => Tristate::Yes,
        (None, None) => default,
    }
}

/// Turns registry values into a Windows client profile. Pure: unit-tested on every OS.
pub fn interpret(snap: &RegistrySnapshot, name: &str, source: &str) -> ClientProfile {
    let mut notes = Vec::new();

    let build = build_number(snap.value(CURRENT_VERSION, "CurrentBuild"))
        .or_else(|| build_number(snap.value(CURRENT_VERSION, "CurrentBuildNumber")));
    let ubr = dword(snap.value(CURRENT_VERSION, "UBR"));

    let allow_encryption_oracle = match snap.value(CREDSSP_PARAMETERS, ALLOW_ENCRYPTION_ORACLE) {
        ValueState::Present(RegValue::Dword(v)) => {
            if OraclePolicy::from_dword(*v).is_none() {
                notes.push(format!(
                    "AllowEncryptionOracle={v} is not a value Microsoft defines (0, 1, 2)"
                ));
            }
            OracleSetting::Value(*v)
        }
        ValueState::Present(other) => {
            notes.push(format!(
                "AllowEncryptionOracle is a {} value, not REG_DWORD: its effect is unknown",
                other.type_name()
            ));
            OracleSetting::Unknown
        }
        ValueState::Absent => {
            notes.push(
                "AllowEncryptionOracle is not set: the OS default applies (Mitigated after the May 2018 update)".to_owned(),
            );
            OracleSetting::Absent
        }
        ValueState::NotCovered => {
            notes.push(format!(
                r"the client state does not include {CREDSSP_PARAMETERS}: AllowEncryptionOracle unknown"
            ));
            OracleSetting::Unknown
        }
    };

    let (credssp_fix, oracle_default) = match build {
        Some(b) => {
            let d = build_table::credssp_fix(b, ubr);
            notes.push(d.note);
            (d.fix, d.default_policy)
        }
        None => {
            notes.push(format!(
                r"no CurrentBuild/UBR ({CURRENT_VERSION}): CredSSP fix unknown"
            ));
            (Tristate::Unknown, None)
        }
    };

    let mut tls = match build {
        Some(b) => {
            let (t, note) = build_table::windows_default_tls(b);
            notes.push(note);
            t
        }
        None => TlsSupport::unknown(),
    };
    let mut any_switch = false;
    for v in ProtocolVersion::TLS {
        let key = schannel_client_key(v);
        let enabled = dword(snap.value(&key, "Enabled"));
        let dbd = dword(snap.value(&key, "DisabledByDefault"));
        if enabled.is_some() || dbd.is_some() {
            any_switch = true;
            let state = schannel_switch(tls.get(v), enabled, dbd);
            notes.push(format!(
                "SCHANNEL TLS {v} Client: Enabled={} DisabledByDefault={} -> {}",
                enabled.map_or("-".to_owned(), |e| format!("0x{e:x}")),
                dbd.map_or("-".to_owned(), |d| d.to_string()),
                state.as_str()
            ));
            tls.set(v, state);
        }
    }
    if !any_switch && build.is_some() && !snap.covers_any_under(SCHANNEL_PROTOCOLS) {
        notes.push(
            "no SCHANNEL client switches in the client state: OS defaults assumed".to_owned(),
        );
    }

    let cert_policy = match dword(snap.value(TS_POLICIES, "AuthenticationLevel")) {
        Some(level) => {
            notes.push(format!(
                "GPO server authentication AuthenticationLevel={level}"
            ));
            CertPolicy::from_authentication_level(level)
        }
        None => CertPolicy::Warn,
    };

    let nla = match build {
        Some(b) if b < 6000 => Tristate::Unknown,
        _ => Tristate::Yes,
    };

    ClientProfile {
        name: name.to_owned(),
        kind: ClientKind::Windows,
        credssp_fix,
        allow_encryption_oracle,
        oracle_default,
        nla,
        tls,
        tls_ciphers: CipherPolicy::Any,
        cert_policy,
        standard_rdp_security: if cert_policy == CertPolicy::Strict {
            Tristate::No
        } else {
            Tristate::Yes
        },
        min_rdp_encryption: None,
        // Whether this machine reaches servers by name inside a domain is not in the
        // registry values read here.
        server_auth: ServerAuth::Unknown,
        os_build: build,
        ubr,
        version: None,
        source: source.to_owned(),
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win10(ubr: u32) -> RegistrySnapshot {
        let mut s = RegistrySnapshot::new();
        s.tree_export = true;
        s.set_value(
            CURRENT_VERSION,
            "CurrentBuild",
            RegValue::String("19045".into()),
        );
        s.set_value(CURRENT_VERSION, "UBR", RegValue::Dword(ubr));
        s
    }

    #[test]
    fn canonical_keys_ignore_case_hive_spelling_and_control_sets() {
        assert_eq!(
            canonical_key(r"[HKEY_LOCAL_MACHINE\SOFTWARE\Foo\]"),
            r"hklm\software\foo"
        );
        assert_eq!(
            canonical_key(r"HKLM\SYSTEM\ControlSet001\Control"),
            r"hklm\system\currentcontrolset\control"
        );
        assert_eq!(
            canonical_key(r"HKLM\SYSTEM\ControlSetX\Control"),
            r"hklm\system\controlsetx\control"
        );
    }

    #[test]
    fn value_present_absent_and_not_covered() {
        let mut s = win10(3803);
        assert_eq!(
            s.value(CREDSSP_PARAMETERS, ALLOW_ENCRYPTION_ORACLE),
            ValueState::NotCovered
        );
        s.add_key(CREDSSP_PARAMETERS);
        assert_eq!(
            s.value(CREDSSP_PARAMETERS, "allowencryptionoracle"),
            ValueState::Absent
        );
        s.set_value(
            CREDSSP_PARAMETERS,
            ALLOW_ENCRYPTION_ORACLE,
            RegValue::Dword(2),
        );
        assert_eq!(
            s.value(CREDSSP_PARAMETERS, ALLOW_ENCRYPTION_ORACLE),
            ValueState::Present(&RegValue::Dword(2))
        );
    }

    #[test]
    fn exported_ancestor_without_the_subkey_means_absent() {
        let mut s = win10(1);
        s.add_key(r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System");
        assert_eq!(
            s.value(CREDSSP_PARAMETERS, ALLOW_ENCRYPTION_ORACLE),
            ValueState::Absent
        );
        s.tree_export = false;
        assert_eq!(
            s.value(CREDSSP_PARAMETERS, ALLOW_ENCRYPTION_ORACLE),
            ValueState::NotCovered
        );
    }

    #[test]
    fn interpret_patched_win10_with_each_policy_value() {
        for (value, expect) in [
            (0, OraclePolicy::ForceUpdatedClients),
            (1, OraclePolicy::Mitigated),
            (2, OraclePolicy::Vulnerable),
        ] {
            let mut s = win10(3803);
            s.set_value(
                CREDSSP_PARAMETERS,
                ALLOW_ENCRYPTION_ORACLE,
                RegValue::Dword(value),
            );
            let p = interpret(&s, "pc", "test");
            assert_eq!(p.credssp_fix, Tristate::Yes);
            assert_eq!(p.allow_encryption_oracle, OracleSetting::Value(value));
            assert_eq!(p.effective_policy(), Some(expect));
            assert_eq!(p.os_build, Some(19045));
            assert_eq!(p.ubr, Some(3803));
        }
    }

    #[test]
    fn missing_value_means_os_default_not_error() {
        let mut s = win10(3803);
        s.add_key(CREDSSP_PARAMETERS);
        let p = interpret(&s, "pc", "test");
        assert_eq!(p.allow_encryption_oracle, OracleSetting::Absent);
        assert_eq!(p.effective_policy(), Some(OraclePolicy::Mitigated));
        // Unpatched 1607 with no value: not updated; the value would not matter.
        let mut s = RegistrySnapshot::new();
        s.set_value(
            CURRENT_VERSION,
            "CurrentBuild",
            RegValue::String("14393".into()),
        );
        s.set_value(CURRENT_VERSION, "UBR", RegValue::Dword(1884));
        s.mark_key_missing(CREDSSP_PARAMETERS);
        let p = interpret(&s, "old", "test");
        assert_eq!(p.credssp_fix, Tristate::No);
        assert_eq!(p.allow_encryption_oracle, OracleSetting::Absent);
    }

    #[test]
    fn odd_values_are_kept_and_explained() {
        let mut s = win10(1);
        s.set_value(
            CREDSSP_PARAMETERS,
            ALLOW_ENCRYPTION_ORACLE,
            RegValue::Dword(5),
        );
        let p = interpret(&s, "pc", "t");
        assert_eq!(p.allow_encryption_oracle, OracleSetting::Value(5));
        assert_eq!(p.effective_policy(), None);
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("not a value Microsoft defines"))
        );
        s.set_value(
            CREDSSP_PARAMETERS,
            ALLOW_ENCRYPTION_ORACLE,
            RegValue::String("2".into()),
        );
        let p = interpret(&s, "pc", "t");
        assert_eq!(p.allow_encryption_oracle, OracleSetting::Unknown);
    }

    #[test]
    fn schannel_switches_override_defaults() {
        assert_eq!(
            schannel_switch(Tristate::Yes, Some(0), Some(1)),
            Tristate::No
        );
        assert_eq!(
            schannel_switch(Tristate::No, Some(0xffff_ffff), Some(0)),
            Tristate::Yes
        );
        assert_eq!(schannel_switch(Tristate::No, Some(1), None), Tristate::Yes);
        assert_eq!(
            schannel_switch(Tristate::Yes, Some(1), Some(1)),
            Tristate::Unknown
        );
        assert_eq!(schannel_switch(Tristate::Yes, None, None), Tristate::Yes);

        let mut s = win10(1);
        for v in ["1.0", "1.1"] {
            let key = format!(r"{SCHANNEL_PROTOCOLS}\TLS {v}\Client");
            s.set_value(&key, "Enabled", RegValue::Dword(0));
            s.set_value(&key, "DisabledByDefault", RegValue::Dword(1));
        }
        let p = interpret(&s, "pc", "t");
        assert_eq!(p.tls.enabled(), vec![ProtocolVersion::TLS1_2]);
    }

    #[test]
    fn gpo_authentication_level_sets_cert_policy() {
        let mut s = win10(1);
        s.set_value(TS_POLICIES, "AuthenticationLevel", RegValue::Dword(1));
        let p = interpret(&s, "pc", "t");
        assert_eq!(p.cert_policy, CertPolicy::Strict);
        assert_eq!(p.standard_rdp_security, Tristate::No);
        s.set_value(TS_POLICIES, "AuthenticationLevel", RegValue::Dword(0));
        assert_eq!(interpret(&s, "pc", "t").cert_policy, CertPolicy::Ignore);
    }

    #[test]
    fn raw_values_convert_like_the_windows_api_returns_them() {
        assert_eq!(value_from_raw(4, &[2, 0, 0, 0]), RegValue::Dword(2));
        assert_eq!(value_from_raw(5, &[0, 0, 0, 2]), RegValue::Dword(2));
        assert_eq!(
            value_from_raw(11, &[1, 0, 0, 0, 0, 0, 0, 0]),
            RegValue::Qword(1)
        );
        assert_eq!(
            value_from_raw(1, &[0x31, 0, 0x39, 0, 0, 0]),
            RegValue::String("19".into())
        );
        assert!(matches!(value_from_raw(4, &[2, 0]), RegValue::Other(_)));
        assert!(matches!(value_from_raw(3, &[1, 2, 3]), RegValue::Other(_)));
        // A live snapshot built from raw values interprets like a .reg export.
        let mut s = RegistrySnapshot::new();
        s.set_value(
            CURRENT_VERSION,
            "CurrentBuild",
            value_from_raw(1, &[0x32, 0, 0x36, 0, 0x31, 0, 0x30, 0, 0x30, 0, 0, 0]),
        );
        s.set_value(
            CURRENT_VERSION,
            "UBR",
            value_from_raw(4, &[0x10, 0x0a, 0, 0]),
        );
        s.add_key(CREDSSP_PARAMETERS);
        s.set_value(
            CREDSSP_PARAMETERS,
            ALLOW_ENCRYPTION_ORACLE,
            value_from_raw(4, &[0, 0, 0, 0]),
        );
        let p = interpret(&s, "local", "local registry");
        assert_eq!(p.os_build, Some(26100));
        assert_eq!(
            p.effective_policy(),
            Some(OraclePolicy::ForceUpdatedClients)
        );
    }

    #[test]
    fn nothing_known_says_unknown() {
        let p = interpret(&RegistrySnapshot::new(), "x", "t");
        assert_eq!(p.credssp_fix, Tristate::Unknown);
        assert_eq!(p.allow_encryption_oracle, OracleSetting::Unknown);
        assert!(p.tls.is_all_unknown());
    }
}
