//! The IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.
//!
//! An IDX file is two zero bytes, a type code (`0x08`: unsigned bytes), the number of
//! dimensions, each dimension as a big-endian `u32`, then the values.
//!
//! Files are read through [`DataReader`], which bounds what a file may make the reader
//! hold: an IDX body by the size its header announces, anything by
//! [`MAX_DATA_BYTES`].

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::Dataset;
use crate::io::read_at_most;
use crate::limits::MAX_DATA_BYTES;
use crate::{NnError, Result};

/// An open data file: its bytes as they come, decompressed if the file starts with the
/// gzip magic bytes.
pub(crate) struct DataReader<'a> {
    path: &'a Path,
    inner: Box<dyn Read + 'a>,
    gzip: bool,
}

impl<'a> DataReader<'a> {
    /// Opens `path`, looking at its first two bytes for gzip.
    pub(crate) fn open(path: &'a Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| NnError::io(path, e))?;
        let mut file = BufReader::new(file);
        let head = file.fill_buf().map_err(|e| NnError::io(path, e))?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let inner: Box<dyn Read> = if gzip {
            Box::new(flate2::bufread::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        Ok(DataReader { path, inner, gzip })
    }

    /// Reads at most `limit` bytes; returns them and whether more followed (having read
    /// one byte beyond them).
    pub(crate) fn read_at_most(&mut self, limit: u64) -> Result<(Vec<u8>, bool)> {
        read_at_most(&mut self.inner, limit).map_err(|e| self.error(e))
    }

    /// Reads the next `n` bytes, or fewer where the data ends.
    fn read_next(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        match (&mut self.inner).take(n as u64).read_to_end(&mut out) {
            Ok(_) => Ok(out),
            Err(e) => Err(self.error(e)),
        }
    }

    fn error(&self, e: std::io::Error) -> NnError {
        if self.gzip {
            NnError::format(self.path, format!("corrupt or truncated gzip data: {e}"))
        } else {
            NnError::io(self.path, e)
        }
    }

    /// Reads everything, refusing more than [`MAX_DATA_BYTES`] (a gzip bomb, a device
    /// that never ends) with an error naming the file.
    pub(crate) fn read_all(mut self) -> Result<Vec<u8>> {
        let (bytes, more) = self.read_at_most(MAX_DATA_BYTES)?;
        if more {
            return Err(NnError::format(
                self.path,
                format!(
                    "holds more than the limit of {MAX_DATA_BYTES} bytes{}",
                    if self.gzip { " once decompressed" } else { "" }
                ),
            ));
        }
        Ok(bytes)
    }
}

/// Reads an IDX file, decompressing gzip on the way: checks the header, then reads exactly
/// the body it announces (refusing a header that announces more than [`MAX_DATA_BYTES`]),
/// so a truncated file, trailing bytes or a gzip bomb are errors naming the file, and
/// nothing larger than the announced body is ever held.
fn read_idx(path: &Path, want_dims: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    let bad = |m: String| NnError::format(path, m);
    let mut reader = DataReader::open(path)?;
    let magic = reader.read_next(4)?;
    if magic.len() < 4 {
        return Err(bad(format!(
            "{} bytes is too short for an IDX header",
            magic.len()
        )));
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(bad(
            "not an IDX file (the first two bytes must be zero)".into()
        ));
    }
    if magic[2] != 0x08 {
        return Err(bad(format!(
            "IDX type code {:#04x} is not supported (expected 0x08, unsigned bytes)",
            magic[2]
        )));
    }
    let ndims = magic[3] as usize;
    if ndims != want_dims {
        return Err(bad(format!(
            "IDX file has {ndims} dimensions, expected {want_dims}"
        )));
    }
    let sizes = reader.read_next(4 * ndims)?;
    if sizes.len() < 4 * ndims {
        return Err(bad("truncated IDX header".into()));
    }
    let dims: Vec<usize> = sizes
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .filter(|&n| n <= MAX_DATA_BYTES)
        .ok_or_else(|| {
            bad(format!(
                "IDX dimensions {dims:?} announce more than the limit of {MAX_DATA_BYTES} data bytes"
            ))
        })?;
    let (body, more) = reader.read_at_most(expected)?;
    if (body.len() as u64) < expected {
        return Err(bad(format!(
            "truncated: dimensions {dims:?} need {expected} data bytes, the file has {}",
            body.len()
        )));
    }
    if more {
        return Err(bad(format!(
            "unexpected bytes after the {expected} data bytes of dimensions {dims:?}"
        )));
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
    let (dims, body) = read_idx(path, 3)?;
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
    let (_, body) = read_idx(path, 1)?;
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
    crate::limits::sample_len(&[1, rows, cols])
        .map_err(|e| NnError::format(images, format!("images of {e}")))?;
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
