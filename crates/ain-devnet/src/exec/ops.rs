//! The write operations (`setValue`, `incValue`, `decValue`, `setRule`, `setFunction`,
//! `setOwner` in `db/index.js`): validation, permission, the write, function triggers, events.

use serde_json::{Map, Number, Value, json};

use super::Exec;
use crate::codes;
use crate::configs::{self, ConfigKind};
use crate::perm::{self, Auth, OwnerCheck};
use crate::state::TreeKind;
use ain_ledger::tx::state::{check_state_value, format_path, is_valid_state_label, parse_path};

/// The node's `unit_write_gas_amount`: the bandwidth gas every op reports.
pub(crate) const UNIT_WRITE_GAS: i64 = 1;

/// `CommonUtil.returnTxResult`.
pub(crate) fn tx_result(code: i64, message: Option<String>, gas: i64) -> Value {
    let mut m = Map::new();
    if let Some(msg) = message {
        m.insert("message".into(), Value::String(msg));
    }
    m.insert("code".into(), json!(code));
    m.insert("bandwidth_gas_amount".into(), json!(gas));
    Value::Object(m)
}

fn fail(code: i64, message: String) -> Value {
    tx_result(code, Some(message), UNIT_WRITE_GAS)
}

/// The first invalid prefix of a path, formatted (`isValidPathForStates`).
fn invalid_prefix(labels: &[&str]) -> Option<String> {
    labels
        .iter()
        .position(|l| !is_valid_state_label(l))
        .map(|i| format_path(labels[..=i].iter().copied()))
}

/// The node's `state_tree_height_limit`.
pub(crate) const STATE_TREE_HEIGHT_LIMIT: usize = 30;

/// Nesting depth of a JSON object (0 for a scalar).
fn value_height(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(value_height).max().unwrap_or(0),
        _ => 0,
    }
}

/// `checkTreeHeightAndBytes` for the written subtree: the state root, the tree's label, the path
/// and the value together may not be deeper than 30 (11101). Checked per write, which also
/// bounds every recursion over the state.
fn check_height(labels: &[&str], value: &Value) -> Result<(), Value> {
    let height = 1 + labels.len() + value_height(value);
    if height > STATE_TREE_HEIGHT_LIMIT {
        return Err(fail(
            codes::TREE_OUT_OF_TREE_HEIGHT_LIMIT,
            format!("Out of tree height limit ({height} > {STATE_TREE_HEIGHT_LIMIT})"),
        ));
    }
    Ok(())
}

/// JS `a + b` on two numbers, stored as the node would print it.
pub(crate) fn js_add(a: &Number, b: &Number, negate_b: bool) -> Value {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        let r = if negate_b {
            x.checked_sub(y)
        } else {
            x.checked_add(y)
        };
        if let Some(r) = r.filter(|r| r.unsigned_abs() <= (1u64 << 53)) {
            return json!(r);
        }
    }
    let x = a.as_f64().unwrap_or(0.0);
    let y = b.as_f64().unwrap_or(0.0);
    js_num_value(if negate_b { x - y } else { x + y })
}

/// A double as a JSON number the way JS prints it: integral values stay integers.
pub(crate) fn js_num_value(x: f64) -> Value {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15 {
        return json!(x as i64);
    }
    Number::from_f64(x).map_or(Value::Null, Value::Number)
}

impl Exec<'_> {
    /// `setValue`.
    pub(crate) fn set_value(&mut self, path: &str, value: &Value, auth: &Auth) -> Value {
        let labels = parse_path(path);
        if let Some(bad) = invalid_prefix(&labels) {
            return fail(
                codes::SET_VALUE_INVALID_VALUE_PATH,
                format!("Invalid value path: {bad}"),
            );
        }
        if let Err(at) = check_state_value(value) {
            return fail(
                codes::SET_VALUE_INVALID_VALUE_STATES,
                format!("Invalid object for states: {at}"),
            );
        }
        if !self.trusted
            && let Err(d) =
                perm::check_value_write(self.state, self.rules, &labels, value, auth, self.env)
        {
            return fail(d.code, d.message);
        }
        if let Err(r) = check_height(&labels, value) {
            return r;
        }
        let before = self.state.value(&labels);
        self.state.write(TreeKind::Values, &labels, value);
        let after = self.state.value(&labels);
        let func_results = self.trigger_functions(&labels, &after, &before, auth);
        if let Some(fr) = &func_results
            && codes::is_failed_func_results(fr)
        {
            let mut r = fail(
                codes::SET_VALUE_TRIGGERED_FUNCTION_CALL_FAILED,
                "Triggered function call failed".into(),
            );
            r["func_results"] = fr.clone();
            return r;
        }
        if !value.is_null() {
            self.collect_garbage(&labels);
        }
        self.value_changed(&labels, auth, before, after);
        let mut r = Map::new();
        if let Some(fr) = func_results {
            r.insert("func_results".into(), fr);
        }
        r.insert("code".into(), json!(codes::SUCCESS));
        r.insert("bandwidth_gas_amount".into(), json!(UNIT_WRITE_GAS));
        Value::Object(r)
    }

    /// `incValue` / `decValue`.
    pub(crate) fn inc_value(&mut self, path: &str, delta: &Value, auth: &Auth, dec: bool) -> Value {
        let labels = parse_path(path);
        let before = self.state.value(&labels);
        let code = if dec {
            codes::DEC_VALUE_NOT_A_NUMBER_TYPE
        } else {
            codes::INC_VALUE_NOT_A_NUMBER_TYPE
        };
        let (Value::Number(d), Value::Number(_) | Value::Null) = (delta, &before) else {
            return fail(
                code,
                format!(
                    "Not a number type: {} or {}",
                    js_text(&before),
                    js_text(delta)
                ),
            );
        };
        let base = before
            .as_number()
            .cloned()
            .unwrap_or_else(|| Number::from(0));
        let after = js_add(&base, d, dec);
        self.set_value(path, &after, auth)
    }

    /// `setRule` / `setFunction` / `setOwner`.
    pub(crate) fn set_config(
        &mut self,
        kind: ConfigKind,
        path: &str,
        value: &Value,
        auth: &Auth,
    ) -> Value {
        let (states, bad_path, bad_tree, tree, what, check) = match kind {
            ConfigKind::Rule => (
                codes::SET_RULE_INVALID_RULE_STATES,
                codes::SET_RULE_INVALID_RULE_PATH,
                codes::SET_RULE_INVALID_RULE_TREE,
                TreeKind::Rules,
                "rule",
                OwnerCheck::Rule,
            ),
            ConfigKind::Function => (
                codes::SET_FUNCTION_INVALID_FUNCTION_STATES,
                codes::SET_FUNCTION_INVALID_FUNCTION_PATH,
                codes::SET_FUNCTION_INVALID_FUNCTION_TREE,
                TreeKind::Functions,
                "function",
                OwnerCheck::Function,
            ),
            ConfigKind::Owner => (
                codes::SET_OWNER_INVALID_OWNER_STATES,
                codes::SET_OWNER_INVALID_OWNER_PATH,
                codes::SET_OWNER_INVALID_OWNER_TREE,
                TreeKind::Owners,
                "owner",
                OwnerCheck::Owner,
            ),
        };
        if let Err(at) = check_state_value(value) {
            return fail(states, format!("Invalid object for states: {at}"));
        }
        let labels = parse_path(path);
        if let Some(bad) = invalid_prefix(&labels) {
            return fail(bad_path, format!("Invalid {what} path: {bad}"));
        }
        let min_gc = configs::min_gc_num_siblings_deleted(self.env.block_number);
        if let Err(inv) = configs::validate_tree_at(kind, &labels, value, min_gc) {
            let mut msg = format!("Invalid {what} tree: {}", inv.path);
            if let Some(why) = inv.why {
                msg.push_str(&format!(" ({why})"));
            }
            return fail(bad_tree, msg);
        }
        if kind == ConfigKind::Function
            && !self.is_consensus_admin(&auth.addr)
            && let Some(fid) = owner_only_fid(value)
        {
            return fail(
                codes::SET_FUNCTION_OWNER_ONLY_FUNCTION,
                format!("Trying to write owner-only function: {fid}"),
            );
        }
        let current = self.state.read(tree, &labels);
        let applied = configs::apply_change(kind, &current, value);
        if !self.trusted
            && let Err(d) = perm::check_owner(self.state, &labels, auth, check, applied.is_merge)
        {
            return fail(d.code, d.message);
        }
        if let Err(r) = check_height(&labels, &applied.tree) {
            return r;
        }
        self.state.write(tree, &labels, &applied.tree);
        tx_result(codes::SUCCESS, None, UNIT_WRITE_GAS)
    }

    /// `applyStateGarbageCollectionRule` (`db/index.js:2660-2692`, ain-node-semantics.md
    /// §2.2), run by every non-null value write after the write and its function triggers and
    /// before its VALUE_CHANGED. The deepest rule on the written path holding `.rule.state`
    /// governs; if it carries both gc keys and the parent of its level has more than
    /// `gc_max_siblings` children, the `gc_num_siblings_deleted` oldest (by insertion) are
    /// deleted: silently (no rules, owners, events or functions), pruning emptied parents, and
    /// journaled, so a failed tx restores them.
    fn collect_garbage(&mut self, labels: &[&str]) {
        let Some(gc) = perm::gc_rule(self.state, labels) else {
            return;
        };
        let parent = &labels[..gc.parent_len];
        let victims: Vec<String> = match self.state.tree(TreeKind::Values).get(parent) {
            Some(node) if node.num_children() as f64 > gc.max_siblings => node
                .labels_by_age()
                .into_iter()
                .take(gc.num_deleted.ceil() as usize)
                .collect(),
            _ => return,
        };
        for victim in &victims {
            let mut path = parent.to_vec();
            path.push(victim);
            self.state.write(TreeKind::Values, &path, &Value::Null);
        }
    }

    fn is_consensus_admin(&self, addr: &str) -> bool {
        self.state
            .value(&["manage_app", "consensus", "config", "admin", addr])
            == Value::Bool(true)
    }
}

/// `hasOwnerOnlyFunction`: the first owner-only native function id in a function tree.
fn owner_only_fid(tree: &Value) -> Option<String> {
    let obj = tree.as_object()?;
    for (k, child) in obj {
        if k == ".function" {
            if let Some(fids) = child.as_object()
                && let Some(fid) = fids.keys().find(|f| configs::is_owner_only_native(f))
            {
                return Some(fid.clone());
            }
        } else if let Some(fid) = owner_only_fid(child) {
            return Some(fid);
        }
    }
    None
}

/// `String(v)` for the node's "Not a number type" message.
fn js_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => s.clone(),
        Value::Object(_) => "[object Object]".into(),
        Value::Array(_) => String::new(),
        other => ain_ledger::json::stable_stringify(other),
    }
}
