//! The task head: a linear classifier on the probe's pooled features, fitted with Adam on
//! class-balanced draws (REF's `_fit_classifier`). It is small (classes × feature_dim), so it is
//! fitted in plain f64 arithmetic with the closed-form softmax cross-entropy gradient: exact,
//! fast, and bit-reproducible regardless of the tensor backend.
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{FisherError, Result};
use crate::options::HeadOptions;
use crate::progress::Progress;
use crate::sampler::{BalancedSampler, Stream, stratified_split, stream_rng};

/// `logits = weight · features + bias`, weight row-major `[classes, dim]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearHead {
    /// Number of classes (rows of `weight`).
    pub classes: usize,
    /// Feature dimension (columns of `weight`).
    pub dim: usize,
    /// Row-major `[classes, dim]`.
    pub weight: Vec<f32>,
    /// `[classes]`.
    pub bias: Vec<f32>,
}

impl LinearHead {
    /// torch's `nn.Linear` initialisation: weight and bias uniform in ±1/√dim.
    pub fn init(classes: usize, dim: usize, rng: &mut impl Rng) -> Self {
        let bound = 1.0 / (dim as f64).sqrt();
        let mut draw = || (rng.random::<f64>() * 2.0 - 1.0) * bound;
        let weight = (0..classes * dim).map(|_| draw() as f32).collect();
        let bias = (0..classes).map(|_| draw() as f32).collect();
        Self {
            classes,
            dim,
            weight,
            bias,
        }
    }

    /// Logits of one feature vector, in f64.
    pub fn logits(&self, features: &[f32]) -> Vec<f64> {
        (0..self.classes)
            .map(|c| {
                let row = &self.weight[c * self.dim..(c + 1) * self.dim];
                let dot: f64 = row
                    .iter()
                    .zip(features)
                    .map(|(&w, &f)| w as f64 * f as f64)
                    .sum();
                dot + self.bias[c] as f64
            })
            .collect()
    }

    /// Applies the head to a batch of features `[n, dim]` on any device (constant weights).
    pub fn apply(&self, features: Tensor<2>) -> Tensor<2> {
        let device = features.device().without_autodiff();
        let (w, b) = self.tensors(&device);
        features.matmul(w.transpose()).add(b.unsqueeze_dim(0))
    }

    /// Weight `[classes, dim]` and bias `[classes]` as tensors.
    pub fn tensors(&self, device: &Device) -> (Tensor<2>, Tensor<1>) {
        let w = Tensor::<2>::from_data(
            TensorData::new(self.weight.clone(), [self.classes, self.dim]),
            device,
        );
        let b = Tensor::<1>::from_data(TensorData::new(self.bias.clone(), [self.classes]), device);
        (w, b)
    }

    /// Mean cross-entropy over the samples `rows` of a labelled feature matrix `[n, dim]`.
    pub fn loss_on(&self, features: &[f32], labels: &[usize], rows: &[usize]) -> f64 {
        let total: f64 = rows
            .iter()
            .map(|&i| {
                let p = softmax(&self.logits(&features[i * self.dim..(i + 1) * self.dim]));
                -p[labels[i]].max(f64::MIN_POSITIVE).ln()
            })
            .sum();
        total / rows.len().max(1) as f64
    }

    /// Mean cross-entropy and error rate on a labelled feature matrix `[n, dim]`.
    pub fn evaluate(&self, features: &[f32], labels: &[usize]) -> (f64, f64) {
        let mut loss = 0.0;
        let mut errors = 0usize;
        for (i, &y) in labels.iter().enumerate() {
            let z = self.logits(&features[i * self.dim..(i + 1) * self.dim]);
            let p = softmax(&z);
            loss -= p[y].max(f64::MIN_POSITIVE).ln();
            let argmax = (0..z.len())
                .max_by(|&a, &b| z[a].total_cmp(&z[b]))
                .unwrap_or(0);
            errors += usize::from(argmax != y);
        }
        let n = labels.len().max(1) as f64;
        (loss / n, errors as f64 / n)
    }
}

/// Numerically stable softmax.
pub fn softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|&v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// A fitted head and how well it fits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadFit {
    /// The fitted head.
    pub head: LinearHead,
    /// Mean cross-entropy on all samples after the fit.
    pub loss: f64,
    /// Training error after the fit.
    pub error: f64,
    /// Epochs run (fewer than asked when early stopping ended the fit).
    #[serde(default)]
    pub epochs_run: usize,
    /// With early stopping: the held-out loss of the kept epoch.
    #[serde(default)]
    pub held_out_loss: Option<f64>,
}

/// torch's Adam (L2 weight decay added to the gradient, bias-corrected moments, ε = 1e-8).
#[derive(Clone, Debug)]
pub(crate) struct Adam {
    lr: f64,
    weight_decay: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl Adam {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    pub(crate) fn new(len: usize, lr: f64, weight_decay: f64) -> Self {
        Self {
            lr,
            weight_decay,
            m: vec![0.0; len],
            v: vec![0.0; len],
            t: 0,
        }
    }

    /// Updates `params` in place from `grads`.
    pub(crate) fn step(&mut self, params: &mut [f64], grads: &[f64]) {
        self.t += 1;
        let c1 = 1.0 - Self::BETA1.powi(self.t);
        let c2 = 1.0 - Self::BETA2.powi(self.t);
        for i in 0..params.len() {
            let g = grads[i] + self.weight_decay * params[i];
            self.m[i] = Self::BETA1 * self.m[i] + (1.0 - Self::BETA1) * g;
            self.v[i] = Self::BETA2 * self.v[i] + (1.0 - Self::BETA2) * g * g;
            let m_hat = self.m[i] / c1;
            let v_hat = self.v[i] / c2;
            params[i] -= self.lr * m_hat / (v_hat.sqrt() + Self::EPS);
        }
    }
}

/// Fits a fresh head on `features` (`[n, dim]` row-major) with labels in `0..classes`.
pub fn fit_head(
    features: &[f32],
    labels: &[usize],
    classes: usize,
    options: &HeadOptions,
    seed: u64,
    progress: &dyn Progress,
) -> Result<HeadFit> {
    options.validate()?;
    let n = labels.len();
    if n == 0 || !features.len().is_multiple_of(n) {
        return Err(FisherError::InvalidTask(format!(
            "{} feature values for {n} labels",
            features.len()
        )));
    }
    let dim = features.len() / n;
    if let Some(&bad) = labels.iter().find(|&&y| y >= classes) {
        return Err(FisherError::InvalidTask(format!(
            "label {bad} out of range for {classes} classes"
        )));
    }
    // With early stopping, a seeded class-stratified part of the images only scores epochs.
    let (fit_on, held_out) = if options.early_stop > 0.0 {
        let mut rng = stream_rng(seed, Stream::EarlyStop);
        let (held_out, fit_on) = stratified_split(
            labels,
            classes_present(labels),
            options.early_stop,
            &mut rng,
        )
        .map_err(|class| {
            FisherError::InvalidTask(format!(
                "class {class} has fewer than 2 head images: --head-early-stop needs one to fit \
                     and one to hold out in every class"
            ))
        })?;
        (fit_on, held_out)
    } else {
        ((0..n).collect(), Vec::new())
    };
    let fit_labels: Vec<usize> = fit_on.iter().map(|&i| labels[i]).collect();
    let init = LinearHead::init(classes, dim, &mut stream_rng(seed, Stream::HeadInit));
    // Parameters as one f64 vector: weight (row-major) then bias.
    let mut params: Vec<f64> = init
        .weight
        .iter()
        .chain(&init.bias)
        .map(|&v| v as f64)
        .collect();
    let mut adam = Adam::new(params.len(), options.learning_rate, options.weight_decay);
    let sampler = BalancedSampler::new(&fit_labels)?;
    let mut rng = stream_rng(seed, Stream::HeadSampler);
    let steps_per_epoch = options.sampler.draws_per_epoch / options.sampler.batch_size;
    progress.start("head", (options.epochs * steps_per_epoch) as u64);
    let mut grads = vec![0.0; params.len()];
    let mut logits = vec![0.0; classes];
    let mut best: Option<(f64, Vec<f64>)> = None;
    let mut since_best = 0;
    let mut epochs_run = 0;
    for _ in 0..options.epochs {
        for batch in sampler.epoch(
            options.sampler.draws_per_epoch,
            options.sampler.batch_size,
            &mut rng,
        ) {
            grads.iter_mut().for_each(|g| *g = 0.0);
            let scale = 1.0 / batch.len() as f64;
            for &j in &batch {
                let i = fit_on[j];
                let f = &features[i * dim..(i + 1) * dim];
                for (c, z) in logits.iter_mut().enumerate() {
                    let row = &params[c * dim..(c + 1) * dim];
                    *z = row.iter().zip(f).map(|(&w, &x)| w * x as f64).sum::<f64>()
                        + params[classes * dim + c];
                }
                // d(mean CE)/d logits = (softmax − onehot) / batch.
                let p = softmax(&logits);
                for c in 0..classes {
                    let d = (p[c] - f64::from(u8::from(c == labels[i]))) * scale;
                    let row = &mut grads[c * dim..(c + 1) * dim];
                    for (g, &x) in row.iter_mut().zip(f) {
                        *g += d * x as f64;
                    }
                    grads[classes * dim + c] += d;
                }
            }
            adam.step(&mut params, &grads);
            progress.advance(1);
        }
        epochs_run += 1;
        if held_out.is_empty() {
            continue;
        }
        let loss = head_from(&params, classes, dim).loss_on(features, labels, &held_out);
        if best.as_ref().is_none_or(|(b, _)| loss < *b) {
            best = Some((loss, params.clone()));
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= HeadOptions::PATIENCE {
                break;
            }
        }
    }
    let held_out_loss = best.as_ref().map(|(loss, _)| *loss);
    if let Some((_, kept)) = best {
        params = kept;
    }
    let head = head_from(&params, classes, dim);
    let (loss, error) = head.evaluate(features, labels);
    if !loss.is_finite() {
        return Err(FisherError::Numerical(format!(
            "head loss is {loss} after fitting (features not finite?)"
        )));
    }
    progress.finish(&format!(
        "loss {loss:.4}, train error {:.1}%, {epochs_run} epochs",
        error * 100.0
    ));
    Ok(HeadFit {
        head,
        loss,
        error,
        epochs_run,
        held_out_loss,
    })
}

/// The head whose parameters are `params` (weight row-major, then bias).
fn head_from(params: &[f64], classes: usize, dim: usize) -> LinearHead {
    LinearHead {
        classes,
        dim,
        weight: params[..classes * dim].iter().map(|&v| v as f32).collect(),
        bias: params[classes * dim..].iter().map(|&v| v as f32).collect(),
    }
}

/// Number of classes = largest label + 1 (labels are checked to be in range before).
fn classes_present(labels: &[usize]) -> usize {
    labels.iter().max().map_or(0, |m| m + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    #[test]
    fn adam_matches_hand_computed_first_steps() {
        // One parameter, gradient 2 (+ weight decay 0.5·p). Step 1: g = 2 + 0.5·1 = 2.5,
        // m̂ = g, v̂ = g², update = lr·g/(|g|+ε) ≈ lr.
        let mut adam = Adam::new(1, 0.1, 0.5);
        let mut p = [1.0];
        adam.step(&mut p, &[2.0]);
        assert!((p[0] - (1.0 - 0.1 * 2.5 / (2.5 + 1e-8))).abs() < 1e-12);
    }

    #[test]
    fn fits_separable_features() {
        // Two classes separated along the first feature.
        let mut features = Vec::new();
        let mut labels = Vec::new();
        for i in 0..40 {
            let y = i % 2;
            let s = if y == 0 { -1.0 } else { 1.0 };
            features.extend([s + 0.01 * i as f32, 0.3]);
            labels.push(y);
        }
        let options = HeadOptions {
            learning_rate: 0.05,
            ..Default::default()
        };
        let fit = fit_head(&features, &labels, 2, &options, 1, &Silent).unwrap();
        assert_eq!(fit.error, 0.0);
        assert!(fit.loss < 0.05, "loss {}", fit.loss);
        let again = fit_head(&features, &labels, 2, &options, 1, &Silent).unwrap();
        assert_eq!(fit, again, "same seed must give the same head");
    }

    #[test]
    fn early_stopping_keeps_the_best_held_out_epoch_and_stops() {
        // Random features with random labels: nothing generalises, so the held-out loss rises
        // as the head memorises and the fit stops long before its 60 epochs.
        let mut rng = stream_rng(5, Stream::HeadInit);
        let (n, dim) = (60, 40);
        let features: Vec<f32> = (0..n * dim).map(|_| rng.random::<f32>() - 0.5).collect();
        let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
        let mut options = HeadOptions {
            learning_rate: 0.05,
            epochs: 60,
            early_stop: 0.25,
            ..Default::default()
        };
        options.sampler.draws_per_epoch = 64;
        options.sampler.batch_size = 16;
        let fit = fit_head(&features, &labels, 2, &options, 1, &Silent).unwrap();
        assert!(fit.epochs_run < 60, "ran {} epochs", fit.epochs_run);
        let best = fit
            .held_out_loss
            .expect("early stopping reports its held-out loss");
        assert!(best.is_finite());
        assert_eq!(
            fit,
            fit_head(&features, &labels, 2, &options, 1, &Silent).unwrap()
        );
        // Without early stopping every epoch runs and there is no held-out loss.
        options.early_stop = 0.0;
        let full = fit_head(&features, &labels, 2, &options, 1, &Silent).unwrap();
        assert_eq!((full.epochs_run, full.held_out_loss), (60, None));
        // The memorising fit is better on its own images than the early-stopped one.
        assert!(full.loss < fit.loss, "{} vs {}", full.loss, fit.loss);
    }

    #[test]
    fn label_out_of_range_is_an_error() {
        let err = fit_head(&[0.0, 1.0], &[0, 3], 2, &HeadOptions::default(), 0, &Silent);
        assert!(err.is_err());
    }
}
