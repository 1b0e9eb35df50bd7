//! Asymmetric distance, complexity, statistics and the taxonomy metric against numpy/SciPy
//! golden values (ci/golden/distances.py, ci/golden/stats.py).

mod common;

use common::*;
use ndarray::Array2;
use serde_json::Value;
use task2vec_embedding::asymmetric::{asymmetric_pdist, complexity, l1_norm, l1_norm_per_layer};
use task2vec_embedding::{Embedding, Error, Provenance, io, stats, taxonomy};

fn trivial() -> Embedding {
    let meta = Provenance {
        task: Some("t0".into()),
        ..Provenance::default()
    };
    io::import_npy(
        fixture("distances/trivial.npy"),
        None,
        Some(&fixture("distances/layout.json")),
        meta,
    )
    .unwrap()
}

#[test]
fn asymmetric_distance_with_supplied_trivial_embedding() {
    let embs = golden_embeddings();
    let got = asymmetric_pdist(&embs, 0.15, Some(&trivial())).unwrap();
    let want = golden_matrix("asym_trivial");
    let err = max_rel_err(&got, &want.values, 1e-300);
    assert!(err < 1e-12, "max relative error {err:e}");
    // Not symmetric: rows are sources.
    assert!((got[[0, 1]] - got[[1, 0]]).abs() > 1e-6);
}

#[test]
fn asymmetric_distance_with_the_prior_as_trivial_embedding() {
    let embs = golden_embeddings();
    let got = asymmetric_pdist(&embs[3..], 0.15, None).unwrap();
    let want = golden_matrix("asym_prior");
    assert!(max_rel_err(&got, &want.values, 1e-300) < 1e-12);
}

#[test]
fn monte_carlo_embeddings_need_a_supplied_trivial_embedding() {
    let embs = golden_embeddings();
    let err = asymmetric_pdist(&embs[..3], 0.15, None).unwrap_err();
    assert!(matches!(err, Error::NoTrivialEmbedding { .. }), "{err}");
    assert!(err.to_string().contains("supply one"));
}

#[test]
fn complexity_and_norms() {
    let text = std::fs::read_to_string(fixture("distances/complexity.csv")).unwrap();
    let embs = golden_embeddings();
    let t0 = trivial();
    for (line, e) in text.lines().skip(1).zip(&embs) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0], e.name());
        let close = |a: f64, b: &str| (a - b.parse::<f64>().unwrap()).abs() <= 1e-12 * a.abs();
        assert!(close(l1_norm(e), f[1]));
        let per_layer = l1_norm_per_layer(e);
        assert_eq!(per_layer[0].0, "conv1");
        assert!(close(per_layer[0].1, f[2]));
        assert!(close(complexity(e, Some(&t0)).unwrap(), f[3]));
    }
}

fn stats_fixture() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("stats.json")).unwrap()).unwrap()
}

fn vecf(v: &Value) -> Vec<f64> {
    serde_json::from_value(v.clone()).unwrap()
}

fn matf(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    let n = rows.len();
    Array2::from_shape_vec((n, rows[0].len()), rows.concat()).unwrap()
}

#[test]
fn pearson_and_spearman_match_scipy() {
    let f = stats_fixture();
    let (x, y) = (vecf(&f["x"]), vecf(&f["y"]));
    let p = stats::pearson(&x, &y).unwrap();
    let s = stats::spearman(&x, &y).unwrap();
    assert!((p - f["pearson"].as_f64().unwrap()).abs() < 1e-12);
    assert!((s - f["spearman"].as_f64().unwrap()).abs() < 1e-12);
    // A strong correlation is significant; the p-value is reproducible from its seed.
    let pv = stats::permutation_p_value(&x, &y, stats::spearman, 999, 42).unwrap();
    assert!(pv < 0.01, "{pv}");
    assert_eq!(
        pv,
        stats::permutation_p_value(&x, &y, stats::spearman, 999, 42).unwrap()
    );
    assert!(stats::pearson(&[1.0, 1.0], &[1.0, 2.0]).is_err());
}

#[test]
fn average_top_k_taxonomic_distance_matches_ref_formula() {
    let f = stats_fixture();
    let d = matf(&f["distances"]);
    // The fixture lists REF's ranks finest first; our lineages are root first.
    let mut lineages: Vec<Vec<String>> = serde_json::from_value(f["lineages"].clone()).unwrap();
    lineages.iter_mut().for_each(|l| l.reverse());
    let tax = taxonomy::taxonomy_matrix(&lineages);
    assert_eq!(tax, matf(&f["taxonomy"]));
    for (k, want) in f["top_k"].as_object().unwrap() {
        let k: usize = k.parse().unwrap();
        let got = taxonomy::average_top_k_taxonomic_distance(&d, &tax, k).unwrap();
        assert!(
            (got - want.as_f64().unwrap()).abs() < 1e-12,
            "k={k}: {got} vs {want}"
        );
    }
}

#[test]
fn classical_mds_matches_numpy_eigh() {
    let f = stats_fixture();
    let d = matf(&f["mds_distances"]);
    let want = matf(&f["mds_coords"]);
    let got = task2vec_embedding::mds::classical_mds(&d, 2).unwrap();
    let err = got
        .iter()
        .zip(want.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(err < 1e-6, "max abs error {err:e}");
}
