//! Merged statements: the result of an operation on one variable records nothing and
//! carries its derivative with respect to that variable's statement, so its consumers
//! record the product. Checked against forward mode (`Dual`, an independent chain rule),
//! central differences, and the conventions of the reverse sweep (zero beats ∞ and NaN on
//! an unused path).

use proptest::prelude::*;
use retrograd::forward::Dual;
use retrograd::gradcheck::finite_difference;
use retrograd::prelude::*;
use retrograd::{grad, Tape};

/// One step of a random straight-line program over the slots computed so far.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// A function of one slot.
    Unary(u8, usize),
    /// A slot and a constant, on either side.
    WithConstant(u8, usize, f64),
    /// Two slots, possibly the same one, or derived from the same input.
    Binary(u8, usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, any::<usize>()).prop_map(|(f, a)| Op::Unary(f, a)),
        (0u8..4, any::<usize>(), -2.0..2.0f64).prop_map(|(f, a, c)| Op::WithConstant(f, a, c)),
        (0u8..4, any::<usize>(), any::<usize>()).prop_map(|(f, a, b)| Op::Binary(f, a, b)),
    ]
}

/// Runs the program on inputs `x` and returns the sum of its last three slots.
fn run<T: Real>(program: &[Op], x: &[T]) -> T {
    let mut slots: Vec<T> = x.to_vec();
    for &op in program {
        let n = slots.len();
        let v = match op {
            Op::Unary(f, a) => {
                let a = slots[a % n];
                match f {
                    0 => a.sin(),
                    1 => a.tanh(),
                    2 => (a * T::from_f64(0.3)).exp(),
                    3 => a.atan(),
                    4 => (a * a + T::one()).sqrt(),
                    _ => -a,
                }
            }
            Op::WithConstant(f, a, c) => {
                let (a, c) = (slots[a % n], T::from_f64(c));
                match f {
                    0 => a * c,
                    1 => c - a,
                    2 => a / (c * c + T::one()),
                    _ => a.powi(2) * c,
                }
            }
            Op::Binary(f, a, b) => {
                let (a, b) = (slots[a % n], slots[b % n]);
                match f {
                    0 => a * b,
                    1 => a + b,
                    2 => a - b * T::from_f64(0.5),
                    _ => a / (b * b + T::one()),
                }
            }
        };
        slots.push(v);
    }
    slots.iter().rev().take(3).fold(T::zero(), |s, &v| s + v)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

proptest! {
    /// The tape's gradient of any program equals forward mode's, and central differences.
    #[test]
    fn merged_gradients_equal_forward_mode(
        program in proptest::collection::vec(op(), 1..60),
        x in proptest::array::uniform3(-1.5..1.5f64),
    ) {
        let value = run(&program, &x);
        prop_assume!(value.is_finite() && value.abs() < 1e6);
        let g = grad(|v| run(&program, v), &x);
        let duals: Vec<Dual<f64, 3>> = (0..3).map(|i| Dual::variable(x[i], i)).collect();
        let forward = run(&program, &duals);
        let scale = forward.tangent.iter().fold(1.0_f64, |m, t| m.max(t.abs()));
        for (i, (&gi, &ti)) in g.iter().zip(&forward.tangent).enumerate() {
            prop_assert!((gi - ti).abs() <= 1e-12 * scale, "∂/∂x{i}: tape {gi} vs forward {ti}");
        }
        let fd = finite_difference(|p| run(&program, p), &x);
        for (i, (&gi, &di)) in g.iter().zip(&fd).enumerate() {
            prop_assert!(close(gi, di, 1e-5), "∂/∂x{i}: tape {gi} vs differences {di}");
        }
    }

    /// Statements are recorded only by operations on two different statements: a program
    /// with one input records that input alone, whatever it computes.
    #[test]
    fn one_input_records_one_statement(program in proptest::collection::vec(op(), 1..60), x in -1.5..1.5f64) {
        let mut tape = Tape::new();
        let (v, y) = tape.record(|rec| {
            let v = rec.input(x);
            (v, run(&program, &[v]))
        });
        prop_assert_eq!(tape.stats().statements, 1);
        if y.value().is_finite() {
            let forward = run(&program, &[Dual::<f64, 1>::variable(x, 0)]);
            prop_assert!(close(tape.gradient(y).wrt(v), forward.tangent[0], 1e-12));
        }
    }
}

#[test]
fn one_variable_reused_a_thousand_times() {
    let x0 = 1.0005_f64;
    let mut tape = Tape::new();
    let (x, y) = tape.record(|rec| {
        let x = rec.input(x0);
        let mut y = x;
        for _ in 0..1000 {
            y *= x;
        }
        (x, y)
    });
    assert_eq!(tape.stats().statements, 1);
    let expected = 1001.0 * x0.powi(1000);
    assert!(close(tape.gradient(y).wrt(x), expected, 1e-12));
}

#[test]
fn zero_beats_infinite_and_nan_partials_on_an_unused_path() {
    // sqrt'(0) = ∞ times a constant zero: as the sweep skips a zero adjoint, 0 and not NaN.
    let g = grad(|v| v[0].sqrt() * 0.0 * v[1] + v[0], &[0.0, 2.0]);
    assert_eq!(g, vec![1.0, 0.0]);
    // The same product reached through a statement of two variables.
    let g = grad(|v| (v[0].sqrt() * v[1]) * 0.0 + v[0], &[0.0, 2.0]);
    assert_eq!(g, vec![1.0, 0.0]);
    // On a used path the infinity stays.
    let g = grad(|v| v[0].sqrt() * v[1], &[0.0, 2.0]);
    assert_eq!(g, vec![f64::INFINITY, 0.0]);
    // ln(−1) is NaN with a NaN partial: the NaN reaches the gradient.
    let g = grad(|v| v[0].ln().exp() * v[1], &[-1.0, 2.0]);
    assert!(g[0].is_nan() && g[1].is_nan());
    // A NaN input gives NaN derivatives through derived variables.
    let g = grad(|v| (v[0] * 3.0).sin() * v[1], &[f64::NAN, 1.0]);
    assert!(g[0].is_nan());
}

#[test]
fn derived_outputs_seed_their_statement_and_give_tangents() {
    let mut tape = Tape::new();
    let (x, y, z) = tape.record(|rec| {
        let (x, y) = (rec.input(0.3), rec.input(0.7));
        (x, y, (x * y).sin() * 2.0)
    });
    assert!(!z.is_node());
    let d = 2.0 * (0.3_f64 * 0.7).cos();
    let g = tape.gradient(z);
    assert!(close(g.wrt(x), d * 0.7, 1e-15) && close(g.wrt(y), d * 0.3, 1e-15));
    let t = tape.tangents(&[(x, 1.0)]).unwrap();
    assert!(close(t.wrt(z), d * 0.7, 1e-15));
}

#[test]
fn reading_the_adjoint_of_a_derived_variable_names_the_remedy() {
    let mut tape = Tape::new();
    let (s, y) = tape.record(|rec| {
        let x = rec.input(1.0);
        let s = x.sin();
        (s, s * s)
    });
    let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tape.gradient(y).wrt(s);
    }))
    .expect_err("a derived variable has no adjoint")
    .downcast_ref::<String>()
    .cloned()
    .unwrap();
    assert!(message.contains("Recorder::node"), "{message}");
}

#[test]
fn threads_merge_independently() {
    let handles: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let a = 0.1 * (t as f64 + 1.0);
                (0..500).all(|k| {
                    let x = [a, 0.01 * k as f64];
                    let g = grad(|v| (v[0] * 2.0).sin() * v[0] + v[1] * v[1] * v[0], &x);
                    let e0 = (2.0 * x[0]).sin() + 2.0 * x[0] * (2.0 * x[0]).cos() + x[1] * x[1];
                    close(g[0], e0, 1e-14) && close(g[1], 2.0 * x[1] * x[0], 1e-14)
                })
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap());
    }
}
