//! Forward-mode automatic differentiation with dual numbers.
//!
//! A [`Dual<T, N>`](Dual) carries a value and `N` tangents; every operation applies the
//! chain rule to the tangents as it computes the value. One evaluation gives `N`
//! directional derivatives, so forward mode suits functions with few inputs (or one
//! direction of interest: a Jacobian-vector product, see [`jvp`]).
//!
//! `Dual` implements `num_traits::Float` and [`Real`](crate::Real), so generic numeric
//! code runs on it unchanged, and duals nest: `Dual<Dual<f64>>` gives second derivatives.
//!
//! ```
//! use retrograd::forward::{derivative, Dual};
//! use num_traits::Float;
//!
//! fn f<T: Float>(x: T) -> T {
//!     x.powi(3) - x.sin()
//! }
//! // f'(x) = 3x² − cos x
//! assert!((derivative(f, 2.0) - (12.0 - 2.0_f64.cos())).abs() < 1e-12);
//!
//! // Second derivative by nesting: f''(x) = 6x + sin x
//! let x = Dual::new(Dual::<f64>::variable(2.0, 0), [Dual::constant(1.0)]);
//! let second = f(x).tangent[0].tangent[0];
//! assert!((second - (12.0 + 2.0_f64.sin())).abs() < 1e-12);
//! ```
//!
//! # Derivative conventions
//!
//! Where a function has a kink, a jump or a domain edge, the derivative is defined by the
//! convention below (the reverse-mode `Var` follows the same ones). Everywhere else it is
//! the ordinary derivative.
//!
//! | function                           | where                        | derivative used                      |
//! |------------------------------------|------------------------------|--------------------------------------|
//! | `abs`                              | `x = 0`                      | `0`                                  |
//! | `signum`, `floor`, `ceil`, `round`, `trunc` | everywhere          | `0`                                  |
//! | `fract`                            | everywhere                   | `1`                                  |
//! | `sqrt`, `cbrt`                     | `x = ±0`                     | `+∞` (the formula)                   |
//! | `ln`, `log2`, `log10`, `log`       | `x = ±0`                     | `+∞` (the formula `1/x` at `+0`)     |
//! | `asin`, `acos`, `acosh`, `atanh`   | the ends of the domain       | `±∞` (the formula)                   |
//! | `max(x, z)`, `min(x, z)`           | `x = z`                      | `0.5` to each argument               |
//! | `max(x, z)`, `min(x, z)`           | one argument NaN             | all to the one `f64::max`/`min` returns |
//! | `clamp(x, lo, hi)`                 | `x = lo` or `x = hi`         | to `x` (to the bound only outside)   |
//! | `abs_sub(x, z)` = `max(x − z, 0)`  | `x = z`                      | `0.5` to `x`, `−0.5` to `z`          |
//! | `hypot(x, z)`, `atan2(y, x)`       | the origin                   | `0` to both arguments                |
//! | `powf(x, p)`, `∂/∂x = p·x^(p−1)`   | `x = p = 0`                  | `0`                                  |
//! | `powf(x, p)`, `∂/∂p = x^p·ln x`    | where `x^p == 0`             | `0`                                  |
//! | `powi(x, 0)`                       | every `x`, `0` included      | `0`                                  |
//! | `x % z`                            | between the jumps            | `1` to `x`, `−trunc(x/z)` to `z`     |
//! | `copysign(x, s)`                   | everywhere                   | `±1` to `x` (the sign applied), `0` to `s` |
//! | all but `+`, `−`, `max`, `min`     | a NaN value; a NaN argument of a one-argument function | NaN (NaN in, NaN out) |
//!
//! Two more rules keep tangents clean:
//! - A zero tangent stays exactly zero: a direction an input does not depend on is never
//!   polluted by an infinite local derivative (`√x + y` at `x = 0` has `∂/∂y = 1`, not NaN).
//! - Comparisons (`==`, `<`, `max`'s choice, ...) look at values only, so branches in user
//!   code go the same way as on plain numbers.

mod dual;
mod float;
mod ops;

#[cfg(test)]
mod tests;

pub use dual::Dual;

/// The Jacobian-vector product of `f` at `x` along `v`: returns `(f(x), J(x)·v)`.
///
/// One forward evaluation of `f` on duals, whatever the number of inputs and outputs.
/// Fails if `x` and `v` have different lengths.
///
/// ```
/// use retrograd::forward::jvp;
/// // f(x, y) = (x·y, x + y); J = [[y, x], [1, 1]]
/// let (y, jv) = jvp(|x| vec![x[0] * x[1], x[0] + x[1]], &[2.0, 3.0], &[1.0, 10.0]).unwrap();
/// assert_eq!(y, vec![6.0, 5.0]);
/// assert_eq!(jv, vec![3.0 + 20.0, 11.0]);
/// assert!(jvp(|x| x.to_vec(), &[1.0], &[1.0, 2.0]).is_err());
/// ```
pub fn jvp<F>(f: F, x: &[f64], v: &[f64]) -> Result<(Vec<f64>, Vec<f64>), crate::Error>
where
    F: FnOnce(&[Dual]) -> Vec<Dual>,
{
    crate::error::check_len(
        || "jvp: the direction (one value per input)".into(),
        x.len(),
        v.len(),
    )?;
    let inputs: Vec<Dual> = x.iter().zip(v).map(|(&x, &v)| Dual::new(x, [v])).collect();
    Ok(f(&inputs).iter().map(|y| (y.value, y.tangent[0])).unzip())
}

/// The derivative of a scalar function `f` at `x`, by one forward evaluation.
///
/// ```
/// use retrograd::forward::derivative;
/// use num_traits::Float;
/// let d = derivative(|x| x.exp() * x, 1.0); // (1 + x) eˣ
/// assert!((d - 2.0 * 1.0_f64.exp()).abs() < 1e-12);
/// ```
pub fn derivative<F>(f: F, x: f64) -> f64
where
    F: FnOnce(Dual) -> Dual,
{
    f(Dual::variable(x, 0)).tangent[0]
}
