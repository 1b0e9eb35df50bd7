//! `task2vec embed` end to end with the committed tiny-resnet probe on an ImageFolder written to a
//! temporary directory: determinism of the written file, `--classes`, and the bad-input errors.
use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_task2vec"))
}

/// Class-dependent stripes plus a per-image shift, 20×20 RGB.
fn write_folder(root: &Path, classes: &[&str], per_class: usize) {
    for (c, name) in classes.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let img = image::RgbImage::from_fn(20, 20, |x, y| {
                let t = if c % 2 == 0 { x } else { y } + i as u32;
                let v = if (t / 2).is_multiple_of(2) { 200 } else { 30 };
                image::Rgb([v, (v as u32 * (c as u32 + 1) % 256) as u8, 100])
            });
            img.save(dir.join(format!("{i}.png"))).unwrap();
        }
    }
}

fn embed(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .arg("embed")
        .arg(data)
        .args([
            "--probe",
            "tiny-resnet",
            "--input-size",
            "32",
            "--head-epochs",
            "1",
        ])
        .args(["--quiet", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("the binary runs")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A failure with one `error:` line containing every needle, and no panic.
fn assert_clear_error(out: &std::process::Output, needles: &[&str]) {
    let err = stderr(out);
    assert!(!out.status.success(), "expected failure: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    for n in needles {
        assert!(errors[0].contains(n), "{n:?} not in {err}");
    }
}

#[test]
fn same_seed_writes_the_same_bytes_and_classes_select_a_subset() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_folder(&data, &["a", "b", "c"], 4);
    let (x, y, z) = (
        dir.path().join("x.json"),
        dir.path().join("y.json"),
        dir.path().join("z.json"),
    );
    for (out, extra) in [
        (&x, &["--seed", "5", "--name", "abc"][..]),
        (&y, &["--seed", "5", "--name", "abc"][..]),
        (&z, &["--seed", "5", "--classes", "a,c"][..]),
    ] {
        let run = embed(&data, out, extra);
        assert!(run.status.success(), "{}", stderr(&run));
        assert!(stderr(&run).contains("wrote"), "{}", stderr(&run));
    }
    assert_eq!(std::fs::read(&x).unwrap(), std::fs::read(&y).unwrap());
    // Where the activations are held changes no byte: all in memory, or all spilled to disk.
    let (v, w) = (dir.path().join("v.json"), dir.path().join("w.json"));
    for (out, budget, spilled) in [(&v, "4G", false), (&w, "0", true)] {
        let report = dir.path().join(format!("report-{budget}.json"));
        let run = embed(
            &data,
            out,
            &[
                "--seed",
                "5",
                "--name",
                "abc",
                "--augment",
                "none",
                "--cache-budget",
                budget,
                "--report",
                report.to_str().unwrap(),
            ],
        );
        assert!(run.status.success(), "{}", stderr(&run));
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(r["cache"]["spilled"], spilled, "{r}");
        assert_eq!(r["cache"]["kept"], true, "{r}");
        // 12 images at 32² of 3 channels (split point 0: the input itself).
        assert_eq!(r["cache"]["bytes"], 12 * 3 * 32 * 32 * 4, "{r}");
        let used = r["head_images"].as_u64().unwrap() + r["fisher_images"].as_u64().unwrap();
        assert_eq!(used, 12, "{r}");
        if cfg!(target_os = "linux") {
            assert!(stderr(&run).contains("peak memory"), "{}", stderr(&run));
            assert!(r["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "{r}");
        }
    }
    assert_eq!(std::fs::read(&v).unwrap(), std::fs::read(&w).unwrap());
    let z_json: serde_json::Value = serde_json::from_slice(&std::fs::read(&z).unwrap()).unwrap();
    let text = z_json.to_string();
    assert!(text.contains("\"classes\":[\"a\",\"c\"]"), "{text}");
    // Named after the output file unless --name says otherwise.
    assert!(text.contains("\"task\":\"z\""), "{text}");

    // The two embeddings are comparable: `task2vec distance` prints one finite number.
    let out = bin().arg("distance").arg(&x).arg(&z).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let d: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(d.is_finite() && d > 0.0, "{d}");
}

#[test]
fn corrupt_images_are_named_and_skipped_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_folder(&data, &["a", "b"], 3);
    let bad = data.join("b").join("broken.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let out = dir.path().join("e.json");

    let run = embed(&data, &out, &[]);
    assert_clear_error(&run, &["broken.png"]);
    assert!(!out.exists(), "no output after a failure");

    let run = embed(&data, &out, &["--skip-bad-images"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stderr(&run).contains("broken.png"), "{}", stderr(&run));
    assert!(out.exists());
}

#[test]
fn one_class_a_wrong_probe_file_and_an_unknown_class_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one");
    write_folder(&one, &["only"], 3);
    let out = dir.path().join("e.json");
    assert_clear_error(&embed(&one, &out, &[]), &["class"]);

    let two = dir.path().join("two");
    write_folder(&two, &["a", "b"], 3);
    assert_clear_error(&embed(&two, &out, &["--classes", "a,zebra"]), &["zebra"]);

    let not_weights = dir.path().join("weights.safetensors");
    std::fs::write(&not_weights, b"this is not a safetensors file").unwrap();
    let run = embed(&two, &out, &["--weights", not_weights.to_str().unwrap()]);
    assert_clear_error(&run, &["weights.safetensors"]);
    assert!(!out.exists());
}

/// The options `task2vec embed` resolves, as its `--print-options` reports them.
fn printed_options(extra: &[&str]) -> serde_json::Value {
    let out = bin()
        .args([
            "embed",
            "unused-data-dir",
            "--probe",
            "tiny-resnet",
            "--print-options",
        ])
        .args(extra)
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("--print-options prints JSON")
}

/// The library's resolution of `options` for the same probe.
fn library_options(options: task2vec_fisher::EmbedOptions) -> serde_json::Value {
    let device = task2vec_probe::device_from_name("cpu").unwrap();
    let probe = task2vec_probe::Probe::tiny(&device);
    serde_json::to_value(options.resolve(&probe).unwrap()).unwrap()
}

#[test]
fn the_cli_resolves_the_same_options_as_the_library() {
    use task2vec_fisher::{BatchNormMode, EmbedOptions, FisherMethod};
    assert_eq!(
        printed_options(&[]),
        library_options(EmbedOptions::default())
    );
    // The BatchNorm mode of montecarlo-batch is the method's default wherever it is resolved.
    let batch = printed_options(&["--method", "montecarlo-batch"]);
    assert_eq!(
        batch,
        library_options(EmbedOptions {
            method: FisherMethod::MontecarloBatch,
            ..EmbedOptions::default()
        })
    );
    assert_eq!(batch["batch_norm"], "train", "{batch}");
    assert_eq!(batch["include_bn_gamma"], true, "{batch}");
    let mut given = EmbedOptions {
        method: FisherMethod::Exact,
        seed: 9,
        input_size: Some(48),
        batch_norm: Some(BatchNormMode::Eval),
        fisher_batch_size: 3,
        ..EmbedOptions::default()
    };
    given.head.epochs = 2;
    given.head_split = 0.25;
    let printed = printed_options(&[
        "--method",
        "exact",
        "--seed",
        "9",
        "--input-size",
        "48",
        "--batch-norm",
        "eval",
        "--fisher-batch-size",
        "3",
        "--head-epochs",
        "2",
        "--head-split",
        "0.25",
    ]);
    assert_eq!(printed, library_options(given));
    assert_eq!(printed["input_size"], 48);
}

#[test]
fn invalid_options_fail_before_any_work_with_the_option_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_folder(&data, &["a", "b"], 2);
    let out = dir.path().join("e.json");
    for (args, needle) in [
        (
            &["--fisher-batch-size", "0"][..],
            "invalid option `fisher-batch-size`",
        ),
        (&["--head-epochs", "0"][..], "invalid option `head-epochs`"),
        (
            &["--method", "exact", "--batch-norm", "train"][..],
            "invalid option `batch-norm`",
        ),
        (&["--augment", "mirror"][..], "invalid option `augment`"),
        (
            &["--head-early-stop", "1.5"][..],
            "invalid option `head-early-stop`",
        ),
        (&["--skip-layers", "99"][..], "invalid option `skip-layers`"),
        (&["--input-size", "4"][..], "cannot run at 4×4 pixels"),
    ] {
        let run = bin()
            .arg("embed")
            .arg(&data)
            .args(["--probe", "tiny-resnet", "--quiet", "--out"])
            .arg(&out)
            .args(args)
            .output()
            .unwrap();
        assert_clear_error(&run, &[needle]);
        assert!(!out.exists());
    }
}

#[test]
fn domain_embeddings_of_both_baselines_are_written_and_labelled() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_folder(&data, &["a", "b"], 3);
    for (flag, estimator) in [
        ("--domain", "domain-mean-abs-activation"),
        ("--domain=features", "domain-mean-pooled-features"),
    ] {
        let out = dir.path().join("d.json");
        let run = embed(&data, &out, &[flag]);
        assert!(run.status.success(), "{}", stderr(&run));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        let text = json.to_string();
        assert!(
            text.contains(estimator) && text.contains("\"kind\":\"domain\""),
            "{text}"
        );
    }
    assert_clear_error(
        &embed(&data, &dir.path().join("x.json"), &["--domain=pixels"]),
        &["domain", "pixels"],
    );
}
