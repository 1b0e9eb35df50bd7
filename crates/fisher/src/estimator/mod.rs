//! The Fisher estimators, one module each, plus what they share: the cached inputs they run on
//! ([`FisherTask`]), the per-segment accumulator and the result ([`FisherEstimate`]).
//!
//! | method | module | what it estimates |
//! |---|---|---|
//! | `montecarlo` | [`montecarlo`] | E_x E_{y∼p(y|x)} g², per-sample (the kernel) |
//! | `montecarlo-batch` | [`batch`] | REF: E_batch (mean-loss gradient)² ≈ F / B |
//! | `exact` | [`exact`] | E_x Σ_y p(y|x) g², deterministic |
//! | `variational` | [`variational`] | REF's robust Fisher: learned per-filter precision |
pub mod batch;
pub mod exact;
pub mod montecarlo;
pub mod variational;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{FisherError, Result};
use crate::head::LinearHead;
use crate::network::TappedNetwork;
use crate::options::LabelProposal;

/// Identifies one segment of the embedding: the filters of a conv, or the γ of a BatchNorm,
/// by the layer's index in the probe's conv or BN layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SegmentKey {
    /// The filters of conv `i`.
    Conv(usize),
    /// The γ of BatchNorm `i`.
    BnGamma(usize),
}

/// One value per filter of one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FisherSegment {
    /// Which layer (conv or BatchNorm γ) and its index in the probe's layout.
    pub key: SegmentKey,
    /// The layer's name as the network reports it (e.g. `layer1.0.conv1`).
    pub name: String,
    /// The per-filter Fisher (for `variational`: the learned precision).
    pub hessian: Vec<f64>,
    /// 1 for the Fisher estimators; the prior precision 1/λ² for `variational`.
    pub scale: Vec<f64>,
}

/// The estimate over every layer after the split point, in forward order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FisherEstimate {
    /// One segment per layer, in forward order.
    pub segments: Vec<FisherSegment>,
}

impl FisherEstimate {
    /// One `(layer name, filters)` segment per layer, in the order of [`Self::hessian`].
    pub fn layout(&self) -> task2vec_embedding::Layout {
        task2vec_embedding::Layout::new(
            self.segments
                .iter()
                .map(|s| (s.name.clone(), s.hessian.len())),
        )
    }

    /// Total number of values.
    pub fn dim(&self) -> usize {
        self.segments.iter().map(|s| s.hessian.len()).sum()
    }

    /// All hessian values, concatenated in segment order.
    pub fn hessian(&self) -> Vec<f64> {
        self.segments
            .iter()
            .flat_map(|s| s.hessian.iter().copied())
            .collect()
    }
}

/// Where the estimators get their inputs at the split point: one view per `(sample, draw)`.
///
/// A plain tensor of cached activations is the input source without augmentation (every draw
/// of a sample is the same row); [`crate::augment::AugmentedInputs`] makes a fresh, seeded view
/// per draw. The same `(sample, draw)` must always give the same view, whatever else is in the
/// batch, so that estimates do not depend on batching.
pub trait FisherInputs {
    /// Number of samples.
    fn len(&self) -> usize;

    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Inputs `[items.len(), C, H, W]` at the split point, on a device without autodiff: for each
    /// `(sample, draw)`, that draw's view of that sample.
    fn views(&self, items: &[(usize, u64)]) -> Result<Tensor<4>>;

    /// Samples `start..start + len`, each in its first view (draw 0): a pass over the inputs
    /// in order, as the gradient-free consumers make it.
    fn range(&self, start: usize, len: usize) -> Result<Tensor<4>> {
        let items: Vec<(usize, u64)> = (start..start + len).map(|i| (i, 0)).collect();
        self.views(&items)
    }

    /// The device the inputs live on (without autodiff).
    fn device(&self) -> burn::tensor::Device;
}

impl FisherInputs for Tensor<4> {
    fn len(&self) -> usize {
        self.dims()[0]
    }

    fn views(&self, items: &[(usize, u64)]) -> Result<Tensor<4>> {
        let first = items.first().map_or(0, |&(i, _)| i);
        let contiguous = items.iter().enumerate().all(|(k, &(i, _))| i == first + k);
        Ok(if contiguous && !items.is_empty() {
            self.clone().narrow(0, first, items.len())
        } else {
            let indices: Vec<usize> = items.iter().map(|&(i, _)| i).collect();
            select_rows(self, &indices)
        })
    }

    fn device(&self) -> burn::tensor::Device {
        Tensor::device(self).without_autodiff()
    }
}

/// What every estimator runs on: the network after the split, the fixed head, and the inputs
/// at the split point with their labels.
pub struct FisherTask<'a> {
    /// The network after the split point.
    pub network: &'a dyn TappedNetwork,
    /// The task head, fixed during the estimate.
    pub head: &'a LinearHead,
    /// Inputs at the split point: cached activations `[N, C, H, W]` (a `Tensor<4>` on a device
    /// without autodiff) or augmented views.
    pub inputs: &'a dyn FisherInputs,
    /// Class index of each cached input.
    pub labels: &'a [usize],
    /// Weight of each sample in the expectation over images (sums to 1).
    pub sample_weights: &'a [f64],
}

impl FisherTask<'_> {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Draw `draw` of the samples `start..start+len`, on the autodiff device.
    pub(crate) fn slice(&self, start: usize, len: usize, draw: u64) -> Result<Tensor<4>> {
        let items: Vec<(usize, u64)> = (start..start + len).map(|i| (i, draw)).collect();
        Ok(self.inputs.views(&items)?.autodiff())
    }

    /// The samples `indices` of batch number `batch` (a sample drawn twice into one batch gets
    /// two views), on the autodiff device.
    pub(crate) fn select(&self, indices: &[usize], batch: u64) -> Result<Tensor<4>> {
        let first = batch * indices.len() as u64;
        let items: Vec<(usize, u64)> = indices
            .iter()
            .enumerate()
            .map(|(k, &i)| (i, first + k as u64))
            .collect();
        Ok(self.inputs.views(&items)?.autodiff())
    }

    /// Log-probabilities of the head on a batch of inputs at the split point.
    pub(crate) fn log_probs(
        &self,
        x: Tensor<4>,
        tap: &mut dyn task2vec_probe::LayerTap,
    ) -> Tensor<2> {
        log_softmax(self.head.apply(self.network.features(x, tap)), 1)
    }
}

/// Sums per-segment contributions over batches, in f64 on the host, and checks that every
/// batch saw the same layers in the same order.
#[derive(Default)]
pub(crate) struct Accumulator {
    keys: Vec<SegmentKey>,
    sums: Vec<Vec<f64>>,
}

impl Accumulator {
    pub(crate) fn add(&mut self, parts: Vec<(SegmentKey, Tensor<1>)>, factor: f64) -> Result<()> {
        if self.keys.is_empty() {
            self.keys = parts.iter().map(|(k, _)| *k).collect();
            self.sums = parts.iter().map(|(_, t)| vec![0.0; t.dims()[0]]).collect();
        }
        if parts.len() != self.keys.len() {
            return Err(FisherError::ProbeMismatch(format!(
                "the network reported {} layers in one pass and {} in another",
                self.keys.len(),
                parts.len()
            )));
        }
        for ((key, values), (expected, sum)) in
            parts.into_iter().zip(self.keys.iter().zip(&mut self.sums))
        {
            if key != *expected {
                return Err(FisherError::ProbeMismatch(format!(
                    "layer order changed between passes: {key:?} where {expected:?} was"
                )));
            }
            let values = host_f32(values)?;
            for (s, v) in sum.iter_mut().zip(values) {
                *s += factor * v as f64;
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self, network: &dyn TappedNetwork) -> Result<FisherEstimate> {
        if self.keys.is_empty() {
            return Err(FisherError::Unsupported(
                "no conv layer after the split point: nothing to estimate".into(),
            ));
        }
        let segments = self
            .keys
            .into_iter()
            .zip(self.sums)
            .map(|(key, hessian)| {
                if let Some(bad) = hessian.iter().find(|v| !v.is_finite()) {
                    return Err(FisherError::Numerical(format!(
                        "Fisher of {} is {bad}",
                        network.segment_name(key)
                    )));
                }
                Ok(FisherSegment {
                    key,
                    name: network.segment_name(key),
                    scale: vec![1.0; hessian.len()],
                    hessian,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(FisherEstimate { segments })
    }
}

/// Rows `indices` (along the batch dimension) of `t`, on `t`'s device.
pub(crate) fn select_rows(t: &Tensor<4>, indices: &[usize]) -> Tensor<4> {
    let idx = Tensor::<1, Int>::from_data(
        TensorData::new(
            indices.iter().map(|&i| i as i64).collect::<Vec<_>>(),
            [indices.len()],
        ),
        &t.device(),
    );
    t.clone().select(0, idx)
}

/// Reads a tensor back to the host as f32.
pub fn host_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.inner()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| FisherError::Numerical(format!("reading a tensor back: {e:?}")))
}

/// Draws one label per row from the probabilities exp(`log_probs`) `[n, classes]`.
pub(crate) fn sample_labels(log_probs: &Tensor<2>, rng: &mut impl Rng) -> Result<Vec<usize>> {
    Ok(sample_labels_from(log_probs, LabelProposal::Model, rng)?
        .into_iter()
        .map(|(y, _)| y)
        .collect())
}

/// Draws one label per row from `proposal` and returns it with its importance weight
/// p(y|x)/q(y|x) (exactly 1 for [`LabelProposal::Model`]).
pub(crate) fn sample_labels_from(
    log_probs: &Tensor<2>,
    proposal: LabelProposal,
    rng: &mut impl Rng,
) -> Result<Vec<(usize, f64)>> {
    let [n, classes] = log_probs.dims();
    let p = host_f32(log_probs.clone().detach().exp())?;
    Ok((0..n)
        .map(|i| {
            let row = &p[i * classes..(i + 1) * classes];
            let total: f64 = row.iter().map(|&v| v as f64).sum();
            let model = |c: usize| row[c] as f64 / total;
            let q = |c: usize| match proposal {
                LabelProposal::Model => model(c),
                LabelProposal::Defensive => 0.5 * model(c) + 0.5 / classes as f64,
            };
            let mut u = rng.random::<f64>();
            let mut label = classes - 1;
            for c in 0..classes {
                u -= q(c);
                if u < 0.0 {
                    label = c;
                    break;
                }
            }
            let weight = match proposal {
                LabelProposal::Model => 1.0,
                LabelProposal::Defensive => model(label) / q(label),
            };
            (label, weight)
        })
        .collect())
}

/// `[n, 1]` Int tensor of labels on `like`'s device.
pub fn label_tensor(labels: &[usize], like: &Tensor<2>) -> Tensor<2, Int> {
    Tensor::<2, Int>::from_data(
        TensorData::new(
            labels.iter().map(|&y| y as i64).collect::<Vec<_>>(),
            [labels.len(), 1],
        ),
        &like.device(),
    )
}

/// A `[n]` f32 tensor on the inputs' (plain) device.
pub(crate) fn weight_tensor(weights: &[f64], inputs: &dyn FisherInputs) -> Tensor<1> {
    Tensor::<1>::from_data(
        TensorData::new(
            weights.iter().map(|&w| w as f32).collect::<Vec<_>>(),
            [weights.len()],
        ),
        &inputs.device(),
    )
}
