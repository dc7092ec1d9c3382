//! Tokenizer for write-rule text.
//!
//! It knows the whole JS punctuator set so that anything outside the subset can be named in the
//! error, but decodes only what the subset needs: ASCII identifiers, decimal numbers and string
//! literals with every strict-mode escape. Positions are character indices into the rule.

use super::RuleError;
use super::js::{is_js_space, is_line_terminator};
use super::reject::{syntax, unsupported};

/// One token of rule text.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// An identifier or keyword (`data`, `$user`, `typeof`, `null`).
    Ident(String),
    /// A decimal numeric literal.
    Num(f64),
    /// A string literal, escapes decoded.
    Str(String),
    /// Any JS punctuator, supported or not.
    Punct(&'static str),
    /// End of the rule.
    Eof,
}

/// A token and the character index where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) at: usize,
}

/// Every JS punctuator, longest first so that matching is greedy as in JS.
const PUNCTUATORS: &[&str] = &[
    ">>>=", "...", "===", "!==", "**=", "<<=", ">>=", ">>>", "&&=", "||=", "??=", "=>", "==", "!=",
    "<=", ">=", "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=",
    "**", "<<", ">>", "(", ")", "[", "]", "{", "}", ".", ",", ";", ":", "?", "+", "-", "*", "/",
    "%", "<", ">", "=", "!", "~", "&", "|", "^",
];

/// Splits `src` into tokens, ending with [`Tok::Eof`].
///
/// The node runs `"use strict"; return <rule>`, so a line break before the first token makes
/// automatic semicolon insertion return `undefined`: the node accepts such a rule and then
/// denies every write. That is rejected here rather than reproduced.
pub(super) fn tokenize(src: &str) -> Result<Vec<Token>, RuleError> {
    let mut lx = Lexer {
        chars: src.chars().collect(),
        i: 0,
        out: Vec::new(),
    };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    out: Vec<Token>,
}

impl Lexer {
    fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).copied()
    }

    fn run(&mut self) -> Result<(), RuleError> {
        loop {
            let mut saw_line_break = false;
            while let Some(c) = self.peek_at(0) {
                if is_line_terminator(c) {
                    saw_line_break = true;
                } else if !is_js_space(c) {
                    break;
                }
                self.i += 1;
            }
            let at = self.i;
            if saw_line_break && self.out.is_empty() && at < self.chars.len() {
                return Err(unsupported(
                    "line break before the expression",
                    at,
                    "the node inserts `;` after `return`, so the rule would deny every write",
                ));
            }
            let Some(c) = self.peek_at(0) else {
                self.out.push(Token { tok: Tok::Eof, at });
                return Ok(());
            };
            let tok = if c.is_ascii_alphabetic() || c == '_' || c == '$' {
                self.ident()
            } else if c.is_ascii_digit()
                || (c == '.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit()))
            {
                Tok::Num(self.number()?)
            } else if c == '"' || c == '\'' {
                Tok::Str(self.string(c)?)
            } else {
                self.punct(c, at)?
            };
            self.out.push(Token { tok, at });
        }
    }

    fn ident(&mut self) -> Tok {
        let start = self.i;
        while self
            .peek_at(0)
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        {
            self.i += 1;
        }
        Tok::Ident(self.chars[start..self.i].iter().collect())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek_at(0).is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<f64, RuleError> {
        let start = self.i;
        if self.peek_at(0) == Some('0') {
            match self.peek_at(1) {
                Some('x' | 'X' | 'o' | 'O' | 'b' | 'B') => {
                    return Err(unsupported(
                        "hexadecimal, octal or binary literal",
                        start,
                        "write the number in decimal",
                    ));
                }
                Some(d) if d.is_ascii_digit() => {
                    return Err(unsupported(
                        "number with a leading zero",
                        start,
                        "legacy octal literals are a syntax error in strict mode",
                    ));
                }
                _ => {}
            }
        }
        self.digits();
        if self.peek_at(0) == Some('.') {
            self.i += 1;
            self.digits();
        }
        if matches!(self.peek_at(0), Some('e' | 'E')) {
            self.i += 1;
            if matches!(self.peek_at(0), Some('+' | '-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(syntax("malformed exponent in number", start));
            }
        }
        match self.peek_at(0) {
            Some('_') => {
                return Err(unsupported(
                    "numeric separator `_`",
                    self.i,
                    "write the digits without separators",
                ));
            }
            Some('n') => return Err(unsupported("BigInt literal", start, "")),
            Some(c) if c.is_ascii_alphanumeric() || c == '$' => {
                return Err(syntax("identifier directly after a number", self.i));
            }
            _ => {}
        }
        let text: String = self.chars[start..self.i].iter().collect();
        text.parse::<f64>()
            .map_err(|_| syntax("malformed number", start))
    }

    fn hex_digits(&mut self, n: usize, start: usize) -> Result<u32, RuleError> {
        let mut v = 0u32;
        for _ in 0..n {
            let d = self.peek_at(0).and_then(|c| c.to_digit(16));
            let Some(d) = d else {
                return Err(syntax("malformed escape sequence in string", start));
            };
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    /// Reads a string literal; `\u` escapes may build surrogate pairs, so it collects UTF-16.
    fn string(&mut self, quote: char) -> Result<String, RuleError> {
        let start = self.i;
        self.i += 1;
        let mut units: Vec<u16> = Vec::new();
        loop {
            let Some(c) = self.peek_at(0) else {
                return Err(syntax("unterminated string", start));
            };
            self.i += 1;
            if c == quote {
                break;
            }
            match c {
                '\n' | '\r' => return Err(syntax("unterminated string", start)),
                '\\' => self.escape(start, &mut units)?,
                _ => push_char(&mut units, c),
            }
        }
        String::from_utf16(&units).map_err(|_| {
            unsupported(
                "lone surrogate in a string literal",
                start,
                "Rust strings cannot hold it",
            )
        })
    }

    fn escape(&mut self, start: usize, units: &mut Vec<u16>) -> Result<(), RuleError> {
        let esc_at = self.i - 1;
        let Some(c) = self.peek_at(0) else {
            return Err(syntax("unterminated string", start));
        };
        self.i += 1;
        let simple = match c {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            'b' => Some('\u{08}'),
            'f' => Some('\u{0C}'),
            'v' => Some('\u{0B}'),
            '0' if !self.peek_at(0).is_some_and(|d| d.is_ascii_digit()) => Some('\0'),
            _ => None,
        };
        if let Some(s) = simple {
            push_char(units, s);
            return Ok(());
        }
        match c {
            '0'..='9' => Err(unsupported(
                format!("escape `\\{c}`"),
                esc_at,
                "octal escapes are a syntax error in strict mode",
            )),
            'x' => {
                let v = self.hex_digits(2, start)?;
                units.push(v as u16);
                Ok(())
            }
            'u' if self.peek_at(0) == Some('{') => {
                self.i += 1;
                let mut v: u32 = 0;
                let mut n = 0;
                while let Some(d) = self.peek_at(0).and_then(|c| c.to_digit(16)) {
                    v = v * 16 + d;
                    if v > 0x10FFFF {
                        return Err(syntax("code point out of range in string escape", esc_at));
                    }
                    n += 1;
                    self.i += 1;
                }
                if n == 0 || self.peek_at(0) != Some('}') {
                    return Err(syntax("malformed escape sequence in string", esc_at));
                }
                self.i += 1;
                match char::from_u32(v) {
                    Some(ch) => push_char(units, ch),
                    // A surrogate code point: keep the unit; pairing is checked at the end.
                    None => units.push(v as u16),
                }
                Ok(())
            }
            'u' => {
                let v = self.hex_digits(4, esc_at)?;
                units.push(v as u16);
                Ok(())
            }
            '\r' => {
                if self.peek_at(0) == Some('\n') {
                    self.i += 1;
                }
                Ok(())
            }
            // Line continuation: the backslash and the line terminator vanish.
            '\n' | '\u{2028}' | '\u{2029}' => Ok(()),
            other => {
                push_char(units, other);
                Ok(())
            }
        }
    }

    fn punct(&mut self, c: char, at: usize) -> Result<Tok, RuleError> {
        match c {
            '`' => {
                return Err(unsupported(
                    "template literal",
                    at,
                    "use a quoted string and `+`",
                ));
            }
            '/' if matches!(self.peek_at(1), Some('/' | '*')) => {
                return Err(unsupported("comment", at, ""));
            }
            '\\' => return Err(unsupported("escape sequence in an identifier", at, "")),
            '#' => return Err(unsupported("private name `#`", at, "")),
            '@' => return Err(unsupported("decorator `@`", at, "")),
            _ => {}
        }
        for &p in PUNCTUATORS {
            if p.chars()
                .enumerate()
                .all(|(k, pc)| self.peek_at(k) == Some(pc))
            {
                self.i += p.chars().count();
                return Ok(Tok::Punct(p));
            }
        }
        if !c.is_ascii() && !c.is_control() {
            return Err(unsupported(
                format!("character `{c}`"),
                at,
                "identifiers must be ASCII outside string literals",
            ));
        }
        Err(syntax(format!("unexpected character {c:?}"), at))
    }
}

fn push_char(units: &mut Vec<u16>, c: char) {
    let mut buf = [0u16; 2];
    units.extend_from_slice(c.encode_utf16(&mut buf));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn one_str(src: &str) -> String {
        match toks(src).as_slice() {
            [Tok::Str(s), Tok::Eof] => s.clone(),
            other => panic!("{src:?} gave {other:?}"),
        }
    }

    #[test]
    fn tokens_and_positions() {
        let t = tokenize("auth.addr === $user_addr").unwrap();
        let got: Vec<(Tok, usize)> = t.into_iter().map(|t| (t.tok, t.at)).collect();
        assert_eq!(
            got,
            vec![
                (Tok::Ident("auth".into()), 0),
                (Tok::Punct("."), 4),
                (Tok::Ident("addr".into()), 5),
                (Tok::Punct("==="), 10),
                (Tok::Ident("$user_addr".into()), 14),
                (Tok::Eof, 24),
            ]
        );
        // Positions count characters, not bytes.
        let t = tokenize("'é' === x").unwrap();
        assert_eq!(t[1].at, 4);
    }

    #[test]
    fn greedy_punctuators() {
        assert_eq!(
            toks("a>>>=b!==c"),
            vec![
                Tok::Ident("a".into()),
                Tok::Punct(">>>="),
                Tok::Ident("b".into()),
                Tok::Punct("!=="),
                Tok::Ident("c".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn numbers() {
        for (src, want) in [
            ("0", 0.0),
            ("1.5", 1.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("2E-2", 0.02),
            ("0.25", 0.25),
        ] {
            assert_eq!(toks(src), vec![Tok::Num(want), Tok::Eof], "{src}");
        }
        for bad in ["0x1F", "017", "08", "1_000", "1n", "3in", "1e", "1e+"] {
            assert!(tokenize(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn string_escapes() {
        assert_eq!(one_str(r#""a\"b""#), "a\"b");
        assert_eq!(one_str(r"'it\'s'"), "it's");
        assert_eq!(one_str(r"'\n\t\r\b\f\v\0\\'"), "\n\t\r\u{8}\u{c}\u{b}\0\\");
        assert_eq!(one_str(r"'\x41\u0042\u{43}\u{1F600}'"), "ABC\u{1F600}");
        assert_eq!(one_str(r"'\uD83D\uDE00'"), "\u{1F600}");
        assert_eq!(one_str(r"'\q\/'"), "q/");
        assert_eq!(one_str("'a\\\nb'"), "ab");
        assert_eq!(one_str("'a\\\r\nb'"), "ab");
        assert_eq!(one_str("'\u{2028}'"), "\u{2028}");
        assert_eq!(one_str("\"'\""), "'");
    }

    #[test]
    fn bad_strings() {
        for bad in [
            "'abc",
            "'a\nb'",
            "'\\",
            r"'\1'",
            r"'\08'",
            r"'\xZ1'",
            r"'\u12'",
            r"'\u{}'",
            r"'\u{110000}'",
            r"'\uD800'",
        ] {
            assert!(tokenize(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            tokenize("'abc").unwrap_err().to_string(),
            "unterminated string at 0"
        );
    }

    #[test]
    fn leading_line_break_is_rejected() {
        assert!(tokenize("\ndata === null").is_err());
        assert!(tokenize("  \r\n true").is_err());
        assert!(tokenize("data ===\nnull").is_ok());
        assert!(tokenize(" \t data").is_ok());
    }

    #[test]
    fn unsupported_characters() {
        for bad in [
            "`x`",
            "a // c",
            "a /* c */",
            "#x",
            "@d",
            "\\u0061",
            "ü",
            "\u{1}",
        ] {
            assert!(tokenize(bad).is_err(), "{bad:?}");
        }
    }
}
