//! A panicking operator (`&a + &b` on shapes that do not broadcast, `-&i` on integers,
//! ...) or constructor reports the caller's line, not a line inside the library.
//!
//! One test in its own binary: it replaces the process-wide panic hook.

use retrograd::tensor::{DType, Tensor};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

#[test]
fn operator_panics_point_at_the_callers_line() {
    let seen: Arc<Mutex<Vec<(String, u32)>>> = Arc::default();
    let record = seen.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(l) = info.location() {
            record
                .lock()
                .unwrap()
                .push((l.file().to_string(), l.line()));
        }
    }));
    let a = Tensor::zeros([2, 3], DType::F32);
    let b = Tensor::zeros([4], DType::F32);
    let i = Tensor::zeros([2], DType::I64);
    let s = Tensor::zeros([2], DType::F32);
    let huge = [1usize << 40, 1 << 30];
    type Op<'a> = Box<dyn Fn() -> Tensor + 'a>;
    let cases: Vec<(u32, Op)> = vec![
        (line!(), Box::new(|| &a + &b)),
        (line!(), Box::new(|| &a - &b)),
        (line!(), Box::new(|| &a * &b)),
        (line!(), Box::new(|| &a / &b)),
        (line!(), Box::new(|| a.clone() + b.clone())),
        (line!(), Box::new(|| a.clone() * &b)),
        (line!(), Box::new(|| &a - b.clone())),
        (line!(), Box::new(|| -&i)),
        (line!(), Box::new(|| -i.clone())),
        (line!(), Box::new(|| &i * 2.0)),
        (line!(), Box::new(|| i.clone() + 1.0)),
        (line!(), Box::new(|| &s / &i)),
        (line!(), Box::new(|| i.clone().requires_grad_())),
        (line!(), Box::new(|| Tensor::zeros(huge, DType::F32))),
    ];
    let mut failures = Vec::new();
    for (line, op) in &cases {
        seen.lock().unwrap().clear();
        let r = catch_unwind(AssertUnwindSafe(op));
        assert!(r.is_err(), "the operator on line {line} did not panic");
        let got = seen.lock().unwrap().first().cloned();
        if got != Some((file!().to_string(), *line)) {
            failures.push(format!("line {line}: panic reported at {got:?}"));
        }
    }
    std::panic::set_hook(previous);
    assert!(failures.is_empty(), "{failures:#?}");
}
