//! Pipeline parallelism: a [`Sequential`] cut into stages on consecutive ranks.
//!
//! Every rank builds the same model (same seed) and keeps the layers of its stage. A
//! training step splits the batch into micro-batches: the first stage reads them, each
//! stage sends its outputs to the next one (point-to-point, non-blocking), the last stage
//! computes the loss on its micro-batch of targets, and the gradients with respect to each
//! stage's input travel back the same way, seeding the previous stage's backward. Parameter
//! gradients accumulate over the micro-batches, each loss weighted by its share of the
//! batch, so they are those of the whole batch's mean loss; the optimizer step is then
//! local to each stage. [`Schedule`] orders the work (GPipe or 1F1B), and a stage may be
//! checkpointed: only its inputs are kept, and its forward runs again in backward.
//!
//! As in `torch.distributed.pipelining`, the schedule is deterministic: each stage knows
//! the order of its messages, so no coordinator is needed. Every receive waits at most
//! [`PipelineConfig::timeout`].
//!
//! Layers whose output depends on the whole batch (batch normalisation in training mode)
//! see micro-batches, as they do under PyTorch; a checkpointed stage must be deterministic
//! (dropout would draw other masks when re-run).
//!
//! Started under `mpirun -np p`, each rank keeps a p-th of the layers; started alone (as
//! here), the job has one rank, which holds the whole model.
//!
//! ```
//! use retrograd::tensor::{DType, Tensor};
//! use retrograd_mpi::pipeline::{Pipeline, PipelineConfig, Schedule, Split};
//! use retrograd_nn::{layers::{Linear, Relu, Sequential}, loss::mse, Rng};
//!
//! let universe = mpi::initialize().unwrap();
//! let mut rng = Rng::new(42); // the same seed on every rank: the same weights
//! let model = Sequential::new()
//!     .add(Linear::new(8, 16, &mut rng).unwrap())
//!     .add(Relu)
//!     .add(Linear::new(16, 1, &mut rng).unwrap());
//! let config = PipelineConfig { schedule: Schedule::OneFOneB, micro_batches: 4, ..Default::default() };
//! let mut pipe = Pipeline::new(&universe.world(), model, &Split::Balanced, config, mse).unwrap();
//! let x = Tensor::ones([32, 8], DType::F32);
//! let y = Tensor::zeros([32, 1], DType::F32);
//! pipe.zero_grad();
//! let report = pipe.step(Some(&x), Some(&y)).unwrap();
//! println!("loss {} on every rank; this stage holds {:?}", report.loss, pipe.layer_range());
//! assert!(pipe.parameters().iter().all(|(_, p)| p.grad().is_some()));
//! ```

mod schedule;
mod split;
mod transport;

pub use schedule::{theoretical_bubble, Schedule};
pub use split::Split;

use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::Tag;
use retrograd::tensor::autograd::{checkpoint, BackwardOptions};
use retrograd::tensor::{live_nodes, Tensor, TensorError};
use retrograd_nn::layers::{Module, Sequential};
use std::mem::ManuallyDrop;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Error, Result};
use schedule::Action;
use transport::{decode, encode, receive, Outbox};

/// The loss of a micro-batch: `(last stage's output, targets) → mean over its samples`.
pub type LossFn = dyn Fn(&Tensor, &Tensor) -> retrograd_nn::Result<Tensor>;

/// How a [`Pipeline`] runs its steps.
///
/// ```
/// use retrograd_mpi::pipeline::{PipelineConfig, Schedule};
/// let c = PipelineConfig::default();
/// assert_eq!((c.schedule, c.micro_batches, c.checkpoint), (Schedule::OneFOneB, 4, false));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineConfig {
    /// The order of forwards and backwards.
    pub schedule: Schedule,
    /// Micro-batches per step; a batch of `n` rows gives `n mod m` micro-batches of
    /// `⌈n/m⌉` rows, then micro-batches of `⌊n/m⌋` rows (at least one row each).
    pub micro_batches: usize,
    /// Keep only each micro-batch's stage input and run the stage's forward again in its
    /// backward (less memory, one more forward).
    pub checkpoint: bool,
    /// The longest any receive or the final send waits for a peer.
    pub timeout: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            schedule: Schedule::OneFOneB,
            micro_batches: 4,
            checkpoint: false,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What a training step did on this rank.
///
/// ```
/// use retrograd_mpi::pipeline::StepReport;
/// use std::time::Duration;
/// let r = StepReport { loss: 0.5, busy: Duration::from_millis(30), wall: Duration::from_millis(40),
///                      peak_in_flight: 2, peak_live_nodes: 10 };
/// assert!((r.idle_fraction() - 0.25).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    /// The batch's mean loss (computed on the last stage, sent to every rank).
    pub loss: f64,
    /// Time spent in this stage's forwards, loss and backwards.
    pub busy: Duration,
    /// The step's wall time on this rank.
    pub wall: Duration,
    /// The most micro-batches whose activations this stage held at once.
    pub peak_in_flight: usize,
    /// The most autograd graph nodes alive at once during the step, above those alive
    /// when it began ([`live_nodes`]).
    pub peak_live_nodes: usize,
}

impl StepReport {
    /// The fraction of the step this rank was not computing: waiting for a neighbour (the
    /// pipeline's bubble) or communicating.
    ///
    /// ```
    /// use retrograd_mpi::pipeline::StepReport;
    /// use std::time::Duration;
    /// let r = StepReport { loss: 0.0, busy: Duration::ZERO, wall: Duration::ZERO,
    ///                      peak_in_flight: 0, peak_live_nodes: 0 };
    /// assert_eq!(r.idle_fraction(), 0.0);
    /// ```
    pub fn idle_fraction(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall > 0.0 {
            (1.0 - self.busy.as_secs_f64() / wall).max(0.0)
        } else {
            0.0
        }
    }
}

/// The layers of one stage, named as in the whole model.
struct Stage {
    layers: Vec<Box<dyn Module>>,
    first: usize,
}

impl Stage {
    fn forward(&self, x: &Tensor) -> retrograd_nn::Result<Tensor> {
        let mut h = x.clone();
        for layer in &self.layers {
            h = layer.forward(&h)?;
        }
        Ok(h)
    }
}

/// What a stage keeps of a micro-batch between its forward and its backward.
struct InFlight {
    /// The received input (a leaf whose gradient goes back), or `None` on the first stage.
    input: Option<Tensor>,
    /// The stage's output, or on the last stage the micro-batch's weighted loss.
    output: Tensor,
}

/// Tags: a micro-batch's activations and gradients, and the step's loss.
const ACTIVATION: Tag = 0;
const GRADIENT: Tag = 1;
const LOSS: Tag = 2;
const KINDS: usize = 3;
/// The MPI standard guarantees tags up to 32767.
const MAX_MICRO_BATCHES: usize = 32767 / KINDS - 1;

fn tag(kind: Tag, micro_batch: usize) -> Tag {
    (micro_batch * KINDS) as Tag + kind
}

/// This rank's stage of a pipeline-parallel model, and the schedule that trains it.
///
/// ```
/// # use retrograd_mpi::pipeline::{Pipeline, PipelineConfig, Split};
/// # use retrograd_nn::{layers::{Linear, Sequential}, loss::mse, Rng};
/// let universe = mpi::initialize().unwrap();
/// let mut rng = Rng::new(0);
/// let model = Sequential::new().add(Linear::new(2, 2, &mut rng).unwrap())
///     .add(Linear::new(2, 1, &mut rng).unwrap());
/// let world = universe.world();
/// let split = if mpi::topology::Communicator::size(&world) == 2 { Split::At(vec![1]) } else { Split::Balanced };
/// let pipe = Pipeline::new(&world, model, &split, PipelineConfig::default(), mse).unwrap();
/// // on 2 ranks, rank 0 holds "0.weight" and "0.bias", rank 1 "1.weight" and "1.bias"
/// println!("{:?}", pipe.parameters().iter().map(|p| &p.0).collect::<Vec<_>>());
/// ```
pub struct Pipeline {
    /// Freed on drop unless a step failed (see `Drop`).
    comm: ManuallyDrop<SimpleCommunicator>,
    stage: Arc<Stage>,
    stage_index: usize,
    stages: usize,
    config: PipelineConfig,
    loss: Box<LossFn>,
    outbox: Outbox,
    failed: bool,
}

impl Pipeline {
    /// Cuts `model` into one stage per rank of `comm` and keeps this rank's. Every rank
    /// must call it (it duplicates `comm`, so the pipeline's messages never meet others')
    /// with the same model, split and configuration.
    ///
    /// Errors: a split that does not give exactly one non-empty stage per rank, or zero
    /// or too many (more than 10,000) micro-batches.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// # use retrograd_mpi::pipeline::{Pipeline, PipelineConfig, Split};
    /// # use retrograd_nn::{layers::{Linear, Relu, Sequential}, loss::mse, Rng};
    /// # let universe = mpi::initialize().unwrap();
    /// # let mut rng = Rng::new(0);
    /// # let model = Sequential::new().add(Linear::new(3, 4, &mut rng).unwrap()).add(Relu)
    /// #     .add(Linear::new(4, 1, &mut rng).unwrap());
    /// # let mut pipe = Pipeline::new(&universe.world(), model, &Split::Balanced,
    /// #     PipelineConfig::default(), mse).unwrap();
    /// assert_eq!(pipe.stage().1, mpi::topology::Communicator::size(&universe.world()) as usize);
    /// ```
    pub fn new(
        comm: &SimpleCommunicator,
        model: Sequential,
        split: &Split,
        config: PipelineConfig,
        loss: impl Fn(&Tensor, &Tensor) -> retrograd_nn::Result<Tensor> + 'static,
    ) -> Result<Self> {
        if config.micro_batches == 0 || config.micro_batches > MAX_MICRO_BATCHES {
            return Err(Error::Config(format!(
                "a pipeline step needs 1 to {MAX_MICRO_BATCHES} micro-batches, not {}",
                config.micro_batches
            )));
        }
        let stages = comm.size() as usize;
        let stage_index = comm.rank() as usize;
        let layers = model.into_layers();
        let sizes: Vec<usize> = layers
            .iter()
            .map(|l| l.parameters().iter().map(|(_, p)| p.elem_count()).sum())
            .collect();
        let starts = split.stage_starts(&sizes, stages)?;
        let first = starts[stage_index];
        let end = starts.get(stage_index + 1).copied().unwrap_or(layers.len());
        let layers: Vec<Box<dyn Module>> =
            layers.into_iter().skip(first).take(end - first).collect();
        Ok(Pipeline {
            comm: ManuallyDrop::new(comm.duplicate()),
            stage: Arc::new(Stage { layers, first }),
            stage_index,
            stages,
            config,
            loss: Box::new(loss),
            outbox: Outbox::new(),
            failed: false,
        })
    }

    /// The indices, in the whole model, of this stage's layers.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// # use retrograd_mpi::pipeline::{Pipeline, PipelineConfig, Split};
    /// # use retrograd_nn::{layers::{Linear, Relu, Sequential}, loss::mse, Rng};
    /// # let universe = mpi::initialize().unwrap();
    /// # let mut rng = Rng::new(0);
    /// # let model = Sequential::new().add(Linear::new(3, 4, &mut rng).unwrap()).add(Relu)
    /// #     .add(Linear::new(4, 1, &mut rng).unwrap());
    /// # let mut pipe = Pipeline::new(&universe.world(), model, &Split::Balanced,
    /// #     PipelineConfig::default(), mse).unwrap();
    /// // one rank: the whole model, layers 0, 1 and 2
    /// assert_eq!(pipe.layer_range(), 0..3);
    /// ```
    pub fn layer_range(&self) -> Range<usize> {
        self.stage.first..self.stage.first + self.stage.layers.len()
    }

    /// This rank's stage (0 is the first) and the number of stages.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// # use retrograd_mpi::pipeline::{Pipeline, PipelineConfig, Split};
    /// # use retrograd_nn::{layers::{Linear, Relu, Sequential}, loss::mse, Rng};
    /// # let universe = mpi::initialize().unwrap();
    /// # let mut rng = Rng::new(0);
    /// # let model = Sequential::new().add(Linear::new(3, 4, &mut rng).unwrap()).add(Relu)
    /// #     .add(Linear::new(4, 1, &mut rng).unwrap());
    /// # let mut pipe = Pipeline::new(&universe.world(), model, &Split::Balanced,
    /// #     PipelineConfig::default(), mse).unwrap();
    /// assert_eq!(pipe.stage(), (0, 1));
    /// ```
    pub fn stage(&self) -> (usize, usize) {
        (self.stage_index, self.stages)
    }

    /// The settings of the steps.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// # use retrograd_mpi::pipeline::{Pipeline, PipelineConfig, Split};
    /// # use retrograd_nn::{layers::{Linear, Relu, Sequential}, loss::mse, Rng};
    /// # let universe = mpi::initialize().unwrap();
    /// # let mut rng = Rng::new(0);
    /// # let model = Sequential::new().add(Linear::new(3, 4, &mut rng).unwrap()).add(Relu)
    /// #     .add(Linear::new(4, 1, &mut rng).unwrap());
    /// # let mut pipe = Pipeline::new(&universe.world(), model, &Split::Balanced,
    /// #     PipelineConfig::default(), mse).unwrap();
    /// assert_eq!(pipe.config().micro_batches, 4);
    /// ```
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// This stage's parameters, named as in the whole model (`"{layer index}.{name}"`): the
    /// tensors an optimizer of this rank updates.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// # use retrograd_mpi::pipeline::{Pipeline, PipelineConfig, Split};
    /// # use retrograd_nn::{layers::{Linear, Relu, Sequential}, loss::mse, Rng};
    /// # let universe = mpi::initialize().unwrap();
    /// # let mut rng = Rng::new(0);
    /// # let model = Sequential::new().add(Linear::new(3, 4, &mut rng).unwrap()).add(Relu)
    /// #     .add(Linear::new(4, 1, &mut rng).unwrap());
    /// # let mut pipe = Pipeline::new(&universe.world(), model, &Split::Balanced,
    /// #     PipelineConfig::default(), mse).unwrap();
    /// let names: Vec<String> = pipe.parameters().into_iter().map(|p| p.0).collect();
    /// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
    /// ```
    pub fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, layer) in self.stage.layers.iter().enumerate() {
            for (name, p) in layer.parameters() {
                out.push((format!("{}.{name}", self.stage.first + i), p));
            }
        }
        out
    }

    /// Clears the gradients of this stage's parameters (steps accumulate into them).
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// # use retrograd_mpi::pipeline::{Pipeline, PipelineConfig, Split};
    /// # use retrograd_nn::{layers::{Linear, Relu, Sequential}, loss::mse, Rng};
    /// # let universe = mpi::initialize().unwrap();
    /// # let mut rng = Rng::new(0);
    /// # let model = Sequential::new().add(Linear::new(3, 4, &mut rng).unwrap()).add(Relu)
    /// #     .add(Linear::new(4, 1, &mut rng).unwrap());
    /// # let mut pipe = Pipeline::new(&universe.world(), model, &Split::Balanced,
    /// #     PipelineConfig::default(), mse).unwrap();
    /// let x = Tensor::ones([8, 3], DType::F32);
    /// pipe.step(Some(&x), Some(&Tensor::zeros([8, 1], DType::F32))).unwrap();
    /// pipe.zero_grad();
    /// assert!(pipe.parameters().iter().all(|(_, p)| p.grad().map_or(true, |g| g.to_vec_f64().iter().all(|v| *v == 0.0))));
    /// ```
    pub fn zero_grad(&self) {
        for (_, p) in self.parameters() {
            p.zero_grad();
        }
    }

    /// Switches this stage's layers between training and evaluation behaviour.
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// # use retrograd_mpi::pipeline::{Pipeline, PipelineConfig, Split};
    /// # use retrograd_nn::{layers::{Linear, Relu, Sequential}, loss::mse, Rng};
    /// # let universe = mpi::initialize().unwrap();
    /// # let mut rng = Rng::new(0);
    /// # let model = Sequential::new().add(Linear::new(3, 4, &mut rng).unwrap()).add(Relu)
    /// #     .add(Linear::new(4, 1, &mut rng).unwrap());
    /// # let mut pipe = Pipeline::new(&universe.world(), model, &Split::Balanced,
    /// #     PipelineConfig::default(), mse).unwrap();
    /// pipe.set_training(false).unwrap();
    /// ```
    pub fn set_training(&mut self, training: bool) -> Result<()> {
        let stage = Arc::get_mut(&mut self.stage).ok_or_else(|| {
            Error::Config("the stage is still referenced by a checkpointed graph".into())
        })?;
        for layer in &mut stage.layers {
            layer.set_training(training);
        }
        Ok(())
    }

    /// Runs one training step: forwards and backwards of every micro-batch in the order of
    /// the schedule, accumulating this stage's parameter gradients (those of the batch's
    /// mean loss). The first stage needs `input`, the last `target` (rows are samples);
    /// other stages may pass `None`.
    ///
    /// An error on one rank (a shape mismatch, a dead peer) makes its neighbours fail with
    /// [`Error::Timeout`] after [`PipelineConfig::timeout`]; a pipeline whose step failed
    /// refuses further steps, as messages of the failed step may still arrive (and its
    /// communicator is not freed when it is dropped, so no later one receives them).
    ///
    /// ```
    /// # use retrograd::tensor::{DType, Tensor};
    /// # use retrograd_mpi::pipeline::{Pipeline, PipelineConfig, Split};
    /// # use retrograd_nn::{layers::{Linear, Relu, Sequential}, loss::mse, Rng};
    /// # let universe = mpi::initialize().unwrap();
    /// # let mut rng = Rng::new(0);
    /// # let model = Sequential::new().add(Linear::new(3, 4, &mut rng).unwrap()).add(Relu)
    /// #     .add(Linear::new(4, 1, &mut rng).unwrap());
    /// # let mut pipe = Pipeline::new(&universe.world(), model, &Split::Balanced,
    /// #     PipelineConfig::default(), mse).unwrap();
    /// let x = Tensor::ones([10, 3], DType::F32); // 4 micro-batches of 3, 3, 2 and 2 rows
    /// let report = pipe.step(Some(&x), Some(&Tensor::zeros([10, 1], DType::F32))).unwrap();
    /// assert!(report.loss >= 0.0 && report.peak_in_flight == 1); // one stage: 1F1B holds one
    /// ```
    pub fn step(&mut self, input: Option<&Tensor>, target: Option<&Tensor>) -> Result<StepReport> {
        if self.failed {
            return Err(Error::Config(
                "an earlier step of this pipeline failed: build a new one".into(),
            ));
        }
        let result = self.run_step(input, target);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn is_first(&self) -> bool {
        self.stage_index == 0
    }

    fn is_last(&self) -> bool {
        self.stage_index + 1 == self.stages
    }

    fn run_step(&mut self, input: Option<&Tensor>, target: Option<&Tensor>) -> Result<StepReport> {
        let start = Instant::now();
        let nodes_before = live_nodes();
        let m = self.config.micro_batches;
        let input_rows = self.required(input, self.is_first(), "input", "first")?;
        let target_rows = self.required(target, self.is_last(), "target", "last")?;
        let rows = input_rows.or(target_rows);
        let parts = rows.map(|n| micro_batches(n, m)).transpose()?;

        let mut in_flight: Vec<Option<InFlight>> = (0..m).map(|_| None).collect();
        let (mut held, mut peak_in_flight, mut peak_live_nodes) = (0usize, 0usize, 0usize);
        let mut busy = Duration::ZERO;
        let mut loss_sum = 0.0;
        for action in self
            .config
            .schedule
            .actions(self.stage_index, self.stages, m)
        {
            match action {
                Action::Forward(k) => {
                    let x = match input {
                        Some(x) if self.is_first() => {
                            let (at, len) = parts.as_ref().expect("the first stage knows rows")[k];
                            (None, x.narrow(0, at, len)?)
                        }
                        _ => {
                            let x = self.receive_tensor(
                                ACTIVATION,
                                k,
                                "pipeline receive of activations",
                            )?;
                            let x = x.requires_grad_();
                            (Some(x.clone()), x)
                        }
                    };
                    let (leaf, x) = x;
                    let compute = Instant::now();
                    let y = self.forward(&x)?;
                    let output = match (target, &parts) {
                        (Some(t), Some(parts)) if self.is_last() => {
                            let (at, len) = parts[k];
                            if y.dims().first() != Some(&len) {
                                return Err(Error::Config(format!(
                                    "micro-batch {k}: the last stage's output has shape {:?} for \
                                     {len} targets (do the first and last stages get batches of \
                                     the same size?)",
                                    y.dims()
                                )));
                            }
                            let weight = len as f64 / rows.expect("known with parts") as f64;
                            let l = (self.loss)(&y, &t.narrow(0, at, len)?)?;
                            if l.elem_count() != 1 {
                                return Err(Error::Config(format!(
                                    "the loss function returned shape {:?}, not one value",
                                    l.dims()
                                )));
                            }
                            let l = l.mul_scalar(weight)?;
                            loss_sum += l.item()?;
                            l
                        }
                        _ => y,
                    };
                    busy += compute.elapsed();
                    if !self.is_last() {
                        let bytes = encode(&output)?;
                        self.outbox.send(
                            &self.comm,
                            self.stage_index as i32 + 1,
                            tag(ACTIVATION, k),
                            bytes,
                        );
                    }
                    in_flight[k] = Some(InFlight {
                        input: leaf,
                        output,
                    });
                    held += 1;
                    peak_in_flight = peak_in_flight.max(held);
                    peak_live_nodes =
                        peak_live_nodes.max(live_nodes().saturating_sub(nodes_before));
                }
                Action::Backward(k) => {
                    let state = in_flight[k]
                        .take()
                        .expect("a schedule runs a forward before its backward");
                    let seed = if self.is_last() {
                        None
                    } else {
                        let g =
                            self.receive_tensor(GRADIENT, k, "pipeline receive of gradients")?;
                        if g.dims() != state.output.dims() || g.dtype() != state.output.dtype() {
                            return Err(Error::Config(format!(
                                "micro-batch {k}: a gradient of shape {:?} ({}) came back for an \
                                 output of shape {:?} ({})",
                                g.dims(),
                                g.dtype(),
                                state.output.dims(),
                                state.output.dtype()
                            )));
                        }
                        Some(g)
                    };
                    let compute = Instant::now();
                    if state.output.requires_grad() {
                        state
                            .output
                            .backward_with(seed.as_ref(), BackwardOptions::default())?;
                    }
                    busy += compute.elapsed();
                    if let Some(x) = state.input {
                        let g = x.grad().unwrap_or_else(|| Tensor::zeros_like(&x));
                        let bytes = encode(&g)?;
                        self.outbox.send(
                            &self.comm,
                            self.stage_index as i32 - 1,
                            tag(GRADIENT, k),
                            bytes,
                        );
                    }
                    held -= 1;
                }
            }
        }
        let loss = self.share_loss(loss_sum)?;
        self.outbox.flush(self.config.timeout)?;
        Ok(StepReport {
            loss,
            busy,
            wall: start.elapsed(),
            peak_in_flight,
            peak_live_nodes,
        })
    }

    /// The batch's rows, checking that a stage that needs `what` has it.
    fn required(
        &self,
        t: Option<&Tensor>,
        needed: bool,
        what: &str,
        which: &str,
    ) -> Result<Option<usize>> {
        match t {
            Some(t) if needed => match t.dims().first() {
                Some(&n) => Ok(Some(n)),
                None => Err(Error::Config(format!(
                    "the pipeline's {what} must have a batch axis, got a scalar"
                ))),
            },
            None if needed => Err(Error::Config(format!(
                "stage {} is the {which} stage and needs the batch's {what}",
                self.stage_index
            ))),
            _ => Ok(None),
        }
    }

    /// The stage's forward, recording a checkpoint instead of its intermediates if set.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.config.checkpoint {
            let stage = Arc::clone(&self.stage);
            let segment = move |xs: &[Tensor]| {
                stage.forward(&xs[0]).map_err(|e| match e {
                    retrograd_nn::NnError::Tensor(e) => e,
                    other => TensorError::InvalidArgument {
                        op: "pipeline stage",
                        detail: other.to_string(),
                    },
                })
            };
            Ok(checkpoint(segment, std::slice::from_ref(x))?)
        } else {
            Ok(self.stage.forward(x)?)
        }
    }

    fn receive_tensor(
        &mut self,
        kind: Tag,
        micro_batch: usize,
        op: &'static str,
    ) -> Result<Tensor> {
        let source = if kind == ACTIVATION {
            self.stage_index - 1
        } else {
            self.stage_index + 1
        };
        let bytes = receive(
            &self.comm,
            &mut self.outbox,
            source as i32,
            tag(kind, micro_batch),
            self.config.timeout,
            op,
        )?;
        decode(&bytes)
    }

    /// The last stage sends the step's loss to every other stage.
    fn share_loss(&mut self, loss: f64) -> Result<f64> {
        let last = self.stages - 1;
        if self.is_last() {
            for rank in 0..last {
                self.outbox.send(
                    &self.comm,
                    rank as i32,
                    tag(LOSS, 0),
                    loss.to_le_bytes().to_vec(),
                );
            }
            Ok(loss)
        } else {
            let bytes = receive(
                &self.comm,
                &mut self.outbox,
                last as i32,
                tag(LOSS, 0),
                self.config.timeout,
                "pipeline receive of the loss",
            )?;
            let bytes: [u8; 8] = bytes
                .try_into()
                .map_err(|_| Error::Config("a malformed loss message".into()))?;
            Ok(f64::from_le_bytes(bytes))
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // After a failed step, messages of that step may still be on their way or waiting
        // unreceived; MPI may give a freed communicator's context to a later one, where
        // they would be taken for its messages. So that communicator is never freed.
        if !self.failed {
            // SAFETY: `comm` is not used after this.
            unsafe { ManuallyDrop::drop(&mut self.comm) }
        }
    }
}

/// `(first row, rows)` of each of `m` micro-batches of `n` rows: the first `n mod m` get one
/// row more.
fn micro_batches(n: usize, m: usize) -> Result<Vec<(usize, usize)>> {
    if n < m {
        return Err(Error::Config(format!(
            "a batch of {n} rows cannot make {m} micro-batches of at least one row"
        )));
    }
    let (base, extra) = (n / m, n % m);
    let mut at = 0;
    Ok((0..m)
        .map(|k| {
            let len = base + usize::from(k < extra);
            at += len;
            (at - len, len)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_batches_cover_the_batch_evenly() {
        assert_eq!(
            micro_batches(8, 4).unwrap(),
            vec![(0, 2), (2, 2), (4, 2), (6, 2)]
        );
        assert_eq!(micro_batches(7, 3).unwrap(), vec![(0, 3), (3, 2), (5, 2)]);
        assert_eq!(micro_batches(3, 3).unwrap(), vec![(0, 1), (1, 1), (2, 1)]);
        let err = micro_batches(2, 3).unwrap_err().to_string();
        assert!(err.contains("2 rows cannot make 3 micro-batches"), "{err}");
    }
}
