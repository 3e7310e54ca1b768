//! Max pooling over 2×2 windows at stride 2 in `f32`, eight windows at a time with AVX2.
//!
//! The portable kernels in `conv.rs` are written with selects, but the compiler turns some
//! of those selects into branches on the data, and a pooled image gives those branches no
//! pattern to predict. Here every comparison is a vector mask and every choice a blend.
//! A window `[a, b; c, d]` is decided in the tap order of the general loop: `b` beats `a`
//! (`tr`), `d` beats `c` (`br`), then the bottom row's winner beats the top's (`bottom`);
//! `s` beats `v` when `s > v`, or `s` is NaN and `v` is not, so the first maximum wins
//! ties and a NaN wins.
//!
//! Each function returns `false`, doing nothing, when the elements are not `f32` or the
//! processor lacks AVX2; the caller then runs the portable kernel.

use crate::tensor::backend::Conv2dGeometry;
use crate::tensor::{DType, Element};
use std::mem::MaybeUninit;

/// The window maxima of one `(H, W)` plane into `out` (`ho·wo`).
pub(super) fn max<T: Element>(src: &[T], g: &Conv2dGeometry, out: &mut [MaybeUninit<T>]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if usable::<T>() {
        // SAFETY: `usable` established that `T` is `f32` (for the casts) and that the
        // processor has AVX2 (for the `target_feature` function); the slice lengths the
        // kernel's pointer arithmetic relies on are asserted inside it.
        unsafe { avx2::max(cast(src), g, cast_mut(out)) };
        return true;
    }
    false
}

/// Routes one plane's output gradients `gy` (`ho·wo`) to its window maxima in `src`,
/// writing every element of `out` (`H·W`; zeros elsewhere).
pub(super) fn route<T: Element>(
    src: &[T],
    gy: &[T],
    g: &Conv2dGeometry,
    out: &mut [MaybeUninit<T>],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if usable::<T>() {
        // SAFETY: as in `max`: `usable` checked the type and the processor, the kernel
        // asserts the lengths.
        unsafe { avx2::route(cast(src), cast(gy), g, cast_mut(out)) };
        return true;
    }
    false
}

/// Per window of one plane, the element of `v` (`H·W`) where `src` has its maximum.
pub(super) fn select<T: Element>(
    src: &[T],
    v: &[T],
    g: &Conv2dGeometry,
    out: &mut [MaybeUninit<T>],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if usable::<T>() {
        // SAFETY: as in `max`: `usable` checked the type and the processor, the kernel
        // asserts the lengths.
        unsafe { avx2::select(cast(src), cast(v), g, cast_mut(out)) };
        return true;
    }
    false
}

/// Whether the kernels here apply: `T` is `f32` (the element types are sealed, and `DTYPE`
/// names the type) and the processor has AVX2.
#[cfg(target_arch = "x86_64")]
fn usable<T: Element>() -> bool {
    T::DTYPE == DType::F32 && avx2::available()
}

/// `&[T]` as `&[f32]`.
///
/// # Safety
/// `T` must be `f32` (then this is the same slice, same length and lifetime).
#[cfg(target_arch = "x86_64")]
unsafe fn cast<T>(s: &[T]) -> &[f32] {
    std::slice::from_raw_parts(s.as_ptr().cast(), s.len())
}

/// `&mut [MaybeUninit<T>]` as `&mut [MaybeUninit<f32>]`.
///
/// # Safety
/// `T` must be `f32` (then this is the same slice, same length and lifetime).
#[cfg(target_arch = "x86_64")]
unsafe fn cast_mut<T>(s: &mut [MaybeUninit<T>]) -> &mut [MaybeUninit<f32>] {
    std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len())
}

// The helpers below are `unsafe` for two reasons: they use AVX2 instructions (they are
// inlined into the `#[target_feature(enable = "avx2")]` kernels, which run only after
// `available()`), and they read or write through raw pointers. Their `# Safety` sections
// say which memory must be valid; the kernels establish it with the assertions at their
// top (the plane sizes against the geometry) and say why at each call.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Conv2dGeometry;
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
    }

    /// The first `k` (≤ 8) lanes set.
    ///
    /// # Safety
    /// AVX2 must be available.
    #[inline(always)]
    unsafe fn first(k: usize) -> __m256i {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(k as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }

    /// `2n` (n ≤ 8) floats from `p`, as two vectors (lanes past `2n` are zero and unread).
    ///
    /// # Safety
    /// AVX2 must be available, and `p..p + 2n` readable (masked lanes are not accessed).
    #[inline(always)]
    unsafe fn load_pairs(p: *const f32, n: usize) -> (__m256, __m256) {
        if n == 8 {
            (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)))
        } else {
            let k = 2 * n;
            let hi = if k > 8 {
                _mm256_maskload_ps(p.add(8), first(k - 8))
            } else {
                _mm256_setzero_ps()
            };
            (_mm256_maskload_ps(p, first(k.min(8))), hi)
        }
    }

    /// Stores the first `2n` floats of `(lo, hi)` at `p`.
    ///
    /// # Safety
    /// AVX2 must be available, and `p..p + 2n` writable (masked lanes are not accessed).
    #[inline(always)]
    unsafe fn store_pairs(p: *mut f32, n: usize, (lo, hi): (__m256, __m256)) {
        if n == 8 {
            _mm256_storeu_ps(p, lo);
            _mm256_storeu_ps(p.add(8), hi);
        } else {
            let k = 2 * n;
            _mm256_maskstore_ps(p, first(k.min(8)), lo);
            if k > 8 {
                _mm256_maskstore_ps(p.add(8), first(k - 8), hi);
            }
        }
    }

    /// `n` (≤ 8) floats from `p`.
    ///
    /// # Safety
    /// AVX2 must be available, and `p..p + n` readable.
    #[inline(always)]
    unsafe fn load(p: *const f32, n: usize) -> __m256 {
        if n == 8 {
            _mm256_loadu_ps(p)
        } else {
            _mm256_maskload_ps(p, first(n))
        }
    }

    /// Stores the first `n` (≤ 8) lanes of `v` at `p`.
    ///
    /// # Safety
    /// AVX2 must be available, and `p..p + n` writable.
    #[inline(always)]
    unsafe fn store(p: *mut f32, n: usize, v: __m256) {
        if n == 8 {
            _mm256_storeu_ps(p, v)
        } else {
            _mm256_maskstore_ps(p, first(n), v)
        }
    }

    /// Sixteen consecutive floats split into the even and the odd ones, in order.
    ///
    /// # Safety
    /// AVX2 must be available (no memory is accessed).
    #[inline(always)]
    unsafe fn deinterleave((lo, hi): (__m256, __m256)) -> (__m256, __m256) {
        // The shuffles give [0 2 8 10 | 4 6 12 14]; reordering the 64-bit pairs fixes that.
        let fix = |v: __m256| _mm256_castpd_ps(_mm256_permute4x64_pd::<0xD8>(_mm256_castps_pd(v)));
        (
            fix(_mm256_shuffle_ps::<0x88>(lo, hi)),
            fix(_mm256_shuffle_ps::<0xDD>(lo, hi)),
        )
    }

    /// The inverse of [`deinterleave`].
    ///
    /// # Safety
    /// AVX2 must be available (no memory is accessed).
    #[inline(always)]
    unsafe fn interleave(even: __m256, odd: __m256) -> (__m256, __m256) {
        let (a, b) = (_mm256_unpacklo_ps(even, odd), _mm256_unpackhi_ps(even, odd));
        (
            _mm256_permute2f128_ps::<0x20>(a, b),
            _mm256_permute2f128_ps::<0x31>(a, b),
        )
    }

    /// Lanes where `s` beats `v`.
    ///
    /// # Safety
    /// AVX2 must be available (no memory is accessed).
    #[inline(always)]
    unsafe fn beats(s: __m256, v: __m256) -> __m256 {
        _mm256_andnot_ps(
            _mm256_cmp_ps::<_CMP_LE_OQ>(s, v),
            _mm256_cmp_ps::<_CMP_ORD_Q>(v, v),
        )
    }

    /// Eight windows of a row pair.
    struct Windows {
        /// `b` beats `a`
        tr: __m256,
        /// `d` beats `c`
        br: __m256,
        /// the bottom row's winner beats the top's
        bottom: __m256,
        /// the maxima
        max: __m256,
    }

    /// Decides the `n` windows starting at column `2·j` of the rows `top` and `bottom`.
    ///
    /// # Safety
    /// AVX2 must be available, and `2n` floats readable from each of `top` and `bottom`.
    #[inline(always)]
    unsafe fn windows(top: *const f32, bottom: *const f32, n: usize) -> Windows {
        let (a, b) = deinterleave(load_pairs(top, n));
        let (c, d) = deinterleave(load_pairs(bottom, n));
        let (tr, br) = (beats(b, a), beats(d, c));
        let (tm, bm) = (_mm256_blendv_ps(a, b, tr), _mm256_blendv_ps(c, d, br));
        let bottom = beats(bm, tm);
        Windows {
            tr,
            br,
            bottom,
            max: _mm256_blendv_ps(tm, bm, bottom),
        }
    }

    /// Calls `f(row pair, first window, windows)` for every block of up to eight windows.
    #[inline(always)]
    fn blocks(g: &Conv2dGeometry, mut f: impl FnMut(usize, usize, usize)) {
        for oh in 0..g.ho {
            for j in (0..g.wo).step_by(8) {
                f(oh, j, (g.wo - j).min(8));
            }
        }
    }

    /// Window maxima of one plane (see `super::max`).
    ///
    /// # Safety
    /// AVX2 must be available. (The memory accessed is checked here.)
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn max(src: &[f32], g: &Conv2dGeometry, out: &mut [MaybeUninit<f32>]) {
        assert!(src.len() == g.h * g.w && out.len() == g.ho * g.wo);
        assert!(2 * g.ho <= g.h && 2 * g.wo <= g.w);
        let (s, o, w) = (src.as_ptr(), out.as_mut_ptr().cast::<f32>(), g.w);
        // SAFETY (every block): `oh < ho`, `j + n <= wo`; by the assertions above, the
        // rows `2·oh` and `2·oh + 1` exist (`2·ho <= h`) and columns `2j..2j + 2n` are
        // inside them (`2·wo <= w`), so both reads are inside `src`; the store,
        // `oh·wo + j .. + n`, is inside `out` (`ho·wo`).
        blocks(g, |oh, j, n| {
            let top = s.add(2 * oh * w + 2 * j);
            let win = windows(top, top.add(w), n);
            store(o.add(oh * g.wo + j), n, win.max);
        });
    }

    /// Routes one plane's output gradients to its window maxima (see `super::route`).
    ///
    /// # Safety
    /// AVX2 must be available. (The memory accessed is checked here.)
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn route(
        src: &[f32],
        gy: &[f32],
        g: &Conv2dGeometry,
        out: &mut [MaybeUninit<f32>],
    ) {
        assert!(src.len() == g.h * g.w && out.len() == src.len() && gy.len() == g.ho * g.wo);
        assert!(2 * g.ho <= g.h && 2 * g.wo <= g.w);
        let (s, o, w) = (src.as_ptr(), out.as_mut_ptr().cast::<f32>(), g.w);
        // Columns and rows that no window covers get zeros. SAFETY: row `r < h`, columns
        // `from..w` of it: inside `out`, which has `h·w` elements (asserted).
        for r in 0..g.h {
            let from = if r < 2 * g.ho { 2 * g.wo } else { 0 };
            std::ptr::write_bytes(o.add(r * w + from), 0, w - from);
        }
        // SAFETY (every block): as in `max`, the reads of `src` at `at` and `at + w` (2n
        // floats each) are inside it, and so are the stores at the same positions of
        // `out` (same size, asserted); `gy` is read at `oh·wo + j .. + n`, inside its
        // `ho·wo` elements (asserted).
        blocks(g, |oh, j, n| {
            let at = 2 * oh * w + 2 * j;
            let win = windows(s.add(at), s.add(at + w), n);
            let gv = load(gy.as_ptr().add(oh * g.wo + j), n);
            let ones = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
            let top = _mm256_andnot_ps(win.bottom, gv);
            let bottom = _mm256_and_ps(win.bottom, gv);
            let row_top = interleave(
                _mm256_and_ps(_mm256_xor_ps(win.tr, ones), top),
                _mm256_and_ps(win.tr, top),
            );
            let row_bottom = interleave(
                _mm256_and_ps(_mm256_xor_ps(win.br, ones), bottom),
                _mm256_and_ps(win.br, bottom),
            );
            store_pairs(o.add(at), n, row_top);
            store_pairs(o.add(at + w), n, row_bottom);
        });
    }

    /// Per window, the element of `v` where `src` has its maximum (see `super::select`).
    ///
    /// # Safety
    /// AVX2 must be available. (The memory accessed is checked here.)
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn select(
        src: &[f32],
        v: &[f32],
        g: &Conv2dGeometry,
        out: &mut [MaybeUninit<f32>],
    ) {
        assert!(src.len() == g.h * g.w && v.len() == src.len() && out.len() == g.ho * g.wo);
        assert!(2 * g.ho <= g.h && 2 * g.wo <= g.w);
        let (s, vp, o, w) = (
            src.as_ptr(),
            v.as_ptr(),
            out.as_mut_ptr().cast::<f32>(),
            g.w,
        );
        // SAFETY (every block): as in `max`; `v` has the size of `src` (asserted), so its
        // reads at the same positions are inside it too.
        blocks(g, |oh, j, n| {
            let at = 2 * oh * w + 2 * j;
            let win = windows(s.add(at), s.add(at + w), n);
            let (va, vb) = deinterleave(load_pairs(vp.add(at), n));
            let (vc, vd) = deinterleave(load_pairs(vp.add(at + w), n));
            let upper = _mm256_blendv_ps(va, vb, win.tr);
            let lower = _mm256_blendv_ps(vc, vd, win.br);
            store(
                o.add(oh * g.wo + j),
                n,
                _mm256_blendv_ps(upper, lower, win.bottom),
            );
        });
    }
}
