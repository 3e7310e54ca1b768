//! Broadcasting and shape rules (property tests) and the error messages of shape and dtype
//! mismatches.

use proptest::prelude::*;
use retrograd::tensor::{
    gradcheck, Conv2dOptions, DType, GradcheckOptions, Rng, Tensor, TensorError,
};

/// Reference broadcasting: NumPy's rule, written independently of the library.
fn numpy_broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let pad = |s: &[usize]| {
        let mut v = vec![1; n - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (a, b) = (pad(a), pad(b));
    a.iter()
        .zip(&b)
        .map(|(&x, &y)| match (x, y) {
            _ if x == y => Some(x),
            (1, _) => Some(y),
            (_, 1) => Some(x),
            _ => None,
        })
        .collect()
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![Just(1usize), 1usize..4], 0..4)
}

/// Element `i` (row-major over `out`) of `t` broadcast to `out`, computed by hand.
fn broadcast_get(t: &[f64], dims: &[usize], out: &[usize], mut i: usize) -> f64 {
    let mut idx = vec![0; out.len()];
    for d in (0..out.len()).rev() {
        idx[d] = i % out[d];
        i /= out[d];
    }
    let lead = out.len() - dims.len();
    let mut off = 0;
    for (d, &size) in dims.iter().enumerate() {
        let j = if size == 1 { 0 } else { idx[lead + d] };
        off = off * size + j;
    }
    t[off]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn broadcasting_follows_numpy(a in shape(), b in shape(), seed in 0u64..1000) {
        let mut rng = Rng::new(seed);
        let ta = Tensor::randn(a.as_slice(), 0.0, 1.0, DType::F64, &mut rng);
        let tb = Tensor::randn(b.as_slice(), 0.0, 1.0, DType::F64, &mut rng);
        match (numpy_broadcast(&a, &b), ta.add(&tb)) {
            (Some(out), Ok(sum)) => {
                prop_assert_eq!(sum.dims(), out.as_slice());
                let (va, vb, vs) = (ta.to_vec_f64(), tb.to_vec_f64(), sum.to_vec_f64());
                for (i, &s) in vs.iter().enumerate() {
                    let want = broadcast_get(&va, &a, &out, i) + broadcast_get(&vb, &b, &out, i);
                    prop_assert!((s - want).abs() < 1e-12);
                }
            }
            (None, Err(e)) => {
                let is_shape_error = matches!(e, TensorError::ShapeMismatch { op: "add", .. });
                prop_assert!(is_shape_error);
            }
            (want, got) => prop_assert!(false, "{:?} vs {:?}", want, got.map(|t| t.shape())),
        }
    }

    #[test]
    fn broadcast_gradients_sum_back(a in shape(), b in shape(), seed in 0u64..1000) {
        prop_assume!(numpy_broadcast(&a, &b).is_some());
        let mut rng = Rng::new(seed);
        let ta = Tensor::randn(a.as_slice(), 0.0, 1.0, DType::F64, &mut rng);
        let tb = Tensor::randn(b.as_slice(), 0.0, 1.0, DType::F64, &mut rng);
        let r = gradcheck(|v| v[0].mul(&v[1])?.sub(&v[0])?.tanh(), &[ta, tb], GradcheckOptions::default());
        prop_assert!(r.is_ok(), "{:?}", r);
    }

    #[test]
    fn views_agree_with_copies(dims in prop::collection::vec(1usize..4, 2..4), seed in 0u64..1000) {
        // permute then reshape (forcing a copy of a strided view) equals doing it on contiguous data
        let mut rng = Rng::new(seed);
        let t = Tensor::randn(dims.as_slice(), 0.0, 1.0, DType::F64, &mut rng);
        let r = t.rank();
        let perm: Vec<usize> = (0..r).rev().collect();
        let p = t.permute(&perm).unwrap();
        let flat_view = p.reshape([t.elem_count()]).unwrap().to_vec_f64();
        let flat_copy = p.contiguous().unwrap().to_vec_f64();
        prop_assert_eq!(flat_view, flat_copy);
        // narrowing each axis to its last element matches manual indexing
        let mut n = t.clone();
        for (d, &size) in dims.iter().enumerate() {
            n = n.narrow(d as isize, size - 1, 1).unwrap();
        }
        prop_assert_eq!(n.item().unwrap(), *t.to_vec_f64().last().unwrap());
    }

    #[test]
    fn reductions_keepdim_shapes(dims in prop::collection::vec(1usize..4, 1..4), axis_bits in 0u8..16) {
        let t = Tensor::ones(dims.as_slice(), DType::F32);
        let axes: Vec<usize> = (0..dims.len()).filter(|a| axis_bits & (1 << a) != 0).collect();
        prop_assume!(!axes.is_empty());
        let kept = t.sum(axes.clone(), true).unwrap();
        let dropped = t.sum(axes.clone(), false).unwrap();
        let mut want_kept = dims.clone();
        for &a in &axes { want_kept[a] = 1; }
        let want_dropped: Vec<usize> = dims.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect();
        prop_assert_eq!(kept.dims(), want_kept.as_slice());
        prop_assert_eq!(dropped.dims(), want_dropped.as_slice());
        let n: usize = axes.iter().map(|&a| dims[a]).product();
        prop_assert!(kept.to_vec::<f32>().unwrap().iter().all(|&v| v == n as f32));
    }
}

#[test]
fn shape_errors_name_the_op_and_both_shapes() {
    let a = Tensor::zeros([2, 3], DType::F32);
    let b = Tensor::zeros([4, 5], DType::F32);
    let msg = a.matmul(&b).unwrap_err().to_string();
    assert!(
        msg.starts_with("matmul:") && msg.contains("[2, 3]") && msg.contains("[4, 5]"),
        "{msg}"
    );
    let msg = a
        .add(&Tensor::zeros([4], DType::F32))
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("add:") && msg.contains("[2, 3]") && msg.contains("[4]"),
        "{msg}"
    );
    let msg = a.reshape([7]).unwrap_err().to_string();
    assert!(msg.starts_with("reshape:") && msg.contains("[7]"), "{msg}");
    let x = Tensor::zeros([1, 3, 8, 8], DType::F32);
    let w = Tensor::zeros([4, 2, 3, 3], DType::F32);
    let msg = x
        .conv2d(&w, None, Conv2dOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("conv2d:") && msg.contains("[1, 3, 8, 8]") && msg.contains("[4, 2, 3, 3]"),
        "{msg}"
    );
    let w = Tensor::ones([4], DType::F32);
    let msg = Tensor::zeros([2, 3, 5], DType::F32)
        .batch_norm(Some(&w), None, 1e-5)
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("batch_norm:") && msg.contains("[2, 3, 5]") && msg.contains("[4]"),
        "{msg}"
    );
    for bad in [vec![3], vec![0, 3]] {
        let msg = Tensor::zeros(bad.as_slice(), DType::F32)
            .batch_norm(None, None, 1e-5)
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("batch_norm:") && msg.contains(&format!("{bad:?}")),
            "{msg}"
        );
    }
    let t = Tensor::from_vec(vec![0i64, 1], [2]).unwrap();
    let msg = Tensor::zeros([3, 4], DType::F32)
        .cross_entropy(&t)
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("cross_entropy:") && msg.contains("[3, 4]") && msg.contains("[2]"),
        "{msg}"
    );
}

#[test]
fn dtype_and_axis_errors() {
    let a = Tensor::zeros([2], DType::F32);
    let b = Tensor::zeros([2], DType::F64);
    let e = a.mul(&b).unwrap_err();
    assert_eq!(
        e,
        TensorError::DTypeMismatch {
            op: "mul",
            lhs: DType::F32,
            rhs: DType::F64
        }
    );
    assert_eq!(e.to_string(), "mul: dtype mismatch between f32 and f64");
    let e = a.sum(3, false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sum: axis 3 out of range for a tensor of rank 1"
    );
    let i = Tensor::zeros([2], DType::I64);
    assert!(matches!(
        i.exp(),
        Err(TensorError::UnsupportedDType {
            op: "exp",
            dtype: DType::I64
        })
    ));
    let logits = Tensor::zeros([2, 3], DType::F32);
    let bad = Tensor::from_vec(vec![0i64, 3], [2]).unwrap();
    assert!(logits
        .cross_entropy(&bad)
        .unwrap_err()
        .to_string()
        .contains("target 3 out of range"));
}

#[test]
#[should_panic(expected = "add: shape mismatch between [2, 3] and [4]")]
fn operators_panic_with_the_same_message() {
    let _ = &Tensor::zeros([2, 3], DType::F32) + &Tensor::zeros([4], DType::F32);
}

/// Views broadcast along their last axis (stride 0), copied and combined: the kernels fill
/// such rows with one value.
#[test]
fn broadcast_rows_copy_and_combine() {
    let a = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], [3, 1]).unwrap();
    let b = Tensor::from_vec(vec![10.0f64, 20.0, 30.0], [3, 1]).unwrap();
    let (ea, eb) = (a.expand([3, 4]).unwrap(), b.expand([3, 4]).unwrap());
    let row = |v: f64| vec![v; 4];
    assert_eq!(
        ea.contiguous().unwrap().to_vec_f64(),
        [row(1.0), row(2.0), row(3.0)].concat()
    );
    assert_eq!(
        (&ea + &eb).to_vec_f64(),
        [row(11.0), row(22.0), row(33.0)].concat()
    );
    // A whole tensor broadcast from one value, as the gradient of a sum is.
    let one = Tensor::from_vec(vec![0.5f32], [1, 1]).unwrap();
    let full = one.expand([5, 7]).unwrap().contiguous().unwrap();
    assert_eq!(full.to_vec::<f32>().unwrap(), vec![0.5; 35]);
}

#[test]
fn operators_compute() {
    let a = Tensor::from_vec(vec![1.0f64, 2.0], [2]).unwrap();
    let b = Tensor::from_vec(vec![3.0f64, 4.0], [2]).unwrap();
    assert_eq!(((&a + &b) * 2.0 - &a).to_vec_f64(), vec![7.0, 10.0]);
    assert_eq!((-(&b / &a)).to_vec_f64(), vec![-3.0, -2.0]);
}

#[cfg(feature = "ndarray")]
#[test]
fn ndarray_round_trip() {
    let a = ndarray::Array::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as f64).into_dyn();
    let t = Tensor::from_ndarray(&a).unwrap();
    assert_eq!(t.dims(), &[2, 3]);
    // a transposed (non-contiguous) tensor converts in logical order
    let back = t.t().unwrap().to_ndarray::<f64>().unwrap();
    assert_eq!(back, a.t().to_owned().into_dyn());
    assert!(t.to_ndarray::<f32>().is_err());
}
