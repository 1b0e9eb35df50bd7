//! Atomic output: a file is either its complete new contents or untouched (absent, or its
//! previous contents) — never half written, even if the process is killed or the disk fills up.
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::FileError;

/// Writes `path` atomically: `fill` writes into a temporary file in the same directory (so the
/// final rename never crosses a file system), which is flushed, fsynced and then renamed over
/// `path`. If `fill` or any step fails, the temporary file is removed and `path` is untouched.
///
/// Errors are `fill`'s own or I/O errors converted with `E: From<io::Error>`; they do not name
/// `path` (the caller's error type knows best how to), see [`write_file_atomic`] for one that
/// does. The directory must exist. The new file gets the permissions a plain `File::create`
/// would give it (0666 minus the umask on Unix), not the temporary file's private 0600.
pub fn write_atomic<E: From<io::Error>>(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<&mut File>) -> Result<(), E>,
) -> Result<(), E> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-task2vec-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    // tempfile's own error names the random temporary file, which the user never sees and
    // cannot act on; the caller names `path`, so keep only what went wrong.
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| io::Error::new(e.kind(), without_temp_name(&e)))?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        fill(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// The OS error of `e` without the temporary file's path that tempfile appends
/// (`… at path "/dir/.tmp-task2vec-XXXX"`).
fn without_temp_name(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" at path ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// [`write_atomic`] of a byte string, with errors that name `path`.
pub fn write_file_atomic(path: &Path, contents: &[u8]) -> Result<(), FileError> {
    write_atomic(path, |w| w.write_all(contents)).map_err(|e| FileError::new(path, e))
}

/// Makes the rename itself durable. Best effort: some file systems cannot fsync a directory,
/// and the new file is complete either way.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_and_replaces_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_file_atomic(&path, b"first, longer contents").unwrap();
        write_file_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(entries(dir.path()), ["out.json"]);
    }

    #[test]
    fn a_failing_fill_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_file_atomic(&path, b"old").unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(b"half of the new")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(entries(dir.path()), ["out.json"]);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("out.json");
        let err = write_file_atomic(&path, b"x").unwrap_err();
        assert_eq!(err.path, path);
        let message = err.to_string();
        assert!(message.contains("no-such-dir"), "{message}");
        // Found by ci/robustness.py: the random temporary name is noise to the user.
        assert!(!message.contains(".tmp-task2vec"), "{message}");
    }

    #[cfg(unix)]
    #[test]
    fn the_new_file_is_not_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_file_atomic(&path, b"x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        // The same mode as a plain File::create under the same umask (the temporary file alone
        // would be 0600).
        let plain = dir.path().join("plain");
        File::create(&plain).unwrap();
        let plain_mode = std::fs::metadata(&plain).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, plain_mode);
    }
}
