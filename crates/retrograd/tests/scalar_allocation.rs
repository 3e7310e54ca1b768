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

/// The closure API keeps its tape and adjoint buffer per thread: once warm, `grad`
/// allocates only its inputs' vector and the gradient it returns.
#[test]
fn the_closure_api_reuses_its_tape() {
    let f = |x: &[Var]| (x[0] * x[1]).sin() + x[1].exp() * x[0];
    let x = [0.3, 0.7];
    let first = retrograd::grad(f, &x);
    let before = allocations();
    let second = retrograd::grad(f, &x);
    let warm = allocations() - before;
    assert_eq!(first, second);
    assert!(warm <= 2, "{warm} allocations in a warm call");

    // A call inside another's function gets a tape of its own (and allocates it).
    let before = allocations();
    let nested = retrograd::grad(
        |x| {
            let inner = retrograd::grad(f, &[x[0].value(), 0.7]);
            x[0] * inner[0]
        },
        &x,
    );
    assert!(allocations() - before > 2 * warm);
    assert_eq!(nested[0], first[0]);

    // A tape of a few megabytes is kept: the next call, of any size, grows nothing.
    let big: Vec<f64> = (0..200_000).map(|i| i as f64 * 1e-6).collect();
    let square_sum = |x: &[Var]| x.iter().fold(Var::constant(0.0), |s, &v| s + v * v);
    retrograd::grad(square_sum, &big);
    let before = allocations();
    retrograd::grad(square_sum, &big);
    assert!(allocations() - before <= warm, "the large tape is kept");
    let before = allocations();
    retrograd::grad(f, &x);
    assert!(allocations() - before <= warm);

    // Buffers grown past SPARE_TAPE_BYTES are freed: the next call makes new ones. Each
    // step records 2 statements of 2 operands (56 bytes) and their adjoints (16 bytes).
    let steps = retrograd::SPARE_TAPE_BYTES / 72 + 1;
    let long = |x: &[Var]| (0..steps).fold(x[0], |y, _| y * x[0] + x[1]);
    retrograd::grad(long, &x);
    let before = allocations();
    retrograd::grad(f, &x);
    assert!(
        allocations() - before > warm,
        "new buffers after ones past the bound"
    );
    let before = allocations();
    retrograd::grad(f, &x);
    assert!(allocations() - before <= warm, "and they are kept again");
}
