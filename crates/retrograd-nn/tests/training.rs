//! Training on the bundled digits: accuracy for fixed seeds, reproducibility, exact
//! resumption from a checkpoint, and evaluation of the saved model.

use std::ops::ControlFlow;
use std::path::PathBuf;

use retrograd_nn::metrics::EpochRecord;
use retrograd_nn::train::{Classifier, ModelKind, Observer, Silent, TrainConfig, Trainer};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("retrograd-nn-training-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Stops the run after `n` epochs, as an interruption would.
struct StopAfter(usize);
impl Observer for StopAfter {
    fn on_epoch_end(&mut self, r: &EpochRecord, _: usize) -> ControlFlow<()> {
        if r.epoch >= self.0 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

fn arrays(c: &Classifier) -> Vec<(String, Vec<f32>)> {
    c.named_arrays()
        .unwrap()
        .into_iter()
        .map(|a| (a.name, a.data))
        .collect()
}

#[test]
fn mlp_defaults_reach_97_percent_reproducibly() {
    let config = TrainConfig::for_model(ModelKind::Mlp);
    let model_path = tmp("mlp.safetensors");
    let a = Trainer::new(config.clone())
        .unwrap()
        .run(&mut Silent)
        .unwrap();
    let acc = a.test_accuracy();
    println!("mlp, seed 0: test accuracy {acc:.4}");
    assert!(acc >= 0.97, "test accuracy {acc}");
    assert_eq!(a.history.len(), config.epochs);
    let b = Trainer::new(config).unwrap().run(&mut Silent).unwrap();
    assert_eq!(arrays(&a.classifier), arrays(&b.classifier));
    assert_eq!(a.test_accuracy(), b.test_accuracy());

    // The saved model reproduces the test accuracy exactly.
    a.classifier.save(&model_path).unwrap();
    let mut loaded = Classifier::load(&model_path).unwrap();
    let (_, test) = loaded.data_spec().unwrap().load().unwrap();
    let eval = loaded.evaluate(&test).unwrap();
    assert_eq!(eval.confusion, a.confusion);
    assert_eq!(eval.loss, a.history.last().unwrap().test_loss);
    assert_eq!(loaded.epoch, a.history.len());
}

#[test]
fn cnn_defaults_reach_98_percent() {
    let config = TrainConfig::for_model(ModelKind::Cnn);
    let outcome = Trainer::new(config).unwrap().run(&mut Silent).unwrap();
    let acc = outcome.test_accuracy();
    println!("cnn, seed 0: test accuracy {acc:.4}");
    assert!(acc >= 0.98, "test accuracy {acc}");
}

/// An interrupted run resumed from its checkpoint ends with exactly the parameters, buffers
/// and history of an uninterrupted one (CNN: batch-norm running statistics included).
#[test]
fn resume_matches_uninterrupted_run() {
    for model in [ModelKind::Mlp, ModelKind::Cnn] {
        let config = TrainConfig {
            epochs: 4,
            seed: 7,
            train_limit: Some(600),
            ..TrainConfig::for_model(model)
        };
        let full = Trainer::new(config.clone())
            .unwrap()
            .run(&mut Silent)
            .unwrap();

        let ckpt = tmp(&format!("{model}.ckpt.safetensors"));
        let mut first = Trainer::new(config.clone()).unwrap();
        first.set_checkpoint(Some(ckpt.clone()));
        let partial = first.run(&mut StopAfter(2)).unwrap();
        assert_eq!(partial.history.len(), 2);
        assert_ne!(arrays(&partial.classifier), arrays(&full.classifier));

        let mut resumed = Trainer::resume(&ckpt, None).unwrap();
        assert_eq!(resumed.epochs_done(), 2);
        resumed.set_checkpoint(Some(ckpt.clone()));
        let done = resumed.run(&mut Silent).unwrap();
        assert_eq!(
            arrays(&done.classifier),
            arrays(&full.classifier),
            "{model}"
        );
        assert_eq!(done.confusion, full.confusion);
        let losses = |h: &[EpochRecord]| h.iter().map(|r| r.train_loss).collect::<Vec<_>>();
        assert_eq!(losses(&done.history), losses(&full.history));
    }
}

#[test]
fn resume_rejects_damaged_checkpoints() {
    let e = Trainer::resume(tmp("absent.ckpt.safetensors"), None)
        .err()
        .unwrap();
    assert!(e.to_string().contains("absent.ckpt.safetensors"), "{e}");
    let path = tmp("garbage.ckpt.safetensors");
    std::fs::write(&path, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}").unwrap();
    let e = Trainer::resume(&path, None).err().unwrap().to_string();
    assert!(e.contains("garbage.ckpt.safetensors"), "{e}");
}

#[test]
fn model_file_for_another_architecture_is_rejected() {
    let config = TrainConfig {
        epochs: 1,
        train_limit: Some(100),
        ..TrainConfig::default()
    };
    let outcome = Trainer::new(config).unwrap().run(&mut Silent).unwrap();
    let path = tmp("small.safetensors");
    outcome.classifier.save(&path).unwrap();
    let other = TrainConfig {
        hidden: vec![32],
        ..TrainConfig::default()
    };
    let c = Classifier::build(
        &other,
        &[1, 8, 8],
        10,
        outcome.classifier.normalizer.clone(),
    )
    .unwrap();
    let file = retrograd_nn::io::load_model_file(&path).unwrap();
    let e = c.load_arrays(&path, file.params).unwrap_err().to_string();
    assert!(
        e.contains("1.weight") && e.contains("[128, 64]") && e.contains("[32, 64]"),
        "{e}"
    );
}
