//! Table-driven tests of [`super::evaluate`].

use super::*;
use crate::analysis::findings::{Finding, Severity};
use crate::client::builtin::{BUILTIN_NAMES, builtin};
use crate::client::profile::{ClientKind, OracleSetting, TlsSupport};
use crate::proto::tls::ProtocolVersion as V;
use crate::report::schema::{
    CertificateReport, CredsspReport, Protocols, Security, TlsReport, TrustReport,
};

/// A Windows-like host: NLA required, TLS 1.0-1.2, trusted certificate, CredSSP `version`.
fn host(version: Option<u32>, fix: OracleFix) -> HostReport {
    let mut h = HostReport::new(
        "srv.example".into(),
        Some("192.0.2.10".parse().unwrap()),
        3389,
    );
    h.status = Status::Rdp;
    h.security = Security {
        protocols: Protocols {
            rdp: Some(false),
            tls: Some(false),
            credssp: Some(true),
            credssp_early_auth: Some(true),
            rdstls: None,
            rdsaad: None,
        },
        selected: Some("credssp_early_auth".into()),
        nla: NlaVerdict::Required,
        ..Security::default()
    };
    h.tls = Some(TlsReport {
        version: Some(V::TLS1_2),
        cipher: CipherSuite::from_name("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
        versions: vec![V::TLS1_0, V::TLS1_1, V::TLS1_2],
        versions_probed: vec![V::TLS1_0, V::TLS1_1, V::TLS1_2, V::TLS1_3],
        versions_undecided: vec![],
        stack: Some(TlsStack::Rustls),
        certificate: Some(CertificateReport::default()),
        chain: vec![],
        trust: Some(TrustReport {
            name_checked: None,
            platform: Some("trusted".into()),
            ca_file: None,
            name: Some("trusted".into()),
        }),
        error: None,
    });
    h.credssp = Some(CredsspReport {
        version,
        cve_2018_0886: fix,
        ..CredsspReport::default()
    });
    h
}

fn patched_server() -> HostReport {
    host(Some(6), OracleFix::Fixed)
}

fn unpatched_server() -> HostReport {
    host(Some(3), OracleFix::Missing)
}

fn cell_str(c: &CompatCell) -> String {
    match &c.reason {
        Some(r) => format!("{}:{r}", c.outcome.as_str()),
        None => c.outcome.as_str().to_owned(),
    }
}

fn p(name: &str) -> ClientProfile {
    builtin(name).unwrap()
}

/// Microsoft's table through `evaluate`: every built-in client row against every server
/// state rdpsweep can observe (the server's policy is not observable, so a patched server
/// stands for the Force/Mitigated/Vulnerable columns together).
#[test]
fn credssp_table_through_evaluate() {
    let table = [
        // client, patched server, unpatched server, server not observed
        (
            "patched-mitigated",
            "ok",
            "blocked:credssp-oracle",
            "unknown:credssp-not-observed",
        ),
        (
            "patched-force",
            "ok",
            "blocked:credssp-oracle",
            "unknown:credssp-not-observed",
        ),
        (
            // The workaround left in place exposes every server (issue 12; the policy's text).
            "patched-vulnerable",
            "exposed:credssp-oracle",
            "exposed:credssp-oracle",
            "unknown:credssp-not-observed",
        ),
        (
            "unpatched",
            "depends:credssp-oracle",
            "exposed:credssp-oracle",
            "unknown:credssp-not-observed",
        ),
    ];
    for (client, fixed, missing, unknown) in table {
        let c = p(client);
        assert_eq!(
            cell_str(&evaluate(&patched_server(), &c)),
            fixed,
            "{client} vs patched"
        );
        assert_eq!(
            cell_str(&evaluate(&unpatched_server(), &c)),
            missing,
            "{client} vs unpatched"
        );
        assert_eq!(
            cell_str(&evaluate(&host(None, OracleFix::Unknown), &c)),
            unknown,
            "{client} vs unobserved"
        );
    }
}

/// Every row of Microsoft's table, built from the registry value, against both observable
/// server states: the outcome must be the table cell (or `depends` where the columns differ).
#[test]
fn every_policy_value_follows_the_table() {
    use credssp::{ClientRow, ServerColumn, cell_outcome};
    let rows = [
        (Tristate::No, OracleSetting::Absent, ClientRow::NotUpdated),
        (
            Tristate::Yes,
            OracleSetting::Value(0),
            ClientRow::ForceUpdatedClients,
        ),
        (Tristate::Yes, OracleSetting::Value(1), ClientRow::Mitigated),
        (
            Tristate::Yes,
            OracleSetting::Value(2),
            ClientRow::Vulnerable,
        ),
        (Tristate::Yes, OracleSetting::Absent, ClientRow::Mitigated),
    ];
    for (fix, value, row) in rows {
        let mut c = p("patched-mitigated");
        c.credssp_fix = fix;
        c.allow_encryption_oracle = value;
        // Unpatched server: one column.
        let got = evaluate(&unpatched_server(), &c).outcome;
        assert_eq!(got, cell_outcome(row, ServerColumn::NotUpdated), "{row:?}");
        // Patched server: three columns; equal outcomes or depends.
        let cols = [
            ServerColumn::ForceUpdatedClients,
            ServerColumn::Mitigated,
            ServerColumn::Vulnerable,
        ];
        let outs: Vec<Outcome> = cols.iter().map(|col| cell_outcome(row, *col)).collect();
        let expect = if row == ClientRow::Vulnerable {
            // Microsoft's "Allowed", but the client accepts the pre-fix exchange from anyone
            // who claims to be this server: exposed, whatever the server runs.
            Outcome::Exposed
        } else if outs.iter().all(|o| *o == outs[0]) {
            outs[0]
        } else {
            Outcome::Depends
        };
        assert_eq!(evaluate(&patched_server(), &c).outcome, expect, "{row:?}");
    }
}

#[test]
fn unknown_client_patch_state_is_unknown_not_a_guess() {
    let mut c = p("patched-mitigated");
    c.credssp_fix = Tristate::Unknown;
    let cell = evaluate(&unpatched_server(), &c);
    assert_eq!(cell_str(&cell), "unknown:client-credssp-unknown");
    let text = cell.remediation.unwrap();
    assert!(text.contains("blocked if client Mitigated"), "{text}");
    assert!(text.contains("exposed if client not updated"), "{text}");
    // Against a patched server an unknown policy does not matter, but the patch level does.
    assert_eq!(evaluate(&patched_server(), &c).outcome, Outcome::Unknown);
    let mut c = p("patched-mitigated");
    c.allow_encryption_oracle = OracleSetting::Unknown;
    assert_eq!(cell_str(&evaluate(&patched_server(), &c)), "ok");
    assert_eq!(
        cell_str(&evaluate(&unpatched_server(), &c)),
        "unknown:client-credssp-unknown"
    );
}

#[test]
fn nla_required_blocks_a_client_without_nla() {
    let mut c = p("patched-mitigated");
    c.nla = Tristate::No;
    let cell = evaluate(&patched_server(), &c);
    assert_eq!(cell_str(&cell), "blocked:nla-required");
    assert!(cell.remediation.unwrap().contains("UserAuthentication"));
    // NLA supported but not required: the client uses TLS, CredSSP does not apply.
    let mut h = unpatched_server();
    h.security.nla = NlaVerdict::Supported;
    h.security.protocols.tls = Some(true);
    assert_eq!(cell_str(&evaluate(&h, &c)), "ok");
}

#[test]
fn tls_version_mismatch_blocks() {
    let mut h = patched_server();
    if let Some(t) = h.tls.as_mut() {
        t.versions = vec![V::TLS1_0];
        t.version = Some(V::TLS1_0);
        t.stack = Some(TlsStack::Openssl);
    }
    let cell = evaluate(&h, &p("modern-tls12"));
    assert_eq!(cell_str(&cell), "blocked:tls-version");
    let text = cell.remediation.unwrap();
    assert!(text.contains("KB3080079"), "{text}");
    assert!(text.contains("TLS1.0"), "{text}");
    // The default Windows client still speaks TLS 1.0.
    assert_eq!(cell_str(&evaluate(&h, &p("patched-mitigated"))), "ok");
}

#[test]
fn tls_cipher_blocks_an_aead_only_client() {
    let mut h = patched_server();
    if let Some(t) = h.tls.as_mut() {
        t.stack = Some(TlsStack::Openssl);
        t.cipher = CipherSuite::from_name("TLS_RSA_WITH_AES_256_CBC_SHA256");
    }
    let cell = evaluate(&h, &p("modern-tls12"));
    assert_eq!(cell_str(&cell), "blocked:tls-cipher");
    assert!(
        cell.remediation
            .unwrap()
            .contains("TLS_RSA_WITH_AES_256_CBC_SHA256")
    );
    assert_eq!(cell_str(&evaluate(&h, &p("patched-mitigated"))), "ok");
    // TLS 1.3 in common settles it.
    if let Some(t) = h.tls.as_mut() {
        t.versions.push(V::TLS1_3);
    }
    assert_eq!(cell_str(&evaluate(&h, &p("modern-tls12"))), "ok");
}

#[test]
fn certificate_problems_block_strict_and_warn_others() {
    let mut h = patched_server();
    h.findings.push(Finding::new(
        ids::CERT_SELF_SIGNED,
        Severity::Medium,
        "self-signed",
    ));
    h.findings.push(Finding::new(
        ids::CERT_UNTRUSTED,
        Severity::Medium,
        "untrusted",
    ));
    let cell = evaluate(&h, &p("modern-tls12"));
    assert_eq!(cell_str(&cell), "blocked:cert-strict");
    assert!(
        cell.remediation
            .unwrap()
            .contains("cert-self-signed, cert-untrusted")
    );
    assert_eq!(
        cell_str(&evaluate(&h, &p("patched-mitigated"))),
        "warn:cert-warning"
    );
    let mut ignore = p("patched-mitigated");
    ignore.cert_policy = CertPolicy::Ignore;
    assert_eq!(cell_str(&evaluate(&h, &ignore)), "ok");
}

#[test]
fn standard_rdp_security_only_server() {
    let mut h = HostReport::new("xp".into(), Some("192.0.2.5".parse().unwrap()), 3389);
    h.status = Status::Rdp;
    h.security.protocols = Protocols {
        rdp: Some(true),
        tls: Some(false),
        credssp: Some(false),
        ..Protocols::default()
    };
    h.security.nla = NlaVerdict::NotSupported;
    let cell = evaluate(&h, &p("modern-tls12"));
    assert_eq!(cell_str(&cell), "blocked:security-layer");
    assert!(cell.remediation.unwrap().contains("SecurityLayer"));
    assert_eq!(
        cell_str(&evaluate(&h, &p("patched-mitigated"))),
        "warn:security-layer"
    );
    // A legacy server (no negotiation data) is Standard RDP Security only.
    let mut legacy = HostReport::new("w2k".into(), None, 3389);
    legacy.status = Status::Rdp;
    legacy
        .findings
        .push(Finding::new(ids::LEGACY_SERVER, Severity::High, "legacy"));
    assert_eq!(
        cell_str(&evaluate(&legacy, &p("modern-tls12"))),
        "blocked:security-layer"
    );
}

#[test]
fn missing_data_is_unknown_with_why() {
    let mut closed = HostReport::new("down".into(), Some("192.0.2.9".parse().unwrap()), 3389);
    closed.status = Status::Closed;
    let cell = evaluate(&closed, &p("patched-mitigated"));
    assert_eq!(cell_str(&cell), "unknown:not-rdp");
    assert!(cell.remediation.unwrap().contains("status closed"));

    let mut h = patched_server();
    h.tls = None;
    assert_eq!(
        cell_str(&evaluate(&h, &p("patched-mitigated"))),
        "unknown:tls-not-observed"
    );

    let mut h = patched_server();
    h.security = Security::default();
    assert_eq!(
        cell_str(&evaluate(&h, &p("patched-mitigated"))),
        "unknown:security-not-observed"
    );

    let mut h = patched_server();
    if let Some(t) = h.tls.as_mut() {
        t.trust = None;
    }
    assert_eq!(
        cell_str(&evaluate(&h, &p("patched-mitigated"))),
        "unknown:cert-trust-not-checked"
    );

    let nobody = ClientProfile::unknown("local", "local");
    assert_eq!(
        cell_str(&evaluate(&patched_server(), &nobody)),
        "unknown:client-unknown"
    );

    let mut c = p("patched-mitigated");
    c.tls = TlsSupport::unknown();
    assert_eq!(
        cell_str(&evaluate(&patched_server(), &c)),
        "unknown:client-tls-unknown"
    );
}

#[test]
fn the_worst_issue_wins_and_every_fix_is_listed() {
    let mut h = unpatched_server();
    h.findings
        .push(Finding::new(ids::CERT_EXPIRED, Severity::High, "expired"));
    let cell = evaluate(&h, &p("patched-vulnerable"));
    assert_eq!(cell_str(&cell), "exposed:credssp-oracle");
    let text = cell.remediation.unwrap();
    assert!(text.contains("Also (warn:cert-warning)"), "{text}");
    let cell = evaluate(&h, &p("patched-mitigated"));
    assert_eq!(cell_str(&cell), "blocked:credssp-oracle");
}

#[test]
fn freerdp_client_falls_back_like_vulnerable() {
    let mut c = p("patched-vulnerable");
    c.kind = ClientKind::Freerdp;
    c.allow_encryption_oracle = OracleSetting::Absent;
    c.oracle_default = Some(crate::client::profile::OraclePolicy::Vulnerable);
    let cell = evaluate(&unpatched_server(), &c);
    assert_eq!(cell_str(&cell), "exposed:credssp-oracle");
    let text = cell.remediation.unwrap();
    assert!(text.contains("FreeRDP"), "{text}");
    assert!(
        !text.contains("/d 2"),
        "no registry workaround for FreeRDP: {text}"
    );
}

/// A corpus of hosts against every built-in profile and a few custom ones.
fn corpus() -> Vec<HostReport> {
    let mut hosts = vec![
        patched_server(),
        unpatched_server(),
        host(None, OracleFix::Unknown),
    ];
    let mut h = patched_server();
    h.findings.push(Finding::new(
        ids::CERT_NAME_MISMATCH,
        Severity::Medium,
        "name",
    ));
    hosts.push(h);
    let mut h = unpatched_server();
    if let Some(t) = h.tls.as_mut() {
        t.versions = vec![V::TLS1_0];
        t.version = Some(V::TLS1_0);
        t.stack = Some(TlsStack::Openssl);
    }
    hosts.push(h);
    let mut h = patched_server();
    h.tls = None;
    hosts.push(h);
    let mut h = HostReport::new("x".into(), None, 3389);
    h.status = Status::Filtered;
    hosts.push(h);
    hosts
}

fn clients() -> Vec<ClientProfile> {
    let mut v: Vec<ClientProfile> = BUILTIN_NAMES.iter().map(|n| p(n)).collect();
    let mut no_nla = p("patched-mitigated");
    no_nla.nla = Tristate::No;
    v.push(no_nla);
    let mut unknown_fix = p("patched-force");
    unknown_fix.credssp_fix = Tristate::Unknown;
    v.push(unknown_fix);
    v.push(ClientProfile::unknown("nobody", "t"));
    v
}

#[test]
fn every_non_ok_cell_has_a_remediation_and_every_workaround_its_rollback() {
    let mut reasons_seen = std::collections::BTreeSet::new();
    for h in corpus() {
        for c in clients() {
            let cell = evaluate(&h, &c);
            if cell.outcome == Outcome::Ok {
                assert!(cell.reason.is_none() && cell.remediation.is_none());
                continue;
            }
            let text = cell.remediation.clone().unwrap_or_default();
            assert!(
                !text.trim().is_empty(),
                "{} x {}: {cell:?}",
                h.target,
                c.name
            );
            assert!(cell.reason.is_some());
            if text.contains("/d 2") {
                assert!(
                    text.contains(&remediation::rollback()) && text.contains("must be reverted"),
                    "workaround without rollback: {text}"
                );
            }
            if cell.outcome == Outcome::Blocked {
                reasons_seen.insert(cell.reason.clone().unwrap_or_default());
            }
        }
    }
    for r in ["credssp-oracle", "nla-required", "tls-version"] {
        assert!(reasons_seen.contains(r), "corpus never reached {r}");
    }
}

#[test]
fn the_vulnerable_workaround_left_in_place_is_exposed_with_its_rollback() {
    for server in [patched_server(), unpatched_server()] {
        let cell = evaluate(&server, &p("patched-vulnerable"));
        assert_eq!(
            cell_str(&cell),
            "exposed:credssp-oracle",
            "{:?}",
            server.credssp
        );
        let text = cell.remediation.unwrap();
        assert!(text.contains(&remediation::reg_add_oracle(1)), "{text}");
        assert!(text.contains("gpupdate /force"), "{text}");
    }
    // A server without CredSSP (TLS alone): no CredSSP exchange to downgrade, nothing exposed.
    let mut tls_only = patched_server();
    tls_only.security.protocols.credssp = Some(false);
    tls_only.security.protocols.credssp_early_auth = Some(false);
    tls_only.security.protocols.tls = Some(true);
    tls_only.security.nla = NlaVerdict::NotSupported;
    tls_only.credssp = None;
    let cell = evaluate(&tls_only, &p("patched-vulnerable"));
    assert_eq!(cell_str(&cell), "ok", "{cell:?}");
    assert_eq!(
        cell_str(&evaluate(&tls_only, &p("patched-mitigated"))),
        "ok"
    );
    // And `rdpsweep client` says so about the client itself.
    let ids: Vec<String> = p("patched-vulnerable")
        .findings()
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(ids, [ids::CLIENT_ORACLE_VULNERABLE]);
    assert!(p("patched-mitigated").findings().is_empty());
}

/// A self-signed certificate on a domain member and on a workgroup host, against clients that
/// reach servers with Kerberos, NTLM, or in a way not known.
#[test]
fn server_authentication_decides_the_certificate_part() {
    let with_cert_problem = |domain_joined: Option<bool>| {
        let mut h = patched_server();
        h.findings.push(Finding::new(
            ids::CERT_SELF_SIGNED,
            Severity::Medium,
            "self-signed",
        ));
        h.ntlm = Some(crate::report::schema::NtlmReport {
            domain_joined,
            ..Default::default()
        });
        h
    };
    let client = |auth: ServerAuth, policy: CertPolicy| {
        let mut c = p("patched-mitigated");
        c.server_auth = auth;
        c.cert_policy = policy;
        c
    };
    let domain = with_cert_problem(Some(true));
    let workgroup = with_cert_problem(Some(false));
    let not_said = with_cert_problem(None);
    for (host, auth, policy, want) in [
        (&domain, ServerAuth::Kerberos, CertPolicy::Warn, "ok"),
        (&domain, ServerAuth::Kerberos, CertPolicy::Strict, "ok"),
        (
            &domain,
            ServerAuth::Ntlm,
            CertPolicy::Warn,
            "warn:cert-warning",
        ),
        (
            &domain,
            ServerAuth::Ntlm,
            CertPolicy::Strict,
            "blocked:cert-strict",
        ),
        (
            &domain,
            ServerAuth::Unknown,
            CertPolicy::Warn,
            "depends:server-auth",
        ),
        (
            &domain,
            ServerAuth::Unknown,
            CertPolicy::Strict,
            "depends:server-auth",
        ),
        (
            &workgroup,
            ServerAuth::Kerberos,
            CertPolicy::Warn,
            "warn:cert-warning",
        ),
        (
            &workgroup,
            ServerAuth::Unknown,
            CertPolicy::Warn,
            "warn:cert-warning",
        ),
        (
            &not_said,
            ServerAuth::Kerberos,
            CertPolicy::Warn,
            "warn:cert-warning",
        ),
    ] {
        let cell = evaluate(host, &client(auth, policy));
        assert_eq!(cell_str(&cell), want, "{auth:?} {policy:?} {:?}", host.ntlm);
        if want.starts_with("depends") {
            let text = cell.remediation.unwrap();
            assert!(text.contains("Kerberos") && text.contains("NTLM"), "{text}");
        }
    }
}

#[test]
fn a_server_refusing_every_layer_is_blocked_with_what_it_demands() {
    let mut h = HostReport::new("nocert".into(), Some("192.0.2.7".parse().unwrap()), 3389);
    h.status = Status::Rdp;
    h.security.protocols = Protocols {
        rdp: Some(false),
        tls: Some(false),
        credssp: Some(false),
        ..Protocols::default()
    };
    h.security.nla = NlaVerdict::NotSupported;
    h.security.failure_codes = vec![
        "nla:SSL_CERT_NOT_ON_SERVER".into(),
        "tls:SSL_CERT_NOT_ON_SERVER".into(),
        "rdp:SSL_CERT_NOT_ON_SERVER".into(),
    ];
    for client in BUILTIN_NAMES {
        let cell = evaluate(&h, &p(client));
        assert_eq!(cell_str(&cell), "blocked:security-refused", "{client}");
        let text = cell.remediation.unwrap();
        assert!(text.contains("give it a certificate"), "{text}");
        assert!(!text.contains("rescan"), "{text}");
    }
    h.security.failure_codes = vec!["nla:SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER".into()];
    let text = evaluate(&h, &p("patched-mitigated")).remediation.unwrap();
    assert!(text.contains("client certificate"), "{text}");
}

/// Standard RDP Security: the client's minimum level, and FreeRDP against xrdp's RC4 (which
/// the real client fails: docs/compat.md).
#[test]
fn standard_rdp_security_encryption_against_the_client() {
    use crate::report::schema::{Implementation, RdpSecurityReport, ServerReport};
    let rdp_host = |implementation: Implementation, level: &str, method: &str| {
        let mut h = HostReport::new("r".into(), Some("192.0.2.8".parse().unwrap()), 3389);
        h.status = Status::Rdp;
        h.security.protocols = Protocols {
            rdp: Some(true),
            tls: Some(false),
            credssp: Some(false),
            ..Protocols::default()
        };
        h.security.nla = NlaVerdict::NotSupported;
        h.server = Some(ServerReport {
            implementation,
            ..ServerReport::default()
        });
        h.rdp_security = Some(RdpSecurityReport {
            encryption_level: Some(level.into()),
            encryption_methods: vec![method.into()],
            ..RdpSecurityReport::default()
        });
        h
    };
    let mut strict_level = p("patched-mitigated");
    strict_level.min_rdp_encryption = Some(RdpLevel::High);
    let low = rdp_host(Implementation::Windows, "low", "40bit");
    assert_eq!(
        cell_str(&evaluate(&low, &strict_level)),
        "blocked:rdp-encryption"
    );
    let high = rdp_host(Implementation::Windows, "high", "128bit");
    assert_eq!(
        cell_str(&evaluate(&high, &strict_level)),
        "warn:security-layer"
    );

    let mut freerdp = p("patched-mitigated");
    freerdp.kind = ClientKind::Freerdp;
    for (level, method, want) in [
        ("low", "40bit", "blocked:rdp-security"),
        ("high", "128bit", "blocked:rdp-security"),
        ("fips", "fips", "warn:security-layer"),
    ] {
        let cell = evaluate(&rdp_host(Implementation::Xrdp, level, method), &freerdp);
        assert_eq!(cell_str(&cell), want, "xrdp {level}");
    }
    // The same RC4 level on FreeRDP's own server connects (measured).
    let shadow = rdp_host(Implementation::Freerdp, "client_compatible", "128bit");
    assert_eq!(
        cell_str(&evaluate(&shadow, &freerdp)),
        "warn:security-layer"
    );
}
