//! The one error type of this crate: an I/O failure and the file it happened to.
use std::fmt;
use std::io;
use std::path::PathBuf;

/// An I/O error on a named file. Its message is one line that starts with the path, so callers
/// can show it as is (or take `path` and `source` apart to build their own typed error).
#[derive(Debug)]
pub struct FileError {
    /// The file (or directory) the operation was about.
    pub path: PathBuf,
    /// What went wrong.
    pub source: io::Error,
}

impl FileError {
    pub(crate) fn new(path: impl Into<PathBuf>, source: io::Error) -> Self {
        FileError {
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.source)
    }
}

// No `source()`: the message already contains the I/O error, and a renderer that prints the
// cause chain (anyhow's `{:#}`, the CLI) would print it twice. The error is in `source`.
impl std::error::Error for FileError {}

impl From<FileError> for io::Error {
    /// Keeps the error kind and puts the path into the message.
    fn from(e: FileError) -> Self {
        io::Error::new(e.source.kind(), e.to_string())
    }
}
