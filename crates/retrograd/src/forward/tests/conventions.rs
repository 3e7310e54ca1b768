//! The derivative conventions at kinks, jumps, domain edges and NaN, one test per row of
//! the table in the module documentation.

use super::*;

fn d(name: &str, x: f64) -> f64 {
    forward_unary(name, x).1
}

fn partials(name: &str, x: f64, z: f64) -> [f64; 2] {
    forward_binary(name, x, z).1
}

#[test]
fn abs_has_derivative_zero_at_zero() {
    assert_same(d("abs", 0.0), 0.0, "abs'(0)");
    assert_same(d("abs", -0.0), 0.0, "abs'(-0)");
    assert_same(d("abs", -2.0), -1.0, "abs'(-2)");
}

#[test]
fn piecewise_constant_functions_have_derivative_zero_even_at_jumps() {
    for name in ["signum", "floor", "ceil", "round", "trunc"] {
        for x in [0.0, -0.0, 2.0, -3.0, 0.5, -2.5, 1e300] {
            assert_same(d(name, x), 0.0, &format!("{name}'({x})"));
        }
    }
    for x in [0.0, 2.0, -3.0, 0.5, 1e300] {
        assert_same(d("fract", x), 1.0, &format!("fract'({x})"));
    }
}

#[test]
fn roots_have_infinite_derivative_at_zero() {
    for name in ["sqrt", "cbrt"] {
        assert_same(d(name, 0.0), f64::INFINITY, &format!("{name}'(0)"));
        assert_same(d(name, -0.0), f64::INFINITY, &format!("{name}'(-0)"));
    }
    assert!(d("sqrt", -1.0).is_nan(), "sqrt'(-1) is NaN");
    assert_same(d("cbrt", -8.0), 1.0 / 12.0, "cbrt'(-8)");
}

#[test]
fn logarithms_have_infinite_derivative_at_zero() {
    for name in ["ln", "log2", "log10"] {
        assert_same(d(name, 0.0), f64::INFINITY, &format!("{name}'(0)"));
        assert_same(d(name, -0.0), f64::INFINITY, &format!("{name}'(-0)"));
        assert!(
            d(name, -1.0).is_nan(),
            "{name}'(-1) is NaN: the value is NaN"
        );
    }
    assert_same(d("ln_1p", -1.0), f64::INFINITY, "ln_1p'(-1)");
    assert_same(
        partials("log", 0.0, 2.0)[0],
        f64::INFINITY,
        "∂log(x, 2)/∂x at 0",
    );
}

#[test]
fn max_and_min_give_the_derivative_to_the_selected_argument() {
    assert_eq!(partials("max", 3.0, 1.0), [1.0, 0.0]);
    assert_eq!(partials("max", 1.0, 3.0), [0.0, 1.0]);
    assert_eq!(partials("min", 3.0, 1.0), [0.0, 1.0]);
    assert_eq!(partials("min", 1.0, 3.0), [1.0, 0.0]);
}

#[test]
fn max_and_min_split_ties() {
    assert_eq!(partials("max", 2.0, 2.0), [0.5, 0.5]);
    assert_eq!(partials("min", 2.0, 2.0), [0.5, 0.5]);
    assert_eq!(partials("max", 0.0, -0.0), [0.5, 0.5]);
    assert_eq!(partials("abs_sub", 2.0, 2.0), [0.5, -0.5]);
    assert_eq!(partials("abs_sub", 1.0, 2.0), [0.0, 0.0]);
}

#[test]
fn max_and_min_follow_the_argument_f64_picks_past_a_nan() {
    let nan = f64::NAN;
    for name in ["max", "min"] {
        let (value, [dx, dz]) = forward_binary(name, nan, 2.0);
        assert_eq!((value, dx, dz), (2.0, 0.0, 1.0), "{name}(NaN, 2)");
        let (value, [dx, dz]) = forward_binary(name, 2.0, nan);
        assert_eq!((value, dx, dz), (2.0, 1.0, 0.0), "{name}(2, NaN)");
        let (value, [dx, dz]) = forward_binary(name, nan, nan);
        assert!(
            value.is_nan() && dx.is_nan() && dz.is_nan(),
            "{name}(NaN, NaN)"
        );
    }
}

#[test]
fn clamp_passes_the_derivative_to_x_on_the_bounds() {
    let clamp = |x: f64| {
        let y =
            Dual::<f64, 3>::variable(x, 0).clamp(Dual::variable(-1.0, 1), Dual::variable(2.0, 2));
        (y.value, y.tangent)
    };
    assert_eq!(clamp(0.5), (0.5, [1.0, 0.0, 0.0]));
    assert_eq!(clamp(-1.0), (-1.0, [1.0, 0.0, 0.0]));
    assert_eq!(clamp(2.0), (2.0, [1.0, 0.0, 0.0]));
    assert_eq!(clamp(-3.0), (-1.0, [0.0, 1.0, 0.0]));
    assert_eq!(clamp(5.0), (2.0, [0.0, 0.0, 1.0]));
    let (value, tangent) = clamp(f64::NAN);
    assert!(value.is_nan() && tangent[0].is_nan(), "clamp(NaN)");
}

#[test]
fn hypot_and_atan2_have_zero_derivative_at_the_origin() {
    assert_eq!(forward_binary("hypot", 0.0, 0.0), (0.0, [0.0, 0.0]));
    assert_eq!(forward_binary("atan2", 0.0, 0.0), (0.0, [0.0, 0.0]));
    assert_eq!(forward_binary("hypot", -0.0, 0.0).1, [0.0, 0.0]);
    assert_eq!(forward_binary("atan2", 0.0, -0.0).1, [0.0, 0.0]);
    // Tiny arguments whose squares underflow still get the right partials.
    let [dy, dx] = partials("atan2", 1e-200, 1e-200);
    assert_close(dy, 0.5e200, "∂atan2/∂y near the origin");
    assert_close(dx, -0.5e200, "∂atan2/∂x near the origin");
}

#[test]
fn powf_conventions() {
    // ∂/∂p is 0 where x^p == 0, instead of 0 · ln 0 = NaN.
    assert_eq!(forward_binary("powf", 0.0, 2.0), (0.0, [0.0, 0.0]));
    assert_eq!(partials("powf", 0.0, 1.0), [1.0, 0.0]);
    assert_same(
        partials("powf", 0.0, 0.5)[0],
        f64::INFINITY,
        "∂(x^0.5)/∂x at 0",
    );
    // ∂/∂x is 0 at x = p = 0, instead of 0 · 0^(-1) = NaN.
    assert_eq!(forward_binary("powf", 0.0, 0.0).1[0], 0.0);
    // x^0 is flat in x everywhere.
    assert_eq!(partials("powf", 3.0, 0.0)[0], 0.0);
    // A negative base with an integer exponent: fine in x, undefined in p.
    let [dx, dp] = partials("powf", -2.0, 3.0);
    assert_eq!(dx, 12.0);
    assert!(dp.is_nan(), "∂((-2)^p)/∂p is NaN");
    // ... but a constant exponent keeps its zero tangent clean.
    let y = Dual::<f64>::variable(-2.0, 0).powf(Dual::constant(3.0));
    assert_eq!(y.tangent, [12.0]);
}

#[test]
fn powi_zero_is_flat_everywhere() {
    for x in [0.0, -0.0, 2.0, -3.0, f64::INFINITY] {
        assert_eq!(forward_unary("powi(0)", x), (1.0, 0.0), "powi(x, 0) at {x}");
    }
    assert_eq!(d("powi(1)", 0.0), 1.0);
    assert_same(d("powi(-2)", 0.0), f64::NEG_INFINITY, "powi(x, -2)' at 0+");
    let y = Dual::<f64>::variable(2.0, 0).powi(i32::MIN);
    assert_eq!((y.value, y.tangent[0]), (0.0, -0.0));
}

#[test]
fn rem_is_linear_between_its_jumps() {
    assert_eq!(forward_binary("rem", 7.5, 2.0), (1.5, [1.0, -3.0]));
    assert_eq!(forward_binary("rem", -7.5, 2.0), (-1.5, [1.0, 3.0]));
    let (value, [dx, dz]) = forward_binary("rem", 1.0, 0.0);
    assert!(
        value.is_nan() && dx.is_nan() && dz.is_nan(),
        "x % 0 is NaN throughout"
    );
}

#[test]
fn copysign_has_derivative_plus_or_minus_one() {
    assert_eq!(forward_unary("copysign(+1)", -2.0), (2.0, -1.0));
    assert_eq!(forward_unary("copysign(-1)", -2.0), (-2.0, 1.0));
    let y = Dual::<f64, 2>::variable(3.0, 0).copysign(Dual::variable(-1.0, 1));
    assert_eq!((y.value, y.tangent), (-3.0, [-1.0, 0.0]));
}

#[test]
fn nan_in_gives_nan_out_for_every_unary_function() {
    for &(name, _, _) in UNARY {
        let (value, derivative) = forward_unary(name, f64::NAN);
        if name != "powi(0)" {
            assert!(value.is_nan(), "{name}(NaN) value is {value}");
        }
        assert!(derivative.is_nan(), "{name}'(NaN) is {derivative}");
        let second = second_derivative(name, f64::NAN);
        assert!(second.is_nan(), "{name}''(NaN) is {second}");
    }
}

#[test]
fn nan_values_of_binary_functions_have_nan_partials() {
    let nan = f64::NAN;
    for &(name, _, _) in BINARY {
        if ["max", "min", "add", "sub"].contains(&name) {
            continue; // max and min pass over a NaN; + and − have constant partials
        }
        for (x, z) in [(nan, 2.0), (2.0, nan)] {
            let (value, [dx, dz]) = forward_binary(name, x, z);
            if value.is_nan() {
                assert!(
                    dx.is_nan() && dz.is_nan(),
                    "{name}({x}, {z}): partials {dx}, {dz}"
                );
            }
        }
    }
    let (value, [dx, dz]) = forward_binary("div", 0.0, 0.0);
    assert!(value.is_nan() && dx.is_nan() && dz.is_nan(), "0/0");
}

#[test]
fn a_zero_tangent_is_not_polluted_by_an_infinite_local_derivative() {
    // f(x, y) = √x + y at x = 0: ∂f/∂x = ∞ but ∂f/∂y = 1, not NaN.
    let x = Dual::<f64, 2>::variable(0.0, 0);
    let y = Dual::<f64, 2>::variable(5.0, 1);
    let f = x.sqrt() + y;
    assert_eq!(f.tangent, [f64::INFINITY, 1.0]);
    // The same for a constant ∞ multiplied into a variable.
    let g = Dual::<f64, 2>::constant(f64::INFINITY) * y + x.ln() * 0.0;
    assert_eq!(g.tangent[1], f64::INFINITY);
    assert!(
        g.tangent[0].is_nan(),
        "0 · ∞ in a direction that does depend on x"
    );
}

#[test]
fn large_and_infinite_arguments() {
    assert_same(d("exp", 700.0), 700.0_f64.exp(), "exp'(700)");
    assert_same(
        d("exp", 710.0),
        f64::INFINITY,
        "exp'(710) overflows like exp",
    );
    assert_same(d("tanh", 400.0), 0.0, "tanh'(400)");
    assert_same(d("atan", f64::INFINITY), 0.0, "atan'(∞)");
    assert_same(d("recip", f64::INFINITY), -0.0, "recip'(∞)");
    assert_same(d("sqrt", 1e300), 0.5e-150, "sqrt'(1e300)");
    assert_same(d("erf", 30.0), 0.0, "erf'(30)");
    assert_same(d("erfc", -30.0), -0.0, "erfc'(-30)");
}
