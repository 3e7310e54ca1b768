//! `Traced`: the number type that records a function for replay, and the recording it
//! writes to.

use super::program::{
    Binary, Custom, CustomReplay, Guard, Op, Operator, Program, RealUnary, Test, Unary,
};
use crate::error::check_len;
use crate::real::{float_consts, float_special_values};
use crate::scalar::ops::operator_table;
use crate::scalar::rules::{binary_table, real_unary_table, unary_table};
use crate::{Error, Real};
use num_traits::{Float, FloatConst, Num, NumCast, One, ToPrimitive, Zero};
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::num::FpCategory;
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};
use std::panic::Location;
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};
use std::sync::Arc;

/// A number that records the operations done on it, so that the function they form can be
/// replayed at other inputs (see [`record`](super::record)).
///
/// Like [`Var`](crate::Var), `Traced` is a small `Copy` value that implements
/// [`Real`](crate::Real) and `num_traits::Float`, so generic code runs on it unchanged.
/// Unlike `Var`, it also records every question asked of its value — comparisons,
/// `is_nan()`, `classify()`, a value read out with `value()` — with the answer and the
/// caller's line, so that a replay can tell when the code would have taken another path.
/// Operations on constants only record nothing.
///
/// ```
/// use retrograd::prelude::*;
/// use retrograd::replay::{self, Traced};
/// let rec = replay::record(&[2.0], |x: &[Traced]| x[0] * x[0]);
/// assert_eq!(rec.gradient(&[3.0]).unwrap(), (9.0, vec![6.0]));
/// ```
#[derive(Clone, Copy)]
pub struct Traced {
    value: f64,
    node: u32,
    /// The id of the recording the node belongs to; 0 for a constant.
    recording: u32,
}

/// A recording under way: the program so far and its id.
pub(crate) struct Builder {
    id: u32,
    program: Program,
    /// The node of each constant used so far, by bit pattern: a constant used many times
    /// (a step size in a loop) is one node.
    constants: HashMap<u64, u32>,
}

thread_local! {
    /// The recordings under way on this thread, innermost last.
    static RECORDINGS: RefCell<Vec<Builder>> = const { RefCell::new(Vec::new()) };
}

/// Ids of recordings (0 marks a constant). After 2³² recordings ids repeat, so a variable
/// kept that long could pass for one of a new recording; its node index may then name a
/// wrong node, but never one past the end (checked in `with_builder`).
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// Removes the recording it started from the thread's stack when dropped, also when the
/// recorded function panics.
pub(crate) struct Session {
    id: u32,
}

impl Session {
    /// Starts a recording with `n` inputs; returns the session and the input variables.
    pub(crate) fn start(inputs: &[f64]) -> (Session, Vec<Traced>) {
        let id = loop {
            let id = NEXT_ID.fetch_add(1, AtomicOrdering::Relaxed);
            if id != 0 {
                break id;
            }
        };
        let mut program = Program::new(inputs.len());
        let xs = inputs
            .iter()
            .enumerate()
            .map(|(i, &value)| {
                program.push(Op::Input, &[]);
                Traced {
                    value,
                    node: node_index(i),
                    recording: id,
                }
            })
            .collect();
        RECORDINGS.with(|r| {
            r.borrow_mut().push(Builder {
                id,
                program,
                constants: HashMap::new(),
            })
        });
        (Session { id }, xs)
    }

    /// Ends the recording with these outputs and returns its program.
    #[track_caller]
    pub(crate) fn finish(self, outputs: &[Traced]) -> Program {
        let location = Location::caller();
        let program = RECORDINGS.with(|r| {
            let mut stack = r.borrow_mut();
            // Recordings nested inside this one have ended (returned or unwound), so this
            // one is innermost.
            let mut builder = stack
                .pop()
                .expect("a recording under way is on its thread's stack");
            let mut nodes = Vec::with_capacity(outputs.len());
            for t in outputs {
                nodes.push(match t.recording {
                    0 => builder.constant(t.value),
                    id if id == builder.id && (t.node as usize) < builder.program.ops.len() => {
                        t.node
                    }
                    id => panic!(
                        "replay: the recorded function returned a traced variable of \
                         recording {id}, not of its own recording {} (at {location})",
                        builder.id
                    ),
                });
            }
            builder.program.outputs = nodes;
            builder.program.seal();
            builder.program
        });
        std::mem::forget(self);
        program
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Reached only when the recorded function unwinds: drop its recording.
        RECORDINGS.with(|r| {
            let mut stack = r.borrow_mut();
            if stack.last().is_some_and(|b| b.id == self.id) {
                stack.pop();
            }
        });
    }
}

/// A node index from a count of nodes, refusing recordings beyond `u32` nodes.
fn node_index(n: usize) -> u32 {
    u32::try_from(n).unwrap_or_else(|_| panic!("replay: a recording holds at most 2^32 operations"))
}

/// Runs `f` on the innermost recording with the nodes of `operands` (constants among them
/// become constant nodes first), after checking that they all belong to it. With all
/// operands constant, runs `constant` instead and records nothing.
#[track_caller]
fn with_builder<R>(
    operands: &[Traced],
    f: impl FnOnce(&mut Builder, &[u32]) -> R,
    constant: impl FnOnce() -> R,
) -> R {
    if operands.iter().all(|t| t.recording == 0) {
        return constant();
    }
    let location = Location::caller();
    RECORDINGS.with(|r| {
        let mut stack = r.borrow_mut();
        let builder = innermost(&mut stack, operands, location);
        let mut nodes = [0u32; 3];
        for (slot, t) in nodes.iter_mut().zip(operands) {
            *slot = builder.node(*t);
        }
        f(builder, &nodes[..operands.len()])
    })
}

/// The innermost recording, after checking that every traced operand belongs to it.
fn innermost<'a>(
    stack: &'a mut [Builder],
    operands: &[Traced],
    location: &Location<'_>,
) -> &'a mut Builder {
    let Some(builder) = stack.last_mut() else {
        panic!(
            "replay: a traced variable was used after its recording ended \
             (at {location}); use the variables only inside the recorded function"
        );
    };
    // A node index past the end can only come from an older recording whose id came
    // round again: refused like any foreign variable, so nodes read earlier nodes only.
    let len = builder.program.ops.len();
    if let Some(foreign) = operands
        .iter()
        .find(|t| t.recording != 0 && (t.recording != builder.id || t.node as usize >= len))
    {
        panic!(
            "replay: a traced variable of recording {} was used in recording {} (at \
             {location}); a variable belongs to the recording that made it, and \
             that recording has ended or is not the innermost one",
            foreign.recording, builder.id
        );
    }
    builder
}

/// Records a user-defined operation — a black box such as a linear solve or a call into
/// another library — with its **forward rule**: `rule(x, y, jacobian)` writes the
/// `outputs` values at the inputs `x` and the Jacobian (row-major, `outputs × x.len()`,
/// entry `[k][i] = ∂yₖ/∂xᵢ`). The rule runs now and again at every replay, so the
/// recording replays anywhere. Replays on `f64`, and `eval_with` on `Dual` (forward mode:
/// the Jacobian carries the tangents through), go through it; lanes, compiled code and
/// sweeps on `Dual` (Hessian–vector products) refuse a recording that holds one, with an
/// error naming where it was recorded, since the rule runs one input set at a time and
/// gives no second derivatives.
///
/// ```
/// use retrograd::prelude::*;
/// use retrograd::replay::{self, Traced};
/// // y = (x0·x1, x0 + x1) as a black box with its Jacobian, inside a recorded function.
/// let rec = replay::record(&[1.0, 2.0], |x: &[Traced]| {
///     let y = replay::custom(x, 2, |x, y, j| {
///         y.copy_from_slice(&[x[0] * x[1], x[0] + x[1]]);
///         j.copy_from_slice(&[x[1], x[0], 1.0, 1.0]);
///     });
///     y[0] * y[1]
/// });
/// // f = x0·x1·(x0 + x1): ∂f/∂x0 = 2·x0·x1 + x1², ∂f/∂x1 = x0² + 2·x0·x1.
/// assert_eq!(rec.gradient(&[3.0, 4.0]).unwrap(), (84.0, vec![40.0, 33.0]));
/// ```
#[track_caller]
pub fn custom<F>(inputs: &[Traced], outputs: usize, rule: F) -> Vec<Traced>
where
    F: Fn(&[f64], &mut [f64], &mut [f64]) + Send + Sync + 'static,
{
    let x: Vec<f64> = inputs.iter().map(|t| t.value).collect();
    let (mut y, mut jacobian) = (vec![0.0; outputs], vec![0.0; outputs * x.len()]);
    rule(&x, &mut y, &mut jacobian);
    record_custom(
        inputs,
        &y,
        CustomReplay::Rule(Arc::new(rule)),
        Location::caller(),
    )
}

/// Records a user-defined operation from its `values` and `jacobian` (row-major,
/// `values.len() × inputs.len()`) at the inputs' current values only, as the tape's
/// [`custom_op`](crate::custom_op) does. Without a forward rule it replays only at those
/// same inputs (bit for bit); a replay at others returns [`Error::Unsupported`] naming
/// the line that recorded it — use [`custom`] to give it one.
///
/// # Errors
/// [`Error::LengthMismatch`] if `jacobian` does not have `values.len() × inputs.len()`
/// entries.
///
/// ```
/// use retrograd::prelude::*;
/// use retrograd::replay::{self, Traced};
/// let rec = replay::record(&[2.0], |x: &[Traced]| {
///     let v = x[0].peek();
///     replay::custom_op(x, &[v * v], &[2.0 * v]).unwrap()[0]
/// });
/// assert_eq!(rec.gradient(&[2.0]).unwrap(), (4.0, vec![4.0]));
/// assert!(rec.gradient(&[3.0]).unwrap_err().to_string().contains("forward rule"));
/// ```
#[track_caller]
pub fn custom_op(
    inputs: &[Traced],
    values: &[f64],
    jacobian: &[f64],
) -> Result<Vec<Traced>, Error> {
    check_len(
        || {
            format!(
                "replay::custom_op: the Jacobian ({} outputs × {} inputs, row-major)",
                values.len(),
                inputs.len()
            )
        },
        values.len().saturating_mul(inputs.len()),
        jacobian.len(),
    )?;
    let replay = CustomReplay::Fixed {
        at: inputs.iter().map(|t| t.value).collect(),
        values: values.to_vec(),
        jacobian: jacobian.to_vec(),
    };
    Ok(record_custom(inputs, values, replay, Location::caller()))
}

/// Appends a user-defined operation with outputs `values` on `inputs`: one node per
/// output, consecutive, each reading all inputs. Records nothing on constant inputs.
fn record_custom(
    inputs: &[Traced],
    values: &[f64],
    replay: CustomReplay,
    location: &'static Location<'static>,
) -> Vec<Traced> {
    if values.is_empty() || inputs.iter().all(|t| t.recording == 0) {
        return values.iter().map(|&y| Traced::constant(y)).collect();
    }
    RECORDINGS.with(|r| {
        let mut stack = r.borrow_mut();
        let builder = innermost(&mut stack, inputs, location);
        let nodes: Vec<u32> = inputs.iter().map(|&t| builder.node(t)).collect();
        let c = node_index(builder.program.customs.len());
        builder.program.customs.push(Custom {
            outputs: values.len(),
            location,
            replay,
        });
        // The outputs are consecutive nodes: nothing is pushed between them.
        values
            .iter()
            .enumerate()
            .map(|(k, &value)| Traced {
                value,
                node: builder.push(Op::Custom(c, node_index(k)), &nodes),
                recording: builder.id,
            })
            .collect()
    })
}

impl Builder {
    /// The node of an operand: its own, or a constant's (added at its first use).
    fn node(&mut self, t: Traced) -> u32 {
        if t.recording == 0 {
            self.constant(t.value)
        } else {
            t.node
        }
    }

    /// The node of a constant, added at its first use.
    fn constant(&mut self, value: f64) -> u32 {
        if let Some(&node) = self.constants.get(&value.to_bits()) {
            return node;
        }
        let i = node_index(self.program.consts.len());
        self.program.consts.push(value);
        let node = self.push(Op::Const(i), &[]);
        self.constants.insert(value.to_bits(), node);
        node
    }

    /// Adds a node reading `args`.
    fn push(&mut self, op: Op, args: &[u32]) -> u32 {
        node_index(self.program.push(op, args))
    }
}

impl Traced {
    /// A constant: a value that is the same at every replay and records nothing.
    ///
    /// ```
    /// let c = retrograd::replay::Traced::constant(2.0);
    /// assert!(c.is_constant());
    /// ```
    pub fn constant(value: f64) -> Self {
        Traced {
            value,
            node: 0,
            recording: 0,
        }
    }

    /// True for a constant.
    ///
    /// ```
    /// assert!(retrograd::replay::Traced::constant(1.0).is_constant());
    /// ```
    pub fn is_constant(self) -> bool {
        self.recording == 0
    }

    /// The value while recording, without recording that it was read: for printing and
    /// logging only. A value that steers the computation must be read through
    /// [`Real::value`] (or compared), which records it as a guard.
    ///
    /// ```
    /// use retrograd::replay::{self, Traced};
    /// let rec = replay::record(&[1.5], |x: &[Traced]| {
    ///     assert_eq!(x[0].peek(), 1.5);
    ///     x[0]
    /// });
    /// assert_eq!(rec.guards(), 0);
    /// ```
    pub fn peek(self) -> f64 {
        self.value
    }

    /// Records `op` on `operands` with its value `value`.
    #[track_caller]
    fn op(op: Op, operands: &[Traced], value: f64) -> Traced {
        with_builder(
            operands,
            |b, nodes| Traced {
                value,
                node: b.push(op, nodes),
                recording: b.id,
            },
            || Traced::constant(value),
        )
    }

    /// Records the question `test` about `operands` and its answer now.
    #[track_caller]
    fn ask(test: Test, operands: &[Traced]) -> u64 {
        Traced::ask_at(test, operands, Location::caller())
    }

    /// [`Traced::ask`], the question attributed to `location`.
    pub(super) fn ask_at(
        test: Test,
        operands: &[Traced],
        location: &'static Location<'static>,
    ) -> u64 {
        let [a, b] = [0, 1].map(|k| operands.get(k).map_or(0.0, |t| t.value));
        let answer = test.answer(a, b);
        with_builder(
            operands,
            |b, nodes| {
                let mut args = [nodes[0]; 2];
                args[..nodes.len()].copy_from_slice(nodes);
                b.program.guards.push(Guard {
                    test,
                    args,
                    answer,
                    location,
                });
            },
            || {},
        );
        answer
    }

    #[track_caller]
    fn ask_bool(test: Test, operands: &[Traced]) -> bool {
        Traced::ask(test, operands) != 0
    }
}

/// Operator methods on `Traced` from the operator rule table.
macro_rules! traced_operators {
    ([] $($Op:ident, $op:ident, $OpAssign:ident, $op_assign:ident:
       |$a:ident, $b:ident, $y:ident| $value:expr => $partials:expr;)*) => {$(
        impl $Op for Traced {
            type Output = Traced;
            #[track_caller]
            fn $op(self, rhs: Traced) -> Traced {
                let value = Operator::$op.value(self.value, rhs.value);
                Traced::op(Op::Operator(Operator::$op), &[self, rhs], value)
            }
        }
        impl $Op<f64> for Traced {
            type Output = Traced;
            #[track_caller]
            fn $op(self, rhs: f64) -> Traced {
                self.$op(Traced::constant(rhs))
            }
        }
        impl $Op<Traced> for f64 {
            type Output = Traced;
            #[track_caller]
            fn $op(self, rhs: Traced) -> Traced {
                Traced::constant(self).$op(rhs)
            }
        }
        impl $OpAssign for Traced {
            #[track_caller]
            fn $op_assign(&mut self, rhs: Traced) {
                *self = (*self).$op(rhs);
            }
        }
        impl $OpAssign<f64> for Traced {
            #[track_caller]
            fn $op_assign(&mut self, rhs: f64) {
                *self = (*self).$op(rhs);
            }
        }
    )*};
}

operator_table!(traced_operators);

impl Neg for Traced {
    type Output = Traced;
    #[track_caller]
    fn neg(self) -> Traced {
        Traced::op(Op::Neg, &[self], -self.value)
    }
}

/// `Float` methods of one argument from a rule table.
macro_rules! traced_unary {
    ([$Enum:ident] $($name:ident: |$x:ident, $y:ident| $value:expr => $derivative:expr;)*) => {$(
        #[track_caller]
        fn $name(self) -> Self {
            Traced::op(Op::$Enum($Enum::$name), &[self], $Enum::$name.value(self.value))
        }
    )*};
}

/// `Float` methods of two arguments from a rule table.
macro_rules! traced_binary {
    ([] $($name:ident: |$a:ident, $b:ident, $y:ident| $value:expr => $partials:expr;)*) => {$(
        #[track_caller]
        fn $name(self, other: Self) -> Self {
            let value = Binary::$name.value(self.value, other.value);
            Traced::op(Op::Binary(Binary::$name), &[self, other], value)
        }
    )*};
}

/// Predicates that record their answer as a guard.
macro_rules! traced_tests {
    ($($name:ident => $Test:ident;)*) => {$(
        #[track_caller]
        fn $name(self) -> bool {
            Traced::ask_bool(Test::$Test, &[self])
        }
    )*};
}

/// Constants of `Float` and `FloatConst`.
macro_rules! constants {
    ($($name:ident),*) => {$(
        fn $name() -> Self {
            Traced::constant(f64::$name())
        }
    )*};
}

impl Float for Traced {
    unary_table!(traced_unary, Unary);
    binary_table!(traced_binary);

    #[track_caller]
    fn powi(self, n: i32) -> Self {
        Traced::op(Op::Powi(n), &[self], self.value.powi(n))
    }

    #[track_caller]
    fn sin_cos(self) -> (Self, Self) {
        (self.sin(), self.cos())
    }

    #[track_caller]
    fn mul_add(self, a: Self, b: Self) -> Self {
        let value = self.value.mul_add(a.value, b.value);
        Traced::op(Op::MulAdd, &[self, a, b], value)
    }

    traced_tests! {
        is_nan => IsNan;
        is_infinite => IsInfinite;
        is_finite => IsFinite;
        is_normal => IsNormal;
        is_subnormal => IsSubnormal;
        is_sign_positive => IsSignPositive;
        is_sign_negative => IsSignNegative;
    }

    #[track_caller]
    fn classify(self) -> FpCategory {
        Traced::ask(Test::Classify, &[self]);
        self.value.classify()
    }

    #[track_caller]
    fn integer_decode(self) -> (u64, i16, i8) {
        Traced::ask(Test::Value, &[self]);
        self.value.integer_decode()
    }

    float_special_values!(constants);
}

impl Real for Traced {
    real_unary_table!(traced_unary, RealUnary);

    fn from_f64(x: f64) -> Self {
        Traced::constant(x)
    }

    /// The value, recorded as a guard: a replay where it differs is refused.
    #[track_caller]
    fn value(self) -> f64 {
        Traced::ask(Test::Value, &[self]);
        self.value
    }

    #[track_caller]
    fn sign0(self) -> f64 {
        f64::from_bits(Traced::ask(Test::Sign0, &[self]))
    }

    fn call_recording(recording: &super::Recording, x: &[Self]) -> Result<Vec<Self>, Error> {
        recording.call_inlined(x)
    }
}

impl FloatConst for Traced {
    float_consts!(constants);
}

impl Zero for Traced {
    fn zero() -> Self {
        Traced::constant(0.0)
    }
    #[track_caller]
    fn is_zero(&self) -> bool {
        Traced::ask_bool(Test::IsZero, &[*self])
    }
}

impl One for Traced {
    fn one() -> Self {
        Traced::constant(1.0)
    }
}

impl Num for Traced {
    type FromStrRadixErr = <f64 as Num>::FromStrRadixErr;
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        f64::from_str_radix(s, radix).map(Traced::constant)
    }
}

impl NumCast for Traced {
    fn from<N: ToPrimitive>(n: N) -> Option<Self> {
        n.to_f64().map(Traced::constant)
    }
}

impl ToPrimitive for Traced {
    #[track_caller]
    fn to_i64(&self) -> Option<i64> {
        Real::value(*self).to_i64()
    }
    #[track_caller]
    fn to_u64(&self) -> Option<u64> {
        Real::value(*self).to_u64()
    }
    #[track_caller]
    fn to_f64(&self) -> Option<f64> {
        Some(Real::value(*self))
    }
}

impl Default for Traced {
    fn default() -> Self {
        Traced::constant(0.0)
    }
}

impl From<f64> for Traced {
    /// A constant.
    fn from(value: f64) -> Self {
        Traced::constant(value)
    }
}

impl fmt::Debug for Traced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_constant() {
            write!(f, "Traced({:?}, constant)", self.value)
        } else {
            write!(
                f,
                "Traced({:?}, #{} of recording {})",
                self.value, self.node, self.recording
            )
        }
    }
}

impl fmt::Display for Traced {
    /// Prints the value (not recorded as a guard: printing does not steer the code).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.value, f)
    }
}

impl PartialEq for Traced {
    #[track_caller]
    fn eq(&self, other: &Self) -> bool {
        Traced::ask_bool(Test::Eq, &[*self, *other])
    }
    #[allow(clippy::partialeq_ne_impl)]
    #[track_caller]
    fn ne(&self, other: &Self) -> bool {
        Traced::ask_bool(Test::Ne, &[*self, *other])
    }
}

impl PartialOrd for Traced {
    #[track_caller]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match Traced::ask(Test::Compare, &[*self, *other]) {
            1 => Some(Ordering::Less),
            2 => Some(Ordering::Equal),
            3 => Some(Ordering::Greater),
            _ => None,
        }
    }
    #[track_caller]
    fn lt(&self, other: &Self) -> bool {
        Traced::ask_bool(Test::Lt, &[*self, *other])
    }
    #[track_caller]
    fn le(&self, other: &Self) -> bool {
        Traced::ask_bool(Test::Le, &[*self, *other])
    }
    #[track_caller]
    fn gt(&self, other: &Self) -> bool {
        Traced::ask_bool(Test::Gt, &[*self, *other])
    }
    #[track_caller]
    fn ge(&self, other: &Self) -> bool {
        Traced::ask_bool(Test::Ge, &[*self, *other])
    }
}

impl std::iter::Sum for Traced {
    #[track_caller]
    fn sum<I: Iterator<Item = Traced>>(iter: I) -> Self {
        iter.fold(Traced::constant(0.0), |s, x| s + x)
    }
}

impl<'a> std::iter::Sum<&'a Traced> for Traced {
    #[track_caller]
    fn sum<I: Iterator<Item = &'a Traced>>(iter: I) -> Self {
        iter.copied().sum()
    }
}

impl std::iter::Product for Traced {
    #[track_caller]
    fn product<I: Iterator<Item = Traced>>(iter: I) -> Self {
        iter.fold(Traced::constant(1.0), |p, x| p * x)
    }
}
