//! Correlation statistics for relating distances to other quantities (taxonomy, transfer
//! error, embedding norm vs difficulty): Pearson and Spearman correlations with permutation
//! p-values, the Mantel test between two distance matrices, and the top-k neighbour curve
//! with its exact random-neighbour baseline (the paper's Fig. 3).

use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::taxonomy::average_top_k_taxonomic_distance;

fn check_pair(x: &[f64], y: &[f64]) -> Result<()> {
    if x.len() != y.len() {
        return Err(Error::InvalidArgument(format!(
            "samples have different lengths ({} vs {})",
            x.len(),
            y.len()
        )));
    }
    if x.len() < 2 {
        return Err(Error::InvalidArgument("need at least 2 samples".into()));
    }
    if let Some(v) = x.iter().chain(y).find(|v| !v.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "sample value {v} is not finite"
        )));
    }
    Ok(())
}

/// Pearson's correlation coefficient. Errors on constant input (undefined).
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair(x, y)?;
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (da, db) = (a - mx, b - my);
        sxy += da * db;
        sxx += da * da;
        syy += db * db;
    }
    if sxx == 0.0 || syy == 0.0 {
        return Err(Error::InvalidArgument(
            "correlation is undefined for a constant sample".into(),
        ));
    }
    Ok((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// Ranks 1..n, ties given their average rank (as `scipy.stats.rankdata`).
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut start = 0;
    while start < idx.len() {
        let mut end = start + 1;
        while end < idx.len() && x[idx[end]] == x[idx[start]] {
            end += 1;
        }
        let avg = (start + end + 1) as f64 / 2.0; // mean of ranks start+1 ..= end
        for &i in &idx[start..end] {
            r[i] = avg;
        }
        start = end;
    }
    r
}

/// Spearman's rank correlation (Pearson of the average ranks).
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair(x, y)?;
    pearson(&ranks(x), &ranks(y))
}

/// Two-sided permutation p-value of a correlation `stat(x, y)`: the fraction of `permutations`
/// shuffles of `y` (seeded, reproducible) whose |statistic| reaches the observed one, counting
/// the observation itself: `(1 + #{|r_π| ≥ |r|}) / (1 + permutations)`.
pub fn permutation_p_value(
    x: &[f64],
    y: &[f64],
    stat: fn(&[f64], &[f64]) -> Result<f64>,
    permutations: usize,
    seed: u64,
) -> Result<f64> {
    let observed = stat(x, y)?.abs();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut shuffled = y.to_vec();
    let mut hits = 0usize;
    for _ in 0..permutations {
        shuffled.shuffle(&mut rng);
        // Relative tolerance so that permutations equal to the observation up to rounding count.
        if stat(x, &shuffled)?.abs() >= observed * (1.0 - 1e-12) {
            hits += 1;
        }
    }
    Ok((1 + hits) as f64 / (1 + permutations) as f64)
}

/// The entries above the diagonal (`i < j`) of a square matrix, row by row: each of the
/// `n(n−1)/2` pairs of a distance matrix once.
pub fn upper_triangle(m: &Array2<f64>) -> Result<Vec<f64>> {
    let n = check_square("matrix", m)?;
    Ok((0..n)
        .flat_map(|i| (i + 1..n).map(move |j| m[[i, j]]))
        .collect())
}

fn check_square(what: &str, m: &Array2<f64>) -> Result<usize> {
    let (rows, cols) = m.dim();
    if rows != cols {
        return Err(Error::BadMatrix(format!(
            "{what} is {rows}×{cols}, not square"
        )));
    }
    Ok(rows)
}

/// Result of a [`mantel`] test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mantel {
    /// The correlation between the two matrices' pairs.
    pub statistic: f64,
    /// One-sided permutation p-value of a positive correlation.
    pub p_value: f64,
    /// Number of random permutations the p-value was estimated from.
    pub permutations: usize,
}

/// Mantel test of two symmetric `n × n` distance matrices: the correlation `stat` (e.g.
/// [`spearman`]) between their pairs `i < j`, and a one-sided p-value for a positive
/// correlation, `(1 + #{r_π ≥ r}) / (1 + permutations)`.
///
/// The permutations relabel the *tasks* of `b` (rows and columns together), not its pairs: the
/// `n(n−1)/2` pairs of a distance matrix are not independent observations (each task takes part
/// in `n − 1` of them), so shuffling pairs would give p-values that are far too small. The
/// permutations are drawn from a ChaCha8 stream seeded with `seed` (reproducible).
/// Permuted correlations within 1e-12 of the observed one count as reaching it, so that ties
/// produced by a permutation that leaves the pairs' order unchanged are not lost to rounding.
///
/// Errors when the matrices are not square, of different sizes, not symmetric, smaller than
/// 3 × 3 (fewer than 3 pairs), contain non-finite values, when a matrix's pairs are constant
/// (the correlation is undefined) or when `permutations` is 0.
pub fn mantel(
    a: &Array2<f64>,
    b: &Array2<f64>,
    stat: fn(&[f64], &[f64]) -> Result<f64>,
    permutations: usize,
    seed: u64,
) -> Result<Mantel> {
    let n = check_square("first matrix", a)?;
    if check_square("second matrix", b)? != n {
        return Err(Error::BadMatrix(format!(
            "the matrices have different sizes ({:?} vs {:?})",
            a.dim(),
            b.dim()
        )));
    }
    if n < 3 {
        return Err(Error::InvalidArgument(format!(
            "a Mantel test needs at least 3 items (3 pairs), got {n}"
        )));
    }
    if permutations == 0 {
        return Err(Error::InvalidArgument(
            "a Mantel test needs at least one permutation".into(),
        ));
    }
    for (what, m) in [("first", a), ("second", b)] {
        check_symmetric(what, m)?;
    }
    let x = upper_triangle(a)?;
    let observed = stat(&x, &upper_triangle(b)?)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut perm: Vec<usize> = (0..n).collect();
    let mut permuted_pairs = Vec::with_capacity(x.len());
    let mut hits = 0usize;
    for _ in 0..permutations {
        perm.shuffle(&mut rng);
        permuted_pairs.clear();
        permuted_pairs.extend(
            (0..n)
                .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                .map(|(i, j)| b[[perm[i], perm[j]]]),
        );
        if stat(&x, &permuted_pairs)? >= observed - 1e-12 {
            hits += 1;
        }
    }
    Ok(Mantel {
        statistic: observed,
        p_value: (1 + hits) as f64 / (1 + permutations) as f64,
        permutations,
    })
}

/// Refuse a matrix whose pairs `(i, j)` and `(j, i)` differ beyond rounding: the Mantel test
/// reads only the upper triangle, so an asymmetric matrix (e.g. the asymmetric task distance)
/// would be half ignored without a word.
fn check_symmetric(what: &str, m: &Array2<f64>) -> Result<()> {
    let n = m.nrows();
    for i in 0..n {
        for j in i + 1..n {
            let (u, l) = (m[[i, j]], m[[j, i]]);
            if (u - l).abs() > 1e-12 * u.abs().max(l.abs()) || u.is_nan() != l.is_nan() {
                return Err(Error::BadMatrix(format!(
                    "the {what} matrix is not symmetric: [{i}, {j}] = {u} but [{j}, {i}] = {l}"
                )));
            }
        }
    }
    Ok(())
}

/// Every point of REF's top-k curve: [`average_top_k_taxonomic_distance`] of `distances`
/// against `taxonomy` for `k = 1 ..= n − 1` (element `k − 1` is top-k).
pub fn top_k_curve(distances: &Array2<f64>, taxonomy: &Array2<f64>) -> Result<Vec<f64>> {
    let n = check_square("distance matrix", distances)?;
    if n < 2 {
        return Err(Error::InvalidArgument(format!(
            "a top-k curve needs at least 2 tasks, got {n}"
        )));
    }
    (1..n)
        .map(|k| average_top_k_taxonomic_distance(distances, taxonomy, k))
        .collect()
}

/// The top-k curve of uniformly random neighbours, exactly: the expected value of
/// [`average_top_k_taxonomic_distance`] when each task's neighbours are a random ordering of
/// the other tasks. Each of the `k` neighbours is any other task with probability `1/(n−1)`,
/// so the expectation is the same for every `k`: the mean of each row's off-diagonal entries,
/// averaged over the rows. A distance whose curve is not below it ranks no better than chance.
pub fn random_top_k_baseline(taxonomy: &Array2<f64>) -> Result<f64> {
    let n = check_square("taxonomy", taxonomy)?;
    if n < 2 {
        return Err(Error::InvalidArgument(format!(
            "a random-neighbour baseline needs at least 2 tasks, got {n}"
        )));
    }
    let row_means = (0..n).map(|i| {
        (0..n)
            .filter(|&j| j != i)
            .map(|j| taxonomy[[i, j]])
            .sum::<f64>()
            / (n - 1) as f64
    });
    Ok(row_means.sum::<f64>() / n as f64)
}
