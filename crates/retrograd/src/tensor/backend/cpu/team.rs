//! A team of helper threads that spin between jobs, for splitting one matrix product.
//!
//! rayon's workers go to sleep as soon as they find no work, and waking one costs a system
//! call and a trip through the scheduler. A training step alternates products of a few
//! hundred microseconds with short serial stretches, so with rayon the second thread is
//! woken for every product and the wake-ups ate the gain (measured: a 784-256-256-10 step
//! no faster at 2 threads than at 1, 14% of the samples in the scheduler). The helpers
//! here spin for a while after each job, as OpenMP's workers do, so the next product finds
//! them awake; after [`SPIN`] without work they park.
//!
//! [`split`] runs part 0 of a job on the calling thread and the other parts on helpers,
//! and returns when all are done (so the job may borrow from the caller's stack). One job
//! runs at a time; a caller that finds the team busy (another thread's job, or a job
//! inside a job) runs all the parts itself.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long an idle helper spins before it parks.
const SPIN: Duration = Duration::from_micros(500);

/// A part of a job: called with the part's index.
type Part<'a> = &'a (dyn Fn(usize) + Sync);

struct Helper {
    /// The job's address while one is posted (a `Part` whose lifetime the poster
    /// guarantees by waiting), or 0.
    job: AtomicUsize,
    /// This helper's part of the posted job.
    part: AtomicUsize,
    /// Set by the helper when its part is done.
    done: AtomicBool,
    /// The helper has parked (or is about to) and needs an unpark.
    parked: AtomicBool,
    /// A panic of the helper's part, handed to the poster.
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
    /// The helper's thread (set by the helper itself, before it can park).
    thread: OnceLock<Thread>,
}

struct Team {
    helpers: Vec<&'static Helper>,
    busy: AtomicBool,
}

/// The team: `rayon::current_num_threads() - 1` helpers at first use (none for one thread).
fn team() -> &'static Team {
    static TEAM: OnceLock<Team> = OnceLock::new();
    TEAM.get_or_init(|| {
        let helpers = (1..rayon::current_num_threads())
            .map(|_| {
                let h: &'static Helper = Box::leak(Box::new(Helper {
                    job: AtomicUsize::new(0),
                    part: AtomicUsize::new(0),
                    done: AtomicBool::new(false),
                    parked: AtomicBool::new(false),
                    panic: Mutex::new(None),
                    thread: OnceLock::new(),
                }));
                thread::Builder::new()
                    .name("retrograd-team".into())
                    .spawn(move || serve(h))
                    .expect("spawning a team thread");
                h
            })
            .collect();
        Team {
            helpers,
            busy: AtomicBool::new(false),
        }
    })
}

/// The number of parts a job can be split into: the helpers plus the caller.
pub(crate) fn size() -> usize {
    team().helpers.len() + 1
}

/// A helper's loop: wait for a posted job, run its part, report.
fn serve(h: &'static Helper) {
    // Set before the first park, so that whoever sees `parked` can unpark this thread.
    let _ = h.thread.set(thread::current());
    loop {
        let job = wait(h);
        // SAFETY: a non-zero `job` is only ever the address of the `Part` local of a
        // `split` call, stored before this helper's `job` and read here with Acquire;
        // `split` does not return (so its `part`, and what the closure borrows, stay
        // alive) until it has seen this helper's `done`, set below after the last use.
        // `Part` is a shared reference to a `Sync` closure, so copying it out and calling
        // it from this thread is sound.
        let part: Part<'_> = unsafe { *(job as *const Part<'_>) };
        let index = h.part.load(Ordering::Acquire);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| part(index))) {
            *h.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(payload);
        }
        h.job.store(0, Ordering::Release);
        h.done.store(true, Ordering::Release);
    }
}

/// Spins until a job is posted, parking after [`SPIN`] without one.
fn wait(h: &Helper) -> usize {
    let mut idle_since = Instant::now();
    let mut spins = 0u32;
    loop {
        let job = h.job.load(Ordering::Acquire);
        if job != 0 {
            return job;
        }
        spins = spins.wrapping_add(1);
        if spins % 64 == 0 && idle_since.elapsed() > SPIN {
            // Announce the park before the last look, so that a poster either sees the
            // flag (and unparks) or posted before that look.
            h.parked.store(true, Ordering::SeqCst);
            if h.job.load(Ordering::SeqCst) == 0 {
                thread::park();
            }
            h.parked.store(false, Ordering::SeqCst);
            idle_since = Instant::now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Runs `f(0)`, …, `f(parts - 1)`: part 0 on the calling thread and the rest on the team's
/// helpers when the team is free and has enough of them, all on the caller otherwise.
/// Returns when every part has run; a panic in any part is resumed here.
pub(crate) fn split(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    let team = team();
    if parts <= 1
        || parts > size()
        || team
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
    {
        (0..parts).for_each(f);
        return;
    }
    let part: Part<'_> = f;
    let address = &part as *const Part<'_> as usize;
    let helpers = &team.helpers[..parts - 1];
    for (i, h) in helpers.iter().enumerate() {
        h.done.store(false, Ordering::Relaxed);
        h.part.store(i + 1, Ordering::Relaxed);
        h.job.store(address, Ordering::SeqCst);
        if h.parked.load(Ordering::SeqCst) {
            if let Some(t) = h.thread.get() {
                t.unpark();
            }
        }
    }
    let mine = catch_unwind(AssertUnwindSafe(|| f(0)));
    // Wait for the helpers before `part` (and what it borrows) goes out of scope.
    for h in helpers {
        while !h.done.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
    }
    let theirs = helpers
        .iter()
        .find_map(|h| h.panic.lock().unwrap_or_else(|e| e.into_inner()).take());
    team.busy.store(false, Ordering::Release);
    if let Err(payload) = mine {
        resume_unwind(payload);
    }
    if let Some(payload) = theirs {
        resume_unwind(payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once_and_panics_reach_the_caller() {
        for parts in 0..5 {
            let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
            for _ in 0..100 {
                split(parts, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
            }
            for (i, h) in hits.iter().enumerate() {
                assert_eq!(h.load(Ordering::Relaxed), 100, "part {i} of {parts}");
            }
        }
        let caught = catch_unwind(|| split(2, &|i| assert!(i != 1, "part one fails")));
        assert!(caught.is_err());
        // The team is usable again after a panic, and after its helpers have parked.
        thread::sleep(SPIN * 4);
        let sum = AtomicUsize::new(0);
        split(2, &|i| {
            sum.fetch_add(i + 1, Ordering::Relaxed);
        });
        assert_eq!(sum.load(Ordering::Relaxed), 3);
    }
}
