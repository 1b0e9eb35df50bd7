//! `exact`: F = E_x Σ_y p(y|x) g(x, y)², the expectation over the model's labels computed
//! exactly instead of sampled. Deterministic; one forward/backward per class and batch, so it is
//! the oracle for tests and practical for tasks with few classes.
use burn::tensor::Tensor;

use super::{Accumulator, FisherEstimate, FisherTask, host_f32, label_tensor, weight_tensor};
use crate::error::Result;
use crate::kernel::OutputGradTap;
use crate::options::positive;
use crate::progress::Progress;
use task2vec_probe::PassThrough;

/// Runs the exact estimator over every cached input.
pub fn estimate(
    task: &FisherTask<'_>,
    batch_size: usize,
    with_bn_gamma: bool,
    progress: &dyn Progress,
) -> Result<FisherEstimate> {
    positive("fisher-batch-size", batch_size)?;
    let n = task.len();
    let classes = task.head.classes;
    let mut acc = Accumulator::default();
    progress.start("fisher (exact)", (n.div_ceil(batch_size) * classes) as u64);
    let mut start = 0;
    while start < n {
        let len = batch_size.min(n - start);
        // p(y|x) of this batch, without a graph (weights of the per-class terms). Every class
        // term of an image uses the same view (draw 0): they are terms of one expectation.
        let x = task.slice(start, len, 0)?;
        let probs = host_f32(task.log_probs(x.clone().inner(), &mut PassThrough).exp())?;
        for y in 0..classes {
            let weights: Vec<f64> = (0..len)
                .map(|i| task.sample_weights[start + i] * probs[i * classes + y] as f64)
                .collect();
            let mut tap = OutputGradTap::new(with_bn_gamma);
            let log_probs = task.log_probs(x.clone(), &mut tap);
            let loss: Tensor<1> = log_probs
                .clone()
                .gather(1, label_tensor(&vec![y; len], &log_probs))
                .sum()
                .neg();
            let mut grads = loss.backward();
            let w = weight_tensor(&weights, task.inputs);
            acc.add(tap.per_filter(&mut grads, &w, len), 1.0)?;
            progress.advance(1);
        }
        start += len;
    }
    let estimate = acc.finish(task.network)?;
    progress.finish(&format!("{} values", estimate.dim()));
    Ok(estimate)
}
