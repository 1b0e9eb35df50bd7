//! The paper's experiments computed from finished embeddings: E0 (retest: does each task find
//! its own twin, embedded from the other half of its images), E1 (clustered distance matrix),
//! E2 (neighbours vs taxonomy), E3 (complexity vs difficulty), E4 (task vs domain embeddings),
//! E5 (labellings of one image pool vs the partition distance between them).
//! Pure functions over [`TaskResult`]s so that they are testable without any network. The
//! statistics themselves (Mantel test, top-k curves, unit-mean normalisation) live in
//! task2vec-embedding; this file only decides which ones the report shows.
use anyhow::{Context, Result, ensure};
use ndarray::Array2;
use task2vec_embedding::normalize::unit_mean;
use task2vec_embedding::partition::{
    adjusted_mutual_information, mantel_within_groups, partition_distance,
};
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
    /// Every image's label, in the task's image order (the materialised dataset's): with
    /// `images_sha256`, what E5's partition distance compares. Empty when unknown.
    pub labels: Vec<usize>,
    pub samples: usize,
    pub classes: usize,
    pub seconds: f64,
    /// E0's twins (`None` until they are embedded).
    pub retest: Option<Retest>,
}

/// The task embedded twice more, each time from one half of its images (a seeded
/// class-stratified split, [`task2vec_data::Dataset::halves`]) with its own seed: E0's twins.
#[derive(Debug, Clone)]
pub struct Retest {
    /// Twin A (first half) and twin B (second half).
    pub twins: [Embedding; 2],
    /// Seed of the split into halves.
    pub split_seed: u64,
    /// Embedding seed of each twin.
    pub seeds: [u64; 2],
    /// Images of each half.
    pub samples: [usize; 2],
    /// Time both twins took.
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
pub const MANTEL_PERMUTATIONS: usize = 999;

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

/// The median (the mean of the two middle values for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// E0 under one distance: how often a twin's nearest neighbour is its own twin.
#[derive(Debug, Clone)]
pub struct RetestScore {
    pub name: &'static str,
    /// Queries (twins, 2 per task) whose nearest neighbour is their own twin.
    pub hits: usize,
    pub queries: usize,
    /// Median distance between the two twins of a task.
    pub twin_median: f64,
    /// Median distance between twins of different tasks.
    pub other_median: f64,
    /// Every query that did not find its twin.
    pub misses: Vec<RetestMiss>,
    /// Distance between each task's twins, in task order.
    pub twin_distances: Vec<f64>,
}

impl RetestScore {
    /// Self-retrieval@1: the fraction of queries whose nearest neighbour is their twin.
    pub fn self_retrieval(&self) -> f64 {
        self.hits as f64 / self.queries.max(1) as f64
    }

    /// Median twin distance over median distance between different tasks' twins.
    pub fn ratio(&self) -> f64 {
        self.twin_median / self.other_median
    }
}

/// A twin whose nearest neighbour is not its own twin.
#[derive(Debug, Clone, PartialEq)]
pub struct RetestMiss {
    /// Task of the query and which twin it is (0 = A, 1 = B).
    pub task: usize,
    pub twin: usize,
    /// What was nearest instead: task and twin.
    pub found_task: usize,
    pub found_twin: usize,
    pub found_distance: f64,
    pub twin_distance: f64,
}

/// Self-retrieval@1 and the twin-distance ratio from the distance matrix of the 2N twin
/// embeddings, ordered task by task (row `2i` = task i's twin A, `2i + 1` = its twin B).
///
/// Each of the 2N twins is a query; it finds its twin when the twin is strictly nearer than
/// every other embedding (a tie with another task counts as a miss, reported with the tied
/// embedding as found). The ratio is median(d(A_i, B_i)) / median(d over pairs of twins of
/// different tasks).
pub fn self_retrieval(name: &'static str, d: &Array2<f64>) -> Result<RetestScore> {
    let m = d.nrows();
    ensure!(
        d.ncols() == m && m.is_multiple_of(2) && m >= 4,
        "E0 needs the square distance matrix of 2 twins per task for at least 2 tasks, got {:?}",
        d.dim()
    );
    let mut misses = Vec::new();
    for q in 0..m {
        let twin = q ^ 1;
        // Nearest other than the query and its twin (lowest index on ties).
        let (other, other_d) = (0..m)
            .filter(|&j| j != q && j != twin)
            .map(|j| (j, d[[q, j]]))
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .expect("at least 2 tasks");
        if d[[q, twin]].total_cmp(&other_d).is_ge() {
            misses.push(RetestMiss {
                task: q / 2,
                twin: q % 2,
                found_task: other / 2,
                found_twin: other % 2,
                found_distance: other_d,
                twin_distance: d[[q, twin]],
            });
        }
    }
    let twin_distances: Vec<f64> = (0..m / 2).map(|i| d[[2 * i, 2 * i + 1]]).collect();
    let others: Vec<f64> = (0..m)
        .flat_map(|p| (p + 1..m).map(move |q| (p, q)))
        .filter(|&(p, q)| p / 2 != q / 2)
        .map(|(p, q)| d[[p, q]])
        .collect();
    Ok(RetestScore {
        name,
        hits: m - misses.len(),
        queries: m,
        twin_median: median(&twin_distances),
        other_median: median(&others),
        misses,
        twin_distances,
    })
}

/// E0 for a suite: both Task2Vec distances (the paper's cosine, and the cosine of unit-mean
/// embeddings), and what the twins cost.
#[derive(Debug, Clone)]
pub struct RetestAnalysis {
    pub scores: Vec<RetestScore>,
    /// Time the twins took, all tasks together (as recorded when they were embedded).
    pub seconds: f64,
    pub split_seed: u64,
    pub seeds: [u64; 2],
    /// Images of each half, summed over the tasks.
    pub samples: [usize; 2],
}

/// E0 from every task's twins; `None` when a task has none.
pub fn retest(tasks: &[TaskResult]) -> Result<Option<RetestAnalysis>> {
    let Some(twins) = tasks
        .iter()
        .map(|t| t.retest.as_ref())
        .collect::<Option<Vec<&Retest>>>()
    else {
        return Ok(None);
    };
    if twins.len() < 2 {
        return Ok(None);
    }
    let embeddings: Vec<Embedding> = twins.iter().flat_map(|r| r.twins.clone()).collect();
    let unit: Vec<Embedding> = embeddings
        .iter()
        .map(unit_mean)
        .collect::<Result<_, _>>()
        .context("unit-mean twin embeddings")?;
    let scores = vec![
        self_retrieval(
            TASK2VEC,
            &pdist(&embeddings, Metric::Cosine).context("twin distance matrix")?,
        )?,
        self_retrieval(
            TASK2VEC_UNIT_MEAN,
            &pdist(&unit, Metric::Cosine).context("unit-mean twin distance matrix")?,
        )?,
    ];
    Ok(Some(RetestAnalysis {
        scores,
        seconds: twins.iter().map(|r| r.seconds).sum(),
        split_seed: twins[0].split_seed,
        seeds: twins[0].seeds,
        samples: [
            twins.iter().map(|r| r.samples[0]).sum(),
            twins.iter().map(|r| r.samples[1]).sum(),
        ],
    }))
}

/// Two tasks that label the same images (E5), with the ground truth between their labellings
/// and every ranked distance between the tasks.
#[derive(Debug, Clone)]
pub struct LabelPair {
    pub a: usize,
    pub b: usize,
    /// Index of the image pool (pools numbered in order of first appearance).
    pub pool: usize,
    /// The reported ground truth: variation of information (nats).
    pub partition: f64,
    /// The alternative: 1 − adjusted mutual information.
    pub one_minus_ami: f64,
    /// The distance under each of [`LabelAnalysis::rankings`], in that order.
    pub distances: Vec<f64>,
}

/// One ranked distance against the partition distance over the same-pool pairs.
#[derive(Debug, Clone)]
pub struct LabelCorrelation {
    pub name: &'static str,
    /// Spearman ρ and within-pool Mantel p against the variation of information; `None` when
    /// undefined (constant distances, fewer than 3 pairs).
    pub partition: Option<Mantel>,
    /// The same against 1 − AMI.
    pub ami: Option<Mantel>,
}

/// E5: every labelling of an image pool shared by ≥ 2 tasks, against the partition distance.
#[derive(Debug, Clone, Default)]
pub struct LabelAnalysis {
    /// Pools labelled by ≥ 2 tasks: the tasks of each.
    pub pools: Vec<Vec<usize>>,
    pub pairs: Vec<LabelPair>,
    pub correlations: Vec<LabelCorrelation>,
}

/// Pairs whose spread is below this (relative to their scale) count as constant: identical
/// embeddings give cosine distances that differ only by rounding.
const CONSTANT_TOLERANCE: f64 = 1e-9;

/// E5 from the tasks' image lists and labels and the ranked distance matrices (`rankings`:
/// name and task × task matrix). Two tasks are on the same pool iff their image lists are
/// identical (same sha256 and number of labels); pairs on different pools have no ground truth
/// and are left out, so ρ and the Mantel test use same-pool pairs only (the Mantel
/// permutations relabel tasks within their pool, seeded with `seed`).
pub fn labellings(
    tasks: &[TaskResult],
    rankings: &[(&'static str, &Array2<f64>)],
    seed: u64,
) -> Result<LabelAnalysis> {
    let n = tasks.len();
    let mut pool_of: Vec<usize> = Vec::with_capacity(n);
    let mut keys: Vec<(&str, usize)> = Vec::new();
    for t in tasks {
        let key = (t.images_sha256.as_str(), t.labels.len());
        let id = match keys.iter().position(|k| *k == key) {
            Some(i) if !t.labels.is_empty() => i,
            _ => {
                keys.push(key);
                keys.len() - 1
            }
        };
        pool_of.push(id);
    }
    let pools: Vec<Vec<usize>> = (0..keys.len())
        .map(|p| (0..n).filter(|&i| pool_of[i] == p).collect::<Vec<_>>())
        .filter(|members| members.len() >= 2)
        .collect();
    let mut truth = Array2::from_elem((n, n), f64::NAN);
    let mut ami = Array2::from_elem((n, n), f64::NAN);
    let mut pairs = Vec::new();
    for (p, members) in pools.iter().enumerate() {
        for (x, &i) in members.iter().enumerate() {
            truth[[i, i]] = 0.0;
            ami[[i, i]] = 0.0;
            for &j in &members[x + 1..] {
                let (la, lb) = (&tasks[i].labels, &tasks[j].labels);
                let vi = partition_distance(la, lb)?;
                let one_minus_ami = 1.0 - adjusted_mutual_information(la, lb)?;
                for (m, v) in [(&mut truth, vi), (&mut ami, one_minus_ami)] {
                    m[[i, j]] = v;
                    m[[j, i]] = v;
                }
                pairs.push(LabelPair {
                    a: i,
                    b: j,
                    pool: p,
                    partition: vi,
                    one_minus_ami,
                    distances: rankings.iter().map(|(_, d)| d[[i, j]]).collect(),
                });
            }
        }
    }
    let mut correlations = Vec::new();
    for (r, (name, d)) in rankings.iter().enumerate() {
        let values: Vec<f64> = pairs.iter().map(|p| p.distances[r]).collect();
        let varies = |v: &[f64]| {
            let (lo, hi) = v
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                    (lo.min(x), hi.max(x))
                });
            hi - lo > CONSTANT_TOLERANCE * hi.abs().max(1.0)
        };
        let defined = pairs.len() >= 3 && varies(&values);
        let test = |truth: &Array2<f64>| -> Result<Option<Mantel>> {
            let truths: Vec<f64> = pairs.iter().map(|p| truth[[p.a, p.b]]).collect();
            if !defined || !varies(&truths) {
                return Ok(None);
            }
            Ok(Some(mantel_within_groups(
                d,
                truth,
                &pool_of,
                stats::spearman,
                MANTEL_PERMUTATIONS,
                seed,
            )?))
        };
        correlations.push(LabelCorrelation {
            name,
            partition: test(&truth)?,
            ami: test(&ami)?,
        });
    }
    Ok(LabelAnalysis {
        pools,
        pairs,
        correlations,
    })
}

/// E2's rankings, in the report's order.
pub const TASK2VEC: &str = "Task2Vec (cosine)";
pub const TASK2VEC_UNIT_MEAN: &str = "Task2Vec (cosine of unit-mean embeddings)";
pub const DOMAIN: &str = "domain embedding (cosine)";
pub const DOMAIN_FEATURES: &str = "mean pooled features (cosine; the paper's domain baseline)";

/// All of E0–E5 for one suite run.
pub struct Analysis {
    pub task_distances: Array2<f64>,
    pub domain_distances: Array2<f64>,
    pub top_k: TopK,
    pub complexity: Complexity,
    pub shared: Vec<SharedImagesPair>,
    /// E0; `None` when some task has no twins.
    pub retest: Option<RetestAnalysis>,
    /// E5.
    pub labels: LabelAnalysis,
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
    let labels = labellings(
        tasks,
        &[
            (TASK2VEC, &task_distances),
            (TASK2VEC_UNIT_MEAN, &unit_distances),
            (DOMAIN, &domain_distances),
            (DOMAIN_FEATURES, &feature_distances),
        ],
        seed,
    )?;
    Ok(Analysis {
        top_k,
        complexity: complexity(tasks)?,
        shared: shared_image_pairs(tasks, &task_distances, &domain_distances)?,
        retest: retest(tasks)?,
        labels,
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
    fn self_retrieval_and_ratio_on_a_hand_made_matrix() {
        // Twins A0 B0 A1 B1 A2 B2. Twin distances 1, 2, 6; B1 and A2 are nearer each other
        // (1.5) than to their own twins (2 and 6).
        let (a0, b0, a1, b1, a2, b2) = (0, 1, 2, 3, 4, 5);
        let mut d = Array2::zeros((6, 6));
        for (i, j, v) in [
            (a0, b0, 1.0),
            (a1, b1, 2.0),
            (a2, b2, 6.0),
            (a0, a1, 3.0),
            (a0, b1, 4.0),
            (a0, a2, 5.0),
            (a0, b2, 7.0),
            (b0, a1, 8.0),
            (b0, b1, 9.0),
            (b0, a2, 10.0),
            (b0, b2, 11.0),
            (a1, a2, 12.0),
            (a1, b2, 13.0),
            (b1, a2, 1.5),
            (b1, b2, 14.0),
        ] {
            d[[i, j]] = v;
            d[[j, i]] = v;
        }
        let s = self_retrieval("test", &d).unwrap();
        // A0 (1 < 3), B0 (1 < 8), A1 (2 < 3) and B2 (6 < 7) find their twins; B1 finds A2 at
        // 1.5 < 2, A2 finds B1 at 1.5 < 6.
        assert_eq!((s.hits, s.queries), (4, 6));
        assert!((s.self_retrieval() - 4.0 / 6.0).abs() < 1e-15);
        let miss = |task, twin, found_task, found_twin, found_distance, twin_distance| RetestMiss {
            task,
            twin,
            found_task,
            found_twin,
            found_distance,
            twin_distance,
        };
        assert_eq!(
            s.misses,
            vec![miss(1, 1, 2, 0, 1.5, 2.0), miss(2, 0, 1, 1, 1.5, 6.0)]
        );
        assert_eq!(s.twin_distances, vec![1.0, 2.0, 6.0]);
        // Median twin distance: 2. The 12 other pairs sorted: 1.5 3 4 5 7 8 | 9 10 11 12 13 14,
        // median (8 + 9) / 2 = 8.5.
        assert_eq!(s.twin_median, 2.0);
        assert_eq!(s.other_median, 8.5);
        assert!((s.ratio() - 2.0 / 8.5).abs() < 1e-15);
    }

    #[test]
    fn a_tie_with_another_task_is_a_miss() {
        // A0 is as near to A1 as to its twin.
        let d = ndarray::array![
            [0., 1., 1., 5.],
            [1., 0., 4., 5.],
            [1., 4., 0., 0.5],
            [5., 5., 0.5, 0.]
        ];
        let s = self_retrieval("tie", &d).unwrap();
        assert_eq!(s.hits, 3);
        assert_eq!((s.misses[0].task, s.misses[0].twin), (0, 0));
        assert_eq!((s.misses[0].found_task, s.misses[0].found_twin), (1, 0));
        assert!(self_retrieval("odd", &Array2::zeros((5, 5))).is_err());
    }

    #[test]
    fn median_of_odd_even_and_empty_samples() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    /// A task result with only what E5 reads: its images, labels and a placeholder embedding.
    fn labelled(id: &str, images: &str, labels: &[usize]) -> TaskResult {
        let e = Embedding::from_hessian(vec![1.0, 2.0], Default::default()).unwrap();
        TaskResult {
            id: id.into(),
            taxonomy: vec!["root".into()],
            embedding: e.clone(),
            domain: e.clone(),
            domain_features: e,
            probe_error: 0.0,
            images_sha256: images.into(),
            labels: labels.to_vec(),
            samples: labels.len(),
            classes: 2,
            seconds: 0.0,
            retest: None,
        }
    }

    #[test]
    fn label_pairs_are_same_pool_pairs_with_their_partition_distance() {
        let digits: Vec<usize> = (0..12).map(|i| i % 4).collect();
        let tasks = vec![
            labelled("p/four", "pool-p", &digits),
            labelled("q/other", "pool-q", &digits),
            labelled(
                "p/parity",
                "pool-p",
                &digits.iter().map(|d| d % 2).collect::<Vec<_>>(),
            ),
            labelled(
                "p/half",
                "pool-p",
                &digits.iter().map(|d| d / 2).collect::<Vec<_>>(),
            ),
            labelled(
                "p/three",
                "pool-p",
                &digits.iter().map(|&d| d.min(2)).collect::<Vec<_>>(),
            ),
        ];
        // A distance that grows with the partition distance within pool p; constant domain.
        let truth =
            |i: usize, j: usize| partition_distance(&tasks[i].labels, &tasks[j].labels).unwrap();
        let n = tasks.len();
        let task_d = Array2::from_shape_fn((n, n), |(i, j)| {
            if i == j {
                0.0
            } else if tasks[i].images_sha256 == tasks[j].images_sha256 {
                0.1 + truth(i, j)
            } else {
                9.0
            }
        });
        let constant = Array2::from_shape_fn((n, n), |(i, j)| if i == j { 0.0 } else { 1e-17 });
        let l = labellings(&tasks, &[("task", &task_d), ("domain", &constant)], 3).unwrap();
        assert_eq!(l.pools, vec![vec![0, 2, 3, 4]]);
        assert_eq!(l.pairs.len(), 6);
        for p in &l.pairs {
            assert_eq!(p.pool, 0);
            assert!((p.partition - truth(p.a, p.b)).abs() < 1e-15);
            assert_eq!(p.distances[0], task_d[[p.a, p.b]]);
        }
        // 4-way vs its two 2-way coarsenings: ln 2 each; the two coarsenings are independent
        // on these items: 2 ln 2.
        let vi = |a, b| {
            l.pairs
                .iter()
                .find(|p| (p.a, p.b) == (a, b))
                .unwrap()
                .partition
        };
        assert!((vi(0, 2) - std::f64::consts::LN_2).abs() < 1e-12);
        assert!((vi(2, 3) - 2.0 * std::f64::consts::LN_2).abs() < 1e-12);
        let task = l.correlations[0].partition.unwrap();
        assert!((task.statistic - 1.0).abs() < 1e-12);
        assert!(l.correlations[1].partition.is_none(), "constant: undefined");
        assert!(l.correlations[1].ami.is_none());
        // Tasks with unknown labels never form a pool; two pairs are too few for ρ.
        let few = vec![
            labelled("a", "x", &[0, 1, 0, 1]),
            labelled("b", "x", &[0, 0, 1, 1]),
            labelled("c", "x", &[]),
        ];
        let d3 = Array2::from_shape_fn((3, 3), |(i, j)| (i + j) as f64 * f64::from(i != j));
        let l = labellings(&few, &[("task", &d3)], 0).unwrap();
        assert_eq!(l.pools, vec![vec![0, 1]]);
        assert!(l.correlations[0].partition.is_none());
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
