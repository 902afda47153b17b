//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/`) and every crash input
//! found by fuzzing (`fuzz/regressions/<target>/`) through the same entry points the fuzz
//! targets use (`fuzz/src/lib.rs`, included below), under plain `cargo test`: a decoder
//! regression is caught without a fuzzer or a nightly toolchain. See docs/fuzzing.md.

#[path = "../fuzz/src/lib.rs"]
mod fuzz;

use std::path::{Path, PathBuf};

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs one target over its corpus and regressions; fails naming every input that panics.
fn replay(name: &str) {
    let (_, entry) = fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fuzz entry point named {name}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = files_in(&root.join("corpus").join(name));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{name}/ is missing or empty: every target needs a committed seed corpus"
    );
    let regressions = files_in(&root.join("regressions").join(name));
    let mut failed = Vec::new();
    for file in corpus.iter().chain(&regressions) {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if std::panic::catch_unwind(|| entry(&bytes)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{name}: {} of {} inputs panic: {failed:#?}",
        failed.len(),
        corpus.len() + regressions.len()
    );
}

/// Every entry point has a test below (so a new target cannot be forgotten here).
#[test]
fn every_fuzz_target_is_replayed() {
    let tested = [
        "x224",
        "target_spec",
        "target_list",
        "ports",
        "sanitize",
        "saved_scan",
        "tls_flight",
        "certificate",
        "tsrequest",
        "ntlm",
        "client_state",
        "client_fleet",
        "mcs_response",
    ];
    for (name, _) in fuzz::TARGETS {
        assert!(
            tested.contains(name),
            "fuzz target {name} has no replay test in tests/fuzz_corpus.rs"
        );
    }
}

#[test]
fn x224() {
    replay("x224");
}

#[test]
fn target_spec() {
    replay("target_spec");
}

#[test]
fn target_list() {
    replay("target_list");
}

#[test]
fn ports() {
    replay("ports");
}

#[test]
fn sanitize() {
    replay("sanitize");
}

#[test]
fn saved_scan() {
    replay("saved_scan");
}

#[test]
fn tls_flight() {
    replay("tls_flight");
}

#[test]
fn certificate() {
    replay("certificate");
}

#[test]
fn tsrequest() {
    replay("tsrequest");
}

#[test]
fn ntlm() {
    replay("ntlm");
}

#[test]
fn client_state() {
    replay("client_state");
}

#[test]
fn client_fleet() {
    replay("client_fleet");
}

#[test]
fn mcs_response() {
    replay("mcs_response");
}
