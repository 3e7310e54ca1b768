//! Repeating an evaluation until the eval's `min_runs` and `min_seconds` are both met.

use serde::Deserialize;
use std::time::Instant;

/// The `Runs` fields of an evaluate input.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Runs {
    /// Evaluate at least this many times.
    #[serde(default = "one")]
    pub min_runs: u64,
    /// Keep evaluating until the timed runs add up to this many seconds.
    #[serde(default)]
    pub min_seconds: f64,
}

fn one() -> u64 {
    1
}

impl Default for Runs {
    fn default() -> Self {
        Runs {
            min_runs: 1,
            min_seconds: 0.0,
        }
    }
}

/// Runs `f` until both limits of `runs` are met (at least once), timing each run.
/// Returns the last result and the nanoseconds of every run.
pub fn repeat<T>(runs: Runs, mut f: impl FnMut() -> T) -> (T, Vec<u64>) {
    let mut timings = Vec::new();
    let mut total = 0.0;
    loop {
        let start = Instant::now();
        let out = f();
        let ns = start.elapsed().as_nanos() as u64;
        timings.push(ns);
        total += ns as f64 * 1e-9;
        if timings.len() as u64 >= runs.min_runs && total >= runs.min_seconds {
            return (std::hint::black_box(out), timings);
        }
        drop(std::hint::black_box(out));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meets_both_limits() {
        let mut calls = 0;
        let (_, t) = repeat(
            Runs {
                min_runs: 3,
                min_seconds: 0.0,
            },
            || calls += 1,
        );
        assert_eq!((calls, t.len()), (3, 3));
        let (_, t) = repeat(
            Runs {
                min_runs: 1,
                min_seconds: 0.01,
            },
            || std::thread::sleep(std::time::Duration::from_millis(2)),
        );
        assert!(!t.is_empty() && t.iter().sum::<u64>() >= 10_000_000);
    }
}
