//! How good an expert selection is — the paper's Table 1 and the statistics around it.
//!
//! Everything takes per-target errors: `selected[t]` is the test error of the expert a selector
//! chose for target `t` (or, for chance, the expected error of a uniform pick) and `oracle[t]`
//! the best error available for `t`. [`selected_errors`] turns a selection into such a vector.
//!
//! * relative error increase over the oracle, two ways: the ratio of means
//!   `Σ e_sel / Σ e_oracle − 1` (dominated by hard targets) and the mean of ratios
//!   `mean_t(e_sel / e_oracle − 1)` (each target counts the same; an oracle error of 0 is
//!   floored, see [`relative_increase`]);
//! * paired bootstrap percentile intervals of both ([`bootstrap_relative_increase`]);
//! * top-1 accuracy and regret ([`top1_accuracy`], [`regret`]);
//! * the Wilcoxon signed-rank test ([`wilcoxon_signed_rank`], scipy-compatible).
//!
//! Golden values: `ci/golden/selection_stats.py` (scipy, numpy), checked by
//! `tests/golden_selection_stats.rs`.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::{Result, invalid};

/// Default number of bootstrap resamples.
pub const DEFAULT_RESAMPLES: usize = 2000;

/// Checks that two per-target vectors are usable together.
fn check_pair(what: &str, a: &[f64], b: &[f64]) -> Result<()> {
    if a.is_empty() {
        return Err(invalid(format!("{what}: no targets")));
    }
    if a.len() != b.len() {
        return Err(invalid(format!(
            "{what}: {} values against {} values",
            a.len(),
            b.len()
        )));
    }
    if let Some(i) = a.iter().chain(b).position(|v| !v.is_finite()) {
        return Err(invalid(format!(
            "{what}: value {i} (counting the first vector, then the second) is not finite"
        )));
    }
    Ok(())
}

/// `errors[t][selection[t]]` for each target.
pub fn selected_errors(errors: &Array2<f64>, selection: &[usize]) -> Result<Vec<f64>> {
    if selection.len() != errors.nrows() {
        return Err(invalid(format!(
            "a selection for {} targets against an error matrix with {} targets",
            selection.len(),
            errors.nrows()
        )));
    }
    selection
        .iter()
        .enumerate()
        .map(|(t, &c)| {
            errors.get((t, c)).copied().ok_or_else(|| {
                invalid(format!(
                    "target {t}: candidate {c} is not below the number of candidates ({})",
                    errors.ncols()
                ))
            })
        })
        .collect()
}

/// Relative error increase of a selection over the oracle.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RelativeIncrease {
    /// `Σ e_sel / max(Σ e_oracle, floor) − 1`.
    pub ratio_of_means: f64,
    /// `mean_t(max(e_sel, floor) / max(e_oracle, floor) − 1)`.
    pub mean_of_ratios: f64,
    /// How many targets had an oracle error below `floor` (their ratio used `floor`).
    pub floored: usize,
}

/// Relative error increase of `selected` over `oracle`. An oracle error of 0 (the best expert
/// made no mistake on the test images) would make a ratio infinite; errors below `floor` are
/// replaced by `floor` in the per-target ratios — numerator and denominator alike, so that a
/// selection as good as a perfect oracle counts as +0 %, not −100 % — and counted in
/// [`RelativeIncrease::floored`]. A
/// natural floor is half of one test image's error, `0.5 / test_images`: below what any
/// measured error can resolve. `floor` must be > 0.
pub fn relative_increase(selected: &[f64], oracle: &[f64], floor: f64) -> Result<RelativeIncrease> {
    check_pair("relative increase", selected, oracle)?;
    if !(floor > 0.0 && floor.is_finite()) {
        return Err(invalid(format!(
            "relative increase: the oracle-error floor must be a positive number, not {floor}"
        )));
    }
    Ok(relative_increase_unchecked(selected, oracle, floor, None))
}

/// [`relative_increase`] over the targets `index` (all when `None`), inputs already checked.
fn relative_increase_unchecked(
    selected: &[f64],
    oracle: &[f64],
    floor: f64,
    index: Option<&[usize]>,
) -> RelativeIncrease {
    let (mut sum_sel, mut sum_oracle, mut sum_ratio, mut floored) = (0.0, 0.0, 0.0, 0);
    let mut add = |t: usize| {
        sum_sel += selected[t];
        sum_oracle += oracle[t];
        if oracle[t] < floor {
            floored += 1;
        }
        sum_ratio += selected[t].max(floor) / oracle[t].max(floor) - 1.0;
    };
    let n = match index {
        Some(ix) => {
            ix.iter().for_each(|&t| add(t));
            ix.len()
        }
        None => {
            (0..selected.len()).for_each(&mut add);
            selected.len()
        }
    };
    RelativeIncrease {
        ratio_of_means: sum_sel / sum_oracle.max(floor) - 1.0,
        mean_of_ratios: sum_ratio / n as f64,
        floored,
    }
}

/// A two-sided percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

/// Paired bootstrap percentile intervals (level `confidence`, e.g. 0.95) of both relative
/// increases: `resamples` times, draw the targets with replacement (the same draw for the
/// selection and the oracle: the pairing is what makes the interval tight), recompute both
/// statistics, and take the `(1 − confidence)/2` and `(1 + confidence)/2` quantiles of each
/// (linear interpolation between order statistics, numpy's default). The draws come from
/// `ChaCha8Rng::seed_from_u64(seed)`: same seed, same interval.
pub fn bootstrap_relative_increase(
    selected: &[f64],
    oracle: &[f64],
    floor: f64,
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Result<(Interval, Interval)> {
    relative_increase(selected, oracle, floor)?;
    if resamples == 0 {
        return Err(invalid("bootstrap: the number of resamples must be > 0"));
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(invalid(format!(
            "bootstrap: the confidence level must be in (0, 1), not {confidence}"
        )));
    }
    let n = selected.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut index = vec![0usize; n];
    let mut ratio_of_means = Vec::with_capacity(resamples);
    let mut mean_of_ratios = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        index.iter_mut().for_each(|i| *i = rng.random_range(0..n));
        let r = relative_increase_unchecked(selected, oracle, floor, Some(&index));
        ratio_of_means.push(r.ratio_of_means);
        mean_of_ratios.push(r.mean_of_ratios);
    }
    let tail = (1.0 - confidence) / 2.0;
    Ok((
        percentile_interval(&mut ratio_of_means, tail),
        percentile_interval(&mut mean_of_ratios, tail),
    ))
}

/// The `tail` and `1 − tail` quantiles of `values` (sorted in place).
fn percentile_interval(values: &mut [f64], tail: f64) -> Interval {
    values.sort_by(f64::total_cmp);
    Interval {
        low: quantile_sorted(values, tail),
        high: quantile_sorted(values, 1.0 - tail),
    }
}

/// Quantile `q` of sorted `v` with linear interpolation (numpy's default `linear` method).
fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Fraction of targets whose selection is optimal: `errors[t][selection[t]]` equals the
/// smallest of `oracle_errors[t]` (so a tie in error with the oracle's pick counts as
/// optimal).
pub fn top1_accuracy(selected: &[f64], oracle: &[f64]) -> Result<f64> {
    check_pair("top-1 accuracy", selected, oracle)?;
    let hits = selected.iter().zip(oracle).filter(|(s, o)| s <= o).count();
    Ok(hits as f64 / selected.len() as f64)
}

/// Mean regret `mean_t(e_sel − e_oracle)`, in error points (0.01 = one percentage point).
pub fn regret(selected: &[f64], oracle: &[f64]) -> Result<f64> {
    check_pair("regret", selected, oracle)?;
    Ok(selected.iter().zip(oracle).map(|(s, o)| s - o).sum::<f64>() / selected.len() as f64)
}

/// Result of [`wilcoxon_signed_rank`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WilcoxonResult {
    /// `min(W+, W−)`, the rank sums of the positive and negative differences (scipy's
    /// two-sided statistic).
    pub statistic: f64,
    /// `(statistic − n(n+1)/4) / σ` with the tie-corrected σ; ≤ 0.
    pub z: f64,
    /// Two-sided p-value of the normal approximation, `2·Φ(−|z|)`.
    pub p_value: f64,
    /// Number of non-zero differences the test used.
    pub n_used: usize,
}

/// Two-sided Wilcoxon signed-rank test of the paired samples `x`, `y`, as
/// `scipy.stats.wilcoxon(x, y, zero_method="wilcox", correction=False, method="approx")`:
/// differences `x − y` that are exactly 0 are dropped, the others ranked by absolute value
/// (ties get their average rank), and the smaller rank sum is compared with its null mean by
/// the normal approximation, the variance reduced by `Σ(t³ − t)/48` over groups of `t` tied
/// absolute differences, without continuity correction. Errors when fewer than one difference
/// is non-zero or the variance is 0.
pub fn wilcoxon_signed_rank(x: &[f64], y: &[f64]) -> Result<WilcoxonResult> {
    check_pair("Wilcoxon test", x, y)?;
    let d: Vec<f64> = x
        .iter()
        .zip(y)
        .map(|(a, b)| a - b)
        .filter(|&v| v != 0.0)
        .collect();
    let n = d.len();
    if n == 0 {
        return Err(invalid(
            "Wilcoxon test: every paired difference is zero; the test is undefined",
        ));
    }
    let abs: Vec<f64> = d.iter().map(|v| v.abs()).collect();
    let ranks = task2vec_embedding::stats::ranks(&abs);
    let w_plus: f64 = d
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v > 0.0)
        .map(|(_, r)| r)
        .sum();
    let w_minus: f64 = d
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v < 0.0)
        .map(|(_, r)| r)
        .sum();
    let statistic = w_plus.min(w_minus);
    let nf = n as f64;
    let mean = nf * (nf + 1.0) / 4.0;
    let mut var = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0;
    let mut sorted = abs;
    sorted.sort_by(f64::total_cmp);
    let mut i = 0;
    while i < n {
        let j = (i..n).find(|&j| sorted[j] != sorted[i]).unwrap_or(n);
        let t = (j - i) as f64;
        var -= (t * t * t - t) / 48.0;
        i = j;
    }
    if var <= 0.0 {
        return Err(invalid(
            "Wilcoxon test: the rank statistic has zero variance (all differences tied)",
        ));
    }
    let z = (statistic - mean) / var.sqrt();
    // 2·Φ(−|z|) = erfc(|z|/√2).
    let p_value = libm::erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0);
    Ok(WilcoxonResult {
        statistic,
        z,
        p_value,
        n_used: n,
    })
}

/// Settings of [`summarize`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SummaryOptions {
    /// Oracle errors below this count as this in the ratios (see [`relative_increase`]).
    pub floor: f64,
    /// Bootstrap resamples (default [`DEFAULT_RESAMPLES`]).
    pub resamples: usize,
    /// Interval level (default 0.95).
    pub confidence: f64,
    /// Seed of the bootstrap draws.
    pub seed: u64,
}

impl SummaryOptions {
    /// Defaults (2,000 resamples, 95 %, seed 0) with the given floor.
    pub fn with_floor(floor: f64) -> Self {
        SummaryOptions {
            floor,
            resamples: DEFAULT_RESAMPLES,
            confidence: 0.95,
            seed: 0,
        }
    }
}

/// One selector's row of the paper's Table 1, with its uncertainty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelectorSummary {
    /// The selector's name.
    pub name: String,
    /// Number of targets.
    pub targets: usize,
    /// Mean error of the selection (or expected error, for chance).
    pub mean_error: f64,
    /// Mean error of the oracle.
    pub oracle_mean_error: f64,
    /// Both relative increases over the oracle.
    pub increase: RelativeIncrease,
    /// Bootstrap interval of [`RelativeIncrease::ratio_of_means`].
    pub ratio_of_means_interval: Interval,
    /// Bootstrap interval of [`RelativeIncrease::mean_of_ratios`].
    pub mean_of_ratios_interval: Interval,
    /// Fraction of targets where the selection is optimal (`None` for per-target expected
    /// errors, e.g. chance, where "the selection" is not one expert).
    pub top1: Option<f64>,
    /// Mean `e_sel − e_oracle`, in error points.
    pub regret: f64,
    /// Options the summary was computed with.
    pub options: SummaryOptions,
}

/// Summary of a selector from its per-target errors. `is_selection` says whether `selected`
/// holds errors of actually chosen experts (then top-1 is reported) or expected errors
/// (chance; top-1 is `None`).
pub fn summarize(
    name: &str,
    selected: &[f64],
    oracle: &[f64],
    is_selection: bool,
    options: SummaryOptions,
) -> Result<SelectorSummary> {
    let increase = relative_increase(selected, oracle, options.floor)?;
    let (ratio_of_means_interval, mean_of_ratios_interval) = bootstrap_relative_increase(
        selected,
        oracle,
        options.floor,
        options.resamples,
        options.confidence,
        options.seed,
    )?;
    let n = selected.len() as f64;
    Ok(SelectorSummary {
        name: name.to_string(),
        targets: selected.len(),
        mean_error: selected.iter().sum::<f64>() / n,
        oracle_mean_error: oracle.iter().sum::<f64>() / n,
        increase,
        ratio_of_means_interval,
        mean_of_ratios_interval,
        top1: if is_selection {
            Some(top1_accuracy(selected, oracle)?)
        } else {
            None
        },
        regret: regret(selected, oracle)?,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn ratios_on_a_hand_example() {
        // sel = [0.2, 0.3, 0.1], oracle = [0.1, 0.3, 0.0], floor 0.05:
        // ratio of means = 0.6 / 0.4 − 1 = 0.5;
        // mean of ratios = (1 + 0 + (0.1/0.05 − 1)) / 3 = 2/3; one floored.
        let r = relative_increase(&[0.2, 0.3, 0.1], &[0.1, 0.3, 0.0], 0.05).unwrap();
        assert!((r.ratio_of_means - 0.5).abs() < 1e-12);
        assert!((r.mean_of_ratios - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.floored, 1);
        assert!(relative_increase(&[0.1], &[0.1], 0.0).is_err());
        assert!(relative_increase(&[0.1], &[0.1, 0.2], 0.1).is_err());
    }

    #[test]
    fn top1_counts_ties_in_error_as_optimal() {
        let e = array![[0.1, 0.1, 0.3], [0.2, 0.4, 0.3]];
        let sel = selected_errors(&e, &[1, 2]).unwrap();
        let oracle = selected_errors(&e, &[0, 0]).unwrap();
        assert_eq!(top1_accuracy(&sel, &oracle).unwrap(), 0.5);
        assert!((regret(&sel, &oracle).unwrap() - 0.05).abs() < 1e-12);
        assert!(selected_errors(&e, &[0, 3]).is_err());
        assert!(selected_errors(&e, &[0]).is_err());
    }

    #[test]
    fn bootstrap_is_deterministic_and_brackets_the_estimate() {
        let sel = [0.2, 0.25, 0.3, 0.12, 0.5, 0.33];
        let oracle = [0.1, 0.2, 0.3, 0.1, 0.4, 0.3];
        let a = bootstrap_relative_increase(&sel, &oracle, 0.01, 500, 0.95, 7).unwrap();
        let b = bootstrap_relative_increase(&sel, &oracle, 0.01, 500, 0.95, 7).unwrap();
        assert_eq!(a, b);
        let r = relative_increase(&sel, &oracle, 0.01).unwrap();
        assert!(a.0.low <= r.ratio_of_means && r.ratio_of_means <= a.0.high);
        assert!(a.1.low <= r.mean_of_ratios && r.mean_of_ratios <= a.1.high);
    }

    #[test]
    fn wilcoxon_refuses_all_zero_differences() {
        assert!(wilcoxon_signed_rank(&[1.0, 2.0], &[1.0, 2.0]).is_err());
    }
}
