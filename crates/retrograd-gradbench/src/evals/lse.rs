//! `lse`: LogSumExp with the max trick, `a + ln Σ exp(xᵢ − a)` where `a = max x`, and its
//! gradient.

use super::{input_with_runs, max_element, timed, timed_in_place, unknown, Style};
use crate::json;
use crate::protocol::Evaluated;
use num_traits::Float;
use retrograd::{Adjoints, Tape, Var};

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

/// Terms per statement of the sum. The inputs are recorded a chunk at a time, each
/// chunk followed by its part of the sum, so the variables of a chunk stay in cache
/// between being created and being used.
const CHUNK: usize = 4096;

/// The buffers of [`Gradient`], kept across runs so that a run allocates nothing.
#[derive(Default)]
pub struct Gradient {
    tape: Tape,
    chunk: Vec<Var>,
    firsts: Vec<usize>,
    parts: Vec<Var>,
    adj: Option<Adjoints>,
    /// The gradient of the last run.
    pub out: Vec<f64>,
}

impl Gradient {
    /// Records LogSumExp of `x` and sweeps it; the gradient is left in `out`.
    ///
    /// The maximum `a` is the chosen input variable itself (no statement). The sum is
    /// recorded as `Σ exp(xᵢ − a) = exp(c − a) · Σ exp(xᵢ − c)` with `c` the value of `a`
    /// (an identity; `exp(c − a)` is exactly 1, so the value is unchanged): the sum over
    /// the terms is then one `sum_map` statement per chunk, one operand per term, and its
    /// dependence on the shared `a` is one more statement.
    pub fn run(&mut self, x: &[f64]) {
        let Gradient {
            tape,
            chunk,
            firsts,
            parts,
            adj,
            out,
        } = self;
        tape.clear();
        firsts.clear();
        parts.clear();
        let j = argmax(x);
        let c = x[j];
        let y = tape.record(|rec| {
            let mut a = Var::constant(c);
            for (k, vals) in x.chunks(CHUNK).enumerate() {
                chunk.clear();
                rec.inputs_into(vals, chunk);
                if j / CHUNK == k {
                    a = chunk[j % CHUNK];
                }
                firsts.push(chunk[0].index() as usize);
                parts.push(retrograd::sum_map(chunk, |v| (v - c).exp()));
            }
            let s = if parts.len() == 1 {
                parts[0]
            } else {
                retrograd::sum(parts)
            };
            let s = (Var::constant(c) - a).exp() * s;
            a + s.ln()
        });
        let adj = adj.get_or_insert_with(|| tape.adjoints(&[]));
        tape.adjoints_into(&[(y, 1.0)], adj);
        let values = adj.values();
        out.clear();
        for (&first, vals) in firsts.iter().zip(x.chunks(CHUNK)) {
            out.extend_from_slice(&values[first..first + vals.len()]);
        }
    }
}

/// The index of the first largest element (the one `std::max_element` returns).
fn argmax(x: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}

/// The gradient of LogSumExp (see [`Gradient::run`]).
pub fn gradient(x: &[f64]) -> Vec<f64> {
    let mut g = Gradient::default();
    g.run(x);
    g.out
}

/// The straightforward gradient: [`primal`] differentiated by `retrograd::grad` (no
/// identity, no chunks: 3 statements, 4 operands per element, `exp` merged into the sum).
pub fn straightforward_gradient(x: &[f64]) -> Vec<f64> {
    retrograd::grad(primal, x)
}

/// Evaluates `primal` or `gradient`.
pub fn evaluate(function: &str, input: &str, style: Style) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    if input.x.is_empty() {
        return Err("x is empty".into());
    }
    match (function, style) {
        ("primal", _) => timed(input.runs(), || primal(&input.x)),
        ("gradient", Style::Straightforward) => {
            timed(input.runs(), || straightforward_gradient(&input.x))
        }
        ("gradient", Style::Tuned) => timed_in_place(
            input.runs(),
            &mut Gradient::default(),
            |g| g.run(&input.x),
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
        let x = [0.3, -1.2, 2.5, 2.4, 0.0];
        let g = gradient(&x);
        assert_matches_fd(primal, &x, &g, 1e-7);
        assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let plain = straightforward_gradient(&x);
        assert_matches_fd(primal, &x, &plain, 1e-7);
    }

    #[test]
    fn straightforward_equals_tuned() {
        let x: Vec<f64> = (0..2 * CHUNK + 9)
            .map(|i| (i as f64 * 0.61).cos() * 2.0)
            .collect();
        // The same terms, summed in another order (by chunks): equal to rounding.
        let (tuned, plain) = (gradient(&x), straightforward_gradient(&x));
        for (a, b) in tuned.iter().zip(&plain) {
            assert!((a - b).abs() <= 1e-10 * b.abs(), "{a} vs {b}");
        }
    }

    #[test]
    fn runs_reuse_their_buffers_and_chunks_agree() {
        // The maximum in the last chunk: every chunk before it is recorded without it.
        let mut x: Vec<f64> = (0..3 * CHUNK + 5)
            .map(|i| (i as f64 * 0.37).sin() * 3.0)
            .collect();
        x[3 * CHUNK + 2] = 4.0;
        let mut g = Gradient::default();
        g.run(&x);
        let first = g.out.clone();
        g.run(&x);
        let cap = g.tape.stats().capacity_bytes;
        g.run(&x);
        assert_eq!(g.out, first);
        assert_eq!(g.tape.stats().capacity_bytes, cap);
        let softmax: Vec<f64> = {
            let a = max_element(&x);
            let e: Vec<f64> = x.iter().map(|v| (v - a).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|v| v / s).collect()
        };
        for (a, b) in first.iter().zip(&softmax) {
            assert!((a - b).abs() < 1e-15, "{a} vs {b}");
        }
    }
}
