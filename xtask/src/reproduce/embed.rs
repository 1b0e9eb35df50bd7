//! Embedding one task of a suite: the task embedding, the domain embedding and the held-out
//! error of a linear probe (E3's difficulty), saved so that an interrupted run resumes.
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::Device;
use indicatif::ProgressBar;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use task2vec_data::{Dataset, Task};
use task2vec_embedding::Embedding;
use task2vec_fisher::head::fit_head;
use task2vec_fisher::pipeline::Task2Vec;
use task2vec_fisher::{EmbedOptions, FisherMethod, Silent};
use task2vec_probe::Probe;

use super::analysis::TaskResult;

/// Share of each task's images held out to measure the linear probe's error.
const HELD_OUT: f64 = 0.2;
/// Mixed into the user seed for the held-out split, so it is independent of the estimator's
/// streams while still determined by the one seed.
const SPLIT_STREAM: u64 = 0x5eed_00e3;

pub struct Embedder {
    probe: Probe,
    options: EmbedOptions,
    image_size: usize,
    device: Device,
}

impl Embedder {
    /// Loads `probe` with the weights `cargo xtask fetch-probe` installed (tiny-resnet's are
    /// compiled in).
    pub fn new(probe: &str, method: &str, image_size: usize, seed: u64) -> Result<Self> {
        let device = Device::flex();
        let probe = Probe::load_named(probe, None, &device.clone().autodiff())
            .with_context(|| format!("loading probe `{probe}` (fetch its weights with `cargo xtask fetch-probe {probe}`)"))?;
        let options = EmbedOptions {
            method: method.parse::<FisherMethod>()?,
            seed,
            ..EmbedOptions::default()
        };
        options.validate()?;
        Ok(Self {
            probe,
            options,
            image_size,
            device,
        })
    }

    pub fn probe_sha256(&self) -> &str {
        self.probe.weights_sha256()
    }

    pub fn run(&self, task: &Task, dataset: &Dataset, bar: &ProgressBar) -> Result<TaskResult> {
        let started = Instant::now();
        let pipeline = Task2Vec::new(&self.probe, self.options.clone(), &self.device)?
            .with_input_size(self.image_size);
        bar.set_message(format!("{} (fisher)", task.id));
        let (mut embedding, _report) = pipeline.embed(dataset, &Silent)?;
        embedding.meta_mut().task = Some(task.id.clone());
        bar.set_message(format!("{} (domain)", task.id));
        let mut domain = pipeline.embed_domain(dataset, &Silent)?;
        domain.meta_mut().task = Some(format!("{} (domain)", task.id));
        bar.set_message(format!("{} (probe error)", task.id));
        let probe_error = self.linear_probe_error(&pipeline, dataset)?;
        Ok(TaskResult {
            id: task.id.clone(),
            taxonomy: task.taxonomy.clone(),
            embedding,
            domain,
            probe_error,
            images_sha256: images_sha256(dataset),
            samples: dataset.len(),
            classes: dataset.classes().len(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Error of the task head (fitted exactly as for the embedding) on a held-out, stratified
    /// 20% of the task's images.
    fn linear_probe_error(&self, pipeline: &Task2Vec<'_>, dataset: &Dataset) -> Result<f64> {
        let cache = pipeline.cache(dataset, &Silent)?;
        let n = cache.labels.len();
        let dim = cache.features.len() / n.max(1);
        let mut rng = ChaCha8Rng::seed_from_u64(self.options.seed ^ SPLIT_STREAM);
        let classes = dataset.classes().len();
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for class in 0..classes {
            let mut members: Vec<usize> = (0..n).filter(|&i| cache.labels[i] == class).collect();
            members.shuffle(&mut rng);
            let held = ((members.len() as f64 * HELD_OUT).round() as usize)
                .clamp(1, members.len().saturating_sub(1).max(1));
            test.extend_from_slice(&members[..held]);
            train.extend_from_slice(&members[held..]);
        }
        let gather = |idx: &[usize]| -> (Vec<f32>, Vec<usize>) {
            let mut f = Vec::with_capacity(idx.len() * dim);
            for &i in idx {
                f.extend_from_slice(&cache.features[i * dim..(i + 1) * dim]);
            }
            (f, idx.iter().map(|&i| cache.labels[i]).collect())
        };
        let (train_f, train_y) = gather(&train);
        let (test_f, test_y) = gather(&test);
        let fit = fit_head(
            &train_f,
            &train_y,
            classes,
            &self.options.head,
            self.options.seed,
            &Silent,
        )?;
        Ok(fit.head.evaluate(&test_f, &test_y).1)
    }
}

/// sha256 over the task's image list, labels ignored.
fn images_sha256(dataset: &Dataset) -> String {
    let mut h = Sha256::new();
    for s in dataset.samples() {
        h.update(s.source.to_string().as_bytes());
        h.update(b"\n");
    }
    format!("{:x}", h.finalize())
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
        id: finished.id,
        taxonomy: finished.taxonomy,
        probe_error: finished.probe_error,
        images_sha256: finished.images_sha256,
        samples: finished.samples,
        classes: finished.classes,
        seconds: finished.seconds,
    })
}
