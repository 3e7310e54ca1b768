//! `num_traits::Float`, `FloatConst` and [`Real`] for `Dual`: the derivative rule of every
//! function, one line each, value and derivative side by side.
//!
//! Every rule is written with operations of `T` itself, so when `T` is a dual the rule is
//! differentiated too (nested duals give higher derivatives). The conventions at kinks and
//! domain edges are tabulated in the [module documentation](super).

use super::Dual;
use crate::real::{float_consts, float_special_values};
use crate::Real;
use num_traits::{Float, FloatConst, Zero};
use std::num::FpCategory;

/// A passive constant of type `T`.
#[inline]
fn c<T: Real>(x: f64) -> T {
    T::from_f64(x)
}

/// `x + 0`: turns `−0` into `+0` (round-to-nearest), so a rule like `1/x` gives `+∞` at
/// both zeros, matching the one-sided derivative from inside the domain.
#[inline]
fn plus_zero<T: Real>(x: T) -> T {
    x + T::zero()
}

/// The weights `(∂/∂x, ∂/∂z)` of `max(x, z)` or `min(x, z)`, where `wins(a, b)` says `a`
/// is selected over `b`: the selected argument gets 1, a tie splits 0.5/0.5, and a NaN
/// argument is passed over exactly as `f64::max` and `f64::min` pass over it.
#[inline]
fn selection_weights<T: Real>(x: T, z: T, wins: impl Fn(T, T) -> bool) -> (T, T) {
    match (x.is_nan(), z.is_nan()) {
        (true, true) => (T::nan(), T::nan()),
        (false, true) => (T::one(), T::zero()),
        (true, false) => (T::zero(), T::one()),
        _ if wins(x, z) => (T::one(), T::zero()),
        _ if wins(z, x) => (T::zero(), T::one()),
        _ => (c(0.5), c(0.5)),
    }
}

/// Defines a unary `Float` method from its value and derivative closures.
macro_rules! unary {
    ($($name:ident: $value:expr, $derivative:expr;)*) => {$(
        #[inline]
        fn $name(self) -> Self {
            self.unary($value, $derivative)
        }
    )*};
}

/// Defines a constant `Float` method.
macro_rules! constant {
    ($($name:ident),*) => {$(
        #[inline]
        fn $name() -> Self {
            Dual::constant(T::$name())
        }
    )*};
}

/// Defines a classification `Float` method that looks at the value only.
macro_rules! of_value {
    ($($name:ident -> $ty:ty),*) => {$(
        #[inline]
        fn $name(self) -> $ty {
            self.value.$name()
        }
    )*};
}

/// Every `Float` function propagates its derivative; see the module documentation for the
/// conventions at kinks and domain edges.
///
/// ```
/// use retrograd::Dual;
/// use num_traits::Float;
///
/// let x: Dual = Dual::variable(0.5, 0);
/// let y = x.sin().exp(); // d/dx = cos(x) e^sin(x)
/// assert!((y.tangent[0] - 0.5_f64.cos() * 0.5_f64.sin().exp()).abs() < 1e-15);
/// assert_eq!(Dual::variable(0.0, 0).abs().tangent, [0.0]); // abs'(0) = 0
/// ```
impl<T: Real, const N: usize> Float for Dual<T, N> {
    float_special_values!(constant);

    of_value!(is_nan -> bool, is_infinite -> bool, is_finite -> bool, is_normal -> bool);
    of_value!(is_subnormal -> bool, is_sign_positive -> bool, is_sign_negative -> bool);
    of_value!(classify -> FpCategory, integer_decode -> (u64, i16, i8));

    unary! {
        // name     value                  derivative, given x and the value y
        floor:      |x| x.floor(),         |_, _| T::zero();
        ceil:       |x| x.ceil(),          |_, _| T::zero();
        round:      |x| x.round(),         |_, _| T::zero();
        trunc:      |x| x.trunc(),         |_, _| T::zero();
        fract:      |x| x.fract(),         |_, _| T::one();
        abs:        |x| x.abs(),           |x, _| c(x.sign0());                   // 0 at 0
        signum:     |x| x.signum(),        |_, _| T::zero();
        recip:      |x| x.recip(),         |_, y| -(y * y);
        sqrt:       |x| x.sqrt(),          |_, y| c::<T>(0.5) / plus_zero(y);      // +inf at ±0
        cbrt:       |x| x.cbrt(),          |_, y| (c::<T>(3.0) * y * y).recip();   // +inf at 0
        exp:        |x| x.exp(),           |_, y| y;
        exp2:       |x| x.exp2(),          |_, y| y * T::LN_2();
        exp_m1:     |x| x.exp_m1(),        |_, y| y + T::one();
        ln:         |x| x.ln(),            |x, _| plus_zero(x).recip();            // +inf at ±0
        log2:       |x| x.log2(),          |x, _| (plus_zero(x) * T::LN_2()).recip();
        log10:      |x| x.log10(),         |x, _| (plus_zero(x) * T::LN_10()).recip();
        ln_1p:      |x| x.ln_1p(),         |x, _| (T::one() + x).recip();
        to_degrees: |x| x.to_degrees(),    |_, _| c(1.0_f64.to_degrees());
        to_radians: |x| x.to_radians(),    |_, _| c(1.0_f64.to_radians());
        sin:        |x| x.sin(),           |x, _| x.cos();
        cos:        |x| x.cos(),           |x, _| -x.sin();
        tan:        |x| x.tan(),           |_, y| T::one() + y * y;
        asin:       |x| x.asin(),          |x, _| (T::one() - x * x).sqrt().recip();
        acos:       |x| x.acos(),          |x, _| -(T::one() - x * x).sqrt().recip();
        atan:       |x| x.atan(),          |x, _| (T::one() + x * x).recip();
        sinh:       |x| x.sinh(),          |x, _| x.cosh();
        cosh:       |x| x.cosh(),          |x, _| x.sinh();
        tanh:       |x| x.tanh(),          |_, y| T::one() - y * y;
        asinh:      |x| x.asinh(),         |x, _| x.hypot(T::one()).recip();
        acosh:      |x| x.acosh(),         |x, _| ((x - T::one()).sqrt() * (x + T::one()).sqrt()).recip();
        atanh:      |x| x.atanh(),         |x, _| (T::one() - x * x).recip();
    }

    #[inline]
    fn sin_cos(self) -> (Self, Self) {
        let x = self.value;
        let (s, c) = x.sin_cos();
        (self.chain(s, c), self.chain(c, -s))
    }

    /// `n·x^(n−1)`; `powi(x, 0)` is the constant 1 with derivative 0, also at `x = 0`.
    #[inline]
    fn powi(self, n: i32) -> Self {
        let x = self.value;
        let derivative = match n {
            0 => T::zero(),
            i32::MIN => c::<T>(f64::from(n)) * x.powi(n) / x,
            _ => c::<T>(f64::from(n)) * x.powi(n - 1),
        };
        self.chain(x.powi(n), derivative)
    }

    /// `∂/∂x = p·x^(p−1)` (0 at `x = p = 0`) and `∂/∂p = x^p·ln x` (0 where `x^p == 0`).
    #[inline]
    fn powf(self, p: Self) -> Self {
        self.binary(p, T::powf, |x, p, y| {
            let zero = T::zero();
            let dx = if x == zero && p == zero {
                zero
            } else {
                p * x.powf(p - T::one())
            };
            let dp = if y == zero { zero } else { y * x.ln() };
            (dx, dp)
        })
    }

    /// `log_b x = ln x / ln b`: `∂/∂x = 1/(x ln b)`, `∂/∂b = −log_b x / (b ln b)`.
    #[inline]
    fn log(self, base: Self) -> Self {
        self.binary(base, T::log, |x, b, y| {
            let ln_b = b.ln();
            ((plus_zero(x) * ln_b).recip(), -y / (b * ln_b))
        })
    }

    /// The derivative goes to the larger argument; a tie gives 0.5 to each.
    #[inline]
    fn max(self, other: Self) -> Self {
        self.binary(other, T::max, |x, z, _| {
            selection_weights(x, z, |a, b| a > b)
        })
    }

    /// The derivative goes to the smaller argument; a tie gives 0.5 to each.
    #[inline]
    fn min(self, other: Self) -> Self {
        self.binary(other, T::min, |x, z, _| {
            selection_weights(x, z, |a, b| a < b)
        })
    }

    /// The derivative is that of the selected one of `self`, `min`, `max`; `self` is
    /// selected on the bounds (`min <= self <= max`), as with a clip in PyTorch.
    #[inline]
    fn clamp(self, min: Self, max: Self) -> Self {
        debug_assert!(min <= max, "clamp: min must be less than or equal to max");
        if self < min {
            min
        } else if self > max {
            max
        } else {
            self.chain(self.value, T::one())
        }
    }

    /// `max(x − z, 0)`, with the tie rule of [`Float::max`] at `x = z`.
    #[inline]
    fn abs_sub(self, other: Self) -> Self {
        (self - other).max(Self::zero())
    }

    /// `√(x² + z²)`: partials `x/h`, `z/h`; zero at the origin.
    #[inline]
    fn hypot(self, other: Self) -> Self {
        self.binary(other, T::hypot, |x, z, h| {
            if h.is_zero() {
                (T::zero(), T::zero())
            } else {
                (x / h, z / h)
            }
        })
    }

    /// `atan2(y, x)`: partials `x/(x² + y²)`, `−y/(x² + y²)`; zero at the origin.
    #[inline]
    fn atan2(self, other: Self) -> Self {
        self.binary(other, T::atan2, |y, x, _| {
            // hypot, not x² + y², so the squares cannot underflow or overflow.
            let h = x.hypot(y);
            if h.is_zero() {
                (T::zero(), T::zero())
            } else {
                (x / h / h, -y / h / h)
            }
        })
    }

    /// `x·a + b`, fused in the value; partials `a`, `x`, `1`.
    #[inline]
    fn mul_add(self, a: Self, b: Self) -> Self {
        let product = self.chain2(a, self.value.mul_add(a.value, b.value), a.value, self.value);
        let mut tangent = product.tangent;
        for (t, &s) in tangent.iter_mut().zip(b.tangent.iter()) {
            *t += s;
        }
        Dual::new(product.value, tangent)
    }

    /// `±x`: derivative `±1`, whichever sign the result takes; `0` with respect to `sign`.
    #[inline]
    fn copysign(self, sign: Self) -> Self {
        let x = self.value;
        let flips = x.is_sign_negative() != sign.value.is_sign_negative();
        self.chain(
            x.copysign(sign.value),
            if flips { -T::one() } else { T::one() },
        )
    }
}

/// The mathematical constants, as constants (zero tangents).
///
/// ```
/// use retrograd::Dual;
/// use num_traits::FloatConst;
/// let pi: Dual = Dual::PI();
/// assert_eq!((pi.value, pi.tangent), (std::f64::consts::PI, [0.0]));
/// ```
impl<T: Real, const N: usize> FloatConst for Dual<T, N> {
    float_consts!(constant);
}

/// [`Real`] for duals, so that duals nest (`Dual<Dual<f64>>`) and generic code written
/// against `Real` runs in forward mode.
///
/// ```
/// use retrograd::{Dual, Real};
/// let x: Dual = Dual::variable(0.3, 0);
/// let e = x.erf(); // d/dx = 2/√π e^(−x²)
/// let expected = std::f64::consts::FRAC_2_SQRT_PI * (-0.09_f64).exp();
/// assert!((e.tangent[0] - expected).abs() < 1e-15);
/// assert_eq!(x.value(), 0.3);
/// ```
impl<T: Real, const N: usize> Real for Dual<T, N> {
    unary! {
        // name  value          derivative, given x and the value y
        erf:     |x| x.erf(),   |x, _| T::FRAC_2_SQRT_PI() * (-(x * x)).exp();
        erfc:    |x| x.erfc(),  |x, _| -T::FRAC_2_SQRT_PI() * (-(x * x)).exp();
    }

    #[inline]
    fn from_f64(x: f64) -> Self {
        Dual::constant(T::from_f64(x))
    }

    #[inline]
    fn value(self) -> f64 {
        self.value.value()
    }
}
