//! Checking derivatives against central finite differences.
//!
//! [`gradcheck`] compares the reverse-mode gradient of a function with central differences
//! of the same function evaluated on constants (a constant [`Var`] records nothing, so one
//! closure serves both).

use crate::error::Error;
use crate::{value_and_grad, Var};

/// Central finite differences of `f` at `x`, with step `h = ε^(1/3)·max(1, |xᵢ|)`.
///
/// ```
/// let g = retrograd::gradcheck::finite_difference(|x: &[f64]| x[0] * x[0], &[3.0]);
/// assert!((g[0] - 6.0).abs() < 1e-8);
/// ```
pub fn finite_difference<F>(f: F, x: &[f64]) -> Vec<f64>
where
    F: Fn(&[f64]) -> f64,
{
    let mut xs = x.to_vec();
    (0..x.len())
        .map(|i| {
            let h = f64::EPSILON.cbrt() * x[i].abs().max(1.0);
            xs[i] = x[i] + h;
            let up = f(&xs);
            xs[i] = x[i] - h;
            let down = f(&xs);
            xs[i] = x[i];
            (up - down) / (2.0 * h)
        })
        .collect()
}

/// Tolerances of [`gradcheck`]: an entry passes when
/// `|ad − fd| ≤ absolute + relative·max(|ad|, |fd|)`.
///
/// ```
/// let t = retrograd::gradcheck::Tolerance::default();
/// assert_eq!((t.absolute, t.relative), (1e-6, 1e-5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Absolute tolerance.
    pub absolute: f64,
    /// Relative tolerance.
    pub relative: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            absolute: 1e-6,
            relative: 1e-5,
        }
    }
}

/// True when `ad` and `fd` agree within `tol`; two non-finite values agree when equal
/// (both NaN, or the same infinity).
///
/// ```
/// use retrograd::gradcheck::{close, Tolerance};
/// assert!(close(1.0, 1.0 + 1e-9, Tolerance::default()));
/// assert!(close(f64::NAN, f64::NAN, Tolerance::default()));
/// assert!(!close(1.0, f64::NAN, Tolerance::default()));
/// ```
pub fn close(ad: f64, fd: f64, tol: Tolerance) -> bool {
    if !ad.is_finite() || !fd.is_finite() {
        return (ad.is_nan() && fd.is_nan()) || ad == fd;
    }
    (ad - fd).abs() <= tol.absolute + tol.relative * ad.abs().max(fd.abs())
}

/// Compares the reverse-mode gradient of `f` at `x` with central finite differences and
/// returns the gradient, or an error naming the first input where they disagree.
///
/// ```
/// use retrograd::{gradcheck::{gradcheck, Tolerance}, prelude::*};
/// let g = gradcheck(|x| x[0].atan2(x[1]) * x[1].exp(), &[0.3, -1.2], Tolerance::default()).unwrap();
/// assert_eq!(g.len(), 2);
/// ```
pub fn gradcheck<F>(f: F, x: &[f64], tol: Tolerance) -> Result<Vec<f64>, Error>
where
    F: Fn(&[Var]) -> Var,
{
    let (_, ad) = value_and_grad(&f, x);
    let fd = finite_difference(
        |p| {
            let consts: Vec<Var> = p.iter().map(|&v| Var::constant(v)).collect();
            f(&consts).value()
        },
        x,
    );
    for (i, (&a, &d)) in ad.iter().zip(&fd).enumerate() {
        if !close(a, d, tol) {
            return Err(Error::GradientMismatch(format!(
                "input {i} at x = {x:?}: reverse mode gives {a:e}, finite differences {d:e}"
            )));
        }
    }
    Ok(ad)
}
