//! E6, expert selection (the paper's Table 1) on a zoo of fine-tuned experts
//! (`datasets/experts/<zoo>.toml`):
//!
//! 1. **Experts**: each zoo entry is a suite task; images that any target uses are removed from
//!    its source before its subsample (no leakage); its tail is fine-tuned
//!    ([`task2vec_model2vec::Expert`]) and its source task embedded with the run's options.
//!    Both are saved and reused while the probe, options and source images are unchanged.
//! 2. **The meta-task**: for each target, the activations at the experts' split point are cached
//!    once; every expert's tail (and the unmodified ImageNet probe) gives features; a linear head
//!    is fitted on them over `REPEATS` seeded stratified splits, the same splits for every
//!    expert (paired). Errors go to a long-form CSV that makes the stage resumable; LogME and
//!    LEEP are computed on the same features.
//! 3. **Selectors**, each picking one expert per target among the trained experts: chance
//!    (expected error), the ImageNet probe, the best-on-average expert (leave-one-target-out),
//!    the nearest source by the domain embedding, symmetric Task2Vec, asymmetric Task2Vec
//!    (α = 0.15 and α by nested cross-validation), Model2Vec (leave-one-target-out), LogME, LEEP
//!    and the oracle; each summarised against the oracle with bootstrap intervals and Wilcoxon
//!    tests against the ImageNet probe and the best-on-average expert.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use task2vec_data::{Dataset, Suite, Task};
use task2vec_embedding::{Compatibility, Embedding, Metric, distance_with};
use task2vec_fisher::sampler::{Stream, stream_rng};
use task2vec_fisher::{ActivationCache, Silent};
use task2vec_model2vec::evaluate::{SelectorSummary, SummaryOptions, WilcoxonResult, summarize};
use task2vec_model2vec::expert::metatask::{self, MetaTaskOptions};
use task2vec_model2vec::expert::{ExpertOutputs, cache_at_split, shuffled_labels};
use task2vec_model2vec::matrix::ErrorMatrix;
use task2vec_model2vec::model2vec::{Model2VecOptions, leave_one_target_out};
use task2vec_model2vec::transferability::{leep, logme};
use task2vec_model2vec::{Expert, ExpertOptions, selectors};

use super::analysis::TaskResult;
use super::embed::Embedder;

/// Seeded stratified splits per (target, expert) cell of the meta-task.
pub const REPEATS: u32 = 5;
/// The column of the unmodified probe in the error matrix.
pub const IMAGENET: &str = "imagenet-probe";
/// α grid of the nested cross-validation.
const ALPHA_GRID: [f64; 9] = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0];

/// A zoo file (`datasets/experts/*.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zoo {
    pub name: String,
    pub description: String,
    /// Suites whose tasks are the targets (`every = k` keeps every k-th task).
    pub targets: Vec<TargetSuite>,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub training: Training,
    pub expert: Vec<ZooExpert>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSuite {
    pub suite: String,
    #[serde(default)]
    pub every: Option<usize>,
}

/// Overrides of [`ExpertOptions`]' defaults for every expert of a zoo.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    pub epochs: Option<usize>,
    pub learning_rate: Option<f64>,
    pub batch_size: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZooExpert {
    pub task: Task,
    #[serde(default)]
    pub shuffle_labels: bool,
}

impl Zoo {
    pub fn load(path: &Path) -> Result<Zoo> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let zoo: Zoo = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        if zoo.expert.len() < 2 {
            bail!("{}: a zoo needs at least two experts", path.display());
        }
        let ids: BTreeSet<&str> = zoo.expert.iter().map(|e| e.task.id.as_str()).collect();
        if ids.len() != zoo.expert.len() {
            bail!("{}: expert ids must be unique", path.display());
        }
        Ok(zoo)
    }

    /// The zoo's target tasks, from its target suites (in `suites_dir`).
    pub fn target_tasks(&self, suites_dir: &Path) -> Result<Vec<Task>> {
        let mut out = Vec::new();
        for t in &self.targets {
            let suite = Suite::load(&suites_dir.join(format!("{}.toml", t.suite)))?;
            let every = t.every.unwrap_or(1).max(1);
            out.extend(suite.tasks.into_iter().step_by(every));
        }
        Ok(out)
    }

    /// Every source the zoo's experts read.
    pub fn sources(&self) -> BTreeSet<String> {
        self.expert.iter().map(|e| e.task.source.clone()).collect()
    }

    fn options(&self, entry: &ZooExpert, input_size: usize) -> ExpertOptions {
        let d = ExpertOptions::default();
        ExpertOptions {
            input_size: Some(input_size),
            epochs: self.training.epochs.unwrap_or(d.epochs),
            learning_rate: self.training.learning_rate.unwrap_or(d.learning_rate),
            batch_size: self.training.batch_size.unwrap_or(d.batch_size),
            // The task's own `max_samples` already subsampled the data.
            max_samples: None,
            shuffle_labels: entry.shuffle_labels,
            seed: self.seed,
            ..d
        }
    }
}

/// A target of the meta-task: its dataset (as embedded) and its embeddings.
pub struct Target {
    pub result: TaskResult,
    pub dataset: Dataset,
}

/// One trained expert with its source task's embeddings.
pub struct ZooMember {
    pub expert: Expert,
    pub source: TaskResult,
}

/// A stable key of one image, comparable across datasets opened at different roots.
fn image_key(ds: &Dataset, i: usize, source: &str) -> String {
    match ds.sample_path(i) {
        Some(p) => p.display().to_string(),
        None => format!("{source}#{}", ds.samples()[i].source),
    }
}

/// The expert's training data: its task's selection of the source, minus every image a target
/// uses, then its seeded subsample and labelling rule.
fn expert_dataset(
    entry: &ZooExpert,
    home: &Path,
    target_images: &BTreeSet<String>,
) -> Result<(Dataset, usize)> {
    let task = &entry.task;
    let source = Dataset::open(&task.data_dir(home))
        .with_context(|| format!("opening the source of expert `{}`", task.id))?;
    let selected = task.select(&source)?;
    let excluded: BTreeSet<String> = (0..selected.len())
        .filter(|&i| target_images.contains(&image_key(&selected, i, &task.source)))
        .map(|i| selected.samples()[i].source.to_string())
        .collect();
    let kept = selected.relabel(selected.classes().to_vec(), |s| {
        (!excluded.contains(&s.source.to_string())).then_some(s.label)
    });
    let sampled = kept.take(task.max_samples, task.seed.unwrap_or(0));
    let labelled = task.label(&sampled)?;
    labelled.validate()?;
    Ok((labelled, excluded.len()))
}

/// `data` with its labels permuted as a shuffled-label expert trains on them.
fn with_shuffled_labels(data: &Dataset, seed: u64) -> Dataset {
    let shuffled = shuffled_labels(&data.labels(), seed);
    let by_source: BTreeMap<String, usize> = data
        .samples()
        .iter()
        .zip(&shuffled)
        .map(|(s, &y)| (s.source.to_string(), y))
        .collect();
    data.relabel(data.classes().to_vec(), |s| {
        by_source.get(&s.source.to_string()).copied()
    })
}

/// Every image any target uses, by [`image_key`]: what no expert may train on.
fn target_images(targets: &[Target]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for t in targets {
        let source = t.result.taxonomy.first().cloned().unwrap_or_default();
        for i in 0..t.dataset.len() {
            keys.insert(image_key(&t.dataset, i, &source));
        }
    }
    keys
}

/// Trains (or reloads) every expert of the zoo and embeds its source task.
fn zoo_members(
    zoo: &Zoo,
    embedder: &Embedder,
    home: &Path,
    target_images: &BTreeSet<String>,
    dir: &Path,
    bar: &ProgressBar,
    log: &mut Vec<String>,
) -> Result<Vec<ZooMember>> {
    let probe = embedder.probe();
    let device = embedder.device();
    let input_size = embedder.input_size()?;
    let mut members = Vec::new();
    for entry in &zoo.expert {
        let id = &entry.task.id;
        let file_stem = id.replace('/', "__");
        let expert_path = dir.join(format!("{file_stem}.expert"));
        // The expert itself shuffles the labels it is given when asked: give it the original
        // labelling so that its file records the true source, and it permutes them the same way;
        // the source embedding is of the shuffled task it actually learns.
        let (train_data, excluded) = expert_dataset(entry, home, target_images)?;
        let data = if entry.shuffle_labels {
            with_shuffled_labels(&train_data, zoo.seed)
        } else {
            train_data.clone()
        };
        let options = zoo.options(entry, input_size);
        let resolved = options.resolve(probe)?;
        let reusable = Expert::load(&expert_path, device).ok().filter(|e| {
            e.check_probe(probe).is_ok()
                && e.meta().options == resolved
                && e.meta().source_fingerprint == train_data.fingerprint()
        });
        let expert = match reusable {
            Some(e) => e,
            None => {
                bar.set_message(format!("{id} (fine-tuning)"));
                let e = Expert::train(probe, &train_data, id, &options, device, &Silent)
                    .with_context(|| format!("training expert `{id}`"))?;
                e.save(&expert_path)?;
                e
            }
        };
        let fit = &expert.meta().fit;
        log.push(format!(
            "| `{id}` | {} | {} | {} | {:.3} | {:.3} | {:.1} |",
            data.classes().len(),
            fit.train_images + fit.held_out_images,
            excluded,
            fit.probe_held_out_error,
            fit.expert_held_out_error,
            fit.seconds
        ));
        let source = embedder.result(&entry.task, &data, bar)?;
        members.push(ZooMember { expert, source });
        bar.inc(1);
    }
    Ok(members)
}

/// t₀ for the asymmetric distance. Monte-Carlo embeddings have no prior, so t₀ is the explicit
/// analogue "a task whose labels carry no information": the images of the zoo's first expert's
/// source with seeded uniformly random labels (4 classes), embedded with the run's options.
fn trivial_embedding(
    zoo: &Zoo,
    embedder: &Embedder,
    home: &Path,
    target_images: &BTreeSet<String>,
    bar: &ProgressBar,
) -> Result<Embedding> {
    let entry = &zoo.expert[0];
    let (data, _) = expert_dataset(entry, home, target_images)?;
    let data = data.take(300.min(data.len()), zoo.seed);
    let classes: Vec<String> = (0..4).map(|c| format!("random-{c}")).collect();
    use rand::Rng;
    let mut rng = stream_rng(zoo.seed, Stream::ShuffledLabels);
    let labels: BTreeMap<String, usize> = data
        .samples()
        .iter()
        .map(|s| (s.source.to_string(), rng.random_range(0..4)))
        .collect();
    let random = data.relabel(classes, |s| labels.get(&s.source.to_string()).copied());
    let task = Task {
        id: "t0/random-labels".into(),
        taxonomy: vec!["t0".into()],
        max_samples: random.len(),
        ..entry.task.clone()
    };
    Ok(embedder.result(&task, &random, bar)?.embedding)
}

/// Transferability scores of one (target, column) cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoreRow {
    target: String,
    expert: String,
    logme: f64,
    leep: f64,
}

fn f64_matrix(values: &[f32], rows: usize) -> Array2<f64> {
    let cols = values.len() / rows.max(1);
    Array2::from_shape_fn((rows, cols), |(r, c)| values[r * cols + c] as f64)
}

/// The meta-task cells of one target: errors over the repeats (the same splits for every
/// column) and the transferability scores.
#[allow(clippy::type_complexity)]
fn measure_target(
    target: &Target,
    columns: &[(String, ExpertOutputs)],
    seed: u64,
) -> Result<(Vec<(String, u32, f64, u64, u64)>, Vec<ScoreRow>)> {
    let labels = target.dataset.labels();
    let classes = target.dataset.classes().len();
    let options = MetaTaskOptions {
        repeats: REPEATS,
        seed,
        ..MetaTaskOptions::default()
    };
    let splits = metatask::splits(&labels, classes, &options)
        .with_context(|| format!("target `{}`", target.result.id))?;
    let jobs: Vec<(usize, u32)> = (0..columns.len())
        .flat_map(|c| (0..REPEATS).map(move |r| (c, r)))
        .collect();
    let errors = jobs
        .par_iter()
        .map(|&(c, r)| {
            let split = &splits[r as usize];
            let error = metatask::split_error(&columns[c].1, classes, split, &options)?;
            Ok((
                columns[c].0.clone(),
                r,
                error,
                split.1.len() as u64,
                split.0.len() as u64,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let scores = columns
        .iter()
        .map(|(name, out)| {
            let n = labels.len();
            let features = f64_matrix(&out.features, n);
            let probs = f64_matrix(&out.source_probs, n);
            Ok(ScoreRow {
                target: target.result.id.clone(),
                expert: name.clone(),
                logme: logme(features.view(), &labels, classes)?,
                leep: leep(probs.view(), &labels, classes)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((errors, scores))
}

/// The unmodified probe as a meta-task column: its own features and ImageNet softmax.
pub fn imagenet_outputs(embedder: &Embedder, cache: &ActivationCache) -> Result<ExpertOutputs> {
    use burn::tensor::TensorData;
    let probe = embedder.probe();
    let n = cache.labels.len();
    let dim = cache.features.len() / n.max(1);
    let f = burn::tensor::Tensor::<2>::from_data(
        TensorData::new(cache.features.clone(), [n, dim]),
        &embedder.device().clone().without_autodiff(),
    );
    let probs = burn::tensor::activation::softmax(probe.head(f), 1);
    Ok(ExpertOutputs {
        features: cache.features.clone(),
        source_probs: task2vec_fisher::estimator::host_f32(probs)?,
        labels: cache.labels.clone(),
    })
}

/// Everything E6 reports.
pub struct Selection {
    pub zoo: String,
    pub experts: Vec<String>,
    pub targets: Vec<String>,
    /// Mean test error, targets × (experts, then the ImageNet probe).
    pub errors: Array2<f64>,
    pub expert_log: Vec<String>,
    pub noise: task2vec_model2vec::matrix::NoiseScale,
    pub summaries: Vec<SelectorSummary>,
    /// Per selector: Wilcoxon vs the ImageNet probe and vs best-on-average.
    pub tests: Vec<(String, Option<WilcoxonResult>, Option<WilcoxonResult>)>,
    /// Per selector: the chosen expert index per target (chance: none).
    pub picks: Vec<(String, Vec<usize>)>,
    pub alphas: Vec<f64>,
    pub excluded_pairs: usize,
    pub seconds: f64,
    pub trivial: String,
    /// Mean training images per target of the meta-task's heads.
    pub mean_train_images: f64,
    /// The trained zoo (E7 reuses it).
    pub members: Vec<ZooMember>,
    /// t₀ (E7 reuses it).
    pub trivial_embedding: Embedding,
}

/// Runs E6 for `targets` with the zoo `zoo`, writing its files under `dir`.
pub fn run(
    zoo: &Zoo,
    embedder: &Embedder,
    home: &Path,
    targets: &[Target],
    dir: &Path,
    bar: &ProgressBar,
) -> Result<Selection> {
    let started = Instant::now();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut expert_log = Vec::new();
    let target_images = target_images(targets);
    let members = zoo_members(
        zoo,
        embedder,
        home,
        &target_images,
        dir,
        bar,
        &mut expert_log,
    )?;
    let trivial = trivial_embedding(zoo, embedder, home, &target_images, bar)?;
    let experts: Vec<String> = members
        .iter()
        .map(|m| m.expert.name().to_string())
        .collect();
    let target_ids: Vec<String> = targets.iter().map(|t| t.result.id.clone()).collect();

    // The meta-task, resumable: cells already in the CSV are not measured again.
    let matrix_path = dir.join("E6-errors.csv");
    let scores_path = dir.join("E6-transferability.csv");
    let mut matrix = if matrix_path.is_file() {
        ErrorMatrix::read_csv(&matrix_path)?
    } else {
        ErrorMatrix::new()
    };
    let mut scores: Vec<ScoreRow> = read_scores(&scores_path)?;
    let mut columns_all = experts.clone();
    columns_all.push(IMAGENET.to_string());
    let tail_from = members[0].expert.tail_from();
    for target in targets {
        let id = &target.result.id;
        let complete = columns_all.iter().all(|c| {
            (0..REPEATS).all(|r| matrix.contains(id, c, r))
                && scores.iter().any(|s| &s.target == id && &s.expert == c)
        });
        if complete {
            continue;
        }
        bar.set_message(format!("{id} (meta-task)"));
        let cache = cache_at_split(
            embedder.probe(),
            &target.dataset,
            tail_from,
            embedder.input_size()?,
            embedder.device(),
            &Silent,
        )?;
        let mut columns = Vec::new();
        for m in &members {
            let out = m.expert.run_cached(
                embedder.probe(),
                &cache.activations,
                cache.labels.clone(),
                64,
            )?;
            columns.push((m.expert.name().to_string(), out));
        }
        // The unmodified probe: the cache holds its own pooled features.
        columns.push((IMAGENET.to_string(), imagenet_outputs(embedder, &cache)?));
        let (cells, rows) = measure_target(target, &columns, zoo.seed)?;
        for (expert, r, error, train, test) in cells {
            matrix.insert(id, &expert, r, error, train, test)?;
        }
        scores.retain(|s| &s.target != id);
        scores.extend(rows);
        matrix.write_csv(&matrix_path)?;
        write_scores(&scores_path, &scores)?;
        bar.inc(1);
    }

    let errors_all = matrix.mean(&target_ids, &columns_all)?;
    let n_experts = experts.len();
    let errors = errors_all.slice(ndarray::s![.., ..n_experts]).to_owned();
    let imagenet: Vec<f64> = errors_all.column(n_experts).to_vec();
    let noise = matrix.noise_scale(&target_ids, &experts)?;
    // Leave-one-out: an expert that saw any of a target's images is not a candidate for it.
    // The zoo removes target images from every expert's source, so this excludes nothing
    // unless two targets share an expert's pool in a way the exclusion missed (counted).
    let allowed = Array2::from_shape_fn((targets.len(), n_experts), |(t, e)| {
        members[e].source.images_sha256 != targets[t].result.images_sha256
    });
    let excluded_pairs = allowed.iter().filter(|a| !**a).count();

    // Distances source → target.
    let cos = |a: &Embedding, b: &Embedding| {
        distance_with(a, b, Metric::Cosine, Compatibility::Structural)
    };
    let mut sym = Array2::zeros((targets.len(), n_experts));
    let mut dom = Array2::zeros((targets.len(), n_experts));
    for (t, target) in targets.iter().enumerate() {
        for (e, m) in members.iter().enumerate() {
            sym[[t, e]] = cos(&m.source.embedding, &target.result.embedding)?;
            dom[[t, e]] = cos(&m.source.domain, &target.result.domain)?;
        }
    }
    let complexity: Vec<f64> = members
        .iter()
        .map(|m| cos(&m.source.embedding, &trivial))
        .collect::<std::result::Result<_, _>>()?;

    let oracle = selectors::oracle(&errors, &allowed)?;
    let pick_errors = |pick: &[usize]| -> Vec<f64> {
        pick.iter()
            .enumerate()
            .map(|(t, &e)| errors[[t, e]])
            .collect()
    };
    let oracle_errors = pick_errors(&oracle);
    let mut picks: Vec<(String, Vec<usize>)> = Vec::new();
    let best_avg = selectors::best_on_average(&errors, &allowed)?;
    picks.push(("best-on-average expert (LOO)".into(), best_avg.clone()));
    picks.push((
        "domain embedding, nearest source".into(),
        selectors::argmin(&dom, &allowed)?,
    ));
    picks.push((
        "Task2Vec symmetric (cosine)".into(),
        selectors::argmin(&sym, &allowed)?,
    ));
    let asym = selectors::asymmetric_scores(&sym, &complexity, 0.15)?;
    picks.push((
        "Task2Vec asymmetric, α = 0.15".into(),
        selectors::argmin(&asym, &allowed)?,
    ));
    let (cv_pick, alphas) =
        selectors::alpha_by_nested_cv(&sym, &complexity, &errors, &allowed, &ALPHA_GRID)?;
    picks.push(("Task2Vec asymmetric, α by nested CV".into(), cv_pick));
    let sources: Vec<Embedding> = members.iter().map(|m| m.source.embedding.clone()).collect();
    let target_embeddings: Vec<Embedding> =
        targets.iter().map(|t| t.result.embedding.clone()).collect();
    picks.push((
        "Model2Vec (LOO)".into(),
        leave_one_target_out(
            &sources,
            &target_embeddings,
            &errors,
            &allowed,
            &trivial,
            &Model2VecOptions::default(),
        )?,
    ));
    let score_matrix = |f: fn(&ScoreRow) -> f64| -> Result<Array2<f64>> {
        let mut m = Array2::zeros((targets.len(), n_experts));
        for (t, tid) in target_ids.iter().enumerate() {
            for (e, eid) in experts.iter().enumerate() {
                let row = scores
                    .iter()
                    .find(|s| &s.target == tid && &s.expert == eid)
                    .with_context(|| format!("no LogME/LEEP for ({tid}, {eid})"))?;
                m[[t, e]] = f(row);
            }
        }
        Ok(m)
    };
    picks.push((
        "LogME".into(),
        selectors::argmax(&score_matrix(|s| s.logme)?, &allowed)?,
    ));
    picks.push((
        "LEEP".into(),
        selectors::argmax(&score_matrix(|s| s.leep)?, &allowed)?,
    ));
    picks.push(("oracle".into(), oracle.clone()));

    // Oracle errors of 0 are floored at half of one test image.
    let mean_test = matrix
        .get(&target_ids[0], &experts[0], 0)
        .map_or(100.0, |m| m.test_images as f64);
    let options = SummaryOptions {
        seed: zoo.seed,
        ..SummaryOptions::with_floor(0.5 / mean_test)
    };
    let wil = |x: &[f64], y: &[f64]| task2vec_model2vec::evaluate::wilcoxon_signed_rank(x, y).ok();
    let best_avg_errors = pick_errors(&best_avg);
    let mut summaries = Vec::new();
    let mut tests = Vec::new();
    let chance = selectors::chance_expected_error(&errors, &allowed)?;
    summaries.push(summarize(
        "chance (expected)",
        &chance,
        &oracle_errors,
        false,
        options,
    )?);
    tests.push((
        "chance (expected)".to_string(),
        wil(&chance, &imagenet),
        wil(&chance, &best_avg_errors),
    ));
    summaries.push(summarize(
        "ImageNet probe",
        &imagenet,
        &oracle_errors,
        false,
        options,
    )?);
    tests.push((
        "ImageNet probe".to_string(),
        None,
        wil(&imagenet, &best_avg_errors),
    ));
    for (name, pick) in &picks {
        let e = pick_errors(pick);
        summaries.push(summarize(name, &e, &oracle_errors, true, options)?);
        tests.push((name.clone(), wil(&e, &imagenet), wil(&e, &best_avg_errors)));
    }
    write_picks(
        &dir.join("E6-selection.csv"),
        &target_ids,
        &experts,
        &picks,
        &errors,
    )?;
    let mean_train_images = target_ids
        .iter()
        .filter_map(|t| matrix.get(t, &experts[0], 0))
        .map(|m| m.train_images as f64)
        .sum::<f64>()
        / target_ids.len().max(1) as f64;
    Ok(Selection {
        zoo: zoo.name.clone(),
        experts,
        targets: target_ids,
        errors: errors_all,
        expert_log,
        noise,
        summaries,
        tests,
        picks,
        alphas,
        excluded_pairs,
        seconds: started.elapsed().as_secs_f64(),
        trivial: "the images of the zoo's first expert's source (300, no target image) with seeded uniformly random labels in 4 classes, embedded with the run's options".into(),
        mean_train_images,
        members,
        trivial_embedding: trivial,
    })
}

fn read_scores(path: &Path) -> Result<Vec<ScoreRow>> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    reader
        .deserialize()
        .map(|r| r.with_context(|| format!("{}", path.display())))
        .collect()
}

fn write_scores(path: &Path, rows: &[ScoreRow]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    task2vec_common::write_file_atomic(path, &bytes)?;
    Ok(())
}

fn write_picks(
    path: &Path,
    targets: &[String],
    experts: &[String],
    picks: &[(String, Vec<usize>)],
    errors: &Array2<f64>,
) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["target".to_string()];
    for (name, _) in picks {
        header.push(format!("{name}: expert"));
        header.push(format!("{name}: error"));
    }
    w.write_record(&header)?;
    for (t, target) in targets.iter().enumerate() {
        let mut row = vec![target.clone()];
        for (_, pick) in picks {
            row.push(experts[pick[t]].clone());
            row.push(format!("{:.4}", errors[[t, pick[t]]]));
        }
        w.write_record(&row)?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    task2vec_common::write_file_atomic(path, &bytes)?;
    Ok(())
}

/// The E6 section of REPORT.md.
pub fn markdown(s: &Selection, figure: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## E6 — expert selection (the paper's Table 1), zoo `{}`\n",
        s.zoo
    );
    let _ = writeln!(
        out,
        "{} fine-tuned experts × {} targets; every selector picks one of the experts for each target. \
         Error = test error of a linear head on the expert's frozen features, mean over {REPEATS} seeded \
         stratified splits ({:.0} % of each class tested; the same splits for every expert). \
         Noise: the mean standard error of a cell is {:.4}, the spread between experts (mean over \
         targets of the std across experts) {:.4}. Pairs excluded because an expert saw the target's \
         images: {}. t₀ for the asymmetric distance: {}. Took {:.0} s.\n",
        s.experts.len(),
        s.targets.len(),
        MetaTaskOptions::default().test_fraction * 100.0,
        s.noise.standard_error,
        s.noise.expert_spread,
        s.excluded_pairs,
        s.trivial,
        s.seconds
    );
    let _ = writeln!(
        out,
        "| expert | classes | images | target images removed | probe error (source, held out) | expert error | fine-tuning s |\n|---|---|---|---|---|---|---|"
    );
    for l in &s.expert_log {
        let _ = writeln!(out, "{l}");
    }
    let _ = writeln!(
        out,
        "\n| selector | mean error | rel. increase over oracle, ratio of means [95 % CI] | mean of ratios [95 % CI] | top-1 | regret | Wilcoxon p vs ImageNet probe | vs best-on-average |\n|---|---|---|---|---|---|---|---|"
    );
    for (sum, (_, vs_imagenet, vs_avg)) in s.summaries.iter().zip(&s.tests) {
        let p = |w: &Option<WilcoxonResult>| {
            w.as_ref()
                .map_or("—".to_string(), |w| format!("{:.3}", w.p_value))
        };
        let _ = writeln!(
            out,
            "| {} | {:.4} | {:+.1} % [{:+.1}, {:+.1}] | {:+.1} % [{:+.1}, {:+.1}] | {} | {:.4} | {} | {} |",
            sum.name,
            sum.mean_error,
            100.0 * sum.increase.ratio_of_means,
            100.0 * sum.ratio_of_means_interval.low,
            100.0 * sum.ratio_of_means_interval.high,
            100.0 * sum.increase.mean_of_ratios,
            100.0 * sum.mean_of_ratios_interval.low,
            100.0 * sum.mean_of_ratios_interval.high,
            sum.top1
                .map_or("—".to_string(), |t| format!("{:.0} %", 100.0 * t)),
            sum.regret,
            p(vs_imagenet),
            p(vs_avg),
        );
    }
    let alpha_counts = s
        .alphas
        .iter()
        .fold(BTreeMap::<String, usize>::new(), |mut m, a| {
            *m.entry(format!("{a}")).or_default() += 1;
            m
        });
    let _ = writeln!(
        out,
        "\nα chosen by the nested cross-validation (value: targets): {}. The paper's Table 1 \
         (iNat+CUB, ResNet-34): asymmetric Task2Vec +9.97 %, Model2Vec +6.81 %, ImageNet probe \
         +30.18 %, chance +59.52 % over the oracle. Files: `E6-errors.csv` (every cell and repeat), \
         `E6-transferability.csv` (LogME, LEEP), `E6-selection.csv` (each selector's pick).\n",
        alpha_counts
            .iter()
            .map(|(a, n)| format!("{a}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(f) = figure {
        let _ = writeln!(out, "![error matrix]({f})\n");
    }
    out
}

/// The error matrix with the oracle's, asymmetric Task2Vec's and Model2Vec's picks marked
/// (PNG); returns its file name for the report.
pub fn figure(s: &Selection, path: &Path) -> Result<Option<String>> {
    use task2vec_embedding::plot::{MarkShape, Marks, marked_grid};
    let mut columns = s.experts.clone();
    columns.push(IMAGENET.to_string());
    let pick = |name: &str| {
        s.picks
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.iter().enumerate().map(|(t, &e)| (t, e)).collect())
            .unwrap_or_default()
    };
    let marks = [
        Marks {
            shape: MarkShape::Outline,
            label: "oracle (best expert)".into(),
            cells: pick("oracle"),
        },
        Marks {
            shape: MarkShape::Dot,
            label: "Task2Vec asymmetric, α = 0.15".into(),
            cells: pick("Task2Vec asymmetric, α = 0.15"),
        },
        Marks {
            shape: MarkShape::Cross,
            label: "Model2Vec (LOO)".into(),
            cells: pick("Model2Vec (LOO)"),
        },
    ];
    marked_grid(
        &s.errors,
        &s.targets,
        &columns,
        &marks,
        &format!(
            "E6: test error of a linear head per target × expert (zoo `{}`)",
            s.zoo
        ),
        path,
    )?;
    Ok(path.file_name().map(|f| f.to_string_lossy().into_owned()))
}

/// The zoo file for `name` (a path, or a name in `datasets/experts`).
pub fn zoo_path(root: &Path, name: &Path) -> PathBuf {
    if !name.exists() && name.extension().is_none() && name.components().count() == 1 {
        root.join("datasets/experts")
            .join(name)
            .with_extension("toml")
    } else {
        name.to_path_buf()
    }
}
