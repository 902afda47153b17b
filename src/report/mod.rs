//! The output schema and its writers. The only place with `Serialize` types for output.

pub mod schema;

pub use schema::HostReport;
