//! Rule, function and owner config trees: the node's validity checks (`db/state-util.js`
//! `isValid{Rule,Function,Owner}Tree`) and its merge-or-overwrite rules
//! (`apply{Rule,Function,Owner}Change`).
//!
//! Write rules are parsed with [`Rule::parse_for_path`] here, at SET_RULE time, so rule text
//! outside the devnet's subset is refused with the parser's explanation appended to the node's
//! `Invalid rule tree: <path>` message, instead of failing later on every write.
//!
//! Deviation: `function_url` is checked for an `http`/`https`/`ftp` scheme, a host and no
//! whitespace; the node's full URL regex (which also refuses literal private IPs) is not ported.

use serde_json::{Map, Value};

use super::rules::Rule;
use ain_ledger::crypto::is_checksum_address;
use ain_ledger::tx::state::{format_path, is_variable_label};

/// The node's `min_gc_num_siblings_deleted` in genesis (base `blockchain_params.json:93`).
pub const MIN_GC_NUM_SIBLINGS_DELETED: f64 = 100.0;

/// `min_gc_num_siblings_deleted` as of block `number` (ain-node-semantics.md §2.1): 100 in
/// genesis; the node's bandages lower it to 20 and then 10 at the end of block 1 (both timer
/// flags fire at block 2 in `base/timer_flags.json:47,51`), so from block 2 on it is 10.
pub fn min_gc_num_siblings_deleted(block_number: u64) -> f64 {
    if block_number >= 2 {
        10.0
    } else {
        MIN_GC_NUM_SIBLINGS_DELETED
    }
}

/// Native function ids the node knows (`NativeFunctionIds`); owner configs may name them as
/// `fid:<id>`. Only `_createApp` is executed by the devnet.
pub const NATIVE_FUNCTION_IDS: &[&str] = &[
    "_cancelCheckin",
    "_claim",
    "_claimReward",
    "_closeCheckin",
    "_closeCheckout",
    "_collectFee",
    "_createApp",
    "_distributeFee",
    "_eraseValue",
    "_fail",
    "_handleOffenses",
    "_hold",
    "_openCheckin",
    "_openCheckout",
    "_pay",
    "_release",
    "_saveLastTx",
    "_setOwnerConfig",
    "_stake",
    "_transfer",
    "_unstake",
    "_updateLatestShardReport",
];

/// Native functions only the consensus app admin may set (`ownerOnly` in `db/functions.js`).
pub fn is_owner_only_native(fid: &str) -> bool {
    NATIVE_FUNCTION_IDS.contains(&fid)
        && !matches!(
            fid,
            "_eraseValue"
                | "_fail"
                | "_saveLastTx"
                | "_setOwnerConfig"
                | "_updateLatestShardReport"
        )
}

/// Which config tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigKind {
    /// `.rule`.
    Rule,
    /// `.function`.
    Function,
    /// `.owner`.
    Owner,
}

impl ConfigKind {
    /// The config label.
    pub fn label(self) -> &'static str {
        match self {
            ConfigKind::Rule => ".rule",
            ConfigKind::Function => ".function",
            ConfigKind::Owner => ".owner",
        }
    }
}

/// Why a config tree is invalid: the offending path (the node's `invalidPath`) and, for rules the
/// devnet cannot evaluate, why.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// Path inside the written tree (or the rule path itself for duplicated path variables).
    pub path: String,
    /// Extra explanation (the rule parser's error), if any.
    pub why: Option<String>,
}

impl Invalid {
    fn at(path: &[String]) -> Invalid {
        Invalid {
            path: format_path(path.iter().map(String::as_str)),
            why: None,
        }
    }
}

/// Checks a config tree written at `tree_path` (`isValid{Rule,Function,Owner}Tree`).
/// Rule trees are checked with the genesis `min_gc_num_siblings_deleted` (100); see
/// [`validate_tree_at`].
pub fn validate_tree(kind: ConfigKind, tree_path: &[&str], tree: &Value) -> Result<(), Invalid> {
    validate_tree_at(kind, tree_path, tree, MIN_GC_NUM_SIBLINGS_DELETED)
}

/// [`validate_tree`] with the `min_gc_num_siblings_deleted` in force
/// ([`min_gc_num_siblings_deleted`]).
pub fn validate_tree_at(
    kind: ConfigKind,
    tree_path: &[&str],
    tree: &Value,
    min_gc: f64,
) -> Result<(), Invalid> {
    if tree.is_null() {
        return Ok(());
    }
    let mut vars: Vec<String> = Vec::new();
    for (i, label) in tree_path.iter().enumerate() {
        if is_variable_label(label) {
            if vars.iter().any(|v| v == label) {
                let p: Vec<String> = tree_path[..=i].iter().map(|s| (*s).to_owned()).collect();
                return Err(Invalid::at(&p));
            }
            vars.push((*label).to_owned());
        }
    }
    let mut sub = Vec::new();
    validate_recursive(kind, tree, &mut sub, &mut vars, tree_path, min_gc)
}

fn validate_recursive(
    kind: ConfigKind,
    tree: &Value,
    sub: &mut Vec<String>,
    vars: &mut Vec<String>,
    tree_path: &[&str],
    min_gc: f64,
) -> Result<(), Invalid> {
    let Some(obj) = tree.as_object().filter(|o| !o.is_empty()) else {
        return Err(Invalid::at(sub));
    };
    for (label, subtree) in obj {
        sub.push(label.clone());
        let is_var = is_variable_label(label);
        if is_var {
            if vars.iter().any(|v| v == label) {
                let mut p: Vec<String> = tree_path.iter().map(|s| (*s).to_owned()).collect();
                p.extend(sub.iter().cloned());
                return Err(Invalid::at(&p));
            }
            vars.push(label.clone());
        }
        if label == kind.label() {
            validate_config(kind, subtree, vars, min_gc).map_err(|(inner, why)| {
                let mut p = sub.clone();
                p.extend(inner);
                Invalid {
                    path: format_path(p.iter().map(String::as_str)),
                    why,
                }
            })?;
        } else {
            validate_recursive(kind, subtree, sub, vars, tree_path, min_gc)?;
        }
        sub.pop();
        if is_var {
            vars.retain(|v| v != label);
        }
    }
    Ok(())
}

type ConfigError = (Vec<String>, Option<String>);

fn bad(path: &[&str]) -> ConfigError {
    (path.iter().map(|s| (*s).to_owned()).collect(), None)
}

fn validate_config(
    kind: ConfigKind,
    config: &Value,
    vars: &[String],
    min_gc: f64,
) -> Result<(), ConfigError> {
    match kind {
        ConfigKind::Rule => validate_rule_config(config, vars, min_gc),
        ConfigKind::Function => validate_function_config(config),
        ConfigKind::Owner => validate_owner_config(config),
    }
}

const STATE_RULE_KEYS: &[&str] = &[
    "max_children",
    "max_height",
    "max_size",
    "max_bytes",
    "gc_max_siblings",
    "gc_num_siblings_deleted",
];

fn validate_rule_config(config: &Value, vars: &[String], min_gc: f64) -> Result<(), ConfigError> {
    let Some(obj) = config.as_object() else {
        return Err(bad(&[]));
    };
    if !obj.contains_key("write") && !obj.contains_key("state") {
        return Err(bad(&[]));
    }
    if obj.keys().any(|k| k != "write" && k != "state") {
        return Err(bad(&[]));
    }
    if let Some(state) = obj.get("state")
        && let Some(s) = state.as_object()
    {
        let numeric = s
            .iter()
            .all(|(k, v)| STATE_RULE_KEYS.contains(&k.as_str()) && v.is_number());
        if !numeric {
            return Err(bad(&[]));
        }
    }
    if let Some(write) = obj.get("write") {
        let var_refs: Vec<&str> = vars.iter().map(String::as_str).collect();
        if let Err(e) = Rule::parse_for_path(write, &var_refs) {
            return Err((vec!["write".to_owned()], Some(e.to_string())));
        }
    }
    if let Some(state) = obj.get("state")
        && !is_valid_state_rule(state, min_gc)
    {
        return Err(bad(&["state"]));
    }
    Ok(())
}

/// `isValidStateRule` (`db/state-util.js:352-409`): a non-empty dict with a `max_*` or
/// `gc_max_siblings`, every one > 0, and `gc_max_siblings` only with
/// `min_gc ≤ gc_num_siblings_deleted ≤ gc_max_siblings`.
fn is_valid_state_rule(state: &Value, min_gc: f64) -> bool {
    if state.is_null() {
        return true;
    }
    let Some(s) = state.as_object().filter(|s| !s.is_empty()) else {
        return false;
    };
    let num = |k: &str| s.get(k).and_then(Value::as_f64);
    let mut has_valid = false;
    for k in ["max_children", "max_height", "max_size", "max_bytes"] {
        if let Some(v) = num(k) {
            if v <= 0.0 {
                return false;
            }
            has_valid = true;
        }
    }
    if let Some(max) = num("gc_max_siblings") {
        if max <= 0.0 {
            return false;
        }
        match num("gc_num_siblings_deleted") {
            Some(n) if n >= min_gc && n <= max => {}
            _ => return false,
        }
        has_valid = true;
    }
    has_valid
}

fn validate_function_config(config: &Value) -> Result<(), ConfigError> {
    let Some(obj) = config.as_object().filter(|o| !o.is_empty()) else {
        return Err(bad(&[]));
    };
    for (fid, info) in obj {
        if info.is_null() {
            continue;
        }
        if !is_valid_function_info(info) {
            return Err((vec![fid.clone()], None));
        }
        if info.get("function_id").and_then(Value::as_str) != Some(fid) {
            return Err((vec![fid.clone(), "function_id".to_owned()], None));
        }
    }
    Ok(())
}

fn is_valid_function_info(info: &Value) -> bool {
    let Some(obj) = info.as_object().filter(|o| !o.is_empty()) else {
        return false;
    };
    let string = |k: &str| obj.get(k).and_then(Value::as_str);
    let (Some(ty), Some(_)) = (string("function_type"), string("function_id")) else {
        return false;
    };
    match ty {
        "NATIVE" => obj.len() == 2,
        "REST" => obj.len() == 3 && string("function_url").is_some_and(is_valid_url),
        _ => false,
    }
}

/// A coarse version of the node's `isValidUrl`.
pub fn is_valid_url(url: &str) -> bool {
    let rest = ["http://", "https://", "ftp://"]
        .iter()
        .find_map(|s| url.strip_prefix(s));
    match rest {
        Some(r) => {
            let host = r.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !url.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

const PERMISSIONS: [&str; 4] = [
    "branch_owner",
    "write_function",
    "write_owner",
    "write_rule",
];

fn validate_owner_config(config: &Value) -> Result<(), ConfigError> {
    let Some(obj) = config.as_object() else {
        return Err(bad(&[]));
    };
    let Some(owners) = obj.get("owners") else {
        return Err(bad(&[]));
    };
    let Some(owners) = owners.as_object().filter(|o| !o.is_empty()) else {
        return Err(bad(&["owners"]));
    };
    for (owner, perms) in owners {
        let path = || (vec!["owners".to_owned(), owner.clone()], None);
        let named_ok = owner == "*"
            || is_checksum_address(owner)
            || owner
                .strip_prefix("fid:")
                .is_some_and(|fid| NATIVE_FUNCTION_IDS.contains(&fid));
        if !named_ok {
            return Err(path());
        }
        if perms.is_null() {
            continue;
        }
        let ok = perms.as_object().is_some_and(|p| {
            p.len() == PERMISSIONS.len()
                && PERMISSIONS
                    .iter()
                    .all(|k| p.get(*k).is_some_and(Value::is_boolean))
        });
        if !ok {
            return Err(path());
        }
    }
    Ok(())
}

/// The result of merging a config change into the current config tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// True when the change was merged into an existing config (subtree owners are then no
    /// obstacle, as in the node).
    pub is_merge: bool,
    /// The tree to write at the path.
    pub tree: Value,
}

/// `apply{Rule,Function,Owner}Change`: a change that is exactly `{<config label>: {...}}` over a
/// path that already has that config is merged entry by entry (`null` entries delete);
/// anything else overwrites the whole subtree.
pub fn apply_change(kind: ConfigKind, current: &Value, change: &Value) -> Applied {
    let label = kind.label();
    let has_config = current.get(label).is_some_and(|v| !v.is_null());
    let only_config = change
        .as_object()
        .is_some_and(|o| o.len() == 1 && o.get(label).is_some_and(|v| !v.is_null()));
    if !has_config || !only_config {
        return Applied {
            is_merge: false,
            tree: change.clone(),
        };
    }
    let map_path: &[&str] = match kind {
        ConfigKind::Owner => &[".owner", "owners"],
        _ => &[label],
    };
    let change_map = get_in(change, map_path).and_then(Value::as_object);
    let Some(change_map) = change_map.filter(|m| !m.is_empty()) else {
        return Applied {
            is_merge: true,
            tree: current.clone(),
        };
    };
    let mut tree = if current.is_object() {
        current.clone()
    } else {
        Value::Object(Map::new())
    };
    let target = ensure_object_at(&mut tree, map_path);
    for (k, v) in change_map {
        if v.is_null() {
            target.remove(k);
        } else {
            target.insert(k.clone(), v.clone());
        }
    }
    Applied {
        is_merge: true,
        tree,
    }
}

fn get_in<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(*k))
}

fn ensure_object_at<'a>(v: &'a mut Value, path: &[&str]) -> &'a mut Map<String, Value> {
    let mut cur = v;
    for k in path {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else {
            unreachable!("just made an object")
        };
        let entry = map
            .entry((*k).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        cur = entry;
    }
    match cur {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ADDR: &str = "0x00ADEc28B6a845a085e03591bE7550dd68673C1C";

    #[test]
    fn rule_trees() {
        let ok =
            json!({".rule": {"write": "auth.addr === $user"}, "x": {".rule": {"write": true}}});
        assert_eq!(
            validate_tree(ConfigKind::Rule, &["apps", "a", "$user"], &ok),
            Ok(())
        );
        let err = validate_tree(ConfigKind::Rule, &["apps", "a"], &ok).unwrap_err();
        assert_eq!(err.path, "/.rule/write");
        assert!(err.why.unwrap().contains("$user"));
        let bad_js = json!({".rule": {"write": "data == null"}});
        let err = validate_tree(ConfigKind::Rule, &["apps"], &bad_js).unwrap_err();
        assert!(err.why.unwrap().contains("=="));
        for bad in [
            json!({}),
            json!({".rule": {"foo": 1}}),
            json!({".rule": {"write": true, "foo": 1}}),
            json!({".rule": 5}),
            json!({".rule": {"state": {"max_children": 0}}}),
            json!({".rule": {"state": {"gc_max_siblings": 10, "gc_num_siblings_deleted": 5}}}),
        ] {
            assert!(
                validate_tree(ConfigKind::Rule, &["apps"], &bad).is_err(),
                "{bad}"
            );
        }
        assert!(validate_tree(ConfigKind::Rule, &["a", "$x", "$x"], &ok).is_err());
        assert_eq!(
            validate_tree(ConfigKind::Rule, &["a"], &Value::Null),
            Ok(())
        );
        let st =
            json!({".rule": {"state": {"gc_max_siblings": 200, "gc_num_siblings_deleted": 100}}});
        assert_eq!(validate_tree(ConfigKind::Rule, &["a"], &st), Ok(()));
    }

    #[test]
    fn function_and_owner_trees() {
        let f = json!({".function": {"f1": {"function_type": "REST", "function_id": "f1", "function_url": "http://localhost:3000/x"}, "gone": null}});
        assert_eq!(
            validate_tree(ConfigKind::Function, &["apps", "a"], &f),
            Ok(())
        );
        let wrong_id =
            json!({".function": {"f1": {"function_type": "NATIVE", "function_id": "f2"}}});
        assert_eq!(
            validate_tree(ConfigKind::Function, &["a"], &wrong_id)
                .unwrap_err()
                .path,
            "/.function/f1/function_id"
        );
        let o = json!({".owner": {"owners": {ADDR: {"branch_owner": true, "write_function": false, "write_owner": true, "write_rule": false}, "*": null}}});
        assert_eq!(validate_tree(ConfigKind::Owner, &["apps", "a"], &o), Ok(()));
        let lower = ADDR.to_lowercase();
        let bad = json!({".owner": {"owners": {lower: {"branch_owner": true, "write_function": false, "write_owner": true, "write_rule": false}}}});
        assert!(validate_tree(ConfigKind::Owner, &["a"], &bad).is_err());
        let missing = json!({".owner": {"owners": {"*": {"branch_owner": true}}}});
        assert!(validate_tree(ConfigKind::Owner, &["a"], &missing).is_err());
    }

    #[test]
    fn merge_or_overwrite() {
        let cur = json!({".rule": {"write": true}, "child": {".rule": {"write": false}}});
        let a = apply_change(
            ConfigKind::Rule,
            &cur,
            &json!({".rule": {"write": "false"}}),
        );
        assert!(a.is_merge);
        assert_eq!(
            a.tree,
            json!({".rule": {"write": "false"}, "child": {".rule": {"write": false}}})
        );
        let b = apply_change(
            ConfigKind::Rule,
            &cur,
            &json!({".rule": {"write": true}, "x": {".rule": {"write": true}}}),
        );
        assert!(!b.is_merge);
        let c = apply_change(
            ConfigKind::Rule,
            &Value::Null,
            &json!({".rule": {"write": true}}),
        );
        assert!(!c.is_merge);
        let o = json!({".owner": {"owners": {"*": {"branch_owner": true}}}});
        let d = apply_change(
            ConfigKind::Owner,
            &o,
            &json!({".owner": {"owners": {"*": null, ADDR: {"x": 1}}}}),
        );
        assert_eq!(d.tree, json!({".owner": {"owners": {ADDR: {"x": 1}}}}));
        assert!(is_owner_only_native("_createApp") && !is_owner_only_native("_saveLastTx"));
    }
}
