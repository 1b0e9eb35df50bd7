//! Class selection, grouping, stratified subsampling and fingerprints.
use std::path::{Path, PathBuf};

use task2vec_data::{DataError, Dataset};

/// A dataset over files that need not exist (views never touch the disk).
fn synthetic(counts: &[(&str, usize)]) -> Dataset {
    let classes = counts.iter().map(|(c, _)| c.to_string()).collect();
    let samples = counts
        .iter()
        .enumerate()
        .flat_map(|(label, (c, n))| {
            (0..*n).map(move |k| (PathBuf::from(format!("{c}/{k}.png")), label))
        })
        .collect();
    Dataset::from_files(Path::new("/nowhere"), classes, samples).unwrap()
}

#[test]
fn select_classes_relabels_in_the_given_order() {
    let ds = synthetic(&[("a", 2), ("b", 3), ("c", 1)]);
    let sel = ds.select_classes(&["c", "a"]).unwrap();
    assert_eq!(sel.classes(), ["c", "a"]);
    // Original order kept: a0 a1 c0 -> labels 1 1 0.
    assert_eq!(sel.labels(), vec![1, 1, 0]);
    assert_eq!(sel.samples()[2].source.to_string(), "c/0.png");
}

#[test]
fn unknown_class_lists_the_known_ones() {
    let ds = synthetic(&[("cat", 1), ("dog", 1)]);
    let err = ds.select_classes(&["cat", "cow"]).unwrap_err();
    assert!(matches!(err, DataError::UnknownClass { .. }));
    let msg = err.to_string();
    assert!(msg.contains("`cow`") && msg.contains("cat, dog"), "{msg}");
    assert!(matches!(
        ds.select_classes(&["cat", "cat"]),
        Err(DataError::DuplicateClass { .. })
    ));
}

#[test]
fn group_classes_merges_and_drops_the_rest() {
    let ds = synthetic(&[("shirt", 2), ("coat", 1), ("sandal", 2), ("bag", 4)]);
    let g = ds
        .group_classes(&[
            ("tops", vec!["shirt", "coat"]),
            ("footwear", vec!["sandal"]),
        ])
        .unwrap();
    assert_eq!(g.classes(), ["tops", "footwear"]);
    assert_eq!(g.labels(), vec![0, 0, 0, 1, 1]);
    assert!(
        ds.group_classes(&[("x", vec!["shirt"]), ("y", vec!["shirt"])])
            .is_err()
    );
}

#[test]
fn take_is_stratified_deterministic_and_seed_dependent() {
    let ds = synthetic(&[("a", 600), ("b", 300), ("c", 100)]);
    let t = ds.take(100, 7);
    let counts: Vec<usize> = t.class_counts().into_iter().map(|(_, n)| n).collect();
    assert_eq!(counts, vec![60, 30, 10]);
    assert_eq!(t.fingerprint(), ds.take(100, 7).fingerprint());
    assert_ne!(t.fingerprint(), ds.take(100, 8).fingerprint());
    // Samples stay in source order and are distinct.
    let srcs: Vec<String> = t.samples().iter().map(|s| s.source.to_string()).collect();
    let mut dedup = srcs.clone();
    dedup.dedup();
    assert_eq!(srcs.len(), dedup.len());
    // Small class keeps a sample even when its share rounds to zero.
    let tiny = synthetic(&[("big", 1000), ("small", 3)]).take(10, 0);
    assert_eq!(tiny.class_counts()[1].1, 1);
    assert_eq!(tiny.len(), 10);
    // No-op when already small enough.
    assert_eq!(ds.take(5000, 1).fingerprint(), ds.fingerprint());
}

#[test]
fn take_per_class_caps_every_class() {
    let ds = synthetic(&[("a", 10), ("b", 2)]);
    let t = ds.take_per_class(3, 1);
    assert_eq!(
        t.class_counts(),
        vec![("a".to_string(), 3), ("b".to_string(), 2)]
    );
}

#[test]
fn fingerprint_matches_an_independent_sha256() {
    // Expected digest computed outside the crate with coreutils:
    // printf 'class\ta\nclass\tb\na/0.png\t0\nb/0.png\t1\n' | sha256sum
    let ds = synthetic(&[("a", 1), ("b", 1)]);
    let fp = ds.fingerprint();
    assert_eq!((fp.n_samples, fp.n_classes), (2, 2));
    assert_eq!(fp.sha256, EXPECTED_AB);
    let json = serde_json::to_string(&fp).unwrap();
    assert!(json.contains("\"n_samples\":2"), "{json}");
    // Relabelling changes it even though the files are the same.
    let swapped = ds.select_classes(&["b", "a"]).unwrap();
    assert_ne!(swapped.fingerprint().sha256, fp.sha256);
}

const EXPECTED_AB: &str = "362df22e4a3668215dd5055e3f5f7d7655ec358a0ff1aace615d60c906ed03ad";

#[test]
fn validate_catches_empty_classes_after_selection() {
    let ds = synthetic(&[("a", 2), ("b", 2)]);
    let half = ds.relabel(vec!["a".into(), "b".into()], |s| {
        (s.label == 0).then_some(0)
    });
    assert!(matches!(
        half.validate(),
        Err(DataError::ClassWithoutSamples { .. })
    ));
    ds.validate().unwrap();
}
