//! `ba`: bundle adjustment (ADBench): reprojection and weight errors of `p` observations
//! of `m` points by `n` cameras, and the sparse Jacobian, in the reference's encoding.

use super::{input_with_runs, unknown, Style};
use crate::json::{Object, ToJson};
use crate::protocol::Evaluated;
use num_traits::Float;
use retrograd::Dual;

input_with_runs! {
    /// The `ba` input: one camera, point, weight and feature, repeated.
    pub struct Input {
        /// Cameras.
        pub n: usize,
        /// Points.
        pub m: usize,
        /// Observations.
        pub p: usize,
        /// One camera: rotation (3), center (3), focal length, principal point (2),
        /// radial distortion (2).
        pub cam: Vec<f64>,
        /// One point.
        pub x: Vec<f64>,
        /// One weight.
        pub w: f64,
        /// One feature.
        pub feat: Vec<f64>,
    }
}

/// Parameters per camera.
pub const NCAM: usize = 11;

/// The expanded problem.
pub struct Problem {
    /// Cameras, points, observations.
    pub n: usize,
    /// Points.
    pub m: usize,
    /// Observations.
    pub p: usize,
    /// `n × 11` cameras.
    pub cams: Vec<f64>,
    /// `m × 3` points.
    pub x: Vec<f64>,
    /// `p` weights.
    pub w: Vec<f64>,
    /// `p × 2` (camera, point) indices.
    pub obs: Vec<usize>,
    /// `p × 2` features.
    pub feats: Vec<f64>,
}

impl Problem {
    /// Repeats the input's camera, point, weight and feature as the reference does.
    pub fn from_input(i: &Input) -> Result<Self, String> {
        if i.cam.len() != NCAM || i.x.len() != 3 || i.feat.len() != 2 || i.n == 0 || i.m == 0 {
            return Err("bad sizes".into());
        }
        let obs = (0..i.p).flat_map(|k| [k % i.n, k % i.m]).collect();
        Ok(Problem {
            n: i.n,
            m: i.m,
            p: i.p,
            cams: i.cam.repeat(i.n),
            x: i.x.repeat(i.m),
            w: vec![i.w; i.p],
            obs,
            feats: i.feat.repeat(i.p),
        })
    }
}

fn cross<T: Float>(a: &[T; 3], b: &[T; 3]) -> [T; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn rodrigues_rotate_point<T: Float>(rot: &[T], pt: &[T; 3]) -> [T; 3] {
    let sqtheta = rot[0] * rot[0] + rot[1] * rot[1] + rot[2] * rot[2];
    if sqtheta != T::zero() {
        let theta = sqtheta.sqrt();
        let (costheta, sintheta) = (theta.cos(), theta.sin());
        let theta_inverse = T::one() / theta;
        let w = [
            rot[0] * theta_inverse,
            rot[1] * theta_inverse,
            rot[2] * theta_inverse,
        ];
        let w_cross_pt = cross(&w, pt);
        let tmp = (w[0] * pt[0] + w[1] * pt[1] + w[2] * pt[2]) * (T::one() - costheta);
        std::array::from_fn(|i| pt[i] * costheta + w_cross_pt[i] * sintheta + w[i] * tmp)
    } else {
        let r = [rot[0], rot[1], rot[2]];
        let c = cross(&r, pt);
        std::array::from_fn(|i| pt[i] + c[i])
    }
}

/// The point `x` in the frame of the camera with rotation `rot` (Rodrigues) and center
/// `center`.
fn camera_frame<T: Float>(rot: &[T], center: &[T], x: &[T]) -> [T; 3] {
    let xo = [x[0] - center[0], x[1] - center[1], x[2] - center[2]];
    rodrigues_rotate_point(rot, &xo)
}

/// The weighted error of the projection of `xcam` (a point in the camera's frame) with
/// focal length, principal point and radial distortion `intr` (5 parameters).
fn projection_error<T: Float>(xcam: &[T; 3], intr: &[T], w: T, feat: &[f64]) -> [T; 2] {
    let mut proj = [xcam[0] / xcam[2], xcam[1] / xcam[2]];
    let rsq = proj[0] * proj[0] + proj[1] * proj[1];
    let l = T::one() + intr[3] * rsq + intr[4] * rsq * rsq;
    proj = [proj[0] * l, proj[1] * l];
    proj = [proj[0] * intr[0] + intr[1], proj[1] * intr[0] + intr[2]];
    let f = |v: f64| T::from(v).unwrap();
    [w * (proj[0] - f(feat[0])), w * (proj[1] - f(feat[1]))]
}

/// The weighted reprojection error of one observation (`cam`: 11 parameters, `x`: 3).
pub fn reproj_error<T: Float>(cam: &[T], x: &[T], w: T, feat: &[f64]) -> [T; 2] {
    let xcam = camera_frame(&cam[..3], &cam[3..6], x);
    projection_error(&xcam, &cam[6..], w, feat)
}

/// `1 − w²`.
pub fn weight_error<T: Float>(w: T) -> T {
    T::one() - w * w
}

/// The objective: `2p` reprojection errors and `p` weight errors.
pub fn objective(pb: &Problem) -> (Vec<f64>, Vec<f64>) {
    let mut reproj = Vec::with_capacity(2 * pb.p);
    for i in 0..pb.p {
        let (c, pt) = (pb.obs[2 * i], pb.obs[2 * i + 1]);
        reproj.extend(reproj_error(
            &pb.cams[c * NCAM..][..NCAM],
            &pb.x[pt * 3..][..3],
            pb.w[i],
            &pb.feats[2 * i..][..2],
        ));
    }
    let w_err = pb.w.iter().map(|&w| weight_error(w)).collect();
    (reproj, w_err)
}

/// The Jacobian in compressed-row form, as the reference builds it.
pub struct SparseMat {
    /// Row start offsets (rows + 1 entries).
    pub rows: Vec<i64>,
    /// Column of each entry.
    pub cols: Vec<i64>,
    /// Value of each entry.
    pub vals: Vec<f64>,
}

/// The Jacobian. Each observation's 2 × 15 block (11 camera parameters, 3 point
/// coordinates, 1 weight) comes from forward mode: the point in the camera frame on
/// `Dual<f64, 9>`, the projection on `Dual<f64, 15>`; each weight error's derivative from
/// one evaluation on `Dual<f64>`.
pub fn jacobian(pb: &Problem) -> SparseMat {
    let mut j = SparseMat {
        rows: Vec::new(),
        cols: Vec::new(),
        vals: Vec::new(),
    };
    jacobian_into(pb, &mut j);
    j
}

/// [`jacobian`] into the buffers of `j`, which keep their capacity across runs.
pub fn jacobian_into(pb: &Problem, j: &mut SparseMat) {
    let done = assemble(pb, j, |cam, x, w, feat| {
        Ok::<_, std::convert::Infallible>(block(cam, x, w, feat))
    });
    match done {
        Ok(()) => {}
        Err(never) => match never {},
    }
}

/// The straightforward Jacobian: each observation's 2 × 15 block is the plain
/// `retrograd::jacobian` of [`reproj_error`] at its 15 variables (one recording on a
/// fresh tape, swept once per output), assembled as [`jacobian`] does.
pub fn straightforward_jacobian_into(
    pb: &Problem,
    j: &mut SparseMat,
) -> Result<(), retrograd::Error> {
    assemble(pb, j, |cam, x, w, feat| {
        let mut z = [0.0; 15];
        z[..NCAM].copy_from_slice(cam);
        z[NCAM..NCAM + 3].copy_from_slice(x);
        z[14] = w;
        let rows = retrograd::jacobian(
            |z| reproj_error(&z[..NCAM], &z[NCAM..NCAM + 3], z[14], feat).to_vec(),
            &z,
        )?;
        Ok(std::array::from_fn(|r| std::array::from_fn(|c| rows[r][c])))
    })
}

/// One observation's 2 × 15 block of derivatives (camera, point, weight) by forward
/// mode: the point in the camera frame on `Dual<f64, 9>` (rotation, center, point), then
/// the projection on all 15 directions, the camera-frame point carrying its tangents to
/// where those variables are.
fn block(cam: &[f64], x: &[f64], w: f64, feat: &[f64]) -> [[f64; 15]; 2] {
    let var9 = |v: f64, k: usize| Dual::<f64, 9>::variable(v, k);
    let rot: [Dual<f64, 9>; 3] = std::array::from_fn(|k| var9(cam[k], k));
    let center: [Dual<f64, 9>; 3] = std::array::from_fn(|k| var9(cam[3 + k], 3 + k));
    let x: [Dual<f64, 9>; 3] = std::array::from_fn(|k| var9(x[k], 6 + k));
    let xcam = camera_frame(&rot, &center, &x).map(|v| {
        let mut t = [0.0; 15];
        t[..6].copy_from_slice(&v.tangent[..6]);
        t[NCAM..NCAM + 3].copy_from_slice(&v.tangent[6..]);
        Dual::new(v.value, t)
    });
    let intr: [Dual<f64, 15>; 5] = std::array::from_fn(|k| Dual::variable(cam[6 + k], 6 + k));
    let w = Dual::variable(w, 14);
    projection_error(&xcam, &intr, w, feat).map(|e| e.tangent)
}

/// The CSR Jacobian from each observation's 2 × 15 block (columns: the camera's 11
/// parameters, the point's 3 coordinates, the weight), given by `block(cam, x, w, feat)`,
/// then the weight errors' derivatives (forward mode on `Dual<f64>`).
fn assemble<E>(
    pb: &Problem,
    j: &mut SparseMat,
    mut block: impl FnMut(&[f64], &[f64], f64, &[f64]) -> Result<[[f64; 15]; 2], E>,
) -> Result<(), E> {
    let nnz = 2 * 15 * pb.p + pb.p;
    j.rows.clear();
    j.cols.clear();
    j.vals.clear();
    j.rows.reserve(3 * pb.p + 1);
    j.cols.reserve(nnz);
    j.vals.reserve(nnz);
    j.rows.push(0);
    let point_col = (NCAM * pb.n) as i64;
    let w_col = point_col + 3 * pb.m as i64;
    for i in 0..pb.p {
        let (c, pt) = (pb.obs[2 * i], pb.obs[2 * i + 1]);
        let cam = &pb.cams[c * NCAM..][..NCAM];
        let rows = block(cam, &pb.x[pt * 3..][..3], pb.w[i], &pb.feats[2 * i..][..2])?;
        for e in &rows {
            let last = *j.rows.last().unwrap();
            j.rows.push(last + 15);
            for k in 0..NCAM {
                j.cols.push((NCAM * c + k) as i64);
                j.vals.push(e[k]);
            }
            for k in 0..3 {
                j.cols.push(point_col + (3 * pt + k) as i64);
                j.vals.push(e[NCAM + k]);
            }
            j.cols.push(w_col + i as i64);
            j.vals.push(e[14]);
        }
    }
    for i in 0..pb.p {
        let d = retrograd::forward::derivative(weight_error, pb.w[i]);
        let last = *j.rows.last().unwrap();
        j.rows.push(last + 1);
        j.cols.push(w_col + i as i64);
        j.vals.push(d);
    }
    Ok(())
}

/// The first 30 entries and the last one, as the reference transmits.
fn abbreviated<T: Copy>(v: &[T]) -> Vec<T> {
    let mut out = v[..30.min(v.len())].to_vec();
    out.push(*v.last().unwrap());
    out
}

/// Evaluates `objective` or `jacobian`.
pub fn evaluate(function: &str, input: &str, style: Style) -> Result<Evaluated, String> {
    let input: Input = super::parse(input)?;
    let pb = Problem::from_input(&input)?;
    if pb.p == 0 {
        return Err("no observations".into());
    }
    match function {
        "objective" => {
            let ((reproj, w_err), timings) = crate::runs::repeat(input.runs(), || objective(&pb));
            let elements = reproj[..2].to_vec();
            let output = crate::json::to_vec(&Object(&[
                (
                    "reproj_error",
                    &Object(&[("elements", &elements), ("repeated", &pb.p)]) as &dyn ToJson,
                ),
                (
                    "w_err",
                    &Object(&[("element", &w_err[0]), ("repeated", &pb.p)]),
                ),
            ]))?;
            Ok(Evaluated { output, timings })
        }
        "jacobian" => super::timed_in_place(
            input.runs(),
            &mut (
                SparseMat {
                    rows: Vec::new(),
                    cols: Vec::new(),
                    vals: Vec::new(),
                },
                Ok(()),
            ),
            |(j, ok)| match style {
                Style::Tuned => jacobian_into(&pb, j),
                Style::Straightforward => *ok = straightforward_jacobian_into(&pb, j),
            },
            |(j, ok)| {
                ok.clone().map_err(|e| e.to_string())?;
                crate::json::to_vec(&Object(&[
                    ("rows", &abbreviated(&j.rows)),
                    ("cols", &abbreviated(&j.cols)),
                    ("vals", &abbreviated(&j.vals)),
                ]))
            },
        ),
        _ => unknown(function),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evals::testing::assert_matches_fd;

    #[test]
    fn jacobian_blocks_match_finite_differences() {
        let input = Input {
            n: 2,
            m: 3,
            p: 4,
            cam: vec![
                0.1, -0.2, 0.3, 0.5, -0.4, 0.2, 300.0, 10.0, -5.0, 1e-3, 2e-5,
            ],
            x: vec![1.0, 2.0, 8.0],
            w: 0.8,
            feat: vec![30.0, -20.0],
            min_runs: 1,
            min_seconds: 0.0,
        };
        let pb = Problem::from_input(&input).unwrap();
        let j = jacobian(&pb);
        assert_eq!(j.rows.len(), 3 * 4 + 1);
        // Rows 0 and 1 (the errors of observation 0) against finite differences.
        let mut z: Vec<f64> = input.cam.clone();
        z.extend(&input.x);
        z.push(input.w);
        for row in 0..2 {
            let f = |z: &[f64]| reproj_error(&z[..11], &z[11..14], z[14], &input.feat)[row];
            assert_matches_fd(f, &z, &j.vals[15 * row..15 * (row + 1)], 1e-6);
        }
        assert_eq!(j.cols[11], 22); // first point column: 11·n
        assert_eq!(*j.vals.last().unwrap(), -2.0 * 0.8);
        let mut plain = jacobian(&pb);
        straightforward_jacobian_into(&pb, &mut plain).unwrap();
        assert_eq!((&plain.rows, &plain.cols), (&j.rows, &j.cols));
        for (a, b) in j.vals.iter().zip(&plain.vals) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}
