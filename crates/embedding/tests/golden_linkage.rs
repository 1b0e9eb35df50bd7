//! Clustering against SciPy golden values (ci/golden/linkage.py).

mod common;

use ndarray::Array2;
use serde_json::Value;
use task2vec_embedding::cluster::{LeafOrdering, Linkage, linkage, ordering_cost};

struct Case {
    name: String,
    d: Array2<f64>,
    methods: Vec<(Linkage, Value)>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(common::fixture("linkage.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let rows: Vec<Vec<f64>> = serde_json::from_value(c["matrix"].clone()).unwrap();
            let n = rows.len();
            let d = Array2::from_shape_vec((n, n), rows.concat()).unwrap();
            let methods = ["complete", "average", "single"]
                .iter()
                .map(|m| (m.parse().unwrap(), c["methods"][m].clone()))
                .collect();
            Case {
                name: c["name"].as_str().unwrap().into(),
                d,
                methods,
            }
        })
        .collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn linkage_matrix_equals_scipy() {
    for case in cases() {
        for (method, want) in &case.methods {
            let z = linkage(&case.d, *method).unwrap().to_scipy();
            let zw: Vec<Vec<f64>> = serde_json::from_value(want["z"].clone()).unwrap();
            assert_eq!(z.nrows(), zw.len());
            for (k, row) in zw.iter().enumerate() {
                assert_eq!(z[[k, 0]], row[0], "{} {method} row {k}", case.name);
                assert_eq!(z[[k, 1]], row[1], "{} {method} row {k}", case.name);
                assert!(
                    (z[[k, 2]] - row[2]).abs() <= 1e-12 * row[2].abs(),
                    "{} {method} row {k}",
                    case.name
                );
                assert_eq!(z[[k, 3]], row[3], "{} {method} row {k}", case.name);
            }
        }
    }
}

#[test]
fn leaf_orders_equal_scipy() {
    let mut checked_big = false;
    for case in cases() {
        for (method, want) in &case.methods {
            let tree = linkage(&case.d, *method).unwrap();
            assert_eq!(
                tree.leaves(),
                usizes(&want["leaves"]),
                "{} {method} plain",
                case.name
            );
            let scipy = tree
                .reordered(&case.d, LeafOrdering::Scipy)
                .unwrap()
                .leaves();
            assert_eq!(
                scipy,
                usizes(&want["optimal_leaves"]),
                "{} {method} scipy",
                case.name
            );
            checked_big |= case.d.nrows() >= 12;
        }
    }
    assert!(checked_big);
}

/// Every order a tree allows (2^(n−1) child flips), for a brute-force optimum.
fn all_orders(tree: &task2vec_embedding::Dendrogram, id: usize) -> Vec<Vec<usize>> {
    let n = tree.n_leaves();
    if id < n {
        return vec![vec![id]];
    }
    let m = tree.merges()[id - n];
    let (ls, rs) = (all_orders(tree, m.left), all_orders(tree, m.right));
    let mut out = Vec::new();
    for l in &ls {
        for r in &rs {
            out.push([l.clone(), r.clone()].concat());
            out.push([r.clone(), l.clone()].concat());
        }
    }
    out
}

#[test]
fn optimal_ordering_is_optimal_and_never_worse_than_scipy() {
    for case in cases() {
        for (method, want) in &case.methods {
            let tree = linkage(&case.d, *method).unwrap();
            let best = tree
                .reordered(&case.d, LeafOrdering::Optimal)
                .unwrap()
                .leaves();
            let mut sorted = best.clone();
            sorted.sort();
            assert_eq!(sorted, (0..case.d.nrows()).collect::<Vec<_>>());
            let cost = ordering_cost(&case.d, &best);
            let scipy_cost = ordering_cost(&case.d, &usizes(&want["optimal_leaves"]));
            assert!(
                cost <= scipy_cost + 1e-12,
                "{} {method}: {cost} > scipy {scipy_cost}",
                case.name
            );
            if case.d.nrows() <= 13 {
                let root = 2 * case.d.nrows() - 2;
                let brute = all_orders(&tree, root)
                    .iter()
                    .map(|o| ordering_cost(&case.d, o))
                    .fold(f64::INFINITY, f64::min);
                assert!(
                    (cost - brute).abs() < 1e-12,
                    "{} {method}: {cost} vs brute force {brute}",
                    case.name
                );
            }
        }
    }
}
