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
// SAFETY: a `SendPtr` is only a pointer value; dereferencing it is unsafe on its own. The
// users (`matmul`, `conv::by_sample`) point it at a buffer that outlives the parallel
// section, and each thread writes a disjoint part of it (stated at each dereference).
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as for `Send`: sharing the pointer value between threads is harmless.
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
/// Every element the three strided matrices describe (`m×k` from `a`, `k×n` from `b`,
/// `m×n` from `dst`, each from its pointer with its row and column strides) must lie in
/// one live allocation; `dst`'s must be writable, initialised when `accumulate`, and not
/// overlap `a`'s or `b`'s. The `gemm` crate reads and writes exactly those elements.
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
    // SAFETY: the caller's contract is `gemm`'s: the strided operands are valid as described.
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

/// The offsets of each batch's first elements in two operands `(B.., m, k)` and
/// `(B.., k, n)` with equal batch dims, in row-major batch order.
pub(crate) fn batch_bases(la: &Layout, lb: &Layout) -> Vec<(usize, usize)> {
    let r = la.dims.len();
    let batch_dims = &la.dims[..r - 2];
    let mut bases = Vec::with_capacity(batch_dims.iter().product());
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
    bases
}

/// The sizes `(m, k, n)` of a batched product of the layouts `la` and `lb` over slices of
/// `a_len` and `b_len` elements, after checking them. The products read the operands
/// through raw pointers at every position their layouts describe, so this is checked, not
/// trusted: the operands have one shape of batch and inner sizes, and each layout lies
/// inside its slice (`fits_in`: checked arithmetic).
pub(super) fn checked_sizes(
    a_len: usize,
    la: &Layout,
    b_len: usize,
    lb: &Layout,
) -> (usize, usize, usize) {
    let r = la.dims.len();
    assert!(
        r >= 2
            && lb.dims.len() == r
            && la.dims[..r - 2] == lb.dims[..r - 2]
            && la.dims[r - 1] == lb.dims[r - 2]
            && la.fits_in(a_len)
            && lb.fits_in(b_len),
        "matmul kernel: operands {la:?} ({a_len} elements) and {lb:?} ({b_len} elements) do \
         not fit"
    );
    (la.dims[r - 2], la.dims[r - 1], lb.dims[r - 1])
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
    // Checked once per call (`checked_sizes`): every offset computed below is a position of
    // one of the layouts, inside its slice.
    let (m, k, n) = checked_sizes(a.len(), la, b.len(), lb);
    let r = la.dims.len();
    let batch_dims = &la.dims[..r - 2];
    let nb: usize = batch_dims.iter().product();
    let total = nb
        .checked_mul(m)
        .and_then(|x| x.checked_mul(n))
        .expect("matmul kernel: the op checks the product's size");
    if k == 0 || total == 0 {
        return vec![T::zero(); total];
    }
    // gemm overwrites every element (read_dst = false), so the buffer needs no zeroing.
    let mut out: Vec<T> = super::pool::take(total);
    let bases = batch_bases(la, lb);
    let (a_rs, a_cs) = (la.strides[r - 2], la.strides[r - 1]);
    let (b_rs, b_cs) = (lb.strides[r - 2], lb.strides[r - 1]);
    // Only a threading heuristic: saturating, as `k` is not part of the output's size.
    let work = m.saturating_mul(n).saturating_mul(k);
    let dst = SendPtr(out.as_mut_ptr());
    // Columns `cols` of batch `i`'s product.
    let part = |i: usize, cols: std::ops::Range<usize>, par: Parallelism| {
        let (oa, ob) = bases[i];
        // SAFETY: reads: `oa`/`ob` are the offsets of batch `i`'s first elements, and with
        // the row and column strides (columns from `cols.start`, `cols ⊆ 0..n`) gemm reads
        // only positions of `la`/`lb`, which the assertion above found inside `a`/`b`.
        // Writes: rows `0..m`, columns `cols` of batch `i`, inside the capacity `total` of
        // `out` (`i < nb`); every (batch, row, column) is written by exactly one call (the
        // batches and column blocks below partition them), so threads write disjoint parts.
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
    // SAFETY: the products above wrote all `total` elements (each batch's columns
    // `0..n` in blocks, `read_dst` off, `k > 0`), within the capacity taken; `T` is a
    // plain float.
    unsafe { out.set_len(total) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(dims: &[usize], strides: &[isize], offset: usize) -> Layout {
        Layout {
            dims: dims.to_vec(),
            strides: strides.to_vec(),
            offset,
        }
    }

    #[test]
    fn products_of_strided_views() {
        let a: Vec<f64> = (0..7).map(f64::from).collect();
        // [[1, 2], [3, 4]] (offset 1) times its transpose read from the same data.
        let la = layout(&[2, 2], &[2, 1], 1);
        let lb = layout(&[2, 2], &[1, 2], 1);
        assert_eq!(matmul(&a, &la, &a, &lb), vec![5.0, 11.0, 11.0, 25.0]);
    }

    /// A layout that reaches past its slice is refused before gemm reads through it.
    #[test]
    #[should_panic(expected = "matmul kernel")]
    fn operands_outside_their_slices_are_refused() {
        let a = vec![1.0f32; 6];
        let la = layout(&[2, 3], &[3, 1], 1); // its last element is a[6]
        let lb = layout(&[3, 2], &[2, 1], 0);
        matmul(&a, &la, &a, &lb);
    }

    #[test]
    #[should_panic(expected = "matmul kernel")]
    fn inner_sizes_must_agree() {
        let a = vec![1.0f32; 64];
        matmul(
            &a,
            &layout(&[2, 3], &[3, 1], 0),
            &a,
            &layout(&[4, 2], &[2, 1], 0),
        );
    }
}
