//! Data-parallel training on 2 ranks: parameters bitwise identical after every step, the
//! same run as one process with twice the batch (up to reduction order), checkpoints by
//! rank 0 only, and resumption with another number of ranks.

mod common;

use std::time::Duration;

use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use retrograd::tensor::Tensor;
use retrograd_mpi::{DdpOptions, DistributedDataParallel, Error};
use retrograd_nn::layers::Module;
use retrograd_nn::optim::LrSchedule;
use retrograd_nn::train::{OptimizerKind, Replicas, Silent, TrainConfig, Trainer};

/// A DDP that, before each gradient average, checks that all ranks hold the same bits in
/// every parameter (the state after the previous step) and counts the checks.
struct Checked {
    inner: DistributedDataParallel,
    world: SimpleCommunicator,
    params: Vec<Tensor>,
    checks: usize,
}

fn fingerprint(params: &[Tensor]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in params {
        for x in p.to_vec::<f32>().unwrap() {
            h = (h ^ x.to_bits() as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

impl Checked {
    fn check_identical(&mut self) {
        let mine = fingerprint(&self.params);
        let mut all = vec![0u64; self.world.size() as usize];
        self.world.all_gather_into(&mine, &mut all[..]);
        assert!(
            all.iter().all(|&h| h == all[0]),
            "parameters differ between ranks after {} steps: {all:x?}",
            self.checks
        );
        self.checks += 1;
    }
}

impl Replicas for Checked {
    type Error = Error;
    fn rank(&self) -> usize {
        self.inner.rank()
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn attach(&mut self, params: &[Tensor]) -> Result<(), Error> {
        self.params = params.to_vec();
        self.inner.attach(params)
    }
    fn broadcast(&mut self, values: &mut [f32]) -> Result<(), Error> {
        self.inner.broadcast(values)
    }
    fn broadcast_words(&mut self, words: &mut [u64]) -> Result<(), Error> {
        self.inner.broadcast_words(words)
    }
    fn average_gradients(&mut self, grads: &mut [Vec<f32>]) -> Result<(), Error> {
        self.check_identical();
        self.inner.average_gradients(grads)
    }
    fn sum(&mut self, values: &mut [f64]) -> Result<(), Error> {
        self.inner.sum(values)
    }
    fn detach(&mut self, params: &[Tensor]) {
        self.inner.detach(params);
    }
}

fn config(batch_size: usize) -> TrainConfig {
    TrainConfig {
        hidden: vec![64, 32],
        epochs: 2,
        batch_size,
        optimizer: OptimizerKind::Sgd,
        lr: 0.05,
        schedule: LrSchedule::Constant,
        train_limit: Some(512),
        ..TrainConfig::default()
    }
}

fn values(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>().unwrap()
}

/// A failed check on one rank ends the job at once (the other would wait for it).
fn abort_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        // SAFETY: MPI is initialised; MPI_Abort ends every rank of the job.
        unsafe {
            mpi::ffi::MPI_Abort(mpi::ffi::RSMPI_COMM_WORLD, 101);
        }
    }));
}

fn main() {
    if !common::ranks(2, Duration::from_secs(240)) {
        return;
    }
    let universe = mpi::initialize().expect("MPI initialises once");
    let world = universe.world();
    let rank = world.rank();
    abort_on_panic();
    let mut job = std::process::id();
    world.process_at_rank(0).broadcast_into(&mut job);
    let dir = std::env::temp_dir().join(format!("retrograd-ddp-test-{job}"));
    std::fs::create_dir_all(&dir).unwrap();

    // 1. Bitwise identity after every step, with small buckets (several per step), with
    // and without overlap; rank 1 starts from other parameters (another seed), so the
    // broadcast from rank 0 is what makes them equal.
    let mut outcomes = Vec::new();
    for overlap in [true, false] {
        let mut c = config(16);
        c.optimizer = OptimizerKind::Adam;
        c.lr = 1e-3;
        c.seed = if rank == 0 { 7 } else { 8 };
        let options = DdpOptions {
            bucket_bytes: 1 << 10,
            overlap,
            timeout: Duration::from_secs(60),
        };
        let mut checked = Checked {
            inner: DistributedDataParallel::new(world.duplicate(), options),
            world: world.duplicate(),
            params: Vec::new(),
            checks: 0,
        };
        let outcome = Trainer::new(c)
            .unwrap()
            .run_replicated(&mut Silent, &mut checked)
            .unwrap();
        checked.check_identical();
        // 512 samples, 2 ranks, batch 16: 16 steps per epoch.
        assert_eq!(checked.checks, 2 * 16 + 1);
        let stats = checked.inner.stats().clone();
        assert_eq!(stats.steps, 32);
        let buckets = checked.inner.bucket_sizes();
        assert!(buckets.len() >= 3, "buckets {buckets:?}");
        let per_step = buckets.len() as u64;
        if overlap {
            // The hooks start every bucket inside backward.
            assert_eq!(stats.buckets_in_backward, 32 * per_step, "{stats:?}");
        } else {
            assert_eq!(stats.buckets_after_backward, 32 * per_step, "{stats:?}");
        }
        if rank == 0 {
            println!(
                "overlap {overlap}: {} buckets of {buckets:?} values; {} steps identical; \
                 {:.3} s waiting after backward; {} of {} buckets complete when backward ended",
                buckets.len(),
                checked.checks,
                stats.wait_seconds,
                stats.buckets_done_by_end_of_backward,
                32 * per_step
            );
        }
        outcomes.push(outcome);
    }
    // Overlap or not, the sums are the same: the same run.
    let (a, b) = (&outcomes[0], &outcomes[1]);
    for ((_, x), (_, y)) in a
        .classifier
        .model
        .parameters()
        .iter()
        .zip(&b.classifier.model.parameters())
    {
        assert_eq!(values(x), values(y), "overlap changed the result");
    }
    assert_eq!(a.history.len(), 2);

    // 2. Two ranks with batch 16 against one process with batch 32, same seed: the same
    // mini-batches and updates, summed in another order. The weight gradient of one
    // process is one matrix product over 32 samples; of two ranks, two products over 16
    // added by the all-reduce, and the loss mean is (Σ₁/16 + Σ₂/16)/2 instead of Σ/32.
    // Each step differs by a few f32 roundings (ε = 6e-8) of the gradient, 32 steps of SGD
    // (lr 0.05) carry them into the parameters: measured 3.6e-6 relative to |p| + 0.01;
    // 1e-4 bounds that with margin, while a gradient summed instead of averaged doubles
    // every update, a change of the order of the updates themselves.
    let mut ddp = DistributedDataParallel::new(world.duplicate(), DdpOptions::default());
    let two = Trainer::new(config(16))
        .unwrap()
        .run_replicated(&mut Silent, &mut ddp)
        .unwrap();
    let one = Trainer::new(config(32)).unwrap().run(&mut Silent).unwrap();
    let mut worst: f64 = 0.0;
    for ((name, x), (_, y)) in two
        .classifier
        .model
        .parameters()
        .iter()
        .zip(&one.classifier.model.parameters())
    {
        for (&p, &q) in values(x).iter().zip(&values(y)) {
            let err = (p - q).abs() as f64 / (1e-2 + q.abs() as f64);
            worst = worst.max(err);
            assert!(err < 1e-4, "{name}: {p} vs {q}");
        }
    }
    for (r, s) in two.history.iter().zip(&one.history) {
        assert!(
            (r.train_loss - s.train_loss).abs() < 1e-5 * s.train_loss,
            "{r:?} vs {s:?}"
        );
        assert!(
            (r.test_loss - s.test_loss).abs() < 1e-5 * s.test_loss,
            "{r:?} vs {s:?}"
        );
    }
    assert_eq!(two.confusion.total(), one.confusion.total());
    let mut max_err = [worst];
    world.all_reduce_into(&worst, &mut max_err[0], SystemOperation::max());
    if rank == 0 {
        println!(
            "2 ranks × batch 16 vs 1 process × batch 32, 32 SGD steps: largest parameter \
             difference {:.2e} (relative to |p| + 0.01)",
            max_err[0]
        );
    }

    // 3. Checkpoints by rank 0 only; resumption from 1 to 2 ranks and from 2 to 1.
    let shared_ckpt = dir.join("two.ckpt.safetensors");
    let one_ckpt = dir.join(format!("one-{rank}.ckpt.safetensors"));
    let mut c = config(16);
    c.epochs = 1;
    let mut single = Trainer::new(c).unwrap();
    single.set_checkpoint(Some(one_ckpt.clone()));
    single.run(&mut Silent).unwrap();
    // Rank r resumes from its own single-process checkpoint; rank 0's wins the broadcast.
    let mut resumed = Trainer::resume(&one_ckpt, Some(2)).unwrap();
    assert_eq!(resumed.epochs_done(), 1);
    let path = if rank == 0 {
        shared_ckpt.clone()
    } else {
        dir.join("rank1-must-not-write.ckpt.safetensors")
    };
    resumed.set_checkpoint(Some(path.clone()));
    let mut ddp = DistributedDataParallel::new(world.duplicate(), DdpOptions::default());
    let continued = resumed.run_replicated(&mut Silent, &mut ddp).unwrap();
    assert_eq!(continued.history.len(), 2);
    assert_eq!(path.exists(), rank == 0, "only rank 0 writes checkpoints");
    world.barrier();
    // Both ranks resume rank 0's 2-rank checkpoint alone (2 → 1) for one more epoch, and
    // with 2 ranks (2 → 2); the two differ only in reduction order.
    let alone = Trainer::resume(&shared_ckpt, Some(3))
        .unwrap()
        .run(&mut Silent)
        .unwrap();
    let mut again = Trainer::resume(&shared_ckpt, Some(3)).unwrap();
    again.set_checkpoint(None);
    let mut ddp = DistributedDataParallel::new(world.duplicate(), DdpOptions::default());
    let together = again.run_replicated(&mut Silent, &mut ddp).unwrap();
    assert_eq!(alone.history.len(), 3);
    assert_eq!(together.history.len(), 3);
    for (r, s) in together.history.iter().zip(&continued.history) {
        // The same records (the time an epoch took aside).
        let key = |r: &retrograd_nn::metrics::EpochRecord| {
            (r.epoch, r.train_loss, r.test_loss, r.test_accuracy)
        };
        assert_eq!(key(r), key(s));
    }
    let (a, b) = (&alone.history[2], &together.history[2]);
    assert!(
        a.test_accuracy > 0.5 && b.test_accuracy > 0.5,
        "{a:?} {b:?}"
    );
    world.barrier();
    if rank == 0 {
        std::fs::remove_dir_all(&dir).ok();
        println!("checkpoints by rank 0 only; resumed 1 → 2 and 2 → 1, 2 ranks");
    }
}
