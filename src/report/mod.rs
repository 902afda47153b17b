//! The output schema and its writers: the only place with `Serialize` output types. Writers
//! never compute verdicts; they render what `analysis` and `compat` decided.

pub mod csv;
pub mod diff;
pub mod gate;
pub mod html;
pub mod matrix;
pub mod output;
pub mod rows;
pub mod sanitize;
pub mod saved;
pub mod schema;
pub mod summary;
pub mod table;
pub mod view;
pub mod xlsx;

pub use html::write_html;
pub use schema::HostReport;
pub use view::ReportView;
pub use xlsx::write_xlsx;
