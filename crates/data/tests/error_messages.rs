//! How errors read when rendered with their cause chain, as the CLI does (anyhow's `{:#}`):
//! each piece of information once. Found by `ci/robustness.py` (an unreadable class folder
//! printed "Permission denied (os error 13): Permission denied (os error 13)").
use std::error::Error;

use task2vec_data::{DataError, Dataset};

/// The message followed by every cause, joined by ": " (what anyhow's `{:#}` prints).
fn with_causes(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[test]
fn an_io_error_names_the_file_and_says_the_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dataset");
    // The operating system's own words for this failure, from std, not from the crate.
    let os_text = std::fs::metadata(&missing).unwrap_err().to_string();

    let err = Dataset::open(&missing).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    let rendered = with_causes(&err);
    assert_eq!(rendered.matches(&os_text).count(), 1, "{rendered}");
    assert!(rendered.contains("no-such-dataset"), "{rendered}");
    // The message alone is complete too: printing `{}` loses nothing.
    assert_eq!(err.to_string(), rendered);
}

#[cfg(unix)]
#[test]
fn an_io_error_inside_a_dataset_names_the_inner_file() {
    // A dangling link inside a class folder: the error is about the link, not the root.
    let dir = tempfile::tempdir().unwrap();
    for class in ["cat", "dog"] {
        std::fs::create_dir(dir.path().join(class)).unwrap();
        // Opening lists files without decoding them: any bytes will do.
        std::fs::write(dir.path().join(class).join("a.png"), b"png").unwrap();
    }
    std::os::unix::fs::symlink("missing.png", dir.path().join("dog").join("gone.png")).unwrap();
    let err = Dataset::open(dir.path()).unwrap_err();
    let rendered = with_causes(&err);
    assert!(matches!(err, DataError::Io { .. }), "{rendered}");
    assert!(rendered.contains("gone.png"), "{rendered}");
    let os_text = std::fs::metadata(dir.path().join("dog").join("gone.png"))
        .unwrap_err()
        .to_string();
    assert_eq!(rendered.matches(&os_text).count(), 1, "{rendered}");
}
