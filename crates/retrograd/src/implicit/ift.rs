//! The implicit function theorem: derivatives of a solution `x*(θ)` defined by
//! `F(x*, θ) = 0` (a root) or by `x* = argmin_x f(x, θ)` (where `∇ₓf = 0`), from
//! Jacobian- or Hessian-vector products at the solution and one iterative linear solve,
//! never through the iterations of the solver that found `x*` (JAXopt, Blondel et al. 2022).
//!
//! With `A = ∂F/∂x` and `B = ∂F/∂θ` at the solution, `∂x*/∂θ = −A⁻¹·B`:
//! - forward (JVP): solve `A·ẋ = −B·θ̇`;
//! - reverse (VJP): solve `Aᵀ·u = x̄`, then `θ̄ = −Bᵀ·u`.
//!
//! For an argmin, `F = ∇ₓf`, so `A` is the Hessian `∇ₓₓf` (symmetric positive definite at
//! a strict minimum: conjugate gradients) and `B = ∇ₓθf`, both applied by
//! forward-over-reverse [`hvp`](crate::hvp). For a root, `A` is general (GMRES), applied by
//! [`jvp`](crate::jvp) and [`vjp`](crate::vjp).

use super::linsolve::{cg, gmres, SolveOptions};
use crate::error::{check_len, Error};
use crate::{custom_op, Real, Var};

/// A root condition `F(x, θ) = 0` defining `x*(θ)`, written once for any [`Real`] type;
/// `F` has as many outputs as `x` has entries.
///
/// A constrained minimum is the root of a fixed-point condition, e.g. projected gradient
/// `F = x − P(x − η·∇ₓf(x, θ))`, with the projection `P` written on `T` too.
///
/// ```
/// use retrograd::implicit::RootProblem;
/// use retrograd::Real;
/// /// x³ + x − θ = 0.
/// struct Cubic;
/// impl RootProblem for Cubic {
///     fn residual<T: Real>(&self, x: &[T], theta: &[T]) -> Vec<T> {
///         vec![x[0].powi(3) + x[0] - theta[0]]
///     }
/// }
/// assert_eq!(Cubic.residual(&[1.0], &[2.0]), vec![0.0]);
/// ```
pub trait RootProblem {
    /// `F(x, θ)`, one value per entry of `x`.
    fn residual<T: Real>(&self, x: &[T], theta: &[T]) -> Vec<T>;
}

/// An objective `f(x, θ)` whose unconstrained minimiser `x*(θ)` is differentiated.
///
/// ```
/// use retrograd::implicit::ArgminProblem;
/// use retrograd::Real;
/// /// ½(x − θ)²: x* = θ.
/// struct Shift;
/// impl ArgminProblem for Shift {
///     fn objective<T: Real>(&self, x: &[T], theta: &[T]) -> T {
///         (x[0] - theta[0]).powi(2) * T::from_f64(0.5)
///     }
/// }
/// assert_eq!(Shift.objective(&[1.0], &[3.0]), 2.0);
/// ```
pub trait ArgminProblem {
    /// `f(x, θ)`.
    fn objective<T: Real>(&self, x: &[T], theta: &[T]) -> T;
}

fn check_point(context: &str, x: &[f64], theta: &[f64]) -> Result<(), Error> {
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("{context}: solution entry {i}")));
    }
    if let Some(i) = theta.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("{context}: parameter {i}")));
    }
    Ok(())
}

fn joint(x: &[f64], theta: &[f64]) -> Vec<f64> {
    x.iter().chain(theta).copied().collect()
}

fn check_root<P: RootProblem>(
    context: &str,
    problem: &P,
    x: &[f64],
    theta: &[f64],
) -> Result<(), Error> {
    check_point(context, x, theta)?;
    check_len(
        || format!("{context}: the residual F(x, θ) (one value per solution entry)"),
        x.len(),
        problem.residual(x, theta).len(),
    )
}

/// `(∂F/∂x)ᵀ·u` and `(∂F/∂θ)ᵀ·u` from one reverse sweep.
fn root_transposed<P: RootProblem>(problem: &P, z: &[f64], n: usize, u: &[f64]) -> Vec<f64> {
    crate::vjp(|z| problem.residual(&z[..n], &z[n..]), z, u)
        .expect("the residual's length was checked")
        .1
}

/// `(∂F/∂x)·ẋ + (∂F/∂θ)·θ̇` from one forward evaluation, for the joint direction `dz`.
fn root_tangent<P: RootProblem>(problem: &P, z: &[f64], n: usize, dz: &[f64]) -> Vec<f64> {
    crate::jvp(|z| problem.residual(&z[..n], &z[n..]), z, dz)
        .expect("the residual's length was checked")
        .1
}

/// `∇²f·dz` on the joint vector `z = (x, θ)`: the x part is `∇ₓₓf·ẋ + ∇ₓθf·θ̇`, the θ part
/// `∇θₓf·ẋ + ∇θθf·θ̇`.
fn argmin_hvp<P: ArgminProblem>(problem: &P, z: &[f64], n: usize, dz: &[f64]) -> Vec<f64> {
    crate::hvp(|z| problem.objective(&z[..n], &z[n..]), z, dz)
        .expect("the direction has the joint length")
        .1
}

fn padded(head: &[f64], zeros: usize) -> Vec<f64> {
    let mut v = head.to_vec();
    v.resize(head.len() + zeros, 0.0);
    v
}

fn prefixed(zeros: usize, tail: &[f64]) -> Vec<f64> {
    let mut v = vec![0.0; zeros];
    v.extend_from_slice(tail);
    v
}

/// The vector-Jacobian product `x̄ᵀ·∂x*/∂θ` of the root `x*` of `F(x, θ) = 0`: solves
/// `(∂F/∂x)ᵀ·u = x̄` by GMRES and returns `θ̄ = −(∂F/∂θ)ᵀ·u`.
///
/// `x` must be a root at `theta` (to the accuracy wanted of the derivative). Fails on
/// wrong lengths, non-finite inputs, or a failed solve (`∂F/∂x` singular, not converged).
///
/// ```
/// use retrograd::implicit::{root_vjp, RootProblem, SolveOptions};
/// use retrograd::Real;
/// struct Cubic; // x³ + x = θ, so dx/dθ = 1 / (3x² + 1)
/// impl RootProblem for Cubic {
///     fn residual<T: Real>(&self, x: &[T], theta: &[T]) -> Vec<T> {
///         vec![x[0].powi(3) + x[0] - theta[0]]
///     }
/// }
/// let g = root_vjp(&Cubic, &[1.0], &[2.0], &[1.0], SolveOptions::default()).unwrap();
/// assert!((g[0] - 0.25).abs() < 1e-12);
/// ```
pub fn root_vjp<P: RootProblem>(
    problem: &P,
    x: &[f64],
    theta: &[f64],
    x_bar: &[f64],
    options: SolveOptions,
) -> Result<Vec<f64>, Error> {
    check_root("implicit::root_vjp", problem, x, theta)?;
    check_len(
        || "implicit::root_vjp: the adjoint x̄ (one value per solution entry)".into(),
        x.len(),
        x_bar.len(),
    )?;
    let (n, z) = (x.len(), joint(x, theta));
    let u = gmres(
        |u| root_transposed(problem, &z, n, u)[..n].to_vec(),
        x_bar,
        options,
    )?
    .x;
    Ok(root_transposed(problem, &z, n, &u)[n..]
        .iter()
        .map(|v| -v)
        .collect())
}

/// The Jacobian-vector product `∂x*/∂θ · θ̇` of the root `x*` of `F(x, θ) = 0`: solves
/// `(∂F/∂x)·ẋ = −(∂F/∂θ)·θ̇` by GMRES.
///
/// ```
/// use retrograd::implicit::{root_jvp, RootProblem, SolveOptions};
/// use retrograd::Real;
/// struct Cubic;
/// impl RootProblem for Cubic {
///     fn residual<T: Real>(&self, x: &[T], theta: &[T]) -> Vec<T> {
///         vec![x[0].powi(3) + x[0] - theta[0]]
///     }
/// }
/// let dx = root_jvp(&Cubic, &[1.0], &[2.0], &[2.0], SolveOptions::default()).unwrap();
/// assert!((dx[0] - 0.5).abs() < 1e-12);
/// ```
pub fn root_jvp<P: RootProblem>(
    problem: &P,
    x: &[f64],
    theta: &[f64],
    theta_dot: &[f64],
    options: SolveOptions,
) -> Result<Vec<f64>, Error> {
    check_root("implicit::root_jvp", problem, x, theta)?;
    check_len(
        || "implicit::root_jvp: the direction θ̇ (one value per parameter)".into(),
        theta.len(),
        theta_dot.len(),
    )?;
    let (n, z) = (x.len(), joint(x, theta));
    let rhs: Vec<f64> = root_tangent(problem, &z, n, &prefixed(n, theta_dot))
        .iter()
        .map(|v| -v)
        .collect();
    let zeros = theta.len();
    Ok(gmres(
        |u| root_tangent(problem, &z, n, &padded(u, zeros)),
        &rhs,
        options,
    )?
    .x)
}

/// The vector-Jacobian product `x̄ᵀ·∂x*/∂θ` of `x* = argmin_x f(x, θ)`: solves
/// `∇ₓₓf·u = x̄` by conjugate gradients and returns `θ̄ = −∇θₓf·u`.
///
/// Fails with [`Error::SingularSystem`] where the Hessian is not positive definite (`x` is
/// not a strict minimum), besides wrong lengths, non-finite inputs and non-convergence.
///
/// ```
/// use retrograd::implicit::{argmin_vjp, ArgminProblem, SolveOptions};
/// use retrograd::Real;
/// /// ½·θ·x² − x: x* = 1/θ, dx*/dθ = −1/θ².
/// struct Scaled;
/// impl ArgminProblem for Scaled {
///     fn objective<T: Real>(&self, x: &[T], theta: &[T]) -> T {
///         T::from_f64(0.5) * theta[0] * x[0] * x[0] - x[0]
///     }
/// }
/// let g = argmin_vjp(&Scaled, &[0.5], &[2.0], &[1.0], SolveOptions::default()).unwrap();
/// assert!((g[0] + 0.25).abs() < 1e-12);
/// // At θ = −2 the stationary point is a maximum: reported, not differentiated.
/// assert!(argmin_vjp(&Scaled, &[-0.5], &[-2.0], &[1.0], SolveOptions::default()).is_err());
/// ```
pub fn argmin_vjp<P: ArgminProblem>(
    problem: &P,
    x: &[f64],
    theta: &[f64],
    x_bar: &[f64],
    options: SolveOptions,
) -> Result<Vec<f64>, Error> {
    check_point("implicit::argmin_vjp", x, theta)?;
    check_len(
        || "implicit::argmin_vjp: the adjoint x̄ (one value per solution entry)".into(),
        x.len(),
        x_bar.len(),
    )?;
    let (n, p, z) = (x.len(), theta.len(), joint(x, theta));
    let u = cg(
        |u| argmin_hvp(problem, &z, n, &padded(u, p))[..n].to_vec(),
        x_bar,
        options,
    )?
    .x;
    Ok(argmin_hvp(problem, &z, n, &padded(&u, p))[n..]
        .iter()
        .map(|v| -v)
        .collect())
}

/// The Jacobian-vector product `∂x*/∂θ · θ̇` of `x* = argmin_x f(x, θ)`: solves
/// `∇ₓₓf·ẋ = −∇ₓθf·θ̇` by conjugate gradients.
///
/// ```
/// use retrograd::implicit::{argmin_jvp, ArgminProblem, SolveOptions};
/// use retrograd::Real;
/// struct Scaled; // x* = 1/θ
/// impl ArgminProblem for Scaled {
///     fn objective<T: Real>(&self, x: &[T], theta: &[T]) -> T {
///         T::from_f64(0.5) * theta[0] * x[0] * x[0] - x[0]
///     }
/// }
/// let dx = argmin_jvp(&Scaled, &[0.5], &[2.0], &[1.0], SolveOptions::default()).unwrap();
/// assert!((dx[0] + 0.25).abs() < 1e-12);
/// ```
pub fn argmin_jvp<P: ArgminProblem>(
    problem: &P,
    x: &[f64],
    theta: &[f64],
    theta_dot: &[f64],
    options: SolveOptions,
) -> Result<Vec<f64>, Error> {
    check_point("implicit::argmin_jvp", x, theta)?;
    check_len(
        || "implicit::argmin_jvp: the direction θ̇ (one value per parameter)".into(),
        theta.len(),
        theta_dot.len(),
    )?;
    let (n, p, z) = (x.len(), theta.len(), joint(x, theta));
    let rhs: Vec<f64> = argmin_hvp(problem, &z, n, &prefixed(n, theta_dot))[..n]
        .iter()
        .map(|v| -v)
        .collect();
    Ok(cg(
        |u| argmin_hvp(problem, &z, n, &padded(u, p))[..n].to_vec(),
        &rhs,
        options,
    )?
    .x)
}

/// The Jacobian `∂x*/∂θ` (row-major, `n × p`) from whichever of `p` JVPs or `n` VJPs is
/// fewer.
fn solution_jacobian(
    n: usize,
    p: usize,
    mut jvp: impl FnMut(&[f64]) -> Result<Vec<f64>, Error>,
    mut vjp: impl FnMut(&[f64]) -> Result<Vec<f64>, Error>,
) -> Result<Vec<f64>, Error> {
    let mut jacobian = vec![0.0; n * p];
    let unit = |len: usize, i: usize| {
        let mut e = vec![0.0; len];
        e[i] = 1.0;
        e
    };
    if p <= n {
        for j in 0..p {
            for (i, v) in jvp(&unit(p, j))?.into_iter().enumerate() {
                jacobian[i * p + j] = v;
            }
        }
    } else {
        for i in 0..n {
            jacobian[i * p..][..p].copy_from_slice(&vjp(&unit(n, i))?);
        }
    }
    Ok(jacobian)
}

/// Records the root `x*` of `F(x, θ) = 0` on the tape of the parameters `theta`, so that
/// code after it (a loss of `x*`) is differentiated through `x*` by the implicit function
/// theorem. `x` is the root at `theta`'s values, found by any solver.
///
/// The Jacobian `∂x*/∂θ` is formed when recorded, by `min(n, p)` linear solves, so a failed
/// solve is an error here rather than during a sweep, and forward sweeps work too. For
/// many parameters and solution entries at once, use [`root_vjp`] directly.
///
/// ```
/// use retrograd::implicit::{root, RootProblem, SolveOptions};
/// use retrograd::Real;
/// struct Cubic;
/// impl RootProblem for Cubic {
///     fn residual<T: Real>(&self, x: &[T], theta: &[T]) -> Vec<T> {
///         vec![x[0].powi(3) + x[0] - theta[0]]
///     }
/// }
/// // d(x*²)/dθ = 2x*·dx*/dθ = 2·1·¼ at θ = 2.
/// let g = retrograd::grad(|theta| {
///     let x = root(&Cubic, theta, &[1.0], SolveOptions::default()).unwrap();
///     x[0] * x[0]
/// }, &[2.0]);
/// assert!((g[0] - 0.5).abs() < 1e-12);
/// ```
pub fn root<P: RootProblem>(
    problem: &P,
    theta: &[Var],
    x: &[f64],
    options: SolveOptions,
) -> Result<Vec<Var>, Error> {
    let th: Vec<f64> = theta.iter().map(|t| t.value()).collect();
    check_root("implicit::root", problem, x, &th)?;
    let jacobian = solution_jacobian(
        x.len(),
        th.len(),
        |d| root_jvp(problem, x, &th, d, options),
        |b| root_vjp(problem, x, &th, b, options),
    )?;
    custom_op(theta, x, &jacobian)
}

/// Records `x* = argmin_x f(x, θ)` on the tape of the parameters `theta` (see [`root`]).
///
/// ```
/// use retrograd::implicit::{argmin, ArgminProblem, SolveOptions};
/// use retrograd::Real;
/// struct Scaled; // x* = 1/θ
/// impl ArgminProblem for Scaled {
///     fn objective<T: Real>(&self, x: &[T], theta: &[T]) -> T {
///         T::from_f64(0.5) * theta[0] * x[0] * x[0] - x[0]
///     }
/// }
/// let g = retrograd::grad(|theta| {
///     argmin(&Scaled, theta, &[0.5], SolveOptions::default()).unwrap()[0]
/// }, &[2.0]);
/// assert!((g[0] + 0.25).abs() < 1e-12);
/// ```
pub fn argmin<P: ArgminProblem>(
    problem: &P,
    theta: &[Var],
    x: &[f64],
    options: SolveOptions,
) -> Result<Vec<Var>, Error> {
    let th: Vec<f64> = theta.iter().map(|t| t.value()).collect();
    check_point("implicit::argmin", x, &th)?;
    let jacobian = solution_jacobian(
        x.len(),
        th.len(),
        |d| argmin_jvp(problem, x, &th, d, options),
        |b| argmin_vjp(problem, x, &th, b, options),
    )?;
    custom_op(theta, x, &jacobian)
}
