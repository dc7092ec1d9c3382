//! Rule parser and evaluator tests: each construct of the subset, JS corner cases, rejections,
//! bounds, and a no-panic sweep over random input.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
mod bounds;
mod fuzz;
mod operators;
mod values;

const ADDR: &str = "0x00ADEc28B6a845a085e03591bE7550dd68673C1C";

/// A context whose state is one JSON tree; it records every `getValue` path it is asked for.
struct Ctx {
    addr: Option<String>,
    fid: Option<String>,
    data: Value,
    new_data: Value,
    time: f64,
    vars: BTreeMap<String, String>,
    state: Value,
    reads: RefCell<Vec<String>>,
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx {
            addr: Some(ADDR.to_owned()),
            fid: None,
            data: Value::Null,
            new_data: Value::Null,
            time: 1_795_461_523_346.0,
            vars: BTreeMap::new(),
            state: Value::Null,
            reads: RefCell::new(Vec::new()),
        }
    }
}

impl Ctx {
    fn with_data(data: Value, new_data: Value) -> Ctx {
        Ctx {
            data,
            new_data,
            ..Ctx::default()
        }
    }

    fn var(mut self, name: &str, value: &str) -> Ctx {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    fn reads(&self) -> Vec<String> {
        self.reads.borrow().clone()
    }
}

impl RuleContext for Ctx {
    fn auth_addr(&self) -> Option<&str> {
        self.addr.as_deref()
    }
    fn auth_fid(&self) -> Option<&str> {
        self.fid.as_deref()
    }
    fn data(&self) -> &Value {
        &self.data
    }
    fn new_data(&self) -> &Value {
        &self.new_data
    }
    fn current_time(&self) -> f64 {
        self.time
    }
    fn block_number(&self) -> f64 {
        42.0
    }
    fn block_time(&self) -> f64 {
        1_795_461_520_000.0
    }
    fn path_var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
    fn get_value(&self, path: &str) -> Value {
        self.reads.borrow_mut().push(path.to_owned());
        let mut v = &self.state;
        for label in path.split('/').filter(|l| !l.is_empty()) {
            v = match v.get(label) {
                Some(x) => x,
                None => return Value::Null,
            };
        }
        v.clone()
    }
}

fn rule(src: &str) -> Rule {
    Rule::parse(&json!(src)).unwrap_or_else(|e| panic!("{src:?} should parse: {e}"))
}

fn eval(src: &str, ctx: &Ctx) -> Result<bool, EvalError> {
    rule(src).eval(ctx)
}

fn check(src: &str, ctx: &Ctx) -> bool {
    eval(src, ctx).unwrap_or_else(|e| panic!("{src:?} should evaluate: {e}"))
}

fn rejection(src: &str) -> String {
    match Rule::parse(&json!(src)) {
        Ok(r) => panic!("{src:?} should be rejected, parsed as {r:?}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts every rule is true in `ctx`.
fn all_true(ctx: &Ctx, rules: &[&str]) {
    for r in rules {
        assert!(check(r, ctx), "{r:?} should be true");
    }
}

/// Asserts every rule is false in `ctx`.
fn all_false(ctx: &Ctx, rules: &[&str]) {
    for r in rules {
        assert!(!check(r, ctx), "{r:?} should be false");
    }
}
