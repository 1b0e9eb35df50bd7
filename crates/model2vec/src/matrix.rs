//! The meta-task's error matrix: for each (target task, expert) pair, the test errors of a
//! linear head fitted on the expert's frozen features, over `repeat` random train/test splits.
//!
//! On disk it is a long-form CSV with the header `target,expert,repeat,error,train_images,
//! test_images`, one row per (target, expert, repeat). Long form makes a run resumable: it
//! reads the file, skips the cells already present ([`ErrorMatrix::contains`]) and rewrites the
//! file atomically after each finished cell.
//!
//! **Order.** [`ErrorMatrix::targets`] and [`ErrorMatrix::experts`] list names in first-seen
//! order (insertion order, i.e. file order for a file read back), and [`ErrorMatrix::write_csv`]
//! writes rows by target in that order, then expert in that order, then repeat ascending. A run
//! that inserts in a fixed order therefore writes the same bytes whether or not it was resumed.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ndarray::Array2;
use serde::Serialize;

use crate::error::{Error, Result, invalid};

/// The CSV header, in order.
pub const CSV_HEADER: [&str; 6] = [
    "target",
    "expert",
    "repeat",
    "error",
    "train_images",
    "test_images",
];

/// One measured cell: a test error and the split sizes it came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measurement {
    /// Test error in [0, 1].
    pub error: f64,
    /// Images the linear head was fitted on.
    pub train_images: u64,
    /// Images the error was measured on.
    pub test_images: u64,
}

/// Errors of every (target, expert, repeat) measured so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorMatrix {
    /// Target names in first-seen order, and each name's position.
    targets: Vec<String>,
    target_index: HashMap<String, usize>,
    /// Expert names in first-seen order, and each name's position.
    experts: Vec<String>,
    expert_index: HashMap<String, usize>,
    /// (target position, expert position, repeat) → measurement.
    cells: BTreeMap<(usize, usize, u32), Measurement>,
}

/// How large the measurement noise is against the differences the selectors must detect.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NoiseScale {
    /// Mean over (target, expert) cells of `std / √repeats`: the standard error of one cell's
    /// mean error.
    pub standard_error: f64,
    /// Mean over targets of the (sample) standard deviation across experts of the mean error:
    /// how much the choice of expert matters.
    pub expert_spread: f64,
    /// `standard_error / expert_spread`: well below 1 means the matrix can tell experts apart.
    pub ratio: f64,
}

impl ErrorMatrix {
    /// An empty matrix.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of measurements (rows of the CSV).
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether nothing has been measured.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Target names, first-seen order.
    pub fn targets(&self) -> &[String] {
        &self.targets
    }

    /// Expert names, first-seen order.
    pub fn experts(&self) -> &[String] {
        &self.experts
    }

    /// Records one measurement. The error must be a number in [0, 1] and the names non-empty.
    /// Inserting the same key again with the same values is a no-op (a resumed run may redo a
    /// cell); with different values it is an error (two runs disagree: a bug or mixed files).
    pub fn insert(
        &mut self,
        target: &str,
        expert: &str,
        repeat: u32,
        error: f64,
        train_images: u64,
        test_images: u64,
    ) -> Result<()> {
        if target.is_empty() || expert.is_empty() {
            return Err(invalid(
                "error matrix: target and expert names must be non-empty",
            ));
        }
        if !(0.0..=1.0).contains(&error) {
            return Err(invalid(format!(
                "error matrix: error {error} of ({target}, {expert}, repeat {repeat}) is not in [0, 1]"
            )));
        }
        let new = Measurement {
            error,
            train_images,
            test_images,
        };
        if let Some(old) = self.get(target, expert, repeat) {
            if *old == new {
                return Ok(());
            }
            return Err(invalid(format!(
                "error matrix: ({target}, {expert}, repeat {repeat}) is already {old:?}, \
                 refusing the different {new:?}"
            )));
        }
        let t = intern(&mut self.targets, &mut self.target_index, target);
        let e = intern(&mut self.experts, &mut self.expert_index, expert);
        self.cells.insert((t, e, repeat), new);
        Ok(())
    }

    /// The measurement of `(target, expert, repeat)`, if present.
    pub fn get(&self, target: &str, expert: &str, repeat: u32) -> Option<&Measurement> {
        let t = *self.target_index.get(target)?;
        let e = *self.expert_index.get(expert)?;
        self.cells.get(&(t, e, repeat))
    }

    /// Whether `(target, expert, repeat)` has been measured.
    pub fn contains(&self, target: &str, expert: &str, repeat: u32) -> bool {
        self.get(target, expert, repeat).is_some()
    }

    /// The errors of every repeat of `(target, expert)`, by repeat ascending (empty if none).
    pub fn errors(&self, target: &str, expert: &str) -> Vec<f64> {
        match (self.target_index.get(target), self.expert_index.get(expert)) {
            (Some(&t), Some(&e)) => self
                .cells
                .range((t, e, 0)..=(t, e, u32::MAX))
                .map(|(_, m)| m.error)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Number of repeats measured for `(target, expert)`.
    pub fn repeats(&self, target: &str, expert: &str) -> usize {
        self.errors(target, expert).len()
    }

    /// `targets × experts` matrix of each cell's errors reduced by `f`; `what` names the
    /// statistic in errors.
    fn reduce(
        &self,
        targets: &[String],
        experts: &[String],
        what: &str,
        f: impl Fn(&[f64]) -> Option<f64>,
    ) -> Result<Array2<f64>> {
        let mut out = Array2::zeros((targets.len(), experts.len()));
        for (i, t) in targets.iter().enumerate() {
            for (j, e) in experts.iter().enumerate() {
                let errors = self.errors(t, e);
                out[(i, j)] = f(&errors).ok_or_else(|| {
                    invalid(format!(
                        "error matrix: the {what} of ({t}, {e}) needs more repeats than the {} \
                         measured",
                        errors.len()
                    ))
                })?;
            }
        }
        Ok(out)
    }

    /// Mean error over repeats of each cell, rows `targets`, columns `experts`. A cell with no
    /// measurement is an error naming it.
    pub fn mean(&self, targets: &[String], experts: &[String]) -> Result<Array2<f64>> {
        self.reduce(targets, experts, "mean", mean)
    }

    /// Sample standard deviation (n − 1) over repeats of each cell; a cell with fewer than two
    /// repeats is an error naming it.
    pub fn std(&self, targets: &[String], experts: &[String]) -> Result<Array2<f64>> {
        self.reduce(targets, experts, "standard deviation", sample_std)
    }

    /// The measurement noise against the spread between experts (see [`NoiseScale`]), over the
    /// given targets and experts (at least two experts; every cell needs two repeats).
    pub fn noise_scale(&self, targets: &[String], experts: &[String]) -> Result<NoiseScale> {
        if targets.is_empty() || experts.len() < 2 {
            return Err(invalid(
                "noise scale: needs at least one target and two experts",
            ));
        }
        let means = self.mean(targets, experts)?;
        let stds = self.std(targets, experts)?;
        let mut se = 0.0;
        for (i, t) in targets.iter().enumerate() {
            for (j, e) in experts.iter().enumerate() {
                se += stds[(i, j)] / (self.repeats(t, e) as f64).sqrt();
            }
        }
        let standard_error = se / means.len() as f64;
        let expert_spread = means
            .rows()
            .into_iter()
            .map(|row| sample_std(&row.to_vec()).unwrap_or(0.0))
            .sum::<f64>()
            / targets.len() as f64;
        Ok(NoiseScale {
            standard_error,
            expert_spread,
            ratio: standard_error / expert_spread,
        })
    }

    /// Reads a long-form CSV. Errors name the file and the line: a wrong header, a wrong number
    /// of fields, a field that is not a number, an error outside [0, 1], a key seen twice.
    pub fn read_csv(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let csv_error = |line: u64, reason: String| Error::Csv {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(std::io::BufReader::new(file));
        let mut out = ErrorMatrix::new();
        let mut header_seen = false;
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                csv_error(line, csv_reason(&e))
            })?;
            let line = record.position().map_or(0, |p| p.line());
            if !header_seen {
                if record.iter().ne(CSV_HEADER) {
                    return Err(csv_error(
                        line,
                        format!(
                            "the header must be `{}`, found `{}`",
                            CSV_HEADER.join(","),
                            record.iter().collect::<Vec<_>>().join(",")
                        ),
                    ));
                }
                header_seen = true;
                continue;
            }
            let field = |i: usize| record.get(i).unwrap_or("");
            let parse_u = |i: usize| -> Result<u64> {
                field(i).parse::<u64>().map_err(|_| {
                    csv_error(
                        line,
                        format!(
                            "{} `{}` is not a non-negative integer",
                            CSV_HEADER[i],
                            field(i)
                        ),
                    )
                })
            };
            let repeat = u32::try_from(parse_u(2)?)
                .map_err(|_| csv_error(line, format!("repeat `{}` is too large", field(2))))?;
            let error: f64 = field(3)
                .parse()
                .map_err(|_| csv_error(line, format!("error `{}` is not a number", field(3))))?;
            if !(0.0..=1.0).contains(&error) {
                return Err(csv_error(line, format!("error {error} is not in [0, 1]")));
            }
            let (target, expert) = (field(0), field(1));
            if target.is_empty() || expert.is_empty() {
                return Err(csv_error(line, "empty target or expert name".into()));
            }
            if out.contains(target, expert, repeat) {
                return Err(csv_error(
                    line,
                    format!("({target}, {expert}, repeat {repeat}) appears twice"),
                ));
            }
            out.insert(target, expert, repeat, error, parse_u(4)?, parse_u(5)?)
                .map_err(|e| csv_error(line, e.to_string()))?;
        }
        if !header_seen {
            return Err(csv_error(1, "the file is empty (no header)".into()));
        }
        Ok(out)
    }

    /// Writes the long-form CSV atomically (complete or untouched), rows in the order described
    /// in the module documentation. Errors name the file.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let io_error = |source: std::io::Error| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        task2vec_common::write_atomic(path, |w| -> std::io::Result<()> {
            let mut csv = csv::Writer::from_writer(w);
            csv.write_record(CSV_HEADER)?;
            for (t, target) in self.targets.iter().enumerate() {
                for (e, expert) in self.experts.iter().enumerate() {
                    for ((_, _, repeat), m) in self.cells.range((t, e, 0)..=(t, e, u32::MAX)) {
                        csv.write_record([
                            target.as_str(),
                            expert.as_str(),
                            &repeat.to_string(),
                            // `{}` of an f64 is the shortest string that reads back exactly.
                            &m.error.to_string(),
                            &m.train_images.to_string(),
                            &m.test_images.to_string(),
                        ])?;
                    }
                }
            }
            csv.flush()?;
            Ok(())
        })
        .map_err(io_error)
    }
}

/// Position of `name` in `names`, appending it if new.
fn intern(names: &mut Vec<String>, index: &mut HashMap<String, usize>, name: &str) -> usize {
    if let Some(&i) = index.get(name) {
        return i;
    }
    names.push(name.to_string());
    index.insert(name.to_string(), names.len() - 1);
    names.len() - 1
}

/// The csv crate's message without its own position prefix (the caller adds file and line).
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_string(),
        _ => e.to_string(),
    }
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn sample_std(v: &[f64]) -> Option<f64> {
    if v.len() < 2 {
        return None;
    }
    let m = mean(v)?;
    let ss: f64 = v.iter().map(|x| (x - m) * (x - m)).sum();
    Some((ss / (v.len() - 1) as f64).sqrt())
}
