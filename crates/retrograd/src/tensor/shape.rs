//! Shapes, strided layouts, axis arguments and NumPy broadcasting rules.

use super::error::{shape_mismatch, Result, TensorError};
use std::fmt;

/// The dimensions of a tensor, outermost first. A scalar has the empty shape `[]`.
///
/// Anything that turns into a list of sizes is accepted where a shape is expected:
/// `[2, 3]`, `&[2, 3][..]`, `vec![2, 3]`, `()` (a scalar) or a single `usize`.
///
/// ```
/// use retrograd::tensor::Shape;
/// let s = Shape::from([2, 3, 4]);
/// assert_eq!(s.elem_count(), 24);
/// assert_eq!(s.rank(), 3);
/// assert_eq!(s.to_string(), "[2, 3, 4]");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    /// The sizes.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }
    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }
    /// The number of elements (1 for a scalar).
    pub fn elem_count(&self) -> usize {
        self.0.iter().product()
    }
    /// Row-major (C order) strides for this shape.
    pub fn contiguous_strides(&self) -> Vec<isize> {
        contiguous_strides(&self.0)
    }
    pub(crate) fn into_vec(self) -> Vec<usize> {
        self.0
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(d: [usize; N]) -> Self {
        Shape(d.to_vec())
    }
}
impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Self {
        Shape(d.to_vec())
    }
}
impl<const N: usize> From<&[usize; N]> for Shape {
    fn from(d: &[usize; N]) -> Self {
        Shape(d.to_vec())
    }
}
impl From<Vec<usize>> for Shape {
    fn from(d: Vec<usize>) -> Self {
        Shape(d)
    }
}
impl From<&Vec<usize>> for Shape {
    fn from(d: &Vec<usize>) -> Self {
        Shape(d.clone())
    }
}
impl From<&Shape> for Shape {
    fn from(d: &Shape) -> Self {
        d.clone()
    }
}
impl From<()> for Shape {
    fn from(_: ()) -> Self {
        Shape(Vec::new())
    }
}
impl From<usize> for Shape {
    fn from(d: usize) -> Self {
        Shape(vec![d])
    }
}

pub(crate) fn contiguous_strides(dims: &[usize]) -> Vec<isize> {
    let mut strides = vec![0isize; dims.len()];
    let mut acc = 1isize;
    for (s, &d) in strides.iter_mut().zip(dims).rev() {
        *s = acc;
        acc *= d.max(1) as isize;
    }
    strides
}

/// How a tensor's elements sit in its storage: shape, strides (in elements, may be 0 for
/// broadcast dimensions) and the offset of the first element.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub(crate) dims: Vec<usize>,
    pub(crate) strides: Vec<isize>,
    pub(crate) offset: usize,
}

impl Layout {
    pub(crate) fn contiguous(dims: Vec<usize>) -> Self {
        let strides = contiguous_strides(&dims);
        Layout {
            dims,
            strides,
            offset: 0,
        }
    }
    /// The sizes.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }
    /// The strides, in elements.
    pub fn strides(&self) -> &[isize] {
        &self.strides
    }
    /// The offset of the first element in the storage.
    pub fn offset(&self) -> usize {
        self.offset
    }
    pub(crate) fn elem_count(&self) -> usize {
        self.dims.iter().product()
    }
    /// Whether elements are laid out row-major without gaps (size-1 dims may have any stride).
    pub fn is_contiguous(&self) -> bool {
        let mut acc = 1isize;
        for (&d, &s) in self.dims.iter().zip(&self.strides).rev() {
            if d != 1 && s != acc {
                return false;
            }
            acc *= d as isize;
        }
        true
    }
    /// The storage index range touched when contiguous: `offset..offset + n`.
    pub(crate) fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        self.is_contiguous()
            .then(|| self.offset..self.offset + self.elem_count())
    }
}

/// Resolves a possibly negative axis against a rank.
pub(crate) fn resolve_axis(op: &'static str, axis: isize, rank: usize) -> Result<usize> {
    let r = rank as isize;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(TensorError::AxisOutOfRange { op, axis, rank });
    }
    Ok(a as usize)
}

/// A set of axes for reductions and similar ops: one axis (`1`, `-1`) or several
/// (`[0, 2]`, `&[0, 1][..]`, `vec![..]`). Negative axes count from the end.
///
/// ```
/// use retrograd::tensor::{DType, Tensor};
/// let t = Tensor::ones([2, 3, 4], DType::F32);
/// assert_eq!(t.sum(-1, false).unwrap().dims(), &[2, 3]);
/// assert_eq!(t.sum([0, 2], true).unwrap().dims(), &[1, 3, 1]);
/// ```
pub trait Axes {
    /// The axes as given (possibly negative).
    fn axes_list(&self) -> Vec<isize>;
}

macro_rules! axes_int {
    ($($t:ty),*) => {$(
        impl Axes for $t {
            fn axes_list(&self) -> Vec<isize> { vec![*self as isize] }
        }
        impl<const N: usize> Axes for [$t; N] {
            fn axes_list(&self) -> Vec<isize> { self.iter().map(|&a| a as isize).collect() }
        }
        impl Axes for &[$t] {
            fn axes_list(&self) -> Vec<isize> { self.iter().map(|&a| a as isize).collect() }
        }
        impl Axes for Vec<$t> {
            fn axes_list(&self) -> Vec<isize> { self.iter().map(|&a| a as isize).collect() }
        }
    )*};
}
axes_int!(i32, isize, usize);

/// Every axis of the tensor, for reductions over all elements.
///
/// ```
/// use retrograd::tensor::{AllAxes, DType, Tensor};
/// let t = Tensor::ones([2, 3], DType::F64);
/// assert_eq!(t.sum(AllAxes, false).unwrap().item().unwrap(), 6.0);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct AllAxes;

impl Axes for AllAxes {
    fn axes_list(&self) -> Vec<isize> {
        Vec::new()
    }
}

/// Resolves an axes argument into a sorted, de-duplicated list; `AllAxes` gives every axis.
pub(crate) fn resolve_axes<A: Axes>(
    op: &'static str,
    axes: &A,
    rank: usize,
    all_if_empty: bool,
) -> Result<Vec<usize>> {
    let list = axes.axes_list();
    if list.is_empty() && all_if_empty {
        return Ok((0..rank).collect());
    }
    let mut out = Vec::with_capacity(list.len());
    for a in list {
        out.push(resolve_axis(op, a, rank)?);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// NumPy broadcasting of two shapes.
pub(crate) fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    if a == b {
        return Ok(a.to_vec());
    }
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(shape_mismatch(
                op,
                a,
                b,
                format!("cannot broadcast: dimension {i} of the result is {da} vs {db}"),
            ));
        };
    }
    Ok(out)
}

/// The layout of `l` broadcast to `target` (stride 0 along new or expanded dimensions).
pub(crate) fn broadcast_layout(op: &'static str, l: &Layout, target: &[usize]) -> Result<Layout> {
    if l.dims == target {
        return Ok(l.clone());
    }
    let rank = target.len();
    if l.dims.len() > rank {
        return Err(shape_mismatch(
            op,
            &l.dims,
            target,
            "cannot broadcast to fewer dims",
        ));
    }
    let lead = rank - l.dims.len();
    let mut strides = vec![0isize; rank];
    for i in 0..l.dims.len() {
        let d = l.dims[i];
        if d == target[lead + i] {
            strides[lead + i] = l.strides[i];
        } else if d != 1 {
            return Err(shape_mismatch(
                op,
                &l.dims,
                target,
                format!("dimension {i} of size {d} cannot expand"),
            ));
        }
    }
    Ok(Layout {
        dims: target.to_vec(),
        strides,
        offset: l.offset,
    })
}

/// Merges adjacent dimensions that are contiguous in every operand, and drops size-1 dims,
/// so strided loops run over as few dimensions as possible. Returns (dims, strides per operand).
pub(crate) fn coalesce<const K: usize>(
    dims: &[usize],
    strides: [&[isize]; K],
) -> (Vec<usize>, [Vec<isize>; K]) {
    let mut od: Vec<usize> = Vec::with_capacity(dims.len());
    let mut os: [Vec<isize>; K] = std::array::from_fn(|_| Vec::with_capacity(dims.len()));
    for i in 0..dims.len() {
        let d = dims[i];
        if d == 1 {
            continue;
        }
        if let Some(&last) = od.last() {
            let _ = last;
            let mergeable = (0..K).all(|k| {
                let prev = *os[k].last().unwrap();
                prev == strides[k][i] * d as isize
            });
            if mergeable {
                *od.last_mut().unwrap() *= d;
                for k in 0..K {
                    *os[k].last_mut().unwrap() = strides[k][i];
                }
                continue;
            }
        }
        od.push(d);
        for k in 0..K {
            os[k].push(strides[k][i]);
        }
    }
    if od.is_empty() {
        od.push(1);
        for s in os.iter_mut() {
            s.push(0);
        }
    }
    (od, os)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_rules() {
        assert_eq!(
            broadcast_shapes("t", &[2, 1, 3], &[4, 1]).unwrap(),
            vec![2, 4, 3]
        );
        assert_eq!(broadcast_shapes("t", &[], &[3]).unwrap(), vec![3]);
        assert!(broadcast_shapes("t", &[2, 3], &[4]).is_err());
    }

    #[test]
    fn coalesce_contiguous() {
        let s = contiguous_strides(&[2, 3, 4]);
        let (d, [st]) = coalesce(&[2, 3, 4], [&s]);
        assert_eq!(d, vec![24]);
        assert_eq!(st, vec![1]);
    }
}
