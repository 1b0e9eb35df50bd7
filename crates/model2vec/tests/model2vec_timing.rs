//! The cost of Model2Vec at the paper's scale: a leave-one-target-out evaluation (40 fits) on
//! 40 targets × 12 experts with embeddings of 13,000 and 21,000 entries. Run by hand (it is a
//! measurement, not a check):
//! `cargo test -p task2vec-model2vec --no-default-features --release --test model2vec_timing
//!  -- --ignored --nocapture`

use std::time::Instant;

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use task2vec_embedding::{Embedding, Layout, Provenance};
use task2vec_model2vec::model2vec::{Model2Vec, Model2VecOptions, leave_one_target_out};

fn embedding(name: &str, layout: &Layout, rng: &mut ChaCha8Rng) -> Embedding {
    let h: Vec<f64> = (0..layout.dim())
        .map(|_| (3.0 * (rng.random::<f64>() - 0.5)).exp())
        .collect();
    let meta = Provenance {
        task: Some(name.to_string()),
        ..Provenance::default()
    };
    Embedding::new(h, None, layout.clone(), meta).unwrap()
}

#[test]
#[ignore = "a measurement; run by hand with --ignored --nocapture"]
fn loo_40_targets_12_experts() {
    for (layers, width) in [(26, 500), (35, 600)] {
        let layout = Layout::new((0..layers).map(|l| (format!("layer{l}"), width)));
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let sources: Vec<Embedding> = (0..12)
            .map(|i| embedding(&format!("e{i}"), &layout, &mut rng))
            .collect();
        let targets: Vec<Embedding> = (0..40)
            .map(|t| embedding(&format!("t{t}"), &layout, &mut rng))
            .collect();
        let trivial = embedding("t0", &layout, &mut rng);
        let errors = Array2::from_shape_fn((40, 12), |_| 0.1 + 0.4 * rng.random::<f64>());
        let mut allowed = Array2::from_elem((40, 12), true);
        for t in 0..12 {
            allowed[(t, t)] = false;
        }
        let options = Model2VecOptions::default();
        let start = Instant::now();
        Model2Vec::fit(&sources, &targets, &errors, &allowed, &trivial, &options).unwrap();
        let one = start.elapsed();
        let start = Instant::now();
        leave_one_target_out(&sources, &targets, &errors, &allowed, &trivial, &options).unwrap();
        let loo = start.elapsed();
        println!(
            "dim {}: one fit {:.2} s, leave-one-target-out (40 fits) {:.2} s, {} threads, {} iterations",
            layout.dim(),
            one.as_secs_f64(),
            loo.as_secs_f64(),
            rayon::current_num_threads(),
            options.iterations
        );
    }
}
