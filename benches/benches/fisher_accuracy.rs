//! Accuracy vs images used: how well `montecarlo` (per-sample, ours) and `montecarlo-batch`
//! (REF's squared batch gradients, batch 64) estimated from N images agree with a converged
//! `exact` Fisher (Σ_y p(y|x)·g_y² over all images) over the same layers, as N grows. Also the
//! `exact` Fisher of the same N images: the best any estimator can do with N images.
//!
//! One head is fitted (REF defaults) on all images and shared by every estimate, so the only
//! differences are the estimators and the images. Prints a table and one JSON line per cell:
//! Pearson r of the per-filter values, Spearman ρ, mean over `T2V_BENCH_REPEATS` seeds.
//!
//! ```text
//! T2V_BENCH_DATA=DIR T2V_BENCH_PROBE=efficientnet-lite0 T2V_BENCH_SIZE=64 \
//!     cargo bench --workspace --bench fisher_accuracy
//! ```
//! BatchNorm is in eval mode and γ excluded for every estimator (same parameters everywhere).
use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Device;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use task2vec_benches::{bench_data, setting};
use task2vec_data::Dataset;
use task2vec_embedding::stats::{pearson, spearman};
use task2vec_fisher::estimator::{FisherTask, batch, exact, montecarlo};
use task2vec_fisher::head::fit_head;
use task2vec_fisher::options::{BatchEstimatorOptions, MonteCarloOptions, SamplerOptions};
use task2vec_fisher::sampler::balanced_weights;
use task2vec_fisher::{BatchNormMode, EmbedOptions, LabelProposal, ProbeTail, Silent, Task2Vec};
use task2vec_probe::{Probe, ProbeKind};

const REF_DEFAULT: &str = "montecarlo-batch, 10,000 draws (REF default)";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(data) = bench_data("fisher_accuracy") else {
        return Ok(());
    };
    let kind: ProbeKind = setting("T2V_BENCH_PROBE", "efficientnet-lite0").parse()?;
    let size: usize = setting("T2V_BENCH_SIZE", "64").parse()?;
    let skip: usize = setting("T2V_BENCH_SKIP", "0").parse()?;
    let repeats: u64 = setting("T2V_BENCH_REPEATS", "3").parse()?;
    let max_samples: usize = setting("T2V_BENCH_MAX_SAMPLES", "1000").parse()?;
    let sizes: Vec<usize> = setting("T2V_BENCH_N", "64,128,256,512,1000")
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let device = Device::flex();
    let weights = std::env::var("T2V_BENCH_WEIGHTS").ok().map(PathBuf::from);
    let probe = Probe::load(kind, weights.as_deref(), &device)?;
    let options = EmbedOptions {
        skip_layers: skip,
        max_samples: Some(max_samples),
        input_size: Some(size),
        ..EmbedOptions::default()
    };
    let pipeline = Task2Vec::new(&probe, options.clone(), &device)?;
    let dataset = pipeline.select(&Dataset::open(&PathBuf::from(&data))?)?;
    let cache = pipeline.cache(&dataset, &Silent)?;
    let classes = dataset.classes().len();
    let head = fit_head(
        &cache.features,
        &cache.labels,
        classes,
        &options.head,
        0,
        &Silent,
    )?;
    eprintln!(
        "{} images, {classes} classes; head train error {:.3}",
        cache.labels.len(),
        head.error
    );
    let network = ProbeTail {
        probe: &probe,
        split: skip,
    };
    let subset_task = |idx: &[usize]| {
        cache
            .gather_activations(idx)
            .expect("rows of the cache just made")
    };
    let all: Vec<usize> = (0..cache.labels.len()).collect();
    let (inputs, labels) = subset_task(&all);
    let weights = balanced_weights(&labels);
    let t = Instant::now();
    // Every image, class-balanced: the reference's task and REF's default's.
    let full_task = FisherTask {
        network: &network,
        head: &head.head,
        inputs: &inputs,
        labels: &labels,
        sample_weights: &weights,
    };
    let reference = exact::estimate(&full_task, 32, false, &Silent)?.hessian();
    eprintln!(
        "reference: exact on {} images ({:.1} s)",
        labels.len(),
        t.elapsed().as_secs_f64()
    );

    println!("| N | estimator | Pearson r | Spearman ρ | seconds |");
    println!("|---|---|---|---|---|");
    for &n in sizes.iter().filter(|&&n| n <= all.len()) {
        let mut rows: Vec<(&str, f64, f64, f64)> = Vec::new();
        for seed in 0..repeats {
            let mut idx = all.clone();
            idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1000 + seed));
            idx.truncate(n);
            idx.sort_unstable();
            let (inputs, labels) = subset_task(&idx);
            let weights = balanced_weights(&labels);
            let task = FisherTask {
                network: &network,
                head: &head.head,
                inputs: &inputs,
                labels: &labels,
                sample_weights: &weights,
            };
            let mut run = |name, f: &dyn Fn() -> task2vec_fisher::Result<Vec<f64>>| {
                let t = Instant::now();
                let v = f()?;
                let secs = t.elapsed().as_secs_f64();
                rows.push((
                    name,
                    pearson(&v, &reference)?,
                    spearman(&v, &reference)?,
                    secs,
                ));
                Ok::<_, Box<dyn std::error::Error>>(())
            };
            run("montecarlo", &|| {
                Ok(montecarlo::estimate(
                    &task,
                    &MonteCarloOptions::default(),
                    32,
                    false,
                    seed,
                    &Silent,
                )?
                .hessian())
            })?;
            run("montecarlo, defensive proposal", &|| {
                let o = MonteCarloOptions {
                    proposal: LabelProposal::Defensive,
                    ..MonteCarloOptions::default()
                };
                Ok(montecarlo::estimate(&task, &o, 32, false, seed, &Silent)?.hessian())
            })?;
            run("montecarlo-batch", &|| {
                let o = BatchEstimatorOptions {
                    epochs: 1,
                    sampler: SamplerOptions {
                        draws_per_epoch: n,
                        batch_size: 64,
                    },
                };
                Ok(
                    batch::estimate(&task, &o, BatchNormMode::Eval, false, seed, &Silent)?
                        .hessian(),
                )
            })?;
            if seed == 0 {
                run("exact (same N images)", &|| {
                    Ok(exact::estimate(&task, 32, false, &Silent)?.hessian())
                })?;
            }
        }
        if n == all.len() && std::env::var("T2V_BENCH_SKIP_REF").is_err() {
            // REF's default: the batch estimator over 10,000 class-balanced draws (156 batches
            // of 64) from all images — ten gradient passes per image instead of one.
            for seed in 0..repeats {
                let t = Instant::now();
                let o = BatchEstimatorOptions::default();
                let v = batch::estimate(&full_task, &o, BatchNormMode::Eval, false, seed, &Silent)?
                    .hessian();
                rows.push((
                    REF_DEFAULT,
                    pearson(&v, &reference)?,
                    spearman(&v, &reference)?,
                    t.elapsed().as_secs_f64(),
                ));
            }
        }
        for name in [
            "montecarlo",
            "montecarlo, defensive proposal",
            "montecarlo-batch",
            "exact (same N images)",
            REF_DEFAULT,
        ] {
            let cells: Vec<_> = rows.iter().filter(|r| r.0 == name).collect();
            if cells.is_empty() {
                continue;
            }
            let k = cells.len() as f64;
            let mean = |f: fn(&&(&str, f64, f64, f64)) -> f64| cells.iter().map(f).sum::<f64>() / k;
            let (r, rho, s) = (mean(|c| c.1), mean(|c| c.2), mean(|c| c.3));
            println!("| {n} | {name} | {r:.4} | {rho:.4} | {s:.1} |");
            eprintln!(
                "{}",
                serde_json::json!({"n": n, "estimator": name, "pearson": r, "spearman": rho,
                    "seconds": s, "repeats": cells.len(), "probe": kind.name(), "size": size})
            );
        }
    }
    Ok(())
}
