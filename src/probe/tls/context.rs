//! The per-scan TLS client configurations: rustls for the main handshake, OpenSSL for the
//! legacy one. Built once, shared by every endpoint. Trust is not judged here (see
//! `crate::analysis::trust`): both configurations accept every certificate.

use std::sync::Arc;

use openssl::ssl::{SslConnector, SslMethod, SslSessionCacheMode, SslVerifyMode, SslVersion};
use rustls::ClientConfig;
use rustls::client::Resumption;

use super::verifier::{AcceptAnyCertificate, offered_schemes};

/// Why the TLS context could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsContextError {
    #[error("cannot set up rustls: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("cannot set up OpenSSL: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
}

/// Built once per scan: the rustls and OpenSSL client configurations.
pub struct TlsContext {
    pub(super) rustls: Arc<ClientConfig>,
    pub(super) openssl: SslConnector,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsContext").finish_non_exhaustive()
    }
}

impl TlsContext {
    /// rustls: TLS 1.3 and 1.2, every certificate and handshake signature accepted, no session
    /// resumption (every connection must show the full chain). OpenSSL: TLS 1.0 to 1.3,
    /// `ALL:@SECLEVEL=0`, no verification, no session cache.
    pub fn new() -> Result<Self, TlsContextError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(AcceptAnyCertificate::new(offered_schemes(&provider)));
        let mut rustls = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        rustls.resumption = Resumption::disabled();

        let mut builder = SslConnector::builder(SslMethod::tls_client())?;
        builder.set_cipher_list("ALL:@SECLEVEL=0")?;
        builder.set_security_level(0);
        builder.set_min_proto_version(Some(SslVersion::TLS1))?;
        builder.set_max_proto_version(None)?;
        builder.set_verify(SslVerifyMode::NONE);
        builder.set_session_cache_mode(SslSessionCacheMode::OFF);

        Ok(Self {
            rustls: Arc::new(rustls),
            openssl: builder.build(),
        })
    }
}
