//! `ht`: hand tracking (ADBench): the residuals between observed points and a skinned
//! hand model posed by 26 parameters `theta` (and, in the complicated variant, points
//! placed on triangles by barycentric `us`), and the dense Jacobian.

use super::{input_with_runs, unknown, Style};
use crate::json::{Rows, ToJson};
use crate::protocol::Evaluated;
use num_traits::Float;
use retrograd::{Dual, Var};
use serde::Deserialize;

/// The hand model.
#[derive(Clone, Debug, Deserialize)]
pub struct HtModel {
    /// Bone names (only their number is used).
    pub bone_names: Vec<String>,
    /// Parent of each bone, `-1` for the root; parents come first.
    pub parents: Vec<i64>,
    /// Per bone, a 4 × 4 row-major transform.
    pub base_relatives: Vec<Vec<Vec<f64>>>,
    /// Per bone, a 4 × 4 row-major transform.
    pub inverse_base_absolutes: Vec<Vec<Vec<f64>>>,
    /// Per vertex, homogeneous coordinates.
    pub base_positions: Vec<Vec<f64>>,
    /// Per vertex, the weight of each bone.
    pub weights: Vec<Vec<f64>>,
    /// Vertex indices of each triangle.
    pub triangles: Vec<Vec<usize>>,
    /// Whether to mirror the x coordinate.
    pub is_mirrored: bool,
}

/// The model and the observations.
#[derive(Clone, Debug, Deserialize)]
pub struct HtData {
    /// The model.
    pub model: HtModel,
    /// For each point, its vertex (simple) or triangle (complicated).
    pub correspondences: Vec<usize>,
    /// The observed points.
    pub points: Vec<Vec<f64>>,
}

input_with_runs! {
    /// The `ht` input.
    pub struct Input {
        /// The pose parameters.
        pub theta: Vec<f64>,
        /// Model and observations.
        pub data: HtData,
        /// Barycentric coordinates per point (complicated variant), or empty.
        #[serde(default)]
        pub us: Vec<Vec<f64>>,
    }
}

type M4 = [[f64; 4]; 4];

/// The model in fixed-size arrays, with each vertex's bone weights: all of them, or (tuned)
/// only the non-zero ones — 1.7 of 22 per vertex on average in GradBench's models.
pub struct Model {
    parents: Vec<i64>,
    base_relatives: Vec<M4>,
    inverse_base_absolutes: Vec<M4>,
    base_positions: Vec<[f64; 4]>,
    weights: Vec<Vec<(usize, f64)>>,
    triangles: Vec<[usize; 3]>,
    is_mirrored: bool,
}

fn m4(v: &[Vec<f64>]) -> Result<M4, String> {
    if v.len() != 4 || v.iter().any(|r| r.len() != 4) {
        return Err("a transform is not 4 × 4".into());
    }
    Ok(std::array::from_fn(|i| std::array::from_fn(|j| v[i][j])))
}

impl Model {
    fn new(m: &HtModel, skip_zero_weights: bool) -> Result<Self, String> {
        let nb = m.bone_names.len();
        if m.parents.len() != nb
            || m.base_relatives.len() != nb
            || m.inverse_base_absolutes.len() != nb
        {
            return Err("bone arrays differ in length".into());
        }
        if m.parents
            .iter()
            .enumerate()
            .any(|(i, &p)| p >= i as i64 || p < -1)
        {
            return Err("a bone's parent must come before it".into());
        }
        let weights = m
            .weights
            .iter()
            .map(|w| {
                w.iter()
                    .copied()
                    .enumerate()
                    .filter(|&(_, x)| x != 0.0 || !skip_zero_weights)
                    .collect()
            })
            .collect();
        Ok(Model {
            parents: m.parents.clone(),
            base_relatives: m
                .base_relatives
                .iter()
                .map(|b| m4(b))
                .collect::<Result<_, _>>()?,
            inverse_base_absolutes: m
                .inverse_base_absolutes
                .iter()
                .map(|b| m4(b))
                .collect::<Result<_, _>>()?,
            base_positions: m
                .base_positions
                .iter()
                .map(|p| {
                    if p.len() == 4 {
                        Ok([p[0], p[1], p[2], p[3]])
                    } else {
                        Err("a base position is not homogeneous".to_string())
                    }
                })
                .collect::<Result<_, _>>()?,
            weights,
            triangles: m
                .triangles
                .iter()
                .map(|t| {
                    if t.len() == 3 {
                        Ok([t[0], t[1], t[2]])
                    } else {
                        Err("a triangle has not 3 vertices".to_string())
                    }
                })
                .collect::<Result<_, _>>()?,
            is_mirrored: m.is_mirrored,
        })
    }
}

fn mul<T: Float>(a: &[[T; 4]; 4], b: &[[T; 4]; 4]) -> [[T; 4]; 4] {
    std::array::from_fn(|i| {
        std::array::from_fn(|k| {
            let mut s = a[i][0] * b[0][k];
            for j in 1..4 {
                s = s + a[i][j] * b[j][k];
            }
            s
        })
    })
}

fn lift<T: Float>(m: &M4) -> [[T; 4]; 4] {
    m.map(|r| r.map(|v| T::from(v).unwrap()))
}

/// `Rz·Ry·Rx` from the angles `(x, z, y)`.
fn euler_angles_to_rotation_matrix<T: Float>(xzy: [T; 3]) -> [[T; 3]; 3] {
    let (tx, ty, tz) = (xzy[0], xzy[2], xzy[1]);
    let (o, z) = (T::one(), T::zero());
    let rx = [[o, z, z], [z, tx.cos(), -tx.sin()], [z, tx.sin(), tx.cos()]];
    let ry = [[ty.cos(), z, ty.sin()], [z, o, z], [-ty.sin(), z, ty.cos()]];
    let rz = [[tz.cos(), -tz.sin(), z], [tz.sin(), tz.cos(), z], [z, z, o]];
    let m3 = |a: &[[T; 3]; 3], b: &[[T; 3]; 3]| -> [[T; 3]; 3] {
        std::array::from_fn(|i| {
            std::array::from_fn(|k| a[i][0] * b[0][k] + a[i][1] * b[1][k] + a[i][2] * b[2][k])
        })
    };
    m3(&m3(&rz, &ry), &rx)
}

fn angle_axis_to_rotation_matrix<T: Float>(a: [T; 3]) -> [[T; 3]; 3] {
    let norm = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
    let (o, z) = (T::one(), T::zero());
    if norm < T::from(1e-4).unwrap() {
        return [[o, z, z], [z, o, z], [z, z, o]];
    }
    let (x, y, w) = (a[0] / norm, a[1] / norm, a[2] / norm);
    let (s, c) = (norm.sin(), norm.cos());
    [
        [
            x * x + (o - x * x) * c,
            x * y * (o - c) - w * s,
            x * w * (o - c) + y * s,
        ],
        [
            x * y * (o - c) + w * s,
            y * y + (o - y * y) * c,
            y * w * (o - c) - x * s,
        ],
        [
            x * w * (o - c) - y * s,
            w * y * (o - c) + x * s,
            w * w + (o - w * w) * c,
        ],
    ]
}

/// The pose parameters, one column of 3 per entry: global rotation, scale (ones),
/// global translation, then per bone its Euler angles.
fn to_pose_params<T: Float>(theta: &[T], nbones: usize) -> Vec<[T; 3]> {
    let mut pp = vec![[T::zero(); 3]; nbones + 3];
    pp[0] = [theta[0], theta[1], theta[2]];
    pp[1] = [T::one(); 3];
    pp[2] = [theta[3], theta[4], theta[5]];
    let (mut it, mut ip) = (6, 5);
    for _finger in 0..5 {
        for i in 2..=4 {
            pp[ip][0] = theta[it];
            it += 1;
            if i == 2 {
                pp[ip][1] = theta[it];
                it += 1;
            }
            ip += 1;
        }
        ip += 1;
    }
    pp
}

/// The posed, skinned and globally transformed vertex positions.
pub fn vertex_positions<T: Float>(theta: &[T], model: &Model) -> Vec<[T; 3]> {
    let nb = model.parents.len();
    let pp = to_pose_params(theta, nb);
    let mut absolutes: Vec<[[T; 4]; 4]> = Vec::with_capacity(nb);
    for i in 0..nb {
        let r = euler_angles_to_rotation_matrix(pp[i + 3]);
        let mut tr = lift::<T>(&[
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]);
        for a in 0..3 {
            for b in 0..3 {
                tr[a][b] = r[a][b];
            }
        }
        let rel = mul(&lift(&model.base_relatives[i]), &tr);
        let abs = match model.parents[i] {
            -1 => rel,
            p => mul(&absolutes[p as usize], &rel),
        };
        absolutes.push(abs);
    }
    let transforms: Vec<[[T; 4]; 4]> = absolutes
        .iter()
        .zip(&model.inverse_base_absolutes)
        .map(|(a, inv)| mul(a, &lift(inv)))
        .collect();
    let mut rg = angle_axis_to_rotation_matrix(pp[0]);
    for row in &mut rg {
        for (i, v) in row.iter_mut().enumerate() {
            *v = *v * pp[1][i];
        }
    }
    let f = |v: f64| T::from(v).unwrap();
    model
        .base_positions
        .iter()
        .zip(&model.weights)
        .map(|(base, weights)| {
            // The tuned model holds no zero weights: those bones add exactly zero.
            let mut p = [T::zero(); 3];
            for &(b, w) in weights {
                let t = &transforms[b];
                for (j, pj) in p.iter_mut().enumerate() {
                    let mut cur = t[j][0] * f(base[0]);
                    for r in 1..4 {
                        cur = cur + t[j][r] * f(base[r]);
                    }
                    *pj = *pj + cur * f(w);
                }
            }
            if model.is_mirrored {
                p[0] = -p[0];
            }
            std::array::from_fn(|i| rg[i][0] * p[0] + rg[i][1] * p[1] + rg[i][2] * p[2] + pp[2][i])
        })
        .collect()
}

/// The problem: model, observations and parameters.
pub struct Problem {
    model: Model,
    theta: Vec<f64>,
    correspondences: Vec<usize>,
    points: Vec<[f64; 3]>,
    us: Vec<[f64; 2]>,
}

impl Problem {
    /// The problem of an input; `skip_zero_weights` drops the bones of weight zero from
    /// each vertex (they add exactly zero to its position).
    fn new(input: &Input, skip_zero_weights: bool) -> Result<Self, String> {
        let model = Model::new(&input.data.model, skip_zero_weights)?;
        let c = &input.data.correspondences;
        if input.theta.len() != 26
            || input.data.points.len() != c.len()
            || input.data.points.iter().any(|p| p.len() != 3)
        {
            return Err("theta must have 26 entries and each correspondence a 3-D point".into());
        }
        let complicated = !input.us.is_empty();
        if complicated && (input.us.len() != c.len() || input.us.iter().any(|u| u.len() != 2)) {
            return Err("us must hold two numbers per point".into());
        }
        let bound = if complicated {
            model.triangles.len()
        } else {
            model.base_positions.len()
        };
        if c.iter().any(|&i| i >= bound)
            || model
                .triangles
                .iter()
                .flatten()
                .any(|&v| v >= model.base_positions.len())
        {
            return Err("a correspondence or triangle is out of range".into());
        }
        Ok(Problem {
            theta: input.theta.clone(),
            correspondences: c.clone(),
            points: input
                .data
                .points
                .iter()
                .map(|p| [p[0], p[1], p[2]])
                .collect(),
            us: input.us.iter().map(|u| [u[0], u[1]]).collect(),
            model,
        })
    }
}

/// The residual of point `i`, on any number type for the model positions and (in the
/// complicated variant) its barycentric coordinates `u`.
fn residual<T: Float>(pb: &Problem, i: usize, pos: &[[T; 3]], u: Option<[T; 2]>) -> [T; 3] {
    let (c, pt) = (pb.correspondences[i], &pb.points[i]);
    std::array::from_fn(|j| {
        let target = match u {
            None => pos[c][j],
            Some([u0, u1]) => {
                let v = pb.model.triangles[c];
                u0 * pos[v[0]][j] + u1 * pos[v[1]][j] + (T::one() - u0 - u1) * pos[v[2]][j]
            }
        };
        T::from(pt[j]).unwrap() - target
    })
}

/// The `3 × points` residuals, on any number type for the model positions.
fn residuals<T: Float>(
    pb: &Problem,
    pos: &[[T; 3]],
    us: Option<&dyn Fn(usize) -> [T; 2]>,
    mut out: impl FnMut(usize, T),
) {
    for i in 0..pb.points.len() {
        for (j, e) in residual(pb, i, pos, us.map(|u| u(i)))
            .into_iter()
            .enumerate()
        {
            out(3 * i + j, e);
        }
    }
}

/// The objective: `3 × points` residuals.
pub fn objective(pb: &Problem) -> Vec<f64> {
    let pos = vertex_positions(&pb.theta, &pb.model);
    let mut err = vec![0.0; 3 * pb.points.len()];
    let us = |i: usize| pb.us[i];
    let u: Option<&dyn Fn(usize) -> [f64; 2]> = if pb.us.is_empty() { None } else { Some(&us) };
    residuals(pb, &pos, u, |k, e| err[k] = e);
    err
}

/// The dense Jacobian, row-major (`3·points` rows; columns `∂/∂u₀, ∂/∂u₁` of the row's own
/// point in the complicated variant, then the 26 of `theta`). The model is evaluated once
/// in forward mode on `Dual<f64, 26>` (one direction per `theta` entry); in the
/// complicated variant each residual is then evaluated on `Dual<f64, 28>`, its point's
/// `u₀, u₁` being the two extra directions.
pub fn jacobian(pb: &Problem) -> (Vec<f64>, usize) {
    let theta: Vec<Dual<f64, 26>> = pb
        .theta
        .iter()
        .enumerate()
        .map(|(i, &t)| Dual::variable(t, i))
        .collect();
    let pos = vertex_positions(&theta, &pb.model);
    let rows = 3 * pb.points.len();
    if pb.us.is_empty() {
        let mut jac = vec![0.0; rows * 26];
        residuals(pb, &pos, None, |k, e: Dual<f64, 26>| {
            jac[k * 26..(k + 1) * 26].copy_from_slice(&e.tangent)
        });
        (jac, 26)
    } else {
        let widen = |p: &Dual<f64, 26>| {
            let mut t = [0.0; 28];
            t[2..].copy_from_slice(&p.tangent);
            Dual::new(p.value, t)
        };
        let pos28: Vec<[Dual<f64, 28>; 3]> = pos.iter().map(|p| p.each_ref().map(widen)).collect();
        let us = |i: usize| {
            [
                Dual::variable(pb.us[i][0], 0),
                Dual::variable(pb.us[i][1], 1),
            ]
        };
        let mut jac = vec![0.0; rows * 28];
        residuals(pb, &pos28, Some(&us), |k, e: Dual<f64, 28>| {
            jac[k * 28..(k + 1) * 28].copy_from_slice(&e.tangent)
        });
        (jac, 28)
    }
}

/// The straightforward Jacobian (same layout as [`jacobian`]; build `pb` with every bone
/// weight kept). The `theta` columns are the plain `retrograd::jacobian` of the residuals
/// as a function of `theta` (the generic model recorded once on a tape, swept forward
/// once per `theta` entry, as `jacobian` chooses for 26 inputs and more outputs). In the
/// complicated variant, a point's residual depends on its own `u₀, u₁` alone: those two
/// columns are, point by point, the plain `retrograd::jacobian` of its residual as a
/// function of `u` at the model's vertex positions.
pub fn straightforward_jacobian(pb: &Problem) -> Result<(Vec<f64>, usize), retrograd::Error> {
    let rows = 3 * pb.points.len();
    let complicated = !pb.us.is_empty();
    let by_theta = retrograd::jacobian(
        |theta| {
            let pos = vertex_positions(theta, &pb.model);
            let mut r = vec![Var::constant(0.0); rows];
            let us = |i: usize| pb.us[i].map(Var::constant);
            let u: Option<&dyn Fn(usize) -> [Var; 2]> = if complicated { Some(&us) } else { None };
            residuals(pb, &pos, u, |k, e| r[k] = e);
            r
        },
        &pb.theta,
    )?;
    let cols = if complicated { 28 } else { 26 };
    let mut jac = vec![0.0; rows * cols];
    for (row, d) in jac.chunks_exact_mut(cols).zip(&by_theta) {
        row[cols - 26..].copy_from_slice(d);
    }
    if complicated {
        // The vertex positions as constants (values, no derivative).
        let pos: Vec<[Var; 3]> = vertex_positions(&pb.theta, &pb.model)
            .iter()
            .map(|p| p.map(Var::constant))
            .collect();
        for i in 0..pb.points.len() {
            let by_u = retrograd::jacobian(
                |u| residual(pb, i, &pos, Some([u[0], u[1]])).to_vec(),
                &pb.us[i],
            )?;
            for (j, d) in by_u.iter().enumerate() {
                jac[(3 * i + j) * cols..][..2].copy_from_slice(d);
            }
        }
    }
    Ok((jac, cols))
}

/// Evaluates `objective` or `jacobian`. In the straightforward style the model keeps its
/// zero bone weights, for the objective too.
pub fn evaluate(function: &str, input: &str, style: Style) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    let runs = input.runs();
    let pb = Problem::new(&input, style == Style::Tuned)?;
    drop(input);
    match function {
        "objective" => super::timed(runs, || objective(&pb)),
        "jacobian" => {
            let (result, timings) = crate::runs::repeat(runs, || match style {
                Style::Tuned => Ok(jacobian(&pb)),
                Style::Straightforward => straightforward_jacobian(&pb),
            });
            let (jac, cols) = result.map_err(|e| e.to_string())?;
            let output = crate::json::to_vec(&Rows { data: &jac, cols } as &dyn ToJson)?;
            Ok(Evaluated { output, timings })
        }
        _ => unknown(function),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(complicated: bool) -> Problem {
        problem_with(complicated, true)
    }

    fn problem_with(complicated: bool, skip_zero_weights: bool) -> Problem {
        let t = |a: f64| {
            vec![
                vec![1.0, 0.0, 0.0, a],
                vec![0.0, 1.0, 0.0, 0.5],
                vec![0.0, 0.0, 1.0, -a],
                vec![0.0, 0.0, 0.0, 1.0],
            ]
        };
        let nb = 4;
        let model = HtModel {
            bone_names: (0..nb).map(|i| format!("b{i}")).collect(),
            parents: vec![-1, 0, 1, 0],
            base_relatives: (0..nb).map(|i| t(0.1 * i as f64)).collect(),
            inverse_base_absolutes: (0..nb).map(|i| t(-0.2 * i as f64)).collect(),
            base_positions: (0..6)
                .map(|v| vec![0.3 * v as f64, 1.0 - 0.1 * v as f64, 0.2, 1.0])
                .collect(),
            weights: (0..6)
                .map(|v| {
                    (0..nb)
                        .map(|b| {
                            if (v + b) % 3 == 0 {
                                0.0
                            } else {
                                0.25 + 0.1 * b as f64
                            }
                        })
                        .collect()
                })
                .collect(),
            triangles: vec![vec![0, 1, 2], vec![3, 4, 5], vec![1, 3, 5]],
            is_mirrored: false,
        };
        // The pose parameters index bones up to 3 + 20 + ...: give the model 22 bones' worth.
        let mut model = model;
        while model.bone_names.len() < 22 {
            let i = model.bone_names.len();
            model.bone_names.push(format!("b{i}"));
            model.parents.push((i as i64) - 1);
            model.base_relatives.push(t(0.01 * i as f64));
            model.inverse_base_absolutes.push(t(-0.01 * i as f64));
            for w in &mut model.weights {
                w.push(if i % 5 == 0 { 0.05 } else { 0.0 });
            }
        }
        let n = 3;
        let input = Input {
            theta: (0..26)
                .map(|i| 0.1 + 0.05 * i as f64 * if i % 2 == 0 { 1.0 } else { -1.0 })
                .collect(),
            data: HtData {
                model,
                correspondences: if complicated {
                    vec![0, 2, 1]
                } else {
                    vec![5, 0, 3]
                },
                points: (0..n).map(|i| vec![0.1 * i as f64, 0.2, -0.3]).collect(),
            },
            us: if complicated {
                vec![vec![0.2, 0.3], vec![0.5, 0.1], vec![0.3, 0.3]]
            } else {
                vec![]
            },
            min_runs: 1,
            min_seconds: 0.0,
        };
        Problem::new(&input, skip_zero_weights).unwrap()
    }

    #[test]
    fn jacobian_matches_finite_differences() {
        for complicated in [false, true] {
            let mut pb = problem(complicated);
            let (jac, cols) = jacobian(&pb);
            let rows = 3 * pb.points.len();
            assert_eq!(jac.len(), rows * cols);
            let off = cols - 26;
            let theta0 = pb.theta.clone();
            for c in 0..26 {
                let h = 1e-6;
                pb.theta[c] = theta0[c] + h;
                let up = objective(&pb);
                pb.theta[c] = theta0[c] - h;
                let down = objective(&pb);
                pb.theta[c] = theta0[c];
                for r in 0..rows {
                    let fd = (up[r] - down[r]) / (2.0 * h);
                    assert!(
                        (fd - jac[r * cols + off + c]).abs() < 1e-6,
                        "row {r} col {c}: {fd} vs {}",
                        jac[r * cols + off + c]
                    );
                }
            }
            if complicated {
                let us0 = pb.us.clone();
                for i in 0..pb.us.len() {
                    for k in 0..2 {
                        let h = 1e-6;
                        pb.us[i][k] = us0[i][k] + h;
                        let up = objective(&pb);
                        pb.us[i][k] = us0[i][k] - h;
                        let down = objective(&pb);
                        pb.us[i][k] = us0[i][k];
                        for j in 0..3 {
                            let r = 3 * i + j;
                            let fd = (up[r] - down[r]) / (2.0 * h);
                            assert!((fd - jac[r * cols + k]).abs() < 1e-6);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn straightforward_equals_tuned_with_zero_weights_kept() {
        for complicated in [false, true] {
            let tuned = problem_with(complicated, true);
            let all = problem_with(complicated, false);
            let kept: usize = all.model.weights.iter().map(Vec::len).sum();
            let nonzero: usize = tuned.model.weights.iter().map(Vec::len).sum();
            assert!(kept > nonzero, "{kept} weights kept, {nonzero} non-zero");
            assert_eq!(objective(&tuned), objective(&all));
            let (a, cols) = jacobian(&tuned);
            let (b, plain_cols) = straightforward_jacobian(&all).unwrap();
            assert_eq!((cols, a.len()), (plain_cols, b.len()));
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
    }
}
