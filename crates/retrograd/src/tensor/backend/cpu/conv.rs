//! im2col/col2im and max pooling over `(N, C, H, W)` inputs.
//!
//! Each `(n, c)` plane is independent, so work is split across threads by plane when the
//! whole job is large enough.

use super::strided::{is_nan, PAR_THRESHOLD};
use crate::tensor::backend::Conv2dGeometry;
use rayon::prelude::*;

/// Input row `oh*sh - ph + ki*dh` (or column) of an output position, if inside the image.
#[inline]
fn src_pos(o: usize, k: usize, s: usize, p: usize, d: usize, size: usize) -> Option<usize> {
    let i = (o * s + k * d).checked_sub(p)?;
    (i < size).then_some(i)
}

/// `(N, C, H, W)` (contiguous) to `(N, C·kh·kw, ho·wo)`.
pub(crate) fn unfold2d<T: Copy + Default + Send + Sync>(x: &[T], g: &Conv2dGeometry) -> Vec<T> {
    let (kk, l) = (g.kh * g.kw, g.ho * g.wo);
    let plane_out = kk * l;
    let mut out = vec![T::default(); g.n * g.c * plane_out];
    let fill = |(nc, dst): (usize, &mut [T])| {
        let src = &x[nc * g.h * g.w..(nc + 1) * g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = &mut dst[(ki * g.kw + kj) * l..(ki * g.kw + kj + 1) * l];
                for oh in 0..g.ho {
                    let seg = &mut row[oh * g.wo..(oh + 1) * g.wo];
                    let Some(ih) = src_pos(oh, ki, g.stride.0, g.padding.0, g.dilation.0, g.h)
                    else {
                        continue; // stays zero: padding
                    };
                    let src_row = &src[ih * g.w..(ih + 1) * g.w];
                    for (ow, o) in seg.iter_mut().enumerate() {
                        if let Some(iw) =
                            src_pos(ow, kj, g.stride.1, g.padding.1, g.dilation.1, g.w)
                        {
                            *o = src_row[iw];
                        }
                    }
                }
            }
        }
    };
    if out.len() >= PAR_THRESHOLD {
        out.par_chunks_mut(plane_out).enumerate().for_each(fill);
    } else {
        out.chunks_mut(plane_out).enumerate().for_each(fill);
    }
    out
}

/// The adjoint of [`unfold2d`]: scatters `(N, C·kh·kw, ho·wo)` back into `(N, C, H, W)`.
pub(crate) fn fold2d<T>(cols: &[T], g: &Conv2dGeometry) -> Vec<T>
where
    T: Copy + Default + Send + Sync + std::ops::AddAssign,
{
    let (kk, l) = (g.kh * g.kw, g.ho * g.wo);
    let plane_in = kk * l;
    let mut out = vec![T::default(); g.n * g.c * g.h * g.w];
    let fill = |(nc, dst): (usize, &mut [T])| {
        let src = &cols[nc * plane_in..(nc + 1) * plane_in];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = &src[(ki * g.kw + kj) * l..(ki * g.kw + kj + 1) * l];
                for oh in 0..g.ho {
                    let Some(ih) = src_pos(oh, ki, g.stride.0, g.padding.0, g.dilation.0, g.h)
                    else {
                        continue;
                    };
                    let dst_row = &mut dst[ih * g.w..(ih + 1) * g.w];
                    for (ow, &v) in row[oh * g.wo..(oh + 1) * g.wo].iter().enumerate() {
                        if let Some(iw) =
                            src_pos(ow, kj, g.stride.1, g.padding.1, g.dilation.1, g.w)
                        {
                            dst_row[iw] += v;
                        }
                    }
                }
            }
        }
    };
    if out.len() >= PAR_THRESHOLD {
        out.par_chunks_mut(g.h * g.w).enumerate().for_each(fill);
    } else {
        out.chunks_mut(g.h * g.w).enumerate().for_each(fill);
    }
    out
}

/// Max pooling (padding never wins); returns values and flat `ih·W + iw` argmax per output.
pub(crate) fn max_pool2d<T>(x: &[T], g: &Conv2dGeometry) -> (Vec<T>, Vec<i64>)
where
    T: Copy + Default + Send + Sync + PartialOrd,
{
    let l = g.ho * g.wo;
    let mut vals = vec![T::default(); g.n * g.c * l];
    let mut idx = vec![0i64; g.n * g.c * l];
    let fill = |(nc, (vd, id)): (usize, (&mut [T], &mut [i64]))| {
        let src = &x[nc * g.h * g.w..(nc + 1) * g.h * g.w];
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                let mut best: Option<(T, usize)> = None;
                for ki in 0..g.kh {
                    let Some(ih) = src_pos(oh, ki, g.stride.0, g.padding.0, g.dilation.0, g.h)
                    else {
                        continue;
                    };
                    for kj in 0..g.kw {
                        if let Some(iw) =
                            src_pos(ow, kj, g.stride.1, g.padding.1, g.dilation.1, g.w)
                        {
                            let p = ih * g.w + iw;
                            let v = src[p];
                            let take = match best {
                                None => true,
                                Some((b, _)) => v > b || is_nan(v),
                            };
                            if take {
                                best = Some((v, p));
                            }
                        }
                    }
                }
                let (v, p) = best.unwrap_or((T::default(), 0));
                vd[oh * g.wo + ow] = v;
                id[oh * g.wo + ow] = p as i64;
            }
        }
    };
    if vals.len() >= PAR_THRESHOLD / 4 {
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
