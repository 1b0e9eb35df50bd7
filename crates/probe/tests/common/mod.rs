//! Helpers shared by the probe's integration tests.
#![allow(dead_code)]
use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;

/// The folder of fetched test assets (`$TASK2VEC_TEST_ASSETS`, filled by
/// ci/probe/fetch_test_assets.sh, which ci/test.sh runs), for tests that need real weights or
/// photos. `None` — after a loud message — lets a developer without the assets run the rest;
/// under `CI=true` missing assets are a test FAILURE, so CI can never pass by skipping them.
pub fn test_assets(what: &str) -> Option<PathBuf> {
    let in_ci = std::env::var_os("CI").is_some_and(|v| v == "true");
    let missing = match std::env::var_os("TASK2VEC_TEST_ASSETS").filter(|v| !v.is_empty()) {
        Some(dir) if PathBuf::from(&dir).is_dir() => return Some(PathBuf::from(dir)),
        Some(dir) => format!(
            "TASK2VEC_TEST_ASSETS={} is not a directory",
            PathBuf::from(dir).display()
        ),
        None => "TASK2VEC_TEST_ASSETS is unset".to_string(),
    };
    let message = format!(
        "{missing}: cannot test {what}; run ci/probe/fetch_test_assets.sh DIR and set \
         TASK2VEC_TEST_ASSETS=DIR (ci/test.sh does both)"
    );
    assert!(!in_ci, "CI=true and {message}");
    eprintln!("\n*** SKIPPED (not in CI): {message} ***\n");
    None
}

/// A golden file from tests/golden (written by ci/probe/export_*.py).
pub fn golden(name: &str) -> Value {
    let path = format!("{}/tests/golden/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A JSON (nested) array flattened to f32.
pub fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().expect("a number") as f32],
        other => panic!("not a number: {other}"),
    }
}

pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 data")
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The formula input of ci/probe/common.py on `device`.
pub fn formula_input(shape: [usize; 4], device: &Device) -> Tensor<4> {
    let values = task2vec_probe::formula::formula_input(&shape);
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Checks a probe against a golden file: logits, pooled features, the activation at the
/// golden's split point, and the features recomputed from it. Returns the largest difference.
pub fn check_golden(
    probe: &task2vec_probe::Probe,
    golden: &Value,
    shape: [usize; 4],
    tol: f32,
) -> f32 {
    let device = Device::flex();
    let x = formula_input(shape, &device);
    let k = golden["split"].as_u64().expect("split") as usize;
    let mut worst = 0f32;
    let mut check = |what: &str, got: Vec<f32>, want: Vec<f32>| {
        let d = max_abs_diff(&got, &want);
        eprintln!(
            "{}: {what}: max abs diff {d:.2e} over {} values",
            probe.name(),
            want.len()
        );
        assert!(
            d <= tol,
            "{}: {what} differs from PyTorch by {d}",
            probe.name()
        );
        worst = worst.max(d);
    };
    check(
        "logits",
        values(probe.logits(x.clone())),
        floats(&golden["logits"]),
    );
    let mut tap = task2vec_probe::PassThrough;
    check(
        "features",
        values(probe.features_from(0, x.clone(), &mut tap)),
        floats(&golden["features"]),
    );
    let h = probe.forward_to(k, x);
    let want_shape: Vec<usize> = floats(&golden["split_shape"])
        .iter()
        .map(|&v| v as usize)
        .collect();
    assert_eq!(
        h.dims().to_vec(),
        want_shape,
        "{}: shape at split {k}",
        probe.name()
    );
    let hv = values(h.clone());
    check(
        "split activation (head)",
        hv[..512].to_vec(),
        floats(&golden["split_activation_head"]),
    );
    let sum: f64 = hv.iter().map(|&v| f64::from(v)).sum();
    let abs_sum: f64 = hv.iter().map(|&v| f64::from(v).abs()).sum();
    let rel = |a: f64, b: f64| ((a - b).abs() / b.abs().max(1.0)) as f32;
    check(
        "split activation (relative sum)",
        vec![rel(sum, golden["split_activation_sum"].as_f64().unwrap())],
        vec![0.0],
    );
    check(
        "split activation (relative abs sum)",
        vec![rel(
            abs_sum,
            golden["split_activation_abs_sum"].as_f64().unwrap(),
        )],
        vec![0.0],
    );
    check(
        "features from split",
        values(probe.features_from(k, h, &mut tap)),
        floats(&golden["features_from_split"]),
    );
    worst
}
