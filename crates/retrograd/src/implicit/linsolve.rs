//! Matrix-free iterative linear solvers: conjugate gradients for symmetric positive
//! definite operators (Hessians at a strict minimum) and restarted GMRES for general ones
//! (Jacobians of a root condition). The operator is a closure `u ↦ A·u`, typically a
//! Hessian- or Jacobian-vector product, so `A` is never formed.

use crate::error::Error;

/// Stopping rule of [`cg`] and [`gmres`]: stop when `‖b − A·x‖ ≤ tolerance·‖b‖`, fail
/// after `max_iterations` operator applications.
///
/// ```
/// let o = retrograd::implicit::SolveOptions::default();
/// assert_eq!((o.tolerance, o.max_iterations, o.restart), (1e-10, 1000, 50));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolveOptions {
    /// Relative residual to reach.
    pub tolerance: f64,
    /// Most applications of the operator.
    pub max_iterations: usize,
    /// GMRES: Krylov vectors kept before a restart.
    pub restart: usize,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            tolerance: 1e-10,
            max_iterations: 1000,
            restart: 50,
        }
    }
}

/// A solution of `A·x = b` and how it was reached.
///
/// ```
/// use retrograd::implicit::{cg, SolveOptions};
/// let s = cg(|u: &[f64]| vec![2.0 * u[0]], &[4.0], SolveOptions::default()).unwrap();
/// assert_eq!((s.x, s.iterations), (vec![2.0], 1));
/// assert!(s.residual <= 1e-10);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Solution {
    /// The solution.
    pub x: Vec<f64>,
    /// Applications of the operator.
    pub iterations: usize,
    /// The relative residual `‖b − A·x‖ / ‖b‖` reached (as tracked by the method).
    pub residual: f64,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// Applies the operator, checking the length and finiteness of its output.
fn apply<A: FnMut(&[f64]) -> Vec<f64>>(
    solver: &str,
    a: &mut A,
    u: &[f64],
) -> Result<Vec<f64>, Error> {
    let au = a(u);
    crate::error::check_len(
        || format!("{solver}: the operator's output (one value per unknown)"),
        u.len(),
        au.len(),
    )?;
    if au.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!(
            "{solver}: the operator returned NaN or ±∞"
        )));
    }
    Ok(au)
}

fn check_rhs(solver: &str, b: &[f64], options: &SolveOptions) -> Result<(), Error> {
    if b.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("{solver}: the right-hand side")));
    }
    if options.tolerance.is_nan() || options.tolerance <= 0.0 {
        return Err(Error::Unsupported(format!(
            "{solver}: tolerance {} (must be positive)",
            options.tolerance
        )));
    }
    Ok(())
}

/// Solves `A·x = b` for a symmetric positive definite `A` given as `u ↦ A·u`, by
/// conjugate gradients from `x = 0`.
///
/// Fails with [`Error::SingularSystem`] when a search direction has `pᵀA·p ≤ 0` (the
/// operator is singular or indefinite, e.g. a Hessian at a saddle), with
/// [`Error::NotConverged`] at the iteration limit, and with [`Error::NonFinite`] on a NaN.
///
/// ```
/// use retrograd::implicit::{cg, SolveOptions};
/// let a = [[4.0, 1.0], [1.0, 3.0]];
/// let op = |u: &[f64]| vec![a[0][0] * u[0] + a[0][1] * u[1], a[1][0] * u[0] + a[1][1] * u[1]];
/// let s = cg(op, &[1.0, 2.0], SolveOptions::default()).unwrap();
/// assert!((s.x[0] - 1.0 / 11.0).abs() < 1e-12 && (s.x[1] - 7.0 / 11.0).abs() < 1e-12);
/// // An indefinite operator is reported, not solved wrongly.
/// let err = cg(|u: &[f64]| vec![u[0], -u[1]], &[1.0, 1.0], SolveOptions::default());
/// assert!(matches!(err, Err(retrograd::Error::SingularSystem(_))));
/// ```
pub fn cg<A>(mut a: A, b: &[f64], options: SolveOptions) -> Result<Solution, Error>
where
    A: FnMut(&[f64]) -> Vec<f64>,
{
    check_rhs("cg", b, &options)?;
    let n = b.len();
    let b_norm = norm(b);
    let mut x = vec![0.0; n];
    if b_norm == 0.0 {
        return Ok(Solution {
            x,
            iterations: 0,
            residual: 0.0,
        });
    }
    let mut r = b.to_vec();
    let mut p = r.clone();
    let mut rr = dot(&r, &r);
    for iteration in 1..=options.max_iterations {
        let ap = apply("cg", &mut a, &p)?;
        let pap = dot(&p, &ap);
        // Finite here: `apply` rejects NaN and infinities.
        if pap <= 0.0 {
            return Err(Error::SingularSystem(format!(
                "cg: pᵀA·p = {pap:e} at iteration {iteration}: the operator is not positive \
                 definite (singular or indefinite)"
            )));
        }
        let alpha = rr / pap;
        for i in 0..n {
            x[i] += alpha * p[i];
            r[i] -= alpha * ap[i];
        }
        let rr_next = dot(&r, &r);
        let residual = rr_next.sqrt() / b_norm;
        if residual <= options.tolerance {
            return Ok(Solution {
                x,
                iterations: iteration,
                residual,
            });
        }
        let beta = rr_next / rr;
        rr = rr_next;
        for i in 0..n {
            p[i] = r[i] + beta * p[i];
        }
    }
    Err(Error::NotConverged {
        context: "cg".into(),
        iterations: options.max_iterations,
        residual: rr.sqrt() / b_norm,
        tolerance: options.tolerance,
    })
}

/// Solves `A·x = b` for a general square `A` given as `u ↦ A·u`, by GMRES restarted
/// every `options.restart` iterations (Arnoldi with modified Gram–Schmidt and Givens
/// rotations), from `x = 0`.
///
/// Fails with [`Error::SingularSystem`] when the Krylov space closes without reaching the
/// tolerance (`b` is not in the range of a singular `A`), with [`Error::NotConverged`] at
/// the iteration limit, and with [`Error::NonFinite`] on a NaN.
///
/// ```
/// use retrograd::implicit::{gmres, SolveOptions};
/// // A nonsymmetric system: [[1, 2], [0, 3]]·x = [5, 6] has x = (1, 2).
/// let s = gmres(|u: &[f64]| vec![u[0] + 2.0 * u[1], 3.0 * u[1]], &[5.0, 6.0], SolveOptions::default()).unwrap();
/// assert!((s.x[0] - 1.0).abs() < 1e-12 && (s.x[1] - 2.0).abs() < 1e-12);
/// // A singular one whose right-hand side is out of range.
/// let err = gmres(|u: &[f64]| vec![u[0] + u[1], u[0] + u[1]], &[1.0, 0.0], SolveOptions::default());
/// assert!(matches!(err, Err(retrograd::Error::SingularSystem(_))));
/// ```
pub fn gmres<A>(mut a: A, b: &[f64], options: SolveOptions) -> Result<Solution, Error>
where
    A: FnMut(&[f64]) -> Vec<f64>,
{
    check_rhs("gmres", b, &options)?;
    if options.restart == 0 {
        return Err(Error::Unsupported(
            "gmres: restart 0 (must be at least 1)".into(),
        ));
    }
    let n = b.len();
    let b_norm = norm(b);
    let mut x = vec![0.0; n];
    if b_norm == 0.0 {
        return Ok(Solution {
            x,
            iterations: 0,
            residual: 0.0,
        });
    }
    let m = options.restart.min(n.max(1));
    let mut iterations = 0;
    while iterations < options.max_iterations {
        let ax = apply("gmres", &mut a, &x)?;
        let r: Vec<f64> = b.iter().zip(&ax).map(|(b, ax)| b - ax).collect();
        let beta = norm(&r);
        let mut residual = beta / b_norm;
        if residual <= options.tolerance {
            return Ok(Solution {
                x,
                iterations,
                residual,
            });
        }
        let mut basis: Vec<Vec<f64>> = vec![r.iter().map(|v| v / beta).collect()];
        // Column j of the Hessenberg matrix, already rotated: h[j][0..=j+1].
        let mut h: Vec<Vec<f64>> = Vec::with_capacity(m);
        let mut rotations: Vec<(f64, f64)> = Vec::with_capacity(m);
        let mut g = vec![0.0; m + 1];
        g[0] = beta;
        let mut closed = false;
        for j in 0..m {
            let mut w = apply("gmres", &mut a, &basis[j])?;
            iterations += 1;
            let mut column = vec![0.0; j + 2];
            for (i, v) in basis.iter().enumerate() {
                column[i] = dot(&w, v);
                for (wk, vk) in w.iter_mut().zip(v) {
                    *wk -= column[i] * vk;
                }
            }
            let w_norm = norm(&w);
            column[j + 1] = w_norm;
            for (i, &(c, s)) in rotations.iter().enumerate() {
                let (hi, hk) = (column[i], column[i + 1]);
                column[i] = c * hi + s * hk;
                column[i + 1] = -s * hi + c * hk;
            }
            let rho = column[j].hypot(column[j + 1]);
            let (c, s) = if rho == 0.0 {
                (1.0, 0.0)
            } else {
                (column[j] / rho, column[j + 1] / rho)
            };
            column[j] = rho;
            column[j + 1] = 0.0;
            g[j + 1] = -s * g[j];
            g[j] *= c;
            rotations.push((c, s));
            h.push(column);
            residual = g[j + 1].abs() / b_norm;
            // A zero new vector (relative to the operator's scale) closes the Krylov space.
            closed = w_norm <= 1e-14 * h[j].iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            if closed || residual <= options.tolerance || iterations >= options.max_iterations {
                break;
            }
            basis.push(w.iter().map(|v| v / w_norm).collect());
        }
        // Back substitution on the rotated (upper triangular) Hessenberg matrix.
        let k = h.len();
        let scale = h
            .iter()
            .map(|c| c[..c.len() - 1].iter().fold(0.0_f64, |m, v| m.max(v.abs())))
            .fold(0.0_f64, f64::max);
        let mut y = vec![0.0; k];
        for i in (0..k).rev() {
            let diagonal = h[i][i];
            if diagonal.abs() <= 1e-14 * scale {
                return Err(Error::SingularSystem(format!(
                    "gmres: the Krylov space closed after {iterations} iterations at relative \
                     residual {residual:e}: the operator is singular"
                )));
            }
            let tail: f64 = (i + 1..k).map(|l| h[l][i] * y[l]).sum();
            y[i] = (g[i] - tail) / diagonal;
        }
        for (yi, v) in y.iter().zip(&basis) {
            for (xk, vk) in x.iter_mut().zip(v) {
                *xk += yi * vk;
            }
        }
        if closed && residual > options.tolerance {
            return Err(Error::SingularSystem(format!(
                "gmres: the Krylov space closed after {iterations} iterations at relative \
                 residual {residual:e}: the operator is singular and the right-hand side is \
                 outside its range"
            )));
        }
    }
    // The loop leaves after a cycle that reached the tolerance or the limit: confirm with
    // the true residual.
    let ax = apply("gmres", &mut a, &x)?;
    let true_residual = norm(&b.iter().zip(&ax).map(|(b, ax)| b - ax).collect::<Vec<_>>()) / b_norm;
    if true_residual <= options.tolerance {
        return Ok(Solution {
            x,
            iterations,
            residual: true_residual,
        });
    }
    Err(Error::NotConverged {
        context: "gmres".into(),
        iterations,
        residual: true_residual,
        tolerance: options.tolerance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matvec(a: &[Vec<f64>], u: &[f64]) -> Vec<f64> {
        a.iter().map(|row| dot(row, u)).collect()
    }

    /// A well-conditioned SPD matrix: Mᵀ·M + n·I for a fixed pseudo-random M.
    fn spd(n: usize) -> Vec<Vec<f64>> {
        let m: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| ((i * 7 + j * 13) % 11) as f64 / 11.0 - 0.5)
                    .collect()
            })
            .collect();
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        (0..n).map(|k| m[k][i] * m[k][j]).sum::<f64>()
                            + if i == j { 1.0 } else { 0.0 }
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn cg_and_gmres_solve_a_known_system() {
        let n = 20;
        let a = spd(n);
        let x_true: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
        let b = matvec(&a, &x_true);
        for s in [
            cg(|u| matvec(&a, u), &b, SolveOptions::default()).unwrap(),
            gmres(|u| matvec(&a, u), &b, SolveOptions::default()).unwrap(),
        ] {
            for (x, t) in s.x.iter().zip(&x_true) {
                assert!((x - t).abs() < 1e-8, "{x} vs {t}");
            }
            assert!(s.iterations <= n + 1);
        }
    }

    #[test]
    fn gmres_restarts_on_a_nonsymmetric_system() {
        // A = 2I + a skew-symmetric shift: nonsymmetric, eigenvalues 2 ± i·s.
        let n = 30;
        let op = |u: &[f64]| -> Vec<f64> {
            (0..n)
                .map(|i| {
                    let up = if i + 1 < n { u[i + 1] } else { 0.0 };
                    let down = if i > 0 { u[i - 1] } else { 0.0 };
                    2.0 * u[i] + 0.9 * (up - down)
                })
                .collect()
        };
        let x_true: Vec<f64> = (0..n).map(|i| 1.0 + (i % 3) as f64).collect();
        let b = op(&x_true);
        let options = SolveOptions {
            restart: 5,
            ..SolveOptions::default()
        };
        let s = gmres(op, &b, options).unwrap();
        assert!(s.iterations > 5, "the restart was used");
        for (x, t) in s.x.iter().zip(&x_true) {
            assert!((x - t).abs() < 1e-8);
        }
    }

    #[test]
    fn failures_name_their_cause() {
        let a = spd(10);
        let b = vec![1.0; 10];
        let few = SolveOptions {
            max_iterations: 2,
            ..SolveOptions::default()
        };
        let e = cg(|u| matvec(&a, u), &b, few).unwrap_err();
        assert!(
            matches!(e, Error::NotConverged { iterations: 2, .. }),
            "{e}"
        );
        let e = gmres(|u| matvec(&a, u), &b, few).unwrap_err();
        assert!(matches!(e, Error::NotConverged { .. }), "{e}");
        assert!(e.to_string().starts_with("gmres: not converged"), "{e}");
        let e = cg(
            |u: &[f64]| vec![0.0 * u[0]],
            &[1.0],
            SolveOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not positive definite"), "{e}");
        let e = gmres(|_: &[f64]| vec![f64::NAN], &[1.0], SolveOptions::default()).unwrap_err();
        assert!(matches!(e, Error::NonFinite(_)), "{e}");
        let e = cg(
            |u: &[f64]| u.to_vec(),
            &[f64::INFINITY],
            SolveOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::NonFinite(_)), "{e}");
        let e = cg(
            |u: &[f64]| u[..1].to_vec(),
            &[1.0, 1.0],
            SolveOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::LengthMismatch { .. }), "{e}");
        let zero = cg(|u: &[f64]| u.to_vec(), &[0.0; 3], SolveOptions::default()).unwrap();
        assert_eq!((zero.x, zero.iterations), (vec![0.0; 3], 0));
    }
}
