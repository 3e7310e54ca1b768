//! Tensor engine figures for the side-by-side comparison with NumPy, PyTorch and JAX
//! (`bench/compare.sh` runs this and the peers' scripts under `bench/` in turns).
//!
//! `cargo bench -p retrograd --bench peer_tensor [-- --quick] [matmul] [elementwise] [conv] [mlp]`
//!
//! Prints one machine-readable line per figure:
//! `PEER bench=<id> impl=retrograd threads=<n> value=<v> unit=<u> [more key=value]`, where
//! `value` is the median over repetitions. The thread count is rayon's (`RAYON_NUM_THREADS`).
//! The peers' scripts define the same cases on the same shapes; see `bench/README.md`.

#[path = "common/mlp.rs"]
mod mlp;

use mlp::Mlp;
use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::{Conv2dOptions, DType, Result, Rng, Tensor};
use std::hint::black_box;
use std::time::Instant;

/// Median and minimum seconds of `reps` calls of `f` after `warm` untimed calls.
fn time<R>(warm: usize, reps: usize, mut f: impl FnMut() -> R) -> (f64, f64) {
    for _ in 0..warm {
        black_box(f());
    }
    let mut t: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let t0 = Instant::now();
            black_box(f());
            t0.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (t[t.len() / 2], t[0])
}

fn emit(bench: &str, value: f64, unit: &str, extra: &str) {
    println!(
        "PEER bench={bench} impl=retrograd threads={} value={value:.6} unit={unit}{}{extra}",
        rayon::current_num_threads(),
        if extra.is_empty() { "" } else { " " }
    );
}

struct Opts {
    quick: bool,
}

impl Opts {
    fn reps(&self, full: usize) -> usize {
        if self.quick {
            full.clamp(1, 3)
        } else {
            full
        }
    }
}

/// f32 matrix product, 1024 × 1024 × 1024 (output allocated by every call, as in NumPy).
fn matmul(o: &Opts) -> Result<()> {
    let n = 1024;
    let mut rng = Rng::new(1);
    let a = Tensor::randn([n, n], 0.0, 1.0, DType::F32, &mut rng);
    let b = Tensor::randn([n, n], 0.0, 1.0, DType::F32, &mut rng);
    let (med, min) = time(2, o.reps(15), || a.matmul(&b).unwrap());
    let flop = 2.0 * (n * n * n) as f64;
    emit(
        "matmul_f32_1024",
        flop / med / 1e9,
        "GFLOP/s",
        &format!(
            "med_ms={:.3} best_gflops={:.2}",
            med * 1e3,
            flop / min / 1e9
        ),
    );
    Ok(())
}

/// A named elementwise case: bytes moved per element and the operation.
type Case<'a> = (&'static str, f64, Box<dyn Fn() -> Tensor + 'a>);

/// `a + b`, `exp(a)` and `sum(a)` on f32 vectors of `n` elements, in GB/s of data read and
/// written (12, 8 and 4 bytes per element); every call allocates its output, as in NumPy.
fn elementwise(o: &Opts) -> Result<()> {
    for log2 in [22u32, 26] {
        let n = 1usize << log2;
        let mut rng = Rng::new(2);
        let a = Tensor::rand([n], -1.0, 1.0, DType::F32, &mut rng);
        let b = Tensor::rand([n], -1.0, 1.0, DType::F32, &mut rng);
        let reps = o.reps(if log2 > 24 { 11 } else { 41 });
        let cases: [Case; 3] = [
            ("add", 12.0, Box::new(|| a.add(&b).unwrap())),
            ("exp", 8.0, Box::new(|| a.exp().unwrap())),
            ("sum", 4.0, Box::new(|| a.sum_all().unwrap())),
        ];
        // Rounding error of the f32 sum, relative to Σ|aᵢ| (reference accumulated in f64).
        let (exact, abs) = a.with_data(|s: &[f32]| {
            s.iter().fold((0.0f64, 0.0f64), |(e, m), &v| {
                (e + v as f64, m + (v as f64).abs())
            })
        })?;
        let err = (a.sum_all()?.item()? - exact).abs() / abs;
        for (name, bytes, f) in cases.iter() {
            let (med, _) = time(2, reps, f);
            let extra = if *name == "sum" {
                format!(" sum_error={err:.2e}")
            } else {
                String::new()
            };
            emit(
                &format!("{name}_f32_2^{log2}"),
                bytes * n as f64 / med / 1e9,
                "GB/s",
                &format!("med_ms={:.3}{extra}", med * 1e3),
            );
        }
    }
    Ok(())
}

/// conv2d, batch 64, 32 → 64 channels, 3 × 3, 28 × 28, padding 1, f32: forward alone and
/// forward + backward (gradients of input, kernel and bias, from `sum(y)`).
fn conv(o: &Opts) -> Result<()> {
    let mut rng = Rng::new(3);
    let x = Tensor::randn([64, 32, 28, 28], 0.0, 1.0, DType::F32, &mut rng);
    let w = Tensor::randn([64, 32, 3, 3], 0.0, 0.05, DType::F32, &mut rng);
    let b = Tensor::zeros([64], DType::F32);
    let opts = Conv2dOptions {
        padding: (1, 1),
        ..Conv2dOptions::default()
    };
    let flop = 2.0 * (64 * 64 * 28 * 28 * 32 * 9) as f64;
    let (med, _) = time(1, o.reps(9), || {
        no_grad(|| x.conv2d(&w, Some(&b), opts).unwrap())
    });
    emit(
        "conv2d_fwd",
        med * 1e3,
        "ms",
        &format!("gflops={:.2}", flop / med / 1e9),
    );
    let (xg, wg, bg) = (
        x.detach().requires_grad_(),
        w.detach().requires_grad_(),
        b.detach().requires_grad_(),
    );
    let (med, _) = time(1, o.reps(7), || {
        for t in [&xg, &wg, &bg] {
            t.zero_grad();
        }
        let y = xg.conv2d(&wg, Some(&bg), opts).unwrap();
        y.sum_all().unwrap().backward().unwrap();
        wg.grad().unwrap()
    });
    emit(
        "conv2d_fwd_bwd",
        med * 1e3,
        "ms",
        &format!("gflops={:.2}", 3.0 * flop / med / 1e9),
    );
    Ok(())
}

/// One SGD training step (forward, cross-entropy, backward, update; f32) of the MLP of
/// `common/mlp.rs`, lr 0.01 — the definitions of the peers' scripts.
fn mlp_step(dims: &[usize], batch: usize, reps: usize) -> Result<(f64, f64)> {
    let mlp = Mlp::new(dims, batch, 4)?;
    let step = || mlp.step(0.01);
    let first = step()?;
    let (med, min) = time(20, reps, || step().unwrap());
    let last = step()?;
    assert!(
        last < first,
        "the MLP step does not train: loss {first} -> {last}"
    );
    Ok((med, min))
}

fn mlp(o: &Opts) -> Result<()> {
    for (dims, batch, reps) in [
        (&[64, 128, 10][..], 64, 500),
        (&[64, 128, 10][..], 256, 500),
        (&[784, 256, 256, 10][..], 128, 200),
    ] {
        let (med, min) = mlp_step(dims, batch, o.reps(reps))?;
        let name: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
        emit(
            &format!("mlp_step_{}_b{batch}", name.join("-")),
            med * 1e6,
            "us",
            &format!("best_us={:.1}", min * 1e6),
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = Opts {
        quick: args.iter().any(|a| a == "--quick"),
    };
    let picked: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let want = |name: &str| picked.is_empty() || picked.contains(&name);
    if want("matmul") {
        matmul(&o)?;
    }
    if want("elementwise") {
        elementwise(&o)?;
    }
    if want("conv") {
        conv(&o)?;
    }
    if want("mlp") {
        mlp(&o)?;
    }
    Ok(())
}
