//! Every differentiable op checked against central finite differences by the shared
//! `gradcheck` helper, including broadcasting and views.

use proptest::prelude::*;
use retrograd::tensor::autograd::Function;
use retrograd::tensor::{
    gradcheck, Conv1dOptions, Conv2dOptions, DType, GradcheckOptions, Reduction, Result, Rng,
    Tensor,
};

fn randn(dims: &[usize], seed: u64) -> Tensor {
    Tensor::randn(dims, 0.0, 1.0, DType::F64, &mut Rng::new(seed))
}

/// Values kept away from 0 (for log, sqrt, pow, division).
fn positive(dims: &[usize], seed: u64) -> Tensor {
    Tensor::rand(dims, 0.5, 2.0, DType::F64, &mut Rng::new(seed))
}

fn check(f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor]) {
    gradcheck(f, inputs, GradcheckOptions::default()).unwrap();
}

#[test]
fn unary_ops() {
    let x = randn(&[3, 4], 1);
    let p = positive(&[3, 4], 2);
    check(|v| v[0].neg(), std::slice::from_ref(&x));
    check(|v| v[0].exp(), std::slice::from_ref(&x));
    check(|v| v[0].log(), std::slice::from_ref(&p));
    check(|v| v[0].sqrt(), std::slice::from_ref(&p));
    check(|v| v[0].abs(), std::slice::from_ref(&x));
    check(|v| v[0].sin(), std::slice::from_ref(&x));
    check(|v| v[0].cos(), std::slice::from_ref(&x));
    check(|v| v[0].tanh(), std::slice::from_ref(&x));
    check(|v| v[0].sigmoid(), std::slice::from_ref(&x));
    check(|v| v[0].relu(), std::slice::from_ref(&x));
    check(|v| v[0].leaky_relu(0.1), std::slice::from_ref(&x));
    check(|v| v[0].gelu(), std::slice::from_ref(&x));
    check(|v| v[0].silu(), std::slice::from_ref(&x));
    check(|v| v[0].softplus(), std::slice::from_ref(&x));
    check(|v| v[0].erf(), std::slice::from_ref(&x));
    check(|v| v[0].recip(), std::slice::from_ref(&p));
    check(|v| v[0].square(), std::slice::from_ref(&x));
    check(|v| v[0].powf(2.5), std::slice::from_ref(&p));
    check(|v| v[0].affine(-2.0, 0.5), std::slice::from_ref(&x));
    check(|v| v[0].clamp(-0.5, 0.5), std::slice::from_ref(&x));
}

#[test]
fn binary_ops_with_broadcasting() {
    let shapes: [(&[usize], &[usize]); 4] = [
        (&[3, 4], &[3, 4]),
        (&[3, 4], &[4]),
        (&[2, 1, 4], &[3, 1]),
        (&[], &[2, 3]),
    ];
    for (i, (sa, sb)) in shapes.iter().enumerate() {
        let a = randn(sa, 10 + i as u64);
        let b = randn(sb, 20 + i as u64);
        let pb = positive(sb, 30 + i as u64);
        let pa = positive(sa, 40 + i as u64);
        check(|v| v[0].add(&v[1]), &[a.clone(), b.clone()]);
        check(|v| v[0].sub(&v[1]), &[a.clone(), b.clone()]);
        check(|v| v[0].mul(&v[1]), &[a.clone(), b.clone()]);
        check(|v| v[0].div(&v[1]), &[a.clone(), pb.clone()]);
        check(|v| v[0].pow(&v[1]), &[pa.clone(), b.clone()]);
        check(|v| v[0].maximum(&v[1]), &[a.clone(), b.clone()]);
        check(|v| v[0].minimum(&v[1]), &[a.clone(), b.clone()]);
    }
}

#[test]
fn where_and_masked_fill() {
    let a = randn(&[3, 4], 1);
    let b = randn(&[4], 2);
    let mask = randn(&[3, 1], 3).gt_scalar(0.0).unwrap();
    check(|v| mask.where_cond(&v[0], &v[1]), &[a.clone(), b.clone()]);
    let m2 = randn(&[3, 4], 4).gt_scalar(0.0).unwrap();
    check(|v| v[0].masked_fill(&m2, 3.0), std::slice::from_ref(&a));
}

#[test]
fn reductions() {
    let x = randn(&[2, 3, 4], 5);
    check(|v| v[0].sum(1, false), std::slice::from_ref(&x));
    check(|v| v[0].sum([0, 2], true), std::slice::from_ref(&x));
    check(|v| v[0].sum_all(), std::slice::from_ref(&x));
    check(|v| v[0].mean(-1, false), std::slice::from_ref(&x));
    check(|v| v[0].mean([0, 1], true), std::slice::from_ref(&x));
    check(|v| v[0].max(1, false), std::slice::from_ref(&x));
    check(|v| v[0].min([0, 2], true), std::slice::from_ref(&x));
    check(|v| v[0].var(2, false, true), std::slice::from_ref(&x));
    check(|v| v[0].var([0, 1], true, false), std::slice::from_ref(&x));
    check(|v| v[0].logsumexp(-1, false), std::slice::from_ref(&x));
    check(|v| v[0].logsumexp([0, 1], true), std::slice::from_ref(&x));
}

#[test]
fn views() {
    let x = randn(&[2, 3, 4], 6);
    check(|v| v[0].reshape([6, 4]), std::slice::from_ref(&x));
    check(|v| v[0].flatten(1, -1), std::slice::from_ref(&x));
    check(
        |v| v[0].permute(&[2, 0, 1])?.mul_scalar(2.0),
        std::slice::from_ref(&x),
    );
    check(
        |v| v[0].transpose(0, 2)?.reshape([24]),
        std::slice::from_ref(&x),
    );
    check(|v| v[0].narrow(1, 1, 2), std::slice::from_ref(&x));
    check(|v| v[0].select(2, 3), std::slice::from_ref(&x));
    check(|v| v[0].unsqueeze(1)?.squeeze(1), std::slice::from_ref(&x));
    check(
        |v| v[0].sum(1, true)?.broadcast_to([2, 3, 4]),
        std::slice::from_ref(&x),
    );
    check(|v| v[0].t_last()?.contiguous(), std::slice::from_ref(&x));
    check(|v| v[0].pad_axis(1, 2, 1), std::slice::from_ref(&x));
    // f32 round-off needs a coarser step
    let coarse = GradcheckOptions {
        eps: 1e-2,
        atol: 1e-3,
        rtol: 1e-3,
    };
    gradcheck(
        |v| v[0].to_dtype(DType::F32)?.to_dtype(DType::F64),
        std::slice::from_ref(&x),
        coarse,
    )
    .unwrap();
}

trait LastTranspose {
    fn t_last(&self) -> Result<Tensor>;
}
impl LastTranspose for Tensor {
    fn t_last(&self) -> Result<Tensor> {
        self.mt()
    }
}

#[test]
fn matmul_cases() {
    let cases: [(&[usize], &[usize]); 7] = [
        (&[3, 4], &[4, 5]),
        (&[4], &[4]),
        (&[4], &[4, 2]),
        (&[3, 4], &[4]),
        (&[2, 3, 4], &[4, 5]),
        (&[2, 1, 3, 4], &[3, 4, 2]),
        (&[5, 3, 4], &[5, 4, 2]),
    ];
    for (i, (sa, sb)) in cases.iter().enumerate() {
        let a = randn(sa, 50 + i as u64);
        let b = randn(sb, 60 + i as u64);
        check(|v| v[0].matmul(&v[1]), &[a, b]);
    }
    // transposed (strided) operands
    let a = randn(&[4, 3], 70);
    let b = randn(&[5, 4], 71);
    check(|v| v[0].t()?.matmul(&v[1].t()?), &[a, b]);
}

#[test]
fn convolution_and_pooling() {
    let x = randn(&[2, 4, 6, 5], 80);
    let w = randn(&[6, 2, 3, 2], 81);
    let b = randn(&[6], 82);
    let opts = Conv2dOptions {
        stride: (2, 1),
        padding: (1, 1),
        dilation: (1, 2),
        groups: 2,
    };
    check(
        |v| v[0].conv2d(&v[1], Some(&v[2]), opts),
        &[x.clone(), w, b],
    );
    let w1 = randn(&[3, 4, 3, 3], 83);
    check(
        |v| v[0].conv2d(&v[1], None, Conv2dOptions::default()),
        &[x.clone(), w1],
    );
    let x1 = randn(&[2, 3, 9], 84);
    let k1 = randn(&[4, 3, 3], 85);
    let o1 = Conv1dOptions {
        stride: 2,
        padding: 1,
        dilation: 1,
        groups: 1,
    };
    check(|v| v[0].conv1d(&v[1], None, o1), &[x1, k1]);
    check(
        |v| v[0].max_pool2d((2, 2), (2, 2), (0, 0)),
        std::slice::from_ref(&x),
    );
    check(
        |v| v[0].max_pool2d((3, 3), (2, 2), (1, 1)),
        std::slice::from_ref(&x),
    );
    check(
        |v| v[0].avg_pool2d((2, 3), (1, 2), (1, 1)),
        std::slice::from_ref(&x),
    );
    check(
        |v| v[0].unfold2d((2, 2), (1, 1), (1, 0), (1, 1)),
        std::slice::from_ref(&x),
    );
    let cols = randn(&[2, 8, 12], 86);
    check(
        |v| v[0].fold2d((4, 5), (2, 2), (1, 1), (0, 0), (1, 1)),
        &[cols],
    );
}

#[test]
fn indexing() {
    let x = randn(&[4, 3], 90);
    let idx = Tensor::from_vec(vec![3i64, 0, 3], [3]).unwrap();
    check(|v| v[0].index_select(0, &idx), std::slice::from_ref(&x));
    check(
        |v| v[0].index_select(1, &idx.clamp_index(2)),
        std::slice::from_ref(&x),
    );
    let g = Tensor::from_vec(vec![2i64, 0, 1, 1, 0, 2], [2, 3]).unwrap();
    check(|v| v[0].gather(1, &g), std::slice::from_ref(&x));
    let src = randn(&[2, 3], 91);
    check(|v| v[0].scatter_add(1, &g, &v[1]), &[x.clone(), src]);
    let src2 = randn(&[3, 3], 92);
    check(|v| v[0].index_add(0, &idx, &v[1]), &[x.clone(), src2]);
    let ids = Tensor::from_vec(vec![1i64, 3, 1, 0], [2, 2]).unwrap();
    check(|v| v[0].embedding(&ids), std::slice::from_ref(&x));
}

trait ClampIndex {
    fn clamp_index(&self, max: i64) -> Tensor;
}
impl ClampIndex for Tensor {
    fn clamp_index(&self, max: i64) -> Tensor {
        let v: Vec<i64> = self
            .to_vec::<i64>()
            .unwrap()
            .into_iter()
            .map(|i| i.min(max))
            .collect();
        Tensor::from_vec(v, self.dims()).unwrap()
    }
}

#[test]
fn joining() {
    let a = randn(&[2, 3], 100);
    let b = randn(&[1, 3], 101);
    check(
        |v| Tensor::cat(&[v[0].clone(), v[1].clone()], 0),
        &[a.clone(), b],
    );
    check(
        |v| Tensor::stack(&[v[0].clone(), v[0].exp()?], 1),
        std::slice::from_ref(&a),
    );
    check(
        |v| Ok(v[0].split(2, 1)?[1].clone()),
        std::slice::from_ref(&a),
    );
    check(
        |v| v[0].chunk(2, 0)?[0].mul_scalar(3.0),
        std::slice::from_ref(&a),
    );
}

#[test]
fn nn_functions() {
    let x = randn(&[4, 5], 110);
    let t = Tensor::from_vec(vec![0i64, 4, 2, 2], [4]).unwrap();
    check(|v| v[0].softmax(-1), std::slice::from_ref(&x));
    check(|v| v[0].softmax(0), std::slice::from_ref(&x));
    check(|v| v[0].log_softmax(1), std::slice::from_ref(&x));
    check(|v| v[0].cross_entropy(&t), std::slice::from_ref(&x));
    check(
        |v| v[0].cross_entropy_with(&t, Reduction::None),
        std::slice::from_ref(&x),
    );
    check(
        |v| v[0].cross_entropy_with(&t, Reduction::Sum),
        std::slice::from_ref(&x),
    );
    check(
        |v| v[0].log_softmax(1)?.nll_loss(&t, Reduction::Mean),
        std::slice::from_ref(&x),
    );
    let y = randn(&[4, 5], 111);
    check(|v| v[0].mse_loss(&v[1]), &[x.clone(), y]);
    check(
        |v| v[0].dropout(0.3, &mut Rng::new(5)),
        std::slice::from_ref(&x),
    );
}

#[test]
fn batch_norm_gradients() {
    // rank 2 and 4, with and without the affine parameters, and a strided (transposed) view
    let x2 = randn(&[5, 3], 140);
    let x4 = randn(&[3, 2, 4, 3], 141);
    let (w, b) = (randn(&[2], 142), randn(&[2], 143));
    check(
        |v| Ok(v[0].batch_norm(Some(&v[1]), Some(&v[2]), 1e-5)?.0),
        &[x4.clone(), w.clone(), b.clone()],
    );
    check(
        |v| Ok(v[0].batch_norm(None, None, 1e-5)?.0),
        std::slice::from_ref(&x2),
    );
    check(
        |v| Ok(v[0].batch_norm(None, Some(&v[1]), 0.1)?.0),
        &[x4.clone(), b],
    );
    check(
        |v| Ok(v[0].transpose(0, 1)?.batch_norm(Some(&v[1]), None, 1e-5)?.0),
        &[randn(&[2, 4], 144), w.clone()],
    );
    // a weight that needs a gradient on an input that does not
    let w = w.requires_grad_();
    let (y, _) = x4.batch_norm(Some(&w), None, 1e-5).unwrap();
    y.sum_all().unwrap().backward().unwrap();
    assert!(w
        .grad()
        .unwrap()
        .to_vec::<f64>()
        .unwrap()
        .iter()
        .all(|g| g.abs() < 1e-9));
}

/// The composition `(x - mean) / sqrt(var + eps) · w + b` out of generic ops.
fn batch_norm_composed(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean([0, 2], true)?;
    let var = x.sub(&mean)?.square()?.mean([0, 2], true)?;
    let c = [1, x.dims()[1], 1];
    x.sub(&mean)?
        .div(&var.add_scalar(eps)?.sqrt()?)?
        .mul(&w.reshape(c)?)?
        .add(&b.reshape(c)?)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// The fused kernels agree with the composition, in f64 and f32, for any batch, channel
    /// and spatial sizes, and for data far from zero (no cancellation in the variance).
    #[test]
    fn batch_norm_matches_its_composition(
        n in 1usize..5, c in 1usize..4, s in 1usize..7,
        offset in -1e4f64..1e4, scale in 0.01f64..100.0, seed in 0u64..1000,
    ) {
        // inputs representable in f32, so both precisions see the same data
        let f32_exact = |t: Tensor| t.to_dtype(DType::F32).unwrap().to_dtype(DType::F64).unwrap();
        let x = f32_exact(randn(&[n, c, s], seed).affine(scale, offset).unwrap());
        let (w, b) = (f32_exact(randn(&[c], seed + 1)), f32_exact(randn(&[c], seed + 2)));
        let gy = f32_exact(randn(&[n, c, s], seed + 3));
        let run = |dt: DType, fused: bool| {
            let [x, w, b, gy] = [&x, &w, &b, &gy].map(|t| t.to_dtype(dt).unwrap().detach());
            let [x, w, b] = [x, w, b].map(|t| t.requires_grad_());
            let y = if fused {
                x.batch_norm(Some(&w), Some(&b), 1e-3).unwrap().0
            } else {
                batch_norm_composed(&x, &w, &b, 1e-3).unwrap()
            };
            y.mul(&gy).unwrap().sum_all().unwrap().backward().unwrap();
            [y, x.grad().unwrap(), w.grad().unwrap(), b.grad().unwrap()]
                .map(|t| t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap())
        };
        let reference = run(DType::F64, false);
        // In f32 the centred values `x - mean` carry an error of about 2⁻²⁴·|x|, relative
        // error ρ = 2⁻²⁴·|x| / σ (σ = sqrt(var + eps) of the channel); the outputs scale with
        // 1/σ. The tolerance follows that model with a wide margin.
        let sigma = x.sub(&x.mean([0, 2], true).unwrap()).unwrap().square().unwrap()
            .mean([0, 2], false).unwrap().add_scalar(1e-3).unwrap().sqrt().unwrap()
            .to_vec::<f64>().unwrap().into_iter().fold(f64::INFINITY, f64::min);
        let rho = (offset.abs() + 5.0 * scale) * 6e-8 / sigma;
        let f32_tol = 1e-4 + 100.0 * rho * (1.0 + 1.0 / sigma);
        for (dt, tol) in [(DType::F64, 1e-9), (DType::F32, f32_tol)] {
            for (got, want) in run(dt, true).iter().zip(&reference) {
                let size = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for (g, w) in got.iter().zip(want) {
                    prop_assert!((g - w).abs() <= tol * size, "{:?}: {} vs {}", dt, g, w);
                }
            }
        }
    }
}

#[test]
fn batch_norm_edge_cases() {
    // one value per channel: variance 0, the output is the bias
    let x = Tensor::from_vec(vec![3.0f64, -2.0], [1, 2]).unwrap();
    let b = Tensor::from_vec(vec![0.5f64, -0.5], [2]).unwrap();
    let (y, stats) = x.batch_norm(None, Some(&b), 1e-5).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![0.5, -0.5]);
    assert_eq!(stats.var.to_vec::<f64>().unwrap(), vec![0.0, 0.0]);
    // a NaN poisons its own channel only
    let x = Tensor::from_vec(vec![f64::NAN, 1.0, 2.0, 3.0], [2, 2]).unwrap();
    let y = x
        .batch_norm(None, None, 1e-5)
        .unwrap()
        .0
        .to_vec::<f64>()
        .unwrap();
    assert!(y[0].is_nan() && y[2].is_nan());
    assert!((y[1] + 1.0).abs() < 1e-5 && (y[3] - 1.0).abs() < 1e-5);
    // huge values stay finite
    let x = Tensor::from_vec(vec![1e150f64, -1e150], [2, 1]).unwrap();
    let y = x
        .batch_norm(None, None, 0.0)
        .unwrap()
        .0
        .to_vec::<f64>()
        .unwrap();
    assert_eq!(y, vec![1.0, -1.0]);
}

#[test]
fn cross_entropy_matches_log_softmax_nll() {
    let x = randn(&[6, 7], 120);
    let t = Tensor::from_vec(vec![0i64, 6, 3, 3, 1, 5], [6]).unwrap();
    let fused = x.cross_entropy(&t).unwrap().item().unwrap();
    let composed = x
        .log_softmax(-1)
        .unwrap()
        .nll_loss(&t, Reduction::Mean)
        .unwrap()
        .item()
        .unwrap();
    assert!((fused - composed).abs() < 1e-12);
}

#[test]
fn f32_gradients_agree_with_f64() {
    let x = randn(&[3, 4], 130);
    let w = randn(&[4, 2], 131);
    let grads = |dt: DType| {
        let xv = x.to_dtype(dt).unwrap().requires_grad_();
        let wv = w.to_dtype(dt).unwrap().requires_grad_();
        let loss = xv.matmul(&wv).unwrap().tanh().unwrap().sum_all().unwrap();
        loss.backward().unwrap();
        (
            xv.grad().unwrap().to_vec_f64(),
            wv.grad().unwrap().to_vec_f64(),
        )
    };
    let (a32, b32) = grads(DType::F32);
    let (a64, b64) = grads(DType::F64);
    for (u, v) in a32.iter().chain(&b32).zip(a64.iter().chain(&b64)) {
        assert!((u - v).abs() < 1e-5, "{u} vs {v}");
    }
}

/// `x·y` with a backward that is wrong by a factor for `x` only (`wrong_x`), or right.
struct Product {
    wrong_x: Option<f64>,
}

impl Function for Product {
    fn name(&self) -> &'static str {
        "product"
    }
    fn forward(&self, x: &[Tensor]) -> Result<Tensor> {
        x[0].mul(&x[1])
    }
    fn backward(&self, x: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let gx = g.mul(&x[1])?;
        let gx = match self.wrong_x {
            Some(factor) => gx.mul_scalar(factor)?,
            None => gx,
        };
        Ok(vec![Some(gx), Some(g.mul(&x[0])?)])
    }
}

/// gradcheck passes a correct rule and rejects one that is wrong, even slightly, naming
/// the input and the element where autograd and finite differences disagree.
#[test]
fn gradcheck_rejects_a_wrong_backward() {
    let (x, y) = (randn(&[2, 3], 140), randn(&[2, 3], 141));
    let run = |wrong_x| {
        gradcheck(
            |v| Product { wrong_x }.apply(&[v[0].clone(), v[1].clone()]),
            &[x.clone(), y.clone()],
            GradcheckOptions::default(),
        )
    };
    run(None).unwrap();
    for factor in [2.0, -1.0, 1.01, 0.0] {
        let msg = run(Some(factor)).unwrap_err().to_string();
        assert!(
            msg.starts_with("gradcheck") && msg.contains("input 0"),
            "factor {factor}: {msg}"
        );
    }
}
