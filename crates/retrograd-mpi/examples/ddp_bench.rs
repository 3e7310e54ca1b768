//! Data-parallel throughput: the bucketed gradient all-reduce against MPI's own all-reduce
//! of one buffer, and training samples/s with 1 and 2 ranks on a compute-bound model.
//!
//! ```text
//! cargo build --release --example ddp_bench   # in crates/retrograd-mpi
//! mpirun -np 2 target/release/examples/ddp_bench [--quick] [--json]
//! ```
//! Every rank runs with one kernel thread (RAYON_NUM_THREADS=1 unless set).

use std::time::{Duration, Instant};

use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use retrograd::tensor::{DType, Tensor};
use retrograd_mpi::{DdpOptions, DistributedDataParallel};
use retrograd_nn::train::{OptimizerKind, Replicas, Silent, TrainConfig, Trainer};

/// Waits for the other ranks without spinning (an idle rank leaves its core to the others).
fn idle_barrier(world: &SimpleCommunicator) {
    let mut request = world.immediate_barrier();
    loop {
        match request.test() {
            Ok(_) => return,
            Err(r) => request = r,
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct AllReduceRow {
    floats: usize,
    raw_seconds: f64,
    bucketed_seconds: f64,
    buckets: usize,
    same: bool,
}

/// Median seconds of `reps` sums over the ranks of `floats` values: MPI_Allreduce of one
/// buffer, and the bucketed path (gradients of parameters of at most 1 M values, copied
/// into 4 MB buckets, non-blocking all-reduce of every bucket, mean written back).
fn all_reduce(world: &SimpleCommunicator, floats: usize, reps: usize) -> AllReduceRow {
    let rank = world.rank() as f32;
    let data: Vec<f32> = (0..floats)
        .map(|i| (i % 1000) as f32 * 1e-3 + rank)
        .collect();
    let mut recv = vec![0.0f32; floats];
    let mut raw = Vec::new();
    for _ in 0..reps {
        world.barrier();
        let t = Instant::now();
        world.all_reduce_into(&data[..], &mut recv[..], SystemOperation::sum());
        raw.push(t.elapsed().as_secs_f64());
    }
    let piece = 1 << 20;
    let params: Vec<Tensor> = (0..floats.div_ceil(piece))
        .map(|i| Tensor::zeros([piece.min(floats - i * piece)], DType::F32).requires_grad_())
        .collect();
    let mut ddp = DistributedDataParallel::new(world.duplicate(), DdpOptions::default());
    ddp.attach(&params).unwrap();
    let mut bucketed = Vec::new();
    let mut grads: Vec<Vec<f32>> = Vec::new();
    for _ in 0..reps {
        grads = data.chunks(piece).map(<[f32]>::to_vec).collect();
        world.barrier();
        let t = Instant::now();
        ddp.average_gradients(&mut grads).unwrap();
        bucketed.push(t.elapsed().as_secs_f64());
    }
    ddp.detach(&params);
    let size = world.size() as f32;
    let same = grads
        .concat()
        .iter()
        .zip(&recv)
        .all(|(&mean, &sum)| mean == sum / size);
    AllReduceRow {
        floats,
        raw_seconds: median(raw),
        bucketed_seconds: median(bucketed),
        buckets: ddp.bucket_sizes().len(),
        same,
    }
}

fn model(quick: bool) -> TrainConfig {
    TrainConfig {
        hidden: vec![1024, 1024],
        epochs: if quick { 2 } else { 4 },
        batch_size: 256,
        optimizer: OptimizerKind::Sgd,
        lr: 0.02,
        train_limit: quick.then_some(512),
        ..TrainConfig::default()
    }
}

/// Samples per second of an epoch (median over epochs; each epoch includes its sharded
/// evaluation), and the run's test accuracy.
fn throughput(history: &[retrograd_nn::metrics::EpochRecord], samples: usize) -> f64 {
    samples as f64 / median(history.iter().map(|r| r.seconds).collect())
}

fn main() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json = args.iter().any(|a| a == "--json");
    let universe = mpi::initialize().expect("MPI initialises once");
    let world = universe.world();
    let lead = world.rank() == 0;
    let ranks = world.size() as usize;

    let sizes: &[usize] = if quick {
        &[1 << 20, 4 << 20]
    } else {
        &[1_000_000, 10_000_000, 100_000_000]
    };
    let reps = if quick { 3 } else { 7 };
    let rows: Vec<AllReduceRow> = sizes.iter().map(|&n| all_reduce(&world, n, reps)).collect();

    // 1 rank: rank 0 alone (the others sleep); then all ranks together.
    let config = model(quick);
    let mut single = None;
    if lead {
        let trainer = Trainer::new(config.clone()).unwrap();
        let samples = trainer.data_sizes().0;
        let outcome = trainer.run(&mut Silent).unwrap();
        single = Some((
            throughput(&outcome.history, samples),
            outcome.test_accuracy(),
        ));
    }
    idle_barrier(&world);
    let trainer = Trainer::new(config.clone()).unwrap();
    let samples = trainer.data_sizes().0;
    let parameters = trainer.classifier().num_parameters();
    let mut ddp = DistributedDataParallel::new(world.duplicate(), DdpOptions::default());
    let outcome = trainer.run_replicated(&mut Silent, &mut ddp).unwrap();
    let together = throughput(&outcome.history, samples);
    // The slowest rank's view of the epoch time decides.
    let mut slowest = 0.0;
    world.all_reduce_into(&(1.0 / together), &mut slowest, SystemOperation::max());
    let together = 1.0 / slowest;
    let stats = ddp.stats().clone();
    if !lead {
        return;
    }
    let (alone, accuracy_alone) = single.expect("rank 0 ran alone");
    let efficiency = together / (ranks as f64 * alone);
    let bucketed_ok = rows.iter().all(|r| r.same);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default();
    let gbs = |floats: usize, s: f64| floats as f64 * 4.0 / s / 1e9;
    if json {
        let rows_json: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    r#"{{"floats":{},"raw_gb_per_s":{:.4},"bucketed_gb_per_s":{:.4},"buckets":{},"raw_seconds":{:.6},"bucketed_seconds":{:.6}}}"#,
                    r.floats,
                    gbs(r.floats, r.raw_seconds),
                    gbs(r.floats, r.bucketed_seconds),
                    r.buckets,
                    r.raw_seconds,
                    r.bucketed_seconds
                )
            })
            .collect();
        println!(
            r#"{{"ranks":{ranks},"all_reduce":[{}],"parameters":{parameters},"samples_per_s_1_rank":{alone:.1},"samples_per_s_{ranks}_ranks":{together:.1},"parallel_efficiency":{efficiency:.3},"test_accuracy_1_rank":{accuracy_alone:.4},"test_accuracy_{ranks}_ranks":{:.4},"buckets_started_in_backward":{},"buckets_complete_when_backward_ended":{},"wait_ms_per_step":{:.3},"load_average":"{load}","checks":{{"bucketed_sum_equals_raw_sum":{bucketed_ok},"efficiency_at_least_0.8":{}}}}}"#,
            rows_json.join(","),
            outcome.test_accuracy(),
            stats.buckets_in_backward,
            stats.buckets_done_by_end_of_backward,
            1e3 * stats.wait_seconds / stats.steps.max(1) as f64,
            efficiency >= 0.8
        );
        return;
    }
    println!(
        "all-reduce over {ranks} ranks (sum of f32, median of {reps}; GB/s = 4·n bytes / time)"
    );
    println!(
        "{:>12} {:>12} {:>14} {:>8} {:>8}",
        "floats", "raw GB/s", "bucketed GB/s", "buckets", "ratio"
    );
    for r in &rows {
        println!(
            "{:>12} {:>12.3} {:>14.3} {:>8} {:>8.2}",
            r.floats,
            gbs(r.floats, r.raw_seconds),
            gbs(r.floats, r.bucketed_seconds),
            r.buckets,
            r.raw_seconds / r.bucketed_seconds
        );
    }
    println!(
        "training MLP 64-1024-1024-10 ({parameters} parameters), batch 256 per rank, one thread per rank:"
    );
    println!(
        "  1 rank:  {alone:.0} samples/s (test accuracy {:.2}%)",
        100.0 * accuracy_alone
    );
    println!(
        "  {ranks} ranks: {together:.0} samples/s (test accuracy {:.2}%); parallel efficiency {:.1}%",
        100.0 * outcome.test_accuracy(),
        100.0 * efficiency
    );
    println!(
        "  buckets started inside backward: {} of {}; complete when backward ended: {}",
        stats.buckets_in_backward,
        stats.buckets_in_backward + stats.buckets_after_backward,
        stats.buckets_done_by_end_of_backward
    );
    println!(
        "  waiting for the all-reduce after backward: {:.2} ms per step",
        1e3 * stats.wait_seconds / stats.steps.max(1) as f64
    );
    println!("load average {load}");
    println!("check bucketed sum equals raw sum: {bucketed_ok}");
    println!("check efficiency at least 80%: {}", efficiency >= 0.8);
}
