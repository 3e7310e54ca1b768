//! `lstm`: ADBench's LSTM (diagonal weight matrices) over a character sequence: the mean
//! log-likelihood loss and its gradient with respect to the main and extra parameters.

use super::{input_with_runs, timed, unknown, Style};
use crate::protocol::Evaluated;
use num_traits::Float;
use retrograd::{Tape, Var};

input_with_runs! {
    /// The `lstm` input.
    pub struct Input {
        /// `2·layers` rows of `4·b`: per layer, weights then biases of the four gates.
        pub main_params: Vec<Vec<f64>>,
        /// Three rows of `b`: input weights, output weights, output biases.
        pub extra_params: Vec<Vec<f64>>,
        /// `2·layers` rows of `b`: per layer, hidden then cell state.
        pub state: Vec<Vec<f64>>,
        /// `c` rows of `b`: the characters as bit vectors.
        pub sequence: Vec<Vec<f64>>,
    }
}

/// The problem, flattened row-major.
pub struct Problem {
    /// Layers.
    pub l: usize,
    /// Characters.
    pub c: usize,
    /// Bits per character (the hidden size).
    pub b: usize,
    /// Main then extra parameters (the independent variables).
    pub params: Vec<f64>,
    /// Initial state.
    pub state: Vec<f64>,
    /// The sequence.
    pub sequence: Vec<f64>,
}

impl Problem {
    fn new(i: &Input) -> Result<Self, String> {
        let l = i.main_params.len() / 2;
        let b = i.main_params.first().map_or(0, |r| r.len() / 4);
        let ok = l > 0
            && b > 0
            && i.main_params.len() == 2 * l
            && i.main_params.iter().all(|r| r.len() == 4 * b)
            && i.extra_params.len() == 3
            && i.extra_params.iter().all(|r| r.len() == b)
            && i.state.len() == 2 * l
            && i.state.iter().all(|r| r.len() == b)
            && i.sequence.len() >= 2
            && i.sequence.iter().all(|r| r.len() == b);
        if !ok {
            return Err("inconsistent sizes".into());
        }
        let mut params = i.main_params.concat();
        params.extend(i.extra_params.concat());
        Ok(Problem {
            l,
            c: i.sequence.len(),
            b,
            params,
            state: i.state.concat(),
            sequence: i.sequence.concat(),
        })
    }
}

fn sigmoid<T: Float>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

/// The loss on any number type; `params` are the main then the extra parameters.
pub fn objective<T: Float>(pb: &Problem, params: &[T]) -> T {
    let (l, c, b) = (pb.l, pb.c, pb.b);
    let f = |v: f64| T::from(v).unwrap();
    let (main, extra) = params.split_at(8 * b * l);
    let (in_weight, rest) = extra.split_at(b);
    let (out_weight, out_bias) = rest.split_at(b);
    let mut state: Vec<T> = pb.state.iter().map(|&v| f(v)).collect();
    let mut ypred = vec![T::zero(); b];
    let mut input = vec![T::zero(); b];
    let mut total = T::zero();
    let mut count = 0usize;
    for t in 0..c - 1 {
        let x = &pb.sequence[t * b..(t + 1) * b];
        for i in 0..b {
            input[i] = f(x[i]) * in_weight[i];
        }
        for layer in 0..l {
            let p = &main[8 * b * layer..8 * b * (layer + 1)];
            let (hidden, cell) = state[2 * b * layer..2 * b * (layer + 1)].split_at_mut(b);
            for i in 0..b {
                let forget = sigmoid(input[i] * p[i] + p[4 * b + i]);
                let ingate = sigmoid(hidden[i] * p[b + i] + p[5 * b + i]);
                let outgate = sigmoid(input[i] * p[2 * b + i] + p[6 * b + i]);
                let change = (hidden[i] * p[3 * b + i] + p[7 * b + i]).tanh();
                cell[i] = cell[i] * forget + ingate * change;
                hidden[i] = outgate * cell[i].tanh();
            }
            input.copy_from_slice(hidden);
        }
        for i in 0..b {
            ypred[i] = input[i] * out_weight[i] + out_bias[i];
        }
        let mut sum = T::zero();
        for &y in &ypred {
            sum = sum + y.exp();
        }
        let lse = (sum + f(2.0)).ln();
        let gold = &pb.sequence[(t + 1) * b..(t + 2) * b];
        for i in 0..b {
            total = total + f(gold[i]) * (ypred[i] - lse);
        }
        count += b;
    }
    -total / f(count as f64)
}

/// The gradient: the loss recorded on `tape` (reused across runs) and swept once. This is
/// the straightforward form already (the generic [`objective`], one recording, one sweep),
/// so both styles run it.
pub fn gradient(tape: &mut Tape, pb: &Problem) -> Vec<f64> {
    tape.clear();
    let (ps, y) = tape.record(|rec| {
        let ps = rec.inputs(&pb.params);
        let y: Var = objective(pb, &ps);
        (ps, y)
    });
    tape.gradient(y).wrt_all(&ps)
}

/// Evaluates `objective` or `jacobian`.
pub fn evaluate(function: &str, input: &str, _style: Style) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    let pb = Problem::new(&input)?;
    match function {
        "objective" => timed(input.runs(), || objective(&pb, &pb.params)),
        "jacobian" => {
            let mut tape = Tape::new();
            timed(input.runs(), || gradient(&mut tape, &pb))
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
        let (l, b, c) = (2, 3, 5);
        let v = |i: usize| ((i * 29 + 7) % 13) as f64 / 13.0;
        let pb = Problem {
            l,
            c,
            b,
            params: (0..8 * b * l + 3 * b).map(v).collect(),
            state: (0..2 * b * l).map(|i| v(i + 50)).collect(),
            sequence: (0..c * b)
                .map(|i| ((i * 5) % 3 == 0) as i32 as f64)
                .collect(),
        };
        let g = gradient(&mut Tape::new(), &pb);
        assert_matches_fd(|p| objective(&pb, p), &pb.params, &g, 1e-6);
    }
}
