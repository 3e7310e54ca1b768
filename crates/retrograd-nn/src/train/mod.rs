//! Training runs: settings, the loop, evaluation, checkpoints and resumption.

mod config;

pub use config::{ModelKind, OptimizerKind, TrainConfig};
