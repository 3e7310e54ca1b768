//! Named `f32` arrays plus string metadata in one safetensors file.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, View};

use super::{read_file_at_most, write_atomic, NamedArray};
use crate::limits::MAX_MODEL_FILE_BYTES;
use crate::{NnError, Result};

/// The content of a model file: parameters and metadata.
///
/// ```
/// use retrograd_nn::io::{load_model_file, save_model_file, NamedArray};
/// use std::collections::BTreeMap;
/// let path = std::env::temp_dir().join("retrograd-doc-model.safetensors");
/// let params = vec![NamedArray::new("w", vec![2], vec![1.0, 2.0]).unwrap()];
/// let meta = BTreeMap::from([("epoch".to_string(), "3".to_string())]);
/// save_model_file(&path, &params, &meta).unwrap();
/// let file = load_model_file(&path).unwrap();
/// assert_eq!(file.params, params);
/// assert_eq!(file.metadata["epoch"], "3");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    /// The arrays, in the file's order (sorted by name).
    pub params: Vec<NamedArray>,
    /// The metadata.
    pub metadata: BTreeMap<String, String>,
}

impl ModelFile {
    /// A metadata entry, or an error naming the file and the missing key.
    ///
    /// ```
    /// use retrograd_nn::io::ModelFile;
    /// let f = ModelFile { params: vec![], metadata: Default::default() };
    /// assert!(f.require("a.safetensors", "epoch").unwrap_err().to_string().contains("epoch"));
    /// ```
    pub fn require(&self, path: impl AsRef<Path>, key: &str) -> Result<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| NnError::format(path, format!("metadata entry `{key}` is missing")))
    }
}

struct F32View<'a>(&'a NamedArray);

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.data.iter().flat_map(|x| x.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        self.0.data.len() * 4
    }
}

/// Serialises arrays and metadata to safetensors bytes.
pub(crate) fn encode(
    params: &[NamedArray],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = params.iter().find(|p| !seen.insert(&p.name)) {
        return Err(NnError::invalid(format!(
            "two arrays are named `{}`",
            dup.name
        )));
    }
    let meta: HashMap<String, String> = metadata.clone().into_iter().collect();
    // An empty metadata map with no arrays makes safetensors write an invalid header.
    let meta = (!meta.is_empty()).then_some(meta);
    safetensors::serialize(params.iter().map(|p| (p.name.as_str(), F32View(p))), meta)
        .map_err(|e| NnError::invalid(format!("cannot serialise: {e}")))
}

/// Parses safetensors bytes; `path` names the source in errors. Only `f32` arrays with
/// finite values are accepted.
pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<ModelFile> {
    let bad = |m: String| NnError::format(path, m);
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a valid safetensors file ({e})")))?;
    let tensors = SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("not a valid safetensors file ({e})")))?;
    let metadata: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut params = Vec::with_capacity(tensors.len());
    let mut entries = tensors.tensors();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, view) in entries {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "array `{name}` has type {:?}; only F32 is supported",
                view.dtype()
            )));
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            return Err(bad(format!(
                "array `{name}` holds a non-finite value at index {i}"
            )));
        }
        params.push(
            NamedArray::new(name.clone(), view.shape().to_vec(), data)
                .map_err(|e| bad(e.to_string()))?,
        );
    }
    Ok(ModelFile { params, metadata })
}

/// Saves parameters and metadata to `path` atomically.
///
/// ```
/// use retrograd_nn::io::{save_model_file, NamedArray};
/// let path = std::env::temp_dir().join("retrograd-doc-save.safetensors");
/// let p = vec![NamedArray::new("w", vec![1], vec![1.0]).unwrap()];
/// save_model_file(&path, &p, &Default::default()).unwrap();
/// assert!(path.exists());
/// ```
pub fn save_model_file(
    path: impl AsRef<Path>,
    params: &[NamedArray],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    write_atomic(path, &encode(params, metadata)?)
}

/// Loads a model file; a missing, truncated or malformed file (or one larger than
/// [`MAX_MODEL_FILE_BYTES`]) is an error naming it.
///
/// ```
/// let path = std::env::temp_dir().join("retrograd-doc-garbage.safetensors");
/// std::fs::write(&path, b"not a model").unwrap();
/// let e = retrograd_nn::io::load_model_file(&path).unwrap_err().to_string();
/// assert!(e.contains("retrograd-doc-garbage.safetensors"), "{e}");
/// ```
pub fn load_model_file(path: impl AsRef<Path>) -> Result<ModelFile> {
    let path = path.as_ref();
    decode(path, &read_file_at_most(path, MAX_MODEL_FILE_BYTES)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let p = vec![
            NamedArray::new("a", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
            NamedArray::new("b", vec![1], vec![5.0]).unwrap(),
        ];
        encode(&p, &BTreeMap::from([("k".into(), "v".into())])).unwrap()
    }

    #[test]
    fn empty_files_round_trip() {
        let bytes = encode(&[], &BTreeMap::new()).unwrap();
        assert_eq!(decode(Path::new("t"), &bytes).unwrap().params, vec![]);
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = sample();
        for n in 0..bytes.len() {
            assert!(
                decode(Path::new("t"), &bytes[..n]).is_err(),
                "prefix of {n} bytes accepted"
            );
        }
        assert!(decode(Path::new("t"), &bytes).is_ok());
    }

    #[test]
    fn non_finite_values_and_duplicates_are_rejected() {
        let p = vec![NamedArray::new("a", vec![1], vec![f32::NAN]).unwrap()];
        let bytes = encode(&p, &BTreeMap::new()).unwrap();
        let e = decode(Path::new("t"), &bytes).unwrap_err().to_string();
        assert!(e.contains("non-finite"), "{e}");
        let dup = vec![p[0].clone(), p[0].clone()];
        assert!(encode(&dup, &BTreeMap::new()).is_err());
    }
}
