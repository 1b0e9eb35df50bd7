//! Properties of the distances (proptest).

use ndarray::Array1;
use proptest::prelude::*;
use task2vec_embedding::asymmetric::asymmetric_distance;
use task2vec_embedding::{Embedding, Layout, Metric, Provenance, distance, pdist};

/// At least 2 filters everywhere: `correlation` of a single value is undefined (0/0).
///
/// Fisher values well above REF's ε (so `entropy(a, a)` is 0 to rounding) and > 0 (so the
/// variance metrics are defined).
fn fisher(dim: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec((-3.0f64..3.0).prop_map(|e| 10f64.powf(e)), dim)
}

fn emb(h: Vec<f64>, name: &str) -> Embedding {
    let n = h.len();
    let meta = Provenance {
        task: Some(name.into()),
        ..Provenance::default()
    };
    Embedding::new(Array1::from(h), None, Layout::single("all", n), meta).unwrap()
}

fn with_prior(h: Vec<f64>, s: Vec<f64>) -> Embedding {
    let n = h.len();
    Embedding::new(
        Array1::from(h),
        Some(Array1::from(s)),
        Layout::single("all", n),
        Provenance::default(),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn distance_to_itself_is_zero(h in fisher(37)) {
        let a = emb(h, "a");
        for m in Metric::ALL {
            let d = distance(&a, &a, m).unwrap();
            // `entropy` puts ε = 1e-8 next to h: its self-distance is O((ε/h)²), not 0.
            let tol = if m == Metric::Entropy { 1e-9 } else { 1e-12 };
            prop_assert!(d.abs() < tol, "{m}: {d}");
        }
    }

    #[test]
    fn symmetric_metrics_are_symmetric_and_asymmetric_ones_are_not(
        (h0, h1) in (2usize..700).prop_flat_map(|d| (fisher(d), fisher(d)))
    ) {
        let (a, b) = (emb(h0, "a"), emb(h1, "b"));
        for m in Metric::ALL {
            let (ab, ba) = (distance(&a, &b, m).unwrap(), distance(&b, &a, m).unwrap());
            if m.is_symmetric() {
                // `entropy` is symmetric only up to O(ε/h) (1 − p ≠ h₁/(h₀+h₁+ε)); here h ≥ 1e-3.
                let rel = if m == Metric::Entropy { 1e-4 } else { 1e-12 };
                prop_assert!((ab - ba).abs() <= rel * ab.abs().max(1e-12), "{m}: {ab} vs {ba}");
            }
        }
    }

    #[test]
    fn cosine_is_in_unit_interval_and_scale_invariant(
        (h0, h1) in (2usize..300).prop_flat_map(|d| (fisher(d), fisher(d))),
        scale in 1f64..1e3,
    ) {
        let (a, b) = (emb(h0.clone(), "a"), emb(h1.clone(), "b"));
        let d = distance(&a, &b, Metric::Cosine).unwrap();
        prop_assert!((0.0..=1.0).contains(&d));
        let sa = emb(h0.iter().map(|v| v * scale).collect(), "a");
        let sb = emb(h1.iter().map(|v| v * scale).collect(), "b");
        let ds = distance(&sa, &sb, Metric::Cosine).unwrap();
        // Exact up to REF's absolute ε = 1e-8, i.e. O(ε/h) <= 1e-5 here (h >= 1e-3, scale >= 1).
        prop_assert!((d - ds).abs() < 1e-4, "{d} vs {ds}");
    }

    #[test]
    fn pdist_agrees_with_pairwise_distances(
        hs in (2usize..80).prop_flat_map(|d| prop::collection::vec(fisher(d), 2..7)),
        mi in 0usize..7,
    ) {
        let metric = Metric::ALL[mi];
        let embs: Vec<Embedding> = hs.into_iter().enumerate().map(|(i, h)| emb(h, &i.to_string())).collect();
        let m = pdist(&embs, metric).unwrap();
        for i in 0..embs.len() {
            for j in 0..embs.len() {
                if i == j { prop_assert_eq!(m[[i, j]], 0.0); continue; }
                let (a, b) = if metric.is_symmetric() { (i.min(j), i.max(j)) } else { (i, j) };
                prop_assert_eq!(m[[i, j]], distance(&embs[a], &embs[b], metric).unwrap());
            }
        }
    }
}

#[test]
fn asymmetric_kl_and_d_asym_are_not_symmetric() {
    let a = emb(vec![1.0, 2.0, 3.0, 4.0], "a");
    let b = emb(vec![4.0, 1.0, 0.5, 2.0], "b");
    let ab = distance(&a, &b, Metric::AsymmetricKl).unwrap();
    let ba = distance(&b, &a, Metric::AsymmetricKl).unwrap();
    assert!((ab - ba).abs() > 1e-3, "{ab} {ba}");
    let pa = with_prior(vec![1.0, 2.0, 3.0, 4.0], vec![0.5, 0.5, 2.0, 2.0]);
    let pb = with_prior(vec![4.0, 1.0, 0.5, 2.0], vec![1.5, 0.2, 2.0, 3.0]);
    let ab = asymmetric_distance(&pa, &pb, 0.15, None).unwrap();
    let ba = asymmetric_distance(&pb, &pa, 0.15, None).unwrap();
    assert!((ab - ba).abs() > 1e-3, "{ab} {ba}");
}
