//! Implicit differentiation against closed forms, re-solved finite differences, and its
//! error cases.

use proptest::prelude::*;
use retrograd::gradcheck::{close, Tolerance};
use retrograd::implicit::{
    argmin, argmin_jvp, argmin_vjp, root, root_jvp, root_vjp, ArgminProblem, RootProblem,
    SolveOptions,
};
use retrograd::{Error, Real};

/// Ridge regression with a penalty per feature: f = ½‖Aw − b‖² + ½Σθⱼwⱼ².
struct Ridge {
    a: Vec<[f64; 3]>,
    b: Vec<f64>,
}

fn ridge() -> Ridge {
    Ridge {
        a: vec![
            [1.0, 0.5, -0.2],
            [0.3, 2.0, 0.1],
            [-1.0, 0.4, 1.5],
            [0.7, -0.6, 0.9],
        ],
        b: vec![1.0, -2.0, 0.5, 3.0],
    }
}

impl ArgminProblem for Ridge {
    fn objective<T: Real>(&self, w: &[T], theta: &[T]) -> T {
        let fit: T = self
            .a
            .iter()
            .zip(&self.b)
            .map(|(row, &b)| {
                let r: T = row.iter().zip(w).map(|(&a, &w)| T::from_f64(a) * w).sum();
                (r - T::from_f64(b)).powi(2)
            })
            .sum();
        let penalty: T = w.iter().zip(theta).map(|(&w, &t)| t * w * w).sum();
        T::from_f64(0.5) * (fit + penalty)
    }
}

impl Ridge {
    /// H = AᵀA + diag(θ), as a dense matrix.
    fn hessian(&self, theta: &[f64]) -> Vec<Vec<f64>> {
        (0..3)
            .map(|i| {
                (0..3)
                    .map(|j| {
                        let ata: f64 = self.a.iter().map(|r| r[i] * r[j]).sum();
                        ata + if i == j { theta[i] } else { 0.0 }
                    })
                    .collect()
            })
            .collect()
    }

    fn solve(&self, theta: &[f64]) -> Vec<f64> {
        let atb: Vec<f64> = (0..3)
            .map(|i| self.a.iter().zip(&self.b).map(|(r, b)| r[i] * b).sum())
            .collect();
        solve3(self.hessian(theta), &atb)
    }
}

/// Cramer's rule for a 3×3 system.
fn solve3(m: Vec<Vec<f64>>, b: &[f64]) -> Vec<f64> {
    let det = |m: &[Vec<f64>]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(&m);
    (0..3)
        .map(|k| {
            let mut mk = m.clone();
            for (row, &bi) in mk.iter_mut().zip(b) {
                row[k] = bi;
            }
            det(&mk) / d
        })
        .collect()
}

#[test]
fn ridge_solution_derivative_matches_the_closed_form() {
    // dw*/dθⱼ = −H⁻¹·eⱼ·wⱼ*.
    let r = ridge();
    let theta = [0.5, 1.0, 2.0];
    let w = r.solve(&theta);
    let jacobian = retrograd::jacobian(
        |t| argmin(&r, t, &w, SolveOptions::default()).unwrap(),
        &theta,
    )
    .unwrap();
    for j in 0..3 {
        let mut e = vec![0.0; 3];
        e[j] = -w[j];
        let column = solve3(r.hessian(&theta), &e);
        for i in 0..3 {
            assert!(
                (jacobian[i][j] - column[i]).abs() < 1e-12,
                "[{i}][{j}]: {} vs {}",
                jacobian[i][j],
                column[i]
            );
        }
    }
}

#[test]
fn ridge_hypergradient_matches_re_solved_finite_differences() {
    let r = ridge();
    let theta = [0.5, 1.0, 2.0];
    let loss = |w: &[f64]| (w[0] - 1.0).powi(2) + w[1] * w[2];
    let w = r.solve(&theta);
    let w_bar = [2.0 * (w[0] - 1.0), w[2], w[1]];
    let g = argmin_vjp(&r, &w, &theta, &w_bar, SolveOptions::default()).unwrap();
    let fd = retrograd::gradcheck::finite_difference(|t| loss(&r.solve(t)), &theta);
    for (a, b) in g.iter().zip(&fd) {
        assert!(close(*a, *b, Tolerance::default()), "{a} vs {b}");
    }
}

/// A nonlinear system with more parameters than unknowns:
/// F = (x₀ + θ₀·sin x₁ − θ₁, x₁ + ½θ₂x₀² − θ₀ − θ₃).
struct Curved;

impl RootProblem for Curved {
    fn residual<T: Real>(&self, x: &[T], t: &[T]) -> Vec<T> {
        vec![
            x[0] + t[0] * x[1].sin() - t[1],
            x[1] + T::from_f64(0.5) * t[2] * x[0] * x[0] - t[0] - t[3],
        ]
    }
}

/// Newton's method with the Jacobian by reverse mode.
fn newton(theta: &[f64]) -> Vec<f64> {
    let mut x = vec![0.0, 0.0];
    for _ in 0..50 {
        let th = theta.to_vec();
        let f = Curved.residual(&x, theta);
        let j = retrograd::jacobian(
            |x| {
                let t: Vec<retrograd::Var> =
                    th.iter().map(|&v| retrograd::Var::constant(v)).collect();
                Curved.residual(x, &t)
            },
            &x,
        )
        .unwrap();
        let det = j[0][0] * j[1][1] - j[0][1] * j[1][0];
        x[0] -= (j[1][1] * f[0] - j[0][1] * f[1]) / det;
        x[1] -= (-j[1][0] * f[0] + j[0][0] * f[1]) / det;
    }
    x
}

#[test]
fn root_derivatives_match_re_solved_finite_differences() {
    let theta = [0.3, 1.0, 0.8, -0.2];
    let x = newton(&theta);
    assert!(Curved.residual(&x, &theta).iter().all(|r| r.abs() < 1e-14));
    // The whole Jacobian on the tape (more parameters than unknowns: the VJP path).
    let jacobian = retrograd::jacobian(
        |t| root(&Curved, t, &x, SolveOptions::default()).unwrap(),
        &theta,
    )
    .unwrap();
    for (i, row) in jacobian.iter().enumerate() {
        let fd = retrograd::gradcheck::finite_difference(|t| newton(t)[i], &theta);
        for (a, b) in row.iter().zip(&fd) {
            assert!(close(*a, *b, Tolerance::default()), "row {i}: {a} vs {b}");
        }
    }
    // The JVP path: one column.
    let column = root_jvp(
        &Curved,
        &x,
        &theta,
        &[0.0, 0.0, 1.0, 0.0],
        SolveOptions::default(),
    )
    .unwrap();
    for i in 0..2 {
        assert!((column[i] - jacobian[i][2]).abs() < 1e-12);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// ⟨x̄, J·θ̇⟩ = ⟨Jᵀ·x̄, θ̇⟩ for the JVP and VJP of the same solution.
    #[test]
    fn jvp_and_vjp_are_transposes(
        x_bar in prop::collection::vec(-1.0f64..1.0, 2),
        theta_dot in prop::collection::vec(-1.0f64..1.0, 4),
        t0 in 0.1f64..0.5,
    ) {
        let theta = [t0, 1.0, 0.8, -0.2];
        let x = newton(&theta);
        let options = SolveOptions::default();
        let jv = root_jvp(&Curved, &x, &theta, &theta_dot, options).unwrap();
        let vj = root_vjp(&Curved, &x, &theta, &x_bar, options).unwrap();
        let left: f64 = x_bar.iter().zip(&jv).map(|(a, b)| a * b).sum();
        let right: f64 = vj.iter().zip(&theta_dot).map(|(a, b)| a * b).sum();
        prop_assert!((left - right).abs() < 1e-10 * (1.0 + left.abs()), "{left} vs {right}");

        let r = ridge();
        let th = [t0, 1.0, 2.0];
        let w = r.solve(&th);
        let jv = argmin_jvp(&r, &w, &th, &theta_dot[..3], options).unwrap();
        let vj = argmin_vjp(&r, &w, &th, &[x_bar[0], x_bar[1], 0.5], options).unwrap();
        let left: f64 = [x_bar[0], x_bar[1], 0.5].iter().zip(&jv).map(|(a, b)| a * b).sum();
        let right: f64 = vj.iter().zip(&theta_dot[..3]).map(|(a, b)| a * b).sum();
        prop_assert!((left - right).abs() < 1e-10 * (1.0 + left.abs()), "{left} vs {right}");
    }
}

/// x² − θ = 0: ∂F/∂x = 2x is singular at x = 0.
struct Square;

impl RootProblem for Square {
    fn residual<T: Real>(&self, x: &[T], theta: &[T]) -> Vec<T> {
        vec![x[0] * x[0] - theta[0]]
    }
}

/// Returns one value too many.
struct TooLong;

impl RootProblem for TooLong {
    fn residual<T: Real>(&self, x: &[T], _theta: &[T]) -> Vec<T> {
        vec![x[0], x[0]]
    }
}

/// x₀² − x₁² + θ·x₀: a saddle at the origin.
struct Saddle;

impl ArgminProblem for Saddle {
    fn objective<T: Real>(&self, x: &[T], theta: &[T]) -> T {
        x[0] * x[0] - x[1] * x[1] + theta[0] * x[0]
    }
}

#[test]
fn failures_are_errors_that_name_their_cause() {
    let o = SolveOptions::default();
    let e = root_vjp(&Square, &[0.0], &[0.0], &[1.0], o).unwrap_err();
    assert!(matches!(e, Error::SingularSystem(_)), "{e}");
    let e = argmin_vjp(&Saddle, &[0.0, 0.0], &[0.0], &[1.0, 1.0], o).unwrap_err();
    assert!(e.to_string().contains("not positive definite"), "{e}");
    let e = argmin_jvp(&Saddle, &[f64::NAN, 0.0], &[0.0], &[1.0], o).unwrap_err();
    assert_eq!(
        e,
        Error::NonFinite("implicit::argmin_jvp: solution entry 0".into())
    );
    let e = root_jvp(&Square, &[1.0], &[f64::INFINITY], &[1.0], o).unwrap_err();
    assert!(matches!(e, Error::NonFinite(_)), "{e}");
    let e = root_vjp(&TooLong, &[1.0], &[1.0], &[1.0], o).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LengthMismatch {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{e}"
    );
    let e = root_jvp(&Square, &[1.0], &[1.0], &[1.0, 2.0], o).unwrap_err();
    assert!(e.to_string().contains("the direction θ̇"), "{e}");
    let e = argmin_vjp(&ridge(), &[0.0; 3], &[1.0; 3], &[1.0], o).unwrap_err();
    assert!(e.to_string().contains("the adjoint x̄"), "{e}");
    // On the tape: the failed solve is reported when recorded.
    let recorded = retrograd::value_and_grad(
        |t| {
            let e = root(&Square, t, &[0.0], o).unwrap_err();
            assert!(matches!(e, Error::SingularSystem(_)), "{e}");
            t[0]
        },
        &[0.0],
    );
    assert_eq!(recorded.1, vec![1.0]);
    // Too few iterations for a 3×3 system with distinct eigenvalues.
    let r = ridge();
    let w = r.solve(&[0.5, 1.0, 2.0]);
    let few = SolveOptions {
        max_iterations: 1,
        ..o
    };
    let e = argmin_vjp(&r, &w, &[0.5, 1.0, 2.0], &[1.0, 0.3, -0.2], few).unwrap_err();
    assert!(
        matches!(e, Error::NotConverged { iterations: 1, .. }),
        "{e}"
    );
}
