//! Checking derivative rules against central finite differences.

use super::autograd::{grad_with, no_grad, BackwardOptions};
use super::error::{invalid, Result};
use super::{DType, Rng, Tensor};

/// Step and tolerances of [`gradcheck`].
///
/// ```
/// use retrograd::tensor::GradcheckOptions;
/// let o = GradcheckOptions { atol: 1e-4, ..Default::default() };
/// assert_eq!(o.eps, 1e-6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradcheckOptions {
    /// Finite-difference step.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance (of the numerical derivative's magnitude).
    pub rtol: f64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-4,
        }
    }
}

/// Checks the gradients autograd computes for `f` at `inputs` against central finite
/// differences, in `f64`. The output is reduced with fixed random weights (so that errors
/// cannot cancel in a plain sum). Float inputs are checked; `I64` inputs (indices, labels)
/// are passed through. Returns an error describing the worst mismatch.
///
/// ```
/// use retrograd::tensor::{gradcheck, GradcheckOptions, Tensor};
/// let x = Tensor::from_vec(vec![0.3f64, -1.2, 2.0], [3]).unwrap();
/// gradcheck(|xs| xs[0].tanh()?.mul(&xs[0]), &[x], GradcheckOptions::default()).unwrap();
/// ```
pub fn gradcheck<F>(f: F, inputs: &[Tensor], opts: GradcheckOptions) -> Result<()>
where
    F: Fn(&[Tensor]) -> Result<Tensor>,
{
    let xs: Vec<Tensor> = inputs
        .iter()
        .map(|x| {
            if x.dtype().is_float() {
                let c = no_grad(|| x.to_dtype(DType::F64)?.copy())?;
                c.set_requires_grad(true)?;
                Ok(c)
            } else {
                Ok(x.detach())
            }
        })
        .collect::<Result<_>>()?;
    let y = f(&xs)?;
    let w = Tensor::randn(y.dims(), 0.0, 1.0, DType::F64, &mut Rng::new(0x5eed));
    let objective =
        |xs: &[Tensor]| -> Result<Tensor> { f(xs)?.to_dtype(DType::F64)?.mul(&w)?.sum_all() };
    let loss = objective(&xs)?;
    let float_idx: Vec<usize> = (0..xs.len())
        .filter(|&i| xs[i].dtype().is_float())
        .collect();
    let wrt: Vec<&Tensor> = float_idx.iter().map(|&i| &xs[i]).collect();
    let analytic = if loss.requires_grad() {
        grad_with(&[&loss], &[], &wrt, BackwardOptions::default())?
    } else {
        wrt.iter().map(|x| Tensor::zeros_like(x)).collect()
    };
    let mut worst: Option<(f64, String)> = None;
    for (k, &i) in float_idx.iter().enumerate() {
        let base = xs[i].to_vec::<f64>()?;
        let got = analytic[k].to_vec_f64();
        for j in 0..base.len() {
            let eval = |delta: f64| -> Result<f64> {
                let mut v = base.clone();
                v[j] += delta;
                let mut probe = xs.clone();
                probe[i] = Tensor::from_vec(v, xs[i].dims())?.requires_grad_();
                objective(&probe)?.item() // recording stays on: `f` may differentiate inside
            };
            let numeric = (eval(opts.eps)? - eval(-opts.eps)?) / (2.0 * opts.eps);
            let err = (numeric - got[j]).abs();
            let tol = opts.atol + opts.rtol * numeric.abs();
            if err > tol || got[j].is_nan() != numeric.is_nan() {
                let excess = err / tol;
                if worst.as_ref().is_none_or(|(e, _)| excess > *e) {
                    worst = Some((
                        excess,
                        format!(
                            "input {i}, element {j}: autograd {} vs finite differences {numeric} \
                             (error {err:.3e}, tolerance {tol:.3e})",
                            got[j]
                        ),
                    ));
                }
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((_, msg)) => Err(invalid("gradcheck", msg)),
    }
}
