//! Named data sources: the bundled digits, Fashion-MNIST, IDX directories and CSV files.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{csv::parse_csv, read_csv, read_idx_pair, Dataset, SPLIT_SEED};
use crate::{NnError, Result};

/// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

static DIGITS_CSV_GZ: &[u8] = include_bytes!("../../../../data/digits.csv.gz");

/// The bundled UCI handwritten digits: 1,797 images of 8×8 pixels (values 0..16), shape
/// `[1, 8, 8]`, 10 classes. Embedded in the binary, so it needs no file.
///
/// ```
/// let d = retrograd_nn::data::digits().unwrap();
/// assert_eq!((d.len(), d.shape.clone(), d.num_classes), (1797, vec![1, 8, 8], 10));
/// ```
pub fn digits() -> Result<Dataset> {
    let name = Path::new("digits.csv.gz");
    let decoder = flate2::read::GzDecoder::new(DIGITS_CSV_GZ);
    let (bytes, more) = crate::io::read_at_most(decoder, crate::limits::MAX_DATA_BYTES)
        .map_err(|e| NnError::format(name, format!("corrupt embedded data: {e}")))?;
    if more {
        return Err(NnError::format(name, "embedded data larger than expected"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| NnError::format(name, e.to_string()))?;
    let mut d = parse_csv(name, text, None)?;
    d.name = "digits".into();
    d.shape = vec![1, 8, 8];
    d.num_classes = 10;
    Ok(d)
}

/// A data source as named on the command line: `digits`, `fashion-mnist`, `idx:DIR` or
/// `csv:FILE`.
///
/// ```
/// use retrograd_nn::data::DataSpec;
/// let spec: DataSpec = "csv:iris.csv".parse().unwrap();
/// assert_eq!(spec, DataSpec::Csv("iris.csv".into()));
/// assert_eq!(spec.to_string(), "csv:iris.csv");
/// assert!("mnist".parse::<DataSpec>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSpec {
    /// The bundled digits, split 80/20 (stratified, fixed seed).
    Digits,
    /// Fashion-MNIST from [`FASHION_MNIST_DIR`]: 60,000 train and 10,000 test images.
    FashionMnist,
    /// A directory with `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]` (MNIST layout).
    Idx(PathBuf),
    /// A CSV file of numeric features and a label in the last column, split 80/20.
    Csv(PathBuf),
}

impl FromStr for DataSpec {
    type Err = NnError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "digits" => Ok(DataSpec::Digits),
            "fashion-mnist" | "fashion" => Ok(DataSpec::FashionMnist),
            _ => {
                if let Some(dir) = s.strip_prefix("idx:") {
                    Ok(DataSpec::Idx(dir.into()))
                } else if let Some(file) = s.strip_prefix("csv:") {
                    Ok(DataSpec::Csv(file.into()))
                } else {
                    Err(NnError::invalid(format!(
                        "unknown data set `{s}`: expected digits, fashion-mnist, idx:DIR or csv:FILE"
                    )))
                }
            }
        }
    }
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSpec::Digits => f.write_str("digits"),
            DataSpec::FashionMnist => f.write_str("fashion-mnist"),
            DataSpec::Idx(dir) => write!(f, "idx:{}", dir.display()),
            DataSpec::Csv(file) => write!(f, "csv:{}", file.display()),
        }
    }
}

impl DataSpec {
    /// Loads `(train, test)`. Data sets that come as one file are split 80/20 per class
    /// with [`SPLIT_SEED`], so the test set is the same in every run.
    ///
    /// ```
    /// use retrograd_nn::data::DataSpec;
    /// let (train, test) = DataSpec::Digits.load().unwrap();
    /// assert_eq!(train.len() + test.len(), 1797);
    /// ```
    pub fn load(&self) -> Result<(Dataset, Dataset)> {
        match self {
            DataSpec::Digits => Ok(digits()?.stratified_split(0.2, SPLIT_SEED)),
            DataSpec::Csv(file) => Ok(read_csv(file, None)?.stratified_split(0.2, SPLIT_SEED)),
            DataSpec::Idx(dir) => load_idx_dir(dir, None),
            DataSpec::FashionMnist => {
                load_idx_dir(Path::new(FASHION_MNIST_DIR), Some(FASHION_HINT))
            }
        }
    }

    /// Loads only the test part (for evaluation: IDX sets then skip their training files).
    ///
    /// ```
    /// use retrograd_nn::data::DataSpec;
    /// assert_eq!(DataSpec::Digits.load_test().unwrap(), DataSpec::Digits.load().unwrap().1);
    /// ```
    pub fn load_test(&self) -> Result<Dataset> {
        match self {
            DataSpec::Idx(dir) => load_idx_part(dir, "t10k", None),
            DataSpec::FashionMnist => {
                load_idx_part(Path::new(FASHION_MNIST_DIR), "t10k", Some(FASHION_HINT))
            }
            _ => Ok(self.load()?.1),
        }
    }
}

const FASHION_HINT: &str =
    "install the Debian package `dataset-fashion-mnist` (apt-get install dataset-fashion-mnist)";

/// Finds `DIR/STEM` or `DIR/STEM.gz`.
fn find_idx(dir: &Path, stem: &str, hint: Option<&str>) -> Result<PathBuf> {
    let raw = dir.join(stem);
    let gz = dir.join(format!("{stem}.gz"));
    if raw.is_file() {
        Ok(raw)
    } else if gz.is_file() {
        Ok(gz)
    } else {
        let hint = hint
            .map(str::to_string)
            .unwrap_or_else(|| format!("expected {stem} or {stem}.gz in {}", dir.display()));
        Err(NnError::MissingData { path: gz, hint })
    }
}

/// Loads `{part}-images-idx3-ubyte` and `{part}-labels-idx1-ubyte` of `dir`.
fn load_idx_part(dir: &Path, part: &str, hint: Option<&str>) -> Result<Dataset> {
    let images = find_idx(dir, &format!("{part}-images-idx3-ubyte"), hint)?;
    let labels = find_idx(dir, &format!("{part}-labels-idx1-ubyte"), hint)?;
    read_idx_pair(&images, &labels, 10)
}

/// Loads the MNIST-layout files of `dir`; `hint` says how to install them when missing.
fn load_idx_dir(dir: &Path, hint: Option<&str>) -> Result<(Dataset, Dataset)> {
    let (tri, trl) = (
        find_idx(dir, "train-images-idx3-ubyte", hint)?,
        find_idx(dir, "train-labels-idx1-ubyte", hint)?,
    );
    let (tei, tel) = (
        find_idx(dir, "t10k-images-idx3-ubyte", hint)?,
        find_idx(dir, "t10k-labels-idx1-ubyte", hint)?,
    );
    let train = read_idx_pair(&tri, &trl, 10)?;
    let test = read_idx_pair(&tei, &tel, 10)?;
    if train.shape != test.shape {
        return Err(NnError::format(
            &tei,
            format!(
                "test images are {:?} but training images are {:?}",
                test.shape, train.shape
            ),
        ));
    }
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_match_the_documented_file() {
        let d = digits().unwrap();
        assert_eq!(d.len(), 1797);
        assert!(d.features.iter().all(|&x| (0.0..=16.0).contains(&x)));
        assert_eq!(d.class_counts().iter().min(), Some(&174));
    }

    #[test]
    fn missing_idx_dir_names_the_file() {
        let e = load_idx_dir(Path::new("/nonexistent-dir"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nonexistent-dir/train-images-idx3-ubyte.gz"),
            "{e}"
        );
        let e = load_idx_dir(Path::new("/nonexistent-dir"), Some("install pkg"))
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("file not found; install pkg"), "{e}");
    }
}
