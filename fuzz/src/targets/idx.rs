//! MNIST-style IDX files through `Dataset::open` (`crates/data/src/formats/idx.rs`).
use std::io::Write;
use std::path::Path;

use task2vec_data::{Dataset, Format};

use super::{Outcome, Target, Verdict, case, ensure, refused};
use crate::case::Case;

const IMAGES: &str = "train-images-idx3-ubyte";
const LABELS: &str = "train-labels-idx1-ubyte";

pub fn target() -> Target {
    Target {
        name: "idx",
        about: "IDX images + labels (+ classes.txt, gzip) via Dataset::open",
        mutable: &["train-", "classes.txt"],
        dictionary: &[
            &[0, 0, 8, 3],
            &[0, 0, 8, 1],
            &[0x1f, 0x8b],
            &[0xff, 0xff, 0xff, 0xff],
            b"\n",
            b"\n\n",
        ],
        prefixes_refused: &[
            IMAGES,
            LABELS,
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
        ],
        max_len: 1 << 16,
        run,
        seeds,
    }
}

fn run(dir: &Path) -> Verdict {
    let ds = match Dataset::open(dir) {
        Ok(ds) => ds,
        Err(e) => return refused(e),
    };
    ensure(ds.format() == Format::Idx, || {
        format!("read as {:?}", ds.format())
    })?;
    ensure(!ds.is_empty(), || {
        "an IDX dataset without images was accepted".into()
    })?;
    let n_classes = ds.classes().len();
    for s in ds.samples() {
        ensure(s.label < n_classes, || {
            format!("label {} but {n_classes} classes", s.label)
        })?;
    }
    let mut size = None;
    for i in 0..ds.len().min(32) {
        let image = ds
            .load_image(i)
            .map_err(|e| format!("sample {i} of an accepted IDX file does not load: {e}"))?;
        let wh = (image.width(), image.height());
        ensure(wh.0 > 0 && wh.1 > 0, || {
            format!("sample {i} is {wh:?} pixels")
        })?;
        ensure(*size.get_or_insert(wh) == wh, || {
            "samples differ in size".into()
        })?;
    }
    let _ = ds.validate();
    let _ = ds.fingerprint();
    Ok(Outcome::Accepted(format!("{n_classes} classes")))
}

/// An IDX u8 file: magic, dimensions, data.
pub fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("in memory");
    e.finish().expect("in memory")
}

fn seeds() -> Vec<(String, Case)> {
    let pixels: Vec<u8> = (0..6 * 4 * 3).map(|i| (i * 7 % 256) as u8).collect();
    let images = idx(&[6, 4, 3], &pixels);
    let labels = idx(&[6], &[0, 1, 2, 0, 1, 2]);
    let plain = case([(IMAGES, images.clone()), (LABELS, labels.clone())]);
    let mut with_names = plain.clone();
    with_names.insert("classes.txt".into(), b"zero\none\ntwo\n".to_vec());
    let mut too_few_names = plain.clone();
    too_few_names.insert("classes.txt".into(), b"zero\none\n".to_vec());
    vec![
        ("ok-plain".into(), plain.clone()),
        ("ok-class-names".into(), with_names),
        (
            "ok-gzip".into(),
            case([
                (format!("{IMAGES}.gz"), gzip(&images)),
                (format!("{LABELS}.gz"), gzip(&labels)),
            ]),
        ),
        (
            "bad-fewer-labels".into(),
            case([
                (IMAGES, images.clone()),
                (LABELS, idx(&[5], &[0, 1, 2, 0, 1])),
            ]),
        ),
        (
            // 2^32 - 1 images of 28 × 28 claimed by a 100-byte file.
            "bad-huge-count".into(),
            case([
                (IMAGES, idx(&[u32::MAX, 28, 28], &pixels)),
                (LABELS, idx(&[u32::MAX], &[0; 6])),
            ]),
        ),
        (
            "bad-zero-pixels".into(),
            case([(IMAGES, idx(&[6, 0, 3], &[])), (LABELS, labels.clone())]),
        ),
        (
            "bad-no-images".into(),
            case([(IMAGES, idx(&[0, 4, 3], &[])), (LABELS, idx(&[0], &[]))]),
        ),
        ("bad-label-without-name".into(), too_few_names),
        (
            "bad-int32-data".into(),
            case([
                (IMAGES, {
                    let mut f = images.clone();
                    f[2] = 0x0c;
                    f
                }),
                (LABELS, labels),
            ]),
        ),
    ]
}
