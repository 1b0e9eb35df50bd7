//! The whole pipeline (`Task2Vec::embed`) on real probes: an ImageFolder written to a temporary
//! directory, embedded with the committed tiny-resnet (and ResNet-34 with formula weights for
//! the layout). Checks the caching at split points against the unsplit run, determinism, that
//! the probe is never modified, and the errors a user meets first.
use std::path::Path;

use burn::tensor::{Device, Distribution, Tensor};
use task2vec_data::Dataset;
use task2vec_fisher::{DomainBaseline, EmbedOptions, FisherMethod, Silent, Task2Vec};
use task2vec_probe::{Probe, ProbeKind};

/// Stripes whose orientation is the class, plus seeded pixel noise, so the head has something
/// to learn and every image is different.
fn pattern(class: usize, index: usize, size: u32) -> image::RgbImage {
    let mut state = (class as u64 * 1_000_003 + index as u64)
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1);
    image::RgbImage::from_fn(size, size, |x, y| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let noise = (state >> 58) as u8; // 0..63
        let on = match class {
            0 => (y / 3) % 2 == 0,
            1 => (x / 3) % 2 == 0,
            _ => ((x / 4) + (y / 4)) % 2 == 0,
        };
        let v = if on { 180 } else { 40 } + noise;
        image::Rgb([v, v / 2 + (class as u8) * 20, 255 - v])
    })
}

/// An ImageFolder with `per_class` images in each of `classes` classes.
fn image_folder(root: &Path, classes: &[&str], per_class: usize) -> Dataset {
    for (c, name) in classes.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            pattern(c, i, 24)
                .save(dir.join(format!("{i:03}.png")))
                .unwrap();
        }
    }
    Dataset::open(root).unwrap()
}

/// Options small enough for a test: a short head fit.
fn quick_options(method: FisherMethod, skip_layers: usize, seed: u64) -> EmbedOptions {
    let mut o = EmbedOptions {
        method,
        skip_layers,
        seed,
        fisher_batch_size: 5,
        cache_batch_size: 7,
        input_size: Some(32),
        ..EmbedOptions::default()
    };
    o.head.epochs = 2;
    o.head.sampler.draws_per_epoch = 256;
    o.head.sampler.batch_size = 16;
    o.variational.epochs = 1;
    o.variational.sampler.draws_per_epoch = 64;
    o.variational.sampler.batch_size = 8;
    o
}

fn logits(probe: &Probe, x: &Tensor<4>) -> Vec<f32> {
    probe
        .logits(x.clone())
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn montecarlo_embedding_is_reproducible_and_leaves_the_probe_untouched() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["checker", "horizontal", "vertical"], 6);
    let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let before = logits(&probe, &x);

    let embed = |seed| {
        let pipeline = Task2Vec::new(
            &probe,
            quick_options(FisherMethod::Montecarlo, 0, seed),
            &device,
        )
        .unwrap();
        pipeline.embed(&data, &Silent).unwrap()
    };
    let (a, report) = embed(3);
    let (b, _) = embed(3);
    let (c, _) = embed(4);

    // One segment per conv, one value per filter, in the probe's order.
    let segments = a.layout().segments();
    assert_eq!(segments.len(), probe.conv_layout().len());
    for (segment, conv) in segments.iter().zip(probe.conv_layout()) {
        assert_eq!(segment.name, conv.name);
        assert_eq!(segment.filters, conv.out_channels);
    }
    assert_eq!(a.hessian().len(), probe.total_filters());
    assert!(a.hessian().iter().all(|v| v.is_finite() && *v >= 0.0));
    assert!(a.hessian().iter().any(|v| *v > 0.0));
    assert_eq!(
        report.class_counts,
        [
            ("checker".to_string(), 6),
            ("horizontal".to_string(), 6),
            ("vertical".to_string(), 6)
        ]
    );
    let meta = a.meta();
    assert_eq!(meta.seed, Some(3));
    assert_eq!(meta.skip_layers, Some(0));
    assert_eq!(meta.probe.as_ref().unwrap().name, "tiny-resnet");
    assert_eq!(meta.dataset.as_ref().unwrap().samples, 18);

    // Same seed, same bytes on disk; another seed, another Monte-Carlo draw.
    let (pa, pb) = (dir.path().join("a.json"), dir.path().join("b.json"));
    a.save(&pa).unwrap();
    b.save(&pb).unwrap();
    assert_eq!(std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap());
    assert_ne!(a.hessian(), c.hessian());

    // BatchNorm running statistics and weights are untouched: the same logits, bit for bit.
    assert_eq!(before, logits(&probe, &x));
}

/// The activations cached at split point k, fed through the rest of the probe, must give the
/// same Fisher for the convs after k as the unsplit run (the head fit sees the same features).
#[test]
fn a_split_point_changes_which_layers_are_covered_not_their_values() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["horizontal", "vertical"], 5);
    let embed = |k| {
        Task2Vec::new(&probe, quick_options(FisherMethod::Exact, k, 1), &device)
            .unwrap()
            .embed(&data, &Silent)
            .unwrap()
            .0
    };
    let full = embed(0);
    let full_values = full.hessian().to_vec();
    let mut checked = 0;
    for (k, split) in probe.split_points().iter().enumerate().skip(1) {
        if split.first_conv >= probe.conv_layout().len() {
            continue;
        }
        let part = embed(k);
        let names: Vec<&str> = part
            .layout()
            .segments()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let expected: Vec<&str> = probe.conv_layout()[split.first_conv..]
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, expected, "split point {k} ({})", split.name);
        let offset: usize = probe.conv_layout()[..split.first_conv]
            .iter()
            .map(|c| c.out_channels)
            .sum();
        let tail = &full_values[offset..];
        let scale = tail.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0);
        for (i, (p, f)) in part.hessian().iter().zip(tail).enumerate() {
            assert!(
                (p - f).abs() <= 1e-4 * scale,
                "split {k}, value {i}: {p:e} vs unsplit {f:e}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} split points checked");
}

/// The paper's estimator after a split (REF breaks there): learned precisions per filter and
/// the prior precision as `scale`, so the trivial embedding exists.
#[test]
fn variational_works_after_a_split_point() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["horizontal", "vertical"], 4);
    let k = 5; // after layer1
    let (e, _) = Task2Vec::new(
        &probe,
        quick_options(FisherMethod::Variational, k, 2),
        &device,
    )
    .unwrap()
    .embed(&data, &Silent)
    .unwrap();
    let first = probe.split_points()[k].first_conv;
    let filters: usize = probe.conv_layout()[first..]
        .iter()
        .map(|c| c.out_channels)
        .sum();
    assert_eq!(e.hessian().len(), filters);
    assert!(
        e.has_prior(),
        "variational embeddings carry the prior precision"
    );
    let scale = e.scale();
    assert_eq!(scale.len(), filters);
    assert!(e.hessian().iter().all(|v| v.is_finite() && *v > 0.0));
    assert!(scale.iter().all(|v| v.is_finite() && *v > 0.0));
    let t0 = task2vec_embedding::trivial_embedding(&e, None).unwrap();
    assert_eq!(t0.hessian(), scale);
    assert_eq!(t0.scale(), scale);
}

#[test]
fn resnet34_embedding_has_36_segments_and_8512_values() {
    let device = Device::flex();
    let probe = Probe::with_formula_weights(ProbeKind::Resnet34, &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["horizontal", "vertical"], 2);
    let (e, _) = Task2Vec::new(
        &probe,
        quick_options(FisherMethod::Montecarlo, 0, 0),
        &device,
    )
    .unwrap()
    .embed(&data, &Silent)
    .unwrap();
    assert_eq!(e.layout().segments().len(), 36);
    assert_eq!(e.hessian().len(), 8512);
    assert_eq!(e.layout().segments()[0].name, "conv1");
    assert_eq!(e.layout().segments()[35].name, "layer4.2.conv2");
    assert!(e.hessian().iter().all(|v| v.is_finite()));
}

#[test]
fn one_class_and_a_bad_split_point_are_clear_errors() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["only"], 3);
    let pipeline = Task2Vec::new(
        &probe,
        quick_options(FisherMethod::Montecarlo, 0, 0),
        &device,
    )
    .unwrap();
    let err = pipeline.embed(&data, &Silent).unwrap_err().to_string();
    assert!(err.contains("class"), "{err}");

    let too_far = probe.split_points().len();
    let err = Task2Vec::new(
        &probe,
        quick_options(FisherMethod::Montecarlo, too_far, 0),
        &device,
    )
    .err()
    .expect("split point out of range")
    .to_string();
    assert!(err.contains("skip-layers"), "{err}");
}

#[test]
fn options_are_resolved_once_against_the_probe() {
    use task2vec_fisher::BatchNormMode;
    let device = Device::flex();
    let effnet = Probe::with_formula_weights(ProbeKind::EfficientNetLite0, &device).unwrap();
    let sized = |size| EmbedOptions {
        input_size: Some(size),
        ..EmbedOptions::default()
    };
    for ok in [64, 224] {
        assert_eq!(sized(ok).resolve(&effnet).unwrap().input_size(), ok);
    }
    let err = sized(100).resolve(&effnet).unwrap_err().to_string();
    assert!(err.contains("multiples of 32"), "{err}");
    assert!(Task2Vec::new(&effnet, sized(100), &device).is_err());

    let tiny = Probe::tiny(&device);
    let defaults = EmbedOptions::default().resolve(&tiny).unwrap();
    assert_eq!(defaults.input_size(), tiny.native_input_size());
    assert_eq!(defaults.batch_norm(), BatchNormMode::Eval);
    assert!(!defaults.bn_gamma_included());
    let batch = EmbedOptions {
        method: FisherMethod::MontecarloBatch,
        ..EmbedOptions::default()
    }
    .resolve(&tiny)
    .unwrap();
    assert_eq!(batch.batch_norm(), BatchNormMode::Train);
    assert!(batch.bn_gamma_included());
    let beyond = EmbedOptions {
        skip_layers: tiny.split_points().len(),
        ..EmbedOptions::default()
    };
    assert!(
        beyond
            .resolve(&tiny)
            .unwrap_err()
            .to_string()
            .contains("skip-layers")
    );
}

#[test]
fn task_and_domain_embeddings_record_what_they_are_and_refuse_each_other() {
    use task2vec_embedding::{Compatibility, EmbeddingKind, Metric, distance, distance_with};
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["horizontal", "vertical"], 4);
    let pipeline =
        Task2Vec::new(&probe, quick_options(FisherMethod::Exact, 0, 0), &device).unwrap();
    let (task, _) = pipeline.embed(&data, &Silent).unwrap();
    let domain = pipeline
        .embed_domain(&data, DomainBaseline::ConvActivations, &Silent)
        .unwrap();
    assert_eq!(task.meta().kind, Some(EmbeddingKind::Task));
    assert_eq!(domain.meta().kind, Some(EmbeddingKind::Domain));
    assert_eq!(task.meta().input_size, Some(32));
    let err = distance(&task, &domain, Metric::Cosine)
        .unwrap_err()
        .to_string();
    assert!(err.contains("task vs domain"), "{err}");
    // Deliberately comparing them stays possible (same probe, same layout).
    let d = distance_with(&task, &domain, Metric::Cosine, Compatibility::Structural).unwrap();
    assert!(d.is_finite());

    // Same task at another input size, or with another estimator: refused too.
    let other_size = Task2Vec::new(
        &probe,
        EmbedOptions {
            input_size: Some(40),
            ..quick_options(FisherMethod::Exact, 0, 0)
        },
        &device,
    )
    .unwrap()
    .embed(&data, &Silent)
    .unwrap()
    .0;
    let err = distance(&task, &other_size, Metric::Cosine)
        .unwrap_err()
        .to_string();
    assert!(err.contains("input size"), "{err}");
    let other_method = Task2Vec::new(
        &probe,
        quick_options(FisherMethod::Montecarlo, 0, 0),
        &device,
    )
    .unwrap()
    .embed(&data, &Silent)
    .unwrap()
    .0;
    let err = distance(&task, &other_method, Metric::Cosine)
        .unwrap_err()
        .to_string();
    assert!(err.contains("estimator"), "{err}");
}

#[test]
fn the_held_out_error_is_a_deterministic_fraction_and_needs_a_real_split() {
    use task2vec_fisher::linear_probe::held_out_error;
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["horizontal", "vertical"], 10);
    let mut options = quick_options(FisherMethod::Exact, 0, 3);
    options.head.epochs = 10;
    let pipeline = Task2Vec::new(&probe, options, &device).unwrap();
    let a = held_out_error(&pipeline, &data, 0.2, &Silent).unwrap();
    let b = held_out_error(&pipeline, &data, 0.2, &Silent).unwrap();
    assert_eq!(a, b);
    assert!((0.0..=1.0).contains(&a));
    assert!(held_out_error(&pipeline, &data, 1.0, &Silent).is_err());
    assert!(held_out_error(&pipeline, &data, 0.0, &Silent).is_err());
}

#[test]
fn with_a_head_split_no_fisher_image_is_fitted_by_the_head() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["horizontal", "vertical", "checks"], 7);
    let embed = |split: f64, seed: u64| {
        let options = EmbedOptions {
            head_split: split,
            ..quick_options(FisherMethod::Exact, 0, seed)
        };
        Task2Vec::new(&probe, options, &device)
            .unwrap()
            .embed(&data, &Silent)
            .unwrap()
    };
    let (shared, shared_report) = embed(0.0, 1);
    assert_eq!(shared_report.head_images, (0..21).collect::<Vec<_>>());
    assert_eq!(shared_report.fisher_images, shared_report.head_images);

    let (split, report) = embed(0.5, 1);
    let head: std::collections::BTreeSet<usize> = report.head_images.iter().copied().collect();
    assert!(
        report.fisher_images.iter().all(|i| !head.contains(i)),
        "a Fisher image was in the head fit: {report:?}"
    );
    let mut all: Vec<usize> = report
        .head_images
        .iter()
        .chain(&report.fisher_images)
        .copied()
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..21).collect::<Vec<_>>(), "every image is used once");
    // Every class is on both sides: round(7 × 0.5) = 4 for the head, 3 for the Fisher.
    let labels = data.labels();
    for class in 0..3 {
        let count = |idx: &[usize]| idx.iter().filter(|&&i| labels[i] == class).count();
        assert_eq!(count(&report.head_images), 4);
        assert_eq!(count(&report.fisher_images), 3);
    }
    assert_eq!(split.meta().extra["fisher_images"], 9);
    assert_ne!(split.hessian(), shared.hessian());
    // Same seed, same split and same bytes; another seed, another split.
    let (again, again_report) = embed(0.5, 1);
    assert_eq!(again_report.head_images, report.head_images);
    assert_eq!(again.hessian(), split.hessian());
    assert_ne!(embed(0.5, 2).1.head_images, report.head_images);

    // A class of one image cannot be split: a clear error naming it.
    let one = tempfile::tempdir().unwrap();
    let small = image_folder(one.path(), &["a", "b"], 1);
    let err = Task2Vec::new(
        &probe,
        EmbedOptions {
            head_split: 0.5,
            ..quick_options(FisherMethod::Exact, 0, 0)
        },
        &device,
    )
    .unwrap()
    .embed(&small, &Silent)
    .unwrap_err()
    .to_string();
    assert!(err.contains("`a`") && err.contains("head-split"), "{err}");
}

#[test]
fn the_mean_feature_baseline_is_the_mean_pooled_feature_vector() {
    use task2vec_embedding::{EmbeddingKind, Metric, distance};
    use task2vec_probe::PassThrough;
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["horizontal", "vertical"], 3);
    let pipeline =
        Task2Vec::new(&probe, quick_options(FisherMethod::Exact, 0, 0), &device).unwrap();
    let features = pipeline
        .embed_domain(&data, DomainBaseline::PooledFeatures, &Silent)
        .unwrap();
    // Independently: one forward of all six images through the whole probe, then the mean.
    let images: Vec<_> = (0..data.len())
        .map(|i| data.load_image(i).unwrap())
        .collect();
    let x = probe.preprocessor(32).batch(&images, &device).unwrap();
    let pooled = probe.features_from(0, probe.forward_to(0, x), &mut PassThrough);
    let [n, dim] = pooled.dims();
    let rows: Vec<f32> = pooled
        .inner()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    let expected: Vec<f64> = (0..dim)
        .map(|j| (0..n).map(|i| rows[i * dim + j] as f64).sum::<f64>() / n as f64)
        .collect();
    assert_eq!(features.dim(), dim);
    for (got, want) in features.hessian().iter().zip(&expected) {
        assert!(
            (got - want).abs() <= 1e-5 * want.abs().max(1e-3),
            "{got} vs {want}"
        );
    }
    assert_eq!(features.meta().kind, Some(EmbeddingKind::Domain));
    let estimator = features.meta().estimator.as_ref().unwrap();
    assert_eq!(estimator.name, "domain-mean-pooled-features");
    assert_eq!(features.layout().segments()[0].name, "pooled-features");
    // The two baselines have different layouts: never compared, even with --force.
    let conv = pipeline
        .embed_domain(&data, DomainBaseline::ConvActivations, &Silent)
        .unwrap();
    assert!(distance(&features, &conv, Metric::Cosine).is_err());
}

#[test]
fn augmented_views_are_deterministic_per_seed_and_differ_between_draws() {
    use task2vec_fisher::Augment;
    use task2vec_fisher::augment::AugmentedInputs;
    use task2vec_fisher::estimator::FisherInputs;
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["horizontal", "vertical", "checks"], 5);
    let with_budget = |seed: u64, budget: u64| {
        AugmentedInputs::new(
            &data,
            &[0, 4, 9],
            Augment::Ref,
            &probe,
            0,
            32,
            seed,
            budget,
            &device,
        )
        .unwrap()
    };
    let inputs = |seed: u64| with_budget(seed, u64::MAX);
    let values = |x: Tensor<4>| x.into_data().try_to_vec::<f32>().unwrap();
    let a = inputs(3);
    assert_eq!(a.len(), 3);
    let first = values(a.views(&[(0, 0), (1, 0), (2, 0)]).unwrap());
    // The same (sample, draw) gives the same view, whatever else is in the batch.
    assert_eq!(
        values(inputs(3).views(&[(0, 0), (1, 0), (2, 0)]).unwrap()),
        first
    );
    let alone = values(a.views(&[(1, 0)]).unwrap());
    assert_eq!(alone, first[first.len() / 3..2 * first.len() / 3]);
    // Another draw, another sample or another seed: another view.
    assert_ne!(values(a.views(&[(1, 1)]).unwrap()), alone);
    assert_ne!(values(inputs(4).views(&[(1, 0)]).unwrap()), alone);
    // Images held decoded (all, the first of the three 24×24 ones, none) or decoded again per
    // view: the same views.
    let batch = [(2, 5), (0, 1), (1, 0), (0, 7)];
    let held = values(inputs(3).views(&batch).unwrap());
    for budget in [24 * 24 * 3, 0] {
        assert_eq!(values(with_budget(3, budget).views(&batch).unwrap()), held);
    }
    // `none` has no views to make.
    let none = AugmentedInputs::new(&data, &[0], Augment::None, &probe, 0, 32, 0, 0, &device);
    assert!(none.is_err());
    // At a split point the views are forwarded there: the tail's input shape.
    let split =
        AugmentedInputs::new(&data, &[0], Augment::Crop, &probe, 2, 32, 0, 0, &device).unwrap();
    let x = split.views(&[(0, 0)]).unwrap();
    let plain = probe.forward_to(2, Tensor::<4>::zeros([1, 3, 32, 32], &device));
    assert_eq!(x.dims(), plain.dims());
}

#[test]
fn augmentation_changes_the_embedding_reproducibly() {
    use task2vec_fisher::Augment;
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["horizontal", "vertical", "checks"], 6);
    for method in [FisherMethod::Montecarlo, FisherMethod::Variational] {
        let embed = |augment: Augment, seed: u64| {
            let mut options = EmbedOptions {
                augment,
                ..quick_options(method, 0, seed)
            };
            options.montecarlo.samples_per_image = 2;
            Task2Vec::new(&probe, options, &device)
                .unwrap()
                .embed(&data, &Silent)
                .unwrap()
                .0
        };
        let plain = embed(Augment::None, 1);
        let aug = embed(Augment::Ref, 1);
        assert_ne!(plain.hessian(), aug.hessian(), "{method}");
        assert_eq!(embed(Augment::Ref, 1).hessian(), aug.hessian(), "{method}");
        assert_ne!(embed(Augment::Ref, 2).hessian(), aug.hessian(), "{method}");
        let hp = &aug.meta().estimator.as_ref().unwrap().hyperparameters;
        assert_eq!(
            hp["augment"], "ref",
            "{method}: the option is in the provenance"
        );
    }
}

#[test]
fn variational_runs_batch_norm_in_the_mode_asked_for() {
    use task2vec_fisher::BatchNormMode;
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["horizontal", "vertical"], 6);
    let embed = |batch_norm: Option<BatchNormMode>| {
        let options = EmbedOptions {
            batch_norm,
            ..quick_options(FisherMethod::Variational, 0, 0)
        };
        let pipeline = Task2Vec::new(&probe, options, &device).unwrap();
        let mode = pipeline.options().batch_norm();
        (mode, pipeline.embed(&data, &Silent).unwrap().0)
    };
    let (default_mode, default) = embed(None);
    assert_eq!(default_mode, FisherMethod::Variational.default_batch_norm());
    let (eval_mode, eval) = embed(Some(BatchNormMode::Eval));
    let (train_mode, train) = embed(Some(BatchNormMode::Train));
    assert_eq!(
        (eval_mode, train_mode),
        (BatchNormMode::Eval, BatchNormMode::Train)
    );
    assert_ne!(eval.hessian(), train.hessian());
    let same = if default_mode == BatchNormMode::Eval {
        &eval
    } else {
        &train
    };
    assert_eq!(default.hessian(), same.hessian());
    let hp = &train.meta().estimator.as_ref().unwrap().hyperparameters;
    assert_eq!(hp["batch_norm"], "train");
}

#[test]
fn embedding_from_a_shared_cache_equals_embedding_from_the_dataset() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["horizontal", "vertical"], 6);
    let pipeline =
        Task2Vec::new(&probe, quick_options(FisherMethod::Exact, 1, 0), &device).unwrap();
    let selected = pipeline.select(&data).unwrap();
    let cache = pipeline.cache(&selected, &Silent).unwrap();
    let direct = pipeline.embed(&data, &Silent).unwrap().0;
    let cached = pipeline
        .embed_from_cache(&selected, &cache, &Silent)
        .unwrap()
        .0;
    assert_eq!(direct, cached);
    for baseline in [
        DomainBaseline::ConvActivations,
        DomainBaseline::PooledFeatures,
    ] {
        assert_eq!(
            pipeline.embed_domain(&data, baseline, &Silent).unwrap(),
            pipeline
                .embed_domain_from_cache(&selected, &cache, baseline, &Silent)
                .unwrap()
        );
    }
    // A cache of other images is refused.
    let other = tempfile::tempdir().unwrap();
    let small = image_folder(other.path(), &["a", "b"], 3);
    let err = pipeline
        .embed_from_cache(&small, &cache, &Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cache"), "{err}");
}

#[test]
fn a_cache_spilled_to_disk_gives_the_same_bytes_as_one_in_memory() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let spill = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["horizontal", "vertical"], 6);
    let mut montecarlo = quick_options(FisherMethod::Montecarlo, 0, 3);
    montecarlo.montecarlo.epochs = 2;
    let cases = [
        // Fisher on the cached rows of the held-out half (read back in batches).
        (
            "none, head split",
            EmbedOptions {
                augment: task2vec_fisher::Augment::None,
                ..montecarlo.clone()
            },
        ),
        (
            "none, every image",
            EmbedOptions {
                augment: task2vec_fisher::Augment::None,
                head_split: 0.0,
                ..quick_options(FisherMethod::Exact, 1, 0)
            },
        ),
        // Fisher on augmented views: the activations are not kept at all.
        ("ref", montecarlo),
    ];
    for (name, options) in cases {
        let in_memory = Task2Vec::new(&probe, options.clone(), &device)
            .unwrap()
            .with_cache_budget(u64::MAX);
        let on_disk = Task2Vec::new(&probe, options.clone(), &device)
            .unwrap()
            .with_cache_budget(0)
            .with_spill_dir(spill.path());
        let (a, report_a) = in_memory.embed(&data, &Silent).unwrap();
        let (b, report_b) = on_disk.embed(&data, &Silent).unwrap();
        let (file_a, file_b) = (out.path().join("a.json"), out.path().join("b.json"));
        a.save(&file_a).unwrap();
        b.save(&file_b).unwrap();
        let bytes = |p| std::fs::read(p).unwrap();
        assert_eq!(bytes(&file_a), bytes(&file_b), "{name}");
        let kept = options.augment == task2vec_fisher::Augment::None;
        assert_eq!((report_a.cache.kept, report_b.cache.kept), (kept, kept));
        assert!(!report_a.cache.spilled, "{name}");
        assert_eq!(report_b.cache.spilled, kept, "{name}");
        assert_eq!(report_a.cache.bytes, report_b.cache.bytes);
        if cfg!(target_os = "linux") {
            assert!(report_b.peak_rss_bytes.unwrap() > 0);
        }
    }
    // The spill file has no name: nothing is left in the directory.
    assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0);

    // The domain embedding from conv activations reads them back from disk too.
    let options = quick_options(FisherMethod::Exact, 1, 0);
    let in_memory = Task2Vec::new(&probe, options.clone(), &device).unwrap();
    let on_disk = Task2Vec::new(&probe, options, &device)
        .unwrap()
        .with_cache_budget(0);
    let conv = DomainBaseline::ConvActivations;
    assert_eq!(
        in_memory.embed_domain(&data, conv, &Silent).unwrap(),
        on_disk.embed_domain(&data, conv, &Silent).unwrap()
    );
}

#[test]
fn a_cache_of_features_only_refuses_what_needs_activations() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["horizontal", "vertical"], 4);
    let pipeline =
        Task2Vec::new(&probe, quick_options(FisherMethod::Exact, 1, 0), &device).unwrap();
    let selected = pipeline.select(&data).unwrap();
    let features_only = pipeline.cache_with(&selected, false, &Silent).unwrap();
    assert_eq!(features_only.activations.rows(), selected.len());
    // The pooled-feature baseline needs nothing else…
    let full = pipeline.cache(&selected, &Silent).unwrap();
    let pooled = DomainBaseline::PooledFeatures;
    assert_eq!(
        pipeline
            .embed_domain_from_cache(&selected, &features_only, pooled, &Silent)
            .unwrap(),
        pipeline
            .embed_domain_from_cache(&selected, &full, pooled, &Silent)
            .unwrap()
    );
    // …the conv-activation baseline says what is missing.
    let err = pipeline
        .embed_domain_from_cache(
            &selected,
            &features_only,
            DomainBaseline::ConvActivations,
            &Silent,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("kept only pooled features"), "{err}");
}

#[test]
fn an_image_that_fails_to_decode_mid_cache_is_an_error_naming_it() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let dir = tempfile::tempdir().unwrap();
    let data = image_folder(dir.path(), &["horizontal", "vertical"], 9);
    // Broken after the dataset was opened, in the cache stage's second batch (batches of 7).
    let broken = dir.path().join("vertical").join("004.png");
    std::fs::write(&broken, b"not a png").unwrap();
    let pipeline =
        Task2Vec::new(&probe, quick_options(FisherMethod::Exact, 1, 0), &device).unwrap();
    for keep in [true, false] {
        let err = pipeline
            .cache_with(&data, keep, &Silent)
            .err()
            .expect("a broken image is an error")
            .to_string();
        assert!(err.contains("004.png"), "{err}");
    }
}
