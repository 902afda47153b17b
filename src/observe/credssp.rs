//! The CredSSP first leg as data (MS-CSSP 3.1.5, steps 1-2): the server's TSRequest and the
//! NTLM CHALLENGE inside it, or why there was none.

use std::time::Duration;

use thiserror::Error;

use crate::proto::ntlm::{ChallengeMessage, SIGNATURE};
use crate::proto::tsrequest::{TsRequest, TsRequestError};

/// The TSRequest version rdpsweep advertises unless asked otherwise (MS-CSSP 2.2.1: the latest).
pub const DEFAULT_CLIENT_VERSION: u32 = 6;

/// What the first leg saw: the server's TSRequest and the NTLM CHALLENGE inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredsspObservation {
    /// The version this probe advertised.
    pub client_version: u32,
    /// The server's decoded TSRequest (its `version` is the server's CredSSP version).
    pub server: TsRequest,
    /// Size of the server's TSRequest on the wire, in bytes.
    pub reply_len: usize,
    /// The CHALLENGE from the first negoToken: `None` when the reply had no negoToken,
    /// `Some(Err(text))` when the token was not a parsable CHALLENGE.
    pub challenge: Option<Result<ChallengeMessage, String>>,
    /// How the CHALLENGE was found when it was not the whole token (e.g. inside SPNEGO).
    pub token_note: Option<String>,
    /// When the reply arrived, counted from the start of the endpoint's probe (the driver's
    /// monotonic clock): the moment the server's NTLM timestamp is compared with.
    pub received_after: Duration,
}

/// One extra first leg advertising another client version (`--credssp-versions`), on its own
/// connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatedAttempt {
    pub client_version: u32,
    pub outcome: Result<CredsspObservation, CredsspFailure>,
}

/// Why the first leg produced no observation. Messages say what happened and when.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CredsspFailure {
    #[error("timeout while {phase} ({received} bytes received)")]
    Timeout {
        phase: &'static str,
        received: usize,
    },
    #[error("connection closed by the server while {phase} ({received} bytes received)")]
    Closed {
        phase: &'static str,
        received: usize,
    },
    #[error("connection reset by the server while {phase}")]
    Reset { phase: &'static str },
    #[error("I/O error while {phase}: {detail}")]
    Io { phase: &'static str, detail: String },
    #[error("malformed TSRequest: {0}")]
    Malformed(TsRequestError),
    #[error("could not build the client TSRequest: {0}")]
    Encode(TsRequestError),
    /// An emulated-version probe never reached CredSSP (connect, negotiation or TLS failed).
    #[error("no CredSSP session: {detail}")]
    Setup { detail: String },
}

impl CredsspObservation {
    /// The observation of the server's decoded TSRequest (`reply_len` bytes on the wire,
    /// arrived `received_after` the probe started): the CHALLENGE is taken from its first
    /// negoToken.
    pub fn new(
        client_version: u32,
        server: TsRequest,
        reply_len: usize,
        received_after: Duration,
    ) -> Self {
        let (challenge, token_note) = match server.nego_tokens.first() {
            None => (None, None),
            Some(token) => {
                let (c, note) = find_challenge(token);
                (Some(c), note)
            }
        };
        Self {
            client_version,
            server,
            reply_len,
            challenge,
            token_note,
            received_after,
        }
    }
}

/// Parses the CHALLENGE in a negoToken: the whole token when it is a raw NTLM message (what
/// Windows answers to a raw NEGOTIATE), else the first NTLM signature inside it (a server that
/// wraps its answer in SPNEGO `negTokenResp`).
fn find_challenge(token: &[u8]) -> (Result<ChallengeMessage, String>, Option<String>) {
    if token.starts_with(SIGNATURE) {
        return (
            ChallengeMessage::decode(token).map_err(|e| e.to_string()),
            None,
        );
    }
    let at = token.windows(SIGNATURE.len()).position(|w| w == SIGNATURE);
    match at.and_then(|i| token.get(i..).map(|t| (i, t))) {
        Some((i, inner)) => (
            ChallengeMessage::decode(inner).map_err(|e| e.to_string()),
            Some(format!(
                "NTLM message found at offset {i} inside a wrapped (SPNEGO?) negoToken"
            )),
        ),
        None => {
            let head: Vec<String> = token.iter().take(8).map(|b| format!("{b:02x}")).collect();
            (
                Err(format!(
                    "negoToken of {} bytes holds no NTLM message (starts {})",
                    token.len(),
                    head.join(" ")
                )),
                None,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::hex;

    #[test]
    fn spnego_wrapped_and_foreign_tokens() {
        let reply = hex(include_str!(
            "../../fixtures/windows-server-2019-tsrequest-challenge.hex"
        ));
        let ntlm = TsRequest::decode(&reply)
            .expect("decode")
            .nego_tokens
            .remove(0);
        let mut wrapped = vec![
            0xa1, 0x81, 0xff, 0x30, 0x81, 0xfc, 0xa2, 0x81, 0xc9, 0x04, 0x81, 0xc6,
        ];
        wrapped.extend(&ntlm);
        let (c, note) = find_challenge(&wrapped);
        assert_eq!(
            c.expect("challenge").target_name.as_deref(),
            Some("fv-az41-637")
        );
        assert!(note.expect("note").contains("offset 12"));
        let (c, note) = find_challenge(&[0x60, 0x01, 0x02]);
        assert_eq!(
            c,
            Err("negoToken of 3 bytes holds no NTLM message (starts 60 01 02)".to_owned())
        );
        assert_eq!(note, None);
    }
}
