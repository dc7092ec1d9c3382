//! Evaluation of a parsed rule against a [`RuleContext`], with JS value semantics.
//!
//! Values are `undefined`, `null`, booleans, doubles, strings, and references to JSON objects or
//! arrays. A reference is a root (`data`, `newData`, or the result of one `getValue` call) and
//! a key path inside it, which is exactly JS object identity here: `data.a === data.a` holds
//! for an object `a`, while two `getValue` calls or `data` and `newData` never share objects.

use serde_json::Value;

use super::ast::{CmpOp, Expr, Key, UtilFn};
use super::js::{
    Proto, array_index, cmp_utf16, is_builtin_property, is_hex_address, is_hex_string,
    number_to_string, string_to_number, utf16_len,
};
use super::{EvalError, RuleContext};
use ain_ledger::crypto::is_checksum_address;

/// How deep `String(array)` may recurse into nested arrays before giving up.
const MAX_JOIN_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Data,
    NewData,
    Fetched(usize),
}

/// A JSON object or array, by identity.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ObjRef {
    root: Root,
    path: Vec<String>,
}

#[derive(Debug, Clone)]
enum JsVal {
    Undefined,
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Obj(ObjRef),
}

/// Evaluates `expr` and converts the result with JS truthiness, as the node's `!!` does.
pub(super) fn eval_rule(expr: &Expr, ctx: &dyn RuleContext) -> Result<bool, EvalError> {
    let mut ev = Evaluator {
        ctx,
        fetched: Vec::new(),
    };
    let v = ev.eval(expr)?;
    Ok(ev.truthy(&v))
}

struct Evaluator<'c> {
    ctx: &'c dyn RuleContext,
    /// Results of `getValue` calls, each its own root.
    fetched: Vec<Value>,
}

/// `CommonUtil.parsePath` then `formatPath`: empty labels dropped, a non-string or empty path is
/// the root.
fn normalize_path(path: &JsVal) -> String {
    let JsVal::Str(s) = path else {
        return "/".to_owned();
    };
    let labels: Vec<&str> = s.split('/').filter(|l| !l.is_empty()).collect();
    format!("/{}", labels.join("/"))
}

fn wrap(v: &Value, root: Root, path: Vec<String>) -> JsVal {
    match v {
        Value::Null => JsVal::Null,
        Value::Bool(b) => JsVal::Bool(*b),
        Value::Number(n) => JsVal::Num(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => JsVal::Str(s.clone()),
        Value::Array(_) | Value::Object(_) => JsVal::Obj(ObjRef { root, path }),
    }
}

impl Evaluator<'_> {
    fn root(&self, r: Root) -> &Value {
        match r {
            Root::Data => self.ctx.data(),
            Root::NewData => self.ctx.new_data(),
            Root::Fetched(i) => self.fetched.get(i).unwrap_or(&Value::Null),
        }
    }

    /// The JSON behind a reference. Paths are built only from keys that exist, so the fallback
    /// to `null` is never taken.
    fn resolve(&self, o: &ObjRef) -> &Value {
        let mut v = self.root(o.root);
        for k in &o.path {
            let next = match v {
                Value::Object(m) => m.get(k),
                Value::Array(a) => array_index(k).and_then(|i| a.get(i)),
                _ => None,
            };
            v = next.unwrap_or(&Value::Null);
        }
        v
    }

    fn path_var(&self, name: &str) -> Result<String, EvalError> {
        self.ctx
            .path_var(name)
            .map(str::to_owned)
            .ok_or_else(|| EvalError::UnboundPathVar {
                name: name.to_owned(),
            })
    }

    fn eval(&mut self, e: &Expr) -> Result<JsVal, EvalError> {
        Ok(match e {
            Expr::Null => JsVal::Null,
            Expr::Bool(b) => JsVal::Bool(*b),
            Expr::Num(n) => JsVal::Num(*n),
            Expr::Str(s) => JsVal::Str(s.clone()),
            Expr::Data => wrap(self.ctx.data(), Root::Data, Vec::new()),
            Expr::NewData => wrap(self.ctx.new_data(), Root::NewData, Vec::new()),
            Expr::AuthAddr => self
                .ctx
                .auth_addr()
                .map_or(JsVal::Undefined, |s| JsVal::Str(s.to_owned())),
            Expr::AuthFid => self
                .ctx
                .auth_fid()
                .map_or(JsVal::Undefined, |s| JsVal::Str(s.to_owned())),
            Expr::CurrentTime => JsVal::Num(self.ctx.current_time()),
            Expr::BlockNumber => JsVal::Num(self.ctx.block_number()),
            Expr::BlockTime => JsVal::Num(self.ctx.block_time()),
            Expr::Var(name) => JsVal::Str(self.path_var(name)?),
            Expr::GetValue(arg) => {
                let path = normalize_path(&self.eval(arg)?);
                let value = self.ctx.get_value(&path);
                let root = Root::Fetched(self.fetched.len());
                self.fetched.push(value);
                wrap(self.root(root), root, Vec::new())
            }
            Expr::Util(f, arg) => {
                let v = self.eval(arg)?;
                JsVal::Bool(self.util(*f, &v))
            }
            Expr::Member(base, keys) => {
                let mut v = self.eval(base)?;
                for k in keys {
                    let key = match k {
                        Key::Name(n) => n.clone(),
                        Key::Var(name) => self.path_var(name)?,
                    };
                    v = self.member(v, key)?;
                }
                v
            }
            Expr::Not(x) => {
                let v = self.eval(x)?;
                JsVal::Bool(!self.truthy(&v))
            }
            Expr::Neg(x) => {
                let v = self.eval(x)?;
                JsVal::Num(-self.to_number(&v)?)
            }
            Expr::And(items) => self.logical(items, false)?,
            Expr::Or(items) => self.logical(items, true)?,
            Expr::Add(items) => {
                let mut acc = JsVal::Undefined;
                for (i, item) in items.iter().enumerate() {
                    let v = self.eval(item)?;
                    acc = if i == 0 { v } else { self.add(&acc, &v)? };
                }
                acc
            }
            Expr::Cmp(op, a, b) => {
                let a = self.eval(a)?;
                let b = self.eval(b)?;
                JsVal::Bool(match op {
                    CmpOp::StrictEq => strict_eq(&a, &b),
                    CmpOp::StrictNe => !strict_eq(&a, &b),
                    _ => self.relational(*op, &a, &b)?,
                })
            }
        })
    }

    /// `a && b && …` / `a || b || …`: the first operand that decides, else the last, unconverted.
    fn logical(&mut self, items: &[Expr], stop_when: bool) -> Result<JsVal, EvalError> {
        let mut last = JsVal::Undefined;
        for item in items {
            last = self.eval(item)?;
            if self.truthy(&last) == stop_when {
                break;
            }
        }
        Ok(last)
    }

    /// A property read. Reading from `null`/`undefined` is the TypeError JS throws; a name that
    /// JS would find on a prototype is refused (see `js::BUILTIN_PROPERTIES`).
    fn member(&self, base: JsVal, key: String) -> Result<JsVal, EvalError> {
        let builtin = || EvalError::Builtin { key: key.clone() };
        let inherited = |proto| is_builtin_property(proto, &key);
        Ok(match base {
            JsVal::Undefined | JsVal::Null => {
                let base = if matches!(base, JsVal::Null) {
                    "null"
                } else {
                    "undefined"
                };
                return Err(EvalError::NullMember { key, base });
            }
            JsVal::Obj(o) => match self.resolve(&o) {
                Value::Object(m) => {
                    if inherited(Proto::Object) && (key == "__proto__" || !m.contains_key(&key)) {
                        return Err(builtin());
                    }
                    match m.get(&key) {
                        Some(v) => {
                            let mut path = o.path;
                            path.push(key);
                            wrap(v, o.root, path)
                        }
                        None => JsVal::Undefined,
                    }
                }
                Value::Array(a) => {
                    if key == "length" {
                        JsVal::Num(a.len() as f64)
                    } else if let Some(i) = array_index(&key) {
                        match a.get(i) {
                            Some(v) => {
                                let mut path = o.path;
                                path.push(key);
                                wrap(v, o.root, path)
                            }
                            None => JsVal::Undefined,
                        }
                    } else if inherited(Proto::Array) {
                        return Err(builtin());
                    } else {
                        JsVal::Undefined
                    }
                }
                _ => JsVal::Undefined,
            },
            JsVal::Str(s) => {
                if key == "length" {
                    JsVal::Num(utf16_len(&s) as f64)
                } else if let Some(i) = array_index(&key) {
                    match s.encode_utf16().nth(i) {
                        None => JsVal::Undefined,
                        Some(unit) => match String::from_utf16(&[unit]) {
                            Ok(c) => JsVal::Str(c),
                            Err(_) => return Err(EvalError::LoneSurrogate { key }),
                        },
                    }
                } else if inherited(Proto::String) {
                    return Err(builtin());
                } else {
                    JsVal::Undefined
                }
            }
            JsVal::Num(_) | JsVal::Bool(_) => {
                let proto = if matches!(base, JsVal::Num(_)) {
                    Proto::Number
                } else {
                    Proto::Object
                };
                if inherited(proto) {
                    return Err(builtin());
                }
                JsVal::Undefined
            }
        })
    }

    fn truthy(&self, v: &JsVal) -> bool {
        match v {
            JsVal::Undefined | JsVal::Null => false,
            JsVal::Bool(b) => *b,
            JsVal::Num(n) => !(n.is_nan() || *n == 0.0),
            JsVal::Str(s) => !s.is_empty(),
            JsVal::Obj(_) => true,
        }
    }

    /// `ToString`. Objects print as `[object Object]`; arrays join their elements with `,`.
    fn to_string(&self, v: &JsVal) -> Result<String, EvalError> {
        Ok(match v {
            JsVal::Undefined => "undefined".to_owned(),
            JsVal::Null => "null".to_owned(),
            JsVal::Bool(b) => b.to_string(),
            JsVal::Num(n) => number_to_string(*n),
            JsVal::Str(s) => s.clone(),
            JsVal::Obj(o) => {
                let mut out = String::new();
                json_to_string(self.resolve(o), 0, &mut out)?;
                out
            }
        })
    }

    /// `ToNumber`: `undefined` is NaN, `null` 0, booleans 0/1, strings by `StringToNumber`,
    /// objects by way of their string form.
    fn to_number(&self, v: &JsVal) -> Result<f64, EvalError> {
        Ok(match v {
            JsVal::Undefined => f64::NAN,
            JsVal::Null => 0.0,
            JsVal::Bool(b) => f64::from(u8::from(*b)),
            JsVal::Num(n) => *n,
            JsVal::Str(s) => string_to_number(s),
            JsVal::Obj(_) => string_to_number(&self.to_string(v)?),
        })
    }

    /// `ToPrimitive` with no hint: only objects change, into their string form.
    fn to_primitive(&self, v: &JsVal) -> Result<JsVal, EvalError> {
        Ok(match v {
            JsVal::Obj(_) => JsVal::Str(self.to_string(v)?),
            other => other.clone(),
        })
    }

    /// Binary `+`: concatenation if either primitive is a string, numeric addition otherwise.
    fn add(&self, a: &JsVal, b: &JsVal) -> Result<JsVal, EvalError> {
        let a = self.to_primitive(a)?;
        let b = self.to_primitive(b)?;
        if matches!(a, JsVal::Str(_)) || matches!(b, JsVal::Str(_)) {
            let mut s = self.to_string(&a)?;
            s.push_str(&self.to_string(&b)?);
            Ok(JsVal::Str(s))
        } else {
            Ok(JsVal::Num(self.to_number(&a)? + self.to_number(&b)?))
        }
    }

    /// `<`, `>`, `<=`, `>=`: two strings compare by UTF-16 units, anything else as numbers, and
    /// NaN makes every comparison false.
    fn relational(&self, op: CmpOp, a: &JsVal, b: &JsVal) -> Result<bool, EvalError> {
        let a = self.to_primitive(a)?;
        let b = self.to_primitive(b)?;
        if let (JsVal::Str(x), JsVal::Str(y)) = (&a, &b) {
            let ord = cmp_utf16(x, y);
            return Ok(match op {
                CmpOp::Lt => ord.is_lt(),
                CmpOp::Gt => ord.is_gt(),
                CmpOp::Le => ord.is_le(),
                _ => ord.is_ge(),
            });
        }
        let (x, y) = (self.to_number(&a)?, self.to_number(&b)?);
        Ok(match op {
            CmpOp::Lt => x < y,
            CmpOp::Gt => x > y,
            CmpOp::Le => x <= y,
            _ => x >= y,
        })
    }

    fn util(&self, f: UtilFn, v: &JsVal) -> bool {
        let container = |v: &JsVal| match v {
            JsVal::Obj(o) => Some(self.resolve(o)),
            _ => None,
        };
        match (f, v) {
            (UtilFn::Bool, JsVal::Bool(_)) => true,
            (UtilFn::Number, JsVal::Num(n)) => n.is_finite(),
            (UtilFn::Integer, JsVal::Num(n)) => n.is_finite() && n.trunc() == *n,
            (UtilFn::String, JsVal::Str(_)) => true,
            (UtilFn::Dict, v) => matches!(container(v), Some(Value::Object(_))),
            (UtilFn::Empty, JsVal::Undefined | JsVal::Null) => true,
            (UtilFn::Empty, v) => match container(v) {
                Some(Value::Object(m)) => m.is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                _ => false,
            },
            (UtilFn::HexString, JsVal::Str(s)) => is_hex_string(s),
            (UtilFn::ValidHash, JsVal::Str(s)) => is_hex_string(s) && s.len() == 66,
            (UtilFn::ValAddr, JsVal::Str(s)) => is_hex_address(s),
            (UtilFn::CksumAddr, JsVal::Str(s)) => is_hex_address(s) && is_checksum_address(s),
            _ => false,
        }
    }
}

/// `===`: same type and value; NaN is unequal to itself, `0 === -0`; objects by identity.
fn strict_eq(a: &JsVal, b: &JsVal) -> bool {
    match (a, b) {
        (JsVal::Undefined, JsVal::Undefined) | (JsVal::Null, JsVal::Null) => true,
        (JsVal::Bool(x), JsVal::Bool(y)) => x == y,
        (JsVal::Num(x), JsVal::Num(y)) => x == y,
        (JsVal::Str(x), JsVal::Str(y)) => x == y,
        (JsVal::Obj(x), JsVal::Obj(y)) => x == y,
        _ => false,
    }
}

/// `String(v)` for a JSON value reached through an object reference.
fn json_to_string(v: &Value, depth: usize, out: &mut String) -> Result<(), EvalError> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_to_string(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => out.push_str(s),
        Value::Object(_) => out.push_str("[object Object]"),
        Value::Array(items) => {
            if depth >= MAX_JOIN_DEPTH {
                return Err(EvalError::TooDeep {
                    max: MAX_JOIN_DEPTH,
                });
            }
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // Array.prototype.join prints null and undefined elements as nothing.
                if !item.is_null() {
                    json_to_string(item, depth + 1, out)?;
                }
            }
        }
    }
    Ok(())
}
