//! Experts: feature extractors that really differ. An expert is the probe (EfficientNet-Lite0 by
//! default) whose *tail* — every conv and BatchNorm after a split point, plus a classifier for
//! the source task's classes — was fine-tuned on a source task. Targets that share the probe's
//! prefix share its cached activations at the split point, so the meta-task runs only the tails.
//!
//! Training (what [`Expert::train`] does, in order):
//! 1. the source images (`max_samples`, seeded class-stratified) are forwarded once to the split
//!    point `tail_from` and cached (no augmentation: the tail is trained from these activations);
//! 2. a seeded class-stratified `held_out` fraction is kept aside to measure the fit;
//! 3. the classifier is warm-started as a linear head on the probe's own features (the task2vec
//!    head fit, [`task2vec_fisher::head::fit_head`]) — its held-out error is the *probe's* error;
//! 4. tail and classifier are fine-tuned jointly with Adam on mean cross-entropy for `epochs`
//!    passes over the training images in seeded random batches; BatchNorm stays in eval mode with
//!    the probe's running statistics, its γ and β are trained;
//! 5. the expert's held-out error is measured with its own classifier.
//!
//! The file ([`Expert::save`]) is a safetensors file: the tail's tensors under the probe's layer
//! names, the classifier, and the provenance (`ExpertMeta`, JSON) in the header's metadata, with
//! the source task's Task2Vec embedding when one was attached.
mod file;
pub mod metatask;
pub mod tail;

use std::time::Instant;

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Tensor};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use task2vec_data::{Dataset, Fingerprint};
use task2vec_embedding::Embedding;
use task2vec_fisher::estimator::{FisherInputs, host_f32, label_tensor};
use task2vec_fisher::head::{LinearHead, fit_head};
use task2vec_fisher::optim::TensorAdam;
use task2vec_fisher::options::HeadOptions;
use task2vec_fisher::sampler::{Stream, stratified_split, stream_rng};
use task2vec_fisher::{ActivationCache, EmbedOptions, Progress, Task2Vec};
use task2vec_probe::{Probe, ProbeKind};

use tail::{TailParams, TailTap};

/// What can go wrong while training, loading or running an expert.
#[derive(Debug, thiserror::Error)]
pub enum ExpertError {
    /// An option outside its domain.
    #[error("invalid expert option `{name}`: {reason}")]
    InvalidOption {
        /// The option's name as the command line spells it.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The expert does not belong to this probe (another probe, other weights, another layout).
    #[error("expert {path}: {reason}")]
    ProbeMismatch {
        /// The expert file (or `<in memory>`).
        path: String,
        /// What differs.
        reason: String,
    },
    /// An expert file that cannot be read as one.
    #[error("expert file {path}: {reason}")]
    Format {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Training diverged.
    #[error("expert training: {0}")]
    Numerical(String),
    /// The estimator crate's pipeline (caching, head fit) failed.
    #[error(transparent)]
    Fisher(#[from] task2vec_fisher::FisherError),
    /// The probe failed.
    #[error(transparent)]
    Probe(#[from] task2vec_probe::ProbeError),
    /// The dataset could not be read.
    #[error(transparent)]
    Data(#[from] task2vec_data::DataError),
    /// The source embedding could not be stored or read.
    #[error(transparent)]
    Embedding(#[from] task2vec_embedding::Error),
    /// Writing the file.
    #[error(transparent)]
    File(#[from] task2vec_common::FileError),
}

type Result<T> = std::result::Result<T, ExpertError>;

/// How an expert's tail is fine-tuned. `None` fields take the probe's defaults
/// ([`ExpertOptions::resolve`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpertOptions {
    /// Split point after which the probe is fine-tuned (`None`: [`default_tail_from`]).
    pub tail_from: Option<usize>,
    /// Square input size (`None`: the probe's native size).
    pub input_size: Option<usize>,
    /// Passes over the training images.
    pub epochs: usize,
    /// Adam's learning rate for the tail and the classifier. Fine-tuning a pretrained tail
    /// needs a small step: on 600 MNIST images at 64² (EfficientNet-Lite0 from `blocks.11`),
    /// 1e-3 for 4 epochs raised the held-out error from 0.16 to 0.51, 3e-4 for 10 epochs lowered
    /// it from 0.18 to 0.14 (`task2vec expert train`).
    pub learning_rate: f64,
    /// Images per step.
    pub batch_size: usize,
    /// Seeded class-stratified subsample of the source task (`None`: every image).
    pub max_samples: Option<usize>,
    /// Fraction of each class's images held out to measure the fit (probe vs expert error).
    pub held_out: f64,
    /// Train on a seeded permutation of the labels: a deliberately bad expert.
    pub shuffle_labels: bool,
    /// The one seed of every random stream.
    pub seed: u64,
}

impl Default for ExpertOptions {
    fn default() -> Self {
        Self {
            tail_from: None,
            input_size: None,
            epochs: 10,
            learning_rate: 3e-4,
            batch_size: 64,
            max_samples: Some(1000),
            held_out: 0.2,
            shuffle_labels: false,
            seed: 0,
        }
    }
}

/// The default split point of each probe's fine-tuned tail: EfficientNet-Lite0 from `blocks.11`
/// (its last stage: blocks 11–15 and the head conv, ~2.8 M of its 3.4 M conv weights); the
/// ResNets from `layer4`; tiny-resnet from `layer3`.
pub fn default_tail_from(probe: &Probe) -> usize {
    let name = match probe.kind() {
        ProbeKind::EfficientNetLite0 => "blocks.11",
        ProbeKind::Resnet18 | ProbeKind::Resnet34 => "layer4",
        ProbeKind::TinyResnet => "layer3",
    };
    probe
        .split_points()
        .iter()
        .position(|s| s.name == name)
        .expect("every probe has its default tail split")
}

/// The resolved options an expert was trained with (every default filled in).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResolvedExpertOptions {
    /// Split point index.
    pub tail_from: usize,
    /// Its name (`blocks.11`, `layer4`, …).
    pub tail_from_name: String,
    /// Square input size.
    pub input_size: usize,
    /// The options as given.
    pub options: ExpertOptions,
}

impl ExpertOptions {
    /// Checks every value and fills in the probe's defaults.
    pub fn resolve(&self, probe: &Probe) -> Result<ResolvedExpertOptions> {
        let invalid = |name, reason: String| ExpertError::InvalidOption { name, reason };
        let splits = probe.split_points();
        let tail_from = self.tail_from.unwrap_or_else(|| default_tail_from(probe));
        // The last split is the pooling: a tail after it has no conv to fine-tune.
        if tail_from + 1 >= splits.len() {
            return Err(invalid(
                "tail-from",
                format!(
                    "{} has split points 0..{}; the tail after {tail_from} has no conv",
                    probe.name(),
                    splits.len() - 1
                ),
            ));
        }
        let input_size = self.input_size.unwrap_or(probe.native_input_size());
        probe.kind().check_input_size(input_size)?;
        if self.epochs == 0 {
            return Err(invalid("epochs", "must be at least 1".into()));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(invalid(
                "learning-rate",
                format!("must be finite and positive, got {}", self.learning_rate),
            ));
        }
        if self.batch_size == 0 {
            return Err(invalid("batch-size", "must be at least 1".into()));
        }
        if self.max_samples == Some(0) {
            return Err(invalid("max-samples", "must be at least 1".into()));
        }
        if !(self.held_out > 0.0 && self.held_out < 1.0) {
            return Err(invalid(
                "held-out",
                format!("must be strictly between 0 and 1, got {}", self.held_out),
            ));
        }
        Ok(ResolvedExpertOptions {
            tail_from,
            tail_from_name: splits[tail_from].name.clone(),
            input_size,
            options: self.clone(),
        })
    }
}

/// How the fine-tuning went: the source task's held-out error under the unmodified probe (a
/// linear head on its features) and under the expert (its own classifier).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpertFit {
    /// Training images (after the held-out split).
    pub train_images: usize,
    /// Held-out images.
    pub held_out_images: usize,
    /// Held-out error of a linear head on the unmodified probe's features.
    pub probe_held_out_error: f64,
    /// Held-out error of the expert.
    pub expert_held_out_error: f64,
    /// Mean training cross-entropy of the last epoch.
    pub final_train_loss: f64,
    /// Wall-clock seconds of the fine-tuning (caching excluded).
    pub seconds: f64,
}

/// Provenance of an expert, stored in its file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpertMeta {
    /// File format version.
    pub format: u32,
    /// The expert's name (by convention its source task's id).
    pub name: String,
    /// The probe it fine-tunes.
    pub probe: ProbeKind,
    /// sha256 of the probe's weights: an expert only applies to the exact probe it came from.
    pub probe_weights_sha256: String,
    /// Resolved training options.
    pub options: ResolvedExpertOptions,
    /// The source task's name.
    pub source_task: String,
    /// The source task's classes (the classifier's outputs), in label order.
    pub source_classes: Vec<String>,
    /// The exact images and labels it was trained on (before the held-out split).
    pub source_fingerprint: Fingerprint,
    /// Conv indices of the tail, with the probe's layer names.
    pub convs: Vec<(usize, String)>,
    /// BatchNorm indices of the tail, with the probe's layer names.
    pub batch_norms: Vec<(usize, String)>,
    /// Trained scalar parameters (tail + classifier).
    pub parameters: usize,
    /// How the fit went.
    pub fit: ExpertFit,
    /// task2vec-rs version that trained it.
    pub software: String,
}

/// A probe whose tail was fine-tuned on a source task (see the module docs).
#[derive(Clone, Debug)]
pub struct Expert {
    meta: ExpertMeta,
    tail: TailParams,
    classifier: LinearHead,
    source_embedding: Option<Embedding>,
}

/// What an expert computes on a set of images.
#[derive(Clone, Debug)]
pub struct ExpertOutputs {
    /// Pooled penultimate features, row-major `[n, dim]`.
    pub features: Vec<f32>,
    /// Softmax of the expert's source classifier, row-major `[n, source classes]` (LEEP's input).
    pub source_probs: Vec<f32>,
    /// Label of every image.
    pub labels: Vec<usize>,
}

/// Activations of a dataset at a split point: what every expert sharing the probe's prefix
/// needs (compute once per target, run every expert's tail on it).
pub fn cache_at_split(
    probe: &Probe,
    dataset: &Dataset,
    split: usize,
    input_size: usize,
    device: &Device,
    progress: &dyn Progress,
) -> Result<ActivationCache> {
    let options = EmbedOptions {
        skip_layers: split,
        input_size: Some(input_size),
        ..EmbedOptions::default()
    };
    let pipeline = Task2Vec::new(probe, options, device)?;
    dataset.validate()?;
    Ok(pipeline.cache(dataset, progress)?)
}

impl Expert {
    /// Fine-tunes `probe`'s tail on the labelled `source` (the expert's source task, named
    /// `name`), following the module docs.
    pub fn train(
        probe: &Probe,
        source: &Dataset,
        name: &str,
        options: &ExpertOptions,
        device: &Device,
        progress: &dyn Progress,
    ) -> Result<Expert> {
        let resolved = options.resolve(probe)?;
        source.validate()?;
        let data = match options.max_samples {
            Some(max) => source.take(max, options.seed),
            None => source.clone(),
        };
        let classes = data.classes().len();
        let cache = cache_at_split(
            probe,
            &data,
            resolved.tail_from,
            resolved.input_size,
            device,
            progress,
        )?;
        let labels = if options.shuffle_labels {
            shuffled_labels(&cache.labels, options.seed)
        } else {
            cache.labels.clone()
        };
        let (held_out, train) = stratified_split(
            &labels,
            classes,
            options.held_out,
            &mut stream_rng(options.seed, Stream::ExpertHeldOut),
        )
        .map_err(|class| ExpertError::InvalidOption {
            name: "held-out",
            reason: format!(
                "class `{}` of {name} has fewer than 2 images: nothing to hold out",
                data.classes()[class]
            ),
        })?;
        let gather = |rows: &[usize]| -> (Vec<f32>, Vec<usize>) {
            let (f, _) = cache.gather_features(rows);
            (f, rows.iter().map(|&i| labels[i]).collect())
        };
        let (train_f, train_y) = gather(&train);
        let (held_f, held_y) = gather(&held_out);
        let head_options = HeadOptions::default();
        let warm = fit_head(
            &train_f,
            &train_y,
            classes,
            &head_options,
            options.seed,
            progress,
        )?;
        let probe_held_out_error = warm.head.evaluate(&held_f, &held_y).1;

        let plain = device.clone().without_autodiff();
        let (first, _) = cache.gather_activations(&train[..1])?;
        let mut tail = TailParams::from_probe(probe, resolved.tail_from, first);
        let (mut head_w, mut head_b) = warm.head.tensors(&plain);
        let mut adam = TensorAdam::new(options.learning_rate);
        let started = Instant::now();
        let mut order = train.clone();
        let mut rng = stream_rng(options.seed, Stream::ExpertBatches);
        let steps_per_epoch = train.len().div_ceil(options.batch_size);
        progress.start(
            &format!("fine-tuning {name}"),
            (options.epochs * steps_per_epoch) as u64,
        );
        let mut final_train_loss = f64::NAN;
        for _ in 0..options.epochs {
            order.shuffle(&mut rng);
            let mut loss_sum = 0.0;
            for batch in order.chunks(options.batch_size) {
                let (x, _) = cache.gather_activations(batch)?;
                let y: Vec<usize> = batch.iter().map(|&i| labels[i]).collect();
                let leaves = tail.leaves();
                let w_leaf = head_w.clone().autodiff().require_grad();
                let b_leaf = head_b.clone().autodiff().require_grad();
                let features = probe.features_from(
                    resolved.tail_from,
                    x.autodiff(),
                    &mut TailTap { params: &leaves },
                );
                let logits = features
                    .matmul(w_leaf.clone().transpose())
                    .add(b_leaf.clone().unsqueeze_dim(0));
                let log_probs = log_softmax(logits, 1);
                let loss: Tensor<1> = log_probs
                    .clone()
                    .gather(1, label_tensor(&y, &log_probs))
                    .mean()
                    .neg();
                let value = host_f32(loss.clone())?[0] as f64;
                if !value.is_finite() {
                    return Err(ExpertError::Numerical(format!(
                        "the loss of {name} became {value}"
                    )));
                }
                loss_sum += value * batch.len() as f64;
                let grads = loss.backward();
                let mut params = tail.flatten();
                let mut gs = leaves.flat_grads(&grads);
                let [c, d] = head_w.dims();
                params.push(head_w.clone().reshape([c * d]));
                gs.push(
                    w_leaf
                        .grad(&grads)
                        .map(|g| g.reshape([c * d]))
                        .unwrap_or_else(|| Tensor::zeros([c * d], &plain)),
                );
                params.push(head_b.clone());
                gs.push(
                    b_leaf
                        .grad(&grads)
                        .unwrap_or_else(|| Tensor::zeros([c], &plain)),
                );
                let mut updated = adam.step(params, gs);
                head_b = updated.pop().expect("bias");
                head_w = updated.pop().expect("weight").reshape([c, d]);
                tail = tail.unflatten(updated);
                progress.advance(1);
            }
            final_train_loss = loss_sum / train.len() as f64;
        }
        let seconds = started.elapsed().as_secs_f64();
        progress.finish(&format!("loss {final_train_loss:.4}"));

        let classifier = LinearHead {
            classes,
            dim: head_w.dims()[1],
            weight: host_f32(head_w)?,
            bias: host_f32(head_b)?,
        };
        let convs = tail
            .convs
            .keys()
            .map(|&i| (i, probe.conv_layout()[i].name.clone()))
            .collect();
        let batch_norms = tail
            .bns
            .keys()
            .map(|&i| (i, probe.bn_layout()[i].name.clone()))
            .collect();
        let parameters = tail.parameter_count() + classifier.weight.len() + classifier.bias.len();
        let mut expert = Expert {
            meta: ExpertMeta {
                format: file::FORMAT_VERSION,
                name: name.to_string(),
                probe: probe.kind(),
                probe_weights_sha256: probe.weights_sha256().to_string(),
                options: resolved,
                source_task: name.to_string(),
                source_classes: data.classes().to_vec(),
                source_fingerprint: data.fingerprint(),
                convs,
                batch_norms,
                parameters,
                fit: ExpertFit {
                    train_images: train.len(),
                    held_out_images: held_out.len(),
                    probe_held_out_error,
                    expert_held_out_error: f64::NAN,
                    final_train_loss,
                    seconds,
                },
                software: env!("CARGO_PKG_VERSION").to_string(),
            },
            tail,
            classifier,
            source_embedding: None,
        };
        let (held_x, _) = cache.gather_activations(&held_out)?;
        let outputs = expert.run_cached(probe, &held_x, held_y, options.batch_size)?;
        expert.meta.fit.expert_held_out_error = expert
            .classifier
            .evaluate(&outputs.features, &outputs.labels)
            .1;
        Ok(expert)
    }

    /// Provenance.
    pub fn meta(&self) -> &ExpertMeta {
        &self.meta
    }

    /// The expert's name.
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// The source task's Task2Vec embedding, when attached.
    pub fn source_embedding(&self) -> Option<&Embedding> {
        self.source_embedding.as_ref()
    }

    /// Attaches the source task's Task2Vec embedding (what Task2Vec and Model2Vec select by).
    pub fn set_source_embedding(&mut self, embedding: Embedding) {
        self.source_embedding = Some(embedding);
    }

    /// The source classifier.
    pub fn classifier(&self) -> &LinearHead {
        &self.classifier
    }

    /// The split point the expert's tail starts at.
    pub fn tail_from(&self) -> usize {
        self.meta.options.tail_from
    }

    /// The input size the expert was trained at.
    pub fn input_size(&self) -> usize {
        self.meta.options.input_size
    }

    /// Checks that the expert was made from exactly this probe.
    pub fn check_probe(&self, probe: &Probe) -> Result<()> {
        let mismatch = |reason: String| ExpertError::ProbeMismatch {
            path: self.meta.name.clone(),
            reason,
        };
        if probe.kind() != self.meta.probe {
            return Err(mismatch(format!(
                "was trained on {}, not {}",
                self.meta.probe,
                probe.name()
            )));
        }
        if probe.weights_sha256() != self.meta.probe_weights_sha256 {
            return Err(mismatch(format!(
                "was trained on {} weights {}, these are {}",
                probe.name(),
                short(&self.meta.probe_weights_sha256),
                short(probe.weights_sha256())
            )));
        }
        Ok(())
    }

    /// Features and source-class probabilities of the images whose activations at the expert's
    /// split point are `activations` (from [`cache_at_split`] with [`Expert::tail_from`]).
    pub fn run_cached(
        &self,
        probe: &Probe,
        activations: &dyn FisherInputs,
        labels: Vec<usize>,
        batch_size: usize,
    ) -> Result<ExpertOutputs> {
        self.check_probe(probe)?;
        let n = activations.len();
        let device = activations.device();
        let (w, b) = self.classifier.tensors(&device);
        let mut features = Vec::new();
        let mut source_probs = Vec::new();
        let mut start = 0;
        while start < n {
            let len = batch_size.max(1).min(n - start);
            let x = activations.range(start, len)?;
            let f = probe.features_from(self.tail_from(), x, &mut TailTap { params: &self.tail });
            let logits = f
                .clone()
                .matmul(w.clone().transpose())
                .add(b.clone().unsqueeze_dim(0));
            source_probs.extend(host_f32(softmax(logits, 1))?);
            features.extend(host_f32(f)?);
            start += len;
        }
        if let Some(bad) = features.iter().find(|v| !v.is_finite()) {
            return Err(ExpertError::Numerical(format!(
                "expert {} gave a feature of {bad}",
                self.name()
            )));
        }
        Ok(ExpertOutputs {
            features,
            source_probs,
            labels,
        })
    }

    /// Features of every image of `dataset` under this expert (caches at its split point first).
    pub fn features(
        &self,
        probe: &Probe,
        dataset: &Dataset,
        device: &Device,
        progress: &dyn Progress,
    ) -> Result<ExpertOutputs> {
        self.check_probe(probe)?;
        let cache = cache_at_split(
            probe,
            dataset,
            self.tail_from(),
            self.input_size(),
            device,
            progress,
        )?;
        self.run_cached(probe, &cache.activations, cache.labels, 64)
    }
}

/// The labels a shuffled-label expert trains on: `labels` permuted by the seeded
/// `ShuffledLabels` stream (exposed so that a caller can embed the same shuffled task).
pub fn shuffled_labels(labels: &[usize], seed: u64) -> Vec<usize> {
    let mut shuffled = labels.to_vec();
    shuffled.shuffle(&mut stream_rng(seed, Stream::ShuffledLabels));
    shuffled
}

/// The first 12 hex digits of a sha256, for messages.
fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
