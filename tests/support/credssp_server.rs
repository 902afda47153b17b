//! An in-process CredSSP server built from real libraries, shared by tests/credssp.rs and
//! tests/windows.rs (each includes it with `#[path = "support/credssp_server.rs"]`; it is not
//! part of `mod support`, so the other test binaries do not compile it).
//!
//! [`spawn`] starts an RDP server that any client can reach: every connection gets an X.224
//! answer by `ironrdp-pdu` (PROTOCOL_HYBRID when asked for, else HYBRID_REQUIRED_BY_SERVER,
//! MS-RDPBCGR 2.2.1.2), then TLS (rustls, a fresh self-signed P-256 certificate), then one
//! CredSSP exchange by `sspi`'s `CredSspServer` answering the chosen TSRequest version
//! (MS-CSSP 2.2.1; 2 to 4 = before the CVE-2018-0886 fix) with an NTLM CHALLENGE. What each
//! client sent inside TLS is recorded, so tests can check that no AUTHENTICATE was ever sent.
//!
//! The pieces ([`server_tls`], [`Recording`], [`read_ts_request`], [`answer`]) also serve
//! one-connection servers written inside a test.
//!
//! NETWORK SAFETY: binds the given loopback address only.

// Each test binary uses part of it.
#![allow(dead_code)]

use std::net::{SocketAddr, SocketAddrV4};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509, X509NameBuilder};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

/// How long one client connection to a [`spawn`]ed server may take.
const STEP: Duration = Duration::from_secs(10);

/// What every client sent inside TLS, one entry per TLS session that got as far as CredSSP
/// (see [`spawn`]).
pub type Sessions = Arc<Mutex<Vec<Vec<u8>>>>;

/// rustls with the `ring` provider (the scanner's own).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server side of TLS with a fresh certificate.
pub struct ServerTls {
    pub acceptor: TlsAcceptor,
    /// The certificate's SubjectPublicKey (what CredSSP binds to).
    pub public_key: Vec<u8>,
}

/// A fresh self-signed P-256 certificate (made with the openssl crate, already a dependency),
/// valid from today for one day, in a rustls server configuration.
pub fn server_tls() -> ServerTls {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("ec key")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "rdpsweep-credssp-test")
        .expect("cn");
    let name = name.build();
    let mut cert = X509::builder().expect("x509");
    cert.set_version(2).expect("version");
    cert.set_subject_name(&name).expect("subject");
    cert.set_issuer_name(&name).expect("issuer");
    cert.set_pubkey(&key).expect("pubkey");
    cert.set_not_before(&Asn1Time::days_from_now(0).expect("now"))
        .expect("not before");
    cert.set_not_after(&Asn1Time::days_from_now(1).expect("later"))
        .expect("not after");
    cert.sign(&key, MessageDigest::sha256()).expect("sign");
    let der = cert.build().to_der().expect("der");
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).expect("parse own cert");
    let public_key = parsed.public_key().subject_public_key.data.to_vec();

    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(der)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                key.private_key_to_pkcs8().expect("pkcs8"),
            )),
        )
        .expect("server config");
    ServerTls {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        public_key,
    }
}

/// Wraps the server side of the TLS session and keeps a copy of every byte the client sent.
pub struct Recording<S> {
    inner: S,
    log: Arc<Mutex<Vec<u8>>>,
}

impl<S> Recording<S> {
    /// Wraps `inner`; the returned log fills as the stream is read.
    pub fn new(inner: S) -> (Self, Arc<Mutex<Vec<u8>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let recording = Recording {
            inner,
            log: Arc::clone(&log),
        };
        (recording, log)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recording<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            self.log
                .lock()
                .expect("log")
                .extend_from_slice(&buf.filled()[before..]);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recording<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Why [`read_ts_request`] got no TSRequest.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection before a whole TSRequest.
    Closed,
    /// Reading failed.
    Io(std::io::Error),
    /// The bytes are a whole TSRequest by their length, but sspi does not decode them.
    Decode(std::io::Error),
}

/// Reads the client's first TSRequest (its length and decoding by sspi, an independent check
/// of the scanner's encoder).
pub async fn read_ts_request<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<sspi::credssp::TsRequest, ReadError> {
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await.map_err(ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Ok(len) = sspi::credssp::TsRequest::read_length(buf.as_slice())
            && buf.len() >= len
        {
            return sspi::credssp::TsRequest::from_buffer(&buf).map_err(ReadError::Decode);
        }
    }
}

/// The one user sspi's server knows (it never gets as far as checking a password: the scanner
/// stops after the CHALLENGE).
struct Users(sspi::AuthIdentity);

impl sspi::credssp::CredentialsProxy for Users {
    type AuthenticationData = sspi::AuthIdentity;
    fn auth_data_by_user(&mut self, _: &sspi::Username) -> std::io::Result<sspi::AuthIdentity> {
        Ok(self.0.clone())
    }
    fn auth_data(&mut self) -> std::io::Result<Vec<sspi::AuthIdentity>> {
        Ok(vec![self.0.clone()])
    }
}

/// sspi's `CredSspServer` (NTLM, TSRequest `version`, bound to `public_key`) given the
/// client's first TSRequest: its reply (a CHALLENGE, or an error the server sends), or why
/// there is none.
pub fn answer(
    request: sspi::credssp::TsRequest,
    public_key: Vec<u8>,
    version: u32,
) -> Result<sspi::credssp::TsRequest, String> {
    let identity = sspi::AuthIdentity {
        username: sspi::Username::new("alice", Some("TESTDOMAIN"))
            .map_err(|e| format!("username: {e:?}"))?,
        password: String::from("not-a-real-password").into(),
    };
    let mut server = sspi::credssp::CredSspServer::new_with_version(
        public_key,
        Users(identity),
        version,
        sspi::credssp::ServerMode::Ntlm(sspi::ntlm::NtlmConfig::new("TESTHOST".to_owned())),
    )
    .map_err(|e| format!("CredSspServer: {e:?}"))?;
    match server.process(request).resolve_to_result() {
        Ok(sspi::credssp::ServerState::ReplyNeeded(ts)) => Ok(ts),
        Ok(sspi::credssp::ServerState::Finished(_)) => {
            Err("server finished after one message".to_owned())
        }
        Err(e) => match e.ts_request {
            Some(ts) => Ok(*ts),
            None => Err(format!("server error without a reply: {:?}", e.error)),
        },
    }
}

/// Starts the server on `addr` (a loopback address) answering TSRequest `version`; it runs on
/// its own thread until the test process ends. Returns the address it listens on and the
/// bytes every TLS session sent after the handshake: one entry per session that reached
/// CredSSP (the client's TSRequest, or what it sent before closing), none for sessions that
/// were not HYBRID or whose TLS handshake failed.
pub fn spawn(addr: SocketAddrV4, version: u32) -> (SocketAddr, Sessions) {
    let (local, sessions, _) = spawn_switchable(addr, version);
    (local, sessions)
}

/// [`spawn`], with the answered version changeable while the server runs (the same address,
/// port and certificate): store another version in the returned atomic, as when an
/// administrator patches the server between two scans. Each connection reads it once.
pub fn spawn_switchable(
    addr: SocketAddrV4,
    version: u32,
) -> (SocketAddr, Sessions, Arc<AtomicU32>) {
    assert!(addr.ip().is_loopback(), "tests bind 127.0.0.0/8 only");
    let version = Arc::new(AtomicU32::new(version));
    let answered = Arc::clone(&version);
    let std_listener = std::net::TcpListener::bind(addr)
        .unwrap_or_else(|e| panic!("cannot bind the CredSSP test server on {addr}: {e}"));
    std_listener.set_nonblocking(true).expect("nonblocking");
    let local = std_listener.local_addr().expect("local address");
    let sessions: Sessions = Arc::default();
    let recorded = Arc::clone(&sessions);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = TcpListener::from_std(std_listener).expect("listener");
            let tls = server_tls();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                // One connection at a time, as the scanner makes them.
                let version = answered.load(Ordering::SeqCst);
                if let Ok(Some(sent)) = timeout(STEP, serve_one(tcp, &tls, version)).await {
                    recorded.lock().expect("log").push(sent);
                }
            }
        });
    });
    (local, sessions, version)
}

/// X.224, then (for HYBRID) TLS and one CredSSP exchange; returns the bytes sent inside TLS.
async fn serve_one(mut tcp: TcpStream, tls: &ServerTls, version: u32) -> Option<Vec<u8>> {
    use ironrdp_pdu::nego::{
        ConnectionConfirm, ConnectionRequest, FailureCode, ResponseFlags, SecurityProtocol,
    };
    use ironrdp_pdu::x224::X224;

    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 256];
        let n = tcp.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Ok(Some(info)) = ironrdp_pdu::find_size(&buf)
            && buf.len() >= info.length
        {
            break;
        }
    }
    let request = ironrdp_core::decode::<X224<ConnectionRequest>>(&buf)
        .ok()?
        .0;
    let hybrid = request.protocol.contains(SecurityProtocol::HYBRID);
    let confirm = if hybrid {
        ConnectionConfirm::Response {
            flags: ResponseFlags::EXTENDED_CLIENT_DATA_SUPPORTED,
            protocol: SecurityProtocol::HYBRID,
        }
    } else {
        ConnectionConfirm::Failure {
            code: FailureCode::HYBRID_REQUIRED_BY_SERVER,
        }
    };
    tcp.write_all(&ironrdp_core::encode_vec(&X224(confirm)).ok()?)
        .await
        .ok()?;
    if !hybrid {
        return None;
    }
    // A version-probe hello (TLS 1.1 and below) fails here: rustls refuses it.
    let tls_stream = tls.acceptor.accept(tcp).await.ok()?;
    let (mut stream, log) = Recording::new(tls_stream);
    let request = match read_ts_request(&mut stream).await {
        Ok(request) => request,
        Err(ReadError::Closed) => return Some(log.lock().expect("log").clone()),
        Err(ReadError::Io(_) | ReadError::Decode(_)) => return None,
    };
    let reply = answer(request, tls.public_key.clone(), version).ok()?;
    let mut out = Vec::new();
    reply.encode_ts_request(&mut out).ok()?;
    stream.write_all(&out).await.ok()?;
    stream.flush().await.ok()?;
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    let sent = log.lock().expect("log").clone();
    Some(sent)
}
