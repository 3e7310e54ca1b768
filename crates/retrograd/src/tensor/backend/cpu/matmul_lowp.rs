//! The kernels behind products of `bf16` operands, and a direct entry to them on slices.
//!
//! Three kernels compute the same sums of exact products in `f32` (a product of two
//! `bf16` is exact in `f32`), differing in the order of the additions:
//! - [`LowpKernel::Amx`]: AMX tiles (Intel Sapphire Rapids and later), on Linux once the
//!   process has been granted the tile state (asked for on first use);
//! - [`LowpKernel::Avx512Bf16`]: AVX-512 BF16 dot products (`vdpbf16ps`);
//! - [`LowpKernel::Portable`]: the operands widened to `f32`, then the `f32` product.
//!
//! The hardware kernels treat subnormal `bf16` inputs and `f32` results as zero (the
//! instructions' fixed behaviour, as in PyTorch's oneDNN kernels); the portable one keeps
//! them. Products pick [`LowpKernel::selected`]: the fastest available, unless the
//! environment variable `RETROGRAD_LOWP_GEMM` (`portable`, `avx512bf16` or `amx`, read
//! once) names another one that is available.

use super::gemm_lowp::gemm_lowp_with;
use super::matmul::Mat;
use crate::tensor::{Result, TensorError};
use half::bf16;
use std::sync::OnceLock;

/// A kernel for products of 16-bit float operands.
///
/// ```
/// use retrograd::tensor::backend::cpu::matmul_lowp::LowpKernel;
/// assert!(LowpKernel::Portable.available());
/// assert!(LowpKernel::selected().available());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LowpKernel {
    /// Widens the operands to `f32` and runs the `f32` product (every processor).
    Portable,
    /// AVX-512 BF16 dot products (x86-64 processors with `avx512bf16`).
    Avx512Bf16,
    /// AMX tiles (x86-64 processors with AMX-TILE and AMX-BF16, on Linux).
    Amx,
}

impl LowpKernel {
    /// Every kernel, slowest first.
    pub const ALL: [LowpKernel; 3] = [
        LowpKernel::Portable,
        LowpKernel::Avx512Bf16,
        LowpKernel::Amx,
    ];

    /// The kernel's name, as `RETROGRAD_LOWP_GEMM` spells it.
    ///
    /// ```
    /// use retrograd::tensor::backend::cpu::matmul_lowp::LowpKernel;
    /// assert_eq!(LowpKernel::Amx.name(), "amx");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            LowpKernel::Portable => "portable",
            LowpKernel::Avx512Bf16 => "avx512bf16",
            LowpKernel::Amx => "amx",
        }
    }

    /// Whether this processor (and OS) can run the kernel. The first call for
    /// [`LowpKernel::Amx`] asks Linux for the tile state.
    ///
    /// ```
    /// use retrograd::tensor::backend::cpu::matmul_lowp::LowpKernel;
    /// let usable: Vec<_> = LowpKernel::ALL.into_iter().filter(|k| k.available()).collect();
    /// assert_eq!(usable[0], LowpKernel::Portable);
    /// ```
    pub fn available(self) -> bool {
        match self {
            LowpKernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            LowpKernel::Avx512Bf16 => super::bf16_avx512::available(),
            #[cfg(target_arch = "x86_64")]
            LowpKernel::Amx => super::amx::available(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The kernel products use: the one `RETROGRAD_LOWP_GEMM` names if it is available,
    /// else the fastest available one. Decided once per process.
    ///
    /// ```
    /// use retrograd::tensor::backend::cpu::matmul_lowp::LowpKernel;
    /// println!("bf16 products run on {}", LowpKernel::selected().name());
    /// ```
    pub fn selected() -> LowpKernel {
        static SELECTED: OnceLock<LowpKernel> = OnceLock::new();
        *SELECTED.get_or_init(|| {
            LowpKernel::choose(std::env::var("RETROGRAD_LOWP_GEMM").ok().as_deref())
        })
    }

    /// The kernel named `asked` if it is available, else the fastest available one.
    fn choose(asked: Option<&str>) -> LowpKernel {
        let named = LowpKernel::ALL
            .into_iter()
            .find(|k| asked == Some(k.name()));
        named
            .filter(|k| k.available())
            .or_else(|| LowpKernel::ALL.into_iter().rev().find(|k| k.available()))
            .unwrap_or(LowpKernel::Portable)
    }
}

/// `out (m×n, f32) = a (m×k) · b (k×n)` for row-major `bf16` slices, through `kernel`,
/// accumulating in `f32`.
///
/// An error if a slice's length is not its shape's, or the kernel is not available here.
///
/// ```
/// use half::bf16;
/// use retrograd::tensor::backend::cpu::matmul_lowp::{matmul_bf16_into, LowpKernel};
/// let a: Vec<bf16> = [1.0, 2.0, 3.0, 4.0].map(bf16::from_f32).to_vec(); // 2×2
/// let b: Vec<bf16> = [5.0, 6.0].map(bf16::from_f32).to_vec(); // 2×1
/// let mut out = [0.0f32; 2];
/// matmul_bf16_into(LowpKernel::selected(), (2, 1, 2), &a, &b, &mut out)?;
/// assert_eq!(out, [17.0, 39.0]);
/// # Ok::<(), retrograd::tensor::TensorError>(())
/// ```
pub fn matmul_bf16_into(
    kernel: LowpKernel,
    (m, n, k): (usize, usize, usize),
    a: &[bf16],
    b: &[bf16],
    out: &mut [f32],
) -> Result<()> {
    let invalid = |detail: String| TensorError::InvalidArgument {
        op: "matmul_bf16_into",
        detail,
    };
    for (name, len, rows, cols) in [
        ("a", a.len(), m, k),
        ("b", b.len(), k, n),
        ("out", out.len(), m, n),
    ] {
        if rows.checked_mul(cols) != Some(len) {
            return Err(invalid(format!(
                "{name} has {len} elements, not {rows}×{cols}"
            )));
        }
    }
    if !kernel.available() {
        return Err(invalid(format!(
            "the {} kernel is not available on this processor",
            kernel.name()
        )));
    }
    // SAFETY: the three slices hold exactly the `m×k`, `k×n` and `m×n` row-major matrices
    // (lengths checked above); `out` is a distinct, initialised, writable slice; the kernel
    // is available (checked above).
    unsafe {
        gemm_lowp_with(
            kernel,
            (m, n, k),
            out.as_mut_ptr(),
            (n as isize, 1),
            false,
            Mat(a.as_ptr(), k as isize, 1),
            Mat(b.as_ptr(), n as isize, 1),
        )
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_picks_an_available_kernel_or_the_fastest() {
        let fastest = LowpKernel::ALL.into_iter().rev().find(|k| k.available());
        assert_eq!(LowpKernel::choose(None), fastest.unwrap());
        assert_eq!(LowpKernel::choose(Some("no-such-kernel")), fastest.unwrap());
        assert_eq!(LowpKernel::choose(Some("portable")), LowpKernel::Portable);
        for k in LowpKernel::ALL {
            let want = if k.available() { k } else { fastest.unwrap() };
            assert_eq!(LowpKernel::choose(Some(k.name())), want);
        }
        assert_eq!(
            LowpKernel::selected(),
            LowpKernel::choose(std::env::var("RETROGRAD_LOWP_GEMM").ok().as_deref())
        );
    }

    #[test]
    fn slices_of_the_wrong_length_are_errors() {
        let x = vec![bf16::ONE; 6];
        let mut out = vec![0.0f32; 4];
        let err =
            matmul_bf16_into(LowpKernel::Portable, (2, 2, 3), &x, &x[..5], &mut out).unwrap_err();
        assert!(
            err.to_string().contains("b has 5 elements, not 3×2"),
            "{err}"
        );
        matmul_bf16_into(LowpKernel::Portable, (2, 2, 3), &x, &x, &mut out).unwrap();
        assert_eq!(out, [3.0; 4]);
    }
}
