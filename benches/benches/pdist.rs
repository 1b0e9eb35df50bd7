//! Distance-matrix throughput of task2vec-embedding.
//!
//! `pdist_metrics`: every metric on 64 embeddings of ResNet-34 Monte-Carlo size (17,024).
//! `pdist_paper_scale`: the paper's collection, 1,460 embeddings × 17,024 values, `cosine`
//! (the paper's symmetric distance): 1,065,070 pairs.
//!
//! Run: `cargo bench --workspace --bench pdist` (a few minutes; sample counts are the criterion
//! minimum). Always `--workspace`: selecting a package with `-p` unifies burn's features
//! differently and rebuilds the whole burn stack.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array1;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use task2vec_embedding::{Embedding, Layout, Metric, Provenance, pdist};

const DIM: usize = 17_024;

/// Log-uniform Fisher values around REF's Monte-Carlo scale, seeded.
fn embeddings(n: usize, seed: u64) -> Vec<Embedding> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let h: Array1<f64> = (0..DIM)
                .map(|_| 10f64.powf(rng.random_range(-9.0..-3.0)))
                .collect();
            let meta = Provenance {
                task: Some(format!("task{i}")),
                ..Provenance::default()
            };
            Embedding::new(h, None, Layout::single("all", DIM), meta).expect("valid embedding")
        })
        .collect()
}

fn metrics(c: &mut Criterion) {
    let embs = embeddings(64, 1);
    let mut g = c.benchmark_group("pdist_metrics_64x17024");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for metric in Metric::ALL {
        g.bench_function(metric.name(), |b| b.iter(|| pdist(&embs, metric).unwrap()));
    }
    g.finish();
}

fn paper_scale(c: &mut Criterion) {
    let embs = embeddings(1460, 2);
    let mut g = c.benchmark_group("pdist_paper_scale");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(30));
    g.bench_function("cosine_1460x17024", |b| {
        b.iter(|| pdist(&embs, Metric::Cosine).unwrap())
    });
    g.finish();
}

criterion_group!(benches, metrics, paper_scale);
criterion_main!(benches);
