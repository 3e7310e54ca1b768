//! Memory and step time of a 32-layer MLP (width 1024, batch 256, f32, tanh), trained with
//! and without activation checkpointing (`checkpoint_sequential`), measured in one run.
//!
//! Two memory figures per step: what is held once the forward pass ends (weights plus what
//! backward will need: every activation, or only the segment inputs), and the peak over the
//! whole step (which includes the gradients and, with checkpointing, one recomputed segment).
//!
//! `cargo run --release -p retrograd --example tensor_checkpoint [steps]`

use retrograd::tensor::autograd::{checkpoint_sequential, no_grad, Segment};
use retrograd::tensor::{
    live_storage_bytes, peak_storage_bytes, reset_peak_storage_bytes, DType, Result, Rng, Tensor,
};
use std::sync::Arc;
use std::time::Instant;

const LAYERS: usize = 32;
const WIDTH: usize = 1024;
const BATCH: usize = 256;

/// One SGD step; `segments = None` stores every activation, `Some(k)` keeps `k` segment
/// inputs and recomputes the rest during backward. Returns the loss and the bytes alive
/// after the forward pass.
fn step(
    x: &Tensor,
    layers: &[Segment],
    params: &[Tensor],
    segments: Option<usize>,
) -> Result<(f64, usize)> {
    let out = match segments {
        None => layers.iter().try_fold(x.clone(), |h, f| f(&h))?,
        Some(k) => checkpoint_sequential(layers, k, x)?,
    };
    let loss = out.square()?.mean_all()?;
    let after_forward = live_storage_bytes();
    loss.backward()?;
    no_grad(|| -> Result<()> {
        for p in params {
            p.add_scaled_(&p.grad().expect("every parameter gets a gradient"), -1e-3)?;
            p.zero_grad();
        }
        Ok(())
    })?;
    Ok((loss.item()?, after_forward))
}

fn main() -> Result<()> {
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let mut rng = Rng::new(0);
    let x = Tensor::randn([BATCH, WIDTH], 0.0, 1.0, DType::F32, &mut rng);
    let weights_mb = (LAYERS * WIDTH * WIDTH * 4) as f64 / 1e6;
    println!("{LAYERS}-layer MLP, width {WIDTH}, batch {BATCH}, f32: weights {weights_mb:.0} MB; medians of {steps} steps");
    println!(
        "{:<28} {:>10} {:>22} {:>16} {:>10}",
        "", "step (ms)", "held after forward (MB)", "peak (MB)", "loss"
    );
    for segments in [None, Some(8), Some(4), Some(2)] {
        // The same initial weights for every variant, so the losses agree.
        let mut init = Rng::new(1);
        let scale = 1.0 / (WIDTH as f64).sqrt();
        let params: Vec<Tensor> = (0..LAYERS)
            .map(|_| {
                Tensor::randn([WIDTH, WIDTH], 0.0, scale, DType::F32, &mut init).requires_grad_()
            })
            .collect();
        let layers: Vec<Segment> = params
            .iter()
            .map(|w| {
                let w = w.clone();
                Arc::new(move |h: &Tensor| h.matmul(&w)?.tanh()) as Segment
            })
            .collect();
        let (mut times, mut held, mut peak, mut losses) = (Vec::new(), 0, 0, Vec::new());
        for _ in 0..steps {
            reset_peak_storage_bytes();
            let t = Instant::now();
            let (loss, after_forward) = step(&x, &layers, &params, segments)?;
            times.push(t.elapsed().as_secs_f64());
            held = held.max(after_forward);
            peak = peak.max(peak_storage_bytes());
            losses.push(loss);
        }
        times.sort_by(f64::total_cmp);
        let name = match segments {
            None => "all activations stored".to_string(),
            Some(k) => format!("checkpointed, {k} segments"),
        };
        println!(
            "{name:<28} {:>10.1} {:>22.1} {:>16.1} {:>10.6}",
            times[times.len() / 2] * 1e3,
            held as f64 / 1e6,
            peak as f64 / 1e6,
            losses[losses.len() - 1]
        );
    }
    Ok(())
}
