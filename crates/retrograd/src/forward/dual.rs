//! The `Dual` type: constructors, the chain-rule helpers every derivative rule goes through,
//! comparisons, formatting, and the `num_traits` conversion traits.

use crate::Real;
use num_traits::{Num, NumCast, One, ToPrimitive, Zero};
use std::cmp::Ordering;
use std::fmt;
use std::iter::{Product, Sum};

/// A dual number: a value and `N` tangents (directional derivatives), propagated forward.
///
/// Every operation computes its value and, by the chain rule, the derivative of that value
/// along each of the `N` seeded directions. `N = 1` gives one directional derivative per
/// evaluation; `N = n` gives a whole gradient of a function of `n` inputs in one pass.
///
/// Because `Dual<T, N>` implements [`Real`] whenever `T` does, duals nest:
/// `Dual<Dual<f64>>` computes second derivatives.
///
/// Comparisons (`==`, `<`, ...) look at the value only.
///
/// ```
/// use retrograd::Dual;
/// use num_traits::Float;
///
/// let x: Dual = Dual::variable(2.0, 0); // d/dx
/// let y = x * x.sin();
/// assert_eq!(y.value, 2.0 * 2.0_f64.sin());
/// assert!((y.tangent[0] - (2.0_f64.sin() + 2.0 * 2.0_f64.cos())).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Dual<T = f64, const N: usize = 1> {
    /// The primal value.
    pub value: T,
    /// The tangents, one per direction.
    pub tangent: [T; N],
}

impl<T: Real, const N: usize> Dual<T, N> {
    /// A dual with the given value and tangents.
    ///
    /// ```
    /// use retrograd::Dual;
    /// let x = Dual::new(1.5, [1.0, 0.5]);
    /// assert_eq!(x.tangent, [1.0, 0.5]);
    /// ```
    #[inline]
    pub fn new(value: T, tangent: [T; N]) -> Self {
        Dual { value, tangent }
    }

    /// A constant: its value with all tangents zero (it depends on no input).
    ///
    /// ```
    /// use retrograd::Dual;
    /// let c: Dual<f64, 2> = Dual::constant(3.0);
    /// assert_eq!(c.tangent, [0.0, 0.0]);
    /// ```
    #[inline]
    pub fn constant(value: T) -> Self {
        Dual {
            value,
            tangent: [T::zero(); N],
        }
    }

    /// An input variable: tangent one in direction `direction`, zero in the others.
    ///
    /// # Panics
    /// If `direction >= N`.
    ///
    /// ```
    /// use retrograd::Dual;
    /// let y: Dual<f64, 3> = Dual::variable(4.0, 1);
    /// assert_eq!(y.tangent, [0.0, 1.0, 0.0]);
    /// ```
    #[inline]
    pub fn variable(value: T, direction: usize) -> Self {
        assert!(
            direction < N,
            "Dual::variable: direction {direction} is out of range for a dual with {N} tangents"
        );
        let mut tangent = [T::zero(); N];
        tangent[direction] = T::one();
        Dual { value, tangent }
    }

    /// The value and the tangents, by value.
    ///
    /// ```
    /// use retrograd::Dual;
    /// let (v, t) = Dual::new(1.0, [2.0, 3.0]).into_parts();
    /// assert_eq!((v, t), (1.0, [2.0, 3.0]));
    /// ```
    #[inline]
    pub fn into_parts(self) -> (T, [T; N]) {
        (self.value, self.tangent)
    }

    /// Whether every tangent is exactly zero, i.e. the dual is a constant.
    ///
    /// ```
    /// use retrograd::Dual;
    /// assert!(Dual::<f64>::constant(2.0).is_constant());
    /// assert!(!Dual::<f64>::variable(2.0, 0).is_constant());
    /// ```
    #[inline]
    pub fn is_constant(&self) -> bool {
        self.tangent.iter().all(|t| t.is_zero())
    }

    /// The chain rule for a unary function: `value = f(x)` and `derivative = f'(x)`.
    ///
    /// A NaN input or a NaN value gives a NaN derivative whatever the rule says.
    #[inline]
    pub(crate) fn chain(self, value: T, derivative: T) -> Self {
        let derivative = if self.value.is_nan() || value.is_nan() {
            // Not `T::nan()`: when `T` is itself a dual, `x · 0` is NaN in its tangents too
            // (every direction `x` depends on), so higher derivatives are NaN as well.
            self.value * T::zero() + value * T::zero()
        } else {
            derivative
        };
        Dual {
            value,
            tangent: self.tangent.map(|t| scale(t, derivative)),
        }
    }

    /// Applies a unary rule written as two closures: the value `f(x)` and the
    /// derivative `f'(x)` given `x` and the value `y`.
    #[inline]
    pub(crate) fn unary(self, f: impl FnOnce(T) -> T, df: impl FnOnce(T, T) -> T) -> Self {
        let y = f(self.value);
        let d = df(self.value, y);
        self.chain(y, d)
    }

    /// The chain rule for a binary function `value = f(x, z)` with partial derivatives
    /// `d_self = ∂f/∂x` and `d_other = ∂f/∂z`. A NaN value gives NaN partials.
    #[inline]
    pub(crate) fn chain2(self, other: Self, value: T, d_self: T, d_other: T) -> Self {
        let (d_self, d_other) = if value.is_nan() {
            (value * T::zero(), value * T::zero()) // NaN in every component, as in `chain`
        } else {
            (d_self, d_other)
        };
        let mut tangent = self.tangent;
        for (t, &s) in tangent.iter_mut().zip(other.tangent.iter()) {
            *t = scale(*t, d_self) + scale(s, d_other);
        }
        Dual { value, tangent }
    }

    /// Applies a binary rule: the value `f(x, z)` and the partials `(∂f/∂x, ∂f/∂z)` given
    /// `x`, `z` and the value `y`.
    #[inline]
    pub(crate) fn binary(
        self,
        other: Self,
        f: impl FnOnce(T, T) -> T,
        df: impl FnOnce(T, T, T) -> (T, T),
    ) -> Self {
        let y = f(self.value, other.value);
        let (dx, dz) = df(self.value, other.value, y);
        self.chain2(other, y, dx, dz)
    }
}

impl<T: Real> Dual<T, 1> {
    /// The single tangent of a one-direction dual: the derivative along the seeded direction.
    ///
    /// ```
    /// use retrograd::Dual;
    /// let x: Dual = Dual::variable(3.0, 0);
    /// assert_eq!((x * x).derivative(), 6.0);
    /// ```
    #[inline]
    pub fn derivative(&self) -> T {
        self.tangent[0]
    }
}

/// `t · d`, except that a zero tangent stays exactly zero: a direction the input does not
/// depend on is never polluted by an infinite or NaN local derivative (`0 · ∞`).
#[inline]
fn scale<T: Real>(t: T, d: T) -> T {
    if t.is_zero() {
        T::zero()
    } else {
        t * d
    }
}

/// The zero constant, the same as [`Dual::constant`]`(T::default())`.
///
/// ```
/// use retrograd::Dual;
/// let d: Dual<f64, 2> = Default::default();
/// assert_eq!((d.value, d.tangent), (0.0, [0.0, 0.0]));
/// ```
impl<T: Real, const N: usize> Default for Dual<T, N> {
    fn default() -> Self {
        Dual::constant(T::default())
    }
}

/// Equality of values only; tangents are ignored, so code that branches on `x == 0`
/// takes the same branch as it would on plain numbers.
///
/// ```
/// use retrograd::Dual;
/// assert_eq!(Dual::new(1.0, [5.0]), Dual::constant(1.0));
/// assert!(Dual::<f64>::constant(1.0) == 1.0);
/// ```
impl<T: Real, const N: usize> PartialEq for Dual<T, N> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

/// Compares the value with a plain scalar.
///
/// ```
/// use retrograd::Dual;
/// assert!(Dual::<f64>::variable(2.0, 0) == 2.0);
/// ```
impl<T: Real, const N: usize> PartialEq<T> for Dual<T, N> {
    #[inline]
    fn eq(&self, other: &T) -> bool {
        self.value == *other
    }
}

/// Ordering of values only.
///
/// ```
/// use retrograd::Dual;
/// assert!(Dual::<f64>::constant(1.0) < Dual::variable(2.0, 0));
/// ```
impl<T: Real, const N: usize> PartialOrd for Dual<T, N> {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.value.partial_cmp(&other.value)
    }
}

/// Orders the value against a plain scalar.
///
/// ```
/// use retrograd::Dual;
/// assert!(Dual::<f64>::variable(2.0, 0) > 0.0);
/// ```
impl<T: Real, const N: usize> PartialOrd<T> for Dual<T, N> {
    #[inline]
    fn partial_cmp(&self, other: &T) -> Option<Ordering> {
        self.value.partial_cmp(other)
    }
}

/// Formats as `value + tangentε`, or `value + [t₀, t₁, …]ε` for several directions; the
/// format options (precision, …) apply to every number.
///
/// ```
/// use retrograd::Dual;
/// assert_eq!(Dual::new(1.5, [2.0]).to_string(), "1.5 + 2ε");
/// assert_eq!(format!("{:.1}", Dual::new(1.0, [2.0, 3.0])), "1.0 + [2.0, 3.0]ε");
/// ```
impl<T: Real, const N: usize> fmt::Display for Dual<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.value, f)?;
        f.write_str(" + ")?;
        if N == 1 {
            fmt::Display::fmt(&self.tangent[0], f)?;
        } else {
            f.write_str("[")?;
            for (i, t) in self.tangent.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                fmt::Display::fmt(t, f)?;
            }
            f.write_str("]")?;
        }
        f.write_str("ε")
    }
}

/// Sums duals; the tangents add.
///
/// ```
/// use retrograd::Dual;
/// let s: Dual = [1.0, 2.0].iter().map(|&v| Dual::variable(v, 0)).sum();
/// assert_eq!((s.value, s.tangent[0]), (3.0, 2.0));
/// ```
impl<T: Real, const N: usize> Sum for Dual<T, N> {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::zero(), |a, b| a + b)
    }
}

/// Sums borrowed duals.
///
/// ```
/// use retrograd::Dual;
/// let xs = [Dual::variable(1.0, 0), Dual::constant(2.0)];
/// assert_eq!(xs.iter().sum::<Dual>().value, 3.0);
/// ```
impl<'a, T: Real, const N: usize> Sum<&'a Dual<T, N>> for Dual<T, N> {
    fn sum<I: Iterator<Item = &'a Self>>(iter: I) -> Self {
        iter.fold(Self::zero(), |a, &b| a + b)
    }
}

/// Multiplies duals with the product rule.
///
/// ```
/// use retrograd::Dual;
/// let x: Dual = Dual::variable(3.0, 0);
/// let p: Dual = [x, x, x].into_iter().product();
/// assert_eq!((p.value, p.tangent[0]), (27.0, 27.0));
/// ```
impl<T: Real, const N: usize> Product for Dual<T, N> {
    fn product<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::one(), |a, b| a * b)
    }
}

/// Multiplies borrowed duals.
///
/// ```
/// use retrograd::Dual;
/// let xs = [Dual::variable(2.0, 0), Dual::constant(5.0)];
/// assert_eq!(xs.iter().product::<Dual>().tangent[0], 5.0);
/// ```
impl<'a, T: Real, const N: usize> Product<&'a Dual<T, N>> for Dual<T, N> {
    fn product<I: Iterator<Item = &'a Self>>(iter: I) -> Self {
        iter.fold(Self::one(), |a, &b| a * b)
    }
}

/// The constant zero. `is_zero` asks for value *and* tangents to be zero.
///
/// ```
/// use retrograd::Dual;
/// use num_traits::Zero;
/// assert!(Dual::<f64>::zero().is_zero());
/// assert!(!Dual::<f64>::variable(0.0, 0).is_zero());
/// ```
impl<T: Real, const N: usize> Zero for Dual<T, N> {
    #[inline]
    fn zero() -> Self {
        Dual::constant(T::zero())
    }
    #[inline]
    fn is_zero(&self) -> bool {
        self.value.is_zero() && self.is_constant()
    }
}

/// The constant one. `is_one` asks for value one and zero tangents.
///
/// ```
/// use retrograd::Dual;
/// use num_traits::One;
/// assert!(Dual::<f64>::one().is_one());
/// assert!(!Dual::<f64>::variable(1.0, 0).is_one());
/// ```
impl<T: Real, const N: usize> One for Dual<T, N> {
    #[inline]
    fn one() -> Self {
        Dual::constant(T::one())
    }
    #[inline]
    fn is_one(&self) -> bool {
        self.value.is_one() && self.is_constant()
    }
}

/// Parses a constant.
///
/// ```
/// use retrograd::Dual;
/// use num_traits::Num;
/// let c = Dual::<f64>::from_str_radix("2.5", 10).unwrap();
/// assert_eq!((c.value, c.tangent), (2.5, [0.0]));
/// ```
impl<T: Real, const N: usize> Num for Dual<T, N> {
    type FromStrRadixErr = T::FromStrRadixErr;
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        T::from_str_radix(s, radix).map(Dual::constant)
    }
}

/// Converts a primitive number into a constant.
///
/// ```
/// use retrograd::Dual;
/// use num_traits::NumCast;
/// let c: Dual = NumCast::from(3_u8).unwrap();
/// assert_eq!(c, Dual::constant(3.0));
/// ```
impl<T: Real, const N: usize> NumCast for Dual<T, N> {
    fn from<P: ToPrimitive>(n: P) -> Option<Self> {
        <T as NumCast>::from(n).map(Dual::constant)
    }
}

macro_rules! to_primitive {
    ($($name:ident -> $ty:ty;)*) => {
        $(
            #[inline]
            fn $name(&self) -> Option<$ty> {
                self.value.$name()
            }
        )*
    };
}

/// Converts the value (the tangents are dropped).
///
/// ```
/// use retrograd::Dual;
/// use num_traits::ToPrimitive;
/// assert_eq!(Dual::new(2.7, [1.0]).to_i32(), Some(2));
/// ```
impl<T: Real, const N: usize> ToPrimitive for Dual<T, N> {
    to_primitive! {
        to_isize -> isize;
        to_i8 -> i8;
        to_i16 -> i16;
        to_i32 -> i32;
        to_i64 -> i64;
        to_i128 -> i128;
        to_usize -> usize;
        to_u8 -> u8;
        to_u16 -> u16;
        to_u32 -> u32;
        to_u64 -> u64;
        to_u128 -> u128;
        to_f32 -> f32;
        to_f64 -> f64;
    }
}
