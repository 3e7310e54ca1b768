//! The `grad` pipeline against central finite differences: for every operator and every
//! function, the reverse-mode gradient matches differences of the `f64` evaluator, and the
//! forward-over-reverse Hessian matches differences of the gradient.

use retrograd_cli::formula::{functions, Formula};
use retrograd_cli::grad::Derivatives;

/// Central difference of `f` along coordinate `i` at `x`.
fn central_difference(f: impl Fn(&[f64]) -> f64, x: &[f64], i: usize, h: f64) -> f64 {
    let (mut plus, mut minus) = (x.to_vec(), x.to_vec());
    plus[i] += h;
    minus[i] -= h;
    (f(&plus) - f(&minus)) / (2.0 * h)
}

fn assert_near(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tolerance * expected.abs().max(1.0),
        "{what}: {actual} vs finite difference {expected}"
    );
}

/// Checks gradient and Hessian of `source` (over x and y, in that order) at (x, y).
fn check(source: &str, point: [f64; 2]) {
    let formula = Formula::parse(&format!("0*(x + y) + {source}")).unwrap();
    let derivatives = Derivatives::compute(&formula, &point, true);
    let hessian = derivatives.hessian.as_ref().unwrap();
    assert_eq!(derivatives.value, formula.eval(&point), "{source}");
    for i in 0..2 {
        let fd = central_difference(|x| formula.eval(x), &point, i, 1e-6);
        assert_near(
            derivatives.gradient[i],
            fd,
            1e-6,
            &format!("{source}: d/d{i}"),
        );
        for (j, &entry) in hessian[i].iter().enumerate() {
            let gradient_j = |x: &[f64]| Derivatives::compute(&formula, x, false).gradient[j];
            let fd = central_difference(gradient_j, &point, i, 1e-5);
            assert_near(entry, fd, 1e-5, &format!("{source}: H[{i}][{j}]"));
        }
        // Rows come from separate sweeps: symmetric up to rounding.
        assert_near(
            hessian[0][1],
            hessian[1][0],
            1e-12,
            &format!("{source}: symmetry"),
        );
    }
}

#[test]
fn operators() {
    for source in [
        "x + y",
        "x - y",
        "x * y",
        "x / y",
        "x ^ y",
        "x ^ 3",
        "x ^ -2",
        "-x ^ 2",
        "2 ^ -x",
        "(x - y) ^ 2 / (x + 1)",
        "e ^ (x*y) - pi*x",
    ] {
        check(source, [0.9, 0.8]);
    }
    // An integer power of a negative base has derivatives; powf would give NaN.
    check("x^3 * y", [-1.5, 0.5]);
}

#[test]
fn every_function() {
    // Arguments chosen inside every domain and away from every kink at (0.9, 0.8):
    // a = 0.43, b = 0.72.
    let (a, b) = ("(0.3*x + 0.2*y)", "(x*y)");
    for (name, function) in functions::FUNCTIONS {
        let source = match (name, function.arity()) {
            (&"acosh", _) => format!("acosh(1 + {a})"),
            (&"floor" | &"ceil" | &"round" | &"trunc", _) => format!("{name}(3*{a})*x"),
            (_, 1) => format!("{name}({a})"),
            (_, 2) => format!("{name}({a}, {b})"),
            (_, _) => format!("{name}({a}, {b}, x*x)"),
        };
        check(&source, [0.9, 0.8]);
    }
    check("log(x)", [0.9, 0.8]);
    check("powi(x*y, -3)", [0.9, 0.8]);
    check("abs(x - y) + signum(y - x)*x", [0.9, 0.8]);
}

#[test]
fn issue_example() {
    check("sin(x)*y^2 + atan2(y, x)", [1.0, 2.0]);
}
