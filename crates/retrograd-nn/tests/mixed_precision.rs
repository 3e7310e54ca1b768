//! Mixed-precision training: the loss scaler with injected overflows, digits trained in
//! bf16 and f16 against f32, and resumption of an f16 run.

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::{autocast, DType, Tensor};
use retrograd_nn::optim::{AdamConfig, GradScaler, LrSchedule, Optim, Optimizer};
use retrograd_nn::train::{Precision, Silent, TrainConfig, Trainer};

/// One scaled step of `w·w` (a product, so in f16 under autocast) with an optional gradient overwritten by `inject`; returns
/// whether the optimizer stepped.
fn scaled_step(
    w: &Tensor,
    opt: &mut Optim<AdamConfig>,
    scaler: &mut GradScaler,
    inject: Option<f32>,
) -> bool {
    w.zero_grad();
    let loss = autocast(DType::F16, || w.matmul(w).unwrap().sum_all().unwrap()).unwrap();
    scaler.scale(&loss).unwrap().backward().unwrap();
    let mut grads = vec![w.grad().unwrap().to_vec::<f32>().unwrap()];
    if let Some(v) = inject {
        grads[0][1] = v;
    }
    let finite = scaler.unscale(&mut grads);
    if finite {
        no_grad(|| w.update_(|v: &mut [f32]| opt.update(0, v, &grads[0]))).unwrap();
    }
    scaler.update();
    finite
}

#[test]
fn the_scaler_skips_overflowed_steps_backs_off_and_grows_after_good_runs() {
    let w = Tensor::from_vec(vec![0.5f32, -1.0, 2.0], [3])
        .unwrap()
        .requires_grad_();
    let mut opt = Optim::new(AdamConfig::new(1e-2), 1);
    let mut scaler = GradScaler::new(1024.0, 2.0, 0.5, 3).unwrap();
    // Good steps: the unscaled gradient is the true one (2w), the weights move.
    let before = w.to_vec::<f32>().unwrap();
    assert!(scaled_step(&w, &mut opt, &mut scaler, None));
    assert_ne!(w.to_vec::<f32>().unwrap(), before);
    // Injected overflows (Inf, then NaN): skipped, weights unchanged, scale halved each time.
    for bad in [f32::INFINITY, f32::NAN] {
        let before = w.to_vec::<f32>().unwrap();
        let scale = scaler.scale_value();
        assert!(!scaled_step(&w, &mut opt, &mut scaler, Some(bad)));
        assert_eq!(w.to_vec::<f32>().unwrap(), before);
        assert_eq!(scaler.scale_value(), scale / 2.0);
    }
    // A run of growth_interval (3) good steps doubles it, and not before.
    let scale = scaler.scale_value();
    for i in 0..3 {
        assert_eq!(scaler.scale_value(), scale, "after {i} good steps");
        assert!(scaled_step(&w, &mut opt, &mut scaler, None));
    }
    assert_eq!(scaler.scale_value(), 2.0 * scale);
    // A real f16 overflow: a scale past f16's range makes the 16-bit gradients infinite.
    let mut huge = GradScaler::new(1e30, 2.0, 0.5, 3).unwrap();
    let before = w.to_vec::<f32>().unwrap();
    assert!(!scaled_step(&w, &mut opt, &mut huge, None));
    assert_eq!(w.to_vec::<f32>().unwrap(), before);
    assert_eq!(huge.scale_value(), 5e29);
    assert!(GradScaler::new(f64::NAN, 2.0, 0.5, 3).is_err());
}

/// Digits with the default MLP settings: bf16 and f16 runs end within 0.5 points of the
/// f32 run's test accuracy.
#[test]
fn digits_trained_in_bf16_and_f16_match_f32_accuracy() {
    let accuracy = |precision| {
        let config = TrainConfig {
            precision,
            ..TrainConfig::default()
        };
        let trainer = Trainer::new(config).unwrap();
        let outcome = trainer.run(&mut Silent).unwrap();
        100.0 * outcome.test_accuracy()
    };
    let f32_acc = accuracy(Precision::F32);
    for p in [Precision::Bf16, Precision::F16] {
        let acc = accuracy(p);
        eprintln!("digits test accuracy: f32 {f32_acc:.2}%, {p} {acc:.2}%");
        assert!(
            (acc - f32_acc).abs() <= 0.5,
            "{p}: {acc:.2}% vs f32 {f32_acc:.2}%"
        );
    }
}

/// A resumed f16 run continues its scaler: one epoch, a checkpoint, and a second epoch
/// after resumption end exactly where two epochs in one go end (a scaler restarted at its
/// defaults would skip other steps). The run's first epoch overflows f16 at least once,
/// so the saved scaler is not the default one.
#[test]
fn an_f16_run_resumes_with_its_precision_and_scaler() {
    let dir = std::env::temp_dir().join(format!("retrograd-mp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.ckpt.safetensors");
    let config = TrainConfig {
        epochs: 2,
        train_limit: Some(200),
        precision: Precision::F16,
        // A schedule that does not depend on the run's length, which the first part lacks.
        schedule: LrSchedule::Constant,
        ..TrainConfig::default()
    };
    let straight = Trainer::new(config.clone())
        .unwrap()
        .run(&mut Silent)
        .unwrap();
    let mut t = Trainer::new(TrainConfig {
        epochs: 1,
        ..config
    })
    .unwrap();
    t.set_checkpoint(Some(path.clone()));
    t.run(&mut Silent).unwrap();
    let resumed = Trainer::resume(&path, Some(2)).unwrap();
    assert_eq!(resumed.config().precision, Precision::F16);
    let scaler = resumed.grad_scaler().unwrap();
    assert_ne!(scaler, &GradScaler::default());
    let outcome = resumed.run(&mut Silent).unwrap();
    let last = |h: &[retrograd_nn::metrics::EpochRecord]| {
        let r = h.last().unwrap();
        (r.train_loss, r.test_loss, r.test_accuracy)
    };
    assert_eq!(last(&outcome.history), last(&straight.history));
    std::fs::remove_dir_all(&dir).unwrap();
}
