//! `variational`: the paper's robust Fisher as REF parametrises it (docs/reference.md §4.2).
//!
//! Every conv after the split gets one log-variance per filter (shared by the filter's
//! C_in·kh·kw weights) and one log prior variance λ² per layer. The network is run with noisy
//! weights w ∼ N(W, σ²) through the local reparameterisation trick:
//!
//! ```text
//! out = conv(x, W) + sqrt(conv(x² + 0.01, σ²)) ⊙ ε,   ε ∼ N(0, 1) per output element
//! ```
//!
//! and σ², λ² and the head are fitted with Adam on mean cross-entropy (true labels) + β·Lz, where
//! Lz = 2·KL(N(W, σ²) ‖ N(0, λ²)) summed over weights (REF's compression loss). The embedding is
//! the learned precision 1/σ² per filter, with `scale` = the prior precision 1/λ², so the
//! trivial embedding (hessian = scale) exists. Unlike REF this also works with skip_layers > 0
//! (REF feeds cached activations into conv1 there, docs/reference.md §10.2), and the probe is never
//! modified: the tap swaps each conv's forward for the noisy one using the estimator's own
//! parameters.
use std::collections::HashMap;

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::activation::log_softmax;
use burn::tensor::module::conv2d;
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use task2vec_probe::LayerTap;

use super::{FisherEstimate, FisherSegment, FisherTask, SegmentKey, host_f32, label_tensor};
use crate::error::{FisherError, Result};
use crate::head::LinearHead;
use crate::kernel::{ConvGeometry, batch_norm_forward};
use crate::optim::TensorAdam;
use crate::options::{BatchNormMode, VariationalOptions};
use crate::progress::Progress;
use crate::sampler::{BalancedSampler, Stream, stream_rng};

/// The variational parameters of one conv, as plain tensors.
#[derive(Clone, Debug)]
pub struct VariationalLayer {
    /// The conv's index in the network's conv layout.
    pub index: usize,
    /// log σ² per filter, `[C_out]`.
    pub logvar: Tensor<1>,
    /// log λ², `[1]`.
    pub loglambda2: Tensor<1>,
}

/// REF's initialisation: log σ² = log(fraction · var(filter weights) + 1e-8) with the unbiased
/// variance of each filter's weights, log λ² = log(mean W² + 1e-8).
pub fn initial_layer(index: usize, weight: &Tensor<4>, fraction: f64) -> VariationalLayer {
    let [c_out, ..] = weight.dims();
    let flat = weight.clone().inner().reshape([c_out as i32, -1]);
    let fan_in = flat.dims()[1];
    let mean = flat.clone().mean_dim(1);
    let denom = (fan_in.max(2) - 1) as f64;
    let var = flat.clone().sub(mean).square().sum_dim(1).div_scalar(denom);
    let logvar = var
        .mul_scalar(fraction)
        .add_scalar(1e-8)
        .log()
        .reshape([c_out]);
    let loglambda2 = flat.square().mean().add_scalar(1e-8).log().reshape([1]);
    VariationalLayer {
        index,
        logvar,
        loglambda2,
    }
}

/// REF's compression loss for one layer: Σ_w [W²/λ² + σ²/λ² + log λ² − log σ² − 1], i.e.
/// 2·KL(N(W, σ²) ‖ N(0, λ²)) summed over the layer's weights (σ² shared within a filter).
pub fn compression_loss(weight: Tensor<4>, logvar: Tensor<1>, loglambda2: Tensor<1>) -> Tensor<1> {
    let dims = weight.dims();
    let c_out = dims[0];
    let fan_in = (dims[1] * dims[2] * dims[3]) as f64;
    let numel = c_out as f64 * fan_in;
    let inv_lambda2 = loglambda2.clone().neg().exp();
    let w2 = weight.square().sum().reshape([1]);
    let sum_var = logvar.clone().exp().sum().reshape([1]).mul_scalar(fan_in);
    let sum_logvar = logvar.sum().reshape([1]).mul_scalar(fan_in);
    w2.add(sum_var)
        .mul(inv_lambda2)
        .add(loglambda2.mul_scalar(numel))
        .sub(sum_logvar)
        .sub_scalar(numel)
}

/// Records the convs after the split (weights and order) in one forward pass.
#[derive(Default)]
struct ConvCollector {
    convs: Vec<(usize, Tensor<4>)>,
}

impl LayerTap for ConvCollector {
    fn conv(&mut self, index: usize, conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
        self.convs.push((index, conv.weight.val().inner()));
        conv.forward(input)
    }
}

/// Standard normal samples (Box–Muller) from the seeded noise stream.
fn normal_noise(shape: [usize; 4], rng: &mut ChaCha8Rng, device: &Device) -> Tensor<4> {
    let n: usize = shape.iter().product();
    let mut v = Vec::with_capacity(n + 1);
    while v.len() < n {
        let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
        let u2: f64 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        v.push((r * t.cos()) as f32);
        v.push((r * t.sin()) as f32);
    }
    v.truncate(n);
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// The tap of the variational fit: each conv runs with noisy weights drawn from the estimator's
/// current σ² (leaves requiring grad); BatchNorm in the chosen mode (REF: train, whose batch
/// statistics renormalise the injected noise). Also sums the compression loss.
struct NoisyTap<'a> {
    leaves: &'a HashMap<usize, (Tensor<1>, Tensor<1>)>,
    batch_norm: BatchNormMode,
    rng: &'a mut ChaCha8Rng,
    floor: f64,
    compression: Option<Tensor<1>>,
}

impl LayerTap for NoisyTap<'_> {
    fn conv(&mut self, index: usize, conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
        let Some((logvar, loglambda2)) = self.leaves.get(&index) else {
            return conv.forward(input);
        };
        let [_, _, h, w] = input.dims();
        let geometry = ConvGeometry::of(conv, [h, w]);
        let weight = conv.weight.val().inner();
        let dims = weight.dims();
        let mean = conv.forward(input.clone());
        let var_w = logvar
            .clone()
            .exp()
            .reshape([dims[0], 1, 1, 1])
            .mul(Tensor::ones(dims, &weight.device()).autodiff());
        let var = conv2d(
            input.square().add_scalar(self.floor),
            var_w,
            None,
            geometry.conv_options(),
        );
        let eps = normal_noise(var.dims(), self.rng, &var.device().without_autodiff());
        let kl = compression_loss(weight.autodiff(), logvar.clone(), loglambda2.clone());
        self.compression = Some(match self.compression.take() {
            Some(c) => c.add(kl),
            None => kl,
        });
        mean.add(var.sqrt().mul(eps))
    }

    fn batch_norm(&mut self, _index: usize, bn: &BatchNorm, input: Tensor<4>) -> Tensor<4> {
        batch_norm_forward(bn, input, self.batch_norm)
    }
}

/// Fits the variational parameters and returns the per-filter precision (and the prior
/// precision as `scale`) of every conv after the split, plus the refitted head.
pub fn estimate(
    task: &FisherTask<'_>,
    options: &VariationalOptions,
    batch_norm: BatchNormMode,
    seed: u64,
    progress: &dyn Progress,
) -> Result<(FisherEstimate, LinearHead)> {
    options.validate()?;
    // Which convs, in which order, with which weights.
    let mut collector = ConvCollector::default();
    let _ = task
        .network
        .features(task.inputs.views(&[(0, 0)])?, &mut collector);
    if collector.convs.is_empty() {
        return Err(FisherError::Unsupported(
            "no conv layer after the split point: nothing to estimate".into(),
        ));
    }
    let device = task.inputs.device();
    let mut layers: Vec<VariationalLayer> = collector
        .convs
        .iter()
        .map(|(i, w)| initial_layer(*i, w, options.initial_variance_fraction))
        .collect();
    let (mut head_w, mut head_b) = task.head.tensors(&device);
    let mut var_adam = TensorAdam::new(options.logvar_learning_rate);
    let mut head_adam = TensorAdam::new(options.head_learning_rate);

    let sampler = BalancedSampler::new(task.labels)?;
    let mut draw_rng = stream_rng(seed, Stream::FisherSampler);
    let mut noise_rng = stream_rng(seed, Stream::Noise);
    let per_epoch = options.sampler.draws_per_epoch / options.sampler.batch_size;
    progress.start("fisher (variational)", (options.epochs * per_epoch) as u64);
    let mut last_loss = f64::NAN;
    let mut batch_number = 0u64;
    for _ in 0..options.epochs {
        for batch in sampler.epoch(
            options.sampler.draws_per_epoch,
            options.sampler.batch_size,
            &mut draw_rng,
        ) {
            let leaves: HashMap<usize, (Tensor<1>, Tensor<1>)> = layers
                .iter()
                .map(|l| {
                    (
                        l.index,
                        (
                            l.logvar.clone().autodiff().require_grad(),
                            l.loglambda2.clone().autodiff().require_grad(),
                        ),
                    )
                })
                .collect();
            let w_leaf = head_w.clone().autodiff().require_grad();
            let b_leaf = head_b.clone().autodiff().require_grad();
            let mut tap = NoisyTap {
                leaves: &leaves,
                batch_norm,
                rng: &mut noise_rng,
                floor: options.input_variance_floor,
                compression: None,
            };
            let features = task
                .network
                .features(task.select(&batch, batch_number)?, &mut tap);
            batch_number += 1;
            let logits = features
                .matmul(w_leaf.clone().transpose())
                .add(b_leaf.clone().unsqueeze_dim(0));
            let log_probs = log_softmax(logits, 1);
            let labels: Vec<usize> = batch.iter().map(|&i| task.labels[i]).collect();
            let ce: Tensor<1> = log_probs
                .clone()
                .gather(1, label_tensor(&labels, &log_probs))
                .mean()
                .neg();
            let compression = tap.compression.take().expect("at least one conv");
            let loss = ce.add(compression.mul_scalar(options.beta));
            last_loss = host_f32(loss.clone())?[0] as f64;
            if !last_loss.is_finite() {
                return Err(FisherError::Numerical(format!(
                    "variational loss became {last_loss}"
                )));
            }
            let grads: Gradients = loss.backward();
            let grad_of = |t: &Tensor<1>| {
                t.grad(&grads)
                    .unwrap_or_else(|| t.clone().inner().zeros_like())
            };
            let mut params = Vec::new();
            let mut gs = Vec::new();
            for l in &layers {
                let (lv, ll) = &leaves[&l.index];
                params.push(l.logvar.clone());
                gs.push(grad_of(lv));
                params.push(l.loglambda2.clone());
                gs.push(grad_of(ll));
            }
            let mut updated = var_adam.step(params, gs).into_iter();
            for l in &mut layers {
                l.logvar = updated.next().expect("one per param");
                l.loglambda2 = updated.next().expect("one per param");
            }
            let [classes, dim] = head_w.dims();
            let w_grad = w_leaf
                .grad(&grads)
                .map(|g| g.reshape([classes * dim]))
                .unwrap_or_else(|| Tensor::zeros([classes * dim], &device));
            let b_grad = grad_of(&b_leaf);
            let mut head_params = head_adam
                .step(
                    vec![head_w.clone().reshape([classes * dim]), head_b.clone()],
                    vec![w_grad, b_grad],
                )
                .into_iter();
            head_w = head_params.next().expect("weight").reshape([classes, dim]);
            head_b = head_params.next().expect("bias");
            progress.advance(1);
        }
    }
    let mut segments = Vec::new();
    for l in &layers {
        let logvar = host_f32(l.logvar.clone())?;
        let loglambda2 = host_f32(l.loglambda2.clone())?[0] as f64;
        let key = SegmentKey::Conv(l.index);
        let hessian: Vec<f64> = logvar.iter().map(|&v| (-(v as f64)).exp()).collect();
        if let Some(bad) = hessian.iter().find(|v| !v.is_finite()) {
            return Err(FisherError::Numerical(format!(
                "precision of {} is {bad}",
                task.network.segment_name(key)
            )));
        }
        segments.push(FisherSegment {
            key,
            name: task.network.segment_name(key),
            scale: vec![(-loglambda2).exp(); hessian.len()],
            hessian,
        });
    }
    let head = LinearHead {
        classes: task.head.classes,
        dim: task.head.dim,
        weight: host_f32(head_w)?,
        bias: host_f32(head_b)?,
    };
    progress.finish(&format!("final loss {last_loss:.4}"));
    Ok((FisherEstimate { segments }, head))
}
