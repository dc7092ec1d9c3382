//! The rule AST: what a parsed rule is made of, and nothing it could not be.

/// An expression of the rule subset.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    /// `data`: the current value at the rule's path.
    Data,
    /// `newData`: the value being written.
    NewData,
    AuthAddr,
    AuthFid,
    CurrentTime,
    BlockNumber,
    BlockTime,
    /// `$name`, a variable captured from the rule's path pattern.
    Var(String),
    GetValue(Box<Expr>),
    Util(UtilFn, Box<Expr>),
    /// `base.k1[k2]…`, read left to right.
    Member(Box<Expr>, Vec<Key>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// `a + b + c`, folded left to right (so `1 + 2 + 'x'` is `'3x'`).
    Add(Vec<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
}

/// A property key in a member chain.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Key {
    /// `.name` or `['name']`.
    Name(String),
    /// `[$var]`.
    Var(String),
}

/// The comparison operators of the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
    StrictEq,
    StrictNe,
    Lt,
    Gt,
    Le,
    Ge,
}

/// The `util.*` predicates of rule-util.js that are supported: pure, one argument, no state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UtilFn {
    Bool,
    Number,
    Integer,
    String,
    Dict,
    Empty,
    HexString,
    ValidHash,
    ValAddr,
    CksumAddr,
}

/// The `util.*` names of the subset.
const UTIL_FNS: &[(&str, UtilFn)] = &[
    ("isBool", UtilFn::Bool),
    ("isNumber", UtilFn::Number),
    ("isInteger", UtilFn::Integer),
    ("isString", UtilFn::String),
    ("isDict", UtilFn::Dict),
    ("isEmpty", UtilFn::Empty),
    ("isHexString", UtilFn::HexString),
    ("isValidHash", UtilFn::ValidHash),
    ("isValAddr", UtilFn::ValAddr),
    ("isCksumAddr", UtilFn::CksumAddr),
];

/// The supported `util.*` predicate called `name`.
pub(super) fn util_fn(name: &str) -> Option<UtilFn> {
    UTIL_FNS.iter().find(|(k, _)| *k == name).map(|&(_, f)| f)
}

/// The supported `util.*` names, for error messages.
pub(super) fn util_fn_names() -> String {
    let names: Vec<String> = UTIL_FNS.iter().map(|(k, _)| format!("util.{k}")).collect();
    names.join(", ")
}
