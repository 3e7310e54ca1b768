//! Dense output: each step's interpolant in Hairer's form, the solution between two times
//! as a continuous function, and the replay of recorded steps that the continuous adjoint
//! interpolates.

use super::solver::{solve_with, step, Accepted, SolveStats, Solver, Stages};
use super::OdeSystem;
use crate::error::Error;
use crate::Real;

/// The solution between two times as a continuous function: each step's dense output
/// (see [`solve_dense`]).
///
/// ```
/// use retrograd::ode::{solve_dense, Solver};
/// # use retrograd::ode::OdeSystem;
/// # use retrograd::Real;
/// # struct Decay;
/// # impl OdeSystem for Decay {
/// #     fn states(&self) -> usize { 1 }
/// #     fn params(&self) -> usize { 1 }
/// #     fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], d: &mut [T]) { d[0] = -p[0] * y[0]; }
/// # }
/// let d = solve_dense(&Decay, &Solver::dopri5(1e-8, 1e-10), &[1.0], &[0.5], 0.0, 4.0).unwrap();
/// assert!((d.evaluate(2.5).unwrap()[0] - (-1.25_f64).exp()).abs() < 1e-7);
/// assert!(d.stats.steps > 1);
/// ```
#[derive(Clone, Debug)]
pub struct DenseSolution<T> {
    steps: Vec<DenseStep<T>>,
    /// What the solver did.
    pub stats: SolveStats,
}

/// Solves from `y(t0) = y0` to `t1` and keeps the dense output of every step: 4th order for
/// Dormand–Prince (Hairer's continuous extension, no extra evaluation), the cubic Hermite
/// interpolant of the step's end values and slopes for RK4. Fails as [`solve`](super::solve) does.
///
/// ```
/// use retrograd::ode::{solve_dense, OdeSystem, Solver};
/// use retrograd::Real;
/// struct Rotation;
/// impl OdeSystem for Rotation {
///     fn states(&self) -> usize { 2 }
///     fn params(&self) -> usize { 0 }
///     fn rhs<T: Real>(&self, _t: T, y: &[T], _p: &[T], dydt: &mut [T]) {
///         dydt[0] = -y[1];
///         dydt[1] = y[0];
///     }
/// }
/// let d = solve_dense(&Rotation, &Solver::dopri5(1e-10, 1e-12), &[1.0, 0.0], &[], 0.0, 3.0).unwrap();
/// let y = d.evaluate(1.234).unwrap();
/// assert!((y[0] - 1.234_f64.cos()).abs() < 1e-8);
/// assert!(d.evaluate(3.5).is_err());
/// ```
pub fn solve_dense<S: OdeSystem + ?Sized, T: Real>(
    system: &S,
    solver: &Solver,
    y0: &[T],
    p: &[T],
    t0: f64,
    t1: f64,
) -> Result<DenseSolution<T>, Error> {
    let mut steps = Vec::new();
    let solution = solve_with(system, solver, y0, p, &[t0, t1], &mut |_, step| {
        steps.push(step.dense(solver))
    })?;
    Ok(DenseSolution {
        steps,
        stats: solution.stats,
    })
}

impl<T: Real> DenseSolution<T> {
    /// The state at time `t`, which must lie between the initial and the final time.
    ///
    /// ```
    /// use retrograd::ode::{solve_dense, Solver};
    /// # use retrograd::ode::OdeSystem;
    /// # use retrograd::Real;
    /// # struct Decay;
    /// # impl OdeSystem for Decay {
    /// #     fn states(&self) -> usize { 1 }
    /// #     fn params(&self) -> usize { 1 }
    /// #     fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], d: &mut [T]) { d[0] = -p[0] * y[0]; }
    /// # }
    /// let d = solve_dense(&Decay, &Solver::rk4(0.01), &[2.0], &[1.0], 1.0, 2.0).unwrap();
    /// assert!((d.evaluate(1.5).unwrap()[0] - 2.0 * (-0.5_f64).exp()).abs() < 1e-9);
    /// assert!(d.evaluate(0.5).is_err()); // before the initial time
    /// ```
    pub fn evaluate(&self, t: f64) -> Result<Vec<T>, Error> {
        let (first, last) = (&self.steps[0], &self.steps[self.steps.len() - 1]);
        let (t0, t1) = (first.t, last.t + last.h);
        if !(t0..=t1).contains(&t) {
            return Err(Error::Unsupported(format!(
                "ode::DenseSolution::evaluate: t = {t} is outside the solved interval [{t0}, {t1}]"
            )));
        }
        let mut out = vec![T::zero(); first.r[0].len()];
        find_step(&self.steps, t).evaluate(t, &mut out);
        Ok(out)
    }
}

/// The step of `steps` (in increasing time) whose interval holds `t`, or the nearest one.
pub(crate) fn find_step<T>(steps: &[DenseStep<T>], t: f64) -> &DenseStep<T> {
    let i = steps.partition_point(|s| s.t + s.h < t);
    &steps[i.min(steps.len() - 1)]
}

/// The dense output of one step from `t` to `t + h`, in Hairer's form
/// `y(t + θh) = r₀ + θ(r₁ + (1−θ)(r₂ + θ(r₃ + (1−θ)r₄)))`; `r₄ = 0` is the cubic Hermite
/// interpolant.
#[derive(Clone, Debug)]
pub(crate) struct DenseStep<T> {
    pub(crate) t: f64,
    pub(crate) h: f64,
    pub(crate) r: [Vec<T>; 5],
}

impl<T: Real> DenseStep<T> {
    pub(crate) fn evaluate(&self, t: f64, out: &mut [T]) {
        let theta = (t - self.t) / self.h;
        let (th, th1) = (T::from_f64(theta), T::from_f64(1.0 - theta));
        let r = &self.r;
        for (i, o) in out.iter_mut().enumerate() {
            *o = r[0][i] + th * (r[1][i] + th1 * (r[2][i] + th * (r[3][i] + th1 * r[4][i])));
        }
    }
}

/// Replays the steps `(t, h)` of an earlier solve from `y` on `f64` and returns their dense
/// outputs (the continuous adjoint's interpolant between two checkpoints).
pub(crate) fn replay_dense<S: OdeSystem + ?Sized>(
    system: &S,
    solver: &Solver,
    p: &[f64],
    y: &[f64],
    steps: &[(f64, f64)],
) -> Vec<DenseStep<f64>> {
    let n = y.len();
    let mut f = |t: f64, y: &[f64], d: &mut [f64]| system.rhs(t, y, p, d);
    let mut stages = Stages::new(n);
    let (mut y, mut y_new, mut f_new) = (y.to_vec(), vec![0.0; n], vec![0.0; n]);
    let mut out = Vec::with_capacity(steps.len());
    if let Some(&(t, _)) = steps.first() {
        f(t, &y, &mut stages.k[0]);
    }
    for &(t, h) in steps {
        step(solver, &mut f, t, h, &y, &mut stages, &mut y_new);
        f(t + h, &y_new, &mut f_new);
        out.push(
            Accepted {
                t,
                h,
                y_old: &y,
                y_new: &y_new,
                stages: &stages.k,
                f_new: &f_new,
            }
            .dense(solver),
        );
        std::mem::swap(&mut y, &mut y_new);
        std::mem::swap(&mut stages.k[0], &mut f_new);
    }
    out
}
