//! The CSV reader `read_csv` (raw and gzip), and the rows reader of `retrograd predict`
//! (`Classifier::read_csv_samples`).
//!
//! Input: a selector byte, then the file. Selector bit 0: gzip-compress the file; bits 1-3:
//! the label column (7: the last column, `None`); bits 4-5: the model's feature count
//! (1 to 4) for `read_csv_samples`.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use retrograd_nn::data::{read_csv, Normalizer};
use retrograd_nn::train::{Classifier, TrainConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    let bytes = if selector & 1 == 1 {
        common::gzip(file)
    } else {
        file.to_vec()
    };
    let path = common::temp_file("csv", &bytes);
    let label_column = match (selector >> 1) & 7 {
        7 => None,
        c => Some(c as usize),
    };
    if let Ok(d) = read_csv(&path, label_column) {
        let per: usize = d.shape.iter().product();
        assert_eq!(d.features.len(), per * d.len());
        assert!(d.labels.iter().all(|&l| l < d.num_classes));
        let _ = d.class_counts();
    }

    let features = 1 + ((selector >> 4) & 3) as usize;
    let normalizer = Normalizer {
        mean: vec![0.0],
        std: vec![1.0],
    };
    let config = TrainConfig {
        hidden: vec![4],
        ..TrainConfig::default()
    };
    let mut classifier =
        Classifier::build(&config, &[features], 3, normalizer).expect("a small MLP builds");
    if let Ok((rows, _labelled)) = classifier.read_csv_samples(&path) {
        if let Ok(predictions) = classifier.predict(&rows) {
            assert_eq!(predictions.len(), rows.len());
        }
    }
});
