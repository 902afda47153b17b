//! The legacy TLS handshake: OpenSSL (TLS 1.0 to 1.3, `ALL:@SECLEVEL=0`, no verification), on a
//! new connection after rustls failed for version or cipher reasons.

use std::pin::Pin;

use openssl::ssl::SslVersion;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::{
    HandshakeFailure, HandshakeFailureKind, TlsContext, TlsObservation, TlsStack, TlsStream,
    failure, io_failure_kind, sni_name,
};
use crate::proto::tls::{CipherSuite, ProtocolVersion};

/// The legacy handshake with OpenSSL (TLS 1.0 to 1.3, `ALL:@SECLEVEL=0`, no verification),
/// on a new connection after rustls failed for version or cipher reasons.
pub async fn upgrade_legacy(
    stream: TcpStream,
    server_name: Option<&str>,
    ctx: &TlsContext,
    deadline: Instant,
) -> Result<(TlsStream, TlsObservation), HandshakeFailure> {
    let fail = |kind, msg: String| failure(TlsStack::Openssl, kind, msg);
    let sni = sni_name(server_name);
    let ssl = ctx
        .openssl
        .configure()
        .and_then(|c| {
            c.verify_hostname(false)
                .use_server_name_indication(sni.is_some())
                .into_ssl(sni.unwrap_or(""))
        })
        .map_err(|e| fail(HandshakeFailureKind::Other, format!("OpenSSL setup: {e}")))?;
    let mut tls = tokio_openssl::SslStream::new(ssl, stream)
        .map_err(|e| fail(HandshakeFailureKind::Other, format!("OpenSSL setup: {e}")))?;
    match timeout_at(deadline, Pin::new(&mut tls).connect()).await {
        Err(_) => {
            return Err(fail(
                HandshakeFailureKind::Timeout,
                "timed out during the TLS handshake".into(),
            ));
        }
        Ok(Err(e)) => {
            let kind = match e.io_error() {
                Some(io) => io_failure_kind(io),
                None if e.code() == openssl::ssl::ErrorCode::SYSCALL
                    || e.code() == openssl::ssl::ErrorCode::ZERO_RETURN =>
                {
                    HandshakeFailureKind::Closed
                }
                None => HandshakeFailureKind::Other,
            };
            let message = match (kind, e.ssl_error()) {
                (_, Some(stack)) => stack.to_string(),
                (HandshakeFailureKind::Closed, None) => {
                    "connection closed during the handshake".to_owned()
                }
                _ => e.to_string(),
            };
            return Err(fail(kind, message));
        }
        Ok(Ok(())) => {}
    }
    let ssl = tls.ssl();
    let version = match ssl.version2() {
        Some(v) if v == SslVersion::TLS1 => ProtocolVersion::TLS1_0,
        Some(v) if v == SslVersion::TLS1_1 => ProtocolVersion::TLS1_1,
        Some(v) if v == SslVersion::TLS1_2 => ProtocolVersion::TLS1_2,
        Some(v) if v == SslVersion::TLS1_3 => ProtocolVersion::TLS1_3,
        Some(v) if v == SslVersion::SSL3 => ProtocolVersion::SSL3,
        _ => ProtocolVersion(0),
    };
    let cipher = ssl
        .current_cipher()
        .map(|c| CipherSuite(u16::from_be_bytes(c.protocol_id())))
        .unwrap_or(CipherSuite(0));
    let chain_der: Vec<Vec<u8>> = ssl
        .peer_cert_chain()
        .map(|chain| chain.iter().filter_map(|c| c.to_der().ok()).collect())
        .unwrap_or_default();
    Ok((
        TlsStream::Openssl(Box::new(tls)),
        TlsObservation {
            stack: TlsStack::Openssl,
            version,
            cipher,
            chain_der,
        },
    ))
}
