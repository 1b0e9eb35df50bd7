//! MNIST-style IDX files (`http://yann.lecun.com/exdb/mnist/` layout): a big-endian header
//! `0 0 <dtype> <ndim>`, `ndim` u32 dimensions, then the data. Images must be
//! `u8 × n × rows × cols`, labels `u8 × n`. Files may be gzip-compressed.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::dataset::{Dataset, Format, Sample, SampleSource};
use crate::error::DataError;

const DTYPE_U8: u8 = 0x08;

/// The pixels of one IDX images file, shared by all views of the dataset.
#[derive(Debug)]
pub(crate) struct IdxImages {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) pixels: Vec<u8>,
}

impl IdxImages {
    pub(crate) fn image(&self, n: usize) -> image::GrayImage {
        let size = self.rows * self.cols;
        let data = self.pixels[n * size..(n + 1) * size].to_vec();
        image::GrayImage::from_raw(self.cols as u32, self.rows as u32, data)
            .expect("buffer size matches dimensions")
    }
}

/// `dir/train-images-idx3-ubyte[.gz]`, if present.
pub(crate) fn find_train_images(dir: &Path) -> Option<PathBuf> {
    ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// True if the file's name says IDX images, or its first four bytes are the IDX magic
/// of a 3-d u8 array.
pub(crate) fn looks_like_idx_images(path: &Path) -> Result<bool, DataError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.contains("idx3") {
        return Ok(true);
    }
    let mut head = [0u8; 4];
    let mut reader = open_maybe_gz(path)?;
    Ok(reader.read_exact(&mut head).is_ok() && head == [0, 0, DTYPE_U8, 3])
}

pub(crate) fn open_images_file(images_path: &Path) -> Result<Dataset, DataError> {
    let labels_path = labels_file_for(images_path)?;
    let (dims, pixels) = read_idx(images_path)?;
    if dims.len() != 3 {
        return Err(malformed(
            images_path,
            format!(
                "an images file must have 3 dimensions, found {}",
                dims.len()
            ),
        ));
    }
    if dims[1] == 0 || dims[2] == 0 {
        return Err(malformed(
            images_path,
            format!("images of {} × {} pixels hold nothing", dims[1], dims[2]),
        ));
    }
    if dims[0] == 0 {
        return Err(DataError::NoSamples {
            path: images_path.to_path_buf(),
        });
    }
    let (ldims, labels) = read_idx(&labels_path)?;
    if ldims.len() != 1 {
        return Err(malformed(
            &labels_path,
            format!("a labels file must have 1 dimension, found {}", ldims.len()),
        ));
    }
    if ldims[0] != dims[0] {
        return Err(DataError::IdxLengthMismatch {
            images: images_path.to_path_buf(),
            labels: labels_path,
            n_images: dims[0],
            n_labels: ldims[0],
        });
    }
    let dir = images_path.parent().unwrap_or(Path::new("")).to_path_buf();
    let max_label = labels.iter().copied().max().unwrap_or(0) as usize;
    let classes = match read_class_names(&dir)? {
        Some(names) => {
            if max_label >= names.len() {
                return Err(DataError::LabelWithoutName {
                    path: dir.join("classes.txt"),
                    label: max_label,
                    n_names: names.len(),
                });
            }
            names
        }
        None => (0..=max_label).map(|l| l.to_string()).collect(),
    };
    let samples = labels
        .iter()
        .enumerate()
        .map(|(n, &l)| Sample {
            source: SampleSource::Idx(n),
            label: l as usize,
        })
        .collect();
    Ok(Dataset {
        classes,
        samples,
        origin: images_path.to_path_buf(),
        root: dir,
        format: Format::Idx,
        idx: Some(Arc::new(IdxImages {
            rows: dims[1],
            cols: dims[2],
            pixels,
        })),
    })
}

/// `classes.txt` beside the IDX files: one class name per line, line n names label n.
fn read_class_names(dir: &Path) -> Result<Option<Vec<String>>, DataError> {
    let path = dir.join("classes.txt");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    let names: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    let names: Vec<String> = match names.iter().rposition(|n| !n.is_empty()) {
        Some(last) => names[..=last].to_vec(),
        None => Vec::new(),
    };
    if let Some(i) = names.iter().position(String::is_empty) {
        return Err(DataError::MalformedCsv {
            path,
            line: i as u64 + 1,
            message: "empty class name".to_string(),
        });
    }
    Ok(Some(names))
}

/// `x-images-idx3-ubyte[.gz]` → `x-labels-idx1-ubyte[.gz]` (either compression).
fn labels_file_for(images: &Path) -> Result<PathBuf, DataError> {
    let name = images.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let base = name.strip_suffix(".gz").unwrap_or(name);
    let labels = base.replace("images", "labels").replace("idx3", "idx1");
    if labels == base {
        return Err(malformed(
            images,
            "cannot derive the labels file name (expected `*-images-idx3-ubyte[.gz]`)".into(),
        ));
    }
    let dir = images.parent().unwrap_or(Path::new(""));
    [labels.clone(), format!("{labels}.gz")]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            malformed(
                images,
                format!(
                    "its labels file {} (or .gz) is missing",
                    dir.join(&labels).display()
                ),
            )
        })
}

fn open_maybe_gz(path: &Path) -> Result<Box<dyn Read>, DataError> {
    let mut file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic).map_err(|e| DataError::io(path, e))?;
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let reader = std::io::BufReader::new(file);
    Ok(if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// Reads a u8 IDX file: its dimensions and data, checking that the lengths agree.
///
/// Memory is bounded by what the file holds, not by what its header claims: the header is read
/// first, then at most one byte more than the dimensions need (a gzip stream that inflates far
/// beyond its header's claim is cut there and refused).
fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let cannot_read = |e: std::io::Error| malformed(path, format!("cannot read: {e}"));
    let mut reader = open_maybe_gz(path)?;
    let mut bytes = Vec::new();
    (&mut reader)
        .take(4)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() == 4 {
        let ndim = bytes[3] as u64;
        (&mut reader)
            .take(4 * ndim)
            .read_to_end(&mut bytes)
            .map_err(cannot_read)?;
        let claimed = bytes[4..]
            .chunks_exact(4)
            .try_fold(1u64, |acc, b| {
                acc.checked_mul(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64)
            })
            .unwrap_or(u64::MAX);
        reader
            .take(claimed.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(cannot_read)?;
    }
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(malformed(
            path,
            "missing IDX magic `00 00 <dtype> <ndim>`".into(),
        ));
    }
    if bytes[2] != DTYPE_U8 {
        return Err(malformed(
            path,
            format!(
                "data type 0x{:02x} is not supported (only 0x08, unsigned byte)",
                bytes[2]
            ),
        ));
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    if ndim == 0 || bytes.len() < header {
        return Err(malformed(
            path,
            format!("header of {ndim} dimensions is truncated"),
        ));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|d| {
            let b = &bytes[4 + 4 * d..8 + 4 * d];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let found = bytes.len() - header;
    if expected != Some(found) {
        let message = match expected {
            None => format!("dimensions {dims:?} overflow"),
            Some(e) if found > e => {
                format!("dimensions {dims:?} need {e} data bytes, the file holds more")
            }
            Some(e) => format!("dimensions {dims:?} need {e} data bytes, the file holds {found}"),
        };
        return Err(malformed(path, message));
    }
    bytes.drain(..header);
    Ok((dims, bytes))
}

fn malformed(path: &Path, message: String) -> DataError {
    DataError::MalformedIdx {
        path: path.to_path_buf(),
        message,
    }
}
