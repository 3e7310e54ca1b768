//! The `implicit_portfolio` example at a reduced size: its checks must pass.

#[allow(dead_code)]
#[path = "../examples/implicit_portfolio.rs"]
mod example;

#[test]
fn quick_portfolio_passes_its_checks() {
    let report = example::run(8);
    for (name, ok) in report.checks() {
        assert!(ok, "check {name} failed: gap {:e}, IFT vs re-solve {:e}, envelope {:e}, active ({}, {}, {})",
            report.optimality_gap, report.max_rel_diff_vs_resolve, report.max_diff_vs_envelope,
            report.free, report.capped, report.zero);
    }
}
