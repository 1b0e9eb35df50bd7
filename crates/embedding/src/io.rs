//! Reading and writing embeddings (versioned JSON) and arrays (`.npy`, numpy-compatible).
//! Every writer is atomic: it writes a temporary file in the target directory and renames it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use ndarray::{Array1, Array2};
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};
use serde::{Deserialize, Serialize};

use crate::embedding::{Embedding, Layout, Provenance};
use crate::error::{Error, Result};

/// The JSON format version this build writes, and the newest it reads.
pub const FORMAT_VERSION: u64 = 1;

#[derive(Serialize)]
struct EmbeddingFileOut<'a> {
    format_version: u64,
    layout: &'a Layout,
    hessian: &'a [f64],
    scale: &'a [f64],
    meta: &'a Provenance,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddingFileIn {
    #[allow(dead_code)] // checked before the typed parse
    format_version: u64,
    layout: Layout,
    hessian: Vec<f64>,
    scale: Vec<f64>,
    meta: Provenance,
}

impl Embedding {
    /// Serialise to the versioned JSON format.
    pub fn to_json(&self) -> String {
        let out = EmbeddingFileOut {
            format_version: FORMAT_VERSION,
            layout: self.layout(),
            hessian: self
                .hessian()
                .as_slice()
                .expect("owned 1-D arrays are contiguous"),
            scale: self
                .scale()
                .as_slice()
                .expect("owned 1-D arrays are contiguous"),
            meta: self.meta(),
        };
        serde_json::to_string(&out).expect("an embedding always serialises")
    }

    /// Parse the versioned JSON format, validating the result like [`Embedding::new`].
    pub fn from_json(text: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            if e.is_eof() {
                Error::TruncatedJson(e.to_string())
            } else {
                Error::BadJson(e.to_string())
            }
        })?;
        let version = match value.get("format_version") {
            None => {
                return Err(Error::BadJson(
                    "no `format_version` field (is this a task2vec embedding?)".into(),
                ));
            }
            Some(v) => v.as_u64().ok_or_else(|| {
                Error::BadJson(format!("`format_version` is {v}, not an integer"))
            })?,
        };
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let file: EmbeddingFileIn =
            serde_json::from_value(value).map_err(|e| Error::BadJson(e.to_string()))?;
        check_layout_total(&file.layout)?;
        Embedding::new(
            Array1::from(file.hessian),
            Some(Array1::from(file.scale)),
            file.layout,
            file.meta,
        )
    }

    /// Read an embedding JSON file. Errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io(e).in_file(path))?;
        Embedding::from_json(&text).map_err(|e| e.in_file(path))
    }

    /// Write an embedding JSON file atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let json = self.to_json();
        write_atomic(path.as_ref(), |w| {
            w.write_all(json.as_bytes()).map_err(Error::Io)
        })
    }
}

/// Write a file atomically ([`task2vec_common::write_atomic`]: a temporary file next to `path`,
/// fsynced, then renamed over it). A crash or an error never leaves a half-written file behind;
/// errors name `path`.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<&mut File>) -> Result<()>,
) -> Result<()> {
    task2vec_common::write_atomic(path, fill).map_err(|e: Error| e.in_file(path))
}

/// Write a vector as `.npy` (float64), atomically.
pub fn write_vector_npy(path: impl AsRef<Path>, v: &Array1<f64>) -> Result<()> {
    write_atomic(path.as_ref(), |w| {
        v.write_npy(w).map_err(|e| Error::Npy(e.to_string()))
    })
}

/// Write a matrix as `.npy` (float64, C order), atomically.
pub fn write_matrix_npy(path: impl AsRef<Path>, m: &Array2<f64>) -> Result<()> {
    write_atomic(path.as_ref(), |w| {
        m.write_npy(w).map_err(|e| Error::Npy(e.to_string()))
    })
}

/// Read a float array of any dtype we accept (float64 or float32, widened).
fn read_npy_f64<D: ndarray::Dimension>(path: &Path) -> Result<ndarray::Array<f64, D>>
where
    ndarray::Array<f64, D>: ReadNpyExt,
    ndarray::Array<f32, D>: ReadNpyExt,
{
    let inner = || -> Result<ndarray::Array<f64, D>> {
        let bytes = std::fs::read(path)?;
        check_npy_lengths(&bytes)?;
        match ndarray::Array::<f64, D>::read_npy(&bytes[..]) {
            Ok(a) => Ok(a),
            Err(ReadNpyError::WrongDescriptor(_)) => {
                match ndarray::Array::<f32, D>::read_npy(&bytes[..]) {
                    Ok(a) => Ok(a.mapv(f64::from)),
                    Err(ReadNpyError::WrongDescriptor(d)) => {
                        Err(Error::Npy(format!("dtype {d} is not float64 or float32")))
                    }
                    Err(e) => Err(Error::Npy(e.to_string())),
                }
            }
            Err(e) => Err(Error::Npy(e.to_string())),
        }
    };
    inner().map_err(|e| e.in_file(path))
}

/// Filter counts read from a file must add up without overflow: `Layout::dim` would panic
/// (debug) or wrap (release: `[2^64 - 1, 5]` would pass as 4 filters).
fn check_layout_total(layout: &Layout) -> Result<()> {
    layout
        .segments()
        .iter()
        .try_fold(0usize, |total, s| total.checked_add(s.filters))
        .map(|_| ())
        .ok_or_else(|| Error::BadLayout("the filter counts add up to more than 2^64".into()))
}

/// ndarray-npy allocates what a `.npy` header claims (its own length, then the array's)
/// before reading it: check both claims against the bytes the file holds first, so that a
/// 100-byte file claiming 2^32 values is an error, not a 32 GiB allocation.
fn check_npy_lengths(bytes: &[u8]) -> Result<()> {
    let truncated = |what: String| Err(Error::Npy(format!("truncated: {what}")));
    // Magic (6), version (2), header length (u16 in version 1, u32 after).
    let (len_bytes, header_len) = match bytes.get(6) {
        Some(1) if bytes.len() >= 10 => (2, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        Some(2 | 3) if bytes.len() >= 12 => (
            4,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        ),
        // Too short or an unknown version: ndarray-npy's message says which.
        _ => return Ok(()),
    };
    let data_start = 8 + len_bytes;
    let held = bytes.len() - data_start;
    if header_len > held {
        return truncated(format!(
            "the header claims {header_len} bytes, {held} follow"
        ));
    }
    let header = ndarray_npy::npy::header::Header::from_reader(&mut &bytes[..])
        .map_err(|e| Error::Npy(e.to_string()))?;
    let data = bytes.len() - data_start - header_len;
    // 4 bytes is the smallest item we accept (float32); a wider dtype is checked on reading.
    let claimed = header
        .shape
        .iter()
        .try_fold(4usize, |acc, &d| acc.checked_mul(d));
    match claimed {
        Some(c) if c <= data => Ok(()),
        _ => truncated(format!(
            "shape {:?} needs more than the {data} data bytes the file holds",
            header.shape
        )),
    }
}

/// Read a 1-D `.npy` of float64 or float32 values.
pub fn read_vector_npy(path: impl AsRef<Path>) -> Result<Array1<f64>> {
    read_npy_f64(path.as_ref())
}

/// Read a 2-D `.npy` of float64 or float32 values.
pub fn read_matrix_npy(path: impl AsRef<Path>) -> Result<Array2<f64>> {
    read_npy_f64(path.as_ref())
}

/// Read a layout JSON file: a list of `{"name": ..., "filters": ...}` objects.
pub fn read_layout(path: impl AsRef<Path>) -> Result<Layout> {
    let path = path.as_ref();
    let inner = || -> Result<Layout> {
        let text = std::fs::read_to_string(path)?;
        let layout = serde_json::from_str(&text).map_err(|e| {
            if e.is_eof() {
                Error::TruncatedJson(e.to_string())
            } else {
                Error::BadJson(format!(
                    "expected a layout: a list of {{\"name\", \"filters\"}} objects ({e})"
                ))
            }
        })?;
        check_layout_total(&layout)?;
        Ok(layout)
    };
    inner().map_err(|e| e.in_file(path))
}

/// Build an embedding from `.npy` files written by numpy (e.g. by the reference PyTorch code):
/// `hessian` and optional `scale` vectors, optional layout (one segment `all` otherwise).
pub fn import_npy(
    hessian: impl AsRef<Path>,
    scale: Option<&Path>,
    layout: Option<&Path>,
    meta: Provenance,
) -> Result<Embedding> {
    let hessian_path = hessian.as_ref();
    let h = read_vector_npy(hessian_path)?;
    let s = scale.map(read_vector_npy).transpose()?;
    let layout_path = layout;
    let layout = match layout_path {
        Some(p) => read_layout(p)?,
        None => Layout::single("all", h.len()),
    };
    // Attribute the problem to the file most likely at fault.
    Embedding::new(h, s, layout, meta).map_err(|e| {
        let culprit = match (&e, scale, layout_path) {
            (Error::LengthMismatch { what: "scale", .. }, Some(s), _)
            | (Error::NonFinite { what: "scale", .. }, Some(s), _)
            | (Error::NonPositiveScale { .. }, Some(s), _) => s,
            (Error::BadLayout(_), _, Some(l)) => l,
            _ => hessian_path,
        };
        e.in_file(culprit)
    })
}

/// Expand a list of embedding paths: directories become their `*.json` files (sorted by name).
pub fn expand_embedding_paths(paths: &[std::path::PathBuf]) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(p)
                .map_err(|e| Error::Io(e).in_file(p))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
                })
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(Error::InvalidArgument(
                    "no *.json embeddings in this directory".into(),
                )
                .in_file(p));
            }
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Load many embeddings (in parallel). Directories expand to their `*.json` files. An
/// embedding without a task name is named after its file stem. Duplicate names are an error,
/// since names label matrix rows.
pub fn load_embeddings(paths: &[std::path::PathBuf]) -> Result<Vec<Embedding>> {
    use rayon::prelude::*;
    let files = expand_embedding_paths(paths)?;
    let embeddings: Vec<Embedding> = files
        .par_iter()
        .map(|f| {
            let mut e = Embedding::load(f)?;
            if e.meta().task.is_none() {
                let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned());
                e.meta_mut().task = stem;
            }
            Ok(e)
        })
        .collect::<Result<_>>()?;
    let mut seen = std::collections::HashMap::new();
    for (e, f) in embeddings.iter().zip(&files) {
        if let Some(prev) = seen.insert(e.name().to_string(), f) {
            return Err(Error::InvalidArgument(format!(
                "two embeddings are named {:?} ({} and {}); give them distinct task names",
                e.name(),
                prev.display(),
                f.display()
            )));
        }
    }
    Ok(embeddings)
}
