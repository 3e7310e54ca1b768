//! `llsq`: the linear least squares objective `½ Σᵢ (sᵢ − Σⱼ xⱼ tᵢʲ)²` with
//! `tᵢ = −1 + 2i/(n − 1)`, `sᵢ = sign(tᵢ)`, and its gradient.

use super::{input_with_runs, timed, unknown};
use crate::protocol::Evaluated;
use num_traits::Float;
use retrograd::{Tape, Var};

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

/// The gradient, recorded on `tape`. The objective is a sum of independent terms: each
/// term is recorded (its inner sum as one `dot` statement with one operand per
/// coefficient), swept into the accumulated adjoints and dropped, so the tape stays the
/// size of one term.
pub fn gradient(tape: &mut Tape, x: &[f64], n: usize) -> Vec<f64> {
    tape.clear();
    let m = x.len();
    tape.record(|rec| {
        let mut vars = rec.inputs(x);
        vars.push(Var::constant(1.0));
        let mut coef = vec![Var::constant(0.0); m + 1];
        let mut adj = rec.adjoints();
        for i in 0..n {
            let ti = t(i, n);
            let mut mul = 1.0;
            for c in &mut coef[..m] {
                *c = Var::constant(-mul);
                mul *= ti;
            }
            coef[m] = Var::constant(s(ti));
            let mark = rec.mark();
            let inner = retrograd::dot(&vars, &coef);
            let term = inner * inner * 0.5;
            rec.sweep_and_reset(mark, &[(term, 1.0)], &mut adj);
        }
        adj.wrt_all(&vars[..m])
    })
}

/// Evaluates `primal` or `gradient`.
pub fn evaluate(function: &str, input: &str) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    match function {
        "primal" => timed(input.runs(), || primal(&input.x, input.n)),
        "gradient" => {
            let mut tape = Tape::new();
            timed(input.runs(), || gradient(&mut tape, &input.x, input.n))
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
        let x = [0.3, -0.2, 0.5, 0.1];
        let g = gradient(&mut Tape::new(), &x, 9);
        assert_matches_fd(|x| primal(x, 9), &x, &g, 1e-6);
    }
}
