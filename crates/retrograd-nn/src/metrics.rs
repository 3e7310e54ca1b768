//! Classification metrics and the per-epoch record of a training run.

use std::fmt;

use serde_json::{json, Value};

use crate::{NnError, Result};

/// Counts of (true class, predicted class) pairs.
///
/// ```
/// use retrograd_nn::metrics::ConfusionMatrix;
/// let mut m = ConfusionMatrix::new(2);
/// m.add(0, 0);
/// m.add(1, 0);
/// assert_eq!(m.accuracy(), 0.5);
/// assert_eq!(m.counts[1][0], 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// `counts[true][predicted]`.
    pub counts: Vec<Vec<usize>>,
}

impl ConfusionMatrix {
    /// An empty matrix for `classes` classes.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::metrics::ConfusionMatrix::new(3).total(), 0);
    /// ```
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix {
            counts: vec![vec![0; classes]; classes],
        }
    }

    /// Records one prediction.
    ///
    /// ```
    /// let mut m = retrograd_nn::metrics::ConfusionMatrix::new(3);
    /// m.add(2, 1);
    /// assert_eq!(m.total(), 1);
    /// ```
    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.counts[truth][predicted] += 1;
    }

    /// The number of predictions recorded.
    ///
    /// ```
    /// let mut m = retrograd_nn::metrics::ConfusionMatrix::new(2);
    /// m.add(0, 1);
    /// m.add(1, 1);
    /// assert_eq!(m.total(), 2);
    /// ```
    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    /// The number of correct predictions.
    ///
    /// ```
    /// let mut m = retrograd_nn::metrics::ConfusionMatrix::new(2);
    /// m.add(1, 1);
    /// assert_eq!(m.correct(), 1);
    /// ```
    pub fn correct(&self) -> usize {
        (0..self.counts.len()).map(|i| self.counts[i][i]).sum()
    }

    /// The fraction of correct predictions (0 when empty).
    ///
    /// ```
    /// assert_eq!(retrograd_nn::metrics::ConfusionMatrix::new(2).accuracy(), 0.0);
    /// ```
    pub fn accuracy(&self) -> f64 {
        let total = self.total();
        if total == 0 {
            0.0
        } else {
            self.correct() as f64 / total as f64
        }
    }
}

impl fmt::Display for ConfusionMatrix {
    /// A table with true classes as rows and predictions as columns.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .counts
            .iter()
            .flatten()
            .map(|c| c.to_string().len())
            .max()
            .unwrap_or(1)
            .max(self.counts.len().to_string().len())
            .max(2);
        write!(f, "{:>w$} |", "t\\p", w = width.max(3))?;
        for p in 0..self.counts.len() {
            write!(f, " {p:>width$}")?;
        }
        writeln!(f)?;
        for (t, row) in self.counts.iter().enumerate() {
            write!(f, "{t:>w$} |", w = width.max(3))?;
            for c in row {
                write!(f, " {c:>width$}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// The index of the largest value of each row of a `rows × classes` matrix.
///
/// ```
/// let p = retrograd_nn::metrics::argmax_rows(&[0.1, 0.9, 0.8, 0.2], 2);
/// assert_eq!(p, vec![1, 0]);
/// ```
pub fn argmax_rows(values: &[f32], classes: usize) -> Vec<usize> {
    values
        .chunks(classes)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 {
                        (i, v)
                    } else {
                        best
                    }
                })
                .0
        })
        .collect()
}

/// What one epoch of training measured.
///
/// ```
/// use retrograd_nn::metrics::EpochRecord;
/// let r = EpochRecord { epoch: 1, train_loss: 0.5, test_loss: 0.4, test_accuracy: 0.9, seconds: 1.0 };
/// let back = EpochRecord::list_from_json(&EpochRecord::list_to_json(&[r.clone()])).unwrap();
/// assert_eq!(back, vec![r]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// The epoch, counted from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's mini-batches.
    pub train_loss: f64,
    /// Mean loss on the test set after the epoch.
    pub test_loss: f64,
    /// Fraction of the test set classified correctly after the epoch.
    pub test_accuracy: f64,
    /// Wall time of the epoch.
    pub seconds: f64,
}

impl EpochRecord {
    /// This record as a JSON object.
    ///
    /// ```
    /// use retrograd_nn::metrics::EpochRecord;
    /// let r = EpochRecord { epoch: 2, train_loss: 0.5, test_loss: 0.4, test_accuracy: 0.9, seconds: 1.0 };
    /// assert_eq!(r.to_json()["epoch"], 2);
    /// ```
    pub fn to_json(&self) -> Value {
        json!({
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "test_loss": self.test_loss,
            "test_accuracy": self.test_accuracy,
            "seconds": self.seconds,
        })
    }

    /// A list of records as a JSON string (stored in checkpoints).
    ///
    /// ```
    /// assert_eq!(retrograd_nn::metrics::EpochRecord::list_to_json(&[]), "[]");
    /// ```
    pub fn list_to_json(records: &[EpochRecord]) -> String {
        Value::Array(records.iter().map(EpochRecord::to_json).collect()).to_string()
    }

    /// Parses [`EpochRecord::list_to_json`]'s output.
    ///
    /// ```
    /// assert!(retrograd_nn::metrics::EpochRecord::list_from_json("{").is_err());
    /// ```
    pub fn list_from_json(text: &str) -> Result<Vec<EpochRecord>> {
        let bad = || NnError::invalid(format!("malformed training history `{text}`"));
        let v: Value = serde_json::from_str(text).map_err(|_| bad())?;
        let items = v.as_array().ok_or_else(bad)?;
        items
            .iter()
            .map(|r| {
                let num = |k: &str| r.get(k).and_then(Value::as_f64).ok_or_else(bad);
                Ok(EpochRecord {
                    epoch: r.get("epoch").and_then(Value::as_u64).ok_or_else(bad)? as usize,
                    train_loss: num("train_loss")?,
                    test_loss: num("test_loss")?,
                    test_accuracy: num("test_accuracy")?,
                    seconds: num("seconds")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_matrix_table() {
        let mut m = ConfusionMatrix::new(2);
        m.add(0, 0);
        m.add(0, 1);
        m.add(1, 1);
        let s = m.to_string();
        assert!(s.contains("t\\p |"), "{s}");
        assert_eq!(s.lines().count(), 3);
        assert!((m.accuracy() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn argmax_takes_first_of_ties() {
        assert_eq!(argmax_rows(&[1.0, 1.0, 0.0], 3), vec![0]);
    }
}
