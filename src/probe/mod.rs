//! The probe driver: the only module that talks to the network. It runs the connection plan
//! for one endpoint (see `docs/connection-plan.md`) under one deadline and returns an
//! [`Observation`]: raw facts and per-stage outcomes, never verdicts.

pub mod credssp;
pub mod io;
pub mod negotiate;
pub mod pace;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

pub use io::StageError;
use negotiate::{NegotiationResult, negotiate};
use pace::Pacer;

use crate::proto::x224::{ConnectionConfirm, Protocols};

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
    /// The per-scan TLS context (trust stores, rustls and OpenSSL configurations); `None`
    /// skips the TLS stage.
    pub tls: Option<Arc<tls::TlsContext>>,
    /// `--tls-versions`: how many hand-built hellos to send.
    pub tls_versions: tls::TlsVersionMode,
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
            tls_versions: tls::TlsVersionMode::Default,
        }
    }
}

/// Which negotiation a probe connection makes (MS-RDPBCGR 2.2.1.1.1 requestedProtocols).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegotiationKind {
    /// SSL | HYBRID | HYBRID_EX: what mstsc asks.
    Nla,
    /// SSL only.
    Tls,
    /// No flags: Standard RDP Security only.
    Rdp,
    /// RDSTLS only (deep mode).
    Rdstls,
    /// RDSAAD only (deep mode).
    Rdsaad,
}

impl NegotiationKind {
    pub fn requested(self) -> Protocols {
        match self {
            Self::Nla => Protocols::SSL
                .union(Protocols::HYBRID)
                .union(Protocols::HYBRID_EX),
            Self::Tls => Protocols::SSL,
            Self::Rdp => Protocols::RDP,
            Self::Rdstls => Protocols::RDSTLS,
            Self::Rdsaad => Protocols::RDSAAD,
        }
    }

    /// Short label used in `security.failure_codes`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Nla => "nla",
            Self::Tls => "tls",
            Self::Rdp => "rdp",
            Self::Rdstls => "rdstls",
            Self::Rdsaad => "rdsaad",
        }
    }
}

/// One negotiation connection and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiation {
    pub kind: NegotiationKind,
    pub result: NegotiationResult,
}

/// Everything the driver saw for one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// The first connection attempt failed: the endpoint is closed, filtered or unreachable.
    pub connect_error: Option<StageError>,
    /// Negotiation connections, in the order made.
    pub negotiations: Vec<Negotiation>,
    /// The CredSSP first leg on the connection whose negotiation selected HYBRID or HYBRID_EX
    /// (`None` when it did not run; `credssp_skipped` says why).
    pub credssp: Option<Result<credssp::CredsspObservation, credssp::CredsspFailure>>,
    /// Why the CredSSP stage did not run (e.g. the server did not select CredSSP, TLS failed).
    pub credssp_skipped: Option<String>,
    /// First legs advertising other client versions (`--credssp-versions`), in order.
    pub credssp_emulated: Vec<credssp::EmulatedAttempt>,
    /// TCP connections opened.
    pub connections: u32,
    pub elapsed: Duration,
    /// The host name the user scanned (None for address targets): SNI and name checks.
    pub server_name: Option<String>,
    /// The TLS stage's evidence; `None` when no negotiation selected SSL or HYBRID (or the
    /// stage is off).
    pub tls: Option<tls::TlsEvidence>,
}

/// One exchange (an X.224 reply, a TLS handshake or version probe, a CredSSP first leg) may use
/// at most a quarter of the endpoint's time: a server stalling in one stage does not starve the
/// connections that follow, and a listener that accepts and never answers (a tarpit) releases
/// its slot after a quarter of `--timeout` instead of all of it.
fn exchange_deadline(deadline: Instant, host_timeout: Duration) -> Instant {
    deadline.min(Instant::now() + host_timeout / 4)
}

/// One new connection of the plan: waits for the `--rate` pacer, connects, and sends the X.224
/// Connection Request for `kind` (the reply under the per-exchange deadline). An error is the
/// failed connect; a negotiation failure is in the result.
async fn negotiated_connection(
    addr: SocketAddr,
    kind: NegotiationKind,
    opts: &ProbeOptions,
    deadline: Instant,
) -> Result<(TcpStream, NegotiationResult), StageError> {
    if let Some(pacer) = &opts.pacer {
        pacer.wait().await;
    }
    let mut stream = io::connect(addr, opts.source_ip, opts.connect_timeout, deadline).await?;
    let until = exchange_deadline(deadline, opts.host_timeout);
    let result = negotiate(&mut stream, kind.requested(), None, until).await;
    Ok((stream, result))
}

/// Whether TLS starts after this negotiation: the server selected SSL, HYBRID or HYBRID_EX
/// (MS-RDPBCGR 5.4.5.1 / 5.4.5.2: the TLS handshake follows the Connection Confirm).
fn selects_tls(result: &NegotiationResult) -> bool {
    match result {
        NegotiationResult::Confirm(ConnectionConfirm::Response { selected, .. }) => {
            selected.contains(Protocols::SSL)
                || selected.contains(Protocols::HYBRID)
                || selected.contains(Protocols::HYBRID_EX)
        }
        _ => false,
    }
}

/// Whether the server selected CredSSP (HYBRID or HYBRID_EX, MS-RDPBCGR 5.4.5.2).
fn selects_credssp(result: &NegotiationResult) -> bool {
    match result {
        NegotiationResult::Confirm(ConnectionConfirm::Response { selected, .. }) => {
            selected.contains(Protocols::HYBRID) || selected.contains(Protocols::HYBRID_EX)
        }
        _ => false,
    }
}

/// Why the mstsc-like negotiation leads to no CredSSP, for `credssp.note`.
fn no_credssp_reason(result: &NegotiationResult) -> String {
    match result {
        NegotiationResult::Confirm(ConnectionConfirm::Response { selected, .. }) => format!(
            "the server did not select CredSSP (selected {})",
            selected.selected_name()
        ),
        NegotiationResult::Confirm(ConnectionConfirm::Failure(code)) => {
            format!("the server refused the CredSSP request ({})", code.name())
        }
        NegotiationResult::Confirm(ConnectionConfirm::Legacy) => {
            "legacy server without negotiation (no CredSSP)".to_owned()
        }
        NegotiationResult::NotRdp { .. } => "not an RDP server".to_owned(),
        NegotiationResult::Failed(e) => format!("negotiation failed: {e}"),
    }
}

/// The CredSSP first leg on a TLS session, then a best-effort TLS close. It sends one
/// TSRequest with an NTLM NEGOTIATE and reads one back (never credentials).
async fn credssp_leg(
    mut session: tls::TlsStream,
    client_version: u32,
    deadline: Instant,
) -> Result<credssp::CredsspObservation, credssp::CredsspFailure> {
    use tokio::io::AsyncWriteExt;
    let result = credssp::first_leg(&mut session, client_version, deadline).await;
    let close_by = deadline.min(Instant::now() + Duration::from_millis(200));
    let _ = tokio::time::timeout_at(close_by, session.shutdown()).await;
    result
}

/// One `--credssp-versions` probe: a new connection, the mstsc-like negotiation, TLS with the
/// stack that worked for the main handshake, and the first leg advertising `client_version`.
async fn emulated_leg(
    addr: SocketAddr,
    server_name: Option<&str>,
    ctx: &tls::TlsContext,
    stack: tls::TlsStack,
    client_version: u32,
    opts: &ProbeOptions,
    deadline: Instant,
) -> Result<credssp::CredsspObservation, credssp::CredsspFailure> {
    let setup = |detail: String| credssp::CredsspFailure::Setup { detail };
    let (stream, result) = negotiated_connection(addr, NegotiationKind::Nla, opts, deadline)
        .await
        .map_err(|e| setup(format!("connect: {e}")))?;
    if !selects_credssp(&result) {
        return Err(setup(no_credssp_reason(&result)));
    }
    let until = exchange_deadline(deadline, opts.host_timeout);
    let upgraded = match stack {
        tls::TlsStack::Rustls => tls::upgrade(stream, server_name, ctx, until).await,
        tls::TlsStack::Openssl => tls::upgrade_legacy(stream, server_name, ctx, until).await,
    };
    let (session, _) =
        upgraded.map_err(|f| setup(format!("TLS ({}): {}", f.stack.as_str(), f.message)))?;
    credssp_leg(session, client_version, until).await
}

/// Runs the connection plan against one address. `server_name` is the host name the user
/// scanned (None for address targets).
pub async fn probe_endpoint(
    addr: SocketAddr,
    server_name: Option<&str>,
    opts: &ProbeOptions,
) -> Observation {
    let started = Instant::now();
    let deadline = started + opts.host_timeout;
    let mut obs = Observation {
        server_name: server_name.map(str::to_owned),
        ..Observation::default()
    };
    let mut tls_stage = opts
        .tls
        .as_deref()
        .map(|ctx| tls::TlsStage::new(ctx, opts.tls_versions, server_name));
    // The TLS stack whose session carried the main CredSSP first leg (emulated legs reuse it).
    let mut credssp_stack: Option<tls::TlsStack> = None;

    let mut plan = vec![
        NegotiationKind::Nla,
        NegotiationKind::Tls,
        NegotiationKind::Rdp,
    ];
    if opts.deep {
        plan.extend([NegotiationKind::Rdstls, NegotiationKind::Rdsaad]);
    }

    for kind in plan {
        let opened = negotiated_connection(addr, kind, opts, deadline).await;
        obs.connections += 1;
        let (stream, result) = match opened {
            Ok(opened) => opened,
            Err(e) if obs.negotiations.is_empty() => {
                obs.connect_error = Some(e);
                break;
            }
            Err(e) => {
                obs.negotiations.push(Negotiation {
                    kind,
                    result: NegotiationResult::Failed(e),
                });
                continue;
            }
        };
        let first_is_rdp = matches!(result, NegotiationResult::Confirm(_));
        let tls_follows = selects_tls(&result);
        // CredSSP follows TLS on the mstsc-like connection when the server selected it.
        let credssp_follows = kind == NegotiationKind::Nla && selects_credssp(&result);
        if kind == NegotiationKind::Nla && tls_stage.is_some() && !credssp_follows {
            obs.credssp_skipped = Some(no_credssp_reason(&result));
        }
        obs.negotiations.push(Negotiation { kind, result });
        if tls_follows && let Some(stage) = tls_stage.as_mut() {
            // The first such connection carries the rustls handshake, and CredSSP continues on
            // its TLS session; a later one carries a version-probe hello.
            let until = exchange_deadline(deadline, opts.host_timeout);
            let session = stage.on_tls_connection(stream, until).await;
            if credssp_follows {
                match session {
                    Some(session) => {
                        credssp_stack = Some(session.stack());
                        let until = exchange_deadline(deadline, opts.host_timeout);
                        obs.credssp = Some(
                            credssp_leg(session, credssp::DEFAULT_CLIENT_VERSION, until).await,
                        );
                    }
                    None => {
                        obs.credssp_skipped = Some("the TLS handshake failed".to_owned());
                    }
                }
            }
        } else {
            drop(stream);
        }
        if obs.negotiations.len() == 1 && !first_is_rdp {
            // Not an RDP server (or it did not answer): the other requests would say the same.
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
    }

    // Extra TLS connections (docs/connection-plan.md): the OpenSSL handshake after a rustls
    // version/cipher failure, and version hellos the plan's connections could not carry.
    if let Some(stage) = tls_stage.as_mut() {
        while let Some(extra) = stage.next_extra() {
            if Instant::now() >= deadline {
                break;
            }
            obs.connections += 1;
            let (stream, result) =
                match negotiated_connection(addr, NegotiationKind::Nla, opts, deadline).await {
                    Ok(opened) => opened,
                    Err(e) => {
                        stage.extra_failed(extra, e.to_string());
                        continue;
                    }
                };
            if selects_tls(&result) {
                let credssp_follows = selects_credssp(&result) && obs.credssp.is_none();
                let until = exchange_deadline(deadline, opts.host_timeout);
                let session = stage.on_extra_connection(extra, stream, until).await;
                // A legacy (OpenSSL) handshake after rustls failed: CredSSP runs on it.
                if credssp_follows && let Some(session) = session {
                    credssp_stack = Some(session.stack());
                    obs.credssp_skipped = None;
                    let until = exchange_deadline(deadline, opts.host_timeout);
                    obs.credssp =
                        Some(credssp_leg(session, credssp::DEFAULT_CLIENT_VERSION, until).await);
                }
            } else {
                stage.extra_failed(extra, format!("negotiation answered {result:?}"));
            }
        }
    }
    obs.tls = tls_stage.and_then(tls::TlsStage::finish);

    // `--credssp-versions`: one more connection per version, only where CredSSP was reached.
    if let (Some(stack), Some(ctx)) = (credssp_stack, opts.tls.as_deref()) {
        for &client_version in &opts.credssp_versions {
            let outcome = if Instant::now() >= deadline {
                Err(credssp::CredsspFailure::Setup {
                    detail: "the endpoint's --timeout was used up".to_owned(),
                })
            } else {
                obs.connections += 1;
                emulated_leg(
                    addr,
                    server_name,
                    ctx,
                    stack,
                    client_version,
                    opts,
                    deadline,
                )
                .await
            };
            obs.credssp_emulated.push(credssp::EmulatedAttempt {
                client_version,
                outcome,
            });
        }
    }
    obs.elapsed = started.elapsed();
    obs
}
