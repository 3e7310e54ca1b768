//! Physics-informed neural networks: a network `u(x)` trained so that its derivatives with
//! respect to its inputs satisfy a differential equation.
//!
//! The derivatives come from the tensor autograd itself: [`Derivatives::of`] takes the
//! gradient of the network output with respect to the input points with `create_graph`, then
//! the gradient of that gradient, so the residual of a second-order PDE is an ordinary
//! differentiable tensor and its mean square can be minimised over the weights by [`Adam`]
//! steps ([`adam_steps`]) and then [`crate::optim::Lbfgs`], the usual recipe.
//!
//! [`poisson`] and [`burgers`] are the two standard benchmark problems, each with its exact
//! solution, a configuration and a `run` that trains and reports the relative L2 error.
//!
//! [`Adam`]: crate::optim::AdamConfig

pub mod burgers;
pub mod poisson;

use retrograd::tensor::autograd::{grad_with, no_grad, BackwardOptions};
use retrograd::tensor::{DType, Tensor};

use crate::init::Init;
use crate::layers::{Linear, Module, Sequential, Tanh};
use crate::optim::{AdamConfig, Optim};
use crate::{NnError, Result, Rng};

/// A fully connected tanh network with layer widths `widths` (input first, output last,
/// no activation after the last layer), Glorot-uniform weights and zero biases, whose
/// parameters have element type `dtype`.
///
/// ```
/// use retrograd::tensor::{DType, Tensor};
/// use retrograd_nn::{layers::Module, pinn::tanh_mlp, Rng};
/// let net = tanh_mlp(&[2, 20, 20, 1], DType::F64, &mut Rng::new(0)).unwrap();
/// let u = net.forward(&Tensor::zeros([5, 2], DType::F64)).unwrap();
/// assert_eq!((u.dims(), u.dtype()), (&[5, 1][..], DType::F64));
/// assert_eq!(net.parameters().len(), 6);
/// ```
pub fn tanh_mlp(widths: &[usize], dtype: DType, rng: &mut Rng) -> Result<Sequential> {
    if widths.len() < 2 || widths.contains(&0) || !dtype.is_float() {
        return Err(NnError::invalid(format!(
            "tanh_mlp needs at least two nonzero widths and a float type, got {widths:?} and {dtype}"
        )));
    }
    let mut net = Sequential::new();
    for (i, pair) in widths.windows(2).enumerate() {
        let l = Linear::with_init(pair[0], pair[1], Init::XavierUniform, true, rng)?;
        let cast = |t: &Tensor| -> Result<Tensor> { Ok(t.to_dtype(dtype)?.requires_grad_()) };
        net = net.add(Linear {
            weight: cast(&l.weight.detach())?,
            bias: l.bias.as_ref().map(|b| cast(&b.detach())).transpose()?,
        });
        if i + 2 < widths.len() {
            net = net.add(Tanh);
        }
    }
    Ok(net)
}

/// The gradient of `Σ y` with respect to `x`, recorded so that it can be differentiated
/// again. When each row of `y` depends only on the same row of `x` (a network applied point
/// by point), row `i` of the result is the gradient of `y[i]` at point `x[i]`.
///
/// ```
/// use retrograd::tensor::Tensor;
/// use retrograd_nn::pinn::input_gradient;
/// let x = Tensor::from_vec(vec![1.0f64, 2.0], [2, 1]).unwrap().requires_grad_();
/// let y = x.powf(3.0).unwrap();
/// let dy = input_gradient(&y, &x).unwrap(); // 3x²
/// let d2y = input_gradient(&dy, &x).unwrap(); // 6x
/// assert_eq!(dy.to_vec::<f64>().unwrap(), vec![3.0, 12.0]);
/// assert_eq!(d2y.to_vec::<f64>().unwrap(), vec![6.0, 12.0]);
/// ```
pub fn input_gradient(y: &Tensor, x: &Tensor) -> Result<Tensor> {
    let ones = Tensor::ones_like(y);
    let opts = BackwardOptions {
        create_graph: true,
        retain_graph: true,
    };
    Ok(grad_with(&[y], &[&ones], &[x], opts)?.remove(0))
}

/// A network's value at `n` points of dimension `d`, its gradient with respect to the
/// point, and chosen unmixed second derivatives — all differentiable with respect to the
/// network's parameters.
///
/// ```
/// use retrograd::tensor::{DType, Tensor};
/// use retrograd_nn::pinn::Derivatives;
/// // u(x, t) = x² t
/// let f = |p: &Tensor| -> retrograd::tensor::Result<Tensor> {
///     p.narrow(1, 0, 1)?.square()?.mul(&p.narrow(1, 1, 1)?)
/// };
/// let points = Tensor::from_vec(vec![3.0f64, 2.0], [1, 2]).unwrap();
/// let d = Derivatives::of(|p| Ok(f(p)?), &points, &[0]).unwrap();
/// assert_eq!(d.u.to_vec::<f64>().unwrap(), vec![18.0]);
/// assert_eq!(d.partial(0).unwrap().to_vec::<f64>().unwrap(), vec![12.0]); // 2xt
/// assert_eq!(d.partial(1).unwrap().to_vec::<f64>().unwrap(), vec![9.0]); // x²
/// assert_eq!(d.second[0].to_vec::<f64>().unwrap(), vec![4.0]); // 2t
/// ```
#[derive(Clone, Debug)]
pub struct Derivatives {
    /// `u` at the points, `(n, 1)`.
    pub u: Tensor,
    /// `∂u/∂x_j` in column `j`, `(n, d)`.
    pub gradient: Tensor,
    /// `∂²u/∂x_j²` for each requested `j`, in the order asked, each `(n, 1)`.
    pub second: Vec<Tensor>,
}

impl Derivatives {
    /// Evaluates `u = f(points)` on a fresh copy of `points` (shape `(n, d)`) that requires
    /// grad, then the gradient and the second derivatives along the axes `second` by
    /// grad-of-grad. `f` must map each row independently to one value.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// use retrograd_nn::pinn::Derivatives;
    /// let x = Tensor::from_vec(vec![0.0f64, 1.0], [2, 1]).unwrap();
    /// let d = Derivatives::of(|x| Ok(x.sin()?), &x, &[0]).unwrap();
    /// let uxx = d.second[0].to_vec::<f64>().unwrap();
    /// assert!(uxx[0].abs() < 1e-15 && (uxx[1] + 1f64.sin()).abs() < 1e-15);
    /// ```
    pub fn of<F>(f: F, points: &Tensor, second: &[usize]) -> Result<Self>
    where
        F: FnOnce(&Tensor) -> Result<Tensor>,
    {
        if points.rank() != 2 {
            return Err(NnError::invalid(format!(
                "points must have shape (n, d), got {}",
                points.shape()
            )));
        }
        let d = points.dims()[1];
        if let Some(&j) = second.iter().find(|&&j| j >= d) {
            return Err(NnError::invalid(format!(
                "second derivative along axis {j} of {d}-dimensional points"
            )));
        }
        let x = points.detach().requires_grad_();
        let u = f(&x)?;
        if u.dims() != [points.dims()[0], 1] {
            return Err(NnError::invalid(format!(
                "u must have shape ({}, 1), got {}",
                points.dims()[0],
                u.shape()
            )));
        }
        let gradient = input_gradient(&u, &x)?;
        let second = second
            .iter()
            .map(|&j| {
                let g = if d == 1 {
                    gradient.clone()
                } else {
                    gradient.narrow(1, j, 1)?
                };
                let h = input_gradient(&g, &x)?;
                Ok(if d == 1 { h } else { h.narrow(1, j, 1)? })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Derivatives {
            u,
            gradient,
            second,
        })
    }

    /// Column `j` of the gradient, `∂u/∂x_j`, `(n, 1)`.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// use retrograd_nn::pinn::Derivatives;
    /// let p = Tensor::from_vec(vec![1.0f64, 5.0], [1, 2]).unwrap();
    /// let d = Derivatives::of(|p| Ok(p.sum(1, true)?), &p, &[]).unwrap();
    /// assert_eq!(d.partial(1).unwrap().to_vec::<f64>().unwrap(), vec![1.0]);
    /// ```
    pub fn partial(&self, j: usize) -> Result<Tensor> {
        Ok(self.gradient.narrow(1, j, 1)?)
    }
}

/// Runs `steps` Adam steps on `params` (`f32` or `f64` tensors that require grad, each
/// updated in its own type), each minimising `loss()`, and returns the loss evaluated at the
/// last step (before its update). Stops with an error naming the step if a loss is not
/// finite.
///
/// ```
/// use retrograd::tensor::Tensor;
/// use retrograd_nn::{optim::AdamConfig, pinn::adam_steps};
/// let w = Tensor::from_vec(vec![3.0f64], [1]).unwrap().requires_grad_();
/// let last = adam_steps(&[w.clone()], AdamConfig::new(0.1), 300, || Ok(w.square()?.sum_all()?))
///     .unwrap();
/// assert!(last < 1e-3, "{last}");
/// ```
pub fn adam_steps<F>(
    params: &[Tensor],
    config: AdamConfig,
    steps: usize,
    mut loss: F,
) -> Result<f64>
where
    F: FnMut() -> Result<Tensor>,
{
    // One state per element type, so f32 and f64 parameters each update in their own type.
    let mut opt64 = Optim::<_, f64>::new_typed(config.clone(), params.len());
    let mut opt32 = Optim::new(config, params.len());
    let mut last = f64::NAN;
    for step in 0..steps {
        for p in params {
            p.zero_grad();
        }
        let l = loss()?;
        last = l.item()?;
        if !last.is_finite() {
            return Err(NnError::invalid(format!(
                "Adam step {step}: the loss is {last}"
            )));
        }
        l.backward()?;
        no_grad(|| -> Result<()> {
            for (i, p) in params.iter().enumerate() {
                let Some(g) = p.grad() else { continue };
                match p.dtype() {
                    DType::F64 => {
                        let g = g.to_vec::<f64>()?;
                        p.update_(|w: &mut [f64]| opt64.step(i, w, &g))?;
                    }
                    _ => {
                        let g = g.to_vec::<f32>()?;
                        p.update_(|w: &mut [f32]| opt32.step(i, w, &g))?;
                    }
                }
            }
            Ok(())
        })?;
    }
    Ok(last)
}

/// `‖pred − exact‖₂ / ‖exact‖₂`.
///
/// ```
/// let e = retrograd_nn::pinn::relative_l2(&[1.0, 2.0], &[1.0, 2.0]);
/// assert_eq!(e, 0.0);
/// ```
pub fn relative_l2(pred: &[f64], exact: &[f64]) -> f64 {
    let num: f64 = pred.iter().zip(exact).map(|(p, e)| (p - e) * (p - e)).sum();
    let den: f64 = exact.iter().map(|e| e * e).sum();
    (num / den).sqrt()
}

/// The trainable tensors of a module, in order.
fn tensors(net: &dyn Module) -> Vec<Tensor> {
    net.parameters().into_iter().map(|(_, t)| t).collect()
}
