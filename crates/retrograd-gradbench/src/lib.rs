//! A [GradBench](https://github.com/gradbench/gradbench) tool for retrograd.
//!
//! The binary speaks the GradBench protocol on stdin/stdout ([`protocol`]) and implements
//! every eval of the benchmark in [`evals`], each function written after the eval's
//! definition and differentiated with retrograd, in one of two [`evals::Style`]s: tuned
//! for the benchmark, or straightforward (the definition differentiated the plain way).

// The evals follow their reference implementations' index-based loops, which keeps
// them easy to check against the definitions.
#![allow(clippy::needless_range_loop)]

pub mod evals;
pub mod gd;
pub mod json;
pub mod nested;
pub mod protocol;
pub mod runs;
