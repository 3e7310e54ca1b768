//! # retrograd
//!
//! Reverse-mode automatic differentiation for Rust.
//!
//! - [`Var`] and [`Tape`]: an operator-overloading tape for plain numerical code. Write a
//!   function once against [`Real`] (or `num_traits::Float`) and get its gradient,
//!   Jacobian or Hessian.
//! - [`Dual`]: forward-mode numbers with one or several tangent directions.
//! - [`checkpoint`]: differentiating long loops in bounded memory.
//! - [`replay`]: record a function once, then evaluate and differentiate it at new inputs
//!   without running it again.
//! - [`ode`]: ODE solvers and the gradients of their solutions (forward sensitivities,
//!   discrete and continuous adjoints).
//! - [`hyper`]: functional optimisers and hypergradients through unrolled training.
//! - [`implicit`]: derivatives of solutions (roots, argmins) by the implicit function
//!   theorem, with CG and GMRES.
//! - [`tensor`]: tensors with define-by-run autograd, for models.
//! - [`finance`]: option Greeks (Black–Scholes, Monte Carlo basket) by adjoints.
//! - [`integrations`]: `argmin` solvers and `nalgebra` matrices on retrograd numbers
//!   (cargo features `argmin` and `nalgebra`).
//!
//! ```
//! use retrograd::prelude::*;
//! let g = retrograd::grad(|x| x[0].sin() * x[1] * x[1], &[1.0, 2.0]);
//! assert!((g[0] - 4.0 * 1.0_f64.cos()).abs() < 1e-12);
//! assert!((g[1] - 4.0 * 1.0_f64.sin()).abs() < 1e-12);
//! ```

#![warn(missing_docs)]

mod error;
pub mod finance;
pub mod forward;
pub mod gradcheck;
pub mod hyper;
pub mod implicit;
pub mod integrations;
pub mod ode;
mod real;
pub mod replay;
pub mod scalar;
pub mod tensor;

pub use error::Error;
pub use forward::{jvp, Dual};
pub use real::Real;
pub use scalar::api::{
    grad, hessian, hvp, jacobian, jacobian_with, value_and_grad, vjp, JacobianMode,
    SPARE_TAPE_BYTES,
};
pub use scalar::checkpoint;
pub use scalar::custom::{custom_op, custom_vjp};
pub use scalar::slice::{dot, norm, preaccumulate, sum, sum_map, sum_map_chunks, weighted_sum};
pub use scalar::tape::{Adjoints, Mark, Recorder, Tape, TapeScalar, TapeStats};
pub use scalar::var::Var;

/// The traits and types most code needs: `use retrograd::prelude::*;`.
pub mod prelude {
    pub use crate::{Dual, Real, Var};
    pub use num_traits::{Float, FloatConst, One, Zero};
}

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
