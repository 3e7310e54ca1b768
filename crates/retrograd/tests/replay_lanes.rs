//! Lane replays (`Recording::vjp_lanes` and friends) against the tape, central
//! differences and the scalar replay: guards, tail lanes, shared recordings, errors.

use proptest::prelude::*;
use retrograd::prelude::*;
use retrograd::replay::{self, LaneWorkspace, Simd, Traced, Workspace, LANES};
use retrograd::Error;

/// Many operations mixed, on inputs in (0.1, 0.9): sums, products, quotients,
/// transcendental functions, kinks that are operations.
fn mixed<T: Real>(x: &[T]) -> T {
    let (a, b, c) = (x[0], x[1], x[2]);
    let s = (a * b).exp() + (b / c).ln() * a.sin() - c.sqrt() * a.powi(3);
    let t = a.max(b) * c.tanh() + a.atan2(b) - (a - c).abs() + b.mul_add(c, a);
    s * t / (T::one() + a * a) + a.powf(b) - c.erf()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Gradients at 1 to 3 lane groups of random sets (tail lanes included) equal the
    /// tape's to 1e-13 of the largest entry, and the values the function's.
    #[test]
    fn lane_gradients_match_the_tape(
        sets in prop::collection::vec(prop::array::uniform3(0.1f64..0.9), 1..3 * LANES),
    ) {
        let rec = replay::record(&[0.5, 0.5, 0.5], mixed);
        let x: Vec<f64> = sets.iter().flatten().copied().collect();
        let mut ws = LaneWorkspace::new();
        let mut grads = vec![0.0; x.len()];
        rec.gradient_lanes(&mut ws, &x, &mut grads).unwrap();
        prop_assert_eq!(ws.outputs().len(), sets.len());
        for (k, set) in sets.iter().enumerate() {
            let (y, g) = retrograd::value_and_grad(mixed, set);
            prop_assert!(close(ws.outputs()[k], y, 1e-13), "value {} vs {}", ws.outputs()[k], y);
            // Relative to the gradient's largest entry: a small one is a difference of
            // large terms, which the two sum in different orders.
            let scale = g.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            for i in 0..3 {
                let gl = grads[3 * k + i];
                prop_assert!((gl - g[i]).abs() <= 1e-13 * scale, "set {k}, ∂/∂x{i}: {gl} vs {}", g[i]);
            }
        }
    }

    /// Lane gradients agree with central differences.
    #[test]
    fn lane_gradients_match_central_differences(set in prop::array::uniform3(0.2f64..0.8)) {
        let rec = replay::record(&[0.5, 0.5, 0.5], mixed);
        let mut grads = [0.0; 3];
        rec.gradient_lanes(&mut LaneWorkspace::new(), &set, &mut grads).unwrap();
        for i in 0..3 {
            let h = 1e-6;
            let (mut p, mut m) = (set, set);
            p[i] += h;
            m[i] -= h;
            let fd = (mixed(&p) - mixed(&m)) / (2.0 * h);
            prop_assert!(close(grads[i], fd, 1e-6), "∂/∂x{i}: {} vs {fd}", grads[i]);
        }
    }
}

/// The summed gradients are the sum of the per-set ones, and seeds scale each set.
#[test]
fn summed_gradients_and_seeds() {
    let rec = replay::record(&[0.5, 0.5, 0.5], mixed);
    let sets = 2 * LANES + 3;
    let x: Vec<f64> = (0..sets * 3)
        .map(|k| 0.1 + 0.8 * ((k * 7) % 11) as f64 / 11.0)
        .collect();
    let seeds: Vec<f64> = (0..sets).map(|k| 0.5 + k as f64).collect();
    let mut ws = LaneWorkspace::new();
    let mut per_set = vec![0.0; x.len()];
    rec.vjp_lanes(&mut ws, &x, &seeds, &mut per_set).unwrap();
    let mut sum = [1.0, 2.0, 3.0]; // added to
    rec.vjp_lanes_sum(&mut ws, &x, &seeds, &mut sum).unwrap();
    let mut ones = vec![0.0; x.len()];
    rec.gradient_lanes(&mut ws, &x, &mut ones).unwrap();
    for i in 0..3 {
        let expected = (i + 1) as f64 + (0..sets).map(|k| per_set[3 * k + i]).sum::<f64>();
        assert!(close(sum[i], expected, 1e-14), "{} vs {expected}", sum[i]);
        for k in 0..sets {
            let scaled = seeds[k] * ones[3 * k + i];
            assert!(close(per_set[3 * k + i], scaled, 1e-14));
        }
    }
}

/// A set that answers a guard otherwise fails the call with an error naming the set
/// and the line; the sets before it were evaluated, and the others replay fine.
#[test]
fn a_guard_flipped_in_one_lane_names_that_set_and_the_line() {
    let line = line!() + 2;
    let rec = replay::record(&[1.0], |x| {
        if x[0] > Traced::zero() {
            x[0].sqrt()
        } else {
            -x[0]
        }
    });
    let mut x: Vec<f64> = (1..=11).map(|k| k as f64).collect();
    let mut ws = LaneWorkspace::new();
    let mut grads = vec![0.0; x.len()];
    rec.gradient_lanes(&mut ws, &x, &mut grads).unwrap();
    assert_eq!(grads[3], 0.5 / 2.0);
    x[9] = -4.0;
    let err = rec.gradient_lanes(&mut ws, &x, &mut grads).unwrap_err();
    let Error::GuardChanged(message) = &err else {
        panic!("expected a changed guard, got {err:?}");
    };
    assert!(message.contains("input set 9"), "{message}");
    assert!(
        message.contains(&format!("tests/replay_lanes.rs:{line}")),
        "{message}"
    );
    // The workspace is left fit for the next call: the adjoints are all zero again.
    x[9] = 4.0;
    rec.gradient_lanes(&mut ws, &x, &mut grads).unwrap();
    assert_eq!(grads[9], 0.25);
    assert_eq!(ws.outputs()[9], 2.0);
    // The scalar path records again where the guard changed.
    let mut f = replay::Replayed::new(|x: &[Traced]| {
        if x[0] > Traced::zero() {
            x[0].sqrt()
        } else {
            -x[0]
        }
    });
    assert_eq!(f.gradient(&[-4.0]).unwrap(), (4.0, vec![-1.0]));
}

/// An input read 100 times: its adjoint sums 100 contributions in every lane.
#[test]
fn one_input_used_a_hundred_times() {
    let f = |x: &[Traced]| {
        let mut s = Traced::zero();
        for k in 0..100 {
            s += x[0] * (k as f64) + x[1];
        }
        s
    };
    let rec = replay::record(&[1.0, 1.0], f);
    let x: Vec<f64> = (0..2 * (LANES + 1)).map(|k| k as f64).collect();
    let mut grads = vec![0.0; x.len()];
    rec.gradient_lanes(&mut LaneWorkspace::new(), &x, &mut grads)
        .unwrap();
    for k in 0..LANES + 1 {
        assert_eq!(grads[2 * k], 4950.0);
        assert_eq!(grads[2 * k + 1], 100.0);
    }
}

/// Infinite and NaN partials: where the adjoint reaching them is zero they make no NaN,
/// elsewhere they show in the gradient, as in the scalar replay.
#[test]
fn infinite_and_nan_partials_as_the_scalar_replay() {
    // sqrt has an infinite derivative at 0; `0 * sqrt(x)` sends it a zero adjoint.
    let rec = replay::record(&[1.0, 1.0], |x| x[0].sqrt() * x[1]);
    let x = [0.0, 0.0, 0.0, 2.0, -1.0, 1.0, 4.0, 1.0];
    let mut grads = [0.0; 8];
    rec.gradient_lanes(&mut LaneWorkspace::new(), &x, &mut grads)
        .unwrap();
    let mut ws = Workspace::new();
    for k in 0..4 {
        let mut g = [0.0; 2];
        rec.vjp_with(&mut ws, &x[2 * k..2 * k + 2], &[1.0], &mut g)
            .unwrap();
        for i in 0..2 {
            let (a, b) = (grads[2 * k + i], g[i]);
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{a} vs {b}"
            );
        }
    }
    assert_eq!(grads[..2], [0.0, 0.0]); // zero adjoint: no 0·∞
    assert_eq!(grads[2], f64::INFINITY);
    assert!(grads[4].is_nan()); // sqrt(−1)
}

/// Threads share one recording, each with its own workspace, and get the one-thread
/// results.
#[test]
fn threads_share_a_recording() {
    let rec = replay::record(&[0.5, 0.5, 0.5], mixed);
    let x: Vec<f64> = (0..3 * 37)
        .map(|k| 0.1 + 0.8 * ((k * 5) % 13) as f64 / 13.0)
        .collect();
    let run = || {
        let mut grads = vec![0.0; x.len()];
        rec.gradient_lanes(&mut LaneWorkspace::new(), &x, &mut grads)
            .unwrap();
        grads
    };
    let alone = run();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2).map(|_| s.spawn(run)).collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), alone);
        }
    });
}

/// The portable code (no SIMD features) gives bitwise the results of the detected
/// instruction set.
#[test]
fn the_portable_fallback_agrees_bitwise() {
    let rec = replay::record(&[0.5, 0.5, 0.5], mixed);
    let x: Vec<f64> = (0..3 * 21)
        .map(|k| 0.1 + 0.8 * ((k * 3) % 17) as f64 / 17.0)
        .collect();
    let mut results = vec![];
    for simd in [Simd::detect(), Simd::Portable] {
        let mut ws = LaneWorkspace::with_simd(simd).unwrap();
        assert_eq!(ws.simd(), simd);
        let mut grads = vec![0.0; x.len()];
        rec.gradient_lanes(&mut ws, &x, &mut grads).unwrap();
        results.push((ws.outputs().to_vec(), grads));
    }
    assert_eq!(results[0], results[1]);
}

/// Wrong lengths and recordings without inputs are refused with errors.
#[test]
fn bad_shapes_are_errors() {
    let rec = replay::record(&[1.0, 1.0], |x| x[0] * x[1]);
    let mut ws = LaneWorkspace::new();
    let mut g = [0.0; 4];
    let mismatch = |r: Result<(), Error>| matches!(r, Err(Error::LengthMismatch { .. }));
    assert!(mismatch(rec.eval_lanes(&mut ws, &[1.0, 2.0, 3.0])));
    assert!(mismatch(rec.vjp_lanes(&mut ws, &[1.0; 4], &[1.0], &mut g)));
    assert!(mismatch(rec.vjp_lanes(
        &mut ws,
        &[1.0; 4],
        &[1.0; 2],
        &mut g[..3]
    )));
    assert!(mismatch(
        rec.vjp_lanes_sum(&mut ws, &[1.0; 4], &[1.0; 2], &mut g)
    ));
    let two = replay::record_many(&[1.0], |x| vec![x[0], x[0]]);
    assert!(mismatch(two.gradient_lanes(&mut ws, &[1.0], &mut g[..1])));
    let none = replay::record(&[], |_| Traced::constant(1.0));
    assert!(matches!(
        none.eval_lanes(&mut ws, &[]),
        Err(Error::InvalidInput(_))
    ));
    // No sets: nothing to do.
    rec.eval_lanes(&mut ws, &[]).unwrap();
    assert!(ws.outputs().is_empty());
}
