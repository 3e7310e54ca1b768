//! Fused elementwise ops for derivative rules. A rule written with basic ops (the tanh
//! rule `g·(1 − y²)` is a square, an affine map and a product) runs one kernel per op, and
//! when gradients are differentiated again (grad-of-grad, as physics-informed networks
//! do) each of those ops is differentiated in turn. These ops do the same in one pass, and
//! their own rules are again written with them, so derivatives of every order stay fused.

use crate::tensor::autograd::{record_new, Save};
use crate::tensor::backend::{self, BinaryOp};
use crate::tensor::error::Result;
use crate::tensor::shape::{broadcast_layout, broadcast_shapes};
use crate::tensor::Tensor;

impl Tensor {
    /// `g · (1 − y²)` with `self` as `g`, broadcasting: the gradient `g` of `tanh`'s output
    /// `y` carried back to its input, in one pass (PyTorch's `tanh_backward`). It is the
    /// rule of [`tanh`](Tensor::tanh). Rule: `v·(1 − y²)` for `g` and `−2·v·g·y` for `y`
    /// (see [`mul3`](Tensor::mul3)).
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let g = Tensor::from_vec(vec![2.0f64, 1.0], [2]).unwrap();
    /// let y = Tensor::from_vec(vec![0.5f64, -1.0], [2]).unwrap();
    /// assert_eq!(g.tanh_backward(&y).unwrap().to_vec::<f64>().unwrap(), vec![1.5, 0.0]);
    /// ```
    #[track_caller]
    pub fn tanh_backward(&self, y: &Tensor) -> Result<Tensor> {
        self.binary_reducing(
            "tanh_backward",
            BinaryOp::TanhBackward,
            y,
            Save::Inputs,
            |g, y, v, needs| {
                Ok([
                    needs[0]
                        .then(|| v.tanh_backward(y)?.sum_to(g.dims()))
                        .transpose()?,
                    needs[1]
                        .then(|| v.mul3(g, y, -2.0)?.sum_to(y.dims()))
                        .transpose()?,
                ])
            },
        )
    }

    /// `scale · a · b · c` elementwise with `self` as `a`, all three broadcast together, in
    /// one pass. Rule: each factor's gradient is `scale · v ·` the other two, again one
    /// `mul3`. All three must have one float type.
    ///
    /// ```
    /// # use retrograd::tensor::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f64, 2.0], [2]).unwrap();
    /// let b = Tensor::from_vec(vec![3.0f64], [1]).unwrap();
    /// let p = a.mul3(&b, &a, -2.0).unwrap(); // −2·a²·b
    /// assert_eq!(p.to_vec::<f64>().unwrap(), vec![-6.0, -24.0]);
    /// ```
    #[track_caller]
    pub fn mul3(&self, b: &Tensor, c: &Tensor, scale: f64) -> Result<Tensor> {
        let op = "mul3";
        self.require_float(op)?;
        self.require_same_dtype(op, b)?;
        self.require_same_dtype(op, c)?;
        let dims = broadcast_shapes(op, self.dims(), b.dims())?;
        let dims = broadcast_shapes(op, &dims, c.dims())?;
        let la = broadcast_layout(op, self.layout(), &dims)?;
        let lb = broadcast_layout(op, b.layout(), &dims)?;
        let lc = broadcast_layout(op, c.layout(), &dims)?;
        let data = Tensor::read_all(&[self, b, c], |s| {
            backend::mul3(scale, (s[0], &la), (s[1], &lb), (s[2], &lc))
        })?;
        record_new(
            op,
            data,
            dims,
            &[self, b, c],
            Save::Inputs,
            move |ctx, v| {
                let x = ctx.inputs;
                (0..3)
                    .map(|i| {
                        if !ctx.needs(i) {
                            return Ok(None);
                        }
                        let (p, q) = (&x[(i + 1) % 3], &x[(i + 2) % 3]);
                        Ok(Some(v.mul3(p, q, scale)?.sum_to(x[i].dims())?))
                    })
                    .collect()
            },
        )
    }
}
