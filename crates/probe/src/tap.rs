//! Layer taps: the one seam through which an estimator observes or replaces a probe's
//! convolution and BatchNorm layers during a forward pass.
//!
//! The probe never stores estimator state (docs/design.md invariant 2). Instead every probe forward
//! that an estimator uses takes a `&mut dyn LayerTap` and calls it for each conv and each
//! BatchNorm, in graph order. A tap can
//! * record a conv's input (for the per-sample Fisher kernel),
//! * add a zero leaf tensor to a conv's output so that backward yields ∂loss/∂output per sample,
//! * replace a conv by a noisy one (the variational estimator's local reparameterisation),
//! * choose BatchNorm's mode (eval with running statistics, or batch statistics as REF does).
//!
//! Contract:
//! * `conv(index, ..)`: `index` is the conv's position in [`crate::Probe::conv_layout`], i.e.
//!   the order of the embedding's segments. Every conv of the probe is reported, including
//!   1×1 downsample/projection convs and depthwise convs.
//! * `batch_norm(index, ..)`: `index` is the BatchNorm's position in
//!   [`crate::Probe::bn_layout`].
//! * Both must return a tensor of the shape the layer itself would return.
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

/// Called by a probe's forward pass at every conv and BatchNorm layer, in graph order.
pub trait LayerTap {
    /// Computes (or observes) the conv layer `index` applied to `input`.
    fn conv(&mut self, index: usize, conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
        let _ = index;
        conv.forward(input)
    }

    /// Computes (or observes) the BatchNorm layer `index` applied to `input`.
    /// The default is eval mode: running statistics, never updated.
    fn batch_norm(&mut self, index: usize, bn: &BatchNorm, input: Tensor<4>) -> Tensor<4> {
        let _ = index;
        batch_norm_eval(bn, input)
    }
}

/// A tap that changes nothing: convs as they are, BatchNorm in eval mode.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough;

impl LayerTap for PassThrough {}

/// BatchNorm with the stored running statistics (eval mode), written out explicitly so that it
/// does not depend on burn's `training` flag: on an autodiff device burn's own `BatchNorm::forward`
/// switches to batch statistics and overwrites the running averages (docs/burn-notes.md pitfall 2).
///
/// Written as one per-channel affine map, `x·s + t` with `s = γ/√(σ²+ε)` and `t = β − μ·s`
/// computed on the C channels: two passes over the activations instead of three (the BatchNorms
/// of a ResNet touch as many values as its convs output; docs/performance.md).
pub fn batch_norm_eval(bn: &BatchNorm, input: Tensor<4>) -> Tensor<4> {
    batch_norm_eval_affine(bn, bn.gamma.val(), bn.beta.val(), input)
}

/// [`batch_norm_eval`] with `bn`'s running statistics but the given γ and β `[C]` (e.g. an
/// expert's fine-tuned ones, which may track gradients).
pub fn batch_norm_eval_affine(
    bn: &BatchNorm,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    input: Tensor<4>,
) -> Tensor<4> {
    let channels = gamma.dims()[0];
    let shape = [1, channels, 1, 1];
    let mean = bn.running_mean.value().reshape(shape);
    let var = bn.running_var.value().reshape(shape);
    let scale = var
        .add_scalar(bn.epsilon)
        .sqrt()
        .recip()
        .mul(gamma.reshape(shape));
    let shift = beta.reshape(shape).sub(mean.mul(scale.clone()));
    input.mul(scale).add(shift)
}

/// BatchNorm with the statistics of the current batch (REF's behaviour, which runs the probe in
/// `train()` mode), without touching the stored running averages.
pub fn batch_norm_batch_stats(bn: &BatchNorm, input: Tensor<4>) -> Tensor<4> {
    let channels = bn.gamma.val().dims()[0];
    let shape = [1, channels, 1, 1];
    let mean = input.clone().mean_dims(&[0, 2, 3]);
    let centered = input.sub(mean);
    // Biased variance, as BatchNorm normalises with it.
    let var = centered.clone().square().mean_dims(&[0, 2, 3]);
    let inv_std = var.add_scalar(bn.epsilon).sqrt().recip();
    let gamma = bn.gamma.val().reshape(shape);
    let beta = bn.beta.val().reshape(shape);
    centered.mul(inv_std.mul(gamma)).add(beta)
}
