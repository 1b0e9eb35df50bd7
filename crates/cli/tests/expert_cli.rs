//! `task2vec expert train|features`, `task2vec model2vec train` and `task2vec select --model2vec`
//! end to end with the committed tiny-resnet on ImageFolders written to a temporary directory:
//! the files they write, the experts' features, a Model2Vec fitted on a small error matrix, and
//! the errors a user meets first.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_task2vec"))
}

/// Class-dependent stripes (orientation by class, period by `style`) with a per-image shift.
fn write_folder(root: &Path, classes: &[&str], per_class: usize, style: u32) {
    for (c, name) in classes.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let img = image::RgbImage::from_fn(24, 24, |x, y| {
                let t = if c % 2 == 0 { x } else { y } + i as u32;
                let v = if (t / (2 + style)).is_multiple_of(2) {
                    200
                } else {
                    30
                };
                image::Rgb([v, (v as u32 * (c as u32 + 1) % 256) as u8, 40 * style as u8])
            });
            img.save(dir.join(format!("{i}.png"))).unwrap();
        }
    }
}

fn run(args: &[&str], paths: &[&Path]) -> Output {
    let mut cmd = bin();
    cmd.args(args);
    for p in paths {
        cmd.arg(p);
    }
    cmd.output().expect("the binary runs")
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_clear_error(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected failure: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err}");
    }
}

fn embed(data: &Path, out: &Path, name: &str) {
    ok(&bin()
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
        .args(["--augment", "none", "--quiet", "--name", name, "--out"])
        .arg(out)
        .output()
        .unwrap());
}

fn train_expert(data: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .args(["expert", "train"])
        .arg(data)
        .args([
            "--probe",
            "tiny-resnet",
            "--input-size",
            "32",
            "--epochs",
            "2",
        ])
        .args(["--batch-size", "8", "--quiet", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn experts_features_model2vec_and_selection() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sources: Vec<PathBuf> = (0..3).map(|k| d.join(format!("source{k}"))).collect();
    let targets: Vec<PathBuf> = (0..3).map(|k| d.join(format!("target{k}"))).collect();
    for (k, p) in sources.iter().enumerate() {
        write_folder(p, &["a", "b"], 8, k as u32);
    }
    for (k, p) in targets.iter().enumerate() {
        write_folder(p, &["u", "v", "w"], 6, k as u32);
    }
    std::fs::create_dir_all(d.join("experts")).unwrap();
    std::fs::create_dir_all(d.join("tasks")).unwrap();
    for (k, p) in sources.iter().enumerate() {
        let emb = d.join("experts").join(format!("e{k}.json"));
        embed(p, &emb, &format!("e{k}"));
        let out = train_expert(
            p,
            &d.join(format!("e{k}.expert")),
            &[
                "--source-embedding",
                emb.to_str().unwrap(),
                "--name",
                &format!("e{k}"),
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        assert!(err.contains("held-out error"), "{err}");
    }
    for (k, p) in targets.iter().enumerate() {
        embed(
            p,
            &d.join("tasks").join(format!("t{k}.json")),
            &format!("t{k}"),
        );
    }
    // Features of a target under an expert: [18 images, 64 features] (+ probabilities over 2).
    let feats = d.join("f.npy");
    let probs = d.join("p.npy");
    ok(&run(
        &["expert", "features", "--quiet"],
        &[
            &d.join("e0.expert"),
            &targets[0],
            Path::new("--out"),
            &feats,
            Path::new("--probs"),
            &probs,
        ],
    ));
    let f = task2vec_embedding::io::read_matrix_npy(&feats).unwrap();
    let p = task2vec_embedding::io::read_matrix_npy(&probs).unwrap();
    assert_eq!(f.nrows(), 18);
    assert_eq!(p.dim(), (18, 2));
    for row in p.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-4);
    }

    // A small error matrix (as the meta-task writes it) and a Model2Vec fitted on it.
    let mut csv = String::from("target,expert,repeat,error,train_images,test_images\n");
    for t in 0..3 {
        for e in 0..3 {
            for r in 0..2 {
                let err = if t == e { 0.1 } else { 0.5 } + 0.01 * r as f64;
                csv.push_str(&format!("t{t},e{e},{r},{err},12,6\n"));
            }
        }
    }
    std::fs::write(d.join("errors.csv"), csv).unwrap();
    let t0 = d.join("t0.json");
    std::fs::copy(d.join("tasks/t2.json"), &t0).unwrap();
    let model = d.join("m.json");
    ok(&run(
        &["model2vec", "train", "--bias", "scalar"],
        &[
            Path::new("--errors"),
            &d.join("errors.csv"),
            Path::new("--tasks"),
            &d.join("tasks"),
            Path::new("--experts"),
            &d.join("experts"),
            Path::new("--trivial"),
            &t0,
            Path::new("--out"),
            &model,
        ],
    ));
    assert!(model.is_file());
    let table = ok(&run(
        &["select", "--top", "3", "--format", "json"],
        &[
            Path::new("--task"),
            &d.join("tasks/t0.json"),
            Path::new("--experts"),
            &d.join("experts"),
            Path::new("--trivial"),
            &t0,
            Path::new("--model2vec"),
            &model,
        ],
    ));
    let rows: serde_json::Value = serde_json::from_str(&table).unwrap();
    assert_eq!(rows.as_array().map(Vec::len), Some(3), "{table}");

    // Errors a user meets first: a missing expert file, an error matrix naming unknown tasks,
    // an impossible option.
    assert_clear_error(
        &run(
            &["expert", "features", "--quiet"],
            &[
                &d.join("nope.expert"),
                &targets[0],
                Path::new("--out"),
                &feats,
            ],
        ),
        &["nope.expert"],
    );
    std::fs::write(
        d.join("bad.csv"),
        "target,expert,repeat,error,train_images,test_images\nzz,e0,0,0.5,1,1\n",
    )
    .unwrap();
    assert_clear_error(
        &run(
            &["model2vec", "train"],
            &[
                Path::new("--errors"),
                &d.join("bad.csv"),
                Path::new("--tasks"),
                &d.join("tasks"),
                Path::new("--experts"),
                &d.join("experts"),
                Path::new("--trivial"),
                &t0,
                Path::new("--out"),
                &d.join("m2.json"),
            ],
        ),
        &["bad.csv"],
    );
    assert_clear_error(
        &train_expert(&sources[0], &d.join("x.expert"), &["--epochs", "0"]),
        &["epochs"],
    );
    assert!(!d.join("x.expert").exists(), "nothing is written on error");
}
