//! Softmax and the fused cross-entropy kernels, one row at a time.

use super::math::{vectorized, FastMath};
use crate::tensor::error::{invalid, Result};

pub(crate) fn softmax<T: FastMath>(x: &[T], row: usize, log: bool) -> Vec<T> {
    let mut out = super::pool::filled(x.len(), T::zero());
    if row == 0 {
        return out;
    }
    vectorized(|| {
        for (src, dst) in x.chunks(row).zip(out.chunks_mut(row)) {
            let m = src.iter().fold(T::neg_infinity(), |a, &b| a.max(b));
            let m = if m.is_finite() { m } else { T::zero() };
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = (s - m).exp_v();
            }
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
    });
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
    let mut out = Vec::with_capacity(t.len());
    for &ti in t {
        target(ti, classes)?;
    }
    vectorized(|| {
        for (src, &ti) in x.chunks(classes).zip(t) {
            let m = src.iter().fold(T::neg_infinity(), |a, &b| a.max(b));
            let sum = src.iter().fold(T::zero(), |a, &v| a + (v - m).exp_v());
            out.push(m + sum.ln_v() - src[ti as usize]);
        }
    });
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
