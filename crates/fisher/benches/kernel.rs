//! The per-sample Fisher kernel against the naive alternative (one batch-size-1 backward per
//! sample), on a ResNet-like 3×3 conv block. Run: `cargo bench --workspace --bench kernel`.
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use criterion::{Criterion, criterion_group, criterion_main};
use task2vec_fisher::head::LinearHead;
use task2vec_fisher::kernel::{ConvGeometry, OutputGradTap, WeightLeafTap, per_sample_conv_fisher};
use task2vec_fisher::testing::{ConvSpec, TinyConvNet, random_inputs};
use task2vec_fisher::{BatchNormMode, TappedNetwork};

fn labels(n: usize, device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(
        TensorData::new((0..n as i64).map(|i| i % 4).collect::<Vec<_>>(), [n, 1]),
        &device.clone().autodiff(),
    )
}

fn bench(c: &mut Criterion) {
    let device = Device::flex();
    // Two 3×3 convs of 64 channels on 28×28 (ResNet layer2-like), batch 16.
    let spec = |i, o, s| ConvSpec {
        in_channels: i,
        out_channels: o,
        kernel: 3,
        stride: s,
        padding: 1,
        groups: 1,
    };
    let net = TinyConvNet::new(&[spec(64, 64, 1), spec(64, 64, 1)], 0, &device);
    let n = 16;
    let x = random_inputs([n, 64, 28, 28], 1, &device);
    let head = {
        use rand::SeedableRng;
        LinearHead::init(4, 64, &mut rand_chacha::ChaCha8Rng::seed_from_u64(2))
    };
    let weights = Tensor::<1>::ones([n], &device);

    let mut group = c.benchmark_group("per_sample_fisher_2x_conv64_28x28_batch16");
    group.sample_size(10);
    group.bench_function("kernel (one backward + unfold GEMM)", |b| {
        b.iter(|| {
            let mut tap = OutputGradTap::new(false);
            let logp = log_softmax(head.apply(net.features(x.clone().autodiff(), &mut tap)), 1);
            let loss: Tensor<1> = logp.gather(1, labels(n, &device)).sum().neg();
            let mut grads = loss.backward();
            tap.per_filter(&mut grads, &weights, 8)
        })
    });
    group.bench_function("naive (batch-1 backward per sample)", |b| {
        b.iter(|| {
            (0..n)
                .map(|s| {
                    let mut tap = WeightLeafTap::new(BatchNormMode::Eval, false);
                    let xs = x.clone().narrow(0, s, 1).autodiff();
                    let logp = log_softmax(head.apply(net.features(xs, &mut tap)), 1);
                    let loss: Tensor<1> = logp.gather(1, labels(1, &device)).sum().neg();
                    let grads = loss.backward();
                    tap.squared_per_filter(&grads)
                })
                .count()
        })
    });
    group.finish();

    // The reduction alone (unfold + batched GEMM + square/mean), given a and δ.
    let geometry = ConvGeometry::of(&net.convs[0], [28, 28]);
    let delta = random_inputs([n, 64, 28, 28], 3, &device);
    c.bench_function("reduction_only_conv64_28x28_batch16", |b| {
        b.iter(|| {
            let v = per_sample_conv_fisher(x.clone(), delta.clone(), &geometry, weights.clone(), 8);
            v.into_data()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
