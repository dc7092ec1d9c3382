//! What the node says about a submitted transaction (ain-protocol.md §1.6).
//!
//! API-level rejections (30301-30304, `result.result == null`) never get here: the envelope turns
//! them into [`RpcError::Node`]. What remains is either `{tx_hash, result}`, where `result` is the
//! execution outcome (success, or a failure with its code and message, or for `SET` txs a
//! `result_list`), or `{tx_hash: null, result: false}` from a node that is not serving. Success
//! follows the node's own `CommonUtil.isFailedTx` rule exactly, so "accepted" here means what it
//! means to the node and to ain-js.

use serde_json::{Map, Value};

use super::error::{RpcError, codes, is_transient_code};
use crate::crypto::Hash;

/// The node's answer for one submitted transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum SendResult {
    /// The node created and executed the tx; `result` tells whether execution succeeded.
    Processed {
        /// The tx hash (the hash embedded in the signature).
        tx_hash: Hash,
        /// The execution outcome.
        result: TxResult,
    },
    /// `{tx_hash: null, result: false}`: the node is not SERVING yet (or could not build the tx).
    /// Nothing was pooled; sending again later can succeed.
    NotServing,
}

impl SendResult {
    /// Decodes one `{tx_hash, result}` object.
    pub(super) fn from_value(v: &Value) -> Result<SendResult, RpcError> {
        let obj = v
            .as_object()
            .ok_or_else(|| RpcError::Malformed(format!("send result is not an object: {v}")))?;
        let (Some(tx_hash), Some(result)) = (obj.get("tx_hash"), obj.get("result")) else {
            return Err(RpcError::Malformed(format!(
                "send result lacks tx_hash or result: {}",
                super::envelope::snippet(v.to_string().as_bytes())
            )));
        };
        match tx_hash {
            Value::Null if result == &Value::Bool(false) => Ok(SendResult::NotServing),
            Value::String(s) => {
                let tx_hash = s.parse::<Hash>().map_err(|e| {
                    RpcError::Malformed(format!("send result tx_hash {s:?} is not a hash: {e}"))
                })?;
                Ok(SendResult::Processed {
                    tx_hash,
                    result: TxResult::new(result.clone()),
                })
            }
            other => Err(RpcError::Malformed(format!(
                "send result tx_hash is neither a hash nor null: {other}"
            ))),
        }
    }

    /// Decodes a batch answer into one result per submitted tx. A node that is not serving
    /// answers the whole batch with a single `{tx_hash: null, result: false}`; that becomes
    /// `expected` copies of [`SendResult::NotServing`].
    pub(super) fn batch_from_value(
        v: &Value,
        expected: usize,
    ) -> Result<Vec<SendResult>, RpcError> {
        match v {
            Value::Array(items) if items.len() == expected => {
                items.iter().map(SendResult::from_value).collect()
            }
            Value::Array(items) => Err(RpcError::Malformed(format!(
                "batch answer has {} results for {expected} txs",
                items.len()
            ))),
            Value::Object(_) => match SendResult::from_value(v)? {
                SendResult::NotServing => Ok(vec![SendResult::NotServing; expected]),
                SendResult::Processed { .. } => Err(RpcError::Malformed(
                    "batch answer is a single tx result".into(),
                )),
            },
            other => Err(RpcError::Malformed(format!(
                "batch answer is neither a list nor an object: {other}"
            ))),
        }
    }

    /// True when the node executed the tx successfully (`CommonUtil.isFailedTx` is false).
    pub fn is_success(&self) -> bool {
        matches!(self, SendResult::Processed { result, .. } if result.is_success())
    }

    /// The tx hash, unless the node was not serving.
    pub fn tx_hash(&self) -> Option<&Hash> {
        match self {
            SendResult::Processed { tx_hash, .. } => Some(tx_hash),
            SendResult::NotServing => None,
        }
    }

    /// The execution outcome, unless the node was not serving.
    pub fn result(&self) -> Option<&TxResult> {
        match self {
            SendResult::Processed { result, .. } => Some(result),
            SendResult::NotServing => None,
        }
    }

    /// The failure code: the first failing code in the outcome, 18001 for a node that is not
    /// serving, `None` on success (or for a failure that carries no code).
    pub fn failure_code(&self) -> Option<i64> {
        match self {
            SendResult::Processed { result, .. } => result.failure_code(),
            SendResult::NotServing => Some(codes::BLOCKCHAIN_NODE_NOT_SERVING),
        }
    }

    /// The node's message about the outcome, if it sent one.
    pub fn message(&self) -> Option<&str> {
        self.result().and_then(TxResult::message)
    }

    /// True for failures worth resending later: a node that is not serving, or a transient
    /// failure code (full pools). A duplicate (10701) is not transient: the tx is already there.
    pub fn is_transient_failure(&self) -> bool {
        match self {
            SendResult::Processed { result, .. } => result.is_transient_failure(),
            SendResult::NotServing => true,
        }
    }
}

/// The execution outcome object of a tx (`result.result.result` of a send, `exec_result` of a tx
/// lookup), kept as the node sent it with typed views on top.
#[derive(Debug, Clone, PartialEq)]
pub struct TxResult(Value);

impl TxResult {
    /// Wraps an outcome value as the node sent it.
    pub fn new(raw: Value) -> TxResult {
        TxResult(raw)
    }

    /// The outcome exactly as received.
    pub fn raw(&self) -> &Value {
        &self.0
    }

    /// The top-level `code`; absent for `SET` (op_list) outcomes, which carry `result_list`.
    pub fn code(&self) -> Option<i64> {
        self.0.get("code").and_then(Value::as_i64)
    }

    /// The top-level `message`, or else the first message inside `result_list`.
    pub fn message(&self) -> Option<&str> {
        if let Some(m) = self.0.get("message").and_then(Value::as_str) {
            return Some(m);
        }
        self.result_list()?
            .values()
            .find_map(|sub| sub.get("message").and_then(Value::as_str))
    }

    /// The per-op outcomes of a `SET` tx, keyed `"0"`, `"1"`, ...
    pub fn result_list(&self) -> Option<&Map<String, Value>> {
        self.0.get("result_list").and_then(Value::as_object)
    }

    /// True when the node added `is_dryrun: true` (a dry-run: nothing was pooled).
    pub fn is_dryrun(&self) -> bool {
        self.0.get("is_dryrun") == Some(&Value::Bool(true))
    }

    /// The node's success rule (`!CommonUtil.isFailedTx`): code 0, and every triggered
    /// function's code 0 or 20000 (skip), recursively through `op_results`, subtree function
    /// results and every `result_list` entry.
    pub fn is_success(&self) -> bool {
        !is_failed_tx(&self.0)
    }

    /// The first failing code found: the top-level code, else a failing `result_list` entry's
    /// code, else a failing function result's code. `None` on success.
    pub fn failure_code(&self) -> Option<i64> {
        if self.is_success() {
            return None;
        }
        let failing = |v: &Value| v.get("code").and_then(Value::as_i64).filter(|c| *c != 0);
        if let Some(c) = failing(&self.0) {
            return Some(c);
        }
        if let Some(list) = self.result_list()
            && let Some(c) = list.values().find_map(failing)
        {
            return Some(c);
        }
        let funcs = self.0.get("func_results").and_then(Value::as_object)?;
        funcs.values().find_map(|f| {
            f.get("code")
                .and_then(Value::as_i64)
                .filter(|c| *c != 0 && *c != codes::FUNC_SKIP)
        })
    }

    /// True when the failure code is one of the transient ones (full pools, not serving).
    pub fn is_transient_failure(&self) -> bool {
        self.failure_code().is_some_and(is_transient_code)
    }

    /// True when the node rejected the tx in its precheck (nonce, timestamp, gas price, billing;
    /// `FailedTxPrecheckCodeSet`). Such txs are not pooled and never reach a block; other
    /// execution failures are pooled and end up in a block as REVERTED.
    pub fn is_precheck_failure(&self) -> bool {
        self.failure_code().is_some_and(|c| {
            matches!(
                c,
                10706 | 10707 | 10710 | 10711 | 10712 | 10713 | 10714 | 10801..=10806
            ) || c == DB_FAILED_TO_BACKUP_DB
        })
    }
}

/// `TxResultCode.DB_FAILED_TO_BACKUP_DB`, the one precheck code outside the 107xx/108xx blocks.
const DB_FAILED_TO_BACKUP_DB: i64 = 16001;

fn is_zero(code: Option<&Value>) -> bool {
    code.and_then(Value::as_f64) == Some(0.0)
}

/// `CommonUtil.isFailedTx`: anything but an object with a zero code (or a `result_list` of them)
/// is a failure, as in JS where a missing code compares unequal to 0.
fn is_failed_tx(result: &Value) -> bool {
    let Some(obj) = result.as_object() else {
        return true;
    };
    if let Some(list) = obj.get("result_list").and_then(Value::as_object) {
        return list.values().any(|sub| {
            !is_zero(sub.get("code"))
                || sub.get("func_results").is_some_and(is_failed_func_trigger)
                || sub
                    .get("subtree_func_results")
                    .is_some_and(is_failed_subtree_func_trigger)
        });
    }
    !is_zero(obj.get("code"))
        || obj.get("func_results").is_some_and(is_failed_func_trigger)
        || obj
            .get("subtree_func_results")
            .is_some_and(is_failed_subtree_func_trigger)
}

/// `CommonUtil.isFailedFuncTrigger`: every function result is 0 or SKIP, and every nested op
/// result succeeded.
fn is_failed_func_trigger(func_results: &Value) -> bool {
    let Some(map) = func_results.as_object() else {
        return false;
    };
    map.values().any(|f| {
        let code_ok = f
            .get("code")
            .and_then(Value::as_f64)
            .is_some_and(|c| c == 0.0 || c == codes::FUNC_SKIP as f64);
        if !code_ok {
            return true;
        }
        let nested: Vec<&Value> = match f.get("op_results") {
            Some(Value::Object(m)) => m.values().collect(),
            Some(Value::Array(a)) => a.iter().collect(),
            _ => Vec::new(),
        };
        nested
            .iter()
            .any(|op| is_failed_tx(op.get("result").unwrap_or(&Value::Null)))
    })
}

/// `CommonUtil.isFailedSubtreeFuncTrigger`: function path → value path → `func_results`.
fn is_failed_subtree_func_trigger(results: &Value) -> bool {
    let Some(by_func_path) = results.as_object() else {
        return false;
    };
    by_func_path.values().any(|by_value_path| {
        by_value_path.as_object().is_some_and(|m| {
            m.values()
                .any(|v| v.get("func_results").is_some_and(is_failed_func_trigger))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const H: &str = "0xe8f50a40ed261aa2f379e9851082bed64ae7c3f8801cf18bd65435ca46b1879c";

    fn tx(result: Value) -> TxResult {
        TxResult::new(result)
    }

    #[test]
    fn success_and_failure_codes() {
        assert!(tx(json!({"code":0,"bandwidth_gas_amount":1})).is_success());
        let dup = tx(json!({"code":10701,"message":"Already received","bandwidth_gas_amount":0}));
        assert!(!dup.is_success());
        assert_eq!(dup.failure_code(), Some(10701));
        assert_eq!(dup.message(), Some("Already received"));
        assert!(!dup.is_transient_failure());
        assert!(!dup.is_precheck_failure());
        let nonce = tx(json!({"code":10712,"message":"bad nonce"}));
        assert!(nonce.is_precheck_failure());
        let pool = tx(json!({"code":10716,"message":"free room"}));
        assert!(pool.is_transient_failure());
        // A missing code is a failure, as `undefined !== 0` in JS.
        assert!(!tx(json!({"bandwidth_gas_amount":1})).is_success());
        assert!(!tx(json!(true)).is_success());
        assert!(!tx(Value::Null).is_success());
    }

    #[test]
    fn func_results_rule() {
        let ok = json!({"code":0,"func_results":{"a":{"code":0},"b":{"code":20000}}});
        assert!(tx(ok).is_success());
        let bad = json!({"code":0,"func_results":{"a":{"code":0},"b":{"code":20001}}});
        let bad = tx(bad);
        assert!(!bad.is_success());
        assert_eq!(bad.failure_code(), Some(20001));
        let nested_bad = json!({"code":0,"func_results":{"_transfer":{"code":0,
            "op_results":{"0":{"path":"/x","result":{"code":12103,"message":"rule"}}}}}});
        assert!(!tx(nested_bad).is_success());
        let nested_ok = json!({"code":0,"func_results":{"_transfer":{"code":0,
            "op_results":{"0":{"path":"/x","result":{"code":0}}}}}});
        assert!(tx(nested_ok).is_success());
        let subtree_bad = json!({"code":0,"subtree_func_results":{"/a/$b":{"/a/x":
            {"func_results":{"f":{"code":20001}}}}}});
        assert!(!tx(subtree_bad).is_success());
    }

    #[test]
    fn result_list_rule() {
        let ok = tx(json!({"gas_amount_charged":0,"result_list":{"0":{"code":0},"1":{"code":0}}}));
        assert!(ok.is_success());
        assert_eq!(ok.code(), None);
        assert_eq!(ok.result_list().map(Map::len), Some(2));
        let bad = tx(json!({"result_list":{"0":{"code":0},"1":{"code":12103,"message":"rule"}}}));
        assert!(!bad.is_success());
        assert_eq!(bad.failure_code(), Some(12103));
        assert_eq!(bad.message(), Some("rule"));
        let bad_func = json!({"result_list":{"0":{"code":0,"func_results":{"f":{"code":1}}}}});
        assert!(!tx(bad_func).is_success());
    }

    #[test]
    fn send_result_shapes() {
        let ok = SendResult::from_value(&json!({"tx_hash":H,"result":{"code":0}})).unwrap();
        assert!(ok.is_success());
        assert_eq!(ok.tx_hash().map(|h| h.to_string()), Some(H.to_owned()));
        assert_eq!(ok.failure_code(), None);
        let ns = SendResult::from_value(&json!({"tx_hash":null,"result":false})).unwrap();
        assert_eq!(ns, SendResult::NotServing);
        assert!(!ns.is_success());
        assert!(ns.is_transient_failure());
        assert_eq!(ns.failure_code(), Some(18001));
        for bad in [
            json!({"tx_hash":"0x12","result":{"code":0}}),
            json!({"tx_hash":null,"result":{"code":0}}),
            json!({"result":{"code":0}}),
            json!([1]),
        ] {
            assert!(
                matches!(SendResult::from_value(&bad), Err(RpcError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn batch_shapes() {
        let list = json!([{"tx_hash":H,"result":{"code":0}},{"tx_hash":H,"result":{"code":10701}}]);
        let out = SendResult::batch_from_value(&list, 2).unwrap();
        assert!(out[0].is_success());
        assert_eq!(out[1].failure_code(), Some(10701));
        assert!(SendResult::batch_from_value(&list, 3).is_err());
        let ns = SendResult::batch_from_value(&json!({"tx_hash":null,"result":false}), 3).unwrap();
        assert_eq!(ns, vec![SendResult::NotServing; 3]);
        assert!(
            SendResult::batch_from_value(&json!({"tx_hash":H,"result":{"code":0}}), 1).is_err()
        );
        assert!(SendResult::batch_from_value(&json!(5), 1).is_err());
    }

    #[test]
    fn dryrun_flag() {
        assert!(tx(json!({"code":0,"is_dryrun":true})).is_dryrun());
        assert!(!tx(json!({"code":0})).is_dryrun());
    }
}
