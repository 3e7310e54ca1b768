//! Layers: the [`Module`] trait and its implementations.
//!
//! A module maps a tensor to a tensor and owns named parameters (tensors that require grad)
//! and buffers (state saved with the model but not trained, like batch-norm running
//! statistics). Parameter names are stable paths (`"0.weight"`, `"3.bias"`), the keys of
//! model files.

mod activation;
mod conv;
mod linear;
mod norm;
mod plan;
mod sequential;

pub use activation::{Dropout, Gelu, Relu, Sigmoid, Silu, Tanh};
pub use conv::{AvgPool2d, Conv2d, Flatten, MaxPool2d};
pub use linear::{Embedding, Linear};
pub use norm::{BatchNorm, LayerNorm};
pub use plan::{LayerSpec, SequentialPlan};
pub use sequential::Sequential;

use retrograd::tensor::Tensor;

use crate::Result;

/// A differentiable building block of a model.
///
/// ```
/// use retrograd::tensor::{DType, Tensor};
/// use retrograd_nn::layers::{Linear, Module};
/// use retrograd_nn::Rng;
/// let layer = Linear::new(3, 2, &mut Rng::new(0)).unwrap();
/// let y = layer.forward(&Tensor::ones([4, 3], DType::F32)).unwrap();
/// assert_eq!(y.dims(), &[4, 2]);
/// assert_eq!(layer.parameters()[0].0, "weight");
/// ```
pub trait Module: Send + Sync {
    /// Applies the module to a batch.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// The trainable tensors with their names, always in the same order.
    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Non-trainable tensors saved with the model (running statistics).
    fn buffers(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Switches between training behaviour (dropout active, batch statistics) and
    /// evaluation behaviour.
    fn set_training(&mut self, _training: bool) {}

    /// Re-seeds the module's random draws (dropout masks), for reproducible runs.
    fn reseed(&mut self, _seed: u64) {}

    /// A one-line description, like `Linear(64 → 128)`.
    fn describe(&self) -> String;
}

/// A new parameter tensor of shape `dims` holding `values`, requiring grad.
pub(crate) fn parameter(values: Vec<f32>, dims: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_vec(values, dims.to_vec())?.requires_grad_())
}

/// Prefixes each name with `prefix.`.
pub(crate) fn prefixed(prefix: &str, items: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    items
        .into_iter()
        .map(|(n, t)| (format!("{prefix}.{n}"), t))
        .collect()
}
