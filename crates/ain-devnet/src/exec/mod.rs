//! Transaction execution against a [`State`], as the node's `executeTransaction` does it:
//! precheck (gas price, nonce/timestamp, billing), then the operation (one op, or a `SET` list
//! stopping at the first failure), then — on success only — the account nonce/timestamp update.
//!
//! A failed transaction's writes are rolled back through the state journal. Its `VALUE_CHANGED`
//! events are not: like the node (ain-blockchain `db/index.js`, events are emitted inside each
//! `setValue`, before the tx's outcome is known), the ops of a `SET` that ran before the failing
//! one have already fired theirs, so subscribers see writes that do not stand. Events are hints;
//! a client checks the tx's outcome (`ain_getTransactionByHash`) before trusting one.
//!
//! Gas: results have the node's shape, with amounts that are not the node's accounting. Every op
//! reports `bandwidth_gas_amount: 1` (the node's `unit_write_gas_amount`), REST function results
//! 100, attributed to the app (`/apps/<app>/…`) or the service total. State gas is the node's
//! (`updateStateGasAmount`, `state_gas_coefficient` 1): when the ops succeeded,
//! `gas_amount_total.state` is `{service: max(0, service bytes added), app: {<app>: bytes added}}`
//! for each app the ops name that grew (the `app` key only when one did), reported even when the
//! budget check then fails the tx (10905 …); a real node answered a request to a full free tier
//! with `state: {service: 0, app: {<app>: 532}}` and code 10905. Charged gas and gas cost are
//! always 0. The node's `/receipts/<tx_hash>` state records are not written.

use serde_json::{Map, Value, json};

use super::codes;
use super::event_handler::{ChainEvent, EventTx};
use super::perm::{Auth, EvalEnv, RuleCache};
use super::state::{State, TreeKind};
use ain_ledger::json::{js_number, stable_stringify};
use ain_ledger::tx::state::parse_path;
use ain_ledger::tx::{OpType, Operation, SignedTx, SimpleOp};

pub mod budget;
mod native;
mod ops;

pub use budget::StateBudgets;

pub(crate) use ops::tx_result;

/// Chain parameters execution depends on.
#[derive(Clone, Debug)]
pub struct ExecParams {
    /// `min_gas_price`: a non-zero gas price must be an integer at least this big.
    pub min_gas_price: u64,
    /// `set_op_list_size_limit`: longest `op_list` executed (longer ones fail with 30005).
    pub set_op_list_size_limit: usize,
    /// State budgets checked after every tx's ops ([`budget`]).
    pub budgets: StateBudgets,
}

/// Where a transaction is being executed.
#[derive(Clone, Copy, Debug)]
pub struct TxEnv {
    /// The block being built or executed.
    pub block_number: u64,
    /// Its timestamp (the last block's while a tx enters the pool).
    pub block_time: u64,
    /// `Some("USER")` on pool admission, `Some("BLOCK")` in a block, `None` for dry runs and
    /// replays: events are only produced with a source.
    pub source: Option<&'static str>,
}

/// What executing one transaction produced.
#[derive(Debug)]
pub struct Executed {
    /// The result object as the node returns it.
    pub result: Value,
    /// `VALUE_CHANGED` events of the writes that ran, also when a later op of a `SET` failed
    /// (empty unless `source` was set).
    pub events: Vec<ChainEvent>,
    /// True when a precheck failed: the state is untouched and the tx must not be pooled.
    pub precheck_failed: bool,
}

/// One execution: the state being written and what the writes need.
pub(crate) struct Exec<'a> {
    pub(crate) state: &'a mut State,
    pub(crate) rules: &'a mut RuleCache,
    pub(crate) env: EvalEnv,
    pub(crate) source: Option<&'static str>,
    pub(crate) tx_json: &'a EventTx,
    pub(crate) tx_hash: String,
    pub(crate) events: Vec<ChainEvent>,
    /// Genesis: permissions are not checked (there is no owner yet to grant them).
    pub(crate) trusted: bool,
    pub(crate) call_stack: Vec<String>,
}

impl Exec<'_> {
    fn value_changed(&mut self, labels: &[&str], auth: &Auth, before: Value, after: Value) {
        if let Some(source) = self.source {
            self.events.push(ChainEvent::ValueChanged {
                path: labels.iter().map(|l| (*l).to_owned()).collect(),
                auth: auth.to_json(),
                transaction: self.tx_json.clone(),
                source,
                before,
                after,
            });
        }
    }

    fn execute_op(&mut self, op: &SimpleOp, auth: &Auth) -> Value {
        let value = op.value.as_ref().unwrap_or(&Value::Null);
        match op.op_type {
            OpType::SetValue => self.set_value(&op.path, value, auth),
            OpType::IncValue => self.inc_value(&op.path, value, auth, false),
            OpType::DecValue => self.inc_value(&op.path, value, auth, true),
            OpType::SetRule => {
                self.set_config(super::configs::ConfigKind::Rule, &op.path, value, auth)
            }
            OpType::SetFunction => {
                self.set_config(super::configs::ConfigKind::Function, &op.path, value, auth)
            }
            OpType::SetOwner => {
                self.set_config(super::configs::ConfigKind::Owner, &op.path, value, auth)
            }
        }
    }
}

/// The app a path belongs to, for gas attribution.
fn app_of(path: &str) -> Option<String> {
    let labels = parse_path(path);
    match labels.as_slice() {
        ["apps", app, ..] => Some((*app).to_owned()),
        _ => None,
    }
}

fn op_bandwidth(result: &Value) -> i64 {
    let own = result["bandwidth_gas_amount"].as_i64().unwrap_or(0);
    let funcs: i64 = result["func_results"]
        .as_object()
        .map(|m| {
            m.values()
                .map(|r| r["bandwidth_gas_amount"].as_i64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    own + funcs
}

fn gas_amount_total(operation: &Operation, result: &Value) -> Value {
    let mut service = 0i64;
    let mut apps: Map<String, Value> = Map::new();
    let mut add = |path: &str, amount: i64| match app_of(path) {
        Some(app) => {
            let cur = apps.get(&app).and_then(Value::as_i64).unwrap_or(0);
            apps.insert(app, json!(cur + amount));
        }
        None => service += amount,
    };
    match (
        operation,
        result.get("result_list").and_then(Value::as_object),
    ) {
        (Operation::Set(ops), Some(list)) => {
            for (i, op) in ops.iter().enumerate() {
                if let Some(r) = list.get(&i.to_string()) {
                    add(&op.path, op_bandwidth(r));
                }
            }
        }
        (Operation::Simple(op), _) => add(&op.path, op_bandwidth(result)),
        _ => {}
    }
    let mut bandwidth = Map::new();
    bandwidth.insert("service".into(), json!(service));
    if !apps.is_empty() {
        bandwidth.insert("app".into(), Value::Object(apps));
    }
    json!({"bandwidth": bandwidth, "state": {"service": 0}})
}

/// Tree bytes of the service and of each app a tx's ops name, before its ops ran.
struct UsageBefore {
    service: u64,
    apps: Vec<(String, u64)>,
}

impl UsageBefore {
    fn of(state: &State, operation: &Operation) -> UsageBefore {
        UsageBefore {
            service: budget::service_bytes(state),
            apps: budget::op_apps(operation)
                .into_iter()
                .map(|app| {
                    let bytes = budget::usage_bytes(state, &["apps", &app]);
                    (app, bytes)
                })
                .collect(),
        }
    }

    /// `gas_amount_total.state` after the ops (`updateStateGasAmount`): what the service and
    /// each named app grew by; apps that did not grow are left out.
    fn state_gas(&self, state: &State) -> Value {
        let service = budget::service_bytes(state).saturating_sub(self.service);
        let mut apps = Map::new();
        for (app, before) in &self.apps {
            let after = budget::usage_bytes(state, &["apps", app]);
            if after > *before {
                apps.insert(app.clone(), json!(after - before));
            }
        }
        let mut gas = Map::new();
        gas.insert("service".into(), json!(service));
        if !apps.is_empty() {
            gas.insert("app".into(), Value::Object(apps));
        }
        Value::Object(gas)
    }
}

fn number_or_zero(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn precheck(
    state: &State,
    params: &ExecParams,
    tx: &SignedTx,
    tx_json: &EventTx,
    env: &TxEnv,
) -> Option<Value> {
    let body = &tx.tx_body;
    let gas_ok = body.gas_price.as_ref().is_some_and(|g| {
        let x = g.as_f64().unwrap_or(-1.0);
        x.fract() == 0.0 && (x == 0.0 || x >= params.min_gas_price as f64)
    });
    if !gas_ok {
        return Some(tx_result(
            codes::TX_INVALID_GAS_PRICE,
            Some(format!(
                "[precheckTransaction] Invalid gas_price: {}",
                stable_stringify(&tx_json.to_json())
            )),
            0,
        ));
    }
    let addr = tx.address.to_checksum();
    let account_nonce = number_or_zero(&state.value(&["accounts", &addr, "nonce"]));
    let account_ts = number_or_zero(&state.value(&["accounts", &addr, "timestamp"]));
    let ts = body.timestamp.as_f64().unwrap_or(0.0);
    if body.nonce >= 0 && body.nonce as f64 != account_nonce {
        return Some(tx_result(
            codes::TX_INVALID_NONCE_FOR_ACCOUNT,
            Some(format!(
                "Invalid nonce: {} !== {}",
                body.nonce,
                ain_ledger::json::js_f64(account_nonce)
            )),
            0,
        ));
    }
    if body.nonce == -2 && ts <= account_ts {
        return Some(tx_result(
            codes::TX_INVALID_TIMESTAMP_FOR_ACCOUNT,
            Some(format!(
                "Invalid timestamp: {} <= {}",
                js_number(&body.timestamp),
                ain_ledger::json::js_f64(account_ts)
            )),
            0,
        ));
    }
    if let Some(billing) = body.billing.as_deref().filter(|_| env.block_number > 0) {
        let parts: Vec<&str> = billing.split('|').collect();
        let [app, id] = parts.as_slice() else {
            return Some(tx_result(
                codes::BILLING_INVALID_PARAM,
                Some("[precheckTxBillingParams] Invalid billing param".into()),
                0,
            ));
        };
        let user = state.value(&["manage_app", app, "billing", id, "users", &addr]);
        if user != Value::Bool(true) {
            return Some(tx_result(
                10802,
                Some(
                    "[precheckTxBillingParams] User doesn't have permission to the billing account"
                        .into(),
                ),
                0,
            ));
        }
    }
    None
}

/// Executes one transaction (`executeTransaction` without fee collection). `tx_json` is the
/// transaction events carry (with its `extra`). On failure the state is rolled back.
pub fn execute_tx(
    state: &mut State,
    rules: &mut RuleCache,
    params: &ExecParams,
    tx: &SignedTx,
    tx_json: &EventTx,
    env: TxEnv,
) -> Executed {
    if let Some(result) = precheck(state, params, tx, tx_json, &env) {
        return Executed {
            result,
            events: Vec::new(),
            precheck_failed: true,
        };
    }
    let mark = state.mark();
    let body = &tx.tx_body;
    let usage_before = UsageBefore::of(state, &body.operation);
    let auth = Auth::user(tx.address.to_checksum());
    let timestamp = body.timestamp.as_f64().unwrap_or(0.0);
    let mut exec = Exec {
        state,
        rules,
        env: EvalEnv {
            timestamp,
            block_number: env.block_number,
            block_time: env.block_time,
        },
        source: env.source,
        tx_json,
        tx_hash: tx.hash.to_string(),
        events: Vec::new(),
        trusted: false,
        call_stack: Vec::new(),
    };
    let mut result = Map::new();
    result.insert("gas_amount_total".into(), Value::Null);
    result.insert("gas_cost_total".into(), json!(0));
    match &body.operation {
        Operation::Set(list)
            if env.block_number > 0 && list.len() > params.set_op_list_size_limit =>
        {
            result.insert("result_list".into(), Value::Null);
            result.insert(
                "code".into(),
                json!(codes::TX_SET_EXCEEDS_OP_LIST_SIZE_LIMIT),
            );
            result.insert(
                "message".into(),
                json!(format!(
                    "The transaction exceeds the max op_list size limit: {} > {}",
                    list.len(),
                    params.set_op_list_size_limit
                )),
            );
        }
        Operation::Set(list) => {
            let mut out = Map::new();
            for (i, op) in list.iter().enumerate() {
                let r = exec.execute_op(op, &auth);
                let failed = codes::is_failed_tx(&r);
                out.insert(i.to_string(), r);
                if failed {
                    break;
                }
            }
            result.insert("result_list".into(), Value::Object(out));
        }
        Operation::Simple(op) => {
            if let Value::Object(r) = exec.execute_op(op, &auth) {
                result.extend(r);
            }
        }
    }
    let events = std::mem::take(&mut exec.events);
    let mut result = Value::Object(result);
    result["gas_amount_total"] = gas_amount_total(&body.operation, &result);
    // The budget check runs only when the ops succeeded, after their events and triggers
    // (ain-node-semantics.md §1.4): a tx can fire VALUE_CHANGED and then fail 10905.
    let mut over_budget = false;
    if !codes::is_failed_tx(&result) {
        let check = budget::check(state, &params.budgets, &body.operation);
        // The node records state gas after the tree height/bytes check and before the budgets
        // (`executeOperation`, db/index.js:1463-1480).
        if !matches!(check, Some((codes::TREE_OUT_OF_TREE_BYTES_LIMIT, _))) {
            result["gas_amount_total"]["state"] = usage_before.state_gas(state);
        }
        if let Some((code, message)) = check {
            result["code"] = json!(code);
            result["message"] = json!(message);
            over_budget = true;
        }
    }
    result["gas_amount_charged"] = json!(0);
    // A `SET` is judged by its `result_list` alone (`isFailedTx`), so one whose ops succeeded
    // but that failed a budget check keeps its writes and finalizes (§1.5, kept as on the node);
    // a single op is reverted. Either way the nonce/timestamp update is skipped.
    let failed = codes::is_failed_tx(&result);
    if failed {
        state.rollback(mark);
    } else if !over_budget {
        let addr = auth.addr.as_str();
        if body.nonce >= 0 {
            state.write(
                TreeKind::Values,
                &["accounts", addr, "nonce"],
                &json!(body.nonce + 1),
            );
        } else if body.nonce == -2 {
            state.write(
                TreeKind::Values,
                &["accounts", addr, "timestamp"],
                &Value::Number(body.timestamp.clone()),
            );
        }
    }
    state.commit();
    Executed {
        result,
        events,
        precheck_failed: false,
    }
}

/// Applies genesis operations without permission checks (there is no owner before genesis).
/// Returns each op's result, as a `SET` receipt lists them.
pub fn execute_trusted(
    state: &mut State,
    rules: &mut RuleCache,
    ops: &[SimpleOp],
    signer: &str,
) -> Vec<Value> {
    let tx_json = EventTx::None;
    let mut exec = Exec {
        state,
        rules,
        env: EvalEnv {
            timestamp: 0.0,
            block_number: 0,
            block_time: 0,
        },
        source: None,
        tx_json: &tx_json,
        tx_hash: String::new(),
        events: Vec::new(),
        trusted: true,
        call_stack: Vec::new(),
    };
    let auth = Auth::user(signer);
    let out = ops.iter().map(|op| exec.execute_op(op, &auth)).collect();
    state.commit();
    out
}

#[cfg(test)]
mod tests;
