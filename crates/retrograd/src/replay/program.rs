//! A recorded function as a list of operations, and the two interpreters over it: the
//! forward pass (values, and the local partial derivatives when a sweep follows) and the
//! reverse sweep. The operations are the scalar tape's rule tables (`scalar::rules`,
//! `scalar::ops`) turned into enums, so each function's value and derivative are still
//! written in one place.

use crate::scalar::ops::{nan_guard, operator_table};
use crate::scalar::rules::{
    binary_table, max_partials, powi_derivative, real_unary_table, unary_table,
};
use crate::{Error, Real};
use std::any::TypeId;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;

/// Makes an enum of one-argument functions from a rule table, with their value and
/// (value, derivative) at a point.
macro_rules! unary_ops {
    ([$Enum:ident] $($name:ident: |$x:ident, $y:ident| $value:expr => $derivative:expr;)*) => {
        /// One-argument functions of the rule table of the same name.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum $Enum { $($name),* }

        impl $Enum {
            /// Every function, in the order of the enum's discriminants.
            #[cfg(feature = "jit")]
            pub(crate) const ALL: &'static [Self] = &[$(Self::$name),*];

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
            /// Every function, in the order of the enum's discriminants.
            #[cfg(feature = "jit")]
            pub(crate) const ALL: &'static [Self] = &[$(Self::$name),*];

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
    /// Output `.1` of user-defined operation `customs[.0]`; its operands are the
    /// operation's inputs, its partials a row of the operation's Jacobian. The outputs of
    /// one operation are consecutive nodes, and the first computes them all.
    Custom(u32, u32),
}

impl Op {
    /// The number of arguments the operation reads; `None` for a user-defined operation,
    /// which reads as many as it has inputs.
    fn arity(self) -> Option<usize> {
        Some(match self {
            Op::Input | Op::Const(_) => 0,
            Op::Unary(_) | Op::RealUnary(_) | Op::Neg | Op::Powi(_) => 1,
            Op::Binary(_) | Op::Operator(_) => 2,
            Op::MulAdd => 3,
            Op::Custom(..) => return None,
        })
    }
}

/// A user-defined operation's forward rule: from the input values, the output values and
/// the Jacobian (row-major, outputs × inputs).
pub(crate) type CustomRule = dyn Fn(&[f64], &mut [f64], &mut [f64]) + Send + Sync;

/// A user-defined operation in a recording.
#[derive(Clone)]
pub(crate) struct Custom {
    pub(crate) outputs: usize,
    /// Where it was recorded.
    pub(crate) location: &'static Location<'static>,
    pub(crate) replay: CustomReplay,
}

/// How a user-defined operation is replayed.
#[derive(Clone)]
pub(crate) enum CustomReplay {
    /// By running its forward rule at the new inputs.
    Rule(Arc<CustomRule>),
    /// Only at the inputs it was recorded at (bit for bit), from the values and the
    /// Jacobian given then: it has no forward rule.
    Fixed {
        at: Vec<f64>,
        values: Vec<f64>,
        jacobian: Vec<f64>,
    },
}

impl fmt::Debug for Custom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.replay {
            CustomReplay::Rule(_) => "forward rule",
            CustomReplay::Fixed { .. } => "fixed values",
        };
        write!(
            f,
            "Custom({} outputs, {kind}, at {})",
            self.outputs, self.location
        )
    }
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
    /// Every question, in the order of the enum's discriminants.
    #[cfg(feature = "jit")]
    pub(crate) const ALL: &'static [Test] = &[
        Test::Compare,
        Test::Lt,
        Test::Le,
        Test::Gt,
        Test::Ge,
        Test::Eq,
        Test::Ne,
        Test::IsNan,
        Test::IsInfinite,
        Test::IsFinite,
        Test::IsNormal,
        Test::IsSubnormal,
        Test::IsSignPositive,
        Test::IsSignNegative,
        Test::IsZero,
        Test::Classify,
        Test::Sign0,
        Test::Value,
    ];

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

/// The recorded function in the tape's layout: node `i` computes `ops[i]` from the
/// nodes `args[ends[i - 1]..ends[i]]` (earlier nodes: checked when recorded), and its
/// local partials land at the same positions of a partials array, so that the reverse
/// sweep is the tape's loop. Inputs are the first nodes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Program {
    pub(crate) ops: Vec<Op>,
    pub(crate) ends: Vec<u32>,
    pub(crate) args: Vec<u32>,
    pub(crate) consts: Vec<f64>,
    pub(crate) inputs: usize,
    pub(crate) outputs: Vec<u32>,
    pub(crate) guards: Vec<Guard>,
    pub(crate) customs: Vec<Custom>,
    /// For each node, `j + 1` when its argument `j` is the node just before it and that
    /// node has no other use (not another argument, not an output): that node's adjoint
    /// is then this node's adjoint times one partial, which a sweep can hand over in a
    /// register instead of through memory. 0 otherwise. Noted by [`Program::push`], settled
    /// by [`Program::seal`].
    pub(crate) handover: Vec<u8>,
    /// Set by [`Program::seal`] once the layout is checked.
    pub(crate) sealed: bool,
}

impl Program {
    /// An empty program whose first `inputs` nodes will be its inputs.
    pub(crate) fn new(inputs: usize) -> Self {
        Program {
            inputs,
            ..Program::default()
        }
    }

    /// Appends node `op` reading `args`; returns its index. Checks that the arguments fit
    /// the operation (as many as it takes, all earlier nodes; a constant in range) and
    /// keeps [`handover`](Program::handover) up to date.
    ///
    /// # Panics
    /// On arguments that do not fit: a bug in the recorder, not a user's error.
    pub(crate) fn push(&mut self, op: Op, args: &[u32]) -> usize {
        let i = self.ops.len();
        let fits = op.arity().is_none_or(|k| k == args.len())
            && args.iter().all(|&a| (a as usize) < i)
            && !matches!(op, Op::Const(c) if c as usize >= self.consts.len());
        if !fits {
            broken_node(i, op, args);
        }
        // A node reading the node before notes where (`handover`); any other read of a node
        // cancels the note of the node after it, which can then not be its only use. User-
        // defined operations take part on neither side (their outputs are consecutive
        // nodes computed together), nor do inputs (they are the gradient).
        let custom = |op: Op| matches!(op, Op::Custom(..));
        let mut handover = 0;
        for (j, &a) in args.iter().enumerate() {
            let a = a as usize;
            if a + 1 == i && handover == 0 {
                handover = j as u8 + 1;
            } else if a + 1 == i {
                handover = u8::MAX; // read twice
            } else {
                self.handover[a + 1] = 0;
            }
        }
        if handover == u8::MAX || i <= self.inputs || custom(op) || custom(self.ops[i - 1]) {
            handover = 0;
        }
        self.args.extend_from_slice(args);
        let end = u32::try_from(self.args.len())
            .unwrap_or_else(|_| panic!("replay: a recording holds at most 2^32 operands"));
        self.ends.push(end);
        self.ops.push(op);
        self.handover.push(handover);
        i
    }

    /// Ends the program: an output's adjoint is seeded, so the node after an output does
    /// not take it over ([`handover`](Program::handover); [`push`](Program::push) noted the
    /// rest). Then marks the program [`sealed`](Program::sealed): its layout is what the
    /// interpreters index without checks — `ends` with one entry per node, non-decreasing
    /// up to `args.len()`, each node's arguments as many as its operation takes and all
    /// earlier nodes (checked by `push`, the only way nodes are added), outputs in range
    /// (checked here) — and a program is not changed after.
    ///
    /// # Panics
    /// On a broken layout: a bug in the recorder, not a user's error.
    pub(crate) fn seal(&mut self) {
        let n = self.ops.len();
        assert!(
            self.ends.len() == n
                && self.handover.len() == n
                && self.inputs <= n
                && self.outputs.iter().all(|&o| (o as usize) < n),
            "replay: a program's layout is broken"
        );
        for &o in &self.outputs {
            if let Some(h) = self.handover.get_mut(o as usize + 1) {
                *h = 0;
            }
        }
        self.sealed = true;
    }

    /// Runs the operations forward from `inputs` (one per input node, checked by the
    /// caller) into `values`; when `LINEARISE`, also each node's partials with respect to
    /// its operands into `partials`, in the order of `args`. User-defined operations
    /// exchange their arguments, values and Jacobian with their rules through `scratch`.
    ///
    /// # Errors
    /// A user-defined operation without a forward rule, at other inputs than recorded.
    #[inline(always)]
    pub(crate) fn forward<T: Real, const LINEARISE: bool>(
        &self,
        inputs: &[T],
        values: &mut Vec<T>,
        partials: &mut Vec<T>,
        scratch: &mut Vec<f64>,
    ) -> Result<(), Error> {
        // Every node writes its value and every operand its partial below, so buffers of
        // the right length are overwritten as they are, not cleared first.
        let zero = T::zero();
        if values.len() != self.ops.len() {
            values.clear();
            values.resize(self.ops.len(), zero);
        }
        if LINEARISE && partials.len() != self.args.len() {
            partials.clear();
            partials.resize(self.args.len(), zero);
        }
        // Inputs are the first nodes; they read no operands.
        values[..self.inputs].copy_from_slice(inputs);
        assert!(self.sealed, "replay: a sealed program");
        let mut start = 0;
        for i in self.inputs..self.ops.len() {
            let end = self.ends[i] as usize;
            let args = &self.args[start..end];
            // By the sealed layout (asserted), node i reads as many operands as its
            // operation takes, all below i < values.len() (resized above), so every `j`
            // asked for is in range. Read without checks where partials are made (measured
            // faster), with them for values alone (measured faster there).
            let arg = |j: usize| {
                if LINEARISE {
                    // SAFETY: as above.
                    unsafe { *values.get_unchecked(*args.get_unchecked(j) as usize) }
                } else {
                    values[args[j] as usize]
                }
            };
            let y = match self.ops[i] {
                Op::Input => values[i],
                Op::Const(c) => T::from_f64(self.consts[c as usize]),
                Op::Unary(f) => {
                    one::<T, LINEARISE>(partials, start, arg(0), |x| f.value(x), |x| f.linearise(x))
                }
                Op::RealUnary(f) => {
                    one::<T, LINEARISE>(partials, start, arg(0), |x| f.value(x), |x| f.linearise(x))
                }
                Op::Neg => {
                    one::<T, LINEARISE>(partials, start, arg(0), |x| -x, |x| (-x, -T::one()))
                }
                // Squares are most powers: multiplied out, bitwise as `powi(2)` computes.
                Op::Powi(2) => one::<T, LINEARISE>(
                    partials,
                    start,
                    arg(0),
                    |x| x * x,
                    |x| (x * x, T::from_f64(2.0) * x),
                ),
                Op::Powi(n) => one::<T, LINEARISE>(
                    partials,
                    start,
                    arg(0),
                    |x| x.powi(n),
                    |x| (x.powi(n), powi_derivative(x, n)),
                ),
                Op::Binary(f) => two::<T, LINEARISE>(
                    partials,
                    start,
                    arg(0),
                    arg(1),
                    |a, b| f.value(a, b),
                    |a, b| f.linearise(a, b),
                ),
                Op::Operator(f) => two::<T, LINEARISE>(
                    partials,
                    start,
                    arg(0),
                    arg(1),
                    |a, b| f.value(a, b),
                    |a, b| f.linearise(a, b),
                ),
                Op::MulAdd => {
                    let (x, m, s) = (arg(0), arg(1), arg(2));
                    if LINEARISE {
                        partials[start..start + 3].copy_from_slice(&[m, x, T::one()]);
                    }
                    x.mul_add(m, s)
                }
                Op::Custom(c, 0) => {
                    let args = &self.args[start..end];
                    let partials = if LINEARISE {
                        &mut partials[start..]
                    } else {
                        &mut []
                    };
                    self.custom::<T, LINEARISE>(c, i, args, values, partials, scratch)?;
                    values[i]
                }
                // Made with the operation's first output.
                Op::Custom(..) => values[i],
            };
            values[i] = y;
            start = end;
        }
        Ok(())
    }

    /// Runs user-defined operation `c`, whose first output is node `i`, reading nodes
    /// `args`: its outputs into `values[i..]` and, when `LINEARISE`, its Jacobian's rows
    /// into `partials` (the rows are its outputs' consecutive operand slots). On `f64` the
    /// values are the rule's; on other number types (`Dual`: forward mode) each output is
    /// its value plus the Jacobian times the inputs' departure from their values, so its
    /// derivatives are the chain rule's (the callers refuse sweeps on those types, whose
    /// second derivatives a Jacobian alone cannot give).
    fn custom<T: Real, const LINEARISE: bool>(
        &self,
        c: u32,
        i: usize,
        args: &[u32],
        values: &mut [T],
        partials: &mut [T],
        scratch: &mut Vec<f64>,
    ) -> Result<(), Error> {
        let custom = &self.customs[c as usize];
        let (n, m) = (args.len(), custom.outputs);
        // `scratch` holds the arguments, then a rule's values and Jacobian.
        scratch.clear();
        scratch.extend(args.iter().map(|&j| values[j as usize].value()));
        let (ys, jac): (&[f64], &[f64]) = match &custom.replay {
            CustomReplay::Rule(rule) => {
                scratch.resize(n + m + m * n, 0.0);
                let (xs, rest) = scratch.split_at_mut(n);
                let (ys, jac) = rest.split_at_mut(m);
                rule(xs, ys, jac);
                (ys, jac)
            }
            CustomReplay::Fixed {
                at,
                values: v,
                jacobian,
            } => {
                if at
                    .iter()
                    .zip(&*scratch)
                    .any(|(a, x)| a.to_bits() != x.to_bits())
                {
                    return Err(Error::Unsupported(format!(
                        "replay: the user-defined operation recorded at {} has values and a \
                         Jacobian at its recorded inputs only, and these inputs differ; \
                         record it with a forward rule (`replay::custom`) to replay it \
                         elsewhere",
                        custom.location
                    )));
                }
                (v, jacobian)
            }
        };
        let plain = TypeId::of::<T>() == TypeId::of::<f64>();
        for (k, &y) in ys.iter().enumerate() {
            let row = &jac[k * n..][..n];
            values[i + k] = if plain {
                T::from_f64(y)
            } else {
                args.iter().zip(row).fold(T::from_f64(y), |acc, (&j, &d)| {
                    let x = values[j as usize];
                    acc + T::from_f64(d) * (x - T::from_f64(x.value()))
                })
            };
        }
        if LINEARISE {
            for (p, &d) in partials.iter_mut().zip(jac) {
                *p = T::from_f64(d);
            }
        }
        Ok(())
    }

    /// The first guard whose answer at `values` differs from the recorded one.
    pub(crate) fn changed_guard<T: Real>(&self, values: &[T]) -> Option<&Guard> {
        self.guards.iter().find(|g| {
            let [a, b] = g.args.map(|i| values[i as usize].value());
            g.test.answer(a, b) != g.answer
        })
    }

    /// The vector–Jacobian product `seedᵀ J` from a forward pass's `partials`: `adjoints`
    /// (one per node, overwritten) seeded at the outputs and swept; the inputs' adjoints,
    /// the product, are its first `self.inputs` entries.
    pub(crate) fn seeded_reverse<T: Real>(
        &self,
        partials: &[T],
        seed: &[T],
        adjoints: &mut Vec<T>,
    ) {
        adjoints.clear();
        adjoints.resize(self.ops.len(), T::zero());
        for (&o, &s) in self.outputs.iter().zip(seed) {
            adjoints[o as usize] += s;
        }
        self.reverse(partials, adjoints);
    }

    /// The reverse sweep: given `adjoints` seeded at the outputs (one per node), adds each
    /// node's adjoint times its partials into its operands', last node first. A node whose
    /// only use is the next node ([`handover`](Program::handover)) gets its adjoint from
    /// that node in a register (`0 + a·d`, the sum its zero entry would give), so its entry
    /// stays zero. `partials` are those of [`forward`](Program::forward), one per operand.
    pub(crate) fn reverse<T: Real>(&self, partials: &[T], adjoints: &mut [T]) {
        let n = self.ops.len();
        assert!(
            self.sealed && adjoints.len() >= n && partials.len() >= self.args.len(),
            "replay: one adjoint per node and one partial per operand"
        );
        let mut carry = T::zero();
        let mut end = self.args.len();
        for i in (self.inputs..n).rev() {
            // By the sealed layout (asserted): i < n = ends.len() = handover.len() <=
            // adjoints.len(); node i's operands are `args[ends[i - 1]..ends[i]]` (`end` is
            // ends[i]), within `partials` (asserted), and all below i, so within
            // `adjoints`. Every unchecked access below is one of these.
            // SAFETY: as above.
            let start = if i == 0 {
                0
            } else {
                unsafe { *self.ends.get_unchecked(i - 1) as usize }
            };
            let a = if self.handover.get(i + 1).is_some_and(|&h| h != 0) {
                std::mem::replace(&mut carry, T::zero())
            } else {
                // SAFETY: as above.
                unsafe { *adjoints.get_unchecked(i) }
            };
            if !a.is_zero() {
                // SAFETY: as above.
                let (args, d, handover) = unsafe {
                    (
                        self.args.get_unchecked(start..end),
                        partials.get_unchecked(start..end),
                        *self.handover.get_unchecked(i) as usize,
                    )
                };
                let mut add = |k: usize| {
                    // SAFETY: as above (k < args.len() = d.len() below).
                    let (j, d) = unsafe { (*args.get_unchecked(k) as usize, *d.get_unchecked(k)) };
                    if handover == k + 1 {
                        carry = T::zero() + a * d;
                    } else {
                        // SAFETY: as above.
                        unsafe { *adjoints.get_unchecked_mut(j) += a * d };
                    }
                };
                // One and two operands are most nodes: unrolled.
                match args.len() {
                    1 => add(0),
                    2 => {
                        add(0);
                        add(1);
                    }
                    m => (0..m).for_each(add),
                }
            }
            end = start;
        }
    }
}

/// Reports a node whose arguments do not fit its operation (a bug in the recorder).
#[cold]
#[inline(never)]
fn broken_node(i: usize, op: Op, args: &[u32]) -> ! {
    panic!("replay: node {i} ({op:?}) reads {args:?}, not as many earlier nodes as it takes")
}

/// A one-operand node's value; its derivative goes to `partials[at]` when `LINEARISE`.
#[inline(always)]
fn one<T: Real, const LINEARISE: bool>(
    partials: &mut [T],
    at: usize,
    x: T,
    value: impl FnOnce(T) -> T,
    both: impl FnOnce(T) -> (T, T),
) -> T {
    if LINEARISE {
        let (y, d) = both(x);
        partials[at] = d;
        y
    } else {
        value(x)
    }
}

/// A two-operand node's value; its partials go to `partials[at..at + 2]` when `LINEARISE`.
#[inline(always)]
fn two<T: Real, const LINEARISE: bool>(
    partials: &mut [T],
    at: usize,
    a: T,
    b: T,
    value: impl FnOnce(T, T) -> T,
    both: impl FnOnce(T, T) -> (T, (T, T)),
) -> T {
    if LINEARISE {
        let (y, (da, db)) = both(a, b);
        partials[at] = da;
        partials[at + 1] = db;
        y
    } else {
        value(a, b)
    }
}
