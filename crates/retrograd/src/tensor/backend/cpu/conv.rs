//! im2col/col2im and max pooling over `(N, C, H, W)` inputs.
//!
//! Each `(n, c)` plane is independent, so work is split across threads by plane when the
//! whole job is large enough. Within a plane, loops run over kernel taps outermost and
//! output columns innermost, over the range of columns whose input lies inside the image
//! (computed once per tap), so the inner loops have no bounds logic and, at stride 1, are
//! plain slice copies.

use super::strided::{is_nan, PAR_THRESHOLD};
use crate::tensor::backend::Conv2dGeometry;
use rayon::prelude::*;

/// Input row `o*s - p + k*d` of output row `o` and tap `k`, if inside `0..size`.
#[inline]
fn src_pos(o: usize, k: usize, s: usize, p: usize, d: usize, size: usize) -> Option<usize> {
    let i = (o * s + k * d).checked_sub(p)?;
    (i < size).then_some(i)
}

/// The outputs `lo..hi` whose input column `o*s + k*d - p` lies in `0..size`, and the
/// input column of `lo`.
#[inline]
fn valid_range(
    out: usize,
    k: usize,
    s: usize,
    p: usize,
    d: usize,
    size: usize,
) -> (usize, usize, usize) {
    let shift = k * d; // input = o*s + shift - p
    let lo = if shift >= p {
        0
    } else {
        (p - shift).div_ceil(s)
    };
    let hi = if size + p > shift {
        ((size + p - shift - 1) / s + 1).min(out)
    } else {
        0
    };
    let lo = lo.min(hi);
    (lo, hi, (lo * s + shift).saturating_sub(p))
}

fn planes<T: Send>(out: &mut [T], plane: usize, f: impl Fn((usize, &mut [T])) + Sync + Send) {
    if out.len() >= PAR_THRESHOLD && out.len() / plane.max(1) > 1 {
        out.par_chunks_mut(plane).enumerate().for_each(f);
    } else {
        out.chunks_mut(plane).enumerate().for_each(f);
    }
}

/// `(N, C, H, W)` (contiguous) to `(N, C·kh·kw, ho·wo)`.
pub(crate) fn unfold2d<T: Copy + Default + Send + Sync>(x: &[T], g: &Conv2dGeometry) -> Vec<T> {
    let (kk, l) = (g.kh * g.kw, g.ho * g.wo);
    let mut out = vec![T::default(); g.n * g.c * kk * l];
    let (sw, pw, dw) = (g.stride.1, g.padding.1, g.dilation.1);
    planes(&mut out, kk * l, |(nc, dst)| {
        let src = &x[nc * g.h * g.w..(nc + 1) * g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = &mut dst[(ki * g.kw + kj) * l..(ki * g.kw + kj + 1) * l];
                let (lo, hi, i0) = valid_range(g.wo, kj, sw, pw, dw, g.w);
                for oh in 0..g.ho {
                    let Some(ih) = src_pos(oh, ki, g.stride.0, g.padding.0, g.dilation.0, g.h)
                    else {
                        continue; // stays zero: padding
                    };
                    let seg = &mut row[oh * g.wo + lo..oh * g.wo + hi];
                    let src_row = &src[ih * g.w..(ih + 1) * g.w];
                    if sw == 1 {
                        seg.copy_from_slice(&src_row[i0..i0 + seg.len()]);
                    } else {
                        for (j, o) in seg.iter_mut().enumerate() {
                            *o = src_row[i0 + j * sw];
                        }
                    }
                }
            }
        }
    });
    out
}

/// The adjoint of [`unfold2d`]: scatters `(N, C·kh·kw, ho·wo)` back into `(N, C, H, W)`.
pub(crate) fn fold2d<T>(cols: &[T], g: &Conv2dGeometry) -> Vec<T>
where
    T: Copy + Default + Send + Sync + std::ops::AddAssign,
{
    let (kk, l) = (g.kh * g.kw, g.ho * g.wo);
    let mut out = vec![T::default(); g.n * g.c * g.h * g.w];
    let (sw, pw, dw) = (g.stride.1, g.padding.1, g.dilation.1);
    planes(&mut out, g.h * g.w, |(nc, dst)| {
        let src = &cols[nc * kk * l..(nc + 1) * kk * l];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = &src[(ki * g.kw + kj) * l..(ki * g.kw + kj + 1) * l];
                let (lo, hi, i0) = valid_range(g.wo, kj, sw, pw, dw, g.w);
                for oh in 0..g.ho {
                    let Some(ih) = src_pos(oh, ki, g.stride.0, g.padding.0, g.dilation.0, g.h)
                    else {
                        continue;
                    };
                    let seg = &row[oh * g.wo + lo..oh * g.wo + hi];
                    let dst_row = &mut dst[ih * g.w..(ih + 1) * g.w];
                    if sw == 1 {
                        for (d, &v) in dst_row[i0..i0 + seg.len()].iter_mut().zip(seg) {
                            *d += v;
                        }
                    } else {
                        for (j, &v) in seg.iter().enumerate() {
                            dst_row[i0 + j * sw] += v;
                        }
                    }
                }
            }
        }
    });
    out
}

/// The taps `lo..hi` of output position `o` whose input `o*s + k*d - p` lies in `0..size`.
fn tap_range(o: usize, kernel: usize, s: usize, p: usize, d: usize, size: usize) -> (usize, usize) {
    let start = o * s; // input = start + k*d - p
    let lo = if start >= p {
        0
    } else {
        (p - start).div_ceil(d)
    };
    let hi = if start < size + p {
        ((size + p - start - 1) / d + 1).min(kernel)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Max pooling (padding never wins); returns values and flat `ih·W + iw` argmax per output.
pub(crate) fn max_pool2d<T>(x: &[T], g: &Conv2dGeometry) -> (Vec<T>, Vec<i64>)
where
    T: Copy + Default + Send + Sync + PartialOrd,
{
    let l = g.ho * g.wo;
    let mut vals = vec![T::default(); g.n * g.c * l];
    let mut idx = vec![0i64; g.n * g.c * l];
    let (sh, ph, dh) = (g.stride.0, g.padding.0, g.dilation.0);
    let (sw, pw, dw) = (g.stride.1, g.padding.1, g.dilation.1);
    // Valid taps per output row and column, computed once.
    let rows: Vec<(usize, usize)> = (0..g.ho)
        .map(|o| tap_range(o, g.kh, sh, ph, dh, g.h))
        .collect();
    let cols: Vec<(usize, usize)> = (0..g.wo)
        .map(|o| tap_range(o, g.kw, sw, pw, dw, g.w))
        .collect();
    let fill = |(nc, (vd, id)): (usize, (&mut [T], &mut [i64]))| {
        let src = &x[nc * g.h * g.w..(nc + 1) * g.h * g.w];
        for (oh, &(ki_lo, ki_hi)) in rows.iter().enumerate() {
            for (ow, &(kj_lo, kj_hi)) in cols.iter().enumerate() {
                let mut best: Option<(T, usize)> = None;
                for ki in ki_lo..ki_hi {
                    let row = (oh * sh + ki * dh - ph) * g.w;
                    for kj in kj_lo..kj_hi {
                        let p = row + ow * sw + kj * dw - pw;
                        let s = src[p];
                        best = match best {
                            // Branch-free in the common case; NaN wins and stays.
                            Some((v, i)) => {
                                let take = (s > v) | (is_nan(s) & !is_nan(v));
                                Some(if take { (s, p) } else { (v, i) })
                            }
                            None => Some((s, p)),
                        };
                    }
                }
                let (v, p) =
                    best.expect("padding is at most half the window: every window has a tap");
                vd[oh * g.wo + ow] = v;
                id[oh * g.wo + ow] = p as i64;
            }
        }
    };
    if vals.len() * g.kh * g.kw >= PAR_THRESHOLD {
        vals.par_chunks_mut(l)
            .zip(idx.par_chunks_mut(l))
            .enumerate()
            .for_each(fill);
    } else {
        vals.chunks_mut(l)
            .zip(idx.chunks_mut(l))
            .enumerate()
            .for_each(fill);
    }
    (vals, idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_range_matches_brute_force() {
        for out in 1..6 {
            for k in 0..3 {
                for s in 1..3 {
                    for p in 0..3 {
                        for d in 1..3 {
                            for size in 1..7 {
                                let want: Vec<usize> = (0..out)
                                    .filter(|&o| src_pos(o, k, s, p, d, size).is_some())
                                    .collect();
                                let (lo, hi, i0) = valid_range(out, k, s, p, d, size);
                                assert_eq!(
                                    (lo..hi).collect::<Vec<_>>(),
                                    want,
                                    "{out} {k} {s} {p} {d} {size}"
                                );
                                if lo < hi {
                                    assert_eq!(Some(i0), src_pos(lo, k, s, p, d, size));
                                }
                                let taps: Vec<usize> = (0..3)
                                    .filter(|&kk| src_pos(out - 1, kk, s, p, d, size).is_some())
                                    .collect();
                                let (tl, th) = tap_range(out - 1, 3, s, p, d, size);
                                assert_eq!((tl..th).collect::<Vec<_>>(), taps);
                            }
                        }
                    }
                }
            }
        }
    }
}
