//! `kmeans`: the cost `Σᵢ minⱼ |Cⱼ − Pᵢ|²` and the Newton direction `J ⊘ diag(H)`, with the
//! gradient `J` and the Hessian diagonal from one forward-over-reverse sweep.

use super::{input_with_runs, timed, timed_in_place, unknown, Style};
use crate::json::{Rows, ToJson};
use crate::protocol::Evaluated;
use num_traits::Float;
use retrograd::{Adjoints, Dual, Tape, Var};

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

/// The buffers of [`Dir`], kept across runs so that a run allocates nothing.
#[derive(Default)]
pub struct Dir {
    tape: Tape<Dual>,
    seeded: Vec<Dual>,
    cs: Vec<Var<Dual>>,
    parts: Vec<Var<Dual>>,
    /// For each centroid, the start of its points in `members` (and one past the end).
    starts: Vec<usize>,
    /// Point indices grouped by closest centroid, in point order within a group.
    members: Vec<usize>,
    closest: Vec<usize>,
    adj: Option<Adjoints<Dual>>,
    /// The direction of the last run, row-major.
    pub out: Vec<f64>,
}

impl Dir {
    /// The direction `J ⊘ diag(H)`, left in `out`, by forward-over-reverse: the centroids
    /// are recorded on a `Var<Dual>` tape with tangent one each, so a single reverse sweep
    /// gives the gradient (values) and `H·1` (tangents), which is the diagonal because
    /// `H` is diagonal.
    ///
    /// The minimum over centroids passes its derivative to the chosen distance only (as
    /// `min` does): the distances are compared on values, and each point's distance to
    /// its closest centroid is what gets differentiated. The cost is a sum over centroid
    /// coordinates `c` of `Σᵢ (pᵢ − c)²` over the points whose closest centroid it
    /// belongs to; each such sum is `preaccumulate`d (evaluated in forward mode on `Dual`
    /// numbers and recorded as one statement with one operand), and the cost is one `sum`
    /// of those statements.
    pub fn run(&mut self, points: &[f64], centroids: &[f64], d: usize) {
        let Dir {
            tape,
            seeded,
            cs,
            parts,
            starts,
            members,
            closest: owner,
            adj,
            out,
        } = self;
        let k = centroids.len() / d;
        let n = points.len() / d;
        // Each point's closest centroid, then the points grouped by it (a counting sort).
        owner.clear();
        owner.extend(points.chunks_exact(d).map(|p| closest(p, centroids, d)));
        starts.clear();
        starts.resize(k + 1, 0);
        for &j in owner.iter() {
            starts[j + 1] += 1;
        }
        for j in 0..k {
            starts[j + 1] += starts[j];
        }
        members.clear();
        members.resize(n, 0);
        let mut next = starts[..k].to_vec();
        for (i, &j) in owner.iter().enumerate() {
            members[next[j]] = i;
            next[j] += 1;
        }
        tape.clear();
        cs.clear();
        parts.clear();
        seeded.clear();
        seeded.extend(centroids.iter().map(|&c| Dual::new(c, [1.0])));
        let y = tape.record(|rec| {
            rec.inputs_into(seeded, cs);
            for j in 0..k {
                let group = &members[starts[j]..starts[j + 1]];
                for l in 0..d {
                    let [part] = retrograd::preaccumulate([cs[j * d + l]], |[c]| {
                        let mut s = Dual::constant(Dual::constant(0.0));
                        for &i in group {
                            let t = Dual::constant(Dual::constant(points[i * d + l])) - c;
                            s += t * t;
                        }
                        [s]
                    });
                    parts.push(part);
                }
            }
            retrograd::sum(parts)
        });
        let adj = adj.get_or_insert_with(|| tape.adjoints(&[]));
        tape.adjoints_into(&[(y, Dual::constant(1.0))], adj);
        out.clear();
        out.extend(cs.iter().map(|&c| {
            let a = adj.wrt(c);
            a.value / a.tangent[0]
        }));
    }
}

/// The direction `J ⊘ diag(H)` (see [`Dir::run`]).
pub fn dir(points: &[f64], centroids: &[f64], d: usize) -> Vec<f64> {
    let mut run = Dir::default();
    run.run(points, centroids, d);
    run.out
}

/// The straightforward direction: [`cost`] differentiated by `retrograd::hvp` with the
/// direction of all ones (forward-over-reverse, one recording of the whole cost on
/// `Var<Dual>`, every distance of every point to every centroid recorded, the minimum a
/// recorded `min`), giving `J` and `H·1`, which is `diag(H)` as `H` is diagonal.
pub fn straightforward_dir(
    points: &[f64],
    centroids: &[f64],
    d: usize,
) -> Result<Vec<f64>, retrograd::Error> {
    let ones = vec![1.0; centroids.len()];
    let (j, h) = retrograd::hvp(|c| cost(points, c, d), centroids, &ones)?;
    Ok(j.iter().zip(&h).map(|(j, h)| j / h).collect())
}

fn flatten(rows: &[Vec<f64>]) -> Result<(Vec<f64>, usize), String> {
    let d = rows.first().map_or(0, Vec::len);
    if d == 0 || rows.iter().any(|r| r.len() != d) {
        return Err("rows must be non-empty and of equal length".into());
    }
    Ok((rows.concat(), d))
}

/// Evaluates `cost` or `dir`.
pub fn evaluate(function: &str, input: &str, style: Style) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    let (points, d) = flatten(&input.points)?;
    let (centroids, dc) = flatten(&input.centroids)?;
    if d != dc {
        return Err("points and centroids differ in dimension".into());
    }
    let rows = |out: &[f64]| crate::json::to_vec(&Rows { data: out, cols: d } as &dyn ToJson);
    match (function, style) {
        ("cost", _) => timed(input.runs(), || cost(&points, &centroids, d)),
        ("dir", Style::Straightforward) => {
            let (out, timings) =
                crate::runs::repeat(input.runs(), || straightforward_dir(&points, &centroids, d));
            let out = out.map_err(|e| e.to_string())?;
            Ok(Evaluated {
                output: rows(&out)?,
                timings,
            })
        }
        ("dir", Style::Tuned) => timed_in_place(
            input.runs(),
            &mut Dir::default(),
            |run| run.run(&points, &centroids, d),
            |run| rows(&run.out),
        ),
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
        let out = dir(&points, &centroids, d);
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

    #[test]
    fn straightforward_equals_tuned() {
        let d = 3;
        let points: Vec<f64> = (0..40 * d)
            .map(|i| ((i * 17 + 5) % 23) as f64 / 23.0)
            .collect();
        let centroids: Vec<f64> = (0..4 * d)
            .map(|i| ((i * 7 + 3) % 11) as f64 / 11.0)
            .collect();
        let tuned = dir(&points, &centroids, d);
        let plain = straightforward_dir(&points, &centroids, d).unwrap();
        for (a, b) in tuned.iter().zip(&plain) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
        }
        // Each entry is gradient ÷ Hessian diagonal: against finite differences.
        let grad = retrograd::grad(|c| cost(&points, c, d), &centroids);
        assert_matches_fd(|c| cost(&points, c, d), &centroids, &grad, 1e-6);
    }
}
