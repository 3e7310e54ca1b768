//! `gmm`: the log posterior of a Gaussian mixture model with a Wishart prior on the
//! precision matrices (ADBench's GMM with GradBench's fixes), and its gradient.

use super::{input_with_runs, max_element, timed, unknown, Style};
use crate::json::{Object, Rows, ToJson};
use crate::protocol::Evaluated;
use num_traits::Float;
use retrograd::{Tape, Var};

input_with_runs! {
    /// The `gmm` input.
    pub struct Input {
        /// Dimension.
        pub d: usize,
        /// Components.
        pub k: usize,
        /// Points.
        pub n: usize,
        /// The points, one row each.
        pub x: Vec<Vec<f64>>,
        /// Extra degrees of freedom of the Wishart prior.
        pub m: i64,
        /// Precision of the Wishart prior.
        pub gamma: f64,
        /// Weight parameters.
        pub alpha: Vec<f64>,
        /// Means.
        pub mu: Vec<Vec<f64>>,
        /// Log-diagonals of the precision factors.
        pub q: Vec<Vec<f64>>,
        /// Strictly lower parts of the precision factors, column by column.
        pub l: Vec<Vec<f64>>,
    }
}

/// The problem with its parameters flattened row-major.
pub struct Problem {
    /// Dimension, components, points.
    pub d: usize,
    /// Components.
    pub k: usize,
    /// Points.
    pub n: usize,
    /// `n × d` points.
    pub x: Vec<f64>,
    /// Wishart `m`.
    pub m: i64,
    /// Wishart `γ`.
    pub gamma: f64,
    /// The independent variables: `alpha (k) | mu (k·d) | q (k·d) | l (k·d(d−1)/2)`.
    pub params: Vec<f64>,
}

impl Problem {
    fn from_input(i: &Input) -> Result<Self, String> {
        let (d, k) = (i.d, i.k);
        let lsz = d * (d.saturating_sub(1)) / 2;
        let ok = i.alpha.len() == k
            && i.mu.len() == k
            && i.q.len() == k
            && i.l.len() == k
            && i.mu.iter().chain(&i.q).all(|r| r.len() == d)
            && i.l.iter().all(|r| r.len() == lsz)
            && i.x.len() == i.n
            && i.x.iter().all(|r| r.len() == d);
        if !ok || d == 0 || k == 0 {
            return Err("inconsistent sizes".into());
        }
        let mut params = i.alpha.clone();
        params.extend(i.mu.concat());
        params.extend(i.q.concat());
        params.extend(i.l.concat());
        Ok(Problem {
            d,
            k,
            n: i.n,
            x: i.x.concat(),
            m: i.m,
            gamma: i.gamma,
            params,
        })
    }

    fn lsz(&self) -> usize {
        self.d * (self.d - 1) / 2
    }
}

/// `log Γ_p(a)`, the multivariate log gamma function.
fn log_gamma_distrib(a: f64, p: usize) -> f64 {
    let mut out = 0.25 * (p * (p - 1)) as f64 * std::f64::consts::PI.ln();
    for j in 1..=p {
        out += libm::lgamma(a + 0.5 * (1.0 - j as f64));
    }
    out
}

fn logsumexp<T: Float>(v: &[T]) -> T {
    let mx = max_element(v);
    let mut s = T::zero();
    for &x in v {
        s = s + (x - mx).exp();
    }
    s.ln() + mx
}

/// The log posterior on any number type; `p` holds the independent variables.
pub fn objective<T: Float>(pb: &Problem, p: &[T]) -> T {
    let (d, k, n) = (pb.d, pb.k, pb.n);
    let lsz = pb.lsz();
    let (alpha, rest) = p.split_at(k);
    let (mu, rest) = rest.split_at(k * d);
    let (q, l) = rest.split_at(k * d);
    let c = |v: f64| T::from(v).unwrap();
    let qdiags: Vec<T> = q.iter().map(|v| v.exp()).collect();
    let sum_qs: Vec<T> = q
        .chunks(d)
        .map(|r| r.iter().fold(T::zero(), |a, &b| a + b))
        .collect();
    let mut xc = vec![T::zero(); d];
    let mut qx = vec![T::zero(); d];
    let mut main = vec![T::zero(); k];
    let mut slse = T::zero();
    for xi in pb.x.chunks(d) {
        for ik in 0..k {
            for j in 0..d {
                xc[j] = c(xi[j]) - mu[ik * d + j];
            }
            for j in 0..d {
                qx[j] = qdiags[ik * d + j] * xc[j];
            }
            // Column i of the strictly lower part, entries (j, i) for j > i, stored
            // consecutively: the same updates as the reference's loop, as slices.
            let mut idx = ik * lsz;
            for i in 0..d {
                let (xi, len) = (xc[i], d - i - 1);
                for (o, &lv) in qx[i + 1..].iter_mut().zip(&l[idx..idx + len]) {
                    *o = *o + lv * xi;
                }
                idx += len;
            }
            let sq = qx.iter().fold(T::zero(), |a, &b| a + b * b);
            main[ik] = alpha[ik] + sum_qs[ik] - c(0.5) * sq;
        }
        slse = slse + logsumexp(&main);
    }
    let constant = -(n as f64) * d as f64 * 0.5 * (2.0 * std::f64::consts::PI).ln();
    c(constant) + slse - c(n as f64) * logsumexp(alpha) + prior(pb, &qdiags, &sum_qs, l)
}

/// The log Wishart prior of the precision matrices.
fn prior<T: Float>(pb: &Problem, qdiags: &[T], sum_qs: &[T], l: &[T]) -> T {
    let (d, k) = (pb.d, pb.k);
    let lsz = pb.lsz();
    let nn = d as i64 + pb.m + 1;
    let cst = nn as f64 * d as f64 * (pb.gamma.ln() - 0.5 * 2f64.ln())
        - log_gamma_distrib(0.5 * nn as f64, d);
    let mut out = T::zero();
    for ik in 0..k {
        let sq = |v: &[T]| v.iter().fold(T::zero(), |a, &b| a + b * b);
        let frob = sq(&qdiags[ik * d..(ik + 1) * d]) + sq(&l[ik * lsz..(ik + 1) * lsz]);
        out = out + T::from(0.5 * pb.gamma * pb.gamma).unwrap() * frob
            - T::from(pb.m as f64).unwrap() * sum_qs[ik];
    }
    -out + T::from(k as f64 * cst).unwrap()
}

/// The gradient of the log posterior on the scalar tape: an independent check of
/// [`tensor::gradient`] (used by the tests), slower at every size.
///
/// The likelihood is a sum over points of `logsumexp_k(βᵢₖ)`: each point's term is
/// recorded, swept into the accumulated adjoints and dropped (`Recorder::mark` /
/// `sweep_and_reset`), so the tape holds one point at a time. Within a term, each
/// component of `Q(xᵢ − μₖ)` is one `dot` statement and `‖·‖²` another. The weights'
/// log-normaliser and the prior are recorded last and swept with everything before them.
pub fn gradient(tape: &mut Tape, pb: &Problem) -> Vec<f64> {
    tape.clear();
    let (d, k, n) = (pb.d, pb.k, pb.n);
    let lsz = pb.lsz();
    tape.record(|rec| {
        let p = rec.inputs(&pb.params);
        let (alpha, rest) = p.split_at(k);
        let (mu, rest) = rest.split_at(k * d);
        let (q, l) = rest.split_at(k * d);
        let base = rec.mark();
        let mut adj = rec.adjoints();
        let qdiags: Vec<Var> = q.iter().map(|v| v.exp()).collect();
        let sum_qs: Vec<Var> = q.chunks(d).map(retrograd::sum).collect();
        let one = Var::constant(1.0);
        let mut xc = vec![one; d];
        let mut qx = vec![one; d];
        let mut main = Vec::with_capacity(k);
        let mut pairs = Vec::with_capacity(2 * k);
        let (mut ra, mut rb) = (Vec::with_capacity(d), Vec::with_capacity(d));
        for xi in pb.x.chunks(d) {
            let mark = rec.mark();
            main.clear();
            for ik in 0..k {
                for j in 0..d {
                    xc[j] = Var::constant(xi[j]) - mu[ik * d + j];
                }
                // Row j of Q: its diagonal entry and l at (i, j) for i < j (column-wise
                // storage: the entry (i, j) is at i·d − i(i+1)/2 + j − i − 1).
                for j in 0..d {
                    ra.clear();
                    rb.clear();
                    ra.push(qdiags[ik * d + j]);
                    rb.push(xc[j]);
                    for i in 0..j {
                        ra.push(l[ik * lsz + i * d - i * (i + 1) / 2 + j - i - 1]);
                        rb.push(xc[i]);
                    }
                    qx[j] = retrograd::dot(&ra, &rb);
                }
                let sq = retrograd::dot(&qx, &qx);
                main.push(retrograd::dot(
                    &[alpha[ik], sum_qs[ik], sq],
                    &[one, one, Var::constant(-0.5)],
                ));
            }
            let mx = max_element(&main);
            pairs.clear();
            pairs.extend(main.iter().flat_map(|&v| [v, mx]));
            let s = retrograd::sum_map_chunks(&pairs, |[v, m]| (v - m).exp());
            let lse = s.ln() + mx;
            rec.sweep_and_reset(mark, &[(lse, 1.0)], &mut adj);
        }
        // logsumexp(alpha) and the prior, swept together with exp(q) and Σq.
        let mx = max_element(alpha);
        pairs.clear();
        pairs.extend(alpha.iter().flat_map(|&v| [v, mx]));
        let lse_alpha = retrograd::sum_map_chunks(&pairs, |[v, m]| (v - m).exp()).ln() + mx;
        let rest = prior(pb, &qdiags, &sum_qs, l) - lse_alpha * n as f64;
        rec.sweep_and_reset(base, &[(rest, 1.0)], &mut adj);
        adj.wrt_all(&p)
    })
}

/// Evaluates `objective` or `jacobian`.
pub fn evaluate(function: &str, input: &str, style: Style) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    let pb = Problem::from_input(&input)?;
    match function {
        "objective" => timed(input.runs(), || objective(&pb, &pb.params)),
        "jacobian" => {
            let (g, timings) = crate::runs::repeat(input.runs(), || match style {
                Style::Tuned => tensor::gradient(&pb),
                Style::Straightforward => tensor::straightforward_gradient(&pb),
            });
            let g = g.map_err(|e| e.to_string())?;
            let (d, k) = (pb.d, pb.k);
            let (alpha, rest) = g.split_at(k);
            let (mu, rest) = rest.split_at(k * d);
            let (q, l) = rest.split_at(k * d);
            let alpha = alpha.to_vec();
            let (mu, q, l) = (
                Rows { data: mu, cols: d },
                Rows { data: q, cols: d },
                Rows {
                    data: l,
                    cols: pb.lsz(),
                },
            );
            let l_rows: Vec<Vec<f64>>;
            let l_json: &dyn ToJson = if pb.lsz() == 0 {
                l_rows = vec![Vec::new(); k];
                &l_rows
            } else {
                &l
            };
            let output = crate::json::to_vec(&Object(&[
                ("alpha", &alpha),
                ("mu", &mu),
                ("q", &q),
                ("l", l_json),
            ]))?;
            Ok(Evaluated { output, timings })
        }
        _ => unknown(function),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evals::testing::assert_matches_fd;

    /// A problem of the given sizes and prior with made-up points and parameters (taken
    /// from a fixed sequence, the parameters from `shift` entries on).
    pub(super) fn problem(
        d: usize,
        k: usize,
        n: usize,
        m: i64,
        gamma: f64,
        shift: usize,
    ) -> Problem {
        let v = |i: usize| ((i * 37 + 11) % 17) as f64 / 10.0 - 0.8;
        let lsz = d * (d - 1) / 2;
        Problem {
            d,
            k,
            n,
            x: (0..n * d).map(v).collect(),
            m,
            gamma,
            params: (0..k + 2 * k * d + k * lsz).map(|i| v(i + shift)).collect(),
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let pb = problem(3, 2, 4, 2, 1.3, 100);
        let g = gradient(&mut Tape::new(), &pb);
        assert_matches_fd(|p| objective(&pb, p), &pb.params, &g, 1e-6);
    }
}

/// The gradient by retrograd's tensor autograd, batched over points and components.
///
/// The same function as [`objective`], written on tensors: for a batch of points, the
/// centred points `xᵢ − μₖ` of every component, `Qₖ(xᵢ − μₖ)` as one batched matrix
/// product, `‖·‖²`, `αₖ + Σ qₖ − ½‖·‖²`, the log-sum-exp over components and the sum over
/// points; then the weights' log-normaliser and the prior. `backward` differentiates it
/// (its matrix products are differentiated by matrix products).
///
/// `Q` (built from `exp(q)` and `l` by `index_add`) and `α + Σ q` are computed once and
/// cut from the graph: each batch's backward accumulates their gradients, and one last
/// backward carries those (as `Σ Q ⊙ Q̄ + Σ b ⊙ b̄`, the same chain rule) to `q`, `l` and
/// `α`, together with the prior's.
pub mod tensor {
    use super::Problem;
    use retrograd::tensor::autograd::grad;
    use retrograd::tensor::{DType, Result, Tensor};

    /// Elements (`components × points × d`) per batch when points run along the last
    /// axis (small `d`) and along the middle axis (large `d`): small enough that a batch's
    /// tensors stay in cache, large enough for few graph passes and good matrix products
    /// (measured).
    const BATCH_COLUMNS: usize = 1 << 15;
    const BATCH_ROWS: usize = 1 << 18;

    /// The gradient `alpha | mu | q | l`, flattened as [`Problem::params`].
    pub fn gradient(pb: &Problem) -> Result<Vec<f64>> {
        // Below this dimension the points run along the last axis, so elementwise work
        // and reductions run over long rows; from it on, along the middle axis, where the
        // matrix products (`points × d` by `d × d`) are faster.
        let columns = pb.d < 16;
        let batch = if columns { BATCH_COLUMNS } else { BATCH_ROWS };
        gradient_with(pb, batch, columns)
    }

    /// [`gradient`] with a given batch size (in elements) and layout.
    pub fn gradient_with(pb: &Problem, batch: usize, columns: bool) -> Result<Vec<f64>> {
        let (d, k, n) = (pb.d, pb.k, pb.n);
        let lsz = pb.lsz();
        let p = &pb.params;
        let alpha = Tensor::from_slice(&p[..k], [k])?.requires_grad_();
        let mu = Tensor::from_slice(&p[k..k + k * d], [k, d])?.requires_grad_();
        let q = Tensor::from_slice(&p[k + k * d..k + 2 * k * d], [k, d])?.requires_grad_();
        let l = Tensor::from_slice(&p[k + 2 * k * d..], [k, lsz])?.requires_grad_();
        let (qdiag, qm) = factors(pb, &q, &l)?;
        // Q, and αₖ + Σ qₖ: computed once, cut from the graph for the batches of points
        // (their gradients accumulate there), then swept back to q, l and α at the end.
        let qm_cut = qm.detach().requires_grad_();
        let base = alpha.unsqueeze(1)?.add(&q.sum(1, true)?)?;
        let base_cut = base.detach().requires_grad_();
        let batch = (batch / (k * d)).max(1);
        if columns {
            // Points as columns: every elementwise op and reduction below runs along points.
            let mut xt = vec![0.0; n * d];
            for (i, xi) in pb.x.chunks_exact(d).enumerate() {
                for (j, &v) in xi.iter().enumerate() {
                    xt[j * n + i] = v;
                }
            }
            let xt = Tensor::from_vec(xt, [1, d, n])?;
            let mut start = 0;
            while start < n {
                let nb = batch.min(n - start);
                let xc = xt.narrow(2, start, nb)?.sub(&mu.unsqueeze(2)?)?;
                let qx = qm_cut.matmul(&xc)?;
                let sq = qx.square()?.sum(1, false)?;
                let main = base_cut.sub(&sq.mul_scalar(0.5)?)?;
                main.logsumexp(0, false)?.sum_all()?.backward()?;
                start += nb;
            }
        } else {
            let x = Tensor::from_slice(&pb.x, [1, n, d])?;
            let mut start = 0;
            while start < n {
                let nb = batch.min(n - start);
                let xc = x.narrow(1, start, nb)?.sub(&mu.unsqueeze(1)?)?;
                let qx = xc.matmul(&qm_cut.mt()?)?;
                let sq = qx.square()?.sum(2, false)?;
                let main = base_cut.sub(&sq.mul_scalar(0.5)?)?;
                main.logsumexp(0, false)?.sum_all()?.backward()?;
                start += nb;
            }
        }
        // logsumexp(alpha) and the prior.
        let lse_alpha = alpha.logsumexp(0, false)?;
        let prior = prior(pb, &qdiag, &q, &l)?;
        let cut = qm
            .mul(&grad_of(&qm_cut))?
            .sum_all()?
            .add(&base.mul(&grad_of(&base_cut))?.sum_all()?)?;
        let rest = prior.sub(&lse_alpha.mul_scalar(n as f64)?)?.add(&cut)?;
        rest.backward()?;
        let mut g = grad_of(&alpha).to_vec_f64();
        for t in [&mu, &q, &l] {
            g.extend(grad_of(t).to_vec_f64());
        }
        Ok(g)
    }

    /// `exp(q)` and the precision factors `Q` (`k × d × d`): `exp(q)` on the diagonal, `l`
    /// below it, column by column.
    fn factors(pb: &Problem, q: &Tensor, l: &Tensor) -> Result<(Tensor, Tensor)> {
        let (d, k, lsz) = (pb.d, pb.k, pb.lsz());
        let idx_diag: Vec<i64> = (0..d).map(|j| (j * d + j) as i64).collect();
        let mut idx_l = Vec::with_capacity(lsz);
        for i in 0..d {
            for j in i + 1..d {
                idx_l.push((j * d + i) as i64);
            }
        }
        let qdiag = q.exp()?;
        let idx_diag = Tensor::from_vec(idx_diag, [d])?;
        let mut qflat = Tensor::zeros([k, d * d], DType::F64).index_add(1, &idx_diag, &qdiag)?;
        if lsz > 0 {
            qflat = qflat.index_add(1, &Tensor::from_vec(idx_l, [lsz])?, l)?;
        }
        Ok((qdiag, qflat.reshape([k, d, d])?))
    }

    /// The log Wishart prior without its constant term.
    fn prior(pb: &Problem, qdiag: &Tensor, q: &Tensor, l: &Tensor) -> Result<Tensor> {
        let frob = qdiag.square()?.sum_all()?.add(&l.square()?.sum_all()?)?;
        frob.mul_scalar(0.5 * pb.gamma * pb.gamma)?
            .sub(&q.sum_all()?.mul_scalar(pb.m as f64)?)?
            .mul_scalar(-1.0)
    }

    /// The log posterior on tensors, all points at once: `alpha`, `mu`, `q`, `l` as
    /// shaped in [`straightforward_gradient`].
    pub fn objective(
        pb: &Problem,
        alpha: &Tensor,
        mu: &Tensor,
        q: &Tensor,
        l: &Tensor,
    ) -> Result<Tensor> {
        let (d, k, n) = (pb.d, pb.k, pb.n);
        let (qdiag, qm) = factors(pb, q, l)?;
        // βᵢₖ = αₖ + Σ qₖ − ½‖Qₖ(xᵢ − μₖ)‖², over all points and components: [k, n].
        let x = Tensor::from_slice(&pb.x, [1, n, d])?;
        let xc = x.sub(&mu.unsqueeze(1)?)?;
        let qx = xc.matmul(&qm.mt()?)?;
        let sq = qx.square()?.sum(2, false)?;
        let main = alpha
            .add(&q.sum(1, false)?)?
            .unsqueeze(1)?
            .sub(&sq.mul_scalar(0.5)?)?;
        let likelihood = main.logsumexp(0, false)?.sum_all()?;
        let lse_alpha = alpha.logsumexp(0, false)?;
        let prior = prior(pb, &qdiag, q, l)?;
        let nn = d as i64 + pb.m + 1;
        let cst = nn as f64 * d as f64 * (pb.gamma.ln() - 0.5 * 2f64.ln())
            - super::log_gamma_distrib(0.5 * nn as f64, d);
        let constant =
            -(n as f64) * d as f64 * 0.5 * (2.0 * std::f64::consts::PI).ln() + k as f64 * cst;
        likelihood
            .sub(&lse_alpha.mul_scalar(n as f64)?)?
            .add(&prior)?
            .add_scalar(constant)
    }

    /// The straightforward gradient: [`objective`] differentiated by
    /// `retrograd::tensor::autograd::grad` (one graph over all points, one backward; no
    /// batches, nothing cut from the graph). Flattened as [`Problem::params`].
    pub fn straightforward_gradient(pb: &Problem) -> Result<Vec<f64>> {
        let (d, k) = (pb.d, pb.k);
        let p = &pb.params;
        let inputs = [
            Tensor::from_slice(&p[..k], [k])?,
            Tensor::from_slice(&p[k..k + k * d], [k, d])?,
            Tensor::from_slice(&p[k + k * d..k + 2 * k * d], [k, d])?,
            Tensor::from_slice(&p[k + 2 * k * d..], [k, pb.lsz()])?,
        ];
        let g = grad(|t| objective(pb, &t[0], &t[1], &t[2], &t[3]), &inputs)?;
        Ok(g.iter().flat_map(|t| t.to_vec_f64()).collect())
    }

    /// The accumulated gradient of a leaf; zeros when nothing reached it (no points).
    fn grad_of(t: &Tensor) -> Tensor {
        t.grad().unwrap_or_else(|| Tensor::zeros_like(t))
    }

    #[cfg(test)]
    mod tests {
        use super::super::tests::problem;
        use super::super::*;

        #[test]
        fn agrees_with_the_tape() {
            let pb = problem(4, 3, 7, 2, 1.3, 100);
            let g = gradient(&mut Tape::new(), &pb);
            for (batch, columns) in [(1, false), (40, true), (40, false), (1000, true)] {
                let t = super::gradient_with(&pb, batch, columns).unwrap();
                for (a, b) in g.iter().zip(&t) {
                    assert!((a - b).abs() < 1e-12 * (1.0 + a.abs()), "{a} {b}");
                }
            }
        }

        #[test]
        fn straightforward_equals_tuned_and_the_objective() {
            for (d, k, n) in [(1, 2, 5), (3, 2, 4), (4, 3, 7)] {
                let pb = problem(d, k, n, 2, 1.3, 100);
                let tuned = super::gradient(&pb).unwrap();
                let plain = super::straightforward_gradient(&pb).unwrap();
                assert_eq!(tuned.len(), plain.len());
                for (a, b) in tuned.iter().zip(&plain) {
                    assert!((a - b).abs() < 1e-12 * (1.0 + a.abs()), "{a} {b}");
                }
                let t = |r: std::ops::Range<usize>, shape: Vec<usize>| {
                    super::Tensor::from_slice(&pb.params[r], shape).unwrap()
                };
                let lsz = pb.lsz();
                let value = super::objective(
                    &pb,
                    &t(0..k, vec![k]),
                    &t(k..k + k * d, vec![k, d]),
                    &t(k + k * d..k + 2 * k * d, vec![k, d]),
                    &t(k + 2 * k * d..k + 2 * k * d + k * lsz, vec![k, lsz]),
                )
                .unwrap()
                .item()
                .unwrap();
                let scalar = objective(&pb, &pb.params);
                assert!(
                    (value - scalar).abs() < 1e-12 * (1.0 + scalar.abs()),
                    "{value} {scalar}"
                );
            }
        }

        #[test]
        fn handles_one_dimension_and_no_points() {
            for (d, n) in [(1, 5), (3, 0)] {
                let pb = problem(d, 2, n, 1, 0.7, 3);
                let g = gradient(&mut Tape::new(), &pb);
                let t = super::gradient(&pb).unwrap();
                assert_eq!(g.len(), t.len());
                for (a, b) in g.iter().zip(&t) {
                    assert!((a - b).abs() < 1e-12 * (1.0 + a.abs()), "{a} {b}");
                }
            }
        }
    }
}
