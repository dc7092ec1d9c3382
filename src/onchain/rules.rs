//! The rules `ain-sre deploy` writes, as `(path, write rule)` pairs.

use super::{AppPaths, Callers, Retention};

/// True when the writer is an admin of the app.
pub fn is_admin(p: &AppPaths) -> String {
    format!("getValue('{}/' + auth.addr) === true", p.admin_config())
}

/// Functions and blobs: the admin only.
pub fn admin_only(p: &AppPaths) -> String {
    is_admin(p)
}

/// True when the writer may act as a worker of the app: the admin approved it, or the app
/// is open (`config/workers` is `any`) and `open_also` holds.
fn worker_allowed(p: &AppPaths, open_also: &str) -> String {
    format!(
        "(getValue('{root}/allowed_workers/' + auth.addr) === true || (getValue('{root}/config/workers') === 'any' && {open_also}))",
        root = p.root()
    )
}

/// Worker registry: a worker writes its own entry, if the admin approved it or the app is
/// open. The admin may always write (to remove an entry, for instance).
pub fn workers(p: &AppPaths) -> String {
    format!(
        "(auth.addr === $worker && {}) || {}",
        worker_allowed(p, "true"),
        is_admin(p)
    )
}

/// Requests: write-once, a non-null object, and from an allowed caller.
pub fn request(callers: &Callers) -> String {
    let base = "data === null && util.isDict(newData)";
    match callers {
        Callers::Any => base.to_owned(),
        Callers::Only(list) => {
            let who: Vec<String> = list
                .iter()
                .map(|a| format!("auth.addr === '{a}'"))
                .collect();
            format!("{base} && ({})", who.join(" || "))
        }
    }
}

/// Responses: write-once, only for a request that exists, only by a worker the admin
/// approved (or, in an open app, any registered worker), and naming its signer as
/// `receipt.worker` (so clients can trust that field, see `verify`). `function` is the function label
/// as the rule's path has it: `$fn` under the app-wide pattern, the concrete name under a
/// function's own rules. The chain itself thus refuses a second answer, an answer to a
/// request that never landed (an orphan response) and an answer from a stranger.
pub fn response(p: &AppPaths, function: &str) -> String {
    let registered = format!("getValue('{}/' + auth.addr) !== null", p.workers());
    format!(
        "data === null && util.isDict(newData) && util.isDict(newData.receipt) && newData.receipt.worker === auth.addr && {} !== null && {}",
        request_lookup(p, function),
        worker_allowed(p, &registered)
    )
}

/// `getValue(<the request beside this response>)`, in rule syntax; `function` is `$fn` or a
/// concrete function name (a valid state label, so it cannot break out of the quotes).
fn request_lookup(p: &AppPaths, function: &str) -> String {
    let fn_part = if function.starts_with('$') {
        format!("' + {function} + '")
    } else {
        function.to_owned()
    };
    format!(
        "getValue('{}/calls/{fn_part}/' + $call_id + '/request')",
        p.root()
    )
}

/// Every app-wide rule: `(path, rule)`. `$fn` covers functions without their own request rule.
pub fn app_rules(p: &AppPaths) -> Vec<(String, String)> {
    vec![
        (p.functions(), admin_only(p)),
        (p.blobs(), admin_only(p)),
        (p.allowed_workers(), admin_only(p)),
        (format!("{}/config", p.root()), admin_only(p)),
        (crate::secrets::store::root(p), admin_only(p)),
        (format!("{}/$worker", p.workers()), workers(p)),
        (
            format!("{}/calls/$fn/$call_id/request", p.root()),
            request(&Callers::Any),
        ),
        (
            format!("{}/calls/$fn/$call_id/response", p.root()),
            response(p, "$fn"),
        ),
    ]
}

/// The rules of one function: its request rule, and the response rule repeated under the
/// concrete label (rule matching prefers a concrete label and does not fall back to `$fn`
/// for the sibling `response`, so both must live under it).
pub fn function_rules(p: &AppPaths, function: &str, callers: &Callers) -> Vec<(String, String)> {
    vec![
        (
            format!("{}/calls/{function}/$call_id/request", p.root()),
            request(callers),
        ),
        (
            format!("{}/calls/{function}/$call_id/response", p.root()),
            response(p, function),
        ),
    ]
}

/// `/apps/<app>/sre/calls/<fn>/$call_id`: where a function's retention rule lives. A
/// state rule at this level makes the node garbage-collect the children of
/// `calls/<fn>` (ain-node-semantics.md §2.2).
pub fn retention_path(p: &AppPaths, function: &str) -> String {
    format!("{}/calls/{function}/$call_id", p.root())
}

/// The `SET_RULE` value of [`Retention`]: `{".rule": {"state": {...}}}`, or
/// `{"state": null}` (no limit) for [`Retention::Unbounded`].
pub fn retention_value(r: Retention) -> serde_json::Value {
    match r {
        Retention::Keep(n) => serde_json::json!({".rule": {"state": {
            "gc_max_siblings": n,
            "gc_num_siblings_deleted": Retention::batch(n),
        }}}),
        Retention::Unbounded => serde_json::json!({".rule": {"state": null}}),
    }
}

/// The `SET_RULE` value for a rule expression.
pub fn rule_value(expr: &str) -> serde_json::Value {
    serde_json::json!({".rule": {"write": expr}})
}
