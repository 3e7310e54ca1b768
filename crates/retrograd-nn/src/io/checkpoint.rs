//! Training checkpoints: parameters, optimizer state, epoch and random generator.

use std::collections::BTreeMap;
use std::path::Path;

use super::model_file::{decode, encode};
use super::{read_file_at_most, write_atomic, NamedArray};
use crate::limits::{MAX_EPOCHS, MAX_MODEL_FILE_BYTES, MAX_OPTIMIZER_STEPS};
use crate::optim::OptimState;
use crate::{NnError, Result};

const FORMAT: &str = "retrograd-checkpoint";
const PARAM: &str = "param/";
const OPTIM: &str = "optim/";

/// Everything needed to continue a training run exactly where it stopped.
///
/// ```
/// use retrograd_nn::io::{Checkpoint, NamedArray};
/// use retrograd_nn::optim::OptimState;
/// let path = std::env::temp_dir().join("retrograd-doc-ckpt.safetensors");
/// let ckpt = Checkpoint {
///     params: vec![NamedArray::new("w", vec![1], vec![0.5]).unwrap()],
///     optimizer_name: "sgd".into(),
///     optimizer: OptimState { buffers: vec![("0.momentum".into(), vec![0.1])], steps: vec![4] },
///     epoch: 2,
///     rng: [1, 2, 3, 4],
///     metadata: Default::default(),
/// };
/// ckpt.save(&path).unwrap();
/// assert_eq!(Checkpoint::load(&path).unwrap(), ckpt);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The model's parameters.
    pub params: Vec<NamedArray>,
    /// The optimizer's name, checked on resume.
    pub optimizer_name: String,
    /// The optimizer's state.
    pub optimizer: OptimState,
    /// Epochs completed.
    pub epoch: usize,
    /// The training generator's state after `epoch` epochs.
    pub rng: [u64; 4],
    /// Anything else the training loop wants back (its settings, the history of metrics).
    pub metadata: BTreeMap<String, String>,
}

impl Checkpoint {
    /// Writes the checkpoint atomically (temporary file, fsync, rename).
    ///
    /// ```
    /// # use retrograd_nn::{io::Checkpoint, optim::OptimState};
    /// let c = Checkpoint { params: vec![], optimizer_name: "adam".into(),
    ///     optimizer: OptimState::default(), epoch: 0, rng: [1; 4], metadata: Default::default() };
    /// c.save(std::env::temp_dir().join("retrograd-doc-ckpt2.safetensors")).unwrap();
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut arrays: Vec<NamedArray> = self
            .params
            .iter()
            .map(|p| NamedArray {
                name: format!("{PARAM}{}", p.name),
                ..p.clone()
            })
            .collect();
        for (name, buf) in &self.optimizer.buffers {
            arrays.push(NamedArray::new(
                format!("{OPTIM}{name}"),
                vec![buf.len()],
                buf.clone(),
            )?);
        }
        let mut meta = self.metadata.clone();
        meta.insert("format".into(), FORMAT.into());
        meta.insert("epoch".into(), self.epoch.to_string());
        meta.insert("optimizer".into(), self.optimizer_name.clone());
        meta.insert(
            "optimizer_steps".into(),
            serde_json::to_string(&self.optimizer.steps).expect("a list of integers"),
        );
        let rng: Vec<String> = self.rng.iter().map(|w| format!("{w:016x}")).collect();
        meta.insert("rng".into(), rng.join(","));
        write_atomic(path, &encode(&arrays, &meta)?)
    }

    /// Reads a checkpoint; a damaged or foreign file is an error naming it and the problem.
    /// The epoch is at most [`MAX_EPOCHS`], each step count at most [`MAX_OPTIMIZER_STEPS`],
    /// and every optimizer buffer `optim/{index}.{slot}` has the index of a counted
    /// parameter. (Whether the arrays fit the model the settings describe is checked when
    /// the run is rebuilt, before the model is.)
    ///
    /// ```
    /// let path = std::env::temp_dir().join("retrograd-doc-not-ckpt.safetensors");
    /// retrograd_nn::io::save_model_file(&path, &[], &Default::default()).unwrap();
    /// let e = retrograd_nn::io::Checkpoint::load(&path).unwrap_err().to_string();
    /// assert!(e.contains("not a training checkpoint"), "{e}");
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = decode(path, &read_file_at_most(path, MAX_MODEL_FILE_BYTES)?)?;
        let bad = |m: String| NnError::format(path, m);
        let mut meta = file.metadata;
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(bad(
                "not a training checkpoint (metadata `format` is not `retrograd-checkpoint`)"
                    .into(),
            ));
        }
        let mut take = |key: &str| {
            meta.remove(key)
                .ok_or_else(|| bad(format!("metadata entry `{key}` is missing")))
        };
        let _ = take("format")?;
        let epoch = take("epoch")?;
        let epoch = epoch
            .parse::<usize>()
            .map_err(|_| bad(format!("epoch `{epoch}` is not a number")))?;
        if epoch > MAX_EPOCHS {
            return Err(bad(format!(
                "epoch {epoch} is above the limit of {MAX_EPOCHS}"
            )));
        }
        let optimizer_name = take("optimizer")?;
        let steps = take("optimizer_steps")?;
        let steps: Vec<u64> = serde_json::from_str(&steps).map_err(|_| {
            bad(format!(
                "optimizer_steps `{steps}` is not a list of integers"
            ))
        })?;
        if let Some((i, n)) = steps
            .iter()
            .enumerate()
            .find(|(_, &n)| n > MAX_OPTIMIZER_STEPS)
        {
            return Err(bad(format!(
                "optimizer_steps: parameter {i} counts {n} steps, above the limit of {MAX_OPTIMIZER_STEPS}"
            )));
        }
        let rng_text = take("rng")?;
        let words: Vec<u64> = rng_text
            .split(',')
            .map(|w| u64::from_str_radix(w, 16))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad(format!("rng state `{rng_text}` is malformed")))?;
        let rng: [u64; 4] = words
            .try_into()
            .map_err(|_| bad(format!("rng state `{rng_text}` does not have 4 words")))?;
        let mut params = Vec::new();
        let mut buffers = Vec::new();
        for a in file.params {
            if let Some(name) = a.name.strip_prefix(PARAM) {
                params.push(NamedArray {
                    name: name.to_string(),
                    ..a
                });
            } else if let Some(name) = a.name.strip_prefix(OPTIM) {
                let index = name
                    .split_once('.')
                    .filter(|(_, slot)| !slot.is_empty())
                    .and_then(|(i, _)| i.parse::<usize>().ok());
                if index.is_none_or(|i| i >= steps.len()) {
                    return Err(bad(format!(
                        "optimizer buffer `{}` is not `{OPTIM}{{index}}.{{slot}}` for one of the {} parameters of optimizer_steps",
                        a.name,
                        steps.len()
                    )));
                }
                buffers.push((name.to_string(), a.data));
            } else {
                return Err(bad(format!("unexpected array `{}`", a.name)));
            }
        }
        // The file sorts arrays by name; the optimizer state is keyed by index.
        buffers.sort_by_key(|(name, _)| {
            let (i, slot) = name.split_once('.').unwrap_or((name, ""));
            (i.parse::<usize>().unwrap_or(usize::MAX), slot.to_string())
        });
        Ok(Checkpoint {
            params,
            optimizer_name,
            optimizer: OptimState { buffers, steps },
            epoch,
            rng,
            metadata: meta,
        })
    }
}
