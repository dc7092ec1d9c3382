//! The JSON-RPC methods, with the node's parameter names and result shapes (`json_rpc/*.js`).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::Server;
use super::rpc::{PROTOCOL_VERSION, coerce};
use crate::chain::{Chain, ChainError};
use crate::codes;
use crate::perm::{self, Auth, EvalEnv, OwnerCheck, RuleCache};
use crate::state::{State, TreeKind};
use ain_ledger::block::Block;
use ain_ledger::crypto::{Address, Hash};
use ain_ledger::tx::state::{is_valid_app_name, is_valid_state_label, parse_path};

/// A method's answer object (`result` and maybe `code`/`message`), or an internal error.
pub(super) type Answer = Result<Map<String, Value>, String>;

fn ok(result: Value) -> Answer {
    let mut m = Map::new();
    m.insert("result".into(), result);
    Ok(m)
}

fn with_code(result: Value, code: i64, message: Option<&str>) -> Answer {
    let mut m = Map::new();
    m.insert("result".into(), result);
    m.insert("code".into(), json!(code));
    if let Some(msg) = message {
        m.insert("message".into(), json!(msg));
    }
    Ok(m)
}

fn internal(e: ChainError) -> String {
    e.to_string()
}

/// `CommonUtil.toBool`: `true` or `"true"`.
fn to_bool(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true))) || v.and_then(Value::as_str) == Some("true")
}

fn block_json(block: &Block, full: bool) -> Value {
    let mut v = serde_json::to_value(block).unwrap_or(Value::Null);
    if !full {
        let hashes: Vec<Value> = block.transactions.iter().map(|t| json!(t.hash)).collect();
        v["transactions"] = Value::Array(hashes);
    }
    v
}

fn integer(v: Option<&Value>) -> Option<u64> {
    let v = v?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|x| x.fract() == 0.0 && *x >= 0.0)
            .map(|x| x as u64)
    })
}

fn parse_hash(v: Option<&Value>) -> Option<Hash> {
    v?.as_str()?.parse().ok()
}

fn address(v: Option<&Value>) -> Option<Address> {
    let s = v?.as_str()?;
    if s.len() != 42 {
        return None;
    }
    s.parse().ok()
}

/// One `GET_*` read; `None` for an unknown type.
fn read(state: &State, op: &Map<String, Value>) -> Option<Value> {
    let kind = match op.get("type").and_then(Value::as_str) {
        None | Some("GET_VALUE") => TreeKind::Values,
        Some("GET_RULE") => TreeKind::Rules,
        Some("GET_FUNCTION") => TreeKind::Functions,
        Some("GET_OWNER") => TreeKind::Owners,
        Some(_) => return None,
    };
    // An absent `ref` reads the root (`parsePath(undefined)` is `[]`); a non-string one nothing.
    let path = match op.get("ref") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Some(Value::Null),
    };
    let labels = parse_path(path);
    let shallow = to_bool(op.get("is_shallow"));
    Some(
        state
            .tree(kind)
            .get(&labels)
            .map_or(Value::Null, |n| n.to_value(shallow)),
    )
}

fn ain_get(chain: &Chain, p: &Map<String, Value>, max_ops: usize) -> Answer {
    let state_for = |op: &Map<String, Value>| {
        if to_bool(op.get("is_final")) {
            chain.final_state()
        } else {
            chain.pending_state()
        }
    };
    match p.get("type").and_then(Value::as_str) {
        Some("GET") => {
            let Some(list) = p
                .get("op_list")
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty())
            else {
                return with_code(
                    Value::Null,
                    codes::GET_INVALID_OP_LIST,
                    Some("Invalid op_list given"),
                );
            };
            if list.len() > max_ops {
                let msg = format!(
                    "The request exceeds the max op_list size limit of the requested node: {} > {max_ops}",
                    list.len()
                );
                return with_code(
                    Value::Null,
                    codes::GET_EXCEEDS_OP_LIST_SIZE_LIMIT,
                    Some(&msg),
                );
            }
            let empty = Map::new();
            let out = list
                .iter()
                .filter_map(|op| {
                    let op = op.as_object().unwrap_or(&empty);
                    read(state_for(op), op)
                })
                .collect();
            ok(Value::Array(out))
        }
        Some("GET_VALUE" | "GET_RULE" | "GET_FUNCTION" | "GET_OWNER") => {
            ok(read(state_for(p), p).unwrap_or(Value::Null))
        }
        _ => with_code(
            Value::Null,
            codes::GET_INVALID_OPERATION,
            Some("Invalid get operation"),
        ),
    }
}

fn eval_rule(chain: &Chain, p: &Map<String, Value>) -> Answer {
    let state = if to_bool(p.get("is_final")) {
        chain.final_state()
    } else {
        chain.pending_state()
    };
    let path = p.get("ref").and_then(Value::as_str).unwrap_or("");
    let labels = parse_path(path);
    let auth = Auth {
        addr: p
            .get("address")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        fid: p.get("fid").and_then(Value::as_str).map(str::to_owned),
        fids: Vec::new(),
    };
    let tip = chain.tip();
    let env = EvalEnv {
        timestamp: p
            .get("timestamp")
            .and_then(Value::as_f64)
            .unwrap_or(ain_ledger::now_ms() as f64),
        block_number: tip.number + 1,
        block_time: tip.timestamp,
    };
    let value = p.get("value").cloned().unwrap_or(Value::Null);
    let mut cache = RuleCache::default();
    match perm::check_value_write(state, &mut cache, &labels, &value, &auth, env) {
        Ok(()) => ok(json!({"code": codes::SUCCESS})),
        Err(d) => ok(json!({"code": d.code, "message": d.message})),
    }
}

fn eval_owner(chain: &Chain, p: &Map<String, Value>) -> Answer {
    let path = p.get("ref").and_then(Value::as_str).unwrap_or("");
    let labels = parse_path(path);
    let auth = Auth {
        addr: p
            .get("address")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        fid: p.get("fid").and_then(Value::as_str).map(str::to_owned),
        fids: Vec::new(),
    };
    let check = match p.get("permission").and_then(Value::as_str) {
        Some("write_rule") => OwnerCheck::Rule,
        Some("write_function") => OwnerCheck::Function,
        Some("write_owner" | "branch_owner") => OwnerCheck::Owner,
        other => {
            let msg = format!(
                "Invalid permission '{}' for local path '{}' with auth '{}'",
                other.unwrap_or("undefined"),
                ain_ledger::tx::state::format_path(labels.iter().copied()),
                auth.to_json()
            );
            return ok(json!({"code": codes::EVAL_OWNER_INVALID_PERMISSION, "message": msg}));
        }
    };
    let is_merge = to_bool(p.get("is_merge"));
    match perm::check_owner(chain.pending_state(), &labels, &auth, check, is_merge) {
        Ok(()) => ok(json!({"code": codes::SUCCESS})),
        Err(d) => ok(json!({"code": d.code, "message": d.message})),
    }
}

fn validate_app_name(chain: &Chain, p: &Map<String, Value>) -> Answer {
    let name = p.get("app_name").and_then(Value::as_str).unwrap_or("");
    let fail = |code: i64, msg: String| {
        ok(json!({"is_valid": false, "result": false, "code": code, "message": msg}))
    };
    if !is_valid_state_label(name) {
        return fail(30601, format!("Invalid app name for state label: {name}"));
    }
    if name == "balance_total_sum" || !is_valid_app_name(name) {
        return fail(30602, format!("Invalid app name for service name: {name}"));
    }
    if !chain
        .pending_state()
        .value(&["manage_app", name, "config"])
        .is_null()
    {
        return fail(30603, format!("App name already in use: {name}"));
    }
    ok(json!({"is_valid": true, "result": true, "code": 0}))
}

fn tx_by_block_and_index(block: Option<Arc<Block>>, index: Option<u64>) -> Value {
    match (block, index) {
        (Some(b), Some(i)) => b.transactions.get(i as usize).map_or(
            Value::Null,
            |t| json!({"transaction": t, "is_executed": true, "is_finalized": true}),
        ),
        _ => Value::Null,
    }
}

/// Runs `method`; `None` when there is no such method.
pub(super) async fn dispatch(
    server: &Arc<Server>,
    method: &str,
    p: &Map<String, Value>,
) -> Option<Answer> {
    let cfg = &server.config;
    let answer = match method {
        "ain_sendSignedTransaction" => super::send::send(server, p, false).await,
        "ain_sendSignedTransactionDryrun" => super::send::send(server, p, true).await,
        "ain_sendSignedTransactionBatch" => super::send::send_batch(server, p).await,
        "ain_getProtocolVersion" => ok(json!(PROTOCOL_VERSION)),
        "ain_checkProtocolVersion" => match p.get("protoVer") {
            None => with_code(
                json!(false),
                codes::PROTO_VERSION_NOT_SPECIFIED,
                Some("Protocol version not specified."),
            ),
            Some(v) => match coerce(v) {
                None => with_code(
                    json!(false),
                    codes::PROTO_VERSION_INVALID,
                    Some("Invalid protocol version."),
                ),
                Some(ver) if ver < (1, 0, 0) => with_code(
                    json!(false),
                    codes::PROTO_VERSION_INCOMPATIBLE,
                    Some("Incompatible protocol version."),
                ),
                Some(_) => with_code(json!(true), codes::SUCCESS, None),
            },
        },
        "net_getChainId" => ok(json!(cfg.chain_id)),
        "net_getNetworkId" => ok(json!(cfg.network_id)),
        "net_listening" => ok(json!(false)),
        "net_syncing" => ok(json!(false)),
        "net_peerCount" => ok(json!(0)),
        "net_getEventHandlerNetworkInfo" => ok(json!({
            "url": server.events_url,
            "maxNumEventChannels": cfg.events.max_channels,
            "numEventChannels": server.events.channel_count(),
            "maxNumEventFilters": cfg.events.max_filters,
            "numEventFilters": server.events.filter_count(),
        })),
        _ => return read_method(server, method, p),
    };
    Some(answer)
}

fn read_method(server: &Arc<Server>, method: &str, p: &Map<String, Value>) -> Option<Answer> {
    let chain = server.chain();
    let full = || to_bool(p.get("getFullTransactions"));
    let answer = (|| -> Result<Answer, ChainError> {
        Ok(match method {
            "ain_get" => ain_get(&chain, p, server.config.get_op_list_size_limit),
            "ain_evalRule" => eval_rule(&chain, p),
            "ain_evalOwner" => eval_owner(&chain, p),
            "ain_validateAppName" => validate_app_name(&chain, p),
            "ain_getAddress" => ok(json!(chain.validator())),
            // `node/index.js:609-651` (ain-node-semantics.md §1.6): null without `app_name`.
            "ain_getStateUsage" => ok(match p.get("app_name").and_then(Value::as_str) {
                Some(app) => crate::exec::budget::state_usage(
                    chain.pending_state(),
                    &server.config.budgets,
                    app,
                ),
                None => Value::Null,
            }),
            "ain_getBalance" => {
                let v = address(p.get("address"))
                    .map(|a| {
                        chain
                            .pending_state()
                            .value(&["accounts", &a.to_checksum(), "balance"])
                    })
                    .filter(|v| !v.is_null())
                    .unwrap_or(json!(0));
                ok(v)
            }
            "ain_getNonce" | "ain_getTimestamp" => match address(p.get("address")) {
                None => ok(json!(-1)),
                Some(a) => {
                    let pending = p.get("from").and_then(Value::as_str) == Some("pending");
                    let (nonce, ts) = chain.nonce_and_timestamp(&a, pending);
                    ok(if method == "ain_getNonce" { nonce } else { ts })
                }
            },
            "ain_getLastBlock" => {
                let b = chain.block(chain.finalized_number())?;
                ok(b.map_or(Value::Null, |b| block_json(&b, true)))
            }
            "ain_getLastBlockNumber" => ok(json!(chain.finalized_number())),
            "ain_getBlockByNumber" => {
                let b = match integer(p.get("number")) {
                    Some(n) => chain.block(n)?,
                    None => None,
                };
                ok(b.map_or(Value::Null, |b| block_json(&b, full())))
            }
            "ain_getBlockByHash" => {
                let b = match parse_hash(p.get("hash")) {
                    Some(h) => chain.block_by_hash(&h)?,
                    None => None,
                };
                ok(b.map_or(Value::Null, |b| block_json(&b, full())))
            }
            "ain_getBlockList" | "ain_getBlockHeadersList" => {
                let bound = |k: &str| p.get(k).and_then(Value::as_i64);
                let blocks = chain.block_list(bound("from"), bound("to"))?;
                let list = blocks
                    .iter()
                    .map(|b| {
                        if method == "ain_getBlockList" {
                            block_json(b, true)
                        } else {
                            b.header_json()
                        }
                    })
                    .collect();
                ok(Value::Array(list))
            }
            "ain_getBlockTransactionCountByNumber"
            | "ain_getProposerByNumber"
            | "ain_getValidatorsByNumber" => {
                let b = match integer(p.get("number")) {
                    Some(n) => chain.block(n)?,
                    None => None,
                };
                ok(block_field(method, b))
            }
            "ain_getBlockTransactionCountByHash"
            | "ain_getProposerByHash"
            | "ain_getValidatorsByHash" => {
                let b = match parse_hash(p.get("hash")) {
                    Some(h) => chain.block_by_hash(&h)?,
                    None => None,
                };
                ok(block_field(method, b))
            }
            "ain_getTransactionByHash" => match parse_hash(p.get("hash")) {
                Some(h) => ok(chain.tx_info(&h)?.map_or(Value::Null, |i| i.json)),
                None => ok(Value::Null),
            },
            "ain_getTransactionByBlockNumberAndIndex" => {
                let b = match integer(p.get("block_number")) {
                    Some(n) => chain.block(n)?,
                    None => None,
                };
                ok(tx_by_block_and_index(b, integer(p.get("index"))))
            }
            "ain_getTransactionByBlockHashAndIndex" => {
                let b = match parse_hash(p.get("block_hash")) {
                    Some(h) => chain.block_by_hash(&h)?,
                    None => None,
                };
                ok(tx_by_block_and_index(b, integer(p.get("index"))))
            }
            "ain_getPendingTransactions" => ok(chain.pending_transactions()),
            "ain_getTransactionPoolSizeUtilization" => ok(json!({
                "limit": server.config.pool.max_txs,
                "used": chain.pool_len(),
            })),
            _ => return Ok(Err(String::new())),
        })
    })();
    match answer {
        Ok(Err(e)) if e.is_empty() => None,
        Ok(a) => Some(a),
        Err(e) => Some(Err(internal(e))),
    }
}

fn block_field(method: &str, b: Option<Arc<Block>>) -> Value {
    let Some(b) = b else { return Value::Null };
    if method.contains("TransactionCount") {
        json!(b.transactions.len())
    } else if method.contains("Proposer") {
        json!(b.proposer)
    } else {
        json!(b.validators)
    }
}
