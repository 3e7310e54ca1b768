//! `retrograd-gradbench`: a GradBench tool. Reads protocol messages on stdin and answers
//! on stdout; see the crate documentation of `retrograd_gradbench`.

use std::io::{self, BufReader, BufWriter};
use std::process::ExitCode;

fn main() -> ExitCode {
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
