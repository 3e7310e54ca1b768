//! The basket Greeks hold one path on the tape at a time: peak memory does not grow with
//! the number of paths.

use retrograd::finance::basket::{Basket, Recording, Simulation};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Live and peak bytes allocated by the process.
struct Peak;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::SeqCst) + bytes;
    PEAK.fetch_max(live, Ordering::SeqCst);
}

// SAFETY: delegates to the system allocator, only counting bytes.
unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        grow(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Peak = Peak;

/// Peak bytes allocated above the level at the start, while `f` runs.
fn peak_during(f: impl FnOnce()) -> usize {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst) - base
}

#[test]
fn peak_memory_is_flat_in_the_number_of_paths() {
    let n = 10;
    let mut correlation = vec![0.5; n * n];
    (0..n).for_each(|i| correlation[i * n + i] = 1.0);
    let basket = Basket::new(
        &[100.0; 10],
        &[0.2; 10],
        &[0.1; 10],
        &correlation,
        100.0,
        0.0,
        1.0,
    )
    .unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let run = |paths| {
        peak_during(|| {
            let sim = Simulation { paths, seed: 1 };
            pool.install(|| basket.greeks(&sim, Recording::Operators))
                .unwrap();
        })
    };
    run(100); // warm the pool's thread-local state
              // One full batch of chunks against eight.
    let batch = 64 * 256;
    let (small, large) = (run(batch), run(8 * batch));
    assert!(
        large <= small + 1_024,
        "peak {small} bytes for one batch, {large} for eight"
    );
}
