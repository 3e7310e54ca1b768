//! Error reports: broadcasting errors (binary ops, `where_cond`, batched `matmul`) name the
//! op and every operand's full shape.

use retrograd::tensor::{DType, Tensor};

/// Asserts that `msg` starts with `op` and names every one of `shapes`.
fn names(msg: &str, op: &str, shapes: &[&str]) {
    assert!(msg.starts_with(op), "{msg:?} does not start with {op:?}");
    for s in shapes {
        assert!(msg.contains(s), "{msg:?} does not name {s}");
    }
}

#[test]
fn batched_matmul_errors_name_both_full_shapes() {
    let a = Tensor::zeros([2, 3, 4], DType::F32);
    let b = Tensor::zeros([3, 4, 5], DType::F32);
    let msg = a.matmul(&b).unwrap_err().to_string();
    names(&msg, "matmul", &["[2, 3, 4]", "[3, 4, 5]"]);
    // Through the 1-D forms, the shapes named are the caller's operands.
    let v = Tensor::zeros([4], DType::F32);
    let c = Tensor::zeros([2, 5, 4, 3], DType::F32);
    let d = Tensor::zeros([3, 3, 2], DType::F32);
    names(
        &c.matmul(&d).unwrap_err().to_string(),
        "matmul",
        &["[2, 5, 4, 3]", "[3, 3, 2]"],
    );
    names(
        &d.matmul(&v).unwrap_err().to_string(),
        "matmul",
        &["[3, 3, 2]", "[4]"],
    );
}

#[test]
fn broadcasting_errors_name_every_operand() {
    let a = Tensor::zeros([2, 3], DType::F64);
    let b = Tensor::zeros([4, 3], DType::F64);
    for (op, r) in [
        ("add", a.add(&b)),
        ("sub", a.sub(&b)),
        ("mul", a.mul(&b)),
        ("div", a.div(&b)),
        ("pow", a.pow(&b)),
        ("maximum", a.maximum(&b)),
        ("minimum", a.minimum(&b)),
        ("eq", a.eq(&b)),
        ("ge", a.ge(&b)),
    ] {
        names(&r.unwrap_err().to_string(), op, &["[2, 3]", "[4, 3]"]);
    }
    // The mask of `where_cond` against branches that broadcast with each other.
    let mask = Tensor::zeros([5], DType::F64);
    let (t, f) = (
        Tensor::zeros([1, 3], DType::F64),
        Tensor::zeros([2, 1], DType::F64),
    );
    let msg = mask.where_cond(&t, &f).unwrap_err().to_string();
    names(&msg, "where_cond", &["[5]", "[1, 3]", "[2, 1]"]);
}
