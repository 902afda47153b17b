//! Choosing the clients a scan or a saved scan is evaluated against (`--client-profile`,
//! `--client-state`, `--clients`, `--what-if`), the matrix file and `--fail-on`: the options
//! `scan` and `report` share. Documented in `docs/compat.md`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use crate::client::builtin::{self, BUILTIN_NAMES};
use crate::client::load::{self, parse_state_arg};
use crate::client::profile::ClientProfile;
use crate::client::{local, whatif};
pub use crate::report::gate::FailOn;

/// Which clients to evaluate.
#[derive(Debug, Clone, Default, Args)]
pub struct ClientSelection {
    /// Client profiles, comma-separated: local, patched-mitigated, patched-force,
    /// patched-vulnerable, unpatched, modern-tls12, or none. When no client option is given:
    /// local,patched-mitigated,unpatched.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub client_profile: Vec<String>,
    /// A client described by a file: a .reg export, `reg query` output, `rdpsweep client
    /// --format json` output or a TOML profile; named NAME, else after the file stem.
    /// Repeatable; registry files given the same NAME are merged.
    #[arg(long, value_name = "[NAME=]FILE")]
    pub client_state: Vec<String>,
    /// A fleet CSV, one client per row (columns in docs/compat.md). Repeatable.
    #[arg(long, value_name = "FILE.csv")]
    pub clients: Vec<PathBuf>,
    /// Also evaluate every client with a proposed change, e.g. allow_encryption_oracle=0
    /// (KEY=VALUE,...), as `<name>+what-if` next to the original.
    #[arg(long, value_name = "KEY=VALUE")]
    pub what_if: Option<String>,
}

/// Compatibility options of `scan` and `report`.
#[derive(Debug, Clone, Default, Args)]
pub struct CompatArgs {
    #[command(flatten)]
    pub select: ClientSelection,
    /// Write the compatibility matrix to FILE.csv: one row per host, a cell and a remediation
    /// column per client.
    #[arg(long, value_name = "FILE.csv")]
    pub matrix: Option<PathBuf>,
    /// Exit with status 1 when any host/client pair reaches LEVEL (warn < exposed < depends <
    /// blocked; `unknown` on its own), or any finding has severity LEVEL or higher (info, low,
    /// medium, high). Comma-separated or repeated.
    #[arg(long, value_enum, value_name = "LEVEL", value_delimiter = ',')]
    pub fail_on: Vec<FailOn>,
}

/// Builds the client list: profiles, client-state files, fleet files, what-if twins. Reads
/// every file before anything is scanned; errors name the file and line. `default` applies
/// when no client option is given.
pub fn resolve_clients(sel: &ClientSelection, default: &[&str]) -> Result<Vec<ClientProfile>> {
    let mut names: Vec<String> = sel
        .client_profile
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let defaulted = names.is_empty() && sel.client_state.is_empty() && sel.clients.is_empty();
    if defaulted {
        names = default.iter().map(|s| (*s).to_owned()).collect();
    }
    let mut out: Vec<ClientProfile> = Vec::new();
    for name in &names {
        match name.as_str() {
            "none" => {}
            "local" => {
                let p = local::local_profile("local");
                match defaulted
                    .then(|| local::default_set_drop_note(&p, default))
                    .flatten()
                {
                    Some(note) => eprintln!("rdpsweep: {note}"),
                    None => out.push(p),
                }
            }
            other => match builtin::builtin(other) {
                Some(p) => out.push(p),
                None => bail!(
                    "--client-profile: unknown profile {other:?} (known: local, {}, none)",
                    BUILTIN_NAMES.join(", ")
                ),
            },
        }
    }
    let mut args = Vec::new();
    for s in &sel.client_state {
        args.push(parse_state_arg(s)?);
    }
    out.extend(load::load_client_states(&args)?);
    for f in &sel.clients {
        out.extend(load::load_fleet(f)?);
    }
    if let Some(spec) = &sel.what_if {
        let changes = whatif::parse_what_if(spec).map_err(anyhow::Error::msg)?;
        let twins: Vec<ClientProfile> = out.iter().map(|p| whatif::apply(p, &changes)).collect();
        out.extend(twins);
    }
    for (i, p) in out.iter().enumerate() {
        if out.iter().skip(i + 1).any(|q| q.name == p.name) {
            bail!(
                "client name {:?} is used twice ({} and another); name clients with NAME=FILE",
                p.name,
                p.source
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_defaults_names_and_duplicates() {
        let sel = ClientSelection::default();
        let v = resolve_clients(&sel, &["patched-mitigated", "unpatched"]).unwrap();
        assert_eq!(v.len(), 2);
        let sel = ClientSelection {
            client_profile: vec!["patched-force".into()],
            what_if: Some("allow_encryption_oracle=2".into()),
            ..ClientSelection::default()
        };
        let v = resolve_clients(&sel, &[]).unwrap();
        let names: Vec<&str> = v.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["patched-force", "patched-force+what-if"]);
        let sel = ClientSelection {
            client_profile: vec!["unpatched".into(), "unpatched".into()],
            ..ClientSelection::default()
        };
        assert!(
            resolve_clients(&sel, &[])
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let sel = ClientSelection {
            client_profile: vec!["patched".into()],
            ..ClientSelection::default()
        };
        assert!(
            resolve_clients(&sel, &[])
                .unwrap_err()
                .to_string()
                .contains("unknown profile")
        );
        let sel = ClientSelection {
            client_profile: vec!["none".into()],
            ..ClientSelection::default()
        };
        assert!(resolve_clients(&sel, &["unpatched"]).unwrap().is_empty());
    }
}
