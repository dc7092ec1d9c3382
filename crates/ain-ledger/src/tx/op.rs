//! Write operations: the `operation` of a transaction body, typed but hash-faithful.
//!
//! Parsing follows the node's format check (`sanitizeOperation` + deep equality): only the keys
//! `type`, `ref`, `value`, `is_global` (simple ops) or `type`, `op_list` (`SET`) are accepted, an
//! explicit `null` where the node expects a string/bool/number is refused, and `INC_VALUE` /
//! `DEC_VALUE` values must be numbers. What the signer wrote is kept: whether `type` was present,
//! whether `value` was present (absent and `null` hash differently), and numbers as JSON numbers.

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};

use super::TxError;
use crate::json::{write_js_string, write_stable};

/// A simple operation type (`WriteDbOperations` without `SET`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpType {
    /// `SET_VALUE`: write (or, with `null`, delete) a value.
    SetValue,
    /// `INC_VALUE`: add a number to a value.
    IncValue,
    /// `DEC_VALUE`: subtract a number from a value.
    DecValue,
    /// `SET_RULE`: write a `.rule` config.
    SetRule,
    /// `SET_FUNCTION`: write a `.function` config.
    SetFunction,
    /// `SET_OWNER`: write a `.owner` config.
    SetOwner,
}

impl OpType {
    /// The wire name, e.g. `"SET_VALUE"`.
    pub fn as_str(self) -> &'static str {
        match self {
            OpType::SetValue => "SET_VALUE",
            OpType::IncValue => "INC_VALUE",
            OpType::DecValue => "DEC_VALUE",
            OpType::SetRule => "SET_RULE",
            OpType::SetFunction => "SET_FUNCTION",
            OpType::SetOwner => "SET_OWNER",
        }
    }

    /// Parses a wire name; `None` for `SET`, read types and anything unknown.
    pub fn parse(s: &str) -> Option<OpType> {
        Some(match s {
            "SET_VALUE" => OpType::SetValue,
            "INC_VALUE" => OpType::IncValue,
            "DEC_VALUE" => OpType::DecValue,
            "SET_RULE" => OpType::SetRule,
            "SET_FUNCTION" => OpType::SetFunction,
            "SET_OWNER" => OpType::SetOwner,
            _ => return None,
        })
    }
}

/// One write at one path. Re-serialises to exactly the keys it was parsed from.
#[derive(Clone, Debug, PartialEq)]
pub struct SimpleOp {
    /// The operation type; `SetValue` when the signer omitted `type`.
    pub op_type: OpType,
    /// Whether `type` was written out. The node treats a missing `type` as `SET_VALUE`, but the
    /// hash covers the text as signed, so the distinction is kept.
    pub type_present: bool,
    /// The state path (`ref`), e.g. `/apps/app/jobs/j1/request`.
    pub path: String,
    /// The value; `None` when the key was absent, `Some(Value::Null)` for an explicit `null`.
    pub value: Option<Value>,
    /// The optional sharding flag.
    pub is_global: Option<bool>,
}

impl SimpleOp {
    /// An operation with an explicit `type`, as every builder produces.
    pub fn new(op_type: OpType, path: impl Into<String>, value: Value) -> SimpleOp {
        SimpleOp {
            op_type,
            type_present: true,
            path: path.into(),
            value: Some(value),
            is_global: None,
        }
    }

    /// `SET_VALUE path = value` (`null` deletes).
    pub fn set_value(path: impl Into<String>, value: Value) -> SimpleOp {
        SimpleOp::new(OpType::SetValue, path, value)
    }

    /// `INC_VALUE path += delta`.
    pub fn inc_value(path: impl Into<String>, delta: impl Into<Number>) -> SimpleOp {
        SimpleOp::new(OpType::IncValue, path, Value::Number(delta.into()))
    }

    /// `DEC_VALUE path -= delta`.
    pub fn dec_value(path: impl Into<String>, delta: impl Into<Number>) -> SimpleOp {
        SimpleOp::new(OpType::DecValue, path, Value::Number(delta.into()))
    }

    /// `SET_RULE path = rule`, e.g. `{".rule": {"write": "auth.addr === '0x…'"}}`.
    pub fn set_rule(path: impl Into<String>, rule: Value) -> SimpleOp {
        SimpleOp::new(OpType::SetRule, path, rule)
    }

    /// `SET_FUNCTION path = config`, e.g. `{".function": {"fid": {"function_type": "REST", …}}}`.
    pub fn set_function(path: impl Into<String>, config: Value) -> SimpleOp {
        SimpleOp::new(OpType::SetFunction, path, config)
    }

    /// `SET_OWNER path = config`, e.g. `{".owner": {"owners": {"<addr>": {…}}}}`.
    pub fn set_owner(path: impl Into<String>, config: Value) -> SimpleOp {
        SimpleOp::new(OpType::SetOwner, path, config)
    }

    /// The same `SET_VALUE` op without the `type` key, as `op_list` entries may be written.
    pub fn without_type(mut self) -> SimpleOp {
        if self.op_type == OpType::SetValue {
            self.type_present = false;
        }
        self
    }

    fn from_map(mut map: Map<String, Value>) -> Result<SimpleOp, TxError> {
        let (op_type, type_present) = match map.remove("type") {
            None => (OpType::SetValue, false),
            Some(Value::String(s)) => match OpType::parse(&s) {
                Some(t) => (t, true),
                None => return Err(TxError::UnknownOpType(s)),
            },
            Some(_) => return Err(TxError::wrong_type("type", "a string")),
        };
        let path = match map.remove("ref") {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(Value::String(_)) => return Err(TxError::wrong_type("ref", "a non-empty string")),
            Some(_) => return Err(TxError::wrong_type("ref", "a string")),
            None => return Err(TxError::MissingField("ref")),
        };
        let value = map.remove("value");
        if matches!(op_type, OpType::IncValue | OpType::DecValue)
            && value.as_ref().is_some_and(|v| !v.is_number())
        {
            return Err(TxError::wrong_type(
                "value",
                "a number for INC_VALUE/DEC_VALUE",
            ));
        }
        let is_global = match map.remove("is_global") {
            None => None,
            Some(Value::Bool(b)) => Some(b),
            Some(_) => return Err(TxError::wrong_type("is_global", "a bool")),
        };
        reject_leftovers(&map)?;
        Ok(SimpleOp {
            op_type,
            type_present,
            path,
            value,
            is_global,
        })
    }

    /// Appends the stable JSON text (sorted keys: `is_global`, `ref`, `type`, `value`).
    pub(crate) fn write_stable(&self, out: &mut String) {
        out.push('{');
        let mut sep = "";
        if let Some(g) = self.is_global {
            out.push_str(if g {
                "\"is_global\":true"
            } else {
                "\"is_global\":false"
            });
            sep = ",";
        }
        out.push_str(sep);
        out.push_str("\"ref\":");
        write_js_string(out, &self.path);
        if self.type_present {
            out.push_str(",\"type\":\"");
            out.push_str(self.op_type.as_str());
            out.push('"');
        }
        if let Some(v) = &self.value {
            out.push_str(",\"value\":");
            write_stable(out, v);
        }
        out.push('}');
    }
}

/// A transaction's operation: one simple op, or `SET` with a list of them.
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    /// A single write.
    Simple(SimpleOp),
    /// `{"type":"SET","op_list":[…]}`: writes applied in order, atomically.
    Set(Vec<SimpleOp>),
}

impl Operation {
    /// A `SET` operation. Refuses an empty list, which the node fails to execute.
    pub fn set(ops: Vec<SimpleOp>) -> Result<Operation, TxError> {
        if ops.is_empty() {
            return Err(TxError::EmptyOpList);
        }
        Ok(Operation::Set(ops))
    }

    /// The simple ops in order: the one op, or every `op_list` entry.
    pub fn ops(&self) -> &[SimpleOp] {
        match self {
            Operation::Simple(op) => std::slice::from_ref(op),
            Operation::Set(ops) => ops,
        }
    }

    pub(crate) fn from_map(mut map: Map<String, Value>) -> Result<Operation, TxError> {
        if map.get("type").and_then(Value::as_str) != Some("SET") {
            return SimpleOp::from_map(map).map(Operation::Simple);
        }
        map.remove("type");
        let list = match map.remove("op_list") {
            Some(Value::Array(list)) => list,
            Some(_) => return Err(TxError::wrong_type("op_list", "an array")),
            None => return Err(TxError::MissingField("op_list")),
        };
        reject_leftovers(&map)?;
        let ops = list
            .into_iter()
            .map(|item| match item {
                Value::Object(m) => SimpleOp::from_map(m),
                _ => Err(TxError::wrong_type("op_list entry", "an object")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Operation::Set(ops))
    }

    /// Appends the stable JSON text of the operation.
    pub(crate) fn write_stable(&self, out: &mut String) {
        match self {
            Operation::Simple(op) => op.write_stable(out),
            Operation::Set(ops) => {
                out.push_str("{\"op_list\":[");
                for (i, op) in ops.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    op.write_stable(out);
                }
                out.push_str("],\"type\":\"SET\"}");
            }
        }
    }
}

impl From<SimpleOp> for Operation {
    fn from(op: SimpleOp) -> Operation {
        Operation::Simple(op)
    }
}

fn reject_leftovers(map: &Map<String, Value>) -> Result<(), TxError> {
    match map.keys().next() {
        Some(k) => Err(TxError::UnknownField(k.clone())),
        None => Ok(()),
    }
}

impl Serialize for SimpleOp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len = 1
            + usize::from(self.type_present)
            + usize::from(self.value.is_some())
            + usize::from(self.is_global.is_some());
        let mut m = s.serialize_map(Some(len))?;
        if self.type_present {
            m.serialize_entry("type", self.op_type.as_str())?;
        }
        m.serialize_entry("ref", &self.path)?;
        if let Some(v) = &self.value {
            m.serialize_entry("value", v)?;
        }
        if let Some(g) = self.is_global {
            m.serialize_entry("is_global", &g)?;
        }
        m.end()
    }
}

impl Serialize for Operation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Operation::Simple(op) => op.serialize(s),
            Operation::Set(ops) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("type", "SET")?;
                m.serialize_entry("op_list", ops)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Operation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Operation, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        Operation::from_map(map).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::stable_stringify;
    use serde_json::json;

    fn parse(v: Value) -> Result<Operation, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    fn stable(op: &Operation) -> String {
        let mut s = String::new();
        op.write_stable(&mut s);
        s
    }

    #[test]
    fn round_trips_keep_what_was_signed() {
        for v in [
            json!({"type":"SET_VALUE","ref":"/a","value":{"x":1}}),
            json!({"type":"SET_VALUE","ref":"/a","value":null}),
            json!({"type":"SET_VALUE","ref":"/a"}),
            json!({"type":"INC_VALUE","ref":"/a","value":2,"is_global":false}),
            json!({"type":"SET","op_list":[{"ref":"/a","value":1},{"type":"SET_RULE","ref":"/b","value":{".rule":{"write":true}}}]}),
        ] {
            let op = parse(v.clone()).unwrap();
            assert_eq!(serde_json::to_value(&op).unwrap(), v);
            assert_eq!(stable(&op), stable_stringify(&v));
        }
    }

    #[test]
    fn strictness() {
        let cases = [
            (
                json!({"type":"SET_VALUE","ref":"/a","value":1,"foo":1}),
                "unknown field `foo`",
            ),
            (json!({"type":"SET_VALUE","value":1}), "missing field `ref`"),
            (
                json!({"type":"SET_VALUE","ref":"","value":1}),
                "`ref` must be",
            ),
            (
                json!({"type":"SET_VALUE","ref":null,"value":1}),
                "`ref` must be",
            ),
            (json!({"type":null,"ref":"/a","value":1}), "`type` must be"),
            (
                json!({"type":"GET_VALUE","ref":"/a"}),
                "unknown operation type",
            ),
            (
                json!({"type":"INC_VALUE","ref":"/a","value":"1"}),
                "`value` must be",
            ),
            (
                json!({"type":"SET_VALUE","ref":"/a","is_global":null}),
                "`is_global` must be",
            ),
            (
                json!({"type":"SET","op_list":[],"ref":"/a"}),
                "unknown field `ref`",
            ),
            (json!({"type":"SET"}), "missing field `op_list`"),
            (
                json!({"type":"SET","op_list":[{"type":"SET","op_list":[]}]}),
                "unknown operation type",
            ),
            (
                json!({"type":"SET","op_list":[1]}),
                "`op_list entry` must be",
            ),
        ];
        for (v, want) in cases {
            let err = parse(v.clone()).unwrap_err();
            assert!(err.contains(want), "{v}: {err}");
        }
    }

    #[test]
    fn builders() {
        let op = SimpleOp::set_value("/a", json!(1)).without_type();
        assert_eq!(
            serde_json::to_value(&op).unwrap(),
            json!({"ref":"/a","value":1})
        );
        assert_eq!(Operation::set(vec![]), Err(TxError::EmptyOpList));
        let inc = SimpleOp::inc_value("/c", 2);
        assert_eq!(
            serde_json::to_value(&inc).unwrap(),
            json!({"type":"INC_VALUE","ref":"/c","value":2})
        );
        // Only SET_VALUE may drop its type: the node would read anything else as SET_VALUE.
        assert!(
            SimpleOp::set_rule("/r", json!({}))
                .without_type()
                .type_present
        );
    }
}
