//! rdpsweep: a concurrent, credential-free RDP posture scanner.
//!
//! See `ARCHITECTURE.md` for the code map and the invariants between modules.
