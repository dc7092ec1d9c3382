//! Naming what is outside the subset: every error the tokenizer and parser raise for JS that
//! is valid but unsupported says which construct it is and, where useful, what to write instead.

use super::RuleError;
use super::lex::{Tok, Token};

/// JS reserved words and operator keywords: none of them is part of the subset.
const KEYWORDS: &[&str] = &[
    "async",
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "let",
    "new",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
    "arguments",
    "eval",
];

pub(super) fn unsupported(what: impl Into<String>, at: usize, hint: &str) -> RuleError {
    RuleError::Unsupported {
        what: what.into(),
        at,
        hint: hint.to_owned(),
    }
}

pub(super) fn syntax(msg: impl Into<String>, at: usize) -> RuleError {
    RuleError::Syntax {
        msg: msg.into(),
        at,
    }
}

pub(super) fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(s) => format!("identifier `{s}`"),
        Tok::Num(_) => "number".to_owned(),
        Tok::Str(_) => "string".to_owned(),
        Tok::Punct(p) => format!("`{p}`"),
        Tok::Eof => "end of rule".to_owned(),
    }
}

/// The error for a token that follows a complete operand but cannot continue the expression.
pub(super) fn after_operand(t: &Token) -> RuleError {
    let at = t.at;
    match &t.tok {
        Tok::Punct("==") => unsupported("operator `==`", at, "use `===`"),
        Tok::Punct("!=") => unsupported("operator `!=`", at, "use `!==`"),
        Tok::Punct(
            "=" | "+=" | "-=" | "*=" | "/=" | "%=" | "**=" | "<<=" | ">>=" | ">>>=" | "&=" | "|="
            | "^=" | "&&=" | "||=" | "??=",
        ) => RuleError::Assignment { at },
        Tok::Punct(op @ ("-" | "*" | "/" | "%" | "**")) => unsupported(
            format!("operator `{op}`"),
            at,
            "the only arithmetic is `+` (and unary `-`)",
        ),
        Tok::Punct(op @ ("&" | "|" | "^" | "<<" | ">>" | ">>>")) => {
            unsupported(format!("bitwise operator `{op}`"), at, "")
        }
        Tok::Punct(op @ ("++" | "--")) => unsupported(format!("update operator `{op}`"), at, ""),
        Tok::Punct("=>") => unsupported("arrow function `=>`", at, ""),
        Tok::Punct("??") => unsupported("nullish coalescing `??`", at, "use `||`"),
        Tok::Punct("?") => unsupported("conditional operator `?:`", at, "use `&&` and `||`"),
        Tok::Punct("?.") => unsupported(
            "optional chaining `?.`",
            at,
            "test for null with `&&` first",
        ),
        Tok::Punct(";") => unsupported("`;`", at, "a rule is a single expression"),
        Tok::Punct("{") => unsupported("block or object literal `{`", at, ""),
        Tok::Punct("(") => unsupported(
            "call",
            at,
            "only getValue(path) and the supported util.* predicates can be called",
        ),
        Tok::Ident(k) if k == "in" || k == "instanceof" => {
            unsupported(format!("operator `{k}`"), at, "")
        }
        other => syntax(
            format!("unexpected {} after a complete expression", describe(other)),
            at,
        ),
    }
}

/// The error for an identifier that is not part of the subset.
pub(super) fn unsupported_identifier(name: &str, at: usize) -> RuleError {
    match name {
        k if KEYWORDS.contains(&k) => unsupported(format!("keyword `{k}`"), at, ""),
        "Number" | "String" | "Boolean" => unsupported(
            format!("type cast `{name}`"),
            at,
            "compare with `===` and test types with util.isNumber/isString/isBool",
        ),
        "lastBlockNumber" => unsupported(
            "identifier `lastBlockNumber`",
            at,
            "the node whitelists it but never binds it, so it throws; use `blockNumber`",
        ),
        "getRule" | "getFunction" | "getOwner" | "evalRule" | "evalOwner" | "parsedValuePath" => {
            unsupported(
                format!("identifier `{name}`"),
                at,
                "only getValue reads state in devnet rules",
            )
        }
        "undefined" | "NaN" | "Infinity" => unsupported(
            format!("identifier `{name}`"),
            at,
            "the node's identifier whitelist rejects it",
        ),
        _ => RuleError::UnknownIdentifier {
            name: name.to_owned(),
            at,
        },
    }
}
