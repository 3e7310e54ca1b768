//! Throughput of elementwise ops and a reduction on large f32 tensors, in GB/s of data read
//! and written: `a + b` and `a * b` (12 bytes per element), `exp(a)` (8), `sum(a)` (4). Every
//! call allocates its output, as in NumPy and PyTorch. Medians over rounds that run the
//! ops in turn.
//!
//! `cargo run --release -p retrograd --example tensor_elementwise -- [LOG2_N] [ROUNDS]`
//! (defaults: 2^24 = 16M elements, 15 rounds).

use retrograd::tensor::{DType, Result, Rng, Tensor};
use std::hint::black_box;
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let log2: u32 = args
        .first()
        .map_or(24, |s| s.parse().expect("log2 of the size"));
    let rounds: usize = args.get(1).map_or(15, |s| s.parse().expect("rounds"));
    let n = 1usize << log2;
    let mut rng = Rng::new(2);
    let a = Tensor::rand([n], -1.0, 1.0, DType::F32, &mut rng);
    let b = Tensor::rand([n], -1.0, 1.0, DType::F32, &mut rng);
    type Case<'a> = (&'static str, f64, Box<dyn Fn() -> Tensor + 'a>);
    let cases: [Case; 4] = [
        ("add", 12.0, Box::new(|| a.add(&b).unwrap())),
        ("mul", 12.0, Box::new(|| a.mul(&b).unwrap())),
        ("exp", 8.0, Box::new(|| a.exp().unwrap())),
        ("sum", 4.0, Box::new(|| a.sum_all().unwrap())),
    ];
    let mut times = vec![Vec::new(); cases.len()];
    for (_, _, f) in &cases {
        black_box(f());
    }
    // Each round runs every op in turn, 4 calls in a row, timing the last 3 (the first
    // absorbs the write-backs the previous op left behind).
    for _ in 0..rounds {
        for (i, (_, _, f)) in cases.iter().enumerate() {
            black_box(f());
            for _ in 0..3 {
                let t0 = Instant::now();
                black_box(f());
                times[i].push(t0.elapsed().as_secs_f64());
            }
        }
    }
    let threads = rayon::current_num_threads();
    for ((name, bytes, _), t) in cases.iter().zip(&mut times) {
        t.sort_by(f64::total_cmp);
        let med = t[t.len() / 2];
        println!(
            "{name:>4} f32 2^{log2}, {threads} thread(s): {:7.2} GB/s (median {:.3} ms, best {:.2} GB/s)",
            bytes * n as f64 / med / 1e9,
            med * 1e3,
            bytes * n as f64 / t[0] / 1e9
        );
    }
    Ok(())
}
