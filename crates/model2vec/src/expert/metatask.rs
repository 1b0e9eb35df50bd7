//! The meta-task's measurement of one (target, expert) cell: the test error of a linear head
//! fitted on the expert's frozen features, over seeded class-stratified splits that are the same
//! for every expert of a target, so that experts are compared on paired splits.
use serde::{Deserialize, Serialize};
use task2vec_fisher::Silent;
use task2vec_fisher::head::fit_head;
use task2vec_fisher::options::{HeadOptions, SamplerOptions};
use task2vec_fisher::sampler::{Stream, stratified_split, stream_rng};

use super::{ExpertError, ExpertOutputs, Result};

/// How a cell is measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaTaskOptions {
    /// Seeded splits per cell.
    pub repeats: u32,
    /// Share of each class's images tested (at least one per class, at least one kept).
    pub test_fraction: f64,
    /// Seed of the splits and the heads.
    pub seed: u64,
    /// The linear head: the task head's Adam fit ([`fit_head`]) with a tenth of its draws and a
    /// larger step by default — its 10 × 10,000 draws per fit would make the thousands of fits
    /// of a zoo take hours.
    pub head: HeadOptions,
}

impl Default for MetaTaskOptions {
    fn default() -> Self {
        MetaTaskOptions {
            repeats: 5,
            test_fraction: 0.3,
            seed: 0,
            head: HeadOptions {
                learning_rate: 1e-3,
                epochs: 10,
                sampler: SamplerOptions {
                    draws_per_epoch: 1000,
                    batch_size: 32,
                },
                ..HeadOptions::default()
            },
        }
    }
}

/// One split of a target's images: `(test, train)` indices.
pub type Split = (Vec<usize>, Vec<usize>);

/// The splits of a target with `labels` in `classes` classes. Repeat `r` uses the seed
/// `seed ^ (r << 32)`, so adding repeats never changes the earlier ones.
pub fn splits(labels: &[usize], classes: usize, options: &MetaTaskOptions) -> Result<Vec<Split>> {
    if !(options.test_fraction > 0.0 && options.test_fraction < 1.0) {
        return Err(ExpertError::InvalidOption {
            name: "test-fraction",
            reason: format!(
                "must be strictly between 0 and 1, got {}",
                options.test_fraction
            ),
        });
    }
    if options.repeats == 0 {
        return Err(ExpertError::InvalidOption {
            name: "repeats",
            reason: "must be at least 1".into(),
        });
    }
    (0..options.repeats)
        .map(|r| {
            let mut rng = stream_rng(options.seed ^ (u64::from(r) << 32), Stream::MetaTaskSplits);
            stratified_split(labels, classes, options.test_fraction, &mut rng).map_err(|class| {
                ExpertError::InvalidOption {
                    name: "test-fraction",
                    reason: format!("class {class} has fewer than 2 images: nothing to test"),
                }
            })
        })
        .collect()
}

/// The test error of a linear head on `outputs.features` for the split `split`.
pub fn split_error(
    outputs: &ExpertOutputs,
    classes: usize,
    split: &Split,
    options: &MetaTaskOptions,
) -> Result<f64> {
    let n = outputs.labels.len();
    let dim = outputs.features.len() / n.max(1);
    let gather = |rows: &[usize]| -> (Vec<f32>, Vec<usize>) {
        let mut f = Vec::with_capacity(rows.len() * dim);
        for &i in rows {
            f.extend_from_slice(&outputs.features[i * dim..(i + 1) * dim]);
        }
        (f, rows.iter().map(|&i| outputs.labels[i]).collect())
    };
    let (test, train) = split;
    let (train_f, train_y) = gather(train);
    let (test_f, test_y) = gather(test);
    let fit = fit_head(
        &train_f,
        &train_y,
        classes,
        &options.head,
        options.seed,
        &Silent,
    )?;
    Ok(fit.head.evaluate(&test_f, &test_y).1)
}
