//! LogME and LEEP against `ci/golden/transferability.py` (numpy, its own implementation of the
//! published formulas). The inputs are regenerated here by the script's LCG; only the case
//! parameters and the expected scores are in the fixture.

use ndarray::Array2;
use serde_json::Value;
use task2vec_model2vec::transferability::{leep, logme};

/// The script's 64-bit LCG: state = state·a + c mod 2⁶⁴, u = (state >> 11) / 2⁵³.
struct Lcg(u64);

impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn labels_for(n: usize, classes: usize) -> Vec<usize> {
    (0..n).map(|i| (7 * i + 3) % classes).collect()
}

fn logme_features(n: usize, d: usize, classes: usize, signal: f64, seed: u64) -> Array2<f64> {
    let mut rng = Lcg(seed);
    let y = labels_for(n, classes);
    let mut f = Array2::zeros((n, d));
    for i in 0..n {
        for j in 0..d {
            let bump = if j % classes == y[i] { signal } else { 0.0 };
            f[(i, j)] = 2.0 * rng.uniform() - 1.0 + bump;
        }
    }
    f
}

fn leep_probs(n: usize, z: usize, classes: usize, signal: f64, seed: u64) -> Array2<f64> {
    let mut rng = Lcg(seed);
    let y = labels_for(n, classes);
    let mut p = Array2::zeros((n, z));
    for i in 0..n {
        for k in 0..z {
            let bump = if k % classes == y[i] { signal } else { 0.0 };
            p[(i, k)] = 3.0 * (2.0 * rng.uniform() - 1.0) + bump;
        }
        let mut row = p.row_mut(i);
        let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    p
}

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/transferability.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn case(c: &Value) -> (String, usize, usize, usize, f64, u64, f64) {
    let u = |k: &str| c[k].as_u64().unwrap() as usize;
    let width = if c.get("d").is_some() { u("d") } else { u("z") };
    (
        c["name"].as_str().unwrap().to_string(),
        u("n"),
        width,
        u("classes"),
        c["signal"].as_f64().unwrap(),
        c["seed"].as_u64().unwrap(),
        c["value"].as_f64().unwrap(),
    )
}

#[test]
fn logme_matches_numpy() {
    let fx = fixture();
    let cases = fx["logme"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for c in cases {
        let (name, n, d, classes, signal, seed, expected) = case(c);
        let f = logme_features(n, d, classes, signal, seed);
        let got = logme(f.view(), &labels_for(n, classes), classes).unwrap();
        assert!(
            (got - expected).abs() <= 1e-8 * expected.abs().max(1.0),
            "{name}: {got} vs numpy {expected}"
        );
    }
}

#[test]
fn logme_scores_informative_features_above_random_ones() {
    let fx = fixture();
    let value = |name: &str| {
        fx["logme"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["value"]
            .as_f64()
            .unwrap()
    };
    // Both regimes: N < D (the dual eigenproblem) and N > D (the primal one).
    assert!(value("informative_n_lt_d") > value("random_n_lt_d"));
    assert!(value("informative_n_gt_d") > value("random_n_gt_d"));
}

#[test]
fn leep_matches_numpy() {
    let fx = fixture();
    let cases = fx["leep"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for c in cases {
        let (name, n, z, classes, signal, seed, expected) = case(c);
        let p = leep_probs(n, z, classes, signal, seed);
        let got = leep(p.view(), &labels_for(n, classes), classes).unwrap();
        assert!(
            (got - expected).abs() <= 1e-10 * expected.abs().max(1.0),
            "{name}: {got} vs numpy {expected}"
        );
    }
    let value = |i: usize| cases[i]["value"].as_f64().unwrap();
    assert!(value(1) > value(0), "informative LEEP must beat random");
}
