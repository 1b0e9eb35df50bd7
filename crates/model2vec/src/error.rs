//! The crate's one error type. Every variant says what is wrong in words a user can act on and,
//! for file operations, names the file (and the line, for CSV input).

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A CSV file is malformed (bad header, non-numeric field, value out of range, duplicate).
    #[error("{}:{line}: {reason}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is line 1).
        line: u64,
        /// What is wrong with that line.
        reason: String,
    },
    /// A JSON file could not be parsed or does not describe what it should.
    #[error("{}: {reason}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An argument is unusable (empty input, mismatched shapes, NaN, out-of-range option, ...).
    #[error("{0}")]
    InvalidArgument(String),
    /// A computation could not produce a finite result.
    #[error("numerical failure: {0}")]
    Numerical(String),
    /// An embedding operation failed (incompatible embeddings, ...).
    #[error(transparent)]
    Embedding(#[from] task2vec_embedding::Error),
    // expert-feature variants are added below by the expert module's owner
    /// Training, loading or running an expert failed (feature `expert`).
    /// (Boxed: the burn stack's errors are large, and every pure-math `Result` would carry them.)
    #[cfg(feature = "expert")]
    #[error(transparent)]
    Expert(Box<crate::expert::ExpertError>),
}

#[cfg(feature = "expert")]
impl From<crate::expert::ExpertError> for Error {
    fn from(e: crate::expert::ExpertError) -> Self {
        Error::Expert(Box::new(e))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for an [`Error::InvalidArgument`].
pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidArgument(message.into())
}
