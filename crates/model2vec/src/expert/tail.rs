//! The parameters of a probe's tail — every conv and BatchNorm after a split point — held as
//! plain tensors outside the probe, and the [`LayerTap`] that runs the probe's tail with them.
//!
//! The probe is never modified (ARCHITECTURE.md: the probe is immutable): an expert is the
//! ImageNet probe whose tail convs and BatchNorm affine parameters are *replaced*, through the
//! same tap seam the Fisher estimators use. BatchNorm stays in eval mode with the probe's
//! running statistics ("frozen BN" fine-tuning); only γ and β are trained.
use std::collections::BTreeMap;

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::module::conv2d;
use burn::tensor::{Gradients, Tensor};
use task2vec_fisher::kernel::ConvGeometry;
use task2vec_probe::{LayerTap, PassThrough, Probe};

/// One conv's replacement weights.
#[derive(Clone, Debug)]
pub struct ConvParams {
    /// `[out, in/groups, kh, kw]`.
    pub weight: Tensor<4>,
    /// `[out]`, when the probe's conv has a bias.
    pub bias: Option<Tensor<1>>,
}

/// One BatchNorm's replacement affine parameters (the running statistics stay the probe's).
#[derive(Clone, Debug)]
pub struct BnParams {
    /// γ, `[channels]`.
    pub gamma: Tensor<1>,
    /// β, `[channels]`.
    pub beta: Tensor<1>,
}

/// The tail's parameters, keyed by the probe's conv / BatchNorm index.
#[derive(Clone, Debug, Default)]
pub struct TailParams {
    /// Convs after the split point.
    pub convs: BTreeMap<usize, ConvParams>,
    /// BatchNorms after the split point.
    pub bns: BTreeMap<usize, BnParams>,
}

impl TailParams {
    /// A copy of the probe's own tail after split point `split` (what fine-tuning starts from),
    /// found by running the tail once on `sample` (one activation at the split point).
    pub fn from_probe(probe: &Probe, split: usize, sample: Tensor<4>) -> TailParams {
        let mut collector = Collector::default();
        let _ = probe.features_from(split, sample, &mut collector);
        collector.params
    }

    /// Number of scalar parameters.
    pub fn parameter_count(&self) -> usize {
        let convs: usize = self
            .convs
            .values()
            .map(|c| {
                c.weight.dims().iter().product::<usize>()
                    + c.bias.as_ref().map_or(0, |b| b.dims()[0])
            })
            .sum();
        let bns: usize = self.bns.values().map(|b| 2 * b.gamma.dims()[0]).sum();
        convs + bns
    }

    /// Every tensor flattened to `[n]`, in a fixed order (conv weight, conv bias, then γ, β).
    pub fn flatten(&self) -> Vec<Tensor<1>> {
        let mut out = Vec::new();
        for c in self.convs.values() {
            let n: usize = c.weight.dims().iter().product();
            out.push(c.weight.clone().reshape([n]));
            if let Some(b) = &c.bias {
                out.push(b.clone());
            }
        }
        for b in self.bns.values() {
            out.push(b.gamma.clone());
            out.push(b.beta.clone());
        }
        out
    }

    /// The inverse of [`TailParams::flatten`]: the same structure with `flat`'s values.
    pub fn unflatten(&self, flat: Vec<Tensor<1>>) -> TailParams {
        let mut it = flat.into_iter();
        let mut next = || it.next().expect("one flat tensor per parameter");
        let convs = self
            .convs
            .iter()
            .map(|(&i, c)| {
                let weight = next().reshape(c.weight.dims());
                let bias = c.bias.as_ref().map(|_| next());
                (i, ConvParams { weight, bias })
            })
            .collect();
        let bns = self
            .bns
            .keys()
            .map(|&i| {
                let gamma = next();
                let beta = next();
                (i, BnParams { gamma, beta })
            })
            .collect();
        TailParams { convs, bns }
    }

    /// The gradients of these leaves (made by [`TailParams::leaves`]) in [`TailParams::flatten`]'s
    /// order and shapes; zeros for a parameter the loss did not reach. (The gradient must be
    /// taken of the leaf itself: a reshaped leaf is a new node without one.)
    pub fn flat_grads(&self, grads: &Gradients) -> Vec<Tensor<1>> {
        fn flat<const D: usize>(leaf: &Tensor<D>, grads: &Gradients) -> Tensor<1> {
            let n: usize = leaf.dims().iter().product();
            leaf.grad(grads)
                .unwrap_or_else(|| leaf.clone().inner().zeros_like())
                .reshape([n])
        }
        let mut out = Vec::new();
        for c in self.convs.values() {
            out.push(flat(&c.weight, grads));
            if let Some(b) = &c.bias {
                out.push(flat(b, grads));
            }
        }
        for b in self.bns.values() {
            out.push(flat(&b.gamma, grads));
            out.push(flat(&b.beta, grads));
        }
        out
    }

    /// Every tensor as an autodiff leaf that requires grad.
    pub fn leaves(&self) -> TailParams {
        let convs = self
            .convs
            .iter()
            .map(|(&i, c)| {
                let leaf = ConvParams {
                    weight: c.weight.clone().autodiff().require_grad(),
                    bias: c.bias.clone().map(|b| b.autodiff().require_grad()),
                };
                (i, leaf)
            })
            .collect();
        let bns = self
            .bns
            .iter()
            .map(|(&i, b)| {
                let leaf = BnParams {
                    gamma: b.gamma.clone().autodiff().require_grad(),
                    beta: b.beta.clone().autodiff().require_grad(),
                };
                (i, leaf)
            })
            .collect();
        TailParams { convs, bns }
    }
}

/// Records a copy of each tail layer's parameters as the probe runs it.
#[derive(Default)]
struct Collector {
    params: TailParams,
}

impl LayerTap for Collector {
    fn conv(&mut self, index: usize, conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
        self.params.convs.insert(
            index,
            ConvParams {
                weight: conv.weight.val(),
                bias: conv.bias.as_ref().map(|b| b.val()),
            },
        );
        PassThrough.conv(index, conv, input)
    }

    fn batch_norm(&mut self, index: usize, bn: &BatchNorm, input: Tensor<4>) -> Tensor<4> {
        self.params.bns.insert(
            index,
            BnParams {
                gamma: bn.gamma.val(),
                beta: bn.beta.val(),
            },
        );
        PassThrough.batch_norm(index, bn, input)
    }
}

/// Runs the probe's tail with [`TailParams`] in place of the probe's own tail parameters.
/// Layers without replacement (none, for a tail made by [`TailParams::from_probe`]) run as the
/// probe's own.
pub struct TailTap<'a> {
    /// The replacement parameters (plain tensors, or autodiff leaves while training).
    pub params: &'a TailParams,
}

impl LayerTap for TailTap<'_> {
    fn conv(&mut self, index: usize, conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
        let Some(p) = self.params.convs.get(&index) else {
            return conv.forward(input);
        };
        let [_, _, h, w] = input.dims();
        let options = ConvGeometry::of(conv, [h, w]).conv_options();
        conv2d(input, p.weight.clone(), p.bias.clone(), options)
    }

    fn batch_norm(&mut self, index: usize, bn: &BatchNorm, input: Tensor<4>) -> Tensor<4> {
        let Some(p) = self.params.bns.get(&index) else {
            return task2vec_probe::batch_norm_eval(bn, input);
        };
        // Eval-mode BatchNorm (the probe's running statistics, never updated) with our γ, β.
        task2vec_probe::batch_norm_eval_affine(bn, p.gamma.clone(), p.beta.clone(), input)
    }
}
