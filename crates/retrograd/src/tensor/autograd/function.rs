//! User-defined differentiable functions.

use super::mode::no_grad;
use super::{record, BackwardCtx, Grads, Save};
use crate::tensor::error::Result;
use crate::tensor::Tensor;
use std::sync::Arc;

/// A differentiable operation defined by the user: a forward computation and its
/// vector-Jacobian product. Forward runs without recording; backward should use tensor ops,
/// so that grad-of-grad works through it when `create_graph` is set.
///
/// ```
/// use retrograd::tensor::{autograd::Function, Result, Tensor};
/// struct Cube;
/// impl Function for Cube {
///     fn name(&self) -> &'static str { "cube" }
///     fn forward(&self, x: &[Tensor]) -> Result<Tensor> { x[0].powf(3.0) }
///     fn backward(&self, x: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
///         Ok(vec![Some(g.mul(&x[0].powf(2.0)?.mul_scalar(3.0)?)?)])
///     }
/// }
/// let x = Tensor::from_vec(vec![2.0f64], [1]).unwrap().requires_grad_();
/// let y = Cube.apply(&[x.clone()]).unwrap();
/// y.sum_all().unwrap().backward().unwrap();
/// assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![12.0]);
/// ```
pub trait Function: Send + Sync + 'static {
    /// The name shown in errors and anomaly reports.
    fn name(&self) -> &'static str {
        "custom function"
    }
    /// Computes the output (recording is off here).
    fn forward(&self, inputs: &[Tensor]) -> Result<Tensor>;
    /// Given the inputs, the output and the output's gradient, the inputs' gradients
    /// (`None` where an input needs none).
    fn backward(&self, inputs: &[Tensor], output: &Tensor, grad: &Tensor) -> Result<Grads>;

    /// Runs the function and records it in the graph.
    #[track_caller]
    fn apply(self, inputs: &[Tensor]) -> Result<Tensor>
    where
        Self: Sized,
    {
        let f = Arc::new(self);
        let y = no_grad(|| f.forward(inputs))?;
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let name = f.name();
        record(
            name,
            y.storage().clone(),
            y.layout().clone(),
            &refs,
            Save::All,
            move |ctx: &BackwardCtx<'_>, g: &Tensor| f.backward(ctx.inputs, ctx.output, g),
        )
    }
}
