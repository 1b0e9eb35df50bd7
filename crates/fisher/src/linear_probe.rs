//! The linear-probe error of a task: how well a linear head on the probe's frozen features
//! classifies images it was not fitted on. The paper relates a task's complexity (‖F‖₁, the
//! distance from the trivial embedding) to this kind of held-out error (its Fig. 4); the
//! reproduction checks that relation (E3).
use task2vec_data::Dataset;

use crate::error::{FisherError, Result};
use crate::head::fit_head;
use crate::pipeline::{ActivationCache, Task2Vec};
use crate::progress::Progress;
use crate::sampler::{Stream, stratified_split, stream_rng};

/// Error of the task head — fitted exactly as for the embedding (same options, same seed) —
/// on a held-out, class-stratified `held_out` fraction of the task's images (at least one image
/// of each class is held out and at least one kept, whenever a class has two).
pub fn held_out_error(
    pipeline: &Task2Vec<'_>,
    dataset: &Dataset,
    held_out: f64,
    progress: &dyn Progress,
) -> Result<f64> {
    let data = pipeline.select(dataset)?;
    let cache = pipeline.cache(&data, progress)?;
    held_out_error_from_cache(pipeline, &data, &cache, held_out, progress)
}

/// [`held_out_error`] from the activations `cache` of the [selected](Task2Vec::select) `data`.
pub fn held_out_error_from_cache(
    pipeline: &Task2Vec<'_>,
    data: &Dataset,
    cache: &ActivationCache,
    held_out: f64,
    progress: &dyn Progress,
) -> Result<f64> {
    if !(held_out > 0.0 && held_out < 1.0) {
        return Err(FisherError::InvalidOption {
            name: "held-out",
            reason: format!("must be strictly between 0 and 1, got {held_out}"),
        });
    }
    pipeline.check_cache(data, cache)?;
    let options = pipeline.options();
    let classes = data.classes().len();
    let mut rng = stream_rng(options.seed, Stream::HeldOut);
    let (test, train) =
        stratified_split(&cache.labels, classes, held_out, &mut rng).map_err(|class| {
            FisherError::InvalidTask(format!(
                "class `{}` has fewer than 2 images; a held-out error needs at least 2 per class",
                data.classes()[class]
            ))
        })?;
    let (train_f, train_y) = cache.gather_features(&train);
    let (test_f, test_y) = cache.gather_features(&test);
    let fit = fit_head(
        &train_f,
        &train_y,
        classes,
        &options.head,
        options.seed,
        progress,
    )?;
    Ok(fit.head.evaluate(&test_f, &test_y).1)
}
