//! Reductions over any set of axes (with `keepdim`), and arg-max/arg-min.
//! Rules broadcast the output gradient back over the reduced axes.

use crate::tensor::autocast;
use crate::tensor::autograd::{constant, no_grad, record_new, Save};
use crate::tensor::backend::{self, ReduceOp};
use crate::tensor::error::{invalid, Result};
use crate::tensor::shape::{resolve_axes, resolve_axis, Axes};
use crate::tensor::{AllAxes, DType, Tensor};

/// Output dims of a reduction: size 1 on `axes` (keepdim) or those axes removed.
fn reduced_dims(dims: &[usize], axes: &[usize], keepdim: bool) -> Vec<usize> {
    dims.iter()
        .enumerate()
        .filter_map(|(i, &d)| match (axes.contains(&i), keepdim) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

impl Tensor {
    /// Reshapes a reduction result (or its gradient) back to keepdim form.
    fn keepdim_form(&self, in_dims: &[usize], axes: &[usize]) -> Result<Tensor> {
        self.reshape(reduced_dims(in_dims, axes, true))
    }

    #[track_caller]
    fn reduce_op<A: Axes>(
        &self,
        name: &'static str,
        op: ReduceOp,
        axes: A,
        keepdim: bool,
    ) -> Result<Tensor> {
        let axes = resolve_axes(name, &axes, self.rank(), true)?;
        if op != ReduceOp::Sum && axes.iter().any(|&a| self.dims()[a] == 0) {
            return Err(invalid(
                name,
                format!("cannot reduce an empty axis of shape {}", self.shape()),
            ));
        }
        let data = backend::reduce(op, &self.read(), self.layout(), &axes)?;
        let in_dims = self.dims().to_vec();
        let out_dims = reduced_dims(&in_dims, &axes, keepdim);
        if !self.dtype().is_float() {
            return Ok(constant(data, out_dims));
        }
        let save = if op == ReduceOp::Sum {
            Save::Nothing
        } else {
            Save::All
        };
        record_new(name, data, out_dims, &[self], save, move |ctx, g| {
            let g = g.keepdim_form(&in_dims, &axes)?;
            let gx = match op {
                ReduceOp::Sum => g.broadcast_to(in_dims.as_slice())?,
                ReduceOp::Max | ReduceOp::Min => {
                    // Split evenly between the positions that attain the extremum.
                    let x = ctx.input(0);
                    let y = ctx.output.keepdim_form(&in_dims, &axes)?;
                    let hit = no_grad(|| -> Result<Tensor> {
                        let hit = x.eq(&y)?;
                        let count = hit.sum(axes.clone(), true)?;
                        hit.div(&count)
                    })?;
                    g.mul(&hit)?
                }
            };
            Ok(vec![Some(gx)])
        })
    }

    /// Sum over `axes` (`AllAxes` for all); `keepdim` keeps them with size 1.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let t = Tensor::ones([2, 3], DType::F32);
    /// assert_eq!(t.sum(0, false).unwrap().to_vec::<f32>().unwrap(), vec![2.0; 3]);
    /// assert_eq!(t.sum(1, true).unwrap().dims(), &[2, 1]);
    /// ```
    #[track_caller]
    pub fn sum<A: Axes>(&self, axes: A, keepdim: bool) -> Result<Tensor> {
        if let Some(x) = autocast::widen(self)? {
            return x.sum(axes, keepdim);
        }
        self.reduce_op("sum", ReduceOp::Sum, axes, keepdim)
    }

    /// Sum of all elements, as a scalar (rank 0).
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// assert_eq!(Tensor::ones([2, 3], DType::F32).sum_all().unwrap().item().unwrap(), 6.0);
    /// ```
    #[track_caller]
    pub fn sum_all(&self) -> Result<Tensor> {
        self.sum(AllAxes, false)
    }

    /// Mean over `axes`.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]).unwrap();
    /// assert_eq!(t.mean(0, false).unwrap().to_vec::<f64>().unwrap(), vec![2.0, 3.0]);
    /// ```
    #[track_caller]
    pub fn mean<A: Axes>(&self, axes: A, keepdim: bool) -> Result<Tensor> {
        self.require_float("mean")?;
        let ax = resolve_axes("mean", &axes, self.rank(), true)?;
        let n: usize = ax.iter().map(|&a| self.dims()[a]).product();
        self.sum(ax, keepdim)?.mul_scalar(1.0 / n as f64)
    }

    /// Mean of all elements, as a scalar.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 6.0], [2, 2]).unwrap();
    /// assert_eq!(t.mean_all().unwrap().item().unwrap(), 3.0);
    /// ```
    #[track_caller]
    pub fn mean_all(&self) -> Result<Tensor> {
        self.mean(AllAxes, false)
    }

    /// Maximum over `axes`; the gradient is shared evenly between tied maxima.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 5.0, 3.0, 2.0], [2, 2]).unwrap();
    /// assert_eq!(t.max(1, false).unwrap().to_vec::<f32>().unwrap(), vec![5.0, 3.0]);
    /// ```
    #[track_caller]
    pub fn max<A: Axes>(&self, axes: A, keepdim: bool) -> Result<Tensor> {
        self.reduce_op("max", ReduceOp::Max, axes, keepdim)
    }

    /// Minimum over `axes`; the gradient is shared evenly between tied minima.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 5.0, 3.0, 2.0], [2, 2]).unwrap();
    /// assert_eq!(t.min(0, false).unwrap().to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn min<A: Axes>(&self, axes: A, keepdim: bool) -> Result<Tensor> {
        self.reduce_op("min", ReduceOp::Min, axes, keepdim)
    }

    /// Variance over `axes`, dividing by `n - 1` when `unbiased`, else by `n`.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f64, 3.0], [2]).unwrap();
    /// assert_eq!(t.var(0, false, false).unwrap().item().unwrap(), 1.0);
    /// assert_eq!(t.var(0, false, true).unwrap().item().unwrap(), 2.0);
    /// ```
    #[track_caller]
    pub fn var<A: Axes>(&self, axes: A, keepdim: bool, unbiased: bool) -> Result<Tensor> {
        if let Some(x) = autocast::widen(self)? {
            return x.var(axes, keepdim, unbiased);
        }
        self.require_float("var")?;
        let ax = resolve_axes("var", &axes, self.rank(), true)?;
        let n: usize = ax.iter().map(|&a| self.dims()[a]).product();
        let denom = if unbiased { n.saturating_sub(1) } else { n };
        let centered = self.sub(&self.mean(ax.clone(), true)?)?;
        centered
            .square()?
            .sum(ax, keepdim)?
            .mul_scalar(1.0 / denom as f64)
    }

    /// `log Σ exp(x)` over `axes`, computed stably (the max is subtracted first). Its
    /// gradient is the softmax; it is composed of differentiable ops, so it has higher
    /// derivatives too.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1000.0f64, 1000.0], [2]).unwrap();
    /// let l = t.logsumexp(0, false).unwrap().item().unwrap();
    /// assert!((l - (1000.0 + 2f64.ln())).abs() < 1e-9);
    /// ```
    #[track_caller]
    pub fn logsumexp<A: Axes>(&self, axes: A, keepdim: bool) -> Result<Tensor> {
        if let Some(x) = autocast::widen(self)? {
            return x.logsumexp(axes, keepdim);
        }
        self.require_float("logsumexp")?;
        let ax = resolve_axes("logsumexp", &axes, self.rank(), true)?;
        let m = no_grad(|| -> Result<Tensor> {
            let m = self.detach().max(ax.clone(), true)?;
            // An all -inf slice would give inf - inf; shift by 0 there instead.
            let finite = m.abs()?.lt_scalar(f64::INFINITY)?;
            finite.where_cond(&m, &Tensor::zeros((), m.dtype()))
        })?;
        let s = self.sub(&m)?.exp()?.sum(ax.clone(), true)?.log()?.add(&m)?;
        if keepdim {
            Ok(s)
        } else {
            s.reshape(reduced_dims(self.dims(), &ax, false))
        }
    }

    /// Index of the maximum along `axis` (first one at ties), as `I64`. No gradient.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 5.0, 3.0, 2.0], [2, 2]).unwrap();
    /// assert_eq!(t.argmax(1, false).unwrap().to_vec::<i64>().unwrap(), vec![1, 0]);
    /// ```
    pub fn argmax(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.arg_reduce("argmax", true, axis, keepdim)
    }

    /// Index of the minimum along `axis` (first one at ties), as `I64`. No gradient.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 5.0, 3.0, 2.0], [2, 2]).unwrap();
    /// assert_eq!(t.argmin(0, true).unwrap().to_vec::<i64>().unwrap(), vec![0, 1]);
    /// ```
    pub fn argmin(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.arg_reduce("argmin", false, axis, keepdim)
    }

    fn arg_reduce(
        &self,
        name: &'static str,
        max: bool,
        axis: isize,
        keepdim: bool,
    ) -> Result<Tensor> {
        let a = resolve_axis(name, axis, self.rank())?;
        if self.dims()[a] == 0 {
            return Err(invalid(
                name,
                format!("empty axis {a} of shape {}", self.shape()),
            ));
        }
        let data = backend::arg_reduce(max, &self.read(), self.layout(), a)?;
        let t = constant(data, reduced_dims(self.dims(), &[a], keepdim));
        debug_assert_eq!(t.dtype(), DType::I64);
        Ok(t)
    }
}
