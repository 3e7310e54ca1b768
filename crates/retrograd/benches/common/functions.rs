//! The scalar test functions shared by the `scalar` and `peer_scalar` benches (and, by
//! definition, by the peers' programs under `bench/`): f1, the paired extended Rosenbrock
//! function, their inputs and their hand-written gradients.

use retrograd::prelude::*;

/// f1(x) = Σ sin(xᵢ)·xᵢ² + exp(−xᵢ)
pub fn f1<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for &xi in x {
        s = s + xi.sin() * xi * xi + (-xi).exp();
    }
    s
}

/// Extended Rosenbrock, paired form: Σ 100 (x₂ⱼ₊₁ − x₂ⱼ²)² + (1 − x₂ⱼ)²
pub fn f2<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    let hundred = T::from(100.0).unwrap();
    for c in x.chunks_exact(2) {
        let t = c[1] - c[0] * c[0];
        let u = T::one() - c[0];
        s = s + hundred * t * t + u * u;
    }
    s
}

/// f1 as one `sum_map` statement.
pub fn f1_sum_map(x: &[Var]) -> Var {
    retrograd::sum_map(x, |t| t.sin() * t * t + (-t).exp())
}

/// f2 as one `sum_map_chunks` statement.
pub fn f2_sum_map_chunks(x: &[Var]) -> Var {
    retrograd::sum_map_chunks(x, |[a, b]| {
        let t = b - a * a;
        let u = 1.0 - a;
        100.0 * t * t + u * u
    })
}

/// The inputs of the peer harness: xᵢ = 0.5 + 0.4·sin(0.001·i).
pub fn inputs(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.5 + 0.4 * (0.001 * i as f64).sin())
        .collect()
}

/// ∇f1, by hand.
pub fn f1_gradient(x: &[f64]) -> Vec<f64> {
    x.iter()
        .map(|&v| v.cos() * v * v + 2.0 * v * v.sin() - (-v).exp())
        .collect()
}

/// ∇f2, by hand.
pub fn f2_gradient(x: &[f64]) -> Vec<f64> {
    x.chunks_exact(2)
        .flat_map(|c| {
            let (t, u) = (c[1] - c[0] * c[0], 1.0 - c[0]);
            [-400.0 * t * c[0] - 2.0 * u, 200.0 * t]
        })
        .collect()
}
