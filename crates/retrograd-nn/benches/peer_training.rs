//! Training throughput for the side-by-side comparison with PyTorch (`bench/compare.sh` runs
//! this and `bench/py/torch_train.py` in turns).
//!
//! `cargo bench -p retrograd-nn --bench peer_training [-- --quick] [digits-mlp] [digits-cnn]
//! [fashion-mlp] [fashion-cnn]`
//!
//! Each case is a [`Trainer`] run with the settings `retrograd train --model mlp|cnn` uses
//! (the defaults of [`TrainConfig::for_model`]: architecture, batch 32, Adam, cosine
//! schedule), on fewer epochs and, for the CNN on Fashion-MNIST, the first 10,000 training
//! images. An observer timestamps the start of every epoch and every mini-batch, so the
//! figure counts only training steps (batch assembly, forward, backward, optimizer), not the
//! evaluation after each epoch. Samples/s is the median over epochs after the first.
//! Prints `PEER bench=train_<data>_<model> impl=retrograd threads=<n> value=<samples/s> ...`.

use std::time::Instant;

use retrograd_nn::data::{DataSpec, FASHION_MNIST_DIR};
use retrograd_nn::train::{ModelKind, Observer, TrainConfig, Trainer};

/// Start of each epoch and end of its last mini-batch, and every step's duration.
#[derive(Default)]
struct Clock {
    epoch_start: Option<Instant>,
    last_batch: Option<Instant>,
    epochs: Vec<f64>,
    steps: Vec<f64>,
}

impl Clock {
    fn close_epoch(&mut self) {
        if let (Some(s), Some(e)) = (self.epoch_start.take(), self.last_batch.take()) {
            self.epochs.push((e - s).as_secs_f64());
        }
    }
}

impl Observer for Clock {
    fn on_epoch_start(&mut self, _epoch: usize, _epochs: usize, _batches: usize) {
        self.close_epoch();
        let now = Instant::now();
        self.epoch_start = Some(now);
        self.last_batch = None;
    }

    fn on_batch(&mut self, _loss: f64) {
        let now = Instant::now();
        let prev = self
            .last_batch
            .or(self.epoch_start)
            .expect("inside an epoch");
        self.steps.push((now - prev).as_secs_f64());
        self.last_batch = Some(now);
    }
}

/// The median, the mean of the middle two for an even count (as Python's
/// `statistics.median`, which the PyTorch side uses).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    }
}

fn run(
    name: &str,
    data: DataSpec,
    model: ModelKind,
    epochs: usize,
    limit: Option<usize>,
) -> retrograd_nn::Result<()> {
    let config = TrainConfig {
        epochs,
        data,
        train_limit: limit,
        ..TrainConfig::for_model(model)
    };
    let batch = config.batch_size;
    let trainer = Trainer::new(config)?;
    let (samples, _) = trainer.data_sizes();
    let mut clock = Clock::default();
    let outcome = trainer.run(&mut clock)?;
    clock.close_epoch();
    let timed: Vec<f64> = clock.epochs.iter().skip(1).copied().collect();
    let epoch_s = median(if timed.is_empty() {
        clock.epochs.clone()
    } else {
        timed
    });
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    println!(
        "PEER bench=train_{name} impl=retrograd threads={threads} value={:.1} unit=samples/s samples={samples} batch={batch} epochs={epochs} epoch_s={epoch_s:.4} step_us={:.1} test_accuracy={:.4}",
        samples as f64 / epoch_s,
        median(clock.steps) * 1e6,
        outcome.test_accuracy()
    );
    Ok(())
}

fn main() -> retrograd_nn::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let picked: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let want = |name: &str| picked.is_empty() || picked.contains(&name);
    let (e_digits, e_fashion) = if quick { (2, 2) } else { (8, 3) };
    if want("digits-mlp") {
        run(
            "digits_mlp",
            DataSpec::Digits,
            ModelKind::Mlp,
            e_digits,
            None,
        )?;
    }
    if want("digits-cnn") {
        run(
            "digits_cnn",
            DataSpec::Digits,
            ModelKind::Cnn,
            e_digits,
            None,
        )?;
    }
    let fashion = std::path::Path::new(FASHION_MNIST_DIR).is_dir();
    if !fashion && (want("fashion-mlp") || want("fashion-cnn")) {
        eprintln!("Fashion-MNIST not found in {FASHION_MNIST_DIR}: skipping its cases");
        return Ok(());
    }
    let limit = |full: Option<usize>| if quick { Some(5_000) } else { full };
    if want("fashion-mlp") {
        let l = limit(None);
        run(
            "fashion_mlp",
            DataSpec::FashionMnist,
            ModelKind::Mlp,
            e_fashion,
            l,
        )?;
    }
    if want("fashion-cnn") {
        let l = limit(Some(10_000));
        run(
            "fashion_cnn",
            DataSpec::FashionMnist,
            ModelKind::Cnn,
            e_fashion,
            l,
        )?;
    }
    Ok(())
}
