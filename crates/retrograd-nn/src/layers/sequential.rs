//! A chain of modules applied one after the other.

use retrograd::tensor::Tensor;

use super::{prefixed, Module};
use crate::{Result, Rng};

/// Modules applied in order; parameter names are `"{index}.{name}"`.
///
/// ```
/// use retrograd::tensor::{DType, Tensor};
/// use retrograd_nn::layers::{Linear, Module, Relu, Sequential};
/// let mut rng = retrograd_nn::Rng::new(0);
/// let net = Sequential::new()
///     .add(Linear::new(4, 8, &mut rng).unwrap())
///     .add(Relu)
///     .add(Linear::new(8, 2, &mut rng).unwrap());
/// assert_eq!(net.forward(&Tensor::ones([3, 4], DType::F32)).unwrap().dims(), &[3, 2]);
/// let names: Vec<String> = net.parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// An empty chain (the identity).
    ///
    /// ```
    /// assert!(retrograd_nn::layers::Sequential::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Sequential { layers: Vec::new() }
    }

    /// Appends a module.
    ///
    /// ```
    /// use retrograd_nn::layers::{Relu, Sequential};
    /// assert_eq!(Sequential::new().add(Relu).len(), 1);
    /// ```
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Module + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends a boxed module.
    ///
    /// ```
    /// use retrograd_nn::layers::{Relu, Sequential};
    /// let mut s = Sequential::new();
    /// s.push(Box::new(Relu));
    /// assert_eq!(s.len(), 1);
    /// ```
    pub fn push(&mut self, layer: Box<dyn Module>) {
        self.layers.push(layer);
    }

    /// The number of modules.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::layers::Sequential::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the chain is empty.
    ///
    /// ```
    /// assert!(retrograd_nn::layers::Sequential::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The modules, in order, taking the chain apart: a pipeline keeps a range of them on
    /// each process. A module's parameter names in the chain are `"{index}.{name}"`, with
    /// `index` its position in this list.
    ///
    /// ```
    /// use retrograd_nn::layers::{Linear, Module, Relu, Sequential};
    /// let mut rng = retrograd_nn::Rng::new(0);
    /// let net = Sequential::new().add(Linear::new(2, 3, &mut rng).unwrap()).add(Relu);
    /// let layers = net.into_layers();
    /// assert_eq!(layers.len(), 2);
    /// assert_eq!(layers[1].describe(), "ReLU");
    /// ```
    pub fn into_layers(self) -> Vec<Box<dyn Module>> {
        self.layers
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for layer in &self.layers {
            h = layer.forward(&h)?;
        }
        Ok(h)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            out.extend(prefixed(&i.to_string(), layer.parameters()));
        }
        out
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            out.extend(prefixed(&i.to_string(), layer.buffers()));
        }
        out
    }

    fn set_training(&mut self, training: bool) {
        for layer in &mut self.layers {
            layer.set_training(training);
        }
    }

    fn reseed(&mut self, seed: u64) {
        let mut rng = Rng::new(seed);
        for layer in &mut self.layers {
            layer.reseed(rng.next_u64());
        }
    }

    fn describe(&self) -> String {
        let inner: Vec<String> = self.layers.iter().map(|l| l.describe()).collect();
        format!("Sequential[{}]", inner.join(", "))
    }
}
