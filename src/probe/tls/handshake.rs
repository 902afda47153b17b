//! The main TLS handshake: rustls, TLS 1.3 or 1.2, any certificate accepted.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{AlertDescription as RustlsAlert, PeerIncompatible};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::{
    HandshakeFailure, HandshakeFailureKind, TlsContext, TlsObservation, TlsStack, TlsStream,
    failure, io_failure_kind,
};
use crate::proto::tls::{CipherSuite, ProtocolVersion};

/// The name rustls verifies against: the DNS name when one was given, else the address.
fn rustls_server_name(server_name: Option<&str>, peer: Option<IpAddr>) -> ServerName<'static> {
    if let Some(name) = server_name {
        let trimmed = name.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = trimmed.parse::<IpAddr>() {
            return ServerName::IpAddress(ip.into());
        }
        if let Ok(dns) = ServerName::try_from(name.to_owned()) {
            return dns;
        }
    }
    ServerName::IpAddress(
        peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
            .into(),
    )
}

/// Classifies a rustls handshake error.
fn rustls_failure(e: io::Error) -> HandshakeFailure {
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        let kind = io_failure_kind(&e);
        let message = match kind {
            HandshakeFailureKind::Closed => format!("connection closed during the handshake ({e})"),
            _ => e.to_string(),
        };
        return failure(TlsStack::Rustls, kind, message);
    };
    let kind = match tls {
        rustls::Error::PeerIncompatible(
            PeerIncompatible::ServerDoesNotSupportTls12Or13
            | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig
            | PeerIncompatible::Tls12NotOffered
            | PeerIncompatible::Tls12NotOfferedOrEnabled,
        ) => HandshakeFailureKind::ProtocolVersion,
        rustls::Error::PeerIncompatible(_) => HandshakeFailureKind::NoSharedParameters,
        rustls::Error::AlertReceived(RustlsAlert::ProtocolVersion) => {
            HandshakeFailureKind::ProtocolVersion
        }
        rustls::Error::AlertReceived(
            RustlsAlert::HandshakeFailure
            | RustlsAlert::InsufficientSecurity
            | RustlsAlert::IllegalParameter,
        ) => HandshakeFailureKind::NoSharedParameters,
        _ => HandshakeFailureKind::Other,
    };
    failure(TlsStack::Rustls, kind, tls.to_string())
}

pub async fn upgrade(
    stream: TcpStream,
    server_name: Option<&str>,
    ctx: &TlsContext,
    deadline: Instant,
) -> Result<(TlsStream, TlsObservation), HandshakeFailure> {
    let name = rustls_server_name(server_name, stream.peer_addr().ok().map(|a| a.ip()));
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&ctx.rustls));
    let tls = match timeout_at(deadline, connector.connect(name, stream)).await {
        Err(_) => {
            return Err(failure(
                TlsStack::Rustls,
                HandshakeFailureKind::Timeout,
                "timed out during the TLS handshake",
            ));
        }
        Ok(Err(e)) => return Err(rustls_failure(e)),
        Ok(Ok(tls)) => tls,
    };
    let conn = tls.get_ref().1;
    let version = conn
        .protocol_version()
        .map(|v| ProtocolVersion(u16::from(v)))
        .unwrap_or(ProtocolVersion(0));
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|s| CipherSuite(u16::from(s.suite())))
        .unwrap_or(CipherSuite(0));
    let chain_der: Vec<Vec<u8>> = conn
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.as_ref().to_vec()).collect())
        .unwrap_or_default();
    Ok((
        TlsStream::Rustls(Box::new(tls)),
        TlsObservation {
            stack: TlsStack::Rustls,
            version,
            cipher,
            chain_der,
        },
    ))
}
