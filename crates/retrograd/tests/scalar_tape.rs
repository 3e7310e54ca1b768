//! The tape and the closure API: sweeps, reuse, misuse detection, threads, Jacobians,
//! Hessians and custom operations.

use retrograd::gradcheck::{finite_difference, gradcheck, Tolerance};
use retrograd::prelude::*;
use retrograd::{custom_op, custom_vjp, grad, hessian, hvp, jacobian_with, JacobianMode, Tape};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

#[test]
fn record_once_sweep_many_times() {
    let mut tape = Tape::new();
    let (x, y) = tape.record(|rec| {
        let x = rec.inputs(&[1.0, 2.0, 3.0]);
        let y = vec![x[0] * x[1], x[1] * x[2], x[0].sin()];
        (x, y)
    });
    let mut adj = tape.adjoints(&[]);
    for (k, &yk) in y.iter().enumerate() {
        tape.adjoints_into(&[(yk, 1.0)], &mut adj);
        let row = adj.wrt_all(&x);
        let expected = [
            vec![2.0, 1.0, 0.0],
            vec![0.0, 3.0, 2.0],
            vec![1.0_f64.cos(), 0.0, 0.0],
        ][k]
            .clone();
        assert_eq!(row, expected);
    }
    // The three inputs and the two products: sin(x0) is derived from x0 (no statement).
    assert_eq!(tape.stats().statements, 5);
}

#[test]
fn clear_and_rerecord_keeps_the_buffers() {
    let mut tape = Tape::new();
    let f = |tape: &mut Tape, n: usize| {
        tape.clear();
        let (x, y) = tape.record(|rec| {
            let x = rec.input(0.5);
            let a = rec.input(0.9);
            let mut y = x;
            for _ in 0..n {
                y = (y * a).sin() + 1.0;
            }
            (x, y)
        });
        tape.gradient(y).wrt(x)
    };
    let first = f(&mut tape, 10_000);
    let capacity = tape.stats().capacity_bytes;
    let second = f(&mut tape, 10_000);
    assert_eq!(first, second);
    assert_eq!(tape.stats().capacity_bytes, capacity);
    // Two inputs and one product per step (its sine and the sum are derived from it).
    assert_eq!(tape.stats().statements, 2 + 10_000);
}

#[test]
fn variables_of_another_tape_are_rejected() {
    let mut a = Tape::new();
    let mut b = Tape::new();
    let x = a.record(|rec| rec.input(1.0));
    let msg = panic_message(|| {
        b.record(|rec| {
            let y = rec.input(2.0);
            let _ = x * y;
        });
    });
    assert!(msg.contains("was used with recording"), "{msg}");
    let y = b.record(|rec| rec.input(2.0));
    let msg = panic_message(|| {
        let _ = a.gradient(y);
    });
    assert!(msg.contains("was used with recording"), "{msg}");
}

#[test]
fn variables_of_a_cleared_recording_are_rejected() {
    let mut tape = Tape::new();
    let x = tape.record(|rec| rec.input(1.0));
    tape.clear();
    let msg = panic_message(|| {
        tape.record(|rec| {
            let y = rec.input(1.0);
            let _ = x.exp() * y;
        })
    });
    assert!(msg.contains("invalid after that tape is cleared"), "{msg}");
}

#[test]
fn operations_outside_a_recording_are_rejected() {
    let mut tape = Tape::new();
    let (x, y) = tape.record(|rec| (rec.input(1.0), rec.input(2.0)));
    let msg = panic_message(|| {
        let _ = x + y;
    });
    assert!(msg.contains("while no tape was recording"), "{msg}");
    // An operation on one variable records nothing; its result is refused where it would
    // be recorded.
    let derived = x + 1.0;
    let msg = panic_message(|| {
        let _ = derived * y;
    });
    assert!(msg.contains("while no tape was recording"), "{msg}");
    // Constants need no tape.
    assert_eq!((Var::constant(2.0) * 3.0).value(), 6.0);
}

#[test]
fn nested_recordings_on_two_tapes() {
    let mut outer = Tape::new();
    let mut inner = Tape::new();
    let (x, y) = outer.record(|rec| {
        let x = rec.input(3.0);
        // An independent inner derivative, as a number fed into the outer function.
        let d = inner.record(|r| {
            let z = r.input(x.value());
            (z, z * z)
        });
        let slope = inner.gradient(d.1).wrt(d.0);
        (x, x * slope)
    });
    assert_eq!(outer.gradient(y).wrt(x), 6.0);
}

#[test]
fn threads_differentiate_independently() {
    let handles: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let a = t as f64 + 1.0;
                (0..200).all(|_| {
                    let g = grad(|x| (x[0] * a).sin() + x[1] * x[1] * a, &[0.3, 0.7]);
                    (g[0] - a * (0.3 * a).cos()).abs() < 1e-14 && (g[1] - 1.4 * a).abs() < 1e-14
                })
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap());
    }
}

#[test]
fn marks_bound_the_tape_of_independent_parts() {
    let mut tape = Tape::new();
    let rates = [0.01, 0.02, 0.03];
    let (spot, adj, peak) = tape.record(|rec| {
        let spot = rec.input(100.0);
        let vol = rec.input(1.0);
        let mut adj = rec.adjoints();
        let mut peak = 0;
        for (k, &r) in rates.iter().enumerate() {
            let m = rec.mark();
            let value = spot * (vol * r * (k as f64 + 1.0)).exp();
            peak = peak.max(value.index());
            rec.sweep_and_reset(m, &[(value, 1.0)], &mut adj);
        }
        (spot, adj, peak)
    });
    let expected: f64 = rates
        .iter()
        .enumerate()
        .map(|(k, r)| (r * (k as f64 + 1.0)).exp())
        .sum();
    assert!((adj.wrt(spot) - expected).abs() < 1e-14);
    assert_eq!(peak, 2); // every part reused the same slots
    assert_eq!(tape.stats().statements, 2);
}

fn vector_function(x: &[Var]) -> Vec<Var> {
    vec![
        x[0] * x[1].exp(),
        x[1].sin() + x[2] * x[0],
        x[2].powi(3),
        x[0] / x[2],
    ]
}

#[test]
fn jacobian_modes_agree_with_finite_differences() {
    let x = [0.4, -1.3, 2.0];
    let fwd = jacobian_with(vector_function, &x, JacobianMode::Forward).unwrap();
    let rev = jacobian_with(vector_function, &x, JacobianMode::Reverse).unwrap();
    let auto = jacobian_with(vector_function, &x, JacobianMode::Auto).unwrap();
    assert_eq!(fwd.len(), 4);
    for (i, row) in fwd.iter().enumerate() {
        let fd = finite_difference(
            |p| {
                let c: Vec<Var> = p.iter().map(|&v| Var::constant(v)).collect();
                vector_function(&c)[i].value()
            },
            &x,
        );
        for j in 0..3 {
            assert!((row[j] - fd[j]).abs() < 1e-7 * (1.0 + fd[j].abs()));
            assert!((row[j] - rev[i][j]).abs() < 1e-15 * (1.0 + row[j].abs()));
            assert_eq!(auto[i][j], row[j]);
        }
    }
}

/// A small tanh network's loss, generic so it runs on f64, Var and Var<Dual>.
fn network<T: Real>(w: &[T]) -> T {
    let inputs = [[0.5, -1.0], [1.5, 0.3], [-0.7, 0.8]];
    let mut loss = T::zero();
    for (k, x) in inputs.iter().enumerate() {
        let h0 = (w[0] * T::from_f64(x[0]) + w[1] * T::from_f64(x[1]) + w[2]).tanh();
        let h1 = (w[3] * T::from_f64(x[0]) + w[4] * T::from_f64(x[1]) + w[5]).tanh();
        let out = w[6] * h0 + w[7] * h1;
        let target = T::from_f64(k as f64 - 1.0);
        loss += (out - target).powi(2);
    }
    loss
}

#[test]
fn hessian_of_a_tanh_network_matches_differences_of_the_gradient() {
    let w = [0.3, -0.2, 0.1, 0.5, 0.4, -0.3, 1.2, -0.8];
    let h = hessian(network, &w);
    for j in 0..w.len() {
        let fd = {
            let e = 1e-5;
            let mut up = w;
            let mut down = w;
            up[j] += e;
            down[j] -= e;
            let (gu, gd) = (grad(network, &up), grad(network, &down));
            gu.iter()
                .zip(&gd)
                .map(|(a, b)| (a - b) / (2.0 * e))
                .collect::<Vec<_>>()
        };
        for i in 0..w.len() {
            assert!(
                (h[i][j] - fd[i]).abs() < 1e-6,
                "H[{i}][{j}] = {} vs {}",
                h[i][j],
                fd[i]
            );
            assert!((h[i][j] - h[j][i]).abs() < 1e-12, "symmetry");
        }
    }
    let v: Vec<f64> = (0..w.len()).map(|i| (i as f64 * 0.7).sin()).collect();
    let (g, hv) = hvp(network, &w, &v).unwrap();
    assert_eq!(g, grad(network, &w));
    for i in 0..w.len() {
        let expected: f64 = (0..w.len()).map(|j| h[i][j] * v[j]).sum();
        assert!((hv[i] - expected).abs() < 1e-12);
    }
    assert!(hvp(network, &w, &v[..3]).is_err());
}

/// Solves the 2×2 system A·y = b by Cramer's rule on plain numbers.
fn solve2(a: [f64; 4], b: [f64; 2]) -> [f64; 2] {
    let det = a[0] * a[3] - a[1] * a[2];
    [
        (b[0] * a[3] - a[1] * b[1]) / det,
        (a[0] * b[1] - a[2] * b[0]) / det,
    ]
}

/// A linear solve as a black box: y = A⁻¹b with the adjoint rule b̄ = A⁻ᵀȳ, Ā = −b̄·yᵀ.
fn solve_op(a: &[Var], b: &[Var]) -> Vec<Var> {
    let av = [a[0].value(), a[1].value(), a[2].value(), a[3].value()];
    let y = solve2(av, [b[0].value(), b[1].value()]);
    let inputs: Vec<Var> = a.iter().chain(b).copied().collect();
    custom_vjp(&inputs, &y, move |ybar, xbar| {
        let bbar = solve2([av[0], av[2], av[1], av[3]], [ybar[0], ybar[1]]);
        for i in 0..2 {
            for j in 0..2 {
                xbar[2 * i + j] -= bbar[i] * y[j];
            }
            xbar[4 + i] += bbar[i];
        }
    })
}

#[test]
fn custom_linear_solve_matches_finite_differences() {
    let loss = |v: &[Var]| {
        let y = solve_op(&[v[0], v[1], v[2], v[3]], &[v[4].sin(), v[5]]);
        y[0] * y[0] + 3.0 * y[1]
    };
    let x = [3.0, 1.0, -0.5, 2.0, 0.7, -1.1];
    // gradcheck evaluates the loss on constants too: the custom op then records nothing.
    gradcheck(loss, &x, Tolerance::default()).unwrap();
}

#[test]
fn custom_ops_declare_their_modes() {
    let f = |x: &[Var]| {
        let (a, b) = (x[0].value(), x[1].value());
        custom_op(x, &[a * b], &[b, a]).unwrap()
    };
    assert_eq!(
        jacobian_with(f, &[2.0, 3.0], JacobianMode::Forward).unwrap(),
        vec![vec![3.0, 2.0]]
    );
    let g = |x: &[Var]| custom_vjp(x, &[x[0].value()], |ybar, xbar| xbar[0] += ybar[0]);
    let err = jacobian_with(g, &[2.0], JacobianMode::Forward).unwrap_err();
    assert!(err.to_string().contains("reverse mode only"), "{err}");
    assert_eq!(
        jacobian_with(g, &[2.0], JacobianMode::Reverse).unwrap(),
        vec![vec![1.0]]
    );
    // A constant among the inputs of a custom operation gets no adjoint.
    let h = |x: &[Var]| {
        let inputs = [Var::constant(5.0), x[0]];
        custom_vjp(&inputs, &[5.0 * x[0].value()], |ybar, xbar| {
            xbar[0] += ybar[0];
            xbar[1] += 5.0 * ybar[0];
        })[0]
    };
    assert_eq!(grad(h, &[2.0]), vec![5.0]);
    let err = custom_op(&[Var::constant(1.0)], &[1.0, 2.0], &[1.0]).unwrap_err();
    assert!(
        err.to_string()
            .contains("custom_op: the Jacobian (2 outputs × 1 inputs"),
        "{err}"
    );
}

#[test]
fn statement_level_helpers_shrink_the_tape() {
    let x: Vec<f64> = (0..100).map(|i| 0.5 + 0.01 * i as f64).collect();
    let count = |fused: bool| {
        let mut tape = Tape::new();
        tape.record(|rec| {
            let v = rec.inputs(&x);
            if fused {
                retrograd::sum_map(&v, |t| t.sin() * t * t + (-t).exp())
            } else {
                v.iter().fold(Var::constant(0.0), |s, &t| {
                    s + (t.sin() * t * t + (-t).exp())
                })
            }
        });
        tape.stats()
    };
    let (fused, per_op) = (count(true), count(false));
    assert_eq!((fused.statements, fused.operands), (101, 100));
    assert_eq!(fused.bytes, 101 * 4 + 100 * 12);
    // Generic code: the term is a function of t alone, so it records nothing of its own:
    // one statement `s + term` of two operands per element after the first (where s is 0).
    assert_eq!((per_op.statements, per_op.operands), (199, 198));
}

proptest::proptest! {
    /// Any interleaving of inputs, operations, custom outputs, marks and resets on a tape
    /// that starts tiny (so every buffer grows many times) gives the gradient of a
    /// straight recording.
    #[test]
    fn growth_and_resets_keep_the_tape_consistent(plan in proptest::collection::vec(0u8..6, 1..200)) {
        let mut tape: Tape = Tape::with_capacity(0, 0);
        let (x, y, expected) = tape.record(|rec| {
            let x = rec.input(0.7);
            let mut y = x;
            let mut expected = 1.0; // dy/dx, tracked by hand
            let mut value = 0.7_f64;
            for &step in &plan {
                match step {
                    0 => { let _ = rec.inputs(&[1.0, 2.0, 3.0]); }
                    1 => { y *= 1.5; expected *= 1.5; value *= 1.5; }
                    2 => { y = y.sin(); expected *= value.cos(); value = value.sin(); }
                    3 => { let m = rec.mark(); let _ = (y * y).exp() + x; rec.reset(m); }
                    4 => { y = retrograd::sum(&[y, Var::constant(1.0)]); value += 1.0; }
                    _ => {
                        y = custom_vjp(&[y], &[2.0 * y.value()], |ybar, xbar| xbar[0] += 2.0 * ybar[0])[0];
                        expected *= 2.0;
                        value *= 2.0;
                    }
                }
            }
            (x, y, expected)
        });
        let g = tape.gradient(y).wrt(x);
        proptest::prop_assert!((g - expected).abs() <= 1e-12 * (1.0 + expected.abs()), "{g} vs {expected}");
    }
}

#[test]
fn reverse_over_reverse_hessian_equals_forward_over_reverse() {
    let w = [0.3, -0.2, 0.1, 0.5, 0.4, -0.3, 1.2, -0.8];
    let expected = hessian(network, &w);
    let mut outer = Tape::new();
    let (ws, grads) = outer.record(|rec| {
        let ws = rec.inputs(&w);
        let mut inner: Tape<Var> = Tape::new();
        let (wi, loss) = inner.record(|r| {
            let wi = r.inputs(&ws);
            let loss = network(&wi);
            (wi, loss)
        });
        // The inner reverse sweep runs on outer variables: it is recorded on the outer tape.
        (ws, inner.gradient(loss).wrt_all(&wi))
    });
    assert_eq!(
        grads.iter().map(|g| g.value()).collect::<Vec<_>>(),
        grad(network, &w)
    );
    let mut adj = outer.adjoints(&[]);
    for (i, &gi) in grads.iter().enumerate() {
        outer.adjoints_into(&[(gi, 1.0)], &mut adj);
        for (j, &wj) in ws.iter().enumerate() {
            assert!((adj.wrt(wj) - expected[i][j]).abs() < 1e-12, "H[{i}][{j}]");
        }
    }
}
