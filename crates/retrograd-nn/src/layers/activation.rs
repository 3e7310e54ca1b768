//! Elementwise activations, and dropout.

use std::sync::Mutex;

use retrograd::tensor::Tensor;

use super::Module;
use crate::{NnError, Result, Rng};

macro_rules! activation {
    ($(#[$doc:meta])* $name:ident, $method:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        impl Module for $name {
            fn forward(&self, x: &Tensor) -> Result<Tensor> {
                Ok(x.$method()?)
            }

            fn describe(&self) -> String {
                $label.to_string()
            }
        }
    };
}

activation!(
    /// `max(x, 0)`.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// use retrograd_nn::layers::{Module, Relu};
    /// let y = Relu.forward(&Tensor::from_vec(vec![-1.0f32, 2.0], [2]).unwrap()).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 2.0]);
    /// ```
    Relu, relu, "ReLU"
);
activation!(
    /// The Gaussian error linear unit `x·Φ(x)`.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// use retrograd_nn::layers::{Gelu, Module};
    /// let y = Gelu.forward(&Tensor::from_vec(vec![0.0f32], [1]).unwrap()).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0]);
    /// ```
    Gelu, gelu, "GELU"
);
activation!(
    /// The hyperbolic tangent.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// use retrograd_nn::layers::{Module, Tanh};
    /// let y = Tanh.forward(&Tensor::from_vec(vec![0.0f32], [1]).unwrap()).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0]);
    /// ```
    Tanh, tanh, "Tanh"
);
activation!(
    /// The logistic function `1 / (1 + e⁻ˣ)`.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// use retrograd_nn::layers::{Module, Sigmoid};
    /// let y = Sigmoid.forward(&Tensor::from_vec(vec![0.0f32], [1]).unwrap()).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.5]);
    /// ```
    Sigmoid, sigmoid, "Sigmoid"
);
activation!(
    /// The sigmoid linear unit (swish) `x·σ(x)`.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// use retrograd_nn::layers::{Module, Silu};
    /// let y = Silu.forward(&Tensor::from_vec(vec![0.0f32], [1]).unwrap()).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0]);
    /// ```
    Silu, silu, "SiLU"
);

/// Inverted dropout: in training, zeroes each element with probability `p` and scales the
/// rest by `1/(1-p)`; in evaluation, the identity. Masks come from a seeded generator,
/// re-seeded by [`Module::reseed`], so runs are reproducible.
///
/// ```
/// use retrograd::tensor::{DType, Tensor};
/// use retrograd_nn::layers::{Dropout, Module};
/// let mut d = Dropout::new(0.5, 0).unwrap();
/// let x = Tensor::ones([1000], DType::F32);
/// let kept = d.forward(&x).unwrap().to_vec::<f32>().unwrap().iter().filter(|&&v| v == 2.0).count();
/// assert!((400..600).contains(&kept));
/// d.set_training(false);
/// assert_eq!(d.forward(&x).unwrap().to_vec::<f32>().unwrap(), vec![1.0; 1000]);
/// ```
pub struct Dropout {
    /// Probability of zeroing an element.
    pub p: f64,
    training: bool,
    rng: Mutex<Rng>,
}

impl Dropout {
    /// Dropout with probability `p` in `[0, 1)`, masks seeded with `seed`.
    ///
    /// ```
    /// assert!(retrograd_nn::layers::Dropout::new(1.0, 0).is_err());
    /// ```
    pub fn new(p: f64, seed: u64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(NnError::invalid(format!(
                "dropout probability {p} is not in [0, 1)"
            )));
        }
        Ok(Dropout {
            p,
            training: true,
            rng: Mutex::new(Rng::new(seed)),
        })
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        let scale = (1.0 / (1.0 - self.p)) as f32;
        let mask: Vec<f32> = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            (0..x.elem_count())
                .map(|_| if rng.uniform() < self.p { 0.0 } else { scale })
                .collect()
        };
        let mask = Tensor::from_vec(mask, x.dims().to_vec())?.to_dtype(x.dtype())?;
        Ok(x.mul(&mask)?)
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    fn reseed(&mut self, seed: u64) {
        *self.rng.get_mut().unwrap_or_else(|e| e.into_inner()) = Rng::new(seed);
    }

    fn describe(&self) -> String {
        format!("Dropout(p = {})", self.p)
    }
}
