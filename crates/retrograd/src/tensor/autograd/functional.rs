//! Functional transforms over closures: `grad`, `value_and_grad`, `vjp`, `jvp`, `hvp`,
//! `hessian`. Inputs are detached copies, so the caller's tensors and graphs are untouched.

use super::engine::{grad_with, BackwardOptions};
use super::mode::enable_grad;
use crate::tensor::error::{invalid, Result};
use crate::tensor::Tensor;

fn fresh_inputs(inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    inputs
        .iter()
        .map(|x| {
            let d = x.fresh_leaf();
            d.set_requires_grad(true)?;
            Ok(d)
        })
        .collect()
}

fn refs(v: &[Tensor]) -> Vec<&Tensor> {
    v.iter().collect()
}

/// The value of scalar-valued `f` at `inputs` and its gradient with respect to each input.
///
/// ```
/// use retrograd::tensor::{autograd::value_and_grad, Tensor};
/// let x = Tensor::from_vec(vec![1.0f64, 2.0], [2]).unwrap();
/// let (v, g) = value_and_grad(|xs| xs[0].mul(&xs[0])?.sum_all(), &[x]).unwrap();
/// assert_eq!(v.item().unwrap(), 5.0);
/// assert_eq!(g[0].to_vec::<f64>().unwrap(), vec![2.0, 4.0]);
/// ```
pub fn value_and_grad<F>(f: F, inputs: &[Tensor]) -> Result<(Tensor, Vec<Tensor>)>
where
    F: FnOnce(&[Tensor]) -> Result<Tensor>,
{
    let xs = fresh_inputs(inputs)?;
    let y = enable_grad(|| f(&xs))?;
    if y.elem_count() != 1 {
        return Err(invalid(
            "grad",
            format!(
                "the function must return one element, it returned shape {}",
                y.shape()
            ),
        ));
    }
    let g = grad_with(&[&y], &[], &refs(&xs), BackwardOptions::default())?;
    Ok((y.detach(), g))
}

/// The gradient of scalar-valued `f` with respect to each input.
///
/// ```
/// use retrograd::tensor::{autograd::grad, Tensor};
/// let x = Tensor::from_vec(vec![0.0f64], [1]).unwrap();
/// let g = grad(|xs| xs[0].sin()?.sum_all(), &[x]).unwrap();
/// assert_eq!(g[0].to_vec::<f64>().unwrap(), vec![1.0]);
/// ```
pub fn grad<F>(f: F, inputs: &[Tensor]) -> Result<Vec<Tensor>>
where
    F: FnOnce(&[Tensor]) -> Result<Tensor>,
{
    Ok(value_and_grad(f, inputs)?.1)
}

/// Vector-Jacobian product: `f(inputs)` and `vᵀ J` for each input.
///
/// ```
/// use retrograd::tensor::{autograd::vjp, Tensor};
/// let x = Tensor::from_vec(vec![1.0f64, 2.0], [2]).unwrap();
/// let v = Tensor::from_vec(vec![1.0f64, 1.0], [2]).unwrap();
/// let (y, g) = vjp(|xs| xs[0].mul(&xs[0]), &[x], &v).unwrap();
/// assert_eq!(y.to_vec::<f64>().unwrap(), vec![1.0, 4.0]);
/// assert_eq!(g[0].to_vec::<f64>().unwrap(), vec![2.0, 4.0]);
/// ```
pub fn vjp<F>(f: F, inputs: &[Tensor], v: &Tensor) -> Result<(Tensor, Vec<Tensor>)>
where
    F: FnOnce(&[Tensor]) -> Result<Tensor>,
{
    let xs = fresh_inputs(inputs)?;
    let y = enable_grad(|| f(&xs))?;
    let g = grad_with(&[&y], &[v], &refs(&xs), BackwardOptions::default())?;
    Ok((y.detach(), g))
}

/// Jacobian-vector product: `f(inputs)` and `J · tangents` (forward-mode directional
/// derivative), computed by differentiating a vector-Jacobian product ("double vjp").
///
/// ```
/// use retrograd::tensor::{autograd::jvp, Tensor};
/// let x = Tensor::from_vec(vec![1.0f64, 2.0], [2]).unwrap();
/// let t = Tensor::from_vec(vec![1.0f64, 0.0], [2]).unwrap();
/// let (_, d) = jvp(|xs| xs[0].mul(&xs[0]), &[x], &[t]).unwrap();
/// assert_eq!(d.to_vec::<f64>().unwrap(), vec![2.0, 0.0]);
/// ```
pub fn jvp<F>(f: F, inputs: &[Tensor], tangents: &[Tensor]) -> Result<(Tensor, Tensor)>
where
    F: FnOnce(&[Tensor]) -> Result<Tensor>,
{
    if tangents.len() != inputs.len() {
        return Err(invalid("jvp", "one tangent per input is needed"));
    }
    let xs = fresh_inputs(inputs)?;
    let y = enable_grad(|| f(&xs))?;
    let u = Tensor::zeros_like(&y).requires_grad_();
    let create = BackwardOptions {
        create_graph: true,
        retain_graph: true,
    };
    // g(u) = uᵀJ is linear in u; its vjp with the tangents is J·t.
    let g = grad_with(&[&y], &[&u], &refs(&xs), create)?;
    let outs: Vec<&Tensor> = g.iter().collect();
    let ts: Vec<&Tensor> = tangents.iter().collect();
    let jt = grad_with(&outs, &ts, &[&u], BackwardOptions::default())?.remove(0);
    Ok((y.detach(), jt))
}

/// Hessian-vector product of scalar-valued `f`: the gradient and `H · v` (per input).
///
/// ```
/// use retrograd::tensor::{autograd::hvp, Tensor};
/// let x = Tensor::from_vec(vec![1.0f64, 2.0], [2]).unwrap();
/// let v = Tensor::from_vec(vec![1.0f64, 1.0], [2]).unwrap();
/// // f = Σ x³, H = diag(6x)
/// let (_, hv) = hvp(|xs| xs[0].powf(3.0)?.sum_all(), &[x], &[v]).unwrap();
/// assert_eq!(hv[0].to_vec::<f64>().unwrap(), vec![6.0, 12.0]);
/// ```
pub fn hvp<F>(f: F, inputs: &[Tensor], v: &[Tensor]) -> Result<(Vec<Tensor>, Vec<Tensor>)>
where
    F: FnOnce(&[Tensor]) -> Result<Tensor>,
{
    if v.len() != inputs.len() {
        return Err(invalid("hvp", "one vector per input is needed"));
    }
    let xs = fresh_inputs(inputs)?;
    let y = enable_grad(|| f(&xs))?;
    let create = BackwardOptions {
        create_graph: true,
        retain_graph: true,
    };
    let g = grad_with(&[&y], &[], &refs(&xs), create)?;
    let outs: Vec<&Tensor> = g.iter().collect();
    let vs: Vec<&Tensor> = v.iter().collect();
    let hv = grad_with(&outs, &vs, &refs(&xs), BackwardOptions::default())?;
    Ok((g.iter().map(|t| t.detach()).collect(), hv))
}

/// The Hessian of scalar-valued `f` at `x` as an `(n, n)` matrix, `n = x.elem_count()`:
/// one Hessian-vector product per row, so meant for small inputs.
///
/// ```
/// use retrograd::tensor::{autograd::hessian, Tensor};
/// let x = Tensor::from_vec(vec![1.0f64, 2.0], [2]).unwrap();
/// // f = x0² x1, H = [[2 x1, 2 x0], [2 x0, 0]]
/// let h = hessian(|x| x.narrow(0, 0, 1)?.powf(2.0)?.mul(&x.narrow(0, 1, 1)?)?.sum_all(), &x).unwrap();
/// assert_eq!(h.to_vec::<f64>().unwrap(), vec![4.0, 2.0, 2.0, 0.0]);
/// ```
pub fn hessian<F>(f: F, x: &Tensor) -> Result<Tensor>
where
    F: Fn(&Tensor) -> Result<Tensor>,
{
    let n = x.elem_count();
    let xs = fresh_inputs(std::slice::from_ref(x))?;
    let y = enable_grad(|| f(&xs[0]))?;
    let create = BackwardOptions {
        create_graph: true,
        retain_graph: true,
    };
    let g = grad_with(&[&y], &[], &[&xs[0]], create)?.remove(0);
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let mut e = vec![0.0; n];
        e[i] = 1.0;
        let e = Tensor::from_vec(e, x.dims())?.to_dtype(x.dtype())?;
        let keep = BackwardOptions {
            retain_graph: true,
            create_graph: false,
        };
        let row = grad_with(&[&g], &[&e], &[&xs[0]], keep)?.remove(0);
        rows.push(row.reshape([n])?);
    }
    Tensor::stack(&rows, 0)
}
