//! End-to-end tests of the embedding commands: run the `task2vec` binary on numpy-made
//! fixtures (ci/golden/*.py) and compare with SciPy's numbers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_task2vec"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../embedding/tests/fixtures")
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the binary runs");
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A failing command: non-zero exit, one `error:` line on stderr mentioning every `needles`,
/// and no panic.
fn run_err(cmd: &mut Command, needles: &[&str]) -> Output {
    let out = cmd.output().expect("the binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success: {err}"
    );
    assert!(!err.contains("panicked"), "panicked: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
    out
}

/// Import the six golden embeddings (e3..e5 with a prior) into `dir`; returns their paths.
fn import_golden(dir: &Path) -> Vec<PathBuf> {
    let f = fixtures().join("distances");
    (0..6)
        .map(|i| {
            let out = dir.join(format!("e{i}.json"));
            let mut cmd = bin();
            cmd.arg("import")
                .arg("--hessian")
                .arg(f.join(format!("e{i}.npy")))
                .arg("--layout")
                .arg(f.join("layout.json"))
                .arg("--name")
                .arg(format!("e{i}"))
                .arg("--out")
                .arg(&out);
            if i >= 3 {
                cmd.arg("--scale").arg(f.join(format!("s{i}.npy")));
            }
            run_ok(&mut cmd);
            out
        })
        .collect()
}

/// Parse the CSV matrix format: (labels, rows).
fn read_matrix(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let labels: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .skip(1)
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| l.split(',').skip(1).map(|v| v.parse().unwrap()).collect())
        .collect();
    (labels, rows)
}

fn max_rel_err(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs() / y.abs().max(1e-300))
        .fold(0.0, f64::max)
}

#[test]
fn import_then_matrix_reproduces_scipy_for_every_metric() {
    let dir = tempfile::tempdir().unwrap();
    let embs = import_golden(dir.path());
    for metric in [
        "cosine",
        "normalized-cosine",
        "correlation",
        "entropy",
        "kl",
        "asymmetric-kl",
        "jsd",
    ] {
        let out = dir.path().join(format!("{metric}.csv"));
        run_ok(
            bin()
                .arg("matrix")
                .args(&embs)
                .args(["--metric", metric, "--out"])
                .arg(&out),
        );
        let (labels, got) = read_matrix(&out);
        let (want_labels, want) = read_matrix(&fixtures().join(format!("distances/{metric}.csv")));
        assert_eq!(labels, want_labels);
        let err = max_rel_err(&got, &want);
        eprintln!("{metric}: max relative error vs SciPy {err:.1e}");
        assert!(err < 1e-9, "{metric}: {err:e}");
    }
    // The asymmetric distance with a supplied trivial embedding.
    let t0 = dir.path().join("t0.json");
    let f = fixtures().join("distances");
    run_ok(
        bin()
            .arg("import")
            .arg("--hessian")
            .arg(f.join("trivial.npy"))
            .arg("--layout")
            .arg(f.join("layout.json"))
            .arg("--out")
            .arg(&t0),
    );
    let out = dir.path().join("asym.csv");
    run_ok(
        bin()
            .arg("matrix")
            .args(&embs)
            .args(["--asymmetric", "--alpha", "0.15", "--trivial"])
            .arg(&t0)
            .arg("--out")
            .arg(&out),
    );
    let (_, got) = read_matrix(&out);
    let (_, want) = read_matrix(&f.join("asym_trivial.csv"));
    assert!(max_rel_err(&got, &want) < 1e-9);
    // Monte-Carlo embeddings without t0: a clear error.
    run_err(
        bin()
            .arg("matrix")
            .args(&embs)
            .arg("--asymmetric")
            .arg("--out")
            .arg(&out),
        &["no prior", "e0"],
    );
}

#[test]
fn distance_prints_one_number_and_npy_output_works() {
    let dir = tempfile::tempdir().unwrap();
    let embs = import_golden(dir.path());
    let out = run_ok(bin().arg("distance").arg(&embs[1]).arg(&embs[2]));
    let d: f64 = out.trim().parse().unwrap();
    let (_, want) = read_matrix(&fixtures().join("distances/cosine.csv"));
    assert!((d - want[1][2]).abs() <= 1e-12 * want[1][2]);
    let json = run_ok(
        bin()
            .arg("distance")
            .arg(&embs[0])
            .arg(&embs[3])
            .args(["--metric", "kl", "--format", "json"]),
    );
    assert!(
        json.contains("\"distance\"") && json.contains("\"kl\""),
        "{json}"
    );
    let npy = dir.path().join("m.npy");
    run_ok(bin().arg("matrix").args(&embs).arg("--out").arg(&npy));
    let bytes = std::fs::read(&npy).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    assert!(String::from_utf8_lossy(&bytes[..128]).contains("(6, 6)"));
}

#[test]
fn cluster_prints_scipy_leaf_order() {
    let text = std::fs::read_to_string(fixtures().join("linkage.json")).unwrap();
    let cases: serde_json::Value = serde_json::from_str(&text).unwrap();
    let case = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "points30")
        .unwrap();
    let rows: Vec<Vec<f64>> = serde_json::from_value(case["matrix"].clone()).unwrap();
    let n = rows.len();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.csv");
    let mut csv = String::from("");
    for i in 0..n {
        csv.push_str(&format!(",t{i}"));
    }
    csv.push('\n');
    for (i, r) in rows.iter().enumerate() {
        csv.push_str(&format!("t{i}"));
        for v in r {
            csv.push_str(&format!(",{v:?}"));
        }
        csv.push('\n');
    }
    std::fs::write(&path, csv).unwrap();
    for method in ["complete", "average", "single"] {
        let out = run_ok(bin().arg("cluster").arg(&path).args([
            "--linkage",
            method,
            "--ordering",
            "scipy",
            "--format",
            "json",
        ]));
        let got: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        let got: Vec<u64> = got.iter().map(|r| r["index"].as_u64().unwrap()).collect();
        let want: Vec<u64> =
            serde_json::from_value(case["methods"][method]["optimal_leaves"].clone()).unwrap();
        assert_eq!(got, want, "{method}");
    }
    let human = run_ok(bin().arg("cluster").arg(&path));
    assert_eq!(human.lines().count(), n + 1);
}

#[test]
fn info_select_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let embs = import_golden(dir.path());
    let info = run_ok(bin().arg("info").arg(&embs[3]));
    assert!(
        info.contains("layer1.0.conv1") && info.contains("600 filters in 3 layers"),
        "{info}"
    );
    assert!(info.contains("yes (variational)"), "{info}");
    let experts = dir.path().join("experts");
    std::fs::create_dir(&experts).unwrap();
    for e in &embs[3..] {
        std::fs::copy(e, experts.join(e.file_name().unwrap())).unwrap();
    }
    // e3..e5 have priors, so the asymmetric score needs no t0. e3 itself is excluded.
    let out = run_ok(
        bin()
            .arg("select")
            .arg("--task")
            .arg(&embs[3])
            .arg("--experts")
            .arg(&experts)
            .args(["--asymmetric", "--format", "csv"]),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "rank,expert,distance");
    assert_eq!(lines.len(), 3, "{out}");
    assert!(!out.contains("e3,"), "{out}");
    for fig in ["m.svg", "m.png"] {
        let path = dir.path().join(fig);
        run_ok(
            bin()
                .args(["plot", "matrix"])
                .args(&embs)
                .arg("--out")
                .arg(&path),
        );
        assert!(std::fs::metadata(&path).unwrap().len() > 1000);
    }
    let svg = std::fs::read_to_string(dir.path().join("m.svg")).unwrap();
    assert!(svg.contains("e5"), "labels are drawn");
    let map = dir.path().join("map.png");
    run_ok(
        bin()
            .args(["plot", "map"])
            .args(&embs)
            .arg("--out")
            .arg(&map),
    );
    assert_eq!(&std::fs::read(&map).unwrap()[1..4], b"PNG");
    run_err(
        bin()
            .args(["plot", "matrix"])
            .args(&embs)
            .arg("--out")
            .arg(dir.path().join("m.gif")),
        &["m.gif", ".svg or .png"],
    );
}

/// Minimal `.npy` writer (float64, 1-D) for making bad inputs.
fn write_npy(path: &Path, values: &[f64]) {
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}",
        values.len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn bad_input_gives_one_clear_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let import = |h: &Path, out: &str| {
        let mut c = bin();
        c.arg("import")
            .arg("--hessian")
            .arg(h)
            .arg("--out")
            .arg(d.join(out));
        c
    };
    write_npy(&d.join("nan.npy"), &[1.0, f64::NAN]);
    run_err(
        &mut import(&d.join("nan.npy"), "x.json"),
        &["nan.npy", "not a finite number"],
    );
    write_npy(&d.join("neg.npy"), &[1.0, -2.0]);
    run_err(
        &mut import(&d.join("neg.npy"), "x.json"),
        &["neg.npy", "negative"],
    );
    write_npy(&d.join("empty.npy"), &[]);
    run_err(
        &mut import(&d.join("empty.npy"), "x.json"),
        &["empty.npy", "empty"],
    );
    write_npy(&d.join("a.npy"), &[1.0, 2.0, 3.0]);
    write_npy(&d.join("s.npy"), &[1.0, 2.0]);
    run_err(
        import(&d.join("a.npy"), "x.json")
            .arg("--scale")
            .arg(d.join("s.npy")),
        &["s.npy", "scale has 2 values"],
    );
    run_err(
        &mut import(&d.join("missing.npy"), "x.json"),
        &["missing.npy"],
    );

    // Mismatched lengths / layouts / probes.
    run_ok(&mut import(&d.join("a.npy"), "a.json"));
    write_npy(&d.join("b.npy"), &[1.0, 2.0]);
    run_ok(&mut import(&d.join("b.npy"), "b.json"));
    run_err(
        bin()
            .arg("distance")
            .arg(d.join("a.json"))
            .arg(d.join("b.json")),
        &["different dimensions"],
    );
    let a = std::fs::read_to_string(d.join("a.json")).unwrap();
    let with_probe = |name: &str| {
        a.replace(
            "\"meta\":{",
            &format!("\"meta\":{{\"probe\":{{\"name\":\"{name}\",\"weights_sha256\":\"00\"}},"),
        )
    };
    std::fs::write(d.join("p1.json"), with_probe("resnet34")).unwrap();
    std::fs::write(
        d.join("p2.json"),
        with_probe("resnet18").replace("\"task\":\"a\"", "\"task\":\"a2\""),
    )
    .unwrap();
    run_err(
        bin()
            .arg("matrix")
            .arg(d.join("p1.json"))
            .arg(d.join("p2.json"))
            .arg("--out")
            .arg(d.join("m.csv")),
        &["different probes"],
    );

    // Truncated and future-version JSON.
    std::fs::write(d.join("trunc.json"), &a[..a.len() / 2]).unwrap();
    run_err(
        bin().arg("info").arg(d.join("trunc.json")),
        &["trunc.json", "truncated"],
    );
    std::fs::write(
        d.join("v9.json"),
        a.replace("\"format_version\":1", "\"format_version\":9"),
    )
    .unwrap();
    run_err(
        bin().arg("info").arg(d.join("v9.json")),
        &["v9.json", "format_version 9"],
    );

    // A matrix that is not square.
    std::fs::write(d.join("rect.csv"), ",a,b\na,0,1\n").unwrap();
    run_err(
        bin().arg("cluster").arg(d.join("rect.csv")),
        &["rect.csv", "not square"],
    );
    // Unknown metric: clap's own error, still no panic.
    let out = bin()
        .arg("distance")
        .arg(d.join("a.json"))
        .arg(d.join("a.json"))
        .args(["--metric", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown metric"));
}
