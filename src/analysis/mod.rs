//! Pure analysis: observations in, verdicts and findings out. No I/O, no clock (`now` is passed in).

pub mod cert;
pub mod findings;
pub mod tls;
