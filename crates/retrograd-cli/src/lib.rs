//! The `retrograd` command line: its subcommands as a library, so that they can be tested
//! and reused; `main.rs` only parses arguments and reports errors.
//!
//! - [`grad`]: `retrograd grad FORMULA --at x=1,y=2`, the value, gradient and Hessian of a
//!   formula at a point.
//! - [`formula`]: parse and evaluate formulas such as `sin(x)*y^2 + atan2(y, x)`.
//! - [`error`]: the one error type, [`CliError`].

#![warn(missing_docs)]

pub mod error;
pub mod formula;
pub mod grad;

pub use error::CliError;
