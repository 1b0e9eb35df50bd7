//! The paper's experiments computed from finished embeddings: E1 (clustered distance matrix),
//! E2 (neighbours vs taxonomy), E3 (complexity vs difficulty), E4 (task vs domain embeddings).
//! Pure functions over [`TaskResult`]s so that they are testable without any network. The
//! statistics themselves (Mantel test, top-k curves, unit-mean normalisation) live in
//! task2vec-embedding; this file only decides which ones the report shows.
use anyhow::{Context, Result, ensure};
use ndarray::Array2;
use task2vec_embedding::normalize::unit_mean;
use task2vec_embedding::stats::{self, Mantel, upper_triangle};
use task2vec_embedding::{Embedding, Metric, pdist};

/// Everything the report needs about one embedded task.
#[derive(Debug, Clone)]
pub struct TaskResult {
    pub id: String,
    /// Ancestors, root first (the suite's `taxonomy`).
    pub taxonomy: Vec<String>,
    pub embedding: Embedding,
    pub domain: Embedding,
    /// The paper's domain baseline: the mean pooled penultimate features.
    pub domain_features: Embedding,
    /// Held-out error of a linear probe on the probe's features (E3's difficulty).
    pub probe_error: f64,
    /// sha256 over the task's image list, labels ignored: equal for tasks that share images.
    pub images_sha256: String,
    pub samples: usize,
    pub classes: usize,
    pub seconds: f64,
}

/// Taxonomic distance of two tasks ([`task2vec_common::taxonomic_distance`], lineages root
/// first), as f64 for the matrices.
pub fn taxonomic_distance(a: &[String], b: &[String]) -> f64 {
    task2vec_common::taxonomic_distance(a, b) as f64
}

pub fn taxonomy_matrix(tasks: &[TaskResult]) -> Array2<f64> {
    let n = tasks.len();
    Array2::from_shape_fn((n, n), |(i, j)| {
        taxonomic_distance(&tasks[i].taxonomy, &tasks[j].taxonomy)
    })
}

/// E2: the average top-k taxonomic distance of each task's nearest tasks, for k = 1..n-1, under
/// several rankings of the neighbours, with the two baselines.
#[derive(Debug, Clone)]
pub struct TopK {
    pub k: Vec<usize>,
    /// Neighbours by the taxonomy itself (the best any distance can do).
    pub oracle: Vec<f64>,
    /// Expected value for uniformly random neighbours (exact, not sampled).
    pub random: Vec<f64>,
    /// The rankings compared; the first is the paper's Task2Vec distance.
    pub rankings: Vec<Ranking>,
}

/// Neighbours ranked by one distance matrix: the top-k curve and the Mantel test.
#[derive(Debug, Clone)]
pub struct Ranking {
    pub name: &'static str,
    pub curve: Vec<f64>,
    pub mantel: Mantel,
}

/// The baselines of E2 (random neighbours, the taxonomy itself); rankings are added by
/// [`rank`].
pub fn top_k_baselines(taxonomy: &Array2<f64>) -> Result<TopK> {
    let n = taxonomy.nrows();
    ensure!(n >= 3, "E2 needs at least 3 tasks, got {n}");
    let k: Vec<usize> = (1..n).collect();
    Ok(TopK {
        // Ties in the taxonomy are broken by index; any order among equals gives the same mean.
        oracle: stats::top_k_curve(taxonomy, taxonomy)?,
        random: vec![stats::random_top_k_baseline(taxonomy)?; k.len()],
        k,
        rankings: Vec::new(),
    })
}

/// Ranks neighbours by `distances`: the top-k curve and the Mantel test against the taxonomy.
pub fn rank(
    name: &'static str,
    distances: &Array2<f64>,
    taxonomy: &Array2<f64>,
    seed: u64,
) -> Result<Ranking> {
    Ok(Ranking {
        name,
        curve: stats::top_k_curve(distances, taxonomy)?,
        mantel: stats::mantel(
            distances,
            taxonomy,
            stats::spearman,
            MANTEL_PERMUTATIONS,
            seed,
        )?,
    })
}

/// Permutations of each Mantel test: p-values down to 0.001.
const MANTEL_PERMUTATIONS: usize = 999;

/// E3: complexity measures against the linear-probe error.
#[derive(Debug, Clone)]
pub struct Complexity {
    pub l1_norm: Vec<f64>,
    /// d_sym(t, t0) where a trivial embedding exists (embeddings with a prior), else None.
    pub to_trivial: Option<Vec<f64>>,
    /// `None` where a correlation is undefined (a constant sample: e.g. every task's held-out
    /// error is 0), which REPORT.md says instead of failing the whole run.
    pub pearson_norm: Option<f64>,
    pub spearman_norm: Option<f64>,
    pub spearman_trivial: Option<f64>,
}

/// `corr(x, y)`, or `None` when either sample is constant (the correlation is undefined).
fn correlation_if_defined(
    corr: fn(&[f64], &[f64]) -> task2vec_embedding::Result<f64>,
    x: &[f64],
    y: &[f64],
) -> Result<Option<f64>> {
    let constant = |v: &[f64]| v.iter().all(|&a| a == v[0]);
    if x.is_empty() || constant(x) || constant(y) {
        return Ok(None);
    }
    Ok(Some(corr(x, y)?))
}

pub fn complexity(tasks: &[TaskResult]) -> Result<Complexity> {
    use task2vec_embedding::asymmetric::{complexity as to_trivial, l1_norm};
    let l1: Vec<f64> = tasks.iter().map(|t| l1_norm(&t.embedding)).collect();
    let error: Vec<f64> = tasks.iter().map(|t| t.probe_error).collect();
    let to_trivial: Option<Vec<f64>> = if tasks.iter().all(|t| t.embedding.has_prior()) {
        Some(
            tasks
                .iter()
                .map(|t| to_trivial(&t.embedding, None))
                .collect::<Result<_, _>>()?,
        )
    } else {
        None
    };
    let spearman_trivial = match &to_trivial {
        Some(d) => correlation_if_defined(stats::spearman, d, &error)?,
        None => None,
    };
    Ok(Complexity {
        pearson_norm: correlation_if_defined(stats::pearson, &l1, &error)?,
        spearman_norm: correlation_if_defined(stats::spearman, &l1, &error)?,
        spearman_trivial,
        l1_norm: l1,
        to_trivial,
    })
}

/// E4: for every pair of tasks on the same images, the task- and domain-embedding distances,
/// each relative to the median distance over all pairs of the same kind of embedding.
#[derive(Debug, Clone)]
pub struct SharedImagesPair {
    pub a: String,
    pub b: String,
    pub task_distance: f64,
    pub domain_distance: f64,
    pub task_relative: f64,
    pub domain_relative: f64,
}

pub fn shared_image_pairs(
    tasks: &[TaskResult],
    task_d: &Array2<f64>,
    domain_d: &Array2<f64>,
) -> Result<Vec<SharedImagesPair>> {
    let median = |m: &Array2<f64>| -> Result<f64> {
        let mut v = upper_triangle(m)?;
        v.sort_by(f64::total_cmp);
        Ok(v.get(v.len() / 2).copied().unwrap_or(f64::NAN))
    };
    let (task_median, domain_median) = (median(task_d)?, median(domain_d)?);
    let n = tasks.len();
    let mut pairs = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            if tasks[i].images_sha256 == tasks[j].images_sha256 {
                pairs.push(SharedImagesPair {
                    a: tasks[i].id.clone(),
                    b: tasks[j].id.clone(),
                    task_distance: task_d[[i, j]],
                    domain_distance: domain_d[[i, j]],
                    task_relative: task_d[[i, j]] / task_median,
                    domain_relative: domain_d[[i, j]] / domain_median,
                });
            }
        }
    }
    Ok(pairs)
}

/// E2's rankings, in the report's order.
pub const TASK2VEC: &str = "Task2Vec (cosine)";
pub const TASK2VEC_UNIT_MEAN: &str = "Task2Vec (cosine of unit-mean embeddings)";
pub const DOMAIN: &str = "domain embedding (cosine)";
pub const DOMAIN_FEATURES: &str = "mean pooled features (cosine; the paper's domain baseline)";

/// All of E1–E4 for one suite run.
pub struct Analysis {
    pub task_distances: Array2<f64>,
    pub domain_distances: Array2<f64>,
    pub top_k: TopK,
    pub complexity: Complexity,
    pub shared: Vec<SharedImagesPair>,
}

pub fn analyse(tasks: &[TaskResult], seed: u64) -> Result<Analysis> {
    let embeddings: Vec<Embedding> = tasks.iter().map(|t| t.embedding.clone()).collect();
    let domains: Vec<Embedding> = tasks.iter().map(|t| t.domain.clone()).collect();
    let task_distances = pdist(&embeddings, Metric::Cosine).context("task distance matrix")?;
    let domain_distances = pdist(&domains, Metric::Cosine).context("domain distance matrix")?;
    let features: Vec<Embedding> = tasks.iter().map(|t| t.domain_features.clone()).collect();
    let feature_distances =
        pdist(&features, Metric::Cosine).context("mean-feature distance matrix")?;
    let unit: Vec<Embedding> = embeddings
        .iter()
        .map(unit_mean)
        .collect::<Result<_, _>>()
        .context("unit-mean embeddings")?;
    let unit_distances = pdist(&unit, Metric::Cosine).context("unit-mean distance matrix")?;
    let taxonomy = taxonomy_matrix(tasks);
    let mut top_k = top_k_baselines(&taxonomy)?;
    top_k.rankings = vec![
        rank(TASK2VEC, &task_distances, &taxonomy, seed)?,
        rank(TASK2VEC_UNIT_MEAN, &unit_distances, &taxonomy, seed)?,
        rank(DOMAIN, &domain_distances, &taxonomy, seed)?,
        rank(DOMAIN_FEATURES, &feature_distances, &taxonomy, seed)?,
    ];
    Ok(Analysis {
        top_k,
        complexity: complexity(tasks)?,
        shared: shared_image_pairs(tasks, &task_distances, &domain_distances)?,
        task_distances,
        domain_distances,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lineage(path: &[&str]) -> Vec<String> {
        path.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn taxonomic_distance_counts_levels_to_the_common_ancestor() {
        let a = lineage(&["glyphs", "brahmic", "devanagari"]);
        let b = lineage(&["glyphs", "brahmic", "bengali"]);
        let c = lineage(&["glyphs", "semitic", "hebrew"]);
        let d = lineage(&["clipart", "animals", "birds"]);
        assert_eq!(taxonomic_distance(&a, &a), 0.0);
        assert_eq!(taxonomic_distance(&a, &b), 1.0);
        assert_eq!(taxonomic_distance(&a, &c), 2.0);
        assert_eq!(taxonomic_distance(&a, &d), 3.0);
    }

    #[test]
    fn top_k_random_baseline_is_the_mean_off_diagonal_taxonomic_distance() {
        // Two groups of two: within-group distance 1, across 2. For each task one of its three
        // neighbours is at 1 and two at 2: the random expectation is 5/3, the oracle's top-1 is 1.
        let t = ndarray::array![
            [0., 1., 2., 2.],
            [1., 0., 2., 2.],
            [2., 2., 0., 1.],
            [2., 2., 1., 0.]
        ];
        let curves = top_k_baselines(&t).unwrap();
        assert!((curves.random[0] - 5.0 / 3.0).abs() < 1e-12);
        assert_eq!(curves.oracle[0], 1.0);
        assert!((curves.oracle[2] - 5.0 / 3.0).abs() < 1e-12);
        // A (symmetric) distance whose nearest neighbour is always in the other group does worse.
        let d = ndarray::array![
            [0., 3., 1., 2.],
            [3., 0., 1.5, 2.5],
            [1., 1.5, 0., 3.],
            [2., 2.5, 3., 0.]
        ];
        let ranked = rank("test", &d, &t, 0).unwrap();
        assert_eq!(ranked.curve[0], 2.0);
        assert!((ranked.curve[2] - 5.0 / 3.0).abs() < 1e-12);
    }
}
