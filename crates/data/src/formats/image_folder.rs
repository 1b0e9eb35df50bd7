//! ImageFolder: `root/<class>/**/<image>`, classes sorted by folder name.
use std::path::{Path, PathBuf};

use crate::dataset::{Dataset, Format};
use crate::error::DataError;
use crate::formats::is_image_file;

pub(crate) fn open(root: &Path) -> Result<Dataset, DataError> {
    let (dirs, files) = list_dir(root)?;
    if dirs.is_empty() {
        let has_images = files.iter().any(|f| is_image_file(f));
        return Err(if has_images {
            DataError::NoClassFolders {
                path: root.to_path_buf(),
                hint: " (for a domain embedding open it unlabeled)",
            }
        } else {
            DataError::UnknownFormat {
                path: root.to_path_buf(),
            }
        });
    }
    let mut classes = Vec::with_capacity(dirs.len());
    let mut samples = Vec::new();
    for (label, dir) in dirs.iter().enumerate() {
        let class = dir.file_name().unwrap().to_string_lossy().into_owned();
        let before = samples.len();
        collect_images(dir, &mut |file| {
            let rel = file
                .strip_prefix(root)
                .expect("walked below root")
                .to_path_buf();
            samples.push((rel, label));
        })?;
        if samples.len() == before {
            return Err(DataError::EmptyClass {
                path: root.to_path_buf(),
                class,
            });
        }
        classes.push(class);
    }
    Dataset::from_files(root, classes, samples)
}

/// A folder of images with no class subfolders: one class `unlabeled`.
pub(crate) fn open_flat(root: &Path) -> Result<Option<Dataset>, DataError> {
    let (dirs, files) = list_dir(root)?;
    let images: Vec<PathBuf> = files.into_iter().filter(|f| is_image_file(f)).collect();
    if !dirs.is_empty() || images.is_empty() {
        return Ok(None);
    }
    let samples = images
        .into_iter()
        .map(|f| (f.strip_prefix(root).unwrap().to_path_buf(), 0))
        .collect();
    let mut ds = Dataset::from_files(root, vec!["unlabeled".to_string()], samples)?;
    ds.format = Format::ImageFolder;
    Ok(Some(ds))
}

/// Sorted subdirectories and files of `dir`, hidden entries skipped.
fn list_dir(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), DataError> {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follow symlinks: datasets are often assembled from links.
        let meta = std::fs::metadata(&path).map_err(|e| DataError::io(&path, e))?;
        if meta.is_dir() {
            dirs.push(path);
        } else if meta.is_file() {
            files.push(path);
        }
    }
    dirs.sort();
    files.sort();
    Ok((dirs, files))
}

fn collect_images(dir: &Path, push: &mut dyn FnMut(PathBuf)) -> Result<(), DataError> {
    collect_below(dir, &mut Vec::new(), push)
}

/// Walks `dir` depth first. `ancestors` holds the canonical paths of the directories being
/// walked: symlinks are followed (datasets are often assembled from links), so a link back to an
/// ancestor would otherwise recurse until the OS gives up (ELOOP, 40 levels deep).
fn collect_below(
    dir: &Path,
    ancestors: &mut Vec<PathBuf>,
    push: &mut dyn FnMut(PathBuf),
) -> Result<(), DataError> {
    let canonical = std::fs::canonicalize(dir).map_err(|e| DataError::io(dir, e))?;
    if ancestors.contains(&canonical) {
        return Err(DataError::DirectoryLoop {
            path: dir.to_path_buf(),
            ancestor: canonical.display().to_string(),
        });
    }
    let (dirs, files) = list_dir(dir)?;
    for f in files {
        if is_image_file(&f) {
            push(f);
        }
    }
    ancestors.push(canonical);
    for d in dirs {
        collect_below(&d, ancestors, push)?;
    }
    ancestors.pop();
    Ok(())
}
