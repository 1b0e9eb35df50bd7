//! The paper's experiments computed from finished embeddings: E1 (clustered distance matrix),
//! E2 (neighbours vs taxonomy), E3 (complexity vs difficulty), E4 (task vs domain embeddings).
//! Pure functions over [`TaskResult`]s so that they are testable without any network.
use anyhow::{Context, Result, ensure};
use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use task2vec_embedding::{Embedding, Metric, pdist, stats};

/// Everything the report needs about one embedded task.
#[derive(Debug, Clone)]
pub struct TaskResult {
    pub id: String,
    /// Ancestors, root first (the suite's `taxonomy`).
    pub taxonomy: Vec<String>,
    pub embedding: Embedding,
    pub domain: Embedding,
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

/// Upper-triangle entries (i < j) of a square matrix, row-major.
pub fn upper_triangle(m: &Array2<f64>) -> Vec<f64> {
    let n = m.nrows();
    (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .map(|(i, j)| m[[i, j]])
        .collect()
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
    use task2vec_embedding::taxonomy::average_top_k_taxonomic_distance as topk;
    let n = taxonomy.nrows();
    ensure!(n >= 3, "E2 needs at least 3 tasks, got {n}");
    // Uniformly random neighbours: every other task is equally likely, for every k.
    let random_mean = (0..n)
        .map(|i| {
            (0..n)
                .filter(|&j| j != i)
                .map(|j| taxonomy[[i, j]])
                .sum::<f64>()
                / (n - 1) as f64
        })
        .sum::<f64>()
        / n as f64;
    let k: Vec<usize> = (1..n).collect();
    Ok(TopK {
        // Ties in the taxonomy are broken by index; any order among equals gives the same mean.
        oracle: k
            .iter()
            .map(|&k| topk(taxonomy, taxonomy, k))
            .collect::<Result<_, _>>()?,
        random: vec![random_mean; k.len()],
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
    use task2vec_embedding::taxonomy::average_top_k_taxonomic_distance as topk;
    let n = distances.nrows();
    Ok(Ranking {
        name,
        curve: (1..n)
            .map(|k| topk(distances, taxonomy, k))
            .collect::<Result<_, _>>()?,
        mantel: mantel_spearman(distances, taxonomy, 999, seed)?,
    })
}

/// `e` divided by its mean Fisher value. The paper's `cosine` normalises two embeddings by
/// their element-wise sum, which keeps their overall scale: a task whose head fits perfectly has
/// a vanishing Fisher everywhere and then looks far from every other task. Dividing by the mean
/// first leaves only the pattern across filters (a ranking we add, not the paper's).
pub fn unit_mean(e: &Embedding) -> Result<Embedding> {
    let mean = e.hessian().mean().unwrap_or(0.0);
    ensure!(
        mean > 0.0 && mean.is_finite(),
        "embedding of task {} has mean Fisher {mean}: cannot normalise it",
        e.name()
    );
    let scale = e.has_prior().then(|| e.scale() / mean);
    Ok(Embedding::new(
        e.hessian() / mean,
        scale,
        e.layout().clone(),
        e.meta().clone(),
    )?)
}

/// Spearman correlation between two distance matrices over the pairs i < j, with a Mantel
/// permutation p-value: tasks (rows and columns together) are permuted, because the pairs of
/// one matrix are not independent observations.
#[derive(Debug, Clone, Copy)]
pub struct Mantel {
    pub spearman: f64,
    pub p_value: f64,
    pub permutations: usize,
}

pub fn mantel_spearman(
    a: &Array2<f64>,
    b: &Array2<f64>,
    permutations: usize,
    seed: u64,
) -> Result<Mantel> {
    let n = a.nrows();
    ensure!(
        a.dim() == (n, n) && b.dim() == (n, n),
        "Mantel test needs two n×n matrices"
    );
    let x = upper_triangle(a);
    let observed = stats::spearman(&x, &upper_triangle(b))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut perm: Vec<usize> = (0..n).collect();
    let mut hits = 0usize;
    for _ in 0..permutations {
        perm.shuffle(&mut rng);
        let permuted = Array2::from_shape_fn((n, n), |(i, j)| b[[perm[i], perm[j]]]);
        // One-sided: the paper's claim is a positive correlation.
        if stats::spearman(&x, &upper_triangle(&permuted))? >= observed - 1e-12 {
            hits += 1;
        }
    }
    Ok(Mantel {
        spearman: observed,
        p_value: (1 + hits) as f64 / (1 + permutations) as f64,
        permutations,
    })
}

/// E3: complexity measures against the linear-probe error.
#[derive(Debug, Clone)]
pub struct Complexity {
    pub l1_norm: Vec<f64>,
    /// d_sym(t, t0) where a trivial embedding exists (embeddings with a prior), else None.
    pub to_trivial: Option<Vec<f64>>,
    pub pearson_norm: f64,
    pub spearman_norm: f64,
    pub spearman_trivial: Option<f64>,
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
        Some(d) => Some(stats::spearman(d, &error)?),
        None => None,
    };
    Ok(Complexity {
        pearson_norm: stats::pearson(&l1, &error)?,
        spearman_norm: stats::spearman(&l1, &error)?,
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
) -> Vec<SharedImagesPair> {
    let median = |m: &Array2<f64>| {
        let mut v = upper_triangle(m);
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let (task_median, domain_median) = (median(task_d), median(domain_d));
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
    pairs
}

/// E2's rankings, in the report's order.
pub const TASK2VEC: &str = "Task2Vec (cosine)";
pub const TASK2VEC_UNIT_MEAN: &str = "Task2Vec (cosine of unit-mean embeddings)";
pub const DOMAIN: &str = "domain embedding (cosine)";

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
    let unit: Vec<Embedding> = embeddings.iter().map(unit_mean).collect::<Result<_>>()?;
    let unit_distances = pdist(&unit, Metric::Cosine).context("unit-mean distance matrix")?;
    let taxonomy = taxonomy_matrix(tasks);
    let mut top_k = top_k_baselines(&taxonomy)?;
    top_k.rankings = vec![
        rank(TASK2VEC, &task_distances, &taxonomy, seed)?,
        rank(TASK2VEC_UNIT_MEAN, &unit_distances, &taxonomy, seed)?,
        rank(DOMAIN, &domain_distances, &taxonomy, seed)?,
    ];
    Ok(Analysis {
        top_k,
        complexity: complexity(tasks)?,
        shared: shared_image_pairs(tasks, &task_distances, &domain_distances),
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
        // A distance that pairs each task with the other group's first member does worse.
        let d = ndarray::array![
            [0., 3., 1., 2.],
            [3., 0., 1., 2.],
            [1., 2., 0., 3.],
            [1., 2., 3., 0.]
        ];
        let ranked = rank("test", &d, &t, 0).unwrap();
        assert_eq!(ranked.curve[0], 2.0);
        assert!((ranked.curve[2] - 5.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn unit_mean_removes_the_overall_scale_only() {
        let e = Embedding::from_hessian(vec![1.0, 3.0, 8.0], Default::default()).unwrap();
        let u = unit_mean(&e).unwrap();
        assert_eq!(u.hessian().to_vec(), vec![0.25, 0.75, 2.0]);
        assert!(!u.has_prior());
    }

    #[test]
    fn mantel_detects_a_matrix_that_follows_the_taxonomy_and_not_a_shuffled_one() {
        let n = 12;
        let groups: Vec<usize> = (0..n).map(|i| i / 3).collect();
        let t = Array2::from_shape_fn((n, n), |(i, j)| {
            if i == j {
                0.0
            } else if groups[i] == groups[j] {
                1.0
            } else {
                2.0
            }
        });
        // A distance that follows the groups, with a deterministic jitter.
        let d = Array2::from_shape_fn((n, n), |(i, j)| {
            if i == j {
                0.0
            } else {
                t[[i, j]] + 0.01 * (((i * 7 + j * 7) % 5) as f64)
            }
        });
        let m = mantel_spearman(&d, &t, 199, 1).unwrap();
        // The taxonomy takes two values (12 within-group pairs of 66), so even a distance that
        // separates the groups perfectly reaches only ρ ≈ sqrt(3·p·(1−p)) ≈ 0.67 with p = 12/66.
        assert!(m.spearman > 0.6, "{m:?}");
        assert!(m.p_value < 0.01, "{m:?}");
        // A distance unrelated to the groups (depends on i+j parity only).
        let u = Array2::from_shape_fn((n, n), |(i, j)| {
            if i == j {
                0.0
            } else {
                ((i + j) % 2) as f64 + 0.001 * (i * j) as f64
            }
        });
        let m = mantel_spearman(&u, &t, 199, 1).unwrap();
        assert!(m.p_value > 0.05, "{m:?}");
    }
}
