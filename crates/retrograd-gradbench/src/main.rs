//! `retrograd-gradbench`: a GradBench tool. Reads protocol messages on stdin and answers
//! on stdout; see the crate documentation of `retrograd_gradbench`.

use std::io::{self, BufReader, BufWriter};
use std::process::ExitCode;

/// Tensor temporaries of a few MB are allocated and freed by every operation of every
/// run. glibc serves such sizes by mapping fresh pages (each first touch a page fault)
/// and returns freed heap tops to the system; raising both thresholds lets them be
/// reused from the heap instead.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_MMAP_THRESHOLD: i32 = -3;
    // SAFETY: mallopt only changes allocator settings; it is called before any other
    // thread is started. (32 MB is the largest mmap threshold glibc accepts.)
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn main() -> ExitCode {
    // Single-threaded, as the reference tool is measured: the tensor backend's threads
    // come from rayon's global pool, which reads its size from this variable when it is
    // first used. (No other thread has been started yet.)
    std::env::set_var("RAYON_NUM_THREADS", "1");
    keep_freed_memory();
    let stdin = io::stdin();
    let stdout = io::stdout();
    let input = BufReader::with_capacity(1 << 20, stdin.lock());
    let output = BufWriter::with_capacity(1 << 20, stdout.lock());
    match retrograd_gradbench::protocol::serve(input, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("retrograd-gradbench: {e}");
            ExitCode::FAILURE
        }
    }
}
