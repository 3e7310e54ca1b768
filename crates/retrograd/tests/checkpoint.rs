//! Binomial checkpointing: optimal step counts, bounded memory, and gradients equal to
//! taping the whole loop.

use retrograd::checkpoint::{forward_steps, gradient, Step};
use retrograd::{prelude::*, Tape};

/// RK4 for the Lotka–Volterra system u' = a·u − b·u·v, v' = c·u·v − d·v.
struct LotkaVolterra {
    dt: f64,
}

fn rhs<T: Real>(x: &[T], p: &[T]) -> [T; 2] {
    let (u, v) = (x[0], x[1]);
    [p[0] * u - p[1] * u * v, p[2] * u * v - p[3] * v]
}

impl Step for LotkaVolterra {
    fn step<T: Real>(&self, _k: usize, x: &[T], p: &[T]) -> Vec<T> {
        let h = T::from_f64(self.dt);
        let half = T::from_f64(0.5) * h;
        let k1 = rhs(x, p);
        let k2 = rhs(&[x[0] + half * k1[0], x[1] + half * k1[1]], p);
        let k3 = rhs(&[x[0] + half * k2[0], x[1] + half * k2[1]], p);
        let k4 = rhs(&[x[0] + h * k3[0], x[1] + h * k3[1]], p);
        let two = T::from_f64(2.0);
        (0..2)
            .map(|i| x[i] + h / T::from_f64(6.0) * (k1[i] + two * k2[i] + two * k3[i] + k4[i]))
            .collect()
    }
}

const X0: [f64; 2] = [10.0, 5.0];
const P: [f64; 4] = [1.5, 1.0, 3.0, 1.0];

/// The gradient with every step on one tape: (∂J/∂x₀, ∂J/∂p, tape bytes).
fn full_taping(n: usize) -> (Vec<f64>, Vec<f64>, usize) {
    let lv = LotkaVolterra { dt: 0.01 };
    let mut tape = Tape::new();
    let (xs, ps, j) = tape.record(|rec| {
        let xs = rec.inputs(&X0);
        let ps = rec.inputs(&P);
        let mut x = xs.clone();
        for k in 0..n {
            x = lv.step(k, &x, &ps);
        }
        (xs, ps, x[0] + x[1])
    });
    let g = tape.gradient(j);
    (g.wrt_all(&xs), g.wrt_all(&ps), tape.stats().bytes)
}

/// Least forward steps by dynamic programming over every split (Griewank's recursion).
fn optimum_by_search(max_l: usize, max_s: usize) -> Vec<Vec<usize>> {
    let mut t = vec![vec![0usize; max_s + 1]; max_l + 1];
    for l in 2..=max_l {
        t[l][1] = l * (l - 1) / 2;
        for s in 2..=max_s {
            t[l][s] = (1..l).map(|m| m + t[l - m][s - 1] + t[m][s]).min().unwrap();
        }
    }
    t
}

#[test]
fn closed_form_matches_the_optimum_of_every_schedule() {
    let t = optimum_by_search(150, 7);
    for (l, row) in t.iter().enumerate().skip(1) {
        for (s, &best) in row.iter().enumerate().skip(1) {
            assert_eq!(forward_steps(l, s), Some(best), "l = {l}, s = {s}");
        }
    }
    assert_eq!(forward_steps(1000, 10), Some(3636));
    assert_eq!(forward_steps(5, 0), None);
}

fn assert_close(a: &[f64], b: &[f64]) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-10 * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

#[test]
fn thousand_steps_with_ten_snapshots() {
    let lv = LotkaVolterra { dt: 0.01 };
    let g = gradient(&lv, &X0, &P, 1000, 10, |x| x[0] + x[1]).unwrap();
    assert_eq!(g.stats.forward_steps, 3636);
    assert_eq!(g.stats.taped_steps, 1000);
    assert!(g.stats.max_snapshots <= 10, "{:?}", g.stats);
    let (gx, gp, full_bytes) = full_taping(1000);
    assert_close(&g.state_adjoint, &gx);
    assert_close(&g.param_adjoint, &gp);
    // One step (and the loss) on the tape, not a thousand.
    assert!(
        g.stats.peak_tape_bytes * 500 < full_bytes,
        "{} vs {full_bytes}",
        g.stats.peak_tape_bytes
    );
}

#[test]
fn every_budget_gives_the_optimal_count_and_the_same_gradient() {
    let lv = LotkaVolterra { dt: 0.01 };
    for n in [1, 2, 3, 7, 20, 64] {
        let (gx, gp, _) = full_taping(n);
        for s in 1..=8 {
            let g = gradient(&lv, &X0, &P, n, s, |x| x[0] + x[1]).unwrap();
            assert_eq!(
                Some(g.stats.forward_steps),
                forward_steps(n, s),
                "n = {n}, s = {s}"
            );
            assert_eq!(g.stats.taped_steps, n);
            assert!(g.stats.max_snapshots <= s);
            assert_close(&g.state_adjoint, &gx);
            assert_close(&g.param_adjoint, &gp);
        }
    }
}

#[test]
fn zero_steps_differentiates_the_loss_alone() {
    let lv = LotkaVolterra { dt: 0.01 };
    let g = gradient(&lv, &X0, &P, 0, 3, |x| x[0] * x[1]).unwrap();
    assert_eq!(g.value, 50.0);
    assert_eq!(g.state_adjoint, vec![5.0, 10.0]);
    assert_eq!(g.param_adjoint, vec![0.0; 4]);
}

#[test]
fn bad_budgets_and_states_are_errors() {
    let lv = LotkaVolterra { dt: 0.01 };
    let err = gradient(&lv, &X0, &P, 10, 0, |x| x[0]).unwrap_err();
    assert!(err.to_string().contains("0 snapshots"), "{err}");

    struct Grows;
    impl Step for Grows {
        fn step<T: Real>(&self, _k: usize, x: &[T], _p: &[T]) -> Vec<T> {
            let mut y = x.to_vec();
            y.push(T::one());
            y
        }
    }
    let err = gradient(&Grows, &[1.0], &[], 5, 2, |x| x[0]).unwrap_err();
    assert!(
        err.to_string().contains("expected length 1, found 2"),
        "{err}"
    );
}
