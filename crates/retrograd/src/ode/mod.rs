//! Ordinary differential equations `y' = f(t, y, p)`: explicit solvers and the gradient of
//! a loss on the solution with respect to the initial state and the parameters.
//!
//! - [`solve`] and [`solve_dense`]: fixed-step RK4 or adaptive Dormand–Prince 5(4) with
//!   error control and a 4th-order dense output ([`Solver`]). Both are generic over
//!   [`Real`], so they run on `f64`, on [`Dual`](crate::Dual) (forward mode) and on
//!   [`Var`](crate::Var) (reverse mode, recorded on the active tape).
//! - [`gradient`]: `∂L/∂y₀` and `∂L/∂p` of a loss on the states at given times, by
//!   forward sensitivities, by the discrete adjoint (reverse mode through the solver's
//!   steps with binomial [`checkpoint`](crate::checkpoint)ing) or by the continuous adjoint
//!   (the adjoint ODE integrated backwards, the forward trajectory interpolated from
//!   checkpoints) — see [`Sensitivity`].
//!
//! The step sizes an adaptive solver chooses are treated as constants of the
//! differentiation (they depend on the inputs only through the error control): forward
//! sensitivities and the discrete adjoint differentiate the same sequence of steps and agree
//! to rounding; the continuous adjoint agrees with them to the solver's tolerance.
//!
//! For readers of other libraries: the discrete adjoint is diffrax's
//! `RecursiveCheckpointAdjoint` (reverse mode through the solver, binomial checkpoints); the
//! continuous adjoint is SciMLSensitivity's `InterpolatingAdjoint` with checkpointing, not
//! the backsolve of torchdiffeq's `odeint_adjoint` and diffrax's `BacksolveAdjoint` (which
//! solves the state backwards too, and is unstable for dissipative systems); forward
//! sensitivities are SciMLSensitivity's `ForwardDiffSensitivity`.
//!
//! ```
//! use retrograd::ode::{gradient, OdeSystem, Sensitivity, Solver};
//! use retrograd::{Real, Var};
//!
//! /// Exponential decay y' = −k·y.
//! struct Decay;
//! impl OdeSystem for Decay {
//!     fn states(&self) -> usize { 1 }
//!     fn params(&self) -> usize { 1 }
//!     fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], dydt: &mut [T]) {
//!         dydt[0] = -p[0] * y[0];
//!     }
//! }
//! // L = y(2) = y₀·e^(−2k): ∂L/∂k = −2·y₀·e^(−2k).
//! let loss = |ys: &[Vec<Var>]| ys[1][0];
//! let solver = Solver::dopri5(1e-10, 1e-12);
//! for method in [
//!     Sensitivity::Forward,
//!     Sensitivity::DiscreteAdjoint { snapshots: 4 },
//!     Sensitivity::ContinuousAdjoint { checkpoint_every: 8 },
//! ] {
//!     let g = gradient(&Decay, &solver, &[3.0], &[0.5], &[0.0, 2.0], loss, method).unwrap();
//!     let exact = -2.0 * 3.0 * (-1.0_f64).exp();
//!     assert!((g.param_adjoint[0] - exact).abs() < 1e-8, "{method:?}");
//! }
//! ```

mod dense;
mod sensitivity;
mod solver;

pub use dense::{solve_dense, DenseSolution};
pub use sensitivity::{gradient, OdeGradient, Sensitivity};
pub use solver::{solve, Solution, SolveStats, Solver};

use crate::error::{check_len, Error};
use crate::replay::{self, Recording, Traced, Workspace};
use crate::Real;
use num_traits::Zero;

/// A system of ODEs `y' = f(t, y, p)` with `states()` components and `params()` parameters.
///
/// [`rhs`](OdeSystem::rhs) is written once for any [`Real`] type (time included, so that a
/// recording of it can be replayed at other times); the solvers run it on `f64`,
/// [`Dual`](crate::Dual) and [`Var`](crate::Var). The continuous adjoint needs the
/// vector–Jacobian product of the right-hand side, [`vjp`](OdeSystem::vjp); its default
/// replays one recording of `rhs` kept in a [`VjpReplay`] (see there for the cost), and a
/// system may override it with a hand-written product.
///
/// ```
/// use retrograd::ode::{OdeSystem, VjpReplay};
/// use retrograd::Real;
/// /// The harmonic oscillator x'' = −ω²x as a first-order system.
/// struct Oscillator;
/// impl OdeSystem for Oscillator {
///     fn states(&self) -> usize { 2 }
///     fn params(&self) -> usize { 1 }
///     fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], dydt: &mut [T]) {
///         dydt[0] = y[1];
///         dydt[1] = -p[0] * p[0] * y[0];
///     }
/// }
/// // wᵀ·∂f/∂y and wᵀ·∂f/∂p at y = (1, 0), ω = 2, w = (0, 1).
/// let (mut y_bar, mut p_bar) = ([0.0; 2], [0.0; 1]);
/// let mut replay = VjpReplay::new();
/// Oscillator.vjp(0.0, &[1.0, 0.0], &[2.0], &[0.0, 1.0], &mut y_bar, &mut p_bar, &mut replay).unwrap();
/// assert_eq!(y_bar, [-4.0, 0.0]);
/// assert_eq!(p_bar, [-4.0]); // ∂(−ω²x)/∂ω = −2ωx
/// ```
pub trait OdeSystem {
    /// The number of state components.
    fn states(&self) -> usize;

    /// The number of parameters.
    fn params(&self) -> usize;

    /// Writes `f(t, y, p)` into `dydt` (as long as `y`).
    fn rhs<T: Real>(&self, t: T, y: &[T], p: &[T], dydt: &mut [T]);

    /// Writes the vector–Jacobian products `y_bar = wᵀ·∂f/∂y` and `p_bar = wᵀ·∂f/∂p` at
    /// `(t, y, p)`; `y`, `w` and `y_bar` have `states()` entries, `p` and `p_bar`
    /// `params()`.
    ///
    /// The default replays the recording of [`rhs`](OdeSystem::rhs) kept in `replay`
    /// ([`VjpReplay::vjp`]), and fails on lengths that disagree with the system; override it
    /// with a hand-written product where one is cheaper.
    #[allow(clippy::too_many_arguments)]
    fn vjp(
        &self,
        t: f64,
        y: &[f64],
        p: &[f64],
        w: &[f64],
        y_bar: &mut [f64],
        p_bar: &mut [f64],
        replay: &mut VjpReplay,
    ) -> Result<(), Error> {
        replay.vjp(self, t, y, p, w, y_bar, p_bar)
    }
}

/// The default [`OdeSystem::vjp`]: the right-hand side recorded once for
/// [`replay`], then replayed at each call.
///
/// The first call records `f(t, y, p)` with `t`, the state and the parameters as inputs;
/// later calls replay that recording at the new `(t, y, p)` — values forward, one reverse
/// sweep seeded with `w` — without running `rhs` again, and allocate nothing. Where `rhs`
/// branches on a value (a comparison, `abs` written as an `if`, ...) and a call falls on
/// the other side, the replay notices it and the right-hand side is recorded again there
/// ([`recordings`](VjpReplay::recordings) counts them). The `ode_sensitivities` example
/// measures the cost against the right-hand side itself; a hand-written
/// [`OdeSystem::vjp`] is cheaper still.
///
/// ```
/// use retrograd::ode::{OdeSystem, VjpReplay};
/// use retrograd::Real;
/// struct Logistic;
/// impl OdeSystem for Logistic {
///     fn states(&self) -> usize { 1 }
///     fn params(&self) -> usize { 1 }
///     fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], dydt: &mut [T]) {
///         dydt[0] = p[0] * y[0] * (T::one() - y[0]);
///     }
/// }
/// let mut vjp = VjpReplay::new();
/// let (mut y_bar, mut p_bar) = ([0.0], [0.0]);
/// for y in [0.25, 0.5, 0.75] {
///     vjp.vjp(&Logistic, 0.0, &[y], &[2.0], &[1.0], &mut y_bar, &mut p_bar).unwrap();
///     assert_eq!(y_bar, [2.0 * (1.0 - 2.0 * y)]);
///     assert_eq!(p_bar, [y * (1.0 - y)]);
/// }
/// assert_eq!(vjp.recordings(), 1);
/// ```
pub struct VjpReplay {
    recording: Option<Recording>,
    recordings: usize,
    workspace: Workspace,
    /// `(t, y, p)` as the recording's inputs.
    inputs: Vec<f64>,
    /// The gradient with respect to `(t, y, p)`.
    grad: Vec<f64>,
}

impl Default for VjpReplay {
    fn default() -> Self {
        Self::new()
    }
}

impl VjpReplay {
    /// Nothing recorded yet: the first call records.
    ///
    /// ```
    /// assert_eq!(retrograd::ode::VjpReplay::new().recordings(), 0);
    /// ```
    pub fn new() -> Self {
        VjpReplay {
            recording: None,
            recordings: 0,
            workspace: Workspace::new(),
            inputs: Vec::new(),
            grad: Vec::new(),
        }
    }

    /// How many times the right-hand side has been recorded (once, unless it branches on
    /// values and calls fell on different sides).
    ///
    /// ```
    /// # use retrograd::ode::{OdeSystem, VjpReplay};
    /// # use retrograd::Real;
    /// # struct Decay;
    /// # impl OdeSystem for Decay {
    /// #     fn states(&self) -> usize { 1 }
    /// #     fn params(&self) -> usize { 1 }
    /// #     fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], d: &mut [T]) { d[0] = -p[0] * y[0]; }
    /// # }
    /// let mut vjp = VjpReplay::new();
    /// let (mut y_bar, mut p_bar) = ([0.0], [0.0]);
    /// vjp.vjp(&Decay, 0.0, &[1.0], &[0.5], &[1.0], &mut y_bar, &mut p_bar).unwrap();
    /// vjp.vjp(&Decay, 0.1, &[0.9], &[0.5], &[1.0], &mut y_bar, &mut p_bar).unwrap();
    /// assert_eq!(vjp.recordings(), 1);
    /// ```
    pub fn recordings(&self) -> usize {
        self.recordings
    }

    /// `y_bar = wᵀ·∂f/∂y` and `p_bar = wᵀ·∂f/∂p` of `system` at `(t, y, p)`, by replaying
    /// the recorded right-hand side (see the type's documentation).
    ///
    /// ```
    /// use retrograd::ode::VjpReplay;
    /// # use retrograd::ode::OdeSystem;
    /// # use retrograd::Real;
    /// # struct Decay;
    /// # impl OdeSystem for Decay {
    /// #     fn states(&self) -> usize { 1 }
    /// #     fn params(&self) -> usize { 1 }
    /// #     fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], d: &mut [T]) { d[0] = -p[0] * y[0]; }
    /// # }
    /// let mut vjp = VjpReplay::new();
    /// let (mut y_bar, mut p_bar) = ([0.0], [0.0]);
    /// vjp.vjp(&Decay, 0.0, &[3.0], &[0.5], &[2.0], &mut y_bar, &mut p_bar).unwrap();
    /// assert_eq!((y_bar, p_bar), ([-1.0], [-6.0])); // 2·(−k), 2·(−y)
    /// let mut too_long = [0.0; 2];
    /// assert!(vjp.vjp(&Decay, 0.0, &[3.0], &[0.5], &[2.0], &mut too_long, &mut p_bar).is_err());
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn vjp<S: OdeSystem + ?Sized>(
        &mut self,
        system: &S,
        t: f64,
        y: &[f64],
        p: &[f64],
        w: &[f64],
        y_bar: &mut [f64],
        p_bar: &mut [f64],
    ) -> Result<(), Error> {
        let (n, np) = (system.states(), system.params());
        for (what, expected, found) in [
            ("the state", n, y.len()),
            ("the parameters", np, p.len()),
            ("the cotangent w", n, w.len()),
            ("y_bar", n, y_bar.len()),
            ("p_bar", np, p_bar.len()),
        ] {
            check_len(|| format!("ode::VjpReplay::vjp: {what}"), expected, found)?;
        }
        self.inputs.clear();
        self.inputs.push(t);
        self.inputs.extend_from_slice(y);
        self.inputs.extend_from_slice(p);
        self.grad.resize(1 + n + np, 0.0);
        let replayed = match &self.recording {
            Some(rec) => rec.vjp_with(&mut self.workspace, &self.inputs, w, &mut self.grad),
            None => Err(Error::GuardChanged(String::new())),
        };
        match replayed {
            Ok(()) => {}
            Err(Error::GuardChanged(_)) => {
                let rec = replay::record_many(&self.inputs, |x| {
                    let mut dydt = vec![Traced::zero(); n];
                    system.rhs(x[0], &x[1..1 + n], &x[1 + n..], &mut dydt);
                    dydt
                });
                self.recordings += 1;
                // Recorded at these inputs, so its guards hold here.
                rec.vjp_with(&mut self.workspace, &self.inputs, w, &mut self.grad)?;
                self.recording = Some(rec);
            }
            Err(e) => return Err(e),
        }
        y_bar.copy_from_slice(&self.grad[1..1 + n]);
        p_bar.copy_from_slice(&self.grad[1 + n..]);
        Ok(())
    }
}

/// Fails unless every value is finite, naming `what` and the first offending index.
fn check_finite<T: Real>(values: &[T], what: impl FnOnce() -> String) -> Result<(), Error> {
    match values.iter().position(|v| !v.value().is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite(format!(
            "{} (component {i} is {})",
            what(),
            values[i].value()
        ))),
    }
}
