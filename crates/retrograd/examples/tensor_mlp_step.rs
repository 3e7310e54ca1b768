//! Time of one training step (forward, backward, SGD update) of an MLP with ReLU between
//! layers, and of its forward pass alone, in f32. Prints medians and the ratio step/forward.
//!
//! `cargo run --release -p retrograd --example tensor_mlp_step -- [BATCH] [WIDTHS] [STEPS]`
//! (defaults: batch 64, widths `64-128-10`, 2000 timed steps); e.g. `128 784-256-256-10 500`.

#[path = "../benches/common/mlp.rs"]
mod mlp;

use mlp::Mlp;
use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::Result;
use std::time::Instant;

/// The median of the per-call times of `f` in microseconds, over `iters` calls.
fn median_us(iters: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut t = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t0 = Instant::now();
        f()?;
        t.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().map_or(64, |s| s.parse().expect("batch size"));
    let dims: Vec<usize> = args.get(1).map_or(vec![64, 128, 10], |s| {
        s.split('-')
            .map(|d| d.parse().expect("layer widths"))
            .collect()
    });
    let iters: usize = args.get(2).map_or(2000, |s| s.parse().expect("steps"));
    let mlp = Mlp::new(&dims, n, 0)?;
    let last = std::cell::Cell::new(0.0);
    let step = || -> Result<()> {
        last.set(mlp.step(0.05)?);
        Ok(())
    };
    step()?;
    let first = last.get();
    for _ in 0..iters / 10 {
        step()?;
    }
    let step_us = median_us(iters, step)?;
    let fwd_us = median_us(iters, || no_grad(|| mlp.loss()).map(drop))?;
    let widths: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    println!(
        "mlp {} batch {n}: loss {first:.4} -> {:.4}; training step {step_us:.1} us, \
         forward {fwd_us:.1} us, step/forward {:.2}",
        widths.join("-"),
        last.get(),
        step_us / fwd_us
    );
    Ok(())
}
