//! Sensitivities of an optimal mean–variance portfolio by implicit differentiation.
//!
//! `min_x  ½γ·xᵀΣx − μᵀx`  subject to  `Σᵢxᵢ = 1`, `0 ≤ xᵢ ≤ u`.
//!
//! Solved by projected gradient; the optimum is certified by an independent active-set
//! KKT solve (a dense linear system on the free assets, with the multipliers' signs
//! checked). The derivative of the optimal weights and of the optimal cost with respect to
//! the expected returns μ and the risk aversion γ comes from the implicit function theorem
//! on the projected-gradient fixed point `x = P(x − η∇f(x))` (GMRES on Jacobian–vector
//! products), recorded on the tape by `implicit::root`, and is checked against re-solving
//! with bumped parameters and against the envelope theorem (`∂f*/∂μ = −x*`,
//! `∂f*/∂γ = ½x*ᵀΣx*`).
//!
//! Run: `cargo run --release -p retrograd --example implicit_portfolio [-- --json] [--quick]`

use retrograd::implicit::{self, RootProblem, SolveOptions};
use retrograd::{Real, Tape};

/// The market: covariance Σ (row-major), expected returns μ, risk aversion γ, cap u.
pub struct Portfolio {
    pub n: usize,
    pub covariance: Vec<f64>,
    pub mu: Vec<f64>,
    pub gamma: f64,
    pub cap: f64,
}

/// A deterministic market of `n` assets: a two-factor covariance plus idiosyncratic
/// variance, returns rising with risk.
pub fn market(n: usize) -> Portfolio {
    let loading = |i: usize, k: usize| ((i * (3 + 2 * k) + 1) as f64 * 0.7).sin() * 0.15;
    let covariance = (0..n * n)
        .map(|ij| {
            let (i, j) = (ij / n, ij % n);
            let common: f64 = (0..2).map(|k| loading(i, k) * loading(j, k)).sum();
            common + if i == j { 0.01 + 0.004 * i as f64 } else { 0.0 }
        })
        .collect();
    let mu = (0..n)
        .map(|i| 0.03 + 0.012 * i as f64 + 0.01 * (i as f64 * 1.3).cos())
        .collect();
    Portfolio {
        n,
        covariance,
        mu,
        gamma: 4.0,
        cap: 2.0 / n as f64,
    }
}

/// θ = (μ₁, …, μₙ, γ).
impl Portfolio {
    pub fn theta(&self) -> Vec<f64> {
        let mut t = self.mu.clone();
        t.push(self.gamma);
        t
    }

    /// ∇f = γΣx − μ.
    fn gradient<T: Real>(&self, x: &[T], theta: &[T]) -> Vec<T> {
        let (mu, gamma) = (&theta[..self.n], theta[self.n]);
        (0..self.n)
            .map(|i| {
                let sx: T = (0..self.n)
                    .map(|j| T::from_f64(self.covariance[i * self.n + j]) * x[j])
                    .sum();
                gamma * sx - mu[i]
            })
            .collect()
    }

    /// f = ½γ·xᵀΣx − μᵀx.
    pub fn cost<T: Real>(&self, x: &[T], theta: &[T]) -> T {
        let (mu, gamma) = (&theta[..self.n], theta[self.n]);
        let quad: T = (0..self.n * self.n)
            .map(|ij| T::from_f64(self.covariance[ij]) * x[ij / self.n] * x[ij % self.n])
            .sum();
        let ret: T = (0..self.n).map(|i| mu[i] * x[i]).sum();
        T::from_f64(0.5) * gamma * quad - ret
    }

    /// Projection onto {Σx = 1, 0 ≤ x ≤ u}: x = clip(y − τ, 0, u), with τ found by
    /// bisection on the values and then re-expressed on `T` from the free coordinates, so
    /// the projection's derivative (identity minus the mean on the free set) is recorded.
    fn project<T: Real>(&self, y: &[T]) -> Vec<T> {
        let u = self.cap;
        let v: Vec<f64> = y.iter().map(|y| y.value()).collect();
        let excess = |tau: f64| v.iter().map(|&y| (y - tau).clamp(0.0, u)).sum::<f64>() - 1.0;
        let (mut lo, mut hi) = (
            v.iter().fold(f64::INFINITY, |m, &y| m.min(y)) - u - 1.0,
            v.iter().fold(f64::NEG_INFINITY, |m, &y| m.max(y)) + 1.0,
        );
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if excess(mid) > 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let tau = 0.5 * (lo + hi);
        let free: Vec<usize> = (0..self.n)
            .filter(|&i| v[i] - tau > 0.0 && v[i] - tau < u)
            .collect();
        let at_cap = (0..self.n).filter(|&i| v[i] - tau >= u).count();
        let tau_t = if free.is_empty() {
            T::from_f64(tau)
        } else {
            let s: T = free.iter().map(|&i| y[i]).sum();
            (s - T::from_f64(1.0 - at_cap as f64 * u)) / T::from_f64(free.len() as f64)
        };
        (0..self.n)
            .map(|i| {
                if free.contains(&i) {
                    y[i] - tau_t
                } else if v[i] - tau >= u {
                    T::from_f64(u)
                } else {
                    T::zero()
                }
            })
            .collect()
    }

    /// The step of projected gradient: 1/(γ·‖Σ‖∞) ≤ 1/L.
    fn step_size(&self) -> f64 {
        let row_max = (0..self.n)
            .map(|i| {
                (0..self.n)
                    .map(|j| self.covariance[i * self.n + j].abs())
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        1.0 / (self.gamma * row_max)
    }
}

/// The projected-gradient fixed point: F(x, θ) = x − P(x − η∇f(x, θ)).
impl RootProblem for Portfolio {
    fn residual<T: Real>(&self, x: &[T], theta: &[T]) -> Vec<T> {
        let eta = T::from_f64(self.step_size());
        let g = self.gradient(x, theta);
        let y: Vec<T> = x.iter().zip(&g).map(|(&x, &g)| x - eta * g).collect();
        let p = self.project(&y);
        x.iter().zip(p).map(|(&x, p)| x - p).collect()
    }
}

/// Projected gradient from equal weights until ‖x − P(x − η∇f)‖∞ ≤ 1e-14.
pub fn solve(p: &Portfolio, theta: &[f64]) -> (Vec<f64>, usize) {
    let mut x = vec![1.0 / p.n as f64; p.n];
    for iteration in 1..=200_000 {
        let r = p.residual(&x, theta);
        if r.iter().fold(0.0_f64, |m, v| m.max(v.abs())) <= 1e-14 {
            return (x, iteration);
        }
        for (x, r) in x.iter_mut().zip(r) {
            *x -= r;
        }
    }
    panic!("projected gradient did not converge in 200,000 iterations");
}

/// The optimum from the active set of `x` by a KKT solve, and whether the multipliers
/// certify it: returns (x, multipliers' signs valid).
pub fn kkt_solve(p: &Portfolio, x: &[f64]) -> (Vec<f64>, bool) {
    let (n, u) = (p.n, p.cap);
    let tol = 1e-9;
    let free: Vec<usize> = (0..n).filter(|&i| x[i] > tol && x[i] < u - tol).collect();
    let capped: Vec<usize> = (0..n).filter(|&i| x[i] >= u - tol).collect();
    let mut fixed = vec![0.0; n];
    for &i in &capped {
        fixed[i] = u;
    }
    // Unknowns (x_F, ν): γΣ_FF x_F + ν1 = μ_F − γΣ_F,U u;  1ᵀx_F = 1 − |U|u.
    let k = free.len();
    let mut a = vec![vec![0.0; k + 2]; k + 1];
    for (r, &i) in free.iter().enumerate() {
        for (c, &j) in free.iter().enumerate() {
            a[r][c] = p.gamma * p.covariance[i * n + j];
        }
        a[r][k] = 1.0;
        let fixed_part: f64 = (0..n).map(|j| p.covariance[i * n + j] * fixed[j]).sum();
        a[r][k + 1] = p.mu[i] - p.gamma * fixed_part;
    }
    a[k][..k].fill(1.0);
    a[k][k + 1] = 1.0 - capped.len() as f64 * u;
    let solution = gauss(a);
    let mut out = fixed;
    for (r, &i) in free.iter().enumerate() {
        out[i] = solution[r];
    }
    let nu = solution[k];
    // Stationarity ∇f + ν = λ_lower − λ_upper with λ ≥ 0.
    let g = p.gradient(&out, &p.theta());
    let signs = (0..n).all(|i| {
        if capped.contains(&i) {
            g[i] + nu <= 1e-10
        } else if free.contains(&i) {
            (g[i] + nu).abs() <= 1e-10 && out[i] > 0.0 && out[i] < u
        } else {
            g[i] + nu >= -1e-10
        }
    });
    (out, signs)
}

/// Gaussian elimination with partial pivoting on an augmented matrix.
fn gauss(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let m = a.len();
    for c in 0..m {
        let pivot = (c..m)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap();
        a.swap(c, pivot);
        let (top, below) = a.split_at_mut(c + 1);
        let pivot_row = &top[c];
        for row in below {
            let f = row[c] / pivot_row[c];
            for (v, p) in row[c..].iter_mut().zip(&pivot_row[c..]) {
                *v -= f * p;
            }
        }
    }
    let mut x = vec![0.0; m];
    for r in (0..m).rev() {
        let s: f64 = (r + 1..m).map(|k| a[r][k] * x[k]).sum();
        x[r] = (a[r][m] - s) / a[r][r];
    }
    x
}

/// The sensitivities `∂(x*, f*)/∂θ` (rows: the n weights, then the cost) by the implicit
/// function theorem, recorded on a tape and swept once per output.
pub fn implicit_sensitivities(p: &Portfolio, x: &[f64]) -> Vec<Vec<f64>> {
    let theta = p.theta();
    let mut tape = Tape::new();
    let (inputs, outputs) = tape.record(|rec| {
        let th = rec.inputs(&theta);
        let xs = implicit::root(p, &th, x, SolveOptions::default()).expect("implicit solve");
        let cost = p.cost(&xs, &th);
        let mut out = xs;
        out.push(cost);
        (th, out)
    });
    outputs
        .iter()
        .map(|&y| tape.adjoints(&[(y, 1.0)]).wrt_all(&inputs))
        .collect()
}

/// The same sensitivities by re-solving at θ ± h·eⱼ (central differences).
pub fn resolve_sensitivities(p: &Portfolio, h: f64) -> Vec<Vec<f64>> {
    let theta = p.theta();
    let mut jac = vec![vec![0.0; theta.len()]; p.n + 1];
    for j in 0..theta.len() {
        let at = |s: f64| {
            let mut t = theta.clone();
            t[j] += s * h;
            let (x, _) = solve(p, &t);
            let mut out = x.clone();
            out.push(p.cost(&x, &t));
            out
        };
        let (up, down) = (at(1.0), at(-1.0));
        for i in 0..=p.n {
            jac[i][j] = (up[i] - down[i]) / (2.0 * h);
        }
    }
    jac
}

/// Headline figures and checks.
pub struct Report {
    pub n: usize,
    pub pg_iterations: usize,
    pub optimality_gap: f64,
    pub max_weight_diff_vs_kkt: f64,
    pub kkt_certified: bool,
    pub free: usize,
    pub capped: usize,
    pub zero: usize,
    pub max_rel_diff_vs_resolve: f64,
    pub max_diff_vs_envelope: f64,
    pub x: Vec<f64>,
    pub ift: Vec<Vec<f64>>,
    pub resolve: Vec<Vec<f64>>,
}

impl Report {
    pub fn checks(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("kkt_certifies_optimum", self.kkt_certified),
            (
                "optimality_gap_below_1e-12",
                self.optimality_gap.abs() <= 1e-12,
            ),
            (
                "weights_match_kkt_1e-10",
                self.max_weight_diff_vs_kkt <= 1e-10,
            ),
            (
                "active_set_has_free_capped_and_zero",
                self.free > 1 && self.capped > 0 && self.zero > 0,
            ),
            (
                "ift_matches_resolve_1e-6",
                self.max_rel_diff_vs_resolve <= 1e-6,
            ),
            (
                "cost_sensitivity_matches_envelope_1e-10",
                self.max_diff_vs_envelope <= 1e-10,
            ),
        ]
    }
}

pub fn run(n: usize) -> Report {
    let p = market(n);
    let theta = p.theta();
    let (x, pg_iterations) = solve(&p, &theta);
    let (x_kkt, kkt_certified) = kkt_solve(&p, &x);
    let optimality_gap = p.cost(&x, &theta) - p.cost(&x_kkt, &theta);
    let max_weight_diff_vs_kkt = x
        .iter()
        .zip(&x_kkt)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let ift = implicit_sensitivities(&p, &x);
    let resolve = resolve_sensitivities(&p, 1e-6);
    let scale = ift.iter().flatten().fold(0.0_f64, |m, v| m.max(v.abs()));
    let max_rel_diff_vs_resolve = ift
        .iter()
        .flatten()
        .zip(resolve.iter().flatten())
        .map(|(a, b)| (a - b).abs() / a.abs().max(b.abs()).max(1e-3 * scale))
        .fold(0.0, f64::max);
    // Envelope theorem: ∂f*/∂μᵢ = −xᵢ*, ∂f*/∂γ = ½x*ᵀΣx*.
    let quad: f64 = (0..n * n)
        .map(|ij| p.covariance[ij] * x[ij / n] * x[ij % n])
        .sum();
    let envelope: Vec<f64> = x.iter().map(|v| -v).chain([0.5 * quad]).collect();
    let max_diff_vs_envelope = ift[n]
        .iter()
        .zip(&envelope)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let tol = 1e-9;
    Report {
        n,
        pg_iterations,
        optimality_gap,
        max_weight_diff_vs_kkt,
        kkt_certified,
        free: x.iter().filter(|&&v| v > tol && v < p.cap - tol).count(),
        capped: x.iter().filter(|&&v| v >= p.cap - tol).count(),
        zero: x.iter().filter(|&&v| v <= tol).count(),
        max_rel_diff_vs_resolve,
        max_diff_vs_envelope,
        x,
        ift,
        resolve,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let r = run(if quick { 8 } else { 12 });
    let checks = r.checks();
    if json {
        let checks: serde_json::Map<String, serde_json::Value> = checks
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        let out = serde_json::json!({
            "assets": r.n,
            "projected_gradient_iterations": r.pg_iterations,
            "optimality_gap": r.optimality_gap,
            "max_weight_diff_vs_kkt": r.max_weight_diff_vs_kkt,
            "max_rel_diff_vs_resolve": r.max_rel_diff_vs_resolve,
            "max_diff_vs_envelope": r.max_diff_vs_envelope,
            "weights": r.x,
            "checks": checks,
        });
        println!("{out}");
    } else {
        println!(
            "mean-variance portfolio, {} assets: projected gradient converged in {} iterations",
            r.n, r.pg_iterations
        );
        println!(
            "optimality gap vs active-set KKT solve: {:.2e} (weights differ by {:.2e}; {} free, {} at the cap, {} at zero)",
            r.optimality_gap, r.max_weight_diff_vs_kkt, r.free, r.capped, r.zero
        );
        println!("\nasset  weight    dx_i/dmu_i (IFT)  (re-solve)   dx_i/dgamma (IFT)  (re-solve)   df*/dmu_i (IFT)");
        let n = r.n;
        for i in 0..n {
            println!(
                "{i:>5}  {:>7.4}   {:>15.6}  {:>11.6}   {:>17.6}  {:>11.6}   {:>15.6}",
                r.x[i], r.ift[i][i], r.resolve[i][i], r.ift[i][n], r.resolve[i][n], r.ift[n][i]
            );
        }
        println!(
            "\ndf*/dgamma: IFT {:.8}, re-solve {:.8}",
            r.ift[n][n], r.resolve[n][n]
        );
        println!(
            "max relative difference IFT vs re-solve: {:.2e}; cost sensitivity vs envelope theorem: {:.2e}",
            r.max_rel_diff_vs_resolve, r.max_diff_vs_envelope
        );
        for (name, ok) in &checks {
            println!("check {name}: {}", if *ok { "pass" } else { "FAIL" });
        }
    }
    if checks.iter().any(|(_, ok)| !ok) {
        std::process::exit(1);
    }
}
