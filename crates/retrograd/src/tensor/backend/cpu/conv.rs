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

/// Max pooling (padding never wins); returns values and flat `ih·W + iw` argmax per output.
pub(crate) fn max_pool2d<T>(x: &[T], g: &Conv2dGeometry) -> (Vec<T>, Vec<i64>)
where
    T: Copy + Default + Send + Sync + PartialOrd,
{
    let l = g.ho * g.wo;
    let mut vals = vec![T::default(); g.n * g.c * l];
    let mut idx = vec![-1i64; g.n * g.c * l];
    let (sw, pw, dw) = (g.stride.1, g.padding.1, g.dilation.1);
    let fill = |(nc, (vd, id)): (usize, (&mut [T], &mut [i64]))| {
        let src = &x[nc * g.h * g.w..(nc + 1) * g.h * g.w];
        // Taps in row-major window order, so the first maximum wins ties.
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let (lo, hi, i0) = valid_range(g.wo, kj, sw, pw, dw, g.w);
                for oh in 0..g.ho {
                    let Some(ih) = src_pos(oh, ki, g.stride.0, g.padding.0, g.dilation.0, g.h)
                    else {
                        continue;
                    };
                    let base = ih * g.w + i0;
                    let outs = oh * g.wo + lo..oh * g.wo + hi;
                    for (j, (v, i)) in vd[outs.clone()].iter_mut().zip(&mut id[outs]).enumerate() {
                        let p = base + j * sw;
                        let s = src[p];
                        // Branch-free select: the comparison is unpredictable on real data.
                        let take = (*i < 0) | (s > *v) | (is_nan(s) & !is_nan(*v));
                        *v = if take { s } else { *v };
                        *i = if take { p as i64 } else { *i };
                    }
                }
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
                            }
                        }
                    }
                }
            }
        }
    }
}
