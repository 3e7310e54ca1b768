//! `Var`: a reverse-mode variable, and the recording primitives every operation uses.

use super::tape::{active, TapeCore, TapeScalar};
use std::cmp::Ordering;
use std::fmt;

/// A reverse-mode variable: a value and its position on the recording tape.
///
/// `Var` is a small `Copy` value (24 bytes for `f64`). Operations on variables are recorded
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
    /// `∂value/∂(the variable of statement index)`: one for that statement's own variable.
    scale: T,
    /// Position of the statement on the tape, with [`DERIVED`] set for a variable that is a
    /// function of that statement's variable alone and so has no statement of its own.
    index: u32,
    /// Id of the recording epoch this variable belongs to (see `Lineage` in tape.rs); 0 for
    /// a constant.
    tape: u32,
}

/// Marks, in `Var::index`, a variable whose statement was merged into its consumers: the
/// result of an operation whose active operands are all one variable (`sin(x)`, `2·x`,
/// `x·x`). Statements are therefore below 2³¹ (checked when the tape grows).
pub(crate) const DERIVED: u32 = 1 << 31;

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
            scale: T::zero(),
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

    /// True for a variable with a statement of its own on the tape: an input, or the result
    /// of an operation on two or more different variables. The result of an operation whose
    /// active operands are all one variable (`sin(x)`, `2.0 * x`, `x * x`) records nothing:
    /// it keeps the statement of that variable and its own derivative with respect to it,
    /// and its consumers record the product (the statement is merged into them). Such a
    /// variable has no adjoint of its own; [`Recorder::node`](crate::Recorder::node) gives
    /// it one.
    ///
    /// ```
    /// use retrograd::prelude::*;
    /// let mut tape = retrograd::Tape::new();
    /// tape.record(|rec| {
    ///     let (x, y) = (rec.input(1.0), rec.input(2.0));
    ///     assert!(x.is_node() && !x.sin().is_node() && !(2.0 * x).is_node());
    ///     assert!(!(x * x.sin()).is_node()); // still a function of x alone
    ///     assert!((x * y).is_node());
    /// });
    /// ```
    #[inline(always)]
    pub fn is_node(self) -> bool {
        self.tape != 0 && self.index & DERIVED == 0
    }

    /// The position on its tape of the variable's statement: its own for a
    /// [node](Var::is_node), else the one it was derived from.
    ///
    /// ```
    /// let mut tape = retrograd::Tape::new();
    /// let (a, b) = tape.record(|rec| (rec.input(1.0), rec.input(2.0)));
    /// assert_eq!((a.index(), b.index()), (0, 1));
    /// ```
    #[inline(always)]
    pub fn index(self) -> u32 {
        self.index & !DERIVED
    }

    /// `∂self/∂(the variable of statement index())`: one for a node.
    #[inline(always)]
    pub(crate) fn scale(self) -> T {
        self.scale
    }

    /// The variable of statement `index`.
    #[inline(always)]
    pub(crate) fn from_parts(value: T, index: u32, tape: u32) -> Self {
        Var {
            value,
            scale: T::one(),
            index,
            tape,
        }
    }

    #[inline(always)]
    pub(crate) fn tape_id(self) -> u32 {
        self.tape
    }

    /// `value = f(self)` with local derivative `d()`; `d` runs only when `self` is active.
    /// Records nothing: the result is derived from `self`'s statement.
    #[inline(always)]
    pub(crate) fn unary(self, value: T, d: impl FnOnce() -> T) -> Self {
        if self.tape == 0 {
            return Var::constant(value);
        }
        Var {
            value,
            scale: self.scale.chain(d()),
            index: self.index | DERIVED,
            tape: self.tape,
        }
    }

    /// `value = f(self, other)` with local derivatives `d() = (∂f/∂self, ∂f/∂other)`.
    /// Records one statement when the two are active and of different statements; else the
    /// result is derived, as in [`Var::unary`].
    #[inline(always)]
    #[track_caller]
    pub(crate) fn binary(self, other: Self, value: T, d: impl FnOnce() -> (T, T)) -> Self {
        match (self.tape, other.tape) {
            (0, 0) => Var::constant(value),
            (_, 0) => self.unary(value, || d().0),
            (0, _) => other.unary(value, || d().1),
            _ => {
                let (da, db) = d();
                let (pa, pb) = (self.scale.chain(da), other.scale.chain(db));
                if (self.index ^ other.index) & !DERIVED == 0 && self.tape == other.tape {
                    return Var {
                        value,
                        scale: pa + pb,
                        index: self.index | DERIVED,
                        tape: self.tape,
                    };
                }
                let tape = active(self);
                let id = tape.check_pair(self, other);
                let i = tape.push([(pa, self.index()), (pb, other.index())]);
                Var::from_parts(value, i, id)
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
                tape.push_operand(v.scale.chain(d), v.index());
            }
        }
        let i = tape.end_statement();
        Var::from_parts(value, i, tape.id())
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
            let kind = if self.is_node() { "" } else { "derived from " };
            write!(
                f,
                "Var({:?}, {kind}#{} of recording {})",
                self.value,
                self.index(),
                self.tape
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
