//! The 1-D Poisson problem `−u'' = π² sin(πx)` on `[−1, 1]` with `u(±1) = 0`, whose
//! solution is `u = sin(πx)`: DeepXDE's `Poisson_Dirichlet_1d` set-up.

use std::f64::consts::PI;
use std::time::Instant;

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::{DType, Tensor};

use super::{adam_steps, relative_l2, tanh_mlp, tensors, Derivatives};
use crate::layers::Module;
use crate::optim::{AdamConfig, Lbfgs, LbfgsReport};
use crate::{Result, Rng};

/// The exact solution `sin(πx)`.
///
/// ```
/// assert!(retrograd_nn::pinn::poisson::exact(0.5) == 1.0);
/// ```
pub fn exact(x: f64) -> f64 {
    (PI * x).sin()
}

/// The set-up of a run; [`PoissonConfig::default`] is DeepXDE's.
///
/// ```
/// let c = retrograd_nn::pinn::poisson::PoissonConfig::default();
/// assert_eq!((c.widths.as_slice(), c.collocation, c.adam_steps), (&[1, 50, 50, 50, 1][..], 64, 5000));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PoissonConfig {
    /// Layer widths of the tanh network, input first.
    pub widths: Vec<usize>,
    /// Collocation points drawn uniformly in `(−1, 1)`.
    pub collocation: usize,
    /// Adam steps (learning rate [`PoissonConfig::lr`]) before L-BFGS.
    pub adam_steps: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// The L-BFGS settings (its `max_iter` 0 skips it).
    pub lbfgs: Lbfgs,
    /// Equally spaced test points on `[−1, 1]`.
    pub test_points: usize,
    /// Seed of the weights and the collocation points.
    pub seed: u64,
    /// The relative L2 error the run must reach for its check to pass.
    pub error_target: f64,
    /// The time per Adam step (ms, wall clock) the run must stay within, if timed.
    pub step_time_target_ms: Option<f64>,
    /// The time of the whole training, Adam and L-BFGS (s, wall clock), the run must stay
    /// within, if timed.
    pub total_time_target_s: Option<f64>,
}

impl Default for PoissonConfig {
    fn default() -> Self {
        PoissonConfig {
            widths: vec![1, 50, 50, 50, 1],
            collocation: 64,
            adam_steps: 5000,
            lr: 1e-3,
            lbfgs: Lbfgs {
                max_iter: 15_000,
                tolerance_grad: 1e-10,
                tolerance_change: 1e-16,
                ..Lbfgs::new()
            },
            test_points: 100,
            seed: 0,
            error_target: 1e-4,
            step_time_target_ms: Some(0.2),
            total_time_target_s: Some(2.0),
        }
    }
}

impl PoissonConfig {
    /// A smaller run for tests: a 1-20-20-1 network, 32 points, 1,000 Adam steps and up to
    /// 500 L-BFGS iterations, error target 1e-3, untimed.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::pinn::poisson::PoissonConfig::quick().widths, vec![1, 20, 20, 1]);
    /// ```
    pub fn quick() -> Self {
        let full = PoissonConfig::default();
        PoissonConfig {
            widths: vec![1, 20, 20, 1],
            collocation: 32,
            adam_steps: 1000,
            lbfgs: Lbfgs {
                max_iter: 500,
                ..full.lbfgs.clone()
            },
            error_target: 1e-3,
            step_time_target_ms: None,
            total_time_target_s: None,
            ..full
        }
    }
}

/// The pass/fail checks of a run: the error target, the time targets (if any), and that
/// L-BFGS did not end above the loss Adam reached.
///
/// ```
/// use retrograd_nn::pinn::poisson::{checks, run, PoissonConfig};
/// let c = PoissonConfig::quick();
/// let r = run(&c).unwrap();
/// assert!(checks(&c, &r).iter().all(|(_, ok)| *ok), "{:?}", checks(&c, &r));
/// ```
pub fn checks(config: &PoissonConfig, report: &PoissonReport) -> Vec<(&'static str, bool)> {
    let mut c = vec![
        (
            "rel_l2_error_within_target",
            report.rel_l2_error <= config.error_target,
        ),
        ("lbfgs_lowered_loss", report.lbfgs.loss <= report.adam_loss),
    ];
    if let Some(ms) = config.step_time_target_ms {
        c.push((
            "adam_step_within_time_target",
            report.ms_per_adam_step <= ms,
        ));
    }
    if let Some(s) = config.total_time_target_s {
        c.push((
            "total_within_time_target",
            report.adam_seconds + report.lbfgs_seconds <= s,
        ));
    }
    c
}

/// What a run did.
///
/// ```
/// use retrograd_nn::pinn::poisson::{run, PoissonConfig};
/// let c = PoissonConfig { widths: vec![1, 8, 1], adam_steps: 5, ..PoissonConfig::default() };
/// let r = run(&PoissonConfig { lbfgs: retrograd_nn::optim::Lbfgs { max_iter: 5, ..c.lbfgs.clone() }, ..c }).unwrap();
/// assert_eq!(r.x.len(), 100);
/// assert!(r.rel_l2_error.is_finite());
/// ```
#[derive(Clone, Debug)]
pub struct PoissonReport {
    /// The relative L2 error on the test points.
    pub rel_l2_error: f64,
    /// The loss after Adam.
    pub adam_loss: f64,
    /// Milliseconds per Adam step (forward, grad-of-grad, backward and update), wall clock.
    pub ms_per_adam_step: f64,
    /// The same in this thread's CPU time, where the system reports it (Linux), which a
    /// busy machine inflates less than the wall clock.
    pub cpu_ms_per_adam_step: Option<f64>,
    /// Seconds spent in Adam.
    pub adam_seconds: f64,
    /// What L-BFGS did.
    pub lbfgs: LbfgsReport,
    /// Seconds spent in L-BFGS.
    pub lbfgs_seconds: f64,
    /// The test points.
    pub x: Vec<f64>,
    /// The network at the test points.
    pub predicted: Vec<f64>,
    /// The exact solution at the test points.
    pub exact: Vec<f64>,
}

/// Mean squared PDE residual at the collocation points plus mean squared boundary value.
fn loss(net: &dyn Module, points: &Tensor, forcing: &Tensor, n: usize) -> Result<Tensor> {
    let d = Derivatives::of(|x| net.forward(x), points, &[0])?;
    let residual = d.second[0].narrow(0, 0, n)?.neg()?.sub(forcing)?;
    let boundary = d.u.narrow(0, n, 2)?;
    Ok(residual
        .square()?
        .mean_all()?
        .add(&boundary.square()?.mean_all()?)?)
}

/// Trains the network with Adam then L-BFGS and measures it on the test points.
///
/// ```
/// use retrograd_nn::pinn::poisson::{run, PoissonConfig};
/// let small = PoissonConfig { widths: vec![1, 16, 16, 1], adam_steps: 200, ..PoissonConfig::quick() };
/// let r = run(&small).unwrap();
/// assert!(r.rel_l2_error < 1e-2, "{}", r.rel_l2_error);
/// ```
pub fn run(config: &PoissonConfig) -> Result<PoissonReport> {
    let mut rng = Rng::new(config.seed);
    let net = tanh_mlp(&config.widths, DType::F64, &mut rng)?;
    let n = config.collocation;
    // Collocation points, then the two boundary points, so one pass serves both terms.
    let mut xs: Vec<f64> = (0..n).map(|_| 2.0 * rng.uniform() - 1.0).collect();
    let forcing: Vec<f64> = xs.iter().map(|&x| PI * PI * (PI * x).sin()).collect();
    xs.extend([-1.0, 1.0]);
    let points = Tensor::from_vec(xs, [n + 2, 1])?;
    let forcing = Tensor::from_vec(forcing, [n, 1])?;
    let params = tensors(&net);
    let objective = || loss(&net, &points, &forcing, n);

    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    let adam = AdamConfig::new(config.lr);
    let adam_loss = adam_steps(&params, adam, config.adam_steps, objective)?;
    let adam_seconds = start.elapsed().as_secs_f64();
    let per_step = |seconds: f64| 1e3 * seconds / config.adam_steps.max(1) as f64;
    let cpu_ms_per_adam_step = cpu_start
        .zip(thread_cpu_seconds())
        .map(|(a, b)| per_step(b - a));
    let start = Instant::now();
    let lbfgs = config.lbfgs.minimize_params(&params, objective)?;
    let lbfgs_seconds = start.elapsed().as_secs_f64();

    let x: Vec<f64> = Tensor::linspace(-1.0, 1.0, config.test_points, DType::F64).to_vec()?;
    let test = Tensor::from_vec(x.clone(), [x.len(), 1])?;
    let predicted: Vec<f64> = no_grad(|| net.forward(&test))?.to_vec()?;
    let exact: Vec<f64> = x.iter().map(|&x| exact(x)).collect();
    Ok(PoissonReport {
        rel_l2_error: relative_l2(&predicted, &exact),
        adam_loss,
        ms_per_adam_step: per_step(adam_seconds),
        cpu_ms_per_adam_step,
        adam_seconds,
        lbfgs,
        lbfgs_seconds,
        x,
        predicted,
        exact,
    })
}

/// The CPU time this thread has run, from `/proc/thread-self/schedstat` (nanoseconds on
/// the CPU first); `None` where that file does not exist.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}
