//! Hyperparameters of the pipeline, one struct per stage, validated once in
//! [`EmbedOptions::validate`]. Every field is serialised into the embedding's provenance.
//!
//! Defaults are REF's (REFERENCE.md §9) except where our estimator is different by design:
//! `montecarlo` takes per-sample squared gradients with BatchNorm in eval mode.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{FisherError, Result, invalid};

/// Which estimator of the diagonal Fisher to run (`--method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FisherMethod {
    /// Per-sample squared gradients with labels sampled from the model (the default).
    #[default]
    Montecarlo,
    /// REF's estimator: squared gradients of the mean loss of batches of 64.
    MontecarloBatch,
    /// Σ_y p(y|x) g_y², deterministic; cost grows with the number of classes.
    Exact,
    /// The paper's robust Fisher: learned per-filter weight-noise precision.
    Variational,
}

impl FisherMethod {
    /// The name used on the command line and in provenance.
    pub fn name(self) -> &'static str {
        match self {
            Self::Montecarlo => "montecarlo",
            Self::MontecarloBatch => "montecarlo-batch",
            Self::Exact => "exact",
            Self::Variational => "variational",
        }
    }

    /// All methods, for help texts.
    pub const ALL: [FisherMethod; 4] = [
        Self::Montecarlo,
        Self::MontecarloBatch,
        Self::Exact,
        Self::Variational,
    ];
}

impl fmt::Display for FisherMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FisherMethod {
    type Err = FisherError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                invalid(
                    "method",
                    format!("unknown method `{s}` (expected montecarlo, montecarlo-batch, exact or variational)"),
                )
            })
    }
}

/// How BatchNorm layers normalise during the Fisher estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BatchNormMode {
    /// Running statistics: samples are independent, per-sample gradients are exact.
    #[default]
    Eval,
    /// Statistics of the current batch, as REF runs it (`train()` mode). Couples the samples of a
    /// batch, so it is only allowed with `montecarlo-batch`.
    Train,
}

impl FromStr for BatchNormMode {
    type Err = FisherError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "eval" => Ok(Self::Eval),
            "train" => Ok(Self::Train),
            _ => Err(invalid(
                "batch-norm",
                format!("unknown mode `{s}` (expected eval or train)"),
            )),
        }
    }
}

/// Class-balanced sampling with replacement, as REF's `_get_loader`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplerOptions {
    /// Draws per epoch (REF: 10,000).
    pub draws_per_epoch: usize,
    /// Batch size; an incomplete last batch is dropped (REF: 64, drop_last).
    pub batch_size: usize,
}

impl Default for SamplerOptions {
    fn default() -> Self {
        Self {
            draws_per_epoch: 10_000,
            batch_size: 64,
        }
    }
}

/// Fitting the task head (a linear classifier on the probe's pooled features).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadOptions {
    pub learning_rate: f64,
    /// L2 penalty added to the gradient, as torch's `Adam(weight_decay=..)` (not AdamW).
    pub weight_decay: f64,
    pub epochs: usize,
    pub sampler: SamplerOptions,
}

impl Default for HeadOptions {
    fn default() -> Self {
        Self {
            learning_rate: 4e-4,
            weight_decay: 1e-4,
            epochs: 10,
            sampler: SamplerOptions::default(),
        }
    }
}

/// `montecarlo`: per-sample squared gradients, labels sampled from the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonteCarloOptions {
    /// Labels sampled per image (each needs its own forward and backward).
    pub samples_per_image: usize,
    /// Passes over the cached images.
    pub epochs: usize,
    /// Where the sampled labels come from.
    #[serde(default)]
    pub proposal: LabelProposal,
}

impl Default for MonteCarloOptions {
    fn default() -> Self {
        Self {
            samples_per_image: 1,
            epochs: 1,
            proposal: LabelProposal::default(),
        }
    }
}

/// The distribution `montecarlo` draws labels from. Both estimate the same Fisher
/// Σ_y p(y|x)·g_y² (unbiased); they differ in variance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LabelProposal {
    /// y ∼ p(y|x), the model's own prediction (REF). When the head is confident, almost every
    /// draw is the predicted class, whose gradient nearly vanishes, while the Fisher's mass
    /// sits on the rare other classes: a high-variance estimate.
    #[default]
    Model,
    /// Defensive importance sampling: y ∼ q = ½·p(y|x) + ½·uniform, each draw weighted by
    /// p(y|x)/q(y). Every class is drawn often enough; the weight is at most 2, so the
    /// variance is never much worse than `model`'s and far lower when the head is confident.
    Defensive,
}

impl LabelProposal {
    pub fn name(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Defensive => "defensive",
        }
    }
}

impl FromStr for LabelProposal {
    type Err = FisherError;
    fn from_str(s: &str) -> Result<Self> {
        [Self::Model, Self::Defensive]
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                invalid(
                    "label-proposal",
                    format!("unknown label proposal `{s}` (expected model or defensive)"),
                )
            })
    }
}

/// `montecarlo-batch`: REF's per-batch estimator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchEstimatorOptions {
    pub epochs: usize,
    pub sampler: SamplerOptions,
}

impl Default for BatchEstimatorOptions {
    fn default() -> Self {
        Self {
            epochs: 1,
            sampler: SamplerOptions::default(),
        }
    }
}

/// `variational`: REF's robust Fisher (REFERENCE.md §4.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariationalOptions {
    pub epochs: usize,
    /// Weight of the compression (2·KL) term.
    pub beta: f64,
    /// Adam learning rate of the log-variances and log prior variances.
    pub logvar_learning_rate: f64,
    /// Adam learning rate of the head during the variational fit.
    pub head_learning_rate: f64,
    /// Initial σ² of a filter = this × the variance of its weights.
    pub initial_variance_fraction: f64,
    /// Added to x² inside the variance convolution (REF's +0.01).
    pub input_variance_floor: f64,
    pub sampler: SamplerOptions,
}

impl Default for VariationalOptions {
    fn default() -> Self {
        Self {
            epochs: 2,
            beta: 1e-7,
            logvar_learning_rate: 1e-2,
            head_learning_rate: 5e-4,
            initial_variance_fraction: 0.05,
            input_variance_floor: 0.01,
            sampler: SamplerOptions::default(),
        }
    }
}

/// Everything `Task2Vec::embed` needs besides the probe and the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbedOptions {
    pub method: FisherMethod,
    /// Split point of the probe: activations at this point are cached, the Fisher covers the
    /// layers after it (REF's `skip_layers`, numbered per probe).
    pub skip_layers: usize,
    /// Use at most this many images (a seeded random subset when the dataset is larger).
    /// Cached activations are held in memory, so this is also the memory bound.
    pub max_samples: Option<usize>,
    /// The one user seed; every random stream is derived from it.
    pub seed: u64,
    pub batch_norm: BatchNormMode,
    /// Include BatchNorm γ in the embedding. `None`: the method's default (REF: yes for
    /// `montecarlo-batch`, no otherwise).
    pub include_bn_gamma: Option<bool>,
    /// Images per forward while caching activations.
    pub cache_batch_size: usize,
    /// Images per forward/backward in the per-sample estimators (memory bound of the kernel).
    pub fisher_batch_size: usize,
    /// Weight the Fisher's expectation over images so that every class counts equally (the
    /// distribution REF's balanced sampler draws from); otherwise every image counts equally.
    pub class_balanced_fisher: bool,
    pub head: HeadOptions,
    pub montecarlo: MonteCarloOptions,
    pub batch: BatchEstimatorOptions,
    pub variational: VariationalOptions,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self {
            method: FisherMethod::default(),
            skip_layers: 0,
            max_samples: None,
            seed: 0,
            batch_norm: BatchNormMode::default(),
            include_bn_gamma: None,
            cache_batch_size: 64,
            fisher_batch_size: 32,
            class_balanced_fisher: true,
            head: HeadOptions::default(),
            montecarlo: MonteCarloOptions::default(),
            batch: BatchEstimatorOptions::default(),
            variational: VariationalOptions::default(),
        }
    }
}

impl EmbedOptions {
    /// Whether BatchNorm γ values end up in the embedding.
    pub fn bn_gamma_included(&self) -> bool {
        self.include_bn_gamma
            .unwrap_or(self.method == FisherMethod::MontecarloBatch)
    }

    /// Checks every value once; the estimators rely on this and do not re-check.
    pub fn validate(&self) -> Result<()> {
        fn positive(name: &'static str, v: usize) -> Result<()> {
            if v == 0 {
                return Err(invalid(name, "must be at least 1"));
            }
            Ok(())
        }
        fn finite_positive(name: &'static str, v: f64) -> Result<()> {
            if !(v.is_finite() && v > 0.0) {
                return Err(invalid(
                    name,
                    format!("must be a finite positive number, got {v}"),
                ));
            }
            Ok(())
        }
        fn finite_non_negative(name: &'static str, v: f64) -> Result<()> {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(name, format!("must be finite and ≥ 0, got {v}")));
            }
            Ok(())
        }
        fn sampler(prefix: &'static str, s: &SamplerOptions) -> Result<()> {
            positive(prefix, s.batch_size)?;
            if s.draws_per_epoch < s.batch_size {
                return Err(invalid(
                    prefix,
                    format!(
                        "draws per epoch ({}) must be at least one batch ({})",
                        s.draws_per_epoch, s.batch_size
                    ),
                ));
            }
            Ok(())
        }
        if let Some(0) = self.max_samples {
            return Err(invalid("max-samples", "must be at least 1"));
        }
        positive("cache-batch-size", self.cache_batch_size)?;
        positive("fisher-batch-size", self.fisher_batch_size)?;
        if self.batch_norm == BatchNormMode::Train && self.method != FisherMethod::MontecarloBatch {
            return Err(invalid(
                "batch-norm",
                format!(
                    "train mode couples the samples of a batch, so per-sample gradients are wrong; \
                     it is only allowed with montecarlo-batch (got {})",
                    self.method
                ),
            ));
        }
        if self.method == FisherMethod::Variational && self.include_bn_gamma == Some(true) {
            return Err(invalid(
                "include-bn-gamma",
                "the variational estimator has no BatchNorm noise (REF learns conv filters only)",
            ));
        }
        finite_positive("head.learning-rate", self.head.learning_rate)?;
        finite_non_negative("head.weight-decay", self.head.weight_decay)?;
        sampler("head.sampler", &self.head.sampler)?;
        positive("mc-samples", self.montecarlo.samples_per_image)?;
        positive("montecarlo.epochs", self.montecarlo.epochs)?;
        positive("batch.epochs", self.batch.epochs)?;
        sampler("batch.sampler", &self.batch.sampler)?;
        let v = &self.variational;
        positive("variational.epochs", v.epochs)?;
        finite_non_negative("variational.beta", v.beta)?;
        finite_positive("variational.logvar-learning-rate", v.logvar_learning_rate)?;
        finite_positive("variational.head-learning-rate", v.head_learning_rate)?;
        finite_positive(
            "variational.initial-variance-fraction",
            v.initial_variance_fraction,
        )?;
        finite_non_negative("variational.input-variance-floor", v.input_variance_floor)?;
        sampler("variational.sampler", &v.sampler)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_parse_round_trips() {
        EmbedOptions::default().validate().unwrap();
        for m in FisherMethod::ALL {
            assert_eq!(m.name().parse::<FisherMethod>().unwrap(), m);
        }
        assert!("fast".parse::<FisherMethod>().is_err());
    }

    #[test]
    fn train_mode_batch_norm_needs_the_batch_estimator() {
        let mut o = EmbedOptions {
            batch_norm: BatchNormMode::Train,
            ..Default::default()
        };
        let err = o.validate().unwrap_err().to_string();
        assert!(err.contains("batch-norm"), "{err}");
        o.method = FisherMethod::MontecarloBatch;
        o.validate().unwrap();
    }

    #[test]
    fn zero_sizes_are_rejected_by_name() {
        let o = EmbedOptions {
            max_samples: Some(0),
            ..Default::default()
        };
        assert!(
            o.validate()
                .unwrap_err()
                .to_string()
                .contains("max-samples")
        );
        let mut o = EmbedOptions::default();
        o.head.sampler.draws_per_epoch = 10;
        assert!(
            o.validate()
                .unwrap_err()
                .to_string()
                .contains("head.sampler")
        );
        let mut o = EmbedOptions::default();
        o.head.learning_rate = f64::NAN;
        assert!(o.validate().is_err());
    }
}
