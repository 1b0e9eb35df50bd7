//! The seam between estimators and networks: the part of a probe that the Fisher is taken over,
//! as a function from cached activations to pooled features with every conv and BatchNorm
//! routed through a [`LayerTap`].
use burn::tensor::Tensor;
use task2vec_probe::LayerTap;

use crate::estimator::SegmentKey;

/// A network (or the tail of one, after a split point) as the estimators see it.
///
/// Implementations must call `tap.conv` for every conv and `tap.batch_norm` for every
/// BatchNorm, in graph order, and must not keep state between calls (the estimators run it
/// many times, docs/design.md invariant 2).
pub trait TappedNetwork {
    /// Pooled penultimate features `[n, feature_dim]` of a batch of inputs at the split point.
    fn features(&self, input: Tensor<4>, tap: &mut dyn LayerTap) -> Tensor<2>;

    /// Human-readable name of a segment (the layer's name in the probe).
    fn segment_name(&self, key: SegmentKey) -> String;
}
