//! Binomial checkpointing: the gradient of a long loop `x_{k+1} = step(k, x_k, p)` in
//! memory bounded by a budget of stored states instead of by the number of steps.
//!
//! Taping all `n` steps keeps every intermediate of every step. With a budget of `s`
//! snapshots (stored states, the initial state included), [`gradient`] keeps at most `s`
//! states and the tape of a single step, and recomputes the rest forward from the nearest
//! snapshot. The schedule is Griewank and Walther's binomial one ("revolve"): it performs
//! the least possible number of forward steps, `t(n, s) = r·n − C(s + r, r − 1)` where `r`
//! is the smallest integer with `C(s + r, s) ≥ n` — for `n = 1000`, `s = 10`, 3,636 forward
//! steps besides the `n` taped ones.
//!
//! ```
//! use retrograd::checkpoint::{gradient, Step};
//! use retrograd::Real;
//!
//! /// Explicit Euler for x' = −p·x.
//! struct Decay;
//! impl Step for Decay {
//!     fn step<T: Real>(&self, _k: usize, x: &[T], p: &[T]) -> Vec<T> {
//!         vec![x[0] - T::from_f64(0.01) * p[0] * x[0]]
//!     }
//! }
//! // J = x_n, with x_n = x0 (1 − 0.01 p)^n.
//! let g = gradient(&Decay, &[1.0], &[2.0], 100, 4, |x| x[0]).unwrap();
//! let expected = -100.0 * 0.01 * 0.98_f64.powi(99);
//! assert!((g.param_adjoint[0] - expected).abs() < 1e-12);
//! assert!(g.stats.max_snapshots <= 4);
//! ```

use super::tape::Tape;
use super::var::Var;
use crate::error::{check_len, Error};
use crate::Real;

/// One step of a loop, written once for any [`Real`] type: the schedule runs it on `f64`
/// to advance and on [`Var`] to tape.
///
/// ```
/// use retrograd::{checkpoint::Step, Real};
/// /// The logistic map x ← p·x·(1 − x).
/// struct Logistic;
/// impl Step for Logistic {
///     fn step<T: Real>(&self, _k: usize, x: &[T], p: &[T]) -> Vec<T> {
///         vec![p[0] * x[0] * (T::one() - x[0])]
///     }
/// }
/// assert_eq!(Logistic.step(0, &[0.5], &[2.0]), vec![0.5]);
/// ```
pub trait Step {
    /// The state after step `k`, from the state `x` before it and the parameters `p`.
    fn step<T: Real>(&self, k: usize, x: &[T], p: &[T]) -> Vec<T>;
}

/// Counters of a checkpointed run (see the example of [`gradient`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Steps run on `f64` to reach states (the recomputation); `t(n, s)` in the module docs.
    pub forward_steps: usize,
    /// Steps run on the tape (each step once).
    pub taped_steps: usize,
    /// Most states held at once (the initial state included).
    pub max_snapshots: usize,
    /// Largest tape during the run, in bytes (one step, or the last step and the loss).
    pub peak_tape_bytes: usize,
}

/// The result of [`gradient`] (see its example).
#[derive(Clone, Debug, PartialEq)]
pub struct LoopGradient {
    /// The value of the loss at the final state.
    pub value: f64,
    /// The final state `x_n`.
    pub state: Vec<f64>,
    /// ∂J/∂x₀.
    pub state_adjoint: Vec<f64>,
    /// ∂J/∂p.
    pub param_adjoint: Vec<f64>,
    /// What the schedule did.
    pub stats: Stats,
}

/// The least number of forward steps for `steps` steps with `snapshots` stored states
/// (the initial one included): `t(n, s)` of Griewank and Walther's binomial schedule.
/// `None` when `snapshots` is 0 and there is more than one step.
///
/// ```
/// assert_eq!(retrograd::checkpoint::forward_steps(1000, 10), Some(3636));
/// assert_eq!(retrograd::checkpoint::forward_steps(10, 1), Some(45)); // 9 + 8 + ... + 0
/// ```
pub fn forward_steps(steps: usize, snapshots: usize) -> Option<usize> {
    if steps <= 1 {
        return Some(0);
    }
    if snapshots == 0 {
        return None;
    }
    let (l, s) = (steps as u128, snapshots as u128);
    let r = repetitions(l, s);
    // t = r·l − C(s + r, r − 1) = r·l − β(s + 1, r − 1).
    Some((r * l - binomial(s + r, r - 1)) as usize)
}

/// The repetition number: the smallest `r` with `β(s, r) = C(s + r, s) ≥ l`.
fn repetitions(l: u128, s: u128) -> u128 {
    let (mut r, mut beta) = (0u128, 1u128);
    while beta < l {
        r += 1;
        beta = beta * (s + r) / r;
    }
    r
}

fn binomial(n: u128, k: u128) -> u128 {
    let k = k.min(n - k);
    (0..k).fold(1u128, |acc, i| acc * (n - i) / (i + 1))
}

/// Where to put the next snapshot in a segment of `l` steps with `s` states: a split `m`
/// such that `m + t(l − m, s − 1) + t(m, s) = t(l, s)`.
fn split(l: usize, s: usize) -> usize {
    let best = forward_steps(l, s).expect("s >= 2 here");
    let cost = |m: usize| {
        m + forward_steps(l - m, s - 1).unwrap_or(usize::MAX / 2) + forward_steps(m, s).unwrap_or(0)
    };
    // An optimal split leaves the first part no longer than β(s, r − 1), what `s` states
    // reverse with one repetition less; searching down from there finds one in a few probes.
    let r = repetitions(l as u128, s as u128);
    let top = binomial(s as u128 + r - 1, s as u128).min(l as u128 - 1) as usize;
    (1..=top)
        .rev()
        .chain(top + 1..l)
        .find(|&m| cost(m) == best)
        .expect("the binomial schedule has an optimal split")
}

/// Runs the loop and its reverse sweep within the snapshot budget.
struct Schedule<'a, S: Step> {
    step: &'a S,
    params: &'a [f64],
    tape: Tape,
    param_adjoint: Vec<f64>,
    stats: Stats,
    held: usize,
}

/// What seeds the reverse sweep of the last step: the loss, or the next state's adjoint.
enum Seed<'a, L> {
    Loss(L, &'a mut Option<(f64, Vec<f64>)>),
    Adjoint(Vec<f64>),
}

impl<S: Step> Schedule<'_, S> {
    fn advance(&mut self, k: usize, x: &[f64]) -> Vec<f64> {
        self.stats.forward_steps += 1;
        self.step.step(k, x, self.params)
    }

    /// Tapes step `k` from `x` and sweeps it: returns the adjoint of `x`.
    fn taped_step<L: FnOnce(&[Var]) -> Var>(
        &mut self,
        k: usize,
        x: &[f64],
        seed: Seed<'_, L>,
    ) -> Vec<f64> {
        self.stats.taped_steps += 1;
        self.tape.clear();
        let params = self.params;
        let step = self.step;
        let (xs, ps, seeds) = self.tape.record(|rec| {
            let xs = rec.inputs(x);
            let ps = rec.inputs(params);
            let next = step.step(k, &xs, &ps);
            let seeds: Vec<(Var, f64)> = match seed {
                Seed::Loss(loss, out) => {
                    let j = loss(&next);
                    *out = Some((j.value(), next.iter().map(|v| v.value()).collect()));
                    vec![(j, 1.0)]
                }
                Seed::Adjoint(a) => next.into_iter().zip(a).collect(),
            };
            (xs, ps, seeds)
        });
        self.stats.peak_tape_bytes = self.stats.peak_tape_bytes.max(self.tape.stats().bytes);
        let adj = self.tape.adjoints(&seeds);
        for (acc, &p) in self.param_adjoint.iter_mut().zip(&ps) {
            *acc += adj.wrt(p);
        }
        adj.wrt_all(&xs)
    }

    /// Reverses steps `a..b` given the state at `a` and `s` states of budget (the one
    /// holding `x_a` included); returns the adjoint of `x_a`.
    fn reverse<L: FnOnce(&[Var]) -> Var>(
        &mut self,
        a: usize,
        b: usize,
        s: usize,
        x_a: &[f64],
        seed: Seed<'_, L>,
    ) -> Vec<f64> {
        if b - a == 1 {
            return self.taped_step(a, x_a, seed);
        }
        if s == 1 {
            // No room for another state: recompute from x_a for every step, last first.
            let mut seed = Some(seed);
            let mut adjoint = Vec::new();
            for k in (a..b).rev() {
                let mut x = x_a.to_vec();
                for j in a..k {
                    x = self.advance(j, &x);
                }
                let sd = seed
                    .take()
                    .unwrap_or(Seed::Adjoint(std::mem::take(&mut adjoint)));
                adjoint = self.taped_step(k, &x, sd);
            }
            return adjoint;
        }
        let m = split(b - a, s);
        let mut x_m = x_a.to_vec();
        for j in a..a + m {
            x_m = self.advance(j, &x_m);
        }
        self.held += 1;
        self.stats.max_snapshots = self.stats.max_snapshots.max(self.held);
        let adjoint_m = self.reverse(a + m, b, s - 1, &x_m, seed);
        drop(x_m);
        self.held -= 1;
        self.reverse::<L>(a, a + m, s, x_a, Seed::Adjoint(adjoint_m))
    }
}

/// The gradient of `J = loss(x_n)` for the loop `x_{k+1} = step(k, x_k, p)`, `k < steps`,
/// with respect to `x₀` and `p`, keeping at most `snapshots` states (at least 1: the
/// initial state). Equal to taping the whole loop up to rounding; the number of forward
/// steps is the binomial optimum [`forward_steps`]`(steps, snapshots)`.
///
/// Fails if `snapshots` is 0 for a loop of more than one step, or if a step changes the
/// length of the state.
///
/// ```
/// use retrograd::checkpoint::{forward_steps, gradient, Step};
/// use retrograd::Real;
/// struct Rotate;
/// impl Step for Rotate {
///     fn step<T: Real>(&self, _k: usize, x: &[T], p: &[T]) -> Vec<T> {
///         let (s, c) = p[0].sin_cos();
///         vec![c * x[0] - s * x[1], s * x[0] + c * x[1]]
///     }
/// }
/// // After n rotations by θ, J = x_n[0] = cos(nθ): ∂J/∂θ = −n·sin(nθ).
/// let g = gradient(&Rotate, &[1.0, 0.0], &[0.01], 500, 5, |x| x[0]).unwrap();
/// assert!((g.value - 5.0_f64.cos()).abs() < 1e-12);
/// assert!((g.param_adjoint[0] + 500.0 * 5.0_f64.sin()).abs() < 1e-9);
/// assert_eq!(Some(g.stats.forward_steps), forward_steps(500, 5));
/// assert_eq!(g.stats.taped_steps, 500);
/// ```
pub fn gradient<S, L>(
    step: &S,
    x0: &[f64],
    params: &[f64],
    steps: usize,
    snapshots: usize,
    loss: L,
) -> Result<LoopGradient, Error>
where
    S: Step,
    L: FnOnce(&[Var]) -> Var,
{
    if steps > 1 && snapshots == 0 {
        return Err(Error::Unsupported("checkpoint::gradient: a budget of 0 snapshots; at least 1 (the initial state) is needed".into()));
    }
    let probe: Vec<f64> = step.step(0, x0, params);
    check_len(
        || "checkpoint::gradient: the state returned by a step".into(),
        x0.len(),
        probe.len(),
    )?;
    if steps == 0 {
        let (value, state_adjoint) = crate::value_and_grad(loss, x0);
        return Ok(LoopGradient {
            value,
            state: x0.to_vec(),
            state_adjoint,
            param_adjoint: vec![0.0; params.len()],
            stats: Stats {
                max_snapshots: 1,
                ..Stats::default()
            },
        });
    }
    let mut schedule = Schedule {
        step,
        params,
        tape: Tape::new(),
        param_adjoint: vec![0.0; params.len()],
        stats: Stats::default(),
        held: 1,
    };
    schedule.stats.max_snapshots = 1;
    let mut end = None;
    let state_adjoint = schedule.reverse(0, steps, snapshots, x0, Seed::Loss(loss, &mut end));
    let (value, state) = end.expect("the last step is taped with the loss");
    Ok(LoopGradient {
        value,
        state,
        state_adjoint,
        param_adjoint: schedule.param_adjoint,
        stats: schedule.stats,
    })
}
