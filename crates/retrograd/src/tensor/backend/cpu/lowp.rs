//! 16-bit float tensors (`bf16`, `f16`) on the CPU: conversions, and the kernels that
//! compute with them.
//!
//! Matrix products and convolutions take the 16-bit operands as they are (the im2col panel
//! stays 16-bit) and accumulate their exact products in `f32` through
//! [`gemm_lowp_into`]; the `f32` result is rounded once to the operands' type. Every other
//! kernel widens its operands to `f32` (exact), runs the `f32` kernel, and rounds its
//! float result back ([`widen`], [`round_to`]), as PyTorch's CPU kernels do for `bf16`:
//! reductions and softmax thus accumulate in `f32`, and each result carries one rounding.

use super::conv::{self, ConvDims};
use super::gemm_lowp::{gemm_lowp_into, Half};
use super::matmul::{batch_bases, checked_sizes, Mat};
use super::strided::map;
use super::CpuStorage;
use crate::tensor::backend::Conv2dGeometry;
use crate::tensor::shape::Layout;
use crate::tensor::{DType, Element};
use half::{bf16, f16};

/// A 16-bit float element: widens exactly to `f32` and rounds from it (to nearest, ties to
/// even; NaN stays NaN, and `f16` overflows to ±∞ beyond 65504).
pub(crate) trait HalfElement: Half + Element {
    /// `x` rounded to this type.
    fn round(x: f32) -> Self;
}

impl HalfElement for bf16 {
    #[inline(always)]
    fn round(x: f32) -> Self {
        bf16::from_f32(x)
    }
}

impl HalfElement for f16 {
    #[inline(always)]
    fn round(x: f32) -> Self {
        f16::from_f32(x)
    }
}

/// A 16-bit float view widened to `f32`: the contiguous `f32` copy, its layout, and the
/// 16-bit type to round results back to; `None` for other element types.
pub(crate) fn widen(x: &CpuStorage, l: &Layout) -> Option<(CpuStorage, Layout, DType)> {
    let v = match x {
        CpuStorage::BF16(v) => map(v, l, |e| e.widen()),
        CpuStorage::F16(v) => map(v, l, |e| e.widen()),
        _ => return None,
    };
    let lw = Layout::contiguous("widen", l.dims.clone())
        .expect("internal error: a tensor's dims always have a contiguous layout");
    Some((CpuStorage::F32(v), lw, x.dtype()))
}

/// A whole 16-bit float storage widened to `f32` (borrowed as it is otherwise): the
/// per-channel vectors of a batch normalisation, which have no layout of their own.
pub(crate) fn widen_flat(x: &CpuStorage) -> std::borrow::Cow<'_, CpuStorage> {
    let l = Layout::contiguous("widen", vec![x.len()]).expect("1-D layout");
    match widen(x, &l) {
        Some((w, _, _)) => std::borrow::Cow::Owned(w),
        None => std::borrow::Cow::Borrowed(x),
    }
}

/// An `f32` result rounded to the 16-bit float `dtype` (other results are returned as
/// they are: indices, or `f32` when `dtype` is not a 16-bit float).
pub(crate) fn round_to(x: CpuStorage, dtype: DType) -> CpuStorage {
    let whole = |n: usize| Layout::contiguous("round", vec![n]).expect("1-D layout");
    match (x, dtype) {
        (CpuStorage::F32(v), DType::BF16) => {
            CpuStorage::BF16(map(&v, &whole(v.len()), bf16::from_f32))
        }
        (CpuStorage::F32(v), DType::F16) => {
            CpuStorage::F16(map(&v, &whole(v.len()), f16::from_f32))
        }
        (x, _) => x,
    }
}

/// The first 16-bit float type among `xs`, if any.
pub(crate) fn any_half(xs: &[&CpuStorage]) -> Option<DType> {
    xs.iter().map(|x| x.dtype()).find(|d| d.is_low_precision())
}

/// Converts a view to `dtype`: one rounding from the source value (float to integer
/// truncates toward zero; NaN and ±∞ stay themselves between floats).
pub(crate) fn cast(x: &CpuStorage, l: &Layout, dtype: DType) -> CpuStorage {
    fn to<U: Element>(x: &CpuStorage, l: &Layout) -> Vec<U> {
        // `to_f64` is exact from every float type, so this rounds once.
        fn conv<T: Element, U: Element>(v: &[T], l: &Layout) -> Vec<U> {
            map(v, l, |e| U::from_f64(e.to_f64()))
        }
        match x {
            CpuStorage::F32(v) => conv(v, l),
            CpuStorage::F64(v) => conv(v, l),
            CpuStorage::I64(v) => conv(v, l),
            CpuStorage::BF16(v) => conv(v, l),
            CpuStorage::F16(v) => conv(v, l),
        }
    }
    // The frequent conversions without the detour through f64.
    match (x, dtype) {
        (CpuStorage::F32(v), DType::F64) => CpuStorage::F64(map(v, l, |e| e as f64)),
        (CpuStorage::F64(v), DType::F32) => CpuStorage::F32(map(v, l, |e| e as f32)),
        (CpuStorage::F32(v), DType::BF16) => CpuStorage::BF16(map(v, l, bf16::from_f32)),
        (CpuStorage::F32(v), DType::F16) => CpuStorage::F16(map(v, l, f16::from_f32)),
        (CpuStorage::BF16(v), DType::F32) => CpuStorage::F32(map(v, l, |e| e.to_f32())),
        (CpuStorage::F16(v), DType::F32) => CpuStorage::F32(map(v, l, |e| e.to_f32())),
        (x, DType::F32) => CpuStorage::F32(to(x, l)),
        (x, DType::F64) => CpuStorage::F64(to(x, l)),
        (x, DType::I64) => CpuStorage::I64(to(x, l)),
        (x, DType::BF16) => CpuStorage::BF16(to(x, l)),
        (x, DType::F16) => CpuStorage::F16(to(x, l)),
    }
}

/// `f32` results rounded to `T`.
fn rounded<T: HalfElement>(v: &[f32]) -> Vec<T> {
    let l = Layout::contiguous("round", vec![v.len()]).expect("1-D layout");
    map(v, &l, T::round)
}

/// `(B.., m, k) x (B.., k, n)` with equal batch dims (batch strides may be 0), accumulated
/// in `f32` and rounded to `T`.
pub(crate) fn matmul<T: HalfElement>(a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Vec<T> {
    // Checked once here, as in the f32 kernel: every offset below is a position of one of
    // the layouts, inside its slice.
    let (m, k, n) = checked_sizes(a.len(), la, b.len(), lb);
    let r = la.dims.len();
    let bases = batch_bases(la, lb);
    let total = bases
        .len()
        .checked_mul(m)
        .and_then(|x| x.checked_mul(n))
        .expect("matmul kernel: the op checks the product's size");
    let mut out = vec![0.0f32; total];
    if k > 0 {
        for (i, &(oa, ob)) in bases.iter().enumerate() {
            // SAFETY: `oa`/`ob` are batch `i`'s first positions; with the layouts' row and
            // column strides the kernel reads only positions of `la`/`lb`, inside `a`/`b`
            // by the assertion. It writes rows `0..m` × columns `0..n` of batch `i` of
            // `out` (`total` elements), which overlaps neither operand.
            unsafe {
                gemm_lowp_into(
                    (m, n, k),
                    out.as_mut_ptr().add(i * m * n),
                    (n as isize, 1),
                    false,
                    Mat(a.as_ptr().add(oa), la.strides[r - 2], la.strides[r - 1]),
                    Mat(b.as_ptr().add(ob), lb.strides[r - 2], lb.strides[r - 1]),
                )
            }
        }
    }
    rounded(&out)
}

/// 2-D convolution of 16-bit operands, all contiguous: `x` `(N, C, H, W)`, `w`
/// `(O, C/groups, kh, kw)`, optional `bias` `(O)`; `(N, O, ho, wo)` accumulated in `f32`
/// (onto the bias) and rounded to `T`.
pub(crate) fn conv2d<T: HalfElement>(
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    g: &Conv2dGeometry,
    o: usize,
    groups: usize,
) -> Vec<T> {
    let s = ConvDims::checked(g, o, groups, [Some(x.len()), Some(w.len()), None]);
    assert!(
        bias.is_none_or(|b| b.len() == o),
        "conv2d kernel: bias of {o} entries"
    );
    let cols = conv::unfold2d(x, g); // (N, C·kh·kw, l), still 16-bit
    let mut out = vec![0.0f32; g.n * o * s.l];
    for (i, ys) in out.chunks_exact_mut(o * s.l).enumerate() {
        if let Some(b) = bias {
            for (row, &bv) in ys.chunks_exact_mut(s.l).zip(b) {
                row.fill(bv.widen());
            }
        }
        if s.k == 0 {
            continue;
        }
        let cs = &cols[i * g.c * g.kh * g.kw * s.l..];
        for gi in 0..groups {
            // SAFETY: by `sizes`: W_g (og×k from gi·og·k) ends at o·k = w.len(); the group's
            // columns (k×l from gi·k·l) end at C·kh·kw·l, inside sample i's columns; the
            // output rows (og×l from gi·og·l) end at o·l = ys.len(), which is initialised
            // (zeros or the bias) and overlaps neither operand.
            unsafe {
                gemm_lowp_into(
                    (s.og, s.l, s.k),
                    ys.as_mut_ptr().add(gi * s.og * s.l),
                    (s.l as isize, 1),
                    true,
                    Mat(w.as_ptr().add(gi * s.og * s.k), s.k as isize, 1),
                    Mat(cs.as_ptr().add(gi * s.k * s.l), s.l as isize, 1),
                )
            }
        }
    }
    rounded(&out)
}

/// The gradient of [`conv2d`] with respect to its input, from the output gradient `gy`
/// `(N, O, ho, wo)` and the weights: per sample `Wᵀ · gy` in `f32`, folded back into
/// `(N, C, H, W)` in `f32`, rounded once to `T`.
pub(crate) fn conv2d_input_grad<T: HalfElement>(
    gy: &[T],
    w: &[T],
    g: &Conv2dGeometry,
    o: usize,
    groups: usize,
) -> Vec<T> {
    let s = ConvDims::checked(g, o, groups, [None, Some(w.len()), Some(gy.len())]);
    let ck = g.c * g.kh * g.kw;
    let mut cols = vec![0.0f32; g.n * ck * s.l];
    if s.og > 0 {
        for (i, cs) in cols.chunks_exact_mut(ck * s.l).enumerate() {
            let gys = &gy[i * o * s.l..(i + 1) * o * s.l];
            for gi in 0..groups {
                // SAFETY: by `sizes`: W_gᵀ (k×og, read from W_g og×k at gi·og·k) ends at
                // w.len(); gy_g (og×l from gi·og·l) ends at o·l = gys.len(); the columns
                // (k×l from gi·k·l) end at C·kh·kw·l = cs.len(), overlapping neither.
                unsafe {
                    gemm_lowp_into(
                        (s.k, s.l, s.og),
                        cs.as_mut_ptr().add(gi * s.k * s.l),
                        (s.l as isize, 1),
                        false,
                        Mat(w.as_ptr().add(gi * s.og * s.k), 1, s.k as isize),
                        Mat(gys.as_ptr().add(gi * s.og * s.l), s.l as isize, 1),
                    )
                }
            }
        }
    }
    rounded(&conv::fold2d(&cols, g))
}

/// The gradient of [`conv2d`] with respect to its weights, from the input and the output
/// gradient: `Σ_samples gy · unfold(x)ᵀ` per group in `f32`, rounded once to `T`.
pub(crate) fn conv2d_weight_grad<T: HalfElement>(
    x: &[T],
    gy: &[T],
    g: &Conv2dGeometry,
    o: usize,
    groups: usize,
) -> Vec<T> {
    let s = ConvDims::checked(g, o, groups, [Some(x.len()), None, Some(gy.len())]);
    let mut acc = vec![0.0f32; o * s.k];
    if s.l > 0 && s.k > 0 {
        let cols = conv::unfold2d(x, g);
        let ck = g.c * g.kh * g.kw;
        for i in 0..g.n {
            let cs = &cols[i * ck * s.l..(i + 1) * ck * s.l];
            let gys = &gy[i * o * s.l..(i + 1) * o * s.l];
            for gi in 0..groups {
                // SAFETY: by `sizes`: gy_g (og×l from gi·og·l) ends at o·l = gys.len(); the
                // columns' transpose (l×k from gi·k·l) ends at C·kh·kw·l = cs.len(); dW_g
                // (og×k from gi·og·k) ends at o·k = acc.len(), initialised, overlapping
                // neither operand.
                unsafe {
                    gemm_lowp_into(
                        (s.og, s.k, s.l),
                        acc.as_mut_ptr().add(gi * s.og * s.k),
                        (s.k as isize, 1),
                        true,
                        Mat(gys.as_ptr().add(gi * s.og * s.l), s.l as isize, 1),
                        Mat(cs.as_ptr().add(gi * s.k * s.l), 1, s.l as isize),
                    )
                }
            }
        }
    }
    rounded(&acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 16-bit convolution equals the f32 kernel on values whose products and sums are
    /// exact in every format (small integers), for a strided, padded, grouped case.
    #[test]
    fn convolution_matches_the_f32_kernel_on_exact_values() {
        let g = Conv2dGeometry::new((2, 4, 5, 6), (3, 2), (2, 1), (1, 1), (1, 2)).unwrap();
        let (o, groups) = (6, 2);
        let int = |n: usize, s: usize| -> Vec<f32> {
            (0..n).map(|i| ((i * s) % 5) as f32 - 2.0).collect()
        };
        let x = int(2 * 4 * 5 * 6, 5);
        let w = int(o * 2 * 3 * 2, 3);
        let b = int(o, 2);
        let gy = int(2 * o * g.ho * g.wo, 4);
        let h = |v: &[f32]| v.iter().map(|&e| bf16::from_f32(e)).collect::<Vec<_>>();
        let f = |v: Vec<bf16>| v.iter().map(|e| e.to_f32()).collect::<Vec<_>>();
        assert_eq!(
            f(conv2d(&h(&x), &h(&w), Some(&h(&b)), &g, o, groups)),
            conv::conv2d(&x, &w, Some(&b), &g, o, groups)
        );
        assert_eq!(
            f(conv2d_input_grad(&h(&gy), &h(&w), &g, o, groups)),
            conv::conv2d_input_grad(&gy, &w, &g, o, groups)
        );
        assert_eq!(
            f(conv2d_weight_grad(&h(&x), &h(&gy), &g, o, groups)),
            conv::conv2d_weight_grad(&x, &gy, &g, o, groups)
        );
    }
}
