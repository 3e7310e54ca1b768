//! The one error type of the training stack.

use std::fmt;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while loading data, reading or writing model files, or
/// configuring a model: each variant names the file or the setting and what is wrong.
///
/// ```
/// use retrograd_nn::NnError;
/// let e = NnError::format("model.safetensors", "header is not valid JSON");
/// assert_eq!(e.to_string(), "model.safetensors: header is not valid JSON");
/// ```
#[derive(Debug)]
pub enum NnError {
    /// A file could not be opened, read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file was read but its content is wrong (truncated, malformed, mismatched).
    Format {
        /// The file (or a short name for an in-memory source).
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A data set needs files that are not installed.
    MissingData {
        /// The file that was looked for.
        path: PathBuf,
        /// How to get it.
        hint: String,
    },
    /// A setting or argument is invalid (unknown model name, shapes that do not agree, ...).
    Invalid(String),
    /// A tensor operation failed (its message names the op and the shapes).
    Tensor(retrograd::tensor::TensorError),
}

impl From<retrograd::tensor::TensorError> for NnError {
    fn from(e: retrograd::tensor::TensorError) -> Self {
        NnError::Tensor(e)
    }
}

impl NnError {
    /// An error about the content of `path`.
    ///
    /// ```
    /// let e = retrograd_nn::NnError::format("a.csv", "line 3: 2 columns, expected 65");
    /// assert!(e.to_string().contains("line 3"));
    /// ```
    pub fn format(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        NnError::Format {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    /// An I/O error on `path`.
    ///
    /// ```
    /// let io = std::io::Error::from(std::io::ErrorKind::NotFound);
    /// let e = retrograd_nn::NnError::io("x.gz", io);
    /// assert!(e.to_string().starts_with("x.gz: "));
    /// ```
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        NnError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// An invalid setting.
    ///
    /// ```
    /// let e = retrograd_nn::NnError::invalid("unknown model `rnn`");
    /// assert_eq!(e.to_string(), "unknown model `rnn`");
    /// ```
    pub fn invalid(message: impl Into<String>) -> Self {
        NnError::Invalid(message.into())
    }
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NnError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            NnError::Format { path, message } => write!(f, "{}: {message}", path.display()),
            NnError::MissingData { path, hint } => {
                write!(f, "{}: file not found; {hint}", path.display())
            }
            NnError::Invalid(message) => f.write_str(message),
            NnError::Tensor(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for NnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NnError::Io { source, .. } => Some(source),
            NnError::Tensor(e) => Some(e),
            _ => None,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = NnError> = std::result::Result<T, E>;
