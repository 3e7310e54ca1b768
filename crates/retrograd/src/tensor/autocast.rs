//! Automatic mixed precision: a thread-local scope in which matrix products and
//! convolutions run in a 16-bit float type while precision-sensitive ops run in `f32`, as
//! PyTorch's `torch.autocast(device_type="cpu", dtype=...)`.
//!
//! Inside [`autocast`]`(DType::BF16, ..)` (or while an [`AutocastGuard`] lives):
//! - `matmul` (and so `Linear`), `conv2d` and `conv1d` cast their `f32` operands (and an
//!   operand of the other 16-bit type) to the scope's type and return a result of that
//!   type; the products accumulate in `f32` and are rounded once.
//! - `softmax`, `log_softmax`, `cross_entropy`, `nll_loss`, `mse_loss`, `batch_norm` and
//!   the reductions `sum`, `mean`, `var`, `logsumexp` widen 16-bit inputs to `f32` and
//!   return `f32`.
//! - Every other op runs in the type of its inputs; a binary op on a 16-bit and an `f32`
//!   tensor promotes to `f32` ([`DType::promote`]), with or without autocast.
//! - `f64` tensors are left alone.
//!
//! The casts are recorded ops whose gradient is the cast back, so a backward pass through
//! an autocast forward brings the gradients of `f32` parameters back as `f32`: the
//! parameters stay `f32` master weights and optimizers see `f32` gradients. Backward
//! itself runs the recorded ops with autocast suspended (in the types they recorded), as
//! PyTorch's does; with `create_graph` the recorded rules are differentiable again.
//! Casts are not cached within a scope: a training step uses each weight once per forward
//! pass, so a cache would not save a cast.
//!
//! ```
//! use retrograd::tensor::{autocast, DType, Rng, Tensor};
//! let mut rng = Rng::new(0);
//! let x = Tensor::randn([4, 8], 0.0, 1.0, DType::F32, &mut rng);
//! let w = Tensor::randn([8, 3], 0.0, 0.5, DType::F32, &mut rng).requires_grad_();
//! let t = Tensor::from_vec(vec![0i64, 1, 2, 0], [4]).unwrap();
//! let loss = autocast(DType::BF16, || {
//!     let logits = x.matmul(&w)?;
//!     assert_eq!(logits.dtype(), DType::BF16);
//!     logits.cross_entropy(&t) // computed in f32
//! })
//! .unwrap()
//! .unwrap();
//! assert_eq!(loss.dtype(), DType::F32);
//! loss.backward().unwrap();
//! assert_eq!(w.grad().unwrap().dtype(), DType::F32);
//! ```

use super::error::{invalid, Result};
use super::{DType, Tensor};
use std::cell::Cell;

thread_local! {
    static AUTOCAST: Cell<Option<DType>> = const { Cell::new(None) };
}

/// The 16-bit type of the innermost autocast scope of this thread, if one is active.
///
/// ```
/// use retrograd::tensor::{autocast, autocast_dtype, DType};
/// assert_eq!(autocast_dtype(), None);
/// autocast(DType::F16, || assert_eq!(autocast_dtype(), Some(DType::F16))).unwrap();
/// ```
pub fn autocast_dtype() -> Option<DType> {
    AUTOCAST.with(Cell::get)
}

/// Runs `f` with autocast to `dtype` (`BF16` or `F16`) on this thread, restoring the
/// previous state afterwards (also when `f` panics). Other dtypes are an error.
///
/// ```
/// use retrograd::tensor::{autocast, DType, Tensor};
/// let a = Tensor::ones([2, 2], DType::F32);
/// let y = autocast(DType::BF16, || a.matmul(&a)).unwrap().unwrap();
/// assert_eq!(y.dtype(), DType::BF16);
/// assert!(autocast(DType::F64, || ()).is_err());
/// ```
pub fn autocast<R>(dtype: DType, f: impl FnOnce() -> R) -> Result<R> {
    let _guard = AutocastGuard::new(Some(dtype))?;
    Ok(f())
}

/// Sets this thread's autocast type (`Some(BF16)`, `Some(F16)`, or `None` to turn autocast
/// off, as `torch.autocast(enabled=False)` inside a scope) until dropped, then restores
/// the previous one.
///
/// ```
/// use retrograd::tensor::{autocast_dtype, AutocastGuard, DType};
/// {
///     let _g = AutocastGuard::new(Some(DType::BF16)).unwrap();
///     assert_eq!(autocast_dtype(), Some(DType::BF16));
///     {
///         let _off = AutocastGuard::new(None).unwrap();
///         assert_eq!(autocast_dtype(), None);
///     }
///     assert_eq!(autocast_dtype(), Some(DType::BF16));
/// }
/// assert_eq!(autocast_dtype(), None);
/// ```
#[must_use = "autocast ends when the guard is dropped"]
pub struct AutocastGuard {
    prev: Option<DType>,
}

impl AutocastGuard {
    /// Enters the state `dtype`; an error unless it is `None` or a 16-bit float type.
    pub fn new(dtype: Option<DType>) -> Result<Self> {
        if let Some(d) = dtype.filter(|d| !d.is_low_precision()) {
            return Err(invalid(
                "autocast",
                format!("the autocast type must be bf16 or f16, not {d}"),
            ));
        }
        Ok(Self::set(dtype))
    }

    /// Suspends autocast (for backward sweeps, which run the recorded types).
    pub(crate) fn suspend() -> Self {
        Self::set(None)
    }

    fn set(dtype: Option<DType>) -> Self {
        AutocastGuard {
            prev: AUTOCAST.with(|a| a.replace(dtype)),
        }
    }
}

impl Drop for AutocastGuard {
    fn drop(&mut self) {
        AUTOCAST.with(|a| a.set(self.prev));
    }
}

/// For an op that autocast runs in 16 bits (matmul, convolution): the scope's type if one
/// of `ts` is a float that autocast casts (`f32`, or the other 16-bit type) and so must be
/// cast first; `None` when autocast is off or all operands already have its type.
pub(crate) fn lower(ts: &[&Tensor]) -> Option<DType> {
    let d = autocast_dtype()?;
    ts.iter()
        .any(|t| t.dtype() != d && matches!(t.dtype(), DType::F32 | DType::BF16 | DType::F16))
        .then_some(d)
}

/// For an op that autocast runs in `f32` (losses, softmax, norms, reductions): `x` widened
/// to `f32` if autocast is on and `x` is a 16-bit float; `None` otherwise.
pub(crate) fn widen(x: &Tensor) -> Result<Option<Tensor>> {
    if autocast_dtype().is_some() && x.dtype().is_low_precision() {
        x.to_dtype(DType::F32).map(Some)
    } else {
        Ok(None)
    }
}
