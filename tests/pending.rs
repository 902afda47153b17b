//! What a pending connect costs: the scheduler keeps many first TCP connections pending at
//! once (`--connect-concurrency`), and each must hold no probe buffers, only a socket and a
//! small task. Measured as the hostile suite measures a probe: a counting allocator, the scan
//! run on a current-thread runtime on the test's own thread.
//!
//! A connect that stays pending on loopback without privileges: listeners whose accept queue
//! is full (backlog 0, filled by connections never accepted) drop every further SYN, as a
//! firewall's drop rule does, so the scanner's connects wait for `--connect-timeout`. The
//! endpoints are reported `filtered`, which the test checks (so the figure is not that of
//! refused connects). The real RSS of 16,384 pending connects is measured by the benchmark's
//! `firewalled` phase (`bench/`), not here; there is no timing assertion.

// The full accept queue that keeps connects pending is Linux behaviour.
#![cfg(target_os = "linux")]

#[path = "hostile/alloc.rs"]
mod alloc;
mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rdpsweep::analysis::AnalysisOptions;
use rdpsweep::probe::ProbeOptions;
use rdpsweep::report::output::{OutputSpec, Outputs};
use rdpsweep::scan::{self, Resolve, ScanConfig};
use rdpsweep::target::{TargetSet, parse_target};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// The budget per pending connect, heap bytes.
const BUDGET_PER_PENDING: usize = 2048;

/// `count` listeners on 127.0.6.x whose accept queues are full (`support::Filtered`): every
/// later SYN is dropped.
fn silent_listeners(count: u8) -> (Vec<SocketAddr>, Vec<support::Filtered>) {
    let listeners: Vec<support::Filtered> = (1..=count)
        .map(|h| support::Filtered::start(Ipv4Addr::new(127, 0, 6, h)))
        .collect();
    (
        listeners.iter().map(|f| SocketAddr::V4(f.addr)).collect(),
        listeners,
    )
}

/// Scans `addrs` with every first connect pending at once; returns the peak heap growth and
/// the statuses reported.
fn scan_pending(addrs: &[SocketAddr]) -> (usize, Vec<String>) {
    let specs = addrs
        .iter()
        .map(|a| parse_target(&a.to_string()).expect("target"))
        .collect();
    let targets = Arc::new(TargetSet::new(specs, Vec::new(), &[3389], 0, None).expect("targets"));
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("out.jsonl");
    let cfg = ScanConfig {
        probe: ProbeOptions {
            connect_timeout: Duration::from_secs(1),
            ..ProbeOptions::default()
        },
        analysis: AnalysisOptions::default(),
        concurrency: 4,
        connect_concurrency: addrs.len(),
        resolve: Resolve::First,
        progress: false,
        grace: Duration::from_secs(1),
        resume: None,
        clients: Arc::new(Vec::new()),
        now_unix: 0,
    };
    let spec = OutputSpec {
        stdout: None,
        files: vec![(jsonl.clone(), rdpsweep::report::output::Format::Jsonl)],
        matrix: None,
        append: None,
        clients: Vec::new(),
        rows: Default::default(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (summary, peak) = alloc::peak_heap(|| {
        let mut outputs = Outputs::open(&spec).expect("outputs");
        let summary = rt
            .block_on(scan::run(&cfg, targets, &mut outputs))
            .expect("the scan runs");
        drop(outputs);
        summary
    });
    assert_eq!(
        summary.endpoints,
        addrs.len() as u64,
        "every endpoint reported"
    );
    let statuses = std::fs::read_to_string(&jsonl)
        .expect("the JSONL output")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            v["status"].as_str().unwrap_or("?").to_owned()
        })
        .collect();
    (peak, statuses)
}

#[test]
fn a_pending_connect_holds_no_probe_buffers() {
    let (addrs, _listeners) = silent_listeners(240);
    // Warm up once-per-process state (tracing, the resolver, lazy statics) outside the figures.
    let _ = scan_pending(&addrs[..8]);
    let (small, statuses_small) = scan_pending(&addrs[..40]);
    let (large, statuses) = scan_pending(&addrs);
    for s in statuses.iter().chain(&statuses_small) {
        assert_eq!(
            s, "filtered",
            "the connects stayed pending until the timeout"
        );
    }
    let per_pending = large.saturating_sub(small) / (addrs.len() - 40);
    eprintln!(
        "peak heap: {small} bytes with 40 pending connects, {large} with {}: {per_pending} bytes per pending connect",
        addrs.len()
    );
    assert!(
        per_pending <= BUDGET_PER_PENDING,
        "{per_pending} heap bytes per pending connect (budget {BUDGET_PER_PENDING})"
    );
    // Far below a probe's buffers (a TLS session alone is tens of kilobytes).
    assert!(large < 240 * 4096, "peak heap {large} bytes");
}
