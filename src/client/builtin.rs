//! Built-in client profiles, selected with `--client-profile NAME,...`.
//!
//! | name | what it stands for |
//! |---|---|
//! | `patched-mitigated` | A Windows 10/11 client with the CredSSP fix and no `AllowEncryptionOracle` value: the Windows default since the May 8, 2018 update (Mitigated). TLS 1.0-1.2, NLA, warns on certificate problems. |
//! | `patched-force` | The same with `AllowEncryptionOracle=0` (Force Updated Clients), e.g. pushed by GPO. |
//! | `patched-vulnerable` | The same with `AllowEncryptionOracle=2` (Vulnerable): the temporary workaround that must be reverted. |
//! | `unpatched` | A Windows 8.1/10 client without the March 2018 CredSSP updates (speaks CredSSP version 3 or 4). |
//! | `modern-tls12` | A hardened patched client: TLS 1.0/1.1 switched off in SCHANNEL, TLS 1.2+ with ECDHE+AEAD suites only, server authentication required (mstsc "Do not connect if authentication fails"), no Standard RDP Security. |
//! | `local` | The machine running rdpsweep ([`super::local`]): not built here. |
//!
//! Every built-in profile is documented in `docs/compat.md`; the names are stable.

use super::profile::{
    CertPolicy, CipherPolicy, ClientKind, ClientProfile, OraclePolicy, OracleSetting, ServerAuth,
    TlsSupport, Tristate,
};
use crate::proto::tls::ProtocolVersion;

/// The default of `--client-profile`.
pub const DEFAULT_PROFILES: &str = "local,patched-mitigated,unpatched";

/// The names of [`DEFAULT_PROFILES`].
pub fn default_profile_names() -> Vec<&'static str> {
    DEFAULT_PROFILES.split(',').collect()
}

/// Names of the built-in profiles (without `local`), in documentation order.
pub const BUILTIN_NAMES: &[&str] = &[
    "patched-mitigated",
    "patched-force",
    "patched-vulnerable",
    "unpatched",
    "modern-tls12",
];

fn windows10(name: &str, note: &str) -> ClientProfile {
    ClientProfile {
        name: name.to_owned(),
        kind: ClientKind::Windows,
        credssp_fix: Tristate::Yes,
        allow_encryption_oracle: OracleSetting::Absent,
        oracle_default: Some(OraclePolicy::Mitigated),
        nla: Tristate::Yes,
        tls: TlsSupport::only(&[
            ProtocolVersion::TLS1_0,
            ProtocolVersion::TLS1_1,
            ProtocolVersion::TLS1_2,
        ]),
        tls_ciphers: CipherPolicy::Any,
        cert_policy: CertPolicy::Warn,
        standard_rdp_security: Tristate::Yes,
        min_rdp_encryption: None,
        // How users reach servers varies (by name from domain-joined PCs: Kerberos; by IP or
        // from outside the domain: NTLM): a domain server's certificate problems are `depends`.
        server_auth: ServerAuth::Unknown,
        os_build: None,
        ubr: None,
        version: None,
        source: "built-in".to_owned(),
        notes: vec![note.to_owned()],
    }
}

/// The built-in profile `name` (not `local`), or `None`.
pub fn builtin(name: &str) -> Option<ClientProfile> {
    let p = match name {
        "patched-mitigated" => windows10(
            name,
            "Windows client with the CredSSP fix, AllowEncryptionOracle not set: Mitigated (the default since May 8, 2018)",
        ),
        "patched-force" => {
            let mut p = windows10(
                name,
                "Windows client with the CredSSP fix and AllowEncryptionOracle=0 (Force Updated Clients)",
            );
            p.allow_encryption_oracle = OracleSetting::Value(0);
            p
        }
        "patched-vulnerable" => {
            let mut p = windows10(
                name,
                "Windows client with the CredSSP fix and AllowEncryptionOracle=2 (Vulnerable): the temporary workaround, to be reverted",
            );
            p.allow_encryption_oracle = OracleSetting::Value(2);
            p
        }
        "unpatched" => {
            let mut p = windows10(
                name,
                "Windows 8.1/10 client without the March 2018 CredSSP updates",
            );
            p.credssp_fix = Tristate::No;
            p.oracle_default = None;
            p
        }
        "modern-tls12" => {
            let mut p = windows10(
                name,
                "hardened Windows client: TLS 1.2+ with ECDHE+AEAD suites only, refuses servers it cannot authenticate, no Standard RDP Security",
            );
            p.tls = TlsSupport::only(&[ProtocolVersion::TLS1_2, ProtocolVersion::TLS1_3]);
            p.tls_ciphers = CipherPolicy::EcdheAead;
            p.cert_policy = CertPolicy::Strict;
            p.standard_rdp_security = Tristate::No;
            p
        }
        _ => return None,
    };
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_name_resolves_and_is_named_after_itself() {
        for n in BUILTIN_NAMES {
            let p = builtin(n).unwrap();
            assert_eq!(p.name, *n);
            assert_eq!(p.source, "built-in");
            assert!(!p.notes.is_empty());
        }
        assert!(builtin("local").is_none());
        assert!(builtin("nope").is_none());
    }

    #[test]
    fn policies_are_what_the_names_say() {
        let eff = |n: &str| builtin(n).unwrap().effective_policy();
        assert_eq!(eff("patched-mitigated"), Some(OraclePolicy::Mitigated));
        assert_eq!(
            eff("patched-force"),
            Some(OraclePolicy::ForceUpdatedClients)
        );
        assert_eq!(eff("patched-vulnerable"), Some(OraclePolicy::Vulnerable));
        assert_eq!(builtin("unpatched").unwrap().credssp_fix, Tristate::No);
        let m = builtin("modern-tls12").unwrap();
        assert_eq!(m.tls.get(ProtocolVersion::TLS1_0), Tristate::No);
        assert_eq!(m.cert_policy, CertPolicy::Strict);
    }
}
