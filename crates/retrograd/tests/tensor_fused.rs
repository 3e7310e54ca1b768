//! The fused ops (`tanh_backward` and `mul3` of derivative rules, `linear`): values against
//! the compositions they replace, and their first, second and third derivatives against
//! central finite differences, with broadcast and transposed operands; the errors they
//! return.

use retrograd::tensor::autograd::{grad_with, BackwardOptions};
use retrograd::tensor::{gradcheck, DType, GradcheckOptions, Result, Rng, Tensor, TensorError};

fn randn(dims: &[usize], seed: u64) -> Tensor {
    Tensor::randn(dims, 0.0, 1.0, DType::F64, &mut Rng::new(seed))
}

const RECORD: BackwardOptions = BackwardOptions {
    create_graph: true,
    retain_graph: true,
};

/// `x ↦ ∂/∂x Σ w·f(x)`, recorded (all inputs, flattened and concatenated).
fn gradient_of(
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    seed: u64,
) -> impl Fn(&[Tensor]) -> Result<Tensor> {
    move |xs: &[Tensor]| {
        let y = f(xs)?;
        let w = Tensor::randn(y.dims(), 0.0, 1.0, DType::F64, &mut Rng::new(seed));
        let l = y.mul(&w)?.sum_all()?;
        let wrt: Vec<&Tensor> = xs.iter().collect();
        let gs = grad_with(&[&l], &[], &wrt, RECORD)?;
        let flat = gs
            .iter()
            .map(|g| g.reshape([g.elem_count()]))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&flat, 0)
    }
}

/// Checks the first, second and third derivatives of `f` at `inputs`: `f` itself, its
/// gradient map, and the gradient map of that, each against finite differences.
fn check123(f: impl Fn(&[Tensor]) -> Result<Tensor> + Copy, inputs: &[Tensor]) {
    let opts = GradcheckOptions {
        eps: 1e-5,
        atol: 1e-5,
        rtol: 1e-4,
    };
    gradcheck(f, inputs, opts).unwrap();
    gradcheck(gradient_of(f, 77), inputs, opts).unwrap();
    gradcheck(gradient_of(gradient_of(f, 77), 78), inputs, opts).unwrap();
}

fn close(a: &Tensor, b: &Tensor) {
    assert_eq!(a.dims(), b.dims());
    for (x, y) in a.to_vec_f64().iter().zip(b.to_vec_f64()) {
        assert!((x - y).abs() <= 1e-14 * (1.0 + y.abs()), "{x} vs {y}");
    }
}

#[test]
fn values_match_the_compositions_they_replace() {
    let g = randn(&[4, 3], 1);
    let y = randn(&[4, 3], 2).tanh().unwrap();
    let composed = g
        .mul(&y.square().unwrap().affine(-1.0, 1.0).unwrap())
        .unwrap();
    close(&g.tanh_backward(&y).unwrap(), &composed);
    let c = randn(&[3], 3);
    let composed = g
        .mul(&y)
        .unwrap()
        .mul(&c)
        .unwrap()
        .mul_scalar(-2.5)
        .unwrap();
    close(&g.mul3(&y, &c, -2.5).unwrap(), &composed);
    // At y = ±1 the tanh rule is exactly 0; a scale of 0 gives zeros.
    let ones = Tensor::from_vec(vec![1.0f64, -1.0], [2]).unwrap();
    let g2 = Tensor::from_vec(vec![3.0f64, 4.0], [2]).unwrap();
    assert_eq!(
        g2.tanh_backward(&ones).unwrap().to_vec_f64(),
        vec![0.0, 0.0]
    );
    assert_eq!(g2.mul3(&g2, &g2, 0.0).unwrap().to_vec_f64(), vec![0.0, 0.0]);
}

#[test]
fn transposed_broadcast_and_low_precision_operands() {
    let a = randn(&[3, 4], 4);
    let at = a.t().unwrap(); // (4, 3), not contiguous
    let b = randn(&[4, 3], 5);
    let s = randn(&[1], 6).expand([4, 3]).unwrap(); // stride-0 view
    let want = at.contiguous().unwrap();
    close(
        &at.mul3(&b, &s, 1.5).unwrap(),
        &want
            .mul(&b)
            .unwrap()
            .mul(&s)
            .unwrap()
            .mul_scalar(1.5)
            .unwrap(),
    );
    close(
        &at.tanh_backward(&b).unwrap(),
        &want
            .mul(&b.square().unwrap().affine(-1.0, 1.0).unwrap())
            .unwrap(),
    );
    // 16-bit floats compute in f32 and round back.
    let h = Tensor::from_vec(vec![1.0f32, 2.0, -0.5], [3])
        .unwrap()
        .to_dtype(DType::BF16)
        .unwrap();
    let p = h.mul3(&h, &h, 2.0).unwrap();
    assert_eq!(p.dtype(), DType::BF16);
    assert_eq!(p.to_vec_f64(), vec![2.0, 16.0, -0.25]);
    let t = h.tanh_backward(&h).unwrap();
    assert_eq!(t.to_vec_f64(), vec![0.0, -6.0, -0.375]);
}

#[test]
fn tanh_backward_derivatives_to_third_order() {
    let g = randn(&[2, 3], 7);
    let y = randn(&[2, 3], 8).tanh().unwrap();
    check123(|v| v[0].tanh_backward(&v[1]), &[g.clone(), y.clone()]);
    // Broadcast in either operand: the gradients are summed back to its shape.
    let row = randn(&[3], 9);
    check123(|v| v[0].tanh_backward(&v[1]), &[row.clone(), y.clone()]);
    check123(|v| v[0].tanh_backward(&v[1]), &[g.clone(), row.clone()]);
    // The same tensor as both operands.
    check123(|v| v[0].tanh_backward(&v[0]), &[g]);
}

#[test]
fn mul3_derivatives_to_third_order() {
    let a = randn(&[2, 3], 10);
    let b = randn(&[2, 3], 11);
    let c = randn(&[2, 3], 12);
    check123(
        |v| v[0].mul3(&v[1], &v[2], -2.0),
        &[a.clone(), b.clone(), c],
    );
    let col = randn(&[2, 1], 13);
    let row = randn(&[3], 14);
    check123(|v| v[0].mul3(&v[1], &v[2], 0.7), &[a.clone(), col, row]);
    // Repeated operands: a²·b.
    check123(|v| v[0].mul3(&v[0], &v[1], 1.0), &[a.clone(), b]);
    // A transposed operand.
    check123(|v| v[0].t()?.mul3(&v[0].t()?, &v[0].t()?, 3.0), &[a]);
}

/// `tanh`'s derivatives through its fused rule, against the closed forms: with
/// `y = tanh x`, `y' = 1 − y²`, `y'' = −2y(1 − y²)`, `y''' = (1 − y²)(6y² − 2)`.
#[test]
fn tanh_derivatives_to_third_order_match_closed_forms() {
    let x = Tensor::from_vec(vec![-3.0f64, -0.7, 0.0, 0.4, 1.5, 20.0], [6])
        .unwrap()
        .requires_grad_();
    let y = x.tanh().unwrap();
    let d1 = grad_with(&[&y.sum_all().unwrap()], &[], &[&x], RECORD)
        .unwrap()
        .remove(0);
    let d2 = grad_with(&[&d1.sum_all().unwrap()], &[], &[&x], RECORD)
        .unwrap()
        .remove(0);
    let d3 = grad_with(&[&d2.sum_all().unwrap()], &[], &[&x], RECORD)
        .unwrap()
        .remove(0);
    for (i, &v) in x.to_vec_f64().iter().enumerate() {
        let t = v.tanh();
        let s = 1.0 - t * t;
        let want = [s, -2.0 * t * s, s * (6.0 * t * t - 2.0)];
        for (d, w) in [&d1, &d2, &d3].iter().zip(want) {
            let got = d.to_vec_f64()[i];
            assert!((got - w).abs() <= 1e-14, "x = {v}: {got} vs {w}");
        }
    }
    check123(|v| v[0].tanh(), &[randn(&[2, 3], 15)]);
    // A network-shaped composition: tanh of a product, differentiated three times.
    let w = randn(&[3, 4], 16);
    check123(|v| v[0].matmul(&v[1])?.tanh(), &[randn(&[2, 3], 17), w]);
}

#[test]
fn errors_name_the_op() {
    let f = randn(&[2, 3], 18);
    let i = Tensor::from_vec(vec![1i64, 2, 3], [3]).unwrap();
    assert!(matches!(
        i.tanh_backward(&i),
        Err(TensorError::UnsupportedDType {
            op: "tanh_backward",
            dtype: DType::I64
        })
    ));
    assert!(matches!(
        i.mul3(&i, &i, 1.0),
        Err(TensorError::UnsupportedDType { op: "mul3", .. })
    ));
    let f32s = Tensor::zeros([2, 3], DType::F32);
    assert!(matches!(
        f.mul3(&f, &f32s, 1.0),
        Err(TensorError::DTypeMismatch { op: "mul3", .. })
    ));
    // tanh_backward promotes as the binary ops do: a 16-bit float with f32 gives f32,
    // f32 with f64 is refused.
    let h = f32s.to_dtype(DType::BF16).unwrap();
    assert_eq!(h.tanh_backward(&f32s).unwrap().dtype(), DType::F32);
    assert!(matches!(
        f32s.tanh_backward(&f),
        Err(TensorError::DTypeMismatch {
            op: "tanh_backward",
            ..
        })
    ));
    let bad = randn(&[4], 19);
    assert!(matches!(
        f.mul3(&f, &bad, 1.0),
        Err(TensorError::ShapeMismatch { op: "mul3", .. })
    ));
    assert!(matches!(
        f.tanh_backward(&bad),
        Err(TensorError::ShapeMismatch {
            op: "tanh_backward",
            ..
        })
    ));
}

#[test]
fn linear_matches_the_composition_and_its_derivatives_to_third_order() {
    let x = randn(&[5, 3], 20);
    let w = randn(&[4, 3], 21);
    let b = randn(&[4], 22);
    let composed = x.matmul(&w.t().unwrap()).unwrap().add(&b).unwrap();
    let y = x.linear(&w, Some(&b)).unwrap();
    assert_eq!(y.to_vec_f64(), composed.to_vec_f64());
    assert_eq!(
        x.linear(&w, None).unwrap().to_vec_f64(),
        x.matmul(&w.t().unwrap()).unwrap().to_vec_f64()
    );
    check123(
        |v| v[0].linear(&v[1], Some(&v[2]))?.tanh(),
        &[x.clone(), w.clone(), b.clone()],
    );
    check123(
        |v| v[0].linear(&v[1], None)?.tanh(),
        &[x.clone(), w.clone()],
    );
    // A transposed input and a transposed weight (strided operands).
    let xt = randn(&[3, 5], 23);
    let wt = randn(&[3, 4], 24);
    check123(
        |v| v[0].t()?.linear(&v[1].t()?, Some(&v[2]))?.tanh(),
        &[xt, wt, b.clone()],
    );
    // Ranks other than 2, and a bias that only broadcasts, go through the composition.
    let x3 = randn(&[2, 5, 3], 25);
    let want = x3.matmul(&w.t().unwrap()).unwrap().add(&b).unwrap();
    assert_eq!(
        x3.linear(&w, Some(&b)).unwrap().to_vec_f64(),
        want.to_vec_f64()
    );
    let b1 = randn(&[1], 26);
    check123(
        |v| v[0].linear(&v[1], Some(&v[2]))?.tanh(),
        &[x.clone(), w.clone(), b1],
    );
    // A mismatch of features is an error naming the op; f32 works; i64 is refused.
    assert!(matches!(
        x.linear(&randn(&[4, 2], 27), None),
        Err(TensorError::ShapeMismatch { op: "linear", .. })
    ));
    let y32 = x
        .to_dtype(DType::F32)
        .unwrap()
        .linear(
            &w.to_dtype(DType::F32).unwrap(),
            Some(&b.to_dtype(DType::F32).unwrap()),
        )
        .unwrap();
    assert_eq!(y32.dtype(), DType::F32);
    for (a, e) in y32.to_vec_f64().iter().zip(composed.to_vec_f64()) {
        assert!((a - e).abs() < 1e-5 * (1.0 + e.abs()));
    }
    let i = Tensor::from_vec(vec![1i64, 2], [1, 2]).unwrap();
    assert!(i.linear(&i, None).is_err());
}
