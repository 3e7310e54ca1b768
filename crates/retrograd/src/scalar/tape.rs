//! The tape: a Wengert list in flat arrays, and the sweeps over it.
//!
//! Layout (the one the fastest C++ adjoint tools use):
//! - `ends[s]`: for statement `s` (the variable it defines has index `s`), the end offset of
//!   its operands; its operands are `ends[s - 1]..ends[s]`. 4 bytes per statement.
//! - `args[k]`, `partials[k]`: operand `k` is the index of an earlier statement and the
//!   partial derivative of statement `s` with respect to it. 4 + 8 bytes per operand
//!   for `f64`, in two arrays so that the sweep streams 12 bytes per operand.
//!
//! Inputs are statements with no operands. Constants are passive: they record nothing.
//! The reverse sweep is one loop: `for s in rev { a = adj[s]; for k in ops(s) { adj[args[k]] += partials[k] * a } }`.

use super::var::{Var, DERIVED};
use crate::Real;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::LocalKey;

/// A number type that a [`Tape`] can record: `f64`; `Dual<f64>` for forward-over-reverse
/// second derivatives; and `Var<f64>` for reverse-over-reverse, where the inner tape's
/// values, partials and adjoints are variables of an outer `f64` tape.
///
/// Each such type has its own thread-local active tape, so recordings of different types
/// are active at the same time.
///
/// ```
/// use retrograd::{prelude::*, Tape};
/// // Reverse over reverse: the inner gradient 3x² is recorded on the outer tape.
/// let mut outer = Tape::new();
/// let (x, dydx) = outer.record(|rec| {
///     let x = rec.input(2.0);
///     let mut inner: Tape<Var> = Tape::new();
///     let (xi, y) = inner.record(|r| { let xi = r.input(x); (xi, xi.powi(3)) });
///     (x, inner.gradient(y).wrt(xi))
/// });
/// assert_eq!(dydx.value(), 12.0);
/// assert_eq!(outer.gradient(dydx).wrt(x), 12.0); // 6x
/// ```
pub trait TapeScalar: Real {
    /// The thread-local slot holding the active tape of this scalar type.
    #[doc(hidden)]
    fn active_slot() -> &'static LocalKey<Cell<*mut TapeCore<Self>>>;

    /// The thread-local slot keeping a tape of this scalar type and its adjoint buffer
    /// between calls of the closure API (`grad`, `jacobian`, ...), so that calls in a loop
    /// allocate neither.
    #[doc(hidden)]
    fn spare_slot() -> &'static LocalKey<SpareSlot<Self>>;

    /// True when this adjoint is a zero that nothing depends on, so the reverse sweep may
    /// skip its statement: `0.0` for `f64`, but for a `Var` only a constant zero (a zero
    /// value may still have a derivative on the outer tape).
    #[doc(hidden)]
    fn is_inert_zero(&self) -> bool {
        self.is_zero()
    }

    /// `self · d`, the chain rule's product of partials, where a zero factor wins over an
    /// infinite or NaN one: as in the reverse sweep, which skips a statement whose adjoint
    /// is zero, an infinite partial behind a zero one (`0 · sqrt(x)` at 0) gives 0, not NaN.
    #[doc(hidden)]
    #[inline(always)]
    fn chain(self, d: Self) -> Self {
        let p = self * d;
        if p.is_nan() && (self.is_inert_zero() || d.is_inert_zero()) {
            Self::zero()
        } else {
            p
        }
    }
}

/// A thread's slot for the closure API's kept tape and adjoint buffer (see
/// [`TapeScalar::spare_slot`]).
#[doc(hidden)]
pub type SpareSlot<T> = Cell<Option<(Tape<T>, Adjoints<T>)>>;

thread_local! {
    static ACTIVE_F64: Cell<*mut TapeCore<f64>> = const { Cell::new(std::ptr::null_mut()) };
    static ACTIVE_DUAL: Cell<*mut TapeCore<crate::Dual<f64>>> = const { Cell::new(std::ptr::null_mut()) };
    static ACTIVE_VAR: Cell<*mut TapeCore<Var<f64>>> = const { Cell::new(std::ptr::null_mut()) };
    static SPARE_F64: SpareSlot<f64> = const { Cell::new(None) };
    static SPARE_DUAL: SpareSlot<crate::Dual<f64>> = const { Cell::new(None) };
    static SPARE_VAR: SpareSlot<Var<f64>> = const { Cell::new(None) };
}

impl TapeScalar for f64 {
    fn active_slot() -> &'static LocalKey<Cell<*mut TapeCore<Self>>> {
        &ACTIVE_F64
    }
    fn spare_slot() -> &'static LocalKey<SpareSlot<Self>> {
        &SPARE_F64
    }
}

impl TapeScalar for crate::Dual<f64> {
    fn active_slot() -> &'static LocalKey<Cell<*mut TapeCore<Self>>> {
        &ACTIVE_DUAL
    }
    fn spare_slot() -> &'static LocalKey<SpareSlot<Self>> {
        &SPARE_DUAL
    }
    // `Dual::is_zero` already asks for zero tangents too.
}

impl TapeScalar for Var<f64> {
    fn active_slot() -> &'static LocalKey<Cell<*mut TapeCore<Self>>> {
        &ACTIVE_VAR
    }
    fn spare_slot() -> &'static LocalKey<SpareSlot<Self>> {
        &SPARE_VAR
    }
    fn is_inert_zero(&self) -> bool {
        self.is_constant() && self.value() == 0.0
    }
}

/// Every recording and every epoch of one (see [`Lineage`]) gets a fresh id from this
/// counter, so a `Var` of another tape, of a cleared recording or of statements dropped by a
/// reset is recognised. Id 0 marks constants and `u32::MAX` is never handed out.
static NEXT_TAPE_ID: AtomicU64 = AtomicU64::new(0);

/// A fresh 32-bit id, and whether ids have wrapped around (after 2^32 − 2 recordings and
/// resets in one process), so that a variable kept from long ago may carry it too.
fn fresh_id() -> (u32, bool) {
    const IDS: u64 = u32::MAX as u64 - 1; // 1..=u32::MAX - 1
    let n = NEXT_TAPE_ID.fetch_add(1, Ordering::Relaxed);
    ((n % IDS) as u32 + 1, n >= IDS)
}

/// Moves the id counter `n` ids ahead: lets a test reach the wrap-around of 32-bit ids
/// without making 2^32 recordings. Not for use beside live recordings of other threads.
#[doc(hidden)]
pub fn skip_recording_ids(n: u64) {
    NEXT_TAPE_ID.fetch_add(n, Ordering::Relaxed);
}

/// The id the recording path compares operands with: the current epoch's, or, once ids have
/// wrapped, one no variable carries, so that every operand takes the full check.
fn fast_id((id, wrapped): (u32, bool)) -> u32 {
    if wrapped {
        u32::MAX
    } else {
        id
    }
}

/// One epoch of a recording: the statements from `start` up to the next epoch's start,
/// recorded between two resets. Its variables carry its `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Epoch {
    start: u32,
    id: u32,
}

/// Which variables of a recording are alive: the safety contract of [`Var`].
///
/// A recording is split into epochs at each reset that drops statements ([`Recorder::reset`],
/// [`Recorder::sweep_and_reset`]): statements recorded after it reuse the dropped
/// positions, so they get a fresh epoch id, and a variable is alive exactly when the epoch
/// that owns its position on the tape is the epoch it was created in. A [`Mark`] starts an
/// epoch too (when the current one holds statements), so every reset drops whole epochs:
/// an epoch that is left is left whole, and all its variables are alive. The epochs
/// partition the tape: `closed` holds the earlier ones (by increasing start), `current` owns
/// `current_start..len`. The check on the recording path is one comparison with `current`;
/// only variables of earlier epochs take the binary search, but for those of the first epoch
/// (inputs recorded before a loop of marks and resets, read in every pass), which take one
/// more inline comparison (`base`). Epochs left with no statement are forgotten, so the list
/// stays as long as the number of marks and resets that kept something.
#[derive(Clone, Debug)]
pub(crate) struct Lineage {
    /// The id of the recording (new at creation and at each [`Tape::clear`]).
    recording: u32,
    current: u32,
    /// `current`, or `u32::MAX` when ids have wrapped (see [`fast_id`]).
    fast: u32,
    current_start: u32,
    closed: Vec<Epoch>,
    /// The id of the first epoch (`closed[0]`) while it is closed and its id was handed out
    /// before ids wrapped; otherwise `u32::MAX`, which no variable carries.
    base: u32,
    /// Counts the resets that dropped statements of closed epochs; while it is unchanged,
    /// a copy's `closed` is a prefix of the tape's (see [`Lineage::sync_from`]).
    version: u64,
}

impl Lineage {
    fn new() -> Self {
        let fresh = fresh_id();
        Lineage {
            recording: fresh.0,
            current: fresh.0,
            fast: fast_id(fresh),
            current_start: 0,
            closed: Vec::new(),
            base: u32::MAX,
            version: 0,
        }
    }

    /// True when a variable of epoch `id` is alive by the two checks of the recording path:
    /// of the current epoch, or of the first (which is whole while it is closed). False says
    /// nothing: the variable then takes the full check ([`Lineage::owns`]).
    #[inline(always)]
    fn alive_by_fast_check(&self, id: u32) -> bool {
        (id == self.fast) | (id == self.base)
    }

    /// True when the variable `(id, index)` is alive: the statement at `index` is the one it
    /// was created as (for a tape or a copy of `len >= index + 1` statements).
    #[inline]
    fn owns(&self, id: u32, index: u32) -> bool {
        if index >= self.current_start {
            return id == self.current;
        }
        // The first closed epoch starts at 0 <= index, so k >= 1.
        let k = self.closed.partition_point(|e| e.start <= index);
        self.closed[k - 1].id == id
    }

    /// The id a [`Mark`] at `position` carries: that of the epoch owning the statement just
    /// before it (the recording's id at position 0). The mark stays valid while that
    /// statement is alive, as everything before it is then unchanged.
    fn owner_before(&self, position: u32) -> u32 {
        if position == 0 {
            self.recording
        } else if position > self.current_start {
            self.current
        } else {
            let k = self.closed.partition_point(|e| e.start < position);
            self.closed[k - 1].id
        }
    }

    /// Ends the current epoch at `len` if it holds statements: a [`Mark`] is made at the
    /// start of an epoch, so that a reset to it drops whole epochs.
    fn split(&mut self, len: u32) {
        if len <= self.current_start {
            return;
        }
        if self.closed.is_empty() {
            // The current epoch becomes the first closed one; `fast` is its id, or
            // `u32::MAX` if that id was handed out after ids wrapped.
            self.base = self.fast;
        }
        self.closed.push(Epoch {
            start: self.current_start,
            id: self.current,
        });
        self.start_epoch(len);
    }

    /// Drops positions `position..len`, which start an epoch (a mark's position, checked by
    /// [`TapeCore::check_mark`]): statements recorded from now on start a new epoch.
    #[track_caller]
    fn truncate(&mut self, position: u32, len: u32) {
        if position >= len {
            return; // nothing dropped: every variable stays alive
        }
        // Marks are made at epoch starts, and a reset that leaves a mark valid leaves its
        // epoch start, so no epoch is ever cut in two; the fast check of the first epoch
        // (`base`) relies on it.
        let keep = self.closed.partition_point(|e| e.start < position);
        let at_start = if position < self.current_start {
            self.closed.get(keep).is_some_and(|e| e.start == position)
        } else {
            position == self.current_start
        };
        assert!(
            at_start,
            "internal error: a reset to {position}, not the start of an epoch"
        );
        if position < self.current_start {
            self.closed.truncate(keep);
            self.version += 1;
            if self.closed.is_empty() {
                self.base = u32::MAX;
            }
        }
        self.start_epoch(position);
    }

    /// A new current epoch from `start`, with a fresh id.
    fn start_epoch(&mut self, start: u32) {
        let fresh = fresh_id();
        self.current = fresh.0;
        self.fast = fast_id(fresh);
        self.current_start = start;
    }

    /// Becomes a copy of `tape`, in time proportional to what changed since the last sync
    /// (a reset loop keeps adjoints in sync without copying every epoch each time).
    fn sync_from(&mut self, tape: &Lineage) {
        if self.recording == tape.recording
            && self.version == tape.version
            && self.closed.len() <= tape.closed.len()
        {
            self.closed
                .extend_from_slice(&tape.closed[self.closed.len()..]);
        } else {
            self.closed.clone_from(&tape.closed);
        }
        self.recording = tape.recording;
        self.current = tape.current;
        self.fast = tape.fast;
        self.current_start = tape.current_start;
        self.base = tape.base;
        self.version = tape.version;
    }

    /// The epochs in order, the current one last.
    fn epochs(&self) -> impl Iterator<Item = Epoch> + '_ {
        self.closed.iter().copied().chain(std::iter::once(Epoch {
            start: self.current_start,
            id: self.current,
        }))
    }

    /// How many leading positions hold the same statements in this copy (of `len`
    /// statements) and in `tape` (of `tape_len`): adjoints kept for those stay meaningful.
    fn common_prefix(&self, len: u32, tape: &Lineage, tape_len: u32) -> u32 {
        // While the version is unchanged, our closed epochs are a prefix of the tape's.
        let skip = if self.version == tape.version {
            self.closed.len()
        } else {
            0
        };
        let mut ours = self.epochs().skip(skip).peekable();
        let mut theirs = tape.epochs().skip(skip).peekable();
        let mut end = if skip > 0 { self.current_start } else { 0 };
        while let (Some(a), Some(b)) = (ours.next(), theirs.next()) {
            if a != b {
                break;
            }
            let end_ours = ours.peek().map_or(len, |e| e.start);
            let end_theirs = theirs.peek().map_or(tape_len, |e| e.start);
            end = end_ours.min(end_theirs);
            if end_ours != end_theirs {
                break;
            }
        }
        end.min(len).min(tape_len)
    }
}

/// A vector-Jacobian product: adds `ȳᵀ·J` (given `ȳ`) into the input adjoints.
pub(crate) type VjpFn<T> = Box<dyn Fn(&[T], &mut [T])>;

/// A reverse-mode rule recorded as one tape entry: the vector-Jacobian product of a black
/// box, given the adjoints of its outputs, adds to the adjoints of its inputs.
pub(crate) struct Callback<T> {
    /// Index of the first output statement; the outputs are `first..first + n_outputs`.
    pub(crate) first: u32,
    pub(crate) n_outputs: u32,
    pub(crate) inputs: Vec<u32>,
    pub(crate) vjp: VjpFn<T>,
}

/// One operand: the partial derivative of a statement with respect to an earlier one, and
/// that one's index. Packed: 12 bytes for `f64`, streamed by the reverse sweep.
#[derive(Clone, Copy)]
#[repr(C, packed(4))]
pub(crate) struct Operand<T> {
    pub(crate) partial: T,
    pub(crate) arg: u32,
}

/// The storage of a tape. Public only so that [`TapeScalar`] can name it.
///
/// Invariants, established by the recording functions below and relied on by the unchecked
/// accesses of the reverse sweep:
/// - every operand of statement `s` is the index of an earlier statement (`arg < s`):
///   operands are alive variables ([`TapeCore::check`]), and an alive variable lies within
///   the tape — on the one-comparison path because its id is the current epoch's, unique
///   while ids have not wrapped; on the cold path by an explicit test of its index;
/// - `ends` is non-decreasing and its last entry is `operands.len()`;
/// - there is always at least as much free room for statements as for operands
///   (`free(ends) >= free(operands)`), so a statement with at least one operand needs a
///   single capacity check, on the operands.
#[doc(hidden)]
pub struct TapeCore<T> {
    pub(crate) lineage: Lineage,
    pub(crate) ends: Vec<u32>,
    pub(crate) operands: Vec<Operand<T>>,
    pub(crate) callbacks: Vec<Callback<T>>,
    /// How many statements at the start of the tape are inputs (no operands): the reverse
    /// sweep stops above them, as there is nothing to propagate through an input.
    pub(crate) leading_inputs: u32,
}

impl<T: TapeScalar> TapeCore<T> {
    /// Records one statement with `K` operands and returns its index. One capacity check,
    /// then unchecked writes: this is the hot path of every operation.
    #[inline(always)]
    pub(crate) fn push<const K: usize>(&mut self, operands: [(T, u32); K]) -> u32 {
        let n = self.operands.len();
        let s = self.ends.len();
        debug_assert!(
            self.ends.capacity() - s >= self.operands.capacity() - n,
            "room invariant"
        );
        let room = if K == 0 {
            // No operand to pay for the statement slot: check the statements directly.
            self.ends.capacity() - s > self.operands.capacity() - n
        } else {
            self.operands.capacity() - n >= K
        };
        if !room {
            self.grow(K.max(1));
        }
        // SAFETY: room for K operands was checked, and the invariant (or the K == 0 check)
        // gives room for one more statement; `grow` keeps offsets and indices within u32.
        unsafe {
            let p = self.operands.as_mut_ptr().add(n);
            for (k, (partial, arg)) in operands.into_iter().enumerate() {
                p.add(k).write(Operand { partial, arg });
            }
            self.operands.set_len(n + K);
            self.ends.as_mut_ptr().add(s).write((n + K) as u32);
            self.ends.set_len(s + 1);
        }
        s as u32
    }

    /// Makes room for a statement of up to `k` operands, to be written with
    /// [`TapeCore::push_operand`] and closed with [`TapeCore::end_statement`].
    #[inline]
    pub(crate) fn reserve(&mut self, k: usize) {
        if self.operands.capacity() - self.operands.len() < k.max(1) {
            self.grow(k.max(1));
        }
    }

    /// Appends one operand to the statement being built (after [`TapeCore::reserve`]).
    #[inline(always)]
    pub(crate) fn push_operand(&mut self, partial: T, arg: u32) {
        self.operands.push(Operand { partial, arg });
    }

    /// Closes the statement being built and returns its index.
    #[inline]
    pub(crate) fn end_statement(&mut self) -> u32 {
        if self.ends.capacity() - self.ends.len() <= self.operands.capacity() - self.operands.len()
        {
            self.grow(1);
        }
        let s = self.ends.len();
        self.ends.push(self.operands.len() as u32);
        s as u32
    }

    /// Grows the buffers for `k` more operands and restores the invariant.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, k: usize) {
        let n = self.operands.len();
        assert!(
            n + k <= u32::MAX as usize && self.ends.len() + k < DERIVED as usize,
            "retrograd: the tape exceeds 2^31 statements or 2^32 operands; clear it or use \
             checkpointing"
        );
        if self.operands.capacity() - n < k {
            self.operands.reserve(k.max(n));
        }
        self.restore_room();
    }

    /// Reserves statements until `free(ends) > free(operands)`.
    fn restore_room(&mut self) {
        let free_operands = self.operands.capacity() - self.operands.len();
        let free_ends = self.ends.capacity() - self.ends.len();
        if free_ends <= free_operands {
            // `reserve` counts from the length: this leaves `free_operands + 1` free slots.
            self.ends.reserve(free_operands + 1);
        }
    }

    /// `v` itself if it is a [node](Var::is_node) or a constant; else a new statement
    /// with `v`'s statement as its one operand, so that `v` gets an adjoint of its own.
    #[track_caller]
    pub(crate) fn node(&mut self, v: Var<T>) -> Var<T> {
        if v.is_node() || v.is_constant() {
            return v;
        }
        let id = self.check(v);
        let i = self.push([(v.scale(), v.index())]);
        Var::from_parts(v.value(), i, id)
    }

    /// Records a new independent variable.
    pub(crate) fn input(&mut self, value: T) -> Var<T> {
        if self.leading_inputs as usize == self.ends.len() {
            self.leading_inputs += 1;
        }
        let i = self.push([]);
        Var::from_parts(value, i, self.lineage.current)
    }

    /// Records one independent variable per value, appending them to `out`.
    pub(crate) fn inputs(&mut self, values: &[T], out: &mut Vec<Var<T>>) {
        let first = self.ends.len();
        let end = self.operands.len() as u32;
        self.ends.extend(std::iter::repeat_n(end, values.len()));
        self.restore_room();
        if self.leading_inputs as usize == first {
            self.leading_inputs += values.len() as u32;
        }
        out.extend(
            values
                .iter()
                .enumerate()
                .map(|(k, &v)| Var::from_parts(v, (first + k) as u32, self.lineage.current)),
        );
    }

    /// Reverse sweep over statements `lo..hi`, accumulating into `adj` (indexed by statement).
    /// Statements with a zero adjoint are skipped, so an unused branch never turns an
    /// infinite partial (e.g. `sqrt` at 0) into NaN.
    pub(crate) fn reverse(&self, adj: &mut [T], lo: usize, hi: usize) {
        let mut hi = hi;
        for cb in self.callbacks.iter().rev() {
            let first = cb.first as usize;
            let last = first + cb.n_outputs as usize;
            if last > hi || first < lo {
                continue;
            }
            self.reverse_plain(adj, last, hi);
            let mut grads = vec![T::zero(); cb.inputs.len()];
            (cb.vjp)(&adj[first..last], &mut grads);
            for (&j, g) in cb.inputs.iter().zip(grads) {
                // Constant inputs carry an index past the tape; their adjoint is dropped.
                if let Some(a) = adj.get_mut(j as usize) {
                    *a += g;
                }
            }
            hi = first;
        }
        self.reverse_plain(adj, lo, hi);
    }

    // Kept out of line: inlined into its callers it lost registers to them (measured).
    #[inline(never)]
    fn reverse_plain(&self, adj: &mut [T], lo: usize, hi: usize) {
        // Statement 0 has no operands (an operand names an earlier statement), so the
        // sweep stops above it, and every statement it visits has one before it whose end
        // is where its own operands begin.
        let lo = lo.max(self.leading_inputs as usize).max(1);
        if hi <= lo {
            return;
        }
        assert!(hi <= adj.len() && hi <= self.ends.len());
        let ends = &self.ends[..hi];
        let operands = &self.operands[..];
        // One cursor walks the operands backwards alongside the statements.
        let mut k = ends[hi - 1] as usize;
        for s in (lo..hi).rev() {
            // SAFETY: 1 <= lo <= s < hi <= ends.len() and hi <= adj.len() (asserted
            // above); by the invariants of `TapeCore` (established when recording), operand
            // offsets are non-decreasing and bounded by operands.len(), and every operand
            // index refers to an earlier statement, so it is < s < adj.len().
            unsafe {
                let begin = *ends.get_unchecked(s - 1) as usize;
                let a = *adj.get_unchecked(s);
                if a.is_inert_zero() {
                    k = begin;
                    continue;
                }
                let mut add = |k: usize| {
                    let Operand { partial, arg } = *operands.get_unchecked(k);
                    debug_assert!((arg as usize) < s);
                    *adj.get_unchecked_mut(arg as usize) += partial * a;
                };
                // Two operands and one are most statements: unrolled.
                match k - begin {
                    2 => {
                        add(k - 1);
                        add(k - 2);
                    }
                    1 => add(k - 1),
                    _ => {
                        while k > begin {
                            k -= 1;
                            add(k);
                        }
                    }
                }
                k = begin;
            }
        }
    }

    /// Forward (tangent) sweep over all statements: inputs keep their seeded tangent,
    /// every other statement gets the sum of its partials times its operands' tangents.
    pub(crate) fn forward(&self, tan: &mut [T]) -> Result<(), String> {
        if !self.callbacks.is_empty() {
            return Err(
                "the tape holds a custom operation defined by a vector-Jacobian \
                 product only, which supports reverse mode only; record it with \
                 its partial derivatives to use forward sweeps"
                    .into(),
            );
        }
        let n = self.ends.len();
        assert!(tan.len() >= n, "one tangent per statement");
        let mut begin = 0;
        for s in 0..n {
            // SAFETY: s < n = ends.len() and n <= tan.len() (asserted above); by the
            // invariants of `TapeCore` (established when recording), operand offsets are
            // non-decreasing and bounded by operands.len(), and every operand index refers
            // to an earlier statement, so it is < s < tan.len().
            unsafe {
                let end = *self.ends.get_unchecked(s) as usize;
                if end == begin {
                    continue;
                }
                let mut t = T::zero();
                for op in self.operands.get_unchecked(begin..end) {
                    let Operand { partial, arg } = *op;
                    debug_assert!((arg as usize) < s);
                    t += partial * *tan.get_unchecked(arg as usize);
                }
                *tan.get_unchecked_mut(s) = t;
                begin = end;
            }
        }
        Ok(())
    }
}

/// Sizes of a recording, as reported by [`Tape::stats`].
///
/// ```
/// use retrograd::{Tape, prelude::*};
/// let mut tape = Tape::new();
/// tape.record(|rec| {
///     let (x, y) = (rec.input(2.0), rec.input(3.0));
///     let _z = (x * x + x) * y.sin();
/// });
/// let s = tape.stats();
/// // x; y; and one statement for z, as x·x + x and sin(y) each depend on one variable.
/// assert_eq!((s.statements, s.operands), (3, 2));
/// assert_eq!(s.bytes, 3 * 4 + 2 * 12);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TapeStats {
    /// Recorded statements, one per active result and input.
    pub statements: usize,
    /// Recorded operands (partial derivative + argument index).
    pub operands: usize,
    /// Bytes of the recording: 4 per statement and `4 + size_of::<T>()` per operand.
    pub bytes: usize,
    /// Bytes allocated (capacity kept for reuse after [`Tape::clear`]).
    pub capacity_bytes: usize,
}

/// A position on a tape, from [`Recorder::mark`], for [`Recorder::reset`] and
/// [`Recorder::sweep_and_reset`]. A mark stays valid while everything recorded before it
/// is unchanged: it may be reset to many times, but not after a reset to an earlier mark
/// dropped what preceded it (that panics).
///
/// ```
/// let mut tape = retrograd::Tape::new();
/// let (a, b) = tape.record(|rec| { let a = rec.mark(); rec.input(1.0); (a, rec.mark()) });
/// assert_ne!(a, b);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The epoch of the statement just before the mark (see [`Lineage::owner_before`]).
    pub(crate) id: u32,
    pub(crate) statements: u32,
    pub(crate) operands: u32,
    pub(crate) callbacks: u32,
}

/// An explicit tape, for recording once and sweeping many times.
///
/// Most code uses the closure API ([`grad`](crate::grad), [`jacobian`](crate::jacobian), ...),
/// which manages a tape internally. Use a `Tape` directly to reuse its buffers across
/// recordings, to sweep one recording with several seeds, or to read its size.
///
/// ```
/// use retrograd::{Tape, prelude::*};
/// let mut tape = Tape::new();
/// let (x, y, z) = tape.record(|rec| {
///     let x = rec.input(0.5);
///     let y = rec.input(2.0);
///     (x, y, x.sin() * y)
/// });
/// let g = tape.gradient(z);
/// assert_eq!(g.wrt(y), 0.5_f64.sin());
/// assert_eq!(g.wrt(x), 2.0 * 0.5_f64.cos());
/// ```
pub struct Tape<T: TapeScalar = f64> {
    // Boxed so that the address stored in the thread-local slot is stable.
    core: Box<TapeCore<T>>,
}

impl<T: TapeScalar> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Restores the previously active tape when a recording ends, also on unwinding.
struct ActiveGuard<T: TapeScalar> {
    previous: *mut TapeCore<T>,
}

impl<T: TapeScalar> Drop for ActiveGuard<T> {
    fn drop(&mut self) {
        T::active_slot().with(|slot| slot.set(self.previous));
    }
}

/// Handle passed to the closure of [`Tape::record`]: creates the independent variables,
/// and marks, sweeps and resets parts of the recording.
///
/// ```
/// let mut tape = retrograd::Tape::new();
/// let x = tape.record(|rec| rec.input(2.0));
/// assert_eq!(tape.gradient(x).wrt(x), 1.0);
/// ```
pub struct Recorder<'a, T: TapeScalar> {
    core: *mut TapeCore<T>,
    _tape: std::marker::PhantomData<&'a mut Tape<T>>,
}

impl<T: TapeScalar> Recorder<'_, T> {
    /// Records an independent variable with the given value.
    ///
    /// ```
    /// # use retrograd::Tape;
    /// let mut tape = Tape::new();
    /// let x = tape.record(|rec| rec.input(3.0));
    /// assert_eq!(x.value(), 3.0);
    /// ```
    pub fn input(&self, value: T) -> Var<T> {
        // SAFETY: the tape outlives the recorder, and its core is only accessed from this
        // thread, through this pointer, while the recording runs.
        unsafe { (*self.core).input(value) }
    }

    /// Records one independent variable per value.
    ///
    /// ```
    /// # use retrograd::Tape;
    /// let mut tape = Tape::new();
    /// let xs = tape.record(|rec| rec.inputs(&[1.0, 2.0]));
    /// assert_eq!(xs.len(), 2);
    /// ```
    pub fn inputs(&self, values: &[T]) -> Vec<Var<T>> {
        let mut out = Vec::with_capacity(values.len());
        self.inputs_into(values, &mut out);
        out
    }

    /// Records one independent variable per value, appending them to `out` (which keeps
    /// its capacity across recordings).
    ///
    /// ```
    /// # use retrograd::Tape;
    /// let mut tape = Tape::new();
    /// let mut xs = Vec::new();
    /// tape.record(|rec| rec.inputs_into(&[1.0, 2.0], &mut xs));
    /// assert_eq!(xs[1].value(), 2.0);
    /// ```
    pub fn inputs_into(&self, values: &[T], out: &mut Vec<Var<T>>) {
        // SAFETY: as in `input`.
        unsafe { (*self.core).inputs(values, out) }
    }

    /// `v` as a tape variable with a statement of its own ([`Var::is_node`]), so that its
    /// adjoint can be read or it can seed a forward sweep: `v` itself for a node or a
    /// constant, else a one-operand statement recorded now.
    ///
    /// ```
    /// use retrograd::{Tape, prelude::*};
    /// let mut tape = Tape::new();
    /// let (s, y) = tape.record(|rec| {
    ///     let x = rec.input(2.0);
    ///     let s = rec.node(x.sin());
    ///     (s, s * s + x)
    /// });
    /// assert_eq!(tape.gradient(y).wrt(s), 2.0 * 2.0_f64.sin());
    /// ```
    #[track_caller]
    pub fn node(&self, v: Var<T>) -> Var<T> {
        // SAFETY: as in `input`.
        unsafe { (*self.core).node(v) }
    }

    /// The current end of the recording (see [`Recorder::reset`]).
    pub fn mark(&self) -> Mark {
        // SAFETY: as in `input`.
        unsafe { (*self.core).mark() }
    }

    /// Sweeps the statements recorded since `mark` in reverse, seeded with `seeds`, adding
    /// into `adjoints` (which may hold adjoints from earlier sweeps), then drops those
    /// statements from the tape. Variables recorded before the mark get their adjoints.
    ///
    /// This keeps the tape short when a long computation is a sum of independent parts
    /// (many trades of a portfolio, many samples of a loss): record a part, sweep it,
    /// drop it, and go on.
    ///
    /// ```
    /// use retrograd::{Tape, prelude::*};
    /// let mut tape = Tape::new();
    /// let (x, adj) = tape.record(|rec| {
    ///     let x = rec.input(2.0);
    ///     let mut adj = rec.adjoints();
    ///     for k in 1..=3 {
    ///         let m = rec.mark();
    ///         let term = x.powi(k);               // recorded after the mark
    ///         rec.sweep_and_reset(m, &[(term, 1.0)], &mut adj);
    ///     }
    ///     (x, adj)
    /// });
    /// assert_eq!(adj.wrt(x), 1.0 + 2.0 * 2.0 + 3.0 * 4.0);
    /// assert_eq!(tape.stats().statements, 1); // only x is left
    /// ```
    #[track_caller]
    pub fn sweep_and_reset(&self, mark: Mark, seeds: &[(Var<T>, T)], adjoints: &mut Adjoints<T>) {
        // SAFETY: as in `input`.
        let core = unsafe { &mut *self.core };
        core.check_mark(mark);
        adjoints.prepare(core);
        adjoints.seed(core, seeds);
        core.reverse(
            &mut adjoints.values,
            mark.statements as usize,
            core.ends.len(),
        );
        adjoints.values.truncate(mark.statements as usize);
        core.reset(mark);
        adjoints.lineage.sync_from(&core.lineage);
    }

    /// Drops everything recorded since `mark` without sweeping it.
    ///
    /// ```
    /// use retrograd::{Tape, prelude::*};
    /// let mut tape = Tape::new();
    /// tape.record(|rec| {
    ///     let x = rec.input(1.0);
    ///     let m = rec.mark();
    ///     let _unused = x.exp() * x; // a trial computation, then discarded
    ///     rec.reset(m);
    /// });
    /// assert_eq!(tape.stats().statements, 1);
    /// ```
    #[track_caller]
    pub fn reset(&self, mark: Mark) {
        // SAFETY: as in `input`.
        let core = unsafe { &mut *self.core };
        core.check_mark(mark);
        core.reset(mark);
    }

    /// An empty adjoint store for this recording, for [`Recorder::sweep_and_reset`].
    ///
    /// ```
    /// let mut tape: retrograd::Tape = retrograd::Tape::new();
    /// let empty = tape.record(|rec| rec.adjoints());
    /// assert!(empty.values().is_empty());
    /// ```
    pub fn adjoints(&self) -> Adjoints<T> {
        // SAFETY: as in `input`.
        let core = unsafe { &*self.core };
        Adjoints {
            lineage: core.lineage.clone(),
            values: Vec::new(),
            tangents: false,
        }
    }
}

impl<T: TapeScalar> TapeCore<T> {
    /// A mark at the end of the tape, which becomes the start of an epoch (see [`Lineage`]).
    fn mark(&mut self) -> Mark {
        self.lineage.split(self.ends.len() as u32);
        Mark {
            id: self.lineage.owner_before(self.ends.len() as u32),
            statements: self.ends.len() as u32,
            operands: self.operands.len() as u32,
            callbacks: self.callbacks.len() as u32,
        }
    }

    #[track_caller]
    fn check_mark(&self, mark: Mark) {
        assert!(
            mark.statements as usize <= self.ends.len()
                && self.lineage.owner_before(mark.statements) == mark.id,
            "retrograd: this mark belongs to another tape or recording, or what was recorded \
             before it was dropped by a reset to an earlier mark"
        );
        // The mark's counts describe this tape's first `mark.statements` statements (they
        // are unchanged since it was made); checked, as `reset` truncates by them.
        let operands = match mark.statements {
            0 => 0,
            m => self.ends[m as usize - 1],
        };
        assert!(
            mark.operands == operands && mark.callbacks as usize <= self.callbacks.len(),
            "retrograd: a mark inconsistent with its tape"
        );
    }

    /// Drops everything after a mark checked by [`TapeCore::check_mark`].
    fn reset(&mut self, mark: Mark) {
        self.lineage
            .truncate(mark.statements, self.ends.len() as u32);
        self.leading_inputs = self.leading_inputs.min(mark.statements);
        self.ends.truncate(mark.statements as usize);
        self.operands.truncate(mark.operands as usize);
        self.callbacks.truncate(mark.callbacks as usize);
        self.restore_room();
    }
}

impl<T: TapeScalar> Tape<T> {
    /// An empty tape.
    ///
    /// ```
    /// let tape: retrograd::Tape = retrograd::Tape::new();
    /// assert_eq!(tape.stats().statements, 0);
    /// ```
    pub fn new() -> Self {
        Self::with_capacity(1 << 10, 1 << 11)
    }

    /// An empty tape with room for `statements` and `operands` before it reallocates.
    ///
    /// ```
    /// let tape: retrograd::Tape = retrograd::Tape::with_capacity(1000, 2000);
    /// assert!(tape.stats().capacity_bytes >= 1000 * 4 + 2000 * 12);
    /// ```
    pub fn with_capacity(statements: usize, operands: usize) -> Self {
        let mut core = Box::new(TapeCore {
            lineage: Lineage::new(),
            ends: Vec::with_capacity(statements),
            operands: Vec::with_capacity(operands),
            callbacks: Vec::new(),
            leading_inputs: 0,
        });
        core.restore_room();
        Tape { core }
    }

    /// Makes this tape the thread's active tape for `T` while `f` runs, so that operations
    /// on its variables are recorded here. Recordings may nest (each tape its own `Var`s).
    /// Recording continues where the previous recording on this tape stopped; call
    /// [`Tape::clear`] to start over.
    ///
    /// ```
    /// use retrograd::{Tape, prelude::*};
    /// let mut tape = Tape::new();
    /// let y = tape.record(|rec| rec.input(1.0).exp());
    /// assert_eq!(tape.gradient(y).values()[0], 1.0_f64.exp());
    /// ```
    pub fn record<R>(&mut self, f: impl FnOnce(&Recorder<'_, T>) -> R) -> R {
        let core: *mut TapeCore<T> = &mut *self.core;
        let previous = T::active_slot().with(|slot| slot.replace(core));
        let _guard = ActiveGuard::<T> { previous };
        let recorder = Recorder {
            core,
            _tape: std::marker::PhantomData,
        };
        f(&recorder)
    }

    /// Forgets the recording but keeps the buffers, so re-recording does not allocate.
    /// Variables of the old recording are rejected from now on.
    ///
    /// ```
    /// use retrograd::{Tape, prelude::*};
    /// let mut tape = Tape::new();
    /// let old = tape.record(|rec| rec.input(1.0));
    /// tape.clear();
    /// assert_eq!(tape.stats().statements, 0);
    /// let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tape.gradient(old)));
    /// assert!(caught.is_err()); // a variable of a cleared recording
    /// ```
    pub fn clear(&mut self) {
        let core = &mut *self.core;
        core.lineage = Lineage::new();
        core.ends.clear();
        core.operands.clear();
        core.restore_room();
        core.callbacks.clear();
        core.leading_inputs = 0;
    }

    /// Statement, operand and byte counts of the recording.
    ///
    /// ```
    /// # use retrograd::Tape;
    /// let mut tape = Tape::new();
    /// tape.record(|rec| rec.inputs(&[1.0, 2.0]));
    /// assert_eq!(tape.stats().statements, 2);
    /// ```
    pub fn stats(&self) -> TapeStats {
        let c = &self.core;
        let op = std::mem::size_of::<Operand<T>>();
        TapeStats {
            statements: c.ends.len(),
            operands: c.operands.len(),
            bytes: c.ends.len() * 4 + c.operands.len() * op,
            capacity_bytes: c.ends.capacity() * 4 + c.operands.capacity() * op,
        }
    }

    /// The gradient of `y` with respect to every variable of the recording (one sweep).
    ///
    /// Panics if `y` belongs to another tape or to a cleared recording.
    ///
    /// ```
    /// use retrograd::{Tape, prelude::*};
    /// let mut tape = Tape::new();
    /// let (x, y) = tape.record(|rec| { let x = rec.input(3.0); (x, x * x) });
    /// assert_eq!(tape.gradient(y).wrt(x), 6.0);
    /// ```
    #[track_caller]
    pub fn gradient(&self, y: Var<T>) -> Adjoints<T> {
        self.adjoints(&[(y, T::one())])
    }

    /// One reverse sweep seeded with `adjoint(v) = seed` for each pair: a vector-Jacobian
    /// product. The recording stays, so it can be swept again with other seeds.
    ///
    /// ```
    /// use retrograd::{Tape, prelude::*};
    /// let mut tape = Tape::new();
    /// let (x, y1, y2) = tape.record(|rec| { let x = rec.input(2.0); (x, x * x, x.exp()) });
    /// let a = tape.adjoints(&[(y1, 1.0), (y2, 0.5)]);
    /// assert_eq!(a.wrt(x), 4.0 + 0.5 * 2.0_f64.exp());
    /// ```
    #[track_caller]
    pub fn adjoints(&self, seeds: &[(Var<T>, T)]) -> Adjoints<T> {
        let mut out = Adjoints {
            lineage: self.core.lineage.clone(),
            values: Vec::new(),
            tangents: false,
        };
        self.adjoints_into(seeds, &mut out);
        out
    }

    /// Like [`Tape::adjoints`] but reuses the buffer of `out` (no allocation once grown).
    ///
    /// ```
    /// use retrograd::{Tape, prelude::*};
    /// let mut tape = Tape::new();
    /// let (x, y) = tape.record(|rec| { let x = rec.input(2.0); (x, x * x) });
    /// let mut adj = tape.adjoints(&[]);
    /// for seed in [1.0, 2.0] {
    ///     tape.adjoints_into(&[(y, seed)], &mut adj);
    ///     assert_eq!(adj.wrt(x), 4.0 * seed);
    /// }
    /// ```
    #[track_caller]
    pub fn adjoints_into(&self, seeds: &[(Var<T>, T)], out: &mut Adjoints<T>) {
        let core = &*self.core;
        out.values.clear();
        out.tangents = false;
        out.lineage.sync_from(&core.lineage);
        out.prepare(core);
        out.seed(core, seeds);
        core.reverse(&mut out.values, 0, core.ends.len());
    }

    /// One forward (tangent) sweep over the recording: `tangents` seeds the inputs, and the
    /// result holds the directional derivative of every recorded variable (a Jacobian-vector
    /// product). Fails if the tape holds a custom operation that supports reverse mode only.
    ///
    /// ```
    /// use retrograd::{Tape, prelude::*};
    /// let mut tape = Tape::new();
    /// let (x, y) = tape.record(|rec| { let x = rec.input(2.0); (x, x.powi(3)) });
    /// let t = tape.tangents(&[(x, 1.0)]).unwrap();
    /// assert_eq!(t.wrt(y), 12.0);
    /// ```
    #[track_caller]
    pub fn tangents(&self, seeds: &[(Var<T>, T)]) -> Result<Adjoints<T>, crate::Error> {
        let core = &*self.core;
        let mut out = Adjoints {
            lineage: core.lineage.clone(),
            values: Vec::new(),
            tangents: true,
        };
        out.prepare(core);
        out.seed(core, seeds);
        core.forward(&mut out.values)
            .map_err(crate::Error::Unsupported)?;
        Ok(out)
    }
}

impl<T: TapeScalar> Drop for Tape<T> {
    fn drop(&mut self) {
        let me: *mut TapeCore<T> = &mut *self.core;
        // A recording cannot outlive `record`, but be safe against a slot still pointing here.
        let _ = T::active_slot().try_with(|slot| {
            if slot.get() == me {
                slot.set(std::ptr::null_mut());
            }
        });
    }
}

/// Derivatives of every variable of one recording, indexed by [`Var`]: adjoints after a
/// reverse sweep, tangents after a forward sweep.
///
/// ```
/// use retrograd::{Tape, prelude::*};
/// let mut tape = Tape::new();
/// let (x, y) = tape.record(|rec| { let x = rec.input(1.0); (x, 2.0 * x) });
/// let g = tape.gradient(y);
/// assert_eq!(g.wrt(x), 2.0);
/// assert_eq!(g.wrt(Var::constant(5.0)), 0.0); // constants have no derivative
/// ```
#[derive(Clone, Debug)]
pub struct Adjoints<T = f64> {
    /// The recording's epochs when the adjoints were last swept: which variables they cover.
    lineage: Lineage,
    values: Vec<T>,
    /// Tangents of a forward sweep (which a derived variable scales) rather than adjoints.
    tangents: bool,
}

impl<T: TapeScalar> Adjoints<T> {
    /// The derivative with respect to `x` (zero for a constant).
    ///
    /// After a forward sweep, any variable's tangent. After a reverse sweep, the adjoint
    /// of an input or of another [node](Var::is_node); a variable computed from one
    /// variable alone (`x.sin()`, `2.0 * x`) has no adjoint of its own unless it was made a
    /// node with [`Recorder::node`] where it was computed.
    ///
    /// Panics if `x` belongs to another tape or recording, or was dropped by a reset, or
    /// (after a reverse sweep) is not a node.
    #[track_caller]
    pub fn wrt(&self, x: Var<T>) -> T {
        if x.is_constant() {
            return T::zero();
        }
        if !self.lineage.owns(x.tape_id(), x.index()) {
            foreign_var(x.tape_id(), self.lineage.current);
        }
        let v = self
            .values
            .get(x.index() as usize)
            .copied()
            .unwrap_or_else(T::zero);
        match (x.is_node(), self.tangents) {
            (true, _) => v,
            // A tangent is linear along the chain: the derived variable's is its scale times
            // its statement's.
            (false, true) => x.scale().chain(v),
            (false, false) => not_a_node("read the adjoint of"),
        }
    }

    /// The derivatives with respect to each of `xs`.
    ///
    /// ```
    /// use retrograd::{Tape, prelude::*};
    /// let mut tape = Tape::new();
    /// let (xs, y) = tape.record(|rec| { let xs = rec.inputs(&[1.0, 2.0]); let y = xs[0] * xs[1]; (xs, y) });
    /// assert_eq!(tape.gradient(y).wrt_all(&xs), vec![2.0, 1.0]);
    /// ```
    #[track_caller]
    pub fn wrt_all(&self, xs: &[Var<T>]) -> Vec<T> {
        xs.iter().map(|&x| self.wrt(x)).collect()
    }

    /// All derivatives, indexed by statement (the variable's position on the tape).
    ///
    /// ```
    /// use retrograd::{Tape, prelude::*};
    /// let mut tape = Tape::new();
    /// let z = tape.record(|rec| { let (x, y) = (rec.input(3.0), rec.input(2.0)); x * y });
    /// assert_eq!(tape.gradient(z).values(), &[2.0, 3.0, 1.0]); // x, y, then z itself
    /// ```
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// Bytes of the buffer holding the values (its capacity).
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<T>()
    }

    /// Sizes the adjoints to the tape. Adjoints kept from an earlier sweep of this recording
    /// stay where their statements are unchanged; those of statements a reset dropped go.
    #[track_caller]
    fn prepare(&mut self, core: &TapeCore<T>) {
        if self.lineage.recording != core.lineage.recording {
            foreign_var(self.lineage.current, core.lineage.current);
        }
        let len = core.ends.len() as u32;
        if !self.values.is_empty() {
            let keep = self
                .lineage
                .common_prefix(self.values.len() as u32, &core.lineage, len);
            self.values.truncate(keep as usize);
        }
        self.values.resize(len as usize, T::zero());
        self.lineage.sync_from(&core.lineage);
    }

    #[track_caller]
    fn seed(&mut self, core: &TapeCore<T>, seeds: &[(Var<T>, T)]) {
        for &(v, s) in seeds {
            if v.is_constant() {
                continue;
            }
            core.check(v);
            if self.tangents && !v.is_node() {
                not_a_node("seed the tangent of");
            }
            // An adjoint seed on a derived variable reaches its statement times its scale.
            self.values[v.index() as usize] += v.scale().chain(s);
        }
    }
}

/// Reports a variable used with a tape it was not recorded on.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn foreign_var(var_tape: u32, tape: u32) -> ! {
    panic!(
        "retrograd: a variable of recording #{var_tape} was used with recording #{tape}; \
         variables belong to the tape recording that created them and are invalid after \
         that tape is cleared or dropped, or reset to a mark made before them"
    )
}

/// Reports a derived variable (see [`Var::is_node`]) where a statement of its own is needed.
#[cold]
#[inline(never)]
#[track_caller]
fn not_a_node(what: &str) -> ! {
    panic!(
        "retrograd: cannot {what} a variable that has no statement of its own on the tape: \
         it is the result of an operation on one variable (such as `sin(x)` or `2.0 * x`), \
         whose statement was merged into its consumers; make it a tape variable with \
         `Recorder::node` where it is computed"
    )
}

/// Reports an operation on a variable while no tape is recording.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn no_active_tape(var_tape: u32) -> ! {
    panic!(
        "retrograd: an operation on a variable of recording #{var_tape} ran while no tape \
         was recording; operate on variables inside `Tape::record` or the closure given to \
         `grad`/`jacobian`/..."
    )
}

/// The active tape of this thread, for an operation on `operand`; the caller checks each
/// operand with [`TapeCore::check`].
#[inline(always)]
#[track_caller]
pub(crate) fn active<T: TapeScalar>(operand: Var<T>) -> &'static mut TapeCore<T> {
    let p = T::active_slot().with(|slot| slot.get());
    if p.is_null() {
        no_active_tape(operand.tape_id());
    }
    // SAFETY: a non-null slot points to the core of a tape that is recording on this thread
    // (set and restored by `Tape::record`); no other reference to it is live during an op.
    unsafe { &mut *p }
}

impl<T: TapeScalar> TapeCore<T> {
    /// The id given to variables recorded now.
    #[inline(always)]
    pub(crate) fn id(&self) -> u32 {
        self.lineage.current
    }

    /// Refuses a variable that is not alive on this tape: of another tape or recording, or
    /// dropped by a reset. One comparison for a variable of the current epoch. Returns the id
    /// a result recorded now carries: on the common path the operand's own, which keeps the
    /// ids of a chain of operations in one register (and their checks folded).
    #[inline(always)]
    #[track_caller]
    pub(crate) fn check(&self, v: Var<T>) -> u32 {
        if v.tape_id() == self.lineage.fast {
            return v.tape_id();
        }
        self.check_earlier(v);
        self.lineage.current
    }

    /// Refuses `v` unless it is alive, with the full check only for a variable that the
    /// two inline ones do not pass.
    #[inline(always)]
    #[track_caller]
    fn check_earlier(&self, v: Var<T>) {
        if !self.lineage.alive_by_fast_check(v.tape_id()) {
            self.check_earlier_epoch(v.tape_id(), v.index());
        }
    }

    /// [`TapeCore::check`] for the two operands of a binary operation, with one branch.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn check_pair(&self, a: Var<T>, b: Var<T>) -> u32 {
        let fast = self.lineage.fast;
        if (a.tape_id() == fast) & (b.tape_id() == fast) {
            return a.tape_id();
        }
        self.check_earlier(a);
        self.check_earlier(b);
        self.lineage.current
    }

    /// The active tape, if any of `xs` is a variable, after checking every variable among
    /// them (before anything is recorded, so a refusal leaves the tape as it was).
    #[inline]
    #[track_caller]
    pub(crate) fn for_operands(
        xs: impl IntoIterator<Item = Var<T>>,
    ) -> Option<&'static mut TapeCore<T>> {
        let mut xs = xs.into_iter();
        let first = xs.find(|x| !x.is_constant())?;
        let tape = active(first);
        let fast = tape.lineage.fast;
        for x in std::iter::once(first).chain(xs) {
            if x.tape_id() != fast && !x.is_constant() {
                tape.check_earlier(x);
            }
        }
        Some(tape)
    }

    /// Refuses the variable `(id, index)` unless it is alive (of any epoch of this
    /// recording) and lies within the tape. Takes plain integers, so that callers need not
    /// spill a `Var` to pass it.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn check_earlier_epoch(&self, id: u32, index: u32) {
        // The index test matters only once ids have wrapped (a variable from 2^32 ids ago
        // may carry a live id); the reverse sweep relies on it.
        if !self.lineage.owns(id, index) || index as usize >= self.ends.len() {
            foreign_var(id, self.lineage.current);
        }
    }
}
