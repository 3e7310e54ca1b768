//! The stated bounds on what files and settings may ask for.
//!
//! Model files, checkpoints and data files are untrusted input: a damaged or hostile file
//! must be refused with an error naming it, before anything is allocated for what it
//! claims.
//!
//! ```
//! use retrograd_nn::limits;
//! assert_eq!(limits::MAX_CLASSES, 1024);
//! assert!(limits::class_count(10).is_ok());
//! ```

/// Most classes a data set or a model may have (labels `0..1024`). Evaluation keeps a
/// classes × classes confusion matrix, 8 MiB at this bound.
pub const MAX_CLASSES: usize = 1024;

/// Most bytes of one data file (IDX or CSV), after gzip decompression: 1 GiB.
pub const MAX_DATA_BYTES: u64 = 1 << 30;

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
