//! `montecarlo` (the default): per-sample squared gradients with labels sampled from the model.
//!
//! F̂ = Σ_n w_n · (1/M) Σ_m g(x_n, y_nm)², y_nm ∼ p(y|x_n), per filter (or, with the
//! `defensive` proposal, y_nm ∼ q and each term weighted by p/q), via the per-sample
//! kernel ([`crate::kernel`]): one forward and ONE backward per (batch, label draw), never a
//! loop of batch-size-1 backward passes. Each label draw needs its own forward: burn cannot
//! retain a graph, and summing the losses of two labels of the same image would give the
//! gradient of the sum, whose square mixes the two draws (g₁² + g₂² + 2g₁g₂ ≠ g₁² + g₂²).
use burn::tensor::Tensor;

use super::{
    Accumulator, FisherEstimate, FisherTask, label_tensor, sample_labels_from, weight_tensor,
};
use crate::error::Result;
use crate::kernel::OutputGradTap;
use crate::options::{MonteCarloOptions, positive};
use crate::progress::Progress;
use crate::sampler::{Stream, stream_rng};

/// Runs the per-sample Monte-Carlo estimator over every cached input.
pub fn estimate(
    task: &FisherTask<'_>,
    options: &MonteCarloOptions,
    batch_size: usize,
    with_bn_gamma: bool,
    seed: u64,
    progress: &dyn Progress,
) -> Result<FisherEstimate> {
    options.validate()?;
    positive("fisher-batch-size", batch_size)?;
    let n = task.len();
    let mut rng = stream_rng(seed, Stream::Labels);
    let mut acc = Accumulator::default();
    let draws = options.epochs * options.samples_per_image;
    let batches = n.div_ceil(batch_size);
    progress.start("fisher (montecarlo)", (batches * draws) as u64);
    for epoch in 0..options.epochs {
        let mut start = 0;
        while start < n {
            let len = batch_size.min(n - start);
            let sample_weights = &task.sample_weights[start..start + len];
            for m in 0..options.samples_per_image {
                // Each label draw of an image sees its own view (with augmentation).
                let draw = (epoch * options.samples_per_image + m) as u64;
                let mut tap = OutputGradTap::new(with_bn_gamma);
                let log_probs = task.log_probs(task.slice(start, len, draw)?, &mut tap);
                let sampled = sample_labels_from(&log_probs, options.proposal, &mut rng)?;
                let labels: Vec<usize> = sampled.iter().map(|&(y, _)| y).collect();
                let weighted: Vec<f64> = sample_weights
                    .iter()
                    .zip(&sampled)
                    .map(|(w, &(_, importance))| w * importance)
                    .collect();
                let weights = weight_tensor(&weighted, task.inputs);
                let targets = label_tensor(&labels, &log_probs);
                let loss: Tensor<1> = log_probs.gather(1, targets).sum().neg();
                let mut grads = loss.backward();
                acc.add(
                    tap.per_filter(&mut grads, &weights, len),
                    1.0 / draws as f64,
                )?;
                progress.advance(1);
            }
            start += len;
        }
    }
    let estimate = acc.finish(task.network)?;
    progress.finish(&format!("{} values", estimate.dim()));
    Ok(estimate)
}
