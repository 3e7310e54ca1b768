//! The `implicit_ridge` example at a reduced size: its checks must pass.

#[allow(dead_code)]
#[path = "../examples/implicit_ridge.rs"]
mod example;

#[test]
fn quick_ridge_passes_its_checks() {
    let r = example::run(example::Config::quick());
    for (name, ok) in r.checks() {
        assert!(
            ok,
            "check {name} failed: IFT {}, closed form {}, finite differences {}, unrolled {}",
            r.ift, r.closed_form, r.finite_differences, r.unrolled
        );
    }
}
