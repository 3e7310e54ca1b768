//! A trained classifier: the network, how its inputs are normalised, and its model file.

use std::collections::BTreeMap;
use std::path::Path;

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::{DType, Reduction, Tensor};
use serde_json::{json, Value};

use super::{ModelKind, TrainConfig};
use crate::data::{read_csv, Batches, DataSpec, Dataset, Normalizer};
use crate::io::{check_arrays, load_model_file, match_params, save_model_file, NamedArray};
use crate::layers::{LayerSpec, Module, Sequential, SequentialPlan};
use crate::limits::{self, MAX_EPOCHS};
use crate::metrics::{argmax_rows, ConfusionMatrix};
use crate::{NnError, Result, Rng};

const FORMAT: &str = "retrograd-model";
/// Evaluation batch size: fixed, so that `eval` repeats training's arithmetic exactly.
const EVAL_BATCH: usize = 500;

/// Loss and confusion matrix of a classifier on a data set.
///
/// ```
/// let e = retrograd_nn::train::Evaluation {
///     loss: 0.1,
///     confusion: retrograd_nn::metrics::ConfusionMatrix::new(2),
/// };
/// assert_eq!(e.accuracy(), 0.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Counts of (true, predicted) classes.
    pub confusion: ConfusionMatrix,
}

impl Evaluation {
    /// The fraction classified correctly.
    ///
    /// ```
    /// let mut c = retrograd_nn::metrics::ConfusionMatrix::new(2);
    /// c.add(1, 1);
    /// assert_eq!(retrograd_nn::train::Evaluation { loss: 0.0, confusion: c }.accuracy(), 1.0);
    /// ```
    pub fn accuracy(&self) -> f64 {
        self.confusion.accuracy()
    }
}

/// A network with the settings that built it and the normalisation of its inputs.
///
/// ```
/// use retrograd_nn::{data::{digits, Normalizer}, train::{Classifier, TrainConfig}};
/// let d = digits().unwrap().take(50);
/// let mut c = Classifier::build(&TrainConfig::default(), &d.shape, 10, Normalizer::fit_global(&d)).unwrap();
/// assert_eq!(c.predict(&d).unwrap().len(), 50);
/// ```
pub struct Classifier {
    /// The network: batches of inputs to logits.
    pub model: Sequential,
    /// The settings it was built and trained with.
    pub config: TrainConfig,
    /// The shape of one input sample.
    pub input_shape: Vec<usize>,
    /// The number of classes.
    pub num_classes: usize,
    /// Applied to inputs before the network.
    pub normalizer: Normalizer,
    /// Epochs trained so far.
    pub epoch: usize,
}

/// The layers of the network of `config` for inputs of `shape` and `classes` classes.
/// Every size is computed in checked arithmetic and within the limits of
/// [`crate::limits`]; nothing is allocated, so a model file's metadata can be checked
/// against its arrays before the network is built.
pub(crate) fn plan_network(
    config: &TrainConfig,
    shape: &[usize],
    classes: usize,
) -> Result<SequentialPlan> {
    let features = limits::sample_len(shape).map_err(|e| NnError::invalid(format!("input {e}")))?;
    limits::class_count(classes).map_err(NnError::invalid)?;
    if config.hidden.contains(&0) {
        return Err(NnError::invalid(format!(
            "hidden sizes {:?}: each must be at least 1",
            config.hidden
        )));
    }
    let mut plan = SequentialPlan::default();
    let linear = |in_features, out_features| LayerSpec::Linear {
        in_features,
        out_features,
    };
    match config.model {
        ModelKind::Mlp => {
            let mut width = features;
            plan.push(LayerSpec::Flatten);
            for &h in &config.hidden {
                plan.push(linear(width, h));
                plan.push(LayerSpec::Relu);
                width = h;
            }
            plan.push(linear(width, classes));
        }
        ModelKind::Cnn => {
            let [c, h, w] = shape else {
                return Err(NnError::invalid(format!(
                    "the cnn model needs images (channels × height × width), this data has samples of shape {shape:?}"
                )));
            };
            let (c1, c2) = match config.hidden.as_slice() {
                [c1, c2, ..] => (*c1, *c2),
                _ => {
                    return Err(NnError::invalid(
                        "the cnn model needs --hidden C1,C2[,DENSE...]: the channels of its two conv blocks",
                    ))
                }
            };
            // Each block pools before its ReLU: the two commute (the same values and
            // gradients), and this way a quarter of the elements go through the ReLU.
            for (from, to) in [(*c, c1), (c1, c2)] {
                plan.push(LayerSpec::Conv2d {
                    in_channels: from,
                    out_channels: to,
                    kernel: 3,
                    padding: 1,
                });
                plan.push(LayerSpec::BatchNorm2d { channels: to });
                plan.push(LayerSpec::MaxPool2d { kernel: 2 });
                plan.push(LayerSpec::Relu);
            }
            plan.push(LayerSpec::Flatten);
            if h / 4 == 0 || w / 4 == 0 {
                return Err(NnError::invalid(format!(
                    "the cnn model needs images of at least 4×4 pixels, got {h}×{w}"
                )));
            }
            let mut width = c2
                .checked_mul(h / 4)
                .and_then(|n| n.checked_mul(w / 4))
                .ok_or_else(|| {
                    NnError::invalid(format!("{c2} channels of {h}×{w} images overflow"))
                })?;
            for &d in &config.hidden[2..] {
                plan.push(linear(width, d));
                plan.push(LayerSpec::Relu);
                width = d;
            }
            plan.push(linear(width, classes));
        }
    }
    Ok(plan)
}

impl Classifier {
    /// A freshly initialised classifier (weights drawn from `Rng::new(config.seed)`).
    ///
    /// ```
    /// # use retrograd_nn::{data::{digits, Normalizer}, train::{Classifier, ModelKind, TrainConfig}};
    /// # let d = digits().unwrap();
    /// let cnn = TrainConfig::for_model(ModelKind::Cnn);
    /// let c = Classifier::build(&cnn, &d.shape, 10, Normalizer::fit_global(&d)).unwrap();
    /// assert!(c.model_description().starts_with("Sequential[Conv2d"));
    /// assert!(Classifier::build(&cnn, &[64], 10, Normalizer::fit_global(&d)).is_err());
    /// ```
    pub fn build(
        config: &TrainConfig,
        input_shape: &[usize],
        num_classes: usize,
        normalizer: Normalizer,
    ) -> Result<Self> {
        let mut rng = Rng::new(config.seed);
        Self::build_with(config, input_shape, num_classes, normalizer, &mut rng)
    }

    pub(crate) fn build_with(
        config: &TrainConfig,
        input_shape: &[usize],
        num_classes: usize,
        normalizer: Normalizer,
        rng: &mut Rng,
    ) -> Result<Self> {
        let plan = plan_network(config, input_shape, num_classes)?;
        Self::from_plan(&plan, config, input_shape, num_classes, normalizer, rng)
    }

    /// Builds the network `plan` (from [`plan_network`]) with its settings.
    pub(crate) fn from_plan(
        plan: &SequentialPlan,
        config: &TrainConfig,
        input_shape: &[usize],
        num_classes: usize,
        normalizer: Normalizer,
        rng: &mut Rng,
    ) -> Result<Self> {
        Ok(Classifier {
            model: plan.build(rng)?,
            config: config.clone(),
            input_shape: input_shape.to_vec(),
            num_classes,
            normalizer,
            epoch: 0,
        })
    }

    /// Parameters and buffers as named arrays (model files, checkpoints).
    ///
    /// ```
    /// # use retrograd_nn::{data::{digits, Normalizer}, train::{Classifier, TrainConfig}};
    /// # let d = digits().unwrap();
    /// let c = Classifier::build(&TrainConfig::default(), &d.shape, 10, Normalizer::fit_global(&d)).unwrap();
    /// assert_eq!(c.named_arrays().unwrap()[0].name, "1.weight");
    /// ```
    pub fn named_arrays(&self) -> Result<Vec<NamedArray>> {
        let mut out = Vec::new();
        for (name, t) in self
            .model
            .parameters()
            .into_iter()
            .chain(self.model.buffers())
        {
            out.push(NamedArray::new(
                name,
                t.dims().to_vec(),
                t.to_vec::<f32>()?,
            )?);
        }
        Ok(out)
    }

    /// Overwrites parameters and buffers with arrays read from `path` (checked by name and shape).
    ///
    /// ```
    /// # use retrograd_nn::{data::{digits, Normalizer}, train::{Classifier, TrainConfig}};
    /// # let d = digits().unwrap();
    /// let cfg = TrainConfig::default();
    /// let a = Classifier::build(&cfg, &d.shape, 10, Normalizer::fit_global(&d)).unwrap();
    /// let b = Classifier::build(&TrainConfig { seed: 9, ..cfg }, &d.shape, 10, a.normalizer.clone()).unwrap();
    /// b.load_arrays("a.safetensors".as_ref(), a.named_arrays().unwrap()).unwrap();
    /// assert_eq!(a.named_arrays().unwrap(), b.named_arrays().unwrap());
    /// ```
    pub fn load_arrays(&self, path: &Path, arrays: Vec<NamedArray>) -> Result<()> {
        let tensors: Vec<(String, Tensor)> = self
            .model
            .parameters()
            .into_iter()
            .chain(self.model.buffers())
            .collect();
        let expected: Vec<(String, Vec<usize>)> = tensors
            .iter()
            .map(|(n, t)| (n.clone(), t.dims().to_vec()))
            .collect();
        let values = match_params(path, &expected, arrays)?;
        no_grad(|| -> Result<()> {
            for ((_, t), v) in tensors.iter().zip(values) {
                t.update_(|w: &mut [f32]| w.copy_from_slice(&v))?;
            }
            Ok(())
        })
    }

    /// The model file's metadata.
    fn metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("architecture".to_string(), self.model.describe()),
            ("config".to_string(), self.config.to_json().to_string()),
            (
                "input_shape".to_string(),
                json!(self.input_shape).to_string(),
            ),
            ("num_classes".to_string(), self.num_classes.to_string()),
            (
                "normalizer".to_string(),
                json!({"mean": self.normalizer.mean, "std": self.normalizer.std}).to_string(),
            ),
            ("epoch".to_string(), self.epoch.to_string()),
        ])
    }

    /// Writes the model file (safetensors, atomically) with its metadata: format,
    /// architecture, settings, input shape, classes, normaliser and epoch.
    ///
    /// ```
    /// # use retrograd_nn::{data::{digits, Normalizer}, train::{Classifier, TrainConfig}};
    /// # let d = digits().unwrap();
    /// let c = Classifier::build(&TrainConfig::default(), &d.shape, 10, Normalizer::fit_global(&d)).unwrap();
    /// let path = std::env::temp_dir().join("retrograd-doc-classifier.safetensors");
    /// c.save(&path).unwrap();
    /// let meta = retrograd_nn::io::load_model_file(&path).unwrap().metadata;
    /// assert_eq!(meta["format"], "retrograd-model");
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        save_model_file(path, &self.named_arrays()?, &self.metadata())
    }

    /// Reads a model file written by [`Classifier::save`]; a damaged file, or one for
    /// another architecture, is an error naming the file and the problem.
    ///
    /// Nothing is built before the metadata has been checked: sizes within
    /// [`crate::limits`], and the network they describe has exactly the arrays of the file
    /// (names and shapes), so a file cannot make the loader allocate more than it holds.
    ///
    /// ```
    /// # use retrograd_nn::{data::{digits, Normalizer}, train::{Classifier, TrainConfig}};
    /// # let d = digits().unwrap();
    /// let c = Classifier::build(&TrainConfig::default(), &d.shape, 10, Normalizer::fit_global(&d)).unwrap();
    /// let path = std::env::temp_dir().join("retrograd-doc-classifier-load.safetensors");
    /// c.save(&path).unwrap();
    /// let back = Classifier::load(&path).unwrap();
    /// assert_eq!(back.named_arrays().unwrap(), c.named_arrays().unwrap());
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = load_model_file(path)?;
        let bad = |m: String| NnError::format(path, m);
        if file.metadata.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(bad(
                "not a retrograd model file (metadata `format` is not `retrograd-model`)".into(),
            ));
        }
        let json_entry = |key: &str| -> Result<Value> {
            let text = file.require(path, key)?;
            serde_json::from_str(text)
                .map_err(|_| bad(format!("metadata `{key}` is not valid JSON")))
        };
        let config =
            TrainConfig::from_json(&json_entry("config")?).map_err(|e| bad(e.to_string()))?;
        let input_shape: Vec<usize> = json_entry("input_shape")?
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|v| v.as_u64().and_then(|v| usize::try_from(v).ok()))
                    .collect()
            })
            .ok_or_else(|| bad("metadata `input_shape` is not a list of sizes".into()))?;
        let feature_len = limits::sample_len(&input_shape)
            .map_err(|e| bad(format!("metadata `input_shape`: {e}")))?;
        let num_classes: usize = file
            .require(path, "num_classes")?
            .parse()
            .map_err(|_| bad("metadata `num_classes` is not a number".into()))?;
        limits::class_count(num_classes)
            .map_err(|e| bad(format!("metadata `num_classes`: {e}")))?;
        let norm = json_entry("normalizer")?;
        let floats = |k: &str| -> Result<Vec<f32>> {
            norm.get(k)
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(|v| v.as_f64().map(|v| v as f32)).collect())
                .ok_or_else(|| bad(format!("metadata `normalizer` lacks the list `{k}`")))
        };
        let normalizer = Normalizer {
            mean: floats("mean")?,
            std: floats("std")?,
        };
        let n = normalizer.mean.len();
        if n != normalizer.std.len()
            || (n != 1 && n != feature_len)
            || normalizer.mean.iter().any(|m| !m.is_finite())
            || normalizer.std.iter().any(|s| !s.is_finite() || *s <= 0.0)
        {
            return Err(bad(
                "metadata `normalizer` does not fit the input shape".into()
            ));
        }
        let epoch = file
            .require(path, "epoch")?
            .parse::<usize>()
            .ok()
            .filter(|&e| e <= MAX_EPOCHS)
            .ok_or_else(|| {
                bad(format!(
                    "metadata `epoch` is not a number of epochs up to {MAX_EPOCHS}"
                ))
            })?;
        let plan =
            plan_network(&config, &input_shape, num_classes).map_err(|e| bad(e.to_string()))?;
        check_arrays(path, &plan.arrays(), &file.params)?;
        let mut rng = Rng::new(config.seed);
        let mut classifier = Classifier::from_plan(
            &plan,
            &config,
            &input_shape,
            num_classes,
            normalizer,
            &mut rng,
        )
        .map_err(|e| bad(e.to_string()))?;
        classifier.epoch = epoch;
        classifier.load_arrays(path, file.params)?;
        Ok(classifier)
    }

    /// A one-line description of the network.
    ///
    /// ```
    /// # use retrograd_nn::{data::{digits, Normalizer}, train::{Classifier, TrainConfig}};
    /// # let d = digits().unwrap();
    /// let c = Classifier::build(&TrainConfig::default(), &d.shape, 10, Normalizer::fit_global(&d)).unwrap();
    /// assert_eq!(c.model_description(), "Sequential[Flatten, Linear(64 → 128), ReLU, Linear(128 → 10)]");
    /// ```
    pub fn model_description(&self) -> String {
        self.model.describe()
    }

    /// The number of trainable values.
    ///
    /// ```
    /// # use retrograd_nn::{data::{digits, Normalizer}, train::{Classifier, TrainConfig}};
    /// # let d = digits().unwrap();
    /// let c = Classifier::build(&TrainConfig::default(), &d.shape, 10, Normalizer::fit_global(&d)).unwrap();
    /// assert_eq!(c.num_parameters(), 64 * 128 + 128 + 128 * 10 + 10);
    /// ```
    pub fn num_parameters(&self) -> usize {
        self.model
            .parameters()
            .iter()
            .map(|(_, t)| t.elem_count())
            .sum()
    }

    /// The data set the classifier was trained on.
    ///
    /// ```
    /// # use retrograd_nn::{data::{digits, DataSpec, Normalizer}, train::{Classifier, TrainConfig}};
    /// # let d = digits().unwrap();
    /// let c = Classifier::build(&TrainConfig::default(), &d.shape, 10, Normalizer::fit_global(&d)).unwrap();
    /// assert_eq!(c.data_spec().unwrap(), DataSpec::Digits);
    /// ```
    pub fn data_spec(&self) -> Result<DataSpec> {
        Ok(self.config.data.clone())
    }

    fn check_input(&self, data: &Dataset) -> Result<()> {
        if data.feature_len() != self.input_shape.iter().product::<usize>() {
            return Err(NnError::invalid(format!(
                "{}: samples have shape {:?}, the model expects {:?}",
                data.name, data.shape, self.input_shape
            )));
        }
        Ok(())
    }

    /// Logits of a batch of raw (unnormalised) samples, as `f32` (also when computed in 16
    /// bits under autocast).
    fn logits(&self, mut features: Vec<f32>, n: usize) -> Result<Tensor> {
        self.normalizer.apply(&mut features);
        let mut dims = vec![n];
        dims.extend(&self.input_shape);
        let logits = self.model.forward(&Tensor::from_vec(features, dims)?)?;
        Ok(logits.to_dtype(DType::F32)?)
    }

    /// Mean loss and confusion matrix on `data` (in evaluation mode, without a graph).
    ///
    /// ```
    /// # use retrograd_nn::{data::{digits, Normalizer}, train::{Classifier, TrainConfig}};
    /// let d = digits().unwrap().take(100);
    /// let mut c = Classifier::build(&TrainConfig::default(), &d.shape, 10, Normalizer::fit_global(&d)).unwrap();
    /// let e = c.evaluate(&d).unwrap();
    /// assert_eq!(e.confusion.total(), 100);
    /// assert!(e.loss > 0.0);
    /// ```
    pub fn evaluate(&mut self, data: &Dataset) -> Result<Evaluation> {
        self.check_input(data)?;
        self.model.set_training(false);
        let mut confusion = ConfusionMatrix::new(self.num_classes.max(data.num_classes));
        let mut loss_sum = 0.0;
        no_grad(|| -> Result<()> {
            for batch in Batches::sequential(data, EVAL_BATCH) {
                let n = batch.len();
                let logits = self.logits(batch.features, n)?;
                let targets: Vec<i64> = batch.labels.iter().map(|&l| l as i64).collect();
                let t = Tensor::from_vec(targets, [n])?;
                if batch.labels.iter().all(|&l| l < self.num_classes) {
                    loss_sum += logits.cross_entropy_with(&t, Reduction::Sum)?.item()?;
                }
                let values = logits.to_vec::<f32>()?;
                for (p, &l) in argmax_rows(&values, self.num_classes)
                    .into_iter()
                    .zip(&batch.labels)
                {
                    confusion.add(l, p);
                }
            }
            Ok(())
        })?;
        Ok(Evaluation {
            loss: loss_sum / data.len().max(1) as f64,
            confusion,
        })
    }

    /// The predicted class of every sample of `data`.
    ///
    /// ```
    /// # use retrograd_nn::{data::{digits, Normalizer}, train::{Classifier, TrainConfig}};
    /// let d = digits().unwrap().take(20);
    /// let mut c = Classifier::build(&TrainConfig::default(), &d.shape, 10, Normalizer::fit_global(&d)).unwrap();
    /// assert!(c.predict(&d).unwrap().iter().all(|&p| p < 10));
    /// ```
    pub fn predict(&mut self, data: &Dataset) -> Result<Vec<usize>> {
        self.check_input(data)?;
        self.model.set_training(false);
        let mut out = Vec::with_capacity(data.len());
        no_grad(|| -> Result<()> {
            for batch in Batches::sequential(data, EVAL_BATCH) {
                let n = batch.len();
                let values = self.logits(batch.features, n)?.to_vec::<f32>()?;
                out.extend(argmax_rows(&values, self.num_classes));
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Reads samples to classify from a CSV file: rows of the model's features, optionally
    /// followed by a label. Returns the samples and whether they carry labels.
    ///
    /// ```
    /// # use retrograd_nn::{data::Normalizer, train::{Classifier, TrainConfig}};
    /// let norm = Normalizer { mean: vec![0.0], std: vec![1.0] };
    /// let c = Classifier::build(&TrainConfig::default(), &[2], 2, norm).unwrap();
    /// let path = std::env::temp_dir().join("retrograd-doc-rows.csv");
    /// std::fs::write(&path, "0.5,1.5\n2,3\n").unwrap();
    /// let (rows, labelled) = c.read_csv_samples(&path).unwrap();
    /// assert_eq!((rows.len(), labelled), (2, false));
    /// ```
    pub fn read_csv_samples(&self, path: &Path) -> Result<(Dataset, bool)> {
        let features: usize = self.input_shape.iter().product();
        let text = crate::data::read_text(path)?;
        let columns = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .find(|l| l.split(',').all(|f| f.trim().parse::<f64>().is_ok()))
            .map(|l| l.split(',').count());
        match columns {
            Some(c) if c == features => Ok((read_csv_features(path, &text, features)?, false)),
            Some(c) if c == features + 1 => {
                let mut d = read_csv(path, None)?;
                d.shape = self.input_shape.clone();
                Ok((d, true))
            }
            Some(c) => Err(NnError::format(
                path,
                format!("rows have {c} columns, the model expects {features} features (and optionally a label)"),
            )),
            None => Err(NnError::format(path, "no data rows")),
        }
    }
}

/// Reads a CSV file whose every column is a feature (labels set to 0).
fn read_csv_features(path: &Path, text: &str, features: usize) -> Result<Dataset> {
    let mut values = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let row: std::result::Result<Vec<f32>, _> =
            line.split(',').map(|f| f.trim().parse::<f32>()).collect();
        match row {
            Ok(row) if row.len() == features => values.extend(row),
            Ok(row) => {
                return Err(NnError::format(
                    path,
                    format!("line {}: {} columns, expected {features}", i + 1, row.len()),
                ))
            }
            Err(_) if i == 0 => continue, // header
            Err(_) => {
                return Err(NnError::format(
                    path,
                    format!("line {}: not all numbers", i + 1),
                ))
            }
        }
    }
    let n = values.len() / features;
    Dataset::new(
        path.display().to_string(),
        values,
        vec![0; n],
        vec![features],
        1,
    )
}
