//! probe

pub mod credssp;
