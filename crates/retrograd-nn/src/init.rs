//! Weight initialisers (Kaiming/He and Xavier/Glorot), drawn from a seeded [`Rng`].
//!
//! `fan_in` is the number of inputs feeding one output unit (`in_features`, or
//! `in_channels · kh · kw` for a convolution), `fan_out` the number of outputs fed by one
//! input. Each function returns `n` values, to be shaped by the caller.

use crate::Rng;

/// A choice of initialiser, for layers that take one.
///
/// ```
/// use retrograd_nn::{init::Init, Rng};
/// let w = Init::XavierUniform.sample(6, 2, 1, &mut Rng::new(0));
/// assert!(w.iter().all(|x| x.abs() <= (6.0f32 / 3.0).sqrt()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// [`kaiming_uniform`].
    KaimingUniform,
    /// [`kaiming_normal`].
    KaimingNormal,
    /// [`xavier_uniform`].
    XavierUniform,
    /// [`xavier_normal`].
    XavierNormal,
}

impl Init {
    /// `n` values for a layer with the given fans.
    ///
    /// ```
    /// let w = retrograd_nn::init::Init::KaimingNormal.sample(4, 2, 2, &mut retrograd_nn::Rng::new(0));
    /// assert_eq!(w.len(), 4);
    /// ```
    pub fn sample(self, n: usize, fan_in: usize, fan_out: usize, rng: &mut Rng) -> Vec<f32> {
        match self {
            Init::KaimingUniform => kaiming_uniform(n, fan_in, rng),
            Init::KaimingNormal => kaiming_normal(n, fan_in, rng),
            Init::XavierUniform => xavier_uniform(n, fan_in, fan_out, rng),
            Init::XavierNormal => xavier_normal(n, fan_in, fan_out, rng),
        }
    }
}

/// Kaiming (He) uniform for ReLU networks: `U(-b, b)` with `b = √(6 / fan_in)`, variance
/// `2 / fan_in`.
///
/// ```
/// let mut rng = retrograd_nn::Rng::new(0);
/// let w = retrograd_nn::init::kaiming_uniform(1000, 50, &mut rng);
/// let b = (6.0f32 / 50.0).sqrt();
/// assert!(w.iter().all(|&x| x.abs() <= b));
/// ```
pub fn kaiming_uniform(n: usize, fan_in: usize, rng: &mut Rng) -> Vec<f32> {
    uniform(n, (6.0 / fan_in.max(1) as f64).sqrt(), rng)
}

/// Kaiming (He) normal: `N(0, 2 / fan_in)`.
///
/// ```
/// let mut rng = retrograd_nn::Rng::new(0);
/// let w = retrograd_nn::init::kaiming_normal(20_000, 8, &mut rng);
/// let var = w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32;
/// assert!((var - 0.25).abs() < 0.01);
/// ```
pub fn kaiming_normal(n: usize, fan_in: usize, rng: &mut Rng) -> Vec<f32> {
    normal(n, (2.0 / fan_in.max(1) as f64).sqrt(), rng)
}

/// Xavier (Glorot) uniform for tanh/sigmoid networks: `U(-b, b)` with
/// `b = √(6 / (fan_in + fan_out))`.
///
/// ```
/// let mut rng = retrograd_nn::Rng::new(0);
/// let w = retrograd_nn::init::xavier_uniform(100, 3, 3, &mut rng);
/// assert!(w.iter().all(|&x| x.abs() <= 1.0));
/// ```
pub fn xavier_uniform(n: usize, fan_in: usize, fan_out: usize, rng: &mut Rng) -> Vec<f32> {
    uniform(n, (6.0 / (fan_in + fan_out).max(1) as f64).sqrt(), rng)
}

/// Xavier (Glorot) normal: `N(0, 2 / (fan_in + fan_out))`.
///
/// ```
/// let mut rng = retrograd_nn::Rng::new(0);
/// let w = retrograd_nn::init::xavier_normal(20_000, 6, 2, &mut rng);
/// let var = w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32;
/// assert!((var - 0.25).abs() < 0.01);
/// ```
pub fn xavier_normal(n: usize, fan_in: usize, fan_out: usize, rng: &mut Rng) -> Vec<f32> {
    normal(n, (2.0 / (fan_in + fan_out).max(1) as f64).sqrt(), rng)
}

/// `n` values from `U(-bound, bound)`.
///
/// ```
/// let mut rng = retrograd_nn::Rng::new(1);
/// assert!(retrograd_nn::init::uniform(10, 0.5, &mut rng).iter().all(|x| x.abs() <= 0.5));
/// ```
pub fn uniform(n: usize, bound: f64, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|_| ((2.0 * rng.uniform() - 1.0) * bound) as f32)
        .collect()
}

/// `n` values from `N(0, std²)`.
///
/// ```
/// let mut rng = retrograd_nn::Rng::new(1);
/// assert_eq!(retrograd_nn::init::normal(10, 0.1, &mut rng).len(), 10);
/// ```
pub fn normal(n: usize, std: f64, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| (rng.normal() * std) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_weights() {
        let a = kaiming_uniform(50, 10, &mut Rng::new(3));
        let b = kaiming_uniform(50, 10, &mut Rng::new(3));
        let c = kaiming_uniform(50, 10, &mut Rng::new(4));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn uniform_variance_matches_kaiming() {
        let w = kaiming_uniform(40_000, 18, &mut Rng::new(9));
        let var = w.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / w.len() as f64;
        assert!((var - 2.0 / 18.0).abs() < 0.003, "{var}");
    }
}
