//! Physics-informed networks: input derivatives by grad-of-grad against finite differences,
//! their parameter gradients against finite differences, L-BFGS against known optima, and
//! the Poisson and Burgers examples at reduced size.

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::{gradcheck, DType, GradcheckOptions, Result as TensorResult, Tensor};
use retrograd_nn::layers::Module;
use retrograd_nn::optim::{AdamConfig, Curvature, Lbfgs, LbfgsStatus, LineSearch, Optim};
use retrograd_nn::pinn::{adam_steps, burgers, poisson, tanh_mlp, Derivatives};
use retrograd_nn::Rng;

fn eval(net: &dyn Module, points: &[[f64; 2]]) -> Vec<f64> {
    let flat: Vec<f64> = points.iter().flatten().copied().collect();
    let x = Tensor::from_vec(flat, [points.len(), 2]).unwrap();
    no_grad(|| net.forward(&x)).unwrap().to_vec().unwrap()
}

/// u, u_x, u_t, u_xx, u_tt of a tanh network against central differences of the network.
#[test]
fn derivatives_match_finite_differences() {
    let net = tanh_mlp(&[2, 16, 16, 1], DType::F64, &mut Rng::new(3)).unwrap();
    let pts = [[0.3, 0.1], [-0.7, 0.9], [0.05, 0.5]];
    let flat: Vec<f64> = pts.iter().flatten().copied().collect();
    let x = Tensor::from_vec(flat, [3, 2]).unwrap();
    let d = Derivatives::of(|p| net.forward(p), &x, &[0, 1]).unwrap();
    let u = d.u.to_vec::<f64>().unwrap();
    let grad = d.gradient.to_vec::<f64>().unwrap();
    let (uxx, utt) = (
        d.second[0].to_vec::<f64>().unwrap(),
        d.second[1].to_vec::<f64>().unwrap(),
    );
    let h = 1e-4;
    for (i, p) in pts.iter().enumerate() {
        assert!((u[i] - eval(&net, &[*p])[0]).abs() < 1e-14);
        for axis in 0..2 {
            let shifted = |s: f64| {
                let mut q = *p;
                q[axis] += s;
                eval(&net, &[q])[0]
            };
            let first = (shifted(h) - shifted(-h)) / (2.0 * h);
            let second = (shifted(h) - 2.0 * u[i] + shifted(-h)) / (h * h);
            assert!(
                (grad[2 * i + axis] - first).abs() < 1e-7,
                "point {i} axis {axis}"
            );
            let exact2 = if axis == 0 { uxx[i] } else { utt[i] };
            assert!(
                (exact2 - second).abs() < 1e-5,
                "point {i} axis {axis}: {exact2} vs {second}"
            );
        }
    }
}

/// Closed forms: u = sin(x) t² has u_x = cos(x) t², u_t = 2 sin(x) t, u_xx = −sin(x) t².
#[test]
fn derivatives_closed_form() {
    let x = Tensor::from_vec(vec![0.4f64, 1.5, -1.0, 0.25], [2, 2]).unwrap();
    let f = |p: &Tensor| -> TensorResult<Tensor> {
        p.narrow(1, 0, 1)?.sin()?.mul(&p.narrow(1, 1, 1)?.square()?)
    };
    let d = Derivatives::of(|p| Ok(f(p)?), &x, &[0, 1]).unwrap();
    let g = d.gradient.to_vec::<f64>().unwrap();
    let (uxx, utt) = (
        d.second[0].to_vec::<f64>().unwrap(),
        d.second[1].to_vec::<f64>().unwrap(),
    );
    for (i, (a, t)) in [(0.4f64, 1.5f64), (-1.0, 0.25)].iter().enumerate() {
        assert!((g[2 * i] - a.cos() * t * t).abs() < 1e-15);
        assert!((g[2 * i + 1] - 2.0 * a.sin() * t).abs() < 1e-15);
        assert!((uxx[i] + a.sin() * t * t).abs() < 1e-15);
        assert!((utt[i] - 2.0 * a.sin()).abs() < 1e-15);
    }
    let bad = Derivatives::of(|p| Ok(p.clone()), &x, &[2]);
    assert!(bad.unwrap_err().to_string().contains("axis 2"));
    let wide = Derivatives::of(|p| Ok(p.clone()), &x, &[0]);
    assert!(wide.unwrap_err().to_string().contains("(2, 1)"));
}

/// The gradient of a PINN loss with respect to the weights (a third derivative through the
/// network) against central differences.
#[test]
fn residual_loss_parameter_gradient() {
    let net = tanh_mlp(&[1, 5, 5, 1], DType::F64, &mut Rng::new(1)).unwrap();
    let params: Vec<Tensor> = net.parameters().into_iter().map(|(_, t)| t).collect();
    let x = Tensor::from_vec(vec![-0.5f64, 0.1, 0.8], [3, 1]).unwrap();
    // The same network built from the weights handed in by gradcheck.
    let loss = |w: &[Tensor]| -> TensorResult<Tensor> {
        let forward = |p: &Tensor| -> TensorResult<Tensor> {
            let mut h = p.clone();
            for (k, pair) in w.chunks(2).enumerate() {
                h = h.matmul(&pair[0].t()?)?.add(&pair[1])?;
                if k + 1 < w.len() / 2 {
                    h = h.tanh()?;
                }
            }
            Ok(h)
        };
        let d = Derivatives::of(|p| Ok(forward(p)?), &x, &[0]).map_err(|e| match e {
            retrograd_nn::NnError::Tensor(t) => t,
            other => panic!("{other}"),
        })?;
        d.second[0]
            .add(&d.u.mul(&d.gradient)?)?
            .square()?
            .mean_all()
    };
    let inputs: Vec<Tensor> = params.iter().map(|p| p.detach()).collect();
    let opts = GradcheckOptions {
        eps: 1e-6,
        atol: 1e-6,
        rtol: 1e-5,
    };
    gradcheck(loss, &inputs, opts).unwrap();
}

fn rosenbrock(x: &[f64]) -> (f64, Vec<f64>) {
    let (a, b) = (x[0], x[1]);
    let v = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
    (
        v,
        vec![
            -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
            200.0 * (b - a * a),
        ],
    )
}

#[test]
fn lbfgs_rosenbrock_each_line_search() {
    for (search, iters) in [
        (LineSearch::StrongWolfe, 100),
        (LineSearch::Backtracking, 200),
    ] {
        let mut x = vec![-1.2, 1.0];
        let r = Lbfgs {
            max_iter: iters,
            line_search: search,
            tolerance_change: 1e-15,
            ..Lbfgs::new()
        }
        .minimize(&mut x, rosenbrock)
        .unwrap();
        assert!(r.converged(), "{search:?}: {r:?}");
        assert!(
            (x[0] - 1.0).abs() < 1e-5 && (x[1] - 1.0).abs() < 1e-5,
            "{search:?}: {x:?}"
        );
    }
    // Strong Wolfe needs fewer evaluations than the textbook ~40 iterations imply.
    let mut x = vec![-1.2, 1.0];
    let r = Lbfgs::new().minimize(&mut x, rosenbrock).unwrap();
    assert!(r.iterations < 60 && r.evaluations < 80, "{r:?}");
}

/// Rosenbrock scaled by 10⁻¹²: the relative curvature test keeps L-BFGS's pairs at any
/// scale and reaches the optimum; PyTorch's absolute test (sᵀy > 1e-10) rejects every pair
/// there, and the history never forms.
#[test]
fn lbfgs_curvature_test_at_a_small_scale() {
    let tiny = |x: &[f64]| {
        let (v, g) = rosenbrock(x);
        (1e-12 * v, g.iter().map(|g| 1e-12 * g).collect::<Vec<_>>())
    };
    let solve = |curvature| {
        let mut x = vec![-1.2, 1.0];
        let r = Lbfgs {
            max_iter: 200,
            tolerance_grad: 0.0,
            tolerance_change: 0.0,
            curvature,
            ..Lbfgs::new()
        }
        .minimize(&mut x, tiny)
        .unwrap();
        (x, r)
    };
    let (x, r) = solve(Curvature::Relative);
    assert!(
        (x[0] - 1.0).abs() < 1e-6 && (x[1] - 1.0).abs() < 1e-6,
        "{x:?} {r:?}"
    );
    let (x, r) = solve(Curvature::Absolute(1e-10));
    assert!((x[0] - 1.0).abs() > 1e-3, "{x:?} {r:?}");
}

/// A 10-dimensional quadratic ½xᵀAx − bᵀx: the optimum solves Ax = b. (The loss stops
/// resolving progress near |g| = 1e-7, so the gradient tolerance is 1e-6.)
#[test]
fn lbfgs_quadratic_optimum() {
    let n: usize = 10;
    let a: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    if i == j {
                        2.0 + i as f64
                    } else if i.abs_diff(j) == 1 {
                        -1.0
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    let x_star: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
    let b: Vec<f64> = a
        .iter()
        .map(|row| row.iter().zip(&x_star).map(|(a, x)| a * x).sum())
        .collect();
    let f = |x: &[f64]| {
        let ax: Vec<f64> = a
            .iter()
            .map(|row| row.iter().zip(x).map(|(a, x)| a * x).sum())
            .collect();
        let v = 0.5 * ax.iter().zip(x).map(|(a, x)| a * x).sum::<f64>()
            - b.iter().zip(x).map(|(b, x)| b * x).sum::<f64>();
        (v, ax.iter().zip(&b).map(|(a, b)| a - b).collect())
    };
    let mut x = vec![0.0; n];
    let r = Lbfgs {
        tolerance_grad: 1e-6,
        tolerance_change: 0.0,
        ..Lbfgs::new()
    }
    .minimize(&mut x, f)
    .unwrap();
    assert_eq!(r.status, LbfgsStatus::GradientTolerance, "{r:?}");
    for (got, want) in x.iter().zip(&x_star) {
        assert!((got - want).abs() < 1e-6, "{x:?}");
    }
}

#[test]
fn lbfgs_statuses_and_errors() {
    let mut x = vec![-1.2, 1.0];
    let r = Lbfgs {
        max_iter: 3,
        max_eval: Some(100),
        ..Lbfgs::new()
    }
    .minimize(&mut x, rosenbrock)
    .unwrap();
    assert_eq!((r.status, r.iterations), (LbfgsStatus::IterationLimit, 3));
    let r = Lbfgs {
        max_iter: 100,
        max_eval: Some(10),
        ..Lbfgs::new()
    }
    .minimize(&mut x, rosenbrock)
    .unwrap();
    assert_eq!(r.status, LbfgsStatus::EvaluationLimit);
    assert!(r.evaluations >= 10 && r.evaluations < 40, "{r:?}");
    // NaN at the start, and NaN everywhere but the start.
    let e = Lbfgs::new()
        .minimize(&mut [1.0], |_| (f64::NAN, vec![1.0]))
        .unwrap_err();
    assert!(e.to_string().contains("starting point"), "{e}");
    let e = Lbfgs::new()
        .minimize(&mut [1.0], |x| {
            if x[0] == 1.0 {
                (1.0, vec![1.0])
            } else {
                (f64::NAN, vec![f64::NAN])
            }
        })
        .unwrap_err();
    assert!(e.to_string().contains("not finite"), "{e}");
    // A loss that is infinite past x = 2 is stepped around, not into.
    let mut x = vec![0.0];
    let r = Lbfgs::new()
        .minimize(&mut x, |x| {
            if x[0] > 2.0 {
                (f64::INFINITY, vec![0.0])
            } else {
                ((x[0] - 1.5).powi(2), vec![2.0 * (x[0] - 1.5)])
            }
        })
        .unwrap();
    assert!((x[0] - 1.5).abs() < 1e-6 && r.converged(), "{x:?} {r:?}");
    let bad = Lbfgs {
        history: 0,
        ..Lbfgs::new()
    };
    assert!(bad.minimize(&mut [0.0], rosenbrock).is_err());
}

/// L-BFGS over f64 tensor parameters, and an error from the loss closure passed through.
#[test]
fn lbfgs_tensor_parameters() {
    let w = Tensor::from_vec(vec![0.0f64, 0.0], [2])
        .unwrap()
        .requires_grad_();
    let target = Tensor::from_vec(vec![1.0f64, -2.0], [2]).unwrap();
    let r = Lbfgs::new()
        .minimize_params(std::slice::from_ref(&w), || {
            Ok(w.sub(&target)?.square()?.sum_all()?)
        })
        .unwrap();
    assert!(r.converged());
    let got = w.to_vec::<f64>().unwrap();
    assert!(
        (got[0] - 1.0).abs() < 1e-9 && (got[1] + 2.0).abs() < 1e-9,
        "{got:?}"
    );
    let e = Lbfgs::new()
        .minimize_params(std::slice::from_ref(&w), || {
            Ok(w.matmul(&target.reshape([1, 2])?)?)
        })
        .unwrap_err();
    assert!(e.to_string().contains("matmul"), "{e}");
    let ints = Tensor::from_vec(vec![1i64], [1]).unwrap();
    assert!(Lbfgs::new()
        .minimize_params(&[ints], || unreachable!())
        .is_err());
}

/// Adam on f64 parameters against the formula written out in f64, and the f32 path
/// against it to f32 precision; a NaN loss stops training with an error.
/// The observer sees every iterate of the unobserved run, and an iterate at which a
/// shorter run stops is that run's result; an observer's error stops the run.
#[test]
fn lbfgs_observer_sees_each_iterate() {
    let lbfgs = Lbfgs {
        max_iter: 60,
        ..Lbfgs::new()
    };
    let mut seen: Vec<(usize, usize, f64, Vec<f64>)> = Vec::new();
    let mut x = vec![-1.2, 1.0];
    let observed = lbfgs
        .minimize_observed(&mut x, rosenbrock, |p| {
            seen.push((p.iterations, p.evaluations, p.loss, p.x.to_vec()));
            Ok(())
        })
        .unwrap();
    let mut plain = vec![-1.2, 1.0];
    assert_eq!(lbfgs.minimize(&mut plain, rosenbrock).unwrap(), observed);
    assert_eq!(plain, x);
    assert_eq!(seen.len(), observed.iterations);
    for (k, (iterations, evaluations, loss, at)) in seen.iter().enumerate() {
        assert_eq!(*iterations, k + 1);
        assert_eq!(*loss, rosenbrock(at).0);
        let shorter = Lbfgs {
            max_iter: k + 1,
            max_eval: Some(usize::MAX),
            ..lbfgs.clone()
        };
        let mut y = vec![-1.2, 1.0];
        let r = shorter.minimize(&mut y, rosenbrock).unwrap();
        assert_eq!(
            (r.iterations, r.evaluations, r.loss),
            (k + 1, *evaluations, *loss)
        );
        assert_eq!(&y, at);
    }
    let stopped = lbfgs.minimize_observed(&mut [-1.2, 1.0], rosenbrock, |p| {
        if p.iterations == 3 {
            Err(retrograd_nn::NnError::invalid("stop at 3"))
        } else {
            Ok(())
        }
    });
    assert!(stopped.unwrap_err().to_string().contains("stop at 3"));

    // tensor parameters: they hold the iterate during the call
    let w = Tensor::from_vec(vec![-1.2f64, 1.0], [2])
        .unwrap()
        .requires_grad_();
    let mut held = Vec::new();
    let loss = || -> retrograd_nn::Result<Tensor> {
        let a = w.narrow(0, 0, 1)?;
        let b = w.narrow(0, 1, 1)?;
        let one_minus_a = a.mul_scalar(-1.0)?.add_scalar(1.0)?;
        let bump = b.sub(&a.square()?)?;
        Ok(one_minus_a
            .square()?
            .add(&bump.square()?.mul_scalar(100.0)?)?
            .sum_all()?)
    };
    let r = lbfgs
        .minimize_params_observed(std::slice::from_ref(&w), loss, |p| {
            held.push((w.to_vec::<f64>()?, p.x.to_vec()));
            Ok(())
        })
        .unwrap();
    assert_eq!(held.len(), r.iterations);
    assert!(held.iter().all(|(w, x)| w == x));
    // from the start again (the optimum would stop before the first iteration)
    no_grad(|| w.update_(|v: &mut [f64]| v.copy_from_slice(&[-1.2, 1.0]))).unwrap();
    assert!(lbfgs
        .minimize_params_observed(std::slice::from_ref(&w), loss, |_| Err(
            retrograd_nn::NnError::invalid("no")
        ))
        .is_err());
}

#[test]
fn adam_f64_matches_the_formula() {
    let (lr, b1, b2, eps) = (0.05, 0.9, 0.999, 1e-8);
    let mut o32: Optim<AdamConfig> = Optim::new(AdamConfig::new(lr), 1);
    let mut o64 = Optim::<_, f64>::new_typed(AdamConfig::new(lr), 1);
    let (mut w32, mut w64, mut reference) = ([1.0f32, -2.0], [1.0f64, -2.0], [1.0f64, -2.0]);
    let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
    let grad = |w: [f64; 2]| [w[0] * 2.0 + 0.3, w[1].sin() + 1.0];
    for k in 1..=20 {
        let g = grad(reference);
        for i in 0..2 {
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            let (mh, vh) = (m[i] / (1.0 - b1.powi(k)), v[i] / (1.0 - b2.powi(k)));
            reference[i] -= lr * mh / (vh.sqrt() + eps);
        }
        let g64 = grad(w64);
        o64.step(0, &mut w64, &g64);
        let g32 = grad([w32[0] as f64, w32[1] as f64]);
        o32.step(0, &mut w32, &[g32[0] as f32, g32[1] as f32]);
    }
    for i in 0..2 {
        assert!(
            (w64[i] - reference[i]).abs() < 1e-14,
            "{w64:?} {reference:?}"
        );
        assert!(
            (w32[i] as f64 - reference[i]).abs() < 1e-5,
            "{w32:?} {reference:?}"
        );
    }
    let w = Tensor::from_vec(vec![1.0f64], [1])
        .unwrap()
        .requires_grad_();
    let nan_loss = || Ok(w.sub(&w)?.div(&w.sub(&w)?)?.sum_all()?);
    let e = adam_steps(std::slice::from_ref(&w), AdamConfig::new(0.1), 10, nan_loss).unwrap_err();
    assert!(
        e.to_string().contains("step 0") && e.to_string().contains("NaN"),
        "{e}"
    );
}

#[test]
fn poisson_quick_passes_its_checks() {
    let config = poisson::PoissonConfig::quick();
    let report = poisson::run(&config).unwrap();
    let checks = poisson::checks(&config, &report);
    assert!(checks.iter().all(|(_, ok)| *ok), "{checks:?} {report:?}");
    assert!(report.rel_l2_error < 1e-3, "{}", report.rel_l2_error);
}

#[test]
fn burgers_quick_passes_its_checks() {
    let config = burgers::BurgersConfig::quick();
    let report = burgers::run(&config).unwrap();
    let checks = burgers::checks(&config, &report);
    assert!(
        checks.iter().all(|(_, ok)| *ok),
        "{checks:?} {:e}",
        report.rel_l2_error
    );
}

/// Each logged point is what the run with that shorter L-BFGS limit reports.
#[test]
fn burgers_log_matches_shorter_runs() {
    let small = burgers::BurgersConfig {
        widths: vec![2, 10, 10, 1],
        collocation: 200,
        adam_steps: 50,
        test_grid: (16, 8),
        quadrature_nodes: 100,
        ..burgers::BurgersConfig::quick()
    };
    let with_limit = |max_iter| burgers::BurgersConfig {
        lbfgs: Lbfgs {
            max_iter,
            ..small.lbfgs.clone()
        },
        ..small.clone()
    };
    let mut log = Vec::new();
    let full = burgers::run_logged(&with_limit(60), 20, |p| log.push(*p)).unwrap();
    assert_eq!(
        log.iter().map(|p| p.lbfgs_limit).collect::<Vec<_>>(),
        [20, 40]
    );
    for p in &log {
        let shorter = burgers::run(&with_limit(p.lbfgs_limit)).unwrap();
        assert_eq!(
            (shorter.lbfgs.iterations, shorter.lbfgs.evaluations),
            (p.iterations, p.evaluations)
        );
        assert_eq!(shorter.lbfgs.loss, p.loss);
        assert_eq!(shorter.rel_l2_error, p.rel_l2_error);
    }
    let plain = burgers::run(&with_limit(60)).unwrap();
    assert_eq!(plain.lbfgs, full.lbfgs);
    assert_eq!(plain.rel_l2_error, full.rel_l2_error);
}

#[allow(dead_code)]
#[path = "../examples/pinn_common/mod.rs"]
mod pinn_common;

/// The plot the PINN examples draw (prediction and exact solution, panel by panel) is a
/// PNG, from a short Poisson run.
#[test]
fn the_examples_plot_is_a_png() {
    let quick = poisson::PoissonConfig::quick();
    let config = poisson::PoissonConfig {
        adam_steps: 20,
        lbfgs: Lbfgs {
            max_iter: 0,
            ..quick.lbfgs.clone()
        },
        ..quick
    };
    let report = poisson::run(&config).unwrap();
    let panels = [pinn_common::Panel {
        title: "u(x)".into(),
        x_label: "x",
        y_label: "u",
        curves: vec![
            ("exact".into(), report.x.clone(), report.exact.clone()),
            ("network".into(), report.x.clone(), report.predicted.clone()),
        ],
    }];
    let path = std::env::temp_dir().join(format!("retrograd-pinn-{}.png", std::process::id()));
    pinn_common::plot(&path, "test", &panels).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(&bytes[1..4], b"PNG");
    assert!(bytes.len() > 1000, "{} bytes", bytes.len());
}
