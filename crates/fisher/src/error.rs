//! The one error type of the estimator crate.
use thiserror::Error;

/// Everything that can go wrong while embedding a task. Each variant names the problem in words a
/// user can act on; none of them is a panic.
#[derive(Debug, Error)]
pub enum FisherError {
    /// An option has a value outside its domain (caught once, by [`crate::EmbedOptions::validate`]).
    #[error("invalid option `{name}`: {reason}")]
    InvalidOption { name: &'static str, reason: String },

    /// The task cannot be embedded as given (no samples, one class, labels out of range, ...).
    #[error("invalid task: {0}")]
    InvalidTask(String),

    /// A combination of options that the estimator does not support, with the reason.
    #[error("unsupported configuration: {0}")]
    Unsupported(String),

    /// A numeric failure: a loss or a Fisher value that is not finite.
    #[error("numerical failure: {0}")]
    Numerical(String),

    /// The probe could not be used.
    #[error("probe: {0}")]
    Probe(String),

    /// The dataset could not be read.
    #[error("dataset: {0}")]
    Data(String),

    /// The embedding could not be built from the estimate.
    #[error("embedding: {0}")]
    Embedding(String),
}

/// Shorthand used across the crate.
pub type Result<T, E = FisherError> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> FisherError {
    FisherError::InvalidOption {
        name,
        reason: reason.into(),
    }
}
