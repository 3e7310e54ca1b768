//! The `hypergradient` example at a reduced size: its checks must pass.

#[allow(dead_code)]
#[path = "../examples/hypergradient.rs"]
mod example;

#[test]
fn quick_hypergradient_passes_its_checks() {
    let report = example::run(example::Config::quick());
    for (name, ok) in report.checks() {
        assert!(
            ok,
            "check {name} failed: vs FD {:e}, forward vs reverse {:e}, val loss {} -> {}",
            report.max_rel_diff_vs_finite_differences,
            report.max_rel_diff_forward_vs_reverse,
            report.val_loss_before,
            report.val_loss_after
        );
    }
}
