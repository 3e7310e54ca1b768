//! Gradient checkpointing: a segment keeps only its inputs and is recomputed in backward.

use super::engine::{grad_with, BackwardOptions};
use super::mode::{enable_grad, is_grad_enabled, no_grad};
use super::{record, BackwardCtx, Save};
use crate::tensor::error::Result;
use crate::tensor::Tensor;
use std::sync::Arc;

/// One step of a [`checkpoint_sequential`] chain.
pub type Segment = Arc<dyn Fn(&Tensor) -> Result<Tensor> + Send + Sync>;

/// Runs `f(inputs)` without saving its intermediate values; backward recomputes them (one
/// extra forward of the segment) and differentiates the recomputation. Memory: the inputs
/// only, instead of every intermediate of `f`. `f` must be deterministic (seed any dropout).
///
/// ```
/// use retrograd::tensor::{autograd::checkpoint, Tensor};
/// let x = Tensor::from_vec(vec![0.5f64, 1.0], [2]).unwrap().requires_grad_();
/// let y = checkpoint(|xs| xs[0].tanh()?.exp(), &[x.clone()]).unwrap();
/// y.sum_all().unwrap().backward().unwrap();
/// let expect: Vec<f64> = [0.5f64, 1.0].iter()
///     .map(|v| v.tanh().exp() * (1.0 - v.tanh().powi(2))).collect();
/// let got = x.grad().unwrap().to_vec::<f64>().unwrap();
/// assert!((got[0] - expect[0]).abs() < 1e-12 && (got[1] - expect[1]).abs() < 1e-12);
/// ```
#[track_caller]
pub fn checkpoint<F>(f: F, inputs: &[Tensor]) -> Result<Tensor>
where
    F: Fn(&[Tensor]) -> Result<Tensor> + Send + Sync + 'static,
{
    let y = no_grad(|| f(inputs))?;
    let refs: Vec<&Tensor> = inputs.iter().collect();
    record(
        "checkpoint",
        y.storage().clone(),
        y.layout().clone(),
        &refs,
        Save::Inputs,
        move |ctx: &BackwardCtx<'_>, g: &Tensor| {
            // Recompute from the saved inputs themselves and differentiate back to them:
            // with create_graph the result stays connected to the graph before the segment.
            let create_graph = is_grad_enabled();
            let y = enable_grad(|| f(ctx.inputs))?;
            let wanted: Vec<&Tensor> = ctx
                .inputs
                .iter()
                .zip(ctx.needs)
                .filter_map(|(x, &need)| need.then_some(x))
                .collect();
            let opts = BackwardOptions {
                create_graph,
                retain_graph: false,
            };
            let mut gs = if y.requires_grad() && !wanted.is_empty() {
                grad_with(&[&y], &[g], &wanted, opts)?.into_iter()
            } else {
                Vec::new().into_iter()
            };
            Ok(ctx
                .needs
                .iter()
                .map(|&need| if need { gs.next() } else { None })
                .collect())
        },
    )
}

/// Runs a chain of functions in `segments` checkpointed groups (the last group is run
/// normally, as its values are needed by backward right away).
///
/// ```
/// use std::sync::Arc;
/// use retrograd::tensor::{autograd::{checkpoint_sequential, Segment}, Tensor};
/// let fs: Vec<Segment> = (0..4).map(|_| Arc::new(|x: &Tensor| x.tanh()) as Segment).collect();
/// let x = Tensor::from_vec(vec![0.3f64], [1]).unwrap().requires_grad_();
/// let y = checkpoint_sequential(&fs, 2, &x).unwrap();
/// y.sum_all().unwrap().backward().unwrap();
/// assert!(x.grad().is_some());
/// ```
#[track_caller]
pub fn checkpoint_sequential(
    functions: &[Segment],
    segments: usize,
    input: &Tensor,
) -> Result<Tensor> {
    let n = functions.len();
    let segments = segments.clamp(1, n.max(1));
    let per = n.div_ceil(segments);
    let mut x = input.clone();
    let mut start = 0;
    while start < n {
        let end = (start + per).min(n);
        let group: Vec<Segment> = functions[start..end].to_vec();
        let run = move |xs: &[Tensor]| -> Result<Tensor> {
            let mut h = xs[0].clone();
            for f in &group {
                h = f(&h)?;
            }
            Ok(h)
        };
        x = if end == n || !is_grad_enabled() {
            run(std::slice::from_ref(&x))?
        } else {
            checkpoint(run, std::slice::from_ref(&x))?
        };
        start = end;
    }
    Ok(x)
}
