//! Implicit differentiation: the derivative of a solution defined by optimality or
//! fixed-point conditions with respect to the problem's parameters, by the implicit
//! function theorem and a matrix-free linear solve, without differentiating through the
//! solver's iterations (as JAXopt does, Blondel et al. 2022).
//!
//! - [`linsolve`]: conjugate gradients ([`cg`]) and restarted GMRES ([`gmres`]) on
//!   operators given as closures, with errors for non-convergence and singular or
//!   indefinite systems.
//! - [`ift`]: [`root_vjp`]/[`root_jvp`] for `F(x*, θ) = 0`, [`argmin_vjp`]/[`argmin_jvp`]
//!   for `x* = argmin f(·, θ)`, and [`root`]/[`argmin()`], which record `x*` on the tape of
//!   `θ` so it composes with the rest of a recorded computation.
//!
//! ```
//! use retrograd::implicit::{argmin, ArgminProblem, SolveOptions};
//! use retrograd::Real;
//! /// Ridge regression in one dimension: ½Σ(w·aᵢ − bᵢ)² + ½λw², so w* = Σaᵢbᵢ / (Σaᵢ² + λ).
//! struct Ridge;
//! impl ArgminProblem for Ridge {
//!     fn objective<T: Real>(&self, w: &[T], lambda: &[T]) -> T {
//!         let data = [(1.0, 2.0), (2.0, 3.0)];
//!         let fit: T = data.iter().map(|&(a, b)| (w[0] * T::from_f64(a) - T::from_f64(b)).powi(2)).sum();
//!         T::from_f64(0.5) * (fit + lambda[0] * w[0] * w[0])
//!     }
//! }
//! let lambda = 1.0;
//! let w = 8.0 / (5.0 + lambda); // solved in closed form here; any solver would do
//! let g = retrograd::grad(|l| argmin(&Ridge, l, &[w], SolveOptions::default()).unwrap()[0], &[lambda]);
//! assert!((g[0] + 8.0 / 36.0).abs() < 1e-12); // dw*/dλ = −8/(5 + λ)²
//! ```

pub mod ift;
pub mod linsolve;

pub use ift::{
    argmin, argmin_jvp, argmin_vjp, root, root_jvp, root_vjp, ArgminProblem, RootProblem,
};
pub use linsolve::{cg, gmres, Solution, SolveOptions};
