//! Loss functions, written with differentiable tensor ops (so their gradients are exact
//! and higher derivatives exist). Each returns the mean over all elements or samples.

use retrograd::tensor::{Reduction, Tensor};

use crate::{NnError, Result};

/// Cross-entropy of `(N, C)` logits against `I64` class targets `(N)`, with optional label
/// smoothing `ε`: the target distribution is `1-ε` on the true class plus `ε/C` everywhere.
/// With `ε = 0` it is the fused (single-kernel) cross-entropy of the tensor engine.
///
/// ```
/// use retrograd::tensor::{DType, Tensor};
/// let logits = Tensor::zeros([2, 4], DType::F32);
/// let t = Tensor::from_vec(vec![0i64, 3], [2]).unwrap();
/// let l = retrograd_nn::loss::cross_entropy(&logits, &t, 0.1).unwrap();
/// assert!((l.item().unwrap() - 4f64.ln()).abs() < 1e-6); // uniform logits: ln C either way
/// ```
pub fn cross_entropy(logits: &Tensor, targets: &Tensor, label_smoothing: f64) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&label_smoothing) {
        return Err(NnError::invalid(format!(
            "label smoothing {label_smoothing} is not in [0, 1]"
        )));
    }
    if label_smoothing == 0.0 {
        return Ok(logits.cross_entropy(targets)?);
    }
    let logp = logits.log_softmax(-1)?;
    let nll = logp.nll_loss(targets, Reduction::Mean)?;
    let uniform = logp.mean(-1isize, false)?.mean_all()?.neg()?;
    Ok(nll
        .mul_scalar(1.0 - label_smoothing)?
        .add(&uniform.mul_scalar(label_smoothing)?)?)
}

/// Negative log-likelihood of `(N, C)` log-probabilities against `I64` targets `(N)`.
///
/// ```
/// use retrograd::tensor::Tensor;
/// let lp = Tensor::from_vec(vec![-0.5f32, -1.5], [1, 2]).unwrap();
/// let t = Tensor::from_vec(vec![1i64], [1]).unwrap();
/// assert_eq!(retrograd_nn::loss::nll(&lp, &t).unwrap().item().unwrap(), 1.5);
/// ```
pub fn nll(log_probs: &Tensor, targets: &Tensor) -> Result<Tensor> {
    Ok(log_probs.nll_loss(targets, Reduction::Mean)?)
}

/// Mean squared error `mean((x - y)²)`.
///
/// ```
/// use retrograd::tensor::Tensor;
/// let x = Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap();
/// let y = Tensor::from_vec(vec![0.0f32, 0.0], [2]).unwrap();
/// assert_eq!(retrograd_nn::loss::mse(&x, &y).unwrap().item().unwrap(), 2.5);
/// ```
pub fn mse(prediction: &Tensor, target: &Tensor) -> Result<Tensor> {
    Ok(prediction.sub(target)?.square()?.mean_all()?)
}

/// Mean absolute error `mean(|x - y|)` (subgradient 0 where they are equal).
///
/// ```
/// use retrograd::tensor::Tensor;
/// let x = Tensor::from_vec(vec![1.0f32, -3.0], [2]).unwrap();
/// let y = Tensor::from_vec(vec![0.0f32, 0.0], [2]).unwrap();
/// assert_eq!(retrograd_nn::loss::l1(&x, &y).unwrap().item().unwrap(), 2.0);
/// ```
pub fn l1(prediction: &Tensor, target: &Tensor) -> Result<Tensor> {
    Ok(prediction.sub(target)?.abs()?.mean_all()?)
}

/// Huber loss with threshold `δ`: `½d²` for `|d| ≤ δ`, `δ(|d| - ½δ)` beyond, averaged.
/// Written as `½q² + δ(|d| - q)` with `q = min(|d|, δ)`, one expression for both pieces.
///
/// ```
/// use retrograd::tensor::Tensor;
/// let x = Tensor::from_vec(vec![0.5f32, 3.0], [2]).unwrap();
/// let y = Tensor::from_vec(vec![0.0f32, 0.0], [2]).unwrap();
/// let l = retrograd_nn::loss::huber(&x, &y, 1.0).unwrap().item().unwrap();
/// assert!((l - (0.125 + 2.5) / 2.0).abs() < 1e-6);
/// ```
pub fn huber(prediction: &Tensor, target: &Tensor, delta: f64) -> Result<Tensor> {
    if delta <= 0.0 {
        return Err(NnError::invalid(format!(
            "Huber threshold {delta} must be positive"
        )));
    }
    let a = prediction.sub(target)?.abs()?;
    let q = a.minimum(&Tensor::full((), delta, a.dtype()))?;
    let l = q
        .square()?
        .mul_scalar(0.5)?
        .add(&a.sub(&q)?.mul_scalar(delta)?)?;
    Ok(l.mean_all()?)
}

/// Binary cross-entropy of logits `x` against targets `t` in `[0, 1]`, computed stably as
/// `max(x, 0) - x·t + log(1 + e^{-|x|})`.
///
/// ```
/// use retrograd::tensor::Tensor;
/// let x = Tensor::from_vec(vec![0.0f32, 100.0], [2]).unwrap();
/// let t = Tensor::from_vec(vec![1.0f32, 1.0], [2]).unwrap();
/// let l = retrograd_nn::loss::bce_with_logits(&x, &t).unwrap().item().unwrap();
/// assert!((l - 2f64.ln() / 2.0).abs() < 1e-6);
/// ```
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let l = logits
        .relu()?
        .sub(&logits.mul(targets)?)?
        .add(&logits.abs()?.neg()?.softplus()?)?;
    Ok(l.mean_all()?)
}
