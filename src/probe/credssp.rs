//! The first leg of CredSSP (MS-CSSP 3.1.5, steps 1-2) over an established TLS session.
//!
//! The client sends one `TSRequest { version, negoTokens = [NTLM NEGOTIATE] }` (a raw NTLM token,
//! as mstsc and nmap do), reads exactly one `TSRequest` back with bounded framing, decodes it and
//! the NTLM CHALLENGE inside, and stops. It never sends an NTLM AUTHENTICATE message, a
//! `pubKeyAuth`, an `authInfo`, or any credential: there is no code path that could.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use super::io::{PduError, ReadAhead, StageError, TsRequestHint, read_pdu};
pub use crate::observe::credssp::{
    CredsspFailure, CredsspObservation, DEFAULT_CLIENT_VERSION, EmulatedAttempt,
};
use crate::proto::ntlm::NegotiateMessage;
use crate::proto::tsrequest::{MAX_TS_REQUEST_LEN, TsRequest};

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
    let hint = TsRequestHint {
        max: MAX_TS_REQUEST_LEN,
    };
    let read = read_pdu(
        stream,
        &mut buf,
        &hint,
        MAX_TS_REQUEST_LEN,
        ReadAhead::Exact,
        deadline,
    )
    .await;
    let phase = if buf.is_empty() { WAITING } else { READING };
    let received = buf.len();
    match read {
        Ok(_) => {}
        Err(PduError::Frame(e)) => return Err(CredsspFailure::Malformed(e)),
        Err(PduError::Stage(e)) => {
            return Err(match e {
                StageError::Timeout(_) => CredsspFailure::Timeout { phase, received },
                StageError::Closed { .. } => CredsspFailure::Closed { phase, received },
                StageError::Reset => CredsspFailure::Reset { phase },
                other => CredsspFailure::Io {
                    phase,
                    detail: other.to_string(),
                },
            });
        }
    }

    let server = TsRequest::decode(&buf).map_err(CredsspFailure::Malformed)?;
    Ok(CredsspObservation::new(
        client_version,
        server,
        buf.len(),
        Duration::ZERO,
    ))
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
    use crate::proto::tsrequest::TsRequestError;
    use crate::test_fixtures::hex;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, duplex};

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    /// Reads the client's TSRequest from the other end of a duplex pipe.
    async fn read_client(server: &mut tokio::io::DuplexStream) -> TsRequest {
        let mut buf = Vec::new();
        let hint = TsRequestHint {
            max: MAX_TS_REQUEST_LEN,
        };
        let far = Instant::now() + Duration::from_secs(5);
        match read_pdu(
            server,
            &mut buf,
            &hint,
            MAX_TS_REQUEST_LEN,
            ReadAhead::Exact,
            far,
        )
        .await
        {
            Ok(_) => {}
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
}
