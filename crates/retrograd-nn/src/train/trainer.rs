//! The training loop, its checkpoints, and resumption.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::Tensor;
use serde_json::Value;

use super::classifier::plan_network;
use super::{Classifier, Precision, TrainConfig};
use crate::data::{Batches, Dataset, Normalizer};
use crate::io::{check_arrays, Checkpoint, NamedArray};
use crate::layers::Module;
use crate::metrics::{ConfusionMatrix, EpochRecord};
use crate::optim::{clip_grad_norm, GradScaler, Optimizer};
use crate::{NnError, Result, Rng};

/// Hooks for showing progress; every method has a do-nothing default.
///
/// ```
/// use retrograd_nn::train::Observer;
/// struct Quiet;
/// impl Observer for Quiet {}
/// ```
pub trait Observer {
    /// An epoch (counted from 1) of `batches` mini-batches starts.
    fn on_epoch_start(&mut self, _epoch: usize, _epochs: usize, _batches: usize) {}
    /// A mini-batch was trained on; `loss` is its mean loss.
    fn on_batch(&mut self, _loss: f64) {}
    /// An epoch ended (and its checkpoint is written); `Break` stops the run there.
    fn on_epoch_end(&mut self, _record: &EpochRecord, _epochs: usize) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// An observer that shows nothing.
///
/// ```
/// let _ = retrograd_nn::train::Silent;
/// ```
pub struct Silent;
impl Observer for Silent {}

/// What a training run produced.
///
/// ```
/// use retrograd_nn::train::{Silent, TrainConfig, Trainer};
/// let config = TrainConfig { epochs: 1, train_limit: Some(200), ..TrainConfig::default() };
/// let outcome = Trainer::new(config).unwrap().run(&mut Silent).unwrap();
/// assert_eq!(outcome.history.len(), 1);
/// assert_eq!(outcome.confusion.total(), 359);
/// ```
pub struct TrainOutcome {
    /// The trained classifier.
    pub classifier: Classifier,
    /// One record per epoch (including epochs before a resume).
    pub history: Vec<EpochRecord>,
    /// The confusion matrix on the test set after the last epoch.
    pub confusion: ConfusionMatrix,
}

impl TrainOutcome {
    /// The test accuracy after the last epoch.
    ///
    /// ```
    /// # use retrograd_nn::train::{Silent, TrainConfig, Trainer};
    /// let config = TrainConfig { epochs: 2, ..TrainConfig::default() };
    /// let acc = Trainer::new(config).unwrap().run(&mut Silent).unwrap().test_accuracy();
    /// assert!(acc > 0.8);
    /// ```
    pub fn test_accuracy(&self) -> f64 {
        self.confusion.accuracy()
    }
}

/// A training run: data, model, optimizer and generator, resumable from checkpoints.
///
/// ```
/// use retrograd_nn::train::{Silent, TrainConfig, Trainer};
/// let mut t = Trainer::new(TrainConfig { epochs: 2, ..TrainConfig::default() }).unwrap();
/// let outcome = t.run(&mut Silent).unwrap();
/// assert!(outcome.test_accuracy() > 0.8);
/// ```
pub struct Trainer {
    config: TrainConfig,
    train: Dataset,
    test: Dataset,
    classifier: Classifier,
    optimizer: Box<dyn Optimizer>,
    rng: Rng,
    epochs_done: usize,
    history: Vec<EpochRecord>,
    checkpoint: Option<PathBuf>,
    /// Dynamic loss scaling, for f16 runs.
    scaler: Option<GradScaler>,
}

/// Loads the data of `config` and fits the input normalisation on the training part.
fn load_data(config: &TrainConfig) -> Result<(Dataset, Dataset, Normalizer)> {
    let (mut train, test) = config.data.load()?;
    if let Some(n) = config.train_limit {
        train = train.take(n);
    }
    if train.is_empty() || test.is_empty() {
        return Err(NnError::invalid(format!(
            "{}: the training or test set is empty",
            config.data
        )));
    }
    let normalizer = if train.shape.len() == 3 {
        Normalizer::fit_global(&train)
    } else {
        Normalizer::fit_per_feature(&train)
    };
    Ok((train, test, normalizer))
}

/// Indices of the parameters that get weight decay: matrices and kernels, not vectors.
fn decayed(classifier: &Classifier) -> Vec<usize> {
    let params = parameter_tensors(classifier);
    (0..params.len())
        .filter(|&i| params[i].rank() > 1)
        .collect()
}

fn parameter_tensors(classifier: &Classifier) -> Vec<Tensor> {
    classifier
        .model
        .parameters()
        .into_iter()
        .map(|(_, t)| t)
        .collect()
}

impl Trainer {
    /// A new run: checks the settings ([`TrainConfig::validate`]), loads the data, builds
    /// and initialises the model from `config.seed`.
    ///
    /// ```
    /// use retrograd_nn::train::{TrainConfig, Trainer};
    /// let t = Trainer::new(TrainConfig::default()).unwrap();
    /// assert_eq!(t.data_sizes(), (1438, 359));
    /// assert!(Trainer::new(TrainConfig { batch_size: 0, ..TrainConfig::default() }).is_err());
    /// assert!(Trainer::new(TrainConfig { epochs: 0, ..TrainConfig::default() }).is_err());
    /// ```
    pub fn new(config: TrainConfig) -> Result<Self> {
        Self::prepare(config, None)
    }

    /// [`Trainer::new`]; with `saved`, the arrays of a checkpoint (named by its path) must
    /// be exactly those of the network `config` describes, checked before it is built.
    fn prepare(config: TrainConfig, saved: Option<(&Path, &[NamedArray])>) -> Result<Self> {
        config.validate()?;
        let (train, test, normalizer) = load_data(&config)?;
        let mut rng = Rng::new(config.seed);
        let classes = train.num_classes.max(test.num_classes);
        let plan = plan_network(&config, &train.shape, classes)?;
        if let Some((path, arrays)) = saved {
            check_arrays(path, &plan.arrays(), arrays)?;
        }
        let classifier =
            Classifier::from_plan(&plan, &config, &train.shape, classes, normalizer, &mut rng)?;
        let n = parameter_tensors(&classifier).len();
        let optimizer =
            config
                .optimizer
                .build(config.lr, config.weight_decay, &decayed(&classifier), n);
        Ok(Trainer {
            scaler: (config.precision == Precision::F16).then(GradScaler::default),
            config,
            train,
            test,
            classifier,
            optimizer,
            rng,
            epochs_done: 0,
            history: Vec::new(),
            checkpoint: None,
        })
    }

    /// Continues the run saved in the checkpoint at `path`, with its settings; `epochs`
    /// (if given) replaces the planned number of epochs, and may not be fewer than the
    /// checkpoint has done. (Schedules that depend on the length of the run then follow the
    /// new length.)
    ///
    /// ```
    /// use retrograd_nn::train::{Silent, TrainConfig, Trainer};
    /// let path = std::env::temp_dir().join("retrograd-doc-resume.ckpt.safetensors");
    /// let config = TrainConfig { epochs: 1, train_limit: Some(200), ..TrainConfig::default() };
    /// let mut t = Trainer::new(config).unwrap();
    /// t.set_checkpoint(Some(path.clone()));
    /// t.run(&mut Silent).unwrap();
    /// let more = Trainer::resume(&path, Some(2)).unwrap();
    /// assert_eq!(more.epochs_done(), 1);
    /// assert_eq!(more.run(&mut Silent).unwrap().history.len(), 2);
    /// ```
    pub fn resume(path: impl AsRef<Path>, epochs: Option<usize>) -> Result<Self> {
        let path = path.as_ref();
        let ckpt = Checkpoint::load(path)?;
        let bad = |m: String| NnError::format(path, m);
        let config_text = ckpt
            .metadata
            .get("config")
            .ok_or_else(|| bad("metadata entry `config` is missing".into()))?;
        let config_json: Value = serde_json::from_str(config_text)
            .map_err(|_| bad("metadata `config` is not valid JSON".into()))?;
        let mut config = TrainConfig::from_json(&config_json).map_err(|e| bad(e.to_string()))?;
        if let Some(e) = epochs {
            if e < ckpt.epoch {
                return Err(NnError::invalid(format!(
                    "--epochs must be at least the {} epochs that {} has done, got {e}",
                    ckpt.epoch,
                    path.display()
                )));
            }
            config.epochs = e;
        }
        // Settings the checkpoint brought that do not make a run (out of range, or a network
        // other than its arrays) are its errors.
        let mut trainer =
            Trainer::prepare(config, Some((path, &ckpt.params))).map_err(|e| match e {
                NnError::Invalid(m) => bad(m),
                e => e,
            })?;
        if ckpt.optimizer_name != trainer.optimizer.name() {
            return Err(bad(format!(
                "the checkpoint's optimizer is {}, the settings say {}",
                ckpt.optimizer_name,
                trainer.optimizer.name()
            )));
        }
        let sizes: Vec<usize> = parameter_tensors(&trainer.classifier)
            .iter()
            .map(Tensor::elem_count)
            .collect();
        ckpt.optimizer
            .check_sizes(&sizes)
            .map_err(|e| bad(e.to_string()))?;
        let classifier = &mut trainer.classifier;
        classifier.load_arrays(path, ckpt.params)?;
        classifier.epoch = ckpt.epoch;
        trainer
            .optimizer
            .load_state(ckpt.optimizer)
            .map_err(|e| bad(e.to_string()))?;
        trainer.rng = Rng::from_state(ckpt.rng);
        trainer.epochs_done = ckpt.epoch;
        if let Some(s) = ckpt.metadata.get("grad_scaler") {
            let v: Value = serde_json::from_str(s)
                .map_err(|_| bad("metadata `grad_scaler` is not valid JSON".into()))?;
            trainer.scaler = Some(GradScaler::from_json(&v).map_err(|e| bad(e.to_string()))?);
        }
        if let Some(h) = ckpt.metadata.get("history") {
            trainer.history = EpochRecord::list_from_json(h).map_err(|e| bad(e.to_string()))?;
        }
        Ok(trainer)
    }

    /// Writes a checkpoint to `path` after every epoch (atomically), or none.
    ///
    /// ```
    /// # use retrograd_nn::train::{TrainConfig, Trainer};
    /// let mut t = Trainer::new(TrainConfig::default()).unwrap();
    /// t.set_checkpoint(None);
    /// ```
    pub fn set_checkpoint(&mut self, path: Option<PathBuf>) {
        self.checkpoint = path;
    }

    /// The run's settings.
    ///
    /// ```
    /// # use retrograd_nn::train::{TrainConfig, Trainer};
    /// assert_eq!(Trainer::new(TrainConfig::default()).unwrap().config().epochs, 30);
    /// ```
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Sizes of the training and test sets.
    ///
    /// ```
    /// # use retrograd_nn::train::{TrainConfig, Trainer};
    /// let t = Trainer::new(TrainConfig { train_limit: Some(100), ..TrainConfig::default() }).unwrap();
    /// assert_eq!(t.data_sizes(), (100, 359));
    /// ```
    pub fn data_sizes(&self) -> (usize, usize) {
        (self.train.len(), self.test.len())
    }

    /// The loss scaler of an f16 run (`None` for other precisions).
    ///
    /// ```
    /// # use retrograd_nn::train::{Precision, TrainConfig, Trainer};
    /// let t = Trainer::new(TrainConfig { precision: Precision::F16, ..TrainConfig::default() }).unwrap();
    /// assert_eq!(t.grad_scaler().unwrap().scale_value(), 65536.0);
    /// ```
    pub fn grad_scaler(&self) -> Option<&GradScaler> {
        self.scaler.as_ref()
    }

    /// The classifier being trained.
    ///
    /// ```
    /// # use retrograd_nn::train::{TrainConfig, Trainer};
    /// let t = Trainer::new(TrainConfig::default()).unwrap();
    /// assert_eq!(t.classifier().num_classes, 10);
    /// ```
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// Epochs completed (before a resumed run continues).
    ///
    /// ```
    /// # use retrograd_nn::train::{TrainConfig, Trainer};
    /// assert_eq!(Trainer::new(TrainConfig::default()).unwrap().epochs_done(), 0);
    /// ```
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let classifier = &self.classifier;
        let mut metadata = std::collections::BTreeMap::new();
        metadata.insert("config".to_string(), self.config.to_json().to_string());
        metadata.insert(
            "history".to_string(),
            EpochRecord::list_to_json(&self.history),
        );
        if let Some(s) = &self.scaler {
            metadata.insert("grad_scaler".to_string(), s.to_json().to_string());
        }
        Checkpoint {
            params: classifier.named_arrays()?,
            optimizer_name: self.optimizer.name().to_string(),
            optimizer: self.optimizer.state(),
            epoch: self.epochs_done,
            rng: self.rng.state(),
            metadata,
        }
        .save(path)
    }

    /// Trains until the planned number of epochs (or until `observer` stops it), writing a
    /// checkpoint after each epoch, and returns the classifier and its metrics.
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use retrograd_nn::{metrics::EpochRecord, train::{Observer, TrainConfig, Trainer}};
    /// struct StopAfterOne;
    /// impl Observer for StopAfterOne {
    ///     fn on_epoch_end(&mut self, _: &EpochRecord, _: usize) -> ControlFlow<()> {
    ///         ControlFlow::Break(())
    ///     }
    /// }
    /// let outcome = Trainer::new(TrainConfig::default()).unwrap().run(&mut StopAfterOne).unwrap();
    /// assert_eq!(outcome.history.len(), 1);
    /// ```
    pub fn run(mut self, observer: &mut dyn Observer) -> Result<TrainOutcome> {
        let confusion = match self.epochs(observer)? {
            Some(c) => c,
            None => self.classifier.evaluate(&self.test)?.confusion,
        };
        self.classifier.model.set_training(false);
        Ok(TrainOutcome {
            classifier: self.classifier,
            history: self.history,
            confusion,
        })
    }

    /// The epochs themselves; returns the last epoch's confusion matrix, if any ran.
    fn epochs(&mut self, observer: &mut dyn Observer) -> Result<Option<ConfusionMatrix>> {
        let mut train = self.train.clone();
        self.classifier.normalizer.apply_to(&mut train);
        let params = parameter_tensors(&self.classifier);
        let batches = train.len().div_ceil(self.config.batch_size);
        let total_steps = self.config.epochs * batches;
        let mut dims = vec![0];
        dims.extend(&train.shape);
        let mut last = None;
        let precision = self.config.precision;
        while self.epochs_done < self.config.epochs {
            let epoch = self.epochs_done + 1;
            let started = Instant::now();
            self.classifier.model.set_training(true);
            self.classifier.model.reseed(self.rng.next_u64());
            observer.on_epoch_start(epoch, self.config.epochs, batches);
            let mut loss_sum = 0.0;
            for (i, batch) in
                Batches::shuffled(&train, self.config.batch_size, &mut self.rng).enumerate()
            {
                let n = batch.len();
                dims[0] = n;
                let x = Tensor::from_vec(batch.features, dims.clone())?;
                let y = Tensor::from_vec(
                    batch.labels.iter().map(|&l| l as i64).collect::<Vec<_>>(),
                    [n],
                )?;
                for p in &params {
                    p.zero_grad();
                }
                let model = &self.classifier.model;
                let loss = precision.run(|| Ok(model.forward(&x)?.cross_entropy(&y)?))?;
                match &self.scaler {
                    Some(s) => s.scale(&loss)?.backward()?,
                    None => loss.backward()?,
                }
                let loss = loss.item()?;
                if !loss.is_finite() {
                    return Err(NnError::invalid(format!(
                        "the loss became {loss} in epoch {epoch}, batch {}: lower the learning rate ({})",
                        i + 1,
                        self.config.lr
                    )));
                }
                let mut grads: Vec<Vec<f32>> = params
                    .iter()
                    .map(|p| match p.grad() {
                        Some(g) => g.to_vec::<f32>(),
                        None => Ok(vec![0.0; p.elem_count()]),
                    })
                    .collect::<std::result::Result<_, _>>()?;
                // Unscaled before clipping, as clipping thresholds are in true units.
                let finite = self.scaler.as_mut().is_none_or(|s| s.unscale(&mut grads));
                if let Some(max) = self.config.clip_norm.filter(|_| finite) {
                    let mut views: Vec<&mut [f32]> = grads.iter_mut().map(|g| &mut g[..]).collect();
                    clip_grad_norm(&mut views, max);
                }
                let step = (epoch - 1) * batches + i;
                self.optimizer
                    .set_lr_factor(self.config.schedule.factor(step, total_steps));
                // A step whose gradients overflowed f16 is skipped (the scaler backs off).
                if finite {
                    no_grad(|| -> Result<()> {
                        for (k, (p, g)) in params.iter().zip(&grads).enumerate() {
                            p.update_(|w: &mut [f32]| self.optimizer.update(k, w, g))?;
                        }
                        Ok(())
                    })?;
                }
                if let Some(s) = &mut self.scaler {
                    s.update();
                }
                loss_sum += loss;
                observer.on_batch(loss);
            }
            let (classifier, test) = (&mut self.classifier, &self.test);
            let eval = precision.run(|| classifier.evaluate(test))?;
            let record = EpochRecord {
                epoch,
                train_loss: loss_sum / batches as f64,
                test_loss: eval.loss,
                test_accuracy: eval.accuracy(),
                seconds: started.elapsed().as_secs_f64(),
            };
            self.epochs_done = epoch;
            self.classifier.epoch = epoch;
            self.history.push(record.clone());
            if let Some(path) = &self.checkpoint {
                self.save_checkpoint(path)?;
            }
            last = Some(eval.confusion);
            if observer
                .on_epoch_end(&record, self.config.epochs)
                .is_break()
            {
                break;
            }
        }
        Ok(last)
    }
}
