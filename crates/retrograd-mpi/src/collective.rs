//! Non-blocking collectives on buffers this crate owns, waited for with a deadline.
//!
//! rsmpi's safe immediate collectives tie a request to a borrow of its buffers within a
//! scope; gradient buckets are started from autograd hooks and finished after backward,
//! across calls, so the requests here are raw: each [`InFlight`] is started on buffers
//! that its owner keeps allocated and unmoved until the request completes (a `Vec` whose
//! heap block is never resized while in flight). An owner dropped with requests still
//! in flight leaks their buffers rather than free memory MPI may still write.

use std::os::raw::c_void;
use std::time::{Duration, Instant};

use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;

use crate::{Error, Result};

/// An MPI request in flight.
pub(crate) struct InFlight {
    request: ffi::MPI_Request,
}

// The request handle is only used from the thread that runs training (MPI is initialised
// for one thread); the bucket state holding it sits behind a mutex for the autograd hooks'
// `Send + Sync` bound.
unsafe impl Send for InFlight {}

impl InFlight {
    /// Whether the operation has completed (pokes MPI's progress engine too).
    pub(crate) fn test(&mut self) -> bool {
        let mut flag = 0;
        // SAFETY: `request` came from a non-blocking call and is not yet completed (a
        // completed request is set to MPI_REQUEST_NULL, which MPI_Test accepts as well).
        unsafe {
            ffi::MPI_Test(&mut self.request, &mut flag, ffi::RSMPI_STATUS_IGNORE);
        }
        flag != 0
    }
}

/// Waits until every request in `requests` completes, or fails with
/// [`Error::Timeout`] naming `op` when `timeout` has passed since `started`.
pub(crate) fn wait_all(
    requests: &mut [&mut InFlight],
    op: &'static str,
    started: Instant,
    timeout: Duration,
) -> Result<()> {
    let mut done = vec![false; requests.len()];
    let mut polls: u64 = 0;
    loop {
        for (r, d) in requests.iter_mut().zip(&mut done) {
            if !*d {
                *d = r.test();
            }
        }
        if done.iter().all(|&d| d) {
            return Ok(());
        }
        polls += 1;
        // Open MPI advances a non-blocking collective only inside MPI calls, so the wait is
        // a tight loop of tests (what MPI_Wait does inside) for the first second; after
        // that the peers are late (a dead or hung rank is the likely cause) and polling
        // every millisecond leaves the core to others until the deadline.
        if polls % 64 != 0 {
            continue;
        }
        let waited = started.elapsed();
        if waited > timeout {
            return Err(Error::Timeout {
                op,
                seconds: timeout.as_secs_f64(),
            });
        }
        if waited > Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Element types the collectives here move.
pub(crate) trait Element: Copy {
    fn datatype() -> ffi::MPI_Datatype;
}

impl Element for f32 {
    fn datatype() -> ffi::MPI_Datatype {
        // SAFETY: a constant set by the MPI library.
        unsafe { ffi::RSMPI_FLOAT }
    }
}

impl Element for f64 {
    fn datatype() -> ffi::MPI_Datatype {
        // SAFETY: as above.
        unsafe { ffi::RSMPI_DOUBLE }
    }
}

impl Element for u64 {
    fn datatype() -> ffi::MPI_Datatype {
        // SAFETY: as above.
        unsafe { ffi::RSMPI_UINT64_T }
    }
}

fn count(len: usize) -> Result<i32> {
    i32::try_from(len).map_err(|_| {
        Error::Config(format!(
            "a collective of {len} values is above MPI's count limit of {}",
            i32::MAX
        ))
    })
}

/// Starts the sum over ranks of `send` into `recv` (same length).
///
/// # Safety
/// `send` and `recv` must stay allocated, unmoved and untouched until the returned request
/// completes.
pub(crate) unsafe fn start_sum<T: Element>(
    world: &SimpleCommunicator,
    send: &[T],
    recv: &mut [T],
) -> Result<InFlight> {
    assert_eq!(send.len(), recv.len(), "all-reduce buffers of one length");
    let n = count(send.len())?;
    let mut request = ffi::RSMPI_REQUEST_NULL;
    ffi::MPI_Iallreduce(
        send.as_ptr() as *const c_void,
        recv.as_mut_ptr() as *mut c_void,
        n,
        T::datatype(),
        ffi::RSMPI_SUM,
        world.as_raw(),
        &mut request,
    );
    Ok(InFlight { request })
}

/// Starts a broadcast of rank 0's `values` into every rank's `values`.
///
/// # Safety
/// As [`start_sum`], for `values`.
unsafe fn start_broadcast<T: Element>(
    world: &SimpleCommunicator,
    values: &mut [T],
) -> Result<InFlight> {
    let n = count(values.len())?;
    let mut request = ffi::RSMPI_REQUEST_NULL;
    ffi::MPI_Ibcast(
        values.as_mut_ptr() as *mut c_void,
        n,
        T::datatype(),
        0,
        world.as_raw(),
        &mut request,
    );
    Ok(InFlight { request })
}

/// Replaces `values` by rank 0's, waiting at most `timeout`.
pub(crate) fn broadcast<T: Element>(
    world: &SimpleCommunicator,
    values: &mut [T],
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    let mut buf = values.to_vec();
    // SAFETY: `buf` is owned here and leaked below if the request does not complete.
    let mut request = unsafe { start_broadcast(world, &mut buf)? };
    finish(&mut request, buf, "broadcast", started, timeout, |buf| {
        values.copy_from_slice(&buf)
    })
}

/// Replaces `values` by their sums over the ranks, waiting at most `timeout`.
pub(crate) fn sum<T: Element>(
    world: &SimpleCommunicator,
    values: &mut [T],
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    let send = values.to_vec();
    let mut recv = values.to_vec();
    // SAFETY: both buffers are owned here and leaked below if the request does not
    // complete.
    let mut request = unsafe { start_sum(world, &send, &mut recv)? };
    finish(
        &mut request,
        (send, recv),
        "all-reduce",
        started,
        timeout,
        |(_, recv)| values.copy_from_slice(&recv),
    )
}

/// Waits for `request` on `buffers`; on success hands them to `done`, on timeout leaks them.
fn finish<B>(
    request: &mut InFlight,
    buffers: B,
    op: &'static str,
    started: Instant,
    timeout: Duration,
    done: impl FnOnce(B),
) -> Result<()> {
    match wait_all(&mut [request], op, started, timeout) {
        Ok(()) => {
            done(buffers);
            Ok(())
        }
        Err(e) => {
            std::mem::forget(buffers);
            Err(e)
        }
    }
}
