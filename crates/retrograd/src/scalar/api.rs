//! The closure API: derivatives of a function given as a closure over [`Var`]s.
//!
//! Each call records the function on a tape and sweeps it. The tape and its adjoint buffer
//! are kept per thread between calls (up to [`SPARE_TAPE_BYTES`] of buffers), as a C++
//! tool keeps its tape: calls in a loop neither allocate nor grow them again. A call inside
//! another's function gets buffers of its own.

use super::tape::{Adjoints, Tape, TapeScalar};
use super::var::Var;
use crate::error::{check_len, Error};
use crate::Dual;
use std::ops::{Deref, DerefMut};

/// The most buffer capacity (bytes of statements, operands and adjoints) that the closure
/// API keeps per thread and number type between calls; a call that grew its buffers past
/// this frees them. Growing a tape again costs more than sweeping it (its buffers are copied
/// at each doubling, into new pages), so the bound is generous: 256 MiB.
///
/// ```
/// assert_eq!(retrograd::SPARE_TAPE_BYTES, 256 << 20);
/// ```
pub const SPARE_TAPE_BYTES: usize = 256 << 20;

/// This thread's spare tape (cleared) and adjoint buffer, or new ones when the slot is
/// empty (a call inside another's function); put back on drop if their buffers are within
/// [`SPARE_TAPE_BYTES`].
struct Spare<T: TapeScalar>(Option<(Tape<T>, Adjoints<T>)>);

impl<T: TapeScalar> Spare<T> {
    fn take() -> Self {
        let kept = T::spare_slot().try_with(|slot| slot.take()).ok().flatten();
        Spare(Some(kept.map_or_else(
            || {
                let tape = Tape::new();
                let adjoints = tape.adjoints(&[]);
                (tape, adjoints)
            },
            |(mut tape, adjoints)| {
                tape.clear();
                (tape, adjoints)
            },
        )))
    }

    /// One reverse sweep of the recording seeded with `seeds`, into the kept adjoint buffer
    /// ([`Tape::adjoints_into`]).
    #[track_caller]
    fn sweep(&mut self, seeds: &[(Var<T>, T)]) -> &Adjoints<T> {
        let (tape, adjoints) = self.parts_mut();
        tape.adjoints_into(seeds, adjoints);
        adjoints
    }

    /// [`Spare::sweep`] seeded with one output's adjoint 1: its gradient.
    #[track_caller]
    fn gradient_of(&mut self, y: Var<T>) -> &Adjoints<T> {
        self.sweep(&[(y, T::one())])
    }

    fn parts_mut(&mut self) -> (&mut Tape<T>, &mut Adjoints<T>) {
        // `Some` from `take` until `drop`.
        let (tape, adjoints) = self
            .0
            .as_mut()
            .expect("a spare tape is present until dropped");
        (tape, adjoints)
    }
}

impl<T: TapeScalar> Deref for Spare<T> {
    type Target = Tape<T>;
    fn deref(&self) -> &Tape<T> {
        // `Some` from `take` until `drop`.
        &self
            .0
            .as_ref()
            .expect("a spare tape is present until dropped")
            .0
    }
}

impl<T: TapeScalar> DerefMut for Spare<T> {
    fn deref_mut(&mut self) -> &mut Tape<T> {
        self.parts_mut().0
    }
}

impl<T: TapeScalar> Drop for Spare<T> {
    fn drop(&mut self) {
        if let Some((tape, adjoints)) = self.0.take() {
            if tape.stats().capacity_bytes + adjoints.capacity_bytes() <= SPARE_TAPE_BYTES {
                // At thread exit the slot may be gone: the buffers are then freed here.
                let _ = T::spare_slot().try_with(|slot| slot.set(Some((tape, adjoints))));
            }
        }
    }
}

/// Records `f` at `x` on this thread's spare tape: returns the tape, the input variables
/// and `f`'s result.
fn record<T: TapeScalar, R>(x: &[T], f: impl FnOnce(&[Var<T>]) -> R) -> (Spare<T>, Vec<Var<T>>, R) {
    let mut tape = Spare::take();
    let (xs, out) = tape.record(|rec| {
        let xs = rec.inputs(x);
        let out = f(&xs);
        (xs, out)
    });
    (tape, xs, out)
}

/// The gradient of a scalar function at `x`.
///
/// ```
/// use retrograd::prelude::*;
/// let g = retrograd::grad(|x| x[0] * x[1].exp(), &[2.0, 0.0]);
/// assert_eq!(g, vec![1.0, 2.0]);
/// ```
pub fn grad<F>(f: F, x: &[f64]) -> Vec<f64>
where
    F: FnOnce(&[Var]) -> Var,
{
    value_and_grad(f, x).1
}

/// The value and the gradient of a scalar function at `x`, from one recording and one sweep.
///
/// ```
/// use retrograd::prelude::*;
/// let (v, g) = retrograd::value_and_grad(|x| x[0].powi(3), &[2.0]);
/// assert_eq!((v, g), (8.0, vec![12.0]));
/// ```
pub fn value_and_grad<F>(f: F, x: &[f64]) -> (f64, Vec<f64>)
where
    F: FnOnce(&[Var]) -> Var,
{
    let (mut tape, xs, y) = record(x, f);
    (y.value(), tape.gradient_of(y).wrt_all(&xs))
}

/// The outputs of a vector function and the vector-Jacobian product `vᵀ·J` at `x`.
///
/// ```
/// let (y, vj) = retrograd::vjp(|x| vec![x[0] * x[1], x[0] + x[1]], &[2.0, 3.0], &[1.0, 10.0]).unwrap();
/// assert_eq!(y, vec![6.0, 5.0]);
/// assert_eq!(vj, vec![3.0 + 10.0, 2.0 + 10.0]);
/// ```
pub fn vjp<F>(f: F, x: &[f64], v: &[f64]) -> Result<(Vec<f64>, Vec<f64>), Error>
where
    F: FnOnce(&[Var]) -> Vec<Var>,
{
    let (mut tape, xs, ys) = record(x, f);
    check_len(
        || "vjp: the output seed (one value per output)".into(),
        ys.len(),
        v.len(),
    )?;
    let seeds: Vec<(Var, f64)> = ys.iter().copied().zip(v.iter().copied()).collect();
    let vj = tape.sweep(&seeds).wrt_all(&xs);
    Ok((ys.iter().map(|y| y.value()).collect(), vj))
}

/// How [`jacobian_with`] sweeps the recorded tape.
///
/// ```
/// use retrograd::JacobianMode;
/// let j = retrograd::jacobian_with(|x| vec![x[0] * x[1]], &[2.0, 3.0], JacobianMode::Forward).unwrap();
/// assert_eq!(j, vec![vec![3.0, 2.0]]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum JacobianMode {
    /// Forward sweeps when there are fewer inputs than outputs, reverse sweeps otherwise.
    #[default]
    Auto,
    /// One forward (tangent) sweep per input: a column of the Jacobian each.
    Forward,
    /// One reverse (adjoint) sweep per output: a row of the Jacobian each.
    Reverse,
}

/// The Jacobian `J[i][j] = ∂yᵢ/∂xⱼ` of a vector function at `x`, recorded once and swept
/// in the cheaper direction: `min(inputs, outputs)` sweeps.
///
/// ```
/// use retrograd::prelude::*;
/// let j = retrograd::jacobian(|x| vec![x[0].sin(), x[0] * x[1]], &[0.0, 2.0]).unwrap();
/// assert_eq!(j, vec![vec![1.0, 0.0], vec![2.0, 0.0]]);
/// ```
pub fn jacobian<F>(f: F, x: &[f64]) -> Result<Vec<Vec<f64>>, Error>
where
    F: FnOnce(&[Var]) -> Vec<Var>,
{
    jacobian_with(f, x, JacobianMode::Auto)
}

/// [`jacobian`] with the sweep direction chosen by the caller. Forward sweeps fail if the
/// function records a custom operation that supports reverse mode only.
///
/// ```
/// use retrograd::{JacobianMode, prelude::*};
/// let f = |x: &[Var]| vec![x[0] * x[1], x[1].exp()];
/// let fwd = retrograd::jacobian_with(f, &[1.0, 0.0], JacobianMode::Forward).unwrap();
/// let rev = retrograd::jacobian_with(f, &[1.0, 0.0], JacobianMode::Reverse).unwrap();
/// assert_eq!(fwd, rev);
/// ```
pub fn jacobian_with<F>(f: F, x: &[f64], mode: JacobianMode) -> Result<Vec<Vec<f64>>, Error>
where
    F: FnOnce(&[Var]) -> Vec<Var>,
{
    let (mut tape, xs, ys) = record(x, f);
    let forward = match mode {
        JacobianMode::Auto => xs.len() < ys.len(),
        JacobianMode::Forward => true,
        JacobianMode::Reverse => false,
    };
    let mut jac = vec![vec![0.0; xs.len()]; ys.len()];
    if forward {
        for (j, &xj) in xs.iter().enumerate() {
            let tangents = tape.tangents(&[(xj, 1.0)])?;
            for (row, &y) in jac.iter_mut().zip(&ys) {
                row[j] = tangents.wrt(y);
            }
        }
    } else {
        for (row, &y) in jac.iter_mut().zip(&ys) {
            let adj = tape.gradient_of(y);
            for (r, &x) in row.iter_mut().zip(&xs) {
                *r = adj.wrt(x);
            }
        }
    }
    Ok(jac)
}

/// The Hessian-vector product `H·v` of a scalar function at `x`, by forward-over-reverse:
/// the function is recorded on [`Dual`] numbers whose tangent is `v`, and one reverse
/// sweep gives the gradient (values) and `H·v` (tangents). Returns `(gradient, H·v)`.
///
/// ```
/// use retrograd::prelude::*;
/// // f = x²y: H = [[2y, 2x], [2x, 0]]
/// let (g, hv) = retrograd::hvp(|x| x[0] * x[0] * x[1], &[1.0, 3.0], &[1.0, 0.0]).unwrap();
/// assert_eq!(g, vec![6.0, 1.0]);
/// assert_eq!(hv, vec![6.0, 2.0]);
/// ```
pub fn hvp<F>(f: F, x: &[f64], v: &[f64]) -> Result<(Vec<f64>, Vec<f64>), Error>
where
    F: FnOnce(&[Var<Dual>]) -> Var<Dual>,
{
    check_len(
        || "hvp: the direction (one value per input)".into(),
        x.len(),
        v.len(),
    )?;
    let seeded: Vec<Dual> = x
        .iter()
        .zip(v)
        .map(|(&xi, &vi)| Dual::new(xi, [vi]))
        .collect();
    let (mut tape, xs, y) = record(&seeded, f);
    let adj = tape.gradient_of(y);
    Ok(xs
        .iter()
        .map(|&xi| {
            let a = adj.wrt(xi);
            (a.value, a.tangent[0])
        })
        .unzip())
}

/// The Hessian of a scalar function at `x`, by forward-over-reverse: one recording and one
/// reverse sweep per input, each giving a row. The closure runs once per input.
///
/// ```
/// use retrograd::prelude::*;
/// let h = retrograd::hessian(|x| x[0].powi(2) * x[1] + x[1].sin(), &[1.0, 0.0]);
/// assert_eq!(h, vec![vec![0.0, 2.0], vec![2.0, 0.0]]);
/// ```
pub fn hessian<F>(f: F, x: &[f64]) -> Vec<Vec<f64>>
where
    F: Fn(&[Var<Dual>]) -> Var<Dual>,
{
    let mut tape = Spare::<Dual>::take();
    (0..x.len())
        .map(|i| {
            tape.clear();
            let (xs, y) = tape.record(|rec| {
                let seeded: Vec<Dual> = x
                    .iter()
                    .enumerate()
                    .map(|(j, &xj)| Dual::new(xj, [f64::from(i == j)]))
                    .collect();
                let xs = rec.inputs(&seeded);
                let y = f(&xs);
                (xs, y)
            });
            let adj = tape.gradient_of(y);
            xs.iter().map(|&xj| adj.wrt(xj).tangent[0]).collect()
        })
        .collect()
}
