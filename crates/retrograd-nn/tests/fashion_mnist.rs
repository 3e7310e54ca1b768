//! A short Fashion-MNIST run on a subset, when Debian's `dataset-fashion-mnist` is installed.

use std::path::Path;

use retrograd_nn::data::{DataSpec, FASHION_MNIST_DIR};
use retrograd_nn::train::{ModelKind, Silent, TrainConfig, Trainer};

#[test]
fn mlp_learns_a_fashion_mnist_subset() {
    if !Path::new(FASHION_MNIST_DIR)
        .join("train-images-idx3-ubyte.gz")
        .exists()
    {
        // Written to stderr directly, past the test harness's capture, so CI logs show it.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: Fashion-MNIST is not installed in {FASHION_MNIST_DIR} \
             (apt-get install dataset-fashion-mnist)"
        );
        return;
    }
    let config = TrainConfig {
        data: DataSpec::FashionMnist,
        epochs: 3,
        train_limit: Some(6000),
        ..TrainConfig::for_model(ModelKind::Mlp)
    };
    let outcome = Trainer::new(config).unwrap().run(&mut Silent).unwrap();
    let acc = outcome.test_accuracy();
    println!("fashion-mnist, mlp, 6000 training images, 3 epochs: test accuracy {acc:.4}");
    assert_eq!(outcome.confusion.total(), 10_000);
    assert!(acc > 0.78, "test accuracy {acc}");
}
