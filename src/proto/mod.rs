//! proto

pub mod ntlm;
pub mod tsrequest;
