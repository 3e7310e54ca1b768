//! The `retrograd` command line: its subcommands as a library, so that they can be tested
//! and reused; `main.rs` only parses arguments and reports errors.
//!
//! - [`formula`]: parse and evaluate formulas such as `sin(x)*y^2 + atan2(y, x)`.

pub mod formula;
