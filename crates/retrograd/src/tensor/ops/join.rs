//! Joining and splitting: `cat`, `stack`, `split`, `chunk`. Splits are views (narrow);
//! `cat`'s rule hands each input its slice of the gradient.

use crate::tensor::autograd::{record_new, Save};
use crate::tensor::backend;
use crate::tensor::error::{invalid, shape_mismatch, Result};
use crate::tensor::shape::{resolve_axis, Layout};
use crate::tensor::Tensor;

impl Tensor {
    /// Concatenates tensors along `axis` (all other dims must match).
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let a = Tensor::zeros([2, 3], DType::F32);
    /// let b = Tensor::ones([1, 3], DType::F32);
    /// assert_eq!(Tensor::cat(&[a, b], 0).unwrap().dims(), &[3, 3]);
    /// ```
    #[track_caller]
    pub fn cat(tensors: &[Tensor], axis: isize) -> Result<Tensor> {
        let op = "cat";
        let first = tensors
            .first()
            .ok_or_else(|| invalid(op, "needs at least one tensor"))?;
        let a = resolve_axis(op, axis, first.rank())?;
        let mut dims = first.dims().to_vec();
        dims[a] = 0;
        for t in tensors {
            first.require_same_dtype(op, t)?;
            let compatible = t.rank() == first.rank()
                && t.dims()
                    .iter()
                    .zip(first.dims())
                    .enumerate()
                    .all(|(d, (x, y))| d == a || x == y);
            if !compatible {
                return Err(shape_mismatch(
                    op,
                    first.dims(),
                    t.dims(),
                    format!("all dims but axis {a} must match"),
                ));
            }
            // Checked: the lengths of many views could sum past `usize::MAX`.
            dims[a] = dims[a].checked_add(t.dims()[a]).ok_or_else(|| {
                invalid(
                    op,
                    format!(
                        "joining {} tensors along axis {a} (the first of shape {}) gives an \
                         axis longer than usize::MAX",
                        tensors.len(),
                        first.shape()
                    ),
                )
            })?;
        }
        let full = Layout::contiguous(op, dims.clone())?;
        let mut data = backend::full(first.dtype(), full.elem_count(), 0.0);
        let mut sizes = Vec::with_capacity(tensors.len());
        let mut start = 0;
        for t in tensors {
            let len = t.dims()[a];
            let mut dst = full.clone();
            dst.offset = start * full.strides[a] as usize;
            dst.dims[a] = len;
            backend::assign(&mut data, &dst, &t.read(), t.layout());
            sizes.push((start, len));
            start += len;
        }
        let inputs: Vec<&Tensor> = tensors.iter().collect();
        record_new(op, data, dims, &inputs, Save::Nothing, move |ctx, g| {
            sizes
                .iter()
                .zip(ctx.needs)
                .map(|(&(s, l), &need)| {
                    if need {
                        g.narrow(a as isize, s, l).map(Some)
                    } else {
                        Ok(None)
                    }
                })
                .collect()
        })
    }

    /// Stacks equally shaped tensors along a new axis `axis`.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let a = Tensor::zeros([2, 3], DType::F32);
    /// assert_eq!(Tensor::stack(&[a.clone(), a], 0).unwrap().dims(), &[2, 2, 3]);
    /// ```
    #[track_caller]
    pub fn stack(tensors: &[Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| invalid("stack", "needs at least one tensor"))?;
        let a = resolve_axis("stack", axis, first.rank() + 1)?;
        for t in tensors {
            if t.dims() != first.dims() {
                return Err(shape_mismatch(
                    "stack",
                    first.dims(),
                    t.dims(),
                    "all tensors must have the same shape",
                ));
            }
        }
        let parts = tensors
            .iter()
            .map(|t| t.unsqueeze(a as isize))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&parts, a as isize)
    }

    /// Splits along `axis` into pieces of `size` (the last may be smaller). Views.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let parts = Tensor::zeros([5, 2], DType::F32).split(2, 0).unwrap();
    /// assert_eq!(parts.iter().map(|p| p.dims()[0]).collect::<Vec<_>>(), vec![2, 2, 1]);
    /// ```
    #[track_caller]
    pub fn split(&self, size: usize, axis: isize) -> Result<Vec<Tensor>> {
        let a = resolve_axis("split", axis, self.rank())?;
        if size == 0 {
            return Err(invalid("split", "piece size must be positive"));
        }
        let total = self.dims()[a];
        (0..total)
            .step_by(size)
            .map(|s| self.narrow(a as isize, s, size.min(total - s)))
            .collect()
    }

    /// Splits along `axis` into `n` nearly equal pieces (fewer if the axis is short). Views.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let parts = Tensor::zeros([6], DType::F32).chunk(3, 0).unwrap();
    /// assert_eq!(parts.len(), 3);
    /// ```
    #[track_caller]
    pub fn chunk(&self, n: usize, axis: isize) -> Result<Vec<Tensor>> {
        let a = resolve_axis("chunk", axis, self.rank())?;
        if n == 0 {
            return Err(invalid("chunk", "number of chunks must be positive"));
        }
        let size = self.dims()[a].div_ceil(n).max(1);
        self.split(size, a as isize)
    }
}
