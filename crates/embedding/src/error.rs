//! The crate's one error type. Every variant says what is wrong in words a user can act on;
//! file-level operations wrap it in [`Error::InFile`] so the message names the file.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Fisher vector has no values.
    #[error("the embedding is empty (no Fisher values)")]
    Empty,
    /// All Fisher values are zero: no distance is defined.
    #[error("all Fisher values are zero (the estimator saw no signal); distances would be 0/0")]
    AllZero,
    /// A vector's length does not match what it must match.
    #[error("{what} has {found} values but {expected} were expected")]
    LengthMismatch {
        /// Which vector (e.g. `scale`).
        what: &'static str,
        /// Its length.
        found: usize,
        /// The length it must have.
        expected: usize,
    },
    /// NaN or ±inf in an input vector.
    #[error("{what}[{index}] is {value}, not a finite number")]
    NonFinite {
        /// Which vector.
        what: &'static str,
        /// Position of the first bad value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// Fisher information is a variance: it is never negative.
    #[error("hessian[{index}] = {value} is negative (Fisher values are >= 0)")]
    NegativeFisher {
        /// Position of the first negative value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// The prior precision must be strictly positive.
    #[error("scale[{index}] = {value} must be > 0 (it is a prior precision)")]
    NonPositiveScale {
        /// Position of the first bad value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// The layer layout is unusable (empty name, zero filters, duplicate layer, ...).
    #[error("bad layout: {0}")]
    BadLayout(String),
    /// Two embeddings cannot be compared (different probe, layout or length).
    #[error("cannot compare {a:?} with {b:?}: {reason}")]
    Incompatible {
        /// First embedding's name.
        a: String,
        /// Second embedding's name.
        b: String,
        /// What differs.
        reason: String,
    },
    /// Two embeddings were made with different settings (estimator, input size, task vs
    /// domain); their distance would measure the settings as much as the tasks.
    #[error(
        "refusing to compare {a:?} with {b:?}: different {what} ({values}); pass --force \
         (library: Compatibility::Structural) to compare anyway"
    )]
    MixedSettings {
        /// First embedding's name.
        a: String,
        /// Second embedding's name.
        b: String,
        /// Which setting differs.
        what: String,
        /// The two values.
        values: String,
    },
    /// The distance cannot be computed in double precision: for the cosine family, one
    /// embedding's values are so much smaller than the other's (≳ 1e150 apart) that every
    /// squared term underflows, or a row has zero variance (`correlation`). Refused rather than
    /// answered with a wrong number.
    #[error(
        "cannot compute `{metric}` between {a:?} and {b:?} in double precision (their Fisher \
         values differ in scale by ~1e150 or more, or one has zero variance)"
    )]
    Unrepresentable {
        /// The metric.
        metric: &'static str,
        /// First embedding's name.
        a: String,
        /// Second embedding's name.
        b: String,
    },
    /// A metric that divides by the Fisher values met a zero.
    #[error(
        "metric `{metric}` needs strictly positive Fisher values, but {name:?} has hessian[{index}] = 0"
    )]
    ZeroFisher {
        /// The metric's name.
        metric: &'static str,
        /// The embedding with the zero.
        name: String,
        /// Position of the first zero.
        index: usize,
    },
    /// Unknown metric / linkage / option name.
    #[error("unknown {what} {name:?} (expected one of: {expected})")]
    UnknownName {
        /// What kind of name (metric, linkage, ...).
        what: &'static str,
        /// The name given.
        name: String,
        /// The accepted names, comma-separated.
        expected: String,
    },
    /// The asymmetric distance needs a trivial embedding.
    #[error(
        "{name:?} has no prior (scale is all ones, e.g. a Monte-Carlo embedding), so its trivial \
         embedding is undefined: supply one (e.g. the embedding of the probe's pre-training task)"
    )]
    NoTrivialEmbedding {
        /// The embedding without a prior.
        name: String,
    },
    /// A JSON document that is cut short.
    #[error("truncated JSON ({0})")]
    TruncatedJson(String),
    /// A JSON document that is not a valid embedding.
    #[error("not a valid task2vec embedding JSON: {0}")]
    BadJson(String),
    /// A JSON document from a newer (or unknown) format version.
    #[error(
        "embedding format_version {found} is not supported (this build reads version {supported}); upgrade task2vec"
    )]
    UnsupportedVersion {
        /// The file's `format_version`.
        found: u64,
        /// The newest version this build reads.
        supported: u64,
    },
    /// A `.npy` file that cannot be read as a vector/matrix of floats.
    #[error("bad .npy file: {0}")]
    Npy(String),
    /// A distance matrix (CSV or .npy) that is not usable.
    #[error("bad distance matrix: {0}")]
    BadMatrix(String),
    /// Invalid arguments to an algorithm (k = 0, too few items, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Operating-system I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Plot rendering failed.
    #[error("plot: {0}")]
    Plot(String),
    /// Any of the above, in a named file.
    // Not a `#[source]`: the message already contains the inner error, and anyhow's `{:#}`
    // would print it twice.
    #[error("{}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What went wrong in it.
        error: Box<Error>,
    },
}

impl Error {
    /// Attach a file name to an error (idempotent: an error already naming a file keeps it).
    pub fn in_file(self, path: impl Into<PathBuf>) -> Error {
        match self {
            Error::InFile { .. } => self,
            other => Error::InFile {
                path: path.into(),
                error: Box::new(other),
            },
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
