//! [`argmin`](https://argmin-rs.org) solvers driven by retrograd derivatives.
//!
//! Write the objective once, generic over [`Real`], by implementing [`Objective`]; wrap it
//! in [`Differentiated`], which implements argmin's [`CostFunction`], [`Gradient`] and
//! [`Hessian`] with `Vec<f64>` parameters: the cost on `f64`, the gradient by one reverse
//! sweep, the Hessian by forward-over-reverse ([`hessian`](crate::hessian)). Any argmin
//! solver over `Vec<f64>` then runs on it: L-BFGS, BFGS, nonlinear conjugate gradients,
//! trust-region Newton (Steihaug). (argmin's plain `Newton` solver inverts the Hessian and needs
//! a matrix backend for that: its `vec` backend has no inverse.)
//!
//! ```
//! use argmin::core::{Executor, State};
//! use argmin::solver::{linesearch::MoreThuenteLineSearch, quasinewton::LBFGS};
//! use retrograd::integrations::argmin::{Differentiated, Objective};
//! use retrograd::Real;
//!
//! struct Rosenbrock;
//! impl Objective for Rosenbrock {
//!     fn value<T: Real>(&self, x: &[T]) -> T {
//!         let (a, b) = (T::one() - x[0], x[1] - x[0] * x[0]);
//!         a * a + T::from_f64(100.0) * b * b
//!     }
//! }
//!
//! let solver = LBFGS::new(MoreThuenteLineSearch::new(), 7);
//! let result = Executor::new(Differentiated(Rosenbrock), solver)
//!     .configure(|state| state.param(vec![-1.2, 1.0]).max_iters(100))
//!     .run()?;
//! let best = result.state().get_best_param().unwrap();
//! assert!((best[0] - 1.0).abs() < 1e-6 && (best[1] - 1.0).abs() < 1e-6);
//! # Ok::<(), argmin::core::Error>(())
//! ```

use crate::{Dual, Error, Real, Var};
use ::argmin::core::{CostFunction, Gradient, Hessian};

/// A scalar objective written once for every [`Real`] type: it is evaluated on `f64` for
/// the cost, on [`Var`] for the gradient and on `Var<Dual>` for the Hessian.
///
/// ```
/// use retrograd::{integrations::argmin::Objective, Real};
/// struct Sphere;
/// impl Objective for Sphere {
///     fn value<T: Real>(&self, x: &[T]) -> T {
///         x.iter().fold(T::zero(), |s, &xi| s + xi * xi)
///     }
/// }
/// assert_eq!(Sphere.value(&[3.0, 4.0]), 25.0);
/// ```
pub trait Objective {
    /// The objective at `x`.
    fn value<T: Real>(&self, x: &[T]) -> T;
}

/// An [`Objective`] as an argmin problem: implements [`CostFunction`], [`Gradient`] and
/// [`Hessian`] over `Vec<f64>` by automatic differentiation. A non-finite cost, gradient
/// or Hessian entry is returned as an error naming it, which stops the solver.
///
/// ```
/// use argmin::core::Gradient;
/// use retrograd::{integrations::argmin::{Differentiated, Objective}, Real};
/// struct Product;
/// impl Objective for Product {
///     fn value<T: Real>(&self, x: &[T]) -> T { x[0] * x[1] }
/// }
/// assert_eq!(Differentiated(Product).gradient(&vec![2.0, 3.0]).unwrap(), vec![3.0, 2.0]);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Differentiated<O>(pub O);

/// Fails with [`Error::InvalidInput`] naming `what` and the first non-finite entry.
fn check_finite<'a>(what: &str, values: impl IntoIterator<Item = &'a f64>) -> Result<(), Error> {
    match values.into_iter().enumerate().find(|(_, v)| !v.is_finite()) {
        None => Ok(()),
        Some((i, v)) => Err(Error::InvalidInput(format!(
            "the objective's {what} has the non-finite entry {v} at position {i}"
        ))),
    }
}

impl<O: Objective> CostFunction for Differentiated<O> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, x: &Vec<f64>) -> Result<f64, ::argmin::core::Error> {
        check_finite("argument", x)?;
        let cost = self.0.value(x);
        check_finite("value", [&cost])?;
        Ok(cost)
    }
}

impl<O: Objective> Gradient for Differentiated<O> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, x: &Vec<f64>) -> Result<Vec<f64>, ::argmin::core::Error> {
        check_finite("argument", x)?;
        let g = crate::grad(|v: &[Var]| self.0.value(v), x);
        check_finite("gradient", &g)?;
        Ok(g)
    }
}

impl<O: Objective> Hessian for Differentiated<O> {
    type Param = Vec<f64>;
    type Hessian = Vec<Vec<f64>>;

    fn hessian(&self, x: &Vec<f64>) -> Result<Vec<Vec<f64>>, ::argmin::core::Error> {
        check_finite("argument", x)?;
        let h = crate::hessian(|v: &[Var<Dual>]| self.0.value(v), x);
        check_finite("Hessian", h.iter().flatten())?;
        Ok(h)
    }
}
