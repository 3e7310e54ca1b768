//! `bf16` products on AMX tiles (Intel Advanced Matrix Extensions, Sapphire Rapids and
//! later): detection, the kernel's permission, and the 32×32 microkernel.
//!
//! A tile register holds up to 16 rows of 64 bytes; `tdpbf16ps C, A, B` adds to the
//! 16×16 `f32` tile `C` the product of a 16×32 `bf16` tile `A` and a 32×16 one `B`, given
//! in pairs of `k` (see [`super::bf16_tiles`] for the packed layout). The microkernel keeps
//! a 32×32 block of the result in four tiles (tmm0–3) and, per 32 entries of `k`, loads
//! two tiles of `A` (tmm4, tmm5) and two of `B` (tmm6, tmm7): four products per four loads.
//!
//! Linux gives a process the (8 KiB) tile state only on request: `arch_prctl(
//! ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)` once per process; a tile instruction before
//! it raises SIGILL. [`available`] makes the request once and reports AMX only if the
//! processor has AMX-TILE and AMX-BF16 and the request succeeded. Other systems are not
//! asked and never take this path.
//!
//! The tile instructions are written with `asm!` (the AMX intrinsics are unstable). Rust
//! neither uses nor saves tile registers, so tile state persists between `asm!` blocks of
//! one thread; the configuration is loaded once per product ([`Amx::begin`]) and released
//! at its end ([`Amx::end`]), so no tile state outlives a call.

use super::bf16_tiles::{Microkernel, Strips};
use std::sync::OnceLock;

/// Whether AMX-BF16 products can run in this process (asks the kernel for the tile state
/// the first time; the answer is cached).
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(detect)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn detect() -> bool {
    use std::arch::x86_64::__cpuid_count;
    // Leaf 0 gives the highest leaf.
    let max_leaf = __cpuid_count(0, 0).eax;
    if max_leaf < 7 {
        return false;
    }
    // Leaf 7, sub-leaf 0: structured extended features.
    let edx = __cpuid_count(7, 0).edx;
    let (amx_bf16, amx_tile) = (edx & (1 << 22) != 0, edx & (1 << 24) != 0);
    if !(amx_bf16 && amx_tile) {
        return false;
    }
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with ARCH_REQ_XCOMP_PERM takes an integer feature number and only
    // changes this process's permitted state components; it touches no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        )
    };
    r == 0
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect() -> bool {
    false
}

/// The AMX microkernel (construct only where [`available`] is true).
pub(crate) struct Amx;

/// The tile configuration (palette 1): tiles 0–7 all 16 rows × 64 bytes.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

const CONFIG: TileConfig = TileConfig {
    palette: 1,
    start_row: 0,
    reserved: [0; 14],
    colsb: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
    rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
};

#[cfg(target_arch = "x86_64")]
impl Microkernel for Amx {
    unsafe fn begin(&self) {
        // SAFETY: `CONFIG` is a valid 64-byte palette-1 configuration (reserved bytes zero,
        // each used tile at most 16 rows × 64 bytes); the caller establishes that the
        // processor has AMX and that this process holds the tile state (`available`).
        unsafe { core::arch::asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly)) };
    }

    unsafe fn end(&self) {
        // SAFETY: as `begin`; `tilerelease` returns the tiles to their initial state.
        unsafe { core::arch::asm!("tilerelease", options(nostack, nomem)) };
    }

    unsafe fn block(&self, s: Strips, c: *mut f32, c_rs: isize, load: bool) {
        let stride = c_rs * 4; // bytes between rows of `c`
        let c10 = c.wrapping_offset(16 * c_rs);
        // Tile loads read 16 rows of 64 bytes from `base + r·stride`.
        if load {
            // SAFETY: the four 16×16 quarters of the caller's 32×32 block at `c`, readable
            // by `block`'s contract; tiles configured by `begin`.
            unsafe {
                core::arch::asm!(
                    "tileloadd tmm0, [{c00} + {s}*1]",
                    "tileloadd tmm1, [{c00} + {s}*1 + 64]",
                    "tileloadd tmm2, [{c10} + {s}*1]",
                    "tileloadd tmm3, [{c10} + {s}*1 + 64]",
                    c00 = in(reg) c, c10 = in(reg) c10, s = in(reg) stride,
                    options(nostack, readonly),
                )
            };
        } else {
            // SAFETY: tiles configured by `begin`; no memory access.
            unsafe {
                core::arch::asm!(
                    "tilezero tmm0",
                    "tilezero tmm1",
                    "tilezero tmm2",
                    "tilezero tmm3",
                    options(nostack, nomem),
                )
            };
        }
        for q in 0..s.tiles {
            // SAFETY: tile `q` of each of the two strips of `A` and of `B`: 16 lines of
            // 64 bytes from `s.a/s.b + 16q` (and `+ s.strip`), inside the `16·s.tiles`
            // lines per strip the contract provides.
            unsafe {
                let (a0, b0) = (s.a.add(16 * q), s.b.add(16 * q));
                core::arch::asm!(
                    "tileloadd tmm4, [{a0} + {s}*1]",
                    "tileloadd tmm6, [{b0} + {s}*1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tileloadd tmm7, [{b1} + {s}*1]",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tileloadd tmm5, [{a1} + {s}*1]",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    a0 = in(reg) a0, a1 = in(reg) a0.add(s.strip),
                    b0 = in(reg) b0, b1 = in(reg) b0.add(s.strip),
                    s = in(reg) 64usize,
                    options(nostack, readonly),
                )
            };
        }
        // SAFETY: the four quarters of the caller's writable 32×32 block at `c`.
        unsafe {
            core::arch::asm!(
                "tilestored [{c00} + {s}*1], tmm0",
                "tilestored [{c00} + {s}*1 + 64], tmm1",
                "tilestored [{c10} + {s}*1], tmm2",
                "tilestored [{c10} + {s}*1 + 64], tmm3",
                c00 = in(reg) c, c10 = in(reg) c10, s = in(reg) stride,
                options(nostack),
            )
        };
    }
}
