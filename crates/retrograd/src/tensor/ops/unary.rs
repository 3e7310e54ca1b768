//! Elementwise functions of one tensor. The table below is the whole story: each line gives
//! the op, the kernel, what its rule reads, and the rule `d/dx` applied to the upstream
//! gradient `g`, given the input `x` and the output `y`.

use crate::tensor::autograd::{constant, is_grad_enabled, no_grad, record_new, Save};
use crate::tensor::backend::{self, BinaryOp, UnaryOp};
use crate::tensor::error::Result;
use crate::tensor::shape::broadcast_layout;
use crate::tensor::Tensor;
use std::f64::consts::PI;

type Rule = fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>;

impl Tensor {
    /// Applies the elementwise kernel `op` and records `rule` as its backward.
    #[track_caller]
    pub(crate) fn unary_op(
        &self,
        name: &'static str,
        op: UnaryOp,
        save: Save,
        rule: Rule,
    ) -> Result<Tensor> {
        self.require_float(name)?;
        let data = backend::unary(op, &self.read(), self.layout())?;
        record_new(
            name,
            data,
            self.dims().to_vec(),
            &[self],
            save,
            move |ctx, g| Ok(vec![Some(rule(ctx.input(0), ctx.output, g)?)]),
        )
    }

    /// An elementwise kernel whose result carries no gradient (masks, signs).
    pub(crate) fn unary_constant(&self, name: &'static str, op: UnaryOp) -> Result<Tensor> {
        self.require_float(name)?;
        let data = backend::unary(op, &self.read(), self.layout())?;
        Ok(constant(data, self.dims().to_vec()))
    }
}

/// A detached 0/1 (or ±1) mask computed from `x`: constant for differentiation.
fn mask(x: &Tensor, op: UnaryOp) -> Result<Tensor> {
    no_grad(|| x.unary_constant("mask", op))
}

macro_rules! unary_ops {
    ($( $(#[$doc:meta])* $name:ident: $op:ident, $save:ident, |$x:ident, $y:ident, $g:ident| $rule:expr; )*) => {
        impl Tensor {$(
            $(#[$doc])*
            #[track_caller]
            pub fn $name(&self) -> Result<Tensor> {
                #[allow(unused_variables)]
                fn rule($x: &Tensor, $y: &Tensor, $g: &Tensor) -> Result<Tensor> { $rule }
                self.unary_op(stringify!($name), UnaryOp::$op, Save::$save, rule)
            }
        )*}
    };
}

unary_ops! {
    /// `-x`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, -2.0], [2]).unwrap();
    /// assert_eq!(x.neg().unwrap().to_vec::<f32>().unwrap(), vec![-1.0, 2.0]);
    /// ```
    neg: Neg, Nothing, |x, y, g| g.neg();
    /// `eᕽ`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![0.0f64], [1]).unwrap();
    /// assert_eq!(x.exp().unwrap().item().unwrap(), 1.0);
    /// ```
    exp: Exp, Output, |x, y, g| g.mul(y);
    /// Natural logarithm.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f64], [1]).unwrap();
    /// assert_eq!(x.log().unwrap().item().unwrap(), 0.0);
    /// ```
    log: Log, Inputs, |x, y, g| g.div(x);
    /// Square root. Its derivative `1/(2√x)` is `+inf` at 0.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![4.0f64], [1]).unwrap();
    /// assert_eq!(x.sqrt().unwrap().item().unwrap(), 2.0);
    /// ```
    sqrt: Sqrt, Output, |x, y, g| g.div(&y.mul_scalar(2.0)?);
    /// `|x|`. Gradient `sign(x)`, with the subgradient 0 at the kink `x = 0`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![-3.0f64], [1]).unwrap();
    /// assert_eq!(x.abs().unwrap().item().unwrap(), 3.0);
    /// ```
    abs: Abs, Inputs, |x, y, g| g.mul(&mask(x, UnaryOp::Sign)?);
    /// Sine.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![0.0f64], [1]).unwrap();
    /// assert_eq!(x.sin().unwrap().item().unwrap(), 0.0);
    /// ```
    sin: Sin, Inputs, |x, y, g| g.mul(&x.cos()?);
    /// Cosine.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![0.0f64], [1]).unwrap();
    /// assert_eq!(x.cos().unwrap().item().unwrap(), 1.0);
    /// ```
    cos: Cos, Inputs, |x, y, g| g.mul(&x.sin()?)?.neg();
    /// Hyperbolic tangent; rule `g (1 - y²)`, one fused op ([`tanh_backward`](Tensor::tanh_backward)).
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![0.0f64], [1]).unwrap();
    /// assert_eq!(x.tanh().unwrap().item().unwrap(), 0.0);
    /// ```
    tanh: Tanh, Output, |x, y, g| g.tanh_backward(y);
    /// Logistic sigmoid `1/(1 + e⁻ˣ)`; rule `g y (1 - y)`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![0.0f64], [1]).unwrap();
    /// assert_eq!(x.sigmoid().unwrap().item().unwrap(), 0.5);
    /// ```
    sigmoid: Sigmoid, Output, |x, y, g| g.mul(&y.mul(&y.affine(-1.0, 1.0)?)?);
    /// `max(x, 0)`; gradient 0 at `x = 0`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![-1.0f32, 2.0], [2]).unwrap();
    /// assert_eq!(x.relu().unwrap().to_vec::<f32>().unwrap(), vec![0.0, 2.0]);
    /// ```
    relu: Relu, Inputs, |x, y, g| g.mul_step(x);
    /// GELU with the exact normal CDF, `x Φ(x)`; rule `g (Φ(x) + x φ(x))`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![0.0f64], [1]).unwrap();
    /// assert_eq!(x.gelu().unwrap().item().unwrap(), 0.0);
    /// ```
    gelu: Gelu, Inputs, |x, y, g| {
        let cdf = x.mul_scalar(std::f64::consts::FRAC_1_SQRT_2)?.erf()?.affine(0.5, 0.5)?;
        let pdf = x.square()?.mul_scalar(-0.5)?.exp()?.mul_scalar(1.0 / (2.0 * PI).sqrt())?;
        g.mul(&cdf.add(&x.mul(&pdf)?)?)
    };
    /// SiLU (swish) `x σ(x)`; rule `g σ(x) (1 + x (1 - σ(x)))`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![0.0f64], [1]).unwrap();
    /// assert_eq!(x.silu().unwrap().item().unwrap(), 0.0);
    /// ```
    silu: Silu, Inputs, |x, y, g| {
        let s = x.sigmoid()?;
        g.mul(&s.mul(&x.mul(&s.affine(-1.0, 1.0)?)?.add_scalar(1.0)?)?)
    };
    /// `log(1 + eˣ)`, computed without overflow; rule `g σ(x)`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![1000.0f64], [1]).unwrap();
    /// assert_eq!(x.softplus().unwrap().item().unwrap(), 1000.0);
    /// ```
    softplus: Softplus, Inputs, |x, y, g| g.mul(&x.sigmoid()?);
    /// The error function; rule `g 2/√π e^(-x²)`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![0.0f64], [1]).unwrap();
    /// assert_eq!(x.erf().unwrap().item().unwrap(), 0.0);
    /// ```
    erf: Erf, Inputs, |x, y, g| g.mul(&x.square()?.neg()?.exp()?.mul_scalar(2.0 / PI.sqrt())?);
    /// `1/x`; rule `-g y²`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![4.0f64], [1]).unwrap();
    /// assert_eq!(x.recip().unwrap().item().unwrap(), 0.25);
    /// ```
    recip: Recip, Output, |x, y, g| g.mul(&y.square()?)?.neg();
}

impl Tensor {
    /// This view with every broadcast axis (stride 0, size > 1) narrowed to size 1: the same
    /// values in compact form, which broadcasts back to this shape.
    fn compact_broadcast(&self) -> Result<Tensor> {
        let mut t = self.clone();
        for (a, (&d, &s)) in self.dims().iter().zip(self.strides()).enumerate() {
            if s == 0 && d > 1 {
                t = t.narrow(a as isize, 0, 1)?;
            }
        }
        Ok(t)
    }

    /// `self · 1[x > 0]` in one pass (the relu rule); differentiable in `self` only, like a
    /// product with the detached mask `1[x > 0]`.
    #[track_caller]
    fn mul_step(&self, x: &Tensor) -> Result<Tensor> {
        self.require_same_dtype("relu", x)?;
        let la = broadcast_layout("relu", x.layout(), self.dims())?;
        let data = Tensor::read_all(&[self, x], |s| {
            backend::binary(BinaryOp::MulStep, s[0], self.layout(), s[1], &la)
        })?;
        let x = x.detach();
        record_new(
            "relu_backward",
            data,
            self.dims().to_vec(),
            &[self],
            Save::Nothing,
            move |_, v| Ok(vec![Some(v.mul_step(&x)?)]),
        )
    }

    /// `x²`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![3.0f64], [1]).unwrap();
    /// assert_eq!(x.square().unwrap().item().unwrap(), 9.0);
    /// ```
    #[track_caller]
    pub fn square(&self) -> Result<Tensor> {
        self.powf(2.0)
    }

    /// `xᵖ` for a constant exponent; rule `g p xᵖ⁻¹`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![2.0f64], [1]).unwrap();
    /// assert_eq!(x.powf(3.0).unwrap().item().unwrap(), 8.0);
    /// ```
    #[track_caller]
    pub fn powf(&self, p: f64) -> Result<Tensor> {
        self.require_float("powf")?;
        let data = backend::unary(UnaryOp::Powf(p), &self.read(), self.layout())?;
        record_new(
            "powf",
            data,
            self.dims().to_vec(),
            &[self],
            Save::Inputs,
            move |ctx, g| {
                let x = ctx.input(0);
                if p == 2.0 && !is_grad_enabled() {
                    // g·2x = (2g)·x exactly; when g is a broadcast (the gradient of a sum or
                    // mean), doubling its compact form saves a full pass. Only when the rule
                    // is not recorded: the compact view would route second derivatives to
                    // one slice of g.
                    return Ok(vec![Some(g.compact_broadcast()?.mul_scalar(2.0)?.mul(x)?)]);
                }
                let d = if p == 2.0 {
                    x.mul_scalar(2.0)?
                } else {
                    x.powf(p - 1.0)?.mul_scalar(p)?
                };
                Ok(vec![Some(g.mul(&d)?)])
            },
        )
    }

    /// `a x + b` for constants `a`, `b`; rule `g a`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![2.0f64], [1]).unwrap();
    /// assert_eq!(x.affine(3.0, 1.0).unwrap().item().unwrap(), 7.0);
    /// ```
    #[track_caller]
    pub fn affine(&self, a: f64, b: f64) -> Result<Tensor> {
        self.require_float("affine")?;
        let data = backend::unary(UnaryOp::Affine(a, b), &self.read(), self.layout())?;
        record_new(
            "affine",
            data,
            self.dims().to_vec(),
            &[self],
            Save::Nothing,
            move |_, g| Ok(vec![Some(g.mul_scalar(a)?)]),
        )
    }

    /// `x + s`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![2.0f64], [1]).unwrap();
    /// assert_eq!(x.add_scalar(1.0).unwrap().item().unwrap(), 3.0);
    /// ```
    #[track_caller]
    pub fn add_scalar(&self, s: f64) -> Result<Tensor> {
        self.affine(1.0, s)
    }

    /// `x · s`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![2.0f64], [1]).unwrap();
    /// assert_eq!(x.mul_scalar(3.0).unwrap().item().unwrap(), 6.0);
    /// ```
    #[track_caller]
    pub fn mul_scalar(&self, s: f64) -> Result<Tensor> {
        self.affine(s, 0.0)
    }

    /// `max(x, slope·x)`-style leaky ReLU: `x` for `x > 0`, else `slope · x`.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![-2.0f64, 3.0], [2]).unwrap();
    /// assert_eq!(x.leaky_relu(0.1).unwrap().to_vec::<f64>().unwrap(), vec![-0.2, 3.0]);
    /// ```
    #[track_caller]
    pub fn leaky_relu(&self, slope: f64) -> Result<Tensor> {
        self.require_float("leaky_relu")?;
        let data = backend::unary(UnaryOp::LeakyRelu(slope), &self.read(), self.layout())?;
        record_new(
            "leaky_relu",
            data,
            self.dims().to_vec(),
            &[self],
            Save::Inputs,
            move |ctx, g| {
                // 1 where x > 0, slope elsewhere.
                let d = mask(ctx.input(0), UnaryOp::Step)?.affine(1.0 - slope, slope)?;
                Ok(vec![Some(g.mul(&d)?)])
            },
        )
    }

    /// Clamps into `[lo, hi]`; the gradient is 1 inside (boundaries included), 0 outside.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![-2.0f64, 0.5, 3.0], [3]).unwrap();
    /// assert_eq!(x.clamp(0.0, 1.0).unwrap().to_vec::<f64>().unwrap(), vec![0.0, 0.5, 1.0]);
    /// ```
    #[track_caller]
    pub fn clamp(&self, lo: f64, hi: f64) -> Result<Tensor> {
        self.require_float("clamp")?;
        let data = backend::unary(UnaryOp::Clamp(lo, hi), &self.read(), self.layout())?;
        record_new(
            "clamp",
            data,
            self.dims().to_vec(),
            &[self],
            Save::Inputs,
            move |ctx, g| {
                Ok(vec![Some(
                    g.mul(&mask(ctx.input(0), UnaryOp::InRange(lo, hi))?)?,
                )])
            },
        )
    }

    /// `sign(x)` in {-1, 0, 1} (NaN stays NaN). Carries no gradient.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![-2.0f64, 0.0, 3.0], [3]).unwrap();
    /// assert_eq!(x.sign().unwrap().to_vec::<f64>().unwrap(), vec![-1.0, 0.0, 1.0]);
    /// ```
    pub fn sign(&self) -> Result<Tensor> {
        self.unary_constant("sign", UnaryOp::Sign)
    }
}
