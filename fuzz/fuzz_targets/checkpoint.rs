//! Training checkpoints: `Checkpoint::load`, and `Trainer::resume` (`retrograd train
//! --resume`) when the checkpoint's settings name the bundled digits (other data sets would
//! read files named by the input).
//!
//! Input: the file.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use retrograd_nn::data::DataSpec;
use retrograd_nn::io::Checkpoint;
use retrograd_nn::train::{TrainConfig, Trainer};

fuzz_target!(|data: &[u8]| {
    let path = common::temp_file("ckpt.safetensors", data);
    let Ok(ckpt) = Checkpoint::load(&path) else {
        return;
    };
    let digits = ckpt
        .metadata
        .get("config")
        .and_then(|text| serde_json::from_str(text).ok())
        .and_then(|json| TrainConfig::from_json(&json).ok())
        .is_some_and(|config| config.data == DataSpec::Digits);
    if digits {
        if let Ok(trainer) = Trainer::resume(&path, Some(0)) {
            assert_eq!(trainer.epochs_done(), ckpt.epoch);
        }
    }
});
