//! The physical limit of this machine for the pipeline's work: single-precision GEMM throughput
//! of the `gemm` crate burn-flex calls (same version, rayon over every core), at the shapes a
//! conv lowers to (`C_out × C_in·k² · positions`), plus large square matrices. Criterion prints
//! the rate as "elem/s" = FLOP/s (2·M·N·K per call). docs/performance.md reports the stages of
//! `embed` as a fraction of the best rate measured here.
//!
//! Run: `cargo bench --workspace --bench gemm_peak` (`RAYON_NUM_THREADS` sets the threads).
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// `(name, m, k, n)`: conv-like shapes of ResNet-18 at 224² (filters × weights per filter ×
/// output positions of one image), then square matrices.
const SHAPES: [(&str, usize, usize, usize); 7] = [
    ("layer1 3x3 64->64 @56x56", 64, 576, 3136),
    ("layer2 3x3 128->128 @28x28", 128, 1152, 784),
    ("layer3 3x3 256->256 @14x14", 256, 2304, 196),
    ("layer4 3x3 512->512 @7x7", 512, 4608, 49),
    ("layer4 x32 images @7x7", 512, 4608, 49 * 32),
    ("square 1024", 1024, 1024, 1024),
    ("square 2048", 2048, 2048, 2048),
];

/// `dst = lhs · rhs`, all row-major, computed by `gemm::gemm` with rayon over all threads.
fn multiply(dst: &mut [f32], lhs: &[f32], rhs: &[f32], m: usize, k: usize, n: usize) {
    assert!(dst.len() == m * n && lhs.len() == m * k && rhs.len() == k * n);
    // SAFETY: the three buffers are exactly m×n, m×k and k×n row-major (checked above), so every
    // element the strides address is in bounds, and `dst` does not alias the inputs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        )
    }
}

fn filled(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / 16_777_216.0
                - 0.5
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    check_multiply();
    let mut group = c.benchmark_group("sgemm");
    group.sample_size(10);
    for (name, m, k, n) in SHAPES {
        let lhs = filled(m * k, 1);
        let rhs = filled(k * n, 2);
        let mut dst = vec![0.0f32; m * n];
        group.throughput(Throughput::Elements((2 * m * n * k) as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &(), |b, _| {
            b.iter(|| multiply(&mut dst, &lhs, &rhs, m, k, n))
        });
    }
    group.finish();
}

/// Checks `multiply` against the definition before timing it, so that a wrong stride convention
/// cannot report a fast wrong GEMM (a bench target's `#[test]`s never run).
fn check_multiply() {
    let (m, k, n) = (3, 4, 5);
    let lhs = filled(m * k, 7);
    let rhs = filled(k * n, 9);
    let mut dst = vec![0.0; m * n];
    multiply(&mut dst, &lhs, &rhs, m, k, n);
    for i in 0..m {
        for j in 0..n {
            let expected: f32 = (0..k).map(|t| lhs[i * k + t] * rhs[t * n + j]).sum();
            let got = dst[i * n + j];
            assert!(
                (got - expected).abs() < 1e-5,
                "gemm[{i},{j}] = {got}, expected {expected}"
            );
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
