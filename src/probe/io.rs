//! Socket helpers shared by the probe steps: connecting with a deadline from an optional
//! source address, and one hint-driven PDU reader for every message the probe reads (X.224
//! Connection Confirms, TLS records, TSRequests). Every I/O failure becomes a [`StageError`]
//! that the observation carries; nothing here panics or decides verdicts.
//!
//! The reader follows IronRDP's `PduHint`: a pure framing function (from `crate::proto`) says
//! how many more bytes the PDU needs, or how long it is; the reader reads exactly that much
//! (never a byte of the next message), under a size cap checked against the length field
//! before anything is read for it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout_at};

pub use crate::observe::StageError;

/// How the bytes received so far frame the PDU being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// At least this many more bytes are needed (to learn the length, or to complete it).
    NeedMore(usize),
    /// The PDU is this many bytes long.
    Length(usize),
}

/// Framing of one kind of PDU: a pure function of the bytes received so far.
pub trait PduHint {
    /// Why the bytes are not this PDU (the decoder's own error type).
    type Error;
    /// How `buf` (the start of the PDU) frames it; an error ends the read.
    fn frame(&self, buf: &[u8]) -> Result<Frame, Self::Error>;
}

/// Why [`read_pdu`] returned no PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PduError<E> {
    /// The framing refused the bytes (the hint's error).
    Frame(E),
    /// An I/O failure, a timeout, or a length over the cap.
    Stage(StageError),
}

/// A TPKT packet (RFC 1006), e.g. an X.224 Connection Confirm, capped by `crate::proto::x224`.
pub struct TpktHint;

impl PduHint for TpktHint {
    type Error = crate::proto::x224::X224Error;
    fn frame(&self, buf: &[u8]) -> Result<Frame, Self::Error> {
        Ok(match crate::proto::x224::frame_len(buf)? {
            Some(len) => Frame::Length(len),
            None => Frame::NeedMore(4usize.saturating_sub(buf.len()).max(1)),
        })
    }
}

/// One TPKT packet holding an MCS Connect Response (MS-RDPBCGR 2.2.1.4), capped by
/// `crate::proto::mcs`.
pub struct McsHint;

impl PduHint for McsHint {
    type Error = crate::proto::mcs::McsError;
    fn frame(&self, buf: &[u8]) -> Result<Frame, Self::Error> {
        Ok(match crate::proto::mcs::frame_len(buf)? {
            Some(len) => Frame::Length(len),
            None => Frame::NeedMore(4usize.saturating_sub(buf.len()).max(1)),
        })
    }
}

/// One TLS record (RFC 5246 6.2.1), checked as `crate::proto::tls` parses records.
pub struct TlsRecordHint;

impl PduHint for TlsRecordHint {
    type Error = crate::proto::tls::TlsParseError;
    fn frame(&self, buf: &[u8]) -> Result<Frame, Self::Error> {
        use crate::proto::tls::{RECORD_HEADER_LEN, record_len};
        Ok(match record_len(buf)? {
            Some(len) => Frame::Length(len),
            None => Frame::NeedMore(RECORD_HEADER_LEN.saturating_sub(buf.len()).max(1)),
        })
    }
}

/// One DER-encoded TSRequest (MS-CSSP 2.2.1), at most `max` bytes.
pub struct TsRequestHint {
    pub max: usize,
}

impl PduHint for TsRequestHint {
    type Error = crate::proto::tsrequest::TsRequestError;
    fn frame(&self, buf: &[u8]) -> Result<Frame, Self::Error> {
        use crate::proto::tsrequest::{Frame as Der, frame_len};
        Ok(match frame_len(buf, self.max)? {
            Der::Complete(len) => Frame::Length(len),
            Der::NeedMore(n) => Frame::NeedMore(n.max(1)),
        })
    }
}

/// How much [`read_pdu`] may read ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAhead {
    /// Never past what the hint asks for: nothing of a later message is consumed.
    Exact,
    /// While the length is unknown, read whatever has arrived (up to the cap): the reply is
    /// the last thing on the connection, and a reply that is not the expected PDU shows more of
    /// itself (`NotRdp` previews).
    UpToCap,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Opens a TCP connection to `addr`, from `source` when given, giving up at
/// `min(now + connect_timeout, deadline)`.
pub async fn connect(
    addr: SocketAddr,
    source: Option<IpAddr>,
    connect_timeout: Duration,
    deadline: Instant,
) -> Result<TcpStream, StageError> {
    let until = deadline.min(Instant::now() + connect_timeout);
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| StageError::from_io(&e))?;
    if let Some(ip) = source {
        socket
            .bind(SocketAddr::new(ip, 0))
            .map_err(|e| StageError::Local(format!("cannot bind source address {ip}: {e}")))?;
    }
    let started = Instant::now();
    match timeout_at(until, socket.connect(addr)).await {
        Ok(Ok(stream)) => {
            // Small request/response exchanges: do not wait for Nagle.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => Err(StageError::from_io(&e)),
        Err(_) => Err(StageError::Timeout(millis(started.elapsed()))),
    }
}

/// Reads one PDU into `buf` (which may already hold its first bytes), never holding more than
/// `cap` bytes, before `deadline`. Returns the PDU length: the PDU is `buf[..len]`; with
/// [`ReadAhead::UpToCap`] bytes past it may follow in `buf`.
pub async fn read_pdu<S, H>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    hint: &H,
    cap: usize,
    ahead: ReadAhead,
    deadline: Instant,
) -> Result<usize, PduError<H::Error>>
where
    S: AsyncRead + Unpin,
    H: PduHint,
{
    let started = Instant::now();
    let mut chunk = [0u8; 4096];
    let stage = |e| Err(PduError::Stage(e));
    loop {
        let want = match hint.frame(buf).map_err(PduError::Frame)? {
            Frame::Length(len) if len > cap => {
                return stage(StageError::Protocol(format!(
                    "message of {len} bytes exceeds the {cap}-byte limit"
                )));
            }
            Frame::Length(len) if buf.len() >= len => return Ok(len),
            Frame::Length(len) => len - buf.len(),
            Frame::NeedMore(_) if ahead == ReadAhead::UpToCap => cap.saturating_sub(buf.len()),
            Frame::NeedMore(n) => n,
        };
        let room = want.min(cap.saturating_sub(buf.len())).min(chunk.len());
        if room == 0 {
            return stage(StageError::Protocol(format!(
                "no complete message within {cap} bytes"
            )));
        }
        let window = chunk.get_mut(..room).unwrap_or_default();
        match timeout_at(deadline, stream.read(window)).await {
            Err(_) => return stage(StageError::Timeout(millis(started.elapsed()))),
            Ok(Err(e)) => return stage(StageError::from_io(&e)),
            Ok(Ok(0)) => return stage(StageError::Closed { after: buf.len() }),
            Ok(Ok(n)) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A PDU whose length is its first byte.
    struct LengthByte;

    impl PduHint for LengthByte {
        type Error = String;
        fn frame(&self, buf: &[u8]) -> Result<Frame, String> {
            match buf.first() {
                None => Ok(Frame::NeedMore(1)),
                Some(0) => Err("zero length".into()),
                Some(&n) => Ok(Frame::Length(usize::from(n))),
            }
        }
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn reads_exactly_one_pdu_across_chunks_and_nothing_more() {
        let (mut client, mut server) = tokio::io::duplex(64);
        tokio::spawn(async move {
            for part in [&b"\x05a"[..], b"bc", b"d\x03xy"] {
                server.write_all(part).await.ok();
                tokio::task::yield_now().await;
            }
        });
        let mut buf = Vec::new();
        let hint = LengthByte;
        let len = read_pdu(
            &mut client,
            &mut buf,
            &hint,
            16,
            ReadAhead::Exact,
            deadline(),
        )
        .await;
        assert_eq!(len, Ok(5));
        assert_eq!(buf, b"\x05abcd", "nothing of the next PDU was read");
        buf.clear();
        let len = read_pdu(
            &mut client,
            &mut buf,
            &hint,
            16,
            ReadAhead::Exact,
            deadline(),
        )
        .await;
        assert_eq!(len, Ok(3));
        assert_eq!(buf, b"\x03xy");
    }

    #[tokio::test]
    async fn a_pdu_larger_than_the_cap_is_refused_without_reading_it() {
        let (mut client, mut server) = tokio::io::duplex(64);
        server.write_all(&[0xff]).await.expect("write");
        let mut buf = Vec::new();
        let err = read_pdu(
            &mut client,
            &mut buf,
            &LengthByte,
            16,
            ReadAhead::Exact,
            deadline(),
        );
        assert_eq!(
            err.await,
            Err(PduError::Stage(StageError::Protocol(
                "message of 255 bytes exceeds the 16-byte limit".into()
            )))
        );
        assert_eq!(buf.len(), 1);
    }

    #[tokio::test]
    async fn framing_errors_early_close_and_silence_are_reported() {
        let (mut client, mut server) = tokio::io::duplex(64);
        server.write_all(&[0]).await.expect("write");
        let mut buf = Vec::new();
        let err = read_pdu(
            &mut client,
            &mut buf,
            &LengthByte,
            16,
            ReadAhead::Exact,
            deadline(),
        );
        assert_eq!(err.await, Err(PduError::Frame("zero length".to_owned())));

        let (mut client, server) = tokio::io::duplex(64);
        drop(server);
        let mut buf = Vec::new();
        let err = read_pdu(
            &mut client,
            &mut buf,
            &LengthByte,
            16,
            ReadAhead::Exact,
            deadline(),
        );
        assert_eq!(
            err.await,
            Err(PduError::Stage(StageError::Closed { after: 0 }))
        );

        let (mut client, _server) = tokio::io::duplex(64);
        let soon = Instant::now() + Duration::from_millis(50);
        let err = read_pdu(
            &mut client,
            &mut buf,
            &LengthByte,
            16,
            ReadAhead::Exact,
            soon,
        )
        .await;
        assert!(
            matches!(err, Err(PduError::Stage(StageError::Timeout(_)))),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn reading_ahead_shows_more_of_an_unexpected_reply() {
        struct Never;
        impl PduHint for Never {
            type Error = String;
            fn frame(&self, buf: &[u8]) -> Result<Frame, String> {
                if buf.len() >= 8 {
                    Err(format!("{} bytes of junk", buf.len()))
                } else {
                    Ok(Frame::NeedMore(1))
                }
            }
        }
        let (mut client, mut server) = tokio::io::duplex(64);
        server.write_all(b"HTTP/1.1 400").await.expect("write");
        let mut buf = Vec::new();
        let err = read_pdu(
            &mut client,
            &mut buf,
            &Never,
            32,
            ReadAhead::UpToCap,
            deadline(),
        );
        assert_eq!(
            err.await,
            Err(PduError::Frame("12 bytes of junk".to_owned()))
        );
        assert_eq!(buf, b"HTTP/1.1 400");
    }
}
