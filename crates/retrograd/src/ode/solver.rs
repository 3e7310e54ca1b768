//! The explicit solvers: one RK4 or Dormand–Prince step on any [`Real`] type, and the
//! driver that strings steps between output times (with error control for Dormand–Prince).

use super::dense::DenseStep;
use super::{check_finite, OdeSystem};
use crate::error::{check_len, Error};
use crate::Real;

/// An explicit solver and its settings.
///
/// ```
/// use retrograd::ode::Solver;
/// assert_eq!(Solver::rk4(0.1), Solver::Rk4 { dt: 0.1 });
/// assert!(matches!(Solver::dopri5(1e-6, 1e-9), Solver::Dopri5 { max_steps: 100_000, .. }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Solver {
    /// The classical 4th-order Runge–Kutta method with steps of at most `dt`: each interval
    /// between output times is split into equal steps.
    Rk4 {
        /// The largest step.
        dt: f64,
    },
    /// The Dormand–Prince 5(4) pair with FSAL and the error control of Hairer, Nørsett and
    /// Wanner: a step is accepted when the root-mean-square of its error estimate, each
    /// component scaled by `atol + rtol·|y|`, is at most 1. A step in which the right-hand
    /// side or the state is not finite is retried 5 times shorter; the solve fails with
    /// [`Error::NonFinite`] naming the value only once the step size underflows.
    Dopri5 {
        /// Relative tolerance.
        rtol: f64,
        /// Absolute tolerance.
        atol: f64,
        /// Most steps (accepted and rejected) for one solve before it fails.
        max_steps: usize,
    },
}

impl Solver {
    /// Fixed-step RK4 with steps of at most `dt`.
    ///
    /// ```
    /// assert_eq!(retrograd::ode::Solver::rk4(0.5), retrograd::ode::Solver::Rk4 { dt: 0.5 });
    /// ```
    pub fn rk4(dt: f64) -> Self {
        Solver::Rk4 { dt }
    }

    /// Adaptive Dormand–Prince 5(4) with the given tolerances and at most 100,000 steps.
    ///
    /// ```
    /// let s = retrograd::ode::Solver::dopri5(1e-8, 1e-10);
    /// assert_eq!(s, retrograd::ode::Solver::Dopri5 { rtol: 1e-8, atol: 1e-10, max_steps: 100_000 });
    /// ```
    pub fn dopri5(rtol: f64, atol: f64) -> Self {
        Solver::Dopri5 {
            rtol,
            atol,
            max_steps: 100_000,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let ok = match *self {
            Solver::Rk4 { dt } => dt.is_finite() && dt > 0.0,
            Solver::Dopri5 {
                rtol,
                atol,
                max_steps,
            } => {
                rtol.is_finite()
                    && atol.is_finite()
                    && rtol >= 0.0
                    && atol >= 0.0
                    && rtol + atol > 0.0
                    && max_steps > 0
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Unsupported(format!(
                "ode: solver settings {self:?} (a step, tolerances and a step budget must be \
                 finite and positive)"
            )))
        }
    }
}

/// Counters of a solve.
///
/// ```
/// use retrograd::ode::{solve, OdeSystem, Solver};
/// # use retrograd::Real;
/// # struct Decay;
/// # impl OdeSystem for Decay {
/// #     fn states(&self) -> usize { 1 }
/// #     fn params(&self) -> usize { 0 }
/// #     fn rhs<T: Real>(&self, _t: T, y: &[T], _p: &[T], d: &mut [T]) { d[0] = -y[0]; }
/// # }
/// let s = solve(&Decay, &Solver::rk4(0.1), &[1.0], &[], &[0.0, 1.0]).unwrap();
/// assert_eq!(s.stats.steps, 10);
/// assert_eq!(s.stats.rhs_evaluations, 41); // 4 per step, and f at the end
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SolveStats {
    /// Accepted steps.
    pub steps: usize,
    /// Rejected steps (adaptive solver only).
    pub rejected: usize,
    /// Evaluations of the right-hand side.
    pub rhs_evaluations: usize,
}

/// The states at the requested times (see [`solve`]).
///
/// ```
/// use retrograd::ode::{solve, Solver};
/// # use retrograd::ode::OdeSystem;
/// # use retrograd::Real;
/// # struct Decay;
/// # impl OdeSystem for Decay {
/// #     fn states(&self) -> usize { 1 }
/// #     fn params(&self) -> usize { 1 }
/// #     fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], d: &mut [T]) { d[0] = -p[0] * y[0]; }
/// # }
/// let s = solve(&Decay, &Solver::rk4(0.01), &[1.0], &[1.0], &[0.0, 1.0, 2.0]).unwrap();
/// assert_eq!(s.times, vec![0.0, 1.0, 2.0]);
/// assert_eq!(s.states[0], vec![1.0]);
/// assert!((s.states[2][0] - (-2.0_f64).exp()).abs() < 1e-9);
/// ```
#[derive(Clone, Debug)]
pub struct Solution<T> {
    /// The output times.
    pub times: Vec<f64>,
    /// The state at each output time, the first being the initial state.
    pub states: Vec<Vec<T>>,
    /// What the solver did.
    pub stats: SolveStats,
}

/// Solves `y' = f(t, y, p)` from `y(times[0]) = y0` and returns the state at each of
/// `times` (strictly increasing). Generic over the number type: on [`Dual`](crate::Dual)
/// the tangents of the solution come out, and on [`Var`](crate::Var) the solve is recorded
/// on the active tape. Steps end exactly on the output times.
///
/// Fails on lengths that disagree with the system, non-finite inputs, times that do not
/// increase, a non-finite value of the right-hand side or of the state, a step size that
/// underflows, or more than `max_steps` steps.
///
/// ```
/// use retrograd::ode::{solve, OdeSystem, Solver};
/// use retrograd::Real;
/// struct Decay;
/// impl OdeSystem for Decay {
///     fn states(&self) -> usize { 1 }
///     fn params(&self) -> usize { 1 }
///     fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], dydt: &mut [T]) {
///         dydt[0] = -p[0] * y[0];
///     }
/// }
/// let s = solve(&Decay, &Solver::dopri5(1e-9, 1e-12), &[1.0], &[2.0], &[0.0, 0.5, 1.0]).unwrap();
/// assert!((s.states[2][0] - (-2.0_f64).exp()).abs() < 1e-8);
/// ```
pub fn solve<S: OdeSystem + ?Sized, T: Real>(
    system: &S,
    solver: &Solver,
    y0: &[T],
    p: &[T],
    times: &[f64],
) -> Result<Solution<T>, Error> {
    solve_with(system, solver, y0, p, times, &mut |_, _| {})
}

/// [`solve`], calling `on_step(interval, step)` after each accepted step (`interval` is
/// the index of the output time the step moves towards).
pub(crate) fn solve_with<S: OdeSystem + ?Sized, T: Real>(
    system: &S,
    solver: &Solver,
    y0: &[T],
    p: &[T],
    times: &[f64],
    on_step: &mut dyn FnMut(usize, &Accepted<'_, T>),
) -> Result<Solution<T>, Error> {
    check_inputs(system, solver, y0, p, times)?;
    let mut driver = Driver::new(*solver, y0.len(), |t: f64, y: &[T], d: &mut [T]| {
        system.rhs(T::from_f64(t), y, p, d)
    });
    let mut y = y0.to_vec();
    let mut states = Vec::with_capacity(times.len());
    states.push(y.clone());
    for (i, w) in times.windows(2).enumerate() {
        driver.advance(w[0], w[1], &mut y, &mut |step| on_step(i + 1, step))?;
        states.push(y.clone());
    }
    Ok(Solution {
        times: times.to_vec(),
        states,
        stats: driver.stats,
    })
}

/// Checks the arguments of a solve.
pub(crate) fn check_inputs<S: OdeSystem + ?Sized, T: Real>(
    system: &S,
    solver: &Solver,
    y0: &[T],
    p: &[T],
    times: &[f64],
) -> Result<(), Error> {
    solver.validate()?;
    check_len(
        || "ode: the initial state (one value per state)".into(),
        system.states(),
        y0.len(),
    )?;
    check_len(
        || "ode: the parameters (one value per parameter)".into(),
        system.params(),
        p.len(),
    )?;
    check_finite(y0, || "ode: the initial state".into())?;
    check_finite(p, || "ode: the parameters".into())?;
    check_finite(times, || "ode: the output times".into())?;
    if times.is_empty() {
        return Err(Error::Unsupported(
            "ode: no output times (the first is the initial time)".into(),
        ));
    }
    if let Some(i) = times.windows(2).position(|w| w[1] <= w[0]) {
        return Err(Error::Unsupported(format!(
            "ode: the output times must increase strictly, but times[{}] = {} follows {}",
            i + 1,
            times[i + 1],
            times[i]
        )));
    }
    Ok(())
}

// The Dormand–Prince 5(4) tableau (Hairer, Nørsett, Wanner, Solving ODEs I, Table 5.2).
const DP_C: [f64; 6] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0];
const DP_A: [&[f64]; 6] = [
    &[],
    &[1.0 / 5.0],
    &[3.0 / 40.0, 9.0 / 40.0],
    &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
    &[
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
    ],
    &[
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
    ],
];
/// The 5th-order weights (the solution is propagated with these).
const DP_B: [f64; 6] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
];
/// 5th minus 4th-order weights over the six stages and `f(t + h, y_new)`.
const DP_E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];
/// The dense-output weights of the 4th-order continuous extension (Hairer's `contd5`).
const DP_D: [f64; 7] = [
    -12715105075.0 / 11282082432.0,
    0.0,
    87487479700.0 / 32700410799.0,
    -10690763975.0 / 1880347072.0,
    701980252875.0 / 199316789632.0,
    -1453857185.0 / 822651844.0,
    69997945.0 / 29380423.0,
];
const RK4_C: [f64; 4] = [0.0, 0.5, 0.5, 1.0];
const RK4_A: [&[f64]; 4] = [&[], &[0.5], &[0.0, 0.5], &[0.0, 0.0, 1.0]];
const RK4_B: [f64; 4] = [1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0];

/// The stage values of one step; `k[0]` is `f(t, y)` at its start.
pub(crate) struct Stages<T> {
    pub(crate) k: Vec<Vec<T>>,
    tmp: Vec<T>,
}

impl<T: Real> Stages<T> {
    pub(crate) fn new(n: usize) -> Self {
        Stages {
            k: vec![vec![T::zero(); n]; 6],
            tmp: vec![T::zero(); n],
        }
    }
}

/// `out = y + h·Σⱼ aⱼ·kⱼ`.
fn combine<T: Real>(y: &[T], h: f64, a: &[f64], k: &[Vec<T>], out: &mut [T]) {
    for (i, o) in out.iter_mut().enumerate() {
        let mut acc = y[i];
        for (kj, &aj) in k.iter().zip(a) {
            if aj != 0.0 {
                acc += T::from_f64(h * aj) * kj[i];
            }
        }
        *o = acc;
    }
}

/// One step from `(t, y)` with `stages.k[0] = f(t, y)` given: fills the other stages and
/// writes the propagated solution into `y_new`. Returns the number of evaluations of `f`.
pub(crate) fn step<T: Real>(
    solver: &Solver,
    f: &mut impl FnMut(f64, &[T], &mut [T]),
    t: f64,
    h: f64,
    y: &[T],
    stages: &mut Stages<T>,
    y_new: &mut [T],
) -> usize {
    let (c, a, b): (&[f64], &[&[f64]], &[f64]) = match solver {
        Solver::Rk4 { .. } => (&RK4_C, &RK4_A, &RK4_B),
        Solver::Dopri5 { .. } => (&DP_C, &DP_A, &DP_B),
    };
    for j in 1..c.len() {
        let (done, rest) = stages.k.split_at_mut(j);
        combine(y, h, a[j], done, &mut stages.tmp);
        f(t + c[j] * h, &stages.tmp, &mut rest[0]);
    }
    combine(y, h, b, &stages.k, y_new);
    c.len() - 1
}

/// An accepted step, as passed to the callback of the driver.
pub(crate) struct Accepted<'s, T> {
    pub(crate) t: f64,
    pub(crate) h: f64,
    pub(crate) y_old: &'s [T],
    pub(crate) y_new: &'s [T],
    pub(crate) stages: &'s [Vec<T>],
    /// `f(t + h, y_new)`.
    pub(crate) f_new: &'s [T],
}

impl<T: Real> Accepted<'_, T> {
    /// The dense output of the step.
    pub(crate) fn dense(&self, solver: &Solver) -> DenseStep<T> {
        let hh = T::from_f64(self.h);
        let n = self.y_old.len();
        let mut r: [Vec<T>; 5] = std::array::from_fn(|_| Vec::with_capacity(n));
        for i in 0..n {
            let diff = self.y_new[i] - self.y_old[i];
            let bspl = hh * self.stages[0][i] - diff;
            r[0].push(self.y_old[i]);
            r[1].push(diff);
            r[2].push(bspl);
            r[3].push(diff - hh * self.f_new[i] - bspl);
            r[4].push(match solver {
                Solver::Rk4 { .. } => T::zero(),
                Solver::Dopri5 { .. } => {
                    let mut acc = T::from_f64(DP_D[6]) * self.f_new[i];
                    for (kj, &dj) in self.stages.iter().zip(&DP_D[..6]) {
                        if dj != 0.0 {
                            acc += T::from_f64(dj) * kj[i];
                        }
                    }
                    hh * acc
                }
            });
        }
        DenseStep {
            t: self.t,
            h: self.h,
            r,
        }
    }
}

/// Strings steps of `solver` together for the right-hand side `f`, keeping `f(t, y)` at
/// the current point and (adaptive) the proposed next step from one interval to the next.
pub(crate) struct Driver<T, F> {
    solver: Solver,
    f: F,
    stages: Stages<T>,
    y_new: Vec<T>,
    f_new: Vec<T>,
    /// Whether `stages.k[0]` holds `f` at the current point.
    k1_ready: bool,
    h_next: Option<f64>,
    pub(crate) stats: SolveStats,
}

impl<T: Real, F: FnMut(f64, &[T], &mut [T])> Driver<T, F> {
    pub(crate) fn new(solver: Solver, n: usize, f: F) -> Self {
        Driver {
            solver,
            f,
            stages: Stages::new(n),
            y_new: vec![T::zero(); n],
            f_new: vec![T::zero(); n],
            k1_ready: false,
            h_next: None,
            stats: SolveStats::default(),
        }
    }

    /// Advances `y` from `t0` to `t1`, calling `on_step` after each accepted step.
    pub(crate) fn advance(
        &mut self,
        t0: f64,
        t1: f64,
        y: &mut Vec<T>,
        on_step: &mut dyn FnMut(&Accepted<'_, T>),
    ) -> Result<(), Error> {
        if !self.k1_ready {
            (self.f)(t0, y, &mut self.stages.k[0]);
            self.stats.rhs_evaluations += 1;
            check_finite(&self.stages.k[0], || {
                format!("ode: the right-hand side at t = {t0}")
            })?;
            self.k1_ready = true;
        }
        match self.solver {
            Solver::Rk4 { dt } => {
                let n = ((t1 - t0) / dt).ceil().max(1.0) as usize;
                let h = (t1 - t0) / n as f64;
                for i in 0..n {
                    let t = t0 + i as f64 * h;
                    let end = if i + 1 == n {
                        t1
                    } else {
                        t0 + (i + 1) as f64 * h
                    };
                    self.try_step(t, end, y)?;
                    self.accept(t, end, y, on_step);
                }
            }
            Solver::Dopri5 {
                rtol,
                atol,
                max_steps,
            } => {
                let mut h = match self.h_next {
                    Some(h) => h,
                    None => self.initial_step(t0, t1, y, rtol, atol),
                };
                let mut t = t0;
                let mut rejected_last = false;
                let mut non_finite = None;
                while t < t1 {
                    if self.stats.steps + self.stats.rejected >= max_steps {
                        return Err(Error::Integration(format!(
                            "ode: {max_steps} steps did not reach t = {t1} (stopped at t = {t}); \
                             the problem may be stiff, or raise max_steps"
                        )));
                    }
                    let clipped = t + h >= t1;
                    let end = if clipped { t1 } else { t + h };
                    let hh = end - t;
                    if hh <= 4.0 * f64::EPSILON * t.abs().max(t1.abs()) {
                        let underflow = format!("the step size underflowed ({hh:e}) at t = {t}");
                        return Err(match non_finite.take() {
                            Some(what) => Error::NonFinite(format!("{what}; {underflow}")),
                            None => Error::Integration(format!("ode: {underflow}")),
                        });
                    }
                    // A non-finite value inside a step may come from a step too long (the
                    // state overflowing): retry shorter steps, and report it if they fail.
                    if let Err(e) = self.try_step(t, end, y) {
                        let Error::NonFinite(what) = e else {
                            return Err(e);
                        };
                        non_finite = Some(what);
                        self.stats.rejected += 1;
                        h = 0.2 * hh;
                        rejected_last = true;
                        continue;
                    }
                    non_finite = None;
                    let err = self.error_norm(hh, y, rtol, atol);
                    let factor = if err == 0.0 {
                        10.0
                    } else {
                        (0.9 * err.powf(-0.2)).clamp(0.2, 10.0)
                    };
                    if err <= 1.0 {
                        self.accept(t, end, y, on_step);
                        t = end;
                        let next = hh
                            * if rejected_last {
                                factor.min(1.0)
                            } else {
                                factor
                            };
                        h = if clipped { next.max(h) } else { next };
                        rejected_last = false;
                    } else {
                        self.stats.rejected += 1;
                        h = hh * factor;
                        rejected_last = true;
                    }
                }
                self.h_next = Some(h);
            }
        }
        Ok(())
    }

    /// Computes the stages, `y_new` and `f_new` of a step from `(t, y)` to `end`, and
    /// checks that they are finite.
    fn try_step(&mut self, t: f64, end: f64, y: &[T]) -> Result<(), Error> {
        let h = end - t;
        let c: &[f64] = match self.solver {
            Solver::Rk4 { .. } => &RK4_C,
            Solver::Dopri5 { .. } => &DP_C,
        };
        self.stats.rhs_evaluations += step(
            &self.solver,
            &mut self.f,
            t,
            h,
            y,
            &mut self.stages,
            &mut self.y_new,
        );
        for (j, k) in self.stages.k[1..c.len()].iter().enumerate() {
            check_finite(k, || {
                format!("ode: the right-hand side at t = {}", t + c[j + 1] * h)
            })?;
        }
        check_finite(&self.y_new, || {
            format!("ode: the state after the step from t = {t} to {end}")
        })?;
        (self.f)(end, &self.y_new, &mut self.f_new);
        self.stats.rhs_evaluations += 1;
        check_finite(&self.f_new, || {
            format!("ode: the right-hand side at t = {end}")
        })
    }

    fn accept(
        &mut self,
        t: f64,
        end: f64,
        y: &mut Vec<T>,
        on_step: &mut dyn FnMut(&Accepted<'_, T>),
    ) {
        self.stats.steps += 1;
        on_step(&Accepted {
            t,
            h: end - t,
            y_old: y,
            y_new: &self.y_new,
            stages: &self.stages.k,
            f_new: &self.f_new,
        });
        std::mem::swap(y, &mut self.y_new);
        std::mem::swap(&mut self.stages.k[0], &mut self.f_new);
    }

    /// The root-mean-square of the Dormand–Prince error estimate, scaled by the tolerances.
    fn error_norm(&self, h: f64, y: &[T], rtol: f64, atol: f64) -> f64 {
        let k = &self.stages.k;
        let mut sum = 0.0;
        for i in 0..y.len() {
            let mut e = DP_E[6] * self.f_new[i].value();
            for (kj, &ej) in k.iter().zip(&DP_E[..6]) {
                e += ej * kj[i].value();
            }
            let scale = atol + rtol * y[i].value().abs().max(self.y_new[i].value().abs());
            sum += (h * e / scale).powi(2);
        }
        (sum / y.len().max(1) as f64).sqrt()
    }

    /// Hairer's starting step: from the sizes of `y`, `f(t0, y)` and an estimate of the
    /// second derivative, a step whose error should be near the tolerance.
    fn initial_step(&mut self, t0: f64, t1: f64, y: &[T], rtol: f64, atol: f64) -> f64 {
        let span = t1 - t0;
        let k1 = &self.stages.k[0];
        let scale: Vec<f64> = y.iter().map(|v| atol + rtol * v.value().abs()).collect();
        let rms = |v: &mut dyn Iterator<Item = f64>| {
            let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x * x, n + 1));
            (s / n.max(1) as f64).sqrt()
        };
        let d0 = rms(&mut y.iter().zip(&scale).map(|(v, s)| v.value() / s));
        let d1 = rms(&mut k1.iter().zip(&scale).map(|(v, s)| v.value() / s));
        let h0 = if d0 < 1e-5 || d1 < 1e-5 {
            1e-6
        } else {
            0.01 * d0 / d1
        }
        .min(span);
        let probe: Vec<T> = y
            .iter()
            .zip(k1)
            .map(|(&v, &k)| v + T::from_f64(h0) * k)
            .collect();
        (self.f)(t0 + h0, &probe, &mut self.f_new);
        self.stats.rhs_evaluations += 1;
        let d2 = rms(&mut self
            .f_new
            .iter()
            .zip(&self.stages.k[0])
            .zip(&scale)
            .map(|((a, b), s)| (a.value() - b.value()) / s))
            / h0;
        let h1 = if !d2.is_finite() {
            h0
        } else if d1.max(d2) <= 1e-15 {
            (h0 * 1e-3).max(1e-6)
        } else {
            (0.01 / d1.max(d2)).powf(0.2)
        };
        (100.0 * h0).min(h1).min(span)
    }
}

/// One step of `solver` from `(t, y)` with step `h` for `system`, computed from scratch on
/// any `Real` type (the discrete adjoint tapes it); the same arithmetic as the driver's.
pub(crate) fn one_step<S: OdeSystem + ?Sized, T: Real>(
    system: &S,
    solver: &Solver,
    t: f64,
    h: f64,
    y: &[T],
    p: &[T],
) -> Vec<T> {
    let mut stages = Stages::new(y.len());
    let mut f = |t: f64, y: &[T], d: &mut [T]| system.rhs(T::from_f64(t), y, p, d);
    f(t, y, &mut stages.k[0]);
    let mut y_new = vec![T::zero(); y.len()];
    step(solver, &mut f, t, h, y, &mut stages, &mut y_new);
    y_new
}
