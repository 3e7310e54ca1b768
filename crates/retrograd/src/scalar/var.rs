//! `Var`: a reverse-mode variable, and the recording primitives every operation uses.

use super::tape::{active, TapeCore, TapeScalar};
use std::cmp::Ordering;
use std::fmt;

/// A reverse-mode variable: a value and its position on the recording tape.
///
/// `Var` is a small `Copy` value (16 bytes for `f64`). Operations on variables are recorded
/// on the thread's active [`Tape`](crate::Tape); operations involving only constants record
/// nothing. `Var` implements [`num_traits::Float`] and [`Real`](crate::Real), so generic
/// numeric code runs on it unchanged. Comparisons look at values only.
///
/// ```
/// use retrograd::prelude::*;
/// fn f<T: Float>(x: T, y: T) -> T { x.sin() * y + y.powi(2) }
/// let g = retrograd::grad(|v| f(v[0], v[1]), &[0.0, 3.0]);
/// assert_eq!(g, vec![3.0, 6.0]);
/// ```
#[derive(Clone, Copy)]
pub struct Var<T = f64> {
    value: T,
    index: u32,
    /// Id of the recording epoch this variable belongs to (see `Lineage` in tape.rs); 0 for
    /// a constant.
    tape: u32,
}

impl<T: TapeScalar> Var<T> {
    /// A constant: a value that carries no derivative and records nothing.
    ///
    /// ```
    /// use retrograd::Var;
    /// let c = Var::constant(2.5);
    /// assert!(c.is_constant());
    /// ```
    #[inline(always)]
    pub fn constant(value: T) -> Self {
        Var {
            value,
            index: 0,
            tape: 0,
        }
    }

    /// The value of the variable.
    ///
    /// ```
    /// assert_eq!(retrograd::Var::constant(1.5).value(), 1.5);
    /// ```
    #[inline(always)]
    pub fn value(self) -> T {
        self.value
    }

    /// True for a constant (no derivative is recorded through it).
    ///
    /// ```
    /// assert!(retrograd::Var::constant(1.0).is_constant());
    /// ```
    #[inline(always)]
    pub fn is_constant(self) -> bool {
        self.tape == 0
    }

    /// The position of the variable's statement on its tape.
    ///
    /// ```
    /// let mut tape = retrograd::Tape::new();
    /// let (a, b) = tape.record(|rec| (rec.input(1.0), rec.input(2.0)));
    /// assert_eq!((a.index(), b.index()), (0, 1));
    /// ```
    #[inline(always)]
    pub fn index(self) -> u32 {
        self.index
    }

    #[inline(always)]
    pub(crate) fn from_parts(value: T, index: u32, tape: u32) -> Self {
        Var { value, index, tape }
    }

    #[inline(always)]
    pub(crate) fn tape_id(self) -> u32 {
        self.tape
    }

    /// Records `value = f(self)` with local derivative `d()`; `d` runs only when `self` is
    /// active.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn unary(self, value: T, d: impl FnOnce() -> T) -> Self {
        if self.tape == 0 {
            return Var::constant(value);
        }
        let tape = active(self);
        let id = tape.check(self);
        let i = tape.push([(d(), self.index)]);
        Var {
            value,
            index: i,
            tape: id,
        }
    }

    /// Records `value = f(self, other)` with local derivatives `d() = (∂f/∂self, ∂f/∂other)`.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn binary(self, other: Self, value: T, d: impl FnOnce() -> (T, T)) -> Self {
        match (self.tape, other.tape) {
            (0, 0) => Var::constant(value),
            (_, 0) => {
                let tape = active(self);
                let id = tape.check(self);
                let i = tape.push([(d().0, self.index)]);
                Var {
                    value,
                    index: i,
                    tape: id,
                }
            }
            (0, _) => {
                let tape = active(other);
                let id = tape.check(other);
                let i = tape.push([(d().1, other.index)]);
                Var {
                    value,
                    index: i,
                    tape: id,
                }
            }
            _ => {
                let tape = active(self);
                let id = tape.check_pair(self, other);
                let (da, db) = d();
                let i = tape.push([(da, self.index), (db, other.index)]);
                Var {
                    value,
                    index: i,
                    tape: id,
                }
            }
        }
    }

    /// Records a statement with any number of operands `(variable, ∂value/∂variable)`;
    /// constants among them are skipped. Used by the slice helpers and custom operations.
    #[track_caller]
    pub(crate) fn nary(value: T, operands: &[(Var<T>, T)]) -> Self {
        let Some(tape) = TapeCore::for_operands(operands.iter().map(|&(v, _)| v)) else {
            return Var::constant(value);
        };
        tape.reserve(operands.len());
        for &(v, d) in operands {
            if !v.is_constant() {
                tape.push_operand(d, v.index);
            }
        }
        let i = tape.end_statement();
        Var {
            value,
            index: i,
            tape: tape.id(),
        }
    }
}

impl<T: TapeScalar> From<T> for Var<T> {
    /// A constant.
    fn from(value: T) -> Self {
        Var::constant(value)
    }
}

impl<T: TapeScalar> Default for Var<T> {
    fn default() -> Self {
        Var::constant(T::zero())
    }
}

impl<T: TapeScalar> fmt::Debug for Var<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_constant() {
            write!(f, "Var({:?}, constant)", self.value)
        } else {
            write!(
                f,
                "Var({:?}, #{} of recording {})",
                self.value, self.index, self.tape
            )
        }
    }
}

impl<T: TapeScalar> fmt::Display for Var<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.value, f)
    }
}

impl<T: TapeScalar> PartialEq for Var<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: TapeScalar> PartialOrd for Var<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.value.partial_cmp(&other.value)
    }
}

impl<T: TapeScalar> PartialEq<T> for Var<T> {
    fn eq(&self, other: &T) -> bool {
        self.value == *other
    }
}

impl<T: TapeScalar> PartialOrd<T> for Var<T> {
    fn partial_cmp(&self, other: &T) -> Option<Ordering> {
        self.value.partial_cmp(other)
    }
}
