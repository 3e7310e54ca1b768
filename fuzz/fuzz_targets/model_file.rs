//! Model files (safetensors): `load_model_file`, and `Classifier::load` followed by a
//! prediction and an evaluation on two blank samples, as `retrograd eval` and `retrograd
//! predict` do.
//!
//! Input: a selector byte, then the file. Selector bit 0 set: the rest is instead the new
//! text of one entry of a well-formed model file (an MLP's if bit 1 is clear, a CNN's if
//! set; bits 2-7 pick the entry: a metadata value or an array's shape), which reaches the
//! checks behind the safetensors header.

#![no_main]

mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use retrograd_nn::data::Dataset;
use retrograd_nn::io::{load_model_file, ModelFile};
use retrograd_nn::train::Classifier;

fn bases() -> &'static [ModelFile; 2] {
    static BASES: OnceLock<[ModelFile; 2]> = OnceLock::new();
    BASES.get_or_init(|| {
        [
            common::base_file("base-mlp", &include_bytes!("../seeds/model_file/mlp")[1..]),
            common::base_file("base-cnn", &include_bytes!("../seeds/model_file/cnn")[1..]),
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
    let path = common::temp_file("model", &bytes);
    if let Ok(file) = load_model_file(&path) {
        for p in &file.params {
            assert_eq!(p.data.len(), p.numel());
        }
    }
    let Ok(mut classifier) = Classifier::load(&path) else {
        return;
    };
    let _ = classifier.model_description();
    let _ = classifier.num_parameters();
    let _ = classifier.data_spec();
    let per: usize = classifier.input_shape.iter().product();
    let samples = Dataset::new(
        "blank",
        vec![0.0; 2 * per],
        vec![0, 0],
        classifier.input_shape.clone(),
        classifier.num_classes.max(1),
    );
    if let Ok(samples) = samples {
        if let Ok(predictions) = classifier.predict(&samples) {
            assert_eq!(predictions.len(), 2);
        }
        let _ = classifier.evaluate(&samples);
    }
});
