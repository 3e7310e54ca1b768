//! `retrograd-gradbench`: a GradBench tool. Reads protocol messages on stdin and answers
//! on stdout; see the crate documentation of `retrograd_gradbench`.

use retrograd_gradbench::evals::Style;
use std::io::{self, BufReader, BufWriter};
use std::process::ExitCode;

const HELP: &str = "\
retrograd-gradbench: a GradBench tool (protocol messages on stdin, responses on stdout)

Usage: retrograd-gradbench [--tuned | --straightforward]

  --tuned            the derivatives as tuned for the benchmark (the default)
  --straightforward  each eval's definition, written once on a generic number type (or on
                     tensors), differentiated the plain way (retrograd::grad, jacobian,
                     hvp, one Tape recording and sweep): nothing rewritten, nothing skipped
  -h, --help         print this help

The style can also be set with RETROGRAD_GRADBENCH_STYLE=tuned|straightforward; a flag
overrides it. See docs/GRADBENCH.md.";

/// The style from the command line, else from `RETROGRAD_GRADBENCH_STYLE`, else tuned;
/// `None` when help was asked for.
fn style_from_args() -> Result<Option<Style>, String> {
    let mut style = match std::env::var("RETROGRAD_GRADBENCH_STYLE") {
        Ok(s) => s
            .parse()
            .map_err(|e| format!("RETROGRAD_GRADBENCH_STYLE: {e}"))?,
        Err(_) => Style::Tuned,
    };
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--tuned" => style = Style::Tuned,
            "--straightforward" => style = Style::Straightforward,
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unknown argument `{arg}` (see --help)")),
        }
    }
    Ok(Some(style))
}

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
    let style = match style_from_args() {
        Ok(Some(style)) => style,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("retrograd-gradbench: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Single-threaded, as the reference tool is measured: the tensor backend's threads
    // come from rayon's global pool, which reads its size from this variable when it is
    // first used. (No other thread has been started yet.)
    std::env::set_var("RAYON_NUM_THREADS", "1");
    keep_freed_memory();
    let stdin = io::stdin();
    let stdout = io::stdout();
    let input = BufReader::with_capacity(1 << 20, stdin.lock());
    let output = BufWriter::with_capacity(1 << 20, stdout.lock());
    match retrograd_gradbench::protocol::serve_with(input, output, style) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("retrograd-gradbench: {e}");
            ExitCode::FAILURE
        }
    }
}
