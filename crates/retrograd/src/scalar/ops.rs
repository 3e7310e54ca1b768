//! Arithmetic operators on [`Var`]: each line gives the value and the two partial
//! derivatives. Mixed forms (`Var` with a plain number on either side) reuse them with the
//! number as a constant.

use super::tape::TapeScalar;
use super::var::Var;
use crate::{Dual, Real};
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

/// A NaN result (`0·∞`, `0/0`, `x % 0`) gets NaN partials, so the NaN reaches the gradient.
#[inline(always)]
pub(crate) fn nan_guard<T: Real>(y: T, partials: (T, T)) -> (T, T) {
    if y.is_nan() {
        (y, y)
    } else {
        partials
    }
}

macro_rules! binary_operators {
    ([] $($Op:ident, $op:ident, $OpAssign:ident, $op_assign:ident:
       |$a:ident, $b:ident, $y:ident| $value:expr => $partials:expr;)*) => {$(
        impl<T: TapeScalar> $Op for Var<T> {
            type Output = Var<T>;
            #[inline(always)]
            #[track_caller]
            #[allow(clippy::suspicious_arithmetic_impl)]
            fn $op(self, rhs: Var<T>) -> Var<T> {
                let ($a, $b) = (self.value(), rhs.value());
                let $y = $value;
                self.binary(rhs, $y, || $partials)
            }
        }
        impl<T: TapeScalar> $Op<T> for Var<T> {
            type Output = Var<T>;
            #[inline(always)]
            #[track_caller]
            fn $op(self, rhs: T) -> Var<T> {
                self.$op(Var::constant(rhs))
            }
        }
        impl<T: TapeScalar> $OpAssign for Var<T> {
            #[inline(always)]
            #[track_caller]
            fn $op_assign(&mut self, rhs: Var<T>) {
                *self = (*self).$op(rhs);
            }
        }
        impl<T: TapeScalar> $OpAssign<T> for Var<T> {
            #[inline(always)]
            #[track_caller]
            fn $op_assign(&mut self, rhs: T) {
                *self = (*self).$op(Var::constant(rhs));
            }
        }
        impl $Op<Var<f64>> for f64 {
            type Output = Var<f64>;
            #[inline(always)]
            #[track_caller]
            fn $op(self, rhs: Var<f64>) -> Var<f64> {
                Var::constant(self).$op(rhs)
            }
        }
        impl $Op<Var<Dual<f64>>> for Dual<f64> {
            type Output = Var<Dual<f64>>;
            #[inline(always)]
            #[track_caller]
            fn $op(self, rhs: Var<Dual<f64>>) -> Var<Dual<f64>> {
                Var::constant(self).$op(rhs)
            }
        }
    )*};
}

/// The arithmetic operators: `Trait, method, AssignTrait, assign_method: |a, b, y| value =>
/// (∂/∂a, ∂/∂b)`. Passed to a macro that makes operator impls of them (on `Var`) or
/// operations to replay (`crate::replay`).
macro_rules! operator_table {
    ($apply:ident $(, $arg:tt)*) => {
        $apply! { [$($arg)*]
    // operator                        value          (∂/∂a, ∂/∂b), given a, b and the value y
    Add, add, AddAssign, add_assign: |a, b, _y| a + b => (T::one(), T::one());
    Sub, sub, SubAssign, sub_assign: |a, b, _y| a - b => (T::one(), -T::one());
    Mul, mul, MulAssign, mul_assign: |a, b, y| a * b => nan_guard(y, (b, a));
    Div, div, DivAssign, div_assign: |a, b, y| a / b => nan_guard(y, (b.recip(), -y / b));
    Rem, rem, RemAssign, rem_assign: |a, b, y| a % b => nan_guard(y, (T::one(), -(a / b).trunc()));
        }
    };
}
pub(crate) use operator_table;

operator_table!(binary_operators);

impl<T: TapeScalar> Neg for Var<T> {
    type Output = Var<T>;
    #[inline(always)]
    #[track_caller]
    fn neg(self) -> Var<T> {
        self.unary(-self.value(), || -T::one())
    }
}

impl<T: TapeScalar> std::iter::Sum for Var<T> {
    /// Sums as one tape statement with one operand per term (see [`crate::sum`]).
    fn sum<I: Iterator<Item = Var<T>>>(iter: I) -> Self {
        let terms: Vec<Var<T>> = iter.collect();
        super::slice::sum(&terms)
    }
}

impl<'a, T: TapeScalar> std::iter::Sum<&'a Var<T>> for Var<T> {
    fn sum<I: Iterator<Item = &'a Var<T>>>(iter: I) -> Self {
        iter.copied().sum()
    }
}

impl<T: TapeScalar> std::iter::Product for Var<T> {
    fn product<I: Iterator<Item = Var<T>>>(iter: I) -> Self {
        iter.fold(Var::constant(T::one()), |p, x| p * x)
    }
}
