//! The paper's trivial embedding, asymmetric distance and task complexity.
//!
//! Convention (docs/reference.md §7): in `d_asym(a → b) = d_sym(a, b) − α·d_sym(a, t₀)`, **`a` is the
//! source** — the task an expert was trained on — and **`b` the target** task we want to solve.
//! Subtracting the source's complexity favours experts trained on richer tasks, which transfer
//! better. `d_sym` is the `cosine` metric (the paper's symmetric distance); α = 0.15 for
//! ResNet-34 in the paper.
//!
//! The trivial embedding `t₀` is the embedding of a task with no information: for estimators
//! with a prior (variational; `scale` ≠ 1) it is the prior itself, `hessian := scale`. A
//! Monte-Carlo embedding has no prior, so the caller must supply `t₀` (e.g. the embedding of
//! the probe's own pre-training task); without one these functions return
//! [`Error::NoTrivialEmbedding`].

use ndarray::{Array1, Array2};

use crate::distance::{Metric, distance_with};
use crate::embedding::{Compatibility, Embedding, Provenance};
use crate::error::{Error, Result};
use crate::matrix::{cdist_with, pdist_with};

/// α of the paper (ResNet-34).
pub const DEFAULT_ALPHA: f64 = 0.15;

/// The symmetric distance the asymmetric score is built on.
pub const SYMMETRIC_METRIC: Metric = Metric::Cosine;

/// Trivial embedding of `e`: `supplied` when given, else `e`'s prior (`hessian := scale`).
/// A supplied t₀ is made by whatever estimator defines "no task" (typically the variational
/// prior), so only the structural rules apply to it ([`Compatibility::Structural`]).
pub fn trivial_embedding(e: &Embedding, supplied: Option<&Embedding>) -> Result<Embedding> {
    if let Some(t0) = supplied {
        e.check_comparable_with(t0, Compatibility::Structural)?;
        return Ok(t0.clone());
    }
    if !e.has_prior() {
        return Err(Error::NoTrivialEmbedding {
            name: e.name().to_string(),
        });
    }
    let meta = Provenance {
        task: Some(format!("trivial({})", e.name())),
        ..e.meta().clone()
    };
    Embedding::new(
        e.scale().clone(),
        Some(e.scale().clone()),
        e.layout().clone(),
        meta,
    )
}

/// Complexity of a task: `d_sym(t, t₀)`, its distance from the trivial embedding.
pub fn complexity(e: &Embedding, trivial: Option<&Embedding>) -> Result<f64> {
    distance_with(
        e,
        &trivial_embedding(e, trivial)?,
        SYMMETRIC_METRIC,
        Compatibility::Structural,
    )
}

/// Complexities of many embeddings.
pub fn complexities(embeddings: &[Embedding], trivial: Option<&Embedding>) -> Result<Array1<f64>> {
    embeddings.iter().map(|e| complexity(e, trivial)).collect()
}

/// `‖hessian‖₁`, the embedding norm the paper relates to task difficulty.
pub fn l1_norm(e: &Embedding) -> f64 {
    e.hessian().iter().map(|h| h.abs()).sum()
}

/// `‖hessian‖₁` of each layer, in layout order.
pub fn l1_norm_per_layer(e: &Embedding) -> Vec<(String, f64)> {
    e.layout()
        .ranges()
        .into_iter()
        .map(|(name, r)| {
            (
                name.to_string(),
                e.hessian()
                    .slice(ndarray::s![r])
                    .iter()
                    .map(|h| h.abs())
                    .sum(),
            )
        })
        .collect()
}

/// `d_asym(source → target)`, refusing embeddings not comparable under
/// [`Compatibility::Strict`].
pub fn asymmetric_distance(
    source: &Embedding,
    target: &Embedding,
    alpha: f64,
    trivial: Option<&Embedding>,
) -> Result<f64> {
    asymmetric_distance_with(source, target, alpha, trivial, Compatibility::Strict)
}

/// [`asymmetric_distance`] with an explicit [`Compatibility`] rule between source and target.
pub fn asymmetric_distance_with(
    source: &Embedding,
    target: &Embedding,
    alpha: f64,
    trivial: Option<&Embedding>,
    compat: Compatibility,
) -> Result<f64> {
    Ok(distance_with(source, target, SYMMETRIC_METRIC, compat)?
        - alpha * complexity(source, trivial)?)
}

/// `D[i][j] = d_asym(e_i → e_j)`: rows are sources, columns targets. The diagonal is
/// `−α·complexity(e_i)`, not 0.
pub fn asymmetric_pdist(
    embeddings: &[Embedding],
    alpha: f64,
    trivial: Option<&Embedding>,
) -> Result<Array2<f64>> {
    asymmetric_pdist_with(embeddings, alpha, trivial, Compatibility::Strict)
}

/// [`asymmetric_pdist`] with an explicit [`Compatibility`] rule between the embeddings.
pub fn asymmetric_pdist_with(
    embeddings: &[Embedding],
    alpha: f64,
    trivial: Option<&Embedding>,
    compat: Compatibility,
) -> Result<Array2<f64>> {
    let c = complexities(embeddings, trivial)?;
    let mut d = pdist_with(embeddings, SYMMETRIC_METRIC, compat)?;
    for (mut row, ci) in d.rows_mut().into_iter().zip(c.iter()) {
        row.mapv_inplace(|v| v - alpha * ci);
    }
    Ok(d)
}

/// `D[i][j] = d_asym(source_i → target_j)`.
pub fn asymmetric_cdist(
    sources: &[Embedding],
    targets: &[Embedding],
    alpha: f64,
    trivial: Option<&Embedding>,
) -> Result<Array2<f64>> {
    asymmetric_cdist_with(sources, targets, alpha, trivial, Compatibility::Strict)
}

/// [`asymmetric_cdist`] with an explicit [`Compatibility`] rule between sources and targets.
pub fn asymmetric_cdist_with(
    sources: &[Embedding],
    targets: &[Embedding],
    alpha: f64,
    trivial: Option<&Embedding>,
    compat: Compatibility,
) -> Result<Array2<f64>> {
    let c = complexities(sources, trivial)?;
    let mut d = cdist_with(sources, targets, SYMMETRIC_METRIC, compat)?;
    for (mut row, ci) in d.rows_mut().into_iter().zip(c.iter()) {
        row.mapv_inplace(|v| v - alpha * ci);
    }
    Ok(d)
}
