//! Scalar reverse mode: the tape, [`Var`](var::Var), and the functions built on them.
//!
//! - [`tape`]: the recording (flat arrays) and its forward and reverse sweeps.
//! - [`var`], `ops`, [`rules`]: the variable type and every operation's derivative rule.
//! - [`slice`](mod@slice): statement-level recording of sums, dot products and preaccumulated functions.
//! - [`api`]: `grad`, `jacobian`, `hessian`, ... for closures.
//! - [`custom`]: user-defined operations.
//! - [`checkpoint`]: binomial checkpointing of long loops.

pub mod api;
pub mod checkpoint;
pub mod custom;
pub(crate) mod ops;
pub mod rules;
pub mod slice;
pub mod tape;
pub mod var;
