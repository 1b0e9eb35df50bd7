//! The [`Embedding`] type: per-filter Fisher values, prior precision, layer layout, provenance.

use std::collections::BTreeMap;

use ndarray::Array1;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One layer of the probe: its name and how many filters (embedding entries) it contributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSegment {
    /// Layer name as the probe reports it (e.g. `layer1.0.conv1`).
    pub name: String,
    /// Number of filters, i.e. of consecutive embedding entries belonging to this layer.
    pub filters: usize,
}

/// Ordered list of the layers whose filters make up an embedding.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Layout(pub Vec<LayerSegment>);

impl Layout {
    /// A layout from `(name, filter count)` pairs.
    pub fn new<S: Into<String>>(segments: impl IntoIterator<Item = (S, usize)>) -> Self {
        Layout(
            segments
                .into_iter()
                .map(|(name, filters)| LayerSegment {
                    name: name.into(),
                    filters,
                })
                .collect(),
        )
    }

    /// One segment covering all `n` entries, for embeddings imported without a layout.
    pub fn single(name: &str, n: usize) -> Self {
        Layout::new([(name, n)])
    }

    /// Total number of filters (= embedding dimension).
    pub fn dim(&self) -> usize {
        self.0.iter().map(|s| s.filters).sum()
    }

    /// Segments in order.
    pub fn segments(&self) -> &[LayerSegment] {
        &self.0
    }

    /// `(name, start..end)` index range of each layer in the embedding vector.
    pub fn ranges(&self) -> Vec<(&str, std::ops::Range<usize>)> {
        let mut start = 0;
        self.0
            .iter()
            .map(|s| {
                let r = start..start + s.filters;
                start = r.end;
                (s.name.as_str(), r)
            })
            .collect()
    }

    fn validate(&self) -> Result<()> {
        if self.0.is_empty() {
            return Err(Error::BadLayout("no layers".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.0.iter().enumerate() {
            if s.name.is_empty() {
                return Err(Error::BadLayout(format!("layer {i} has an empty name")));
            }
            if s.filters == 0 {
                return Err(Error::BadLayout(format!(
                    "layer {:?} has 0 filters",
                    s.name
                )));
            }
            if !seen.insert(s.name.as_str()) {
                return Err(Error::BadLayout(format!(
                    "layer {:?} appears twice",
                    s.name
                )));
            }
        }
        Ok(())
    }
}

/// The probe network an embedding was computed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeId {
    /// Probe name, e.g. `resnet34`.
    pub name: String,
    /// sha256 (hex) of the probe's weights file.
    pub weights_sha256: String,
}

/// The Fisher estimator and every hyperparameter it ran with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EstimatorInfo {
    /// Estimator name, e.g. `montecarlo`, `variational`.
    pub name: String,
    /// All its options (epochs, batch size, learning rates, ...), as the estimator serialises them.
    #[serde(default)]
    pub hyperparameters: BTreeMap<String, serde_json::Value>,
}

/// What an embedding describes. Distances between different kinds are meaningless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmbeddingKind {
    /// A task embedding: the Fisher of a task head's loss (labels matter).
    Task,
    /// A domain embedding: probe activations alone (labels ignored).
    Domain,
}

impl EmbeddingKind {
    /// The name used in provenance and messages.
    pub fn name(self) -> &'static str {
        match self {
            EmbeddingKind::Task => "task",
            EmbeddingKind::Domain => "domain",
        }
    }
}

/// How much two embeddings' provenance must agree before a distance between them is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compatibility {
    /// Same probe, weights and layout, and — where both record them — the same kind
    /// (task/domain), estimator and input size. The default: a number computed across
    /// estimators or input sizes compares the settings as much as the tasks.
    #[default]
    Strict,
    /// Only the structural rules (same probe, weights and layout), for deliberate comparisons
    /// across estimators, input sizes or kinds (the CLI's `--force`).
    Structural,
}

/// What identifies the data a task was embedded from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetFingerprint {
    /// Number of samples used.
    pub samples: u64,
    /// Number of classes.
    pub classes: u64,
    /// sha256 (hex) of the ordered list of files (or of the manifest) the samples came from.
    pub files_sha256: String,
}

/// Provenance of an embedding (docs/design.md invariant 3). Optional fields are absent when the
/// embedding was imported from elsewhere and the information is unknown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Task name (used as the embedding's label in matrices and plots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Probe network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeId>,
    /// Task or domain embedding (absent in files written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<EmbeddingKind>,
    /// Square input size in pixels the probe ran at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_size: Option<usize>,
    /// Fisher estimator and its hyperparameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimator: Option<EstimatorInfo>,
    /// The one user seed every random stream derives from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Number of probe layers skipped (features cached below them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_layers: Option<usize>,
    /// Data fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetFingerprint>,
    /// Version of the crate that wrote the embedding.
    pub crate_version: String,
    /// Anything else a producer wants to record (open for estimator-specific options).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Default for Provenance {
    fn default() -> Self {
        Provenance {
            task: None,
            probe: None,
            kind: None,
            input_size: None,
            estimator: None,
            seed: None,
            skip_layers: None,
            dataset: None,
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            extra: BTreeMap::new(),
        }
    }
}

/// A Task2Vec embedding: the diagonal Fisher information of a probe's filters for one task.
///
/// Invariants (checked by [`Embedding::new`] and when reading files): non-empty; `hessian`
/// finite and >= 0; `scale` finite and > 0; both as long as `layout.dim()`; layout names unique.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    hessian: Array1<f64>,
    scale: Array1<f64>,
    layout: Layout,
    meta: Provenance,
}

impl Embedding {
    /// Build and validate an embedding. `scale` is the per-filter prior precision (1/λ²);
    /// pass `None` for estimators without a prior (Monte-Carlo), which means all ones.
    pub fn new(
        hessian: impl Into<Array1<f64>>,
        scale: Option<Array1<f64>>,
        layout: Layout,
        meta: Provenance,
    ) -> Result<Self> {
        let hessian = hessian.into();
        if hessian.is_empty() {
            return Err(Error::Empty);
        }
        let scale = scale.unwrap_or_else(|| Array1::ones(hessian.len()));
        layout.validate()?;
        if hessian.len() != layout.dim() {
            return Err(Error::LengthMismatch {
                what: "hessian",
                found: hessian.len(),
                expected: layout.dim(),
            });
        }
        if scale.len() != hessian.len() {
            return Err(Error::LengthMismatch {
                what: "scale",
                found: scale.len(),
                expected: hessian.len(),
            });
        }
        for (index, &value) in hessian.iter().enumerate() {
            if !value.is_finite() {
                return Err(Error::NonFinite {
                    what: "hessian",
                    index,
                    value,
                });
            }
            if value < 0.0 {
                return Err(Error::NegativeFisher { index, value });
            }
        }
        if hessian.iter().all(|&h| h == 0.0) {
            // Every distance of an all-zero embedding is 0/0: reject it here, once.
            return Err(Error::AllZero);
        }
        for (index, &value) in scale.iter().enumerate() {
            if !value.is_finite() {
                return Err(Error::NonFinite {
                    what: "scale",
                    index,
                    value,
                });
            }
            if value <= 0.0 {
                return Err(Error::NonPositiveScale { index, value });
            }
        }
        Ok(Embedding {
            hessian,
            scale,
            layout,
            meta,
        })
    }

    /// Convenience: an embedding with one layer segment and no prior.
    pub fn from_hessian(hessian: Vec<f64>, meta: Provenance) -> Result<Self> {
        let n = hessian.len();
        Embedding::new(Array1::from(hessian), None, Layout::single("all", n), meta)
    }

    /// Per-filter Fisher values.
    pub fn hessian(&self) -> &Array1<f64> {
        &self.hessian
    }
    /// Per-filter prior precision (ones when the estimator has no prior).
    pub fn scale(&self) -> &Array1<f64> {
        &self.scale
    }
    /// Layer layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    /// Provenance.
    pub fn meta(&self) -> &Provenance {
        &self.meta
    }
    /// Mutable provenance (e.g. to set the task name after import).
    pub fn meta_mut(&mut self) -> &mut Provenance {
        &mut self.meta
    }
    /// Embedding dimension (number of filters).
    pub fn dim(&self) -> usize {
        self.hessian.len()
    }
    /// The task name, or `"?"` when none is recorded.
    pub fn name(&self) -> &str {
        self.meta.task.as_deref().unwrap_or("?")
    }
    /// Whether the estimator recorded a prior (some scale differs from 1), as the variational
    /// estimator does. Only then is the trivial embedding defined by the embedding itself.
    pub fn has_prior(&self) -> bool {
        self.scale.iter().any(|&s| s != 1.0)
    }

    /// Check that `self` and `other` can be compared under [`Compatibility::Strict`].
    pub fn check_comparable(&self, other: &Embedding) -> Result<()> {
        self.check_comparable_with(other, Compatibility::Strict)
    }

    /// Check that `self` and `other` can be compared: always (and first) the same probe (when
    /// both record one) and layout; under [`Compatibility::Strict`] also the same kind, estimator and input
    /// size wherever both embeddings record them (an embedding that records nothing, e.g. one
    /// imported from the reference code, is not refused for what it does not say).
    pub fn check_comparable_with(&self, other: &Embedding, compat: Compatibility) -> Result<()> {
        let incompatible = |reason: String| Error::Incompatible {
            a: self.name().to_string(),
            b: other.name().to_string(),
            reason,
        };
        if let (Some(pa), Some(pb)) = (&self.meta.probe, &other.meta.probe)
            && pa != pb
        {
            return Err(incompatible(format!(
                "different probes ({} sha256 {} vs {} sha256 {})",
                pa.name, pa.weights_sha256, pb.name, pb.weights_sha256
            )));
        }
        if self.dim() != other.dim() {
            return Err(incompatible(format!(
                "different dimensions ({} vs {})",
                self.dim(),
                other.dim()
            )));
        }
        if self.layout != other.layout {
            let first = self
                .layout
                .0
                .iter()
                .zip(&other.layout.0)
                .position(|(a, b)| a != b)
                .unwrap_or(self.layout.0.len().min(other.layout.0.len()));
            return Err(incompatible(format!(
                "different layouts (first difference at layer {first}: {:?} vs {:?})",
                self.layout.0.get(first),
                other.layout.0.get(first)
            )));
        }
        if compat == Compatibility::Strict {
            let (ma, mb) = (&self.meta, &other.meta);
            let settings = |what: &str, a: String, b: String| Error::MixedSettings {
                a: self.name().to_string(),
                b: other.name().to_string(),
                what: what.to_string(),
                values: format!("{a} vs {b}"),
            };
            if let (Some(ka), Some(kb)) = (ma.kind, mb.kind)
                && ka != kb
            {
                return Err(settings(
                    "kind (task vs domain embedding)",
                    ka.name().into(),
                    kb.name().into(),
                ));
            }
            if let (Some(ea), Some(eb)) = (&ma.estimator, &mb.estimator)
                && ea.name != eb.name
            {
                return Err(settings("estimator", ea.name.clone(), eb.name.clone()));
            }
            if let (Some(sa), Some(sb)) = (ma.input_size, mb.input_size)
                && sa != sb
            {
                return Err(settings("input size", format!("{sa}²"), format!("{sb}²")));
            }
        }
        Ok(())
    }
}
