//! Mini-batches in a shuffled (or fixed) order.

use super::Dataset;
use crate::Rng;

/// One mini-batch: `labels.len()` samples, features sample after sample.
///
/// ```
/// use retrograd_nn::data::{digits, Batches};
/// let d = digits().unwrap();
/// let b = Batches::sequential(&d, 32).next().unwrap();
/// assert_eq!(b.features.len(), 32 * 64);
/// assert_eq!(b.len(), 32);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// `len() * feature_len` values.
    pub features: Vec<f32>,
    /// One class index per sample.
    pub labels: Vec<usize>,
}

impl Batch {
    /// The number of samples.
    ///
    /// ```
    /// let b = retrograd_nn::data::Batch { features: vec![0.0; 6], labels: vec![0, 1, 2] };
    /// assert_eq!(b.len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the batch is empty.
    ///
    /// ```
    /// let b = retrograd_nn::data::Batch { features: vec![], labels: vec![] };
    /// assert!(b.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// An iterator of mini-batches over a data set; the last batch may be smaller.
///
/// ```
/// use retrograd_nn::{data::{digits, Batches}, Rng};
/// let d = digits().unwrap();
/// let mut rng = Rng::new(0);
/// let n: usize = Batches::shuffled(&d, 100, &mut rng).map(|b| b.len()).sum();
/// assert_eq!(n, d.len());
/// ```
pub struct Batches<'a> {
    data: &'a Dataset,
    order: Vec<usize>,
    batch_size: usize,
    next: usize,
}

impl<'a> Batches<'a> {
    /// Batches in a random order drawn from `rng` (one permutation per call: one epoch).
    ///
    /// ```
    /// use retrograd_nn::{data::{digits, Batches}, Rng};
    /// let d = digits().unwrap();
    /// let a = Batches::shuffled(&d, 8, &mut Rng::new(1)).next().unwrap();
    /// let b = Batches::shuffled(&d, 8, &mut Rng::new(1)).next().unwrap();
    /// assert_eq!(a, b);
    /// ```
    pub fn shuffled(data: &'a Dataset, batch_size: usize, rng: &mut Rng) -> Self {
        let mut order: Vec<usize> = (0..data.len()).collect();
        rng.shuffle(&mut order);
        Batches::with_order(data, batch_size, order)
    }

    /// Batches in the data set's order (for evaluation).
    ///
    /// ```
    /// use retrograd_nn::data::{digits, Batches};
    /// let d = digits().unwrap();
    /// assert_eq!(Batches::sequential(&d, 1000).count(), 2);
    /// ```
    pub fn sequential(data: &'a Dataset, batch_size: usize) -> Self {
        Batches::with_order(data, batch_size, (0..data.len()).collect())
    }

    /// Batches of the samples `order` names, in that order (a share of an epoch in
    /// data-parallel training, [`shard`](crate::train::shard)).
    ///
    /// ```
    /// # use retrograd_nn::data::{digits, Batches};
    /// let d = digits().unwrap();
    /// let b: Vec<_> = Batches::with_order(&d, 2, vec![5, 3, 9]).collect();
    /// assert_eq!(b[0].labels, vec![d.labels[5], d.labels[3]]);
    /// assert_eq!(b[1].labels, vec![d.labels[9]]);
    /// ```
    pub fn with_order(data: &'a Dataset, batch_size: usize, order: Vec<usize>) -> Self {
        assert!(batch_size > 0, "batch size must be positive");
        Batches {
            data,
            order,
            batch_size,
            next: 0,
        }
    }

    /// The number of batches in total.
    ///
    /// ```
    /// use retrograd_nn::data::{digits, Batches};
    /// assert_eq!(Batches::sequential(&digits().unwrap(), 100).num_batches(), 18);
    /// ```
    pub fn num_batches(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }
}

impl Iterator for Batches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.order.len());
        let idx = &self.order[self.next..end];
        self.next = end;
        let f = self.data.feature_len();
        let mut features = Vec::with_capacity(idx.len() * f);
        for &i in idx {
            features.extend_from_slice(self.data.sample(i));
        }
        Some(Batch {
            features,
            labels: idx.iter().map(|&i| self.data.labels[i]).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_once_per_epoch() {
        let d = crate::data::digits().unwrap();
        let mut rng = Rng::new(4);
        let mut seen: Vec<usize> = Vec::new();
        let mut counts = vec![0usize; 10];
        for b in Batches::shuffled(&d, 64, &mut rng) {
            seen.push(b.len());
            for l in b.labels {
                counts[l] += 1;
            }
        }
        assert_eq!(counts, d.class_counts());
        assert_eq!(*seen.last().unwrap(), d.len() % 64);
        // a second epoch draws a different order
        let first = Batches::shuffled(&d, 64, &mut Rng::new(4)).next().unwrap();
        let second = Batches::shuffled(&d, 64, &mut rng).next().unwrap();
        assert_ne!(first.labels, second.labels);
    }
}
