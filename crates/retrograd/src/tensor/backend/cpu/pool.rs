//! A cache of freed element buffers.
//!
//! A training step allocates the same tensors step after step. Large buffers come from the
//! system allocator as fresh pages (`mmap`), which are zeroed and faulted in one page at a
//! time on first touch and unmapped again when freed: at 28×28 images and batch 32 that
//! was thousands of page faults and a memset of tens of megabytes per step. Buffers of at
//! least [`MIN_BYTES`] are therefore allocated in size classes (four per power of two), and
//! a freed buffer (a dropped storage or a kernel's scratch) goes back to a shelf of its
//! class, from which the next request of that class takes it. At most [`MAX_CACHED_BYTES`]
//! are kept; beyond that buffers are freed.
//!
//! Buffers are raw allocations of the global allocator, keyed by byte size and alignment,
//! so `f64` and `i64` buffers share shelves. Taken buffers are empty (`len` 0): kernels
//! write every element they return, so nothing is zeroed that need not be.

use std::alloc::{dealloc, Layout as AllocLayout};
use std::collections::BTreeMap;
use std::mem::{align_of, size_of, MaybeUninit};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Buffers smaller than this are left to the system allocator, which serves them quickly
/// from its own free lists.
pub(crate) const MIN_BYTES: usize = 16 << 10;
/// The most bytes kept on the shelves.
pub(crate) const MAX_CACHED_BYTES: usize = 512 << 20;

struct Block(NonNull<u8>);
// SAFETY: a block is an unaliased allocation owned by the shelf; no thread holds a
// reference into it.
unsafe impl Send for Block {}

/// Free blocks by (bytes, alignment).
static SHELVES: Mutex<BTreeMap<(usize, usize), Vec<Block>>> = Mutex::new(BTreeMap::new());
static CACHED_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The size class of a request of `bytes` (≥ `MIN_BYTES`): `bytes` rounded up to a multiple
/// of a quarter of its power of two (so at most 25% is wasted). Classes are multiples of
/// 2 KiB, so of every element size.
fn class(bytes: usize) -> usize {
    let top = usize::BITS - 1 - (bytes - 1).leading_zeros(); // bytes in (2^top, 2^(top+1)]
    let step = 1usize << (top - 2);
    bytes.div_ceil(step) * step
}

/// An empty vector with room for at least `n` elements, reusing a freed buffer if one of
/// the right class is cached.
pub(crate) fn take<T: Copy + 'static>(n: usize) -> Vec<T> {
    let size = size_of::<T>();
    if size == 0 || n.saturating_mul(size) < MIN_BYTES || n > isize::MAX as usize / size {
        return Vec::with_capacity(n);
    }
    let bytes = class(n * size);
    let cap = bytes / size;
    let key = (bytes, align_of::<T>());
    let block = {
        let mut shelves = SHELVES.lock().unwrap_or_else(|e| e.into_inner());
        shelves.get_mut(&key).and_then(Vec::pop)
    };
    match block {
        Some(Block(p)) => {
            CACHED_BYTES.fetch_sub(bytes, Ordering::Relaxed);
            // SAFETY: the block was allocated by the global allocator for a `Vec` with
            // `bytes` bytes at this alignment (see `give`); `cap * size == bytes`.
            unsafe { Vec::from_raw_parts(p.as_ptr().cast::<T>(), 0, cap) }
        }
        None => Vec::with_capacity(cap),
    }
}

/// Returns a buffer to the shelves (or to the system allocator when it was not allocated
/// in a size class or the shelves are full).
pub(crate) fn give<T: Copy + 'static>(v: Vec<T>) {
    let size = size_of::<T>();
    let bytes = v.capacity() * size;
    if size == 0 || bytes < MIN_BYTES || class(bytes) != bytes {
        return;
    }
    if CACHED_BYTES.fetch_add(bytes, Ordering::Relaxed) + bytes > MAX_CACHED_BYTES {
        CACHED_BYTES.fetch_sub(bytes, Ordering::Relaxed);
        return;
    }
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: a vector's pointer is non-null; ownership of the allocation moves to the shelf.
    let p = unsafe { NonNull::new_unchecked(v.as_mut_ptr().cast::<u8>()) };
    let mut shelves = SHELVES.lock().unwrap_or_else(|e| e.into_inner());
    shelves
        .entry((bytes, align_of::<T>()))
        .or_default()
        .push(Block(p));
}

/// Frees every cached buffer.
#[allow(dead_code)]
pub(crate) fn clear() {
    let all = std::mem::take(&mut *SHELVES.lock().unwrap_or_else(|e| e.into_inner()));
    for ((bytes, align), blocks) in all {
        for Block(p) in blocks {
            CACHED_BYTES.fetch_sub(bytes, Ordering::Relaxed);
            // SAFETY: allocated by the global allocator with this size and alignment.
            unsafe {
                dealloc(
                    p.as_ptr(),
                    AllocLayout::from_size_align_unchecked(bytes, align),
                )
            };
        }
    }
}

/// A vector of `n` elements, each written by `init` (which must write all of them): the
/// buffer comes from the shelves and is never zeroed.
pub(crate) fn build<T: Copy + 'static>(
    n: usize,
    init: impl FnOnce(&mut [MaybeUninit<T>]),
) -> Vec<T> {
    let mut v = take::<T>(n);
    init(&mut v.spare_capacity_mut()[..n]);
    // SAFETY: `init` wrote all `n` elements (the contract of this function; every caller is
    // a kernel that writes its whole output), and `T` is `Copy`, so nothing leaks.
    unsafe { v.set_len(n) };
    v
}

/// `n` copies of `value` in a cached buffer.
pub(crate) fn filled<T: Copy + 'static>(n: usize, value: T) -> Vec<T> {
    let mut v = take::<T>(n);
    v.resize(n, value);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_requests_with_bounded_waste() {
        for bytes in (MIN_BYTES..MIN_BYTES * 40).step_by(12) {
            let c = class(bytes);
            assert!(c >= bytes && c * 4 <= bytes * 5 + 4096, "{bytes} -> {c}");
            assert_eq!(c % 2048, 0);
            assert_eq!(class(c), c);
        }
    }

    #[test]
    fn buffers_are_reused() {
        let n = 100_000;
        let v = filled(n, 1.5f32);
        let p = v.as_ptr() as usize;
        give(v);
        let w: Vec<f32> = take(n - 10);
        assert!(w.is_empty() && w.capacity() >= n - 10);
        // Another thread (another test) may have taken it first; reuse is the common case.
        let reused = w.as_ptr() as usize == p;
        give(w);
        let i: Vec<i64> = build(n / 2, |s| {
            for (k, e) in s.iter_mut().enumerate() {
                e.write(k as i64);
            }
        });
        assert_eq!(i[n / 2 - 1], (n / 2 - 1) as i64);
        give(i);
        let _ = reused;
    }
}
