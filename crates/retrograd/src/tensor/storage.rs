//! Shared, versioned storage behind tensors and views.
//!
//! A [`Storage`] is shared (through `Arc`) by a tensor and all its views. Its version counter
//! is bumped by every in-place write, so that backward can detect a saved tensor that was
//! modified after it was saved. Live storage bytes are counted for memory tests.

use super::backend::cpu::CpuStorage;
use super::DType;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

static LIVE_STORAGE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_STORAGE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Bytes held by all live tensor storages of the process (for memory-leak tests).
///
/// ```
/// use retrograd::tensor::{live_storage_bytes, DType, Tensor};
/// let before = live_storage_bytes();
/// let t = Tensor::zeros([1000], DType::F32);
/// assert!(live_storage_bytes() >= before + 4000 || live_storage_bytes() != before);
/// drop(t);
/// ```
pub fn live_storage_bytes() -> usize {
    LIVE_STORAGE_BYTES.load(Ordering::Relaxed)
}

/// The most bytes held by live tensor storages at once since the last
/// [`reset_peak_storage_bytes`] (for memory benchmarks).
///
/// ```
/// use retrograd::tensor::{peak_storage_bytes, reset_peak_storage_bytes, DType, Tensor};
/// reset_peak_storage_bytes();
/// let before = peak_storage_bytes();
/// drop(Tensor::zeros([1000], DType::F32));
/// assert!(peak_storage_bytes() >= before + 4000);
/// ```
pub fn peak_storage_bytes() -> usize {
    PEAK_STORAGE_BYTES.load(Ordering::Relaxed)
}

/// Restarts [`peak_storage_bytes`] from the bytes alive now.
///
/// ```
/// retrograd::tensor::reset_peak_storage_bytes();
/// assert!(retrograd::tensor::peak_storage_bytes() >= retrograd::tensor::live_storage_bytes());
/// ```
pub fn reset_peak_storage_bytes() {
    PEAK_STORAGE_BYTES.store(
        LIVE_STORAGE_BYTES.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
}

/// Where a tensor's elements live.
///
/// ```
/// use retrograd::tensor::{DType, Device, Tensor};
/// assert_eq!(Tensor::zeros([2], DType::F32).device(), Device::Cpu);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    /// Host memory, CPU kernels.
    Cpu,
}

/// The elements of a tensor on one device; one variant per backend.
#[derive(Debug)]
pub enum StorageData {
    /// Host memory.
    Cpu(CpuStorage),
}

impl StorageData {
    pub(crate) fn dtype(&self) -> DType {
        match self {
            StorageData::Cpu(s) => s.dtype(),
        }
    }
    pub(crate) fn len(&self) -> usize {
        match self {
            StorageData::Cpu(s) => s.len(),
        }
    }
    pub(crate) fn device(&self) -> Device {
        match self {
            StorageData::Cpu(_) => Device::Cpu,
        }
    }
}

/// Elements plus a version counter, shared by a tensor and its views.
#[derive(Debug)]
pub struct Storage {
    data: RwLock<StorageData>,
    version: AtomicU64,
    bytes: usize,
}

impl Storage {
    pub(crate) fn new(data: StorageData) -> Self {
        let bytes = data.len() * data.dtype().size_in_bytes();
        let live = LIVE_STORAGE_BYTES.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK_STORAGE_BYTES.fetch_max(live, Ordering::Relaxed);
        Storage {
            data: RwLock::new(data),
            version: AtomicU64::new(0),
            bytes,
        }
    }
    /// Read access. Panics instead of waiting when this thread has lent the storage to a
    /// closure that still runs (see [`Storage::lend`]).
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, StorageData> {
        match self.data.try_read() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.refuse_if_lent();
                self.data.read().unwrap_or_else(|e| e.into_inner())
            }
        }
    }
    /// Write access; bumps the version counter. Panics instead of waiting when this thread
    /// has lent the storage to a closure that still runs (see [`Storage::lend`]).
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, StorageData> {
        self.version.fetch_add(1, Ordering::Relaxed);
        match self.data.try_write() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.refuse_if_lent();
                self.data.write().unwrap_or_else(|e| e.into_inner())
            }
        }
    }
    /// Notes, until the returned guard is dropped, that this thread holds a lock of this
    /// storage for `op` while it runs a closure of the caller (`update_` lends the elements
    /// for writing, `with_data` for reading). If that closure then asks for a lock of the
    /// same storage that cannot be granted (any access inside `update_`, a write inside
    /// `with_data`), waiting would never end, as the lock is held by the thread that waits:
    /// [`read`](Storage::read) and [`write`](Storage::write) panic instead, naming `op`.
    ///
    /// Only the slow path (a lock that is not free) looks at the loans, so uncontended
    /// locking costs nothing more. A closure that hands the tensor to another thread and
    /// waits for it still deadlocks: the loan is known to this thread only.
    pub(crate) fn lend(&self, op: &'static str) -> Loan {
        let key = self as *const Storage as usize;
        LOANS.with(|l| l.borrow_mut().push((key, op)));
        Loan { key }
    }
    fn refuse_if_lent(&self) {
        let key = self as *const Storage as usize;
        let lender = LOANS.with(|l| {
            l.borrow()
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map(|&(_, op)| op)
        });
        if let Some(op) = lender {
            let what = if op == "update_" {
                "reads or writes the tensor being updated"
            } else {
                "writes to the tensor whose data it was lent"
            };
            panic!(
                "{op}: the closure {what} (or a view of the same storage), which would wait \
                 forever for the lock {op} holds; read what the closure needs before calling \
                 {op}, or copy it"
            );
        }
    }
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }
}

thread_local! {
    /// The storages this thread has lent to a running closure: (address, op).
    static LOANS: RefCell<Vec<(usize, &'static str)>> = const { RefCell::new(Vec::new()) };
}

/// A loan noted by [`Storage::lend`]; dropping it (also when the closure panics) ends it.
pub(crate) struct Loan {
    key: usize,
}

impl Drop for Loan {
    fn drop(&mut self) {
        LOANS.with(|l| {
            let mut loans = l.borrow_mut();
            if let Some(i) = loans.iter().rposition(|(k, _)| *k == self.key) {
                loans.remove(i);
            }
        });
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        LIVE_STORAGE_BYTES.fetch_sub(self.bytes, Ordering::Relaxed);
        let data = self.data.get_mut().unwrap_or_else(|e| e.into_inner());
        match data {
            StorageData::Cpu(s) => s.recycle(),
        }
    }
}
