//! The IDX readers (`read_idx_images`, `read_idx_labels`, `read_idx_pair`), raw and gzip.
//!
//! Input: a selector byte, then the file. Selector bit 0: gzip-compress the file first (the
//! raw path still sees corrupt gzip when the file itself starts with the gzip magic bytes);
//! bit 1: the file is also read as a label file paired with a well-formed image file.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use retrograd_nn::data::{read_idx_images, read_idx_labels, read_idx_pair};

/// Two 1×1 images.
const IMAGES: [u8; 18] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 10, 20];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    let bytes = if selector & 1 == 1 {
        common::gzip(file)
    } else {
        file.to_vec()
    };
    let path = common::temp_file("idx", &bytes);

    if let Ok((pixels, [n, rows, cols])) = read_idx_images(&path) {
        assert_eq!(pixels.len(), n * rows * cols);
        assert!(pixels.iter().all(|p| (0.0..=255.0).contains(p)));
    }
    if let Ok(labels) = read_idx_labels(&path) {
        assert!(labels.iter().all(|&l| l < 256));
    }
    if selector & 2 == 2 {
        let images = common::temp_file("idx-images", &IMAGES);
        let _ = read_idx_pair(&images, &path, 10);
        let _ = read_idx_pair(&path, &images, 10);
    }
});
