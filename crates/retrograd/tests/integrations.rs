//! The ecosystem bridges: argmin solvers on retrograd derivatives (feature `argmin`) and
//! nalgebra linear algebra on `Var` and `Dual` (feature `nalgebra`).
//!
//! Run: `cargo test --release -p retrograd --features argmin,nalgebra --test integrations`

#[cfg(feature = "argmin")]
mod argmin_solvers {
    use argmin::core::{CostFunction, Executor, Gradient, Hessian, State};
    use argmin::solver::linesearch::MoreThuenteLineSearch;
    use argmin::solver::quasinewton::LBFGS;
    use argmin::solver::trustregion::{Steihaug, TrustRegion};
    use retrograd::gradcheck::finite_difference;
    use retrograd::integrations::argmin::{Differentiated, Objective};
    use retrograd::Real;

    /// The extended Rosenbrock function, Σ 100 (x₂ⱼ₊₁ − x₂ⱼ²)² + (1 − x₂ⱼ)²: minimum 0 at 1.
    struct Rosenbrock;
    impl Objective for Rosenbrock {
        fn value<T: Real>(&self, x: &[T]) -> T {
            x.chunks(2).fold(T::zero(), |sum, p| {
                let (a, b) = (T::one() - p[0], p[1] - p[0] * p[0]);
                sum + a * a + T::from_f64(100.0) * b * b
            })
        }
    }

    const START: [f64; 4] = [-1.2, 1.0, -0.5, 0.8];

    fn assert_at_optimum(x: &[f64]) {
        for xi in x {
            assert!((xi - 1.0).abs() < 1e-6, "{x:?}");
        }
    }

    #[test]
    fn lbfgs_minimises_rosenbrock() {
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 7)
            .with_tolerance_grad(1e-12)
            .unwrap();
        let result = Executor::new(Differentiated(Rosenbrock), solver)
            .configure(|s| s.param(START.to_vec()).max_iters(200))
            .run()
            .unwrap();
        assert_at_optimum(result.state().get_best_param().unwrap());
        assert!(result.state().get_best_cost() < 1e-14);
    }

    #[test]
    fn newton_trust_region_minimises_rosenbrock() {
        // Newton steps on the exact Hessian, each solved by Steihaug's truncated CG.
        let solver = TrustRegion::new(Steihaug::new().with_max_iters(20));
        let result = Executor::new(Differentiated(Rosenbrock), solver)
            .configure(|s| s.param(START.to_vec()).max_iters(40))
            .run()
            .unwrap();
        assert_at_optimum(result.state().get_best_param().unwrap());
        assert!(result.state().get_best_cost() < 1e-20);
    }

    #[test]
    fn gradient_and_hessian_match_finite_differences() {
        let problem = Differentiated(Rosenbrock);
        let x = START.to_vec();
        let g = problem.gradient(&x).unwrap();
        let fd = finite_difference(|x| problem.cost(&x.to_vec()).unwrap(), &x);
        for (a, b) in g.iter().zip(&fd) {
            assert!((a - b).abs() < 1e-6 * a.abs().max(1.0), "{g:?} vs {fd:?}");
        }
        let h = problem.hessian(&x).unwrap();
        for i in 0..x.len() {
            let row = finite_difference(|x| problem.gradient(&x.to_vec()).unwrap()[i], &x);
            for (a, b) in h[i].iter().zip(&row) {
                assert!((a - b).abs() < 1e-6 * a.abs().max(1.0), "{h:?}");
            }
        }
    }

    #[test]
    fn a_non_finite_objective_is_an_error() {
        struct Log;
        impl Objective for Log {
            fn value<T: Real>(&self, x: &[T]) -> T {
                x[0].ln()
            }
        }
        let err = Differentiated(Log).cost(&vec![-1.0]).unwrap_err();
        assert!(err.to_string().contains("non-finite entry NaN"), "{err}");
        let err = Differentiated(Log).gradient(&vec![0.0]).unwrap_err();
        assert!(
            err.to_string()
                .contains("gradient has the non-finite entry inf"),
            "{err}"
        );
    }
}

#[cfg(feature = "nalgebra")]
mod nalgebra_scalars {
    use nalgebra::{DMatrix, DVector, RealField};
    use retrograd::gradcheck::finite_difference;
    use retrograd::{Dual, Var};

    /// `det(A)` for a 3 × 3 matrix given by rows.
    fn determinant<T: RealField + Copy>(a: &[T]) -> T {
        DMatrix::from_row_slice(3, 3, a).determinant()
    }

    /// `Σ Wᵢⱼ (AB)ᵢⱼ` for A (2 × 3) and B (3 × 2), both by rows in `x`.
    fn weighted_product<T: RealField + Copy>(x: &[T]) -> T {
        let (a, b) = (
            DMatrix::from_row_slice(2, 3, &x[..6]),
            DMatrix::from_row_slice(3, 2, &x[6..]),
        );
        let w =
            DMatrix::from_row_slice(2, 2, &[1.0, -2.0, 0.5, 3.0]).map(nalgebra::convert::<f64, T>);
        (a * b).component_mul(&w).sum()
    }

    const C: [f64; 3] = [1.0, -1.0, 2.0];

    /// `cᵀA⁻¹b` by an LU solve, for A (3 × 3, by rows) and b in `x`.
    fn lu_solve<T: RealField + Copy>(x: &[T]) -> T {
        let a = DMatrix::from_row_slice(3, 3, &x[..9]);
        let b = DVector::from_column_slice(&x[9..]);
        let solution = a.lu().solve(&b).expect("the test matrix is invertible");
        solution.dot(&DVector::from_iterator(
            3,
            C.map(nalgebra::convert::<f64, T>),
        ))
    }

    /// `cᵀA⁻¹b` by a Cholesky solve, with `A = MMᵀ + 3I` for M (3 × 3, by rows) and b in `x`.
    fn cholesky_solve<T: RealField + Copy>(x: &[T]) -> T {
        let m = DMatrix::from_row_slice(3, 3, &x[..9]);
        let a = &m * m.transpose() + DMatrix::identity(3, 3) * nalgebra::convert::<f64, T>(3.0);
        let b = DVector::from_column_slice(&x[9..]);
        let solution = a
            .cholesky()
            .expect("MMᵀ + 3I is positive definite")
            .solve(&b);
        solution.dot(&DVector::from_iterator(
            3,
            C.map(nalgebra::convert::<f64, T>),
        ))
    }

    const A: [f64; 9] = [2.0, 1.0, 0.5, -1.0, 3.0, 0.2, 0.4, -0.3, 1.5];
    const B: [f64; 3] = [0.7, -1.1, 2.0];

    fn inputs(extra: &[f64]) -> Vec<f64> {
        A.iter().chain(extra).copied().collect()
    }

    fn assert_close(a: &[f64], b: &[f64], tol: f64) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol * x.abs().max(1.0), "{a:?} vs {b:?}");
        }
    }

    /// The Var gradient and Dual directional derivatives of `f` agree with central
    /// differences of `f` on `f64`.
    fn check_against_differences(
        f: fn(&[f64]) -> f64,
        fv: fn(&[Var]) -> Var,
        fd: fn(&[Dual]) -> Dual,
        x: &[f64],
    ) {
        let g = retrograd::grad(fv, x);
        assert_close(&g, &finite_difference(f, x), 1e-7);
        for i in 0..x.len() {
            let mut e = vec![0.0; x.len()];
            e[i] = 1.0;
            let (_, jv) = retrograd::jvp(|x| vec![fd(x)], x, &e).unwrap();
            assert!((jv[0] - g[i]).abs() <= 1e-12 * g[i].abs().max(1.0));
        }
    }

    /// A⁻¹ by rows.
    fn inverse() -> DMatrix<f64> {
        DMatrix::from_row_slice(3, 3, &A).try_inverse().unwrap()
    }

    #[test]
    fn determinant_gradient_is_jacobis_formula() {
        let g = retrograd::grad(determinant, &A);
        let det = determinant(&A);
        let cofactors = inverse().transpose() * det;
        assert_close(&g, cofactors.transpose().as_slice(), 1e-13);
        check_against_differences(determinant, determinant, determinant, &A);
    }

    #[test]
    fn determinant_hessian_by_forward_over_reverse() {
        let h = retrograd::hessian(determinant, &A);
        for (i, h_row) in h.iter().enumerate() {
            let row = finite_difference(|x| retrograd::grad(determinant, x)[i], &A);
            assert_close(h_row, &row, 1e-7);
        }
        // det is linear in each entry: zero diagonal.
        assert!((0..9).all(|i| h[i][i] == 0.0));
    }

    #[test]
    fn product_gradient_is_w_b_transpose_and_a_transpose_w() {
        let x: Vec<f64> = (0..12).map(|i| (i as f64 * 0.7).sin()).collect();
        let g = retrograd::grad(weighted_product, &x);
        let a = DMatrix::from_row_slice(2, 3, &x[..6]);
        let b = DMatrix::from_row_slice(3, 2, &x[6..]);
        let w = DMatrix::from_row_slice(2, 2, &[1.0, -2.0, 0.5, 3.0]);
        let (ga, gb) = (&w * b.transpose(), a.transpose() * &w);
        // nalgebra stores by columns: transpose to read by rows.
        let expected: Vec<f64> = ga
            .transpose()
            .iter()
            .chain(gb.transpose().iter())
            .copied()
            .collect();
        assert_close(&g, &expected, 1e-14);
        check_against_differences(weighted_product, weighted_product, weighted_product, &x);
    }

    #[test]
    fn lu_solve_gradient_is_the_adjoint_solution() {
        let x = inputs(&B);
        let g = retrograd::grad(lu_solve, &x);
        // λ = A⁻ᵀc; ∂/∂b = λ, ∂/∂A = −λ·(A⁻¹b)ᵀ.
        let inv = inverse();
        let lambda = inv.transpose() * DVector::from_column_slice(&C);
        let solution = &inv * DVector::from_column_slice(&B);
        let ga = -(&lambda * solution.transpose());
        let expected: Vec<f64> = ga
            .transpose()
            .iter()
            .chain(lambda.iter())
            .copied()
            .collect();
        assert_close(&g, &expected, 1e-13);
        check_against_differences(lu_solve, lu_solve, lu_solve, &x);
    }

    #[test]
    fn cholesky_solve_gradient_matches_differences() {
        check_against_differences(cholesky_solve, cholesky_solve, cholesky_solve, &inputs(&B));
    }

    #[test]
    fn cholesky_of_an_indefinite_var_matrix_fails() {
        let mut tape = retrograd::Tape::new();
        let factor = tape.record(|rec| {
            let x = rec.inputs(&[1.0, 2.0, 2.0, 1.0]);
            DMatrix::from_row_slice(2, 2, &x).cholesky()
        });
        assert!(factor.is_none());
    }
}
