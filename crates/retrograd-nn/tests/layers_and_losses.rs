//! Layers and losses: values by hand, gradients against finite differences, modes.

use retrograd::tensor::{gradcheck, DType, GradcheckOptions, Tensor};
use retrograd_nn::layers::{
    AvgPool2d, BatchNorm, Conv2d, Dropout, Embedding, Flatten, Gelu, LayerNorm, Linear, MaxPool2d,
    Module, Relu, Sequential, Sigmoid, Silu, Tanh,
};
use retrograd_nn::loss;
use retrograd_nn::optim::Lbfgs;
use retrograd_nn::Rng;

fn t32(v: &[f32], dims: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), dims.to_vec()).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>().unwrap()
}

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
    }
}

#[test]
fn linear_computes_x_wt_plus_b_and_is_seeded() {
    let l = Linear::new(2, 2, &mut Rng::new(5)).unwrap();
    let w = values(&l.weight);
    let x = t32(&[1.0, 2.0], &[1, 2]);
    let y = values(&l.forward(&x).unwrap());
    close(&y, &[w[0] + 2.0 * w[1], w[2] + 2.0 * w[3]], 1e-6);
    let again = Linear::new(2, 2, &mut Rng::new(5)).unwrap();
    assert_eq!(values(&again.weight), w);
}

#[test]
fn activations_by_value() {
    let x = t32(&[-1.0, 0.0, 1.0], &[3]);
    close(&values(&Relu.forward(&x).unwrap()), &[0.0, 0.0, 1.0], 0.0);
    close(
        &values(&Tanh.forward(&x).unwrap()),
        &[-0.761_594_2, 0.0, 0.761_594_2],
        1e-6,
    );
    close(
        &values(&Sigmoid.forward(&x).unwrap()),
        &[0.268_941_4, 0.5, 0.731_058_6],
        1e-6,
    );
    close(
        &values(&Silu.forward(&x).unwrap()),
        &[-0.268_941_4, 0.0, 0.731_058_6],
        1e-6,
    );
    close(
        &values(&Gelu.forward(&x).unwrap()),
        &[-0.158_655_3, 0.0, 0.841_344_7],
        1e-4,
    );
}

#[test]
fn conv_and_pooling_by_value() {
    let c = Conv2d::new(1, 1, 3, 1, &mut Rng::new(0)).unwrap();
    c.weight.set_requires_grad(false).unwrap();
    c.weight.fill_(1.0).unwrap();
    let x = Tensor::ones([1, 1, 3, 3], DType::F32);
    // with padding 1, the centre sees all 9 ones, a corner 4
    let y = values(&c.forward(&x).unwrap());
    assert_eq!((y[4], y[0]), (9.0, 4.0));
    let x = t32(
        &(0..16).map(|v| v as f32).collect::<Vec<_>>(),
        &[1, 1, 4, 4],
    );
    assert_eq!(
        values(&MaxPool2d::new(2).forward(&x).unwrap()),
        vec![5.0, 7.0, 13.0, 15.0]
    );
    assert_eq!(
        values(&AvgPool2d::new(2).forward(&x).unwrap()),
        vec![2.5, 4.5, 10.5, 12.5]
    );
    assert_eq!(Flatten.forward(&x).unwrap().dims(), &[1, 16]);
}

/// The cnn model pools before its ReLU (a quarter of the elements through the ReLU): the
/// two orders give the same values and the same gradients, ties, zeros and all-negative
/// windows included.
#[test]
fn max_pool_and_relu_commute_with_their_gradients() {
    let mut rng = Rng::new(3);
    // Values on a coarse grid, so that windows hold ties and exact zeros.
    let v: Vec<f32> = (0..2 * 3 * 6 * 6)
        .map(|_| (rng.next_u64() % 7) as f32 - 4.0)
        .collect();
    let g: Vec<f32> = (0..2 * 3 * 3 * 3)
        .map(|_| (rng.next_u64() % 5) as f32 - 2.0)
        .collect();
    let run = |pool_first: bool| {
        let x = t32(&v, &[2, 3, 6, 6]).requires_grad_();
        let pool = MaxPool2d::new(2);
        let y = if pool_first {
            Relu.forward(&pool.forward(&x).unwrap()).unwrap()
        } else {
            pool.forward(&Relu.forward(&x).unwrap()).unwrap()
        };
        y.backward_with(Some(&t32(&g, &[2, 3, 3, 3])), Default::default())
            .unwrap();
        (values(&y), values(&x.grad().unwrap()))
    };
    let (y_pool_first, g_pool_first) = run(true);
    assert!(
        y_pool_first.contains(&0.0),
        "a window without positive values"
    );
    assert_eq!(run(false), (y_pool_first, g_pool_first));
}

#[test]
fn batch_norm_running_statistics_and_eval_mode() {
    let mut bn = BatchNorm::new_2d(2).unwrap();
    let mut rng = Rng::new(1);
    // The running statistics by hand (momentum 0.1, unbiased batch variance), from the
    // initial mean 0 and variance 1.
    let (mut want_mean, mut want_var) = ([0.0f64; 2], [1.0f64; 2]);
    // channel 0 ~ N(3, 4), channel 1 ~ N(-1, 0.25)
    for _ in 0..200 {
        let mut v = Vec::new();
        for _n in 0..8 {
            v.extend((0..4).map(|_| 3.0 + 2.0 * rng.normal() as f32));
            v.extend((0..4).map(|_| -1.0 + 0.5 * rng.normal() as f32));
        }
        for c in 0..2 {
            let xs: Vec<f64> = v
                .chunks(4)
                .skip(c)
                .step_by(2)
                .flatten()
                .map(|&x| x as f64)
                .collect();
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
            want_mean[c] = 0.9 * want_mean[c] + 0.1 * mean;
            want_var[c] = 0.9 * want_var[c] + 0.1 * var;
        }
        let y = bn.forward(&t32(&v, &[8, 2, 2, 2])).unwrap();
        // training mode: each channel of the batch is standardised
        let y = values(&y);
        let ch0: Vec<f32> = y.chunks(4).step_by(2).flatten().copied().collect();
        let mean = ch0.iter().sum::<f32>() / ch0.len() as f32;
        assert!(mean.abs() < 1e-4);
    }
    let rm = values(&bn.running_mean);
    let rv = values(&bn.running_var);
    // Exactly the averages of the batches seen: fails if either statistic is not updated,
    // or updated with another momentum or the biased variance.
    close(&rm, &[want_mean[0] as f32, want_mean[1] as f32], 1e-4);
    close(&rv, &[want_var[0] as f32, want_var[1] as f32], 1e-4);
    // ... and near the distribution's moments.
    close(&rm, &[3.0, -1.0], 0.3);
    close(&rv, &[4.0, 0.25], 0.8);
    bn.set_training(false);
    let y = values(
        &bn.forward(&t32(
            &[3.0, 3.0, 3.0, 3.0, -1.0, -1.0, -1.0, -1.0],
            &[1, 2, 2, 2],
        ))
        .unwrap(),
    );
    let expect0 = (3.0 - rm[0]) / (rv[0] + 1e-5).sqrt();
    close(&y[..1], &[expect0], 1e-5);
    let names: Vec<String> = bn.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["running_mean", "running_var"]);
    assert!(bn.forward(&Tensor::ones([2, 3], DType::F32)).is_err());
}

#[test]
fn layer_norm_standardises_rows() {
    let ln = LayerNorm::new(4).unwrap();
    let y = values(
        &ln.forward(&t32(&[1.0, 2.0, 3.0, 4.0, -5.0, 0.0, 5.0, 10.0], &[2, 4]))
            .unwrap(),
    );
    for row in y.chunks(4) {
        let mean = row.iter().sum::<f32>() / 4.0;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3, "{row:?}");
    }
}

#[test]
fn dropout_is_reproducible_and_off_in_eval() {
    let x = Tensor::ones([64], DType::F32);
    let mut a = Dropout::new(0.3, 1).unwrap();
    let first = values(&a.forward(&x).unwrap());
    a.reseed(1);
    assert_eq!(values(&a.forward(&x).unwrap()), first);
    let mut net = Sequential::new().add(Dropout::new(0.5, 2).unwrap());
    net.set_training(false);
    assert_eq!(values(&net.forward(&x).unwrap()), vec![1.0; 64]);
}

#[test]
fn embedding_gradient_accumulates_repeated_ids() {
    let e = Embedding::new(3, 2, &mut Rng::new(0)).unwrap();
    let ids = Tensor::from_vec(vec![2i64, 0, 2], [3]).unwrap();
    e.forward(&ids)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(
        values(&e.weight.grad().unwrap()),
        vec![1.0, 1.0, 0.0, 0.0, 2.0, 2.0]
    );
    assert!(e.forward(&Tensor::zeros([2], DType::F32)).is_err());
}

fn check(f: impl Fn(&[Tensor]) -> retrograd::tensor::Result<Tensor>, inputs: &[Tensor]) {
    gradcheck(f, inputs, GradcheckOptions::default()).unwrap();
}

fn nn(e: retrograd_nn::NnError) -> retrograd::tensor::TensorError {
    match e {
        retrograd_nn::NnError::Tensor(t) => t,
        other => panic!("{other}"),
    }
}

#[test]
fn loss_gradients_match_finite_differences() {
    let x = Tensor::from_vec(vec![0.3f64, -1.7, 2.2, 0.05, -0.4, 1.1], [2, 3]).unwrap();
    let y = Tensor::from_vec(vec![0.0f64, 0.5, 1.0, 1.0, 0.2, 0.0], [2, 3]).unwrap();
    let classes = Tensor::from_vec(vec![2i64, 0], [2]).unwrap();
    check(
        |v| loss::mse(&v[0], &v[1]).map_err(nn),
        &[x.clone(), y.clone()],
    );
    check(
        |v| loss::l1(&v[0], &v[1]).map_err(nn),
        &[x.clone(), y.clone()],
    );
    check(
        |v| loss::huber(&v[0], &v[1], 1.0).map_err(nn),
        &[x.clone(), y.clone()],
    );
    check(
        |v| loss::bce_with_logits(&v[0], &v[1]).map_err(nn),
        &[x.clone(), y.clone()],
    );
    check(
        |v| loss::cross_entropy(&v[0], &classes, 0.0).map_err(nn),
        std::slice::from_ref(&x),
    );
    check(
        |v| loss::cross_entropy(&v[0], &classes, 0.2).map_err(nn),
        std::slice::from_ref(&x),
    );
    check(
        |v| loss::nll(&v[0].log_softmax(-1)?, &classes).map_err(nn),
        std::slice::from_ref(&x),
    );
}

#[test]
fn label_smoothing_by_hand() {
    let logits = Tensor::from_vec(vec![2.0f64, 0.0, 0.0], [1, 3]).unwrap();
    let t = Tensor::from_vec(vec![0i64], [1]).unwrap();
    let z = (2f64.exp() + 2.0).ln();
    let logp = [2.0 - z, -z, -z];
    let eps = 0.3;
    let expect = -(1.0 - eps) * logp[0] - eps * logp.iter().sum::<f64>() / 3.0;
    let got = loss::cross_entropy(&logits, &t, eps)
        .unwrap()
        .item()
        .unwrap();
    assert!((got - expect).abs() < 1e-12, "{got} vs {expect}");
    assert!(loss::cross_entropy(&logits, &t, 1.5).is_err());
}

#[test]
fn bce_is_stable_for_large_logits() {
    let x = Tensor::from_vec(vec![-1000.0f32, 1000.0], [2]).unwrap();
    let t = Tensor::from_vec(vec![0.0f32, 1.0], [2]).unwrap();
    assert_eq!(loss::bce_with_logits(&x, &t).unwrap().item().unwrap(), 0.0);
}

/// Full-batch softmax regression on 300 digits with L-BFGS fits the training set.
#[test]
fn lbfgs_fits_softmax_regression() {
    let d = retrograd_nn::data::digits().unwrap().take(300);
    let mut feats = d.features.clone();
    feats.iter_mut().for_each(|v| *v /= 16.0);
    let x = Tensor::from_vec(feats, [300, 64]).unwrap();
    let y = Tensor::from_vec(
        d.labels.iter().map(|&l| l as i64).collect::<Vec<_>>(),
        [300],
    )
    .unwrap();
    let model = Linear::new(64, 10, &mut Rng::new(0)).unwrap();
    let params: Vec<Tensor> = model.parameters().into_iter().map(|(_, t)| t).collect();
    let start = loss::cross_entropy(&model.forward(&x).unwrap(), &y, 0.0)
        .unwrap()
        .item()
        .unwrap();
    let report = Lbfgs {
        max_iter: 60,
        ..Lbfgs::new()
    }
    .minimize_params(&params, || {
        loss::cross_entropy(&model.forward(&x)?, &y, 0.0)
    })
    .unwrap();
    assert!(report.loss < 0.05 * start, "{start} → {report:?}");
    let pred = retrograd_nn::metrics::argmax_rows(&values(&model.forward(&x).unwrap()), 10);
    let right = pred.iter().zip(&d.labels).filter(|(p, l)| p == l).count();
    assert!(right >= 295, "{right}/300");
}
