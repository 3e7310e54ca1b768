//! A rank that dies or hangs mid-epoch: the job ends within a bounded time with a clear
//! error, and the last checkpoint rank 0 wrote loads and resumes.

mod common;

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use mpi::traits::*;
use retrograd_mpi::{abort_job, DdpOptions, DistributedDataParallel};
use retrograd_nn::io::Checkpoint;
use retrograd_nn::metrics::EpochRecord;
use retrograd_nn::train::{Observer, Silent, TrainConfig, Trainer};

/// The environment variable that says how rank 1 fails: `exit` or `hang`.
const FAILURE: &str = "RETROGRAD_TEST_FAILURE";
/// The environment variable naming the checkpoint file.
const CHECKPOINT: &str = "RETROGRAD_TEST_CHECKPOINT";
/// Seconds a collective waits.
const TIMEOUT: u64 = 3;

/// Fails in the third mini-batch of epoch 2, after epoch 1's checkpoint was written.
struct FailInEpoch2 {
    how: String,
    epoch: usize,
    batches: usize,
}

impl Observer for FailInEpoch2 {
    fn on_epoch_start(&mut self, epoch: usize, _epochs: usize, _batches: usize) {
        self.epoch = epoch;
        self.batches = 0;
    }
    fn on_batch(&mut self, _loss: f64) {
        self.batches += 1;
        if self.epoch == 2 && self.batches == 3 {
            if self.how == "exit" {
                std::process::exit(3);
            }
            loop {
                std::thread::sleep(Duration::from_secs(1000));
            }
        }
    }
    fn on_epoch_end(&mut self, _: &EpochRecord, _: usize) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 4,
        train_limit: Some(512),
        batch_size: 16,
        ..TrainConfig::default()
    }
}

/// One rank of a job whose rank 1 fails.
fn rank() {
    let universe = mpi::initialize().expect("MPI initialises once");
    let world = universe.world();
    let how = std::env::var(FAILURE).expect("the failure mode");
    let options = DdpOptions {
        timeout: Duration::from_secs(TIMEOUT),
        ..DdpOptions::default()
    };
    let mut ddp = DistributedDataParallel::new(world.duplicate(), options);
    let mut trainer = Trainer::new(config()).unwrap();
    trainer.set_checkpoint(Some(PathBuf::from(std::env::var(CHECKPOINT).unwrap())));
    let result = if world.rank() == 1 {
        let mut fail = FailInEpoch2 {
            how,
            epoch: 0,
            batches: 0,
        };
        trainer.run_replicated(&mut fail, &mut ddp)
    } else {
        trainer.run_replicated(&mut Silent, &mut ddp)
    };
    match result {
        Ok(_) => panic!("rank {} finished although rank 1 failed", world.rank()),
        Err(e) => abort_job(&world, &e),
    }
}

fn main() {
    if common::in_mpi_job() {
        return rank();
    }
    let dir = std::env::temp_dir().join(format!("retrograd-ddp-failure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for how in ["hang", "exit"] {
        let ckpt = dir.join(format!("{how}.ckpt.safetensors"));
        let ckpt_text = ckpt.display().to_string();
        let job = common::mpirun(
            2,
            &[(FAILURE, how), (CHECKPOINT, &ckpt_text)],
            Duration::from_secs(120),
        );
        assert!(!job.success, "{how}: the job succeeded:\n{}", job.stderr);
        assert!(
            !job.status.contains("deadline"),
            "{how}: the job did not end by itself: {}\n{}",
            job.status,
            job.stderr
        );
        // Training before the failure takes well under a second; the rest is the timeout.
        assert!(
            job.elapsed < Duration::from_secs(TIMEOUT + 30),
            "{how}: {:?}",
            job.elapsed
        );
        if how == "hang" {
            let expected = format!(
                "error on rank 0 of 2: the gradient all-reduce did not complete within {TIMEOUT} s: \
                 another rank has died or hangs"
            );
            assert!(job.stderr.contains(&expected), "{how}:\n{}", job.stderr);
        }
        let saved = Checkpoint::load(&ckpt).unwrap();
        assert_eq!(saved.epoch, 1, "{how}: the last checkpoint is epoch 1's");
        let resumed = Trainer::resume(&ckpt, None).unwrap();
        assert_eq!(resumed.epochs_done(), 1);
        let outcome = resumed.run(&mut Silent).unwrap();
        assert_eq!(outcome.history.len(), 4);
        println!(
            "rank 1 {how}s in epoch 2: the job ended after {:.1} s ({}); epoch 1's checkpoint \
             resumed to epoch 4",
            job.elapsed.as_secs_f64(),
            job.status
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
