//! What the probe saw, as plain data, and the connection plan that decides what to ask next.
//!
//! Sans-IO: no sockets, no tokio, no clock. The driver (`crate::probe`) asks the [`Plan`] for
//! the next [`Step`], executes it, and appends what happened to the [`Observation`]; the
//! analysis (`crate::analysis`) reads the finished observation. Neither imports the other: this
//! module is the boundary between them.
//!
//! An observation is a log of the TCP connections made to one endpoint, in order. Each
//! [`Connection`] records why it was opened ([`Purpose`]), the X.224 answer to its Connection
//! Request, and what ran on it afterwards (a TLS handshake or a hand-built hello, the CredSSP
//! first leg). Everything else — the security-layer answers, the TLS evidence, the CredSSP leg —
//! is a view of that log ([`Observation::negotiations`], [`tls::TlsEvidence::from_log`],
//! [`Observation::credssp`]), so what the plan decides from and what the analysis reports from
//! can never disagree.

pub mod credssp;
pub mod plan;
pub mod tls;

use std::io;
use std::time::Duration;

pub use plan::{Plan, PlanOptions, Step};

use crate::proto::mcs::{ConnectResponse, EncryptionMethods, McsError};
use crate::proto::x224::{ConfirmHeader, ConnectionConfirm, Protocols};
use credssp::{CredsspFailure, CredsspObservation};
use tls::{HandshakeFailure, TlsObservation, TlsStack, VersionProbe};

/// Why a stage did not complete: an I/O failure, as data the report can carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    /// The TCP connection was actively refused (RST).
    #[error("connection refused")]
    Refused,
    /// The operation did not finish before its deadline.
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// The peer closed the connection; `after` says how many bytes it had sent.
    #[error("connection closed by peer after {after} bytes")]
    Closed { after: usize },
    /// The peer reset the connection.
    #[error("connection reset by peer")]
    Reset,
    /// The reply is not what the protocol allows; the text says what was wrong.
    #[error("{0}")]
    Protocol(String),
    /// A local resource ran out (file descriptors, ephemeral ports, buffers): not the host's
    /// fault, so never reported as `closed`.
    #[error("local resource exhausted: {0}")]
    Local(String),
    /// Any other I/O error.
    #[error("{0}")]
    Io(String),
}

impl StageError {
    /// Classifies an I/O error.
    pub fn from_io(e: &io::Error) -> Self {
        use io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => Self::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => Self::Reset,
            K::UnexpectedEof => Self::Closed { after: 0 },
            K::TimedOut => Self::Timeout(0),
            K::OutOfMemory | K::AddrNotAvailable => Self::Local(e.to_string()),
            _ if is_local_exhaustion(e) => Self::Local(e.to_string()),
            _ => Self::Io(e.to_string()),
        }
    }

    /// True when the failure is on our side and worth retrying after a pause.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local(_))
    }
}

/// EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL (errno values on Linux and the BSDs, and
/// WSAEMFILE / WSAENOBUFS on Windows).
fn is_local_exhaustion(e: &io::Error) -> bool {
    #[cfg(unix)]
    const CODES: &[i32] = &[24, 23, 105, 12, 99, 55, 49];
    #[cfg(windows)]
    const CODES: &[i32] = &[10024, 10055, 10049];
    #[cfg(not(any(unix, windows)))]
    const CODES: &[i32] = &[];
    e.raw_os_error().is_some_and(|c| CODES.contains(&c))
}

/// Which negotiation a connection makes (MS-RDPBCGR 2.2.1.1.1 requestedProtocols).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// What one negotiation exchange produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegotiationResult {
    /// A Connection Confirm: the peer speaks RDP.
    Confirm(ConnectionConfirm),
    /// The peer answered with bytes that are not an X.224 Connection Confirm; `detail` says
    /// why and shows the start of what came back.
    NotRdp { detail: String },
    /// No answer (timeout, reset, close, local failure), or no connection.
    Failed(StageError),
}

impl NegotiationResult {
    /// The protocol the server selected, when it answered with an RDP_NEG_RSP.
    pub fn selected(&self) -> Option<Protocols> {
        match self {
            Self::Confirm(ConnectionConfirm::Response { selected, .. }) => Some(*selected),
            _ => None,
        }
    }

    /// Whether TLS starts after this answer: the server selected SSL, HYBRID or HYBRID_EX
    /// (MS-RDPBCGR 5.4.5.1 / 5.4.5.2: the TLS handshake follows the Connection Confirm).
    pub fn selects_tls(&self) -> bool {
        self.selected().is_some_and(|s| {
            s.contains(Protocols::SSL)
                || s.contains(Protocols::HYBRID)
                || s.contains(Protocols::HYBRID_EX)
        })
    }

    /// Whether the server selected CredSSP (HYBRID or HYBRID_EX, MS-RDPBCGR 5.4.5.2).
    pub fn selects_credssp(&self) -> bool {
        self.selected()
            .is_some_and(|s| s.contains(Protocols::HYBRID) || s.contains(Protocols::HYBRID_EX))
    }

    /// Why this answer leads to no CredSSP, for `credssp.note`.
    pub fn no_credssp_reason(&self) -> String {
        match self {
            Self::Confirm(ConnectionConfirm::Response { selected, .. }) => format!(
                "the server did not select CredSSP (selected {})",
                selected.selected_name()
            ),
            Self::Confirm(ConnectionConfirm::Failure(code)) => {
                format!("the server refused the CredSSP request ({})", code.name())
            }
            Self::Confirm(ConnectionConfirm::Legacy) => {
                "legacy server without negotiation (no CredSSP)".to_owned()
            }
            Self::Confirm(ConnectionConfirm::Unknown { neg_type, .. }) => format!(
                "the server answered with a negotiation structure of unknown type 0x{neg_type:02x}"
            ),
            Self::NotRdp { .. } => "not an RDP server".to_owned(),
            Self::Failed(e) => format!("negotiation failed: {e}"),
        }
    }
}

/// One of the plan's negotiation connections and its answer (`security.probes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiation {
    pub kind: NegotiationKind,
    pub result: NegotiationResult,
}

/// Why a connection was opened (`docs/connection-plan.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// One of the plan's negotiation probes: its answer is reported in `security.probes`.
    Negotiation,
    /// The OpenSSL handshake after rustls failed for version or cipher reasons.
    LegacyHandshake,
    /// A hand-built ClientHello offering up to this version.
    VersionHello(crate::proto::tls::ProtocolVersion),
    /// A CredSSP first leg advertising `client_version` (`--credssp-versions`), over TLS with
    /// `stack` (the one that worked for the main leg).
    EmulatedCredssp {
        client_version: u32,
        stack: TlsStack,
    },
    /// Standard RDP Security offering one encryption method alone (`--deep`, as nmap's
    /// rdp-enum-encryption enumerates them).
    RdpMethod(EncryptionMethods),
}

/// Why the MCS Connect Response was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McsFailure {
    #[error("{0}")]
    Stage(StageError),
    #[error("{0}")]
    Malformed(McsError),
}

/// What ran on a connection after its negotiation selected TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgrade {
    /// A TLS handshake (rustls, or OpenSSL for the legacy one).
    Handshake(Result<TlsObservation, HandshakeFailure>),
    /// A hand-built ClientHello and the server's plaintext answer.
    Hello(VersionProbe),
}

/// One TCP connection to the endpoint and everything that happened on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub purpose: Purpose,
    pub request: NegotiationKind,
    /// The X.224 answer, or why there was none; `Err` when the TCP connection itself failed.
    pub answer: Result<NegotiationResult, StageError>,
    /// The fixed header of the Connection Confirm, when one came back (references and class:
    /// part of the server's fingerprint).
    pub confirm_header: Option<ConfirmHeader>,
    /// The TLS step on this connection, when its negotiation selected TLS and the plan wanted one.
    pub upgrade: Option<Upgrade>,
    /// The CredSSP first leg on this connection's TLS session.
    pub credssp: Option<Result<CredsspObservation, CredsspFailure>>,
    /// The MCS Connect Initial / Connect Response exchange (MS-RDPBCGR 2.2.1.3-2.2.1.4), on
    /// the TCP connection (Standard RDP Security) or inside TLS.
    pub mcs: Option<Result<ConnectResponse, McsFailure>>,
}

impl Connection {
    /// The negotiation answer, a failed connect counted as a failed negotiation.
    pub fn negotiation(&self) -> NegotiationResult {
        match &self.answer {
            Ok(result) => result.clone(),
            Err(e) => NegotiationResult::Failed(e.clone()),
        }
    }

    /// Whether a TLS session is open on this connection (a handshake completed).
    pub fn has_tls_session(&self) -> bool {
        matches!(self.upgrade, Some(Upgrade::Handshake(Ok(_))))
    }

    /// The stack of the completed handshake on this connection.
    pub fn tls_stack(&self) -> Option<TlsStack> {
        match &self.upgrade {
            Some(Upgrade::Handshake(Ok(h))) => Some(h.stack),
            _ => None,
        }
    }
}

/// The main CredSSP first leg, as one state (MS-CSSP 3.1.5 steps 1-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredsspLeg<'a> {
    /// The TLS stage was off, or no negotiation was made: nothing is said about CredSSP.
    NotProbed,
    /// The leg did not run; the text says why (what the server selected, or that TLS failed).
    NotReached(String),
    /// The leg ran.
    Ran(&'a Result<CredsspObservation, CredsspFailure>),
}

/// Everything the driver saw for one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// The host name the user scanned (None for address targets): SNI and name checks.
    pub server_name: Option<String>,
    /// Every connection made, in order.
    pub connections: Vec<Connection>,
    /// Whether the TLS stage (handshakes, hellos, CredSSP) was part of this probe.
    pub tls_stage: bool,
    /// The endpoint's `--timeout` was used up: the plan opens no further connection.
    pub time_up: bool,
    /// Steps the plan wanted but did not attempt because the time was up, in order.
    pub unattempted: Vec<Purpose>,
    /// Wall time spent on the endpoint (measured by the driver's monotonic clock).
    pub elapsed: Duration,
}

impl Observation {
    /// An empty observation of the endpoint scanned as `server_name`.
    pub fn new(server_name: Option<&str>, tls_stage: bool) -> Self {
        Self {
            server_name: server_name.map(str::to_owned),
            tls_stage,
            ..Self::default()
        }
    }

    /// The first connection failed: the endpoint is closed, filtered or unreachable.
    pub fn connect_error(&self) -> Option<&StageError> {
        match self.connections.first() {
            Some(Connection { answer: Err(e), .. }) => Some(e),
            _ => None,
        }
    }

    /// The plan's negotiation connections and their answers, in the order made.
    pub fn negotiations(&self) -> Vec<Negotiation> {
        self.connections
            .iter()
            .filter(|c| c.purpose == Purpose::Negotiation)
            .map(|c| Negotiation {
                kind: c.request,
                result: c.negotiation(),
            })
            .collect()
    }

    /// How many TCP connections were opened (or attempted).
    pub fn connection_count(&self) -> u32 {
        u32::try_from(self.connections.len()).unwrap_or(u32::MAX)
    }

    /// The connection that carried the main CredSSP leg: the first one whose leg was not an
    /// emulated version probe.
    pub fn main_credssp_connection(&self) -> Option<&Connection> {
        self.connections
            .iter()
            .find(|c| c.credssp.is_some() && !matches!(c.purpose, Purpose::EmulatedCredssp { .. }))
    }

    /// The main CredSSP leg.
    pub fn credssp(&self) -> CredsspLeg<'_> {
        if let Some(leg) = self
            .main_credssp_connection()
            .and_then(|c| c.credssp.as_ref())
        {
            return CredsspLeg::Ran(leg);
        }
        if !self.tls_stage {
            return CredsspLeg::NotProbed;
        }
        let first = self
            .connections
            .iter()
            .find(|c| c.purpose == Purpose::Negotiation && c.request == NegotiationKind::Nla);
        match first.map(Connection::negotiation) {
            None => CredsspLeg::NotProbed,
            Some(answer) if answer.selects_credssp() => {
                CredsspLeg::NotReached("the TLS handshake failed".to_owned())
            }
            Some(answer) => CredsspLeg::NotReached(answer.no_credssp_reason()),
        }
    }

    /// The emulated first legs (`--credssp-versions`), in order: each advertised version and
    /// what came of it.
    pub fn emulated_credssp(&self) -> Vec<credssp::EmulatedAttempt> {
        self.connections
            .iter()
            .filter_map(|c| match c.purpose {
                Purpose::EmulatedCredssp {
                    client_version,
                    stack,
                } => Some(credssp::EmulatedAttempt {
                    client_version,
                    outcome: emulated_outcome(c, stack),
                }),
                _ => None,
            })
            .chain(self.unattempted.iter().filter_map(|p| match p {
                Purpose::EmulatedCredssp { client_version, .. } => Some(credssp::EmulatedAttempt {
                    client_version: *client_version,
                    outcome: Err(CredsspFailure::Setup {
                        detail: "the endpoint's --timeout was used up".to_owned(),
                    }),
                }),
                _ => None,
            }))
            .collect()
    }
}

/// What an emulated first leg's connection came to.
fn emulated_outcome(c: &Connection, stack: TlsStack) -> Result<CredsspObservation, CredsspFailure> {
    let setup = |detail: String| Err(CredsspFailure::Setup { detail });
    let answer = match &c.answer {
        Err(e) => return setup(format!("connect: {e}")),
        Ok(answer) => answer,
    };
    if !answer.selects_credssp() {
        return setup(answer.no_credssp_reason());
    }
    match (&c.upgrade, &c.credssp) {
        (_, Some(leg)) => leg.clone(),
        (Some(Upgrade::Handshake(Err(f))), None) => {
            setup(format!("TLS ({}): {}", f.stack.as_str(), f.message))
        }
        _ => setup(format!("TLS ({}): not attempted", stack.as_str())),
    }
}
