//! Reading untrusted input within bounded memory. This test binary counts the bytes each
//! thread has allocated (its global allocator), so a test can assert how much a reader
//! held at most, and runs each reading on a thread of its own with a time limit.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use retrograd_nn::data::read_idx_labels;

// ---- Allocation accounting ----

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// No single allocation of this test binary may exceed this: a request above it fails
/// (and so aborts the binary) instead of exhausting the machine's memory.
const HARD_CAP: usize = 1 << 30;

/// Counts the bytes live on each thread, and the peak since [`peak_during`] reset it.
struct Counting;

fn account(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now)
            }
        });
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_CAP {
            return std::ptr::null_mut();
        }
        let p = System.alloc(layout);
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_CAP {
            return std::ptr::null_mut();
        }
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout);
        account(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > HARD_CAP {
            return std::ptr::null_mut();
        }
        let q = System.realloc(p, layout, new_size);
        if !q.is_null() {
            account(new_size as isize - layout.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the most bytes this thread had allocated at once
/// beyond what it held before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get) - start;
    (out, peak.max(0) as usize)
}

// ---- Running one case ----

/// A case that takes longer than this is a hang (real cases take milliseconds).
const TIME_LIMIT: Duration = Duration::from_secs(20);

/// Runs `f` on a thread of its own, and fails if it panics, runs past [`TIME_LIMIT`] or
/// allocates more than `budget` bytes at once. Returns what `f` returned.
fn run_case<T: Send + 'static>(budget: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let result = peak_during(f);
        let _ = done.send(());
        result
    });
    if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(TIME_LIMIT) {
        panic!("the case ran longer than {TIME_LIMIT:?}");
    }
    match worker.join() {
        Ok((out, peak)) => {
            assert!(
                peak <= budget,
                "the case allocated {peak} bytes at once; the bound is {budget}"
            );
            out
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("retrograd-fuzz-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend(labels);
    b
}

// ---- Regressions ----

/// A gzip file that expands far beyond what its IDX header announces is refused after the
/// announced size, not read whole.
#[test]
fn gzip_bomb_is_refused_without_inflating_it() {
    let dir = scratch("bomb");
    let path = dir.join("labels-idx1-ubyte.gz");
    let mut bomb = idx_labels(&[1, 2, 3]);
    bomb.resize(64 << 20, 0);
    std::fs::write(&path, gzip(&bomb)).unwrap();
    drop(bomb);
    let p = path.clone();
    let e = run_case(1 << 20, move || {
        read_idx_labels(&p).map_err(|e| e.to_string())
    })
    .unwrap_err();
    assert!(e.contains(&path.display().to_string()), "{e}");
    // A header announcing 10^8 labels over 3 bytes: nothing is reserved for its claim.
    let mut liar = idx_labels(&[1, 2, 3]);
    liar[4..8].copy_from_slice(&100_000_000u32.to_be_bytes());
    std::fs::write(&path, gzip(&liar)).unwrap();
    let p = path.clone();
    let e = run_case(1 << 20, move || {
        read_idx_labels(&p).map_err(|e| e.to_string())
    })
    .unwrap_err();
    assert!(e.contains("truncated"), "{e}");
}

/// The harness itself: it sees a panic and an allocation over budget.
#[test]
fn harness_detects_panics_and_allocations() {
    let caught = std::panic::catch_unwind(|| run_case::<()>(1 << 20, || panic!("boom")));
    assert!(caught.is_err());
    let big = || std::hint::black_box(vec![1u8; 4 << 20]).len();
    assert!(std::panic::catch_unwind(|| run_case(1 << 20, big)).is_err());
    let small = || std::hint::black_box(vec![1u8; 1 << 10]).len();
    assert_eq!(run_case(1 << 20, small), 1 << 10);
}
