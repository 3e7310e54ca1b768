//! The public API: constructors, traits, several directions, nesting, generic code, and
//! the `jvp` and `derivative` functions.

use super::*;
use crate::forward::{derivative, jvp};
use num_traits::{FloatConst, Num, NumCast, One, ToPrimitive, Zero};

/// A generic function of several variables, written once for any `Float`:
/// the Rosenbrock function plus a transcendental term.
fn rosenbrock<T: Float>(x: &[T]) -> T {
    let one = T::one();
    let hundred = T::from(100.0).unwrap();
    let mut sum = T::zero();
    for w in x.windows(2) {
        sum = sum + hundred * (w[1] - w[0] * w[0]).powi(2) + (one - w[0]).powi(2);
    }
    sum + x[0].sin() * x[x.len() - 1].exp()
}

fn rosenbrock_gradient(x: &[f64; 3]) -> [f64; 3] {
    let [a, b, c] = *x;
    [
        -400.0 * a * (b - a * a) - 2.0 * (1.0 - a) + a.cos() * c.exp(),
        200.0 * (b - a * a) - 400.0 * b * (c - b * b) - 2.0 * (1.0 - b),
        200.0 * (c - b * b) + a.sin() * c.exp(),
    ]
}

#[test]
fn constructors() {
    let x: Dual<f64, 3> = Dual::variable(2.0, 2);
    assert_eq!((x.value, x.tangent), (2.0, [0.0, 0.0, 1.0]));
    let c: Dual<f64, 3> = Dual::constant(4.0);
    assert_eq!((c.value, c.tangent), (4.0, [0.0; 3]));
    assert!(c.is_constant() && !x.is_constant());
    assert_eq!(Dual::new(1.0, [2.0, 3.0]).into_parts(), (1.0, [2.0, 3.0]));
    assert_eq!(Dual::new(1.0, [2.0]).derivative(), 2.0);
    let d: Dual = Default::default();
    assert_eq!((d.value, d.tangent), (0.0, [0.0]));
}

#[test]
#[should_panic(expected = "direction 3 is out of range for a dual with 3 tangents")]
fn variable_out_of_range_panics() {
    let _ = Dual::<f64, 3>::variable(1.0, 3);
}

#[test]
fn gradient_in_three_directions_in_one_pass() {
    let point = [0.3, -0.7, 1.1];
    let x: Vec<Dual<f64, 3>> = point
        .iter()
        .enumerate()
        .map(|(i, &v)| Dual::variable(v, i))
        .collect();
    let y = rosenbrock(&x);
    assert_same(y.value, rosenbrock(&point), "value");
    let expected = rosenbrock_gradient(&point);
    for (i, (&got, &want)) in y.tangent.iter().zip(&expected).enumerate() {
        assert_close(got, want, &format!("∂f/∂x{i}"));
    }
}

#[test]
fn generic_function_differentiated_unchanged_by_jvp() {
    let point = [0.3, -0.7, 1.1];
    let v = [1.0, -2.0, 0.5];
    let (value, jv) = jvp(|x| vec![rosenbrock(x)], &point, &v).unwrap();
    let g = rosenbrock_gradient(&point);
    assert_same(value[0], rosenbrock(&point), "value");
    assert_close(jv[0], g[0] * v[0] + g[1] * v[1] + g[2] * v[2], "J·v");
}

#[test]
fn second_derivatives_by_nesting() {
    // f(x) = x³ sin x: f'' = 6x sin x + 6x² cos x − x³ sin x
    let f = |x: Dual<Dual<f64>>| x.powi(3) * x.sin();
    let x0: f64 = 0.8;
    let y = f(Dual::new(Dual::variable(x0, 0), [Dual::constant(1.0)]));
    let expected = 6.0 * x0 * x0.sin() + 6.0 * x0 * x0 * x0.cos() - x0.powi(3) * x0.sin();
    assert_close(y.tangent[0].tangent[0], expected, "f''");
    // The two first-derivative slots agree.
    assert_close(y.value.tangent[0], y.tangent[0].value, "f' twice");
}

#[test]
fn hessian_of_a_generic_function_by_nesting() {
    // Outer dual seeds direction i, inner dual seeds all three: row i of the Hessian.
    let point = [0.3, -0.7, 1.1];
    let mut hessian = [[0.0; 3]; 3];
    for (i, row) in hessian.iter_mut().enumerate() {
        let x: Vec<Dual<Dual<f64, 3>>> = point
            .iter()
            .enumerate()
            .map(|(j, &v)| {
                let seed = if i == j { 1.0 } else { 0.0 };
                Dual::new(Dual::variable(v, j), [Dual::constant(seed)])
            })
            .collect();
        *row = rosenbrock(&x).tangent[0].tangent;
    }
    for (i, row) in hessian.iter().enumerate() {
        for (j, &entry) in row.iter().enumerate() {
            assert_same(entry, hessian[j][i], "symmetric Hessian");
            let expected = central_difference(
                |t| {
                    let mut p = point;
                    p[j] = t;
                    rosenbrock_gradient(&p)[i]
                },
                point[j],
                Step::Relative,
            );
            assert_close(entry, expected, &format!("H[{i}][{j}]"));
        }
    }
}

#[test]
fn third_derivative_by_nesting_twice() {
    type D3 = Dual<Dual<Dual<f64>>>;
    let x0: f64 = 0.5;
    let x: D3 = Dual::new(
        Dual::new(Dual::variable(x0, 0), [Dual::constant(1.0)]),
        [Dual::constant(Dual::constant(1.0))],
    );
    let y = x.exp() * x.sin(); // (eˣ sin x)''' = 2eˣ (cos x − sin x)
    let third = y.tangent[0].tangent[0].tangent[0];
    assert_close(third, 2.0 * x0.exp() * (x0.cos() - x0.sin()), "f'''");
}

#[test]
fn derivative_and_jvp() {
    assert_close(
        derivative(|x| x.exp() * x, 1.0),
        2.0 * 1.0_f64.exp(),
        "derivative",
    );
    let (y, jv) = jvp(|x| vec![x[0] * x[1], x[0] / x[1]], &[3.0, 2.0], &[1.0, 1.0]).unwrap();
    assert_eq!(y, vec![6.0, 1.5]);
    assert_eq!(jv, vec![5.0, 0.5 - 0.75]);
    let (y, jv) = jvp(|_| vec![], &[], &[]).unwrap();
    assert!(y.is_empty() && jv.is_empty());
}

#[test]
fn jvp_length_mismatch_is_an_error() {
    let err = jvp(|x| x.to_vec(), &[1.0, 2.0], &[1.0, 0.0, 0.0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "jvp: the direction (one value per input): expected length 2, found 3"
    );
}

#[test]
fn compound_assignment() {
    let x = Dual::<f64, 2>::variable(3.0, 0);
    let y = Dual::<f64, 2>::variable(2.0, 1);
    let mut z = x;
    z += y;
    z -= 1.0;
    z *= y;
    z /= 2.0;
    z %= Dual::constant(100.0);
    z += 0.5;
    // z = ((x + y − 1) y) / 2 + 0.5
    assert_eq!(z.value, 4.5);
    assert_eq!(z.tangent, [1.0, (2.0 * 2.0 + 3.0 - 1.0) / 2.0]);
    let mut w = x;
    w -= y;
    w %= 0.75;
    w *= 2.0;
    w /= y;
    assert_eq!((w.value, w.tangent), (0.25, [1.0, -1.0 - 0.25 / 2.0]));
}

#[test]
fn scalars_on_the_left() {
    let x = Dual::<f64>::variable(2.0, 0);
    assert_eq!((1.0 + x).tangent, [1.0]);
    assert_eq!((1.0 - x).tangent, [-1.0]);
    assert_eq!((3.0 * x).tangent, [3.0]);
    assert_eq!((1.0 / x).tangent, [-0.25]);
    assert_eq!((5.0 % x).tangent, [-2.0]);
    let y = Dual::<f32>::variable(2.0, 0);
    assert_eq!((3.0_f32 * y - 1.0_f32 / y).tangent, [3.25]);
}

#[test]
fn comparisons_look_at_values_only() {
    let a = Dual::new(1.0, [5.0]);
    let b = Dual::new(1.0, [-5.0]);
    assert_eq!(a, b);
    assert_eq!(a.partial_cmp(&b), Some(std::cmp::Ordering::Equal));
    assert!(a == 1.0 && a < 2.0 && a > 0.0);
    assert!(Dual::<f64>::nan() != Dual::nan());
    assert_eq!(
        a.partial_cmp(&Dual::constant(0.0)),
        Some(std::cmp::Ordering::Greater)
    );
}

#[test]
fn num_traits_plumbing() {
    type D = Dual<f64, 2>;
    assert!(D::zero().is_zero() && !D::variable(0.0, 1).is_zero());
    assert!(D::one().is_one() && !D::variable(1.0, 0).is_one());
    assert_eq!(
        D::from_str_radix("-1.25", 10).unwrap().into_parts(),
        (-1.25, [0.0; 2])
    );
    assert!(D::from_str_radix("nope", 10).is_err());
    let c: D = NumCast::from(7_i64).unwrap();
    assert_eq!(c.into_parts(), (7.0, [0.0; 2]));
    let x = D::new(-2.7, [1.0, 1.0]);
    assert_eq!(
        (x.to_i32(), x.to_u8(), x.to_f64()),
        (Some(-2), None, Some(-2.7))
    );
    assert_eq!(D::PI().into_parts(), (std::f64::consts::PI, [0.0; 2]));
    assert_eq!(D::TAU().value, std::f64::consts::TAU);
    assert_eq!(D::LOG2_10().value, std::f64::consts::LOG2_10);
    assert_eq!(D::epsilon().value, f64::EPSILON);
    assert_eq!(D::from_f64(0.5).into_parts(), (0.5, [0.0; 2]));
    assert_eq!(
        Real::value(Dual::new(Dual::new(0.25, [1.0]), [Dual::constant(2.0)])),
        0.25
    );
    assert_eq!(x.integer_decode(), (-2.7_f64).integer_decode());
    assert!(x.is_sign_negative() && x.is_normal() && !x.is_nan() && x.is_finite());
}

#[test]
fn sums_and_products() {
    let xs = [
        Dual::<f64, 2>::variable(2.0, 0),
        Dual::variable(3.0, 1),
        Dual::constant(4.0),
    ];
    let s: Dual<f64, 2> = xs.iter().sum();
    assert_eq!(s.into_parts(), (9.0, [1.0, 1.0]));
    let p: Dual<f64, 2> = xs.into_iter().product();
    assert_eq!(p.into_parts(), (24.0, [12.0, 8.0]));
}

#[test]
fn display() {
    assert_eq!(Dual::new(1.5, [-2.0]).to_string(), "1.5 + -2ε");
    assert_eq!(
        format!("{:.2}", Dual::new(1.0, [0.5, 0.25])),
        "1.00 + [0.50, 0.25]ε"
    );
}

#[test]
fn real_generic_code_runs_on_duals() {
    fn gaussian_cdf<T: Real>(x: T) -> T {
        T::from_f64(0.5) * (T::one() + (x / T::SQRT_2()).erf())
    }
    let x0: f64 = 0.3;
    let density = (-x0 * x0 / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    assert_close(derivative(gaussian_cdf, x0), density, "Φ'");
    let x = Dual::new(Dual::<f64>::variable(x0, 0), [Dual::constant(1.0)]);
    assert_close(gaussian_cdf(x).tangent[0].tangent[0], -x0 * density, "Φ''");
}
