//! Time of one training step (forward, backward, SGD update) of a 64-128-10 MLP at batch 64,
//! and of its forward pass alone, in f32. Prints the ratio step/forward as well.
//!
//! `cargo run --release -p retrograd --example tensor_mlp_step`

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::{DType, Result, Rng, Tensor};
use std::time::Instant;

fn main() -> Result<()> {
    let mut rng = Rng::new(0);
    let (n, d, h, c) = (64, 64, 128, 10);
    let x = Tensor::randn([n, d], 0.0, 1.0, DType::F32, &mut rng);
    let y = Tensor::from_vec((0..n as i64).map(|i| i % c as i64).collect(), [n])?;
    let w1 = Tensor::randn([d, h], 0.0, 0.1, DType::F32, &mut rng).requires_grad_();
    let b1 = Tensor::zeros([h], DType::F32).requires_grad_();
    let w2 = Tensor::randn([h, c], 0.0, 0.1, DType::F32, &mut rng).requires_grad_();
    let b2 = Tensor::zeros([c], DType::F32).requires_grad_();
    let params = [&w1, &b1, &w2, &b2];
    let forward = || -> Result<Tensor> {
        x.matmul(&w1)?
            .add(&b1)?
            .relu()?
            .matmul(&w2)?
            .add(&b2)?
            .cross_entropy(&y)
    };
    let step = || -> Result<f64> {
        let loss = forward()?;
        loss.backward()?;
        no_grad(|| -> Result<()> {
            for p in params {
                p.add_scaled_(&p.grad().expect("reached by backward"), -0.05)?;
                p.zero_grad();
            }
            Ok(())
        })?;
        loss.item()
    };
    let first = step()?;
    for _ in 0..200 {
        step()?;
    }
    let iters = 2000;
    let t0 = Instant::now();
    let mut last = 0.0;
    for _ in 0..iters {
        last = step()?;
    }
    let step_us = t0.elapsed().as_secs_f64() * 1e6 / iters as f64;
    let t0 = Instant::now();
    for _ in 0..iters {
        no_grad(forward)?;
    }
    let fwd_us = t0.elapsed().as_secs_f64() * 1e6 / iters as f64;
    println!("loss {first:.4} -> {last:.4}");
    println!(
        "training step {step_us:.1} us, forward {fwd_us:.1} us, step/forward {:.2}",
        step_us / fwd_us
    );
    Ok(())
}
