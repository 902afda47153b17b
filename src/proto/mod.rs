//! Sans-IO protocol codecs named after the specs.

pub mod tls;
