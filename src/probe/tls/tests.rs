//! The TLS drivers against in-process OpenSSL servers on 127.0.0.1 (ephemeral ports).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod as M, SslVersion};
use openssl::x509::X509;
use rustls::pki_types::UnixTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::*;
use crate::analysis::trust::{ChainTrust, TrustStores, TrustVerdict};
use crate::cli::trust::{PlatformRoots, TrustOptions, load_trust_stores};
use crate::proto::tls::{AlertDescription, AlertLevel, CipherSuite, ProtocolVersion};
use crate::test_certs::{CertSpec, make_cert, write_pem};

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

/// The TLS context and the trust stores `ca_file` and `platform` make.
fn ctx(ca_file: Option<PathBuf>, platform: Vec<Vec<u8>>) -> (TlsContext, TrustStores) {
    let (stores, _) = load_trust_stores(&TrustOptions {
        ca_file,
        platform_roots: if platform.is_empty() {
            PlatformRoots::Disabled
        } else {
            PlatformRoots::Custom(platform)
        },
    })
    .expect("trust stores");
    (TlsContext::new().expect("context"), stores)
}

/// The analysis's verdicts on the chain a handshake captured.
fn trust_of(stores: &TrustStores, obs: &TlsObservation) -> ChainTrust {
    stores.judge_chain(&obs.chain_der, UnixTime::now())
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
    let (c, stores) = ctx(Some(ca_path), vec![other_ca.to_der().unwrap()]);
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
    assert_eq!(trust_of(&stores, &obs).ca_file, Some(TrustVerdict::Trusted));
    assert_eq!(
        trust_of(&stores, &obs).platform,
        Some(TrustVerdict::Untrusted("unknown issuer".into()))
    );
    assert_eq!(stream.peer_certificate(), Some(leaf.to_der().unwrap()));
    echo(&mut stream).await;

    // Without --ca-file: only the platform verdict.
    let (c, stores) = ctx(None, vec![other_ca.to_der().unwrap()]);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (_, obs) = upgrade(tcp, None, &c, deadline()).await.unwrap();
    assert_eq!(trust_of(&stores, &obs).ca_file, None);
    assert!(!trust_of(&stores, &obs).platform.unwrap().is_trusted());
    // The CA in the platform store: trusted there.
    let (c, stores) = ctx(None, vec![ca.to_der().unwrap()]);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (_, obs) = upgrade(tcp, None, &c, deadline()).await.unwrap();
    assert_eq!(
        trust_of(&stores, &obs).platform,
        Some(TrustVerdict::Trusted)
    );
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
    let (c, stores) = ctx(None, vec![]);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut stream, obs) = upgrade(tcp, None, &c, deadline()).await.expect("handshake");
    assert_eq!(obs.version, ProtocolVersion::TLS1_2);
    assert!(
        obs.cipher.name().unwrap().contains("ECDHE_RSA"),
        "{}",
        obs.cipher
    );
    assert_eq!(obs.chain_der, vec![cert.to_der().unwrap()]);
    assert_eq!(
        trust_of(&stores, &obs),
        ChainTrust::default(),
        "no stores configured"
    );
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
    let (c, _) = ctx(None, vec![]);

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
    };
    let k = crate::observe::tls::version_knowledge(&evidence);
    assert_eq!(k.get(&ProtocolVersion::TLS1_0), Some(&true));
    assert_eq!(k.get(&ProtocolVersion::TLS1_1), Some(&false));
    assert_eq!(k.get(&ProtocolVersion::TLS1_2), Some(&false));
    assert_eq!(k.get(&ProtocolVersion::TLS1_3), Some(&false));
    // Deprecated acceptance is known: the default mode sends no further hello.
    assert_eq!(
        crate::observe::plan::next_version_probe(TlsVersionMode::Quick, &evidence),
        None
    );
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
    let (c, _) = ctx(None, vec![]);
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
    let (c, _) = ctx(None, vec![]);
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
