//! Shared helpers of the integration tests: fixture paths and loaders.
#![allow(dead_code)]

use std::path::PathBuf;

use task2vec_embedding::{Embedding, LabeledMatrix, Provenance, io};

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// The six numpy-made embeddings of ci/golden/distances.py (e3..e5 carry a prior).
pub fn golden_embeddings() -> Vec<Embedding> {
    (0..6)
        .map(|i| {
            let h = fixture(&format!("distances/e{i}.npy"));
            let s = fixture(&format!("distances/s{i}.npy"));
            let layout = fixture("distances/layout.json");
            let meta = Provenance {
                task: Some(format!("e{i}")),
                ..Provenance::default()
            };
            io::import_npy(&h, (i >= 3).then_some(s.as_path()), Some(&layout), meta).unwrap()
        })
        .collect()
}

pub fn golden_matrix(name: &str) -> LabeledMatrix {
    LabeledMatrix::load(fixture(&format!("distances/{name}.csv"))).unwrap()
}

/// Largest relative error |a − b| / max(|b|, floor).
pub fn max_rel_err(a: &ndarray::Array2<f64>, b: &ndarray::Array2<f64>, floor: f64) -> f64 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs() / y.abs().max(floor))
        .fold(0.0, f64::max)
}
