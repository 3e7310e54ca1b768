//! Softmax and the fused cross-entropy kernels, one row at a time.

use super::math::{vectorized, FastMath};
use crate::tensor::error::{invalid, Result};

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
    vectorized(|| {
        for v in e.iter_mut() {
            *v = v.exp_v();
        }
    });
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
