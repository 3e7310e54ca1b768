//! Nested derivatives: the inner and outer modes of the `particle` and `saddle` evals.
//!
//! - Forward over anything: `Dual<T, N>` is `Real` whenever `T` is.
//! - Reverse over forward: a `Tape<Dual<f64>>` (`Var<Dual<f64>>`).
//! - Forward over reverse: `Dual<Var<f64>, N>`.
//! - Reverse over reverse: a tape whose numbers are themselves recorded on an outer tape.
//!   retrograd's tapes record `f64` and `Dual<f64>`; its tape is generic over any
//!   [`TapeScalar`], so [`Rev`] wraps an outer `Var<f64>` in a type that is one: an inner
//!   `Tape<Rev>` then records values, partials and — during its reverse sweep — adjoints
//!   that are outer variables, and every arithmetic operation on them, including those of
//!   the inner sweep, is recorded on the outer `Tape<f64>`. The outer reverse sweep thus
//!   differentiates the inner reverse sweep: genuine reverse-over-reverse.

use num_traits::{Float, FloatConst, Num, NumCast, One, ToPrimitive, Zero};
use retrograd::{Dual, Real, Tape, TapeScalar, Var};
use std::cell::Cell;
use std::num::FpCategory;
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

/// An outer reverse-mode variable (`Var<f64>`) usable as the number type of an inner
/// [`Tape`]. Every operation delegates to `Var<f64>`, so it is recorded on the active
/// outer `Tape<f64>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Rev(pub Var<f64>);

thread_local! {
    static ACTIVE_REV: Cell<*mut retrograd::scalar::tape::TapeCore<Rev>> =
        const { Cell::new(std::ptr::null_mut()) };
}

impl TapeScalar for Rev {
    fn active_slot(
    ) -> &'static std::thread::LocalKey<Cell<*mut retrograd::scalar::tape::TapeCore<Self>>> {
        &ACTIVE_REV
    }
}

impl std::fmt::Display for Rev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

macro_rules! binary_ops {
    ($($Op:ident $op:ident $OpA:ident $opa:ident),*) => {$(
        impl $Op for Rev {
            type Output = Rev;
            #[inline]
            fn $op(self, r: Rev) -> Rev {
                Rev($Op::$op(self.0, r.0))
            }
        }
        impl $OpA for Rev {
            #[inline]
            fn $opa(&mut self, r: Rev) {
                *self = $Op::$op(*self, r);
            }
        }
    )*};
}
binary_ops!(Add add AddAssign add_assign, Sub sub SubAssign sub_assign, Mul mul MulAssign mul_assign,
            Div div DivAssign div_assign, Rem rem RemAssign rem_assign);

impl Neg for Rev {
    type Output = Rev;
    #[inline]
    fn neg(self) -> Rev {
        Rev(-self.0)
    }
}

impl std::iter::Sum for Rev {
    fn sum<I: Iterator<Item = Rev>>(iter: I) -> Rev {
        iter.fold(Rev::zero(), |a, b| a + b)
    }
}

impl Zero for Rev {
    fn zero() -> Self {
        Rev(Var::constant(0.0))
    }
    fn is_zero(&self) -> bool {
        self.0.value() == 0.0
    }
}

impl One for Rev {
    fn one() -> Self {
        Rev(Var::constant(1.0))
    }
}

impl Num for Rev {
    type FromStrRadixErr = <f64 as Num>::FromStrRadixErr;
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        f64::from_str_radix(s, radix).map(|v| Rev(Var::constant(v)))
    }
}

impl NumCast for Rev {
    fn from<N: ToPrimitive>(n: N) -> Option<Self> {
        n.to_f64().map(|v| Rev(Var::constant(v)))
    }
}

impl ToPrimitive for Rev {
    fn to_i64(&self) -> Option<i64> {
        self.0.to_i64()
    }
    fn to_u64(&self) -> Option<u64> {
        self.0.to_u64()
    }
    fn to_f64(&self) -> Option<f64> {
        Some(self.0.value())
    }
}

macro_rules! delegate {
    (unary $($m:ident)*) => {$( #[inline] fn $m(self) -> Self { Rev(Float::$m(self.0)) } )*};
    (binary $($m:ident)*) => {$( #[inline] fn $m(self, o: Self) -> Self { Rev(Float::$m(self.0, o.0)) } )*};
    (constant $($m:ident)*) => {$( fn $m() -> Self { Rev(Float::$m()) } )*};
    (predicate $($m:ident)*) => {$( fn $m(self) -> bool { Float::$m(self.0) } )*};
    (consts $($m:ident)*) => {$( #[allow(non_snake_case)] fn $m() -> Self { Rev(FloatConst::$m()) } )*};
}

impl Float for Rev {
    delegate!(unary floor ceil round trunc fract abs signum recip sqrt exp exp2 ln log2 log10 cbrt
              sin cos tan asin acos atan exp_m1 ln_1p sinh cosh tanh asinh acosh atanh
              to_degrees to_radians);
    delegate!(binary powf log max min abs_sub hypot atan2 copysign);
    delegate!(constant nan infinity neg_infinity neg_zero min_value min_positive_value epsilon max_value);
    delegate!(predicate is_nan is_infinite is_finite is_normal is_subnormal is_sign_positive is_sign_negative);
    fn classify(self) -> FpCategory {
        self.0.classify()
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        Rev(self.0.mul_add(a.0, b.0))
    }
    fn powi(self, n: i32) -> Self {
        Rev(self.0.powi(n))
    }
    fn sin_cos(self) -> (Self, Self) {
        let (s, c) = self.0.sin_cos();
        (Rev(s), Rev(c))
    }
    fn integer_decode(self) -> (u64, i16, i8) {
        self.0.integer_decode()
    }
}

impl FloatConst for Rev {
    delegate!(consts E FRAC_1_PI FRAC_1_SQRT_2 FRAC_2_PI FRAC_2_SQRT_PI FRAC_PI_2 FRAC_PI_3
              FRAC_PI_4 FRAC_PI_6 FRAC_PI_8 LN_10 LN_2 LOG10_E LOG2_E PI SQRT_2);
}

impl Real for Rev {
    fn erf(self) -> Self {
        Rev(self.0.erf())
    }
    fn erfc(self) -> Self {
        Rev(self.0.erfc())
    }
    fn from_f64(x: f64) -> Self {
        Rev(Var::constant(x))
    }
    fn value(self) -> f64 {
        self.0.value()
    }
}

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

/// The gradient of `g: Rⁿ → R` at `x` by outer reverse mode: `g` runs on [`Rev`]
/// numbers recorded on a `Tape<f64>`, swept once.
pub fn outer_reverse(g: impl Fn(&[Rev]) -> Rev, x: &[f64]) -> Vec<f64> {
    let mut tape = Tape::new();
    let (xs, y) = tape.record(|rec| {
        let xs = rec.inputs(x);
        let wrapped: Vec<Rev> = xs.iter().map(|&v| Rev(v)).collect();
        (xs, g(&wrapped).0)
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
        let rf = outer_reverse(|q| g::<Rev, Forward>(q[0]), &[p])[0];
        let rr = outer_reverse(|q| g::<Rev, Reverse>(q[0]), &[p])[0];
        for v in [ff, fr, rf, rr] {
            assert!((v - fd).abs() < 1e-7, "{v} vs {fd}");
        }
        // Reverse over reverse records the inner sweep on the outer tape.
        let mut tape = Tape::new();
        let y = tape.record(|rec| g::<Rev, Reverse>(Rev(rec.input(p))).0);
        assert!(tape.stats().statements > 10);
        assert!((tape.gradient(y).values()[0] - rr).abs() == 0.0);
    }
}
