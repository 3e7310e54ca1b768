//! The `hypergradient` example at a reduced size: its checks must pass and its plot is drawn.

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
    let path = std::env::temp_dir().join(format!("retrograd-hyper-{}.png", std::process::id()));
    example::plot(path.to_str().unwrap(), &report).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(&bytes[1..4], b"PNG");
}
