//! Training runs: settings, the loop, evaluation, checkpoints and resumption.

mod classifier;
mod config;
mod replicas;
mod trainer;

pub use classifier::{Classifier, Evaluation};
pub use config::{ModelKind, OptimizerKind, Precision, TrainConfig, MAX_EPOCHS, MAX_WIDTH};
pub use replicas::{shard, Replicas, SingleProcess};
pub use trainer::{Observer, Silent, TrainOutcome, Trainer};
