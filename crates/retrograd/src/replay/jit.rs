//! A recording compiled to native code with Cranelift (feature `jit`): the forward pass
//! and the reverse sweep as straight-line machine code, with no dispatch per operation.
//!
//! The code generator walks the same [`Program`] the interpreter runs. Arithmetic,
//! negation, squares and `mul_add` become instructions; every other operation calls the
//! rule table's own function (`Unary::linearise` and the like) through a small
//! `extern "C"` shim, so each operation's value and derivative are still written in one
//! place. Values and adjoints live in registers while they are used near where they are
//! made; one used further away than [`NEAR`] operations is kept in memory (the inputs,
//! the gradient, or the scratch buffer) and read again where it is needed, so that the
//! stack frame stays small however long the recording is.
//!
//! The generated code computes exactly what the interpreter computes, operation by
//! operation and in the same order (no contraction into fused multiply–adds that the
//! interpreter does not do). Its sweep multiplies every adjoint by its partials without
//! the interpreter's test for a zero adjoint (which keeps `0·∞` out of the gradient) and
//! stores `×` and `÷`'s partials without the test for a NaN result: both give the same
//! numbers (up to the sign of a zero sum) while every partial is finite, which the forward pass checks as it goes (a
//! running sum of the partials stays finite, four sums to keep the additions
//! independent). Where one is not, the replay is run again by the interpreter, so that
//! infinite and NaN partials reach the gradient by exactly the interpreter's rules.

use super::program::{Binary, Op, Operator, Program, RealUnary, Test, Unary};
use super::{guard_changed, Recording, Workspace};
use crate::Error;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F64, I32, I64};
use cranelift_codegen::ir::{AbiParam, Block, BlockArg, InstBuilder, MemFlagsData, SigRef, Value};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};
use std::sync::Mutex;

/// How many operations apart a value may be made and used (or an adjoint be added to and
/// read) and still stay in a register; further apart, it goes through memory.
const NEAR: usize = 32;

/// The most operations [`Recording::compile`] takes. Straight-line code costs about 45
/// bytes per operation, and compiling it about 16 µs and 3 KB of memory per operation;
/// beyond a few thousand operations the code no longer stays in the CPU's caches and
/// runs no faster than the interpreter (measured in docs/PERF.md), so a recording this
/// large is better recorded in smaller pieces (a step, a path) and compiled as those.
pub const MAX_COMPILED_OPERATIONS: usize = 1 << 18;

/// What `vjp` returns when a partial is not finite: the interpreter replays instead.
const NOT_FINITE: u32 = u32::MAX;

/// `eval(x, out, scratch) -> 0, or 1 + the first guard that answered otherwise`.
type EvalFn = unsafe extern "C" fn(*const f64, *mut f64, *mut f64) -> u32;
/// `vjp(x, seed, out, grad, scratch) -> 0, or 1 + the first guard that answered
/// otherwise, or [`NOT_FINITE`]`.
type VjpFn = unsafe extern "C" fn(*const f64, *const f64, *mut f64, *mut f64, *mut f64) -> u32;

/// A [`Recording`] compiled to native code: the same replays ([`Compiled::eval_with`],
/// [`Compiled::vjp_with`]) on `f64`, with the same guards and the same results, without
/// interpreting one operation at a time. Made by [`Recording::compile`].
///
/// Plain data once made: threads can share it, each with its own [`Workspace`].
///
/// ```
/// use retrograd::prelude::*;
/// use retrograd::replay::{self, Workspace};
/// let rec = replay::record(&[1.0, 2.0], |x| (x[0] * x[1]).sin() + x[0].exp());
/// let compiled = rec.compile().unwrap();
/// let (mut ws, mut grad) = (Workspace::new(), [0.0; 2]);
/// compiled.vjp_with(&mut ws, &[0.5, 3.0], &[1.0], &mut grad).unwrap();
/// let c = 1.5_f64.cos();
/// assert!((grad[0] - (3.0 * c + 0.5_f64.exp())).abs() < 1e-15);
/// assert!((grad[1] - 0.5 * c).abs() < 1e-15);
/// assert_eq!(ws.outputs(), &[1.5_f64.sin() + 0.5_f64.exp()]);
/// ```
pub struct Compiled {
    eval: EvalFn,
    vjp: VjpFn,
    /// Scratch elements each function reads and writes (it touches no others).
    eval_scratch: usize,
    vjp_scratch: usize,
    /// The recording, replayed by the interpreter where a partial is not finite.
    recording: Recording,
    /// The code's memory, freed when `Compiled` is dropped (see `Drop`). Behind a mutex
    /// only so that `Compiled` is `Sync`: nothing locks it while the code runs.
    module: Mutex<Option<JITModule>>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("inputs", &self.inputs())
            .field("outputs", &self.outputs())
            .field("guards", &self.recording.guards())
            .finish_non_exhaustive()
    }
}

impl Drop for Compiled {
    fn drop(&mut self) {
        let module = match self.module.get_mut() {
            Ok(m) => m.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(module) = module {
            // SAFETY: the function pointers into this module are private fields of `self`
            // and are only called from `&self` methods, so none runs now (we hold `&mut
            // self`) and none is called after this.
            unsafe { module.free_memory() };
        }
    }
}

impl Recording {
    /// Compiles the recording to native code for this machine (Cranelift, with the CPU's
    /// own instruction set), for replays on `f64` that give exactly the interpreter's
    /// results without its dispatch per operation. Compiling costs about 16 µs per
    /// operation: it pays when a small recording (a time step, a right-hand side, up to a
    /// few thousand operations) is replayed many times.
    ///
    /// # Errors
    /// [`Error::Unsupported`] where Cranelift has no back end for this machine, or for a
    /// recording of more than [`MAX_COMPILED_OPERATIONS`] operations.
    ///
    /// ```
    /// use retrograd::prelude::*;
    /// let rec = retrograd::replay::record(&[1.0], |x| x[0] * x[0] * x[0]);
    /// let compiled = rec.compile().unwrap();
    /// assert_eq!(compiled.gradient(&[2.0]).unwrap(), (8.0, vec![12.0]));
    /// ```
    pub fn compile(&self) -> Result<Compiled, Error> {
        let p = &self.program;
        let layout = Layout::new(p)?;
        let mut module = new_module()?;
        let ptr = module.target_config().pointer_type();
        let mut eval_sig = module.make_signature();
        let mut vjp_sig = module.make_signature();
        for _ in 0..3 {
            eval_sig.params.push(AbiParam::new(ptr));
        }
        for _ in 0..5 {
            vjp_sig.params.push(AbiParam::new(ptr));
        }
        eval_sig.returns.push(AbiParam::new(I32));
        vjp_sig.returns.push(AbiParam::new(I32));

        let config = module.target_config();
        let mut ctx = module.make_context();
        let mut fctx = FunctionBuilderContext::new();
        let mut define = |name: &str, sig, body: &dyn Fn(FunctionBuilder<'_>, Shims)| {
            ctx.func.signature = sig;
            let shims = Shims::declare(&mut ctx.func, &module);
            body(FunctionBuilder::new(&mut ctx.func, &mut fctx), shims);
            let id = module
                .declare_function(name, Linkage::Local, &ctx.func.signature)
                .map_err(|e| unsupported(&e))?;
            module
                .define_function(id, &mut ctx)
                .map_err(|e| unsupported(&e))?;
            module.clear_context(&mut ctx);
            Ok::<_, Error>(id)
        };
        let eval_id = define("eval", eval_sig, &|b, shims| {
            Emitter::new(b, p, &layout, shims, config, false).finish()
        })?;
        let vjp_id = define("vjp", vjp_sig, &|b, shims| {
            Emitter::new(b, p, &layout, shims, config, true).finish()
        })?;
        module.finalize_definitions().map_err(|e| unsupported(&e))?;
        // SAFETY: each function was defined above with the signature its type states
        // (pointer parameters, an `i32` result, the platform's C calling convention,
        // which `make_signature` gives), and its code lives as long as `module`, which
        // `Compiled` keeps until it is dropped.
        let (eval, vjp) = unsafe {
            (
                std::mem::transmute::<*const u8, EvalFn>(module.get_finalized_function(eval_id)),
                std::mem::transmute::<*const u8, VjpFn>(module.get_finalized_function(vjp_id)),
            )
        };
        Ok(Compiled {
            eval,
            vjp,
            eval_scratch: layout.value_slots,
            vjp_scratch: layout.vjp_scratch(),
            recording: self.clone(),
            module: Mutex::new(Some(module)),
        })
    }
}

impl Compiled {
    /// The number of inputs.
    ///
    /// ```
    /// let rec = retrograd::replay::record(&[1.0, 2.0], |x| x[0] + x[1]);
    /// assert_eq!(rec.compile().unwrap().inputs(), 2);
    /// ```
    pub fn inputs(&self) -> usize {
        self.recording.inputs()
    }

    /// The number of outputs.
    ///
    /// ```
    /// let rec = retrograd::replay::record_many(&[1.0], |x| vec![x[0], x[0] * 2.0]);
    /// assert_eq!(rec.compile().unwrap().outputs(), 2);
    /// ```
    pub fn outputs(&self) -> usize {
        self.recording.outputs()
    }

    /// The outputs at `x`, in `ws` ([`Workspace::outputs`]), as
    /// [`Recording::eval_with`] on `f64`.
    ///
    /// # Errors
    /// As [`Recording::eval`].
    ///
    /// ```
    /// use retrograd::prelude::*;
    /// use retrograd::replay::{self, Workspace};
    /// let rec = replay::record(&[1.0], |x| x[0].exp());
    /// let mut ws = Workspace::new();
    /// rec.compile().unwrap().eval_with(&mut ws, &[0.0]).unwrap();
    /// assert_eq!(ws.outputs(), &[1.0]);
    /// ```
    pub fn eval_with(&self, ws: &mut Workspace<f64>, x: &[f64]) -> Result<(), Error> {
        self.recording.check_inputs(x.len())?;
        ws.outputs.resize(self.outputs(), 0.0);
        grow(&mut ws.partials, self.eval_scratch);
        // SAFETY: `x` has `inputs` elements (checked above), `outputs` has `outputs` and
        // the scratch at least `eval_scratch` (resized above); the code reads and writes
        // only those (`Layout` sizes every offset it emits from these counts).
        let failed = unsafe {
            (self.eval)(
                x.as_ptr(),
                ws.outputs.as_mut_ptr(),
                ws.partials.as_mut_ptr(),
            )
        };
        self.guard_result(failed)
    }

    /// The vector–Jacobian product `seedᵀ J` at `x` into `grad`, with the outputs in
    /// `ws`, as [`Recording::vjp_with`] on `f64`; allocates nothing once `ws` has grown.
    ///
    /// # Errors
    /// As [`Recording::vjp_with`].
    ///
    /// ```
    /// use retrograd::prelude::*;
    /// use retrograd::replay::{self, Workspace};
    /// let rec = replay::record(&[1.0], |x| x[0].ln());
    /// let (mut ws, mut g) = (Workspace::new(), [0.0]);
    /// rec.compile().unwrap().vjp_with(&mut ws, &[4.0], &[1.0], &mut g).unwrap();
    /// assert_eq!(g, [0.25]);
    /// ```
    pub fn vjp_with(
        &self,
        ws: &mut Workspace<f64>,
        x: &[f64],
        seed: &[f64],
        grad: &mut [f64],
    ) -> Result<(), Error> {
        self.recording.check_vjp(x.len(), seed.len(), grad.len())?;
        ws.outputs.resize(self.outputs(), 0.0);
        grow(&mut ws.partials, self.vjp_scratch);
        // SAFETY: `x` and `grad` have `inputs` elements and `seed` has `outputs` (checked
        // above), `outputs` has `outputs` and the scratch at least `vjp_scratch` (resized
        // above); the code reads and writes only those (`Layout` sizes every offset it
        // emits from these counts).
        let failed = unsafe {
            (self.vjp)(
                x.as_ptr(),
                seed.as_ptr(),
                ws.outputs.as_mut_ptr(),
                grad.as_mut_ptr(),
                ws.partials.as_mut_ptr(),
            )
        };
        if failed == NOT_FINITE {
            return self.recording.vjp_with(ws, x, seed, grad);
        }
        self.guard_result(failed)
    }

    /// The value and gradient of a one-output recording at `x`.
    ///
    /// # Errors
    /// As [`Recording::gradient`].
    ///
    /// ```
    /// let rec = retrograd::replay::record(&[1.0, 1.0], |x| x[0] * x[1]);
    /// assert_eq!(rec.compile().unwrap().gradient(&[2.0, 5.0]).unwrap(), (10.0, vec![5.0, 2.0]));
    /// ```
    pub fn gradient(&self, x: &[f64]) -> Result<(f64, Vec<f64>), Error> {
        self.recording.one_output("gradient")?;
        let mut ws = Workspace::new();
        let mut grad = vec![0.0; self.inputs()];
        self.vjp_with(&mut ws, x, &[1.0], &mut grad)?;
        Ok((ws.outputs[0], grad))
    }

    /// The compiled code's answer as a result: 0, or one more than a changed guard.
    fn guard_result(&self, failed: u32) -> Result<(), Error> {
        match failed {
            0 => Ok(()),
            k => Err(guard_changed(
                &self.recording.program.guards[k as usize - 1],
            )),
        }
    }
}

/// Grows `buf` to at least `len` elements.
fn grow(buf: &mut Vec<f64>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
}

fn unsupported(e: &dyn std::fmt::Display) -> Error {
    Error::Unsupported(format!("replay compile: {e}"))
}

/// A JIT module for this machine: its own instruction set, optimised code, stack probes.
fn new_module() -> Result<JITModule, Error> {
    let mut flags = settings::builder();
    for (name, value) in [
        ("opt_level", "none"),
        ("enable_probestack", "true"),
        ("probestack_strategy", "inline"),
    ] {
        flags.set(name, value).map_err(|e| unsupported(&e))?;
    }
    let isa = cranelift_native::builder()
        .map_err(|e| unsupported(&e))?
        .finish(settings::Flags::new(flags))
        .map_err(|e| unsupported(&e))?;
    Ok(JITModule::new(JITBuilder::with_isa(
        isa,
        default_libcall_names(),
    )))
}

/// Where each node's value and adjoint live in the generated code, worked out once for
/// both functions.
struct Layout {
    /// The last node whose reverse step adds to each node's adjoint (the number of nodes
    /// for an output); 0 when none does.
    last_added: Vec<usize>,
    /// The node after which each guard is checked: guards in their recorded order, each
    /// once its operands are known, so the first that fails is the interpreter's first.
    guard_at: Vec<usize>,
    /// Scratch slot of each value kept in memory (read far from where it is made).
    value_slot: Vec<Option<u32>>,
    value_slots: usize,
    /// Scratch slot of each adjoint kept in memory: in the values' place, which the sweep
    /// no longer needs (it reads partials, not values).
    adjoint_slot: Vec<Option<u32>>,
    adjoint_slots: usize,
    /// One partial slot per operand (`Program::args`), first in the scratch of `vjp`.
    partial_slots: usize,
}

impl Layout {
    fn new(p: &Program) -> Result<Layout, Error> {
        let n = p.ops.len();
        if let Some(c) = p.customs.first() {
            return Err(Error::Unsupported(format!(
                "replay compile: the recording holds a user-defined operation (recorded at \
                 {}), which compiled code cannot call; replay it with the interpreter",
                c.location
            )));
        }
        if n > MAX_COMPILED_OPERATIONS {
            return Err(Error::Unsupported(format!(
                "replay compile: a recording of {n} operations is over the {MAX_COMPILED_OPERATIONS} \
                 that compiling takes; record a smaller piece (a step, a path) to compile, \
                 or replay this one with the interpreter"
            )));
        }
        let mut last_read = vec![0; n];
        let mut last_added = vec![0; n];
        let mut start = 0;
        for i in 0..n {
            let end = p.ends[i] as usize;
            for &j in &p.args[start..end] {
                last_read[j as usize] = i;
                last_added[j as usize] = i;
            }
            start = end;
        }
        for &o in &p.outputs {
            last_read[o as usize] = n;
            last_added[o as usize] = n;
        }
        let mut guard_at = Vec::with_capacity(p.guards.len());
        let mut at = 0;
        for g in &p.guards {
            at = at.max(g.args[0] as usize).max(g.args[1] as usize);
            guard_at.push(at);
            for &j in &g.args {
                last_read[j as usize] = last_read[j as usize].max(at);
            }
        }
        // `last_read`: the last node that reads each value (the number of nodes for an
        // output, the guard's position for a guard's operand). Inputs are read again
        // from `x`, constants made where they are used: neither needs a slot.
        let mut value_slot = vec![None; n];
        let mut value_slots = 0u32;
        for (i, slot) in value_slot.iter_mut().enumerate().skip(p.inputs) {
            if !matches!(p.ops[i], Op::Const(_)) && last_read[i] > i + NEAR {
                *slot = Some(value_slots);
                value_slots += 1;
            }
        }
        // Inputs' adjoints live in `grad`.
        let mut adjoint_slot = vec![None; n];
        let mut adjoint_slots = 0u32;
        for (i, slot) in adjoint_slot.iter_mut().enumerate().skip(p.inputs) {
            if !matches!(p.ops[i], Op::Const(_)) && last_added[i] > i + NEAR {
                *slot = Some(adjoint_slots);
                adjoint_slots += 1;
            }
        }
        let layout = Layout {
            last_added,
            guard_at,
            value_slot,
            value_slots: value_slots as usize,
            adjoint_slot,
            adjoint_slots: adjoint_slots as usize,
            partial_slots: p.args.len(),
        };
        // Byte offsets are 32-bit immediates and guard numbers 31-bit.
        let largest = layout.vjp_scratch().max(p.inputs).max(p.outputs.len());
        if largest.checked_mul(8).is_none_or(|b| b > i32::MAX as usize)
            || p.guards.len() >= i32::MAX as usize
        {
            return Err(Error::Unsupported(format!(
                "replay compile: a recording of {n} operations, {} operands and {} guards \
                 is too large to compile (offsets must fit 32 bits); replay it with the \
                 interpreter",
                p.args.len(),
                p.guards.len()
            )));
        }
        Ok(layout)
    }

    fn vjp_scratch(&self) -> usize {
        self.partial_slots + self.value_slots.max(self.adjoint_slots)
    }
}

/// The rule tables' functions, called from the generated code: the value, or the value
/// and the partials written at `d` (the operand's partial slots in the scratch buffer).
mod shim {
    use super::{Binary, Operator, RealUnary, Test, Unary};
    use crate::scalar::rules::powi_derivative;

    /// Writes a node's partials at `d`, its operands' partial slots.
    fn write(d: *mut f64, partials: &[f64]) {
        for (k, &p) in partials.iter().enumerate() {
            // SAFETY: the compiled code passes the address of the node's first operand
            // slot in the scratch buffer, which the caller of the compiled code sized to
            // hold every operand's slot (`Layout::vjp_scratch`); the node has
            // `partials.len()` operands, so `d + k` is one of its slots.
            unsafe { d.add(k).write(p) };
        }
    }

    pub(super) extern "C" fn unary(op: u32, x: f64) -> f64 {
        Unary::ALL[op as usize].value(x)
    }
    pub(super) extern "C" fn unary_d(op: u32, x: f64, d: *mut f64) -> f64 {
        let (y, dy) = Unary::ALL[op as usize].linearise(x);
        write(d, &[dy]);
        y
    }
    pub(super) extern "C" fn real_unary(op: u32, x: f64) -> f64 {
        RealUnary::ALL[op as usize].value(x)
    }
    pub(super) extern "C" fn real_unary_d(op: u32, x: f64, d: *mut f64) -> f64 {
        let (y, dy) = RealUnary::ALL[op as usize].linearise(x);
        write(d, &[dy]);
        y
    }
    pub(super) extern "C" fn powi(n: u32, x: f64) -> f64 {
        x.powi(n as i32)
    }
    pub(super) extern "C" fn powi_d(n: u32, x: f64, d: *mut f64) -> f64 {
        // The interpreter's rule for `Op::Powi(n)`, `n ≠ 2`.
        let n = n as i32;
        write(d, &[powi_derivative(x, n)]);
        x.powi(n)
    }
    pub(super) extern "C" fn binary(op: u32, a: f64, b: f64) -> f64 {
        Binary::ALL[op as usize].value(a, b)
    }
    pub(super) extern "C" fn binary_d(op: u32, a: f64, b: f64, d: *mut f64) -> f64 {
        let (y, (da, db)) = Binary::ALL[op as usize].linearise(a, b);
        write(d, &[da, db]);
        y
    }
    pub(super) extern "C" fn operator(op: u32, a: f64, b: f64) -> f64 {
        Operator::ALL[op as usize].value(a, b)
    }
    pub(super) extern "C" fn operator_d(op: u32, a: f64, b: f64, d: *mut f64) -> f64 {
        let (y, (da, db)) = Operator::ALL[op as usize].linearise(a, b);
        write(d, &[da, db]);
        y
    }
    pub(super) extern "C" fn guard(test: u32, a: f64, b: f64) -> u64 {
        Test::ALL[test as usize].answer(a, b)
    }
}

/// The signatures of the shims, imported into one function.
#[derive(Clone, Copy)]
struct Shims {
    /// `(u32, f64) -> f64`
    value1: SigRef,
    /// `(u32, f64, ptr) -> f64`
    linearise1: SigRef,
    /// `(u32, f64, f64) -> f64`
    value2: SigRef,
    /// `(u32, f64, f64, ptr) -> f64`
    linearise2: SigRef,
    /// `(u32, f64, f64) -> u64`
    guard: SigRef,
}

impl Shims {
    fn declare(func: &mut cranelift_codegen::ir::Function, module: &JITModule) -> Shims {
        let ptr = module.target_config().pointer_type();
        let mut sig = |params: &[cranelift_codegen::ir::Type], ret| {
            let mut s = module.make_signature();
            s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
            s.returns.push(AbiParam::new(ret));
            func.import_signature(s)
        };
        Shims {
            value1: sig(&[I32, F64], F64),
            linearise1: sig(&[I32, F64, ptr], F64),
            value2: sig(&[I32, F64, F64], F64),
            linearise2: sig(&[I32, F64, F64, ptr], F64),
            guard: sig(&[I32, F64, F64], I64),
        }
    }
}

/// A value known to the generated code: its SSA value and the node where it was made or
/// last read from memory.
#[derive(Clone, Copy)]
struct Held {
    value: Value,
    at: usize,
}

/// Writes one function: `eval` (values only) or `vjp` (values with partials, then the
/// reverse sweep).
struct Emitter<'a, 'f> {
    b: FunctionBuilder<'f>,
    p: &'a Program,
    layout: &'a Layout,
    shims: Shims,
    config: TargetFrontendConfig,
    vjp: bool,
    x: Value,
    seed: Value,
    out: Value,
    grad: Value,
    scratch: Value,
    /// Where the guards' failures go: returns its argument.
    fail: Block,
    /// Running sums of the partials stored so far (`vjp`), four to keep the additions
    /// independent: all finite if and only if every partial is (or a sum overflowed,
    /// which only sends the replay to the interpreter).
    sums: [Option<Value>; 4],
    stored: usize,
    values: Vec<Option<Held>>,
    adjoints: Vec<Option<Held>>,
}

impl<'a, 'f> Emitter<'a, 'f> {
    fn new(
        mut b: FunctionBuilder<'f>,
        p: &'a Program,
        layout: &'a Layout,
        shims: Shims,
        config: TargetFrontendConfig,
        vjp: bool,
    ) -> Self {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let (x, seed, out, grad, scratch) = if vjp {
            (params[0], params[1], params[2], params[3], params[4])
        } else {
            (params[0], params[0], params[1], params[1], params[2])
        };
        let fail = b.create_block();
        b.append_block_param(fail, I32);
        let n = p.ops.len();
        Emitter {
            b,
            p,
            layout,
            shims,
            config,
            vjp,
            x,
            seed,
            out,
            grad,
            scratch,
            fail,
            sums: [None; 4],
            stored: 0,
            values: vec![None; n],
            adjoints: vec![None; n],
        }
    }

    fn finish(mut self) {
        self.forward();
        let n = self.p.ops.len();
        for (k, &o) in self.p.outputs.iter().enumerate() {
            let v = self.read(o as usize, n);
            self.store(v, self.out, k);
        }
        if self.vjp {
            self.check_finite();
            self.reverse();
        }
        let zero = self.b.ins().iconst(I32, 0);
        self.b.ins().return_(&[zero]);
        self.b.switch_to_block(self.fail);
        let k = self.b.block_params(self.fail)[0];
        self.b.ins().return_(&[k]);
        self.b.seal_all_blocks();
        self.b.finalize(self.config);
    }

    fn load(&mut self, base: Value, index: usize) -> Value {
        self.b
            .ins()
            .load(F64, MemFlagsData::trusted(), base, offset(index))
    }

    fn store(&mut self, v: Value, base: Value, index: usize) {
        self.b
            .ins()
            .store(MemFlagsData::trusted(), v, base, offset(index));
    }

    /// Node `j`'s value, read at node `i`: from a register if made or loaded near, else
    /// loaded again (from `x` for an input, the scratch for others); a constant is made.
    fn read(&mut self, j: usize, i: usize) -> Value {
        if let Some(h) = self.values[j] {
            if i <= h.at + NEAR {
                return h.value;
            }
        }
        let value = if let Op::Const(c) = self.p.ops[j] {
            self.b.ins().f64const(self.p.consts[c as usize])
        } else if j < self.p.inputs {
            self.load(self.x, j)
        } else {
            let slot = self.layout.value_slot[j].expect("a value read far away has a slot");
            let base = self.value_base();
            self.load(base, slot as usize)
        };
        self.values[j] = Some(Held { value, at: i });
        value
    }

    /// Where the values kept in memory start (and in the sweep, the adjoints kept in
    /// memory): after the partials in `vjp`.
    fn value_base(&mut self) -> Value {
        if self.vjp {
            let bytes = offset(self.layout.partial_slots);
            self.b.ins().iadd_imm_s(self.scratch, i64::from(bytes))
        } else {
            self.scratch
        }
    }

    /// The address of operand slot `k`'s partial.
    fn partial_addr(&mut self, k: usize) -> Value {
        self.b.ins().iadd_imm_s(self.scratch, i64::from(offset(k)))
    }

    fn call(&mut self, sig: SigRef, f: *const u8, args: &[Value]) -> Value {
        let callee = self.b.ins().iconst(I64, f as i64);
        let call = self.b.ins().call_indirect(sig, callee, args);
        self.b.inst_results(call)[0]
    }

    /// A one-operand rule table's function `op`: its value, and in `vjp` its derivative
    /// into partial slot `k`.
    fn call1(&mut self, shim: (*const u8, *const u8), op: u32, x: Value, k: usize) -> Value {
        let op = self.b.ins().iconst(I32, i64::from(op));
        if self.vjp {
            let d = self.partial_addr(k);
            let y = self.call(self.shims.linearise1, shim.1, &[op, x, d]);
            self.sum_stored(k);
            y
        } else {
            self.call(self.shims.value1, shim.0, &[op, x])
        }
    }

    /// As [`Emitter::call1`] with two operands, partials into slots `k` and `k + 1`.
    fn call2(
        &mut self,
        shim: (*const u8, *const u8),
        op: u32,
        a: Value,
        b: Value,
        k: usize,
    ) -> Value {
        let op = self.b.ins().iconst(I32, i64::from(op));
        if self.vjp {
            let d = self.partial_addr(k);
            let y = self.call(self.shims.linearise2, shim.1, &[op, a, b, d]);
            self.sum_stored(k);
            self.sum_stored(k + 1);
            y
        } else {
            self.call(self.shims.value2, shim.0, &[op, a, b])
        }
    }

    /// Stores `d` as operand slot `k`'s partial, adding it to a running sum.
    fn store_partial(&mut self, d: Value, k: usize) {
        self.store(d, self.scratch, k);
        self.sum_partial(d);
    }

    /// Adds partial `d` to the next running sum.
    fn sum_partial(&mut self, d: Value) {
        let i = self.stored % 4;
        self.stored += 1;
        self.sums[i] = Some(match self.sums[i] {
            None => d,
            Some(s) => self.b.ins().fadd(s, d),
        });
    }

    /// Reads back partial slot `k`, written by a shim, into a running sum.
    fn sum_stored(&mut self, k: usize) {
        let d = self.load(self.scratch, k);
        self.sum_partial(d);
    }

    /// Returns [`NOT_FINITE`] unless every running sum is finite.
    fn check_finite(&mut self) {
        let sums: Vec<Value> = self.sums.iter().flatten().copied().collect();
        let Some(total) = sums.into_iter().reduce(|a, b| self.b.ins().fadd(a, b)) else {
            return;
        };
        // `s − s` is 0 for a finite `s`, NaN for ±∞ and NaN.
        let d = self.b.ins().fsub(total, total);
        let finite = self.b.ins().fcmp(FloatCC::Ordered, d, d);
        let code = self.b.ins().iconst(I32, i64::from(NOT_FINITE as i32));
        let next = self.b.create_block();
        self.b
            .ins()
            .brif(finite, next, &[], self.fail, &[BlockArg::Value(code)]);
        self.b.switch_to_block(next);
    }

    fn forward(&mut self) {
        let p = self.p;
        let mut guards = 0;
        let mut start = 0;
        for i in 0..p.ops.len() {
            let end = p.ends[i] as usize;
            let k = start;
            let y = match p.ops[i] {
                // Loaded where they are read.
                Op::Input => None,
                Op::Const(_) => None,
                Op::Unary(f) => {
                    let x = self.read(p.args[k] as usize, i);
                    Some(self.call1(
                        (shim::unary as *const u8, shim::unary_d as *const u8),
                        f as u32,
                        x,
                        k,
                    ))
                }
                Op::RealUnary(f) => {
                    let x = self.read(p.args[k] as usize, i);
                    Some(self.call1(
                        (
                            shim::real_unary as *const u8,
                            shim::real_unary_d as *const u8,
                        ),
                        f as u32,
                        x,
                        k,
                    ))
                }
                Op::Powi(2) => {
                    let x = self.read(p.args[k] as usize, i);
                    if self.vjp {
                        let two = self.b.ins().f64const(2.0);
                        let d = self.b.ins().fmul(two, x);
                        self.store_partial(d, k);
                    }
                    Some(self.b.ins().fmul(x, x))
                }
                Op::Powi(n) => {
                    let x = self.read(p.args[k] as usize, i);
                    Some(self.call1(
                        (shim::powi as *const u8, shim::powi_d as *const u8),
                        n as u32,
                        x,
                        k,
                    ))
                }
                Op::Neg => {
                    let x = self.read(p.args[k] as usize, i);
                    Some(self.b.ins().fneg(x))
                }
                Op::Binary(f) => {
                    let a = self.read(p.args[k] as usize, i);
                    let b = self.read(p.args[k + 1] as usize, i);
                    Some(self.call2(
                        (shim::binary as *const u8, shim::binary_d as *const u8),
                        f as u32,
                        a,
                        b,
                        k,
                    ))
                }
                Op::Operator(f) => {
                    let a = self.read(p.args[k] as usize, i);
                    let b = self.read(p.args[k + 1] as usize, i);
                    Some(self.operator(f, a, b, k))
                }
                Op::MulAdd => {
                    let x = self.read(p.args[k] as usize, i);
                    let m = self.read(p.args[k + 1] as usize, i);
                    let s = self.read(p.args[k + 2] as usize, i);
                    if self.vjp {
                        self.store_partial(m, k);
                        self.store_partial(x, k + 1);
                    }
                    Some(self.b.ins().fma(x, m, s))
                }
                Op::Custom(..) => unreachable!("`Layout::new` refuses user-defined operations"),
            };
            if let Some(y) = y {
                self.values[i] = Some(Held { value: y, at: i });
                if let Some(slot) = self.layout.value_slot[i] {
                    let base = self.value_base();
                    self.store(y, base, slot as usize);
                }
            }
            while guards < p.guards.len() && self.layout.guard_at[guards] == i {
                self.guard(guards, i);
                guards += 1;
            }
            start = end;
        }
    }

    /// An arithmetic operator: `+ − × ÷` as instructions with the operator table's
    /// partials, `%` through its shim.
    fn operator(&mut self, f: Operator, a: Value, b: Value, k: usize) -> Value {
        let ins = self.b.ins();
        match f {
            // Constant partials (±1): nothing to store, the sweep knows them.
            Operator::add => ins.fadd(a, b),
            Operator::sub => ins.fsub(a, b),
            Operator::mul => {
                let y = ins.fmul(a, b);
                if self.vjp {
                    self.store_partial(b, k);
                    self.store_partial(a, k + 1);
                }
                y
            }
            Operator::div => {
                let y = ins.fdiv(a, b);
                if self.vjp {
                    let one = self.b.ins().f64const(1.0);
                    let recip = self.b.ins().fdiv(one, b);
                    let neg = self.b.ins().fneg(y);
                    let db = self.b.ins().fdiv(neg, b);
                    self.store_partial(recip, k);
                    self.store_partial(db, k + 1);
                }
                y
            }
            Operator::rem => self.call2(
                (shim::operator as *const u8, shim::operator_d as *const u8),
                f as u32,
                a,
                b,
                k,
            ),
        }
    }

    /// Checks guard `g` after node `i`: on another answer, returns `g + 1`.
    fn guard(&mut self, g: usize, i: usize) {
        let guard = &self.p.guards[g];
        let (args, test, answer) = (guard.args, guard.test, guard.answer);
        let a = self.read(args[0] as usize, i);
        let b = self.read(args[1] as usize, i);
        let test = self.b.ins().iconst(I32, test as i64);
        let got = self.call(self.shims.guard, shim::guard as *const u8, &[test, a, b]);
        let expected = self.b.ins().iconst(I64, answer as i64);
        let changed = self.b.ins().icmp(IntCC::NotEqual, got, expected);
        let number = self.b.ins().iconst(I32, g as i64 + 1);
        let next = self.b.create_block();
        self.b
            .ins()
            .brif(changed, self.fail, &[BlockArg::Value(number)], next, &[]);
        self.b.switch_to_block(next);
    }

    /// Adds `c` to node `j`'s adjoint, at node `i` of the sweep.
    fn add_adjoint(&mut self, j: usize, i: usize, c: Value) {
        if matches!(self.p.ops[j], Op::Const(_)) {
            return;
        }
        let memory = if j < self.p.inputs {
            // Inputs' adjoints are kept in `grad` when added to far from the end.
            (self.layout.last_added[j] > j + NEAR).then_some((self.grad, j))
        } else {
            self.layout.adjoint_slot[j].map(|s| (self.value_base(), s as usize))
        };
        let first = self.adjoints[j].is_none();
        match memory {
            Some((base, at)) => {
                let sum = if first {
                    c
                } else {
                    let old = self.load(base, at);
                    self.b.ins().fadd(old, c)
                };
                self.store(sum, base, at);
                self.adjoints[j] = Some(Held { value: sum, at: i });
            }
            None => {
                let sum = match self.adjoints[j] {
                    None => c,
                    Some(h) => self.b.ins().fadd(h.value, c),
                };
                self.adjoints[j] = Some(Held { value: sum, at: i });
            }
        }
    }

    /// Node `j`'s adjoint at its own step of the sweep (`None` if nothing was added).
    fn take_adjoint(&mut self, j: usize) -> Option<Value> {
        self.adjoints[j]?;
        if let Some(s) = self.layout.adjoint_slot[j] {
            let base = self.value_base();
            Some(self.load(base, s as usize))
        } else {
            self.adjoints[j].map(|h| h.value)
        }
    }

    fn reverse(&mut self) {
        let p = self.p;
        let n = p.ops.len();
        for (k, &o) in p.outputs.iter().enumerate() {
            let s = self.load(self.seed, k);
            self.add_adjoint(o as usize, n, s);
        }
        let mut end = p.args.len();
        for i in (p.inputs..n).rev() {
            let start = if i == 0 { 0 } else { p.ends[i - 1] as usize };
            let Some(a) = self.take_adjoint(i) else {
                end = start;
                continue;
            };
            // Every partial is finite here, so a zero adjoint adds (signed) zeros: the
            // interpreter's skipping of it changes no value.
            for k in start..end {
                let j = p.args[k] as usize;
                let c = match (p.ops[i], k - start) {
                    (Op::Operator(Operator::add), _) | (Op::Operator(Operator::sub), 0) => a,
                    (Op::MulAdd, 2) => a,
                    (Op::Operator(Operator::sub), _) | (Op::Neg, _) => self.b.ins().fneg(a),
                    _ => {
                        let d = self.load(self.scratch, k);
                        self.b.ins().fmul(a, d)
                    }
                };
                self.add_adjoint(j, i, c);
            }
            end = start;
        }
        // Inputs' adjoints not kept in `grad` are written there now; untouched ones are 0.
        for j in 0..p.inputs {
            let in_memory = self.layout.last_added[j] > j + NEAR;
            match self.adjoints[j] {
                Some(h) if !in_memory => self.store(h.value, self.grad, j),
                Some(_) => {}
                None => {
                    let zero = self.b.ins().f64const(0.0);
                    self.store(zero, self.grad, j);
                }
            }
        }
    }
}

/// The byte offset of element `index` (checked to fit 32 bits in `Layout::new`).
fn offset(index: usize) -> i32 {
    (index * 8) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shims find an operation by its discriminant: each table must list every
    /// operation at its discriminant's place.
    #[test]
    fn operation_tables_are_in_discriminant_order() {
        for (i, &t) in Test::ALL.iter().enumerate() {
            assert_eq!(t as usize, i);
        }
        assert_eq!(Test::ALL.len(), Test::Value as usize + 1);
        for (i, &f) in Unary::ALL.iter().enumerate() {
            assert_eq!(f as usize, i);
        }
        for (i, &f) in Binary::ALL.iter().enumerate() {
            assert_eq!(f as usize, i);
        }
        for (i, &f) in Operator::ALL.iter().enumerate() {
            assert_eq!(f as usize, i);
        }
        for (i, &f) in RealUnary::ALL.iter().enumerate() {
            assert_eq!(f as usize, i);
        }
    }
}
