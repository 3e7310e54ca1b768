//! A recording called from generic code: [`Recording::call`] replays it on whatever number
//! type the caller runs on, so a recorded piece composes with the rest of the library.
//!
//! - On `f64`, `f32` and [`Dual`](crate::Dual): the replay's values (with forward-mode
//!   derivatives on `Dual`).
//! - On [`Var`]: one operation of the active tape, whose local derivatives are the replay's
//!   partials. Marks, `sweep_and_reset`, checkpointed loops and nested tapes treat it like
//!   any other operation, and on `Var<Dual>` the sweep runs forward over reverse (Hessians).
//! - On [`Traced`]: the recording's operations and guards inlined into the recording under
//!   way, so that a guard of the inner recording is a guard of the outer one.

use super::{guard_changed, Recording, Traced, Workspace};
use crate::scalar::custom::custom_vjp;
use crate::{Error, Real, TapeScalar, Var};
use std::sync::Arc;

impl Recording {
    /// Replays the recording at `x` on the caller's number type: values on `f64`,
    /// forward-mode derivatives on [`Dual`](crate::Dual), one operation of the active tape
    /// on [`Var`] (its derivatives the replay's, for any sweep the tape makes), and the
    /// operations themselves, guards included, on [`Traced`] (a recording inside a
    /// recording). The recorded function is not run again.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `x` does not have one value per input, and the errors
    /// of [`Recording::eval`] (a changed guard, a user-defined operation without a forward
    /// rule at new inputs). On `Var<T>` for `T` other than `f64`, and on `Traced`, a
    /// recording holding user-defined operations is refused with [`Error::Unsupported`]:
    /// their Jacobians give no second derivatives, and a recording of them would not know
    /// their rules' branches.
    ///
    /// ```
    /// use retrograd::prelude::*;
    /// use retrograd::replay::{self, Traced};
    ///
    /// fn norm<T: Real>(x: &[T]) -> T {
    ///     (x[0] * x[0] + x[1] * x[1]).sqrt()
    /// }
    /// let rec = replay::record(&[3.0, 4.0], |x: &[Traced]| norm(x));
    ///
    /// // Code generic over the number type calls the recording...
    /// fn f<T: Real>(rec: &replay::Recording, x: &[T]) -> T {
    ///     let r = rec.call(x).unwrap()[0];
    ///     r * r * x[0]
    /// }
    /// // ...on f64, on the tape (gradients) and on Var<Dual> (Hessians).
    /// assert_eq!(f(&rec, &[3.0, 4.0]), 75.0);
    /// let g = retrograd::grad(|x| f(&rec, x), &[3.0, 4.0]); // (3x² + y², 2xy)
    /// assert!((g[0] - 43.0).abs() < 1e-12 && (g[1] - 24.0).abs() < 1e-12);
    /// let h = retrograd::hessian(|x| f(&rec, x), &[3.0, 4.0]); // [[6x, 2y], [2y, 2x]]
    /// assert!((h[0][0] - 18.0).abs() < 1e-12 && (h[0][1] - 8.0).abs() < 1e-12);
    /// assert!((h[1][1] - 6.0).abs() < 1e-12);
    /// ```
    pub fn call<T: Real>(&self, x: &[T]) -> Result<Vec<T>, Error> {
        T::call_recording(self, x)
    }

    /// [`Recording::call`] on number types without a tape of their own (and
    /// [`Recording::eval`]): the replay's values, through the generic forward pass.
    pub(crate) fn call_values<T: Real>(&self, x: &[T]) -> Result<Vec<T>, Error> {
        let mut ws = Workspace::new();
        self.eval_with(&mut ws, x)?;
        Ok(ws.outputs)
    }

    /// [`Recording::call`] on [`Var`]: the replay's values and partials at the inputs'
    /// values, and one operation on the inputs' tape whose vector–Jacobian product is the
    /// replayed reverse sweep over those partials.
    pub(crate) fn call_on_tape<T: TapeScalar>(&self, x: &[Var<T>]) -> Result<Vec<Var<T>>, Error> {
        let values: Vec<T> = x.iter().map(|v| v.value()).collect();
        let mut ws = Workspace::new();
        self.run::<T, true>(&mut ws, &values)?;
        let program = Arc::clone(&self.program);
        let Workspace {
            partials, outputs, ..
        } = ws;
        Ok(custom_vjp(x, &outputs, move |seed, grad| {
            let mut adjoints = Vec::new();
            program.seeded_reverse(&partials, seed, &mut adjoints);
            for (g, &a) in grad.iter_mut().zip(&adjoints[..program.inputs]) {
                *g += a;
            }
        }))
    }

    /// [`Recording::call`] on [`Traced`]: the operations recorded again, one by one, into
    /// the recording under way, and each guard asked again there (at its own line), so
    /// that a replay of the outer recording checks it too.
    pub(crate) fn call_inlined(&self, x: &[Traced]) -> Result<Vec<Traced>, Error> {
        self.check_inputs(x.len())?;
        if !self.program.customs.is_empty() {
            return Err(Error::Unsupported(
                "replay: a recording holding user-defined operations called inside another \
                 recording; call it outside the recorded function, or record the \
                 operations with the outer function"
                    .into(),
            ));
        }
        let mut values = Vec::new();
        self.program
            .forward::<Traced, false>(x, &mut values, &mut Vec::new(), &mut Vec::new())?;
        for g in &self.program.guards {
            let [a, b] = g.args.map(|i| values[i as usize]);
            if Traced::ask_at(g.test, &[a, b], g.location) != g.answer {
                return Err(guard_changed(g));
            }
        }
        Ok(self
            .program
            .outputs
            .iter()
            .map(|&o| values[o as usize])
            .collect())
    }
}
