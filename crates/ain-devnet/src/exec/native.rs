//! Function triggers after a value write (`db/functions.js` `triggerFunctions`) and the native
//! functions the devnet implements: `_createApp` (app creation), `_saveLastTx`, `_eraseValue`,
//! `_fail` and `_setOwnerConfig`. REST functions are recorded as skipped (`{code: 20000}`), as on a
//! node without `ENABLE_REST_FUNCTION_CALL`; no HTTP call is made.
//!
//! Deviations: subtree functions (a function below the written path, fired when a parent object
//! is written) are not triggered; `_stake` runs (with its transfer done inline); other native
//! functions (`_transfer`, `_unstake`, ...) are not implemented and are skipped like unknown
//! ones. The devnet's genesis configures `_stake` only when accounts are funded at genesis.

use serde_json::{Map, Value, json};

use super::Exec;
use crate::codes;
use crate::configs::ConfigKind;
use crate::perm::{self, Auth};
use crate::state::TreeKind;
use ain_ledger::crypto::is_checksum_address;
use ain_ledger::tx::state::{format_path, is_valid_app_name};

/// The node's `rest_function_call_gas_amount`.
const REST_FUNCTION_CALL_GAS: i64 = 100;

/// Deepest native function nesting (the node only prevents cycles; this also bounds depth).
const MAX_CALL_DEPTH: usize = 8;

struct Call {
    fid: String,
    labels: Vec<String>,
    params: Vec<(String, String)>,
    auth: Auth,
    op_results: Vec<Value>,
}

impl Call {
    fn record(&mut self, path: &str, result: &Value) {
        self.op_results
            .push(json!({"path": path, "result": result}));
    }

    fn finish(self, code: i64) -> Value {
        let mut m = Map::new();
        if !self.op_results.is_empty() {
            let obj: Map<String, Value> = self
                .op_results
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect();
            m.insert("op_results".into(), Value::Object(obj));
        }
        m.insert("code".into(), json!(code));
        m.insert("bandwidth_gas_amount".into(), json!(0));
        Value::Object(m)
    }
}

fn permissions(
    branch_owner: bool,
    write_function: bool,
    write_owner: bool,
    write_rule: bool,
) -> Value {
    json!({
        "branch_owner": branch_owner,
        "write_function": write_function,
        "write_owner": write_owner,
        "write_rule": write_rule,
    })
}

impl Exec<'_> {
    /// Runs the functions configured at exactly `labels`; `None` when there are none.
    pub(crate) fn trigger_functions(
        &mut self,
        labels: &[&str],
        value: &Value,
        _prev: &Value,
        auth: &Auth,
    ) -> Option<Value> {
        let matched = perm::match_function(self.state, labels)?;
        let Value::Object(config) = matched.config else {
            return None;
        };
        let mut results = Map::new();
        for (fid, info) in config {
            match info.get("function_type").and_then(Value::as_str) {
                Some("NATIVE") => {
                    if self.call_stack.contains(&fid) || self.call_stack.len() >= MAX_CALL_DEPTH {
                        continue;
                    }
                    self.call_stack.push(fid.clone());
                    let call = Call {
                        fid: fid.clone(),
                        labels: labels.iter().map(|l| (*l).to_owned()).collect(),
                        params: matched.params.clone(),
                        auth: Auth {
                            addr: auth.addr.clone(),
                            fid: Some(fid.clone()),
                            fids: self.call_stack.clone(),
                        },
                        op_results: Vec::new(),
                    };
                    let result = self.run_native(call, value);
                    self.call_stack.pop();
                    let Some(result) = result else { continue };
                    let failed = result
                        .get("code")
                        .and_then(Value::as_i64)
                        .is_none_or(codes::is_failed_func_code);
                    results.insert(fid, result);
                    if failed {
                        break;
                    }
                }
                Some("REST") => {
                    results.insert(
                        fid,
                        json!({"code": codes::FUNC_SKIP, "bandwidth_gas_amount": REST_FUNCTION_CALL_GAS}),
                    );
                }
                _ => {}
            }
        }
        (!results.is_empty()).then_some(Value::Object(results))
    }

    fn run_native(&mut self, call: Call, value: &Value) -> Option<Value> {
        if value.is_null() {
            return match call.fid.as_str() {
                "_createApp" | "_saveLastTx" | "_eraseValue" | "_fail" | "_setOwnerConfig"
                | "_stake" => Some(call.finish(codes::SUCCESS)),
                _ => None,
            };
        }
        match call.fid.as_str() {
            "_createApp" => Some(self.create_app(call, value)),
            "_saveLastTx" => {
                let mut path = call.labels.clone();
                let Some(last) = path.pop() else {
                    return Some(call.finish(codes::SUCCESS));
                };
                path.push(".last_tx".into());
                path.push(last);
                let p = format_path(path.iter().map(String::as_str));
                let r = self.set_value(&p, &json!({"tx_hash": self.tx_hash}), &call.auth.clone());
                Some(self.finish_with(call, &p, r))
            }
            "_eraseValue" => {
                let mut call = call;
                let p = format_path(call.labels.iter().map(String::as_str));
                let r = self.set_value(&p, &json!("erased"), &call.auth.clone());
                call.record(&p, &r);
                let code = if codes::is_failed_tx(&r) {
                    codes::FUNC_FAILURE
                } else {
                    codes::SUCCESS
                };
                Some(call.finish(code))
            }
            "_fail" => Some(call.finish(codes::FUNC_FAILURE)),
            "_stake" => Some(self.stake(call, value)),
            "_setOwnerConfig" => {
                let p = format_path(call.labels.iter().map(String::as_str));
                let mut owners = Map::new();
                owners.insert(call.auth.addr.clone(), permissions(false, true, true, true));
                owners.insert("*".into(), permissions(false, true, true, true));
                let owner = json!({".owner": {"owners": owners}});
                let r = self.set_config(ConfigKind::Owner, &p, &owner, &call.auth.clone());
                Some(self.finish_with(call, &p, r))
            }
            _ => None,
        }
    }

    fn finish_with(&mut self, mut call: Call, path: &str, result: Value) -> Value {
        call.record(path, &result);
        let code = if codes::is_failed_tx(&result) {
            codes::FUNC_FAILURE
        } else {
            codes::SUCCESS
        };
        call.finish(code)
    }

    /// `_createApp`: the admins get a write rule and every owner permission at `/apps/<app>`, and
    /// the config is copied to `/manage_app/<app>/config`.
    fn create_app(&mut self, mut call: Call, value: &Value) -> Value {
        let app = call
            .params
            .iter()
            .find(|(k, _)| k == "app_name")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        if app == "balance_total_sum" || !is_valid_app_name(&app) {
            return call.finish(codes::FUNC_INVALID_SERVICE_NAME);
        }
        let Some(config) = sanitize_app_config(value) else {
            return call.finish(codes::FUNC_FAILURE);
        };
        let admins: Vec<String> = config["admin"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let is_public = config.get("is_public") == Some(&Value::Bool(true));
        let mut owners = Map::new();
        for a in &admins {
            owners.insert(a.clone(), permissions(true, true, true, true));
        }
        let rule = if is_public {
            owners.insert("*".into(), permissions(true, true, false, true));
            Value::Bool(true)
        } else {
            Value::String(
                admins
                    .iter()
                    .map(|a| format!("auth.addr === '{a}'"))
                    .collect::<Vec<_>>()
                    .join(" || "),
            )
        };
        let auth = call.auth.clone();
        let app_path = format!("/apps/{app}");
        let r = self.set_config(
            ConfigKind::Rule,
            &app_path,
            &json!({".rule": {"write": rule}}),
            &auth,
        );
        call.record(&app_path, &r);
        let owner = json!({".owner": {"owners": owners}});
        let r = self.set_config(ConfigKind::Owner, &app_path, &owner, &auth);
        call.record(&app_path, &r);
        if let Value::Object(entries) = config {
            for (k, v) in entries {
                let p = format!("/manage_app/{app}/config/{k}");
                let r = self.set_value(&p, &v, &auth);
                call.record(&p, &r);
                if codes::is_failed_tx(&r) {
                    return call.finish(codes::FUNC_FAILURE);
                }
            }
        }
        call.finish(codes::SUCCESS)
    }
}

impl Exec<'_> {
    /// `_stake` (`db/functions.js:988-1034`, ain-node-semantics.md §1.3): moves `amount` from
    /// the staker to the service account `staking|<app>|<addr>|<key>` (recorded under
    /// `/transfer/<addr>/<svc>/<tx timestamp>/value`, so two stakes with one timestamp
    /// collide), sets `expire_at` (lockup 0 on the devnet), and adds the amount to
    /// `/staking/<app>/balance_total` and `/staking/balance_total_sum`. No `result` child, as in
    /// 1.6.0.
    ///
    /// Deviation: the node does the transfer through `_transfer` and its rules; here the
    /// balances and totals are written directly (journaled, so a failed tx undoes them), which
    /// fires no events for them.
    fn stake(&mut self, call: Call, value: &Value) -> Value {
        let param = |k: &str| {
            call.params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (app, addr, key) = (param("app_name"), param("user_addr"), param("staking_key"));
        let Some(amount) = value.as_f64().filter(|a| *a >= 0.0) else {
            return call.finish(codes::FUNC_FAILURE);
        };
        let svc = format!("staking|{app}|{addr}|{key}");
        let ts = ain_ledger::json::js_f64(self.env.timestamp);
        let transfer = [
            "transfer",
            addr.as_str(),
            svc.as_str(),
            ts.as_str(),
            "value",
        ];
        let balance = self
            .state
            .value(&["accounts", &addr, "balance"])
            .as_f64()
            .unwrap_or(0.0);
        if !self.state.value(&transfer).is_null() || balance < amount {
            return call.finish(codes::FUNC_FAILURE);
        }
        let add = |state: &mut crate::state::State, labels: &[&str], d: f64| {
            let cur = state.value(labels).as_f64().unwrap_or(0.0);
            state.write(TreeKind::Values, labels, &super::ops::js_num_value(cur + d));
        };
        self.state.write(
            TreeKind::Values,
            &transfer,
            &super::ops::js_num_value(amount),
        );
        add(self.state, &["accounts", &addr, "balance"], -amount);
        let svc_key = format!("{addr}|{key}");
        add(
            self.state,
            &["service_accounts", "staking", &app, &svc_key, "balance"],
            amount,
        );
        let lockup = self
            .state
            .value(&["staking", &app, "lockup_duration"])
            .as_f64()
            .unwrap_or(0.0);
        let expire = super::ops::js_num_value(self.env.block_time as f64 + lockup);
        self.state.write(
            TreeKind::Values,
            &["staking", &app, &addr, &key, "expire_at"],
            &expire,
        );
        add(self.state, &["staking", &app, "balance_total"], amount);
        add(self.state, &["staking", "balance_total_sum"], amount);
        call.finish(codes::SUCCESS)
    }
}

/// `sanitizeCreateAppConfig`: `admin` (checksummed address → bool) is required, `is_public` may
/// only be `true`, `billing`/`service` are copied, and nothing else may be present.
fn sanitize_app_config(raw: &Value) -> Option<Value> {
    let obj = raw.as_object()?;
    let admin = obj.get("admin")?.as_object()?;
    if !admin
        .iter()
        .all(|(a, v)| is_checksum_address(a) && v.is_boolean())
    {
        return None;
    }
    let mut out = Map::new();
    out.insert("admin".into(), Value::Object(admin.clone()));
    match obj.get("is_public") {
        None => {}
        Some(Value::Bool(true)) => {
            out.insert("is_public".into(), Value::Bool(true));
        }
        Some(Value::Bool(false)) => {}
        Some(_) => return None,
    }
    for k in ["billing", "service"] {
        if let Some(v) = obj.get(k).filter(|v| is_truthy(v)) {
            out.insert(k.into(), v.clone());
        }
    }
    (out == *obj).then_some(Value::Object(out))
}

fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}
