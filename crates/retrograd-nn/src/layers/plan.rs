//! Networks described by their layers' sizes alone: the parameters a description implies
//! can be listed and checked (against a model file's arrays, against the stated limits)
//! before any of them is allocated, and the same description then builds the network.

use super::{BatchNorm, Conv2d, Flatten, Linear, MaxPool2d, Module, Relu, Sequential};
use crate::limits::MAX_PARAMETER_VALUES;
use crate::{NnError, Result, Rng};

/// One layer, by its sizes.
///
/// ```
/// use retrograd_nn::layers::LayerSpec;
/// let l = LayerSpec::Linear { in_features: 4, out_features: 2 };
/// assert_eq!(l.parameters(), vec![("weight", vec![2, 4]), ("bias", vec![2])]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerSpec {
    /// [`Flatten`].
    Flatten,
    /// [`Relu`].
    Relu,
    /// [`Linear::new`].
    Linear {
        /// Inputs.
        in_features: usize,
        /// Outputs.
        out_features: usize,
    },
    /// [`Conv2d::new`].
    Conv2d {
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
        /// Kernel size (square).
        kernel: usize,
        /// Zero padding on each side.
        padding: usize,
    },
    /// [`BatchNorm::new_2d`].
    BatchNorm2d {
        /// Channels.
        channels: usize,
    },
    /// [`MaxPool2d::new`].
    MaxPool2d {
        /// Window size and stride.
        kernel: usize,
    },
}

impl LayerSpec {
    /// The parameters the built layer has, `(name, shape)` in its order.
    ///
    /// ```
    /// use retrograd_nn::layers::LayerSpec;
    /// assert!(LayerSpec::Relu.parameters().is_empty());
    /// ```
    pub fn parameters(&self) -> Vec<(&'static str, Vec<usize>)> {
        match *self {
            LayerSpec::Linear {
                in_features,
                out_features,
            } => vec![
                ("weight", vec![out_features, in_features]),
                ("bias", vec![out_features]),
            ],
            LayerSpec::Conv2d {
                in_channels,
                out_channels,
                kernel,
                ..
            } => vec![
                ("weight", vec![out_channels, in_channels, kernel, kernel]),
                ("bias", vec![out_channels]),
            ],
            LayerSpec::BatchNorm2d { channels } => {
                vec![("weight", vec![channels]), ("bias", vec![channels])]
            }
            LayerSpec::Flatten | LayerSpec::Relu | LayerSpec::MaxPool2d { .. } => Vec::new(),
        }
    }

    /// The buffers the built layer has, `(name, shape)` in its order.
    ///
    /// ```
    /// use retrograd_nn::layers::LayerSpec;
    /// let names: Vec<_> = LayerSpec::BatchNorm2d { channels: 3 }.buffers().into_iter().map(|b| b.0).collect();
    /// assert_eq!(names, ["running_mean", "running_var"]);
    /// ```
    pub fn buffers(&self) -> Vec<(&'static str, Vec<usize>)> {
        match *self {
            LayerSpec::BatchNorm2d { channels } => vec![
                ("running_mean", vec![channels]),
                ("running_var", vec![channels]),
            ],
            _ => Vec::new(),
        }
    }

    /// Builds the layer, drawing its initial weights from `rng`.
    ///
    /// ```
    /// use retrograd_nn::layers::LayerSpec;
    /// let l = LayerSpec::Linear { in_features: 3, out_features: 2 }.build(&mut retrograd_nn::Rng::new(0)).unwrap();
    /// assert_eq!(l.describe(), "Linear(3 → 2)");
    /// ```
    pub fn build(&self, rng: &mut Rng) -> Result<Box<dyn Module>> {
        Ok(match *self {
            LayerSpec::Flatten => Box::new(Flatten),
            LayerSpec::Relu => Box::new(Relu),
            LayerSpec::Linear {
                in_features,
                out_features,
            } => Box::new(Linear::new(in_features, out_features, rng)?),
            LayerSpec::Conv2d {
                in_channels,
                out_channels,
                kernel,
                padding,
            } => Box::new(Conv2d::new(
                in_channels,
                out_channels,
                kernel,
                padding,
                rng,
            )?),
            LayerSpec::BatchNorm2d { channels } => Box::new(BatchNorm::new_2d(channels)?),
            LayerSpec::MaxPool2d { kernel } => Box::new(MaxPool2d::new(kernel)),
        })
    }
}

/// A [`Sequential`] network as a list of [`LayerSpec`]s.
///
/// ```
/// use retrograd_nn::layers::{LayerSpec, Module, SequentialPlan};
/// let mut plan = SequentialPlan::default();
/// plan.push(LayerSpec::Linear { in_features: 4, out_features: 8 });
/// plan.push(LayerSpec::Relu);
/// plan.push(LayerSpec::Linear { in_features: 8, out_features: 2 });
/// assert_eq!(plan.arrays()[2], ("2.weight".to_string(), vec![2, 8]));
/// assert_eq!(plan.num_values(), Some(4 * 8 + 8 + 8 * 2 + 2));
/// let net = plan.build(&mut retrograd_nn::Rng::new(0)).unwrap();
/// assert_eq!(net.parameters().len(), 4);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SequentialPlan {
    /// The layers, in order.
    pub layers: Vec<LayerSpec>,
}

impl SequentialPlan {
    /// Appends a layer.
    ///
    /// ```
    /// let mut plan = retrograd_nn::layers::SequentialPlan::default();
    /// plan.push(retrograd_nn::layers::LayerSpec::Flatten);
    /// assert_eq!(plan.layers.len(), 1);
    /// ```
    pub fn push(&mut self, layer: LayerSpec) {
        self.layers.push(layer);
    }

    /// The arrays of the built network, `("{index}.{name}", shape)`: every parameter, then
    /// every buffer, as [`Module::parameters`] and [`Module::buffers`] list them.
    ///
    /// ```
    /// use retrograd_nn::layers::{LayerSpec, SequentialPlan};
    /// let plan = SequentialPlan { layers: vec![LayerSpec::BatchNorm2d { channels: 2 }] };
    /// let names: Vec<String> = plan.arrays().into_iter().map(|a| a.0).collect();
    /// assert_eq!(names, ["0.weight", "0.bias", "0.running_mean", "0.running_var"]);
    /// ```
    pub fn arrays(&self) -> Vec<(String, Vec<usize>)> {
        let named = |i: usize, items: Vec<(&'static str, Vec<usize>)>| {
            items
                .into_iter()
                .map(move |(name, shape)| (format!("{i}.{name}"), shape))
        };
        let parameters = self
            .layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| named(i, l.parameters()));
        let buffers = self
            .layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| named(i, l.buffers()));
        parameters.chain(buffers).collect()
    }

    /// The number of values of all arrays, or `None` if it does not fit a `usize`.
    ///
    /// ```
    /// use retrograd_nn::layers::{LayerSpec, SequentialPlan};
    /// let huge = LayerSpec::Linear { in_features: 1 << 40, out_features: 1 << 40 };
    /// assert_eq!(SequentialPlan { layers: vec![huge] }.num_values(), None);
    /// ```
    pub fn num_values(&self) -> Option<usize> {
        self.arrays().iter().try_fold(0usize, |total, (_, shape)| {
            let n = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))?;
            total.checked_add(n)
        })
    }

    /// Builds the network, drawing initial weights from `rng` layer by layer; refuses a
    /// plan of more than [`MAX_PARAMETER_VALUES`] values before allocating any.
    ///
    /// ```
    /// use retrograd_nn::layers::{LayerSpec, SequentialPlan};
    /// let huge = SequentialPlan { layers: vec![LayerSpec::Linear { in_features: 1 << 20, out_features: 1 << 20 }] };
    /// assert!(huge.build(&mut retrograd_nn::Rng::new(0)).is_err());
    /// ```
    pub fn build(&self, rng: &mut Rng) -> Result<Sequential> {
        match self.num_values() {
            Some(n) if n <= MAX_PARAMETER_VALUES => {}
            n => {
                return Err(NnError::invalid(format!(
                    "the network would have {} values, above the limit of {MAX_PARAMETER_VALUES}",
                    n.map_or("more than usize::MAX".to_string(), |n| n.to_string())
                )))
            }
        }
        let mut net = Sequential::new();
        for layer in &self.layers {
            net.push(layer.build(rng)?);
        }
        Ok(net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_networks_have_exactly_the_planned_arrays() {
        let plan = SequentialPlan {
            layers: vec![
                LayerSpec::Conv2d {
                    in_channels: 1,
                    out_channels: 3,
                    kernel: 3,
                    padding: 1,
                },
                LayerSpec::BatchNorm2d { channels: 3 },
                LayerSpec::MaxPool2d { kernel: 2 },
                LayerSpec::Relu,
                LayerSpec::Flatten,
                LayerSpec::Linear {
                    in_features: 12,
                    out_features: 5,
                },
            ],
        };
        let net = plan.build(&mut Rng::new(0)).unwrap();
        let built: Vec<(String, Vec<usize>)> = net
            .parameters()
            .into_iter()
            .chain(net.buffers())
            .map(|(n, t)| (n, t.dims().to_vec()))
            .collect();
        assert_eq!(built, plan.arrays());
        assert_eq!(
            plan.num_values(),
            Some(built.iter().map(|(_, s)| s.iter().product::<usize>()).sum())
        );
    }
}
