//! Seeded random streams and the class-balanced sampler (REF's `_get_loader`).
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{FisherError, Result};

/// The independent random streams of one embedding, all derived from the user's seed
/// (docs/design.md invariant 4). Each stream is a ChaCha8 stream with its own stream id, so adding
/// draws to one stream never shifts another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    /// Choosing the `max_samples` subset.
    Subset = 1,
    /// Head initialisation.
    HeadInit = 2,
    /// Balanced draws for the head fit.
    HeadSampler = 3,
    /// Labels sampled from the model (montecarlo estimators).
    Labels = 4,
    /// Balanced draws for the batch / variational estimators.
    FisherSampler = 5,
    /// Weight noise of the variational estimator.
    Noise = 6,
    /// The held-out split of the linear-probe error ([`crate::linear_probe`]).
    HeldOut = 7,
    /// Which images fit the head and which carry the Fisher (`EmbedOptions::head_split`).
    HeadSplit = 8,
    /// The held-out part of the head's images for early stopping (`HeadOptions::early_stop`).
    EarlyStop = 9,
    /// The augmented views of the Fisher images (`EmbedOptions::augment`).
    Augment = 10,
    /// Batch order of an expert's tail fine-tuning (task2vec-model2vec).
    ExpertBatches = 11,
    /// The permutation of a deliberately bad expert's shuffled labels (task2vec-model2vec).
    ShuffledLabels = 12,
    /// Which source images an expert holds out to measure its fit (task2vec-model2vec).
    ExpertHeldOut = 13,
    /// The repeated random splits of the expert-selection meta-task (task2vec-model2vec).
    MetaTaskSplits = 14,
}

/// Splits the samples of every class in two after a seeded shuffle: `round(n·fraction)` of a
/// class's `n` samples, clamped to `1..=n−1`, go to the first part, the rest to the second.
/// Both parts hold every class, and no sample is in both. A class with fewer than 2 samples
/// cannot be split: `Err(class index)`.
pub fn stratified_split(
    labels: &[usize],
    classes: usize,
    fraction: f64,
    rng: &mut impl Rng,
) -> std::result::Result<(Vec<usize>, Vec<usize>), usize> {
    use rand::seq::SliceRandom;
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for class in 0..classes {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        if members.len() < 2 {
            return Err(class);
        }
        members.shuffle(rng);
        let k = ((members.len() as f64 * fraction).round() as usize).clamp(1, members.len() - 1);
        first.extend_from_slice(&members[..k]);
        second.extend_from_slice(&members[k..]);
    }
    Ok((first, second))
}

/// A reproducible generator for one stream of one seed.
pub fn stream_rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}

/// Draws sample indices so that every class present is equally likely, with replacement:
/// the same distribution as REF's `WeightedRandomSampler` with weights 1/(count × classes)
/// (a class is drawn uniformly, then a sample uniformly within it).
#[derive(Clone, Debug)]
pub struct BalancedSampler {
    /// Sample indices of each class that has at least one sample.
    by_class: Vec<Vec<usize>>,
}

impl BalancedSampler {
    /// `labels[i]` is the class of sample `i`.
    pub fn new(labels: &[usize]) -> Result<Self> {
        if labels.is_empty() {
            return Err(FisherError::InvalidTask("no samples to draw from".into()));
        }
        let classes = labels.iter().max().map_or(0, |m| m + 1);
        let mut by_class = vec![Vec::new(); classes];
        for (i, &y) in labels.iter().enumerate() {
            by_class[y].push(i);
        }
        by_class.retain(|c| !c.is_empty());
        Ok(Self { by_class })
    }

    /// Number of classes with at least one sample.
    pub fn present_classes(&self) -> usize {
        self.by_class.len()
    }

    /// One draw.
    pub fn draw(&self, rng: &mut impl Rng) -> usize {
        let class = &self.by_class[rng.random_range(0..self.by_class.len())];
        class[rng.random_range(0..class.len())]
    }

    /// One epoch: `draws` indices cut into batches of `batch_size`, the incomplete tail dropped
    /// (REF: 10,000 draws, batch 64 → 156 batches).
    pub fn epoch(&self, draws: usize, batch_size: usize, rng: &mut impl Rng) -> Vec<Vec<usize>> {
        (0..draws / batch_size)
            .map(|_| (0..batch_size).map(|_| self.draw(rng)).collect())
            .collect()
    }
}

/// Per-sample weights of the class-balanced expectation: 1 / (count of the sample's class ×
/// classes present), summing to 1. This is the distribution the balanced sampler draws from,
/// so a weighted sum over every sample is its expectation without sampling noise.
pub fn balanced_weights(labels: &[usize]) -> Vec<f64> {
    let classes = labels.iter().max().map_or(0, |m| m + 1);
    let mut counts = vec![0usize; classes];
    for &y in labels {
        counts[y] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count() as f64;
    labels
        .iter()
        .map(|&y| 1.0 / (counts[y] as f64 * present))
        .collect()
}

/// Uniform weights 1/N.
pub fn uniform_weights(n: usize) -> Vec<f64> {
    vec![1.0 / n as f64; n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_drawn_equally_often_whatever_their_size() {
        // 90 samples of class 0, 10 of class 1, 0 of class 2 (absent), 20 of class 3.
        let mut labels = vec![0; 90];
        labels.extend([1; 10]);
        labels.extend([3; 20]);
        let sampler = BalancedSampler::new(&labels).unwrap();
        assert_eq!(sampler.present_classes(), 3);
        let mut rng = stream_rng(7, Stream::HeadSampler);
        let n = 60_000;
        let mut counts = [0usize; 4];
        for _ in 0..n {
            counts[labels[sampler.draw(&mut rng)]] += 1;
        }
        assert_eq!(counts[2], 0);
        // Each present class has p = 1/3; binomial sd = sqrt(n p (1-p)) ≈ 115; allow 5 sd.
        let sd = (n as f64 * (1.0 / 3.0) * (2.0 / 3.0)).sqrt();
        for c in [0, 1, 3] {
            let dev = (counts[c] as f64 - n as f64 / 3.0).abs();
            assert!(dev < 5.0 * sd, "class {c}: {} draws", counts[c]);
        }
    }

    #[test]
    fn epoch_drops_the_incomplete_batch_like_ref() {
        let sampler = BalancedSampler::new(&[0, 1, 1]).unwrap();
        let batches = sampler.epoch(10_000, 64, &mut stream_rng(0, Stream::HeadSampler));
        assert_eq!(batches.len(), 156);
        assert!(batches.iter().all(|b| b.len() == 64));
    }

    #[test]
    fn balanced_weights_give_each_class_equal_mass() {
        let w = balanced_weights(&[0, 0, 0, 2]);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((w[0] + w[1] + w[2] - 0.5).abs() < 1e-12);
        assert!((w[3] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: u64 = stream_rng(3, Stream::Labels).random();
        let b: u64 = stream_rng(3, Stream::Labels).random();
        let c: u64 = stream_rng(3, Stream::Noise).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn empty_label_set_is_an_error() {
        assert!(BalancedSampler::new(&[]).is_err());
    }
}
