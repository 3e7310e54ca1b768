//! The command line's one error type: every failure a user can cause, with a message that
//! names the culprit. `main` prints it after `error: ` and exits with status 1.

use crate::formula::FormulaError;
use std::fmt;

/// Everything that can go wrong when running a `retrograd` subcommand.
///
/// ```
/// use retrograd_cli::CliError;
/// let error = CliError::DuplicateVariable("x".into());
/// assert_eq!(error.to_string(), "variable 'x' is given twice in --at");
/// ```
#[derive(Debug)]
pub enum CliError {
    /// The formula does not parse; shown with a caret under the column.
    Formula(FormulaError),
    /// An `--at` entry that is not `NAME=VALUE`.
    MalformedAssignment(String),
    /// An `--at` value that is not a number.
    NotANumber {
        /// The variable.
        name: String,
        /// What was given for it.
        value: String,
    },
    /// An `--at` name that is a function or constant name, so it cannot be a variable.
    ReservedName {
        /// The name.
        name: String,
        /// `"function"` or `"constant"`.
        kind: &'static str,
    },
    /// An `--at` variable that the formula does not use.
    UnknownVariable {
        /// The variable.
        name: String,
        /// The formula's variables, in order of first appearance.
        known: Vec<String>,
    },
    /// A variable given twice in `--at`.
    DuplicateVariable(String),
    /// Variables of the formula that `--at` gives no value.
    MissingVariables(Vec<String>),
    /// Writing the output failed.
    Output(std::io::Error),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Formula(error) => write!(f, "{error}"),
            CliError::MalformedAssignment(entry) => {
                write!(f, "expected NAME=VALUE in --at, got '{entry}'")
            }
            CliError::NotANumber { name, value } => {
                write!(f, "the value of '{name}' is not a number: '{value}'")
            }
            CliError::ReservedName { name, kind } => {
                write!(
                    f,
                    "'{name}' is a {kind}, not a variable, and cannot be set in --at"
                )
            }
            CliError::UnknownVariable { name, known } => {
                write!(
                    f,
                    "variable '{name}' in --at does not appear in the formula"
                )?;
                if known.is_empty() {
                    write!(f, " (it has no variables)")
                } else {
                    write!(f, " (its variables: {})", known.join(", "))
                }
            }
            CliError::DuplicateVariable(name) => {
                write!(f, "variable '{name}' is given twice in --at")
            }
            CliError::MissingVariables(names) => {
                let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
                let example: Vec<String> = names.iter().map(|n| format!("{n}=0")).collect();
                let plural = if names.len() == 1 { "" } else { "s" };
                write!(
                    f,
                    "no value for variable{plural} {} of the formula (add e.g. --at {})",
                    quoted.join(", "),
                    example.join(",")
                )
            }
            CliError::Output(error) => write!(f, "cannot write the output: {error}"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<FormulaError> for CliError {
    fn from(error: FormulaError) -> Self {
        CliError::Formula(error)
    }
}
