//! The README's bundled example embeddings (datasets/examples/embeddings, made by
//! ci/golden/example_embeddings.py) load and show their groups as blocks.

use std::path::PathBuf;

use task2vec_embedding::{Metric, io, pdist};

#[test]
fn example_embeddings_load_and_cluster_by_group() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/examples/embeddings");
    let embs = io::load_embeddings(&[dir]).unwrap();
    assert_eq!(embs.len(), 8);
    let d = pdist(&embs, Metric::Cosine).unwrap();
    let group = |i: usize| embs[i].meta().extra["group"].as_str().unwrap().to_string();
    let (mut within, mut between) = (0.0f64, f64::INFINITY);
    for i in 0..embs.len() {
        for j in 0..embs.len() {
            if i == j {
                continue;
            }
            if group(i) == group(j) {
                within = within.max(d[[i, j]]);
            } else {
                between = between.min(d[[i, j]]);
            }
        }
    }
    assert!(within < between, "within {within} vs between {between}");
}
