//! tiny-resnet: the compiled-in probe, its layout, split points, taps and autodiff.
mod common;

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Distribution, Tensor};
use common::*;
use task2vec_probe::{LayerTap, PassThrough, Probe, ProbeKind, batch_norm_eval};

#[test]
fn matches_pytorch() {
    let probe = Probe::tiny(&Device::flex());
    check_golden(&probe, &golden("tiny-resnet"), [2, 3, 32, 32], 1e-4);
}

#[test]
fn tapped_forward_equals_the_generated_forward() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let x = Tensor::<4>::random([3, 3, 40, 40], Distribution::Normal(0.0, 1.0), &device);
    let tapped = values(probe.logits(x.clone()));
    let plain = values(probe.logits_untapped(x));
    let d = max_abs_diff(&tapped, &plain);
    assert!(d < 1e-5, "tapped vs generated forward: {d}");
}

#[test]
fn layout_and_split_points_follow_ref() {
    let probe = Probe::tiny(&Device::flex());
    assert_eq!(probe.name(), "tiny-resnet");
    assert_eq!(probe.weights_sha256().len(), 64);
    let convs = probe.conv_layout();
    assert_eq!(convs.len(), 12);
    assert_eq!(convs[0].name, "conv1");
    assert_eq!(convs[1].name, "layer1.0.conv1");
    assert_eq!(
        probe.total_filters(),
        8 + 8 + 8 + (16 * 3) + (32 * 3) + (64 * 3)
    );
    // Every BatchNorm follows a conv of as many channels.
    assert_eq!(probe.bn_layout().len(), 12);
    for bn in probe.bn_layout() {
        assert_eq!(
            bn.channels, convs[bn.follows_conv].out_channels,
            "{}",
            bn.name
        );
    }
    let names: Vec<&str> = probe
        .split_points()
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool"
        ]
    );
    let layer3 = &probe.split_points()[6];
    assert_eq!(convs[layer3.first_conv].name, "layer3.0.conv1");
    assert_eq!(layer3.channels, 16);
    assert_eq!(probe.feature_dim(), 64);
    // bn1 starts right after conv1: conv 1 first, BatchNorm 0 first.
    let bn1 = &probe.split_points()[1];
    assert_eq!((bn1.first_conv, bn1.first_bn), (1, 0));
}

/// Records which layers a forward reports, in order.
#[derive(Default)]
struct Recorder {
    convs: Vec<usize>,
    bns: Vec<usize>,
}

impl LayerTap for Recorder {
    fn conv(&mut self, index: usize, conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
        self.convs.push(index);
        conv.forward(input)
    }
    fn batch_norm(&mut self, index: usize, bn: &BatchNorm, input: Tensor<4>) -> Tensor<4> {
        self.bns.push(index);
        batch_norm_eval(bn, input)
    }
}

#[test]
fn every_conv_and_batch_norm_after_the_split_goes_through_the_tap() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let x = Tensor::<4>::random([1, 3, 32, 32], Distribution::Default, &device);
    for (k, split) in probe.split_points().iter().enumerate() {
        let h = probe.forward_to(k, x.clone());
        assert_eq!(h.dims()[1], split.channels, "channels at {}", split.name);
        let mut rec = Recorder::default();
        probe.features_from(k, h, &mut rec);
        let convs: Vec<usize> = (split.first_conv..probe.conv_layout().len()).collect();
        let bns: Vec<usize> = (split.first_bn..probe.bn_layout().len()).collect();
        assert_eq!(rec.convs, convs, "convs after {}", split.name);
        assert_eq!(rec.bns, bns, "BatchNorms after {}", split.name);
    }
}

/// Adds a zero leaf tensor to every conv output, as the estimator does, and keeps them.
struct ZeroLeaves {
    leaves: Vec<Tensor<4>>,
}

impl LayerTap for ZeroLeaves {
    fn conv(&mut self, _index: usize, conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
        let out = conv.forward(input);
        let leaf = Tensor::<4>::zeros(out.dims(), &out.device()).require_grad();
        self.leaves.push(leaf.clone());
        out + leaf
    }
}

#[test]
fn gradients_flow_on_an_autodiff_device_with_batch_norm_in_eval_mode() {
    let plain = Probe::tiny(&Device::flex());
    let device = Device::flex().autodiff();
    let probe = Probe::tiny(&device);
    let x = formula_input([2, 3, 32, 32], &device);
    let mut tap = ZeroLeaves { leaves: Vec::new() };
    let features = probe.features_from(0, x.clone(), &mut tap);
    let logits = probe.head(features);
    // Eval-mode BatchNorm: the same logits as on the plain device.
    let d = max_abs_diff(
        &values(logits.clone()),
        &values(plain.logits(formula_input([2, 3, 32, 32], &Device::flex()))),
    );
    assert!(d < 1e-5, "autodiff logits differ from plain ones by {d}");
    let grads = logits.sum().backward();
    assert_eq!(tap.leaves.len(), 12);
    for (i, leaf) in tap.leaves.iter().enumerate() {
        let g = leaf
            .grad(&grads)
            .unwrap_or_else(|| panic!("no gradient for conv {i}"));
        let norm: f32 = values(g).iter().map(|v| v * v).sum();
        assert!(norm > 0.0, "zero gradient at conv {i}");
    }
    // The probe was not changed by use.
    let again = values(probe.logits(x));
    let d = max_abs_diff(
        &again,
        &values(plain.logits(formula_input([2, 3, 32, 32], &Device::flex()))),
    );
    assert!(d < 1e-5, "the probe changed: {d}");
}

#[test]
fn imagenet_logits_are_an_error_for_tiny() {
    let device = Device::flex();
    let probe = Probe::tiny(&device);
    let x = Tensor::<4>::zeros([1, 3, 32, 32], &device);
    let err = probe.imagenet_logits(x).unwrap_err();
    assert!(err.to_string().contains("no ImageNet head"), "{err}");
    assert_eq!(
        "tiny-resnet".parse::<ProbeKind>().unwrap(),
        ProbeKind::TinyResnet
    );
    assert!(
        "resnet50"
            .parse::<ProbeKind>()
            .unwrap_err()
            .to_string()
            .contains("unknown probe `resnet50`")
    );
    let _ = PassThrough;
}
