//! Runs a parsed formula: a postfix program evaluated with an explicit stack, generic over
//! [`Real`] so one evaluator serves values, gradients and Hessians.
//!
//! A loop over a flat program, rather than recursion over a tree, keeps evaluation safe on
//! stack depth for formulas of any length (`x+x+...+x`).

use super::functions::Function;
use super::Formula;
use retrograd::Real;

/// One instruction of a formula's postfix program.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// Push a constant.
    Constant(f64),
    /// Push the value of the variable with this index (see [`Formula::variables`]).
    Variable(usize),
    /// Negate the top value.
    Neg,
    /// Pop `b`, pop `a`, push `a + b`.
    Add,
    /// Pop `b`, pop `a`, push `a - b`.
    Sub,
    /// Pop `b`, pop `a`, push `a * b`.
    Mul,
    /// Pop `b`, pop `a`, push `a / b`.
    Div,
    /// Pop `b`, pop `a`, push `a` to the real power `b`.
    Pow,
    /// Raise the top value to an integer power.
    PowI(i32),
    /// Replace the top [`Function::arity`] values by the function of them.
    Call(Function),
}

impl Op {
    /// How many stack values the instruction consumes (it always pushes one).
    ///
    /// ```
    /// use retrograd_cli::formula::{functions::Function, Op};
    /// assert_eq!(Op::Call(Function::MulAdd).inputs(), 3);
    /// assert_eq!(Op::Variable(0).inputs(), 0);
    /// ```
    pub fn inputs(self) -> usize {
        match self {
            Op::Constant(_) | Op::Variable(_) => 0,
            Op::Neg | Op::PowI(_) => 1,
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Pow => 2,
            Op::Call(function) => function.arity(),
        }
    }
}

impl Formula {
    /// Evaluates the formula with `vars[i]` as the value of `self.variables()[i]`.
    ///
    /// # Panics
    /// If `vars` has fewer values than the formula has variables.
    ///
    /// ```
    /// let f = retrograd_cli::formula::Formula::parse("x^2 - 2^-1").unwrap();
    /// assert_eq!(f.eval(&[3.0_f64]), 8.5);
    /// ```
    pub fn eval<T: Real>(&self, vars: &[T]) -> T {
        assert!(
            vars.len() >= self.variables.len(),
            "the formula has {} variables but {} values were given",
            self.variables.len(),
            vars.len()
        );
        let mut stack: Vec<T> = Vec::with_capacity(self.max_stack);
        for &op in &self.ops {
            let at = stack.len() - op.inputs();
            let inputs = &stack[at..];
            let result = match op {
                Op::Constant(c) => T::from_f64(c),
                Op::Variable(i) => vars[i],
                Op::Neg => -inputs[0],
                Op::Add => inputs[0] + inputs[1],
                Op::Sub => inputs[0] - inputs[1],
                Op::Mul => inputs[0] * inputs[1],
                Op::Div => inputs[0] / inputs[1],
                Op::Pow => inputs[0].powf(inputs[1]),
                Op::PowI(n) => inputs[0].powi(n),
                Op::Call(function) => function.apply(inputs),
            };
            stack.truncate(at);
            stack.push(result);
        }
        stack.pop().expect("a parsed formula leaves one value")
    }

    /// The formula with every operation in parentheses, e.g. `(-(x ^ 2))` for `-x^2`.
    ///
    /// ```
    /// let f = retrograd_cli::formula::Formula::parse("a - b - c*d").unwrap();
    /// assert_eq!(f.parenthesized(), "((a - b) - (c * d))");
    /// ```
    pub fn parenthesized(&self) -> String {
        let mut stack: Vec<String> = Vec::with_capacity(self.max_stack);
        for &op in &self.ops {
            let at = stack.len() - op.inputs();
            let inputs = stack.split_off(at);
            let infix = |symbol: &str| format!("({} {symbol} {})", inputs[0], inputs[1]);
            stack.push(match op {
                Op::Constant(c) => format!("{c}"),
                Op::Variable(i) => self.variables[i].clone(),
                Op::Neg => format!("(-{})", inputs[0]),
                Op::Add => infix("+"),
                Op::Sub => infix("-"),
                Op::Mul => infix("*"),
                Op::Div => infix("/"),
                Op::Pow => infix("^"),
                Op::PowI(n) => format!("({} ^ {n})", inputs[0]),
                Op::Call(function) => format!("{}({})", function.name(), inputs.join(", ")),
            });
        }
        stack.pop().expect("a parsed formula leaves one value")
    }
}
