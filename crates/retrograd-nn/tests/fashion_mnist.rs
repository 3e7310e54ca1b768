//! A short Fashion-MNIST run on a subset, when Debian's `dataset-fashion-mnist` is installed.
//!
//! Without the data set the test fails where the environment variable `CI` is set (CI
//! installs the package, so its absence there is a broken setup), and elsewhere prints a
//! `skipped: ...` line to stderr and passes.

use retrograd_nn::data::{DataSpec, FASHION_MNIST_DIR};
use retrograd_nn::train::{ModelKind, Silent, TrainConfig, Trainer};
use retrograd_nn::NnError;

#[test]
fn mlp_learns_a_fashion_mnist_subset() {
    let config = TrainConfig {
        data: DataSpec::FashionMnist,
        epochs: 3,
        train_limit: Some(6000),
        ..TrainConfig::for_model(ModelKind::Mlp)
    };
    let trainer = match Trainer::new(config) {
        Err(e @ NnError::MissingData { .. }) => {
            let why = format!("Fashion-MNIST is not installed in {FASHION_MNIST_DIR} ({e})");
            if std::env::var_os("CI").is_some() {
                panic!("{why}; CI must install the Debian package dataset-fashion-mnist");
            }
            // Written to stderr directly, past the test harness's capture, so logs show it.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "skipped: {why}");
            return;
        }
        other => other.unwrap(),
    };
    let outcome = trainer.run(&mut Silent).unwrap();
    let acc = outcome.test_accuracy();
    println!("fashion-mnist, mlp, 6000 training images, 3 epochs: test accuracy {acc:.4}");
    assert_eq!(outcome.confusion.total(), 10_000);
    assert!(acc > 0.78, "test accuracy {acc}");
}
