//! Symbolic links in an ImageFolder are followed (datasets are assembled from links), but a
//! link back to an ancestor is an error naming the loop — found by ci/robustness.py, where it
//! ended in ELOOP after 40 levels with a 435-character path.
#![cfg(unix)]
use std::os::unix::fs::symlink;

use task2vec_data::{DataError, Dataset};

fn png(path: &std::path::Path) {
    image::RgbImage::from_pixel(4, 4, image::Rgb([10, 200, 30]))
        .save(path)
        .unwrap();
}

#[test]
fn a_link_back_to_an_ancestor_is_a_named_loop_and_other_links_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    for class in ["cat", "dog"] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        png(&root.join(class).join("0.png"));
    }
    // A link to a directory elsewhere is followed.
    let extra = dir.path().join("more-dogs");
    std::fs::create_dir_all(&extra).unwrap();
    png(&extra.join("1.png"));
    symlink(&extra, root.join("dog").join("more")).unwrap();
    let ok = Dataset::open(&root).unwrap();
    assert_eq!(ok.len(), 3);

    symlink("..", root.join("dog").join("loop")).unwrap();
    let err = Dataset::open(&root).unwrap_err();
    assert!(matches!(err, DataError::DirectoryLoop { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("loop"), "{message}");
    assert!(message.len() < 300, "{message}");
}
