//! On-disk layouts and their detection.
pub(crate) mod csv_manifest;
pub(crate) mod idx;
pub(crate) mod image_folder;
pub mod pickle;

use std::path::Path;

use crate::dataset::Dataset;
use crate::error::DataError;

/// File extensions read as images (decoding is by content; the extension only selects files).
pub(crate) const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

pub(crate) fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

pub(crate) fn open(path: &Path) -> Result<Dataset, DataError> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if meta.is_file() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.to_ascii_lowercase().ends_with(".csv") {
            return csv_manifest::open(path);
        }
        if idx::looks_like_idx_images(path)? {
            return idx::open_images_file(path);
        }
        return Err(DataError::UnknownFormat {
            path: path.to_path_buf(),
        });
    }
    if let Some(images) = idx::find_train_images(path) {
        return idx::open_images_file(&images);
    }
    image_folder::open(path)
}

pub(crate) fn open_unlabeled(path: &Path) -> Result<Dataset, DataError> {
    if path.is_dir()
        && idx::find_train_images(path).is_none()
        && let Some(flat) = image_folder::open_flat(path)?
    {
        return Ok(flat);
    }
    Ok(open(path)?.without_labels())
}
