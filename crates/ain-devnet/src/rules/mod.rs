//! Write rules: the `.rule.write` expressions that decide whether a value write is allowed.
//!
//! The node compiles a rule string into `new Function(…, '"use strict"; return ' + rule)` and
//! denies the write unless `!!result` is true (ain-blockchain `db/index.js`,
//! `makeWriteRuleEvalFunction` / `evalWriteRuleConfig`). The devnet does not run JS: it parses
//! the subset of JS that apps use into a small AST once, when the rule is set ([`Rule::parse`]),
//! and evaluates that AST with JS semantics per write ([`Rule::eval`]). Anything outside the
//! subset is rejected at parse time with an error naming it; nothing is ever treated as true.
//!
//! # The subset
//!
//! | construct | notes |
//! |---|---|
//! | `true`, `false`, `null`, decimal numbers, `'…'`/`"…"` strings | strict-mode escapes |
//! | `data`, `newData` | current value at the rule's path / the value being written |
//! | `auth.addr`, `auth.fid` | `undefined` when absent |
//! | `currentTime`, `blockNumber`, `blockTime` | tx timestamp; block being built or executed |
//! | `$name` | path variable captured by the rule's path pattern (a string) |
//! | `getValue(path)` | state read; a path built with `+` is fine |
//! | `x.name`, `x['name']`, `x[$var]` | JSON members, JS-like (`undefined` when missing) |
//! | `+` | string concatenation (JS number formatting) or numeric addition |
//! | `===` `!==` `<` `>` `<=` `>=` | strict equality; relational on numbers or UTF-16 strings |
//! | `&&` `\|\|` `!` unary `-` `( )` | `&&`/`\|\|` return operands, short-circuit |
//! | `util.isBool/isNumber/isInteger/isString/isDict/isEmpty` | rule-util.js type predicates |
//! | `util.isHexString/isValidHash/isValAddr/isCksumAddr` | rule-util.js shape predicates |
//!
//! # Outcomes, as the node reports them
//!
//! - `Ok(true)`: allowed. `Ok(false)`: code 12103 (`EVAL_RULE_FALSE_WRITE_RULE_EVAL`), with
//!   [`Rule::source`] as the `[…]` text of the message.
//! - `Err(EvalError)`: the node's evaluation would have thrown (for example `data.owner` while
//!   `data` is null); it reports 12102 (`EVAL_RULE_INTERNAL_ERROR`). Either way the write is denied.
//!
//! # Where the devnet is stricter than the node
//!
//! Every difference refuses something, at set time where the text shows it, else at evaluation:
//! JS the node accepts but the subset lacks (other arithmetic, `Number(…)`, `?:`, comments, hex
//! literals, state-aware `util.*` functions, …) is a [`RuleError`]; a line break before the
//! expression (the node's `return` then yields `undefined`) is a [`RuleError`]; a member that
//! JS would find on a prototype (`toString`, an array's `map`) is a [`RuleError`] when written
//! literally and an [`EvalError`] when reached through a `$var`; a lone surrogate is refused.
//!
//! # Layout
//!
//! `lex` (text to tokens) → `parse` (tokens to the `ast`, with `reject` naming whatever is
//! outside the subset) → `eval` (the AST against a [`RuleContext`], with `js` conversions).

mod ast;
mod eval;
mod js;
mod lex;
mod parse;
mod reject;
#[cfg(test)]
mod tests;

use serde_json::Value;

/// Longest rule text accepted, in bytes. A SET_RULE tx cannot carry more than its 10 000-byte
/// `tx_bytes_limit` (counted two bytes per character), so no rule the node accepts is cut off.
pub const MAX_RULE_BYTES: usize = 10_000;

/// Deepest nesting accepted: parentheses, unary operators, call arguments and operator chains
/// that cannot be flattened all count. Real rules stay under 10.
pub const MAX_DEPTH: usize = 64;

/// What a rule can see while it is evaluated for one write.
///
/// The devnet's state implements it; the values must be what the node would bind (see
/// ain-blockchain `db/index.js`, `getPermissionForValue`).
pub trait RuleContext {
    /// `auth.addr`: the tx signer's address; `None` makes it `undefined`.
    fn auth_addr(&self) -> Option<&str>;
    /// `auth.fid`: the native function writing on the signer's behalf; `None` (every user tx)
    /// makes it `undefined`.
    fn auth_fid(&self) -> Option<&str>;
    /// `data`: the current value at the written path, `null` when absent. When the rule sits
    /// above the written path, the node wraps it in the labels between them
    /// (`addPathToValue`); the context does that wrapping.
    fn data(&self) -> &Value;
    /// `newData`: the value being written (`null` for a delete), wrapped like `data`.
    fn new_data(&self) -> &Value;
    /// `currentTime`: the tx `timestamp`, in ms.
    fn current_time(&self) -> f64;
    /// `blockNumber`: the block being executed, or the next one while a tx enters the pool.
    fn block_number(&self) -> f64;
    /// `blockTime`: that block's timestamp, or the last block's while a tx enters the pool.
    fn block_time(&self) -> f64;
    /// The value of path variable `name` (with its `$`) captured for this write.
    fn path_var(&self, name: &str) -> Option<&str>;
    /// The value at `path`, `null` when absent. `path` is normalized as the node's `parsePath`
    /// leaves it: a leading `/`, no empty labels, `/` for the root.
    fn get_value(&self, path: &str) -> Value;
}

/// Why a rule was refused when it was set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The `write` value is neither a boolean, `null` nor a string.
    #[error("a write rule must be true, false, null or an expression string, not {0}")]
    NotARule(&'static str),
    /// The rule string holds no expression (the node would return `undefined`: always deny).
    #[error("empty rule: the node would deny every write")]
    Empty,
    /// The rule string is longer than [`MAX_RULE_BYTES`].
    #[error("rule is {len} bytes long; the limit is {max}")]
    TooLong {
        /// The rule's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The rule nests deeper than [`MAX_DEPTH`].
    #[error("rule nests deeper than {max} levels at {at}")]
    TooDeep {
        /// Character index where the limit was crossed.
        at: usize,
        /// The limit.
        max: usize,
    },
    /// A JS construct outside the subset.
    #[error("unsupported {what} at {at}{}", hint_suffix(.hint))]
    Unsupported {
        /// The construct, e.g. "operator `==`".
        what: String,
        /// Character index where it starts.
        at: usize,
        /// What to write instead, or why; may be empty.
        hint: String,
    },
    /// An identifier that is neither part of the subset nor of JS.
    #[error("unknown identifier `{name}` at {at}")]
    UnknownIdentifier {
        /// The identifier.
        name: String,
        /// Character index where it starts.
        at: usize,
    },
    /// `=` or a compound assignment.
    #[error("assignment is not allowed at {at}")]
    Assignment {
        /// Character index of the operator.
        at: usize,
    },
    /// Malformed text: unterminated string, unbalanced parenthesis, trailing input, ….
    #[error("{msg} at {at}")]
    Syntax {
        /// What is wrong.
        msg: String,
        /// Character index where it was found.
        at: usize,
    },
    /// A `$name` that the rule's path does not capture ([`Rule::parse_for_path`]).
    #[error("path variable `{name}` at {at} is not a variable of the rule's path")]
    UnboundPathVar {
        /// The variable, with its `$`.
        name: String,
        /// Character index of its first use.
        at: usize,
    },
    /// A path variable label that is not a JS identifier: the node's `new Function` would throw
    /// a syntax error (12105) on every evaluation.
    #[error(
        "path variable label `{name}` is not a plain identifier; the node could never evaluate this rule"
    )]
    BadPathVarLabel {
        /// The label, with its `$`.
        name: String,
    },
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!(": {hint}")
    }
}

/// Why an evaluation stopped; the write is denied (the node's 12102).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// Reading a property of `null` or `undefined`, which throws a TypeError in JS.
    #[error("TypeError: cannot read property `{key}` of {base}")]
    NullMember {
        /// The property.
        key: String,
        /// `"null"` or `"undefined"`.
        base: &'static str,
    },
    /// A property that JS would find on a prototype (`constructor`, `toString`, …) read through
    /// a `$var` key; the devnet does not model JS built-ins.
    #[error("property `{key}` is a JS built-in, which the devnet does not model")]
    Builtin {
        /// The property.
        key: String,
    },
    /// `$name` has no value in the context (the node throws a ReferenceError).
    #[error("ReferenceError: path variable `{name}` is not bound")]
    UnboundPathVar {
        /// The variable, with its `$`.
        name: String,
    },
    /// Indexing a string at half of a surrogate pair, which a Rust string cannot hold.
    #[error("string index `{key}` falls inside a surrogate pair")]
    LoneSurrogate {
        /// The index.
        key: String,
    },
    /// Converting an array nested deeper than this to a string.
    #[error("array nested deeper than {max} levels converted to a string")]
    TooDeep {
        /// The limit.
        max: usize,
    },
}

/// A parsed write rule, ready to evaluate any number of times.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    source: String,
    body: Body,
    vars: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Body {
    Const(bool),
    Expr(ast::Expr),
}

impl Rule {
    /// Parses a `.rule.write` value: `true`, `false`, `null` (the node accepts it and denies
    /// every write) or an expression string within the subset and the size bounds.
    ///
    /// `$vars` are not checked against a path here; evaluating one the context does not bind is
    /// an [`EvalError`]. Use [`Rule::parse_for_path`] when the rule's path is known.
    pub fn parse(write: &Value) -> Result<Rule, RuleError> {
        Rule::parse_with_uses(write).map(|(rule, _)| rule)
    }

    /// [`Rule::parse`], and also refuses what the node refuses for this path: a `$var` the path
    /// does not capture (its identifier whitelist), and path variable labels that are not JS
    /// identifiers (its `new Function` parameter list). `path_vars` are the rule path's variable
    /// labels, with their `$`, e.g. `["$fn", "$call_id"]`.
    pub fn parse_for_path(write: &Value, path_vars: &[&str]) -> Result<Rule, RuleError> {
        for label in path_vars {
            let ok = label.starts_with('$')
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$');
            if !ok {
                return Err(RuleError::BadPathVarLabel {
                    name: (*label).to_owned(),
                });
            }
        }
        let (rule, uses) = Rule::parse_with_uses(write)?;
        if let Some((name, at)) = uses
            .into_iter()
            .find(|(v, _)| !path_vars.contains(&v.as_str()))
        {
            return Err(RuleError::UnboundPathVar { name, at });
        }
        Ok(rule)
    }

    /// Parses, also returning every `$var` use with its position, in source order.
    fn parse_with_uses(write: &Value) -> Result<(Rule, Vec<(String, usize)>), RuleError> {
        let text = match write {
            Value::Bool(b) => return Ok((Rule::constant(*b, b.to_string()), Vec::new())),
            Value::Null => return Ok((Rule::constant(false, "null".to_owned()), Vec::new())),
            Value::String(s) => s,
            Value::Number(_) => return Err(RuleError::NotARule("a number")),
            Value::Array(_) => return Err(RuleError::NotARule("an array")),
            Value::Object(_) => return Err(RuleError::NotARule("an object")),
        };
        if text.len() > MAX_RULE_BYTES {
            return Err(RuleError::TooLong {
                len: text.len(),
                max: MAX_RULE_BYTES,
            });
        }
        let tokens = lex::tokenize(text)?;
        let parsed = parse::parse(&tokens)?;
        let mut vars: Vec<String> = parsed.vars.iter().map(|(v, _)| v.clone()).collect();
        vars.sort();
        vars.dedup();
        let rule = Rule {
            source: text.clone(),
            body: Body::Expr(parsed.expr),
            vars,
        };
        Ok((rule, parsed.vars))
    }

    fn constant(b: bool, source: String) -> Rule {
        Rule {
            source,
            body: Body::Const(b),
            vars: Vec::new(),
        }
    }

    /// Evaluates the rule for one write: `Ok(true)` allows it, `Ok(false)` denies it (12103),
    /// `Err` denies it because JS would have thrown (12102).
    pub fn eval(&self, ctx: &dyn RuleContext) -> Result<bool, EvalError> {
        match &self.body {
            Body::Const(b) => Ok(*b),
            Body::Expr(e) => eval::eval_rule(e, ctx),
        }
    }

    /// The rule as the node prints it in a denial message: `String(write)`, so `true`, `false`,
    /// `null` or the expression text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The `$vars` the rule reads, sorted and without repeats.
    pub fn path_vars(&self) -> &[String] {
        &self.vars
    }
}
