//! End-to-end seconds of `Task2Vec::embed` on a real image folder, per stage (caching, head fit,
//! Fisher), for comparison with ci/fisher/bench_torch.py (the same pipeline in PyTorch) on the
//! same machine. Not a criterion bench: one run takes minutes; it prints one JSON line.
//!
//! The data of issue 4's anchor: `python3 ci/fisher/make_bench_folder.py FASHION_MNIST_DIR DIR`
//! (1,000 Fashion-MNIST images, 4 classes). Then, e.g.
//!
//! ```text
//! T2V_BENCH_DATA=DIR T2V_BENCH_PROBE=resnet18 T2V_BENCH_SIZE=224 T2V_BENCH_SKIP=0 \
//!     cargo bench --workspace --bench embed_end_to_end
//! ```
//!
//! `T2V_BENCH_CACHE_BUDGET` (e.g. `0`, `2G`) sets the activation cache's memory budget; the
//! JSON line gives the process's peak resident memory and whether the cache spilled.
//!
//! Without `T2V_BENCH_WEIGHTS` the probe gets deterministic formula weights: timing does not
//! depend on the weights' values (bench_torch.py likewise uses torchvision's random init).
//!
//! It runs the pipeline bench_torch.py implements: no augmentation, the head and the Fisher on
//! every image, one label per image drawn from the model (`T2V_BENCH_DEFAULTS=1` runs
//! `embed`'s defaults instead: augmented views, half the images, four defensive draws). The
//! JSON line also gives each stage's multiply-adds (counted from the probe's convs,
//! `task2vec_fisher::cost`) and the rate they were done at, in GFLOP/s (2 FLOPs per
//! multiply-add), to compare with `cargo bench --workspace --bench gemm_peak`.
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Device;
use task2vec_benches::{bench_data, setting};
use task2vec_data::Dataset;
use task2vec_fisher::activations::parse_cache_budget;
use task2vec_fisher::cost::ProbeCost;
use task2vec_fisher::{
    Augment, DEFAULT_CACHE_BUDGET, EmbedOptions, FisherMethod, LabelProposal, Progress, Task2Vec,
};
use task2vec_probe::{Probe, ProbeKind};

/// Wall time of every stage the pipeline reports.
#[derive(Default)]
struct StageClock {
    current: RefCell<Option<(String, Instant)>>,
    done: RefCell<Vec<(String, f64)>>,
}

impl Progress for StageClock {
    fn start(&self, name: &str, _total: u64) {
        *self.current.borrow_mut() = Some((name.to_string(), Instant::now()));
    }
    fn advance(&self, _steps: u64) {}
    fn finish(&self, summary: &str) {
        if let Some((name, t)) = self.current.borrow_mut().take() {
            let s = t.elapsed().as_secs_f64();
            eprintln!("{name}: {summary} ({s:.1} s)");
            self.done.borrow_mut().push((name, s));
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(data) = bench_data("embed_end_to_end") else {
        return Ok(());
    };
    let kind: ProbeKind = setting("T2V_BENCH_PROBE", "resnet18").parse()?;
    let size: usize = setting("T2V_BENCH_SIZE", "224").parse()?;
    let skip: usize = setting("T2V_BENCH_SKIP", "0").parse()?;
    let method: FisherMethod = setting("T2V_BENCH_METHOD", "montecarlo").parse()?;
    let max_samples: usize = setting("T2V_BENCH_MAX_SAMPLES", "1000").parse()?;
    let device = Device::flex();
    let probe = match std::env::var("T2V_BENCH_WEIGHTS") {
        Ok(w) => Probe::load(kind, Some(&PathBuf::from(w)), &device)?,
        Err(_) => Probe::with_formula_weights(kind, &device)?,
    };
    let dataset = Dataset::open(&PathBuf::from(&data))?;
    let mut options = EmbedOptions {
        method,
        skip_layers: skip,
        max_samples: Some(max_samples),
        input_size: Some(size),
        ..EmbedOptions::default()
    };
    let defaults = setting("T2V_BENCH_DEFAULTS", "0") == "1";
    if !defaults {
        options.augment = Augment::None;
        options.head_split = 0.0;
        options.montecarlo.samples_per_image = 1;
        options.montecarlo.proposal = LabelProposal::Model;
    }
    let budget = match std::env::var("T2V_BENCH_CACHE_BUDGET") {
        Ok(text) => parse_cache_budget(&text)?,
        Err(_) => DEFAULT_CACHE_BUDGET,
    };
    let clock = StageClock::default();
    let start = Instant::now();
    let (embedding, report) = Task2Vec::new(&probe, options.clone(), &device)?
        .with_cache_budget(budget)
        .embed(&dataset, &clock)?;
    let total = start.elapsed().as_secs_f64();
    let stages = clock.done.take();
    let cost = ProbeCost::of(&probe, skip, size, &device);
    let images = report.class_counts.iter().map(|(_, c)| c).sum::<usize>() as f64;
    let draws = (report.fisher_images.len() * options.montecarlo.samples_per_image) as f64;
    // Multiply-adds of the stages whose work the cost model counts.
    let work = |stage: &str| -> Option<f64> {
        if stage.starts_with("caching") {
            Some(images * cost.full_forward() as f64)
        } else if stage == "fisher (montecarlo)" {
            Some(draws * cost.fisher_draw(skip == 0) as f64)
        } else {
            None
        }
    };
    let gflops: serde_json::Map<String, serde_json::Value> = stages
        .iter()
        .filter_map(|(k, s)| work(k).map(|w| (k.clone(), serde_json::json!(2.0 * w / s / 1e9))))
        .collect();
    let macs: serde_json::Map<String, serde_json::Value> = stages
        .iter()
        .filter_map(|(k, _)| work(k).map(|w| (k.clone(), serde_json::json!(w))))
        .collect();
    let stages: serde_json::Map<String, serde_json::Value> = stages
        .into_iter()
        .map(|(k, v)| (k, serde_json::json!(v)))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "probe": kind.name(), "size": size, "skip_layers": skip, "method": method.name(),
            "images": report.class_counts.iter().map(|(_, c)| c).sum::<usize>(),
            "values": embedding.dim(), "stages_s": stages, "total_s": total,
            "defaults": defaults, "multiply_adds": macs, "gflop_per_s": gflops,
            "peak_rss_mib": report.peak_rss_bytes.map(|b| b as f64 / (1u64 << 20) as f64),
            "cache_mib": report.cache.bytes as f64 / (1u64 << 20) as f64,
            "cache_spilled": report.cache.spilled, "cache_budget_mib": budget >> 20,
            "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        })
    );
    Ok(())
}
