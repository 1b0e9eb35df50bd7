//! The domain embedding (the paper's Fig. 1 baseline): what the probe's filters respond to,
//! without labels. For every conv after the split point it records the **mean absolute conv
//! output** per filter, averaged over images and positions (absolute, because a conv output
//! before BatchNorm/ReLU is signed and its plain mean is mostly the BN shift, not the filter's
//! response). Same layout as the task embedding without BatchNorm γ.
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;
use task2vec_probe::LayerTap;

use crate::error::{FisherError, Result};
use crate::estimator::{FisherEstimate, FisherInputs, FisherSegment, SegmentKey, host_f32};
use crate::network::TappedNetwork;
use crate::progress::Progress;

/// Which label-free summary of a dataset a domain embedding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DomainBaseline {
    /// Mean |pre-BatchNorm conv output| per filter of every conv after the split point: the
    /// same layout as a task embedding, a richer summary than the paper's.
    #[default]
    ConvActivations,
    /// Mean pooled penultimate feature vector: the paper's "mean feature activations".
    PooledFeatures,
}

impl DomainBaseline {
    /// Every baseline, for help texts and parsing.
    pub const ALL: [DomainBaseline; 2] = [Self::ConvActivations, Self::PooledFeatures];

    /// The name used on the command line (`--domain conv|features`).
    pub fn name(self) -> &'static str {
        match self {
            Self::ConvActivations => "conv",
            Self::PooledFeatures => "features",
        }
    }

    /// The estimator name recorded in provenance (so the two are never compared silently).
    pub fn estimator_name(self) -> &'static str {
        match self {
            Self::ConvActivations => "domain-mean-abs-activation",
            Self::PooledFeatures => "domain-mean-pooled-features",
        }
    }
}

impl std::str::FromStr for DomainBaseline {
    type Err = FisherError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| FisherError::InvalidOption {
                name: "domain",
                reason: format!("unknown domain baseline `{s}` (expected conv or features)"),
            })
    }
}

/// Mean of the pooled feature vectors (`[n, dim]` row-major), one value per feature.
pub fn mean_pooled_features(features: &[f32], n: usize) -> Vec<f64> {
    let dim = features.len() / n.max(1);
    let mut mean = vec![0.0; dim];
    for row in features.chunks_exact(dim.max(1)) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    mean
}

/// Sums |conv output| per filter over samples and positions.
#[derive(Default)]
pub struct MeanActivationTap {
    sums: Vec<(usize, Tensor<1>)>,
    pass: usize,
}

impl LayerTap for MeanActivationTap {
    fn conv(&mut self, index: usize, conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
        let out = conv.forward(input);
        let [_, c, _, _] = out.dims();
        let per_filter = out.clone().abs().mean_dims(&[2, 3]).sum_dim(0).reshape([c]);
        match self.sums.get_mut(self.pass) {
            Some((i, sum)) if *i == index => *sum = sum.clone().add(per_filter),
            _ => self.sums.push((index, per_filter)),
        }
        self.pass += 1;
        out
    }
}

/// Mean |conv output| per filter of `network` over `inputs` (`[N, C, H, W]`, no autodiff),
/// in batches of `batch_size`.
pub fn mean_activations(
    network: &dyn TappedNetwork,
    inputs: &dyn FisherInputs,
    batch_size: usize,
    progress: &dyn Progress,
) -> Result<FisherEstimate> {
    crate::options::positive("cache-batch-size", batch_size)?;
    let n = inputs.len();
    let mut tap = MeanActivationTap::default();
    progress.start("mean activations", n as u64);
    let mut start = 0;
    while start < n {
        let len = batch_size.min(n - start);
        tap.pass = 0;
        let _ = network.features(inputs.range(start, len)?, &mut tap);
        progress.advance(len as u64);
        start += len;
    }
    if tap.sums.is_empty() {
        return Err(FisherError::Unsupported(
            "no conv layer after the split point".into(),
        ));
    }
    let segments = tap
        .sums
        .into_iter()
        .map(|(index, sum)| {
            let key = SegmentKey::Conv(index);
            let hessian: Vec<f64> = host_f32(sum)?
                .into_iter()
                .map(|v| v as f64 / n as f64)
                .collect();
            Ok(FisherSegment {
                key,
                name: network.segment_name(key),
                scale: vec![1.0; hessian.len()],
                hessian,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    progress.finish(&format!("{n} images"));
    Ok(FisherEstimate { segments })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use crate::testing::{ConvSpec, LinearConvNet, random_inputs};
    use burn::tensor::Device;

    #[test]
    fn mean_absolute_output_of_a_single_conv() {
        let device = Device::flex();
        let spec = ConvSpec {
            in_channels: 2,
            out_channels: 3,
            kernel: 1,
            stride: 1,
            padding: 0,
            groups: 1,
        };
        let net = LinearConvNet::new(spec, 1, &device);
        let x = random_inputs([5, 2, 3, 3], 2, &device);
        let got = mean_activations(&net, &x, 2, &Silent).unwrap().hessian();
        // Independent: a 1×1 conv is a per-pixel matrix product.
        let xs = host_f32(x).unwrap();
        let w = host_f32(net.conv.weight.val()).unwrap();
        let mut expected = [0.0f64; 3];
        for s in 0..5 {
            for p in 0..9 {
                for (o, e) in expected.iter_mut().enumerate() {
                    let v: f64 = (0..2)
                        .map(|c| w[o * 2 + c] as f64 * xs[(s * 2 + c) * 9 + p] as f64)
                        .sum();
                    *e += v.abs() / 45.0;
                }
            }
        }
        for (g, e) in got.iter().zip(expected) {
            assert!(
                (g - e).abs() < 1e-5 * e.abs().max(1.0),
                "{got:?} vs {expected:?}"
            );
        }
    }
}
