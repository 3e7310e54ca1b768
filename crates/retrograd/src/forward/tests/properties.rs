//! Property tests: at random points of their smooth domains, first derivatives (and second
//! derivatives through nested duals) match central finite differences.

use super::*;
use proptest::prelude::*;
use std::f64::consts::PI;

/// Smooth unary functions with an interval kept away from singularities and kinks.
#[rustfmt::skip]
const SMOOTH: &[(&str, Step, f64, f64)] = &[
    ("abs", Step::Relative, 0.01, 100.0),
    ("abs", Step::Relative, -100.0, -0.01),
    ("recip", Step::Relative, 0.1, 100.0),
    ("recip", Step::Relative, -100.0, -0.1),
    ("sqrt", Step::Relative, 0.05, 1e3),
    ("cbrt", Step::Relative, 0.05, 1e3),
    ("cbrt", Step::Relative, -1e3, -0.05),
    ("exp", Step::Relative, -30.0, 30.0),
    ("exp2", Step::Relative, -30.0, 30.0),
    ("exp_m1", Step::Relative, -30.0, 30.0),
    ("ln", Step::Relative, 0.05, 1e3),
    ("log2", Step::Relative, 0.05, 1e3),
    ("log10", Step::Relative, 0.05, 1e3),
    ("ln_1p", Step::Relative, -0.95, 1e3),
    ("to_degrees", Step::Relative, -100.0, 100.0),
    ("to_radians", Step::Relative, -100.0, 100.0),
    ("sin", Step::Fixed, -10.0, 10.0),
    ("cos", Step::Fixed, -10.0, 10.0),
    ("sin_cos.0", Step::Fixed, -10.0, 10.0),
    ("sin_cos.1", Step::Fixed, -10.0, 10.0),
    ("tan", Step::Fixed, -1.45, 1.45),
    ("asin", Step::Fixed, -0.95, 0.95),
    ("acos", Step::Fixed, -0.95, 0.95),
    ("atan", Step::Relative, -50.0, 50.0),
    ("sinh", Step::Fixed, -10.0, 10.0),
    ("cosh", Step::Fixed, -10.0, 10.0),
    ("tanh", Step::Fixed, -10.0, 10.0),
    ("asinh", Step::Relative, -50.0, 50.0),
    ("acosh", Step::Relative, 1.05, 50.0),
    ("atanh", Step::Fixed, -0.95, 0.95),
    ("erf", Step::Fixed, -4.0, 4.0),
    ("erfc", Step::Fixed, -4.0, 4.0),
    ("powi(3)", Step::Relative, -10.0, 10.0),
    ("powi(-2)", Step::Relative, 0.1, 10.0),
];

/// A smooth function and a point `lo + u·(hi − lo)` of its interval.
fn smooth_case() -> impl Strategy<Value = (&'static str, Step, f64)> {
    (0..SMOOTH.len(), 0.0..=1.0_f64).prop_map(|(i, u)| {
        let (name, step, lo, hi) = SMOOTH[i];
        (name, step, lo + u * (hi - lo))
    })
}

/// A point at distance 0.1 to 10 from the origin, in any direction.
fn off_origin() -> impl Strategy<Value = (f64, f64)> {
    (0.1..10.0_f64, -PI..PI).prop_map(|(r, angle)| (r * angle.cos(), r * angle.sin()))
}

/// A number whose magnitude lies in `[lo, hi]`, of either sign.
fn magnitude(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    (lo..=hi, any::<bool>()).prop_map(|(m, negative)| if negative { -m } else { m })
}

/// Checks both partials of `name` at `(x, z)` against central differences.
fn check_partials(name: &str, x: f64, z: f64) {
    let (_, [dx, dz]) = forward_binary(name, x, z);
    let step = Step::Relative;
    let expected_dx = central_difference(|x| binary(name, x, z), x, step);
    let expected_dz = central_difference(|z| binary(name, x, z), z, step);
    assert_close(dx, expected_dx, &format!("∂{name}/∂x at ({x}, {z})"));
    assert_close(dz, expected_dz, &format!("∂{name}/∂z at ({x}, {z})"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn smooth_unary_derivatives_match_finite_differences((name, step, x) in smooth_case()) {
        let (value, derivative) = forward_unary(name, x);
        assert_same(value, unary(name, x), name);
        let expected = central_difference(|x| unary(name, x), x, step);
        assert_close(derivative, expected, &format!("{name}'({x})"));
    }

    #[test]
    fn smooth_unary_second_derivatives_match_finite_differences(
        (name, step, x) in smooth_case()
    ) {
        let expected = central_difference(|x| forward_unary(name, x).1, x, step);
        assert_close(second_derivative(name, x), expected, &format!("{name}''({x})"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn arithmetic_partials(x in -10.0..10.0_f64, z in magnitude(0.1, 10.0)) {
        for name in ["add", "sub", "mul", "div"] {
            check_partials(name, x, z);
        }
    }

    #[test]
    fn powf_partials(x in 0.1..10.0_f64, p in -3.0..3.0_f64) {
        check_partials("powf", x, p);
    }

    #[test]
    fn log_partials(x in 0.1..100.0_f64, base in 1.5..10.0_f64) {
        check_partials("log", x, base);
    }

    #[test]
    fn hypot_partials((x, z) in off_origin()) {
        check_partials("hypot", x, z);
    }

    #[test]
    fn atan2_partials((y, x) in off_origin()) {
        // Finite differences cannot straddle the branch cut (y = 0, x < 0).
        prop_assume!(y.abs() > 1e-3 || x > 0.0);
        check_partials("atan2", y, x);
    }

    #[test]
    fn max_and_min_select_one_argument(x in -10.0..10.0_f64, z in -10.0..10.0_f64) {
        prop_assume!(x != z);
        let (value, [dx, dz]) = forward_binary("max", x, z);
        prop_assert_eq!(value, x.max(z));
        prop_assert_eq!((dx, dz), if x > z { (1.0, 0.0) } else { (0.0, 1.0) });
        let (value, [dx, dz]) = forward_binary("min", x, z);
        prop_assert_eq!(value, x.min(z));
        prop_assert_eq!((dx, dz), if x < z { (1.0, 0.0) } else { (0.0, 1.0) });
    }

    #[test]
    fn gradient_of_a_generic_function_matches_jvp(
        a in -2.0..2.0_f64, b in -2.0..2.0_f64, c in 0.5..3.0_f64,
    ) {
        // The three-direction gradient equals three one-direction JVPs.
        let f = |x: &[Dual<f64, 3>]| (x[0] * x[1]).sin() + x[2].ln() * x[0].exp();
        let x = [Dual::variable(a, 0), Dual::variable(b, 1), Dual::variable(c, 2)];
        let gradient = f(&x).tangent;
        for (i, &g) in gradient.iter().enumerate() {
            let mut v = [0.0; 3];
            v[i] = 1.0;
            let (_, jv) = crate::forward::jvp(
                |x| vec![(x[0] * x[1]).sin() + x[2].ln() * x[0].exp()],
                &[a, b, c],
                &v,
            )
            .unwrap();
            prop_assert_eq!(g, jv[0]);
        }
    }
}
