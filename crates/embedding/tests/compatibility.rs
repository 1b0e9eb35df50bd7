//! Which pairs of embeddings a distance is computed for: structural rules (probe, layout) always,
//! provenance rules (kind, estimator, input size) unless `Compatibility::Structural` is asked for.
use std::collections::BTreeMap;

use task2vec_embedding::asymmetric::{asymmetric_pdist, asymmetric_pdist_with};
use task2vec_embedding::{
    Compatibility, Embedding, EmbeddingKind, Error, EstimatorInfo, Metric, Provenance, cdist,
    cdist_with, distance, distance_with, pdist, pdist_with,
};

fn embedding(
    name: &str,
    kind: Option<EmbeddingKind>,
    estimator: Option<&str>,
    size: Option<usize>,
) -> Embedding {
    let meta = Provenance {
        task: Some(name.into()),
        kind,
        input_size: size,
        estimator: estimator.map(|e| EstimatorInfo {
            name: e.into(),
            hyperparameters: BTreeMap::new(),
        }),
        ..Provenance::default()
    };
    let h: Vec<f64> = (0..6)
        .map(|i| 1.0 + (i * name.len()) as f64 % 5.0)
        .collect();
    Embedding::from_hessian(h, meta).unwrap()
}

fn mixed(err: Error, what: &str) {
    match err {
        Error::MixedSettings { what: w, .. } => assert!(w.contains(what), "{w}"),
        other => panic!("expected MixedSettings about {what}, got {other}"),
    }
}

#[test]
fn strict_refuses_each_differing_setting_and_structural_allows_it() {
    use EmbeddingKind::{Domain, Task};
    let base = embedding("a", Some(Task), Some("montecarlo"), Some(224));
    for (other, what) in [
        (
            embedding("b", Some(Domain), Some("montecarlo"), Some(224)),
            "kind",
        ),
        (
            embedding("b", Some(Task), Some("exact"), Some(224)),
            "estimator",
        ),
        (
            embedding("b", Some(Task), Some("montecarlo"), Some(64)),
            "input size",
        ),
    ] {
        mixed(distance(&base, &other, Metric::Cosine).unwrap_err(), what);
        mixed(
            pdist(&[base.clone(), other.clone()], Metric::Cosine).unwrap_err(),
            what,
        );
        mixed(
            cdist(
                std::slice::from_ref(&base),
                std::slice::from_ref(&other),
                Metric::Cosine,
            )
            .unwrap_err(),
            what,
        );
        let forced = distance_with(&base, &other, Metric::Cosine, Compatibility::Structural);
        assert!(forced.unwrap().is_finite());
        let pair = [base.clone(), other.clone()];
        assert!(pdist_with(&pair, Metric::Cosine, Compatibility::Structural).is_ok());
        assert!(
            cdist_with(
                &pair[..1],
                &pair[1..],
                Metric::Cosine,
                Compatibility::Structural
            )
            .is_ok()
        );
    }
    // The message tells the user how to override.
    let err = distance(
        &base,
        &embedding("b", Some(Task), Some("exact"), None),
        Metric::Cosine,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--force") && err.contains("montecarlo vs exact"),
        "{err}"
    );
}

#[test]
fn what_an_embedding_does_not_record_is_not_held_against_it() {
    let recorded = embedding(
        "a",
        Some(EmbeddingKind::Task),
        Some("montecarlo"),
        Some(224),
    );
    let imported = embedding("ref", None, None, None); // e.g. made by the reference code
    assert!(distance(&recorded, &imported, Metric::Cosine).is_ok());
}

#[test]
fn a_matrix_checks_every_embedding_against_the_first_that_records_each_setting() {
    // The first embedding records nothing, so comparing with it alone would let the mix through.
    let all = [
        embedding("none", None, None, None),
        embedding("a", None, Some("montecarlo"), None),
        embedding("b", None, Some("exact"), None),
    ];
    mixed(pdist(&all, Metric::Cosine).unwrap_err(), "estimator");
    mixed(
        asymmetric_pdist(&all, 0.15, Some(&all[0])).unwrap_err(),
        "estimator",
    );
    assert!(asymmetric_pdist_with(&all, 0.15, Some(&all[0]), Compatibility::Structural).is_ok());
}

#[test]
fn a_structural_mismatch_is_reported_before_a_settings_mismatch() {
    let mut a = embedding("a", Some(EmbeddingKind::Task), Some("montecarlo"), None);
    let b = embedding("b", Some(EmbeddingKind::Task), Some("exact"), None);
    a.meta_mut().probe = Some(task2vec_embedding::ProbeId {
        name: "resnet34".into(),
        weights_sha256: "aa".into(),
    });
    let mut c = b.clone();
    c.meta_mut().probe = Some(task2vec_embedding::ProbeId {
        name: "efficientnet-lite0".into(),
        weights_sha256: "bb".into(),
    });
    for err in [
        distance(&a, &c, Metric::Cosine).unwrap_err(),
        pdist(&[b.clone(), a.clone(), c.clone()], Metric::Cosine).unwrap_err(),
    ] {
        assert!(matches!(err, Error::Incompatible { .. }), "{err}");
        assert!(err.to_string().contains("different probes"), "{err}");
    }
}

/// Found by ci/robustness.py: an embedding scaled by 1e200 against a normal one gave cosine 0.0
/// (the squares of the small side underflow and the clip hid the garbage). The exact value is
/// about 0.386 for that pair; double precision cannot get it with this formula, so it is an error.
#[test]
fn a_distance_double_precision_cannot_represent_is_an_error_not_a_number() {
    let a = embedding("normal", None, None, None);
    let huge = Embedding::from_hessian(
        a.hessian().iter().map(|v| v * 1e200).collect(),
        Provenance {
            task: Some("huge".into()),
            ..Provenance::default()
        },
    )
    .unwrap();
    let other = Embedding::from_hessian(
        a.hessian().iter().rev().copied().collect(),
        Provenance::default(),
    )
    .unwrap();
    for err in [
        distance(&huge, &other, Metric::Cosine).unwrap_err(),
        pdist(&[huge.clone(), other.clone()], Metric::Cosine).unwrap_err(),
        cdist(
            std::slice::from_ref(&huge),
            std::slice::from_ref(&other),
            Metric::Cosine,
        )
        .unwrap_err(),
    ] {
        assert!(matches!(err, Error::Unrepresentable { .. }), "{err}");
    }
    // A factor of 1e10 between the two is well within range and still answered.
    let big = Embedding::from_hessian(
        a.hessian().iter().map(|v| v * 1e10).collect(),
        Provenance::default(),
    )
    .unwrap();
    assert!(distance(&big, &other, Metric::Cosine).unwrap().is_finite());
}
