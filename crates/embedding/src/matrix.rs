//! Distance matrices of many embeddings (`pdist`, `cdist`) and their CSV / `.npy` files.
//!
//! The work is split into tiles of `TILE × TILE` pairs processed in parallel (rayon); inside a
//! tile the columns are walked in chunks of [`CHUNK`](crate::distance) values, so the tile's
//! rows stay in the L2 cache while every pair of the tile consumes them. Each pair accumulates
//! its chunks in the same order as a single [`distance`](crate::distance) call, so both agree
//! bit for bit.

use std::path::Path;

use ndarray::Array2;
use rayon::prelude::*;

use crate::distance::{self, Acc, CHUNK, Metric, Prepared};
use crate::embedding::{Compatibility, Embedding};
use crate::error::{Error, Result};
use crate::io::{read_matrix_npy, write_atomic, write_matrix_npy};

/// Rows per tile: 2 × 32 rows × 512 f64 = 256 KiB of inputs per chunk, sized for L2.
const TILE: usize = 32;

/// Every embedding must be comparable with the first (layout) and with the first one that
/// records a probe (an embedding without provenance is compatible with any probe, so
/// comparing with the first alone would let two different probes through).
/// The same holds for every recorded setting under [`Compatibility::Strict`]: each embedding is
/// checked against the first one that records it.
fn check_all_comparable<'a>(
    all: impl Iterator<Item = &'a Embedding> + Clone,
    compat: Compatibility,
) -> Result<()> {
    let Some(first) = all.clone().next() else {
        return Ok(());
    };
    let meta = |pick: fn(&Embedding) -> bool| all.clone().find(|e| pick(e));
    let witnesses = [
        meta(|e| e.meta().probe.is_some()),
        meta(|e| e.meta().kind.is_some()),
        meta(|e| e.meta().estimator.is_some()),
        meta(|e| e.meta().input_size.is_some()),
    ];
    // Structural problems (probe, layout) first: they are never overridable, so they are the
    // ones to report even when the settings differ too.
    let passes: &[Compatibility] = match compat {
        Compatibility::Strict => &[Compatibility::Structural, Compatibility::Strict],
        Compatibility::Structural => &[Compatibility::Structural],
    };
    passes.iter().try_for_each(|&pass| {
        all.clone().skip(1).try_for_each(|e| {
            first.check_comparable_with(e, pass)?;
            witnesses
                .iter()
                .flatten()
                .try_for_each(|w| w.check_comparable_with(e, pass))
        })
    })
}

/// Symmetric (or, for `asymmetric-kl`, full) matrix `D[i][j] = metric(e_i, e_j)`.
/// As in REF, symmetric metrics get a zero diagonal without computing it.
/// Refuses embeddings that are not comparable under [`Compatibility::Strict`].
pub fn pdist(embeddings: &[Embedding], metric: Metric) -> Result<Array2<f64>> {
    pdist_with(embeddings, metric, Compatibility::Strict)
}

/// [`pdist`] with an explicit [`Compatibility`] rule.
pub fn pdist_with(
    embeddings: &[Embedding],
    metric: Metric,
    compat: Compatibility,
) -> Result<Array2<f64>> {
    let n = embeddings.len();
    if n == 0 {
        return Ok(Array2::zeros((0, 0)));
    }
    check_all_comparable(embeddings.iter(), compat)?;
    let p = Prepared::new(embeddings, metric)?;
    let mut out = Array2::zeros((n, n));
    let symmetric = metric.is_symmetric();
    let tiles = tile_pairs(n, n, symmetric);
    let results: Vec<(usize, usize, Vec<f64>)> = tiles
        .into_par_iter()
        .map(|(ti, tj)| (ti, tj, compute_tile(&p, &p, ti, tj, n, n, symmetric)))
        .collect();
    for (ti, tj, values) in results {
        scatter(&mut out, ti, tj, n, n, &values);
    }
    check_representable(&out, metric, embeddings, embeddings)?;
    if symmetric {
        for i in 0..n {
            out[[i, i]] = 0.0;
            for j in 0..i {
                out[[i, j]] = out[[j, i]];
            }
        }
    }
    Ok(out)
}

/// Rectangular matrix `D[i][j] = metric(from_i, to_j)`, refusing embeddings that are not
/// comparable under [`Compatibility::Strict`].
pub fn cdist(from: &[Embedding], to: &[Embedding], metric: Metric) -> Result<Array2<f64>> {
    cdist_with(from, to, metric, Compatibility::Strict)
}

/// [`cdist`] with an explicit [`Compatibility`] rule.
pub fn cdist_with(
    from: &[Embedding],
    to: &[Embedding],
    metric: Metric,
    compat: Compatibility,
) -> Result<Array2<f64>> {
    let (n, m) = (from.len(), to.len());
    if n == 0 || m == 0 {
        return Ok(Array2::zeros((n, m)));
    }
    check_all_comparable(from.iter().chain(to), compat)?;
    let p = Prepared::new(from, metric)?;
    let q = Prepared::new(to, metric)?;
    let mut out = Array2::zeros((n, m));
    let results: Vec<(usize, usize, Vec<f64>)> = tile_pairs(n, m, false)
        .into_par_iter()
        .map(|(ti, tj)| (ti, tj, compute_tile(&p, &q, ti, tj, n, m, false)))
        .collect();
    for (ti, tj, values) in results {
        scatter(&mut out, ti, tj, n, m, &values);
    }
    check_representable(&out, metric, from, to)?;
    Ok(out)
}

/// A NaN from [`distance::finish`] marks a pair that double precision cannot represent.
fn check_representable(
    d: &Array2<f64>,
    metric: Metric,
    from: &[Embedding],
    to: &[Embedding],
) -> Result<()> {
    match d.indexed_iter().find(|(_, v)| v.is_nan()) {
        Some(((i, j), _)) => Err(distance::unrepresentable(metric, &from[i], &to[j])),
        None => Ok(()),
    }
}

/// Tile coordinates; for symmetric metrics only tiles on or above the diagonal.
fn tile_pairs(n: usize, m: usize, upper_only: bool) -> Vec<(usize, usize)> {
    let (tn, tm) = (n.div_ceil(TILE), m.div_ceil(TILE));
    let mut v = Vec::new();
    for ti in 0..tn {
        for tj in (if upper_only { ti } else { 0 })..tm {
            v.push((ti, tj));
        }
    }
    v
}

/// Distances of one tile, row-major over the tile's `rows × cols` (pairs with `i >= j` are left
/// at 0 when `upper_only`).
fn compute_tile(
    p: &Prepared,
    q: &Prepared,
    ti: usize,
    tj: usize,
    n: usize,
    m: usize,
    upper_only: bool,
) -> Vec<f64> {
    let rows = ti * TILE..((ti + 1) * TILE).min(n);
    let cols = tj * TILE..((tj + 1) * TILE).min(m);
    let width = cols.len();
    let d = p.dim();
    let mut acc: Vec<Acc> = vec![[0.0; 3]; rows.len() * width];
    let wanted = |i: usize, j: usize| !upper_only || i < j;
    let mut start = 0;
    while start < d {
        let end = (start + CHUNK).min(d);
        for (a, i) in rows.clone().enumerate() {
            for (b, j) in cols.clone().enumerate() {
                if wanted(i, j) {
                    distance::accumulate(p, i, q, j, start..end, &mut acc[a * width + b]);
                }
            }
        }
        start = end;
    }
    let mut out = vec![0.0; acc.len()];
    for (a, i) in rows.enumerate() {
        for (b, j) in cols.clone().enumerate() {
            if wanted(i, j) {
                out[a * width + b] = distance::finish(p.metric, acc[a * width + b], d);
            }
        }
    }
    out
}

fn scatter(out: &mut Array2<f64>, ti: usize, tj: usize, n: usize, m: usize, values: &[f64]) {
    let rows = ti * TILE..((ti + 1) * TILE).min(n);
    let cols = tj * TILE..((tj + 1) * TILE).min(m);
    let width = cols.len();
    for (a, i) in rows.enumerate() {
        for (b, j) in cols.clone().enumerate() {
            out[[i, j]] = values[a * width + b];
        }
    }
}

/// A square distance matrix with a label per row/column.
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledMatrix {
    /// Row (= column) labels.
    pub labels: Vec<String>,
    /// `n × n` values.
    pub values: Array2<f64>,
}

impl LabeledMatrix {
    /// Pair labels with a square matrix.
    pub fn new(labels: Vec<String>, values: Array2<f64>) -> Result<Self> {
        let (r, c) = values.dim();
        if r != c {
            return Err(Error::BadMatrix(format!("it is {r} × {c}, not square")));
        }
        if labels.len() != r {
            return Err(Error::BadMatrix(format!(
                "{} labels for a {r} × {r} matrix",
                labels.len()
            )));
        }
        if let Some(((i, j), v)) = values.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::BadMatrix(format!("entry ({i}, {j}) is {v}")));
        }
        Ok(LabeledMatrix { labels, values })
    }

    /// Write CSV: a header row (empty corner cell, then labels), then one row per label.
    /// Numbers use Rust's shortest round-trip formatting (no precision lost).
    pub fn to_csv_string(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let header = std::iter::once("").chain(self.labels.iter().map(String::as_str));
        w.write_record(header).expect("writing to memory");
        for (label, row) in self.labels.iter().zip(self.values.rows()) {
            let record = std::iter::once(label.clone()).chain(row.iter().map(|v| format!("{v:?}")));
            w.write_record(record).expect("writing to memory");
        }
        String::from_utf8(w.into_inner().expect("writing to memory")).expect("CSV of UTF-8 input")
    }

    /// Parse the CSV format written by [`to_csv_string`](Self::to_csv_string).
    pub fn from_csv_str(text: &str) -> Result<Self> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(text.as_bytes());
        let header: Vec<String> = r
            .headers()
            .map_err(|e| Error::BadMatrix(e.to_string()))?
            .iter()
            .skip(1)
            .map(str::to_string)
            .collect();
        let n = header.len();
        let mut labels = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n * n);
        for (line, record) in r.records().enumerate() {
            let record = record.map_err(|e| Error::BadMatrix(e.to_string()))?;
            if record.len() != n + 1 {
                return Err(Error::BadMatrix(format!(
                    "row {} has {} values, the header names {n} columns",
                    line + 1,
                    record.len().saturating_sub(1)
                )));
            }
            labels.push(record[0].to_string());
            for (col, cell) in record.iter().skip(1).enumerate() {
                let v: f64 = cell.trim().parse().map_err(|_| {
                    Error::BadMatrix(format!(
                        "row {}, column {}: {cell:?} is not a number",
                        line + 1,
                        col + 1
                    ))
                })?;
                values.push(v);
            }
        }
        if labels.len() != n {
            return Err(Error::BadMatrix(format!(
                "{} rows but {n} columns: not square",
                labels.len()
            )));
        }
        if n == 0 {
            return Err(Error::BadMatrix("it is empty".into()));
        }
        if labels != header {
            return Err(Error::BadMatrix(
                "row labels differ from the column labels in the header".into(),
            ));
        }
        let values = Array2::from_shape_vec((n, n), values).expect("n × n values were read");
        LabeledMatrix::new(labels, values)
    }

    /// Read a matrix: `.npy` (labels `0..n`) or CSV (anything else). Errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if has_npy_extension(path) {
            let values = read_matrix_npy(path)?;
            let labels = (0..values.nrows()).map(|i| i.to_string()).collect();
            return LabeledMatrix::new(labels, values).map_err(|e| e.in_file(path));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io(e).in_file(path))?;
        LabeledMatrix::from_csv_str(&text).map_err(|e| e.in_file(path))
    }

    /// Write `.npy` (values only) or CSV, by extension, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if has_npy_extension(path) {
            write_matrix_npy(path, &self.values)
        } else {
            let text = self.to_csv_string();
            write_atomic(path, |w| {
                use std::io::Write;
                w.write_all(text.as_bytes()).map_err(Error::Io)
            })
        }
    }
}

/// Whether the path ends in `.npy` (case-insensitive).
pub fn has_npy_extension(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}
