//! Indexing kernels on contiguous data: index_select / index_add along one axis, and
//! gather / scatter_add with an index tensor of the input's rank.

use crate::tensor::error::{invalid, Result};

/// Splits `dims` around `axis` into (outer, size, inner) element counts.
fn split(dims: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = dims[..axis].iter().product();
    let inner = dims[axis + 1..].iter().product();
    (outer, dims[axis], inner)
}

fn check(op: &'static str, i: i64, size: usize) -> Result<usize> {
    if i < 0 || i as usize >= size {
        return Err(invalid(
            op,
            format!("index {i} out of range for size {size}"),
        ));
    }
    Ok(i as usize)
}

pub(crate) fn index_select<T: Copy + Default + 'static>(
    x: &[T],
    dims: &[usize],
    axis: usize,
    idx: &[i64],
) -> Result<Vec<T>> {
    let (outer, size, inner) = split(dims, axis);
    let mut out = super::pool::take(outer * idx.len() * inner);
    let idx = idx
        .iter()
        .map(|&i| check("index_select", i, size))
        .collect::<Result<Vec<_>>>()?;
    for o in 0..outer {
        for &i in &idx {
            let s = (o * size + i) * inner;
            out.extend_from_slice(&x[s..s + inner]);
        }
    }
    Ok(out)
}

pub(crate) fn index_add<T: Copy + Default + std::ops::AddAssign + 'static>(
    dims: &[usize],
    axis: usize,
    idx: &[i64],
    src: &[T],
) -> Result<Vec<T>> {
    let (outer, size, inner) = split(dims, axis);
    let mut out = super::pool::filled(outer * size * inner, T::default());
    for o in 0..outer {
        for (j, &i) in idx.iter().enumerate() {
            let i = check("index_add", i, size)?;
            let d = (o * size + i) * inner;
            let s = (o * idx.len() + j) * inner;
            for (a, &b) in out[d..d + inner].iter_mut().zip(&src[s..s + inner]) {
                *a += b;
            }
        }
    }
    Ok(out)
}

/// Calls `f(position in idx, position in x)` for each element of `idx` (contiguous, shape
/// `idims`), where the x position replaces coordinate `axis` by the index value.
fn walk(
    op: &'static str,
    xdims: &[usize],
    idims: &[usize],
    axis: usize,
    idx: &[i64],
    mut f: impl FnMut(usize, usize),
) -> Result<()> {
    let rank = idims.len();
    let mut xstrides = vec![1usize; rank];
    for d in (0..rank.saturating_sub(1)).rev() {
        xstrides[d] = xstrides[d + 1] * xdims[d + 1];
    }
    let mut coord = vec![0usize; rank];
    for (p, &iv) in idx.iter().enumerate() {
        let i = check(op, iv, xdims[axis])?;
        let mut xo = 0;
        for d in 0..rank {
            xo += xstrides[d] * if d == axis { i } else { coord[d] };
        }
        f(p, xo);
        for d in (0..rank).rev() {
            coord[d] += 1;
            if coord[d] < idims[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    Ok(())
}

/// For `axis` the last of rank ≥ 1 and equal leading dims: the row length of `x` and of
/// `idx` (the gather/scatter then works row by row, without coordinate arithmetic).
fn last_axis_rows(xdims: &[usize], idims: &[usize], axis: usize) -> Option<(usize, usize)> {
    let r = xdims.len();
    (r >= 1 && axis == r - 1 && xdims[..r - 1] == idims[..r - 1])
        .then(|| (xdims[r - 1], idims[r - 1]))
}

pub(crate) fn gather<T: Copy + Default + 'static>(
    x: &[T],
    xdims: &[usize],
    axis: usize,
    idx: &[i64],
    idims: &[usize],
) -> Result<Vec<T>> {
    if let Some((xs, is)) = last_axis_rows(xdims, idims, axis) {
        if is > 0 && xs > 0 {
            let mut out = super::pool::take(idx.len());
            for (xr, ir) in x.chunks_exact(xs).zip(idx.chunks_exact(is)) {
                for &i in ir {
                    out.push(xr[check("gather", i, xs)?]);
                }
            }
            return Ok(out);
        }
    }
    let mut out = super::pool::filled(idx.len(), T::default());
    walk("gather", xdims, idims, axis, idx, |p, xo| out[p] = x[xo])?;
    Ok(out)
}

pub(crate) fn scatter_add<T: Copy + Default + std::ops::AddAssign + 'static>(
    dims: &[usize],
    axis: usize,
    idx: &[i64],
    idims: &[usize],
    src: &[T],
) -> Result<Vec<T>> {
    let mut out = super::pool::filled(dims.iter().product(), T::default());
    if let Some((xs, is)) = last_axis_rows(dims, idims, axis) {
        if is > 0 && xs > 0 {
            for ((or, ir), sr) in out
                .chunks_exact_mut(xs)
                .zip(idx.chunks_exact(is))
                .zip(src.chunks_exact(is))
            {
                for (&i, &v) in ir.iter().zip(sr) {
                    or[check("scatter_add", i, xs)?] += v;
                }
            }
            return Ok(out);
        }
    }
    walk("scatter_add", dims, idims, axis, idx, |p, xo| {
        out[xo] += src[p]
    })?;
    Ok(out)
}
