//! Autograd semantics: accumulation, retain/create graph, higher derivatives, functional
//! transforms, hooks, no-grad, version counter, memory, checkpointing, anomaly detection.

use retrograd::tensor::autograd::{
    checkpoint, checkpoint_sequential, detect_anomaly, grad, grad_with, hessian, hvp, jvp, no_grad,
    vjp, BackwardOptions, Function, Segment,
};
use retrograd::tensor::{
    live_nodes, live_storage_bytes, Conv2dOptions, DType, Result, Rng, Tensor, TensorError,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

// Tests that count live nodes/bytes must not overlap with other tests of this binary.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn vec64(t: &Tensor) -> Vec<f64> {
    t.to_vec_f64()
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

#[test]
fn grads_accumulate_and_zero() {
    let _s = serial();
    let x = Tensor::from_vec(vec![1.0f64, 2.0], [2])
        .unwrap()
        .requires_grad_();
    for _ in 0..3 {
        x.mul_scalar(2.0)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
    }
    assert_eq!(vec64(&x.grad().unwrap()), vec![6.0, 6.0]);
    x.zero_grad();
    x.sum_all().unwrap().backward().unwrap();
    assert_eq!(vec64(&x.grad().unwrap()), vec![1.0, 1.0]);
}

#[test]
fn shared_subexpressions_and_diamonds() {
    let _s = serial();
    let x = Tensor::from_vec(vec![0.5f64], [1])
        .unwrap()
        .requires_grad_();
    let h = x.exp().unwrap();
    let y = h.mul(&h).unwrap().add(&h).unwrap().sum_all().unwrap(); // e^{2x} + e^x
    y.backward().unwrap();
    let e = 0.5f64.exp();
    close(&vec64(&x.grad().unwrap()), &[2.0 * e * e + e], 1e-12);
}

#[test]
fn backward_twice_needs_retain_graph() {
    let _s = serial();
    let x = Tensor::from_vec(vec![1.0f64], [1])
        .unwrap()
        .requires_grad_();
    let y = x.exp().unwrap().sum_all().unwrap();
    y.backward().unwrap();
    let err = y.backward().unwrap_err();
    assert!(matches!(err, TensorError::GraphFreed { .. }), "{err}");
    assert!(err.to_string().contains("retain_graph"));

    let y = x.exp().unwrap().sum_all().unwrap();
    let keep = BackwardOptions {
        retain_graph: true,
        ..Default::default()
    };
    x.zero_grad();
    y.backward_with(None, keep).unwrap();
    y.backward_with(None, keep).unwrap();
    close(&vec64(&x.grad().unwrap()), &[2.0 * 1f64.exp()], 1e-12);
}

#[test]
fn explicit_output_gradient() {
    let _s = serial();
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], [3])
        .unwrap()
        .requires_grad_();
    let y = x.square().unwrap();
    assert!(y.backward().is_err()); // not a scalar
    let v = Tensor::from_vec(vec![1.0f64, 0.5, 0.0], [3]).unwrap();
    y.backward_with(Some(&v), BackwardOptions::default())
        .unwrap();
    assert_eq!(vec64(&x.grad().unwrap()), vec![2.0, 2.0, 0.0]);
}

#[test]
fn no_grad_and_detach() {
    let _s = serial();
    let x = Tensor::ones([2], DType::F32).requires_grad_();
    let y = no_grad(|| x.exp().unwrap());
    assert!(!y.requires_grad() && y.is_leaf());
    let z = x
        .exp()
        .unwrap()
        .detach()
        .mul(&x)
        .unwrap()
        .sum_all()
        .unwrap();
    z.backward().unwrap();
    close(&vec64(&x.grad().unwrap()), &[1f64.exp(), 1f64.exp()], 1e-6);
    let c = Tensor::ones([2], DType::F32).exp().unwrap();
    assert!(matches!(c.backward(), Err(TensorError::NoGradient { .. })));
}

#[test]
fn second_derivatives_and_functional_api() {
    let _s = serial();
    let x = Tensor::from_vec(vec![0.3f64, -0.7], [2]).unwrap();
    // f = Σ sin(x) x²
    let f = |x: &Tensor| x.sin()?.mul(&x.square()?)?.sum_all();
    let g = grad(|v| f(&v[0]), std::slice::from_ref(&x)).unwrap();
    let want: Vec<f64> = vec64(&x)
        .iter()
        .map(|v| v.cos() * v * v + 2.0 * v * v.sin())
        .collect();
    close(&vec64(&g[0]), &want, 1e-12);
    let h = hessian(f, &x).unwrap();
    let d2 = |v: f64| -v.sin() * v * v + 4.0 * v * v.cos() + 2.0 * v.sin();
    let xs = vec64(&x);
    close(&vec64(&h), &[d2(xs[0]), 0.0, 0.0, d2(xs[1])], 1e-10);
    let v = Tensor::from_vec(vec![1.0f64, 2.0], [2]).unwrap();
    let (_, hv) = hvp(
        |t| f(&t[0]),
        std::slice::from_ref(&x),
        std::slice::from_ref(&v),
    )
    .unwrap();
    close(&vec64(&hv[0]), &[d2(xs[0]), 2.0 * d2(xs[1])], 1e-10);
    // jvp / vjp of an elementwise map: J = diag(cos x)
    let (_, jv) = jvp(
        |t| t[0].sin(),
        std::slice::from_ref(&x),
        std::slice::from_ref(&v),
    )
    .unwrap();
    close(&vec64(&jv), &[xs[0].cos(), 2.0 * xs[1].cos()], 1e-12);
    let (_, vj) = vjp(|t| t[0].sin(), std::slice::from_ref(&x), &v).unwrap();
    close(&vec64(&vj[0]), &[xs[0].cos(), 2.0 * xs[1].cos()], 1e-12);
}

/// The Hessian of a small tanh network with respect to its first-layer weights, against
/// finite differences of its gradient.
#[test]
fn hessian_of_tanh_network_matches_finite_differences() {
    let _s = serial();
    let mut rng = Rng::new(11);
    let x = Tensor::randn([5, 3], 0.0, 1.0, DType::F64, &mut rng);
    let w2 = Tensor::randn([4, 2], 0.0, 1.0, DType::F64, &mut rng);
    let t = Tensor::from_vec(vec![0i64, 1, 1, 0, 1], [5]).unwrap();
    let w1 = Tensor::randn([3, 4], 0.0, 0.5, DType::F64, &mut rng);
    let loss = move |w: &Tensor| -> Result<Tensor> {
        let w = w.reshape([3, 4])?;
        x.matmul(&w)?.tanh()?.matmul(&w2)?.cross_entropy(&t)
    };
    let flat = w1.reshape([12]).unwrap();
    let h = hessian(&loss, &flat).unwrap();
    assert_eq!(h.dims(), &[12, 12]);
    let hv = vec64(&h);
    let gradient = |p: &[f64]| -> Vec<f64> {
        let pt = Tensor::from_vec(p.to_vec(), [12]).unwrap();
        vec64(&grad(|v| loss(&v[0]), &[pt]).unwrap()[0])
    };
    let base = vec64(&flat);
    let eps = 1e-5;
    for i in 0..12 {
        let (mut a, mut b) = (base.clone(), base.clone());
        a[i] += eps;
        b[i] -= eps;
        let (ga, gb) = (gradient(&a), gradient(&b));
        for j in 0..12 {
            let fd = (ga[j] - gb[j]) / (2.0 * eps);
            assert!(
                (fd - hv[j * 12 + i]).abs() < 1e-6,
                "H[{j},{i}] {} vs {fd}",
                hv[j * 12 + i]
            );
        }
    }
    // symmetric
    for i in 0..12 {
        for j in 0..12 {
            assert!((hv[i * 12 + j] - hv[j * 12 + i]).abs() < 1e-10);
        }
    }
}

#[test]
fn create_graph_through_conv_and_pool() {
    let _s = serial();
    // grad-of-grad through conv2d + max_pool2d: d/dw of ||dL/dx||², checked by finite differences.
    let mut rng = Rng::new(3);
    let x0 = Tensor::randn([1, 2, 5, 5], 0.0, 1.0, DType::F64, &mut rng);
    let w0 = Tensor::randn([3, 2, 3, 3], 0.0, 1.0, DType::F64, &mut rng);
    let penalty = |w: &Tensor| -> Result<Tensor> {
        let x = x0.detach().requires_grad_();
        let y = x.conv2d(
            w,
            None,
            Conv2dOptions {
                padding: (1, 1),
                ..Default::default()
            },
        )?;
        let l = y.tanh()?.max_pool2d((2, 2), (2, 2), (0, 0))?.sum_all()?;
        let opts = BackwardOptions {
            create_graph: true,
            retain_graph: true,
        };
        let gx = grad_with(&[&l], &[], &[&x], opts)?.remove(0);
        gx.square()?.sum_all()
    };
    retrograd::tensor::gradcheck(|v| penalty(&v[0]), &[w0], Default::default()).unwrap();
}

#[test]
fn hooks_see_and_replace_gradients() {
    let _s = serial();
    let x = Tensor::from_vec(vec![1.0f64, 2.0], [2])
        .unwrap()
        .requires_grad_();
    let h = x.mul_scalar(3.0).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    h.register_hook(move |g| {
        s2.fetch_add(1, Ordering::SeqCst);
        Some(g.mul_scalar(0.0).unwrap().add_scalar(1.0).unwrap())
    });
    h.sum_all()
        .unwrap()
        .mul_scalar(5.0)
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert_eq!(vec64(&x.grad().unwrap()), vec![3.0, 3.0]);
}

#[test]
fn modifying_a_saved_tensor_is_an_error_naming_the_op() {
    let _s = serial();
    let w = Tensor::from_vec(vec![1.0f64, 2.0], [2])
        .unwrap()
        .requires_grad_();
    let x = Tensor::from_vec(vec![3.0f64, 4.0], [2]).unwrap();
    let y = w.mul(&x).unwrap().sum_all().unwrap();
    x.fill_(0.0).unwrap(); // x was saved by mul
    let err = y.backward().unwrap_err();
    assert!(
        matches!(err, TensorError::ModifiedInPlace { op: "mul", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("mul"));
    // a tensor that no rule reads may change freely
    let a = Tensor::from_vec(vec![1.0f64], [1]).unwrap();
    let y = w
        .narrow(0, 0, 1)
        .unwrap()
        .add(&a)
        .unwrap()
        .sum_all()
        .unwrap();
    a.fill_(5.0).unwrap();
    y.backward().unwrap();
    // writes to parameters while recording are refused
    assert!(w.fill_(0.0).is_err());
    no_grad(|| w.fill_(0.0)).unwrap();
    let y = w.sin().unwrap().sum_all().unwrap();
    no_grad(|| w.add_scaled_(&Tensor::ones([2], DType::F64), 1.0)).unwrap();
    assert!(matches!(
        y.backward(),
        Err(TensorError::ModifiedInPlace { op: "sin", .. })
    ));
}

#[test]
fn memory_returns_to_baseline() {
    let _s = serial();
    let mut rng = Rng::new(5);
    let w = Tensor::randn([16, 8], 0.0, 0.3, DType::F32, &mut rng).requires_grad_();
    let b = Tensor::zeros([8], DType::F32).requires_grad_();
    let x = Tensor::randn([32, 16], 0.0, 1.0, DType::F32, &mut rng);
    let t = Tensor::from_vec((0..32).map(|i| i % 8).collect::<Vec<i64>>(), [32]).unwrap();
    let step = || {
        let loss = x
            .matmul(&w)
            .unwrap()
            .add(&b)
            .unwrap()
            .relu()
            .unwrap()
            .cross_entropy(&t)
            .unwrap();
        loss.backward().unwrap();
        no_grad(|| {
            for p in [&w, &b] {
                p.add_scaled_(&p.grad().unwrap(), -0.01).unwrap();
                p.zero_grad();
            }
        });
    };
    step();
    let (nodes, bytes) = (live_nodes(), live_storage_bytes());
    for _ in 0..200 {
        step();
    }
    assert_eq!(live_nodes(), nodes);
    assert_eq!(live_storage_bytes(), bytes);
    // a graph dropped without backward is freed too
    for _ in 0..50 {
        let _loss = x.matmul(&w).unwrap().tanh().unwrap().sum_all().unwrap();
    }
    assert_eq!(live_nodes(), nodes);
    assert_eq!(live_storage_bytes(), bytes);
}

#[test]
fn checkpoint_matches_plain_and_recomputes() {
    let _s = serial();
    let mut rng = Rng::new(9);
    let x = Tensor::randn([4, 6], 0.0, 1.0, DType::F64, &mut rng).requires_grad_();
    let w = Tensor::randn([6, 6], 0.0, 0.5, DType::F64, &mut rng).requires_grad_();
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let block = move |v: &[Tensor]| -> Result<Tensor> {
        c2.fetch_add(1, Ordering::SeqCst);
        v[0].matmul(&v[1])?.tanh()?.matmul(&v[1])?.sigmoid()
    };
    let y = checkpoint(block.clone(), &[x.clone(), w.clone()]).unwrap();
    y.sum_all().unwrap().backward().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2); // forward + recompute
    let (gx, gw) = (vec64(&x.grad().unwrap()), vec64(&w.grad().unwrap()));
    x.zero_grad();
    w.zero_grad();
    block(&[x.clone(), w.clone()])
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    close(&gx, &vec64(&x.grad().unwrap()), 1e-12);
    close(&gw, &vec64(&w.grad().unwrap()), 1e-12);

    // sequential: same gradient as running the chain plainly
    let fs: Vec<Segment> = (0..6)
        .map(|i| Arc::new(move |h: &Tensor| h.mul_scalar(1.0 + 0.1 * i as f64)?.tanh()) as Segment)
        .collect();
    x.zero_grad();
    checkpoint_sequential(&fs, 3, &x)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g1 = vec64(&x.grad().unwrap());
    x.zero_grad();
    let mut h = x.clone();
    for f in &fs {
        h = f(&h).unwrap();
    }
    h.sum_all().unwrap().backward().unwrap();
    close(&g1, &vec64(&x.grad().unwrap()), 1e-12);
}

#[test]
fn checkpointed_layers_give_their_captured_weights_gradients() {
    let _s = serial();
    let mut rng = Rng::new(3);
    // The input does not require grad: only the weights the segments capture do.
    let x = Tensor::randn([5, 4], 0.0, 1.0, DType::F64, &mut rng);
    let weights: Vec<Tensor> = (0..4)
        .map(|_| Tensor::randn([4, 4], 0.0, 0.5, DType::F64, &mut rng).requires_grad_())
        .collect();
    let layers: Vec<Segment> = weights
        .iter()
        .map(|w| {
            let w = w.clone();
            Arc::new(move |h: &Tensor| h.matmul(&w)?.tanh()) as Segment
        })
        .collect();
    let plain = |h: &Tensor| -> Result<Tensor> { layers.iter().try_fold(h.clone(), |h, f| f(&h)) };
    let loss = |out: Tensor| out.square().unwrap().sum_all().unwrap();

    loss(plain(&x).unwrap()).backward().unwrap();
    let expected: Vec<Vec<f64>> = weights.iter().map(|w| vec64(&w.grad().unwrap())).collect();
    for w in &weights {
        w.zero_grad();
    }
    loss(checkpoint_sequential(&layers, 2, &x).unwrap())
        .backward()
        .unwrap();
    for (w, e) in weights.iter().zip(&expected) {
        close(
            &vec64(&w.grad().expect("captured weights get gradients")),
            e,
            1e-12,
        );
    }
    // Returned rather than accumulated, too.
    let refs: Vec<&Tensor> = weights.iter().collect();
    let y = loss(checkpoint_sequential(&layers, 2, &x).unwrap());
    let gs = grad_with(&[&y], &[], &refs, BackwardOptions::default()).unwrap();
    for (g, e) in gs.iter().zip(&expected) {
        close(&vec64(g), e, 1e-12);
    }
}

#[test]
fn checkpoint_supports_second_derivatives() {
    let _s = serial();
    let x = Tensor::from_vec(vec![0.4f64, -0.2], [2]).unwrap();
    let plain = hessian(|t| t.tanh()?.exp()?.sum_all(), &x).unwrap();
    let ckpt = hessian(
        |t| checkpoint(|v| v[0].tanh()?.exp(), std::slice::from_ref(t))?.sum_all(),
        &x,
    )
    .unwrap();
    close(&vec64(&ckpt), &vec64(&plain), 1e-12);
}

#[test]
fn anomaly_detection_names_the_op_in_forward_and_backward() {
    let _s = serial();
    let x = Tensor::from_vec(vec![0.0f64, 1.0], [2])
        .unwrap()
        .requires_grad_();
    // forward: log(0) = -inf
    let err = detect_anomaly(|| x.log().map(|_| ())).unwrap_err();
    assert!(
        matches!(
            err,
            TensorError::NonFinite {
                op: "log",
                phase: "forward",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("tensor_autograd.rs"), "{err}");
    // backward: sqrt is finite at 0 but its derivative is not
    let err = detect_anomaly(|| -> Result<()> { x.sqrt()?.sum_all()?.backward() }).unwrap_err();
    assert!(
        matches!(
            err,
            TensorError::NonFinite {
                op: "sqrt",
                phase: "backward",
                ..
            }
        ),
        "{err}"
    );
    // without the scope nothing is checked
    assert!(x.log().is_ok());
}

#[test]
fn custom_function_with_second_derivative() {
    let _s = serial();
    struct Softsign;
    impl Function for Softsign {
        fn name(&self) -> &'static str {
            "softsign"
        }
        fn forward(&self, x: &[Tensor]) -> Result<Tensor> {
            x[0].div(&x[0].abs()?.add_scalar(1.0)?)
        }
        fn backward(&self, x: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
            // d/dx x/(1+|x|) = 1/(1+|x|)²
            Ok(vec![Some(g.div(&x[0].abs()?.add_scalar(1.0)?.square()?)?)])
        }
    }
    let x = Tensor::from_vec(vec![0.5f64, -1.5], [2]).unwrap();
    retrograd::tensor::gradcheck(
        |v| Softsign.apply(v),
        std::slice::from_ref(&x),
        Default::default(),
    )
    .unwrap();
    let h = hessian(|t| Softsign.apply(std::slice::from_ref(t))?.sum_all(), &x).unwrap();
    let d2 = |v: f64| -2.0 * v.signum() / (1.0 + v.abs()).powi(3);
    close(&vec64(&h), &[d2(0.5), 0.0, 0.0, d2(-1.5)], 1e-10);
    let y = Softsign.apply(&[x.requires_grad_()]).unwrap();
    assert_eq!(y.op_name(), Some("softsign"));
}

#[test]
fn retain_grad_on_intermediate() {
    let _s = serial();
    let x = Tensor::from_vec(vec![2.0f64], [1])
        .unwrap()
        .requires_grad_();
    let h = x.square().unwrap();
    h.retain_grad();
    h.mul_scalar(3.0)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(vec64(&h.grad().unwrap()), vec![3.0]);
    assert_eq!(vec64(&x.grad().unwrap()), vec![12.0]);
}

#[test]
fn nan_in_untaken_where_branch_does_not_leak() {
    let _s = serial();
    let x = Tensor::from_vec(vec![-1.0f64, 4.0], [2])
        .unwrap()
        .requires_grad_();
    let pos = x.gt_scalar(0.0).unwrap();
    let safe = pos.where_cond(&x, &Tensor::ones_like(&x)).unwrap();
    let y = pos
        .where_cond(&safe.sqrt().unwrap(), &Tensor::zeros_like(&x))
        .unwrap();
    y.sum_all().unwrap().backward().unwrap();
    assert_eq!(vec64(&x.grad().unwrap()), vec![0.0, 0.25]);
    // abs at its kink: subgradient 0
    let z = Tensor::zeros([1], DType::F64).requires_grad_();
    z.abs().unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(vec64(&z.grad().unwrap()), vec![0.0]);
}

#[test]
fn long_chains_drop_and_backward_without_recursion() {
    let _s = serial();
    let x = Tensor::from_vec(vec![1.0f64], [1])
        .unwrap()
        .requires_grad_();
    let nodes = live_nodes();
    let chain = |n: usize| {
        let mut h = x.clone();
        for _ in 0..n {
            h = h.mul_scalar(1.0).unwrap();
        }
        h
    };
    drop(chain(200_000)); // dropped without backward
    assert_eq!(live_nodes(), nodes);
    chain(200_000).sum_all().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().item().unwrap(), 1.0);
    assert_eq!(live_nodes(), nodes);
}

#[test]
fn tensors_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Tensor>();
    let w = Tensor::ones([4], DType::F32).requires_grad_();
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let w = w.clone();
            std::thread::spawn(move || {
                w.mul_scalar(i as f64)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .item()
                    .unwrap()
            })
        })
        .collect();
    let sums: Vec<f64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(sums, vec![0.0, 4.0]);
}

// Post-accumulate hooks: each leaf's call comes once per backward, after every path into
// it was summed, in the order the sweep finishes the leaves (last used first).
/// What the hooks saw: the leaf's name and its gradient.
type HookLog = Arc<Mutex<Vec<(&'static str, Vec<f64>)>>>;

#[test]
fn post_accumulate_hooks_see_final_gradients_in_reverse_use_order() {
    let w1 = Tensor::from_vec(vec![1.0f64, 2.0], [2])
        .unwrap()
        .requires_grad_();
    let w2 = Tensor::from_vec(vec![3.0f64, -1.0], [2])
        .unwrap()
        .requires_grad_();
    let log: HookLog = Arc::default();
    for (name, w) in [("w1", &w1), ("w2", &w2)] {
        let log = log.clone();
        w.register_post_accumulate_grad_hook(move |t| {
            let g = t.grad().unwrap().to_vec::<f64>().unwrap();
            log.lock().unwrap().push((name, g));
        })
        .unwrap();
    }
    // y = Σ (w1·w1 + w1)·w2 uses w1 on three paths; dy/dw1 = (2 w1 + 1)·w2, dy/dw2 = w1² + w1
    let h = w1.mul(&w1).unwrap().add(&w1).unwrap();
    let y = h.mul(&w2).unwrap().sum_all().unwrap();
    y.backward().unwrap();
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one call per leaf: {seen:?}");
    assert_eq!(seen[0], ("w2", vec![2.0, 6.0]));
    assert_eq!(seen[1], ("w1", vec![9.0, -5.0]));

    // A second backward accumulates: the hook sees the sum; grad_with calls no hook.
    let y = w2.mul_scalar(2.0).unwrap().sum_all().unwrap();
    y.backward().unwrap();
    assert_eq!(log.lock().unwrap().last().unwrap(), &("w2", vec![4.0, 8.0]));
    let y = w1.sum_all().unwrap();
    grad_with(&[&y], &[], &[&w1], BackwardOptions::default()).unwrap();
    assert_eq!(log.lock().unwrap().len(), 3);

    w1.clear_post_accumulate_grad_hooks();
    w1.sum_all().unwrap().backward().unwrap();
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[test]
fn post_accumulate_hooks_only_on_leaves_that_require_grad() {
    let c = Tensor::ones([2], DType::F32);
    let err = c.register_post_accumulate_grad_hook(|_| {}).unwrap_err();
    assert!(err.to_string().contains("does not require grad"), "{err}");
    let w = Tensor::ones([2], DType::F32).requires_grad_();
    let err = w.exp().unwrap().register_post_accumulate_grad_hook(|_| {});
    assert!(err.unwrap_err().to_string().contains("result of an op"));
}
