//! The per-sample kernel on the CPU without ever unfolding an input (docs/performance.md).
//!
//! [`crate::kernel::per_filter_squares_tensor`] forms `unfold(a_n)` — `C_in·k²` copies of every
//! input value, 231 MB per batch of 32 for one ResNet layer1 conv at 224² — and multiplies it in
//! burn. Here the same products read the input in place ("implicit GEMM"):
//!
//! * Zero-pad each input plane once and split it into `stride²` phases (row `i·s + r` of the
//!   padded plane is row `i` of phase `r`): in its phase, every kernel offset of a strided conv
//!   reads a stride-1 window.
//! * Lay the output positions out with the phase plane's row width `Wq` instead of `Wo`
//!   (`δ` is zero in the `Wq − Wo` extra columns). Then, for kernel offset `(ki, kj)`, the input
//!   that output position `p` reads is `plane[c][p + shift(ki, kj)]`: a plain matrix with row
//!   stride 1 and column stride `Hq·Wq`, which `gemm` multiplies where it lies.
//! * Direct path: `G_n[:, c, ki, kj] = δ_n · A_(ki,kj)ᵀ`, one `C_out × C_in` GEMM per offset,
//!   squared and summed per filter at once (`G_n` is never stored whole).
//!   Gram path (taken where positions are few): the sample's input unfolded for real — small
//!   then — and `‖G_n[f]‖² = δ_n[f] · (U_n U_nᵀ) · δ_n[f]ᵀ`.
//!
//! Samples run in parallel (rayon), one single-threaded GEMM each: the products are small and
//! the samples many, and nothing is shared but the read-only inputs.
use rayon::prelude::*;

use crate::kernel::{ConvGeometry, KernelPath};

/// One sample's input, zero-padded and split into stride phases:
/// `data[((phase · C_in) + c) · Hq·Wq + row · Wq + col]`, followed by a zeroed slack so that the
/// extended columns of the last row stay inside the buffer.
struct PhasePlanes {
    data: Vec<f32>,
    /// Rows and columns of one phase plane.
    hq: usize,
    wq: usize,
    channels: usize,
}

impl PhasePlanes {
    fn new(a: &[f32], g: &ConvGeometry, in_hw: [usize; 2]) -> PhasePlanes {
        let [(top, bottom), (left, right)] = g.padding;
        let [sh, sw] = g.stride;
        let (hp, wp) = (in_hw[0] + top + bottom, in_hw[1] + left + right);
        let (hq, wq) = (hp.div_ceil(sh), wp.div_ceil(sw));
        let plane = hq * wq;
        let channels = g.in_channels;
        // Slack: the largest shift is below one plane, the extended columns reach `wq` further.
        let mut data = vec![0.0f32; sh * sw * channels * plane + plane + wq];
        for rh in 0..sh {
            for rw in 0..sw {
                let phase = rh * sw + rw;
                for c in 0..channels {
                    let src = &a[c * in_hw[0] * in_hw[1]..(c + 1) * in_hw[0] * in_hw[1]];
                    let dst = &mut data[(phase * channels + c) * plane..][..plane];
                    for i in 0..hq {
                        let Some(y) = (i * sh + rh).checked_sub(top).filter(|&y| y < in_hw[0])
                        else {
                            continue;
                        };
                        let row = &src[y * in_hw[1]..(y + 1) * in_hw[1]];
                        for j in 0..wq {
                            if let Some(x) =
                                (j * sw + rw).checked_sub(left).filter(|&x| x < in_hw[1])
                            {
                                dst[i * wq + j] = row[x];
                            }
                        }
                    }
                }
            }
        }
        PhasePlanes {
            data,
            hq,
            wq,
            channels,
        }
    }

    /// Offset of channel `c`'s window for kernel offset `(ki, kj)`.
    fn window(&self, g: &ConvGeometry, c: usize, ki: usize, kj: usize) -> usize {
        let (oi, oj) = (ki * g.dilation[0], kj * g.dilation[1]);
        let [sh, sw] = g.stride;
        let phase = (oi % sh) * sw + oj % sw;
        (phase * self.channels + c) * self.hq * self.wq + (oi / sh) * self.wq + oj / sw
    }
}

/// `δ_n` laid out with `wq` columns per output row (zeros beyond `Wo`): `[C_out][Ho·wq]`.
fn extend_delta(delta: &[f32], c_out: usize, out_hw: [usize; 2], wq: usize) -> Vec<f32> {
    let [ho, wo] = out_hw;
    let mut ext = vec![0.0f32; c_out * ho * wq];
    for f in 0..c_out {
        for y in 0..ho {
            let src = &delta[(f * ho + y) * wo..][..wo];
            ext[(f * ho + y) * wq..][..wo].copy_from_slice(src);
        }
    }
    ext
}

/// `dst (m×n) = [dst +] lhs (m×k) · rhs (k×n)` for matrices given by pointer and (row, column)
/// strides, single-threaded.
///
/// # Safety
/// Every element the strides address must lie inside its buffer; `dst` must not alias.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_strided(
    [m, k, n]: [usize; 3],
    dst: *mut f32,
    dst_rs: isize,
    accumulate: bool,
    lhs: *const f32,
    [lhs_rs, lhs_cs]: [isize; 2],
    rhs: *const f32,
    [rhs_rs, rhs_cs]: [isize; 2],
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs,
            accumulate,
            lhs,
            lhs_cs,
            lhs_rs,
            rhs,
            rhs_cs,
            rhs_rs,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// `mean_j G_n[f, j]²` for every sample and filter, row-major `[n][C_out]`, computed on the
/// host. `input` is `[n, C_in, H, W]`, `delta` `[n, C_out, Ho, Wo]`, both row-major.
pub fn per_filter_squares_host(
    input: &[f32],
    delta: &[f32],
    n: usize,
    in_hw: [usize; 2],
    out_hw: [usize; 2],
    g: &ConvGeometry,
    path: KernelPath,
) -> Vec<f32> {
    let c_out = g.out_channels;
    let in_len = g.in_channels * in_hw[0] * in_hw[1];
    let out_len = c_out * out_hw[0] * out_hw[1];
    assert_eq!(input.len(), n * in_len, "input is not [n, C_in, H, W]");
    assert_eq!(delta.len(), n * out_len, "delta is not [n, C_out, Ho, Wo]");
    let mut out = vec![0.0f32; n * c_out];
    out.par_chunks_mut(c_out.max(1))
        .enumerate()
        .for_each(|(s, row)| {
            sample_squares(
                &input[s * in_len..][..in_len],
                &delta[s * out_len..][..out_len],
                in_hw,
                out_hw,
                g,
                path,
                row,
            )
        });
    out
}

/// `Σ a_i·b_i` over 16 independent partial sums: a plain `.sum()` of f32 must add in order,
/// which keeps LLVM from vectorising it (a depthwise layer's kernel ran at under 1 GFLOP/s).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// One sample: writes `mean_j G[f, j]²` into `out[f]`.
fn sample_squares(
    a: &[f32],
    delta: &[f32],
    in_hw: [usize; 2],
    out_hw: [usize; 2],
    g: &ConvGeometry,
    path: KernelPath,
    out: &mut [f32],
) {
    let planes = PhasePlanes::new(a, g, in_hw);
    let (hq, wq) = (planes.hq, planes.wq);
    let d = extend_delta(delta, g.out_channels, out_hw, wq);
    let k_ext = out_hw[0] * wq; // extended output positions
    let in_g = g.in_channels / g.groups;
    let out_g = g.out_channels / g.groups;
    let plane = (hq * wq) as isize;
    let fan_in = g.fan_in() as f32;
    let [kh, kw] = g.kernel;
    if in_g == 1 && out_g == 1 {
        // Depthwise: G[c, (ki,kj)] = Σ_p δ[c,p] · window[p], a dot product per channel and offset.
        for (c, o) in out.iter_mut().enumerate() {
            let dc = &d[c * k_ext..][..k_ext];
            let mut sum = 0.0f32;
            for ki in 0..kh {
                for kj in 0..kw {
                    let w = &planes.data[planes.window(g, c, ki, kj)..][..k_ext];
                    let dot = dot(dc, w);
                    sum += dot * dot;
                }
            }
            *o = sum / fan_in;
        }
        return;
    }
    match path.resolve(out_hw[0] * out_hw[1], g.fan_in(), out_g) {
        KernelPath::Gram => {
            // Few positions (that is when Gram is cheaper): unfold this sample's input for real
            // (P × fan_in, small) and form its Gram matrix in one GEMM, rather than nine GEMMs
            // over the extended layout, whose padding columns would dominate at 2×2 outputs.
            let positions = out_hw[0] * out_hw[1];
            let k = g.fan_in();
            let mut u = vec![0.0f32; positions * k];
            let mut gram = vec![0.0f32; positions * positions];
            let mut t = vec![0.0f32; out_g * positions];
            for group in 0..g.groups {
                for ci in 0..in_g {
                    for ki in 0..kh {
                        for kj in 0..kw {
                            let col = (ci * kh + ki) * kw + kj;
                            let base = planes.window(g, group * in_g + ci, ki, kj);
                            for oh in 0..out_hw[0] {
                                let src = &planes.data[base + oh * wq..][..out_hw[1]];
                                for (ow, &v) in src.iter().enumerate() {
                                    u[(oh * out_hw[1] + ow) * k + col] = v;
                                }
                            }
                        }
                    }
                }
                // SAFETY: u is positions × k row-major, read as U and (column-major) as Uᵀ;
                // gram is positions × positions.
                unsafe {
                    gemm_strided(
                        [positions, k, positions],
                        gram.as_mut_ptr(),
                        positions as isize,
                        false,
                        u.as_ptr(),
                        [k as isize, 1],
                        u.as_ptr(),
                        [1, k as isize],
                    )
                };
                let dg = &delta[group * out_g * positions..][..out_g * positions];
                // SAFETY: δ_g is out_g × positions, gram positions², t out_g × positions.
                unsafe {
                    gemm_strided(
                        [out_g, positions, positions],
                        t.as_mut_ptr(),
                        positions as isize,
                        false,
                        dg.as_ptr(),
                        [positions as isize, 1],
                        gram.as_ptr(),
                        [positions as isize, 1],
                    )
                };
                for f in 0..out_g {
                    let row = &t[f * positions..][..positions];
                    let df = &dg[f * positions..][..positions];
                    let q = dot(row, df);
                    // A sum of squares: only rounding can make it negative.
                    out[group * out_g + f] = q.max(0.0) / fan_in;
                }
            }
        }
        _ => {
            let mut grad = vec![0.0f32; out_g * in_g];
            for group in 0..g.groups {
                let dg = &d[group * out_g * k_ext..][..out_g * k_ext];
                let sums = &mut out[group * out_g..][..out_g];
                sums.fill(0.0);
                for ki in 0..kh {
                    for kj in 0..kw {
                        let w = planes.data[planes.window(g, group * in_g, ki, kj)..].as_ptr();
                        // SAFETY: δ_g is out_g × k_ext row-major; the window (k_ext × in_g) has
                        // row stride 1 and column stride `plane` inside `data` (slack); grad
                        // is out_g × in_g.
                        unsafe {
                            gemm_strided(
                                [out_g, k_ext, in_g],
                                grad.as_mut_ptr(),
                                in_g as isize,
                                false,
                                dg.as_ptr(),
                                [k_ext as isize, 1],
                                w,
                                [1, plane],
                            )
                        };
                        for (f, s) in sums.iter_mut().enumerate() {
                            let row = &grad[f * in_g..][..in_g];
                            *s += dot(row, row);
                        }
                    }
                }
                for s in sums.iter_mut() {
                    *s /= fan_in;
                }
            }
        }
    }
}
