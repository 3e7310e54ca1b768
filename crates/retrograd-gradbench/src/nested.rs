//! Nested derivatives: the inner and outer modes of the `particle` and `saddle` evals.
//!
//! - Forward over anything: `Dual<T, N>` is `Real` whenever `T` is.
//! - Reverse over forward: a `Tape<Dual<f64>>` (`Var<Dual<f64>>`).
//! - Forward over reverse: `Dual<Var<f64>, N>`.
//! - Reverse over reverse: `Var<Var<f64>>`, an inner `Tape<Var<f64>>` whose values,
//!   partials and — during its reverse sweep — adjoints are variables of the outer
//!   `Tape<f64>`. Every arithmetic operation on them, including those of the inner sweep,
//!   is recorded on the outer tape, whose reverse sweep thus differentiates the inner
//!   reverse sweep: genuine reverse-over-reverse.

use retrograd::{Dual, Real, Tape, TapeScalar, Var};

/// A number type into which values of `T` embed as constants: the inner AD type of a
/// nested derivative over outer values `T`.
pub trait Lift<T>: Real {
    /// `t` as a constant (no derivative in the inner mode).
    fn lift(t: T) -> Self;
}

impl<T: Real, const N: usize> Lift<T> for Dual<T, N> {
    fn lift(t: T) -> Self {
        Dual::constant(t)
    }
}

impl<T: TapeScalar> Lift<T> for Var<T> {
    fn lift(t: T) -> Self {
        Var::constant(t)
    }
}

/// A function `R² → R` with parameters of type `T`, written once for any inner AD type.
pub trait Fn2<T> {
    /// Evaluates the function on inner AD numbers.
    fn eval<U: Lift<T>>(&self, x: [U; 2]) -> U;
}

/// An inner AD mode: the gradient of an [`Fn2`] at a point of type `T`.
pub trait Mode<T> {
    /// `∇f(x)`, itself of type `T` (so an outer mode can differentiate it).
    fn grad<F: Fn2<T>>(f: &F, x: [T; 2]) -> [T; 2];
}

/// Inner forward mode: one evaluation on `Dual<T, 2>`.
pub struct Forward;

impl<T: Real> Mode<T> for Forward {
    fn grad<F: Fn2<T>>(f: &F, x: [T; 2]) -> [T; 2] {
        let (o, z) = (T::one(), T::zero());
        let y = f.eval([Dual::new(x[0], [o, z]), Dual::new(x[1], [z, o])]);
        y.tangent
    }
}

/// Inner reverse mode: the function recorded on a `Tape<T>` and swept once.
pub struct Reverse;

impl<T: TapeScalar> Mode<T> for Reverse {
    fn grad<F: Fn2<T>>(f: &F, x: [T; 2]) -> [T; 2] {
        let mut tape: Tape<T> = Tape::with_capacity(32, 64);
        let (xs, y) = tape.record(|rec| {
            let xs = [rec.input(x[0]), rec.input(x[1])];
            (xs, f.eval(xs))
        });
        let adj = tape.gradient(y);
        [adj.wrt(xs[0]), adj.wrt(xs[1])]
    }
}

/// The derivative of `g: R → R` at `x` by outer forward mode.
pub fn outer_forward_1(g: impl Fn(Dual<f64>) -> Dual<f64>, x: f64) -> f64 {
    g(Dual::variable(x, 0)).tangent[0]
}

/// The gradient of `g: Rⁿ → R` at `x` by outer forward mode, one direction at a time.
pub fn outer_forward(g: impl Fn(&[Dual<f64>]) -> Dual<f64>, x: &[f64]) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let xs: Vec<Dual<f64>> = x
                .iter()
                .enumerate()
                .map(|(j, &v)| Dual::new(v, [if i == j { 1.0 } else { 0.0 }]))
                .collect();
            g(&xs).tangent[0]
        })
        .collect()
}

/// The gradient of `g: Rⁿ → R` at `x` by outer reverse mode: `g` runs on `Var<f64>`
/// numbers recorded on a `Tape<f64>`, swept once.
pub fn outer_reverse(g: impl Fn(&[Var<f64>]) -> Var<f64>, x: &[f64]) -> Vec<f64> {
    let mut tape = Tape::new();
    let (xs, y) = tape.record(|rec| {
        let xs = rec.inputs(x);
        let y = g(&xs);
        (xs, y)
    });
    tape.gradient(y).wrt_all(&xs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(x, y; p) = p·x²·y + sin(x·y)
    struct F<T>(T);
    impl<T: Real> Fn2<T> for F<T> {
        fn eval<U: Lift<T>>(&self, x: [U; 2]) -> U {
            U::lift(self.0) * x[0] * x[0] * x[1] + (x[0] * x[1]).sin()
        }
    }

    /// g(p) = ∂f/∂x + ∂f/∂y at (0.7, 1.3), as a function of p — a nested derivative.
    fn g<T: Real, M: Mode<T>>(p: T) -> T {
        let [dx, dy] = M::grad(&F(p), [T::from_f64(0.7), T::from_f64(1.3)]);
        dx * dy
    }

    #[test]
    fn four_nestings_agree_with_finite_differences() {
        let p = 0.4;
        let fd = retrograd::gradcheck::finite_difference(|q| g::<f64, Reverse>(q[0]), &[p])[0];
        let ff = outer_forward_1(g::<Dual<f64>, Forward>, p);
        let fr = outer_forward_1(g::<Dual<f64>, Reverse>, p);
        let rf = outer_reverse(|q| g::<Var<f64>, Forward>(q[0]), &[p])[0];
        let rr = outer_reverse(|q| g::<Var<f64>, Reverse>(q[0]), &[p])[0];
        for v in [ff, fr, rf, rr] {
            assert!((v - fd).abs() < 1e-7, "{v} vs {fd}");
        }
        // Reverse over reverse runs the inner sweep on outer variables. With one outer
        // input, each of them is a function of it alone, so the outer tape holds the input
        // only and the derivative travels in the variables' scales.
        let mut tape = Tape::new();
        let y = tape.record(|rec| g::<Var<f64>, Reverse>(rec.input(p)));
        assert_eq!(tape.stats().statements, 1);
        assert!((tape.gradient(y).values()[0] - rr).abs() == 0.0);
    }

    #[test]
    fn a_zero_inner_adjoint_keeps_its_outer_derivative() {
        // g(p) = d/dx [x·3p·(p − 1)] = 3p(p − 1) at p = 1. The inner adjoint of x·3p is
        // p − 1, zero by value but not a constant, so the inner sweep must not skip it:
        // g'(1) = 6p − 3 = 3.
        let mut tape = Tape::new();
        let (p, g) = tape.record(|rec| {
            let p = rec.input(1.0);
            let (q, c) = (p * 3.0, p - 1.0);
            let mut inner: Tape<Var<f64>> = Tape::new();
            let (x, y) = inner.record(|r| {
                let x = r.input(Var::constant(2.0));
                (x, x * Var::constant(q) * Var::constant(c))
            });
            (p, inner.gradient(y).wrt(x))
        });
        assert_eq!(g.value(), 0.0);
        assert_eq!(tape.gradient(g).wrt(p), 3.0);
    }
}
