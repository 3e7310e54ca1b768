//! Reductions over any set of axes, and arg-max/arg-min along one axis.

use super::math::vectorized;
use super::strided::{contiguous, for_each_row, is_nan, parallel};
use crate::tensor::backend::ReduceOp;
use crate::tensor::shape::{coalesce, contiguous_strides, Layout};
use crate::tensor::FloatElement;
use rayon::prelude::*;

/// Reduces `x` over the sorted `axes`; the output keeps rank with size 1 on `axes`.
///
/// The input is walked in its own order and each element is combined into the output slot
/// given by "output strides in input index space" (0 along reduced axes), so reducing
/// leading axes (a bias gradient) and trailing axes (a row sum) are both one pass.
pub(crate) fn reduce<T>(op: ReduceOp, x: &[T], l: &Layout, axes: &[usize]) -> Vec<T>
where
    T: Copy + PartialOrd + std::ops::Add<Output = T> + Default + Send + Sync + 'static,
    T: num_traits::Zero + num_traits::Bounded,
{
    let mut out_dims = l.dims.clone();
    for &a in axes {
        out_dims[a] = 1;
    }
    let n_out: usize = out_dims.iter().product();
    let init = match op {
        ReduceOp::Sum => T::zero(),
        ReduceOp::Max => T::min_value(),
        ReduceOp::Min => T::max_value(),
    };
    let mut out = super::pool::filled(n_out, init);
    if l.elem_count() == 0 {
        return out;
    }
    let mut ostrides = contiguous_strides(&out_dims);
    for &a in axes {
        ostrides[a] = 0;
    }
    match op {
        ReduceOp::Sum => reduce_with(x, l, &ostrides, &mut out, init, |acc, v| acc + v),
        ReduceOp::Max => reduce_with(x, l, &ostrides, &mut out, init, |acc, v| {
            if v > acc || is_nan(v) {
                v
            } else {
                acc
            }
        }),
        ReduceOp::Min => reduce_with(x, l, &ostrides, &mut out, init, |acc, v| {
            if v < acc || is_nan(v) {
                v
            } else {
                acc
            }
        }),
    }
    out
}

/// Elements per independent part of a whole-tensor reduction.
const WHOLE_CHUNK: usize = 1 << 16;

/// `combine` folded over a contiguous run, in 16 interleaved lanes (so that the loop
/// vectorises and sums have 16 independent dependency chains), the lanes combined at the
/// end. For sums this reorders the additions, which also lowers the rounding error.
#[inline(always)]
fn fold_lanes<T: Copy>(x: &[T], init: T, combine: &impl Fn(T, T) -> T) -> T {
    const LANES: usize = 16;
    vectorized(
        #[inline(always)]
        || {
            let mut acc = [init; LANES];
            let chunks = x.chunks_exact(LANES);
            let rest = chunks.remainder();
            for c in chunks {
                for j in 0..LANES {
                    acc[j] = combine(acc[j], c[j]);
                }
            }
            let mut w = LANES;
            while w > 1 {
                w /= 2;
                for j in 0..w {
                    acc[j] = combine(acc[j], acc[j + w]);
                }
            }
            rest.iter().fold(acc[0], |a, &v| combine(a, v))
        },
    )
}

/// The reduction loop, monomorphised per combine function so the inner loops vectorise.
#[inline(always)]
fn reduce_with<T: Copy + Send + Sync>(
    x: &[T],
    l: &Layout,
    ostrides: &[isize],
    out: &mut [T],
    init: T,
    combine: impl Fn(T, T) -> T + Sync + Send,
) {
    if out.len() == 1 {
        if let Some(r) = l.contiguous_range() {
            // A whole tensor to one value: fixed-size parts (in parallel when large), their
            // results combined in order, so the result does not depend on the thread count.
            let x = &x[r];
            let part = |c: &[T]| fold_lanes(c, init, &combine);
            out[0] = if parallel(x.len()) {
                let parts: Vec<T> = x.par_chunks(WHOLE_CHUNK).map(part).collect();
                parts.into_iter().fold(init, &combine)
            } else {
                x.chunks(WHOLE_CHUNK).map(part).fold(init, &combine)
            };
            return;
        }
    }
    let (dims, [si, so]) = coalesce(&l.dims, [&l.strides, ostrides]);
    let inner = *dims.last().unwrap();
    let (ii, io) = (*si.last().unwrap(), *so.last().unwrap());
    for_each_row(&dims, &[si, so], [l.offset, 0], |[oi, oo]| {
        if io == 0 {
            let mut acc = out[oo];
            if ii == 1 {
                acc = combine(acc, fold_lanes(&x[oi..oi + inner], init, &combine));
            } else {
                for j in 0..inner as isize {
                    acc = combine(acc, x[(oi as isize + j * ii) as usize]);
                }
            }
            out[oo] = acc;
        } else if io == 1 && ii == 1 {
            let (dst, src) = (&mut out[oo..oo + inner], &x[oi..oi + inner]);
            vectorized(
                #[inline(always)]
                || {
                    for (o, &v) in dst.iter_mut().zip(src) {
                        *o = combine(*o, v);
                    }
                },
            );
        } else {
            for j in 0..inner as isize {
                let o = (oo as isize + j * io) as usize;
                out[o] = combine(out[o], x[(oi as isize + j * ii) as usize]);
            }
        }
    });
}

/// `Σ a·b` over sorted `axes` (layouts with equal dims); keeps rank with size 1 on `axes`.
pub(crate) fn mul_reduce<T: FloatElement>(
    a: &[T],
    la: &Layout,
    b: &[T],
    lb: &Layout,
    axes: &[usize],
) -> Vec<T> {
    let mut out_dims = la.dims.clone();
    for &ax in axes {
        out_dims[ax] = 1;
    }
    let mut out = super::pool::filled(out_dims.iter().product(), T::zero());
    if la.elem_count() == 0 {
        return out;
    }
    let mut ostrides = contiguous_strides(&out_dims);
    for &ax in axes {
        ostrides[ax] = 0;
    }
    let (dims, [sa, sb, so]) = coalesce(&la.dims, [&la.strides, &lb.strides, &ostrides]);
    let inner = *dims.last().unwrap();
    let (ia, ib, io) = (
        *sa.last().unwrap(),
        *sb.last().unwrap(),
        *so.last().unwrap(),
    );
    let sum = |acc: T, v: T| acc + v;
    for_each_row(
        &dims,
        &[sa, sb, so],
        [la.offset, lb.offset, 0],
        |[oa, ob, oo]| {
            match (ia, ib, io) {
                (1, 1, 0) => {
                    let (x, y) = (&a[oa..oa + inner], &b[ob..ob + inner]);
                    out[oo] += dot_lanes(x, y);
                }
                (1, 0, 0) | (0, 1, 0) => {
                    // One factor constant along the row: its sum times the constant.
                    let (run, c) = if ia == 1 {
                        (&a[oa..oa + inner], b[ob])
                    } else {
                        (&b[ob..ob + inner], a[oa])
                    };
                    out[oo] += fold_lanes(run, T::zero(), &sum) * c;
                }
                (1, 1, 1) => {
                    let (dst, x, y) = (
                        &mut out[oo..oo + inner],
                        &a[oa..oa + inner],
                        &b[ob..ob + inner],
                    );
                    vectorized(
                        #[inline(always)]
                        || {
                            for ((o, &u), &v) in dst.iter_mut().zip(x).zip(y) {
                                *o += u * v;
                            }
                        },
                    );
                }
                _ => {
                    for j in 0..inner as isize {
                        let u = a[(oa as isize + j * ia) as usize];
                        let v = b[(ob as isize + j * ib) as usize];
                        out[(oo as isize + j * io) as usize] += u * v;
                    }
                }
            }
        },
    );
    out
}

/// `Σ x[i]·y[i]` in 16 interleaved lanes (see [`fold_lanes`]).
#[inline(always)]
fn dot_lanes<T: FloatElement>(x: &[T], y: &[T]) -> T {
    const LANES: usize = 16;
    vectorized(
        #[inline(always)]
        || {
            let mut acc = [T::zero(); LANES];
            let (cx, cy) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
            let (rx, ry) = (cx.remainder(), cy.remainder());
            for (u, v) in cx.zip(cy) {
                for j in 0..LANES {
                    acc[j] += u[j] * v[j];
                }
            }
            let mut w = LANES;
            while w > 1 {
                w /= 2;
                for j in 0..w {
                    acc[j] += acc[j + w];
                }
            }
            rx.iter().zip(ry).fold(acc[0], |a, (&u, &v)| a + u * v)
        },
    )
}

/// Index of the first maximum (or minimum) along `axis`, as i64, keeping `axis` with size 1.
pub(crate) fn arg_reduce<T: Copy + PartialOrd + Send + Sync + Default + 'static>(
    max: bool,
    x: &[T],
    l: &Layout,
    axis: usize,
) -> Vec<i64> {
    // Move `axis` last, make rows contiguous, scan each row.
    let rank = l.dims.len();
    let mut perm: Vec<usize> = (0..rank).filter(|&d| d != axis).collect();
    perm.push(axis);
    let pl = Layout {
        dims: perm.iter().map(|&d| l.dims[d]).collect(),
        strides: perm.iter().map(|&d| l.strides[d]).collect(),
        offset: l.offset,
    };
    let data = contiguous(x, &pl);
    let len = l.dims[axis];
    if len == 0 {
        return Vec::new();
    }
    data.chunks(len)
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                let better = if max { v > row[best] } else { v < row[best] };
                // NaN wins, as in the max reduction.
                if better || (is_nan(v) && !is_nan(row[best])) {
                    best = i;
                }
            }
            best as i64
        })
        .collect()
}
