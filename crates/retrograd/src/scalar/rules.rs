//! The derivative rules of every scalar function on [`Var`], as a table: name, value,
//! derivative. This is where `num_traits::Float` (and so generic numeric code) meets the tape.
//!
//! Conventions at kinks and domain edges (shared with [`Dual`](crate::Dual)):
//!
//! | function | convention |
//! |---|---|
//! | `abs` | derivative 0 at 0 |
//! | `signum`, `floor`, `ceil`, `round`, `trunc` | derivative 0 everywhere |
//! | `fract` | derivative 1 |
//! | `sqrt`, `cbrt` | +∞ at ±0 (the formula's limit) |
//! | `ln`, `log2`, `log10`, `log` | +∞ at ±0 |
//! | `abs_sub(a, b) = max(a − b, 0)` | ½ to `a`, −½ to `b` at `a = b` |
//! | `min`, `max` | the selected argument gets 1; ties give ½ to each; a NaN argument gets 0 |
//! | `hypot`, `atan2` | zero derivative at (0, 0) |
//! | `powf(x, y)` | ∂/∂x = y·x^(y−1), and 0 at x = y = 0; ∂/∂y = x^y·ln x, and 0 where x^y = 0 |
//! | `powi(x, 0)` | derivative 0 |
//! | `asin`, `acos` at ±1, `acosh` at 1, `atanh` at ±1 | ±∞ (the formula's limit) |
//!
//! A function whose value is NaN (a NaN argument, or one outside its domain such as
//! `ln(-1)`) has a NaN derivative, so the NaN shows in the gradient too. A statement whose adjoint is zero is skipped in the reverse sweep, so an
//! infinite partial on a path that does not reach the output never makes a NaN.

use super::tape::TapeScalar;
use super::var::Var;
use crate::real::{float_consts, float_special_values};
use crate::Real;
use num_traits::{Float, FloatConst, Num, NumCast, One, ToPrimitive, Zero};
use std::num::FpCategory;

/// Partials of `max(a, b)`: the selected argument gets 1, a tie ½ each.
pub(crate) fn max_partials<T: Real>(a: T, b: T) -> (T, T) {
    let (one, zero, half) = (T::one(), T::zero(), T::from_f64(0.5));
    if a > b || b.is_nan() {
        (one, zero)
    } else if b > a || a.is_nan() {
        (zero, one)
    } else {
        (half, half)
    }
}

/// The rules of the one-argument functions of `num_traits::Float`: `name: |x, y| value =>
/// derivative`, given the argument `x` and the value `y`. Passed to a macro that makes
/// methods of them (on `Var`) or operations to replay (`crate::replay`).
macro_rules! unary_table {
    ($apply:ident $(, $arg:tt)*) => {
        $apply! { [$($arg)*]
        // name       value                  derivative, given x and y = value
        floor:    |x, _y| x.floor()         => T::zero();
        ceil:     |x, _y| x.ceil()          => T::zero();
        round:    |x, _y| x.round()         => T::zero();
        trunc:    |x, _y| x.trunc()         => T::zero();
        signum:   |x, _y| x.signum()        => T::zero();
        fract:    |x, _y| x.fract()         => T::one();
        abs:      |x, _y| x.abs()           => T::from_f64(x.sign0());
        recip:    |x, y| x.recip()          => -y * y;
        sqrt:     |x, y| x.sqrt()           => T::from_f64(0.5) / y.abs();
        cbrt:     |x, y| x.cbrt()           => (T::from_f64(3.0) * y * y).recip();
        exp:      |x, y| x.exp()            => y;
        exp2:     |x, y| x.exp2()           => y * T::LN_2();
        exp_m1:   |x, y| x.exp_m1()         => y + T::one();
        ln:       |x, _y| x.ln()            => x.abs().recip();
        log2:     |x, _y| x.log2()          => (x.abs() * T::LN_2()).recip();
        log10:    |x, _y| x.log10()         => (x.abs() * T::LN_10()).recip();
        ln_1p:    |x, _y| x.ln_1p()         => (T::one() + x).recip();
        sin:      |x, _y| x.sin()           => x.cos();
        cos:      |x, _y| x.cos()           => -x.sin();
        tan:      |x, y| x.tan()            => T::one() + y * y;
        asin:     |x, _y| x.asin()          => (T::one() - x * x).sqrt().recip();
        acos:     |x, _y| x.acos()          => -(T::one() - x * x).sqrt().recip();
        atan:     |x, _y| x.atan()          => (T::one() + x * x).recip();
        sinh:     |x, _y| x.sinh()          => x.cosh();
        cosh:     |x, _y| x.cosh()          => x.sinh();
        tanh:     |x, y| x.tanh()           => T::one() - y * y;
        asinh:    |x, _y| x.asinh()         => x.hypot(T::one()).recip();
        acosh:    |x, _y| x.acosh()         => ((x - T::one()).sqrt() * (x + T::one()).sqrt()).recip();
        atanh:    |x, _y| x.atanh()         => (T::one() - x * x).recip();
        to_degrees: |x, _y| x.to_degrees() => T::from_f64(180.0) / T::PI();
        to_radians: |x, _y| x.to_radians() => T::PI() / T::from_f64(180.0);
        }
    };
}
pub(crate) use unary_table;

/// The rules of the one-argument functions [`Real`] adds to `Float`, as [`unary_table`].
macro_rules! real_unary_table {
    ($apply:ident $(, $arg:tt)*) => {
        $apply! { [$($arg)*]
        erf:  |x, _y| x.erf()  => T::from_f64(std::f64::consts::FRAC_2_SQRT_PI) * (-x * x).exp();
        erfc: |x, _y| x.erfc() => -T::from_f64(std::f64::consts::FRAC_2_SQRT_PI) * (-x * x).exp();
        }
    };
}
pub(crate) use real_unary_table;

/// The rules of the two-argument functions of `num_traits::Float`: `name: |a, b, y| value =>
/// (∂/∂a, ∂/∂b)`, as [`unary_table`].
macro_rules! binary_table {
    ($apply:ident $(, $arg:tt)*) => {
        $apply! { [$($arg)*]
        // name       value                  (∂/∂a, ∂/∂b), given a, b and y = value
        powf:     |a, b, y| a.powf(b)       => (if a.is_zero() && b.is_zero() { T::zero() } else { b * a.powf(b - T::one()) },
                                                if y.is_zero() { T::zero() } else { y * a.ln() });
        log:      |a, b, y| a.log(b)        => ((a.abs() * b.ln()).recip(), -y / (b * b.ln()));
        max:      |a, b, _y| a.max(b)       => max_partials(a, b);
        min:      |a, b, _y| a.min(b)       => max_partials(-a, -b);
        abs_sub:  |a, b, _y| (a - b).max(T::zero())
                                            => { let (pa, _) = max_partials(a - b, T::zero()); (pa, -pa) };
        hypot:    |a, b, y| a.hypot(b)      => if y.is_zero() { (T::zero(), T::zero()) } else { (a / y, b / y) };
        atan2:    |a, b, _y| a.atan2(b)     => {
            // hypot, not a² + b², so the squares neither overflow nor underflow.
            let h = a.hypot(b);
            if h.is_zero() { (T::zero(), T::zero()) } else { (b / h / h, -a / h / h) }
        };
        copysign: |a, b, y| a.copysign(b)   => (if y.is_sign_negative() == a.is_sign_negative() { T::one() } else { -T::one() }, T::zero());
        }
    };
}
pub(crate) use binary_table;

/// The derivative of `x.powi(n)`: `n·xⁿ⁻¹`, and 0 for `n = 0`.
pub(crate) fn powi_derivative<T: Real>(x: T, n: i32) -> T {
    if n == 0 {
        T::zero()
    } else {
        T::from_f64(n as f64) * x.powi(n - 1)
    }
}

/// Defines unary methods from a table of `name: |x, y| value => derivative` where `x` is
/// the argument's value and `y` the result's value.
macro_rules! unary_rules {
    ([] $($name:ident: |$x:ident, $y:ident| $value:expr => $derivative:expr;)*) => {$(
        #[inline(always)]
        #[track_caller]
        fn $name(self) -> Self {
            let $x = self.value();
            let $y = $value;
            self.unary($y, || if $y.is_nan() { $y } else { $derivative })
        }
    )*};
}

/// Defines binary methods from a table of `name: |a, b, y| value => (∂/∂a, ∂/∂b)`.
macro_rules! binary_rules {
    ([] $($name:ident: |$a:ident, $b:ident, $y:ident| $value:expr => $partials:expr;)*) => {$(
        #[inline(always)]
        #[track_caller]
        fn $name(self, other: Self) -> Self {
            let ($a, $b) = (self.value(), other.value());
            let $y = $value;
            self.binary(other, $y, || if $y.is_nan() { ($y, $y) } else { $partials })
        }
    )*};
}

/// Defines methods that only read the value.
macro_rules! by_value {
    ($($name:ident -> $ret:ty;)*) => {$(
        fn $name(self) -> $ret {
            self.value().$name()
        }
    )*};
}

/// Defines constructors of constants.
macro_rules! constants {
    ($($name:ident),*) => {$(
        fn $name() -> Self {
            Var::constant(T::$name())
        }
    )*};
}

impl<T: TapeScalar> Float for Var<T> {
    unary_table!(unary_rules);
    binary_table!(binary_rules);

    #[inline(always)]
    #[track_caller]
    fn powi(self, n: i32) -> Self {
        let x = self.value();
        let y = x.powi(n);
        self.unary(y, || powi_derivative(x, n))
    }

    #[inline(always)]
    #[track_caller]
    fn sin_cos(self) -> (Self, Self) {
        let (s, c) = self.value().sin_cos();
        (self.unary(s, || c), self.unary(c, || -s))
    }

    #[track_caller]
    fn mul_add(self, a: Self, b: Self) -> Self {
        let y = self.value().mul_add(a.value(), b.value());
        Var::nary(y, &[(self, a.value()), (a, self.value()), (b, T::one())])
    }

    float_special_values!(constants);

    by_value! {
        is_nan -> bool;
        is_infinite -> bool;
        is_finite -> bool;
        is_normal -> bool;
        is_subnormal -> bool;
        is_sign_positive -> bool;
        is_sign_negative -> bool;
        classify -> FpCategory;
        integer_decode -> (u64, i16, i8);
    }
}

impl<T: TapeScalar> Real for Var<T> {
    real_unary_table!(unary_rules);

    fn from_f64(x: f64) -> Self {
        Var::constant(T::from_f64(x))
    }

    fn value(self) -> f64 {
        Var::value(self).value()
    }

    fn call_recording(
        recording: &crate::replay::Recording,
        x: &[Self],
    ) -> Result<Vec<Self>, crate::Error> {
        recording.call_on_tape(x)
    }
}

impl<T: TapeScalar> FloatConst for Var<T> {
    float_consts!(constants);
}

impl<T: TapeScalar> Zero for Var<T> {
    fn zero() -> Self {
        Var::constant(T::zero())
    }
    fn is_zero(&self) -> bool {
        self.value().is_zero()
    }
}

impl<T: TapeScalar> One for Var<T> {
    fn one() -> Self {
        Var::constant(T::one())
    }
}

impl<T: TapeScalar> Num for Var<T> {
    type FromStrRadixErr = T::FromStrRadixErr;
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        T::from_str_radix(s, radix).map(Var::constant)
    }
}

impl<T: TapeScalar> NumCast for Var<T> {
    fn from<N: ToPrimitive>(n: N) -> Option<Self> {
        <T as NumCast>::from(n).map(Var::constant)
    }
}

impl<T: TapeScalar> ToPrimitive for Var<T> {
    fn to_i64(&self) -> Option<i64> {
        self.value().to_i64()
    }
    fn to_u64(&self) -> Option<u64> {
        self.value().to_u64()
    }
    fn to_f64(&self) -> Option<f64> {
        self.value().to_f64()
    }
}
