//! Hypergradients of an unrolled training run: the validation loss after `K` optimiser
//! steps, differentiated with respect to per-group learning rates and weight decays in
//! reverse mode with binomial checkpointing (memory bounded by a budget of stored states,
//! not by `K`) or in forward mode (memory independent of `K`).

use super::optim::{FunctionalOptimizer, StepHyper};
use crate::checkpoint::{self, Step};
use crate::error::{check_len, Error};
use crate::{Dual, Real};

/// The inner problem of a bilevel problem: a training loss, known through its gradient,
/// and a validation loss, both written once for any [`Real`] type.
///
/// The training gradient must be computed with `T`'s arithmetic (by hand, as in the
/// example, or by any generic code) so the hypergradient sees how it depends on the
/// parameters; `t` (from 1) lets it pick the minibatch of step `t`.
///
/// ```
/// use retrograd::hyper::InnerProblem;
/// use retrograd::Real;
/// /// Training loss ½(w − 3)², validation loss (w − 2)².
/// struct Quadratic;
/// impl InnerProblem for Quadratic {
///     fn training_gradient<T: Real>(&self, _t: usize, w: &[T]) -> Vec<T> {
///         vec![w[0] - T::from_f64(3.0)]
///     }
///     fn validation_loss<T: Real>(&self, w: &[T]) -> T {
///         (w[0] - T::from_f64(2.0)).powi(2)
///     }
/// }
/// assert_eq!(Quadratic.training_gradient(1, &[1.0]), vec![-2.0]);
/// ```
pub trait InnerProblem {
    /// The gradient of the training loss (without weight decay) used by step `t`.
    fn training_gradient<T: Real>(&self, t: usize, params: &[T]) -> Vec<T>;
    /// The loss whose hypergradient is wanted, at the parameters after the last step.
    fn validation_loss<T: Real>(&self, params: &[T]) -> T;
}

/// `K` steps of an optimiser on an [`InnerProblem`], with parameters in contiguous groups
/// (layers) that each have their own learning rate and weight decay.
///
/// The hyperparameter vector is on a log scale so every value is positive:
/// `[ln lr₀, ln wd₀, ln lr₁, ln wd₁, …]`, two entries per group.
///
/// ```
/// use retrograd::hyper::{InnerProblem, Sgd, Unroll};
/// use retrograd::Real;
/// struct Quadratic;
/// impl InnerProblem for Quadratic {
///     fn training_gradient<T: Real>(&self, _t: usize, w: &[T]) -> Vec<T> {
///         vec![w[0] - T::from_f64(3.0)]
///     }
///     fn validation_loss<T: Real>(&self, w: &[T]) -> T {
///         w[0]
///     }
/// }
/// let sgd = Sgd { momentum: 0.0, nesterov: false };
/// let unroll = Unroll::new(&Quadratic, sgd, &[1], 10).unwrap();
/// // Without weight decay w_K = 3 − 3(1 − lr)^K from w₀ = 0.
/// let hyper = [0.1_f64.ln(), -30.0];
/// let g = unroll.hypergradient(&[0.0], &hyper, 4).unwrap();
/// let expected = 3.0 * 10.0 * 0.9_f64.powi(9) * 0.1; // ∂w_K/∂ln lr
/// assert!((g.hypergradient[0] - expected).abs() < 1e-9);
/// let (_, forward) = unroll.hypergradient_forward::<2>(&[0.0], &hyper).unwrap();
/// assert!((forward[0] - expected).abs() < 1e-9);
/// ```
#[derive(Clone, Debug)]
pub struct Unroll<'a, P, O> {
    problem: &'a P,
    optimizer: O,
    group_sizes: Vec<usize>,
    num_params: usize,
    steps: usize,
}

/// The result of [`Unroll::hypergradient`].
///
/// ```
/// # use retrograd::hyper::{InnerProblem, Sgd, Unroll};
/// # use retrograd::Real;
/// # struct Q;
/// # impl InnerProblem for Q {
/// #     fn training_gradient<T: Real>(&self, _t: usize, w: &[T]) -> Vec<T> { vec![w[0]] }
/// #     fn validation_loss<T: Real>(&self, w: &[T]) -> T { w[0] * w[0] }
/// # }
/// let unroll = Unroll::new(&Q, Sgd { momentum: 0.0, nesterov: false }, &[1], 3).unwrap();
/// let g = unroll.hypergradient(&[1.0], &[0.5_f64.ln(), 0.1_f64.ln()], 2).unwrap();
/// assert!((g.params[0] - 0.45_f64.powi(3)).abs() < 1e-15); // w ← (1 − 0.5·1.1)·w
/// assert_eq!(g.stats.taped_steps, 3);
/// assert!(g.stats.max_snapshots <= 2);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Hypergradient {
    /// The validation loss after the last step.
    pub value: f64,
    /// Its derivative with respect to the hyperparameter vector.
    pub hypergradient: Vec<f64>,
    /// Its derivative with respect to the initial parameters.
    pub init_gradient: Vec<f64>,
    /// The parameters after the last step.
    pub params: Vec<f64>,
    /// What the checkpointing schedule did: steps recomputed, states held, and the largest
    /// tape (one step's, independent of the number of steps).
    pub stats: checkpoint::Stats,
}

impl<'a, P: InnerProblem, O: FunctionalOptimizer> Unroll<'a, P, O> {
    /// `steps` steps of `optimizer` on `problem`, whose parameters form contiguous groups of
    /// the given sizes. Fails if there is no group or a group is empty.
    ///
    /// ```
    /// # use retrograd::hyper::{InnerProblem, Sgd, Unroll};
    /// # use retrograd::Real;
    /// # struct Q;
    /// # impl InnerProblem for Q {
    /// #     fn training_gradient<T: Real>(&self, _t: usize, w: &[T]) -> Vec<T> { w.to_vec() }
    /// #     fn validation_loss<T: Real>(&self, w: &[T]) -> T { w[0] }
    /// # }
    /// let sgd = Sgd { momentum: 0.9, nesterov: false };
    /// let unroll = Unroll::new(&Q, sgd, &[3, 2], 10).unwrap();
    /// assert_eq!(unroll.num_hyperparameters(), 4);
    /// assert!(Unroll::new(&Q, sgd, &[3, 0], 10).is_err());
    /// ```
    pub fn new(
        problem: &'a P,
        optimizer: O,
        group_sizes: &[usize],
        steps: usize,
    ) -> Result<Self, Error> {
        if group_sizes.is_empty() || group_sizes.contains(&0) {
            return Err(Error::Unsupported(format!(
                "hyper::Unroll: parameter groups must be non-empty, found sizes {group_sizes:?}"
            )));
        }
        Ok(Unroll {
            problem,
            optimizer,
            group_sizes: group_sizes.to_vec(),
            num_params: group_sizes.iter().sum(),
            steps,
        })
    }

    /// Two per group: log learning rate and log weight decay.
    ///
    /// ```
    /// # use retrograd::hyper::{InnerProblem, Adam, Unroll};
    /// # use retrograd::Real;
    /// # struct Q;
    /// # impl InnerProblem for Q {
    /// #     fn training_gradient<T: Real>(&self, _t: usize, w: &[T]) -> Vec<T> { w.to_vec() }
    /// #     fn validation_loss<T: Real>(&self, w: &[T]) -> T { w[0] }
    /// # }
    /// assert_eq!(Unroll::new(&Q, Adam::new(), &[5], 1).unwrap().num_hyperparameters(), 2);
    /// ```
    pub fn num_hyperparameters(&self) -> usize {
        2 * self.group_sizes.len()
    }

    /// The validation loss after the run, on `f64` (for finite differences and for
    /// evaluating a setting). Fails on wrong lengths, non-finite inputs or a non-finite
    /// loss (a diverging run).
    ///
    /// ```
    /// # use retrograd::hyper::{InnerProblem, Sgd, Unroll};
    /// # use retrograd::Real;
    /// # struct Q;
    /// # impl InnerProblem for Q {
    /// #     fn training_gradient<T: Real>(&self, _t: usize, w: &[T]) -> Vec<T> { w.to_vec() }
    /// #     fn validation_loss<T: Real>(&self, w: &[T]) -> T { w[0] }
    /// # }
    /// let unroll = Unroll::new(&Q, Sgd { momentum: 0.0, nesterov: false }, &[1], 2).unwrap();
    /// let loss = unroll.validation_loss(&[1.0], &[0.5_f64.ln(), -40.0]).unwrap();
    /// assert!((loss - 0.25).abs() < 1e-12);
    /// // lr = e¹⁰ multiplies w by (1 − e¹⁰)² ≈ 5·10⁸ in two steps: 10³⁰⁰ overflows.
    /// assert!(unroll.validation_loss(&[1e300], &[10.0, -40.0]).is_err());
    /// assert!(unroll.validation_loss(&[f64::NAN], &[0.0, 0.0]).is_err());
    /// ```
    pub fn validation_loss(&self, init: &[f64], hyper: &[f64]) -> Result<f64, Error> {
        self.check_inputs(init, hyper)?;
        let mut x = self.initial_state(init);
        for k in 0..self.steps {
            x = self.step(k, &x, hyper);
        }
        finite(
            self.problem.validation_loss(&x[..self.num_params]),
            self.steps,
        )
    }

    /// The hypergradient in reverse mode: the run is differentiated by
    /// [`checkpoint::gradient`] keeping at most `snapshots` states (parameters and optimiser
    /// state), so memory does not grow with the number of steps.
    ///
    /// See the examples of [`Unroll`] and [`Hypergradient`].
    pub fn hypergradient(
        &self,
        init: &[f64],
        hyper: &[f64],
        snapshots: usize,
    ) -> Result<Hypergradient, Error> {
        self.check_inputs(init, hyper)?;
        let n = self.num_params;
        let x0 = self.initial_state(init);
        let run = checkpoint::gradient(self, &x0, hyper, self.steps, snapshots, |x| {
            self.problem.validation_loss(&x[..n])
        })?;
        let value = finite(run.value, self.steps)?;
        if let Some(i) = run.param_adjoint.iter().position(|g| !g.is_finite()) {
            return Err(Error::NonFinite(format!(
                "hyper::Unroll::hypergradient: the derivative with respect to hyperparameter {i} \
                 (a zero second moment under Adam with eps_root 0?)"
            )));
        }
        let mut state = run.state;
        state.truncate(n);
        let mut init_gradient = run.state_adjoint;
        init_gradient.truncate(n);
        Ok(Hypergradient {
            value,
            hypergradient: run.param_adjoint,
            init_gradient,
            params: state,
            stats: run.stats,
        })
    }

    /// The hypergradient in forward mode: the run is repeated on [`Dual`] numbers carrying
    /// `N` tangent directions at a time (⌈hyperparameters / N⌉ runs), with memory
    /// independent of the number of steps. Returns `(validation loss, hypergradient)`.
    ///
    /// See the example of [`Unroll`].
    pub fn hypergradient_forward<const N: usize>(
        &self,
        init: &[f64],
        hyper: &[f64],
    ) -> Result<(f64, Vec<f64>), Error> {
        self.check_inputs(init, hyper)?;
        if N == 0 {
            return Err(Error::Unsupported(
                "hyper::Unroll::hypergradient_forward: N = 0 tangent directions".into(),
            ));
        }
        let x0: Vec<Dual<f64, N>> = self
            .initial_state(init)
            .into_iter()
            .map(Dual::constant)
            .collect();
        let mut value = f64::NAN;
        let mut gradient = vec![0.0; hyper.len()];
        for first in (0..hyper.len()).step_by(N) {
            let p: Vec<Dual<f64, N>> = hyper
                .iter()
                .enumerate()
                .map(|(i, &h)| {
                    let mut tangent = [0.0; N];
                    if (first..first + N).contains(&i) {
                        tangent[i - first] = 1.0;
                    }
                    Dual::new(h, tangent)
                })
                .collect();
            let mut x = x0.clone();
            for k in 0..self.steps {
                x = self.step(k, &x, &p);
            }
            let (v, tangent) = self
                .problem
                .validation_loss(&x[..self.num_params])
                .into_parts();
            value = finite(v, self.steps)?;
            for (g, t) in gradient[first..].iter_mut().zip(tangent) {
                *g = t;
            }
        }
        if let Some(i) = gradient.iter().position(|g| !g.is_finite()) {
            return Err(Error::NonFinite(format!(
                "hyper::Unroll::hypergradient_forward: the derivative with respect to hyperparameter {i}"
            )));
        }
        Ok((value, gradient))
    }

    fn check_inputs(&self, init: &[f64], hyper: &[f64]) -> Result<(), Error> {
        check_len(
            || "hyper::Unroll: the initial parameters".into(),
            self.num_params,
            init.len(),
        )?;
        check_len(
            || "hyper::Unroll: the hyperparameters (ln lr, ln wd per group)".into(),
            self.num_hyperparameters(),
            hyper.len(),
        )?;
        if let Some(i) = init.iter().chain(hyper).position(|v| !v.is_finite()) {
            let what = if i < init.len() {
                format!("initial parameter {i}")
            } else {
                format!("hyperparameter {}", i - init.len())
            };
            return Err(Error::NonFinite(format!("hyper::Unroll: {what}")));
        }
        check_len(
            || "hyper::Unroll: the training gradient (one value per parameter)".into(),
            self.num_params,
            self.problem.training_gradient(1, init).len(),
        )
    }

    fn initial_state(&self, init: &[f64]) -> Vec<f64> {
        let mut x = init.to_vec();
        x.resize(self.num_params * (1 + self.optimizer.state_slots()), 0.0);
        x
    }
}

fn finite(value: f64, steps: usize) -> Result<f64, Error> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::NonFinite(format!(
            "hyper::Unroll: the validation loss after {steps} steps is {value} (the run diverged?)"
        )))
    }
}

/// One optimiser step on all groups: the state is `[params, slot 0, slot 1, …]`.
impl<P: InnerProblem, O: FunctionalOptimizer> Step for Unroll<'_, P, O> {
    fn step<T: Real>(&self, k: usize, x: &[T], hyper: &[T]) -> Vec<T> {
        let n = self.num_params;
        let slots = self.optimizer.state_slots();
        let t = k + 1;
        let grads = self.problem.training_gradient(t, &x[..n]);
        let mut next = vec![T::zero(); x.len()];
        let mut start = 0;
        let mut group_state = Vec::new();
        for (g, &size) in self.group_sizes.iter().enumerate() {
            let range = start..start + size;
            group_state.clear();
            for s in 0..slots {
                group_state.extend_from_slice(&x[n * (1 + s) + range.start..][..size]);
            }
            let step_hyper = StepHyper {
                learning_rate: hyper[2 * g].exp(),
                weight_decay: hyper[2 * g + 1].exp(),
            };
            let (w, state) = self
                .optimizer
                .step(
                    t,
                    &x[range.clone()],
                    &group_state,
                    &grads[range.clone()],
                    step_hyper,
                )
                .expect("the lengths are fixed by the groups and checked against the gradient");
            next[range.clone()].copy_from_slice(&w);
            for s in 0..slots {
                next[n * (1 + s) + range.start..][..size]
                    .copy_from_slice(&state[s * size..][..size]);
            }
            start += size;
        }
        next
    }
}
