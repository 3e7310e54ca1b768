//! Bridges to the numerical Rust ecosystem, each behind a cargo feature so that the default
//! build stays lean:
//!
//! - feature `argmin`, module `integrations::argmin`: retrograd gradients and Hessians drive
//!   the solvers of the [`argmin`](https://argmin-rs.org) optimisation crate.
//! - feature `nalgebra`, module `integrations::nalgebra`: [`Var`](crate::Var) and
//!   [`Dual`](crate::Dual) are scalars of [`nalgebra`](https://nalgebra.rs) matrices, so
//!   linear algebra (products, LU, Cholesky, determinants) is differentiated unchanged.
//!   nalgebra 0.35 needs Rust 1.89 or later.

#[cfg(feature = "argmin")]
pub mod argmin;
#[cfg(feature = "nalgebra")]
pub mod nalgebra;
