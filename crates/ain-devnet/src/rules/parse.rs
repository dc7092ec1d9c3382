//! Parser from tokens to the rule AST: precedence climbing over the subset's operators, with
//! every construct outside the subset named in the error.
//!
//! Two bounds keep hostile input from exhausting the stack: a nesting counter on every recursive
//! entry (groups, unary operands, call arguments) and a height check on every node built, so the
//! recursive evaluator and the recursive `Drop` of the tree stay within [`MAX_DEPTH`] frames.
//! `&&`, `||`, `+` and member chains are n-ary nodes, so long flat rules stay shallow.

use super::ast::{CmpOp, Expr, Key, util_fn, util_fn_names};
use super::js::{Proto, is_builtin_property};
use super::lex::{Tok, Token};
use super::reject::{after_operand, describe, syntax, unsupported, unsupported_identifier};
use super::{MAX_DEPTH, RuleError};

/// A parsed rule: its expression and every `$var` use with its position, in source order.
pub(super) struct Parsed {
    pub(super) expr: Expr,
    pub(super) vars: Vec<(String, usize)>,
}

/// Parses a token list (ending in [`Tok::Eof`]) into a single expression.
pub(super) fn parse(tokens: &[Token]) -> Result<Parsed, RuleError> {
    let mut p = Parser {
        toks: tokens,
        pos: 0,
        nest: 0,
        vars: Vec::new(),
    };
    if matches!(p.peek().tok, Tok::Eof) {
        return Err(RuleError::Empty);
    }
    let (expr, _) = p.expr(0)?;
    let t = p.peek();
    match &t.tok {
        Tok::Eof => Ok(Parsed { expr, vars: p.vars }),
        Tok::Punct(")") => Err(syntax("unmatched `)`", t.at)),
        Tok::Punct("]") => Err(syntax("unmatched `]`", t.at)),
        Tok::Punct(",") => Err(unsupported("comma operator `,`", t.at, "")),
        _ => Err(after_operand(t)),
    }
}

/// A node and its height (a leaf is 1).
type Node = (Expr, usize);

/// A binary operator of the subset, as the precedence climber sees it.
#[derive(Clone, Copy)]
enum Bin {
    Or,
    And,
    Add,
    Cmp(CmpOp),
}

fn leaf(e: Expr) -> Result<Node, RuleError> {
    Ok((e, 1))
}

struct Parser<'t> {
    toks: &'t [Token],
    pos: usize,
    nest: usize,
    vars: Vec<(String, usize)>,
}

impl<'t> Parser<'t> {
    fn peek(&self) -> &'t Token {
        // The list always ends in Eof and `pos` never passes it.
        let last = self.toks.len().saturating_sub(1);
        &self.toks[self.pos.min(last)]
    }

    fn next(&mut self) -> &'t Token {
        let t = self.peek();
        if !matches!(t.tok, Tok::Eof) {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, p: &str) -> bool {
        if matches!(self.peek().tok, Tok::Punct(q) if q == p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_close(&mut self, close: &str, what: &str) -> Result<(), RuleError> {
        if self.eat(close) {
            return Ok(());
        }
        let t = self.peek();
        Err(match &t.tok {
            Tok::Punct(",") => unsupported(
                format!("`,` in {what}"),
                t.at,
                "it takes exactly one expression",
            ),
            Tok::Eof => syntax(
                format!("expected `{close}` to close {what}, found end of rule"),
                t.at,
            ),
            other => syntax(
                format!(
                    "expected `{close}` to close {what}, found {}",
                    describe(other)
                ),
                t.at,
            ),
        })
    }

    fn enter(&mut self, at: usize) -> Result<(), RuleError> {
        self.nest += 1;
        if self.nest > MAX_DEPTH {
            return Err(RuleError::TooDeep { at, max: MAX_DEPTH });
        }
        Ok(())
    }

    fn height(h: usize, at: usize) -> Result<usize, RuleError> {
        if h > MAX_DEPTH {
            return Err(RuleError::TooDeep { at, max: MAX_DEPTH });
        }
        Ok(h)
    }

    /// Precedence climbing: `||` 1, `&&` 2, `===`/`!==` 3, relational 4, `+` 5 (as in JS).
    fn expr(&mut self, min_prec: u8) -> Result<Node, RuleError> {
        let (mut lhs, mut lh) = self.unary()?;
        loop {
            let t = self.peek();
            let (prec, op) = match &t.tok {
                Tok::Punct("||") => (1, Bin::Or),
                Tok::Punct("&&") => (2, Bin::And),
                Tok::Punct("===") => (3, Bin::Cmp(CmpOp::StrictEq)),
                Tok::Punct("!==") => (3, Bin::Cmp(CmpOp::StrictNe)),
                Tok::Punct("<") => (4, Bin::Cmp(CmpOp::Lt)),
                Tok::Punct(">") => (4, Bin::Cmp(CmpOp::Gt)),
                Tok::Punct("<=") => (4, Bin::Cmp(CmpOp::Le)),
                Tok::Punct(">=") => (4, Bin::Cmp(CmpOp::Ge)),
                Tok::Punct("+") => (5, Bin::Add),
                Tok::Punct(")" | "]" | ",") | Tok::Eof => break,
                _ => return Err(after_operand(t)),
            };
            if prec < min_prec {
                break;
            }
            self.pos += 1;
            let (rhs, rh) = self.expr(prec + 1)?;
            (lhs, lh) = match op {
                Bin::Cmp(cmp) => {
                    let h = Self::height(lh.max(rh) + 1, t.at)?;
                    (Expr::Cmp(cmp, Box::new(lhs), Box::new(rhs)), h)
                }
                nary => Self::nary(nary, (lhs, lh), (rhs, rh), t.at)?,
            };
        }
        Ok((lhs, lh))
    }

    /// Appends to an n-ary node of the same kind on the left, or starts one. Only the left side
    /// is flattened: that keeps `+` a left fold, and `&&`/`||` are associative anyway.
    fn nary(op: Bin, (lhs, lh): Node, (rhs, rh): Node, at: usize) -> Result<Node, RuleError> {
        let mut items = match (op, lhs) {
            (Bin::Or, Expr::Or(v)) | (Bin::And, Expr::And(v)) | (Bin::Add, Expr::Add(v)) => v,
            (_, other) => vec![other],
        };
        items.push(rhs);
        let h = Self::height(lh.max(rh + 1).max(2), at)?;
        let e = match op {
            Bin::Or => Expr::Or(items),
            Bin::And => Expr::And(items),
            _ => Expr::Add(items),
        };
        Ok((e, h))
    }

    fn unary(&mut self) -> Result<Node, RuleError> {
        let t = self.peek();
        let wrap: fn(Box<Expr>) -> Expr = match &t.tok {
            Tok::Punct("!") => Expr::Not,
            Tok::Punct("-") => Expr::Neg,
            Tok::Punct("+") => return Err(unsupported("unary `+`", t.at, "")),
            Tok::Punct("~") => return Err(unsupported("bitwise operator `~`", t.at, "")),
            _ => return self.postfix(),
        };
        self.pos += 1;
        self.enter(t.at)?;
        let (e, h) = self.unary()?;
        self.nest -= 1;
        Ok((wrap(Box::new(e)), Self::height(h + 1, t.at)?))
    }

    fn postfix(&mut self) -> Result<Node, RuleError> {
        let (base, h) = self.primary()?;
        let mut keys = Vec::new();
        loop {
            let t = self.peek();
            match &t.tok {
                Tok::Punct(".") => {
                    self.pos += 1;
                    let name = self.next();
                    let Tok::Ident(n) = &name.tok else {
                        return Err(syntax(
                            format!(
                                "expected a property name after `.`, found {}",
                                describe(&name.tok)
                            ),
                            name.at,
                        ));
                    };
                    keys.push(self.static_key(n, name.at)?);
                }
                Tok::Punct("[") => {
                    self.pos += 1;
                    let k = self.next();
                    let key = match &k.tok {
                        Tok::Str(s) => self.static_key(s, k.at)?,
                        Tok::Ident(v) if v.starts_with('$') => {
                            self.vars.push((v.clone(), k.at));
                            Key::Var(v.clone())
                        }
                        _ => {
                            return Err(unsupported(
                                "computed member `[…]`",
                                t.at,
                                "brackets may hold only a string literal or a `$path_var`",
                            ));
                        }
                    };
                    if !self.eat("]") {
                        return Err(unsupported(
                            "computed member `[…]`",
                            t.at,
                            "brackets may hold only a string literal or a `$path_var`",
                        ));
                    }
                    keys.push(key);
                }
                Tok::Punct("?.") => return Err(after_operand(t)),
                Tok::Punct("(") => {
                    let what = match keys.last() {
                        Some(Key::Name(n)) => format!("method call `.{n}(…)`"),
                        _ => "call".to_owned(),
                    };
                    return Err(unsupported(
                        what,
                        t.at,
                        "only getValue(path) and the supported util.* predicates can be called",
                    ));
                }
                _ => break,
            }
        }
        if keys.is_empty() {
            return Ok((base, h));
        }
        let at = self.peek().at;
        Ok((Expr::Member(Box::new(base), keys), Self::height(h + 1, at)?))
    }

    fn static_key(&self, name: &str, at: usize) -> Result<Key, RuleError> {
        // Object.prototype names reach every value; type-specific ones are checked at runtime.
        if is_builtin_property(Proto::Object, name) {
            return Err(unsupported(
                format!("member `{name}`"),
                at,
                "it names a JS built-in, which JSON values do not carry",
            ));
        }
        Ok(Key::Name(name.to_owned()))
    }

    fn call_arg(&mut self, callee: &str, at: usize) -> Result<Node, RuleError> {
        if !self.eat("(") {
            return Err(unsupported(
                format!("`{callee}` used as a value"),
                at,
                "call it",
            ));
        }
        if self.eat(")") {
            return Err(unsupported(
                format!("`{callee}()` without an argument"),
                at,
                "it takes exactly one",
            ));
        }
        self.enter(at)?;
        let (arg, h) = self.expr(0)?;
        self.nest -= 1;
        self.expect_close(")", &format!("the arguments of `{callee}`"))?;
        Ok((arg, Self::height(h + 1, at)?))
    }

    fn primary(&mut self) -> Result<Node, RuleError> {
        let t = self.next();
        let at = t.at;
        let name = match &t.tok {
            Tok::Num(n) => return leaf(Expr::Num(*n)),
            Tok::Str(s) => return leaf(Expr::Str(s.clone())),
            Tok::Ident(name) => name.as_str(),
            Tok::Punct("(") => {
                if matches!(self.peek().tok, Tok::Punct(")")) {
                    if let Some(arrow) = self
                        .toks
                        .get(self.pos + 1)
                        .filter(|t| t.tok == Tok::Punct("=>"))
                    {
                        return Err(unsupported("arrow function `=>`", arrow.at, ""));
                    }
                    return Err(syntax("empty parentheses", at));
                }
                self.enter(at)?;
                let node = self.expr(0)?;
                self.nest -= 1;
                self.expect_close(")", "the parenthesis")?;
                return Ok(node);
            }
            Tok::Punct("[") => return Err(unsupported("array literal", at, "")),
            Tok::Punct("{") => return Err(unsupported("object literal", at, "")),
            Tok::Punct("/" | "/=") => {
                return Err(unsupported("regular expression literal", at, ""));
            }
            Tok::Punct("...") => return Err(unsupported("spread `...`", at, "")),
            Tok::Punct(op @ ("++" | "--")) => {
                return Err(unsupported(format!("update operator `{op}`"), at, ""));
            }
            Tok::Punct("=>") => return Err(unsupported("arrow function `=>`", at, "")),
            Tok::Punct("=") => return Err(RuleError::Assignment { at }),
            Tok::Eof => return Err(syntax("unexpected end of rule, expected an operand", at)),
            other => {
                return Err(syntax(
                    format!("unexpected {}, expected an operand", describe(other)),
                    at,
                ));
            }
        };
        match name {
            "null" => leaf(Expr::Null),
            "true" => leaf(Expr::Bool(true)),
            "false" => leaf(Expr::Bool(false)),
            "data" => leaf(Expr::Data),
            "newData" => leaf(Expr::NewData),
            "currentTime" => leaf(Expr::CurrentTime),
            "blockNumber" => leaf(Expr::BlockNumber),
            "blockTime" => leaf(Expr::BlockTime),
            "auth" => self.auth(at),
            "getValue" => {
                let (arg, h) = self.call_arg("getValue", at)?;
                Ok((Expr::GetValue(Box::new(arg)), h))
            }
            "util" => self.util(at),
            v if v.starts_with('$') => {
                self.vars.push((v.to_owned(), at));
                leaf(Expr::Var(v.to_owned()))
            }
            _ => Err(unsupported_identifier(name, at)),
        }
    }

    fn auth(&mut self, at: usize) -> Result<Node, RuleError> {
        const HINT: &str = "only auth.addr and auth.fid are available";
        if !self.eat(".") {
            return Err(unsupported("bare `auth`", at, HINT));
        }
        let f = self.next();
        match &f.tok {
            Tok::Ident(n) if n == "addr" => Ok((Expr::AuthAddr, 1)),
            Tok::Ident(n) if n == "fid" => Ok((Expr::AuthFid, 1)),
            Tok::Ident(n) => Err(unsupported(format!("member `auth.{n}`"), at, HINT)),
            other => Err(syntax(
                format!(
                    "expected a property name after `auth.`, found {}",
                    describe(other)
                ),
                f.at,
            )),
        }
    }

    fn util(&mut self, at: usize) -> Result<Node, RuleError> {
        if !self.eat(".") {
            return Err(unsupported("bare `util`", at, "call one of its predicates"));
        }
        let f = self.next();
        let Tok::Ident(n) = &f.tok else {
            return Err(syntax(
                format!(
                    "expected a function name after `util.`, found {}",
                    describe(&f.tok)
                ),
                f.at,
            ));
        };
        let Some(func) = util_fn(n) else {
            return Err(RuleError::Unsupported {
                what: format!("function `util.{n}`"),
                at,
                hint: format!("supported: {}", util_fn_names()),
            });
        };
        let (arg, h) = self.call_arg(&format!("util.{n}"), at)?;
        Ok((Expr::Util(func, Box::new(arg)), h))
    }
}
