//! The client model: what decides whether one RDP client can connect to one server.
//!
//! A [`ClientProfile`] is built from a built-in profile ([`super::builtin`]), the local machine
//! ([`super::local`]), a client-state file ([`super::load`]) or a fleet row ([`super::fleet`]).
//! Every field that could not be decided says so (`unknown`) instead of guessing.
//!
//! The serde form of [`ClientProfile`] (through [`ProfileFile`]) is both the custom-profile
//! file format (TOML or JSON) and what `rdpsweep client --format json` prints, so that output
//! can be fed back with `--client-state`. It is documented in `docs/compat.md`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::build_table;

/// Yes, no, or not known. In files: `"yes"`, `"no"`, `"unknown"` (or `true` / `false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Tristate {
    Yes,
    No,
    #[default]
    Unknown,
}

impl Tristate {
    pub fn as_str(self) -> &'static str {
        match self {
            Tristate::Yes => "yes",
            Tristate::No => "no",
            Tristate::Unknown => "unknown",
        }
    }

    pub fn from_bool(b: bool) -> Self {
        if b { Tristate::Yes } else { Tristate::No }
    }

    /// Parses `yes`/`no`/`unknown` (also `true`/`false`, `y`/`n`, `1`/`0`); empty is `None`.
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "yes" | "y" | "true" | "1" => Ok(Some(Tristate::Yes)),
            "no" | "n" | "false" | "0" => Ok(Some(Tristate::No)),
            "unknown" | "?" => Ok(Some(Tristate::Unknown)),
            other => Err(format!("expected yes, no or unknown, got {other:?}")),
        }
    }
}

impl Serialize for Tristate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Tristate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(b) => Ok(Tristate::from_bool(b)),
            Raw::Str(s) => match Tristate::parse(&s).map_err(serde::de::Error::custom)? {
                Some(t) => Ok(t),
                None => Ok(Tristate::Unknown),
            },
        }
    }
}

/// Which RDP client implementation the profile describes (decides the remediation wording).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// Windows Remote Desktop Connection (mstsc) on Windows: CredSSP from the OS.
    #[default]
    Windows,
    /// FreeRDP (xfreerdp, wlfreerdp, sdl-freerdp) on any OS.
    Freerdp,
    /// Nothing known about the client.
    Unknown,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Windows => "windows",
            ClientKind::Freerdp => "freerdp",
            ClientKind::Unknown => "unknown",
        }
    }
}

/// The Encryption Oracle Remediation policy (CVE-2018-0886, KB4093492), registry value
/// `AllowEncryptionOracle` under
/// `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OraclePolicy {
    /// 0: "Force Updated Clients".
    ForceUpdatedClients,
    /// 1: "Mitigated" (the default after the May 8, 2018 update).
    Mitigated,
    /// 2: "Vulnerable" (the default between March 13 and May 8, 2018; the temporary workaround).
    Vulnerable,
}

impl OraclePolicy {
    /// The policy for a registry DWORD; `None` for values Microsoft does not define.
    pub fn from_dword(v: u32) -> Option<Self> {
        match v {
            0 => Some(OraclePolicy::ForceUpdatedClients),
            1 => Some(OraclePolicy::Mitigated),
            2 => Some(OraclePolicy::Vulnerable),
            _ => None,
        }
    }

    pub fn dword(self) -> u32 {
        match self {
            OraclePolicy::ForceUpdatedClients => 0,
            OraclePolicy::Mitigated => 1,
            OraclePolicy::Vulnerable => 2,
        }
    }

    /// Microsoft's name of the policy option.
    pub fn label(self) -> &'static str {
        match self {
            OraclePolicy::ForceUpdatedClients => "Force Updated Clients",
            OraclePolicy::Mitigated => "Mitigated",
            OraclePolicy::Vulnerable => "Vulnerable",
        }
    }
}

/// What the client has for `AllowEncryptionOracle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OracleSetting {
    /// The value is not set: the OS default applies (see [`ClientProfile::oracle_default`]).
    #[default]
    Absent,
    /// The raw DWORD (kept even when it is not 0, 1 or 2).
    Value(u32),
    /// Not known whether or how it is set.
    Unknown,
}

impl fmt::Display for OracleSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OracleSetting::Absent => f.write_str("absent"),
            OracleSetting::Value(v) => write!(f, "{v}"),
            OracleSetting::Unknown => f.write_str("unknown"),
        }
    }
}

impl OracleSetting {
    /// Parses `0`/`1`/`2` (or any DWORD, decimal or `0x` hex), `absent`, `unknown`; empty is
    /// `absent`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "" | "absent" | "default" | "not set" | "none" => return Ok(OracleSetting::Absent),
            "unknown" | "?" => return Ok(OracleSetting::Unknown),
            _ => {}
        }
        let parsed = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("dword:")) {
            u32::from_str_radix(hex, 16)
        } else {
            t.parse::<u32>()
        };
        parsed.map(OracleSetting::Value).map_err(|_| {
            format!("expected 0, 1, 2, absent or unknown for allow_encryption_oracle, got {s:?}")
        })
    }
}

use crate::proto::tls::ProtocolVersion;

/// Parses a list of TLS versions separated by `;`, `,`, `|` or spaces (`1.2;1.3`,
/// `TLS1.2 TLS1.3`).
pub fn parse_tls_list(s: &str) -> Result<Vec<ProtocolVersion>, String> {
    let mut out = Vec::new();
    for part in s
        .split([';', ',', '|', ' ', '\t'])
        .filter(|p| !p.trim().is_empty())
    {
        let v = ProtocolVersion::parse(part)
            .filter(|v| v.tls_index().is_some())
            .ok_or_else(|| {
                format!("unknown TLS version {part:?} (expected 1.0, 1.1, 1.2 or 1.3)")
            })?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out.sort();
    Ok(out)
}

/// Per TLS version: can the client use it?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TlsSupport {
    by_version: [Tristate; 4],
}

impl TlsSupport {
    /// Nothing known.
    pub fn unknown() -> Self {
        Self::default()
    }

    /// Exactly these versions, all others off.
    pub fn only(versions: &[ProtocolVersion]) -> Self {
        let mut s = Self {
            by_version: [Tristate::No; 4],
        };
        for v in versions {
            s.set(*v, Tristate::Yes);
        }
        s
    }

    pub fn get(&self, v: ProtocolVersion) -> Tristate {
        v.tls_index()
            .and_then(|i| self.by_version.get(i))
            .copied()
            .unwrap_or(Tristate::Unknown)
    }

    pub fn set(&mut self, v: ProtocolVersion, state: Tristate) {
        if let Some(slot) = v.tls_index().and_then(|i| self.by_version.get_mut(i)) {
            *slot = state;
        }
    }

    /// Versions known to be usable.
    pub fn enabled(&self) -> Vec<ProtocolVersion> {
        ProtocolVersion::TLS
            .into_iter()
            .filter(|v| self.get(*v) == Tristate::Yes)
            .collect()
    }

    /// Versions whose state is not known.
    pub fn unknown_versions(&self) -> Vec<ProtocolVersion> {
        ProtocolVersion::TLS
            .into_iter()
            .filter(|v| self.get(*v) == Tristate::Unknown)
            .collect()
    }

    pub fn is_all_unknown(&self) -> bool {
        self.by_version.iter().all(|t| *t == Tristate::Unknown)
    }
}

/// How the client authenticates the server inside CredSSP, which decides whether it checks the
/// server's certificate (rdp-facts section 10): a domain-joined client connecting *by name* to a
/// domain member uses Kerberos and shows no certificate prompt; by IP address, from a
/// workgroup, or to a workgroup host it uses NTLM and checks the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerAuth {
    /// Domain-joined, connecting by name: Kerberos authenticates domain servers.
    Kerberos,
    /// By IP, from a workgroup, or outside the domain: NTLM, the certificate is checked.
    Ntlm,
    /// Not known: a domain server's certificate problems make the cell `depends`.
    #[default]
    Unknown,
}

impl ServerAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerAuth::Kerberos => "kerberos",
            ServerAuth::Ntlm => "ntlm",
            ServerAuth::Unknown => "unknown",
        }
    }

    /// Parses `kerberos`, `ntlm`, `unknown`; empty is `None`.
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "kerberos" | "krb" => Ok(Some(ServerAuth::Kerberos)),
            "ntlm" => Ok(Some(ServerAuth::Ntlm)),
            "unknown" | "?" => Ok(Some(ServerAuth::Unknown)),
            other => Err(format!("expected kerberos, ntlm or unknown, got {other:?}")),
        }
    }
}

/// The lowest Standard RDP Security encryption level a client accepts (MS-RDPBCGR 5.3.1;
/// a hardening baseline: Windows' own "Set client connection encryption level" is the server's
/// setting). Ordered weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RdpLevel {
    Low,
    ClientCompatible,
    High,
    Fips,
}

impl RdpLevel {
    /// The report's name of a server level (`low`, `client_compatible`, `high`, `fips`); `None`
    /// for `none` and undefined values.
    pub fn from_report_name(name: &str) -> Option<Self> {
        match name {
            "low" => Some(RdpLevel::Low),
            "client_compatible" => Some(RdpLevel::ClientCompatible),
            "high" => Some(RdpLevel::High),
            "fips" => Some(RdpLevel::Fips),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RdpLevel::Low => "low",
            RdpLevel::ClientCompatible => "client_compatible",
            RdpLevel::High => "high",
            RdpLevel::Fips => "fips",
        }
    }
}

/// Which TLS cipher suites the client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CipherPolicy {
    /// Whatever its TLS stack offers by default (CBC and RSA key exchange included).
    #[default]
    Any,
    /// Only ECDHE key exchange with AEAD ciphers (AES-GCM, ChaCha20-Poly1305), as on clients
    /// hardened to a TLS 1.2 AEAD-only suite order.
    EcdheAead,
}

impl CipherPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            CipherPolicy::Any => "any",
            CipherPolicy::EcdheAead => "ecdhe-aead",
        }
    }

    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "any" | "default" => Ok(Some(CipherPolicy::Any)),
            "ecdhe-aead" | "aead" | "modern" => Ok(Some(CipherPolicy::EcdheAead)),
            other => Err(format!("expected any or ecdhe-aead, got {other:?}")),
        }
    }
}

/// What the client does when it cannot authenticate the server (certificate not trusted,
/// name mismatch, expired): mstsc "If server authentication fails", `.rdp`
/// `authentication level:i:N`, GPO "Configure server authentication for client"
/// (`HKLM\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services\AuthenticationLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertPolicy {
    /// 0: connect without warning.
    Ignore,
    /// 2 (and the mstsc default): show a warning and let the user decide.
    #[default]
    Warn,
    /// 1: do not connect.
    Strict,
    /// Not known.
    Unknown,
}

impl CertPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            CertPolicy::Ignore => "ignore",
            CertPolicy::Warn => "warn",
            CertPolicy::Strict => "strict",
            CertPolicy::Unknown => "unknown",
        }
    }

    /// The policy for an `AuthenticationLevel` DWORD (0 connect, 1 do not connect, 2 warn,
    /// 3 no requirement = the client's own default, which warns).
    pub fn from_authentication_level(v: u32) -> Self {
        match v {
            0 => CertPolicy::Ignore,
            1 => CertPolicy::Strict,
            2 | 3 => CertPolicy::Warn,
            _ => CertPolicy::Unknown,
        }
    }

    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "ignore" | "connect" | "0" => Ok(Some(CertPolicy::Ignore)),
            "warn" | "prompt" | "2" => Ok(Some(CertPolicy::Warn)),
            "strict" | "refuse" | "do-not-connect" | "1" => Ok(Some(CertPolicy::Strict)),
            "unknown" => Ok(Some(CertPolicy::Unknown)),
            other => Err(format!(
                "expected ignore, warn, strict or unknown for cert_policy, got {other:?}"
            )),
        }
    }
}

/// One RDP client, as far as it matters for connecting: see the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProfileFile", into = "ProfileFile")]
pub struct ClientProfile {
    /// The matrix column name.
    pub name: String,
    pub kind: ClientKind,
    /// Whether the CVE-2018-0886 CredSSP fix (March 13, 2018 updates or later) is installed.
    pub credssp_fix: Tristate,
    /// The client's `AllowEncryptionOracle` value.
    pub allow_encryption_oracle: OracleSetting,
    /// The policy in force when the value is absent on a patched client: Mitigated after the
    /// May 8, 2018 update, Vulnerable with only the March/April 2018 updates; `None` when not
    /// known. FreeRDP has no such setting and behaves like Vulnerable (see [`super::freerdp`]).
    pub oracle_default: Option<OraclePolicy>,
    /// Can it do Network Level Authentication (CredSSP)?
    pub nla: Tristate,
    pub tls: TlsSupport,
    pub tls_ciphers: CipherPolicy,
    pub cert_policy: CertPolicy,
    /// Does it accept a server that offers only Standard RDP Security (no TLS)?
    pub standard_rdp_security: Tristate,
    /// The lowest Standard RDP Security level it accepts, when it has one.
    pub min_rdp_encryption: Option<RdpLevel>,
    /// How it authenticates the server inside CredSSP (Kerberos or NTLM).
    pub server_auth: ServerAuth,
    /// Windows build (`CurrentBuild`), when known.
    pub os_build: Option<u32>,
    /// Windows update build revision (`UBR`), when known.
    pub ubr: Option<u32>,
    /// Client software version (e.g. FreeRDP's), when known.
    pub version: Option<String>,
    /// Where the profile came from (`built-in`, `local registry`, `file clients.csv line 3`).
    pub source: String,
    /// Explanations of derived values and of what is unknown, for people.
    pub notes: Vec<String>,
}

impl ClientProfile {
    /// A profile about which nothing is known.
    pub fn unknown(name: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: ClientKind::Unknown,
            credssp_fix: Tristate::Unknown,
            allow_encryption_oracle: OracleSetting::Unknown,
            oracle_default: None,
            nla: Tristate::Unknown,
            tls: TlsSupport::unknown(),
            tls_ciphers: CipherPolicy::Any,
            cert_policy: CertPolicy::Unknown,
            standard_rdp_security: Tristate::Unknown,
            min_rdp_encryption: None,
            server_auth: ServerAuth::Unknown,
            os_build: None,
            ubr: None,
            version: None,
            source: source.into(),
            notes: Vec::new(),
        }
    }

    /// What is wrong with the client itself, worth an administrator's action: a patched client
    /// left at `AllowEncryptionOracle=2` (the workaround is a last-resort rollback, never a
    /// state to keep).
    pub fn findings(&self) -> Vec<crate::analysis::findings::Finding> {
        use crate::analysis::findings::{Finding, Severity, ids};
        let mut out = Vec::new();
        if self.kind == ClientKind::Windows
            && self.credssp_fix == Tristate::Yes
            && self.allow_encryption_oracle == OracleSetting::Value(2)
        {
            out.push(Finding::new(
                ids::CLIENT_ORACLE_VULNERABLE,
                Severity::High,
                format!(
                    "AllowEncryptionOracle=2 (Vulnerable) is set: this client falls back to the pre-fix CredSSP exchange for anyone who claims to be a server, exposing every server it connects to (CVE-2018-0886). Revert it once the servers are patched: {} then gpupdate /force (/d 0 for Force Updated Clients).",
                    crate::compat::remediation::reg_add_oracle(1)
                ),
            ));
        }
        out
    }

    /// The policy that decides this client's CredSSP behaviour against an unpatched server,
    /// when the client is patched: the explicit value, else the OS default. `None` when not
    /// known or when the value is not one Microsoft defines.
    pub fn effective_policy(&self) -> Option<OraclePolicy> {
        match self.allow_encryption_oracle {
            OracleSetting::Value(v) => OraclePolicy::from_dword(v),
            OracleSetting::Absent => self.oracle_default,
            OracleSetting::Unknown => None,
        }
    }

    /// Whether nothing at all is known about the client (no matrix prediction possible).
    pub fn is_unknown(&self) -> bool {
        self.kind == ClientKind::Unknown
            && self.credssp_fix == Tristate::Unknown
            && self.nla == Tristate::Unknown
            && self.tls.is_all_unknown()
    }
}

/// The file form of a [`ClientProfile`]: every field optional, unknown fields rejected.
///
/// Missing fields are derived: `credssp_fix` and `oracle_default` from `os_build`/`ubr`
/// ([`build_table`]), `tls_versions` from the Windows defaults for `os_build`, `nla` yes,
/// `cert_policy` warn, `standard_rdp_security` yes for Windows clients.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ClientKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credssp_fix: Option<Tristate>,
    /// `0`, `1`, `2` (any DWORD is kept), `"absent"`, `"unknown"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_encryption_oracle: Option<OracleSettingFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oracle_default: Option<OracleDefaultFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nla: Option<Tristate>,
    /// Usable versions; versions not listed here nor in `tls_versions_unknown` are off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_versions: Option<Vec<ProtocolVersion>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_versions_unknown: Option<Vec<ProtocolVersion>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ciphers: Option<CipherPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_policy: Option<CertPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_rdp_security: Option<Tristate>,
    /// `low`, `client_compatible`, `high`, `fips`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rdp_encryption: Option<RdpLevel>,
    /// `kerberos`, `ntlm`, `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_auth: Option<ServerAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_build: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ubr: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What `rdpsweep client` found wrong with the client (output only; ignored when read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<crate::analysis::findings::Finding>,
}

/// `allow_encryption_oracle` in a file: a number or a word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OracleSettingFile {
    Number(u32),
    Word(String),
}

/// `oracle_default` in a file: a policy name or `"unknown"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OracleDefaultFile {
    ForceUpdatedClients,
    Mitigated,
    Vulnerable,
    Unknown,
}

impl From<Option<OraclePolicy>> for OracleDefaultFile {
    fn from(p: Option<OraclePolicy>) -> Self {
        match p {
            Some(OraclePolicy::ForceUpdatedClients) => OracleDefaultFile::ForceUpdatedClients,
            Some(OraclePolicy::Mitigated) => OracleDefaultFile::Mitigated,
            Some(OraclePolicy::Vulnerable) => OracleDefaultFile::Vulnerable,
            None => OracleDefaultFile::Unknown,
        }
    }
}

impl From<OracleDefaultFile> for Option<OraclePolicy> {
    fn from(p: OracleDefaultFile) -> Self {
        match p {
            OracleDefaultFile::ForceUpdatedClients => Some(OraclePolicy::ForceUpdatedClients),
            OracleDefaultFile::Mitigated => Some(OraclePolicy::Mitigated),
            OracleDefaultFile::Vulnerable => Some(OraclePolicy::Vulnerable),
            OracleDefaultFile::Unknown => None,
        }
    }
}

impl From<ClientProfile> for ProfileFile {
    fn from(p: ClientProfile) -> Self {
        let known_tls = !p.tls.is_all_unknown();
        let findings = p.findings();
        ProfileFile {
            name: Some(p.name),
            kind: Some(p.kind),
            credssp_fix: Some(p.credssp_fix),
            allow_encryption_oracle: Some(match p.allow_encryption_oracle {
                OracleSetting::Value(v) => OracleSettingFile::Number(v),
                other => OracleSettingFile::Word(other.to_string()),
            }),
            oracle_default: Some(p.oracle_default.into()),
            nla: Some(p.nla),
            tls_versions: known_tls.then(|| p.tls.enabled()),
            tls_versions_unknown: known_tls.then(|| p.tls.unknown_versions()),
            tls_ciphers: Some(p.tls_ciphers),
            cert_policy: Some(p.cert_policy),
            standard_rdp_security: Some(p.standard_rdp_security),
            min_rdp_encryption: p.min_rdp_encryption,
            server_auth: Some(p.server_auth),
            os_build: p.os_build,
            ubr: p.ubr,
            version: p.version,
            findings,
            source: Some(p.source),
            notes: p.notes,
        }
    }
}

impl TryFrom<ProfileFile> for ClientProfile {
    type Error = String;

    fn try_from(f: ProfileFile) -> Result<Self, String> {
        let name = f.name.clone().unwrap_or_default();
        let source = f.source.clone().unwrap_or_else(|| "file".to_owned());
        resolve(f, &name, &source)
    }
}

/// Turns a [`ProfileFile`] (from TOML/JSON or a fleet row) into a profile, deriving what is
/// missing. `default_name` is used when the file has no `name`; `source` when it has no
/// `source`.
pub fn resolve(f: ProfileFile, default_name: &str, source: &str) -> Result<ClientProfile, String> {
    let name = f
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| default_name.to_owned());
    validate_name(&name)?;
    let kind = f.kind.unwrap_or(ClientKind::Windows);
    let mut notes = f.notes;

    let decision = match kind {
        ClientKind::Windows => f.os_build.map(|b| build_table::credssp_fix(b, f.ubr)),
        _ => None,
    };
    let credssp_fix = match (f.credssp_fix, &decision) {
        (Some(t), _) => t,
        (None, Some(d)) => {
            notes.push(d.note.clone());
            d.fix
        }
        (None, None) => Tristate::Unknown,
    };
    let oracle_default = match (f.oracle_default, &decision) {
        (Some(d), _) => d.into(),
        (None, Some(d)) if credssp_fix == Tristate::Yes => d.default_policy,
        // Patched but build unknown: the default since May 8, 2018.
        (None, None) if credssp_fix == Tristate::Yes && kind == ClientKind::Windows => {
            Some(OraclePolicy::Mitigated)
        }
        _ => None,
    };
    let allow_encryption_oracle = match f.allow_encryption_oracle {
        None => OracleSetting::Absent,
        Some(OracleSettingFile::Number(v)) => OracleSetting::Value(v),
        Some(OracleSettingFile::Word(w)) => OracleSetting::parse(&w)?,
    };
    let tls = match (f.tls_versions, f.tls_versions_unknown) {
        (Some(on), unknown) => {
            let mut t = TlsSupport::only(&on);
            for v in unknown.unwrap_or_default() {
                t.set(v, Tristate::Unknown);
            }
            t
        }
        (None, Some(unknown)) if !unknown.is_empty() => {
            return Err("tls_versions_unknown needs tls_versions".to_owned());
        }
        (None, _) => match (kind, f.os_build) {
            (ClientKind::Windows, Some(build)) => {
                let (t, note) = build_table::windows_default_tls(build);
                notes.push(note);
                t
            }
            _ => TlsSupport::unknown(),
        },
    };
    let unknown_kind = kind == ClientKind::Unknown;
    Ok(ClientProfile {
        name,
        kind,
        credssp_fix,
        allow_encryption_oracle,
        oracle_default,
        nla: f.nla.unwrap_or(if unknown_kind {
            Tristate::Unknown
        } else {
            Tristate::Yes
        }),
        tls,
        tls_ciphers: f.tls_ciphers.unwrap_or_default(),
        cert_policy: f.cert_policy.unwrap_or(if unknown_kind {
            CertPolicy::Unknown
        } else {
            CertPolicy::Warn
        }),
        standard_rdp_security: f.standard_rdp_security.unwrap_or(if unknown_kind {
            Tristate::Unknown
        } else {
            Tristate::Yes
        }),
        min_rdp_encryption: f.min_rdp_encryption,
        server_auth: f.server_auth.unwrap_or_default(),
        os_build: f.os_build,
        ubr: f.ubr,
        version: f.version,
        source: f.source.unwrap_or_else(|| source.to_owned()),
        notes,
    })
}

/// Profile names become CSV headers and JSON keys: printable, no leading formula character,
/// at most 64 characters.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("client name is empty".to_owned());
    }
    if name.chars().count() > 64 {
        return Err(format!("client name {name:?} is longer than 64 characters"));
    }
    if name.chars().any(|c| c.is_control() || c == ',') {
        return Err(format!(
            "client name {name:?} contains a comma or a control character"
        ));
    }
    if name.starts_with(['=', '+', '-', '@']) {
        return Err(format!(
            "client name {name:?} starts with a spreadsheet formula character"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_versions_parse_in_every_spelling() {
        for s in ["1.2", "TLS1.2", "TLSv1.2", "tls1_2", "TLS 1.2", " tlsv1.2 "] {
            assert_eq!(
                ProtocolVersion::parse(s),
                Some(ProtocolVersion::TLS1_2),
                "{s}"
            );
        }
        assert_eq!(
            ProtocolVersion::parse("TLSv1"),
            Some(ProtocolVersion::TLS1_0)
        );
        assert_eq!(ProtocolVersion::parse("SSLv3"), Some(ProtocolVersion::SSL3));
        assert!(
            parse_tls_list("SSLv3").is_err(),
            "a client's TLS versions are TLS 1.0 to 1.3"
        );
        assert_eq!(
            parse_tls_list("TLS1.3;1.2, 1.2").unwrap(),
            vec![ProtocolVersion::TLS1_2, ProtocolVersion::TLS1_3]
        );
        assert!(parse_tls_list("1.2;1.4").unwrap_err().contains("1.4"));
    }

    #[test]
    fn oracle_setting_keeps_raw_values() {
        assert_eq!(OracleSetting::parse("").unwrap(), OracleSetting::Absent);
        assert_eq!(OracleSetting::parse("2").unwrap(), OracleSetting::Value(2));
        assert_eq!(
            OracleSetting::parse("0x00000001").unwrap(),
            OracleSetting::Value(1)
        );
        assert_eq!(OracleSetting::parse("7").unwrap(), OracleSetting::Value(7));
        assert_eq!(
            OracleSetting::parse("unknown").unwrap(),
            OracleSetting::Unknown
        );
        assert!(OracleSetting::parse("two").is_err());
    }

    #[test]
    fn effective_policy_uses_value_then_default() {
        let mut p = ClientProfile::unknown("x", "test");
        p.credssp_fix = Tristate::Yes;
        p.oracle_default = Some(OraclePolicy::Mitigated);
        p.allow_encryption_oracle = OracleSetting::Absent;
        assert_eq!(p.effective_policy(), Some(OraclePolicy::Mitigated));
        p.allow_encryption_oracle = OracleSetting::Value(2);
        assert_eq!(p.effective_policy(), Some(OraclePolicy::Vulnerable));
        p.allow_encryption_oracle = OracleSetting::Value(9);
        assert_eq!(p.effective_policy(), None);
    }

    #[test]
    fn profile_round_trips_through_json_and_toml() {
        let p = super::super::builtin::builtin("modern-tls12").unwrap();
        let json = serde_json::to_string(&p).unwrap();
        let back: ClientProfile = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        let toml_text = toml::to_string(&p).unwrap();
        let back: ClientProfile = toml::from_str(&toml_text).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn missing_fields_are_derived_from_the_build() {
        let f: ProfileFile = toml::from_str("os_build = 19045\nubr = 3803\n").unwrap();
        let p = resolve(f, "laptop", "test").unwrap();
        assert_eq!(p.name, "laptop");
        assert_eq!(p.credssp_fix, Tristate::Yes);
        assert_eq!(p.oracle_default, Some(OraclePolicy::Mitigated));
        assert_eq!(p.tls.get(ProtocolVersion::TLS1_2), Tristate::Yes);
        assert_eq!(p.nla, Tristate::Yes);
        assert_eq!(p.cert_policy, CertPolicy::Warn);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_rejected() {
        assert!(toml::from_str::<ProfileFile>("alow_encryption_oracle = 2").is_err());
        let err = toml::from_str::<ClientProfile>("credssp_fix = \"maybe\"").unwrap_err();
        assert!(err.to_string().contains("maybe"), "{err}");
        let err = toml::from_str::<ClientProfile>("name = \"=cmd\"").unwrap_err();
        assert!(err.to_string().contains("formula"), "{err}");
    }
}
