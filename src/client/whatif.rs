//! `--what-if KEY=VALUE[,KEY=VALUE...]`: evaluate saved results against a proposed client
//! change without rescanning ("if I push Force Updated Clients to all clients tomorrow, which
//! servers break?"). Pure.
//!
//! Keys (values as in the fleet file): `allow_encryption_oracle` (`0`/`1`/`2`/`absent`),
//! `patched` (`yes`/`no`), `tls_versions` (`1.2;1.3`), `nla`, `cert_policy`,
//! `standard_rdp_security`, `tls_ciphers`. Each selected profile gets a what-if twin named
//! `<name>+what-if`, evaluated next to the original so the matrix shows before and after.

use super::profile::{
    self, CertPolicy, CipherPolicy, ClientProfile, OracleSetting, TlsSupport, Tristate,
};

/// The suffix of a what-if profile's name.
pub const WHAT_IF_SUFFIX: &str = "+what-if";

/// One proposed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    AllowEncryptionOracle(OracleSetting),
    Patched(Tristate),
    TlsVersions(Vec<crate::proto::tls::ProtocolVersion>),
    Nla(Tristate),
    CertPolicy(CertPolicy),
    StandardRdpSecurity(Tristate),
    TlsCiphers(CipherPolicy),
}

/// Parses `key=value` pairs separated by `,` (a `,` inside `tls_versions` is not allowed: use
/// `;`).
pub fn parse_what_if(spec: &str) -> Result<Vec<Change>, String> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!("--what-if {part:?}: expected KEY=VALUE"));
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        let need = |t: Result<Option<Tristate>, String>| -> Result<Tristate, String> {
            t?.ok_or_else(|| format!("--what-if {key}: a value is required"))
        };
        let change = match key.as_str() {
            "allow_encryption_oracle" | "allowencryptionoracle" => {
                Change::AllowEncryptionOracle(OracleSetting::parse(value)?)
            }
            "patched" | "credssp_fix" => Change::Patched(need(Tristate::parse(value))?),
            "tls_versions" => Change::TlsVersions(profile::parse_tls_list(value)?),
            "nla" => Change::Nla(need(Tristate::parse(value))?),
            "cert_policy" => Change::CertPolicy(
                CertPolicy::parse(value)?.ok_or("--what-if cert_policy: a value is required")?,
            ),
            "standard_rdp_security" => Change::StandardRdpSecurity(need(Tristate::parse(value))?),
            "tls_ciphers" => Change::TlsCiphers(
                CipherPolicy::parse(value)?.ok_or("--what-if tls_ciphers: a value is required")?,
            ),
            other => {
                return Err(format!(
                    "--what-if: unknown key {other:?} (known: allow_encryption_oracle, patched, tls_versions, nla, cert_policy, standard_rdp_security, tls_ciphers)"
                ));
            }
        };
        out.push(change);
    }
    if out.is_empty() {
        return Err("--what-if needs at least one KEY=VALUE".to_owned());
    }
    Ok(out)
}

/// Describes the changes (`allow_encryption_oracle=0, nla=yes`).
pub fn describe(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| match c {
            Change::AllowEncryptionOracle(v) => format!("allow_encryption_oracle={v}"),
            Change::Patched(t) => format!("patched={}", t.as_str()),
            Change::TlsVersions(v) => format!(
                "tls_versions={}",
                v.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(";")
            ),
            Change::Nla(t) => format!("nla={}", t.as_str()),
            Change::CertPolicy(p) => format!("cert_policy={}", p.as_str()),
            Change::StandardRdpSecurity(t) => format!("standard_rdp_security={}", t.as_str()),
            Change::TlsCiphers(p) => format!("tls_ciphers={}", p.as_str()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The what-if twin of `p`: the changes applied, named `<name>+what-if`.
pub fn apply(p: &ClientProfile, changes: &[Change]) -> ClientProfile {
    let mut q = p.clone();
    q.name = format!("{}{WHAT_IF_SUFFIX}", p.name);
    for c in changes {
        match c {
            Change::AllowEncryptionOracle(v) => q.allow_encryption_oracle = *v,
            Change::Patched(t) => {
                q.credssp_fix = *t;
                if *t == Tristate::Yes && q.oracle_default.is_none() {
                    q.oracle_default = Some(profile::OraclePolicy::Mitigated);
                }
            }
            Change::TlsVersions(v) => q.tls = TlsSupport::only(v),
            Change::Nla(t) => q.nla = *t,
            Change::CertPolicy(c) => q.cert_policy = *c,
            Change::StandardRdpSecurity(t) => q.standard_rdp_security = *t,
            Change::TlsCiphers(c) => q.tls_ciphers = *c,
        }
    }
    q.notes.push(format!("what-if: {}", describe(changes)));
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::builtin::builtin;
    use crate::client::profile::OraclePolicy;

    #[test]
    fn parse_and_apply() {
        let changes = parse_what_if("allow_encryption_oracle=0, tls_versions=1.2;1.3").unwrap();
        let p = apply(&builtin("patched-vulnerable").unwrap(), &changes);
        assert_eq!(p.name, "patched-vulnerable+what-if");
        assert_eq!(
            p.effective_policy(),
            Some(OraclePolicy::ForceUpdatedClients)
        );
        assert_eq!(p.tls.enabled().len(), 2);
        assert!(
            p.notes
                .last()
                .unwrap()
                .contains("allow_encryption_oracle=0")
        );
        let p = apply(
            &builtin("unpatched").unwrap(),
            &parse_what_if("patched=yes").unwrap(),
        );
        assert_eq!(p.effective_policy(), Some(OraclePolicy::Mitigated));
    }

    #[test]
    fn bad_specs() {
        assert!(parse_what_if("").is_err());
        assert!(
            parse_what_if("colour=blue")
                .unwrap_err()
                .contains("unknown key")
        );
        assert!(parse_what_if("allow_encryption_oracle").is_err());
        assert!(parse_what_if("nla=").is_err());
        assert!(parse_what_if("allow_encryption_oracle=x").is_err());
    }
}
