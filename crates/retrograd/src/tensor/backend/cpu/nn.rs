//! Softmax and the fused cross-entropy kernels (one row at a time), and batch
//! normalisation (one channel at a time).

use super::math::{vectorized, FastMath};
use super::pool;
use super::strided::parallel;
use crate::tensor::error::{invalid, Result};
use crate::tensor::{Element, FloatElement};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Row maxima (0 for rows without a finite maximum, so that they stay NaN/inf-faithful),
/// and `e^(x - max)` for every element in one flat pass (short rows would leave the vector
/// units idle if exponentiated row by row).
fn shifted_exp<T: FastMath>(x: &[T], row: usize) -> (Vec<T>, Vec<T>) {
    let maxima: Vec<T> = x
        .chunks(row)
        .map(|src| {
            let m = src.iter().fold(T::neg_infinity(), |a, &b| a.max(b));
            if m.is_finite() {
                m
            } else {
                T::zero()
            }
        })
        .collect();
    let mut e = super::pool::take(x.len());
    for (src, &m) in x.chunks(row).zip(&maxima) {
        e.extend(src.iter().map(|&v| v - m));
    }
    vectorized(
        #[inline(always)]
        || {
            for v in e.iter_mut() {
                *v = v.exp_v();
            }
        },
    );
    (maxima, e)
}

pub(crate) fn softmax<T: FastMath>(x: &[T], row: usize, log: bool) -> Vec<T> {
    if row == 0 || x.is_empty() {
        return super::pool::filled(x.len(), T::zero());
    }
    let (maxima, mut out) = shifted_exp(x, row);
    for ((dst, src), &m) in out.chunks_mut(row).zip(x.chunks(row)).zip(&maxima) {
        let sum = dst.iter().fold(T::zero(), |a, &b| a + b);
        if log {
            let lse = sum.ln_v();
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = s - m - lse;
            }
        } else {
            let inv = T::one() / sum;
            for d in dst.iter_mut() {
                *d *= inv;
            }
        }
    }
    out
}

fn target(t: i64, classes: usize) -> Result<usize> {
    if t < 0 || t as usize >= classes {
        return Err(invalid(
            "cross_entropy",
            format!("target {t} out of range for {classes} classes"),
        ));
    }
    Ok(t as usize)
}

pub(crate) fn cross_entropy<T: FastMath>(x: &[T], classes: usize, t: &[i64]) -> Result<Vec<T>> {
    for &ti in t {
        target(ti, classes)?;
    }
    if classes == 0 {
        return Ok(Vec::new());
    }
    let (maxima, e) = shifted_exp(x, classes);
    let out = e
        .chunks(classes)
        .zip(x.chunks(classes))
        .zip(maxima.iter().zip(t))
        .map(|((row, src), (&m, &ti))| {
            let sum = row.iter().fold(T::zero(), |a, &b| a + b);
            m + sum.ln_v() - src[ti as usize]
        })
        .collect();
    super::pool::give(e);
    Ok(out)
}

pub(crate) fn cross_entropy_backward<T: FastMath>(
    x: &[T],
    classes: usize,
    t: &[i64],
    g: &[T],
) -> Result<Vec<T>> {
    let mut out = softmax(x, classes, false);
    for ((row, &ti), &gi) in out.chunks_mut(classes).zip(t).zip(g) {
        let ti = target(ti, classes)?;
        row[ti] -= T::one();
        for v in row.iter_mut() {
            *v *= gi;
        }
    }
    Ok(out)
}

/// Sizes of a batch-normalisation input viewed as `(N, C, S)`: batch, channels, and the
/// product of the remaining (spatial) dims. Channels of spatial inputs are walked plane by
/// plane (`S` contiguous values); `(N, C)` inputs (`S = 1`) row by row, vectorised across
/// channels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Planes {
    pub(crate) n: usize,
    pub(crate) c: usize,
    pub(crate) s: usize,
}

impl Planes {
    /// Values per channel.
    fn count(&self) -> f64 {
        (self.n * self.s) as f64
    }

    /// Per channel `ch`, `Σ f(a_i, b_i, centre[ch])` over the channel's values in `a` and
    /// `b`, for each of the `K` components of `f` (summed in `f64`).
    fn channel_sums<T: FloatElement, const K: usize>(
        &self,
        a: &[T],
        b: &[T],
        centre: &[T],
        f: impl Fn(T, T, T) -> [T; K] + Sync + Send,
    ) -> Vec<[f64; K]> {
        let Planes { n, c, s } = *self;
        if s == 1 {
            let mut acc = vec![[0.0f64; K]; c];
            vectorized(
                #[inline(always)]
                || {
                    for (ra, rb) in a.chunks_exact(c).zip(b.chunks_exact(c)) {
                        for (((t, &u), &v), &m) in acc.iter_mut().zip(ra).zip(rb).zip(centre) {
                            let r = f(u, v, m);
                            for k in 0..K {
                                t[k] += Element::to_f64(r[k]);
                            }
                        }
                    }
                },
            );
            return acc;
        }
        let channel = |ch: usize| {
            let mut total = [0.0; K];
            for i in 0..n {
                let at = (i * c + ch) * s;
                let m = centre[ch];
                let part = sums(&a[at..at + s], &b[at..at + s], &|u, v| f(u, v, m));
                for k in 0..K {
                    total[k] += part[k];
                }
            }
            total
        };
        if parallel(n * c * s) {
            (0..c).into_par_iter().map(channel).collect()
        } else {
            (0..c).map(channel).collect()
        }
    }

    /// A new buffer of `f(a_i, b_i, coef[ch])` for every value, `ch` its channel.
    fn map<T: FloatElement, C: Copy + Send + Sync>(
        &self,
        a: &[T],
        b: &[T],
        coef: &[C],
        f: impl Fn(T, T, C) -> T + Sync + Send,
    ) -> Vec<T> {
        let Planes { n, c, s } = *self;
        // Every element is written only if there is a coefficient for every channel and
        // values for every element: checked, not assumed (the loops below zip).
        assert!(
            coef.len() == c && a.len() == n * c * s && b.len() == a.len(),
            "batch_norm kernel: {} and {} values and {} coefficients for {self:?}",
            a.len(),
            b.len(),
            coef.len()
        );
        // SAFETY: with the lengths asserted above, `out` is `n` rows of `c·s`, each written
        // whole: channel by channel (`s` values each, all `c` coefficients) or, for `s == 1`,
        // one value per coefficient; with `s == 0` or `c == 0` it is empty.
        unsafe {
            pool::build(n * c * s, |out| {
                if s == 0 || c == 0 {
                    return;
                }
                let row = c * s;
                let fill = |(i, dst): (usize, &mut [MaybeUninit<T>])| {
                    let (ra, rb) = (&a[i * row..][..row], &b[i * row..][..row]);
                    vectorized(
                        #[inline(always)]
                        || {
                            if s == 1 {
                                for (((o, &u), &v), &k) in dst.iter_mut().zip(ra).zip(rb).zip(coef)
                                {
                                    o.write(f(u, v, k));
                                }
                                return;
                            }
                            for (ch, &k) in coef.iter().enumerate() {
                                let at = ch * s..(ch + 1) * s;
                                for ((o, &u), &v) in
                                    dst[at.clone()].iter_mut().zip(&ra[at.clone()]).zip(&rb[at])
                                {
                                    o.write(f(u, v, k));
                                }
                            }
                        },
                    )
                };
                if parallel(out.len()) {
                    out.par_chunks_mut(row).enumerate().for_each(fill);
                } else {
                    out.chunks_mut(row).enumerate().for_each(fill);
                }
            })
        }
    }
}

/// `Σ f(a_i, b_i)` for each of the `K` (at most 2) components of `f`, one sweep per
/// component (the later sweeps read from L1: callers pass a plane at a time).
#[inline(always)]
fn sums<T: FloatElement, const K: usize>(
    a: &[T],
    b: &[T],
    f: &impl Fn(T, T) -> [T; K],
) -> [f64; K] {
    const { assert!(K <= 2, "sums takes at most two components") };
    std::array::from_fn(|k| match k {
        0 => component_sum::<T, K, 0>(a, b, f),
        _ => component_sum::<T, K, 1>(a, b, f),
    })
}

/// `Σ f(a_i, b_i)[I]` in 16 interleaved lanes, added in `f64` at the end. The component is
/// a constant so that the loop vectorises across the lanes: with the components of `f`
/// accumulated together the compiler pairs them up instead and leaves the lanes scalar.
#[inline(always)]
fn component_sum<T: FloatElement, const K: usize, const I: usize>(
    a: &[T],
    b: &[T],
    f: &impl Fn(T, T) -> [T; K],
) -> f64 {
    const LANES: usize = 16;
    vectorized(
        #[inline(always)]
        || {
            let mut lanes = [T::zero(); LANES];
            let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
            let (ra, rb) = (ca.remainder(), cb.remainder());
            for (u, v) in ca.zip(cb) {
                for j in 0..LANES {
                    lanes[j] += f(u[j], v[j])[I];
                }
            }
            // The tail apart: indexing the lanes by a variable would keep them in memory.
            let tail: f64 = ra
                .iter()
                .zip(rb)
                .map(|(&u, &v)| Element::to_f64(f(u, v)[I]))
                .sum();
            lanes.iter().map(|&v| Element::to_f64(v)).sum::<f64>() + tail
        },
    )
}

/// Training-mode batch normalisation of a contiguous `(N, C, S)` buffer: per channel, the
/// mean and then the biased variance (two passes, so no cancellation), then
/// `y = (x - mean) / sqrt(var + eps) · weight + bias` in a third. Returns `(y, mean, var)`.
pub(crate) fn batch_norm<T: FloatElement>(
    x: &[T],
    d: Planes,
    weight: Option<&[T]>,
    bias: Option<&[T]>,
    eps: f64,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let zeros = vec![T::zero(); d.c];
    let mean: Vec<f64> = d
        .channel_sums(x, x, &zeros, |u, _, _| [u])
        .iter()
        .map(|t| t[0] / d.count())
        .collect();
    let centre: Vec<T> = mean.iter().map(|&m| T::from_f64(m)).collect();
    let var: Vec<f64> = d
        .channel_sums(x, x, &centre, |u, _, m| [(u - m) * (u - m)])
        .iter()
        .map(|t| t[0] / d.count())
        .collect();
    // y = (x - mean)·a + b per channel.
    let coef: Vec<(T, T, T)> = (0..d.c)
        .map(|ch| {
            let a = weight.map_or(1.0, |w| Element::to_f64(w[ch])) / (var[ch] + eps).sqrt();
            let b = bias.map_or(0.0, |b| Element::to_f64(b[ch]));
            (centre[ch], T::from_f64(a), T::from_f64(b))
        })
        .collect();
    let y = d.map(x, x, &coef, |u, _, (m, a, b)| (u - m) * a + b);
    (y, centre, var.into_iter().map(T::from_f64).collect())
}

/// The gradients of [`batch_norm`] given the output gradient `gy`. Per channel, one pass
/// sums `Σ gy` (the bias gradient) and `Σ gy·(x - mean)`; with `invstd = 1/sqrt(var + eps)`
/// the weight gradient is `invstd · Σ gy·(x - mean)`, and a second pass (skipped unless
/// `input_grad`) writes the input gradient
/// `weight · invstd · (gy - Σ gy / M - (x - mean) · invstd² · Σ gy·(x - mean) / M)`,
/// `M` values per channel. Returns `(input gradient, weight gradient, bias gradient)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn batch_norm_backward<T: FloatElement>(
    x: &[T],
    gy: &[T],
    d: Planes,
    mean: &[T],
    var: &[T],
    weight: Option<&[T]>,
    eps: f64,
    input_grad: bool,
) -> (Option<Vec<T>>, Vec<T>, Vec<T>) {
    let totals = d.channel_sums(x, gy, mean, |u, g, m| [g, g * (u - m)]);
    let invstd: Vec<f64> = var
        .iter()
        .map(|&v| 1.0 / (Element::to_f64(v) + eps).sqrt())
        .collect();
    let gb = totals.iter().map(|t| T::from_f64(t[0])).collect();
    let gw = totals
        .iter()
        .zip(&invstd)
        .map(|(t, &is)| T::from_f64(t[1] * is))
        .collect();
    let gx = input_grad.then(|| {
        // gx = a·gy + k·(x - mean) + b per channel.
        let coef: Vec<(T, T, T, T)> = (0..d.c)
            .map(|ch| {
                let ([sg, sgx], is) = (totals[ch], invstd[ch]);
                let a = weight.map_or(1.0, |w| Element::to_f64(w[ch])) * is;
                (
                    mean[ch],
                    T::from_f64(a),
                    T::from_f64(-a * is * is * sgx / d.count()),
                    T::from_f64(-a * sg / d.count()),
                )
            })
            .collect();
        d.map(x, gy, &coef, |u, g, (m, a, k, b)| a * g + k * (u - m) + b)
    });
    (gx, gw, gb)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A per-channel map writes every element of a buffer that is never zeroed, so a
    /// coefficient missing for a channel is refused rather than leaving that channel's
    /// values uninitialised.
    #[test]
    #[should_panic(expected = "batch_norm kernel")]
    fn a_coefficient_per_channel_is_required() {
        let p = Planes { n: 2, c: 3, s: 4 };
        let a = vec![1.0f32; 24];
        p.map(&a, &a, &[1.0f32, 2.0], |u, v, k| u * v * k);
    }

    #[test]
    fn per_channel_map() {
        let p = Planes { n: 2, c: 3, s: 2 };
        let a: Vec<f64> = (0..12).map(f64::from).collect();
        let y = p.map(&a, &a, &[1.0, 10.0, 100.0], |u, _, k| u * k);
        assert_eq!(&y[..6], &[0.0, 1.0, 20.0, 30.0, 400.0, 500.0]);
        assert_eq!(y[11], 1100.0);
    }
}
