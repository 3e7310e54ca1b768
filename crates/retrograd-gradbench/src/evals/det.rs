//! `det`: the determinant by expansion by minors (cmpad's `det_by_minor`), and its
//! gradient.

use super::{input_with_runs, timed, unknown, Style};
use crate::protocol::Evaluated;
use num_traits::Float;
use retrograd::{Tape, Var};

input_with_runs! {
    /// The `det` input.
    pub struct Input {
        /// The matrix, row-major.
        #[serde(rename = "A")]
        pub a: Vec<f64>,
        /// The edge length.
        pub ell: usize,
    }
}

/// The determinant of the minor of `a` (`n × n`) whose rows and columns are the linked
/// lists starting at `r[n]` and `c[n]` (`r[i]` is the row after row `i`), with `m` rows.
pub fn det_of_minor<T: Float>(a: &[T], n: usize, m: usize, r: &mut [usize], c: &mut [usize]) -> T {
    let r0 = r[n];
    let mut cj = c[n];
    if m == 1 {
        return a[r0 * n + cj];
    }
    let mut det = T::zero();
    let mut positive = true;
    r[n] = r[r0];
    let mut cj1 = n;
    for _ in 0..m {
        let m0j = a[r0 * n + cj];
        c[cj1] = c[cj];
        let ds = det_of_minor(a, n, m - 1, r, c);
        c[cj1] = cj;
        det = if positive {
            det + m0j * ds
        } else {
            det - m0j * ds
        };
        cj1 = cj;
        cj = c[cj];
        positive = !positive;
    }
    r[n] = r0;
    det
}

fn links(ell: usize) -> (Vec<usize>, Vec<usize>) {
    let mut r: Vec<usize> = (1..=ell).collect();
    r.push(0);
    (r.clone(), r)
}

/// The determinant of the `ell × ell` matrix `a`.
pub fn primal<T: Float>(a: &[T], ell: usize) -> T {
    let (mut r, mut c) = links(ell);
    det_of_minor(a, ell, ell, &mut r, &mut c)
}

/// [`det_of_minor`] on the tape: a `2 × 2` minor is one preaccumulated statement with its
/// four entries as operands; a larger one is the difference of two `dot` statements (the
/// terms of each sign), with an operand per entry and per sub-minor.
fn det_on_tape(a: &[Var], n: usize, m: usize, r: &mut [usize], c: &mut [usize]) -> Var {
    let r0 = r[n];
    let mut cj = c[n];
    if m == 1 {
        return a[r0 * n + cj];
    }
    if m == 2 {
        let (r1, cj2) = (r[r0], c[cj]);
        let [d] = retrograd::preaccumulate(
            [
                a[r0 * n + cj],
                a[r0 * n + cj2],
                a[r1 * n + cj],
                a[r1 * n + cj2],
            ],
            |[p, q, u, v]| [p * v - q * u],
        );
        return d;
    }
    let mut terms = [[Var::constant(0.0); 8]; 4]; // [sign][entry or sub-minor]
    let (mut np, mut nn) = (0, 0);
    r[n] = r[r0];
    let mut cj1 = n;
    for j in 0..m {
        let m0j = a[r0 * n + cj];
        c[cj1] = c[cj];
        let ds = det_on_tape(a, n, m - 1, r, c);
        c[cj1] = cj;
        if j % 2 == 0 {
            terms[0][np] = m0j;
            terms[1][np] = ds;
            np += 1;
        } else {
            terms[2][nn] = m0j;
            terms[3][nn] = ds;
            nn += 1;
        }
        cj1 = cj;
        cj = c[cj];
    }
    r[n] = r0;
    retrograd::dot(&terms[0][..np], &terms[1][..np])
        - retrograd::dot(&terms[2][..nn], &terms[3][..nn])
}

/// The gradient of the determinant. The expansion along the first row is a sum of `ell`
/// independent terms `±a₀ⱼ·det(Sⱼ)`: each is recorded, swept and dropped in turn, so the
/// tape holds one sub-determinant at a time.
pub fn gradient(tape: &mut Tape, a: &[f64], ell: usize) -> Vec<f64> {
    tape.clear();
    if ell == 1 {
        return vec![1.0];
    }
    tape.record(|rec| {
        let av = rec.inputs(a);
        let mut adj = rec.adjoints();
        let (mut r, mut c) = links(ell);
        let n = ell;
        // The first level of det_of_minor, unrolled so each term is swept on its own.
        let r0 = r[n];
        let mut cj = c[n];
        r[n] = r[r0];
        let mut cj1 = n;
        for j in 0..ell {
            let m0j = av[r0 * n + cj];
            c[cj1] = c[cj];
            let mark = rec.mark();
            let ds = det_on_tape(&av, n, n - 1, &mut r, &mut c);
            let term = m0j * ds;
            let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
            rec.sweep_and_reset(mark, &[(term, sign)], &mut adj);
            c[cj1] = cj;
            cj1 = cj;
            cj = c[cj];
        }
        r[n] = r0;
        adj.wrt_all(&av)
    })
}

/// The straightforward gradient: [`primal`] differentiated by `retrograd::grad` (the whole
/// expansion on one tape: 2.7–2.9 statements, 5.4 operands per term of the expansion).
pub fn straightforward_gradient(a: &[f64], ell: usize) -> Vec<f64> {
    retrograd::grad(|v| primal(v, ell), a)
}

/// Evaluates `primal` or `gradient`.
pub fn evaluate(function: &str, input: &str, style: Style) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    if input.ell == 0 || input.ell > 12 || input.a.len() != input.ell * input.ell {
        return Err(format!(
            "A must hold ell² entries with 1 ≤ ell ≤ 12 (ell = {})",
            input.ell
        ));
    }
    match (function, style) {
        ("primal", _) => timed(input.runs(), || primal(&input.a, input.ell)),
        ("gradient", Style::Straightforward) => timed(input.runs(), || {
            straightforward_gradient(&input.a, input.ell)
        }),
        ("gradient", Style::Tuned) => {
            let mut tape = Tape::new();
            timed(input.runs(), || gradient(&mut tape, &input.a, input.ell))
        }
        _ => unknown(function),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evals::testing::assert_matches_fd;

    #[test]
    fn primal_is_the_determinant() {
        assert_eq!(primal(&[2.0, 1.0, 1.0, 3.0], 2), 5.0);
        let a = [2.0, 0.0, 1.0, 1.0, 3.0, 2.0, 1.0, 1.0, 1.0];
        assert!((primal(&a, 3) - (2.0 * 1.0 - 0.0 + 1.0 * (1.0 - 3.0))).abs() < 1e-12);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        for ell in [1, 2, 3, 4, 5] {
            let a: Vec<f64> = (0..ell * ell)
                .map(|k| ((k * 7 + 3) % 11) as f64 / 5.0 - 1.0)
                .collect();
            let g = gradient(&mut Tape::new(), &a, ell);
            assert_matches_fd(|a| primal(a, ell), &a, &g, 1e-6);
            let plain = straightforward_gradient(&a, ell);
            assert_matches_fd(|a| primal(a, ell), &a, &plain, 1e-6);
        }
    }

    #[test]
    fn straightforward_equals_tuned() {
        for ell in [1, 2, 3, 6, 7] {
            let a: Vec<f64> = (0..ell * ell)
                .map(|k| ((k * 5 + 2) % 13) as f64 / 6.0 - 1.0)
                .collect();
            let tuned = gradient(&mut Tape::new(), &a, ell);
            let plain = straightforward_gradient(&a, ell);
            let scale = plain.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            for (x, y) in tuned.iter().zip(&plain) {
                assert!((x - y).abs() <= 1e-12 * scale, "ell = {ell}: {x} vs {y}");
            }
        }
    }
}
