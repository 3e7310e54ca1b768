//! Labelled data sets in memory: splitting, normalisation and shuffled mini-batches.
//!
//! A [`Dataset`] is a flat `f32` feature matrix (one row per sample) with a per-sample
//! shape (`[64]`, or `[1, 28, 28]` for images) and class labels. Readers for the bundled
//! digits, IDX (MNIST / Fashion-MNIST) and CSV files live in the submodules;
//! [`DataSpec`] names a source the way the command line does.

mod batches;
mod csv;
mod idx;
mod source;

pub use batches::{Batch, Batches};
pub use csv::read_csv;
pub(crate) use csv::read_text;
pub use idx::{read_idx_images, read_idx_labels, read_idx_pair};
pub use source::{digits, DataSpec, FASHION_MNIST_DIR};

use crate::limits::MAX_CLASSES;
use crate::{NnError, Result, Rng};

/// The seed of the train/test split of data sets that come as one file (digits, CSV).
/// Fixed, so that every run and every `eval` sees the same test set.
pub const SPLIT_SEED: u64 = 20_240_601;

/// A labelled data set held in memory.
///
/// ```
/// use retrograd_nn::data::Dataset;
/// let d = Dataset::new("toy", vec![0.0, 1.0, 2.0, 3.0], vec![0, 1], vec![2], 2).unwrap();
/// assert_eq!(d.len(), 2);
/// assert_eq!(d.sample(1), &[2.0, 3.0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// A short name for messages ("digits", a file name, ...).
    pub name: String,
    /// `len() * feature_len()` values, sample after sample.
    pub features: Vec<f32>,
    /// One class index per sample, each below `num_classes`.
    pub labels: Vec<usize>,
    /// The shape of one sample: `[features]` for tables, `[channels, height, width]` for images.
    pub shape: Vec<usize>,
    /// The number of classes.
    pub num_classes: usize,
}

impl Dataset {
    /// Checks that features, labels and shape agree, and that there are at most
    /// [`MAX_CLASSES`] classes.
    ///
    /// ```
    /// use retrograd_nn::data::Dataset;
    /// assert!(Dataset::new("bad", vec![0.0; 3], vec![0, 1], vec![2], 2).is_err());
    /// assert!(Dataset::new("bad", vec![0.0; 4], vec![0, 2], vec![2], 2).is_err());
    /// assert!(Dataset::new("bad", vec![0.0; 2], vec![0], vec![2], 1 << 40).is_err());
    /// ```
    pub fn new(
        name: impl Into<String>,
        features: Vec<f32>,
        labels: Vec<usize>,
        shape: Vec<usize>,
        num_classes: usize,
    ) -> Result<Self> {
        let name = name.into();
        let per = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let total = per.and_then(|per| per.checked_mul(labels.len()));
        if per.is_none_or(|per| per == 0) || total != Some(features.len()) {
            return Err(NnError::invalid(format!(
                "{name}: {} feature values do not make {} samples of shape {shape:?}",
                features.len(),
                labels.len()
            )));
        }
        if num_classes > MAX_CLASSES {
            return Err(NnError::invalid(format!(
                "{name}: {num_classes} classes is above the limit of {MAX_CLASSES}"
            )));
        }
        if let Some(bad) = labels.iter().find(|&&l| l >= num_classes) {
            return Err(NnError::invalid(format!(
                "{name}: label {bad} is not below the number of classes {num_classes}"
            )));
        }
        Ok(Dataset {
            name,
            features,
            labels,
            shape,
            num_classes,
        })
    }

    /// The number of samples.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::data::digits().unwrap().len(), 1797);
    /// ```
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    ///
    /// ```
    /// assert!(!retrograd_nn::data::digits().unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The number of values in one sample.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::data::digits().unwrap().feature_len(), 64);
    /// ```
    pub fn feature_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The features of sample `i`.
    ///
    /// ```
    /// let d = retrograd_nn::data::digits().unwrap();
    /// assert_eq!(d.sample(0).len(), 64);
    /// ```
    pub fn sample(&self, i: usize) -> &[f32] {
        let n = self.feature_len();
        &self.features[i * n..(i + 1) * n]
    }

    /// The samples at `indices`, in that order.
    ///
    /// ```
    /// let d = retrograd_nn::data::digits().unwrap();
    /// let s = d.subset(&[3, 1]);
    /// assert_eq!(s.labels, vec![d.labels[3], d.labels[1]]);
    /// ```
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let n = self.feature_len();
        let mut features = Vec::with_capacity(indices.len() * n);
        for &i in indices {
            features.extend_from_slice(self.sample(i));
        }
        Dataset {
            name: self.name.clone(),
            features,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            shape: self.shape.clone(),
            num_classes: self.num_classes,
        }
    }

    /// The first `n` samples (all of them if there are fewer).
    ///
    /// ```
    /// assert_eq!(retrograd_nn::data::digits().unwrap().take(10).len(), 10);
    /// ```
    pub fn take(&self, n: usize) -> Dataset {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.subset(&idx)
    }

    /// Splits into `(train, test)` with `test_fraction` of every class in the test part
    /// (stratified), chosen by a generator seeded with `seed`. Each part keeps the
    /// original order of its samples.
    ///
    /// ```
    /// let d = retrograd_nn::data::digits().unwrap();
    /// let (train, test) = d.stratified_split(0.2, 1);
    /// assert_eq!(train.len() + test.len(), d.len());
    /// assert!((test.len() as f64 / d.len() as f64 - 0.2).abs() < 0.01);
    /// ```
    pub fn stratified_split(&self, test_fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let mut rng = Rng::new(seed);
        let mut is_test = vec![false; self.len()];
        // One pass over the labels; each class's members in their original order.
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); self.num_classes];
        for (i, &l) in self.labels.iter().enumerate() {
            if let Some(members) = by_class.get_mut(l) {
                members.push(i);
            }
        }
        for mut members in by_class {
            rng.shuffle(&mut members);
            let n_test = (members.len() as f64 * test_fraction).round() as usize;
            for &i in &members[..n_test] {
                is_test[i] = true;
            }
        }
        let train: Vec<usize> = (0..self.len()).filter(|&i| !is_test[i]).collect();
        let test: Vec<usize> = (0..self.len()).filter(|&i| is_test[i]).collect();
        (self.subset(&train), self.subset(&test))
    }

    /// How many samples each class has.
    ///
    /// ```
    /// let d = retrograd_nn::data::digits().unwrap();
    /// assert_eq!(d.class_counts().iter().sum::<usize>(), d.len());
    /// ```
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }
}

/// An affine feature normalisation `(x - mean) / std`, fitted on training data and stored
/// with the model so that evaluation sees features exactly as training did.
///
/// `mean` and `std` hold either one value (the same for every feature, right for images)
/// or one value per feature (right for tables of unrelated columns).
///
/// ```
/// use retrograd_nn::data::{Dataset, Normalizer};
/// let d = Dataset::new("t", vec![1.0, 3.0, 5.0, 7.0], vec![0, 1], vec![2], 2).unwrap();
/// let n = Normalizer::fit_global(&d);
/// assert_eq!(n.mean, vec![4.0]);
/// let mut x = vec![4.0, 4.0];
/// n.apply(&mut x);
/// assert_eq!(x, vec![0.0, 0.0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Normalizer {
    /// Subtracted from each feature.
    pub mean: Vec<f32>,
    /// Each feature is divided by this (never zero).
    pub std: Vec<f32>,
}

impl Normalizer {
    /// One mean and standard deviation over all values of the data set.
    ///
    /// ```
    /// let d = retrograd_nn::data::digits().unwrap();
    /// let n = retrograd_nn::data::Normalizer::fit_global(&d);
    /// assert_eq!(n.mean.len(), 1);
    /// ```
    pub fn fit_global(data: &Dataset) -> Self {
        let n = data.features.len().max(1) as f64;
        let mean = data.features.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = data
            .features
            .iter()
            .map(|&x| (x as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        Normalizer {
            mean: vec![mean as f32],
            std: vec![safe_std(var)],
        }
    }

    /// A mean and standard deviation per feature (constant features get std 1).
    ///
    /// ```
    /// let d = retrograd_nn::data::digits().unwrap();
    /// let n = retrograd_nn::data::Normalizer::fit_per_feature(&d);
    /// assert_eq!(n.std.len(), 64);
    /// ```
    pub fn fit_per_feature(data: &Dataset) -> Self {
        let f = data.feature_len();
        let n = data.len().max(1) as f64;
        let mut mean = vec![0.0f64; f];
        for i in 0..data.len() {
            for (m, &x) in mean.iter_mut().zip(data.sample(i)) {
                *m += x as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0f64; f];
        for i in 0..data.len() {
            for ((v, &x), m) in var.iter_mut().zip(data.sample(i)).zip(&mean) {
                *v += (x as f64 - m).powi(2);
            }
        }
        Normalizer {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: var.iter().map(|&v| safe_std(v / n)).collect(),
        }
    }

    /// Normalises `features` in place: a whole batch, sample after sample.
    ///
    /// ```
    /// let n = retrograd_nn::data::Normalizer { mean: vec![1.0, 2.0], std: vec![2.0, 4.0] };
    /// let mut x = vec![3.0, 6.0, 1.0, 2.0];
    /// n.apply(&mut x);
    /// assert_eq!(x, vec![1.0, 1.0, 0.0, 0.0]);
    /// ```
    pub fn apply(&self, features: &mut [f32]) {
        let k = self.mean.len();
        for (i, x) in features.iter_mut().enumerate() {
            let j = i % k;
            *x = (*x - self.mean[j]) / self.std[j];
        }
    }

    /// Normalises every sample of a data set.
    ///
    /// ```
    /// use retrograd_nn::data::{digits, Normalizer};
    /// let mut d = digits().unwrap();
    /// let n = Normalizer::fit_global(&d);
    /// n.apply_to(&mut d);
    /// let mean: f32 = d.features.iter().sum::<f32>() / d.features.len() as f32;
    /// assert!(mean.abs() < 1e-3);
    /// ```
    pub fn apply_to(&self, data: &mut Dataset) {
        if self.mean.len() > 1 {
            assert_eq!(self.mean.len(), data.feature_len(), "normaliser size");
        }
        self.apply(&mut data.features);
    }
}

fn safe_std(var: f64) -> f32 {
    let s = var.sqrt() as f32;
    if s > 1e-6 {
        s
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stratified_and_deterministic() {
        let d = digits().unwrap();
        let (tr1, te1) = d.stratified_split(0.2, SPLIT_SEED);
        let (tr2, te2) = d.stratified_split(0.2, SPLIT_SEED);
        assert_eq!(tr1, tr2);
        assert_eq!(te1, te2);
        for (all, test) in d.class_counts().iter().zip(te1.class_counts()) {
            assert_eq!(test, (*all as f64 * 0.2).round() as usize);
        }
        let (_, other) = d.stratified_split(0.2, SPLIT_SEED + 1);
        assert_ne!(other.labels, te1.labels);
    }

    #[test]
    fn split_draws_as_a_scan_per_class_does() {
        // The split as first written: a scan of all labels per class, in class order.
        let d = digits().unwrap();
        let mut rng = Rng::new(SPLIT_SEED);
        let mut is_test = vec![false; d.len()];
        for class in 0..d.num_classes {
            let mut members: Vec<usize> = (0..d.len()).filter(|&i| d.labels[i] == class).collect();
            rng.shuffle(&mut members);
            let n_test = (members.len() as f64 * 0.2).round() as usize;
            for &i in &members[..n_test] {
                is_test[i] = true;
            }
        }
        let test: Vec<usize> = (0..d.len()).filter(|&i| is_test[i]).collect();
        assert_eq!(d.stratified_split(0.2, SPLIT_SEED).1, d.subset(&test));
    }

    #[test]
    fn per_feature_normaliser_standardises_columns() {
        let d = Dataset::new("t", vec![0.0, 5.0, 2.0, 5.0], vec![0, 0], vec![2], 1).unwrap();
        let n = Normalizer::fit_per_feature(&d);
        assert_eq!(n.mean, vec![1.0, 5.0]);
        assert_eq!(n.std, vec![1.0, 1.0]); // constant column keeps std 1
        let mut x = d.features.clone();
        n.apply(&mut x);
        assert_eq!(x, vec![-1.0, 0.0, 1.0, 0.0]);
    }
}
