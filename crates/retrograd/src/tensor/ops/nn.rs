//! Neural-network functions: softmax, log-softmax, the fused cross-entropy, NLL, MSE,
//! dropout and batch normalisation.
//!
//! Cross-entropy from logits is one kernel forward (a stable log-sum-exp per row) and one
//! kernel backward (`softmax - onehot`, scaled per row). That backward kernel is itself a
//! recorded op whose rule is written with differentiable ops, so the loss still has second
//! derivatives. Batch normalisation is likewise one kernel each way; when its gradient must
//! itself be differentiable (`create_graph`), the rule is written with differentiable ops.

use crate::tensor::autocast;
use crate::tensor::autograd::{is_grad_enabled, no_grad, record_new, Save};
use crate::tensor::backend;
use crate::tensor::error::{invalid, shape_mismatch, Result};
use crate::tensor::shape::resolve_axis;
use crate::tensor::{DType, Rng, Tensor, TensorError};

/// How a per-sample loss is reduced over the batch.
///
/// ```
/// use retrograd::tensor::Reduction;
/// assert_eq!(Reduction::default(), Reduction::Mean);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// The mean over samples.
    #[default]
    Mean,
    /// The sum over samples.
    Sum,
    /// One loss per sample.
    None,
}

impl Tensor {
    fn reduce_loss(&self, r: Reduction) -> Result<Tensor> {
        match r {
            Reduction::Mean => self.mean_all(),
            Reduction::Sum => self.sum_all(),
            Reduction::None => Ok(self.clone()),
        }
    }

    /// Moves `axis` last, applies `f`, and moves it back.
    fn along_last(
        &self,
        op: &'static str,
        axis: isize,
        f: impl Fn(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let a = resolve_axis(op, axis, self.rank())?;
        let last = self.rank() - 1;
        if a == last {
            f(self)
        } else {
            f(&self.transpose(a as isize, -1)?)?.transpose(a as isize, -1)
        }
    }

    #[track_caller]
    fn softmax_last(&self, log: bool) -> Result<Tensor> {
        if let Some(x) = autocast::widen(self)? {
            return x.softmax_last(log);
        }
        let name = if log { "log_softmax" } else { "softmax" };
        self.require_float(name)?;
        let data = backend::softmax(&self.read(), self.layout(), log)?;
        record_new(
            name,
            data,
            self.dims().to_vec(),
            &[self],
            Save::Output,
            move |ctx, g| {
                let y = ctx.output;
                let gx = if log {
                    g.sub(&y.exp()?.mul(&g.sum(-1, true)?)?)?
                } else {
                    y.mul(&g.sub(&g.mul(y)?.sum(-1, true)?)?)?
                };
                Ok(vec![Some(gx)])
            },
        )
    }

    /// Softmax along `axis`: `exp(x) / Σ exp(x)`, computed stably.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f64, 1.0, 1000.0, 1000.0], [2, 2]).unwrap();
    /// assert_eq!(x.softmax(-1).unwrap().to_vec::<f64>().unwrap(), vec![0.5; 4]);
    /// ```
    #[track_caller]
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        self.along_last("softmax", axis, |t| t.softmax_last(false))
    }

    /// `log(softmax(x))` along `axis`, computed stably.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![0.0f64, 0.0], [2]).unwrap();
    /// let l = x.log_softmax(0).unwrap().to_vec::<f64>().unwrap();
    /// assert!((l[0] + 2f64.ln()).abs() < 1e-12);
    /// ```
    #[track_caller]
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        self.along_last("log_softmax", axis, |t| t.softmax_last(true))
    }

    /// Mean cross-entropy of `(N, C)` logits against `I64` class targets `(N)`.
    /// Shorthand for [`cross_entropy_with`](Tensor::cross_entropy_with) and `Reduction::Mean`.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let logits = Tensor::zeros([2, 4], DType::F32).requires_grad_();
    /// let t = Tensor::from_vec(vec![1i64, 3], [2]).unwrap();
    /// let loss = logits.cross_entropy(&t).unwrap();
    /// assert!((loss.item().unwrap() - 4f64.ln()).abs() < 1e-6);
    /// loss.backward().unwrap();
    /// ```
    #[track_caller]
    pub fn cross_entropy(&self, targets: &Tensor) -> Result<Tensor> {
        self.cross_entropy_with(targets, Reduction::Mean)
    }

    /// Cross-entropy of `(N, C)` logits against `I64` class targets `(N)`, fused:
    /// `logsumexp(x_i) - x_i[t_i]` per row in one kernel, `softmax - onehot` in backward.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Reduction, Tensor};
    /// let logits = Tensor::zeros([3, 2], DType::F64);
    /// let t = Tensor::from_vec(vec![0i64, 1, 0], [3]).unwrap();
    /// let per_row = logits.cross_entropy_with(&t, Reduction::None).unwrap();
    /// assert_eq!(per_row.dims(), &[3]);
    /// ```
    #[track_caller]
    pub fn cross_entropy_with(&self, targets: &Tensor, reduction: Reduction) -> Result<Tensor> {
        if let Some(x) = autocast::widen(self)? {
            return x.cross_entropy_with(targets, reduction);
        }
        let op = "cross_entropy";
        self.require_float(op)?;
        if targets.dtype() != DType::I64 {
            return Err(TensorError::UnsupportedDType {
                op,
                dtype: targets.dtype(),
            });
        }
        if self.rank() != 2 || targets.rank() != 1 || targets.dims()[0] != self.dims()[0] {
            return Err(shape_mismatch(
                op,
                self.dims(),
                targets.dims(),
                "logits must be (N, C) and targets (N)",
            ));
        }
        let data = Tensor::read_all(&[self, targets], |s| {
            backend::cross_entropy((s[0], self.layout()), (s[1], targets.layout()))
        })?;
        let t = targets.clone();
        let rows = record_new(
            op,
            data,
            vec![self.dims()[0]],
            &[self],
            Save::Inputs,
            move |ctx, g| Ok(vec![Some(cross_entropy_backward(ctx.input(0), &t, g)?)]),
        )?;
        rows.reduce_loss(reduction)
    }

    /// Negative log-likelihood of `(N, C)` log-probabilities against `I64` targets `(N)`.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Reduction, Tensor};
    /// let lp = Tensor::from_vec(vec![-1.0f64, -2.0], [1, 2]).unwrap();
    /// let t = Tensor::from_vec(vec![1i64], [1]).unwrap();
    /// assert_eq!(lp.nll_loss(&t, Reduction::Mean).unwrap().item().unwrap(), 2.0);
    /// ```
    #[track_caller]
    pub fn nll_loss(&self, targets: &Tensor, reduction: Reduction) -> Result<Tensor> {
        if let Some(x) = autocast::widen(self)? {
            return x.nll_loss(targets, reduction);
        }
        if self.rank() != 2 || targets.rank() != 1 || targets.dims()[0] != self.dims()[0] {
            return Err(shape_mismatch(
                "nll_loss",
                self.dims(),
                targets.dims(),
                "log-probabilities must be (N, C) and targets (N)",
            ));
        }
        let picked = self.gather(1, &targets.unsqueeze(1)?)?.squeeze(1)?;
        picked.neg()?.reduce_loss(reduction)
    }

    /// Mean squared error against `target` (broadcast).
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f64, 3.0], [2]).unwrap();
    /// let b = Tensor::from_vec(vec![0.0f64, 0.0], [2]).unwrap();
    /// assert_eq!(a.mse_loss(&b).unwrap().item().unwrap(), 5.0);
    /// ```
    #[track_caller]
    pub fn mse_loss(&self, target: &Tensor) -> Result<Tensor> {
        if let Some(x) = autocast::widen(self)? {
            return x.mse_loss(target);
        }
        self.sub(target)?.square()?.mean_all()
    }

    /// Inverted dropout: zeroes each element with probability `p` (drawn from `rng`) and
    /// scales the rest by `1/(1-p)`, so the expectation is unchanged.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Rng, Tensor};
    /// let x = Tensor::ones([1000], DType::F32);
    /// let y = x.dropout(0.5, &mut Rng::new(7)).unwrap();
    /// let kept = y.to_vec::<f32>().unwrap().iter().filter(|&&v| v == 2.0).count();
    /// assert!((400..600).contains(&kept));
    /// ```
    #[track_caller]
    pub fn dropout(&self, p: f64, rng: &mut Rng) -> Result<Tensor> {
        if !(0.0..1.0).contains(&p) {
            return Err(invalid(
                "dropout",
                format!("probability {p} must be in [0, 1)"),
            ));
        }
        if p == 0.0 {
            return Ok(self.clone());
        }
        let scale = 1.0 / (1.0 - p);
        let m: Vec<f64> = (0..self.elem_count())
            .map(|_| if rng.uniform() < p { 0.0 } else { scale })
            .collect();
        let mask = Tensor::from_vec(m, self.dims())?.to_dtype(self.dtype())?;
        self.mul(&mask)
    }
}

/// The per-channel statistics of a batch, returned by [`Tensor::batch_norm`] (constants:
/// no gradient flows through them).
///
/// ```
/// use retrograd::tensor::Tensor;
/// let x = Tensor::from_vec(vec![1.0f64, 10.0, 3.0, 30.0], [2, 2]).unwrap();
/// let (_, stats) = x.batch_norm(None, None, 0.0).unwrap();
/// assert_eq!(stats.mean.to_vec::<f64>().unwrap(), vec![2.0, 20.0]);
/// assert_eq!(stats.var.to_vec::<f64>().unwrap(), vec![1.0, 100.0]);
/// assert_eq!(stats.count, 2);
/// ```
#[derive(Clone, Debug)]
pub struct BatchStats {
    /// The mean of each channel, shape `(C)`.
    pub mean: Tensor,
    /// The biased variance of each channel (divided by `count`), shape `(C)`; times
    /// `count / (count - 1)` it is the unbiased estimate that running averages use.
    pub var: Tensor,
    /// How many values each channel's statistics were taken over (`N` times the spatial size).
    pub count: usize,
}

impl Tensor {
    /// Batch normalisation in training mode over axis 1 of an `(N, C, ..)` input: each
    /// channel is standardised with the mean and biased variance of its values in the batch,
    /// `(x - mean) / sqrt(var + eps)`, then scaled by `weight` and shifted by `bias` (`(C)`
    /// each, both optional). Returns the output and the batch statistics (for running
    /// averages). One fused kernel forward and one backward.
    ///
    /// ```
    /// use retrograd::tensor::{DType, Rng, Tensor};
    /// let x = Tensor::randn([8, 3, 4, 4], 2.0, 5.0, DType::F64, &mut Rng::new(1));
    /// let w = Tensor::ones([3], DType::F64).requires_grad_();
    /// let (y, _) = x.batch_norm(Some(&w), None, 1e-5).unwrap();
    /// // each channel of the output has mean 0 and variance 1
    /// let m = y.mean([0, 2, 3], false).unwrap().to_vec::<f64>().unwrap();
    /// assert!(m.iter().all(|v| v.abs() < 1e-12));
    /// y.square().unwrap().sum_all().unwrap().backward().unwrap();
    /// assert_eq!(w.grad().unwrap().dims(), &[3]);
    /// ```
    #[track_caller]
    pub fn batch_norm(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<(Tensor, BatchStats)> {
        if let Some(x) = autocast::widen(self)? {
            return x.batch_norm(weight, bias, eps);
        }
        let op = "batch_norm";
        self.require_float(op)?;
        if self.rank() < 2 {
            return Err(invalid(
                op,
                format!("needs an (N, C, ..) input, got shape {:?}", self.dims()),
            ));
        }
        let c = self.dims()[1];
        let count = self.elem_count() / c.max(1);
        for p in weight.iter().chain(&bias) {
            p.require_same_dtype(op, self)?;
            if p.dims() != [c] {
                return Err(shape_mismatch(
                    op,
                    self.dims(),
                    p.dims(),
                    format!("weight and bias need one entry per channel: ({c})"),
                ));
            }
        }
        if count == 0 {
            return Err(invalid(
                op,
                format!(
                    "needs at least one value per channel, got shape {:?}",
                    self.dims()
                ),
            ));
        }
        if !(eps >= 0.0 && eps.is_finite()) {
            return Err(invalid(op, format!("eps {eps} must be finite and ≥ 0")));
        }
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        let (y, mean, var) = Tensor::read_all(&inputs, |s| {
            let w = weight.map(|_| s[1]);
            let b = bias.map(|_| s[inputs.len() - 1]);
            backend::batch_norm((s[0], self.layout()), w, b, eps)
        })?;
        let stats = BatchStats {
            mean: Tensor::from_data(mean, vec![c]),
            var: Tensor::from_data(var, vec![c]),
            count,
        };
        let saved = stats.clone();
        let has_weight = weight.is_some();
        let y = record_new(
            op,
            y,
            self.dims().to_vec(),
            &inputs,
            Save::Leading(1 + has_weight as usize),
            move |ctx, gy| {
                let x = ctx.input(0);
                let w = has_weight.then(|| ctx.input(1));
                let (gx, gw, gb) = if is_grad_enabled() {
                    batch_norm_grads_differentiable(x, w, gy, eps, ctx.needs(0))?
                } else {
                    batch_norm_grads(x, w, gy, &saved, eps, ctx.needs(0))?
                };
                let mut grads = vec![gx];
                if has_weight {
                    grads.push(ctx.needs(1).then_some(gw));
                }
                if ctx.inputs.len() > grads.len() {
                    grads.push(ctx.needs(grads.len()).then_some(gb));
                }
                Ok(grads)
            },
        )?;
        Ok((y, stats))
    }
}

/// Input (if `input_grad`), weight and bias gradients of `batch_norm`, by the fused kernel.
fn batch_norm_grads(
    x: &Tensor,
    w: Option<&Tensor>,
    gy: &Tensor,
    stats: &BatchStats,
    eps: f64,
    input_grad: bool,
) -> Result<(Option<Tensor>, Tensor, Tensor)> {
    let c = stats.mean.elem_count();
    let mut all = vec![x, gy, &stats.mean, &stats.var];
    all.extend(w);
    let g = Tensor::read_all(&all, |s| {
        backend::batch_norm_backward(
            (s[0], x.layout()),
            (s[1], gy.layout()),
            (s[2], s[3]),
            w.map(|_| s[4]),
            eps,
            input_grad,
        )
    })?;
    Ok((
        g.input.map(|g| Tensor::from_data(g, x.dims().to_vec())),
        Tensor::from_data(g.weight, vec![c]),
        Tensor::from_data(g.bias, vec![c]),
    ))
}

/// The same gradients as [`batch_norm_grads`], written with differentiable ops of `x`, `w`
/// and `gy` (the statistics recomputed from `x`), for second derivatives.
fn batch_norm_grads_differentiable(
    x: &Tensor,
    w: Option<&Tensor>,
    gy: &Tensor,
    eps: f64,
    input_grad: bool,
) -> Result<(Option<Tensor>, Tensor, Tensor)> {
    let c = x.dims()[1];
    let axes: Vec<usize> = (0..x.rank()).filter(|&a| a != 1).collect();
    let mut channel = vec![1; x.rank()];
    channel[1] = c;
    let m = (x.elem_count() / c) as f64;
    let xc = x.sub(&x.mean(axes.clone(), true)?)?;
    let invstd = xc
        .square()?
        .mean(axes.clone(), true)?
        .add_scalar(eps)?
        .powf(-0.5)?;
    let xhat = xc.mul(&invstd)?;
    let gb = gy.sum(axes.clone(), true)?;
    let gw = gy.mul(&xhat)?.sum(axes, true)?;
    let gx = if input_grad {
        let a = match w {
            Some(w) => invstd.mul(&w.reshape(channel.as_slice())?)?,
            None => invstd,
        };
        let centred = gy
            .sub(&gb.mul_scalar(1.0 / m)?)?
            .sub(&xhat.mul(&gw.mul_scalar(1.0 / m)?)?)?;
        Some(a.mul(&centred)?)
    } else {
        None
    };
    Ok((gx, gw.reshape([c])?, gb.reshape([c])?))
}

/// `(softmax(x) - onehot(t)) * g[:, None]` as a recorded op, differentiable in `x` and `g`.
#[track_caller]
fn cross_entropy_backward(x: &Tensor, t: &Tensor, g: &Tensor) -> Result<Tensor> {
    let g = g.contiguous()?;
    let data = Tensor::read_all(&[x, t, &g], |s| {
        backend::cross_entropy_backward((s[0], x.layout()), (s[1], t.layout()), (s[2], g.layout()))
    })?;
    let t = t.clone();
    record_new(
        "cross_entropy_backward",
        data,
        x.dims().to_vec(),
        &[x, &g],
        Save::Inputs,
        move |ctx, v| {
            let (x, g) = (ctx.input(0), ctx.input(1));
            let s = x.softmax(-1)?;
            let gx = if ctx.needs(0) {
                let w = v.mul(&g.unsqueeze(1)?)?;
                Some(s.mul(&w.sub(&w.mul(&s)?.sum(1, true)?)?)?)
            } else {
                None
            };
            let gg = if ctx.needs(1) {
                let onehot = no_grad(|| t.one_hot(x.dims()[1], x.dtype()))?;
                Some(s.sub(&onehot)?.mul(v)?.sum(1, false)?)
            } else {
                None
            };
            Ok(vec![gx, gg])
        },
    )
}
