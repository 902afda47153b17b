//! The probe driver: the only module that talks to RDP servers. It executes the steps of the
//! connection plan (`crate::observe::Plan`, `docs/connection-plan.md`) for one endpoint under
//! one deadline, and records what happened as an [`Observation`]. It decides nothing: what to
//! ask next is the plan's call, what it means is the analysis's. It reads no wall clock (its
//! deadlines use the monotonic clock).

pub mod credssp;
pub mod io;
pub mod negotiate;
pub mod pace;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::observe::credssp::CredsspFailure;
use crate::observe::tls::{HandshakeFailureKind, TlsStack, TlsVersionMode, VersionOutcome};
pub use crate::observe::{
    Connection, Negotiation, NegotiationKind, NegotiationResult, Observation, Purpose, StageError,
    Upgrade,
};
use crate::observe::{McsFailure, Plan, PlanOptions, Step};
use crate::proto::mcs::{
    ConnectInitialParams, ConnectResponse, MAX_CONNECT_RESPONSE_LEN, connect_initial,
    decode_connect_response,
};
use crate::proto::x224::ConfirmHeader;
use negotiate::negotiate;
use pace::Pacer;

/// Options that apply to every endpoint of a scan.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Per TCP connection attempt.
    pub connect_timeout: Duration,
    /// Per endpoint, covering all of its connections.
    pub host_timeout: Duration,
    /// Local address to connect from (like `nmap -S`).
    pub source_ip: Option<IpAddr>,
    /// Also ask for RDSTLS and RDSAAD (two more connections).
    pub deep: bool,
    /// Shared connection pacer (`--rate`).
    pub pacer: Option<Arc<Pacer>>,
    /// Extra CredSSP first legs advertising these client versions (`--credssp-versions`), one
    /// connection each, after the main probe (which advertises version 6).
    pub credssp_versions: Vec<u32>,
    /// The per-scan TLS context (rustls and OpenSSL configurations); `None` skips the TLS
    /// stage.
    pub tls: Option<Arc<tls::TlsContext>>,
    /// `--tls-versions`: how many hand-built hellos to send.
    pub tls_versions: TlsVersionMode,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            host_timeout: Duration::from_secs(20),
            source_ip: None,
            deep: false,
            pacer: None,
            credssp_versions: Vec::new(),
            tls: None,
            tls_versions: TlsVersionMode::All,
        }
    }
}

impl ProbeOptions {
    /// The connection plan these options describe.
    pub fn plan(&self) -> Plan {
        Plan::new(PlanOptions {
            deep: self.deep,
            tls: self.tls.is_some(),
            tls_versions: self.tls_versions,
            credssp_versions: self.credssp_versions.clone(),
        })
    }
}

/// A safety net against a plan that would never end: no endpoint needs more steps than this.
const MAX_STEPS: usize = 64;

/// One exchange (an X.224 reply, a TLS handshake or version probe, a CredSSP first leg) may use
/// at most a quarter of the endpoint's time: a server stalling in one stage does not starve the
/// connections that follow, and a listener that accepts and never answers (a tarpit) releases
/// its slot after a quarter of `--timeout` instead of all of it.
fn exchange_deadline(deadline: Instant, host_timeout: Duration) -> Instant {
    deadline.min(Instant::now() + host_timeout / 4)
}

/// What is open on the newest connection.
enum Open {
    None,
    Tcp(TcpStream),
    Tls(tls::TlsStream),
}

/// The first TCP connection of an endpoint, made on its own before the rest of the probe: the
/// scheduler keeps many of these pending at once (`--connect-concurrency`) and gives only
/// those that connected one of the `--concurrency` full-probe slots. It holds a socket and a
/// few words, nothing of the probe's buffers.
#[derive(Debug)]
pub struct FirstConnect {
    /// How long the connection took (the `--rate` pacer's wait included): the endpoint's
    /// `--timeout` budget spent before its full probe starts.
    spent: Duration,
    result: Result<TcpStream, StageError>,
}

impl FirstConnect {
    /// The failed connection's error (None when it connected).
    pub fn error(&self) -> Option<&StageError> {
        self.result.as_ref().err()
    }

    /// True when the connection is open.
    pub fn is_connected(&self) -> bool {
        self.result.is_ok()
    }
}

/// Makes an endpoint's first TCP connection: waits for the `--rate` pacer, then connects,
/// giving up after `--connect-timeout` (or `--timeout`, if shorter).
pub async fn connect_first(addr: SocketAddr, opts: &ProbeOptions) -> FirstConnect {
    let started = Instant::now();
    if let Some(pacer) = &opts.pacer {
        pacer.wait().await;
    }
    let deadline = started + opts.host_timeout;
    let result = io::connect(addr, opts.source_ip, opts.connect_timeout, deadline).await;
    FirstConnect {
        spent: started.elapsed(),
        result,
    }
}

/// Runs the connection plan against one address. `server_name` is the host name the user
/// scanned (None for address targets).
pub async fn probe_endpoint(
    addr: SocketAddr,
    server_name: Option<&str>,
    opts: &ProbeOptions,
) -> Observation {
    let first = connect_first(addr, opts).await;
    probe_endpoint_with(addr, server_name, opts, first).await
}

/// Runs the connection plan against one address whose first connection is already made
/// ([`connect_first`]): that connection (or its failure) is the plan's first. The endpoint's
/// `--timeout` covers the first connection and the rest of the probe, not a wait between
/// them, so the result does not depend on how long the scheduler held it.
pub async fn probe_endpoint_with(
    addr: SocketAddr,
    server_name: Option<&str>,
    opts: &ProbeOptions,
    first: FirstConnect,
) -> Observation {
    // The endpoint's own clock: the first connection's time, then the time since now.
    let resumed = Instant::now();
    let spent = first.spent;
    let elapsed = move || spent + resumed.elapsed();
    let deadline = resumed + opts.host_timeout.saturating_sub(spent);
    let mut first = Some(first.result);
    let plan = opts.plan();
    let mut obs = Observation::new(server_name, opts.tls.is_some());
    let mut open = Open::None;
    for _ in 0..MAX_STEPS {
        let step = plan.next(&obs);
        let until = exchange_deadline(deadline, opts.host_timeout);
        match step {
            Step::Done => break,
            Step::Unattempted(purpose) => obs.unattempted.push(purpose),
            Step::Connect { request, purpose } => {
                open = Open::None;
                let (answer, confirm_header) = match connect_and_negotiate(
                    addr,
                    request,
                    opts,
                    first.take(),
                    deadline,
                )
                .await
                {
                    Ok((stream, (answer, header))) => {
                        open = Open::Tcp(stream);
                        (Ok(answer), header)
                    }
                    Err(e) => (Err(e), None),
                };
                obs.connections.push(Connection {
                    purpose,
                    request,
                    answer,
                    confirm_header,
                    upgrade: None,
                    credssp: None,
                    mcs: None,
                });
            }
            Step::Handshake(stack) => {
                let result = match (std::mem::replace(&mut open, Open::None), &opts.tls) {
                    (Open::Tcp(stream), Some(ctx)) => {
                        let upgraded = match stack {
                            TlsStack::Rustls => tls::upgrade(stream, server_name, ctx, until).await,
                            TlsStack::Openssl => {
                                tls::upgrade_legacy(stream, server_name, ctx, until).await
                            }
                        };
                        upgraded.map(|(session, observed)| {
                            open = Open::Tls(session);
                            observed
                        })
                    }
                    _ => Err(tls::failure(
                        stack,
                        HandshakeFailureKind::Other,
                        "no open connection for the handshake",
                    )),
                };
                record(&mut obs, |c| c.upgrade = Some(Upgrade::Handshake(result)));
            }
            Step::Hello(max) => {
                let probe = match std::mem::replace(&mut open, Open::None) {
                    Open::Tcp(stream) => tls::probe_version(stream, max, server_name, until).await,
                    _ => tls::VersionProbe {
                        offered_max: max,
                        outcome: VersionOutcome::Error("no open connection for the hello".into()),
                        chain_der: Vec::new(),
                    },
                };
                record(&mut obs, |c| c.upgrade = Some(Upgrade::Hello(probe)));
            }
            Step::Mcs { methods, selected } => {
                let params = ConnectInitialParams {
                    selected_protocol: selected,
                    encryption_methods: methods,
                };
                let outcome = match std::mem::replace(&mut open, Open::None) {
                    Open::Tcp(mut stream) => mcs_exchange(&mut stream, &params, until).await,
                    Open::Tls(mut session) => mcs_exchange(&mut session, &params, until).await,
                    Open::None => Err(McsFailure::Stage(StageError::Protocol(
                        "no open connection for the MCS exchange".into(),
                    ))),
                };
                record(&mut obs, |c| c.mcs = Some(outcome));
            }
            Step::Credssp { client_version } => {
                let leg = match std::mem::replace(&mut open, Open::None) {
                    Open::Tls(session) => {
                        let mut leg = credssp_leg(session, client_version, until).await;
                        if let Ok(observed) = leg.as_mut() {
                            observed.received_after = elapsed();
                        }
                        leg
                    }
                    _ => Err(CredsspFailure::Setup {
                        detail: "no TLS session for the CredSSP first leg".to_owned(),
                    }),
                };
                record(&mut obs, |c| c.credssp = Some(leg));
            }
        }
        obs.time_up = Instant::now() >= deadline;
    }
    obs.elapsed = elapsed();
    obs
}

/// Applies `f` to the newest connection of the log.
fn record(obs: &mut Observation, f: impl FnOnce(&mut Connection)) {
    if let Some(c) = obs.connections.last_mut() {
        f(c);
    }
}

/// One new connection of the plan: waits for the `--rate` pacer, connects (or takes the
/// connection already made, `made`), and sends the X.224 Connection Request for `kind` (the
/// reply under the per-exchange deadline). An error is the failed connect; a negotiation
/// failure is in the result.
async fn connect_and_negotiate(
    addr: SocketAddr,
    kind: NegotiationKind,
    opts: &ProbeOptions,
    made: Option<Result<TcpStream, StageError>>,
    deadline: Instant,
) -> Result<(TcpStream, (NegotiationResult, Option<ConfirmHeader>)), StageError> {
    let mut stream = match made {
        Some(made) => made?,
        None => {
            if let Some(pacer) = &opts.pacer {
                pacer.wait().await;
            }
            io::connect(addr, opts.source_ip, opts.connect_timeout, deadline).await?
        }
    };
    let until = exchange_deadline(deadline, opts.host_timeout);
    let result = negotiate(&mut stream, kind.requested(), None, until).await;
    Ok((stream, result))
}

/// Sends the MCS Connect Initial of `params` and reads the Connect Response (at most
/// `proto::mcs::MAX_CONNECT_RESPONSE_LEN` bytes) before `deadline`; sends nothing after it (no
/// credentials, no licensing).
async fn mcs_exchange<S>(
    stream: &mut S,
    params: &ConnectInitialParams,
    deadline: Instant,
) -> Result<ConnectResponse, McsFailure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = connect_initial(params).map_err(McsFailure::Malformed)?;
    match tokio::time::timeout_at(deadline, stream.write_all(&request)).await {
        Err(_) => return Err(McsFailure::Stage(StageError::Timeout(0))),
        Ok(Err(e)) => return Err(McsFailure::Stage(StageError::from_io(&e))),
        Ok(Ok(())) => {}
    }
    let mut buf = Vec::new();
    let len = io::read_pdu(
        stream,
        &mut buf,
        &io::McsHint,
        MAX_CONNECT_RESPONSE_LEN,
        io::ReadAhead::Exact,
        deadline,
    )
    .await
    .map_err(|e| match e {
        io::PduError::Frame(e) => McsFailure::Malformed(e),
        io::PduError::Stage(e) => McsFailure::Stage(e),
    })?;
    decode_connect_response(buf.get(..len).unwrap_or_default()).map_err(McsFailure::Malformed)
}

/// The CredSSP first leg on a TLS session, then a best-effort TLS close. It sends one
/// TSRequest with an NTLM NEGOTIATE and reads one back (never credentials).
async fn credssp_leg(
    mut session: tls::TlsStream,
    client_version: u32,
    deadline: Instant,
) -> Result<credssp::CredsspObservation, CredsspFailure> {
    let result = credssp::first_leg(&mut session, client_version, deadline).await;
    let close_by = deadline.min(Instant::now() + Duration::from_millis(200));
    let _ = tokio::time::timeout_at(close_by, session.shutdown()).await;
    result
}
