//! The scheduler: a bounded set of endpoints in flight, name resolution, retries after local
//! resource exhaustion, cancellation on Ctrl-C / SIGTERM, and the pipeline of every finished
//! endpoint: probe, analysis, compatibility, then the outputs (one writer loop). No protocol
//! logic lives here.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::analysis::{self, AnalysisOptions};
use crate::client::ClientProfile;
use crate::probe::{self, ProbeOptions, StageError};
use crate::report::HostReport;
use crate::report::output::Outputs;
use crate::report::saved::SavedScan;
use crate::report::schema::{ErrorInfo, Stage, Status};
use crate::report::summary::Summary;
use crate::target::{Candidate, Host, TargetSet};

/// How a hostname target is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Resolve {
    /// The first address the resolver returns.
    #[default]
    First,
    /// Every A and AAAA address.
    All,
}

/// Everything the scheduler needs, resolved from the command line.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    pub probe: ProbeOptions,
    pub analysis: AnalysisOptions,
    /// Endpoints in the full probe at once (`--concurrency`): past their first connection.
    pub concurrency: usize,
    /// Endpoints whose first connection is pending, at once (`--connect-concurrency`): a
    /// socket and a small task each.
    pub connect_concurrency: usize,
    pub resolve: Resolve,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Grace period for in-flight endpoints after Ctrl-C.
    pub grace: Duration,
    /// Endpoints already done in an earlier run (`--resume FILE.jsonl`): never started.
    pub resume: Option<Arc<Resume>>,
    /// The clients every RDP endpoint is evaluated against (`docs/compat.md`).
    pub clients: Arc<Vec<ClientProfile>>,
    /// The scan's clock (seconds since 1970), read once when the scan starts: every verdict of
    /// the scan uses this one instant.
    pub now_unix: i64,
}

/// The endpoints recorded in a JSONL file of an earlier run (`--resume`), keyed like a
/// [`Candidate`]: `(target, port)`. For address targets `target` is the address text, for
/// names the name, so a name probed on several addresses counts as done once any is present.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resume {
    done: std::collections::HashSet<(String, u16)>,
}

impl Resume {
    /// The endpoints of a saved scan (read with `report::saved`).
    pub fn from_saved(saved: &SavedScan) -> Self {
        Self {
            done: saved
                .hosts
                .iter()
                .map(|h| (h.target.clone(), h.port))
                .collect(),
        }
    }

    /// True when the endpoint is already in the file.
    pub fn contains(&self, c: &Candidate) -> bool {
        self.done.contains(&(c.target.clone(), c.port))
    }

    /// Distinct endpoints in the file.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }
}

struct Shared {
    probe: ProbeOptions,
    analysis: AnalysisOptions,
    resolve: Resolve,
    local_errors: AtomicU64,
    clients: Arc<Vec<ClientProfile>>,
    now_unix: i64,
    /// For addresses that names resolve to: `--exclude` applies to them too.
    targets: Arc<TargetSet>,
    /// Every finished report goes here, as soon as it is finished.
    finished: mpsc::UnboundedSender<HostReport>,
    stages: Stages,
}

impl Shared {
    /// The end of one endpoint's pipeline: compatibility cells, then off to the writer.
    fn finish(&self, mut report: HostReport) {
        crate::compat::evaluate_all(&mut report, &self.clients);
        // The receiver lives as long as the scan; a send after it is gone changes nothing.
        let _ = self.finished.send(report);
    }
}

/// Endpoints admitted in one go before the scheduler lets them run.
const ADMIT_BATCH: usize = 256;

/// How many times a connection that failed for local reasons is retried, and the first pause.
const LOCAL_RETRIES: u32 = 6;
const LOCAL_BACKOFF: Duration = Duration::from_millis(50);

/// The wall clock, seconds since 1970: read once per scan, by the caller of [`run`].
pub fn now_unix() -> i64 {
    now_unix_ms() / 1000
}

/// The wall clock in milliseconds since 1970: read when each endpoint's probe starts (the
/// probe itself reads no wall clock).
fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Where the endpoints in flight are: the pending stage (name lookup, `--rate` pacer, first
/// TCP connect) or a full-probe slot. The scheduler admits a new endpoint only while fewer than
/// `--connect-concurrency` are pending.
struct Stages {
    /// Endpoints in flight that hold no full-probe slot.
    pending: AtomicUsize,
    /// Of those, endpoints whose first connection is open and that wait for a slot.
    connected: AtomicUsize,
    /// At most this many wait for a slot with an open connection (`--concurrency`).
    connected_max: usize,
    /// The full-probe slots (`--concurrency`).
    slots: Arc<Semaphore>,
    /// Woken whenever an endpoint leaves the pending stage.
    changed: Notify,
    /// Set when the scan is interrupted: endpoints that have no full-probe slot yet start no
    /// probe (the slots are closed), and count here as not scanned.
    abandoned: AtomicU64,
}

/// One endpoint counted in [`Stages::pending`] until dropped.
struct Pending<'a>(&'a Stages);

impl<'a> Pending<'a> {
    /// Counts one more pending endpoint (the scheduler counts an endpoint when it admits it,
    /// so only a name's second and later addresses enter here).
    fn enter(stages: &'a Stages) -> Self {
        stages.pending.fetch_add(1, Ordering::Relaxed);
        Self(stages)
    }

    /// Takes over the count the scheduler made when it admitted the endpoint.
    fn admitted(stages: &'a Stages) -> Self {
        Self(stages)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::Relaxed);
        self.0.changed.notify_one();
    }
}

/// The first connection, retried after local resource exhaustion (never a property of the
/// host): exponential back-off, each retry counted in the summary.
async fn connect_first(shared: &Shared, addr: SocketAddr) -> probe::FirstConnect {
    let first = probe::connect_first(addr, &shared.probe).await;
    if first.error().is_some_and(StageError::is_local) {
        // Boxed: rare, and the retries' timers need not live in every pending task.
        Box::pin(retry_local(shared, addr, first)).await
    } else {
        first
    }
}

async fn retry_local(
    shared: &Shared,
    addr: SocketAddr,
    mut first: probe::FirstConnect,
) -> probe::FirstConnect {
    let mut pause = LOCAL_BACKOFF;
    for _ in 0..LOCAL_RETRIES {
        if !first.error().is_some_and(StageError::is_local) {
            break;
        }
        shared.local_errors.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(pause).await;
        pause *= 2;
        first = probe::connect_first(addr, &shared.probe).await;
    }
    first
}

/// Probes one address: the pending stage (first connection) under the `pending` count, then,
/// if it connected, the full probe in one of the `--concurrency` slots. A failed first
/// connection (closed, filtered, unreachable) is reported without taking a slot.
async fn probe_one(
    shared: &Shared,
    pending: Pending<'_>,
    target: String,
    name: Option<&str>,
    ip: IpAddr,
    port: u16,
) {
    let addr = SocketAddr::new(ip, port);
    let stages = &shared.stages;
    let mut started_ms = now_unix_ms();
    let first = connect_first(shared, addr).await;
    let mut slot = None;
    let mut first = Some(first);
    if first
        .as_ref()
        .is_some_and(probe::FirstConnect::is_connected)
    {
        slot = Arc::clone(&stages.slots).try_acquire_owned().ok();
        if slot.is_none() {
            if stages.connected.fetch_add(1, Ordering::Relaxed) < stages.connected_max {
                // Wait for a slot with the connection open (the wait is not charged to the
                // endpoint's --timeout).
                slot = Box::pin(Arc::clone(&stages.slots).acquire_owned())
                    .await
                    .ok();
            } else {
                // More connections succeeded at once than slots and waiting room: close this
                // one and connect again when a slot is free.
                first = None;
                slot = Box::pin(Arc::clone(&stages.slots).acquire_owned())
                    .await
                    .ok();
                started_ms = now_unix_ms();
            }
            stages.connected.fetch_sub(1, Ordering::Relaxed);
        }
        if slot.is_none() && stages.slots.is_closed() {
            // Interrupted before its probe: not scanned (its connection closes unused).
            stages.abandoned.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    drop(pending);
    // Boxed: the probe's state lives on the heap only while it runs, so a pending endpoint's
    // task stays small.
    let first = match first {
        Some(first) => first,
        None => Box::pin(connect_first(shared, addr)).await,
    };
    let obs = Box::pin(probe::probe_endpoint_with(addr, name, &shared.probe, first)).await;
    drop(slot);
    let clock = analysis::Clock {
        now_unix: shared.now_unix,
        probe_started_ms: Some(started_ms),
    };
    shared.finish(analysis::analyse(
        HostReport::new(target, Some(ip), port),
        &obs,
        &clock,
        &shared.analysis,
    ));
}

/// Probes one candidate: its address, or each address its name resolves to (`--resolve`),
/// handing each report over as soon as it is finished.
async fn scan_candidate(shared: Arc<Shared>, c: Candidate) {
    let pending = Pending::admitted(&shared.stages);
    match c.host {
        Host::Ip(ip) => probe_one(&shared, pending, c.target, None, ip, c.port).await,
        Host::Name(name) => {
            let started = Instant::now();
            // Boxed, like the probe: a lookup is rare, the task's own future stays small.
            let lookup = Box::pin(tokio::time::timeout(
                shared.probe.connect_timeout.max(Duration::from_secs(5)),
                tokio::net::lookup_host((name.as_str(), c.port)),
            ))
            .await;
            let addrs: Vec<IpAddr> = match lookup {
                Ok(Ok(addrs)) => {
                    let mut ips: Vec<IpAddr> = Vec::new();
                    for a in addrs {
                        if !ips.contains(&a.ip()) {
                            ips.push(a.ip());
                        }
                    }
                    ips
                }
                Ok(Err(e)) => {
                    return unresolved(&shared, c.target, c.port, e.to_string(), started);
                }
                Err(_) => {
                    let why = "name lookup timed out".to_owned();
                    return unresolved(&shared, c.target, c.port, why, started);
                }
            };
            if addrs.is_empty() {
                let why = "the name has no addresses".to_owned();
                return unresolved(&shared, c.target, c.port, why, started);
            }
            let take = match shared.resolve {
                Resolve::First => 1,
                Resolve::All => addrs.len(),
            };
            // Addresses under --exclude are skipped silently, as they are for address targets.
            let allowed = addrs
                .into_iter()
                .filter(|ip| !shared.targets.is_excluded(*ip, c.port));
            let mut pending = Some(pending);
            for ip in allowed.take(take) {
                let stage = pending
                    .take()
                    .unwrap_or_else(|| Pending::enter(&shared.stages));
                // Boxed: names are rare; an address's task stays small.
                Box::pin(probe_one(
                    &shared,
                    stage,
                    c.target.clone(),
                    Some(&name),
                    ip,
                    c.port,
                ))
                .await;
            }
        }
    }
}

fn unresolved(shared: &Shared, target: String, port: u16, why: String, started: Instant) {
    let mut r = HostReport::new(target.clone(), None, port);
    r.status = Status::Error;
    r.error = Some(ErrorInfo {
        stage: Stage::Resolve,
        message: format!("cannot resolve {target}: {why}"),
    });
    r.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    shared.finish(r);
}

/// Resolves when the user asks the scan to stop (Ctrl-C, or SIGTERM on Unix).
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn progress_bar(total: u64, enabled: bool) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {pos}/{len} endpoints  {per_sec}  ETA {eta}  {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Counts a finished endpoint task.
fn joined_task(joined: Result<(), tokio::task::JoinError>, bar: &indicatif::ProgressBar) {
    if let Err(e) = joined {
        // A panicking probe is a bug; keep scanning and say so.
        tracing::error!("an endpoint task failed: {e}");
    }
    bar.inc(1);
}

/// Scans every candidate of `targets`, writing each report to `outputs` as it finishes.
/// Returns the summary; `summary.interrupted` tells whether the user stopped the scan.
pub async fn run(
    cfg: &ScanConfig,
    targets: Arc<TargetSet>,
    outputs: &mut Outputs,
) -> Result<Summary> {
    let (finished, mut reports) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        probe: cfg.probe.clone(),
        analysis: cfg.analysis.clone(),
        resolve: cfg.resolve,
        local_errors: AtomicU64::new(0),
        clients: Arc::clone(&cfg.clients),
        now_unix: cfg.now_unix,
        targets: targets.clone(),
        finished,
        stages: Stages {
            pending: AtomicUsize::new(0),
            connected: AtomicUsize::new(0),
            connected_max: cfg.concurrency.max(1),
            slots: Arc::new(Semaphore::new(cfg.concurrency.max(1))),
            changed: Notify::new(),
            abandoned: AtomicU64::new(0),
        },
    });
    let names: Vec<String> = cfg.clients.iter().map(|c| c.name.clone()).collect();
    let total = targets.len();
    let bar = progress_bar(total, cfg.progress);
    let mut summary = Summary::new(&names);
    let mut candidates = targets.iter();
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let mut started: u64 = 0;
    let stop = interrupted();
    tokio::pin!(stop);
    let mut write = |r: HostReport, summary: &mut Summary| -> Result<()> {
        summary.add(&r);
        bar.suspend(|| outputs.write(&r))
    };

    let pending_max = cfg.connect_concurrency.max(1);
    // Every task until it is joined, finished ones included: the memory bound.
    let tasks_max = pending_max.saturating_add(cfg.concurrency.max(1));
    loop {
        // Everything already finished: written and joined before more are admitted, so
        // finished tasks and reports never pile up behind a fast range (closed ports).
        while let Ok(r) = reports.try_recv() {
            write(r, &mut summary)?;
        }
        while let Some(joined) = in_flight.try_join_next() {
            joined_task(joined, &bar);
        }
        // Admit endpoints while fewer than --connect-concurrency are pending; the ones in the
        // full probe (at most --concurrency) do not count. At most ADMIT_BATCH at a time, then
        // the new tasks run: closed ports and live hosts leave the pending stage within
        // microseconds on a LAN, so only a filtered range fills it (and in milliseconds).
        let mut admitted = 0;
        while shared.stages.pending.load(Ordering::Relaxed) < pending_max
            && in_flight.len() < tasks_max
        {
            if admitted == ADMIT_BATCH {
                break;
            }
            let Some(c) = candidates.next() else { break };
            if cfg.resume.as_ref().is_some_and(|done| done.contains(&c)) {
                summary.resumed += 1;
                bar.inc(1);
                continue;
            }
            started += 1;
            admitted += 1;
            shared.stages.pending.fetch_add(1, Ordering::Relaxed);
            in_flight.spawn(scan_candidate(shared.clone(), c));
        }
        let batch_full = admitted == ADMIT_BATCH;
        if in_flight.is_empty() {
            break;
        }
        tokio::select! {
            // Reports first: a report is written before its task counts as done.
            biased;
            Some(r) = reports.recv() => write(r, &mut summary)?,
            // An endpoint left the pending stage: room to admit another.
            () = shared.stages.changed.notified() => {}
            // A full batch: admit the next once the tasks ready to run have run.
            () = tokio::task::yield_now(), if batch_full => {}
            Some(joined) = in_flight.join_next() => joined_task(joined, &bar),
            () = &mut stop => {
                summary.interrupted = true;
                // Endpoints without a full-probe slot start none: only the probes under way,
                // and the pending connects (which send nothing), finish in the grace period.
                shared.stages.slots.close();
                bar.println(format!(
                    "interrupted: finishing {} endpoints in flight (up to {} s), starting no new ones",
                    in_flight.len(),
                    cfg.grace.as_secs()
                ));
                let grace = tokio::time::sleep(cfg.grace);
                tokio::pin!(grace);
                loop {
                    tokio::select! {
                        biased;
                        Some(r) = reports.recv() => write(r, &mut summary)?,
                        joined = in_flight.join_next() => if joined.is_none() { break },
                        () = &mut grace => {
                            let left = in_flight.len() as u64;
                            in_flight.abort_all();
                            started -= left;
                            break;
                        }
                    }
                }
                break;
            }
        }
    }
    // Reports of tasks that ended (or were aborted) after handing them over.
    while let Ok(r) = reports.try_recv() {
        write(r, &mut summary)?;
    }
    bar.finish_and_clear();
    started = started.saturating_sub(shared.stages.abandoned.load(Ordering::Relaxed));
    summary.skipped = total.saturating_sub(started + summary.resumed);
    summary.local_errors = shared.local_errors.load(Ordering::Relaxed);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::parse_target;

    fn shared(concurrency: usize) -> (Arc<Shared>, mpsc::UnboundedReceiver<HostReport>) {
        let (finished, reports) = mpsc::unbounded_channel();
        let targets = Arc::new(
            TargetSet::new(Vec::new(), Vec::new(), &[3389], 0, None).expect("an empty target set"),
        );
        let shared = Shared {
            probe: ProbeOptions::default(),
            analysis: AnalysisOptions::default(),
            resolve: Resolve::First,
            local_errors: AtomicU64::new(0),
            clients: Arc::new(Vec::new()),
            now_unix: 0,
            targets,
            finished,
            stages: Stages {
                pending: AtomicUsize::new(0),
                connected: AtomicUsize::new(0),
                connected_max: concurrency,
                slots: Arc::new(Semaphore::new(concurrency)),
                changed: Notify::new(),
                abandoned: AtomicU64::new(0),
            },
        };
        (Arc::new(shared), reports)
    }

    fn candidate(target: &str) -> Candidate {
        let spec = parse_target(target).expect("a target");
        let set = TargetSet::new(vec![spec], Vec::new(), &[3389], 0, None).expect("target set");
        set.iter().next().expect("one candidate")
    }

    /// The future of an endpoint's task is what a pending connect costs in the task (tokio
    /// adds a header of about 100 bytes); the probe and the name lookup are boxed, so only
    /// the first connect's state is in it. The budget is 2 KB per pending connect,
    /// the socket's registration with the runtime included (measured in tests/pending.rs).
    #[test]
    fn a_pending_endpoint_task_is_small() {
        let (shared, _reports) = shared(1);
        let task = scan_candidate(shared, candidate("127.0.0.1"));
        let size = std::mem::size_of_val(&task);
        eprintln!("an endpoint task future: {size} bytes");
        // 1,120 bytes in a debug build (the first connect's own future is 440).
        assert!(size <= 1152, "an endpoint's task future is {size} bytes");
        // The full probe, were it not boxed, would dwarf it.
        let opts = ProbeOptions::default();
        let addr = SocketAddr::from(([127, 0, 0, 1], 3389));
        let probe = probe::probe_endpoint(addr, None, &opts);
        assert!(
            std::mem::size_of_val(&probe) > 2 * size,
            "probe {} bytes, task {size}",
            std::mem::size_of_val(&probe)
        );
    }

    /// A pending endpoint leaves the count when its task ends, and wakes the scheduler.
    #[tokio::test]
    async fn a_closed_endpoint_leaves_the_pending_stage_without_a_slot() {
        let (shared, mut reports) = shared(1);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        // The only slot is taken: a closed port must not need it.
        let slot = Arc::clone(&shared.stages.slots)
            .try_acquire_owned()
            .expect("the slot");
        shared.stages.pending.fetch_add(1, Ordering::Relaxed);
        scan_candidate(shared.clone(), candidate(&format!("127.0.0.1:{port}"))).await;
        drop(slot);
        assert_eq!(shared.stages.pending.load(Ordering::Relaxed), 0);
        let report = reports.recv().await.expect("a report");
        assert_eq!(report.status, Status::Closed);
        assert_eq!(report.connections, 1);
        // The scheduler is woken (a stored permit: this returns at once).
        shared.stages.changed.notified().await;
    }
}
