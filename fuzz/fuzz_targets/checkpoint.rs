//! Training checkpoints: `Checkpoint::load`, and `Trainer::resume` (`retrograd train
//! --resume`) when the checkpoint's settings name the bundled digits (other data sets would
//! read files named by the input).
//!
//! Input: a selector byte, then the file. Selector bit 0 set: the rest is instead the new
//! text of one entry of a well-formed checkpoint (bit 1 picks an MLP trained with Adam or a
//! CNN trained with SGD; bits 2-7 pick the entry: a metadata value or an array's shape),
//! which reaches the checks behind the safetensors header.

#![no_main]

mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use retrograd_nn::data::DataSpec;
use retrograd_nn::io::{Checkpoint, ModelFile};
use retrograd_nn::train::{TrainConfig, Trainer};

fn bases() -> &'static [ModelFile; 2] {
    static BASES: OnceLock<[ModelFile; 2]> = OnceLock::new();
    BASES.get_or_init(|| {
        [
            common::base_file(
                "base-mlp",
                &include_bytes!("../seeds/checkpoint/mlp-adam")[1..],
            ),
            common::base_file(
                "base-cnn",
                &include_bytes!("../seeds/checkpoint/cnn-sgd")[1..],
            ),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let bytes = if selector & 1 == 1 {
        let base = &bases()[usize::from(selector >> 1 & 1)];
        common::edited_file(
            base,
            usize::from(selector >> 2),
            &String::from_utf8_lossy(rest),
        )
    } else {
        rest.to_vec()
    };
    let path = common::temp_file("checkpoint", &bytes);
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
