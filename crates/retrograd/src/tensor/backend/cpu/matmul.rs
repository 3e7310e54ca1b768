//! Batched matrix multiplication through the `gemm` crate (any strides, no copies).

use super::strided::for_each_row;
use super::team;
use crate::tensor::shape::{coalesce, Layout};
use gemm::{gemm, Parallelism};
use rayon::prelude::*;

/// Multiply-adds per GEMM above which one product is split across threads.
pub(crate) const PAR_GEMM_WORK: usize = 1 << 22;

/// A raw pointer that may cross threads: each thread writes a disjoint part of the buffer.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub(crate) *mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}
impl<T> SendPtr<T> {
    pub(crate) fn get(&self) -> *mut T {
        self.0
    }
}

/// A matrix operand: pointer to element (0, 0), row stride, column stride (in elements).
#[derive(Clone, Copy)]
pub(crate) struct Mat<T>(pub(crate) *const T, pub(crate) isize, pub(crate) isize);

/// `dst (m×n) = a (m×k) · b (k×n)`, or `dst += a · b` with `accumulate`.
///
/// # Safety
/// Every element the three strided matrices describe must be valid (and `dst`'s writable and
/// not aliased by `a` or `b`).
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) unsafe fn gemm_into<T: 'static + num_traits::Zero + num_traits::One>(
    (m, n, k): (usize, usize, usize),
    dst: *mut T,
    (dst_rs, dst_cs): (isize, isize),
    accumulate: bool,
    a: Mat<T>,
    b: Mat<T>,
    par: Parallelism,
) {
    let alpha = if accumulate { T::one() } else { T::zero() };
    gemm(
        m,
        n,
        k,
        dst,
        dst_cs,
        dst_rs,
        accumulate,
        a.0,
        a.2,
        a.1,
        b.0,
        b.2,
        b.1,
        alpha,
        T::one(),
        false,
        false,
        false,
        par,
    )
}

/// `(B.., m, k) x (B.., k, n)` with equal batch dims (batch strides may be 0).
pub(crate) fn matmul<
    T: Copy + Default + Send + Sync + 'static + num_traits::Zero + num_traits::One,
>(
    a: &[T],
    la: &Layout,
    b: &[T],
    lb: &Layout,
) -> Vec<T> {
    let r = la.dims.len();
    let (m, k, n) = (la.dims[r - 2], la.dims[r - 1], lb.dims[r - 1]);
    let batch_dims = &la.dims[..r - 2];
    let nb: usize = batch_dims.iter().product();
    if k == 0 || nb * m * n == 0 {
        return vec![T::zero(); nb * m * n];
    }
    // gemm overwrites every element (read_dst = false), so the buffer needs no zeroing.
    let mut out: Vec<T> = super::pool::take(nb * m * n);
    // Base offsets of each batch's matrices.
    let mut bases = Vec::with_capacity(nb);
    if batch_dims.is_empty() {
        bases.push((la.offset, lb.offset));
    } else {
        let (dims, [sa, sb]) = coalesce(batch_dims, [&la.strides[..r - 2], &lb.strides[..r - 2]]);
        let inner = *dims.last().unwrap();
        let (ia, ib) = (*sa.last().unwrap(), *sb.last().unwrap());
        for_each_row(&dims, &[sa, sb], [la.offset, lb.offset], |[oa, ob]| {
            for j in 0..inner as isize {
                bases.push((
                    (oa as isize + j * ia) as usize,
                    (ob as isize + j * ib) as usize,
                ));
            }
        });
    }
    let (a_rs, a_cs) = (la.strides[r - 2], la.strides[r - 1]);
    let (b_rs, b_cs) = (lb.strides[r - 2], lb.strides[r - 1]);
    // Only a threading heuristic: saturating, as `k` is not part of the output's size.
    let work = m.saturating_mul(n).saturating_mul(k);
    let dst = SendPtr(out.as_mut_ptr());
    // Columns `cols` of batch `i`'s product.
    let part = |i: usize, cols: std::ops::Range<usize>, par: Parallelism| {
        let (oa, ob) = bases[i];
        // SAFETY: every (batch, row, col) of `out` is written by exactly one call; `a` and `b`
        // are valid for all offsets their layouts describe.
        unsafe {
            gemm(
                m,
                cols.len(),
                k,
                dst.get().add(i * m * n + cols.start),
                1,
                n as isize,
                false,
                a.as_ptr().add(oa),
                a_cs,
                a_rs,
                b.as_ptr().offset(ob as isize + cols.start as isize * b_cs),
                b_cs,
                b_rs,
                T::zero(),
                T::one(),
                false,
                false,
                false,
                par,
            )
        }
    };
    // One product; when it is large, its columns split in blocks of whole vector widths
    // (16) over the team's threads, or, if it has too few columns, threaded by gemm.
    let run = |i: usize, threaded: bool| {
        let parts = team::size().min(n / 16);
        if !threaded {
            part(i, 0..n, Parallelism::None)
        } else if parts < 2 {
            part(i, 0..n, Parallelism::Rayon(rayon::current_num_threads()))
        } else {
            let width = n.div_ceil(parts).next_multiple_of(16);
            team::split(parts, &|p| {
                let cols = (p * width).min(n)..((p + 1) * width).min(n);
                if !cols.is_empty() {
                    part(i, cols, Parallelism::None)
                }
            });
        }
    };
    let threads = rayon::current_num_threads();
    if nb > 1 && work.saturating_mul(nb) >= PAR_GEMM_WORK && threads > 1 && work < PAR_GEMM_WORK * 4
    {
        (0..nb).into_par_iter().for_each(|i| run(i, false));
    } else {
        let threaded = work >= PAR_GEMM_WORK && threads > 1;
        for i in 0..nb {
            run(i, threaded);
        }
    }
    // SAFETY: the products above wrote all nb·m·n elements (T is a plain float).
    unsafe { out.set_len(nb * m * n) };
    out
}
