//! Client profiles and client state: who connects.
//!
//! - [`profile`]: the model ([`ClientProfile`]) and its file form.
//! - [`builtin`]: the named built-in profiles (`patched-mitigated`, ...).
//! - [`build_table`]: Windows build/UBR -> CredSSP fix and defaults.
//! - [`registry`]: registry values and their (pure) interpretation; [`regfile`] (`.reg`
//!   exports) and [`regquery`] (`reg query` output) fill it; `windows` (compiled on Windows
//!   only) reads the live registry.
//! - [`freerdp`]: FreeRDP versions; [`local`]: the `local` profile.
//! - [`fleet`]: the fleet CSV; [`load`]: format detection and the file-reading wrapper.
//! - [`whatif`]: proposed client changes (`--what-if`).
//!
//! This module knows nothing about hosts: [`crate::compat`] correlates.

pub mod build_table;
pub mod builtin;
pub mod elf;
pub mod error;
pub mod fleet;
pub mod freerdp;
pub mod load;
pub mod local;
pub mod profile;
pub mod regfile;
pub mod registry;
pub mod regquery;
pub mod whatif;
#[cfg(windows)]
pub mod windows;

pub use error::{ClientFileError, ParseError};
pub use profile::ClientProfile;
