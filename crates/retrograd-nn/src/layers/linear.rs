//! Affine maps: fully connected layers and embedding tables.

use retrograd::tensor::{autocast_dtype, DType, Tensor};

use super::{parameter, Module};
use crate::init::Init;
use crate::{NnError, Result, Rng};

/// A fully connected layer `y = x·Wᵀ + b`, with `W` of shape `(out, in)`.
///
/// ```
/// use retrograd::tensor::{DType, Tensor};
/// use retrograd_nn::layers::{Linear, Module};
/// let l = Linear::new(2, 3, &mut retrograd_nn::Rng::new(1)).unwrap();
/// assert_eq!(l.forward(&Tensor::zeros([5, 2], DType::F32)).unwrap().dims(), &[5, 3]);
/// ```
pub struct Linear {
    /// `(out_features, in_features)`.
    pub weight: Tensor,
    /// `(out_features)`, or none.
    pub bias: Option<Tensor>,
}

impl Linear {
    /// Kaiming-uniform weights (right for ReLU networks) and zero bias.
    ///
    /// ```
    /// let l = retrograd_nn::layers::Linear::new(4, 2, &mut retrograd_nn::Rng::new(0)).unwrap();
    /// assert_eq!(l.weight.dims(), &[2, 4]);
    /// ```
    pub fn new(in_features: usize, out_features: usize, rng: &mut Rng) -> Result<Self> {
        Self::with_init(in_features, out_features, Init::KaimingUniform, true, rng)
    }

    /// Weights from `init`, and a zero bias if `bias`.
    ///
    /// ```
    /// use retrograd_nn::{init::Init, layers::Linear, Rng};
    /// let l = Linear::with_init(4, 2, Init::XavierNormal, false, &mut Rng::new(0)).unwrap();
    /// assert!(l.bias.is_none());
    /// ```
    pub fn with_init(
        in_features: usize,
        out_features: usize,
        init: Init,
        bias: bool,
        rng: &mut Rng,
    ) -> Result<Self> {
        let n = in_features * out_features;
        let w = init.sample(n, in_features, out_features, rng);
        Ok(Linear {
            weight: parameter(w, &[out_features, in_features])?,
            bias: if bias {
                Some(parameter(vec![0.0; out_features], &[out_features])?)
            } else {
                None
            },
        })
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if autocast_dtype().is_none() {
            // One op for 2-D f32/f64 input (product and bias in one buffer), else the
            // composition below.
            return Ok(x.linear(&self.weight, self.bias.as_ref())?);
        }
        let y = x.matmul(&self.weight.t()?)?;
        Ok(match &self.bias {
            // Under autocast the layer is one 16-bit op, as PyTorch's `linear`: the bias
            // joins the product in its type (else the sum would be promoted to f32).
            Some(b) if y.dtype().is_low_precision() => y.add(&b.to_dtype(y.dtype())?)?,
            Some(b) => y.add(b)?,
            None => y,
        })
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            p.push(("bias".to_string(), b.clone()));
        }
        p
    }

    fn describe(&self) -> String {
        let d = self.weight.dims();
        format!("Linear({} → {})", d[1], d[0])
    }
}

/// A lookup table of `num` vectors of size `dim`; the input holds integer ids (`I64`,
/// any shape) and the output adds a trailing axis of size `dim`.
///
/// ```
/// use retrograd::tensor::Tensor;
/// use retrograd_nn::layers::{Embedding, Module};
/// let e = Embedding::new(10, 4, &mut retrograd_nn::Rng::new(0)).unwrap();
/// let ids = Tensor::from_vec(vec![1i64, 7, 7], [3]).unwrap();
/// assert_eq!(e.forward(&ids).unwrap().dims(), &[3, 4]);
/// ```
pub struct Embedding {
    /// `(num, dim)`.
    pub weight: Tensor,
}

impl Embedding {
    /// A table initialised from `N(0, 1)`.
    ///
    /// ```
    /// let e = retrograd_nn::layers::Embedding::new(5, 3, &mut retrograd_nn::Rng::new(0)).unwrap();
    /// assert_eq!(e.weight.dims(), &[5, 3]);
    /// ```
    pub fn new(num: usize, dim: usize, rng: &mut Rng) -> Result<Self> {
        let w = crate::init::normal(num * dim, 1.0, rng);
        Ok(Embedding {
            weight: parameter(w, &[num, dim])?,
        })
    }
}

impl Module for Embedding {
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        if ids.dtype() != DType::I64 {
            return Err(NnError::invalid(format!(
                "Embedding needs I64 ids, got {}",
                ids.dtype()
            )));
        }
        Ok(self.weight.embedding(ids)?)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".to_string(), self.weight.clone())]
    }

    fn describe(&self) -> String {
        let d = self.weight.dims();
        format!("Embedding({} × {})", d[0], d[1])
    }
}
