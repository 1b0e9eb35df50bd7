//! E7, the paper's "selection vs. dataset size": for target training sets of a few sizes, the
//! error of the expert each selector picks when everything it looks at — the target's
//! embedding, LogME, LEEP, the meta-task heads — is computed from that small set, against the
//! ImageNet probe and the oracle at the same size. The heads are tested on the target's images
//! outside the small set. Resumable: embeddings and the size's error rows are saved.
use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use task2vec_data::{Dataset, Task};
use task2vec_embedding::{Compatibility, Metric, distance_with};
use task2vec_fisher::Silent;
use task2vec_fisher::sampler::{Stream, stratified_split, stream_rng};
use task2vec_model2vec::expert::cache_at_split;
use task2vec_model2vec::expert::metatask::{self, MetaTaskOptions};
use task2vec_model2vec::model2vec::{Model2VecOptions, leave_one_target_out};
use task2vec_model2vec::selectors;
use task2vec_model2vec::transferability::{leep, logme};

use super::embed::Embedder;
use super::selection::{Selection, Target, imagenet_outputs};

/// Seeded small training sets per target and size (the first is also embedded).
const SUBSETS: u32 = 3;

/// One size's mean errors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SizePoint {
    pub size: usize,
    pub targets: usize,
    /// `(selector, mean error over targets)`.
    pub errors: Vec<(String, f64)>,
}

/// The error of every column on one target at one size: mean over the subsets.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TargetAtSize {
    target: String,
    size: usize,
    /// Train images actually used (stratified: at least one per class).
    train_images: usize,
    /// Mean test error per column (experts, then the ImageNet probe).
    errors: Vec<f64>,
    logme: Vec<f64>,
    leep: Vec<f64>,
}

/// `data` restricted to the images at `rows`.
fn subset(data: &Dataset, rows: &[usize]) -> Dataset {
    let keep: BTreeSet<String> = rows
        .iter()
        .map(|&i| data.samples()[i].source.to_string())
        .collect();
    data.relabel(data.classes().to_vec(), |s| {
        keep.contains(&s.source.to_string()).then_some(s.label)
    })
}

/// Runs E7 for `sizes` with the zoo trained by E6.
pub fn run(
    sel: &Selection,
    embedder: &Embedder,
    targets: &[Target],
    sizes: &[usize],
    seed: u64,
    dir: &Path,
    bar: &ProgressBar,
) -> Result<Vec<SizePoint>> {
    let members = &sel.members;
    let n_experts = members.len();
    let mut points = Vec::new();
    for &size in sizes {
        let size_dir = dir.join(format!("size-{size}"));
        std::fs::create_dir_all(&size_dir)?;
        let mut rows: Vec<TargetAtSize> = Vec::new();
        let mut embeddings = Vec::new();
        for target in targets {
            let id = &target.result.id;
            let labels = target.dataset.labels();
            let classes = target.dataset.classes().len();
            if size >= labels.len() {
                continue;
            }
            bar.set_message(format!("{id} (E7, {size} images)"));
            let fraction = size as f64 / labels.len() as f64;
            let draws: Vec<(Vec<usize>, Vec<usize>)> = (0..SUBSETS)
                .map(|r| {
                    let mut rng = stream_rng(
                        seed ^ (u64::from(r) << 32) ^ size as u64,
                        Stream::MetaTaskSplits,
                    );
                    stratified_split(&labels, classes, fraction, &mut rng).map_err(|c| {
                        anyhow::anyhow!("target `{id}`: class {c} has fewer than 2 images")
                    })
                })
                .collect::<Result<_>>()?;
            // The target's embedding from its first small set only.
            let small = subset(&target.dataset, &draws[0].0);
            let task = Task {
                id: id.clone(),
                max_samples: small.len(),
                ..target_task(target)
            };
            let tdir = size_dir.join("targets").join(id.replace('/', "__"));
            let result = embedder.result(&task, &small, bar)?;
            embeddings.push(result);
            let row_path = tdir.join("errors.json");
            if let Some(row) = std::fs::read_to_string(&row_path)
                .ok()
                .and_then(|t| serde_json::from_str::<TargetAtSize>(&t).ok())
            {
                rows.push(row);
                continue;
            }
            let cache = cache_at_split(
                embedder.probe(),
                &target.dataset,
                members[0].expert.tail_from(),
                embedder.input_size()?,
                embedder.device(),
                &Silent,
            )?;
            let mut columns = Vec::new();
            for m in members {
                columns.push(m.expert.run_cached(
                    embedder.probe(),
                    &cache.activations,
                    cache.labels.clone(),
                    64,
                )?);
            }
            columns.push(imagenet_outputs(embedder, &cache)?);
            let options = MetaTaskOptions {
                seed,
                ..MetaTaskOptions::default()
            };
            let jobs: Vec<(usize, usize)> = (0..columns.len())
                .flat_map(|c| (0..draws.len()).map(move |r| (c, r)))
                .collect();
            let cell: Vec<f64> = jobs
                .par_iter()
                .map(|&(c, r)| {
                    // `draws` are (small set, rest): the head trains on the small set.
                    let (train, test) = &draws[r];
                    let split = (test.clone(), train.clone());
                    Ok(metatask::split_error(
                        &columns[c],
                        classes,
                        &split,
                        &options,
                    )?)
                })
                .collect::<Result<_>>()?;
            let errors: Vec<f64> = (0..columns.len())
                .map(|c| {
                    cell[c * draws.len()..(c + 1) * draws.len()]
                        .iter()
                        .sum::<f64>()
                        / draws.len() as f64
                })
                .collect();
            // LogME and LEEP see only the first small set, as the embedding does.
            let small_rows = &draws[0].0;
            let small_labels: Vec<usize> = small_rows.iter().map(|&i| labels[i]).collect();
            let gather = |v: &[f32]| {
                let cols = v.len() / labels.len();
                Array2::from_shape_fn((small_rows.len(), cols), |(r, c)| {
                    v[small_rows[r] * cols + c] as f64
                })
            };
            let mut lm = Vec::new();
            let mut lp = Vec::new();
            for out in &columns {
                lm.push(logme(gather(&out.features).view(), &small_labels, classes)?);
                lp.push(leep(
                    gather(&out.source_probs).view(),
                    &small_labels,
                    classes,
                )?);
            }
            let row = TargetAtSize {
                target: id.clone(),
                size,
                train_images: small_rows.len(),
                errors,
                logme: lm,
                leep: lp,
            };
            super::report::write_atomic(&row_path, &serde_json::to_string_pretty(&row)?)?;
            rows.push(row);
        }
        if rows.len() < 2 {
            continue;
        }
        let t = rows.len();
        let err = Array2::from_shape_fn((t, n_experts), |(i, e)| rows[i].errors[e]);
        let allowed = Array2::from_elem((t, n_experts), true);
        let score = |f: &dyn Fn(&TargetAtSize) -> &Vec<f64>| {
            Array2::from_shape_fn((t, n_experts), |(i, e)| f(&rows[i])[e])
        };
        let cos = |a, b| distance_with(a, b, Metric::Cosine, Compatibility::Structural);
        let mut sym = Array2::zeros((t, n_experts));
        for (i, emb) in embeddings.iter().enumerate() {
            for (e, m) in members.iter().enumerate() {
                sym[[i, e]] = cos(&m.source.embedding, &emb.embedding)?;
            }
        }
        let complexity: Vec<f64> = members
            .iter()
            .map(|m| cos(&m.source.embedding, &sel.trivial_embedding))
            .collect::<std::result::Result<_, _>>()?;
        let mean_of = |pick: &[usize]| {
            pick.iter()
                .enumerate()
                .map(|(i, &e)| err[[i, e]])
                .sum::<f64>()
                / t as f64
        };
        let sources: Vec<_> = members.iter().map(|m| m.source.embedding.clone()).collect();
        let targets_small: Vec<_> = embeddings.iter().map(|e| e.embedding.clone()).collect();
        let mut errors = vec![
            (
                "ImageNet probe".to_string(),
                rows.iter().map(|r| r.errors[n_experts]).sum::<f64>() / t as f64,
            ),
            (
                "oracle".into(),
                mean_of(&selectors::oracle(&err, &allowed)?),
            ),
            (
                "best-on-average expert (LOO)".into(),
                mean_of(&selectors::best_on_average(&err, &allowed)?),
            ),
            (
                "Task2Vec asymmetric, α = 0.15".into(),
                mean_of(&selectors::argmin(
                    &selectors::asymmetric_scores(&sym, &complexity, 0.15)?,
                    &allowed,
                )?),
            ),
            (
                "Model2Vec (LOO)".into(),
                mean_of(&leave_one_target_out(
                    &sources,
                    &targets_small,
                    &err,
                    &allowed,
                    &sel.trivial_embedding,
                    &Model2VecOptions::default(),
                )?),
            ),
            (
                "LogME".into(),
                mean_of(&selectors::argmax(&score(&|r| &r.logme), &allowed)?),
            ),
            (
                "LEEP".into(),
                mean_of(&selectors::argmax(&score(&|r| &r.leep), &allowed)?),
            ),
        ];
        errors.push((
            "chance (expected)".into(),
            selectors::chance_expected_error(&err, &allowed)?
                .iter()
                .sum::<f64>()
                / t as f64,
        ));
        points.push(SizePoint {
            size,
            targets: t,
            errors,
        });
    }
    Ok(points)
}

/// The suite task a target came from, as far as E7 needs one (id and taxonomy).
fn target_task(target: &Target) -> Task {
    Task {
        id: target.result.id.clone(),
        source: target.result.taxonomy.first().cloned().unwrap_or_default(),
        dataset: None,
        path: String::new(),
        taxonomy: target.result.taxonomy.clone(),
        max_samples: target.dataset.len(),
        classes: None,
        max_classes: None,
        groups: None,
        label_by: Default::default(),
        tags: None,
        seed: None,
        note: String::new(),
    }
}

/// E7's line chart (PNG) and its section of the report.
pub fn report(points: &[SizePoint], full: &Selection, dir: &Path) -> Result<String> {
    use std::fmt::Write as _;
    use task2vec_embedding::plot::{Line, LineChartOptions, line_chart};
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## E7 — selection vs. the target's training-set size\n"
    );
    if points.is_empty() {
        let _ = writeln!(out, "Not run (no size below the targets' image counts).\n");
        return Ok(out);
    }
    let _ = writeln!(
        out,
        "Each selector sees only the target's small training set (its embedding, LogME and LEEP \
         from the first of {SUBSETS} seeded stratified subsets; the heads are trained on each \
         subset and tested on the target's other images; mean over subsets). Mean test error of \
         the expert picked, over targets:\n"
    );
    let names: Vec<String> = points[0].errors.iter().map(|(n, _)| n.clone()).collect();
    let _ = write!(out, "| train images per target |");
    for n in &names {
        let _ = write!(out, " {n} |");
    }
    let _ = writeln!(out, "\n|---|{}", "---|".repeat(names.len()));
    for p in points {
        let _ = write!(out, "| {} ({} targets) |", p.size, p.targets);
        for (_, e) in &p.errors {
            let _ = write!(out, " {e:.4} |");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "\nAt E6's size ({:.0} training images per target on average, 70 % of each target's images; the last point of each line in the figure): {}.\n",
        full.mean_train_images,
        full.summaries
            .iter()
            .map(|s| format!("{} {:.4}", s.name, s.mean_error))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let lines: Vec<Line> = names
        .iter()
        .enumerate()
        .map(|(k, name)| Line {
            name: name.clone(),
            // The last point is E6 itself (every target's 70 % training part).
            points: points
                .iter()
                .map(|p| (p.size as f64, p.errors[k].1))
                .chain(
                    full.summaries
                        .iter()
                        .find(|s| &s.name == name)
                        .map(|s| (full.mean_train_images, s.mean_error)),
                )
                .collect(),
            reference: name == "ImageNet probe" || name == "oracle" || name.starts_with("chance"),
        })
        .collect();
    let path = dir.join("E7-size.png");
    line_chart(
        &lines,
        &path,
        &LineChartOptions {
            title: Some("E7: error of the selected expert vs. target training images".into()),
            x_label: "training images per target".into(),
            y_label: "mean test error".into(),
        },
    )
    .with_context(|| format!("drawing {}", path.display()))?;
    let _ = writeln!(out, "![E7](E7-size.png)\n");
    Ok(out)
}
