//! The hypergradient of ridge regression's regularisation strength by the implicit
//! function theorem, on the bundled digits (even versus odd, a ±1 target).
//!
//! `w*(λ) = argmin_w (1/2n)‖Xw − y‖² + (λ/2)‖w‖²` (the bias unpenalised) is found by
//! conjugate gradients on the normal equations; `retrograd::implicit::argmin` records
//! `w*` on the tape of `ln λ` using Hessian–vector products and one CG solve, and the
//! validation error is differentiated through it. Checked against the closed form
//! `dw*/dλ = −(XᵀX/n + λD)⁻¹·D·w*`, against central differences of re-solved problems, and
//! against the unrolled hypergradient of heavy-ball gradient descent through
//! `retrograd::hyper::Unroll` (where λ is the weight decay). A few descent steps on `ln λ`
//! along the IFT hypergradient's sign (the step grown on success, halved on overshoot)
//! then tune λ. The same three-way check is repeated for L2-regularised logistic
//! regression (solved by Newton–CG; no closed form).
//!
//! Run: `cargo run --release -p retrograd-nn --example implicit_ridge [-- --json] [--quick]`

use retrograd::hyper::{InnerProblem, Sgd, Unroll};
use retrograd::implicit::{self, cg, ArgminProblem, SolveOptions};
use retrograd::Real;
use retrograd_nn::data::{digits, Dataset};

/// Standardised features (training mean and deviation) with a trailing 1 for the bias,
/// and ±1 targets.
pub struct Ridge {
    pub d: usize,
    pub x_train: Vec<Vec<f64>>,
    pub y_train: Vec<f64>,
    pub x_val: Vec<Vec<f64>>,
    pub y_val: Vec<f64>,
}

fn rows(d: &Dataset) -> (Vec<Vec<f64>>, Vec<f64>) {
    let x = (0..d.len())
        .map(|i| d.sample(i).iter().map(|&v| f64::from(v)).collect())
        .collect();
    let y = d
        .labels
        .iter()
        .map(|&l| if l % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    (x, y)
}

impl Ridge {
    pub fn new(train: &Dataset, validation: &Dataset) -> Self {
        let (mut x_train, y_train) = rows(train);
        let (mut x_val, y_val) = rows(validation);
        let f = x_train[0].len();
        let n = x_train.len() as f64;
        for j in 0..f {
            let mean = x_train.iter().map(|r| r[j]).sum::<f64>() / n;
            let sd = (x_train.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / n).sqrt();
            let scale = if sd > 0.0 { 1.0 / sd } else { 0.0 };
            for r in x_train.iter_mut().chain(x_val.iter_mut()) {
                r[j] = (r[j] - mean) * scale;
            }
        }
        for r in x_train.iter_mut().chain(x_val.iter_mut()) {
            r.push(1.0);
        }
        Ridge {
            d: f + 1,
            x_train,
            y_train,
            x_val,
            y_val,
        }
    }

    fn residuals<T: Real>(w: &[T], x: &[Vec<f64>], y: &[f64]) -> Vec<T> {
        x.iter()
            .zip(y)
            .map(|(r, &y)| {
                r.iter()
                    .zip(w)
                    .map(|(&a, &w)| T::from_f64(a) * w)
                    .sum::<T>()
                    - T::from_f64(y)
            })
            .collect()
    }

    /// (XᵀX/n + λD)·u, D = identity except the bias.
    fn apply(&self, lambda: f64, u: &[f64]) -> Vec<f64> {
        let n = self.x_train.len() as f64;
        let xu: Vec<f64> = self
            .x_train
            .iter()
            .map(|r| r.iter().zip(u).map(|(a, b)| a * b).sum())
            .collect();
        (0..self.d)
            .map(|j| {
                let xtxu: f64 = self
                    .x_train
                    .iter()
                    .zip(&xu)
                    .map(|(r, v)| r[j] * v)
                    .sum::<f64>()
                    / n;
                xtxu + if j + 1 < self.d { lambda * u[j] } else { 0.0 }
            })
            .collect()
    }

    /// The inner solver: CG on the normal equations to 1e-14.
    pub fn solve(&self, lambda: f64) -> Vec<f64> {
        let n = self.x_train.len() as f64;
        let rhs: Vec<f64> = (0..self.d)
            .map(|j| {
                self.x_train
                    .iter()
                    .zip(&self.y_train)
                    .map(|(r, y)| r[j] * y)
                    .sum::<f64>()
                    / n
            })
            .collect();
        let options = SolveOptions {
            tolerance: 1e-14,
            max_iterations: 10_000,
            ..SolveOptions::default()
        };
        cg(|u| self.apply(lambda, u), &rhs, options)
            .expect("the ridge system is positive definite")
            .x
    }
}

/// θ = (ln λ): f(w, θ) = (1/2n)‖Xw − y‖² + (λ/2)‖w without bias‖².
impl ArgminProblem for Ridge {
    fn objective<T: Real>(&self, w: &[T], theta: &[T]) -> T {
        let r = Self::residuals(w, &self.x_train, &self.y_train);
        let fit: T = r.iter().map(|&v| v * v).sum::<T>() / T::from_f64(2.0 * r.len() as f64);
        let penalty: T = w[..self.d - 1].iter().map(|&v| v * v).sum();
        fit + T::from_f64(0.5) * theta[0].exp() * penalty
    }
}

/// For the unrolled comparison: the data term's gradient; λ enters as weight decay.
impl InnerProblem for Ridge {
    fn training_gradient<T: Real>(&self, _t: usize, w: &[T]) -> Vec<T> {
        let r = Self::residuals(w, &self.x_train, &self.y_train);
        let n = T::from_f64(self.x_train.len() as f64);
        (0..self.d)
            .map(|j| {
                self.x_train
                    .iter()
                    .zip(&r)
                    .map(|(row, &v)| T::from_f64(row[j]) * v)
                    .sum::<T>()
                    / n
            })
            .collect()
    }

    /// Mean squared error on the validation split.
    fn validation_loss<T: Real>(&self, w: &[T]) -> T {
        let r = Self::residuals(w, &self.x_val, &self.y_val);
        r.iter().map(|&v| v * v).sum::<T>() / T::from_f64(r.len() as f64)
    }
}

/// The validation loss and its derivative with respect to ln λ by the IFT: `w*` recorded
/// on the tape of ln λ by `implicit::argmin`.
pub fn ift_hypergradient(ridge: &Ridge, ln_lambda: f64) -> (f64, f64) {
    let w = ridge.solve(ln_lambda.exp());
    let (value, g) = retrograd::value_and_grad(
        |theta| {
            let w = implicit::argmin(ridge, theta, &w, SolveOptions::default()).expect("IFT solve");
            ridge.validation_loss(&w)
        },
        &[ln_lambda],
    );
    (value, g[0])
}

/// L2-regularised logistic regression on the same data: the mean of log(1 + e^(−y·z)),
/// z = x·w, plus (λ/2)‖w without bias‖²; the validation loss is the logistic loss.
pub struct Logistic<'a>(pub &'a Ridge);

/// log(1 + e^(−m)), evaluated without overflow on either side.
fn softplus_neg<T: Real>(m: T) -> T {
    if m.value() > 0.0 {
        (-m).exp().ln_1p()
    } else {
        -m + m.exp().ln_1p()
    }
}

impl Logistic<'_> {
    fn margins<T: Real>(w: &[T], x: &[Vec<f64>], y: &[f64]) -> Vec<T> {
        x.iter()
            .zip(y)
            .map(|(r, &y)| {
                T::from_f64(y)
                    * r.iter()
                        .zip(w)
                        .map(|(&a, &w)| T::from_f64(a) * w)
                        .sum::<T>()
            })
            .collect()
    }

    fn mean_loss<T: Real>(w: &[T], x: &[Vec<f64>], y: &[f64]) -> T {
        let m = Self::margins(w, x, y);
        m.iter().map(|&m| softplus_neg(m)).sum::<T>() / T::from_f64(m.len() as f64)
    }

    /// Newton's method with CG on the exact Hessian (applied by hand) to ‖∇f‖ ≤ 1e-13.
    pub fn solve(&self, lambda: f64) -> Vec<f64> {
        let r = self.0;
        let n = r.x_train.len() as f64;
        let mut w = vec![0.0; r.d];
        for _ in 0..50 {
            let mut g = self.training_gradient(1, &w);
            for (g, w) in g[..r.d - 1].iter_mut().zip(&w) {
                *g += lambda * w;
            }
            if g.iter().map(|v| v * v).sum::<f64>().sqrt() <= 1e-13 {
                return w;
            }
            let curvature: Vec<f64> = Self::margins(&w, &r.x_train, &r.y_train)
                .iter()
                .map(|&m: &f64| {
                    let p = 1.0 / (1.0 + (-m).exp());
                    p * (1.0 - p)
                })
                .collect();
            let hessian = |u: &[f64]| -> Vec<f64> {
                let xu: Vec<f64> = r
                    .x_train
                    .iter()
                    .zip(&curvature)
                    .map(|(row, c)| c * row.iter().zip(u).map(|(a, b)| a * b).sum::<f64>())
                    .collect();
                (0..r.d)
                    .map(|j| {
                        r.x_train
                            .iter()
                            .zip(&xu)
                            .map(|(row, v)| row[j] * v)
                            .sum::<f64>()
                            / n
                            + if j + 1 < r.d { lambda * u[j] } else { 0.0 }
                    })
                    .collect()
            };
            let step = cg(hessian, &g, SolveOptions::default())
                .expect("the Hessian is positive definite")
                .x;
            for (w, d) in w.iter_mut().zip(step) {
                *w -= d;
            }
        }
        panic!("Newton's method did not converge in 50 iterations");
    }
}

impl ArgminProblem for Logistic<'_> {
    fn objective<T: Real>(&self, w: &[T], theta: &[T]) -> T {
        let penalty: T = w[..self.0.d - 1].iter().map(|&v| v * v).sum();
        Self::mean_loss(w, &self.0.x_train, &self.0.y_train)
            + T::from_f64(0.5) * theta[0].exp() * penalty
    }
}

impl InnerProblem for Logistic<'_> {
    fn training_gradient<T: Real>(&self, _t: usize, w: &[T]) -> Vec<T> {
        let r = self.0;
        let m = Self::margins(w, &r.x_train, &r.y_train);
        let n = T::from_f64(r.x_train.len() as f64);
        // d/dz log(1 + e^(−y·z)) = −y·σ(−y·z).
        let dz: Vec<T> = m
            .iter()
            .zip(&r.y_train)
            .map(|(&m, &y)| -T::from_f64(y) / (T::one() + m.exp()))
            .collect();
        (0..r.d)
            .map(|j| {
                r.x_train
                    .iter()
                    .zip(&dz)
                    .map(|(row, &v)| T::from_f64(row[j]) * v)
                    .sum::<T>()
                    / n
            })
            .collect()
    }

    fn validation_loss<T: Real>(&self, w: &[T]) -> T {
        Self::mean_loss(w, &self.0.x_val, &self.0.y_val)
    }
}

/// The logistic hypergradient three ways: (IFT, re-solved central differences, unrolled).
fn logistic_hypergradients(ridge: &Ridge, lambda: f64, steps: usize, big: f64) -> (f64, f64, f64) {
    let logistic = Logistic(ridge);
    let ln_lambda = lambda.ln();
    let w = logistic.solve(lambda);
    let (_, g) = retrograd::value_and_grad(
        |theta| {
            let w =
                implicit::argmin(&logistic, theta, &w, SolveOptions::default()).expect("IFT solve");
            logistic.validation_loss(&w)
        },
        &[ln_lambda],
    );
    let h = 1e-5;
    let val_at = |l: f64| logistic.validation_loss(&logistic.solve(l.exp()));
    let fd = (val_at(ln_lambda + h) - val_at(ln_lambda - h)) / (2.0 * h);
    // Heavy ball for curvature in [μ, L]: σ(1 − σ) ≤ ¼ bounds L by the squared loss's; the
    // unpenalised bias direction has curvature mean σ(1 − σ), taken as at least 0.05.
    let (sl, ss) = (
        ((big - lambda) / 4.0 + lambda).sqrt(),
        lambda.min(0.05).sqrt(),
    );
    let lr = 4.0 / (sl + ss).powi(2);
    let momentum = ((sl - ss) / (sl + ss)).powi(2);
    let sgd = Sgd {
        momentum,
        nesterov: false,
    };
    let unroll = Unroll::new(&logistic, sgd, &[ridge.d - 1, 1], steps).expect("groups");
    let unrolled = unroll
        .hypergradient(
            &vec![0.0; ridge.d],
            &[lr.ln(), ln_lambda, lr.ln(), -60.0],
            10,
        )
        .expect("unrolled hypergradient")
        .hypergradient[1];
    (g[0], fd, unrolled)
}

/// Sizes of a run.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub train: usize,
    pub validation: usize,
    pub unrolled_steps: usize,
    pub tuning_steps: usize,
}

impl Config {
    pub fn full() -> Self {
        Config {
            train: 400,
            validation: 400,
            unrolled_steps: 400,
            tuning_steps: 12,
        }
    }
    pub fn quick() -> Self {
        Config {
            train: 120,
            validation: 100,
            unrolled_steps: 300,
            tuning_steps: 3,
        }
    }
}

/// Headline figures and checks.
pub struct Report {
    pub config: Config,
    pub lambda: f64,
    pub ift: f64,
    pub closed_form: f64,
    pub finite_differences: f64,
    pub unrolled: f64,
    pub max_solution_derivative_diff: f64,
    pub ift_seconds: f64,
    pub unrolled_seconds: f64,
    pub trajectory: Vec<(f64, f64)>,
    pub val_loss_before: f64,
    /// Logistic regression: (IFT, finite differences, unrolled).
    pub logistic: (f64, f64, f64),
    pub val_loss_after: f64,
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-12)
}

impl Report {
    pub fn checks(&self) -> Vec<(&'static str, bool)> {
        vec![
            (
                "ift_matches_closed_form_1e-8",
                rel(self.ift, self.closed_form) <= 1e-8,
            ),
            (
                "solution_derivative_matches_closed_form_1e-8",
                self.max_solution_derivative_diff <= 1e-8,
            ),
            (
                "ift_matches_finite_differences_1e-6",
                rel(self.ift, self.finite_differences) <= 1e-6,
            ),
            (
                "ift_matches_unrolled_1e-6",
                rel(self.ift, self.unrolled) <= 1e-6,
            ),
            (
                "logistic_ift_matches_finite_differences_1e-6",
                rel(self.logistic.0, self.logistic.1) <= 1e-6,
            ),
            (
                "logistic_ift_matches_unrolled_1e-6",
                rel(self.logistic.0, self.logistic.2) <= 1e-6,
            ),
            (
                "tuning_lowers_validation_loss",
                self.val_loss_after < self.val_loss_before,
            ),
        ]
    }
}

pub fn run(config: Config) -> Report {
    let all = digits().expect("the bundled digits");
    let (train, validation) = all.stratified_split(0.5, 5);
    let ridge = Ridge::new(
        &train.take(config.train),
        &validation.take(config.validation),
    );
    let lambda: f64 = 0.5;
    let ln_lambda = lambda.ln();

    let clock = std::time::Instant::now();
    let (val_loss_before, ift) = ift_hypergradient(&ridge, ln_lambda);
    let ift_seconds = clock.elapsed().as_secs_f64();

    // Closed form: dw*/dλ = −A⁻¹·D·w*, dL/d ln λ = λ·∇L(w*)·dw*/dλ.
    let w = ridge.solve(lambda);
    let mut dw = w.clone();
    dw[ridge.d - 1] = 0.0;
    let options = SolveOptions {
        tolerance: 1e-14,
        max_iterations: 10_000,
        ..SolveOptions::default()
    };
    let dw: Vec<f64> = cg(|u| ridge.apply(lambda, u), &dw, options)
        .expect("solve")
        .x
        .iter()
        .map(|v| -v)
        .collect();
    let grad_val = retrograd::grad(|w| ridge.validation_loss(w), &w);
    let closed_form = lambda * grad_val.iter().zip(&dw).map(|(a, b)| a * b).sum::<f64>();
    // The IFT's dw*/dλ itself, from implicit::argmin_jvp along d(ln λ) = 1/λ.
    let dw_ift = implicit::argmin_jvp(
        &ridge,
        &w,
        &[ln_lambda],
        &[1.0 / lambda],
        SolveOptions::default(),
    )
    .expect("IFT jvp");
    let scale = dw.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let max_solution_derivative_diff = dw
        .iter()
        .zip(&dw_ift)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / scale;

    let h = 1e-5;
    let val_at = |l: f64| ridge.validation_loss(&ridge.solve(l.exp()));
    let finite_differences = (val_at(ln_lambda + h) - val_at(ln_lambda - h)) / (2.0 * h);

    // Unrolled heavy ball from w = 0 with the optimal step and momentum for the
    // spectrum [λ, L] (L by power iteration), λ as the weight decay of the weights' group.
    let mut v = vec![1.0; ridge.d];
    let mut big = 0.0;
    for _ in 0..200 {
        let av = ridge.apply(lambda, &v);
        big = av.iter().map(|a| a * a).sum::<f64>().sqrt()
            / v.iter().map(|a| a * a).sum::<f64>().sqrt();
        v = av;
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        v.iter_mut().for_each(|a| *a /= norm);
    }
    // The bias direction has eigenvalue 1 (standardised features have mean 0).
    let small = lambda.min(1.0);
    let (sl, ss) = (big.sqrt(), small.sqrt());
    let lr = 4.0 / (sl + ss).powi(2);
    let momentum = ((sl - ss) / (sl + ss)).powi(2);
    let sgd = Sgd {
        momentum,
        nesterov: false,
    };
    let unroll =
        Unroll::new(&ridge, sgd, &[ridge.d - 1, 1], config.unrolled_steps).expect("groups");
    let clock = std::time::Instant::now();
    let g = unroll
        .hypergradient(
            &vec![0.0; ridge.d],
            &[lr.ln(), ln_lambda, lr.ln(), -60.0],
            10,
        )
        .expect("unrolled hypergradient");
    let unrolled_seconds = clock.elapsed().as_secs_f64();
    let unrolled = g.hypergradient[1];
    let logistic = logistic_hypergradients(&ridge, lambda, config.unrolled_steps, big);

    // Descent on ln λ along the hypergradient's sign (step halved when it overshoots).
    let mut trajectory = vec![(lambda, val_loss_before)];
    let (mut at, mut value, mut slope) = (ln_lambda, val_loss_before, ift);
    let mut step = 0.5;
    for _ in 0..config.tuning_steps {
        let trial = at - step * slope.signum();
        let (v, s) = ift_hypergradient(&ridge, trial);
        if v < value {
            (at, value, slope) = (trial, v, s);
            step *= 1.5;
        } else {
            step *= 0.5;
        }
        trajectory.push((at.exp(), value));
    }
    Report {
        config,
        lambda,
        ift,
        closed_form,
        finite_differences,
        unrolled,
        max_solution_derivative_diff,
        ift_seconds,
        unrolled_seconds,
        val_loss_after: value,
        trajectory,
        val_loss_before,
        logistic,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let r = run(if quick {
        Config::quick()
    } else {
        Config::full()
    });
    let checks = r.checks();
    if json {
        let checks: serde_json::Map<String, serde_json::Value> = checks
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        let out = serde_json::json!({
            "lambda": r.lambda,
            "hypergradient_ift": r.ift,
            "hypergradient_closed_form": r.closed_form,
            "hypergradient_finite_differences": r.finite_differences,
            "hypergradient_unrolled": r.unrolled,
            "unrolled_steps": r.config.unrolled_steps,
            "rel_diff_ift_vs_closed_form": rel(r.ift, r.closed_form),
            "rel_diff_ift_vs_finite_differences": rel(r.ift, r.finite_differences),
            "rel_diff_ift_vs_unrolled": rel(r.ift, r.unrolled),
            "ift_seconds": r.ift_seconds,
            "unrolled_seconds": r.unrolled_seconds,
            "val_loss_before": r.val_loss_before,
            "val_loss_after": r.val_loss_after,
            "lambda_after": r.trajectory.last().map(|p| p.0),
            "logistic_hypergradient_ift": r.logistic.0,
            "logistic_hypergradient_finite_differences": r.logistic.1,
            "logistic_hypergradient_unrolled": r.logistic.2,
            "checks": checks,
        });
        println!("{out}");
    } else {
        println!(
            "ridge regression on digits (even vs odd), {} training and {} validation samples, lambda = {}",
            r.config.train, r.config.validation, r.lambda
        );
        println!("\nd(validation MSE)/d(ln lambda):");
        println!(
            "  implicit function theorem  {:.12}   ({:.3} s)",
            r.ift, r.ift_seconds
        );
        println!(
            "  closed form                {:.12}   rel diff {:.2e}",
            r.closed_form,
            rel(r.ift, r.closed_form)
        );
        println!(
            "  finite differences         {:.12}   rel diff {:.2e}",
            r.finite_differences,
            rel(r.ift, r.finite_differences)
        );
        println!(
            "  unrolled ({} heavy-ball steps) {:.12}   rel diff {:.2e}   ({:.3} s)",
            r.config.unrolled_steps,
            r.unrolled,
            rel(r.ift, r.unrolled),
            r.unrolled_seconds
        );
        println!(
            "  dw*/dlambda vs closed form: max difference {:.2e} (relative to its largest entry)",
            r.max_solution_derivative_diff
        );
        let (ift, fd, unrolled) = r.logistic;
        println!("\nlogistic regression, d(validation log-loss)/d(ln lambda) at the same lambda:");
        println!("  implicit function theorem  {ift:.12}");
        println!(
            "  finite differences         {fd:.12}   rel diff {:.2e}",
            rel(ift, fd)
        );
        println!(
            "  unrolled ({} heavy-ball steps) {unrolled:.12}   rel diff {:.2e}",
            r.config.unrolled_steps,
            rel(ift, unrolled)
        );
        println!("\nridge: descent on ln lambda along the hypergradient's sign:\n  step  lambda      validation MSE");
        for (i, (l, v)) in r.trajectory.iter().enumerate() {
            println!("  {i:>4}  {l:<10.5}  {v:.6}");
        }
        for (name, ok) in &checks {
            println!("check {name}: {}", if *ok { "pass" } else { "FAIL" });
        }
    }
    if checks.iter().any(|(_, ok)| !ok) {
        std::process::exit(1);
    }
}
