//! Matrix products of 16-bit float operands (`bf16`, `f16`) with `f32` accumulation: the
//! kernel behind matmul and convolution of low-precision tensors.
//!
//! The products of two 16-bit floats are exact in `f32` (at most 11 + 11 significant bits),
//! so every path computes the same sums of exact products in `f32`; paths differ only in
//! the order of the additions. `bf16` operands go to the kernel [`LowpKernel::selected`]
//! (AMX tiles, AVX-512 BF16 or portable, see [`super::matmul_lowp`]); `f16` ones, for which this
//! code has no hardware product, are widened to `f32` (the portable path).

use super::matmul::{gemm_into, Mat};
use super::matmul_lowp::LowpKernel;
use gemm::Parallelism;
use half::{bf16, f16};

/// A 16-bit float that widens exactly to `f32`.
pub(crate) trait Half: Copy + Send + Sync + 'static {
    /// Whether the type is `bf16` (whose bits the hardware kernels multiply).
    const IS_BF16: bool;
    /// The value as `f32` (exact).
    fn widen(self) -> f32;
}

impl Half for bf16 {
    const IS_BF16: bool = true;
    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }
}

impl Half for f16 {
    const IS_BF16: bool = false;
    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }
}

/// Copies the `rows × cols` strided matrix `x` into a contiguous row-major `f32` buffer.
///
/// # Safety
/// Every element `x` describes (from its pointer, with its row and column strides) must lie
/// in one live allocation.
unsafe fn widen_panel<T: Half>(x: Mat<T>, rows: usize, cols: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * cols);
    for i in 0..rows as isize {
        for j in 0..cols as isize {
            // SAFETY: (i, j) is an element of the matrix, in the allocation by the contract.
            out.push(unsafe { *x.0.offset(i * x.1 + j * x.2) }.widen());
        }
    }
    out
}

/// `dst (m×n, f32) = a (m×k) · b (k×n)`, or `dst += a · b` with `accumulate`, for 16-bit
/// operands, accumulating in `f32`, through the kernel [`LowpKernel::selected`].
///
/// # Safety
/// As [`gemm_into`]: every element the three strided matrices describe must lie in one live
/// allocation; `dst`'s must be writable, initialised when `accumulate`, and not overlap `a`'s
/// or `b`'s.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_lowp_into<T: Half>(
    dims: (usize, usize, usize),
    dst: *mut f32,
    dst_strides: (isize, isize),
    accumulate: bool,
    a: Mat<T>,
    b: Mat<T>,
) {
    // SAFETY: the caller's contract; the selected kernel is available.
    unsafe {
        gemm_lowp_with(
            LowpKernel::selected(),
            dims,
            dst,
            dst_strides,
            accumulate,
            a,
            b,
        )
    }
}

/// [`gemm_lowp_into`] through the given kernel (`f16` operands always take the portable
/// path).
///
/// # Safety
/// As [`gemm_lowp_into`], and `kernel` is available ([`LowpKernel::available`]).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_lowp_with<T: Half>(
    kernel: LowpKernel,
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_strides: (isize, isize),
    accumulate: bool,
    a: Mat<T>,
    b: Mat<T>,
) {
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if T::IS_BF16 && kernel != LowpKernel::Portable {
        use super::{amx::Amx, bf16_avx512::Avx512Bf16, bf16_tiles::gemm_bf16};
        // `bf16` is a transparent wrapper of its bits (`half` declares it
        // `#[repr(transparent)]` over `u16`), so the operands can be read as `u16`.
        let (a, b) = (
            Mat(a.0.cast::<u16>(), a.1, a.2),
            Mat(b.0.cast::<u16>(), b.1, b.2),
        );
        let dims = (m, n, k);
        // SAFETY: the caller's contract on the operands, and the kernel's availability.
        unsafe {
            match kernel {
                LowpKernel::Amx => gemm_bf16(&Amx, dims, dst, dst_strides, accumulate, a, b),
                _ => gemm_bf16(&Avx512Bf16, dims, dst, dst_strides, accumulate, a, b),
            }
        }
        return;
    }
    let _ = kernel;
    // SAFETY: the caller's contract covers the operands' elements.
    let (wa, wb) = unsafe { (widen_panel(a, m, k), widen_panel(b, k, n)) };
    // SAFETY: the widened panels are contiguous row-major buffers of exactly `m×k` and
    // `k×n` elements; `dst` is the caller's, valid by the contract.
    unsafe {
        gemm_into(
            (m, n, k),
            dst,
            dst_strides,
            accumulate,
            Mat(wa.as_ptr(), k as isize, 1),
            Mat(wb.as_ptr(), n as isize, 1),
            Parallelism::None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The kernels this processor runs (the portable one always: the forced fallback).
    fn kernels() -> Vec<LowpKernel> {
        LowpKernel::ALL
            .into_iter()
            .filter(|k| k.available())
            .collect()
    }

    /// A product to check: shapes, operand layouts and the destination's.
    #[derive(Clone, Copy, Debug)]
    struct Case {
        m: usize,
        n: usize,
        k: usize,
        /// `a` stored column-major (read through swapped strides).
        a_t: bool,
        /// `b` stored column-major.
        b_t: bool,
        /// Extra elements between the destination's rows.
        pad: usize,
        /// `dst` column-major (row stride 1).
        dst_t: bool,
        accumulate: bool,
    }

    /// Runs `case` on `kernel` with the operands given row-major as `f64` (rounded to `T`),
    /// the destination starting at `c0`; returns the result and the `f64` reference
    /// `c0·[accumulate] + Σ a·b` of the rounded values, with `Σ |a||b| + |c0|` per entry.
    fn run<T: Half>(
        kernel: LowpKernel,
        case: Case,
        a: &[f64],
        b: &[f64],
        c0: &[f64],
        round: fn(f64) -> T,
    ) -> Vec<(f32, f64, f64)> {
        let Case { m, n, k, .. } = case;
        let store = |x: &[f64], rows: usize, cols: usize, t: bool| -> (Vec<T>, isize, isize) {
            let mut v = vec![round(0.0); rows * cols];
            for i in 0..rows {
                for j in 0..cols {
                    let at = if t { j * rows + i } else { i * cols + j };
                    v[at] = round(x[i * cols + j]);
                }
            }
            let (rs, cs) = if t {
                (1, rows as isize)
            } else {
                (cols as isize, 1)
            };
            (v, rs, cs)
        };
        let (av, ars, acs) = store(a, m, k, case.a_t);
        let (bv, brs, bcs) = store(b, k, n, case.b_t);
        let (drs, dcs) = if case.dst_t {
            (1, (m + case.pad) as isize)
        } else {
            ((n + case.pad) as isize, 1)
        };
        let mut dst = vec![f32::NAN; (m + case.pad) * (n + case.pad)];
        let at = |i: usize, j: usize| (i as isize * drs + j as isize * dcs) as usize;
        for i in 0..m {
            for j in 0..n {
                dst[at(i, j)] = c0[i * n + j] as f32;
            }
        }
        // SAFETY: the operands and destination are the buffers above, which hold every
        // element of their strided views; `dst` is initialised.
        unsafe {
            gemm_lowp_with(
                kernel,
                (m, n, k),
                dst.as_mut_ptr(),
                (drs, dcs),
                case.accumulate,
                Mat(av.as_ptr(), ars, acs),
                Mat(bv.as_ptr(), brs, bcs),
            )
        };
        let w = |x: &[T], i: usize| x[i].widen() as f64;
        let mut out = Vec::new();
        for i in 0..m {
            for j in 0..n {
                let (mut want, mut mag) = (0.0, 0.0);
                if case.accumulate {
                    want = c0[i * n + j] as f32 as f64;
                    mag = want.abs();
                }
                for p in 0..k {
                    let ia = if case.a_t { p * m + i } else { i * k + p };
                    let ib = if case.b_t { j * k + p } else { p * n + j };
                    want += w(&av, ia) * w(&bv, ib);
                    mag += (w(&av, ia) * w(&bv, ib)).abs();
                }
                out.push((dst[at(i, j)], want, mag));
            }
        }
        // Nothing outside the m×n elements is written (the padding keeps its NaN).
        let written = dst.iter().filter(|x| !x.is_nan()).count();
        let finite = out.iter().filter(|o| !o.0.is_nan()).count();
        assert_eq!(
            written, finite,
            "{kernel:?} {case:?}: writes outside the destination"
        );
        out
    }

    /// Small integers: every product and partial sum is exact in `f32`, so every kernel
    /// must match the `f64` reference exactly.
    fn ints(len: usize, seed: usize) -> Vec<f64> {
        (0..len)
            .map(|i| ((i * 7 + seed * 13) % 11) as f64 - 5.0)
            .collect()
    }

    /// Uniform values in [-1, 1) from a small generator (deterministic).
    fn uniform(len: usize, mut seed: u64) -> Vec<f64> {
        (0..len)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
            })
            .collect()
    }

    const SHAPES: [(usize, usize, usize); 11] = [
        (1, 1, 1),
        (1, 1, 0),
        (3, 2, 0),
        (5, 7, 33),
        (16, 16, 32),
        (17, 33, 31),
        (33, 17, 1),
        (32, 64, 63),
        (47, 35, 65),
        (70, 40, 300),
        (300, 35, 70),
    ];

    fn cases() -> impl Iterator<Item = Case> {
        SHAPES.into_iter().flat_map(|(m, n, k)| {
            (0..16).map(move |bits| Case {
                m,
                n,
                k,
                a_t: bits & 1 != 0,
                b_t: bits & 2 != 0,
                pad: if bits & 4 != 0 { 3 } else { 0 },
                dst_t: bits & 4 != 0 && bits & 2 != 0,
                accumulate: bits & 8 != 0,
            })
        })
    }

    #[test]
    fn every_kernel_is_exact_on_small_integers() {
        for kernel in kernels() {
            for case in cases() {
                let (m, n, k) = (case.m, case.n, case.k);
                let (a, b, c0) = (ints(m * k, 1), ints(k * n, 2), ints(m * n, 3));
                for (got, want, _) in run(kernel, case, &a, &b, &c0, bf16::from_f64) {
                    assert_eq!(got as f64, want, "{kernel:?} {case:?}");
                }
                for (got, want, _) in run(kernel, case, &a, &b, &c0, f16::from_f64) {
                    assert_eq!(got as f64, want, "f16 {kernel:?} {case:?}");
                }
            }
        }
    }

    /// On random values the products are exact in `f32` (two 8-bit significands), and only
    /// the `k` additions (`k + 1` with `accumulate`) round, each by at most a relative
    /// 2⁻²⁴ of a partial sum bounded by `Σ |a||b| (+ |c0|)`; whatever the order of the
    /// additions, the error is at most `γ = j·2⁻²⁴ / (1 − j·2⁻²⁴)` times that for `j`
    /// additions, and `γ ≤ (j + 1)·2⁻²⁴` while `j < 4096`.
    #[test]
    fn every_kernel_is_within_the_summation_bound_on_random_values() {
        for kernel in kernels() {
            for (s, case) in cases().enumerate() {
                let (m, n, k) = (case.m, case.n, case.k);
                let (a, b) = (uniform(m * k, s as u64), uniform(k * n, 1000 + s as u64));
                let c0 = uniform(m * n, 2000 + s as u64);
                for (got, want, mag) in run(kernel, case, &a, &b, &c0, bf16::from_f64) {
                    let bound = (k + 2) as f64 * f64::powi(2.0, -24) * mag;
                    assert!(
                        (got as f64 - want).abs() <= bound,
                        "{kernel:?} {case:?}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_long_inner_dimension_stays_within_the_bound() {
        let (m, n, k) = (20, 36, 3000);
        let (a, b) = (uniform(m * k, 7), uniform(k * n, 8));
        let case = Case {
            m,
            n,
            k,
            a_t: false,
            b_t: true,
            pad: 0,
            dst_t: false,
            accumulate: false,
        };
        for kernel in kernels() {
            for (got, want, mag) in run(kernel, case, &a, &b, &[0.0; 720], bf16::from_f64) {
                let bound = (k + 2) as f64 * f64::powi(2.0, -24) * mag;
                assert!(
                    (got as f64 - want).abs() <= bound,
                    "{kernel:?}: {got} vs {want}"
                );
            }
        }
    }

    /// A NaN reaches its row; an infinity its column (NaN where it meets a zero); padding
    /// adds nothing.
    #[test]
    fn nan_and_infinity_reach_exactly_their_outputs() {
        let (m, n, k) = (19, 21, 35);
        let mut a = ints(m * k, 4)
            .iter()
            .map(|x| x.abs() + 1.0)
            .collect::<Vec<_>>();
        let b = ints(k * n, 5);
        let mut b = b.iter().map(|x| x.abs() + 1.0).collect::<Vec<_>>();
        a[3 * k + 34] = f64::NAN; // row 3
        b[7 * n + 20] = f64::INFINITY; // column 20, via k = 7
        a[5 * k + 7] = 0.0; // row 5 meets the infinity with a zero: NaN
        let case = Case {
            m,
            n,
            k,
            a_t: false,
            b_t: false,
            pad: 0,
            dst_t: false,
            accumulate: false,
        };
        for kernel in kernels() {
            let out = run(kernel, case, &a, &b, &vec![0.0; m * n], bf16::from_f64);
            for i in 0..m {
                for j in 0..n {
                    let got = out[i * n + j].0;
                    if i == 3 || (i == 5 && j == 20) {
                        assert!(got.is_nan(), "{kernel:?} ({i}, {j}): {got}");
                    } else if j == 20 {
                        assert_eq!(got, f32::INFINITY, "{kernel:?} ({i}, {j})");
                    } else {
                        assert!(got.is_finite(), "{kernel:?} ({i}, {j}): {got}");
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Every hardware kernel agrees with the portable one within twice the summation
        /// bound, on any shape, operand layout and destination layout.
        #[test]
        fn hardware_kernels_agree_with_the_portable_one(
            m in 1usize..70, n in 1usize..70, k in 0usize..100,
            bits in 0u32..16, seed in 0u64..1000,
        ) {
            let case = Case {
                m, n, k,
                a_t: bits & 1 != 0,
                b_t: bits & 2 != 0,
                pad: (bits as usize >> 2) & 3,
                dst_t: bits & 8 != 0,
                accumulate: bits & 4 != 0,
            };
            let (a, b, c0) = (uniform(m * k, seed), uniform(k * n, seed + 1), uniform(m * n, seed + 2));
            let portable = run(LowpKernel::Portable, case, &a, &b, &c0, bf16::from_f64);
            for kernel in kernels() {
                let got = run(kernel, case, &a, &b, &c0, bf16::from_f64);
                for (g, p) in got.iter().zip(&portable) {
                    let bound = 2.0 * (k + 2) as f64 * f64::powi(2.0, -24) * p.2;
                    prop_assert!((g.0 as f64 - p.0 as f64).abs() <= bound, "{:?} {:?}", kernel, case);
                }
            }
        }
    }
}
