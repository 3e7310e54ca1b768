//! A Monte Carlo arithmetic basket call on correlated lognormal assets, with every delta
//! and vega by pathwise adjoints.
//!
//! Asset `i` ends at `Sᵢ(T) = Sᵢ·exp((r − σᵢ²/2)T + σᵢWᵢ)`, where `W = √T·L·z`, `L` is the
//! Cholesky factor of the correlation matrix and `z` a vector of independent standard
//! normals; the payoff `e^(−rT)·max(Σ wᵢSᵢ(T) − K, 0)` is averaged over the paths.
//!
//! Each path is recorded after a [`Mark`](crate::Mark) on a tape that holds only the 2N
//! inputs, swept at once and dropped ([`Recorder::sweep_and_reset`](crate::Recorder::sweep_and_reset)),
//! so memory does not grow with the number of paths. Paths are split into fixed chunks
//! spread over the current `rayon` pool, one tape per worker, in batches of a fixed number
//! of chunks; each path draws its own random numbers from `(seed, path index)`, and chunk
//! results are added in chunk order, so results do not depend on the number of threads.
//!
//! The payoff has a kink at `Σ wᵢSᵢ(T) = K`: each path's payoff is differentiable except on
//! a set of probability zero, and the average of the pathwise derivatives is an unbiased
//! estimate of the Greeks.

use super::check_input;
use crate::{preaccumulate, sum, Error, Real, Recorder, Tape, Var};
use num_traits::Float;
use rayon::prelude::*;
use std::ops::Range;

/// Paths per chunk of work: the unit handed to a thread and the unit of summation order.
const CHUNK_PATHS: usize = 256;
/// Chunks run in parallel before their results are added, in order, to the totals: this
/// bounds the memory held by partial results, whatever the number of paths.
const CHUNKS_PER_BATCH: usize = 64;

/// How many paths to simulate and from which seed.
///
/// ```
/// let sim = retrograd::finance::basket::Simulation { paths: 10_000, seed: 1 };
/// assert_eq!(sim.paths, 10_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Simulation {
    /// Number of Monte Carlo paths (at least 1).
    pub paths: usize,
    /// Seed of the random numbers; path `p` draws from `(seed, p)` alone.
    pub seed: u64,
}

/// How [`Basket::greeks`] records each path.
///
/// ```
/// use retrograd::finance::basket::Recording;
/// assert_ne!(Recording::Operators, Recording::Preaccumulated);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recording {
    /// The generic payoff [`Basket::path_payoff`] run on `Var`s: every operation is a
    /// statement (8 per asset).
    Operators,
    /// Each asset's weighted terminal value `wᵢSᵢ(T)` is one statement with two
    /// operands (its local derivatives computed by forward-mode [`Dual`](crate::Dual)
    /// numbers, see [`preaccumulate`]), and the basket sum one statement.
    Preaccumulated,
}

/// A Monte Carlo price and its derivatives with respect to every spot and volatility.
///
/// ```
/// use retrograd::finance::basket::BasketGreeks;
/// let g = BasketGreeks { price: 1.0, deltas: vec![0.5], vegas: vec![20.0] };
/// assert_eq!(g.deltas.len(), g.vegas.len());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BasketGreeks {
    /// The option's value.
    pub price: f64,
    /// `∂V/∂Sᵢ` for each asset.
    pub deltas: Vec<f64>,
    /// `∂V/∂σᵢ` for each asset.
    pub vegas: Vec<f64>,
}

/// A European call on a weighted sum of correlated lognormal assets.
///
/// ```
/// use retrograd::finance::basket::{Basket, Recording, Simulation};
/// let corr = [1.0, 0.5, 0.5, 1.0];
/// let basket = Basket::new(&[100.0, 50.0], &[0.2, 0.3], &[0.5, 1.0], &corr, 100.0, 0.02, 1.0)?;
/// let sim = Simulation { paths: 4_000, seed: 7 };
/// let g = basket.greeks(&sim, Recording::Preaccumulated)?;
/// assert!((g.price - basket.price(&sim)?).abs() < 1e-9);
/// assert!(g.deltas.iter().all(|&d| d > 0.0));
/// # Ok::<(), retrograd::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Basket {
    spots: Vec<f64>,
    vols: Vec<f64>,
    weights: Vec<f64>,
    /// The Cholesky factor `L` of the correlation matrix, by columns (`n × n`, zero above
    /// the diagonal), so that `L·z` is a sequence of vectorisable `x += zⱼ·L[:, j]`.
    factor: Vec<f64>,
    strike: f64,
    rate: f64,
    maturity: f64,
}

impl Basket {
    /// A basket option: one spot, volatility and weight per asset, the `n × n` correlation
    /// matrix by rows, the strike, the rate and the maturity in years.
    ///
    /// Fails when the lengths disagree, a number is not finite, a spot, volatility, strike
    /// or maturity is not positive, or the correlation matrix is not symmetric with a unit
    /// diagonal and positive definite.
    ///
    /// ```
    /// use retrograd::finance::basket::Basket;
    /// let not_pd = [1.0, 1.5, 1.5, 1.0];
    /// let err = Basket::new(&[1.0, 1.0], &[0.2, 0.2], &[1.0, 1.0], &not_pd, 2.0, 0.0, 1.0).unwrap_err();
    /// assert!(err.to_string().contains("not positive definite"));
    /// ```
    pub fn new(
        spots: &[f64],
        vols: &[f64],
        weights: &[f64],
        correlation: &[f64],
        strike: f64,
        rate: f64,
        maturity: f64,
    ) -> Result<Self, Error> {
        let n = spots.len();
        if n == 0 {
            return Err(Error::InvalidInput(
                "a basket needs at least one asset".into(),
            ));
        }
        crate::error::check_len(|| "Basket::new: vols (one per asset)".into(), n, vols.len())?;
        crate::error::check_len(
            || "Basket::new: weights (one per asset)".into(),
            n,
            weights.len(),
        )?;
        crate::error::check_len(
            || "Basket::new: correlation (n × n, by rows)".into(),
            n * n,
            correlation.len(),
        )?;
        for i in 0..n {
            check_input(&format!("spot {i}"), spots[i], true)?;
            check_input(&format!("vol {i}"), vols[i], true)?;
            check_input(&format!("weight {i}"), weights[i], false)?;
        }
        check_input("strike", strike, true)?;
        check_input("rate", rate, false)?;
        check_input("maturity", maturity, true)?;
        Ok(Basket {
            spots: spots.to_vec(),
            vols: vols.to_vec(),
            weights: weights.to_vec(),
            factor: cholesky_by_columns(correlation, n)?,
            strike,
            rate,
            maturity,
        })
    }

    /// The number of assets.
    ///
    /// ```
    /// let b = retrograd::finance::basket::Basket::new(&[1.0], &[0.2], &[1.0], &[1.0], 1.0, 0.0, 1.0)?;
    /// assert_eq!(b.assets(), 1);
    /// # Ok::<(), retrograd::Error>(())
    /// ```
    pub fn assets(&self) -> usize {
        self.spots.len()
    }

    /// The discounted payoff of one path, for any [`Real`] type, given the spots, the
    /// volatilities and the terminal values `Wᵢ` of the correlated Brownian motions
    /// (`W = √T·L·z`).
    ///
    /// ```
    /// use retrograd::finance::basket::Basket;
    /// let b = Basket::new(&[100.0], &[0.2], &[1.0], &[1.0], 90.0, 0.0, 1.0)?;
    /// // W = σT/2 makes the growth factor exactly 1: the payoff is 100 − 90.
    /// let payoff: f64 = b.path_payoff(&[100.0], &[0.2], &[0.1]);
    /// assert!((payoff - 10.0).abs() < 1e-12);
    /// # Ok::<(), retrograd::Error>(())
    /// ```
    pub fn path_payoff<T: Real>(&self, spots: &[T], vols: &[T], brownian: &[f64]) -> T {
        let (rate_t, half_t) = (self.rate * self.maturity, 0.5 * self.maturity);
        let mut basket = T::zero();
        for i in 0..self.assets() {
            let v = vols[i];
            // ln(Sᵢ(T)/Sᵢ) = rT − σᵢ²T/2 + σᵢWᵢ
            let log_growth =
                v * (T::from_f64(brownian[i]) - T::from_f64(half_t) * v) + T::from_f64(rate_t);
            basket += T::from_f64(self.weights[i]) * spots[i] * log_growth.exp();
        }
        (basket - T::from_f64(self.strike)).max(T::zero()) * T::from_f64(self.discount())
    }

    /// [`Basket::path_payoff`] on the tape with one statement per asset
    /// ([`Recording::Preaccumulated`]); `terms` is scratch space.
    fn path_payoff_preaccumulated(
        &self,
        spots: &[Var],
        vols: &[Var],
        brownian: &[f64],
        terms: &mut Vec<Var>,
    ) -> Var {
        let (rate_t, half_t) = (self.rate * self.maturity, 0.5 * self.maturity);
        terms.clear();
        for i in 0..self.assets() {
            let (w, b) = (self.weights[i], brownian[i]);
            let [term] = preaccumulate([spots[i], vols[i]], |[s, v]| {
                [w * s * (v * (b - half_t * v) + rate_t).exp()]
            });
            terms.push(term);
        }
        (sum(terms) - self.strike).max(Var::constant(0.0)) * self.discount()
    }

    fn discount(&self) -> f64 {
        (-self.rate * self.maturity).exp()
    }

    /// Writes the terminal Brownian values `W = √T·L·z` of path `path` into `brownian`,
    /// using `normals` as scratch.
    fn brownian(&self, seed: u64, path: usize, normals: &mut [f64], brownian: &mut [f64]) {
        let n = self.assets();
        PathNormals::new(seed, path as u64).fill(normals);
        let sqrt_t = self.maturity.sqrt();
        brownian.fill(0.0);
        for (j, column) in self.factor.chunks_exact(n).enumerate() {
            let zj = sqrt_t * normals[j];
            for (w, &l) in brownian[j..].iter_mut().zip(&column[j..]) {
                *w += l * zj;
            }
        }
    }

    /// The Monte Carlo price in `f64`, for the basket's spots and volatilities.
    ///
    /// ```
    /// use retrograd::finance::basket::{Basket, Simulation};
    /// let b = Basket::new(&[100.0], &[0.2], &[1.0], &[1.0], 100.0, 0.05, 1.0)?;
    /// let p = b.price(&Simulation { paths: 20_000, seed: 3 })?;
    /// assert!((p - 10.4506).abs() < 0.3); // the Black–Scholes price, within sampling error
    /// # Ok::<(), retrograd::Error>(())
    /// ```
    pub fn price(&self, sim: &Simulation) -> Result<f64, Error> {
        check_paths(sim)?;
        Ok(self.price_at(&self.spots, &self.vols, sim))
    }

    /// The Monte Carlo price for the given spots and volatilities (the bumped prices of
    /// [`Basket::greeks_by_bumping`] reuse the same random numbers).
    fn price_at(&self, spots: &[f64], vols: &[f64], sim: &Simulation) -> f64 {
        let n = self.assets();
        let mut total = 0.0;
        for batch in batches(sim.paths) {
            let sums: Vec<f64> = batch
                .into_par_iter()
                .map(|range| {
                    let (mut normals, mut brownian) = (vec![0.0; n], vec![0.0; n]);
                    range
                        .map(|path| {
                            self.brownian(sim.seed, path, &mut normals, &mut brownian);
                            self.path_payoff(spots, vols, &brownian)
                        })
                        .sum::<f64>()
                })
                .collect();
            sums.iter().for_each(|s| total += s);
        }
        total / sim.paths as f64
    }

    /// The price and every delta and vega by pathwise adjoints: each path is recorded,
    /// swept in reverse and dropped, and the adjoints of the 2N inputs accumulate.
    ///
    /// ```
    /// use retrograd::finance::basket::{Basket, Recording, Simulation};
    /// let b = Basket::new(&[100.0], &[0.2], &[1.0], &[1.0], 100.0, 0.05, 1.0)?;
    /// let g = b.greeks(&Simulation { paths: 20_000, seed: 3 }, Recording::Operators)?;
    /// assert!((g.deltas[0] - 0.6368).abs() < 0.02); // Black–Scholes delta N(d₁)
    /// # Ok::<(), retrograd::Error>(())
    /// ```
    pub fn greeks(&self, sim: &Simulation, recording: Recording) -> Result<BasketGreeks, Error> {
        check_paths(sim)?;
        let n = self.assets();
        let mut greeks = BasketGreeks {
            price: 0.0,
            deltas: vec![0.0; n],
            vegas: vec![0.0; n],
        };
        for batch in batches(sim.paths) {
            let parts: Vec<(f64, Vec<f64>, Vec<f64>)> = batch
                .into_par_iter()
                .map_init(Tape::new, |tape, range| {
                    tape.clear();
                    tape.record(|rec| self.record_paths(rec, sim.seed, range, recording))
                })
                .collect();
            for (total, deltas, vegas) in parts {
                greeks.price += total;
                add_into(&mut greeks.deltas, &deltas);
                add_into(&mut greeks.vegas, &vegas);
            }
        }
        let scale = 1.0 / sim.paths as f64;
        greeks.price *= scale;
        greeks.deltas.iter_mut().for_each(|d| *d *= scale);
        greeks.vegas.iter_mut().for_each(|v| *v *= scale);
        Ok(greeks)
    }

    /// Records, sweeps and drops the paths of `range` one by one: returns the sum of their
    /// payoffs and the sums of their derivatives in the spots and in the volatilities.
    fn record_paths(
        &self,
        rec: &Recorder<'_, f64>,
        seed: u64,
        range: Range<usize>,
        recording: Recording,
    ) -> (f64, Vec<f64>, Vec<f64>) {
        let n = self.assets();
        let spots = rec.inputs(&self.spots);
        let vols = rec.inputs(&self.vols);
        let mut adjoints = rec.adjoints();
        let (mut normals, mut brownian) = (vec![0.0; n], vec![0.0; n]);
        let mut terms = Vec::with_capacity(n);
        let mut total = 0.0;
        for path in range {
            self.brownian(seed, path, &mut normals, &mut brownian);
            let mark = rec.mark();
            let payoff = match recording {
                Recording::Operators => self.path_payoff(&spots, &vols, &brownian),
                Recording::Preaccumulated => {
                    self.path_payoff_preaccumulated(&spots, &vols, &brownian, &mut terms)
                }
            };
            total += payoff.value();
            rec.sweep_and_reset(mark, &[(payoff, 1.0)], &mut adjoints);
        }
        (total, adjoints.wrt_all(&spots), adjoints.wrt_all(&vols))
    }

    /// The price and every delta and vega by bump-and-revalue: central differences with
    /// the same random numbers, `2N + 1` pricings. Input `x` is bumped by
    /// `± relative_step·x`.
    ///
    /// ```
    /// use retrograd::finance::basket::{Basket, Recording, Simulation};
    /// let b = Basket::new(&[100.0], &[0.2], &[1.0], &[1.0], 100.0, 0.05, 1.0)?;
    /// let sim = Simulation { paths: 2_000, seed: 3 };
    /// let (ad, fd) = (b.greeks(&sim, Recording::Operators)?, b.greeks_by_bumping(&sim, 1e-6)?);
    /// assert!((ad.vegas[0] - fd.vegas[0]).abs() < 1e-5 * ad.vegas[0]);
    /// # Ok::<(), retrograd::Error>(())
    /// ```
    pub fn greeks_by_bumping(
        &self,
        sim: &Simulation,
        relative_step: f64,
    ) -> Result<BasketGreeks, Error> {
        check_paths(sim)?;
        check_input("relative_step", relative_step, true)?;
        let n = self.assets();
        let (spots, vols) = (&self.spots, &self.vols);
        Ok(BasketGreeks {
            price: self.price_at(spots, vols, sim),
            deltas: (0..n)
                .map(|i| {
                    central_difference(spots, i, relative_step, |s| self.price_at(s, vols, sim))
                })
                .collect(),
            vegas: (0..n)
                .map(|i| {
                    central_difference(vols, i, relative_step, |v| self.price_at(spots, v, sim))
                })
                .collect(),
        })
    }
}

/// The central difference of `price` in entry `i` of `x`, with step `relative_step·xᵢ`
/// (divided by the distance between the bumped values as rounded).
fn central_difference(
    x: &[f64],
    i: usize,
    relative_step: f64,
    price: impl Fn(&[f64]) -> f64,
) -> f64 {
    let h = relative_step * x[i];
    let (above, below) = (x[i] + h, x[i] - h);
    let mut bumped = x.to_vec();
    bumped[i] = above;
    let up = price(&bumped);
    bumped[i] = below;
    let down = price(&bumped);
    (up - down) / (above - below)
}

fn check_paths(sim: &Simulation) -> Result<(), Error> {
    if sim.paths == 0 {
        return Err(Error::InvalidInput(
            "a simulation of 0 paths; at least 1 is needed".into(),
        ));
    }
    Ok(())
}

/// The paths `0..paths` in consecutive chunks of [`CHUNK_PATHS`], grouped in batches of
/// [`CHUNKS_PER_BATCH`] chunks.
fn batches(paths: usize) -> impl Iterator<Item = Vec<Range<usize>>> {
    let batch_paths = CHUNK_PATHS * CHUNKS_PER_BATCH;
    (0..paths).step_by(batch_paths).map(move |first| {
        (first..(first + batch_paths).min(paths))
            .step_by(CHUNK_PATHS)
            .map(|start| start..(start + CHUNK_PATHS).min(paths))
            .collect()
    })
}

fn add_into(total: &mut [f64], part: &[f64]) {
    total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
}

/// The lower Cholesky factor of a correlation matrix given by rows, returned by columns.
fn cholesky_by_columns(correlation: &[f64], n: usize) -> Result<Vec<f64>, Error> {
    let c = |i: usize, j: usize| correlation[i * n + j];
    for i in 0..n {
        check_input(&format!("correlation[{i}][{i}]"), c(i, i), false)?;
        if c(i, i) != 1.0 {
            return Err(Error::InvalidInput(format!(
                "correlation[{i}][{i}] is {}; a correlation matrix has a unit diagonal",
                c(i, i)
            )));
        }
        for j in 0..i {
            check_input(&format!("correlation[{i}][{j}]"), c(i, j), false)?;
            if c(i, j) != c(j, i) {
                return Err(Error::InvalidInput(format!(
                    "correlation[{i}][{j}] = {} but correlation[{j}][{i}] = {}; the matrix must be symmetric",
                    c(i, j),
                    c(j, i)
                )));
            }
        }
    }
    // factor[j * n + i] = L[i][j]
    let mut factor = vec![0.0_f64; n * n];
    for j in 0..n {
        let pivot = c(j, j) - (0..j).map(|k| factor[k * n + j].powi(2)).sum::<f64>();
        if pivot.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err(Error::InvalidInput(format!(
                "the correlation matrix is not positive definite (pivot {pivot} at row {j})"
            )));
        }
        let diagonal = pivot.sqrt();
        factor[j * n + j] = diagonal;
        for i in j + 1..n {
            let dot: f64 = (0..j).map(|k| factor[k * n + i] * factor[k * n + j]).sum();
            factor[j * n + i] = (c(i, j) - dot) / diagonal;
        }
    }
    Ok(factor)
}

/// Standard normal numbers for one path: a xorshift64* generator seeded from
/// `(seed, path)` by SplitMix64, and the Box–Muller transform.
struct PathNormals(u64);

impl PathNormals {
    fn new(seed: u64, path: u64) -> Self {
        let mut z = seed ^ path.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // xorshift needs a nonzero state.
        PathNormals(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    /// A uniform number in (0, 1): never 0, so its logarithm is finite.
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn fill(&mut self, out: &mut [f64]) {
        for pair in out.chunks_mut(2) {
            let (u, v) = (self.uniform(), self.uniform());
            let r = (-2.0 * u.ln()).sqrt();
            let (s, c) = (std::f64::consts::TAU * v).sin_cos();
            pair[0] = r * c;
            if let Some(second) = pair.get_mut(1) {
                *second = r * s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_reproduces_the_correlation() {
        let corr = [1.0, 0.3, 0.1, 0.3, 1.0, -0.2, 0.1, -0.2, 1.0];
        let l = cholesky_by_columns(&corr, 3).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let llt: f64 = (0..3).map(|k| l[k * 3 + i] * l[k * 3 + j]).sum();
                assert!((llt - corr[i * 3 + j]).abs() < 1e-15);
            }
        }
    }

    #[test]
    fn the_normals_have_unit_variance() {
        let mut z = vec![0.0; 7];
        let (mut mean, mut square) = (0.0, 0.0);
        for path in 0..20_000 {
            PathNormals::new(5, path).fill(&mut z);
            mean += z.iter().sum::<f64>();
            square += z.iter().map(|x| x * x).sum::<f64>();
        }
        let count = 7.0 * 20_000.0;
        assert!((mean / count).abs() < 0.01);
        assert!((square / count - 1.0).abs() < 0.02);
    }
}
