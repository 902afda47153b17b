//! Every remediation text of the compatibility matrix, in one place.
//!
//! Rules: say which side to change, give the exact command or policy path, and whenever the
//! temporary `AllowEncryptionOracle=2` workaround is mentioned, also give its rollback command
//! and the warning that it must be reverted ([`workaround`] is the only text that suggests it,
//! and it always carries [`rollback`]).

use crate::client::profile::ClientKind;
use crate::proto::tls::ProtocolVersion;

/// The CredSSP policy key (KB4093492).
pub const CREDSSP_KEY: &str =
    r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters";
/// The Group Policy of the same setting.
pub const ORACLE_GPO: &str = "Computer Configuration > Administrative Templates > System > Credentials Delegation > Encryption Oracle Remediation";
/// The RDP listener key on the server.
pub const RDP_TCP_KEY: &str =
    r"HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp";
/// Microsoft's article about the CredSSP error.
pub const CREDSSP_KB: &str = "https://go.microsoft.com/fwlink/?linkid=866660 (KB4093492)";

/// `reg add ... /v AllowEncryptionOracle /t REG_DWORD /d N /f`.
pub fn reg_add_oracle(value: u32) -> String {
    format!(r#"reg add "{CREDSSP_KEY}" /v AllowEncryptionOracle /t REG_DWORD /d {value} /f"#)
}

/// The rollback of the workaround: back to Mitigated (the default).
pub fn rollback() -> String {
    format!(
        "ROLLBACK (required): {} then gpupdate /force (Mitigated, the default; use /d 0 if your policy is Force Updated Clients), or set the GPO \"{ORACLE_GPO}\" back to Mitigated/Force Updated Clients",
        reg_add_oracle(1)
    )
}

/// The temporary client-side workaround, with its rollback and the warning.
pub fn workaround() -> String {
    format!(
        "Only if the server cannot be patched now, a TEMPORARY workaround on the client: {} then gpupdate /force (or GPO \"{ORACLE_GPO}\" = Vulnerable). WARNING: this exposes the client to CVE-2018-0886 with every server and must be reverted as soon as the server is patched. {}",
        reg_add_oracle(2),
        rollback()
    )
}

fn patch_server(endpoint: &str, version: Option<u32>) -> String {
    let seen = version
        .map(|v| format!(" (it answers CredSSP version {v}, below 5)"))
        .unwrap_or_default();
    format!(
        "Patch the server {endpoint}{seen}: install the March 2018 or any later Windows security update (CredSSP fix for CVE-2018-0886, {CREDSSP_KB})."
    )
}

fn patch_client(kind: ClientKind) -> String {
    match kind {
        ClientKind::Freerdp => {
            "Patch the client: upgrade FreeRDP to a 2.x or 3.x release (CredSSP version 6).".to_owned()
        }
        _ => "Patch the client: install the March 2018 or any later Windows security update (CredSSP fix for CVE-2018-0886).".to_owned(),
    }
}

/// Patched client (Force Updated Clients or Mitigated) vs unpatched server.
pub fn credssp_blocked_patched_client(endpoint: &str, version: Option<u32>) -> String {
    format!(
        "{} The client refuses the unpatched server (\"An authentication error has occurred ... CredSSP encryption oracle remediation\"). {}",
        patch_server(endpoint, version),
        workaround()
    )
}

/// Vulnerable (workaround) client or FreeRDP vs unpatched server: connects, exposed.
pub fn credssp_exposed_fallback(endpoint: &str, version: Option<u32>, kind: ClientKind) -> String {
    match kind {
        ClientKind::Freerdp => format!(
            "{} FreeRDP falls back to the pre-fix CredSSP exchange with unpatched servers and has no setting to refuse it.",
            patch_server(endpoint, version)
        ),
        _ => format!(
            "{} The client connects only because AllowEncryptionOracle=2 (Vulnerable) lets it fall back; once the server is patched revert it. {} WARNING: while 2 is set the client is exposed to CVE-2018-0886 with every server.",
            patch_server(endpoint, version),
            rollback()
        ),
    }
}

/// Unpatched client vs unpatched server.
pub fn credssp_both_unpatched(endpoint: &str, version: Option<u32>, kind: ClientKind) -> String {
    format!(
        "Both sides lack the CVE-2018-0886 fix. {} {}",
        patch_server(endpoint, version),
        patch_client(kind)
    )
}

/// Unpatched client vs patched server: blocked if the server forces updated clients.
pub fn credssp_depends(kind: ClientKind) -> String {
    format!(
        "{} Until then the connection is blocked if the server enforces Force Updated Clients (its AllowEncryptionOracle=0, not observable remotely; check on the server: reg query \"{CREDSSP_KEY}\" /v AllowEncryptionOracle) and otherwise succeeds over the vulnerable pre-fix exchange. Do not relax the server to Vulnerable.",
        patch_client(kind)
    )
}

/// The server's or the client's CredSSP state is not known.
pub fn credssp_unknown(detail: &str) -> String {
    format!(
        "{detail} Rescan the host (CredSSP stage) and describe the client's patch level and AllowEncryptionOracle (--client-state with a .reg export, or a fleet file with build/ubr or patched)."
    )
}

/// The server requires NLA; the client cannot do it.
pub fn nla_required(kind: ClientKind) -> String {
    let client = match kind {
        ClientKind::Freerdp => "use /sec:nla (or drop /sec:rdp, /sec:tls) in FreeRDP",
        _ => {
            "use a client with CredSSP/NLA support (Windows Vista or later; on XP SP3 enable the CredSSP provider)"
        }
    };
    format!(
        "Enable NLA on the client: {client}. Turning NLA off on the server (System Properties > Remote, or reg add \"{RDP_TCP_KEY}\" /v UserAuthentication /t REG_DWORD /d 0 /f) weakens every connection and is not recommended."
    )
}

fn versions(v: &[ProtocolVersion]) -> String {
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.iter().map(|v| v.label()).collect::<Vec<_>>().join("/")
    }
}

/// No TLS version in common.
pub fn tls_version(
    server: &[ProtocolVersion],
    client: &[ProtocolVersion],
    kind: ClientKind,
) -> String {
    let old_server = server.iter().all(|v| *v < ProtocolVersion::TLS1_2);
    let mut text = format!(
        "No common TLS version: the server accepts {}, the client uses {}.",
        versions(server),
        versions(client)
    );
    if old_server {
        text.push_str(r" Preferred: enable TLS 1.2 on the server (Windows 7/2008 R2: install KB3080079, then set HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Server Enabled=1 DisabledByDefault=0 and reboot).");
        match kind {
            ClientKind::Freerdp => text.push_str(" Otherwise, not recommended: allow TLS 1.0 on the client (FreeRDP on OpenSSL 3: /tls-seclevel:0 in 2.x, /tls:seclevel:0 in 3.x)."),
            _ => text.push_str(r" Otherwise, not recommended: re-enable TLS 1.0 on the client (SCHANNEL ...\Protocols\TLS 1.0\Client Enabled=1 DisabledByDefault=0)."),
        }
    } else {
        text.push_str(
            " Enable a version the other side supports (TLS 1.2 on both sides is the target).",
        );
    }
    text
}

/// TLS version in common, but no ECDHE+AEAD suite on the server.
pub fn tls_cipher(cipher: Option<crate::proto::tls::CipherSuite>) -> String {
    let seen = cipher
        .map(|c| format!(" (it negotiated {c})"))
        .unwrap_or_default();
    format!(
        "The server offers no ECDHE + AES-GCM/ChaCha20 suite for TLS 1.2{seen}, and this client accepts only those. Enable TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 / TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 on the server (Windows 2012 R2 and later have them; GPO Computer Configuration > Administrative Templates > Network > SSL Configuration Settings > SSL Cipher Suite Order), or enable TLS 1.3 on both sides."
    )
}

/// Certificate problems the client refuses (strict) or warns about.
pub fn certificate(problems: &[&str], strict: bool) -> String {
    let list = problems.join(", ");
    let effect = if strict {
        "The client refuses servers it cannot authenticate (\"Do not connect if authentication fails\")"
    } else {
        "The client shows a certificate warning the user must accept"
    };
    format!(
        "{effect}: {list}. Fix the server certificate: issue one from a CA the clients trust with the name they connect to (GPO Computer Configuration > Administrative Templates > Windows Components > Remote Desktop Services > Remote Desktop Session Host > Security > Server authentication certificate template, or set SSLCertificateSHA1Hash in Win32_TSGeneralSetting), and connect by that name. (Clients that authenticate the server with Kerberos do not check the certificate.)"
    )
}

/// Server accepts only Standard RDP Security.
pub fn security_layer(refused: bool) -> String {
    let effect = if refused {
        "The server accepts only Standard RDP Security (no TLS, no NLA), which this client refuses: it cannot authenticate such a server."
    } else {
        "The server accepts only Standard RDP Security (no TLS, no NLA): the client cannot authenticate it and warns."
    };
    format!(
        "{effect} Set the server's security layer to Negotiate or SSL (GPO Computer Configuration > Administrative Templates > Windows Components > Remote Desktop Services > Remote Desktop Session Host > Security > Require use of specific security layer for remote (RDP) connections, or reg add \"{RDP_TCP_KEY}\" /v SecurityLayer /t REG_DWORD /d 2 /f) and require NLA."
    )
}

/// Generic "missing data" remediation.
pub fn missing(what: &str) -> String {
    format!("Not enough data: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workaround_always_carries_rollback_and_warning() {
        let w = workaround();
        assert!(w.contains("/d 2 /f"));
        assert!(w.contains("gpupdate /force"));
        assert!(w.contains(&reg_add_oracle(1)));
        assert!(w.contains("must be reverted"));
        assert!(credssp_blocked_patched_client("h:3389", Some(3)).contains(&rollback()));
        assert!(
            credssp_exposed_fallback("h:3389", Some(3), ClientKind::Windows).contains(&rollback())
        );
    }

    #[test]
    fn reg_command_is_exact() {
        assert_eq!(
            reg_add_oracle(2),
            r#"reg add "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters" /v AllowEncryptionOracle /t REG_DWORD /d 2 /f"#
        );
    }
}
