//! Giles' LIBOR market model benchmark: the time of the price and its 160 sensitivities
//! over the time of one plain `f64` pricing, per method, and the cost per recorded
//! operation.
//!
//! `cargo bench -p retrograd --bench libor [-- paths]` (default 10,000 paths, one thread):
//! the medians of 7 interleaved repetitions of the plain pricing, the tape (operation by
//! operation and with each step preaccumulated) and the replay of one recorded path, and
//! the time of the pricing's `exp` calls alone (one per step, 2,380 per path), its floor.
//! With `--features jit`, also the recorded path compiled to native code and replayed per
//! path (`Recording::compile`).
//! The model and the methods are those of `examples/libor.rs`.

#[allow(dead_code)]
#[path = "../examples/libor.rs"]
mod libor;

use libor::{Inputs, Steps};
use std::hint::black_box;
use std::time::Instant;

/// A method's name and one timed run of it.
type Method<'a> = (&'static str, Box<dyn Fn() -> f64 + 'a>);

fn main() {
    let paths: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let inputs = Inputs::giles();
    let z = libor::normals(paths, 2026);
    let rec = libor::record_path(&inputs, &z);
    // The steps of one path: one `exp` each.
    let steps = libor::NMAT * (2 * libor::N - libor::NMAT - 1) / 2;
    #[cfg(feature = "jit")]
    let compiled = rec.compile().expect("a path's recording compiles");
    #[allow(unused_mut)]
    let mut methods: Vec<Method> = vec![
        ("plain f64 pricing", Box::new(|| libor::price(&inputs, &z))),
        (
            "its exp calls alone",
            Box::new(|| {
                let mut total = 0.0;
                for k in 0..paths * steps {
                    total += black_box(1e-6 * (k % 1000) as f64).exp();
                }
                total
            }),
        ),
        (
            "tape, operation by operation",
            Box::new(|| libor::tape_sensitivities(&inputs, &z, Steps::Operators).price),
        ),
        (
            "tape, steps preaccumulated",
            Box::new(|| libor::tape_sensitivities(&inputs, &z, Steps::Preaccumulated).price),
        ),
        (
            "replay of one recorded path",
            Box::new(|| {
                libor::replay_sensitivities(&rec, &inputs, &z)
                    .expect("the recording has no guard")
                    .price
            }),
        ),
        (
            "replay, 8 paths per lane group",
            Box::new(|| {
                libor::replay_lanes_sensitivities(&rec, &inputs, &z)
                    .expect("the recording has no guard")
                    .price
            }),
        ),
    ];
    #[cfg(feature = "jit")]
    methods.push((
        "replay compiled (jit)",
        Box::new(|| {
            let (n, nmat) = (libor::N, libor::NMAT);
            let mut x = inputs.flat();
            x.resize(2 * n + nmat, 0.0);
            let mut grad = vec![0.0; 2 * n + nmat];
            let mut ws = retrograd::replay::Workspace::new();
            let mut price = 0.0;
            for zp in z.chunks(nmat) {
                x[2 * n..].copy_from_slice(zp);
                compiled
                    .vjp_with(&mut ws, &x, &[1.0], &mut grad)
                    .expect("the recording has no guard");
                price += ws.outputs()[0];
                black_box(&grad);
            }
            price / paths as f64
        }),
    ));
    let mut times = vec![Vec::new(); methods.len()];
    for _ in 0..7 {
        for (k, (_, f)) in methods.iter().enumerate() {
            let start = Instant::now();
            black_box(f());
            times[k].push(start.elapsed().as_secs_f64());
        }
    }
    let medians: Vec<f64> = times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect();
    let mut sizes = vec![
        None,
        None,
        Some(libor::tape_path_size(&inputs, &z, Steps::Operators).0),
        Some(libor::tape_path_size(&inputs, &z, Steps::Preaccumulated).0),
        Some(rec.len()),
        Some(rec.len()),
    ];
    sizes.resize(methods.len(), Some(rec.len()));
    println!("LIBOR market model, {paths} paths, one thread (median of 7)");
    println!(
        "{:<30} {:>10} {:>8} {:>12} {:>12}",
        "", "µs/path", "ratio", "ops/path", "ns/op"
    );
    for (k, (name, _)) in methods.iter().enumerate() {
        let per_path = medians[k] / paths as f64 * 1e6;
        let ops = sizes[k].map_or("-".into(), |n| n.to_string());
        let per_op = sizes[k].map_or("-".into(), |n| format!("{:.2}", per_path * 1e3 / n as f64));
        println!(
            "{name:<30} {per_path:>10.2} {:>7.2}x {ops:>12} {per_op:>12}",
            medians[k] / medians[0]
        );
    }
}
