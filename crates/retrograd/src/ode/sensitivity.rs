//! The gradient of a loss on an ODE solution: forward sensitivities, the discrete adjoint
//! and the continuous adjoint.

use super::dense::{find_step, replay_dense};
use super::solver::{check_inputs, one_step, solve, solve_with, Driver, SolveStats, Solver};
use super::{check_finite, OdeSystem, VjpReplay};
use crate::checkpoint::{self, Step};
use crate::error::Error;
use crate::{value_and_grad, Dual, Real, Var};

/// How [`gradient`] differentiates through the solve.
///
/// - `Forward`: the solve runs on [`Dual`] numbers carrying the tangents of all states and
///   parameters, 8 directions per pass: cost ∝ (states + parameters) solves. Best for
///   small systems.
/// - `DiscreteAdjoint`: reverse mode through the solver's steps (the exact gradient of the
///   computed solution), keeping at most `snapshots` states by binomial checkpointing
///   ([`checkpoint::gradient`]): one taped pass plus recomputation, independent of the
///   number of parameters.
/// - `ContinuousAdjoint`: the adjoint ODE `λ' = −(∂f/∂y)ᵀλ`, `μ' = −(∂f/∂p)ᵀλ` solved
///   backwards with the same solver, using [`OdeSystem::vjp`]; the forward state is stored
///   at every output time and every `checkpoint_every` steps and, between two checkpoints,
///   recomputed forward and interpolated by the dense output (never solved backwards,
///   which is unstable). Agrees with the others to the solver's accuracy.
///
/// ```
/// let s = retrograd::ode::Sensitivity::DiscreteAdjoint { snapshots: 10 };
/// assert_ne!(s, retrograd::ode::Sensitivity::Forward);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sensitivity {
    /// Forward sensitivities on [`Dual`] numbers.
    Forward,
    /// Reverse mode through the steps, with at most `snapshots` stored states.
    DiscreteAdjoint {
        /// States kept at once (at least 1).
        snapshots: usize,
    },
    /// The adjoint ODE, with the forward state stored every `checkpoint_every` steps.
    ContinuousAdjoint {
        /// Steps between stored states (at least 1).
        checkpoint_every: usize,
    },
}

/// The result of [`gradient`].
///
/// ```
/// use retrograd::ode::{gradient, Sensitivity, Solver};
/// # use retrograd::ode::OdeSystem;
/// # use retrograd::Real;
/// # struct Decay;
/// # impl OdeSystem for Decay {
/// #     fn states(&self) -> usize { 1 }
/// #     fn params(&self) -> usize { 1 }
/// #     fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], d: &mut [T]) { d[0] = -p[0] * y[0]; }
/// # }
/// // L = y(1)² with y(1) = y₀·e^(−k).
/// let g = gradient(&Decay, &Solver::rk4(0.01), &[2.0], &[1.0], &[0.0, 1.0],
///                  |ys| ys[1][0] * ys[1][0], Sensitivity::DiscreteAdjoint { snapshots: 5 }).unwrap();
/// let y1 = 2.0 * (-1.0_f64).exp();
/// assert!((g.value - y1 * y1).abs() < 1e-9);
/// assert!((g.state_adjoint[0] - 2.0 * y1 * (-1.0_f64).exp()).abs() < 1e-9);
/// assert!((g.param_adjoint[0] + 2.0 * y1 * y1).abs() < 1e-9);
/// assert_eq!((g.stats.steps, g.adjoint_stats.steps), (100, 0));
/// ```
#[derive(Clone, Debug)]
pub struct OdeGradient {
    /// The loss.
    pub value: f64,
    /// The states at the output times.
    pub states: Vec<Vec<f64>>,
    /// ∂L/∂y₀.
    pub state_adjoint: Vec<f64>,
    /// ∂L/∂p.
    pub param_adjoint: Vec<f64>,
    /// The forward solve on `f64`.
    pub stats: SolveStats,
    /// The backward solve of the adjoint ODE (continuous adjoint; zero otherwise): each
    /// right-hand side evaluation is one [`OdeSystem::vjp`].
    pub adjoint_stats: SolveStats,
}

/// The value and gradient of `L = loss(y(times[0]), …, y(times[m]))` with respect to the
/// initial state `y0` and the parameters `p`, the solution computed by `solver` as in
/// [`solve`]. The loss is written on [`Var`]s and receives the states at the output times.
///
/// Fails as [`solve`] does, when the loss or its gradient is not finite, or on an invalid
/// setting of `sensitivity` (0 snapshots for more than one step, `checkpoint_every = 0`).
///
/// ```
/// use retrograd::ode::{gradient, OdeSystem, Sensitivity, Solver};
/// use retrograd::{Real, Var};
/// /// x'' = −ω²x: with x(0) = 1, x'(0) = 0, x(t) = cos(ωt).
/// struct Oscillator;
/// impl OdeSystem for Oscillator {
///     fn states(&self) -> usize { 2 }
///     fn params(&self) -> usize { 1 }
///     fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], dydt: &mut [T]) {
///         dydt[0] = y[1];
///         dydt[1] = -p[0] * p[0] * y[0];
///     }
/// }
/// // L = x(1)²/2 = cos²(ω)/2: ∂L/∂ω = −cos(ω)·sin(ω).
/// let loss = |ys: &[Vec<Var>]| ys[1][0] * ys[1][0] * 0.5;
/// let g = gradient(&Oscillator, &Solver::rk4(1e-3), &[1.0, 0.0], &[2.0], &[0.0, 1.0], loss,
///                  Sensitivity::ContinuousAdjoint { checkpoint_every: 100 }).unwrap();
/// assert!((g.param_adjoint[0] + 2.0_f64.cos() * 2.0_f64.sin()).abs() < 1e-9);
/// assert!((g.state_adjoint[0] - 2.0_f64.cos().powi(2)).abs() < 1e-9);
/// ```
pub fn gradient<S, L>(
    system: &S,
    solver: &Solver,
    y0: &[f64],
    p: &[f64],
    times: &[f64],
    loss: L,
    sensitivity: Sensitivity,
) -> Result<OdeGradient, Error>
where
    S: OdeSystem + ?Sized,
    L: Fn(&[Vec<Var>]) -> Var,
{
    check_inputs(system, solver, y0, p, times)?;
    let every = match sensitivity {
        Sensitivity::ContinuousAdjoint {
            checkpoint_every: 0,
        } => {
            return Err(Error::Unsupported(
                "ode::gradient: checkpoint_every = 0; at least 1 step between stored states".into(),
            ))
        }
        Sensitivity::ContinuousAdjoint { checkpoint_every } => checkpoint_every,
        _ => usize::MAX,
    };
    let keep_checkpoints = matches!(sensitivity, Sensitivity::ContinuousAdjoint { .. });
    // The forward solve on f64: its steps, and the checkpoints of the continuous adjoint.
    let mut steps: Vec<(f64, f64)> = Vec::new();
    let mut intervals: Vec<usize> = Vec::new();
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    let solution = solve_with(system, solver, y0, p, times, &mut |interval, step| {
        let k = steps.len();
        let starts_interval = intervals.last() != Some(&interval);
        if keep_checkpoints && (starts_interval || k % every == 0) {
            checkpoints.push(Checkpoint {
                step: k,
                state: step.y_old.to_vec(),
                output: starts_interval.then(|| interval - 1),
            });
        }
        steps.push((step.t, step.h));
        intervals.push(interval);
    })?;
    let n = y0.len();
    let (value, cotangents) = loss_cotangents(&loss, &solution.states, n)?;
    let mut result = OdeGradient {
        value,
        states: solution.states,
        state_adjoint: Vec::new(),
        param_adjoint: Vec::new(),
        stats: solution.stats,
        adjoint_stats: SolveStats::default(),
    };
    match sensitivity {
        Sensitivity::Forward => {
            let (state, param) = forward(system, solver, y0, p, times, &cotangents)?;
            result.state_adjoint = state;
            result.param_adjoint = param;
        }
        Sensitivity::DiscreteAdjoint { .. } if steps.is_empty() => {
            // A single output time: the loss depends on y₀ alone.
            result.state_adjoint = cotangents[0].clone();
            result.param_adjoint = vec![0.0; p.len()];
        }
        Sensitivity::DiscreteAdjoint { snapshots } => {
            // The last step of each interval ends on an output time.
            let outputs: Vec<Option<usize>> = (0..steps.len())
                .map(|k| (intervals.get(k + 1) != Some(&intervals[k])).then(|| intervals[k]))
                .collect();
            let loop_steps = DiscreteSteps {
                system,
                solver,
                steps: &steps,
                outputs: &outputs,
                cotangents: &cotangents,
            };
            let mut x0 = y0.to_vec();
            x0.push(0.0);
            let g = checkpoint::gradient(&loop_steps, &x0, p, steps.len(), snapshots, |x| x[n])?;
            result.state_adjoint = g.state_adjoint[..n]
                .iter()
                .zip(&cotangents[0])
                .map(|(a, c)| a + c)
                .collect();
            result.param_adjoint = g.param_adjoint;
        }
        Sensitivity::ContinuousAdjoint { .. } => {
            let backward = Backward {
                system,
                solver,
                p,
                steps: &steps,
            };
            let (state, param, stats) = backward.run(&checkpoints, &cotangents)?;
            result.state_adjoint = state;
            result.param_adjoint = param;
            result.adjoint_stats = stats;
        }
    }
    check_finite(&result.state_adjoint, || {
        "ode::gradient: the gradient with respect to the initial state".into()
    })?;
    check_finite(&result.param_adjoint, || {
        "ode::gradient: the gradient with respect to the parameters".into()
    })?;
    Ok(result)
}

/// The loss on the `f64` trajectory and its gradient with respect to each output state.
fn loss_cotangents<L: Fn(&[Vec<Var>]) -> Var>(
    loss: &L,
    states: &[Vec<f64>],
    n: usize,
) -> Result<(f64, Vec<Vec<f64>>), Error> {
    let flat: Vec<f64> = states.concat();
    let (value, grad) = value_and_grad(
        |x| {
            let ys: Vec<Vec<Var>> = x.chunks(n.max(1)).map(<[Var]>::to_vec).collect();
            loss(&ys)
        },
        &flat,
    );
    check_finite(&[value], || "ode::gradient: the loss".into())?;
    check_finite(&grad, || {
        "ode::gradient: the gradient of the loss with respect to the states".into()
    })?;
    let cotangents = if n == 0 {
        vec![Vec::new(); states.len()]
    } else {
        grad.chunks(n).map(<[f64]>::to_vec).collect()
    };
    Ok((value, cotangents))
}

/// Tangent directions carried per forward pass.
const CHUNK: usize = 8;

/// Forward sensitivities: `Σᵢ c̄ᵢ·∂y(tᵢ)/∂θ` for θ = (y₀, p), `CHUNK` directions per solve.
fn forward<S: OdeSystem + ?Sized>(
    system: &S,
    solver: &Solver,
    y0: &[f64],
    p: &[f64],
    times: &[f64],
    cotangents: &[Vec<f64>],
) -> Result<(Vec<f64>, Vec<f64>), Error> {
    let n = y0.len();
    let directions = n + p.len();
    let mut grad = vec![0.0; directions];
    for start in (0..directions).step_by(CHUNK) {
        let seed = |j: usize, v: f64| {
            let mut d = Dual::<f64, CHUNK>::constant(v);
            if (start..start + CHUNK).contains(&j) {
                d.tangent[j - start] = 1.0;
            }
            d
        };
        let yd: Vec<_> = y0.iter().enumerate().map(|(i, &v)| seed(i, v)).collect();
        let pd: Vec<_> = p.iter().enumerate().map(|(i, &v)| seed(n + i, v)).collect();
        let solution = solve(system, solver, &yd, &pd, times)?;
        let width = CHUNK.min(directions - start);
        for (state, cot) in solution.states.iter().zip(cotangents) {
            for (y, &c) in state.iter().zip(cot) {
                for (g, t) in grad[start..start + width].iter_mut().zip(&y.tangent) {
                    *g += c * t;
                }
            }
        }
    }
    let param = grad.split_off(n);
    Ok((grad, param))
}

/// The solver's steps as a loop for [`checkpoint::gradient`]: the state is `y` and the
/// running sum `Σᵢ c̄ᵢ·y(tᵢ)` over the output times passed so far.
struct DiscreteSteps<'a, S: ?Sized> {
    system: &'a S,
    solver: &'a Solver,
    steps: &'a [(f64, f64)],
    /// The output time each step ends on, if any.
    outputs: &'a [Option<usize>],
    cotangents: &'a [Vec<f64>],
}

impl<S: OdeSystem + ?Sized> Step for DiscreteSteps<'_, S> {
    fn step<T: Real>(&self, k: usize, x: &[T], p: &[T]) -> Vec<T> {
        let n = x.len() - 1;
        let (t, h) = self.steps[k];
        let mut next = one_step(self.system, self.solver, t, h, &x[..n], p);
        let mut sum = x[n];
        if let Some(i) = self.outputs[k] {
            for (&y, &c) in next.iter().zip(&self.cotangents[i]) {
                if c != 0.0 {
                    sum += T::from_f64(c) * y;
                }
            }
        }
        next.push(sum);
        next
    }
}

/// A stored forward state: at the start of step `step`, which is output time `output`.
struct Checkpoint {
    step: usize,
    state: Vec<f64>,
    output: Option<usize>,
}

/// The continuous adjoint's backward pass.
struct Backward<'a, S: ?Sized> {
    system: &'a S,
    solver: &'a Solver,
    p: &'a [f64],
    steps: &'a [(f64, f64)],
}

impl<S: OdeSystem + ?Sized> Backward<'_, S> {
    /// Solves `z = (λ, μ)` backwards segment by segment, from `λ = c̄ₘ`, `μ = 0` at the
    /// last output time; adds `c̄ᵢ` to `λ` at each output time.
    fn run(
        &self,
        checkpoints: &[Checkpoint],
        cotangents: &[Vec<f64>],
    ) -> Result<(Vec<f64>, Vec<f64>, SolveStats), Error> {
        let (n, np) = (cotangents[0].len(), self.p.len());
        let mut z = cotangents[cotangents.len() - 1].clone();
        z.resize(n + np, 0.0);
        let mut stats = SolveStats::default();
        let mut vjp_replay = VjpReplay::new();
        let mut y = vec![0.0; n];
        for (j, c) in checkpoints.iter().enumerate().rev() {
            let end = checkpoints.get(j + 1).map_or(self.steps.len(), |c| c.step);
            let segment = &self.steps[c.step..end];
            let dense = replay_dense(self.system, self.solver, self.p, &c.state, segment);
            let (ta, (tl, hl)) = (segment[0].0, segment[segment.len() - 1]);
            let tb = tl + hl;
            // In s = tb − t the adjoint ODE runs forwards: dλ/ds = (∂f/∂y)ᵀλ, dμ/ds = (∂f/∂p)ᵀλ.
            let mut failure = None;
            let rhs = |s: f64, z: &[f64], dz: &mut [f64]| {
                let t = tb - s;
                find_step(&dense, t).evaluate(t, &mut y);
                let (dl, dm) = dz.split_at_mut(n);
                if let Err(e) = self
                    .system
                    .vjp(t, &y, self.p, &z[..n], dl, dm, &mut vjp_replay)
                {
                    // Stops the solve (a non-finite value); the error is reported below.
                    failure.get_or_insert(e);
                    dz.fill(f64::NAN);
                }
            };
            let backward_solver = match *self.solver {
                // The forward grid of the segment, reversed.
                Solver::Rk4 { .. } => Solver::Rk4 {
                    dt: segment.iter().map(|s| s.1).fold(0.0, f64::max) * (1.0 + 1e-9),
                },
                adaptive => adaptive,
            };
            let mut driver = Driver::new(backward_solver, n + np, rhs);
            let solved = driver.advance(0.0, tb - ta, &mut z, &mut |_| {});
            let segment_stats = driver.stats;
            drop(driver);
            if let Some(e) = failure {
                return Err(e);
            }
            solved?;
            stats.steps += segment_stats.steps;
            stats.rejected += segment_stats.rejected;
            stats.rhs_evaluations += segment_stats.rhs_evaluations;
            if let Some(i) = c.output {
                for (l, &c) in z.iter_mut().zip(&cotangents[i]) {
                    *l += c;
                }
            }
        }
        let param = z.split_off(n);
        Ok((z, param, stats))
    }
}
