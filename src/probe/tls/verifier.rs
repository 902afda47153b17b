//! A rustls certificate verifier that accepts everything: a scanner must see bad
//! certificates, not abort on them. Trust is judged apart, on the captured chain
//! (`crate::analysis::trust`).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

pub(super) fn offered_schemes(provider: &CryptoProvider) -> Vec<SignatureScheme> {
    let mut schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    for legacy in [
        SignatureScheme::RSA_PKCS1_SHA1,
        SignatureScheme::ECDSA_SHA1_Legacy,
    ] {
        if !schemes.contains(&legacy) {
            schemes.push(legacy);
        }
    }
    schemes
}

/// A `ServerCertVerifier` that accepts every certificate and every handshake signature: a
/// scanner must see bad certificates, not abort on them. The chain is read afterwards from
/// `peer_certificates()` and judged by `analysis::trust::TrustStores::judge_chain`.
#[derive(Debug)]
pub struct AcceptAnyCertificate {
    schemes: Vec<SignatureScheme>,
}

impl AcceptAnyCertificate {
    /// A verifier that announces `schemes` as the signature schemes it verifies.
    pub fn new(schemes: Vec<SignatureScheme>) -> Self {
        Self { schemes }
    }
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}
