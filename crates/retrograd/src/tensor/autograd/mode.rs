//! Thread-local switches: grad mode (recording on/off) and anomaly detection.

use std::cell::Cell;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    static ANOMALY: Cell<bool> = const { Cell::new(false) };
}

/// Whether ops record the graph on this thread.
///
/// ```
/// use retrograd::tensor::autograd::{is_grad_enabled, no_grad};
/// assert!(is_grad_enabled());
/// no_grad(|| assert!(!is_grad_enabled()));
/// ```
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Sets grad mode on this thread until dropped, then restores the previous mode.
///
/// ```
/// use retrograd::tensor::autograd::{is_grad_enabled, GradModeGuard};
/// {
///     let _g = GradModeGuard::new(false);
///     assert!(!is_grad_enabled());
/// }
/// assert!(is_grad_enabled());
/// ```
pub struct GradModeGuard {
    prev: bool,
}

impl GradModeGuard {
    /// Enters grad mode `enabled`.
    pub fn new(enabled: bool) -> Self {
        let prev = GRAD_ENABLED.with(|g| g.replace(enabled));
        GradModeGuard { prev }
    }
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.prev));
    }
}

/// Runs `f` without recording the graph (inference, optimizer updates).
///
/// ```
/// use retrograd::tensor::{autograd::no_grad, DType, Tensor};
/// let w = Tensor::ones([2], DType::F32).requires_grad_();
/// let y = no_grad(|| w.exp().unwrap());
/// assert!(!y.requires_grad());
/// ```
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _g = GradModeGuard::new(false);
    f()
}

/// Runs `f` with recording on, even inside [`no_grad`].
///
/// ```
/// use retrograd::tensor::autograd::{enable_grad, is_grad_enabled, no_grad};
/// no_grad(|| enable_grad(|| assert!(is_grad_enabled())));
/// ```
pub fn enable_grad<R>(f: impl FnOnce() -> R) -> R {
    let _g = GradModeGuard::new(true);
    f()
}

/// Whether anomaly detection is on for this thread.
///
/// ```
/// use retrograd::tensor::autograd::{detect_anomaly, is_anomaly_enabled};
/// assert!(!is_anomaly_enabled());
/// detect_anomaly(|| assert!(is_anomaly_enabled()));
/// ```
pub fn is_anomaly_enabled() -> bool {
    ANOMALY.with(|a| a.get())
}

/// Turns anomaly detection on for this thread until dropped.
///
/// ```
/// use retrograd::tensor::autograd::{is_anomaly_enabled, AnomalyGuard};
/// let g = AnomalyGuard::new();
/// assert!(is_anomaly_enabled());
/// drop(g);
/// assert!(!is_anomaly_enabled());
/// ```
pub struct AnomalyGuard {
    prev: bool,
}

impl AnomalyGuard {
    /// Enters anomaly mode.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        AnomalyGuard {
            prev: ANOMALY.with(|a| a.replace(true)),
        }
    }
}

impl Drop for AnomalyGuard {
    fn drop(&mut self) {
        ANOMALY.with(|a| a.set(self.prev));
    }
}

/// Runs `f` with anomaly detection: the first op whose forward result or backward gradient
/// holds a NaN or infinity fails with [`TensorError::NonFinite`](crate::tensor::TensorError),
/// naming the op and the place it was called. Costs one scan per op; free when off.
///
/// ```
/// use retrograd::tensor::{autograd::detect_anomaly, Tensor, TensorError};
/// let x = Tensor::from_vec(vec![-1.0f64], [1]).unwrap();
/// let err = detect_anomaly(|| x.log()).unwrap_err();
/// assert!(matches!(err, TensorError::NonFinite { op: "log", .. }));
/// assert!(err.to_string().contains(".rs:"));
/// ```
pub fn detect_anomaly<R>(f: impl FnOnce() -> R) -> R {
    let _g = AnomalyGuard::new();
    f()
}
