//! Value write permission: the rule walk, `data`/`newData` wrapping, write-rule evaluation
//! and state rules (`getPermissionForValue`, `matchRulePathRecursive`, `evalStateRuleConfig`).

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Auth, Denied, EvalEnv, RuleCache, deny, has_config, subtree_configs};
use crate::codes;
use crate::rules::{EvalError, RuleContext};
use crate::state::{Node, State, TreeKind};
use ain_ledger::json::{js_f64, stable_stringify, write_js_string};
use ain_ledger::tx::state::format_path;

/// The result of walking the rule tree along a value path.
struct RuleWalk<'a> {
    /// Value labels walked.
    value_path: Vec<String>,
    /// Rule labels walked (`$vars` where a variable child was taken).
    rule_path: Vec<String>,
    /// Path variables, deepest first (the node's object order).
    vars: Vec<(String, String)>,
    /// The node at the full value path, if the walk got there.
    full: Option<&'a Arc<Node>>,
    /// Depth and node of the deepest walked node holding `.rule.write`.
    closest: Option<(usize, &'a Arc<Node>)>,
    /// The same for `.rule.state`.
    closest_state: Option<(usize, &'a Arc<Node>)>,
}

fn walk_rules<'a>(state: &'a State, labels: &[&str]) -> RuleWalk<'a> {
    let mut walk = RuleWalk {
        value_path: Vec::new(),
        rule_path: Vec::new(),
        vars: Vec::new(),
        full: None,
        closest: None,
        closest_state: None,
    };
    let Some(mut node) = state.tree(TreeKind::Rules).root() else {
        return walk;
    };
    let mut depth = 0;
    loop {
        if has_config(node, ".rule", Some("write")) {
            walk.closest = Some((depth, node));
        }
        if has_config(node, ".rule", Some("state")) {
            walk.closest_state = Some((depth, node));
        }
        if depth == labels.len() {
            walk.full = Some(node);
            break;
        }
        let label = labels[depth];
        let next = if let Some(c) = node.child(label) {
            walk.rule_path.push(label.to_owned());
            c
        } else if let Some((var, c)) = node.variable_child() {
            walk.rule_path.push(var.to_owned());
            walk.vars.insert(0, (var.to_owned(), label.to_owned()));
            c
        } else {
            break;
        };
        walk.value_path.push(label.to_owned());
        node = next;
        depth += 1;
    }
    walk
}

fn add_path_to_value(value: &Value, labels: &[String]) -> Value {
    labels.iter().rev().fold(value.clone(), |v, l| {
        let mut m = Map::new();
        m.insert(l.clone(), v);
        Value::Object(m)
    })
}

/// JSON text of path variables in the node's (deepest-first) order.
fn vars_json(vars: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in vars.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_js_string(&mut out, k);
        out.push(':');
        write_js_string(&mut out, v);
    }
    out.push('}');
    out
}

struct Ctx<'a> {
    auth: &'a Auth,
    data: &'a Value,
    new_data: &'a Value,
    env: EvalEnv,
    vars: &'a [(String, String)],
    state: &'a State,
}

impl RuleContext for Ctx<'_> {
    fn auth_addr(&self) -> Option<&str> {
        Some(&self.auth.addr)
    }
    fn auth_fid(&self) -> Option<&str> {
        self.auth.fid.as_deref()
    }
    fn data(&self) -> &Value {
        self.data
    }
    fn new_data(&self) -> &Value {
        self.new_data
    }
    fn current_time(&self) -> f64 {
        self.env.timestamp
    }
    fn block_number(&self) -> f64 {
        self.env.block_number as f64
    }
    fn block_time(&self) -> f64 {
        self.env.block_time as f64
    }
    fn path_var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn get_value(&self, path: &str) -> Value {
        let labels: Vec<&str> = path.split('/').filter(|l| !l.is_empty()).collect();
        self.state.value(&labels)
    }
}

/// `getPermissionForValue`: may `auth` write `new_value` at `labels`?
pub fn check_value_write(
    state: &State,
    cache: &mut RuleCache,
    labels: &[&str],
    new_value: &Value,
    auth: &Auth,
    env: EvalEnv,
) -> Result<(), Denied> {
    let walk = walk_rules(state, labels);
    let value_path = format_path(labels.iter().copied());
    let (closest_depth, config) = match walk.closest {
        Some((d, node)) => (d, node.child(".rule").map(|c| c.to_value(false))),
        None => (0, None),
    };
    let wrap = &walk.value_path[closest_depth.min(walk.value_path.len())..];
    let value = state.value(labels);
    let data = add_path_to_value(&value, wrap);
    let new_data = add_path_to_value(new_value, wrap);
    if let Some(full) = walk.full {
        let subtree = subtree_configs(full, ".rule", Some("write"));
        if !subtree.is_empty() {
            return Err(deny(
                codes::EVAL_RULE_NON_EMPTY_SUBTREE_RULES,
                format!(
                    "Non-empty ({}) subtree rules for value path '{value_path}'': {}",
                    subtree.len(),
                    serde_json::to_string(&subtree).unwrap_or_default()
                ),
            ));
        }
    }
    let rule_at = format_path(walk.rule_path[..closest_depth].iter().map(String::as_str));
    let write = config.as_ref().and_then(|c| c.get("write")).cloned();
    let (rule_text, allowed) = match &write {
        None => (String::new(), Ok(false)),
        Some(w) => match cache.get(w) {
            Ok(rule) => {
                let ctx = Ctx {
                    auth,
                    data: &data,
                    new_data: &new_data,
                    env,
                    vars: &walk.vars,
                    state,
                };
                (rule.source().to_owned(), rule.eval(&ctx))
            }
            Err(e) => {
                return Err(deny(
                    codes::EVAL_RULE_SYNTAX_ERROR,
                    format!(
                        "Rule syntax error: \"{e}\" in write rule: [{}]",
                        rule_source(w)
                    ),
                ));
            }
        },
    };
    match allowed {
        Ok(true) => check_state_rule(&walk, labels, new_value),
        Ok(false) => Err(deny(
            codes::EVAL_RULE_FALSE_WRITE_RULE_EVAL,
            format!(
                "Write rule evaluated false: [{rule_text}] at '{rule_at}' for value path \
                 '{value_path}' with path vars '{}', data '{}', newData '{}', auth '{}', \
                 timestamp '{}'",
                vars_json(&walk.vars),
                stable_stringify(&data),
                stable_stringify(&new_data),
                stable_stringify(&auth.to_json()),
                js_f64(env.timestamp),
            ),
        )),
        Err(e) => Err(eval_denied(&e)),
    }
}

/// `getObjectHeightAndSize`: nesting height and node count of an object (0, 0 for non-objects).
fn height_and_size(v: &Value) -> (u64, u64) {
    let Some(obj) = v.as_object().filter(|o| !o.is_empty()) else {
        return (0, 0);
    };
    let (mut height, mut size) = (1, 0);
    for child in obj.values() {
        if child.is_object() {
            let (h, s) = height_and_size(child);
            height = height.max(h + 1);
            size += s + 1;
        } else {
            size += 1;
        }
    }
    (height, size)
}

/// `evalStateRuleConfig`: the closest `.rule.state` limits on the written value (12104).
/// Garbage collection (`gc_max_siblings`) is applied after the write ([`gc_rule`]).
fn check_state_rule(walk: &RuleWalk<'_>, labels: &[&str], new_value: &Value) -> Result<(), Denied> {
    let Some((depth, node)) = walk.closest_state else {
        return Ok(());
    };
    let state = node
        .child(".rule")
        .and_then(|r| r.child("state"))
        .map(|n| n.to_value(false))
        .unwrap_or(Value::Null);
    let limit = |k: &str| state.get(k).and_then(Value::as_f64);
    let mut ok = limit("max_bytes")
        .is_none_or(|m| ain_ledger::json::js_object_sizeof(new_value) as f64 <= m);
    if ok && new_value.is_object() {
        let children = new_value.as_object().map_or(0, |o| o.len()) as f64;
        let (height, size) = height_and_size(new_value);
        ok = limit("max_children").is_none_or(|m| children <= m)
            && limit("max_height").is_none_or(|m| height as f64 <= m)
            && limit("max_size").is_none_or(|m| size as f64 <= m);
    }
    if ok {
        return Ok(());
    }
    Err(deny(
        codes::EVAL_RULE_FALSE_STATE_RULE_EVAL,
        format!(
            "State rule evaluated false: [{}] at '{}' for value path '{}' with newValue '{}'",
            stable_stringify(&state),
            format_path(walk.rule_path[..depth].iter().map(String::as_str)),
            format_path(labels.iter().copied()),
            stable_stringify(new_value)
        ),
    ))
}

fn rule_source(w: &Value) -> String {
    match w {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn eval_denied(e: &EvalError) -> Denied {
    deny(
        codes::EVAL_RULE_INTERNAL_ERROR,
        format!("Internal error: {e}"),
    )
}

/// A garbage-collection setting that governs a value write.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GcRule {
    /// Labels of the written path that make the parent whose children are collected: the
    /// state rule's level minus one (`db/index.js:2673-2677`).
    pub parent_len: usize,
    /// `gc_max_siblings`.
    pub max_siblings: f64,
    /// `gc_num_siblings_deleted`.
    pub num_deleted: f64,
}

/// The gc setting of the closest state rule (the deepest rule node on the written path with
/// `.rule.state`, ain-node-semantics.md §2.2), if it carries both gc keys. A deeper state rule
/// without them shadows a gc rule above it.
pub fn gc_rule(state: &State, labels: &[&str]) -> Option<GcRule> {
    let walk = walk_rules(state, labels);
    let (depth, node) = walk.closest_state?;
    let st = node.child(".rule")?.child("state")?;
    let num = |k: &str| st.child(k).and_then(|n| n.to_value(false).as_f64());
    Some(GcRule {
        parent_len: depth.checked_sub(1)?,
        max_siblings: num("gc_max_siblings")?,
        num_deleted: num("gc_num_siblings_deleted")?,
    })
}
