//! Every probe graph against PyTorch, with the deterministic formula weights (no downloads):
//! ci/probe/export_{efficientnet,resnet}.py computed the goldens; here the same weights go
//! through the torchvision-name loading path into the burn-import graphs.
mod common;

use burn::tensor::Device;
use common::*;
use task2vec_probe::{Probe, ProbeKind};

fn check(kind: ProbeKind) {
    let probe = Probe::with_formula_weights(kind, &Device::flex()).expect("formula weights load");
    let golden = golden(&format!("{}-formula", kind.name()));
    check_golden(&probe, &golden, [2, 3, 64, 64], 1e-4);
}

#[test]
fn efficientnet_lite0_matches_pytorch() {
    check(ProbeKind::EfficientNetLite0);
}

#[test]
fn resnet18_matches_pytorch() {
    check(ProbeKind::Resnet18);
}

#[test]
fn resnet34_matches_pytorch() {
    check(ProbeKind::Resnet34);
}

#[test]
fn layouts_match_the_paper() {
    let device = Device::flex();
    let r34 = Probe::with_formula_weights(ProbeKind::Resnet34, &device).unwrap();
    // docs/reference.md §5: ResNet-34 has 36 conv modules and 8,512 filters; ResNet-18 20 and 4,800.
    assert_eq!(r34.conv_layout().len(), 36);
    assert_eq!(r34.total_filters(), 8512);
    assert_eq!(r34.split_points()[6].name, "layer3");
    assert_eq!(
        r34.conv_layout()[r34.split_points()[6].first_conv].name,
        "layer3.0.conv1"
    );
    // Filters from layer3 on: 6,912 (docs/reference.md §5, skip_layers = 6).
    let after: usize = r34.conv_layout()[r34.split_points()[6].first_conv..]
        .iter()
        .map(|c| c.out_channels)
        .sum();
    assert_eq!(after, 6912);
    let r18 = Probe::with_formula_weights(ProbeKind::Resnet18, &device).unwrap();
    assert_eq!(r18.conv_layout().len(), 20);
    assert_eq!(r18.total_filters(), 4800);
    let after: usize = r18.conv_layout()[r18.split_points()[6].first_conv..]
        .iter()
        .map(|c| c.out_channels)
        .sum();
    assert_eq!(after, 3840);
    assert_eq!(r18.feature_dim(), 512);
    let eff = Probe::with_formula_weights(ProbeKind::EfficientNetLite0, &device).unwrap();
    assert_eq!(eff.conv_layout().len(), 49);
    assert_eq!(eff.total_filters(), 21008);
    assert_eq!(eff.feature_dim(), 1280);
    let names: Vec<&str> = eff.split_points().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 19);
    assert_eq!(
        (names[0], names[1], names[16], names[17], names[18]),
        ("stem", "blocks.0", "blocks.15", "head", "avgpool")
    );
    // Depthwise convs are reported with their groups.
    let dw = eff
        .conv_layout()
        .iter()
        .find(|c| c.name == "_blocks.1._depthwise_conv")
        .unwrap();
    assert_eq!((dw.groups, dw.in_channels, dw.out_channels), (96, 96, 96));
}
