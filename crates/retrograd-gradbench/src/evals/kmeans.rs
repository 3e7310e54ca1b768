//! `kmeans`: the cost `Σᵢ minⱼ |Cⱼ − Pᵢ|²` and the Newton direction `J ⊘ diag(H)`, with the
//! gradient `J` and the Hessian diagonal from one forward-over-reverse sweep.

use super::{input_with_runs, timed, unknown};
use crate::json::{Rows, ToJson};
use crate::protocol::Evaluated;
use num_traits::Float;
use retrograd::{Dual, Tape, Var};

input_with_runs! {
    /// The `kmeans` input.
    pub struct Input {
        /// The points, one row each.
        pub points: Vec<Vec<f64>>,
        /// The centroids, one row each.
        pub centroids: Vec<Vec<f64>>,
    }
}

/// `|a − b|²` with `b` of any number type.
fn dist2<T: Float>(a: &[f64], b: &[T]) -> T {
    let mut s = T::zero();
    for (&x, &c) in a.iter().zip(b) {
        let t = T::from(x).unwrap() - c;
        s = s + t * t;
    }
    s
}

/// The index of the centroid closest to `p` (the first of equals, as `std::min` keeps).
fn closest(p: &[f64], centroids: &[f64], d: usize) -> usize {
    let mut best = (f64::INFINITY, 0);
    for (j, c) in centroids.chunks_exact(d).enumerate() {
        let dj = dist2(p, c);
        if dj < best.0 {
            best = (dj, j);
        }
    }
    best.1
}

/// The cost on any number type (centroids row-major, `d` columns).
pub fn cost<T: Float>(points: &[f64], centroids: &[T], d: usize) -> T {
    let mut total = T::zero();
    for p in points.chunks_exact(d) {
        let mut best = T::infinity();
        for c in centroids.chunks_exact(d) {
            best = best.min(dist2(p, c));
        }
        total = total + best;
    }
    total
}

/// The direction `J ⊘ diag(H)`. The centroids are recorded on a `Var<Dual>` tape with
/// tangent one each, so a single reverse sweep gives the gradient (values) and `H·1`
/// (tangents), which is the diagonal because `H` is diagonal. The minimum over centroids
/// passes its derivative to the chosen distance only (as `min` does): the distances are
/// compared on values and the closest one is recorded.
pub fn dir(tape: &mut Tape<Dual>, points: &[f64], centroids: &[f64], d: usize) -> Vec<f64> {
    tape.clear();
    let seeded: Vec<Dual> = centroids.iter().map(|&c| Dual::new(c, [1.0])).collect();
    let (cs, y) = tape.record(|rec| {
        let cs = rec.inputs(&seeded);
        let mut terms = Vec::with_capacity(points.len() / d);
        let mut diff = vec![Var::constant(Dual::constant(0.0)); d];
        for p in points.chunks_exact(d) {
            let j = closest(p, centroids, d);
            for ((t, &c), &x) in diff.iter_mut().zip(&cs[j * d..(j + 1) * d]).zip(p) {
                *t = c - Dual::constant(x);
            }
            terms.push(retrograd::dot(&diff, &diff));
        }
        (cs, retrograd::sum(&terms))
    });
    let adj = tape.gradient(y);
    cs.iter()
        .map(|&c| {
            let a = adj.wrt(c);
            a.value / a.tangent[0]
        })
        .collect()
}

fn flatten(rows: &[Vec<f64>]) -> Result<(Vec<f64>, usize), String> {
    let d = rows.first().map_or(0, Vec::len);
    if d == 0 || rows.iter().any(|r| r.len() != d) {
        return Err("rows must be non-empty and of equal length".into());
    }
    Ok((rows.concat(), d))
}

/// Evaluates `cost` or `dir`.
pub fn evaluate(function: &str, input: &str) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    let (points, d) = flatten(&input.points)?;
    let (centroids, dc) = flatten(&input.centroids)?;
    if d != dc {
        return Err("points and centroids differ in dimension".into());
    }
    match function {
        "cost" => timed(input.runs(), || cost(&points, &centroids, d)),
        "dir" => {
            let mut tape = Tape::new();
            let (out, timings) =
                crate::runs::repeat(input.runs(), || dir(&mut tape, &points, &centroids, d));
            let output = crate::json::to_vec(&Rows {
                data: &out,
                cols: d,
            } as &dyn ToJson)?;
            Ok(Evaluated { output, timings })
        }
        _ => unknown(function),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evals::testing::assert_matches_fd;

    #[test]
    fn gradient_and_hessian_diagonal_match_finite_differences() {
        let points = [0.1, 0.2, 0.9, 0.8, 0.15, 0.3, 0.7, 0.95, 0.5, 0.4];
        let centroids = [0.2, 0.1, 0.8, 0.9];
        let d = 2;
        let out = dir(&mut Tape::new(), &points, &centroids, d);
        let grad = retrograd::grad(|c| cost(&points, c, d), &centroids);
        assert_matches_fd(|c| cost(&points, c, d), &centroids, &grad, 1e-6);
        // The Hessian of the cost is 2·(points per centroid) on the diagonal.
        let h: Vec<f64> = grad.iter().zip(&out).map(|(g, q)| g / q).collect();
        for (j, hj) in h.iter().enumerate() {
            let c = &centroids[(j / d) * d..][..d];
            let owned = points
                .chunks(d)
                .filter(|p| closest(p, &centroids, d) == j / d)
                .count();
            assert!(
                (hj - 2.0 * owned as f64).abs() < 1e-12,
                "{hj} vs {owned} at {c:?}"
            );
        }
        // The diagonal against finite differences of the gradient.
        for j in 0..centroids.len() {
            let gj = |c: &[f64]| retrograd::grad(|v| cost(&points, v, d), c)[j];
            let fd = retrograd::gradcheck::finite_difference(gj, &centroids)[j];
            assert!((fd - h[j]).abs() < 1e-5);
        }
    }
}
