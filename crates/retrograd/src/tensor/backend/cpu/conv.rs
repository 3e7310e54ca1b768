//! im2col/col2im and max pooling over `(N, C, H, W)` inputs.
//!
//! Each `(n, c)` plane is independent, so work is split across threads by plane when the
//! whole job is large enough. Within a plane, loops run over kernel taps outermost and
//! output columns innermost, over the range of columns whose input lies inside the image
//! (computed once per tap), so the inner loops have no bounds logic and, at stride 1, are
//! plain slice copies.

use super::math::vectorized;
use super::matmul::{gemm_into, Mat, SendPtr, PAR_GEMM_WORK};
use super::pool;
use super::strided::PAR_THRESHOLD;
use super::window2x2;
use crate::tensor::backend::Conv2dGeometry;
use crate::tensor::FloatElement;
use gemm::Parallelism;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Input row `o*s - p + k*d` of output row `o` and tap `k`, if inside `0..size`.
#[inline]
fn src_pos(o: usize, k: usize, s: usize, p: usize, d: usize, size: usize) -> Option<usize> {
    let i = (o * s + k * d).checked_sub(p)?;
    (i < size).then_some(i)
}

/// The outputs `lo..hi` whose input column `o*s + k*d - p` lies in `0..size`, and the
/// input column of `lo` (0 when the range is empty: a tap that lies in the padding for
/// every output, whose column would be past the row).
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
    if lo >= hi {
        return (hi, hi, 0);
    }
    (lo, hi, lo * s + shift - p)
}

fn planes<T: Send>(out: &mut [T], plane: usize, f: impl Fn((usize, &mut [T])) + Sync + Send) {
    if out.len() >= PAR_THRESHOLD && out.len() / plane.max(1) > 1 {
        out.par_chunks_mut(plane).enumerate().for_each(f);
    } else {
        out.chunks_mut(plane).enumerate().for_each(f);
    }
}

/// im2col of one `(H, W)` plane into its `kh·kw` rows of `ho·wo` columns; writes every
/// element of `dst` (zeros where the window covers padding).
fn unfold_plane<T: Copy + Default>(src: &[T], dst: &mut [T], g: &Conv2dGeometry) {
    if g.stride == (1, 1) && (g.ho, g.wo) == (g.h, g.w) {
        return unfold_plane_same(src, dst, g);
    }
    let l = g.ho * g.wo;
    let zero = T::default();
    let (sw, pw, dw) = (g.stride.1, g.padding.1, g.dilation.1);
    for ki in 0..g.kh {
        for kj in 0..g.kw {
            let row = &mut dst[(ki * g.kw + kj) * l..(ki * g.kw + kj + 1) * l];
            let (lo, hi, i0) = valid_range(g.wo, kj, sw, pw, dw, g.w);
            for (oh, out) in row.chunks_exact_mut(g.wo).enumerate() {
                let Some(ih) = src_pos(oh, ki, g.stride.0, g.padding.0, g.dilation.0, g.h) else {
                    out.fill(zero); // padding rows
                    continue;
                };
                out[..lo].fill(zero);
                out[hi..].fill(zero);
                let seg = &mut out[lo..hi];
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
}

/// One tap of a convolution whose output has the input's size at stride 1 ("same"
/// padding): its row of the unfolded plane is the plane shifted by `dy·W + dx`. Output
/// positions `lo..hi` (whole rows) have their source row inside the image; within them
/// `row[d]` lines up with `src[s]` (the ranges differ by the shift: the source index stays
/// inside the plane except for the first (`dx < 0`) or last (`dx > 0`) element, an edge
/// column anyway), and the `|dx|` columns at one edge of every row wrap around.
struct SameTap {
    lo: usize,
    hi: usize,
    dx: isize,
    d: std::ops::Range<usize>,
    s: std::ops::Range<usize>,
}

impl SameTap {
    /// Tap `(ki, kj)`, or `None` when no output position reads inside the image.
    fn new(g: &Conv2dGeometry, ki: usize, kj: usize) -> Option<Self> {
        let (h, w) = (g.h as isize, g.w as isize);
        let dy = (ki * g.dilation.0) as isize - g.padding.0 as isize;
        let dx = (kj * g.dilation.1) as isize - g.padding.1 as isize;
        // Rows whose source row is inside the image: oh in [top, bottom).
        let top = (-dy).clamp(0, h) as usize;
        let bottom = (h - dy).clamp(0, h) as usize;
        if top >= bottom || dx.unsigned_abs() >= g.w {
            return None;
        }
        let (lo, hi) = (top * g.w, bottom * g.w);
        let shift = dy * w + dx;
        let s_lo = (lo as isize + shift).max(0) as usize;
        let s_hi = ((hi as isize + shift) as usize).min(g.h * g.w);
        let d = (s_lo as isize - shift) as usize..(s_hi as isize - shift) as usize;
        Some(SameTap {
            lo,
            hi,
            dx,
            d,
            s: s_lo..s_hi,
        })
    }

    /// Sets the wrapped edge columns of the rows `lo..hi` of the tap's `row` to `zero`.
    fn zero_wrapped<T: Copy>(&self, row: &mut [T], w: usize, zero: T) {
        let edge = self.dx.unsigned_abs();
        if edge == 0 {
            return;
        }
        for r in row[self.lo..self.hi].chunks_exact_mut(w) {
            if self.dx > 0 {
                r[w - edge..].fill(zero);
            } else {
                r[..edge].fill(zero);
            }
        }
    }
}

/// [`unfold_plane`] when the output has the input's size at stride 1: each tap's row is the
/// whole plane shifted (see [`SameTap`]), copied in one piece, then the positions whose
/// source falls outside the image (rows at the top or bottom, the wrapped columns) are
/// zeroed.
fn unfold_plane_same<T: Copy + Default>(src: &[T], dst: &mut [T], g: &Conv2dGeometry) {
    let l = g.h * g.w;
    let zero = T::default();
    for ki in 0..g.kh {
        for kj in 0..g.kw {
            let row = &mut dst[(ki * g.kw + kj) * l..(ki * g.kw + kj + 1) * l];
            let Some(tap) = SameTap::new(g, ki, kj) else {
                row.fill(zero);
                continue;
            };
            row[..tap.d.start].fill(zero);
            row[tap.d.clone()].copy_from_slice(&src[tap.s.clone()]);
            row[tap.d.end..].fill(zero);
            tap.zero_wrapped(row, g.w, zero);
        }
    }
}

/// [`fold_plane`] when the output has the input's size at stride 1 (see [`SameTap`]): per
/// tap, the entries whose source column wraps around a row edge are zeroed in `src` (a
/// scratch the caller discards), then the rest of the tap's row is added to the plane
/// shifted by `dy·W + dx` in one contiguous run.
fn fold_plane_same<T: Copy + Default + std::ops::AddAssign>(
    src: &mut [T],
    dst: &mut [T],
    g: &Conv2dGeometry,
) {
    let l = g.h * g.w;
    for ki in 0..g.kh {
        for kj in 0..g.kw {
            let t = ki * g.kw + kj;
            let row = &mut src[t * l..(t + 1) * l];
            let Some(tap) = SameTap::new(g, ki, kj) else {
                continue;
            };
            tap.zero_wrapped(row, g.w, T::default());
            for (d, &v) in dst[tap.s].iter_mut().zip(&row[tap.d]) {
                *d += v;
            }
        }
    }
}

/// col2im of one plane: adds its `kh·kw` rows of `ho·wo` columns into the `(H, W)` plane
/// `dst` (which the caller has initialised).
fn fold_plane<T: Copy + std::ops::AddAssign>(src: &[T], dst: &mut [T], g: &Conv2dGeometry) {
    let l = g.ho * g.wo;
    let (sw, pw, dw) = (g.stride.1, g.padding.1, g.dilation.1);
    for ki in 0..g.kh {
        for kj in 0..g.kw {
            let row = &src[(ki * g.kw + kj) * l..(ki * g.kw + kj + 1) * l];
            let (lo, hi, i0) = valid_range(g.wo, kj, sw, pw, dw, g.w);
            for oh in 0..g.ho {
                let Some(ih) = src_pos(oh, ki, g.stride.0, g.padding.0, g.dilation.0, g.h) else {
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
}

/// `(N, C, H, W)` (contiguous) to `(N, C·kh·kw, ho·wo)`.
pub(crate) fn unfold2d<T: Copy + Default + Send + Sync + 'static>(
    x: &[T],
    g: &Conv2dGeometry,
) -> Vec<T> {
    let (kk, l) = (g.kh * g.kw, g.ho * g.wo);
    let mut out = pool::filled(g.n * g.c * kk * l, T::default());
    planes(&mut out, kk * l, |(nc, dst)| {
        unfold_plane(&x[nc * g.h * g.w..(nc + 1) * g.h * g.w], dst, g)
    });
    out
}

/// The adjoint of [`unfold2d`]: scatters `(N, C·kh·kw, ho·wo)` back into `(N, C, H, W)`.
pub(crate) fn fold2d<T>(cols: &[T], g: &Conv2dGeometry) -> Vec<T>
where
    T: Copy + Default + Send + Sync + std::ops::AddAssign + 'static,
{
    let (kk, l) = (g.kh * g.kw, g.ho * g.wo);
    let mut out = pool::filled(g.n * g.c * g.h * g.w, T::default());
    planes(&mut out, g.h * g.w, |(nc, dst)| {
        fold_plane(&cols[nc * kk * l..(nc + 1) * kk * l], dst, g)
    });
    out
}

/// Sizes of a convolution of `groups` channel groups, as the kernels below use them.
#[derive(Clone, Copy)]
pub(super) struct ConvDims {
    /// output channels per group
    pub(super) og: usize,
    /// rows of a group's unfolded input: `cg·kh·kw`
    pub(super) k: usize,
    /// output positions `ho·wo`
    pub(super) l: usize,
    /// input plane `h·w`
    hw: usize,
    /// whether the unfolded input is the input itself (1×1 kernel, stride 1, no padding)
    pointwise: bool,
}

impl ConvDims {
    /// The sizes of a convolution of `x` `(N, C, H, W)` with `w` `(O, C/groups, kh, kw)`
    /// giving `gy` `(N, O, ho, wo)`, after checking the lengths `[x, w, gy]` of the slices
    /// a kernel reads (`None` for one it does not read) against those shapes, and that
    /// the groups divide the channels. The kernels read the operands through `gemm` with
    /// raw pointers, at offsets computed from these sizes: this check, once per call, is
    /// what keeps those reads inside the slices, whatever sizes a caller passes.
    pub(super) fn checked(
        g: &Conv2dGeometry,
        o: usize,
        groups: usize,
        lens: [Option<usize>; 3],
    ) -> Self {
        let len = |dims: &[usize]| dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let cg = g.c / groups.max(1);
        let want = [
            len(&[g.n, g.c, g.h, g.w]),
            len(&[o, cg, g.kh, g.kw]),
            len(&[g.n, o, g.ho, g.wo]),
        ];
        let fits = groups > 0
            && g.c % groups == 0
            && o % groups == 0
            && lens.iter().zip(want).all(|(&have, want)| have.is_none_or(|n| Some(n) == want))
            // the whole unfolded input (also bounds each sample's panel)
            && len(&[g.n, g.c, g.kh, g.kw, g.ho, g.wo]).is_some();
        assert!(
            fits,
            "conv2d kernel: operands of {lens:?} elements do not fit {g:?} with {o} output \
             channels in {groups} groups"
        );
        ConvDims::new(g, o, groups)
    }

    fn new(g: &Conv2dGeometry, o: usize, groups: usize) -> Self {
        let cg = g.c / groups;
        ConvDims {
            og: o / groups,
            k: cg * g.kh * g.kw,
            l: g.ho * g.wo,
            hw: g.h * g.w,
            pointwise: g.kh == 1 && g.kw == 1 && g.stride == (1, 1) && g.padding == (0, 0),
        }
    }
}

/// Whether to split a convolution over samples across threads.
fn split_samples(g: &Conv2dGeometry, work_per_sample: usize) -> bool {
    g.n > 1
        && rayon::current_num_threads() > 1
        && work_per_sample.saturating_mul(g.n) >= PAR_GEMM_WORK / 4
}

/// The unfolded input of sample `i` (`C·kh·kw` rows of `ho·wo`): the input itself for
/// pointwise convolutions, else written into `scratch`.
fn sample_cols<'a, T: Copy + Default + 'static>(
    x: &'a [T],
    i: usize,
    g: &Conv2dGeometry,
    d: &ConvDims,
    scratch: &'a mut Vec<T>,
) -> &'a [T] {
    let xs = &x[i * g.c * d.hw..(i + 1) * g.c * d.hw];
    if d.pointwise {
        return xs;
    }
    let kkl = g.kh * g.kw * d.l;
    if scratch.len() != g.c * kkl {
        scratch.clear();
        scratch.resize(g.c * kkl, T::default());
    }
    for (c, dst) in scratch.chunks_exact_mut(kkl).enumerate() {
        unfold_plane(&xs[c * d.hw..(c + 1) * d.hw], dst, g);
    }
    scratch
}

/// A new buffer of `n` blocks of `per_sample` elements, block `i` written by
/// `run(scratch, i, block)`: on threads over samples when `par`, each thread reusing one
/// scratch vector.
///
/// # Safety
/// `run` must write every element of the block it is given. (The block is uninitialised
/// memory of a plain float type, handed out as `&mut [T]`.)
unsafe fn by_sample<T: Copy + Send + Sync + 'static>(
    n: usize,
    per_sample: usize,
    par: bool,
    run: impl Fn(&mut Vec<T>, usize, &mut [T]) + Sync + Send,
) -> Vec<T> {
    let total = n
        .checked_mul(per_sample)
        .expect("conv2d kernel: the op checks the output's size");
    let mut out = pool::take::<T>(total);
    let dst = SendPtr(out.as_mut_ptr());
    let block = |scratch: &mut Vec<T>, i: usize| {
        // SAFETY: `i < n`, so block `i`, `out[i·per_sample..(i+1)·per_sample]`, lies in the
        // capacity `total` taken above; each `i` is handed to one call only, so the blocks
        // that threads write are disjoint, and `out` outlives them (joined below).
        let b =
            unsafe { std::slice::from_raw_parts_mut(dst.get().add(i * per_sample), per_sample) };
        run(scratch, i, b)
    };
    if par {
        (0..n)
            .into_par_iter()
            .for_each_init(Vec::new, |s, i| block(s, i));
    } else {
        let mut scratch = Vec::new();
        (0..n).for_each(|i| block(&mut scratch, i));
    }
    // SAFETY: `run` wrote every block (this function's contract), all `n` of them, so
    // all `total` elements.
    unsafe { out.set_len(total) };
    out
}

/// 2-D convolution: `x` `(N, C, H, W)`, `w` `(O, C/groups, kh, kw)`, optional `bias` `(O)`,
/// all contiguous; returns `(N, O, ho, wo)`. Per sample and group, one matrix product of the
/// weights with the unfolded sample (unfolded into a scratch buffer that stays in cache),
/// accumulated onto the bias.
pub(crate) fn conv2d<T: FloatElement>(
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    g: &Conv2dGeometry,
    o: usize,
    groups: usize,
) -> Vec<T> {
    let d = ConvDims::checked(g, o, groups, [Some(x.len()), Some(w.len()), None]);
    assert!(
        bias.is_none_or(|b| b.len() == o),
        "conv2d kernel: bias of {o} entries"
    );
    let per_sample = o * d.l;
    let par = split_samples(g, per_sample.saturating_mul(d.k));
    // SAFETY: the closure writes all of `ys` (o·l): rows filled with the bias, or zeros
    // when there is neither bias nor a product (`k == 0`), or else overwritten by the
    // groups' products (og·l each, `accumulate` off without a bias).
    let run = |scratch: &mut Vec<T>, i: usize, ys: &mut [T]| {
        match bias {
            Some(b) => {
                for (row, &bv) in ys.chunks_exact_mut(d.l).zip(b) {
                    row.fill(bv);
                }
            }
            None if d.k == 0 => ys.fill(T::zero()),
            None => {}
        }
        if d.k == 0 {
            return;
        }
        let cols = sample_cols(x, i, g, &d, scratch);
        for gi in 0..groups {
            // SAFETY: in bounds by `ConvDims::checked`: W_g (og×k, row-major from gi·og·k)
            // ends at groups·og·k = w.len(); the group's columns (k×l from gi·k·l) end at
            // C·kh·kw·l = cols.len(); the output rows (og×l from gi·og·l) end at o·l =
            // ys.len(). `ys` does not overlap `w` or `cols`.
            unsafe {
                gemm_into(
                    (d.og, d.l, d.k),
                    ys.as_mut_ptr().add(gi * d.og * d.l),
                    (d.l as isize, 1),
                    bias.is_some(),
                    Mat(w.as_ptr().add(gi * d.og * d.k), d.k as isize, 1),
                    Mat(cols.as_ptr().add(gi * d.k * d.l), d.l as isize, 1),
                    Parallelism::None,
                )
            }
        }
    };
    // SAFETY: `run` writes all of every block (above).
    unsafe { by_sample(g.n, per_sample, par, run) }
}

/// The gradient of [`conv2d`] with respect to its input, given the output gradient `gy`
/// `(N, O, ho, wo)` and the weights: per sample, `Wᵀ · gy` folded back into `(C, H, W)`.
pub(crate) fn conv2d_input_grad<T: FloatElement>(
    gy: &[T],
    w: &[T],
    g: &Conv2dGeometry,
    o: usize,
    groups: usize,
) -> Vec<T> {
    let d = ConvDims::checked(g, o, groups, [None, Some(w.len()), Some(gy.len())]);
    let par = split_samples(g, (o * d.l).saturating_mul(d.k));
    // SAFETY: the closure writes all of `dx` (C·h·w): zeros when there is no product, the
    // products themselves for a pointwise kernel (its columns are `dx`: groups·k·l =
    // C·h·w), else zeros and then the folded columns added.
    let run = |scratch: &mut Vec<T>, i: usize, dx: &mut [T]| {
        if d.og == 0 || d.l == 0 {
            dx.fill(T::zero());
            return;
        }
        let gys = &gy[i * o * d.l..(i + 1) * o * d.l];
        let kkl = g.kh * g.kw * d.l;
        let cols: *mut T = if d.pointwise {
            dx.as_mut_ptr()
        } else {
            if scratch.len() != g.c * kkl {
                scratch.clear();
                scratch.resize(g.c * kkl, T::zero());
            }
            scratch.as_mut_ptr()
        };
        for gi in 0..groups {
            // SAFETY: in bounds by `ConvDims::checked`: W_gᵀ (k×og, W_g og×k row-major
            // from gi·og·k) ends at w.len(); gy_g (og×l from gi·og·l) ends at o·l =
            // gys.len(); the columns (k×l from gi·k·l) end at C·kh·kw·l, the length of
            // `scratch` (resized above), or at C·h·w = dx.len() when pointwise (then
            // kh = kw = 1 and l = h·w). The columns overlap neither `w` nor `gy`.
            unsafe {
                gemm_into(
                    (d.k, d.l, d.og),
                    cols.add(gi * d.k * d.l),
                    (d.l as isize, 1),
                    false,
                    Mat(w.as_ptr().add(gi * d.og * d.k), 1, d.k as isize),
                    Mat(gys.as_ptr().add(gi * d.og * d.l), d.l as isize, 1),
                    Parallelism::None,
                )
            }
        }
        if !d.pointwise {
            dx.fill(T::zero());
            let same = g.stride == (1, 1) && (g.ho, g.wo) == (g.h, g.w);
            for (c, plane) in dx.chunks_exact_mut(d.hw).enumerate() {
                if same {
                    fold_plane_same(&mut scratch[c * kkl..(c + 1) * kkl], plane, g);
                } else {
                    fold_plane(&scratch[c * kkl..(c + 1) * kkl], plane, g);
                }
            }
        }
    };
    // SAFETY: `run` writes all of every block (above).
    unsafe { by_sample(g.n, g.c * d.hw, par, run) }
}

/// The gradient of [`conv2d`] with respect to its weights, given the input `x` and the
/// output gradient `gy`: `Σ_samples gy · unfold(x)ᵀ` per group, `(O, C/groups, kh, kw)`.
pub(crate) fn conv2d_weight_grad<T: FloatElement>(
    x: &[T],
    gy: &[T],
    g: &Conv2dGeometry,
    o: usize,
    groups: usize,
) -> Vec<T> {
    let d = ConvDims::checked(g, o, groups, [Some(x.len()), None, Some(gy.len())]);
    let size = o * d.k;
    // Adds sample i's contribution to `acc` (`first`: overwrite instead).
    let add = |acc: &mut [T], scratch: &mut Vec<T>, i: usize, first: bool| {
        let cols = sample_cols(x, i, g, &d, scratch);
        let gys = &gy[i * o * d.l..(i + 1) * o * d.l];
        for gi in 0..groups {
            // SAFETY: in bounds by `ConvDims::checked`: gy_g (og×l from gi·og·l) ends at
            // o·l = gys.len(); the columns' transpose (l×k from gi·k·l) ends at C·kh·kw·l
            // = cols.len(); dW_g (og×k from gi·og·k) ends at o·k = acc.len() (`size`).
            // `acc` is initialised (filled, or written by the first sample) and overlaps
            // neither operand.
            unsafe {
                gemm_into(
                    (d.og, d.k, d.l),
                    acc.as_mut_ptr().add(gi * d.og * d.k),
                    (d.k as isize, 1),
                    !first,
                    Mat(gys.as_ptr().add(gi * d.og * d.l), d.l as isize, 1),
                    Mat(cols.as_ptr().add(gi * d.k * d.l), 1, d.l as isize),
                    Parallelism::None,
                )
            }
        }
    };
    if g.n == 0 || d.l == 0 || size == 0 {
        return pool::filled(size, T::zero());
    }
    if split_samples(g, (o * d.l).saturating_mul(d.k)) {
        let chunk = g.n.div_ceil(rayon::current_num_threads());
        let partial: Vec<Vec<T>> = (0..g.n)
            .into_par_iter()
            .step_by(chunk)
            .map(|start| {
                let mut acc = pool::filled(size, T::zero());
                let mut scratch = Vec::new();
                for i in start..(start + chunk).min(g.n) {
                    add(&mut acc, &mut scratch, i, i == start);
                }
                acc
            })
            .collect();
        let mut it = partial.into_iter();
        let mut total = it.next().expect("at least one sample");
        for p in it {
            for (t, v) in total.iter_mut().zip(&p) {
                *t += *v;
            }
            pool::give(p);
        }
        total
    } else {
        let mut acc = pool::filled(size, T::zero());
        let mut scratch = Vec::new();
        for i in 0..g.n {
            add(&mut acc, &mut scratch, i, i == 0);
        }
        acc
    }
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

/// The windows of a max pooling: the valid taps of every output row and column (padding
/// is at most half the window, so every window has one).
struct Windows {
    g: Conv2dGeometry,
    rows: Vec<(usize, usize)>,
    cols: Vec<(usize, usize)>,
}

impl Windows {
    fn new(g: &Conv2dGeometry) -> Self {
        let (sh, ph, dh) = (g.stride.0, g.padding.0, g.dilation.0);
        let (sw, pw, dw) = (g.stride.1, g.padding.1, g.dilation.1);
        Windows {
            g: *g,
            rows: (0..g.ho)
                .map(|o| tap_range(o, g.kh, sh, ph, dh, g.h))
                .collect(),
            cols: (0..g.wo)
                .map(|o| tap_range(o, g.kw, sw, pw, dw, g.w))
                .collect(),
        }
    }

    /// 2×2 windows at stride 2 without padding: the common case, with kernels of its own.
    fn two_by_two(&self) -> bool {
        let g = &self.g;
        (g.kh, g.kw, g.stride, g.padding, g.dilation) == (2, 2, (2, 2), (0, 0), (1, 1))
    }

    /// The flat `ih·W + iw` position of the maximum of window `(oh, ow)` of the plane `src`
    /// (taps in row-major order, so the first maximum wins ties; a NaN wins).
    #[inline]
    fn argmax<T: PartialOrd + Copy>(&self, src: &[T], oh: usize, ow: usize) -> usize {
        let g = &self.g;
        let ((ki_lo, ki_hi), (kj_lo, kj_hi)) = (self.rows[oh], self.cols[ow]);
        let base = ow * g.stride.1 + kj_lo * g.dilation.1 - g.padding.1;
        let row = |ki: usize| (oh * g.stride.0 + ki * g.dilation.0 - g.padding.0) * g.w + base;
        let mut i = row(ki_lo);
        let mut v = src[i];
        for ki in ki_lo..ki_hi {
            let mut p = row(ki);
            for _ in kj_lo..kj_hi {
                if takes(src[p], v) {
                    (v, i) = (src[p], p);
                }
                p += g.dilation.1;
            }
        }
        i
    }
}

/// Runs `f(plane index, plane)` over the `plane`-element chunks of `out`, on threads when
/// the pooling does `work` comparisons in all and that is large.
fn pool_planes<U: Send>(
    out: &mut [U],
    plane: usize,
    work: usize,
    f: impl Fn((usize, &mut [U])) + Sync + Send,
) {
    if plane == 0 {
        return;
    }
    if work >= PAR_THRESHOLD {
        out.par_chunks_mut(plane).enumerate().for_each(f);
    } else {
        out.chunks_mut(plane).enumerate().for_each(f);
    }
}

/// Max pooling (padding never wins): the maximum of every window, `(N, C, ho, wo)`.
pub(crate) fn max_pool2d<T: FloatElement>(x: &[T], g: &Conv2dGeometry) -> Vec<T> {
    let win = Windows::new(g);
    let (hw, l) = (g.h * g.w, g.ho * g.wo);
    // SAFETY: `out` is split into its `l`-element planes (none when `l == 0`, and then
    // `out` is empty); each plane is written whole: by `window2x2::max` (it asserts the
    // plane's size), by `max_2x2` (one write per output row element), or element by
    // element below.
    unsafe {
        pool::build(g.n * g.c * l, |out| {
            pool_planes(out, l, out.len() * g.kh * g.kw, |(nc, dst)| {
                let src = &x[nc * hw..(nc + 1) * hw];
                if win.two_by_two() {
                    if !window2x2::max(src, g, dst) {
                        vectorized(
                            #[inline(always)]
                            || max_2x2(src, g, dst),
                        );
                    }
                    return;
                }
                for (k, o) in dst.iter_mut().enumerate() {
                    o.write(src[win.argmax(src, k / g.wo, k % g.wo)]);
                }
            })
        })
    }
}

/// The gradient of [`max_pool2d`] with respect to its input: each output gradient `gy`
/// `(N, C, ho, wo)` goes to the position of its window's maximum in `x` (summed where
/// windows overlap); `(N, C, H, W)`.
pub(crate) fn max_pool2d_backward<T: FloatElement>(
    x: &[T],
    gy: &[T],
    g: &Conv2dGeometry,
) -> Vec<T> {
    let win = Windows::new(g);
    let (hw, l) = (g.h * g.w, g.ho * g.wo);
    let work = g.n * g.c * l * g.kh * g.kw;
    if win.two_by_two() {
        // SAFETY: each `hw`-element plane of `out` is written whole by `window2x2::route`
        // or `route_2x2` (window positions, and zeros for the rows and columns no window
        // covers).
        return unsafe {
            pool::build(g.n * g.c * hw, |out| {
                pool_planes(out, hw, work, |(nc, dst)| {
                    let (src, gs) = (&x[nc * hw..(nc + 1) * hw], &gy[nc * l..(nc + 1) * l]);
                    if !window2x2::route(src, gs, g, dst) {
                        vectorized(
                            #[inline(always)]
                            || route_2x2(src, gs, g, dst),
                        );
                    }
                })
            })
        };
    }
    let mut out = pool::filled(g.n * g.c * hw, T::zero());
    pool_planes(&mut out, hw, work, |(nc, dst)| {
        let (src, gs) = (&x[nc * hw..(nc + 1) * hw], &gy[nc * l..(nc + 1) * l]);
        for (k, &gk) in gs.iter().enumerate() {
            dst[win.argmax(src, k / g.wo, k % g.wo)] += gk;
        }
    });
    out
}

/// The adjoint of [`max_pool2d_backward`] in its gradient argument: for every window, the
/// element of `v` `(N, C, H, W)` at the position of the window's maximum in `x`;
/// `(N, C, ho, wo)`.
pub(crate) fn max_pool2d_select<T: FloatElement>(x: &[T], v: &[T], g: &Conv2dGeometry) -> Vec<T> {
    let win = Windows::new(g);
    let (hw, l) = (g.h * g.w, g.ho * g.wo);
    // SAFETY: as in `max_pool2d`: every `l`-element plane is written whole.
    unsafe {
        pool::build(g.n * g.c * l, |out| {
            pool_planes(out, l, out.len() * g.kh * g.kw, |(nc, dst)| {
                let (src, vs) = (&x[nc * hw..(nc + 1) * hw], &v[nc * hw..(nc + 1) * hw]);
                if win.two_by_two() {
                    if !window2x2::select(src, vs, g, dst) {
                        vectorized(
                            #[inline(always)]
                            || select_2x2(src, vs, g, dst),
                        );
                    }
                    return;
                }
                for (k, o) in dst.iter_mut().enumerate() {
                    o.write(vs[win.argmax(src, k / g.wo, k % g.wo)]);
                }
            })
        })
    }
}

/// Whether `s`, seen after the running maximum `v`, replaces it: the first maximum wins
/// ties, a NaN wins and stays (`s > v`, or `s` NaN and `v` not).
#[inline(always)]
fn takes<T: PartialOrd>(s: T, v: T) -> bool {
    #[allow(clippy::eq_op, clippy::neg_cmp_op_on_partial_ord)]
    let take = !(s <= v) & (v == v);
    take
}

/// `if c { a } else { b }`.
#[inline(always)]
fn pick<T>(c: bool, a: T, b: T) -> T {
    if c {
        a
    } else {
        b
    }
}

/// Which element of a 2×2 window `[a, b; c, d]` is its maximum, in the tap order of the
/// general loop (so ties and NaNs resolve the same way): `(b beats a, d beats c, the
/// bottom row wins)`.
#[inline(always)]
fn winner_2x2<T: PartialOrd + Copy>(a: T, b: T, c: T, d: T) -> (bool, bool, bool) {
    let (tr, br) = (takes(b, a), takes(d, c));
    let bottom = takes(pick(br, d, c), pick(tr, b, a));
    (tr, br, bottom)
}

/// The rows `2·oh` and `2·oh + 1` of a plane of width `w`, `2·wo` elements each.
#[inline(always)]
fn row_pair<T>(src: &[T], (w, wo): (usize, usize), oh: usize) -> (&[T], &[T]) {
    let r0 = 2 * oh * w;
    (&src[r0..r0 + 2 * wo], &src[r0 + w..r0 + w + 2 * wo])
}

// The three portable 2×2 kernels below are written with selects; `window2x2` has the same
// kernels in AVX2 for `f32`, which these serve as the fallback for.

/// Window maxima of one plane.
#[inline(always)]
fn max_2x2<T: PartialOrd + Copy>(src: &[T], g: &Conv2dGeometry, out: &mut [MaybeUninit<T>]) {
    let w = (g.w, g.wo);
    for (oh, orow) in out.chunks_exact_mut(w.1).enumerate() {
        let (top, bottom) = row_pair(src, w, oh);
        for (j, o) in orow.iter_mut().enumerate() {
            let (a, b) = (top[2 * j], top[2 * j + 1]);
            let (c, d) = (bottom[2 * j], bottom[2 * j + 1]);
            let (tr, br, bottom) = winner_2x2(a, b, c, d);
            o.write(pick(bottom, pick(br, d, c), pick(tr, b, a)));
        }
    }
}

/// Routes one plane's output gradients to the window maxima; writes all of `out` (zeros
/// elsewhere, including a last odd row or column that no window covers).
#[inline(always)]
fn route_2x2<T: FloatElement>(src: &[T], gy: &[T], g: &Conv2dGeometry, out: &mut [MaybeUninit<T>]) {
    let zero = T::zero();
    let (w, wo, ho) = (g.w, g.wo, g.ho);
    for (oh, grow) in gy.chunks_exact(wo).enumerate() {
        let (top, bottom) = row_pair(src, (w, wo), oh);
        let (otop, obottom) = out[2 * oh * w..(2 * oh + 2) * w].split_at_mut(w);
        for (j, &gj) in grow.iter().enumerate() {
            let (a, b) = (top[2 * j], top[2 * j + 1]);
            let (c, d) = (bottom[2 * j], bottom[2 * j + 1]);
            let (tr, br, bottom) = winner_2x2(a, b, c, d);
            otop[2 * j].write(pick(!bottom & !tr, gj, zero));
            otop[2 * j + 1].write(pick(!bottom & tr, gj, zero));
            obottom[2 * j].write(pick(bottom & !br, gj, zero));
            obottom[2 * j + 1].write(pick(bottom & br, gj, zero));
        }
        for o in otop[2 * wo..].iter_mut().chain(&mut obottom[2 * wo..]) {
            o.write(zero);
        }
    }
    for o in &mut out[2 * ho * w..] {
        o.write(zero);
    }
}

/// Picks, per window of one plane, the element of `v` where `src` has its maximum.
#[inline(always)]
fn select_2x2<T: FloatElement>(src: &[T], v: &[T], g: &Conv2dGeometry, out: &mut [MaybeUninit<T>]) {
    let w = (g.w, g.wo);
    for (oh, orow) in out.chunks_exact_mut(w.1).enumerate() {
        let ((top, bottom), (vtop, vbottom)) = (row_pair(src, w, oh), row_pair(v, w, oh));
        for (j, o) in orow.iter_mut().enumerate() {
            let (a, b) = (top[2 * j], top[2 * j + 1]);
            let (c, d) = (bottom[2 * j], bottom[2 * j + 1]);
            let (tr, br, bottom) = winner_2x2(a, b, c, d);
            let upper = pick(tr, vtop[2 * j + 1], vtop[2 * j]);
            let lower = pick(br, vbottom[2 * j + 1], vbottom[2 * j]);
            o.write(pick(bottom, lower, upper));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls `f` with every single-plane geometry of stride 1 whose output has the input's
    /// size, over a spread of image, kernel, dilation and padding sizes.
    fn same_size_geometries(kernels: &[(usize, usize)], mut f: impl FnMut(&Conv2dGeometry)) {
        for (h, w) in [(1, 1), (3, 5), (8, 8), (5, 2)] {
            for &k in kernels {
                for d in [(1, 1), (2, 1), (1, 3)] {
                    for p in [(0, 0), (1, 1), (2, 4), (6, 6)] {
                        match Conv2dGeometry::new((1, 1, h, w), k, (1, 1), p, d) {
                            Some(g) if (g.ho, g.wo) == (h, w) => f(&g),
                            _ => {}
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn unfold_same_size_matches_the_general_loop() {
        let kernels = [(1, 1), (3, 3), (2, 3), (5, 5), (7, 7)];
        same_size_geometries(&kernels, |g| {
            let (h, w, kh, kw) = (g.h, g.w, g.kh, g.kw);
            let src: Vec<f64> = (0..h * w).map(|i| i as f64 + 1.0).collect();
            let mut fast = vec![-1.0; kh * kw * h * w];
            let mut slow = vec![0.0; kh * kw * h * w];
            unfold_plane_same(&src, &mut fast, g);
            // the definition, position by position
            for ki in 0..kh {
                for kj in 0..kw {
                    for oh in 0..h {
                        for ow in 0..w {
                            let (Some(ih), Some(iw)) = (
                                src_pos(oh, ki, 1, g.padding.0, g.dilation.0, h),
                                src_pos(ow, kj, 1, g.padding.1, g.dilation.1, w),
                            ) else {
                                continue;
                            };
                            slow[((ki * kw + kj) * h + oh) * w + ow] = src[ih * w + iw];
                        }
                    }
                }
            }
            assert_eq!(fast, slow, "{g:?}");
        });
    }

    #[test]
    fn fold_same_size_matches_the_general_loop() {
        same_size_geometries(&[(1, 1), (3, 3), (2, 3), (5, 5)], |g| {
            let (h, w) = (g.h, g.w);
            let mut cols: Vec<f64> = (0..g.kh * g.kw * h * w)
                .map(|i| (i % 7) as f64 - 2.5)
                .collect();
            let mut slow = vec![0.0; h * w];
            fold_plane(&cols, &mut slow, g);
            let mut fast = vec![0.0; h * w];
            fold_plane_same(&mut cols, &mut fast, g);
            assert_eq!(fast, slow, "{g:?}");
        });
    }

    /// im2col and col2im of one plane against their definitions, position by position, over
    /// a spread of geometries: taps entirely in the padding (a padding wider than the
    /// window needs), strides, dilations, and outputs of any size.
    #[test]
    fn unfold_and_fold_match_their_definitions() {
        for (h, w) in [(1, 1), (1, 3), (4, 2), (5, 5)] {
            for k in [(1, 1), (1, 3), (3, 2), (2, 2)] {
                for stride in [(1, 1), (2, 1), (1, 3)] {
                    for padding in [(0, 0), (1, 2), (3, 4)] {
                        for dilation in [(1, 1), (1, 2), (2, 1)] {
                            let Some(g) =
                                Conv2dGeometry::new((1, 1, h, w), k, stride, padding, dilation)
                            else {
                                continue;
                            };
                            let (l, kk) = (g.ho * g.wo, g.kh * g.kw);
                            let src: Vec<f64> = (0..h * w).map(|i| i as f64 + 1.0).collect();
                            let cols: Vec<f64> =
                                (0..kk * l).map(|i| (i % 5) as f64 - 2.0).collect();
                            let mut unfolded = vec![-1.0; kk * l];
                            unfold_plane(&src, &mut unfolded, &g);
                            let mut folded = vec![0.0; h * w];
                            fold_plane(&cols, &mut folded, &g);
                            let (mut want_u, mut want_f) = (vec![0.0; kk * l], vec![0.0; h * w]);
                            for (ki, kj, oh, ow) in (0..g.kh).flat_map(|ki| {
                                (0..g.kw).flat_map(move |kj| {
                                    (0..g.ho).flat_map(move |oh| {
                                        (0..g.wo).map(move |ow| (ki, kj, oh, ow))
                                    })
                                })
                            }) {
                                let (Some(ih), Some(iw)) = (
                                    src_pos(oh, ki, g.stride.0, g.padding.0, g.dilation.0, h),
                                    src_pos(ow, kj, g.stride.1, g.padding.1, g.dilation.1, w),
                                ) else {
                                    continue;
                                };
                                let at = (ki * g.kw + kj) * l + oh * g.wo + ow;
                                want_u[at] = src[ih * w + iw];
                                want_f[ih * w + iw] += cols[at];
                            }
                            assert_eq!(unfolded, want_u, "{g:?}");
                            assert_eq!(folded, want_f, "{g:?}");
                        }
                    }
                }
            }
        }
    }

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

    /// The first maximum of each 2×2 window in row-major order (a NaN wins), by brute force.
    fn argmax_2x2<T: PartialOrd + Copy>(plane: &[T], w: usize, oh: usize, ow: usize) -> usize {
        let taps = [(0, 0), (0, 1), (1, 0), (1, 1)];
        let pos = taps.map(|(i, j)| (2 * oh + i) * w + 2 * ow + j);
        pos.into_iter()
            .reduce(|best, p| {
                if takes(plane[p], plane[best]) {
                    p
                } else {
                    best
                }
            })
            .unwrap()
    }

    fn check_2x2<T: FloatElement>(x: &[T], v: &[T], gy: &[T], planes: usize, h: usize, w: usize) {
        let g = Conv2dGeometry::new((planes, 1, h, w), (2, 2), (2, 2), (0, 0), (1, 1)).unwrap();
        let (ho, wo) = (g.ho, g.wo);
        let same = |a: T, b: T| a == b || (a.is_nan() && b.is_nan());
        let (vals, routed, picked) = (
            max_pool2d(x, &g),
            max_pool2d_backward(x, gy, &g),
            max_pool2d_select(x, v, &g),
        );
        let mut want_routed = vec![T::zero(); x.len()];
        for p in 0..planes {
            let plane = &x[p * h * w..(p + 1) * h * w];
            for k in 0..ho * wo {
                let at = p * h * w + argmax_2x2(plane, w, k / wo, k % wo);
                let o = p * ho * wo + k;
                assert!(
                    same(vals[o], x[at]),
                    "max at {o}: {:?} vs {:?}",
                    vals[o],
                    x[at]
                );
                assert!(picked[o] == v[at], "select at {o}");
                want_routed[at] = gy[o];
            }
        }
        assert!(routed == want_routed, "route {h}×{w}");
    }

    fn geometry_3x3() -> Conv2dGeometry {
        Conv2dGeometry::new((1, 2, 4, 4), (3, 3), (1, 1), (1, 1), (1, 1)).unwrap()
    }

    /// The convolution kernels read their operands through raw pointers at offsets
    /// computed from the geometry; operands shorter than it describes are refused before
    /// any read (before, the products read past the end of the weights).
    #[test]
    #[should_panic(expected = "conv2d kernel")]
    fn weights_shorter_than_the_geometry_are_refused() {
        let g = geometry_3x3();
        let (x, w) = (vec![1.0f32; 2 * 16], vec![1.0f32; 2 * 2 * 9 - 1]);
        conv2d(&x, &w, None, &g, 2, 1);
    }

    #[test]
    #[should_panic(expected = "conv2d kernel")]
    fn output_gradients_shorter_than_the_geometry_are_refused() {
        let g = geometry_3x3();
        let (gy, w) = (vec![1.0f64; 2 * 16 - 3], vec![1.0f64; 2 * 2 * 9]);
        conv2d_input_grad(&gy, &w, &g, 2, 1);
    }

    #[test]
    #[should_panic(expected = "conv2d kernel")]
    fn groups_must_divide_the_channels() {
        let g = geometry_3x3();
        let (x, gy) = (vec![1.0f64; 2 * 16], vec![1.0f64; 3 * 16]);
        conv2d_weight_grad(&x, &gy, &g, 3, 2);
    }

    #[test]
    fn operands_of_the_geometrys_sizes_are_accepted() {
        let g = geometry_3x3();
        let (x, w) = (vec![1.0f64; 2 * 16], vec![1.0f64; 2 * 2 * 9]);
        let y = conv2d(&x, &w, None, &g, 2, 1);
        // The centre of the 4×4 image sees all 9 taps of both channels.
        assert_eq!((y.len(), y[5]), (2 * 16, 18.0));
        assert_eq!(conv2d_input_grad(&y, &w, &g, 2, 1).len(), 2 * 16);
        assert_eq!(conv2d_weight_grad(&x, &y, &g, 2, 1).len(), 2 * 2 * 9);
    }

    proptest::proptest! {
        /// The 2×2 kernels (vectorised for f32, portable for f64) against brute force, with
        /// ties and NaNs frequent, odd sizes, and rows that end in a partial block.
        #[test]
        fn pooling_2x2_matches_brute_force(
            planes in 1usize..3, h in 2usize..7, w in 2usize..40,
            picks in proptest::collection::vec(0usize..5, 3 * 7 * 40),
        ) {
            let n = planes * h * w;
            let level = [-1.0, 0.0, 0.0, 2.0, f64::NAN];
            let x: Vec<f64> = picks[..n].iter().map(|&i| level[i]).collect();
            let v: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
            let gy: Vec<f64> = (0..planes * (h / 2) * (w / 2)).map(|i| -(i as f64) - 1.0).collect();
            check_2x2(&x, &v, &gy, planes, h, w);
            let f = |s: &[f64]| s.iter().map(|&a| a as f32).collect::<Vec<f32>>();
            check_2x2(&f(&x), &f(&v), &f(&gy), planes, h, w);
        }
    }
}
