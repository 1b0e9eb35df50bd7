//! Classical (Torgerson) multidimensional scaling: 2-D coordinates whose Euclidean distances
//! approximate a distance matrix, for maps of many embeddings.

use ndarray::{Array1, Array2};

use crate::error::{Error, Result};

/// Embed a square distance matrix in `dims` dimensions: double-centre `−½D²`, take the top
/// eigenvectors (power iteration with deflation, deterministic start) scaled by √eigenvalue.
/// Each axis's sign is fixed so its largest-magnitude coordinate is positive.
pub fn classical_mds(d: &Array2<f64>, dims: usize) -> Result<Array2<f64>> {
    let n = d.nrows();
    if d.ncols() != n || n == 0 {
        return Err(Error::BadMatrix(format!(
            "{:?} is not a non-empty square matrix",
            d.dim()
        )));
    }
    if let Some(v) = d.iter().find(|v| !v.is_finite()) {
        return Err(Error::BadMatrix(format!("contains {v}")));
    }
    let sq = d.mapv(|v| v * v);
    let row_mean = sq.mean_axis(ndarray::Axis(1)).expect("n > 0");
    let col_mean = sq.mean_axis(ndarray::Axis(0)).expect("n > 0");
    let all_mean = row_mean.mean().expect("n > 0");
    let mut b = Array2::from_shape_fn((n, n), |(i, j)| {
        -0.5 * (sq[[i, j]] - row_mean[i] - col_mean[j] + all_mean)
    });
    let mut out = Array2::zeros((n, dims));
    let mut k = 0;
    // Largest-magnitude eigenpairs first; negative ones (non-Euclidean part) are deflated and
    // skipped. Bounded number of tries so a pathological matrix cannot loop for long.
    for _ in 0..(4 * dims + 4) {
        if k == dims.min(n) {
            break;
        }
        let (lambda, v) = top_eigen(&b);
        if lambda.abs() < 1e-12 {
            break;
        }
        for i in 0..n {
            for j in 0..n {
                b[[i, j]] -= lambda * v[i] * v[j];
            }
        }
        if lambda < 0.0 {
            continue;
        }
        let extreme = v
            .iter()
            .fold(0.0f64, |m, &x| if x.abs() > m.abs() { x } else { m });
        let sign = if extreme < 0.0 { -1.0 } else { 1.0 };
        out.column_mut(k).assign(&(&v * (sign * lambda.sqrt())));
        k += 1;
    }
    Ok(out)
}

/// Largest-magnitude eigenpair of a symmetric matrix by power iteration (deterministic start).
fn top_eigen(b: &Array2<f64>) -> (f64, Array1<f64>) {
    let n = b.nrows();
    let mut v = Array1::from_shape_fn(n, |i| 1.0 + ((i * 7919) % 101) as f64 / 101.0);
    v /= v.dot(&v).sqrt();
    let mut lambda = 0.0;
    for _ in 0..3000 {
        let w = b.dot(&v);
        let norm = w.dot(&w).sqrt();
        if norm == 0.0 {
            return (0.0, v);
        }
        lambda = v.dot(&w);
        let w = w / norm;
        // Converged when the direction stops changing (up to sign, for negative eigenvalues).
        let same = (&w - &v).iter().map(|x| x.abs()).fold(0.0, f64::max);
        let flipped = (&w + &v).iter().map(|x| x.abs()).fold(0.0, f64::max);
        v = w;
        if same.min(flipped) < 1e-10 {
            break;
        }
    }
    (lambda, v)
}
