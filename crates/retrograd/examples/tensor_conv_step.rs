//! Time of one training step of the network that `retrograd train --model cnn` builds, in
//! f32: conv 3×3 (padding 1, bias) → batch norm → relu → max-pool 2×2, twice (16 and 32
//! channels), then a linear classifier, fused cross-entropy, and an Adam update through
//! `update_` — the same tensor ops the layers of `retrograd-nn` issue, written out here.
//!
//! `cargo run --release -p retrograd --example tensor_conv_step -- [BATCH] [SIZE] [STEPS]`
//! (defaults: batch 32, 28×28 images, 200 timed steps). Prints the median, the quartiles
//! and the minimum of the per-step times.

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::{Conv2dOptions, DType, Result, Rng, Tensor};
use std::time::Instant;

/// Batch norm over `(N, C, H, W)` in training mode, as `retrograd_nn::layers::BatchNorm`:
/// the fused op, then the running averages updated from the batch statistics.
fn batch_norm(x: &Tensor, w: &Tensor, b: &Tensor, run: &(Tensor, Tensor)) -> Result<Tensor> {
    let (y, stats) = x.batch_norm(Some(w), Some(b), 1e-5)?;
    let (bm, bv) = (stats.mean.to_vec::<f32>()?, stats.var.to_vec::<f32>()?);
    run.0.update_(|r: &mut [f32]| {
        r.iter_mut()
            .zip(&bm)
            .for_each(|(r, b)| *r = 0.9 * *r + 0.1 * b)
    })?;
    run.1.update_(|r: &mut [f32]| {
        r.iter_mut()
            .zip(&bv)
            .for_each(|(r, b)| *r = 0.9 * *r + 0.1 * b)
    })?;
    Ok(y)
}

struct Adam {
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    t: i32,
}

impl Adam {
    fn step(&mut self, params: &[Tensor], lr: f32) -> Result<()> {
        self.t += 1;
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let (c1, c2) = (1.0 - b1.powi(self.t), 1.0 - b2.powi(self.t));
        let grads: Vec<Vec<f32>> = params
            .iter()
            .map(|p| p.grad().expect("reached by backward").to_vec::<f32>())
            .collect::<Result<_>>()?;
        no_grad(|| -> Result<()> {
            for (k, (p, g)) in params.iter().zip(&grads).enumerate() {
                let (m, v) = (&mut self.m[k], &mut self.v[k]);
                p.update_(|w: &mut [f32]| {
                    for i in 0..w.len() {
                        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                        v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                        w[i] -= lr * (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
                    }
                })?;
            }
            Ok(())
        })
    }
}

fn main() -> Result<()> {
    let arg = |i: usize, default: usize| -> usize {
        std::env::args()
            .nth(i)
            .map(|s| s.parse().expect("arguments are whole numbers"))
            .unwrap_or(default)
    };
    let (n, size, steps) = (arg(1, 32), arg(2, 28), arg(3, 200));
    let (c1, c2, classes) = (16, 32, 10);
    let mut rng = Rng::new(0);
    let x = Tensor::randn([n, 1, size, size], 0.0, 1.0, DType::F32, &mut rng);
    let y = Tensor::from_vec((0..n as i64).map(|i| i % classes as i64).collect(), [n])?;
    let param = |dims: &[usize], std: f64, rng: &mut Rng| {
        Tensor::randn(dims.to_vec(), 0.0, std, DType::F32, rng).requires_grad_()
    };
    let k1 = param(&[c1, 1, 3, 3], 0.3, &mut rng);
    let b1 = Tensor::zeros([c1], DType::F32).requires_grad_();
    let g1 = Tensor::ones([c1], DType::F32).requires_grad_();
    let h1 = Tensor::zeros([c1], DType::F32).requires_grad_();
    let k2 = param(&[c2, c1, 3, 3], 0.1, &mut rng);
    let b2 = Tensor::zeros([c2], DType::F32).requires_grad_();
    let g2 = Tensor::ones([c2], DType::F32).requires_grad_();
    let h2 = Tensor::zeros([c2], DType::F32).requires_grad_();
    let flat = c2 * (size / 4) * (size / 4);
    let w = param(&[classes, flat], 0.02, &mut rng);
    let b = Tensor::zeros([classes], DType::F32).requires_grad_();
    let run1 = (
        Tensor::zeros([c1], DType::F32),
        Tensor::ones([c1], DType::F32),
    );
    let run2 = (
        Tensor::zeros([c2], DType::F32),
        Tensor::ones([c2], DType::F32),
    );
    let params = [k1, b1, g1, h1, k2, b2, g2, h2, w, b];
    let mut adam = Adam {
        m: params.iter().map(|p| vec![0.0; p.elem_count()]).collect(),
        v: params.iter().map(|p| vec![0.0; p.elem_count()]).collect(),
        t: 0,
    };
    let same = Conv2dOptions {
        padding: (1, 1),
        ..Default::default()
    };
    let [k1, b1, g1, h1, k2, b2, g2, h2, w, b] = &params;
    let mut step = || -> Result<f64> {
        for p in &params {
            p.zero_grad();
        }
        let h = x.conv2d(k1, Some(b1), same)?;
        let h = batch_norm(&h, g1, h1, &run1)?
            .relu()?
            .max_pool2d((2, 2), (2, 2), (0, 0))?;
        let h = h.conv2d(k2, Some(b2), same)?;
        let h = batch_norm(&h, g2, h2, &run2)?
            .relu()?
            .max_pool2d((2, 2), (2, 2), (0, 0))?;
        let logits = h.flatten(1, -1)?.matmul(&w.t()?)?.add(b)?;
        let loss = logits.cross_entropy(&y)?;
        loss.backward()?;
        let loss = loss.item()?;
        adam.step(&params, 1e-3)?;
        Ok(loss)
    };
    let first = step()?;
    for _ in 0..steps.div_ceil(10) {
        step()?;
    }
    let mut times = Vec::with_capacity(steps);
    let mut last = 0.0;
    for _ in 0..steps {
        let t0 = Instant::now();
        last = step()?;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let q = |f: f64| times[((times.len() - 1) as f64 * f).round() as usize];
    println!(
        "cnn batch {n}, {size}x{size}: loss {first:.4} -> {last:.4}; step median {:.3} ms \
         (quartiles {:.3}-{:.3}, min {:.3}); {:.0} samples/s",
        q(0.5),
        q(0.25),
        q(0.75),
        times[0],
        n as f64 * 1e3 / q(0.5)
    );
    Ok(())
}
