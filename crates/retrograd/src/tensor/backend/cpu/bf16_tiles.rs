//! The blocked driver of the hardware `bf16` products: operands packed into 16×32 tiles,
//! a microkernel per 32×32 block of the result.
//!
//! Layout of the packed operands (both in 64-byte lines, one line per tile row):
//! - `A` (`m×k`): strips of 16 rows; in a strip, one tile per 32 columns of `k`, 16 lines
//!   each, line `r` holding row `r`'s 32 consecutive `k` entries (row-major tiles).
//! - `B` (`k×n`): strips of 16 columns; in a strip, one tile per 32 rows of `k`, 16 lines
//!   each, line `p` holding for each of the 16 columns the two entries at `k = 2p, 2p + 1`
//!   (the "VNNI" pair layout that AMX's `tdpbf16ps` and AVX-512's `vdpbf16ps` multiply).
//!
//! Tile `q` of strip `s` is lines `(s·kt + q)·16 ..` for `kt = ⌈k/32⌉` tiles per strip.
//! Edges are padded with zeros: rows and columns to multiples of 32 (two strips per block),
//! `k` to a multiple of 32 (an odd `k` included). A padding zero only ever multiplies
//! another padding entry or lands in a padding row or column of the result, so NaN and
//! infinities of the data reach exactly the outputs they should.
//!
//! All of `B` is packed once per product; `A` in panels of [`PANEL_ROWS`] rows, and for
//! each panel the blocks run column block by column block, so that the two `B` strips of
//! a block stay in cache while the panel's row blocks pass over them.

// The AVX-512 intrinsics are stable since Rust 1.89, as are the AVX-512 target features
// that math.rs already enables: building the crate needs 1.89 whatever `rust-version` says.
#![allow(clippy::incompatible_msrv)]

use super::matmul::Mat;
use std::cell::Cell;

/// One tile row: 32 `bf16` (as bits), 64 bytes, aligned to a cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Line(pub(crate) [u16; 32]);

const ZERO_LINE: Line = Line([0; 32]);

/// Rows of `A` packed at a time (a panel of `PANEL_ROWS × k` stays in the L2 cache for
/// `k` up to a few thousand).
const PANEL_ROWS: usize = 256;

/// The operands of one block: `tiles` consecutive tiles of two strips of `A` (at `a` and
/// `a + strip` lines) and of two strips of `B` (at `b` and `b + strip`).
#[derive(Clone, Copy)]
pub(crate) struct Strips {
    pub(crate) a: *const Line,
    pub(crate) b: *const Line,
    pub(crate) strip: usize,
    pub(crate) tiles: usize,
}

/// A microkernel: one 32×32 block of the result from two strips of `A` and two of `B`.
pub(crate) trait Microkernel {
    /// `c (32×32, f32, row stride c_rs, columns adjacent) = (c if load, else 0) + A·B`
    /// over the tiles `s` describes.
    ///
    /// # Safety
    /// The `16·s.tiles` lines from each of `s.a`, `s.a + s.strip`, `s.b`, `s.b + s.strip`
    /// are readable; the 32 rows of 32 `f32` at `c` (row `i` at `c + i·c_rs`) are writable
    /// and, with `load`, initialised. The processor has the kernel's instructions (and,
    /// for AMX, the tile state is configured by [`Microkernel::begin`]).
    unsafe fn block(&self, s: Strips, c: *mut f32, c_rs: isize, load: bool);
    /// Prepares the thread to run blocks (AMX: loads the tile configuration).
    ///
    /// # Safety
    /// The processor (and the OS) provide the kernel's instructions.
    unsafe fn begin(&self) {}
    /// Undoes [`Microkernel::begin`] (AMX: releases the tiles).
    ///
    /// # Safety
    /// As for [`Microkernel::begin`].
    unsafe fn end(&self) {}
}

/// Tiles of `k` (32 entries each) per pass over a panel. A block of the result stays in
/// tiles for a whole pass and is loaded and stored once per pass: storing it after every 8
/// or 16 tiles (so that two strips of `B` fit in the L1 cache) was measured slower at
/// 1024³ and 2048³ than one pass over all of `k`, whose strips come from the L2 cache.
/// Passes of 64 tiles keep a panel's pass (256 rows × 2048 entries, 1 MiB) within L2.
const PASS_TILES: usize = 64;

thread_local! {
    /// Packed operands and the result of the blocks that cannot be stored in place, kept
    /// per thread so that repeated products reuse the pages.
    static SCRATCH: Cell<(Vec<Line>, Vec<Line>, Vec<f32>)> =
        const { Cell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// Makes `v` hold exactly `len` lines (contents unspecified: the packers write them all).
fn resize(v: &mut Vec<Line>, len: usize) {
    v.clear();
    v.resize(len, ZERO_LINE);
}

/// `dst = a · b` (or `+=`) for `bf16` operands given as bit patterns, through kernel `kern`.
///
/// Blocks of the result that lie whole in a destination with adjacent columns accumulate
/// in place; the others (edges, other layouts) in a buffer of the panel's rows, added to
/// `dst` after the panel's last pass.
///
/// # Safety
/// As [`super::gemm_lowp::gemm_lowp_into`]; the processor supports `kern`'s instructions.
pub(crate) unsafe fn gemm_bf16<K: Microkernel>(
    kern: &K,
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    (rs, cs): (isize, isize),
    accumulate: bool,
    a: Mat<u16>,
    b: Mat<u16>,
) {
    if m == 0 || n == 0 {
        return;
    }
    let kt = k.div_ceil(32);
    let n_blocks = n.div_ceil(32);
    let strip = 16 * kt; // lines per strip
    let (mut ap, mut bp, mut cbuf) = SCRATCH.take();
    resize(&mut bp, n_blocks * 2 * strip);
    // SAFETY: `b` is the caller's `k×n` operand; `bp` has room for `2·n_blocks` strips.
    unsafe { pack_b(b, k, n, kt, &mut bp) };
    // Whole blocks go straight to the destination when its columns are adjacent and its
    // rows at least a block apart (so distinct, as the contract's elements are).
    let direct = cs == 1 && rs >= 32;
    let in_place = |i: usize, j: usize| direct && i + 32 <= m && j + 32 <= n;
    let cbuf_rs = n_blocks * 32;
    /// Calls [`Microkernel::end`] when the product ends, returning or unwinding.
    struct End<'a, K: Microkernel>(&'a K);
    impl<K: Microkernel> Drop for End<'_, K> {
        fn drop(&mut self) {
            // SAFETY: constructed only right after `begin` succeeded on this thread (below).
            unsafe { self.0.end() }
        }
    }
    // SAFETY: the caller guarantees the instructions; `_end` undoes it on every path.
    unsafe { kern.begin() };
    let _end = End(kern);
    for i0 in (0..m).step_by(PANEL_ROWS) {
        let rows = PANEL_ROWS.min(m - i0);
        let m_blocks = rows.div_ceil(32);
        resize(&mut ap, m_blocks * 2 * strip);
        // SAFETY: rows `i0 .. i0 + rows` of the caller's `a`; `ap` has room for them.
        unsafe {
            pack_a(
                Mat(a.0.offset(i0 as isize * a.1), a.1, a.2),
                rows,
                k,
                kt,
                &mut ap,
            )
        };
        if !(direct && m % 32 == 0 && n % 32 == 0) {
            // Some block goes through the buffer (its contents are written by the first
            // pass: the zeros only make it initialised).
            cbuf.clear();
            cbuf.resize(m_blocks * 32 * cbuf_rs, 0.0);
        }
        // With `k = 0` one pass of no tiles writes the zeros (or keeps `dst`).
        for q0 in (0..kt.max(1)).step_by(PASS_TILES) {
            let tiles = PASS_TILES.min(kt - q0.min(kt));
            for jb in 0..n_blocks {
                let b_at = bp[(jb * 2 * strip + 16 * q0).min(bp.len())..].as_ptr();
                for ib in 0..m_blocks {
                    let (i, j) = (i0 + ib * 32, jb * 32);
                    let s = Strips {
                        a: ap[(ib * 2 * strip + 16 * q0).min(ap.len())..].as_ptr(),
                        b: b_at,
                        strip,
                        tiles,
                    };
                    // SAFETY: strips: block `ib` of the panel and `jb` of `B` start at
                    // `2·strip` lines times their index, each strip holds `kt ≥ q0 + tiles`
                    // tiles, so the `16·tiles` lines from tile `q0` of both strips lie in
                    // `ap`/`bp`. Result: in place, rows `i .. i + 32 ≤ m` and columns
                    // `j .. j + 32 ≤ n` of `dst` (adjacent, as `cs == 1`), writable, and
                    // initialised by the contract when accumulating, or by the first pass;
                    // otherwise the block's 32×32 cells of `cbuf` (`ib < m_blocks` rows of
                    // blocks, `jb < n_blocks` columns), written by the first pass.
                    unsafe {
                        if in_place(i, j) {
                            let c = dst.offset(i as isize * rs + j as isize);
                            kern.block(s, c, rs, accumulate || q0 > 0)
                        } else {
                            let c = cbuf.as_mut_ptr().add(ib * 32 * cbuf_rs + j);
                            kern.block(s, c, cbuf_rs as isize, q0 > 0)
                        }
                    }
                }
            }
        }
        for ib in 0..m_blocks {
            for jb in 0..n_blocks {
                let (i, j) = (i0 + ib * 32, jb * 32);
                if in_place(i, j) {
                    continue;
                }
                for r in 0..32.min(m - i) {
                    for c in 0..32.min(n - j) {
                        let v = cbuf[(ib * 32 + r) * cbuf_rs + j + c];
                        // SAFETY: (i + r, j + c) is an element of `dst` (r < m − i,
                        // c < n − j), valid by the contract.
                        unsafe {
                            let d = dst.offset((i + r) as isize * rs + (j + c) as isize * cs);
                            *d = if accumulate { *d + v } else { v };
                        }
                    }
                }
            }
        }
    }
    SCRATCH.set((ap, bp, cbuf));
}

/// Packs the `rows × k` matrix `a` into row strips of tiles (padding with zeros to
/// `2·⌈rows/32⌉` strips of `kt` tiles).
///
/// # Safety
/// Every element of `a` (`rows × k`) lies in one live allocation.
unsafe fn pack_a(a: Mat<u16>, rows: usize, k: usize, kt: usize, out: &mut [Line]) {
    let strips = rows.div_ceil(32) * 2;
    assert_eq!(out.len(), strips * kt * 16, "pack_a: scratch size");
    for s in 0..strips {
        for r in 0..16 {
            let i = s * 16 + r;
            for q in 0..kt {
                let line = &mut out[(s * kt + q) * 16 + r].0;
                let k0 = q * 32;
                let len = if i < rows { 32.min(k - k0) } else { 0 };
                // SAFETY: row `i < rows`, columns `k0 .. k0 + len ≤ k`: elements of `a`.
                let at =
                    |c: usize| unsafe { *a.0.offset(i as isize * a.1 + (k0 + c) as isize * a.2) };
                if a.2 == 1 && len == 32 {
                    // SAFETY: with a column stride of 1 the 32 elements are adjacent.
                    let row = unsafe {
                        std::slice::from_raw_parts(a.0.offset(i as isize * a.1 + k0 as isize), 32)
                    };
                    line.copy_from_slice(row);
                } else {
                    for (c, x) in line.iter_mut().enumerate() {
                        *x = if c < len { at(c) } else { 0 };
                    }
                }
            }
        }
    }
}

/// Packs the `k × n` matrix `b` into column strips of pair-interleaved tiles (padding with
/// zeros to `2·⌈n/32⌉` strips of `kt` tiles).
///
/// # Safety
/// Every element of `b` (`k × n`) lies in one live allocation.
unsafe fn pack_b(b: Mat<u16>, k: usize, n: usize, kt: usize, out: &mut [Line]) {
    let strips = n.div_ceil(32) * 2;
    assert_eq!(out.len(), strips * kt * 16, "pack_b: scratch size");
    // SAFETY (for `at`): callers pass `p < k`, `j < n`: an element of `b`.
    let at = |p: usize, j: usize| unsafe { *b.0.offset(p as isize * b.1 + j as isize * b.2) };
    let wide = is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw");
    for pair in 0..kt * 16 {
        let (p0, p1) = (2 * pair, 2 * pair + 1);
        let line_of = |s: usize| (s * kt + pair / 16) * 16 + pair % 16;
        if b.2 == 1 && p1 < k {
            // Row-major rows: interleave two rows, 16 columns at a time.
            // SAFETY: rows `p0`, `p1 < k` of `b`, `n` adjacent columns each.
            let (r0, r1) = unsafe {
                (
                    std::slice::from_raw_parts(b.0.offset(p0 as isize * b.1), n),
                    std::slice::from_raw_parts(b.0.offset(p1 as isize * b.1), n),
                )
            };
            // Pairs of strips of 32 whole columns, with AVX-512 BW where it is present.
            let mut s0 = 0;
            if wide {
                while s0 * 16 + 32 <= n {
                    let (l0, l1) = (line_of(s0), line_of(s0 + 1));
                    let (lo, hi) = (&mut out[l0] as *mut Line, &mut out[l1] as *mut Line);
                    // SAFETY: 32 columns from `16·s0` (≤ n − 32) of each row; `lo` and `hi`
                    // are two distinct lines of `out`; the processor has AVX-512 BW.
                    unsafe { interleave32(r0[s0 * 16..].as_ptr(), r1[s0 * 16..].as_ptr(), lo, hi) };
                    s0 += 2;
                }
            }
            for s in s0..strips {
                let line = &mut out[line_of(s)].0;
                let j0 = s * 16;
                if j0 + 16 <= n {
                    for c in 0..16 {
                        line[2 * c] = r0[j0 + c];
                        line[2 * c + 1] = r1[j0 + c];
                    }
                } else {
                    for c in 0..16 {
                        let j = j0 + c;
                        line[2 * c] = if j < n { r0[j] } else { 0 };
                        line[2 * c + 1] = if j < n { r1[j] } else { 0 };
                    }
                }
            }
        } else {
            for s in 0..strips {
                let line = &mut out[line_of(s)].0;
                for c in 0..16 {
                    let j = s * 16 + c;
                    line[2 * c] = if j < n && p0 < k { at(p0, j) } else { 0 };
                    line[2 * c + 1] = if j < n && p1 < k { at(p1, j) } else { 0 };
                }
            }
        }
    }
}

/// Interleaves 32 entries of two rows `r0`, `r1` into two lines of pairs: `lo` gets
/// `r0[0], r1[0], …, r0[15], r1[15]` and `hi` the same for entries 16 to 31.
///
/// # Safety
/// `r0` and `r1` have 32 readable entries; `lo` and `hi` are writable lines; the processor
/// has AVX-512 F and BW.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn interleave32(r0: *const u16, r1: *const u16, lo: *mut Line, hi: *mut Line) {
    use std::arch::x86_64::*;
    // Index `c < 32` picks `r0[c]`, `32 + c` picks `r1[c]`.
    const LO: [u16; 32] = {
        let mut idx = [0u16; 32];
        let mut c = 0;
        while c < 16 {
            idx[2 * c] = c as u16;
            idx[2 * c + 1] = 32 + c as u16;
            c += 1;
        }
        idx
    };
    const HI: [u16; 32] = {
        let mut idx = [0u16; 32];
        let mut c = 0;
        while c < 16 {
            idx[2 * c] = 16 + c as u16;
            idx[2 * c + 1] = 48 + c as u16;
            c += 1;
        }
        idx
    };
    // SAFETY: unaligned 64-byte loads of the 32 entries of each row and of the index
    // tables; stores to the two lines (64 bytes each), all by the contract.
    unsafe {
        let (x, y) = (_mm512_loadu_si512(r0.cast()), _mm512_loadu_si512(r1.cast()));
        let lo_idx = _mm512_loadu_si512(LO.as_ptr().cast());
        let hi_idx = _mm512_loadu_si512(HI.as_ptr().cast());
        _mm512_storeu_si512(lo.cast(), _mm512_permutex2var_epi16(x, lo_idx, y));
        _mm512_storeu_si512(hi.cast(), _mm512_permutex2var_epi16(x, hi_idx, y));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layouts the microkernels rely on, checked entry by entry on an odd-sized,
    /// transposed operand.
    #[test]
    fn packing_puts_each_entry_where_the_kernels_read_it() {
        let (rows, k): (usize, usize) = (35, 37);
        let kt = k.div_ceil(32);
        let data: Vec<u16> = (1..=(rows * k) as u16).collect();
        // `a` read column-major: a[i][p] = data[p * rows + i].
        let a = Mat(data.as_ptr(), 1, rows as isize);
        let mut ap = vec![ZERO_LINE; 4 * kt * 16];
        // SAFETY: `a` addresses `rows × k` elements of `data`.
        unsafe { pack_a(a, rows, k, kt, &mut ap) };
        for s in 0..4 {
            for q in 0..kt {
                for r in 0..16 {
                    for c in 0..32 {
                        let (i, p) = (s * 16 + r, q * 32 + c);
                        let want = if i < rows && p < k {
                            data[p * rows + i]
                        } else {
                            0
                        };
                        assert_eq!(ap[(s * kt + q) * 16 + r].0[c], want, "a[{i}][{p}]");
                    }
                }
            }
        }
        // The same data as `b` (k × n with n = rows), row-major and column-major.
        let n = rows;
        let mut bp = vec![ZERO_LINE; 4 * kt * 16];
        let mut bt = bp.clone();
        // SAFETY: both views address `k × n` elements of `data`.
        unsafe {
            pack_b(Mat(data.as_ptr(), n as isize, 1), k, n, kt, &mut bp);
            pack_b(Mat(data.as_ptr(), 1, k as isize), k, n, kt, &mut bt);
        }
        for s in 0..4 {
            for pair in 0..kt * 16 {
                let line = (s * kt + pair / 16) * 16 + pair % 16;
                for c in 0..16 {
                    for e in 0..2 {
                        let (p, j) = (2 * pair + e, s * 16 + c);
                        let inside = p < k && j < n;
                        let row_major = if inside { data[p * n + j] } else { 0 };
                        let col_major = if inside { data[j * k + p] } else { 0 };
                        assert_eq!(bp[line].0[2 * c + e], row_major, "b[{p}][{j}]");
                        assert_eq!(bt[line].0[2 * c + e], col_major, "bᵀ[{p}][{j}]");
                    }
                }
            }
        }
    }
}
