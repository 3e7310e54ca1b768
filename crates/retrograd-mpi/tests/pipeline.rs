//! Pipeline parallelism at 2 and 3 ranks: every parameter's gradient and the loss equal
//! those of the unsplit model on the same batch, for both schedules, with and without
//! checkpointing, with even and uneven micro-batches; 1F1B's bound on held activations;
//! clear errors for bad splits, missing data and a dead peer.

mod common;

// The example's measurement, run here at a small size.
#[allow(dead_code)]
#[path = "../examples/pipeline/bubble.rs"]
mod bubble;

use mpi::topology::{Communicator, SimpleCommunicator};
use retrograd::tensor::{DType, Tensor};
use retrograd_mpi::pipeline::{Pipeline, PipelineConfig, Schedule, Split};
use retrograd_mpi::Error;
use retrograd_nn::layers::{Linear, Module, Relu, Sequential};
use retrograd_nn::{loss, pinn::tanh_mlp, Rng};
use std::collections::HashMap;
use std::time::Duration;

fn main() {
    if !common::in_mpi_job() {
        common::ranks(2, Duration::from_secs(300));
        common::ranks(3, Duration::from_secs(300));
        return;
    }
    let universe = mpi::initialize().expect("MPI initialises once");
    let world = universe.world();
    gradients_equal_the_unsplit_model(&world);
    if world.size() == 2 {
        cross_entropy_in_f32(&world);
        one_f_one_b_bounds_held_activations(&world);
        bad_settings_are_clear_errors(&world);
        a_dead_peer_is_a_timeout(&world);
        the_bubble_measurement_runs(&world);
    }
    println!(
        "rank {} of {}: pipeline checks passed",
        world.rank(),
        world.size()
    );
}

/// A tanh network in `f64`: 7 layers (4 linear), so 2 or 3 stages each get some.
fn model(seed: u64) -> Sequential {
    tanh_mlp(&[3, 8, 8, 8, 2], DType::F64, &mut Rng::new(seed)).unwrap()
}

fn batch(rows: usize, features: usize, dtype: DType, phase: f64) -> Tensor {
    let v: Vec<f64> = (0..rows * features)
        .map(|i| (0.37 * i as f64 + phase).sin())
        .collect();
    Tensor::from_vec(v, [rows, features])
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

/// The loss and every parameter's gradient of the whole model on the whole batch.
fn unsplit(
    net: &Sequential,
    x: &Tensor,
    y: &Tensor,
    loss: &dyn Fn(&Tensor, &Tensor) -> retrograd_nn::Result<Tensor>,
) -> (f64, HashMap<String, Vec<f64>>) {
    let l = loss(&net.forward(x).unwrap(), y).unwrap();
    l.backward().unwrap();
    let grads = net
        .parameters()
        .into_iter()
        .map(|(name, p)| (name, p.grad().unwrap().to_vec_f64()))
        .collect();
    (l.item().unwrap(), grads)
}

/// Runs one step of a pipeline built from `net` and compares with the unsplit model
/// built from `reference`, with `tolerance` relative to the largest gradient entry.
#[allow(clippy::too_many_arguments)]
fn check_step(
    world: &SimpleCommunicator,
    net: Sequential,
    reference: Sequential,
    split: &Split,
    config: PipelineConfig,
    x: &Tensor,
    y: &Tensor,
    loss: fn(&Tensor, &Tensor) -> retrograd_nn::Result<Tensor>,
    tolerance: f64,
) {
    let what = format!("{config:?} {split:?} on {} ranks", world.size());
    let (want_loss, want) = unsplit(&reference, x, y, &loss);
    let mut pipe = Pipeline::new(world, net, split, config, loss).unwrap();
    let (stage, stages) = pipe.stage();
    let input = (stage == 0).then_some(x);
    let target = (stage + 1 == stages).then_some(y);
    let report = pipe.step(input, target).unwrap();
    assert!(
        (report.loss - want_loss).abs() <= tolerance * want_loss.abs(),
        "{what}: loss {} vs unsplit {want_loss}",
        report.loss
    );
    let params = pipe.parameters();
    assert!(
        !params.is_empty(),
        "{what}: stage {stage} has no parameters"
    );
    for (name, p) in params {
        let got = p.grad().unwrap().to_vec_f64();
        let expect = &want[&name];
        let scale = expect.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for (g, e) in got.iter().zip(expect) {
            assert!(
                (g - e).abs() <= tolerance * scale,
                "{what}: {name} on stage {stage}: {g} vs unsplit {e}"
            );
        }
    }
    assert!(report.busy <= report.wall);
}

/// `f64` throughout: the pipeline sums the micro-batches' gradients in another order
/// than the whole batch's reductions, so results differ by rounding only (≈ 1e-16
/// relative); 1e-12 leaves room for cancellation.
fn gradients_equal_the_unsplit_model(world: &SimpleCommunicator) {
    let x = batch(13, 3, DType::F64, 0.0);
    let y = batch(13, 2, DType::F64, 1.0);
    let splits = if world.size() == 2 {
        vec![Split::Balanced, Split::At(vec![3])]
    } else {
        vec![Split::Balanced, Split::At(vec![2, 5])]
    };
    for schedule in [Schedule::GPipe, Schedule::OneFOneB] {
        for checkpoint in [false, true] {
            // m = 1; m > p (13 = 3·4 + 1: one micro-batch of 4 rows, three of 3); one row each
            for micro_batches in [1, 4, 13] {
                for split in &splits {
                    let config = PipelineConfig {
                        schedule,
                        micro_batches,
                        checkpoint,
                        timeout: Duration::from_secs(60),
                    };
                    check_step(
                        world,
                        model(7),
                        model(7),
                        split,
                        config,
                        &x,
                        &y,
                        loss::mse,
                        1e-12,
                    );
                }
            }
        }
    }
}

fn classifier(seed: u64) -> Sequential {
    let mut rng = Rng::new(seed);
    Sequential::new()
        .add(Linear::new(6, 16, &mut rng).unwrap())
        .add(Relu)
        .add(Linear::new(16, 16, &mut rng).unwrap())
        .add(Relu)
        .add(Linear::new(16, 4, &mut rng).unwrap())
}

/// The layers' own `f32` parameters and the fused cross-entropy: equal within `f32`
/// rounding of the reordered sums.
fn cross_entropy_in_f32(world: &SimpleCommunicator) {
    let x = batch(10, 6, DType::F32, 0.5);
    let labels: Vec<i64> = (0..10).map(|i| (i * 7 % 4) as i64).collect();
    let y = Tensor::from_vec(labels, [10]).unwrap();
    let ce = |logits: &Tensor, t: &Tensor| loss::cross_entropy(logits, t, 0.0);
    for schedule in [Schedule::GPipe, Schedule::OneFOneB] {
        let config = PipelineConfig {
            schedule,
            micro_batches: 3,
            checkpoint: true,
            ..Default::default()
        };
        check_step(
            world,
            classifier(3),
            classifier(3),
            &Split::Balanced,
            config,
            &x,
            &y,
            ce,
            1e-5,
        );
    }
}

/// At 2 ranks and 8 micro-batches GPipe holds all 8 micro-batches' graphs at once on each
/// stage; 1F1B at most 2 on the first stage and 1 on the last, and the graph nodes alive
/// during the step shrink in proportion. Checkpointing keeps fewer nodes still.
fn one_f_one_b_bounds_held_activations(world: &SimpleCommunicator) {
    let (rows, m) = (16, 8);
    let x = batch(rows, 3, DType::F64, 0.0);
    let y = batch(rows, 2, DType::F64, 1.0);
    let run = |schedule, checkpoint| {
        let config = PipelineConfig {
            schedule,
            micro_batches: m,
            checkpoint,
            ..Default::default()
        };
        let mut pipe = Pipeline::new(world, model(1), &Split::Balanced, config, loss::mse).unwrap();
        let (stage, stages) = pipe.stage();
        let report = pipe
            .step(
                (stage == 0).then_some(&x),
                (stage + 1 == stages).then_some(&y),
            )
            .unwrap();
        (report, stage, stages)
    };
    let (gpipe, stage, stages) = run(Schedule::GPipe, false);
    let (one, _, _) = run(Schedule::OneFOneB, false);
    let (one_checkpointed, _, _) = run(Schedule::OneFOneB, true);
    let bound = stages - stage;
    assert_eq!(gpipe.peak_in_flight, m);
    assert_eq!(one.peak_in_flight, bound);
    assert_eq!(
        one.peak_in_flight,
        Schedule::OneFOneB.peak_in_flight(stage, stages, m)
    );
    let per_micro_batch = gpipe.peak_live_nodes / m;
    assert!(
        per_micro_batch > 0 && gpipe.peak_live_nodes % m == 0,
        "{gpipe:?}"
    );
    assert!(
        one.peak_live_nodes <= bound * per_micro_batch,
        "stage {stage}: 1F1B kept {} nodes, more than {bound} micro-batches of {per_micro_batch}",
        one.peak_live_nodes
    );
    assert!(
        one_checkpointed.peak_live_nodes < one.peak_live_nodes,
        "stage {stage}: checkpointing kept {} nodes, not fewer than {}",
        one_checkpointed.peak_live_nodes,
        one.peak_live_nodes
    );
    println!(
        "stage {stage}: live nodes at most {} (GPipe), {} (1F1B), {} (1F1B, checkpointed)",
        gpipe.peak_live_nodes, one.peak_live_nodes, one_checkpointed.peak_live_nodes
    );
}

fn bad_settings_are_clear_errors(world: &SimpleCommunicator) {
    let config = PipelineConfig::default();
    let err = |r: Result<Pipeline, Error>| r.err().expect("an error").to_string();
    let msg = err(Pipeline::new(
        world,
        model(0),
        &Split::At(vec![2, 4]),
        config.clone(),
        loss::mse,
    ));
    assert!(
        msg.contains("makes 3 stages, but there are 2 ranks"),
        "{msg}"
    );
    let one_layer = Sequential::new().add(Linear::new(3, 2, &mut Rng::new(0)).unwrap());
    let msg = err(Pipeline::new(
        world,
        one_layer,
        &Split::Balanced,
        config.clone(),
        loss::mse,
    ));
    assert!(
        msg.contains("2 pipeline stages but the model has 1 layer"),
        "{msg}"
    );
    let msg = err(Pipeline::new(
        world,
        model(0),
        &Split::At(vec![7]),
        config.clone(),
        loss::mse,
    ));
    assert!(msg.contains("must increase strictly within 1..7"), "{msg}");
    let zero = PipelineConfig {
        micro_batches: 0,
        ..config.clone()
    };
    let msg = err(Pipeline::new(
        world,
        model(0),
        &Split::Balanced,
        zero,
        loss::mse,
    ));
    assert!(msg.contains("1 to 10921 micro-batches, not 0"), "{msg}");

    // Errors found before any message is sent, on the stage that holds the data.
    let mut pipe =
        Pipeline::new(world, model(0), &Split::Balanced, config.clone(), loss::mse).unwrap();
    let msg = pipe.step(None, None).unwrap_err().to_string();
    let which = if world.rank() == 0 {
        "first stage and needs the batch's input"
    } else {
        "last stage and needs the batch's target"
    };
    assert!(msg.contains(which), "{msg}");
    let msg = pipe.step(None, None).unwrap_err().to_string();
    assert!(
        msg.contains("an earlier step of this pipeline failed"),
        "{msg}"
    );

    let mut pipe = Pipeline::new(world, model(0), &Split::Balanced, config, loss::mse).unwrap();
    let small = batch(3, 3, DType::F64, 0.0);
    let small_y = batch(3, 2, DType::F64, 0.0);
    let msg = pipe
        .step(Some(&small), Some(&small_y))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("a batch of 3 rows cannot make 4 micro-batches"),
        "{msg}"
    );
}

/// One rank stops taking part: the other's step fails with a timeout naming the receive
/// it was waiting on, after the configured time.
fn a_dead_peer_is_a_timeout(world: &SimpleCommunicator) {
    let config = PipelineConfig {
        schedule: Schedule::GPipe,
        micro_batches: 2,
        checkpoint: false,
        timeout: Duration::from_millis(500),
    };
    let x = batch(4, 3, DType::F64, 0.0);
    let y = batch(4, 2, DType::F64, 0.0);
    for (waiting, op) in [
        (0, "pipeline receive of gradients"),
        (1, "pipeline receive of activations"),
    ] {
        let mut pipe =
            Pipeline::new(world, model(0), &Split::Balanced, config.clone(), loss::mse).unwrap();
        if world.rank() == waiting {
            let started = std::time::Instant::now();
            match pipe.step(Some(&x), Some(&y)) {
                Err(Error::Timeout { op: got, seconds }) => {
                    assert_eq!(got, op);
                    assert_eq!(seconds, 0.5);
                }
                other => panic!("rank {waiting}: expected a timeout, got {other:?}"),
            }
            assert!(started.elapsed() >= Duration::from_millis(500));
        }
    }
}

/// The example's measurement at its `--quick` size: the figures are well formed and every
/// rank reports the same loss (timings on a shared machine are too noisy to assert here;
/// the example checks them at full size).
fn the_bubble_measurement_runs(world: &SimpleCommunicator) {
    let sizes = bubble::Sizes {
        batch: 32,
        width: 32,
        depth: 4,
        steps: 3,
    };
    let rows: Vec<bubble::Row> = [1, 4]
        .into_iter()
        .map(|m| bubble::measure(world, &sizes, Schedule::OneFOneB, m))
        .collect();
    if world.rank() == 0 {
        let checks = bubble::checks(&rows, 1.0);
        assert_eq!(checks[0], ("loss_agrees_across_ranks", true));
        for r in &rows {
            assert_eq!(r.theory, 1.0 / (r.micro_batches as f64 + 1.0));
            assert!(
                r.best_per_rank.len() == 2
                    && r.best_per_rank.iter().all(|v| (0.0..=1.0).contains(v)),
                "{r:?}"
            );
            assert!(
                r.best_step_ms > 0.0 && r.best_step_ms <= r.median_step_ms,
                "{r:?}"
            );
        }
    }
}
