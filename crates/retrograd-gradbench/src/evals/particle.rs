//! `particle`: a charged particle's trajectory (explicit Euler, the force the gradient of
//! a potential, an inner derivative) and the control `w` that makes it hit the origin,
//! found by gradient descent on `x₀(t_f)²` (an outer derivative through the whole
//! trajectory). Four functions: `ff`, `fr`, `rf`, `rr`, naming the outer then the inner
//! mode (forward or reverse); see [`crate::nested`].

use super::{unknown, Style};
use crate::nested::{outer_forward_1, outer_reverse, Fn2, Forward, Lift, Mode, Reverse};
use crate::protocol::Evaluated;
use crate::runs::Runs;
use retrograd::{Dual, Real, Var};
use serde::Deserialize;

/// The `particle` input.
#[derive(Clone, Debug, Deserialize)]
pub struct Input {
    /// The starting control.
    pub w: f64,
    /// Evaluate at least this many times.
    #[serde(default = "super::one")]
    pub min_runs: u64,
    /// Evaluate until the runs add up to this many seconds.
    #[serde(default)]
    pub min_seconds: f64,
}

/// The potential `‖x − (10, 10 − w)‖⁻¹ + ‖x − (10, 0)‖⁻¹` as a function of `x`.
struct Potential<T>(T);

impl<T: Real> Fn2<T> for Potential<T> {
    fn eval<U: Lift<T>>(&self, x: [U; 2]) -> U {
        let ten = U::from_f64(10.0);
        let charges = [(ten, ten - U::lift(self.0)), (ten, U::zero())];
        let mut p = U::zero();
        for (cx, cy) in charges {
            let d = ((x[0] - cx) * (x[0] - cx) + (x[1] - cy) * (x[1] - cy)).sqrt();
            p += U::one() / d;
        }
        p
    }
}

/// `x₀(t_f)²` for control `w`: Euler steps of `Δt = 0.1` from `x = (0, 8)`,
/// `ẋ = (0.75, 0)` with acceleration `−∇ₓp` (by the inner mode `M`) until the next
/// position would cross the x axis, then linear interpolation to it.
pub fn miss<T: Real, M: Mode<T>>(w: T) -> T {
    let dt = T::from_f64(0.1);
    let (mut x1, mut x2) = (T::zero(), T::from_f64(8.0));
    let (mut v1, mut v2) = (T::from_f64(0.75), T::zero());
    for _ in 0..1_000_000 {
        let [d1, d2] = M::grad(&Potential(w), [x1, x2]);
        let (n1, n2, nv1, nv2) = (x1 + dt * v1, x2 + dt * v2, v1 - dt * d1, v2 - dt * d2);
        if n2 < T::zero() {
            break;
        }
        (x1, x2, v1, v2) = (n1, n2, nv1, nv2);
    }
    let dt_f = -x2 / v2;
    let x1_f = x1 + dt_f * v1;
    x1_f * x1_f
}

/// The optimal control from `w0`, the outer derivative by `outer`, the inner by `M`.
fn solve<M: Mode<f64>>(w0: f64, outer: impl Fn(f64) -> f64) -> f64 {
    crate::gd::argmin(
        |w: &[f64]| miss::<f64, M>(w[0]),
        |w: &[f64]| vec![outer(w[0])],
        &[w0],
    )[0]
}

/// `ff`, `fr`, `rf` or `rr` from `w0`.
pub fn run(function: &str, w0: f64) -> Option<f64> {
    Some(match function {
        "ff" => solve::<Forward>(w0, |w| outer_forward_1(miss::<Dual<f64>, Forward>, w)),
        "fr" => solve::<Reverse>(w0, |w| outer_forward_1(miss::<Dual<f64>, Reverse>, w)),
        "rf" => solve::<Forward>(w0, |w| {
            outer_reverse(|v| miss::<Var<f64>, Forward>(v[0]), &[w])[0]
        }),
        "rr" => solve::<Reverse>(w0, |w| {
            outer_reverse(|v| miss::<Var<f64>, Reverse>(v[0]), &[w])[0]
        }),
        _ => return None,
    })
}

/// Evaluates `ff`, `fr`, `rf` or `rr`. The nested derivatives are the straightforward
/// form already (generic code on `Dual` and `Var`, plain recordings and sweeps), so both
/// styles run them.
pub fn evaluate(function: &str, input: &str, _style: Style) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    if run(function, input.w).is_none() {
        return unknown(function);
    }
    let runs = Runs {
        min_runs: input.min_runs,
        min_seconds: input.min_seconds,
    };
    super::timed(runs, || run(function, input.w).unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outer_derivative_matches_finite_differences_in_all_modes() {
        let w = 0.1;
        let fd = retrograd::gradcheck::finite_difference(|v| miss::<f64, Forward>(v[0]), &[w])[0];
        let ff = outer_forward_1(miss::<Dual<f64>, Forward>, w);
        let fr = outer_forward_1(miss::<Dual<f64>, Reverse>, w);
        let rf = outer_reverse(|v| miss::<Var<f64>, Forward>(v[0]), &[w])[0];
        let rr = outer_reverse(|v| miss::<Var<f64>, Reverse>(v[0]), &[w])[0];
        for d in [ff, fr, rf, rr] {
            assert!((d - fd).abs() < 1e-6 * fd.abs().max(1.0), "{d} vs {fd}");
        }
    }
}
