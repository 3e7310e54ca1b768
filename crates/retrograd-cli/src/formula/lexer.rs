//! Splits a formula into tokens, each tagged with the character column where it starts.

use super::FormulaError;

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenKind {
    /// A number literal such as `2`, `.5`, `1e-3`.
    Number(f64),
    /// A name: a variable, a function or a constant.
    Ident(String),
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `^`
    Caret,
    /// `(`
    LeftParen,
    /// `)`
    RightParen,
    /// `,`
    Comma,
    /// The end of the formula.
    End,
}

impl TokenKind {
    /// How the token reads in an error message, e.g. `'+'` or `number 2`.
    ///
    /// ```
    /// use retrograd_cli::formula::lexer::TokenKind;
    /// assert_eq!(TokenKind::Caret.describe(), "'^'");
    /// assert_eq!(TokenKind::End.describe(), "end of formula");
    /// ```
    pub fn describe(&self) -> String {
        match self {
            TokenKind::Number(x) => format!("number {x}"),
            TokenKind::Ident(name) => format!("'{name}'"),
            TokenKind::Plus => "'+'".into(),
            TokenKind::Minus => "'-'".into(),
            TokenKind::Star => "'*'".into(),
            TokenKind::Slash => "'/'".into(),
            TokenKind::Caret => "'^'".into(),
            TokenKind::LeftParen => "'('".into(),
            TokenKind::RightParen => "')'".into(),
            TokenKind::Comma => "','".into(),
            TokenKind::End => "end of formula".into(),
        }
    }
}

/// A token and the 1-based character column where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// 1-based column of its first character (for `End`: one past the last character).
    pub column: usize,
}

/// Splits `source` into tokens; the last one is always [`TokenKind::End`].
///
/// Identifiers are a letter or `_` followed by letters, digits and `_`. Numbers are digits
/// with an optional fraction and exponent, or a fraction alone (`.5`).
///
/// ```
/// use retrograd_cli::formula::lexer::{tokenize, TokenKind};
/// let kinds: Vec<TokenKind> = tokenize("x^.5").unwrap().into_iter().map(|t| t.kind).collect();
/// assert_eq!(kinds, [TokenKind::Ident("x".into()), TokenKind::Caret,
///                    TokenKind::Number(0.5), TokenKind::End]);
/// ```
pub fn tokenize(source: &str) -> Result<Vec<Token>, FormulaError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let single = match c {
            '+' => Some(TokenKind::Plus),
            '-' => Some(TokenKind::Minus),
            '*' => Some(TokenKind::Star),
            '/' => Some(TokenKind::Slash),
            '^' => Some(TokenKind::Caret),
            '(' => Some(TokenKind::LeftParen),
            ')' => Some(TokenKind::RightParen),
            ',' => Some(TokenKind::Comma),
            _ => None,
        };
        if let Some(kind) = single {
            tokens.push(Token { kind, column });
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let (value, end) = lex_number(source, &chars, i)?;
            tokens.push(Token {
                kind: TokenKind::Number(value),
                column,
            });
            i = end;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token {
                kind: TokenKind::Ident(chars[start..i].iter().collect()),
                column,
            });
        } else {
            return Err(FormulaError::new(
                source,
                column,
                format!("unexpected character '{c}'"),
            ));
        }
    }
    tokens.push(Token {
        kind: TokenKind::End,
        column: chars.len() + 1,
    });
    Ok(tokens)
}

/// Reads the number starting at `chars[start]`; returns its value and the index after it.
fn lex_number(source: &str, chars: &[char], start: usize) -> Result<(f64, usize), FormulaError> {
    let digits_from = |mut i: usize| {
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits_from(start);
    let mut has_digits = i > start;
    if i < chars.len() && chars[i] == '.' {
        let after_point = i + 1;
        i = digits_from(after_point);
        has_digits |= i > after_point;
    }
    if !has_digits {
        return Err(FormulaError::new(
            source,
            start + 1,
            "expected digits around '.'".into(),
        ));
    }
    if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
        let mut j = i + 1;
        if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
            j += 1;
        }
        let end = digits_from(j);
        if end == j {
            return Err(FormulaError::new(
                source,
                j + 1,
                "expected digits in the exponent of a number".into(),
            ));
        }
        i = end;
    }
    let text: String = chars[start..i].iter().collect();
    // The text is digits, at most one '.', and a well-formed exponent: Rust parses all of
    // these (overflowing ones to infinity), so the fallback is never taken.
    let value = text
        .parse::<f64>()
        .map_err(|_| FormulaError::new(source, start + 1, format!("malformed number '{text}'")))?;
    Ok((value, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<TokenKind> {
        tokenize(source)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn numbers_in_every_form() {
        use TokenKind::Number;
        for (text, value) in [
            ("2", 2.0),
            ("2.", 2.0),
            (".5", 0.5),
            ("3.25", 3.25),
            ("1e-3", 1e-3),
            ("1E+3", 1e3),
            ("2.5e2", 250.0),
            (".5e1", 5.0),
        ] {
            assert_eq!(kinds(text), [Number(value), TokenKind::End], "{text}");
        }
    }

    #[test]
    fn operators_names_and_columns() {
        let tokens = tokenize(" sin(x_1)*y2 ").unwrap();
        let summary: Vec<(TokenKind, usize)> =
            tokens.into_iter().map(|t| (t.kind, t.column)).collect();
        assert_eq!(
            summary,
            [
                (TokenKind::Ident("sin".into()), 2),
                (TokenKind::LeftParen, 5),
                (TokenKind::Ident("x_1".into()), 6),
                (TokenKind::RightParen, 9),
                (TokenKind::Star, 10),
                (TokenKind::Ident("y2".into()), 11),
                (TokenKind::End, 14),
            ]
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let tokens = tokenize("α+β").unwrap();
        assert_eq!(tokens[2].column, 3);
        assert_eq!(tokens[3].column, 4);
    }

    #[test]
    fn lexical_errors_point_at_the_offending_column() {
        let cases = [
            ("x $ y", 3, "unexpected character '$'"),
            ("1e", 3, "expected digits in the exponent of a number"),
            ("2*1e+", 6, "expected digits in the exponent of a number"),
            ("x + .", 5, "expected digits around '.'"),
        ];
        for (source, column, message) in cases {
            let error = tokenize(source).unwrap_err();
            assert_eq!((error.column, error.message.as_str()), (column, message));
        }
    }
}
