//! Tensors with define-by-run reverse-mode autograd.
//!
//! # API summary
//!
//! **Types.** [`Tensor`] (cheap to clone; `f32`/`f64`/`i64`/[`bf16`]/[`f16`](struct@f16) elements, any
//! rank, strided views over shared storage), [`DType`], [`Shape`], [`TensorError`] and [`Result`], [`Rng`]
//! (seeded xoshiro256**), [`Device`], the kernel boundary [`Backend`] (CPU implemented).
//!
//! **Mixed precision.** [`autocast`](fn@autocast)`(DType::BF16, || ..)` and [`AutocastGuard`]: matrix
//! products and convolutions in 16 bits, losses, softmax, norms and reductions in `f32`
//! (module [`autocast`](mod@autocast)).
//!
//! **Errors.** Every fallible op returns [`Result`]; errors name the op and, for shape
//! problems, both shapes. The arithmetic operators (`&a + &b`, `&a * 2.0`, `-&a`) panic
//! with the same message: use them when shapes are known to fit, the methods otherwise.
//!
//! **Creation.** `Tensor::{zeros, ones, full}(shape, [value,] dtype)`, `*_like(&t)`,
//! `from_vec(vec, shape)`, `from_slice`, `scalar(v)`, `arange(start, end, step, dtype)`,
//! `linspace(start, end, n, dtype)`, `eye(n, dtype)`, `rand(shape, lo, hi, dtype, &mut rng)`,
//! `randn(shape, mean, std, dtype, &mut rng)`; with feature `ndarray`: `from_ndarray`,
//! `to_ndarray`. Reading: `to_vec::<T>()`, `to_vec_f64()`, `item()`, `with_data(|s| ..)`.
//!
//! **Views** (share storage): `reshape`, `flatten`, `permute`, `transpose`, `t`, `mt`,
//! `narrow`/`slice`, `select`, `broadcast_to`/`expand`, `squeeze`, `unsqueeze`; copies:
//! `contiguous`, `copy`, `to_dtype`, `pad_axis`.
//!
//! **Math.** Unary: `neg exp log sqrt abs sin cos tanh sigmoid relu gelu silu softplus erf
//! recip square powf affine add_scalar mul_scalar leaky_relu clamp sign`. Binary with
//! broadcasting: `add sub mul div pow maximum minimum`, comparisons `eq ne lt le gt ge`
//! (+ `*_scalar`), `mask.where_cond(&a, &b)`, `masked_fill`. Reductions over any axes
//! (`1`, `-1`, `[0, 2]`, [`AllAxes`]) with `keepdim`: `sum mean max min var logsumexp`,
//! `sum_all`, `mean_all`, `argmax`, `argmin`. `matmul` (NumPy semantics, batched,
//! broadcast). `conv1d`, `conv2d` ([`Conv1dOptions`], [`Conv2dOptions`]: stride, padding,
//! dilation, groups), `unfold2d`, `fold2d`, `max_pool2d`, `avg_pool2d`. Indexing:
//! `index_select`, `index_add`, `gather`, `scatter_add`, `one_hot`, `embedding`. Joining:
//! `Tensor::cat`, `Tensor::stack`, `split`, `chunk`. NN: `softmax`, `log_softmax`,
//! `cross_entropy(&targets)` (fused, `I64` targets), `cross_entropy_with(.., Reduction)`,
//! `nll_loss`, `mse_loss`, `dropout(p, &mut rng)`, `batch_norm` (fused, training mode;
//! returns [`BatchStats`]).
//!
//! **Autograd.** `t.requires_grad_()` / `set_requires_grad`, `loss.backward()`,
//! `y.backward_with(Some(&dy), BackwardOptions { retain_graph, create_graph })`,
//! `x.grad()`, `zero_grad()`, `set_grad`, `retain_grad`, `detach`, `register_hook`.
//! Module [`autograd`]: `no_grad(|| ..)`, `enable_grad`, `GradModeGuard`, `grad_with`
//! (gradients returned, optionally differentiable), `grad`, `value_and_grad`, `vjp`, `jvp`,
//! `hvp`, `hessian`, `checkpoint`, `checkpoint_sequential`, `detect_anomaly`, the
//! [`autograd::Function`] trait for custom ops. [`gradcheck`] checks any function's
//! gradients against finite differences. [`live_nodes`] and [`live_storage_bytes`] count
//! what is alive, for memory tests.
//!
//! **Optimizer updates** (in place, bump the version counter; on tensors that require grad
//! only inside `no_grad`): `assign_`, `fill_`, `zero_`, `add_scaled_(&g, -lr)`,
//! `update_(|w: &mut [f32]| ..)`.
//!
//! ```
//! use retrograd::tensor::{autograd::no_grad, DType, Rng, Tensor};
//! let mut rng = Rng::new(0);
//! let x = Tensor::randn([8, 4], 0.0, 1.0, DType::F32, &mut rng);
//! let y = Tensor::from_vec(vec![0i64, 1, 2, 0, 1, 2, 0, 1], [8]).unwrap();
//! let w = Tensor::randn([4, 3], 0.0, 0.5, DType::F32, &mut rng).requires_grad_();
//! let b = Tensor::zeros([3], DType::F32).requires_grad_();
//! for _ in 0..10 {
//!     let loss = x.matmul(&w).unwrap().add(&b).unwrap().cross_entropy(&y).unwrap();
//!     loss.backward().unwrap();
//!     no_grad(|| -> retrograd::tensor::Result<()> {
//!         for p in [&w, &b] {
//!             p.add_scaled_(&p.grad().unwrap(), -0.1)?;
//!             p.zero_grad();
//!         }
//!         Ok(())
//!     }).unwrap();
//! }
//! ```
//!
//! # Conventions
//! - Derivatives at kinks: `abs`, `relu`, `clamp` (outside), `max`/`min` reductions and
//!   `maximum`/`minimum` use subgradients (0 at `abs(0)` and `relu(0)`; ties split evenly).
//!   `sqrt` has an infinite derivative at 0. `where_cond` routes gradients, so a NaN in the
//!   unselected branch never leaks.
//! - Gradients of leaves are stored contiguous. A graph is freed by `backward` unless
//!   `retain_graph` (or `create_graph`) is set; a second backward then fails with
//!   [`TensorError::GraphFreed`].

pub mod autocast;
pub mod autograd;
pub mod backend;
mod core;
mod dtype;
mod error;
mod gradcheck;
mod ops;
mod rng;
pub(crate) mod shape;
mod storage;

pub use autocast::{autocast, autocast_dtype, AutocastGuard};
pub use autograd::live_nodes;
pub use backend::Backend;
pub use core::Tensor;
pub use dtype::{DType, Element, FloatElement};
pub use error::{Result, TensorError};
pub use gradcheck::{gradcheck, GradcheckOptions};
pub use half::{bf16, f16};
pub use ops::{BatchStats, Conv1dOptions, Conv2dOptions, Reduction};
pub use rng::Rng;
pub use shape::{AllAxes, Axes, Layout, Shape};
pub use storage::{live_storage_bytes, peak_storage_bytes, reset_peak_storage_bytes, Device};
