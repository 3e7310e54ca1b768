//! Matrix products of 16-bit float operands (`bf16`, `f16`) with `f32` accumulation: the
//! kernel behind matmul and convolution of low-precision tensors.
//!
//! The products of two 16-bit floats are exact in `f32` (at most 11 + 11 significant bits),
//! so every path computes the same sums of exact products in `f32`; paths differ only in
//! the order of the additions. `bf16` operands go to the kernel [`LowpKernel::selected`]
//! (AMX tiles, AVX-512 BF16 or portable, see [`super::lowp`]); `f16` ones, for which this
//! code has no hardware product, are widened to `f32` (the portable path).

use super::lowp::LowpKernel;
use super::matmul::{gemm_into, Mat};
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
    unsafe { gemm_lowp_with(LowpKernel::selected(), dims, dst, dst_strides, accumulate, a, b) }
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
        let (a, b) = (Mat(a.0.cast::<u16>(), a.1, a.2), Mat(b.0.cast::<u16>(), b.1, b.2));
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

    /// Products of small integers are exact in every format, so every path must agree
    /// with the `f64` reference bit for bit.
    #[test]
    fn matches_the_f64_product_on_exact_values() {
        let (m, n, k) = (5, 7, 33);
        let a: Vec<f64> = (0..m * k).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
        let b: Vec<f64> = (0..k * n).map(|i| ((i * 5) % 13) as f64 - 6.0).collect();
        let mut want = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                want[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        let ab: Vec<bf16> = a.iter().map(|&x| bf16::from_f64(x)).collect();
        // `b` read transposed: a column-major copy with swapped strides.
        let mut bt = vec![bf16::ZERO; k * n];
        for p in 0..k {
            for j in 0..n {
                bt[j * k + p] = bf16::from_f64(b[p * n + j]);
            }
        }
        let mut got = vec![1.0f32; m * n];
        // SAFETY: the operands and destination are the buffers above, with their sizes.
        unsafe {
            gemm_lowp_into(
                (m, n, k),
                got.as_mut_ptr(),
                (n as isize, 1),
                false,
                Mat(ab.as_ptr(), k as isize, 1),
                Mat(bt.as_ptr(), 1, k as isize),
            )
        };
        let got: Vec<f64> = got.iter().map(|&x| x as f64).collect();
        assert_eq!(got, want);
        let af: Vec<f16> = a.iter().map(|&x| f16::from_f64(x)).collect();
        let bf: Vec<f16> = b.iter().map(|&x| f16::from_f64(x)).collect();
        let mut acc = vec![1.0f32; m * n];
        // SAFETY: as above.
        unsafe {
            gemm_lowp_into(
                (m, n, k),
                acc.as_mut_ptr(),
                (n as isize, 1),
                true,
                Mat(af.as_ptr(), k as isize, 1),
                Mat(bf.as_ptr(), n as isize, 1),
            )
        };
        let acc: Vec<f64> = acc.iter().map(|&x| x as f64 - 1.0).collect();
        assert_eq!(acc, want);
    }
}
