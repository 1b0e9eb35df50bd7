//! task2vec-probe: the pretrained CNN *probe networks* of Task2Vec, imported from ONNX graphs
//! with burn-import at build time, with their weights, preprocessing, filter layout and
//! split points.
//!
//! Every forward an estimator uses routes each conv and BatchNorm through a [`LayerTap`]
//! (BatchNorm in eval mode unless the tap decides otherwise); the probe itself is immutable.
//!
//! ```
//! use burn::tensor::{Device, Tensor, Distribution};
//! use task2vec_probe::{PassThrough, Probe};
//!
//! let device = Device::flex();
//! let probe = Probe::tiny(&device); // compiled-in weights; Probe::load for the real probes
//! let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &device);
//! let h = probe.forward_to(6, x); // the input of layer3 (REF's skip_layers = 6)
//! let features = probe.features_from(6, h, &mut PassThrough);
//! assert_eq!(features.dims(), [2, probe.feature_dim()]);
//! ```
#![warn(missing_docs)]
pub mod error;
pub mod formula;
mod graph;
pub mod imagenet;
pub mod layout;
pub mod preprocess;
mod probe;
pub mod tap;
mod weights;

pub use error::ProbeError;
pub use layout::{BnInfo, ConvInfo, SplitPoint};
pub use preprocess::{Preprocess, load_image};
pub use probe::{Probe, ProbeKind};
pub use tap::{
    LayerTap, PassThrough, batch_norm_batch_stats, batch_norm_eval, batch_norm_eval_affine,
};
pub use weights::cache_dir;

/// burn's device type, re-exported so that users need no direct burn dependency.
pub use burn::tensor::Device;

/// The device named `name`: `cpu` (burn's Flex backend) or, with the `cuda` feature, `cuda` /
/// `cuda:N`.
pub fn device_from_name(name: &str) -> Result<Device, ProbeError> {
    match name {
        "cpu" | "flex" => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        n if n == "cuda" || n.starts_with("cuda:") => {
            let index = n.strip_prefix("cuda:").unwrap_or("0");
            let index: usize = index
                .parse()
                .map_err(|_| ProbeError::UnknownDevice(name.to_string()))?;
            Ok(Device::cuda(index))
        }
        _ => Err(ProbeError::UnknownDevice(name.to_string())),
    }
}
