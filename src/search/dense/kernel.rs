//! Integer matrix products: the model's linear layers and the passage-vector search.
//!
//! Nearly all of the model's time is its linear layers (about 10.6 million multiply-adds per
//! token), and the weights ship as int8 with one scale per row. Converting them to f32 on every
//! call, as the first forward pass did, cost more memory traffic than the products themselves.
//! Here they are multiplied as integers, unconverted: each activation row is quantised to
//! 16-bit integers with a scale of its own, and `i16 × i8` products are summed exactly into
//! `i32`. With AVX2 (`vpmaddwd`, detected at run time: the portable build targets baseline
//! x86-64) that is 16 multiply-adds per instruction; elsewhere a portable loop gives the same
//! sums. 16-bit activations (up to [`activation_limit`], 11 bits and more) keep the model's
//! vectors within cosine 0.999 of the float model where 8-bit ones would lose precision to the
//! few outlying dimensions BERT's layer norms produce. BENCHMARKS.md has the options measured.

/// A matrix of int8 rows with one f32 scale per row: row `r` is `values[r*cols..][..cols] *
/// scales[r]`.
#[derive(Debug, Clone, Copy)]
pub struct Int8Rows<'a> {
    /// Number of rows.
    pub rows: usize,
    /// Length of each row.
    pub cols: usize,
    /// `rows × cols` values, row-major.
    pub values: &'a [i8],
    /// One scale per row.
    pub scales: &'a [f32],
}

/// Rows of f32 quantised to i16, one scale per row, reused between calls.
#[derive(Debug, Default, Clone)]
pub struct QuantRows {
    rows: usize,
    cols: usize,
    values: Vec<i16>,
    scales: Vec<f32>,
}

/// The largest magnitude an activation is quantised to for rows of `cols` values: products
/// with int8 weights (|w| ≤ 127) then sum to at most `i32::MAX` over a whole row.
pub fn activation_limit(cols: usize) -> f32 {
    let limit = i32::MAX as usize / (cols.max(1) * 127);
    limit.min(i16::MAX as usize) as f32
}

impl QuantRows {
    /// Quantises `x` (rows of `cols` values) in place of what was held before.
    pub fn quantize(&mut self, x: &[f32], cols: usize) {
        assert!(cols > 0 && x.len().is_multiple_of(cols), "whole rows");
        let limit = activation_limit(cols);
        self.rows = x.len() / cols;
        self.cols = cols;
        self.values.clear();
        self.values.resize(x.len(), 0);
        self.scales.clear();
        for (row, out) in x.chunks_exact(cols).zip(self.values.chunks_exact_mut(cols)) {
            let max = max_abs(row);
            if max > 0.0 && max.is_finite() {
                let inv = limit / max;
                for (q, &v) in out.iter_mut().zip(row) {
                    *q = round(v * inv) as i16;
                }
                self.scales.push(max / limit);
            } else {
                self.scales.push(0.0);
            }
        }
    }

    /// Number of rows held.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// Round to nearest (ties to even) for |v| < 2²², written so that it vectorises everywhere.
#[inline(always)]
pub(super) fn round(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 × 2²³
    (v + MAGIC) - MAGIC
}

/// The largest |x|, with eight running maxima so that it vectorises.
#[inline(always)]
fn max_abs(row: &[f32]) -> f32 {
    let mut lanes = [0.0_f32; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (l, v) in lanes.iter_mut().zip(c) {
            *l = l.max(v.abs());
        }
    }
    let mut max = tail.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
    for l in lanes {
        max = max.max(l);
    }
    max
}

/// `out[t × w.rows + r] = (a_t · w_r) × scale_t × scale_r + bias[r]` for every row `t` of `a`
/// and `r` of `w`: `x · Wᵀ` with the integers summed exactly.
///
/// Panics if the shapes disagree (a bug, never input: the shapes are the model's).
pub fn matmul(a: &QuantRows, w: &Int8Rows<'_>, bias: Option<&[f32]>, out: &mut [f32]) {
    check_shapes(a, w, bias, out);
    #[cfg(target_arch = "x86_64")]
    if simd_available() && w.cols.is_multiple_of(16) {
        // SAFETY: AVX2 was detected on this processor just now, and the shapes were checked.
        unsafe { avx2::matmul(a, w, bias, out) };
        return;
    }
    matmul_portable(a, w, bias, out);
}

fn check_shapes(a: &QuantRows, w: &Int8Rows<'_>, bias: Option<&[f32]>, out: &[f32]) {
    assert_eq!(a.cols, w.cols, "inner dimensions");
    assert_eq!(a.values.len(), a.rows * a.cols);
    assert_eq!(a.scales.len(), a.rows);
    assert_eq!(w.values.len(), w.rows * w.cols);
    assert_eq!(w.scales.len(), w.rows);
    assert_eq!(out.len(), a.rows * w.rows, "output size");
    if let Some(b) = bias {
        assert_eq!(b.len(), w.rows, "bias size");
    }
}

/// Whether [`matmul`] takes its AVX2 path on this processor.
pub fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The same products as [`matmul`] without SIMD intrinsics (the compiler still vectorises
/// what it can): processors without AVX2, and the reference the SIMD path is tested against.
pub fn matmul_portable(a: &QuantRows, w: &Int8Rows<'_>, bias: Option<&[f32]>, out: &mut [f32]) {
    check_shapes(a, w, bias, out);
    let cols = a.cols;
    for ((arow, &sa), orow) in a
        .values
        .chunks_exact(cols)
        .zip(&a.scales)
        .zip(out.chunks_exact_mut(w.rows.max(1)))
    {
        for (r, ((wrow, &sw), o)) in w
            .values
            .chunks_exact(cols)
            .zip(w.scales)
            .zip(orow.iter_mut())
            .enumerate()
        {
            let dot: i32 = arow
                .iter()
                .zip(wrow)
                .map(|(&x, &y)| i32::from(x) * i32::from(y))
                .sum();
            *o = dot as f32 * (sa * sw) + bias.map_or(0.0, |b| b[r]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Int8Rows, QuantRows};
    use std::arch::x86_64::*;

    /// Activation rows per block.
    const MR: usize = 4;
    /// Weight rows per block.
    const NR: usize = 2;
    /// Weight rows swept over all activation rows before moving on, so that they stay in
    /// the core's cache (64 rows of 1536 bytes: 96 KB) while activations stream past.
    const PANEL: usize = 64;

    /// Sums of eight i32 lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn hsum(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }

    /// The `M × N` dot products of activation rows `a` with weight rows `w` (`cols` apart,
    /// `cols` a multiple of 16), in registers.
    ///
    /// # Safety
    /// AVX2 must be available; `a` must point to `M` rows and `w` to `N` rows of `cols`
    /// readable elements each.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn block<const M: usize, const N: usize>(
        a: *const i16,
        w: *const i8,
        cols: usize,
    ) -> [[i32; N]; M] {
        let mut acc = [[_mm256_setzero_si256(); N]; M];
        let mut k = 0;
        while k < cols {
            let mut wv = [_mm256_setzero_si256(); N];
            for (j, wv) in wv.iter_mut().enumerate() {
                let p = w.add(j * cols + k) as *const __m128i;
                *wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(p));
            }
            for (i, acc) in acc.iter_mut().enumerate() {
                let av = _mm256_loadu_si256(a.add(i * cols + k) as *const __m256i);
                for (acc, wv) in acc.iter_mut().zip(&wv) {
                    *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(av, *wv));
                }
            }
            k += 16;
        }
        let mut out = [[0; N]; M];
        for (o, acc) in out.iter_mut().zip(&acc) {
            for (o, acc) in o.iter_mut().zip(acc) {
                *o = hsum(*acc);
            }
        }
        out
    }

    /// One block computed and written out, scaled and biased.
    ///
    /// # Safety
    /// AVX2 must be available; rows `t..t+M` of `a` and `r..r+N` of `w` must exist.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn store<const M: usize, const N: usize>(
        a: &QuantRows,
        w: &Int8Rows<'_>,
        bias: Option<&[f32]>,
        out: &mut [f32],
        t: usize,
        r: usize,
    ) {
        let cols = a.cols;
        let dots = block::<M, N>(
            a.values.as_ptr().add(t * cols),
            w.values.as_ptr().add(r * cols),
            cols,
        );
        for (i, row) in dots.iter().enumerate() {
            let sa = a.scales[t + i];
            let o = &mut out[(t + i) * w.rows + r..][..N];
            for (j, (o, &d)) in o.iter_mut().zip(row).enumerate() {
                *o = d as f32 * (sa * w.scales[r + j]) + bias.map_or(0.0, |b| b[r + j]);
            }
        }
    }

    /// [`super::matmul`] with AVX2.
    ///
    /// # Safety
    /// AVX2 must be available, the shapes checked and `cols` a multiple of 16.
    #[target_feature(enable = "avx2")]
    pub unsafe fn matmul(a: &QuantRows, w: &Int8Rows<'_>, bias: Option<&[f32]>, out: &mut [f32]) {
        debug_assert!(a.cols.is_multiple_of(16));
        let n = a.rows;
        let mut r0 = 0;
        while r0 < w.rows {
            let r1 = (r0 + PANEL).min(w.rows);
            let mut t = 0;
            while t < n {
                let m = (n - t).min(MR);
                let mut r = r0;
                while r < r1 {
                    let nr = (r1 - r).min(NR);
                    match (m, nr) {
                        (4, 2) => store::<4, 2>(a, w, bias, out, t, r),
                        (4, _) => store::<4, 1>(a, w, bias, out, t, r),
                        (3, 2) => store::<3, 2>(a, w, bias, out, t, r),
                        (3, _) => store::<3, 1>(a, w, bias, out, t, r),
                        (2, 2) => store::<2, 2>(a, w, bias, out, t, r),
                        (2, _) => store::<2, 1>(a, w, bias, out, t, r),
                        (_, 2) => store::<1, 2>(a, w, bias, out, t, r),
                        _ => store::<1, 1>(a, w, bias, out, t, r),
                    }
                    r += nr;
                }
                t += m;
            }
            r0 = r1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random values in [-1, 1).
    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn weights(rows: usize, cols: usize, seed: u64) -> (Vec<i8>, Vec<f32>) {
        let values = noise(rows * cols, seed)
            .iter()
            .map(|v| (v * 127.0) as i8)
            .collect();
        let scales = noise(rows, seed + 1)
            .iter()
            .map(|v| 0.01 + v.abs())
            .collect();
        (values, scales)
    }

    /// The float product the integer one approximates.
    fn reference(x: &[f32], cols: usize, w: &Int8Rows<'_>, bias: &[f32]) -> Vec<f32> {
        let mut out = Vec::new();
        for row in x.chunks_exact(cols) {
            for ((wr, &scale), &b) in w.values.chunks_exact(cols).zip(w.scales).zip(bias) {
                let dot: f64 = row
                    .iter()
                    .zip(wr)
                    .map(|(&a, &b)| f64::from(a) * f64::from(b))
                    .sum();
                out.push((dot * f64::from(scale)) as f32 + b);
            }
        }
        out
    }

    #[test]
    fn simd_and_portable_paths_give_the_same_sums() {
        // Shapes of the model (384, 1536 columns) and ragged edges for the blocked loops.
        for (n, rows, cols) in [
            (1, 384, 384),
            (12, 1536, 384),
            (7, 384, 1536),
            (5, 67, 32),
            (3, 1, 16),
        ] {
            let x = noise(n * cols, 7);
            let (values, scales) = weights(rows, cols, 11);
            let w = Int8Rows {
                rows,
                cols,
                values: &values,
                scales: &scales,
            };
            let bias = noise(rows, 13);
            let mut q = QuantRows::default();
            q.quantize(&x, cols);
            let mut fast = vec![0.0; n * rows];
            let mut portable = vec![0.0; n * rows];
            matmul(&q, &w, Some(&bias), &mut fast);
            matmul_portable(&q, &w, Some(&bias), &mut portable);
            // The integer sums are exact on both paths: the same floats come out.
            assert_eq!(fast, portable, "{n}×{rows}×{cols}");
            // And they are the float product, to within the activations' rounding.
            let want = reference(&x, cols, &w, &bias);
            let scale = want.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
            for (a, b) in fast.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-3 * scale, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn extreme_rows_neither_overflow_nor_divide_by_zero() {
        let cols = 1536;
        // Every product at its largest: the i32 sums must not wrap.
        let x = vec![1.0_f32; cols];
        let values = vec![-127_i8; cols];
        let w = Int8Rows {
            rows: 1,
            cols,
            values: &values,
            scales: &[1.0],
        };
        let mut q = QuantRows::default();
        q.quantize(&x, cols);
        let mut out = [0.0];
        matmul(&q, &w, None, &mut out);
        assert!((out[0] + 127.0 * cols as f32).abs() < 1.0, "{}", out[0]);
        // A row of zeros has no scale to divide by; it multiplies to zero.
        q.quantize(&vec![0.0; cols], cols);
        matmul(&q, &w, None, &mut out);
        assert_eq!(out[0], 0.0);
        assert_eq!(q.rows(), 1);
    }

    #[test]
    fn rounding_is_to_nearest() {
        assert_eq!(round(2.4), 2.0);
        assert_eq!(round(-2.6), -3.0);
        assert_eq!(round(32766.7), 32767.0);
    }
}
