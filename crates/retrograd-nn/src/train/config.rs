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

/// Everything that determines a training run (and so its result, for a given seed).
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
        }
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
        })
    }
}
