//! Convolution, pooling and flattening of `(N, C, H, W)` batches.

use retrograd::tensor::{Conv2dOptions, Tensor};

use super::{parameter, Module};
use crate::init::Init;
use crate::{Result, Rng};

/// A 2-D convolution with a `(out, in, k, k)` kernel, stride 1 and the given zero padding.
///
/// ```
/// use retrograd::tensor::{DType, Tensor};
/// use retrograd_nn::layers::{Conv2d, Module};
/// let c = Conv2d::new(1, 4, 3, 1, &mut retrograd_nn::Rng::new(0)).unwrap();
/// let y = c.forward(&Tensor::zeros([2, 1, 8, 8], DType::F32)).unwrap();
/// assert_eq!(y.dims(), &[2, 4, 8, 8]);
/// ```
pub struct Conv2d {
    /// `(out_channels, in_channels, k, k)`.
    pub weight: Tensor,
    /// `(out_channels)`.
    pub bias: Tensor,
    /// Stride, padding, dilation, groups.
    pub options: Conv2dOptions,
}

impl Conv2d {
    /// Kaiming-uniform kernel (fan-in `in·k·k`), zero bias.
    ///
    /// ```
    /// let c = retrograd_nn::layers::Conv2d::new(3, 8, 5, 2, &mut retrograd_nn::Rng::new(0)).unwrap();
    /// assert_eq!(c.weight.dims(), &[8, 3, 5, 5]);
    /// ```
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        padding: usize,
        rng: &mut Rng,
    ) -> Result<Self> {
        let fan_in = in_channels * kernel * kernel;
        let n = out_channels * fan_in;
        let w = Init::KaimingUniform.sample(n, fan_in, out_channels * kernel * kernel, rng);
        Ok(Conv2d {
            weight: parameter(w, &[out_channels, in_channels, kernel, kernel])?,
            bias: parameter(vec![0.0; out_channels], &[out_channels])?,
            options: Conv2dOptions {
                padding: (padding, padding),
                ..Conv2dOptions::default()
            },
        })
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.conv2d(&self.weight, Some(&self.bias), self.options)?)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        vec![
            ("weight".to_string(), self.weight.clone()),
            ("bias".to_string(), self.bias.clone()),
        ]
    }

    fn describe(&self) -> String {
        let d = self.weight.dims();
        format!(
            "Conv2d({} → {}, {}×{}, padding {})",
            d[1], d[0], d[2], d[3], self.options.padding.0
        )
    }
}

/// Max pooling over `k × k` windows with stride `k`.
///
/// ```
/// use retrograd::tensor::{DType, Tensor};
/// use retrograd_nn::layers::{MaxPool2d, Module};
/// let y = MaxPool2d::new(2).forward(&Tensor::zeros([1, 3, 8, 8], DType::F32)).unwrap();
/// assert_eq!(y.dims(), &[1, 3, 4, 4]);
/// ```
pub struct MaxPool2d {
    /// Window size (and stride).
    pub kernel: usize,
}

impl MaxPool2d {
    /// Pooling over `kernel × kernel` windows.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::layers::MaxPool2d::new(2).kernel, 2);
    /// ```
    pub fn new(kernel: usize) -> Self {
        MaxPool2d { kernel }
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let k = self.kernel;
        Ok(x.max_pool2d((k, k), (k, k), (0, 0))?)
    }

    fn describe(&self) -> String {
        format!("MaxPool2d({0}×{0})", self.kernel)
    }
}

/// Average pooling over `k × k` windows with stride `k`.
///
/// ```
/// use retrograd::tensor::{DType, Tensor};
/// use retrograd_nn::layers::{AvgPool2d, Module};
/// let y = AvgPool2d::new(2).forward(&Tensor::ones([1, 1, 4, 4], DType::F32)).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0; 4]);
/// ```
pub struct AvgPool2d {
    /// Window size (and stride).
    pub kernel: usize,
}

impl AvgPool2d {
    /// Pooling over `kernel × kernel` windows.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::layers::AvgPool2d::new(3).kernel, 3);
    /// ```
    pub fn new(kernel: usize) -> Self {
        AvgPool2d { kernel }
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let k = self.kernel;
        Ok(x.avg_pool2d((k, k), (k, k), (0, 0))?)
    }

    fn describe(&self) -> String {
        format!("AvgPool2d({0}×{0})", self.kernel)
    }
}

/// Flattens every axis after the first: `(N, C, H, W)` → `(N, C·H·W)`.
///
/// ```
/// use retrograd::tensor::{DType, Tensor};
/// use retrograd_nn::layers::{Flatten, Module};
/// let y = Flatten.forward(&Tensor::zeros([2, 3, 4, 5], DType::F32)).unwrap();
/// assert_eq!(y.dims(), &[2, 60]);
/// ```
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.rank() <= 2 {
            return Ok(x.clone());
        }
        Ok(x.flatten(1, -1)?)
    }

    fn describe(&self) -> String {
        "Flatten".to_string()
    }
}
