//! Tensors between neighbouring stages: one MPI message per tensor (its type, shape and
//! values), sent without blocking and received with a deadline.

use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::request::{Request, StaticScope};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::Tag;
use retrograd::tensor::{DType, Tensor};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Sends still in flight. A send's buffer is owned here until MPI reports the send
/// complete, so a stage goes on computing while its neighbour has not yet received.
pub(crate) struct Outbox {
    pending: Vec<Pending>,
}

struct Pending {
    request: Request<'static, [u8]>,
    /// The buffer the request reads, from `Box::into_raw`; freed once the request completes.
    buffer: *mut [u8],
}

impl Outbox {
    pub(crate) fn new() -> Self {
        Outbox {
            pending: Vec::new(),
        }
    }

    /// Starts sending `bytes` to `dest` with `tag`.
    pub(crate) fn send(&mut self, comm: &SimpleCommunicator, dest: i32, tag: Tag, bytes: Vec<u8>) {
        let buffer = Box::into_raw(bytes.into_boxed_slice());
        // SAFETY: `buffer` stays allocated and unwritten until the request completes (it is
        // freed in `poll` only after `test` reports completion, and leaked if it never does),
        // so MPI may read it for as long as the `'static` borrow claims.
        let data: &'static [u8] = unsafe { &*buffer };
        let request = comm
            .process_at_rank(dest)
            .immediate_send_with_tag(StaticScope, data, tag);
        self.pending.push(Pending { request, buffer });
    }

    /// Frees the buffers of the sends that have completed (and lets MPI progress).
    pub(crate) fn poll(&mut self) {
        let mut still = Vec::with_capacity(self.pending.len());
        for Pending { request, buffer } in self.pending.drain(..) {
            match request.test() {
                // SAFETY: the send is complete, so MPI no longer reads the buffer, and the
                // request holding the only other reference to it has been consumed.
                Ok(_) => drop(unsafe { Box::from_raw(buffer) }),
                Err(request) => still.push(Pending { request, buffer }),
            }
        }
        self.pending = still;
    }

    /// Waits until every send has completed, at most `timeout`.
    pub(crate) fn flush(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut waiter = Waiter::new();
        loop {
            self.poll();
            if self.pending.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    op: "pipeline send",
                    seconds: timeout.as_secs_f64(),
                });
            }
            waiter.wait();
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // Sends that never completed (a peer died): MPI may still read their buffers, so
        // they are abandoned rather than freed (and a request may not be dropped).
        for Pending { request, .. } in self.pending.drain(..) {
            std::mem::forget(request);
        }
    }
}

/// Backs off while polling: yields for the first milliseconds of a wait (a neighbour's
/// message is usually that close, and a sleeping rank wakes late on a busy machine), then
/// sleeps a little between polls, leaving the core to others during a long wait.
struct Waiter {
    started: Instant,
}

impl Waiter {
    const SPIN: Duration = Duration::from_millis(5);

    fn new() -> Self {
        Waiter {
            started: Instant::now(),
        }
    }

    fn wait(&mut self) {
        if self.started.elapsed() < Self::SPIN {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}

/// Receives the message with `tag` from `source`, waiting at most `timeout` (then
/// `Error::Timeout` naming `op`); pending sends progress meanwhile.
pub(crate) fn receive(
    comm: &SimpleCommunicator,
    outbox: &mut Outbox,
    source: i32,
    tag: Tag,
    timeout: Duration,
    op: &'static str,
) -> Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let process = comm.process_at_rank(source);
    let mut waiter = Waiter::new();
    loop {
        if let Some(probed) = process.immediate_matched_probe_with_tag(tag) {
            return Ok(probed.matched_receive_vec::<u8>().0);
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                op,
                seconds: timeout.as_secs_f64(),
            });
        }
        outbox.poll();
        waiter.wait();
    }
}

const F32_CODE: u8 = 1;
const F64_CODE: u8 = 2;

/// A tensor as one message: element type, rank, sizes (little-endian `u64`), values.
pub(crate) fn encode(t: &Tensor) -> Result<Vec<u8>> {
    let dims = t.dims();
    let (code, width) = match t.dtype() {
        DType::F32 => (F32_CODE, 4),
        DType::F64 => (F64_CODE, 8),
        other => {
            return Err(Error::Config(format!(
                "a pipeline stage's output must be f32 or f64 to be sent, not {other}"
            )))
        }
    };
    let rank = u8::try_from(dims.len())
        .map_err(|_| Error::Config(format!("a tensor of rank {} cannot be sent", dims.len())))?;
    let mut out = Vec::with_capacity(2 + 8 * dims.len() + width * t.elem_count());
    out.push(code);
    out.push(rank);
    for &d in dims {
        out.extend_from_slice(&(d as u64).to_le_bytes());
    }
    match code {
        F32_CODE => t
            .to_vec::<f32>()?
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        _ => t
            .to_vec::<f64>()?
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
    }
    Ok(out)
}

/// The tensor of a message made by [`encode`]; a message of another form is an error.
pub(crate) fn decode(bytes: &[u8]) -> Result<Tensor> {
    let bad = |why: &str| Error::Config(format!("a malformed pipeline message: {why}"));
    let (&code, rest) = bytes.split_first().ok_or_else(|| bad("empty"))?;
    let (&rank, rest) = rest.split_first().ok_or_else(|| bad("no rank"))?;
    let width = match code {
        F32_CODE => 4,
        F64_CODE => 8,
        _ => return Err(bad(&format!("unknown element type {code}"))),
    };
    let header = 8 * rank as usize;
    if rest.len() < header {
        return Err(bad("truncated shape"));
    }
    let (shape, values) = rest.split_at(header);
    let dims: Vec<usize> = shape
        .chunks_exact(8)
        .map(|c| usize::try_from(u64::from_le_bytes(c.try_into().expect("8 bytes"))))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad("a size beyond usize"))?;
    let count = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|n| n.checked_mul(width) == Some(values.len()))
        .ok_or_else(|| bad(&format!("{} value bytes for shape {dims:?}", values.len())))?;
    debug_assert_eq!(count * width, values.len());
    Ok(match code {
        F32_CODE => {
            let v: Vec<f32> = values
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            Tensor::from_vec(v, dims)?
        }
        _ => {
            let v: Vec<f64> = values
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect();
            Tensor::from_vec(v, dims)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_survive_encoding() {
        let a = Tensor::from_vec(vec![1.5f32, -2.0, 3.25, 0.0, 7.0, 1e-30], [2, 3]).unwrap();
        let b = decode(&encode(&a).unwrap()).unwrap();
        assert_eq!(b.dims(), &[2, 3]);
        assert_eq!(b.to_vec::<f32>().unwrap(), a.to_vec::<f32>().unwrap());
        let c = Tensor::from_vec(vec![std::f64::consts::PI; 4], [4, 1, 1]).unwrap();
        let d = decode(&encode(&c.permute(&[2, 1, 0]).unwrap()).unwrap()).unwrap();
        assert_eq!(d.dims(), &[1, 1, 4]);
        assert_eq!(d.to_vec::<f64>().unwrap(), vec![std::f64::consts::PI; 4]);
    }

    #[test]
    fn malformed_messages_are_errors() {
        let good = encode(&Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap()).unwrap();
        assert!(decode(&good[..good.len() - 1]).is_err());
        assert!(decode(&good[..5]).is_err());
        assert!(decode(&[]).is_err());
        let mut wrong_type = good.clone();
        wrong_type[0] = 9;
        assert!(decode(&wrong_type)
            .unwrap_err()
            .to_string()
            .contains("unknown element type"));
        let labels = Tensor::from_vec(vec![1i64, 2], [2]).unwrap();
        assert!(encode(&labels)
            .unwrap_err()
            .to_string()
            .contains("f32 or f64"));
    }
}
