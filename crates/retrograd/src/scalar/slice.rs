//! Statement-level recording: helpers that record a whole sum, dot product, linear form or
//! small function as one tape statement, instead of one statement per elementary operation.
//!
//! Generic code on `Var` records every operator separately (Rust has no overloadable
//! assignment to close an expression). These helpers compute local derivatives first —
//! by hand for sums and dot products, with forward-mode [`Dual`] numbers for a user's
//! function — and record one operand per input: the tape gets smaller and the reverse
//! sweep shorter.

use super::tape::{TapeCore, TapeScalar};
use super::var::Var;
use crate::Dual;

/// Builds one statement: `fill` pushes its operands (skipping constants) and returns the
/// value; the result is a constant when no operand is active.
#[track_caller]
fn statement<T: TapeScalar>(
    tape: Option<&mut TapeCore<T>>,
    operands: usize,
    fill: impl FnOnce(Option<&mut TapeCore<T>>) -> T,
) -> Var<T> {
    match tape {
        None => Var::constant(fill(None)),
        Some(tape) => {
            tape.reserve(operands);
            let value = fill(Some(&mut *tape));
            let i = tape.end_statement();
            Var::from_parts(value, i, tape.id())
        }
    }
}

/// [`statement`] with one operand per element of `xs` (before constants are skipped).
#[track_caller]
fn statement_over<T: TapeScalar>(
    xs: &[Var<T>],
    fill: impl FnOnce(Option<&mut TapeCore<T>>) -> T,
) -> Var<T> {
    statement(TapeCore::for_operands(xs.iter().copied()), xs.len(), fill)
}

#[inline(always)]
fn operand<T: TapeScalar>(tape: &mut Option<&mut TapeCore<T>>, x: Var<T>, partial: T) {
    if let Some(t) = tape {
        if !x.is_constant() {
            t.push_operand(x.scale().chain(partial), x.index());
        }
    }
}

/// `Σ xᵢ`, recorded as one statement with one operand per active term.
///
/// ```
/// let g = retrograd::grad(|x| retrograd::sum(x), &[1.0, 2.0, 3.0]);
/// assert_eq!(g, vec![1.0; 3]);
/// ```
#[track_caller]
pub fn sum<T: TapeScalar>(xs: &[Var<T>]) -> Var<T> {
    statement_over(xs, |mut tape| {
        let mut total = T::zero();
        for &x in xs {
            total += x.value();
            operand(&mut tape, x, T::one());
        }
        total
    })
}

/// `Σ aᵢ·bᵢ`, recorded as one statement.
///
/// Panics if the lengths differ.
///
/// ```
/// let g = retrograd::grad(|x| retrograd::dot(&x[..2], &x[2..]), &[1.0, 2.0, 3.0, 4.0]);
/// assert_eq!(g, vec![3.0, 4.0, 1.0, 2.0]);
/// ```
#[track_caller]
pub fn dot<T: TapeScalar>(a: &[Var<T>], b: &[Var<T>]) -> Var<T> {
    assert_eq!(
        a.len(),
        b.len(),
        "retrograd::dot: the slices have lengths {} and {}",
        a.len(),
        b.len()
    );
    statement(
        TapeCore::for_operands(a.iter().chain(b).copied()),
        2 * a.len(),
        |mut tape| {
            let mut total = T::zero();
            for (&x, &y) in a.iter().zip(b) {
                total += x.value() * y.value();
                operand(&mut tape, x, y.value());
                operand(&mut tape, y, x.value());
            }
            total
        },
    )
}

/// `Σ wᵢ·xᵢ` with constant weights `w` (a linear form: a dot product where one side is
/// data), recorded as one statement with one operand per active `xᵢ`, of partial `wᵢ`.
/// Cheaper to record than [`dot`] with constant `Var`s on one side, which checks and skips
/// every constant.
///
/// Panics if the lengths differ.
///
/// ```
/// let g = retrograd::grad(|x| retrograd::weighted_sum(&[2.0, -1.0], x), &[5.0, 7.0]);
/// assert_eq!(g, vec![2.0, -1.0]);
/// ```
#[track_caller]
pub fn weighted_sum<T: TapeScalar>(weights: &[T], xs: &[Var<T>]) -> Var<T> {
    assert_eq!(
        weights.len(),
        xs.len(),
        "retrograd::weighted_sum: {} weights for {} variables",
        weights.len(),
        xs.len()
    );
    statement_over(xs, |mut tape| {
        let mut total = T::zero();
        for (&w, &x) in weights.iter().zip(xs) {
            total += w * x.value();
            operand(&mut tape, x, w);
        }
        total
    })
}

/// The Euclidean norm `√(Σ xᵢ²)`, recorded as one statement. Its gradient at the zero
/// vector is taken as zero (a subgradient), not NaN.
///
/// ```
/// let g = retrograd::grad(|x| retrograd::norm(x), &[3.0, 4.0]);
/// assert_eq!(g, vec![0.6, 0.8]);
/// let g0 = retrograd::grad(|x| retrograd::norm(x), &[0.0, 0.0]);
/// assert_eq!(g0, vec![0.0, 0.0]);
/// ```
#[track_caller]
pub fn norm<T: TapeScalar>(xs: &[Var<T>]) -> Var<T> {
    let n = xs
        .iter()
        .map(|x| x.value() * x.value())
        .fold(T::zero(), |a, b| a + b)
        .sqrt();
    statement_over(xs, |mut tape| {
        for &x in xs {
            let d = if n.is_zero() {
                T::zero()
            } else {
                x.value() / n
            };
            operand(&mut tape, x, d);
        }
        n
    })
}

/// `Σ f(xᵢ)` for a scalar function `f`, recorded as one statement with one operand per
/// element: `f` runs on forward-mode [`Dual`] numbers, which give each local derivative.
///
/// ```
/// use retrograd::prelude::*;
/// let x = [0.5, 1.0, 2.0];
/// let g = retrograd::grad(|x| retrograd::sum_map(x, |v| v.sin() * v * v + (-v).exp()), &x);
/// for (gi, xi) in g.iter().zip(x) {
///     let expected = xi.cos() * xi * xi + 2.0 * xi * xi.sin() - (-xi).exp();
///     assert!((gi - expected).abs() < 1e-14);
/// }
/// ```
#[track_caller]
pub fn sum_map<T, F>(xs: &[Var<T>], f: F) -> Var<T>
where
    T: TapeScalar,
    F: Fn(Dual<T>) -> Dual<T>,
{
    statement_over(xs, |mut tape| {
        let mut total = T::zero();
        for &x in xs {
            let y = f(Dual::variable(x.value(), 0));
            total += y.value;
            operand(&mut tape, x, y.tangent[0]);
        }
        total
    })
}

/// `Σ f(chunk)` over consecutive chunks of `K` elements, recorded as one statement with
/// one operand per element; `f` runs on [`Dual`] numbers with `K` tangents.
///
/// Panics if the length is not a multiple of `K`.
///
/// ```
/// // The extended Rosenbrock function, Σ 100 (x₂ⱼ₊₁ − x₂ⱼ²)² + (1 − x₂ⱼ)².
/// let g = retrograd::grad(
///     |x| retrograd::sum_map_chunks(x, |[a, b]| {
///         let t = b - a * a;
///         let u = 1.0 - a;
///         100.0 * t * t + u * u
///     }),
///     &[1.0, 1.0, 0.0, 0.0],
/// );
/// assert_eq!(g, vec![0.0, 0.0, -2.0, 0.0]);
/// ```
#[track_caller]
pub fn sum_map_chunks<T, F, const K: usize>(xs: &[Var<T>], f: F) -> Var<T>
where
    T: TapeScalar,
    F: Fn([Dual<T, K>; K]) -> Dual<T, K>,
{
    assert!(
        K > 0 && xs.len() % K == 0,
        "retrograd::sum_map_chunks: length {} is not a multiple of the chunk size {K}",
        xs.len()
    );
    statement_over(xs, |mut tape| {
        let mut total = T::zero();
        for chunk in xs.chunks_exact(K) {
            let args: [Dual<T, K>; K] =
                std::array::from_fn(|i| Dual::variable(chunk[i].value(), i));
            let y = f(args);
            total += y.value;
            for (&x, &d) in chunk.iter().zip(&y.tangent) {
                operand(&mut tape, x, d);
            }
        }
        total
    })
}

/// Preaccumulation: evaluates `f` on `N` inputs with forward-mode [`Dual`] numbers and
/// records each of its `M` outputs as one statement holding its `N` partial derivatives,
/// however many operations `f` performs. Worth it when `f` does much work on few inputs.
///
/// ```
/// use retrograd::prelude::*;
/// let g = retrograd::grad(|x| {
///     let [s] = retrograd::preaccumulate([x[0], x[1]], |[a, b]| {
///         let mut s = a;
///         for _ in 0..10 { s = (s * b).sin() + a; }
///         [s]
///     });
///     s
/// }, &[0.3, 0.7]);
/// let fd = retrograd::gradcheck::finite_difference(|x: &[f64]| {
///     let mut s = x[0];
///     for _ in 0..10 { s = (s * x[1]).sin() + x[0]; }
///     s
/// }, &[0.3, 0.7]);
/// assert!((g[0] - fd[0]).abs() < 1e-7 && (g[1] - fd[1]).abs() < 1e-7);
/// ```
#[track_caller]
pub fn preaccumulate<T, F, const N: usize, const M: usize>(inputs: [Var<T>; N], f: F) -> [Var<T>; M]
where
    T: TapeScalar,
    F: FnOnce([Dual<T, N>; N]) -> [Dual<T, N>; M],
{
    let args: [Dual<T, N>; N] = std::array::from_fn(|i| Dual::variable(inputs[i].value(), i));
    let mut tape = TapeCore::for_operands(inputs.iter().copied());
    f(args).map(|y| {
        statement(tape.as_deref_mut(), N, |mut tape| {
            for (&x, &d) in inputs.iter().zip(&y.tangent) {
                operand(&mut tape, x, d);
            }
            y.value
        })
    })
}
