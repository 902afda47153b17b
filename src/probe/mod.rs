//! The probe driver: the only module that talks to the network. It runs the connection plan
//! for one endpoint (see `docs/connection-plan.md`) under one deadline and returns an
//! [`Observation`]: raw facts and per-stage outcomes, never verdicts.

pub mod io;
pub mod negotiate;
pub mod pace;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

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
    /// TCP connections opened.
    pub connections: u32,
    pub elapsed: Duration,
    /// The host name the user scanned (None for address targets): SNI and name checks.
    pub server_name: Option<String>,
    /// The TLS stage's evidence; `None` when no negotiation selected SSL or HYBRID (or the
    /// stage is off).
    pub tls: Option<tls::TlsEvidence>,
}

/// A TLS handshake or version probe may use at most a quarter of the endpoint's time, so that
/// a server stalling in TLS does not starve the negotiation connections that follow.
fn tls_deadline(deadline: Instant, host_timeout: Duration) -> Instant {
    deadline.min(Instant::now() + host_timeout / 4)
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

    let mut plan = vec![
        NegotiationKind::Nla,
        NegotiationKind::Tls,
        NegotiationKind::Rdp,
    ];
    if opts.deep {
        plan.extend([NegotiationKind::Rdstls, NegotiationKind::Rdsaad]);
    }

    for kind in plan {
        if let Some(pacer) = &opts.pacer {
            pacer.wait().await;
        }
        let connected = io::connect(addr, opts.source_ip, opts.connect_timeout, deadline).await;
        obs.connections += 1;
        let mut stream = match connected {
            Ok(stream) => stream,
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
        let result = negotiate(&mut stream, kind.requested(), None, deadline).await;
        let first_is_rdp = matches!(result, NegotiationResult::Confirm(_));
        let tls_follows = selects_tls(&result);
        obs.negotiations.push(Negotiation { kind, result });
        if tls_follows && let Some(stage) = tls_stage.as_mut() {
            // The first such connection carries the rustls handshake (CredSSP would continue
            // on its TLS stream); a later one carries a version-probe hello.
            let until = tls_deadline(deadline, opts.host_timeout);
            let _session = stage.on_tls_connection(stream, until).await;
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
            if let Some(pacer) = &opts.pacer {
                pacer.wait().await;
            }
            obs.connections += 1;
            let mut stream =
                match io::connect(addr, opts.source_ip, opts.connect_timeout, deadline).await {
                    Ok(s) => s,
                    Err(e) => {
                        stage.extra_failed(extra, e.to_string());
                        continue;
                    }
                };
            let result = negotiate(
                &mut stream,
                NegotiationKind::Nla.requested(),
                None,
                deadline,
            )
            .await;
            if selects_tls(&result) {
                let until = tls_deadline(deadline, opts.host_timeout);
                let _session = stage.on_extra_connection(extra, stream, until).await;
            } else {
                stage.extra_failed(extra, format!("negotiation answered {result:?}"));
            }
        }
    }
    obs.tls = tls_stage.and_then(tls::TlsStage::finish);
    obs.elapsed = started.elapsed();
    obs
}
