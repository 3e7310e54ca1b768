//! A [GradBench](https://github.com/gradbench/gradbench) tool for retrograd.
//!
//! The binary speaks the GradBench protocol on stdin/stdout ([`protocol`]) and implements
//! every eval of the benchmark in [`evals`], each function written after the eval's
//! definition and differentiated with retrograd.

pub mod evals;
pub mod gd;
pub mod json;
pub mod nested;
pub mod protocol;
pub mod runs;
