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
/// product of the remaining (spatial) dims.
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

    /// `stat(ch)` for every channel (threads over channels when the input is large).
    fn per_channel<R: Send>(&self, stat: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
        if parallel(self.n * self.c * self.s) {
            (0..self.c).into_par_iter().map(stat).collect()
        } else {
            (0..self.c).map(stat).collect()
        }
    }

    /// `Σ f(a_i, b_i)` over the planes of channel `ch` in `a` and `b` (see [`sums`]).
    fn channel_sums<T: FloatElement, const K: usize>(
        &self,
        a: &[T],
        b: &[T],
        ch: usize,
        f: impl Fn(T, T) -> [T; K],
    ) -> [f64; K] {
        let Planes { n, c, s } = *self;
        let mut total = [0.0; K];
        for i in 0..n {
            let at = (i * c + ch) * s;
            let part = sums(&a[at..at + s], &b[at..at + s], &f);
            for k in 0..K {
                total[k] += part[k];
            }
        }
        total
    }

    /// A new buffer written plane by plane: `f(channel, plane index, plane)`.
    fn build<T: Copy + Send + Sync + 'static>(
        &self,
        f: impl Fn(usize, usize, &mut [MaybeUninit<T>]) + Sync + Send,
    ) -> Vec<T> {
        let Planes { n, c, s } = *self;
        pool::build(n * c * s, |out| {
            if s == 0 {
                return;
            }
            if parallel(out.len()) {
                out.par_chunks_mut(s)
                    .enumerate()
                    .for_each(|(p, dst)| f(p % c, p, dst));
            } else {
                for (p, dst) in out.chunks_mut(s).enumerate() {
                    f(p % c, p, dst);
                }
            }
        })
    }
}

/// `Σ f(a_i, b_i)` for each of the `K` components of `f`, in 16 interleaved lanes (so that
/// the loop vectorises), the lanes added in `f64` at the end.
#[inline(always)]
fn sums<T: FloatElement, const K: usize>(
    a: &[T],
    b: &[T],
    f: &impl Fn(T, T) -> [T; K],
) -> [f64; K] {
    const LANES: usize = 16;
    vectorized(
        #[inline(always)]
        || {
            let mut acc = [[T::zero(); LANES]; K];
            let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
            let (ra, rb) = (ca.remainder(), cb.remainder());
            for (u, v) in ca.zip(cb) {
                for j in 0..LANES {
                    let r = f(u[j], v[j]);
                    for k in 0..K {
                        acc[k][j] += r[k];
                    }
                }
            }
            for (j, (&u, &v)) in ra.iter().zip(rb).enumerate() {
                let r = f(u, v);
                for k in 0..K {
                    acc[k][j] += r[k];
                }
            }
            acc.map(|lanes| lanes.iter().map(|&v| Element::to_f64(v)).sum())
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
    let mean = d.per_channel(|ch| d.channel_sums(x, x, ch, |u, _| [u])[0] / d.count());
    let var = d.per_channel(|ch| {
        let m = T::from_f64(mean[ch]);
        d.channel_sums(x, x, ch, |u, _| [(u - m) * (u - m)])[0] / d.count()
    });
    let scale: Vec<f64> = (0..d.c)
        .map(|ch| weight.map_or(1.0, |w| Element::to_f64(w[ch])) / (var[ch] + eps).sqrt())
        .collect();
    let y = d.build(|ch, p, dst| {
        let m = T::from_f64(mean[ch]);
        let a = T::from_f64(scale[ch]);
        let b = T::from_f64(bias.map_or(0.0, |b| Element::to_f64(b[ch])));
        let src = &x[p * d.s..][..d.s];
        vectorized(
            #[inline(always)]
            || {
                for (o, &v) in dst.iter_mut().zip(src) {
                    o.write((v - m) * a + b);
                }
            },
        )
    });
    let cast = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect();
    (y, cast(mean), cast(var))
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
    let sums = d.per_channel(|ch| {
        let m = mean[ch];
        d.channel_sums(x, gy, ch, |u, g| [g, g * (u - m)])
    });
    let invstd: Vec<f64> = var
        .iter()
        .map(|&v| 1.0 / (Element::to_f64(v) + eps).sqrt())
        .collect();
    let gb = sums.iter().map(|s| T::from_f64(s[0])).collect();
    let gw = sums
        .iter()
        .zip(&invstd)
        .map(|(s, &is)| T::from_f64(s[1] * is))
        .collect();
    let gx = input_grad.then(|| {
        d.build(|ch, p, dst| {
            let [sg, sgx] = sums[ch];
            let is = invstd[ch];
            let a = weight.map_or(1.0, |w| Element::to_f64(w[ch])) * is;
            let (m, a, k, b) = (
                mean[ch],
                T::from_f64(a),
                T::from_f64(-a * is * is * sgx / d.count()),
                T::from_f64(-a * sg / d.count()),
            );
            let (xs, gs) = (&x[p * d.s..][..d.s], &gy[p * d.s..][..d.s]);
            vectorized(
                #[inline(always)]
                || {
                    for ((o, &u), &g) in dst.iter_mut().zip(xs).zip(gs) {
                        o.write(a * g + k * (u - m) + b);
                    }
                },
            )
        })
    });
    (gx, gw, gb)
}
