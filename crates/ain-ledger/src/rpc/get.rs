//! Read requests: `ain_get` operations and the pending/committed choice of account reads.
//!
//! `ain_get` takes either one operation (`type` GET_VALUE/GET_RULE/GET_FUNCTION/GET_OWNER with
//! `ref` and option flags) or `type: "GET"` with an `op_list` of such operations, each with its
//! own flags (`db/index.js` `getWithError`). Flags are only sent when set, so an unset flag means
//! the node's default (latest state, deep, local).

use serde_json::{Map, Value};

use super::error::RpcError;

/// Most operations one `ain_get` GET may carry (`GET_OP_LIST_SIZE_LIMIT` of the node).
pub const MAX_GET_OPS: usize = 50;

/// Which tree of the state an operation reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GetKind {
    /// Values (`GET_VALUE`).
    Value,
    /// `.rule` configs (`GET_RULE`).
    Rule,
    /// `.function` configs (`GET_FUNCTION`).
    Function,
    /// `.owner` configs (`GET_OWNER`).
    Owner,
}

impl GetKind {
    /// The operation type as the node spells it.
    pub fn wire_name(self) -> &'static str {
        match self {
            GetKind::Value => "GET_VALUE",
            GetKind::Rule => "GET_RULE",
            GetKind::Function => "GET_FUNCTION",
            GetKind::Owner => "GET_OWNER",
        }
    }
}

/// One read of one path, with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetOp {
    /// Which tree to read.
    pub kind: GetKind,
    /// The path (`ref`), for example `/apps/app/jobs`.
    pub path: String,
    /// Only the first level: children become `true` markers (`is_shallow`).
    pub is_shallow: bool,
    /// Read the finalized state instead of the latest one, which includes pool txs
    /// (`is_final`).
    pub is_final: bool,
    /// Interpret the path globally when sharding (`is_global`).
    pub is_global: bool,
    /// Add `#tree_*` info to the answer (`include_tree_info`).
    pub include_tree_info: bool,
    /// Add state proofs to the answer (`include_proof`).
    pub include_proof: bool,
    /// Add version info to the answer (`include_version`).
    pub include_version: bool,
}

impl GetOp {
    /// A read of `kind` at `path` with every option off.
    pub fn new(kind: GetKind, path: impl Into<String>) -> GetOp {
        GetOp {
            kind,
            path: path.into(),
            is_shallow: false,
            is_final: false,
            is_global: false,
            include_tree_info: false,
            include_proof: false,
            include_version: false,
        }
    }

    /// A `GET_VALUE` of `path`.
    pub fn value(path: impl Into<String>) -> GetOp {
        GetOp::new(GetKind::Value, path)
    }

    /// A `GET_RULE` of `path`.
    pub fn rule(path: impl Into<String>) -> GetOp {
        GetOp::new(GetKind::Rule, path)
    }

    /// A `GET_FUNCTION` of `path`.
    pub fn function(path: impl Into<String>) -> GetOp {
        GetOp::new(GetKind::Function, path)
    }

    /// A `GET_OWNER` of `path`.
    pub fn owner(path: impl Into<String>) -> GetOp {
        GetOp::new(GetKind::Owner, path)
    }

    /// Sets `is_shallow`.
    pub fn shallow(mut self) -> GetOp {
        self.is_shallow = true;
        self
    }

    /// Sets `is_final`: read the finalized state.
    pub fn finalized(mut self) -> GetOp {
        self.is_final = true;
        self
    }

    /// Sets `is_global`.
    pub fn global(mut self) -> GetOp {
        self.is_global = true;
        self
    }

    /// The operation as named params (without `protoVer`).
    pub(super) fn to_params(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("type".into(), Value::from(self.kind.wire_name()));
        m.insert("ref".into(), Value::from(self.path.clone()));
        let flags = [
            ("is_shallow", self.is_shallow),
            ("is_final", self.is_final),
            ("is_global", self.is_global),
            ("include_tree_info", self.include_tree_info),
            ("include_proof", self.include_proof),
            ("include_version", self.include_version),
        ];
        for (name, on) in flags {
            if on {
                m.insert(name.into(), Value::Bool(true));
            }
        }
        m
    }
}

/// One `ain_get` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetRequest {
    /// A single operation; the answer is its value.
    One(GetOp),
    /// `type: "GET"` with an op_list of 1 to [`MAX_GET_OPS`] operations; the answer is a list
    /// with one value per operation, in order.
    Many(Vec<GetOp>),
}

impl From<GetOp> for GetRequest {
    fn from(op: GetOp) -> GetRequest {
        GetRequest::One(op)
    }
}

impl GetRequest {
    /// The request as named params (without `protoVer`), or a local refusal of an empty or too
    /// long op_list.
    pub(super) fn to_params(&self) -> Result<Map<String, Value>, RpcError> {
        match self {
            GetRequest::One(op) => Ok(op.to_params()),
            GetRequest::Many(ops) => {
                if ops.is_empty() || ops.len() > MAX_GET_OPS {
                    return Err(RpcError::InvalidRequest(format!(
                        "ain_get op_list must hold 1 to {MAX_GET_OPS} operations, not {}",
                        ops.len()
                    )));
                }
                let mut m = Map::new();
                m.insert("type".into(), Value::from("GET"));
                let list = ops.iter().map(|op| Value::Object(op.to_params())).collect();
                m.insert("op_list".into(), Value::Array(list));
                Ok(m)
            }
        }
    }
}

/// Which account state an account read sees (`from` of `ain_getNonce` / `ain_getTimestamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateView {
    /// The node's working state, including txs still in the pool: the next nonce to use.
    Pending,
    /// The committed state only.
    Committed,
}

impl StateView {
    /// The `from` value as the node expects it.
    pub fn wire_name(self) -> &'static str {
        match self {
            StateView::Pending => "pending",
            StateView::Committed => "committed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_op_params() {
        let p = GetOp::value("/apps/a/x").finalized().to_params();
        assert_eq!(
            Value::Object(p),
            json!({"type":"GET_VALUE","ref":"/apps/a/x","is_final":true})
        );
        let p = GetRequest::from(GetOp::owner("/apps/a").shallow().global())
            .to_params()
            .unwrap();
        assert_eq!(
            Value::Object(p),
            json!({"type":"GET_OWNER","ref":"/apps/a","is_shallow":true,"is_global":true})
        );
    }

    #[test]
    fn op_list_params_and_limits() {
        let req = GetRequest::Many(vec![GetOp::rule("/a"), GetOp::function("/b").finalized()]);
        assert_eq!(
            Value::Object(req.to_params().unwrap()),
            json!({"type":"GET","op_list":[
                {"type":"GET_RULE","ref":"/a"},
                {"type":"GET_FUNCTION","ref":"/b","is_final":true}]})
        );
        assert!(GetRequest::Many(vec![]).to_params().is_err());
        let many = vec![GetOp::value("/a"); MAX_GET_OPS + 1];
        assert!(matches!(
            GetRequest::Many(many).to_params(),
            Err(RpcError::InvalidRequest(_))
        ));
        assert!(
            GetRequest::Many(vec![GetOp::value("/a"); MAX_GET_OPS])
                .to_params()
                .is_ok()
        );
    }

    #[test]
    fn wire_names() {
        assert_eq!(StateView::Pending.wire_name(), "pending");
        assert_eq!(StateView::Committed.wire_name(), "committed");
        assert_eq!(GetKind::Function.wire_name(), "GET_FUNCTION");
    }
}
