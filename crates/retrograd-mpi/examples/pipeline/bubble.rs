//! Measuring a pipeline's bubble: the fraction of a step each rank spends not computing,
//! against the theory `(p − 1)/(m + p − 1)`.

use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::*;
use retrograd::tensor::Tensor;
use retrograd_mpi::pipeline::{theoretical_bubble, Pipeline, PipelineConfig, Schedule, Split};
use retrograd_nn::layers::{Linear, Relu, Sequential};
use retrograd_nn::{loss, Rng};

/// The model and batch of a measurement.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Rows per step (split into micro-batches).
    pub batch: usize,
    /// Width of every hidden layer.
    pub width: usize,
    /// Linear layers (each but the last followed by a ReLU).
    pub depth: usize,
    /// Steps timed per setting (after one untimed step).
    pub steps: usize,
}

/// One setting's figures, over all ranks.
#[derive(Clone, Debug)]
pub struct Row {
    pub schedule: Schedule,
    pub micro_batches: usize,
    /// `(p − 1)/(m + p − 1)`.
    pub theory: f64,
    /// Each rank's idle fraction in the fastest step (the one least disturbed by other
    /// work on the machine: the smallest wall time of the slowest rank).
    pub best_per_rank: Vec<f64>,
    /// The mean of `best_per_rank`.
    pub best: f64,
    /// The mean over ranks of each rank's median idle fraction over the timed steps.
    pub median: f64,
    /// The fastest and the median step time (ms) of the slowest rank.
    pub best_step_ms: f64,
    pub median_step_ms: f64,
    /// Whether every rank reported the same loss on every step.
    pub loss_agrees: bool,
}

fn model(sizes: &Sizes) -> Sequential {
    // Equal layers (the last one too, with `width` classes), so that the balanced split
    // gives stages of equal work, as the theory assumes.
    let mut rng = Rng::new(11);
    let mut net = Sequential::new();
    for i in 0..sizes.depth {
        net = net.add(Linear::new(sizes.width, sizes.width, &mut rng).unwrap());
        if i + 1 < sizes.depth {
            net = net.add(Relu);
        }
    }
    net
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Trains `sizes.steps + 1` steps with `m` micro-batches on every rank of `world` (all
/// ranks call it) and gathers the figures (complete on rank 0).
pub fn measure(world: &SimpleCommunicator, sizes: &Sizes, schedule: Schedule, m: usize) -> Row {
    let config = PipelineConfig {
        schedule,
        micro_batches: m,
        ..Default::default()
    };
    let mut pipe = Pipeline::new(world, model(sizes), &Split::Balanced, config, |y, t| {
        loss::cross_entropy(y, t, 0.0)
    })
    .expect("a valid pipeline");
    let (stage, stages) = pipe.stage();
    let x: Vec<f32> = (0..sizes.batch * sizes.width)
        .map(|i| (0.01 * i as f32).sin())
        .collect();
    let x = Tensor::from_vec(x, [sizes.batch, sizes.width]).unwrap();
    let labels: Vec<i64> = (0..sizes.batch as i64).map(|i| i % 10).collect();
    let y = Tensor::from_vec(labels, [sizes.batch]).unwrap();
    // per timed step: busy and wall time (ms), loss
    let mut mine: Vec<f64> = Vec::new();
    for step in 0..=sizes.steps {
        pipe.zero_grad();
        world.barrier();
        let report = pipe
            .step(
                (stage == 0).then_some(&x),
                (stage + 1 == stages).then_some(&y),
            )
            .expect("a pipeline step");
        if step > 0 {
            mine.extend([
                report.busy.as_secs_f64() * 1e3,
                report.wall.as_secs_f64() * 1e3,
                report.loss,
            ]);
        }
    }
    let root = world.process_at_rank(0);
    let mut all = vec![0.0f64; mine.len() * stages];
    if stage == 0 {
        root.gather_into_root(&mine[..], &mut all[..]);
    } else {
        root.gather_into(&mine[..]);
    }
    // all[rank][step][field]
    let at = |rank: usize, step: usize, field: usize| all[(rank * sizes.steps + step) * 3 + field];
    let slowest = |step: usize| (0..stages).map(|r| at(r, step, 1)).fold(0.0, f64::max);
    let fastest = (0..sizes.steps)
        .min_by(|&a, &b| slowest(a).total_cmp(&slowest(b)))
        .expect("at least one timed step");
    // A rank leaves the step after its last backward, before the others are done: the
    // pipeline's step is the slowest rank's, and each rank's idle time is measured in it.
    let idle = |rank: usize, step: usize| 1.0 - at(rank, step, 0) / slowest(step);
    let best_per_rank: Vec<f64> = (0..stages).map(|r| idle(r, fastest)).collect();
    let median_idle: Vec<f64> = (0..stages)
        .map(|r| median((0..sizes.steps).map(|s| idle(r, s)).collect()))
        .collect();
    Row {
        schedule,
        micro_batches: m,
        theory: theoretical_bubble(stages, m),
        best: best_per_rank.iter().sum::<f64>() / stages as f64,
        best_per_rank,
        median: median_idle.iter().sum::<f64>() / stages as f64,
        best_step_ms: slowest(fastest),
        median_step_ms: median((0..sizes.steps).map(slowest).collect()),
        loss_agrees: (0..sizes.steps).all(|s| (1..stages).all(|r| at(r, s, 2) == at(0, s, 2))),
    }
}

/// The checks of a set of rows: every rank agrees on the loss; for each schedule the
/// bubble of the fastest step is smaller at the most micro-batches than at the fewest; no
/// bubble is below the theory (by more than 0.05: a pipeline cannot beat it, so that would
/// be a measurement error); every bubble lies within `tolerance` above the theory
/// (communication and a busy machine add idle time).
pub fn checks(rows: &[Row], tolerance: f64) -> Vec<(&'static str, bool)> {
    let falls = |s: Schedule| {
        let r: Vec<&Row> = rows.iter().filter(|r| r.schedule == s).collect();
        r.len() >= 2 && r[r.len() - 1].best < r[0].best
    };
    vec![
        (
            "loss_agrees_across_ranks",
            rows.iter().all(|r| r.loss_agrees),
        ),
        ("gpipe_bubble_falls_with_m", falls(Schedule::GPipe)),
        ("one_f_one_b_bubble_falls_with_m", falls(Schedule::OneFOneB)),
        (
            "bubble_not_below_theory",
            rows.iter().all(|r| r.best >= r.theory - 0.05),
        ),
        (
            "bubble_within_tolerance_of_theory",
            rows.iter().all(|r| r.best - r.theory <= tolerance),
        ),
    ]
}
