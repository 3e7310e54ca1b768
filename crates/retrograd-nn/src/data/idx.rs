//! The IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.
//!
//! An IDX file is two zero bytes, a type code (`0x08`: unsigned bytes), the number of
//! dimensions, each dimension as a big-endian `u32`, then the values.

use std::io::Read;
use std::path::Path;

use super::Dataset;
use crate::{NnError, Result};

/// Reads a whole file, decompressing it if it starts with the gzip magic bytes.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| NnError::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| NnError::format(path, format!("corrupt or truncated gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses an IDX header and checks that the body has exactly the announced size.
fn parse_idx<'a>(path: &Path, bytes: &'a [u8], want_dims: usize) -> Result<(Vec<usize>, &'a [u8])> {
    if bytes.len() < 4 {
        return Err(NnError::format(
            path,
            format!("{} bytes is too short for an IDX header", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(NnError::format(
            path,
            "not an IDX file (the first two bytes must be zero)",
        ));
    }
    if bytes[2] != 0x08 {
        return Err(NnError::format(
            path,
            format!(
                "IDX type code {:#04x} is not supported (expected 0x08, unsigned bytes)",
                bytes[2]
            ),
        ));
    }
    let ndims = bytes[3] as usize;
    if ndims != want_dims {
        return Err(NnError::format(
            path,
            format!("IDX file has {ndims} dimensions, expected {want_dims}"),
        ));
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(NnError::format(path, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|d| {
            let b = &bytes[4 + 4 * d..8 + 4 * d];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| NnError::format(path, format!("IDX dimensions {dims:?} overflow")))?;
    let body = &bytes[header..];
    if body.len() < expected {
        return Err(NnError::format(
            path,
            format!(
                "truncated: dimensions {dims:?} need {expected} data bytes, the file has {}",
                body.len()
            ),
        ));
    }
    if body.len() > expected {
        return Err(NnError::format(
            path,
            format!(
                "{} unexpected bytes after the {expected} data bytes of dimensions {dims:?}",
                body.len() - expected
            ),
        ));
    }
    Ok((dims, body))
}

/// Reads an IDX image file (`idx3`): returns pixel values as `f32` (0..255) and
/// `[count, rows, cols]`.
///
/// ```
/// let dir = std::env::temp_dir().join("retrograd-doc-idx-img");
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("img-idx3-ubyte");
/// let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2];
/// bytes.extend([0, 64, 128, 255]);
/// std::fs::write(&path, bytes).unwrap();
/// let (pixels, dims) = retrograd_nn::data::read_idx_images(&path).unwrap();
/// assert_eq!(dims, [1, 2, 2]);
/// assert_eq!(pixels, vec![0.0, 64.0, 128.0, 255.0]);
/// ```
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<(Vec<f32>, [usize; 3])> {
    let path = path.as_ref();
    let bytes = read_maybe_gz(path)?;
    let (dims, body) = parse_idx(path, &bytes, 3)?;
    Ok((
        body.iter().map(|&b| b as f32).collect(),
        [dims[0], dims[1], dims[2]],
    ))
}

/// Reads an IDX label file (`idx1`).
///
/// ```
/// let dir = std::env::temp_dir().join("retrograd-doc-idx-lab");
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("lab-idx1-ubyte");
/// std::fs::write(&path, [0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9]).unwrap();
/// assert_eq!(retrograd_nn::data::read_idx_labels(&path).unwrap(), vec![7, 0, 9]);
/// ```
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<usize>> {
    let path = path.as_ref();
    let bytes = read_maybe_gz(path)?;
    let (_, body) = parse_idx(path, &bytes, 1)?;
    Ok(body.iter().map(|&b| b as usize).collect())
}

/// Reads an image file and its label file into a [`Dataset`] of shape `[1, rows, cols]`
/// with `num_classes` classes (10 for MNIST and Fashion-MNIST).
///
/// ```
/// let dir = std::env::temp_dir().join("retrograd-doc-idx-pair");
/// std::fs::create_dir_all(&dir).unwrap();
/// let mut img = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1];
/// img.extend([10, 20]);
/// std::fs::write(dir.join("i"), img).unwrap();
/// std::fs::write(dir.join("l"), [0, 0, 8, 1, 0, 0, 0, 2, 3, 4]).unwrap();
/// let d = retrograd_nn::data::read_idx_pair(dir.join("i"), dir.join("l"), 10).unwrap();
/// assert_eq!(d.shape, vec![1, 1, 1]);
/// assert_eq!(d.labels, vec![3, 4]);
/// ```
pub fn read_idx_pair(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
    num_classes: usize,
) -> Result<Dataset> {
    let (images, labels_path) = (images.as_ref(), labels.as_ref());
    let (pixels, [n, rows, cols]) = read_idx_images(images)?;
    let labels = read_idx_labels(labels_path)?;
    if labels.len() != n {
        return Err(NnError::format(
            labels_path,
            format!(
                "{} labels but {} has {n} images",
                labels.len(),
                images.display()
            ),
        ));
    }
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l >= num_classes) {
        return Err(NnError::format(
            labels_path,
            format!("label {l} of item {i} is not below {num_classes}"),
        ));
    }
    let name = images
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Dataset::new(name, pixels, labels, vec![1, rows, cols], num_classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_magic_and_trailing_bytes_are_named() {
        let dir = std::env::temp_dir().join(format!("retrograd-idx-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad");
        std::fs::write(&p, [1, 0, 8, 1, 0, 0, 0, 1, 5]).unwrap();
        let e = read_idx_labels(&p).unwrap_err().to_string();
        assert!(e.contains("not an IDX file") && e.contains("bad"), "{e}");
        std::fs::write(&p, [0, 0, 8, 1, 0, 0, 0, 1, 5, 6]).unwrap();
        let e = read_idx_labels(&p).unwrap_err().to_string();
        assert!(e.contains("unexpected bytes"), "{e}");
        std::fs::write(&p, [0, 0, 8, 3, 0, 0, 0, 1]).unwrap();
        let e = read_idx_images(&p).unwrap_err().to_string();
        assert!(e.contains("truncated IDX header"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
