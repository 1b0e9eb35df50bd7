//! IDX files that lie about their size, found while fuzzing the reader (`fuzz/`, target `idx`):
//! each is an error naming the file, never an accepted dataset of nonsense, and reading costs
//! what the file holds, not what its header claims.
use std::io::Write;
use std::path::Path;

use task2vec_data::{DataError, Dataset};

const IMAGES: &str = "train-images-idx3-ubyte";
const LABELS: &str = "train-labels-idx1-ubyte";

/// Magic `00 00 08 <ndim>`, big-endian dimensions, data.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, files: &[(&str, &[u8])]) {
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// Six 4 × 3 images, labels 0 1 2 0 1 2.
fn valid() -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<u8> = (0..72).collect();
    (idx(&[6, 4, 3], &pixels), idx(&[6], &[0, 1, 2, 0, 1, 2]))
}

fn open(images: &[u8], labels: &[u8]) -> Result<Dataset, DataError> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[(IMAGES, images), (LABELS, labels)]);
    Dataset::open(dir.path())
}

#[test]
fn the_valid_pair_reads() {
    let (images, labels) = valid();
    let ds = open(&images, &labels).unwrap();
    assert_eq!(ds.len(), 6);
    let first = ds.load_image(0).unwrap().to_luma8();
    assert_eq!((first.width(), first.height()), (3, 4));
    assert_eq!(first.as_raw(), &(0..12).collect::<Vec<u8>>());
}

/// Accepted before: a dataset of 0 × 3 images, which every later stage would choke on.
#[test]
fn images_without_pixels_are_an_error() {
    let (_, labels) = valid();
    for dims in [[6, 0, 3], [6, 4, 0]] {
        let e = open(&idx(&dims, &[]), &labels).unwrap_err().to_string();
        assert!(e.contains(IMAGES) && e.contains("hold nothing"), "{e}");
    }
}

/// Accepted before (and only refused later by validation, if the caller validated).
#[test]
fn a_file_without_images_is_an_error() {
    let e = open(&idx(&[0, 4, 3], &[]), &idx(&[0], &[])).unwrap_err();
    assert!(matches!(e, DataError::NoSamples { .. }), "{e}");
    assert!(e.to_string().contains(IMAGES), "{e}");
}

/// A 100-byte file claiming 2^32 - 1 images of 28 × 28.
#[test]
fn a_header_claiming_billions_of_images_is_an_error() {
    let (_, labels) = valid();
    let e = open(&idx(&[u32::MAX, 28, 28], &[0; 72]), &labels)
        .unwrap_err()
        .to_string();
    assert!(e.contains("the file holds 72"), "{e}");
}

/// A gzip stream that inflates to far more than its header claims is cut one byte past the
/// claim (the reader used to inflate all of it into memory first).
#[test]
fn a_gzip_bomb_is_read_only_as_far_as_the_header_claims() {
    let (images, labels) = valid();
    let mut bomb = images.clone();
    bomb.resize(images.len() + (64 << 20), 0); // 64 MiB of zeros: 64 KiB compressed
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(&format!("{IMAGES}.gz"), &gzip(&bomb)), (LABELS, &labels)],
    );
    let e = Dataset::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains("need 72 data bytes, the file holds more"), "{e}");
}

#[test]
fn every_truncation_is_an_error() {
    let (images, labels) = valid();
    for n in 0..images.len() {
        assert!(open(&images[..n], &labels).is_err(), "images cut at {n}");
    }
    for n in 0..labels.len() {
        assert!(open(&images, &labels[..n]).is_err(), "labels cut at {n}");
    }
    let packed = gzip(&images);
    for n in 0..packed.len() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[(&format!("{IMAGES}.gz"), &packed[..n]), (LABELS, &labels)],
        );
        assert!(Dataset::open(dir.path()).is_err(), "gzip cut at {n}");
    }
}
