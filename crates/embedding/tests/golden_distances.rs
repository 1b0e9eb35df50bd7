//! Distances against SciPy/numpy golden values (ci/golden/distances.py).

mod common;

use common::*;
use task2vec_embedding::{Metric, cdist, distance, pdist};

#[test]
fn every_metric_matches_scipy() {
    let embs = golden_embeddings();
    for metric in Metric::ALL {
        let expected = golden_matrix(metric.name());
        assert_eq!(expected.labels, ["e0", "e1", "e2", "e3", "e4", "e5"]);
        let got = pdist(&embs, metric).unwrap();
        let err = max_rel_err(&got, &expected.values, 1e-300);
        println!("{metric}: max relative error {err:.2e}");
        assert!(err < 1e-9, "{metric}: max relative error {err:e}");
    }
}

#[test]
fn single_pairs_and_cdist_agree_with_pdist_bit_for_bit() {
    let embs = golden_embeddings();
    for metric in Metric::ALL {
        let full = pdist(&embs, metric).unwrap();
        let rect = cdist(&embs[..2], &embs, metric).unwrap();
        for i in 0..embs.len() {
            for j in 0..embs.len() {
                if i == j && metric.is_symmetric() {
                    continue; // REF's pdist leaves the diagonal at 0 without computing it
                }
                // Like REF, pdist computes the upper triangle of symmetric metrics and mirrors
                // it (`entropy` is symmetric only up to its ε).
                let (a, b) = if metric.is_symmetric() {
                    (i.min(j), i.max(j))
                } else {
                    (i, j)
                };
                let d = distance(&embs[a], &embs[b], metric).unwrap();
                assert_eq!(d.to_bits(), full[[i, j]].to_bits(), "{metric} ({i},{j})");
                if i < 2 {
                    let d = distance(&embs[i], &embs[j], metric).unwrap();
                    assert_eq!(
                        d.to_bits(),
                        rect[[i, j]].to_bits(),
                        "{metric} cdist ({i},{j})"
                    );
                }
            }
        }
    }
}
