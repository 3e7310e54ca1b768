//! `ode`: `s` steps of classical Runge–Kutta on `y₀' = x₀`, `yᵢ' = xᵢ·yᵢ₋₁` from `y(0) = 0`
//! to `t = 2`, and the gradient of the last component of `y(2)` with respect to `x`.

use super::{input_with_runs, timed, unknown};
use crate::protocol::Evaluated;
use num_traits::Float;
use retrograd::{Tape, Var};

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

/// One Runge–Kutta step of size `h` from `y`, on any number type.
pub fn step<T: Float>(x: &[T], y: &[T], h: T) -> Vec<T> {
    let n = x.len();
    let two = T::from(2.0).unwrap();
    let six = T::from(6.0).unwrap();
    let (mut k1, mut k2, mut k3, mut k4) = (
        vec![T::zero(); n],
        vec![T::zero(); n],
        vec![T::zero(); n],
        vec![T::zero(); n],
    );
    let mut tmp = vec![T::zero(); n];
    ode_fun(x, y, &mut k1);
    for i in 0..n {
        tmp[i] = y[i] + h * k1[i] / two;
    }
    ode_fun(x, &tmp, &mut k2);
    for i in 0..n {
        tmp[i] = y[i] + h * k2[i] / two;
    }
    ode_fun(x, &tmp, &mut k3);
    for i in 0..n {
        tmp[i] = y[i] + h * k3[i];
    }
    ode_fun(x, &tmp, &mut k4);
    (0..n)
        .map(|i| y[i] + h * (k1[i] + two * k2[i] + two * k3[i] + k4[i]) / six)
        .collect()
}

/// `y(2)` after `s` steps.
pub fn primal<T: Float>(x: &[T], s: usize) -> Vec<T> {
    let h = T::from(2.0).unwrap() / T::from(s as f64).unwrap();
    let mut y = vec![T::zero(); x.len()];
    for _ in 0..s {
        y = step(x, &y, h);
    }
    y
}

/// One step on the tape, each new value one statement: the stage values `yᵢ + c·kᵢ` and
/// the update `yᵢ + h(k₁ + 2k₂ + 2k₃ + k₄)/6` as `dot`s with constant weights.
fn step_on_tape(x: &[Var], y: &[Var], h: f64) -> Vec<Var> {
    let n = x.len();
    let stage = |y: &[Var], k: &[Var], c: f64| -> Vec<Var> {
        let w = [Var::constant(1.0), Var::constant(c)];
        (0..n).map(|i| retrograd::dot(&[y[i], k[i]], &w)).collect()
    };
    let f = |v: &[Var]| -> Vec<Var> {
        let mut z = Vec::with_capacity(n);
        z.push(x[0]);
        z.extend((1..n).map(|i| x[i] * v[i - 1]));
        z
    };
    let k1 = f(y);
    let k2 = f(&stage(y, &k1, h / 2.0));
    let k3 = f(&stage(y, &k2, h / 2.0));
    let k4 = f(&stage(y, &k3, h));
    let w = [1.0, h / 6.0, h / 3.0, h / 3.0, h / 6.0].map(Var::constant);
    (0..n)
        .map(|i| retrograd::dot(&[y[i], k1[i], k2[i], k3[i], k4[i]], &w))
        .collect()
}

/// The gradient of `y(2)ₙ₋₁` with respect to `x`. The states before each step are kept
/// (one vector per step, computed on `f64`); the steps are then recorded and swept one
/// at a time from the last, so the tape holds a single step.
pub fn gradient(tape: &mut Tape, x: &[f64], s: usize) -> Vec<f64> {
    let n = x.len();
    let h = 2.0 / s as f64;
    let mut states = Vec::with_capacity(s);
    let mut y = vec![0.0; n];
    for k in 0..s {
        if k + 1 < s {
            let next = step(x, &y, h);
            states.push(std::mem::replace(&mut y, next));
        } else {
            states.push(std::mem::take(&mut y));
        }
    }
    let mut ybar = vec![0.0; n];
    ybar[n - 1] = 1.0;
    let mut xbar = vec![0.0; n];
    let mut seeds = Vec::with_capacity(n);
    for state in states.iter().rev() {
        tape.clear();
        let (xs, ys, out) = tape.record(|rec| {
            let xs = rec.inputs(x);
            let ys = rec.inputs(state);
            let out = step_on_tape(&xs, &ys, h);
            (xs, ys, out)
        });
        seeds.clear();
        seeds.extend(
            out.iter()
                .zip(&ybar)
                .filter(|(_, &b)| b != 0.0)
                .map(|(&v, &b)| (v, b)),
        );
        let adj = tape.adjoints(&seeds);
        for i in 0..n {
            xbar[i] += adj.wrt(xs[i]);
            ybar[i] = adj.wrt(ys[i]);
        }
    }
    xbar
}

/// Evaluates `primal` or `gradient`.
pub fn evaluate(function: &str, input: &str) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    if input.x.is_empty() || input.s == 0 {
        return Err("x is empty or s is 0".into());
    }
    match function {
        "primal" => timed(input.runs(), || primal(&input.x, input.s)),
        "gradient" => {
            let mut tape = Tape::new();
            timed(input.runs(), || gradient(&mut tape, &input.x, input.s))
        }
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
            let g = gradient(&mut Tape::new(), &x, s);
            assert_matches_fd(|x| *primal(x, s).last().unwrap(), &x, &g, 1e-7);
        }
    }
}
