//! Nearest tasks and expert selection.

use ndarray::{Array2, ArrayView1};

use crate::asymmetric::{DEFAULT_ALPHA, asymmetric_cdist_with};
use crate::distance::Metric;
use crate::embedding::{Compatibility, Embedding};
use crate::error::{Error, Result};
use crate::matrix::cdist_with;

/// Indices of the `k` smallest entries of `row`, skipping `exclude`, nearest first
/// (ties broken by index).
pub fn k_smallest(row: ArrayView1<f64>, k: usize, exclude: Option<usize>) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..row.len()).filter(|&j| Some(j) != exclude).collect();
    idx.sort_by(|&a, &b| row[a].total_cmp(&row[b]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// The `k` nearest tasks of task `i` in a square distance matrix (itself excluded).
pub fn k_nearest(matrix: &Array2<f64>, i: usize, k: usize) -> Result<Vec<usize>> {
    if i >= matrix.nrows() {
        return Err(Error::InvalidArgument(format!(
            "task {i} is out of range (matrix has {} rows)",
            matrix.nrows()
        )));
    }
    Ok(k_smallest(matrix.row(i), k, Some(i)))
}

/// How experts are scored against a task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExpertScore {
    /// A symmetric metric `d(expert, task)`.
    Symmetric(Metric),
    /// The paper's `d_asym(expert's task → task)` with this α.
    Asymmetric {
        /// Weight of the expert task's complexity term (the paper: 0.15).
        alpha: f64,
    },
}

impl Default for ExpertScore {
    fn default() -> Self {
        ExpertScore::Asymmetric {
            alpha: DEFAULT_ALPHA,
        }
    }
}

/// One ranked expert.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedExpert {
    /// Index into the experts slice.
    pub index: usize,
    /// Expert (its source task's) name.
    pub name: String,
    /// Its score (lower is better).
    pub distance: f64,
}

/// Rank experts (embeddings of the tasks they were trained on) for `task`, best first.
/// With `exclude_same_task`, experts whose task name equals the task's are skipped (the
/// paper's leave-one-out evaluation). `trivial` is needed by the asymmetric score for
/// embeddings without a prior. `compat` says how much the experts' and the task's provenance
/// must agree ([`Compatibility::Strict`] unless the caller knows better).
pub fn rank_experts(
    task: &Embedding,
    experts: &[Embedding],
    score: ExpertScore,
    trivial: Option<&Embedding>,
    exclude_same_task: bool,
    compat: Compatibility,
) -> Result<Vec<RankedExpert>> {
    if experts.is_empty() {
        return Err(Error::InvalidArgument("no experts to choose from".into()));
    }
    let target = std::slice::from_ref(task);
    let scores = match score {
        ExpertScore::Symmetric(metric) => cdist_with(experts, target, metric, compat)?,
        ExpertScore::Asymmetric { alpha } => {
            asymmetric_cdist_with(experts, target, alpha, trivial, compat)?
        }
    };
    let excluded = |e: &Embedding| {
        exclude_same_task && task.meta().task.is_some() && e.meta().task == task.meta().task
    };
    let mut ranked: Vec<RankedExpert> = experts
        .iter()
        .enumerate()
        .filter(|(_, e)| !excluded(e))
        .map(|(index, e)| RankedExpert {
            index,
            name: e.name().to_string(),
            distance: scores[[index, 0]],
        })
        .collect();
    if ranked.is_empty() {
        return Err(Error::InvalidArgument(
            "every expert was trained on the task itself and was excluded".into(),
        ));
    }
    ranked.sort_by(|a, b| {
        a.distance
            .total_cmp(&b.distance)
            .then(a.index.cmp(&b.index))
    });
    Ok(ranked)
}

/// For each task (row of a `tasks × experts` score matrix) the best expert (argmin), skipping
/// `exclude[t]` (e.g. the expert trained on task `t`) when given.
pub fn select_experts(scores: &Array2<f64>, exclude: &[Option<usize>]) -> Result<Vec<usize>> {
    if !exclude.is_empty() && exclude.len() != scores.nrows() {
        return Err(Error::InvalidArgument(format!(
            "{} exclusions for {} tasks",
            exclude.len(),
            scores.nrows()
        )));
    }
    (0..scores.nrows())
        .map(|t| {
            k_smallest(scores.row(t), 1, exclude.get(t).copied().flatten())
                .first()
                .copied()
                .ok_or_else(|| Error::InvalidArgument(format!("task {t} has no expert left")))
        })
        .collect()
}
