//! Model files and training checkpoints, in the safetensors format, written atomically.
//!
//! Parameters travel as [`NamedArray`]s (name, shape, `f32` values), so this module does not
//! depend on how a model stores them. A model file holds the parameters and string
//! metadata (architecture, epoch, normalisation, ...); a [`Checkpoint`] adds the optimizer
//! state, the epoch and the random generator, so that an interrupted run can resume.

mod checkpoint;
mod model_file;

pub use checkpoint::Checkpoint;
pub use model_file::{load_model_file, save_model_file, ModelFile};

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{NnError, Result};

/// A named `f32` array: one parameter, or one optimizer buffer.
///
/// ```
/// use retrograd_nn::io::NamedArray;
/// let a = NamedArray::new("fc.bias", vec![2], vec![0.5, -0.5]).unwrap();
/// assert_eq!(a.numel(), 2);
/// assert!(NamedArray::new("bad", vec![3], vec![0.0]).is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NamedArray {
    /// The name (`"0.weight"`, `"optim.3.m"`, ...).
    pub name: String,
    /// The shape; the product of its entries is `data.len()`.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f32>,
}

impl NamedArray {
    /// Checks that `shape` and `data` agree.
    ///
    /// ```
    /// assert!(retrograd_nn::io::NamedArray::new("w", vec![2, 2], vec![0.0; 4]).is_ok());
    /// ```
    pub fn new(name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let name = name.into();
        let n = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if n != Some(data.len()) {
            return Err(NnError::invalid(format!(
                "`{name}`: shape {shape:?} does not hold {} values",
                data.len()
            )));
        }
        Ok(NamedArray { name, shape, data })
    }

    /// The number of values.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::io::NamedArray::new("w", vec![2, 3], vec![0.0; 6]).unwrap().numel(), 6);
    /// ```
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// Checks arrays read from `path` against what a model expects (`(name, shape)`): the same
/// names, each with the same shape. Every missing, unexpected or mis-shaped array is an
/// error naming the file and the array.
///
/// The expectation comes from a file's metadata (a layer plan, see
/// [`crate::layers::SequentialPlan::arrays`]) and is checked before the model is built, so
/// a file cannot make the loader allocate more than the arrays it holds.
///
/// ```
/// use retrograd_nn::io::{check_arrays, NamedArray};
/// let file = vec![NamedArray::new("w", vec![2], vec![0.0, 1.0]).unwrap()];
/// assert!(check_arrays("m.safetensors", &[("w".into(), vec![2])], &file).is_ok());
/// let huge = [("w".to_string(), vec![1 << 40])];
/// let e = check_arrays("m.safetensors", &huge, &file).unwrap_err().to_string();
/// assert!(e.starts_with("m.safetensors: ") && e.contains("[1099511627776]"), "{e}");
/// ```
pub fn check_arrays(
    path: impl AsRef<Path>,
    expected: &[(String, Vec<usize>)],
    arrays: &[NamedArray],
) -> Result<()> {
    let path = path.as_ref();
    let by_name: std::collections::HashMap<&str, &NamedArray> =
        arrays.iter().map(|a| (a.name.as_str(), a)).collect();
    for (name, shape) in expected {
        let a = by_name.get(name.as_str()).ok_or_else(|| {
            NnError::format(
                path,
                format!("parameter `{name}` (shape {shape:?}) is missing"),
            )
        })?;
        if &a.shape != shape {
            return Err(NnError::format(
                path,
                format!(
                    "parameter `{name}` has shape {:?} in the file, the model expects {shape:?}",
                    a.shape
                ),
            ));
        }
    }
    let wanted: std::collections::HashSet<&str> =
        expected.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(extra) = arrays
        .iter()
        .map(|a| a.name.as_str())
        .filter(|n| !wanted.contains(n))
        .min()
    {
        return Err(NnError::format(
            path,
            format!("parameter `{extra}` in the file does not belong to this model"),
        ));
    }
    Ok(())
}

/// Matches arrays read from `path` against what a model expects (`(name, shape)` in the
/// model's order, checked by [`check_arrays`]) and returns the values in that order.
///
/// ```
/// use retrograd_nn::io::{match_params, NamedArray};
/// let file = vec![NamedArray::new("b", vec![1], vec![2.0]).unwrap(),
///                 NamedArray::new("w", vec![2], vec![0.0, 1.0]).unwrap()];
/// let want = vec![("w".to_string(), vec![2]), ("b".to_string(), vec![1])];
/// let values = match_params("m.safetensors", &want, file.clone()).unwrap();
/// assert_eq!(values, vec![vec![0.0, 1.0], vec![2.0]]);
/// let wrong = vec![("w".to_string(), vec![3]), ("b".to_string(), vec![1])];
/// let e = match_params("m.safetensors", &wrong, file).unwrap_err().to_string();
/// assert!(e.contains("`w`") && e.contains("[2]") && e.contains("[3]"), "{e}");
/// ```
pub fn match_params(
    path: impl AsRef<Path>,
    expected: &[(String, Vec<usize>)],
    arrays: Vec<NamedArray>,
) -> Result<Vec<Vec<f32>>> {
    check_arrays(&path, expected, &arrays)?;
    let mut by_name: std::collections::HashMap<String, NamedArray> =
        arrays.into_iter().map(|a| (a.name.clone(), a)).collect();
    Ok(expected
        .iter()
        .map(|(name, _)| by_name.remove(name).expect("checked above").data)
        .collect())
}

/// Reads at most `limit` bytes of `reader`; returns them and whether more followed.
pub(crate) fn read_at_most(reader: impl Read, limit: u64) -> std::io::Result<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    // No capacity from `limit`: the buffer grows with what actually arrives.
    reader.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    let more = out.len() as u64 > limit;
    out.truncate(limit.min(out.len() as u64) as usize);
    Ok((out, more))
}

/// Reads the file at `path`, refusing one longer than `limit` bytes (or a device that
/// never ends) with an error naming it.
pub(crate) fn read_file_at_most(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| NnError::io(path, e))?;
    let (bytes, more) = read_at_most(file, limit).map_err(|e| NnError::io(path, e))?;
    if more {
        return Err(NnError::format(
            path,
            format!("the file is larger than the limit of {limit} bytes"),
        ));
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory
/// (`.{name}.tmp-{pid}-{n}`), flushed to disk, then renamed over `path`, so a crash leaves
/// either the old file or the new one.
///
/// A writer killed before its rename leaves its temporary file behind; each write first
/// removes those of earlier writes to the same path whose process is no longer running (or
/// that are older than an hour), and only files of exactly that name pattern.
///
/// ```
/// let path = std::env::temp_dir().join("retrograd-doc-atomic.bin");
/// retrograd_nn::io::write_atomic(&path, b"hello").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello");
/// ```
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| NnError::invalid(format!("{}: not a file name", path.display())))?;
    let prefix = format!(".{}.tmp-", file_name.to_string_lossy());
    remove_stale_temporaries(&dir, &prefix);
    // Unique per process and call, so concurrent writers never share a temporary file.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("{prefix}{}-{n}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e: std::io::Error| {
        let _ = std::fs::remove_file(&tmp);
        NnError::io(path, e)
    })
}

/// A temporary file older than this is abandoned, whatever its process: a write takes
/// seconds, and the file's time is that of its last byte written.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// Removes the temporary files `{prefix}{pid}-{n}` in `dir` that interrupted writes left:
/// those of processes no longer running, and those older than [`STALE_AFTER`]. Best effort:
/// a file that cannot be inspected or removed is left alone.
fn remove_stale_temporaries(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, n)) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|rest| rest.split_once('-'))
        else {
            continue;
        };
        if !digits(pid) || !digits(n) {
            continue;
        }
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let old = meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old || (pid != std::process::id() && !process_is_running(pid)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` runs, where the system says (Linux's `/proc`); elsewhere assumed.
fn process_is_running(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}
