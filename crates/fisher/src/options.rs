//! Hyperparameters of the pipeline, one struct per stage.
//!
//! [`EmbedOptions`] is what a caller writes (every field public, serde, partial: `None` means
//! "the default for this method / probe"). [`EmbedOptions::resolve`] checks every value and
//! every rule that involves the probe ONCE and returns [`ResolvedOptions`]: all defaults filled
//! in, the only form the pipeline runs on and the form recorded in provenance. The CLI, xtask and
//! library users all go through it, so one method name always computes one thing.
//!
//! Defaults are REF's (docs/reference.md §9) except where our estimator is different by design:
//! `montecarlo` takes per-sample squared gradients with BatchNorm in eval mode.
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use task2vec_probe::Probe;

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

    /// The BatchNorm mode a method runs in unless told otherwise: REF's batch estimator runs its
    /// probe in `train()` mode (batch statistics); the per-sample estimators need samples that
    /// do not interact, i.e. running statistics.
    pub fn default_batch_norm(self) -> BatchNormMode {
        match self {
            Self::MontecarloBatch => BatchNormMode::Train,
            Self::Montecarlo | Self::Exact | Self::Variational => BatchNormMode::Eval,
        }
    }

    /// Whether the method may run BatchNorm on batch statistics: only those whose loss is a
    /// batch mean (REF's batch estimator, the variational fit); the per-sample estimators need
    /// samples that do not interact.
    pub fn allows_train_batch_norm(self) -> bool {
        matches!(self, Self::MontecarloBatch | Self::Variational)
    }

    /// Whether BatchNorm γ values are part of the embedding unless told otherwise (REF: only
    /// for its batch estimator, which takes every parameter's gradient).
    pub fn default_include_bn_gamma(self) -> bool {
        self == Self::MontecarloBatch
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
    /// batch, so it is only allowed with `montecarlo-batch` and `variational` (batch-mean losses).
    Train,
}

impl BatchNormMode {
    /// The name used on the command line and in provenance.
    pub fn name(self) -> &'static str {
        match self {
            Self::Eval => "eval",
            Self::Train => "train",
        }
    }
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

/// Which views of its images the Fisher sees (`--augment`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Augment {
    /// The images as the probe's preprocessing gives them (resize, centre crop): every draw of
    /// an image sees the same input.
    #[default]
    None,
    /// REF's train transform: RandomResizedCrop (area 8–100 %, aspect 3/4–4/3) to the input
    /// size + horizontal flip with probability ½, a fresh view for every Fisher (and
    /// variational) draw, seeded by (seed, image, draw).
    Ref,
    /// `ref` without the flip (for glyphs and text, where a mirrored letter is another letter).
    Crop,
}

impl Augment {
    /// The name used on the command line and in provenance.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Ref => "ref",
            Self::Crop => "crop",
        }
    }

    /// Whether views are horizontally flipped at random.
    pub fn flips(self) -> bool {
        self == Self::Ref
    }
}

impl fmt::Display for Augment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Augment {
    type Err = FisherError;
    fn from_str(s: &str) -> Result<Self> {
        [Self::None, Self::Ref, Self::Crop]
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                invalid(
                    "augment",
                    format!("unknown augmentation `{s}` (expected none, ref or crop)"),
                )
            })
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

impl SamplerOptions {
    /// Checks the sampler's values; `prefix` names it in the error (`head.sampler`, ...).
    pub fn validate(&self, prefix: &'static str) -> Result<()> {
        positive(prefix, self.batch_size)?;
        if self.draws_per_epoch < self.batch_size {
            return Err(invalid(
                prefix,
                format!(
                    "draws per epoch ({}) must be at least one batch ({})",
                    self.draws_per_epoch, self.batch_size
                ),
            ));
        }
        Ok(())
    }
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
    /// Adam's learning rate (REF: 4e-4).
    pub learning_rate: f64,
    /// L2 penalty added to the gradient, as torch's `Adam(weight_decay=..)` (not AdamW).
    pub weight_decay: f64,
    /// Passes of `sampler.draws_per_epoch` class-balanced draws (REF: 10).
    pub epochs: usize,
    /// How training images are drawn.
    pub sampler: SamplerOptions,
    /// Early stopping: this fraction of each class's head images (at least one) is held out,
    /// the head is fitted on the rest, and the epoch with the lowest held-out loss is kept
    /// (training stops after [`HeadOptions::PATIENCE`] epochs without improvement). 0: off, every
    /// epoch on every head image (REF).
    #[serde(default)]
    pub early_stop: f64,
}

impl HeadOptions {
    /// Epochs without a lower held-out loss before early stopping ends the fit.
    pub const PATIENCE: usize = 2;

    /// Checks every value (called by [`crate::head::fit_head`] and [`EmbedOptions::resolve`]).
    pub fn validate(&self) -> Result<()> {
        finite_positive("head.learning-rate", self.learning_rate)?;
        finite_non_negative("head.weight-decay", self.weight_decay)?;
        positive("head-epochs", self.epochs)?;
        if !(self.early_stop >= 0.0 && self.early_stop < 1.0) {
            return Err(invalid(
                "head-early-stop",
                format!("must be in [0, 1), got {}", self.early_stop),
            ));
        }
        self.sampler.validate("head.sampler")
    }
}

impl Default for HeadOptions {
    fn default() -> Self {
        Self {
            learning_rate: 4e-4,
            weight_decay: 1e-4,
            epochs: 10,
            sampler: SamplerOptions::default(),
            early_stop: 0.0,
        }
    }
}

/// `montecarlo`: per-sample squared gradients, labels sampled from the model (by default
/// four defensive draws per image, docs/fidelity.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonteCarloOptions {
    /// Labels sampled per image per epoch (`--labels-per-image`; each needs its own forward and
    /// backward; with augmentation each draw also sees its own view).
    pub samples_per_image: usize,
    /// Passes over the cached images.
    pub epochs: usize,
    /// Where the sampled labels come from.
    #[serde(default)]
    pub proposal: LabelProposal,
}

impl MonteCarloOptions {
    /// Checks every value (called by the estimator and by [`EmbedOptions::resolve`]).
    pub fn validate(&self) -> Result<()> {
        positive("labels-per-image", self.samples_per_image)?;
        positive("montecarlo.epochs", self.epochs)
    }
}

impl Default for MonteCarloOptions {
    fn default() -> Self {
        Self {
            // docs/fidelity.md: with one model-drawn label per image, two halves of a task
            // found each other in 60–90 % of cases on `quick`; four defensive draws, 100 %.
            samples_per_image: 4,
            epochs: 1,
            proposal: LabelProposal::Defensive,
        }
    }
}

/// The distribution `montecarlo` draws labels from. Both estimate the same Fisher
/// Σ_y p(y|x)·g_y² (unbiased); they differ in variance. The type's default is REF's `model`
/// (what a provenance record without the field means); [`MonteCarloOptions::default`] uses
/// `defensive`.
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
    /// The name used on the command line and in provenance.
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
    /// Passes of `sampler.draws_per_epoch` draws (REF: 1).
    pub epochs: usize,
    /// How images are drawn into batches (REF: 10,000 draws, batches of 64).
    pub sampler: SamplerOptions,
}

impl BatchEstimatorOptions {
    /// Checks every value (called by the estimator and by [`EmbedOptions::resolve`]).
    pub fn validate(&self) -> Result<()> {
        positive("batch.epochs", self.epochs)?;
        self.sampler.validate("batch.sampler")
    }
}

impl Default for BatchEstimatorOptions {
    fn default() -> Self {
        Self {
            epochs: 1,
            sampler: SamplerOptions::default(),
        }
    }
}

/// `variational`: REF's robust Fisher (docs/reference.md §4.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariationalOptions {
    /// Passes of `sampler.draws_per_epoch` draws (REF: 2).
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
    /// How images are drawn into batches.
    pub sampler: SamplerOptions,
}

impl VariationalOptions {
    /// Checks every value (called by the estimator and by [`EmbedOptions::resolve`]).
    pub fn validate(&self) -> Result<()> {
        positive("variational.epochs", self.epochs)?;
        finite_non_negative("variational.beta", self.beta)?;
        finite_positive(
            "variational.logvar-learning-rate",
            self.logvar_learning_rate,
        )?;
        finite_positive("variational.head-learning-rate", self.head_learning_rate)?;
        finite_positive(
            "variational.initial-variance-fraction",
            self.initial_variance_fraction,
        )?;
        finite_non_negative(
            "variational.input-variance-floor",
            self.input_variance_floor,
        )?;
        self.sampler.validate("variational.sampler")
    }
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

/// Everything `Task2Vec::embed` needs besides the probe and the data, as a caller writes it.
/// `None` fields take the default of the chosen method or probe when [resolved](Self::resolve).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbedOptions {
    /// The Fisher estimator.
    pub method: FisherMethod,
    /// Split point of the probe: activations at this point are cached, the Fisher covers the
    /// layers after it (REF's `skip_layers`, numbered per probe).
    pub skip_layers: usize,
    /// Use at most this many images (a seeded random subset when the dataset is larger).
    /// Memory does not grow with it past the cache budget (`Task2Vec::with_cache_budget`).
    pub max_samples: Option<usize>,
    /// The one user seed; every random stream is derived from it.
    pub seed: u64,
    /// BatchNorm mode during the Fisher estimate. `None`: the method's default
    /// ([`FisherMethod::default_batch_norm`]).
    pub batch_norm: Option<BatchNormMode>,
    /// Include BatchNorm γ in the embedding. `None`: the method's default
    /// ([`FisherMethod::default_include_bn_gamma`]).
    pub include_bn_gamma: Option<bool>,
    /// Square input size in pixels. `None`: the probe's native size.
    #[serde(default)]
    pub input_size: Option<usize>,
    /// Images per forward while caching activations.
    pub cache_batch_size: usize,
    /// Images per forward/backward in the per-sample estimators (memory bound of the kernel).
    pub fisher_batch_size: usize,
    /// Weight the Fisher's expectation over images so that every class counts equally (the
    /// distribution REF's balanced sampler draws from); otherwise every image counts equally.
    pub class_balanced_fisher: bool,
    /// Fraction of each class's images used to fit the task head; the Fisher is estimated on
    /// the others, images the head never saw (a head that memorised its images is confident on
    /// them and its Fisher there vanishes). 0: the head and the Fisher both use every image
    /// (REF). Default 0.5 (docs/fidelity.md); absent in a provenance record means 0.
    #[serde(default)]
    pub head_split: f64,
    /// Views of the Fisher images (the head is always fitted on the plain images). Default
    /// `ref` (docs/fidelity.md); absent in a provenance record means `none`.
    #[serde(default)]
    pub augment: Augment,
    /// The task head's fit.
    pub head: HeadOptions,
    /// `montecarlo`'s options.
    pub montecarlo: MonteCarloOptions,
    /// `montecarlo-batch`'s options.
    pub batch: BatchEstimatorOptions,
    /// `variational`'s options.
    pub variational: VariationalOptions,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self {
            method: FisherMethod::default(),
            skip_layers: 0,
            max_samples: None,
            seed: 0,
            batch_norm: None,
            include_bn_gamma: None,
            input_size: None,
            cache_batch_size: 64,
            fisher_batch_size: 32,
            class_balanced_fisher: true,
            // docs/fidelity.md: a head fitted on other images than the Fisher's, and fresh
            // augmented views per draw (REF's regime), both raise retest self-retrieval.
            head_split: 0.5,
            augment: Augment::Ref,
            head: HeadOptions::default(),
            montecarlo: MonteCarloOptions::default(),
            batch: BatchEstimatorOptions::default(),
            variational: VariationalOptions::default(),
        }
    }
}

/// A batch size (or any count) must be at least 1.
pub(crate) fn positive(name: &'static str, v: usize) -> Result<()> {
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

impl EmbedOptions {
    /// Checks every rule that does not involve the probe (all of them but the split point and
    /// the input size), with the method's defaults filled in. [`Self::resolve`] calls it.
    pub fn validate(&self) -> Result<()> {
        if let Some(0) = self.max_samples {
            return Err(invalid("max-samples", "must be at least 1"));
        }
        positive("cache-batch-size", self.cache_batch_size)?;
        positive("fisher-batch-size", self.fisher_batch_size)?;
        if !(self.head_split >= 0.0 && self.head_split < 1.0) {
            return Err(invalid(
                "head-split",
                format!("must be in [0, 1), got {}", self.head_split),
            ));
        }
        let batch_norm = self.batch_norm.unwrap_or(self.method.default_batch_norm());
        if batch_norm == BatchNormMode::Train && !self.method.allows_train_batch_norm() {
            return Err(invalid(
                "batch-norm",
                format!(
                    "train mode couples the samples of a batch, so per-sample gradients are wrong; \
                     it is only allowed with montecarlo-batch and variational (got {})",
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
        self.head.validate()?;
        self.montecarlo.validate()?;
        self.batch.validate()?;
        self.variational.validate()
    }

    /// Checks every value and every rule that involves `probe` (split point in range with a
    /// conv after it, input size the probe can run at), and fills in every default. The one
    /// place where options become runnable.
    pub fn resolve(&self, probe: &Probe) -> Result<ResolvedOptions> {
        self.validate()?;
        let splits = probe.split_points();
        let Some(split) = splits.get(self.skip_layers) else {
            return Err(invalid(
                "skip-layers",
                format!(
                    "{} has split points 0..{} (got {})",
                    probe.name(),
                    splits.len() - 1,
                    self.skip_layers
                ),
            ));
        };
        if split.first_conv >= probe.conv_layout().len() {
            return Err(invalid(
                "skip-layers",
                format!(
                    "no conv of {} after split point {} ({}): nothing to embed",
                    probe.name(),
                    self.skip_layers,
                    split.name
                ),
            ));
        }
        let input_size = self.input_size.unwrap_or(probe.native_input_size());
        probe
            .kind()
            .check_input_size(input_size)
            .map_err(|e| invalid("input-size", e.to_string()))?;
        Ok(ResolvedOptions(EmbedOptions {
            batch_norm: Some(self.batch_norm.unwrap_or(self.method.default_batch_norm())),
            include_bn_gamma: Some(
                self.include_bn_gamma
                    .unwrap_or(self.method.default_include_bn_gamma()),
            ),
            input_size: Some(input_size),
            ..self.clone()
        }))
    }
}

/// [`EmbedOptions`] checked against a probe with every default filled in: made only by
/// [`EmbedOptions::resolve`], so holding one means every rule holds. Read the plain fields
/// through `Deref`; the resolved ones through the accessors.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ResolvedOptions(EmbedOptions);

impl ResolvedOptions {
    /// The BatchNorm mode the estimator runs in.
    pub fn batch_norm(&self) -> BatchNormMode {
        self.0.batch_norm.expect("filled in by resolve")
    }

    /// Whether BatchNorm γ values are part of the embedding.
    pub fn bn_gamma_included(&self) -> bool {
        self.0.include_bn_gamma.expect("filled in by resolve")
    }

    /// Square input size in pixels.
    pub fn input_size(&self) -> usize {
        self.0.input_size.expect("filled in by resolve")
    }

    /// The options as written, with every default filled in.
    pub fn as_options(&self) -> &EmbedOptions {
        &self.0
    }

    /// Every option, flattened one level into a name → value map: what an embedding records as
    /// its estimator's hyperparameters, so two embeddings were made alike iff these are equal.
    pub fn hyperparameters(&self) -> Result<BTreeMap<String, serde_json::Value>> {
        match serde_json::to_value(self)? {
            serde_json::Value::Object(map) => Ok(map.into_iter().collect()),
            other => Err(FisherError::Provenance(serde::ser::Error::custom(format!(
                "options serialised to {other}, not to a map"
            )))),
        }
    }
}

impl std::ops::Deref for ResolvedOptions {
    type Target = EmbedOptions;
    fn deref(&self) -> &EmbedOptions {
        &self.0
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
    fn train_mode_batch_norm_needs_a_batch_mean_loss() {
        let mut o = EmbedOptions {
            batch_norm: Some(BatchNormMode::Train),
            ..Default::default()
        };
        for method in [FisherMethod::Montecarlo, FisherMethod::Exact] {
            o.method = method;
            let err = o.validate().unwrap_err().to_string();
            assert!(err.contains("batch-norm"), "{err}");
        }
        for method in [FisherMethod::MontecarloBatch, FisherMethod::Variational] {
            o.method = method;
            o.validate().unwrap();
        }
    }

    #[test]
    fn augment_and_early_stop_parse_and_validate() {
        for a in [Augment::None, Augment::Ref, Augment::Crop] {
            assert_eq!(a.name().parse::<Augment>().unwrap(), a);
        }
        assert!("flip".parse::<Augment>().is_err());
        assert!(Augment::Ref.flips() && !Augment::Crop.flips() && !Augment::None.flips());
        for bad in [1.0, -0.1, f64::NAN] {
            let mut o = EmbedOptions::default();
            o.head.early_stop = bad;
            let err = o.validate().unwrap_err().to_string();
            assert!(err.contains("head-early-stop"), "{err}");
        }
        let mut o = EmbedOptions::default();
        o.head.early_stop = 0.2;
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
        for set in [
            |o: &mut EmbedOptions| o.fisher_batch_size = 0,
            |o: &mut EmbedOptions| o.cache_batch_size = 0,
            |o: &mut EmbedOptions| o.head.epochs = 0,
            |o: &mut EmbedOptions| o.batch.sampler.batch_size = 0,
            |o: &mut EmbedOptions| o.variational.sampler.batch_size = 0,
            |o: &mut EmbedOptions| o.head_split = 1.0,
            |o: &mut EmbedOptions| o.head_split = -0.1,
            |o: &mut EmbedOptions| o.head_split = f64::NAN,
        ] {
            let mut o = EmbedOptions::default();
            set(&mut o);
            assert!(o.validate().is_err(), "{o:?}");
        }
    }
}
