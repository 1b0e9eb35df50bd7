//! Embedding one task of a suite: the task embedding, the domain embedding and the held-out
//! error of a linear probe (E3's difficulty), saved so that an interrupted run resumes.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::Device;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use task2vec_data::{Dataset, Task};
use task2vec_embedding::Embedding;
use task2vec_fisher::linear_probe::held_out_error;
use task2vec_fisher::pipeline::Task2Vec;
use task2vec_fisher::{DomainBaseline, EmbedOptions, Silent};
use task2vec_probe::Probe;

use super::analysis::TaskResult;

/// Share of each task's images held out to measure the linear probe's error.
const HELD_OUT: f64 = 0.2;

pub struct Embedder {
    probe: Probe,
    options: EmbedOptions,
    /// What every embedding made with these settings records as its hyperparameters.
    hyperparameters: BTreeMap<String, serde_json::Value>,
    device: Device,
}

impl Embedder {
    /// Loads `probe` with the weights `cargo xtask fetch-probe` installed (tiny-resnet's are
    /// compiled in) and resolves the options against it, so a bad option fails before any task.
    pub fn new(probe: &str, options: EmbedOptions) -> Result<Self> {
        let device = Device::flex();
        let probe = Probe::load_named(probe, None, &device).with_context(|| {
            format!(
                "loading probe `{probe}` (fetch its weights with `cargo xtask fetch-probe {probe}`)"
            )
        })?;
        let hyperparameters = options.resolve(&probe)?.hyperparameters()?;
        Ok(Self {
            probe,
            options,
            hyperparameters,
            device,
        })
    }

    /// Whether `done` was made by this probe (same weights) with these exact options, so that
    /// resuming never reuses a result computed with other settings.
    pub fn made(&self, done: &TaskResult) -> bool {
        let meta = done.embedding.meta();
        meta.probe
            .as_ref()
            .is_some_and(|p| p.weights_sha256 == self.probe.weights_sha256())
            && meta
                .estimator
                .as_ref()
                .is_some_and(|e| e.hyperparameters == self.hyperparameters)
    }

    pub fn probe_sha256(&self) -> &str {
        self.probe.weights_sha256()
    }

    pub fn run(&self, task: &Task, dataset: &Dataset, bar: &ProgressBar) -> Result<TaskResult> {
        let started = Instant::now();
        let pipeline = Task2Vec::new(&self.probe, self.options.clone(), &self.device)?;
        bar.set_message(format!("{} (fisher)", task.id));
        let (mut embedding, _report) = pipeline.embed(dataset, &Silent)?;
        embedding.meta_mut().task = Some(task.id.clone());
        bar.set_message(format!("{} (domain)", task.id));
        let mut domain =
            pipeline.embed_domain(dataset, DomainBaseline::ConvActivations, &Silent)?;
        domain.meta_mut().task = Some(format!("{} (domain)", task.id));
        let mut domain_features =
            pipeline.embed_domain(dataset, DomainBaseline::PooledFeatures, &Silent)?;
        domain_features.meta_mut().task = Some(format!("{} (mean features)", task.id));
        bar.set_message(format!("{} (probe error)", task.id));
        let probe_error = held_out_error(&pipeline, dataset, HELD_OUT, &Silent)?;
        Ok(TaskResult {
            id: task.id.clone(),
            taxonomy: task.taxonomy.clone(),
            embedding,
            domain,
            domain_features,
            probe_error,
            images_sha256: images_sha256(dataset),
            samples: dataset.len(),
            classes: dataset.classes().len(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// sha256 over the task's image list, labels ignored.
fn images_sha256(dataset: &Dataset) -> String {
    let mut h = Sha256::new();
    for s in dataset.samples() {
        h.update(s.source.to_string().as_bytes());
        h.update(b"\n");
    }
    task2vec_common::hex(&h.finalize())
}

/// What is saved next to the two embeddings of a finished task.
#[derive(Serialize, Deserialize)]
struct Finished {
    id: String,
    taxonomy: Vec<String>,
    probe_error: f64,
    images_sha256: String,
    samples: usize,
    classes: usize,
    seconds: f64,
}

pub fn save_finished(dir: &Path, r: &TaskResult) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    r.embedding.save(dir.join("embedding.json"))?;
    r.domain.save(dir.join("domain.json"))?;
    r.domain_features.save(dir.join("domain-features.json"))?;
    let finished = Finished {
        id: r.id.clone(),
        taxonomy: r.taxonomy.clone(),
        probe_error: r.probe_error,
        images_sha256: r.images_sha256.clone(),
        samples: r.samples,
        classes: r.classes,
        seconds: r.seconds,
    };
    // Written last: its presence marks the task as finished.
    super::report::write_atomic(
        &dir.join("result.json"),
        &serde_json::to_string_pretty(&finished)?,
    )
}

/// A task finished by an earlier run, if its files are all there and still describe `task`.
pub fn load_finished(dir: &Path, task: &Task) -> Option<TaskResult> {
    let finished: Finished =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).ok()?).ok()?;
    if finished.id != task.id || finished.taxonomy != task.taxonomy {
        return None;
    }
    Some(TaskResult {
        embedding: Embedding::load(dir.join("embedding.json")).ok()?,
        domain: Embedding::load(dir.join("domain.json")).ok()?,
        domain_features: Embedding::load(dir.join("domain-features.json")).ok()?,
        id: finished.id,
        taxonomy: finished.taxonomy,
        probe_error: finished.probe_error,
        images_sha256: finished.images_sha256,
        samples: finished.samples,
        classes: finished.classes,
        seconds: finished.seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use task2vec_fisher::{BatchNormMode, FisherMethod};

    /// The reproduction's options for `method`, `size`² and `seed`, as `reproduce` builds them.
    fn embedder(method: &str, size: usize, seed: u64) -> Embedder {
        let options = EmbedOptions {
            method: method.parse::<FisherMethod>().unwrap(),
            seed,
            input_size: Some(size),
            ..EmbedOptions::default()
        };
        Embedder::new("tiny-resnet", options).unwrap()
    }

    /// An ImageFolder of two classes of stripes, 16×16.
    fn folder(root: &Path) -> Dataset {
        for (c, name) in ["rows", "columns"].iter().enumerate() {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..6u32 {
                image::RgbImage::from_fn(16, 16, |x, y| {
                    let t = if c == 0 { y } else { x } + i;
                    image::Rgb([if t % 4 < 2 { 220 } else { 20 }, 90, (i * 30) as u8])
                })
                .save(dir.join(format!("{i}.png")))
                .unwrap();
            }
        }
        Dataset::open(root).unwrap()
    }

    #[test]
    fn reproduce_resolves_options_like_every_other_entry_point() {
        let e = embedder("montecarlo-batch", 32, 0);
        let resolved = e.options.resolve(&e.probe).unwrap();
        let library = EmbedOptions {
            method: FisherMethod::MontecarloBatch,
            input_size: Some(32),
            ..EmbedOptions::default()
        }
        .resolve(&e.probe)
        .unwrap();
        assert_eq!(resolved, library);
        assert_eq!(resolved.batch_norm(), BatchNormMode::Train);
    }

    #[test]
    fn a_finished_task_is_reused_only_with_the_same_settings() {
        let dir = tempfile::tempdir().unwrap();
        let dataset = folder(&dir.path().join("data"));
        let task: Task = serde_json::from_value(serde_json::json!({
            "id": "stripes", "source": "test", "taxonomy": ["a", "b"], "max_samples": 12
        }))
        .unwrap();
        let exact = embedder("exact", 32, 0);
        let done = exact.run(&task, &dataset, &ProgressBar::hidden()).unwrap();
        save_finished(&dir.path().join("done"), &done).unwrap();
        let loaded = load_finished(&dir.path().join("done"), &task).unwrap();
        assert!(exact.made(&loaded));
        for (method, size, seed) in [("exact", 32, 1), ("exact", 40, 0), ("montecarlo", 32, 0)] {
            let other = embedder(method, size, seed);
            assert!(
                !other.made(&loaded),
                "{method} {size}² seed {seed} reused a result made with other settings"
            );
        }
    }
}
