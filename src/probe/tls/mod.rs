//! The TLS steps of the probe: upgrade a negotiated RDP connection to TLS and capture what the
//! server shows, or send a hand-built ClientHello. Each over a TCP stream on which the X.224
//! negotiation selected SSL or HYBRID (MS-RDPBCGR 5.4.5.1: the TLS handshake starts right after
//! the Connection Confirm):
//!
//! - [`handshake::upgrade`]: rustls (TLS 1.2/1.3, AEAD suites), accepting any certificate and
//!   any handshake signature ([`verifier`]), so that bad certificates are seen, not refused.
//! - [`legacy::upgrade_legacy`]: OpenSSL at security level 0 with TLS 1.0 as the minimum, for
//!   the hosts rustls cannot talk to (Windows 7 / Server 2008 R2 serve RDP over TLS 1.0 only by
//!   default; some 2012 hosts offer only CBC suites). CredSSP still needs a TLS session there.
//! - [`hello::probe_version`]: the hand-built ClientHello of `crate::proto::tls` for one
//!   maximum version, and the plaintext server flight (ServerHello, Certificate, Alert).
//!
//! What ran is recorded as `crate::observe::tls` data; trust is judged later, by the analysis.

pub mod context;
pub mod handshake;
pub mod hello;
pub mod legacy;
pub mod verifier;

#[cfg(test)]
mod tests;

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub use crate::observe::tls::{
    HandshakeFailure, HandshakeFailureKind, TlsEvidence, TlsObservation, TlsStack, TlsVersionMode,
    VersionOutcome, VersionProbe,
};
pub use context::{TlsContext, TlsContextError};
pub use handshake::upgrade;
pub use hello::{MAX_PROBE_READ, probe_version};
pub use legacy::upgrade_legacy;
pub use verifier::AcceptAnyCertificate;

/// A TLS session over the RDP connection, from either stack. The CredSSP stage reads and
/// writes TSRequests over it.
pub enum TlsStream {
    Rustls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Openssl(Box<tokio_openssl::SslStream<TcpStream>>),
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsStream::Rustls(_) => f.write_str("TlsStream::Rustls"),
            TlsStream::Openssl(_) => f.write_str("TlsStream::Openssl"),
        }
    }
}

impl TlsStream {
    pub fn stack(&self) -> TlsStack {
        match self {
            TlsStream::Rustls(_) => TlsStack::Rustls,
            TlsStream::Openssl(_) => TlsStack::Openssl,
        }
    }

    /// The server's certificate as DER (the CredSSP pubKeyAuth binds to its public key).
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        match self {
            TlsStream::Rustls(s) => s
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref().to_vec()),
            TlsStream::Openssl(s) => s.ssl().peer_certificate().and_then(|c| c.to_der().ok()),
        }
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TlsStream::Rustls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            TlsStream::Openssl(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            TlsStream::Rustls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            TlsStream::Openssl(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TlsStream::Rustls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            TlsStream::Openssl(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TlsStream::Rustls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            TlsStream::Openssl(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A DNS name suitable for SNI (none for addresses).
pub(crate) fn sni_name(server_name: Option<&str>) -> Option<&str> {
    server_name.filter(|n| {
        let t = n.trim_start_matches('[').trim_end_matches(']');
        t.parse::<IpAddr>().is_err() && !t.is_empty()
    })
}

pub(crate) fn failure(
    stack: TlsStack,
    kind: HandshakeFailureKind,
    message: impl Into<String>,
) -> HandshakeFailure {
    HandshakeFailure {
        stack,
        kind,
        message: message.into(),
    }
}

pub(crate) fn io_failure_kind(e: &io::Error) -> HandshakeFailureKind {
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => HandshakeFailureKind::Closed,
        io::ErrorKind::TimedOut => HandshakeFailureKind::Timeout,
        _ => HandshakeFailureKind::Other,
    }
}
