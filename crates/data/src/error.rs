//! Typed errors: every variant names the file (and line, where there is one) it is about.
use std::path::PathBuf;

/// Everything that can go wrong while reading a dataset or a task suite.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or directory could not be read.
    // Not a `#[source]` (nor a field named `source`, which thiserror would make one): the
    // message already contains the I/O error, and a renderer that prints the cause chain
    // (anyhow's `{:#}`, the CLI) would print it twice.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory the error is about.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// A directory (through a symbolic link) contains itself, so walking it would never end.
    #[error("{path}: a symbolic link loop: this directory is {ancestor} again")]
    DirectoryLoop {
        /// The directory reached again.
        path: PathBuf,
        /// The ancestor it resolves to.
        ancestor: String,
    },
    /// The path is none of the layouts this crate reads.
    #[error(
        "{path}: not a dataset this crate can read (expected an ImageFolder directory with one \
         subfolder per class, a CSV manifest `path,label`, or MNIST-style IDX files)"
    )]
    UnknownFormat {
        /// The file or directory the error is about.
        path: PathBuf,
    },
    /// An ImageFolder directory has images directly inside it but no class subfolders.
    #[error("{path}: the directory holds images but no class subfolders{hint}")]
    NoClassFolders {
        /// The file or directory the error is about.
        path: PathBuf,
        /// Extra advice appended to the message (may be empty).
        hint: &'static str,
    },
    /// A class folder holds no images.
    #[error("{path}: class folder `{class}` holds no images")]
    EmptyClass {
        /// The file or directory the error is about.
        path: PathBuf,
        /// The class (folder) name.
        class: String,
    },
    /// A task needs at least two classes to fit a head.
    #[error("{path}: the dataset has {found} class(es); at least 2 are needed to fit a task head")]
    TooFewClasses {
        /// The file or directory the error is about.
        path: PathBuf,
        /// How many classes the dataset has.
        found: usize,
    },
    /// A class of a view (e.g. after subsampling) has no samples left.
    #[error("{path}: class `{class}` has no samples")]
    ClassWithoutSamples {
        /// The file or directory the error is about.
        path: PathBuf,
        /// The class name.
        class: String,
    },
    /// The dataset (or view) is empty.
    #[error("{path}: the dataset holds no samples")]
    NoSamples {
        /// The file or directory the error is about.
        path: PathBuf,
    },
    /// A CSV manifest row cannot be parsed.
    #[error("{path}, line {line}: {message}")]
    MalformedCsv {
        /// The file or directory the error is about.
        path: PathBuf,
        /// 1-based line number in the CSV file.
        line: u64,
        /// What is wrong with the row.
        message: String,
    },
    /// A CSV manifest names an image file that does not exist.
    #[error("{csv}, line {line}: image file {file} does not exist")]
    MissingFile {
        /// The manifest.
        csv: PathBuf,
        /// 1-based line number in the manifest.
        line: u64,
        /// The missing image file.
        file: PathBuf,
    },
    /// An IDX file is not a valid MNIST-style IDX file.
    #[error("{path}: malformed IDX file: {message}")]
    MalformedIdx {
        /// The file or directory the error is about.
        path: PathBuf,
        /// What is wrong (magic number, dimensions, size).
        message: String,
    },
    /// IDX images and labels files disagree on the number of samples.
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    IdxLengthMismatch {
        /// The IDX images file.
        images: PathBuf,
        /// The IDX labels file.
        labels: PathBuf,
        /// Number of images in `images`.
        n_images: usize,
        /// Number of labels in `labels`.
        n_labels: usize,
    },
    /// A numeric label has no entry in the list of class names.
    #[error("{path}: label {label} has no class name ({n_names} names listed)")]
    LabelWithoutName {
        /// The file or directory the error is about.
        path: PathBuf,
        /// The label.
        label: usize,
        /// How many class names are listed.
        n_names: usize,
    },
    /// A selected class is not in the dataset.
    #[error("{path}: unknown class `{name}`; known classes: {known}")]
    UnknownClass {
        /// The file or directory the error is about.
        path: PathBuf,
        /// The class asked for.
        name: String,
        /// The dataset's classes, comma-separated, for the message.
        known: String,
    },
    /// A class is selected twice.
    #[error("{path}: class `{name}` is selected twice")]
    DuplicateClass {
        /// The file or directory the error is about.
        path: PathBuf,
        /// The class name.
        name: String,
    },
    /// An image file cannot be decoded.
    #[error("{path}: cannot decode image: {reason}")]
    BadImage {
        /// The file or directory the error is about.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// A sample index past the end of the dataset.
    #[error("sample index {index} is out of range (the dataset has {len} samples)")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// Number of samples in the dataset.
        len: usize,
    },
    /// A task-suite file is malformed or inconsistent.
    #[error("{path}: invalid task suite: {message}")]
    InvalidSuite {
        /// The file or directory the error is about.
        path: PathBuf,
        /// What is wrong (TOML error, duplicate id, contradictory rules).
        message: String,
    },
    /// A suite task needs a source that `cargo xtask fetch` has not installed.
    #[error(
        "{path}: source `{source_name}` has not been fetched; run `cargo xtask fetch {source_name}`"
    )]
    SourceNotFetched {
        /// The file or directory the error is about.
        path: PathBuf,
        /// The source's name (`cargo xtask fetch NAME`).
        source_name: String,
    },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            error: source,
        }
    }
}
