//! Every scalar derivative rule against central finite differences (property tests over
//! random inputs in each function's domain), and the documented conventions at kinks and
//! domain edges.

use proptest::prelude::*;
use retrograd::gradcheck::{gradcheck, Tolerance};
use retrograd::prelude::*;
use retrograd::{grad, Var};

type Unary = fn(Var) -> Var;
type Binary = fn(Var, Var) -> Var;
type BinaryDual = fn(Dual<f64, 2>, Dual<f64, 2>) -> Dual<f64, 2>;

fn tol() -> Tolerance {
    Tolerance {
        absolute: 1e-6,
        relative: 1e-5,
    }
}

/// (name, function, domain) of every unary rule.
fn unary_rules() -> Vec<(&'static str, Unary, (f64, f64))> {
    vec![
        ("neg", |x| -x, (-10.0, 10.0)),
        ("recip", |x| x.recip(), (0.1, 10.0)),
        ("sqrt", |x| x.sqrt(), (1e-3, 100.0)),
        ("cbrt", |x| x.cbrt(), (0.01, 100.0)),
        ("exp", |x| x.exp(), (-20.0, 20.0)),
        ("exp2", |x| x.exp2(), (-20.0, 20.0)),
        ("exp_m1", |x| x.exp_m1(), (-5.0, 5.0)),
        ("ln", |x| x.ln(), (1e-3, 1e3)),
        ("log2", |x| x.log2(), (1e-3, 1e3)),
        ("log10", |x| x.log10(), (1e-3, 1e3)),
        ("ln_1p", |x| x.ln_1p(), (-0.99, 100.0)),
        ("sin", |x| x.sin(), (-10.0, 10.0)),
        ("cos", |x| x.cos(), (-10.0, 10.0)),
        ("tan", |x| x.tan(), (-1.4, 1.4)),
        (
            "sin_cos",
            |x| {
                let (s, c) = x.sin_cos();
                s * 2.0 + c
            },
            (-10.0, 10.0),
        ),
        ("asin", |x| x.asin(), (-0.99, 0.99)),
        ("acos", |x| x.acos(), (-0.99, 0.99)),
        ("atan", |x| x.atan(), (-10.0, 10.0)),
        ("sinh", |x| x.sinh(), (-5.0, 5.0)),
        ("cosh", |x| x.cosh(), (-5.0, 5.0)),
        ("tanh", |x| x.tanh(), (-5.0, 5.0)),
        ("asinh", |x| x.asinh(), (-10.0, 10.0)),
        ("acosh", |x| x.acosh(), (1.01, 10.0)),
        ("atanh", |x| x.atanh(), (-0.99, 0.99)),
        ("abs", |x| x.abs(), (-10.0, 10.0)),
        ("powi3", |x| x.powi(3), (-5.0, 5.0)),
        ("powi-2", |x| x.powi(-2), (0.2, 5.0)),
        ("powf-const", |x| x.powf(Var::constant(2.5)), (0.1, 5.0)),
        ("erf", |x| x.erf(), (-3.0, 3.0)),
        ("erfc", |x| x.erfc(), (-3.0, 3.0)),
        ("to_degrees", |x| x.to_degrees(), (-3.0, 3.0)),
        ("to_radians", |x| x.to_radians(), (-300.0, 300.0)),
        ("fract", |x| x.fract(), (0.1, 0.9)),
        ("f64-left", |x| 2.0 - 3.0 / x + 4.0 * x, (0.5, 5.0)),
        (
            "compound",
            |x| {
                let mut y = x;
                y += 1.0;
                y *= x;
                y -= 2.0;
                y /= 3.0;
                y
            },
            (-5.0, 5.0),
        ),
    ]
}

/// (name, function, domain of both arguments) of every binary rule.
fn binary_rules() -> Vec<(&'static str, Binary, (f64, f64))> {
    vec![
        ("add", |a, b| a + b, (-10.0, 10.0)),
        ("sub", |a, b| a - b, (-10.0, 10.0)),
        ("mul", |a, b| a * b, (-10.0, 10.0)),
        ("div", |a, b| a / b, (0.5, 10.0)),
        ("rem", |a, b| a % b, (0.5, 10.0)),
        ("powf", |a, b| a.powf(b), (0.1, 4.0)),
        ("log", |a, b| a.log(b), (1.5, 10.0)),
        ("hypot", |a, b| a.hypot(b), (-10.0, 10.0)),
        ("atan2", |a, b| a.atan2(b), (-10.0, 10.0)),
        ("max", |a, b| a.max(b), (-10.0, 10.0)),
        ("min", |a, b| a.min(b), (-10.0, 10.0)),
        ("mul_add", |a, b| a.mul_add(b, a * b), (-5.0, 5.0)),
        (
            "abs_sub",
            |a, b| {
                #[allow(deprecated)]
                a.abs_sub(b)
            },
            (-10.0, 10.0),
        ),
    ]
}

fn check_unary(name: &str, f: Unary, x: f64) -> Result<(), TestCaseError> {
    gradcheck(|v| f(v[0]), &[x], tol())
        .map(|_| ())
        .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))
}

fn check_binary(name: &str, f: Binary, a: f64, b: f64) -> Result<(), TestCaseError> {
    gradcheck(|v| f(v[0], v[1]), &[a, b], tol())
        .map(|_| ())
        .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))
}

proptest! {
    #[test]
    fn unary_rules_match_finite_differences(t in 0.0..1.0f64) {
        for (name, f, (lo, hi)) in unary_rules() {
            check_unary(name, f, lo + t * (hi - lo))?;
        }
    }

    #[test]
    fn binary_rules_match_finite_differences(s in 0.0..1.0f64, t in 0.0..1.0f64) {
        for (name, f, (lo, hi)) in binary_rules() {
            let (a, b) = (lo + s * (hi - lo), lo + t * (hi - lo));
            // Kinks (max, min, abs_sub at a = b; rem at integer ratios) are tested below.
            if (a - b).abs() < 1e-3 || (name == "rem" && (a / b - (a / b).round()).abs() < 1e-3) {
                continue;
            }
            check_binary(name, f, a, b)?;
        }
    }

    #[test]
    fn generic_code_runs_unchanged(x in proptest::collection::vec(-2.0..2.0f64, 1..8)) {
        // Written against num_traits::Float only, as existing code would be.
        fn energy<T: Float>(x: &[T]) -> T {
            let mut e = T::zero();
            for w in x.windows(2) {
                let d = w[1] - w[0];
                e = e + d * d + (w[0] * w[1]).sin();
            }
            e + x[0].exp()
        }
        let g = gradcheck(energy, &x, tol()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(g.len(), x.len());
    }

    #[test]
    fn statement_level_helpers_equal_per_operation_recording(x in proptest::collection::vec(0.1..2.0f64, 2..12)) {
        let n = x.len() / 2 * 2;
        let x = &x[..n];
        let per_op = grad(|v| {
            let mut s = Var::constant(0.0);
            for c in v.chunks(2) { s += c[0].sin() * c[1] + (c[0] * c[1]).exp(); }
            s + v.iter().map(|&a| a * a).fold(Var::constant(0.0), |p, q| p + q).sqrt()
        }, x);
        let fused = grad(|v| {
            retrograd::sum_map_chunks(v, |[a, b]| a.sin() * b + (a * b).exp()) + retrograd::norm(v)
        }, x);
        for (a, b) in per_op.iter().zip(&fused) {
            prop_assert!((a - b).abs() <= 1e-12 * (1.0 + a.abs()));
        }
        // A linear form with data weights, against dot with constant variables and by hand.
        let w: Vec<f64> = x.iter().map(|v| 1.0 - v).collect();
        let f = |v: &[Var]| retrograd::weighted_sum(&w, v) * retrograd::sum(v);
        let g = |v: &[Var]| {
            let c: Vec<Var> = w.iter().map(|&a| Var::constant(a)).collect();
            retrograd::dot(&c, v) * retrograd::sum(v)
        };
        let (lin, s) = (x.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>(), x.iter().sum::<f64>());
        for ((a, b), wi) in grad(f, x).iter().zip(grad(g, x)).zip(&w) {
            prop_assert!((a - b).abs() <= 1e-12 * (1.0 + a.abs()));
            prop_assert!((a - (wi * s + lin)).abs() <= 1e-12 * (1.0 + a.abs()));
        }
    }
}

fn d(f: Unary, x: f64) -> f64 {
    grad(|v| f(v[0]), &[x])[0]
}

fn d2(f: Binary, a: f64, b: f64) -> Vec<f64> {
    grad(|v| f(v[0], v[1]), &[a, b])
}

#[test]
fn conventions_at_kinks() {
    assert_eq!(d(|x| x.abs(), 0.0), 0.0);
    assert_eq!(d(|x| x.abs(), -2.0), -1.0);
    for f in [
        |x: Var| x.floor(),
        |x: Var| x.ceil(),
        |x: Var| x.round(),
        |x: Var| x.trunc(),
        |x: Var| x.signum(),
    ] {
        assert_eq!(d(f, 1.5), 0.0);
        assert_eq!(d(f, -0.0), 0.0);
    }
    assert_eq!(d2(|a, b| a.max(b), 1.0, 1.0), vec![0.5, 0.5]);
    assert_eq!(d2(|a, b| a.min(b), 1.0, 1.0), vec![0.5, 0.5]);
    assert_eq!(d2(|a, b| a.max(b), 2.0, 1.0), vec![1.0, 0.0]);
    assert_eq!(d2(|a, b| a.min(b), 2.0, 1.0), vec![0.0, 1.0]);
    assert_eq!(d2(|a, b| a.max(b), f64::NAN, 1.0), vec![0.0, 1.0]);
    assert_eq!(d2(|a, b| a.hypot(b), 0.0, 0.0), vec![0.0, 0.0]);
    assert_eq!(d2(|a, b| a.atan2(b), 0.0, 0.0), vec![0.0, 0.0]);
    assert_eq!(d2(|a, b| a.powf(b), 0.0, 2.0), vec![0.0, 0.0]);
    assert_eq!(d(|x| x.powi(0), 0.0), 0.0);
    assert_eq!(d2(|a, b| a.copysign(b), 2.0, -1.0), vec![-1.0, 0.0]);
    #[allow(deprecated)]
    let abs_sub = d2(|a, b| a.abs_sub(b), 1.0, 1.0);
    assert_eq!(abs_sub, vec![0.5, -0.5]);
    assert_eq!(d2(|a, b| a.powf(b), 0.0, 0.0), vec![0.0, f64::NEG_INFINITY]); // 0^p jumps at p = 0
}

#[test]
fn conventions_at_domain_edges() {
    assert_eq!(d(|x| x.sqrt(), 0.0), f64::INFINITY);
    assert_eq!(d(|x| x.sqrt(), -0.0), f64::INFINITY);
    assert_eq!(d(|x| x.ln(), -0.0), f64::INFINITY);
    assert_eq!(d(|x| x.log10(), -0.0), f64::INFINITY);
    assert_eq!(d(|x| x.cbrt(), 0.0), f64::INFINITY);
    assert_eq!(d(|x| x.ln(), 0.0), f64::INFINITY);
    assert_eq!(d(|x| x.asin(), 1.0), f64::INFINITY);
    assert_eq!(d(|x| x.acos(), -1.0), f64::NEG_INFINITY);
    assert_eq!(d(|x| x.acosh(), 1.0), f64::INFINITY);
    assert_eq!(d(|x| x.atanh(), 1.0), f64::INFINITY);
    assert!(d(|x| x.ln(), -1.0).is_nan());
    assert!(d(|x| x.atanh(), 2.0).is_nan());
    assert!(d(|x| x.sqrt(), -1.0).is_nan());
}

#[test]
fn nan_in_gives_nan_out_and_unused_paths_stay_finite() {
    for (name, f, _) in unary_rules() {
        if ["neg", "f64-left", "compound"].contains(&name) {
            continue; // arithmetic: the NaN value propagates, the partials are constants
        }
        assert!(d(f, f64::NAN).is_nan(), "{name}");
    }
    // sqrt'(0) = ∞ on a path multiplied by zero: skipped, not ∞·0 = NaN.
    assert_eq!(d(|x| x.sqrt() * 0.0 + x, 0.0), 1.0);
    // A huge input overflows the value; the derivative follows the formula.
    assert_eq!(d(|x| x.exp(), 1000.0), f64::INFINITY);
    assert_eq!(d(|x| x.tanh(), 1e300), 0.0);
}

#[test]
fn closed_forms() {
    let (x, y) = (1.0_f64, 2.0_f64);
    let g = grad(|v| v[0].sin() * v[1] * v[1] + v[1].atan2(v[0]), &[x, y]);
    let r = x * x + y * y;
    assert!((g[0] - (x.cos() * y * y - y / r)).abs() < 1e-14);
    assert!((g[1] - (2.0 * x.sin() * y + x / r)).abs() < 1e-14);
    let g = grad(|v| v[0].erf(), &[0.0]);
    assert!((g[0] - 2.0 / std::f64::consts::PI.sqrt()).abs() < 1e-15);
}

#[test]
fn comparisons_look_at_values() {
    let g = grad(
        |v| if v[0] > v[1] { v[0] * 2.0 } else { v[1] * 3.0 },
        &[1.0, 0.5],
    );
    assert_eq!(g, vec![2.0, 0.0]);
    let (a, b) = (Var::constant(1.0), Var::constant(2.0));
    assert!(a < b && a == 1.0 && b > 1.5);
}

/// Reverse mode (`Var`) and forward mode (`Dual`) follow one set of conventions.
#[test]
fn reverse_and_forward_modes_agree_everywhere() {
    use retrograd::forward::derivative;
    let points = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        2.0,
        -3.0,
        1e300,
        -1e-300,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    macro_rules! same {
        ($($name:ident),*) => {$(
            for &x in &points {
                let r = grad(|v| v[0].$name(), &[x])[0];
                let f = derivative(|d| d.$name(), x);
                assert!(r == f || (r.is_nan() && f.is_nan()), "{}({x:e}): Var {r:e}, Dual {f:e}", stringify!($name));
            }
        )*};
    }
    same!(
        floor, ceil, round, trunc, fract, abs, signum, recip, sqrt, cbrt, exp, exp2, exp_m1, ln,
        log2, log10, ln_1p, sin, cos, tan, asin, acos, atan, sinh, cosh, tanh, asinh, acosh, atanh,
        erf, erfc, to_degrees, to_radians
    );
    for &a in &points {
        for &b in &points {
            let pairs: [(&str, Binary, BinaryDual); 7] = [
                ("powf", |a, b| a.powf(b), |a, b| a.powf(b)),
                ("max", |a, b| a.max(b), |a, b| a.max(b)),
                ("min", |a, b| a.min(b), |a, b| a.min(b)),
                ("hypot", |a, b| a.hypot(b), |a, b| a.hypot(b)),
                ("atan2", |a, b| a.atan2(b), |a, b| a.atan2(b)),
                ("mul", |a, b| a * b, |a, b| a * b),
                ("div", |a, b| a / b, |a, b| a / b),
            ];
            for (name, fr, ff) in pairs {
                let r = grad(|v| fr(v[0], v[1]), &[a, b]);
                let f = ff(Dual::variable(a, 0), Dual::variable(b, 1)).tangent;
                for k in 0..2 {
                    assert!(
                        r[k] == f[k] || (r[k].is_nan() && f[k].is_nan()),
                        "{name}({a}, {b}): Var {r:?}, Dual {f:?}"
                    );
                }
            }
        }
    }
}
