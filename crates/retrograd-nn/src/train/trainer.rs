//! The training loop, its checkpoints, and resumption.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::Tensor;
use serde_json::Value;

use super::classifier::plan_network;
use super::{shard, Classifier, Precision, Replicas, SingleProcess, TrainConfig};
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
    pub fn run(self, observer: &mut dyn Observer) -> Result<TrainOutcome> {
        self.run_replicated(observer, &mut SingleProcess)
    }

    /// [`Trainer::run`] as one of the processes of a data-parallel run: parameters,
    /// optimizer state, generator and epoch count are first made those of process 0; each
    /// process trains on its [`shard`] of every epoch's order (drawn from the shared
    /// generator, so the same on all); gradients are averaged by
    /// [`Replicas::average_gradients`] after each backward pass, so every process makes
    /// the same update; each evaluates its contiguous part of the test set and the
    /// counts are summed. Only process 0 writes checkpoints; every process returns the
    /// same outcome. Dropout masks differ between processes (the generator's draw is
    /// mixed with the rank).
    ///
    /// ```
    /// use retrograd_nn::train::{Silent, SingleProcess, TrainConfig, Trainer};
    /// let config = TrainConfig { epochs: 1, train_limit: Some(200), ..TrainConfig::default() };
    /// let a = Trainer::new(config.clone()).unwrap().run(&mut Silent).unwrap();
    /// let b = Trainer::new(config).unwrap().run_replicated(&mut Silent, &mut SingleProcess).unwrap();
    /// assert_eq!(a.history[0].train_loss, b.history[0].train_loss);
    /// ```
    pub fn run_replicated<R: Replicas>(
        mut self,
        observer: &mut dyn Observer,
        replicas: &mut R,
    ) -> std::result::Result<TrainOutcome, R::Error> {
        let params = parameter_tensors(&self.classifier);
        replicas.attach(&params)?;
        let result = self
            .synchronize(replicas)
            .and_then(|()| self.epochs(observer, replicas));
        replicas.detach(&params);
        let confusion = match result? {
            Some(c) => c,
            None => self.evaluate_shared(replicas)?.confusion,
        };
        self.classifier.model.set_training(false);
        Ok(TrainOutcome {
            classifier: self.classifier,
            history: self.history,
            confusion,
        })
    }

    /// Makes this process's parameters, optimizer state, generator and epoch count those
    /// of process 0.
    fn synchronize<R: Replicas>(&mut self, replicas: &mut R) -> std::result::Result<(), R::Error> {
        if replicas.size() == 1 {
            return Ok(());
        }
        let params = parameter_tensors(&self.classifier);
        let mut state = self.optimizer.state();
        let mut flat: Vec<f32> = Vec::new();
        for p in &params {
            flat.extend(p.to_vec::<f32>().map_err(NnError::from)?);
        }
        for (_, buf) in &state.buffers {
            flat.extend(buf);
        }
        let rng = self.rng.state();
        let mine = [
            flat.len() as u64,
            state.buffers.len() as u64,
            state.steps.len() as u64,
        ];
        let mut words = mine.to_vec();
        words.extend(rng);
        words.push(self.epochs_done as u64);
        words.extend(&state.steps);
        replicas.broadcast_words(&mut words)?;
        if words[..3] != mine {
            return Err(NnError::invalid(format!(
                "process {} has {} parameter and optimizer values in {} buffers, process 0 has {} in {}: \
                 the processes must start from the same settings and checkpoint",
                replicas.rank(),
                mine[0],
                mine[1],
                words[0],
                words[1]
            ))
            .into());
        }
        replicas.broadcast(&mut flat)?;
        let mut rest = &flat[..];
        no_grad(|| -> Result<()> {
            for p in &params {
                let (head, tail) = rest.split_at(p.elem_count());
                p.update_(|w: &mut [f32]| w.copy_from_slice(head))?;
                rest = tail;
            }
            Ok(())
        })?;
        for (_, buf) in &mut state.buffers {
            let (head, tail) = rest.split_at(buf.len());
            buf.copy_from_slice(head);
            rest = tail;
        }
        state.steps = words[8..].to_vec();
        self.optimizer.load_state(state)?;
        self.rng = Rng::from_state(words[3..7].try_into().expect("four words"));
        self.epochs_done = words[7] as usize;
        self.classifier.epoch = self.epochs_done;
        Ok(())
    }

    /// The test metrics: each process evaluates its contiguous part of the test set and the
    /// loss sums and confusion counts are summed over the processes.
    fn evaluate_shared<R: Replicas>(
        &mut self,
        replicas: &mut R,
    ) -> std::result::Result<crate::train::Evaluation, R::Error> {
        let (rank, size) = (replicas.rank(), replicas.size());
        let precision = self.config.precision;
        let (classifier, test) = (&mut self.classifier, &self.test);
        if size == 1 {
            return Ok(precision.run(|| classifier.evaluate(test))?);
        }
        let n = test.len();
        let part: Vec<usize> = (n * rank / size..n * (rank + 1) / size).collect();
        let mut eval = precision.run(|| classifier.evaluate(&test.subset(&part)))?;
        let mut sums = vec![eval.loss * part.len() as f64];
        sums.extend(eval.confusion.counts.iter().flatten().map(|&c| c as f64));
        replicas.sum(&mut sums)?;
        eval.loss = sums[0] / n as f64;
        for (c, &s) in eval.confusion.counts.iter_mut().flatten().zip(&sums[1..]) {
            *c = s as usize;
        }
        Ok(eval)
    }

    /// The epochs themselves; returns the last epoch's confusion matrix, if any ran.
    fn epochs<R: Replicas>(
        &mut self,
        observer: &mut dyn Observer,
        replicas: &mut R,
    ) -> std::result::Result<Option<ConfusionMatrix>, R::Error> {
        let (rank, size) = (replicas.rank(), replicas.size());
        let mut train = self.train.clone();
        self.classifier.normalizer.apply_to(&mut train);
        let params = parameter_tensors(&self.classifier);
        let share = train.len().div_ceil(size);
        let batches = share.div_ceil(self.config.batch_size);
        let total_steps = self.config.epochs * batches;
        let mut dims = vec![0];
        dims.extend(&train.shape);
        let mut last = None;
        let precision = self.config.precision;
        while self.epochs_done < self.config.epochs {
            let epoch = self.epochs_done + 1;
            let started = Instant::now();
            self.classifier.model.set_training(true);
            // The same draw on every process; mixed with the rank, other dropout masks.
            let seed = self.rng.next_u64();
            self.classifier
                .model
                .reseed(seed ^ (rank as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            observer.on_epoch_start(epoch, self.config.epochs, batches);
            let mut loss_sum = 0.0;
            let mut order: Vec<usize> = (0..train.len()).collect();
            self.rng.shuffle(&mut order);
            let order = shard(&order, rank, size);
            for (i, batch) in Batches::with_order(&train, self.config.batch_size, order).enumerate()
            {
                let n = batch.len();
                dims[0] = n;
                let x = Tensor::from_vec(batch.features, dims.clone()).map_err(NnError::from)?;
                let y = Tensor::from_vec(
                    batch.labels.iter().map(|&l| l as i64).collect::<Vec<_>>(),
                    [n],
                )
                .map_err(NnError::from)?;
                for p in &params {
                    p.zero_grad();
                }
                let model = &self.classifier.model;
                let loss = precision.run(|| Ok(model.forward(&x)?.cross_entropy(&y)?))?;
                match &self.scaler {
                    Some(s) => s.scale(&loss)?.backward().map_err(NnError::from)?,
                    None => loss.backward().map_err(NnError::from)?,
                }
                let loss = loss.item().map_err(NnError::from)?;
                if !loss.is_finite() {
                    return Err(NnError::invalid(format!(
                        "the loss became {loss} in epoch {epoch}, batch {}: lower the learning rate ({})",
                        i + 1,
                        self.config.lr
                    ))
                    .into());
                }
                let mut grads: Vec<Vec<f32>> = params
                    .iter()
                    .map(|p| match p.grad() {
                        Some(g) => g.to_vec::<f32>(),
                        None => Ok(vec![0.0; p.elem_count()]),
                    })
                    .collect::<std::result::Result<_, _>>()
                    .map_err(NnError::from)?;
                // Averaged while still scaled (every process then holds the same values, so
                // all agree on whether they are finite); unscaled before clipping, as
                // clipping thresholds are in true units.
                replicas.average_gradients(&mut grads)?;
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
            let mut loss_sum = [loss_sum];
            replicas.sum(&mut loss_sum)?;
            let eval = self.evaluate_shared(replicas)?;
            let record = EpochRecord {
                epoch,
                train_loss: loss_sum[0] / (batches * size) as f64,
                test_loss: eval.loss,
                test_accuracy: eval.accuracy(),
                seconds: started.elapsed().as_secs_f64(),
            };
            self.epochs_done = epoch;
            self.classifier.epoch = epoch;
            self.history.push(record.clone());
            if let (Some(path), 0) = (&self.checkpoint, rank) {
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
