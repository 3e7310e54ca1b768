//! Arithmetic operators on `Dual`: with a dual or a scalar `T` on the right, with `f64` or
//! `f32` on the left, and the compound assignments.
//!
//! The rules themselves live in the `*_dual` / `*_scalar` methods below, one per operator;
//! the trait impls only route to them.

use super::Dual;
use crate::Real;
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

impl<T: Real, const N: usize> Dual<T, N> {
    #[inline]
    fn add_dual(self, rhs: Self) -> Self {
        let mut tangent = self.tangent;
        for (t, &r) in tangent.iter_mut().zip(rhs.tangent.iter()) {
            *t += r;
        }
        Dual::new(self.value + rhs.value, tangent)
    }

    #[inline]
    fn sub_dual(self, rhs: Self) -> Self {
        let mut tangent = self.tangent;
        for (t, &r) in tangent.iter_mut().zip(rhs.tangent.iter()) {
            *t -= r;
        }
        Dual::new(self.value - rhs.value, tangent)
    }

    // d(xz) = z dx + x dz
    #[inline]
    fn mul_dual(self, rhs: Self) -> Self {
        let (x, z) = (self.value, rhs.value);
        self.chain2(rhs, x * z, z, x)
    }

    // d(x/z) = dx / z − (x/z) dz / z
    #[inline]
    fn div_dual(self, rhs: Self) -> Self {
        let (x, z) = (self.value, rhs.value);
        let y = x / z;
        self.chain2(rhs, y, z.recip(), -y / z)
    }

    // x % z = x − trunc(x/z)·z, so ∂/∂x = 1 and ∂/∂z = −trunc(x/z) (away from the jumps).
    #[inline]
    fn rem_dual(self, rhs: Self) -> Self {
        let (x, z) = (self.value, rhs.value);
        self.chain2(rhs, x % z, T::one(), -(x / z).trunc())
    }

    #[inline]
    fn add_scalar(self, rhs: T) -> Self {
        Dual::new(self.value + rhs, self.tangent)
    }

    #[inline]
    fn sub_scalar(self, rhs: T) -> Self {
        Dual::new(self.value - rhs, self.tangent)
    }

    // The scalar is a constant: these are the dual rules with a zero tangent on the right.
    #[inline]
    fn mul_scalar(self, rhs: T) -> Self {
        self.chain(self.value * rhs, rhs)
    }

    #[inline]
    fn div_scalar(self, rhs: T) -> Self {
        self.chain(self.value / rhs, rhs.recip())
    }

    #[inline]
    fn rem_scalar(self, rhs: T) -> Self {
        self.chain(self.value % rhs, T::one())
    }

    #[inline]
    fn neg_dual(self) -> Self {
        Dual::new(-self.value, self.tangent.map(|t| -t))
    }
}

macro_rules! binary_operator {
    ($(#[$doc:meta])* $Op:ident, $op:ident, $OpAssign:ident, $op_assign:ident,
     $dual:ident, $scalar:ident) => {
        $(#[$doc])*
        impl<T: Real, const N: usize> $Op for Dual<T, N> {
            type Output = Self;
            #[inline]
            fn $op(self, rhs: Self) -> Self {
                self.$dual(rhs)
            }
        }

        #[doc = concat!("`", stringify!($Op), "` of a dual and a scalar (a constant).")]
        ///
        /// ```
        /// use retrograd::Dual;
        /// use std::ops::*;
        /// let x: Dual = Dual::variable(3.0, 0);
        #[doc = concat!("assert_eq!(x.", stringify!($op), "(2.0), x.",
                                                stringify!($op), "(Dual::constant(2.0)));")]
        /// ```
        impl<T: Real, const N: usize> $Op<T> for Dual<T, N> {
            type Output = Self;
            #[inline]
            fn $op(self, rhs: T) -> Self {
                self.$scalar(rhs)
            }
        }

        #[doc = concat!("`", stringify!($OpAssign), "` with a dual on the right.")]
        ///
        /// ```
        /// use retrograd::Dual;
        /// use std::ops::*;
        /// let mut x: Dual = Dual::variable(3.0, 0);
        /// let y = Dual::new(2.0, [0.5]);
        /// let expected = x;
        #[doc = concat!("x.", stringify!($op_assign), "(y);")]
        #[doc = concat!("assert_eq!(x.tangent, expected.", stringify!($op), "(y).tangent);")]
        /// ```
        impl<T: Real, const N: usize> $OpAssign for Dual<T, N> {
            #[inline]
            fn $op_assign(&mut self, rhs: Self) {
                *self = self.$dual(rhs);
            }
        }

        #[doc = concat!("`", stringify!($OpAssign), "` with a scalar on the right.")]
        ///
        /// ```
        /// use retrograd::Dual;
        /// use std::ops::*;
        /// let mut x: Dual = Dual::variable(3.0, 0);
        /// let expected = x;
        #[doc = concat!("x.", stringify!($op_assign), "(2.0);")]
        #[doc = concat!("assert_eq!(x.tangent, expected.", stringify!($op), "(2.0).tangent);")]
        /// ```
        impl<T: Real, const N: usize> $OpAssign<T> for Dual<T, N> {
            #[inline]
            fn $op_assign(&mut self, rhs: T) {
                *self = self.$scalar(rhs);
            }
        }
    };
}

binary_operator! {
    /// `Dual + Dual`: the tangents add.
    ///
    /// ```
    /// use retrograd::Dual;
    /// let s = Dual::variable(1.0, 0) + Dual::new(2.0, [3.0]);
    /// assert_eq!((s.value, s.tangent), (3.0, [4.0]));
    /// ```
    Add, add, AddAssign, add_assign, add_dual, add_scalar
}

binary_operator! {
    /// `Dual - Dual`: the tangents subtract.
    ///
    /// ```
    /// use retrograd::Dual;
    /// let d = Dual::variable(1.0, 0) - Dual::new(2.0, [3.0]);
    /// assert_eq!((d.value, d.tangent), (-1.0, [-2.0]));
    /// ```
    Sub, sub, SubAssign, sub_assign, sub_dual, sub_scalar
}

binary_operator! {
    /// `Dual * Dual`, by the product rule.
    ///
    /// ```
    /// use retrograd::Dual;
    /// let x: Dual = Dual::variable(3.0, 0);
    /// let p = x * x;
    /// assert_eq!((p.value, p.tangent), (9.0, [6.0]));
    /// ```
    Mul, mul, MulAssign, mul_assign, mul_dual, mul_scalar
}

binary_operator! {
    /// `Dual / Dual`, by the quotient rule.
    ///
    /// ```
    /// use retrograd::Dual;
    /// let x: Dual = Dual::variable(2.0, 0);
    /// let q = Dual::constant(1.0) / x; // d(1/x) = -1/x²
    /// assert_eq!((q.value, q.tangent), (0.5, [-0.25]));
    /// ```
    Div, div, DivAssign, div_assign, div_dual, div_scalar
}

binary_operator! {
    /// `Dual % Dual`, the remainder with the sign of the dividend (as `f64`'s `%`).
    ///
    /// ```
    /// use retrograd::Dual;
    /// let x: Dual = Dual::variable(7.0, 0);
    /// let r = x % Dual::constant(3.0); // slope 1 between the jumps
    /// assert_eq!((r.value, r.tangent), (1.0, [1.0]));
    /// ```
    Rem, rem, RemAssign, rem_assign, rem_dual, rem_scalar
}

/// Negation; the tangents change sign.
///
/// ```
/// use retrograd::Dual;
/// let n = -Dual::variable(2.0, 0);
/// assert_eq!((n.value, n.tangent), (-2.0, [-1.0]));
/// ```
impl<T: Real, const N: usize> Neg for Dual<T, N> {
    type Output = Self;
    #[inline]
    fn neg(self) -> Self {
        self.neg_dual()
    }
}

macro_rules! scalar_on_the_left {
    ($($scalar:ty),*) => {$(
        #[doc = concat!("`", stringify!($scalar), " + Dual`.")]
        ///
        /// ```
        /// use retrograd::Dual;
        #[doc = concat!("let s = 1.0_", stringify!($scalar), " + Dual::<",
                        stringify!($scalar), ">::variable(2.0, 0);")]
        /// assert_eq!((s.value, s.tangent), (3.0, [1.0]));
        /// ```
        impl<const N: usize> Add<Dual<$scalar, N>> for $scalar {
            type Output = Dual<$scalar, N>;
            #[inline]
            fn add(self, rhs: Dual<$scalar, N>) -> Dual<$scalar, N> {
                rhs.add_scalar(self)
            }
        }

        #[doc = concat!("`", stringify!($scalar), " - Dual`.")]
        ///
        /// ```
        /// use retrograd::Dual;
        #[doc = concat!("let d = 1.0_", stringify!($scalar), " - Dual::<",
                        stringify!($scalar), ">::variable(2.0, 0);")]
        /// assert_eq!((d.value, d.tangent), (-1.0, [-1.0]));
        /// ```
        impl<const N: usize> Sub<Dual<$scalar, N>> for $scalar {
            type Output = Dual<$scalar, N>;
            #[inline]
            fn sub(self, rhs: Dual<$scalar, N>) -> Dual<$scalar, N> {
                rhs.neg_dual().add_scalar(self)
            }
        }

        #[doc = concat!("`", stringify!($scalar), " * Dual`.")]
        ///
        /// ```
        /// use retrograd::Dual;
        #[doc = concat!("let p = 3.0_", stringify!($scalar), " * Dual::<",
                        stringify!($scalar), ">::variable(2.0, 0);")]
        /// assert_eq!((p.value, p.tangent), (6.0, [3.0]));
        /// ```
        impl<const N: usize> Mul<Dual<$scalar, N>> for $scalar {
            type Output = Dual<$scalar, N>;
            #[inline]
            fn mul(self, rhs: Dual<$scalar, N>) -> Dual<$scalar, N> {
                rhs.mul_scalar(self)
            }
        }

        #[doc = concat!("`", stringify!($scalar), " / Dual`.")]
        ///
        /// ```
        /// use retrograd::Dual;
        #[doc = concat!("let q = 1.0_", stringify!($scalar), " / Dual::<",
                        stringify!($scalar), ">::variable(2.0, 0);")]
        /// assert_eq!((q.value, q.tangent), (0.5, [-0.25]));
        /// ```
        impl<const N: usize> Div<Dual<$scalar, N>> for $scalar {
            type Output = Dual<$scalar, N>;
            #[inline]
            fn div(self, rhs: Dual<$scalar, N>) -> Dual<$scalar, N> {
                Dual::constant(self).div_dual(rhs)
            }
        }

        #[doc = concat!("`", stringify!($scalar), " % Dual`.")]
        ///
        /// ```
        /// use retrograd::Dual;
        #[doc = concat!("let r = 7.0_", stringify!($scalar), " % Dual::<",
                        stringify!($scalar), ">::variable(3.0, 0);")]
        /// assert_eq!((r.value, r.tangent), (1.0, [-2.0])); // ∂/∂z = −trunc(7/3)
        /// ```
        impl<const N: usize> Rem<Dual<$scalar, N>> for $scalar {
            type Output = Dual<$scalar, N>;
            #[inline]
            fn rem(self, rhs: Dual<$scalar, N>) -> Dual<$scalar, N> {
                Dual::constant(self).rem_dual(rhs)
            }
        }
    )*};
}

scalar_on_the_left!(f64, f32);
