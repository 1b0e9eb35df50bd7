//! The probe crate's errors: each names the file or probe and what is wrong with it.
use std::path::PathBuf;

/// Everything that can go wrong when loading or running a probe.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A probe name that is not one of [`crate::ProbeKind::ALL`].
    #[error(
        "unknown probe `{0}` (known probes: tiny-resnet, efficientnet-lite0, resnet18, resnet34)"
    )]
    UnknownProbe(String),

    /// No weights file given and none in the cache.
    #[error(
        "no weights for probe `{probe}` at {}: run `cargo xtask fetch-probe {probe}` or pass a weights file",
        .path.display()
    )]
    WeightsNotFound {
        /// The probe's name.
        probe: String,
        /// Where the weights were looked for (`$TASK2VEC_HOME/probes/NAME.pth`).
        path: PathBuf,
    },

    /// The weights file could not be read.
    // `error`, not `source`: the message already contains it, and a renderer that prints the
    // cause chain (anyhow's `{:#}`, the CLI) would print it twice.
    #[error("reading {}: {error}", .path.display())]
    Io {
        /// The weights file.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },

    /// A weights file whose extension says nothing we can read.
    #[error("{}: unsupported weights format (expected .pth, .pt, .safetensors or .bpk)", .path.display())]
    UnsupportedFormat {
        /// The weights file.
        path: PathBuf,
    },

    /// The store could not parse the file.
    #[error("{}: cannot read weights: {message}", .path.display())]
    Unreadable {
        /// The weights file.
        path: PathBuf,
        /// The store's message.
        message: String,
    },

    /// The file holds tensors of another network (missing, unexpected or misshapen tensors).
    #[error(
        "{} does not hold `{probe}` weights: {} missing tensor(s){}, {} unexpected tensor(s){}, {} shape error(s){}",
        .path.display(),
        .missing.len(), first(.missing),
        .unexpected.len(), first(.unexpected),
        .mismatched.len(), first(.mismatched)
    )]
    WrongWeights {
        /// The probe the weights were loaded into.
        probe: String,
        /// The weights file.
        path: PathBuf,
        /// Tensors the probe has and the file lacks (torchvision names).
        missing: Vec<String>,
        /// Tensors the file has and the probe lacks.
        unexpected: Vec<String>,
        /// Tensors present in both with different shapes.
        mismatched: Vec<String>,
    },

    /// A tensor with NaN or infinite values.
    #[error("{}: tensor `{tensor}` of `{probe}` contains NaN or infinite values", .path.display())]
    NonFinite {
        /// The probe's name.
        probe: String,
        /// The weights file.
        path: PathBuf,
        /// The first tensor with a NaN or infinite value (torchvision name).
        tensor: String,
    },

    /// The probe has no ImageNet classification head.
    #[error("probe `{0}` has no ImageNet head")]
    NoImagenetHead(String),

    /// An image file that cannot be decoded.
    #[error("decoding image {}: {error}", .path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's error (not a `source`, for the same reason as `Io`).
        error: image::ImageError,
    },

    /// A device name that is not `cpu` (or `cuda[:N]` with the `cuda` feature).
    #[error("unknown device `{0}` (use `cpu`{hint})", hint = device_hint())]
    UnknownDevice(String),

    /// Preprocessing asked for something impossible.
    #[error("invalid preprocessing: {0}")]
    Preprocess(String),

    /// An input size the probe cannot run at correctly.
    #[error("{probe} cannot run at {size}×{size} pixels: {reason}")]
    InputSize {
        /// The probe's name.
        probe: &'static str,
        /// The requested square input size.
        size: usize,
        /// The rule it breaks.
        reason: String,
    },
}

fn device_hint() -> &'static str {
    if cfg!(feature = "cuda") {
        ", `cuda` or `cuda:N`"
    } else {
        "; build with --features cuda for `cuda`"
    }
}

fn first(items: &[String]) -> String {
    match items.first() {
        Some(item) => format!(" (first: `{item}`)"),
        None => String::new(),
    }
}
