//! Socket helpers shared by the probe stages: connecting with a deadline from an optional
//! source address, and bounded, deadline-limited reads. Every I/O failure becomes a
//! [`StageError`] that the report can carry; nothing here panics or decides verdicts.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout_at};

/// Why a stage did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    /// The TCP connection was actively refused (RST).
    #[error("connection refused")]
    Refused,
    /// The operation did not finish before its deadline.
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// The peer closed the connection; `after` says how many bytes it had sent.
    #[error("connection closed by peer after {after} bytes")]
    Closed { after: usize },
    /// The peer reset the connection.
    #[error("connection reset by peer")]
    Reset,
    /// The reply is not what the protocol allows; the text says what was wrong.
    #[error("{0}")]
    Protocol(String),
    /// A local resource ran out (file descriptors, ephemeral ports, buffers): not the host's
    /// fault, so never reported as `closed`.
    #[error("local resource exhausted: {0}")]
    Local(String),
    /// Any other I/O error.
    #[error("{0}")]
    Io(String),
}

impl StageError {
    pub fn from_io(e: &io::Error) -> Self {
        use io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => Self::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => Self::Reset,
            K::UnexpectedEof => Self::Closed { after: 0 },
            K::TimedOut => Self::Timeout(0),
            K::OutOfMemory | K::AddrNotAvailable => Self::Local(e.to_string()),
            _ if is_local_exhaustion(e) => Self::Local(e.to_string()),
            _ => Self::Io(e.to_string()),
        }
    }

    /// True when the failure is on our side and worth retrying after a pause.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local(_))
    }
}

/// EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL (errno values on Linux and the BSDs, and
/// WSAEMFILE / WSAENOBUFS on Windows).
fn is_local_exhaustion(e: &io::Error) -> bool {
    #[cfg(unix)]
    const CODES: &[i32] = &[24, 23, 105, 12, 99, 55, 49];
    #[cfg(windows)]
    const CODES: &[i32] = &[10024, 10055, 10049];
    #[cfg(not(any(unix, windows)))]
    const CODES: &[i32] = &[];
    e.raw_os_error().is_some_and(|c| CODES.contains(&c))
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

/// Reads into `buf` until `frame(buf)` reports a complete frame, never holding more than
/// `cap` bytes. `frame` returns `Ok(None)` while more bytes are needed, `Ok(Some(len))` once
/// it knows the frame length, or an error that ends the read. Returns the frame length; the
/// frame is `buf[..len]` (bytes past it, if any, stay in `buf`).
pub async fn read_frame<S, F>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    cap: usize,
    deadline: Instant,
    mut frame: F,
) -> Result<usize, StageError>
where
    S: AsyncRead + Unpin,
    F: FnMut(&[u8]) -> Result<Option<usize>, String>,
{
    let started = Instant::now();
    let mut chunk = [0u8; 4096];
    loop {
        match frame(buf) {
            Err(why) => return Err(StageError::Protocol(why)),
            Ok(Some(len)) if len > cap => {
                return Err(StageError::Protocol(format!(
                    "message of {len} bytes exceeds the {cap}-byte limit"
                )));
            }
            Ok(Some(len)) if buf.len() >= len => return Ok(len),
            Ok(_) => {}
        }
        if buf.len() >= cap {
            return Err(StageError::Protocol(format!(
                "no complete message within {cap} bytes"
            )));
        }
        let room = (cap - buf.len()).min(chunk.len());
        let window = chunk.get_mut(..room).unwrap_or_default();
        let read = timeout_at(deadline, stream.read(window)).await;
        match read {
            Err(_) => return Err(StageError::Timeout(millis(started.elapsed()))),
            Ok(Err(e)) => return Err(StageError::from_io(&e)),
            Ok(Ok(0)) => return Err(StageError::Closed { after: buf.len() }),
            Ok(Ok(n)) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn fixed(len: usize) -> impl FnMut(&[u8]) -> Result<Option<usize>, String> {
        move |_| Ok(Some(len))
    }

    #[tokio::test]
    async fn reads_exactly_one_frame_across_chunks() {
        let (mut client, mut server) = tokio::io::duplex(64);
        tokio::spawn(async move {
            for part in [&b"ab"[..], b"cd", b"efgh"] {
                server.write_all(part).await.ok();
                tokio::task::yield_now().await;
            }
        });
        let mut buf = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let len = read_frame(&mut client, &mut buf, 16, deadline, fixed(5)).await;
        assert_eq!(len, Ok(5));
        assert_eq!(&buf[..5], b"abcde");
    }

    #[tokio::test]
    async fn a_frame_larger_than_the_cap_is_refused_without_reading_it() {
        let (mut client, _server) = tokio::io::duplex(64);
        let mut buf = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let err = read_frame(&mut client, &mut buf, 16, deadline, fixed(65535)).await;
        assert_eq!(
            err,
            Err(StageError::Protocol(
                "message of 65535 bytes exceeds the 16-byte limit".into()
            ))
        );
    }

    #[tokio::test]
    async fn early_close_and_silence_are_reported() {
        let (mut client, server) = tokio::io::duplex(64);
        drop(server);
        let mut buf = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let err = read_frame(&mut client, &mut buf, 16, deadline, |_| Ok(None)).await;
        assert_eq!(err, Err(StageError::Closed { after: 0 }));

        let (mut client, _server) = tokio::io::duplex(64);
        let deadline = Instant::now() + Duration::from_millis(50);
        let err = read_frame(&mut client, &mut buf, 16, deadline, |_| Ok(None)).await;
        assert!(matches!(err, Err(StageError::Timeout(_))), "{err:?}");
    }
}
