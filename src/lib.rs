//! rdpsweep: a concurrent, credential-free RDP posture scanner.
//!
//! See `ARCHITECTURE.md` for the code map and the invariants between modules. In short:
//! [`target`] turns strings into endpoints, [`probe`] does the network I/O and returns
//! observations, [`analysis`] turns observations into a [`report::HostReport`], [`compat`]
//! predicts client outcomes, and [`report`] writes the results. [`proto`], [`analysis`] and
//! [`compat`] are sans-IO: no sockets, no files, no clock.

// Untrusted input never panics the scanner: no unwrap/expect/panic/indexing outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::string_slice
    )
)]

pub mod analysis;
pub mod cli;
pub mod client;
pub mod compat;
pub mod observe;
pub mod probe;
pub mod proto;
pub mod report;
pub mod scan;
pub mod target;
#[cfg(test)]
mod test_certs;
#[cfg(test)]
mod test_fixtures;
