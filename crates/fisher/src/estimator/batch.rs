//! `montecarlo-batch`: REF's estimator (docs/reference.md §4.1), for comparison with published
//! numbers. Batches of 64 class-balanced draws, labels sampled from the model, loss = MEAN
//! cross-entropy of the batch, and the accumulated quantity is the square of the batch
//! gradient, averaged over batches. Since each sampled-label score has zero mean, its
//! expectation is ≈ F/B (exactly F/B with BatchNorm in eval mode); BatchNorm runs in train mode
//! by default here, as in REF, and BN γ is included.
use burn::tensor::Tensor;

use super::{Accumulator, FisherEstimate, FisherTask, label_tensor, sample_labels};
use crate::error::Result;
use crate::kernel::WeightLeafTap;
use crate::options::{BatchEstimatorOptions, BatchNormMode};
use crate::progress::Progress;
use crate::sampler::{BalancedSampler, Stream, stream_rng};

/// Runs REF's per-batch estimator.
pub fn estimate(
    task: &FisherTask<'_>,
    options: &BatchEstimatorOptions,
    batch_norm: BatchNormMode,
    with_bn_gamma: bool,
    seed: u64,
    progress: &dyn Progress,
) -> Result<FisherEstimate> {
    options.validate()?;
    let sampler = BalancedSampler::new(task.labels)?;
    let mut draw_rng = stream_rng(seed, Stream::FisherSampler);
    let mut label_rng = stream_rng(seed, Stream::Labels);
    let per_epoch = options.sampler.draws_per_epoch / options.sampler.batch_size;
    progress.start(
        "fisher (montecarlo-batch)",
        (options.epochs * per_epoch) as u64,
    );
    let mut acc = Accumulator::default();
    let batches = options.epochs * per_epoch;
    let mut batch_number = 0u64;
    for _ in 0..options.epochs {
        for batch in sampler.epoch(
            options.sampler.draws_per_epoch,
            options.sampler.batch_size,
            &mut draw_rng,
        ) {
            let mut tap = WeightLeafTap::new(batch_norm, with_bn_gamma);
            let log_probs = task.log_probs(task.select(&batch, batch_number)?, &mut tap);
            batch_number += 1;
            let labels = sample_labels(&log_probs, &mut label_rng)?;
            let targets = label_tensor(&labels, &log_probs);
            let loss: Tensor<1> = log_probs.gather(1, targets).mean().neg();
            let grads = loss.backward();
            acc.add(tap.squared_per_filter(&grads), 1.0 / batches as f64)?;
            progress.advance(1);
        }
    }
    let estimate = acc.finish(task.network)?;
    progress.finish(&format!("{} values", estimate.dim()));
    Ok(estimate)
}
