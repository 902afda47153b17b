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

/// A patched client left at `AllowEncryptionOracle=2` (Vulnerable), or FreeRDP, which behaves
/// so: it connects, but accepts the pre-fix CredSSP exchange from anyone who claims to be the
/// server, exposing the servers it reaches (the policy's own text).
pub fn vulnerable_left_in_place(kind: ClientKind) -> String {
    match kind {
        ClientKind::Freerdp => "FreeRDP has no setting to refuse the pre-fix CredSSP exchange: a man in the middle that claims an old CredSSP version gets it (CVE-2018-0886), whatever this server runs. Connect only to servers whose certificate FreeRDP verifies (no /cert:ignore), over trusted networks.".to_owned(),
        _ => format!(
            "AllowEncryptionOracle=2 (Vulnerable) is left in place: the client falls back to the pre-fix CredSSP exchange for anyone who claims to be this server, exposing the servers it reaches to CVE-2018-0886 (\"will expose the remote servers to attacks by supporting fall back to the insecure versions\"). It is a last-resort rollback, never a state to keep: {} (or /d 0 for Force Updated Clients) then gpupdate /force, once every server it reaches is patched.",
            reg_add_oracle(1)
        ),
    }
}

/// A domain server with certificate problems and a client whose way of authenticating the
/// server is not known: Kerberos (by name, domain-joined) shows no prompt, NTLM does.
pub fn certificate_depends_on_server_auth(problems: &[&str], strict: bool) -> String {
    let ntlm = if strict { "blocked" } else { "warn" };
    format!(
        "The server is a domain member and its certificate has problems ({}). A domain-joined client connecting by name authenticates it with Kerberos and shows no certificate prompt (ok); by IP address, from a workgroup or from outside the domain CredSSP uses NTLM and the certificate is checked ({ntlm}). Set server_auth=kerberos|ntlm for the client to decide it; either way the lasting fix is a certificate the clients trust, with the name they connect to (GPO ... Remote Desktop Session Host > Security > Server authentication certificate template).",
        problems.join(", ")
    )
}

/// The server refused every security layer the client can offer.
pub fn security_refused(codes: &[String]) -> String {
    let mut fixes = Vec::new();
    if codes.iter().any(|c| c.ends_with("SSL_CERT_NOT_ON_SERVER")) {
        fixes.push(format!(
            "the server has no certificate for TLS (SSL_CERT_NOT_ON_SERVER) and does not allow Standard RDP Security: give it a certificate (Windows: a Remote Desktop certificate in the computer's store, SSLCertificateSHA1Hash; xrdp: certificate= and key_file= in xrdp.ini), or allow Standard RDP Security (SecurityLayer {RDP_TCP_KEY} /d 1; xrdp: security_layer=negotiate)"
        ));
    }
    if codes
        .iter()
        .any(|c| c.ends_with("SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER"))
    {
        fixes.push("the server demands TLS with client certificate authentication (SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER), which ordinary RDP clients do not do: relax that on the server, or use a client that presents a certificate".to_owned());
    }
    if fixes.is_empty() {
        fixes.push(format!(
            "the server refused every request ({}); check its security layer and certificate",
            codes.join(", ")
        ));
    }
    format!("No connection is possible: {}.", fixes.join("; "))
}

/// Standard RDP Security at a level below the client's minimum.
pub fn rdp_encryption_level(server: &str, minimum: &str) -> String {
    format!(
        "The server's Standard RDP Security encryption level is {server}, below this client's minimum ({minimum}). Raise it on the server (GPO Computer Configuration > Administrative Templates > Windows Components > Remote Desktop Services > Remote Desktop Session Host > Security > Set client connection encryption level = High; xrdp: crypt_level=high), or better require TLS/NLA (SecurityLayer /d 2)."
    )
}

/// FreeRDP against xrdp's Standard RDP Security with RC4 (measured: `docs/compat.md`).
pub fn freerdp_xrdp_rc4(method: &str) -> String {
    format!(
        "xrdp rejects FreeRDP's MAC checksums under Standard RDP Security with RC4 ({method}): the connection reaches licensing and xrdp ends it (\"MAC checksum error\"; xrdp builds with the CVE-2026-32105 fix, e.g. Debian's 0.9.21.1-1+deb12u3 and upstream 0.10.6, neutrinolabs/xrdp issue 3808). Use TLS on the server (xrdp.ini security_layer=tls or negotiate, with a certificate) and connect with /sec:tls or /sec:nla, or set crypt_level=fips, whose 3DES works."
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
