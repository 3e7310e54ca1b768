//! Products of `bf16` matrices (f32 accumulation), one thread, on each kernel this
//! processor has, beside the `f32` product of the same sizes.
//!
//! `cargo bench -p retrograd --bench lowp_gemm [-- --quick] [SIZE ...] [KERNEL ...]`
//!
//! KERNEL: `portable`, `avx512bf16`, `amx` or `f32` (the `f32` product through `gemm`);
//! all of them (those available) by default.
//!
//! Prints one line per kernel and size: `LOWP kernel=<name> n=<n> gflops=<median>` (the
//! median over repetitions of `2n³ / seconds`, square `n×n` products, row-major operands,
//! output reused). `bench/py/torch_bf16_matmul.py` prints the same lines for PyTorch.

use half::bf16;
use retrograd::tensor::backend::cpu::matmul_lowp::{matmul_bf16_into, LowpKernel};
use std::hint::black_box;
use std::time::Instant;

/// The median seconds of `f` over repetitions lasting about `budget` seconds in all
/// (at least 5), after one untimed call.
fn median_secs(budget: f64, mut f: impl FnMut()) -> f64 {
    f();
    let t0 = Instant::now();
    f();
    let once = t0.elapsed().as_secs_f64();
    let reps = ((budget / once) as usize).clamp(5, 200);
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = if quick {
            vec![256]
        } else {
            vec![256, 512, 1024, 2048]
        };
    }
    let named: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-') && a.parse::<usize>().is_err())
        .collect();
    let wanted = |name: &str| named.is_empty() || named.contains(&name);
    let budget = if quick { 0.1 } else { 1.0 };
    for &n in &sizes {
        let flops = 2.0 * (n as f64).powi(3);
        let af: Vec<f32> = (0..n * n)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let bf: Vec<f32> = (0..n * n)
            .map(|i| ((i * 104729) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let a: Vec<bf16> = af.iter().map(|&x| bf16::from_f32(x)).collect();
        let b: Vec<bf16> = bf.iter().map(|&x| bf16::from_f32(x)).collect();
        let mut out = vec![0.0f32; n * n];
        for kernel in LowpKernel::ALL
            .into_iter()
            .filter(|k| k.available() && wanted(k.name()))
        {
            let s = median_secs(budget, || {
                matmul_bf16_into(kernel, (n, n, n), &a, &b, &mut out).expect("sizes agree");
                black_box(&mut out);
            });
            println!(
                "LOWP kernel={} n={n} gflops={:.1}",
                kernel.name(),
                flops / s / 1e9
            );
        }
        if !wanted("f32") {
            continue;
        }
        let s = median_secs(budget, || {
            // SAFETY: the three buffers are n×n row-major matrices; `out` is distinct.
            unsafe {
                gemm::gemm(
                    n,
                    n,
                    n,
                    out.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    af.as_ptr(),
                    1,
                    n as isize,
                    bf.as_ptr(),
                    1,
                    n as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            };
            black_box(&mut out);
        });
        println!("LOWP kernel=f32-gemm n={n} gflops={:.1}", flops / s / 1e9);
    }
}
