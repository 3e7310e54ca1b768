//! A recorded function as a list of operations, and the two interpreters over it: the
//! forward pass (values, and the local partial derivatives when a sweep follows) and the
//! reverse sweep. The operations are the scalar tape's rule tables (`scalar::rules`,
//! `scalar::ops`) turned into enums, so each function's value and derivative are still
//! written in one place.

use crate::scalar::ops::{nan_guard, operator_table};
use crate::scalar::rules::{
    binary_table, max_partials, powi_derivative, real_unary_table, unary_table,
};
use crate::Real;
use std::panic::Location;

/// Makes an enum of one-argument functions from a rule table, with their value and
/// (value, derivative) at a point.
macro_rules! unary_ops {
    ([$Enum:ident] $($name:ident: |$x:ident, $y:ident| $value:expr => $derivative:expr;)*) => {
        /// One-argument functions of the rule table of the same name.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum $Enum { $($name),* }

        impl $Enum {
            /// The value at `x`.
            #[inline(always)]
            pub(crate) fn value<T: Real>(self, x: T) -> T {
                match self { $(Self::$name => { let $x = x; $value })* }
            }

            /// The value at `x` and the derivative there (NaN where the value is NaN).
            #[inline(always)]
            pub(crate) fn linearise<T: Real>(self, x: T) -> (T, T) {
                match self {
                    $(Self::$name => {
                        let $x = x;
                        let $y = $value;
                        ($y, if $y.is_nan() { $y } else { $derivative })
                    })*
                }
            }
        }
    };
}

/// Makes an enum of two-argument functions from a rule table, as [`unary_ops`]; `guarded`
/// tables give NaN partials where the value is NaN (the `Float` functions), the operator
/// table states its own NaN handling.
macro_rules! binary_ops {
    ([$Enum:ident $guarded:literal]
     $($name:ident: |$a:ident, $b:ident, $y:ident| $value:expr => $partials:expr;)*) => {
        /// Two-argument functions of the rule table of the same name.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum $Enum { $($name),* }

        impl $Enum {
            /// The value at `(a, b)`.
            #[inline(always)]
            pub(crate) fn value<T: Real>(self, a: T, b: T) -> T {
                match self { $(Self::$name => { let ($a, $b) = (a, b); $value })* }
            }

            /// The value at `(a, b)` and the partials `(∂/∂a, ∂/∂b)` there.
            #[inline(always)]
            pub(crate) fn linearise<T: Real>(self, a: T, b: T) -> (T, (T, T)) {
                match self {
                    $(Self::$name => {
                        let ($a, $b) = (a, b);
                        let $y = $value;
                        let partials = if $guarded && $y.is_nan() { ($y, $y) } else { $partials };
                        ($y, partials)
                    })*
                }
            }
        }
    };
}

/// Reorders an operator-table row (`Add, add, AddAssign, add_assign: ...`) into the
/// [`binary_ops`] form, naming each operation by its method.
macro_rules! operator_ops {
    ([$Enum:ident] $($Op:ident, $op:ident, $OpAssign:ident, $op_assign:ident:
       |$a:ident, $b:ident, $y:ident| $value:expr => $partials:expr;)*) => {
        binary_ops! { [$Enum false] $($op: |$a, $b, $y| $value => $partials;)* }
    };
}

unary_table!(unary_ops, Unary);
real_unary_table!(unary_ops, RealUnary);
binary_table!(binary_ops, Binary, true);
operator_table!(operator_ops, Operator);

/// What a node computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Op {
    /// The next input, in order.
    Input,
    /// `consts[i]`.
    Const(u32),
    Unary(Unary),
    RealUnary(RealUnary),
    Binary(Binary),
    Operator(Operator),
    Neg,
    Powi(i32),
    /// `a.mul_add(b, c)`.
    MulAdd,
}

impl Op {
    /// How many operands the node reads.
    pub(crate) fn arity(self) -> usize {
        match self {
            Op::Input | Op::Const(_) => 0,
            Op::Unary(_) | Op::RealUnary(_) | Op::Neg | Op::Powi(_) => 1,
            Op::Binary(_) | Op::Operator(_) => 2,
            Op::MulAdd => 3,
        }
    }
}

/// One recorded operation: what it computes and from which earlier nodes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub(crate) op: Op,
    /// Earlier nodes read by the operation; entries past its arity are unused.
    pub(crate) args: [u32; 3],
}

/// A branch taken while recording: what was asked of which nodes, and the answer then.
#[derive(Clone, Debug)]
pub(crate) struct Guard {
    pub(crate) test: Test,
    pub(crate) args: [u32; 2],
    /// The answer when recorded, as [`Test::answer`] encodes it.
    pub(crate) answer: u64,
    /// Where in the user's code the question was asked.
    pub(crate) location: &'static Location<'static>,
}

/// A question about values whose answer may steer the recorded code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Test {
    /// `partial_cmp`: the answer is `None`, `Less`, `Equal`, `Greater` as 0–3.
    Compare,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    IsNan,
    IsInfinite,
    IsFinite,
    IsNormal,
    IsSubnormal,
    IsSignPositive,
    IsSignNegative,
    IsZero,
    /// `classify()`, as the variant's position.
    Classify,
    /// `sign0()`: −1, 0 or 1.
    Sign0,
    /// The value itself left the recording (`value()`, `to_f64()`, `integer_decode()`):
    /// the answer is its bit pattern, so any change is a change of path.
    Value,
}

impl Test {
    /// The answer to the question at these values, encoded as a number.
    pub(crate) fn answer(self, a: f64, b: f64) -> u64 {
        use std::cmp::Ordering;
        use std::num::FpCategory;
        let bool = |x: bool| x as u64;
        match self {
            Test::Compare => match a.partial_cmp(&b) {
                None => 0,
                Some(Ordering::Less) => 1,
                Some(Ordering::Equal) => 2,
                Some(Ordering::Greater) => 3,
            },
            Test::Lt => bool(a < b),
            Test::Le => bool(a <= b),
            Test::Gt => bool(a > b),
            Test::Ge => bool(a >= b),
            Test::Eq => bool(a == b),
            Test::Ne => bool(a != b),
            Test::IsNan => bool(a.is_nan()),
            Test::IsInfinite => bool(a.is_infinite()),
            Test::IsFinite => bool(a.is_finite()),
            Test::IsNormal => bool(a.is_normal()),
            Test::IsSubnormal => bool(a.is_subnormal()),
            Test::IsSignPositive => bool(a.is_sign_positive()),
            Test::IsSignNegative => bool(a.is_sign_negative()),
            Test::IsZero => bool(a == 0.0),
            Test::Classify => match a.classify() {
                FpCategory::Nan => 0,
                FpCategory::Infinite => 1,
                FpCategory::Zero => 2,
                FpCategory::Subnormal => 3,
                FpCategory::Normal => 4,
            },
            Test::Sign0 => a.sign0().to_bits(),
            Test::Value => a.to_bits(),
        }
    }

    /// How the question reads in an error message.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Test::Compare => "a comparison (partial_cmp)",
            Test::Lt => "a comparison `<`",
            Test::Le => "a comparison `<=`",
            Test::Gt => "a comparison `>`",
            Test::Ge => "a comparison `>=`",
            Test::Eq => "a comparison `==`",
            Test::Ne => "a comparison `!=`",
            Test::IsNan => "`is_nan()`",
            Test::IsInfinite => "`is_infinite()`",
            Test::IsFinite => "`is_finite()`",
            Test::IsNormal => "`is_normal()`",
            Test::IsSubnormal => "`is_subnormal()`",
            Test::IsSignPositive => "`is_sign_positive()`",
            Test::IsSignNegative => "`is_sign_negative()`",
            Test::IsZero => "`is_zero()`",
            Test::Classify => "`classify()`",
            Test::Sign0 => "`sign0()`",
            Test::Value => "a value read out of the recording (`value()`, `to_f64()`, ...)",
        }
    }
}

/// The recorded function: nodes in order (inputs first), constants, outputs and guards.
#[derive(Clone, Debug, Default)]
pub(crate) struct Program {
    pub(crate) nodes: Vec<Node>,
    pub(crate) consts: Vec<f64>,
    pub(crate) inputs: usize,
    pub(crate) outputs: Vec<u32>,
    pub(crate) guards: Vec<Guard>,
}

impl Program {
    /// Runs the operations forward from `inputs` (one per input node, checked by the
    /// caller): fills `values` and, when `LINEARISE`, each node's partials with respect to
    /// its operands.
    #[inline(always)]
    pub(crate) fn forward<T: Real, const LINEARISE: bool>(
        &self,
        inputs: &[T],
        values: &mut Vec<T>,
        partials: &mut Vec<[T; 3]>,
    ) {
        values.clear();
        partials.clear();
        let zero = T::zero();
        for node in &self.nodes {
            let [a, b, c] = node.args.map(|i| i as usize);
            // Operands are earlier nodes (checked when recorded), so `values` holds them.
            let (y, d) = match node.op {
                Op::Input => (inputs[values.len()], [zero; 3]),
                Op::Const(i) => (T::from_f64(self.consts[i as usize]), [zero; 3]),
                Op::Unary(f) => one(LINEARISE, values[a], |x| f.value(x), |x| f.linearise(x)),
                Op::RealUnary(f) => one(LINEARISE, values[a], |x| f.value(x), |x| f.linearise(x)),
                Op::Neg => one(LINEARISE, values[a], |x| -x, |x| (-x, -T::one())),
                Op::Powi(n) => one(
                    LINEARISE,
                    values[a],
                    |x| x.powi(n),
                    |x| (x.powi(n), powi_derivative(x, n)),
                ),
                Op::Binary(f) => two(LINEARISE, values[a], values[b], |x, y| f.value(x, y), |x, y| {
                    f.linearise(x, y)
                }),
                Op::Operator(f) => two(LINEARISE, values[a], values[b], |x, y| f.value(x, y), |x, y| {
                    f.linearise(x, y)
                }),
                Op::MulAdd => {
                    let (x, m, s) = (values[a], values[b], values[c]);
                    (x.mul_add(m, s), [m, x, T::one()])
                }
            };
            values.push(y);
            if LINEARISE {
                partials.push(d);
            }
        }
    }

    /// The first guard whose answer at `values` differs from the recorded one.
    pub(crate) fn changed_guard<T: Real>(&self, values: &[T]) -> Option<&Guard> {
        self.guards.iter().find(|g| {
            let [a, b] = g.args.map(|i| values[i as usize].value());
            g.test.answer(a, b) != g.answer
        })
    }

    /// The reverse sweep: given `adjoints` seeded at the outputs (one per node), adds each
    /// node's adjoint times its partials into its operands', last node first.
    pub(crate) fn reverse<T: Real>(&self, partials: &[[T; 3]], adjoints: &mut [T]) {
        for (i, node) in self.nodes.iter().enumerate().rev() {
            let a = adjoints[i];
            if a.is_zero() {
                continue;
            }
            let d = &partials[i];
            for k in 0..node.op.arity() {
                let j = node.args[k] as usize;
                adjoints[j] += a * d[k];
            }
        }
    }
}

/// A one-operand node's value, and its derivative when `linearise`.
#[inline(always)]
fn one<T: Real>(
    linearise: bool,
    x: T,
    value: impl FnOnce(T) -> T,
    both: impl FnOnce(T) -> (T, T),
) -> (T, [T; 3]) {
    let zero = T::zero();
    if linearise {
        let (y, d) = both(x);
        (y, [d, zero, zero])
    } else {
        (value(x), [zero; 3])
    }
}

/// A two-operand node's value, and its partials when `linearise`.
#[inline(always)]
fn two<T: Real>(
    linearise: bool,
    a: T,
    b: T,
    value: impl FnOnce(T, T) -> T,
    both: impl FnOnce(T, T) -> (T, (T, T)),
) -> (T, [T; 3]) {
    let zero = T::zero();
    if linearise {
        let (y, (da, db)) = both(a, b);
        (y, [da, db, zero])
    } else {
        (value(a, b), [zero; 3])
    }
}
