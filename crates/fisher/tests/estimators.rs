//! Estimator tests on tiny nets against independent oracles: a closed-form Fisher, a naive
//! per-sample autodiff loop, and statistical agreement between the estimators.
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use task2vec_fisher::estimator::{FisherTask, batch, exact, montecarlo};
use task2vec_fisher::head::LinearHead;
use task2vec_fisher::kernel::{OutputGradTap, WeightLeafTap};
use task2vec_fisher::options::{BatchEstimatorOptions, MonteCarloOptions, SamplerOptions};
use task2vec_fisher::sampler::{balanced_weights, uniform_weights};
use task2vec_fisher::testing::{ConvSpec, LinearConvNet, TinyConvNet, random_inputs};
use task2vec_fisher::{BatchNormMode, LabelProposal, SegmentKey, Silent, TappedNetwork};

fn host(t: Tensor<4>) -> Vec<f64> {
    t.inner()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

fn identity_head(k: usize) -> LinearHead {
    let mut weight = vec![0.0; k * k];
    for i in 0..k {
        weight[i * k + i] = 1.0;
    }
    LinearHead {
        classes: k,
        dim: k,
        weight,
        bias: vec![0.0; k],
    }
}

fn seeded_head(classes: usize, dim: usize, seed: u64) -> LinearHead {
    use rand::SeedableRng;
    // Larger weights than torch's init so that p(y|x) is far from uniform.
    let mut h = LinearHead::init(
        classes,
        dim,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed),
    );
    h.weight.iter_mut().for_each(|w| *w *= 4.0);
    h
}

fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// Closed form for a softmax-linear model z = W f̃ (one conv + global average pooling; f̃ is
/// the conv's unfolded input averaged over output positions, so z_k = Σ_m W[k,m] f̃_m).
///
/// ℓ(y) = −log p_y, p = softmax(z), so ∂ℓ/∂W[k,m] = (p_k − [y=k]) f̃_m and
/// E_{y∼p} (p_k − [y=k])² = Σ_y p_y (p_k² − 2 p_k [y=k] + [y=k]) = p_k² − 2p_k² + p_k = p_k(1 − p_k).
/// Hence diag F[k,m] = E_x p_k(1−p_k) f̃_m² — the diagonal of E_x[(diag(p) − ppᵀ) ⊗ f̃f̃ᵀ] —
/// and the per-filter value is its mean over m. Computed here with plain f64 loops, sharing no
/// code with the estimator.
#[test]
fn exact_matches_the_closed_form_of_a_softmax_linear_model() {
    let device = Device::flex();
    let (c_in, k, h, w) = (2usize, 3usize, 4usize, 4usize);
    let spec = ConvSpec {
        in_channels: c_in,
        out_channels: k,
        kernel: 3,
        stride: 1,
        padding: 1,
        groups: 1,
    };
    let net = LinearConvNet::new(spec, 11, &device);
    let n = 6;
    let inputs = random_inputs([n, c_in, h, w], 12, &device);
    let labels = [0, 1, 2, 0, 1, 2];
    let head = identity_head(k);
    let weights = uniform_weights(n);
    let task = FisherTask {
        network: &net,
        head: &head,
        inputs: &inputs,
        labels: &labels,
        sample_weights: &weights,
    };
    let estimate = exact::estimate(&task, 4, false, &Silent).unwrap();

    // Independent computation.
    let x = host(inputs.clone());
    let wt = host(net.conv.weight.val());
    let m_len = c_in * 9;
    let at = |s: usize, c: usize, i: isize, j: isize| -> f64 {
        if i < 0 || j < 0 || i >= h as isize || j >= w as isize {
            0.0
        } else {
            x[((s * c_in + c) * h + i as usize) * w + j as usize]
        }
    };
    let mut expected = vec![0.0; k];
    for s in 0..n {
        let mut f = vec![0.0; m_len];
        for c in 0..c_in {
            for ki in 0..3 {
                for kj in 0..3 {
                    let mut sum = 0.0;
                    for oi in 0..h {
                        for oj in 0..w {
                            sum += at(
                                s,
                                c,
                                oi as isize + ki as isize - 1,
                                oj as isize + kj as isize - 1,
                            );
                        }
                    }
                    f[(c * 3 + ki) * 3 + kj] = sum / (h * w) as f64;
                }
            }
        }
        let z: Vec<f64> = (0..k)
            .map(|r| (0..m_len).map(|m| wt[r * m_len + m] * f[m]).sum())
            .collect();
        let zmax = z.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - zmax).exp()).collect();
        let total: f64 = e.iter().sum();
        for r in 0..k {
            let p = e[r] / total;
            let mean_f2 = f.iter().map(|v| v * v).sum::<f64>() / m_len as f64;
            expected[r] += p * (1.0 - p) * mean_f2 / n as f64;
        }
    }
    let got = estimate.hessian();
    let diff = max_rel_diff(&got, &expected);
    assert!(
        diff < 1e-5,
        "exact {got:?} vs closed form {expected:?} (rel diff {diff:e})"
    );
}

/// The kernel (one backward for the batch) against the naive oracle: a batch-size-1 backward
/// per sample with the conv weights (and BN γ) as leaves, squared, weighted and summed.
#[test]
fn per_sample_kernel_equals_a_naive_per_sample_loop() {
    let device = Device::flex();
    let net = TinyConvNet::new(&TinyConvNet::default_specs(), 3, &device);
    let n = 5;
    let inputs = random_inputs([n, 3, 9, 7], 4, &device);
    let head = seeded_head(4, net.feature_dim(), 5);
    let labels: Vec<usize> = vec![0, 3, 1, 2, 3];
    let weights = [0.1, 0.3, 0.2, 0.15, 0.25];

    let label_t = |ys: &[usize]| {
        Tensor::<2, Int>::from_data(
            TensorData::new(
                ys.iter().map(|&y| y as i64).collect::<Vec<_>>(),
                [ys.len(), 1],
            ),
            &device.clone().autodiff(),
        )
    };
    // Kernel.
    let mut tap = OutputGradTap::new(true);
    let logp = log_softmax(
        head.apply(net.features(inputs.clone().autodiff(), &mut tap)),
        1,
    );
    let loss: Tensor<1> = logp.gather(1, label_t(&labels)).sum().neg();
    let mut grads = loss.backward();
    let w = Tensor::<1>::from_data(
        TensorData::new(weights.iter().map(|&v| v as f32).collect::<Vec<_>>(), [n]),
        &device,
    );
    let kernel: Vec<(SegmentKey, Vec<f64>)> = tap
        .per_filter(&mut grads, &w, 2)
        .into_iter()
        .map(|(k, t)| (k, host(t.reshape([-1, 1, 1, 1]))))
        .collect();

    // Naive loop.
    let mut naive: Vec<Vec<f64>> = Vec::new();
    for s in 0..n {
        let mut tap = WeightLeafTap::new(BatchNormMode::Eval, true);
        let x = inputs.clone().narrow(0, s, 1).autodiff();
        let logp = log_softmax(head.apply(net.features(x, &mut tap)), 1);
        let loss: Tensor<1> = logp.gather(1, label_t(&labels[s..s + 1])).sum().neg();
        let grads = loss.backward();
        for (i, (_, v)) in tap.squared_per_filter(&grads).into_iter().enumerate() {
            let v = host(v.reshape([-1, 1, 1, 1]));
            if naive.len() <= i {
                naive.push(vec![0.0; v.len()]);
            }
            for (a, b) in naive[i].iter_mut().zip(v) {
                *a += weights[s] * b;
            }
        }
    }
    assert_eq!(kernel.len(), 8, "4 convs + 4 BN γ");
    for ((key, k), nv) in kernel.iter().zip(&naive) {
        let diff = max_rel_diff(k, nv);
        assert!(
            diff < 1e-5,
            "{key:?}: kernel {k:?} vs naive {nv:?} (rel diff {diff:e})"
        );
    }
}

/// `exact` is the expectation of `montecarlo` over the sampled labels. Over R independent runs,
/// each filter's mean has standard error s/√R (s = sample sd across runs); by the CLT the
/// standardised difference is ≈ N(0,1), so |mean − exact| ≤ 4.5·s/√R for all filters fails
/// by chance with probability < 24 filters × 7e-6.
#[test]
fn montecarlo_averages_to_exact_within_its_standard_error() {
    let device = Device::flex();
    let net = TinyConvNet::new(&TinyConvNet::default_specs(), 21, &device);
    let n = 6;
    let inputs = random_inputs([n, 3, 6, 6], 22, &device);
    let labels = [0, 1, 2, 0, 1, 2];
    let head = seeded_head(3, net.feature_dim(), 23);
    let weights = balanced_weights(&labels);
    let task = FisherTask {
        network: &net,
        head: &head,
        inputs: &inputs,
        labels: &labels,
        sample_weights: &weights,
    };
    let exact = exact::estimate(&task, 3, false, &Silent).unwrap().hessian();
    let runs = 150;
    // Both label proposals are unbiased estimates of the same Fisher.
    for proposal in [LabelProposal::Model, LabelProposal::Defensive] {
        let options = MonteCarloOptions {
            proposal,
            ..MonteCarloOptions::default()
        };
        let samples: Vec<Vec<f64>> = (0..runs)
            .map(|seed| {
                montecarlo::estimate(&task, &options, 6, false, seed, &Silent)
                    .unwrap()
                    .hessian()
            })
            .collect();
        for f in 0..exact.len() {
            let xs: Vec<f64> = samples.iter().map(|s| s[f]).collect();
            let mean = xs.iter().sum::<f64>() / runs as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (runs - 1) as f64;
            let se = (var / runs as f64).sqrt();
            assert!(
                (mean - exact[f]).abs() <= 4.5 * se + 1e-12,
                "{proposal:?}, filter {f}: montecarlo mean {mean:e} ± {se:e} vs exact {:e}",
                exact[f]
            );
        }
    }
}

/// REF's batch estimator with BN in eval mode: E[(1/B Σ_n g_n)²] = (1/B) E[g²] because the
/// sampled-label scores have zero mean and independent draws, so B × montecarlo-batch ≈ exact
/// (balanced weights = the sampler's distribution). Bound as above, from the spread of R runs.
#[test]
fn batch_estimator_times_batch_size_averages_to_exact() {
    let device = Device::flex();
    let net = TinyConvNet::new(&TinyConvNet::default_specs(), 31, &device);
    let labels = [0, 0, 0, 1, 1, 2];
    let inputs = random_inputs([labels.len(), 3, 6, 6], 32, &device);
    let head = seeded_head(3, net.feature_dim(), 33);
    let weights = balanced_weights(&labels);
    let task = FisherTask {
        network: &net,
        head: &head,
        inputs: &inputs,
        labels: &labels,
        sample_weights: &weights,
    };
    let exact = exact::estimate(&task, 6, true, &Silent).unwrap().hessian();
    let b = 4;
    let options = BatchEstimatorOptions {
        epochs: 1,
        sampler: SamplerOptions {
            draws_per_epoch: 40 * b,
            batch_size: b,
        },
    };
    let runs = 40;
    let samples: Vec<Vec<f64>> = (0..runs)
        .map(|seed| {
            batch::estimate(&task, &options, BatchNormMode::Eval, true, seed, &Silent)
                .unwrap()
                .hessian()
                .into_iter()
                .map(|v| v * b as f64)
                .collect()
        })
        .collect();
    assert_eq!(samples[0].len(), exact.len());
    for f in 0..exact.len() {
        let xs: Vec<f64> = samples.iter().map(|s| s[f]).collect();
        let mean = xs.iter().sum::<f64>() / runs as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (runs - 1) as f64;
        let se = (var / runs as f64).sqrt();
        assert!(
            (mean - exact[f]).abs() <= 4.5 * se + 1e-12,
            "filter {f}: B·batch mean {mean:e} ± {se:e} vs exact {:e}",
            exact[f]
        );
    }
}

#[test]
fn same_seed_same_estimate_and_the_network_is_not_modified() {
    let device = Device::flex();
    let net = TinyConvNet::new(&TinyConvNet::default_specs(), 41, &device);
    let before: Vec<Vec<f64>> = net
        .bns
        .iter()
        .flat_map(|bn| {
            [
                bn.running_mean.value(),
                bn.running_var.value(),
                bn.gamma.val(),
            ]
        })
        .map(|t| host(t.reshape([-1, 1, 1, 1])))
        .chain(net.convs.iter().map(|c| host(c.weight.val())))
        .collect();
    let labels = [0, 1, 1, 0];
    let inputs = random_inputs([4, 3, 6, 6], 42, &device);
    let head = seeded_head(2, net.feature_dim(), 43);
    let weights = balanced_weights(&labels);
    let task = FisherTask {
        network: &net,
        head: &head,
        inputs: &inputs,
        labels: &labels,
        sample_weights: &weights,
    };
    let options = MonteCarloOptions::default();
    let a = montecarlo::estimate(&task, &options, 3, true, 7, &Silent).unwrap();
    let b = montecarlo::estimate(&task, &options, 3, true, 7, &Silent).unwrap();
    let c = montecarlo::estimate(&task, &options, 3, true, 8, &Silent).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.hessian(), c.hessian());
    let batch_options = BatchEstimatorOptions {
        epochs: 1,
        sampler: SamplerOptions {
            draws_per_epoch: 8,
            batch_size: 4,
        },
    };
    let x = batch::estimate(
        &task,
        &batch_options,
        BatchNormMode::Train,
        true,
        1,
        &Silent,
    )
    .unwrap();
    let y = batch::estimate(
        &task,
        &batch_options,
        BatchNormMode::Train,
        true,
        1,
        &Silent,
    )
    .unwrap();
    assert_eq!(x, y);
    let after: Vec<Vec<f64>> = net
        .bns
        .iter()
        .flat_map(|bn| {
            [
                bn.running_mean.value(),
                bn.running_var.value(),
                bn.gamma.val(),
            ]
        })
        .map(|t| host(t.reshape([-1, 1, 1, 1])))
        .chain(net.convs.iter().map(|c| host(c.weight.val())))
        .collect();
    assert_eq!(before, after, "estimators must not modify the network");
}

/// REF's compression loss is 2·KL(N(W, σ²) ‖ N(0, λ²)) summed over weights. Checked against the
/// textbook Gaussian KL written per weight, KL = ½[σ²/λ² + w²/λ² − 1 + ln(λ²/σ²)], and its
/// gradients against the hand derivatives ∂/∂log σ²_f = fan_in·(σ²_f/λ² − 1) and
/// ∂/∂log λ² = Σ_w [1 − (w² + σ²)/λ²].
#[test]
fn variational_kl_term_equals_its_closed_form() {
    use task2vec_fisher::estimator::variational::compression_loss;
    let device = Device::flex();
    // Two filters of 3 inputs × 1×2 kernels.
    let w: Vec<f32> = vec![
        0.5, -1.0, 0.25, 2.0, 0.0, -0.75, // filter 0
        1.5, 0.1, -0.2, 0.3, -2.5, 0.8, // filter 1
    ];
    let logvar = [-1.2f32, 0.4];
    let loglambda2 = -0.3f32;
    let weight = Tensor::<4>::from_data(TensorData::new(w.clone(), [2, 3, 1, 2]), &device);
    let ad = device.clone().autodiff();
    let lv = Tensor::<1>::from_data(TensorData::new(logvar.to_vec(), [2]), &ad).require_grad();
    let ll = Tensor::<1>::from_data(TensorData::new(vec![loglambda2], [1]), &ad).require_grad();
    let loss = compression_loss(weight.autodiff(), lv.clone(), ll.clone());
    let got = f64::from(loss.clone().into_data().try_to_vec::<f32>().unwrap()[0]);

    let lambda2 = f64::from(loglambda2).exp();
    let mut expected = 0.0;
    for (i, &wi) in w.iter().enumerate() {
        let sigma2 = f64::from(logvar[i / 6]).exp();
        let wi = f64::from(wi);
        let kl = 0.5 * (sigma2 / lambda2 + wi * wi / lambda2 - 1.0 + (lambda2 / sigma2).ln());
        expected += 2.0 * kl;
    }
    assert!(
        (got - expected).abs() <= 1e-5 * expected.abs(),
        "compression loss {got} vs closed form {expected}"
    );

    let grads = loss.backward();
    let g = lv
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    for f in 0..2 {
        let hand = 6.0 * (f64::from(logvar[f]).exp() / lambda2 - 1.0);
        assert!(
            (f64::from(g[f]) - hand).abs() <= 1e-5 * hand.abs().max(1.0),
            "d/dlogvar[{f}]: {} vs {hand}",
            g[f]
        );
    }
    // ∂/∂log λ² = Σ_w [1 − (w² + σ²)/λ²]
    let hand_l: f64 = w
        .iter()
        .enumerate()
        .map(|(i, &wi)| {
            let sigma2 = f64::from(logvar[i / 6]).exp();
            1.0 - (f64::from(wi).powi(2) + sigma2) / lambda2
        })
        .sum();
    let gl = f64::from(
        ll.grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()[0],
    );
    assert!(
        (gl - hand_l).abs() <= 1e-5 * hand_l.abs().max(1.0),
        "d/dloglambda2: {gl} vs {hand_l}"
    );
}

/// The two ways of computing per-sample squared gradient norms (forming G_n, or through the
/// Gram matrix of the unfolded input) agree on every kind of conv geometry.
#[test]
fn gram_and_direct_kernel_paths_agree() {
    use task2vec_fisher::kernel::{ConvGeometry, KernelPath, per_filter_squares};
    let device = Device::flex();
    // (in, out, kernel, stride, padding, groups, input size)
    let cases = [
        (8, 16, 3, 1, 1, 1, 6),
        (8, 16, 3, 2, 1, 1, 7),
        (8, 8, 3, 1, 1, 2, 5),
        (6, 12, 1, 1, 0, 1, 4),
        (4, 10, 5, 2, 0, 1, 9),
        (3, 16, 7, 2, 3, 1, 12),
    ];
    for (seed, &(c_in, c_out, k, s, pad, groups, hw)) in cases.iter().enumerate() {
        let geometry = ConvGeometry {
            in_channels: c_in,
            out_channels: c_out,
            kernel: [k, k],
            stride: [s, s],
            dilation: [1, 1],
            padding: [(pad, pad), (pad, pad)],
            groups,
        };
        let out = (hw + 2 * pad - k) / s + 1;
        let n = 3;
        let x = random_inputs([n, c_in, hw, hw], 100 + seed as u64, &device);
        let delta = random_inputs([n, c_out, out, out], 200 + seed as u64, &device);
        let values = |path| {
            per_filter_squares(x.clone(), delta.clone(), &geometry, path)
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap()
                .into_iter()
                .map(f64::from)
                .collect::<Vec<_>>()
        };
        let (direct, gram) = (values(KernelPath::Direct), values(KernelPath::Gram));
        assert_eq!(direct.len(), n * c_out);
        let d = max_rel_diff(&gram, &direct);
        assert!(d < 1e-5, "case {seed}: gram vs direct {d:e}");
    }
    // Auto picks the Gram path exactly where it needs fewer multiply-adds.
    assert_eq!(KernelPath::Auto.resolve(4, 4608, 512), KernelPath::Gram);
    assert_eq!(KernelPath::Auto.resolve(3136, 576, 64), KernelPath::Direct);
}

/// The CPU kernel (implicit GEMM over zero-padded stride phases, `task2vec_fisher::implicit`)
/// computes exactly what the unfold-based tensor kernel computes, on every geometry the probes
/// have and some they do not: strides 1-3, asymmetric ("SAME") padding, dilation, groups,
/// depthwise, 1×1 strided projections, kernels wider than the input, both paths.
#[test]
fn host_kernel_matches_the_unfolding_tensor_kernel() {
    use task2vec_fisher::implicit::per_filter_squares_host;
    use task2vec_fisher::kernel::{ConvGeometry, KernelPath, per_filter_squares_tensor};
    let device = Device::flex();
    // (in, out, kernel, stride, dilation, (top, bottom, left, right), groups, h, w)
    let cases = [
        (8, 16, 3, 1, 1, (1, 1, 1, 1), 1, 6, 6),
        (8, 16, 3, 2, 1, (1, 1, 1, 1), 1, 7, 8),
        (8, 8, 3, 1, 1, (1, 1, 1, 1), 2, 5, 5),
        (6, 12, 1, 2, 1, (0, 0, 0, 0), 1, 8, 7),
        (4, 10, 5, 2, 1, (0, 0, 0, 0), 1, 9, 9),
        (3, 16, 7, 2, 1, (3, 3, 3, 3), 1, 12, 12),
        (3, 8, 3, 2, 1, (0, 1, 0, 1), 1, 8, 8), // TF "SAME" at an even size
        (6, 6, 3, 1, 1, (1, 1, 1, 1), 6, 5, 6), // depthwise
        (6, 6, 5, 2, 1, (1, 2, 1, 2), 6, 9, 8), // depthwise, strided, SAME
        (4, 6, 3, 1, 2, (2, 2, 2, 2), 1, 7, 7), // dilation 2
        (4, 6, 3, 3, 1, (1, 1, 1, 1), 2, 10, 11), // stride 3, groups
        (2, 4, 3, 1, 1, (1, 1, 1, 1), 1, 1, 1), // one pixel
    ];
    for (seed, &(c_in, c_out, k, s, dil, (t, b, l, r), groups, h, w)) in cases.iter().enumerate() {
        let geometry = ConvGeometry {
            in_channels: c_in,
            out_channels: c_out,
            kernel: [k, k],
            stride: [s, s],
            dilation: [dil, dil],
            padding: [(t, b), (l, r)],
            groups,
        };
        let ho = (h + t + b - dil * (k - 1) - 1) / s + 1;
        let wo = (w + l + r - dil * (k - 1) - 1) / s + 1;
        let n = 3;
        let x = random_inputs([n, c_in, h, w], 300 + seed as u64, &device);
        let delta = random_inputs([n, c_out, ho, wo], 400 + seed as u64, &device);
        let host = |t: Tensor<4>| {
            t.into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap()
        };
        let to_f64 = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
        for path in [KernelPath::Direct, KernelPath::Gram] {
            let reference = per_filter_squares_tensor(x.clone(), delta.clone(), &geometry, path);
            let reference = to_f64(
                reference
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec()
                    .unwrap(),
            );
            let implicit = to_f64(per_filter_squares_host(
                &host(x.clone()),
                &host(delta.clone()),
                n,
                [h, w],
                [ho, wo],
                &geometry,
                path,
            ));
            assert_eq!(implicit.len(), n * c_out);
            assert!(reference.iter().any(|&v| v > 0.0), "case {seed}: all zero");
            let d = max_rel_diff(&implicit, &reference);
            assert!(d < 1e-5, "case {seed} {path:?}: implicit vs unfold {d:e}");
        }
    }
}

/// Every public estimator checks its own options: a zero batch size is a named error, never a
/// panic or an endless loop, whoever calls it.
#[test]
fn public_estimators_refuse_zero_batch_sizes_by_name() {
    use task2vec_fisher::domain::mean_activations;
    use task2vec_fisher::estimator::variational;
    use task2vec_fisher::options::VariationalOptions;
    let device = Device::flex();
    let net = TinyConvNet::new(&TinyConvNet::default_specs(), 1, &device);
    let inputs = random_inputs([4, 3, 6, 6], 2, &device);
    let labels = [0, 1, 0, 1];
    let head = seeded_head(2, net.feature_dim(), 3);
    let weights = uniform_weights(4);
    let task = FisherTask {
        network: &net,
        head: &head,
        inputs: &inputs,
        labels: &labels,
        sample_weights: &weights,
    };
    let named = |r: Result<_, task2vec_fisher::FisherError>, name: &str| {
        let err = r.expect_err("an error").to_string();
        assert!(err.contains(name), "{name} not in {err}");
    };
    named(
        exact::estimate(&task, 0, false, &Silent).map(|_| ()),
        "fisher-batch-size",
    );
    named(
        montecarlo::estimate(&task, &MonteCarloOptions::default(), 0, false, 0, &Silent)
            .map(|_| ()),
        "fisher-batch-size",
    );
    let zero_sampler = SamplerOptions {
        draws_per_epoch: 8,
        batch_size: 0,
    };
    let batch_options = BatchEstimatorOptions {
        epochs: 1,
        sampler: zero_sampler.clone(),
    };
    named(
        batch::estimate(
            &task,
            &batch_options,
            BatchNormMode::Eval,
            false,
            0,
            &Silent,
        )
        .map(|_| ()),
        "batch.sampler",
    );
    let variational_options = VariationalOptions {
        sampler: zero_sampler,
        ..VariationalOptions::default()
    };
    named(
        variational::estimate(&task, &variational_options, BatchNormMode::Eval, 0, &Silent)
            .map(|_| ()),
        "variational.sampler",
    );
    named(
        mean_activations(&net, &inputs, 0, &Silent).map(|_| ()),
        "cache-batch-size",
    );
}
