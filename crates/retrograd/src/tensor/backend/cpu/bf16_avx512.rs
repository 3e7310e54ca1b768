//! `bf16` products with AVX-512 BF16 (`vdpbf16ps`): the path for processors without AMX
//! (Cooper Lake, Zen 4 and later).
//!
//! `vdpbf16ps acc, x, y` adds to each of 16 `f32` lanes the two products of the lane's
//! `bf16` pair in `x` and `y`. With `B` packed in pairs of `k` (a tile line holds 16
//! columns × 2 entries, [`super::bf16_tiles`]), a line of `B` is `y`, and `x` is one row's
//! pair of `A` broadcast to all lanes: a 16×16 block of the result is 16 accumulators, and
//! each pair of `k` costs one load of `B`, 16 broadcasts of `A` and 16 `vdpbf16ps`.

// The AVX-512 intrinsics are stable since Rust 1.89, as are the AVX-512 target features
// that math.rs already enables: building the crate needs 1.89 whatever `rust-version` says.
#![allow(clippy::incompatible_msrv)]

use super::bf16_tiles::{Line, Microkernel, Strips};
use std::arch::x86_64::*;

/// Whether the processor has AVX-512 BF16 (and the AVX-512 foundation it extends).
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16")
}

/// The AVX-512 BF16 microkernel (construct only where [`available`] is true).
pub(crate) struct Avx512Bf16;

impl Microkernel for Avx512Bf16 {
    unsafe fn block(&self, s: Strips, c: *mut f32, c_rs: isize, load: bool) {
        for (di, dj) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            // SAFETY: strip `di` of `A` and `dj` of `B` (`16·s.tiles` lines each by the
            // contract), and the 16×16 quarter (di, dj) of the caller's block at `c`; the
            // processor has the instructions by the contract.
            unsafe {
                quarter(
                    s.a.add(di * s.strip),
                    s.b.add(dj * s.strip),
                    s.tiles,
                    c.offset(16 * di as isize * c_rs + 16 * dj as isize),
                    c_rs,
                    load,
                )
            };
        }
    }
}

/// One 16×16 quarter: `c = (c if load, else 0) + A·B` over one strip of each.
///
/// # Safety
/// `a` and `b` are strips of `16·kt` readable lines; `c` 16 rows of 16 writable `f32`
/// (initialised with `load`) at row stride `c_rs`; the processor has AVX-512F and BF16.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn quarter(a: *const Line, b: *const Line, kt: usize, c: *mut f32, c_rs: isize, load: bool) {
    let mut acc = [_mm512_setzero_ps(); 16];
    if load {
        for (r, x) in acc.iter_mut().enumerate() {
            // SAFETY: row `r` of the quarter: 16 `f32` at `c + r·c_rs`.
            *x = unsafe { _mm512_loadu_ps(c.offset(r as isize * c_rs)) };
        }
    }
    for q in 0..kt {
        // SAFETY: lines `16q .. 16q + 16` of both strips (`q < kt`).
        let (ta, tb) = unsafe {
            (
                &*a.add(16 * q).cast::<[Line; 16]>(),
                &*b.add(16 * q).cast::<[Line; 16]>(),
            )
        };
        for (p, line) in tb.iter().enumerate() {
            // SAFETY: a line is 64 bytes, one `__m512i`; unaligned load.
            let y: __m512bh =
                unsafe { std::mem::transmute(_mm512_loadu_si512(line.0.as_ptr().cast())) };
            for (r, x) in acc.iter_mut().enumerate() {
                // SAFETY: entries `2p, 2p + 1 < 32` of line `r`: 4 bytes, read unaligned;
                // `__m512i` and `__m512bh` are both 64 plain bytes.
                let xa: __m512bh = unsafe {
                    let pair = ta[r].0.as_ptr().add(2 * p).cast::<i32>().read_unaligned();
                    std::mem::transmute(_mm512_set1_epi32(pair))
                };
                *x = _mm512_dpbf16_ps(*x, xa, y);
            }
        }
    }
    for (r, x) in acc.iter().enumerate() {
        // SAFETY: row `r` of the quarter, writable by the contract.
        unsafe { _mm512_storeu_ps(c.offset(r as isize * c_rs), *x) };
    }
}
