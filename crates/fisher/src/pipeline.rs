//! `Task2Vec::new(probe, options).embed(dataset)`: the whole pipeline of docs/design.md.
//!
//! 1. choose the images (`--classes` is applied by the caller; `max_samples` takes a seeded,
//!    class-stratified subset),
//! 2. forward them once up to the split point (decoding the next batch on a second thread) and
//!    cache the activations ([`crate::activations`]: in memory up to `--cache-budget`, in an
//!    unnamed temporary file beyond it, not at all when the Fisher runs on augmented views),
//! 3. run the cached activations through the rest of the probe once (no grad) for the pooled
//!    features and fit the task head on them,
//! 4. estimate the Fisher of every conv (and, if asked, BatchNorm γ) after the split with the
//!    head fixed, one value per filter,
//! 5. build the [`Embedding`] with full provenance (docs/design.md invariant 3).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;

use burn::tensor::{Device, Tensor, TensorData};
use ndarray::Array1;
use task2vec_data::Dataset;
use task2vec_embedding::{
    DatasetFingerprint, Embedding, EmbeddingKind, EstimatorInfo, Layout, ProbeId, Provenance,
};
use task2vec_probe::{LayerTap, PassThrough, Probe};

use crate::activations::{ActivationSink, DEFAULT_CACHE_BUDGET, RowSubset, SplitActivations};
use crate::augment::AugmentedInputs;
use crate::domain::DomainBaseline;
use crate::error::{FisherError, Result};
use crate::estimator::{
    FisherEstimate, FisherInputs, FisherTask, SegmentKey, batch, exact, host_f32, montecarlo,
    variational,
};
use crate::head::{HeadFit, fit_head};
use crate::network::TappedNetwork;
use crate::options::{Augment, EmbedOptions, FisherMethod, ResolvedOptions};
use crate::progress::Progress;
use crate::sampler::{Stream, balanced_weights, stratified_split, stream_rng, uniform_weights};

/// The probe after split point `k`, as the estimators see it.
pub struct ProbeTail<'p> {
    /// The whole probe.
    pub probe: &'p Probe,
    /// The split point: the tail starts after it.
    pub split: usize,
}

impl TappedNetwork for ProbeTail<'_> {
    fn features(&self, input: Tensor<4>, tap: &mut dyn LayerTap) -> Tensor<2> {
        self.probe.features_from(self.split, input, tap)
    }

    fn segment_name(&self, key: SegmentKey) -> String {
        match key {
            SegmentKey::Conv(i) => self
                .probe
                .conv_layout()
                .get(i)
                .map_or_else(|| format!("conv{i}"), |c| c.name.clone()),
            SegmentKey::BnGamma(i) => self
                .probe
                .bn_layout()
                .get(i)
                .map_or_else(|| format!("bn{i}"), |b| b.name.clone()),
        }
    }
}

/// Activations of the chosen images at the split point, with labels and pooled features.
pub struct ActivationCache {
    /// `[N, C, H, W]`: on the probe's device (no autodiff), or spilled to disk beyond the
    /// pipeline's cache budget, or not kept (see [`Task2Vec::cache_with`]).
    pub activations: SplitActivations,
    /// Pooled penultimate features, row-major `[N, feature_dim]`.
    pub features: Vec<f32>,
    /// Class index of every image, in dataset order.
    pub labels: Vec<usize>,
}

impl ActivationCache {
    /// Pooled features and labels of the images at `indices`.
    pub fn gather_features(&self, indices: &[usize]) -> (Vec<f32>, Vec<usize>) {
        let dim = self.features.len() / self.labels.len().max(1);
        let mut features = Vec::with_capacity(indices.len() * dim);
        for &i in indices {
            features.extend_from_slice(&self.features[i * dim..(i + 1) * dim]);
        }
        (features, indices.iter().map(|&i| self.labels[i]).collect())
    }

    /// Activations and labels of the images at `indices` (read back from disk when spilled).
    pub fn gather_activations(&self, indices: &[usize]) -> Result<(Tensor<4>, Vec<usize>)> {
        Ok((
            self.activations.gather(indices)?,
            indices.iter().map(|&i| self.labels[i]).collect(),
        ))
    }

    /// The cache of the images at `indices` only (kept in memory: for a part of a task, such
    /// as a retest half).
    pub fn subset(&self, indices: &[usize]) -> Result<ActivationCache> {
        let (activations, labels) = self.gather_activations(indices)?;
        Ok(ActivationCache {
            activations: SplitActivations::in_memory(activations),
            features: self.gather_features(indices).0,
            labels,
        })
    }
}

/// What `embed` returns besides the embedding: how the head fitted and what data was used.
#[derive(Debug, Clone)]
pub struct EmbedReport {
    /// The task head and its final training loss and error.
    pub head: HeadFit,
    /// Indices (into the images used, after `max_samples`) the head was fitted on.
    pub head_images: Vec<usize>,
    /// Indices the Fisher was estimated on: the same as `head_images` when `head_split` is 0,
    /// disjoint from them otherwise.
    pub fisher_images: Vec<usize>,
    /// `(class name, samples used)` in class order.
    pub class_counts: Vec<(String, usize)>,
    /// Where the split-point activations were held.
    pub cache: CacheReport,
    /// The process's peak resident memory when the embedding was done, in bytes (Linux
    /// `VmHWM`; `None` elsewhere). A property of the run, so it is reported here and never
    /// recorded in the embedding, which stays byte-identical for a seed.
    pub peak_rss_bytes: Option<u64>,
}

/// How the split-point cache was held during an embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheReport {
    /// Bytes of all cached activations (0 when they were not kept).
    pub bytes: u64,
    /// Whether they exceeded the budget and were read back from disk.
    pub spilled: bool,
    /// Whether they were kept at all (not with augmented Fisher views).
    pub kept: bool,
}

impl CacheReport {
    /// The report of `activations`.
    pub fn of(activations: &SplitActivations) -> Self {
        CacheReport {
            bytes: if activations.is_kept() {
                activations.total_bytes()
            } else {
                0
            },
            spilled: activations.is_spilled(),
            kept: activations.is_kept(),
        }
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

/// The Task2Vec pipeline for one probe and one set of options.
pub struct Task2Vec<'p> {
    probe: &'p Probe,
    options: ResolvedOptions,
    device: Device,
    /// Bytes of split-point activations held in memory before they spill to disk. Not an
    /// option of the embedding: it changes where values are kept, never a result.
    cache_budget: u64,
    /// Directory of the spill file (the system's temporary directory unless set).
    spill_dir: PathBuf,
}

impl<'p> Task2Vec<'p> {
    /// Resolves `options` against the probe ([`EmbedOptions::resolve`]: every value, the split
    /// point, the input size); an invalid option is an error here, never later.
    pub fn new(probe: &'p Probe, options: EmbedOptions, device: &Device) -> Result<Self> {
        Ok(Self {
            options: options.resolve(probe)?,
            probe,
            device: device.clone().without_autodiff(),
            cache_budget: DEFAULT_CACHE_BUDGET,
            spill_dir: std::env::temp_dir(),
        })
    }

    /// Keeps at most `bytes` of split-point activations in memory; beyond, they go to an
    /// unnamed file in the spill directory (default [`DEFAULT_CACHE_BUDGET`]). Results do not
    /// depend on it.
    pub fn with_cache_budget(mut self, bytes: u64) -> Self {
        self.cache_budget = bytes;
        self
    }

    /// Spills the activation cache into `dir` instead of the system's temporary directory.
    pub fn with_spill_dir(mut self, dir: &Path) -> Self {
        self.spill_dir = dir.to_path_buf();
        self
    }

    /// The memory budget of the activation cache, in bytes.
    pub fn cache_budget(&self) -> u64 {
        self.cache_budget
    }

    /// The options the pipeline runs with, every default filled in.
    pub fn options(&self) -> &ResolvedOptions {
        &self.options
    }

    /// Square input size in pixels the images are resized to.
    pub fn input_size(&self) -> usize {
        self.options.input_size()
    }

    /// The images that will be used: `max_samples` as a seeded class-stratified subset.
    pub fn select(&self, dataset: &Dataset) -> Result<Dataset> {
        dataset.validate()?;
        Ok(match self.options.max_samples {
            Some(max) => dataset.take(max, self.options.seed),
            None => dataset.clone(),
        })
    }

    /// Decodes, preprocesses and forwards every image of `dataset` to the split point, keeping
    /// the activations (within the cache budget) and the pooled features.
    pub fn cache(&self, dataset: &Dataset, progress: &dyn Progress) -> Result<ActivationCache> {
        self.cache_with(dataset, true, progress)
    }

    /// As [`Self::cache`]; with `keep_activations` false only the pooled features and labels
    /// are kept (all a Fisher on augmented views needs), so memory does not grow with the
    /// number of images. The next batch is decoded on a second thread while one is forwarded.
    pub fn cache_with(
        &self,
        dataset: &Dataset,
        keep_activations: bool,
        progress: &dyn Progress,
    ) -> Result<ActivationCache> {
        let n = dataset.len();
        let k = self.options.skip_layers;
        let preprocess = self.probe.preprocessor(self.input_size());
        let size = preprocess.size;
        let batch = self.options.cache_batch_size;
        let mut sink = ActivationSink::new(self.cache_budget, &self.spill_dir, keep_activations);
        let mut features = Vec::new();
        progress.start("caching activations", n as u64);
        std::thread::scope(|scope| -> Result<()> {
            // One decoded batch in flight: decoding overlaps the forward, memory stays bounded.
            let (decoded, batches) = sync_channel::<Result<(usize, Vec<f32>)>>(1);
            let preprocess = &preprocess;
            scope.spawn(move || {
                let mut start = 0;
                while start < n {
                    let len = batch.min(n - start);
                    let values = (start..start + len).try_fold(
                        Vec::with_capacity(len * 3 * size * size),
                        |mut values, i| -> Result<Vec<f32>> {
                            values.extend(preprocess.image_to_chw(&dataset.load_image(i)?)?);
                            Ok(values)
                        },
                    );
                    let failed = values.is_err();
                    // A closed channel means the consumer stopped (an error): stop too.
                    if decoded.send(values.map(|v| (len, v))).is_err() || failed {
                        return;
                    }
                    start += len;
                }
            });
            for message in batches {
                let (len, values) = message?;
                let x =
                    Tensor::from_data(TensorData::new(values, [len, 3, size, size]), &self.device);
                let h = self.probe.forward_to(k, x);
                features.extend(host_f32(self.probe.features_from(
                    k,
                    h.clone(),
                    &mut PassThrough,
                ))?);
                sink.push(h)?;
                progress.advance(len as u64);
            }
            Ok(())
        })?;
        if let Some(bad) = features.iter().find(|v| !v.is_finite()) {
            return Err(FisherError::Numerical(format!("probe feature is {bad}")));
        }
        let activations = sink.finish(&self.device)?;
        let held = if !activations.is_kept() {
            String::new()
        } else if activations.is_spilled() {
            format!(
                ", activations spilled to disk ({:.0} MiB > --cache-budget {:.0} MiB)",
                mib(activations.total_bytes()),
                mib(self.cache_budget)
            )
        } else {
            format!(
                ", activations {:.0} MiB in memory",
                mib(activations.total_bytes())
            )
        };
        progress.finish(&format!("{n} images{held}"));
        Ok(ActivationCache {
            activations,
            features,
            labels: dataset.labels(),
        })
    }

    /// Embeds the task given by the labelled `dataset`.
    pub fn embed(
        &self,
        dataset: &Dataset,
        progress: &dyn Progress,
    ) -> Result<(Embedding, EmbedReport)> {
        let data = self.select(dataset)?;
        // Augmented views are made from the images, so the split-point activations are only
        // needed without augmentation.
        let cache = self.cache_with(&data, self.options.augment == Augment::None, progress)?;
        self.embed_from_cache(&data, &cache, progress)
    }

    /// Embeds the task of `data` (already [selected](Self::select)) from its activations
    /// `cache` (made by [`Self::cache`] with these options), so that callers who also want the
    /// domain embeddings or a linear probe forward the images once.
    pub fn embed_from_cache(
        &self,
        data: &Dataset,
        cache: &ActivationCache,
        progress: &dyn Progress,
    ) -> Result<(Embedding, EmbedReport)> {
        let class_counts = data.class_counts();
        for (class, count) in &class_counts {
            progress.note(&format!("{class}: {count} images"));
        }
        if let Some((class, _)) = class_counts.iter().find(|(_, c)| *c == 0) {
            return Err(FisherError::InvalidTask(format!(
                "class `{class}` has no images after max-samples"
            )));
        }
        self.check_cache(data, cache)?;
        let o = &self.options;
        let (head_images, fisher_images) = self.head_and_fisher_images(data, &cache.labels)?;
        let (head_features, head_labels) = cache.gather_features(&head_images);
        let head = fit_head(
            &head_features,
            &head_labels,
            data.classes().len(),
            &o.head,
            o.seed,
            progress,
        )?;
        let labels: Vec<usize> = fisher_images.iter().map(|&i| cache.labels[i]).collect();
        let cached: RowSubset;
        let augmented: AugmentedInputs;
        let inputs: &dyn FisherInputs = if o.augment == Augment::None {
            cached = RowSubset {
                cache: &cache.activations,
                rows: &fisher_images,
            };
            &cached
        } else {
            augmented = AugmentedInputs::new(
                data,
                &fisher_images,
                o.augment,
                self.probe,
                o.skip_layers,
                self.input_size(),
                o.seed,
                self.cache_budget,
                &self.device,
            )?;
            &augmented
        };
        let weights = if o.class_balanced_fisher {
            balanced_weights(&labels)
        } else {
            uniform_weights(labels.len())
        };
        let network = ProbeTail {
            probe: self.probe,
            split: o.skip_layers,
        };
        let task = FisherTask {
            network: &network,
            head: &head.head,
            inputs,
            labels: &labels,
            sample_weights: &weights,
        };
        let gamma = o.bn_gamma_included();
        let batch_norm = o.batch_norm();
        let estimate = match o.method {
            FisherMethod::Montecarlo => montecarlo::estimate(
                &task,
                &o.montecarlo,
                o.fisher_batch_size,
                gamma,
                o.seed,
                progress,
            )?,
            FisherMethod::Exact => exact::estimate(&task, o.fisher_batch_size, gamma, progress)?,
            FisherMethod::MontecarloBatch => {
                batch::estimate(&task, &o.batch, batch_norm, gamma, o.seed, progress)?
            }
            FisherMethod::Variational => {
                variational::estimate(&task, &o.variational, batch_norm, o.seed, progress)?.0
            }
        };
        let mut embedding = self.build_embedding(data, &estimate, &head)?;
        let extra = &mut embedding.meta_mut().extra;
        extra.insert("head_images".into(), serde_json::json!(head_images.len()));
        extra.insert(
            "fisher_images".into(),
            serde_json::json!(fisher_images.len()),
        );
        extra.insert("head_epochs_run".into(), serde_json::json!(head.epochs_run));
        Ok((
            embedding,
            EmbedReport {
                head,
                class_counts,
                head_images,
                fisher_images,
                cache: CacheReport::of(&cache.activations),
                peak_rss_bytes: task2vec_common::peak_rss_bytes(),
            },
        ))
    }

    /// A cache made for other data (or by other options) is an error, not a wrong embedding.
    pub(crate) fn check_cache(&self, data: &Dataset, cache: &ActivationCache) -> Result<()> {
        let rows = cache.activations.rows();
        if cache.labels != data.labels() || rows != data.len() {
            return Err(FisherError::InvalidTask(format!(
                "activation cache of {rows} images does not belong to this dataset of {} images \
                 (make it with Task2Vec::cache on the selected dataset)",
                data.len()
            )));
        }
        Ok(())
    }

    /// Which images fit the head and which carry the Fisher: all of them for both when
    /// `head_split` is 0, else a seeded class-stratified split (`Stream::HeadSplit`).
    fn head_and_fisher_images(
        &self,
        data: &Dataset,
        labels: &[usize],
    ) -> Result<(Vec<usize>, Vec<usize>)> {
        let o = &self.options;
        if o.head_split == 0.0 {
            let all: Vec<usize> = (0..labels.len()).collect();
            return Ok((all.clone(), all));
        }
        let mut rng = stream_rng(o.seed, Stream::HeadSplit);
        stratified_split(labels, data.classes().len(), o.head_split, &mut rng).map_err(|class| {
            FisherError::InvalidTask(format!(
                "class `{}` has fewer than 2 images: --head-split needs at least one image to \
                 fit the head and one for the Fisher in every class",
                data.classes()[class]
            ))
        })
    }

    /// The embedding with its provenance.
    pub fn build_embedding(
        &self,
        data: &Dataset,
        estimate: &FisherEstimate,
        head: &HeadFit,
    ) -> Result<Embedding> {
        let layout = estimate.layout();
        let scale: Vec<f64> = estimate
            .segments
            .iter()
            .flat_map(|s| s.scale.iter().copied())
            .collect();
        let scale = if scale.iter().all(|&s| s == 1.0) {
            None
        } else {
            Some(Array1::from(scale))
        };
        let mut extra = BTreeMap::new();
        extra.insert("head_loss".into(), serde_json::json!(head.loss));
        extra.insert("head_train_error".into(), serde_json::json!(head.error));
        extra.insert(
            "class_counts".into(),
            serde_json::json!(data.class_counts()),
        );
        extra.insert("classes".into(), serde_json::json!(data.classes()));
        let estimator = EstimatorInfo {
            name: self.options.method.name().to_string(),
            hyperparameters: self.options.hyperparameters()?,
        };
        let meta = Provenance {
            extra,
            ..self.provenance(data, EmbeddingKind::Task, estimator)
        };
        Ok(Embedding::new(estimate.hessian(), scale, layout, meta)?)
    }

    /// Everything an embedding of `data` by this pipeline records, except producer extras.
    fn provenance(
        &self,
        data: &Dataset,
        kind: EmbeddingKind,
        estimator: EstimatorInfo,
    ) -> Provenance {
        Provenance {
            task: data
                .origin()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            probe: Some(ProbeId {
                name: self.probe.name().to_string(),
                weights_sha256: self.probe.weights_sha256().to_string(),
            }),
            kind: Some(kind),
            input_size: Some(self.input_size()),
            estimator: Some(estimator),
            seed: Some(self.options.seed),
            skip_layers: Some(self.options.skip_layers),
            dataset: Some(DatasetFingerprint {
                samples: data.len() as u64,
                classes: data.classes().len() as u64,
                files_sha256: data.fingerprint().sha256,
            }),
            ..Provenance::default()
        }
    }
}

impl Task2Vec<'_> {
    /// The domain embedding of `dataset` (labels ignored) by `baseline` (see [`crate::domain`]):
    /// mean |conv output| per filter of every conv after the split point, or the mean pooled
    /// penultimate features (the paper's baseline; one segment, `pooled-features`).
    pub fn embed_domain(
        &self,
        dataset: &Dataset,
        baseline: DomainBaseline,
        progress: &dyn Progress,
    ) -> Result<Embedding> {
        dataset.validate_for(task2vec_data::LabelUse::Ignored)?;
        let data = match self.options.max_samples {
            Some(max) => dataset.take(max, self.options.seed),
            None => dataset.clone(),
        };
        progress.note(&format!("{} images", data.len()));
        let keep = baseline == DomainBaseline::ConvActivations;
        let cache = self.cache_with(&data, keep, progress)?;
        self.embed_domain_from_cache(&data, &cache, baseline, progress)
    }

    /// The domain embedding of `data` (already subsampled as [`Self::embed_domain`] does; for
    /// a labelled task that is [`Self::select`]) from its activations `cache`.
    pub fn embed_domain_from_cache(
        &self,
        data: &Dataset,
        cache: &ActivationCache,
        baseline: DomainBaseline,
        progress: &dyn Progress,
    ) -> Result<Embedding> {
        self.check_cache(data, cache)?;
        let (hessian, layout) = match baseline {
            DomainBaseline::ConvActivations => {
                let network = ProbeTail {
                    probe: self.probe,
                    split: self.options.skip_layers,
                };
                let estimate = crate::domain::mean_activations(
                    &network,
                    &cache.activations,
                    self.options.cache_batch_size,
                    progress,
                )?;
                (estimate.hessian(), estimate.layout())
            }
            DomainBaseline::PooledFeatures => {
                let mean = crate::domain::mean_pooled_features(&cache.features, data.len());
                let layout = Layout::single("pooled-features", mean.len());
                (mean, layout)
            }
        };
        let estimator = EstimatorInfo {
            name: baseline.estimator_name().into(),
            hyperparameters: BTreeMap::from([(
                "max_samples".to_string(),
                serde_json::json!(self.options.max_samples),
            )]),
        };
        let meta = self.provenance(data, EmbeddingKind::Domain, estimator);
        Ok(Embedding::new(hessian, None, layout, meta)?)
    }
}
