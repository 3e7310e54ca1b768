//! Helpers shared by the targets whose entry points read files.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use retrograd_nn::io::{load_model_file, ModelFile};

/// Writes `bytes` to a file of this process in `retrograd-cargo-fuzz/` of the temporary
/// directory and returns its path (`name` keeps the files of different targets apart). The
/// same file is rewritten on every input.
pub fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join("retrograd-cargo-fuzz");
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    let path = dir.join(format!("{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).expect("the temporary directory is writable");
    path
}

/// `bytes` gzip-compressed, so that the readers' gzip path sees well-formed streams.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}

/// Reads a well-formed safetensors file (a committed seed, less its selector byte).
pub fn base_file(name: &str, bytes: &[u8]) -> ModelFile {
    load_model_file(temp_file(name, bytes)).expect("the seed files are well-formed")
}

/// A safetensors file made from `file` with one entry replaced by `text`, so that inputs
/// reach the checks behind the safetensors header: `entry` picks (modulo their number) a
/// metadata value, which becomes `text`, or an array, whose shape becomes the list of
/// sizes `text` holds as JSON (its data stays as it was, so the two may disagree).
pub fn edited_file(file: &ModelFile, entry: usize, text: &str) -> Vec<u8> {
    let mut metadata = file.metadata.clone();
    let mut shapes: Vec<Vec<usize>> = file.params.iter().map(|p| p.shape.clone()).collect();
    let entry = entry % (metadata.len() + shapes.len()).max(1);
    if let Some(key) = metadata.keys().nth(entry).cloned() {
        metadata.insert(key, text.to_string());
    } else if let Some(shape) = shapes.get_mut(entry - metadata.len()) {
        if let Ok(sizes) = serde_json::from_str::<Vec<usize>>(text) {
            *shape = sizes;
        }
    }
    safetensors_bytes(file, &shapes, &metadata)
}

/// The safetensors encoding of `file`'s arrays with the given shapes and metadata.
fn safetensors_bytes(
    file: &ModelFile,
    shapes: &[Vec<usize>],
    metadata: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!(metadata));
    let mut data = Vec::new();
    for (p, shape) in file.params.iter().zip(shapes) {
        let start = data.len();
        data.extend(p.data.iter().flat_map(|x| x.to_le_bytes()));
        header.insert(
            p.name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut header = serde_json::to_vec(&header).expect("JSON");
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header);
    bytes.extend(data);
    bytes
}
