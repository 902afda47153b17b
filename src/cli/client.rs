//! `rdpsweep client`: describes RDP clients (the local one by default); its `--format json`
//! output can be fed back with `--client-state`.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::exit;
use super::select::{ClientSelection, resolve_clients};
use crate::client::profile::{ClientProfile, Tristate};

/// Output of `rdpsweep client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// `json` prints what `--client-state` reads back (one object; an array for several).
    #[arg(long, value_enum, default_value = "table")]
    pub format: ClientFormat,
    #[command(flatten)]
    pub select: ClientSelection,
}

fn tristate(t: Tristate) -> &'static str {
    t.as_str()
}

/// The human-readable description of a profile.
pub fn describe_profile(p: &ClientProfile) -> String {
    use crate::report::sanitize::escape_controls;
    let mut s = String::new();
    let tls = |list: Vec<crate::proto::tls::ProtocolVersion>| {
        if list.is_empty() {
            "-".to_owned()
        } else {
            list.iter().map(|v| v.label()).collect::<Vec<_>>().join(" ")
        }
    };
    let policy = match p.effective_policy() {
        Some(pol) => format!("{} ({})", pol.label(), pol.dword()),
        None => "unknown".to_owned(),
    };
    let lines = [
        ("client", p.name.clone()),
        ("kind", p.kind.as_str().to_owned()),
        ("source", p.source.clone()),
        (
            "os build",
            match (p.os_build, p.ubr) {
                (Some(b), Some(u)) => format!("{b}.{u}"),
                (Some(b), None) => format!("{b} (UBR unknown)"),
                _ => "-".to_owned(),
            },
        ),
        (
            "version",
            p.version.clone().unwrap_or_else(|| "-".to_owned()),
        ),
        (
            "credssp fix (CVE-2018-0886)",
            tristate(p.credssp_fix).to_owned(),
        ),
        (
            "AllowEncryptionOracle",
            p.allow_encryption_oracle.to_string(),
        ),
        ("effective policy", policy),
        ("nla", tristate(p.nla).to_owned()),
        ("tls versions", tls(p.tls.enabled())),
        ("tls versions unknown", tls(p.tls.unknown_versions())),
        ("tls ciphers", p.tls_ciphers.as_str().to_owned()),
        ("server authentication", p.cert_policy.as_str().to_owned()),
        ("server auth (credssp)", p.server_auth.as_str().to_owned()),
        (
            "min rdp encryption",
            p.min_rdp_encryption
                .map_or("-".to_owned(), |l| l.as_str().to_owned()),
        ),
        (
            "standard rdp security",
            tristate(p.standard_rdp_security).to_owned(),
        ),
    ];
    for (k, v) in lines {
        s.push_str(&format!("{k:<28} {}\n", escape_controls(&v)));
    }
    for n in &p.notes {
        s.push_str(&format!("{:<28} {}\n", "note", escape_controls(n)));
    }
    for f in p.findings() {
        s.push_str(&format!(
            "{:<28} {} ({}): {}\n",
            "finding",
            f.id,
            f.severity.as_str(),
            escape_controls(&f.message)
        ));
    }
    s
}

/// `rdpsweep client`.
pub fn run(args: ClientArgs) -> ExitCode {
    let profiles = match resolve_clients(&args.select, &["local"]) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rdpsweep: {e:#}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let text = match args.format {
        ClientFormat::Json => {
            let json = match profiles.as_slice() {
                [one] => serde_json::to_string_pretty(one),
                many => serde_json::to_string_pretty(many),
            };
            match json {
                Ok(j) => format!("{j}\n"),
                Err(e) => {
                    eprintln!("rdpsweep: {e}");
                    return ExitCode::from(exit::RUNTIME);
                }
            }
        }
        ClientFormat::Table => profiles
            .iter()
            .map(describe_profile)
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(exit::RUNTIME);
    }
    ExitCode::from(exit::OK)
}
