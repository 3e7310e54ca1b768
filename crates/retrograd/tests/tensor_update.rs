//! An in-place update whose closure touches the tensor being updated (or a view of its
//! storage) is reported, naming the op, instead of waiting forever for the lock the update
//! holds.

use retrograd::tensor::{DType, Tensor};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The message of a panic payload.
fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

#[test]
fn update_closure_reading_its_own_tensor_is_reported() {
    let t = Tensor::ones([4], DType::F32);
    // Reading the tensor (or a view of it) inside its own update would wait forever for
    // the lock the update holds.
    let view = t.narrow(0, 1, 2).unwrap();
    for reader in [&t, &view] {
        let r = catch_unwind(AssertUnwindSafe(|| {
            t.update_(|w: &mut [f32]| {
                let seen = reader.to_vec::<f32>().unwrap();
                w[0] = seen[0];
            })
        }));
        let msg = message(r.expect_err("update_ must refuse the nested read"));
        assert!(
            msg.starts_with("update_") && msg.contains("closure"),
            "{msg:?}"
        );
    }
    // Writing to it from inside the update, and updating it while lending its data.
    let r = catch_unwind(AssertUnwindSafe(|| {
        t.update_(|_: &mut [f32]| t.fill_(2.0).unwrap())
    }));
    assert!(message(r.unwrap_err()).starts_with("update_"));
    let r = catch_unwind(AssertUnwindSafe(|| {
        t.with_data(|_: &[f32]| t.update_(|w: &mut [f32]| w[0] = 3.0))
    }));
    assert!(message(r.unwrap_err()).starts_with("with_data"));
    // The tensor is usable afterwards, and other tensors may be read inside an update.
    let other = Tensor::full([4], 5.0, DType::F32);
    t.update_(|w: &mut [f32]| w.copy_from_slice(&other.to_vec::<f32>().unwrap()))
        .unwrap();
    assert_eq!(t.to_vec::<f32>().unwrap(), vec![5.0; 4]);
    // Reading a tensor inside `with_data` of the same tensor is fine (both only read).
    let s: f32 = t
        .with_data(|v: &[f32]| v[0] + t.to_vec::<f32>().unwrap()[1])
        .unwrap();
    assert_eq!(s, 10.0);
}
