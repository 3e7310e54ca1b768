//! `ode`: `s` steps of classical Runge–Kutta on `y₀' = x₀`, `yᵢ' = xᵢ·yᵢ₋₁` from `y(0) = 0`
//! to `t = 2`, and the gradient of the last component of `y(2)` with respect to `x`.

use super::{input_with_runs, timed, timed_in_place, unknown, Style};
use crate::json;
use crate::protocol::Evaluated;
use num_traits::Float;
use retrograd::{Adjoints, Tape, Var};

input_with_runs! {
    /// The `ode` input.
    pub struct Input {
        /// The coefficients.
        pub x: Vec<f64>,
        /// The number of Runge–Kutta steps.
        pub s: usize,
    }
}

/// `z = f(y)`: `z₀ = x₀`, `zᵢ = xᵢ·yᵢ₋₁`.
fn ode_fun<T: Float>(x: &[T], y: &[T], z: &mut [T]) {
    z[0] = x[0];
    for i in 1..x.len() {
        z[i] = x[i] * y[i - 1];
    }
}

/// The stage vectors of a Runge–Kutta step, allocated once per solve.
struct Stages<T> {
    k1: Vec<T>,
    k2: Vec<T>,
    k3: Vec<T>,
    k4: Vec<T>,
    tmp: Vec<T>,
}

impl<T: Float> Stages<T> {
    fn new(n: usize) -> Self {
        let z = vec![T::zero(); n];
        Stages {
            k1: z.clone(),
            k2: z.clone(),
            k3: z.clone(),
            k4: z.clone(),
            tmp: z,
        }
    }

    /// One Runge–Kutta step of size `h`, updating `y` in place.
    fn step(&mut self, x: &[T], y: &mut [T], h: T) {
        let two = T::from(2.0).unwrap();
        let six = T::from(6.0).unwrap();
        let Stages {
            k1,
            k2,
            k3,
            k4,
            tmp,
        } = self;
        ode_fun(x, y, k1);
        for ((t, &yi), &k) in tmp.iter_mut().zip(&*y).zip(&*k1) {
            *t = yi + h * k / two;
        }
        ode_fun(x, tmp, k2);
        for ((t, &yi), &k) in tmp.iter_mut().zip(&*y).zip(&*k2) {
            *t = yi + h * k / two;
        }
        ode_fun(x, tmp, k3);
        for ((t, &yi), &k) in tmp.iter_mut().zip(&*y).zip(&*k3) {
            *t = yi + h * k;
        }
        ode_fun(x, tmp, k4);
        for i in 0..y.len() {
            y[i] = y[i] + h * (k1[i] + two * k2[i] + two * k3[i] + k4[i]) / six;
        }
    }
}

/// `y(2)` after `s` steps.
pub fn primal<T: Float>(x: &[T], s: usize) -> Vec<T> {
    let h = T::from(2.0).unwrap() / T::from(s as f64).unwrap();
    let mut y = vec![T::zero(); x.len()];
    let mut stages = Stages::new(x.len());
    for _ in 0..s {
        stages.step(x, &mut y, h);
    }
    y
}

/// Elements per recording of a step's reverse sweep: small, so that the blocks skipped
/// (zero output adjoints) cover most of a step, and the tape of a block stays in cache.
const BLOCK: usize = 64;

/// The buffers of the gradient, kept across runs so that a run allocates nothing.
#[derive(Default)]
pub struct Gradient {
    tape: Tape,
    /// The state before each step, step after step.
    states: Vec<f64>,
    /// For each step, the first element of its input state that is kept, and where
    /// that part starts in `states`.
    kept: Vec<usize>,
    offsets: Vec<usize>,
    y: Vec<f64>,
    stages: Option<Stages<f64>>,
    xs: Vec<Var>,
    ys: Vec<Var>,
    s1: Vec<Var>,
    s2: Vec<Var>,
    s3: Vec<Var>,
    seeds: Vec<(Var, f64)>,
    adj: Option<Adjoints>,
    ybar: Vec<f64>,
    ybar_next: Vec<f64>,
    /// The gradient of the last run.
    pub out: Vec<f64>,
}

impl Gradient {
    /// The gradient of `y(2)ₙ₋₁` with respect to `x`; left in `out`.
    ///
    /// The states before each step are computed on `f64` and kept; the steps are then
    /// recorded and swept from the last, each a block of elements at a time, seeded with
    /// the adjoint of the step's output and adding into the adjoints of its input state
    /// and of `x`. Element `i` of a step's output depends on elements `i − 4..=i` of its
    /// input, through the stage values: each stage value `yᵢ + c·h·xᵢ·sᵢ₋₁` and each
    /// output `yᵢ + h(k₁ + 2k₂ + 2k₃ + k₄)/6` (`kⱼ = xᵢ·sⱼ₋₁,ᵢ₋₁`) is one statement, its
    /// partials `preaccumulate`d in forward mode: 4 statements and 15 operands per element.
    /// A block records the few stage values before it that its first outputs need.
    ///
    /// A block whose output adjoints are all zero contributes nothing and is not
    /// recorded: the adjoint of the one output component spreads by four elements a step,
    /// so a step back records the blocks from the first nonzero adjoint on, and only the
    /// part of each state those blocks read is kept (the whole state is still computed).
    pub fn run(&mut self, x: &[f64], s: usize) {
        let n = x.len();
        let h = 2.0 / s as f64;
        let Gradient {
            tape,
            states,
            kept,
            offsets,
            y: state,
            stages,
            xs,
            ys,
            s1,
            s2,
            s3,
            seeds,
            adj,
            ybar,
            ybar_next,
            out,
        } = self;
        let stages = match stages {
            Some(st) if st.k1.len() == n => st,
            _ => stages.insert(Stages::new(n)),
        };
        // The part of each step's input state that the reverse sweep reads: blocks are
        // recorded from the first one holding a nonzero output adjoint, and read the
        // state from four elements before that block. The adjoint starts as the last
        // component alone, and each step back moves its first nonzero element at most to
        // there; only that part of each state is kept.
        kept.clear();
        kept.resize(s, 0);
        let mut first = n - 1;
        for k in (0..s).rev() {
            first = (first / BLOCK * BLOCK).saturating_sub(4);
            kept[k] = first;
        }
        state.clear();
        state.resize(n, 0.0);
        states.clear();
        offsets.clear();
        for k in 0..s {
            offsets.push(states.len());
            states.extend_from_slice(&state[kept[k]..]);
            if k + 1 < s {
                stages.step(x, state, h);
            }
        }
        ybar.clear();
        ybar.resize(n, 0.0);
        ybar[n - 1] = 1.0;
        ybar_next.clear();
        ybar_next.resize(n, 0.0);
        out.clear();
        out.resize(n, 0.0);
        let mut first = n - 1;
        for k in (0..s).rev() {
            // `y[i - base]` is element i of the state before step k.
            let base = kept[k];
            let y = &states[offsets[k]..offsets[k] + n - base];
            let start = first / BLOCK * BLOCK;
            debug_assert!(start.saturating_sub(4) >= base);
            ybar_next[start.saturating_sub(4)..].fill(0.0);
            for a in (start..n).step_by(BLOCK) {
                let b = (a + BLOCK).min(n);
                if ybar[a..b].iter().all(|&v| v == 0.0) {
                    continue;
                }
                // Stage values from `lo` (three before the block), state from `ylo`.
                let lo = a.saturating_sub(3);
                let ylo = lo.saturating_sub(1);
                tape.clear();
                xs.clear();
                ys.clear();
                tape.record(|rec| {
                    rec.inputs_into(&x[lo..b], xs);
                    rec.inputs_into(&y[ylo - base..b - base], ys);
                    let yv = |i: usize| ys[i - ylo];
                    let zero = Var::constant(0.0);
                    for v in [&mut *s1, &mut *s2, &mut *s3] {
                        v.clear();
                        v.resize(b - lo, zero);
                    }
                    for i in lo..b {
                        let (yi, xi) = (yv(i), xs[i - lo]);
                        if i == 0 {
                            // k = x₀ at every stage.
                            let [a1, a2, a3] = retrograd::preaccumulate([yi, xi], |[y, x]| {
                                [y + x * h / 2.0, y + x * h / 2.0, y + x * h]
                            });
                            (s1[0], s2[0], s3[0]) = (a1, a2, a3);
                            continue;
                        }
                        let j = i - lo;
                        let stage = |m: Var, c: f64| {
                            let [v] = retrograd::preaccumulate([yi, xi, m], |[y, x, m]| {
                                [y + x * m * h / c]
                            });
                            v
                        };
                        s1[j] = stage(yv(i - 1), 2.0);
                        if i > lo || lo == 0 {
                            s2[j] = stage(s1[j - 1], 2.0);
                        }
                        if i > lo + 1 || lo == 0 {
                            s3[j] = stage(s2[j - 1], 1.0);
                        }
                    }
                    // `stage` divides by `c` = 1 for the third stage: `h·k₃` exactly.
                    seeds.clear();
                    for i in a..b {
                        let j = i - lo;
                        let (yi, xi) = (yv(i), xs[j]);
                        let yn = if i == 0 {
                            let [v] = retrograd::preaccumulate([yi, xi], |[y, x]| {
                                [y + (x + x * 2.0 + x * 2.0 + x) * h / 6.0]
                            });
                            v
                        } else {
                            let args = [yi, xi, yv(i - 1), s1[j - 1], s2[j - 1], s3[j - 1]];
                            let [v] = retrograd::preaccumulate(args, |[y, x, m0, m1, m2, m3]| {
                                let (k1, k2, k3, k4) = (x * m0, x * m1, x * m2, x * m3);
                                [y + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * h / 6.0]
                            });
                            v
                        };
                        if ybar[i] != 0.0 {
                            seeds.push((yn, ybar[i]));
                        }
                    }
                });
                let adj = adj.get_or_insert_with(|| tape.adjoints(&[]));
                tape.adjoints_into(seeds, adj);
                let values = adj.values();
                for (o, v) in out[lo..b].iter_mut().zip(xs.iter()) {
                    *o += values[v.index() as usize];
                }
                for (o, v) in ybar_next[ylo..b].iter_mut().zip(ys.iter()) {
                    *o += values[v.index() as usize];
                }
            }
            std::mem::swap(ybar, ybar_next);
            let from = start.saturating_sub(4);
            match ybar[from..].iter().position(|&v| v != 0.0) {
                Some(i) => first = from + i,
                // A zero adjoint: the earlier steps contribute nothing.
                None => break,
            }
        }
    }
}

/// The gradient of `y(2)ₙ₋₁` with respect to `x` (see [`Gradient::run`]).
pub fn gradient(x: &[f64], s: usize) -> Vec<f64> {
    let mut g = Gradient::default();
    g.run(x, s);
    g.out
}

/// The straightforward gradient: the last component of [`primal`] differentiated by
/// `retrograd::grad` (the whole solve on one tape, every element of every step recorded:
/// 10.6 statements, 21 operands per element and step).
pub fn straightforward_gradient(x: &[f64], s: usize) -> Vec<f64> {
    retrograd::grad(|v| primal(v, s)[v.len() - 1], x)
}

/// Evaluates `primal` or `gradient`.
pub fn evaluate(function: &str, input: &str, style: Style) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    if input.x.is_empty() || input.s == 0 {
        return Err("x is empty or s is 0".into());
    }
    match (function, style) {
        ("primal", _) => timed(input.runs(), || primal(&input.x, input.s)),
        ("gradient", Style::Straightforward) => {
            timed(input.runs(), || straightforward_gradient(&input.x, input.s))
        }
        ("gradient", Style::Tuned) => timed_in_place(
            input.runs(),
            &mut Gradient::default(),
            |g| g.run(&input.x, input.s),
            |g| json::to_vec(&g.out),
        ),
        _ => unknown(function),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evals::testing::assert_matches_fd;

    #[test]
    fn gradient_matches_finite_differences() {
        let x = [0.7, 0.2, 0.9, 0.4, 0.6];
        for s in [1, 3] {
            let g = gradient(&x, s);
            assert_matches_fd(|x| *primal(x, s).last().unwrap(), &x, &g, 1e-7);
        }
    }

    #[test]
    fn blocks_agree_with_one_plain_recording() {
        // Several blocks; the adjoint covers part of the state (1, 7, 60 steps), then all
        // of it (150 steps).
        let n = 8 * BLOCK + 37;
        let x: Vec<f64> = (0..n).map(|i| 0.5 + 0.4 * (i as f64 * 0.7).sin()).collect();
        let mut g = Gradient::default();
        for s in [1, 7, 60, 150] {
            g.run(&x, s);
            let expected = straightforward_gradient(&x, s);
            for (i, (a, b)) in g.out.iter().zip(&expected).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                    "s = {s}, x[{i}]: {a} vs {b}"
                );
            }
        }
    }

    /// At GradBench's sizes (n ≥ 1000) `y(2)ₙ₋₁ ≈ Πxᵢ·2ⁿ/n!` underflows, and so does
    /// every entry of its gradient: there both versions answer zeros and the eval's
    /// validation checks nothing. Here `n` is small enough (and `x` large enough) for a
    /// gradient of order one, every entry non-zero, checked against central differences
    /// relative to its largest entry.
    #[test]
    fn nonzero_gradient_matches_finite_differences_in_both_styles() {
        // A step carries information four elements along: `4s ≥ n` for yₙ₋₁ to depend on
        // every xᵢ.
        for (n, s) in [(12, 3), (30, 10), (70, 40), (2 * BLOCK + 5, 40)] {
            let x: Vec<f64> = (0..n).map(|i| 2.0 + 0.8 * (i as f64 * 0.9).sin()).collect();
            // yᵢ is homogeneous of degree i + 1 in x (every stage too): scaled by c,
            // yₙ₋₁ scales by cⁿ; c is chosen to make it about one.
            let c = primal(&x, s)[n - 1].abs().powf(-1.0 / n as f64);
            let x: Vec<f64> = x.iter().map(|v| v * c).collect();
            let f = |x: &[f64]| primal(x, s)[n - 1];
            assert!((f(&x).abs() - 1.0).abs() < 1e-9, "n = {n}: {}", f(&x));
            let fd = retrograd::gradcheck::finite_difference(f, &x);
            let scale = fd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (style, g) in [
                ("tuned", gradient(&x, s)),
                ("straightforward", straightforward_gradient(&x, s)),
            ] {
                for (i, (a, d)) in g.iter().zip(&fd).enumerate() {
                    assert!(*a != 0.0, "{style}, n = {n}, s = {s}: entry {i} is zero");
                    assert!(
                        (a - d).abs() <= 1e-6 * scale,
                        "{style}, n = {n}, s = {s}, x[{i}]: AD {a:e}, FD {d:e}"
                    );
                }
            }
        }
    }
}
