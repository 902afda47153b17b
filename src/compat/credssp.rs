//! Microsoft's CredSSP interoperability table for the Encryption Oracle Remediation
//! (CVE-2018-0886), from KB4093492 "CredSSP updates for CVE-2018-0886" (also in KB4295591):
//!
//! | Client \ Server | Not updated | Force Updated Clients | Mitigated | Vulnerable |
//! |---|---|---|---|---|
//! | Not updated | Allowed | **Blocked** | Allowed | Allowed |
//! | Force Updated Clients | **Blocked** | Allowed | Allowed | Allowed |
//! | Mitigated | **Blocked** | Allowed | Allowed | Allowed |
//! | Vulnerable | Allowed | Allowed | Allowed | Allowed |
//!
//! rdpsweep's outcome of one cell: Blocked is `blocked:credssp-oracle`; Allowed with an
//! unpatched party on either side is `exposed` (the connection uses the pre-fix exchange
//! CVE-2018-0886 attacks); Allowed between two patched parties is `ok`.
//!
//! What rdpsweep observes: the server's patch level from the CredSSP version it answers
//! (5 or higher = fixed, [`crate::report::schema::OracleFix`]); the server's own
//! `AllowEncryptionOracle` cannot be observed remotely. So a patched server stands for the
//! three right-hand columns at once, and an outcome that differs between them is `depends`.
//! The client's row comes from its profile; when the profile leaves the row open (fix or
//! policy unknown), differing outcomes are `unknown`.

use crate::client::profile::{ClientProfile, OraclePolicy, Tristate};
use crate::report::schema::{OracleFix, Outcome};

/// A row of the table: the client's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientRow {
    NotUpdated,
    ForceUpdatedClients,
    Mitigated,
    Vulnerable,
}

/// A column of the table: the server's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerColumn {
    NotUpdated,
    ForceUpdatedClients,
    Mitigated,
    Vulnerable,
}

/// A cell of the table, as Microsoft words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interop {
    Allowed,
    Blocked,
}

impl ClientRow {
    pub const ALL: [ClientRow; 4] = [
        ClientRow::NotUpdated,
        ClientRow::ForceUpdatedClients,
        ClientRow::Mitigated,
        ClientRow::Vulnerable,
    ];

    fn patched(policy: OraclePolicy) -> Self {
        match policy {
            OraclePolicy::ForceUpdatedClients => ClientRow::ForceUpdatedClients,
            OraclePolicy::Mitigated => ClientRow::Mitigated,
            OraclePolicy::Vulnerable => ClientRow::Vulnerable,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ClientRow::NotUpdated => "client not updated",
            ClientRow::ForceUpdatedClients => "client Force Updated Clients",
            ClientRow::Mitigated => "client Mitigated",
            ClientRow::Vulnerable => "client Vulnerable",
        }
    }
}

impl ServerColumn {
    pub const ALL: [ServerColumn; 4] = [
        ServerColumn::NotUpdated,
        ServerColumn::ForceUpdatedClients,
        ServerColumn::Mitigated,
        ServerColumn::Vulnerable,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ServerColumn::NotUpdated => "server not updated",
            ServerColumn::ForceUpdatedClients => "server Force Updated Clients",
            ServerColumn::Mitigated => "server Mitigated",
            ServerColumn::Vulnerable => "server Vulnerable",
        }
    }
}

/// Microsoft's table (KB4093492), cell by cell.
pub const fn microsoft_table(client: ClientRow, server: ServerColumn) -> Interop {
    match (client, server) {
        (ClientRow::NotUpdated, ServerColumn::ForceUpdatedClients) => Interop::Blocked,
        (ClientRow::ForceUpdatedClients | ClientRow::Mitigated, ServerColumn::NotUpdated) => {
            Interop::Blocked
        }
        _ => Interop::Allowed,
    }
}

/// rdpsweep's outcome of one table cell (see the module docs).
pub fn cell_outcome(client: ClientRow, server: ServerColumn) -> Outcome {
    match microsoft_table(client, server) {
        Interop::Blocked => Outcome::Blocked,
        Interop::Allowed
            if client == ClientRow::NotUpdated || server == ServerColumn::NotUpdated =>
        {
            Outcome::Exposed
        }
        Interop::Allowed => Outcome::Ok,
    }
}

/// The rows a client profile may be in (one when everything is known).
pub fn client_rows(client: &ClientProfile) -> Vec<ClientRow> {
    let patched_rows = || -> Vec<ClientRow> {
        match client.effective_policy() {
            Some(p) => vec![ClientRow::patched(p)],
            None => vec![
                ClientRow::ForceUpdatedClients,
                ClientRow::Mitigated,
                ClientRow::Vulnerable,
            ],
        }
    };
    match client.credssp_fix {
        Tristate::No => vec![ClientRow::NotUpdated],
        Tristate::Yes => patched_rows(),
        Tristate::Unknown => {
            let mut rows = vec![ClientRow::NotUpdated];
            rows.extend(patched_rows());
            rows
        }
    }
}

/// The columns a server with this observed fix state may be in.
pub fn server_columns(fix: OracleFix) -> Vec<ServerColumn> {
    match fix {
        OracleFix::Missing => vec![ServerColumn::NotUpdated],
        OracleFix::Fixed => vec![
            ServerColumn::ForceUpdatedClients,
            ServerColumn::Mitigated,
            ServerColumn::Vulnerable,
        ],
        OracleFix::Unknown => ServerColumn::ALL.to_vec(),
    }
}

/// Every (row, column, outcome) the observation leaves possible.
pub fn possible_cells(
    client: &ClientProfile,
    server: OracleFix,
) -> Vec<(ClientRow, ServerColumn, Outcome)> {
    let mut out = Vec::new();
    for r in client_rows(client) {
        for c in server_columns(server) {
            out.push((r, c, cell_outcome(r, c)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClientRow as C;
    use Interop::{Allowed as A, Blocked as B};
    use ServerColumn as S;

    /// The whole of Microsoft's table (KB4093492), every cell, as published.
    const TABLE: [(ClientRow, [Interop; 4]); 4] = [
        //                          not updated, Force, Mitigated, Vulnerable
        (C::NotUpdated, [A, B, A, A]),
        (C::ForceUpdatedClients, [B, A, A, A]),
        (C::Mitigated, [B, A, A, A]),
        (C::Vulnerable, [A, A, A, A]),
    ];

    #[test]
    fn microsoft_table_every_cell() {
        for (row, cells) in TABLE {
            for (col, expect) in S::ALL.into_iter().zip(cells) {
                assert_eq!(microsoft_table(row, col), expect, "{row:?} x {col:?}");
            }
        }
    }

    #[test]
    fn outcome_of_every_cell() {
        use Outcome::{Blocked as Bl, Exposed as Ex, Ok as Okk};
        let expect: [(ClientRow, [Outcome; 4]); 4] = [
            (C::NotUpdated, [Ex, Bl, Ex, Ex]),
            (C::ForceUpdatedClients, [Bl, Okk, Okk, Okk]),
            (C::Mitigated, [Bl, Okk, Okk, Okk]),
            (C::Vulnerable, [Ex, Okk, Okk, Okk]),
        ];
        for (row, cells) in expect {
            for (col, o) in S::ALL.into_iter().zip(cells) {
                assert_eq!(cell_outcome(row, col), o, "{row:?} x {col:?}");
            }
        }
    }
}
