//! The arithmetic work of each stage of `embed`, counted from the probe's own convs: what
//! docs/performance.md divides the measured seconds by to report GFLOP/s against the machine's
//! GEMM peak (`benches/benches/gemm_peak.rs`).
//!
//! Only convolutions are counted (multiply-adds of the dense product a conv lowers to, and of
//! the per-sample kernel): BatchNorm, activations, pooling and the head are linear in the
//! activations' size, a few percent of a ResNet's or EfficientNet's work.
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor};
use task2vec_probe::{LayerTap, Probe};

use crate::kernel::{ConvGeometry, KernelPath};

/// One conv after the split point, for one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvCost {
    /// Index in the probe's conv layout.
    pub index: usize,
    /// Output positions (Ho·Wo).
    pub positions: u64,
    /// Multiply-adds of the forward pass (= of its input gradient, = of its weight gradient).
    pub forward: u64,
    /// Multiply-adds of the per-sample kernel on this conv ([`KernelPath::Auto`]'s choice; a
    /// depthwise conv's per-channel product).
    pub kernel: u64,
    /// Which path the kernel takes (`None` for a depthwise conv).
    pub path: Option<KernelPath>,
}

/// Multiply-adds per image of the probe's convs before and after split point `split`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeCost {
    /// The convs up to the split point (only ever run forward).
    pub before_split: u64,
    /// Every conv after the split point, in forward order.
    pub after_split: Vec<ConvCost>,
}

impl ProbeCost {
    /// Counts `probe`'s convs at `input_size`² by running one image of zeros through them.
    pub fn of(probe: &Probe, split: usize, input_size: usize, device: &Device) -> ProbeCost {
        let x = Tensor::<4>::zeros([1, 3, input_size, input_size], device);
        // `forward_to` takes no tap: count the whole network, then the tail, and subtract.
        let mut all = Counter::default();
        let _ = probe.features_from(0, x.clone(), &mut all);
        let mut tail = Counter::default();
        let _ = probe.features_from(split, probe.forward_to(split, x), &mut tail);
        let sum = |c: &Counter| c.convs.iter().map(|c| c.forward).sum::<u64>();
        ProbeCost {
            before_split: sum(&all) - sum(&tail),
            after_split: tail.convs,
        }
    }

    /// Forward multiply-adds after the split, per image.
    pub fn tail_forward(&self) -> u64 {
        self.after_split.iter().map(|c| c.forward).sum()
    }

    /// Whole-network forward multiply-adds per image.
    pub fn full_forward(&self) -> u64 {
        self.before_split + self.tail_forward()
    }

    /// Per-sample kernel multiply-adds per image and label draw.
    pub fn kernel(&self) -> u64 {
        self.after_split.iter().map(|c| c.kernel).sum()
    }

    /// Input-gradient multiply-adds of one backward pass per image: every conv after the split
    /// but the first when the split is the network's input (nothing needs the image's gradient).
    pub fn backward_data(&self, split_is_input: bool) -> u64 {
        let skip = usize::from(split_is_input);
        self.after_split.iter().skip(skip).map(|c| c.forward).sum()
    }

    /// Multiply-adds per image and label draw of the per-sample Fisher: a tapped forward, one
    /// backward for the conv outputs' gradients, the kernel.
    pub fn fisher_draw(&self, split_is_input: bool) -> u64 {
        self.tail_forward() + self.backward_data(split_is_input) + self.kernel()
    }

    /// Multiply-adds per image of an ordinary training step's forward and backward after the
    /// split (input and weight gradients): the yardstick of the "Fisher at a plain backward's
    /// cost" target.
    pub fn plain_forward_backward(&self, split_is_input: bool) -> u64 {
        2 * self.tail_forward() + self.backward_data(split_is_input)
    }
}

/// A tap that runs every conv and records its cost.
#[derive(Default)]
struct Counter {
    convs: Vec<ConvCost>,
}

impl LayerTap for Counter {
    fn conv(&mut self, index: usize, conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = input.dims();
        let g = ConvGeometry::of(conv, [h, w]);
        let out = conv.forward(input);
        let [_, c_out, ho, wo] = out.dims();
        let positions = (ho * wo) as u64;
        let fan_in = g.fan_in() as u64;
        let groups = g.groups as u64;
        let out_g = (c_out / g.groups) as u64;
        let forward = c_out as u64 * positions * fan_in;
        let depthwise = g.in_channels == g.groups && out_g == 1;
        let (kernel, path) = if depthwise {
            (forward, None)
        } else {
            let path =
                KernelPath::Auto.resolve(positions as usize, fan_in as usize, out_g as usize);
            let per_group = match path {
                KernelPath::Gram => positions * positions * (fan_in + out_g),
                _ => out_g * fan_in * positions,
            };
            (groups * per_group, Some(path))
        };
        self.convs.push(ConvCost {
            index,
            positions,
            forward,
            kernel,
            path,
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use task2vec_probe::ProbeKind;

    /// ResNet-18's convs at 224², by hand (filters × positions × weights per filter):
    /// conv1 64·112²·147 = 118,013,952; layer1 4 × 64·56²·576 = 462,422,016; layer2, layer3
    /// and layer4 each 57,802,752 (strided first conv) + 3 × 115,605,504 + 6,422,528 (1×1
    /// downsample) = 411,041,792. Total 1,813,561,344: torchvision's published 1.814 G
    /// multiply-adds less the fc layer's 0.5 M.
    #[test]
    fn resnet18_forward_is_the_hand_count() {
        let device = Device::flex();
        let probe = Probe::with_formula_weights(ProbeKind::Resnet18, &device).unwrap();
        let cost = ProbeCost::of(&probe, 0, 224, &device);
        assert_eq!(cost.full_forward(), 1_813_561_344);
        assert_eq!(cost.before_split, 0);
        assert_eq!(cost.after_split.len(), 20); // 17 3×3/7×7 convs + 3 downsample 1×1
        // conv1: 64 filters × 112² positions × 3·7·7 weights.
        assert_eq!(cost.after_split[0].forward, 64 * 112 * 112 * 147);
    }

    /// Splitting moves work from the tail to the prefix without changing the total.
    #[test]
    fn split_moves_work_to_the_prefix() {
        let device = Device::flex();
        let probe = Probe::with_formula_weights(ProbeKind::Resnet18, &device).unwrap();
        let whole = ProbeCost::of(&probe, 0, 64, &device);
        let split = ProbeCost::of(&probe, 6, 64, &device);
        assert_eq!(whole.full_forward(), split.full_forward());
        assert!(split.before_split > 0 && split.after_split.len() < whole.after_split.len());
        // Gram wherever it needs fewer multiply-adds: layer4 at 64² has 2×2 outputs.
        let last = split.after_split.last().unwrap();
        assert_eq!(last.path, Some(KernelPath::Gram));
        assert_eq!(last.kernel, 4 * 4 * (512 * 9 + 512));
    }
}
