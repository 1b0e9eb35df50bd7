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
//! Without `T2V_BENCH_WEIGHTS` the probe gets deterministic formula weights: timing does not
//! depend on the weights' values (bench_torch.py likewise uses torchvision's random init).
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Device;
use task2vec_benches::{bench_data, setting};
use task2vec_data::Dataset;
use task2vec_fisher::{EmbedOptions, FisherMethod, Progress, Task2Vec};
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
    let options = EmbedOptions {
        method,
        skip_layers: skip,
        max_samples: Some(max_samples),
        input_size: Some(size),
        ..EmbedOptions::default()
    };
    let clock = StageClock::default();
    let start = Instant::now();
    let (embedding, report) = Task2Vec::new(&probe, options, &device)?.embed(&dataset, &clock)?;
    let total = start.elapsed().as_secs_f64();
    let stages: serde_json::Map<String, serde_json::Value> = clock
        .done
        .take()
        .into_iter()
        .map(|(k, v)| (k, serde_json::json!(v)))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "probe": kind.name(), "size": size, "skip_layers": skip, "method": method.name(),
            "images": report.class_counts.iter().map(|(_, c)| c).sum::<usize>(),
            "values": embedding.dim(), "stages_s": stages, "total_s": total,
            "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        })
    );
    Ok(())
}
