//! Scalar tape benchmark: gradient time / plain `f64` time, measured in one process.
//!
//! `cargo bench -p retrograd --bench scalar` prints, for each function, the median time of
//! the plain `f64` evaluation and of the gradient (record + reverse sweep + reading the
//! gradient), record and sweep separately, their ratio, and the tape size. Two ways to
//! differentiate are measured: unchanged generic code (a tape statement per operation on
//! two different statements; operations on one variable are merged into their consumers)
//! and the statement-level helpers (`sum_map`, `sum_map_chunks`, `preaccumulate`). Then
//! the same generic code recorded once for replay: the replayed gradient (forward with
//! local partials, then the reverse sweep) and the replayed value alone, against the plain
//! `f64` evaluation (with the `jit` feature, also the recording compiled to native code,
//! and one RK4 step compiled and replayed through 1,000 steps); and the RK4 loop replayed
//! in SIMD lanes for an ensemble of 8 initial
//! states and parameters (`Recording::gradient_lanes`), against 8 plain evaluations.

use retrograd::checkpoint::{self, Step};
use retrograd::prelude::*;
use retrograd::replay::{self, LaneWorkspace, Traced, Workspace, LANES};
use retrograd::{Tape, TapeStats};
use std::hint::black_box;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- the functions

#[path = "common/functions.rs"]
mod functions;
use functions::{f1, f1_gradient, f1_sum_map, f2, f2_gradient, f2_sum_map_chunks, inputs};

/// (c) RK4 for Lotka–Volterra u' = a·u − b·u·v, v' = c·u·v − d·v, dt = 0.01.
struct LotkaVolterra;

fn lv_rhs<T: Real>(u: T, v: T, p: &[T]) -> (T, T) {
    (p[0] * u - p[1] * u * v, p[2] * u * v - p[3] * v)
}

impl Step for LotkaVolterra {
    fn step<T: Real>(&self, _k: usize, x: &[T], p: &[T]) -> Vec<T> {
        let (u, v) = rk4(x[0], x[1], p);
        vec![u, v]
    }
}

#[inline(always)]
fn rk4<T: Real>(u: T, v: T, p: &[T]) -> (T, T) {
    let dt = T::from_f64(0.01);
    let h2 = T::from_f64(0.005);
    let h6 = T::from_f64(0.01 / 6.0);
    let two = T::from_f64(2.0);
    let (k1u, k1v) = lv_rhs(u, v, p);
    let (k2u, k2v) = lv_rhs(u + h2 * k1u, v + h2 * k1v, p);
    let (k3u, k3v) = lv_rhs(u + h2 * k2u, v + h2 * k2v, p);
    let (k4u, k4v) = lv_rhs(u + dt * k3u, v + dt * k3v, p);
    (
        u + h6 * (k1u + two * k2u + two * k3u + k4u),
        v + h6 * (k1v + two * k2v + two * k3v + k4v),
    )
}

fn lv_loop<T: Real>(x0: &[T], p: &[T], steps: usize) -> T {
    let (mut u, mut v) = (x0[0], x0[1]);
    for _ in 0..steps {
        (u, v) = rk4(u, v, p);
    }
    u + v
}

// ---------------------------------------------------------------- timing

struct Sample {
    primal: Vec<Duration>,
    record: Vec<Duration>,
    sweep: Vec<Duration>,
}

fn median(v: &mut [Duration]) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64()
}

/// Times `reps` interleaved rounds of the primal and of the gradient; `gradient` returns
/// the instant its recording ended, splitting its time into record and sweep.
fn measure(
    reps: usize,
    mut primal: impl FnMut() -> f64,
    mut gradient: impl FnMut() -> Instant,
) -> Sample {
    let mut s = Sample {
        primal: vec![],
        record: vec![],
        sweep: vec![],
    };
    for rep in 0..reps + 2 {
        let t0 = Instant::now();
        black_box(primal());
        let t1 = Instant::now();
        let recorded = gradient();
        let t2 = Instant::now();
        if rep >= 2 {
            s.primal.push(t1 - t0);
            s.record.push(recorded - t1);
            s.sweep.push(t2 - recorded);
        }
    }
    s
}

fn report(name: &str, per: &str, count: usize, mut s: Sample, stats: TapeStats) {
    let (p, r, w) = (
        median(&mut s.primal),
        median(&mut s.record),
        median(&mut s.sweep),
    );
    let mut total: Vec<Duration> = s
        .record
        .iter()
        .zip(&s.sweep)
        .map(|(a, b)| *a + *b)
        .collect();
    let g = median(&mut total);
    println!(
        "{name:<34} primal {:>9.3} ms | gradient {:>9.3} ms (record {:>8.3}, sweep {:>8.3}) | ratio {:>6.2} | {:>6.1} B/{per} ({:.2} statements, {:.2} operands)",
        p * 1e3,
        g * 1e3,
        r * 1e3,
        w * 1e3,
        g / p,
        stats.bytes as f64 / count as f64,
        stats.statements as f64 / count as f64,
        stats.operands as f64 / count as f64,
    );
}

/// Gradient of a function of a slice: records on `tape`, sweeps, returns the gradient.
fn bench_slice(
    name: &str,
    x: &[f64],
    reps: usize,
    primal: fn(&[f64]) -> f64,
    f: fn(&[Var]) -> Var,
) -> Vec<f64> {
    let mut tape = Tape::with_capacity(16 * x.len(), 16 * x.len());
    let mut adj = tape.adjoints(&[]);
    let mut inputs: Vec<Var> = Vec::with_capacity(x.len());
    let mut g = vec![0.0; x.len()];
    let mut stats = tape.stats();
    let s = measure(
        reps,
        || primal(black_box(x)),
        || {
            tape.clear();
            let y = tape.record(|rec| {
                inputs.clear();
                rec.inputs_into(x, &mut inputs);
                f(&inputs)
            });
            let recorded = Instant::now();
            tape.adjoints_into(&[(y, 1.0)], &mut adj);
            for (gi, &xi) in g.iter_mut().zip(&inputs) {
                *gi = adj.wrt(xi);
            }
            stats = tape.stats();
            recorded
        },
    );
    report(name, "element", x.len(), s, stats);
    g
}

fn check(name: &str, g: &[f64], expected: &[f64]) {
    let worst = g
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
        .fold(0.0, f64::max);
    assert!(
        worst < 1e-10,
        "{name}: gradient differs from the hand-written one by {worst:e}"
    );
}

fn lv_bench(reps: usize) {
    let x0 = [10.0, 5.0];
    let p = [1.5, 1.0, 3.0, 1.0];
    let steps = 1000;
    let mut tape = Tape::with_capacity(1 << 17, 1 << 18);
    let mut stats = tape.stats();
    let mut g = [0.0; 6];
    for fused in [false, true] {
        let s = measure(
            reps,
            || lv_loop(black_box(&x0), black_box(&p), steps),
            || {
                tape.clear();
                let (xs, ps, j) = tape.record(|rec| {
                    let xs = rec.inputs(&x0);
                    let ps = rec.inputs(&p);
                    let j = if fused {
                        let (mut u, mut v) = (xs[0], xs[1]);
                        for _ in 0..steps {
                            [u, v] = retrograd::preaccumulate(
                                [u, v, ps[0], ps[1], ps[2], ps[3]],
                                |[u, v, a, b, c, d]| {
                                    let (u, v) = rk4(u, v, &[a, b, c, d]);
                                    [u, v]
                                },
                            );
                        }
                        u + v
                    } else {
                        lv_loop(&xs, &ps, steps)
                    };
                    (xs, ps, j)
                });
                let recorded = Instant::now();
                let adj = tape.gradient(j);
                for (gi, v) in g.iter_mut().zip(xs.iter().chain(&ps)) {
                    *gi = adj.wrt(*v);
                }
                stats = tape.stats();
                recorded
            },
        );
        let name = if fused {
            "(c) RK4 LV, preaccumulated steps"
        } else {
            "(c) RK4 LV, generic code"
        };
        report(name, "step", steps, s, stats);
    }
    let expected = [
        1.446770060434e-04,
        2.224387121367e-05,
        1.065934064998e-04,
        -1.726945920312e-03,
        4.822563878298e-04,
        -1.826133170128e-02,
    ];
    for (a, b) in g.iter().zip(&expected) {
        assert!(
            (a - b).abs() < 1e-9 * b.abs().max(1e-6),
            "(c) gradient {g:?}"
        );
    }
}

/// Times `reps` interleaved rounds (after 2 warm-up rounds) of the plain evaluation, a
/// replayed gradient into `g` and a replayed value; the medians, in seconds.
fn time_replays(
    reps: usize,
    x: &[f64],
    primal: impl Fn(&[f64]) -> f64,
    mut gradient: impl FnMut(&mut [f64]),
    mut value: impl FnMut(),
    g: &mut [f64],
) -> (f64, f64, f64) {
    let (mut p, mut grad, mut val) = (vec![], vec![], vec![]);
    for rep in 0..reps + 2 {
        let t0 = Instant::now();
        black_box(primal(black_box(x)));
        let t1 = Instant::now();
        gradient(g);
        let t2 = Instant::now();
        value();
        let t3 = Instant::now();
        if rep >= 2 {
            p.push(t1 - t0);
            grad.push(t2 - t1);
            val.push(t3 - t2);
        }
    }
    (median(&mut p), median(&mut grad), median(&mut val))
}

/// Records `f` once at `x`, then times the replayed gradient and the replayed value at
/// `x`, interleaved with the plain evaluation; checks the gradient against `expected`.
fn replay_bench(
    name: &str,
    x: &[f64],
    reps: usize,
    primal: impl Fn(&[f64]) -> f64,
    f: impl Fn(&[Traced]) -> Traced,
    expected: &[f64],
) {
    let t = Instant::now();
    let rec = replay::record(x, f);
    let recording = t.elapsed().as_secs_f64();
    let ws = std::cell::RefCell::new(Workspace::new());
    let mut g = vec![0.0; x.len()];
    let (p, grad, value) = time_replays(
        reps,
        x,
        &primal,
        |g| rec.vjp_with(&mut ws.borrow_mut(), x, &[1.0], g).unwrap(),
        || rec.eval_with(&mut ws.borrow_mut(), x).unwrap(),
        &mut g,
    );
    check(name, &g, expected);
    println!(
        "{name:<34} primal {:>9.3} ms | replayed gradient {:>9.3} ms (ratio {:>6.2}) | replayed value {:>9.3} ms (ratio {:>5.2}) | recorded once in {:.3} ms, {} operations",
        p * 1e3,
        grad * 1e3,
        grad / p,
        value * 1e3,
        value / p,
        recording * 1e3,
        rec.len()
    );
    #[cfg(feature = "jit")]
    compiled_bench(name, x, reps, &primal, &rec, expected);
}

/// As [`replay_bench`], the recording compiled to native code (`Recording::compile`).
#[cfg(feature = "jit")]
fn compiled_bench(
    name: &str,
    x: &[f64],
    reps: usize,
    primal: impl Fn(&[f64]) -> f64,
    rec: &replay::Recording,
    expected: &[f64],
) {
    let t = Instant::now();
    let compiled = match rec.compile() {
        Ok(c) => c,
        Err(e) => return println!("{name}, compiled: {e}"),
    };
    let compiling = t.elapsed().as_secs_f64();
    let ws = std::cell::RefCell::new(Workspace::new());
    let mut g = vec![0.0; x.len()];
    let (p, grad, value) = time_replays(
        reps,
        x,
        primal,
        |g| {
            compiled
                .vjp_with(&mut ws.borrow_mut(), x, &[1.0], g)
                .unwrap()
        },
        || compiled.eval_with(&mut ws.borrow_mut(), x).unwrap(),
        &mut g,
    );
    check(name, &g, expected);
    println!(
        "{:<34} primal {:>9.3} ms | compiled gradient {:>9.3} ms (ratio {:>6.2}) | compiled value {:>9.3} ms (ratio {:>5.2}) | compiled once in {:.3} ms",
        format!("{name}, compiled"),
        p * 1e3,
        grad * 1e3,
        grad / p,
        value * 1e3,
        value / p,
        compiling * 1e3,
    );
}

/// One RK4 step recorded and compiled, its vector–Jacobian product replayed at each of
/// 1,000 steps' states (the discrete adjoint's sweep), against 1,000 plain steps; and the
/// whole gradient that way (a plain forward pass keeping the states, then the replays)
/// against the plain loop.
#[cfg(feature = "jit")]
fn compiled_step_bench(reps: usize) {
    let steps = 1000;
    let (x0, p) = ([10.0, 5.0], [1.5, 1.0, 3.0, 1.0]);
    let at = [x0[0], x0[1], p[0], p[1], p[2], p[3]];
    let rec = replay::record_many(&at, |x| {
        let (u, v) = rk4(x[0], x[1], &x[2..]);
        vec![u, v]
    });
    let t = Instant::now();
    let compiled = rec.compile().unwrap();
    let compiling = t.elapsed().as_secs_f64();
    let mut ws = Workspace::new();
    let mut states = vec![[0.0; 2]; steps + 1];
    let mut g = [0.0; 6];
    let (mut plain, mut vjps, mut whole) = (vec![], vec![], vec![]);
    for rep in 0..reps + 2 {
        let t0 = Instant::now();
        black_box(lv_loop(black_box(&x0), black_box(&p), steps));
        let t1 = Instant::now();
        // The forward pass keeping the states.
        states[0] = x0;
        for k in 0..steps {
            let (u, v) = rk4(states[k][0], states[k][1], &p);
            states[k + 1] = [u, v];
        }
        let t2 = Instant::now();
        // The sweep: the adjoint of u + v, through the steps backwards.
        let (mut ubar, mut vbar, mut pbar) = (1.0, 1.0, [0.0; 4]);
        for s in states[..steps].iter().rev() {
            let x = [s[0], s[1], p[0], p[1], p[2], p[3]];
            compiled
                .vjp_with(&mut ws, &x, &[ubar, vbar], &mut g)
                .unwrap();
            (ubar, vbar) = (g[0], g[1]);
            for (a, b) in pbar.iter_mut().zip(&g[2..]) {
                *a += b;
            }
        }
        let t3 = Instant::now();
        black_box((ubar, vbar, pbar));
        if rep >= 2 {
            plain.push(t1 - t0);
            vjps.push(t3 - t2);
            whole.push(t3 - t1);
        }
        if rep == 0 {
            let expected = retrograd::grad(|x| lv_loop(&x[..2], &x[2..], steps), &at);
            let got = [ubar, vbar, pbar[0], pbar[1], pbar[2], pbar[3]];
            check("RK4 step, compiled", &got, &expected);
        }
    }
    let (plain, vjps, whole) = (median(&mut plain), median(&mut vjps), median(&mut whole));
    println!(
        "{:<34} plain step {:>7.1} ns | compiled step VJP {:>7.1} ns (ratio {:>5.2}) | gradient of 1000 steps {:>7.3} ms (ratio {:>5.2}) | compiled once in {:.3} ms, {} operations",
        "(d) RK4 LV one step, compiled",
        plain / steps as f64 * 1e9,
        vjps / steps as f64 * 1e9,
        vjps / plain,
        whole * 1e3,
        whole / plain,
        compiling * 1e3,
        rec.len()
    );
}

/// Records `f` once at the first input set, then times the lane replays' gradients at
/// `sets` input sets (`Recording::gradient_lanes`), against the plain evaluation at every
/// set and the scalar replay at every set; checks each set's gradient against the scalar
/// replay's.
fn replay_lanes_bench(
    name: &str,
    sets: &[Vec<f64>],
    reps: usize,
    primal: impl Fn(&[f64]) -> f64,
    f: impl Fn(&[Traced]) -> Traced,
) {
    let rec = replay::record(&sets[0], f);
    let x: Vec<f64> = sets.concat();
    let n = sets[0].len();
    let mut lanes = LaneWorkspace::new();
    let mut ws = Workspace::new();
    let mut grads = vec![0.0; x.len()];
    let mut g = vec![0.0; n];
    let (mut p, mut scalar, mut lane) = (vec![], vec![], vec![]);
    for rep in 0..reps + 2 {
        let t0 = Instant::now();
        for set in sets {
            black_box(primal(black_box(set)));
        }
        let t1 = Instant::now();
        for set in sets {
            rec.vjp_with(&mut ws, set, &[1.0], &mut g).unwrap();
        }
        let t2 = Instant::now();
        rec.gradient_lanes(&mut lanes, &x, &mut grads).unwrap();
        let t3 = Instant::now();
        if rep >= 2 {
            p.push(t1 - t0);
            scalar.push(t2 - t1);
            lane.push(t3 - t2);
        }
    }
    for (k, set) in sets.iter().enumerate() {
        rec.vjp_with(&mut ws, set, &[1.0], &mut g).unwrap();
        check(name, &grads[k * n..(k + 1) * n], &g);
    }
    let (p, scalar, lane) = (median(&mut p), median(&mut scalar), median(&mut lane));
    println!(
        "{name:<34} primal {:>9.3} ms | replayed gradients {:>9.3} ms (ratio {:>6.2}) | in {} lanes ({:?}) {:>9.3} ms (ratio {:>5.2}) | {} sets",
        p * 1e3,
        scalar * 1e3,
        scalar / p,
        LANES,
        lanes.simd(),
        lane * 1e3,
        lane / p,
        sets.len()
    );
}

/// Checkpointed gradient of 10,000 RK4 steps against taping them all.
fn checkpoint_bench() {
    let x0 = [10.0, 5.0];
    let p = [1.5, 1.0, 3.0, 1.0];
    let n = 10_000;
    let mut times = vec![];
    let mut tape = Tape::new();
    for _ in 0..7 {
        let t = Instant::now();
        tape.clear();
        let (xs, j) = tape.record(|rec| {
            let xs = rec.inputs(&x0);
            let ps = rec.inputs(&p);
            let j = lv_loop(&xs, &ps, n);
            (xs, j)
        });
        black_box(tape.gradient(j).wrt(xs[0]));
        times.push(t.elapsed());
    }
    let full = median(&mut times);
    let full_bytes = tape.stats().bytes;
    println!(
        "checkpointing, n = {n} RK4 steps: full taping {:.2} ms, tape {:.2} MB",
        full * 1e3,
        full_bytes as f64 / 1e6
    );
    for s in [10, 20, 50, 100] {
        let mut times = vec![];
        let mut stats = None;
        for _ in 0..7 {
            let t = Instant::now();
            let g = checkpoint::gradient(&LotkaVolterra, &x0, &p, n, s, |x| x[0] + x[1]).unwrap();
            times.push(t.elapsed());
            stats = Some(g.stats);
        }
        let st = stats.unwrap();
        let time = median(&mut times);
        let memory = st.peak_tape_bytes + st.max_snapshots * x0.len() * 8;
        println!(
            "  s = {s:>3}: {:>8.2} ms ({:.2}× full taping), {:>6} forward steps ({:.2} per step), memory {:>6} B (tape {} B + {} states) = {:.5} of full taping",
            time * 1e3,
            time / full,
            st.forward_steps,
            st.forward_steps as f64 / n as f64,
            memory,
            st.peak_tape_bytes,
            st.max_snapshots,
            memory as f64 / full_bytes as f64
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (r1, r2, r3) = if quick { (3, 5, 5) } else { (31, 201, 201) };
    println!("retrograd scalar benchmark (medians; ratio = gradient / plain f64)");

    let x = inputs(1_000_000);
    let hand = f1_gradient(&x);
    let g = bench_slice("(a) f1 n=1e6, generic code", &x, r1, f1, f1);
    check("f1", &g, &hand);
    let g = bench_slice("(a) f1 n=1e6, sum_map", &x, r1, f1, f1_sum_map);
    check("f1 sum_map", &g, &hand);

    let x = inputs(100_000);
    let hand = f2_gradient(&x);
    let g = bench_slice("(b) Rosenbrock n=1e5, generic code", &x, r2, f2, f2);
    check("f2", &g, &hand);
    let g = bench_slice(
        "(b) Rosenbrock n=1e5, sum_map_chunks",
        &x,
        r2,
        f2,
        f2_sum_map_chunks,
    );
    check("f2 sum_map_chunks", &g, &hand);

    lv_bench(r3);

    println!("replay: recorded once, then replayed at the same inputs");
    let x = inputs(1_000_000);
    replay_bench("(a) f1 n=1e6, replayed", &x, r1, f1, f1, &f1_gradient(&x));
    let x = inputs(100_000);
    replay_bench(
        "(b) Rosenbrock n=1e5, replayed",
        &x,
        r2,
        f2,
        f2,
        &f2_gradient(&x),
    );
    let (x0, p) = ([10.0, 5.0], [1.5, 1.0, 3.0, 1.0]);
    let lv = |x: &[Traced]| lv_loop(&x[..2], &x[2..], 1000);
    let xp = [x0[0], x0[1], p[0], p[1], p[2], p[3]];
    let expected = retrograd::grad(|x| lv_loop(&x[..2], &x[2..], 1000), &xp);
    replay_bench(
        "(c) RK4 LV 1000 steps, replayed",
        &xp,
        r3,
        |x| lv_loop(&x[..2], &x[2..], 1000),
        lv,
        &expected,
    );
    // An ensemble: the same 1,000 steps from other initial states and parameters, one
    // set per lane.
    let ensemble: Vec<Vec<f64>> = (0..LANES)
        .map(|k| {
            let s = 1.0 + 0.01 * k as f64;
            vec![10.0 * s, 5.0 / s, 1.5, 1.0 * s, 3.0, 1.0 / s]
        })
        .collect();
    #[cfg(feature = "jit")]
    compiled_step_bench(r3 * 10);
    replay_lanes_bench(
        "(c) RK4 LV 1000 steps, 8 members",
        &ensemble,
        r3,
        |x| lv_loop(&x[..2], &x[2..], 1000),
        lv,
    );
    checkpoint_bench();
}
