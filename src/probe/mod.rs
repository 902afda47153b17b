//! Network drivers (tokio): each stage returns observations, never verdicts.

pub mod tls;
