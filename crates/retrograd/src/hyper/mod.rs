//! Differentiating through training: hypergradients of a validation loss with respect to
//! the hyperparameters of the optimiser that trained the model.
//!
//! - [`optim`]: functional optimiser steps ([`Sgd`], [`Adam`]) as pure functions of
//!   (parameters, state, gradients, hyperparameters), generic over [`Real`](crate::Real).
//! - [`unroll`]: `K` steps of such an optimiser on an [`InnerProblem`], differentiated in
//!   reverse mode with checkpointing ([`Unroll::hypergradient`]) or in forward mode
//!   ([`Unroll::hypergradient_forward`]), as in Maclaurin et al. (2015) and Franceschi et
//!   al. (2017), and PyTorch's `higher`/torchopt.
//!
//! ```
//! use retrograd::hyper::{InnerProblem, Sgd, Unroll};
//! use retrograd::Real;
//! /// Training loss ½(w − 3)², validation loss (w − 2)²: the best run stops at w = 2.
//! struct Quadratic;
//! impl InnerProblem for Quadratic {
//!     fn training_gradient<T: Real>(&self, _t: usize, w: &[T]) -> Vec<T> {
//!         vec![w[0] - T::from_f64(3.0)]
//!     }
//!     fn validation_loss<T: Real>(&self, w: &[T]) -> T {
//!         (w[0] - T::from_f64(2.0)).powi(2)
//!     }
//! }
//! let unroll = Unroll::new(&Quadratic, Sgd { momentum: 0.5, nesterov: false }, &[1], 20).unwrap();
//! let mut hyper = vec![0.01_f64.ln(), -20.0];
//! let before = unroll.validation_loss(&[0.0], &hyper).unwrap();
//! for _ in 0..50 {
//!     let g = unroll.hypergradient(&[0.0], &hyper, 5).unwrap();
//!     hyper[0] -= 0.1 * g.hypergradient[0].signum();
//! }
//! assert!(unroll.validation_loss(&[0.0], &hyper).unwrap() < 1e-2 * before);
//! ```

pub mod optim;
pub mod unroll;

pub use optim::{Adam, FunctionalOptimizer, Sgd, StepHyper};
pub use unroll::{Hypergradient, InnerProblem, Unroll};
