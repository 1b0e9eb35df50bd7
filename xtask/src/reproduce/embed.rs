//! Embedding one task of a suite through the result store (`task2vec_store`, the library's
//! suite runner): the task embedding, the domain embeddings and the held-out error of a linear
//! probe (E3's difficulty) from one activation cache, then E0's two twins (the task embedded
//! again from each half of its images). Each is stored under a key of everything that
//! determines it, so an interrupted run resumes and a run with other settings or other data
//! never reuses a result.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::Device;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use task2vec_data::{Dataset, Task};
use task2vec_embedding::Embedding;
use task2vec_fisher::pipeline::Task2Vec;
use task2vec_fisher::{EmbedOptions, Silent};
use task2vec_probe::Probe;
use task2vec_store::runner::{Prepared, Runner, TaskResult as StoredResult};
use task2vec_store::{Entry, Key, PutError, Store};

use super::analysis::{Retest, TaskResult};

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
    /// Embeds a task and names its result (the library's suite runner).
    runner: Runner,
    /// Where every result lives, keyed by everything that determines it: a run with other
    /// settings or other data can never pick up a stale result.
    store: Store,
    /// The same for E0's two twins (their own seeds, [`retest_seeds`]).
    twin_hyperparameters: [BTreeMap<String, serde_json::Value>; 2],
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

/// Files of a stored E0 retest.
const TWIN_FILES: [&str; 2] = ["twin-a.json", "twin-b.json"];
const RETEST_FILE: &str = "retest.json";

impl Embedder {
    /// Loads `probe` with the weights `cargo xtask fetch-probe` installed (tiny-resnet's are
    /// compiled in), resolves the options against it (a bad option fails before any task) and
    /// opens the result store at `store`.
    pub fn new(probe: &str, options: EmbedOptions, store: &Path) -> Result<Self> {
        let device = Device::flex();
        let probe = Probe::load_named(probe, None, &device).with_context(|| {
            format!(
                "loading probe `{probe}` (fetch its weights with `cargo xtask fetch-probe {probe}`)"
            )
        })?;
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
            runner: Runner::new(probe, options, device)?,
            store: Store::open(store)?,
            twin_hyperparameters,
        })
    }

    /// The resolved options every task embedding records.
    pub fn hyperparameters(&self) -> &BTreeMap<String, serde_json::Value> {
        self.runner.hyperparameters()
    }

    /// `name = value` for every resolved option that differs from what `task2vec embed` uses
    /// with no flag on this probe (the library's defaults).
    pub fn non_default_options(&self) -> Result<Vec<String>> {
        let defaults = EmbedOptions::default()
            .resolve(self.probe())?
            .hyperparameters()?;
        let mut out = Vec::new();
        for (name, value) in self.hyperparameters() {
            differences(name, value, defaults.get(name), &mut out);
        }
        Ok(out)
    }

    /// The loaded probe.
    pub fn probe(&self) -> &Probe {
        self.runner.probe()
    }

    /// The device every embedding runs on.
    pub fn device(&self) -> &Device {
        self.runner.device()
    }

    /// The resolved input size.
    pub fn input_size(&self) -> Result<usize> {
        Ok(self.runner.options().resolve(self.probe())?.input_size())
    }

    pub fn probe_sha256(&self) -> &str {
        self.probe().weights_sha256()
    }

    /// The result store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Task `task`'s result on `dataset` (the task embedding, both domain embeddings, the
    /// linear probe's held-out error): from the store, else embedded and stored.
    pub fn result(&self, task: &Task, dataset: &Dataset, bar: &ProgressBar) -> Result<TaskResult> {
        let key = self.runner.result_key(&task.id, dataset)?;
        let entry = match self.store.get(&key)? {
            Some(entry) => entry,
            None => {
                bar.set_message(format!("{} (embedding)", task.id));
                let prepared = self.runner.prepare(dataset, &Silent)?;
                self.store_result(&key, task, dataset, &prepared)?
            }
        };
        task_result(task, &entry)
    }

    /// [`Self::result`] with E0's twins, each from the store or computed; the activations
    /// are cached once for whatever is missing.
    pub fn result_with_retest(
        &self,
        task: &Task,
        dataset: &Dataset,
        bar: &ProgressBar,
    ) -> Result<TaskResult> {
        let key = self.runner.result_key(&task.id, dataset)?;
        let retest_key = self.retest_key(&key);
        let mut entry = self.store.get(&key)?;
        let mut twins = self.store.get(&retest_key)?;
        if entry.is_none() || twins.is_none() {
            bar.set_message(format!("{} (activations)", task.id));
            let prepared = self.runner.prepare(dataset, &Silent)?;
            if entry.is_none() {
                bar.set_message(format!("{} (embedding)", task.id));
                entry = Some(self.store_result(&key, task, dataset, &prepared)?);
            }
            if twins.is_none() {
                bar.set_message(format!("{} (retest)", task.id));
                let retest = self.retest(task, &prepared)?;
                twins = Some(
                    self.store
                        .put(&retest_key, |dir| save_retest(dir, &retest))
                        .map_err(put_error)?,
                );
            }
        }
        let mut result = task_result(task, &entry.expect("stored above"))?;
        result.retest = Some(load_retest(&twins.expect("stored above"))?);
        Ok(result)
    }

    fn store_result(
        &self,
        key: &Key,
        task: &Task,
        dataset: &Dataset,
        prepared: &Prepared<'_>,
    ) -> Result<Entry> {
        let result = self
            .runner
            .compute(&task.id, dataset, prepared, &Silent)
            .with_context(|| format!("embedding task `{}`", task.id))?;
        self.store
            .put(key, |dir| result.save(dir).map_err(anyhow::Error::from))
            .map_err(put_error)
    }

    /// The key of E0's twins of the result with key `result`: the same material plus the
    /// split seed and each twin's resolved options.
    fn retest_key(&self, result: &Key) -> Key {
        let mut material = result.material().clone();
        material["kind"] = "task2vec-e0-retest".into();
        material["retest"] = serde_json::json!({
            "split_seed": retest_seeds(self.runner.options().seed).split,
            "twin_options": self.twin_hyperparameters,
        });
        Key::new(material)
    }

    /// E0's twins: the task embedding alone, once from each half of the task's images
    /// ([`Dataset::halves`] with the split seed), each with its own seed ([`retest_seeds`]),
    /// from the activations already cached.
    pub fn retest(&self, task: &Task, prepared: &Prepared<'_>) -> Result<Retest> {
        let started = Instant::now();
        let seeds = retest_seeds(self.runner.options().seed);
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
            half.validate()
                .with_context(|| format!("half {name} of the task's images"))?;
            let rows: Vec<usize> = half
                .samples()
                .iter()
                .map(|s| position[&s.source.to_string()])
                .collect();
            let cache = prepared.cache.subset(&rows)?;
            let options = EmbedOptions {
                seed,
                ..self.runner.options().clone()
            };
            let pipeline = Task2Vec::new(self.probe(), options, self.device())?;
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

fn put_error(e: PutError<anyhow::Error>) -> anyhow::Error {
    match e {
        PutError::Fill(e) => e,
        PutError::Store(e) => e.into(),
    }
}

/// The reproduction's view of a stored result: the library's record plus the suite's
/// taxonomy (not part of the result: editing a taxonomy never invalidates an embedding).
fn task_result(task: &Task, entry: &Entry) -> Result<TaskResult> {
    let r = StoredResult::load(entry)?;
    Ok(TaskResult {
        id: r.record.id,
        taxonomy: task.taxonomy.clone(),
        embedding: r.embedding,
        domain: r.domain,
        domain_features: r.domain_features,
        probe_error: r.record.probe_error,
        images_sha256: r.record.images_sha256,
        labels: r.record.labels,
        samples: r.record.samples,
        classes: r.record.classes,
        seconds: r.record.seconds,
        retest: None,
    })
}

/// What is saved next to the two twin embeddings of a task.
#[derive(Serialize, Deserialize)]
struct RetestRecord {
    split_seed: u64,
    seeds: [u64; 2],
    samples: [usize; 2],
    seconds: f64,
}

/// Writes E0's twins into a store entry's directory.
fn save_retest(dir: &Path, r: &Retest) -> Result<()> {
    r.twins[0].save(dir.join(TWIN_FILES[0]))?;
    r.twins[1].save(dir.join(TWIN_FILES[1]))?;
    let record = RetestRecord {
        split_seed: r.split_seed,
        seeds: r.seeds,
        samples: r.samples,
        seconds: r.seconds,
    };
    std::fs::write(
        dir.join(RETEST_FILE),
        serde_json::to_string_pretty(&record)?,
    )?;
    Ok(())
}

/// E0's twins from their store entry.
fn load_retest(entry: &Entry) -> Result<Retest> {
    let path = entry.file(RETEST_FILE);
    let record: RetestRecord = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("reading {}", path.display()))?;
    Ok(Retest {
        twins: [
            Embedding::load(entry.file(TWIN_FILES[0]))?,
            Embedding::load(entry.file(TWIN_FILES[1]))?,
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
    fn embedder(method: &str, size: usize, seed: u64, store: &Path) -> Embedder {
        let options = EmbedOptions {
            method: method.parse::<FisherMethod>().unwrap(),
            seed,
            input_size: Some(size),
            ..EmbedOptions::default()
        };
        Embedder::new("tiny-resnet", options, store).unwrap()
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

    fn task() -> Task {
        serde_json::from_value(serde_json::json!({
            "id": "stripes", "source": "test", "taxonomy": ["a", "b"], "max_samples": 12
        }))
        .unwrap()
    }

    #[test]
    fn reproduce_resolves_options_like_every_other_entry_point() {
        let dir = tempfile::tempdir().unwrap();
        let e = embedder("montecarlo-batch", 32, 0, dir.path());
        let resolved = e.runner.options().resolve(e.probe()).unwrap();
        let library = EmbedOptions {
            method: FisherMethod::MontecarloBatch,
            input_size: Some(32),
            ..EmbedOptions::default()
        }
        .resolve(e.probe())
        .unwrap();
        assert_eq!(resolved, library);
        assert_eq!(resolved.batch_norm(), BatchNormMode::Train);
    }

    /// The defect this replaced: a finished task was reused when only its id and taxonomy
    /// matched, whatever the probe, method, seed or image size of the new run.
    #[test]
    fn a_finished_task_is_reused_only_with_the_same_settings_and_data() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let dataset = folder(&dir.path().join("data"));
        let task = task();
        let bar = ProgressBar::hidden();
        let exact = embedder("exact", 32, 0, &store);
        let done = exact.result_with_retest(&task, &dataset, &bar).unwrap();
        assert_eq!(done.labels, dataset.labels());
        assert_eq!(exact.store().digests().unwrap().len(), 2, "result + twins");
        // Same settings: both come back from the store, bit for bit.
        let again = exact.result_with_retest(&task, &dataset, &bar).unwrap();
        assert_eq!(again.embedding.hessian(), done.embedding.hessian());
        assert_eq!(
            again.retest.as_ref().unwrap().twins[1].hessian(),
            done.retest.as_ref().unwrap().twins[1].hessian()
        );
        assert_eq!(exact.store().digests().unwrap().len(), 2);
        // Other settings: new entries; nothing is reused.
        for (k, (method, size, seed)) in [("exact", 32, 1), ("exact", 40, 0), ("montecarlo", 32, 0)]
            .into_iter()
            .enumerate()
        {
            let other = embedder(method, size, seed, &store);
            let r = other.result_with_retest(&task, &dataset, &bar).unwrap();
            assert_eq!(
                other.store().digests().unwrap().len(),
                2 * (k + 2),
                "{method} {size}² seed {seed} reused a result made with other settings"
            );
            assert_eq!(r.embedding.meta().seed, Some(seed));
        }
        // The same task over other images (one replaced under the same name): recomputed.
        image::RgbImage::from_pixel(16, 16, image::Rgb([1, 2, 3]))
            .save(dir.path().join("data/rows/0.png"))
            .unwrap();
        let changed = Dataset::open(&dir.path().join("data")).unwrap();
        exact.result(&task, &changed, &bar).unwrap();
        assert_eq!(exact.store().digests().unwrap().len(), 9);
        // A taxonomy edit is not a new result.
        let renamed = Task {
            taxonomy: vec!["z".into()],
            ..task.clone()
        };
        let r = exact.result(&renamed, &dataset, &bar).unwrap();
        assert_eq!(r.taxonomy, vec!["z".to_string()]);
        assert_eq!(exact.store().digests().unwrap().len(), 9);
    }

    #[test]
    fn twins_embed_disjoint_halves_with_their_own_seeds() {
        let dir = tempfile::tempdir().unwrap();
        let dataset = folder(&dir.path().join("data"));
        let task = task();
        let e = embedder("exact", 32, 7, &dir.path().join("store"));
        let prepared = e.runner.prepare(&dataset, &Silent).unwrap();
        let r = e.retest(&task, &prepared).unwrap();
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
        let again = e.retest(&task, &prepared).unwrap();
        assert_eq!(again.twins[0].hessian(), r.twins[0].hessian());
    }
}
