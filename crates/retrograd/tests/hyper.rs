//! Hypergradients of unrolled training: reverse (checkpointed) against forward mode and
//! central finite differences, memory independent of the number of steps, and errors.

use retrograd::gradcheck::{close, finite_difference, Tolerance};
use retrograd::hyper::{Adam, FunctionalOptimizer, InnerProblem, Sgd, Unroll};
use retrograd::{Error, Real};

/// Logistic regression on a few fixed points, two parameter groups (weights, bias), the
/// minibatch alternating between the two halves of the data.
struct Logistic;

const POINTS: [([f64; 2], f64); 6] = [
    ([0.5, 1.0], 1.0),
    ([-1.0, 0.2], 0.0),
    ([1.5, -0.5], 1.0),
    ([-0.3, -1.2], 0.0),
    ([0.8, 0.4], 1.0),
    ([-0.6, 0.9], 0.0),
];

impl InnerProblem for Logistic {
    fn training_gradient<T: Real>(&self, t: usize, w: &[T]) -> Vec<T> {
        let half = if t % 2 == 0 {
            &POINTS[..3]
        } else {
            &POINTS[3..]
        };
        let mut g = vec![T::zero(); 3];
        for (x, y) in half {
            let z = T::from_f64(x[0]) * w[0] + T::from_f64(x[1]) * w[1] + w[2];
            let r = (T::one() / (T::one() + (-z).exp()) - T::from_f64(*y)) / T::from_f64(3.0);
            g[0] += T::from_f64(x[0]) * r;
            g[1] += T::from_f64(x[1]) * r;
            g[2] += r;
        }
        g
    }

    fn validation_loss<T: Real>(&self, w: &[T]) -> T {
        // Cross-entropy on shifted points.
        POINTS
            .iter()
            .map(|(x, y)| {
                let z = T::from_f64(x[0] + 0.1) * w[0] + T::from_f64(x[1] - 0.2) * w[1] + w[2];
                let p = T::one() / (T::one() + (-z).exp());
                -(T::from_f64(*y) * p.ln() + T::from_f64(1.0 - y) * (T::one() - p).ln())
            })
            .sum()
    }
}

const INIT: [f64; 3] = [0.1, -0.2, 0.05];
const HYPER: [f64; 4] = [-1.0, -3.0, -1.5, -2.0];

fn check_against_finite_differences<O: FunctionalOptimizer + Copy>(optimizer: O, steps: usize) {
    let unroll = Unroll::new(&Logistic, optimizer, &[2, 1], steps).unwrap();
    let reverse = unroll.hypergradient(&INIT, &HYPER, 4).unwrap();
    let fd = finite_difference(|h| unroll.validation_loss(&INIT, h).unwrap(), &HYPER);
    let (value, forward) = unroll.hypergradient_forward::<3>(&INIT, &HYPER).unwrap();
    let (_, forward_one) = unroll.hypergradient_forward::<1>(&INIT, &HYPER).unwrap();
    assert_eq!(value, reverse.value);
    for i in 0..4 {
        assert!(
            close(reverse.hypergradient[i], fd[i], Tolerance::default()),
            "{i}: {} vs {}",
            reverse.hypergradient[i],
            fd[i]
        );
        assert!((reverse.hypergradient[i] - forward[i]).abs() < 1e-12);
        assert_eq!(forward[i], forward_one[i]);
    }
    let init_fd = finite_difference(|w| unroll.validation_loss(w, &HYPER).unwrap(), &INIT);
    for (a, b) in reverse.init_gradient.iter().zip(&init_fd) {
        assert!(close(*a, *b, Tolerance::default()), "{a} vs {b}");
    }
}

#[test]
fn sgd_hypergradients_match_finite_differences() {
    for nesterov in [false, true] {
        check_against_finite_differences(
            Sgd {
                momentum: 0.9,
                nesterov,
            },
            40,
        );
    }
    check_against_finite_differences(
        Sgd {
            momentum: 0.0,
            nesterov: false,
        },
        25,
    );
}

#[test]
fn adam_hypergradients_match_finite_differences() {
    check_against_finite_differences(Adam::new(), 30);
    check_against_finite_differences(
        Adam {
            decoupled: true,
            ..Adam::new()
        },
        30,
    );
}

#[test]
fn checkpointing_bounds_memory_and_matches_taping_every_step() {
    let sgd = Sgd {
        momentum: 0.5,
        nesterov: false,
    };
    let short = Unroll::new(&Logistic, sgd, &[2, 1], 20).unwrap();
    let long = Unroll::new(&Logistic, sgd, &[2, 1], 400).unwrap();
    let a = short.hypergradient(&INIT, &HYPER, 3).unwrap();
    let b = long.hypergradient(&INIT, &HYPER, 3).unwrap();
    assert_eq!(a.stats.peak_tape_bytes, b.stats.peak_tape_bytes);
    assert!(b.stats.max_snapshots <= 3);
    assert_eq!(b.stats.taped_steps, 400);
    // Every state kept: each step advanced once (no recomputation), the same numbers up
    // to rounding; with 3 states the binomial schedule's count.
    let all = long.hypergradient(&INIT, &HYPER, 400).unwrap();
    assert_eq!(all.stats.forward_steps, 399);
    assert_eq!(
        Some(b.stats.forward_steps),
        retrograd::checkpoint::forward_steps(400, 3)
    );
    for (x, y) in all.hypergradient.iter().zip(&b.hypergradient) {
        assert!((x - y).abs() <= 1e-12 * x.abs().max(1.0));
    }
}

/// A training gradient one entry short.
struct Short;

impl InnerProblem for Short {
    fn training_gradient<T: Real>(&self, _t: usize, w: &[T]) -> Vec<T> {
        w[1..].to_vec()
    }
    fn validation_loss<T: Real>(&self, w: &[T]) -> T {
        w[0]
    }
}

#[test]
fn bad_inputs_and_diverging_runs_are_errors() {
    let sgd = Sgd {
        momentum: 0.0,
        nesterov: false,
    };
    let unroll = Unroll::new(&Logistic, sgd, &[2, 1], 5).unwrap();
    let e = unroll.hypergradient(&INIT, &HYPER[..2], 2).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LengthMismatch {
                expected: 4,
                found: 2,
                ..
            }
        ),
        "{e}"
    );
    let e = unroll.hypergradient(&INIT[..2], &HYPER, 2).unwrap_err();
    assert!(e.to_string().contains("the initial parameters"), "{e}");
    let mut nan = HYPER;
    nan[3] = f64::NAN;
    let e = unroll.hypergradient_forward::<2>(&INIT, &nan).unwrap_err();
    assert_eq!(
        e,
        Error::NonFinite("hyper::Unroll: hyperparameter 3".into())
    );
    let e = unroll.hypergradient(&INIT, &HYPER, 0).unwrap_err();
    assert!(e.to_string().contains("0 snapshots"), "{e}");
    let e = unroll
        .hypergradient_forward::<0>(&INIT, &HYPER)
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e}");
    // A huge learning rate on a quadratic: the loss overflows.
    struct Quadratic;
    impl InnerProblem for Quadratic {
        fn training_gradient<T: Real>(&self, _t: usize, w: &[T]) -> Vec<T> {
            w.to_vec()
        }
        fn validation_loss<T: Real>(&self, w: &[T]) -> T {
            w[0] * w[0]
        }
    }
    let diverging = Unroll::new(&Quadratic, sgd, &[1], 200).unwrap();
    let e = diverging
        .hypergradient(&[1.0], &[3.0, -30.0], 5)
        .unwrap_err();
    assert!(e.to_string().contains("diverged"), "{e}");
    let e = Unroll::new(&Short, sgd, &[2], 3)
        .unwrap()
        .validation_loss(&[1.0, 2.0], &[0.0, 0.0])
        .unwrap_err();
    assert!(e.to_string().contains("the training gradient"), "{e}");
    assert!(Unroll::new(&Short, sgd, &[], 3).is_err());
}
