//! Distances between embeddings, exactly as the reference implementation defines them
//! (docs/reference.md §6), computed in f64.
//!
//! Notation: `h` hessian (Fisher), `s` scale (prior precision), `v = 1/h` variance,
//! `ε = 1e-8` (absolute, where REF puts it), `cos(u, v) = 1 − u·v / (‖u‖‖v‖)` (SciPy's cosine,
//! clipped to [0, 2]), sums and means over the filters `i`:
//!
//! | metric | definition |
//! |---|---|
//! | `cosine` | cos(h₀/(h₀+h₁+ε), h₁/(h₀+h₁+ε)) — the paper's symmetric Task2Vec distance |
//! | `normalized-cosine` | cos(v₀/(1/s₀), v₁/(1/s₁)) — cosine of prior-normalised variances (not the paper's "normalised cosine") |
//! | `correlation` | cos(v₀ − mean v₀, v₁ − mean v₁) — SciPy correlation distance of the variances |
//! | `entropy` | log 2 − meanᵢ H(pᵢ), p = h₀/(h₀+h₁+ε), H the binary entropy (0·log 0 = 0) |
//! | `kl` | Σᵢ max(KL(v₀ᵢ‖v₁ᵢ), KL(v₁ᵢ‖v₀ᵢ)), KL(a‖b) = ½(a/b − 1 + log b − log a) (zero-mean Gaussians) |
//! | `asymmetric-kl` | Σᵢ KL(v₀ᵢ‖v₁ᵢ) — direction first → second |
//! | `jsd` | meanᵢ ½(KL(v₀ᵢ‖m̄ᵢ) + KL(v₁ᵢ‖m̄ᵢ)), m̄ = (v₀+v₁)/2 (Gaussian "JS-like", not a mixture JSD) |
//!
//! Every metric is 0 for identical inputs except `entropy`, whose ε makes it slightly positive
//! when the Fisher values are not ≫ ε.

use std::fmt;
use std::str::FromStr;

use ndarray::Array2;

use crate::embedding::{Compatibility, Embedding};
use crate::error::{Error, Result};

/// The ε REF adds to `h₀ + h₁` in `cosine` and `entropy` (absolute, not relative).
pub const EPSILON: f64 = 1e-8;

/// A distance between two embeddings (names as in REF, with `-` for `_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Metric {
    /// The paper's symmetric Task2Vec distance (REF's default).
    #[default]
    Cosine,
    /// Cosine distance of the prior-normalised variances `s/h`.
    NormalizedCosine,
    /// SciPy correlation distance of the variances `1/h`.
    Correlation,
    /// log 2 minus the mean binary entropy of `h₀/(h₀+h₁+ε)`.
    Entropy,
    /// Symmetrised (entrywise max) Gaussian KL of the variances.
    Kl,
    /// Gaussian KL of the variances, first → second.
    AsymmetricKl,
    /// Gaussian Jensen–Shannon-like divergence of the variances.
    Jsd,
}

impl Metric {
    /// All metrics, in REF's order of registration.
    pub const ALL: [Metric; 7] = [
        Metric::Kl,
        Metric::AsymmetricKl,
        Metric::Jsd,
        Metric::Cosine,
        Metric::NormalizedCosine,
        Metric::Correlation,
        Metric::Entropy,
    ];

    /// The metric's name (kebab case); `FromStr` also accepts REF's snake case.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::NormalizedCosine => "normalized-cosine",
            Metric::Correlation => "correlation",
            Metric::Entropy => "entropy",
            Metric::Kl => "kl",
            Metric::AsymmetricKl => "asymmetric-kl",
            Metric::Jsd => "jsd",
        }
    }

    /// Whether d(a, b) = d(b, a).
    pub fn is_symmetric(self) -> bool {
        self != Metric::AsymmetricKl
    }

    /// Metrics that work with variances `1/h` need every Fisher value > 0.
    pub fn needs_positive_fisher(self) -> bool {
        !matches!(self, Metric::Cosine | Metric::Entropy)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == wanted)
            .ok_or_else(|| Error::UnknownName {
                what: "metric",
                name: s.to_string(),
                expected: Metric::ALL.map(Metric::name).join(", "),
            })
    }
}

/// Distance `metric(a, b)`. Errors when the embeddings are not comparable under
/// [`Compatibility::Strict`] (different probe, layout, kind, estimator or input size) or the
/// metric needs positive Fisher values and meets a zero.
pub fn distance(a: &Embedding, b: &Embedding, metric: Metric) -> Result<f64> {
    distance_with(a, b, metric, Compatibility::Strict)
}

/// [`distance`] with an explicit [`Compatibility`] rule.
pub fn distance_with(
    a: &Embedding,
    b: &Embedding,
    metric: Metric,
    compat: Compatibility,
) -> Result<f64> {
    a.check_comparable_with(b, compat)?;
    let pa = Prepared::new(std::slice::from_ref(a), metric)?;
    let pb = Prepared::new(std::slice::from_ref(b), metric)?;
    let d = pair(&pa, 0, &pb, 0);
    if d.is_nan() {
        return Err(unrepresentable(metric, a, b));
    }
    Ok(d)
}

/// The error for a pair whose distance [`finish`] could not represent (NaN).
pub(crate) fn unrepresentable(metric: Metric, a: &Embedding, b: &Embedding) -> Error {
    Error::Unrepresentable {
        metric: metric.name(),
        a: a.name().to_string(),
        b: b.name().to_string(),
    }
}

/// Columns processed per step. Single pairs and the blocked matrix code both accumulate in
/// chunks of this size in the same order, so `pdist` agrees bit for bit with `distance`.
pub(crate) const CHUNK: usize = 512;

/// Per-embedding rows transformed once for a metric (variances, their logs, centring), so that
/// the pair kernels only do the work that depends on both embeddings.
pub(crate) struct Prepared {
    pub(crate) metric: Metric,
    /// `h` (cosine, entropy), `s/h`-like variances (normalized-cosine), centred `1/h`
    /// (correlation), or `1/h` (kl, asymmetric-kl, jsd).
    pub(crate) a: Array2<f64>,
    /// `log(1/h)` for the KL family; empty otherwise.
    pub(crate) b: Array2<f64>,
}

impl Prepared {
    pub(crate) fn new(embeddings: &[Embedding], metric: Metric) -> Result<Self> {
        let n = embeddings.len();
        let d = embeddings.first().map_or(0, Embedding::dim);
        let mut a = Array2::<f64>::zeros((n, d));
        let kl_family = matches!(metric, Metric::Kl | Metric::AsymmetricKl | Metric::Jsd);
        let mut b = Array2::<f64>::zeros(if kl_family { (n, d) } else { (0, 0) });
        for (r, e) in embeddings.iter().enumerate() {
            if e.dim() != d {
                return Err(Error::Incompatible {
                    a: embeddings[0].name().to_string(),
                    b: e.name().to_string(),
                    reason: format!("different dimensions ({d} vs {})", e.dim()),
                });
            }
            if metric.needs_positive_fisher()
                && let Some(index) = e.hessian().iter().position(|&h| h == 0.0)
            {
                return Err(Error::ZeroFisher {
                    metric: metric.name(),
                    name: e.name().to_string(),
                    index,
                });
            }
            let h = e.hessian();
            let mut row = a.row_mut(r);
            match metric {
                Metric::Cosine | Metric::Entropy => row.assign(h),
                Metric::NormalizedCosine => {
                    // REF: variance / lambda², variance = 1/h, lambda² = 1/scale.
                    ndarray::Zip::from(&mut row)
                        .and(h)
                        .and(e.scale())
                        .for_each(|o, &h, &s| *o = (1.0 / h) / (1.0 / s));
                }
                Metric::Correlation => {
                    row.assign(&h.mapv(|h| 1.0 / h));
                    let mean = row.sum() / d as f64;
                    row.mapv_inplace(|v| v - mean);
                    if row.iter().all(|&v| v == 0.0) {
                        return Err(Error::InvalidArgument(format!(
                            "correlation is undefined for {:?}: all its Fisher values are equal",
                            e.name()
                        )));
                    }
                }
                Metric::Kl | Metric::AsymmetricKl | Metric::Jsd => {
                    row.assign(&h.mapv(|h| 1.0 / h));
                    b.row_mut(r).assign(&row.mapv(f64::ln));
                }
            }
            if let Some(index) = row.iter().position(|v| !v.is_finite()) {
                return Err(Error::InvalidArgument(format!(
                    "metric `{metric}` overflows for {:?}: hessian[{index}] = {:e} is too small",
                    e.name(),
                    h[index]
                )));
            }
        }
        Ok(Prepared { metric, a, b })
    }

    pub(crate) fn dim(&self) -> usize {
        self.a.ncols()
    }

    fn row_a(&self, r: usize) -> &[f64] {
        self.a
            .row(r)
            .to_slice()
            .expect("rows of a standard-layout array are contiguous")
    }

    fn row_b(&self, r: usize) -> &[f64] {
        if self.b.is_empty() {
            &[]
        } else {
            self.b
                .row(r)
                .to_slice()
                .expect("rows of a standard-layout array are contiguous")
        }
    }
}

/// Running sums of one pair (meaning depends on the metric).
pub(crate) type Acc = [f64; 3];

/// Add columns `cols` of row `i` of `p` and row `j` of `q` to `acc`.
#[inline]
pub(crate) fn accumulate(
    p: &Prepared,
    i: usize,
    q: &Prepared,
    j: usize,
    cols: std::ops::Range<usize>,
    acc: &mut Acc,
) {
    let x = &p.row_a(i)[cols.clone()];
    let y = &q.row_a(j)[cols.clone()];
    let part = match p.metric {
        Metric::Cosine => kernels::scaled_cosine(x, y),
        Metric::NormalizedCosine | Metric::Correlation => kernels::dots(x, y),
        Metric::Entropy => [kernels::entropy(x, y), 0.0, 0.0],
        Metric::Kl | Metric::AsymmetricKl | Metric::Jsd => {
            let lx = &p.row_b(i)[cols.clone()];
            let ly = &q.row_b(j)[cols];
            let s = match p.metric {
                Metric::Kl => kernels::kl_max(x, lx, y, ly),
                Metric::AsymmetricKl => kernels::kl_forward(x, lx, y, ly),
                _ => kernels::jsd(x, lx, y, ly),
            };
            [s, 0.0, 0.0]
        }
    };
    for (a, b) in acc.iter_mut().zip(part) {
        *a += b;
    }
}

/// Turn a pair's sums into the distance.
#[inline]
pub(crate) fn finish(metric: Metric, acc: Acc, dim: usize) -> f64 {
    match metric {
        Metric::Cosine | Metric::NormalizedCosine | Metric::Correlation => {
            // SciPy: 1 − uv/√(uu·vv), clipped to [0, 2] against rounding. A zero or subnormal
            // norm product means the squares underflowed (or a row has zero variance): the
            // ratio would be garbage that the clip turns into a plausible 0 or 2, so it is
            // NaN here and an error for the caller.
            let norm = (acc[1] * acc[2]).sqrt();
            if !norm.is_normal() {
                return f64::NAN;
            }
            (1.0 - acc[0] / norm).clamp(0.0, 2.0)
        }
        Metric::Entropy => std::f64::consts::LN_2 - acc[0] / dim as f64,
        Metric::Kl | Metric::AsymmetricKl => acc[0],
        Metric::Jsd => acc[0] / dim as f64,
    }
}

/// Distance between row `i` of `p` and row `j` of `q` (same metric and dimension).
pub(crate) fn pair(p: &Prepared, i: usize, q: &Prepared, j: usize) -> f64 {
    let d = p.dim();
    let mut acc = [0.0; 3];
    let mut start = 0;
    while start < d {
        let end = (start + CHUNK).min(d);
        accumulate(p, i, q, j, start..end, &mut acc);
        start = end;
    }
    finish(p.metric, acc, d)
}

/// The per-chunk arithmetic. Lane arrays let LLVM vectorise the f64 sums (it may not
/// reassociate a single scalar sum); the lane order is fixed, so results are deterministic.
mod kernels {
    use super::EPSILON;

    const L: usize = 8;

    #[inline(always)]
    fn reduce(lanes: [f64; L]) -> f64 {
        ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
            + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))
    }

    /// Σ x·y/σ², Σ x²/σ², Σ y²/σ² with σ = x + y + ε: the three sums of SciPy's cosine between
    /// x/σ and y/σ, with one division per entry (portable version).
    #[inline(always)]
    fn scaled_cosine_impl(x: &[f64], y: &[f64]) -> [f64; 3] {
        let (mut xy, mut xx, mut yy) = ([0.0; L], [0.0; L], [0.0; L]);
        let (xc, xr) = x.as_chunks::<L>();
        let (yc, yr) = y.as_chunks::<L>();
        for (a, b) in xc.iter().zip(yc) {
            for l in 0..L {
                let s = a[l] + b[l] + EPSILON;
                let q = 1.0 / (s * s);
                xy[l] += a[l] * b[l] * q;
                xx[l] += a[l] * a[l] * q;
                yy[l] += b[l] * b[l] * q;
            }
        }
        for (l, (&a, &b)) in xr.iter().zip(yr).enumerate() {
            let s = a + b + EPSILON;
            let q = 1.0 / (s * s);
            xy[l] += a * b * q;
            xx[l] += a * a * q;
            yy[l] += b * b * q;
        }
        [reduce(xy), reduce(xx), reduce(yy)]
    }

    /// Explicit AVX2 + FMA versions of the two hot kernels (LLVM's auto-vectoriser shuffles
    /// the lane arrays above badly). Two independent 4-lane accumulators per sum hide the FMA
    /// latency; one division per 4 entries.
    #[cfg(target_arch = "x86_64")]
    mod avx2 {
        use super::EPSILON;
        use std::arch::x86_64::*;

        #[inline(always)]
        fn hsum(a: __m256d, b: __m256d) -> f64 {
            let mut lanes = [0.0f64; 4];
            // SAFETY: `lanes` has room for 4 f64; unaligned store.
            unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), _mm256_add_pd(a, b)) };
            (lanes[0] + lanes[2]) + (lanes[1] + lanes[3])
        }

        #[target_feature(enable = "avx2,fma")]
        pub(super) fn scaled_cosine(x: &[f64], y: &[f64]) -> [f64; 3] {
            let n = x.len().min(y.len());
            let body = n - n % 8;
            let (px, py) = (x.as_ptr(), y.as_ptr());
            let eps = _mm256_set1_pd(EPSILON);
            let one = _mm256_set1_pd(1.0);
            let z = _mm256_setzero_pd();
            let (mut xy0, mut xx0, mut yy0, mut xy1, mut xx1, mut yy1) = (z, z, z, z, z, z);
            let mut i = 0;
            while i < body {
                // SAFETY: i + 8 <= body <= len of both slices.
                let (a0, b0, a1, b1) = unsafe {
                    (
                        _mm256_loadu_pd(px.add(i)),
                        _mm256_loadu_pd(py.add(i)),
                        _mm256_loadu_pd(px.add(i + 4)),
                        _mm256_loadu_pd(py.add(i + 4)),
                    )
                };
                let r0 = _mm256_div_pd(one, _mm256_add_pd(_mm256_add_pd(a0, b0), eps));
                let r1 = _mm256_div_pd(one, _mm256_add_pd(_mm256_add_pd(a1, b1), eps));
                let (u0, v0) = (_mm256_mul_pd(a0, r0), _mm256_mul_pd(b0, r0));
                let (u1, v1) = (_mm256_mul_pd(a1, r1), _mm256_mul_pd(b1, r1));
                xy0 = _mm256_fmadd_pd(u0, v0, xy0);
                xx0 = _mm256_fmadd_pd(u0, u0, xx0);
                yy0 = _mm256_fmadd_pd(v0, v0, yy0);
                xy1 = _mm256_fmadd_pd(u1, v1, xy1);
                xx1 = _mm256_fmadd_pd(u1, u1, xx1);
                yy1 = _mm256_fmadd_pd(v1, v1, yy1);
                i += 8;
            }
            let mut out = [hsum(xy0, xy1), hsum(xx0, xx1), hsum(yy0, yy1)];
            for k in body..n {
                let r = 1.0 / (x[k] + y[k] + EPSILON);
                let (u, v) = (x[k] * r, y[k] * r);
                out[0] = u.mul_add(v, out[0]);
                out[1] = u.mul_add(u, out[1]);
                out[2] = v.mul_add(v, out[2]);
            }
            out
        }

        #[target_feature(enable = "avx2,fma")]
        pub(super) fn dots(x: &[f64], y: &[f64]) -> [f64; 3] {
            let n = x.len().min(y.len());
            let body = n - n % 8;
            let (px, py) = (x.as_ptr(), y.as_ptr());
            let z = _mm256_setzero_pd();
            let (mut xy0, mut xx0, mut yy0, mut xy1, mut xx1, mut yy1) = (z, z, z, z, z, z);
            let mut i = 0;
            while i < body {
                // SAFETY: i + 8 <= body <= len of both slices.
                let (a0, b0, a1, b1) = unsafe {
                    (
                        _mm256_loadu_pd(px.add(i)),
                        _mm256_loadu_pd(py.add(i)),
                        _mm256_loadu_pd(px.add(i + 4)),
                        _mm256_loadu_pd(py.add(i + 4)),
                    )
                };
                xy0 = _mm256_fmadd_pd(a0, b0, xy0);
                xx0 = _mm256_fmadd_pd(a0, a0, xx0);
                yy0 = _mm256_fmadd_pd(b0, b0, yy0);
                xy1 = _mm256_fmadd_pd(a1, b1, xy1);
                xx1 = _mm256_fmadd_pd(a1, a1, xx1);
                yy1 = _mm256_fmadd_pd(b1, b1, yy1);
                i += 8;
            }
            let mut out = [hsum(xy0, xy1), hsum(xx0, xx1), hsum(yy0, yy1)];
            for k in body..n {
                out[0] = x[k].mul_add(y[k], out[0]);
                out[1] = x[k].mul_add(x[k], out[1]);
                out[2] = y[k].mul_add(y[k], out[2]);
            }
            out
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn has_avx2_fma() -> bool {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }

    /// The hot loop of `pdist`: AVX2 + FMA when the CPU has them (fused multiply-adds round
    /// once, so results may differ from the portable path in the last bits).
    #[inline]
    pub(super) fn scaled_cosine(x: &[f64], y: &[f64]) -> [f64; 3] {
        #[cfg(target_arch = "x86_64")]
        if has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { avx2::scaled_cosine(x, y) };
        }
        scaled_cosine_impl(x, y)
    }

    /// Σ x·y, Σ x², Σ y².
    #[inline]
    pub(super) fn dots(x: &[f64], y: &[f64]) -> [f64; 3] {
        #[cfg(target_arch = "x86_64")]
        if has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { avx2::dots(x, y) };
        }
        dots_impl(x, y)
    }

    #[inline(always)]
    fn dots_impl(x: &[f64], y: &[f64]) -> [f64; 3] {
        let (mut xy, mut xx, mut yy) = ([0.0; L], [0.0; L], [0.0; L]);
        let (xc, xr) = x.as_chunks::<L>();
        let (yc, yr) = y.as_chunks::<L>();
        for (a, b) in xc.iter().zip(yc) {
            for l in 0..L {
                xy[l] += a[l] * b[l];
                xx[l] += a[l] * a[l];
                yy[l] += b[l] * b[l];
            }
        }
        for (l, (&a, &b)) in xr.iter().zip(yr).enumerate() {
            xy[l] += a * b;
            xx[l] += a * a;
            yy[l] += b * b;
        }
        [reduce(xy), reduce(xx), reduce(yy)]
    }

    /// xlogy(p, p): p·ln p with 0·ln 0 = 0.
    #[inline(always)]
    fn xlogx(p: f64) -> f64 {
        if p == 0.0 { 0.0 } else { p * p.ln() }
    }

    /// Σ binary entropy of p = x/(x+y+ε).
    #[inline]
    pub(super) fn entropy(x: &[f64], y: &[f64]) -> f64 {
        let mut sum = 0.0;
        for (&a, &b) in x.iter().zip(y) {
            let p = a / (a + b + EPSILON);
            sum += -(xlogx(p) + xlogx(1.0 - p));
        }
        sum
    }

    /// KL(N(0,a)‖N(0,b)) from variances and their logs.
    #[inline(always)]
    fn kl(a: f64, la: f64, b: f64, lb: f64) -> f64 {
        0.5 * (a / b - 1.0 + lb - la)
    }

    #[inline]
    pub(super) fn kl_max(x: &[f64], lx: &[f64], y: &[f64], ly: &[f64]) -> f64 {
        let mut sum = 0.0;
        for i in 0..x.len() {
            sum += kl(x[i], lx[i], y[i], ly[i]).max(kl(y[i], ly[i], x[i], lx[i]));
        }
        sum
    }

    #[inline]
    pub(super) fn kl_forward(x: &[f64], lx: &[f64], y: &[f64], ly: &[f64]) -> f64 {
        let mut sum = 0.0;
        for i in 0..x.len() {
            sum += kl(x[i], lx[i], y[i], ly[i]);
        }
        sum
    }

    #[inline]
    pub(super) fn jsd(x: &[f64], lx: &[f64], y: &[f64], ly: &[f64]) -> f64 {
        let mut sum = 0.0;
        for i in 0..x.len() {
            let m = 0.5 * (x[i] + y[i]);
            let lm = m.ln();
            sum += 0.5 * (kl(x[i], lx[i], m, lm) + kl(y[i], ly[i], m, lm));
        }
        sum
    }

    /// The portable kernels are what every non-x86 machine (and any x86 CPU without AVX2/FMA)
    /// runs, so on x86 they are checked against the AVX2 ones they stand in for.
    #[cfg(all(test, target_arch = "x86_64"))]
    mod portable_matches_avx2 {
        use super::*;

        /// xorshift64: reproducible inputs without a dependency.
        struct Rng(u64);
        impl Rng {
            fn unit(&mut self) -> f64 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 11) as f64 / (1u64 << 53) as f64
            }
            /// Fisher-like values: log-uniform over 1e-9 .. 1e2, one in ten exactly zero.
            fn fisher(&mut self) -> f64 {
                if self.unit() < 0.1 {
                    0.0
                } else {
                    10f64.powf(-9.0 + 11.0 * self.unit())
                }
            }
            fn signed(&mut self) -> f64 {
                2.0 * self.unit() - 1.0
            }
        }

        /// Every remainder of the 8-wide bodies, empty and long inputs.
        const LENGTHS: [usize; 12] = [0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 1001, 4099];

        /// Without AVX2 there is nothing to compare with: fine on a developer's machine, a
        /// failure in CI (whose x86 machines have AVX2, so the comparison must run there).
        fn avx2_available() -> bool {
            if has_avx2_fma() {
                return true;
            }
            assert!(
                std::env::var_os("CI").is_none_or(|v| v != "true"),
                "CI=true but this x86_64 CPU has no AVX2+FMA: the portable distance kernels \
                 were not compared with the AVX2 ones"
            );
            eprintln!(
                "\n*** SKIPPED: no AVX2+FMA on this CPU; portable kernels not compared ***\n"
            );
            false
        }

        /// Sums of the two paths agree to `tol` relative to √(xx·yy), the scale the cosine
        /// divides by (the cross sum may cancel, the squares cannot).
        fn assert_close(what: &str, n: usize, portable: [f64; 3], avx2: [f64; 3], tol: f64) {
            let scale = (portable[1] * portable[2]).sqrt().max(f64::MIN_POSITIVE);
            for (k, (p, a)) in portable.iter().zip(avx2).enumerate() {
                let reference = if k == 0 {
                    scale
                } else {
                    p.abs().max(f64::MIN_POSITIVE)
                };
                assert!(
                    (p - a).abs() <= tol * reference,
                    "{what}, n = {n}, sum {k}: portable {p:e} vs avx2 {a:e}"
                );
            }
            let cosine = |s: [f64; 3]| (1.0 - s[0] / (s[1] * s[2]).sqrt()).clamp(0.0, 2.0);
            if n > 0 && portable[1] > 0.0 && portable[2] > 0.0 {
                let (cp, ca) = (cosine(portable), cosine(avx2));
                assert!(
                    (cp - ca).abs() <= tol,
                    "{what}, n = {n}: cosine {cp} vs {ca}"
                );
            }
        }

        #[test]
        fn scaled_cosine_sums_agree_on_random_fisher_values() {
            if !avx2_available() {
                return;
            }
            let mut rng = Rng(0x2545_F491_4F6C_DD1D);
            for n in LENGTHS {
                for _ in 0..20 {
                    let x: Vec<f64> = (0..n).map(|_| rng.fisher()).collect();
                    let y: Vec<f64> = (0..n).map(|_| rng.fisher()).collect();
                    let portable = scaled_cosine_impl(&x, &y);
                    // SAFETY: avx2_available() checked AVX2 and FMA.
                    let avx2 = unsafe { avx2::scaled_cosine(&x, &y) };
                    assert_close("scaled_cosine", n, portable, avx2, 1e-12);
                }
            }
        }

        #[test]
        fn dot_sums_agree_on_random_signed_values() {
            if !avx2_available() {
                return;
            }
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
            for n in LENGTHS {
                for _ in 0..20 {
                    let x: Vec<f64> = (0..n).map(|_| rng.signed()).collect();
                    let y: Vec<f64> = (0..n).map(|_| rng.signed()).collect();
                    let portable = dots_impl(&x, &y);
                    // SAFETY: avx2_available() checked AVX2 and FMA.
                    let avx2 = unsafe { avx2::dots(&x, &y) };
                    assert_close("dots", n, portable, avx2, 1e-12);
                }
            }
        }

        #[test]
        fn the_dispatcher_picks_avx2_when_the_cpu_has_it() {
            if !avx2_available() {
                return;
            }
            let x: Vec<f64> = (1..=37).map(|i| i as f64 * 0.37).collect();
            let y: Vec<f64> = (1..=37).map(|i| 1.0 / i as f64).collect();
            // SAFETY: avx2_available() checked AVX2 and FMA.
            let (c, d) = unsafe { (avx2::scaled_cosine(&x, &y), avx2::dots(&x, &y)) };
            assert_eq!(scaled_cosine(&x, &y).map(f64::to_bits), c.map(f64::to_bits));
            assert_eq!(dots(&x, &y).map(f64::to_bits), d.map(f64::to_bits));
        }
    }
}
