//! Small deterministic conv nets for tests and benchmarks, built the way probes are: every conv
//! and BatchNorm goes through the [`LayerTap`]. They stand in for a probe wherever a real one
//! would be too slow (unit tests, CI) and exercise the kernel's geometry cases: padding,
//! stride, groups, depthwise and 1×1 convs.
use burn::module::{Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use task2vec_probe::LayerTap;

use crate::estimator::SegmentKey;
use crate::network::TappedNetwork;

/// One conv block of a [`TinyConvNet`].
#[derive(Clone, Copy, Debug)]
pub struct ConvSpec {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels (filters).
    pub out_channels: usize,
    /// Square kernel size.
    pub kernel: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
    /// Channel groups (`in_channels` = depthwise).
    pub groups: usize,
}

/// conv → BatchNorm → ReLU blocks, then global average pooling.
#[derive(Debug)]
pub struct TinyConvNet {
    /// The convs, in forward order.
    pub convs: Vec<Conv2d>,
    /// The BatchNorm after each conv.
    pub bns: Vec<BatchNorm>,
}

fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f64, hi: f64) -> Vec<f32> {
    (0..n)
        .map(|_| (lo + (hi - lo) * rng.random::<f64>()) as f32)
        .collect()
}

impl TinyConvNet {
    /// The default test architecture on 3-channel inputs: a padded 3×3 conv, a strided 3×3
    /// conv, a depthwise 3×3 conv and a grouped 1×1 conv; 8 features.
    pub fn default_specs() -> Vec<ConvSpec> {
        let c = |i, o, k, s, p, g| ConvSpec {
            in_channels: i,
            out_channels: o,
            kernel: k,
            stride: s,
            padding: p,
            groups: g,
        };
        vec![
            c(3, 4, 3, 1, 1, 1),
            c(4, 6, 3, 2, 1, 1),
            c(6, 6, 3, 1, 1, 6),
            c(6, 8, 1, 1, 0, 2),
        ]
    }

    /// A net with seeded random weights and BatchNorm statistics on `device`.
    pub fn new(specs: &[ConvSpec], seed: u64, device: &Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut convs = Vec::new();
        let mut bns = Vec::new();
        for s in specs {
            let mut conv = Conv2dConfig::new([s.in_channels, s.out_channels], [s.kernel, s.kernel])
                .with_stride([s.stride, s.stride])
                .with_groups(s.groups)
                .with_padding(PaddingConfig2d::Explicit(
                    s.padding, s.padding, s.padding, s.padding,
                ))
                .with_bias(false)
                .init(device);
            let fan_in = s.in_channels / s.groups * s.kernel * s.kernel;
            let bound = (6.0 / fan_in as f64).sqrt();
            let shape = [s.out_channels, s.in_channels / s.groups, s.kernel, s.kernel];
            let n = shape.iter().product();
            conv.weight = Param::from_tensor(Tensor::from_data(
                TensorData::new(uniform(&mut rng, n, -bound, bound), shape),
                device,
            ));
            let c = s.out_channels;
            let mut bn = BatchNormConfig::new(c).init(device);
            let t = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [c]), device);
            bn.gamma = Param::from_tensor(t(uniform(&mut rng, c, 0.7, 1.3)));
            bn.beta = Param::from_tensor(t(uniform(&mut rng, c, -0.1, 0.1)));
            bn.running_mean = RunningState::new(t(uniform(&mut rng, c, -0.2, 0.2)));
            bn.running_var = RunningState::new(t(uniform(&mut rng, c, 0.5, 1.5)));
            convs.push(conv);
            bns.push(bn);
        }
        Self { convs, bns }
    }

    /// Number of features (channels of the last block).
    pub fn feature_dim(&self) -> usize {
        self.convs.last().map_or(0, |c| c.weight.dims()[0])
    }
}

impl TappedNetwork for TinyConvNet {
    fn features(&self, input: Tensor<4>, tap: &mut dyn LayerTap) -> Tensor<2> {
        let mut x = input;
        for (i, (conv, bn)) in self.convs.iter().zip(&self.bns).enumerate() {
            let y = tap.conv(i, conv, x);
            x = relu(tap.batch_norm(i, bn, y));
        }
        let [n, c, _, _] = x.dims();
        x.mean_dims(&[2, 3]).reshape([n, c])
    }

    fn segment_name(&self, key: SegmentKey) -> String {
        match key {
            SegmentKey::Conv(i) => format!("conv{i}"),
            SegmentKey::BnGamma(i) => format!("bn{i}"),
        }
    }
}

/// A linear model written as one conv followed by global average pooling: its logits
/// z = W·f̃ are linear in the conv weight W (f̃ = the unfolded input averaged over output
/// positions), so its Fisher has a closed form (see the tests).
#[derive(Debug)]
pub struct LinearConvNet {
    /// The one conv.
    pub conv: Conv2d,
}

impl LinearConvNet {
    /// A seeded conv of shape `spec`.
    pub fn new(spec: ConvSpec, seed: u64, device: &Device) -> Self {
        let mut net = TinyConvNet::new(&[spec], seed, device);
        Self {
            conv: net.convs.remove(0),
        }
    }
}

impl TappedNetwork for LinearConvNet {
    fn features(&self, input: Tensor<4>, tap: &mut dyn LayerTap) -> Tensor<2> {
        let x = tap.conv(0, &self.conv, input);
        let [n, c, _, _] = x.dims();
        x.mean_dims(&[2, 3]).reshape([n, c])
    }

    fn segment_name(&self, key: SegmentKey) -> String {
        format!("{key:?}")
    }
}

/// Seeded standard-normal-ish inputs (uniform, variance 1) `[n, c, h, w]`.
pub fn random_inputs(shape: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    let bound = 3f64.sqrt();
    Tensor::from_data(
        TensorData::new(uniform(&mut rng, n, -bound, bound), shape),
        device,
    )
}
