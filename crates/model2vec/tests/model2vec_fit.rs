//! Model2Vec: the fit's cosine kernel against the embedding crate's, its analytic gradient
//! against central differences, recovery of planted biases, leave-one-target-out selection
//! against the no-bias (plain asymmetric Task2Vec) selection, determinism and save/load.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use task2vec_embedding::{Embedding, Layout, Metric, Provenance, distance};
use task2vec_model2vec::Error;
use task2vec_model2vec::evaluate::selected_errors;
use task2vec_model2vec::model2vec::{
    BiasShape, Model2Vec, Model2VecOptions, leave_one_target_out, testing,
};
use task2vec_model2vec::selectors::{argmin, oracle};

const LAYERS: [(&str, usize); 4] = [("conv1", 40), ("layer1", 60), ("layer2", 50), ("fc", 30)];

fn embedding(name: &str, h: Vec<f64>) -> Embedding {
    let meta = Provenance {
        task: Some(name.to_string()),
        ..Provenance::default()
    };
    Embedding::new(h, None, Layout::new(LAYERS), meta).unwrap()
}

fn dim() -> usize {
    LAYERS.iter().map(|l| l.1).sum()
}

/// Log-normal-ish positive vector: exp(N-ish noise) times a per-layer scale.
fn random_fisher(rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut out = Vec::with_capacity(dim());
    for (l, (_, n)) in LAYERS.iter().enumerate() {
        // Layers differ in scale, as real Fisher values do, but by less than the real orders
        // of magnitude: a scalar bias in units of the overall mean then still acts on every layer.
        let scale = [1.0, 3.0, 0.5, 1.5][l];
        for _ in 0..*n {
            let z: f64 = (0..4).map(|_| rng.random::<f64>() - 0.5).sum::<f64>() * 1.7;
            out.push(scale * z.exp());
        }
    }
    out
}

/// Sources (experts' tasks), targets (each a perturbed mixture of two sources) and t₀.
fn synthetic(
    seed: u64,
    experts: usize,
    targets: usize,
) -> (Vec<Embedding>, Vec<Embedding>, Embedding) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let src: Vec<Vec<f64>> = (0..experts).map(|_| random_fisher(&mut rng)).collect();
    let sources = src
        .iter()
        .enumerate()
        .map(|(i, h)| embedding(&format!("expert{i}"), h.clone()))
        .collect();
    let tgts = (0..targets)
        .map(|t| {
            let (a, b) = (rng.random_range(0..experts), rng.random_range(0..experts));
            let w: f64 = rng.random();
            let h: Vec<f64> = (0..dim())
                .map(|k| {
                    let noise = 0.6 + 0.8 * rng.random::<f64>();
                    (w * src[a][k] + (1.0 - w) * src[b][k]) * noise
                })
                .collect();
            embedding(&format!("target{t}"), h)
        })
        .collect();
    let trivial = embedding("t0", random_fisher(&mut rng));
    (sources, tgts, trivial)
}

/// REF's asymmetric distance of `m_i = max(F_i + β_i·mean(F_i), 0)` (scalar bias) to `t`,
/// computed through the embedding crate (not the fit's kernel).
fn planted_d_asym(
    source: &Embedding,
    beta: f64,
    target: &Embedding,
    t0: &Embedding,
    alpha: f64,
) -> f64 {
    let h = source.hessian();
    let mu = h.sum() / h.len() as f64;
    let m = embedding("m", h.iter().map(|v| (v + beta * mu).max(0.0)).collect());
    distance(&m, target, Metric::Cosine).unwrap()
        - alpha * distance(&m, t0, Metric::Cosine).unwrap()
}

#[test]
fn the_fit_kernel_is_refs_cosine() {
    let (sources, targets, _) = synthetic(1, 3, 3);
    for s in &sources {
        for t in &targets {
            let want = distance(s, t, Metric::Cosine).unwrap();
            let got = testing::kernel_cosine(
                s.hessian().as_slice().unwrap(),
                t.hessian().as_slice().unwrap(),
            );
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
    }
}

#[test]
fn analytic_gradient_matches_central_differences() {
    let (sources, targets, t0) = synthetic(2, 4, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let errors = Array2::from_shape_fn((5, 4), |_| 0.2 + 0.3 * rng.random::<f64>());
    let mut allowed = Array2::from_elem((5, 4), true);
    allowed[(0, 1)] = false;
    let options = Model2VecOptions {
        bias: BiasShape::PerLayer,
        l2: 0.05,
        ..Model2VecOptions::default()
    };
    // Away from 0 and from the clamp (lower bounds are ≤ −0.99·max/mean, far below −0.3).
    let beta: Vec<Vec<f64>> = (0..4)
        .map(|i| {
            (0..LAYERS.len())
                .map(|s| 0.3 * ((i + 2 * s) as f64 % 3.0 - 1.0) + 0.05)
                .collect()
        })
        .collect();
    let log_gamma = 2.5;
    let f = |b: &[Vec<f64>], lg: f64| {
        testing::loss_and_gradient(&sources, &targets, &errors, &allowed, &t0, &options, b, lg)
            .unwrap()
    };
    let (_, grad, grad_lg) = f(&beta, log_gamma);
    let h = 1e-6;
    for i in 0..4 {
        for s in 0..LAYERS.len() {
            let (mut up, mut down) = (beta.clone(), beta.clone());
            up[i][s] += h;
            down[i][s] -= h;
            let numeric = (f(&up, log_gamma).0 - f(&down, log_gamma).0) / (2.0 * h);
            let analytic = grad[i][s];
            assert!(
                (numeric - analytic).abs() <= 1e-6 * numeric.abs().max(1e-3),
                "β[{i}][{s}]: analytic {analytic} vs numeric {numeric}"
            );
        }
    }
    let numeric = (f(&beta, log_gamma + h).0 - f(&beta, log_gamma - h).0) / (2.0 * h);
    assert!(
        (numeric - grad_lg).abs() <= 1e-6 * numeric.abs().max(1e-3),
        "log γ: analytic {grad_lg} vs numeric {numeric}"
    );
}

const PLANTED_BETA: [f64; 6] = [0.0, 0.4, -0.3, 0.2, -0.15, 0.3];
const PLANTED_GAMMA: f64 = 40.0;
const TAU: f64 = 0.01;

/// Errors from the planted model: e = 0.5 + τ·γ·d_asym(m_i → t), so that the fit's target
/// softmax(−e/τ) is exactly the planted model's p(i | t).
fn planted_errors(sources: &[Embedding], targets: &[Embedding], t0: &Embedding) -> Array2<f64> {
    Array2::from_shape_fn((targets.len(), sources.len()), |(t, i)| {
        0.5 + TAU
            * PLANTED_GAMMA
            * planted_d_asym(&sources[i], PLANTED_BETA[i], &targets[t], t0, 0.15)
    })
}

fn planted_options() -> Model2VecOptions {
    Model2VecOptions {
        bias: BiasShape::Scalar,
        error_temperature: TAU,
        l2: 0.0,
        learning_rate: 0.1,
        iterations: 400,
        ..Model2VecOptions::default()
    }
}

#[test]
fn planted_biases_are_recovered() {
    let (sources, targets, t0) = synthetic(4, 6, 40);
    let errors = planted_errors(&sources, &targets, &t0);
    let allowed = Array2::from_elem(errors.dim(), true);
    let model = Model2Vec::fit(
        &sources,
        &targets,
        &errors,
        &allowed,
        &t0,
        &planted_options(),
    )
    .unwrap();
    let p = model.params();
    // What is identifiable: the loss only sees softmax(−γ·d_asym) per target, which is
    // unchanged by adding a constant to every score of a target — but a bias is not such a
    // constant (it changes an expert's distances to different targets differently), so with
    // 40 targets β and γ are pinned down: the planted values are the loss's minimum (q = p,
    // cross-entropy = entropy of q). They are only weakly identified when layer scales differ
    // by orders of magnitude (a scalar bias in units of the overall mean then saturates the
    // small layers, and the loss is flat along it): this test keeps scales within 6×; the
    // default bias is per layer for that reason.
    let recovered: Vec<f64> = p.beta.iter().map(|b| b[0]).collect();
    for (i, (r, w)) in recovered.iter().zip(PLANTED_BETA).enumerate() {
        assert!(
            (r - w).abs() < 0.05,
            "β[{i}] = {r}, planted {w}; all {recovered:?}, γ {}",
            p.gamma
        );
    }
    assert!(
        (p.gamma / PLANTED_GAMMA - 1.0).abs() < 0.1,
        "γ = {}",
        p.gamma
    );
    assert!(p.final_loss < p.initial_loss);
}

#[test]
fn leave_one_target_out_beats_no_bias() {
    let (sources, targets, t0) = synthetic(5, 6, 30);
    let errors = planted_errors(&sources, &targets, &t0);
    let allowed = Array2::from_elem(errors.dim(), true);
    let options = Model2VecOptions {
        iterations: 200,
        ..planted_options()
    };
    let loo = leave_one_target_out(&sources, &targets, &errors, &allowed, &t0, &options).unwrap();
    let no_bias = Array2::from_shape_fn(errors.dim(), |(t, i)| {
        planted_d_asym(&sources[i], 0.0, &targets[t], &t0, 0.15)
    });
    let plain = argmin(&no_bias, &allowed).unwrap();
    let best = oracle(&errors, &allowed).unwrap();
    let mean = |sel: &[usize]| {
        let e = selected_errors(&errors, sel).unwrap();
        e.iter().sum::<f64>() / e.len() as f64
    };
    let (m_loo, m_plain, m_best) = (mean(&loo), mean(&plain), mean(&best));
    assert!(
        m_loo < m_plain,
        "LOO {m_loo} vs no-bias {m_plain} (oracle {m_best})"
    );
    // The planted model is learnable: LOO should find most oracle choices.
    let hits = loo.iter().zip(&best).filter(|(a, b)| a == b).count();
    assert!(
        hits * 10 >= targets.len() * 7,
        "{hits}/{} oracle picks",
        targets.len()
    );
}

#[test]
fn same_inputs_same_bytes_and_save_load_round_trip() {
    let (sources, targets, t0) = synthetic(6, 4, 8);
    let errors = planted_errors(&sources, &targets[..], &t0)
        .slice(ndarray::s![.., ..4])
        .to_owned();
    let mut allowed = Array2::from_elem(errors.dim(), true);
    allowed[(2, 3)] = false;
    let options = Model2VecOptions {
        iterations: 30,
        ..Model2VecOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let m1 = Model2Vec::fit(&sources, &targets, &errors, &allowed, &t0, &options).unwrap();
    let m2 = Model2Vec::fit(&sources, &targets, &errors, &allowed, &t0, &options).unwrap();
    m1.save(&a).unwrap();
    m2.save(&b).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let loaded = Model2Vec::load(&a, &sources, &t0).unwrap();
    assert_eq!(loaded.params(), m1.params());
    assert_eq!(
        loaded.scores(&targets[0]).unwrap(),
        m1.scores(&targets[0]).unwrap()
    );
    let top = m1.select(&targets[0], 2).unwrap();
    let s = m1.scores(&targets[0]).unwrap();
    assert_eq!(top.len(), 2);
    assert!(s[top[0]] <= s[top[1]]);
    // Other sources than the fit's are refused, naming the file.
    let mut swapped = sources.clone();
    swapped.swap(0, 1);
    let err = Model2Vec::load(&a, &swapped, &t0).unwrap_err();
    assert!(
        matches!(err, Error::Json { .. }) && err.to_string().contains("a.json"),
        "{err}"
    );
    std::fs::write(&b, b"{not json").unwrap();
    let err = Model2Vec::load(&b, &sources, &t0).unwrap_err();
    assert!(err.to_string().contains("b.json"), "{err}");
    let err = Model2Vec::load(&dir.path().join("missing.json"), &sources, &t0).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[test]
fn bad_inputs_are_errors() {
    let (sources, targets, t0) = synthetic(7, 3, 4);
    let errors = Array2::from_elem((4, 3), 0.3);
    let allowed = Array2::from_elem((4, 3), true);
    let o = Model2VecOptions::default();
    assert!(
        Model2Vec::fit(
            &sources,
            &targets,
            &errors.slice(ndarray::s![..3, ..]).to_owned(),
            &allowed,
            &t0,
            &o
        )
        .is_err()
    );
    let mut none = allowed.clone();
    none.row_mut(1).fill(false);
    assert!(Model2Vec::fit(&sources, &targets, &errors, &none, &t0, &o).is_err());
    let mut nan = errors.clone();
    nan[(0, 0)] = f64::NAN;
    assert!(Model2Vec::fit(&sources, &targets, &nan, &allowed, &t0, &o).is_err());
    for bad in [
        Model2VecOptions {
            error_temperature: 0.0,
            ..o
        },
        Model2VecOptions {
            alpha: f64::NAN,
            ..o
        },
        Model2VecOptions { l2: -1.0, ..o },
        Model2VecOptions {
            learning_rate: 0.0,
            ..o
        },
    ] {
        assert!(bad.validate().is_err());
        assert!(Model2Vec::fit(&sources, &targets, &errors, &allowed, &t0, &bad).is_err());
    }
    let other = Embedding::from_hessian(vec![1.0; 10], Provenance::default()).unwrap();
    assert!(Model2Vec::fit(&sources, &targets, &errors, &allowed, &other, &o).is_err());
    assert!(
        leave_one_target_out(
            &sources,
            &targets[..1],
            &errors.slice(ndarray::s![..1, ..]).to_owned(),
            &allowed.slice(ndarray::s![..1, ..]).to_owned(),
            &t0,
            &o
        )
        .is_err()
    );
}
