//! The per-sample Fisher kernel (docs/design.md, "The per-sample Fisher kernel").
//!
//! With BatchNorm in eval mode the samples of a batch do not interact, so ONE backward pass of
//! the summed loss gives every sample's gradient with respect to every conv's *output*:
//! δ_n = ∂(Σ_m ℓ_m)/∂out_n = ∂ℓ_n/∂out_n. We obtain it by adding a zero leaf `z` (requiring
//! grad) to each conv's output in the tap; after backward, `z.grad` is δ for the whole batch.
//!
//! The weight gradient of sample n is then, for a conv with input a_n and P output positions,
//!
//! ```text
//! G_n = δ_n · unfold(a_n)ᵀ          (C_out × P) · (P × C_in·kh·kw)
//! ```
//!
//! (for groups: per group, C_out/g × C_in/g·kh·kw). The per-filter Fisher contribution is the
//! mean over a filter's C_in·kh·kw weights of G_n², weighted per sample and summed over n.
//! This is a batched GEMM with the FLOPs of one ordinary weight-gradient, chunked over n so the
//! unfolded input never exceeds `chunk` samples.
//!
//! For BatchNorm γ, out = γ·x̂ + β with x̂ the normalised input, so the per-sample gradient is
//! g_n[c] = Σ_p δ_n[c,p]·x̂_n[c,p]: no unfolding at all.
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::tensor::module::unfold4d;
use burn::tensor::ops::{ConvOptions, PadMode, UnfoldOptions};
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use task2vec_probe::{LayerTap, batch_norm_batch_stats, batch_norm_eval};

use crate::estimator::{SegmentKey, host_f32};
use crate::options::BatchNormMode;

/// How a conv saw its input: everything needed to unfold that input the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels (filters).
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride in height and width.
    pub stride: [usize; 2],
    /// Dilation in height and width.
    pub dilation: [usize; 2],
    /// (before, after) padding of height and width, resolved for this input size.
    pub padding: [(usize, usize); 2],
    /// Channel groups.
    pub groups: usize,
}

impl ConvGeometry {
    /// The geometry of `conv` applied to an input of spatial size `input_hw`.
    pub fn of(conv: &Conv2d, input_hw: [usize; 2]) -> Self {
        let [out_channels, in_per_group, _, _] = conv.weight.dims();
        Self {
            in_channels: in_per_group * conv.groups,
            out_channels,
            kernel: conv.kernel_size,
            stride: conv.stride,
            dilation: conv.dilation,
            padding: padding_pairs(&conv.padding, input_hw, conv.kernel_size, conv.stride),
            groups: conv.groups,
        }
    }

    /// The options that make `burn::tensor::module::conv2d` compute exactly this conv.
    pub fn conv_options(&self) -> ConvOptions<2> {
        ConvOptions::new_with_padding(self.stride, self.padding, self.dilation, self.groups)
    }

    /// Weights per filter: C_in/groups × kh × kw (what the per-filter mean averages over).
    pub fn fan_in(&self) -> usize {
        self.in_channels / self.groups * self.kernel[0] * self.kernel[1]
    }
}

/// Resolves a padding configuration to (before, after) pairs, as burn's `Conv2d::forward` does
/// (its own helper is crate-private).
pub fn padding_pairs(
    padding: &PaddingConfig2d,
    input_hw: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
) -> [(usize, usize); 2] {
    fn same(kernel: usize, stride: usize, size: usize) -> (usize, usize) {
        let out = size.div_ceil(stride);
        let total = if out > 0 {
            ((out - 1) * stride + kernel).saturating_sub(size)
        } else {
            0
        };
        (total / 2, total - total / 2)
    }
    match padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Same => [
            same(kernel[0], stride[0], input_hw[0]),
            same(kernel[1], stride[1], input_hw[1]),
        ],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(*top, *bottom), (*left, *right)],
    }
}

/// Unfolds `input` `[n, C_in, H, W]` into `[n, C_in·kh·kw, P]` (channel-major rows, the order of
/// a flattened conv weight), exactly as the conv with `geometry` sees it.
pub fn unfold_input(input: Tensor<4>, geometry: &ConvGeometry) -> Tensor<3> {
    let [(top, bottom), (left, right)] = geometry.padding;
    let padded = if top + bottom + left + right > 0 {
        input.pad([(top, bottom), (left, right)], PadMode::Constant(0.0))
    } else {
        input
    };
    // Zero padding done above: burn's unfold then takes its strided-view path instead of a
    // convolution with a one-hot kernel (C_in·k² times more work).
    unfold4d(
        padded,
        geometry.kernel,
        UnfoldOptions::new(geometry.stride, [0, 0], geometry.dilation),
    )
}

/// Per-sample gradients of a conv's weight, reduced per filter:
/// `Σ_n w_n · mean_j G_n[f, j]²`, with `G_n = δ_n · unfold(a_n)ᵀ`.
///
/// * `input`: the conv's input a `[N, C_in, H, W]` (no autodiff needed),
/// * `output_grad`: δ `[N, C_out, Ho, Wo]`,
/// * `sample_weights`: w `[N]`,
/// * `chunk`: samples unfolded at once (memory bound).
///
/// Returns `[C_out]`.
pub fn per_sample_conv_fisher(
    input: Tensor<4>,
    output_grad: Tensor<4>,
    geometry: &ConvGeometry,
    sample_weights: Tensor<1>,
    chunk: usize,
) -> Tensor<1> {
    if on_host(&input) {
        // On the CPU the kernel never unfolds: the whole batch is one call, and the tensors are
        // handed over without a clone so that reading them is a move, not a copy.
        let squares = per_filter_squares(input, output_grad, geometry, KernelPath::Auto);
        return squares
            .mul(sample_weights.unsqueeze_dim::<2>(1))
            .sum_dim(0)
            .squeeze_dim::<1>(0);
    }
    let n = input.dims()[0];
    let chunk = chunk.max(1);
    let mut total: Option<Tensor<1>> = None;
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        let part = per_filter_squares(
            input.clone().narrow(0, start, len),
            output_grad.clone().narrow(0, start, len),
            geometry,
            KernelPath::Auto,
        );
        let w = sample_weights
            .clone()
            .narrow(0, start, len)
            .unsqueeze_dim::<2>(1);
        let summed = part.mul(w).sum_dim(0).squeeze_dim::<1>(0);
        total = Some(match total {
            Some(t) => t.add(summed),
            None => summed,
        });
        start += len;
    }
    total.unwrap_or_else(|| Tensor::zeros([geometry.out_channels], &input.device()))
}

/// Whether `t` lives on the CPU backend, where [`crate::implicit`] computes the kernel.
fn on_host(t: &Tensor<4>) -> bool {
    t.device().without_autodiff() == Device::flex()
}

/// How [`per_filter_squares`] computes `Σ_j G_n[f, j]²` for a (non-depthwise) conv.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPath {
    /// Whichever of the two needs fewer multiply-adds for this layer (the default).
    Auto,
    /// Form every per-sample gradient `G_n = δ_n·U_nᵀ` and square it: `out·K·P` per sample.
    Direct,
    /// Never form `G_n`: `‖G_n[f]‖² = δ_n[f]·(U_nᵀU_n)·δ_n[f]ᵀ` through the `P × P` Gram matrix
    /// of the unfolded input ("ghost norm"): `P²·(K + out)` per sample. Far cheaper where the
    /// output is small and the filters are big (ResNet layer3-4, small inputs).
    Gram,
}

impl KernelPath {
    /// The path `Auto` takes for a conv with `positions` output positions, `fan_in` weights per
    /// filter and `filters` filters (per group).
    pub fn resolve(self, positions: usize, fan_in: usize, filters: usize) -> KernelPath {
        match self {
            KernelPath::Auto if positions * (fan_in + filters) < filters * fan_in => {
                KernelPath::Gram
            }
            KernelPath::Auto => KernelPath::Direct,
            fixed => fixed,
        }
    }
}

/// `mean_j G_n[f, j]²` for every sample and filter: `[n, C_out]`. On the CPU backend by
/// [`crate::implicit`] (no unfolded copy of the input), elsewhere by
/// [`per_filter_squares_tensor`].
pub fn per_filter_squares(
    input: Tensor<4>,
    delta: Tensor<4>,
    g: &ConvGeometry,
    path: KernelPath,
) -> Tensor<2> {
    if !on_host(&input) {
        return per_filter_squares_tensor(input, delta, g, path);
    }
    let [n, _, h, w] = input.dims();
    let [_, c_out, ho, wo] = delta.dims();
    let device = input.device();
    let host = |t: Tensor<4>| host_f32(t).expect("a float tensor reads back as f32");
    let squares = crate::implicit::per_filter_squares_host(
        &host(input),
        &host(delta),
        n,
        [h, w],
        [ho, wo],
        g,
        path,
    );
    Tensor::from_data(TensorData::new(squares, [n, c_out]), &device)
}

/// [`per_filter_squares`] in burn tensor operations, on any device: unfolds the input, then a
/// batched GEMM (or the Gram form).
pub fn per_filter_squares_tensor(
    input: Tensor<4>,
    delta: Tensor<4>,
    g: &ConvGeometry,
    path: KernelPath,
) -> Tensor<2> {
    let n = input.dims()[0];
    let [_, c_out, ho, wo] = delta.dims();
    let p = ho * wo;
    let groups = g.groups;
    let in_g = g.in_channels / groups;
    let out_g = c_out / groups;
    let k = g.kernel[0] * g.kernel[1];
    let unfolded = unfold_input(input, g);
    debug_assert_eq!(
        unfolded.dims()[2],
        p,
        "unfold positions must match the conv output"
    );
    if in_g == 1 && out_g == 1 {
        // Depthwise: G_n[c, ·] = Σ_p δ_n[c,p] · unfold(a_n)[c,·,p], a per-channel product.
        let u = unfolded.reshape([n, groups, k, p]);
        let d = delta.reshape([n, groups, 1, p]);
        return u.mul(d).sum_dim(3).square().mean_dim(2).reshape([n, c_out]);
    }
    let fan_in = in_g * k;
    let u = unfolded.reshape([n * groups, fan_in, p]);
    let d = delta.reshape([n * groups, out_g, p]);
    match path.resolve(p, fan_in, out_g) {
        KernelPath::Gram => {
            let gram = u.clone().swap_dims(1, 2).matmul(u); // [n·g, P, P]
            d.clone()
                .matmul(gram)
                .mul(d)
                .sum_dim(2)
                // A sum of squares: only rounding can make it negative.
                .clamp_min(0.0)
                .div_scalar(fan_in as f64)
                .reshape([n, c_out])
        }
        _ => {
            let grads = d.matmul(u.swap_dims(1, 2)); // [n·g, out_g, in_g·k]
            grads.square().mean_dim(2).reshape([n, c_out])
        }
    }
}

/// Per-sample gradients of BatchNorm γ, squared: `Σ_n w_n (Σ_p δ_n[c,p] x̂_n[c,p])²` → `[C]`.
pub fn per_sample_gamma_fisher(
    normalized: Tensor<4>,
    output_grad: Tensor<4>,
    sample_weights: Tensor<1>,
) -> Tensor<1> {
    let [n, c, _, _] = normalized.dims();
    let g = normalized
        .mul(output_grad)
        .sum_dims(&[2, 3])
        .reshape([n, c]);
    g.square()
        .mul(sample_weights.unsqueeze_dim::<2>(1))
        .sum_dim(0)
        .reshape([c])
}

/// BatchNorm's normalised input x̂ (before γ, β) in the given mode.
pub fn batch_norm_normalized(bn: &BatchNorm, input: Tensor<4>, mode: BatchNormMode) -> Tensor<4> {
    let channels = bn.gamma.val().dims()[0];
    let shape = [1, channels, 1, 1];
    match mode {
        BatchNormMode::Eval => {
            let mean = bn.running_mean.value().reshape(shape);
            let var = bn.running_var.value().reshape(shape);
            input
                .sub(mean)
                .mul(var.add_scalar(bn.epsilon).sqrt().recip())
        }
        BatchNormMode::Train => {
            let mean = input.clone().mean_dims(&[0, 2, 3]);
            let centered = input.sub(mean);
            let var = centered.clone().square().mean_dims(&[0, 2, 3]);
            centered.mul(var.add_scalar(bn.epsilon).sqrt().recip())
        }
    }
}

/// BatchNorm's forward in the given mode (the tap.rs helpers).
pub fn batch_norm_forward(bn: &BatchNorm, input: Tensor<4>, mode: BatchNormMode) -> Tensor<4> {
    match mode {
        BatchNormMode::Eval => batch_norm_eval(bn, input),
        BatchNormMode::Train => batch_norm_batch_stats(bn, input),
    }
}

/// What the per-sample tap keeps of one conv for the kernel.
struct ConvRecord {
    index: usize,
    input: Tensor<4>,
    probe: Tensor<4>,
    geometry: ConvGeometry,
}

/// What the per-sample tap keeps of one BatchNorm.
struct BnRecord {
    index: usize,
    normalized: Tensor<4>,
    probe: Tensor<4>,
}

/// The tap of the per-sample estimators: records each conv's input (without autodiff) and adds
/// a zero leaf to its output (and, if asked, to each BatchNorm's output), BatchNorm in eval mode.
pub struct OutputGradTap {
    with_bn_gamma: bool,
    convs: Vec<ConvRecord>,
    bns: Vec<BnRecord>,
    /// Segments in the order the forward pass met them.
    order: Vec<SegmentKey>,
}

impl OutputGradTap {
    /// A tap that records conv (and, when asked, BatchNorm γ) output gradients.
    pub fn new(with_bn_gamma: bool) -> Self {
        Self {
            with_bn_gamma,
            convs: Vec::new(),
            bns: Vec::new(),
            order: Vec::new(),
        }
    }

    /// The segments seen, in forward order.
    pub fn order(&self) -> &[SegmentKey] {
        &self.order
    }

    /// After `loss.backward()`: per-filter Fisher contributions `Σ_n w_n g_n²` of every recorded
    /// layer, in forward order. `weights` is `[N]` on the plain (non-autodiff) device. The
    /// output gradients are taken out of `grads` (so the kernel reads them without a copy).
    pub fn per_filter(
        self,
        grads: &mut Gradients,
        weights: &Tensor<1>,
        chunk: usize,
    ) -> Vec<(SegmentKey, Tensor<1>)> {
        let mut convs = self.convs.into_iter();
        let mut bns = self.bns.into_iter();
        self.order
            .into_iter()
            .map(|key| match key {
                SegmentKey::Conv(_) => {
                    let r = convs.next().expect("one record per conv key");
                    let delta = r
                        .probe
                        .grad_remove(grads)
                        .unwrap_or_else(|| r.probe.clone().inner().zeros_like());
                    let v =
                        per_sample_conv_fisher(r.input, delta, &r.geometry, weights.clone(), chunk);
                    (SegmentKey::Conv(r.index), v)
                }
                SegmentKey::BnGamma(_) => {
                    let r = bns.next().expect("one record per bn key");
                    let delta = r
                        .probe
                        .grad_remove(grads)
                        .unwrap_or_else(|| r.probe.clone().inner().zeros_like());
                    let v = per_sample_gamma_fisher(r.normalized, delta, weights.clone());
                    (SegmentKey::BnGamma(r.index), v)
                }
            })
            .collect()
    }
}

/// A zero tensor shaped like `t`, on its device, that requires grad: `t + zero_leaf(t)` equals
/// `t` and exposes ∂loss/∂t through the leaf's gradient.
fn zero_leaf(t: &Tensor<4>) -> Tensor<4> {
    Tensor::zeros(t.dims(), &t.device()).require_grad()
}

impl LayerTap for OutputGradTap {
    fn conv(&mut self, index: usize, conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = input.dims();
        let geometry = ConvGeometry::of(conv, [h, w]);
        let out = conv.forward(input.clone());
        let probe = zero_leaf(&out);
        self.convs.push(ConvRecord {
            index,
            input: input.inner(),
            probe: probe.clone(),
            geometry,
        });
        self.order.push(SegmentKey::Conv(index));
        out.add(probe)
    }

    fn batch_norm(&mut self, index: usize, bn: &BatchNorm, input: Tensor<4>) -> Tensor<4> {
        if !self.with_bn_gamma {
            return batch_norm_eval(bn, input);
        }
        let out = batch_norm_eval(bn, input.clone());
        let probe = zero_leaf(&out);
        self.bns.push(BnRecord {
            index,
            normalized: batch_norm_normalized(bn, input.inner(), BatchNormMode::Eval),
            probe: probe.clone(),
        });
        self.order.push(SegmentKey::BnGamma(index));
        out.add(probe)
    }
}

/// The tap of the batch estimator (and of the naive per-sample oracle in tests): every conv
/// weight (and, if asked, every BatchNorm γ) is replaced by a fresh leaf copy that requires
/// grad, so that backward yields the gradient of the loss over the whole batch.
pub struct WeightLeafTap {
    batch_norm: BatchNormMode,
    with_bn_gamma: bool,
    leaves: Vec<(SegmentKey, Leaf)>,
}

enum Leaf {
    Conv(Tensor<4>),
    Gamma(Tensor<1>),
}

impl WeightLeafTap {
    /// A tap that makes every conv weight (and, when asked, BatchNorm γ) a gradient leaf, with
    /// BatchNorm in `batch_norm` mode.
    pub fn new(batch_norm: BatchNormMode, with_bn_gamma: bool) -> Self {
        Self {
            batch_norm,
            with_bn_gamma,
            leaves: Vec::new(),
        }
    }

    /// After backward: each layer's weight gradient squared and averaged per filter (over
    /// C_in·kh·kw for a conv; γ has one weight per filter), in forward order.
    pub fn squared_per_filter(self, grads: &Gradients) -> Vec<(SegmentKey, Tensor<1>)> {
        self.leaves
            .into_iter()
            .map(|(key, leaf)| {
                let v = match leaf {
                    Leaf::Conv(w) => {
                        let g = w
                            .grad(grads)
                            .unwrap_or_else(|| w.clone().inner().zeros_like());
                        let [c_out, ..] = g.dims();
                        g.square()
                            .reshape([c_out as i32, -1])
                            .mean_dim(1)
                            .reshape([c_out])
                    }
                    Leaf::Gamma(gamma) => gamma
                        .grad(grads)
                        .unwrap_or_else(|| gamma.clone().inner().zeros_like())
                        .square(),
                };
                (key, v)
            })
            .collect()
    }
}

impl LayerTap for WeightLeafTap {
    fn conv(&mut self, index: usize, conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = input.dims();
        let geometry = ConvGeometry::of(conv, [h, w]);
        let leaf = conv.weight.val().inner().autodiff().require_grad();
        let bias = conv.bias.as_ref().map(|b| b.val().inner().autodiff());
        self.leaves
            .push((SegmentKey::Conv(index), Leaf::Conv(leaf.clone())));
        burn::tensor::module::conv2d(input, leaf, bias, geometry.conv_options())
    }

    fn batch_norm(&mut self, index: usize, bn: &BatchNorm, input: Tensor<4>) -> Tensor<4> {
        if !self.with_bn_gamma {
            return batch_norm_forward(bn, input, self.batch_norm);
        }
        let channels = bn.gamma.val().dims()[0];
        let gamma = bn.gamma.val().inner().autodiff().require_grad();
        let beta = bn.beta.val().reshape([1, channels, 1, 1]);
        self.leaves
            .push((SegmentKey::BnGamma(index), Leaf::Gamma(gamma.clone())));
        batch_norm_normalized(bn, input, self.batch_norm)
            .mul(gamma.reshape([1, channels, 1, 1]))
            .add(beta)
    }
}
