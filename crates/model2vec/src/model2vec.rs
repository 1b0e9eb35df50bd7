//! Model2Vec (Achille et al., ICCV 2019, §4): each expert `i` is embedded as `m_i = F_i + b_i`,
//! `F_i` the Task2Vec embedding of the task it was trained on and `b_i` a bias learned so that
//! the distance from a task `t` to `m_i` predicts which expert is best for `t`.
//!
//! # Model
//! * Score `s(t, i) = −γ · d_asym(m_i → t)` with `d_asym(m → t) = d_sym(m, t) − α·d_sym(m, t₀)`,
//!   `d_sym` REF's cosine (`Metric::Cosine`, the paper's symmetric distance), `t₀` a supplied
//!   trivial embedding, `γ > 0` learned as `log γ`.
//! * Prediction `p(i | t) = softmax_i s(t, i)` and target `q(i | t) = softmax_i(−e(t, i) / τ)`,
//!   both over the experts allowed for `t` (`e` = the error matrix, τ = `error_temperature`).
//! * Loss: mean over training targets of the cross-entropy `−Σ_i q log p`, plus
//!   `l2 · Σ β²` over every bias parameter.
//!
//! # Parameterisation (how `m_i` stays a valid embedding)
//! The bias is additive, shared by the entries of a *segment*: the whole vector
//! ([`BiasShape::Scalar`]) or one layer of the layout ([`BiasShape::PerLayer`]). It is expressed
//! in units of the segment's mean Fisher value `μ_{i,s}` of `F_i` (the whole vector's mean when
//! a layer is all zeros): `b_{i,s} = β_{i,s} · μ_{i,s}`. So β is dimensionless — the learning
//! rate and the ridge `l2` mean the same for embeddings of any scale — and β = 0.5 adds half a
//! mean Fisher value to every entry of the segment.
//!
//! REF's cosine divides by `m + t + ε` and Fisher values are ≥ 0, so `m_i = max(F_i + b_i, 0)`
//! entry-wise (a clamped entry gets no gradient), and after every optimiser step β is projected
//! onto `β_{i,s} ≥ −0.99 · max_{k∈s} F_{i,k} / μ_{i,s}`: each segment keeps its largest entry
//! positive, so no `m_i` is ever all zero.
//!
//! # Optimiser
//! β starts at 0; `log γ` starts at the best value of a grid (−3 to 10 in steps of 0.25) for
//! β = 0, where the distances do not change and the grid is nearly free. Then full-batch Adam
//! (β₁ = 0.9, β₂ = 0.999, ε = 1e-8, the same learning rate for β and log γ, decayed to 0 by a
//! cosine schedule so that the last steps settle instead of oscillating in the loss's flat
//! valleys) with the analytic gradient of REF's cosine (checked against central differences
//! in `tests/model2vec_fit.rs`). Nothing is random: the same inputs give the same bits. The
//! per-target work runs in parallel (rayon) and is summed in target order, so the thread count
//! does not change the result either.
//!
//! # Cost
//! Each step visits every (target, allowed expert) pair once over all entries (one division
//! and ~20 flops per entry, vectorised; AVX2 where available, same bits). Measured on 2 cores
//! (`tests/model2vec_timing.rs`, default options, this crate at opt-level 2): 40 targets ×
//! 12 experts, 13,000 entries: 0.9 s per fit, 33 s for [`leave_one_target_out`] (40 fits);
//! 21,000 entries: 1.4 s and 41 s.

use std::ops::Range;
use std::path::Path;

use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use task2vec_embedding::{
    Compatibility, EPSILON, Embedding, Layout, Metric, distance_with, select::k_smallest,
};

use crate::error::{Error, Result, invalid};

/// Version of the JSON written by [`Model2Vec::save`].
pub const FORMAT_VERSION: u32 = 1;

/// Which entries share one bias parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BiasShape {
    /// One bias per expert, added to every entry.
    Scalar,
    /// One bias per expert and layer (segment of the layout).
    PerLayer,
}

/// Settings of [`Model2Vec::fit`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Model2VecOptions {
    /// Bias shape (default [`BiasShape::PerLayer`]).
    pub bias: BiasShape,
    /// α of the asymmetric distance (default 0.15, the paper's).
    pub alpha: f64,
    /// τ of the target distribution `softmax(−error / τ)` (default 0.01: one error point
    /// changes the odds by e).
    pub error_temperature: f64,
    /// Ridge `l2 · Σ β²` on the dimensionless biases (default 1e-2: a bias of one mean Fisher
    /// value costs 0.01 nats, small against cross-entropies of order 1).
    pub l2: f64,
    /// Adam's initial learning rate (default 0.1, in units of β and of log γ), decayed to 0
    /// by a cosine schedule.
    pub learning_rate: f64,
    /// Adam steps (default 150: the planted-bias test recovers β to ~1e-3 in 150 steps at the
    /// default learning rate, and the cost is linear in it).
    pub iterations: usize,
}

impl Default for Model2VecOptions {
    fn default() -> Self {
        Model2VecOptions {
            bias: BiasShape::PerLayer,
            alpha: task2vec_embedding::DEFAULT_ALPHA,
            error_temperature: 0.01,
            l2: 1e-2,
            learning_rate: 0.1,
            iterations: 150,
        }
    }
}

impl Model2VecOptions {
    /// Checks every value: α finite and ≥ 0, τ > 0, l2 ≥ 0, learning rate > 0, all finite.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, v: f64| invalid(format!("Model2Vec options: {what} = {v}"));
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(bad("alpha (must be finite and >= 0)", self.alpha));
        }
        if !(self.error_temperature.is_finite() && self.error_temperature > 0.0) {
            return Err(bad(
                "error_temperature (must be > 0)",
                self.error_temperature,
            ));
        }
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return Err(bad("l2 (must be >= 0)", self.l2));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(bad("learning_rate (must be > 0)", self.learning_rate));
        }
        Ok(())
    }
}

/// What is saved: everything but the embeddings themselves, which are identified by name and
/// fingerprint (sha256 of the little-endian bytes of the Fisher values) and supplied again to
/// [`Model2Vec::load`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model2VecParams {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Expert names (the source embeddings' task names), in order.
    pub experts: Vec<String>,
    /// Fingerprint of each source embedding.
    pub source_fingerprints: Vec<String>,
    /// Name of the trivial embedding t₀.
    pub trivial: String,
    /// Fingerprint of t₀.
    pub trivial_fingerprint: String,
    /// Segments of the bias (one covering everything for a scalar bias).
    pub segments: Vec<(String, usize)>,
    /// Dimensionless bias β per expert and segment.
    pub beta: Vec<Vec<f64>>,
    /// The bias in Fisher units, `b = β · μ`, per expert and segment.
    pub bias: Vec<Vec<f64>>,
    /// Learned γ.
    pub gamma: f64,
    /// α of the asymmetric distance.
    pub alpha: f64,
    /// Options the fit ran with.
    pub options: Model2VecOptions,
    /// Training loss at the start (β = 0, γ from the grid) and at the end.
    pub initial_loss: f64,
    /// Training loss after the last step.
    pub final_loss: f64,
}

/// Learned expert embeddings.
#[derive(Debug, Clone)]
pub struct Model2Vec {
    params: Model2VecParams,
    /// `m_i` as embeddings (the source's provenance, task name `m(<name>)`).
    experts: Vec<Embedding>,
    trivial: Embedding,
}

/// sha256 of the little-endian bytes of the Fisher values.
pub fn fingerprint(e: &Embedding) -> String {
    let bytes: Vec<u8> = e.hessian().iter().flat_map(|v| v.to_le_bytes()).collect();
    task2vec_common::sha256_bytes(&bytes)
}

/// The bias segments of a layout.
fn bias_segments(layout: &Layout, shape: BiasShape) -> Vec<(String, Range<usize>)> {
    match shape {
        BiasShape::Scalar => vec![("all".to_string(), 0..layout.dim())],
        BiasShape::PerLayer => layout
            .ranges()
            .into_iter()
            .map(|(n, r)| (n.to_string(), r))
            .collect(),
    }
}

/// One expert's fixed data: Fisher values, segment units μ and lower bounds of β.
struct Source {
    f: Vec<f64>,
    mu: Vec<f64>,
    lower: Vec<f64>,
}

impl Source {
    fn new(e: &Embedding, segments: &[(String, Range<usize>)]) -> Self {
        let f: Vec<f64> = e.hessian().to_vec();
        let overall = f.iter().sum::<f64>() / f.len() as f64;
        let mut mu = Vec::with_capacity(segments.len());
        let mut lower = Vec::with_capacity(segments.len());
        for (_, r) in segments {
            let seg = &f[r.clone()];
            let mean = seg.iter().sum::<f64>() / seg.len() as f64;
            let unit = if mean > 0.0 { mean } else { overall };
            let max = seg.iter().fold(0.0f64, |m, &v| m.max(v));
            mu.push(unit);
            lower.push(-0.99 * max / unit);
        }
        Source { f, mu, lower }
    }

    /// `m = max(F + β·μ, 0)`. An entry is clamped exactly when it is 0, which is how the
    /// kernel knows which entries carry gradient.
    fn embed(&self, beta: &[f64], segments: &[(String, Range<usize>)]) -> Vec<f64> {
        let mut m = vec![0.0; self.f.len()];
        for (s, (_, r)) in segments.iter().enumerate() {
            let b = beta[s] * self.mu[s];
            for k in r.clone() {
                m[k] = (self.f[k] + b).max(0.0);
            }
        }
        m
    }
}

/// REF's cosine distance `d(m, t)` and its gradient with respect to the bias of each segment
/// (per unit of `b`, i.e. `Σ_{k∈s, m_k > 0} ∂d/∂m_k`: an entry at 0 is clamped and gets none).
///
/// With σ = m + t + ε, x = m/σ, y = t/σ and the sums Sxy, Sxx, Syy, `d = 1 − Sxy/√(Sxx·Syy)`;
/// `∂x_k/∂m_k = (t+ε)/σ²`, `∂y_k/∂m_k = −t/σ²`, hence per entry `∂Sxy = t(t+ε−m)/σ³`,
/// `∂Sxx = 2m(t+ε)/σ³`, `∂Syy = −2t²/σ³`, and
/// `∂d/∂m_k = −[∂Sxy/√(Sxx·Syy) − C·(∂Sxx/(2Sxx) + ∂Syy/(2Syy))]`, C = 1 − d.
pub(crate) fn cosine_and_gradient(
    m: &[f64],
    t: &[f64],
    segments: &[(String, Range<usize>)],
) -> (f64, Vec<f64>) {
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    // Per segment: Σ t(t+ε−m)/σ³, Σ m(t+ε)/σ³, Σ t²/σ³ over unclamped entries.
    let mut g = vec![[0.0f64; 3]; segments.len()];
    for (s, (_, r)) in segments.iter().enumerate() {
        let acc = sums(&m[r.clone()], &t[r.clone()]);
        sxy += acc[0];
        sxx += acc[1];
        syy += acc[2];
        g[s] = [acc[3], acc[4], acc[5]];
    }
    let norm = (sxx * syy).sqrt();
    let c = sxy / norm;
    let grad = g
        .iter()
        .map(|&[g1, g2, g3]| -(g1 / norm - c * (g2 / sxx - g3 / syy)))
        .collect();
    (1.0 - c, grad)
}

/// Lanes of the per-entry sums: independent accumulators that the compiler vectorises.
const LANES: usize = 4;

/// The six sums of [`cosine_and_gradient`] over one segment, dispatching to an AVX2 build of
/// the same code where the CPU has it. Each lane adds its entries in the same order in both
/// builds and nothing is fused into FMAs, so both give the same bits.
fn sums(m: &[f64], t: &[f64]) -> [f64; 6] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { sums_avx2(m, t) };
    }
    sums_portable(m, t)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sums_avx2(m: &[f64], t: &[f64]) -> [f64; 6] {
    sums_portable(m, t)
}

#[inline(always)]
fn sums_portable(m: &[f64], t: &[f64]) -> [f64; 6] {
    let mut acc = [[0.0f64; LANES]; 6];
    let (mc, mr) = m.as_chunks::<LANES>();
    let (tc, tr) = t.as_chunks::<LANES>();
    let entry = |acc: &mut [[f64; LANES]; 6], j: usize, mk: f64, tk: f64| {
        let rcp = 1.0 / (mk + tk + EPSILON);
        let (x, y) = (mk * rcp, tk * rcp);
        acc[0][j] += x * y;
        acc[1][j] += x * x;
        acc[2][j] += y * y;
        let r3 = if mk > 0.0 { rcp * rcp * rcp } else { 0.0 };
        let te = tk + EPSILON;
        acc[3][j] += tk * (te - mk) * r3;
        acc[4][j] += mk * te * r3;
        acc[5][j] += tk * tk * r3;
    };
    for (a, b) in mc.iter().zip(tc) {
        for j in 0..LANES {
            entry(&mut acc, j, a[j], b[j]);
        }
    }
    for (j, (&a, &b)) in mr.iter().zip(tr).enumerate() {
        entry(&mut acc, j, a, b);
    }
    acc.map(|lanes| (lanes[0] + lanes[2]) + (lanes[1] + lanes[3]))
}

/// The training problem: fixed data of a fit.
struct Problem<'a> {
    sources: Vec<Source>,
    targets: Vec<&'a [f64]>,
    trivial: &'a [f64],
    /// q(i | t) over allowed experts (0 elsewhere) and the allowed mask, per target.
    q: Vec<Vec<f64>>,
    allowed: Vec<Vec<bool>>,
    segments: Vec<(String, Range<usize>)>,
    alpha: f64,
    l2: f64,
}

/// Loss and gradient (β per expert and segment, then log γ).
struct Evaluation {
    loss: f64,
    grad_beta: Vec<Vec<f64>>,
    grad_log_gamma: f64,
}

/// Distances at some β: `d_asym[t][i]` and `∂d_asym[t][i]/∂β_{i,s}` (allowed pairs only).
struct Forward {
    d_asym: Vec<Vec<f64>>,
    grad: Vec<Vec<Vec<f64>>>,
}

impl Problem<'_> {
    /// The asymmetric distances and their gradients at β.
    fn forward(&self, beta: &[Vec<f64>]) -> Forward {
        let embedded: Vec<Vec<f64>> = self
            .sources
            .par_iter()
            .zip(beta.par_iter())
            .map(|(src, b)| src.embed(b, &self.segments))
            .collect();
        // Complexities d(m_i, t₀) and their gradients.
        let complexity: Vec<(f64, Vec<f64>)> = embedded
            .par_iter()
            .map(|m| cosine_and_gradient(m, self.trivial, &self.segments))
            .collect();
        let rows: Vec<(Vec<f64>, Vec<Vec<f64>>)> = self
            .targets
            .par_iter()
            .enumerate()
            .map(|(t, target)| {
                let experts = self.sources.len();
                let mut d_asym = vec![0.0; experts];
                let mut grads = vec![Vec::new(); experts];
                for i in (0..experts).filter(|&i| self.allowed[t][i]) {
                    let (d, g) = cosine_and_gradient(&embedded[i], target, &self.segments);
                    let (c, h) = &complexity[i];
                    d_asym[i] = d - self.alpha * c;
                    // ∂m/∂β = μ on unclamped entries (the kernel already skips clamped ones).
                    grads[i] = g
                        .iter()
                        .zip(h)
                        .zip(&self.sources[i].mu)
                        .map(|((g, h), mu)| (g - self.alpha * h) * mu)
                        .collect();
                }
                (d_asym, grads)
            })
            .collect();
        let (d_asym, grad) = rows.into_iter().unzip();
        Forward { d_asym, grad }
    }

    /// Cross-entropy of target `t` at γ and `∂CE/∂s_i = p_i − q_i` (0 for excluded experts).
    fn cross_entropy(&self, t: usize, d_asym: &[f64], gamma: f64) -> (f64, Vec<f64>) {
        let allowed = &self.allowed[t];
        let live = || (0..d_asym.len()).filter(|&i| allowed[i]);
        let max = live()
            .map(|i| -gamma * d_asym[i])
            .fold(f64::NEG_INFINITY, f64::max);
        let log_z = max
            + live()
                .map(|i| (-gamma * d_asym[i] - max).exp())
                .sum::<f64>()
                .ln();
        let mut ce = 0.0;
        let mut r = vec![0.0; d_asym.len()];
        for i in live() {
            let log_p = -gamma * d_asym[i] - log_z;
            let q = self.q[t][i];
            if q > 0.0 {
                ce -= q * log_p;
            }
            r[i] = log_p.exp() - q;
        }
        (ce, r)
    }

    /// Mean cross-entropy over targets plus the ridge, at given distances.
    fn loss(&self, fw: &Forward, beta: &[Vec<f64>], gamma: f64) -> f64 {
        let nt = self.targets.len() as f64;
        let ce: f64 = (0..self.targets.len())
            .map(|t| self.cross_entropy(t, &fw.d_asym[t], gamma).0 / nt)
            .sum();
        ce + self.l2 * beta.iter().flatten().map(|b| b * b).sum::<f64>()
    }

    /// Loss and gradient at (β, log γ).
    fn evaluate(&self, beta: &[Vec<f64>], log_gamma: f64) -> Evaluation {
        let gamma = log_gamma.exp();
        let fw = self.forward(beta);
        let nt = self.targets.len() as f64;
        let mut grad_beta: Vec<Vec<f64>> = beta
            .iter()
            .map(|b| b.iter().map(|v| 2.0 * self.l2 * v).collect())
            .collect();
        let mut grad_log_gamma = 0.0;
        for t in 0..self.targets.len() {
            let (_, r) = self.cross_entropy(t, &fw.d_asym[t], gamma);
            for i in (0..r.len()).filter(|&i| self.allowed[t][i]) {
                // s = −γ·d_asym: ∂s/∂β = −γ ∂d_asym/∂β, ∂s/∂log γ = s.
                for (o, g) in grad_beta[i].iter_mut().zip(&fw.grad[t][i]) {
                    *o += -r[i] * gamma * g / nt;
                }
                grad_log_gamma += r[i] * (-gamma * fw.d_asym[t][i]) / nt;
            }
        }
        Evaluation {
            loss: self.loss(&fw, beta, gamma),
            grad_beta,
            grad_log_gamma,
        }
    }

    /// The best log γ of the grid −3, −2.75, …, 10 at β (ties to the smaller), and its loss.
    /// The distances do not depend on γ: one forward pass serves the whole grid.
    fn grid_log_gamma(&self, beta: &[Vec<f64>]) -> (f64, f64) {
        let fw = self.forward(beta);
        let mut best = (0.0, f64::INFINITY);
        for k in 0..=52 {
            let lg = -3.0 + 0.25 * f64::from(k);
            let loss = self.loss(&fw, beta, lg.exp());
            if loss < best.1 {
                best = (lg, loss);
            }
        }
        best
    }
}

/// Checks the inputs of a fit and builds the problem.
fn problem<'a>(
    sources: &[Embedding],
    targets: &'a [Embedding],
    errors: &Array2<f64>,
    allowed: &Array2<bool>,
    trivial: &'a Embedding,
    options: &Model2VecOptions,
) -> Result<Problem<'a>> {
    options.validate()?;
    if sources.is_empty() || targets.is_empty() {
        return Err(invalid(
            "Model2Vec: needs at least one expert and one target",
        ));
    }
    let shape = (targets.len(), sources.len());
    if errors.dim() != shape || allowed.dim() != shape {
        return Err(invalid(format!(
            "Model2Vec: errors {:?} and allowed {:?} must be targets × experts = {shape:?}",
            errors.dim(),
            allowed.dim()
        )));
    }
    let first = &sources[0];
    for e in sources.iter().chain(targets) {
        first.check_comparable_with(e, Compatibility::Strict)?;
    }
    first.check_comparable_with(trivial, Compatibility::Structural)?;
    let tau = options.error_temperature;
    let mut q = Vec::with_capacity(targets.len());
    let mut allowed_rows = Vec::with_capacity(targets.len());
    for t in 0..targets.len() {
        let row: Vec<bool> = allowed.row(t).to_vec();
        let cols: Vec<usize> = (0..sources.len()).filter(|&i| row[i]).collect();
        if cols.is_empty() {
            return Err(invalid(format!(
                "Model2Vec: target {t} ({}) has no allowed expert",
                targets[t].name()
            )));
        }
        if let Some(&i) = cols.iter().find(|&&i| !errors[(t, i)].is_finite()) {
            return Err(invalid(format!(
                "Model2Vec: error of target {t} with expert {i} is {}",
                errors[(t, i)]
            )));
        }
        let best = cols
            .iter()
            .map(|&i| errors[(t, i)])
            .fold(f64::INFINITY, f64::min);
        let mut qt = vec![0.0; sources.len()];
        for &i in &cols {
            qt[i] = (-(errors[(t, i)] - best) / tau).exp();
        }
        let z: f64 = qt.iter().sum();
        qt.iter_mut().for_each(|v| *v /= z);
        q.push(qt);
        allowed_rows.push(row);
    }
    let segments = bias_segments(first.layout(), options.bias);
    Ok(Problem {
        sources: sources.iter().map(|s| Source::new(s, &segments)).collect(),
        targets: targets
            .iter()
            .map(|t| t.hessian().as_slice().expect("embeddings are contiguous"))
            .collect(),
        trivial: trivial
            .hessian()
            .as_slice()
            .expect("embeddings are contiguous"),
        q,
        allowed: allowed_rows,
        segments,
        alpha: options.alpha,
        l2: options.l2,
    })
}

/// Adam state of one parameter vector.
struct Adam {
    m: Vec<f64>,
    v: Vec<f64>,
}

impl Adam {
    const B1: f64 = 0.9;
    const B2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    fn new(n: usize) -> Self {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// One step on `x` with gradient `g` at step `t` (1-based), learning rate `lr`.
    fn step(&mut self, x: &mut [f64], g: &[f64], t: i32, lr: f64) {
        let (c1, c2) = (1.0 - Self::B1.powi(t), 1.0 - Self::B2.powi(t));
        for k in 0..x.len() {
            self.m[k] = Self::B1 * self.m[k] + (1.0 - Self::B1) * g[k];
            self.v[k] = Self::B2 * self.v[k] + (1.0 - Self::B2) * g[k] * g[k];
            x[k] -= lr * (self.m[k] / c1) / ((self.v[k] / c2).sqrt() + Self::EPS);
        }
    }
}

impl Model2Vec {
    /// Fits the biases and γ. `sources[i]` is the embedding of the task expert `i` was trained
    /// on (its name is the expert's name); `errors[t][i]` the error of expert `i` on
    /// `targets[t]`; `allowed[t][i] = false` leaves the pair out of the loss (e.g. the expert
    /// trained on `t` itself). Sources and targets must be comparable under
    /// [`Compatibility::Strict`]; `trivial` (t₀) under [`Compatibility::Structural`].
    pub fn fit(
        sources: &[Embedding],
        targets: &[Embedding],
        errors: &Array2<f64>,
        allowed: &Array2<bool>,
        trivial: &Embedding,
        options: &Model2VecOptions,
    ) -> Result<Model2Vec> {
        let problem = problem(sources, targets, errors, allowed, trivial, options)?;
        let ns = problem.segments.len();
        let mut beta = vec![vec![0.0; ns]; sources.len()];
        let (mut log_gamma, best) = problem.grid_log_gamma(&beta);
        let initial_loss = best;
        if !initial_loss.is_finite() {
            return Err(Error::Numerical(format!(
                "Model2Vec: the initial loss is {initial_loss} (degenerate embeddings?)"
            )));
        }
        let mut adam_beta: Vec<Adam> = (0..sources.len()).map(|_| Adam::new(ns)).collect();
        let mut adam_gamma = Adam::new(1);
        for step in 1..=options.iterations {
            let ev = problem.evaluate(&beta, log_gamma);
            if !ev.loss.is_finite() {
                return Err(Error::Numerical(format!(
                    "Model2Vec: the loss became {} at step {step}",
                    ev.loss
                )));
            }
            let t = i32::try_from(step).unwrap_or(i32::MAX);
            // Cosine decay to 0: plain Adam keeps oscillating around the flat minimum valleys
            // of this loss; the decay lets the last steps settle.
            let progress = (step - 1) as f64 / options.iterations as f64;
            let lr = options.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
            for ((b, a), g) in beta.iter_mut().zip(&mut adam_beta).zip(&ev.grad_beta) {
                a.step(b, g, t, lr);
            }
            for (b, src) in beta.iter_mut().zip(&problem.sources) {
                for (v, &lo) in b.iter_mut().zip(&src.lower) {
                    *v = v.max(lo);
                }
            }
            let mut lg = [log_gamma];
            adam_gamma.step(&mut lg, &[ev.grad_log_gamma], t, lr);
            log_gamma = lg[0];
        }
        let final_loss = problem.evaluate(&beta, log_gamma).loss;
        let bias = beta
            .iter()
            .zip(&problem.sources)
            .map(|(b, s)| b.iter().zip(&s.mu).map(|(b, mu)| b * mu).collect())
            .collect();
        let params = Model2VecParams {
            format_version: FORMAT_VERSION,
            experts: sources.iter().map(|s| s.name().to_string()).collect(),
            source_fingerprints: sources.iter().map(fingerprint).collect(),
            trivial: trivial.name().to_string(),
            trivial_fingerprint: fingerprint(trivial),
            segments: problem
                .segments
                .iter()
                .map(|(n, r)| (n.clone(), r.len()))
                .collect(),
            beta,
            bias,
            gamma: log_gamma.exp(),
            alpha: options.alpha,
            options: *options,
            initial_loss,
            final_loss,
        };
        Model2Vec::assemble(params, sources, trivial)
    }

    /// Builds the expert embeddings `m_i` from saved parameters and the sources.
    fn assemble(
        params: Model2VecParams,
        sources: &[Embedding],
        trivial: &Embedding,
    ) -> Result<Model2Vec> {
        let segments = bias_segments(sources[0].layout(), params.options.bias);
        let experts = sources
            .iter()
            .zip(&params.beta)
            .map(|(s, beta)| {
                let m = Source::new(s, &segments).embed(beta, &segments);
                let mut meta = s.meta().clone();
                meta.task = Some(format!("m({})", s.name()));
                Embedding::new(m, Some(s.scale().clone()), s.layout().clone(), meta)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Model2Vec {
            params,
            experts,
            trivial: trivial.clone(),
        })
    }

    /// The learned parameters (what [`Model2Vec::save`] writes).
    pub fn params(&self) -> &Model2VecParams {
        &self.params
    }

    /// The expert embeddings `m_i`.
    pub fn expert_embeddings(&self) -> &[Embedding] {
        &self.experts
    }

    /// `d_asym(m_i → target)` for every expert: distance-like, lower is better (apply
    /// [`crate::selectors::argmin`]). γ does not change the order, so it is not applied.
    pub fn scores(&self, target: &Embedding) -> Result<Vec<f64>> {
        self.experts
            .iter()
            .map(|m| {
                let d = distance_with(m, target, Metric::Cosine, Compatibility::Strict)?;
                let c = distance_with(m, &self.trivial, Metric::Cosine, Compatibility::Structural)?;
                Ok(d - self.params.alpha * c)
            })
            .collect()
    }

    /// The `top_k` experts for `target`, best first (ties to the lower index).
    pub fn select(&self, target: &Embedding, top_k: usize) -> Result<Vec<usize>> {
        let s = ndarray::Array1::from(self.scores(target)?);
        Ok(k_smallest(s.view(), top_k, None))
    }

    /// Writes the parameters as JSON, atomically. Errors name the file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(&self.params)
            .map_err(|e| Error::Numerical(format!("Model2Vec parameters: {e}")))?;
        task2vec_common::write_file_atomic(path, &json).map_err(|e| Error::Io {
            path: e.path,
            source: e.source,
        })
    }

    /// Reads parameters written by [`Model2Vec::save`] and rebuilds the expert embeddings from
    /// `sources` and `trivial`, which must be the embeddings the fit used (same names and
    /// fingerprints, in the same order). Errors name the file.
    pub fn load(path: &Path, sources: &[Embedding], trivial: &Embedding) -> Result<Model2Vec> {
        let text = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let json_error = |reason: String| Error::Json {
            path: path.to_path_buf(),
            reason,
        };
        let params: Model2VecParams =
            serde_json::from_slice(&text).map_err(|e| json_error(e.to_string()))?;
        if params.format_version != FORMAT_VERSION {
            return Err(json_error(format!(
                "format version {} is not the supported {FORMAT_VERSION}",
                params.format_version
            )));
        }
        params
            .options
            .validate()
            .map_err(|e| json_error(e.to_string()))?;
        if sources.len() != params.experts.len() || sources.is_empty() {
            return Err(json_error(format!(
                "fitted for {} experts, {} source embeddings given",
                params.experts.len(),
                sources.len()
            )));
        }
        for (i, s) in sources.iter().enumerate() {
            if s.name() != params.experts[i] || fingerprint(s) != params.source_fingerprints[i] {
                return Err(json_error(format!(
                    "expert {i} was fitted on {:?}, not on the given {:?} (name or Fisher values \
                     differ)",
                    params.experts[i],
                    s.name()
                )));
            }
        }
        if fingerprint(trivial) != params.trivial_fingerprint {
            return Err(json_error(format!(
                "fitted with the trivial embedding {:?}; the given one differs",
                params.trivial
            )));
        }
        let segments = bias_segments(sources[0].layout(), params.options.bias);
        let shapes_ok = params.segments.len() == segments.len()
            && params.beta.len() == sources.len()
            && params.beta.iter().all(|b| b.len() == segments.len())
            && params.beta.iter().flatten().all(|b| b.is_finite());
        if !shapes_ok {
            return Err(json_error(
                "the biases do not match the embeddings' layout (or are not finite)".into(),
            ));
        }
        Model2Vec::assemble(params, sources, trivial)
    }
}

/// Leave-one-target-out evaluation: for each target `t`, fit on the other targets (`t`'s row
/// of `errors` is never read for `t`) and select, among the experts allowed for `t`, the one
/// with the lowest [`Model2Vec::scores`]. Fits run in parallel; the result does not depend on
/// the thread count.
pub fn leave_one_target_out(
    sources: &[Embedding],
    targets: &[Embedding],
    errors: &Array2<f64>,
    allowed: &Array2<bool>,
    trivial: &Embedding,
    options: &Model2VecOptions,
) -> Result<Vec<usize>> {
    let n = targets.len();
    if n < 2 {
        return Err(invalid(
            "Model2Vec leave-one-target-out needs at least two targets",
        ));
    }
    if errors.dim() != (n, sources.len()) || allowed.dim() != errors.dim() {
        return Err(invalid(format!(
            "Model2Vec: errors {:?} and allowed {:?} must be targets × experts = {:?}",
            errors.dim(),
            allowed.dim(),
            (n, sources.len())
        )));
    }
    (0..n)
        .into_par_iter()
        .map(|t| {
            let keep: Vec<usize> = (0..n).filter(|&u| u != t).collect();
            let train: Vec<Embedding> = keep.iter().map(|&u| targets[u].clone()).collect();
            let e = errors.select(ndarray::Axis(0), &keep);
            let a = allowed.select(ndarray::Axis(0), &keep);
            let model = Model2Vec::fit(sources, &train, &e, &a, trivial, options)?;
            let scores = model.scores(&targets[t])?;
            (0..sources.len())
                .filter(|&i| allowed[(t, i)])
                .fold(None, |best: Option<usize>, i| match best {
                    Some(b) if scores[b] <= scores[i] => Some(b),
                    _ => Some(i),
                })
                .ok_or_else(|| invalid(format!("target {t} has no allowed expert")))
        })
        .collect()
}

/// Test hooks: the loss and gradient of a fit problem at given parameters, for the
/// finite-difference check in `tests/model2vec_fit.rs`.
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// `(loss, ∂loss/∂β (expert-major), ∂loss/∂log γ)` at `beta` (experts × segments) and
    /// `log_gamma`.
    // The fit's own arguments plus the point to evaluate at: bundling them would only serve
    // this hook.
    #[allow(clippy::too_many_arguments)]
    pub fn loss_and_gradient(
        sources: &[Embedding],
        targets: &[Embedding],
        errors: &Array2<f64>,
        allowed: &Array2<bool>,
        trivial: &Embedding,
        options: &Model2VecOptions,
        beta: &[Vec<f64>],
        log_gamma: f64,
    ) -> Result<(f64, Vec<Vec<f64>>, f64)> {
        let p = problem(sources, targets, errors, allowed, trivial, options)?;
        let ev = p.evaluate(beta, log_gamma);
        Ok((ev.loss, ev.grad_beta, ev.grad_log_gamma))
    }

    /// REF's cosine as computed by the fit's kernel.
    pub fn kernel_cosine(m: &[f64], t: &[f64]) -> f64 {
        cosine_and_gradient(m, t, &[("all".to_string(), 0..m.len())]).0
    }
}
