//! The TLS stage: upgrade the negotiated RDP connection to TLS, capture the certificate chain
//! and trust verdicts, and probe TLS versions with hand-built ClientHellos.
//!
//! Three drivers, each over a TCP stream on which X.224 negotiation already selected SSL or
//! HYBRID (MS-RDPBCGR 5.4.5.1: the TLS handshake starts right after the Connection Confirm):
//!
//! - [`upgrade`]: rustls (TLS 1.2/1.3, AEAD suites), accepting any certificate and any
//!   handshake signature, so that bad certificates are seen rather than refused.
//! - [`upgrade_legacy`]: OpenSSL at security level 0 with TLS 1.0 as the minimum, for the hosts
//!   rustls cannot talk to (Windows 7 / Server 2008 R2 serve RDP over TLS 1.0 only by default;
//!   some 2012 hosts offer only CBC suites). CredSSP still needs a TLS session on those.
//! - [`probe_version`]: sends the hand-built ClientHello of [`crate::proto::tls`] for one
//!   maximum version and reads the plaintext server flight (ServerHello, Certificate, Alert).
//!
//! Trust is judged apart from the handshake ([`TlsContext::judge_chain`]), for any chain however
//! it was obtained: against the platform store and the `--ca-file` bundle with webpki.

use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use openssl::ssl::{SslConnector, SslMethod, SslSessionCacheMode, SslVerifyMode, SslVersion};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    AlertDescription as RustlsAlert, CertificateError, ClientConfig, DigitallySignedStruct,
    PeerIncompatible, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::analysis::cert;
pub use crate::analysis::tls::{
    ChainTrust, HandshakeFailure, HandshakeFailureKind, TlsEvidence, TlsObservation, TlsStack,
    TrustVerdict, VersionOutcome, VersionProbe,
};
use crate::proto::tls::{
    CipherSuite, ClientHelloParams, FlightStatus, ProtocolVersion, ServerFlightReader, client_hello,
};

/// The failure type of [`upgrade`] and [`upgrade_legacy`].
pub type TlsFailure = HandshakeFailure;

/// Upper bound on the bytes [`probe_version`] reads: the parser's handshake limit plus record
/// headers.
pub const MAX_PROBE_READ: usize = crate::proto::tls::MAX_FLIGHT_LEN + 64 * 1024;

/// How many TLS versions to enumerate with hand-built hellos (`--tls-versions`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsVersionMode {
    /// The negotiated version plus one hello that decides whether TLS 1.1 or 1.0 is accepted
    /// (at most one extra connection).
    #[default]
    Default,
    /// Also decide each of TLS 1.0, 1.1 and 1.2 exactly (up to three more connections).
    All,
}

/// Where the platform trust anchors come from.
#[derive(Debug, Clone, Default)]
pub enum PlatformRoots {
    /// The operating system's store (rustls-native-certs: the Windows store, macOS keychain,
    /// or the OpenSSL directories on Unix, honouring `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    #[default]
    Native,
    /// Do not judge against a platform store.
    Disabled,
    /// These DER certificates (for tests).
    Custom(Vec<Vec<u8>>),
}

/// Options that shape the per-scan [`TlsContext`].
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// `--ca-file`: a PEM bundle of extra trust anchors (internal PKI, or pinned self-signed
    /// certificates).
    pub ca_file: Option<PathBuf>,
    pub platform_roots: PlatformRoots,
}

/// Why the TLS context could not be built. Every variant names the file or setting.
#[derive(Debug, thiserror::Error)]
pub enum TlsContextError {
    #[error("cannot read CA file {}: {source}", path.display())]
    ReadCaFile { path: PathBuf, source: io::Error },
    #[error("CA file {} holds no PEM certificate", path.display())]
    EmptyCaFile { path: PathBuf },
    #[error("CA file {}: {reason}", path.display())]
    BadCaFile { path: PathBuf, reason: String },
    #[error("cannot set up rustls: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("cannot set up OpenSSL: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
}

/// One trust store and the SHA-256 of the certificates it was built from (a self-signed leaf
/// pinned as a root fails webpki with CaUsedAsEndEntity: it is matched by fingerprint instead).
struct TrustStore {
    roots: Arc<RootCertStore>,
    pins: Vec<[u8; 32]>,
}

/// Built once per scan: the rustls and OpenSSL client configurations and the trust stores.
pub struct TlsContext {
    rustls: Arc<ClientConfig>,
    openssl: SslConnector,
    platform: Option<TrustStore>,
    ca_file: Option<TrustStore>,
    algorithms: WebPkiSupportedAlgorithms,
    /// Problems met while loading the platform store (reported once by the caller).
    pub platform_warnings: Vec<String>,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsContext")
            .field(
                "platform_roots",
                &self.platform.as_ref().map(|s| s.roots.len()),
            )
            .field(
                "ca_file_roots",
                &self.ca_file.as_ref().map(|s| s.roots.len()),
            )
            .finish_non_exhaustive()
    }
}

impl TlsContext {
    /// Builds the context: reads `--ca-file` (errors name the file) and the platform store.
    pub fn new(opts: &TlsOptions) -> Result<Self, TlsContextError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;

        let mut platform_warnings = Vec::new();
        let platform_ders: Option<Vec<Vec<u8>>> = match &opts.platform_roots {
            PlatformRoots::Disabled => None,
            PlatformRoots::Custom(ders) => Some(ders.clone()),
            PlatformRoots::Native => {
                let loaded = rustls_native_certs::load_native_certs();
                platform_warnings.extend(loaded.errors.iter().map(|e| e.to_string()));
                Some(loaded.certs.iter().map(|c| c.as_ref().to_vec()).collect())
            }
        };
        let platform = match platform_ders {
            None => None,
            Some(ders) => {
                let mut roots = RootCertStore::empty();
                let (_, ignored) = roots.add_parsable_certificates(
                    ders.iter().map(|d| CertificateDer::from(d.as_slice())),
                );
                if ignored > 0 {
                    platform_warnings.push(format!(
                        "{ignored} platform certificates could not be used as trust anchors"
                    ));
                }
                if roots.is_empty() {
                    platform_warnings
                        .push("no platform trust anchors: platform verdicts not given".into());
                    None
                } else {
                    Some(TrustStore {
                        roots: Arc::new(roots),
                        pins: Vec::new(),
                    })
                }
            }
        };

        let ca_file = match &opts.ca_file {
            None => None,
            Some(path) => Some(load_ca_file(path)?),
        };

        let verifier = Arc::new(AcceptAnyCertificate::new(offered_schemes(&provider)));
        let mut rustls = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        // Every connection must show the full certificate chain: no session resumption.
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
            platform,
            ca_file,
            algorithms,
            platform_warnings,
        })
    }

    /// Whether a `--ca-file` bundle was loaded.
    pub fn has_ca_file(&self) -> bool {
        self.ca_file.is_some()
    }

    /// Judges a chain (DER, leaf first) against each configured store at time `now`. Names are
    /// not checked here (see `analysis::tls::name_verdict`).
    pub fn judge_chain(&self, chain: &[Vec<u8>], now: UnixTime) -> ChainTrust {
        ChainTrust {
            platform: self
                .platform
                .as_ref()
                .map(|s| judge(s, chain, now, self.algorithms)),
            ca_file: self
                .ca_file
                .as_ref()
                .map(|s| judge(s, chain, now, self.algorithms)),
        }
    }
}

fn load_ca_file(path: &Path) -> Result<TrustStore, TlsContextError> {
    let bytes = fs::read(path).map_err(|source| TlsContextError::ReadCaFile {
        path: path.to_owned(),
        source,
    })?;
    let mut roots = RootCertStore::empty();
    let mut pins = Vec::new();
    for (index, item) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let der = item.map_err(|e| TlsContextError::BadCaFile {
            path: path.to_owned(),
            reason: format!("PEM block {}: {e}", index + 1),
        })?;
        pins.push(cert::sha256(der.as_ref()));
        roots.add(der).map_err(|e| TlsContextError::BadCaFile {
            path: path.to_owned(),
            reason: format!(
                "certificate {} is not a usable trust anchor: {e}",
                index + 1
            ),
        })?;
    }
    if pins.is_empty() {
        return Err(TlsContextError::EmptyCaFile {
            path: path.to_owned(),
        });
    }
    Ok(TrustStore {
        roots: Arc::new(roots),
        pins,
    })
}

/// One webpki verdict (chain building and signatures, validity period, serverAuth usage).
fn judge(
    store: &TrustStore,
    chain: &[Vec<u8>],
    now: UnixTime,
    algorithms: WebPkiSupportedAlgorithms,
) -> TrustVerdict {
    let Some((leaf, rest)) = chain.split_first() else {
        return TrustVerdict::Untrusted("no certificate".into());
    };
    if store.pins.contains(&cert::sha256(leaf)) {
        // The leaf itself is in the store (a pinned self-signed certificate): trusted while
        // it is within its validity period.
        return pinned_validity(leaf, now);
    }
    let leaf_der = CertificateDer::from(leaf.as_slice());
    let parsed = match ParsedCertificate::try_from(&leaf_der) {
        Ok(p) => p,
        Err(e) => return TrustVerdict::Untrusted(reason(&e)),
    };
    let intermediates: Vec<CertificateDer<'_>> = rest
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    match verify_server_cert_signed_by_trust_anchor(
        &parsed,
        &store.roots,
        &intermediates,
        now,
        algorithms.all,
    ) {
        Ok(()) => TrustVerdict::Trusted,
        Err(e) => TrustVerdict::Untrusted(reason(&e)),
    }
}

fn pinned_validity(leaf: &[u8], now: UnixTime) -> TrustVerdict {
    let now_ts = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let Ok(now_dt) = time::OffsetDateTime::from_unix_timestamp(now_ts) else {
        return TrustVerdict::Untrusted("clock out of range".into());
    };
    match cert::parse_certificate(leaf, now_dt) {
        Err(e) => TrustVerdict::Untrusted(e.to_string()),
        Ok(c) if now_ts > c.not_after => TrustVerdict::Untrusted("expired".into()),
        Ok(c) if now_ts < c.not_before => TrustVerdict::Untrusted("not yet valid".into()),
        Ok(_) => TrustVerdict::Trusted,
    }
}

/// A short reason for a webpki/rustls verification error.
fn reason(e: &rustls::Error) -> String {
    #[allow(deprecated)]
    match e {
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::UnknownIssuer => "unknown issuer".into(),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired".into(),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "not yet valid".into()
            }
            CertificateError::BadSignature => "bad signature".into(),
            CertificateError::BadEncoding => "bad encoding".into(),
            CertificateError::UnsupportedSignatureAlgorithm
            | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                "unsupported or weak signature algorithm".into()
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "not valid for TLS server authentication".into()
            }
            CertificateError::UnhandledCriticalExtension => "unhandled critical extension".into(),
            CertificateError::Revoked => "revoked".into(),
            CertificateError::Other(other) => {
                let text = other.to_string();
                if text.contains("CaUsedAsEndEntity") {
                    "CA certificate used as the server certificate".into()
                } else {
                    text
                }
            }
            other => other.to_string(),
        },
        other => other.to_string(),
    }
}

/// The signature schemes rustls offers: the provider's, plus the SHA-1 ones old Schannel signs
/// with (accepted, since [`AcceptAnyCertificate`] accepts every handshake signature).
fn offered_schemes(provider: &CryptoProvider) -> Vec<SignatureScheme> {
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
/// `peer_certificates()` and judged by [`TlsContext::judge_chain`].
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

/// A DNS name suitable for SNI (none for addresses).
fn sni_name(server_name: Option<&str>) -> Option<&str> {
    server_name.filter(|n| {
        let t = n.trim_start_matches('[').trim_end_matches(']');
        t.parse::<IpAddr>().is_err() && !t.is_empty()
    })
}

fn failure(stack: TlsStack, kind: HandshakeFailureKind, message: impl Into<String>) -> TlsFailure {
    HandshakeFailure {
        stack,
        kind,
        message: message.into(),
    }
}

fn io_failure_kind(e: &io::Error) -> HandshakeFailureKind {
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => HandshakeFailureKind::Closed,
        io::ErrorKind::TimedOut => HandshakeFailureKind::Timeout,
        _ => HandshakeFailureKind::Other,
    }
}

/// Classifies a rustls handshake error.
fn rustls_failure(e: io::Error) -> TlsFailure {
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

fn observation_trust(ctx: &TlsContext, chain: &[Vec<u8>]) -> ChainTrust {
    ctx.judge_chain(chain, UnixTime::now())
}

/// The modern handshake: rustls, TLS 1.3 or 1.2, any certificate accepted.
///
/// `server_name` is the host name the user scanned (sent as SNI), or `None` for address
/// targets. On failure, [`HandshakeFailure::legacy_may_help`] tells whether
/// [`upgrade_legacy`] on a new connection is worth it.
pub async fn upgrade(
    stream: TcpStream,
    server_name: Option<&str>,
    ctx: &TlsContext,
    deadline: Instant,
) -> Result<(TlsStream, TlsObservation), TlsFailure> {
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
    let trust = observation_trust(ctx, &chain_der);
    Ok((
        TlsStream::Rustls(Box::new(tls)),
        TlsObservation {
            stack: TlsStack::Rustls,
            version,
            cipher,
            chain_der,
            trust,
        },
    ))
}

/// The legacy handshake with OpenSSL (TLS 1.0 to 1.3, `ALL:@SECLEVEL=0`, no verification),
/// on a new connection after rustls failed for version or cipher reasons.
pub async fn upgrade_legacy(
    stream: TcpStream,
    server_name: Option<&str>,
    ctx: &TlsContext,
    deadline: Instant,
) -> Result<(TlsStream, TlsObservation), TlsFailure> {
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
    let trust = observation_trust(ctx, &chain_der);
    Ok((
        TlsStream::Openssl(Box::new(tls)),
        TlsObservation {
            stack: TlsStack::Openssl,
            version,
            cipher,
            chain_der,
            trust,
        },
    ))
}

/// Sends one hand-built ClientHello offering up to `max_version` and reads the server's
/// plaintext flight until ServerHelloDone, Certificate or Alert (at most [`MAX_PROBE_READ`]
/// bytes, before `deadline`). The connection is dropped afterwards: it is never usable.
pub async fn probe_version(
    mut stream: TcpStream,
    max_version: ProtocolVersion,
    server_name: Option<&str>,
    deadline: Instant,
) -> VersionProbe {
    let mut probe = VersionProbe {
        offered_max: max_version,
        outcome: VersionOutcome::Error(String::new()),
        chain_der: Vec::new(),
    };
    let mut random = [0u8; 32];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random).is_err() {
        probe.outcome = VersionOutcome::Error("no system randomness for the client random".into());
        return probe;
    }
    let params = ClientHelloParams {
        max_version,
        random,
        server_name: sni_name(server_name),
    };
    let hello = match client_hello(&params) {
        Ok(h) => h,
        // A name that cannot be SNI (e.g. not ASCII) is left out rather than failing the probe.
        Err(crate::proto::tls::HelloError::InvalidServerName(..)) => {
            match client_hello(&ClientHelloParams {
                server_name: None,
                ..params
            }) {
                Ok(h) => h,
                Err(e) => {
                    probe.outcome = VersionOutcome::Error(e.to_string());
                    return probe;
                }
            }
        }
        Err(e) => {
            probe.outcome = VersionOutcome::Error(e.to_string());
            return probe;
        }
    };
    let mut reader = ServerFlightReader::new();
    probe.outcome = match timeout_at(deadline, exchange(&mut stream, &hello, &mut reader)).await {
        Err(_) => VersionOutcome::Timeout,
        Ok(Err(outcome)) => outcome,
        // Complete: the flight holds a ServerHello or an Alert, handled below.
        Ok(Ok(())) => VersionOutcome::Error("flight ended without ServerHello or Alert".into()),
    };
    let flight = reader.into_flight();
    if let Some(hello) = &flight.server_hello {
        // Whatever ended the read, a ServerHello decides the version.
        probe.outcome = VersionOutcome::Selected {
            version: hello.version,
            cipher: hello.cipher_suite,
        };
        probe.chain_der = flight.certificates;
    } else if let Some(alert) = flight.alert {
        probe.outcome = VersionOutcome::Alert(alert);
    }
    probe
}

/// Writes the hello and feeds the answer to `reader` until the flight is complete (`Ok`), or
/// says why it did not complete. The caller refines the outcome from what `reader` holds.
async fn exchange(
    stream: &mut TcpStream,
    hello: &[u8],
    reader: &mut ServerFlightReader,
) -> Result<(), VersionOutcome> {
    if let Err(e) = stream.write_all(hello).await {
        return Err(io_outcome(&e));
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0usize;
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) => {
                return Err(if total == 0 {
                    VersionOutcome::Closed
                } else {
                    VersionOutcome::Error(format!(
                        "connection closed after {total} bytes, before the flight ended"
                    ))
                });
            }
            Ok(n) => n,
            Err(e) if total == 0 => return Err(io_outcome(&e)),
            Err(e) => {
                return Err(VersionOutcome::Error(format!(
                    "read failed after {total} bytes: {e}"
                )));
            }
        };
        total = total.saturating_add(n);
        if total > MAX_PROBE_READ {
            return Err(VersionOutcome::Error(format!(
                "server sent more than {MAX_PROBE_READ} bytes without ending its flight"
            )));
        }
        match reader.feed(buf.get(..n).unwrap_or_default()) {
            Ok(FlightStatus::Complete) => return Ok(()),
            Ok(FlightStatus::NeedMore) => {}
            Err(e) => return Err(VersionOutcome::Error(e.to_string())),
        }
    }
}

fn io_outcome(e: &io::Error) -> VersionOutcome {
    match io_failure_kind(e) {
        HandshakeFailureKind::Closed => VersionOutcome::Closed,
        _ => VersionOutcome::Error(e.to_string()),
    }
}

/// The maximum version of the next hand-built hello worth sending, given what is known, or
/// `None` when the mode's question is answered.
///
/// `Default` asks one question: is a deprecated version (TLS 1.1 or 1.0) accepted? One hello
/// offering up to 1.1 answers it (the server picks 1.1, or 1.0, or refuses both), unless the
/// evidence already did; it never sends a second hello. `All` decides each of TLS 1.2, 1.1 and 1.0, highest first, one hello
/// each (a server answering a lower version than offered refuses the offered one).
pub fn next_version_probe(mode: TlsVersionMode, evidence: &TlsEvidence) -> Option<ProtocolVersion> {
    let known = crate::analysis::tls::version_knowledge(evidence);
    let undecided = |v: ProtocolVersion| !known.contains_key(&v);
    let already_probed =
        |v: ProtocolVersion| evidence.version_probes.iter().any(|p| p.offered_max == v);
    match mode {
        TlsVersionMode::Default => {
            // At most one hello in the default mode.
            if !evidence.version_probes.is_empty() {
                return None;
            }
            let deprecated_accepted = known.iter().any(|(v, ok)| *ok && v.is_deprecated());
            if deprecated_accepted {
                return None;
            }
            [ProtocolVersion::TLS1_1, ProtocolVersion::TLS1_0]
                .into_iter()
                .find(|v| undecided(*v) && !already_probed(*v))
        }
        TlsVersionMode::All => [
            ProtocolVersion::TLS1_2,
            ProtocolVersion::TLS1_1,
            ProtocolVersion::TLS1_0,
        ]
        .into_iter()
        .find(|v| undecided(*v) && !already_probed(*v)),
    }
}

/// An extra connection the TLS stage wants after the negotiation plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsExtra {
    /// The OpenSSL handshake, after rustls failed for version or cipher reasons.
    Legacy,
    /// A hand-built ClientHello offering up to this version.
    Version(ProtocolVersion),
}

/// The TLS stage of one endpoint, driven by `probe::probe_endpoint` (see
/// `docs/connection-plan.md`):
///
/// 1. [`TlsStage::on_tls_connection`] on the first connection whose negotiation selected SSL or
///    HYBRID: the rustls handshake (its stream goes on to CredSSP). On a later such connection
///    it sends a version-probe hello instead, when the mode wants one.
/// 2. [`TlsStage::next_extra`] / [`TlsStage::on_extra_connection`] for each extra connection:
///    the OpenSSL handshake when rustls failed for version or cipher reasons, otherwise at most
///    one version hello (default mode) or one per undecided version (`--tls-versions all`).
/// 3. [`TlsStage::finish`] returns the evidence for `analysis::tls::tls_report`.
pub struct TlsStage<'a> {
    ctx: &'a TlsContext,
    mode: TlsVersionMode,
    server_name: Option<&'a str>,
    evidence: TlsEvidence,
    main_attempted: bool,
    legacy_attempted: bool,
    extra_connections: u32,
}

impl<'a> TlsStage<'a> {
    /// `server_name` is the host name the user scanned (None for address targets).
    pub fn new(ctx: &'a TlsContext, mode: TlsVersionMode, server_name: Option<&'a str>) -> Self {
        Self {
            ctx,
            mode,
            server_name,
            evidence: TlsEvidence::default(),
            main_attempted: false,
            legacy_attempted: false,
            extra_connections: 0,
        }
    }

    /// A negotiated connection on which TLS starts now. Returns the TLS session when this
    /// connection carried the main handshake and it completed.
    pub async fn on_tls_connection(
        &mut self,
        stream: TcpStream,
        deadline: Instant,
    ) -> Option<TlsStream> {
        if !self.main_attempted {
            self.main_attempted = true;
            return match upgrade(stream, self.server_name, self.ctx, deadline).await {
                Ok((tls, obs)) => {
                    self.evidence.handshake = Some(obs);
                    Some(tls)
                }
                Err(failure) => {
                    self.evidence.failures.push(failure);
                    None
                }
            };
        }
        if let Some(max) = next_version_probe(self.mode, &self.evidence) {
            let probe = probe_version(stream, max, self.server_name, deadline).await;
            self.evidence.version_probes.push(probe);
        }
        None
    }

    /// What the next extra connection should carry, if any. In the default mode at most one
    /// extra connection is made per endpoint.
    pub fn next_extra(&self) -> Option<TlsExtra> {
        if !self.main_attempted {
            return None;
        }
        let rustls_failed = self.evidence.handshake.is_none()
            && self
                .evidence
                .failures
                .iter()
                .any(HandshakeFailure::legacy_may_help);
        if rustls_failed && !self.legacy_attempted {
            return Some(TlsExtra::Legacy);
        }
        if self.mode == TlsVersionMode::Default && self.extra_connections > 0 {
            return None;
        }
        next_version_probe(self.mode, &self.evidence).map(TlsExtra::Version)
    }

    /// Runs `extra` on a new negotiated connection. Returns the TLS session of a completed
    /// legacy handshake (for CredSSP).
    pub async fn on_extra_connection(
        &mut self,
        extra: TlsExtra,
        stream: TcpStream,
        deadline: Instant,
    ) -> Option<TlsStream> {
        self.extra_connections += 1;
        match extra {
            TlsExtra::Legacy => {
                self.legacy_attempted = true;
                match upgrade_legacy(stream, self.server_name, self.ctx, deadline).await {
                    Ok((tls, obs)) => {
                        self.evidence.handshake = Some(obs);
                        Some(tls)
                    }
                    Err(failure) => {
                        self.evidence.failures.push(failure);
                        None
                    }
                }
            }
            TlsExtra::Version(max) => {
                let probe = probe_version(stream, max, self.server_name, deadline).await;
                self.evidence.version_probes.push(probe);
                None
            }
        }
    }

    /// An extra connection could not be made or did not negotiate TLS: count it, note why.
    pub fn extra_failed(&mut self, extra: TlsExtra, why: String) {
        self.extra_connections += 1;
        match extra {
            TlsExtra::Legacy => {
                self.legacy_attempted = true;
                self.evidence.failures.push(failure(
                    TlsStack::Openssl,
                    HandshakeFailureKind::Other,
                    format!("no TLS connection for the legacy handshake: {why}"),
                ));
            }
            TlsExtra::Version(max) => self.evidence.version_probes.push(VersionProbe {
                offered_max: max,
                outcome: VersionOutcome::Error(format!("no TLS connection: {why}")),
                chain_der: Vec::new(),
            }),
        }
    }

    /// The evidence, with trust verdicts for a chain that only a version probe saw.
    pub fn finish(mut self) -> Option<TlsEvidence> {
        if !self.main_attempted {
            return None;
        }
        if self.evidence.handshake.is_none()
            && let Some(chain) = self.evidence.chain()
        {
            let trust = self.ctx.judge_chain(chain, UnixTime::now());
            self.evidence.probe_chain_trust = Some(trust);
        }
        Some(self.evidence)
    }
}

#[cfg(test)]
mod tests {
    //! Drivers against in-process OpenSSL servers on 127.0.0.1 (ephemeral ports).

    use super::*;
    use crate::analysis::tls::version_knowledge;
    use crate::proto::tls::{AlertDescription, AlertLevel};
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::pkey::{PKey, Private};
    use openssl::rsa::Rsa;
    use openssl::ssl::{SslAcceptor, SslMethod as M};
    use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, SubjectAlternativeName};
    use openssl::x509::{X509, X509NameBuilder};
    use std::net::SocketAddr;
    use std::time::Duration;
    use tokio::net::TcpListener;

    const DAY: i64 = 86_400;

    struct CertSpec<'a> {
        cn: &'a str,
        sans: &'a [&'a str],
        bits: u32,
        digest: MessageDigest,
        /// Validity, in days relative to now.
        from_days: i64,
        to_days: i64,
        ca: bool,
    }

    impl Default for CertSpec<'_> {
        fn default() -> Self {
            Self {
                cn: "rdp.example.test",
                sans: &["rdp.example.test"],
                bits: 2048,
                digest: MessageDigest::sha256(),
                from_days: -1,
                to_days: 365,
                ca: false,
            }
        }
    }

    /// Makes a certificate, self-signed or signed by `issuer`.
    fn make_cert(
        spec: &CertSpec<'_>,
        issuer: Option<(&X509, &PKey<Private>)>,
    ) -> (X509, PKey<Private>) {
        let key = PKey::from_rsa(Rsa::generate(spec.bits).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", spec.cn).unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        let serial = BigNum::from_u32(rand_u32())
            .unwrap()
            .to_asn1_integer()
            .unwrap();
        b.set_serial_number(&serial).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(issuer.map_or(name.as_ref(), |(c, _)| c.subject_name()))
            .unwrap();
        b.set_pubkey(&key).unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        b.set_not_before(&Asn1Time::from_unix(now + spec.from_days * DAY).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::from_unix(now + spec.to_days * DAY).unwrap())
            .unwrap();
        let mut bc = BasicConstraints::new();
        if spec.ca {
            bc.critical().ca();
        }
        b.append_extension(bc.build().unwrap()).unwrap();
        if !spec.ca {
            b.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
                .unwrap();
        }
        if !spec.sans.is_empty() {
            let mut san = SubjectAlternativeName::new();
            for s in spec.sans {
                if s.parse::<IpAddr>().is_ok() {
                    san.ip(s);
                } else {
                    san.dns(s);
                }
            }
            let ext = san
                .build(&b.x509v3_context(issuer.map(|(c, _)| c.as_ref()), None))
                .unwrap();
            b.append_extension(ext).unwrap();
        }
        let signer = issuer.map_or(&key, |(_, k)| k);
        b.sign(signer, spec.digest).unwrap();
        (b.build(), key)
    }

    fn rand_u32() -> u32 {
        let mut b = [0u8; 4];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
        u32::from_be_bytes(b) >> 1
    }

    struct ServerSpec<'a> {
        cert: &'a X509,
        key: &'a PKey<Private>,
        extra_chain: Vec<X509>,
        min: SslVersion,
        max: Option<SslVersion>,
        ciphers: &'a str,
    }

    /// An OpenSSL TLS server on 127.0.0.1 that echoes one read after the handshake.
    async fn tls_server(spec: ServerSpec<'_>) -> SocketAddr {
        let mut b = SslAcceptor::mozilla_intermediate_v5(M::tls_server()).unwrap();
        b.set_security_level(0);
        // mozilla_intermediate_v5 turns TLS 1.0 and 1.1 off with options, not the minimum.
        b.clear_options(openssl::ssl::SslOptions::NO_TLSV1 | openssl::ssl::SslOptions::NO_TLSV1_1);
        b.set_certificate(spec.cert).unwrap();
        b.set_private_key(spec.key).unwrap();
        for c in spec.extra_chain {
            b.add_extra_chain_cert(c).unwrap();
        }
        b.set_cipher_list(spec.ciphers).unwrap();
        b.set_min_proto_version(Some(spec.min)).unwrap();
        b.set_max_proto_version(spec.max).unwrap();
        let acceptor = Arc::new(b.build());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = Arc::clone(&acceptor);
                tokio::spawn(async move {
                    let ssl = openssl::ssl::Ssl::new(acceptor.context()).unwrap();
                    let mut s = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
                    if Pin::new(&mut s).accept().await.is_err() {
                        return;
                    }
                    let mut buf = [0u8; 1024];
                    if let Ok(n) = s.read(&mut buf).await {
                        let _ = s.write_all(&buf[..n]).await;
                        let _ = s.shutdown().await;
                    }
                });
            }
        });
        addr
    }

    /// [`tls_server`] with a fresh self-signed certificate made from `spec` and no extra chain;
    /// returns its address and the certificate.
    async fn self_signed_server(
        spec: &CertSpec<'_>,
        min: SslVersion,
        max: Option<SslVersion>,
        ciphers: &str,
    ) -> (SocketAddr, X509) {
        let (cert, key) = make_cert(spec, None);
        let addr = tls_server(ServerSpec {
            cert: &cert,
            key: &key,
            extra_chain: vec![],
            min,
            max,
            ciphers,
        })
        .await;
        (addr, cert)
    }

    /// RSA-1024 / SHA-1: a verifier that checked handshake signatures would refuse it, and
    /// OpenSSL serves it only at `@SECLEVEL=0`.
    fn weak_cert() -> CertSpec<'static> {
        CertSpec {
            bits: 1024,
            digest: MessageDigest::sha1(),
            ..Default::default()
        }
    }

    fn ctx(ca_file: Option<PathBuf>, platform: Vec<Vec<u8>>) -> TlsContext {
        TlsContext::new(&TlsOptions {
            ca_file,
            platform_roots: if platform.is_empty() {
                PlatformRoots::Disabled
            } else {
                PlatformRoots::Custom(platform)
            },
        })
        .expect("context")
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(20)
    }

    async fn echo(stream: &mut TlsStream) {
        stream.write_all(b"TSRequest?").await.unwrap();
        stream.flush().await.unwrap();
        let mut buf = [0u8; 10];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"TSRequest?");
    }

    fn write_pem(dir: &tempfile::TempDir, name: &str, certs: &[&X509]) -> PathBuf {
        let path = dir.path().join(name);
        let mut pem = Vec::new();
        for c in certs {
            pem.extend_from_slice(&c.to_pem().unwrap());
        }
        std::fs::write(&path, pem).unwrap();
        path
    }

    #[tokio::test]
    async fn rustls_tls13_with_ca_chain_and_trust_verdicts() {
        let (ca, ca_key) = make_cert(
            &CertSpec {
                cn: "Test CA",
                sans: &[],
                ca: true,
                to_days: 3650,
                ..Default::default()
            },
            None,
        );
        let (leaf, leaf_key) = make_cert(&CertSpec::default(), Some((&ca, &ca_key)));
        let addr = tls_server(ServerSpec {
            cert: &leaf,
            key: &leaf_key,
            extra_chain: vec![ca.clone()],
            min: SslVersion::TLS1_2,
            max: None,
            ciphers: "DEFAULT",
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let ca_path = write_pem(&dir, "ca.pem", &[&ca]);

        // The CA is in --ca-file but not in the platform store.
        let (_, other_key) = make_cert(
            &CertSpec {
                ca: true,
                ..Default::default()
            },
            None,
        );
        let _ = other_key;
        let (other_ca, _) = make_cert(
            &CertSpec {
                cn: "Other CA",
                ca: true,
                sans: &[],
                ..Default::default()
            },
            None,
        );
        let c = ctx(Some(ca_path), vec![other_ca.to_der().unwrap()]);
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut stream, obs) = upgrade(tcp, Some("rdp.example.test"), &c, deadline())
            .await
            .expect("rustls handshake");
        assert_eq!(stream.stack(), TlsStack::Rustls);
        assert_eq!(obs.version, ProtocolVersion::TLS1_3);
        assert!(
            obs.cipher.name().unwrap().starts_with("TLS_AES_"),
            "{}",
            obs.cipher
        );
        assert_eq!(
            obs.chain_der,
            vec![leaf.to_der().unwrap(), ca.to_der().unwrap()]
        );
        assert_eq!(obs.trust.ca_file, Some(TrustVerdict::Trusted));
        assert_eq!(
            obs.trust.platform,
            Some(TrustVerdict::Untrusted("unknown issuer".into()))
        );
        assert_eq!(stream.peer_certificate(), Some(leaf.to_der().unwrap()));
        echo(&mut stream).await;

        // Without --ca-file: only the platform verdict.
        let c = ctx(None, vec![other_ca.to_der().unwrap()]);
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (_, obs) = upgrade(tcp, None, &c, deadline()).await.unwrap();
        assert_eq!(obs.trust.ca_file, None);
        assert!(!obs.trust.platform.unwrap().is_trusted());
        // The CA in the platform store: trusted there.
        let c = ctx(None, vec![ca.to_der().unwrap()]);
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (_, obs) = upgrade(tcp, None, &c, deadline()).await.unwrap();
        assert_eq!(obs.trust.platform, Some(TrustVerdict::Trusted));
    }

    #[tokio::test]
    async fn rustls_tls12_weak_certificate_is_accepted_and_recorded() {
        // RSA-1024 / SHA-1: a verifier that checked handshake signatures would refuse it.
        let (addr, cert) = self_signed_server(
            &weak_cert(),
            SslVersion::TLS1,
            Some(SslVersion::TLS1_2),
            "DEFAULT:@SECLEVEL=0",
        )
        .await;
        let c = ctx(None, vec![]);
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut stream, obs) = upgrade(tcp, None, &c, deadline()).await.expect("handshake");
        assert_eq!(obs.version, ProtocolVersion::TLS1_2);
        assert!(
            obs.cipher.name().unwrap().contains("ECDHE_RSA"),
            "{}",
            obs.cipher
        );
        assert_eq!(obs.chain_der, vec![cert.to_der().unwrap()]);
        assert_eq!(obs.trust, ChainTrust::default(), "no stores configured");
        echo(&mut stream).await;

        // The same host answers a 1.1 hello with 1.1, and a 1.2 hello with 1.2 and its cert.
        for (max, expect) in [
            (ProtocolVersion::TLS1_1, ProtocolVersion::TLS1_1),
            (ProtocolVersion::TLS1_2, ProtocolVersion::TLS1_2),
        ] {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let p = probe_version(tcp, max, Some("rdp.example.test"), deadline()).await;
            match p.outcome {
                VersionOutcome::Selected { version, .. } => assert_eq!(version, expect),
                other => panic!("{other:?}"),
            }
            assert_eq!(p.chain_der, vec![cert.to_der().unwrap()]);
        }
    }

    #[tokio::test]
    async fn tls10_only_host_rustls_fails_legacy_completes_probe_reads_certificate() {
        let (addr, cert) = self_signed_server(
            &weak_cert(),
            SslVersion::TLS1,
            Some(SslVersion::TLS1),
            "DEFAULT:@SECLEVEL=0",
        )
        .await;
        let c = ctx(None, vec![]);

        let tcp = TcpStream::connect(addr).await.unwrap();
        let err = upgrade(tcp, None, &c, deadline()).await.unwrap_err();
        assert_eq!(err.stack, TlsStack::Rustls);
        assert!(err.legacy_may_help(), "{err:?}");
        assert_eq!(err.kind, HandshakeFailureKind::ProtocolVersion, "{err:?}");

        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut stream, obs) = upgrade_legacy(tcp, Some("rdp.example.test"), &c, deadline())
            .await
            .expect("OpenSSL handshake");
        assert_eq!(obs.stack, TlsStack::Openssl);
        assert_eq!(obs.version, ProtocolVersion::TLS1_0);
        assert!(obs.cipher.name().is_some(), "{}", obs.cipher);
        assert_eq!(obs.chain_der, vec![cert.to_der().unwrap()]);
        echo(&mut stream).await;

        // A hand-built 1.2 hello: the server picks 1.0 and still shows its certificate.
        let tcp = TcpStream::connect(addr).await.unwrap();
        let p = probe_version(tcp, ProtocolVersion::TLS1_2, None, deadline()).await;
        assert_eq!(
            p.outcome,
            VersionOutcome::Selected {
                version: ProtocolVersion::TLS1_0,
                cipher: match p.outcome {
                    VersionOutcome::Selected { cipher, .. } => cipher,
                    _ => CipherSuite(0),
                }
            }
        );
        assert_eq!(p.chain_der, vec![cert.to_der().unwrap()]);

        let evidence = TlsEvidence {
            handshake: Some(obs),
            failures: vec![err],
            version_probes: vec![p],
            probe_chain_trust: None,
        };
        let k = version_knowledge(&evidence);
        assert_eq!(k.get(&ProtocolVersion::TLS1_0), Some(&true));
        assert_eq!(k.get(&ProtocolVersion::TLS1_1), Some(&false));
        assert_eq!(k.get(&ProtocolVersion::TLS1_2), Some(&false));
        assert_eq!(k.get(&ProtocolVersion::TLS1_3), Some(&false));
        // Deprecated acceptance is known: the default mode sends no further hello.
        assert_eq!(next_version_probe(TlsVersionMode::Default, &evidence), None);
    }

    #[tokio::test]
    async fn cbc_only_tls12_host_needs_openssl() {
        let (addr, _) = self_signed_server(
            &CertSpec::default(),
            SslVersion::TLS1_2,
            Some(SslVersion::TLS1_2),
            "AES128-SHA:@SECLEVEL=0",
        )
        .await;
        let c = ctx(None, vec![]);
        let tcp = TcpStream::connect(addr).await.unwrap();
        let err = upgrade(tcp, None, &c, deadline()).await.unwrap_err();
        assert_eq!(
            err.kind,
            HandshakeFailureKind::NoSharedParameters,
            "{err:?}"
        );
        assert!(err.legacy_may_help());
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (_, obs) = upgrade_legacy(tcp, None, &c, deadline()).await.unwrap();
        assert_eq!(obs.version, ProtocolVersion::TLS1_2);
        assert_eq!(obs.cipher.to_string(), "TLS_RSA_WITH_AES_128_CBC_SHA");
    }

    #[tokio::test]
    async fn version_probe_refused_with_alert() {
        let (addr, _) =
            self_signed_server(&CertSpec::default(), SslVersion::TLS1_2, None, "DEFAULT").await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let p = probe_version(tcp, ProtocolVersion::TLS1_1, None, deadline()).await;
        assert_eq!(
            p.outcome,
            VersionOutcome::Alert(crate::proto::tls::Alert {
                level: AlertLevel::FATAL,
                description: AlertDescription::PROTOCOL_VERSION,
            })
        );
        assert!(p.chain_der.is_empty());
    }

    #[tokio::test]
    async fn version_probe_against_hostile_and_silent_peers() {
        async fn peer(behaviour: u8) -> SocketAddr {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                match behaviour {
                    0 => {} // close at once
                    1 => {
                        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
                    }
                    2 => tokio::time::sleep(Duration::from_secs(30)).await,
                    _ => {
                        // An endless stream of empty handshake records.
                        let junk = [22u8, 3, 1, 0, 0].repeat(4096);
                        while s.write_all(&junk).await.is_ok() {}
                    }
                }
            });
            addr
        }
        /// A TLS 1.2 hello to a fresh `peer(behaviour)`, given up at `deadline`.
        async fn probe(behaviour: u8, deadline: Instant) -> VersionProbe {
            let tcp = TcpStream::connect(peer(behaviour).await).await.unwrap();
            probe_version(tcp, ProtocolVersion::TLS1_2, None, deadline).await
        }
        let short = || Instant::now() + Duration::from_millis(1500);
        let p = probe(0, short()).await;
        assert_eq!(p.outcome, VersionOutcome::Closed);
        let p = probe(1, short()).await;
        assert!(
            matches!(&p.outcome, VersionOutcome::Error(e) if e.contains("not a TLS record")),
            "{p:?}"
        );
        let p = probe(2, short()).await;
        assert_eq!(p.outcome, VersionOutcome::Timeout);
        let p = probe(3, deadline()).await;
        assert!(
            matches!(&p.outcome, VersionOutcome::Error(e) if e.contains("more than")),
            "{p:?}"
        );
    }

    #[tokio::test]
    async fn handshake_timeouts_and_closed_peers() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (s, _) = listener.accept().await.unwrap();
                held.push(s); // never answer
            }
        });
        let c = ctx(None, vec![]);
        let short = Instant::now() + Duration::from_millis(500);
        let err = upgrade(TcpStream::connect(addr).await.unwrap(), None, &c, short)
            .await
            .unwrap_err();
        assert_eq!(err.kind, HandshakeFailureKind::Timeout);
        let short = Instant::now() + Duration::from_millis(500);
        let err = upgrade_legacy(TcpStream::connect(addr).await.unwrap(), None, &c, short)
            .await
            .unwrap_err();
        assert_eq!(err.kind, HandshakeFailureKind::Timeout);
        assert_eq!(err.stack, TlsStack::Openssl);

        let closer = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let caddr = closer.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = closer.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
            }
        });
        let err = upgrade(
            TcpStream::connect(caddr).await.unwrap(),
            None,
            &c,
            deadline(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, HandshakeFailureKind::Closed, "{err:?}");
        assert!(err.legacy_may_help());
        let err = upgrade_legacy(
            TcpStream::connect(caddr).await.unwrap(),
            None,
            &c,
            deadline(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, HandshakeFailureKind::Closed, "{err:?}");
    }

    #[test]
    fn judge_chain_verdicts_and_pinning() {
        let (ca, ca_key) = make_cert(
            &CertSpec {
                cn: "CA",
                sans: &[],
                ca: true,
                to_days: 3650,
                ..Default::default()
            },
            None,
        );
        let (good, _) = make_cert(&CertSpec::default(), Some((&ca, &ca_key)));
        let (expired, _) = make_cert(
            &CertSpec {
                from_days: -20,
                to_days: -10,
                ..Default::default()
            },
            Some((&ca, &ca_key)),
        );
        let (future, _) = make_cert(
            &CertSpec {
                from_days: 10,
                to_days: 20,
                ..Default::default()
            },
            Some((&ca, &ca_key)),
        );
        // A self-signed certificate with CA:TRUE, as `openssl req -x509` makes them: webpki
        // refuses it as an end entity (CaUsedAsEndEntity); pinning by fingerprint works.
        let (selfsigned, _) = make_cert(
            &CertSpec {
                ca: true,
                ..Default::default()
            },
            None,
        );
        let (old_selfsigned, _) = make_cert(
            &CertSpec {
                ca: true,
                from_days: -20,
                to_days: -1,
                ..Default::default()
            },
            None,
        );

        let dir = tempfile::tempdir().unwrap();
        let bundle = write_pem(&dir, "bundle.pem", &[&ca, &selfsigned, &old_selfsigned]);
        let c = ctx(Some(bundle), vec![]);
        let now = UnixTime::now();
        let der = |c: &X509| c.to_der().unwrap();
        let v = |chain: Vec<Vec<u8>>| c.judge_chain(&chain, now).ca_file.unwrap().to_string();
        assert_eq!(v(vec![der(&good)]), "trusted");
        assert_eq!(v(vec![der(&good), der(&ca)]), "trusted");
        assert_eq!(v(vec![der(&expired)]), "untrusted: expired");
        assert_eq!(v(vec![der(&future)]), "untrusted: not yet valid");
        assert_eq!(v(vec![der(&selfsigned)]), "trusted");
        assert_eq!(v(vec![der(&old_selfsigned)]), "untrusted: expired");
        assert_eq!(v(vec![]), "untrusted: no certificate");
        assert_eq!(v(vec![b"junk".to_vec()]), "untrusted: bad encoding");

        // Not in the bundle.
        let (stranger, _) = make_cert(
            &CertSpec {
                ca: true,
                ..Default::default()
            },
            None,
        );
        let verdict = v(vec![der(&stranger)]);
        assert!(verdict.starts_with("untrusted: "), "{verdict}");
        let (plain_stranger, _) = make_cert(
            &CertSpec {
                cn: "stranger.example.test",
                ..Default::default()
            },
            None,
        );
        assert_eq!(v(vec![der(&plain_stranger)]), "untrusted: unknown issuer");
    }

    #[test]
    fn ca_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = TlsContext::new(&TlsOptions {
            ca_file: Some(missing.clone()),
            platform_roots: PlatformRoots::Disabled,
        })
        .unwrap_err();
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
        assert!(err.to_string().starts_with("cannot read CA file"), "{err}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let err = TlsContext::new(&TlsOptions {
            ca_file: Some(empty.clone()),
            platform_roots: PlatformRoots::Disabled,
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("CA file {} holds no PEM certificate", empty.display())
        );

        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = TlsContext::new(&TlsOptions {
            ca_file: Some(broken.clone()),
            platform_roots: PlatformRoots::Disabled,
        })
        .unwrap_err();
        assert!(err.to_string().contains("broken.pem"), "{err}");
    }

    #[test]
    fn native_platform_store_loads() {
        // The machine's store (Debian ca-certificates here): a context builds and has roots.
        let c = TlsContext::new(&TlsOptions::default()).expect("context");
        assert!(
            c.platform.is_some(),
            "platform roots: {:?}",
            c.platform_warnings
        );
    }

    /// The stage's connection plan on a TLS 1.0-only host: rustls fails on the first TLS
    /// connection, the second carries the 1.1 hello (which reads the certificate), the one
    /// extra connection is the OpenSSL handshake, and nothing more is asked for.
    #[tokio::test]
    async fn stage_plan_on_a_tls10_only_host() {
        let (addr, cert) = self_signed_server(
            &CertSpec::default(),
            SslVersion::TLS1,
            Some(SslVersion::TLS1),
            "DEFAULT:@SECLEVEL=0",
        )
        .await;
        let c = ctx(None, vec![]);
        let mut stage = TlsStage::new(&c, TlsVersionMode::Default, Some("rdp.example.test"));
        assert_eq!(
            stage.next_extra(),
            None,
            "nothing before the main handshake"
        );
        let a = TcpStream::connect(addr).await.unwrap();
        assert!(stage.on_tls_connection(a, deadline()).await.is_none());
        let b = TcpStream::connect(addr).await.unwrap();
        assert!(stage.on_tls_connection(b, deadline()).await.is_none());
        assert_eq!(stage.evidence.version_probes.len(), 1);
        assert_eq!(
            stage.evidence.version_probes[0].offered_max,
            ProtocolVersion::TLS1_1
        );
        assert_eq!(
            stage.evidence.version_probes[0].chain_der,
            vec![cert.to_der().unwrap()]
        );
        assert_eq!(stage.next_extra(), Some(TlsExtra::Legacy));
        let d = TcpStream::connect(addr).await.unwrap();
        let mut session = stage
            .on_extra_connection(TlsExtra::Legacy, d, deadline())
            .await
            .expect("legacy session");
        echo(&mut session).await;
        assert_eq!(
            stage.next_extra(),
            None,
            "default mode: one extra connection"
        );
        let evidence = stage.finish().unwrap();
        assert_eq!(
            evidence.handshake.as_ref().unwrap().stack,
            TlsStack::Openssl
        );
        assert_eq!(evidence.failures.len(), 1);
        assert_eq!(
            evidence.probe_chain_trust, None,
            "the handshake's verdicts are used"
        );

        // "all" mode on the same host: after the legacy handshake (1.0; 1.1-1.3 refused)
        // nothing is left to decide.
        let mut stage = TlsStage::new(&c, TlsVersionMode::All, None);
        let a = TcpStream::connect(addr).await.unwrap();
        stage.on_tls_connection(a, deadline()).await;
        assert_eq!(stage.next_extra(), Some(TlsExtra::Legacy));
        stage.extra_failed(TlsExtra::Legacy, "refused".into());
        // Without the legacy handshake, "all" asks for 1.1 then 1.0 (1.2/1.3 refused by rustls).
        assert_eq!(
            stage.next_extra(),
            Some(TlsExtra::Version(ProtocolVersion::TLS1_1))
        );
        let e = TcpStream::connect(addr).await.unwrap();
        stage
            .on_extra_connection(TlsExtra::Version(ProtocolVersion::TLS1_1), e, deadline())
            .await;
        assert_eq!(
            stage.next_extra(),
            None,
            "1.1 answered with 1.0 decides both"
        );
        let evidence = stage.finish().unwrap();
        assert!(evidence.handshake.is_none());
        assert!(
            evidence.probe_chain_trust.is_some(),
            "verdicts for the probe's chain"
        );
        assert_eq!(evidence.chain().unwrap(), &[cert.to_der().unwrap()]);
    }

    #[test]
    fn version_plan() {
        let v = |max, outcome| VersionProbe {
            offered_max: max,
            outcome,
            chain_der: vec![],
        };
        let obs = |stack, version| TlsObservation {
            stack,
            version,
            cipher: CipherSuite(0),
            chain_der: vec![],
            trust: ChainTrust::default(),
        };
        let mut e = TlsEvidence::default();
        assert_eq!(
            next_version_probe(TlsVersionMode::Default, &e),
            Some(ProtocolVersion::TLS1_1)
        );
        assert_eq!(
            next_version_probe(TlsVersionMode::All, &e),
            Some(ProtocolVersion::TLS1_2)
        );
        e.handshake = Some(obs(TlsStack::Rustls, ProtocolVersion::TLS1_3));
        assert_eq!(
            next_version_probe(TlsVersionMode::Default, &e),
            Some(ProtocolVersion::TLS1_1)
        );
        assert_eq!(
            next_version_probe(TlsVersionMode::All, &e),
            Some(ProtocolVersion::TLS1_2)
        );
        // After one hello, the default mode stops, whatever came back.
        e.version_probes
            .push(v(ProtocolVersion::TLS1_1, VersionOutcome::Timeout));
        assert_eq!(next_version_probe(TlsVersionMode::Default, &e), None);
        // "all": 1.2 answered with 1.2, then 1.1 answered with 1.0 decides everything.
        let mut e = TlsEvidence {
            handshake: Some(obs(TlsStack::Rustls, ProtocolVersion::TLS1_3)),
            ..Default::default()
        };
        e.version_probes.push(v(
            ProtocolVersion::TLS1_2,
            VersionOutcome::Selected {
                version: ProtocolVersion::TLS1_2,
                cipher: CipherSuite(0),
            },
        ));
        assert_eq!(
            next_version_probe(TlsVersionMode::All, &e),
            Some(ProtocolVersion::TLS1_1)
        );
        e.version_probes.push(v(
            ProtocolVersion::TLS1_1,
            VersionOutcome::Selected {
                version: ProtocolVersion::TLS1_0,
                cipher: CipherSuite(0),
            },
        ));
        assert_eq!(next_version_probe(TlsVersionMode::All, &e), None);
        // "all" against FreeRDP's server (OpenSSL 3.0 at security level 1): 1.2 answered with
        // 1.2, then 1.1 answered with internal_error refuses 1.1 and 1.0: no 1.0 hello.
        e.version_probes.pop();
        e.version_probes.push(v(
            ProtocolVersion::TLS1_1,
            VersionOutcome::Alert(crate::proto::tls::Alert {
                level: AlertLevel::FATAL,
                description: AlertDescription::INTERNAL_ERROR,
            }),
        ));
        assert_eq!(next_version_probe(TlsVersionMode::All, &e), None);
        // OpenSSL completed TLS 1.0: the deprecated question is answered without a hello.
        let e = TlsEvidence {
            handshake: Some(obs(TlsStack::Openssl, ProtocolVersion::TLS1_0)),
            ..Default::default()
        };
        assert_eq!(next_version_probe(TlsVersionMode::Default, &e), None);
        assert_eq!(
            next_version_probe(TlsVersionMode::All, &e),
            None,
            "1.1-1.3 refused by the same handshake"
        );
    }
}
