//! Experts on the committed tiny-resnet: fine-tuning the tail lowers the source task's held-out
//! error against the unmodified probe, training is deterministic per seed (same bytes), the file
//! round-trips exactly, and bad files or the wrong probe are refused with errors that say why.
#![cfg(feature = "expert")]
use std::path::Path;

use burn::tensor::Device;
use task2vec_data::Dataset;
use task2vec_fisher::Silent;
use task2vec_model2vec::expert::{ExpertError, cache_at_split, default_tail_from};
use task2vec_model2vec::{Expert, ExpertOptions};
use task2vec_probe::{Probe, ProbeKind};

/// Stripes whose orientation is the class (as in the fisher crate's pipeline tests) under strong
/// seeded noise: tiny-resnet's fixed features separate them imperfectly, a fine-tuned tail better.
fn pattern(class: usize, index: usize, size: u32) -> image::RgbImage {
    let mut state = (class as u64 * 1_000_003 + index as u64 * 7919)
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1);
    let phase = index as u32 % 4;
    image::RgbImage::from_fn(size, size, |x, y| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let noise = (state >> 57) as u8; // 0..127
        let on = match class {
            0 => ((y + phase) / 2).is_multiple_of(2),
            1 => ((x + phase) / 2).is_multiple_of(2),
            _ => ((x + y + phase) / 2).is_multiple_of(2),
        };
        let v = if on { 100u8 } else { 60 } + noise;
        image::Rgb([v, v, v])
    })
}

fn image_folder(root: &Path, classes: &[&str], per_class: usize) -> Dataset {
    for (c, name) in classes.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            pattern(c, i, 32)
                .save(dir.join(format!("{i:03}.png")))
                .unwrap();
        }
    }
    Dataset::open(root).unwrap()
}

fn options(seed: u64) -> ExpertOptions {
    ExpertOptions {
        input_size: Some(32),
        epochs: 8,
        learning_rate: 2e-3,
        batch_size: 16,
        max_samples: None,
        held_out: 0.3,
        seed,
        ..ExpertOptions::default()
    }
}

#[test]
fn fine_tuning_lowers_the_source_error_and_is_deterministic() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["p3", "p4", "p5"], 40);
    let expert = Expert::train(&probe, &data, "stripes", &options(0), &device, &Silent).unwrap();
    let fit = &expert.meta().fit;
    eprintln!("{fit:?}");
    assert_eq!(fit.train_images + fit.held_out_images, 120);
    assert!(
        fit.expert_held_out_error < fit.probe_held_out_error,
        "fine-tuning should beat the unmodified probe on its own task: {fit:?}"
    );
    assert_eq!(expert.tail_from(), default_tail_from(&probe));

    // Same seed, same bytes; another seed, another expert.
    let a = dir.path().join("a.expert");
    let b = dir.path().join("b.expert");
    let c = dir.path().join("c.expert");
    expert.save(&a).unwrap();
    Expert::train(&probe, &data, "stripes", &options(0), &device, &Silent)
        .unwrap()
        .save(&b)
        .unwrap();
    let other = Expert::train(&probe, &data, "stripes", &options(1), &device, &Silent).unwrap();
    other.save(&c).unwrap();
    let bytes = |p: &Path| std::fs::read(p).unwrap();
    // The fit's wall-clock seconds are recorded: compare the files without them.
    let strip = |p: &Path| {
        let e = Expert::load(p, &device).unwrap();
        let mut m = e.meta().clone();
        m.fit.seconds = 0.0;
        (serde_json::to_string(&m).unwrap(), e)
    };
    let (ma, ea) = strip(&a);
    let (mb, eb) = strip(&b);
    assert_eq!(ma, mb);
    let cache = cache_at_split(&probe, &data, ea.tail_from(), 32, &device, &Silent).unwrap();
    let fa = ea
        .run_cached(&probe, &cache.activations, cache.labels.clone(), 16)
        .unwrap();
    let fb = eb
        .run_cached(&probe, &cache.activations, cache.labels.clone(), 16)
        .unwrap();
    assert_eq!(fa.features, fb.features, "same seed, same tail");
    let fc = other
        .run_cached(&probe, &cache.activations, cache.labels.clone(), 16)
        .unwrap();
    assert_ne!(fa.features, fc.features, "another seed, another tail");
    assert_ne!(bytes(&a).len(), 0);

    // The loaded expert computes exactly what the trained one does.
    let fe = expert
        .run_cached(&probe, &cache.activations, cache.labels.clone(), 7)
        .unwrap();
    assert_eq!(fe.features, fa.features);
    assert_eq!(fe.source_probs, fa.source_probs);
    // ... and differs from the unmodified probe's features.
    assert_ne!(fe.features, cache.features);
    let rows = fe.source_probs.len() / 3;
    for r in 0..rows {
        let s: f32 = fe.source_probs[r * 3..r * 3 + 3].iter().sum();
        assert!((s - 1.0).abs() < 1e-4);
    }
}

#[test]
fn shuffled_labels_make_a_bad_expert() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["p3", "p4", "p5"], 40);
    let good = Expert::train(&probe, &data, "stripes", &options(0), &device, &Silent).unwrap();
    let bad = Expert::train(
        &probe,
        &data,
        "stripes-shuffled",
        &ExpertOptions {
            shuffle_labels: true,
            ..options(0)
        },
        &device,
        &Silent,
    )
    .unwrap();
    eprintln!("good {:?}\nbad {:?}", good.meta().fit, bad.meta().fit);
    // Held-out labels are shuffled too: its own error is near chance (2/3).
    assert!(
        bad.meta().fit.expert_held_out_error > 0.4,
        "{:?}",
        bad.meta().fit
    );
    assert!(bad.meta().fit.expert_held_out_error > good.meta().fit.expert_held_out_error);
}

#[test]
fn bad_files_and_the_wrong_probe_are_refused() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(&dir.path().join("data"), &["p3", "p4"], 12);
    let o = ExpertOptions {
        epochs: 1,
        ..options(0)
    };
    let expert = Expert::train(&probe, &data, "two", &o, &device, &Silent).unwrap();
    let path = dir.path().join("two.expert");
    expert.save(&path).unwrap();

    // Truncated, garbage, and a plain safetensors file without our metadata.
    let bytes = std::fs::read(&path).unwrap();
    for (name, content) in [
        ("truncated.expert", bytes[..bytes.len() / 2].to_vec()),
        ("garbage.expert", b"not an expert at all".to_vec()),
        ("empty.expert", Vec::new()),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        let err = Expert::load(&p, &device).unwrap_err();
        assert!(matches!(err, ExpertError::Format { .. }), "{name}: {err}");
        assert!(err.to_string().contains(name), "{err}");
    }
    let missing = Expert::load(&dir.path().join("nope.expert"), &device).unwrap_err();
    assert!(missing.to_string().contains("nope.expert"), "{missing}");

    // The same architecture with other weights is another probe.
    let other = Probe::with_formula_weights(ProbeKind::TinyResnet, &device).unwrap();
    let loaded = Expert::load(&path, &device).unwrap();
    let cache = cache_at_split(&other, &data, loaded.tail_from(), 32, &device, &Silent).unwrap();
    let err = loaded
        .run_cached(&other, &cache.activations, cache.labels, 8)
        .unwrap_err();
    assert!(matches!(err, ExpertError::ProbeMismatch { .. }), "{err}");

    // Options are checked before any work.
    for (bad, name) in [
        (
            ExpertOptions {
                epochs: 0,
                ..o.clone()
            },
            "epochs",
        ),
        (
            ExpertOptions {
                held_out: 1.0,
                ..o.clone()
            },
            "held-out",
        ),
        (
            ExpertOptions {
                tail_from: Some(99),
                ..o.clone()
            },
            "tail-from",
        ),
        (
            ExpertOptions {
                learning_rate: f64::NAN,
                ..o.clone()
            },
            "learning-rate",
        ),
    ] {
        let err = Expert::train(&probe, &data, "x", &bad, &device, &Silent).unwrap_err();
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
}

#[test]
fn the_meta_task_is_deterministic_per_seed_and_paired_across_experts() {
    use task2vec_model2vec::expert::metatask::{MetaTaskOptions, split_error, splits};
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["p3", "p4", "p5"], 20);
    let o = ExpertOptions {
        epochs: 2,
        ..options(0)
    };
    let expert = Expert::train(&probe, &data, "stripes", &o, &device, &Silent).unwrap();
    let cache = cache_at_split(&probe, &data, expert.tail_from(), 32, &device, &Silent).unwrap();
    let outputs = expert
        .run_cached(&probe, &cache.activations, cache.labels.clone(), 16)
        .unwrap();
    let labels = data.labels();
    let meta = |seed| MetaTaskOptions {
        repeats: 3,
        seed,
        ..MetaTaskOptions::default()
    };
    let a = splits(&labels, 3, &meta(7)).unwrap();
    let b = splits(&labels, 3, &meta(7)).unwrap();
    let c = splits(&labels, 3, &meta(8)).unwrap();
    assert_eq!(a, b, "same seed, same splits");
    assert_ne!(a, c, "another seed, other splits");
    assert_ne!(a[0], a[1], "each repeat is its own split");
    for (test, train) in &a {
        // Disjoint, complete, every class in both parts (30 % of 20 = 6 tested per class).
        assert_eq!(test.len() + train.len(), 60);
        assert_eq!(test.len(), 18);
        assert!(test.iter().all(|i| !train.contains(i)));
    }
    // Adding repeats never changes the earlier ones.
    let more = splits(
        &labels,
        3,
        &MetaTaskOptions {
            repeats: 5,
            ..meta(7)
        },
    )
    .unwrap();
    assert_eq!(&more[..3], &a[..]);
    let e1: Vec<f64> = a
        .iter()
        .map(|s| split_error(&outputs, 3, s, &meta(7)).unwrap())
        .collect();
    let e2: Vec<f64> = b
        .iter()
        .map(|s| split_error(&outputs, 3, s, &meta(7)).unwrap())
        .collect();
    assert_eq!(e1, e2, "the error of a cell is a function of the seed");
    assert!(e1.iter().all(|e| (0.0..=1.0).contains(e)));
    // Bad options are errors, not panics.
    assert!(
        splits(
            &labels,
            3,
            &MetaTaskOptions {
                repeats: 0,
                ..meta(7)
            }
        )
        .is_err()
    );
    assert!(
        splits(
            &labels,
            3,
            &MetaTaskOptions {
                test_fraction: 1.0,
                ..meta(7)
            }
        )
        .is_err()
    );
}
