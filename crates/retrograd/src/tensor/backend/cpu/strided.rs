//! Loops over strided views: the building blocks of every elementwise CPU kernel.
//!
//! Dimensions are first coalesced (contiguous runs merged, size-1 dims dropped), then the
//! outer dimensions are walked with an odometer and the innermost one is a plain loop the
//! compiler can vectorise. Contiguous inputs skip all of this.

use super::math::vectorized;
use super::pool;
use crate::tensor::shape::{coalesce, Layout};
use rayon::prelude::*;
use std::borrow::Cow;
use std::mem::MaybeUninit;

/// Elementwise work below this many elements stays on the calling thread.
pub(crate) const PAR_THRESHOLD: usize = 1 << 18;
const CHUNK: usize = 1 << 14;

/// Calls `f(base offsets)` for every innermost row of `dims` (already coalesced, non-empty).
pub(crate) fn for_each_row<const K: usize>(
    dims: &[usize],
    strides: &[Vec<isize>; K],
    base: [usize; K],
    f: impl FnMut([usize; K]),
) {
    if dims.contains(&0) {
        return;
    }
    let rows = dims[..dims.len().saturating_sub(1)].iter().product();
    for_rows(dims, strides, base, 0..rows, f);
}

/// Calls `f(base offsets)` for the innermost rows `rows` of `dims` (coalesced, no zero
/// size), in order: the odometer starts at the first row's index.
fn for_rows<const K: usize>(
    dims: &[usize],
    strides: &[Vec<isize>; K],
    base: [usize; K],
    rows: std::ops::Range<usize>,
    mut f: impl FnMut([usize; K]),
) {
    let outer = dims.len().saturating_sub(1);
    let mut idx = vec![0usize; outer];
    let mut off = base.map(|b| b as isize);
    let mut r = rows.start;
    for d in (0..outer).rev() {
        idx[d] = r % dims[d];
        r /= dims[d];
        for k in 0..K {
            off[k] += strides[k][d] * idx[d] as isize;
        }
    }
    for _ in rows {
        f(off.map(|o| o as usize));
        for d in (0..outer).rev() {
            idx[d] += 1;
            for k in 0..K {
                off[k] += strides[k][d];
            }
            if idx[d] < dims[d] {
                break;
            }
            for k in 0..K {
                off[k] -= strides[k][d] * dims[d] as isize;
            }
            idx[d] = 0;
        }
    }
}

/// Rows handed to the callback of [`by_rows`] at a time.
const ROW_GROUP: usize = 16;

/// Writes `out`, the rows of `dims` (coalesced) in order, calling `rows(dst, offsets)` for
/// groups of up to [`ROW_GROUP`] consecutive rows (`dst` holds them, `offsets` gives each
/// row's base offsets); blocks of rows go to rayon threads when the work is large.
fn by_rows<U: Send, const K: usize>(
    out: &mut [MaybeUninit<U>],
    dims: &[usize],
    strides: &[Vec<isize>; K],
    base: [usize; K],
    rows: impl Fn(&mut [MaybeUninit<U>], &[[usize; K]]) + Sync,
) {
    let inner = *dims.last().expect("coalesced dims are not empty");
    if out.is_empty() || inner == 0 {
        return;
    }
    let block = |first: usize, dst: &mut [MaybeUninit<U>]| {
        let count = dst.len() / inner;
        let mut offs = [[0usize; K]; ROW_GROUP];
        let (mut filled, mut done) = (0, 0);
        for_rows(dims, strides, base, first..first + count, |o| {
            offs[filled] = o;
            filled += 1;
            if filled == ROW_GROUP || done + filled == count {
                rows(
                    &mut dst[done * inner..(done + filled) * inner],
                    &offs[..filled],
                );
                done += filled;
                filled = 0;
            }
        });
    };
    let per_block = (CHUNK / inner).max(1).next_multiple_of(ROW_GROUP);
    if parallel(out.len()) && out.len() > per_block * inner {
        out.par_chunks_mut(per_block * inner)
            .enumerate()
            .for_each(|(b, dst)| block(b * per_block, dst));
    } else {
        block(0, out);
    }
}

/// Whether a view with these (coalesced) strides is read across a transpose: consecutive
/// rows adjacent in memory and the columns far apart, so that reading row by row would
/// touch a new cache line at every element.
fn across_transpose(strides: &[isize]) -> bool {
    let nd = strides.len();
    nd >= 2 && strides[nd - 2] == 1 && strides[nd - 1].unsigned_abs() >= ROW_GROUP
}

/// Writes a group of rows (from [`by_rows`]) with `value(row offsets, column)` in tiles of
/// [`ROW_GROUP`] columns, so that each cache line read across a transpose serves a tile.
fn by_tiles<U, const K: usize>(
    dst: &mut [MaybeUninit<U>],
    offs: &[[usize; K]],
    inner: usize,
    value: impl Fn([usize; K], usize) -> U,
) {
    for j0 in (0..inner).step_by(ROW_GROUP) {
        let cols = j0..(j0 + ROW_GROUP).min(inner);
        for (row, &o) in dst.chunks_exact_mut(inner).zip(offs) {
            for j in cols.clone() {
                row[j].write(value(o, j));
            }
        }
    }
}

/// Position `j` of a row starting at `offset` with stride `stride`.
#[inline(always)]
fn at(offset: usize, j: usize, stride: isize) -> usize {
    (offset as isize + j as isize * stride) as usize
}

/// The elements of a view as a contiguous slice, copying only when needed.
pub(crate) fn contiguous<'a, T: Copy + Send + Sync + Default + 'static>(
    x: &'a [T],
    l: &Layout,
) -> Cow<'a, [T]> {
    match l.contiguous_range() {
        Some(r) => Cow::Borrowed(&x[r]),
        None => Cow::Owned(map(x, l, |v| v)),
    }
}

/// Whether elementwise work on `n` elements is split across threads.
#[inline]
pub(crate) fn parallel(n: usize) -> bool {
    n >= PAR_THRESHOLD && rayon::current_num_threads() > 1
}

/// `dst[i] = f(src[i])`, compiled with the widest vectors the processor has.
#[inline(always)]
fn map_slice<T: Copy, U>(dst: &mut [MaybeUninit<U>], src: &[T], f: &impl Fn(T) -> U) {
    vectorized(
        #[inline(always)]
        || {
            for (o, &s) in dst.iter_mut().zip(src) {
                o.write(f(s));
            }
        },
    )
}

/// `dst[i] = f(a[i], b[i])`, compiled with the widest vectors the processor has.
#[inline(always)]
fn zip_slices<T: Copy, U>(dst: &mut [MaybeUninit<U>], a: &[T], b: &[T], f: &impl Fn(T, T) -> U) {
    vectorized(
        #[inline(always)]
        || {
            for ((o, &x), &y) in dst.iter_mut().zip(a).zip(b) {
                o.write(f(x, y));
            }
        },
    )
}

/// `dst[i] = f(a[i], b[i], c[i])`, compiled with the widest vectors the processor has.
#[inline(always)]
fn zip3_slices<T: Copy, U>(
    dst: &mut [MaybeUninit<U>],
    (a, b, c): (&[T], &[T], &[T]),
    f: &impl Fn(T, T, T) -> U,
) {
    vectorized(
        #[inline(always)]
        || {
            for (((o, &x), &y), &z) in dst.iter_mut().zip(a).zip(b).zip(c) {
                o.write(f(x, y, z));
            }
        },
    )
}

/// `f` applied to every element of a view, in row-major order.
pub(crate) fn map<T, U>(x: &[T], l: &Layout, f: impl Fn(T) -> U + Sync + Send) -> Vec<U>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync + Default + 'static,
{
    let n = l.elem_count();
    if let Some(r) = l.contiguous_range() {
        let src = &x[r];
        // SAFETY: `src` has exactly `n` elements (the range's length; slicing checked it),
        // and the chunks of `out` and `src` pair up one to one, so `map_slice` writes each
        // element of `out`.
        return unsafe {
            pool::build(n, |out| {
                if parallel(n) {
                    out.par_chunks_mut(CHUNK)
                        .zip(src.par_chunks(CHUNK))
                        .for_each(|(o, s)| map_slice(o, s, &f));
                } else {
                    map_slice(out, src, &f);
                }
            })
        };
    }
    let (dims, [st]) = coalesce(&l.dims, [&l.strides]);
    let inner = *dims.last().unwrap();
    let is = *st.last().unwrap();
    // Read in tiles across a transpose (see `by_tiles`).
    let tiled = across_transpose(&st);
    // SAFETY: `by_rows` hands out all of `out` (coalescing keeps the element count `n`),
    // a group of whole rows at a time, and each group is written whole: in tiles that
    // cover every column, or row by row (a slice of `inner` values, one value, or each
    // position).
    unsafe {
        pool::build(n, |out| {
            by_rows(out, &dims, &[st], [l.offset], |dst, offs| {
                if tiled {
                    return by_tiles(dst, offs, inner, |[o], j| f(x[at(o, j, is)]));
                }
                for (dst, &[o]) in dst.chunks_exact_mut(inner).zip(offs) {
                    if is == 1 {
                        map_slice(dst, &x[o..o + inner], &f);
                    } else if is == 0 {
                        // A broadcast row: one value.
                        let v = f(x[o]);
                        for d in dst.iter_mut() {
                            d.write(v);
                        }
                    } else {
                        for (j, d) in dst.iter_mut().enumerate() {
                            d.write(f(x[at(o, j, is)]));
                        }
                    }
                }
            });
        })
    }
}

/// `f` applied pairwise to two views with equal dims (strides may be 0 for broadcasting).
pub(crate) fn zip<T, U>(
    a: &[T],
    la: &Layout,
    b: &[T],
    lb: &Layout,
    f: impl Fn(T, T) -> U + Sync + Send,
) -> Vec<U>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync + Default + 'static,
{
    let n = la.elem_count();
    assert_eq!(la.dims, lb.dims, "zip: operands of different shapes");
    if let (Some(ra), Some(rb)) = (la.contiguous_range(), lb.contiguous_range()) {
        let (sa, sb) = (&a[ra], &b[rb]);
        // SAFETY: with equal dims, `sa` and `sb` have exactly `n` elements each (slicing
        // checked the ranges), and the chunks pair up one to one, so `zip_slices` writes
        // each element of `out`.
        return unsafe {
            pool::build(n, |out| {
                if parallel(n) {
                    out.par_chunks_mut(CHUNK)
                        .zip(sa.par_chunks(CHUNK).zip(sb.par_chunks(CHUNK)))
                        .for_each(|(o, (x, y))| zip_slices(o, x, y, &f));
                } else {
                    zip_slices(out, sa, sb, &f);
                }
            })
        };
    }
    let (dims, [sa, sb]) = coalesce(&la.dims, [&la.strides, &lb.strides]);
    let inner = *dims.last().unwrap();
    let (ia, ib) = (*sa.last().unwrap(), *sb.last().unwrap());
    // Tiled as in `map` when either operand is read across a transpose.
    let tiled = across_transpose(&sa) || across_transpose(&sb);
    // SAFETY: as in `map`: `by_rows` hands out all of `out` in groups of whole rows, and
    // every branch below writes each element of its rows (slices of `inner` values from
    // both operands, one broadcast value, or each position).
    unsafe {
        pool::build(n, |out| {
            by_rows(
                out,
                &dims,
                &[sa, sb],
                [la.offset, lb.offset],
                |dst, offs| {
                    if tiled {
                        return by_tiles(dst, offs, inner, |[oa, ob], j| {
                            f(a[at(oa, j, ia)], b[at(ob, j, ib)])
                        });
                    }
                    for (dst, &[oa, ob]) in dst.chunks_exact_mut(inner).zip(offs) {
                        match (ia, ib) {
                            (1, 1) => zip_slices(dst, &a[oa..oa + inner], &b[ob..ob + inner], &f),
                            (1, 0) => {
                                let y = b[ob];
                                map_slice(dst, &a[oa..oa + inner], &|x| f(x, y));
                            }
                            (0, 1) => {
                                let x = a[oa];
                                map_slice(dst, &b[ob..ob + inner], &|y| f(x, y));
                            }
                            (0, 0) => {
                                let v = f(a[oa], b[ob]);
                                for d in dst.iter_mut() {
                                    d.write(v);
                                }
                            }
                            _ => {
                                for (j, d) in dst.iter_mut().enumerate() {
                                    d.write(f(a[at(oa, j, ia)], b[at(ob, j, ib)]));
                                }
                            }
                        }
                    }
                },
            )
        })
    }
}

/// Writes `src` (laid out with the same dims as `dst`) into the view `dst` of `buf`.
pub(crate) fn assign<T: Copy>(buf: &mut [T], dst: &Layout, src: &[T], ls: &Layout) {
    let (dims, [sd, ss]) = coalesce(&dst.dims, [&dst.strides, &ls.strides]);
    let inner = *dims.last().unwrap();
    let (id, is) = (*sd.last().unwrap(), *ss.last().unwrap());
    for_each_row(&dims, &[sd, ss], [dst.offset, ls.offset], |[od, os]| {
        if id == 1 && is == 1 {
            buf[od..od + inner].copy_from_slice(&src[os..os + inner]);
        } else {
            for j in 0..inner as isize {
                buf[(od as isize + j * id) as usize] = src[(os as isize + j * is) as usize];
            }
        }
    });
}

/// NaN test for any partially ordered element (false for integers).
#[inline(always)]
pub(crate) fn is_nan<T: PartialOrd>(v: T) -> bool {
    v.partial_cmp(&v).is_none()
}

/// `f` applied to three views with equal dims (strides may be 0 for broadcasting), in
/// row-major order. Views that are not contiguous are copied to contiguous order first.
pub(crate) fn zip3<T, U>(
    a: &[T],
    la: &Layout,
    b: &[T],
    lb: &Layout,
    c: &[T],
    lc: &Layout,
    f: impl Fn(T, T, T) -> U + Sync + Send,
) -> Vec<U>
where
    T: Copy + Send + Sync + Default + 'static,
    U: Copy + Send + Sync + Default + 'static,
{
    let n = la.elem_count();
    assert!(
        la.dims == lb.dims && la.dims == lc.dims,
        "zip3: operands of different shapes"
    );
    let (a, b, c) = (contiguous(a, la), contiguous(b, lb), contiguous(c, lc));
    // SAFETY: with equal dims each contiguous operand has exactly `n` elements, and the
    // chunks pair up one to one, so `zip3_slices` writes each element of `out`.
    unsafe {
        pool::build(n, |out| {
            if parallel(n) {
                out.par_chunks_mut(CHUNK)
                    .zip(a.par_chunks(CHUNK))
                    .zip(b.par_chunks(CHUNK).zip(c.par_chunks(CHUNK)))
                    .for_each(|((o, x), (y, z))| zip3_slices(o, (x, y, z), &f));
            } else {
                zip3_slices(out, (&a, &b, &c), &f);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The element of the view `l` at row-major position `i`, found by division.
    fn at(x: &[f64], l: &Layout, mut i: usize) -> f64 {
        let mut off = l.offset as isize;
        for (&d, &s) in l.dims.iter().zip(&l.strides).rev() {
            off += (i % d) as isize * s;
            i /= d;
        }
        x[off as usize]
    }

    /// Strided views with rows of several lengths, large ones (above the threading
    /// threshold) on three threads: the blocks of rows start their odometers in the right
    /// place, and transposed views (read in tiles) cover partial tiles.
    #[test]
    fn strided_map_and_zip_by_blocks_of_rows() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let x: Vec<f64> = (0..700 * 501).map(|i| i as f64).collect();
        // A transpose (rows of 700 with stride 501), a 3-D permutation with short rows
        // and an offset, and a row broadcast along the last axis.
        let views = [
            Layout {
                dims: vec![501, 700],
                strides: vec![1, 501],
                offset: 0,
            },
            Layout {
                dims: vec![7, 100, 3, 166],
                strides: vec![3, 21, 1, 2100],
                offset: 1,
            },
            Layout {
                dims: vec![700, 501],
                strides: vec![501, 0],
                offset: 0,
            },
            // Small: one thread, 37 rows and 45 columns in tiles of 16.
            Layout {
                dims: vec![37, 45],
                strides: vec![1, 37],
                offset: 5,
            },
        ];
        pool.install(|| {
            for l in &views {
                let n = l.elem_count();
                let y = map(&x, l, |v| 2.0 * v + 1.0);
                let other = Layout::contiguous("test", l.dims.clone()).unwrap();
                let z = zip(&x, l, &x, &other, |a, b| a - b);
                for i in 0..n {
                    assert_eq!(y[i], 2.0 * at(&x, l, i) + 1.0, "{:?}, element {i}", l.dims);
                    assert_eq!(z[i], at(&x, l, i) - x[i], "{:?}, element {i}", l.dims);
                }
            }
        });
    }
}
