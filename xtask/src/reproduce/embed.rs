//! Embedding one task of a suite: the task embedding, the domain embeddings and the held-out
//! error of a linear probe (E3's difficulty) from one activation cache, then E0's two twins
//! (the task embedded again from each half of its images), each saved so that an interrupted
//! run resumes.
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
use task2vec_fisher::linear_probe::held_out_error_from_cache;
use task2vec_fisher::pipeline::{ActivationCache, Task2Vec};
use task2vec_fisher::{DomainBaseline, EmbedOptions, Silent};
use task2vec_probe::Probe;

use super::analysis::{Retest, TaskResult};

/// Share of each task's images held out to measure the linear probe's error.
const HELD_OUT: f64 = 0.2;

/// Appends `path = value` for every leaf of `value` that differs from `default`.
fn differences(
    path: &str,
    value: &serde_json::Value,
    default: Option<&serde_json::Value>,
    out: &mut Vec<String>,
) {
    match (value, default) {
        (serde_json::Value::Object(map), Some(serde_json::Value::Object(base))) => {
            for (key, v) in map {
                differences(&format!("{path}.{key}"), v, base.get(key), out);
            }
        }
        _ if default == Some(value) => {}
        _ => out.push(format!("{path} = {value}")),
    }
}

pub struct Embedder {
    probe: Probe,
    options: EmbedOptions,
    /// What every embedding made with these settings records as its hyperparameters.
    hyperparameters: BTreeMap<String, serde_json::Value>,
    /// The same for E0's two twins (their own seeds, [`retest_seeds`]).
    twin_hyperparameters: [BTreeMap<String, serde_json::Value>; 2],
    device: Device,
}

/// E0's seeds, derived from the run seed: the split into halves, and each twin's embedding
/// seed (never the run seed itself, so a twin is not a copy of the task's own random draws).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetestSeeds {
    pub split: u64,
    pub twins: [u64; 2],
}

/// SplitMix64's output function: a well-mixed u64 from a u64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// [`RetestSeeds`] of a run with seed `seed`: `mix(seed ^ k)` for k = 1 (split), 2, 3 (twins).
pub fn retest_seeds(seed: u64) -> RetestSeeds {
    RetestSeeds {
        split: mix(seed ^ 1),
        twins: [mix(seed ^ 2), mix(seed ^ 3)],
    }
}

/// A task's images as the pipeline uses them and their activations at the split point: made
/// once, used by the task embedding, the domain embeddings, the linear probe and the twins.
pub struct Prepared<'a> {
    pipeline: Task2Vec<'a>,
    data: Dataset,
    cache: ActivationCache,
    seconds: f64,
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
        let seeds = retest_seeds(options.seed);
        let twin = |seed: u64| {
            EmbedOptions {
                seed,
                ..options.clone()
            }
            .resolve(&probe)?
            .hyperparameters()
        };
        let twin_hyperparameters = [twin(seeds.twins[0])?, twin(seeds.twins[1])?];
        Ok(Self {
            probe,
            options,
            hyperparameters,
            twin_hyperparameters,
            device,
        })
    }

    /// Whether `done` was made by this probe (same weights) with these exact options, so that
    /// resuming never reuses a result computed with other settings.
    pub fn made(&self, done: &TaskResult) -> bool {
        self.made_embedding(&done.embedding, &self.hyperparameters)
    }

    /// Whether `retest` was made by this probe with these options, split and twin seeds.
    pub fn made_retest(&self, retest: &Retest) -> bool {
        let seeds = retest_seeds(self.options.seed);
        retest.split_seed == seeds.split
            && retest.seeds == seeds.twins
            && retest
                .twins
                .iter()
                .zip(&self.twin_hyperparameters)
                .all(|(e, h)| self.made_embedding(e, h))
    }

    /// Whether `embedding` records this probe's weights and exactly `hyperparameters`.
    fn made_embedding(
        &self,
        embedding: &Embedding,
        hyperparameters: &BTreeMap<String, serde_json::Value>,
    ) -> bool {
        let meta = embedding.meta();
        meta.probe
            .as_ref()
            .is_some_and(|p| p.weights_sha256 == self.probe.weights_sha256())
            && meta
                .estimator
                .as_ref()
                .is_some_and(|e| &e.hyperparameters == hyperparameters)
    }

    /// The resolved options every task embedding records.
    pub fn hyperparameters(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.hyperparameters
    }

    /// `name = value` for every resolved option that differs from what `task2vec embed` uses
    /// with no flag on this probe (the library's defaults).
    pub fn non_default_options(&self) -> Result<Vec<String>> {
        let defaults = EmbedOptions::default()
            .resolve(&self.probe)?
            .hyperparameters()?;
        let mut out = Vec::new();
        for (name, value) in &self.hyperparameters {
            differences(name, value, defaults.get(name), &mut out);
        }
        Ok(out)
    }

    /// The loaded probe.
    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// The device every embedding runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The resolved input size.
    pub fn input_size(&self) -> Result<usize> {
        Ok(self.options.resolve(&self.probe)?.input_size())
    }

    pub fn probe_sha256(&self) -> &str {
        self.probe.weights_sha256()
    }

    /// Selects the task's images and forwards them to the split point, once for everything
    /// [`Self::run`] and [`Self::retest`] compute.
    pub fn prepare(
        &self,
        task: &Task,
        dataset: &Dataset,
        bar: &ProgressBar,
    ) -> Result<Prepared<'_>> {
        let started = Instant::now();
        let pipeline = Task2Vec::new(&self.probe, self.options.clone(), &self.device)?;
        bar.set_message(format!("{} (activations)", task.id));
        let data = pipeline.select(dataset)?;
        let cache = pipeline.cache(&data, &Silent)?;
        Ok(Prepared {
            pipeline,
            data,
            cache,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// The task embedding, both domain embeddings and the linear probe's held-out error.
    pub fn run(
        &self,
        task: &Task,
        dataset: &Dataset,
        prepared: &Prepared<'_>,
        bar: &ProgressBar,
    ) -> Result<TaskResult> {
        let started = Instant::now();
        let Prepared {
            pipeline,
            data,
            cache,
            ..
        } = prepared;
        bar.set_message(format!("{} (fisher)", task.id));
        let (mut embedding, _report) = pipeline.embed_from_cache(data, cache, &Silent)?;
        embedding.meta_mut().task = Some(task.id.clone());
        bar.set_message(format!("{} (domain)", task.id));
        let mut domain = pipeline.embed_domain_from_cache(
            data,
            cache,
            DomainBaseline::ConvActivations,
            &Silent,
        )?;
        domain.meta_mut().task = Some(format!("{} (domain)", task.id));
        let mut domain_features = pipeline.embed_domain_from_cache(
            data,
            cache,
            DomainBaseline::PooledFeatures,
            &Silent,
        )?;
        domain_features.meta_mut().task = Some(format!("{} (mean features)", task.id));
        bar.set_message(format!("{} (probe error)", task.id));
        let probe_error = held_out_error_from_cache(pipeline, data, cache, HELD_OUT, &Silent)?;
        Ok(TaskResult {
            id: task.id.clone(),
            taxonomy: task.taxonomy.clone(),
            embedding,
            domain,
            domain_features,
            probe_error,
            images_sha256: images_sha256(dataset),
            labels: dataset.labels(),
            samples: dataset.len(),
            classes: dataset.classes().len(),
            seconds: prepared.seconds + started.elapsed().as_secs_f64(),
            retest: None,
        })
    }

    /// E0's twins: the task embedding alone, once from each half of the task's images
    /// ([`Dataset::halves`] with the split seed), each with its own seed ([`retest_seeds`]),
    /// from the activations already cached.
    pub fn retest(
        &self,
        task: &Task,
        prepared: &Prepared<'_>,
        bar: &ProgressBar,
    ) -> Result<Retest> {
        let started = Instant::now();
        let seeds = retest_seeds(self.options.seed);
        let (a, b) = prepared.data.halves(seeds.split);
        let position: std::collections::HashMap<String, usize> = prepared
            .data
            .samples()
            .iter()
            .enumerate()
            .map(|(i, s)| (s.source.to_string(), i))
            .collect();
        let mut twins = Vec::with_capacity(2);
        for (k, (half, seed)) in [(a, seeds.twins[0]), (b, seeds.twins[1])]
            .into_iter()
            .enumerate()
        {
            let name = ["A", "B"][k];
            bar.set_message(format!("{} (retest {name})", task.id));
            half.validate()
                .with_context(|| format!("half {name} of the task's images"))?;
            let rows: Vec<usize> = half
                .samples()
                .iter()
                .map(|s| position[&s.source.to_string()])
                .collect();
            let (activations, labels) = prepared.cache.gather_activations(&rows);
            let cache = ActivationCache {
                activations,
                features: prepared.cache.gather_features(&rows).0,
                labels,
            };
            let options = EmbedOptions {
                seed,
                ..self.options.clone()
            };
            let pipeline = Task2Vec::new(&self.probe, options, &self.device)?;
            let (mut e, _) = pipeline.embed_from_cache(&half, &cache, &Silent)?;
            e.meta_mut().task = Some(format!("{} (retest {name})", task.id));
            twins.push((e, half.len()));
        }
        let [(a, na), (b, nb)]: [(Embedding, usize); 2] =
            twins.try_into().map_err(|_| anyhow::anyhow!("two twins"))?;
        Ok(Retest {
            twins: [a, b],
            split_seed: seeds.split,
            seeds: seeds.twins,
            samples: [na, nb],
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
    /// Absent in results saved before E5 existed; then the task is materialised again.
    #[serde(default)]
    labels: Vec<usize>,
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
        labels: r.labels.clone(),
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
        labels: finished.labels,
        samples: finished.samples,
        classes: finished.classes,
        seconds: finished.seconds,
        retest: None,
    })
}

/// What is saved next to the two twin embeddings of a task.
#[derive(Serialize, Deserialize)]
struct RetestRecord {
    id: String,
    split_seed: u64,
    seeds: [u64; 2],
    samples: [usize; 2],
    seconds: f64,
}

/// Saves E0's twins of a task under `dir/retest/` (the record last: it marks them finished).
pub fn save_retest(dir: &Path, id: &str, r: &Retest) -> Result<()> {
    let dir = dir.join("retest");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    r.twins[0].save(dir.join("a.json"))?;
    r.twins[1].save(dir.join("b.json"))?;
    let record = RetestRecord {
        id: id.to_string(),
        split_seed: r.split_seed,
        seeds: r.seeds,
        samples: r.samples,
        seconds: r.seconds,
    };
    super::report::write_atomic(
        &dir.join("retest.json"),
        &serde_json::to_string_pretty(&record)?,
    )
}

/// Twins saved by an earlier run for `task`, if all their files are there.
pub fn load_retest(dir: &Path, task: &Task) -> Option<Retest> {
    let dir = dir.join("retest");
    let record: RetestRecord =
        serde_json::from_str(&std::fs::read_to_string(dir.join("retest.json")).ok()?).ok()?;
    if record.id != task.id {
        return None;
    }
    Some(Retest {
        twins: [
            Embedding::load(dir.join("a.json")).ok()?,
            Embedding::load(dir.join("b.json")).ok()?,
        ],
        split_seed: record.split_seed,
        seeds: record.seeds,
        samples: record.samples,
        seconds: record.seconds,
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
        let bar = ProgressBar::hidden();
        let prepared = exact.prepare(&task, &dataset, &bar).unwrap();
        let done = exact.run(&task, &dataset, &prepared, &bar).unwrap();
        assert_eq!(done.labels, dataset.labels());
        save_finished(&dir.path().join("done"), &done).unwrap();
        let loaded = load_finished(&dir.path().join("done"), &task).unwrap();
        assert!(exact.made(&loaded));
        assert_eq!(loaded.labels, done.labels);
        let retest = exact.retest(&task, &prepared, &bar).unwrap();
        save_retest(&dir.path().join("done"), &task.id, &retest).unwrap();
        let twins = load_retest(&dir.path().join("done"), &task).unwrap();
        assert!(exact.made_retest(&twins));
        for (method, size, seed) in [("exact", 32, 1), ("exact", 40, 0), ("montecarlo", 32, 0)] {
            let other = embedder(method, size, seed);
            assert!(
                !other.made(&loaded),
                "{method} {size}² seed {seed} reused a result made with other settings"
            );
            assert!(
                !other.made_retest(&twins),
                "{method} {size}² seed {seed} reused twins made with other settings"
            );
        }
    }

    #[test]
    fn twins_embed_disjoint_halves_with_their_own_seeds() {
        let dir = tempfile::tempdir().unwrap();
        let dataset = folder(&dir.path().join("data"));
        let task: Task = serde_json::from_value(serde_json::json!({
            "id": "stripes", "source": "test", "taxonomy": ["a"], "max_samples": 12
        }))
        .unwrap();
        let e = embedder("exact", 32, 7);
        let bar = ProgressBar::hidden();
        let prepared = e.prepare(&task, &dataset, &bar).unwrap();
        let r = e.retest(&task, &prepared, &bar).unwrap();
        let seeds = retest_seeds(7);
        assert_eq!((r.split_seed, r.seeds), (seeds.split, seeds.twins));
        assert_ne!(seeds.twins[0], seeds.twins[1]);
        assert!(!seeds.twins.contains(&7));
        assert_eq!(r.samples, [6, 6]);
        let (a, b) = dataset.halves(seeds.split);
        for (twin, half, seed) in [
            (&r.twins[0], &a, seeds.twins[0]),
            (&r.twins[1], &b, seeds.twins[1]),
        ] {
            let meta = twin.meta();
            assert_eq!(meta.seed, Some(seed));
            // The twin was embedded on exactly its half (provenance fingerprints the files).
            assert_eq!(
                meta.dataset.as_ref().unwrap().files_sha256,
                half.fingerprint().sha256
            );
        }
        // Same seeds, same twins (the retest is reproducible).
        let again = e.retest(&task, &prepared, &bar).unwrap();
        assert_eq!(again.twins[0].hessian(), r.twins[0].hessian());
    }
}
