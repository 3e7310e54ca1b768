//! 16-bit float tensors (bf16, f16) and autocast, against f64 references.
//!
//! Tolerances follow from the unit roundoff `u` of the 16-bit type (2⁻⁸ for bf16, which
//! has 8 significant bits; 2⁻¹¹ for f16) and `u32 = 2⁻²⁴` of the f32 arithmetic inside the
//! kernels. The references are computed in f64 from the same 16-bit inputs, so input
//! rounding is not part of the error unless said:
//! - an elementwise op computes `f` in f32 (a few ulps: ≤ 8·u32 relative here) and rounds
//!   once: relative error ≤ u + 8·u32, plus half the subnormal spacing (2⁻²⁵ for f16,
//!   2⁻¹³⁴ for bf16) for results below the normal range, where rounding is absolute;
//! - a k-term dot product (matmul, convolution, sum) adds exact products in f32 (error
//!   ≤ k·u32·Σ|aᵢbᵢ|) and rounds once (≤ u·|c|): |ĉ − c| ≤ u·|c| + k·u32·Σ|aᵢbᵢ|. Against the
//!   product of the unrounded f64 inputs, rounding both inputs adds 2u·Σ|aᵢbᵢ| (to first
//!   order).

use retrograd::tensor::autograd::{grad_with, BackwardOptions};
use retrograd::tensor::{
    autocast, autocast_dtype, bf16, f16, AutocastGuard, Conv2dOptions, DType, Rng, Tensor,
    TensorError,
};

const U32: f64 = 1.0 / (1u64 << 24) as f64;

/// The unit roundoff of a 16-bit type.
fn unit(d: DType) -> f64 {
    match d {
        DType::BF16 => 2f64.powi(-8),
        DType::F16 => 2f64.powi(-11),
        _ => unreachable!(),
    }
}

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_vec_f64()
}

/// Half the spacing of the subnormals of a 16-bit type: the absolute rounding error there.
fn tiny(d: DType) -> f64 {
    match d {
        DType::BF16 => 2f64.powi(-134),
        DType::F16 => 2f64.powi(-25),
        _ => unreachable!(),
    }
}

/// Normal samples rounded to `d` (and the same values as an f64 tensor).
fn randn(dims: &[usize], seed: u64, d: DType) -> (Tensor, Tensor) {
    let x = Tensor::randn(dims, 0.0, 1.0, DType::F64, &mut Rng::new(seed))
        .to_dtype(d)
        .unwrap();
    let x64 = x.to_dtype(DType::F64).unwrap();
    (x, x64)
}

#[test]
fn casts_round_to_nearest_even_and_keep_special_values() {
    let edge = [
        0.0f32,
        -0.0,
        1.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        65504.0,                   // f16's largest finite
        65519.0,                   // rounds down to 65504 in f16
        65520.0,                   // the f16 tie: rounds to infinity (even)
        1e5,                       // beyond f16's range: infinity
        2f32.powi(-24),            // f16's smallest subnormal, exact
        2f32.powi(-25),            // a tie between 0 and it: rounds to 0 (even)
        2f32.powi(-133),           // bf16's smallest subnormal, exact
        f32::MAX,                  // rounds to infinity in bf16 (past (2 − 2⁻⁷)·2¹²⁷)
        1.0 + 2f32.powi(-8),       // the bf16 tie after 1: rounds to 1 (even)
        1.0 + 3.0 * 2f32.powi(-8), // a tie rounding up to 1 + 2⁻⁶
    ];
    let x = Tensor::from_vec(edge.to_vec(), [edge.len()]).unwrap();
    let h = x.to_dtype(DType::F16).unwrap().to_vec::<f16>().unwrap();
    let b = x.to_dtype(DType::BF16).unwrap().to_vec::<bf16>().unwrap();
    let hf: Vec<f32> = h.iter().map(|v| v.to_f32()).collect();
    let bf: Vec<f32> = b.iter().map(|v| v.to_f32()).collect();
    assert_eq!(hf[..5], edge[..5]);
    assert!(hf[1].is_sign_negative() && bf[1].is_sign_negative());
    assert!(hf[5].is_nan() && bf[5].is_nan());
    assert_eq!(
        hf[6..12],
        [
            65504.0,
            65504.0,
            f32::INFINITY,
            f32::INFINITY,
            2f32.powi(-24),
            0.0
        ]
    );
    assert_eq!(bf[..5], edge[..5]);
    assert_eq!(bf[12], 2f32.powi(-133));
    assert_eq!(bf[13], f32::INFINITY);
    assert_eq!(bf[14], 1.0);
    assert_eq!(bf[15], 1.0 + 2f32.powi(-6));
    // Every 16-bit value widens exactly, so 16 → 32 → 16 is the identity (NaN aside).
    for d in [DType::BF16, DType::F16] {
        let all: Vec<f64> = (0..=u16::MAX)
            .map(|bits| match d {
                DType::BF16 => bf16::from_bits(bits).to_f64(),
                _ => f16::from_bits(bits).to_f64(),
            })
            .filter(|v| !v.is_nan())
            .collect();
        let t = Tensor::from_vec(all.clone(), [all.len()])
            .unwrap()
            .to_dtype(d)
            .unwrap();
        let back = t.to_dtype(DType::F32).unwrap().to_dtype(d).unwrap();
        assert_eq!(vals(&back), all);
        assert_eq!(vals(&t.to_dtype(DType::F64).unwrap()), all);
    }
    // To integers: truncated, as from f32.
    let t = Tensor::from_vec(vec![bf16::from_f32(2.5), bf16::from_f32(-2.5)], [2]).unwrap();
    assert_eq!(
        t.to_dtype(DType::I64).unwrap().to_vec::<i64>().unwrap(),
        vec![2, -2]
    );
}

#[test]
fn elementwise_and_softmax_are_rounded_once_from_f32() {
    for d in [DType::BF16, DType::F16] {
        let tol = unit(d) + 8.0 * U32;
        let (x, x64) = randn(&[64, 10], 1, d);
        let check = |name: &str, got: &Tensor, want: &Tensor| {
            assert_eq!(got.dtype(), d, "{name}");
            for (g, w) in vals(got).iter().zip(vals(want)) {
                assert!(
                    (g - w).abs() <= tol * w.abs() + tiny(d),
                    "{name} {d}: {g} vs {w}"
                );
            }
        };
        check("exp", &x.exp().unwrap(), &x64.exp().unwrap());
        check("tanh", &x.tanh().unwrap(), &x64.tanh().unwrap());
        check("sigmoid", &x.sigmoid().unwrap(), &x64.sigmoid().unwrap());
        check("mul", &x.mul(&x).unwrap(), &x64.mul(&x64).unwrap());
        check(
            "affine",
            &x.affine(3.0, 0.5).unwrap(),
            &x64.affine(3.0, 0.5).unwrap(),
        );
        check("softmax", &x.softmax(1).unwrap(), &x64.softmax(1).unwrap());
        // Max and relu are exact.
        assert_eq!(vals(&x.relu().unwrap()), vals(&x64.relu().unwrap()));
        assert_eq!(
            vals(&x.max(1, false).unwrap()),
            vals(&x64.max(1, false).unwrap())
        );
    }
}

#[test]
fn sums_accumulate_in_f32() {
    for d in [DType::BF16, DType::F16] {
        // 4096 ones: a bf16 accumulator would stop at 256 (1 + 256 rounds back to 256).
        let ones = Tensor::ones([4096], d);
        let s = ones.sum_all().unwrap();
        assert_eq!((s.dtype(), s.item().unwrap()), (d, 4096.0));
        let (x, x64) = randn(&[300, 7], 2, d);
        let k = 300.0;
        let got = vals(&x.sum(0, false).unwrap());
        let want = vals(&x64.sum(0, false).unwrap());
        let mass = vals(&x64.abs().unwrap().sum(0, false).unwrap());
        for ((g, w), m) in got.iter().zip(&want).zip(&mass) {
            assert!(
                (g - w).abs() <= unit(d) * w.abs() + k * U32 * m,
                "{d}: {g} vs {w}"
            );
        }
    }
}

/// `|ĉ − c| ≤ u·|c| + k·u32·Σ|aᵢbᵢ|` per entry, with `mass` = Σ|aᵢbᵢ|.
fn assert_dot_bound(d: DType, got: &[f64], want: &[f64], mass: &[f64], k: usize, what: &str) {
    for ((g, w), m) in got.iter().zip(want).zip(mass) {
        let bound = unit(d) * w.abs() + k as f64 * U32 * m + tiny(d);
        assert!(
            (g - w).abs() <= bound,
            "{what} {d}: {g} vs {w} (bound {bound})"
        );
    }
}

#[test]
fn matrix_products_accumulate_exact_products_in_f32() {
    for d in [DType::BF16, DType::F16] {
        let (m, k, n) = (17, 300, 9);
        let (a, a64) = randn(&[2, m, k], 3, d);
        let (b, b64) = randn(&[k, n], 4, d);
        let c = a.matmul(&b).unwrap();
        assert_eq!((c.dtype(), c.dims()), (d, &[2, m, n][..]));
        let mass = a64.abs().unwrap().matmul(&b64.abs().unwrap()).unwrap();
        assert_dot_bound(
            d,
            &vals(&c),
            &vals(&a64.matmul(&b64).unwrap()),
            &vals(&mass),
            k,
            "matmul",
        );
        // Transposed (strided) operands read in place.
        let ct = b
            .t()
            .unwrap()
            .matmul(&a.select(0, 0).unwrap().t().unwrap())
            .unwrap();
        let want = b64
            .t()
            .unwrap()
            .matmul(&a64.select(0, 0).unwrap().t().unwrap())
            .unwrap();
        let mass = b64
            .abs()
            .unwrap()
            .t()
            .unwrap()
            .matmul(&a64.select(0, 0).unwrap().abs().unwrap().t().unwrap())
            .unwrap();
        assert_dot_bound(
            d,
            &vals(&ct),
            &vals(&want),
            &vals(&mass),
            k,
            "matmul of transposes",
        );
    }
}

#[test]
fn convolutions_and_their_gradients_accumulate_in_f32() {
    let opts = Conv2dOptions {
        stride: (2, 1),
        padding: (1, 1),
        groups: 2,
        ..Default::default()
    };
    for d in [DType::BF16, DType::F16] {
        let (x, x64) = randn(&[3, 4, 9, 8], 5, d);
        let (w, w64) = randn(&[6, 2, 3, 3], 6, d);
        let (b, b64) = randn(&[6], 7, d);
        let (x, w, b) = (x.requires_grad_(), w.requires_grad_(), b.requires_grad_());
        let (x64, w64, b64) = (
            x64.requires_grad_(),
            w64.requires_grad_(),
            b64.requires_grad_(),
        );
        let y = x.conv2d(&w, Some(&b), opts).unwrap();
        let y64 = x64.conv2d(&w64, Some(&b64), opts).unwrap();
        assert_eq!(y.dtype(), d);
        let mass = x64
            .detach()
            .abs()
            .unwrap()
            .conv2d(
                &w64.detach().abs().unwrap(),
                Some(&b64.detach().abs().unwrap()),
                opts,
            )
            .unwrap();
        assert_dot_bound(d, &vals(&y), &vals(&y64), &vals(&mass), 2 * 9 + 1, "conv2d");
        // Gradients for an upstream gradient of ones: dW sums N·ho·wo inputs, dx at most
        // O/groups·kh·kw weights (products with 1, exact); the same sums of magnitudes,
        // from f64 convolutions of |x| and of |w|, bound the accumulation error.
        y.sum_all().unwrap().backward().unwrap();
        y64.sum_all().unwrap().backward().unwrap();
        let magnitude_grads = |of_x: bool| {
            let (xa, wa) = (x64.detach().abs().unwrap(), w64.detach().abs().unwrap());
            let (xa, wa) = (xa.requires_grad_(), wa.requires_grad_());
            xa.conv2d(&wa, None, opts)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            vals(&if of_x { xa } else { wa }.grad().unwrap())
        };
        let gw = w.grad().unwrap();
        assert_eq!(gw.dtype(), d);
        let terms = 3 * y.dims()[2] * y.dims()[3];
        assert_dot_bound(
            d,
            &vals(&gw),
            &vals(&w64.grad().unwrap()),
            &magnitude_grads(false),
            terms,
            "conv2d weight grad",
        );
        let gx = x.grad().unwrap();
        assert_eq!(gx.dtype(), d);
        assert_dot_bound(
            d,
            &vals(&gx),
            &vals(&x64.grad().unwrap()),
            &magnitude_grads(true),
            3 * 3 * 3,
            "conv2d input grad",
        );
        assert_eq!(vals(&b.grad().unwrap()), vals(&b64.grad().unwrap()));
    }
}

#[test]
fn mixed_types_promote_as_pytorch_and_gradients_come_back_in_each_type() {
    let a = Tensor::from_vec(vec![1.5f32, -2.0], [2])
        .unwrap()
        .requires_grad_();
    let b = Tensor::from_vec(vec![bf16::from_f32(3.0), bf16::from_f32(0.5)], [2])
        .unwrap()
        .requires_grad_();
    let y = a.mul(&b).unwrap();
    assert_eq!(y.dtype(), DType::F32);
    y.sum_all().unwrap().backward().unwrap();
    assert_eq!(b.grad().unwrap().dtype(), DType::BF16);
    assert_eq!(vals(&b.grad().unwrap()), vec![1.5, -2.0]);
    assert_eq!(vals(&a.grad().unwrap()), vec![3.0, 0.5]);
    let h = Tensor::ones([2], DType::F16);
    assert_eq!(b.add(&h).unwrap().dtype(), DType::F32);
    // f32 with f64 and integers with floats stay refused, naming both types.
    let e = Tensor::ones([2], DType::F64).add(&a).unwrap_err();
    assert!(matches!(
        e,
        TensorError::DTypeMismatch {
            lhs: DType::F64,
            rhs: DType::F32,
            ..
        }
    ));
    let e = Tensor::ones([2], DType::I64)
        .add(&b)
        .unwrap_err()
        .to_string();
    assert!(e.contains("i64") && e.contains("bf16"), "{e}");
}

#[test]
fn autocast_runs_products_in_16_bits_and_losses_in_f32() {
    let mut rng = Rng::new(8);
    let x = Tensor::randn([8, 5], 0.0, 1.0, DType::F32, &mut rng);
    let w = Tensor::randn([5, 4], 0.0, 1.0, DType::F32, &mut rng).requires_grad_();
    let bias = Tensor::zeros([4], DType::F32).requires_grad_();
    let t = Tensor::from_vec(vec![0i64, 1, 2, 3, 0, 1, 2, 3], [8]).unwrap();
    for d in [DType::BF16, DType::F16] {
        let loss = autocast(d, || -> retrograd::tensor::Result<Tensor> {
            let h = x.matmul(&w)?;
            assert_eq!(h.dtype(), d);
            let h = h.add(&bias)?; // promoted to f32
            assert_eq!(h.dtype(), DType::F32);
            let h = h.matmul(&Tensor::eye(4, DType::F32))?;
            assert_eq!(h.dtype(), d);
            assert_eq!(h.relu()?.dtype(), d);
            assert_eq!(h.softmax(1)?.dtype(), DType::F32);
            assert_eq!(h.sum_all()?.dtype(), DType::F32);
            assert_eq!(h.mean_all()?.dtype(), DType::F32);
            // f64 is left alone.
            let e = Tensor::eye(5, DType::F64);
            assert_eq!(e.matmul(&e)?.dtype(), DType::F64);
            h.cross_entropy(&t)
        })
        .unwrap()
        .unwrap();
        assert_eq!(loss.dtype(), DType::F32);
        assert_eq!(autocast_dtype(), None);
        loss.backward().unwrap();
        // Master weights: f32 gradients for f32 parameters.
        assert_eq!(w.grad().unwrap().dtype(), DType::F32);
        assert_eq!(bias.grad().unwrap().dtype(), DType::F32);
        w.zero_grad();
        bias.zero_grad();
    }
    assert!(autocast(DType::F32, || ()).is_err());
    let _on = AutocastGuard::new(Some(DType::BF16)).unwrap();
    {
        let _off = AutocastGuard::new(None).unwrap();
        assert_eq!(x.matmul(&w).unwrap().dtype(), DType::F32);
    }
    assert_eq!(x.matmul(&w).unwrap().dtype(), DType::BF16);
}

/// `L(w) = Σ c ⊙ (x w)` under autocast: the gradient is `bf(x)ᵀ bf(c)` accumulated in f32,
/// rounded to the 16-bit type, then widened for the f32 leaf. Against the f32 gradient
/// `xᵀc` of the unrounded inputs the bound adds 2u·Σ|x||c| for rounding x and c.
#[test]
fn gradients_through_autocast_match_f32_within_the_rounding_bound() {
    let mut rng = Rng::new(9);
    let (m, k, n) = (64, 6, 5);
    let x = Tensor::randn([m, k], 0.0, 1.0, DType::F32, &mut rng);
    let w = Tensor::randn([k, n], 0.0, 1.0, DType::F32, &mut rng).requires_grad_();
    let c = Tensor::randn([m, n], 0.0, 1.0, DType::F32, &mut rng);
    x.matmul(&w)
        .unwrap()
        .mul(&c)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g32 = vals(&w.grad().unwrap());
    let x64 = x.to_dtype(DType::F64).unwrap();
    let c64 = c.to_dtype(DType::F64).unwrap();
    let mass = vals(
        &x64.abs()
            .unwrap()
            .t()
            .unwrap()
            .matmul(&c64.abs().unwrap())
            .unwrap(),
    );
    for d in [DType::BF16, DType::F16] {
        w.zero_grad();
        let loss = autocast(d, || x.matmul(&w)?.mul(&c)?.sum_all())
            .unwrap()
            .unwrap();
        loss.backward().unwrap();
        let g = vals(&w.grad().unwrap());
        let u = unit(d);
        for ((g, w), mass) in g.iter().zip(&g32).zip(&mass) {
            let bound = u * w.abs() + (2.0 * u + u * u + m as f64 * U32) * mass;
            assert!(
                (g - w).abs() <= bound * 1.01,
                "{d}: {g} vs {w} (bound {bound})"
            );
        }
    }
}

/// Autocast composes with create_graph: the Hessian-vector product of `½‖x w‖²` in w,
/// `xᵀx v`, through two 16-bit products (each of exact products accumulated in f32 and
/// rounded once, inputs rounded): error ≤ (4u + 2·m·u32)·(|x|ᵀ|x||v|) to first order.
#[test]
fn autocast_composes_with_create_graph() {
    let mut rng = Rng::new(10);
    let (m, k) = (32, 4);
    let x = Tensor::randn([m, k], 0.0, 1.0, DType::F32, &mut rng);
    let w = Tensor::randn([k, 1], 0.0, 1.0, DType::F32, &mut rng).requires_grad_();
    let v = Tensor::randn([k, 1], 0.0, 1.0, DType::F32, &mut rng);
    let x64 = x.to_dtype(DType::F64).unwrap();
    let want = vals(
        &x64.t()
            .unwrap()
            .matmul(&x64.matmul(&v.to_dtype(DType::F64).unwrap()).unwrap())
            .unwrap(),
    );
    let xa = x64.abs().unwrap();
    let mass = vals(
        &xa.t()
            .unwrap()
            .matmul(
                &xa.matmul(&v.to_dtype(DType::F64).unwrap().abs().unwrap())
                    .unwrap(),
            )
            .unwrap(),
    );
    for d in [DType::BF16, DType::F16] {
        let loss = autocast(d, || x.matmul(&w)?.square()?.sum_all()?.mul_scalar(0.5))
            .unwrap()
            .unwrap();
        let opts = BackwardOptions {
            create_graph: true,
            ..Default::default()
        };
        let g = grad_with(&[&loss], &[], &[&w], opts).unwrap().remove(0);
        assert_eq!(g.dtype(), DType::F32);
        let gv = g.mul(&v).unwrap().sum_all().unwrap();
        let hv = vals(&grad_with(&[&gv], &[], &[&w], opts).unwrap().remove(0));
        let u = unit(d);
        for ((h, w), mass) in hv.iter().zip(&want).zip(&mass) {
            let bound = (6.0 * u + 2.0 * m as f64 * U32) * mass;
            assert!((h - w).abs() <= bound, "{d}: {h} vs {w} (bound {bound})");
        }
    }
}
