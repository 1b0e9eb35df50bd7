//! Helpers shared by every task2vec-rs crate, each defined exactly once:
//!
//! * [`home_dir`]: where fetched datasets and probe weights live (`$TASK2VEC_HOME`, default
//!   `~/.cache/task2vec`);
//! * [`sha256_file`], [`sha256_bytes`], [`hex`]: the checksums recorded in provenance and
//!   manifests;
//! * [`write_atomic`], [`write_file_atomic`]: outputs that are either complete or absent;
//! * [`peak_rss_bytes`]: the process's peak resident memory, as runs report it;
//! * [`taxonomic_distance`]: levels from two taxonomy paths (root first) to their closest common
//!   ancestor.
//!
//! ```
//! use task2vec_common::{sha256_bytes, taxonomic_distance};
//!
//! assert!(sha256_bytes(b"abc").starts_with("ba7816bf"));
//! assert_eq!(taxonomic_distance(&["animals", "birds", "crows"], &["animals", "fish"]), 2);
//! ```
#![warn(missing_docs)]

mod atomic;
mod error;
mod hash;
mod home;
mod memory;
mod taxonomy;

pub use atomic::{write_atomic, write_file_atomic};
pub use error::FileError;
pub use hash::{hex, sha256_bytes, sha256_file};
pub use home::{HOME_VAR, home_dir, home_dir_from};
pub use memory::peak_rss_bytes;
pub use taxonomy::taxonomic_distance;
