//! Result codes, with the node's names and numbers (`common/result-code.js`), and the
//! node's rules for telling a failed result from a successful one. One table for the whole
//! ledger: the JSON-RPC client reads these codes, the built-in chain answers with them.

use serde_json::Value;

/// Success.
pub const SUCCESS: i64 = 0;
/// `SET_VALUE_INVALID_VALUE_STATES`.
pub const SET_VALUE_INVALID_VALUE_STATES: i64 = 10101;
/// `SET_VALUE_INVALID_VALUE_PATH`.
pub const SET_VALUE_INVALID_VALUE_PATH: i64 = 10102;
/// `SET_VALUE_TRIGGERED_FUNCTION_CALL_FAILED`.
pub const SET_VALUE_TRIGGERED_FUNCTION_CALL_FAILED: i64 = 10104;
/// `INC_VALUE_NOT_A_NUMBER_TYPE`.
pub const INC_VALUE_NOT_A_NUMBER_TYPE: i64 = 10201;
/// `DEC_VALUE_NOT_A_NUMBER_TYPE`.
pub const DEC_VALUE_NOT_A_NUMBER_TYPE: i64 = 10301;
/// `SET_FUNCTION_INVALID_FUNCTION_STATES`.
pub const SET_FUNCTION_INVALID_FUNCTION_STATES: i64 = 10401;
/// `SET_FUNCTION_INVALID_FUNCTION_PATH`.
pub const SET_FUNCTION_INVALID_FUNCTION_PATH: i64 = 10402;
/// `SET_FUNCTION_INVALID_FUNCTION_TREE`.
pub const SET_FUNCTION_INVALID_FUNCTION_TREE: i64 = 10403;
/// `SET_FUNCTION_OWNER_ONLY_FUNCTION`.
pub const SET_FUNCTION_OWNER_ONLY_FUNCTION: i64 = 10404;
/// `SET_RULE_INVALID_RULE_STATES`.
pub const SET_RULE_INVALID_RULE_STATES: i64 = 10501;
/// `SET_RULE_INVALID_RULE_PATH`.
pub const SET_RULE_INVALID_RULE_PATH: i64 = 10502;
/// `SET_RULE_INVALID_RULE_TREE`.
pub const SET_RULE_INVALID_RULE_TREE: i64 = 10503;
/// `SET_OWNER_INVALID_OWNER_STATES`.
pub const SET_OWNER_INVALID_OWNER_STATES: i64 = 10601;
/// `SET_OWNER_INVALID_OWNER_PATH`.
pub const SET_OWNER_INVALID_OWNER_PATH: i64 = 10602;
/// `SET_OWNER_INVALID_OWNER_TREE`.
pub const SET_OWNER_INVALID_OWNER_TREE: i64 = 10603;
/// `TX_ALREADY_RECEIVED`.
pub const TX_ALREADY_RECEIVED: i64 = 10701;
/// `TX_POOL_NOT_ENOUGH_ROOM`.
pub const TX_POOL_NOT_ENOUGH_ROOM: i64 = 10704;
/// `TX_POOL_NOT_ENOUGH_ROOM_FOR_ACCOUNT`.
pub const TX_POOL_NOT_ENOUGH_ROOM_FOR_ACCOUNT: i64 = 10705;
/// `TX_INVALID_OPERATION_TYPE`.
pub const TX_INVALID_OPERATION_TYPE: i64 = 10709;
/// `TX_INVALID_NONCE_FOR_ACCOUNT`.
pub const TX_INVALID_NONCE_FOR_ACCOUNT: i64 = 10712;
/// `TX_INVALID_TIMESTAMP_FOR_ACCOUNT`.
pub const TX_INVALID_TIMESTAMP_FOR_ACCOUNT: i64 = 10713;
/// `TX_INVALID_GAS_PRICE`.
pub const TX_INVALID_GAS_PRICE: i64 = 10714;
/// `TX_POOL_NOT_ENOUGH_FREE_ROOM`.
pub const TX_POOL_NOT_ENOUGH_FREE_ROOM: i64 = 10715;
/// `TX_POOL_NOT_ENOUGH_FREE_ROOM_FOR_ACCOUNT`.
pub const TX_POOL_NOT_ENOUGH_FREE_ROOM_FOR_ACCOUNT: i64 = 10716;
/// `TX_SET_EXCEEDS_OP_LIST_SIZE_LIMIT`.
pub const TX_SET_EXCEEDS_OP_LIST_SIZE_LIMIT: i64 = 30005;
/// `BILLING_INVALID_PARAM`.
pub const BILLING_INVALID_PARAM: i64 = 10801;
/// `TREE_OUT_OF_TREE_HEIGHT_LIMIT`.
pub const TREE_OUT_OF_TREE_HEIGHT_LIMIT: i64 = 11101;
/// `TREE_OUT_OF_TREE_BYTES_LIMIT`.
pub const TREE_OUT_OF_TREE_BYTES_LIMIT: i64 = 11103;
/// `EXCEEDED_STATE_BUDGET_LIMIT_FOR_SERVICES` (ain-node-semantics.md §1.4).
pub const EXCEEDED_STATE_BUDGET_SERVICE: i64 = 10901;
/// `EXCEEDED_STATE_BUDGET_LIMIT_FOR_APPS`.
pub const EXCEEDED_STATE_BUDGET_APPS: i64 = 10902;
/// `EXCEEDED_STATE_BUDGET_LIMIT_FOR_FREE_TIER`: an unstaked app's write while the shared free
/// tier is full.
pub const EXCEEDED_STATE_BUDGET_FREE_TIER: i64 = 10905;
/// `EXCEEDED_STATE_BUDGET_LIMIT_FOR_APP`: a staked app over its share.
pub const EXCEEDED_STATE_BUDGET_APP: i64 = 10907;
/// `EVAL_RULE_NON_EMPTY_SUBTREE_RULES`.
pub const EVAL_RULE_NON_EMPTY_SUBTREE_RULES: i64 = 12101;
/// `EVAL_RULE_INTERNAL_ERROR`.
pub const EVAL_RULE_INTERNAL_ERROR: i64 = 12102;
/// `EVAL_RULE_FALSE_WRITE_RULE_EVAL`.
pub const EVAL_RULE_FALSE_WRITE_RULE_EVAL: i64 = 12103;
/// `EVAL_RULE_FALSE_STATE_RULE_EVAL`.
pub const EVAL_RULE_FALSE_STATE_RULE_EVAL: i64 = 12104;
/// `EVAL_RULE_SYNTAX_ERROR`.
pub const EVAL_RULE_SYNTAX_ERROR: i64 = 12105;
/// `EVAL_OWNER_INVALID_PERMISSION`.
pub const EVAL_OWNER_INVALID_PERMISSION: i64 = 12201;
/// `EVAL_OWNER_NON_EMPTY_SUBTREE_OWNERS_FOR_RULE`.
pub const EVAL_OWNER_NON_EMPTY_SUBTREE_OWNERS_FOR_RULE: i64 = 12301;
/// `EVAL_OWNER_FALSE_PERMISSION_CHECK_FOR_RULE`.
pub const EVAL_OWNER_FALSE_PERMISSION_CHECK_FOR_RULE: i64 = 12302;
/// `EVAL_OWNER_NON_EMPTY_SUBTREE_OWNERS_FOR_FUNCTION`.
pub const EVAL_OWNER_NON_EMPTY_SUBTREE_OWNERS_FOR_FUNCTION: i64 = 12401;
/// `EVAL_OWNER_FALSE_PERMISSION_CHECK_FOR_FUNCTION`.
pub const EVAL_OWNER_FALSE_PERMISSION_CHECK_FOR_FUNCTION: i64 = 12402;
/// `EVAL_OWNER_NON_EMPTY_SUBTREE_OWNERS_FOR_OWNER`.
pub const EVAL_OWNER_NON_EMPTY_SUBTREE_OWNERS_FOR_OWNER: i64 = 12501;
/// `EVAL_OWNER_FALSE_PERMISSION_CHECK_FOR_OWNER`.
pub const EVAL_OWNER_FALSE_PERMISSION_CHECK_FOR_OWNER: i64 = 12502;

/// Function result `SKIP` (not a failure).
pub const FUNC_SKIP: i64 = 20000;
/// Function result `FAILURE`.
pub const FUNC_FAILURE: i64 = 20001;
/// Function result `INVALID_SERVICE_NAME`.
pub const FUNC_INVALID_SERVICE_NAME: i64 = 20301;

/// JSON-RPC `GET_INVALID_OPERATION`.
pub const GET_INVALID_OPERATION: i64 = 30001;
/// JSON-RPC `GET_EXCEEDS_OP_LIST_SIZE_LIMIT`.
pub const GET_EXCEEDS_OP_LIST_SIZE_LIMIT: i64 = 30004;
/// JSON-RPC `GET_INVALID_OP_LIST`.
pub const GET_INVALID_OP_LIST: i64 = 30006;
/// JSON-RPC `PROTO_VERSION_NOT_SPECIFIED`.
pub const PROTO_VERSION_NOT_SPECIFIED: i64 = 30101;
/// JSON-RPC `PROTO_VERSION_INVALID`.
pub const PROTO_VERSION_INVALID: i64 = 30102;
/// JSON-RPC `PROTO_VERSION_INCOMPATIBLE`.
pub const PROTO_VERSION_INCOMPATIBLE: i64 = 30103;
/// The node is not in SERVING state (still syncing): `BLOCKCHAIN_NODE_NOT_SERVING`.
pub const BLOCKCHAIN_NODE_NOT_SERVING: i64 = 18001;
/// JSON-RPC `TX_EXCEEDS_SIZE_LIMIT`.
pub const TX_EXCEEDS_SIZE_LIMIT: i64 = 30301;
/// JSON-RPC `TX_MISSING_PROPERTIES`.
pub const TX_MISSING_PROPERTIES: i64 = 30302;
/// JSON-RPC `TX_INVALID_FORMAT`.
pub const TX_INVALID_FORMAT: i64 = 30303;
/// JSON-RPC `TX_INVALID_SIGNATURE`.
pub const TX_INVALID_SIGNATURE: i64 = 30304;
/// JSON-RPC `BATCH_INVALID_FORMAT`.
pub const BATCH_INVALID_FORMAT: i64 = 30401;
/// JSON-RPC `BATCH_TX_LIST_EXCEEDS_SIZE_LIMIT`.
pub const BATCH_TX_LIST_EXCEEDS_SIZE_LIMIT: i64 = 30402;
/// JSON-RPC `BATCH_TX_EXCEEDS_SIZE_LIMIT`.
pub const BATCH_TX_EXCEEDS_SIZE_LIMIT: i64 = 30403;
/// JSON-RPC `BATCH_TX_MISSING_PROPERTIES`.
pub const BATCH_TX_MISSING_PROPERTIES: i64 = 30404;
/// JSON-RPC `BATCH_TX_INVALID_FORMAT`.
pub const BATCH_TX_INVALID_FORMAT: i64 = 30405;
/// JSON-RPC `BATCH_TX_INVALID_SIGNATURE`.
pub const BATCH_TX_INVALID_SIGNATURE: i64 = 30406;

/// The precheck codes (`FailedTxPrecheckCodeSet`): a tx failing with one of these is neither
/// pooled nor put in a block.
pub fn is_precheck_failure(code: i64) -> bool {
    matches!(
        code,
        10706 | 10707 | 10710..=10714 | 16001 | 10801..=10806
    )
}

fn code_of(v: &Value) -> Option<i64> {
    v.get("code").and_then(Value::as_i64)
}

/// `isFailedFuncResultCode`: anything but success and skip.
pub fn is_failed_func_code(code: i64) -> bool {
    code != SUCCESS && code != FUNC_SKIP
}

/// `isFailedFuncTrigger` over a `func_results` object.
pub fn is_failed_func_results(func_results: &Value) -> bool {
    let Some(map) = func_results.as_object() else {
        return false;
    };
    map.values().any(|r| {
        code_of(r).is_some_and(is_failed_func_code)
            || r.get("op_results")
                .and_then(Value::as_object)
                .is_some_and(|ops| ops.values().any(|o| is_failed_tx(&o["result"])))
    })
}

/// `CommonUtil.isFailedTx`: a result with a non-zero code, a failed function result, or (for
/// `SET`) any failed entry of `result_list`.
pub fn is_failed_tx(result: &Value) -> bool {
    if !result.is_object() {
        return true;
    }
    if let Some(list) = result.get("result_list").and_then(Value::as_object) {
        return list.values().any(|sub| {
            code_of(sub).is_some_and(|c| c != SUCCESS)
                || sub.get("func_results").is_some_and(is_failed_func_results)
        });
    }
    if code_of(result).is_some_and(|c| c != SUCCESS) {
        return true;
    }
    result
        .get("func_results")
        .is_some_and(is_failed_func_results)
}

/// `code N` for a node result code, `no code` when the node gave none: for messages, which must
/// not show `Some(..)`.
pub fn describe(code: Option<i64>) -> String {
    code.map_or_else(|| "no code".to_owned(), |c| format!("code {c}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failed_tx_rules() {
        assert!(!is_failed_tx(&json!({"code": 0})));
        assert!(is_failed_tx(&json!({"code": 12103})));
        assert!(is_failed_tx(&Value::Null));
        assert!(!is_failed_tx(
            &json!({"result_list": {"0": {"code": 0}, "1": {"code": 0}}})
        ));
        assert!(is_failed_tx(
            &json!({"result_list": {"0": {"code": 0}, "1": {"code": 12103}}})
        ));
        assert!(!is_failed_tx(
            &json!({"code": 0, "func_results": {"f": {"code": 20000}}})
        ));
        assert!(is_failed_tx(
            &json!({"code": 0, "func_results": {"f": {"code": 20001}}})
        ));
        assert!(is_precheck_failure(10712) && is_precheck_failure(10714));
        assert!(!is_precheck_failure(12103) && !is_precheck_failure(10701));
    }
}
