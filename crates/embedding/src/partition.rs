//! Distances between two labellings (partitions) of the same items: the ground truth of a
//! suite whose tasks share their images and differ only in their labels (`labels`), where the
//! taxonomy says nothing.
//!
//! * [`variation_of_information`] (VI, Meilă 2007) — **the reported ground truth**
//!   ([`partition_distance`]);
//! * [`adjusted_mutual_information`] (AMI, Vinh et al. 2010, as scikit-learn computes it) —
//!   kept as the alternative, `1 − AMI` being its distance;
//! * [`normalized_variation_of_information`] (VI / ln n), [`mutual_information`],
//!   [`label_entropy`];
//! * [`mantel_within_groups`]: a Mantel test over the pairs of items that belong to the same
//!   group, for a ground truth that exists only within groups (within one image pool).
//!
//! Logarithms are natural (nats). Labels are arbitrary integers: only which items share a
//! label matters, so renaming the labels changes nothing. Golden values come from scikit-learn
//! and SciPy (`ci/golden/partition_distance.py`).
use std::collections::BTreeMap;

use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::stats::Mantel;

/// The contingency table of two labellings: `n[i][j]` items with the i-th label of `a` and the
/// j-th of `b` (labels compacted in increasing order), with its row and column sums.
struct Contingency {
    n: usize,
    table: Vec<Vec<usize>>,
    rows: Vec<usize>,
    cols: Vec<usize>,
}

fn compact(labels: &[usize]) -> (Vec<usize>, usize) {
    let mut index = BTreeMap::new();
    for &l in labels {
        index.insert(l, 0);
    }
    for (k, v) in index.values_mut().enumerate() {
        *v = k;
    }
    (labels.iter().map(|l| index[l]).collect(), index.len())
}

fn contingency(a: &[usize], b: &[usize]) -> Result<Contingency> {
    if a.len() != b.len() {
        return Err(Error::InvalidArgument(format!(
            "the two labellings have different lengths ({} vs {}): they must label the same items",
            a.len(),
            b.len()
        )));
    }
    if a.is_empty() {
        return Err(Error::InvalidArgument(
            "a partition distance needs at least one item".into(),
        ));
    }
    let ((a, ra), (b, rb)) = (compact(a), compact(b));
    let mut table = vec![vec![0usize; rb]; ra];
    for (&i, &j) in a.iter().zip(&b) {
        table[i][j] += 1;
    }
    let rows = table.iter().map(|r| r.iter().sum()).collect();
    let cols = (0..rb).map(|j| table.iter().map(|r| r[j]).sum()).collect();
    Ok(Contingency {
        n: a.len(),
        table,
        rows,
        cols,
    })
}

/// Entropy of the class sizes `counts` out of `n` items, in nats.
fn entropy_of(counts: &[usize], n: usize) -> f64 {
    let n = n as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.ln()
        })
        .sum()
}

/// Entropy of a labelling, in nats: `−Σ_k p_k ln p_k` over its label frequencies (0 for one
/// label; `scipy.stats.entropy` of the label counts). Errors on an empty labelling.
pub fn label_entropy(labels: &[usize]) -> Result<f64> {
    let c = contingency(labels, labels)?;
    Ok(entropy_of(&c.rows, c.n))
}

/// Mutual information of two labellings of the same items, in nats
/// (`sklearn.metrics.mutual_info_score`). Errors when the lengths differ or are 0.
pub fn mutual_information(a: &[usize], b: &[usize]) -> Result<f64> {
    let c = contingency(a, b)?;
    Ok(mutual_information_of(&c))
}

fn mutual_information_of(c: &Contingency) -> f64 {
    let n = c.n as f64;
    let mut mi = 0.0;
    for (i, row) in c.table.iter().enumerate() {
        for (j, &nij) in row.iter().enumerate() {
            if nij > 0 {
                let nij = nij as f64;
                mi += nij / n * (n * nij / (c.rows[i] as f64 * c.cols[j] as f64)).ln();
            }
        }
    }
    mi.max(0.0)
}

/// Variation of information `VI(a, b) = H(a | b) + H(b | a) = H(a) + H(b) − 2 I(a; b)`, in nats:
/// what one labelling of the items says that the other does not, counted both ways.
///
/// It is a metric on partitions (0 exactly when the two labellings group the items the same
/// way up to renaming; symmetric; triangle inequality), bounded by `ln n`. Computed as the sum
/// of the two conditional entropies, term by term, so it never comes out negative by rounding.
pub fn variation_of_information(a: &[usize], b: &[usize]) -> Result<f64> {
    let c = contingency(a, b)?;
    let n = c.n as f64;
    let mut vi = 0.0;
    for (i, row) in c.table.iter().enumerate() {
        for (j, &nij) in row.iter().enumerate() {
            if nij > 0 {
                let nij = nij as f64;
                // −p_ij [ln(p_ij / p_i) + ln(p_ij / p_j)], each logarithm ≤ 0.
                vi -= nij / n * ((nij / c.rows[i] as f64).ln() + (nij / c.cols[j] as f64).ln());
            }
        }
    }
    Ok(vi.max(0.0))
}

/// `VI(a, b) / ln n`, in [0, 1] (Meilă's bound); 0 when there is a single item.
pub fn normalized_variation_of_information(a: &[usize], b: &[usize]) -> Result<f64> {
    let vi = variation_of_information(a, b)?;
    let n = a.len() as f64;
    Ok(if n > 1.0 { vi / n.ln() } else { 0.0 })
}

/// The ground truth between two labellings of one image pool that `cargo xtask reproduce`
/// reports: the [`variation_of_information`], in nats.
///
/// Why VI rather than `1 −` [`adjusted_mutual_information`]: VI is a true metric on
/// partitions, and it grows with the information one task asks for and the other does not in
/// *both* directions — a 10-way task is far from its 2-way coarsening (VI = ln 5 for balanced
/// classes) because it asks for much more, which a task embedding that reflects what the
/// labels demand of the features should also show. `1 − AMI` instead puts every pair of
/// unrelated labellings at ≈ 1 whatever their numbers of classes, and rests on a chance model
/// (random labellings with the same class sizes) that says nothing about the tasks. Within
/// one pool the number of items is fixed, so VI needs no normalisation there (and across
/// pools of a few hundred images its scale is set by the label entropies, at most ln 10 for
/// ten classes, not by n).
pub fn partition_distance(a: &[usize], b: &[usize]) -> Result<f64> {
    variation_of_information(a, b)
}

/// `ln k!` for `k = 0..=n` (a running sum of logarithms: exact enough for the expected mutual
/// information, whose terms are differences of such values).
fn ln_factorials(n: usize) -> Vec<f64> {
    let mut v = Vec::with_capacity(n + 1);
    let mut acc = 0.0f64;
    v.push(0.0);
    for k in 1..=n {
        acc += (k as f64).ln();
        v.push(acc);
    }
    v
}

/// Expected mutual information of two random labellings with the class sizes of `c` (the
/// hypergeometric model of Vinh, Epps & Bailey 2010; scikit-learn's
/// `expected_mutual_information`).
fn expected_mutual_information(c: &Contingency) -> f64 {
    if c.rows.len() == 1 || c.cols.len() == 1 {
        return 0.0;
    }
    let n = c.n;
    let lf = ln_factorials(n);
    let nf = n as f64;
    let mut emi = 0.0;
    for &a in &c.rows {
        for &b in &c.cols {
            let start = (a + b).saturating_sub(n).max(1);
            let end = a.min(b);
            for nij in start..=end {
                let term2 = (nf * nij as f64).ln() - (a as f64).ln() - (b as f64).ln();
                let gln = lf[a] + lf[b] + lf[n - a] + lf[n - b]
                    - lf[nij]
                    - lf[n]
                    - lf[a - nij]
                    - lf[b - nij]
                    - lf[n + nij - a - b];
                emi += nij as f64 / nf * term2 * gln.exp();
            }
        }
    }
    emi
}

/// Adjusted mutual information with the arithmetic mean of the two entropies as normaliser,
/// as `sklearn.metrics.adjusted_mutual_info_score` computes it by default:
/// `(I − E[I]) / ((H(a) + H(b)) / 2 − E[I])`, 1 for identical partitions, ≈ 0 (and possibly
/// negative) for independent ones; 1 when both labellings have a single label. `1 − AMI` is the
/// alternative ground truth (see [`partition_distance`] for why it is not the reported one).
pub fn adjusted_mutual_information(a: &[usize], b: &[usize]) -> Result<f64> {
    let c = contingency(a, b)?;
    if c.rows.len() == 1 && c.cols.len() == 1 {
        return Ok(1.0);
    }
    let mi = mutual_information_of(&c);
    let emi = expected_mutual_information(&c);
    let normaliser = (entropy_of(&c.rows, c.n) + entropy_of(&c.cols, c.n)) / 2.0;
    let mut denominator = normaliser - emi;
    // scikit-learn's guard against a vanishing denominator.
    denominator = if denominator < 0.0 {
        denominator.min(-f64::EPSILON)
    } else {
        denominator.max(f64::EPSILON)
    };
    Ok((mi - emi) / denominator)
}

/// Mantel test restricted to the pairs of items in the same group: the correlation `stat`
/// (e.g. [`crate::stats::spearman`]) between `a[i, j]` and `b[i, j]` over the pairs `i < j` with
/// `groups[i] == groups[j]`, and a one-sided permutation p-value for a positive correlation,
/// `(1 + #{r_π ≥ r − 1e-12}) / (1 + permutations)`.
///
/// For a ground truth that exists only within groups — the partition distance between two
/// labellings of one image pool; tasks on different pools have none — the permutations relabel
/// the items *within* each group (rows and columns together, as [`crate::stats::mantel`] does for
/// all items), so each permuted statistic is again computed over within-group pairs. Entries
/// between different groups are never read (they may be NaN). With a single group this is
/// exactly [`crate::stats::mantel`] (same permutation stream for the same `seed`).
///
/// Errors when the matrices are not square or of different sizes, `groups` has another length,
/// fewer than 3 within-group pairs exist, a within-group pair is not finite or not symmetric,
/// the statistic is undefined (e.g. constant pairs), or `permutations` is 0.
pub fn mantel_within_groups(
    a: &Array2<f64>,
    b: &Array2<f64>,
    groups: &[usize],
    stat: fn(&[f64], &[f64]) -> Result<f64>,
    permutations: usize,
    seed: u64,
) -> Result<Mantel> {
    let n = groups.len();
    for (what, m) in [("first", a), ("second", b)] {
        if m.dim() != (n, n) {
            return Err(Error::BadMatrix(format!(
                "the {what} matrix is {:?}, but there are {n} group labels",
                m.dim()
            )));
        }
    }
    if permutations == 0 {
        return Err(Error::InvalidArgument(
            "a Mantel test needs at least one permutation".into(),
        ));
    }
    let pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .filter(|&(i, j)| groups[i] == groups[j])
        .collect();
    if pairs.len() < 3 {
        return Err(Error::InvalidArgument(format!(
            "a within-group Mantel test needs at least 3 within-group pairs, got {}",
            pairs.len()
        )));
    }
    for (what, m) in [("first", a), ("second", b)] {
        for &(i, j) in &pairs {
            let (u, l) = (m[[i, j]], m[[j, i]]);
            if !u.is_finite() || !l.is_finite() {
                return Err(Error::InvalidArgument(format!(
                    "the {what} matrix has a non-finite within-group entry at [{i}, {j}]"
                )));
            }
            if (u - l).abs() > 1e-12 * u.abs().max(l.abs()) {
                return Err(Error::BadMatrix(format!(
                    "the {what} matrix is not symmetric: [{i}, {j}] = {u} but [{j}, {i}] = {l}"
                )));
            }
        }
    }
    let x: Vec<f64> = pairs.iter().map(|&(i, j)| a[[i, j]]).collect();
    let y: Vec<f64> = pairs.iter().map(|&(i, j)| b[[i, j]]).collect();
    let observed = stat(&x, &y)?;
    // Members of each group in increasing order; each list is shuffled in place, cumulatively,
    // as stats::mantel shuffles its one list of all items.
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &g) in groups.iter().enumerate() {
        members.entry(g).or_default().push(i);
    }
    let mut lists: Vec<(Vec<usize>, Vec<usize>)> =
        members.into_values().map(|m| (m.clone(), m)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut perm: Vec<usize> = (0..n).collect();
    let mut permuted = Vec::with_capacity(pairs.len());
    let mut hits = 0usize;
    for _ in 0..permutations {
        for (slots, list) in &mut lists {
            list.shuffle(&mut rng);
            for (&slot, &item) in slots.iter().zip(list.iter()) {
                perm[slot] = item;
            }
        }
        permuted.clear();
        permuted.extend(pairs.iter().map(|&(i, j)| b[[perm[i], perm[j]]]));
        if stat(&x, &permuted)? >= observed - 1e-12 {
            hits += 1;
        }
    }
    Ok(Mantel {
        statistic: observed,
        p_value: (1 + hits) as f64 / (1 + permutations) as f64,
        permutations,
    })
}

#[cfg(test)]
// The golden values are ci/golden/partition_distance.py's printed output, pasted verbatim (some
// happen to be ln 2).
#[allow(clippy::approx_constant)]
mod tests {
    use super::*;
    use crate::stats::{mantel, spearman};

    /// Printed by `python ci/golden/partition_distance.py` (scikit-learn 1.9.1, SciPy 1.17.1):
    /// name, H(a), H(b), MI, VI, VI / ln n, AMI. The labellings are built by [`case`].
    const GOLDEN: [(&str, f64, f64, f64, f64, f64, f64); 7] = [
        (
            "independent",
            0.6931471805599453,
            0.6931471805599453,
            0.0,
            1.3862943611198906,
            1.0,
            -0.49999999999999944,
        ),
        (
            "renamed",
            1.0549201679861442,
            1.0549201679861442,
            1.0549201679861442,
            0.0,
            0.0,
            1.0,
        ),
        (
            "one_class",
            0.0,
            0.6365141682948128,
            0.0,
            0.6365141682948128,
            0.355245321275764,
            0.0,
        ),
        (
            "digit_vs_parity",
            2.3025850929940455,
            0.6931471805599453,
            0.6931471805599454,
            1.6094379124341,
            0.47319744543833925,
            0.3803019178884425,
        ),
        (
            "formula_7_vs_4",
            1.3493084196451943,
            1.3854941476499067,
            0.028768575402164098,
            2.6772654164907728,
            0.6843685256390161,
            -0.05826923851399225,
        ),
        (
            "ten_vs_merged_300",
            2.3025850929940455,
            2.1639556568820564,
            2.1639556568820564,
            0.13862943611198908,
            0.024304825215191093,
            0.9670093464819102,
        ),
        (
            "formula_5_vs_3_300",
            1.6092721489217923,
            0.6899437584583995,
            0.0043976378970183305,
            2.290420631586155,
            0.4015617078251589,
            -0.002045387267197379,
        ),
    ];

    /// The labellings of `ci/golden/partition_distance.py`'s CASES, by the same formulas.
    fn case(name: &str) -> (Vec<usize>, Vec<usize>) {
        let f = |n: usize, g: fn(usize) -> usize| (0..n).map(g).collect::<Vec<_>>();
        match name {
            "independent" => (vec![0, 0, 1, 1], vec![0, 1, 0, 1]),
            "renamed" => (vec![0, 0, 1, 1, 2], vec![2, 2, 0, 0, 1]),
            "one_class" => (vec![0; 6], vec![0, 1, 1, 0, 1, 1]),
            "digit_vs_parity" => (f(30, |i| i % 10), f(30, |i| (i % 10) % 2)),
            "formula_7_vs_4" => (
                f(50, |i| (i * i + 3 * i) % 7),
                f(50, |i| (5 * i + i / 4) % 4),
            ),
            "ten_vs_merged_300" => (f(300, |i| i % 10), f(300, |i| (i % 10).min(8))),
            "formula_5_vs_3_300" => (
                f(300, |i| (i * 37 + 11) % 101 % 5),
                f(300, |i| (i * i) % 13 % 3),
            ),
            _ => unreachable!(),
        }
    }

    fn close(what: &str, got: f64, want: f64) {
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{what}: {got} vs {want}"
        );
    }

    #[test]
    fn golden_values_from_sklearn() {
        for (name, ha, hb, mi, vi, nvi, ami) in GOLDEN {
            let (a, b) = case(name);
            close(&format!("{name} H(a)"), label_entropy(&a).unwrap(), ha);
            close(&format!("{name} H(b)"), label_entropy(&b).unwrap(), hb);
            close(
                &format!("{name} MI"),
                mutual_information(&a, &b).unwrap(),
                mi,
            );
            close(
                &format!("{name} VI"),
                variation_of_information(&a, &b).unwrap(),
                vi,
            );
            close(
                &format!("{name} NVI"),
                normalized_variation_of_information(&a, &b).unwrap(),
                nvi,
            );
            // The expected MI is a sum of exp(differences of log-factorials): 1e-10.
            let got = adjusted_mutual_information(&a, &b).unwrap();
            assert!((got - ami).abs() < 1e-10, "{name} AMI: {got} vs {ami}");
            close(
                &format!("{name} partition distance"),
                partition_distance(&a, &b).unwrap(),
                vi,
            );
        }
    }

    #[test]
    fn partition_distances_are_symmetric_and_blind_to_label_names() {
        let (a, b) = case("formula_7_vs_4");
        let renamed: Vec<usize> = a.iter().map(|&l| 100 - 7 * l).collect();
        let vi = variation_of_information(&a, &b).unwrap();
        close("symmetric", variation_of_information(&b, &a).unwrap(), vi);
        close(
            "renamed",
            variation_of_information(&renamed, &b).unwrap(),
            vi,
        );
        close(
            "AMI symmetric",
            adjusted_mutual_information(&b, &a).unwrap(),
            adjusted_mutual_information(&a, &b).unwrap(),
        );
        assert_eq!(variation_of_information(&a, &renamed).unwrap(), 0.0);
        // Triangle inequality on three labellings of the same items.
        let c: Vec<usize> = (0..50).map(|i| i % 3).collect();
        let (ab, bc, ac) = (
            variation_of_information(&a, &b).unwrap(),
            variation_of_information(&b, &c).unwrap(),
            variation_of_information(&a, &c).unwrap(),
        );
        assert!(ac <= ab + bc + 1e-12);
        // Both labellings with one label: identical partitions.
        assert_eq!(adjusted_mutual_information(&[3, 3], &[1, 1]).unwrap(), 1.0);
    }

    #[test]
    fn labellings_of_different_items_are_refused() {
        assert!(variation_of_information(&[0, 1], &[0, 1, 1]).is_err());
        assert!(adjusted_mutual_information(&[], &[]).is_err());
        assert!(label_entropy(&[]).is_err());
    }

    /// A symmetric matrix from the upper-triangle function `f(i, j)`.
    fn symmetric(n: usize, f: impl Fn(usize, usize) -> f64) -> Array2<f64> {
        Array2::from_shape_fn((n, n), |(i, j)| match i.cmp(&j) {
            std::cmp::Ordering::Less => f(i, j),
            std::cmp::Ordering::Greater => f(j, i),
            std::cmp::Ordering::Equal => 0.0,
        })
    }

    #[test]
    fn one_group_is_the_plain_mantel_test() {
        let a = symmetric(7, |i, j| ((i * 7 + j * 3) % 11) as f64 + 0.1 * i as f64);
        let b = symmetric(7, |i, j| ((i * 5 + j * 2) % 13) as f64 + (j - i) as f64);
        let plain = mantel(&a, &b, spearman, 199, 3).unwrap();
        let grouped = mantel_within_groups(&a, &b, &[4; 7], spearman, 199, 3).unwrap();
        assert_eq!(plain, grouped);
    }

    #[test]
    fn only_within_group_pairs_count_and_permutations_stay_within_groups() {
        // Two groups of three; the cross-group entries are NaN and must never be read.
        let groups = [0, 0, 0, 1, 1, 1];
        let within = |i: usize, j: usize| groups[i] == groups[j];
        let truth = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let value = |i: usize, j: usize| truth[i] + truth[j] + if i == 0 { 10.0 } else { 0.0 };
        let a = symmetric(6, |i, j| if within(i, j) { value(i, j) } else { f64::NAN });
        let b = a.clone();
        let m = mantel_within_groups(&a, &b, &groups, spearman, 2000, 1).unwrap();
        assert!((m.statistic - 1.0).abs() < 1e-12);
        // Exact p-value by enumerating the 3!·3! = 36 within-group relabellings: those that
        // keep every within-group pair's rank order give r = 1.
        let perms3: [[usize; 3]; 6] = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        let pairs: Vec<(usize, usize)> = (0..6)
            .flat_map(|i| (i + 1..6).map(move |j| (i, j)))
            .filter(|&(i, j)| within(i, j))
            .collect();
        let x: Vec<f64> = pairs.iter().map(|&(i, j)| a[[i, j]]).collect();
        let mut reach = 0;
        for p in perms3 {
            for q in perms3 {
                let perm = [p[0], p[1], p[2], 3 + q[0], 3 + q[1], 3 + q[2]];
                let y: Vec<f64> = pairs.iter().map(|&(i, j)| b[[perm[i], perm[j]]]).collect();
                if spearman(&x, &y).unwrap() >= 1.0 - 1e-12 {
                    reach += 1;
                }
            }
        }
        let exact = reach as f64 / 36.0;
        assert!(
            (m.p_value - exact).abs() < 0.03,
            "p {} vs exact {exact}",
            m.p_value
        );
        // Group labels that do not match the matrix size, or too few pairs, are refused.
        assert!(mantel_within_groups(&a, &b, &groups[..5], spearman, 10, 0).is_err());
        assert!(mantel_within_groups(&a, &b, &[0, 0, 1, 1, 2, 2], spearman, 10, 0).is_err());
    }
}
