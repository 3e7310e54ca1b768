//! The settings of a training run, as the command line names them.

use std::fmt;
use std::str::FromStr;

use serde_json::{json, Value};

use crate::data::DataSpec;
use crate::optim::{
    AdagradConfig, AdamConfig, LrSchedule, Optim, Optimizer, RmsPropConfig, SgdConfig,
};
use crate::{NnError, Result};

/// The model families the training command builds.
///
/// ```
/// use retrograd_nn::train::ModelKind;
/// assert_eq!("cnn".parse::<ModelKind>().unwrap(), ModelKind::Cnn);
/// assert!("rnn".parse::<ModelKind>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// A multi-layer perceptron on the flattened input.
    Mlp,
    /// A small convolutional network (two conv + max-pool blocks, then a linear classifier).
    Cnn,
}

impl FromStr for ModelKind {
    type Err = NnError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mlp" => Ok(ModelKind::Mlp),
            "cnn" => Ok(ModelKind::Cnn),
            _ => Err(NnError::invalid(format!(
                "unknown model `{s}`: expected mlp or cnn"
            ))),
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
        })
    }
}

/// The arithmetic of a training run's forward and backward passes.
///
/// `Bf16` and `F16` run the forward pass under
/// [`autocast`](fn@retrograd::tensor::autocast) (matrix products and convolutions in the
/// 16-bit type, losses, softmax and norms in `f32`); parameters, gradients and optimizer
/// state stay `f32` (master weights). `F16` also scales the loss dynamically
/// ([`GradScaler`](crate::optim::GradScaler)), skipping steps whose gradients overflow;
/// `Bf16` has `f32`'s range and needs no scaling (PyTorch's practice as well).
///
/// ```
/// use retrograd::tensor::DType;
/// use retrograd_nn::train::Precision;
/// let p: Precision = "bf16".parse().unwrap();
/// assert_eq!((p.to_string(), p.autocast_dtype()), ("bf16".to_string(), Some(DType::BF16)));
/// assert!("f8".parse::<Precision>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// Everything in `f32`.
    #[default]
    F32,
    /// Autocast to bfloat16.
    Bf16,
    /// Autocast to IEEE half precision, with dynamic loss scaling.
    F16,
}

impl Precision {
    /// The autocast type of this precision (`None` for `F32`).
    ///
    /// ```
    /// assert_eq!(retrograd_nn::train::Precision::F32.autocast_dtype(), None);
    /// ```
    pub fn autocast_dtype(self) -> Option<retrograd::tensor::DType> {
        use retrograd::tensor::DType;
        match self {
            Precision::F32 => None,
            Precision::Bf16 => Some(DType::BF16),
            Precision::F16 => Some(DType::F16),
        }
    }

    /// Runs `f` under this precision's autocast (or as it is for `F32`).
    ///
    /// ```
    /// use retrograd::tensor::{DType, Tensor};
    /// use retrograd_nn::train::Precision;
    /// let a = Tensor::ones([2, 2], DType::F32);
    /// assert_eq!(Precision::F16.run(|| Ok(a.matmul(&a)?)).unwrap().dtype(), DType::F16);
    /// ```
    pub fn run<R>(self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        let _guard = retrograd::tensor::AutocastGuard::new(self.autocast_dtype())?;
        f()
    }
}

impl FromStr for Precision {
    type Err = NnError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            "f16" => Ok(Precision::F16),
            _ => Err(NnError::invalid(format!(
                "unknown precision `{s}`: expected f32, bf16 or f16"
            ))),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        })
    }
}

/// The optimizers the training command offers.
///
/// ```
/// use retrograd_nn::train::OptimizerKind;
/// let k: OptimizerKind = "adamw".parse().unwrap();
/// assert_eq!(k.to_string(), "adamw");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    /// SGD with Nesterov momentum 0.9.
    Sgd,
    /// Adam.
    Adam,
    /// AdamW.
    AdamW,
    /// RMSProp.
    RmsProp,
    /// Adagrad.
    Adagrad,
}

impl OptimizerKind {
    /// A learning rate that works for the bundled models (the CNN, with batch norm, takes
    /// a larger step with the adaptive optimizers).
    ///
    /// ```
    /// use retrograd_nn::train::{ModelKind, OptimizerKind};
    /// assert_eq!(OptimizerKind::Adam.default_lr(ModelKind::Mlp), 1e-3);
    /// assert_eq!(OptimizerKind::Adam.default_lr(ModelKind::Cnn), 3e-3);
    /// ```
    pub fn default_lr(self, model: ModelKind) -> f64 {
        match (self, model) {
            (OptimizerKind::Sgd | OptimizerKind::Adagrad, _) => 0.05,
            (_, ModelKind::Mlp) => 1e-3,
            (_, ModelKind::Cnn) => 3e-3,
        }
    }

    /// Builds the optimizer for `num_params` parameters, with weight decay applied only to
    /// the parameters whose index is in `decayed` (weights, not biases or norms).
    ///
    /// ```
    /// use retrograd_nn::train::OptimizerKind;
    /// let opt = OptimizerKind::Adam.build(1e-3, 0.0, &[0], 2);
    /// assert_eq!(opt.name(), "adam");
    /// ```
    pub fn build(
        self,
        lr: f64,
        weight_decay: f64,
        decayed: &[usize],
        num_params: usize,
    ) -> Box<dyn Optimizer> {
        let others: Vec<usize> = (0..num_params).filter(|i| !decayed.contains(i)).collect();
        fn grouped<R: crate::optim::UpdateRule + 'static>(
            with: R,
            without: R,
            decayed: &[usize],
            others: Vec<usize>,
            n: usize,
        ) -> Box<dyn Optimizer> {
            Box::new(
                Optim::with_groups(vec![(decayed.to_vec(), with), (others, without)], n)
                    .expect("indices below num_params, each in one group"),
            )
        }
        let wd = weight_decay;
        match self {
            OptimizerKind::Sgd => {
                let c = SgdConfig::new(lr).momentum(0.9).nesterov();
                grouped(c.clone().weight_decay(wd), c, decayed, others, num_params)
            }
            OptimizerKind::Adam => {
                let c = AdamConfig::new(lr);
                grouped(c.clone().weight_decay(wd), c, decayed, others, num_params)
            }
            OptimizerKind::AdamW => grouped(
                AdamConfig::adamw(lr, wd),
                AdamConfig::adamw(lr, 0.0),
                decayed,
                others,
                num_params,
            ),
            OptimizerKind::RmsProp => {
                let c = RmsPropConfig::new(lr);
                grouped(c.clone().weight_decay(wd), c, decayed, others, num_params)
            }
            OptimizerKind::Adagrad => {
                let c = AdagradConfig::new(lr);
                grouped(c.clone().weight_decay(wd), c, decayed, others, num_params)
            }
        }
    }
}

impl FromStr for OptimizerKind {
    type Err = NnError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sgd" => Ok(OptimizerKind::Sgd),
            "adam" => Ok(OptimizerKind::Adam),
            "adamw" => Ok(OptimizerKind::AdamW),
            "rmsprop" => Ok(OptimizerKind::RmsProp),
            "adagrad" => Ok(OptimizerKind::Adagrad),
            _ => Err(NnError::invalid(format!(
                "unknown optimizer `{s}`: expected sgd, adam, adamw, rmsprop or adagrad"
            ))),
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
            OptimizerKind::RmsProp => "rmsprop",
            OptimizerKind::Adagrad => "adagrad",
        })
    }
}

/// The most epochs a run may have (far more than any run needs; it keeps the step count
/// of a run, epochs × batches, well within range).
///
/// ```
/// assert_eq!(retrograd_nn::train::MAX_EPOCHS, 1_000_000);
/// ```
pub const MAX_EPOCHS: usize = 1_000_000;

/// The widest layer (neurons of a dense layer, channels of a conv block) a model may have.
///
/// ```
/// assert_eq!(retrograd_nn::train::MAX_WIDTH, 65_536);
/// ```
pub const MAX_WIDTH: usize = 65_536;

/// Everything that determines a training run (and so its result, for a given seed).
///
/// Each setting has an allowed range, which [`TrainConfig::validate`] checks.
///
/// ```
/// use retrograd_nn::train::{ModelKind, TrainConfig};
/// let c = TrainConfig::default();
/// assert_eq!(c.model, ModelKind::Mlp);
/// let back = TrainConfig::from_json(&c.to_json()).unwrap();
/// assert_eq!(back, c);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// The model family.
    pub model: ModelKind,
    /// Hidden layer widths of the MLP (channels of the two conv blocks for the CNN).
    pub hidden: Vec<usize>,
    /// Number of epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Weight decay on weight matrices and kernels.
    pub weight_decay: f64,
    /// The learning-rate schedule over all optimizer steps.
    pub schedule: LrSchedule,
    /// Clip the global gradient norm to this (none if `None`).
    pub clip_norm: Option<f64>,
    /// Seed of initialisation, dropout and shuffling.
    pub seed: u64,
    /// The data set.
    pub data: DataSpec,
    /// Train on only the first this-many training samples.
    pub train_limit: Option<usize>,
    /// The arithmetic of the forward and backward passes.
    pub precision: Precision,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig::for_model(ModelKind::Mlp)
    }
}

impl TrainConfig {
    /// The default settings for a model family.
    ///
    /// ```
    /// use retrograd_nn::train::{ModelKind, TrainConfig};
    /// assert_eq!(TrainConfig::for_model(ModelKind::Cnn).hidden, vec![16, 32]);
    /// ```
    pub fn for_model(model: ModelKind) -> Self {
        let (hidden, epochs) = match model {
            ModelKind::Mlp => (vec![128], 30),
            ModelKind::Cnn => (vec![16, 32], 15),
        };
        TrainConfig {
            model,
            hidden,
            epochs,
            batch_size: 32,
            lr: OptimizerKind::Adam.default_lr(model),
            optimizer: OptimizerKind::Adam,
            weight_decay: 0.0,
            schedule: LrSchedule::Cosine { min_factor: 0.0 },
            clip_norm: None,
            seed: 0,
            data: DataSpec::Digits,
            train_limit: None,
            precision: Precision::F32,
        }
    }

    /// Checks every setting against its allowed range, so that a bad setting stops a run
    /// before any work, with a message that names it (as the command line does) and the
    /// range, rather than diverging, hanging or failing later for a reason that names
    /// something else. [`Trainer::new`](super::Trainer::new) calls it.
    ///
    /// | setting | allowed |
    /// |---|---|
    /// | `epochs` (`--epochs`) | 1 to [`MAX_EPOCHS`] |
    /// | `batch_size` (`--batch-size`) | at least 1 |
    /// | `hidden` (`--hidden`) | widths 1 to [`MAX_WIDTH`]; the cnn needs at least two |
    /// | `lr` (`--lr`) | finite, above 0 |
    /// | `weight_decay` (`--weight-decay`) | finite, at least 0 |
    /// | `clip_norm` (`--clip-norm`) | finite, above 0 (or none) |
    /// | `train_limit` (`--limit`) | at least 1 (or none) |
    /// | `schedule` (`--schedule`) | step: SIZE at least 1, GAMMA in (0, 1]; cosine: MIN in \[0, 1\]; warmup: STEPS at least 1; onecycle: fraction in \[0, 1\], divisors finite and above 0 |
    ///
    /// ```
    /// use retrograd_nn::train::TrainConfig;
    /// assert!(TrainConfig::default().validate().is_ok());
    /// let bad = TrainConfig { lr: -1.0, ..TrainConfig::default() };
    /// assert_eq!(
    ///     bad.validate().unwrap_err().to_string(),
    ///     "--lr must be a finite number above 0, got -1"
    /// );
    /// ```
    pub fn validate(&self) -> Result<()> {
        fn check(ok: bool, setting: &str, allowed: &str, got: impl fmt::Display) -> Result<()> {
            if ok {
                Ok(())
            } else {
                Err(NnError::invalid(format!(
                    "{setting} must be {allowed}, got {got}"
                )))
            }
        }
        let above_zero = |x: f64| x.is_finite() && x > 0.0;
        let epochs = format!("between 1 and {MAX_EPOCHS}");
        check(
            (1..=MAX_EPOCHS).contains(&self.epochs),
            "--epochs",
            &epochs,
            self.epochs,
        )?;
        check(
            self.batch_size >= 1,
            "--batch-size",
            "at least 1",
            self.batch_size,
        )?;
        let widths = format!("between 1 and {MAX_WIDTH}");
        for &width in &self.hidden {
            check(
                (1..=MAX_WIDTH).contains(&width),
                "every --hidden width",
                &widths,
                width,
            )?;
        }
        if self.model == ModelKind::Cnn {
            check(
                self.hidden.len() >= 2,
                "--hidden for the cnn",
                "C1,C2[,DENSE...] (the channels of its two conv blocks, then dense layers)",
                format!("{} width(s)", self.hidden.len()),
            )?;
        }
        check(
            above_zero(self.lr),
            "--lr",
            "a finite number above 0",
            self.lr,
        )?;
        check(
            self.weight_decay.is_finite() && self.weight_decay >= 0.0,
            "--weight-decay",
            "a finite number of at least 0",
            self.weight_decay,
        )?;
        if let Some(max) = self.clip_norm {
            check(
                above_zero(max),
                "--clip-norm",
                "a finite number above 0",
                max,
            )?;
        }
        if let Some(n) = self.train_limit {
            check(n >= 1, "--limit", "at least 1", n)?;
        }
        let mut schedule = &self.schedule;
        loop {
            match schedule {
                LrSchedule::Constant => break,
                LrSchedule::Step { step_size, gamma } => {
                    check(
                        *step_size >= 1,
                        "--schedule step:SIZE:GAMMA: SIZE",
                        "at least 1",
                        step_size,
                    )?;
                    check(
                        *gamma > 0.0 && *gamma <= 1.0,
                        "--schedule step:SIZE:GAMMA: GAMMA",
                        "above 0 and at most 1",
                        gamma,
                    )?;
                    break;
                }
                LrSchedule::Cosine { min_factor } => {
                    check(
                        (0.0..=1.0).contains(min_factor),
                        "--schedule cosine:MIN: MIN",
                        "between 0 and 1",
                        min_factor,
                    )?;
                    break;
                }
                LrSchedule::OneCycle {
                    pct_start,
                    div,
                    final_div,
                } => {
                    let setting = "--schedule onecycle: the fraction of the run spent increasing";
                    check(
                        (0.0..=1.0).contains(pct_start),
                        setting,
                        "between 0 and 1",
                        pct_start,
                    )?;
                    let setting = "--schedule onecycle: the initial divisor";
                    check(above_zero(*div), setting, "a finite number above 0", div)?;
                    let setting = "--schedule onecycle: the final divisor";
                    check(
                        above_zero(*final_div),
                        setting,
                        "a finite number above 0",
                        final_div,
                    )?;
                    break;
                }
                LrSchedule::Warmup { steps, then } => {
                    check(
                        *steps >= 1,
                        "--schedule warmup:STEPS: STEPS",
                        "at least 1",
                        steps,
                    )?;
                    schedule = then;
                }
            }
        }
        Ok(())
    }

    /// The settings as JSON (stored in checkpoints and model files).
    ///
    /// ```
    /// let j = retrograd_nn::train::TrainConfig::default().to_json();
    /// assert_eq!(j["optimizer"], "adam");
    /// ```
    pub fn to_json(&self) -> Value {
        json!({
            "model": self.model.to_string(),
            "hidden": self.hidden,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "optimizer": self.optimizer.to_string(),
            "weight_decay": self.weight_decay,
            "schedule": self.schedule.to_string(),
            "clip_norm": self.clip_norm,
            "seed": self.seed,
            "data": self.data.to_string(),
            "train_limit": self.train_limit,
            "precision": self.precision.to_string(),
        })
    }

    /// Parses [`TrainConfig::to_json`]'s output.
    ///
    /// ```
    /// assert!(retrograd_nn::train::TrainConfig::from_json(&serde_json::json!({})).is_err());
    /// ```
    pub fn from_json(v: &Value) -> Result<Self> {
        let field = |k: &str| {
            v.get(k)
                .ok_or_else(|| NnError::invalid(format!("training settings lack `{k}`")))
        };
        let text = |k: &str| -> Result<String> {
            field(k)?
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| NnError::invalid(format!("training setting `{k}` is not text")))
        };
        let num = |k: &str| -> Result<f64> {
            field(k)?
                .as_f64()
                .ok_or_else(|| NnError::invalid(format!("training setting `{k}` is not a number")))
        };
        let int = |k: &str| -> Result<u64> {
            field(k)?.as_u64().ok_or_else(|| {
                NnError::invalid(format!("training setting `{k}` is not an integer"))
            })
        };
        let hidden = field("hidden")?
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_u64().map(|x| x as usize))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| {
                NnError::invalid("training setting `hidden` is not a list of integers")
            })?;
        Ok(TrainConfig {
            model: text("model")?.parse()?,
            hidden,
            epochs: int("epochs")? as usize,
            batch_size: int("batch_size")? as usize,
            lr: num("lr")?,
            optimizer: text("optimizer")?.parse()?,
            weight_decay: num("weight_decay")?,
            schedule: text("schedule")?.parse()?,
            clip_norm: field("clip_norm")?.as_f64(),
            seed: int("seed")?,
            data: text("data")?.parse()?,
            train_limit: field("train_limit")?.as_u64().map(|n| n as usize),
            // Settings written before mixed precision existed are f32 runs.
            precision: match v.get("precision") {
                Some(_) => text("precision")?.parse()?,
                None => Precision::F32,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        for model in [ModelKind::Mlp, ModelKind::Cnn] {
            for optimizer in ["sgd", "adam", "adamw", "rmsprop", "adagrad"] {
                let optimizer: OptimizerKind = optimizer.parse().unwrap();
                let config = TrainConfig {
                    optimizer,
                    lr: optimizer.default_lr(model),
                    ..TrainConfig::for_model(model)
                };
                config.validate().unwrap();
            }
        }
        for schedule in [
            "constant",
            "step:5:0.5",
            "cosine:0.1",
            "onecycle",
            "warmup:3,cosine",
        ] {
            let config = TrainConfig {
                schedule: schedule.parse().unwrap(),
                clip_norm: Some(1.0),
                weight_decay: 1e-4,
                train_limit: Some(1),
                hidden: vec![],
                ..TrainConfig::default()
            };
            config.validate().unwrap();
        }
    }

    /// Each setting out of range is refused with a message that names it and the range.
    #[test]
    fn every_setting_out_of_range_is_refused_by_name() {
        let base = TrainConfig::default;
        let schedule = |s: &str| TrainConfig {
            schedule: s.parse().unwrap(),
            ..base()
        };
        let cases: Vec<(TrainConfig, &str)> = vec![
            (
                TrainConfig {
                    epochs: 0,
                    ..base()
                },
                "--epochs must be between 1 and 1000000, got 0",
            ),
            (
                TrainConfig {
                    epochs: usize::MAX,
                    ..base()
                },
                "--epochs must be between 1 and",
            ),
            (
                TrainConfig {
                    batch_size: 0,
                    ..base()
                },
                "--batch-size must be at least 1, got 0",
            ),
            (
                TrainConfig {
                    hidden: vec![8, 0],
                    ..base()
                },
                "every --hidden width must be between 1 and 65536, got 0",
            ),
            (
                TrainConfig {
                    hidden: vec![1 << 20],
                    ..base()
                },
                "every --hidden width must be between 1 and 65536",
            ),
            (
                TrainConfig {
                    hidden: vec![16],
                    ..TrainConfig::for_model(ModelKind::Cnn)
                },
                "--hidden for the cnn must be C1,C2",
            ),
            (
                TrainConfig { lr: -1.0, ..base() },
                "--lr must be a finite number above 0, got -1",
            ),
            (
                TrainConfig { lr: 0.0, ..base() },
                "--lr must be a finite number above 0, got 0",
            ),
            (
                TrainConfig {
                    lr: f64::NAN,
                    ..base()
                },
                "--lr must be a finite number above 0, got NaN",
            ),
            (
                TrainConfig {
                    lr: f64::INFINITY,
                    ..base()
                },
                "--lr must be a finite number above 0, got inf",
            ),
            (
                TrainConfig {
                    weight_decay: -5.0,
                    ..base()
                },
                "--weight-decay must be a finite number of at least 0, got -5",
            ),
            (
                TrainConfig {
                    weight_decay: f64::NAN,
                    ..base()
                },
                "--weight-decay must be a finite number of at least 0, got NaN",
            ),
            (
                TrainConfig {
                    weight_decay: f64::INFINITY,
                    ..base()
                },
                "--weight-decay must be a finite number of at least 0, got inf",
            ),
            (
                TrainConfig {
                    clip_norm: Some(-1.0),
                    ..base()
                },
                "--clip-norm must be a finite number above 0, got -1",
            ),
            (
                TrainConfig {
                    clip_norm: Some(0.0),
                    ..base()
                },
                "--clip-norm must be a finite number above 0, got 0",
            ),
            (
                TrainConfig {
                    clip_norm: Some(f64::NAN),
                    ..base()
                },
                "--clip-norm must be a finite number above 0, got NaN",
            ),
            (
                TrainConfig {
                    clip_norm: Some(f64::NEG_INFINITY),
                    ..base()
                },
                "--clip-norm must be a finite number above 0, got -inf",
            ),
            (
                TrainConfig {
                    train_limit: Some(0),
                    ..base()
                },
                "--limit must be at least 1, got 0",
            ),
            (
                schedule("step:0:0.5"),
                "--schedule step:SIZE:GAMMA: SIZE must be at least 1, got 0",
            ),
            (
                schedule("step:5:NaN"),
                "--schedule step:SIZE:GAMMA: GAMMA must be above 0 and at most 1, got NaN",
            ),
            (
                schedule("step:5:0"),
                "--schedule step:SIZE:GAMMA: GAMMA must be above 0 and at most 1, got 0",
            ),
            (
                schedule("step:5:2"),
                "--schedule step:SIZE:GAMMA: GAMMA must be above 0 and at most 1, got 2",
            ),
            (
                schedule("cosine:-0.5"),
                "--schedule cosine:MIN: MIN must be between 0 and 1, got -0.5",
            ),
            (
                schedule("cosine:inf"),
                "--schedule cosine:MIN: MIN must be between 0 and 1, got inf",
            ),
            (
                schedule("warmup:0,cosine"),
                "--schedule warmup:STEPS: STEPS must be at least 1, got 0",
            ),
            (
                schedule("warmup:2,warmup:3,cosine:nan"),
                "--schedule cosine:MIN: MIN must be between 0 and 1, got NaN",
            ),
            (
                TrainConfig {
                    schedule: LrSchedule::OneCycle {
                        pct_start: 0.3,
                        div: f64::NAN,
                        final_div: 1e4,
                    },
                    ..base()
                },
                "--schedule onecycle: the initial divisor must be a finite number above 0, got NaN",
            ),
        ];
        for (config, message) in cases {
            let error = config.validate().unwrap_err().to_string();
            assert!(error.starts_with(message), "{config:?}: {error}");
        }
    }
}
