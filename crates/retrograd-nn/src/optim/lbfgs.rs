//! L-BFGS for full-batch problems: the loss and gradient come from a closure.

use std::collections::VecDeque;

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::Tensor;

/// Limited-memory BFGS (Nocedal's two-loop recursion) with an optional backtracking
/// (Armijo) line search. For full-batch problems where each evaluation sees all the data.
///
/// ```
/// use retrograd_nn::optim::Lbfgs;
/// // f(x) = (x0 - 1)² + 10 (x1 + 2)²
/// let f = |x: &[f64]| {
///     let v = (x[0] - 1.0).powi(2) + 10.0 * (x[1] + 2.0).powi(2);
///     (v, vec![2.0 * (x[0] - 1.0), 20.0 * (x[1] + 2.0)])
/// };
/// let mut x = vec![0.0, 0.0];
/// let report = Lbfgs::new().minimize(&mut x, f);
/// assert!(report.converged);
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
    /// Stop when the largest gradient component is at most this.
    pub tolerance_grad: f64,
    /// Stop when the loss or the step change by less than this.
    pub tolerance_change: f64,
    /// Backtrack until the Armijo condition holds (otherwise take the step as is).
    pub line_search: bool,
}

/// What a call to [`Lbfgs::minimize`] did.
///
/// ```
/// let mut x = vec![3.0];
/// let r = retrograd_nn::optim::Lbfgs::new().minimize(&mut x, |x| (x[0] * x[0], vec![2.0 * x[0]]));
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
    /// Whether a tolerance was met (rather than the iteration limit).
    pub converged: bool,
}

impl Default for Lbfgs {
    fn default() -> Self {
        Lbfgs {
            lr: 1.0,
            history: 10,
            max_iter: 100,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-12,
            line_search: true,
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Lbfgs {
    /// Defaults: step 1, history 10, 100 iterations, line search on.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::optim::Lbfgs::new().history, 10);
    /// ```
    pub fn new() -> Self {
        Self::default()
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
        let mut alpha = vec![0.0; pairs.len()];
        for (i, (s, y)) in pairs.iter().enumerate().rev() {
            let rho = 1.0 / dot(y, s);
            alpha[i] = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(q, y)| *q -= alpha[i] * y);
        }
        if let Some((s, y)) = pairs.last() {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|q| *q *= gamma);
        }
        for (i, (s, y)) in pairs.iter().enumerate() {
            let rho = 1.0 / dot(y, s);
            let beta = rho * dot(y, &q);
            q.iter_mut()
                .zip(s)
                .for_each(|(q, s)| *q += s * (alpha[i] - beta));
        }
        q.iter_mut().for_each(|q| *q = -*q);
        q
    }

    /// Minimises `f` (returning loss and gradient) starting from `x`, which holds the
    /// result on return.
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
    /// let r = Lbfgs { max_iter: 200, ..Lbfgs::new() }.minimize(&mut x, f);
    /// assert!(r.loss < 1e-10, "{r:?}");
    /// ```
    pub fn minimize<F>(&self, x: &mut [f64], mut f: F) -> LbfgsReport
    where
        F: FnMut(&[f64]) -> (f64, Vec<f64>),
    {
        let (mut loss, mut g) = f(x);
        let mut evaluations = 1;
        let max_abs = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let mut pairs: VecDeque<(Vec<f64>, Vec<f64>)> = VecDeque::new();
        let report = |iterations, evaluations, loss, converged| LbfgsReport {
            iterations,
            evaluations,
            loss,
            converged,
        };
        if max_abs(&g) <= self.tolerance_grad {
            return report(0, evaluations, loss, true);
        }
        for k in 0..self.max_iter {
            let d = Self::direction(pairs.make_contiguous(), &g);
            let gtd = dot(&g, &d);
            if gtd > -self.tolerance_change {
                return report(k, evaluations, loss, true);
            }
            let mut t = if k == 0 {
                self.lr * (1.0 / g.iter().map(|v| v.abs()).sum::<f64>()).min(1.0)
            } else {
                self.lr
            };
            let mut trial: Vec<f64>;
            let (mut new_loss, mut new_g);
            loop {
                trial = x.iter().zip(&d).map(|(x, d)| x + t * d).collect();
                (new_loss, new_g) = f(&trial);
                evaluations += 1;
                let armijo = new_loss <= loss + 1e-4 * t * gtd;
                if !self.line_search || armijo || t < 1e-20 {
                    break;
                }
                t *= 0.5;
            }
            let s: Vec<f64> = trial.iter().zip(x.iter()).map(|(a, b)| a - b).collect();
            let y: Vec<f64> = new_g.iter().zip(&g).map(|(a, b)| a - b).collect();
            if dot(&s, &y) > 1e-10 {
                pairs.push_back((s.clone(), y));
                if pairs.len() > self.history {
                    pairs.pop_front();
                }
            }
            x.copy_from_slice(&trial);
            let change = (new_loss - loss).abs();
            loss = new_loss;
            g = new_g;
            if max_abs(&g) <= self.tolerance_grad
                || change < self.tolerance_change
                || max_abs(&s) <= self.tolerance_change
            {
                return report(k + 1, evaluations, loss, true);
            }
        }
        report(self.max_iter, evaluations, loss, false)
    }

    /// Minimises `loss()` over `f32` tensor parameters (which must require grad): each
    /// evaluation writes the trial values into `params`, runs the closure and its backward
    /// pass. On return `params` hold the result.
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
    pub fn minimize_params<F>(&self, params: &[Tensor], mut loss: F) -> crate::Result<LbfgsReport>
    where
        F: FnMut() -> crate::Result<Tensor>,
    {
        let sizes: Vec<usize> = params.iter().map(Tensor::elem_count).collect();
        let mut x: Vec<f64> = Vec::with_capacity(sizes.iter().sum());
        for p in params {
            x.extend(p.to_vec::<f32>()?.iter().map(|&v| v as f64));
        }
        let write = |x: &[f64]| -> crate::Result<()> {
            no_grad(|| -> crate::Result<()> {
                let mut at = 0;
                for (p, &n) in params.iter().zip(&sizes) {
                    let chunk = &x[at..at + n];
                    p.update_(|w: &mut [f32]| {
                        w.iter_mut().zip(chunk).for_each(|(w, &v)| *w = v as f32)
                    })?;
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
                    Some(t) => g.extend(t.to_vec::<f32>()?.iter().map(|&v| v as f64)),
                    None => g.extend(std::iter::repeat_n(0.0, n)),
                }
            }
            Ok((l.item()?, g))
        };
        let report = self.minimize(&mut x, |x| match evaluate(x) {
            Ok(v) => v,
            Err(e) => {
                failure.get_or_insert(e);
                (f64::INFINITY, vec![0.0; x.len()])
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        write(&x)?;
        Ok(report)
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
            line_search: false,
            ..Lbfgs::new()
        };
        one_step.minimize(&mut x, f);
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
            line_search: false,
            ..Lbfgs::new()
        }
        .minimize(&mut x2, f);
        assert!((x2[0] - (0.8 + d[0])).abs() < 1e-12 && (x2[1] - (0.2 + d[1])).abs() < 1e-12);
    }
}
