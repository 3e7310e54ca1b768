//! Helpers shared by the targets whose entry points read files.

use std::io::Write;
use std::path::PathBuf;

/// Writes `bytes` to a file of this process in the temporary directory and returns its
/// path (`name` keeps the files of different targets apart). The same file is rewritten
/// on every input.
pub fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("retrograd-fuzz-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).expect("the temporary directory is writable");
    path
}

/// `bytes` gzip-compressed, so that the readers' gzip path sees well-formed streams.
#[allow(dead_code)]
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}
