//! CredSSP first leg against real, in-process CredSSP servers on 127.0.0.1, over TLS:
//! `sspi`'s `CredSspServer` (answering TSRequest versions 2 to 6; the pieces and the whole RDP
//! server are in tests/support/credssp_server.rs) and `ironrdp-acceptor` (the full X.224 +
//! TLS + CredSSP acceptor, answering version 6).
//!
//! Each server records every byte the scanner sent after TLS; the tests check that those bytes
//! are TSRequests holding only NTLM NEGOTIATE messages: never an AUTHENTICATE, never
//! `authInfo` or `pubKeyAuth`.
//!
//! Also against FreeRDP's shadow server with NLA (a real, out-of-process CredSSP server started
//! by the `tests/support` harness on 127.40.x.y).
//!
//! NETWORK SAFETY: every socket binds or connects to 127.0.0.0/8 only.

mod support;

#[path = "support/credssp_server.rs"]
mod credssp_server;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use credssp_server::{ReadError, Recording, provider, read_ts_request};

use rdpsweep::analysis::Clock;
use rdpsweep::analysis::credssp::{CredsspLeg, analyse_credssp};

/// The scan's clock at `now`, replies arriving then.
fn clock(now: time::OffsetDateTime) -> Clock {
    Clock::at(now.unix_timestamp())
}
use rdpsweep::probe::credssp::{CredsspObservation, EmulatedAttempt, first_leg};
use rdpsweep::probe::tls::AcceptAnyCertificate;
use rdpsweep::proto::ntlm::{ChallengeMessage, MessageType, NegotiateMessage, message_type};
use rdpsweep::proto::tsrequest::{Frame, MAX_TS_REQUEST_LEN, TsRequest, frame_len};
use rdpsweep::report::schema::OracleFix;
use rustls::pki_types::ServerName;

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// This binary's loopback tag for the harness (`support::net::loopback`).
const TAG: u8 = 40;
const STEP: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// TLS material and plumbing

/// The server side of TLS with a fresh certificate ([`credssp_server::server_tls`]) and a
/// client that accepts any certificate.
struct Tls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    /// The certificate's SubjectPublicKey (what CredSSP binds to).
    public_key: Vec<u8>,
}

fn tls() -> Tls {
    let server = credssp_server::server_tls();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(
            provider()
                .signature_verification_algorithms
                .supported_schemes(),
        )))
        .with_no_client_auth();
    Tls {
        acceptor: server.acceptor,
        connector: TlsConnector::from(Arc::new(client)),
        public_key: server.public_key,
    }
}

async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind((LOOPBACK, 0))
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("addr");
    assert!(addr.ip().is_loopback());
    (listener, addr)
}

/// Everything the client sent inside TLS, split into TSRequests (with sspi's own decoder as an
/// independent check), and the NTLM message type of every negoToken.
fn client_messages(sent: &[u8]) -> Vec<MessageType> {
    let mut types = Vec::new();
    let mut rest = sent;
    while !rest.is_empty() {
        let Ok(Frame::Complete(n)) = frame_len(rest, MAX_TS_REQUEST_LEN) else {
            panic!("client sent something that is not a whole TSRequest: {rest:02x?}");
        };
        let (one, tail) = rest.split_at(n);
        rest = tail;
        let ours = TsRequest::decode(one).expect("client TSRequest decodes");
        let theirs =
            sspi::credssp::TsRequest::from_buffer(one).expect("sspi decodes the client TSRequest");
        assert_eq!(theirs.version, ours.version);
        assert_eq!(ours.auth_info, None, "client sent authInfo");
        assert_eq!(ours.pub_key_auth, None, "client sent pubKeyAuth");
        assert!(theirs.auth_info.is_none() && theirs.pub_key_auth.is_none());
        for token in &ours.nego_tokens {
            types.push(message_type(token).expect("negoToken is an NTLM message"));
        }
    }
    types
}

fn assert_only_negotiate(sent: &[u8]) {
    let types = client_messages(sent);
    assert_eq!(
        types,
        vec![MessageType::NEGOTIATE],
        "the scanner must send one NEGOTIATE and nothing else"
    );
    assert!(!types.contains(&MessageType::AUTHENTICATE));
}

// ---------------------------------------------------------------------------------------------
// sspi CredSspServer

/// What the sspi server saw and did.
struct ServerLog {
    /// Bytes the client sent after the TLS handshake.
    sent_by_client: Vec<u8>,
    /// The version the client's first TSRequest advertised (as sspi decoded it).
    client_version: u32,
}

/// Accepts one connection, TLS, one TSRequest; answers through sspi's `CredSspServer` with
/// `version`; then reads (and records) anything else the client sends until it closes.
async fn sspi_server(
    listener: TcpListener,
    tls: TlsAcceptor,
    public_key: Vec<u8>,
    version: u32,
) -> ServerLog {
    let (tcp, peer) = listener.accept().await.expect("accept");
    assert!(peer.ip().is_loopback());
    let tls = tls.accept(tcp).await.expect("server TLS");
    let (mut stream, log) = Recording::new(tls);
    let request = match timeout(STEP, read_ts_request(&mut stream))
        .await
        .expect("client request in time")
    {
        Ok(request) => request,
        Err(ReadError::Closed) => panic!("client closed before sending its TSRequest"),
        Err(ReadError::Io(e)) => panic!("read: {e}"),
        Err(ReadError::Decode(e)) => panic!("sspi decodes the client TSRequest: {e}"),
    };
    let client_version = request.version;

    let reply =
        credssp_server::answer(request, public_key, version).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    reply.encode_ts_request(&mut out).expect("encode reply");
    stream.write_all(&out).await.expect("write reply");
    stream.flush().await.expect("flush");

    // Record whatever else the client sends until it closes (it must send nothing).
    let mut rest = Vec::new();
    let _ = timeout(STEP, stream.read_to_end(&mut rest))
        .await
        .expect("client closes after the first leg");
    let sent_by_client = log.lock().expect("log").clone();
    ServerLog {
        sent_by_client,
        client_version,
    }
}

/// Runs `first_leg` advertising `client_version` against an sspi server answering
/// `server_version`.
async fn against_sspi(server_version: u32, client_version: u32) -> (CredsspObservation, ServerLog) {
    let tls = tls();
    let (listener, addr) = listen().await;
    let server = sspi_server(
        listener,
        tls.acceptor.clone(),
        tls.public_key.clone(),
        server_version,
    );
    let client = async {
        let tcp = TcpStream::connect(addr).await.expect("connect 127.0.0.1");
        let name = ServerName::try_from("localhost").expect("name");
        let mut stream = tls.connector.connect(name, tcp).await.expect("client TLS");
        let obs = first_leg(&mut stream, client_version, Instant::now() + STEP).await;
        let _ = stream.shutdown().await;
        drop(stream);
        obs
    };
    let (obs, log) = tokio::join!(client, server);
    (obs.expect("first leg succeeds"), log)
}

fn assert_sspi_challenge(obs: &CredsspObservation) {
    let challenge: &ChallengeMessage = obs
        .challenge
        .as_ref()
        .expect("a negoToken")
        .as_ref()
        .expect("a parsable CHALLENGE");
    // sspi 0.23's NTLM server: VERSION 10.0.17763 rev 15, empty names, a timestamp, EOL.
    assert_eq!(
        challenge.version.map(|v| v.to_string()).as_deref(),
        Some("10.0.17763")
    );
    let info = challenge.target_info.as_ref().expect("target info");
    assert!(info.eol, "{:?}", info.issue);
    assert!(info.timestamp().is_some());
    assert!(challenge.warnings.is_empty(), "{:?}", challenge.warnings);
}

#[tokio::test]
async fn sspi_server_versions_give_the_right_verdict() {
    for (server_version, fix) in [
        (2, OracleFix::Missing),
        (3, OracleFix::Missing),
        (4, OracleFix::Missing),
        (5, OracleFix::Fixed),
        (6, OracleFix::Fixed),
    ] {
        let (obs, log) = against_sspi(server_version, 6).await;
        assert_eq!(log.client_version, 6);
        assert_eq!(obs.server.version, server_version, "server version");
        assert_eq!(obs.server.error_code, None);
        assert_sspi_challenge(&obs);
        assert_only_negotiate(&log.sent_by_client);

        let now = time::OffsetDateTime::now_utc();
        let result = Ok(obs);
        let a = analyse_credssp(&CredsspLeg::Ran(&result), &[], now, &clock(now));
        assert_eq!(a.credssp.version, Some(server_version));
        assert_eq!(a.credssp.cve_2018_0886, fix, "version {server_version}");
        let unpatched = a
            .findings
            .iter()
            .any(|f| f.id == "credssp-oracle-unpatched");
        assert_eq!(unpatched, fix == OracleFix::Missing);
        let ntlm = a.ntlm.expect("ntlm");
        assert_eq!(ntlm.os_version.as_deref(), Some("10.0.17763"));
        assert_eq!(
            ntlm.os_name.as_deref(),
            Some("Windows 10 1809 / Server 2019")
        );
        // sspi sends empty names: reported as absent, not as empty strings.
        assert_eq!(ntlm.nb_computer, None);
        assert_eq!(ntlm.dns_computer, None);
        // The server's clock is this machine's clock, but sspi 0.23 counts FILETIME from
        // 1601-01-01 00:01:01 instead of 00:00:00 (ntlm/messages/computations.rs,
        // convert_to_file_time), so its timestamps run 61 s behind. Our conversion is checked
        // against the real Windows capture in the unit tests.
        let skew = ntlm.clock_skew_s.expect("skew");
        assert!((skew + 61).abs() <= 3, "skew {skew}");
    }
}

/// Emulated client versions: sspi's server answers with its own version whatever the client
/// advertises (2, 3, 4, 5 or 6), and does not refuse old clients at this stage: the first leg
/// cannot show whether a server would block an unpatched client.
#[tokio::test]
async fn sspi_server_answers_its_own_version_to_every_client_version() {
    let mut attempts = Vec::new();
    for client_version in [2, 3, 4, 5, 6] {
        let (obs, log) = against_sspi(6, client_version).await;
        assert_eq!(
            log.client_version, client_version,
            "the probe advertised the asked version"
        );
        assert_eq!(obs.client_version, client_version);
        assert_eq!(obs.server.version, 6);
        assert_eq!(obs.server.error_code, None);
        assert_sspi_challenge(&obs);
        assert_only_negotiate(&log.sent_by_client);
        attempts.push(EmulatedAttempt {
            client_version,
            outcome: Ok(obs),
        });
    }
    let (main, _) = against_sspi(3, 6).await;
    let main = Ok(main);
    let now = time::OffsetDateTime::now_utc();
    let a = analyse_credssp(&CredsspLeg::Ran(&main), &attempts, now, &clock(now));
    assert_eq!(a.credssp.cve_2018_0886, OracleFix::Missing);
    let versions: Vec<(u32, Option<u32>)> = a
        .credssp
        .emulated
        .iter()
        .map(|e| (e.client_version, e.server_version))
        .collect();
    assert_eq!(
        versions,
        vec![
            (2, Some(6)),
            (3, Some(6)),
            (4, Some(6)),
            (5, Some(6)),
            (6, Some(6))
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// ironrdp-acceptor: the whole server side (X.224 negotiation, TLS upgrade, CredSSP)

struct NoNetwork;

impl ironrdp_tokio::NetworkClient for NoNetwork {
    async fn send(
        &mut self,
        _: &sspi::NetworkRequest,
    ) -> ironrdp_connector::ConnectorResult<Vec<u8>> {
        Err(ironrdp_connector::general_err!(
            "no network in tests (NTLM needs none)"
        ))
    }
}

/// Runs an `ironrdp-acceptor` for one connection: X.224, TLS, then CredSSP until the client
/// goes away. Returns the bytes the client sent inside TLS.
async fn ironrdp_server(listener: TcpListener, tls: TlsAcceptor, public_key: Vec<u8>) -> Vec<u8> {
    use ironrdp_acceptor::{Acceptor, BeginResult, DesktopSize, accept_begin, accept_credssp};
    use ironrdp_connector::ServerName as RdpServerName;
    use ironrdp_pdu::nego::SecurityProtocol;
    use ironrdp_pdu::rdp::client_info::Credentials;
    use ironrdp_tokio::LocalTokioFramed;

    let (tcp, peer) = listener.accept().await.expect("accept");
    assert!(peer.ip().is_loopback());
    let mut acceptor = Acceptor::new(
        SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX,
        DesktopSize {
            width: 1024,
            height: 768,
        },
        Vec::new(),
        Some(Credentials {
            username: "alice".to_owned(),
            password: "not-a-real-password".to_owned(),
            domain: None,
        }),
    );
    let framed = LocalTokioFramed::new(tcp);
    let tcp = match accept_begin(framed, &mut acceptor)
        .await
        .expect("X.224 negotiation")
    {
        BeginResult::ShouldUpgrade(tcp) => tcp,
        BeginResult::Continue(_) => panic!("acceptor did not ask for a security upgrade"),
    };
    let tls = tls.accept(tcp).await.expect("server TLS");
    acceptor.mark_security_upgrade_as_done();
    let (stream, log) = Recording::new(tls);
    let mut framed = LocalTokioFramed::new(stream);
    assert!(acceptor.should_perform_credssp());
    // The scanner stops after the CHALLENGE and closes: CredSSP must end in an error here.
    let result = timeout(
        STEP,
        accept_credssp(
            &mut framed,
            &mut acceptor,
            &mut NoNetwork,
            RdpServerName::new("rdpsweep-test-client"),
            public_key,
            None,
        ),
    )
    .await
    .expect("acceptor returns once the client closes");
    assert!(
        result.is_err(),
        "CredSSP cannot complete without credentials"
    );
    log.lock().expect("log").clone()
}

/// X.224 Connection Request asking for SSL|HYBRID|HYBRID_EX (as mstsc), returns the selection.
async fn negotiate_hybrid(tcp: &mut TcpStream) -> ironrdp_pdu::nego::SecurityProtocol {
    use ironrdp_pdu::nego::{ConnectionConfirm, ConnectionRequest, RequestFlags, SecurityProtocol};
    use ironrdp_pdu::x224::X224;

    let request = ConnectionRequest {
        nego_data: None,
        flags: RequestFlags::empty(),
        protocol: SecurityProtocol::SSL | SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX,
        correlation_info: None,
    };
    let bytes = ironrdp_core::encode_vec(&X224(request)).expect("encode X.224 CR");
    tcp.write_all(&bytes).await.expect("send CR");
    let mut buf = Vec::new();
    let len = loop {
        let mut chunk = [0u8; 64];
        let n = timeout(STEP, tcp.read(&mut chunk))
            .await
            .expect("CC in time")
            .expect("read CC");
        assert!(n > 0, "server closed during X.224");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(info) = ironrdp_pdu::find_size(&buf).expect("TPKT")
            && buf.len() >= info.length
        {
            break info.length;
        }
    };
    assert_eq!(
        buf.len(),
        len,
        "server sent more than the Connection Confirm"
    );
    match ironrdp_core::decode::<X224<ConnectionConfirm>>(&buf)
        .expect("decode CC")
        .0
    {
        ConnectionConfirm::Response { protocol, .. } => protocol,
        ConnectionConfirm::Failure { code } => panic!("negotiation failure {code:?}"),
    }
}

#[test]
fn ironrdp_acceptor_answers_version_6_and_gets_only_a_negotiate() {
    // ironrdp-acceptor's futures are not Send: a current-thread runtime drives both sides.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        use ironrdp_pdu::nego::SecurityProtocol;

        let tls = tls();
        let (listener, addr) = listen().await;
        let server = ironrdp_server(listener, tls.acceptor.clone(), tls.public_key.clone());
        let client = async {
            let mut tcp = TcpStream::connect(addr).await.expect("connect 127.0.0.1");
            let selected = negotiate_hybrid(&mut tcp).await;
            assert!(
                selected.intersects(SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX),
                "{selected:?}"
            );
            let name = ServerName::try_from("localhost").expect("name");
            let mut stream = tls.connector.connect(name, tcp).await.expect("client TLS");
            let obs = first_leg(&mut stream, 6, Instant::now() + STEP).await;
            let _ = stream.shutdown().await;
            drop(stream);
            obs
        };
        let (obs, sent) = tokio::join!(client, server);
        let obs = obs.expect("first leg succeeds");
        assert_eq!(obs.server.version, 6);
        assert_only_negotiate(&sent);
        // The NEGOTIATE it got is the mstsc-identical default.
        assert_eq!(NegotiateMessage::default().encode().len(), 40);

        let result = Ok(obs);
        let now = time::OffsetDateTime::now_utc();
        let a = analyse_credssp(&CredsspLeg::Ran(&result), &[], now, &clock(now));
        assert_eq!(a.credssp.cve_2018_0886, OracleFix::Fixed);
        let ntlm = a.ntlm.expect("ntlm");
        assert_eq!(ntlm.os_version.as_deref(), Some("10.0.17763"));
        assert!(ntlm.server_time.is_some());
        assert!(
            a.findings
                .iter()
                .all(|f| f.id != "credssp-oracle-unpatched")
        );
    });
}

/// The recorder check itself: an AUTHENTICATE (type 3) token in what the client sent is caught.
#[test]
#[should_panic(expected = "the scanner must send one NEGOTIATE and nothing else")]
fn the_no_authenticate_check_catches_a_type_3_message() {
    let negotiate = TsRequest::client_first(6, NegotiateMessage::default().encode())
        .encode()
        .expect("encode");
    let mut authenticate = b"NTLMSSP\0\x03\0\0\0".to_vec();
    authenticate.extend([0u8; 64]);
    let mut sent = negotiate;
    sent.extend(
        TsRequest::client_first(6, authenticate)
            .encode()
            .expect("encode"),
    );
    assert_eq!(
        client_messages(&sent),
        vec![MessageType::NEGOTIATE, MessageType::AUTHENTICATE]
    );
    assert_only_negotiate(&sent);
}

// ---------------------------------------------------------------------------------------------
// FreeRDP shadow server with NLA (real CredSSP over the network stack)

/// X.224 (SSL|HYBRID|HYBRID_EX), TLS, then `first_leg` advertising `client_version`.
async fn first_leg_over_rdp(addr: SocketAddr, client_version: u32) -> CredsspObservation {
    assert!(addr.ip().is_loopback());
    let tls = tls();
    let mut tcp = TcpStream::connect(addr)
        .await
        .expect("connect to the shadow server");
    let selected = negotiate_hybrid(&mut tcp).await;
    assert_eq!(
        selected,
        ironrdp_pdu::nego::SecurityProtocol::HYBRID,
        "FreeRDP 2 selects HYBRID"
    );
    let name = ServerName::try_from("localhost").expect("name");
    let mut stream = tls.connector.connect(name, tcp).await.expect("client TLS");
    let obs = first_leg(&mut stream, client_version, Instant::now() + STEP).await;
    let _ = stream.shutdown().await;
    obs.expect("first leg against FreeRDP")
}

#[tokio::test]
async fn freerdp_shadow_nla_version_and_identity() {
    use support::shadow::{FreerdpShadow, ShadowOptions};

    let mut opts = ShadowOptions::new(support::net::endpoint(TAG), "nla");
    opts.hostname = Some("RDPSWEEP-NLA".to_owned());
    let server = FreerdpShadow::start(opts);
    let addr = SocketAddr::from(server.addr());

    let obs = first_leg_over_rdp(addr, 6).await;
    assert_eq!(
        obs.server.version,
        6,
        "FreeRDP answers TSRequest version 6\n{}",
        server.log_tail()
    );
    let main = Ok(obs);
    let mut emulated = Vec::new();
    for client_version in [2, 3] {
        emulated.push(EmulatedAttempt {
            client_version,
            outcome: Ok(first_leg_over_rdp(addr, client_version).await),
        });
    }
    let now = time::OffsetDateTime::now_utc();
    let a = analyse_credssp(&CredsspLeg::Ran(&main), &emulated, now, &clock(now));
    assert_eq!(a.credssp.version, Some(6));
    assert_eq!(a.credssp.cve_2018_0886, OracleFix::Fixed);
    assert_eq!(a.credssp.error_code, None);
    let ntlm = a.ntlm.expect("ntlm");
    // FreeRDP reports 6.1.7601 whatever it runs on.
    assert_eq!(ntlm.os_version.as_deref(), Some("6.1.7601"));
    assert_eq!(ntlm.os_build, Some(7601));
    assert_eq!(
        ntlm.os_name.as_deref(),
        Some("Windows 7 SP1 / Server 2008 R2 SP1")
    );
    // FreeRDP names the host (set with `unshare --uts`) in TargetName and every name AV pair.
    assert_eq!(ntlm.target_name.as_deref(), Some("RDPSWEEP-NLA"));
    assert_eq!(ntlm.nb_computer.as_deref(), Some("RDPSWEEP-NLA"));
    assert_eq!(ntlm.nb_domain.as_deref(), Some("RDPSWEEP-NLA"));
    assert_eq!(ntlm.dns_computer.as_deref(), Some("RDPSWEEP-NLA"));
    assert_eq!(ntlm.dns_domain.as_deref(), Some("RDPSWEEP-NLA"));
    assert_eq!(ntlm.note, None);
    assert!(ntlm.server_time.is_some());
    let skew = ntlm.clock_skew_s.expect("skew");
    assert!(skew.abs() <= 5, "FreeRDP runs on this clock: skew {skew}");
    assert!(
        a.findings.iter().any(|f| f.id == "os-end-of-support"),
        "{:?}",
        a.findings
    );
    assert!(
        a.findings
            .iter()
            .all(|f| f.id != "credssp-oracle-unpatched")
    );
    // FreeRDP answers its own version to older clients too.
    let answers: Vec<(u32, Option<u32>)> = a
        .credssp
        .emulated
        .iter()
        .map(|e| (e.client_version, e.server_version))
        .collect();
    assert_eq!(answers, vec![(2, Some(6)), (3, Some(6))]);
}

/// `--credssp-versions` is checked before anything is sent: a version MS-CSSP does not define
/// is a usage error (exit 2) naming it.
#[test]
fn credssp_versions_outside_2_to_6_are_refused() {
    for bad in ["7", "2,1", "0"] {
        let out = support::rdpsweep(["scan", "127.0.0.1", "--credssp-versions", bad]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(
            stderr.contains("is not a CredSSP version (MS-CSSP defines 2 to 6)"),
            "{bad}: {stderr}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// End to end: `rdpsweep scan` against FreeRDP (NLA) and xrdp (no CredSSP), every output format

#[test]
fn scan_reports_credssp_and_identity_in_json_csv_and_table() {
    use support::shadow::{FreerdpShadow, ShadowOptions};
    use support::xrdp::{Xrdp, XrdpOptions};

    let certs = support::Certs::new();
    let mut opts = ShadowOptions::new(support::net::endpoint(TAG), "nla");
    opts.hostname = Some("RDPSWEEP-E2E".to_owned());
    // A certificate for another name: the NTLM DNS name check must catch it.
    opts.certificate = Some(certs.self_signed("shadow.rdpsweep.test"));
    let shadow = FreerdpShadow::start(opts);
    let xrdp = Xrdp::start(XrdpOptions::new(support::net::endpoint(TAG), "negotiate"));
    let dir = tempfile::tempdir().expect("temp dir");
    let csv_path = dir.path().join("out.csv");
    let json_path = dir.path().join("out.json");
    let output = support::rdpsweep([
        "scan",
        "--timeout",
        "15s",
        "--no-progress",
        "--credssp-versions",
        "2,3",
        "-o",
        csv_path.to_str().expect("path"),
        "-o",
        json_path.to_str().expect("path"),
        &shadow.addr().to_string(),
        &xrdp.addr().to_string(),
    ]);
    let shown = format!(
        "{}\n{}\n{}",
        support::show(&output),
        shadow.log_tail(),
        xrdp.log_tail()
    );
    assert_eq!(output.status.code(), Some(0), "{shown}");

    // JSON
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("JSON written"))
            .expect("JSON");
    let hosts = json["hosts"].as_array().expect("hosts");
    let record = |port: u16| {
        hosts
            .iter()
            .find(|h| h["port"] == serde_json::json!(port))
            .unwrap_or_else(|| panic!("no record for port {port}\n{shown}"))
    };
    let nla = record(shadow.addr().port());
    let c = &nla["credssp"];
    assert_eq!(c["version"], 6, "{nla:#}");
    assert_eq!(c["cve_2018_0886"], "fixed", "{nla:#}");
    assert_eq!(c["error_code"], serde_json::Value::Null);
    assert_eq!(
        c["emulated"],
        serde_json::json!([
            {"client_version": 2, "server_version": 6, "error_code": null, "note": null},
            {"client_version": 3, "server_version": 6, "error_code": null, "note": null},
        ]),
        "{nla:#}"
    );
    let n = &nla["ntlm"];
    for field in [
        "target_name",
        "nb_computer",
        "nb_domain",
        "dns_computer",
        "dns_domain",
    ] {
        assert_eq!(n[field], "RDPSWEEP-E2E", "{field}: {nla:#}");
    }
    assert_eq!(n["os_version"], "6.1.7601");
    // WinPR's 6.1.7601 with CredSSP 6 is FreeRDP, not Windows 7: no OS, no end of support.
    assert_eq!(n["os_build"], serde_json::Value::Null, "{nla:#}");
    assert_eq!(n["os_name"], serde_json::Value::Null, "{nla:#}");
    assert_eq!(nla["server"]["implementation"], "freerdp", "{nla:#}");
    assert!(
        !nla["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["id"] == "os-end-of-support"),
        "{nla:#}"
    );
    assert!(
        n["clock_skew_s"].as_i64().is_some_and(|s| s.abs() <= 5),
        "{nla:#}"
    );
    let ids: Vec<&str> = nla["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    // The certificate names shadow.rdpsweep.test, the host calls itself RDPSWEEP-E2E; scanned
    // by address, the name clients check is the host's own DNS name.
    let mismatch = nla["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "cert-name-mismatch")
        .unwrap_or_else(|| panic!("no cert-name-mismatch: {nla:#}"));
    assert!(
        mismatch["message"]
            .as_str()
            .is_some_and(|m| m.contains("NTLM DNS computer name RDPSWEEP-E2E")),
        "{mismatch}"
    );
    assert_eq!(
        nla["tls"]["trust"]["name_checked"], "RDPSWEEP-E2E",
        "{nla:#}"
    );
    assert!(
        nla["tls"]["trust"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("untrusted: name mismatch")),
        "cert-name-mismatch and tls.trust.name agree: {nla:#}"
    );
    assert!(!ids.contains(&"credssp-oracle-unpatched"), "{ids:?}");
    assert!(!ids.contains(&"clock-skew"), "{ids:?}");
    assert!(!ids.contains(&"os-end-of-support"), "{ids:?}");
    // The plan's connections (4 on an NLA-only server: docs/connection-plan.md) plus one per
    // emulated version.
    let connections = nla["connections"].as_u64().expect("connections");
    assert_eq!(connections, 6, "{nla:#}");

    // xrdp has no CredSSP: the verdict is unknown, and says why.
    let plain = record(xrdp.addr().port());
    assert_eq!(plain["credssp"]["cve_2018_0886"], "unknown", "{plain:#}");
    assert_eq!(plain["credssp"]["version"], serde_json::Value::Null);
    assert_eq!(
        plain["credssp"]["note"],
        "CredSSP not probed: the server did not select CredSSP (selected tls)",
        "{plain:#}"
    );
    assert_eq!(plain["ntlm"], serde_json::Value::Null);

    // CSV: the CredSSP columns, appended after the earlier ones.
    let text = std::fs::read_to_string(&csv_path).expect("CSV written");
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().expect("header").clone();
    let names: Vec<&str> = headers.iter().collect();
    let ours = [
        "credssp_version",
        "cve_2018_0886",
        "nb_computer",
        "nb_domain",
        "dns_computer",
        "dns_domain",
        "os_build",
        "os_name",
        "clock_skew_s",
    ];
    let at = names
        .iter()
        .position(|n| *n == "credssp_version")
        .expect("credssp_version column");
    assert_eq!(&names[at..at + ours.len()], &ours, "{names:?}");
    assert!(
        at > names
            .iter()
            .position(|n| *n == "elapsed_ms")
            .expect("elapsed_ms")
    );
    let port_col = names.iter().position(|n| *n == "port").expect("port");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let row = rows
        .iter()
        .find(|r| r.get(port_col) == Some(&shadow.addr().port().to_string()))
        .expect("shadow row");
    let col = |name: &str| {
        row.get(names.iter().position(|n| *n == name).expect("column"))
            .unwrap_or_default()
    };
    assert_eq!(col("credssp_version"), "6");
    assert_eq!(col("cve_2018_0886"), "fixed");
    assert_eq!(col("nb_computer"), "RDPSWEEP-E2E");
    assert_eq!(col("dns_computer"), "RDPSWEEP-E2E");
    assert_eq!(col("os_build"), "", "not a Windows build");
    assert_eq!(col("os_name"), "", "not a Windows release");
    assert_eq!(col("server"), "freerdp");
    assert!(col("clock_skew_s").parse::<i64>().is_ok(), "{text}");

    // Table (stdout).
    let table = String::from_utf8_lossy(&output.stdout);
    let line = table
        .lines()
        .find(|l| l.contains(&shadow.addr().to_string()))
        .unwrap_or_else(|| panic!("no table line for the shadow server\n{table}"));
    assert!(line.contains("v6 fixed"), "{line}");
    // The host name; no OS (NTLM's 6.1.7601 is WinPR's fake Windows 7): the SERVER column
    // says what it is.
    assert!(line.contains(" freerdp "), "{line}");
    assert!(line.contains("RDPSWEEP-E2E"), "{line}");
    assert!(!line.contains("RDPSWEEP-E2E /"), "{line}");
    assert!(!line.contains("Windows 7"), "{line}");
}

/// `rdpsweep scan` against a CredSSP version 3 server: `missing`, the high finding, the NTLM
/// identity, the emulated answers, and nothing but NEGOTIATE messages on any connection.
#[test]
fn scan_of_an_unpatched_credssp_server_reports_missing() {
    let (addr, sessions) = credssp_server::spawn(support::net::endpoint(TAG), 3);
    let (output, records) = support::scan_jsonl([
        "--timeout",
        "15s",
        "--no-progress",
        "--credssp-versions",
        "2,6",
        &addr.to_string(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", support::show(&output));
    let record = records
        .iter()
        .find(|r| r["port"] == serde_json::json!(addr.port()))
        .unwrap_or_else(|| panic!("no record\n{}", support::show(&output)));
    assert_eq!(record["security"]["nla"], "required", "{record:#}");
    let c = &record["credssp"];
    assert_eq!(c["version"], 3, "{record:#}");
    assert_eq!(c["cve_2018_0886"], "missing", "{record:#}");
    assert_eq!(c["emulated"][0]["client_version"], 2, "{record:#}");
    assert_eq!(c["emulated"][0]["server_version"], 3, "{record:#}");
    assert_eq!(c["emulated"][1]["client_version"], 6, "{record:#}");
    assert_eq!(c["emulated"][1]["server_version"], 3, "{record:#}");
    let finding = record["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "credssp-oracle-unpatched")
        .unwrap_or_else(|| panic!("no credssp-oracle-unpatched: {record:#}"));
    assert_eq!(finding["severity"], "high");
    assert_eq!(record["ntlm"]["os_version"], "10.0.17763", "{record:#}");
    // sspi's NTLM VERSION behind IronRDP's Connection Confirm (source reference 0x0000) is not
    // a Windows Server 2019.
    assert_eq!(
        record["ntlm"]["os_name"],
        serde_json::Value::Null,
        "{record:#}"
    );
    assert_eq!(record["server"]["implementation"], "unknown", "{record:#}");
    assert!(
        record["server"]["evidence"]
            .as_array()
            .expect("evidence")
            .iter()
            .any(|e| e.as_str().is_some_and(|e| e.contains("0x0000"))),
        "{record:#}"
    );

    // Three first legs reached CredSSP (main + two emulated); each sent one NEGOTIATE only.
    let sessions = sessions.lock().expect("log").clone();
    let credssp_sessions: Vec<&Vec<u8>> = sessions.iter().filter(|s| !s.is_empty()).collect();
    assert_eq!(credssp_sessions.len(), 3, "{} TLS sessions", sessions.len());
    for sent in credssp_sessions {
        assert_only_negotiate(sent);
    }
}
