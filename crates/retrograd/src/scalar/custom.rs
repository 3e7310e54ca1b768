//! User-defined operations: a black box (a linear solve, a call into C, a table lookup)
//! recorded as tape entries from its values and derivatives.
//!
//! Two forms, by what the user can supply:
//! - [`custom_op`]: the values and the Jacobian. Recorded as one statement per output;
//!   supports reverse and forward sweeps.
//! - [`custom_vjp`]: the values and a vector-Jacobian product closure, called during the
//!   reverse sweep. Supports reverse sweeps only (forward sweeps report an error).

use super::tape::{Callback, TapeCore, TapeScalar};
use super::var::Var;
use crate::error::{check_len, Error};

/// Records a black box with outputs `values` and Jacobian `jacobian` (row-major,
/// `values.len() × inputs.len()`, entry `[k][i] = ∂yₖ/∂xᵢ`), returning the outputs.
///
/// ```
/// use retrograd::prelude::*;
/// // y = (x0 * x1, x0 + x1), with its derivatives supplied by hand.
/// let g = retrograd::grad(|x| {
///     let (a, b) = (x[0].value(), x[1].value());
///     let y = retrograd::custom_op(x, &[a * b, a + b], &[b, a, 1.0, 1.0]).unwrap();
///     y[0] + y[1]
/// }, &[2.0, 5.0]);
/// assert_eq!(g, vec![6.0, 3.0]);
/// ```
pub fn custom_op<T: TapeScalar>(
    inputs: &[Var<T>],
    values: &[T],
    jacobian: &[T],
) -> Result<Vec<Var<T>>, Error> {
    check_len(
        || {
            format!(
                "custom_op: the Jacobian ({} outputs × {} inputs, row-major)",
                values.len(),
                inputs.len()
            )
        },
        // Saturating: a product past usize::MAX matches no slice length.
        values.len().saturating_mul(inputs.len()),
        jacobian.len(),
    )?;
    let operands: Vec<(Var<T>, T)> = Vec::with_capacity(inputs.len());
    let mut operands = operands;
    Ok(values
        .iter()
        .enumerate()
        .map(|(k, &y)| {
            operands.clear();
            operands.extend(
                inputs
                    .iter()
                    .copied()
                    .zip(jacobian[k * inputs.len()..][..inputs.len()].iter().copied()),
            );
            Var::nary(y, &operands)
        })
        .collect())
}

/// Records a black box with outputs `values` whose derivative is given as a
/// vector-Jacobian product: `vjp(output_adjoints, input_adjoints)` must add `ȳᵀ·J` into
/// `input_adjoints` (which arrives zeroed). The closure is kept on the tape and called
/// during each reverse sweep.
///
/// ```
/// use retrograd::prelude::*;
/// // y = 3·x0·x1; its vjp: x̄0 = 3·x1·ȳ, x̄1 = 3·x0·ȳ.
/// let g = retrograd::grad(|x| {
///     let (a, b) = (x[0].value(), x[1].value());
///     let y = retrograd::custom_vjp(x, &[3.0 * a * b], move |ybar, xbar| {
///         xbar[0] += 3.0 * b * ybar[0];
///         xbar[1] += 3.0 * a * ybar[0];
///     });
///     y[0].sin()
/// }, &[1.0, 2.0]);
/// assert!((g[0] - 6.0 * 6.0_f64.cos()).abs() < 1e-12);
/// ```
pub fn custom_vjp<T, F>(inputs: &[Var<T>], values: &[T], vjp: F) -> Vec<Var<T>>
where
    T: TapeScalar,
    F: Fn(&[T], &mut [T]) + 'static,
{
    let Some(tape) = TapeCore::for_operands(inputs.iter().copied()) else {
        return values.iter().map(|&v| Var::constant(v)).collect();
    };
    // A constant input gets an index that no statement has; its adjoint is discarded. A
    // derived input gets a statement of its own, so the product returns to it whole.
    let discard = u32::MAX;
    let input_indices: Vec<u32> = inputs
        .iter()
        .map(|&x| {
            if x.is_constant() {
                discard
            } else {
                tape.node(x).index()
            }
        })
        .collect();
    let first = tape.ends.len() as u32;
    let outputs: Vec<Var<T>> = values
        .iter()
        .map(|&v| Var::from_parts(v, tape.push([]), tape.id()))
        .collect();
    tape.callbacks.push(Callback {
        first,
        n_outputs: values.len() as u32,
        inputs: input_indices,
        vjp: Box::new(vjp),
    });
    outputs
}
