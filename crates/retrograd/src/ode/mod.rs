//! Ordinary differential equations `y' = f(t, y, p)`: explicit solvers and the gradient of
//! a loss on the solution with respect to the initial state and the parameters.
//!
//! - [`solve`] and [`solve_dense`]: fixed-step RK4 or adaptive Dormand–Prince 5(4) with
//!   error control and a 4th-order dense output ([`Solver`]). Both are generic over
//!   [`Real`], so they run on `f64`, on [`Dual`](crate::Dual) (forward mode) and on
//!   [`Var`] (reverse mode, recorded on the active tape).
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
//!     fn rhs<T: Real>(&self, _t: f64, y: &[T], p: &[T], dydt: &mut [T]) {
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
use crate::{Adjoints, Real, Tape, Var};

/// A system of ODEs `y' = f(t, y, p)` with `states()` components and `params()` parameters.
///
/// [`rhs`](OdeSystem::rhs) is written once for any [`Real`] type; the solvers run it on
/// `f64`, [`Dual`](crate::Dual) and [`Var`]. The continuous adjoint needs the
/// vector–Jacobian product of the right-hand side, [`vjp`](OdeSystem::vjp); its default
/// records `rhs` on a [`VjpTape`] at each call (see there for the cost), and a system may
/// override it with a hand-written product.
///
/// ```
/// use retrograd::ode::{OdeSystem, VjpTape};
/// use retrograd::Real;
/// /// The harmonic oscillator x'' = −ω²x as a first-order system.
/// struct Oscillator;
/// impl OdeSystem for Oscillator {
///     fn states(&self) -> usize { 2 }
///     fn params(&self) -> usize { 1 }
///     fn rhs<T: Real>(&self, _t: f64, y: &[T], p: &[T], dydt: &mut [T]) {
///         dydt[0] = y[1];
///         dydt[1] = -p[0] * p[0] * y[0];
///     }
/// }
/// // wᵀ·∂f/∂y and wᵀ·∂f/∂p at y = (1, 0), ω = 2, w = (0, 1).
/// let (mut y_bar, mut p_bar) = ([0.0; 2], [0.0; 1]);
/// let mut tape = VjpTape::new();
/// Oscillator.vjp(0.0, &[1.0, 0.0], &[2.0], &[0.0, 1.0], &mut y_bar, &mut p_bar, &mut tape).unwrap();
/// assert_eq!(y_bar, [-4.0, 0.0]);
/// assert_eq!(p_bar, [-4.0]); // ∂(−ω²x)/∂ω = −2ωx
/// ```
pub trait OdeSystem {
    /// The number of state components.
    fn states(&self) -> usize;

    /// The number of parameters.
    fn params(&self) -> usize;

    /// Writes `f(t, y, p)` into `dydt` (as long as `y`).
    fn rhs<T: Real>(&self, t: f64, y: &[T], p: &[T], dydt: &mut [T]);

    /// Writes the vector–Jacobian products `y_bar = wᵀ·∂f/∂y` and `p_bar = wᵀ·∂f/∂p` at
    /// `(t, y, p)`; `y`, `w` and `y_bar` have `states()` entries, `p` and `p_bar`
    /// `params()`.
    ///
    /// The default records [`rhs`](OdeSystem::rhs) on `tape` and sweeps it once
    /// ([`VjpTape::vjp`]), and fails on lengths that disagree with the system; override it
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
        tape: &mut VjpTape,
    ) -> Result<(), Error> {
        tape.vjp(self, t, y, p, w, y_bar, p_bar)
    }
}

/// The buffers of the default [`OdeSystem::vjp`]: a tape and its adjoints, reused from call
/// to call.
///
/// Each call clears the tape (keeping its buffers), records the state and parameters as
/// inputs and `f(t, y, p)` on them, and makes one reverse sweep seeded with `w`. Once the
/// buffers have grown to one evaluation's size no call allocates, but every call records
/// the right-hand side anew: its cost is one taped evaluation plus one sweep, a small
/// multiple of evaluating `f` on `f64` (the `ode_sensitivities` example measures it). A
/// recording replayed for new values, or a hand-written [`OdeSystem::vjp`], avoids the
/// re-recording.
///
/// ```
/// use retrograd::ode::{OdeSystem, VjpTape};
/// use retrograd::Real;
/// struct Logistic;
/// impl OdeSystem for Logistic {
///     fn states(&self) -> usize { 1 }
///     fn params(&self) -> usize { 1 }
///     fn rhs<T: Real>(&self, _t: f64, y: &[T], p: &[T], dydt: &mut [T]) {
///         dydt[0] = p[0] * y[0] * (T::one() - y[0]);
///     }
/// }
/// let mut tape = VjpTape::new();
/// let (mut y_bar, mut p_bar) = ([0.0], [0.0]);
/// tape.vjp(&Logistic, 0.0, &[0.25], &[2.0], &[1.0], &mut y_bar, &mut p_bar).unwrap();
/// assert_eq!(y_bar, [2.0 * (1.0 - 2.0 * 0.25)]);
/// assert_eq!(p_bar, [0.25 * 0.75]);
/// ```
pub struct VjpTape {
    tape: Tape,
    adjoints: Adjoints,
    y: Vec<Var>,
    p: Vec<Var>,
    dydt: Vec<Var>,
    seeds: Vec<(Var, f64)>,
}

impl Default for VjpTape {
    fn default() -> Self {
        Self::new()
    }
}

impl VjpTape {
    /// Empty buffers.
    ///
    /// ```
    /// let _tape = retrograd::ode::VjpTape::new();
    /// ```
    pub fn new() -> Self {
        let tape = Tape::new();
        let adjoints = tape.adjoints(&[]);
        VjpTape {
            tape,
            adjoints,
            y: Vec::new(),
            p: Vec::new(),
            dydt: Vec::new(),
            seeds: Vec::new(),
        }
    }

    /// `y_bar = wᵀ·∂f/∂y` and `p_bar = wᵀ·∂f/∂p` of `system` at `(t, y, p)`, by recording
    /// `f` and one reverse sweep (see the type's documentation).
    ///
    /// ```
    /// use retrograd::ode::VjpTape;
    /// # use retrograd::ode::OdeSystem;
    /// # use retrograd::Real;
    /// # struct Decay;
    /// # impl OdeSystem for Decay {
    /// #     fn states(&self) -> usize { 1 }
    /// #     fn params(&self) -> usize { 1 }
    /// #     fn rhs<T: Real>(&self, _t: f64, y: &[T], p: &[T], d: &mut [T]) { d[0] = -p[0] * y[0]; }
    /// # }
    /// let mut tape = VjpTape::new();
    /// let (mut y_bar, mut p_bar) = ([0.0], [0.0]);
    /// tape.vjp(&Decay, 0.0, &[3.0], &[0.5], &[2.0], &mut y_bar, &mut p_bar).unwrap();
    /// assert_eq!((y_bar, p_bar), ([-1.0], [-6.0])); // 2·(−k), 2·(−y)
    /// let mut too_long = [0.0; 2];
    /// assert!(tape.vjp(&Decay, 0.0, &[3.0], &[0.5], &[2.0], &mut too_long, &mut p_bar).is_err());
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
            check_len(|| format!("ode::VjpTape::vjp: {what}"), expected, found)?;
        }
        let VjpTape {
            tape,
            adjoints,
            y: ys,
            p: ps,
            dydt,
            seeds,
        } = self;
        tape.clear();
        ys.clear();
        ps.clear();
        dydt.clear();
        dydt.resize(y.len(), Var::constant(0.0));
        tape.record(|rec| {
            rec.inputs_into(y, ys);
            rec.inputs_into(p, ps);
            system.rhs(t, ys, ps, dydt);
        });
        seeds.clear();
        seeds.extend(dydt.iter().copied().zip(w.iter().copied()));
        tape.adjoints_into(seeds, adjoints);
        for (out, &v) in y_bar.iter_mut().zip(ys.iter()) {
            *out = adjoints.wrt(v);
        }
        for (out, &v) in p_bar.iter_mut().zip(ps.iter()) {
            *out = adjoints.wrt(v);
        }
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
