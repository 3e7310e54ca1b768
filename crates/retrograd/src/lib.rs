//! # retrograd
//!
//! Reverse-mode automatic differentiation for Rust.
//!
//! - [`Var`] and [`Tape`]: an operator-overloading tape for plain numerical code. Write a
//!   function once against [`Real`] (or `num_traits::Float`) and get its gradient,
//!   Jacobian or Hessian.
//! - [`Dual`]: forward-mode numbers with one or several tangent directions.
//!
//! ```
//! let g = retrograd::grad(|x| x[0].sin() * x[1] * x[1], &[1.0, 2.0]);
//! assert!((g[0] - 4.0 * 1.0_f64.cos()).abs() < 1e-12);
//! assert!((g[1] - 4.0 * 1.0_f64.sin()).abs() < 1e-12);
//! ```

pub mod forward;
mod real;
pub mod tensor;

pub use forward::Dual;
pub use real::Real;
