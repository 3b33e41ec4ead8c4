//! The forward pass's numeric kernels: the matrix product (the `gemm` crate, the kernel candle
//! itself calls), and fused, vectorised element-wise work written here: bias + residual + layer
//! norm in one pass, GELU with a polynomial `erf`, softmax with a polynomial `exp`.
//!
//! The element-wise loops are plain Rust written so that LLVM vectorises them (no branches,
//! reductions over 16 independent lanes, the lanes of short rows added up a block of rows at a
//! time); each is compiled three times, for AVX-512, for AVX2 + FMA and for the baseline, and
//! the best one the CPU has is chosen at run time.

use gemm::{gemm, Parallelism};

/// `out[m×n] = a[m×k] · w[n×k]ᵀ + bias[n]`, row-major, `w` as the model stores it (out × in).
pub fn linear(a: &[f32], m: usize, k: usize, w: &[f32], n: usize, bias: &[f32], out: &mut [f32]) {
    assert!(a.len() >= m * k && w.len() == n * k && bias.len() == n && out.len() >= m * n);
    for row in out[..m * n].chunks_exact_mut(n) {
        row.copy_from_slice(bias);
    }
    // SAFETY: the asserts above keep every index the strides reach inside the slices.
    unsafe {
        gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            true,
            a.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            k as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// A general strided product `dst = alpha·dst + beta·lhs·rhs` (`read_dst` false: `dst = beta·lhs·rhs`).
///
/// # Safety
/// Every element the sizes and strides reach must lie inside the buffers.
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul_strided(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: isize,
    lhs: *const f32,
    lhs_rs: isize,
    lhs_cs: isize,
    rhs: *const f32,
    rhs_rs: isize,
    rhs_cs: isize,
    beta: f32,
) {
    // SAFETY: the caller guarantees the bounds.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs,
            false,
            lhs,
            lhs_cs,
            lhs_rs,
            rhs,
            rhs_cs,
            rhs_rs,
            0.0,
            beta,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

const LANES: usize = 16;

/// The instruction sets the element-wise kernels are compiled for, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simd {
    /// AVX-512 (F, BW, DQ, VL) with AVX2 and FMA.
    Avx512,
    /// AVX2 with FMA.
    Avx2,
    /// The baseline: what any x86-64 (or other) CPU runs.
    Portable,
}

impl Simd {
    /// The paths this CPU can run, best first (always ending with the portable one).
    pub fn available() -> Vec<Simd> {
        let mut out = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512dq")
                && std::is_x86_feature_detected!("avx512vl")
            {
                out.push(Simd::Avx512);
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                out.push(Simd::Avx2);
            }
        }
        out.push(Simd::Portable);
        out
    }
}

thread_local! {
    /// The path this thread's kernels take; `None`: the best available. Set by tests, which
    /// check every path the machine has against the portable one.
    static FORCED: std::cell::Cell<Option<Simd>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with this thread's element-wise kernels on `path` (one [`Simd::available`] gives).
pub fn with_simd<T>(path: Simd, f: impl FnOnce() -> T) -> T {
    assert!(Simd::available().contains(&path), "{path:?} is not available on this CPU");
    let before = FORCED.with(|c| c.replace(Some(path)));
    let out = f();
    FORCED.with(|c| c.set(before));
    out
}

macro_rules! dispatch {
    ($(#[$doc:meta])* pub fn $name:ident($($arg:ident: $ty:ty),*) => $body:ident) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) { $body($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) { $body($($arg),*) }
                let forced = FORCED.with(|c| c.get());
                if forced.is_none_or(|f| f == Simd::Avx512)
                    && std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512dq") && std::is_x86_feature_detected!("avx512vl") {
                    // SAFETY: the features were detected.
                    return unsafe { avx512($($arg),*) };
                }
                if forced.is_none_or(|f| f == Simd::Avx2)
                    && std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the features were detected.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

/// `e^x`, branch-free, relative error below 2e-7 over the float range. Written so that it
/// vectorises: the nearest integer `n` of `x·log2 e` comes from adding 1.5 · 2²³ (it lands in
/// the low bits, no float-to-int conversion, which Rust's saturating `as` would keep scalar).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    const MAGIC_BITS: i32 = 0x4B40_0000;
    let x = x.clamp(-87.3, 88.7);
    let shifted = x * std::f32::consts::LOG2_E + MAGIC;
    let n = shifted - MAGIC;
    let r = (-n).mul_add(1.428_606_8e-6, (-n).mul_add(0.693_145_75, x));
    // Horner's scheme on fused multiply-adds (one instruction each on AVX2 and AVX-512; the
    // portable build calls libm's fmaf, exact and slower).
    let mut p: f32 = 1.0 / 720.0;
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = p.mul_add(r, c);
    }
    let two_n = ((shifted.to_bits() as i32 - MAGIC_BITS + 127) << 23) as u32;
    p * f32::from_bits(two_n)
}

/// `erf(x)`, Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7), branch-free.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let mut poly: f32 = 1.061_405_4;
    for c in [-1.453_152, 1.421_413_8, -0.284_496_74, 0.254_829_6] {
        poly = poly.mul_add(t, c);
    }
    (-(poly * t)).mul_add(exp(-a * a), 1.0).copysign(x)
}

#[inline(always)]
fn gelu_body(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// The sums of up to `R` rows, reduced together. A row's sum is its 16 lane sums added in
/// lane order (from -0, as `Iterator::sum`), then the sum of what is left after its last
/// whole vector: one row alone, that is a chain of 15 dependent additions, which on short
/// rows is most of the work; the rows of a block are independent chains that overlap. Every
/// row gets the same additions in the same order, so the same bits, as summed alone.
struct RowSums<const R: usize> {
    /// Lane-major: `lanes[i][r]` is lane `i` of row `r`.
    lanes: [[f32; R]; LANES],
    rest: [f32; R],
}

impl<const R: usize> RowSums<R> {
    #[inline(always)]
    fn new() -> Self {
        RowSums { lanes: [[0.0; R]; LANES], rest: [0.0; R] }
    }

    /// Row `r`'s lane sums and remainder.
    #[inline(always)]
    fn set(&mut self, r: usize, acc: &[f32; LANES], rest: f32) {
        for (lane, &a) in self.lanes.iter_mut().zip(acc) {
            lane[r] = a;
        }
        self.rest[r] = rest;
    }

    #[inline(always)]
    fn totals(&self) -> [f32; R] {
        let mut total = [-0f32; R];
        for lane in self.lanes.iter().chain([&self.rest]) {
            for (t, x) in total.iter_mut().zip(lane) {
                *t += x;
            }
        }
        total
    }
}

#[inline(always)]
fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder().iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for c in chunks {
        for i in 0..LANES {
            acc[i] = acc[i].max(c[i]);
        }
    }
    // By halves: the maximum is the same in any order, and the halves need no chain of 15.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] = acc[i].max(acc[i + width]);
        }
    }
    acc[0].max(rest)
}

/// Rows of scores a softmax block reduces together.
const SOFTMAX_BLOCK: usize = 16;

/// Softmax of each row of `scores` (rows of `len`), in place; `scale` multiplies first.
///
/// Attention rows are short (a passage's tokens, padded to the lanes), so reducing each one's
/// 16 lanes to its maximum and its sum, one after the other, was most of the work. The
/// maximum is reduced by halves (exact in any order), the sums by blocks of rows
/// ([`RowSums`]).
#[inline(always)]
fn softmax_body(scores: &mut [f32], len: usize, scale: f32) {
    for block in scores.chunks_mut(len * SOFTMAX_BLOCK) {
        let mut sums = RowSums::<SOFTMAX_BLOCK>::new();
        for (r, row) in block.chunks_exact_mut(len).enumerate() {
            let m = max(row) * scale;
            let mut acc = [0f32; LANES];
            let mut chunks = row.chunks_exact_mut(LANES);
            for c in &mut chunks {
                for i in 0..LANES {
                    c[i] = exp(c[i] * scale - m);
                    acc[i] += c[i];
                }
            }
            let tail = chunks.into_remainder();
            for x in tail.iter_mut() {
                *x = exp(*x * scale - m);
            }
            sums.set(r, &acc, tail.iter().sum());
        }
        let total = sums.totals();
        for (row, t) in block.chunks_exact_mut(len).zip(total) {
            let inv = 1.0 / t;
            for x in row.iter_mut() {
                *x *= inv;
            }
        }
    }
}

/// `x[t] = LayerNorm(x[t] + y[t]) · w + b` for each row of `hidden`, in place.
#[inline(always)]
fn add_layernorm_body(x: &mut [f32], y: &[f32], w: &[f32], b: &[f32], eps: f32) {
    let hidden = w.len();
    for (xb, yb) in x.chunks_mut(hidden * NORM_BLOCK).zip(y.chunks(hidden * NORM_BLOCK)) {
        for (xr, yr) in xb.chunks_exact_mut(hidden).zip(yb.chunks_exact(hidden)) {
            for (a, c) in xr.iter_mut().zip(yr) {
                *a += c;
            }
        }
        layernorm_block(xb, w, b, eps);
    }
}

/// Rows a layer norm block reduces together ([`RowSums`]); 8 rows of 384 stay in L1.
const NORM_BLOCK: usize = 8;

/// Layer norm of up to [`NORM_BLOCK`] rows of `w.len()`, in place.
#[inline(always)]
fn layernorm_block(xb: &mut [f32], w: &[f32], b: &[f32], eps: f32) {
    let hidden = w.len();
    let n = hidden as f32;
    let mut sums = RowSums::<NORM_BLOCK>::new();
    for (r, xr) in xb.chunks_exact(hidden).enumerate() {
        let mut acc = [0f32; LANES];
        let chunks = xr.chunks_exact(LANES);
        let rest: f32 = chunks.remainder().iter().sum();
        for c in chunks {
            for i in 0..LANES {
                acc[i] += c[i];
            }
        }
        sums.set(r, &acc, rest);
    }
    let mean = sums.totals().map(|t| t / n);
    let mut squares = RowSums::<NORM_BLOCK>::new();
    for (r, xr) in xb.chunks_exact(hidden).enumerate() {
        let mean = mean[r];
        let mut acc = [0f32; LANES];
        for c in xr.chunks_exact(LANES) {
            for i in 0..LANES {
                let d = c[i] - mean;
                acc[i] += d * d;
            }
        }
        let rest: f32 =
            xr.chunks_exact(LANES).remainder().iter().map(|v| (v - mean) * (v - mean)).sum();
        squares.set(r, &acc, rest);
    }
    let var = squares.totals().map(|t| t / n);
    for (r, xr) in xb.chunks_exact_mut(hidden).enumerate() {
        let (mean, inv) = (mean[r], 1.0 / (var[r] + eps).sqrt());
        for ((v, wi), bi) in xr.iter_mut().zip(w).zip(b) {
            *v = (*v - mean) * inv * wi + bi;
        }
    }
}

#[inline(always)]
fn layernorm_body(x: &mut [f32], w: &[f32], b: &[f32], eps: f32) {
    for xb in x.chunks_mut(w.len() * NORM_BLOCK) {
        layernorm_block(xb, w, b, eps);
    }
}

dispatch!(
    /// GELU (the exact, `erf` form) in place.
    pub fn gelu(xs: &mut [f32]) => gelu_body
);
dispatch!(
    /// Row-wise softmax of `scale · scores` in place, rows of `len`.
    pub fn softmax(scores: &mut [f32], len: usize, scale: f32) => softmax_body
);
dispatch!(
    /// `x = LayerNorm(x + y)` row by row (rows of `w.len()`), the residual add fused in.
    pub fn add_layernorm(x: &mut [f32], y: &[f32], w: &[f32], b: &[f32], eps: f32) => add_layernorm_body
);
dispatch!(
    /// `x = LayerNorm(x)` row by row.
    pub fn layernorm(x: &mut [f32], w: &[f32], b: &[f32], eps: f32) => layernorm_body
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_erf_are_accurate() {
        for i in -2000..2000 {
            let x = i as f32 / 100.0;
            let rel = (exp(x) - x.exp()).abs() / x.exp();
            assert!(rel < 1e-6, "exp({x}): {rel}");
        }
        for (x, e) in
            [(0.0f32, 0.0f32), (0.5, 0.520_499_9), (1.0, 0.842_700_8), (-2.0, -0.995_322_3)]
        {
            assert!((erf(x) - e).abs() < 3e-7, "erf({x})");
        }
    }

    #[test]
    fn fused_ops_match_plain_ones() {
        let mut s = vec![1.0f32, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0];
        softmax(&mut s, 4, 1.0);
        let e: Vec<f32> = [1.0f32, 2.0, 3.0, 4.0].iter().map(|x| x.exp()).collect();
        let t: f32 = e.iter().sum();
        for i in 0..4 {
            assert!((s[i] - e[i] / t).abs() < 1e-6);
            assert!((s[4 + i] - 0.25).abs() < 1e-6);
        }
        let (w, b) = (vec![1.0f32; 32], vec![0.5f32; 32]);
        let mut x: Vec<f32> = (0..32).map(|i| i as f32).collect();
        add_layernorm(&mut x, &[1.0; 32], &w, &b, 1e-12);
        let mean: f32 = x.iter().sum::<f32>() / 32.0;
        assert!((mean - 0.5).abs() < 1e-5);
        let mut g = vec![-1.0f32, 0.0, 1.0, 3.0];
        gelu(&mut g);
        assert!((g[2] - 0.841_344_7).abs() < 1e-6 && (g[0] + 0.158_655_3).abs() < 1e-6);
    }

    /// Uniform draws in [-half, half) from a xorshift generator with this seed.
    fn uniform(mut seed: u64, half: f32) -> impl FnMut() -> f32 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 * half - half
        }
    }

    #[test]
    fn every_simd_path_of_this_machine_agrees_with_the_portable_one() {
        let paths = Simd::available();
        println!("paths on this CPU: {paths:?}");
        let mut rand = uniform(0x9E37_79B9_7F4A_7C15, 4.0);
        // Lengths around the lanes: remainders are where paths differ.
        for n in [1usize, 15, 16, 17, 33, 384, 1536] {
            let x: Vec<f32> = (0..n).map(|_| rand()).collect();
            let y: Vec<f32> = (0..n).map(|_| rand()).collect();
            let w: Vec<f32> = (0..n).map(|_| rand()).collect();
            let b: Vec<f32> = (0..n).map(|_| rand()).collect();
            let run = |path: Simd| {
                with_simd(path, || {
                    let mut g = x.clone();
                    gelu(&mut g);
                    let mut s = x.clone();
                    softmax(&mut s, n, 0.125);
                    let mut a = x.clone();
                    add_layernorm(&mut a, &y, &w, &b, 1e-12);
                    let mut l = x.clone();
                    layernorm(&mut l, &w, &b, 1e-12);
                    [g, s, a, l]
                })
            };
            let reference = run(Simd::Portable);
            for &path in &paths {
                let got = run(path);
                for (op, (r, g)) in ["gelu", "softmax", "add_layernorm", "layernorm"]
                    .iter()
                    .zip(reference.iter().zip(&got))
                {
                    for (i, (a, b)) in r.iter().zip(g).enumerate() {
                        let tol = 2e-6 * a.abs().max(1.0);
                        assert!((a - b).abs() <= tol, "{path:?} {op} n={n} [{i}]: {a} vs {b}");
                    }
                }
            }
        }
    }

    /// One row at a time, each reduced alone (lane sums added in lane order, then the tail):
    /// what the blocks of [`RowSums`] must reproduce bit for bit.
    fn row_sum(xs: &[f32]) -> f32 {
        let mut acc = [0f32; LANES];
        let chunks = xs.chunks_exact(LANES);
        let rest: f32 = chunks.remainder().iter().sum();
        for c in chunks {
            for i in 0..LANES {
                acc[i] += c[i];
            }
        }
        acc.iter().sum::<f32>() + rest
    }

    #[test]
    fn rows_reduced_in_blocks_give_the_bits_of_rows_reduced_alone() {
        let mut rand = uniform(0x2545_F491_4F6C_DD1D, 8.0);
        // Row counts across the blocks (8 and 16 rows), lengths with and without a tail.
        for (rows, len) in [(1usize, 16usize), (7, 40), (17, 48), (35, 21), (9, 384)] {
            let x: Vec<f32> = (0..rows * len).map(|_| rand()).collect();
            let (w, b): (Vec<f32>, Vec<f32>) = (0..len).map(|_| (rand(), rand())).unzip();
            for &path in &Simd::available() {
                let (s, l) = with_simd(path, || {
                    let mut s = x.clone();
                    softmax(&mut s, len, 0.125);
                    let mut l = x.clone();
                    layernorm(&mut l, &w, &b, 1e-12);
                    (s, l)
                });
                for r in 0..rows {
                    let row = &x[r * len..(r + 1) * len];
                    let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) * 0.125;
                    let e: Vec<f32> = row.iter().map(|&v| exp(v * 0.125 - m)).collect();
                    let inv = 1.0 / row_sum(&e);
                    let n = len as f32;
                    let mean = row_sum(row) / n;
                    let d: Vec<f32> = row.iter().map(|v| (v - mean) * (v - mean)).collect();
                    let inv_sd = 1.0 / (row_sum(&d) / n + 1e-12).sqrt();
                    for i in 0..len {
                        let (got, want) = (s[r * len + i], e[i] * inv);
                        assert_eq!(
                            got.to_bits(),
                            want.to_bits(),
                            "{path:?} softmax {rows}×{len} [{r}][{i}]"
                        );
                        let want = (row[i] - mean) * inv_sd * w[i] + b[i];
                        let got = l[r * len + i];
                        assert_eq!(
                            got.to_bits(),
                            want.to_bits(),
                            "{path:?} layernorm {rows}×{len} [{r}][{i}]"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn linear_is_a_transposed_product() {
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
        let w = [1.0f32, 0.0, 1.0, 0.0, 1.0, 0.0]; // 2×3
        let mut out = [0f32; 4];
        linear(&a, 2, 3, &w, 2, &[10.0, 20.0], &mut out);
        assert_eq!(out, [14.0, 22.0, 20.0, 25.0]);
    }
}
