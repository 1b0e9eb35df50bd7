//! The probe's filter layout: its convs and BatchNorms in forward order, and its split points.
//!
//! The conv and BatchNorm tables come from `graphs/<probe>.layout.json`, which the export script
//! (ci/probe/common.py `onnx_layout`) reads off the ONNX graph, in node order — the order in
//! which burn-import generates the forward, hence the order of the tap indices.
use serde::{Deserialize, Serialize};

/// One convolution of the probe, in forward order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvInfo {
    /// torchvision-style (state-dict) name, e.g. `layer1.0.conv1`, `_blocks.3._depthwise_conv`.
    pub name: String,
    /// Output channels = filters (the embedding has one entry per filter).
    pub out_channels: usize,
    /// Input channels (over all groups).
    pub in_channels: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Groups (`in_channels` for a depthwise conv).
    pub groups: usize,
    /// Stride (height, width).
    pub stride: [usize; 2],
    /// Whether the conv has a bias.
    #[serde(default)]
    pub bias: bool,
}

/// One BatchNorm of the probe, in forward order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BnInfo {
    /// State-dict name, e.g. `layer1.0.bn1`.
    pub name: String,
    /// Channels normalised.
    pub channels: usize,
    /// Index (in [`crate::Probe::conv_layout`]) of the conv whose output it normalises.
    #[serde(rename = "follows_conv")]
    pub follows_conv: usize,
}

/// A point at which the forward can be split: exactly one activation is live there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitPoint {
    /// The module that starts here (`conv1` for the input of a ResNet, `layer3`, `blocks.5`, ..).
    pub name: String,
    /// Index of the first conv at or after this point (= convs before it).
    pub first_conv: usize,
    /// Index of the first BatchNorm at or after this point.
    pub first_bn: usize,
    /// Channels of the activation here.
    pub channels: usize,
    /// The segment boundary in the generated forward.
    #[serde(skip)]
    pub(crate) boundary: usize,
}

/// The layout file of one probe.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct LayoutFile {
    pub probe: String,
    pub input_size: usize,
    pub num_classes: usize,
    pub convs: Vec<ConvInfo>,
    pub batch_norms: Vec<BnInfo>,
    pub head: String,
    /// The classification layer's weight shape, torch order [classes, features].
    pub head_shape: [usize; 2],
}

impl LayoutFile {
    pub(crate) fn parse(json: &str) -> LayoutFile {
        // The file is committed and compiled in (include_str!); a parse failure is a build defect
        // caught by every test, not a user error.
        serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("committed layout JSON is invalid: {e}"))
    }
}
