//! Views (reshape, permute, narrow, broadcast, squeeze) that share storage, plus the copies
//! `contiguous`, `to_dtype` and zero padding. Each backward is another view or its adjoint.

use crate::tensor::autograd::{record, record_new, Save};
use crate::tensor::backend;
use crate::tensor::error::{invalid, shape_mismatch, Result};
use crate::tensor::shape::{broadcast_layout, resolve_axis, Layout};
use crate::tensor::storage::Storage;
use crate::tensor::{DType, Shape, Tensor};
use std::sync::Arc;

impl Tensor {
    /// A view of this tensor's storage through `layout`, recorded as op `name`.
    #[track_caller]
    fn view_op<F>(&self, name: &'static str, layout: Layout, backward: F) -> Result<Tensor>
    where
        F: Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static,
    {
        record(
            name,
            self.storage().clone(),
            layout,
            &[self],
            Save::Nothing,
            move |_, g| Ok(vec![Some(backward(g)?)]),
        )
    }

    /// The same elements with another shape (same count). A view when the tensor is
    /// contiguous, a copy otherwise.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::arange(0.0, 6.0, 1.0, DType::F32).unwrap();
    /// let m = t.reshape([2, 3]).unwrap();
    /// assert_eq!(m.dims(), &[2, 3]);
    /// assert!(m.shares_storage(&t));
    /// assert!(t.reshape([4]).is_err());
    /// ```
    #[track_caller]
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let dims = shape.into().into_vec();
        let counts_differ = |detail: &str| shape_mismatch("reshape", self.dims(), &dims, detail);
        // The new count is computed with checked arithmetic: a product that wraps around
        // to the old count must not pass for it.
        match Shape::from(&dims).checked_elem_count() {
            None => {
                return Err(counts_differ(
                    "the new shape has more elements than a tensor can address",
                ))
            }
            Some(n) if n != self.elem_count() => {
                return Err(counts_differ("the element counts differ"))
            }
            Some(_) => {}
        }
        if dims == self.dims() {
            return Ok(self.clone());
        }
        let src = if self.is_contiguous() {
            self.clone()
        } else {
            self.contiguous()?
        };
        let mut layout = Layout::contiguous("reshape", dims)?;
        layout.offset = src.layout().offset;
        let in_dims = self.dims().to_vec();
        src.view_op("reshape", layout, move |g| g.reshape(&in_dims))
    }

    /// Merges axes `start..=end` into one (`flatten(1, -1)` turns `(N, C, H, W)` into
    /// `(N, C·H·W)`).
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::zeros([2, 3, 4], DType::F32);
    /// assert_eq!(t.flatten(1, -1).unwrap().dims(), &[2, 12]);
    /// ```
    #[track_caller]
    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        if self.rank() == 0 {
            return self.reshape([1]);
        }
        let s = resolve_axis("flatten", start, self.rank())?;
        let e = resolve_axis("flatten", end, self.rank())?;
        if s > e {
            return Err(invalid(
                "flatten",
                format!("start axis {s} is after end axis {e}"),
            ));
        }
        let d = self.dims();
        let mut dims = d[..s].to_vec();
        dims.push(d[s..=e].iter().product());
        dims.extend_from_slice(&d[e + 1..]);
        self.reshape(dims)
    }

    /// Reorders the axes: output axis `i` is input axis `perm[i]`. A view.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::zeros([2, 3, 4], DType::F32);
    /// assert_eq!(t.permute(&[2, 0, 1]).unwrap().dims(), &[4, 2, 3]);
    /// ```
    #[track_caller]
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let r = self.rank();
        let mut seen = vec![false; r];
        if perm.len() != r
            || perm
                .iter()
                .any(|&p| p >= r || std::mem::replace(&mut seen[p], true))
        {
            return Err(invalid(
                "permute",
                format!(
                    "{perm:?} is not a permutation of the {r} axes of {}",
                    self.shape()
                ),
            ));
        }
        let l = self.layout();
        let layout = Layout {
            dims: perm.iter().map(|&p| l.dims[p]).collect(),
            strides: perm.iter().map(|&p| l.strides[p]).collect(),
            offset: l.offset,
        };
        let mut inverse = vec![0; r];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        self.view_op("permute", layout, move |g| g.permute(&inverse))
    }

    /// Swaps two axes. A view.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::zeros([2, 3, 4], DType::F32);
    /// assert_eq!(t.transpose(0, -1).unwrap().dims(), &[4, 3, 2]);
    /// ```
    #[track_caller]
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let a = resolve_axis("transpose", a, self.rank())?;
        let b = resolve_axis("transpose", b, self.rank())?;
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// The transpose of a matrix (rank ≤ 2: vectors and scalars are returned as they are).
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::zeros([2, 3], DType::F32).t().unwrap().dims(), &[3, 2]);
    /// ```
    #[track_caller]
    pub fn t(&self) -> Result<Tensor> {
        match self.rank() {
            0 | 1 => Ok(self.clone()),
            2 => self.transpose(0, 1),
            r => Err(invalid(
                "t",
                format!("needs rank <= 2, got rank {r}; use mt() or transpose"),
            )),
        }
    }

    /// Swaps the last two axes (the matrix transpose of a batch of matrices).
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::zeros([5, 2, 3], DType::F32).mt().unwrap().dims(), &[5, 3, 2]);
    /// ```
    #[track_caller]
    pub fn mt(&self) -> Result<Tensor> {
        self.transpose(-2, -1)
    }

    /// Elements `start..start + len` along `axis`. A view.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::arange(0.0, 5.0, 1.0, DType::F64).unwrap();
    /// assert_eq!(t.narrow(0, 1, 3).unwrap().to_vec::<f64>().unwrap(), vec![1.0, 2.0, 3.0]);
    /// assert!(t.narrow(0, 3, 3).is_err());
    /// ```
    #[track_caller]
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        let a = resolve_axis("narrow", axis, self.rank())?;
        let size = self.dims()[a];
        let out_of_bounds = || {
            invalid(
                "narrow",
                format!(
                    "{len} elements from {start} are out of bounds for axis {a} of shape {}",
                    self.shape()
                ),
            )
        };
        // `start + len` is checked: a sum that wraps around would pass for a short range.
        if start.checked_add(len).is_none_or(|end| end > size) {
            return Err(out_of_bounds());
        }
        if start == 0 && len == size {
            return Ok(self.clone());
        }
        let mut layout = self.layout().clone();
        if len > 0 {
            // Within the view: `start < size`, so the new offset is an address of it.
            let step = isize::try_from(start)
                .ok()
                .and_then(|s| s.checked_mul(layout.strides[a]));
            layout.offset = step
                .and_then(|step| (layout.offset as isize).checked_add(step))
                .and_then(|o| usize::try_from(o).ok())
                .ok_or_else(out_of_bounds)?;
        }
        layout.dims[a] = len;
        let after = size - start - len;
        self.view_op("narrow", layout, move |g| g.pad_axis(a, start, after))
    }

    /// Alias of [`narrow`](Tensor::narrow) taking a range.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::zeros([4, 6], DType::F32);
    /// assert_eq!(t.slice(1, 2..5).unwrap().dims(), &[4, 3]);
    /// ```
    #[track_caller]
    pub fn slice(&self, axis: isize, range: std::ops::Range<usize>) -> Result<Tensor> {
        self.narrow(axis, range.start, range.end.saturating_sub(range.start))
    }

    /// Index `i` along `axis`, removing that axis. A view.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
    /// assert_eq!(t.select(0, 1).unwrap().to_vec::<f32>().unwrap(), vec![3.0, 4.0]);
    /// ```
    #[track_caller]
    pub fn select(&self, axis: isize, i: usize) -> Result<Tensor> {
        let a = resolve_axis("select", axis, self.rank())?;
        if i >= self.dims()[a] {
            return Err(invalid(
                "select",
                format!(
                    "index {i} is out of bounds for axis {a} of shape {}",
                    self.shape()
                ),
            ));
        }
        self.narrow(a as isize, i, 1)?.squeeze(a as isize)
    }

    /// Zero padding: `before` zeros ahead of and `after` zeros behind the elements along
    /// `axis`. The adjoint of [`narrow`](Tensor::narrow).
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::ones([2], DType::F32).pad_axis(0, 1, 2).unwrap();
    /// assert_eq!(t.to_vec::<f32>().unwrap(), vec![0.0, 1.0, 1.0, 0.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn pad_axis(&self, axis: usize, before: usize, after: usize) -> Result<Tensor> {
        if axis >= self.rank() {
            return Err(crate::tensor::TensorError::AxisOutOfRange {
                op: "pad_axis",
                axis: axis as isize,
                rank: self.rank(),
            });
        }
        let mut dims = self.dims().to_vec();
        let size = dims[axis];
        dims[axis] = size
            .checked_add(before)
            .and_then(|s| s.checked_add(after))
            .ok_or_else(|| {
                invalid(
                    "pad_axis",
                    format!(
                        "padding {before} + {after} overflows axis {axis} of shape {}",
                        self.shape()
                    ),
                )
            })?;
        let mut dst = Layout::contiguous("pad_axis", dims.clone())?;
        let mut data = backend::full(self.dtype(), dst.elem_count(), 0.0);
        // `before` is at most the padded size, so this is at most the padded element count.
        dst.offset = before * dst.strides[axis] as usize;
        dst.dims[axis] = size;
        backend::assign(&mut data, &dst, &self.read(), self.layout());
        record_new(
            "pad_axis",
            data,
            dims,
            &[self],
            Save::Nothing,
            move |_, g| Ok(vec![Some(g.narrow(axis as isize, before, size)?)]),
        )
    }

    /// Repeats size-1 axes (and prepends axes) to reach `shape`, NumPy style. A view with
    /// stride 0 along the repeated axes; backward sums over them.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let b = Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap();
    /// let e = b.broadcast_to([3, 2]).unwrap();
    /// assert_eq!(e.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
    /// assert!(b.broadcast_to([3]).is_err());
    /// ```
    #[track_caller]
    pub fn broadcast_to(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let dims = shape.into().into_vec();
        if dims == self.dims() {
            return Ok(self.clone());
        }
        let layout = broadcast_layout("broadcast_to", self.layout(), &dims)?;
        let in_dims = self.dims().to_vec();
        self.view_op("broadcast_to", layout, move |g| g.sum_to(&in_dims))
    }

    /// Alias of [`broadcast_to`](Tensor::broadcast_to).
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::ones([1, 3], DType::F32).expand([4, 3]).unwrap().dims(), &[4, 3]);
    /// ```
    #[track_caller]
    pub fn expand(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        self.broadcast_to(shape)
    }

    /// Removes axis `axis`, which must have size 1. A view.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::zeros([2, 1, 3], DType::F32).squeeze(1).unwrap().dims(), &[2, 3]);
    /// ```
    #[track_caller]
    pub fn squeeze(&self, axis: isize) -> Result<Tensor> {
        let a = resolve_axis("squeeze", axis, self.rank())?;
        if self.dims()[a] != 1 {
            return Err(invalid(
                "squeeze",
                format!(
                    "axis {a} of shape {} has size {}, not 1",
                    self.shape(),
                    self.dims()[a]
                ),
            ));
        }
        let mut layout = self.layout().clone();
        layout.dims.remove(a);
        layout.strides.remove(a);
        self.view_op("squeeze", layout, move |g| g.unsqueeze(a as isize))
    }

    /// Inserts an axis of size 1 at position `axis` (`-1`: at the end). A view.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::zeros([2, 3], DType::F32);
    /// assert_eq!(t.unsqueeze(0).unwrap().dims(), &[1, 2, 3]);
    /// assert_eq!(t.unsqueeze(-1).unwrap().dims(), &[2, 3, 1]);
    /// ```
    #[track_caller]
    pub fn unsqueeze(&self, axis: isize) -> Result<Tensor> {
        let a = resolve_axis("unsqueeze", axis, self.rank() + 1)?;
        let mut layout = self.layout().clone();
        // The stride of a size-1 axis never moves an address; any value that fits will do.
        let stride = if a < self.rank() {
            layout.strides[a]
                .checked_mul(layout.dims[a] as isize)
                .unwrap_or(0)
        } else {
            1
        };
        layout.dims.insert(a, 1);
        layout.strides.insert(a, stride);
        self.view_op("unsqueeze", layout, move |g| g.squeeze(a as isize))
    }

    /// A contiguous (row-major, gap-free) tensor with the same elements: `self` if it
    /// already is, a copy otherwise.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::zeros([2, 3], DType::F32).t().unwrap();
    /// assert!(t.contiguous().unwrap().is_contiguous());
    /// ```
    #[track_caller]
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        let data = backend::copy(&self.read(), self.layout());
        record_new(
            "contiguous",
            data,
            self.dims().to_vec(),
            &[self],
            Save::Nothing,
            |_, g| Ok(vec![Some(g.clone())]),
        )
    }

    /// Converts the element type (gradients flow between float types; a conversion to
    /// `I64` truncates and carries no gradient).
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::from_vec(vec![1.7f32, -1.7], [2]).unwrap();
    /// assert_eq!(t.to_dtype(DType::I64).unwrap().to_vec::<i64>().unwrap(), vec![1, -1]);
    /// assert_eq!(t.to_dtype(DType::F64).unwrap().dtype(), DType::F64);
    /// ```
    #[track_caller]
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        let data = backend::cast(&self.read(), self.layout(), dtype);
        let from = self.dtype();
        record_new(
            "to_dtype",
            data,
            self.dims().to_vec(),
            &[self],
            Save::Nothing,
            move |_, g| Ok(vec![Some(g.to_dtype(from)?)]),
        )
    }

    /// A copy with its own storage (contiguous), recorded so gradients flow through it.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::zeros([2], DType::F32);
    /// assert!(!t.copy().unwrap().shares_storage(&t));
    /// ```
    #[track_caller]
    pub fn copy(&self) -> Result<Tensor> {
        let data = backend::copy(&self.read(), self.layout());
        record(
            "copy",
            Arc::new(Storage::new(data)),
            Layout::contiguous("copy", self.dims().to_vec())?,
            &[self],
            Save::Nothing,
            |_, g| Ok(vec![Some(g.clone())]),
        )
    }
}
