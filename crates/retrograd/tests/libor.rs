//! The `libor` example at a reduced size: its sensitivities against bumping and its
//! checks.

#[allow(dead_code)]
#[path = "../examples/libor.rs"]
mod example;

use example::*;

/// Pathwise adjoints (tape and replay) against central differences with the same random
/// numbers, at 200 paths. The payoff has kinks where a swap value crosses zero; the
/// difference is only accurate where no bumped pricing exercises a different set of
/// (path, swaption) pairs, which `bumped_sensitivities` counts: with h = 3·10⁻⁵ none does
/// on these paths, so the differences are smooth and agree to O(h²) + O(ε/h).
#[test]
fn sensitivities_match_bumping() {
    let inputs = Inputs::giles();
    let z = normals(200, 7);
    let (bumped, crossings) = bumped_sensitivities(&inputs, &z, BUMP);
    assert_eq!(
        crossings, 0,
        "a bump crossed a kink; the check needs a smaller step"
    );
    let tape = tape_sensitivities(&inputs, &z, Steps::Operators);
    let pre = tape_sensitivities(&inputs, &z, Steps::Preaccumulated);
    let rec = record_path(&inputs, &z);
    let replayed = replay_sensitivities(&rec, &inputs, &z).unwrap();
    let lanes = replay_lanes_sensitivities(&rec, &inputs, &z).unwrap();
    let d_lanes = max_rel_diff(&lanes.gradient(), &tape.gradient());
    assert!(d_lanes < 1e-12, "lanes vs tape: {d_lanes:e}");
    assert!((lanes.price - tape.price).abs() < 1e-12 * tape.price);
    let fd = bumped.gradient();
    assert!((tape.price - bumped.price).abs() < 1e-12 * bumped.price);
    let (d_tape, d_pre, d_replay) = (
        max_rel_diff(&tape.gradient(), &fd),
        max_rel_diff(&pre.gradient(), &fd),
        max_rel_diff(&replayed.gradient(), &fd),
    );
    assert!(d_tape < BUMP_TOLERANCE, "tape vs bumping: {d_tape:e}");
    assert!(
        d_pre < BUMP_TOLERANCE,
        "preaccumulated tape vs bumping: {d_pre:e}"
    );
    assert!(d_replay < BUMP_TOLERANCE, "replay vs bumping: {d_replay:e}");
    // The last volatility is never used; every other input moves the price (the rounding
    // error of the differences, about 3e-10, is far below these sensitivities).
    assert_eq!(tape.lambda[N - 1], 0.0);
    let smallest = fd[..N - 1]
        .iter()
        .chain(&fd[N..])
        .fold(f64::INFINITY, |m, g| m.min(g.abs()));
    assert!(smallest > 1e-3, "smallest sensitivity {smallest:e}");
    println!(
        "max rel. diff vs bumping: tape {d_tape:e}, preaccumulated {d_pre:e}, replay {d_replay:e}"
    );
}

/// The threaded runs give the single-thread sensitivities (up to summation order) for 1
/// and 2 threads alike, and the same numbers for both thread counts.
#[test]
fn threads_agree_with_one_thread() {
    let inputs = Inputs::giles();
    let z = normals(3 * CHUNK_PATHS / 2, 11);
    let rec = record_path(&inputs, &z);
    let one = tape_sensitivities(&inputs, &z, Steps::Operators).gradient();
    let mut by_threads = Vec::new();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let tape = tape_sensitivities_threaded(&pool, &inputs, &z, Steps::Operators).gradient();
        let pre = tape_sensitivities_threaded(&pool, &inputs, &z, Steps::Preaccumulated).gradient();
        assert!(max_rel_diff(&pre, &one) < 1e-12);
        let replayed = replay_sensitivities_threaded(&pool, &rec, &inputs, &z)
            .unwrap()
            .gradient();
        assert!(max_rel_diff(&tape, &one) < 1e-12);
        assert!(max_rel_diff(&replayed, &one) < 1e-12);
        let lanes = replay_lanes_sensitivities_threaded(&pool, &rec, &inputs, &z)
            .unwrap()
            .gradient();
        assert!(max_rel_diff(&lanes, &one) < 1e-12);
        by_threads.push((tape, replayed, lanes));
    }
    assert_eq!(by_threads[0], by_threads[1]);
}

/// The example's own run at a reduced size passes its checks.
#[test]
fn quick_run_passes_its_checks() {
    let report = run(300, 1, 40, 2).unwrap();
    for (name, ok) in report.checks() {
        assert!(ok, "check {name} failed");
    }
    assert_eq!(report.gradient.len(), 2 * N);
}

/// Sizes the run cannot use are errors, not panics.
#[test]
fn bad_sizes_are_errors() {
    assert!(run(0, 1, 1, 1).is_err());
    assert!(run(10, 0, 1, 1).is_err());
    assert!(run(10, 1, 11, 1).is_err());
}
