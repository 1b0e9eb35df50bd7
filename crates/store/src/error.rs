//! Errors of the store: each names the file or directory it is about.
use std::path::PathBuf;

/// What can go wrong opening, reading or writing a store, or choosing a shard.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The directory holds files but no store marker: refusing to write results into it.
    #[error(
        "{path}: not a task2vec store (it is not empty and has no {marker}); pass an empty or new directory"
    )]
    NotAStore {
        /// The directory.
        path: PathBuf,
        /// The marker file's name.
        marker: &'static str,
    },
    /// The store was written by a newer version with another layout.
    #[error("{path}: store format {found} is newer than this version understands ({supported})")]
    NewerFormat {
        /// The marker file.
        path: PathBuf,
        /// Its format number.
        found: u32,
        /// The newest this version reads.
        supported: u32,
    },
    /// A file of the store is not what the store writes (edited by hand, or damaged).
    #[error("{path}: {message}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A shard flag or an engine's environment variables do not describe a valid shard.
    #[error("{0}")]
    Shard(String),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<task2vec_common::FileError> for StoreError {
    fn from(e: task2vec_common::FileError) -> Self {
        StoreError::Io {
            path: e.path,
            source: e.source,
        }
    }
}
