//! Tensor operations, one file per family. Each op's forward and its derivative rule sit
//! side by side; rules are written with differentiable tensor ops (never raw kernels), so
//! running backward with `create_graph` records them and gives higher derivatives.

mod binary;
mod conv;
mod creation;
mod fused;
mod index;
mod join;
mod matmul;
mod nn;
mod reduce;
mod unary;
mod update;
mod view;

pub use conv::{Conv1dOptions, Conv2dOptions};
pub use nn::{BatchStats, Reduction};

use super::error::{Result, TensorError};
use super::Tensor;

impl Tensor {
    /// Errors unless the dtype is a float type (the op differentiates or does real math).
    pub(crate) fn require_float(&self, op: &'static str) -> Result<()> {
        if self.dtype().is_float() {
            Ok(())
        } else {
            Err(TensorError::UnsupportedDType {
                op,
                dtype: self.dtype(),
            })
        }
    }

    pub(crate) fn require_same_dtype(&self, op: &'static str, other: &Tensor) -> Result<()> {
        if self.dtype() == other.dtype() {
            Ok(())
        } else {
            Err(TensorError::DTypeMismatch {
                op,
                lhs: self.dtype(),
                rhs: other.dtype(),
            })
        }
    }

    /// Sums a (broadcast) gradient back down to `dims`: over leading axes that `dims` lacks
    /// and over axes where `dims` has size 1. The adjoint of broadcasting.
    pub(crate) fn sum_to(&self, dims: &[usize]) -> Result<Tensor> {
        if self.dims() == dims {
            return Ok(self.clone());
        }
        let lead = self.rank() - dims.len();
        let mut axes: Vec<usize> = (0..lead).collect();
        for (i, &d) in dims.iter().enumerate() {
            if d == 1 && self.dims()[lead + i] != 1 {
                axes.push(lead + i);
            }
        }
        let s = if axes.is_empty() {
            self.clone()
        } else {
            self.sum(axes, true)?
        };
        s.reshape(dims)
    }
}
