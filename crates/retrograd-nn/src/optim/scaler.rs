//! Dynamic loss scaling for `f16` training, as PyTorch's `torch.amp.GradScaler`.
//!
//! Gradients of an `f16` forward pass underflow to zero below 2⁻²⁴; multiplying the loss by
//! a large scale moves them into range. The scaler divides the gradients by the scale
//! again before the optimizer step, skips the step when a gradient is infinite or NaN (the
//! scale overflowed `f16`), halves the scale then, and doubles it after a run of
//! `growth_interval` good steps. `bf16` has `f32`'s range and needs no scaler.

use crate::error::{NnError, Result};
use retrograd::tensor::Tensor;
use serde_json::{json, Value};

/// Dynamic loss scaling: [`scale`](GradScaler::scale) the loss before backward,
/// [`unscale`](GradScaler::unscale) the gradients (which reports a non-finite one), step
/// the optimizer only when they are finite, then [`update`](GradScaler::update).
///
/// ```
/// use retrograd::tensor::Tensor;
/// use retrograd_nn::optim::GradScaler;
/// let mut s = GradScaler::default();
/// assert_eq!(s.scale_value(), 65536.0);
/// let loss = Tensor::from_vec(vec![0.5f32], [1]).unwrap();
/// assert_eq!(s.scale(&loss).unwrap().item().unwrap(), 32768.0);
/// let mut grads = vec![vec![65536.0f32, f32::INFINITY]];
/// assert!(!s.unscale(&mut grads)); // not finite: skip the step
/// s.update();
/// assert_eq!(s.scale_value(), 32768.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GradScaler {
    scale: f64,
    growth_factor: f64,
    backoff_factor: f64,
    growth_interval: u32,
    /// Good steps since the scale last changed.
    growth_tracker: u32,
    /// Whether the last `unscale` found a non-finite gradient.
    found_inf: bool,
}

impl Default for GradScaler {
    /// PyTorch's defaults: initial scale 2¹⁶, growth factor 2, backoff 0.5, growth
    /// interval 2000.
    fn default() -> Self {
        GradScaler {
            scale: 65536.0,
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
            growth_tracker: 0,
            found_inf: false,
        }
    }
}

impl GradScaler {
    /// A scaler with these settings: `init_scale` finite and above 0, `growth_factor`
    /// above 1, `backoff_factor` in (0, 1), `growth_interval` at least 1.
    ///
    /// ```
    /// use retrograd_nn::optim::GradScaler;
    /// assert!(GradScaler::new(1024.0, 2.0, 0.5, 10).is_ok());
    /// assert!(GradScaler::new(1024.0, 0.5, 0.5, 10).is_err());
    /// ```
    pub fn new(
        init_scale: f64,
        growth_factor: f64,
        backoff_factor: f64,
        growth_interval: u32,
    ) -> Result<Self> {
        let ok = init_scale.is_finite()
            && init_scale > 0.0
            && growth_factor.is_finite()
            && growth_factor > 1.0
            && backoff_factor > 0.0
            && backoff_factor < 1.0
            && growth_interval >= 1;
        if !ok {
            return Err(NnError::invalid(format!(
                "GradScaler needs a finite init_scale above 0, a finite growth_factor above 1, \
                 a backoff_factor in (0, 1) and a growth_interval of at least 1; got \
                 {init_scale}, {growth_factor}, {backoff_factor}, {growth_interval}"
            )));
        }
        Ok(GradScaler {
            scale: init_scale,
            growth_factor,
            backoff_factor,
            growth_interval,
            ..GradScaler::default()
        })
    }

    /// The current scale.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::optim::GradScaler::default().scale_value(), 65536.0);
    /// ```
    pub fn scale_value(&self) -> f64 {
        self.scale
    }

    /// `loss × scale` (a recorded op: backward from it gives scaled gradients).
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let s = retrograd_nn::optim::GradScaler::new(8.0, 2.0, 0.5, 1).unwrap();
    /// assert_eq!(s.scale(&Tensor::ones([], DType::F32)).unwrap().item().unwrap(), 8.0);
    /// ```
    pub fn scale(&self, loss: &Tensor) -> Result<Tensor> {
        Ok(loss.mul_scalar(self.scale)?)
    }

    /// Divides the gradients by the scale, in place, and returns whether all are finite
    /// (if not, the optimizer step must be skipped; [`update`](GradScaler::update) then
    /// backs off).
    ///
    /// ```
    /// let mut s = retrograd_nn::optim::GradScaler::new(4.0, 2.0, 0.5, 1).unwrap();
    /// let mut g = vec![vec![8.0f32, -4.0]];
    /// assert!(s.unscale(&mut g));
    /// assert_eq!(g[0], vec![2.0, -1.0]);
    /// ```
    pub fn unscale(&mut self, grads: &mut [Vec<f32>]) -> bool {
        let inv = (1.0 / self.scale) as f32;
        let mut finite = true;
        for g in grads.iter_mut() {
            for v in g.iter_mut() {
                finite &= v.is_finite();
                *v *= inv;
            }
        }
        self.found_inf = !finite;
        finite
    }

    /// Adjusts the scale after a step: multiplies it by `backoff_factor` if the last
    /// [`unscale`](GradScaler::unscale) found a non-finite gradient, by `growth_factor`
    /// after `growth_interval` consecutive finite ones.
    ///
    /// ```
    /// let mut s = retrograd_nn::optim::GradScaler::new(4.0, 2.0, 0.5, 2).unwrap();
    /// for _ in 0..2 {
    ///     assert!(s.unscale(&mut [vec![1.0]]));
    ///     s.update();
    /// }
    /// assert_eq!(s.scale_value(), 8.0);
    /// ```
    pub fn update(&mut self) {
        if self.found_inf {
            self.scale *= self.backoff_factor;
            self.growth_tracker = 0;
        } else {
            self.growth_tracker += 1;
            if self.growth_tracker >= self.growth_interval {
                // As PyTorch: growth stops where the scale would overflow f32.
                let grown = self.scale * self.growth_factor;
                if (grown as f32).is_finite() {
                    self.scale = grown;
                }
                self.growth_tracker = 0;
            }
        }
        self.found_inf = false;
    }

    /// The state to save in a checkpoint (settings, scale and the run of good steps).
    ///
    /// ```
    /// use retrograd_nn::optim::GradScaler;
    /// let s = GradScaler::new(32.0, 2.0, 0.5, 3).unwrap();
    /// assert_eq!(GradScaler::from_json(&s.to_json()).unwrap(), s);
    /// ```
    pub fn to_json(&self) -> Value {
        json!({
            "scale": self.scale,
            "growth_factor": self.growth_factor,
            "backoff_factor": self.backoff_factor,
            "growth_interval": self.growth_interval,
            "growth_tracker": self.growth_tracker,
        })
    }

    /// Parses [`GradScaler::to_json`]'s output.
    ///
    /// ```
    /// assert!(retrograd_nn::optim::GradScaler::from_json(&serde_json::json!({})).is_err());
    /// ```
    pub fn from_json(v: &Value) -> Result<Self> {
        let num = |k: &str| {
            v.get(k)
                .and_then(Value::as_f64)
                .ok_or_else(|| NnError::invalid(format!("GradScaler state lacks the number `{k}`")))
        };
        let mut s = GradScaler::new(
            num("scale")?,
            num("growth_factor")?,
            num("backoff_factor")?,
            num("growth_interval")? as u32,
        )?;
        s.growth_tracker = num("growth_tracker")? as u32;
        Ok(s)
    }
}
