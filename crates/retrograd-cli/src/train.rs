//! `retrograd train`: train a classifier, show progress, write the model and a plot.

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use retrograd_nn::data::DataSpec;
use retrograd_nn::metrics::EpochRecord;
use retrograd_nn::optim::LrSchedule;
use retrograd_nn::train::{
    ModelKind, Observer, OptimizerKind, Precision, TrainConfig, TrainOutcome, Trainer,
};
use serde_json::json;

/// `println!` that ignores a closed stdout (`retrograd ... | head`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
pub(crate) use say;

/// The help text of `--schedule`.
const SCHEDULE_HELP: &str =
    "Learning-rate schedule: constant, step:SIZE:GAMMA (SIZE ≥ 1, 0 < GAMMA ≤ 1), \
     cosine[:MIN] (0 ≤ MIN ≤ 1), onecycle, warmup:STEPS,<schedule> (STEPS ≥ 1)";

/// Options of `retrograd train` (also accepted with no subcommand).
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Model family: mlp or cnn.
    #[arg(long, default_value = "mlp")]
    pub model: ModelKind,
    /// Hidden layer widths (1 to 65536), comma-separated [default: 128]; cnn: C1,C2[,DENSE...] channels of its two conv blocks, then dense layers [default: 16,32].
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Number of epochs, 1 to 1000000 [default: 30 for mlp, 15 for cnn].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Mini-batch size (at least 1).
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Peak learning rate, finite and above 0 [default: 1e-3 (cnn: 3e-3) for adam, adamw, rmsprop; 0.05 for sgd, adagrad].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Optimizer: sgd, adam, adamw, rmsprop or adagrad.
    #[arg(long, default_value = "adam")]
    pub optimizer: OptimizerKind,
    /// Weight decay on weights (not biases), finite and at least 0.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// The learning-rate schedule (its forms are in the help text, which rustdoc would
    /// read as links and tags).
    #[arg(long, default_value = "cosine", help = SCHEDULE_HELP)]
    pub schedule: LrSchedule,
    /// Clip the global gradient norm to this value (finite, above 0).
    #[arg(long)]
    pub clip_norm: Option<f64>,
    /// Seed of initialisation, dropout and shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Arithmetic of the forward and backward passes: f32, bf16 or f16 (bf16/f16: matrix products and convolutions in 16 bits under autocast, losses and norms in f32, f32 master weights; f16 adds dynamic loss scaling).
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
    /// Data set: digits, fashion-mnist, idx:DIR or csv:FILE.
    #[arg(long, default_value = "digits")]
    pub data: DataSpec,
    /// Use only the first N training samples, N ≥ 1 (quick experiments).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Where to write the trained model.
    #[arg(long, default_value = "model.safetensors")]
    pub out: PathBuf,
    /// Where to write the PNG of loss and accuracy curves ("none": no plot).
    #[arg(long, default_value = "training.png")]
    pub plot: PathBuf,
    /// Where to write the checkpoint after each epoch [default: next to --out, `.ckpt.safetensors`].
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Continue the run saved in this checkpoint (its settings are used; --epochs may extend it).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Stop after this many epochs, as if interrupted (the checkpoint allows --resume).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
    /// Number of worker threads for tensor kernels, 1 to 1024 [default: one per core].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON object at the end instead of text.
    #[arg(long)]
    pub json: bool,
    /// Train data-parallel over MPI, one process per rank: `mpirun -np N retrograd train
    /// --distributed` (a build with `--features mpi`). Rank 0 prints and writes the files.
    #[arg(long)]
    pub distributed: bool,
    /// With --distributed: seconds any rank waits for the others in a collective before the
    /// run fails (a rank died or hangs), above 0.
    #[arg(long, default_value_t = 300.0)]
    pub timeout: f64,
}

impl TrainArgs {
    fn config(&self) -> TrainConfig {
        let mut c = TrainConfig::for_model(self.model);
        if let Some(h) = &self.hidden {
            c.hidden = h.clone();
        }
        if let Some(e) = self.epochs {
            c.epochs = e;
        }
        c.batch_size = self.batch_size;
        c.optimizer = self.optimizer;
        c.lr = self.lr.unwrap_or(self.optimizer.default_lr(self.model));
        c.weight_decay = self.weight_decay;
        c.schedule = self.schedule.clone();
        c.clip_norm = self.clip_norm;
        c.seed = self.seed;
        c.data = self.data.clone();
        c.train_limit = self.limit;
        c.precision = self.precision;
        c
    }
}

/// Shows a progress bar per epoch and a line of metrics after each.
struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    stop_after: Option<usize>,
    loss_sum: f64,
    batches: usize,
}

impl Observer for Progress {
    fn on_epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.loss_sum = 0.0;
        self.batches = 0;
        if let Some(bar) = &self.bar {
            bar.reset();
            bar.set_length(batches as u64);
            bar.set_prefix(format!("epoch {epoch:>3}/{epochs}"));
        }
    }

    fn on_batch(&mut self, loss: f64) {
        self.loss_sum += loss;
        self.batches += 1;
        if let Some(bar) = &self.bar {
            bar.set_message(format!("loss {:.4}", self.loss_sum / self.batches as f64));
            bar.inc(1);
        }
    }

    fn on_epoch_end(&mut self, r: &EpochRecord, epochs: usize) -> ControlFlow<()> {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if !self.quiet {
            say!(
                "epoch {:>3}/{epochs}  train loss {:.4}  test loss {:.4}  test accuracy {:6.2}%  ({:.2} s)",
                r.epoch,
                r.train_loss,
                r.test_loss,
                100.0 * r.test_accuracy,
                r.seconds
            );
        }
        match self.stop_after {
            Some(n) if r.epoch >= n => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    }
}

/// Default checkpoint path: `model.safetensors` → `model.ckpt.safetensors`.
fn checkpoint_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!("{stem}.ckpt.safetensors"))
}

/// Runs `retrograd train`. Every setting and output path is checked before any data is
/// loaded, so that a mistake costs no training time and overwrites nothing.
pub fn run(args: &TrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(format!("--timeout must be finite and above 0, got {}", args.timeout).into());
    }
    if args.distributed {
        return distributed(args);
    }
    train(args, &mut Single)
}

/// How the run is shared among processes: one, or the ranks of an MPI job.
trait Launch {
    /// This process's rank and the number of ranks.
    fn rank_and_size(&self) -> (usize, usize);
    /// Runs the trainer.
    fn run(
        &mut self,
        trainer: Trainer,
        observer: &mut dyn Observer,
    ) -> Result<TrainOutcome, Box<dyn std::error::Error>>;
}

/// One process.
struct Single;

impl Launch for Single {
    fn rank_and_size(&self) -> (usize, usize) {
        (0, 1)
    }
    fn run(
        &mut self,
        trainer: Trainer,
        observer: &mut dyn Observer,
    ) -> Result<TrainOutcome, Box<dyn std::error::Error>> {
        Ok(trainer.run(observer)?)
    }
}

#[cfg(not(feature = "mpi"))]
fn distributed(_args: &TrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    Err(
        "--distributed needs a build with MPI: install Open MPI, then \
         `cargo build --release -p retrograd-cli --features mpi` (README, \"Training over MPI\")"
            .into(),
    )
}

#[cfg(feature = "mpi")]
fn distributed(args: &TrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    use retrograd_mpi::mpi::{self, traits::Communicator};
    use retrograd_mpi::{abort_job, DdpOptions, DistributedDataParallel};

    /// The ranks of an MPI job, averaging gradients with [`DistributedDataParallel`].
    struct Mpi(DistributedDataParallel);

    impl Launch for Mpi {
        fn rank_and_size(&self) -> (usize, usize) {
            (self.0.rank(), self.0.size())
        }
        fn run(
            &mut self,
            trainer: Trainer,
            observer: &mut dyn Observer,
        ) -> Result<TrainOutcome, Box<dyn std::error::Error>> {
            Ok(trainer.run_replicated(observer, &mut self.0)?)
        }
    }

    let universe = mpi::initialize().ok_or("MPI was initialised already")?;
    let world = universe.world();
    let options = DdpOptions {
        timeout: std::time::Duration::from_secs_f64(args.timeout),
        ..DdpOptions::default()
    };
    let mut launch = Mpi(DistributedDataParallel::new(world.duplicate(), options));
    // A rank that fails alone would leave the others waiting: end the whole job.
    train(args, &mut launch).unwrap_or_else(|e| abort_job(&world, &e));
    Ok(())
}

/// The run of one process (alone, or one rank of a job; rank 0 writes and prints).
fn train(args: &TrainArgs, launch: &mut dyn Launch) -> Result<(), Box<dyn std::error::Error>> {
    let (rank, ranks) = launch.rank_and_size();
    let lead = rank == 0;
    // On --resume the checkpoint's settings are used, but what was typed must be valid too.
    args.config().validate()?;
    if let Some(n) = args.stop_after {
        if n == 0 {
            return Err("--stop-after must be at least 1, got 0".into());
        }
    }
    if let Some(n) = args.threads {
        crate::train::set_threads(n)?;
    }
    let started = Instant::now();
    let checkpoint = args
        .checkpoint
        .clone()
        .unwrap_or_else(|| checkpoint_path(&args.out));
    let plot = (args.plot.as_os_str() != "none").then_some(args.plot.as_path());
    let mut outputs = vec![("--out", args.out.as_path()), ("--checkpoint", &checkpoint)];
    outputs.extend(plot.map(|plot| ("--plot", plot)));
    if lead {
        crate::output::check_outputs(&outputs)?;
        if let Some(plot) = plot {
            crate::plot::check_plot_path(plot)?;
        }
    }
    let mut trainer = match &args.resume {
        Some(path) => Trainer::resume(path, args.epochs)?,
        None => Trainer::new(args.config())?,
    };
    trainer.set_checkpoint(lead.then(|| checkpoint.clone()));
    let config = trainer.config().clone();
    let quiet = args.json || !lead;
    let show_bar = !quiet && std::io::stderr().is_terminal();
    let bar = show_bar.then(|| {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {pos}/{len} {msg} ({eta})")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar
    });
    if !quiet {
        let (train, test) = trainer.data_sizes();
        say!(
            "training {} on {} ({train} train / {test} test samples), {} epochs, {} lr {}, batch {}, seed {}, {}",
            config.model, config.data, config.epochs, config.optimizer, config.lr, config.batch_size, config.seed, config.precision
        );
        let c = trainer.classifier();
        say!(
            "model {} ({} parameters)",
            c.model_description(),
            c.num_parameters()
        );
        if let Some(path) = &args.resume {
            say!(
                "resuming from {} after epoch {}",
                path.display(),
                trainer.epochs_done()
            );
        }
        if args.distributed {
            say!(
                "data-parallel over {ranks} ranks (MPI), batch {} per rank",
                config.batch_size
            );
        }
    }
    let mut progress = Progress {
        bar,
        quiet,
        stop_after: args.stop_after,
        loss_sum: 0.0,
        batches: 0,
    };
    let outcome = launch.run(trainer, &mut progress)?;
    if !lead {
        return Ok(());
    }
    outcome.classifier.save(&args.out)?;
    let plot =
        (args.plot.as_os_str() != "none" && !outcome.history.is_empty()).then_some(&args.plot);
    if let Some(plot) = plot {
        let title = format!(
            "retrograd: {} on {} (test accuracy {:.2}%)",
            config.model,
            config.data,
            100.0 * outcome.test_accuracy()
        );
        crate::plot::plot_history(plot, &title, &outcome.history)
            .map_err(|e| format!("{}: cannot draw the plot: {e}", plot.display()))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let epochs = outcome.history.last().map_or(0, |r| r.epoch);
    if args.json {
        let mut out = json!({
            "test_accuracy": outcome.test_accuracy(),
            "test_loss": outcome.history.last().map(|r| r.test_loss),
            "epochs": epochs,
            "precision": config.precision.to_string(),
            "seconds": seconds,
            "model_file": args.out.display().to_string(),
            "checkpoint_file": checkpoint.display().to_string(),
            "plot_file": plot.map(|p| p.display().to_string()),
            "config": config.to_json(),
            "architecture": outcome.classifier.model_description(),
            "parameters": outcome.classifier.num_parameters(),
            "history": outcome.history.iter().map(EpochRecord::to_json).collect::<Vec<_>>(),
        });
        if args.distributed {
            out["ranks"] = json!(ranks);
        }
        say!("{out}");
    } else {
        let c = &outcome.confusion;
        say!(
            "test accuracy {:.2}% ({}/{}) after {epochs} epochs in {seconds:.1} s",
            100.0 * c.accuracy(),
            c.correct(),
            c.total()
        );
        say!("model written to {}", args.out.display());
        say!("checkpoint written to {}", checkpoint.display());
        if let Some(plot) = plot {
            say!("plot written to {}", plot.display());
        }
    }
    Ok(())
}

/// The most kernel threads `--threads` accepts. Each is an operating-system thread, so
/// far more than the machine has cores only slows the kernels down (and hundreds of
/// thousands stall the start); a fixed bound, not one derived from this machine, keeps a
/// run of any thread count reproducible on another machine.
pub const MAX_THREADS: usize = 1024;

/// Sets the number of worker threads of the tensor kernels (1 to [`MAX_THREADS`]); call
/// before any tensor work.
pub fn set_threads(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(format!("--threads must be between 1 and {MAX_THREADS}, got {n}").into());
    }
    // The kernels' thread pool reads this when it starts, which has not happened yet.
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    Ok(())
}
