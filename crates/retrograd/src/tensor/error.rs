//! The one error type of the tensor engine.

use super::{DType, Shape};
use std::panic::Location;

/// Everything that can go wrong in a tensor operation.
///
/// Every variant names the operation; shape errors carry both shapes. Operator overloads
/// (`&a + &b`) panic with the same message that the `Result`-returning method
/// ([`Tensor::add`](crate::tensor::Tensor::add)) would return.
///
/// ```
/// use retrograd::tensor::{DType, Tensor, TensorError};
/// let a = Tensor::zeros([2, 3], DType::F32);
/// let b = Tensor::zeros([4, 5], DType::F32);
/// let err = a.matmul(&b).unwrap_err();
/// assert!(matches!(err, TensorError::ShapeMismatch { op: "matmul", .. }));
/// assert!(err.to_string().contains("[2, 3]") && err.to_string().contains("[4, 5]"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum TensorError {
    /// Two operands have incompatible shapes.
    ShapeMismatch {
        /// The operation.
        op: &'static str,
        /// Shape of the first operand.
        lhs: Shape,
        /// Shape of the second operand.
        rhs: Shape,
        /// What was expected of them.
        detail: String,
    },
    /// Two operands have different element types.
    DTypeMismatch {
        /// The operation.
        op: &'static str,
        /// Type of the first operand.
        lhs: DType,
        /// Type of the second operand.
        rhs: DType,
    },
    /// The operation does not support this element type.
    UnsupportedDType {
        /// The operation.
        op: &'static str,
        /// The type it was given.
        dtype: DType,
    },
    /// An axis is out of range for the tensor's rank.
    AxisOutOfRange {
        /// The operation.
        op: &'static str,
        /// The axis given (negative axes count from the end).
        axis: isize,
        /// The rank of the tensor.
        rank: usize,
    },
    /// An argument is invalid for a reason other than shapes (a negative size, an index
    /// out of bounds, a non-scalar where a scalar is needed, ...).
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A tensor saved for backward was modified in place after it was saved.
    ModifiedInPlace {
        /// The operation whose backward needs the tensor.
        op: &'static str,
        /// The storage version when it was saved.
        saved: u64,
        /// The storage version now.
        current: u64,
    },
    /// Backward reached a node whose graph was already freed by an earlier backward.
    GraphFreed {
        /// The operation whose saved values are gone.
        op: &'static str,
    },
    /// `backward`/`grad` was asked of something that cannot have a gradient.
    NoGradient {
        /// Why.
        detail: String,
    },
    /// Anomaly detection found a NaN or infinity.
    NonFinite {
        /// The operation that produced it.
        op: &'static str,
        /// `"forward"` or `"backward"`.
        phase: &'static str,
        /// Where the operation was called, when known.
        location: Option<&'static Location<'static>>,
    },
}

impl std::fmt::Display for TensorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TensorError::ShapeMismatch {
                op,
                lhs,
                rhs,
                detail,
            } => write!(f, "{op}: shape mismatch between {lhs} and {rhs}: {detail}"),
            TensorError::DTypeMismatch { op, lhs, rhs } => {
                write!(f, "{op}: dtype mismatch between {lhs} and {rhs}")
            }
            TensorError::UnsupportedDType { op, dtype } => {
                write!(f, "{op}: not supported for dtype {dtype}")
            }
            TensorError::AxisOutOfRange { op, axis, rank } => {
                write!(
                    f,
                    "{op}: axis {axis} out of range for a tensor of rank {rank}"
                )
            }
            TensorError::InvalidArgument { op, detail } => write!(f, "{op}: {detail}"),
            TensorError::ModifiedInPlace { op, saved, current } => write!(
                f,
                "{op}: a tensor saved for its backward was modified in place \
                 (saved at version {saved}, now at version {current}); \
                 clone it before mutating, or mutate after backward"
            ),
            TensorError::GraphFreed { op } => write!(
                f,
                "{op}: the graph was already freed by a previous backward; \
                 pass retain_graph = true to backward through it again"
            ),
            TensorError::NoGradient { detail } => write!(f, "no gradient: {detail}"),
            TensorError::NonFinite {
                op,
                phase,
                location,
            } => {
                write!(f, "anomaly: {op} produced NaN or infinity in {phase}")?;
                if let Some(loc) = location {
                    write!(f, " (called at {loc})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for TensorError {}

/// The result type of tensor operations.
pub type Result<T> = std::result::Result<T, TensorError>;

pub(crate) fn invalid(op: &'static str, detail: impl Into<String>) -> TensorError {
    TensorError::InvalidArgument {
        op,
        detail: detail.into(),
    }
}

pub(crate) fn shape_mismatch(
    op: &'static str,
    lhs: &[usize],
    rhs: &[usize],
    detail: impl Into<String>,
) -> TensorError {
    TensorError::ShapeMismatch {
        op,
        lhs: Shape::from(lhs),
        rhs: Shape::from(rhs),
        detail: detail.into(),
    }
}
