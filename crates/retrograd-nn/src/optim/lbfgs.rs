//! L-BFGS for full-batch problems: the loss and gradient come from a closure, as in
//! `torch.optim.LBFGS` (same defaults, same strong-Wolfe line search), but for the test that
//! keeps a step in the history, which is L-BFGS-B's scale-free one ([`Curvature`]).

use std::collections::VecDeque;

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::{DType, Tensor};

use super::line_search::{backtrack, strong_wolfe, Trial};
use crate::{NnError, Result};

/// Limited-memory BFGS (Nocedal's two-loop recursion) with a strong-Wolfe, backtracking
/// (Armijo) or no line search. For full-batch problems where each evaluation sees all the
/// data.
///
/// ```
/// use retrograd_nn::optim::Lbfgs;
/// // f(x) = (x0 - 1)² + 10 (x1 + 2)²
/// let f = |x: &[f64]| {
///     let v = (x[0] - 1.0).powi(2) + 10.0 * (x[1] + 2.0).powi(2);
///     (v, vec![2.0 * (x[0] - 1.0), 20.0 * (x[1] + 2.0)])
/// };
/// let mut x = vec![0.0, 0.0];
/// let report = Lbfgs::new().minimize(&mut x, f).unwrap();
/// assert!(report.converged());
/// assert!((x[0] - 1.0).abs() < 1e-6 && (x[1] + 2.0).abs() < 1e-6);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Lbfgs {
    /// Step length (1 is the natural step of a quasi-Newton method).
    pub lr: f64,
    /// How many `(s, y)` pairs to remember.
    pub history: usize,
    /// Maximum number of iterations.
    pub max_iter: usize,
    /// Maximum number of loss-and-gradient evaluations (line-search trials included);
    /// `None`: `max_iter · 5/4`, as in PyTorch.
    pub max_eval: Option<usize>,
    /// Stop when the largest gradient component is at most this.
    pub tolerance_grad: f64,
    /// Stop when the loss or the largest step component change by less than this.
    pub tolerance_change: f64,
    /// How the step length along each direction is chosen.
    pub line_search: LineSearch,
    /// Which step–gradient-change pairs the history keeps.
    pub curvature: Curvature,
}

/// The test a step `s` and its gradient change `y` must pass for [`Lbfgs`] to keep them:
/// the curvature `sᵀy` must be positive enough for the update to stay positive definite.
///
/// ```
/// use retrograd_nn::optim::{Curvature, Lbfgs};
/// assert_eq!(Lbfgs::new().curvature, Curvature::Relative);
/// assert!(Curvature::Absolute(1e-10).keeps(2e-10, 1.0));
/// assert!(!Curvature::Absolute(1e-10).keeps(1e-12, 1e-11)); // a small loss's pairs
/// assert!(Curvature::Relative.keeps(1e-12, 1e-11));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Curvature {
    /// `sᵀy > threshold`: `torch.optim.LBFGS`'s test, with 1e-10. It depends on the
    /// loss's scale: where the loss and its steps are small, every pair can fail it, and
    /// the history, no longer updated, scales the directions badly.
    Absolute(f64),
    /// `sᵀy > ε·(−gᵀs)`, ε the machine epsilon and `−gᵀs` the decrease along the step
    /// predicted at its start: L-BFGS-B's test (Byrd, Lu, Nocedal and Zhu, 1995), the
    /// same at every scale of the loss.
    Relative,
}

impl Curvature {
    /// Whether a pair with curvature `sy = sᵀy` and predicted decrease `decrease = −gᵀs`
    /// is kept.
    ///
    /// ```
    /// assert!(!retrograd_nn::optim::Curvature::Relative.keeps(0.0, 1.0));
    /// ```
    pub fn keeps(self, sy: f64, decrease: f64) -> bool {
        match self {
            Curvature::Absolute(threshold) => sy > threshold,
            Curvature::Relative => sy > f64::EPSILON * decrease,
        }
    }
}

/// The step-length rule of [`Lbfgs`].
///
/// ```
/// use retrograd_nn::optim::{Lbfgs, LineSearch};
/// assert_eq!(Lbfgs::new().line_search, LineSearch::StrongWolfe);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineSearch {
    /// The step `lr` as it is.
    None,
    /// Halve the step until the Armijo (sufficient decrease) condition holds.
    Backtracking,
    /// Bracketing and cubic-interpolation zoom until the strong Wolfe conditions hold
    /// (`c1 = 1e-4`, `c2 = 0.9`, at most 25 trials), as in `torch.optim.LBFGS`.
    StrongWolfe,
}

/// Why [`Lbfgs::minimize`] stopped.
///
/// ```
/// use retrograd_nn::optim::LbfgsStatus;
/// assert!(LbfgsStatus::GradientTolerance.converged());
/// assert!(!LbfgsStatus::IterationLimit.converged());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LbfgsStatus {
    /// The largest gradient component fell to `tolerance_grad`.
    GradientTolerance,
    /// The loss, the step or the directional derivative changed by less than
    /// `tolerance_change`.
    ChangeTolerance,
    /// `max_iter` iterations were taken.
    IterationLimit,
    /// `max_eval` evaluations were made.
    EvaluationLimit,
}

impl LbfgsStatus {
    /// Whether a tolerance was met (rather than a limit).
    ///
    /// ```
    /// assert!(retrograd_nn::optim::LbfgsStatus::ChangeTolerance.converged());
    /// ```
    pub fn converged(self) -> bool {
        matches!(
            self,
            LbfgsStatus::GradientTolerance | LbfgsStatus::ChangeTolerance
        )
    }
}

/// What a call to [`Lbfgs::minimize`] did.
///
/// ```
/// let mut x = vec![3.0];
/// let r = retrograd_nn::optim::Lbfgs::new()
///     .minimize(&mut x, |x| (x[0] * x[0], vec![2.0 * x[0]]))
///     .unwrap();
/// assert!(r.loss < 1e-12 && r.evaluations >= r.iterations);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LbfgsReport {
    /// Iterations taken.
    pub iterations: usize,
    /// Loss-and-gradient evaluations made.
    pub evaluations: usize,
    /// The final loss.
    pub loss: f64,
    /// Why it stopped.
    pub status: LbfgsStatus,
}

impl LbfgsReport {
    /// Whether a tolerance was met (rather than a limit).
    ///
    /// ```
    /// let mut x = vec![1.0];
    /// let r = retrograd_nn::optim::Lbfgs::new().minimize(&mut x, |x| (x[0] * x[0], vec![2.0 * x[0]])).unwrap();
    /// assert!(r.converged());
    /// ```
    pub fn converged(&self) -> bool {
        self.status.converged()
    }
}

/// The state after one L-BFGS iteration, as [`Lbfgs::minimize_observed`] and
/// [`Lbfgs::minimize_params_observed`] pass it to their observer.
///
/// ```
/// use retrograd_nn::optim::Lbfgs;
/// let mut seen = Vec::new();
/// let mut x = vec![3.0];
/// Lbfgs::new()
///     .minimize_observed(&mut x, |x| (x[0] * x[0], vec![2.0 * x[0]]), |p| {
///         seen.push((p.iterations, p.x[0]));
///         Ok(())
///     })
///     .unwrap();
/// assert_eq!(seen[0].0, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LbfgsProgress<'a> {
    /// The current iterate.
    pub x: &'a [f64],
    /// Iterations taken so far.
    pub iterations: usize,
    /// Loss-and-gradient evaluations made so far (line-search trials included).
    pub evaluations: usize,
    /// The loss at `x`.
    pub loss: f64,
}

impl Default for Lbfgs {
    fn default() -> Self {
        Lbfgs {
            lr: 1.0,
            history: 10,
            max_iter: 100,
            max_eval: None,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            line_search: LineSearch::StrongWolfe,
            curvature: Curvature::Relative,
        }
    }
}

/// `a · b` in eight running sums: one sum would wait on the previous addition at every
/// element (the loop could not be vectorised), which made the two-loop recursion a quarter
/// of an L-BFGS iteration on a network of 5,000 weights.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Over the common length, as a zip of the two would be (the chunks must line up).
    let n = a.len().min(b.len());
    let (a, b) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    let tail: f64 = a
        .remainder()
        .iter()
        .zip(b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut sums = [0.0; 8];
    for (a, b) in a.zip(b) {
        for ((sum, x), y) in sums.iter_mut().zip(a).zip(b) {
            *sum += x * y;
        }
    }
    sums.iter().sum::<f64>() + tail
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

impl Lbfgs {
    /// Defaults of `torch.optim.LBFGS`: step 1, history 10, 100 iterations, 125
    /// evaluations, gradient tolerance 1e-7, change tolerance 1e-9, strong-Wolfe search;
    /// the curvature test is [`Curvature::Relative`] (PyTorch's is
    /// `Curvature::Absolute(1e-10)`).
    ///
    /// ```
    /// assert_eq!(retrograd_nn::optim::Lbfgs::new().history, 10);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The evaluation limit in force: `max_eval`, or `max_iter · 5/4` when it is `None`.
    ///
    /// ```
    /// use retrograd_nn::optim::Lbfgs;
    /// assert_eq!(Lbfgs { max_iter: 10_000, ..Lbfgs::new() }.max_evaluations(), 12_500);
    /// assert_eq!(Lbfgs { max_eval: Some(7), ..Lbfgs::new() }.max_evaluations(), 7);
    /// ```
    pub fn max_evaluations(&self) -> usize {
        self.max_eval.unwrap_or(self.max_iter * 5 / 4)
    }

    /// The quasi-Newton direction `-H·g` from the stored pairs, oldest first; with no pairs,
    /// `-g`. `H` is the L-BFGS inverse-Hessian approximation with initial scaling
    /// `sᵀy / yᵀy` of the newest pair.
    ///
    /// ```
    /// use retrograd_nn::optim::Lbfgs;
    /// // one pair from f = x²: s = 1, y = 2 gives the exact inverse Hessian 1/2
    /// let d = Lbfgs::direction(&[(vec![1.0], vec![2.0])], &[4.0]);
    /// assert!((d[0] + 2.0).abs() < 1e-12);
    /// ```
    pub fn direction(pairs: &[(Vec<f64>, Vec<f64>)], g: &[f64]) -> Vec<f64> {
        let mut q = g.to_vec();
        let rho: Vec<f64> = pairs.iter().map(|(s, y)| 1.0 / dot(y, s)).collect();
        let mut alpha = vec![0.0; pairs.len()];
        for (i, (s, y)) in pairs.iter().enumerate().rev() {
            alpha[i] = rho[i] * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(q, y)| *q -= alpha[i] * y);
        }
        if let (Some((_, y)), Some(&rho)) = (pairs.last(), rho.last()) {
            let gamma = 1.0 / (rho * dot(y, y));
            q.iter_mut().for_each(|q| *q *= gamma);
        }
        for (i, (s, y)) in pairs.iter().enumerate() {
            let beta = rho[i] * dot(y, &q);
            q.iter_mut()
                .zip(s)
                .for_each(|(q, s)| *q += s * (alpha[i] - beta));
        }
        q.iter_mut().for_each(|q| *q = -*q);
        q
    }

    /// Minimises `f` (returning loss and gradient) starting from `x`, which holds the
    /// result on return. A non-finite loss or gradient at the start is an error; at a
    /// line-search trial it counts as "too far" and the step shrinks, and if no finite
    /// point is found along the direction the search stops with an error.
    ///
    /// ```
    /// use retrograd_nn::optim::Lbfgs;
    /// // Rosenbrock
    /// let f = |x: &[f64]| {
    ///     let (a, b) = (x[0], x[1]);
    ///     let v = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
    ///     (v, vec![-2.0 * (1.0 - a) - 400.0 * a * (b - a * a), 200.0 * (b - a * a)])
    /// };
    /// let mut x = vec![-1.2, 1.0];
    /// let r = Lbfgs { max_iter: 200, ..Lbfgs::new() }.minimize(&mut x, f).unwrap();
    /// assert!(r.loss < 1e-10, "{r:?}");
    /// // a loss that is NaN from the start
    /// let e = Lbfgs::new().minimize(&mut [0.0], |_| (f64::NAN, vec![0.0])).unwrap_err();
    /// assert!(e.to_string().contains("not finite"), "{e}");
    /// ```
    pub fn minimize<F>(&self, x: &mut [f64], f: F) -> Result<LbfgsReport>
    where
        F: FnMut(&[f64]) -> (f64, Vec<f64>),
    {
        self.minimize_observed(x, f, |_| Ok(()))
    }

    /// [`Lbfgs::minimize`], calling `observe` after every iteration with the new iterate,
    /// the counts so far and the loss there (before the stopping tests, so the last
    /// iterate is observed too). An error from `observe` stops the run and is returned.
    /// The iterates are those of [`Lbfgs::minimize`]: observing changes nothing.
    ///
    /// ```
    /// use retrograd_nn::optim::Lbfgs;
    /// let f = |x: &[f64]| ((x[0] - 1.0).powi(2), vec![2.0 * (x[0] - 1.0)]);
    /// let mut losses = Vec::new();
    /// let mut x = vec![0.0];
    /// let r = Lbfgs::new()
    ///     .minimize_observed(&mut x, f, |p| {
    ///         losses.push(p.loss);
    ///         Ok(())
    ///     })
    ///     .unwrap();
    /// assert_eq!(losses.len(), r.iterations);
    /// assert_eq!(*losses.last().unwrap(), r.loss);
    /// // an observer that stops the run
    /// let stop = Lbfgs::new().minimize_observed(&mut [0.0], f, |_| {
    ///     Err(retrograd_nn::NnError::invalid("enough"))
    /// });
    /// assert!(stop.is_err());
    /// ```
    pub fn minimize_observed<F, O>(
        &self,
        x: &mut [f64],
        mut f: F,
        mut observe: O,
    ) -> Result<LbfgsReport>
    where
        F: FnMut(&[f64]) -> (f64, Vec<f64>),
        O: FnMut(&LbfgsProgress) -> Result<()>,
    {
        if self.history == 0 || self.lr.is_nan() || self.lr <= 0.0 {
            return Err(NnError::invalid(format!(
                "L-BFGS needs history ≥ 1 and lr > 0, got {} and {}",
                self.history, self.lr
            )));
        }
        let (mut loss, mut g) = f(x);
        let mut evaluations = 1;
        if !loss.is_finite() || g.iter().any(|v| !v.is_finite()) {
            return Err(NnError::invalid(format!(
                "L-BFGS: the loss ({loss}) or its gradient is not finite at the starting point"
            )));
        }
        let mut pairs: VecDeque<(Vec<f64>, Vec<f64>)> = VecDeque::new();
        let report = |iterations, evaluations, loss, status| {
            Ok(LbfgsReport {
                iterations,
                evaluations,
                loss,
                status,
            })
        };
        if max_abs(&g) <= self.tolerance_grad {
            return report(0, evaluations, loss, LbfgsStatus::GradientTolerance);
        }
        for k in 0..self.max_iter {
            let d = Self::direction(pairs.make_contiguous(), &g);
            let gtd = dot(&g, &d);
            if gtd > -self.tolerance_change {
                return report(k, evaluations, loss, LbfgsStatus::ChangeTolerance);
            }
            let t = if k == 0 {
                self.lr * (1.0 / g.iter().map(|v| v.abs()).sum::<f64>()).min(1.0)
            } else {
                self.lr
            };
            let start = Trial {
                t: 0.0,
                loss,
                grad: g.clone(),
                slope: gtd,
            };
            let mut saw_non_finite = false;
            let mut eval = |t: f64| {
                let trial: Vec<f64> = x.iter().zip(&d).map(|(x, d)| x + t * d).collect();
                let (l, g) = f(&trial);
                evaluations += 1;
                let slope = dot(&g, &d);
                let finite = l.is_finite() && g.iter().all(|v| v.is_finite());
                saw_non_finite |= !finite;
                Trial {
                    t,
                    loss: if finite { l } else { f64::NAN },
                    grad: g,
                    slope,
                }
            };
            let next = match self.line_search {
                LineSearch::None => eval(t),
                LineSearch::Backtracking => backtrack(&start, t, &mut eval),
                LineSearch::StrongWolfe => {
                    strong_wolfe(&start, t, max_abs(&d), self.tolerance_change, &mut eval)
                }
            };
            if !next.loss.is_finite() || (next.t == 0.0 && saw_non_finite) {
                return Err(NnError::invalid(format!(
                    "L-BFGS iteration {}: the loss is not finite ({}) at every step tried along \
                     the search direction",
                    k + 1,
                    next.loss
                )));
            }
            let s: Vec<f64> = d.iter().map(|d| next.t * d).collect();
            let y: Vec<f64> = next.grad.iter().zip(&g).map(|(a, b)| a - b).collect();
            if self.curvature.keeps(dot(&s, &y), -next.t * gtd) {
                pairs.push_back((s.clone(), y));
                if pairs.len() > self.history {
                    pairs.pop_front();
                }
            }
            x.iter_mut().zip(&s).for_each(|(x, s)| *x += s);
            let change = (next.loss - loss).abs();
            loss = next.loss;
            g = next.grad;
            observe(&LbfgsProgress {
                x,
                iterations: k + 1,
                evaluations,
                loss,
            })?;
            if max_abs(&g) <= self.tolerance_grad {
                return report(k + 1, evaluations, loss, LbfgsStatus::GradientTolerance);
            }
            if change < self.tolerance_change || max_abs(&s) <= self.tolerance_change {
                return report(k + 1, evaluations, loss, LbfgsStatus::ChangeTolerance);
            }
            if evaluations >= self.max_evaluations() {
                return report(k + 1, evaluations, loss, LbfgsStatus::EvaluationLimit);
            }
        }
        report(
            self.max_iter,
            evaluations,
            loss,
            LbfgsStatus::IterationLimit,
        )
    }

    /// Minimises `loss()` over tensor parameters (`f32` or `f64`, which must require grad):
    /// each evaluation writes the trial values into `params`, runs the closure and its
    /// backward pass. On return `params` hold the best point reached. The search runs in
    /// `f64`; `f32` parameters are rounded on each write.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// use retrograd_nn::optim::Lbfgs;
    /// // least squares: minimise |A·w - b|² over w
    /// let a = Tensor::from_vec(vec![1.0f32, 0.0, 1.0, 1.0, 1.0, 2.0], [3, 2]).unwrap();
    /// let b = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3, 1]).unwrap();
    /// let w = Tensor::from_vec(vec![0.0f32, 0.0], [2, 1]).unwrap().requires_grad_();
    /// let report = Lbfgs::new()
    ///     .minimize_params(&[w.clone()], || Ok(a.matmul(&w)?.sub(&b)?.square()?.sum_all()?))
    ///     .unwrap();
    /// let w = w.to_vec::<f32>().unwrap();
    /// assert!((w[0] - 1.0).abs() < 1e-3 && (w[1] - 1.0).abs() < 1e-3, "{w:?} {report:?}");
    /// ```
    pub fn minimize_params<F>(&self, params: &[Tensor], loss: F) -> crate::Result<LbfgsReport>
    where
        F: FnMut() -> crate::Result<Tensor>,
    {
        self.minimize_params_observed(params, loss, |_| Ok(()))
    }

    /// [`Lbfgs::minimize_params`], calling `observe` after every iteration as
    /// [`Lbfgs::minimize_observed`] does; during the call `params` hold the new iterate
    /// (so `observe` can evaluate the model there, under `no_grad`), and
    /// [`LbfgsProgress::x`] is the parameters flattened in order.
    ///
    /// ```
    /// use retrograd::tensor::Tensor;
    /// use retrograd_nn::optim::Lbfgs;
    /// let w = Tensor::from_vec(vec![0.0f64], [1]).unwrap().requires_grad_();
    /// let mut seen = Vec::new();
    /// Lbfgs::new()
    ///     .minimize_params_observed(
    ///         &[w.clone()],
    ///         || Ok(w.add_scalar(-2.0)?.square()?.sum_all()?),
    ///         |p| {
    ///             seen.push((w.to_vec::<f64>()?[0], p.x[0]));
    ///             Ok(())
    ///         },
    ///     )
    ///     .unwrap();
    /// assert!(seen.iter().all(|(w, x)| w == x));
    /// ```
    pub fn minimize_params_observed<F, O>(
        &self,
        params: &[Tensor],
        mut loss: F,
        mut observe: O,
    ) -> crate::Result<LbfgsReport>
    where
        F: FnMut() -> crate::Result<Tensor>,
        O: FnMut(&LbfgsProgress) -> crate::Result<()>,
    {
        let sizes: Vec<usize> = params.iter().map(Tensor::elem_count).collect();
        let mut x: Vec<f64> = Vec::with_capacity(sizes.iter().sum());
        for p in params {
            if !p.dtype().is_float() {
                return Err(crate::NnError::invalid(format!(
                    "L-BFGS parameters must be f32 or f64, got {}",
                    p.dtype()
                )));
            }
            x.extend(p.to_vec_f64());
        }
        let write = |x: &[f64]| -> crate::Result<()> {
            no_grad(|| -> crate::Result<()> {
                let mut at = 0;
                for (p, &n) in params.iter().zip(&sizes) {
                    let chunk = &x[at..at + n];
                    if p.dtype() == DType::F64 {
                        p.update_(|w: &mut [f64]| w.copy_from_slice(chunk))?;
                    } else {
                        p.update_(|w: &mut [f32]| {
                            w.iter_mut().zip(chunk).for_each(|(w, &v)| *w = v as f32)
                        })?;
                    }
                    at += n;
                }
                Ok(())
            })
        };
        let mut failure: Option<crate::NnError> = None;
        let mut evaluate = |x: &[f64]| -> crate::Result<(f64, Vec<f64>)> {
            write(x)?;
            for p in params {
                p.zero_grad();
            }
            let l = loss()?;
            l.backward()?;
            let mut g = Vec::with_capacity(x.len());
            for (p, &n) in params.iter().zip(&sizes) {
                match p.grad() {
                    Some(t) => g.extend(t.to_vec_f64()),
                    None => g.extend(std::iter::repeat_n(0.0, n)),
                }
            }
            Ok((l.item()?, g))
        };
        let report = self.minimize_observed(
            &mut x,
            |x| match evaluate(x) {
                Ok(v) => v,
                Err(e) => {
                    failure.get_or_insert(e);
                    (f64::NAN, vec![f64::NAN; x.len()])
                }
            },
            |progress| {
                write(progress.x)?;
                observe(progress)
            },
        );
        if let Some(e) = failure {
            return Err(e);
        }
        write(&x)?;
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two-loop recursion against the explicit BFGS update of H₀ = γI, by hand.
    #[allow(clippy::needless_range_loop)]
    #[test]
    fn direction_matches_explicit_bfgs_matrix() {
        let s = vec![1.0, 0.5];
        let y = vec![2.0, -0.25];
        let g = vec![0.3, -0.7];
        let sy = dot(&s, &y);
        let rho = 1.0 / sy;
        let gamma = sy / dot(&y, &y);
        // H = (I - ρ s yᵀ) γI (I - ρ y sᵀ) + ρ s sᵀ
        let mut h = [[0.0; 2]; 2];
        for i in 0..2 {
            for j in 0..2 {
                let mut acc = 0.0;
                for k in 0..2 {
                    let a = f64::from(u8::from(i == k)) - rho * s[i] * y[k];
                    let b = f64::from(u8::from(k == j)) - rho * y[k] * s[j];
                    acc += a * gamma * b;
                }
                h[i][j] = acc + rho * s[i] * s[j];
            }
        }
        let expect: Vec<f64> = (0..2).map(|i| -(h[i][0] * g[0] + h[i][1] * g[1])).collect();
        let got = Lbfgs::direction(&[(s, y)], &g);
        for (a, b) in got.iter().zip(&expect) {
            assert!((a - b).abs() < 1e-12, "{got:?} vs {expect:?}");
        }
    }

    /// First steps by hand on f = ½ xᵀ diag(1, 4) x from (1, 1).
    #[test]
    fn first_two_steps_by_hand() {
        let f = |x: &[f64]| {
            (
                0.5 * (x[0] * x[0] + 4.0 * x[1] * x[1]),
                vec![x[0], 4.0 * x[1]],
            )
        };
        let mut x = vec![1.0, 1.0];
        let one_step = Lbfgs {
            max_iter: 1,
            line_search: LineSearch::None,
            ..Lbfgs::new()
        };
        one_step.minimize(&mut x, f).unwrap();
        // g = (1, 4), |g|₁ = 5: x₁ = x₀ - g/5
        assert!(
            (x[0] - 0.8).abs() < 1e-12 && (x[1] - 0.2).abs() < 1e-12,
            "{x:?}"
        );
        // second step from the pair s = (-0.2, -0.8), y = (-0.2, -3.2)
        let d = Lbfgs::direction(&[(vec![-0.2, -0.8], vec![-0.2, -3.2])], &[0.8, 0.8]);
        let mut x2 = vec![1.0, 1.0];
        Lbfgs {
            max_iter: 2,
            max_eval: Some(10),
            line_search: LineSearch::None,
            ..Lbfgs::new()
        }
        .minimize(&mut x2, f)
        .unwrap();
        assert!((x2[0] - (0.8 + d[0])).abs() < 1e-12 && (x2[1] - (0.2 + d[1])).abs() < 1e-12);
    }
}
