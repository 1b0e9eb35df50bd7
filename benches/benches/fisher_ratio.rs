//! CI's regression guard: the per-sample Fisher stage against one plain forward+backward over
//! the same images, in one run, as the median of pairwise ratios (immune to the machine's
//! speed), checked against the bound committed in `ci/perf/fisher-ratio.toml`. Exits non-zero
//! past the bound.
//!
//! Run: `cargo bench --workspace --profile dev --bench fisher_ratio` (CI reuses the test
//! build that way); `T2V_RATIO_CONFIG` points at another config.
use std::time::Instant;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use task2vec_benches::{another_bench_named, median, setting};
use task2vec_fisher::estimator::{FisherTask, label_tensor, montecarlo};
use task2vec_fisher::head::LinearHead;
use task2vec_fisher::kernel::WeightLeafTap;
use task2vec_fisher::options::MonteCarloOptions;
use task2vec_fisher::sampler::uniform_weights;
use task2vec_fisher::testing::random_inputs;
use task2vec_fisher::{BatchNormMode, LabelProposal, ProbeTail, Silent, TappedNetwork};
use task2vec_probe::{Probe, ProbeKind};

#[derive(serde::Deserialize)]
struct Config {
    probe: String,
    input_size: usize,
    images: usize,
    batch_size: usize,
    repeats: usize,
    max_ratio: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if another_bench_named() {
        return Ok(());
    }
    let path = setting(
        "T2V_RATIO_CONFIG",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/perf/fisher-ratio.toml"),
    );
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let config: Config = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let device = Device::flex();
    let kind: ProbeKind = config.probe.parse()?;
    let probe = Probe::with_formula_weights(kind, &device)?;
    let s = config.input_size;
    let n = config.images;
    let inputs = random_inputs([n, 3, s, s], 1, &device);
    let labels: Vec<usize> = (0..n).map(|i| i % 4).collect();
    let head = LinearHead::init(
        4,
        probe.feature_dim(),
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(2),
    );
    let weights = uniform_weights(n);
    let network = ProbeTail {
        probe: &probe,
        split: 0,
    };
    let task = FisherTask {
        network: &network,
        head: &head,
        inputs: &inputs,
        labels: &labels,
        sample_weights: &weights,
    };
    let options = MonteCarloOptions {
        samples_per_image: 1,
        epochs: 1,
        proposal: LabelProposal::Model,
    };
    let fisher = || -> Result<f64, Box<dyn std::error::Error>> {
        let t = Instant::now();
        montecarlo::estimate(&task, &options, config.batch_size, false, 0, &Silent)?;
        Ok(t.elapsed().as_secs_f64())
    };
    // What a training step computes: every conv weight a leaf, the loss of the given labels,
    // one backward (input and weight gradients), the weight gradients read back.
    let plain = || -> f64 {
        let t = Instant::now();
        let mut start = 0;
        while start < n {
            let len = config.batch_size.min(n - start);
            let mut tap = WeightLeafTap::new(BatchNormMode::Eval, false);
            let x = inputs.clone().narrow(0, start, len).autodiff();
            let log_probs = log_softmax(head.apply(network.features(x, &mut tap)), 1);
            let targets = label_tensor(&labels[start..start + len], &log_probs);
            let loss: Tensor<1> = log_probs.gather(1, targets).sum().neg();
            let grads = loss.backward();
            for (_, g) in tap.squared_per_filter(&grads) {
                let _ = g.into_data();
            }
            start += len;
        }
        t.elapsed().as_secs_f64()
    };
    fisher()?; // warm up both (allocator, thread pool)
    plain();
    // The ratio of each adjacent pair, then their median: the machine's speed drifts between
    // pairs, far less within one.
    let (mut f, mut p, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..config.repeats {
        let plain_s = plain();
        let fisher_s = fisher()?;
        ratios.push(fisher_s / plain_s);
        p.push(plain_s);
        f.push(fisher_s);
    }
    let (f, p, ratio) = (median(f), median(p), median(ratios));
    println!(
        "{}",
        serde_json::json!({
            "probe": config.probe, "input_size": s, "images": n, "batch_size": config.batch_size,
            "fisher_s": f, "plain_forward_backward_s": p, "ratio": ratio,
            "max_ratio": config.max_ratio,
        })
    );
    if ratio > config.max_ratio {
        return Err(format!(
            "the Fisher stage takes {ratio:.2}x a plain forward+backward, past the bound {} \
             of {path}",
            config.max_ratio
        )
        .into());
    }
    Ok(())
}
