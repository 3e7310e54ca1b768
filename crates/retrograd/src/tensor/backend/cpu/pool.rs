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
// SAFETY: a block is an allocation owned by its shelf alone (`give` took it out of the
// vector that owned it); no thread holds a pointer into it, so it may move between threads.
unsafe impl Send for Block {}

/// Shelves of freed buffers, keyed by (bytes, alignment), and the bytes they hold.
struct Pool {
    shelves: Mutex<BTreeMap<(usize, usize), Vec<Block>>>,
    cached: AtomicUsize,
    /// The most bytes kept on the shelves.
    max_cached: usize,
}

/// The process's buffer cache, which every kernel allocates from.
static POOL: Pool = Pool::new(MAX_CACHED_BYTES);

/// The size class of a request of `bytes` (≥ `MIN_BYTES`): `bytes` rounded up to a multiple
/// of a quarter of its power of two (so at most 25% is wasted). Classes are multiples of
/// 2 KiB, so of every element size.
fn class(bytes: usize) -> usize {
    let top = usize::BITS - 1 - (bytes - 1).leading_zeros(); // bytes in (2^top, 2^(top+1)]
    let step = 1usize << (top - 2);
    bytes.div_ceil(step) * step
}

impl Pool {
    const fn new(max_cached: usize) -> Self {
        Pool {
            shelves: Mutex::new(BTreeMap::new()),
            cached: AtomicUsize::new(0),
            max_cached,
        }
    }

    /// An empty vector with room for at least `n` elements, reusing a freed buffer if one
    /// of the right class is cached.
    fn take<T: Copy + 'static>(&self, n: usize) -> Vec<T> {
        let size = size_of::<T>();
        // Past `isize::MAX` bytes `Vec::with_capacity` panics ("capacity overflow"); `class`
        // is only asked for sizes below that, so its rounding cannot overflow.
        if size == 0 || n.saturating_mul(size) < MIN_BYTES || n > isize::MAX as usize / size {
            return Vec::with_capacity(n);
        }
        let bytes = class(n * size);
        let cap = bytes / size;
        let key = (bytes, align_of::<T>());
        let block = {
            let mut shelves = self.shelves.lock().unwrap_or_else(|e| e.into_inner());
            shelves.get_mut(&key).and_then(Vec::pop)
        };
        match block {
            Some(Block(p)) => {
                self.cached.fetch_sub(bytes, Ordering::Relaxed);
                // SAFETY: the block is on the shelf of key (bytes, align_of::<T>()), where
                // only `give` puts blocks, each the allocation of a `Vec` of elements of
                // this size and alignment whose capacity took exactly `bytes` bytes; so it
                // was allocated by the global allocator with the layout of a `Vec<T>` of
                // capacity `cap` (`cap · size == bytes`, as `bytes` is a class and classes
                // are multiples of every element size). Length 0: nothing to initialise.
                unsafe { Vec::from_raw_parts(p.as_ptr().cast::<T>(), 0, cap) }
            }
            None => Vec::with_capacity(cap),
        }
    }

    /// Puts a buffer on its shelf (or frees it when it was not allocated in a size class
    /// or the shelves are full).
    fn give<T: Copy + 'static>(&self, v: Vec<T>) {
        let size = size_of::<T>();
        let bytes = v.capacity() * size;
        if size == 0 || bytes < MIN_BYTES || class(bytes) != bytes {
            return;
        }
        if self.cached.fetch_add(bytes, Ordering::Relaxed) + bytes > self.max_cached {
            self.cached.fetch_sub(bytes, Ordering::Relaxed);
            return;
        }
        let mut v = std::mem::ManuallyDrop::new(v);
        // SAFETY: the pointer of a vector with a non-zero capacity (`bytes >= MIN_BYTES`)
        // is its allocation, never null; the `ManuallyDrop` hands ownership of it to the
        // shelf.
        let p = unsafe { NonNull::new_unchecked(v.as_mut_ptr().cast::<u8>()) };
        let mut shelves = self.shelves.lock().unwrap_or_else(|e| e.into_inner());
        shelves
            .entry((bytes, align_of::<T>()))
            .or_default()
            .push(Block(p));
    }

    /// Frees every cached buffer.
    fn clear(&self) {
        let all = std::mem::take(&mut *self.shelves.lock().unwrap_or_else(|e| e.into_inner()));
        for ((bytes, align), blocks) in all {
            for Block(p) in blocks {
                self.cached.fetch_sub(bytes, Ordering::Relaxed);
                // SAFETY: every block on shelf (bytes, align) is a `Vec`'s allocation of
                // `bytes` bytes at alignment `align` (see `give`), owned by the shelf
                // alone; the layout is the one it was allocated with, hence valid.
                unsafe {
                    dealloc(
                        p.as_ptr(),
                        AllocLayout::from_size_align_unchecked(bytes, align),
                    )
                };
            }
        }
    }
}

/// An empty vector with room for at least `n` elements, reusing a freed buffer if one of
/// the right class is cached.
pub(crate) fn take<T: Copy + 'static>(n: usize) -> Vec<T> {
    POOL.take(n)
}

/// Returns a buffer to the shelves (or to the system allocator when it was not allocated
/// in a size class or the shelves are full).
pub(crate) fn give<T: Copy + 'static>(v: Vec<T>) {
    POOL.give(v)
}

/// Frees every cached buffer.
#[allow(dead_code)]
pub(crate) fn clear() {
    POOL.clear()
}

/// A vector of `n` elements, each written by `init`: the buffer comes from the shelves
/// and is never zeroed.
///
/// # Safety
/// `init` must initialise every element of the slice it is given (`n` of them). The
/// callers are kernels that write their whole output; each says why at its call.
pub(crate) unsafe fn build<T: Copy + 'static>(
    n: usize,
    init: impl FnOnce(&mut [MaybeUninit<T>]),
) -> Vec<T> {
    let mut v = take::<T>(n);
    init(&mut v.spare_capacity_mut()[..n]);
    // SAFETY: `init` initialised all `n` elements (this function's contract), within the
    // capacity of at least `n` that `take` gave; `T: Copy`, so a panic in `init` (which
    // skips this) leaks nothing.
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

    /// A freed buffer is handed out again for a request of its class (and element
    /// alignment), and only then; the shelves hold at most their limit. A pool of the
    /// test's own, so that no other test can take the buffer first.
    #[test]
    fn buffers_are_reused() {
        let pool = Pool::new(1 << 20);
        let n = 100_000;
        let mut v: Vec<f32> = pool.take(n);
        v.resize(n, 1.5);
        let p = v.as_ptr() as usize;
        let cap = v.capacity();
        assert!(cap >= n && cap * 4 == class(n * 4));
        pool.give(v);
        assert_eq!(pool.cached.load(Ordering::Relaxed), cap * 4);
        // A smaller request of the same class gets the same buffer, empty.
        let w: Vec<f32> = pool.take(n - 10);
        assert_eq!((w.as_ptr() as usize, w.len(), w.capacity()), (p, 0, cap));
        assert_eq!(pool.cached.load(Ordering::Relaxed), 0);
        pool.give(w);
        // Same bytes at another alignment (f64) is another shelf; and i32 shares f32's.
        let d: Vec<f64> = pool.take(n / 2);
        assert_ne!(d.as_ptr() as usize, p);
        let i: Vec<i32> = pool.take(n);
        assert_eq!(i.as_ptr() as usize, p);
        pool.give(i);
        // A request of another class allocates.
        let big: Vec<f32> = pool.take(2 * n);
        assert_ne!(big.as_ptr() as usize, p);
        // Past the limit, buffers are freed rather than kept.
        let huge: Vec<f32> = pool.take(1 << 20);
        pool.give(huge);
        assert_eq!(pool.cached.load(Ordering::Relaxed), cap * 4);
        // Small buffers are left to the allocator.
        pool.give(Vec::<f32>::with_capacity(16));
        assert_eq!(pool.cached.load(Ordering::Relaxed), cap * 4);
        pool.give(d);
        pool.give(big);
        pool.clear();
        assert_eq!(pool.cached.load(Ordering::Relaxed), 0);
        // `build` writes through the global pool.
        // SAFETY: the closure writes every element.
        let b: Vec<i64> = unsafe {
            build(n / 2, |s| {
                for (k, e) in s.iter_mut().enumerate() {
                    e.write(k as i64);
                }
            })
        };
        assert_eq!(b[n / 2 - 1], (n / 2 - 1) as i64);
        give(b);
    }
}
