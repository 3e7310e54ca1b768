//! Normalisation layers: batch norm (with running statistics) and layer norm.

use retrograd::tensor::{DType, Tensor};

use super::{parameter, Module};
use crate::{NnError, Result};

/// Batch normalisation over `(N, C)` (1-D) or `(N, C, H, W)` (2-D) batches: each channel is
/// standardised with the batch's statistics in training and with running averages
/// (momentum 0.1, unbiased variance, as in PyTorch) in evaluation, then scaled and shifted
/// by learned `weight` and `bias`.
///
/// ```
/// use retrograd::tensor::Tensor;
/// use retrograd_nn::layers::{BatchNorm, Module};
/// let bn = BatchNorm::new_1d(1).unwrap();
/// let x = Tensor::from_vec(vec![1.0f32, 3.0], [2, 1]).unwrap();
/// let y = bn.forward(&x).unwrap().to_vec::<f32>().unwrap();
/// assert!((y[0] + 1.0).abs() < 1e-3 && (y[1] - 1.0).abs() < 1e-3);
/// // running mean moved 10% of the way to 2, running variance towards 2 (unbiased)
/// let rm = bn.running_mean.to_vec::<f32>().unwrap();
/// assert!((rm[0] - 0.2).abs() < 1e-6);
/// ```
pub struct BatchNorm {
    /// Per-channel scale.
    pub weight: Tensor,
    /// Per-channel shift.
    pub bias: Tensor,
    /// Running mean (a buffer).
    pub running_mean: Tensor,
    /// Running variance (a buffer).
    pub running_var: Tensor,
    /// Added to the variance.
    pub eps: f64,
    /// Weight of the newest batch in the running averages.
    pub momentum: f64,
    spatial: bool,
    training: bool,
}

impl BatchNorm {
    fn new(channels: usize, spatial: bool) -> Result<Self> {
        Ok(BatchNorm {
            weight: parameter(vec![1.0; channels], &[channels])?,
            bias: parameter(vec![0.0; channels], &[channels])?,
            running_mean: Tensor::zeros([channels], DType::F32),
            running_var: Tensor::ones([channels], DType::F32),
            eps: 1e-5,
            momentum: 0.1,
            spatial,
            training: true,
        })
    }

    /// BatchNorm1d: for `(N, C)` batches.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::layers::BatchNorm::new_1d(4).unwrap().weight.dims(), &[4]);
    /// ```
    pub fn new_1d(channels: usize) -> Result<Self> {
        Self::new(channels, false)
    }

    /// BatchNorm2d: for `(N, C, H, W)` batches.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// use retrograd_nn::layers::{BatchNorm, Module};
    /// let bn = BatchNorm::new_2d(3).unwrap();
    /// assert_eq!(bn.forward(&Tensor::ones([2, 3, 4, 4], DType::F32)).unwrap().dims(), &[2, 3, 4, 4]);
    /// ```
    pub fn new_2d(channels: usize) -> Result<Self> {
        Self::new(channels, true)
    }

    /// Reshapes a per-channel vector to broadcast against the input.
    fn per_channel(&self, t: &Tensor) -> Result<Tensor> {
        let c = t.dims()[0];
        Ok(if self.spatial {
            t.reshape([1, c, 1, 1])?
        } else {
            t.clone()
        })
    }
}

impl Module for BatchNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let c = self.weight.dims()[0];
        let rank = if self.spatial { 4 } else { 2 };
        if x.rank() != rank || x.dims()[1] != c {
            return Err(NnError::invalid(format!(
                "BatchNorm{}d({c}) needs a rank-{rank} input with {c} channels, got {:?}",
                if self.spatial { 2 } else { 1 },
                x.dims()
            )));
        }
        if !self.training {
            // An affine map per channel: two passes over the input.
            let scale = self
                .weight
                .div(&self.running_var.add_scalar(self.eps)?.sqrt()?)?;
            let shift = self.bias.sub(&self.running_mean.mul(&scale)?)?;
            return Ok(x
                .mul(&self.per_channel(&scale)?)?
                .add(&self.per_channel(&shift)?)?);
        }
        let (y, stats) = x.batch_norm(Some(&self.weight), Some(&self.bias), self.eps)?;
        // Running statistics: outside the graph, written in place.
        let m = self.momentum as f32;
        let unbias = if stats.count > 1 {
            stats.count as f32 / (stats.count - 1) as f32
        } else {
            1.0
        };
        let (bm, bv) = (stats.mean.to_vec::<f32>()?, stats.var.to_vec::<f32>()?);
        self.running_mean.update_(|r: &mut [f32]| {
            r.iter_mut()
                .zip(&bm)
                .for_each(|(r, b)| *r = (1.0 - m) * *r + m * b)
        })?;
        self.running_var.update_(|r: &mut [f32]| {
            r.iter_mut()
                .zip(&bv)
                .for_each(|(r, b)| *r = (1.0 - m) * *r + m * b * unbias)
        })?;
        Ok(y)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        vec![
            ("weight".to_string(), self.weight.clone()),
            ("bias".to_string(), self.bias.clone()),
        ]
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        vec![
            ("running_mean".to_string(), self.running_mean.clone()),
            ("running_var".to_string(), self.running_var.clone()),
        ]
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    fn describe(&self) -> String {
        format!(
            "BatchNorm{}d({})",
            if self.spatial { 2 } else { 1 },
            self.weight.dims()[0]
        )
    }
}

/// Layer normalisation over the last axis (of size `dim`), with learned scale and shift.
///
/// ```
/// use retrograd::tensor::Tensor;
/// use retrograd_nn::layers::{LayerNorm, Module};
/// let ln = LayerNorm::new(2).unwrap();
/// let y = ln.forward(&Tensor::from_vec(vec![1.0f32, 3.0], [1, 2]).unwrap()).unwrap();
/// let y = y.to_vec::<f32>().unwrap();
/// assert!((y[0] + 1.0).abs() < 1e-3 && (y[1] - 1.0).abs() < 1e-3);
/// ```
pub struct LayerNorm {
    /// Scale per feature.
    pub weight: Tensor,
    /// Shift per feature.
    pub bias: Tensor,
    /// Added to the variance.
    pub eps: f64,
}

impl LayerNorm {
    /// Layer norm over a last axis of size `dim`.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::layers::LayerNorm::new(8).unwrap().bias.dims(), &[8]);
    /// ```
    pub fn new(dim: usize) -> Result<Self> {
        Ok(LayerNorm {
            weight: parameter(vec![1.0; dim], &[dim])?,
            bias: parameter(vec![0.0; dim], &[dim])?,
            eps: 1e-5,
        })
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean(-1isize, true)?;
        let centred = x.sub(&mean)?;
        let var = centred.square()?.mean(-1isize, true)?;
        let xhat = centred.div(&var.add_scalar(self.eps)?.sqrt()?)?;
        Ok(xhat.mul(&self.weight)?.add(&self.bias)?)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        vec![
            ("weight".to_string(), self.weight.clone()),
            ("bias".to_string(), self.bias.clone()),
        ]
    }

    fn describe(&self) -> String {
        format!("LayerNorm({})", self.weight.dims()[0])
    }
}
