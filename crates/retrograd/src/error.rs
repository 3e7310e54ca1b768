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
    /// A replayed recording reached a branch (a comparison, a test such as `is_nan()`, a
    /// value read out) that answers otherwise at the new inputs than when it was
    /// recorded; the message names the line. Record the function again at these inputs.
    GuardChanged(String),
    /// A value that must be finite is not (NaN or infinite); the message names where.
    NonFinite(String),
    /// An ODE solver gave up: the step size underflowed or the step budget ran out.
    Integration(String),
    /// An argument outside the domain of the computation (a non-finite or non-positive
    /// price, a correlation matrix that is not positive definite, ...); the message names it.
    InvalidInput(String),
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
            Error::GuardChanged(what) => write!(f, "replay: {what}"),
            Error::NonFinite(what) => write!(f, "non-finite value: {what}"),
            Error::Integration(what) => write!(f, "integration failed: {what}"),
            Error::InvalidInput(what) => write!(f, "invalid input: {what}"),
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
