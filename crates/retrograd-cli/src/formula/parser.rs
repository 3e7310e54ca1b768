//! Recursive-descent parser from tokens to a postfix program of [`Op`]s.
//!
//! Each grammar rule (see the [module documentation](super)) is one method; operands are
//! emitted before their operator, so the output is ready to run on a stack. Nesting depth
//! (parentheses, calls, unary signs, `^`) is capped at [`MAX_NESTING`] so that no input can
//! exhaust the parser's stack; sequences such as `x+x+...+x` are loops, not recursion, and
//! have no limit.

use std::collections::HashMap;

use super::functions::{self, Function};
use super::lexer::{tokenize, Token, TokenKind};
use super::{FormulaError, Op};

/// The deepest nesting of parentheses, calls, signs and powers a formula may have.
pub const MAX_NESTING: usize = 200;

/// Parses `source` into a postfix program and its variables in order of first appearance.
///
/// ```
/// use retrograd_cli::formula::{parser::parse, Op};
/// let (ops, variables) = parse("2*x").unwrap();
/// assert_eq!(ops, [Op::Constant(2.0), Op::Variable(0), Op::Mul]);
/// assert_eq!(variables, ["x"]);
/// ```
pub fn parse(source: &str) -> Result<(Vec<Op>, Vec<String>), FormulaError> {
    let mut parser = Parser {
        source,
        tokens: tokenize(source)?,
        position: 0,
        ops: Vec::new(),
        variables: Vec::new(),
        variable_indices: HashMap::new(),
        nesting: 0,
    };
    parser.sum()?;
    let token = parser.peek();
    match token.kind {
        TokenKind::End => Ok((parser.ops, parser.variables)),
        TokenKind::RightParen => Err(parser.error(token.column, "unmatched ')'".into())),
        ref other => Err(parser.error(
            token.column,
            format!("expected an operator, found {}", other.describe()),
        )),
    }
}

struct Parser<'s> {
    source: &'s str,
    /// Always ends with [`TokenKind::End`], which [`Parser::advance`] never moves past.
    tokens: Vec<Token>,
    position: usize,
    ops: Vec<Op>,
    variables: Vec<String>,
    /// Each of `variables` and its index: a formula may have very many.
    variable_indices: HashMap<String, usize>,
    nesting: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Token {
        self.tokens[self.position].clone()
    }

    fn advance(&mut self) -> Token {
        let token = self.peek();
        if token.kind != TokenKind::End {
            self.position += 1;
        }
        token
    }

    fn error(&self, column: usize, message: String) -> FormulaError {
        FormulaError::new(self.source, column, message)
    }

    /// Runs `rule` one nesting level deeper, refusing to go past [`MAX_NESTING`].
    fn nested(
        &mut self,
        column: usize,
        rule: impl FnOnce(&mut Self) -> Result<(), FormulaError>,
    ) -> Result<(), FormulaError> {
        if self.nesting >= MAX_NESTING {
            return Err(self.error(
                column,
                format!("formula is nested too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        self.nesting += 1;
        let result = rule(self);
        self.nesting -= 1;
        result
    }

    /// `sum = product (("+" | "-") product)*`
    fn sum(&mut self) -> Result<(), FormulaError> {
        self.product()?;
        loop {
            let op = match self.peek().kind {
                TokenKind::Plus => Op::Add,
                TokenKind::Minus => Op::Sub,
                _ => return Ok(()),
            };
            self.advance();
            self.product()?;
            self.ops.push(op);
        }
    }

    /// `product = unary (("*" | "/") unary)*`
    fn product(&mut self) -> Result<(), FormulaError> {
        self.unary()?;
        loop {
            let op = match self.peek().kind {
                TokenKind::Star => Op::Mul,
                TokenKind::Slash => Op::Div,
                _ => return Ok(()),
            };
            self.advance();
            self.unary()?;
            self.ops.push(op);
        }
    }

    /// `unary = ("-" | "+") unary | power`
    fn unary(&mut self) -> Result<(), FormulaError> {
        let token = self.peek();
        match token.kind {
            TokenKind::Minus => {
                self.advance();
                self.nested(token.column, Self::unary)?;
                self.ops.push(Op::Neg);
                Ok(())
            }
            TokenKind::Plus => {
                self.advance();
                self.nested(token.column, Self::unary)
            }
            _ => self.power(),
        }
    }

    /// `power = atom ("^" unary)?`; the exponent is a `unary`, which makes `^`
    /// right-associative and allows `2^-x`.
    fn power(&mut self) -> Result<(), FormulaError> {
        self.atom()?;
        let token = self.peek();
        if token.kind != TokenKind::Caret {
            return Ok(());
        }
        self.advance();
        let exponent_start = self.ops.len();
        self.nested(token.column, Self::unary)?;
        match integer_literal(&self.ops[exponent_start..]) {
            Some(n) => {
                self.ops.truncate(exponent_start);
                self.ops.push(Op::PowI(n));
            }
            None => self.ops.push(Op::Pow),
        }
        Ok(())
    }

    /// `atom = number | name | name "(" args ")" | "(" sum ")"`
    fn atom(&mut self) -> Result<(), FormulaError> {
        let token = self.advance();
        match token.kind {
            TokenKind::Number(value) => {
                self.ops.push(Op::Constant(value));
                Ok(())
            }
            TokenKind::Ident(name) => self.name(name, token.column),
            TokenKind::LeftParen => self.nested(token.column, |parser| {
                parser.sum()?;
                parser.expect_right_paren("expected ')'")
            }),
            other => Err(self.error(
                token.column,
                format!(
                    "expected a number, variable, function or '(', found {}",
                    other.describe()
                ),
            )),
        }
    }

    fn expect_right_paren(&mut self, message: &str) -> Result<(), FormulaError> {
        let token = self.advance();
        match token.kind {
            TokenKind::RightParen => Ok(()),
            TokenKind::End => Err(self.error(token.column, message.to_string())),
            other => Err(self.error(
                token.column,
                format!("{message}, found {}", other.describe()),
            )),
        }
    }

    /// A name: a function call, a constant or a variable.
    fn name(&mut self, name: String, column: usize) -> Result<(), FormulaError> {
        let called = self.peek().kind == TokenKind::LeftParen;
        if called {
            if functions::is_function_name(&name) {
                return self.nested(column, |parser| parser.call(&name, column));
            }
            let message = if functions::constant(&name).is_some() {
                format!("'{name}' is a constant, not a function")
            } else {
                format!("unknown function '{name}'")
            };
            return Err(self.error(column, message));
        }
        if functions::is_function_name(&name) {
            return Err(self.error(
                column,
                format!(
                    "'{name}' is a function, not a variable: call it with parentheses, \
                     e.g. {name}(x)"
                ),
            ));
        }
        let op = match functions::constant(&name) {
            Some(value) => Op::Constant(value),
            None => Op::Variable(self.variable_index(name)),
        };
        self.ops.push(op);
        Ok(())
    }

    fn variable_index(&mut self, name: String) -> usize {
        if let Some(&index) = self.variable_indices.get(&name) {
            return index;
        }
        let index = self.variables.len();
        self.variables.push(name.clone());
        self.variable_indices.insert(name, index);
        index
    }

    /// The arguments of a call, from `(` to `)`, then the check of their number.
    fn call(&mut self, name: &str, column: usize) -> Result<(), FormulaError> {
        self.advance(); // the '(' seen by `name`
                        // Where each argument's program starts, and its column.
        let mut arguments: Vec<(usize, usize)> = Vec::new();
        if self.peek().kind == TokenKind::RightParen {
            self.advance();
        } else {
            loop {
                arguments.push((self.ops.len(), self.peek().column));
                self.sum()?;
                let token = self.advance();
                match token.kind {
                    TokenKind::Comma => continue,
                    TokenKind::RightParen => break,
                    other => {
                        let found = match other {
                            TokenKind::End => String::new(),
                            other => format!(", found {}", other.describe()),
                        };
                        return Err(self.error(
                            token.column,
                            format!("expected ',' or ')' in the arguments of {name}{found}"),
                        ));
                    }
                }
            }
        }
        let count = arguments.len();
        let wrong_count = |expected: &str| {
            let plural = if expected == "1" { "" } else { "s" };
            self.error(
                column,
                format!("{name} expects {expected} argument{plural}, got {count}"),
            )
        };
        match name {
            "powi" => {
                if count != 2 {
                    return Err(wrong_count("2"));
                }
                let (start, exponent_column) = arguments[1];
                let Some(n) = integer_literal(&self.ops[start..]) else {
                    return Err(self.error(
                        exponent_column,
                        "powi needs an integer literal as its exponent \
                         (use powf for a real exponent)"
                            .into(),
                    ));
                };
                self.ops.truncate(start);
                self.ops.push(Op::PowI(n));
            }
            "log" => match count {
                1 => self.ops.push(Op::Call(Function::Ln)),
                2 => self.ops.push(Op::Call(Function::Log)),
                _ => return Err(wrong_count("1 or 2")),
            },
            _ => {
                let function = functions::lookup(name).expect("checked by is_function_name");
                if count != function.arity() {
                    return Err(wrong_count(&function.arity().to_string()));
                }
                self.ops.push(Op::Call(function));
            }
        }
        Ok(())
    }
}

/// The integer an exponent's program denotes, if it is an integer literal, possibly signed
/// (`2`, `-3`, `(-3)`), that fits in an `i32`.
fn integer_literal(ops: &[Op]) -> Option<i32> {
    let value = match ops {
        [Op::Constant(v)] => *v,
        [Op::Constant(v), Op::Neg] => -*v,
        _ => return None,
    };
    let fits = value.fract() == 0.0 && value >= i32::MIN as f64 && value <= i32::MAX as f64;
    fits.then_some(value as i32)
}

#[cfg(test)]
mod tests {
    use super::super::Formula;
    use super::*;

    fn parenthesized(source: &str) -> String {
        Formula::parse(source).unwrap().parenthesized()
    }

    /// The message and column of the error `source` gets, and its rendering.
    fn error(source: &str) -> (String, usize, String) {
        let error = Formula::parse(source).unwrap_err();
        let rendered = error.to_string();
        (error.message, error.column, rendered)
    }

    #[test]
    fn precedence() {
        let cases = [
            ("a + b * c", "(a + (b * c))"),
            ("a * b + c", "((a * b) + c)"),
            ("a * b ^ c", "(a * (b ^ c))"),
            ("a / b * c", "((a / b) * c)"),
            ("-x^2", "(-(x ^ 2))"),
            ("-x^y", "(-(x ^ y))"),
            ("(-x)^2", "((-x) ^ 2)"),
            ("2^-x", "(2 ^ (-x))"),
            ("2^-x^2", "(2 ^ (-(x ^ 2)))"),
            ("-a * b", "((-a) * b)"),
            ("a - -b", "(a - (-b))"),
            ("+a", "a"),
            ("a*-b", "(a * (-b))"),
            ("sin(x)^2", "(sin(x) ^ 2)"),
            ("(a + b) * c", "((a + b) * c)"),
        ];
        for (source, expected) in cases {
            assert_eq!(parenthesized(source), expected, "{source}");
        }
    }

    #[test]
    fn associativity() {
        assert_eq!(parenthesized("a - b - c"), "((a - b) - c)");
        assert_eq!(parenthesized("a / b / c"), "((a / b) / c)");
        assert_eq!(parenthesized("a ^ b ^ c"), "(a ^ (b ^ c))");
        assert_eq!(parenthesized("2 ^ 3 ^ 2"), "(2 ^ (3 ^ 2))");
        let f = Formula::parse("2^3^2").unwrap();
        assert_eq!(f.eval::<f64>(&[]), 512.0);
        assert_eq!(Formula::parse("8/4/2").unwrap().eval::<f64>(&[]), 1.0);
        assert_eq!(Formula::parse("-2^2").unwrap().eval::<f64>(&[]), -4.0);
        assert_eq!(Formula::parse("(-2)^2").unwrap().eval::<f64>(&[]), 4.0);
    }

    #[test]
    fn integer_exponents_become_powi() {
        let ops = |s: &str| Formula::parse(s).unwrap().ops().to_vec();
        assert_eq!(ops("x^3"), [Op::Variable(0), Op::PowI(3)]);
        assert_eq!(ops("x^-2"), [Op::Variable(0), Op::PowI(-2)]);
        assert_eq!(ops("x^(-2)"), [Op::Variable(0), Op::PowI(-2)]);
        assert_eq!(ops("powi(x, -2)"), [Op::Variable(0), Op::PowI(-2)]);
        assert_eq!(ops("x^0.5"), [Op::Variable(0), Op::Constant(0.5), Op::Pow]);
        assert_eq!(
            ops("x^1e10"),
            [Op::Variable(0), Op::Constant(1e10), Op::Pow]
        );
        // powi is defined for negative bases, unlike powf with a real exponent.
        let f = Formula::parse("x^3").unwrap();
        assert_eq!(f.eval(&[-2.0_f64]), -8.0);
    }

    #[test]
    fn constants_and_variables() {
        let f = Formula::parse("pi*e + x - pie").unwrap();
        assert_eq!(f.variables(), ["x", "pie"]);
        let expected = std::f64::consts::PI * std::f64::consts::E + 1.0 - 2.0;
        assert_eq!(f.eval(&[1.0_f64, 2.0]), expected);
        assert_eq!(Formula::parse("y*x*y").unwrap().variables(), ["y", "x"]);
    }

    #[test]
    fn every_function_name() {
        let (x, y, z) = (0.3_f64, 0.7_f64, 1.9_f64);
        let cases: Vec<(&str, f64)> = vec![
            ("powi(x, 3)", x.powi(3)),
            ("powf(x, y)", x.powf(y)),
            ("pow(x, y)", x.powf(y)),
            ("sqrt(x)", x.sqrt()),
            ("cbrt(x)", x.cbrt()),
            ("exp(x)", x.exp()),
            ("exp2(x)", x.exp2()),
            ("exp_m1(x)", x.exp_m1()),
            ("ln(x)", x.ln()),
            ("log(x)", x.ln()),
            ("log(x, y)", x.log(y)),
            ("ln_1p(x)", x.ln_1p()),
            ("log2(x)", x.log2()),
            ("log10(x)", x.log10()),
            ("sin(x)", x.sin()),
            ("cos(x)", x.cos()),
            ("tan(x)", x.tan()),
            ("asin(x)", x.asin()),
            ("acos(x)", x.acos()),
            ("atan(x)", x.atan()),
            ("atan2(y, x)", y.atan2(x)),
            ("sinh(x)", x.sinh()),
            ("cosh(x)", x.cosh()),
            ("tanh(x)", x.tanh()),
            ("asinh(x)", x.asinh()),
            ("acosh(z)", z.acosh()),
            ("atanh(x)", x.atanh()),
            ("abs(-x)", x),
            ("signum(-x)", -1.0),
            ("min(x, y)", x),
            ("max(x, y)", y),
            ("hypot(x, y)", x.hypot(y)),
            ("mul_add(x, y, z)", x.mul_add(y, z)),
            ("erf(x)", retrograd::Real::erf(x)),
            ("erfc(x)", retrograd::Real::erfc(x)),
            ("floor(z)", 1.0),
            ("ceil(z)", 2.0),
            ("round(z)", 2.0),
            ("trunc(-z)", -1.0),
        ];
        let mut covered: Vec<&str> = Vec::new();
        for (source, expected) in &cases {
            // Every variable is declared up front so that x, y, z keep their indices.
            let formula = Formula::parse(&format!("0*(x+y+z) + {source}")).unwrap();
            let value = formula.eval(&[x, y, z]);
            // Not exact: an optimised build may constant-fold `x.powi(3)` above differently.
            let tolerance = 1e-15 * expected.abs().max(1.0);
            assert!(
                (value - expected).abs() <= tolerance,
                "{source}: {value} vs {expected}"
            );
            covered.push(source.split('(').next().unwrap());
        }
        for (name, _) in functions::FUNCTIONS {
            assert!(covered.contains(name), "{name} is not tested");
        }
    }

    #[test]
    fn wrong_arity_names_the_function_and_the_count() {
        let cases = [
            ("sin(x, y)", "sin expects 1 argument, got 2"),
            ("atan2(y)", "atan2 expects 2 arguments, got 1"),
            ("mul_add(a, b)", "mul_add expects 3 arguments, got 2"),
            ("powi(x)", "powi expects 2 arguments, got 1"),
            ("log(x, y, z)", "log expects 1 or 2 arguments, got 3"),
            ("exp()", "exp expects 1 argument, got 0"),
        ];
        for (source, message) in cases {
            let (actual, column, _) = error(source);
            assert_eq!((actual.as_str(), column), (message, 1), "{source}");
        }
        let (message, column, _) = error("1 + hypot(x)");
        assert_eq!(
            (message.as_str(), column),
            ("hypot expects 2 arguments, got 1", 5)
        );
    }

    #[test]
    fn errors_show_a_caret_under_the_column() {
        let (message, column, rendered) = error("sin(x*(y");
        assert_eq!((message.as_str(), column), ("expected ')'", 9));
        assert_eq!(
            rendered,
            "expected ')' at column 9\n  sin(x*(y\n          ^"
        );

        let (_, _, rendered) = error("x + * y");
        assert_eq!(
            rendered,
            "expected a number, variable, function or '(', found '*' at column 5\n\
             \x20 x + * y\n\
             \x20     ^"
        );
    }

    #[test]
    fn error_messages_and_columns() {
        let cases = [
            (
                "",
                "expected a number, variable, function or '(', found end of formula",
                1,
            ),
            (
                "x +",
                "expected a number, variable, function or '(', found end of formula",
                4,
            ),
            ("x y", "expected an operator, found 'y'", 3),
            ("(x))", "unmatched ')'", 4),
            ("(x y)", "expected ')', found 'y'", 4),
            (
                "sin(x y)",
                "expected ',' or ')' in the arguments of sin, found 'y'",
                7,
            ),
            (
                "max(x,",
                "expected a number, variable, function or '(', found end of formula",
                7,
            ),
            (
                "atan2(y, x",
                "expected ',' or ')' in the arguments of atan2",
                11,
            ),
            (
                "2 * sin",
                "'sin' is a function, not a variable: call it with parentheses, e.g. sin(x)",
                5,
            ),
            (
                "powi + 1",
                "'powi' is a function, not a variable: call it with parentheses, e.g. powi(x)",
                1,
            ),
            ("pi(x)", "'pi' is a constant, not a function", 1),
            ("x + foo(x)", "unknown function 'foo'", 5),
            (
                "powi(x, y)",
                "powi needs an integer literal as its exponent (use powf for a real exponent)",
                9,
            ),
            (
                "powi(x, 2.5)",
                "powi needs an integer literal as its exponent (use powf for a real exponent)",
                9,
            ),
            ("x # 2", "unexpected character '#'", 3),
            (
                "x ** 2",
                "expected a number, variable, function or '(', found '*'",
                4,
            ),
            ("1e+", "expected digits in the exponent of a number", 4),
        ];
        for (source, message, column) in cases {
            let (actual, actual_column, rendered) = error(source);
            assert_eq!(
                (actual.as_str(), actual_column),
                (message, column),
                "{source}"
            );
            let caret_line = rendered.lines().last().unwrap();
            assert_eq!(caret_line.len(), 2 + column, "{source}: {rendered}");
        }
    }

    #[test]
    fn nesting_is_capped_but_long_sums_are_not() {
        let deep = format!("{}x{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(Formula::parse(&deep).is_ok());
        let too_deep = format!("({deep})");
        let (message, column, _) = error(&too_deep);
        assert!(message.contains("nested too deeply"), "{message}");
        assert_eq!(column, MAX_NESTING + 1);
        assert!(Formula::parse(&"-".repeat(10_000)).is_err());
        assert!(Formula::parse(&"x^".repeat(10_000)).is_err());

        let long_sum = vec!["x"; 100_000].join("+");
        let f = Formula::parse(&long_sum).unwrap();
        assert_eq!(f.eval(&[1.0_f64]), 100_000.0);
    }
}
