//! # retrograd-nn
//!
//! The training stack on top of retrograd's tensor autograd: data sets, layers, losses,
//! optimizers, learning-rate schedules, model files and physics-informed networks.
//!
//! ```
//! let (train, test) = retrograd_nn::data::DataSpec::Digits.load().unwrap();
//! assert_eq!(train.len() + test.len(), 1797);
//! ```

pub mod data;
mod error;
pub mod init;
pub mod io;
pub mod layers;
pub mod limits;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod pinn;
mod rng;
pub mod train;

pub use error::{NnError, Result};
pub use rng::Rng;
