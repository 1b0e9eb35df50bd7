//! `task2vec run` / `run --status` / `matrix --store` end to end on a suite of small
//! ImageFolder datasets with the compiled-in tiny-resnet: shards (by flag and from each
//! engine's environment) make the same matrix as one unsharded run, finished entries are never
//! recomputed, changed options never reuse a result, and a failing task is recorded without
//! stopping the others.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn task2vec(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_task2vec"));
    c.current_dir(dir).args(args);
    for var in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_MAX",
        "JOB_COMPLETION_INDEX",
        "AWS_BATCH_JOB_ARRAY_INDEX",
        "AWS_BATCH_JOB_ARRAY_SIZE",
        "BATCH_TASK_INDEX",
        "BATCH_TASK_COUNT",
    ] {
        c.env_remove(var);
    }
    c.envs(env.iter().copied());
    c.output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

const SETTINGS: [&str; 4] = ["--probe", "tiny-resnet", "--input-size", "32"];

fn run(dir: &Path, store: &str, extra: &[&str], env: &[(&str, &str)]) -> String {
    let mut args = vec!["run", "suite.toml", "--store", store, "--quiet"];
    args.extend(SETTINGS);
    args.extend(extra);
    ok(task2vec(dir, &args, env))
}

fn matrix(dir: &Path, store: &str, out: &str) -> Vec<u8> {
    let mut args = vec![
        "matrix",
        "--store",
        store,
        "--suite",
        "suite.toml",
        "--out",
        out,
    ];
    args.extend(SETTINGS);
    ok(task2vec(dir, &args, &[]));
    std::fs::read(dir.join(out)).unwrap()
}

/// Five two-class datasets of stripes (orientation = class), each with its own period and
/// colour, and a suite listing them (plus `extra` TOML).
fn suite(dir: &Path, extra: &str) {
    let mut toml = String::from("name = \"stripes\"\n");
    for d in 0..5u32 {
        for (c, class) in ["rows", "columns"].iter().enumerate() {
            let folder = dir.join(format!("data/d{d}/{class}"));
            std::fs::create_dir_all(&folder).unwrap();
            for i in 0..8u32 {
                image::RgbImage::from_fn(16, 16, |x, y| {
                    let t = if c == 0 { y } else { x } + i;
                    let on = t % (2 + d) < 1 + d / 2;
                    image::Rgb([if on { 200 } else { 30 }, (40 * d) as u8, (i * 20) as u8])
                })
                .save(folder.join(format!("{i}.png")))
                .unwrap();
            }
        }
        toml += &format!(
            "[[task]]\nid = \"g{}/d{d}\"\ndataset = \"data/d{d}\"\ntaxonomy = [\"g{}\"]\n",
            d % 2,
            d % 2
        );
    }
    std::fs::write(dir.join("suite.toml"), toml + extra).unwrap();
}

/// An engine's name, each shard's environment, extra flags.
type Engine<'a> = (&'a str, Vec<Vec<(&'a str, String)>>, Vec<&'a str>);

fn entries(store: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let mut out: Vec<_> = std::fs::read_dir(store.join("entries"))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let t = std::fs::metadata(p.join("key.json"))
                .unwrap()
                .modified()
                .unwrap();
            (p, t)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn shards_make_the_same_matrix_and_nothing_is_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    suite(d, "");
    let log = run(d, "whole", &[], &[]);
    assert!(log.contains("5 embedded, 0 in the store already"), "{log}");
    let whole = matrix(d, "whole", "whole.csv");
    let status = ok(task2vec(
        d,
        &[
            "run",
            "suite.toml",
            "--store",
            "whole",
            "--status",
            "--probe",
            "tiny-resnet",
            "--input-size",
            "32",
        ],
        &[],
    ));
    assert!(status.contains("5 done, 0 missing, 0 failed"), "{status}");
    // The clustered heatmap straight from the store.
    let mut pargs = vec![
        "plot",
        "matrix",
        "--store",
        "whole",
        "--suite",
        "suite.toml",
        "--out",
        "whole.png",
    ];
    pargs.extend(SETTINGS);
    ok(task2vec(d, &pargs, &[]));
    assert!(std::fs::metadata(d.join("whole.png")).unwrap().len() > 1000);

    // Three shards by flag, then by each engine's variables: every run covers the suite once.
    let engines: [Engine; 5] = [
        ("flag", vec![vec![]; 3], vec![]),
        (
            "slurm",
            (0..3)
                .map(|i| {
                    vec![
                        ("SLURM_ARRAY_TASK_ID", (i + 1).to_string()),
                        ("SLURM_ARRAY_TASK_MIN", "1".to_string()),
                        ("SLURM_ARRAY_TASK_MAX", "3".to_string()),
                        ("SLURM_ARRAY_TASK_COUNT", "3".to_string()),
                    ]
                })
                .collect(),
            vec![],
        ),
        (
            "k8s",
            (0..3)
                .map(|i| vec![("JOB_COMPLETION_INDEX", i.to_string())])
                .collect(),
            vec!["--shards", "3"],
        ),
        (
            "aws",
            (0..3)
                .map(|i| {
                    vec![
                        ("AWS_BATCH_JOB_ARRAY_INDEX", i.to_string()),
                        ("AWS_BATCH_JOB_ARRAY_SIZE", "3".to_string()),
                    ]
                })
                .collect(),
            vec![],
        ),
        (
            "gcp",
            (0..3)
                .map(|i| {
                    vec![
                        ("BATCH_TASK_INDEX", i.to_string()),
                        ("BATCH_TASK_COUNT", "3".to_string()),
                    ]
                })
                .collect(),
            vec![],
        ),
    ];
    for (engine, envs, extra) in engines {
        let mut embedded = 0;
        for (i, env) in envs.iter().enumerate() {
            let flag = format!("{i}/3");
            let mut args = extra.clone();
            if engine == "flag" {
                args.extend(["--shard", flag.as_str()]);
            }
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let log = run(d, engine, &args, &env);
            assert!(log.contains(&format!("shard {i}/3")), "{engine}: {log}");
            embedded += log.matches(": embedded in").count();
        }
        assert_eq!(
            embedded, 5,
            "{engine}: each task embedded by exactly one shard"
        );
        assert_eq!(
            matrix(d, engine, &format!("{engine}.csv")),
            whole,
            "{engine}: the sharded matrix differs from the unsharded one"
        );
    }

    // A second run reuses everything and leaves every entry as it was.
    let before = entries(&d.join("whole"));
    let log = run(d, "whole", &[], &[]);
    assert!(log.contains("0 embedded, 5 in the store already"), "{log}");
    assert_eq!(entries(&d.join("whole")), before);

    // Another seed is another result: nothing is reused, the old entries stay.
    let log = run(d, "whole", &["--seed", "1"], &[]);
    assert!(log.contains("5 embedded, 0 in the store already"), "{log}");
    assert_eq!(entries(&d.join("whole")).len(), 10);
    // Replacing one image under the same name is another dataset.
    let img = d.join("data/d0/rows/0.png");
    image::RgbImage::from_pixel(16, 16, image::Rgb([1, 2, 3]))
        .save(&img)
        .unwrap();
    let log = run(d, "whole", &[], &[]);
    assert!(log.contains("1 embedded, 4 in the store already"), "{log}");
}

#[test]
fn a_failing_task_is_recorded_and_the_others_finish() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A task with a single class cannot be embedded (a head needs two classes).
    std::fs::create_dir_all(d.join("data/one/only")).unwrap();
    image::RgbImage::from_pixel(16, 16, image::Rgb([9, 9, 9]))
        .save(d.join("data/one/only/0.png"))
        .unwrap();
    suite(d, "[[task]]\nid = \"broken\"\ndataset = \"data/one\"\n");
    let mut args = vec!["run", "suite.toml", "--store", "s", "--quiet"];
    args.extend(SETTINGS);
    let out = task2vec(d, &args, &[]);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "a failed task must fail the run: {log}"
    );
    assert!(
        log.contains("5 embedded, 0 in the store already, 1 failed"),
        "{log}"
    );
    assert!(log.contains("broken: FAILED"), "{log}");
    let failed: Vec<_> = std::fs::read_dir(d.join("s/failed")).unwrap().collect();
    assert_eq!(failed.len(), 1);
    let status = ok(task2vec(
        d,
        &[
            "run",
            "suite.toml",
            "--store",
            "s",
            "--status",
            "--probe",
            "tiny-resnet",
            "--input-size",
            "32",
        ],
        &[],
    ));
    assert!(status.contains("failed   broken: "), "{status}");
    assert!(status.contains("5 done, 0 missing, 1 failed"), "{status}");
    // The matrix names what is missing.
    let mut margs = vec![
        "matrix",
        "--store",
        "s",
        "--suite",
        "suite.toml",
        "--out",
        "m.csv",
    ];
    margs.extend(SETTINGS);
    let out = task2vec(d, &margs, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken"));
    assert!(!d.join("m.csv").exists());
    // Bad shard settings are clear errors before any work.
    for (args, env, says) in [
        (vec!["--shard", "3/3"], vec![], "out of range"),
        (vec![], vec![("JOB_COMPLETION_INDEX", "0")], "--shards"),
        (vec!["--shards", "2"], vec![], "without a shard index"),
    ] {
        let mut all = vec!["run", "suite.toml", "--store", "t"];
        all.extend(SETTINGS);
        all.extend(args);
        let out = task2vec(d, &all, &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{err}");
    }
}
