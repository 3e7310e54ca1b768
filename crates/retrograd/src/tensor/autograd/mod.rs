//! Define-by-run autograd: graph nodes, recording, grad modes and anomaly detection.
//!
//! An op that has an input requiring grad records a `Node` inside its output tensor: the
//! op's name, where it was called, its inputs, the storage versions of what its backward
//! reads, and the backward rule (a closure written with differentiable tensor ops, so that
//! running it with recording on yields grad-of-grad). Nodes point only to older tensors,
//! so the graph is a DAG of `Arc`s with no cycles; it is freed as backward passes it unless
//! `retain_graph` is set.

mod checkpoint;
mod engine;
mod function;
mod functional;
mod mode;

pub use checkpoint::{checkpoint, checkpoint_sequential, Segment};
pub use engine::{grad_with, BackwardOptions};
pub use function::Function;
pub use functional::{grad, hessian, hvp, jvp, value_and_grad, vjp};
pub use mode::{
    detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled, no_grad, AnomalyGuard,
    GradModeGuard,
};

use super::backend;
use super::error::{Result, TensorError};
use super::shape::Layout;
use super::storage::Storage;
use super::Tensor;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

static LIVE_NODES: AtomicUsize = AtomicUsize::new(0);

/// Number of graph nodes whose saved state is alive (for memory-leak tests): it returns to
/// its earlier value once the graphs built since are backwarded or dropped.
///
/// ```
/// use retrograd::tensor::{live_nodes, DType, Tensor};
/// let w = Tensor::ones([3], DType::F32).requires_grad_();
/// let before = live_nodes();
/// let loss = w.exp().unwrap().sum_all().unwrap();
/// assert!(live_nodes() >= before + 2);
/// loss.backward().unwrap();
/// drop(loss);
/// ```
pub fn live_nodes() -> usize {
    LIVE_NODES.load(Ordering::Relaxed)
}

/// The gradients a backward rule returns: one per input, `None` for inputs that need none.
pub type Grads = Vec<Option<Tensor>>;

/// A backward rule: given the context and the gradient of the output, the input gradients.
pub(crate) type BackwardFn = dyn Fn(&BackwardCtx<'_>, &Tensor) -> Result<Grads> + Send + Sync;

/// What a backward rule sees: the op's inputs and output, and which inputs need gradients.
pub(crate) struct BackwardCtx<'a> {
    /// The inputs of the op, in order.
    pub(crate) inputs: &'a [Tensor],
    /// The output of the op (with its node, so rules using it stay differentiable).
    pub(crate) output: &'a Tensor,
    /// For each input, whether backward needs its gradient (others may be `None`).
    pub(crate) needs: &'a [bool],
}

impl BackwardCtx<'_> {
    /// Input `i`.
    pub(crate) fn input(&self, i: usize) -> &Tensor {
        &self.inputs[i]
    }
    /// Whether input `i` needs a gradient.
    pub(crate) fn needs(&self, i: usize) -> bool {
        self.needs[i]
    }
}

/// Which tensors a backward rule reads (their versions are checked before it runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Save {
    /// Neither inputs nor output (e.g. add, views).
    Nothing,
    /// The inputs.
    Inputs,
    /// The output.
    Output,
    /// Inputs and output.
    All,
    /// The first this-many inputs (e.g. a convolution reads its input and weights, not its
    /// bias).
    Leading(usize),
}

/// The graph node stored in an op's output tensor.
pub(crate) struct Node {
    pub(crate) name: &'static str,
    pub(crate) location: &'static Location<'static>,
    state: Mutex<Option<NodeState>>,
}

pub(crate) struct NodeState {
    pub(crate) inputs: Vec<Tensor>,
    /// Storage versions of the inputs at record time, if the rule reads them.
    pub(crate) input_versions: Option<Vec<u64>>,
    /// Storage version of the output at record time, if the rule reads it.
    pub(crate) output_version: Option<u64>,
    pub(crate) backward: Box<BackwardFn>,
}

impl Drop for NodeState {
    fn drop(&mut self) {
        LIVE_NODES.fetch_sub(1, Ordering::Relaxed);
        // Dropping the last handle of a long chain (an unrolled loop of 10⁵ steps) would
        // recurse once per node and overflow the stack. Unlink iteratively instead: before
        // an input whose last handle we hold is dropped, move its own inputs onto the stack.
        let mut stack = std::mem::take(&mut self.inputs);
        while let Some(t) = stack.pop() {
            if Arc::strong_count(&t.0) == 1 {
                if let Some(node) = t.node() {
                    if let Some(mut state) = node.state().take() {
                        stack.append(&mut state.inputs);
                    }
                }
            }
        }
    }
}

impl Node {
    pub(crate) fn state(&self) -> MutexGuard<'_, Option<NodeState>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A gradient hook: sees a tensor's gradient in backward and may replace it.
pub(crate) type Hook = Box<dyn Fn(&Tensor) -> Option<Tensor> + Send + Sync>;

/// A hook run on a leaf once backward has accumulated its gradient.
pub(crate) type PostAccumulateHook = Box<dyn Fn(&Tensor) + Send + Sync>;

/// Per-tensor gradient slot and hooks.
#[derive(Default)]
pub(crate) struct GradState {
    pub(crate) grad: Option<Tensor>,
    pub(crate) hooks: Vec<Hook>,
    pub(crate) post_accumulate: Vec<PostAccumulateHook>,
    pub(crate) retain: bool,
}

/// Wraps a kernel result as the output of op `name`, recording a node when grad mode is on
/// and some input requires grad. Checks for NaN/inf when anomaly detection is on.
#[track_caller]
pub(crate) fn record<F>(
    name: &'static str,
    storage: Arc<Storage>,
    layout: Layout,
    inputs: &[&Tensor],
    save: Save,
    backward: F,
) -> Result<Tensor>
where
    F: Fn(&BackwardCtx<'_>, &Tensor) -> Result<Grads> + Send + Sync + 'static,
{
    let location = Location::caller();
    if mode::is_anomaly_enabled() && !backend::all_finite(&storage.read(), &layout) {
        return Err(TensorError::NonFinite {
            op: name,
            phase: "forward",
            location: Some(location),
        });
    }
    let track = mode::is_grad_enabled()
        && inputs.iter().any(|t| t.requires_grad())
        && storage.read().dtype().is_float();
    if !track {
        if !mode::is_grad_enabled() {
            mode::note_untracked(inputs);
        }
        return Ok(Tensor::from_parts(storage, layout, None));
    }
    let input_versions = match save {
        Save::Inputs | Save::All => Some(inputs.iter().map(|t| t.version()).collect()),
        Save::Leading(k) => Some(inputs.iter().take(k).map(|t| t.version()).collect()),
        Save::Nothing | Save::Output => None,
    };
    let output_version = matches!(save, Save::Output | Save::All).then(|| storage.version());
    LIVE_NODES.fetch_add(1, Ordering::Relaxed);
    let state = NodeState {
        inputs: inputs.iter().map(|&t| t.clone()).collect(),
        input_versions,
        output_version,
        backward: Box::new(backward),
    };
    let node = Node {
        name,
        location,
        state: Mutex::new(Some(state)),
    };
    Ok(Tensor::from_parts(storage, layout, Some(node)))
}

/// [`record`] for a freshly computed contiguous result.
#[track_caller]
pub(crate) fn record_new<F>(
    name: &'static str,
    data: super::storage::StorageData,
    dims: Vec<usize>,
    inputs: &[&Tensor],
    save: Save,
    backward: F,
) -> Result<Tensor>
where
    F: Fn(&BackwardCtx<'_>, &Tensor) -> Result<Grads> + Send + Sync + 'static,
{
    let layout = Layout::contiguous(name, dims)?;
    record(
        name,
        Arc::new(Storage::new(data)),
        layout,
        inputs,
        save,
        backward,
    )
}

/// A result that never carries a gradient (comparisons, argmax, integer outputs).
pub(crate) fn constant(data: super::storage::StorageData, dims: Vec<usize>) -> Tensor {
    Tensor::from_data(data, dims)
}

impl Tensor {
    /// Registers a hook called with this tensor's gradient during backward; returning
    /// `Some(g)` replaces the gradient passed on (and accumulated).
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// let w = Tensor::ones([2], DType::F64).requires_grad_();
    /// w.register_hook(|g| Some(g.mul_scalar(10.0).unwrap()));
    /// w.sum_all().unwrap().backward().unwrap();
    /// assert_eq!(w.grad().unwrap().to_vec::<f64>().unwrap(), vec![10.0, 10.0]);
    /// ```
    pub fn register_hook<F>(&self, hook: F)
    where
        F: Fn(&Tensor) -> Option<Tensor> + Send + Sync + 'static,
    {
        self.grad_state().hooks.push(Box::new(hook));
    }

    /// Registers a hook called with this leaf once a backward pass has accumulated its
    /// gradient into [`grad`](Tensor::grad): the gradient is final for that pass (each
    /// tensor is visited once per sweep), so the hook may read it, e.g. to start sending
    /// it while the sweep goes on (data-parallel training overlaps its all-reduce with the
    /// rest of backward this way). PyTorch's `register_post_accumulate_grad_hook`.
    ///
    /// Hooks run in the order they were registered, on the thread running backward, in
    /// the order the sweep reaches the leaves (those used last in the forward first). A
    /// leaf the output does not depend on gets no call. Backward passes that return
    /// gradients instead of accumulating them ([`grad_with`](super::autograd::grad_with))
    /// do not call them. Errors for a tensor that is not a leaf requiring grad.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use retrograd::tensor::{DType, Tensor};
    /// let w = Tensor::ones([2], DType::F64).requires_grad_();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// w.register_post_accumulate_grad_hook(move |w| {
    ///     log.lock().unwrap().push(w.grad().unwrap().to_vec::<f64>().unwrap());
    /// })
    /// .unwrap();
    /// w.mul_scalar(3.0).unwrap().sum_all().unwrap().backward().unwrap();
    /// assert_eq!(*seen.lock().unwrap(), vec![vec![3.0, 3.0]]);
    /// assert!(w.exp().unwrap().register_post_accumulate_grad_hook(|_| {}).is_err());
    /// ```
    pub fn register_post_accumulate_grad_hook<F>(&self, hook: F) -> Result<()>
    where
        F: Fn(&Tensor) + Send + Sync + 'static,
    {
        if !self.is_leaf() || !self.requires_grad() {
            return Err(crate::tensor::error::invalid(
                "register_post_accumulate_grad_hook",
                format!(
                    "only a leaf that requires grad accumulates a gradient; this {} tensor \
                     of shape {} is {}",
                    self.dtype(),
                    self.shape(),
                    if self.is_leaf() {
                        "a leaf that does not require grad"
                    } else {
                        "the result of an op"
                    }
                ),
            ));
        }
        self.grad_state().post_accumulate.push(Box::new(hook));
        Ok(())
    }

    /// Removes every hook registered with
    /// [`register_post_accumulate_grad_hook`](Tensor::register_post_accumulate_grad_hook).
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let w = Tensor::ones([2], DType::F64).requires_grad_();
    /// w.register_post_accumulate_grad_hook(|_| panic!("removed")).unwrap();
    /// w.clear_post_accumulate_grad_hooks();
    /// w.sum_all().unwrap().backward().unwrap();
    /// ```
    pub fn clear_post_accumulate_grad_hooks(&self) {
        self.grad_state().post_accumulate.clear();
    }

    /// The name of the op that produced this tensor, or `None` for a leaf.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// let w = Tensor::ones([2], DType::F64).requires_grad_();
    /// assert_eq!(w.exp().unwrap().op_name(), Some("exp"));
    /// ```
    pub fn op_name(&self) -> Option<&'static str> {
        self.node().map(|n| n.name)
    }
}
