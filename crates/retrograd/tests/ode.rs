//! The ODE solvers against closed forms, and the three gradients against each other and
//! central differences; error cases; the `ode_sensitivities` example at reduced size.

use retrograd::gradcheck::finite_difference;
use retrograd::ode::{
    gradient, solve, solve_dense, OdeGradient, OdeSystem, Sensitivity, Solver, VjpReplay,
};
use retrograd::prelude::Float;
use retrograd::{Dual, Error, Real, Tape, Var};

#[allow(dead_code)]
#[path = "../examples/ode_sensitivities.rs"]
mod example;

/// y' = −k·y.
struct Decay;
impl OdeSystem for Decay {
    fn states(&self) -> usize {
        1
    }
    fn params(&self) -> usize {
        1
    }
    fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], dydt: &mut [T]) {
        dydt[0] = -p[0] * y[0];
    }
}

/// x'' = −ω²x, with a time-dependent forcing sin(t)·c to exercise `t`.
struct Oscillator;
impl OdeSystem for Oscillator {
    fn states(&self) -> usize {
        2
    }
    fn params(&self) -> usize {
        2
    }
    fn rhs<T: Real>(&self, t: T, y: &[T], p: &[T], dydt: &mut [T]) {
        dydt[0] = y[1];
        dydt[1] = -p[0] * p[0] * y[0] + p[1] * t.sin();
    }
}

/// The unforced oscillator's solution from (1, 0): (cos ωt, −ω sin ωt).
fn oscillator_exact(omega: f64, t: f64) -> [f64; 2] {
    [(omega * t).cos(), -omega * (omega * t).sin()]
}

fn max_error(solution: &[Vec<f64>], times: &[f64], omega: f64) -> f64 {
    solution
        .iter()
        .zip(times)
        .flat_map(|(y, &t)| {
            let e = oscillator_exact(omega, t);
            [(y[0] - e[0]).abs(), (y[1] - e[1]).abs()]
        })
        .fold(0.0, f64::max)
}

#[test]
fn rk4_converges_with_order_four() {
    let times = [0.0, 1.0, 2.0];
    let errors: Vec<f64> = [0.2, 0.1, 0.05]
        .iter()
        .map(|&dt| {
            let s = solve(
                &Oscillator,
                &Solver::rk4(dt),
                &[1.0, 0.0],
                &[2.0, 0.0],
                &times,
            )
            .unwrap();
            max_error(&s.states, &times, 2.0)
        })
        .collect();
    for w in errors.windows(2) {
        let order = (w[0] / w[1]).log2();
        assert!((3.8..4.3).contains(&order), "order {order} from {errors:?}");
    }
    // Exponential decay: the RK4 amplification factor is the degree-4 Taylor polynomial.
    let (k, dt) = (0.7, 0.1);
    let s = solve(&Decay, &Solver::rk4(dt), &[1.0], &[k], &[0.0, 1.0]).unwrap();
    let z: f64 = -k * dt;
    let factor = 1.0 + z + z * z / 2.0 + z.powi(3) / 6.0 + z.powi(4) / 24.0;
    assert!((s.states[1][0] - factor.powi(10)).abs() < 1e-14);
}

#[test]
fn dopri5_meets_its_tolerance() {
    let times: Vec<f64> = (0..=10).map(|i| i as f64).collect();
    let mut previous = f64::INFINITY;
    for tol in [1e-4, 1e-6, 1e-8, 1e-10] {
        let solver = Solver::dopri5(tol, tol);
        let s = solve(&Oscillator, &solver, &[1.0, 0.0], &[2.0, 0.0], &times).unwrap();
        let err = max_error(&s.states, &times, 2.0);
        // Global error over 10 time units (about 3 periods) stays within a small multiple
        // of the local tolerance, and shrinks with it.
        assert!(err < 20.0 * tol, "tol {tol}: error {err}");
        assert!(
            err < previous,
            "tol {tol}: error {err} not below {previous}"
        );
        previous = err;
        assert!(s.stats.steps > 0 && s.stats.rhs_evaluations > 6 * s.stats.steps);
    }
    let decay = solve(
        &Decay,
        &Solver::dopri5(1e-9, 1e-12),
        &[2.0],
        &[1.5],
        &[0.0, 4.0],
    )
    .unwrap();
    let exact = 2.0 * (-6.0_f64).exp();
    assert!((decay.states[1][0] - exact).abs() < 1e-9 * 2.0);
}

#[test]
fn dense_output_is_accurate_between_steps() {
    for (solver, bound) in [
        (Solver::dopri5(1e-9, 1e-9), 1e-7),
        (Solver::rk4(0.01), 1e-7),
    ] {
        let d = solve_dense(&Oscillator, &solver, &[1.0, 0.0], &[2.0, 0.0], 0.0, 5.0).unwrap();
        let worst = (0..=997)
            .map(|i| 5.0 * i as f64 / 997.0)
            .map(|t| {
                let y = d.evaluate(t).unwrap();
                let e = oscillator_exact(2.0, t);
                (y[0] - e[0]).abs().max((y[1] - e[1]).abs())
            })
            .fold(0.0, f64::max);
        assert!(worst < bound, "{solver:?}: dense output error {worst}");
    }
    // Dormand–Prince's steps are long; the 4th-order interpolant keeps the accuracy there.
    let d = solve_dense(
        &Decay,
        &Solver::dopri5(1e-6, 1e-6),
        &[1.0],
        &[1.0],
        0.0,
        10.0,
    )
    .unwrap();
    assert!(d.stats.steps < 40);
    let worst = (0..=100)
        .map(|i| i as f64 / 10.0)
        .map(|t| (d.evaluate(t).unwrap()[0] - (-t).exp()).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5, "{worst}");
}

/// The loss used by the gradient tests: a weighted sum of squares over all output times.
fn loss(ys: &[Vec<Var>]) -> Var {
    let mut sum = Var::constant(0.0);
    for (i, y) in ys.iter().enumerate() {
        for (j, &v) in y.iter().enumerate() {
            sum += v * v * (1.0 + 0.1 * (i + j) as f64) + v.sin();
        }
    }
    sum
}

fn all_gradients(solver: &Solver, y0: &[f64], p: &[f64], times: &[f64]) -> [OdeGradient; 3] {
    [
        Sensitivity::Forward,
        Sensitivity::DiscreteAdjoint { snapshots: 3 },
        Sensitivity::ContinuousAdjoint {
            checkpoint_every: 7,
        },
    ]
    .map(|s| gradient(&Oscillator, solver, y0, p, times, loss, s).unwrap())
}

fn joined(g: &OdeGradient) -> Vec<f64> {
    [g.state_adjoint.as_slice(), g.param_adjoint.as_slice()].concat()
}

fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    let scale = b.iter().fold(1e-300f64, |m, x| m.max(x.abs()));
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol * scale, "{what}: {a:?} vs {b:?}");
    }
}

/// The loss of a plain `f64` solve, for central differences in (y0, p).
fn solved_loss(solver: &Solver, x: &[f64], times: &[f64]) -> f64 {
    let s = solve(&Oscillator, solver, &x[..2], &x[2..], times).unwrap();
    let ys: Vec<Vec<Var>> = s
        .states
        .iter()
        .map(|y| y.iter().map(|&v| Var::constant(v)).collect())
        .collect();
    loss(&ys).value()
}

#[test]
fn three_gradients_agree_with_each_other_and_central_differences() {
    let (y0, p) = ([0.8, -0.3], [1.7, 0.4]);
    let times = [0.0, 0.5, 1.3, 2.0];
    let x: Vec<f64> = [y0.as_slice(), p.as_slice()].concat();
    for (solver, continuous_tol) in [
        (Solver::rk4(0.01), 1e-7),
        (Solver::dopri5(1e-11, 1e-12), 1e-8),
    ] {
        let [forward, discrete, continuous] = all_gradients(&solver, &y0, &p, &times);
        assert_close(
            &joined(&forward),
            &joined(&discrete),
            1e-12,
            "forward vs discrete",
        );
        assert_close(
            &joined(&continuous),
            &joined(&discrete),
            continuous_tol,
            "continuous vs discrete",
        );
        let fd = finite_difference(|x| solved_loss(&solver, x, &times), &x);
        assert_close(
            &joined(&discrete),
            &fd,
            1e-7,
            "discrete vs central differences",
        );
        assert!((forward.value - solved_loss(&solver, &x, &times)).abs() < 1e-12);
        assert_eq!(continuous.states, discrete.states);
        assert!(continuous.adjoint_stats.steps > 0);
    }
}

#[test]
fn gradients_match_the_solver_run_on_var_and_dual() {
    let (y0, p) = ([0.8, -0.3], [1.7, 0.4]);
    let times = [0.0, 0.7, 1.5];
    for solver in [Solver::rk4(0.05), Solver::dopri5(1e-8, 1e-10)] {
        let [_, discrete, _] = all_gradients(&solver, &y0, &p, &times);
        // Reverse mode: the whole solve recorded on a tape.
        let mut tape = Tape::new();
        let (inputs, l) = tape.record(|rec| {
            let ys = rec.inputs(&y0);
            let ps = rec.inputs(&p);
            let s = solve(&Oscillator, &solver, &ys, &ps, &times).unwrap();
            ([ys, ps].concat(), loss(&s.states))
        });
        let adj = tape.gradient(l);
        let taped: Vec<f64> = inputs.iter().map(|&v| adj.wrt(v)).collect();
        assert_close(
            &taped,
            &joined(&discrete),
            1e-12,
            "taped solve vs discrete adjoint",
        );
        // Forward mode with one direction: the derivative along v equals ∇L·v.
        let v = [0.3, -1.0, 0.5, 2.0];
        let yd: Vec<Dual> = y0
            .iter()
            .zip(&v)
            .map(|(&a, &t)| Dual::new(a, [t]))
            .collect();
        let pd: Vec<Dual> = p
            .iter()
            .zip(&v[2..])
            .map(|(&a, &t)| Dual::new(a, [t]))
            .collect();
        let s = solve(&Oscillator, &solver, &yd, &pd, &times).unwrap();
        let ys: Vec<Vec<Dual>> = s.states;
        // The loss on Dual: the same expression as `loss`.
        let mut dl = 0.0;
        for (i, y) in ys.iter().enumerate() {
            for (j, d) in y.iter().enumerate() {
                let w = 1.0 + 0.1 * (i + j) as f64;
                dl += (2.0 * w * d.value + d.value.cos()) * d.tangent[0];
            }
        }
        let expected: f64 = joined(&discrete).iter().zip(&v).map(|(g, t)| g * t).sum();
        assert!(
            (dl - expected).abs() < 1e-10 * expected.abs().max(1.0),
            "{dl} vs {expected}"
        );
    }
}

#[test]
fn single_output_time_and_decay_closed_form() {
    // Only the initial time: L depends on y0 directly.
    for s in [
        Sensitivity::Forward,
        Sensitivity::DiscreteAdjoint { snapshots: 1 },
        Sensitivity::ContinuousAdjoint {
            checkpoint_every: 1,
        },
    ] {
        let g = gradient(
            &Decay,
            &Solver::rk4(0.1),
            &[3.0],
            &[1.0],
            &[0.0],
            |ys| ys[0][0] * 2.0,
            s,
        )
        .unwrap();
        assert_eq!(
            (g.state_adjoint[0], g.param_adjoint[0]),
            (2.0, 0.0),
            "{s:?}"
        );
        // y(t) = y0·e^(−kt), L = Σ y(tᵢ) over t = 0, 1, 2, 3.
        let times = [0.0, 1.0, 2.0, 3.0];
        let g = gradient(
            &Decay,
            &Solver::dopri5(1e-12, 1e-14),
            &[3.0],
            &[0.5],
            &times,
            |ys| ys.iter().map(|y| y[0]).sum(),
            s,
        )
        .unwrap();
        let dy0: f64 = times.iter().map(|t| (-0.5 * t).exp()).sum();
        let dk: f64 = times.iter().map(|t| -3.0 * t * (-0.5 * t).exp()).sum();
        assert!((g.state_adjoint[0] - dy0).abs() < 1e-9, "{s:?}");
        assert!((g.param_adjoint[0] - dk).abs() < 1e-9, "{s:?}");
    }
}

#[test]
fn replayed_vjp_matches_the_jacobian_at_new_times_and_states() {
    let mut replay = VjpReplay::new();
    let (p, w) = ([1.3, 0.7], [0.5, -2.0]);
    let (mut yb, mut pb) = ([0.0; 2], [0.0; 2]);
    // Recorded at the first call, replayed at the others: time (the forcing sin t) and
    // state change from call to call.
    for (t, y) in [(0.4, [0.6, -0.2]), (1.7, [-0.3, 0.9]), (-2.0, [2.0, 1.0])] {
        Oscillator
            .vjp(t, &y, &p, &w, &mut yb, &mut pb, &mut replay)
            .unwrap();
        let jy = [[0.0, 1.0], [-p[0] * p[0], 0.0]];
        let jp = [[0.0, 0.0], [-2.0 * p[0] * y[0], f64::sin(t)]];
        for i in 0..2 {
            assert!((yb[i] - (w[0] * jy[0][i] + w[1] * jy[1][i])).abs() < 1e-15);
            assert!((pb[i] - (w[0] * jp[0][i] + w[1] * jp[1][i])).abs() < 1e-15);
        }
    }
    assert_eq!(replay.recordings(), 1);
    let err = Oscillator
        .vjp(
            0.4,
            &[0.6, -0.2],
            &p,
            &w[..1],
            &mut yb,
            &mut pb,
            &mut replay,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ode::VjpReplay::vjp: the cotangent w: expected length 2, found 1"
    );
}

/// y' = −k·y where y > 0 and −2k·y elsewhere, written as a branch.
struct Piecewise;
impl OdeSystem for Piecewise {
    fn states(&self) -> usize {
        1
    }
    fn params(&self) -> usize {
        1
    }
    fn rhs<T: Real>(&self, _t: T, y: &[T], p: &[T], dydt: &mut [T]) {
        dydt[0] = if y[0] > T::zero() {
            -p[0] * y[0]
        } else {
            -T::from_f64(2.0) * p[0] * y[0]
        };
    }
}

#[test]
fn replayed_vjp_records_again_where_the_right_hand_side_branches_otherwise() {
    let mut replay = VjpReplay::new();
    let (mut yb, mut pb) = ([0.0], [0.0]);
    for (y, k, recordings) in [(1.0, 0.5, 1), (2.0, 0.5, 1), (-1.0, 0.5, 2), (-3.0, 0.5, 2)] {
        Piecewise
            .vjp(0.0, &[y], &[k], &[1.0], &mut yb, &mut pb, &mut replay)
            .unwrap();
        let slope = if y > 0.0 { 1.0 } else { 2.0 };
        assert_eq!((yb[0], pb[0]), (-slope * k, -slope * y), "at y = {y}");
        assert_eq!(replay.recordings(), recordings);
    }
    // The continuous adjoint through a solution that crosses zero agrees with the
    // discrete adjoint (the kink is crossed between output times).
    let solver = Solver::Rk4 { dt: 1e-3 };
    let times = [0.0, 0.5, 1.0];
    let loss = |ys: &[Vec<Var>]| ys[2][0] * ys[2][0];
    let grad = |method| gradient(&Shifted, &solver, &[0.3], &[1.0], &times, loss, method).unwrap();
    let discrete = grad(Sensitivity::DiscreteAdjoint { snapshots: 8 });
    let continuous = grad(Sensitivity::ContinuousAdjoint {
        checkpoint_every: 50,
    });
    for (a, b) in [
        (discrete.state_adjoint[0], continuous.state_adjoint[0]),
        (discrete.param_adjoint[0], continuous.param_adjoint[0]),
    ] {
        assert!((a - b).abs() < 1e-6 * a.abs().max(1.0), "{a} vs {b}");
    }
}

/// y' = −1 + Piecewise(y): drives y through zero.
struct Shifted;
impl OdeSystem for Shifted {
    fn states(&self) -> usize {
        1
    }
    fn params(&self) -> usize {
        1
    }
    fn rhs<T: Real>(&self, t: T, y: &[T], p: &[T], dydt: &mut [T]) {
        Piecewise.rhs(t, y, p, dydt);
        dydt[0] -= T::one();
    }
}

/// y' = √(y − 1): the square root of a negative number once y drops below 1.
struct Sqrt;
impl OdeSystem for Sqrt {
    fn states(&self) -> usize {
        1
    }
    fn params(&self) -> usize {
        0
    }
    fn rhs<T: Real>(&self, _t: T, y: &[T], _p: &[T], dydt: &mut [T]) {
        dydt[0] = -(y[0] - T::one()).sqrt() - T::one();
    }
}

/// y' = y²: blows up at t = 1/y0.
struct BlowUp;
impl OdeSystem for BlowUp {
    fn states(&self) -> usize {
        1
    }
    fn params(&self) -> usize {
        0
    }
    fn rhs<T: Real>(&self, _t: T, y: &[T], _p: &[T], dydt: &mut [T]) {
        dydt[0] = y[0] * y[0];
    }
}

#[test]
fn bad_inputs_give_clear_errors() {
    let rk4 = Solver::rk4(0.1);
    let err = solve(&Sqrt, &rk4, &[2.0], &[], &[0.0, 5.0]).unwrap_err();
    assert!(
        matches!(&err, Error::NonFinite(m) if m.contains("right-hand side at t =")),
        "{err}"
    );
    // Dormand–Prince retries shorter steps first, then names the value and the underflow.
    let err = solve(&Sqrt, &Solver::dopri5(1e-6, 1e-6), &[2.0], &[], &[0.0, 5.0]).unwrap_err();
    assert!(
        matches!(&err, Error::NonFinite(m) if m.contains("right-hand side") && m.contains("underflowed")),
        "{err}"
    );
    // Dormand–Prince approaching the singularity: the steps shrink until they underflow.
    let err = solve(
        &BlowUp,
        &Solver::dopri5(1e-6, 1e-6),
        &[1.0],
        &[],
        &[0.0, 2.0],
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Integration(m) if m.contains("underflow"))
            || matches!(err, Error::NonFinite(_)),
        "{err}"
    );
    let few = Solver::Dopri5 {
        rtol: 1e-10,
        atol: 1e-10,
        max_steps: 5,
    };
    let err = solve(&Oscillator, &few, &[1.0, 0.0], &[2.0, 0.0], &[0.0, 10.0]).unwrap_err();
    assert!(
        matches!(&err, Error::Integration(m) if m.contains("5 steps")),
        "{err}"
    );
    let err = solve(&Oscillator, &rk4, &[1.0], &[2.0, 0.0], &[0.0, 1.0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ode: the initial state (one value per state): expected length 2, found 1"
    );
    let err = solve(&Oscillator, &rk4, &[1.0, 0.0], &[2.0], &[0.0, 1.0]).unwrap_err();
    assert!(matches!(
        err,
        Error::LengthMismatch {
            expected: 2,
            found: 1,
            ..
        }
    ));
    for times in [&[0.0, 1.0, 1.0][..], &[1.0, 0.0], &[], &[0.0, f64::NAN]] {
        assert!(
            solve(&Decay, &rk4, &[1.0], &[1.0], times).is_err(),
            "{times:?}"
        );
    }
    assert!(matches!(
        solve(&Decay, &rk4, &[f64::INFINITY], &[1.0], &[0.0, 1.0]),
        Err(Error::NonFinite(_))
    ));
    for bad in [
        Solver::rk4(0.0),
        Solver::rk4(f64::NAN),
        Solver::dopri5(0.0, 0.0),
        Solver::dopri5(-1.0, 1e-6),
    ] {
        assert!(matches!(
            solve(&Decay, &bad, &[1.0], &[1.0], &[0.0, 1.0]),
            Err(Error::Unsupported(_))
        ));
    }
    let d = solve_dense(&Decay, &rk4, &[1.0], &[1.0], 0.0, 1.0).unwrap();
    assert!(d.evaluate(-0.1).is_err() && d.evaluate(f64::NAN).is_err());
    // The gradient's own settings and a non-finite loss.
    let times = [0.0, 1.0];
    let g = |s| gradient(&Decay, &rk4, &[1.0], &[1.0], &times, |ys| ys[1][0], s);
    assert!(g(Sensitivity::DiscreteAdjoint { snapshots: 0 }).is_err());
    assert!(g(Sensitivity::ContinuousAdjoint {
        checkpoint_every: 0
    })
    .is_err());
    let nan_loss = gradient(
        &Decay,
        &rk4,
        &[1.0],
        &[1.0],
        &times,
        |ys| (ys[1][0] - 2.0).ln(),
        Sensitivity::Forward,
    );
    assert!(matches!(nan_loss, Err(Error::NonFinite(m)) if m.contains("loss")));
}

#[test]
fn example_checks_pass_at_reduced_size() {
    let report = example::run(true);
    for (name, ok) in &report.checks {
        assert!(ok, "check {name} failed");
    }
    assert!(report.agreement.forward_vs_discrete < 1e-9);
    assert!(report.fit_max_rel_param_error < 0.05);
    let path = std::env::temp_dir().join(format!("retrograd-ode-{}.png", std::process::id()));
    example::plot(&path, &report.fit.params).unwrap();
    assert_eq!(&std::fs::read(&path).unwrap()[1..4], b"PNG");
    std::fs::remove_file(&path).ok();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    #[test]
    fn the_three_gradients_agree_at_random_inputs(
        a in -1.0..1.0f64, b in -1.0..1.0f64, omega in 0.5..3.0f64, force in -1.0..1.0f64,
    ) {
        let (y0, p) = ([a, b], [omega, force]);
        let [forward, discrete, continuous] =
            all_gradients(&Solver::dopri5(1e-10, 1e-12), &y0, &p, &[0.0, 0.6, 1.5]);
        let (f, d, c) = (joined(&forward), joined(&discrete), joined(&continuous));
        let scale = d.iter().fold(1e-12f64, |m, x| m.max(x.abs()));
        for i in 0..4 {
            proptest::prop_assert!((f[i] - d[i]).abs() <= 1e-11 * scale, "{f:?} vs {d:?}");
            proptest::prop_assert!((c[i] - d[i]).abs() <= 1e-6 * scale, "{c:?} vs {d:?}");
        }
    }
}

/// The oscillator with a VJP that fails: the continuous adjoint must report its error.
struct FailingVjp;
impl OdeSystem for FailingVjp {
    fn states(&self) -> usize {
        2
    }
    fn params(&self) -> usize {
        2
    }
    fn rhs<T: Real>(&self, t: T, y: &[T], p: &[T], dydt: &mut [T]) {
        Oscillator.rhs(t, y, p, dydt)
    }
    fn vjp(
        &self,
        _t: f64,
        _y: &[f64],
        _p: &[f64],
        _w: &[f64],
        _y_bar: &mut [f64],
        _p_bar: &mut [f64],
        _tape: &mut VjpReplay,
    ) -> Result<(), Error> {
        Err(Error::Unsupported("no VJP here".into()))
    }
}

#[test]
fn a_failing_vjp_fails_the_continuous_adjoint() {
    for solver in [Solver::rk4(0.1), Solver::dopri5(1e-6, 1e-8)] {
        let err = gradient(
            &FailingVjp,
            &solver,
            &[1.0, 0.0],
            &[1.0, 0.0],
            &[0.0, 1.0],
            loss,
            Sensitivity::ContinuousAdjoint {
                checkpoint_every: 4,
            },
        )
        .unwrap_err();
        assert_eq!(err, Error::Unsupported("no VJP here".into()));
    }
}
