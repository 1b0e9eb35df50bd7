//! The one error type of the estimator crate.
use thiserror::Error;

/// Everything that can go wrong while embedding a task. Each variant names the problem in words a
/// user can act on; none of them is a panic.
#[derive(Debug, Error)]
pub enum FisherError {
    /// An option has a value outside its domain (caught once, by [`crate::EmbedOptions::resolve`]).
    #[error("invalid option `{name}`: {reason}")]
    InvalidOption {
        /// The option's name as the command line spells it.
        name: &'static str,
        /// What is wrong with its value.
        reason: String,
    },

    /// The task cannot be embedded as given (no samples, one class, labels out of range, ...).
    #[error("invalid task: {0}")]
    InvalidTask(String),

    /// A combination of options that the estimator does not support, with the reason.
    #[error("unsupported configuration: {0}")]
    Unsupported(String),

    /// A numeric failure: a loss or a Fisher value that is not finite.
    #[error("numerical failure: {0}")]
    Numerical(String),

    /// The probe could not be used (a tensor read-back, preprocessing, an input size, ...).
    #[error(transparent)]
    Probe(#[from] task2vec_probe::ProbeError),

    /// The probe does not fit what the estimator needs (its layout disagrees with the taps).
    #[error("probe: {0}")]
    ProbeMismatch(String),

    /// The dataset could not be read or is not a usable task; the source names the file.
    #[error(transparent)]
    Data(#[from] task2vec_data::DataError),

    /// The embedding could not be built from the estimate.
    #[error(transparent)]
    Embedding(#[from] task2vec_embedding::Error),

    /// A file the pipeline writes for itself (the activation spill file) failed; the message
    /// names the directory and the operation.
    #[error("{0}")]
    Io(String),

    /// The options could not be recorded in the embedding's provenance.
    #[error("recording the options in provenance: {0}")]
    Provenance(#[from] serde_json::Error),
}

/// Shorthand used across the crate.
pub type Result<T, E = FisherError> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> FisherError {
    FisherError::InvalidOption {
        name,
        reason: reason.into(),
    }
}
