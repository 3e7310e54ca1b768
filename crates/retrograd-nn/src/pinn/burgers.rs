//! Viscous Burgers' equation `u_t + u u_x = ν u_xx` on `x ∈ [−1, 1]`, `t ∈ [0, 1]`, with
//! `u(x, 0) = −sin(πx)`, `u(±1, t) = 0` and `ν = 0.01/π`: the set-up of Raissi, Perdikaris
//! and Karniadakis (2019). A shock forms at `x = 0`. The exact solution comes from the
//! Cole–Hopf transform, its integrals by Gauss–Hermite quadrature.

use std::f64::consts::PI;
use std::time::Instant;

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::{DType, Tensor};

use super::{adam_steps, relative_l2, tanh_mlp, tensors, Derivatives};
use crate::layers::Module;
use crate::optim::{AdamConfig, Lbfgs, LbfgsReport};
use crate::{NnError, Result, Rng};

/// The viscosity of the benchmark, `0.01/π`.
pub const NU: f64 = 0.01 / PI;

/// The nodes `z_i` (in decreasing order) and the logarithms of the weights `w_i` of the
/// `n`-point Gauss–Hermite rule, `∫ f(z) e^{−z²} dz ≈ Σ w_i f(z_i)`, exact for polynomials
/// of degree below `2n`. The positive roots of the orthonormal Hermite polynomial are
/// bracketed by sign changes on a fine grid over `[0, √(2n+1)]` (which holds them all) and
/// polished by safeguarded Newton steps; the weights are returned as logarithms because the
/// outer ones underflow for large `n`.
///
/// ```
/// use retrograd_nn::pinn::burgers::gauss_hermite;
/// let (z, log_w) = gauss_hermite(20).unwrap();
/// // ∫ z² e^{−z²} dz = √π / 2
/// let m2: f64 = z.iter().zip(&log_w).map(|(z, lw)| z * z * lw.exp()).sum();
/// assert!((m2 - std::f64::consts::PI.sqrt() / 2.0).abs() < 1e-13);
/// ```
pub fn gauss_hermite(n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    // Beyond 500 nodes the polynomial's values at the outer roots approach f64's range.
    if n == 0 || n > 500 {
        return Err(NnError::invalid(format!(
            "Gauss–Hermite rules are computed for 1 to 500 nodes, not {n}"
        )));
    }
    const PI_M4: f64 = 0.751_125_544_464_942_5; // π^(−1/4)
    let nf = n as f64;
    // p_n(x) and p_n'(x) = √(2n) p_{n−1}(x) of the orthonormal polynomials
    let eval = |x: f64| {
        let (mut p1, mut p2) = (PI_M4, 0.0);
        for j in 1..=n {
            let p3 = p2;
            p2 = p1;
            let jf = j as f64;
            p1 = x * (2.0 / jf).sqrt() * p2 - ((jf - 1.0) / jf).sqrt() * p3;
        }
        (p1, (2.0 * nf).sqrt() * p2)
    };
    let mut positive = Vec::with_capacity(n / 2);
    let top = (2.0 * nf + 1.0).sqrt();
    let cells = 40 * n;
    // Odd n has the root 0; start just past it so that it is not bracketed twice.
    let mut a = if n % 2 == 1 {
        0.25 * top / cells as f64
    } else {
        0.0
    };
    let mut fa = eval(a).0;
    for k in 1..=cells {
        let b = top * k as f64 / cells as f64;
        let fb = eval(b).0;
        if fa.signum() != fb.signum() {
            positive.push(polish(&eval, a, b));
        }
        (a, fa) = (b, fb);
    }
    if positive.len() != n / 2 {
        return Err(NnError::invalid(format!(
            "Gauss–Hermite: found {} positive roots of H_{n}, expected {}",
            positive.len(),
            n / 2
        )));
    }
    let mut z: Vec<f64> = positive.iter().rev().copied().collect();
    if n % 2 == 1 {
        z.push(0.0);
    }
    z.extend(positive.iter().map(|x| -x));
    let log_w = z
        .iter()
        .map(|&x| 2f64.ln() - 2.0 * eval(x).1.abs().ln())
        .collect();
    Ok((z, log_w))
}

/// The root of `f` in `[a, b]` (where it changes sign) by Newton steps, bisecting whenever
/// a step would leave the shrinking bracket.
fn polish(f: &impl Fn(f64) -> (f64, f64), mut a: f64, mut b: f64) -> f64 {
    let fa_sign = f(a).0.signum();
    let mut x = 0.5 * (a + b);
    for _ in 0..200 {
        let (v, d) = f(x);
        if v == 0.0 {
            return x;
        }
        if v.signum() == fa_sign {
            a = x;
        } else {
            b = x;
        }
        let newton = x - v / d;
        let next = if newton > a && newton < b {
            newton
        } else {
            0.5 * (a + b)
        };
        if (next - x).abs() <= 1e-15 * x.abs().max(1.0) {
            return next;
        }
        x = next;
    }
    x
}

/// The exact solution of the benchmark by the Cole–Hopf transform, with its integrals
/// over the heat kernel taken by an `n`-point Gauss–Hermite rule:
///
/// `u(x, t) = −∫ sin(π(x−η)) f(x−η) e^{−η²/4νt} dη / ∫ f(x−η) e^{−η²/4νt} dη`,
/// `f(y) = exp(−cos(πy) / 2πν)`, substituting `η = √(4νt) z`.
///
/// ```
/// use retrograd_nn::pinn::burgers::BurgersExact;
/// let exact = BurgersExact::new(retrograd_nn::pinn::burgers::NU, 300).unwrap();
/// assert_eq!(exact.u(0.5, 0.0), -1.0);
/// assert!(exact.u(0.0, 0.5).abs() < 1e-12); // odd in x
/// assert!((exact.u(-0.5, 0.5) + exact.u(0.5, 0.5)).abs() < 1e-12);
/// ```
#[derive(Clone, Debug)]
pub struct BurgersExact {
    nu: f64,
    nodes: Vec<f64>,
    log_weights: Vec<f64>,
}

impl BurgersExact {
    /// The solution for viscosity `nu > 0` with an `n`-node rule (300 resolve the
    /// benchmark's shock to about 1e-10).
    ///
    /// ```
    /// assert!(retrograd_nn::pinn::burgers::BurgersExact::new(0.0, 100).is_err());
    /// ```
    pub fn new(nu: f64, n: usize) -> Result<Self> {
        if !(nu > 0.0 && nu.is_finite()) {
            return Err(NnError::invalid(format!(
                "Burgers: the viscosity must be positive and finite, got {nu}"
            )));
        }
        let (nodes, log_weights) = gauss_hermite(n)?;
        Ok(BurgersExact {
            nu,
            nodes,
            log_weights,
        })
    }

    /// `u(x, t)` for `t ≥ 0`.
    ///
    /// ```
    /// let e = retrograd_nn::pinn::burgers::BurgersExact::new(0.1, 100).unwrap();
    /// assert!(e.u(0.3, 0.2) < 0.0);
    /// ```
    pub fn u(&self, x: f64, t: f64) -> f64 {
        if t <= 0.0 {
            return -(PI * x).sin();
        }
        let s = (4.0 * self.nu * t).sqrt();
        let k = 1.0 / (2.0 * PI * self.nu);
        // Every term carries exp(−cos(πy)·k); dividing by the largest keeps them finite.
        let exponents: Vec<f64> = self
            .nodes
            .iter()
            .zip(&self.log_weights)
            .map(|(z, lw)| lw - (PI * (x - s * z)).cos() * k)
            .collect();
        let top = exponents.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (mut num, mut den) = (0.0, 0.0);
        for (z, e) in self.nodes.iter().zip(&exponents) {
            let w = (e - top).exp();
            num += w * (PI * (x - s * z)).sin();
            den += w;
        }
        -num / den
    }
}

/// The set-up of a run; [`BurgersConfig::default`] is Raissi et al.'s: their network
/// (whose input `(x, t)` is scaled onto `[−1, 1]²`), 100 data points and 10,000
/// collocation points, Adam for 1,000 steps, then L-BFGS for up to 20,000 iterations
/// (25,000 evaluations; Raissi et al. allow L-BFGS-B 50,000).
///
/// ```
/// let c = retrograd_nn::pinn::burgers::BurgersConfig::default();
/// assert_eq!((c.widths.len(), c.collocation, c.data_points), (10, 10_000, 100));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BurgersConfig {
    /// Layer widths of the tanh network, input `(x, t)` first.
    pub widths: Vec<usize>,
    /// Collocation points, a Latin hypercube sample of `[−1, 1] × [0, 1]`.
    pub collocation: usize,
    /// Initial and boundary points drawn from 256 on `t = 0` and 100 on each of `x = ±1`.
    pub data_points: usize,
    /// Adam steps before L-BFGS.
    pub adam_steps: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// The L-BFGS settings.
    pub lbfgs: Lbfgs,
    /// The test grid: `nx` points in x times `nt` in t (Raissi's: 256 × 100).
    pub test_grid: (usize, usize),
    /// Gauss–Hermite nodes of the exact solution.
    pub quadrature_nodes: usize,
    /// Seed of the weights and the points.
    pub seed: u64,
    /// The relative L2 error the run must reach for its check to pass.
    pub error_target: f64,
}

impl Default for BurgersConfig {
    fn default() -> Self {
        let mut widths = vec![2];
        widths.extend([20; 8]);
        widths.push(1);
        BurgersConfig {
            widths,
            collocation: 10_000,
            data_points: 100,
            adam_steps: 1000,
            lr: 1e-3,
            lbfgs: Lbfgs {
                max_iter: 20_000,
                history: 50,
                tolerance_grad: 1e-10,
                tolerance_change: 1e-16,
                ..Lbfgs::new()
            },
            test_grid: (256, 100),
            quadrature_nodes: 300,
            seed: 0,
            error_target: 1e-3,
        }
    }
}

impl BurgersConfig {
    /// A smaller run for tests: a 2-20-20-20-1 network, 1,000 collocation points, 500
    /// Adam steps and 500 L-BFGS iterations, a 64 × 25 test grid. Far from resolving the
    /// shock, so its error target is 0.5 (an untrained network's error is about 1).
    ///
    /// ```
    /// assert_eq!(retrograd_nn::pinn::burgers::BurgersConfig::quick().collocation, 1000);
    /// ```
    pub fn quick() -> Self {
        let full = BurgersConfig::default();
        BurgersConfig {
            widths: vec![2, 20, 20, 20, 1],
            collocation: 1000,
            adam_steps: 500,
            lbfgs: Lbfgs {
                max_iter: 500,
                ..full.lbfgs.clone()
            },
            test_grid: (64, 25),
            error_target: 0.5,
            ..full
        }
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct BurgersReport {
    /// The relative L2 error on the test grid.
    pub rel_l2_error: f64,
    /// The loss after Adam.
    pub adam_loss: f64,
    /// Seconds spent in Adam.
    pub adam_seconds: f64,
    /// What L-BFGS did.
    pub lbfgs: LbfgsReport,
    /// Seconds spent in L-BFGS.
    pub lbfgs_seconds: f64,
    /// The test grid's x values.
    pub x: Vec<f64>,
    /// The test grid's t values.
    pub t: Vec<f64>,
    /// The network on the grid, row `j` (of `t.len()`) holding `t[j]`.
    pub predicted: Vec<f64>,
    /// The exact solution on the grid, same layout.
    pub exact: Vec<f64>,
}

/// The state of a logged run ([`run_logged`]) at an L-BFGS iterate where a shorter run
/// would have stopped.
///
/// ```
/// use retrograd_nn::pinn::burgers::{run_logged, BurgersConfig};
/// let c = BurgersConfig {
///     widths: vec![2, 8, 1], collocation: 50, data_points: 20, adam_steps: 5,
///     test_grid: (8, 4), quadrature_nodes: 100, ..BurgersConfig::default()
/// };
/// let c = BurgersConfig { lbfgs: retrograd_nn::optim::Lbfgs { max_iter: 20, ..c.lbfgs.clone() }, ..c };
/// let mut log = Vec::new();
/// run_logged(&c, 10, |p| log.push(*p)).unwrap();
/// assert_eq!(log[0].lbfgs_limit, 10);
/// assert!(log[0].iterations <= 10 && log[0].rel_l2_error.is_finite());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurgersProgress {
    /// The L-BFGS iteration limit (`max_iter`, with the evaluation limit that follows from
    /// it by [`Lbfgs::max_evaluations`]) of the shorter run that would have stopped here.
    pub lbfgs_limit: usize,
    /// L-BFGS iterations taken.
    pub iterations: usize,
    /// L-BFGS evaluations made.
    pub evaluations: usize,
    /// The loss at this iterate.
    pub loss: f64,
    /// The relative L2 error on the test grid at this iterate.
    pub rel_l2_error: f64,
    /// Seconds since L-BFGS started.
    pub lbfgs_seconds: f64,
}

/// A Latin hypercube sample of `n` points in `[lo₀, hi₀] × [lo₁, hi₁]`, rows `(x, t)`.
fn latin_hypercube(n: usize, bounds: [(f64, f64); 2], rng: &mut Rng) -> Vec<f64> {
    let mut columns = Vec::new();
    for (lo, hi) in bounds {
        let mut strata: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut strata);
        let col: Vec<f64> = strata
            .iter()
            .map(|&k| lo + (hi - lo) * (k as f64 + rng.uniform()) / n as f64)
            .collect();
        columns.push(col);
    }
    (0..n)
        .flat_map(|i| [columns[0][i], columns[1][i]])
        .collect()
}

/// `m` initial and boundary points `(x, t, u)` drawn without replacement from Raissi's 456.
fn data_points(m: usize, rng: &mut Rng) -> Vec<[f64; 3]> {
    let mut all: Vec<[f64; 3]> = (0..256)
        .map(|i| {
            let x = -1.0 + 2.0 * i as f64 / 255.0;
            [x, 0.0, -(PI * x).sin()]
        })
        .collect();
    for side in [-1.0, 1.0] {
        all.extend((0..100).map(|i| [side, i as f64 / 99.0, 0.0]));
    }
    rng.shuffle(&mut all);
    all.truncate(m);
    all
}

/// The points `(x, t)` of the domain `[−1, 1] × [0, 1]` mapped onto `[−1, 1]²`, the
/// network's input (Raissi et al. scale both coordinates so), differentiably.
fn to_unit_box(points: &Tensor) -> Result<Tensor> {
    let scale = Tensor::from_vec(vec![1.0f64, 2.0], [1, 2])?;
    let shift = Tensor::from_vec(vec![0.0f64, -1.0], [1, 2])?;
    Ok(points.mul(&scale)?.add(&shift)?)
}

/// Mean squared residual `u_t + u u_x − ν u_xx` at the collocation points plus the mean
/// squared misfit at the data points (which come last in `points`).
fn loss(net: &dyn Module, points: &Tensor, data: &Tensor, n: usize) -> Result<Tensor> {
    let m = data.dims()[0];
    let d = Derivatives::of(|p| net.forward(&to_unit_box(p)?), points, &[0])?;
    let u = d.u.narrow(0, 0, n)?;
    let u_x = d.gradient.narrow(0, 0, n)?.narrow(1, 0, 1)?;
    let u_t = d.gradient.narrow(0, 0, n)?.narrow(1, 1, 1)?;
    let u_xx = d.second[0].narrow(0, 0, n)?;
    let residual = u_t.add(&u.mul(&u_x)?)?.sub(&u_xx.mul_scalar(NU)?)?;
    let misfit = d.u.narrow(0, n, m)?.sub(data)?;
    Ok(residual
        .square()?
        .mean_all()?
        .add(&misfit.square()?.mean_all()?)?)
}

/// Trains the network with Adam then L-BFGS and measures it against the exact solution
/// on the test grid.
///
/// ```
/// use retrograd_nn::pinn::burgers::{run, BurgersConfig};
/// let c = BurgersConfig {
///     widths: vec![2, 8, 1], collocation: 50, data_points: 20, adam_steps: 5,
///     test_grid: (8, 4), quadrature_nodes: 100, ..BurgersConfig::default()
/// };
/// let c = BurgersConfig { lbfgs: retrograd_nn::optim::Lbfgs { max_iter: 5, ..c.lbfgs.clone() }, ..c };
/// let r = run(&c).unwrap();
/// assert_eq!(r.predicted.len(), 32);
/// assert!(r.rel_l2_error.is_finite());
/// ```
pub fn run(config: &BurgersConfig) -> Result<BurgersReport> {
    train(config, None, |_| {})
}

/// [`run`], logging the test error during L-BFGS: `log` is called at every iterate where
/// a run of the same configuration with an L-BFGS iteration limit of `m · every`
/// (`m = 1, 2, …`, below `config.lbfgs.max_iter`) would have stopped on its iteration or
/// evaluation limit, so each call gives what that shorter run would have reported. The
/// training itself is that of [`run`]; each call costs one forward pass over the test grid.
///
/// ```
/// use retrograd_nn::pinn::burgers::{run_logged, BurgersConfig};
/// assert!(run_logged(&BurgersConfig::quick(), 0, |_| {}).is_err());
/// ```
pub fn run_logged(
    config: &BurgersConfig,
    every: usize,
    log: impl FnMut(&BurgersProgress),
) -> Result<BurgersReport> {
    if every == 0 {
        return Err(NnError::invalid(
            "Burgers: the logging interval must be at least one L-BFGS iteration",
        ));
    }
    train(config, Some(every), log)
}

fn train(
    config: &BurgersConfig,
    every: Option<usize>,
    mut log: impl FnMut(&BurgersProgress),
) -> Result<BurgersReport> {
    let exact_solution = BurgersExact::new(NU, config.quadrature_nodes)?;
    let (nx, nt) = config.test_grid;
    let x: Vec<f64> = Tensor::linspace(-1.0, 1.0, nx, DType::F64).to_vec()?;
    let t: Vec<f64> = Tensor::linspace(0.0, 1.0, nt, DType::F64).to_vec()?;
    let grid: Vec<f64> = t
        .iter()
        .flat_map(|&t| x.iter().flat_map(move |&x| [x, t]))
        .collect();
    let grid = Tensor::from_vec(grid, [nx * nt, 2])?;
    let exact: Vec<f64> = t
        .iter()
        .flat_map(|&t| x.iter().map(move |&x| (x, t)))
        .map(|(x, t)| exact_solution.u(x, t))
        .collect();

    let mut rng = Rng::new(config.seed);
    let net = tanh_mlp(&config.widths, DType::F64, &mut rng)?;
    let n = config.collocation;
    let mut coords = latin_hypercube(n, [(-1.0, 1.0), (0.0, 1.0)], &mut rng);
    let data = data_points(config.data_points, &mut rng);
    let m = data.len();
    coords.extend(data.iter().flat_map(|p| [p[0], p[1]]));
    let points = Tensor::from_vec(coords, [n + m, 2])?;
    let values = Tensor::from_vec(data.iter().map(|p| p[2]).collect::<Vec<_>>(), [m, 1])?;
    let params = tensors(&net);
    let objective = || loss(&net, &points, &values, n);
    let predict =
        || -> Result<Vec<f64>> { Ok(no_grad(|| net.forward(&to_unit_box(&grid)?))?.to_vec()?) };

    let start = Instant::now();
    let adam_loss = adam_steps(
        &params,
        AdamConfig::new(config.lr),
        config.adam_steps,
        objective,
    )?;
    let adam_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let lbfgs = match every {
        None => config.lbfgs.minimize_params(&params, objective)?,
        Some(every) => {
            // The smallest limit m·every not yet reached, and its evaluation limit.
            let limits = |max_iter: usize| {
                let shorter = Lbfgs {
                    max_iter,
                    ..config.lbfgs.clone()
                };
                (max_iter, shorter.max_evaluations())
            };
            let mut next = limits(every);
            config
                .lbfgs
                .minimize_params_observed(&params, objective, |p| {
                    let reached = |(iters, evals): (usize, usize)| {
                        p.iterations >= iters || p.evaluations >= evals
                    };
                    if next.0 >= config.lbfgs.max_iter || !reached(next) {
                        return Ok(());
                    }
                    let lbfgs_limit = next.0;
                    while reached(next) {
                        next = limits(next.0 + every);
                    }
                    log(&BurgersProgress {
                        lbfgs_limit,
                        iterations: p.iterations,
                        evaluations: p.evaluations,
                        loss: p.loss,
                        rel_l2_error: relative_l2(&predict()?, &exact),
                        lbfgs_seconds: start.elapsed().as_secs_f64(),
                    });
                    Ok(())
                })?
        }
    };
    let lbfgs_seconds = start.elapsed().as_secs_f64();
    let predicted = predict()?;
    Ok(BurgersReport {
        rel_l2_error: relative_l2(&predicted, &exact),
        adam_loss,
        adam_seconds,
        lbfgs,
        lbfgs_seconds,
        x,
        t,
        predicted,
        exact,
    })
}

/// The pass/fail checks of a run: the error target and that L-BFGS did not end above the
/// loss Adam reached.
///
/// ```
/// use retrograd_nn::pinn::burgers::{checks, run, BurgersConfig};
/// let c = BurgersConfig { collocation: 300, adam_steps: 100, error_target: 1.0, ..BurgersConfig::quick() };
/// let c = BurgersConfig { lbfgs: retrograd_nn::optim::Lbfgs { max_iter: 20, ..c.lbfgs.clone() }, ..c };
/// let r = run(&c).unwrap();
/// assert!(checks(&c, &r).iter().all(|(_, ok)| *ok), "{:?}", checks(&c, &r));
/// ```
pub fn checks(config: &BurgersConfig, report: &BurgersReport) -> Vec<(&'static str, bool)> {
    vec![
        (
            "rel_l2_error_within_target",
            report.rel_l2_error <= config.error_target,
        ),
        ("lbfgs_lowered_loss", report.lbfgs.loss <= report.adam_loss),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The network sees `(x, 2t − 1)`, and the derivatives in `(x, t)` carry the chain
    /// rule's factor: for `g(a, b) = a² b³` of the scaled point, `∂/∂t = 2·3a²b²` and
    /// `∂²/∂x² = 2b³`.
    #[test]
    fn inputs_scaled_onto_the_unit_box_keep_the_chain_rule() {
        let points = Tensor::from_vec(vec![0.5f64, 0.25, -0.75, 0.9], [2, 2]).unwrap();
        let g = |p: &Tensor| -> Result<Tensor> {
            let q = to_unit_box(p)?;
            let (a, b) = (q.narrow(1, 0, 1)?, q.narrow(1, 1, 1)?);
            Ok(a.square()?.mul(&b.powf(3.0)?)?)
        };
        let d = Derivatives::of(g, &points, &[0]).unwrap();
        let u_t = d.gradient.narrow(1, 1, 1).unwrap().to_vec::<f64>().unwrap();
        let u_xx = d.second[0].to_vec::<f64>().unwrap();
        for (k, (x, t)) in [(0.5, 0.25), (-0.75, 0.9)].into_iter().enumerate() {
            let b: f64 = 2.0 * t - 1.0;
            assert!((u_t[k] - 6.0 * x * x * b * b).abs() < 1e-14, "{}", u_t[k]);
            assert!((u_xx[k] - 2.0 * b.powi(3)).abs() < 1e-14, "{}", u_xx[k]);
        }
    }

    /// The rule integrates `z^k e^{−z²}` exactly for `k < 2n`: `Γ((k+1)/2)` for even `k`.
    #[test]
    fn gauss_hermite_moments() {
        for n in [1, 2, 5, 40, 201, 300, 500] {
            let (z, lw) = gauss_hermite(n).unwrap();
            assert!(z.windows(2).all(|p| p[0] > p[1]), "nodes sorted, distinct");
            let moment = |k: i32| {
                z.iter()
                    .zip(&lw)
                    .map(|(z, lw)| z.powi(k) * lw.exp())
                    .sum::<f64>()
            };
            let sqrt_pi = PI.sqrt();
            assert!((moment(0) - sqrt_pi).abs() < 1e-12 * sqrt_pi, "n = {n}");
            if n >= 2 {
                assert!((moment(2) - sqrt_pi / 2.0).abs() < 1e-12, "n = {n}");
                assert!(moment(3).abs() < 1e-12, "n = {n}");
            }
            if n >= 3 {
                assert!((moment(4) - 0.75 * sqrt_pi).abs() < 1e-12, "n = {n}");
            }
        }
        assert!(gauss_hermite(0).is_err() && gauss_hermite(501).is_err());
    }

    /// More nodes do not change the solution, shock included.
    #[test]
    fn exact_solution_converged_in_nodes() {
        let (a, b) = (
            BurgersExact::new(NU, 300).unwrap(),
            BurgersExact::new(NU, 500).unwrap(),
        );
        for t in [0.01, 0.1, 0.3, 0.5, 0.75, 1.0] {
            for i in 0..=40 {
                let x = -1.0 + i as f64 / 20.0;
                assert!((a.u(x, t) - b.u(x, t)).abs() < 1e-9, "({x}, {t})");
            }
        }
    }

    /// Basdevant et al. (1986): the steepest slope, |u_x| = 152.00516 at x = 0, is reached at
    /// t = 1.6037/π.
    #[test]
    fn exact_solution_steepest_slope() {
        let e = BurgersExact::new(NU, 300).unwrap();
        let (t, h) = (1.6037 / PI, 1e-6);
        let slope = (e.u(h, t) - e.u(-h, t)) / (2.0 * h);
        assert!((slope + 152.00516).abs() < 1e-3, "{slope}");
        let earlier = (e.u(h, t - 0.02) - e.u(-h, t - 0.02)) / (2.0 * h);
        let later = (e.u(h, t + 0.02) - e.u(-h, t + 0.02)) / (2.0 * h);
        assert!(
            earlier > slope && later > slope,
            "{earlier} {slope} {later}"
        );
    }

    /// The PDE residual by central differences is small away from the shock.
    #[test]
    fn exact_solution_satisfies_the_pde() {
        let e = BurgersExact::new(NU, 300).unwrap();
        let (hx, ht) = (1e-3, 1e-4);
        for &(x, t) in &[
            (-0.7, 0.2),
            (0.4, 0.5),
            (-0.3, 0.9),
            (0.8, 0.05),
            (0.1, 0.3),
        ] {
            let u = e.u(x, t);
            let u_t = (e.u(x, t + ht) - e.u(x, t - ht)) / (2.0 * ht);
            let u_x = (e.u(x + hx, t) - e.u(x - hx, t)) / (2.0 * hx);
            let u_xx = (e.u(x + hx, t) - 2.0 * u + e.u(x - hx, t)) / (hx * hx);
            let r = u_t + u * u_x - NU * u_xx;
            let scale = u_t.abs() + (u * u_x).abs() + (NU * u_xx).abs();
            assert!(
                r.abs() < 1e-4 * scale.max(1.0),
                "({x}, {t}): residual {r}, scale {scale}"
            );
        }
        // boundary values and the initial condition
        for t in [0.1, 0.5, 1.0] {
            assert!(e.u(1.0, t).abs() < 1e-12 && e.u(-1.0, t).abs() < 1e-12);
        }
        assert!((e.u(0.5, 1e-9) + 1.0).abs() < 1e-6);
    }
}
