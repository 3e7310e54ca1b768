//! Tuning per-layer learning rates and weight decays by gradient descent on hypergradients.
//!
//! A 64–16–10 tanh MLP is trained on the bundled digits for `K` steps of SGD with
//! momentum (minibatches in a fixed order). The validation loss after the run is a
//! function of the hyperparameters — `ln lr` and `ln wd` of each layer — and its gradient
//! is taken through all `K` optimiser steps by `retrograd::hyper::Unroll` in reverse mode
//! with binomial checkpointing (memory of a few states and one step's tape, whatever `K`),
//! checked against forward mode (`Dual`) and central finite differences. Gradient descent
//! on the hyperparameters then lowers the validation loss; a held-out test split shows
//! whether the tuning generalises.
//!
//! Run: `cargo run --release -p retrograd-nn --example hypergradient [-- --json] [--quick] [--plot PATH]`

use retrograd::hyper::{Hypergradient, InnerProblem, Sgd, Unroll};
use retrograd::Real;
use retrograd_nn::data::{digits, Dataset};

const INPUTS: usize = 64;
const HIDDEN: usize = 16;
const CLASSES: usize = 10;
/// Parameters of layer 1 (W₁ then b₁) and layer 2 (W₂ then b₂).
const LAYER1: usize = INPUTS * HIDDEN + HIDDEN;
const LAYER2: usize = HIDDEN * CLASSES + CLASSES;

/// Samples as rows of `f64` features in [0, 1] with their labels.
pub struct Split {
    pub x: Vec<[f64; INPUTS]>,
    pub y: Vec<usize>,
}

fn split_of(d: &Dataset) -> Split {
    Split {
        x: (0..d.len())
            .map(|i| {
                let mut row = [0.0; INPUTS];
                for (r, &v) in row.iter_mut().zip(d.sample(i)) {
                    *r = f64::from(v) / 16.0;
                }
                row
            })
            .collect(),
        y: d.labels.clone(),
    }
}

/// The MLP on a training split (minibatches in order) and a validation split.
pub struct Mlp {
    pub train: Split,
    pub validation: Split,
    pub test: Split,
    pub batch: usize,
}

impl Mlp {
    /// Logits of sample `s` and the hidden activations.
    fn forward<T: Real>(p: &[T], x: &[f64; INPUTS]) -> ([T; HIDDEN], [T; CLASSES]) {
        let (w1, rest) = p.split_at(INPUTS * HIDDEN);
        let (b1, rest) = rest.split_at(HIDDEN);
        let (w2, b2) = rest.split_at(HIDDEN * CLASSES);
        let mut a = [T::zero(); HIDDEN];
        for (h, a) in a.iter_mut().enumerate() {
            let mut z = b1[h];
            for (i, &xi) in x.iter().enumerate() {
                // Zero pixels contribute nothing: skipping them keeps the tape short.
                if xi != 0.0 {
                    z += T::from_f64(xi) * w1[i * HIDDEN + h];
                }
            }
            *a = z.tanh();
        }
        let mut o = [T::zero(); CLASSES];
        for (c, o) in o.iter_mut().enumerate() {
            *o = b2[c] + (0..HIDDEN).map(|h| a[h] * w2[h * CLASSES + c]).sum::<T>();
        }
        (a, o)
    }

    /// Softmax probabilities, shifted by the largest logit's value.
    fn softmax<T: Real>(o: &[T; CLASSES]) -> [T; CLASSES] {
        let m = T::from_f64(
            o.iter()
                .map(|v| v.value())
                .fold(f64::NEG_INFINITY, f64::max),
        );
        let e = o.map(|v| (v - m).exp());
        let s: T = e.iter().copied().sum();
        e.map(|v| v / s)
    }

    /// Mean cross-entropy on a split.
    pub fn loss<T: Real>(p: &[T], data: &Split) -> T {
        let total: T = data
            .x
            .iter()
            .zip(&data.y)
            .map(|(x, &y)| -Self::softmax(&Self::forward(p, x).1)[y].ln())
            .sum();
        total / T::from_f64(data.x.len() as f64)
    }

    /// Fraction of a split classified correctly.
    pub fn accuracy(p: &[f64], data: &Split) -> f64 {
        let right = data
            .x
            .iter()
            .zip(&data.y)
            .filter(|(x, &y)| {
                let o = Self::forward(p, x).1;
                (0..CLASSES).all(|c| o[c] <= o[y])
            })
            .count();
        right as f64 / data.x.len() as f64
    }

    /// Deterministic initial parameters (scaled normal weights, zero biases).
    pub fn init(seed: u64) -> Vec<f64> {
        let mut rng = retrograd_nn::Rng::new(seed);
        let mut p = vec![0.0; LAYER1 + LAYER2];
        for w in &mut p[..INPUTS * HIDDEN] {
            *w = rng.normal() / (INPUTS as f64).sqrt();
        }
        for w in &mut p[LAYER1..LAYER1 + HIDDEN * CLASSES] {
            *w = rng.normal() / (HIDDEN as f64).sqrt();
        }
        p
    }
}

/// The training gradient by hand-written backpropagation on `T`, so the hypergradient sees
/// how each step's gradient depends on the parameters.
impl InnerProblem for Mlp {
    fn training_gradient<T: Real>(&self, t: usize, p: &[T]) -> Vec<T> {
        let n = self.train.x.len();
        let batches = n.div_ceil(self.batch);
        let start = ((t - 1) % batches) * self.batch;
        let rows = start..(start + self.batch).min(n);
        let scale = T::from_f64(1.0 / rows.len() as f64);
        let mut g = vec![T::zero(); p.len()];
        let w2 = &p[LAYER1..LAYER1 + HIDDEN * CLASSES];
        for s in rows {
            let x = &self.train.x[s];
            let (a, o) = Self::forward(p, x);
            let mut prob = Self::softmax(&o);
            prob[self.train.y[s]] -= T::one();
            let d_o = prob.map(|v| v * scale);
            let (g1, g2) = g.split_at_mut(LAYER1);
            let (gw1, gb1) = g1.split_at_mut(INPUTS * HIDDEN);
            let (gw2, gb2) = g2.split_at_mut(HIDDEN * CLASSES);
            for h in 0..HIDDEN {
                let mut d_a = T::zero();
                for c in 0..CLASSES {
                    gw2[h * CLASSES + c] += a[h] * d_o[c];
                    d_a += w2[h * CLASSES + c] * d_o[c];
                }
                let d_z = d_a * (T::one() - a[h] * a[h]);
                gb1[h] += d_z;
                for (i, &xi) in x.iter().enumerate() {
                    if xi != 0.0 {
                        gw1[i * HIDDEN + h] += T::from_f64(xi) * d_z;
                    }
                }
            }
            for c in 0..CLASSES {
                gb2[c] += d_o[c];
            }
        }
        g
    }

    fn validation_loss<T: Real>(&self, p: &[T]) -> T {
        Self::loss(p, &self.validation)
    }
}

/// Sizes of a run.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub train: usize,
    pub validation: usize,
    pub batch: usize,
    pub steps: usize,
    pub snapshots: usize,
    pub hyper_steps: usize,
}

impl Config {
    pub fn full() -> Self {
        Config {
            train: 320,
            validation: 300,
            batch: 64,
            steps: 60,
            snapshots: 8,
            hyper_steps: 25,
        }
    }
    pub fn quick() -> Self {
        Config {
            train: 64,
            validation: 60,
            batch: 32,
            steps: 8,
            snapshots: 3,
            hyper_steps: 4,
        }
    }
}

/// One row of the tuning trajectory.
pub struct Row {
    pub step: usize,
    pub val_loss: f64,
    pub hyper: Vec<f64>,
    pub grad_norm: f64,
}

/// Headline figures and checks.
pub struct Report {
    pub config: Config,
    pub hypergradient: Vec<f64>,
    pub finite_differences: Vec<f64>,
    pub forward: Vec<f64>,
    pub max_rel_diff_vs_finite_differences: f64,
    pub max_rel_diff_forward_vs_reverse: f64,
    pub peak_tape_bytes: usize,
    pub peak_tape_bytes_half_steps: usize,
    pub max_snapshots: usize,
    pub seconds_per_hypergradient: f64,
    /// One run of forward mode with all four tangents at once.
    pub seconds_forward: f64,
    /// One training run and validation loss on `f64`.
    pub seconds_function: f64,
    pub val_loss_before: f64,
    pub val_loss_after: f64,
    pub test_loss_before: f64,
    pub test_loss_after: f64,
    pub test_accuracy_before: f64,
    pub test_accuracy_after: f64,
    pub trajectory: Vec<Row>,
}

impl Report {
    pub fn checks(&self) -> Vec<(&'static str, bool)> {
        vec![
            (
                "reverse_matches_finite_differences_1e-4",
                self.max_rel_diff_vs_finite_differences <= 1e-4,
            ),
            (
                "forward_matches_reverse_1e-9",
                self.max_rel_diff_forward_vs_reverse <= 1e-9,
            ),
            (
                "snapshots_within_budget",
                self.max_snapshots <= self.config.snapshots,
            ),
            // One step's tape whatever K: the same peak at K and K/2 steps (within 1%).
            (
                "tape_independent_of_steps",
                (self.peak_tape_bytes as f64 - self.peak_tape_bytes_half_steps as f64).abs()
                    <= 0.01 * self.peak_tape_bytes as f64,
            ),
            (
                "tuning_lowers_validation_loss",
                self.val_loss_after < self.val_loss_before,
            ),
        ]
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-8)
}

pub fn run(config: Config) -> Report {
    let all = digits().expect("the bundled digits");
    let (rest, test) = all.stratified_split(0.3, 7);
    let (train, validation) = rest.stratified_split(0.5, 11);
    let mlp = Mlp {
        train: split_of(&train.take(config.train)),
        validation: split_of(&validation.take(config.validation)),
        test: split_of(&test),
        batch: config.batch,
    };
    let sgd = Sgd {
        momentum: 0.9,
        nesterov: false,
    };
    let unroll = Unroll::new(&mlp, sgd, &[LAYER1, LAYER2], config.steps).expect("groups");
    let half = Unroll::new(&mlp, sgd, &[LAYER1, LAYER2], config.steps / 2).expect("groups");
    let init = Mlp::init(3);
    // ln lr and ln wd for layer 1, then layer 2: a cautious start.
    let start = vec![0.02_f64.ln(), 1e-2_f64.ln(), 0.02_f64.ln(), 1e-2_f64.ln()];

    let clock = std::time::Instant::now();
    let g = unroll
        .hypergradient(&init, &start, config.snapshots)
        .expect("hypergradient");
    let seconds_per_hypergradient = clock.elapsed().as_secs_f64();
    let finite_differences: Vec<f64> = (0..start.len())
        .map(|i| {
            let h = 1e-5;
            let at = |s: f64| {
                let mut hp = start.clone();
                hp[i] += s * h;
                unroll.validation_loss(&init, &hp).expect("validation loss")
            };
            (at(1.0) - at(-1.0)) / (2.0 * h)
        })
        .collect();
    let clock = std::time::Instant::now();
    let (_, forward) = unroll
        .hypergradient_forward::<4>(&init, &start)
        .expect("forward mode");
    let seconds_forward = clock.elapsed().as_secs_f64();
    let clock = std::time::Instant::now();
    unroll
        .validation_loss(&init, &start)
        .expect("validation loss");
    let seconds_function = clock.elapsed().as_secs_f64();
    let peak_half = half
        .hypergradient(&init, &start, config.snapshots)
        .expect("hypergradient");

    // Gradient descent on the hyperparameters: a step of length α along −g/‖g‖, halved
    // (and retried) whenever it raises the validation loss.
    let mut hyper = start.clone();
    let mut current = g.clone();
    let mut alpha = 0.5;
    let mut trajectory = Vec::new();
    // The length of the hypergradient, and the trajectory's row at a step.
    let norm = |g: &[f64]| g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let row = |step, current: &Hypergradient, hyper: &[f64]| Row {
        step,
        val_loss: current.value,
        hyper: hyper.to_vec(),
        grad_norm: norm(&current.hypergradient),
    };
    for step in 0..config.hyper_steps {
        trajectory.push(row(step, &current, &hyper));
        let norm = norm(&current.hypergradient);
        let mut accepted = false;
        for _ in 0..6 {
            let trial: Vec<f64> = hyper
                .iter()
                .zip(&current.hypergradient)
                .map(|(h, g)| h - alpha * g / norm)
                .collect();
            match unroll.hypergradient(&init, &trial, config.snapshots) {
                Ok(next) if next.value < current.value => {
                    hyper = trial;
                    current = next;
                    accepted = true;
                    alpha *= 1.2;
                    break;
                }
                _ => alpha *= 0.5,
            }
        }
        if !accepted {
            break;
        }
    }
    trajectory.push(row(trajectory.len(), &current, &hyper));

    Report {
        config,
        max_rel_diff_vs_finite_differences: g
            .hypergradient
            .iter()
            .zip(&finite_differences)
            .map(|(&a, &b)| rel(a, b))
            .fold(0.0, f64::max),
        max_rel_diff_forward_vs_reverse: g
            .hypergradient
            .iter()
            .zip(&forward)
            .map(|(&a, &b)| rel(a, b))
            .fold(0.0, f64::max),
        hypergradient: g.hypergradient.clone(),
        finite_differences,
        forward,
        peak_tape_bytes: g.stats.peak_tape_bytes,
        peak_tape_bytes_half_steps: peak_half.stats.peak_tape_bytes,
        max_snapshots: g.stats.max_snapshots,
        seconds_per_hypergradient,
        seconds_forward,
        seconds_function,
        val_loss_before: g.value,
        val_loss_after: current.value,
        test_loss_before: Mlp::loss(&g.params, &mlp.test),
        test_loss_after: Mlp::loss(&current.params, &mlp.test),
        test_accuracy_before: Mlp::accuracy(&g.params, &mlp.test),
        test_accuracy_after: Mlp::accuracy(&current.params, &mlp.test),
        trajectory,
    }
}

/// The validation loss over the hyper-steps, as a PNG.
pub fn plot(path: &str, r: &Report) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    static FONT: &[u8] = include_bytes!("../../retrograd-cli/assets/DejaVuSans.ttf");
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| "the embedded font is not a valid TrueType font")?;
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let points: Vec<(f64, f64)> = r
        .trajectory
        .iter()
        .map(|row| (row.step as f64, row.val_loss))
        .collect();
    let top = points.iter().map(|p| p.1).fold(0.0, f64::max) * 1.05;
    let bottom = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min) * 0.95;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Validation loss after {} SGD steps, tuned by hypergradients",
                r.config.steps
            ),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..(points.len().max(2) - 1) as f64, bottom..top)?;
    chart
        .configure_mesh()
        .x_desc("hyper-step")
        .y_desc("validation cross-entropy")
        .label_style(("sans-serif", 14))
        .draw()?;
    chart.draw_series(LineSeries::new(points.clone(), BLUE.stroke_width(2)))?;
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, BLUE.filled())))?;
    root.present()?;
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let plot_path = args.iter().position(|a| a == "--plot").map(|i| {
        args.get(i + 1).cloned().unwrap_or_else(|| {
            eprintln!("--plot needs a path");
            std::process::exit(2)
        })
    });
    let r = run(if quick {
        Config::quick()
    } else {
        Config::full()
    });
    let checks = r.checks();
    if let Some(path) = &plot_path {
        if let Err(e) = plot(path, &r) {
            eprintln!("plot {path}: {e}");
            std::process::exit(1);
        }
    }
    let names = ["ln lr1", "ln wd1", "ln lr2", "ln wd2"];
    if json {
        let checks: serde_json::Map<String, serde_json::Value> = checks
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        let out = serde_json::json!({
            "steps": r.config.steps,
            "snapshots": r.config.snapshots,
            "hyperparameters": names,
            "hypergradient": r.hypergradient,
            "finite_differences": r.finite_differences,
            "forward_mode": r.forward,
            "max_rel_diff_vs_finite_differences": r.max_rel_diff_vs_finite_differences,
            "max_rel_diff_forward_vs_reverse": r.max_rel_diff_forward_vs_reverse,
            "peak_tape_bytes": r.peak_tape_bytes,
            "seconds_per_hypergradient": r.seconds_per_hypergradient,
            "seconds_forward_mode": r.seconds_forward,
            "seconds_function": r.seconds_function,
            "val_loss_before": r.val_loss_before,
            "val_loss_after": r.val_loss_after,
            "test_loss_before": r.test_loss_before,
            "test_loss_after": r.test_loss_after,
            "test_accuracy_before": r.test_accuracy_before,
            "test_accuracy_after": r.test_accuracy_after,
            "hyperparameters_after": r.trajectory.last().map(|row| row.hyper.clone()),
            "checks": checks,
        });
        println!("{out}");
    } else {
        println!(
            "MLP 64-16-10 on digits: {} training samples, {} validation; {} SGD steps (momentum 0.9, batch {}), {} snapshots",
            r.config.train, r.config.validation, r.config.steps, r.config.batch, r.config.snapshots
        );
        println!(
            "\nhyperparameter   reverse (checkpointed)   forward (Dual)     finite differences"
        );
        for (i, name) in names.iter().enumerate() {
            println!(
                "{:<15}  {:>22.10}  {:>16.10}  {:>18.10}",
                name, r.hypergradient[i], r.forward[i], r.finite_differences[i]
            );
        }
        println!(
            "max relative difference: vs finite differences {:.2e}, forward vs reverse {:.2e}",
            r.max_rel_diff_vs_finite_differences, r.max_rel_diff_forward_vs_reverse
        );
        println!(
            "time / one f64 training run: reverse (checkpointed) {:.1}, forward (4 tangents) {:.1}  ({:.4} s per run)",
            r.seconds_per_hypergradient / r.seconds_function,
            r.seconds_forward / r.seconds_function,
            r.seconds_function
        );
        println!(
            "one hypergradient: {:.3} s; peak tape {} KiB at {} steps, {} KiB at {}; at most {} states held",
            r.seconds_per_hypergradient,
            r.peak_tape_bytes / 1024,
            r.config.steps,
            r.peak_tape_bytes_half_steps / 1024,
            r.config.steps / 2,
            r.max_snapshots
        );
        println!("\nhyper-step  val loss   lr1        wd1        lr2        wd2        |grad|");
        for row in &r.trajectory {
            let e: Vec<f64> = row.hyper.iter().map(|v| v.exp()).collect();
            println!(
                "{:>10}  {:.5}  {:.3e}  {:.3e}  {:.3e}  {:.3e}  {:.3e}",
                row.step, row.val_loss, e[0], e[1], e[2], e[3], row.grad_norm
            );
        }
        println!(
            "\nvalidation loss {:.4} -> {:.4}; test loss {:.4} -> {:.4}, test accuracy {:.1}% -> {:.1}%",
            r.val_loss_before,
            r.val_loss_after,
            r.test_loss_before,
            r.test_loss_after,
            100.0 * r.test_accuracy_before,
            100.0 * r.test_accuracy_after
        );
        for (name, ok) in &checks {
            println!("check {name}: {}", if *ok { "pass" } else { "FAIL" });
        }
    }
    if checks.iter().any(|(_, ok)| !ok) {
        std::process::exit(1);
    }
}
