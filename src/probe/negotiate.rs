//! The negotiation stage: one X.224 Connection Request / Confirm exchange
//! (MS-RDPBCGR 1.3.1.1 step 1, 2.2.1.1, 2.2.1.2).

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use super::io::{PduError, ReadAhead, StageError, TpktHint, read_pdu};
pub use crate::observe::NegotiationResult;
use crate::proto::x224::{self, ConfirmHeader, MAX_CONFIRM_LEN, Protocols, X224Error};

/// Sends a Connection Request for `requested` and reads the Connection Confirm; returns the
/// answer and, when a Connection Confirm came back, its fixed header.
pub async fn negotiate<S>(
    stream: &mut S,
    requested: Protocols,
    cookie: Option<&str>,
    deadline: Instant,
) -> (NegotiationResult, Option<ConfirmHeader>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = x224::connection_request(requested, cookie);
    match timeout_at(deadline, stream.write_all(&request)).await {
        Err(_) => return (NegotiationResult::Failed(StageError::Timeout(0)), None),
        Ok(Err(e)) => return (NegotiationResult::Failed(StageError::from_io(&e)), None),
        Ok(Ok(())) => {}
    }
    let mut buf = Vec::with_capacity(32);
    let framed = read_pdu(
        stream,
        &mut buf,
        &TpktHint,
        MAX_CONFIRM_LEN,
        ReadAhead::UpToCap,
        deadline,
    )
    .await;
    let result = match framed {
        Ok(len) => match x224::decode_confirm_with_header(buf.get(..len).unwrap_or_default()) {
            Ok((confirm, header)) => return (NegotiationResult::Confirm(confirm), Some(header)),
            Err(e) => not_rdp(&e, &buf),
        },
        // Framing refused the first bytes: whatever answered is not TPKT.
        Err(PduError::Frame(e)) => not_rdp(&e, &buf),
        // Bytes arrived but the peer went away or stalled before a full TPKT packet.
        Err(PduError::Stage(StageError::Closed { after }))
            if after > 0 && x224::frame_len(&buf).is_err() =>
        {
            not_rdp(&X224Error::NotTpkt(buf.first().copied().unwrap_or(0)), &buf)
        }
        Err(PduError::Stage(e)) => NegotiationResult::Failed(e),
    };
    (result, None)
}

fn not_rdp(error: &X224Error, reply: &[u8]) -> NegotiationResult {
    NegotiationResult::NotRdp {
        detail: format!("{error}; reply starts {}", preview(reply)),
    }
}

/// The first bytes of a reply, printable ASCII as text and anything else as `\xNN`.
pub fn preview(bytes: &[u8]) -> String {
    const MAX: usize = 24;
    let mut out = String::from("\"");
    for &b in bytes.iter().take(MAX) {
        if b.is_ascii_graphic() || b == b' ' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    if bytes.len() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::x224::ConnectionConfirm;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    async fn exchange(reply: &'static [u8]) -> NegotiationResult {
        let (mut client, mut server) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut req = [0u8; 19];
            server.read_exact(&mut req).await.ok();
            server.write_all(reply).await.ok();
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        negotiate(&mut client, Protocols::SSL, None, deadline)
            .await
            .0
    }

    #[tokio::test]
    async fn decodes_a_confirm() {
        let r = exchange(
            b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x00\x08\x00\x01\x00\x00\x00",
        )
        .await;
        assert!(matches!(
            r,
            NegotiationResult::Confirm(ConnectionConfirm::Response { selected, .. }) if selected == Protocols::SSL
        ));
    }

    #[tokio::test]
    async fn an_http_banner_is_not_rdp() {
        let r = exchange(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        let NegotiationResult::NotRdp { detail } = r else {
            panic!("{r:?}")
        };
        assert!(detail.contains("\"HTTP/1.1 400 Bad Request"), "{detail}");
    }

    #[tokio::test]
    async fn an_oversized_tpkt_length_is_not_rdp() {
        let r = exchange(b"\x03\x00\xff\xff\x0e\xd0").await;
        assert!(matches!(r, NegotiationResult::NotRdp { .. }), "{r:?}");
    }
}
