//! Agreement of a distance matrix with a taxonomy (docs/reference.md §8, REF's
//! `plot_distance_cub_inat.py`).

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::select::k_smallest;

/// Matrix of taxonomic distances ([`task2vec_common::taxonomic_distance`]) between lineages
/// listed **root first** (e.g. `[kingdom, phylum, class, order]`). REF lists its four ranks
/// finest first; reverse them before calling (the distances are then REF's: 0 same order, 1 same
/// class, 2 same phylum, 3 same kingdom, 4 otherwise).
pub fn taxonomy_matrix<S: PartialEq>(lineages: &[Vec<S>]) -> Array2<f64> {
    let n = lineages.len();
    Array2::from_shape_fn((n, n), |(i, j)| {
        task2vec_common::taxonomic_distance(&lineages[i], &lineages[j]) as f64
    })
}

/// REF's "average top-k taxonomic distance": for each task take its `k` nearest tasks by
/// `distances` (itself excluded), average their taxonomic distance, then average over tasks.
/// Lower means the embedding's neighbours are taxonomically closer.
pub fn average_top_k_taxonomic_distance(
    distances: &Array2<f64>,
    taxonomy: &Array2<f64>,
    k: usize,
) -> Result<f64> {
    let n = distances.nrows();
    if distances.dim() != (n, n) || taxonomy.dim() != (n, n) {
        return Err(Error::BadMatrix(format!(
            "distances are {:?} and taxonomy {:?}; both must be the same square shape",
            distances.dim(),
            taxonomy.dim()
        )));
    }
    if k == 0 || k >= n {
        return Err(Error::InvalidArgument(format!(
            "k = {k} must be in 1..={}",
            n - 1
        )));
    }
    let total: f64 = (0..n)
        .map(|i| {
            let nn = k_smallest(distances.row(i), k, Some(i));
            nn.iter().map(|&j| taxonomy[[i, j]]).sum::<f64>() / k as f64
        })
        .sum();
    Ok(total / n as f64)
}
