//! Rewriter of burn-import's generated probe models (used by `cargo xtask codegen`, which
//! commits the result in `crates/probe/generated/`).
//!
//! burn-import (burn-onnx 0.22, `partition(false)`) generates, for a probe graph, a
//! non-generic `struct Model` whose fields are the layers and a straight-line forward:
//! ```text
//! pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
//!     let conv2d1_out1 = self.conv2d1.forward(input);
//!     let batchnormalization1_out1 = self.batchnormalization1.forward(conv2d1_out1);
//!     ...
//!     let linear1_out1 = self.linear1.forward(flatten1_out1);
//!     linear1_out1
//! }
//! ```
//! [`rewrite`] parses that file with `syn`, reads `forward` as a list of `let` statements and
//! emits (with `quote`, printed by `prettyplease`) the code of `<probe>_tapped.rs`, which is
//! included next to the generated model:
//! * `segment(k, x, tap)`: the statements from boundary `k` to boundary `k + 1`, where a
//!   *boundary* is a statement boundary at which exactly one variable is live (the whole state
//!   of the network is one 4-D activation there: a valid split point);
//! * `pool(x, tap)`: from the last boundary (the global pooling's input) to the input of the
//!   final linear layer: the pooled features;
//! * `head(features)`: the final linear layer and whatever follows: the logits;
//! * accessors of the private generated fields (`conv(i)`, `batch_norm(j)`, `head_layer()`)
//!   and the tables `BOUNDARIES`, `CONV_FIELDS`, `BN_FIELDS`, `HEAD_FIELD`.
//!
//! Every `self.<f>.forward(x)` on a `Conv2d` field becomes `tap.conv(i, &self.<f>, x)` and on a
//! `BatchNorm` field `tap.batch_norm(j, &self.<f>, x)`, with `i`, `j` the order of appearance.
//! Layers are recognised by the *declared type* of the field in `struct Model`, not by name.
//!
//! Anything else fails with a [`RewriteError`] naming the statement and what was expected
//! (see `forward.rs` for the accepted shape), so that a burn-import upgrade that changes the
//! generated code stops the build instead of producing an untapped or mis-split network.
#![warn(missing_docs)]

mod emit;
mod error;
mod forward;
mod liveness;
mod reads;

pub use error::RewriteError;

/// The committed probe graphs (`crates/probe/graphs/<stem>.onnx.gz`) and where each one's
/// weights come from. Only tiny-resnet carries real weights in its graph; the others are
/// loaded at run time.
pub const PROBES: &[(&str, Weights)] = &[
    ("tiny-resnet", Weights::Embedded),
    ("efficientnet-lite0", Weights::AtRunTime),
    ("resnet18", Weights::AtRunTime),
    ("resnet34", Weights::AtRunTime),
];

/// Where a generated model's weights come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// Compiled into the binary (burn-import's `LoadStrategy::Embedded`, which defines
    /// `static EMBEDDED_STATES`): the rewrite also emits `embedded_weights()` returning them.
    Embedded,
    /// Loaded at run time from a file; the graph's own (zeroed) initializers are not used.
    AtRunTime,
}

/// Rewrites the source of one burn-import generated model into the tapped code described in
/// the crate documentation. The result is meant to be `include!`d in the same module.
pub fn rewrite(source: &str, weights: Weights) -> Result<String, RewriteError> {
    let file = syn::parse_file(source).map_err(|e| {
        RewriteError::new(format!("the generated file does not parse as Rust: {e}"))
    })?;
    let forward = forward::read(&file, weights)?;
    let cuts = liveness::cut(&forward)?;
    emit::tapped(&forward, &cuts, weights)
}
