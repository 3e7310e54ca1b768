//! The stated bounds on what files and settings may ask for.
//!
//! Model files, checkpoints and data files are untrusted input: a damaged or hostile file
//! must be refused with an error naming it, before anything is allocated for what it
//! claims. Sizes that a file states are checked against the arrays it holds where there
//! are any (a model file must contain every parameter its metadata implies), and against
//! these bounds where there are none (a class count, an epoch counter, a data header).
//!
//! ```
//! use retrograd_nn::limits;
//! assert_eq!(limits::MAX_CLASSES, 1024);
//! assert!(limits::sample_len(&[1, 28, 28]).is_ok());
//! assert!(limits::sample_len(&[1 << 62, 4]).is_err()); // would wrap to 0
//! ```

/// Most classes a data set or a model may have (labels `0..1024`). Evaluation keeps a
/// classes × classes confusion matrix, 8 MiB at this bound.
pub const MAX_CLASSES: usize = 1024;

/// Most values in one sample (the product of its shape): a 4096 × 4096 image.
pub const MAX_SAMPLE_VALUES: usize = 1 << 24;

/// Most dimensions of one sample's shape.
pub const MAX_SAMPLE_RANK: usize = 4;

/// Most bytes of one data file (IDX or CSV), after gzip decompression: 1 GiB.
pub const MAX_DATA_BYTES: u64 = 1 << 30;

/// Most bytes of a model file or checkpoint: 4 GiB.
pub const MAX_MODEL_FILE_BYTES: u64 = 1 << 32;

/// Most parameter values (weights, biases and buffers) a network may have: 2^28, 1 GiB of
/// `f32`.
pub const MAX_PARAMETER_VALUES: usize = 1 << 28;

/// Most epochs a run, a model file or a checkpoint may count (the bound of the training
/// settings, [`crate::train::TrainConfig::validate`]).
pub use crate::train::MAX_EPOCHS;

/// Most updates an optimizer's state may count per parameter (Adam's bias correction
/// takes it as an `i32` exponent).
pub const MAX_OPTIMIZER_STEPS: u64 = i32::MAX as u64;

/// The number of values of a sample of shape `shape`, checked: 1 to
/// [`MAX_SAMPLE_RANK`] dimensions, each at least 1, product at most [`MAX_SAMPLE_VALUES`].
/// The error says what is wrong (the caller adds the file or setting).
///
/// ```
/// use retrograd_nn::limits::sample_len;
/// assert_eq!(sample_len(&[3, 4]), Ok(12));
/// assert!(sample_len(&[]).is_err());
/// assert!(sample_len(&[128, 0]).unwrap_err().contains("[128, 0]"));
/// ```
pub fn sample_len(shape: &[usize]) -> Result<usize, String> {
    if shape.is_empty() || shape.len() > MAX_SAMPLE_RANK {
        return Err(format!(
            "shape {shape:?} has {} dimensions, expected 1 to {MAX_SAMPLE_RANK}",
            shape.len()
        ));
    }
    if shape.contains(&0) {
        return Err(format!("shape {shape:?} has an empty dimension"));
    }
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_SAMPLE_VALUES)
        .ok_or_else(|| {
            format!("shape {shape:?} has more than {MAX_SAMPLE_VALUES} values per sample")
        })
}

/// Checks a number of classes: 1 to [`MAX_CLASSES`].
///
/// ```
/// assert!(retrograd_nn::limits::class_count(10).is_ok());
/// assert!(retrograd_nn::limits::class_count(0).is_err());
/// assert!(retrograd_nn::limits::class_count(1 << 40).is_err());
/// ```
pub fn class_count(classes: usize) -> Result<usize, String> {
    if (1..=MAX_CLASSES).contains(&classes) {
        Ok(classes)
    } else {
        Err(format!(
            "{classes} classes: expected 1 to {MAX_CLASSES} (labels 0 to {})",
            MAX_CLASSES - 1
        ))
    }
}
