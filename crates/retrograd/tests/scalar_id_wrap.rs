//! After 2^32 recordings and resets, 32-bit recording ids repeat: a variable kept from
//! before may carry the id of a live recording. Such a variable must still be refused
//! whenever it lies past the end of the tape (the reverse sweep's bounds rely on it), and
//! gradients stay right. A test binary of its own, as it moves the process-wide id counter.

use retrograd::prelude::*;
use retrograd::Tape;
use std::panic::{catch_unwind, AssertUnwindSafe};

#[test]
fn a_variable_whose_id_came_round_again_cannot_reach_past_the_tape() {
    // A variable far down a tape, kept after its tape is dropped.
    let mut old = Tape::new();
    let far = old.record(|rec| {
        let w = rec.input(1.0);
        let mut v = rec.input(1.0);
        for _ in 0..1_000 {
            v *= w;
        }
        v
    });
    drop(old);
    // Bring the counter round so that the next tape gets the same id as `far`'s.
    retrograd::scalar::tape::skip_recording_ids(u64::from(u32::MAX) - 2);
    let mut tape = Tape::new();
    let (x, y) = tape.record(|rec| {
        let x = rec.input(2.0);
        let refused = catch_unwind(AssertUnwindSafe(|| {
            let _ = far * x;
        }));
        assert!(
            refused.is_err(),
            "a variable past the end of the tape was accepted"
        );
        let z = rec.input(3.0);
        (x, x * x + x.sin() * z)
    });
    assert_eq!(tape.stats().statements, 4); // x, z, sin(x)·z, and x·x (derived) plus it
    let g = tape.gradient(y).wrt(x);
    assert!((g - (4.0 + 3.0 * 2.0_f64.cos())).abs() < 1e-15);
}
