//! IDX and CSV readers on files the tests write, including damaged ones.

use std::io::Write;
use std::path::{Path, PathBuf};

use retrograd_nn::data::{read_csv, read_idx_pair, DataSpec};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("retrograd-nn-data-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn idx_images(n: usize, rows: usize, cols: usize) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        b.extend((d as u32).to_be_bytes());
    }
    b.extend((0..n * rows * cols).map(|i| (i % 256) as u8));
    b
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend(labels);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write_mnist_dir(d: &Path, gz: bool) {
    let suffix = if gz { ".gz" } else { "" };
    let enc = |b: Vec<u8>| if gz { gzip(&b) } else { b };
    std::fs::write(
        d.join(format!("train-images-idx3-ubyte{suffix}")),
        enc(idx_images(6, 4, 3)),
    )
    .unwrap();
    std::fs::write(
        d.join(format!("train-labels-idx1-ubyte{suffix}")),
        enc(idx_labels(&[0, 1, 2, 3, 4, 9])),
    )
    .unwrap();
    std::fs::write(
        d.join(format!("t10k-images-idx3-ubyte{suffix}")),
        enc(idx_images(2, 4, 3)),
    )
    .unwrap();
    std::fs::write(
        d.join(format!("t10k-labels-idx1-ubyte{suffix}")),
        enc(idx_labels(&[5, 6])),
    )
    .unwrap();
}

#[test]
fn idx_directory_raw_and_gzip() {
    for gz in [false, true] {
        let d = dir(if gz { "gz" } else { "raw" });
        write_mnist_dir(&d, gz);
        let (train, test) = DataSpec::Idx(d.clone()).load().unwrap();
        assert_eq!((train.len(), test.len()), (6, 2));
        assert_eq!(train.shape, vec![1, 4, 3]);
        assert_eq!(train.labels, vec![0, 1, 2, 3, 4, 9]);
        assert_eq!(train.sample(1)[0], 12.0);
        assert_eq!(test.labels, vec![5, 6]);
        assert_eq!(DataSpec::Idx(d.clone()).load_test().unwrap(), test);
    }
}

#[test]
fn damaged_idx_files_are_named() {
    let d = dir("damaged");
    let images = d.join("train-images-idx3-ubyte");
    let labels = d.join("train-labels-idx1-ubyte");
    let mut img = idx_images(3, 2, 2);
    img.truncate(img.len() - 1);
    std::fs::write(&images, &img).unwrap();
    std::fs::write(&labels, idx_labels(&[1, 2, 3])).unwrap();
    let e = read_idx_pair(&images, &labels, 10).unwrap_err().to_string();
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("truncated"),
        "{e}"
    );

    std::fs::write(&images, idx_images(3, 2, 2)).unwrap();
    std::fs::write(&labels, idx_labels(&[1, 2])).unwrap();
    let e = read_idx_pair(&images, &labels, 10).unwrap_err().to_string();
    assert!(
        e.contains("2 labels but") && e.contains("has 3 images"),
        "{e}"
    );

    std::fs::write(&labels, idx_labels(&[1, 2, 12])).unwrap();
    let e = read_idx_pair(&images, &labels, 10).unwrap_err().to_string();
    assert!(e.contains("label 12 of item 2"), "{e}");

    std::fs::write(&labels, idx_images(3, 1, 1)).unwrap(); // images where labels belong
    let e = read_idx_pair(&images, &labels, 10).unwrap_err().to_string();
    assert!(e.contains("3 dimensions, expected 1"), "{e}");

    let gz = gzip(&idx_images(3, 2, 2));
    std::fs::write(&images, &gz[..gz.len() / 2]).unwrap();
    std::fs::write(&labels, idx_labels(&[1, 2, 3])).unwrap();
    let e = read_idx_pair(&images, &labels, 10).unwrap_err().to_string();
    assert!(e.contains("gzip"), "{e}");
}

#[test]
fn missing_idx_files_say_which() {
    let d = dir("missing");
    std::fs::write(d.join("train-images-idx3-ubyte"), idx_images(1, 1, 1)).unwrap();
    let e = DataSpec::Idx(d.clone()).load().unwrap_err().to_string();
    assert!(e.contains("train-labels-idx1-ubyte"), "{e}");
}

#[test]
fn fashion_mnist_absent_names_the_package() {
    if Path::new(retrograd_nn::data::FASHION_MNIST_DIR).exists() {
        return; // installed here: the message cannot be observed
    }
    let e = DataSpec::FashionMnist.load().unwrap_err().to_string();
    assert!(e.contains("dataset-fashion-mnist"), "{e}");
}

#[test]
fn csv_file_with_header_and_split() {
    let d = dir("csv");
    let path = d.join("table.csv");
    let mut text = String::from("x,y,label\n");
    for i in 0..50 {
        text.push_str(&format!("{},{},{}\n", i as f32 * 0.5, -(i as f32), i % 2));
    }
    std::fs::write(&path, &text).unwrap();
    let table = read_csv(&path, None).unwrap();
    assert_eq!(
        (table.len(), table.feature_len(), table.num_classes),
        (50, 2, 2)
    );
    let (train, test) = DataSpec::Csv(path.clone()).load().unwrap();
    assert_eq!((train.len(), test.len()), (40, 10));
    assert_eq!(test.class_counts(), vec![5, 5]);
    std::fs::write(&path, "1,2,0\n3,4\n").unwrap();
    let e = read_csv(&path, None).unwrap_err().to_string();
    assert!(e.contains("table.csv") && e.contains("line 2"), "{e}");
    let e = read_csv(d.join("absent.csv"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("absent.csv"), "{e}");
}

#[test]
fn csv_label_beyond_the_class_limit_is_refused_with_line_and_value() {
    let d = dir("csv-label");
    let path = d.join("typo.csv");
    std::fs::write(&path, "x,label\n0.5,1\n0.25,99999999999\n0.75,0\n").unwrap();
    let e = read_csv(&path, None).unwrap_err().to_string();
    assert!(
        e.contains("typo.csv") && e.contains("line 3") && e.contains("99999999999"),
        "{e}"
    );
    // and the split of `train` never starts
    let e = DataSpec::Csv(path.clone()).load().unwrap_err().to_string();
    assert!(e.contains("99999999999"), "{e}");
}

#[test]
fn idx_images_of_zero_pixels_are_refused_naming_the_file() {
    let d = dir("empty-images");
    let (images, labels) = (d.join("img-idx3-ubyte"), d.join("lab-idx1-ubyte"));
    std::fs::write(&images, idx_images(3, 0, 4)).unwrap();
    std::fs::write(&labels, idx_labels(&[1, 2, 3])).unwrap();
    let e = read_idx_pair(&images, &labels, 10).unwrap_err().to_string();
    assert!(
        e.starts_with(&images.display().to_string()) && e.contains("[1, 0, 4]"),
        "{e}"
    );
}
