//! Data-parallel training: gradients averaged by bucketed non-blocking all-reduce that
//! starts during backward.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mpi::topology::{Communicator, SimpleCommunicator};
use retrograd::tensor::Tensor;
use retrograd_nn::train::Replicas;

use crate::collective::{self, InFlight};
use crate::{Error, Result};

/// Settings of [`DistributedDataParallel`].
///
/// ```
/// let o = retrograd_mpi::DdpOptions::default();
/// assert_eq!(o.bucket_bytes, 4 << 20);
/// assert!(o.overlap);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DdpOptions {
    /// Target size of a gradient bucket in bytes: a bucket is closed once its
    /// parameters' gradients (4 bytes per value) reach this size.
    pub bucket_bytes: usize,
    /// Start each bucket's all-reduce from the autograd hook of its last gradient (during
    /// backward); `false` starts all buckets after backward (the reference to measure the
    /// overlap against).
    pub overlap: bool,
    /// How long any collective may take before the run fails with [`Error::Timeout`]
    /// (a rank died or hangs).
    pub timeout: Duration,
}

impl Default for DdpOptions {
    fn default() -> Self {
        DdpOptions {
            bucket_bytes: 4 << 20,
            overlap: true,
            timeout: Duration::from_secs(300),
        }
    }
}

/// Counters of the gradient all-reduce, summed over steps.
///
/// ```
/// let s = retrograd_mpi::DdpStats::default();
/// assert_eq!(s.steps, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DdpStats {
    /// Steps whose gradients were averaged.
    pub steps: u64,
    /// Buckets whose all-reduce started inside backward (from a hook).
    pub buckets_in_backward: u64,
    /// Buckets whose all-reduce started after backward.
    pub buckets_after_backward: u64,
    /// Buckets already complete when backward returned.
    pub buckets_done_by_end_of_backward: u64,
    /// Seconds spent after backward waiting for the all-reduces.
    pub wait_seconds: f64,
}

/// A slot of the flat gradient buffers: parameter `param`'s values at `offset`.
struct Slot {
    param: usize,
    offset: usize,
    len: usize,
}

/// Consecutive parameters (in reverse model order) whose gradients travel together.
struct Bucket {
    slots: Vec<Slot>,
    send: Vec<f32>,
    recv: Vec<f32>,
    /// Gradients copied in this step.
    filled: usize,
    request: Option<InFlight>,
    launched_in_backward: bool,
    complete: bool,
}

/// The state the hooks and the step share.
struct Shared {
    world: SimpleCommunicator,
    buckets: Vec<Bucket>,
    /// `(bucket, slot)` of each parameter.
    place: Vec<(usize, usize)>,
    ready: Vec<bool>,
    overlap: bool,
    /// A misuse seen by a hook (reported by the step, since a hook cannot fail).
    fault: Option<String>,
}

// SimpleCommunicator is a handle used only on the training thread (MPI is initialised for
// one thread); the mutex serialises the hooks and the step.
unsafe impl Send for Shared {}

impl Shared {
    /// Copies parameter `k`'s gradient into its bucket; starts the bucket when complete.
    fn gradient_ready(&mut self, k: usize, grad: Option<&[f32]>, in_backward: bool) {
        if self.ready[k] {
            self.fault = Some(format!(
                "parameter {k} received two gradients in one step (two backward passes \
                 before the gradients were averaged)"
            ));
            return;
        }
        self.ready[k] = true;
        let (b, s) = self.place[k];
        let bucket = &mut self.buckets[b];
        let slot = &bucket.slots[s];
        let dst = &mut bucket.send[slot.offset..slot.offset + slot.len];
        match grad {
            Some(g) => dst.copy_from_slice(g),
            None => dst.fill(0.0),
        }
        bucket.filled += 1;
        if bucket.filled == bucket.slots.len() && (self.overlap || !in_backward) {
            self.launch(b, in_backward);
        }
        // Open MPI advances non-blocking collectives only inside MPI calls: poke them.
        for bucket in &mut self.buckets {
            if let (Some(r), false) = (&mut bucket.request, bucket.complete) {
                bucket.complete = r.test();
            }
        }
    }

    fn launch(&mut self, b: usize, in_backward: bool) {
        let bucket = &mut self.buckets[b];
        // SAFETY: the bucket's buffers are allocated once and neither resized nor touched
        // until the request completes (the step waits for it; `Drop` leaks them otherwise).
        match unsafe { collective::start_sum(&self.world, &bucket.send, &mut bucket.recv) } {
            Ok(r) => {
                bucket.request = Some(r);
                bucket.launched_in_backward = in_backward;
            }
            Err(e) => self.fault = Some(e.to_string()),
        }
    }
}

/// Data-parallel training over MPI in the manner of PyTorch's `DistributedDataParallel`:
/// plugged into [`Trainer::run_replicated`](retrograd_nn::train::Trainer::run_replicated),
/// it makes every rank start from rank 0's parameters and optimizer state, and averages
/// the gradients after each backward pass.
///
/// Gradients are grouped in buckets of about [`DdpOptions::bucket_bytes`], filled in the
/// reverse order of the parameters (the order backward produces them). A
/// [post-accumulate hook](retrograd::tensor::Tensor::register_post_accumulate_grad_hook)
/// on each parameter copies its gradient into its bucket's flat buffer, and the last one
/// of a bucket starts a non-blocking all-reduce (`MPI_Iallreduce`), so communication
/// overlaps the rest of backward; after backward every bucket is waited for (at most
/// [`DdpOptions::timeout`]) and each gradient replaced by the sum divided by the number of
/// ranks. Every rank then holds the same averaged gradient and makes the same update, so
/// parameters stay bitwise identical.
///
/// ```no_run
/// use retrograd_mpi::{DdpOptions, DistributedDataParallel};
/// use retrograd_nn::train::{Silent, TrainConfig, Trainer};
/// let universe = mpi::initialize().unwrap();
/// let mut ddp = DistributedDataParallel::new(universe.world(), DdpOptions::default());
/// let outcome = Trainer::new(TrainConfig::default())
///     .unwrap()
///     .run_replicated(&mut Silent, &mut ddp)
///     .unwrap();
/// println!("accuracy {}", outcome.test_accuracy());
/// ```
pub struct DistributedDataParallel {
    rank: usize,
    size: usize,
    options: DdpOptions,
    shared: Arc<Mutex<Shared>>,
    stats: DdpStats,
}

impl DistributedDataParallel {
    /// A wrapper over the ranks of `world` (no collective runs until training starts).
    ///
    /// ```no_run
    /// use retrograd_mpi::{DdpOptions, DistributedDataParallel};
    /// let universe = mpi::initialize().unwrap();
    /// let ddp = DistributedDataParallel::new(universe.world(), DdpOptions::default());
    /// assert!(ddp.rank() < ddp.size());
    /// ```
    pub fn new(world: SimpleCommunicator, options: DdpOptions) -> Self {
        DistributedDataParallel {
            rank: world.rank() as usize,
            size: world.size() as usize,
            options,
            shared: Arc::new(Mutex::new(Shared {
                world,
                buckets: Vec::new(),
                place: Vec::new(),
                ready: Vec::new(),
                overlap: true,
                fault: None,
            })),
            stats: DdpStats::default(),
        }
    }

    /// This process's rank.
    ///
    /// ```no_run
    /// # let universe = mpi::initialize().unwrap();
    /// # let ddp = retrograd_mpi::DistributedDataParallel::new(universe.world(), Default::default());
    /// let writes_files = ddp.rank() == 0;
    /// ```
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of ranks.
    ///
    /// ```no_run
    /// # let universe = mpi::initialize().unwrap();
    /// # let ddp = retrograd_mpi::DistributedDataParallel::new(universe.world(), Default::default());
    /// assert!(ddp.size() >= 1);
    /// ```
    pub fn size(&self) -> usize {
        self.size
    }

    /// The all-reduce counters so far.
    ///
    /// ```no_run
    /// # let universe = mpi::initialize().unwrap();
    /// # let ddp = retrograd_mpi::DistributedDataParallel::new(universe.world(), Default::default());
    /// assert_eq!(ddp.stats().steps, 0);
    /// ```
    pub fn stats(&self) -> &DdpStats {
        &self.stats
    }

    /// The sizes, in values, of the gradient buckets (after training started).
    ///
    /// ```no_run
    /// # let universe = mpi::initialize().unwrap();
    /// # let ddp = retrograd_mpi::DistributedDataParallel::new(universe.world(), Default::default());
    /// assert!(ddp.bucket_sizes().is_empty());
    /// ```
    pub fn bucket_sizes(&self) -> Vec<usize> {
        self.lock().buckets.iter().map(|b| b.send.len()).collect()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Averages the gradients: starts the buckets backward did not, waits for all, and
    /// writes sum / ranks into `grads`.
    fn average(&mut self, grads: &mut [Vec<f32>]) -> Result<()> {
        let started = Instant::now();
        let shared = self.shared.clone();
        let mut st = shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(fault) = st.fault.take() {
            return Err(Error::Config(fault));
        }
        if st.place.len() != grads.len() {
            return Err(Error::Config(format!(
                "{} gradients for the {} parameters attached",
                grads.len(),
                st.place.len()
            )));
        }
        // Parameters whose hook did not run (no gradient this step, or no backward at
        // all) contribute what the step read: zeros where there is no gradient.
        for (k, g) in grads.iter().enumerate() {
            if !st.ready[k] {
                st.gradient_ready(k, Some(g), false);
            }
        }
        for b in 0..st.buckets.len() {
            if st.buckets[b].request.is_none() {
                st.launch(b, false);
            }
        }
        if let Some(fault) = st.fault.take() {
            return Err(Error::Config(fault));
        }
        for bucket in &st.buckets {
            if bucket.launched_in_backward {
                self.stats.buckets_in_backward += 1;
            } else {
                self.stats.buckets_after_backward += 1;
            }
            self.stats.buckets_done_by_end_of_backward += u64::from(bucket.complete);
        }
        let mut requests: Vec<&mut InFlight> = st
            .buckets
            .iter_mut()
            .filter_map(|b| b.request.as_mut())
            .collect();
        collective::wait_all(
            &mut requests,
            "the gradient all-reduce",
            started,
            self.options.timeout,
        )?;
        let scale = 1.0 / self.size as f32;
        let Shared {
            buckets,
            place,
            ready,
            ..
        } = &mut *st;
        for (k, g) in grads.iter_mut().enumerate() {
            let (b, s) = place[k];
            let slot = &buckets[b].slots[s];
            for (x, &sum) in g.iter_mut().zip(&buckets[b].recv[slot.offset..]) {
                *x = sum * scale;
            }
            debug_assert_eq!(slot.param, k);
        }
        for bucket in buckets.iter_mut() {
            bucket.request = None;
            bucket.filled = 0;
            bucket.complete = false;
            bucket.launched_in_backward = false;
        }
        ready.fill(false);
        self.stats.steps += 1;
        self.stats.wait_seconds += started.elapsed().as_secs_f64();
        Ok(())
    }
}

impl Drop for DistributedDataParallel {
    fn drop(&mut self) {
        // Buffers of an all-reduce still in flight (after a timeout) must outlive it.
        let mut st = self.lock();
        for bucket in std::mem::take(&mut st.buckets) {
            if bucket.request.is_some() {
                std::mem::forget(bucket);
            }
        }
    }
}

impl Replicas for DistributedDataParallel {
    type Error = Error;

    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn attach(&mut self, params: &[Tensor]) -> Result<()> {
        let mut st = self.lock();
        if st.buckets.iter().any(|b| b.request.is_some()) {
            return Err(Error::Config(
                "attach: an all-reduce of the previous run is still in flight".into(),
            ));
        }
        let limit = self.options.bucket_bytes.max(4) / 4;
        let mut buckets: Vec<Bucket> = Vec::new();
        let mut place = vec![(0, 0); params.len()];
        let mut open: Vec<Slot> = Vec::new();
        let mut len = 0;
        let close = |slots: Vec<Slot>, len: usize, buckets: &mut Vec<Bucket>| {
            buckets.push(Bucket {
                slots,
                send: vec![0.0; len],
                recv: vec![0.0; len],
                filled: 0,
                request: None,
                launched_in_backward: false,
                complete: false,
            })
        };
        for (k, p) in params.iter().enumerate().rev() {
            place[k] = (buckets.len(), open.len());
            open.push(Slot {
                param: k,
                offset: len,
                len: p.elem_count(),
            });
            len += p.elem_count();
            if len >= limit {
                close(std::mem::take(&mut open), len, &mut buckets);
                len = 0;
            }
        }
        if !open.is_empty() {
            close(open, len, &mut buckets);
        }
        st.buckets = buckets;
        st.place = place;
        st.ready = vec![false; params.len()];
        st.overlap = self.options.overlap;
        st.fault = None;
        drop(st);
        if self.size == 1 {
            return Ok(());
        }
        for (k, p) in params.iter().enumerate() {
            let shared = Arc::downgrade(&self.shared);
            p.register_post_accumulate_grad_hook(move |t| {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let grad = t.grad().and_then(|g| g.to_vec::<f32>().ok());
                let mut st = shared.lock().unwrap_or_else(|e| e.into_inner());
                st.gradient_ready(k, grad.as_deref(), true);
            })?;
        }
        Ok(())
    }

    fn detach(&mut self, params: &[Tensor]) {
        for p in params {
            p.clear_post_accumulate_grad_hooks();
        }
    }

    fn broadcast(&mut self, values: &mut [f32]) -> Result<()> {
        collective::broadcast(&self.lock().world, values, self.options.timeout)
    }

    fn broadcast_words(&mut self, words: &mut [u64]) -> Result<()> {
        collective::broadcast(&self.lock().world, words, self.options.timeout)
    }

    fn average_gradients(&mut self, grads: &mut [Vec<f32>]) -> Result<()> {
        if self.size == 1 {
            return Ok(());
        }
        self.average(grads)
    }

    fn sum(&mut self, values: &mut [f64]) -> Result<()> {
        collective::sum(&self.lock().world, values, self.options.timeout)
    }
}

/// Reports `error` on standard error as rank `rank`'s and ends the whole MPI job
/// (`MPI_Abort`), so ranks waiting for this one exit too instead of hanging.
///
/// ```no_run
/// let universe = mpi::initialize().unwrap();
/// let world = universe.world();
/// let result: retrograd_mpi::Result<()> = Ok(());
/// if let Err(e) = result {
///     retrograd_mpi::abort_job(&world, &e);
/// }
/// ```
pub fn abort_job(world: &SimpleCommunicator, error: &dyn std::fmt::Display) -> ! {
    eprintln!(
        "error on rank {} of {}: {error}",
        world.rank(),
        world.size()
    );
    world.abort(2)
}
