//! `saddle`: `min_x max_y f(x, y)` with `f = (x₁² + x₂²) − (y₁² + y₂²)`, both by gradient
//! descent from the same start; the outer gradient is taken through the whole inner
//! `max` (its gradient descent loop included). Four functions `ff`, `fr`, `rf`, `rr`
//! name the outer then the inner mode; see [`crate::nested`].

use super::{unknown, Style};
use crate::nested::{outer_forward, outer_reverse, Fn2, Forward, Lift, Mode, Reverse};
use crate::protocol::Evaluated;
use crate::runs::Runs;
use retrograd::{Dual, Real, Var};
use serde::Deserialize;

/// The `saddle` input.
#[derive(Clone, Debug, Deserialize)]
pub struct Input {
    /// The start of every gradient descent.
    pub start: [f64; 2],
    /// Evaluate at least this many times.
    #[serde(default = "super::one")]
    pub min_runs: u64,
    /// Evaluate until the runs add up to this many seconds.
    #[serde(default)]
    pub min_seconds: f64,
}

/// `f(x, y) = (x₁² + x₂²) − (y₁² + y₂²)`: the eval's `(x₁² + y₁²) − (x₂² + y₂²)` with its
/// arguments ordered as the reference passes them (the point being minimised over
/// first, the one maximised over second).
pub fn f<T: Real>(x1: T, x2: T, y1: T, y2: T) -> T {
    (x1 * x1 + x2 * x2) - (y1 * y1 + y2 * y2)
}

/// `f(x, ·)` for fixed `x`.
struct AtX<T>([T; 2]);

impl<T: Real> Fn2<T> for AtX<T> {
    fn eval<U: Lift<T>>(&self, y: [U; 2]) -> U {
        f(U::lift(self.0[0]), U::lift(self.0[1]), y[0], y[1])
    }
}

/// `max_y f(x, y)` by gradient ascent from `start`, the gradient by the inner mode `M`.
pub fn max_over_y<T: Real, M: Mode<T>>(x: [T; 2], start: [f64; 2]) -> T {
    let g = AtX(x);
    let s = [T::from_f64(start[0]), T::from_f64(start[1])];
    let y = crate::gd::argmax(
        |y: &[T]| f(x[0], x[1], y[0], y[1]),
        |y: &[T]| M::grad(&g, [y[0], y[1]]).to_vec(),
        &s,
    );
    f(x[0], x[1], y[0], y[1])
}

/// The saddle point `(x, y)`: `x` minimises `max_y f(x, ·)` with outer gradient `outer`,
/// then `y` maximises `f(x, ·)` with the gradient from the outer mode too.
fn solve<M: Mode<f64>>(
    start: [f64; 2],
    outer: impl Fn(&[f64]) -> Vec<f64>,
    grad_y: impl Fn([f64; 2], &[f64]) -> Vec<f64>,
) -> Vec<f64> {
    let x = crate::gd::argmin(
        |x: &[f64]| max_over_y::<f64, M>([x[0], x[1]], start),
        outer,
        &start,
    );
    let at = [x[0], x[1]];
    let y = crate::gd::argmax(
        |y: &[f64]| f(at[0], at[1], y[0], y[1]),
        |y: &[f64]| grad_y(at, y),
        &start,
    );
    vec![x[0], x[1], y[0], y[1]]
}

fn fwd_grad_y(x: [f64; 2], y: &[f64]) -> Vec<f64> {
    outer_forward(
        |v| f(Dual::constant(x[0]), Dual::constant(x[1]), v[0], v[1]),
        y,
    )
}

fn rev_grad_y(x: [f64; 2], y: &[f64]) -> Vec<f64> {
    retrograd::grad(
        |v| f(Var::constant(x[0]), Var::constant(x[1]), v[0], v[1]),
        y,
    )
}

/// `ff`, `fr`, `rf` or `rr` from `start`.
pub fn run(function: &str, s: [f64; 2]) -> Option<Vec<f64>> {
    Some(match function {
        "ff" => solve::<Forward>(
            s,
            |x| outer_forward(|v| max_over_y::<Dual<f64>, Forward>([v[0], v[1]], s), x),
            fwd_grad_y,
        ),
        "fr" => solve::<Reverse>(
            s,
            |x| outer_forward(|v| max_over_y::<Dual<f64>, Reverse>([v[0], v[1]], s), x),
            fwd_grad_y,
        ),
        "rf" => solve::<Forward>(
            s,
            |x| outer_reverse(|v| max_over_y::<Var<f64>, Forward>([v[0], v[1]], s), x),
            rev_grad_y,
        ),
        "rr" => solve::<Reverse>(
            s,
            |x| outer_reverse(|v| max_over_y::<Var<f64>, Reverse>([v[0], v[1]], s), x),
            rev_grad_y,
        ),
        _ => return None,
    })
}

/// Evaluates `ff`, `fr`, `rf` or `rr`. The nested derivatives are the straightforward
/// form already (generic code on `Dual` and `Var`, plain recordings and sweeps), so both
/// styles run them.
pub fn evaluate(function: &str, input: &str, _style: Style) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    if run(function, input.start).is_none() {
        return unknown(function);
    }
    let runs = Runs {
        min_runs: input.min_runs,
        min_seconds: input.min_seconds,
    };
    super::timed(runs, || run(function, input.start).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outer_gradient_matches_finite_differences_in_all_modes() {
        let s = [1.0, 1.0];
        let x = [0.3, -0.2];
        let fd = retrograd::gradcheck::finite_difference(
            |v| max_over_y::<f64, Forward>([v[0], v[1]], s),
            &x,
        );
        let ff = outer_forward(|v| max_over_y::<Dual<f64>, Forward>([v[0], v[1]], s), &x);
        let fr = outer_forward(|v| max_over_y::<Dual<f64>, Reverse>([v[0], v[1]], s), &x);
        let rf = outer_reverse(|v| max_over_y::<Var<f64>, Forward>([v[0], v[1]], s), &x);
        let rr = outer_reverse(|v| max_over_y::<Var<f64>, Reverse>([v[0], v[1]], s), &x);
        for g in [ff, fr, rf, rr] {
            for (a, b) in g.iter().zip(&fd) {
                assert!((a - b).abs() < 1e-4, "{g:?} vs {fd:?}");
            }
        }
    }

    #[test]
    fn all_modes_find_the_saddle() {
        for m in ["ff", "fr", "rf", "rr"] {
            let r = run(m, [1.0, 1.0]).unwrap();
            assert!(r.iter().all(|v| v.abs() < 1e-4), "{m}: {r:?}");
        }
    }
}
