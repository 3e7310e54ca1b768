//! Second derivatives of every op family: the gradient, computed with `create_graph`, is
//! itself checked against finite differences. This is what makes Hessians, Hessian-vector
//! products and gradient penalties trustworthy.

use retrograd::tensor::autograd::{grad_with, BackwardOptions};
use retrograd::tensor::{gradcheck, Conv2dOptions, DType, GradcheckOptions, Result, Rng, Tensor};

fn randn(dims: &[usize], seed: u64) -> Tensor {
    Tensor::randn(dims, 0.0, 1.0, DType::F64, &mut Rng::new(seed))
}

fn positive(dims: &[usize], seed: u64) -> Tensor {
    Tensor::rand(dims, 0.5, 2.0, DType::F64, &mut Rng::new(seed))
}

/// Checks the map `x ↦ ∂/∂x Σ w·f(x)` (all float inputs, flattened and concatenated).
fn check2(f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor]) {
    let g = |xs: &[Tensor]| -> Result<Tensor> {
        let y = f(xs)?;
        let w = Tensor::randn(y.dims(), 0.0, 1.0, DType::F64, &mut Rng::new(77));
        let l = y.mul(&w)?.sum_all()?;
        let wrt: Vec<&Tensor> = xs.iter().filter(|x| x.dtype().is_float()).collect();
        let opts = BackwardOptions {
            create_graph: true,
            retain_graph: true,
        };
        let gs = grad_with(&[&l], &[], &wrt, opts)?;
        let flat = gs
            .iter()
            .map(|g| g.reshape([g.elem_count()]))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&flat, 0)
    };
    let opts = GradcheckOptions {
        eps: 1e-5,
        atol: 1e-5,
        rtol: 1e-4,
    };
    gradcheck(g, inputs, opts).unwrap();
}

fn one(t: &Tensor) -> &[Tensor] {
    std::slice::from_ref(t)
}

#[test]
fn unary() {
    let x = randn(&[2, 3], 1);
    let p = positive(&[2, 3], 2);
    check2(|v| v[0].exp(), one(&x));
    check2(|v| v[0].log(), one(&p));
    check2(|v| v[0].sqrt(), one(&p));
    check2(|v| v[0].sin(), one(&x));
    check2(|v| v[0].cos(), one(&x));
    check2(|v| v[0].tanh(), one(&x));
    check2(|v| v[0].sigmoid(), one(&x));
    check2(|v| v[0].gelu(), one(&x));
    check2(|v| v[0].silu(), one(&x));
    check2(|v| v[0].softplus(), one(&x));
    check2(|v| v[0].erf(), one(&x));
    check2(|v| v[0].recip(), one(&p));
    check2(|v| v[0].powf(3.5), one(&p));
    check2(|v| v[0].relu()?.square(), one(&x));
    check2(|v| v[0].leaky_relu(0.2)?.square(), one(&x));
    check2(|v| v[0].abs()?.powf(3.0), one(&x));
}

#[test]
fn binary_and_reductions() {
    let a = randn(&[2, 3], 3);
    let b = randn(&[3], 4);
    let pa = positive(&[2, 3], 5);
    let pb = positive(&[3], 6);
    check2(|v| v[0].mul(&v[1]), &[a.clone(), b.clone()]);
    check2(|v| v[0].div(&v[1]), &[a.clone(), pb.clone()]);
    check2(|v| v[0].pow(&v[1]), &[pa.clone(), b.clone()]);
    check2(|v| v[0].maximum(&v[1])?.square(), &[a.clone(), b.clone()]);
    check2(|v| v[0].square()?.sum(0, false), one(&a));
    check2(|v| v[0].square()?.mean(1, true), one(&a));
    check2(|v| v[0].square()?.max(1, false), one(&a));
    check2(|v| v[0].var(1, false, true), one(&a));
    check2(|v| v[0].logsumexp(-1, false), one(&a));
}

#[test]
fn matmul_conv_pool() {
    let a = randn(&[2, 3, 4], 7);
    let b = randn(&[4, 2], 8);
    check2(|v| v[0].matmul(&v[1])?.tanh(), &[a.clone(), b.clone()]);
    let x = randn(&[1, 2, 5, 4], 9);
    let w = randn(&[2, 1, 2, 2], 10);
    let opts = Conv2dOptions {
        padding: (1, 0),
        groups: 2,
        ..Default::default()
    };
    check2(|v| v[0].conv2d(&v[1], None, opts)?.tanh(), &[x.clone(), w]);
    check2(|v| v[0].tanh()?.max_pool2d((2, 2), (1, 2), (0, 0)), one(&x));
    check2(|v| v[0].tanh()?.avg_pool2d((2, 2), (1, 1), (1, 1)), one(&x));
}

#[test]
fn nn_and_indexing() {
    let x = randn(&[3, 4], 11);
    let t = Tensor::from_vec(vec![1i64, 3, 0], [3]).unwrap();
    check2(|v| v[0].softmax(-1), one(&x));
    check2(|v| v[0].log_softmax(0), one(&x));
    check2(|v| v[0].cross_entropy(&t), one(&x));
    check2(
        |v| v[0].tanh()?.mse_loss(&Tensor::zeros([3, 4], DType::F64)),
        one(&x),
    );
    let idx = Tensor::from_vec(vec![2i64, 0, 2], [3]).unwrap();
    check2(|v| v[0].index_select(0, &idx)?.square(), one(&x));
    let g = Tensor::from_vec(vec![3i64, 0, 1], [3, 1]).unwrap();
    check2(|v| v[0].gather(1, &g)?.exp(), one(&x));
    check2(|v| Tensor::cat(&[v[0].square()?, v[0].sin()?], 1), one(&x));
    check2(|v| v[0].narrow(1, 1, 2)?.t()?.square(), one(&x));
}

#[test]
fn batch_norm() {
    let (x, w, b) = (randn(&[3, 2, 2], 60), randn(&[2], 61), randn(&[2], 62));
    check2(
        |v| Ok(v[0].batch_norm(Some(&v[1]), Some(&v[2]), 1e-3)?.0),
        &[x.clone(), w, b],
    );
    check2(|v| Ok(v[0].batch_norm(None, None, 1e-3)?.0), one(&x));
}
