//! The output schema: [`HostReport`] is the single record every writer consumes.
//!
//! JSON is its serde form; CSV is the documented flattening in [`super::csv`]. Field names are
//! part of the product (see `docs/output.md`): add fields, never rename them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::analysis::findings::Finding;
pub use crate::observe::tls::TlsStack;
pub use crate::proto::tls::{CipherSuite, ProtocolVersion};

/// The one status every host ends in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// An X.224 Connection Confirm came back: an RDP server.
    Rdp,
    /// Something answered, but not with X.224.
    NotRdp,
    /// The TCP connection was refused.
    Closed,
    /// The TCP connection timed out.
    Filtered,
    /// Anything else; see `error`.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Rdp => "rdp",
            Status::NotRdp => "not_rdp",
            Status::Closed => "closed",
            Status::Filtered => "filtered",
            Status::Error => "error",
        }
    }
}

/// The probe stage an error or outcome belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Resolve,
    Connect,
    Negotiate,
    Tls,
    Credssp,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Resolve => "resolve",
            Stage::Connect => "connect",
            Stage::Negotiate => "negotiate",
            Stage::Tls => "tls",
            Stage::Credssp => "credssp",
        }
    }
}

/// What went wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub stage: Stage,
    pub message: String,
}

/// The schema version this rdpsweep writes in every host record (`schema_version`).
///
/// Compatibility rule (`docs/output.md`): a reader accepts records of any version up to its
/// own and refuses newer ones ("written by a newer rdpsweep"); records without the field are
/// version 1. `report` refuses to merge saved scans of different versions; `diff` compares
/// them, leaving out the fields the older version did not have ([`fields_added_after`]).
/// Raise it when a field is added to the host record, and list the new field in
/// [`SCHEMA_FIELDS`].
pub const SCHEMA_VERSION: u32 = 2;

/// The version of a record without `schema_version` (written before the field existed).
pub const SCHEMA_VERSION_UNMARKED: u32 = 1;

/// Which host-record fields each schema version introduced, as diff paths (`docs/diff.md`:
/// fields joined with `.`): version 1 is everything else. `diff` ignores the fields of versions
/// newer than the older of its two scans.
pub const SCHEMA_FIELDS: &[(u32, &[&str])] = &[(
    2,
    &[
        "schema_version",
        "server",
        "rdp_security",
        "tls.versions_undecided",
        "tls.trust.name_checked",
        "ntlm.domain_joined",
    ],
)];

/// The fields introduced after schema version `version` (none for the current one).
pub fn fields_added_after(version: u32) -> Vec<&'static str> {
    SCHEMA_FIELDS
        .iter()
        .filter(|(v, _)| *v > version)
        .flat_map(|(_, fields)| fields.iter().copied())
        .collect()
}

fn unmarked_schema_version() -> u32 {
    SCHEMA_VERSION_UNMARKED
}

/// Everything rdpsweep reports about one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostReport {
    /// The schema version the record was made under ([`SCHEMA_VERSION`] for a new probe; 1
    /// when a saved record has no such field). `report` keeps it when it rewrites a saved
    /// record: fields added later were not observed. Serialised first, so a reader meets it
    /// before any field it might not know.
    #[serde(default = "unmarked_schema_version")]
    pub schema_version: u32,
    /// The target string this endpoint came from (a hostname, or the address itself).
    pub target: String,
    /// The address probed; absent when a name did not resolve.
    pub ip: Option<IpAddr>,
    pub port: u16,
    pub status: Status,
    pub error: Option<ErrorInfo>,
    pub security: Security,
    /// Which RDP server implementation answered, and why (RDP endpoints only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerReport>,
    pub tls: Option<TlsReport>,
    /// What the server does with Standard RDP Security (present when it accepts it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdp_security: Option<RdpSecurityReport>,
    pub credssp: Option<CredsspReport>,
    pub ntlm: Option<NtlmReport>,
    pub findings: Vec<Finding>,
    /// Per client profile: the predicted connection outcome (filled by `compat`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub compat: BTreeMap<String, CompatCell>,
    /// How many TCP connections the probe opened to this endpoint.
    pub connections: u32,
    pub elapsed_ms: u64,
}

impl HostReport {
    /// A report with nothing observed yet.
    pub fn new(target: String, ip: Option<IpAddr>, port: u16) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            target,
            ip,
            port,
            status: Status::Error,
            error: None,
            security: Security::default(),
            server: None,
            tls: None,
            rdp_security: None,
            credssp: None,
            ntlm: None,
            findings: Vec::new(),
            compat: BTreeMap::new(),
            connections: 0,
            elapsed_ms: 0,
        }
    }

    /// `ip:port` (with brackets for IPv6), or `target:port` when there is no address.
    pub fn endpoint(&self) -> String {
        match self.ip {
            Some(IpAddr::V6(ip)) => format!("[{ip}]:{}", self.port),
            Some(ip) => format!("{ip}:{}", self.port),
            None => format!("{}:{}", self.target, self.port),
        }
    }
}

/// An RDP server implementation, as far as the probe can tell (`server.implementation`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Implementation {
    /// Microsoft's Remote Desktop Services.
    Windows,
    /// xrdp (neutrinolabs).
    Xrdp,
    /// A server built on FreeRDP's WinPR (FreeRDP's shadow server and proxy,
    /// gnome-remote-desktop).
    Freerdp,
    /// Not decided; `server.evidence` says what was seen.
    #[default]
    Unknown,
}

impl Implementation {
    pub fn as_str(self) -> &'static str {
        match self {
            Implementation::Windows => "windows",
            Implementation::Xrdp => "xrdp",
            Implementation::Freerdp => "freerdp",
            Implementation::Unknown => "unknown",
        }
    }

    /// How a person names it.
    pub fn label(self) -> &'static str {
        match self {
            Implementation::Windows => "Windows",
            Implementation::Xrdp => "xrdp",
            Implementation::Freerdp => "FreeRDP (WinPR)",
            Implementation::Unknown => "unknown",
        }
    }
}

/// The `server` section: which implementation answered, and the observations that decided it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerReport {
    pub implementation: Implementation,
    /// One sentence per observation that counted, for or against.
    pub evidence: Vec<String>,
    /// The RDP version the server announced in its MCS Connect Response (server core data,
    /// MS-RDPBCGR 2.2.1.4.2), e.g. `RDP 10.7`, from whichever connection showed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdp_version: Option<String>,
    /// The same as sent, `0x00080004`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdp_version_raw: Option<String>,
}

/// The `rdp_security` section: what the server does when a client uses Standard RDP Security
/// (MS-RDPBCGR 5.3), from its MCS Connect Response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RdpSecurityReport {
    /// `none`, `low`, `client_compatible`, `high`, `fips` (hex when undefined); absent when
    /// the exchange failed (see `error`).
    pub encryption_level: Option<String>,
    /// The methods the server is known to use: the one it chose when offered all four, and
    /// with `--deep` each one it accepted when offered alone (`40bit`, `56bit`, `128bit`,
    /// `fips`).
    pub encryption_methods: Vec<String>,
    /// Whether each method was offered alone (`--deep`), so the list is complete.
    pub methods_enumerated: bool,
    /// `RDP 5.0-8.1`, `RDP 10.7`, ... (server core data).
    pub server_version: Option<String>,
    /// As sent, `0x00080004`.
    pub server_version_raw: Option<String>,
    /// `proprietary`, `x509`, or `unknown`; absent when the server sent none.
    pub certificate_type: Option<String>,
    pub certificate: Option<RdpCertificateReport>,
    /// Why the exchange showed nothing (a refusal, a timeout, an unreadable answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The Standard RDP Security server certificate (MS-RDPBCGR 2.2.1.4.3.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RdpCertificateReport {
    /// The RSA modulus size (counted), proprietary certificates.
    pub key_bits: Option<u32>,
    pub public_exponent: Option<u32>,
    /// A temporary certificate (dwVersion high bit).
    pub temporary: bool,
    /// The server's own certificate of an X.509 chain (license-server issued).
    pub x509: Option<CertificateReport>,
}

/// Which security protocols the server accepts (MS-RDPBCGR 2.2.1.1.1 requestedProtocols).
/// `None` means "not probed" or "could not be decided".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protocols {
    pub rdp: Option<bool>,
    pub tls: Option<bool>,
    pub credssp: Option<bool>,
    pub credssp_early_auth: Option<bool>,
    pub rdstls: Option<bool>,
    pub rdsaad: Option<bool>,
}

/// Whether the server insists on Network Level Authentication (CredSSP before the session).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NlaVerdict {
    /// Every non-CredSSP request was refused with HYBRID_REQUIRED_BY_SERVER.
    Required,
    /// CredSSP is selected when offered, but weaker layers are accepted too.
    Supported,
    /// CredSSP is never selected.
    NotSupported,
    /// Not decided; `nla_reason` says why.
    #[default]
    Unknown,
}

impl NlaVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            NlaVerdict::Required => "required",
            NlaVerdict::Supported => "supported",
            NlaVerdict::NotSupported => "not_supported",
            NlaVerdict::Unknown => "unknown",
        }
    }
}

/// One negotiation probe: what was asked, and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NegotiationProbe {
    /// Requested protocols, as names (`rdp` for none, `tls`, `credssp`, ...).
    pub requested: Vec<String>,
    /// `selected:<protocol>`, `failure:<code name>`, `legacy` (no negotiation data),
    /// or `error:<reason>`.
    pub result: String,
}

/// The security-layer section (MS-RDPBCGR 2.2.1.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {
    pub protocols: Protocols,
    /// The protocol chosen for the mstsc-like request (SSL|HYBRID|HYBRID_EX).
    pub selected: Option<String>,
    pub nla: NlaVerdict,
    pub nla_reason: Option<String>,
    /// Names of the RDP_NEG_RSP flags (unknown bits as `0x..`).
    pub negotiation_flags: Vec<String>,
    /// Failure codes by probe, e.g. `tls:HYBRID_REQUIRED_BY_SERVER`.
    pub failure_codes: Vec<String>,
    /// Every negotiation connection, in order.
    pub probes: Vec<NegotiationProbe>,
}

/// The TLS section (filled by the TLS stage).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsReport {
    /// Negotiated version of the main handshake (`"1.2"`, ...).
    pub version: Option<ProtocolVersion>,
    /// Negotiated cipher suite (IANA name, `0xC0FF` when unnamed).
    pub cipher: Option<CipherSuite>,
    /// Versions the server accepted, oldest first.
    pub versions: Vec<ProtocolVersion>,
    /// Versions whose acceptance was decided (accepted or refused), oldest first.
    pub versions_probed: Vec<ProtocolVersion>,
    /// TLS 1.0 to 1.3 versions that stayed undecided (a hostile server, a timeout, or
    /// `--tls-versions quick`).
    #[serde(default)]
    pub versions_undecided: Vec<ProtocolVersion>,
    /// Which TLS stack completed the main handshake: `rustls`, `openssl`, or none.
    pub stack: Option<TlsStack>,
    pub certificate: Option<CertificateReport>,
    /// Further certificates of the chain, leaf excluded (subject CN and SHA-256 only).
    #[serde(default)]
    pub chain: Vec<ChainEntry>,
    pub trust: Option<TrustReport>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEntry {
    pub subject: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateReport {
    pub subject_cn: Option<String>,
    pub subject: String,
    pub sans: Vec<String>,
    pub issuer: String,
    /// Hex, colon-separated (never a bare number: spreadsheets mangle long digit strings).
    pub serial: String,
    /// RFC 3339.
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    pub key_type: String,
    pub key_bits: Option<u32>,
    pub signature_algorithm: String,
    pub self_signed: bool,
    /// Upper-case hex, colon-separated.
    pub sha256: String,
    /// Upper-case hex without separators, as Windows shows the thumbprint.
    pub sha1: String,
}

/// Trust verdicts: `"trusted"` or `"untrusted: <reason>"`; `None` when not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustReport {
    pub platform: Option<String>,
    pub ca_file: Option<String>,
    pub name: Option<String>,
    /// The name `name` is about: the scanned host name, else the host's NTLM DNS computer
    /// name (the name users type), else the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_checked: Option<String>,
}

/// Whether the server has the CVE-2018-0886 CredSSP fix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OracleFix {
    Fixed,
    Missing,
    #[default]
    Unknown,
}

impl OracleFix {
    pub fn as_str(self) -> &'static str {
        match self {
            OracleFix::Fixed => "fixed",
            OracleFix::Missing => "missing",
            OracleFix::Unknown => "unknown",
        }
    }
}

/// The CredSSP section (MS-CSSP 2.2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredsspReport {
    /// The version the server put in its TSRequest.
    pub version: Option<u32>,
    /// NTSTATUS errorCode, as `0x........`.
    pub error_code: Option<String>,
    pub error_name: Option<String>,
    pub cve_2018_0886: OracleFix,
    pub note: Option<String>,
    /// Answers to emulated client versions (`--credssp-versions`), in the order asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emulated: Vec<EmulatedCredssp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmulatedCredssp {
    pub client_version: u32,
    pub server_version: Option<u32>,
    pub error_code: Option<String>,
    pub note: Option<String>,
}

/// Host identity from the NTLM CHALLENGE (MS-NLMP 2.2.1.2, 2.2.2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NtlmReport {
    pub target_name: Option<String>,
    pub nb_computer: Option<String>,
    pub nb_domain: Option<String>,
    pub dns_computer: Option<String>,
    pub dns_domain: Option<String>,
    pub dns_tree: Option<String>,
    /// Whether the host is a domain member: its NetBIOS domain differs from its own name and
    /// it has a DNS domain of its own (a workgroup host names itself as its domain). `None`
    /// when the names do not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_joined: Option<bool>,
    /// `major.minor.build`.
    pub os_version: Option<String>,
    pub os_build: Option<u32>,
    pub os_name: Option<String>,
    /// RFC 3339, from the timestamp AV pair.
    pub server_time: Option<String>,
    /// Server clock minus scanner clock, seconds.
    pub clock_skew_s: Option<i64>,
    pub negotiate_flags: Option<String>,
    /// What was odd or missing in the CHALLENGE (no negoToken, unparsable token, invalid
    /// UTF-16, missing MsvAvEOL, ...).
    #[serde(default)]
    pub note: Option<String>,
}

/// Predicted outcome of one client connecting to one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Exposed,
    Warn,
    Blocked,
    Depends,
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Exposed => "exposed",
            Outcome::Warn => "warn",
            Outcome::Blocked => "blocked",
            Outcome::Depends => "depends",
            Outcome::Unknown => "unknown",
        }
    }
}

/// One matrix cell: outcome, machine-readable reason, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatCell {
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub remediation: Option<String>,
}
