//! The numeric trait shared by `f64`, forward-mode [`Dual`](crate::Dual) numbers and
//! reverse-mode [`Var`](crate::Var)s, so that one generic function runs on all of them.

use num_traits::{Float, FloatConst, NumAssign};
use std::fmt::{Debug, Display};
use std::iter::Sum;

/// A real number type: [`num_traits::Float`] plus the few functions it lacks.
///
/// Code written against `Real` (or against plain `Float`) runs unchanged on `f64`, on
/// [`Dual`](crate::Dual) (forward mode) and on [`Var`](crate::Var) (reverse mode).
///
/// ```
/// use retrograd::Real;
/// fn gaussian_cdf<T: Real>(x: T) -> T {
///     let half = T::from_f64(0.5);
///     half * (T::one() + (x / T::SQRT_2()).erf())
/// }
/// assert!((gaussian_cdf(0.0_f64) - 0.5).abs() < 1e-15);
/// ```
pub trait Real:
    Float + FloatConst + NumAssign + Sum + Debug + Display + Default + Send + Sync + 'static
{
    /// The error function, `2/√π ∫₀ˣ e^(−t²) dt`.
    fn erf(self) -> Self;
    /// The complementary error function, `1 − erf(x)`, accurate for large `x`.
    fn erfc(self) -> Self;
    /// Converts an `f64` constant (a passive value: it carries no derivative).
    fn from_f64(x: f64) -> Self;
    /// The primal value as `f64`, dropping any derivative information.
    fn value(self) -> f64;
    /// The sign convention at zero used by `signum`-like kinks: `1` for `x > 0`,
    /// `-1` for `x < 0`, `0` at `0` and for NaN.
    fn sign0(self) -> f64 {
        let v = self.value();
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    }

    /// How [`Recording::call`](crate::replay::Recording::call) replays on this type: by
    /// default the replay's values through the generic forward pass (forward-mode
    /// derivatives on `Dual`); `Var` puts one operation on its tape instead, and `Traced`
    /// inlines the recording.
    #[doc(hidden)]
    fn call_recording(
        recording: &crate::replay::Recording,
        x: &[Self],
    ) -> Result<Vec<Self>, crate::Error> {
        recording.call_values(x)
    }
}

/// Hands the names of `num_traits::FloatConst`'s constants to `$apply`, a macro that makes
/// one method per name: the number types implement `FloatConst` from this one list.
macro_rules! float_consts {
    ($apply:ident) => {
        $apply!(
            E,
            FRAC_1_PI,
            FRAC_1_SQRT_2,
            FRAC_2_PI,
            FRAC_2_SQRT_PI,
            FRAC_PI_2,
            FRAC_PI_3,
            FRAC_PI_4,
            FRAC_PI_6,
            FRAC_PI_8,
            LN_10,
            LN_2,
            LOG10_E,
            LOG2_E,
            PI,
            SQRT_2,
            TAU,
            LOG10_2,
            LOG2_10
        );
    };
}
pub(crate) use float_consts;

/// Hands the names of `num_traits::Float`'s special values (NaN, infinities, limits) to
/// `$apply`, as [`float_consts`] does.
macro_rules! float_special_values {
    ($apply:ident) => {
        $apply!(
            nan,
            infinity,
            neg_infinity,
            neg_zero,
            min_value,
            min_positive_value,
            epsilon,
            max_value
        );
    };
}
pub(crate) use float_special_values;

impl Real for f64 {
    #[inline]
    fn erf(self) -> Self {
        libm::erf(self)
    }
    #[inline]
    fn erfc(self) -> Self {
        libm::erfc(self)
    }
    #[inline]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline]
    fn value(self) -> f64 {
        self
    }
}

impl Real for f32 {
    #[inline]
    fn erf(self) -> Self {
        libm::erff(self)
    }
    #[inline]
    fn erfc(self) -> Self {
        libm::erfcf(self)
    }
    #[inline]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn value(self) -> f64 {
        self as f64
    }
}
