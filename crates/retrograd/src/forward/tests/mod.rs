//! Tests of forward mode: every rule against central finite differences, the conventions at
//! kinks and domain edges, property tests, several directions, nesting and the public API.

mod api;
mod conventions;
mod properties;
mod rules;

use crate::{Dual, Real};
use num_traits::Float;

/// How the finite-difference step is chosen.
#[derive(Clone, Copy, Debug)]
pub(super) enum Step {
    /// `1e-4 · max(1, |x|)`: for functions whose features scale with `x`.
    Relative,
    /// `1e-4`: for periodic and piecewise-constant functions, whose features do not.
    Fixed,
}

impl Step {
    /// The step at `x`, rounded to a power of two so that `x ± h` and `x ± 2h` are exact.
    fn at(self, x: f64) -> f64 {
        let h = match self {
            Step::Relative => 1e-4 * x.abs().max(1.0),
            Step::Fixed => 1e-4,
        };
        h.log2().round().exp2()
    }
}

/// A finite-difference estimate of a derivative and a bound on its rounding error.
#[derive(Clone, Copy, Debug)]
pub(super) struct Estimate {
    pub value: f64,
    pub rounding: f64,
}

/// The fourth-order central difference `f'(x)`, truncation error `O(h⁴)`.
pub(super) fn central_difference(f: impl Fn(f64) -> f64, x: f64, step: Step) -> Estimate {
    let h = step.at(x);
    let [a, b, c, d] = [f(x - 2.0 * h), f(x - h), f(x + h), f(x + 2.0 * h)];
    let largest = a.abs().max(b.abs()).max(c.abs()).max(d.abs());
    Estimate {
        value: (a - 8.0 * b + 8.0 * c - d) / (12.0 * h),
        // each f carries a relative error of a few ε; the stencil's weights sum to 18/12h
        rounding: 4.0 * f64::EPSILON * largest * 18.0 / (12.0 * h),
    }
}

/// Asserts `|actual − expected| ≤ 1e-7 · max(|actual|, |expected|) + 1e-9 + rounding`.
#[track_caller]
pub(super) fn assert_close(actual: f64, expected: impl Into<Estimate>, what: &str) {
    let Estimate {
        value: expected,
        rounding,
    } = expected.into();
    let tolerance = 1e-7 * actual.abs().max(expected.abs()) + 1e-9 + rounding;
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: got {actual:e}, expected {expected:e} (difference {:e} > {tolerance:e})",
        (actual - expected).abs()
    );
}

/// An exact expected value.
impl From<f64> for Estimate {
    fn from(value: f64) -> Self {
        Estimate {
            value,
            rounding: 0.0,
        }
    }
}

/// Asserts that `actual` is `expected` exactly, NaN matching NaN and signed infinities
/// matching themselves.
#[track_caller]
pub(super) fn assert_same(actual: f64, expected: f64, what: &str) {
    assert!(
        actual == expected || (actual.is_nan() && expected.is_nan()),
        "{what}: got {actual:e}, expected {expected:e}"
    );
}

/// The unary functions under test, each with points where it is smooth, and the step
/// suited to it. Every `Float` and `Real` function of one argument appears here.
#[rustfmt::skip]
pub(super) const UNARY: &[(&str, Step, &[f64])] = &[
    ("floor",        Step::Fixed,    PIECEWISE_POINTS),
    ("ceil",         Step::Fixed,    PIECEWISE_POINTS),
    ("round",        Step::Fixed,    PIECEWISE_POINTS),
    ("trunc",        Step::Fixed,    PIECEWISE_POINTS),
    ("fract",        Step::Fixed,    PIECEWISE_POINTS),
    ("signum",       Step::Fixed,    PIECEWISE_POINTS),
    ("abs",          Step::Relative, &[-3.0, -0.5, 0.5, 1e8, -1e8]),
    ("recip",        Step::Relative, &[-3.0, -0.2, 0.2, 2.0, 1e10, -1e10]),
    ("sqrt",         Step::Relative, &[0.05, 0.5, 2.0, 1e12]),
    ("cbrt",         Step::Relative, &[-8.0, -0.05, 0.05, 3.0, 1e12, -1e12]),
    ("exp",          Step::Relative, &[-20.0, -1.0, 0.0, 0.5, 30.0]),
    ("exp2",         Step::Relative, &[-20.0, -1.0, 0.0, 0.5, 30.0]),
    ("exp_m1",       Step::Relative, &[-20.0, -1e-3, 0.0, 1.0, 30.0]),
    ("ln",           Step::Relative, &[0.05, 1.0, 7.0, 1e12]),
    ("log2",         Step::Relative, &[0.05, 1.0, 7.0, 1e12]),
    ("log10",        Step::Relative, &[0.05, 1.0, 7.0, 1e12]),
    ("ln_1p",        Step::Relative, &[-0.95, -0.5, 0.0, 3.0, 1e12]),
    ("to_degrees",   Step::Relative, &[-3.0, 0.0, 2.0, 1e6]),
    ("to_radians",   Step::Relative, &[-3.0, 0.0, 2.0, 1e6]),
    ("sin",          Step::Fixed,    &[-3.0, 0.0, 0.5, 2.0, 100.0]),
    ("cos",          Step::Fixed,    &[-3.0, 0.0, 0.5, 2.0, 100.0]),
    ("sin_cos.0",    Step::Fixed,    &[-3.0, 0.5, 100.0]),
    ("sin_cos.1",    Step::Fixed,    &[-3.0, 0.5, 100.0]),
    ("tan",          Step::Fixed,    &[-1.4, -0.5, 0.0, 0.7, 1.4, 100.0]),
    ("asin",         Step::Fixed,    &[-0.95, -0.3, 0.0, 0.6, 0.95]),
    ("acos",         Step::Fixed,    &[-0.95, -0.3, 0.0, 0.6, 0.95]),
    ("atan",         Step::Relative, &[-5.0, 0.0, 0.5, 1e6]),
    ("sinh",         Step::Fixed,    &[-5.0, 0.0, 0.5, 30.0]),
    ("cosh",         Step::Fixed,    &[-5.0, 0.0, 0.5, 30.0]),
    ("tanh",         Step::Fixed,    &[-5.0, 0.0, 0.5, 3.0]),
    ("asinh",        Step::Relative, &[-5.0, 0.0, 0.5, 1e8]),
    ("acosh",        Step::Relative, &[1.05, 2.0, 1e8]),
    ("atanh",        Step::Fixed,    &[-0.95, 0.0, 0.5, 0.95]),
    ("erf",          Step::Fixed,    &[-3.0, -0.5, 0.0, 0.5, 1.5, 3.0]),
    ("erfc",         Step::Fixed,    &[-3.0, -0.5, 0.0, 0.5, 1.5, 3.0]),
    ("powi(3)",      Step::Relative, &[-2.0, 0.0, 0.5, 1e4]),
    ("powi(-2)",     Step::Relative, &[-2.0, 0.3, 3.0, 1e4]),
    ("powi(1)",      Step::Relative, &[-2.0, 0.0, 3.0]),
    ("powi(0)",      Step::Relative, &[-2.0, 0.0, 3.0]),
    ("copysign(+1)", Step::Relative, &[-2.0, 0.5, 3.0]),
    ("copysign(-1)", Step::Relative, &[-2.0, 0.5, 3.0]),
    ("clamp(-1, 2)", Step::Relative, &[-3.0, 0.0, 1.5, 5.0]),
];

/// Points away from the integers and half-integers, small and large.
const PIECEWISE_POINTS: &[f64] = &[-2.7, -0.3, 0.4, 3.6, 1048576.25, -1048576.25];

/// Applies the unary function called `name` to `x`, for any [`Real`] type.
pub(super) fn unary<F: Real>(name: &str, x: F) -> F {
    let c = F::from_f64;
    match name {
        "floor" => x.floor(),
        "ceil" => x.ceil(),
        "round" => x.round(),
        "trunc" => x.trunc(),
        "fract" => x.fract(),
        "signum" => x.signum(),
        "abs" => x.abs(),
        "recip" => x.recip(),
        "sqrt" => x.sqrt(),
        "cbrt" => x.cbrt(),
        "exp" => x.exp(),
        "exp2" => x.exp2(),
        "exp_m1" => x.exp_m1(),
        "ln" => x.ln(),
        "log2" => x.log2(),
        "log10" => x.log10(),
        "ln_1p" => x.ln_1p(),
        "to_degrees" => x.to_degrees(),
        "to_radians" => x.to_radians(),
        "sin" => x.sin(),
        "cos" => x.cos(),
        "sin_cos.0" => x.sin_cos().0,
        "sin_cos.1" => x.sin_cos().1,
        "tan" => x.tan(),
        "asin" => x.asin(),
        "acos" => x.acos(),
        "atan" => x.atan(),
        "sinh" => x.sinh(),
        "cosh" => x.cosh(),
        "tanh" => x.tanh(),
        "asinh" => x.asinh(),
        "acosh" => x.acosh(),
        "atanh" => x.atanh(),
        "erf" => x.erf(),
        "erfc" => x.erfc(),
        "powi(3)" => x.powi(3),
        "powi(-2)" => x.powi(-2),
        "powi(1)" => x.powi(1),
        "powi(0)" => x.powi(0),
        "copysign(+1)" => x.copysign(c(1.0)),
        "copysign(-1)" => x.copysign(c(-1.0)),
        "clamp(-1, 2)" => x.clamp(c(-1.0), c(2.0)),
        _ => panic!("no unary function {name}"),
    }
}

/// Points `(x, z)` of a binary function.
type Points2 = &'static [(f64, f64)];

/// The binary functions under test, each with points `(x, z)` where it is smooth.
#[rustfmt::skip]
pub(super) const BINARY: &[(&str, Step, Points2)] = &[
    ("add",     Step::Relative, &[(1.5, -2.0), (0.0, 3.0), (1e6, 1e-3)]),
    ("sub",     Step::Relative, &[(1.5, -2.0), (0.0, 3.0), (1e6, 1e-3)]),
    ("mul",     Step::Relative, &[(1.5, -2.0), (0.0, 3.0), (1e6, 1e-3)]),
    ("div",     Step::Relative, &[(1.5, -2.0), (0.0, 3.0), (-4.0, 0.25)]),
    ("rem",     Step::Fixed,    &[(7.5, 2.0), (-7.5, 2.0), (5.3, -1.7)]),
    ("powf",    Step::Relative, &[(2.0, 3.0), (0.5, -1.5), (3.0, 0.5), (1.5, 0.0)]),
    ("log",     Step::Relative, &[(8.0, 2.0), (0.5, 10.0), (100.0, 0.5)]),
    ("max",     Step::Relative, &[(1.0, 2.0), (3.0, -1.0), (-1e6, 5.0)]),
    ("min",     Step::Relative, &[(1.0, 2.0), (3.0, -1.0), (-1e6, 5.0)]),
    ("abs_sub", Step::Relative, &[(3.0, 1.0), (1.0, 3.0)]),
    ("hypot",   Step::Relative, &[(3.0, 4.0), (-1.0, 0.5), (0.0, 2.0), (1e8, 1.0)]),
    // atan2(y, x), away from its branch cut y = 0, x < 0
    ("atan2",   Step::Relative, &[(1.0, 2.0), (-1.0, 0.5), (0.5, -2.0), (0.0, 2.0), (3.0, 0.0)]),
];

/// Applies the binary function called `name` to `(x, z)`, for any [`Real`] type.
pub(super) fn binary<F: Real>(name: &str, x: F, z: F) -> F {
    match name {
        "add" => x + z,
        "sub" => x - z,
        "mul" => x * z,
        "div" => x / z,
        "rem" => x % z,
        "powf" => x.powf(z),
        "log" => x.log(z),
        "max" => x.max(z),
        "min" => x.min(z),
        #[allow(deprecated)]
        "abs_sub" => x.abs_sub(z),
        "hypot" => x.hypot(z),
        "atan2" => x.atan2(z),
        _ => panic!("no binary function {name}"),
    }
}

/// The value and derivative of the unary function `name` at `x`, in forward mode.
pub(super) fn forward_unary(name: &str, x: f64) -> (f64, f64) {
    let y = unary(name, Dual::<f64>::variable(x, 0));
    (y.value, y.tangent[0])
}

/// The value and both partial derivatives of the binary function `name` at `(x, z)`.
pub(super) fn forward_binary(name: &str, x: f64, z: f64) -> (f64, [f64; 2]) {
    let y = binary(name, Dual::<f64, 2>::variable(x, 0), Dual::variable(z, 1));
    (y.value, y.tangent)
}

/// The second derivative of the unary function `name` at `x`, by nesting duals.
pub(super) fn second_derivative(name: &str, x: f64) -> f64 {
    let x = Dual::new(Dual::<f64>::variable(x, 0), [Dual::constant(1.0)]);
    unary(name, x).tangent[0].tangent[0]
}
