//! int8 linear layers for the encoder: `out = a · wᵀ + bias` with the weights quantised once per
//! output channel (symmetric, [-127, 127]) and the activations quantised per token on the fly
//! (symmetric, [-127, 127], the token's largest magnitude mapped to 127). The integer dot
//! products are exact, so every kernel gives bit for bit the same vectors: the epilogue
//! `dot · (scale_token · scale_channel) + bias` is the same two f32 operations everywhere.
//!
//! Kernels, chosen at run time, best first:
//! - AVX-512 VNNI: `vpdpbusd` (u8 × s8, four products summed into each i32 lane); the
//!   activations are offset by 128 to be unsigned, and `128 · Σ w` is taken off each column.
//! - AVX2: `vpmaddwd` on activations and weights widened to i16 (exact; the `vpmaddubsw` route
//!   saturates its i16 pairs at 8-bit weights, which is why ONNX Runtime offers 7-bit weights
//!   on such machines and loses accuracy).
//! - portable: plain i32 loops, the reference the others are tested against (at the weights'
//!   width of the kernel it checks).
//!
//! And one that only `TERRENO_INT8_KERNEL=avx2-w6` chooses, for speed on a CPU without VNNI:
//! AVX2 with 6-bit weights. `vpmaddubsw` multiplies the unsigned activations by weights in
//! [-31, 31], two of its results are summed in i16 and `vpmaddwd` by ones widens them, so three
//! multiplying instructions do 64 products where `vpmaddwd` alone needs four for 32. Nothing
//! saturates (4 · 255 · 31 < 2¹⁵) and the sums are exact, but the weights are coarser. Measured
//! on Zen 3 (AVX2, 2 threads, `make bench-embed`): 1.28× the 8-bit AVX2 kernel end to end
//! (97.6 against 76.5 passages/s, 1.41× ONNX Runtime int8), min cosine to f32 0.99643 over the
//! 2,000 passages (0.99847 with 8-bit weights), 0.99424 for short queries, and the clusterings
//! of `make bench-cluster` move further from the f32 ones (categories ARI 0.858 / 0.901 on
//! SIB-200 against 0.937 / 0.899 with 8-bit weights). Not the default: the vectors would
//! differ from one CPU to another. The embedder's id names the weights' width, so a cache never
//! mixes the two.
//!
//! No maintained crate does this for our shapes: `gemm` (used for f32) has no integer
//! products, candle's quantised matmul is a row-by-row dot product for generation (no blocking
//! over tokens) and quantises activations in blocks of 32, and tract's kernels are internal to
//! its graph runtime.

/// Rows of one panel: the quantised activations of a panel stay in L2 while every column block
/// of the weights passes over them.
const PANEL: usize = 128;

/// The integer kernels, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512 with VNNI (`vpdpbusd` on 512-bit registers).
    Vnni512,
    /// AVX2 (`vpmaddwd` on 256-bit registers).
    Avx2,
    /// AVX2 with 6-bit weights (`vpmaddubsw`, two of them summed in i16, then `vpmaddwd`):
    /// faster, coarser, only where `TERRENO_INT8_KERNEL` names it.
    Avx2W6,
    /// Plain Rust, any CPU.
    Portable,
}

impl Kernel {
    /// The kernels this CPU can run, best first (always ending with the portable one); the
    /// first of them gives the same bits as every other kernel with 8-bit weights.
    pub fn available() -> Vec<Kernel> {
        let mut out = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512vnni")
            {
                out.push(Kernel::Vnni512);
            }
            if std::is_x86_feature_detected!("avx2") {
                out.push(Kernel::Avx2);
                out.push(Kernel::Avx2W6);
            }
        }
        out.push(Kernel::Portable);
        out
    }

    /// The best kernel of this CPU, unless `TERRENO_INT8_KERNEL` (`vnni512`, `avx2`,
    /// `portable`) names another one it has: the benchmark measures each path on one machine.
    pub fn best() -> Kernel {
        let available = Kernel::available();
        let wanted = std::env::var("TERRENO_INT8_KERNEL").ok();
        available
            .iter()
            .copied()
            .find(|k| wanted.as_deref().is_some_and(|w| w.eq_ignore_ascii_case(k.name())))
            .unwrap_or(available[0])
    }

    /// The kernel's name, as `TERRENO_INT8_KERNEL` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Vnni512 => "vnni512",
            Kernel::Avx2W6 => "avx2-w6",
            Kernel::Avx2 => "avx2",
            Kernel::Portable => "portable",
        }
    }

    /// Columns of one block, and the granularity of k, the kernel needs.
    fn block(self) -> (usize, usize) {
        match self {
            Kernel::Vnni512 => (48, 4),
            Kernel::Avx2W6 => (16, 8),
            Kernel::Avx2 => (16, 2),
            Kernel::Portable => (1, 1),
        }
    }

    /// The weights' width in bits: 8, or 6 where the kernel sums four products in i16
    /// (4 · 255 · 31 < 2¹⁵, so nothing saturates).
    pub fn weight_bits(self) -> u32 {
        match self {
            Kernel::Avx2W6 => 6,
            _ => 8,
        }
    }

    /// The weights' largest integer: 127 for 8 bits, 31 for 6.
    pub fn weight_levels(self) -> i32 {
        (1 << (self.weight_bits() - 1)) - 1
    }
}

/// The weights, laid out for one kernel.
enum Packed {
    /// Row-major `n × k`, for the portable kernel.
    Rows(Vec<i8>),
    /// Groups of 16 columns; in a group, for each 4 values of k, 16 × 4 bytes.
    Vnni(Vec<i8>),
    /// Groups of 8 columns; in a group, for each 2 values of k, 8 × 2 i16.
    Avx2(Vec<i16>),
    /// Groups of 8 columns; in a group, for each 4 values of k, 8 × 4 bytes.
    Avx2W6(Vec<i8>),
}

/// A linear layer with int8 weights.
pub struct QLinear {
    n: usize,
    k: usize,
    packed: Packed,
    scale: Vec<f32>,
    /// `128 · Σ_k w[c][k]` per column: what the unsigned activations add (VNNI only).
    offset: Vec<i32>,
    bias: Vec<f32>,
}

/// Reusable buffers of the quantised activations.
#[derive(Default)]
pub struct Scratch {
    bytes: Vec<u8>,
    words: Vec<i16>,
    scales: Vec<f32>,
}

impl QLinear {
    /// Quantises `w` (`n × k`, out × in, as the model stores it) for `kernel` (the portable one where the shape does not fit the kernel's
    /// blocks).
    pub fn for_kernel(w: &[f32], n: usize, k: usize, bias: &[f32], kernel: Kernel) -> QLinear {
        QLinear::with_levels(w, n, k, bias, kernel, kernel.weight_levels())
    }

    /// Quantises `w` to integers up to `levels` for `kernel`: the portable kernel takes the
    /// levels of another kernel to give its bits.
    pub fn with_levels(
        w: &[f32],
        n: usize,
        k: usize,
        bias: &[f32],
        kernel: Kernel,
        levels: i32,
    ) -> QLinear {
        assert!(w.len() == n * k && bias.len() == n);
        let mut q = vec![0i8; n * k];
        let mut scale = vec![0f32; n];
        for ((row, qrow), s) in w.chunks_exact(k).zip(q.chunks_exact_mut(k)).zip(&mut scale) {
            *s = quantize(row, qrow, levels as f32, |v| v as i8);
        }
        let offset = q.chunks_exact(k).map(|r| 128 * r.iter().map(|&v| v as i32).sum::<i32>());
        let offset = offset.collect();
        let (nb, kb) = kernel.block();
        let fits = n.is_multiple_of(nb) && k.is_multiple_of(kb);
        let kernel = if fits { kernel } else { Kernel::Portable };
        let packed = match kernel {
            Kernel::Portable => Packed::Rows(q),
            Kernel::Vnni512 => Packed::Vnni(fours(&q, n, k, 16)),
            Kernel::Avx2W6 => Packed::Avx2W6(fours(&q, n, k, 8)),
            Kernel::Avx2 => {
                let mut p = Vec::with_capacity(n * k);
                for g in 0..n / 8 {
                    for s in 0..k / 2 {
                        for c in 0..8 {
                            let at = (g * 8 + c) * k + 2 * s;
                            p.extend(q[at..at + 2].iter().map(|&v| v as i16));
                        }
                    }
                }
                Packed::Avx2(p)
            }
        };
        QLinear { n, k, packed, scale, offset, bias: bias.to_vec() }
    }

    /// The kernel this layer runs.
    pub fn kernel(&self) -> Kernel {
        match self.packed {
            Packed::Rows(_) => Kernel::Portable,
            Packed::Vnni(_) => Kernel::Vnni512,
            Packed::Avx2(_) => Kernel::Avx2,
            Packed::Avx2W6(_) => Kernel::Avx2W6,
        }
    }

    /// `out[m×n] = a[m×k] · wᵀ + bias`, row-major.
    pub fn forward(&self, a: &[f32], m: usize, out: &mut [f32], scratch: &mut Scratch) {
        let (n, k) = (self.n, self.k);
        assert!(a.len() >= m * k && out.len() >= m * n);
        let scales = &mut scratch.scales;
        scales.resize(PANEL, 0.0);
        match &self.packed {
            Packed::Rows(w) => {
                let q = &mut scratch.bytes;
                q.resize(k, 0);
                for r in 0..m {
                    let s = quantize(&a[r * k..(r + 1) * k], q, 127.0, |v| v as u8);
                    for c in 0..n {
                        let dot: i32 = q
                            .iter()
                            .zip(&w[c * k..(c + 1) * k])
                            .map(|(&x, &y)| x as i8 as i32 * y as i32)
                            .sum();
                        out[r * n + c] = dot as f32 * (s * self.scale[c]) + self.bias[c];
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            Packed::Vnni(w) => {
                scratch.bytes.resize(PANEL * k, 0);
                // SAFETY: the kernel was chosen from the detected features; the sizes were
                // checked above and at packing.
                unsafe { x86::vnni512(self, a, &mut scratch.bytes, scales, w, m, out) };
            }
            #[cfg(target_arch = "x86_64")]
            Packed::Avx2(w) => {
                scratch.words.resize(PANEL * k, 0);
                // SAFETY: as above.
                unsafe { x86::avx2(self, a, &mut scratch.words, scales, w, m, out) };
            }
            #[cfg(target_arch = "x86_64")]
            Packed::Avx2W6(w) => {
                scratch.bytes.resize(PANEL * k, 0);
                // SAFETY: as above.
                unsafe { x86::avx2_w6(self, a, &mut scratch.bytes, scales, w, m, out) };
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("only the portable kernel exists off x86-64"),
        }
    }
}

/// Groups of `g` columns of `q` (`n × k`, row-major); in a group, for each 4 values of k, the
/// group's `g × 4` bytes.
fn fours(q: &[i8], n: usize, k: usize, g: usize) -> Vec<i8> {
    let mut p = Vec::with_capacity(n * k);
    for group in 0..n / g {
        for s in 0..k / 4 {
            for c in 0..g {
                let at = (group * g + c) * k + 4 * s;
                p.extend_from_slice(&q[at..at + 4]);
            }
        }
    }
    p
}

/// Quantises `x` into `q` (symmetric, its largest magnitude to `levels`), each integer `v` in
/// [-levels, levels] stored as `to(v)`; returns the scale. Branch-free and vectorisable: adding
/// 1.5 · 2²³ rounds to the nearest integer (ties to even) and leaves it in the low bits.
#[inline(always)]
fn quantize<T>(x: &[f32], q: &mut [T], levels: f32, to: impl Fn(i32) -> T) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    const MAGIC_BITS: i32 = 0x4B40_0000;
    let mut lanes = [0f32; 16];
    let chunks = x.chunks_exact(16);
    let rest = chunks.remainder().iter().fold(0f32, |m, v| m.max(v.abs()));
    for c in chunks {
        for i in 0..16 {
            lanes[i] = lanes[i].max(c[i].abs());
        }
    }
    let max = lanes.iter().fold(rest, |m, &v| m.max(v));
    if max == 0.0 || !max.is_finite() {
        q.iter_mut().for_each(|v| *v = to(0));
        // A row of zeros gives the bias; a row with an infinity or NaN gives NaN, as f32 does.
        return if max == 0.0 { 0.0 } else { f32::NAN };
    }
    let inv = levels / max;
    for (d, v) in q.iter_mut().zip(x) {
        *d = to((v * inv + MAGIC).to_bits() as i32 - MAGIC_BITS);
    }
    max / levels
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{quantize, QLinear, PANEL};

    /// Runs `tile::<MR>` over the rows, `MR` the first of the constants listed while as many
    /// rows are left, then the largest that fits the rest.
    macro_rules! tiles {
        ($tile:ident, $rows:expr, [$max:literal $(, $mr:literal)*], $args:tt) => {{
            let mut r0 = 0;
            let rows = $rows;
            while r0 < rows {
                let left = (rows - r0).min($max);
                match left {
                    $max => tiles!(@call $tile, $max, r0, $args),
                    $($mr => tiles!(@call $tile, $mr, r0, $args),)*
                    _ => unreachable!(),
                }
                r0 += left;
            }
        }};
        (@call $tile:ident, $mr:literal, $r0:expr, ($($arg:expr),*)) => {
            $tile::<$mr>($r0, $($arg),*)
        };
    }

    /// The rows of `a`, a panel at a time: quantised into `q` (each integer stored by `to`)
    /// with their scales, then `block(rows, c0, q, scales, out)` for each block of `nr`
    /// columns, `out` from the panel's first row. Inlined into each kernel, so the quantisation
    /// is compiled with the kernel's instruction set.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn panels<T>(
        l: &QLinear,
        a: &[f32],
        q: &mut [T],
        scales: &mut [f32],
        m: usize,
        out: &mut [f32],
        nr: usize,
        to: impl Fn(i32) -> T + Copy,
        mut block: impl FnMut(usize, usize, &[T], &[f32], &mut [f32]),
    ) {
        let (n, k) = (l.n, l.k);
        for p0 in (0..m).step_by(PANEL) {
            let rows = PANEL.min(m - p0);
            for r in 0..rows {
                let x = &a[(p0 + r) * k..(p0 + r + 1) * k];
                scales[r] = quantize(x, &mut q[r * k..(r + 1) * k], 127.0, to);
            }
            for c0 in (0..n).step_by(nr) {
                block(rows, c0, q, scales, &mut out[p0 * n..]);
            }
        }
    }

    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI; `q` holds `PANEL × k` bytes, `w` is the layer's
    /// VNNI packing, `out` `m × n`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn vnni512(
        l: &QLinear,
        a: &[f32],
        q: &mut [u8],
        scales: &mut [f32],
        w: &[i8],
        m: usize,
        out: &mut [f32],
    ) {
        let to = |v: i32| v as u8 ^ 0x80;
        panels(l, a, q, scales, m, out, 48, to, |rows, c0, q, scales, out| {
            let wb = w[c0 * l.k..].as_ptr();
            // SAFETY: as this function's.
            unsafe {
                tiles!(vnni_tile, rows, [8, 7, 6, 5, 4, 3, 2, 1], (c0, l, q, scales, wb, &mut *out))
            }
        });
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni_tile<const MR: usize>(
        r0: usize,
        c0: usize,
        l: &QLinear,
        q: &[u8],
        scales: &[f32],
        w: *const i8,
        out: &mut [f32],
    ) {
        let (n, k) = (l.n, l.k);
        let a = q[r0 * k..].as_ptr();
        let group = 16 * k;
        let mut acc = [[_mm512_setzero_si512(); 3]; MR];
        // SAFETY (whole body): rows r0..r0+MR of q have k bytes each; the three groups of
        // columns c0..c0+48 have k·16 bytes each from w; out has rows r0..r0+MR of n columns.
        unsafe {
            for s in 0..k / 4 {
                let w0 = _mm512_loadu_si512(w.add(s * 64) as *const _);
                let w1 = _mm512_loadu_si512(w.add(group + s * 64) as *const _);
                let w2 = _mm512_loadu_si512(w.add(2 * group + s * 64) as *const _);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = (a.add(r * k + 4 * s) as *const i32).read_unaligned();
                    let x = _mm512_set1_epi32(x);
                    acc[0] = _mm512_dpbusd_epi32(acc[0], x, w0);
                    acc[1] = _mm512_dpbusd_epi32(acc[1], x, w1);
                    acc[2] = _mm512_dpbusd_epi32(acc[2], x, w2);
                }
            }
            for j in 0..3 {
                let c = c0 + 16 * j;
                let off = _mm512_loadu_si512(l.offset.as_ptr().add(c) as *const _);
                let sw = _mm512_loadu_ps(l.scale.as_ptr().add(c));
                let b = _mm512_loadu_ps(l.bias.as_ptr().add(c));
                for (r, acc) in acc.iter().enumerate() {
                    let dot = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[j], off));
                    let s = _mm512_mul_ps(_mm512_set1_ps(scales[r0 + r]), sw);
                    let v = _mm512_add_ps(_mm512_mul_ps(dot, s), b);
                    _mm512_storeu_ps(out.as_mut_ptr().add((r0 + r) * n + c), v);
                }
            }
        }
    }

    /// # Safety
    /// The CPU has AVX2; `q` holds `PANEL × k` i16, `w` is the layer's AVX2 packing, `out`
    /// `m × n`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2(
        l: &QLinear,
        a: &[f32],
        q: &mut [i16],
        scales: &mut [f32],
        w: &[i16],
        m: usize,
        out: &mut [f32],
    ) {
        panels(
            l,
            a,
            q,
            scales,
            m,
            out,
            16,
            |v| v as i16,
            |rows, c0, q, scales, out| {
                let wb = w[c0 * l.k..].as_ptr();
                // SAFETY: as this function's.
                unsafe {
                    tiles!(avx2_tile, rows, [6, 5, 4, 3, 2, 1], (c0, l, q, scales, wb, &mut *out))
                }
            },
        );
    }

    /// # Safety
    /// The CPU has AVX2; `q` holds `PANEL × k` bytes, `w` is the layer's 6-bit packing, `out`
    /// `m × n`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2_w6(
        l: &QLinear,
        a: &[f32],
        q: &mut [u8],
        scales: &mut [f32],
        w: &[i8],
        m: usize,
        out: &mut [f32],
    ) {
        let to = |v: i32| v as u8 ^ 0x80;
        panels(l, a, q, scales, m, out, 16, to, |rows, c0, q, scales, out| {
            let wb = w[c0 * l.k..].as_ptr();
            // SAFETY: as this function's.
            unsafe { tiles!(w6_tile, rows, [4, 3, 2, 1], (c0, l, q, scales, wb, &mut *out)) }
        });
    }

    /// Activations offset to unsigned bytes (1..=255) times 6-bit weights: `vpmaddubsw` sums
    /// two products in i16, two of those are summed in i16 (at most 4 · 255 · 31 = 31,620, so
    /// neither step saturates), and `vpmaddwd` by ones widens them to i32.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn w6_tile<const MR: usize>(
        r0: usize,
        c0: usize,
        l: &QLinear,
        q: &[u8],
        scales: &[f32],
        w: *const i8,
        out: &mut [f32],
    ) {
        let (n, k) = (l.n, l.k);
        let a = q[r0 * k..].as_ptr();
        let group = 8 * k;
        let mut acc = [[_mm256_setzero_si256(); 2]; MR];
        // SAFETY (whole body): rows r0..r0+MR of q have k bytes each; the two groups of
        // columns c0..c0+16 have k·8 bytes each from w; out has rows r0..r0+MR of n columns.
        unsafe {
            let ones = _mm256_set1_epi16(1);
            for s in 0..k / 8 {
                let w00 = _mm256_loadu_si256(w.add(s * 64) as *const _);
                let w01 = _mm256_loadu_si256(w.add(s * 64 + 32) as *const _);
                let w10 = _mm256_loadu_si256(w.add(group + s * 64) as *const _);
                let w11 = _mm256_loadu_si256(w.add(group + s * 64 + 32) as *const _);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let at = a.add(r * k + 8 * s);
                    let x0 = _mm256_set1_epi32((at as *const i32).read_unaligned());
                    let x1 = _mm256_set1_epi32((at.add(4) as *const i32).read_unaligned());
                    let p0 = _mm256_add_epi16(
                        _mm256_maddubs_epi16(x0, w00),
                        _mm256_maddubs_epi16(x1, w01),
                    );
                    let p1 = _mm256_add_epi16(
                        _mm256_maddubs_epi16(x0, w10),
                        _mm256_maddubs_epi16(x1, w11),
                    );
                    acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(p0, ones));
                    acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(p1, ones));
                }
            }
            for j in 0..2 {
                let c = c0 + 8 * j;
                let off = _mm256_loadu_si256(l.offset.as_ptr().add(c) as *const _);
                let sw = _mm256_loadu_ps(l.scale.as_ptr().add(c));
                let b = _mm256_loadu_ps(l.bias.as_ptr().add(c));
                for (r, acc) in acc.iter().enumerate() {
                    let dot = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[j], off));
                    let s = _mm256_mul_ps(_mm256_set1_ps(scales[r0 + r]), sw);
                    let v = _mm256_add_ps(_mm256_mul_ps(dot, s), b);
                    _mm256_storeu_ps(out.as_mut_ptr().add((r0 + r) * n + c), v);
                }
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn avx2_tile<const MR: usize>(
        r0: usize,
        c0: usize,
        l: &QLinear,
        q: &[i16],
        scales: &[f32],
        w: *const i16,
        out: &mut [f32],
    ) {
        let (n, k) = (l.n, l.k);
        let a = q[r0 * k..].as_ptr();
        let group = 8 * k;
        let mut acc = [[_mm256_setzero_si256(); 2]; MR];
        // SAFETY (whole body): as in the VNNI tile, with two groups of 8 columns of i16.
        unsafe {
            for s in 0..k / 2 {
                let w0 = _mm256_loadu_si256(w.add(s * 16) as *const _);
                let w1 = _mm256_loadu_si256(w.add(group + s * 16) as *const _);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = (a.add(r * k + 2 * s) as *const i32).read_unaligned();
                    let x = _mm256_set1_epi32(x);
                    acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(x, w0));
                    acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(x, w1));
                }
            }
            for j in 0..2 {
                let c = c0 + 8 * j;
                let sw = _mm256_loadu_ps(l.scale.as_ptr().add(c));
                let b = _mm256_loadu_ps(l.bias.as_ptr().add(c));
                for (r, acc) in acc.iter().enumerate() {
                    let dot = _mm256_cvtepi32_ps(acc[j]);
                    let s = _mm256_mul_ps(_mm256_set1_ps(scales[r0 + r]), sw);
                    let v = _mm256_add_ps(_mm256_mul_ps(dot, s), b);
                    _mm256_storeu_ps(out.as_mut_ptr().add((r0 + r) * n + c), v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, seed: u64, outliers: bool) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let v = (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                if outliers && i % 97 == 5 {
                    v * 30.0
                } else {
                    v
                }
            })
            .collect()
    }

    #[test]
    fn every_kernel_of_this_machine_gives_the_portable_bits() {
        println!("int8 kernels on this CPU: {:?}", Kernel::available());
        // Shapes of the model (k 384 and 1536, n 384 and 1152) and odd row counts: the tiles'
        // remainders are where kernels differ.
        for (m, k, n) in [(1, 384, 384), (7, 384, 1152), (13, 1536, 384), (131, 384, 48)] {
            let a = random(m * k, 11 + m as u64, true);
            let w = random(n * k, 29 + n as u64, false);
            let bias = random(n, 5, false);
            let reference = |levels| {
                let l = QLinear::with_levels(&w, n, k, &bias, Kernel::Portable, levels);
                let mut out = vec![0f32; m * n];
                l.forward(&a, m, &mut out, &mut Scratch::default());
                out
            };
            for kernel in Kernel::available() {
                let reference = reference(kernel.weight_levels());
                let l = QLinear::for_kernel(&w, n, k, &bias, kernel);
                assert_eq!(l.kernel(), kernel, "{m}×{k}×{n}");
                let mut out = vec![0f32; m * n];
                l.forward(&a, m, &mut out, &mut Scratch::default());
                assert!(
                    out == reference,
                    "{kernel:?} differs from the portable kernel, {m}×{k}×{n}"
                );
            }
        }
    }

    #[test]
    fn the_int8_product_is_close_to_the_f32_one() {
        let (m, k, n) = (9, 384, 96);
        let a = random(m * k, 3, false);
        let w = random(n * k, 4, false);
        let bias = vec![0.5f32; n];
        let mut exact = vec![0f32; m * n];
        super::super::kernels::linear(&a, m, k, &w, n, &bias, &mut exact);
        let spread = exact.iter().map(|x| (x - 0.5).abs()).fold(0f32, f32::max);
        // Each product carries about 1/254 of relative error from each side (8-bit weights),
        // or 1/62 from a 6-bit weight; over 384 terms of random sign the sum's error is a few
        // thousandths of the values' spread, or about four times that.
        for (levels, bound) in [(127, 0.02), (31, 0.06)] {
            let l = QLinear::with_levels(&w, n, k, &bias, Kernel::Portable, levels);
            let mut out = vec![0f32; m * n];
            l.forward(&a, m, &mut out, &mut Scratch::default());
            let worst = exact.iter().zip(&out).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            eprintln!("weights to ±{levels}: worst error {worst} against values up to {spread}");
            assert!(worst < bound * spread, "±{levels}: worst error {worst}, spread {spread}");
            // A zero row stays exactly the bias.
            let mut zero = vec![0f32; n];
            l.forward(&vec![0f32; k], 1, &mut zero, &mut Scratch::default());
            assert!(zero.iter().all(|&v| v == 0.5));
        }
    }
}
