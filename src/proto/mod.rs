//! Sans-IO protocol codecs, named after the specifications. No sockets, no files, no clock,
//! no panics on input: every function here takes bytes and returns values or typed errors.

pub mod mcs;
pub mod ntlm;
pub mod tls;
pub mod tsrequest;
pub mod x224;
