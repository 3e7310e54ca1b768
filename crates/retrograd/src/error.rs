//! The error type of the crate.

use std::fmt;

/// What can go wrong when differentiating: every variant names what was expected.
///
/// ```
/// let err = retrograd::vjp(|x| vec![x[0] * x[1]], &[1.0, 2.0], &[1.0, 1.0]).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "vjp: the output seed (one value per output): expected length 1, found 2"
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// Two lengths that must agree do not.
    LengthMismatch {
        /// The operation and the argument whose length is wrong.
        context: String,
        /// What the length should be.
        expected: usize,
        /// What it is.
        found: usize,
    },
    /// An operation that the recorded tape cannot support (e.g. a forward sweep over a
    /// custom operation defined by its vector-Jacobian product only).
    Unsupported(String),
    /// A derivative check failed; the message names the input and both values.
    GradientMismatch(String),
    /// An iterative method stopped at its iteration limit before reaching its tolerance.
    NotConverged {
        /// The method and what it was solving.
        context: String,
        /// Iterations run.
        iterations: usize,
        /// The (relative) residual reached.
        residual: f64,
        /// The tolerance asked for.
        tolerance: f64,
    },
    /// A linear system the method cannot solve: singular, or not positive definite for
    /// conjugate gradients; the message names the method and what it met.
    SingularSystem(String),
    /// A NaN or infinity where a finite value is required; the message names where.
    NonFinite(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LengthMismatch {
                context,
                expected,
                found,
            } => {
                write!(f, "{context}: expected length {expected}, found {found}")
            }
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
            Error::GradientMismatch(what) => write!(f, "gradient check failed: {what}"),
            Error::NotConverged {
                context,
                iterations,
                residual,
                tolerance,
            } => write!(
                f,
                "{context}: not converged after {iterations} iterations (residual {residual:e}, tolerance {tolerance:e})"
            ),
            Error::SingularSystem(what) => write!(f, "singular system: {what}"),
            Error::NonFinite(what) => write!(f, "non-finite value: {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// Checks that `found == expected`, naming the context in the error.
pub(crate) fn check_len(
    context: impl FnOnce() -> String,
    expected: usize,
    found: usize,
) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            context: context(),
            expected,
            found,
        })
    }
}
