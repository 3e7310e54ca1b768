//! `llsq`: the linear least squares objective `½ Σᵢ (sᵢ − Σⱼ xⱼ tᵢʲ)²` with
//! `tᵢ = −1 + 2i/(n − 1)`, `sᵢ = sign(tᵢ)`, and its gradient.

use super::{input_with_runs, timed, timed_in_place, unknown, Style};
use crate::json;
use crate::protocol::Evaluated;
use num_traits::Float;
use retrograd::{Adjoints, Tape, Var};

input_with_runs! {
    /// The `llsq` input.
    pub struct Input {
        /// The coefficients.
        pub x: Vec<f64>,
        /// The number of sample points.
        pub n: usize,
    }
}

/// `tᵢ = −1 + 2i/(n − 1)`.
pub fn t(i: usize, n: usize) -> f64 {
    -1.0 + i as f64 * 2.0 / (n as f64 - 1.0)
}

/// `sign(t)`, zero at zero.
pub fn s(t: f64) -> f64 {
    (0.0 < t) as i32 as f64 - (t < 0.0) as i32 as f64
}

/// The objective on any number type.
pub fn primal<T: Float>(x: &[T], n: usize) -> T {
    let mut sum = T::zero();
    for i in 0..n {
        let ti = t(i, n);
        let mut inner = T::from(s(ti)).unwrap();
        let mut mul = 1.0;
        for &xj in x {
            inner = inner - xj * T::from(mul).unwrap();
            mul *= ti;
        }
        sum = sum + inner * inner;
    }
    sum / T::from(2.0).unwrap()
}

/// Terms recorded between two sweeps. Their coefficient rows `−tᵢʲ` are computed
/// together, `B` independent chains of multiplications instead of one (the same products
/// in the same order, so the same values).
const B: usize = 4;

/// The buffers of the gradient, kept across runs so that a run allocates nothing.
#[derive(Default)]
pub struct Gradient {
    tape: Tape,
    vars: Vec<Var>,
    coef: Vec<[f64; B]>,
    row: Vec<f64>,
    seeds: Vec<(Var, f64)>,
    adj: Option<Adjoints>,
    /// The gradient of the last run.
    pub out: Vec<f64>,
}

impl Gradient {
    /// The gradient of the objective; left in `out`. The objective is a sum of
    /// independent terms: `B` terms at a time are recorded (each one's inner sum as one
    /// `weighted_sum` statement with one operand per coefficient), swept into the accumulated
    /// adjoints and dropped, so the tape stays the size of a few terms.
    pub fn run(&mut self, x: &[f64], n: usize) {
        let Gradient {
            tape,
            vars,
            coef,
            row,
            seeds,
            adj,
            out,
        } = self;
        tape.clear();
        vars.clear();
        let m = x.len();
        coef.resize(m + 1, [0.0; B]);
        row.resize(m + 1, 0.0);
        tape.record(|rec| rec.inputs_into(x, vars));
        vars.push(Var::constant(1.0));
        // Binds the kept adjoint buffer to this recording (a sweep of the inputs alone).
        let adj = adj.get_or_insert_with(|| tape.adjoints(&[]));
        tape.adjoints_into(&[], adj);
        tape.record(|rec| {
            let mut i0 = 0;
            while i0 < n {
                let b = B.min(n - i0);
                let ts: [f64; B] = std::array::from_fn(|k| if k < b { t(i0 + k, n) } else { 0.0 });
                let mut mul = [1.0; B];
                for c in &mut coef[..m] {
                    for k in 0..B {
                        c[k] = -mul[k];
                        mul[k] *= ts[k];
                    }
                }
                coef[m] = ts.map(s);
                let mark = rec.mark();
                seeds.clear();
                for k in 0..b {
                    for (r, c) in row.iter_mut().zip(coef.iter()) {
                        *r = c[k];
                    }
                    let inner = retrograd::weighted_sum(row, vars);
                    seeds.push((inner * inner * 0.5, 1.0));
                }
                rec.sweep_and_reset(mark, seeds, adj);
                i0 += b;
            }
        });
        // The inputs are the first statements of the cleared tape, in order.
        debug_assert!(vars[..m]
            .iter()
            .enumerate()
            .all(|(i, v)| v.index() as usize == i));
        out.clear();
        out.extend_from_slice(&adj.values()[..m]);
    }
}

/// The gradient of the objective (see [`Gradient::run`]).
pub fn gradient(x: &[f64], n: usize) -> Vec<f64> {
    let mut g = Gradient::default();
    g.run(x, n);
    g.out
}

/// The straightforward gradient: [`primal`] differentiated by `retrograd::grad` (the whole
/// sum on one tape: one statement, 2 operands per term, the product by `tᵢʲ` merged).
pub fn straightforward_gradient(x: &[f64], n: usize) -> Vec<f64> {
    retrograd::grad(|v| primal(v, n), x)
}

/// Evaluates `primal` or `gradient`.
pub fn evaluate(function: &str, input: &str, style: Style) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    match (function, style) {
        ("primal", _) => timed(input.runs(), || primal(&input.x, input.n)),
        ("gradient", Style::Straightforward) => {
            timed(input.runs(), || straightforward_gradient(&input.x, input.n))
        }
        ("gradient", Style::Tuned) => timed_in_place(
            input.runs(),
            &mut Gradient::default(),
            |g| g.run(&input.x, input.n),
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
        let x = [0.3, -0.2, 0.5, 0.1];
        // 9 terms: two full blocks and a partial one.
        let g = gradient(&x, 9);
        assert_matches_fd(|x| primal(x, 9), &x, &g, 1e-6);
        let mut again = Gradient::default();
        for _ in 0..3 {
            again.run(&x, 9);
            assert_eq!(again.out, g);
        }
        let plain = straightforward_gradient(&x, 9);
        assert_matches_fd(|x| primal(x, 9), &x, &plain, 1e-6);
    }

    #[test]
    fn straightforward_equals_tuned() {
        let x: Vec<f64> = (0..12).map(|j| 0.3 * (j as f64 * 1.3).sin()).collect();
        for n in [2, 7, 130] {
            let (tuned, plain) = (gradient(&x, n), straightforward_gradient(&x, n));
            for (a, b) in tuned.iter().zip(&plain) {
                assert!(
                    (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                    "n = {n}: {a} vs {b}"
                );
            }
        }
    }
}
