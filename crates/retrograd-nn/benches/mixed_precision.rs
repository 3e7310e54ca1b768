//! Mixed precision: step time and activation memory of one training step in f32, bf16 and
//! f16 (autocast), beside `bench/py/mixed_precision.py` (PyTorch, `torch.autocast`).
//!
//! `cargo bench -p retrograd-nn --bench mixed_precision [-- --quick]`
//!
//! Models: the 784-256-256-10 MLP at batch 128, and the CNN `retrograd train --model cnn`
//! builds for 28×28 images (conv 16, pool, conv 32, pool, linear) at batch 32; inputs are
//! normal samples. A step is forward (under autocast for bf16/f16) with cross-entropy,
//! backward (from the loss times a 2¹⁶ scale for f16, unscaled again) and an Adam update of
//! the f32 master weights. Activation memory is the growth of the tensor crate's live
//! storage bytes over the forward pass (what backward keeps alive: saved inputs, casts,
//! outputs). Prints one line per case: `MP model=<m> precision=<p> step_ms=<median>
//! activation_bytes=<n>`. Run it with one kernel thread (`RAYON_NUM_THREADS=1`) for the
//! one-thread comparison.

use std::time::Instant;

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::{live_storage_bytes, DType, Rng, Tensor};
use retrograd_nn::data::{Dataset, Normalizer};
use retrograd_nn::layers::Module;
use retrograd_nn::optim::{AdamConfig, GradScaler, Optim, Optimizer};
use retrograd_nn::train::{Classifier, ModelKind, Precision, TrainConfig};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    }
}

/// Median step time (ms) and activation bytes of `steps` steps.
fn bench(model: ModelKind, precision: Precision, steps: usize) -> (f64, usize) {
    let (shape, hidden, batch) = match model {
        ModelKind::Mlp => (vec![784], vec![256, 256], 128),
        ModelKind::Cnn => (vec![1, 28, 28], vec![16, 32], 32),
    };
    let config = TrainConfig {
        model,
        hidden,
        precision,
        ..TrainConfig::for_model(model)
    };
    let per: usize = shape.iter().product();
    let mut rng = Rng::new(0);
    let x = Tensor::randn([batch, per], 0.0, 1.0, DType::F32, &mut rng);
    let sample = Dataset::new(
        "bench",
        x.to_vec::<f32>().unwrap(),
        (0..batch).map(|i| i % 10).collect(),
        shape.clone(),
        10,
    )
    .unwrap();
    let classifier =
        Classifier::build(&config, &shape, 10, Normalizer::fit_global(&sample)).unwrap();
    let mut dims = vec![batch];
    dims.extend(&shape);
    let x = x.reshape(dims).unwrap();
    let y = Tensor::from_vec((0..batch as i64).map(|i| i % 10).collect(), [batch]).unwrap();
    let params: Vec<Tensor> = classifier
        .model
        .parameters()
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let mut opt = Optim::new(AdamConfig::new(1e-3), params.len());
    let mut scaler = (precision == Precision::F16).then(GradScaler::default);
    let mut times = Vec::new();
    let mut activation = 0;
    for _ in 0..steps {
        let started = Instant::now();
        for p in &params {
            p.zero_grad();
        }
        let before = live_storage_bytes();
        let loss = precision
            .run(|| Ok(classifier.model.forward(&x)?.cross_entropy(&y)?))
            .unwrap();
        activation = live_storage_bytes() - before;
        match &scaler {
            Some(s) => s.scale(&loss).unwrap().backward().unwrap(),
            None => loss.backward().unwrap(),
        }
        let mut grads: Vec<Vec<f32>> = params
            .iter()
            .map(|p| p.grad().unwrap().to_vec::<f32>().unwrap())
            .collect();
        let finite = scaler.as_mut().is_none_or(|s| s.unscale(&mut grads));
        if finite {
            no_grad(|| {
                for (k, (p, g)) in params.iter().zip(&grads).enumerate() {
                    p.update_(|w: &mut [f32]| opt.update(k, w, g)).unwrap();
                }
            });
        }
        if let Some(s) = &mut scaler {
            s.update();
        }
        loss.item().unwrap();
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    (median(times[1..].to_vec()), activation)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let steps = if quick { 4 } else { 40 };
    for model in [ModelKind::Mlp, ModelKind::Cnn] {
        for precision in [Precision::F32, Precision::Bf16, Precision::F16] {
            let (ms, bytes) = bench(model, precision, steps);
            println!(
                "MP model={model} precision={precision} step_ms={ms:.3} activation_bytes={bytes}"
            );
        }
    }
}
