//! Selection statistics against `ci/golden/selection_stats.py` (scipy's Wilcoxon test; numpy
//! for the relative increases, top-1 and regret on a fixed matrix).

use ndarray::Array2;
use serde_json::Value;
use task2vec_model2vec::evaluate::{
    regret, relative_increase, selected_errors, top1_accuracy, wilcoxon_signed_rank,
};
use task2vec_model2vec::selectors::{chance_expected_error, oracle};

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/selection_stats.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// The script's cases, with the formulas evaluated the same way.
fn wilcoxon_inputs(name: &str) -> (Vec<f64>, Vec<f64>) {
    match name {
        "literal" => (
            vec![0.31, 0.12, 0.55, 0.47, 0.20, 0.38, 0.61, 0.09],
            vec![0.25, 0.18, 0.40, 0.52, 0.11, 0.30, 0.42, 0.10],
        ),
        "ties" => (
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
            vec![0.0, 1.0, 4.0, 2.0, 7.0, 4.0, 5.0, 9.0, 6.0],
        ),
        "zeros" => (
            vec![0.5, 0.25, 0.75, 0.125, 0.5, 0.375, 0.625],
            vec![0.5, 0.125, 0.75, 0.25, 0.25, 0.375, 0.25],
        ),
        "ties_and_zeros" => (
            vec![2.0, 3.0, 3.0, 5.0, 1.0, 4.0, 6.0, 2.0, 8.0, 7.0],
            vec![2.0, 1.0, 4.0, 3.0, 1.0, 6.0, 4.0, 3.0, 5.0, 7.0],
        ),
        "formula_40" => (
            (0..40).map(|i| ((i * 37) % 23) as f64 / 23.0).collect(),
            (0..40).map(|i| ((i * 11) % 19) as f64 / 19.0).collect(),
        ),
        other => panic!("unknown case {other}"),
    }
}

#[test]
fn wilcoxon_matches_scipy() {
    let fx = fixture();
    let cases = fx["wilcoxon"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let (x, y) = wilcoxon_inputs(name);
        let r = wilcoxon_signed_rank(&x, &y).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
        assert!(
            close(r.statistic, c["statistic"].as_f64().unwrap()),
            "{name}: {r:?}"
        );
        assert!(close(r.z, c["z"].as_f64().unwrap()), "{name}: {r:?}");
        assert!(
            close(r.p_value, c["p_value"].as_f64().unwrap()),
            "{name}: {r:?}"
        );
        assert_eq!(r.n_used as u64, c["n_used"].as_u64().unwrap(), "{name}");
    }
}

#[test]
fn table_statistics_match_numpy() {
    let fx = fixture();
    let t = &fx["table"];
    let rows: Vec<Vec<f64>> = t["errors"].as_array().unwrap().iter().map(floats).collect();
    let (n, m) = (rows.len(), rows[0].len());
    let errors = Array2::from_shape_fn((n, m), |(i, j)| rows[i][j]);
    let allowed = Array2::from_shape_fn((n, m), |(i, j)| t["allowed"][i][j].as_bool().unwrap());
    let selection: Vec<usize> = t["selection"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let floor = t["floor"].as_f64().unwrap();
    let best = oracle(&errors, &allowed).unwrap();
    let expected_oracle: Vec<usize> = t["oracle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(best, expected_oracle);
    let e_oracle = selected_errors(&errors, &best).unwrap();
    let e_sel = selected_errors(&errors, &selection).unwrap();
    let close = |a: f64, key: &str| {
        let b = t[key].as_f64().unwrap();
        assert!(
            (a - b).abs() <= 1e-12 * b.abs().max(1.0),
            "{key}: {a} vs {b}"
        );
    };
    let r = relative_increase(&e_sel, &e_oracle, floor).unwrap();
    close(r.ratio_of_means, "ratio_of_means");
    close(r.mean_of_ratios, "mean_of_ratios");
    assert_eq!(r.floored as u64, t["floored"].as_u64().unwrap());
    close(top1_accuracy(&e_sel, &e_oracle).unwrap(), "top1");
    close(regret(&e_sel, &e_oracle).unwrap(), "regret");
    let chance = chance_expected_error(&errors, &allowed).unwrap();
    for (a, b) in chance.iter().zip(floats(&t["chance_errors"])) {
        assert!((a - b).abs() <= 1e-15, "{a} vs {b}");
    }
    let rc = relative_increase(&chance, &e_oracle, floor).unwrap();
    close(rc.ratio_of_means, "chance_ratio_of_means");
    close(rc.mean_of_ratios, "chance_mean_of_ratios");
}
