//! Where the time of `embed` goes, per phase and per conv (docs/performance.md): one batch of
//! random images at the split point, timed phase by phase (the CPU backend runs synchronously,
//! so wall time per call is the op's time):
//!
//! * the gradient-free forward (caching);
//! * the Fisher stage's three parts: the tapped forward on the autodiff device, the backward to
//!   every conv output, the per-sample kernel;
//! * a plain training-style forward+backward (input and weight gradients), the yardstick;
//! * per conv: burn's conv forward and the kernel, each with its multiply-adds and GFLOP/s.
//!
//! Every phase's GFLOP/s counts the multiply-adds of `task2vec_fisher::cost::ProbeCost`.
//!
//! Prints one JSON object. Run: `T2V_BENCH_PROBE=resnet18 T2V_BENCH_SIZE=224
//! cargo bench --workspace --bench stage_profile`.
use std::time::Instant;

use burn::nn::conv::Conv2d;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use task2vec_benches::{another_bench_named, median, setting};
use task2vec_fisher::cost::ProbeCost;
use task2vec_fisher::estimator::label_tensor;
use task2vec_fisher::head::LinearHead;
use task2vec_fisher::kernel::per_sample_conv_fisher;
use task2vec_fisher::kernel::{ConvGeometry, OutputGradTap, WeightLeafTap};
use task2vec_fisher::testing::random_inputs;
use task2vec_fisher::{BatchNormMode, ProbeTail, TappedNetwork};
use task2vec_probe::{LayerTap, PassThrough, Probe, ProbeKind};

/// Median seconds of `repeats` calls of `f`.
fn time(repeats: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..repeats)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// Records every conv's layer, geometry and input size.
#[derive(Default)]
struct Recorder {
    convs: Vec<(usize, Conv2d, [usize; 4])>,
}

impl LayerTap for Recorder {
    fn conv(&mut self, index: usize, conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
        self.convs.push((index, conv.clone(), input.dims()));
        conv.forward(input)
    }
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if another_bench_named() {
        return Ok(());
    }
    let kind: ProbeKind = setting("T2V_BENCH_PROBE", "resnet18").parse()?;
    let size: usize = setting("T2V_BENCH_SIZE", "224").parse()?;
    let batch: usize = setting("T2V_BENCH_BATCH", "32").parse()?;
    let repeats: usize = setting("T2V_BENCH_REPEATS", "3").parse()?;
    let device = Device::flex();
    let probe = Probe::with_formula_weights(kind, &device)?;
    let x = random_inputs([batch, 3, size, size], 1, &device);
    let head = LinearHead::init(
        4,
        probe.feature_dim(),
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(2),
    );
    let network = ProbeTail {
        probe: &probe,
        split: 0,
    };
    let labels: Vec<usize> = (0..batch).map(|i| i % 4).collect();
    let weights = Tensor::<1>::ones([batch], &device);

    // Each phase's multiply-adds per image, from the cost model (the split is the input).
    let cost = ProbeCost::of(&probe, 0, size, &device);
    let work = |name: &str| match name {
        "forward, no grad" => cost.full_forward(),
        "fisher: tapped forward (autodiff)" => cost.tail_forward(),
        "fisher: backward to conv outputs" => cost.backward_data(true),
        "fisher: per-sample kernel" => cost.kernel(),
        "plain forward+backward (weight grads)" => cost.plain_forward_backward(true),
        other => unreachable!("no cost model for phase `{other}`"),
    };
    let mut phases = serde_json::Map::new();
    let mut rates = serde_json::Map::new();
    let mut phase = |name: &str, s: f64| {
        let gflops = 2.0 * (batch as u64 * work(name)) as f64 / s / 1e9;
        eprintln!("{name}: {s:.3} s, {gflops:.1} GFLOP/s");
        phases.insert(name.into(), serde_json::json!(s));
        rates.insert(name.into(), serde_json::json!(gflops));
    };
    phase(
        "forward, no grad",
        time(repeats, || {
            drop(host(probe.features_from(0, x.clone(), &mut PassThrough)))
        }),
    );
    // The loss of the batch's labels through `tap`, on the autodiff device.
    let loss_of = |tap: &mut dyn LayerTap| -> Tensor<1> {
        let log_probs = log_softmax(head.apply(network.features(x.clone().autodiff(), tap)), 1);
        let targets = label_tensor(&labels, &log_probs);
        log_probs.gather(1, targets).sum().neg()
    };
    // The Fisher stage's parts, on one batch, as montecarlo runs them.
    let (mut fwd, mut bwd, mut ker) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeats {
        let t = Instant::now();
        let mut tap = OutputGradTap::new(false);
        let loss = loss_of(&mut tap);
        let _ = host(loss.clone().inner());
        fwd.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut grads = loss.backward();
        bwd.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for (_, v) in tap.per_filter(&mut grads, &weights, batch) {
            let _ = host(v);
        }
        ker.push(t.elapsed().as_secs_f64());
    }
    phase("fisher: tapped forward (autodiff)", median(fwd));
    phase("fisher: backward to conv outputs", median(bwd));
    phase("fisher: per-sample kernel", median(ker));
    phase(
        "plain forward+backward (weight grads)",
        time(repeats, || {
            let mut tap = WeightLeafTap::new(BatchNormMode::Eval, false);
            let grads = loss_of(&mut tap).backward();
            for (_, g) in tap.squared_per_filter(&grads) {
                let _ = host(g);
            }
        }),
    );

    // Per conv, on random inputs and output gradients of the layer's shapes; the multiply-adds
    // and the kernel's path are the cost model's (`task2vec_fisher::cost`).
    let mut recorder = Recorder::default();
    let _ = probe.features_from(0, x.clone().narrow(0, 0, 1), &mut recorder);
    assert_eq!(cost.after_split.len(), recorder.convs.len());
    let mut layers = Vec::new();
    for ((index, conv, [_, c, h, w]), conv_cost) in
        recorder.convs.into_iter().zip(&cost.after_split)
    {
        assert_eq!(index, conv_cost.index);
        let name = probe.conv_layout()[index].name.clone();
        let g = ConvGeometry::of(&conv, [h, w]);
        let a = random_inputs([batch, c, h, w], 3, &device);
        let out = conv.forward(a.clone());
        let [_, c_out, ho, wo] = out.dims();
        let delta = random_inputs([batch, c_out, ho, wo], 4, &device);
        let macs = (batch as u64 * conv_cost.forward) as f64;
        let kernel_macs = (batch as u64 * conv_cost.kernel) as f64;
        let path = conv_cost
            .path
            .map_or_else(|| "depthwise".to_string(), |p| format!("{p:?}"));
        let forward_s = time(repeats, || drop(host(conv.forward(a.clone()))));
        let kernel_s = time(repeats, || {
            drop(host(per_sample_conv_fisher(
                a.clone(),
                delta.clone(),
                &g,
                weights.clone(),
                batch,
            )))
        });
        let gflops = |m: f64, s: f64| 2.0 * m / s / 1e9;
        eprintln!(
            "{name:28} {path:9} forward {:6.1} kernel {:6.1} GFLOP/s",
            gflops(macs, forward_s),
            gflops(kernel_macs, kernel_s)
        );
        layers.push(serde_json::json!({
            "layer": name, "input": [c, h, w], "output": [c_out, ho, wo], "groups": g.groups,
            "path": path, "forward_macs": macs, "kernel_macs": kernel_macs,
            "forward_s": forward_s, "kernel_s": kernel_s,
        }));
    }
    println!(
        "{}",
        serde_json::json!({
            "probe": kind.name(), "size": size, "batch": batch, "phases_s": phases,
            "phases_gflop_per_s": rates,
            "layers": layers,
        })
    );
    Ok(())
}
