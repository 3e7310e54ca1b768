//! Formulas typed on the command line: `sin(x)*y^2 + atan2(y, x)`.
//!
//! [`lexer`] splits the text into tokens, [`parser`] turns them into a postfix program of
//! [`Op`]s (see [`eval`]), and [`Formula::eval`] runs that program on any
//! [`retrograd::Real`]: `f64` for values, `Var` for gradients, `Var<Dual>` for Hessians.
//!
//! Grammar, loosest binding first:
//! ```text
//! sum     = product (("+" | "-") product)*
//! product = unary (("*" | "/") unary)*
//! unary   = ("-" | "+") unary | power
//! power   = atom ("^" unary)?                 right-associative; -x^2 = -(x^2)
//! atom    = number | name | name "(" args ")" | "(" sum ")"
//! ```
//! `x ^ n` with an integer literal `n` (also `-n`) is computed as `powi(x, n)`, so it is
//! defined, with its derivative, for negative `x`.

pub mod eval;
pub mod functions;
pub mod lexer;
pub mod parser;

pub use eval::Op;

use std::fmt;

/// A parsed formula: a postfix program over numbered variables.
///
/// ```
/// use retrograd_cli::formula::Formula;
/// let f = Formula::parse("sin(x)*y^2 + atan2(y, x)").unwrap();
/// assert_eq!(f.variables(), ["x", "y"]);
/// let value: f64 = f.eval(&[1.0, 2.0]);
/// assert!((value - (4.0 * 1.0_f64.sin() + 2.0_f64.atan2(1.0))).abs() < 1e-15);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Formula {
    ops: Vec<Op>,
    variables: Vec<String>,
    max_stack: usize,
}

impl Formula {
    /// Parses `source`; on failure the error points at the offending column.
    ///
    /// ```
    /// let error = retrograd_cli::formula::Formula::parse("sin(x*(y").unwrap_err();
    /// assert_eq!(error.to_string(), "expected ')' at column 9\n  sin(x*(y\n          ^");
    /// ```
    pub fn parse(source: &str) -> Result<Formula, FormulaError> {
        let (ops, variables) = parser::parse(source)?;
        Ok(Formula::from_ops(ops, variables))
    }

    /// Builds a formula from a postfix program the parser produced.
    fn from_ops(ops: Vec<Op>, variables: Vec<String>) -> Formula {
        let mut depth = 0usize;
        let mut max_stack = 0;
        for op in &ops {
            depth = depth + 1 - op.inputs();
            max_stack = max_stack.max(depth);
        }
        debug_assert_eq!(depth, 1, "a postfix program leaves exactly one value");
        Formula {
            ops,
            variables,
            max_stack,
        }
    }

    /// The variable names, in order of first appearance; [`Formula::eval`] takes their
    /// values in this order.
    ///
    /// ```
    /// let f = retrograd_cli::formula::Formula::parse("b*a + b").unwrap();
    /// assert_eq!(f.variables(), ["b", "a"]);
    /// ```
    pub fn variables(&self) -> &[String] {
        &self.variables
    }

    /// The postfix program: operands are pushed, operators replace their inputs by the
    /// result.
    ///
    /// ```
    /// use retrograd_cli::formula::{Formula, Op};
    /// let f = Formula::parse("-x^2").unwrap();
    /// assert_eq!(f.ops(), [Op::Variable(0), Op::PowI(2), Op::Neg]);
    /// ```
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }
}

impl fmt::Display for Formula {
    /// Writes the formula fully parenthesised, which shows how it was parsed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.parenthesized())
    }
}

/// A formula that could not be parsed: what was expected, where, and the formula itself.
///
/// Its `Display` is the message, the formula, and a caret under the column:
/// ```text
/// expected ')' at column 9
///   sin(x*(y
///           ^
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormulaError {
    /// What went wrong, e.g. `expected ')'`.
    pub message: String,
    /// The 1-based character column the message is about (one past the end for
    /// "unexpected end of formula").
    pub column: usize,
    /// The formula as typed.
    pub source: String,
}

impl FormulaError {
    /// An error at `column` (1-based, in characters) of `source`.
    ///
    /// ```
    /// let e = retrograd_cli::formula::FormulaError::new("x+", 3, "expected an operand".into());
    /// assert_eq!(e.to_string(), "expected an operand at column 3\n  x+\n    ^");
    /// ```
    pub fn new(source: &str, column: usize, message: String) -> FormulaError {
        FormulaError {
            message,
            column,
            source: source.to_string(),
        }
    }
}

impl fmt::Display for FormulaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tabs and newlines would break the caret's alignment: show them as spaces.
        let shown: String = self
            .source
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect();
        let pad = " ".repeat(self.column.saturating_sub(1));
        write!(
            f,
            "{} at column {}\n  {shown}\n  {pad}^",
            self.message, self.column
        )
    }
}

impl std::error::Error for FormulaError {}
