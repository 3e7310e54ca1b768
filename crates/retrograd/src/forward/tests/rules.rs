//! Every derivative rule against central finite differences, at ordinary, negative and
//! large points; and every rule differentiated once more through nested duals.

use super::*;

#[test]
fn unary_values_match_f64() {
    for &(name, _, points) in UNARY {
        for &x in points {
            let (value, _) = forward_unary(name, x);
            assert_same(value, unary(name, x), &format!("{name}({x}) value"));
        }
    }
}

#[test]
fn unary_derivatives_match_finite_differences() {
    for &(name, step, points) in UNARY {
        for &x in points {
            let (_, derivative) = forward_unary(name, x);
            let expected = central_difference(|x| unary(name, x), x, step);
            assert_close(derivative, expected, &format!("{name}'({x})"));
        }
    }
}

#[test]
fn binary_values_match_f64() {
    for &(name, _, points) in BINARY {
        for &(x, z) in points {
            let (value, _) = forward_binary(name, x, z);
            assert_same(
                value,
                binary(name, x, z),
                &format!("{name}({x}, {z}) value"),
            );
        }
    }
}

#[test]
fn binary_partials_match_finite_differences() {
    for &(name, step, points) in BINARY {
        for &(x, z) in points {
            let (_, [dx, dz]) = forward_binary(name, x, z);
            let expected_dx = central_difference(|x| binary(name, x, z), x, step);
            let expected_dz = central_difference(|z| binary(name, x, z), z, step);
            assert_close(dx, expected_dx, &format!("∂{name}/∂x at ({x}, {z})"));
            assert_close(dz, expected_dz, &format!("∂{name}/∂z at ({x}, {z})"));
        }
    }
}

#[test]
fn mul_add_partials_match_finite_differences() {
    let (x, a, b) = (1.5, -2.0, 0.25);
    let y = Dual::<f64, 3>::variable(x, 0).mul_add(Dual::variable(a, 1), Dual::variable(b, 2));
    assert_same(y.value, x.mul_add(a, b), "mul_add value");
    let step = Step::Relative;
    assert_close(
        y.tangent[0],
        central_difference(|x| x.mul_add(a, b), x, step),
        "∂/∂x",
    );
    assert_close(
        y.tangent[1],
        central_difference(|a| x.mul_add(a, b), a, step),
        "∂/∂a",
    );
    assert_close(
        y.tangent[2],
        central_difference(|b| x.mul_add(a, b), b, step),
        "∂/∂b",
    );
}

#[test]
fn scalar_operands_match_dual_operands() {
    let x = Dual::<f64>::variable(1.75, 0);
    let s = -0.5;
    let k = Dual::constant(s);
    for (got, expected, what) in [
        (x + s, x + k, "x + s"),
        (x - s, x - k, "x - s"),
        (x * s, x * k, "x * s"),
        (x / s, x / k, "x / s"),
        (x % s, x % k, "x % s"),
        (s + x, k + x, "s + x"),
        (s - x, k - x, "s - x"),
        (s * x, k * x, "s * x"),
        (s / x, k / x, "s / x"),
        (s % x, k % x, "s % x"),
    ] {
        assert_same(got.value, expected.value, what);
        assert_close(got.tangent[0], expected.tangent[0], what);
    }
}

/// The rules are written with differentiable operations of `T`, so nesting differentiates
/// them again: the second derivative must match a finite difference of the first.
#[test]
fn second_derivatives_match_finite_differences_of_first() {
    for &(name, step, points) in UNARY {
        for &x in points {
            let second = second_derivative(name, x);
            let expected = central_difference(|x| forward_unary(name, x).1, x, step);
            assert_close(second, expected, &format!("{name}''({x})"));
        }
    }
}

#[test]
fn mixed_partials_of_binary_functions_match_finite_differences() {
    for &(name, step, points) in BINARY {
        for &(x, z) in points {
            // outer direction: x; inner directions: x and z.
            let xs = Dual::new(Dual::<f64, 2>::variable(x, 0), [Dual::constant(1.0)]);
            let zs = Dual::new(Dual::<f64, 2>::variable(z, 1), [Dual::constant(0.0)]);
            let hessian_row = binary(name, xs, zs).tangent[0].tangent;
            let dxx = central_difference(|x| forward_binary(name, x, z).1[0], x, step);
            let dxz = central_difference(|x| forward_binary(name, x, z).1[1], x, step);
            assert_close(hessian_row[0], dxx, &format!("∂²{name}/∂x² at ({x}, {z})"));
            assert_close(hessian_row[1], dxz, &format!("∂²{name}/∂x∂z at ({x}, {z})"));
        }
    }
}
