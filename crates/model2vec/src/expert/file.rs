//! The expert file: a safetensors file (readable with Python's `safetensors`) holding only what
//! fine-tuning changed — the tail's tensors under the probe's layer names (`<conv>.weight`,
//! `<conv>.bias`, `<bn>.gamma`, `<bn>.beta`) and the source classifier (`classifier.weight`,
//! `classifier.bias`) — with the provenance in the header's metadata: `task2vec.expert` is
//! [`ExpertMeta`] as JSON, `task2vec.source_embedding` the source task's embedding (the
//! embedding crate's JSON) when attached. Written atomically.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use task2vec_embedding::Embedding;
use task2vec_fisher::estimator::host_f32;
use task2vec_fisher::head::LinearHead;

use super::tail::{BnParams, ConvParams, TailParams};
use super::{Expert, ExpertError, ExpertMeta, Result};

/// Version of the file layout; bumped on any incompatible change.
pub(crate) const FORMAT_VERSION: u32 = 1;
const META_KEY: &str = "task2vec.expert";
const EMBEDDING_KEY: &str = "task2vec.source_embedding";
/// An expert file is tens of MB at most (EfficientNet-Lite0's whole conv stack is 13 MB);
/// anything far larger is not one.
const MAX_FILE_BYTES: u64 = 1 << 30;

/// Host copy of one tensor: name, shape, values.
struct HostTensor {
    name: String,
    shape: Vec<usize>,
    values: Vec<f32>,
}

impl Expert {
    /// Writes the expert (atomically: a killed run leaves the previous file or none).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors = Vec::new();
        let names: BTreeMap<usize, &str> = self
            .meta
            .convs
            .iter()
            .map(|(i, n)| (*i, n.as_str()))
            .collect();
        for (i, c) in &self.tail.convs {
            let name = names.get(i).copied().unwrap_or("conv");
            tensors.push(host(format!("{name}.weight"), c.weight.clone())?);
            if let Some(b) = &c.bias {
                tensors.push(host(format!("{name}.bias"), b.clone())?);
            }
        }
        let bn_names: BTreeMap<usize, &str> = self
            .meta
            .batch_norms
            .iter()
            .map(|(i, n)| (*i, n.as_str()))
            .collect();
        for (i, b) in &self.tail.bns {
            let name = bn_names.get(i).copied().unwrap_or("bn");
            tensors.push(host(format!("{name}.gamma"), b.gamma.clone())?);
            tensors.push(host(format!("{name}.beta"), b.beta.clone())?);
        }
        tensors.push(HostTensor {
            name: "classifier.weight".into(),
            shape: vec![self.classifier.classes, self.classifier.dim],
            values: self.classifier.weight.clone(),
        });
        tensors.push(HostTensor {
            name: "classifier.bias".into(),
            shape: vec![self.classifier.classes],
            values: self.classifier.bias.clone(),
        });
        let bytes: Vec<Vec<u8>> = tensors
            .iter()
            .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .zip(&bytes)
            .map(|(t, b)| {
                let view = TensorView::new(Dtype::F32, t.shape.clone(), b)
                    .expect("shape and byte count agree by construction");
                (t.name.clone(), view)
            })
            .collect();
        let mut metadata = HashMap::new();
        metadata.insert(
            META_KEY.to_string(),
            serde_json::to_string(&self.meta).expect("ExpertMeta serialises"),
        );
        if let Some(e) = &self.source_embedding {
            metadata.insert(EMBEDDING_KEY.to_string(), e.to_json());
        }
        let file =
            safetensors::serialize(views, Some(metadata)).map_err(|e| ExpertError::Format {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        task2vec_common::write_file_atomic(path, &file)?;
        Ok(())
    }

    /// Reads an expert file onto `device`. Everything is checked against the provenance (every
    /// listed layer present with a consistent shape, finite values); a bad file is an error that
    /// names it, never a panic.
    pub fn load(path: &Path, device: &Device) -> Result<Expert> {
        let bad = |reason: String| ExpertError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let len = std::fs::metadata(path)
            .map_err(|e| file_error(path, e))?
            .len();
        if len > MAX_FILE_BYTES {
            return Err(bad(format!("{len} bytes is too large for an expert")));
        }
        let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
        let (_, header) =
            SafeTensors::read_metadata(&bytes).map_err(|e| bad(format!("not safetensors: {e}")))?;
        let info = header
            .metadata()
            .as_ref()
            .ok_or_else(|| bad("no metadata: not an expert file".into()))?;
        let meta_json = info
            .get(META_KEY)
            .ok_or_else(|| bad(format!("no `{META_KEY}` metadata: not an expert file")))?;
        let meta: ExpertMeta = serde_json::from_str(meta_json)
            .map_err(|e| bad(format!("`{META_KEY}` metadata: {e}")))?;
        if meta.format != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {} (this build reads {FORMAT_VERSION})",
                meta.format
            )));
        }
        let source_embedding = match info.get(EMBEDDING_KEY) {
            Some(text) => Some(
                Embedding::from_json(text)
                    .map_err(|e| bad(format!("`{EMBEDDING_KEY}` metadata: {e}")))?,
            ),
            None => None,
        };
        let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let read = |name: &str, rank: usize| -> Result<(Vec<usize>, Vec<f32>)> {
            let view = st
                .tensor(name)
                .map_err(|_| bad(format!("tensor `{name}` is missing")))?;
            if view.dtype() != Dtype::F32 {
                return Err(bad(format!(
                    "tensor `{name}` is {:?}, not F32",
                    view.dtype()
                )));
            }
            if view.shape().len() != rank {
                return Err(bad(format!(
                    "tensor `{name}` has shape {:?}, expected rank {rank}",
                    view.shape()
                )));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if let Some(v) = values.iter().find(|v| !v.is_finite()) {
                return Err(bad(format!("tensor `{name}` holds {v}")));
            }
            Ok((view.shape().to_vec(), values))
        };
        let mut tail = TailParams::default();
        for (i, name) in &meta.convs {
            let (shape, values) = read(&format!("{name}.weight"), 4)?;
            let weight = Tensor::<4>::from_data(
                TensorData::new(values, [shape[0], shape[1], shape[2], shape[3]]),
                device,
            );
            let bias_name = format!("{name}.bias");
            let bias = if st.names().contains(&bias_name.as_str()) {
                let (bshape, values) = read(&bias_name, 1)?;
                if bshape[0] != shape[0] {
                    return Err(bad(format!(
                        "`{bias_name}` has {} values for {} filters",
                        bshape[0], shape[0]
                    )));
                }
                Some(Tensor::<1>::from_data(
                    TensorData::new(values, bshape),
                    device,
                ))
            } else {
                None
            };
            tail.convs.insert(*i, ConvParams { weight, bias });
        }
        for (i, name) in &meta.batch_norms {
            let (gshape, gamma) = read(&format!("{name}.gamma"), 1)?;
            let (bshape, beta) = read(&format!("{name}.beta"), 1)?;
            if gshape != bshape {
                return Err(bad(format!("`{name}` γ and β differ in shape")));
            }
            tail.bns.insert(
                *i,
                BnParams {
                    gamma: Tensor::<1>::from_data(TensorData::new(gamma, gshape), device),
                    beta: Tensor::<1>::from_data(TensorData::new(beta, bshape), device),
                },
            );
        }
        let (wshape, weight) = read("classifier.weight", 2)?;
        let (bshape, bias) = read("classifier.bias", 1)?;
        if bshape[0] != wshape[0] || wshape[0] != meta.source_classes.len() {
            return Err(bad(format!(
                "classifier is {wshape:?} + {bshape:?} for {} source classes",
                meta.source_classes.len()
            )));
        }
        let classifier = LinearHead {
            classes: wshape[0],
            dim: wshape[1],
            weight,
            bias,
        };
        Ok(Expert {
            meta,
            tail,
            classifier,
            source_embedding,
        })
    }
}

fn host<const D: usize>(name: String, t: Tensor<D>) -> Result<HostTensor> {
    let shape = t.dims().to_vec();
    let values = host_f32(t)?;
    Ok(HostTensor {
        name,
        shape,
        values,
    })
}

fn file_error(path: &Path, source: std::io::Error) -> task2vec_common::FileError {
    task2vec_common::FileError {
        path: path.to_path_buf(),
        source,
    }
}
