//! The output schema and its writers. The only place with `Serialize` types for output.

pub mod matrix;
pub mod sanitize;
pub mod schema;

pub use schema::HostReport;
