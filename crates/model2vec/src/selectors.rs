//! One expert per target task.
//!
//! Every selector reads `targets × candidates` matrices (errors, distances or scores) and an
//! `allowed` mask of the same shape: `allowed[t][c] = false` excludes candidate `c` for target
//! `t` (e.g. the expert trained on `t`'s own images — the paper's leave-one-out). Excluded
//! entries are never read, so they may hold anything (NaN for a missing cell). Every selector
//! returns one candidate index per target, or an error when a target has no allowed candidate.
//!
//! **Ties** go to the lowest candidate index, always (a fixed rule keeps results reproducible
//! and independent of the order of floating-point sums elsewhere).

use ndarray::Array2;

use crate::error::{Result, invalid};

/// Checks shapes and that every allowed entry is finite; `what` names the matrix.
fn check(what: &str, m: &Array2<f64>, allowed: &Array2<bool>) -> Result<()> {
    if m.dim() != allowed.dim() {
        return Err(invalid(format!(
            "{what} is {:?} but the allowed mask is {:?}",
            m.dim(),
            allowed.dim()
        )));
    }
    if m.is_empty() {
        return Err(invalid(format!("{what} is empty ({:?})", m.dim())));
    }
    for ((t, c), &v) in m.indexed_iter() {
        if allowed[(t, c)] && !v.is_finite() {
            return Err(invalid(format!(
                "{what}[{t}][{c}] is {v}, not a finite number"
            )));
        }
    }
    Ok(())
}

fn no_candidate(t: usize) -> crate::Error {
    invalid(format!("target {t} has no allowed candidate"))
}

/// Index of the best allowed entry of row `t` under `better(a, b)` (strictly better), ties to
/// the lowest index.
fn best_in_row(
    m: &Array2<f64>,
    allowed: &Array2<bool>,
    t: usize,
    better: impl Fn(f64, f64) -> bool,
) -> Result<usize> {
    let mut best: Option<usize> = None;
    for c in 0..m.ncols() {
        if allowed[(t, c)] && best.is_none_or(|b| better(m[(t, c)], m[(t, b)])) {
            best = Some(c);
        }
    }
    best.ok_or_else(|| no_candidate(t))
}

/// For each target, the allowed candidate with the smallest score (distances, errors).
pub fn argmin(scores: &Array2<f64>, allowed: &Array2<bool>) -> Result<Vec<usize>> {
    check("scores", scores, allowed)?;
    (0..scores.nrows())
        .map(|t| best_in_row(scores, allowed, t, |a, b| a < b))
        .collect()
}

/// For each target, the allowed candidate with the largest score (LogME, LEEP).
pub fn argmax(scores: &Array2<f64>, allowed: &Array2<bool>) -> Result<Vec<usize>> {
    check("scores", scores, allowed)?;
    (0..scores.nrows())
        .map(|t| best_in_row(scores, allowed, t, |a, b| a > b))
        .collect()
}

/// The oracle: for each target, the allowed candidate with the lowest test error.
pub fn oracle(errors: &Array2<f64>, allowed: &Array2<bool>) -> Result<Vec<usize>> {
    check("errors", errors, allowed).and_then(|()| argmin(errors, allowed))
}

/// Chance: for each target, the mean error over its allowed candidates — the expected error of
/// a uniformly random pick.
pub fn chance_expected_error(errors: &Array2<f64>, allowed: &Array2<bool>) -> Result<Vec<f64>> {
    check("errors", errors, allowed)?;
    (0..errors.nrows())
        .map(|t| {
            let (sum, count) = (0..errors.ncols())
                .filter(|&c| allowed[(t, c)])
                .fold((0.0, 0usize), |(s, n), c| (s + errors[(t, c)], n + 1));
            if count == 0 {
                Err(no_candidate(t))
            } else {
                Ok(sum / count as f64)
            }
        })
        .collect()
}

/// Best on average, leave-one-target-out: for target `t`, the allowed candidate with the lowest
/// mean error over the *other* targets (each candidate averaged over the targets where it is
/// allowed). `t`'s own errors are never read, so the selection for `t` is a fair prediction.
/// Candidates allowed for `t` but for no other target cannot be scored and are skipped; a
/// target left with no scorable candidate is an error. Needs at least two targets.
pub fn best_on_average(errors: &Array2<f64>, allowed: &Array2<bool>) -> Result<Vec<usize>> {
    check("errors", errors, allowed)?;
    let (n, m) = errors.dim();
    if n < 2 {
        return Err(invalid(
            "best-on-average needs at least two targets (it averages over the others)",
        ));
    }
    // How many targets allow each candidate.
    let mut count = vec![0usize; m];
    for ((t, c), _) in errors.indexed_iter() {
        if allowed[(t, c)] {
            count[c] += 1;
        }
    }
    (0..n)
        .map(|t| {
            let mut best: Option<(usize, f64)> = None;
            for c in (0..m).filter(|&c| allowed[(t, c)]) {
                // Summing the others directly (not column total − own entry) keeps the
                // result independent of t's errors even in the last bit.
                let others = count[c] - 1;
                if others == 0 {
                    continue;
                }
                let s: f64 = (0..n)
                    .filter(|&u| u != t && allowed[(u, c)])
                    .map(|u| errors[(u, c)])
                    .sum();
                let mean = s / others as f64;
                if best.is_none_or(|(_, b)| mean < b) {
                    best = Some((c, mean));
                }
            }
            best.map(|(c, _)| c).ok_or_else(|| {
                invalid(format!(
                    "target {t}: none of its allowed candidates is allowed for another target"
                ))
            })
        })
        .collect()
}

/// Asymmetric Task2Vec scores: `sym[t][c] = d_sym(source_c, target_t)` and
/// `source_complexity[c] = d_sym(source_c, t₀)`; the result is
/// `d_asym(source_c → target_t) = sym[t][c] − α·source_complexity[c]` (the convention of
/// `task2vec_embedding::asymmetric`: the source is the expert's training task). Lower is better.
pub fn asymmetric_scores(
    sym: &Array2<f64>,
    source_complexity: &[f64],
    alpha: f64,
) -> Result<Array2<f64>> {
    if source_complexity.len() != sym.ncols() {
        return Err(invalid(format!(
            "{} source complexities for {} candidates",
            source_complexity.len(),
            sym.ncols()
        )));
    }
    if !alpha.is_finite() {
        return Err(invalid(format!("α = {alpha} is not a finite number")));
    }
    let mut out = sym.clone();
    for mut row in out.rows_mut() {
        for (v, &c) in row.iter_mut().zip(source_complexity) {
            *v -= alpha * c;
        }
    }
    Ok(out)
}

/// The α the tie rule of [`alpha_by_nested_cv`] prefers: the paper's value.
pub const PREFERRED_ALPHA: f64 = task2vec_embedding::DEFAULT_ALPHA;

/// Asymmetric Task2Vec with α chosen by nested cross-validation: for each held-out target `t`,
/// every α in `grid` selects (by [`argmin`] of [`asymmetric_scores`]) an expert for each other
/// target; the α whose selections have the lowest mean error over the other targets is kept and
/// used to select for `t`. `t`'s errors are never read for `t`'s own selection.
///
/// Ties between grid values (equal mean errors, common with few targets) go to the value
/// closest to [`PREFERRED_ALPHA`] (0.15, the paper's), then to the smaller one. Returns the
/// selections and the α chosen for each target. Needs at least two targets and a non-empty
/// grid of finite values.
pub fn alpha_by_nested_cv(
    sym: &Array2<f64>,
    source_complexity: &[f64],
    errors: &Array2<f64>,
    allowed: &Array2<bool>,
    grid: &[f64],
) -> Result<(Vec<usize>, Vec<f64>)> {
    check("errors", errors, allowed)?;
    check("symmetric distances", sym, allowed)?;
    if grid.is_empty() || grid.iter().any(|a| !a.is_finite()) {
        return Err(invalid(format!(
            "the α grid must be non-empty and finite, not {grid:?}"
        )));
    }
    let n = errors.nrows();
    if n < 2 {
        return Err(invalid(
            "nested cross-validation of α needs at least two targets",
        ));
    }
    // A selection per grid value (row t depends on row t of the scores only).
    let selections: Vec<Vec<usize>> = grid
        .iter()
        .map(|&a| argmin(&asymmetric_scores(sym, source_complexity, a)?, allowed))
        .collect::<Result<_>>()?;
    let mut chosen = Vec::with_capacity(n);
    let mut alphas = Vec::with_capacity(n);
    for t in 0..n {
        let mut best: Option<(usize, f64)> = None;
        for (g, sel) in selections.iter().enumerate() {
            let loss: f64 = (0..n)
                .filter(|&u| u != t)
                .map(|u| errors[(u, sel[u])])
                .sum::<f64>()
                / (n - 1) as f64;
            let wins = match best {
                None => true,
                Some((b, bl)) => loss < bl || (loss == bl && prefer_alpha(grid[g], grid[b])),
            };
            if wins {
                best = Some((g, loss));
            }
        }
        let (g, _) = best.ok_or_else(|| invalid("empty α grid"))?;
        chosen.push(selections[g][t]);
        alphas.push(grid[g]);
    }
    Ok((chosen, alphas))
}

/// Whether α `a` beats `b` on a tie: closer to [`PREFERRED_ALPHA`], then smaller.
fn prefer_alpha(a: f64, b: f64) -> bool {
    let (da, db) = ((a - PREFERRED_ALPHA).abs(), (b - PREFERRED_ALPHA).abs());
    da < db || (da == db && a < b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn all(n: usize, m: usize) -> Array2<bool> {
        Array2::from_elem((n, m), true)
    }

    #[test]
    fn argmin_argmax_respect_the_mask_and_break_ties_low() {
        let s = array![[0.3, 0.1, 0.1], [0.5, 0.2, 0.9]];
        let mut allowed = all(2, 3);
        assert_eq!(argmin(&s, &allowed).unwrap(), [1, 1]);
        assert_eq!(argmax(&s, &allowed).unwrap(), [0, 2]);
        allowed[(1, 2)] = false;
        allowed[(0, 1)] = false;
        // Row 0: 0.3 vs 0.1 → 2. Row 1: 0.5, 0.2 → min 1, max 0.
        assert_eq!(argmin(&s, &allowed).unwrap(), [2, 1]);
        assert_eq!(argmax(&s, &allowed).unwrap(), [0, 0]);
        allowed.row_mut(1).fill(false);
        assert!(argmin(&s, &allowed).is_err());
    }

    #[test]
    fn excluded_entries_are_never_read() {
        let s = array![[f64::NAN, 0.2], [0.1, f64::INFINITY]];
        let allowed = array![[false, true], [true, false]];
        assert_eq!(argmin(&s, &allowed).unwrap(), [1, 0]);
        assert!(argmin(&s, &all(2, 2)).is_err());
    }

    #[test]
    fn chance_is_the_mean_over_allowed_candidates() {
        let e = array![[0.1, 0.2, 0.6], [0.4, 0.4, 0.1]];
        let allowed = array![[true, true, false], [true, true, true]];
        let c = chance_expected_error(&e, &allowed).unwrap();
        assert!((c[0] - 0.15).abs() < 1e-15 && (c[1] - 0.3).abs() < 1e-15);
    }

    #[test]
    fn best_on_average_uses_only_the_other_targets() {
        // Candidate 0 is great on target 0 only, candidate 1 is good everywhere else.
        // For target 0: means over targets 1, 2 are c0 = 0.5, c1 = 0.2 → 1.
        // For target 1 (and likewise 2): over the other two, c0 = (0.0 + 0.5)/2 = 0.25,
        // c1 = (0.4 + 0.2)/2 = 0.3 → 0.
        let e = array![[0.0, 0.4], [0.5, 0.2], [0.5, 0.2]];
        assert_eq!(best_on_average(&e, &all(3, 2)).unwrap(), [1, 0, 0]);
        // Changing target 0's own errors must not change the choice for target 0.
        let mut e2 = e.clone();
        e2[(0, 0)] = 0.9;
        e2[(0, 1)] = 0.0;
        assert_eq!(best_on_average(&e2, &all(3, 2)).unwrap()[0], 1);
        assert!(best_on_average(&array![[0.1, 0.2]], &all(1, 2)).is_err());
    }

    #[test]
    fn asymmetric_scores_subtract_alpha_times_complexity() {
        let sym = array![[0.2, 0.3]];
        let a = asymmetric_scores(&sym, &[0.1, 1.0], 0.15).unwrap();
        assert!((a[(0, 0)] - (0.2 - 0.015)).abs() < 1e-15);
        assert!((a[(0, 1)] - (0.3 - 0.15)).abs() < 1e-15);
        assert!(asymmetric_scores(&sym, &[0.1], 0.15).is_err());
    }

    #[test]
    fn nested_cv_picks_the_alpha_that_helps_the_other_targets() {
        // Candidate 1 is complex (complexity 1) and slightly farther than candidate 0
        // (sym 0.3 vs 0.2): α ≥ 0.1+ prefers it. Its errors are lower on every target, so
        // α = 0.5 wins on the others; α = 0 picks candidate 0.
        let sym = array![[0.2, 0.3], [0.2, 0.3], [0.2, 0.3]];
        let complexity = [0.0, 1.0];
        let errors = array![[0.4, 0.1], [0.4, 0.1], [0.4, 0.1]];
        let (sel, alphas) =
            alpha_by_nested_cv(&sym, &complexity, &errors, &all(3, 2), &[0.0, 0.5]).unwrap();
        assert_eq!(sel, [1, 1, 1]);
        assert_eq!(alphas, [0.5, 0.5, 0.5]);
        // Target 0's own errors do not influence its α or selection.
        let mut e2 = errors.clone();
        e2[(0, 1)] = 0.9;
        let (sel2, alphas2) =
            alpha_by_nested_cv(&sym, &complexity, &e2, &all(3, 2), &[0.0, 0.5]).unwrap();
        assert_eq!((sel2[0], alphas2[0]), (1, 0.5));
        // If the errors cannot tell the grid values apart, the tie goes to the one nearest 0.15.
        let flat = Array2::from_elem((3, 2), 0.2);
        let (_, a) =
            alpha_by_nested_cv(&sym, &complexity, &flat, &all(3, 2), &[0.5, 0.0, 0.3]).unwrap();
        assert_eq!(a, [0.0, 0.0, 0.0]);
        let (_, a) = alpha_by_nested_cv(&sym, &complexity, &flat, &all(3, 2), &[0.1, 0.2]).unwrap();
        assert_eq!(a, [0.1, 0.1, 0.1]);
    }
}
