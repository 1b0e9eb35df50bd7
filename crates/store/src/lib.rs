//! A content-addressed store of task2vec results, and suite runs sharded over the array jobs
//! of batch engines (Slurm, Kubernetes Indexed Jobs, AWS Batch, Google Cloud Batch).
//!
//! * [`Key`]: everything a result is a function of, as JSON, and its sha256 — the entry's name.
//! * [`Store`]: `STORE/entries/<digest>/`, each entry published by one atomic rename and never
//!   modified; failures in `STORE/failed/`. Safe for many processes at once, on one machine or
//!   on a shared file system (rename within one directory is atomic on POSIX file systems and
//!   NFS).
//! * [`Shard`], [`resolve_shard`], [`assign_shards`]: which part of a suite a process runs.
//! * With the default feature `embed`: [`runner::Runner`] (a task's result and its key) and
//!   [`suite_run`] (runs, status, the suite's embeddings), used by `task2vec run`,
//!   `task2vec matrix --store` and `cargo xtask reproduce`.
//!
//! ```
//! use task2vec_store::{Key, Store};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path().join("store")).unwrap();
//! let key = Key::new(serde_json::json!({"task": "birds", "seed": 0}));
//! let entry = store.put(&key, |d| std::fs::write(d.join("out.txt"), "42")).unwrap();
//! assert_eq!(std::fs::read_to_string(entry.file("out.txt")).unwrap(), "42");
//! assert!(store.get(&key).unwrap().is_some());
//! ```
#![warn(missing_docs)]

mod error;
mod key;
mod shard;
mod store;

#[cfg(feature = "embed")]
pub mod runner;
#[cfg(feature = "embed")]
pub mod suite_run;

pub use error::StoreError;
pub use key::{Key, canonical};
pub use shard::{Shard, ShardSource, assign_shards, resolve_shard};
pub use store::{Entry, FORMAT, Failure, KEY_FILE, Lookup, MARKER, PutError, Store};
