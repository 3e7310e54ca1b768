//! Model files (safetensors): `load_model_file`, and `Classifier::load` followed by an
//! evaluation on two blank samples, as `retrograd eval` and `retrograd predict` do.
//!
//! Input: the file.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use retrograd_nn::data::Dataset;
use retrograd_nn::io::load_model_file;
use retrograd_nn::train::Classifier;

fuzz_target!(|data: &[u8]| {
    let path = common::temp_file("model.safetensors", data);
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
