//! Neural-network functions: softmax, log-softmax, the fused cross-entropy, NLL, MSE and
//! dropout.
//!
//! Cross-entropy from logits is one kernel forward (a stable log-sum-exp per row) and one
//! kernel backward (`softmax - onehot`, scaled per row). That backward kernel is itself a
//! recorded op whose rule is written with differentiable ops, so the loss still has second
//! derivatives.

use crate::tensor::autograd::{no_grad, record_new, Save};
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
