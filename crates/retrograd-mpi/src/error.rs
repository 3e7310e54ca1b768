//! The error type of distributed training.

use retrograd::tensor::TensorError;
use retrograd_nn::NnError;
use std::fmt;

/// What can go wrong when training over MPI.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A tensor operation failed.
    Tensor(TensorError),
    /// The training stack failed (data, model files, settings).
    Nn(NnError),
    /// A collective or point-to-point operation did not complete in time: a rank died or
    /// hangs.
    Timeout {
        /// The operation that was waited for.
        op: &'static str,
        /// How long it was waited for, in seconds.
        seconds: f64,
    },
    /// The ranks disagree, or a setting does not fit the number of ranks.
    Config(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Tensor(e) => write!(f, "{e}"),
            Error::Nn(e) => write!(f, "{e}"),
            Error::Timeout { op, seconds } => write!(
                f,
                "{op} did not complete within {seconds} s: another rank has died or hangs"
            ),
            Error::Config(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Tensor(e) => Some(e),
            Error::Nn(e) => Some(e),
            _ => None,
        }
    }
}

impl From<TensorError> for Error {
    fn from(e: TensorError) -> Self {
        Error::Tensor(e)
    }
}

impl From<NnError> for Error {
    fn from(e: NnError) -> Self {
        Error::Nn(e)
    }
}

/// The result of distributed-training operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
