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
    /// The most elements a tensor, or a view of one, may have: `isize::MAX / 8`
    /// (2⁶⁰ - 1), so that the bytes of any element type, and every stride and offset, fit
    /// in an `isize`.
    ///
    /// ```
    /// use retrograd::tensor::Shape;
    /// assert_eq!(Shape::from([Shape::MAX_ELEMS]).checked_elem_count(), Some(Shape::MAX_ELEMS));
    /// assert_eq!(Shape::from([Shape::MAX_ELEMS + 1]).checked_elem_count(), None);
    /// ```
    pub const MAX_ELEMS: usize = isize::MAX as usize / 8;

    /// The sizes.
    ///
    /// ```
    /// use retrograd::tensor::Shape;
    /// assert_eq!(Shape::from([2, 3]).dims(), &[2, 3]);
    /// ```
    pub fn dims(&self) -> &[usize] {
        &self.0
    }
    /// The number of dimensions.
    ///
    /// ```
    /// use retrograd::tensor::Shape;
    /// assert_eq!(Shape::from(()).rank(), 0);
    /// ```
    pub fn rank(&self) -> usize {
        self.0.len()
    }
    /// The number of elements (1 for a scalar). For a shape too large to lay out (see
    /// [`checked_elem_count`](Shape::checked_elem_count)) this saturates at `usize::MAX`
    /// instead of wrapping.
    ///
    /// ```
    /// use retrograd::tensor::Shape;
    /// assert_eq!(Shape::from([2, 0, 3]).elem_count(), 0);
    /// assert_eq!(Shape::from([1 << 40, 1 << 30]).elem_count(), usize::MAX);
    /// ```
    pub fn elem_count(&self) -> usize {
        if self.0.contains(&0) {
            return 0;
        }
        self.0.iter().fold(1usize, |n, &d| n.saturating_mul(d))
    }
    /// The number of elements, or `None` when a tensor of this shape cannot be laid out:
    /// when its sizes, with sizes of 0 counted as 1 (so that the strides of an empty
    /// tensor fit too), multiply past [`Shape::MAX_ELEMS`]. Every tensor constructor and
    /// view checks its shape this way.
    ///
    /// ```
    /// use retrograd::tensor::Shape;
    /// assert_eq!(Shape::from([2, 3, 4]).checked_elem_count(), Some(24));
    /// assert_eq!(Shape::from([64, (1 << 58) + 1]).checked_elem_count(), None);
    /// ```
    pub fn checked_elem_count(&self) -> Option<usize> {
        checked_count(&self.0)
    }
    /// Row-major (C order) strides for this shape.
    ///
    /// # Panics
    /// For a shape too large to lay out (see [`checked_elem_count`](Shape::checked_elem_count)).
    ///
    /// ```
    /// use retrograd::tensor::Shape;
    /// assert_eq!(Shape::from([2, 3, 4]).contiguous_strides(), vec![12, 4, 1]);
    /// ```
    #[track_caller]
    pub fn contiguous_strides(&self) -> Vec<isize> {
        match checked_sizes(&self.0) {
            Some((_, strides)) => strides,
            None => panic!("{}", too_large("contiguous_strides", &self.0)),
        }
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

/// The element count of `dims`, computed with checked multiplications, or `None` when the
/// sizes (0 counted as 1, so that the strides of an empty tensor fit too) multiply past
/// [`Shape::MAX_ELEMS`]. The size arithmetic that every layout goes through.
fn checked_count(dims: &[usize]) -> Option<usize> {
    let mut extent = 1usize;
    for &d in dims {
        extent = extent
            .checked_mul(d.max(1))
            .filter(|&e| e <= Shape::MAX_ELEMS)?;
    }
    Some(if dims.contains(&0) { 0 } else { extent })
}

/// The element count and the row-major strides of `dims`, or `None` as [`checked_count`].
fn checked_sizes(dims: &[usize]) -> Option<(usize, Vec<isize>)> {
    let count = checked_count(dims)?;
    // Each stride is a product of trailing sizes (0 counted as 1), so at most the extent
    // that `checked_count` bounded: these products cannot overflow.
    let mut strides = vec![0isize; dims.len()];
    let mut acc = 1usize;
    for (s, &d) in strides.iter_mut().zip(dims).rev() {
        *s = acc as isize;
        acc *= d.max(1);
    }
    Some((count, strides))
}

/// The error of a shape too large to lay out, naming `op` and the shape.
pub(crate) fn too_large(op: &'static str, dims: &[usize]) -> TensorError {
    TensorError::InvalidArgument {
        op,
        detail: format!(
            "shape {} is too large: its sizes multiply past {} elements, the most a tensor \
             can address",
            Shape::from(dims),
            Shape::MAX_ELEMS
        ),
    }
}

/// The element count of `dims`, or an error naming `op` and the shape when a tensor of
/// that shape cannot be laid out (see [`Shape::checked_elem_count`]).
pub(crate) fn checked_elem_count(op: &'static str, dims: &[usize]) -> Result<usize> {
    checked_count(dims).ok_or_else(|| too_large(op, dims))
}

/// Row-major strides of the dims of an existing layout (which fit, having been checked when
/// that layout was made).
pub(crate) fn contiguous_strides(dims: &[usize]) -> Vec<isize> {
    match checked_sizes(dims) {
        Some((_, strides)) => strides,
        None => panic!("internal error: {}", too_large("layout", dims)),
    }
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
    /// The row-major layout of a new tensor of `dims`, or an error naming `op` and the
    /// shape when it cannot be laid out.
    pub(crate) fn contiguous(op: &'static str, dims: Vec<usize>) -> Result<Self> {
        let (_, strides) = checked_sizes(&dims).ok_or_else(|| too_large(op, &dims))?;
        Ok(Layout {
            dims,
            strides,
            offset: 0,
        })
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
    /// The number of elements. Plain arithmetic is enough here: every layout of a tensor
    /// passed [`fits_in`](Layout::fits_in) when the tensor was made.
    pub(crate) fn elem_count(&self) -> usize {
        self.dims.iter().product()
    }
    /// Whether this layout can describe a view of a storage of `len` elements: one stride
    /// per dimension, at most [`Shape::MAX_ELEMS`] elements, and (unless it is empty) every
    /// position it addresses inside `0..len`. Computed with checked arithmetic, so that a
    /// layout whose offsets would overflow is refused rather than wrapped into range.
    ///
    /// This is what the kernels' unchecked accesses (the matrix products, which read
    /// operands through raw pointers) rely on; [`Tensor`](crate::tensor::Tensor)'s
    /// constructor asserts it for every tensor.
    pub(crate) fn fits_in(&self, len: usize) -> bool {
        if self.dims.len() != self.strides.len() {
            return false;
        }
        match checked_count(&self.dims) {
            None => false,
            Some(0) => true,
            Some(_) => self
                .address_range()
                .is_some_and(|(lo, hi)| lo >= 0 && (hi as usize) < len),
        }
    }
    /// The lowest and highest storage positions addressed by a non-empty layout, or `None`
    /// if computing them overflows.
    fn address_range(&self) -> Option<(isize, isize)> {
        let start = isize::try_from(self.offset).ok()?;
        let (mut lo, mut hi) = (start, start);
        for (&d, &s) in self.dims.iter().zip(&self.strides) {
            let span = s.checked_mul(isize::try_from(d - 1).ok()?)?;
            if span < 0 {
                lo = lo.checked_add(span)?;
            } else {
                hi = hi.checked_add(span)?;
            }
        }
        Some((lo, hi))
    }
    /// Whether elements are laid out row-major without gaps (size-1 dims may have any stride).
    pub fn is_contiguous(&self) -> bool {
        let mut acc = 1isize;
        for (&d, &s) in self.dims.iter().zip(&self.strides).rev() {
            if d != 1 && s != acc {
                return false;
            }
            acc = acc.saturating_mul(d as isize);
        }
        true
    }
    /// The storage index range touched when contiguous: `offset..offset + n` (`0..0` when
    /// empty, whatever the offset).
    pub(crate) fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        let n = self.elem_count();
        self.is_contiguous().then(|| {
            if n == 0 {
                0..0
            } else {
                self.offset..self.offset + n
            }
        })
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
            fn axes_list(&self) -> Vec<isize> { vec![axis_value(*self)] }
        }
        impl<const N: usize> Axes for [$t; N] {
            fn axes_list(&self) -> Vec<isize> { self.iter().map(|&a| axis_value(a)).collect() }
        }
        impl Axes for &[$t] {
            fn axes_list(&self) -> Vec<isize> { self.iter().map(|&a| axis_value(a)).collect() }
        }
        impl Axes for Vec<$t> {
            fn axes_list(&self) -> Vec<isize> { self.iter().map(|&a| axis_value(a)).collect() }
        }
    )*};
}
axes_int!(i32, isize, usize);

/// An axis as an `isize`; a `usize` beyond `isize::MAX` stays out of range (a cast would
/// wrap it to a valid negative axis).
fn axis_value<T: TryInto<isize>>(a: T) -> isize {
    a.try_into().unwrap_or(isize::MAX)
}

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
    if checked_count(&out).is_none() {
        return Err(shape_mismatch(
            op,
            a,
            b,
            format!(
                "the broadcast result {} has more than {} elements, the most a tensor can \
                 address",
                Shape::from(&out),
                Shape::MAX_ELEMS
            ),
        ));
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
    if checked_count(target).is_none() {
        return Err(shape_mismatch(
            op,
            &l.dims,
            target,
            format!(
                "the target has more than {} elements, the most a tensor can address",
                Shape::MAX_ELEMS
            ),
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
    fn sizes_are_checked_products() {
        let count = |d: &[usize]| Shape::from(d).checked_elem_count();
        assert_eq!(count(&[]), Some(1));
        assert_eq!(count(&[2, 0, 3]), Some(0));
        assert_eq!(count(&[Shape::MAX_ELEMS]), Some(Shape::MAX_ELEMS));
        assert_eq!(count(&[Shape::MAX_ELEMS, 1, 1]), Some(Shape::MAX_ELEMS));
        assert_eq!(count(&[Shape::MAX_ELEMS + 1]), None);
        assert_eq!(count(&[64, (1 << 58) + 1]), None); // wraps to 64
        assert_eq!(count(&[1 << 40, 1 << 30]), None); // wraps to 0
        assert_eq!(count(&[1 << 32, 1 << 32, 0]), None); // empty, but its strides overflow
        assert_eq!(count(&[0, usize::MAX]), None);
        assert_eq!(Shape::from([1 << 40, 1 << 30]).elem_count(), usize::MAX);
        assert_eq!(Shape::from([1 << 40, 1 << 30, 0]).elem_count(), 0);
        assert_eq!(Shape::from([2, 0, 3]).contiguous_strides(), vec![3, 3, 1]);
        let err = checked_elem_count("zeros", &[1 << 40, 1 << 30]).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("zeros: shape [1099511627776, 1073741824]"));
        assert!(Layout::contiguous("reshape", vec![64, (1 << 58) + 1]).is_err());
    }

    #[test]
    fn layouts_fit_their_storage() {
        let l = |dims: &[usize], strides: &[isize], offset: usize| Layout {
            dims: dims.to_vec(),
            strides: strides.to_vec(),
            offset,
        };
        assert!(l(&[2, 3], &[3, 1], 0).fits_in(6));
        assert!(!l(&[2, 3], &[3, 1], 0).fits_in(5));
        assert!(l(&[2, 3], &[3, 1], 1).fits_in(7) && !l(&[2, 3], &[3, 1], 1).fits_in(6));
        assert!(l(&[3, 2], &[1, 3], 0).fits_in(6)); // a transpose
        assert!(l(&[1 << 40, 4], &[0, 1], 2).fits_in(6)); // a broadcast
        assert!(l(&[0, 5], &[5, 1], 100).fits_in(0)); // empty: addresses nothing
        assert!(l(&[3], &[-2], 4).fits_in(5) && !l(&[3], &[-2], 3).fits_in(5));
        assert!(!l(&[2, 3], &[3], 0).fits_in(6)); // a stride missing
        assert!(!l(&[Shape::MAX_ELEMS + 1], &[0], 0).fits_in(1)); // too many elements
                                                                  // Offsets that overflow are refused, not wrapped into range.
        assert!(!l(&[3], &[isize::MAX], 0).fits_in(usize::MAX));
        assert!(!l(&[2], &[isize::MAX], 1).fits_in(usize::MAX));
        assert!(!l(&[3], &[isize::MAX / 2 + 1], 0).fits_in(usize::MAX));
        assert!(!l(&[2], &[1], usize::MAX).fits_in(usize::MAX));
    }

    #[test]
    fn coalesce_contiguous() {
        let s = contiguous_strides(&[2, 3, 4]);
        let (d, [st]) = coalesce(&[2, 3, 4], [&s]);
        assert_eq!(d, vec![24]);
        assert_eq!(st, vec![1]);
    }
}
