//! The first leg of CredSSP (MS-CSSP 3.1.5, steps 1-2) over an established TLS session.
//!
//! The client sends one `TSRequest { version, negoTokens = [NTLM NEGOTIATE] }` (a raw NTLM token,
//! as mstsc and nmap do), reads exactly one `TSRequest` back with bounded framing, decodes it and
//! the NTLM CHALLENGE inside, and stops. It never sends an NTLM AUTHENTICATE message, a
//! `pubKeyAuth`, an `authInfo`, or any credential: there is no code path that could.

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use crate::proto::ntlm::{ChallengeMessage, NegotiateMessage, SIGNATURE};
use crate::proto::tsrequest::{Frame, MAX_TS_REQUEST_LEN, TsRequest, TsRequestError, frame_len};

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

const SENDING: &str = "sending the TSRequest";
const WAITING: &str = "waiting for the server's TSRequest";
const READING: &str = "reading the server's TSRequest";

/// Runs the CredSSP first leg on `stream` (a TLS session after X.224 selected HYBRID or
/// HYBRID_EX), advertising `client_version`, and gives up at `deadline`.
pub async fn first_leg<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    client_version: u32,
    deadline: Instant,
) -> Result<CredsspObservation, CredsspFailure> {
    let request = TsRequest::client_first(client_version, NegotiateMessage::default().encode())
        .encode()
        .map_err(CredsspFailure::Encode)?;

    let sent = timeout_at(deadline, async {
        stream.write_all(&request).await?;
        stream.flush().await
    })
    .await;
    match sent {
        Err(_) => {
            return Err(CredsspFailure::Timeout {
                phase: SENDING,
                received: 0,
            });
        }
        Ok(Err(e)) => return Err(io_failure(&e, SENDING, 0)),
        Ok(Ok(())) => {}
    }

    let mut buf = Vec::new();
    let read = timeout_at(deadline, read_one_tsrequest(stream, &mut buf)).await;
    let phase = if buf.is_empty() { WAITING } else { READING };
    match read {
        Err(_) => {
            return Err(CredsspFailure::Timeout {
                phase,
                received: buf.len(),
            });
        }
        Ok(Err(ReadError::Io(e))) => return Err(io_failure(&e, phase, buf.len())),
        Ok(Err(ReadError::Frame(e))) => return Err(CredsspFailure::Malformed(e)),
        Ok(Ok(())) => {}
    }

    let server = TsRequest::decode(&buf).map_err(CredsspFailure::Malformed)?;
    let (challenge, token_note) = match server.nego_tokens.first() {
        None => (None, None),
        Some(token) => {
            let (c, note) = find_challenge(token);
            (Some(c), note)
        }
    };
    Ok(CredsspObservation {
        client_version,
        reply_len: buf.len(),
        server,
        challenge,
        token_note,
    })
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

enum ReadError {
    Io(std::io::Error),
    Frame(TsRequestError),
}

/// Reads exactly one DER TLV (no byte more) into `buf`, refusing more than
/// [`MAX_TS_REQUEST_LEN`] bytes.
async fn read_one_tsrequest<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<(), ReadError> {
    loop {
        let need = match frame_len(buf, MAX_TS_REQUEST_LEN).map_err(ReadError::Frame)? {
            Frame::Complete(_) => return Ok(()),
            Frame::NeedMore(n) => n,
        };
        buf.reserve(need);
        let limit = u64::try_from(need).unwrap_or(u64::MAX);
        let n = (&mut *stream)
            .take(limit)
            .read_buf(buf)
            .await
            .map_err(ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
}

fn io_failure(e: &std::io::Error, phase: &'static str, received: usize) -> CredsspFailure {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::UnexpectedEof | ErrorKind::BrokenPipe => {
            CredsspFailure::Closed { phase, received }
        }
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
            CredsspFailure::Reset { phase }
        }
        _ => CredsspFailure::Io {
            phase,
            detail: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ntlm::MessageType;
    use crate::test_fixtures::hex;
    use std::time::Duration;
    use tokio::io::duplex;

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    /// Reads the client's TSRequest from the other end of a duplex pipe.
    async fn read_client(server: &mut tokio::io::DuplexStream) -> TsRequest {
        let mut buf = Vec::new();
        match read_one_tsrequest(server, &mut buf).await {
            Ok(()) => {}
            Err(_) => panic!("client request unreadable"),
        }
        TsRequest::decode(&buf).expect("client request decodes")
    }

    #[tokio::test]
    async fn replays_the_windows_server_2019_reply() {
        let (mut client, mut server) = duplex(4096);
        let reply = hex(include_str!(
            "../../fixtures/windows-server-2019-tsrequest-challenge.hex"
        ));
        let server_task = async {
            let req = read_client(&mut server).await;
            server.write_all(&reply).await.expect("write");
            // Anything after the reply must not be read by first_leg.
            server.write_all(b"\x30\x03extra").await.expect("write");
            req
        };
        let (obs, req) = tokio::join!(first_leg(&mut client, 6, deadline()), server_task);
        assert_eq!(req.version, 6);
        assert_eq!(message_type_of(&req), Some(MessageType::NEGOTIATE));
        let obs = obs.expect("observation");
        assert_eq!(obs.server.version, 6);
        assert_eq!(obs.reply_len, reply.len());
        let c = obs.challenge.expect("token").expect("challenge");
        assert_eq!(c.target_name.as_deref(), Some("fv-az41-637"));
        let mut rest = [0u8; 2];
        client.read_exact(&mut rest).await.expect("rest");
        assert_eq!(&rest, b"\x30\x03", "first_leg read past the TSRequest");
    }

    fn message_type_of(req: &TsRequest) -> Option<MessageType> {
        crate::proto::ntlm::message_type(req.nego_tokens.first()?)
    }

    #[tokio::test]
    async fn advertises_the_requested_version() {
        for version in [2u32, 3, 4, 5, 6] {
            let (mut client, mut server) = duplex(4096);
            let server_task = async {
                let req = read_client(&mut server).await;
                let reply = TsRequest {
                    version: 3,
                    error_code: Some(crate::proto::tsrequest::NtStatus(0xC000_006D)),
                    ..TsRequest::default()
                };
                server
                    .write_all(&reply.encode().expect("encode"))
                    .await
                    .expect("write");
                req
            };
            let (obs, req) = tokio::join!(first_leg(&mut client, version, deadline()), server_task);
            assert_eq!(req.version, version);
            assert_eq!(req.client_nonce, None);
            let obs = obs.expect("observation");
            assert_eq!(obs.client_version, version);
            assert_eq!(obs.server.version, 3);
            assert_eq!(obs.challenge, None);
        }
    }

    #[tokio::test]
    async fn failures_are_named() {
        // Closed before any reply.
        let (mut client, mut server) = duplex(4096);
        let server_task = async move {
            let _ = read_client(&mut server).await;
            drop(server);
        };
        let (r, ()) = tokio::join!(first_leg(&mut client, 6, deadline()), server_task);
        assert_eq!(
            r,
            Err(CredsspFailure::Closed {
                phase: WAITING,
                received: 0
            })
        );

        // Closed halfway through the reply.
        let (mut client, mut server) = duplex(4096);
        let server_task = async move {
            let _ = read_client(&mut server).await;
            server
                .write_all(&[0x30, 0x81, 0xda, 0xa0])
                .await
                .expect("write");
            drop(server);
        };
        let (r, ()) = tokio::join!(first_leg(&mut client, 6, deadline()), server_task);
        assert_eq!(
            r,
            Err(CredsspFailure::Closed {
                phase: READING,
                received: 4
            })
        );
        assert_eq!(
            r.expect_err("closed").to_string(),
            "connection closed by the server while reading the server's TSRequest (4 bytes received)"
        );

        // Not DER at all (an RDP_NEG_FAILURE-ish TPKT).
        let (mut client, mut server) = duplex(4096);
        let server_task = async move {
            let _ = read_client(&mut server).await;
            server
                .write_all(&[0x03, 0x00, 0x00, 0x13])
                .await
                .expect("write");
            server
        };
        let (r, _server) = tokio::join!(first_leg(&mut client, 6, deadline()), server_task);
        let err = r.expect_err("malformed");
        assert!(
            err.to_string()
                .starts_with("malformed TSRequest: TSRequest: expected SEQUENCE"),
            "{err}"
        );

        // Announces more than the cap.
        let (mut client, mut server) = duplex(4096);
        let server_task = async move {
            let _ = read_client(&mut server).await;
            server
                .write_all(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff])
                .await
                .expect("write");
            server
        };
        let (r, _server) = tokio::join!(first_leg(&mut client, 6, deadline()), server_task);
        assert!(matches!(
            r,
            Err(CredsspFailure::Malformed(TsRequestError::TooLarge { .. }))
        ));

        // Well-framed but not a TSRequest inside.
        let (mut client, mut server) = duplex(4096);
        let server_task = async move {
            let _ = read_client(&mut server).await;
            server
                .write_all(&[0x30, 0x03, 0x02, 0x01, 0x06])
                .await
                .expect("write");
            server
        };
        let (r, _server) = tokio::join!(first_leg(&mut client, 6, deadline()), server_task);
        assert_eq!(
            r,
            Err(CredsspFailure::Malformed(TsRequestError::MissingVersion))
        );
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let (mut client, mut server) = duplex(4096);
        let server_task = async move {
            let _ = read_client(&mut server).await;
            server.write_all(&[0x30, 0x81]).await.expect("write");
            server // kept open (and silent) until the test ends
        };
        let deadline = Instant::now() + Duration::from_millis(300);
        let (r, _server) = tokio::join!(first_leg(&mut client, 6, deadline), server_task);
        assert_eq!(
            r,
            Err(CredsspFailure::Timeout {
                phase: READING,
                received: 2
            })
        );
    }

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
