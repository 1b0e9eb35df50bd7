//! LogME and LEEP: the transferability scores practitioners use to rank pretrained models for a
//! target task without fine-tuning them. Higher is better for both (use
//! [`crate::selectors::argmax`]).
//!
//! * [`logme`]: You, Liu, Wang & Long, "LogME: Practical Assessment of Pre-trained Models for
//!   Transfer Learning", ICML 2021, Algorithm 1 (the fixed-point iteration of the ICML paper,
//!   not the faster variant of the authors' later arXiv paper).
//! * [`leep`]: Nguyen, Hassner, Seeger & Archambeau, "LEEP: A New Measure to Evaluate
//!   Transferability of Learned Representations", ICML 2020.
//!
//! Golden values: `ci/golden/transferability.py` (numpy, its own implementation of the
//! published formulas), checked by `tests/golden_transferability.rs`.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use ndarray::ArrayView2;

use crate::error::{Error, Result, invalid};

/// Most fixed-point iterations per class, as in the authors' ICML code ("should converge after
/// at most 10 steps").
pub const LOGME_MAX_ITERATIONS: usize = 11;
/// The iteration stops once λ = α/β changes by less than this fraction (authors' ICML code).
pub const LOGME_TOLERANCE: f64 = 0.01;
/// Added to the denominators of the α and β updates and to the two quadratic terms of the
/// evidence, as in the authors' code (keeps a perfect fit from dividing by zero).
const LOGME_EPSILON: f64 = 1e-5;

/// Row sums of LEEP's probabilities may differ from 1 by this much (softmax outputs computed
/// in f32 are off by ~1e-7; anything larger is not a probability vector).
pub const LEEP_SUM_TOLERANCE: f64 = 1e-3;

/// Checks the shared inputs: non-empty, finite, one label per row, labels below `classes`.
fn check_inputs(what: &str, x: ArrayView2<f64>, labels: &[usize], classes: usize) -> Result<()> {
    let (n, d) = x.dim();
    if n == 0 || d == 0 {
        return Err(invalid(format!("{what}: empty input ({n} × {d})")));
    }
    if labels.len() != n {
        return Err(invalid(format!(
            "{what}: {} labels for {n} samples",
            labels.len()
        )));
    }
    if classes == 0 {
        return Err(invalid(format!(
            "{what}: the number of classes must be > 0"
        )));
    }
    if let Some((i, &l)) = labels.iter().enumerate().find(|(_, l)| **l >= classes) {
        return Err(invalid(format!(
            "{what}: label {l} of sample {i} is not below the number of classes ({classes})"
        )));
    }
    if let Some(((i, j), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(invalid(format!(
            "{what}: input[{i}][{j}] is {v}, not a finite number"
        )));
    }
    Ok(())
}

/// The spectral form of the features that every class's iteration needs.
///
/// With N ≥ D we diagonalise the D×D matrix FᵀF (the paper's choice); with N < D the N×N
/// matrix FFᵀ, which has the same non-zero eigenvalues and costs O(N³) instead of O(D³) — the
/// remaining D − N eigenvalues of FᵀF are exactly 0 and enter the evidence only through
/// `log α`. Both forms give the same evidence up to rounding (tested against the golden
/// script, which always uses FᵀF).
enum Spectrum {
    /// FᵀF = V diag(s) Vᵀ; `fv` = F V (N × D), so that F m = fv · c in the eigenbasis.
    Primal { s: Vec<f64>, fv: DMatrix<f64> },
    /// FFᵀ = U diag(s) Uᵀ (N × N).
    Dual { s: Vec<f64>, u: DMatrix<f64> },
}

/// LogME of features `features` (N × D, one row per target image) for `labels` in
/// `0..classes`: the mean over classes of the per-sample log maximum evidence of a Bayesian
/// linear regression from the features to that class's one-hot column.
///
/// For each class the evidence is maximised over the prior precision α and noise precision β
/// by the paper's fixed-point iteration from α = β = 1, at most [`LOGME_MAX_ITERATIONS`] times,
/// stopping when α/β changes by less than [`LOGME_TOLERANCE`] (relative); the evidence is then
/// evaluated with the last α, β and the posterior mean m of the iteration before them, exactly
/// as the authors' ICML code does. Classes with no sample are scored too (their column is all
/// zeros), as in the authors' code, which scores every class up to the largest label.
pub fn logme(features: ArrayView2<f64>, labels: &[usize], classes: usize) -> Result<f64> {
    check_inputs("LogME", features, labels, classes)?;
    let (n, d) = features.dim();
    let f = DMatrix::from_fn(n, d, |i, j| features[(i, j)]);
    let spectrum = if n >= d {
        let eig = SymmetricEigen::new(f.transpose() * &f);
        // Rounding can leave tiny negative eigenvalues of a PSD matrix: they are zeros.
        let s = eig.eigenvalues.iter().map(|&v| v.max(0.0)).collect();
        Spectrum::Primal {
            s,
            fv: &f * eig.eigenvectors,
        }
    } else {
        let eig = SymmetricEigen::new(&f * f.transpose());
        let s = eig.eigenvalues.iter().map(|&v| v.max(0.0)).collect();
        Spectrum::Dual {
            s,
            u: eig.eigenvectors,
        }
    };
    let mut total = 0.0;
    for class in 0..classes {
        let y = DVector::from_fn(n, |i, _| f64::from(u8::from(labels[i] == class)));
        let evidence = class_evidence(&spectrum, &y, n, d);
        if !evidence.is_finite() {
            return Err(Error::Numerical(format!(
                "LogME: the evidence of class {class} is {evidence}"
            )));
        }
        total += evidence;
    }
    Ok(total / classes as f64)
}

/// Maximum log evidence per sample of one target column `y`.
fn class_evidence(spectrum: &Spectrum, y: &DVector<f64>, n: usize, d: usize) -> f64 {
    let nf = n as f64;
    let df = d as f64;
    // Projections of y: onto F V for the primal form (VᵀFᵀy), onto U for the dual (Uᵀy).
    let (s, proj) = match spectrum {
        Spectrum::Primal { s, fv } => (s, fv.tr_mul(y)),
        Spectrum::Dual { s, u } => (s, u.tr_mul(y)),
    };
    // Eigenvalues of FᵀF that the dual form does not list (D − N zeros).
    let missing_zeros = df - s.len() as f64;
    let (mut alpha, mut beta) = (1.0f64, 1.0f64);
    let mut lambda = alpha / beta;
    let (mut m2, mut res2) = (0.0, 0.0);
    for _ in 0..LOGME_MAX_ITERATIONS {
        let gamma: f64 = s.iter().map(|&si| si / (si + lambda)).sum();
        match spectrum {
            Spectrum::Primal { fv, .. } => {
                // m = V c with c_i = β p_i / (α + β s_i); ‖m‖² = ‖c‖², F m = (F V) c.
                let c = DVector::from_fn(s.len(), |i, _| beta * proj[i] / (alpha + beta * s[i]));
                m2 = c.norm_squared();
                res2 = (y - fv * &c).norm_squared();
            }
            Spectrum::Dual { .. } => {
                // m = β Fᵀ(αI + βFFᵀ)⁻¹y (push-through identity), so in U's basis
                // ‖m‖² = Σ β² s_i x_i² / (α + β s_i)² and y − F m = α (αI + βFFᵀ)⁻¹ y.
                m2 = 0.0;
                res2 = 0.0;
                for (&si, &xi) in s.iter().zip(proj.iter()) {
                    let denom = alpha + beta * si;
                    m2 += beta * beta * si * xi * xi / (denom * denom);
                    res2 += alpha * alpha * xi * xi / (denom * denom);
                }
            }
        }
        alpha = gamma / (m2 + LOGME_EPSILON);
        beta = (nf - gamma) / (res2 + LOGME_EPSILON);
        let new_lambda = alpha / beta;
        if (new_lambda - lambda).abs() / lambda < LOGME_TOLERANCE {
            break;
        }
        lambda = new_lambda;
    }
    let log_det: f64 =
        s.iter().map(|&si| (alpha + beta * si).ln()).sum::<f64>() + missing_zeros * alpha.ln();
    let evidence = df / 2.0 * alpha.ln() + nf / 2.0 * beta.ln()
        - 0.5 * log_det
        - beta / 2.0 * (res2 + LOGME_EPSILON)
        - alpha / 2.0 * (m2 + LOGME_EPSILON)
        - nf / 2.0 * (2.0 * std::f64::consts::PI).ln();
    evidence / nf
}

/// LEEP of an expert for a target task: `source_probs` (N × Z) holds, for each target image,
/// the expert's softmax over its Z source classes; `labels` are the target labels in
/// `0..classes`.
///
/// With the empirical joint P̂(y, z) = (1/N) Σ_{i: yᵢ = y} θ(xᵢ)_z, its marginal P̂(z) and the
/// conditional P̂(y | z) = P̂(y, z) / P̂(z), LEEP = (1/N) Σᵢ log Σ_z P̂(yᵢ | z) θ(xᵢ)_z: the
/// average log-likelihood of the "expected empirical predictor". It is ≤ 0; higher is better.
/// Errors on empty or non-finite input, negative probabilities, rows that do not sum to 1
/// within [`LEEP_SUM_TOLERANCE`] and labels not below `classes`.
pub fn leep(source_probs: ArrayView2<f64>, labels: &[usize], classes: usize) -> Result<f64> {
    check_inputs("LEEP", source_probs, labels, classes)?;
    let (n, z) = source_probs.dim();
    for (i, row) in source_probs.rows().into_iter().enumerate() {
        if let Some(j) = row.iter().position(|&p| p < 0.0) {
            return Err(invalid(format!(
                "LEEP: source_probs[{i}][{j}] = {} is negative",
                row[j]
            )));
        }
        let sum: f64 = row.sum();
        if (sum - 1.0).abs() > LEEP_SUM_TOLERANCE {
            return Err(invalid(format!(
                "LEEP: row {i} of source_probs sums to {sum}, not 1 (pass softmax outputs)"
            )));
        }
    }
    let mut joint = vec![0.0; classes * z];
    for (row, &y) in source_probs.rows().into_iter().zip(labels) {
        for (j, &p) in row.iter().enumerate() {
            joint[y * z + j] += p;
        }
    }
    let nf = n as f64;
    joint.iter_mut().for_each(|v| *v /= nf);
    let marginal: Vec<f64> = (0..z)
        .map(|j| (0..classes).map(|y| joint[y * z + j]).sum())
        .collect();
    let mut total = 0.0;
    for (row, &y) in source_probs.rows().into_iter().zip(labels) {
        // A source class no image puts mass on (P̂(z) = 0) has θ_z = 0 in every row: it
        // contributes nothing, so skipping it avoids 0/0.
        let eep: f64 = (0..z)
            .filter(|&j| marginal[j] > 0.0)
            .map(|j| joint[y * z + j] / marginal[j] * row[j])
            .sum();
        total += eep.ln();
    }
    let score = total / nf;
    if !score.is_finite() {
        return Err(Error::Numerical(format!("LEEP is {score}")));
    }
    Ok(score)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn leep_of_a_perfect_one_to_one_source_is_zero() {
        // Each target class maps to one source class with probability 1: P̂(y|z) = 1 for the
        // matching pair, so every log term is log 1 = 0.
        let p = array![[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]];
        let s = leep(p.view(), &[0, 1, 0, 1], 2).unwrap();
        assert!(s.abs() < 1e-15, "{s}");
    }

    #[test]
    fn leep_of_an_uninformative_source_is_the_label_entropy() {
        // θ uniform: P̂(y|z) = class frequency, so LEEP = Σ_y freq(y) log freq(y).
        let p = Array2::from_elem((4, 3), 1.0 / 3.0);
        let s = leep(p.view(), &[0, 0, 0, 1], 2).unwrap();
        let expected = 0.75 * 0.75f64.ln() + 0.25 * 0.25f64.ln();
        assert!((s - expected).abs() < 1e-12, "{s} vs {expected}");
    }

    #[test]
    fn bad_inputs_are_errors() {
        let p = array![[0.5, 0.5], [0.5, 0.5]];
        assert!(leep(p.view(), &[0, 2], 2).is_err());
        assert!(leep(p.view(), &[0], 2).is_err());
        assert!(leep(array![[0.5, 0.6], [0.5, 0.5]].view(), &[0, 1], 2).is_err());
        assert!(leep(array![[f64::NAN, 0.5], [0.5, 0.5]].view(), &[0, 1], 2).is_err());
        assert!(leep(array![[-0.5, 1.5], [0.5, 0.5]].view(), &[0, 1], 2).is_err());
        assert!(leep(Array2::<f64>::zeros((0, 2)).view(), &[], 2).is_err());
        assert!(logme(array![[f64::INFINITY], [1.0]].view(), &[0, 1], 2).is_err());
        assert!(logme(Array2::<f64>::zeros((0, 2)).view(), &[], 2).is_err());
        assert!(logme(array![[1.0], [2.0]].view(), &[0, 5], 2).is_err());
    }

    #[test]
    fn logme_of_zero_features_is_a_numerical_error_not_a_panic() {
        // FᵀF = 0: γ = 0, so α = 0 and log α = −∞; the evidence is undefined.
        let f = Array2::<f64>::zeros((6, 3));
        let err = logme(f.view(), &[0, 1, 0, 1, 0, 1], 2).unwrap_err();
        assert!(matches!(err, Error::Numerical(_)), "{err}");
    }
}
