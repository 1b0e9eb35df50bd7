//! Embedding the tasks of a suite into a store (feature `embed`): for each task, the key of
//! its result, and the result itself — the task embedding, both domain embeddings and the
//! held-out error of a linear probe, all from one activation cache.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use task2vec_data::{Dataset, Task};
use task2vec_embedding::Embedding;
use task2vec_fisher::linear_probe::held_out_error_from_cache;
use task2vec_fisher::pipeline::{ActivationCache, Task2Vec};
use task2vec_fisher::{
    DEFAULT_CACHE_BUDGET, DomainBaseline, EmbedOptions, FisherError, Progress, Silent,
};
use task2vec_probe::Probe;

use crate::error::StoreError;
use crate::key::Key;
use crate::store::{Entry, PutError, Store};

/// Share of each task's images held out to measure the linear probe's error (E3's
/// difficulty, `result.json`'s `probe_error`).
pub const HELD_OUT: f64 = 0.2;

/// What a result's key records as the software that made it: results of another version are
/// never reused.
pub const SOFTWARE: &str = concat!("task2vec-rs ", env!("CARGO_PKG_VERSION"));

/// Files of a task result's entry.
pub const EMBEDDING_FILE: &str = "embedding.json";
/// The domain embedding (mean |conv output| per filter).
pub const DOMAIN_FILE: &str = "domain.json";
/// The paper's domain baseline (mean pooled features).
pub const DOMAIN_FEATURES_FILE: &str = "domain-features.json";
/// Scalars of the result ([`ResultRecord`]).
pub const RESULT_FILE: &str = "result.json";

/// Why embedding a task into the store failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The embedding pipeline.
    #[error(transparent)]
    Fisher(#[from] FisherError),
    /// The task's dataset.
    #[error(transparent)]
    Data(#[from] task2vec_data::DataError),
    /// Reading or writing an embedding file.
    #[error(transparent)]
    Embedding(#[from] task2vec_embedding::Error),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PutError<RunError>> for RunError {
    fn from(e: PutError<RunError>) -> Self {
        match e {
            PutError::Fill(e) => e,
            PutError::Store(e) => RunError::Store(e),
        }
    }
}

/// The scalars saved next to a result's embeddings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// The task's id.
    pub id: String,
    /// Held-out error of a linear probe on the probe's features.
    pub probe_error: f64,
    /// sha256 over the task's image list, labels ignored: equal for tasks that share images.
    pub images_sha256: String,
    /// Every image's label, in the task's image order.
    pub labels: Vec<usize>,
    /// Images embedded.
    pub samples: usize,
    /// Classes of the task.
    pub classes: usize,
    /// Wall time of the computation (not part of the key; informative).
    pub seconds: f64,
    /// Peak resident memory of the process that computed it, in bytes (Linux; informative,
    /// like `seconds`: it depends on the run, e.g. `--cache-budget`, not on the result).
    #[serde(default)]
    pub peak_rss_bytes: Option<u64>,
}

/// A task's complete result.
#[derive(Debug, Clone)]
pub struct TaskResult {
    /// The task embedding.
    pub embedding: Embedding,
    /// The domain embedding (labels ignored).
    pub domain: Embedding,
    /// The mean pooled features (the paper's domain baseline).
    pub domain_features: Embedding,
    /// The scalars.
    pub record: ResultRecord,
}

impl TaskResult {
    /// Writes the result's files into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), RunError> {
        self.embedding.save(dir.join(EMBEDDING_FILE))?;
        self.domain.save(dir.join(DOMAIN_FILE))?;
        self.domain_features.save(dir.join(DOMAIN_FEATURES_FILE))?;
        let path = dir.join(RESULT_FILE);
        let text = serde_json::to_string_pretty(&self.record).expect("JSON serialises");
        task2vec_common::write_file_atomic(&path, text.as_bytes())
            .map_err(|e| RunError::Store(e.into()))
    }

    /// Reads a stored result.
    pub fn load(entry: &Entry) -> Result<TaskResult, RunError> {
        let path = entry.file(RESULT_FILE);
        let bytes = std::fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
        let record = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            message: format!("not a result record: {e}"),
        })?;
        Ok(TaskResult {
            embedding: Embedding::load(entry.file(EMBEDDING_FILE))?,
            domain: Embedding::load(entry.file(DOMAIN_FILE))?,
            domain_features: Embedding::load(entry.file(DOMAIN_FEATURES_FILE))?,
            record,
        })
    }
}

/// Reads only the task embedding of a stored result (what distance matrices need).
pub fn load_embedding(entry: &Entry) -> Result<Embedding, RunError> {
    Ok(Embedding::load(entry.file(EMBEDDING_FILE))?)
}

/// Embeds tasks with one probe and one set of options, and names their results.
pub struct Runner {
    probe: Probe,
    options: EmbedOptions,
    /// The resolved options, as every embedding records them (part of every key).
    hyperparameters: BTreeMap<String, Value>,
    device: Device,
    /// Memory for split-point activations before they spill to disk (never part of a key:
    /// results do not depend on it).
    cache_budget: u64,
}

/// A task's images as the pipeline uses them and their activations at the split point: made
/// once, used by the task embedding, the domain embeddings and the linear probe (and by
/// callers that embed more from the same cache, such as E0's twins).
pub struct Prepared<'a> {
    /// The pipeline the cache was made with.
    pub pipeline: Task2Vec<'a>,
    /// The images actually embedded (after the options' `max_samples`).
    pub data: Dataset,
    /// Their activations and pooled features.
    pub cache: ActivationCache,
    /// Seconds spent preparing.
    pub seconds: f64,
}

impl Runner {
    /// A runner for `probe` with `options`, resolved against it now (a bad option fails here,
    /// before any task).
    pub fn new(probe: Probe, options: EmbedOptions, device: Device) -> Result<Runner, RunError> {
        let hyperparameters = options.resolve(&probe)?.hyperparameters()?;
        Ok(Runner {
            probe,
            options,
            hyperparameters,
            device,
            cache_budget: DEFAULT_CACHE_BUDGET,
        })
    }

    /// Keeps at most `bytes` of each task's split-point activations in memory
    /// ([`Task2Vec::with_cache_budget`]).
    pub fn with_cache_budget(mut self, bytes: u64) -> Self {
        self.cache_budget = bytes;
        self
    }

    /// The probe.
    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// The options as given.
    pub fn options(&self) -> &EmbedOptions {
        &self.options
    }

    /// The resolved options.
    pub fn hyperparameters(&self) -> &BTreeMap<String, Value> {
        &self.hyperparameters
    }

    /// The device every embedding runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// What a task's result is requested as, before its data is read: the task's definition,
    /// the probe (name and weights), the resolved options and the software. Its failures are
    /// recorded under this key (a task whose dataset cannot be read has no content hash).
    pub fn request_key(&self, task: &Task) -> Key {
        Key::new(json!({
            "kind": "task2vec-task-request",
            "software": SOFTWARE,
            "task": task,
            "probe": {"name": self.probe.name(), "weights_sha256": self.probe.weights_sha256()},
            "options": self.hyperparameters,
        }))
    }

    /// The key of the result of embedding `dataset` as task `id`: the task's id, the dataset's
    /// content ([`Dataset::content_sha256`]: every image's bytes and label), the probe's name
    /// and weights, the resolved options and the software version. Anything else that changes
    /// a result changes one of these.
    pub fn result_key(&self, id: &str, dataset: &Dataset) -> Result<Key, RunError> {
        let fingerprint = dataset.fingerprint();
        Ok(Key::new(json!({
            "kind": "task2vec-task-result",
            "software": SOFTWARE,
            "task": {"id": id},
            "dataset": {
                "content_sha256": dataset.content_sha256()?,
                "files_sha256": fingerprint.sha256,
                "samples": fingerprint.n_samples,
                "classes": fingerprint.n_classes,
            },
            "probe": {"name": self.probe.name(), "weights_sha256": self.probe.weights_sha256()},
            "options": self.hyperparameters,
        })))
    }

    /// Selects the task's images and forwards them to the split point, once.
    pub fn prepare(
        &self,
        dataset: &Dataset,
        progress: &dyn Progress,
    ) -> Result<Prepared<'_>, RunError> {
        let started = Instant::now();
        let pipeline = Task2Vec::new(&self.probe, self.options.clone(), &self.device)?
            .with_cache_budget(self.cache_budget);
        let data = pipeline.select(dataset)?;
        let cache = pipeline.cache(&data, progress)?;
        Ok(Prepared {
            pipeline,
            data,
            cache,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// The task embedding, both domain embeddings and the linear probe's held-out error of
    /// task `id`, from its prepared activations.
    pub fn compute(
        &self,
        id: &str,
        dataset: &Dataset,
        prepared: &Prepared<'_>,
        progress: &dyn Progress,
    ) -> Result<TaskResult, RunError> {
        let started = Instant::now();
        let Prepared {
            pipeline,
            data,
            cache,
            ..
        } = prepared;
        let (mut embedding, _report) = pipeline.embed_from_cache(data, cache, progress)?;
        embedding.meta_mut().task = Some(id.to_string());
        let mut domain = pipeline.embed_domain_from_cache(
            data,
            cache,
            DomainBaseline::ConvActivations,
            &Silent,
        )?;
        domain.meta_mut().task = Some(format!("{id} (domain)"));
        let mut domain_features = pipeline.embed_domain_from_cache(
            data,
            cache,
            DomainBaseline::PooledFeatures,
            &Silent,
        )?;
        domain_features.meta_mut().task = Some(format!("{id} (mean features)"));
        let probe_error = held_out_error_from_cache(pipeline, data, cache, HELD_OUT, &Silent)?;
        Ok(TaskResult {
            embedding,
            domain,
            domain_features,
            record: ResultRecord {
                id: id.to_string(),
                probe_error,
                images_sha256: images_sha256(dataset),
                labels: dataset.labels(),
                samples: dataset.len(),
                classes: dataset.classes().len(),
                seconds: prepared.seconds + started.elapsed().as_secs_f64(),
                peak_rss_bytes: task2vec_common::peak_rss_bytes(),
            },
        })
    }

    /// The stored result of `key` if there is one, else computes it from `dataset` and stores
    /// it. Returns the entry and whether it was computed now.
    pub fn ensure(
        &self,
        store: &Store,
        key: &Key,
        id: &str,
        dataset: &Dataset,
        progress: &dyn Progress,
    ) -> Result<(Entry, bool), RunError> {
        if let Some(entry) = store.get(key)? {
            return Ok((entry, false));
        }
        let prepared = self.prepare(dataset, progress)?;
        let result = self.compute(id, dataset, &prepared, progress)?;
        let entry = store.put(key, |dir| result.save(dir))?;
        Ok((entry, true))
    }
}

/// sha256 over the task's image list, labels ignored.
pub fn images_sha256(dataset: &Dataset) -> String {
    let mut text = String::new();
    for s in dataset.samples() {
        text.push_str(&s.source.to_string());
        text.push('\n');
    }
    task2vec_common::sha256_bytes(text.as_bytes())
}
