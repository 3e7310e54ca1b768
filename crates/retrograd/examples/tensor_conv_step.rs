//! Time of one training step of a small convolutional network (conv-relu-pool twice, then
//! a linear layer) on 28×28 single-channel images at batch 64, in f32.
//!
//! `cargo run --release -p retrograd --example tensor_conv_step`

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::{Conv2dOptions, DType, Result, Rng, Tensor};
use std::time::Instant;

fn main() -> Result<()> {
    let mut rng = Rng::new(0);
    let n = 64;
    let x = Tensor::randn([n, 1, 28, 28], 0.0, 1.0, DType::F32, &mut rng);
    let y = Tensor::from_vec((0..n as i64).map(|i| i % 10).collect(), [n])?;
    let k1 = Tensor::randn([8, 1, 3, 3], 0.0, 0.3, DType::F32, &mut rng).requires_grad_();
    let k2 = Tensor::randn([16, 8, 3, 3], 0.0, 0.1, DType::F32, &mut rng).requires_grad_();
    let w = Tensor::randn([16 * 7 * 7, 10], 0.0, 0.05, DType::F32, &mut rng).requires_grad_();
    let same = Conv2dOptions {
        padding: (1, 1),
        ..Default::default()
    };
    let params = [&k1, &k2, &w];
    let step = || -> Result<f64> {
        let h = x
            .conv2d(&k1, None, same)?
            .relu()?
            .max_pool2d((2, 2), (2, 2), (0, 0))?;
        let h = h
            .conv2d(&k2, None, same)?
            .relu()?
            .max_pool2d((2, 2), (2, 2), (0, 0))?;
        let loss = h.flatten(1, -1)?.matmul(&w)?.cross_entropy(&y)?;
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
    for _ in 0..5 {
        step()?;
    }
    let iters = 50;
    let t0 = Instant::now();
    let mut last = 0.0;
    for _ in 0..iters {
        last = step()?;
    }
    let ms = t0.elapsed().as_secs_f64() * 1e3 / iters as f64;
    println!("loss {first:.4} -> {last:.4}; training step {ms:.2} ms");
    Ok(())
}
