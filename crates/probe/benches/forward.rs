//! Forward throughput (images/s) of every probe at 64² and 224², batch 32, on Flex.
//! The same computation in PyTorch: ci/probe/bench_forward.py.
//! Run: `cargo bench --workspace --bench forward` (not `-p task2vec-probe`: another package
//! selection unifies burn's features differently and rebuilds the whole burn stack).
use burn::tensor::{Device, Distribution, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use task2vec_probe::{Probe, ProbeKind};

const BATCH: usize = 32;

fn forward(c: &mut Criterion) {
    let device = Device::flex();
    let mut group = c.benchmark_group("probe_forward");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH as u64));
    for kind in ProbeKind::ALL {
        // Throughput does not depend on the weights' values.
        let probe = Probe::with_formula_weights(kind, &device).expect("formula weights");
        for size in [64usize, 224] {
            let x = Tensor::<4>::random(
                [BATCH, 3, size, size],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            group.bench_function(format!("{}/{size}", kind.name()), |b| {
                b.iter(|| {
                    let logits = probe.logits(x.clone());
                    // Force the computation (backends may be lazy).
                    logits.into_data()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
