//! Typed errors: every variant names the file (and line, where there is one) it is about.
use std::path::PathBuf;

/// Everything that can go wrong while reading a dataset or a task suite.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    // Not a `#[source]` (nor a field named `source`, which thiserror would make one): the
    // message already contains the I/O error, and a renderer that prints the cause chain
    // (anyhow's `{:#}`, the CLI) would print it twice.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{path}: not a dataset this crate can read (expected an ImageFolder directory with one \
         subfolder per class, a CSV manifest `path,label`, or MNIST-style IDX files)"
    )]
    UnknownFormat { path: PathBuf },
    #[error("{path}: the directory holds images but no class subfolders{hint}")]
    NoClassFolders { path: PathBuf, hint: &'static str },
    #[error("{path}: class folder `{class}` holds no images")]
    EmptyClass { path: PathBuf, class: String },
    #[error("{path}: the dataset has {found} class(es); at least 2 are needed to fit a task head")]
    TooFewClasses { path: PathBuf, found: usize },
    #[error("{path}: class `{class}` has no samples")]
    ClassWithoutSamples { path: PathBuf, class: String },
    #[error("{path}: the dataset holds no samples")]
    NoSamples { path: PathBuf },
    #[error("{path}, line {line}: {message}")]
    MalformedCsv {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{csv}, line {line}: image file {file} does not exist")]
    MissingFile {
        csv: PathBuf,
        line: u64,
        file: PathBuf,
    },
    #[error("{path}: malformed IDX file: {message}")]
    MalformedIdx { path: PathBuf, message: String },
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    IdxLengthMismatch {
        images: PathBuf,
        labels: PathBuf,
        n_images: usize,
        n_labels: usize,
    },
    #[error("{path}: label {label} has no class name ({n_names} names listed)")]
    LabelWithoutName {
        path: PathBuf,
        label: usize,
        n_names: usize,
    },
    #[error("{path}: unknown class `{name}`; known classes: {known}")]
    UnknownClass {
        path: PathBuf,
        name: String,
        known: String,
    },
    #[error("{path}: class `{name}` is selected twice")]
    DuplicateClass { path: PathBuf, name: String },
    #[error("{path}: cannot decode image: {reason}")]
    BadImage { path: PathBuf, reason: String },
    #[error("sample index {index} is out of range (the dataset has {len} samples)")]
    IndexOutOfRange { index: usize, len: usize },
    #[error("{path}: invalid task suite: {message}")]
    InvalidSuite { path: PathBuf, message: String },
    #[error(
        "{path}: source `{source_name}` has not been fetched; run `cargo xtask fetch {source_name}`"
    )]
    SourceNotFetched { path: PathBuf, source_name: String },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            error: source,
        }
    }
}
