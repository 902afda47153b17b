//! The connection plan of one endpoint as a pure state machine: given what has been observed,
//! what is the next step? (`docs/connection-plan.md` has the plan per server kind.)
//!
//! The driver asks [`Plan::next`], executes the [`Step`] (opens a connection, runs a TLS
//! handshake, sends a hello, runs the CredSSP first leg), appends what happened to the
//! [`Observation`], and asks again until [`Step::Done`]. The plan keeps no state of its own:
//! every decision is a function of the observation's connection log and the options, so it can
//! be tested against recorded observations without a socket (the tests below hold one per
//! server kind).
//!
//! The steps, in order:
//! 1. **Negotiation probes**: the mstsc-like request (SSL | HYBRID | HYBRID_EX), SSL only, RDP
//!    only (and RDSTLS, RDSAAD with `--deep`), one connection each. The first one whose server
//!    selected TLS carries the main rustls handshake; CredSSP follows on it when the server
//!    selected CredSSP, the MCS exchange (the server's RDP version) when it selected TLS alone.
//!    A later one that selected TLS carries a version hello when one is still wanted. The
//!    RDP-only request carries the MCS exchange when the server selected Standard RDP
//!    Security (its encryption level and method); it is not sent at all once the SSL-only
//!    request was refused with HYBRID_REQUIRED_BY_SERVER (such a server refuses RDP alone as
//!    well: MS-RDPBCGR 2.2.1.2.2, measured on FreeRDP's server). An endpoint whose first answer
//!    is not RDP gets nothing more.
//! 2. **Extra TLS connections**: the OpenSSL handshake when rustls failed for version or cipher
//!    reasons (CredSSP follows on it when the main leg has not run), then version hellos
//!    ([`next_version_probe`]), within [`BUDGET`] connections in all.
//! 3. **Standard RDP Security methods one at a time** (`--deep`), where the server accepts
//!    Standard RDP Security.
//! 4. **Emulated CredSSP legs** (`--credssp-versions`), only where the main leg ran.
//!
//! Once the endpoint's time is up ([`Observation::time_up`]) no new connection is opened; the
//! steps on the open connection still finish.

use super::credssp::DEFAULT_CLIENT_VERSION;
use super::tls::{
    HandshakeFailure, HandshakeFailureKind, TlsEvidence, TlsStack, TlsVersionMode, VersionOutcome,
    version_knowledge,
};
use super::{Connection, NegotiationKind, NegotiationResult, Observation, Purpose, Upgrade};
use crate::proto::mcs::EncryptionMethods;
use crate::proto::tls::ProtocolVersion;
use crate::proto::x224::{ConnectionConfirm, NegFailure, Protocols};

/// The most connections the default probe opens to one endpoint (the negotiation probes and
/// the extra TLS connections; `--deep` and `--credssp-versions` add theirs on top).
pub const BUDGET: usize = 5;

/// What shapes the plan, from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Also ask for RDSTLS and RDSAAD (two more connections).
    pub deep: bool,
    /// Run the TLS stage (handshakes, hellos, CredSSP); off, the plan only negotiates.
    pub tls: bool,
    /// `--tls-versions`: how many hand-built hellos to send.
    pub tls_versions: TlsVersionMode,
    /// `--credssp-versions`: extra first legs advertising these client versions.
    pub credssp_versions: Vec<u32>,
}

/// One thing for the driver to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Open a new TCP connection (closing the current one) and send the X.224 Connection
    /// Request for `request` (MS-RDPBCGR 2.2.1.1); record it as a [`Connection`] with
    /// `purpose`.
    Connect {
        request: NegotiationKind,
        purpose: Purpose,
    },
    /// On the newest connection, whose server selected TLS: the TLS handshake with `stack`.
    Handshake(TlsStack),
    /// On the newest connection, whose server selected TLS: a hand-built ClientHello offering
    /// up to this version (`proto::tls::client_hello`).
    Hello(ProtocolVersion),
    /// On the newest connection's TLS session: the CredSSP first leg (MS-CSSP 3.1.5 steps 1-2)
    /// advertising `client_version`.
    Credssp { client_version: u32 },
    /// On the newest connection (its TCP stream, or its TLS session): an MCS Connect Initial
    /// offering `methods` and echoing `selected` (the protocol the X.224 exchange selected),
    /// and the server's MCS Connect Response (MS-RDPBCGR 2.2.1.3, 2.2.1.4). Nothing follows.
    Mcs {
        methods: EncryptionMethods,
        selected: Protocols,
    },
    /// Record that `purpose` was wanted but not attempted because the time was up.
    Unattempted(Purpose),
    /// Nothing more to do.
    Done,
}

/// The connection plan of one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    opts: PlanOptions,
}

impl Plan {
    pub fn new(opts: PlanOptions) -> Self {
        Self { opts }
    }

    pub fn options(&self) -> &PlanOptions {
        &self.opts
    }

    /// The next step, given everything observed so far.
    pub fn next(&self, obs: &Observation) -> Step {
        if obs.connect_error().is_some() {
            return Step::Done;
        }
        if let Some(step) = obs.connections.last().and_then(|c| self.follow_up(obs, c)) {
            return step;
        }
        let negotiations = obs.negotiations();
        if negotiations
            .first()
            .is_some_and(|n| !matches!(n.result, NegotiationResult::Confirm(_)))
        {
            // Not an RDP server (or it did not answer): the other requests would say the same.
            return Step::Done;
        }
        if !obs.time_up {
            if let Some(kind) = self
                .negotiation_kinds(&negotiations)
                .into_iter()
                .find(|k| !negotiations.iter().any(|n| n.kind == *k))
            {
                return Step::Connect {
                    request: kind,
                    purpose: Purpose::Negotiation,
                };
            }
            if let Some(purpose) = self.next_extra(obs) {
                return Step::Connect {
                    request: NegotiationKind::Nla,
                    purpose,
                };
            }
            if let Some(method) = self.next_rdp_method(obs) {
                return Step::Connect {
                    request: NegotiationKind::Rdp,
                    purpose: Purpose::RdpMethod(method),
                };
            }
        }
        if let Some(purpose) = self.next_emulated(obs) {
            return if obs.time_up {
                Step::Unattempted(purpose)
            } else {
                Step::Connect {
                    request: NegotiationKind::Nla,
                    purpose,
                }
            };
        }
        Step::Done
    }

    fn negotiation_kinds(&self, so_far: &[super::Negotiation]) -> Vec<NegotiationKind> {
        let hybrid_required = so_far.iter().any(|n| {
            n.kind == NegotiationKind::Tls
                && n.result
                    == NegotiationResult::Confirm(ConnectionConfirm::Failure(
                        NegFailure::HYBRID_REQUIRED_BY_SERVER,
                    ))
        });
        let mut kinds = vec![NegotiationKind::Nla, NegotiationKind::Tls];
        if !hybrid_required {
            kinds.push(NegotiationKind::Rdp);
        }
        if self.opts.deep {
            kinds.extend([NegotiationKind::Rdstls, NegotiationKind::Rdsaad]);
        }
        kinds
    }

    /// What to do next on the newest connection, if anything.
    fn follow_up(&self, obs: &Observation, last: &Connection) -> Option<Step> {
        let Ok(answer) = &last.answer else {
            return None;
        };
        let all_methods = EncryptionMethods::ALL;
        // Standard RDP Security: the MCS exchange shows its level and method.
        let standard_rdp = match answer {
            NegotiationResult::Confirm(ConnectionConfirm::Legacy) => true,
            other => other.selected() == Some(Protocols::RDP),
        };
        if standard_rdp && last.mcs.is_none() {
            return match last.purpose {
                Purpose::Negotiation if last.request == NegotiationKind::Rdp => Some(Step::Mcs {
                    methods: all_methods,
                    selected: Protocols::RDP,
                }),
                Purpose::RdpMethod(method) => Some(Step::Mcs {
                    methods: method,
                    selected: Protocols::RDP,
                }),
                _ => None,
            };
        }
        if !self.opts.tls {
            return None;
        }
        match &last.upgrade {
            None if answer.selects_tls() => match last.purpose {
                Purpose::Negotiation if !main_handshake_attempted(obs) => {
                    Some(Step::Handshake(TlsStack::Rustls))
                }
                Purpose::Negotiation => {
                    let evidence = TlsEvidence::from_log(&obs.connections).unwrap_or_default();
                    next_version_probe(self.opts.tls_versions, &evidence).map(Step::Hello)
                }
                Purpose::LegacyHandshake => Some(Step::Handshake(TlsStack::Openssl)),
                Purpose::VersionHello(max) => Some(Step::Hello(max)),
                Purpose::EmulatedCredssp { stack, .. } => {
                    answer.selects_credssp().then_some(Step::Handshake(stack))
                }
                Purpose::RdpMethod(_) => None,
            },
            Some(Upgrade::Handshake(Ok(_)))
                if last.credssp.is_none() && answer.selects_credssp() =>
            {
                match last.purpose {
                    Purpose::Negotiation if last.request == NegotiationKind::Nla => {
                        Some(Step::Credssp {
                            client_version: DEFAULT_CLIENT_VERSION,
                        })
                    }
                    Purpose::LegacyHandshake if obs.main_credssp_connection().is_none() => {
                        Some(Step::Credssp {
                            client_version: DEFAULT_CLIENT_VERSION,
                        })
                    }
                    Purpose::EmulatedCredssp { client_version, .. } => {
                        Some(Step::Credssp { client_version })
                    }
                    _ => None,
                }
            }
            // TLS alone on the main connection: the MCS exchange inside TLS shows the server's
            // RDP version at no extra connection.
            Some(Upgrade::Handshake(Ok(_)))
                if last.mcs.is_none()
                    && last.purpose == Purpose::Negotiation
                    && answer.selected() == Some(Protocols::SSL) =>
            {
                Some(Step::Mcs {
                    methods: all_methods,
                    selected: Protocols::SSL,
                })
            }
            _ => None,
        }
    }

    /// The next Standard RDP Security method to offer alone (`--deep`), where the RDP-only
    /// request selected Standard RDP Security.
    fn next_rdp_method(&self, obs: &Observation) -> Option<EncryptionMethods> {
        if !self.opts.deep {
            return None;
        }
        let rdp_accepted = obs.connections.iter().any(|c| {
            c.purpose == Purpose::Negotiation
                && c.request == NegotiationKind::Rdp
                && c.mcs.as_ref().is_some_and(|m| m.is_ok())
        });
        if !rdp_accepted {
            return None;
        }
        EncryptionMethods::EACH.into_iter().find(|m| {
            !obs.connections
                .iter()
                .any(|c| c.purpose == Purpose::RdpMethod(*m))
        })
    }

    /// The next extra TLS connection (`docs/connection-plan.md`): the OpenSSL handshake after a
    /// rustls version/cipher failure, then version hellos; in the default mode at most one
    /// extra connection in all.
    fn next_extra(&self, obs: &Observation) -> Option<Purpose> {
        if !self.opts.tls || !main_handshake_attempted(obs) {
            return None;
        }
        let evidence = TlsEvidence::from_log(&obs.connections).unwrap_or_default();
        let extras = obs
            .connections
            .iter()
            .filter(|c| {
                matches!(
                    c.purpose,
                    Purpose::LegacyHandshake | Purpose::VersionHello(_)
                )
            })
            .count();
        let legacy_attempted = obs
            .connections
            .iter()
            .any(|c| c.purpose == Purpose::LegacyHandshake);
        let rustls_failed = evidence.handshake.is_none()
            && evidence
                .failures
                .iter()
                .any(HandshakeFailure::legacy_may_help);
        if rustls_failed && !legacy_attempted {
            return Some(Purpose::LegacyHandshake);
        }
        if self.opts.tls_versions == TlsVersionMode::Quick && extras > 0 {
            return None;
        }
        let spent = obs
            .connections
            .iter()
            .filter(|c| {
                matches!(
                    c.purpose,
                    Purpose::Negotiation | Purpose::LegacyHandshake | Purpose::VersionHello(_)
                ) && matches!(
                    c.request,
                    NegotiationKind::Nla | NegotiationKind::Tls | NegotiationKind::Rdp
                )
            })
            .count();
        if spent >= BUDGET {
            return None;
        }
        next_version_probe(self.opts.tls_versions, &evidence).map(Purpose::VersionHello)
    }

    /// The next `--credssp-versions` leg, when the main leg ran (on a TLS session of `stack`).
    fn next_emulated(&self, obs: &Observation) -> Option<Purpose> {
        let stack = obs.main_credssp_connection()?.tls_stack()?;
        let done = obs
            .connections
            .iter()
            .map(|c| c.purpose)
            .chain(obs.unattempted.iter().copied())
            .filter(|p| matches!(p, Purpose::EmulatedCredssp { .. }))
            .count();
        let &client_version = self.opts.credssp_versions.get(done)?;
        Some(Purpose::EmulatedCredssp {
            client_version,
            stack,
        })
    }
}

/// Whether one of the negotiation probes carried a TLS handshake (the main one).
fn main_handshake_attempted(obs: &Observation) -> bool {
    obs.connections.iter().any(|c| {
        c.purpose == Purpose::Negotiation && matches!(c.upgrade, Some(Upgrade::Handshake(_)))
    })
}

/// The maximum version of the next hand-built hello worth sending, given what is known, or
/// `None` when the mode's question is answered.
///
/// `All` (the default) decides each of TLS 1.2, 1.1 and 1.0 (the handshakes decide 1.3),
/// highest undecided first, one hello each: a server answering a lower version than offered
/// refuses the offered one and proves the lower one, so one hello often decides two versions.
/// `Quick` asks one question: is a deprecated version (TLS 1.1 or 1.0) accepted? One hello
/// offering up to 1.1 answers it (the server picks 1.1, or 1.0, or refuses both), unless the
/// evidence already did; it never sends a second hello. Neither mode sends a hello after a
/// handshake or hello timed out.
pub fn next_version_probe(mode: TlsVersionMode, evidence: &TlsEvidence) -> Option<ProtocolVersion> {
    // A server that let a handshake or a hello time out says nothing about versions, and each
    // further hello would cost another stage deadline.
    let stalled = evidence
        .failures
        .iter()
        .any(|f| f.kind == HandshakeFailureKind::Timeout)
        || evidence
            .version_probes
            .iter()
            .any(|p| p.outcome == VersionOutcome::Timeout);
    if stalled {
        return None;
    }
    let known = version_knowledge(evidence);
    let undecided = |v: ProtocolVersion| !known.contains_key(&v);
    let already_probed =
        |v: ProtocolVersion| evidence.version_probes.iter().any(|p| p.offered_max == v);
    match mode {
        TlsVersionMode::Quick => {
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

#[cfg(test)]
mod tests {
    //! The plan against recorded behaviours of each server kind (`docs/connection-plan.md`):
    //! a pure simulator answers each step the way the real server was measured to answer, and
    //! the tests assert the exact step sequence and connection count. No socket anywhere.

    use super::*;
    use crate::observe::credssp::CredsspObservation;
    use crate::observe::tls::{TlsObservation, VersionProbe};
    use crate::observe::{StageError, Upgrade};
    use crate::proto::mcs::ConnectResponse;
    use crate::proto::tls::{Alert, AlertDescription, AlertLevel, CipherSuite};
    use crate::proto::tsrequest::TsRequest;
    use crate::proto::x224::NegFlags;
    use std::time::Duration;

    use ProtocolVersion as V;

    /// How a server answers, as measured on the real test servers.
    struct Server {
        /// The X.224 answer per request.
        answer: fn(NegotiationKind) -> NegotiationResult,
        /// The TLS versions it speaks.
        versions: &'static [ProtocolVersion],
        /// Its answer to a hello capped below every version it speaks.
        refusal: AlertDescription,
    }

    fn selected(p: Protocols) -> NegotiationResult {
        NegotiationResult::Confirm(ConnectionConfirm::Response {
            flags: NegFlags(1),
            selected: p,
        })
    }

    fn failure(code: NegFailure) -> NegotiationResult {
        NegotiationResult::Confirm(ConnectionConfirm::Failure(code))
    }

    impl Server {
        fn best_at_most(&self, max: ProtocolVersion) -> Option<ProtocolVersion> {
            self.versions.iter().copied().filter(|v| *v <= max).max()
        }

        fn handshake(&self, stack: TlsStack) -> Upgrade {
            let max = V::TLS1_3;
            let best = self.best_at_most(max);
            let speaks = match stack {
                TlsStack::Rustls => best.filter(|v| *v >= V::TLS1_2),
                TlsStack::Openssl => best,
            };
            Upgrade::Handshake(match speaks {
                Some(version) => Ok(TlsObservation {
                    stack,
                    version,
                    cipher: CipherSuite(0xC02F),
                    chain_der: vec![b"certificate".to_vec()],
                }),
                None => Err(crate::observe::tls::HandshakeFailure {
                    stack,
                    kind: HandshakeFailureKind::ProtocolVersion,
                    message: "protocol version".into(),
                }),
            })
        }

        fn hello(&self, max: ProtocolVersion) -> Upgrade {
            let outcome = match self.best_at_most(max) {
                Some(version) => VersionOutcome::Selected {
                    version,
                    cipher: CipherSuite(0x002F),
                },
                None => VersionOutcome::Alert(Alert {
                    level: AlertLevel::FATAL,
                    description: self.refusal,
                }),
            };
            Upgrade::Hello(VersionProbe {
                offered_max: max,
                outcome,
                chain_der: vec![],
            })
        }
    }

    fn credssp_reply(client_version: u32) -> CredsspObservation {
        CredsspObservation::new(
            client_version,
            TsRequest {
                version: 6,
                ..TsRequest::default()
            },
            10,
            Duration::ZERO,
        )
    }

    /// Runs `plan` against `server` until it is done; returns the steps and the observation.
    fn run(plan: &Plan, server: &Server) -> (Vec<Step>, Observation) {
        run_with(plan, server, |_| false)
    }

    /// [`run`], with the time running out once `time_up(&observation)` says so.
    fn run_with(
        plan: &Plan,
        server: &Server,
        time_up: impl Fn(&Observation) -> bool,
    ) -> (Vec<Step>, Observation) {
        let mut obs = Observation::new(None, plan.options().tls);
        let mut steps = Vec::new();
        loop {
            let step = plan.next(&obs);
            steps.push(step);
            assert!(steps.len() < 40, "the plan does not end: {steps:?}");
            let last = obs.connections.last_mut();
            match (step, last) {
                (Step::Done, _) => break,
                (Step::Unattempted(p), _) => obs.unattempted.push(p),
                (Step::Connect { request, purpose }, _) => obs.connections.push(Connection {
                    purpose,
                    request,
                    answer: Ok((server.answer)(request)),
                    confirm_header: None,
                    upgrade: None,
                    credssp: None,
                    mcs: None,
                }),
                (Step::Handshake(stack), Some(c)) => c.upgrade = Some(server.handshake(stack)),
                (Step::Hello(max), Some(c)) => c.upgrade = Some(server.hello(max)),
                (Step::Credssp { client_version }, Some(c)) => {
                    c.credssp = Some(Ok(credssp_reply(client_version)))
                }
                (Step::Mcs { .. }, Some(c)) => c.mcs = Some(Ok(ConnectResponse::default())),
                (step, None) => panic!("{step:?} without a connection"),
            }
            obs.time_up = time_up(&obs);
        }
        (steps, obs)
    }

    fn plan(mode: TlsVersionMode) -> Plan {
        Plan::new(PlanOptions {
            tls: true,
            tls_versions: mode,
            ..PlanOptions::default()
        })
    }

    fn connect(request: NegotiationKind, purpose: Purpose) -> Step {
        Step::Connect { request, purpose }
    }

    const NLA: NegotiationKind = NegotiationKind::Nla;
    const TLS: NegotiationKind = NegotiationKind::Tls;
    const RDP: NegotiationKind = NegotiationKind::Rdp;
    const PROBE: Purpose = Purpose::Negotiation;

    /// xrdp `negotiate` (TLS when CredSSP is offered, RDP when asked for RDP), TLS 1.2+1.3.
    const XRDP_NEGOTIATE: Server = Server {
        answer: |k| match k {
            NegotiationKind::Rdp => selected(Protocols::RDP),
            _ => selected(Protocols::SSL),
        },
        versions: &[V::TLS1_2, V::TLS1_3],
        refusal: AlertDescription::PROTOCOL_VERSION,
    };

    /// xrdp `tls` with `ssl_protocols` TLSv1, TLSv1.1, TLSv1.2.
    const XRDP_TLS10_12: Server = Server {
        answer: |k| match k {
            NegotiationKind::Rdp => failure(NegFailure::SSL_REQUIRED_BY_SERVER),
            _ => selected(Protocols::SSL),
        },
        versions: &[V::TLS1_0, V::TLS1_1, V::TLS1_2],
        refusal: AlertDescription::PROTOCOL_VERSION,
    };

    /// xrdp `tls` with `ssl_protocols=TLSv1`.
    const XRDP_TLS10: Server = Server {
        answer: XRDP_TLS10_12.answer,
        versions: &[V::TLS1_0],
        refusal: AlertDescription::PROTOCOL_VERSION,
    };

    /// FreeRDP's shadow server with `/sec:nla`: NLA required, TLS 1.2+1.3, and `internal_error`
    /// to hellos capped at 1.1 or 1.0.
    const SHADOW_NLA: Server = Server {
        answer: |k| match k {
            NegotiationKind::Nla => selected(Protocols::HYBRID),
            _ => failure(NegFailure::HYBRID_REQUIRED_BY_SERVER),
        },
        versions: &[V::TLS1_2, V::TLS1_3],
        refusal: AlertDescription::INTERNAL_ERROR,
    };

    /// A Windows 7 / Server 2008 R2 host requiring NLA: TLS 1.0 only.
    const NLA_TLS10: Server = Server {
        answer: SHADOW_NLA.answer,
        versions: &[V::TLS1_0],
        refusal: AlertDescription::PROTOCOL_VERSION,
    };

    const MCS_TLS: Step = Step::Mcs {
        methods: EncryptionMethods::ALL,
        selected: Protocols::SSL,
    };
    const MCS_RDP: Step = Step::Mcs {
        methods: EncryptionMethods::ALL,
        selected: Protocols::RDP,
    };

    #[test]
    fn a_tls12_13_server_that_allows_tls_and_rdp() {
        let (steps, obs) = run(&plan(TlsVersionMode::All), &XRDP_NEGOTIATE);
        assert_eq!(
            steps,
            [
                connect(NLA, PROBE),
                Step::Handshake(TlsStack::Rustls),
                MCS_TLS,
                connect(TLS, PROBE),
                Step::Hello(V::TLS1_2),
                connect(RDP, PROBE),
                MCS_RDP,
                connect(NLA, Purpose::VersionHello(V::TLS1_1)),
                Step::Hello(V::TLS1_1),
                Step::Done,
            ]
        );
        assert_eq!(obs.connection_count(), 4);
        let evidence = TlsEvidence::from_log(&obs.connections).expect("evidence");
        assert_eq!(
            version_knowledge(&evidence).len(),
            4,
            "every version decided"
        );
    }

    #[test]
    fn quick_mode_sends_one_hello() {
        let (steps, obs) = run(&plan(TlsVersionMode::Quick), &XRDP_NEGOTIATE);
        assert_eq!(
            steps,
            [
                connect(NLA, PROBE),
                Step::Handshake(TlsStack::Rustls),
                MCS_TLS,
                connect(TLS, PROBE),
                Step::Hello(V::TLS1_1),
                connect(RDP, PROBE),
                MCS_RDP,
                Step::Done,
            ]
        );
        assert_eq!(obs.connection_count(), 3);
        let evidence = TlsEvidence::from_log(&obs.connections).expect("evidence");
        assert_eq!(
            version_knowledge(&evidence).get(&V::TLS1_2),
            None,
            "1.2 stays undecided on a 1.3 server"
        );
    }

    #[test]
    fn a_tls10_12_server() {
        let (steps, obs) = run(&plan(TlsVersionMode::All), &XRDP_TLS10_12);
        assert_eq!(
            steps,
            [
                connect(NLA, PROBE),
                Step::Handshake(TlsStack::Rustls),
                MCS_TLS,
                connect(TLS, PROBE),
                Step::Hello(V::TLS1_1),
                connect(RDP, PROBE),
                connect(NLA, Purpose::VersionHello(V::TLS1_0)),
                Step::Hello(V::TLS1_0),
                Step::Done,
            ]
        );
        assert_eq!(obs.connection_count(), 4);
        let evidence = TlsEvidence::from_log(&obs.connections).expect("evidence");
        assert_eq!(version_knowledge(&evidence).len(), 4);
    }

    #[test]
    fn a_tls10_only_server_adds_the_openssl_handshake() {
        let (steps, obs) = run(&plan(TlsVersionMode::All), &XRDP_TLS10);
        assert_eq!(
            steps,
            [
                connect(NLA, PROBE),
                Step::Handshake(TlsStack::Rustls),
                connect(TLS, PROBE),
                Step::Hello(V::TLS1_1),
                connect(RDP, PROBE),
                connect(NLA, Purpose::LegacyHandshake),
                Step::Handshake(TlsStack::Openssl),
                Step::Done,
            ]
        );
        assert_eq!(obs.connection_count(), 4);
    }

    #[test]
    fn an_nla_required_server_skips_the_rdp_request_and_decides_every_version() {
        let (steps, obs) = run(&plan(TlsVersionMode::All), &SHADOW_NLA);
        assert_eq!(
            steps,
            [
                connect(NLA, PROBE),
                Step::Handshake(TlsStack::Rustls),
                Step::Credssp { client_version: 6 },
                connect(TLS, PROBE),
                connect(NLA, Purpose::VersionHello(V::TLS1_2)),
                Step::Hello(V::TLS1_2),
                connect(NLA, Purpose::VersionHello(V::TLS1_1)),
                Step::Hello(V::TLS1_1),
                Step::Done,
            ]
        );
        assert_eq!(obs.connection_count(), 4);
        assert!(matches!(
            obs.credssp(),
            crate::observe::CredsspLeg::Ran(Ok(_))
        ));
        let evidence = TlsEvidence::from_log(&obs.connections).expect("evidence");
        assert_eq!(version_knowledge(&evidence).len(), 4);
    }

    #[test]
    fn an_nla_server_on_tls10_gets_credssp_over_openssl() {
        let (steps, obs) = run(&plan(TlsVersionMode::All), &NLA_TLS10);
        assert_eq!(
            steps,
            [
                connect(NLA, PROBE),
                Step::Handshake(TlsStack::Rustls),
                connect(TLS, PROBE),
                connect(NLA, Purpose::LegacyHandshake),
                Step::Handshake(TlsStack::Openssl),
                Step::Credssp { client_version: 6 },
                Step::Done,
            ]
        );
        assert_eq!(obs.connection_count(), 3);
        assert_eq!(
            obs.main_credssp_connection().map(|c| c.purpose),
            Some(Purpose::LegacyHandshake)
        );
    }

    #[test]
    fn no_server_kind_costs_more_than_the_budget() {
        for server in [
            &XRDP_NEGOTIATE,
            &XRDP_TLS10_12,
            &XRDP_TLS10,
            &SHADOW_NLA,
            &NLA_TLS10,
        ] {
            for mode in [TlsVersionMode::All, TlsVersionMode::Quick] {
                let (_, obs) = run(&plan(mode), server);
                assert!(obs.connections.len() <= BUDGET, "{obs:?}");
            }
        }
        // A server on which every TLS version answers differently and rustls fails on ciphers:
        // the OpenSSL handshake and three hellos would make six; the budget stops at five.
        let cbc_only = Server {
            answer: XRDP_TLS10_12.answer,
            versions: &[V::TLS1_0, V::TLS1_1, V::TLS1_2],
            refusal: AlertDescription::PROTOCOL_VERSION,
        };
        let (_, obs) = run(&plan(TlsVersionMode::All), &cbc_only);
        assert!(obs.connections.len() <= BUDGET);
    }

    #[test]
    fn deep_mode_offers_each_standard_rdp_method_alone() {
        let deep = Plan::new(PlanOptions {
            deep: true,
            tls: true,
            ..PlanOptions::default()
        });
        let (steps, _) = run(&deep, &XRDP_NEGOTIATE);
        let methods: Vec<Step> = steps
            .iter()
            .copied()
            .filter(|s| matches!(s, Step::Mcs { selected, .. } if *selected == Protocols::RDP))
            .collect();
        assert_eq!(
            methods,
            [
                MCS_RDP,
                Step::Mcs {
                    methods: EncryptionMethods::BIT_40,
                    selected: Protocols::RDP
                },
                Step::Mcs {
                    methods: EncryptionMethods::BIT_56,
                    selected: Protocols::RDP
                },
                Step::Mcs {
                    methods: EncryptionMethods::BIT_128,
                    selected: Protocols::RDP
                },
                Step::Mcs {
                    methods: EncryptionMethods::FIPS,
                    selected: Protocols::RDP
                },
            ]
        );
        // A server that refuses Standard RDP Security gets no method connection.
        let (steps, _) = run(&deep, &SHADOW_NLA);
        assert!(
            !steps.iter().any(|s| matches!(s, Step::Mcs { .. })),
            "{steps:?}"
        );
    }

    #[test]
    fn an_endpoint_that_is_not_rdp_or_closed_gets_nothing_more() {
        let not_rdp = Server {
            answer: |_| NegotiationResult::NotRdp {
                detail: "HTTP".into(),
            },
            versions: &[],
            refusal: AlertDescription::PROTOCOL_VERSION,
        };
        let (steps, _) = run(&plan(TlsVersionMode::All), &not_rdp);
        assert_eq!(steps, [connect(NLA, PROBE), Step::Done]);

        let mut obs = Observation::new(None, true);
        obs.connections.push(Connection {
            purpose: PROBE,
            request: NLA,
            answer: Err(StageError::Refused),
            confirm_header: None,
            upgrade: None,
            credssp: None,
            mcs: None,
        });
        assert_eq!(plan(TlsVersionMode::All).next(&obs), Step::Done);
    }

    #[test]
    fn deep_mode_and_the_tls_stage_off() {
        let deep = Plan::new(PlanOptions {
            deep: true,
            ..PlanOptions::default()
        });
        let (steps, _) = run(&deep, &SHADOW_NLA);
        assert_eq!(
            steps,
            [
                connect(NLA, PROBE),
                connect(TLS, PROBE),
                connect(NegotiationKind::Rdstls, PROBE),
                connect(NegotiationKind::Rdsaad, PROBE),
                Step::Done,
            ],
            "no TLS step without the TLS stage (and no RDP-only request after HYBRID_REQUIRED)"
        );
    }

    #[test]
    fn emulated_legs_follow_the_main_leg_on_its_stack() {
        let plan = Plan::new(PlanOptions {
            tls: true,
            credssp_versions: vec![2, 3],
            ..PlanOptions::default()
        });
        let (steps, obs) = run(&plan, &SHADOW_NLA);
        let emulated = |client_version| Purpose::EmulatedCredssp {
            client_version,
            stack: TlsStack::Rustls,
        };
        assert_eq!(
            &steps[steps.len() - 7..],
            [
                connect(NLA, emulated(2)),
                Step::Handshake(TlsStack::Rustls),
                Step::Credssp { client_version: 2 },
                connect(NLA, emulated(3)),
                Step::Handshake(TlsStack::Rustls),
                Step::Credssp { client_version: 3 },
                Step::Done,
            ]
        );
        let attempts = obs.emulated_credssp();
        assert_eq!(attempts.len(), 2);
        assert!(attempts.iter().all(|a| a.outcome.is_ok()));
        // The main leg is not an emulated one, and the emulated handshakes are no TLS evidence.
        assert_eq!(
            obs.main_credssp_connection().map(|c| c.purpose),
            Some(PROBE)
        );
        let evidence = TlsEvidence::from_log(&obs.connections).expect("evidence");
        assert_eq!(evidence.failures.len(), 0);
        assert_eq!(evidence.version_probes.len(), 2, "the plan's hellos only");
    }

    #[test]
    fn once_time_is_up_no_connection_is_opened() {
        let plan = Plan::new(PlanOptions {
            tls: true,
            credssp_versions: vec![2, 3],
            ..PlanOptions::default()
        });
        // Time runs out during the first connection: its own steps still finish.
        let (steps, obs) = run_with(&plan, &SHADOW_NLA, |o| o.connections.len() == 1);
        assert_eq!(
            steps,
            [
                connect(NLA, PROBE),
                Step::Handshake(TlsStack::Rustls),
                Step::Credssp { client_version: 6 },
                Step::Unattempted(Purpose::EmulatedCredssp {
                    client_version: 2,
                    stack: TlsStack::Rustls
                }),
                Step::Unattempted(Purpose::EmulatedCredssp {
                    client_version: 3,
                    stack: TlsStack::Rustls
                }),
                Step::Done,
            ]
        );
        let attempts = obs.emulated_credssp();
        assert_eq!(attempts.len(), 2);
        assert!(
            attempts.iter().all(|a| a
                .outcome
                .as_ref()
                .is_err_and(|e| e.to_string().contains("--timeout"))),
            "{attempts:?}"
        );
    }

    #[test]
    fn an_extra_connection_that_does_not_select_tls_is_recorded_as_its_failure() {
        // The server stops selecting TLS between the plan's connections and the extra one.
        let flaky = Server {
            answer: |k| match k {
                NegotiationKind::Rdp => failure(NegFailure::SSL_REQUIRED_BY_SERVER),
                _ => selected(Protocols::SSL),
            },
            versions: &[V::TLS1_0],
            refusal: AlertDescription::PROTOCOL_VERSION,
        };
        let plan = plan(TlsVersionMode::All);
        let (_, mut obs) = run(&plan, &flaky);
        let legacy = obs
            .connections
            .iter_mut()
            .find(|c| c.purpose == Purpose::LegacyHandshake)
            .expect("legacy connection");
        legacy.upgrade = None;
        legacy.answer = Ok(failure(NegFailure::SSL_NOT_ALLOWED_BY_SERVER));
        let evidence = TlsEvidence::from_log(&obs.connections).expect("evidence");
        assert!(
            evidence.failures.last().is_some_and(|f| f
                .message
                .starts_with("no TLS connection for the legacy handshake")),
            "{evidence:?}"
        );
        assert_eq!(plan.next(&obs), Step::Done);
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
        };
        let mut e = TlsEvidence::default();
        assert_eq!(
            next_version_probe(TlsVersionMode::Quick, &e),
            Some(ProtocolVersion::TLS1_1)
        );
        assert_eq!(
            next_version_probe(TlsVersionMode::All, &e),
            Some(ProtocolVersion::TLS1_2)
        );
        e.handshake = Some(obs(TlsStack::Rustls, ProtocolVersion::TLS1_3));
        assert_eq!(
            next_version_probe(TlsVersionMode::Quick, &e),
            Some(ProtocolVersion::TLS1_1)
        );
        assert_eq!(
            next_version_probe(TlsVersionMode::All, &e),
            Some(ProtocolVersion::TLS1_2)
        );
        // After one hello, the quick mode stops, whatever came back.
        let mut refused = e.clone();
        refused.version_probes.push(v(
            ProtocolVersion::TLS1_1,
            VersionOutcome::Alert(Alert {
                level: AlertLevel::FATAL,
                description: AlertDescription::PROTOCOL_VERSION,
            }),
        ));
        assert_eq!(next_version_probe(TlsVersionMode::Quick, &refused), None);
        assert_eq!(
            next_version_probe(TlsVersionMode::All, &refused),
            Some(ProtocolVersion::TLS1_2)
        );
        // A hello that timed out ends the hellos in both modes.
        e.version_probes
            .push(v(ProtocolVersion::TLS1_2, VersionOutcome::Timeout));
        assert_eq!(next_version_probe(TlsVersionMode::Quick, &e), None);
        assert_eq!(next_version_probe(TlsVersionMode::All, &e), None);
        // So does a main handshake that timed out.
        let stalled = TlsEvidence {
            failures: vec![HandshakeFailure {
                stack: TlsStack::Rustls,
                kind: HandshakeFailureKind::Timeout,
                message: "timed out".into(),
            }],
            ..Default::default()
        };
        assert_eq!(next_version_probe(TlsVersionMode::All, &stalled), None);
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
            VersionOutcome::Alert(Alert {
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
        assert_eq!(next_version_probe(TlsVersionMode::Quick, &e), None);
        assert_eq!(
            next_version_probe(TlsVersionMode::All, &e),
            None,
            "1.1-1.3 refused by the same handshake"
        );
    }
}
