//! Compatibility prediction (pure): for one scanned host and one client profile, will the
//! client connect, and what is the fix?
//!
//! [`evaluate`] follows what an RDP client does:
//! 1. **Security layer** (MS-RDPBCGR 2.2.1.1.1): the client offers CredSSP (if it can do NLA),
//!    TLS and, unless it refuses it, Standard RDP Security; the server picks. A server that
//!    requires NLA blocks a client without NLA (`nla-required`); a server with only Standard
//!    RDP Security blocks a client that refuses it (`security-layer`).
//! 2. **TLS** (for TLS and CredSSP): no common version -> `tls-version`; a client restricted
//!    to ECDHE+AEAD suites against a server without them -> `tls-cipher`.
//! 3. **Certificate**: problems in the host's findings (`cert-untrusted`,
//!    `cert-name-mismatch`, `cert-expired`, `cert-not-yet-valid`, `cert-self-signed`)
//!    block a strict client (`cert-strict`) and make a warning client `warn`.
//! 4. **CredSSP** (only when NLA is used): Microsoft's table ([`credssp`], KB4093492) gives
//!    `blocked:credssp-oracle`, `exposed`, `ok`, or `depends` when the server's own
//!    unobservable policy decides.
//!
//! 5. **Standard RDP Security's encryption**: the level against the client's minimum
//!    (`rdp-encryption`); a FreeRDP client against xrdp's RC4 (`rdp-security`).
//! 6. **The client's own policy**: a patched client left at Vulnerable exposes every server.
//!
//! A server that refused every layer is `blocked:security-refused`; certificate problems on a
//! domain-joined host depend on whether the client authenticates it with Kerberos
//! (`depends:server-auth` when that is unknown).
//!
//! Each check yields nothing or an issue; the cell is the worst issue in the order
//! blocked > unknown > depends > exposed > warn > ok, with the remediation of every issue
//! (the worst first). Missing data is `unknown` with a reason saying what is missing.
//!
//! Reasons: blocked `credssp-oracle`, `nla-required`, `tls-version`, `tls-cipher`,
//! `cert-strict`, `security-layer`, `security-refused`, `rdp-encryption`, `rdp-security`;
//! exposed `credssp-oracle`; depends `credssp-oracle`, `server-auth`; warn `cert-warning`,
//! `security-layer`; unknown `not-rdp`, `client-unknown`, `security-not-observed`,
//! `client-nla-unknown`, `client-layer-unknown`, `tls-not-observed`, `client-tls-unknown`,
//! `tls-cipher-not-observed`, `cert-not-observed`, `cert-trust-not-checked`,
//! `client-cert-policy-unknown`, `credssp-not-observed`, `client-credssp-unknown`.

pub mod credssp;
pub mod remediation;

use crate::analysis::findings::ids;
use crate::client::profile::{
    CertPolicy, CipherPolicy, ClientKind, ClientProfile, OraclePolicy, RdpLevel, ServerAuth,
    Tristate,
};
use crate::proto::tls::ProtocolVersion;
use crate::report::schema::{
    CipherSuite, CompatCell, HostReport, Implementation, NlaVerdict, OracleFix, Outcome, Status,
    TlsStack,
};

/// Blocked reasons (stable ids).
pub mod reasons {
    pub const CREDSSP_ORACLE: &str = "credssp-oracle";
    pub const NLA_REQUIRED: &str = "nla-required";
    pub const TLS_VERSION: &str = "tls-version";
    pub const TLS_CIPHER: &str = "tls-cipher";
    pub const CERT_STRICT: &str = "cert-strict";
    pub const SECURITY_LAYER: &str = "security-layer";
    pub const SECURITY_REFUSED: &str = "security-refused";
    pub const RDP_ENCRYPTION: &str = "rdp-encryption";
    pub const RDP_SECURITY: &str = "rdp-security";
    pub const SERVER_AUTH: &str = "server-auth";
    pub const CERT_WARNING: &str = "cert-warning";
    pub const NOT_RDP: &str = "not-rdp";
    pub const CLIENT_UNKNOWN: &str = "client-unknown";
    pub const SECURITY_NOT_OBSERVED: &str = "security-not-observed";
    pub const CLIENT_NLA_UNKNOWN: &str = "client-nla-unknown";
    pub const CLIENT_LAYER_UNKNOWN: &str = "client-layer-unknown";
    pub const TLS_NOT_OBSERVED: &str = "tls-not-observed";
    pub const CLIENT_TLS_UNKNOWN: &str = "client-tls-unknown";
    pub const TLS_CIPHER_NOT_OBSERVED: &str = "tls-cipher-not-observed";
    pub const CERT_NOT_OBSERVED: &str = "cert-not-observed";
    pub const CERT_TRUST_NOT_CHECKED: &str = "cert-trust-not-checked";
    pub const CLIENT_CERT_POLICY_UNKNOWN: &str = "client-cert-policy-unknown";
    pub const CREDSSP_NOT_OBSERVED: &str = "credssp-not-observed";
    pub const CLIENT_CREDSSP_UNKNOWN: &str = "client-credssp-unknown";
}

/// Certificate findings that make a client unable to authenticate the server.
pub const CERT_PROBLEMS: &[&str] = &[
    ids::CERT_UNTRUSTED,
    ids::CERT_NAME_MISMATCH,
    ids::CERT_EXPIRED,
    ids::CERT_NOT_YET_VALID,
    ids::CERT_SELF_SIGNED,
];

/// One non-ok finding of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Issue {
    outcome: Outcome,
    reason: &'static str,
    remediation: String,
}

impl Issue {
    fn new(outcome: Outcome, reason: &'static str, remediation: impl Into<String>) -> Self {
        Self {
            outcome,
            reason,
            remediation: remediation.into(),
        }
    }
}

/// How bad an outcome is, for combining checks.
pub fn severity_rank(o: Outcome) -> u8 {
    match o {
        Outcome::Ok => 0,
        Outcome::Warn => 1,
        Outcome::Exposed => 2,
        Outcome::Depends => 3,
        Outcome::Unknown => 4,
        Outcome::Blocked => 5,
    }
}

/// The layer the connection would use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    /// TLS + CredSSP (NLA).
    Credssp,
    /// TLS without NLA.
    Tls,
    /// Standard RDP Security.
    StandardRdp,
}

/// Predicts the outcome of `client` connecting to `host`. Pure.
pub fn evaluate(host: &HostReport, client: &ClientProfile) -> CompatCell {
    combine(issues(host, client))
}

/// Fills `host.compat` with one cell per client (replacing earlier cells). Pure.
pub fn evaluate_all(host: &mut HostReport, clients: &[ClientProfile]) {
    host.compat.clear();
    for c in clients {
        let cell = evaluate(host, c);
        host.compat.insert(c.name.clone(), cell);
    }
}

fn combine(mut issues: Vec<Issue>) -> CompatCell {
    issues.sort_by_key(|i| std::cmp::Reverse(severity_rank(i.outcome)));
    let Some(first) = issues.first() else {
        return CompatCell {
            outcome: Outcome::Ok,
            reason: None,
            remediation: None,
        };
    };
    let mut remediation = first.remediation.clone();
    for other in issues.iter().skip(1) {
        remediation.push_str(&format!(
            " Also ({}:{}): {}",
            other.outcome.as_str(),
            other.reason,
            other.remediation
        ));
    }
    CompatCell {
        outcome: first.outcome,
        reason: Some(first.reason.to_owned()),
        remediation: Some(remediation),
    }
}

fn issues(host: &HostReport, client: &ClientProfile) -> Vec<Issue> {
    use reasons::*;
    if host.status != Status::Rdp {
        return vec![Issue::new(
            Outcome::Unknown,
            NOT_RDP,
            remediation::missing(&format!(
                "no RDP server was observed at {} (status {}); nothing to predict until it answers.",
                host.endpoint(),
                host.status.as_str()
            )),
        )];
    }
    if client.is_unknown() {
        return vec![Issue::new(
            Outcome::Unknown,
            CLIENT_UNKNOWN,
            remediation::missing(&format!(
                "nothing is known about client {:?}; describe it with --client-state FILE or --clients FILE.csv, or choose built-in profiles.",
                client.name
            )),
        )];
    }
    let layer = match layer(host, client) {
        Ok(l) => l,
        Err(issue) => return vec![issue],
    };
    let mut out = Vec::new();
    match layer {
        Layer::StandardRdp => {
            out.extend(standard_rdp_encryption(host, client));
            if out.iter().any(|i| i.outcome == Outcome::Blocked) {
                return out;
            }
            if let Some(i) = standard_rdp(client) {
                out.push(i);
            }
        }
        Layer::Tls | Layer::Credssp => {
            match tls_check(host, client) {
                TlsCheck::Fine => {}
                TlsCheck::Issue(i) => {
                    // Without a common TLS version nothing else happens.
                    let stop = i.outcome == Outcome::Blocked;
                    out.push(i);
                    if stop {
                        return out;
                    }
                }
            }
            // CredSSP's version check comes before the certificate prompt in mstsc: on equal
            // severity the CredSSP reason is the one the user meets first.
            if layer == Layer::Credssp
                && let Some(i) = credssp_check(host, client)
            {
                out.push(i);
            }
            if let Some(i) = certificate(host, client) {
                out.push(i);
            }
        }
    }
    // A client that accepts the pre-fix CredSSP exchange exposes every server it reaches with
    // CredSSP: a man in the middle claims an old version whatever the server runs. A session
    // without CredSSP (TLS alone, Standard RDP Security) has no exchange to downgrade.
    let exposed_already = out
        .iter()
        .any(|i| i.outcome == Outcome::Exposed && i.reason == CREDSSP_ORACLE);
    if layer == Layer::Credssp
        && client.credssp_fix == Tristate::Yes
        && client.effective_policy() == Some(OraclePolicy::Vulnerable)
        && !exposed_already
    {
        out.push(Issue::new(
            Outcome::Exposed,
            CREDSSP_ORACLE,
            remediation::vulnerable_left_in_place(client.kind),
        ));
    }
    out
}

/// Standard RDP Security's encryption, against the client's minimum level and what the
/// client's implementation can complete with the server's.
fn standard_rdp_encryption(host: &HostReport, client: &ClientProfile) -> Vec<Issue> {
    use reasons::*;
    let Some(rdp) = host.rdp_security.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let level = rdp.encryption_level.as_deref();
    if let (Some(min), Some(level)) = (client.min_rdp_encryption, level)
        && RdpLevel::from_report_name(level).is_none_or(|l| l < min)
    {
        out.push(Issue::new(
            Outcome::Blocked,
            RDP_ENCRYPTION,
            remediation::rdp_encryption_level(level, min.as_str()),
        ));
    }
    // FreeRDP against xrdp with RC4 (measured, docs/compat.md): xrdp rejects its MACs.
    let implementation = host.server.as_ref().map(|s| s.implementation);
    let rc4: Vec<&str> = rdp
        .encryption_methods
        .iter()
        .map(String::as_str)
        .filter(|m| matches!(*m, "40bit" | "56bit" | "128bit"))
        .collect();
    if client.kind == ClientKind::Freerdp
        && implementation == Some(Implementation::Xrdp)
        && !rc4.is_empty()
        && !rdp.encryption_methods.iter().any(|m| m == "fips")
    {
        out.push(Issue::new(
            Outcome::Blocked,
            RDP_SECURITY,
            remediation::freerdp_xrdp_rc4(&rc4.join("/")),
        ));
    }
    out
}

fn layer(host: &HostReport, client: &ClientProfile) -> Result<Layer, Issue> {
    use reasons::*;
    let p = &host.security.protocols;
    let legacy = host.findings.iter().any(|f| f.id == ids::LEGACY_SERVER);
    let credssp = p.credssp == Some(true) || p.credssp_early_auth == Some(true);
    let tls = p.tls == Some(true);
    let rdp = p.rdp == Some(true) || legacy;

    if host.security.nla == NlaVerdict::Required
        || (credssp && p.tls == Some(false) && p.rdp == Some(false))
    {
        return match client.nla {
            Tristate::Yes => Ok(Layer::Credssp),
            Tristate::No => Err(Issue::new(
                Outcome::Blocked,
                NLA_REQUIRED,
                remediation::nla_required(client.kind),
            )),
            Tristate::Unknown => Err(Issue::new(
                Outcome::Unknown,
                CLIENT_NLA_UNKNOWN,
                remediation::missing(
                    "the server requires NLA and the client's NLA support is unknown; set nla=yes|no for the client.",
                ),
            )),
        };
    }
    if credssp && !legacy {
        match client.nla {
            Tristate::Yes => return Ok(Layer::Credssp),
            Tristate::Unknown => {
                return Err(Issue::new(
                    Outcome::Unknown,
                    CLIENT_NLA_UNKNOWN,
                    remediation::missing(
                        "the client's NLA support is unknown (it decides between NLA and plain TLS); set nla=yes|no for the client.",
                    ),
                ));
            }
            Tristate::No => {}
        }
    }
    if tls && !legacy {
        return Ok(Layer::Tls);
    }
    if rdp && (p.tls == Some(false) || legacy) {
        return Ok(Layer::StandardRdp);
    }
    // Every layer refused: the server demands something no request offered.
    if p.credssp == Some(false) && p.tls == Some(false) && p.rdp == Some(false) {
        return Err(Issue::new(
            Outcome::Blocked,
            SECURITY_REFUSED,
            remediation::security_refused(&host.security.failure_codes),
        ));
    }
    Err(Issue::new(
        Outcome::Unknown,
        SECURITY_NOT_OBSERVED,
        remediation::missing(&format!(
            "the security layers {} accepts were not observed{}; rescan it.",
            host.endpoint(),
            host.security
                .nla_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )),
    ))
}

fn standard_rdp(client: &ClientProfile) -> Option<Issue> {
    use reasons::*;
    if client.standard_rdp_security == Tristate::No || client.cert_policy == CertPolicy::Strict {
        return Some(Issue::new(
            Outcome::Blocked,
            SECURITY_LAYER,
            remediation::security_layer(true),
        ));
    }
    match (client.standard_rdp_security, client.cert_policy) {
        (Tristate::Unknown, _) => Some(Issue::new(
            Outcome::Unknown,
            CLIENT_LAYER_UNKNOWN,
            remediation::missing(
                "the server accepts only Standard RDP Security and whether the client accepts it is unknown; set standard_rdp_security=yes|no.",
            ),
        )),
        (_, CertPolicy::Ignore) => None,
        (_, CertPolicy::Unknown) => Some(Issue::new(
            Outcome::Unknown,
            CLIENT_CERT_POLICY_UNKNOWN,
            remediation::missing(
                "the server accepts only Standard RDP Security and the client's server-authentication setting is unknown; set cert_policy.",
            ),
        )),
        _ => Some(Issue::new(
            Outcome::Warn,
            SECURITY_LAYER,
            remediation::security_layer(false),
        )),
    }
}

enum TlsCheck {
    Fine,
    Issue(Issue),
}

/// Per TLS version: does the server accept it (yes/no/unknown)?
fn server_tls(host: &HostReport) -> [(ProtocolVersion, Tristate); 4] {
    let mut out = ProtocolVersion::TLS.map(|v| (v, Tristate::Unknown));
    let Some(tls) = host.tls.as_ref() else {
        return out;
    };
    for (v, state) in out.iter_mut() {
        if tls.versions.contains(v) || tls.version == Some(*v) {
            *state = Tristate::Yes;
        } else if tls.versions_probed.contains(v) {
            *state = Tristate::No;
        }
    }
    // `--tls-versions quick` proves TLS 1.3 without deciding 1.2. A server that speaks
    // TLS 1.3 is taken to speak TLS 1.2 as well unless 1.2 was probed and refused (RDP servers
    // that refuse TLS 1.2 while offering 1.3 are not known; the default plan decides it).
    let has13 = out
        .iter()
        .any(|(v, s)| *v == ProtocolVersion::TLS1_3 && *s == Tristate::Yes);
    for (v, state) in out.iter_mut() {
        if has13 && *v == ProtocolVersion::TLS1_2 && *state == Tristate::Unknown {
            *state = Tristate::Yes;
        }
    }
    out
}

fn tls_check(host: &HostReport, client: &ClientProfile) -> TlsCheck {
    use reasons::*;
    let server = server_tls(host);
    let both = |want: fn(Tristate, Tristate) -> bool| {
        server
            .iter()
            .filter(move |(v, s)| want(*s, client.tls.get(*v)))
            .map(|(v, _)| *v)
            .collect::<Vec<_>>()
    };
    let common = both(|s, c| s == Tristate::Yes && c == Tristate::Yes);
    if common.is_empty() {
        let possible = both(|s, c| s != Tristate::No && c != Tristate::No);
        if possible.is_empty() {
            let server_yes: Vec<_> = server
                .iter()
                .filter(|(_, s)| *s == Tristate::Yes)
                .map(|(v, _)| *v)
                .collect();
            return TlsCheck::Issue(Issue::new(
                Outcome::Blocked,
                TLS_VERSION,
                remediation::tls_version(&server_yes, &client.tls.enabled(), client.kind),
            ));
        }
        let undecided: Vec<String> = possible
            .iter()
            .filter(|v| {
                server
                    .iter()
                    .any(|(sv, s)| sv == *v && *s == Tristate::Unknown)
            })
            .map(|v| v.label())
            .collect();
        return TlsCheck::Issue(if !undecided.is_empty() {
            let why = host
                .tls
                .as_ref()
                .and_then(|t| t.error.as_deref())
                .map(|e| format!(" (TLS stage: {e})"))
                .unwrap_or_default();
            Issue::new(
                Outcome::Unknown,
                TLS_NOT_OBSERVED,
                remediation::missing(&format!(
                    "whether {} accepts {} (the TLS versions the client can use) was not observed{why}; rescan it with --tls-versions all.",
                    host.endpoint(),
                    undecided.join("/")
                )),
            )
        } else {
            Issue::new(
                Outcome::Unknown,
                CLIENT_TLS_UNKNOWN,
                remediation::missing(&format!(
                    "the server accepts only {} and whether the client can use it is unknown; give the client's tls_versions.",
                    possible
                        .iter()
                        .map(|v| v.label())
                        .collect::<Vec<_>>()
                        .join("/")
                )),
            )
        });
    }
    if client.tls_ciphers == CipherPolicy::EcdheAead {
        return cipher_check(host, &common);
    }
    TlsCheck::Fine
}

/// A client restricted to ECDHE+AEAD suites: TLS 1.3 is always fine; on TLS 1.2 the server
/// must have such a suite. rdpsweep's main handshake uses rustls (ECDHE+AEAD only in TLS
/// 1.2) and falls back to OpenSSL: a TLS 1.2 handshake completed by rustls proves the suite,
/// one that only OpenSSL completed with a non-AEAD suite shows its absence.
fn cipher_check(host: &HostReport, common: &[ProtocolVersion]) -> TlsCheck {
    use reasons::*;
    if common.contains(&ProtocolVersion::TLS1_3) {
        return TlsCheck::Fine;
    }
    if !common.contains(&ProtocolVersion::TLS1_2) {
        return TlsCheck::Issue(Issue::new(
            Outcome::Blocked,
            TLS_CIPHER,
            remediation::tls_cipher(None),
        ));
    }
    let tls = host.tls.as_ref();
    let version = tls.and_then(|t| t.version);
    let cipher = tls.and_then(|t| t.cipher);
    let stack = tls.and_then(|t| t.stack);
    if version == Some(ProtocolVersion::TLS1_2) {
        if stack == Some(TlsStack::Rustls) || cipher.is_some_and(CipherSuite::is_ecdhe_aead) {
            return TlsCheck::Fine;
        }
        if stack == Some(TlsStack::Openssl) {
            return TlsCheck::Issue(Issue::new(
                Outcome::Blocked,
                TLS_CIPHER,
                remediation::tls_cipher(cipher),
            ));
        }
    }
    TlsCheck::Issue(Issue::new(
        Outcome::Unknown,
        TLS_CIPHER_NOT_OBSERVED,
        remediation::missing(
            "whether the server has an ECDHE+AEAD suite for TLS 1.2 was not observed (its main handshake did not use TLS 1.2); rescan it.",
        ),
    ))
}

fn certificate(host: &HostReport, client: &ClientProfile) -> Option<Issue> {
    use reasons::*;
    if client.cert_policy == CertPolicy::Ignore {
        return None;
    }
    let problems: Vec<&str> = host
        .findings
        .iter()
        .map(|f| f.id.as_str())
        .filter(|id| CERT_PROBLEMS.contains(id))
        .collect();
    let tls = host.tls.as_ref();
    if problems.is_empty() {
        if tls.and_then(|t| t.certificate.as_ref()).is_none() {
            return Some(Issue::new(
                Outcome::Unknown,
                CERT_NOT_OBSERVED,
                remediation::missing(&format!(
                    "the certificate of {} was not observed; rescan it.",
                    host.endpoint()
                )),
            ));
        }
        let checked = tls
            .and_then(|t| t.trust.as_ref())
            .is_some_and(|t| t.platform.is_some() || t.ca_file.is_some());
        if !checked {
            return Some(Issue::new(
                Outcome::Unknown,
                CERT_TRUST_NOT_CHECKED,
                remediation::missing(
                    "whether the client trusts the server certificate was not checked; rescan with trust checking.",
                ),
            ));
        }
        return None;
    }
    // A domain member authenticated with Kerberos shows no certificate prompt.
    let domain_member = host.ntlm.as_ref().and_then(|n| n.domain_joined) == Some(true);
    if domain_member && matches!(client.cert_policy, CertPolicy::Strict | CertPolicy::Warn) {
        match client.server_auth {
            ServerAuth::Kerberos => return None,
            ServerAuth::Unknown => {
                return Some(Issue::new(
                    Outcome::Depends,
                    SERVER_AUTH,
                    remediation::certificate_depends_on_server_auth(
                        &problems,
                        client.cert_policy == CertPolicy::Strict,
                    ),
                ));
            }
            ServerAuth::Ntlm => {}
        }
    }
    Some(match client.cert_policy {
        CertPolicy::Strict => Issue::new(
            Outcome::Blocked,
            CERT_STRICT,
            remediation::certificate(&problems, true),
        ),
        CertPolicy::Warn => Issue::new(
            Outcome::Warn,
            CERT_WARNING,
            remediation::certificate(&problems, false),
        ),
        CertPolicy::Ignore | CertPolicy::Unknown => Issue::new(
            Outcome::Unknown,
            CLIENT_CERT_POLICY_UNKNOWN,
            remediation::missing(&format!(
                "the server certificate has problems ({}) and the client's server-authentication setting is unknown; set cert_policy.",
                problems.join(", ")
            )),
        ),
    })
}

fn credssp_check(host: &HostReport, client: &ClientProfile) -> Option<Issue> {
    use credssp::{ClientRow, ServerColumn};
    use reasons::*;
    let observed = host.credssp.as_ref();
    let fix = observed
        .map(|c| c.cve_2018_0886)
        .unwrap_or(OracleFix::Unknown);
    let version = observed.and_then(|c| c.version);
    let endpoint = host.endpoint();
    let cells = credssp::possible_cells(client, fix);
    let first = cells.first()?.2;
    if cells.iter().all(|(_, _, o)| *o == first) {
        let (row, col, _) = *cells.first()?;
        return match first {
            Outcome::Ok => None,
            Outcome::Blocked if row == ClientRow::NotUpdated => Some(Issue::new(
                // Only reachable when the server policy is known to be Force (never observed).
                Outcome::Blocked,
                CREDSSP_ORACLE,
                remediation::credssp_depends(client.kind),
            )),
            Outcome::Blocked => Some(Issue::new(
                Outcome::Blocked,
                CREDSSP_ORACLE,
                remediation::credssp_blocked_patched_client(&endpoint, version),
            )),
            Outcome::Exposed if row == ClientRow::NotUpdated && col == ServerColumn::NotUpdated => {
                Some(Issue::new(
                    Outcome::Exposed,
                    CREDSSP_ORACLE,
                    remediation::credssp_both_unpatched(&endpoint, version, client.kind),
                ))
            }
            Outcome::Exposed => Some(Issue::new(
                Outcome::Exposed,
                CREDSSP_ORACLE,
                remediation::credssp_exposed_fallback(&endpoint, version, client.kind),
            )),
            other => Some(Issue::new(
                other,
                CREDSSP_ORACLE,
                remediation::missing("CredSSP outcome"),
            )),
        };
    }
    // Outcomes differ. Only the server's policy open: depends.
    let rows: Vec<ClientRow> = {
        let mut r: Vec<ClientRow> = cells.iter().map(|c| c.0).collect();
        r.dedup();
        r
    };
    if fix == OracleFix::Fixed && rows.len() == 1 {
        return Some(Issue::new(
            Outcome::Depends,
            CREDSSP_ORACLE,
            remediation::credssp_depends(client.kind),
        ));
    }
    let possible = describe(&cells);
    if fix == OracleFix::Unknown {
        let why = observed
            .and_then(|c| c.note.as_deref().or(c.error_name.as_deref()))
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        return Some(Issue::new(
            Outcome::Unknown,
            CREDSSP_NOT_OBSERVED,
            remediation::credssp_unknown(&format!(
                "The server's CredSSP version was not observed{why}; possible: {possible}."
            )),
        ));
    }
    Some(Issue::new(
        Outcome::Unknown,
        CLIENT_CREDSSP_UNKNOWN,
        remediation::credssp_unknown(&format!(
            "The client's CredSSP fix or AllowEncryptionOracle policy is unknown; possible: {possible}."
        )),
    ))
}

/// "blocked (client Mitigated), ok (client Vulnerable)".
fn describe(cells: &[(credssp::ClientRow, credssp::ServerColumn, Outcome)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for o in [Outcome::Blocked, Outcome::Exposed, Outcome::Ok] {
        let mut who: Vec<String> = cells
            .iter()
            .filter(|c| c.2 == o)
            .map(|c| format!("{} + {}", c.0.label(), c.1.label()))
            .collect();
        who.dedup();
        if !who.is_empty() {
            parts.push(format!("{} if {}", o.as_str(), who.join(" or ")));
        }
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests;
