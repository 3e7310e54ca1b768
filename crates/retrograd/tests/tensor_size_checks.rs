//! Sizes that come from the user are checked before anything is laid out or allocated:
//! shapes whose element count (or stride) does not fit, ranges and paddings that would
//! wrap, and results of broadcasting, matrix products, joins and windows too large to
//! address. Each is an error (or, for constructors that return a `Tensor`, a panic) naming
//! the op and the shape, never a tensor with an inconsistent layout.

use retrograd::tensor::{Conv2dOptions, DType, Rng, Tensor};
use std::panic::{catch_unwind, AssertUnwindSafe};

const BIG: usize = 1 << 40;

/// The message of the panic `f` raises, if it panics.
fn panic_message<R>(f: impl FnOnce() -> R) -> Option<String> {
    let err = catch_unwind(AssertUnwindSafe(f)).err()?;
    Some(match err.downcast::<String>() {
        Ok(s) => *s,
        Err(e) => e
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    })
}

/// Asserts that `msg` names `op` and every one of `shapes`.
fn names(msg: &str, op: &str, shapes: &[&str]) {
    assert!(msg.starts_with(op), "{msg:?} does not start with {op:?}");
    for s in shapes {
        assert!(msg.contains(s), "{msg:?} does not name {s}");
    }
}

/// A view of one element broadcast to `dims` (no memory beyond that element).
fn broadcast(dims: &[usize]) -> Tensor {
    let one = Tensor::ones(vec![1; dims.len()], DType::F32);
    one.broadcast_to(dims).unwrap()
}

#[test]
fn from_vec_rejects_a_shape_whose_product_wraps_to_the_length() {
    // 64 · (2^58 + 1) = 2^64 + 64, which wraps to 64.
    let dims = [64, (1usize << 58) + 1];
    let err = Tensor::from_vec(vec![1.0f32; 64], dims).unwrap_err();
    names(&err.to_string(), "from_vec", &["[64, 288230376151711745]"]);
}

#[test]
fn constructors_panic_naming_the_op_and_the_shape() {
    // 2^40 · 2^30 = 2^70, which wraps to 0.
    let dims = [BIG, 1 << 30];
    let shape = "[1099511627776, 1073741824]";
    type Make = Box<dyn Fn() -> Tensor>;
    let cases: Vec<(&str, Make)> = vec![
        ("zeros", Box::new(move || Tensor::zeros(dims, DType::F32))),
        ("ones", Box::new(move || Tensor::ones(dims, DType::F64))),
        (
            "full",
            Box::new(move || Tensor::full(dims, 2.0, DType::I64)),
        ),
        (
            "rand",
            Box::new(move || Tensor::rand(dims, 0.0, 1.0, DType::F32, &mut Rng::new(0))),
        ),
        (
            "randn",
            Box::new(move || Tensor::randn(dims, 0.0, 1.0, DType::F32, &mut Rng::new(0))),
        ),
    ];
    for (op, make) in cases {
        let msg = panic_message(make).unwrap_or_else(|| panic!("{op} did not panic"));
        names(&msg, op, &[shape]);
    }
    // n · n = 2^64 wraps to 0.
    let msg = panic_message(|| Tensor::eye(1 << 32, DType::F32)).expect("eye did not panic");
    names(&msg, "eye", &["[4294967296, 4294967296]"]);
}

#[test]
fn reshape_rejects_a_product_that_wraps_to_the_element_count() {
    let t = Tensor::zeros([64], DType::F32);
    let err = t.reshape([64, (1usize << 58) + 1]).unwrap_err();
    names(&err.to_string(), "reshape", &["[64, 288230376151711745]"]);
}

#[test]
fn broadcast_to_rejects_a_shape_too_large_to_address() {
    let t = Tensor::ones([1, 1], DType::F32);
    let err = t.broadcast_to([BIG, 1 << 30]).unwrap_err();
    names(
        &err.to_string(),
        "broadcast_to",
        &["[1, 1]", "[1099511627776, 1073741824]"],
    );
}

#[test]
fn broadcasting_binary_ops_reject_a_result_too_large_to_address() {
    // Each operand is a view of 2^40 elements; the broadcast result would have 2^80.
    let (a, b) = (broadcast(&[BIG, 1]), broadcast(&[1, BIG]));
    for (op, r) in [("add", a.add(&b)), ("mul", a.mul(&b)), ("lt", a.lt(&b))] {
        let err = r.unwrap_err();
        names(
            &err.to_string(),
            op,
            &["[1099511627776, 1]", "[1, 1099511627776]"],
        );
    }
}

#[test]
fn matmul_rejects_a_product_too_large_to_address() {
    let (a, b) = (broadcast(&[BIG, 1]), broadcast(&[1, BIG]));
    let err = a.matmul(&b).unwrap_err();
    names(
        &err.to_string(),
        "matmul",
        &["[1099511627776, 1]", "[1, 1099511627776]"],
    );
}

#[test]
fn narrow_select_and_pad_reject_ranges_that_wrap() {
    let t = Tensor::arange(0.0, 6.0, 1.0, DType::F32).unwrap();
    // usize::MAX + 2 wraps to 1, which is within the axis.
    let err = t.narrow(0, usize::MAX, 2).unwrap_err();
    names(&err.to_string(), "narrow", &["[6]"]);
    let err = t.select(0, usize::MAX).unwrap_err();
    names(&err.to_string(), "select", &["[6]"]);
    let err = t.pad_axis(0, usize::MAX, 2).unwrap_err();
    names(&err.to_string(), "pad_axis", &["[6]"]);
}

#[test]
fn cat_rejects_an_axis_whose_length_wraps() {
    // 32 views of 2^59 elements: the joined axis would be 2^64, which wraps to 0.
    let part = broadcast(&[1 << 59]);
    let parts = vec![part; 32];
    let err = Tensor::cat(&parts, 0).unwrap_err();
    names(&err.to_string(), "cat", &["[576460752303423488]"]);
}

#[test]
fn windows_reject_paddings_whose_output_is_too_large() {
    let x = Tensor::ones([1, 1, 2, 2], DType::F32);
    let huge = (1usize << 62, 0);
    let err = x.unfold2d((1, 1), (1, 1), huge, (1, 1)).unwrap_err();
    names(&err.to_string(), "unfold2d", &["[1, 1, 2, 2]"]);
    let err = x.avg_pool2d((1, 1), (1, 1), huge).unwrap_err();
    names(&err.to_string(), "avg_pool2d", &["[1, 1, 2, 2]"]);
    let w = Tensor::ones([1, 1, 1, 1], DType::F32);
    let opts = Conv2dOptions {
        padding: huge,
        ..Default::default()
    };
    let err = x.conv2d(&w, None, opts).unwrap_err();
    names(&err.to_string(), "conv2d", &["[1, 1, 2, 2]"]);
    // 2 · (2^63) wraps to 0, which would pass "at most half the kernel".
    let err = x.max_pool2d((2, 2), (1, 1), (1 << 63, 0)).unwrap_err();
    names(&err.to_string(), "max_pool2d", &[]);
}

#[test]
fn one_hot_rejects_a_class_count_that_overflows() {
    let t = Tensor::from_vec(vec![0i64, 0], [2]).unwrap();
    // 2 · 2^63 wraps to 0.
    let err = t.one_hot(1 << 63, DType::F32).unwrap_err();
    names(&err.to_string(), "one_hot", &["[2, 9223372036854775808]"]);
}

#[test]
fn index_select_rejects_a_result_too_large_to_address() {
    // 32 rows of a 2^59-element view would be 2^64 elements, which wraps to 0.
    let x = broadcast(&[1, 1 << 59]);
    let idx = Tensor::from_vec(vec![0i64; 32], [32]).unwrap();
    let err = x.index_select(0, &idx).unwrap_err();
    names(
        &err.to_string(),
        "index_select",
        &["[1, 576460752303423488]"],
    );
}

#[test]
fn windows_with_taps_entirely_in_the_padding_and_zero_dilation() {
    // Width 1, a 3-wide kernel dilated by 2 and padded by 2: the last tap lies in the
    // padding for every output column (its input column would be past the row). Padding
    // the height too makes the output 3 × 1, so the general loop (not the one for outputs
    // of the input's size) runs.
    let x = Tensor::ones([1, 1, 1, 1], DType::F32);
    let w = Tensor::ones([1, 1, 1, 3], DType::F32);
    let opts = Conv2dOptions {
        padding: (1, 2),
        dilation: (1, 2),
        ..Default::default()
    };
    let y = x.conv2d(&w, None, opts).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 1.0, 0.0]);
    let cols = x.unfold2d((1, 3), (1, 1), (1, 2), (1, 2)).unwrap();
    let mut want = vec![0.0; 9];
    want[4] = 1.0; // the middle tap at the middle output
    assert_eq!(cols.to_vec::<f32>().unwrap(), want);
    let back = cols.fold2d((1, 1), (1, 3), (1, 1), (1, 2), (1, 2)).unwrap();
    assert_eq!(back.to_vec::<f32>().unwrap(), vec![1.0]);
    // A dilation of 0 puts every tap on one pixel: refused like a stride of 0.
    let err = x.unfold2d((1, 3), (1, 1), (0, 1), (1, 0)).unwrap_err();
    names(&err.to_string(), "unfold2d", &["[1, 1, 1, 1]"]);
}
