//! An unpatched CredSSP server in the test process, for the Windows build to scan under wine:
//! every connection gets an X.224 answer (PROTOCOL_HYBRID when asked for, else
//! HYBRID_REQUIRED_BY_SERVER, MS-RDPBCGR 2.2.1.2), then TLS (rustls, a fresh self-signed
//! P-256 certificate), then one CredSSP exchange by `sspi`'s `CredSspServer` answering the
//! chosen TSRequest version (MS-CSSP 2.2.1; 3 or 4 = before the CVE-2018-0886 fix) with an
//! NTLM CHALLENGE. Same construction as `spawn_rdp_credssp_server` in tests/credssp.rs.
//!
//! NETWORK SAFETY: binds the given loopback address only.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509, X509NameBuilder};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

/// How long one client connection may take.
const STEP: Duration = Duration::from_secs(10);

struct Tls {
    acceptor: TlsAcceptor,
    /// The certificate's SubjectPublicKey (what CredSSP binds to).
    public_key: Vec<u8>,
}

fn tls() -> Tls {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("ec key")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "rdpsweep-windows-test")
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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
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
    Tls {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        public_key,
    }
}

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

/// Starts the server on `addr` (a loopback address) answering TSRequest `version`; it runs on
/// its own thread until the test process ends.
pub fn spawn(addr: SocketAddrV4, version: u32) -> SocketAddr {
    assert!(addr.ip().is_loopback(), "tests bind 127.0.0.0/8 only");
    let std_listener = std::net::TcpListener::bind(addr)
        .unwrap_or_else(|e| panic!("cannot bind the CredSSP test server on {addr}: {e}"));
    std_listener.set_nonblocking(true).expect("nonblocking");
    let local = std_listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = TcpListener::from_std(std_listener).expect("listener");
            let tls = tls();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                // One connection at a time, as the scanner makes them.
                let _ = timeout(STEP, serve_one(tcp, &tls, version)).await;
            }
        });
    });
    local
}

/// X.224, then (for HYBRID) TLS and one CredSSP exchange.
async fn serve_one(mut tcp: TcpStream, tls: &Tls, version: u32) -> Option<()> {
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
        buf.extend_from_slice(chunk.get(..n)?);
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
    let mut stream = tls.acceptor.accept(tcp).await.ok()?;
    let mut buf = Vec::new();
    let request = loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
        if let Ok(len) = sspi::credssp::TsRequest::read_length(buf.as_slice())
            && buf.len() >= len
        {
            break sspi::credssp::TsRequest::from_buffer(&buf).ok()?;
        }
    };
    let identity = sspi::AuthIdentity {
        username: sspi::Username::new("alice", Some("TESTDOMAIN")).ok()?,
        password: String::from("not-a-real-password").into(),
    };
    let mut server = sspi::credssp::CredSspServer::new_with_version(
        tls.public_key.clone(),
        Users(identity),
        version,
        sspi::credssp::ServerMode::Ntlm(sspi::ntlm::NtlmConfig::new("TESTHOST".to_owned())),
    )
    .ok()?;
    let reply = match server.process(request).resolve_to_result() {
        Ok(sspi::credssp::ServerState::ReplyNeeded(ts)) => ts,
        Ok(sspi::credssp::ServerState::Finished(_)) => return None,
        Err(e) => *e.ts_request?,
    };
    let mut out = Vec::new();
    reply.encode_ts_request(&mut out).ok()?;
    stream.write_all(&out).await.ok()?;
    stream.flush().await.ok()?;
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    Some(())
}
