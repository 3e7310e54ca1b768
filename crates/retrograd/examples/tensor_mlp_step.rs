//! Time of one training step (forward, backward, SGD update) of an MLP with ReLU between
//! layers, and of its forward pass alone, in f32. Prints medians and the ratio step/forward.
//!
//! `cargo run --release -p retrograd --example tensor_mlp_step -- [BATCH] [WIDTHS] [STEPS]`
//! (defaults: batch 64, widths `64-128-10`, 2000 timed steps); e.g. `128 784-256-256-10 500`.

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::{DType, Result, Rng, Tensor};
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
    let c = *dims.last().unwrap();
    let mut rng = Rng::new(0);
    let x = Tensor::randn([n, dims[0]], 0.0, 1.0, DType::F32, &mut rng);
    let y = Tensor::from_vec((0..n as i64).map(|i| i % c as i64).collect(), [n])?;
    let mut params = Vec::new();
    for w in dims.windows(2) {
        let std = 1.0 / (w[0] as f64).sqrt();
        params.push(Tensor::randn([w[0], w[1]], 0.0, std, DType::F32, &mut rng).requires_grad_());
        params.push(Tensor::zeros([w[1]], DType::F32).requires_grad_());
    }
    let layers = params.len() / 2;
    let forward = || -> Result<Tensor> {
        let mut h = x.clone();
        for l in 0..layers {
            h = h.matmul(&params[2 * l])?.add(&params[2 * l + 1])?;
            if l + 1 < layers {
                h = h.relu()?;
            }
        }
        h.cross_entropy(&y)
    };
    let last = std::cell::Cell::new(0.0);
    let step = || -> Result<()> {
        let loss = forward()?;
        loss.backward()?;
        no_grad(|| -> Result<()> {
            for p in &params {
                p.add_scaled_(&p.grad().expect("reached by backward"), -0.05)?;
                p.zero_grad();
            }
            Ok(())
        })?;
        last.set(loss.item()?);
        Ok(())
    };
    step()?;
    let first = last.get();
    for _ in 0..iters / 10 {
        step()?;
    }
    let step_us = median_us(iters, step)?;
    let fwd_us = median_us(iters, || no_grad(forward).map(drop))?;
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
