//! Loading weights into a generated model: file formats, torchvision-name remapping,
//! validation (missing / unexpected / misshapen / non-finite tensors), sha256.
use std::path::{Path, PathBuf};

use burn_store::{
    ApplyResult, BurnpackStore, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore,
    SafetensorsStore,
};

use crate::ProbeError;
use crate::graph::{GraphInfo, Net, with_snapshot};
use crate::layout::LayoutFile;

/// The stores we read, behind one type.
pub(crate) enum AnyStore {
    Pytorch(Box<PytorchStore>),
    Safetensors(Box<SafetensorsStore>),
    Burnpack(Box<BurnpackStore>),
}

impl AnyStore {
    pub(crate) fn apply_to<M: ModuleSnapshot>(
        &mut self,
        model: &mut M,
    ) -> Result<ApplyResult, String> {
        match self {
            AnyStore::Pytorch(s) => model.load_from(s.as_mut()).map_err(|e| e.to_string()),
            AnyStore::Safetensors(s) => model.load_from(s.as_mut()).map_err(|e| e.to_string()),
            AnyStore::Burnpack(s) => model.load_from(s.as_mut()).map_err(|e| e.to_string()),
        }
    }
}

/// torch state-dict name -> generated field, for every tensor the probe has.
pub(crate) fn torch_to_generated(info: &GraphInfo, layout: &LayoutFile) -> Vec<(String, String)> {
    let mut map = Vec::new();
    for (conv, field) in layout.convs.iter().zip(info.conv_fields) {
        map.push((format!("{}.weight", conv.name), format!("{field}.weight")));
        if conv.bias {
            map.push((format!("{}.bias", conv.name), format!("{field}.bias")));
        }
    }
    for (bn, field) in layout.batch_norms.iter().zip(info.bn_fields) {
        for leaf in ["weight", "bias", "running_mean", "running_var"] {
            map.push((format!("{}.{leaf}", bn.name), format!("{field}.{leaf}")));
        }
    }
    for leaf in ["weight", "bias"] {
        map.push((
            format!("{}.{leaf}", layout.head),
            format!("{}.{leaf}", info.head_field),
        ));
    }
    map
}

fn remapper(map: &[(String, String)]) -> KeyRemapper {
    let patterns = map
        .iter()
        .map(|(torch, generated)| (format!("^{}$", regex::escape(torch)), generated.clone()));
    // The patterns are escaped literals: compiling them cannot fail.
    KeyRemapper::from_pattern_iter(patterns)
        .unwrap_or_else(|e| panic!("escaped pattern rejected: {e}"))
}

/// Opens `path` by its extension. `.pth`/`.pt`/`.safetensors` use torchvision names, `.bpk` the
/// generated ones (what burn itself saves).
pub(crate) fn open_store(path: &Path, map: &[(String, String)]) -> Result<AnyStore, ProbeError> {
    if !path.is_file() {
        return Err(ProbeError::Io {
            path: path.to_path_buf(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    Ok(match ext.as_str() {
        "pth" | "pt" => AnyStore::Pytorch(Box::new(
            PytorchStore::from_file(path)
                .remap(remapper(map))
                .map_indices_contiguous(false)
                .allow_partial(true)
                .validate(false),
        )),
        "safetensors" => AnyStore::Safetensors(Box::new(safetensors_store(
            SafetensorsStore::from_file(path),
            map,
        ))),
        "bpk" => AnyStore::Burnpack(Box::new(
            BurnpackStore::from_file(path)
                .allow_partial(true)
                .validate(false),
        )),
        _ => {
            return Err(ProbeError::UnsupportedFormat {
                path: path.to_path_buf(),
            });
        }
    })
}

/// A safetensors store with torchvision names, in memory (for formula weights).
pub(crate) fn safetensors_bytes_store(bytes: Vec<u8>, map: &[(String, String)]) -> AnyStore {
    AnyStore::Safetensors(Box::new(safetensors_store(
        SafetensorsStore::from_bytes(Some(bytes)),
        map,
    )))
}

fn safetensors_store(store: SafetensorsStore, map: &[(String, String)]) -> SafetensorsStore {
    store
        .remap(remapper(map))
        .with_from_adapter(PyTorchToBurnAdapter)
        .map_indices_contiguous(false)
        .allow_partial(true)
        .validate(false)
}

/// Applies the store and turns every discrepancy into a [`ProbeError::WrongWeights`].
pub(crate) fn apply(
    net: &mut Net,
    mut store: AnyStore,
    map: &[(String, String)],
    probe: &str,
    path: &Path,
) -> Result<(), ProbeError> {
    let result = with_snapshot(net, |m| m.apply_store(&mut store)).map_err(|message| {
        ProbeError::Unreadable {
            path: path.to_path_buf(),
            message,
        }
    })?;
    let to_torch = |generated: &str| {
        map.iter()
            .find(|(_, g)| g == generated)
            .map(|(t, _)| t.clone())
            .unwrap_or_else(|| generated.to_string())
    };
    let missing: Vec<String> = result
        .missing
        .iter()
        .map(|(p, _)| to_torch(&adapted_path(p)))
        .collect();
    let unexpected: Vec<String> = result
        .unused
        .iter()
        .filter(|p| !p.ends_with("num_batches_tracked"))
        .cloned()
        .collect();
    let mismatched: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
    if missing.is_empty() && unexpected.is_empty() && mismatched.is_empty() {
        Ok(())
    } else {
        Err(ProbeError::WrongWeights {
            probe: probe.to_string(),
            path: path.to_path_buf(),
            missing,
            unexpected,
            mismatched,
        })
    }
}

/// burn calls BatchNorm's affine parameters gamma/beta; torch calls them weight/bias.
fn adapted_path(path: &str) -> String {
    if let Some(stem) = path.strip_suffix(".gamma") {
        format!("{stem}.weight")
    } else if let Some(stem) = path.strip_suffix(".beta") {
        format!("{stem}.bias")
    } else {
        path.to_string()
    }
}

/// Fails on the first tensor with a NaN or infinite value.
pub(crate) fn check_finite(
    net: &Net,
    layout: &LayoutFile,
    probe: &str,
    path: &Path,
) -> Result<(), ProbeError> {
    let non_finite = |values: Vec<f32>| values.iter().any(|v| !v.is_finite());
    let err = |tensor: String| ProbeError::NonFinite {
        probe: probe.to_string(),
        path: path.to_path_buf(),
        tensor,
    };
    for (i, conv) in layout.convs.iter().enumerate() {
        let c = net.conv(i);
        if non_finite(values(c.weight.val())) {
            return Err(err(format!("{}.weight", conv.name)));
        }
        if let Some(bias) = &c.bias
            && non_finite(values(bias.val()))
        {
            return Err(err(format!("{}.bias", conv.name)));
        }
    }
    for (i, bn) in layout.batch_norms.iter().enumerate() {
        let b = net.batch_norm(i);
        for (leaf, t) in [
            ("weight", b.gamma.val()),
            ("bias", b.beta.val()),
            ("running_mean", b.running_mean.value()),
            ("running_var", b.running_var.value()),
        ] {
            if non_finite(values(t)) {
                return Err(err(format!("{}.{leaf}", bn.name)));
            }
        }
    }
    let head = net.head_layer();
    if non_finite(values(head.weight.val())) {
        return Err(err(format!("{}.weight", layout.head)));
    }
    Ok(())
}

fn values<const D: usize>(t: burn::tensor::Tensor<D>) -> Vec<f32> {
    // A float tensor's data converts to f32; an error here would be a backend defect.
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

/// sha256 of a weights file ([`task2vec_common::sha256_file`]), as a probe error naming it.
pub(crate) fn sha256_file(path: &Path) -> Result<String, ProbeError> {
    task2vec_common::sha256_file(path).map_err(|e| ProbeError::Io {
        path: e.path,
        error: e.source,
    })
}

pub(crate) use task2vec_common::sha256_bytes;

/// The data home, `$TASK2VEC_HOME` (default `~/.cache/task2vec`): weights are read from its
/// `probes/` folder, where `cargo xtask fetch-probe` installs them. The rule is
/// [`task2vec_common::home_dir`]'s, shared with the dataset fetcher.
pub fn cache_dir() -> PathBuf {
    task2vec_common::home_dir()
}
