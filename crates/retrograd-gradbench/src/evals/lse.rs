//! `lse`: LogSumExp with the max trick, `a + ln Σ exp(xᵢ − a)` where `a = max x`, and its
//! gradient.

use super::{input_with_runs, max_element, timed, unknown};
use crate::protocol::Evaluated;
use num_traits::Float;
use retrograd::{Tape, Var};

input_with_runs! {
    /// The `lse` input.
    pub struct Input {
        /// The vector.
        pub x: Vec<f64>,
    }
}

/// LogSumExp of `x`, on any number type.
pub fn primal<T: Float>(x: &[T]) -> T {
    let a = max_element(x);
    let mut s = T::zero();
    for &v in x {
        s = s + (v - a).exp();
    }
    a + s.ln()
}

/// The gradient of LogSumExp, recorded on `tape`.
///
/// The maximum is the chosen input variable itself (no statement); the sum is one
/// statement with an operand per term, its local derivatives taken in forward mode over
/// the pairs `(xᵢ, a)`.
pub fn gradient(tape: &mut Tape, x: &[f64]) -> Vec<f64> {
    tape.clear();
    let (xs, y) = tape.record(|rec| {
        let xs = rec.inputs(x);
        let a = max_element(&xs);
        let pairs: Vec<Var> = xs.iter().flat_map(|&v| [v, a]).collect();
        let s = retrograd::sum_map_chunks(&pairs, |[v, a]| (v - a).exp());
        (xs, a + s.ln())
    });
    tape.gradient(y).wrt_all(&xs)
}

/// Evaluates `primal` or `gradient`.
pub fn evaluate(function: &str, input: &str) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    if input.x.is_empty() {
        return Err("x is empty".into());
    }
    match function {
        "primal" => timed(input.runs(), || primal(&input.x)),
        "gradient" => {
            let mut tape = Tape::new();
            timed(input.runs(), || gradient(&mut tape, &input.x))
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
        let x = [0.3, -1.2, 2.5, 2.4, 0.0];
        let g = gradient(&mut Tape::new(), &x);
        assert_matches_fd(primal, &x, &g, 1e-7);
        assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
