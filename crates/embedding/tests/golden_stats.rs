//! The distance-matrix statistics of `stats` (Mantel test, top-k curve and its random baseline)
//! against golden values from numpy/SciPy by exhaustive enumeration (ci/golden/stats.py).

mod common;

use common::fixture;
use ndarray::{Array2, array};
use serde_json::Value;
use task2vec_embedding::{Error, stats};

fn stats_fixture() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("stats.json")).unwrap()).unwrap()
}

fn number(f: &Value, key: &str) -> f64 {
    f[key]
        .as_f64()
        .unwrap_or_else(|| panic!("fixture has no number {key}"))
}

fn matrix(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    let n = rows.len();
    Array2::from_shape_vec((n, rows[0].len()), rows.concat()).unwrap()
}

/// 20,000 random relabellings estimate the exact p-value (over all 7! = 5040) with a standard
/// error of sqrt(p(1−p)/20000) ≈ 0.002 at p ≈ 0.08; 0.008 is four of them.
const PERMUTATIONS: usize = 20_000;
const P_TOLERANCE: f64 = 0.008;

#[test]
fn mantel_matches_scipy_spearman_and_the_exact_permutation_p_value() {
    let f = stats_fixture();
    let (a, b) = (matrix(&f["mantel_a"]), matrix(&f["mantel_b"]));
    let m = stats::mantel(&a, &b, stats::spearman, PERMUTATIONS, 3).unwrap();
    let want_r = number(&f, "mantel_spearman");
    assert!(
        (m.statistic - want_r).abs() < 1e-12,
        "{} vs {want_r}",
        m.statistic
    );
    assert_eq!(m.permutations, PERMUTATIONS);
    let exact = number(&f, "mantel_p_exact");
    assert!(
        (m.p_value - exact).abs() < P_TOLERANCE,
        "p = {} but the exact one-sided p-value is {exact}",
        m.p_value
    );
    // The fixture tells the right test from the two likely wrong ones: a two-sided p-value and
    // one from shuffling pairs instead of tasks are both far outside the tolerance.
    for wrong in ["mantel_p_two_sided", "mantel_p_pair_shuffle"] {
        let p = number(&f, wrong);
        assert!((p - exact).abs() > 3.0 * P_TOLERANCE, "{wrong} = {p}");
    }
}

#[test]
fn mantel_is_reproducible_from_its_seed_and_symmetric_in_its_arguments() {
    let f = stats_fixture();
    let (a, b) = (matrix(&f["mantel_a"]), matrix(&f["mantel_b"]));
    let m1 = stats::mantel(&a, &b, stats::spearman, 999, 11).unwrap();
    assert_eq!(m1, stats::mantel(&a, &b, stats::spearman, 999, 11).unwrap());
    let swapped = stats::mantel(&b, &a, stats::spearman, 999, 11).unwrap();
    assert!((swapped.statistic - m1.statistic).abs() < 1e-12);
    // The smallest p-value is 1/(1 + permutations): the observation counts as one of them.
    let perfect = stats::mantel(&b, &b, stats::spearman, 99, 0).unwrap();
    assert!((perfect.statistic - 1.0).abs() < 1e-12);
    assert!(perfect.p_value >= 1.0 / 100.0);
}

#[test]
fn mantel_separates_a_distance_that_follows_the_taxonomy_from_one_that_does_not() {
    // 12 tasks in 4 groups of 3: within a group distance 1, across 2.
    let n = 12;
    let t = Array2::from_shape_fn((n, n), |(i, j)| match (i == j, i / 3 == j / 3) {
        (true, _) => 0.0,
        (false, true) => 1.0,
        (false, false) => 2.0,
    });
    let follows = Array2::from_shape_fn((n, n), |(i, j)| {
        if i == j {
            0.0
        } else {
            t[[i, j]] + 0.01 * (((i * 7 + j * 7) % 5) as f64)
        }
    });
    let m = stats::mantel(&follows, &t, stats::spearman, 199, 1).unwrap();
    // The taxonomy takes two values (12 within-group pairs of 66), so even a distance that
    // separates the groups perfectly reaches only ρ ≈ sqrt(3·p·(1−p)) ≈ 0.67 with p = 12/66.
    assert!(m.statistic > 0.6, "{m:?}");
    assert!(m.p_value < 0.01, "{m:?}");
    let unrelated = Array2::from_shape_fn((n, n), |(i, j)| {
        if i == j {
            0.0
        } else {
            ((i + j) % 2) as f64 + 0.001 * (i * j) as f64
        }
    });
    let m = stats::mantel(&unrelated, &t, stats::spearman, 199, 1).unwrap();
    assert!(m.p_value > 0.05, "{m:?}");
}

#[test]
fn mantel_refuses_matrices_it_cannot_test() {
    let sym = array![[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]];
    let asym = array![[0.0, 1.0, 2.0], [1.5, 0.0, 3.0], [2.0, 3.0, 0.0]];
    let rect = Array2::zeros((3, 4));
    let two = array![[0.0, 1.0], [1.0, 0.0]];
    let four = Array2::from_shape_fn((4, 4), |(i, j)| (i as f64 - j as f64).abs());
    let constant = array![[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]];
    let mut nan = sym.clone();
    nan[[0, 1]] = f64::NAN;
    nan[[1, 0]] = f64::NAN;
    let spearman = stats::spearman;
    let cases: [(&str, Result<stats::Mantel, Error>); 7] = [
        ("not symmetric", stats::mantel(&asym, &sym, spearman, 9, 0)),
        ("not square", stats::mantel(&rect, &sym, spearman, 9, 0)),
        (
            "different sizes",
            stats::mantel(&sym, &four, spearman, 9, 0),
        ),
        (
            "at least 3 items",
            stats::mantel(&two, &two, spearman, 9, 0),
        ),
        (
            "at least one permutation",
            stats::mantel(&sym, &sym, spearman, 0, 0),
        ),
        ("constant", stats::mantel(&sym, &constant, spearman, 9, 0)),
        ("not finite", stats::mantel(&nan, &sym, spearman, 9, 0)),
    ];
    for (want, got) in cases {
        let err = got.expect_err(want).to_string();
        assert!(err.contains(want), "expected {want:?} in {err:?}");
    }
}

#[test]
fn top_k_curve_matches_refs_formula_at_every_golden_k() {
    let f = stats_fixture();
    let (d, tax) = (matrix(&f["distances"]), matrix(&f["taxonomy"]));
    let curve = stats::top_k_curve(&d, &tax).unwrap();
    assert_eq!(curve.len(), d.nrows() - 1);
    for (k, want) in f["top_k"].as_object().unwrap() {
        let k: usize = k.parse().unwrap();
        let want = want.as_f64().unwrap();
        assert!(
            (curve[k - 1] - want).abs() < 1e-12,
            "k={k}: {} vs {want}",
            curve[k - 1]
        );
    }
}

#[test]
fn random_baseline_is_the_enumerated_expectation_for_every_k() {
    let f = stats_fixture();
    let tax = matrix(&f["taxonomy"]);
    let got = stats::random_top_k_baseline(&tax).unwrap();
    for (k, want) in f["random_top_k"].as_object().unwrap() {
        let want = want.as_f64().unwrap();
        assert!((got - want).abs() < 1e-12, "k={k}: {got} vs {want}");
    }
    // At k = n − 1 each task's neighbours are all the other tasks, whatever the ranking: every
    // curve ends at the baseline.
    let curve = stats::top_k_curve(&matrix(&f["distances"]), &tax).unwrap();
    assert!((curve[tax.nrows() - 2] - got).abs() < 1e-12);
    assert!(stats::random_top_k_baseline(&Array2::zeros((1, 1))).is_err());
}

#[test]
fn upper_triangle_lists_each_pair_once_row_by_row() {
    let m = array![[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]];
    assert_eq!(stats::upper_triangle(&m).unwrap(), vec![1.0, 2.0, 3.0]);
    assert!(stats::upper_triangle(&Array2::zeros((2, 3))).is_err());
}
