//! Running a test binary under `mpirun`.
//!
//! A distributed test is a test target with `harness = false` whose `main` calls
//! [`ranks`]: started by `cargo test`, it starts itself again under `mpirun -np N`, waits
//! (at most a deadline) and fails unless every rank succeeded; started by `mpirun`, it is
//! one rank and runs the checks.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this process is a rank started by `mpirun`.
pub fn in_mpi_job() -> bool {
    std::env::var_os("OMPI_COMM_WORLD_SIZE").is_some()
}

/// In a rank: returns `true` (run the checks). Outside: runs this binary under
/// `mpirun -np np` with the same arguments, panics with its output unless it exits with
/// success within `deadline`, and returns `false`.
pub fn ranks(np: usize, deadline: Duration) -> bool {
    if in_mpi_job() {
        return true;
    }
    let output = mpirun(np, &[], deadline);
    assert!(
        output.success,
        "mpirun -np {np} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status, output.stdout, output.stderr
    );
    print!("{}", output.stdout);
    false
}

/// What a job printed and how it ended.
pub struct JobOutput {
    /// Whether every rank exited with success.
    pub success: bool,
    /// The exit status, or "killed after the deadline".
    pub status: String,
    /// Standard output of all ranks.
    pub stdout: String,
    /// Standard error of all ranks.
    pub stderr: String,
    /// How long the job ran.
    pub elapsed: Duration,
}

/// Runs this binary under `mpirun -np np`, with `env` added to the ranks' environment,
/// killing the job after `deadline`.
pub fn mpirun(np: usize, env: &[(&str, &str)], deadline: Duration) -> JobOutput {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new("mpirun");
    cmd.args(["-np", &np.to_string(), "--oversubscribe"]);
    for (k, v) in env {
        cmd.args(["-x", &format!("{k}={v}")]);
    }
    cmd.arg(exe)
        .args(std::env::args().skip(1))
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .expect("mpirun starts (Open MPI installed: see the README)");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).ok();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).ok();
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for mpirun") {
            break Some(status);
        }
        if start.elapsed() > deadline {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    JobOutput {
        success: status.is_some_and(|s| s.success()),
        status: status.map_or_else(
            || format!("killed after the deadline of {deadline:?}"),
            |s| s.to_string(),
        ),
        stdout: reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
        elapsed: start.elapsed(),
    }
}
