//! Recording allocates nothing per operation once the tape's buffers have grown.

use retrograd::prelude::*;
use retrograd::Tape;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    // Allocations made by this thread. Counting per thread keeps allocations of other
    // threads (the test harness, other tests) out of the count. Const-initialised and
    // without a destructor, so reading it never allocates (which would recurse).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: never panic inside the allocator, even while a thread shuts down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

/// Allocations made so far by the calling thread.
fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: delegates to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn rerecording_allocates_nothing() {
    let x: Vec<f64> = (0..10_000)
        .map(|i| 0.5 + 0.4 * (0.001 * i as f64).sin())
        .collect();
    let mut tape = Tape::new();
    let mut adjoints = tape.adjoints(&[]);
    let mut run = |tape: &mut Tape, inputs: &mut Vec<Var>| {
        tape.clear();
        let y = tape.record(|rec| {
            inputs.clear();
            inputs.extend(x.iter().map(|&v| rec.input(v)));
            let mut s = Var::constant(0.0);
            for &v in inputs.iter() {
                s += v.sin() * v * v + (-v).exp();
            }
            s + retrograd::sum_map(inputs, |t| t.powi(2)) + retrograd::dot(inputs, inputs)
        });
        tape.adjoints_into(&[(y, 1.0)], &mut adjoints);
        adjoints.wrt(inputs[0])
    };
    let mut inputs = Vec::with_capacity(x.len());
    let first = run(&mut tape, &mut inputs);
    // The first `clear` may enlarge the statement buffer once (the tape keeps at least as
    // much free room for statements as for operands); from then on nothing is allocated.
    run(&mut tape, &mut inputs);
    // Recording runs on this thread only (the active tape is thread-local), so this
    // thread's count covers every allocation it makes.
    let before = allocations();
    let second = run(&mut tape, &mut inputs);
    let after = allocations();
    assert_eq!(first, second);
    assert_eq!(
        after - before,
        0,
        "allocations while re-recording 10,000 elements"
    );
}
