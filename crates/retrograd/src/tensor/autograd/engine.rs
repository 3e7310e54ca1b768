//! The reverse sweep: topological order by depth-first search, then one loop from the
//! outputs back, calling each node's rule and accumulating gradients per tensor.
//!
//! The sweep is pruned to tensors that lead to something wanted (a leaf requiring grad, a
//! retained non-leaf, or a requested input), so unneeded gradients are never computed.
//! Unless `retain_graph` is set, each node's saved state is dropped as soon as the sweep has
//! used it, and the sweep's own references are dropped as it goes: memory falls during
//! backward instead of peaking at its end.

use super::mode::{is_anomaly_enabled, GradModeGuard};
use super::{BackwardCtx, NodeState};
use crate::tensor::backend;
use crate::tensor::core::TensorInner;
use crate::tensor::error::{shape_mismatch, Result, TensorError};
use crate::tensor::Tensor;
use std::collections::{HashMap, HashSet};

/// Options of a backward pass.
///
/// ```
/// use retrograd::tensor::autograd::BackwardOptions;
/// let o = BackwardOptions { retain_graph: true, ..Default::default() };
/// assert!(!o.create_graph);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackwardOptions {
    /// Keep the graph so that backward can run through it again.
    pub retain_graph: bool,
    /// Record the backward computation itself, so gradients can be differentiated again
    /// (grad of grad, Hessian-vector products). Implies keeping the graph.
    pub create_graph: bool,
}

type Key = *const TensorInner;

/// Hashing for pointer keys: one multiply instead of SipHash (keys are not adversarial).
#[derive(Default, Clone, Copy)]
struct PtrHasher(u64);

impl std::hash::Hasher for PtrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, v: usize) {
        self.0 = (v as u64 ^ (v as u64 >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type PtrMap<V> = HashMap<Key, V, std::hash::BuildHasherDefault<PtrHasher>>;
type PtrSet = HashSet<Key, std::hash::BuildHasherDefault<PtrHasher>>;

fn key(t: &Tensor) -> Key {
    std::sync::Arc::as_ptr(&t.0)
}

/// Runs a backward sweep from `roots` (each with its seed gradient). With `targets`, returns
/// their gradients and leaves `.grad()` alone; without, accumulates into leaves.
pub(crate) fn run_backward(
    roots: Vec<(Tensor, Tensor)>,
    targets: Option<&[&Tensor]>,
    opts: BackwardOptions,
) -> Result<Vec<Option<Tensor>>> {
    let retain = opts.retain_graph || opts.create_graph;
    let _mode = GradModeGuard::new(opts.create_graph);
    // Rules run the ops in the types recorded by the forward pass, never autocast's.
    let _autocast = crate::tensor::autocast::AutocastGuard::suspend();
    let target_pos: PtrMap<usize> = targets
        .unwrap_or(&[])
        .iter()
        .enumerate()
        .map(|(i, t)| (key(t), i))
        .collect();
    let accumulate = targets.is_none();

    // Post-order DFS: every tensor comes after all tensors it was computed from.
    let mut order: Vec<Option<Tensor>> = Vec::new();
    let mut reach: Vec<bool> = Vec::new();
    let mut index: PtrMap<usize> = PtrMap::default();
    let mut seen: PtrSet = PtrSet::default();
    // A node whose state was freed has no children; it is marked wanted so that the sweep
    // reaches it and reports GraphFreed instead of silently skipping it.
    let children = |t: &Tensor| -> (Vec<Tensor>, bool) {
        if target_pos.contains_key(&key(t)) {
            return (Vec::new(), false);
        }
        match t.node() {
            Some(n) => match n.state().as_ref() {
                Some(s) => (s.inputs.clone(), false),
                None => (Vec::new(), true),
            },
            None => (Vec::new(), false),
        }
    };
    for (root, _) in &roots {
        if !seen.insert(key(root)) {
            continue;
        }
        let (kids, freed) = children(root);
        let mut stack = vec![(root.clone(), kids, freed, 0usize)];
        while let Some((t, kids, freed, pos)) = stack.last_mut() {
            if *pos < kids.len() {
                let c = kids[*pos].clone();
                *pos += 1;
                if seen.insert(key(&c)) {
                    let (cc, cf) = children(&c);
                    stack.push((c, cc, cf, 0));
                }
                continue;
            }
            let wanted = *freed
                || target_pos.contains_key(&key(t))
                || (accumulate && ((t.is_leaf() && t.requires_grad()) || t.grad_state().retain))
                || kids.iter().any(|c| reach[index[&key(c)]]);
            index.insert(key(t), order.len());
            order.push(Some(t.clone()));
            reach.push(wanted);
            stack.pop();
        }
    }

    let mut grads: Vec<Option<Tensor>> = vec![None; order.len()];
    for (root, seed) in roots {
        let i = index[&key(&root)];
        grads[i] = Some(match grads[i].take() {
            Some(g) => g.add(&seed)?,
            None => seed,
        });
    }
    let mut results: Vec<Option<Tensor>> = vec![None; target_pos.len()];

    for i in (0..order.len()).rev() {
        let t = order[i].take().expect("each tensor is visited once");
        let g = grads[i].take();
        let free = |t: &Tensor| {
            if !retain {
                if let Some(n) = t.node() {
                    n.state().take();
                }
            }
        };
        let (Some(mut g), true) = (g, reach[i]) else {
            free(&t);
            continue;
        };
        g = run_hooks(&t, g);
        if let Some(&j) = target_pos.get(&key(&t)) {
            results[j] = Some(g);
            continue;
        }
        if accumulate && ((t.is_leaf() && t.requires_grad()) || t.grad_state().retain) {
            accumulate_grad(&t, &g, opts.create_graph)?;
            if t.is_leaf() {
                run_post_accumulate_hooks(&t);
            }
        }
        let Some(node) = t.node() else { continue };
        // Retained: run the rule under the node's lock. Not retained: take the state out,
        // so it (and everything it saved) is dropped right after this step.
        let guard;
        let taken;
        let state = if retain {
            guard = node.state();
            guard.as_ref()
        } else {
            taken = node.state().take();
            taken.as_ref()
        };
        let Some(state) = state else {
            return Err(TensorError::GraphFreed { op: node.name });
        };
        check_versions(node.name, state, &t)?;
        let needs: Vec<bool> = state
            .inputs
            .iter()
            .map(|x| index.get(&key(x)).is_some_and(|&j| reach[j]))
            .collect();
        if !needs.iter().any(|&n| n) {
            continue;
        }
        let ctx = BackwardCtx {
            inputs: &state.inputs,
            output: &t,
            needs: &needs,
        };
        let input_grads = (state.backward)(&ctx, &g).map_err(|e| match e {
            // A non-finite value inside a rule is reported as this op's backward.
            TensorError::NonFinite { .. } => TensorError::NonFinite {
                op: node.name,
                phase: "backward",
                location: Some(node.location),
            },
            other => other,
        })?;
        for ((x, gx), &need) in state.inputs.iter().zip(input_grads).zip(&needs) {
            let (Some(gx), true) = (gx, need) else {
                continue;
            };
            if gx.dims() != x.dims() || gx.dtype() != x.dtype() {
                return Err(shape_mismatch(
                    node.name,
                    gx.dims(),
                    x.dims(),
                    format!(
                        "backward rule returned a {} gradient for a {} input",
                        gx.dtype(),
                        x.dtype()
                    ),
                ));
            }
            if is_anomaly_enabled() && !backend::all_finite(&gx.read(), gx.layout()) {
                return Err(TensorError::NonFinite {
                    op: node.name,
                    phase: "backward",
                    location: Some(node.location),
                });
            }
            let j = index[&key(x)];
            grads[j] = Some(match grads[j].take() {
                Some(prev) => prev.add(&gx)?,
                None => gx,
            });
        }
    }
    Ok(results)
}

fn run_hooks(t: &Tensor, mut g: Tensor) -> Tensor {
    // Hooks run without the lock held, so they may read this tensor's state.
    let hooks = std::mem::take(&mut t.grad_state().hooks);
    if hooks.is_empty() {
        return g;
    }
    for h in &hooks {
        if let Some(new) = h(&g) {
            g = new;
        }
    }
    let mut st = t.grad_state();
    let added = std::mem::replace(&mut st.hooks, hooks);
    st.hooks.extend(added);
    g
}

fn run_post_accumulate_hooks(t: &Tensor) {
    // As in run_hooks: called without the lock, so a hook may read the gradient.
    let hooks = std::mem::take(&mut t.grad_state().post_accumulate);
    for h in &hooks {
        h(t);
    }
    let mut st = t.grad_state();
    let added = std::mem::replace(&mut st.post_accumulate, hooks);
    st.post_accumulate.extend(added);
}

fn accumulate_grad(t: &Tensor, g: &Tensor, create_graph: bool) -> Result<()> {
    // Without create_graph the stored gradient is a plain contiguous tensor, so optimizers
    // can read it as a slice; with it, the gradient keeps its graph (for grad of grad).
    let g = if create_graph {
        g.clone()
    } else {
        g.detach().contiguous()?
    };
    let prev = t.grad_state().grad.take();
    let new = match prev {
        Some(p) => p.add(&g)?,
        None => g,
    };
    t.grad_state().grad = Some(new);
    Ok(())
}

fn check_versions(op: &'static str, state: &NodeState, output: &Tensor) -> Result<()> {
    if let Some(saved) = &state.input_versions {
        for (x, &v) in state.inputs.iter().zip(saved) {
            if x.version() != v {
                return Err(TensorError::ModifiedInPlace {
                    op,
                    saved: v,
                    current: x.version(),
                });
            }
        }
    }
    if let Some(v) = state.output_version {
        if output.version() != v {
            return Err(TensorError::ModifiedInPlace {
                op,
                saved: v,
                current: output.version(),
            });
        }
    }
    Ok(())
}

fn seed_for(t: &Tensor, grad: Option<&Tensor>) -> Result<Tensor> {
    if !t.requires_grad() {
        return Err(TensorError::NoGradient {
            detail: format!(
                "the {} tensor of shape {} does not require grad (no input of its computation \
                 was marked requires_grad, or it was computed under no_grad)",
                t.dtype(),
                t.shape()
            ),
        });
    }
    match grad {
        Some(g) => {
            if g.dims() != t.dims() {
                return Err(shape_mismatch(
                    "backward",
                    t.dims(),
                    g.dims(),
                    "the output gradient must have the output's shape",
                ));
            }
            Ok(g.to_dtype(t.dtype())?)
        }
        None => {
            if t.elem_count() != 1 {
                return Err(TensorError::NoGradient {
                    detail: format!(
                        "backward() needs a scalar (one element) but the shape is {}; \
                         use backward_with and an explicit output gradient",
                        t.shape()
                    ),
                });
            }
            Ok(Tensor::ones_like(t))
        }
    }
}

impl Tensor {
    /// Computes the gradient of this one-element tensor with respect to every leaf that
    /// requires grad, accumulating into their [`grad`](Tensor::grad). Frees the graph.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// let x = Tensor::from_vec(vec![2.0f64], [1]).unwrap().requires_grad_();
    /// let y = x.powf(3.0).unwrap().sum_all().unwrap();
    /// y.backward().unwrap();
    /// assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![12.0]);
    /// // the graph is gone now:
    /// assert!(y.backward().is_err());
    /// ```
    pub fn backward(&self) -> Result<()> {
        self.backward_with(None, BackwardOptions::default())
    }

    /// Backward with an explicit output gradient (`None`: ones, for a scalar) and options.
    ///
    /// ```
    /// use retrograd::tensor::{autograd::BackwardOptions, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f64, 2.0], [2]).unwrap().requires_grad_();
    /// let y = x.mul_scalar(3.0).unwrap();
    /// let v = Tensor::from_vec(vec![1.0f64, 10.0], [2]).unwrap();
    /// let opts = BackwardOptions { retain_graph: true, ..Default::default() };
    /// y.backward_with(Some(&v), opts).unwrap();
    /// y.backward_with(Some(&v), opts).unwrap(); // accumulates
    /// assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![6.0, 60.0]);
    /// ```
    pub fn backward_with(&self, grad: Option<&Tensor>, opts: BackwardOptions) -> Result<()> {
        let seed = seed_for(self, grad)?;
        run_backward(vec![(self.clone(), seed)], None, opts)?;
        Ok(())
    }
}

/// Gradients of `outputs` (weighted by `grad_outputs`, or ones for one-element outputs when
/// empty) with respect to `inputs`, returned rather than accumulated; inputs the outputs do
/// not depend on get zeros. With `create_graph` the results are differentiable again.
///
/// ```
/// use retrograd::tensor::{autograd::{grad_with, BackwardOptions}, Tensor};
/// let x = Tensor::from_vec(vec![3.0f64], [1]).unwrap().requires_grad_();
/// let y = x.powf(3.0).unwrap().sum_all().unwrap();
/// let opts = BackwardOptions { create_graph: true, ..Default::default() };
/// let dy = grad_with(&[&y], &[], &[&x], opts).unwrap().remove(0); // 3x² = 27
/// let d2y = grad_with(&[&dy.sum_all().unwrap()], &[], &[&x], opts).unwrap().remove(0); // 6x
/// assert_eq!(dy.to_vec::<f64>().unwrap(), vec![27.0]);
/// assert_eq!(d2y.to_vec::<f64>().unwrap(), vec![18.0]);
/// assert!(x.grad().is_none());
/// ```
pub fn grad_with(
    outputs: &[&Tensor],
    grad_outputs: &[&Tensor],
    inputs: &[&Tensor],
    opts: BackwardOptions,
) -> Result<Vec<Tensor>> {
    if !grad_outputs.is_empty() && grad_outputs.len() != outputs.len() {
        return Err(crate::tensor::error::invalid(
            "grad",
            format!(
                "{} outputs but {} output gradients",
                outputs.len(),
                grad_outputs.len()
            ),
        ));
    }
    let mut roots = Vec::with_capacity(outputs.len());
    for (i, o) in outputs.iter().enumerate() {
        if !o.requires_grad() {
            continue; // contributes zero
        }
        roots.push(((*o).clone(), seed_for(o, grad_outputs.get(i).copied())?));
    }
    let res = if roots.is_empty() {
        vec![None; inputs.len()]
    } else {
        run_backward(roots, Some(inputs), opts)?
    };
    Ok(res
        .into_iter()
        .zip(inputs)
        .map(|(g, x)| g.unwrap_or_else(|| Tensor::zeros_like(x)))
        .collect())
}
