//! Permission checks, matched exactly as the node matches them (`db/index.js`).
//!
//! - Value writes: the rule tree is walked along the value path, preferring a literal child over
//!   the `$variable` child and never backtracking (`matchRulePathRecursive`); the deepest walked
//!   node with a `.rule.write` decides. `data`/`newData` are wrapped in the labels walked past
//!   that node (`addPathToValue`); a `.rule.write` anywhere below the fully matched node refuses
//!   the write (12101). The rule is evaluated by [`super::rules`].
//! - Rule, function and owner writes: the owner tree is walked by literal labels only; the
//!   deepest `.owner` decides, looking up `fid:<auth.fid>` first, then `auth.addr`, then `*`
//!   (`getOwnerPermissions`). Owner configs below the path refuse an overwrite (12301/12401/12501).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::codes;
use super::rules::{Rule, RuleError};
use super::state::{Node, State, TreeKind};
use ain_ledger::json::stable_stringify;
use ain_ledger::tx::state::format_path;

mod value;

pub use value::{GcRule, check_value_write, gc_rule};

/// Who is writing: the signer, and the native function acting for it, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Auth {
    /// The checksummed signer address.
    pub addr: String,
    /// The native function writing on the signer's behalf.
    pub fid: Option<String>,
    /// The native function call stack (`fids`), outermost first.
    pub fids: Vec<String>,
}

impl Auth {
    /// A user's own write.
    pub fn user(addr: impl Into<String>) -> Auth {
        Auth {
            addr: addr.into(),
            fid: None,
            fids: Vec::new(),
        }
    }

    /// `auth` as the node prints and sends it: `{addr}` or `{addr, fid, fids}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("addr".into(), Value::String(self.addr.clone()));
        if let Some(fid) = &self.fid {
            m.insert("fid".into(), Value::String(fid.clone()));
            m.insert(
                "fids".into(),
                Value::Array(self.fids.iter().cloned().map(Value::String).collect()),
            );
        }
        Value::Object(m)
    }
}

/// What a rule evaluation may read besides the write itself.
#[derive(Clone, Copy, Debug)]
pub struct EvalEnv {
    /// The tx timestamp (`currentTime`).
    pub timestamp: f64,
    /// The block being built or executed.
    pub block_number: u64,
    /// That block's time (or the last block's while a tx enters the pool).
    pub block_time: u64,
}

/// Parsed rules by source text, so a rule is parsed once, not per write. Bounded: cleared when
/// it grows past [`RuleCache::CAPACITY`] entries.
#[derive(Default, Debug)]
pub struct RuleCache {
    map: HashMap<String, Arc<Rule>>,
}

impl RuleCache {
    /// Entries kept before the cache is cleared.
    pub const CAPACITY: usize = 4096;

    pub(super) fn get(&mut self, write: &Value) -> Result<Arc<Rule>, RuleError> {
        let key = match write {
            Value::String(s) => s.clone(),
            other => return Rule::parse(other).map(Arc::new),
        };
        if let Some(r) = self.map.get(&key) {
            return Ok(r.clone());
        }
        let rule = Arc::new(Rule::parse(write)?);
        if self.map.len() >= Self::CAPACITY {
            self.map.clear();
        }
        self.map.insert(key, rule.clone());
        Ok(rule)
    }
}

/// A failed check: the node's code and message.
#[derive(Clone, Debug, PartialEq)]
pub struct Denied {
    /// Result code (12101, 12103, 12302, ...).
    pub code: i64,
    /// The node's message.
    pub message: String,
}

pub(super) fn deny(code: i64, message: String) -> Denied {
    Denied { code, message }
}

pub(super) fn has_config(node: &Node, label: &str, prop: Option<&str>) -> bool {
    match node.child(label) {
        Some(c) => prop.is_none_or(|p| c.child(p).is_some()),
        None => false,
    }
}

pub(super) fn subtree_configs(node: &Node, label: &str, prop: Option<&str>) -> Vec<String> {
    fn rec(
        node: &Node,
        label: &str,
        prop: Option<&str>,
        path: &mut Vec<String>,
        out: &mut Vec<String>,
    ) {
        if !path.is_empty() && has_config(node, label, prop) {
            out.push(format_path(path.iter().map(String::as_str)));
        }
        for (k, child) in node.children() {
            if k == label {
                continue;
            }
            path.push(k.clone());
            rec(child, label, prop, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    rec(node, label, prop, &mut Vec::new(), &mut out);
    out
}

/// Which owner permission a config write needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerCheck {
    /// `SET_RULE`: `write_rule`.
    Rule,
    /// `SET_FUNCTION`: `write_function`.
    Function,
    /// `SET_OWNER`: `write_owner` at the owner's own path, `branch_owner` below it.
    Owner,
}

/// `getOwnerPermissions`: the permission object for `auth` in an `.owner` config.
pub fn owner_permissions<'a>(config: &'a Value, auth: &Auth) -> Option<&'a Value> {
    let owners = config.get("owners")?.as_object()?;
    let own = match &auth.fid {
        Some(fid) => owners.get(&format!("fid:{fid}")),
        None => owners.get(&auth.addr),
    };
    own.filter(|p| !p.is_null())
        .or_else(|| owners.get("*").filter(|p| !p.is_null()))
}

/// `getPermissionFor{Rule,Function,Owner}`.
pub fn check_owner(
    state: &State,
    labels: &[&str],
    auth: &Auth,
    check: OwnerCheck,
    is_merge: bool,
) -> Result<(), Denied> {
    let mut closest: Option<(usize, &Arc<Node>)> = None;
    let mut full = None;
    if let Some(mut node) = state.tree(TreeKind::Owners).root() {
        let mut depth = 0;
        loop {
            if has_config(node, ".owner", None) {
                closest = Some((depth, node));
            }
            if depth == labels.len() {
                full = Some(node);
                break;
            }
            match node.child(labels[depth]) {
                Some(c) => node = c,
                None => break,
            }
            depth += 1;
        }
    }
    let path = format_path(labels.iter().copied());
    let (what, subtree_code, false_code) = match check {
        OwnerCheck::Rule => (
            "rule",
            codes::EVAL_OWNER_NON_EMPTY_SUBTREE_OWNERS_FOR_RULE,
            codes::EVAL_OWNER_FALSE_PERMISSION_CHECK_FOR_RULE,
        ),
        OwnerCheck::Function => (
            "function",
            codes::EVAL_OWNER_NON_EMPTY_SUBTREE_OWNERS_FOR_FUNCTION,
            codes::EVAL_OWNER_FALSE_PERMISSION_CHECK_FOR_FUNCTION,
        ),
        OwnerCheck::Owner => (
            "owner",
            codes::EVAL_OWNER_NON_EMPTY_SUBTREE_OWNERS_FOR_OWNER,
            codes::EVAL_OWNER_FALSE_PERMISSION_CHECK_FOR_OWNER,
        ),
    };
    if !is_merge && let Some(full) = full {
        let subtree = subtree_configs(full, ".owner", None);
        if !subtree.is_empty() {
            return Err(deny(
                subtree_code,
                format!(
                    "Non-empty ({}) subtree owners for {what} path '{path}': {}",
                    subtree.len(),
                    serde_json::to_string(&subtree).unwrap_or_default()
                ),
            ));
        }
    }
    let closest_depth = closest.map_or(0, |(d, _)| d);
    let permission = match check {
        OwnerCheck::Rule => "write_rule",
        OwnerCheck::Function => "write_function",
        OwnerCheck::Owner if closest_depth == labels.len() => "write_owner",
        OwnerCheck::Owner => "branch_owner",
    };
    let config = closest
        .and_then(|(_, n)| n.child(".owner"))
        .map(|c| c.to_value(false))
        .unwrap_or(Value::Null);
    let perms = owner_permissions(&config, auth);
    if perms.and_then(|p| p.get(permission)) == Some(&Value::Bool(true)) {
        return Ok(());
    }
    let perm_text = perms.map_or_else(|| "null".to_owned(), stable_stringify);
    Err(deny(
        false_code,
        format!(
            "{permission} permission evaluated false: [{perm_text}] at '{}' for {what} path \
             '{path}' with permission '{permission}', auth '{}'",
            format_path(labels[..closest_depth].iter().copied()),
            stable_stringify(&auth.to_json())
        ),
    ))
}

/// A function config matched at a value path (exact depth only).
#[derive(Clone, Debug)]
pub struct FunctionMatch {
    /// The function path (with `$vars`).
    pub function_path: Vec<String>,
    /// Path variables (name without `$` → value), in walk order.
    pub params: Vec<(String, String)>,
    /// The `.function` map.
    pub config: Value,
}

/// `matchFunctionForParsedPath`, exact match only (subtree functions are not triggered).
pub fn match_function(state: &State, labels: &[&str]) -> Option<FunctionMatch> {
    let mut node = state.tree(TreeKind::Functions).root()?;
    let mut path = Vec::new();
    let mut params = Vec::new();
    for label in labels {
        if let Some(c) = node.child(label) {
            path.push((*label).to_owned());
            node = c;
        } else if let Some((var, c)) = node.variable_child() {
            path.push(var.to_owned());
            params.push((var.trim_start_matches('$').to_owned(), (*label).to_owned()));
            node = c;
        } else {
            return None;
        }
    }
    let config = node.child(".function")?.to_value(false);
    Some(FunctionMatch {
        function_path: path,
        params,
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "0x00ADEc28B6a845a085e03591bE7550dd68673C1C";
    const B: &str = "0x4BBE68BA10adf7e96ecAC30BBCf0ADcE7b077998";

    fn env() -> EvalEnv {
        EvalEnv {
            timestamp: 1795461523346.0,
            block_number: 5,
            block_time: 1,
        }
    }

    fn state() -> State {
        let mut s = State::default();
        s.write(TreeKind::Rules, &[], &json!({
            ".rule": {"write": false},
            "apps": {"demo": {
                ".rule": {"write": format!("auth.addr === '{A}'")},
                "sre": {"calls": {"$fn": {"$call_id": {"response": {".rule": {"write": "data === null"}}}}}},
                "public": {"$user": {".rule": {"write": "auth.addr === $user"}}}
            }}
        }));
        s.write(TreeKind::Owners, &[], &json!({
            ".owner": {"owners": {A: {"branch_owner": true, "write_function": true, "write_owner": true, "write_rule": true}}},
            "apps": {".owner": {"owners": {"fid:_createApp": {"branch_owner": true, "write_function": false, "write_owner": false, "write_rule": true}}},
                     "sub": {".owner": {"owners": {"*": {"branch_owner": false, "write_function": false, "write_owner": false, "write_rule": false}}}}}
        }));
        s
    }

    #[test]
    fn closest_rule_with_vars_and_the_nodes_message() {
        let mut s = state();
        let mut cache = RuleCache::default();
        let path = ["apps", "demo", "sre", "calls", "echo", "c1", "response"];
        assert!(
            check_value_write(
                &s,
                &mut cache,
                &path,
                &json!({"output": "x"}),
                &Auth::user(A),
                env()
            )
            .is_ok()
        );
        s.write(
            TreeKind::Values,
            &path,
            &json!({"output": "x", "status": "ok"}),
        );
        let d = check_value_write(
            &s,
            &mut cache,
            &path,
            &json!({"output": "again"}),
            &Auth::user(A),
            env(),
        )
        .unwrap_err();
        assert_eq!(d.code, 12103);
        assert_eq!(
            d.message,
            format!(
                "Write rule evaluated false: [data === null] at '/apps/demo/sre/calls/$fn/$call_id/response' for value path '/apps/demo/sre/calls/echo/c1/response' with path vars '{{\"$call_id\":\"c1\",\"$fn\":\"echo\"}}', data '{{\"output\":\"x\",\"status\":\"ok\"}}', newData '{{\"output\":\"again\"}}', auth '{{\"addr\":\"{A}\"}}', timestamp '1795461523346'"
            )
        );
        // The app rule applies to other paths; B is refused there, but may write its own entry.
        assert!(
            check_value_write(
                &s,
                &mut cache,
                &["apps", "demo", "x"],
                &json!(1),
                &Auth::user(B),
                env()
            )
            .is_err()
        );
        assert!(
            check_value_write(
                &s,
                &mut cache,
                &["apps", "demo", "public", B, "k"],
                &json!(1),
                &Auth::user(B),
                env()
            )
            .is_ok()
        );
        // Writing the parent of rules is refused (12101).
        let d = check_value_write(
            &s,
            &mut cache,
            &["apps", "demo", "sre"],
            &json!(1),
            &Auth::user(A),
            env(),
        )
        .unwrap_err();
        assert_eq!(d.code, 12101);
        // The root rule is false.
        assert_eq!(
            check_value_write(&s, &mut cache, &["x"], &json!(1), &Auth::user(A), env())
                .unwrap_err()
                .code,
            12103
        );
    }

    #[test]
    fn state_rules_limit_the_written_value() {
        let mut s = state();
        s.write(
            TreeKind::Rules,
            &["apps", "demo", "lim", ".rule"],
            &json!({"write": true, "state": {"max_children": 2, "max_height": 2}}),
        );
        let mut cache = RuleCache::default();
        let w = |s: &State, cache: &mut RuleCache, v: Value| {
            check_value_write(
                s,
                cache,
                &["apps", "demo", "lim"],
                &v,
                &Auth::user(A),
                env(),
            )
        };
        assert!(w(&s, &mut cache, json!({"a": 1, "b": {"c": 1}})).is_ok());
        let d = w(&s, &mut cache, json!({"a": 1, "b": 2, "c": 3})).unwrap_err();
        assert_eq!(d.code, 12104);
        assert!(d.message.starts_with("State rule evaluated false: [{\"max_children\":2,\"max_height\":2}] at '/apps/demo/lim'"), "{}", d.message);
        assert_eq!(
            w(&s, &mut cache, json!({"a": {"b": {"c": 1}}}))
                .unwrap_err()
                .code,
            12104
        );
        assert!(w(&s, &mut cache, json!(5)).is_ok());
    }

    #[test]
    fn owners_fid_then_addr_then_anyone() {
        let s = state();
        assert!(
            check_owner(
                &s,
                &["apps", "demo"],
                &Auth::user(A),
                OwnerCheck::Rule,
                false
            )
            .is_err()
        );
        let app = Auth {
            addr: B.into(),
            fid: Some("_createApp".into()),
            fids: vec!["_createApp".into()],
        };
        assert!(check_owner(&s, &["apps", "demo"], &app, OwnerCheck::Rule, false).is_ok());
        assert!(check_owner(&s, &["apps", "demo"], &app, OwnerCheck::Owner, false).is_ok());
        let d = check_owner(&s, &["apps", "demo"], &app, OwnerCheck::Function, false).unwrap_err();
        assert_eq!(d.code, 12402);
        assert!(
            d.message
                .starts_with("write_function permission evaluated false: [{\"branch_owner\":true")
        );
        // Root owner, but a subtree owner below blocks an overwrite at /apps.
        let d = check_owner(&s, &["x"], &Auth::user(B), OwnerCheck::Rule, false).unwrap_err();
        assert_eq!(d.code, 12302);
        assert!(check_owner(&s, &["x"], &Auth::user(A), OwnerCheck::Rule, false).is_ok());
        let d = check_owner(&s, &[], &Auth::user(A), OwnerCheck::Owner, false).unwrap_err();
        assert_eq!(d.code, 12501);
        let d = check_owner(
            &s,
            &["apps", "sub", "k"],
            &Auth::user(A),
            OwnerCheck::Owner,
            false,
        )
        .unwrap_err();
        assert!(
            d.message
                .starts_with("branch_owner permission evaluated false")
        );
    }
}
