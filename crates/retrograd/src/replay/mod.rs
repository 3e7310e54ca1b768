//! Record once, replay many: a function recorded as a list of operations, then evaluated
//! and differentiated at new inputs without running the user's code again.
//!
//! Monte Carlo paths, time steps and optimiser iterations repeat one computation at new
//! inputs. The tape ([`Tape`](crate::Tape)) records the computation again each time;
//! [`record`] keeps the operations themselves, so that [`Recording::gradient`] runs the
//! values forward (with each operation's local derivatives) and the adjoints backward
//! with no user code, no recording and no allocation (with a [`Workspace`]).
//!
//! The function is written once on [`Real`] (or `num_traits::Float`) and run on
//! [`Traced`]. Where the code branches on a value — a comparison, `is_nan()`, `value()` —
//! the branch taken is recorded as a **guard**: a replay at inputs that answer a guard
//! differently returns [`Error::GuardChanged`] naming the line, since the recording no
//! longer describes the code's path there. [`Replayed`] records again when that happens.
//! Functions with kinks built in (`abs`, `max`, `min`, `floor`, ...) are operations, not
//! branches: their replays are exact everywhere.
//!
//! ```
//! use retrograd::prelude::*;
//! use retrograd::replay::{self, Traced};
//!
//! fn payoff<T: Real>(x: &[T]) -> T {
//!     let s = x[0] * (x[1] * T::from_f64(0.5)).exp();
//!     (s - T::from_f64(100.0)).max(T::zero())
//! }
//! let rec = replay::record(&[100.0, 0.2], |x: &[Traced]| payoff(x));
//! let (value, grad) = rec.gradient(&[110.0, 0.1]).unwrap();
//! let e = 0.05_f64.exp();
//! assert!((value - (110.0 * e - 100.0)).abs() < 1e-12);
//! assert!((grad[0] - e).abs() < 1e-12 && (grad[1] - 55.0 * e).abs() < 1e-12);
//! ```
//!
//! A black box inside the function (a linear solve, a call into another library) is
//! recorded with [`custom`] and its forward rule, which every replay runs again.
//!
//! With the `jit` feature, `Recording::compile` turns a recording into native code
//! (Cranelift) that replays it on `f64` with the interpreter's exact results and no
//! dispatch per operation: a recorded time step's vector–Jacobian product then costs a
//! small multiple of the step itself.
//!
//! Replays are generic over the number type: at [`Dual`] inputs they give
//! forward-mode derivatives of the replay, and [`Recording::hvp`] gives Hessian-vector
//! products (forward over the replayed reverse sweep).

mod call;
#[cfg(feature = "jit")]
mod jit;
mod kernel;
mod lanes;
mod program;
mod traced;

#[cfg(feature = "jit")]
pub use jit::{Compiled, MAX_COMPILED_OPERATIONS};
pub use kernel::{Simd, LANES};
pub use lanes::LaneWorkspace;
pub use traced::{custom, custom_op, Traced};

use crate::error::check_len;
use crate::{Dual, Error, Real};
use program::Program;
use std::sync::Arc;
use traced::Session;

/// Records `f` at `x` for replay. `f` receives one [`Traced`] input per element of `x`.
///
/// # Panics
/// If `f` uses a [`Traced`] of another recording (one that has ended, or an enclosing
/// one), with a message naming the line.
///
/// ```
/// use retrograd::prelude::*;
/// let rec = retrograd::replay::record(&[1.0, 2.0], |x| x[0].sin() * x[1]);
/// let (y, g) = rec.gradient(&[0.0, 3.0]).unwrap();
/// assert_eq!((y, g), (0.0, vec![3.0, 0.0]));
/// ```
#[track_caller]
pub fn record<F>(x: &[f64], f: F) -> Recording
where
    F: FnOnce(&[Traced]) -> Traced,
{
    record_many(x, |t| vec![f(t)])
}

/// Records `f` at `x` for replay, with any number of outputs.
///
/// ```
/// let rec = retrograd::replay::record_many(&[2.0, 3.0], |x| vec![x[0] * x[1], x[0] + x[1]]);
/// assert_eq!(rec.eval(&[4.0, 5.0]).unwrap(), vec![20.0, 9.0]);
/// let (y, g) = rec.vjp(&[4.0, 5.0], &[1.0, 10.0]).unwrap();
/// assert_eq!((y, g), (vec![20.0, 9.0], vec![15.0, 14.0]));
/// ```
#[track_caller]
pub fn record_many<F>(x: &[f64], f: F) -> Recording
where
    F: FnOnce(&[Traced]) -> Vec<Traced>,
{
    let (session, inputs) = Session::start(x);
    let outputs = f(&inputs);
    Recording {
        program: Arc::new(session.finish(&outputs)),
    }
}

/// A recorded function: its operations, inputs, outputs and guards. Plain data: it can be
/// shared by threads, each replaying it with its own [`Workspace`].
#[derive(Clone, Debug)]
pub struct Recording {
    /// Shared with the operations that [`Recording::call`] leaves on tapes.
    program: Arc<Program>,
}

/// The buffers of a replay (values, local partials and adjoints, one per operation), kept
/// between replays so that they allocate nothing once grown.
///
/// ```
/// use retrograd::replay::{self, Workspace};
/// let rec = replay::record(&[1.0], |x| x[0] * x[0] * x[0]);
/// let mut ws = Workspace::new();
/// let mut grad = [0.0];
/// for x in [1.0, 2.0, 3.0] {
///     rec.vjp_with(&mut ws, &[x], &[1.0], &mut grad).unwrap();
///     assert_eq!(grad[0], 3.0 * x * x);
///     assert_eq!(ws.outputs(), &[x * x * x]);
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Workspace<T = f64> {
    values: Vec<T>,
    partials: Vec<T>,
    adjoints: Vec<T>,
    outputs: Vec<T>,
    /// User-defined operations' arguments, values and Jacobians.
    custom: Vec<f64>,
}

impl<T: Real> Default for Workspace<T> {
    fn default() -> Self {
        Workspace {
            values: Vec::new(),
            partials: Vec::new(),
            adjoints: Vec::new(),
            outputs: Vec::new(),
            custom: Vec::new(),
        }
    }
}

impl<T: Real> Workspace<T> {
    /// Empty buffers; they grow to the recording's size at the first replay.
    ///
    /// ```
    /// let ws: retrograd::replay::Workspace = retrograd::replay::Workspace::new();
    /// assert!(ws.outputs().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The outputs of the last replay.
    ///
    /// ```
    /// use retrograd::replay::{self, Workspace};
    /// let rec = replay::record(&[1.0], |x| x[0] + 1.0);
    /// let mut ws = Workspace::new();
    /// rec.eval_with(&mut ws, &[2.0]).unwrap();
    /// assert_eq!(ws.outputs(), &[3.0]);
    /// ```
    pub fn outputs(&self) -> &[T] {
        &self.outputs
    }
}

impl Recording {
    /// The number of inputs.
    ///
    /// ```
    /// assert_eq!(retrograd::replay::record(&[1.0, 2.0], |x| x[0]).inputs(), 2);
    /// ```
    pub fn inputs(&self) -> usize {
        self.program.inputs
    }

    /// The number of outputs.
    ///
    /// ```
    /// let rec = retrograd::replay::record_many(&[1.0], |x| vec![x[0], x[0]]);
    /// assert_eq!(rec.outputs(), 2);
    /// ```
    pub fn outputs(&self) -> usize {
        self.program.outputs.len()
    }

    /// The number of recorded operations, inputs and constants included.
    ///
    /// ```
    /// // Two inputs, one product.
    /// assert_eq!(retrograd::replay::record(&[1.0, 2.0], |x| x[0] * x[1]).len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.program.ops.len()
    }

    /// True when nothing was recorded (no inputs, and constant outputs only).
    ///
    /// ```
    /// assert!(!retrograd::replay::record(&[1.0], |x| x[0]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.program.ops.is_empty()
    }

    /// The number of guards: branches on values that a replay checks.
    ///
    /// ```
    /// use retrograd::prelude::*;
    /// let rec = retrograd::replay::record(&[1.0], |x| if x[0] > 0.0.into() { x[0] } else { -x[0] });
    /// assert_eq!(rec.guards(), 1);
    /// ```
    pub fn guards(&self) -> usize {
        self.program.guards.len()
    }

    /// The outputs at `x`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `x` has the wrong length; [`Error::GuardChanged`] if
    /// the code would take another branch at `x`.
    ///
    /// ```
    /// use retrograd::prelude::*;
    /// let rec = retrograd::replay::record(&[1.0], |x| x[0].exp());
    /// assert_eq!(rec.eval(&[0.0]).unwrap(), vec![1.0]);
    /// ```
    pub fn eval(&self, x: &[f64]) -> Result<Vec<f64>, Error> {
        self.call_values(x)
    }

    /// The outputs at `x`, in `ws` ([`Workspace::outputs`]), allocating nothing once `ws`
    /// has grown. Generic over the number type: `Dual` inputs give directional derivatives.
    ///
    /// # Errors
    /// As [`Recording::eval`].
    ///
    /// ```
    /// use retrograd::{replay::{self, Workspace}, Dual};
    /// let rec = replay::record(&[1.0], |x| x[0] * x[0]);
    /// let mut ws = Workspace::new();
    /// rec.eval_with(&mut ws, &[Dual::variable(3.0, 0)]).unwrap();
    /// assert_eq!(ws.outputs()[0].derivative(), 6.0);
    /// ```
    pub fn eval_with<T: Real>(&self, ws: &mut Workspace<T>, x: &[T]) -> Result<(), Error> {
        self.run::<T, false>(ws, x)
    }

    /// The value and gradient of a one-output recording at `x`.
    ///
    /// # Errors
    /// As [`Recording::eval`], and [`Error::LengthMismatch`] if the recording has several
    /// outputs.
    ///
    /// ```
    /// let rec = retrograd::replay::record(&[1.0, 1.0], |x| x[0] * x[1]);
    /// assert_eq!(rec.gradient(&[2.0, 5.0]).unwrap(), (10.0, vec![5.0, 2.0]));
    /// ```
    pub fn gradient(&self, x: &[f64]) -> Result<(f64, Vec<f64>), Error> {
        self.one_output("gradient")?;
        let (y, g) = self.vjp(x, &[1.0])?;
        Ok((y[0], g))
    }

    /// The outputs at `x` and the vector–Jacobian product `seedᵀ J`.
    ///
    /// # Errors
    /// As [`Recording::eval`], and [`Error::LengthMismatch`] if `seed` does not have one
    /// value per output.
    ///
    /// ```
    /// let rec = retrograd::replay::record_many(&[1.0], |x| vec![x[0] * 2.0, x[0] * 3.0]);
    /// assert_eq!(rec.vjp(&[1.0], &[1.0, 1.0]).unwrap().1, vec![5.0]);
    /// ```
    pub fn vjp(&self, x: &[f64], seed: &[f64]) -> Result<(Vec<f64>, Vec<f64>), Error> {
        let mut ws = Workspace::new();
        let mut grad = vec![0.0; self.inputs()];
        self.vjp_with(&mut ws, x, seed, &mut grad)?;
        Ok((ws.outputs, grad))
    }

    /// The vector–Jacobian product `seedᵀ J` at `x` into `grad` (one per input), with the
    /// outputs in `ws`; allocates nothing once `ws` has grown. Generic over the number
    /// type ([`Recording::hvp`] runs it on `Dual`).
    ///
    /// # Errors
    /// As [`Recording::vjp`], and [`Error::LengthMismatch`] if `grad` does not have one
    /// value per input.
    ///
    /// ```
    /// use retrograd::prelude::*;
    /// use retrograd::replay::{self, Workspace};
    /// let rec = replay::record(&[1.0], |x| x[0].ln());
    /// let (mut ws, mut g) = (Workspace::new(), [0.0]);
    /// rec.vjp_with(&mut ws, &[4.0], &[1.0], &mut g).unwrap();
    /// assert_eq!(g, [0.25]);
    /// ```
    pub fn vjp_with<T: Real>(
        &self,
        ws: &mut Workspace<T>,
        x: &[T],
        seed: &[T],
        grad: &mut [T],
    ) -> Result<(), Error> {
        self.check_vjp(x.len(), seed.len(), grad.len())?;
        self.run::<T, true>(ws, x)?;
        self.program
            .seeded_reverse(&ws.partials, seed, &mut ws.adjoints);
        // Inputs are the first nodes.
        grad.copy_from_slice(&ws.adjoints[..self.inputs()]);
        Ok(())
    }

    /// The gradient and the Hessian–vector product `H v` of a one-output recording at
    /// `x`: the replayed reverse sweep run on [`Dual`] numbers (forward over reverse).
    ///
    /// # Errors
    /// As [`Recording::gradient`], and [`Error::LengthMismatch`] if `v` does not have one
    /// value per input.
    ///
    /// ```
    /// let rec = retrograd::replay::record(&[1.0, 1.0], |x| x[0] * x[0] * x[1]);
    /// let (g, hv) = rec.hvp(&[1.0, 2.0], &[1.0, 0.0]).unwrap();
    /// assert_eq!(g, vec![4.0, 1.0]);  // (2xy, x²)
    /// assert_eq!(hv, vec![4.0, 2.0]); // first column of [[2y, 2x], [2x, 0]]
    /// ```
    pub fn hvp(&self, x: &[f64], v: &[f64]) -> Result<(Vec<f64>, Vec<f64>), Error> {
        self.one_output("hvp")?;
        check_len(
            || "replay hvp: the direction (one value per input)".into(),
            self.inputs(),
            v.len(),
        )?;
        let xs: Vec<Dual> = x.iter().zip(v).map(|(&x, &v)| Dual::new(x, [v])).collect();
        let mut ws = Workspace::new();
        let mut grad = vec![Dual::constant(0.0); self.inputs()];
        self.vjp_with(&mut ws, &xs, &[Dual::constant(1.0)], &mut grad)?;
        Ok(grad.iter().map(|d| (d.value(), d.derivative())).unzip())
    }

    /// Checks the lengths of a replay's inputs.
    fn check_inputs(&self, x: usize) -> Result<(), Error> {
        check_len(
            || "replay: the inputs (one value per recorded input)".into(),
            self.inputs(),
            x,
        )
    }

    /// Checks the lengths of a vector–Jacobian product's seed and gradient buffer, then
    /// of its inputs.
    fn check_vjp(&self, x: usize, seed: usize, grad: usize) -> Result<(), Error> {
        check_len(
            || "replay vjp: the output seed (one value per output)".into(),
            self.outputs(),
            seed,
        )?;
        check_len(
            || "replay vjp: the gradient buffer (one value per input)".into(),
            self.inputs(),
            grad,
        )?;
        self.check_inputs(x)
    }

    /// Refuses a recording with several outputs where one is needed.
    fn one_output(&self, what: &str) -> Result<(), Error> {
        check_len(
            || format!("replay {what}: the recording's outputs (one is needed)"),
            1,
            self.outputs(),
        )
    }

    /// Runs the operations forward at `x` and checks the guards.
    fn run<T: Real, const LINEARISE: bool>(
        &self,
        ws: &mut Workspace<T>,
        x: &[T],
    ) -> Result<(), Error> {
        self.check_inputs(x.len())?;
        if LINEARISE
            && !self.program.customs.is_empty()
            && std::any::TypeId::of::<T>() != std::any::TypeId::of::<f64>()
        {
            return Err(Error::Unsupported(
                "replay: a sweep on a number type other than f64 (a Hessian–vector \
                 product) through a user-defined operation would need its second \
                 derivatives, which its Jacobian does not give"
                    .into(),
            ));
        }
        self.program.forward::<T, LINEARISE>(
            x,
            &mut ws.values,
            &mut ws.partials,
            &mut ws.custom,
        )?;
        if let Some(g) = self.program.changed_guard(&ws.values) {
            return Err(guard_changed(g));
        }
        ws.outputs.clear();
        ws.outputs
            .extend(self.program.outputs.iter().map(|&o| ws.values[o as usize]));
        Ok(())
    }
}

/// The error of a replay at inputs where guard `g` answers otherwise than when recorded.
fn guard_changed(g: &program::Guard) -> Error {
    Error::GuardChanged(format!(
        "{} at {} answered otherwise at these inputs than when recorded; record the \
         function again at these inputs",
        g.test.describe(),
        g.location
    ))
}

/// A function kept with its latest recording, recorded again where a replay finds that a
/// guard changed: what a caller of [`Recording`] would write by hand.
///
/// ```
/// use retrograd::prelude::*;
/// use retrograd::replay::{Replayed, Traced};
/// // |x|, written with a branch: x < 0 and x > 0 take different paths.
/// let mut f = Replayed::new(|x: &[Traced]| if x[0] < Traced::zero() { -x[0] } else { x[0] });
/// assert_eq!(f.gradient(&[2.0]).unwrap(), (2.0, vec![1.0]));
/// assert_eq!(f.gradient(&[3.0]).unwrap(), (3.0, vec![1.0])); // replayed
/// assert_eq!(f.gradient(&[-3.0]).unwrap(), (3.0, vec![-1.0])); // recorded again
/// assert_eq!(f.recordings(), 2);
/// ```
pub struct Replayed<F> {
    f: F,
    recording: Option<Recording>,
    recordings: usize,
}

impl<F: Fn(&[Traced]) -> Traced> Replayed<F> {
    /// Keeps `f`; the first call records it.
    ///
    /// ```
    /// let f = retrograd::replay::Replayed::new(|x| x[0] * 2.0);
    /// assert_eq!(f.recordings(), 0);
    /// ```
    pub fn new(f: F) -> Self {
        Replayed {
            f,
            recording: None,
            recordings: 0,
        }
    }

    /// How many times the function has been recorded.
    ///
    /// ```
    /// let mut f = retrograd::replay::Replayed::new(|x| x[0] * 2.0);
    /// f.gradient(&[1.0]).unwrap();
    /// f.gradient(&[2.0]).unwrap();
    /// assert_eq!(f.recordings(), 1);
    /// ```
    pub fn recordings(&self) -> usize {
        self.recordings
    }

    /// The value and gradient at `x`: a replay, or a new recording where the last one's
    /// guards do not hold at `x`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `x` has a different length than at the first call.
    ///
    /// ```
    /// use retrograd::prelude::*;
    /// let mut f = retrograd::replay::Replayed::new(|x| x[0].max(x[1]));
    /// assert_eq!(f.gradient(&[1.0, 2.0]).unwrap(), (2.0, vec![0.0, 1.0]));
    /// assert_eq!(f.gradient(&[3.0, 2.0]).unwrap(), (3.0, vec![1.0, 0.0]));
    /// assert_eq!(f.recordings(), 1); // max is an operation, not a branch
    /// ```
    #[track_caller]
    pub fn gradient(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), Error> {
        if let Some(rec) = &self.recording {
            match rec.gradient(x) {
                Err(Error::GuardChanged(_)) => {}
                other => return other,
            }
        }
        let rec = record(x, &self.f);
        self.recordings += 1;
        // Recorded at `x`, so its guards hold at `x`.
        let result = rec.gradient(x);
        self.recording = Some(rec);
        result
    }
}
