//! Gradients of ODE solutions three ways — forward sensitivities, the discrete adjoint and
//! the continuous adjoint — checked against each other and central differences, their cost
//! over system sizes (where the adjoint overtakes forward mode), the cost of the right-hand
//! side's vector–Jacobian product, and a Lotka–Volterra fit to noisy observations.
//!
//! Run: `cargo run --release -p retrograd --example ode_sensitivities [--quick] [--json]
//! [--plot PATH]`

use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "common/bfgs.rs"]
mod bfgs;

use retrograd::gradcheck::finite_difference;
use retrograd::ode::{gradient, solve, OdeGradient, OdeSystem, Sensitivity, Solver, VjpReplay};
use retrograd::{Real, Var};

/// Lotka–Volterra: u' = a·u − b·u·v, v' = c·u·v − d·v.
pub struct LotkaVolterra;

impl OdeSystem for LotkaVolterra {
    fn states(&self) -> usize {
        2
    }
    fn params(&self) -> usize {
        4
    }
    fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], dydt: &mut [T]) {
        let (u, v) = (y[0], y[1]);
        dydt[0] = p[0] * u - p[1] * u * v;
        dydt[1] = p[2] * u * v - p[3] * v;
    }
}

/// Fisher–KPP reaction–diffusion on a rod of `n` unit cells with zero-flux ends, by the
/// method of lines: y_i' = D·(y_{i−1} − 2y_i + y_{i+1}) + r·y_i·(1 − y_i), parameters (D, r).
/// The cell width stays 1 as `n` grows (a longer rod), so the problem stays non-stiff and
/// the explicit solver takes about as many steps at every size.
pub struct FisherKpp {
    /// Number of cells (states).
    pub n: usize,
    /// Whether to use the hand-written vector–Jacobian product instead of the recorded one.
    pub hand_vjp: bool,
}

impl FisherKpp {
    fn neighbours(&self, i: usize) -> (usize, usize) {
        (i.saturating_sub(1), (i + 1).min(self.n - 1))
    }
}

impl OdeSystem for FisherKpp {
    fn states(&self) -> usize {
        self.n
    }
    fn params(&self) -> usize {
        2
    }
    fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], dydt: &mut [T]) {
        let two = T::from_f64(2.0);
        for (i, d) in dydt.iter_mut().enumerate() {
            let (l, r) = self.neighbours(i);
            *d = p[0] * (y[l] - two * y[i] + y[r]) + p[1] * y[i] * (T::one() - y[i]);
        }
    }
    fn vjp(
        &self,
        t: f64,
        y: &[f64],
        p: &[f64],
        w: &[f64],
        y_bar: &mut [f64],
        p_bar: &mut [f64],
        replay: &mut VjpReplay,
    ) -> Result<(), retrograd::Error> {
        if !self.hand_vjp {
            return replay.vjp(self, t, y, p, w, y_bar, p_bar);
        }
        y_bar.fill(0.0);
        p_bar.fill(0.0);
        for i in 0..self.n {
            let (l, r) = self.neighbours(i);
            let wi = w[i];
            y_bar[l] += p[0] * wi;
            y_bar[r] += p[0] * wi;
            y_bar[i] += wi * (-2.0 * p[0] + p[1] * (1.0 - 2.0 * y[i]));
            p_bar[0] += wi * (y[l] - 2.0 * y[i] + y[r]);
            p_bar[1] += wi * y[i] * (1.0 - y[i]);
        }
        Ok(())
    }
}

/// `max |a − b| / max |b|`: the largest difference relative to the size of the reference.
pub fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let scale = b
        .iter()
        .fold(0.0f64, |m, x| m.max(x.abs()))
        .max(f64::MIN_POSITIVE);
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// The initial state and parameters concatenated.
fn joined(g: &OdeGradient) -> Vec<f64> {
    [g.state_adjoint.as_slice(), g.param_adjoint.as_slice()].concat()
}

/// A small deterministic generator of normal deviates (xorshift and Box–Muller).
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn sample(&mut self) -> f64 {
        let (a, b) = (self.uniform(), self.uniform());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    }
}

/// The least-squares misfit to observations, on `Var`s.
fn misfit(observed: &[Vec<f64>]) -> impl Fn(&[Vec<Var>]) -> Var + '_ {
    move |ys: &[Vec<Var>]| {
        let mut sum = Var::constant(0.0);
        for (y, o) in ys.iter().zip(observed) {
            for (&yi, &oi) in y.iter().zip(o) {
                let d = yi - oi;
                sum += d * d;
            }
        }
        sum * 0.5
    }
}

const LV_TRUTH: [f64; 4] = [1.5, 1.0, 3.0, 1.0];
const LV_START: [f64; 4] = [1.2, 0.8, 2.6, 1.2];
const LV_Y0: [f64; 2] = [1.0, 1.0];
const LV_NOISE: f64 = 0.05;

/// The Lotka–Volterra problem: observation times and noisy observations of the truth.
pub fn lotka_volterra_data(observations: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let times: Vec<f64> = (0..observations)
        .map(|i| 10.0 * i as f64 / (observations - 1) as f64)
        .collect();
    let exact = solve(
        &LotkaVolterra,
        &Solver::dopri5(1e-10, 1e-12),
        &LV_Y0,
        &LV_TRUTH,
        &times,
    )
    .expect("the true trajectory solves");
    let mut noise = Normal(0x9e37_79b9_7f4a_7c15);
    let observed = exact
        .states
        .iter()
        .map(|y| y.iter().map(|v| v + LV_NOISE * noise.sample()).collect())
        .collect();
    (times, observed)
}

/// How the three gradients compare with each other and with central differences.
pub struct Agreement {
    /// Forward sensitivities vs the discrete adjoint (over both solvers).
    pub forward_vs_discrete: f64,
    /// Continuous vs discrete adjoint (over both solvers).
    pub continuous_vs_discrete: f64,
    /// The discrete adjoint vs central differences of the loss (over both solvers).
    pub vs_finite_differences: f64,
}

/// The three gradients of the Lotka–Volterra misfit at the starting guess, with RK4 and
/// with Dormand–Prince, compared.
pub fn agreement(times: &[f64], observed: &[Vec<f64>]) -> Agreement {
    let loss = misfit(observed);
    let mut out = Agreement {
        forward_vs_discrete: 0.0,
        continuous_vs_discrete: 0.0,
        vs_finite_differences: 0.0,
    };
    for solver in [Solver::rk4(0.01), Solver::dopri5(1e-11, 1e-13)] {
        let run = |s| {
            gradient(&LotkaVolterra, &solver, &LV_Y0, &LV_START, times, &loss, s)
                .expect("the misfit's gradient")
        };
        let forward = joined(&run(Sensitivity::Forward));
        let discrete = joined(&run(Sensitivity::DiscreteAdjoint { snapshots: 20 }));
        let continuous = joined(&run(Sensitivity::ContinuousAdjoint {
            checkpoint_every: 50,
        }));
        let fd = finite_difference(
            |x| {
                let s = solve(&LotkaVolterra, &solver, &x[..2], &x[2..], times).expect("solves");
                let ys: Vec<Vec<Var>> = s
                    .states
                    .iter()
                    .map(|y| y.iter().map(|&v| Var::constant(v)).collect())
                    .collect();
                loss(&ys).value()
            },
            &[LV_Y0.as_slice(), LV_START.as_slice()].concat(),
        );
        out.forward_vs_discrete = out.forward_vs_discrete.max(rel_diff(&forward, &discrete));
        out.continuous_vs_discrete = out
            .continuous_vs_discrete
            .max(rel_diff(&continuous, &discrete));
        out.vs_finite_differences = out.vs_finite_differences.max(rel_diff(&discrete, &fd));
    }
    out
}

/// The result of the fit.
pub struct Fit {
    /// The fitted parameters.
    pub params: Vec<f64>,
    /// Misfit at the start and at the end.
    pub loss: (f64, f64),
    /// BFGS iterations taken.
    pub iterations: usize,
}

/// BFGS with an Armijo backtracking line search on the Lotka–Volterra misfit, the
/// gradient by forward sensitivities (6 directions: one pass).
pub fn fit(times: &[f64], observed: &[Vec<f64>], iterations: usize) -> Fit {
    let solver = Solver::dopri5(1e-8, 1e-10);
    let loss = misfit(observed);
    let eval = |p: &[f64]| -> Option<(f64, Vec<f64>)> {
        let g = gradient(
            &LotkaVolterra,
            &solver,
            &LV_Y0,
            p,
            times,
            &loss,
            Sensitivity::Forward,
        );
        g.ok().map(|g| (g.value, g.param_adjoint))
    };
    let n = LV_START.len();
    let mut p = LV_START.to_vec();
    let (mut value, mut grad) = eval(&p).expect("the misfit at the start");
    let start = value;
    let mut h: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1e-3 } else { 0.0 }).collect())
        .collect();
    let mut taken = 0;
    for _ in 0..iterations {
        let dir: Vec<f64> = (0..n)
            .map(|i| -(0..n).map(|j| h[i][j] * grad[j]).sum::<f64>())
            .collect();
        let slope: f64 = dir.iter().zip(&grad).map(|(d, g)| d * g).sum();
        if slope >= 0.0 || grad.iter().all(|g| g.abs() < 1e-9) {
            break;
        }
        let mut t = 1.0;
        let step = loop {
            let trial: Vec<f64> = p.iter().zip(&dir).map(|(x, d)| x + t * d).collect();
            match eval(&trial) {
                Some((l, g)) if l <= value + 1e-4 * t * slope => break Some((trial, l, g)),
                _ => t *= 0.5,
            }
            if t < 1e-12 {
                break None;
            }
        };
        let Some((next, next_value, next_grad)) = step else {
            break;
        };
        taken += 1;
        // Converged: the last step no longer lowers the misfit measurably.
        let stalled = value - next_value <= 1e-13 * value;
        let s: Vec<f64> = next.iter().zip(&p).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = next_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
        bfgs::update(&mut h, &s, &y);
        (p, value, grad) = (next, next_value, next_grad);
        if stalled {
            break;
        }
    }
    Fit {
        params: p,
        loss: (start, value),
        iterations: taken,
    }
}

/// One row of the crossover table.
pub struct CrossoverRow {
    /// States of the Fisher–KPP system.
    pub states: usize,
    /// Seconds per gradient: forward sensitivities, discrete adjoint, continuous adjoint.
    pub seconds: [f64; 3],
    /// Accepted steps of the forward solve.
    pub steps: usize,
    /// Largest relative difference of the forward and continuous gradients from the
    /// discrete adjoint's.
    pub max_rel_diff: f64,
}

/// The settings of the crossover runs.
const KPP_SOLVER: Solver = Solver::Dopri5 {
    rtol: 1e-6,
    atol: 1e-8,
    max_steps: 100_000,
};
const KPP_SNAPSHOTS: usize = 16;
const KPP_CHECKPOINT_EVERY: usize = 16;

/// The Fisher–KPP initial state: a bump in the middle of the rod.
fn kpp_initial(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let x = (i as f64 + 0.5) / n as f64 - 0.5;
            0.1 + 0.8 * (-(x * 8.0).powi(2)).exp()
        })
        .collect()
}

/// Seconds per call of `f`: the best of `repeats` timings.
fn time<R>(repeats: usize, mut f: impl FnMut() -> R) -> (f64, R) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        out = Some(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, out.expect("at least one run"))
}

/// Times the three gradients of a misfit on the Fisher–KPP system at each size.
pub fn crossover(sizes: &[usize]) -> Vec<CrossoverRow> {
    let times = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
    let p = [0.5, 1.0];
    sizes
        .iter()
        .map(|&n| {
            let system = FisherKpp { n, hand_vjp: false };
            let y0 = kpp_initial(n);
            let target = vec![vec![0.5; n]; times.len()];
            let loss = misfit(&target);
            let repeats = if n <= 100 { 3 } else { 1 };
            let run = |s| {
                time(repeats, || {
                    gradient(&system, &KPP_SOLVER, &y0, &p, &times, &loss, s).expect("gradient")
                })
            };
            let (tf, forward) = run(Sensitivity::Forward);
            let (td, discrete) = run(Sensitivity::DiscreteAdjoint {
                snapshots: KPP_SNAPSHOTS,
            });
            let (tc, continuous) = run(Sensitivity::ContinuousAdjoint {
                checkpoint_every: KPP_CHECKPOINT_EVERY,
            });
            let reference = joined(&discrete);
            CrossoverRow {
                states: n,
                seconds: [tf, td, tc],
                steps: discrete.stats.steps,
                max_rel_diff: rel_diff(&joined(&forward), &reference)
                    .max(rel_diff(&joined(&continuous), &reference)),
            }
        })
        .collect()
}

/// The cost of the right-hand side's vector–Jacobian product relative to the right-hand
/// side on `f64`, replayed (the default) and hand-written, and whether the two agree.
pub struct VjpCost {
    /// States.
    pub states: usize,
    /// Replayed (default) VJP time / RHS time.
    pub replayed_ratio: f64,
    /// Hand-written VJP time / RHS time.
    pub hand_ratio: f64,
    /// Largest difference between the two products.
    pub max_diff: f64,
}

/// Measures [`VjpCost`] on the Fisher–KPP system of `n` states over `calls` calls.
pub fn vjp_cost(n: usize, calls: usize) -> VjpCost {
    let recorded = FisherKpp { n, hand_vjp: false };
    let hand = FisherKpp { n, hand_vjp: true };
    let y = kpp_initial(n);
    let p = [0.5, 1.0];
    let w: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
    let mut dydt = vec![0.0; n];
    let mut replay = VjpReplay::new();
    let (mut yb, mut pb) = (vec![0.0; n], vec![0.0; 2]);
    let (mut yh, mut ph) = (vec![0.0; n], vec![0.0; 2]);
    let per_call = |f: &mut dyn FnMut()| {
        time(3, || {
            for _ in 0..calls {
                f();
            }
        })
        .0 / calls as f64
    };
    let t_rhs = per_call(&mut || {
        recorded.rhs(0.0, std::hint::black_box(&y), &p, &mut dydt);
        std::hint::black_box(&dydt);
    });
    let t_replayed = per_call(&mut || {
        recorded
            .vjp(
                0.0,
                std::hint::black_box(&y),
                &p,
                &w,
                &mut yb,
                &mut pb,
                &mut replay,
            )
            .expect("the buffers have the system's lengths");
        std::hint::black_box(&yb);
    });
    let t_hand = per_call(&mut || {
        hand.vjp(
            0.0,
            std::hint::black_box(&y),
            &p,
            &w,
            &mut yh,
            &mut ph,
            &mut replay,
        )
        .expect("the buffers have the system's lengths");
        std::hint::black_box(&yh);
    });
    let max_diff = rel_diff(&[yb, pb].concat(), &[yh, ph].concat());
    VjpCost {
        states: n,
        replayed_ratio: t_replayed / t_rhs,
        hand_ratio: t_hand / t_rhs,
        max_diff,
    }
}

/// Everything the example measures.
pub struct Report {
    /// The three gradients compared.
    pub agreement: Agreement,
    /// The Lotka–Volterra fit.
    pub fit: Fit,
    /// Largest relative error of the fitted parameters.
    pub fit_max_rel_param_error: f64,
    /// The crossover table.
    pub crossover: Vec<CrossoverRow>,
    /// VJP costs at a few sizes.
    pub vjp: Vec<VjpCost>,
    /// Named checks, all true when the example works.
    pub checks: Vec<(&'static str, bool)>,
}

/// Runs everything; `quick` shrinks the sizes (for tests).
pub fn run(quick: bool) -> Report {
    let (times, observed) = lotka_volterra_data(41);
    let agreement = agreement(&times, &observed);
    let fit = fit(&times, &observed, 200);
    let fit_max_rel_param_error = fit
        .params
        .iter()
        .zip(&LV_TRUTH)
        .fold(0.0f64, |m, (a, b)| m.max(((a - b) / b).abs()));
    let sizes: &[usize] = if quick {
        &[4, 40]
    } else {
        &[4, 10, 30, 100, 300, 1000]
    };
    let crossover = crossover(sizes);
    let vjp: Vec<VjpCost> = if quick {
        vec![vjp_cost(100, 200)]
    } else {
        [10, 100, 1000]
            .iter()
            .map(|&n| vjp_cost(n, 200_000 / n))
            .collect()
    };
    let mut checks = vec![
        (
            "forward_matches_discrete",
            agreement.forward_vs_discrete < 1e-9,
        ),
        (
            "continuous_matches_discrete",
            agreement.continuous_vs_discrete < 1e-6,
        ),
        (
            "discrete_matches_finite_differences",
            agreement.vs_finite_differences < 1e-6,
        ),
        ("fit_decreases_loss", fit.loss.1 < 0.1 * fit.loss.0),
        ("fit_recovers_parameters", fit_max_rel_param_error < 0.05),
        (
            "crossover_gradients_agree",
            crossover.iter().all(|r| r.max_rel_diff < 1e-4),
        ),
        (
            "hand_vjp_matches_replayed",
            vjp.iter().all(|v| v.max_diff < 1e-12),
        ),
    ];
    if !quick {
        // Timing checks only at full size: the quick sizes do not reach the crossover.
        let (first, last) = (&crossover[0], &crossover[crossover.len() - 1]);
        checks.push(("forward_wins_smallest", first.seconds[0] < first.seconds[1]));
        checks.push(("adjoint_wins_largest", last.seconds[1] < last.seconds[0]));
    }
    Report {
        agreement,
        fit,
        fit_max_rel_param_error,
        crossover,
        vjp,
        checks,
    }
}

/// Plots the observations and the fitted trajectories.
pub fn plot(path: &Path, fitted: &[f64]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    // DejaVu Sans, the font the command-line tool embeds (see its assets/ for the licence).
    static FONT: &[u8] = include_bytes!("../../retrograd-cli/assets/DejaVuSans.ttf");
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let registered = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if !registered {
        return Err("the embedded font is not a valid TrueType font".into());
    }
    let (times, observed) = lotka_volterra_data(41);
    let fine: Vec<f64> = (0..=500).map(|i| i as f64 * 0.02).collect();
    let curve = solve(
        &LotkaVolterra,
        &Solver::dopri5(1e-8, 1e-10),
        &LV_Y0,
        fitted,
        &fine,
    )?;
    let top = observed.iter().flatten().fold(0.0f64, |m, &v| m.max(v)) * 1.1;
    let root = BitMapBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Lotka–Volterra: noisy observations and the fitted model",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..10.0, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("t")
        .y_desc("population")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    for (c, (name, color)) in [("prey u", BLUE), ("predator v", RED)]
        .into_iter()
        .enumerate()
    {
        chart
            .draw_series(LineSeries::new(
                fine.iter().zip(&curve.states).map(|(&t, y)| (t, y[c])),
                color.stroke_width(2),
            ))?
            .label(format!("{name}, fit"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                times
                    .iter()
                    .zip(&observed)
                    .map(|(&t, y)| Circle::new((t, y[c]), 3, color.filled())),
            )?
            .label(format!("{name}, observed"))
            .legend(move |(x, y)| Circle::new((x + 10, y), 3, color.filled()));
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json = args.iter().any(|a| a == "--json");
    let plot_path = args
        .iter()
        .position(|a| a == "--plot")
        .map(|i| match args.get(i + 1) {
            Some(p) => PathBuf::from(p),
            None => {
                eprintln!("--plot needs a path");
                std::process::exit(2);
            }
        });
    let report = run(quick);
    if let Some(path) = &plot_path {
        if let Err(e) = plot(path, &report.fit.params) {
            eprintln!("could not write the plot {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    let all_pass = report.checks.iter().all(|c| c.1);
    if json {
        let checks: serde_json::Map<String, serde_json::Value> = report
            .checks
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        let rows: Vec<serde_json::Value> = report
            .crossover
            .iter()
            .map(|r| {
                serde_json::json!({
                    "states": r.states,
                    "steps": r.steps,
                    "forward_s": r.seconds[0],
                    "discrete_adjoint_s": r.seconds[1],
                    "continuous_adjoint_s": r.seconds[2],
                    "max_rel_diff": r.max_rel_diff,
                })
            })
            .collect();
        let vjp: Vec<serde_json::Value> = report
            .vjp
            .iter()
            .map(|v| {
                serde_json::json!({
                    "states": v.states,
                    "replayed_vjp_over_rhs": v.replayed_ratio,
                    "hand_vjp_over_rhs": v.hand_ratio,
                })
            })
            .collect();
        let out = serde_json::json!({
            "max_rel_diff_forward_vs_discrete": report.agreement.forward_vs_discrete,
            "max_rel_diff_continuous_vs_discrete": report.agreement.continuous_vs_discrete,
            "max_rel_diff_vs_finite_differences": report.agreement.vs_finite_differences,
            "fit_max_rel_param_error": report.fit_max_rel_param_error,
            "fitted_params": report.fit.params,
            "crossover": rows,
            "vjp_cost": vjp,
            "checks": checks,
        });
        println!("{out}");
    } else {
        let a = &report.agreement;
        println!("Gradients of a Lotka–Volterra misfit (RK4 dt = 0.01 and Dormand–Prince rtol = 1e-11), max |a − b| / max |b|:");
        println!(
            "  forward sensitivities vs discrete adjoint   {:.2e}",
            a.forward_vs_discrete
        );
        println!(
            "  continuous adjoint vs discrete adjoint      {:.2e}",
            a.continuous_vs_discrete
        );
        println!(
            "  discrete adjoint vs central differences     {:.2e}",
            a.vs_finite_differences
        );
        let f = &report.fit;
        println!(
            "\nFit to 41 noisy observations (σ = {LV_NOISE}): {:.4?} (truth {LV_TRUTH:?}), \
             max relative error {:.2}%, misfit {:.3e} → {:.3e} in {} BFGS iterations",
            f.params,
            100.0 * report.fit_max_rel_param_error,
            f.loss.0,
            f.loss.1,
            f.iterations
        );
        println!(
            "\nCrossover on Fisher–KPP (Dormand–Prince rtol 1e-6; {KPP_SNAPSHOTS} snapshots; \
             checkpoint every {KPP_CHECKPOINT_EVERY} steps), milliseconds per gradient:"
        );
        println!(
            "{:>7} {:>6} {:>11} {:>11} {:>11} {:>9} {:>10}",
            "states", "steps", "forward", "discrete", "continuous", "fastest", "max diff"
        );
        for r in &report.crossover {
            let names = ["forward", "discrete", "continuous"];
            let best = (0..3)
                .min_by(|&i, &j| r.seconds[i].total_cmp(&r.seconds[j]))
                .expect("three timings");
            println!(
                "{:>7} {:>6} {:>11.2} {:>11.2} {:>11.2} {:>9} {:>10.1e}",
                r.states,
                r.steps,
                1e3 * r.seconds[0],
                1e3 * r.seconds[1],
                1e3 * r.seconds[2],
                names[best],
                r.max_rel_diff
            );
        }
        println!("\nVector–Jacobian product of the right-hand side, time / RHS time:");
        for v in &report.vjp {
            println!(
                "  {:>5} states: replayed (default) {:>6.1}×, hand-written {:>5.1}×",
                v.states, v.replayed_ratio, v.hand_ratio
            );
        }
        println!("\nchecks:");
        for (name, ok) in &report.checks {
            println!("  {name}: {}", if *ok { "pass" } else { "FAIL" });
        }
    }
    if !all_pass {
        std::process::exit(1);
    }
}
