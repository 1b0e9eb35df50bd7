//! Correlation statistics for relating distances to other quantities (taxonomy, transfer
//! error, embedding norm vs difficulty).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

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
