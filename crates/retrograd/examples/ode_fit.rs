//! Fitting the parameters of an ODE to a trajectory with checkpointed adjoints.
//!
//! The Lotka–Volterra system u' = a·u − b·u·v, v' = c·u·v − d·v is integrated with RK4;
//! the squared misfit to observed states is accumulated as an extra state component, so
//! the loss is a function of the final state and [`checkpoint::gradient`] gives its
//! gradient with a fixed budget of stored states, however long the trajectory.
//! BFGS with a backtracking line search recovers the parameters.
//!
//! Run: `cargo run --release -p retrograd --example ode_fit`

use retrograd::checkpoint::{self, Step};
use retrograd::Real;

#[path = "common/bfgs.rs"]
mod bfgs;

const DT: f64 = 0.01;
const STEPS: usize = 1000;
const SNAPSHOTS: usize = 20;

/// One RK4 step of the system; state = (u, v, accumulated misfit).
struct LotkaVolterra<'a> {
    /// Observed (u, v) after each step.
    observed: &'a [[f64; 2]],
}

fn rhs<T: Real>(u: T, v: T, p: &[T]) -> (T, T) {
    (p[0] * u - p[1] * u * v, p[2] * u * v - p[3] * v)
}

fn rk4<T: Real>(u: T, v: T, p: &[T]) -> (T, T) {
    let (h, half, sixth, two) = (
        T::from_f64(DT),
        T::from_f64(DT / 2.0),
        T::from_f64(DT / 6.0),
        T::from_f64(2.0),
    );
    let (k1u, k1v) = rhs(u, v, p);
    let (k2u, k2v) = rhs(u + half * k1u, v + half * k1v, p);
    let (k3u, k3v) = rhs(u + half * k2u, v + half * k2v, p);
    let (k4u, k4v) = rhs(u + h * k3u, v + h * k3v, p);
    (
        u + sixth * (k1u + two * k2u + two * k3u + k4u),
        v + sixth * (k1v + two * k2v + two * k3v + k4v),
    )
}

impl Step for LotkaVolterra<'_> {
    fn step<T: Real>(&self, k: usize, x: &[T], p: &[T]) -> Vec<T> {
        let (u, v) = rk4(x[0], x[1], p);
        let [ou, ov] = self.observed[k];
        let (du, dv) = (u - T::from_f64(ou), v - T::from_f64(ov));
        vec![u, v, x[2] + du * du + dv * dv]
    }
}

/// The trajectory of the parameters `p` from (10, 5).
fn simulate(p: &[f64]) -> Vec<[f64; 2]> {
    let (mut u, mut v) = (10.0, 5.0);
    (0..STEPS)
        .map(|_| {
            (u, v) = rk4(u, v, p);
            [u, v]
        })
        .collect()
}

/// Loss and gradient with respect to the parameters.
fn loss_and_gradient(model: &LotkaVolterra, p: &[f64]) -> (f64, Vec<f64>) {
    let g = checkpoint::gradient(model, &[10.0, 5.0, 0.0], p, STEPS, SNAPSHOTS, |x| x[2])
        .expect("valid loop");
    (g.value, g.param_adjoint)
}

/// BFGS (dense inverse-Hessian update) with an Armijo backtracking line search.
fn fit(model: &LotkaVolterra, start: &[f64], iterations: usize) -> (Vec<f64>, f64) {
    let n = start.len();
    let mut p = start.to_vec();
    let (mut loss, mut grad) = loss_and_gradient(model, &p);
    // Inverse Hessian estimate, started at a small multiple of the identity.
    let mut h: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1e-3 } else { 0.0 }).collect())
        .collect();
    for _ in 0..iterations {
        let dir: Vec<f64> = (0..n)
            .map(|i| -(0..n).map(|j| h[i][j] * grad[j]).sum::<f64>())
            .collect();
        let slope: f64 = dir.iter().zip(&grad).map(|(d, g)| d * g).sum();
        if slope >= 0.0 || grad.iter().all(|g| g.abs() < 1e-12) {
            break;
        }
        let mut t = 1.0;
        let (next, next_loss, next_grad) = loop {
            let trial: Vec<f64> = p.iter().zip(&dir).map(|(x, d)| x + t * d).collect();
            let (l, g) = loss_and_gradient(model, &trial);
            if l.is_finite() && l <= loss + 1e-4 * t * slope {
                break (trial, l, g);
            }
            t *= 0.5;
            if t < 1e-12 {
                return (p, loss);
            }
        };
        let s: Vec<f64> = next.iter().zip(&p).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = next_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
        bfgs::update(&mut h, &s, &y);
        (p, loss, grad) = (next, next_loss, next_grad);
    }
    (p, loss)
}

fn main() {
    let truth = [1.5, 1.0, 3.0, 1.0];
    let observed = simulate(&truth);
    let model = LotkaVolterra {
        observed: &observed,
    };
    let start = [1.3, 0.9, 2.8, 1.1];
    let t = std::time::Instant::now();
    let (p, loss) = fit(&model, &start, 100);
    println!(
        "fitted {p:.6?} (truth {truth:?}), loss {loss:.3e}, in {:.2?}",
        t.elapsed()
    );
    println!("each gradient: {STEPS} RK4 steps with {SNAPSHOTS} stored states");
}

#[test]
fn recovers_the_parameters() {
    let truth = [1.5, 1.0, 3.0, 1.0];
    let observed = simulate(&truth);
    let model = LotkaVolterra {
        observed: &observed,
    };
    let (p, _) = fit(&model, &[1.3, 0.9, 2.8, 1.1], 100);
    for (a, b) in p.iter().zip(&truth) {
        assert!((a - b).abs() < 1e-6, "{p:?}");
    }
}
