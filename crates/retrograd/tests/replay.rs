//! Replays of recorded functions against the tape, central differences and the guards.

use proptest::prelude::*;
use retrograd::prelude::*;
use retrograd::replay::{self, Recording, Replayed, Traced, Workspace};
use retrograd::Error;

/// Every operation of the rule tables, on inputs in (0.1, 0.9).
fn every_operation<T: Real>(x: &[T]) -> T {
    let (a, b, c) = (x[0], x[1], x[2]);
    let one = T::one();
    let unary = [
        a.floor(),
        a.ceil(),
        a.round(),
        a.trunc(),
        a.signum(),
        a.fract(),
        (a - b).abs(),
        a.recip(),
        a.sqrt(),
        a.cbrt(),
        a.exp(),
        a.exp2(),
        a.exp_m1(),
        a.ln(),
        a.log2(),
        a.log10(),
        a.ln_1p(),
        a.sin(),
        a.cos(),
        a.tan(),
        a.asin(),
        a.acos(),
        a.atan(),
        a.sinh(),
        a.cosh(),
        a.tanh(),
        a.asinh(),
        (a + one).acosh(),
        a.atanh(),
        a.to_degrees(),
        a.to_radians(),
        a.erf(),
        a.erfc(),
        -a,
        a.powi(3),
        a.powi(0),
        a.powi(-2),
    ];
    let binary = [
        a.powf(b),
        a.log(b + one),
        a.max(b),
        a.min(b),
        a.hypot(b),
        a.atan2(b),
        a.copysign(b - T::from_f64(0.5)),
        a + b,
        a - b,
        a * b,
        a / b,
        a % b,
        a.mul_add(b, c),
    ];
    let (s, co) = c.sin_cos();
    let mut total = s * co;
    for (k, t) in unary.iter().chain(&binary).enumerate() {
        total += *t * T::from_f64(1.0 + k as f64 / 10.0) * c;
    }
    total
}

/// The same function on the tape, for reference.
fn tape_gradient(f: impl Fn(&[Var]) -> Var, x: &[f64]) -> (f64, Vec<f64>) {
    retrograd::value_and_grad(f, x)
}

fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    let scale = a.abs().max(b.abs()).max(1.0);
    assert!(
        (a - b).abs() <= tol * scale || (a.is_nan() && b.is_nan()),
        "{what}: {a} vs {b}"
    );
}

/// The central difference of `f` at `x` in direction `i`, step 10⁻⁶.
fn central_difference<const N: usize>(f: impl Fn(&[f64]) -> f64, x: [f64; N], i: usize) -> f64 {
    let h = 1e-6;
    let (mut xp, mut xm) = (x, x);
    xp[i] += h;
    xm[i] -= h;
    (f(&xp) - f(&xm)) / (2.0 * h)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Recorded at one point, replayed at another: the value is bitwise the function's
    /// value there, the gradient the tape's up to rounding (the tape multiplies the
    /// partials of merged operations together as it records, the replay applies them one
    /// by one; over this function's ~50 operations the two orders differ by up to about
    /// 1e-13, relative).
    #[test]
    fn replay_matches_the_function_and_the_tape(
        at in prop::array::uniform3(0.1f64..0.9),
        x in prop::array::uniform3(0.1f64..0.9),
    ) {
        let rec = replay::record(&at, every_operation);
        let (y, g) = rec.gradient(&x).unwrap();
        prop_assert_eq!(y.to_bits(), every_operation(&x).to_bits());
        let (ty, tg) = tape_gradient(every_operation, &x);
        prop_assert_eq!(y.to_bits(), ty.to_bits());
        for (a, b) in g.iter().zip(&tg) {
            assert_close(*a, *b, 1e-12, "gradient");
        }
    }

    /// Hessian–vector products from the replay agree with the tape's Hessian (the gradient
    /// up to the rounding of merged partials, as above).
    #[test]
    fn replayed_hvp_matches_the_tape_hessian(
        x in prop::array::uniform3(0.1f64..0.9),
        v in prop::array::uniform3(-1.0f64..1.0),
    ) {
        let rec = replay::record(&[0.5, 0.5, 0.5], every_operation);
        let (g, hv) = rec.hvp(&x, &v).unwrap();
        let h = retrograd::hessian(every_operation, &x);
        let tg = tape_gradient(every_operation, &x).1;
        for i in 0..3 {
            assert_close(g[i], tg[i], 1e-12, "gradient");
            let expected: f64 = (0..3).map(|j| h[i][j] * v[j]).sum();
            assert_close(hv[i], expected, 1e-11, "H v");
        }
    }

    /// Replayed gradients of a loop-heavy function agree with central differences.
    #[test]
    fn replay_matches_central_differences(x in rk4_inputs()) {
        let f = |x: &[f64]| rk4_steps(x);
        let rec = replay::record(&[0.1, 0.2, 0.3, 0.4], rk4_steps);
        let (y, g) = rec.gradient(&x).unwrap();
        prop_assert_eq!(y.to_bits(), f(&x).to_bits());
        for (i, &gi) in g.iter().enumerate() {
            assert_close(gi, central_difference(f, x, i), 1e-6, "central difference");
        }
    }
}

/// A function with branches on its inputs and a loop whose trip count depends on them;
/// `path` receives the outcome of every comparison, in order (the guards a recording makes).
fn branchy<T: Real>(x: &[T], path: &mut Vec<bool>) -> T {
    let (a, b, c) = (x[0], x[1], x[2]);
    let p = a < b;
    path.push(p);
    let mut y = if p { a * b } else { (a - b).sin() };
    let q = c > T::zero();
    path.push(q);
    y += if q { c.sqrt() } else { -c * a };
    let mut t = a.abs() + T::from_f64(0.1);
    let mut k = 0;
    loop {
        let go = k < 6 && t < T::from_f64(2.0);
        if k < 6 {
            path.push(go);
        }
        if !go {
            break;
        }
        t = t * T::from_f64(1.5) + b * b;
        k += 1;
    }
    y + t * c
}

fn path_of(x: &[f64]) -> Vec<bool> {
    let mut path = Vec::new();
    branchy(x, &mut path);
    path
}

fn branchy_inputs() -> impl Strategy<Value = [f64; 3]> {
    prop::array::uniform3(-1.5f64..1.5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Recorded at one point and replayed at others: where every comparison comes out as
    /// it did when recording, the replay gives the function's value (bitwise) and the
    /// tape's gradient; where any differs, it is refused as a changed guard.
    #[test]
    fn replays_are_refused_exactly_where_a_branch_flips(
        at in branchy_inputs(),
        xs in prop::collection::vec(branchy_inputs(), 1..8),
    ) {
        let rec = replay::record(&at, |x| branchy(x, &mut Vec::new()));
        let recorded_path = path_of(&at);
        for x in &xs {
            match rec.gradient(x) {
                Ok((y, g)) => {
                    prop_assert_eq!(&path_of(x), &recorded_path);
                    let (ty, tg) = tape_gradient(|v| branchy(v, &mut Vec::new()), x);
                    prop_assert_eq!(y.to_bits(), ty.to_bits());
                    for (a, b) in g.iter().zip(&tg) {
                        assert_close(*a, *b, 1e-12, "gradient");
                    }
                }
                Err(Error::GuardChanged(_)) => prop_assert_ne!(&path_of(x), &recorded_path),
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }

    /// `Replayed` gives the tape's gradient at every point and records again exactly
    /// when the path of comparisons differs from that of its current recording.
    #[test]
    fn replayed_records_again_exactly_when_the_path_changes(
        xs in prop::collection::vec(branchy_inputs(), 1..12),
    ) {
        let mut f = Replayed::new(|x: &[Traced]| branchy(x, &mut Vec::new()));
        let mut current = path_of(&xs[0]);
        let mut recordings = 1;
        for x in &xs {
            let path = path_of(x);
            if path != current {
                recordings += 1;
                current = path;
            }
            let (y, g) = f.gradient(x).unwrap();
            let (ty, tg) = tape_gradient(|v| branchy(v, &mut Vec::new()), x);
            prop_assert_eq!(y.to_bits(), ty.to_bits());
            for (a, b) in g.iter().zip(&tg) {
                assert_close(*a, *b, 1e-12, "gradient");
            }
        }
        prop_assert_eq!(f.recordings(), recordings);
    }
}

/// Initial states in (−1, 1) and coefficients in [0, 1): with a negative damping
/// coefficient the quadratic term drives `v` to overflow within the twenty steps, where
/// central differences are meaningless.
fn rk4_inputs() -> impl Strategy<Value = [f64; 4]> {
    (-1.0f64..1.0, -1.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0).prop_map(|(u, v, k, c)| [u, v, k, c])
}

/// Twenty RK4 steps of a damped oscillator whose coefficients are inputs.
fn rk4_steps<T: Real>(x: &[T]) -> T {
    let (mut u, mut v) = (x[0], x[1]);
    let (k, c) = (x[2], x[3]);
    let h = T::from_f64(0.05);
    let half = T::from_f64(0.5);
    let rhs = |u: T, v: T| (v, -k * u - c * v * v.abs());
    for _ in 0..20 {
        let (a1, b1) = rhs(u, v);
        let (a2, b2) = rhs(u + half * h * a1, v + half * h * b1);
        let (a3, b3) = rhs(u + half * h * a2, v + half * h * b2);
        let (a4, b4) = rhs(u + h * a3, v + h * b3);
        let sixth = h / T::from_f64(6.0);
        u += sixth * (a1 + T::from_f64(2.0) * (a2 + a3) + a4);
        v += sixth * (b1 + T::from_f64(2.0) * (b2 + b3) + b4);
    }
    u * u + v * v
}

/// `√x` for `x > 0`, else `−x`, written with a branch and recorded at 1; and the line of
/// its comparison.
fn recorded_branch() -> (Recording, u32) {
    let line = line!() + 2;
    let rec = replay::record(&[1.0], |x| {
        if x[0] > Traced::zero() {
            x[0].sqrt()
        } else {
            -x[0]
        }
    });
    (rec, line)
}

#[test]
fn a_changed_branch_is_refused_naming_the_line() {
    let (rec, line) = recorded_branch();
    assert_eq!(rec.guards(), 1);
    assert_eq!(rec.gradient(&[4.0]).unwrap(), (2.0, vec![0.25]));
    let err = rec.gradient(&[-4.0]).unwrap_err();
    let Error::GuardChanged(message) = &err else {
        panic!("expected a changed guard, got {err:?}");
    };
    assert!(
        message.contains(&format!("tests/replay.rs:{line}")),
        "message should name the line of the comparison: {message}"
    );
    assert!(message.contains("`>`"), "{message}");
}

#[test]
fn tests_and_values_read_out_are_guards() {
    // A NaN check, a classification and a value read out each steer the code.
    let rec = replay::record(&[1.0, 2.0], |x| {
        let r = x[0] / x[1];
        let clean = if r.is_nan() { Traced::zero() } else { r };
        let scale = if x[1].value() > 1.5 { 2.0 } else { 3.0 };
        match x[0].classify() {
            std::num::FpCategory::Zero => clean,
            _ => clean * scale,
        }
    });
    assert_eq!(rec.guards(), 3);
    assert_eq!(rec.gradient(&[1.0, 2.0]).unwrap(), (1.0, vec![1.0, -0.5]));
    // The value read out changed: refused, even though the branch would be the same.
    let err = rec.eval(&[1.0, 4.0]).unwrap_err();
    assert!(err.to_string().contains("value read out"), "{err}");
    // NaN now: refused.
    let err = replay::record(&[1.0, 2.0], |x| {
        let r = x[0] / x[1];
        if r.is_nan() {
            Traced::zero()
        } else {
            r
        }
    })
    .eval(&[0.0, 0.0])
    .unwrap_err();
    assert!(err.to_string().contains("is_nan"), "{err}");
    // peek() and printing are not guards.
    let rec = replay::record(&[1.0], |x| {
        let _ = format!("{} {}", x[0], x[0].peek());
        x[0]
    });
    assert_eq!(rec.guards(), 0);
}

#[test]
fn kinks_built_into_operations_replay_without_guards() {
    let rec = replay::record(&[1.0, 2.0], |x| (x[0] - x[1]).abs() + x[0].max(x[1]));
    assert_eq!(rec.guards(), 0);
    assert_eq!(rec.gradient(&[5.0, 2.0]).unwrap(), (8.0, vec![2.0, -1.0]));
    assert_eq!(rec.gradient(&[1.0, 2.0]).unwrap(), (3.0, vec![-1.0, 2.0]));
    // Ties and zero: the tape's conventions (½ each; derivative 0 at 0).
    assert_eq!(rec.gradient(&[2.0, 2.0]).unwrap(), (2.0, vec![0.5, 0.5]));
}

#[test]
fn infinite_and_nan_partials_reach_the_gradient_as_on_the_tape() {
    let f = |x: &[Traced]| x[0].sqrt() + x[1].ln();
    let rec = replay::record(&[1.0, 1.0], f);
    let (y, g) = rec.gradient(&[0.0, -1.0]).unwrap();
    assert!(y.is_nan());
    assert_eq!(g[0], f64::INFINITY);
    assert!(g[1].is_nan());
    let (ty, tg) = tape_gradient(|x| x[0].sqrt() + x[1].ln(), &[0.0, -1.0]);
    assert!(ty.is_nan() && tg[1].is_nan());
    assert_eq!(tg[0], g[0]);
    // A zero adjoint stops an infinite partial from making a NaN off the output's path.
    let rec = replay::record(&[1.0], |x| x[0].sqrt() * 0.0 + x[0]);
    assert_eq!(rec.gradient(&[0.0]).unwrap().1, vec![1.0]);
    assert_eq!(
        tape_gradient(|x| x[0].sqrt() * 0.0 + x[0], &[0.0]).1,
        vec![1.0]
    );
}

#[test]
fn one_input_used_many_times_accumulates() {
    let rec = replay::record(&[1.0], |x| (0..100).map(|k| x[0] * (k as f64)).sum());
    assert_eq!(rec.gradient(&[3.0]).unwrap().1, vec![4950.0]);
    let rec = replay::record(&[1.0], |x| (0..10).map(|_| x[0]).product());
    let (y, g) = rec.gradient(&[2.0]).unwrap();
    assert_eq!((y, g), (1024.0, vec![10.0 * 512.0]));
}

#[test]
fn recordings_are_shared_by_threads() {
    let rec = replay::record(&[0.5, 0.5, 0.5, 0.5], rk4_steps);
    let points: Vec<[f64; 4]> = (0..8)
        .map(|i| [0.1 * i as f64, 0.3, 1.0 + 0.1 * i as f64, 0.2])
        .collect();
    let expected: Vec<(f64, Vec<f64>)> = points.iter().map(|p| rec.gradient(p).unwrap()).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = points
            .chunks(2)
            .map(|chunk| {
                let rec = &rec;
                s.spawn(move || {
                    let mut ws = Workspace::new();
                    let mut g = [0.0; 4];
                    chunk
                        .iter()
                        .map(|p| {
                            rec.vjp_with(&mut ws, p, &[1.0], &mut g).unwrap();
                            (ws.outputs()[0], g.to_vec())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let got: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(got, expected);
    });
}

#[test]
fn dual_replays_give_directional_derivatives() {
    let rec = replay::record(&[0.5, 0.5, 0.5], every_operation);
    let x = [0.3, 0.6, 0.4];
    let v = [1.0, -2.0, 0.5];
    let mut ws = Workspace::new();
    let xs: Vec<Dual> = x.iter().zip(&v).map(|(&x, &v)| Dual::new(x, [v])).collect();
    rec.eval_with(&mut ws, &xs).unwrap();
    let g = rec.gradient(&x).unwrap().1;
    let expected: f64 = g.iter().zip(&v).map(|(g, v)| g * v).sum();
    assert_close(ws.outputs()[0].derivative(), expected, 1e-12, "jvp");
}

#[test]
fn replayed_refreshes_its_recording_only_when_a_guard_changes() {
    let mut f = Replayed::new(|x: &[Traced]| {
        if x[0] < x[1] {
            x[0] * x[1]
        } else {
            x[0] + x[1]
        }
    });
    assert_eq!(f.gradient(&[1.0, 2.0]).unwrap(), (2.0, vec![2.0, 1.0]));
    assert_eq!(f.gradient(&[3.0, 4.0]).unwrap(), (12.0, vec![4.0, 3.0]));
    assert_eq!(f.recordings(), 1);
    assert_eq!(f.gradient(&[5.0, 4.0]).unwrap(), (9.0, vec![1.0, 1.0]));
    assert_eq!(f.gradient(&[6.0, 4.0]).unwrap(), (10.0, vec![1.0, 1.0]));
    assert_eq!(f.recordings(), 2);
    assert!(matches!(
        f.gradient(&[1.0]),
        Err(Error::LengthMismatch { .. })
    ));
}

#[test]
fn bad_lengths_are_errors_naming_the_argument() {
    let rec = replay::record_many(&[1.0, 2.0], |x| vec![x[0], x[1]]);
    let err = rec.eval(&[1.0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "replay: the inputs (one value per recorded input): expected length 2, found 1"
    );
    assert!(rec
        .gradient(&[1.0, 2.0])
        .unwrap_err()
        .to_string()
        .contains("one is needed"));
    assert!(rec
        .vjp(&[1.0, 2.0], &[1.0])
        .unwrap_err()
        .to_string()
        .contains("output seed"));
    let mut g = [0.0];
    let err = rec
        .vjp_with(&mut Workspace::new(), &[1.0, 2.0], &[1.0, 1.0], &mut g)
        .unwrap_err();
    assert!(err.to_string().contains("gradient buffer"), "{err}");
}

#[test]
fn constant_outputs_and_inputs_left_unused() {
    let rec = replay::record_many(&[1.0, 2.0], |x| vec![Traced::constant(7.0), x[0] * 2.0]);
    assert_eq!(
        rec.vjp(&[3.0, 9.0], &[1.0, 1.0]).unwrap(),
        (vec![7.0, 6.0], vec![2.0, 0.0])
    );
    let rec = replay::record(&[], |_| Traced::constant(1.5));
    assert_eq!(rec.gradient(&[]).unwrap(), (1.5, vec![]));
}

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let err = std::panic::catch_unwind(f).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn variables_of_other_recordings_are_refused() {
    // Kept past the end of its recording.
    let mut kept = None;
    let _ = replay::record(&[1.0], |x| {
        kept = Some(x[0]);
        x[0]
    });
    let kept = kept.unwrap();
    let message = panic_message(move || {
        let _ = kept * 2.0;
    });
    assert!(message.contains("after its recording ended"), "{message}");
    let message = panic_message(move || {
        let _ = replay::record(&[1.0], |x| x[0] + kept);
    });
    assert!(
        message.contains("another") || message.contains("used in recording"),
        "{message}"
    );
    // An enclosing recording's variable inside a nested one.
    let message = panic_message(|| {
        let _ = replay::record(&[1.0], |outer| {
            let inner = replay::record(&[2.0], |x| x[0] * outer[0]);
            outer[0] * inner.len() as f64
        });
    });
    assert!(message.contains("used in recording"), "{message}");
    // After a panic inside a recording, the thread records again normally.
    let rec = replay::record(&[2.0], |x| x[0] * x[0]);
    assert_eq!(rec.gradient(&[3.0]).unwrap(), (9.0, vec![6.0]));
}

#[test]
fn nested_recordings_are_independent() {
    let rec = replay::record(&[1.0], |outer| {
        let inner: Recording = replay::record(&[2.0], |x| x[0].powi(3));
        assert_eq!(inner.gradient(&[2.0]).unwrap(), (8.0, vec![12.0]));
        outer[0] * 2.0
    });
    assert_eq!(rec.gradient(&[5.0]).unwrap(), (10.0, vec![2.0]));
}

#[test]
fn constants_work_outside_recordings() {
    let c = Traced::constant(2.0) * 3.0 + Traced::PI().sin();
    assert!(c.is_constant());
    assert!((c.peek() - 6.0).abs() < 1e-15);
    assert!(c > Traced::constant(5.0));
}

/// A 2 × 2 linear solve `A y = b` as a black box: `x = (a00, a01, a10, a11, b0, b1)`, its
/// Jacobian by hand (∂y/∂A = −A⁻¹ (∂A) y, ∂y/∂b = A⁻¹).
fn solve2(x: &[f64], y: &mut [f64], j: &mut [f64]) {
    let [a, b, c, d, r, s] = [x[0], x[1], x[2], x[3], x[4], x[5]];
    let det = a * d - b * c;
    let inv = [d / det, -b / det, -c / det, a / det];
    y[0] = inv[0] * r + inv[1] * s;
    y[1] = inv[2] * r + inv[3] * s;
    for k in 0..2 {
        let (i0, i1) = (inv[2 * k], inv[2 * k + 1]);
        // ∂y_k/∂A_mn = −(A⁻¹)_km · y_n
        j[6 * k..6 * k + 4].copy_from_slice(&[-i0 * y[0], -i0 * y[1], -i1 * y[0], -i1 * y[1]]);
        j[6 * k + 4..6 * k + 6].copy_from_slice(&[i0, i1]);
    }
}

/// The same solve written on the number type, for reference.
fn solve2_generic<T: Real>(x: &[T]) -> [T; 2] {
    let det = x[0] * x[3] - x[1] * x[2];
    [
        (x[3] * x[4] - x[1] * x[5]) / det,
        (x[0] * x[5] - x[2] * x[4]) / det,
    ]
}

fn through_solve(x: &[Traced]) -> Traced {
    let inputs = [x[0] + 2.0, x[1], x[2], x[3] + 2.0, x[4].sin(), x[5]];
    let y = replay::custom(&inputs, 2, solve2);
    y[0] * y[0] + y[1].exp()
}

fn through_solve_generic<T: Real>(x: &[T]) -> T {
    let two = T::from_f64(2.0);
    let y = solve2_generic(&[x[0] + two, x[1], x[2], x[3] + two, x[4].sin(), x[5]]);
    y[0] * y[0] + y[1].exp()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A user-defined operation with a forward rule replays anywhere: the gradient is the
    /// tape's of the same function written out, and central differences'.
    #[test]
    fn custom_operations_replay_with_their_rule(x in prop::array::uniform6(-0.5f64..0.5)) {
        let rec = replay::record(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], through_solve);
        let (y, g) = rec.gradient(&x).unwrap();
        let (ty, tg) = tape_gradient(through_solve_generic, &x);
        assert_close(y, ty, 1e-12, "value");
        for i in 0..6 {
            assert_close(g[i], tg[i], 1e-10, "gradient against the tape");
            let fd = central_difference(through_solve_generic::<f64>, x, i);
            assert_close(g[i], fd, 1e-6, "central difference");
        }
    }
}

#[test]
fn custom_operations_in_forward_mode_and_refusals() {
    let rec = replay::record(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], through_solve);
    let x = [0.3, -0.1, 0.2, 0.1, 0.4, -0.2];
    let g = rec.gradient(&x).unwrap().1;
    // Forward mode through the Jacobian: the directional derivative is g · v.
    let v = [1.0, -0.5, 0.25, 2.0, -1.0, 0.5];
    let mut ws = Workspace::new();
    let xs: Vec<Dual> = x.iter().zip(&v).map(|(&x, &v)| Dual::new(x, [v])).collect();
    rec.eval_with(&mut ws, &xs).unwrap();
    let expected: f64 = g.iter().zip(&v).map(|(a, b)| a * b).sum();
    assert_close(
        ws.outputs()[0].derivative(),
        expected,
        1e-12,
        "forward mode",
    );
    // Second derivatives through a Jacobian alone: refused, not silently wrong.
    let err = rec.hvp(&x, &v).unwrap_err();
    assert!(err.to_string().contains("second derivatives"), "{err}");
    // Lanes run one set per lane: refused, naming the line.
    let err = rec
        .gradient_lanes(&mut replay::LaneWorkspace::new(), &x, &mut [0.0; 6])
        .unwrap_err();
    assert!(err.to_string().contains("user-defined operation"), "{err}");
    // Constant inputs record nothing.
    let rec = replay::record(&[1.0], |x| {
        let y = replay::custom(&[Traced::constant(2.0)], 1, |x, y, j| {
            y[0] = x[0] * 3.0;
            j[0] = 3.0;
        });
        x[0] * y[0]
    });
    assert_eq!(rec.gradient(&[2.0]).unwrap(), (12.0, vec![6.0]));
}

#[test]
fn custom_operations_without_a_forward_rule_replay_only_where_recorded() {
    let line = line!() + 3;
    let rec = replay::record(&[2.0, 3.0], |x| {
        let (a, b) = (x[0].peek(), x[1].peek());
        let y = replay::custom_op(x, &[a * b, a + b], &[b, a, 1.0, 1.0]).unwrap();
        y[0] * y[1]
    });
    // At the recorded inputs: 6 · 5, gradient (b(a+b) + ab, a(a+b) + ab).
    assert_eq!(rec.gradient(&[2.0, 3.0]).unwrap(), (30.0, vec![21.0, 16.0]));
    let err = rec.gradient(&[2.0, 3.5]).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    assert!(
        err.to_string().contains(&format!("tests/replay.rs:{line}")),
        "the error names the line that recorded it: {err}"
    );
    let mut bad = None;
    replay::record(&[1.0], |x| {
        bad = Some(replay::custom_op(x, &[1.0], &[1.0, 2.0]).unwrap_err());
        x[0]
    });
    assert!(bad
        .unwrap()
        .to_string()
        .contains("Jacobian (1 outputs × 1 inputs"));
}

/// The compiled replay (`Recording::compile`) against the interpreted one: the same values,
/// gradients and guard errors, bit for bit, on every operation, random programs that read
/// values and add to adjoints near and far from where they were made, and threads.
#[cfg(feature = "jit")]
mod compiled {
    use super::*;

    /// Equal bit for bit, or both NaN, or both zero (the sign of a zero sum may differ:
    /// the compiled sweep skips adding zeros that the interpreter adds).
    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()) || (a == 0.0 && b == 0.0)
    }

    /// Interpreted and compiled replays of `rec` at `x` with `seed`: the same outputs and
    /// gradient, or the same error.
    fn agree(rec: &Recording, x: &[f64], seed: &[f64]) -> Result<(), TestCaseError> {
        let compiled = rec.compile().unwrap();
        let (mut wi, mut wc) = (Workspace::new(), Workspace::new());
        let (mut gi, mut gc) = (vec![f64::NAN; x.len()], vec![f64::NAN; x.len()]);
        let i = rec.vjp_with(&mut wi, x, seed, &mut gi);
        let c = compiled.vjp_with(&mut wc, x, seed, &mut gc);
        prop_assert_eq!(format!("{i:?}"), format!("{c:?}"));
        let e = compiled
            .eval_with(&mut wc, x)
            .map(|()| wc.outputs().to_vec());
        prop_assert_eq!(
            format!("{:?}", rec.eval(x).map(|_| ())),
            format!("{:?}", e.as_ref().map(|_| ()))
        );
        if i.is_ok() {
            for (a, b) in wi.outputs().iter().zip(e.unwrap().iter()) {
                prop_assert!(same(*a, *b), "eval: {} vs {}", a, b);
            }
            for (a, b) in wi.outputs().iter().zip(wc.outputs()) {
                prop_assert!(same(*a, *b), "output: {} vs {}", a, b);
            }
            for (k, (a, b)) in gi.iter().zip(&gc).enumerate() {
                prop_assert!(same(*a, *b), "gradient {}: {} vs {}", k, a, b);
            }
        }
        Ok(())
    }

    /// A straight-line program: each step applies an operation to earlier values, chosen
    /// by how far back they are (so some are read far from where they were made), and
    /// some steps ask a question of a value (a guard).
    fn program(x: &[Traced], steps: &[(u8, u16, u16)]) -> Vec<Traced> {
        let mut pool: Vec<Traced> = x.to_vec();
        for &(op, a, b) in steps {
            let pick = |back: u16| pool[pool.len() - 1 - back as usize % pool.len()];
            let (a, b) = (pick(a), pick(b));
            let y = match op % 16 {
                0 => a + b,
                1 => a - b,
                2 => a * b,
                3 => a / b,
                4 => -a,
                5 => a.sin(),
                6 => (a * 0.1).exp(),
                7 => a.abs().sqrt(),
                8 => a.powi(2),
                9 => a.powi(3),
                10 => a.mul_add(b, a),
                11 => a.max(b),
                12 => a % b,
                13 => a.atan2(b),
                14 => {
                    if a > b {
                        a * 2.0
                    } else {
                        b - 1.0
                    }
                }
                _ => a * 3.0 + 1.0,
            };
            pool.push(y);
        }
        let n = pool.len();
        vec![pool[n - 1], pool[n / 2], pool[0], Traced::constant(2.5)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn every_operation_as_interpreted(
            at in prop::array::uniform3(0.1f64..0.9),
            x in prop::array::uniform3(0.1f64..0.9),
        ) {
            let rec = replay::record(&at, every_operation);
            agree(&rec, &x, &[1.0])?;
            let (y, _) = rec.compile().unwrap().gradient(&x).unwrap();
            prop_assert_eq!(y.to_bits(), every_operation(&x).to_bits());
        }

        #[test]
        fn random_programs_as_interpreted(
            steps in prop::collection::vec((0u8..16, 0u16..120, 0u16..120), 1..300),
            at in prop::collection::vec(-2.0f64..2.0, 5),
            x in prop::collection::vec(-2.0f64..2.0, 5),
            seed in prop::array::uniform4(-1.0f64..1.0),
        ) {
            let rec = replay::record_many(&at, |t| program(t, &steps));
            agree(&rec, &at, &seed)?;
            agree(&rec, &x, &seed)?;
        }

        #[test]
        fn rk4_matches_central_differences(x in rk4_inputs()) {
            let f = |x: &[f64]| rk4_steps(x);
            let compiled = replay::record(&[0.1, 0.2, 0.3, 0.4], rk4_steps).compile().unwrap();
            let (y, g) = compiled.gradient(&x).unwrap();
            prop_assert_eq!(y.to_bits(), f(&x).to_bits());
            for (i, &gi) in g.iter().enumerate() {
                assert_close(gi, central_difference(f, x, i), 1e-6, "central difference");
            }
        }
    }

    #[test]
    fn a_changed_guard_is_the_interpreters_first() {
        // The second guard reads a value made before the first guard's: both flip at
        // x = −1, and the error names the first recorded, as the interpreter's does.
        let line = line!() + 4;
        let rec = replay::record(&[1.0], |x| {
            let early = x[0] * 2.0;
            let late = (0..40).fold(x[0], |s, _| s.sin() + x[0]);
            let y = if late > Traced::zero() { late } else { -late };
            if early > Traced::zero() {
                y
            } else {
                y * 2.0
            }
        });
        assert_eq!(rec.guards(), 2);
        let compiled = rec.compile().unwrap();
        let err = compiled.gradient(&[-1.0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            rec.gradient(&[-1.0]).unwrap_err().to_string()
        );
        assert!(
            err.to_string().contains(&format!("tests/replay.rs:{line}")),
            "{err}"
        );
        assert_eq!(
            compiled.gradient(&[0.5]).unwrap(),
            rec.gradient(&[0.5]).unwrap()
        );
    }

    #[test]
    fn infinite_and_nan_partials_as_interpreted() {
        let rec = replay::record(&[1.0, 1.0], |x| x[0].sqrt() + x[1].ln());
        let (y, g) = rec.compile().unwrap().gradient(&[0.0, -1.0]).unwrap();
        assert!(y.is_nan() && g[1].is_nan());
        assert_eq!(g[0], f64::INFINITY);
        // A zero adjoint stops an infinite partial, also through `*` and `/`.
        let rec = replay::record(&[1.0], |x| (x[0].sqrt() * 0.0) / 1.0 + x[0]);
        assert_eq!(
            rec.compile().unwrap().gradient(&[0.0]).unwrap().1,
            vec![1.0]
        );
        // 0·∞ is NaN: NaN partials for both factors.
        let rec = replay::record(&[1.0, 1.0], |x| x[0] * x[1]);
        let g = rec
            .compile()
            .unwrap()
            .gradient(&[0.0, f64::INFINITY])
            .unwrap()
            .1;
        assert!(g[0].is_nan() && g[1].is_nan());
    }

    #[test]
    fn one_input_used_many_times_as_interpreted() {
        // One input read by 100 products and a product of 10 copies, its adjoint summed
        // from every use; and a value reused by later operations as both operands.
        let rec = replay::record(&[1.0], |x| (0..100).map(|k| x[0] * (k as f64)).sum());
        assert_eq!(
            rec.compile().unwrap().gradient(&[3.0]).unwrap().1,
            vec![4950.0]
        );
        let rec = replay::record(&[1.0], |x| (0..10).map(|_| x[0]).product());
        let compiled = rec.compile().unwrap();
        assert_eq!(compiled.gradient(&[2.0]).unwrap(), (1024.0, vec![5120.0]));
        let rec = replay::record(&[0.5, 2.0], |x| {
            let t = x[0] * x[1];
            let mut s = t;
            for _ in 0..50 {
                s = s * t + t.sin() + x[0];
            }
            s
        });
        let compiled = rec.compile().unwrap();
        for at in [[0.3, 1.1], [-0.7, 0.4], [0.0, 2.5]] {
            assert_eq!(compiled.gradient(&at).unwrap(), rec.gradient(&at).unwrap());
        }
    }

    #[test]
    fn many_inputs_used_near_and_far() {
        // 200 inputs, each read at the start and again at the end, so both their values
        // and their adjoints go through memory; some inputs are never read.
        let f = |x: &[Traced]| {
            let mut s = Traced::zero();
            for (k, &xi) in x.iter().enumerate().filter(|(k, _)| k % 7 != 3) {
                s += xi * (k as f64 + 1.0);
            }
            for &xi in x.iter().step_by(2) {
                s = s * 0.999 + xi.sin();
            }
            s
        };
        let x: Vec<f64> = (0..200).map(|k| (k as f64 * 0.37).sin()).collect();
        let rec = replay::record(&x, f);
        let compiled = rec.compile().unwrap();
        let y: Vec<f64> = x.iter().map(|v| v * 0.5 + 0.1).collect();
        assert_eq!(compiled.gradient(&y).unwrap(), rec.gradient(&y).unwrap());
        assert_eq!(compiled.gradient(&y).unwrap().1[3], 0.0);
    }

    #[test]
    fn outputs_that_are_inputs_or_constants() {
        let rec = replay::record_many(&[1.0, 2.0], |x| {
            vec![Traced::constant(7.0), x[0] * 2.0, x[0]]
        });
        let compiled = rec.compile().unwrap();
        let mut ws = Workspace::new();
        let mut g = [0.0; 2];
        compiled
            .vjp_with(&mut ws, &[3.0, 9.0], &[1.0, 1.0, 1.0], &mut g)
            .unwrap();
        assert_eq!((ws.outputs(), g), (&[7.0, 6.0, 3.0][..], [3.0, 0.0]));
        let rec = replay::record(&[], |_| Traced::constant(1.5));
        assert_eq!(rec.compile().unwrap().gradient(&[]).unwrap(), (1.5, vec![]));
    }

    #[test]
    fn threads_share_compiled_code() {
        let rec = replay::record(&[0.5, 0.5, 0.5, 0.5], rk4_steps);
        let compiled = rec.compile().unwrap();
        let points: Vec<[f64; 4]> = (0..8)
            .map(|i| [0.1 * i as f64, 0.3, 1.0 + 0.1 * i as f64, 0.2])
            .collect();
        let expected: Vec<_> = points.iter().map(|p| rec.gradient(p).unwrap()).collect();
        let got: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = points
                .chunks(2)
                .map(|chunk| {
                    let compiled = &compiled;
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|p| compiled.gradient(p).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        assert_eq!(got, expected);
    }

    #[test]
    fn recordings_with_custom_operations_are_refused() {
        let rec = replay::record(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], through_solve);
        let err = rec.compile().unwrap_err();
        assert!(err.to_string().contains("user-defined operation"), "{err}");
    }

    #[test]
    fn recordings_too_large_to_compile_are_refused() {
        let n = replay::MAX_COMPILED_OPERATIONS;
        let rec = replay::record(&[1.0], |x| (0..n).fold(x[0], |s, _| s * 1.0000001));
        let err = rec.compile().unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
        assert!(err.to_string().contains("record a smaller piece"), "{err}");
        let rec = replay::record(&[1.0], |x| (0..n - 2).fold(x[0], |s, _| s * 1.0000001));
        assert_eq!(rec.len(), n);
        let (y, g) = rec.compile().unwrap().gradient(&[2.0]).unwrap();
        assert_eq!((y, g), rec.gradient(&[2.0]).unwrap());
    }

    #[test]
    fn bad_lengths_are_errors_naming_the_argument() {
        let compiled = replay::record_many(&[1.0, 2.0], |x| vec![x[0], x[1]])
            .compile()
            .unwrap();
        let mut ws = Workspace::new();
        let err = compiled.eval_with(&mut ws, &[1.0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "replay: the inputs (one value per recorded input): expected length 2, found 1"
        );
        assert!(compiled
            .gradient(&[1.0, 2.0])
            .unwrap_err()
            .to_string()
            .contains("one is needed"));
        let mut g = [0.0];
        let err = compiled
            .vjp_with(&mut ws, &[1.0, 2.0], &[1.0, 1.0], &mut g)
            .unwrap_err();
        assert!(err.to_string().contains("gradient buffer"), "{err}");
        let err = compiled
            .vjp_with(&mut ws, &[1.0, 2.0], &[1.0], &mut [0.0; 2])
            .unwrap_err();
        assert!(err.to_string().contains("output seed"), "{err}");
    }
}

/// A recording called from generic code (`Recording::call`) on every number type: `f64`,
/// `Dual`, the tape (`Var`, with marks, checkpointing and `Var<Dual>` Hessians) and inside
/// another recording (`Traced`), against the function written out.
mod call {
    use super::*;
    use retrograd::checkpoint::{self, Step};
    use retrograd::{Dual, Tape};

    /// One RK4 step of the damped oscillator of `rk4_steps`: `(u, v, k, c) ↦ (u', v')`.
    fn rk4_step<T: Real>(x: &[T]) -> Vec<T> {
        let (u, v, k, c) = (x[0], x[1], x[2], x[3]);
        let h = T::from_f64(0.05);
        let half = T::from_f64(0.5);
        let rhs = |u: T, v: T| (v, -k * u - c * v * v.abs());
        let (a1, b1) = rhs(u, v);
        let (a2, b2) = rhs(u + half * h * a1, v + half * h * b1);
        let (a3, b3) = rhs(u + half * h * a2, v + half * h * b2);
        let (a4, b4) = rhs(u + h * a3, v + h * b3);
        let sixth = h / T::from_f64(6.0);
        vec![
            u + sixth * (a1 + T::from_f64(2.0) * (a2 + a3) + a4),
            v + sixth * (b1 + T::from_f64(2.0) * (b2 + b3) + b4),
        ]
    }

    fn step_recording() -> Recording {
        replay::record_many(&[0.1, 0.2, 0.3, 0.4], rk4_step)
    }

    /// Twenty steps, each either the step itself or a call of its recording; then a loss.
    fn steps<T: Real>(rec: Option<&Recording>, x: &[T]) -> T {
        let (mut u, mut v) = (x[0], x[1]);
        for _ in 0..20 {
            let args = [u, v, x[2], x[3]];
            let next = match rec {
                Some(rec) => rec.call(&args).unwrap(),
                None => rk4_step(&args),
            };
            (u, v) = (next[0], next[1]);
        }
        u * u + v * v.sin()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// On `f64` and `Dual` the values and directional derivatives of the function; on
        /// the tape its gradient, and agreement with central differences.
        #[test]
        fn calls_match_the_function_written_out(
            x in rk4_inputs(),
            dir in prop::array::uniform4(-1.0f64..1.0),
        ) {
            let rec = step_recording();
            let y = steps(Some(&rec), &x);
            prop_assert_eq!(y.to_bits(), steps(None, &x).to_bits());

            let duals: Vec<Dual> = x.iter().zip(&dir).map(|(&x, &d)| Dual::new(x, [d])).collect();
            let yd = steps(Some(&rec), &duals);
            let yd_ref = steps(None, &duals);
            prop_assert_eq!(yd.value().to_bits(), yd_ref.value().to_bits());
            assert_close(yd.tangent[0], yd_ref.tangent[0], 1e-12, "tangent");

            let (ty, tg) = tape_gradient(|x| steps(Some(&rec), x), &x);
            let (ry, rg) = tape_gradient(|x| steps(None, x), &x);
            prop_assert_eq!(ty.to_bits(), ry.to_bits());
            for (i, (a, b)) in tg.iter().zip(&rg).enumerate() {
                assert_close(*a, *b, 1e-12, "gradient vs the tape");
                let cd = central_difference(|x| steps(None, x), x, i);
                assert_close(*a, cd, 1e-6, "gradient vs central differences");
            }
        }

        /// Forward over reverse on `Var<Dual>` through the calls gives the Hessian of the
        /// function written out.
        #[test]
        fn hessians_through_calls(x in rk4_inputs()) {
            let rec = step_recording();
            let h = retrograd::hessian(|x| steps(Some(&rec), x), &x);
            let h_ref = retrograd::hessian(|x| steps(None, x), &x);
            for (row, row_ref) in h.iter().zip(&h_ref) {
                for (a, b) in row.iter().zip(row_ref) {
                    assert_close(*a, *b, 1e-10, "Hessian");
                }
            }
        }

        /// A recording called inside another recording is inlined: the outer replay equals
        /// the function written out, value and gradient.
        #[test]
        fn calls_inside_recordings_are_inlined(x in rk4_inputs(), at in rk4_inputs()) {
            let rec = step_recording();
            let outer = replay::record(&at, |x: &[Traced]| steps(Some(&rec), x));
            let (y, g) = outer.gradient(&x).unwrap();
            prop_assert_eq!(y.to_bits(), steps(None, &x).to_bits());
            let (_, tg) = tape_gradient(|x| steps(None, x), &x);
            for (a, b) in g.iter().zip(&tg) {
                assert_close(*a, *b, 1e-12, "gradient of the inlined recording");
            }
        }
    }

    /// Per-path tapes: each path's call is swept and dropped after a mark, and the tape
    /// keeps only what came before the mark (the calls' operations included).
    #[test]
    fn calls_compose_with_marks() {
        let rec = step_recording();
        let paths = [[0.3, -0.2], [0.9, 0.1], [-0.5, 0.4]];
        let mut tape = Tape::new();
        let (params, adj) = tape.record(|r| {
            let p = r.inputs(&[0.7, 0.3]);
            let mut adj = r.adjoints();
            for path in paths {
                let m = r.mark();
                let x = [Var::constant(path[0]), Var::constant(path[1]), p[0], p[1]];
                let y = rec.call(&x).unwrap();
                r.sweep_and_reset(m, &[(y[0], 1.0), (y[1], 1.0)], &mut adj);
            }
            (p, adj)
        });
        assert_eq!(tape.stats().statements, 2, "only the parameters are left");
        let mut expected = [0.0; 2];
        for path in paths {
            let g = retrograd::grad(
                |p| {
                    let y = rk4_step(&[Var::constant(path[0]), Var::constant(path[1]), p[0], p[1]]);
                    y[0] + y[1]
                },
                &[0.7, 0.3],
            );
            expected[0] += g[0];
            expected[1] += g[1];
        }
        assert_close(adj.wrt(params[0]), expected[0], 1e-13, "∂/∂k");
        assert_close(adj.wrt(params[1]), expected[1], 1e-13, "∂/∂c");
    }

    /// A checkpointed loop whose step calls the recording: the same gradient as the loop
    /// taped whole, with the step written out.
    #[test]
    fn calls_compose_with_checkpointing() {
        struct Recorded(Recording);
        impl Step for Recorded {
            fn step<T: Real>(&self, _k: usize, x: &[T], p: &[T]) -> Vec<T> {
                self.0.call(&[x[0], x[1], p[0], p[1]]).unwrap()
            }
        }
        let (x0, p) = ([0.4, -0.3], [0.8, 0.2]);
        let g = checkpoint::gradient(&Recorded(step_recording()), &x0, &p, 20, 3, |x| {
            x[0] * x[0] + x[1] * x[1].sin()
        })
        .unwrap();
        assert!(g.stats.forward_steps > 20, "recomputation happened");
        let (y, expected) = tape_gradient(|x| steps(None, x), &[x0[0], x0[1], p[0], p[1]]);
        assert_close(g.value, y, 1e-14, "value");
        let got = [&g.state_adjoint[..], &g.param_adjoint[..]].concat();
        for (a, b) in got.iter().zip(&expected) {
            assert_close(*a, *b, 1e-12, "checkpointed gradient");
        }
    }

    /// A guard of the called recording that answers otherwise is the replay's error, on
    /// every number type, and inside an outer recording it becomes the outer one's guard,
    /// at the inner line.
    #[test]
    fn changed_guards_are_errors_on_every_type() {
        let (rec, line) = recorded_branch();
        assert_eq!(rec.call(&[4.0]).unwrap(), vec![2.0]);
        assert!(matches!(rec.call(&[-4.0]), Err(Error::GuardChanged(_))));
        assert!(matches!(
            rec.call(&[Dual::<f64, 1>::variable(-4.0, 0)]),
            Err(Error::GuardChanged(_))
        ));
        let mut on_tape = None;
        retrograd::grad(
            |x| {
                on_tape = Some(rec.call(x).map(|_| ()));
                x[0]
            },
            &[-4.0],
        );
        assert!(matches!(on_tape, Some(Err(Error::GuardChanged(_)))));

        let outer = replay::record(&[9.0], |x: &[Traced]| rec.call(x).unwrap()[0] * 3.0);
        assert_eq!(outer.guards(), 1);
        assert_eq!(outer.gradient(&[16.0]).unwrap(), (12.0, vec![0.375]));
        let Error::GuardChanged(message) = outer.gradient(&[-1.0]).unwrap_err() else {
            panic!("expected a changed guard");
        };
        assert!(
            message.contains(&format!("tests/replay.rs:{line}")),
            "{message}"
        );
        // Recorded where the inner guard answers otherwise: refused while recording.
        let mut inner_err = None;
        replay::record(&[-9.0], |x: &[Traced]| {
            inner_err = Some(rec.call(x).unwrap_err());
            x[0]
        });
        assert!(matches!(inner_err, Some(Error::GuardChanged(_))));
    }

    /// User-defined operations: on `Var<f64>` through their Jacobian; refused where second
    /// derivatives or an inlined rule would be needed.
    #[test]
    fn user_defined_operations_in_calls() {
        let x = [0.3, -0.2, 0.1, 0.4, 0.2, -0.1];
        let rec = replay::record(&x, through_solve);
        let g = retrograd::grad(|x| rec.call(x).unwrap()[0], &x);
        let (_, expected) = tape_gradient(through_solve_generic, &x);
        for (a, b) in g.iter().zip(&expected) {
            assert_close(*a, *b, 1e-12, "gradient through the solve");
        }
        let refused = std::cell::RefCell::new(None);
        retrograd::hessian(
            |x| {
                *refused.borrow_mut() = Some(rec.call(x).unwrap_err());
                x[0]
            },
            &x,
        );
        let refused = refused.into_inner();
        assert!(
            matches!(refused, Some(Error::Unsupported(_))),
            "{refused:?}"
        );
        let mut refused = None;
        replay::record(&x, |x: &[Traced]| {
            refused = Some(rec.call(x).unwrap_err());
            x[0]
        });
        assert!(refused
            .unwrap()
            .to_string()
            .contains("inside another recording"));
    }

    /// Constant inputs give constants; a wrong number of inputs is an error naming it; a
    /// recording shared by threads is called on each thread's tape.
    #[test]
    fn constants_lengths_and_threads() {
        let rec = step_recording();
        let c: Vec<Var> = [0.1, 0.2, 0.3, 0.4].map(Var::constant).to_vec();
        let y = rec.call(&c).unwrap();
        assert!(y.iter().all(|y| y.is_constant()));
        assert_eq!(y[0].value(), rk4_step(&[0.1, 0.2, 0.3, 0.4])[0]);
        let err = rec.call(&[1.0, 2.0]).unwrap_err();
        assert!(
            err.to_string().contains("expected length 4, found 2"),
            "{err}"
        );

        let rec = &rec;
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    s.spawn(move || {
                        let x = [0.1 * t as f64, 0.2, 0.3, 0.4];
                        let got = tape_gradient(|x| steps(Some(rec), x), &x);
                        (got, tape_gradient(|x| steps(None, x), &x))
                    })
                })
                .collect();
            for h in handles {
                let (got, expected) = h.join().unwrap();
                assert_eq!(got.0.to_bits(), expected.0.to_bits());
                for (a, b) in got.1.iter().zip(&expected.1) {
                    assert_close(*a, *b, 1e-12, "gradient on a thread");
                }
            }
        });
    }
}
