//! Functional optimiser steps: the update of SGD and Adam as pure functions of
//! (parameters, state, gradients, hyperparameters), generic over [`Real`] so the same
//! step runs on `f64`, on [`Var`](crate::Var) (reverse-mode hypergradients) and on
//! [`Dual`](crate::Dual) (forward-mode hypergradients).

use crate::error::{check_len, Error};
use crate::Real;

/// The hyperparameters of one step for one group of parameters, differentiable: on
/// [`Var`](crate::Var) or [`Dual`](crate::Dual) they carry derivatives through the update.
///
/// ```
/// use retrograd::hyper::StepHyper;
/// let h = StepHyper { learning_rate: 0.1, weight_decay: 1e-4 };
/// assert_eq!(h.learning_rate, 0.1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepHyper<T> {
    /// The step size.
    pub learning_rate: T,
    /// L2 weight decay (added to the gradient, or decoupled for AdamW).
    pub weight_decay: T,
}

/// An optimiser written as a pure function: `step` returns the new parameters and the new
/// state and changes nothing, so a training loop built from it can be recorded and
/// differentiated with respect to the hyperparameters (Maclaurin et al. 2015).
///
/// The state of `n` parameters is `state_slots() · n` numbers, slot-major (slot `s` of
/// parameter `i` at `s·n + i`), zero at the start.
///
/// ```
/// use retrograd::hyper::{FunctionalOptimizer, Sgd, StepHyper};
/// let sgd = Sgd { momentum: 0.9, nesterov: false };
/// let hyper = StepHyper { learning_rate: 0.1, weight_decay: 0.0 };
/// let (w, b) = sgd.step(1, &[1.0_f64], &[0.0], &[1.0], hyper).unwrap();
/// let (w, _) = sgd.step(2, &w, &b, &[1.0], hyper).unwrap();
/// assert!(sgd.step(3, &w, &[], &[1.0], hyper).is_err()); // the momentum buffer is missing
/// assert!((w[0] - 0.71).abs() < 1e-12); // 1 − 0.1·1 − 0.1·1.9
/// ```
pub trait FunctionalOptimizer {
    /// Numbers of state per parameter (momentum buffers, moment estimates).
    fn state_slots(&self) -> usize;

    /// One update at step `t` (counted from 1): returns `(new parameters, new state)`.
    /// `params` and `grads` have the same length `n`, `state` has `state_slots() · n`;
    /// other lengths are an error.
    fn step<T: Real>(
        &self,
        t: usize,
        params: &[T],
        state: &[T],
        grads: &[T],
        hyper: StepHyper<T>,
    ) -> Result<(Vec<T>, Vec<T>), Error>;
}

/// Checks the lengths of a step's arguments.
fn check_lengths<T>(
    name: &str,
    slots: usize,
    params: &[T],
    state: &[T],
    grads: &[T],
) -> Result<(), Error> {
    check_len(
        || format!("hyper::{name}::step: the gradients (one per parameter)"),
        params.len(),
        grads.len(),
    )?;
    check_len(
        || format!("hyper::{name}::step: the state ({slots} per parameter)"),
        slots * params.len(),
        state.len(),
    )
}

/// Stochastic gradient descent with heavy-ball or Nesterov momentum and L2 weight decay,
/// in PyTorch's convention (dampening 0):
/// `g = ∇ + wd·w;  b = μ·b + g;  w ← w − lr·(nesterov ? g + μ·b : b)`.
/// With `momentum` 0 there is no state.
///
/// ```
/// use retrograd::hyper::{FunctionalOptimizer, Sgd, StepHyper};
/// let sgd = Sgd { momentum: 0.0, nesterov: false };
/// let h = StepHyper { learning_rate: 0.5, weight_decay: 1.0 };
/// let (w, state) = sgd.step(1, &[2.0], &[], &[1.0], h).unwrap();
/// assert_eq!((w, state.len()), (vec![2.0 - 0.5 * (1.0 + 2.0)], 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    /// Momentum factor μ (0: plain gradient descent).
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl FunctionalOptimizer for Sgd {
    fn state_slots(&self) -> usize {
        usize::from(self.momentum != 0.0)
    }

    fn step<T: Real>(
        &self,
        _t: usize,
        params: &[T],
        state: &[T],
        grads: &[T],
        hyper: StepHyper<T>,
    ) -> Result<(Vec<T>, Vec<T>), Error> {
        check_lengths("Sgd", self.state_slots(), params, state, grads)?;
        let StepHyper {
            learning_rate: lr,
            weight_decay: wd,
        } = hyper;
        let g = params.iter().zip(grads).map(|(&w, &g)| g + wd * w);
        if self.momentum == 0.0 {
            let w = params.iter().zip(g).map(|(&w, g)| w - lr * g).collect();
            return Ok((w, Vec::new()));
        }
        let mu = T::from_f64(self.momentum);
        let mut w_new = Vec::with_capacity(params.len());
        let mut b_new = Vec::with_capacity(params.len());
        for ((&w, g), &b) in params.iter().zip(g).zip(state) {
            let b = mu * b + g;
            let d = if self.nesterov { g + mu * b } else { b };
            w_new.push(w - lr * d);
            b_new.push(b);
        }
        Ok((w_new, b_new))
    }
}

/// Adam (Kingma & Ba) with bias correction, or AdamW with `decoupled` weight decay:
/// `m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  w ← w − lr·m̂ / (√(v̂ + ε_root) + ε)`
/// with `m̂ = m/(1−β1ᵗ)`, `v̂ = v/(1−β2ᵗ)`.
///
/// `eps_root` (torchopt's and optax's name) sits inside the square root; 0 gives
/// PyTorch's Adam. Where a gradient component is exactly zero throughout (the weight of
/// an always-zero pixel), `v = 0` and √v has an infinite local derivative; frameworks that
/// then compute `0·∞` need `eps_root > 0` for meta-gradients, but retrograd keeps zero
/// tangents and zero adjoints exactly zero, so the hypergradient stays finite with 0.
///
/// ```
/// use retrograd::hyper::{Adam, FunctionalOptimizer, StepHyper};
/// let adam = Adam::new();
/// let h = StepHyper { learning_rate: 0.1, weight_decay: 0.0 };
/// let (w, state) = adam.step(1, &[1.0_f64], &[0.0, 0.0], &[3.0], h).unwrap();
/// assert!((w[0] - 0.9).abs() < 1e-9); // Adam's first step moves by lr
/// assert_eq!(state.len(), 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Added to v̂ inside the square root (0 for PyTorch's Adam).
    pub eps_root: f64,
    /// AdamW: the weight decay shrinks the weights (`w ← w − lr·wd·w`) instead of being
    /// added to the gradient.
    pub decoupled: bool,
}

impl Adam {
    /// β = (0.9, 0.999), ε = 1e-8, ε_root = 0, coupled (L2) weight decay.
    ///
    /// ```
    /// assert_eq!(retrograd::hyper::Adam::new().beta2, 0.999);
    /// ```
    pub fn new() -> Self {
        Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            eps_root: 0.0,
            decoupled: false,
        }
    }
}

impl Default for Adam {
    fn default() -> Self {
        Adam::new()
    }
}

impl FunctionalOptimizer for Adam {
    fn state_slots(&self) -> usize {
        2
    }

    fn step<T: Real>(
        &self,
        t: usize,
        params: &[T],
        state: &[T],
        grads: &[T],
        hyper: StepHyper<T>,
    ) -> Result<(Vec<T>, Vec<T>), Error> {
        check_lengths("Adam", 2, params, state, grads)?;
        let StepHyper {
            learning_rate: lr,
            weight_decay: wd,
        } = hyper;
        let n = params.len();
        let (m, v) = state.split_at(n);
        let t = i32::try_from(t.max(1)).unwrap_or(i32::MAX);
        let (b1, b2) = (T::from_f64(self.beta1), T::from_f64(self.beta2));
        let (one, eps, eps_root) = (T::one(), T::from_f64(self.eps), T::from_f64(self.eps_root));
        let c1 = T::from_f64(1.0 - self.beta1.powi(t));
        let c2 = T::from_f64(1.0 - self.beta2.powi(t));
        let mut new = vec![T::zero(); 3 * n];
        let (w_new, mv_new) = new.split_at_mut(n);
        let (m_new, v_new) = mv_new.split_at_mut(n);
        for i in 0..n {
            let (w, g) = (params[i], grads[i]);
            let (w, g) = if self.decoupled {
                (w - lr * wd * w, g)
            } else {
                (w, g + wd * w)
            };
            m_new[i] = b1 * m[i] + (one - b1) * g;
            v_new[i] = b2 * v[i] + (one - b2) * g * g;
            w_new[i] = w - lr * (m_new[i] / c1) / ((v_new[i] / c2 + eps_root).sqrt() + eps);
        }
        let state = new.split_off(n);
        Ok((new, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{close, finite_difference, Tolerance};

    fn h(lr: f64, wd: f64) -> StepHyper<f64> {
        StepHyper {
            learning_rate: lr,
            weight_decay: wd,
        }
    }

    #[test]
    fn nesterov_sgd_matches_its_formula() {
        let sgd = Sgd {
            momentum: 0.5,
            nesterov: true,
        };
        // g = 1 + 0.1·2 = 1.2; b = 0.5·0.4 + 1.2 = 1.4; w = 2 − 0.1·(1.2 + 0.7)
        let (w, b) = sgd.step(3, &[2.0], &[0.4], &[1.0], h(0.1, 0.1)).unwrap();
        assert!((b[0] - 1.4).abs() < 1e-15);
        assert!((w[0] - (2.0 - 0.1 * 1.9)).abs() < 1e-15);
    }

    #[test]
    fn adamw_decays_before_the_adam_step() {
        let adam = Adam {
            decoupled: true,
            ..Adam::new()
        };
        let (w, _) = adam
            .step(1, &[1.0], &[0.0, 0.0], &[2.0], h(0.1, 0.5))
            .unwrap();
        assert!((w[0] - 0.85).abs() < 1e-8);
    }

    #[test]
    fn a_zero_gradient_gives_finite_derivatives_without_eps_root() {
        // Three Adam steps of a weight whose gradient is exactly zero: v stays 0, where √v
        // has an infinite local derivative; both modes give the derivative 0, not NaN.
        fn run<T: Real>(lr: T) -> T {
            let adam = Adam::new();
            let hyper = StepHyper {
                learning_rate: lr,
                weight_decay: T::zero(),
            };
            let (mut w, mut s) = (vec![T::one()], vec![T::zero(); 2]);
            for t in 1..=3 {
                (w, s) = adam.step(t, &w, &s, &[T::zero()], hyper).unwrap();
            }
            w[0] + s[1]
        }
        assert_eq!(crate::grad(|x| run(x[0]), &[0.1]), vec![0.0]);
        assert_eq!(run(crate::Dual::<f64>::variable(0.1, 0)).derivative(), 0.0);
    }

    fn all<T: Real, O: FunctionalOptimizer>(o: &O, x: &[T]) -> Vec<T> {
        let hyper = StepHyper {
            learning_rate: x[0],
            weight_decay: x[1],
        };
        let n = 2;
        let s = o.state_slots() * n;
        let (w, st) = o.step(3, &x[2..4], &x[4..4 + s], &x[9..11], hyper).unwrap();
        w.into_iter().chain(st).collect()
    }

    /// The Jacobian of (new params, new state) in (lr, wd, w, state, g) on `Var` against
    /// central differences.
    fn check_jacobian<O: FunctionalOptimizer>(o: &O, x: &[f64]) -> Result<(), String> {
        let j = crate::jacobian(|x| all(o, x), x).unwrap();
        for (k, row) in j.iter().enumerate() {
            let fd = finite_difference(|x| all(o, x)[k], x);
            for (i, (&ad, &fd)) in row.iter().zip(&fd).enumerate() {
                if !close(ad, fd, Tolerance::default()) {
                    return Err(format!("[{k}][{i}]: {ad} vs {fd}"));
                }
            }
        }
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        #[test]
        fn steps_differentiate_like_finite_differences(
            lr in 0.001f64..0.5,
            wd in 0.0f64..0.1,
            w in proptest::collection::vec(-1.0f64..1.0, 2),
            m in proptest::collection::vec(-1.0f64..1.0, 2),
            v in proptest::collection::vec(0.01f64..1.0, 2),
            g in proptest::collection::vec(-1.0f64..1.0, 2),
            momentum in 0.0f64..0.99,
            nesterov in proptest::bool::ANY,
            decoupled in proptest::bool::ANY,
        ) {
            // x = (lr, wd, w₀, w₁, slot 0 (2), slot 1 (2), unused, g₀, g₁)
            let x: Vec<f64> = [lr, wd].iter().chain(&w).chain(&m).chain(&v).chain(&[0.0]).chain(&g).copied().collect();
            let sgd = Sgd { momentum, nesterov };
            proptest::prop_assert_eq!(check_jacobian(&sgd, &x), Ok(()));
            let adam = Adam { decoupled, ..Adam::new() };
            proptest::prop_assert_eq!(check_jacobian(&adam, &x), Ok(()));
        }
    }
}
