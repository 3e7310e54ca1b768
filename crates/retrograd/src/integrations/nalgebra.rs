//! [`Var`] and [`Dual`] as scalars of [`nalgebra`](https://nalgebra.rs) matrices.
//!
//! nalgebra's generic algorithms are written against the `simba` traits `ComplexField` and
//! `RealField`; implementing them (and what they require: `SimdValue`, `Field`, the
//! `SubsetOf`/`SupersetOf` conversions, `approx`'s comparisons, `num_traits::Signed` and
//! `FromPrimitive`) for `Var<T>` and `Dual<T, N>` lets matrix products, LU and Cholesky
//! factorisations and solves, determinants and inverses run on tape variables or dual
//! numbers with no change to nalgebra or to the user's code. Each scalar function forwards
//! to the [`Real`] operation of the same name, with its derivative rule.
//!
//! Conventions: comparisons (`approx`, pivoting) look at values only, as for `PartialOrd`;
//! `try_sqrt` is `None` for a negative value, so a Cholesky factorisation of a matrix that
//! is not positive definite fails as it does on `f64`; a conversion down to `f64`
//! (`SubsetOf`) counts as exact only for a constant (no derivative).
//!
//! ```
//! use nalgebra::DMatrix;
//! use retrograd::prelude::*;
//! // d det(A)/dA = det(A)·A⁻ᵀ (Jacobi's formula).
//! let a = [2.0, 1.0, 0.5, 3.0];
//! let g = retrograd::grad(|x| DMatrix::from_row_slice(2, 2, x).determinant(), &a);
//! assert_eq!(g, vec![3.0, -0.5, -1.0, 2.0]);
//! ```

use crate::scalar::tape::TapeScalar;
use crate::{Dual, Real, Var};
use approx::{AbsDiffEq, RelativeEq, UlpsEq};
use num_traits::{Float, FloatConst, FromPrimitive, Signed};
use simba::scalar::{ComplexField, Field, RealField, SubsetOf};
use simba::simd::SimdValue;

/// Implements the nalgebra scalar traits for `$ty` given its generic parameters.
macro_rules! nalgebra_scalar {
    (impl[$($generics:tt)*] $ty:ty, constant: |$c:ident| $is_constant:expr) => {
        impl<$($generics)*> FromPrimitive for $ty {
            fn from_i64(n: i64) -> Option<Self> {
                Some(<Self as Real>::from_f64(n as f64))
            }
            fn from_u64(n: u64) -> Option<Self> {
                Some(<Self as Real>::from_f64(n as f64))
            }
            fn from_f64(x: f64) -> Option<Self> {
                Some(<Self as Real>::from_f64(x))
            }
        }

        impl<$($generics)*> Signed for $ty {
            fn abs(&self) -> Self {
                Float::abs(*self)
            }
            fn abs_sub(&self, other: &Self) -> Self {
                Float::abs_sub(*self, *other)
            }
            fn signum(&self) -> Self {
                Float::signum(*self)
            }
            fn is_positive(&self) -> bool {
                Real::value(*self) > 0.0
            }
            fn is_negative(&self) -> bool {
                Real::value(*self) < 0.0
            }
        }

        impl<$($generics)*> AbsDiffEq for $ty {
            type Epsilon = Self;
            fn default_epsilon() -> Self {
                <Self as Real>::from_f64(f64::EPSILON)
            }
            fn abs_diff_eq(&self, other: &Self, epsilon: Self) -> bool {
                Real::value(*self).abs_diff_eq(&Real::value(*other), Real::value(epsilon))
            }
        }

        impl<$($generics)*> RelativeEq for $ty {
            fn default_max_relative() -> Self {
                <Self as Real>::from_f64(f64::EPSILON)
            }
            fn relative_eq(&self, other: &Self, epsilon: Self, max_relative: Self) -> bool {
                Real::value(*self).relative_eq(
                    &Real::value(*other),
                    Real::value(epsilon),
                    Real::value(max_relative),
                )
            }
        }

        impl<$($generics)*> UlpsEq for $ty {
            fn default_max_ulps() -> u32 {
                4
            }
            fn ulps_eq(&self, other: &Self, epsilon: Self, max_ulps: u32) -> bool {
                Real::value(*self).ulps_eq(&Real::value(*other), Real::value(epsilon), max_ulps)
            }
        }

        impl<$($generics)*> SimdValue for $ty {
            const LANES: usize = 1;
            type Element = Self;
            type SimdBool = bool;
            fn splat(val: Self) -> Self {
                val
            }
            fn extract(&self, _: usize) -> Self {
                *self
            }
            unsafe fn extract_unchecked(&self, _: usize) -> Self {
                *self
            }
            fn replace(&mut self, _: usize, val: Self) {
                *self = val
            }
            unsafe fn replace_unchecked(&mut self, _: usize, val: Self) {
                *self = val
            }
            fn select(self, cond: bool, other: Self) -> Self {
                if cond {
                    self
                } else {
                    other
                }
            }
        }

        impl<$($generics)*> Field for $ty {}

        impl<$($generics)*> SubsetOf<$ty> for $ty {
            fn to_superset(&self) -> Self {
                *self
            }
            fn from_superset_unchecked(element: &Self) -> Self {
                *element
            }
            fn is_in_subset(_: &Self) -> bool {
                true
            }
        }

        impl<$($generics)*> SubsetOf<$ty> for f64 {
            fn to_superset(&self) -> $ty {
                <$ty as Real>::from_f64(*self)
            }
            fn from_superset_unchecked(element: &$ty) -> f64 {
                Real::value(*element)
            }
            fn is_in_subset($c: &$ty) -> bool {
                $is_constant
            }
        }

        impl<$($generics)*> SubsetOf<$ty> for f32 {
            fn to_superset(&self) -> $ty {
                <$ty as Real>::from_f64(f64::from(*self))
            }
            fn from_superset_unchecked(element: &$ty) -> f32 {
                Real::value(*element) as f32
            }
            fn is_in_subset($c: &$ty) -> bool {
                $is_constant
            }
        }

        impl<$($generics)*> ComplexField for $ty {
            type RealField = Self;

            fn from_real(re: Self) -> Self {
                re
            }
            fn real(self) -> Self {
                self
            }
            fn imaginary(self) -> Self {
                num_traits::Zero::zero()
            }
            fn modulus(self) -> Self {
                Float::abs(self)
            }
            fn modulus_squared(self) -> Self {
                self * self
            }
            fn argument(self) -> Self {
                if Float::is_sign_negative(self) {
                    <Self as FloatConst>::PI()
                } else {
                    num_traits::Zero::zero()
                }
            }
            fn norm1(self) -> Self {
                Float::abs(self)
            }
            fn scale(self, factor: Self) -> Self {
                self * factor
            }
            fn unscale(self, factor: Self) -> Self {
                self / factor
            }
            fn floor(self) -> Self {
                Float::floor(self)
            }
            fn ceil(self) -> Self {
                Float::ceil(self)
            }
            fn round(self) -> Self {
                Float::round(self)
            }
            fn trunc(self) -> Self {
                Float::trunc(self)
            }
            fn fract(self) -> Self {
                Float::fract(self)
            }
            fn mul_add(self, a: Self, b: Self) -> Self {
                Float::mul_add(self, a, b)
            }
            fn abs(self) -> Self {
                Float::abs(self)
            }
            fn hypot(self, other: Self) -> Self {
                Float::hypot(self, other)
            }
            fn recip(self) -> Self {
                Float::recip(self)
            }
            fn conjugate(self) -> Self {
                self
            }
            fn sin(self) -> Self {
                Float::sin(self)
            }
            fn cos(self) -> Self {
                Float::cos(self)
            }
            fn sin_cos(self) -> (Self, Self) {
                Float::sin_cos(self)
            }
            fn tan(self) -> Self {
                Float::tan(self)
            }
            fn asin(self) -> Self {
                Float::asin(self)
            }
            fn acos(self) -> Self {
                Float::acos(self)
            }
            fn atan(self) -> Self {
                Float::atan(self)
            }
            fn sinh(self) -> Self {
                Float::sinh(self)
            }
            fn cosh(self) -> Self {
                Float::cosh(self)
            }
            fn tanh(self) -> Self {
                Float::tanh(self)
            }
            fn asinh(self) -> Self {
                Float::asinh(self)
            }
            fn acosh(self) -> Self {
                Float::acosh(self)
            }
            fn atanh(self) -> Self {
                Float::atanh(self)
            }
            fn log(self, base: Self) -> Self {
                Float::log(self, base)
            }
            fn log2(self) -> Self {
                Float::log2(self)
            }
            fn log10(self) -> Self {
                Float::log10(self)
            }
            fn ln(self) -> Self {
                Float::ln(self)
            }
            fn ln_1p(self) -> Self {
                Float::ln_1p(self)
            }
            fn sqrt(self) -> Self {
                Float::sqrt(self)
            }
            fn exp(self) -> Self {
                Float::exp(self)
            }
            fn exp2(self) -> Self {
                Float::exp2(self)
            }
            fn exp_m1(self) -> Self {
                Float::exp_m1(self)
            }
            fn powi(self, n: i32) -> Self {
                Float::powi(self, n)
            }
            fn powf(self, n: Self) -> Self {
                Float::powf(self, n)
            }
            fn powc(self, n: Self) -> Self {
                Float::powf(self, n)
            }
            fn cbrt(self) -> Self {
                Float::cbrt(self)
            }
            fn is_finite(&self) -> bool {
                Float::is_finite(*self)
            }
            fn try_sqrt(self) -> Option<Self> {
                if Real::value(self) >= 0.0 {
                    Some(Float::sqrt(self))
                } else {
                    None
                }
            }
        }

        impl<$($generics)*> RealField for $ty {
            fn is_sign_positive(&self) -> bool {
                Float::is_sign_positive(*self)
            }
            fn is_sign_negative(&self) -> bool {
                Float::is_sign_negative(*self)
            }
            fn copysign(self, sign: Self) -> Self {
                Float::copysign(self, sign)
            }
            fn max(self, other: Self) -> Self {
                Float::max(self, other)
            }
            fn min(self, other: Self) -> Self {
                Float::min(self, other)
            }
            fn clamp(self, min: Self, max: Self) -> Self {
                Float::min(Float::max(self, min), max)
            }
            fn atan2(self, other: Self) -> Self {
                Float::atan2(self, other)
            }
            fn min_value() -> Option<Self> {
                Some(<Self as Float>::min_value())
            }
            fn max_value() -> Option<Self> {
                Some(<Self as Float>::max_value())
            }
            fn pi() -> Self {
                <Self as FloatConst>::PI()
            }
            fn two_pi() -> Self {
                <Self as FloatConst>::TAU()
            }
            fn frac_pi_2() -> Self {
                <Self as FloatConst>::FRAC_PI_2()
            }
            fn frac_pi_3() -> Self {
                <Self as FloatConst>::FRAC_PI_3()
            }
            fn frac_pi_4() -> Self {
                <Self as FloatConst>::FRAC_PI_4()
            }
            fn frac_pi_6() -> Self {
                <Self as FloatConst>::FRAC_PI_6()
            }
            fn frac_pi_8() -> Self {
                <Self as FloatConst>::FRAC_PI_8()
            }
            fn frac_1_pi() -> Self {
                <Self as FloatConst>::FRAC_1_PI()
            }
            fn frac_2_pi() -> Self {
                <Self as FloatConst>::FRAC_2_PI()
            }
            fn frac_2_sqrt_pi() -> Self {
                <Self as FloatConst>::FRAC_2_SQRT_PI()
            }
            fn e() -> Self {
                <Self as FloatConst>::E()
            }
            fn log2_e() -> Self {
                <Self as FloatConst>::LOG2_E()
            }
            fn log10_e() -> Self {
                <Self as FloatConst>::LOG10_E()
            }
            fn ln_2() -> Self {
                <Self as FloatConst>::LN_2()
            }
            fn ln_10() -> Self {
                <Self as FloatConst>::LN_10()
            }
        }
    };
}

nalgebra_scalar!(impl[T: TapeScalar] Var<T>, constant: |x| x.is_constant());
nalgebra_scalar!(impl[T: Real, const N: usize] Dual<T, N>, constant: |x| x.is_constant());
