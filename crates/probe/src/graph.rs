//! The imported graphs: burn-import's generated models (one module per probe, generated from
//! `graphs/<probe>.onnx.gz` by `cargo xtask codegen` and committed in `generated/`) plus their
//! tapped segments (task2vec-probe-codegen, crates/probe/codegen), behind one enum.
use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor};

use crate::tap::LayerTap;

/// A statement boundary of a generated forward at which exactly one activation is live.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Boundary {
    /// Convs executed before this boundary.
    pub convs_before: usize,
    /// BatchNorms executed before this boundary.
    pub bns_before: usize,
    /// The variable bound by the statement just before (the forward's input for the first).
    #[allow(dead_code)]
    pub after: &'static str,
    /// The live variable.
    #[allow(dead_code)]
    pub variable: &'static str,
}

macro_rules! generated {
    ($module:ident, $file:literal) => {
        #[allow(clippy::all, clippy::pedantic, warnings, unused)]
        pub(crate) mod $module {
            include!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/generated/",
                $file,
                ".rs"
            ));
            include!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/generated/",
                $file,
                "_tapped.rs"
            ));
        }
    };
}

generated!(tiny_resnet, "tiny_resnet");
generated!(efficientnet_lite0, "efficientnet_lite0");
generated!(resnet18, "resnet18");
generated!(resnet34, "resnet34");

/// Static facts about a generated graph.
pub(crate) struct GraphInfo {
    pub boundaries: &'static [Boundary],
    pub conv_fields: &'static [&'static str],
    pub bn_fields: &'static [&'static str],
    pub head_field: &'static str,
    pub layout_json: &'static str,
}

/// One probe network: a generated model of one of the probe kinds.
// The variants are the generated models themselves (tens of KB of module handles); a probe holds
// exactly one and never moves it in a hot path, so boxing would only add an indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum Net {
    TinyResnet(tiny_resnet::Model),
    EfficientNetLite0(efficientnet_lite0::Model),
    Resnet18(resnet18::Model),
    Resnet34(resnet34::Model),
}

/// Runs `$body` with `$m` bound to the concrete model.
macro_rules! dispatch {
    ($net:expr, $m:ident => $body:expr) => {
        match $net {
            Net::TinyResnet($m) => $body,
            Net::EfficientNetLite0($m) => $body,
            Net::Resnet18($m) => $body,
            Net::Resnet34($m) => $body,
        }
    };
}

impl Net {
    pub(crate) fn segment(&self, k: usize, x: Tensor<4>, tap: &mut dyn LayerTap) -> Tensor<4> {
        dispatch!(self, m => m.segment(k, x, tap))
    }

    pub(crate) fn pool(&self, x: Tensor<4>, tap: &mut dyn LayerTap) -> Tensor<2> {
        dispatch!(self, m => m.pool(x, tap))
    }

    pub(crate) fn head(&self, features: Tensor<2>) -> Tensor<2> {
        dispatch!(self, m => m.head(features))
    }

    /// burn-import's own, untapped forward (burn's BatchNorm; eval mode on a plain device).
    pub(crate) fn forward_untapped(&self, x: Tensor<4>) -> Tensor<2> {
        dispatch!(self, m => m.forward(x))
    }

    pub(crate) fn conv(&self, i: usize) -> &Conv2d {
        dispatch!(self, m => m.conv(i))
    }

    pub(crate) fn batch_norm(&self, i: usize) -> &BatchNorm {
        dispatch!(self, m => m.batch_norm(i))
    }

    pub(crate) fn head_layer(&self) -> &burn::nn::Linear {
        dispatch!(self, m => m.head_layer())
    }

    /// Parameters never require gradients: the estimator differentiates through activations.
    pub(crate) fn frozen(self) -> Net {
        match self {
            Net::TinyResnet(m) => Net::TinyResnet(m.no_grad()),
            Net::EfficientNetLite0(m) => Net::EfficientNetLite0(m.no_grad()),
            Net::Resnet18(m) => Net::Resnet18(m.no_grad()),
            Net::Resnet34(m) => Net::Resnet34(m.no_grad()),
        }
    }
}

/// A randomly initialised model of `kind` (weights are loaded afterwards).
pub(crate) fn new_net(kind: crate::ProbeKind, device: &Device) -> Net {
    use crate::ProbeKind::*;
    match kind {
        TinyResnet => Net::TinyResnet(tiny_resnet::Model::new(device)),
        EfficientNetLite0 => Net::EfficientNetLite0(efficientnet_lite0::Model::new(device)),
        Resnet18 => Net::Resnet18(resnet18::Model::new(device)),
        Resnet34 => Net::Resnet34(resnet34::Model::new(device)),
    }
}

/// The committed tiny-resnet with its embedded weights, and those weights' bytes.
pub(crate) fn tiny_embedded(device: &Device) -> (Net, &'static [u8]) {
    (
        Net::TinyResnet(tiny_resnet::Model::from_embedded(device)),
        tiny_resnet::embedded_weights(),
    )
}

pub(crate) fn info(kind: crate::ProbeKind) -> GraphInfo {
    macro_rules! info {
        ($module:ident, $json:literal) => {
            GraphInfo {
                boundaries: $module::BOUNDARIES,
                conv_fields: $module::CONV_FIELDS,
                bn_fields: $module::BN_FIELDS,
                head_field: $module::HEAD_FIELD,
                layout_json: include_str!(concat!("../graphs/", $json, ".layout.json")),
            }
        };
    }
    use crate::ProbeKind::*;
    match kind {
        TinyResnet => info!(tiny_resnet, "tiny-resnet"),
        EfficientNetLite0 => info!(efficientnet_lite0, "efficientnet-lite0"),
        Resnet18 => info!(resnet18, "resnet18"),
        Resnet34 => info!(resnet34, "resnet34"),
    }
}

/// Applies `f` to the model as a burn-store snapshot target.
pub(crate) fn with_snapshot<R>(net: &mut Net, f: impl FnOnce(&mut dyn SnapshotTarget) -> R) -> R {
    dispatch!(net, m => f(m))
}

/// Object-safe view of what weight loading needs from a model.
pub(crate) trait SnapshotTarget {
    fn apply_store(
        &mut self,
        store: &mut crate::weights::AnyStore,
    ) -> Result<burn_store::ApplyResult, String>;
}

impl<M: burn_store::ModuleSnapshot> SnapshotTarget for M {
    fn apply_store(
        &mut self,
        store: &mut crate::weights::AnyStore,
    ) -> Result<burn_store::ApplyResult, String> {
        store.apply_to(self)
    }
}
