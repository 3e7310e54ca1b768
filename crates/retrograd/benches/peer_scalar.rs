//! Scalar tape figures for the side-by-side comparison with ADOL-C, a hand-written gradient,
//! PyTorch and JAX (`bench/compare.sh` runs this and the peers' programs under `bench/`).
//!
//! `cargo bench -p retrograd --bench peer_scalar [-- --quick]`
//!
//! The functions and inputs are those of the `scalar` bench (and of the peers): f1 =
//! Σ sin(xᵢ)·xᵢ² + exp(−xᵢ) with n = 10⁶ and the paired extended Rosenbrock with n = 10⁵,
//! xᵢ = 0.5 + 0.4·sin(0.001·i). Each repetition times the plain `f64` function, then the
//! gradient (clear the tape, record, reverse sweep, read every adjoint), interleaved.
//! Prints one line per way of differentiating:
//! `PEER bench=scalar_f1 impl=<way> threads=1 value=<gradient/primal> unit=ratio primal_ms=.. grad_ms=..`

use retrograd::prelude::*;
use retrograd::Tape;
use std::hint::black_box;
use std::time::Instant;

#[path = "common/functions.rs"]
mod functions;
use functions::{f1, f1_gradient, f1_sum_map, f2, f2_gradient, f2_sum_map_chunks, inputs};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times `reps` interleaved rounds of the primal and of the gradient, checks the gradient
/// against `expected` and prints the figures.
fn run(
    bench: &str,
    way: &str,
    x: &[f64],
    reps: usize,
    primal: fn(&[f64]) -> f64,
    f: fn(&[Var]) -> Var,
    expected: &[f64],
) {
    let mut tape = Tape::with_capacity(16 * x.len(), 16 * x.len());
    let mut adj = tape.adjoints(&[]);
    let mut inputs: Vec<Var> = Vec::with_capacity(x.len());
    let mut g = vec![0.0; x.len()];
    let (mut tp, mut tg) = (vec![], vec![]);
    for rep in 0..reps + 2 {
        let t0 = Instant::now();
        black_box(primal(black_box(x)));
        let t1 = Instant::now();
        tape.clear();
        let y = tape.record(|rec| {
            inputs.clear();
            rec.inputs_into(x, &mut inputs);
            f(&inputs)
        });
        tape.adjoints_into(&[(y, 1.0)], &mut adj);
        for (gi, &xi) in g.iter_mut().zip(&inputs) {
            *gi = adj.wrt(xi);
        }
        black_box(&g);
        let t2 = Instant::now();
        if rep >= 2 {
            tp.push((t1 - t0).as_secs_f64());
            tg.push((t2 - t1).as_secs_f64());
        }
    }
    let worst = g
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
        .fold(0.0, f64::max);
    assert!(worst < 1e-10, "{bench} {way}: gradient off by {worst:e}");
    let stats = tape.stats();
    let (p, gr) = (median(tp), median(tg));
    println!(
        "PEER bench={bench} impl={way} threads=1 value={:.4} unit=ratio primal_ms={:.4} grad_ms={:.4} tape_bytes_per_input={:.1}",
        gr / p,
        p * 1e3,
        gr * 1e3,
        stats.bytes as f64 / x.len() as f64
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (r1, r2) = if quick { (3, 5) } else { (15, 201) };

    let x = inputs(1_000_000);
    let hand = f1_gradient(&x);
    run("scalar_f1", "retrograd-generic", &x, r1, f1, f1, &hand);
    run(
        "scalar_f1",
        "retrograd-sum_map",
        &x,
        r1,
        f1,
        f1_sum_map,
        &hand,
    );

    let x = inputs(100_000);
    let hand = f2_gradient(&x);
    run("scalar_f2", "retrograd-generic", &x, r2, f2, f2, &hand);
    run(
        "scalar_f2",
        "retrograd-sum_map_chunks",
        &x,
        r2,
        f2,
        f2_sum_map_chunks,
        &hand,
    );
}
