//! The on-chain conventions (DESIGN.md, "On-chain conventions"): every path under
//! `/apps/<app>/sre/`, the values stored there, and the write rules `ain-sre deploy` sets.
//!
//! | path | value |
//! |---|---|
//! | `functions/<fn>` | [`FunctionSpec`] |
//! | `blobs/<sha256>/<i>` | base64 chunk of a large function's code, ≤ [`MAX_CHUNK_CHARS`] |
//! | `workers/<address>` | [`WorkerEntry`] |
//! | `allowed_workers/<address>` | `true`: the admin approved this worker |
//! | `config/workers` | [`WorkerPolicy`]: `approved` (missing = approved) or `any` |
//! | `config/versions/<fn>/<n>` | a previous [`FunctionSpec`] (the last [`KEPT_VERSIONS`]) |
//! | `calls/<fn>/<call_id>/request` | `{input: "<string>"}` or `{input_ref: {sha256, size, url?}}` ([`Request`]) |
//! | `calls/<fn>/<call_id>/response` | the response with its receipt (`receipt::build_response`) |
//!
//! Rules are written in the subset of the node's rule language that the built-in chain evaluates
//! too (literals, `auth.addr`, `data`, `newData`, `$vars`, `getValue`, `+`, comparisons, `&&`,
//! `||`, `!`, `util.*`), so they behave the same on both.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ledger::crypto::Address;
use crate::ledger::tx::state::{is_valid_app_name, is_valid_state_label};

/// Largest base64 chunk stored per blob entry, one tx each. DESIGN.md allows up to 8,000, but
/// real nodes measure the 10,000-byte tx cap with `object-sizeof`, which counts two bytes per
/// string character, so a chunk must stay under ~4,900 characters to fit.
pub const MAX_CHUNK_CHARS: usize = 4_000;
/// Largest inline `code` string (same measure); bigger code goes into blobs.
pub const MAX_INLINE_CHARS: usize = 4_000;

/// Why a name or value does not follow the conventions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConventionError {
    /// An app name the node refuses (`^[a-z_][a-z0-9_]*$`).
    #[error("invalid app name {0:?}: lowercase letters, digits and `_`, not starting with a digit")]
    App(String),
    /// A label (function name, call id) the node refuses.
    #[error(
        "invalid {what} {value:?}: a state label cannot be empty or hold / . $ * # {{ }} [ ] < > ' \" ` or spaces"
    )]
    Label {
        /// `function name` or `call id`.
        what: &'static str,
        /// The offending value.
        value: String,
    },
    /// A stored value that does not have the expected shape.
    #[error("malformed {what}: {why}")]
    Value {
        /// Which value.
        what: &'static str,
        /// What is wrong.
        why: String,
    },
}

/// One app's `/apps/<app>/sre` subtree: path builders with validated names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppPaths {
    app: String,
}

impl AppPaths {
    /// Paths of app `app`; the name must be a valid app name.
    pub fn new(app: &str) -> Result<AppPaths, ConventionError> {
        if !is_valid_app_name(app) {
            return Err(ConventionError::App(app.to_owned()));
        }
        Ok(AppPaths {
            app: app.to_owned(),
        })
    }

    /// The app name.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// `/apps/<app>`.
    pub fn app_root(&self) -> String {
        format!("/apps/{}", self.app)
    }

    /// `/apps/<app>/sre`.
    pub fn root(&self) -> String {
        format!("/apps/{}/sre", self.app)
    }

    /// `/manage_app/<app>/config/admin`: the app's admins (`{<addr>: true}`).
    pub fn admin_config(&self) -> String {
        format!("/manage_app/{}/config/admin", self.app)
    }

    /// `/manage_app/<app>/create/<key>`: writing `{admin: {<addr>: true}}` here creates the app.
    pub fn create(&self, key: u64) -> String {
        format!("/manage_app/{}/create/{key}", self.app)
    }

    /// `/apps/<app>/sre/functions`.
    pub fn functions(&self) -> String {
        format!("{}/functions", self.root())
    }

    /// `/apps/<app>/sre/functions/<fn>`.
    pub fn function(&self, function: &str) -> String {
        format!("{}/functions/{function}", self.root())
    }

    /// `/apps/<app>/sre/config/versions/<fn>`: the previous specs of a function by version
    /// number ([`KEPT_VERSIONS`] at most). Under `config`, whose admin-only rule covers them, so
    /// the rules tx does not grow.
    pub fn versions(&self, function: &str) -> String {
        format!("{}/config/versions/{function}", self.root())
    }

    /// `/apps/<app>/sre/config/versions/<fn>/<n>`: version `n` of a function's spec.
    pub fn version(&self, function: &str, n: u64) -> String {
        format!("{}/{n}", self.versions(function))
    }

    /// `/apps/<app>/sre/blobs`.
    pub fn blobs(&self) -> String {
        format!("{}/blobs", self.root())
    }

    /// `/apps/<app>/sre/blobs/<hash>/<i>`.
    pub fn blob_chunk(&self, code_hash: &str, index: usize) -> String {
        format!("{}/blobs/{code_hash}/{index}", self.root())
    }

    /// `/apps/<app>/sre/workers`.
    pub fn workers(&self) -> String {
        format!("{}/workers", self.root())
    }

    /// `/apps/<app>/sre/workers/<address>`.
    pub fn worker(&self, worker: &Address) -> String {
        format!("{}/workers/{worker}", self.root())
    }

    /// `/apps/<app>/sre/allowed_workers`: the workers the admin approved (`{<address>: true}`).
    pub fn allowed_workers(&self) -> String {
        format!("{}/allowed_workers", self.root())
    }

    /// `/apps/<app>/sre/allowed_workers/<address>`: `true` once the admin approved the worker.
    pub fn allowed_worker(&self, worker: &Address) -> String {
        format!("{}/allowed_workers/{worker}", self.root())
    }

    /// `/apps/<app>/sre/config/workers`: the app's [`WorkerPolicy`], written by the admin.
    pub fn worker_policy(&self) -> String {
        format!("{}/config/workers", self.root())
    }

    /// `/apps/<app>/sre/calls/<fn>/<call_id>`.
    pub fn call(&self, function: &str, call_id: &str) -> String {
        format!("{}/calls/{function}/{call_id}", self.root())
    }

    /// `/apps/<app>/sre/calls/<fn>/<call_id>/request`.
    pub fn request(&self, function: &str, call_id: &str) -> String {
        format!("{}/request", self.call(function, call_id))
    }

    /// `/apps/<app>/sre/calls/<fn>/<call_id>/response`.
    pub fn response(&self, function: &str, call_id: &str) -> String {
        format!("{}/response", self.call(function, call_id))
    }

    /// The event filter path of every request of the app:
    /// `/apps/<app>/sre/calls/$fn/$call_id/request`.
    pub fn request_filter(&self) -> String {
        format!("{}/calls/$fn/$call_id/request", self.root())
    }

    /// Splits a concrete request path of this app into `(fn, call_id)`.
    pub fn parse_request(&self, path: &str) -> Option<(String, String)> {
        let rest = path.strip_prefix(&self.root())?.strip_prefix("/calls/")?;
        let mut parts = rest.split('/');
        let (f, c, r) = (parts.next()?, parts.next()?, parts.next()?);
        if r != "request" || parts.next().is_some() {
            return None;
        }
        (is_valid_state_label(f) && is_valid_state_label(c)).then(|| (f.to_owned(), c.to_owned()))
    }
}

/// Checks a function name or call id is a valid state label.
pub fn check_label(what: &'static str, value: &str) -> Result<(), ConventionError> {
    if is_valid_state_label(value) && !value.starts_with('$') {
        Ok(())
    } else {
        Err(ConventionError::Label {
            what,
            value: value.to_owned(),
        })
    }
}

/// When a worker may run a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Finality {
    /// On the first sighting of the request (USER event): fastest, may run a call whose block
    /// is later dropped.
    #[default]
    Executed,
    /// Once the worker's follower has verified the request's block as final.
    Finalized,
}

impl Finality {
    /// `executed` or `finalized`.
    pub fn as_str(self) -> &'static str {
        match self {
            Finality::Executed => "executed",
            Finality::Finalized => "finalized",
        }
    }
}

/// `functions/<fn>`: what to run for a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionSpec {
    /// Runtime name (`wasm`, `python3`, ...).
    pub runtime: String,
    /// SHA-256 of the code bytes, 64 lowercase hex digits.
    pub code_hash: String,
    /// Size of the code in bytes.
    pub size: u64,
    /// Inline code: the text itself when the code is UTF-8, else its base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Number of `blobs/<code_hash>/<i>` chunks holding the base64 of the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<u64>,
    /// The code stored off chain as a content-addressed blob (`{sha256, size, url?}`): for code
    /// too large for the chain (a Python component is ~19 MB). Its `sha256` and `size` must be
    /// the spec's `code_hash` and `size`, so receipts and verifiers name the same code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_ref: Option<crate::blobs::BlobRef>,
    /// Entry point (informational for tiers that need one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// Sandbox profile name (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Wall deadline wanted by the author; never above the profile's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Memory wanted by the author; never above the profile's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// When the call may run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finality: Option<Finality>,
    /// In a fleet, how long the worker ranked k+1 for a call waits after rank k's turn before it
    /// takes the call over (default 2,000 ms; `scheduler::assign`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_ms: Option<u64>,
    /// Which deploy of the function this is: 1 for the first, one more at each redeploy
    /// (unset in specs written before versions existed, which count as 1). The previous
    /// [`KEPT_VERSIONS`] specs stay under `config/versions/<fn>/<n>` for `deploy --rollback`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Publish the stderr tail of successful calls too (`deploy --public-stderr`). Everything a
    /// response carries is public on chain; by default only failed calls carry their stderr
    /// tail (where it explains the failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_stderr: Option<bool>,
    /// Where calls may connect, through the worker's egress proxy (`deploy --allow-net`);
    /// absent: no network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<crate::egress::EgressSpec>,
    /// Names of the secrets calls get as `SRE_SECRET_<NAME>` (space-separated; written by
    /// `secrets set` under `functions/<fn>/secrets`, values under `secrets/<fn>/<worker>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<String>,
}

/// How many previous specs of a function stay in state for `functions show --version` and
/// `deploy --rollback`: each costs its spec's state bytes (up to ~8 KB for 4,000 characters of
/// inline code, a few hundred bytes for blob-backed code, whose chunks are kept with it).
pub const KEPT_VERSIONS: u64 = 3;

impl FunctionSpec {
    /// The version, 1 for a spec written before versions existed.
    pub fn version(&self) -> u64 {
        self.version.unwrap_or(1)
    }

    /// Parses and checks a stored function value.
    pub fn from_value(v: &Value) -> Result<FunctionSpec, ConventionError> {
        let bad = |why: String| ConventionError::Value {
            what: "function spec",
            why,
        };
        let spec: FunctionSpec =
            serde_json::from_value(v.clone()).map_err(|e| bad(e.to_string()))?;
        if spec.code_hash.len() != 64
            || !spec
                .code_hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad(format!(
                "code_hash {:?} is not 64 lowercase hex digits",
                spec.code_hash
            )));
        }
        if let Some(e) = &spec.egress {
            e.policy().map_err(|e| bad(e.to_string()))?;
        }
        if let Some(r) = &spec.code_ref {
            if r.sha256.to_string() != spec.code_hash || r.size != spec.size {
                return Err(bad(format!(
                    "code_ref ({}, {} bytes) is not the code the spec names ({}, {} bytes)",
                    r.sha256, r.size, spec.code_hash, spec.size
                )));
            }
        }
        match (&spec.code, spec.chunks, &spec.code_ref) {
            (Some(_), None, None) | (None, Some(1..), None) | (None, None, Some(_)) => Ok(spec),
            _ => Err(bad(
                "exactly one of `code`, `chunks` (≥ 1) or `code_ref` must be set".into(),
            )),
        }
    }

    /// The value to store.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The finality, `executed` when unset.
    pub fn finality(&self) -> Finality {
        self.finality.unwrap_or_default()
    }

    /// The profile name, `default` when unset.
    pub fn profile(&self) -> &str {
        self.profile.as_deref().unwrap_or("default")
    }
}

/// `workers/<address>`: a worker's registry entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerEntry {
    /// Runtimes the worker can run (`{wasm: true}`); AIN values hold no arrays.
    pub runtimes: std::collections::BTreeMap<String, bool>,
    /// The worker's version.
    pub version: String,
    /// How many calls it runs at once.
    pub capacity: u64,
    /// Sandbox profiles it accepts (`{default: true, ...}`); empty (absent on chain) in entries
    /// written before workers listed them, which are taken to accept every profile.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub profiles: std::collections::BTreeMap<String, bool>,
    /// It serves functions with an egress allow-list: its operator did not set `egress = "deny"`
    /// and it has a tier with the egress proxy (process or container). Absent (false) in entries
    /// of workers that predate egress, which serve none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub egress: bool,
}

impl WorkerEntry {
    /// True when the entry says the worker serves `runtime` with `profile`.
    pub fn offers(&self, runtime: &str, profile: &str) -> bool {
        self.runtimes.get(runtime) == Some(&true)
            && (self.profiles.is_empty() || self.profiles.get(profile) == Some(&true))
    }

    /// True when the entry says the worker serves `runtime` with `profile`, and egress when the
    /// function `needs_egress` (it has an allow-list).
    pub fn serves(&self, runtime: &str, profile: &str, needs_egress: bool) -> bool {
        self.offers(runtime, profile) && (self.egress || !needs_egress)
    }
}

/// `calls/<fn>/<call_id>/request`: what a client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The input bytes given to the function on stdin (empty when `input_ref` is given).
    pub input: Vec<u8>,
    /// A blob the worker fetches and gives on stdin instead (`{sha256, size, url?}`).
    pub input_ref: Option<crate::blobs::BlobRef>,
}

impl Request {
    /// The value a client writes: `{input: "<text>"}`.
    pub fn value(input: &str) -> Value {
        json!({ "input": input })
    }

    /// The value a client writes for an input stored as a blob: `{input_ref: {sha256, size, url?}}`.
    pub fn value_ref(r: &crate::blobs::BlobRef) -> Value {
        json!({ "input_ref": r })
    }

    /// Reads a stored request. `input` or `input_ref` must be present; a string `input` is taken
    /// as is, any other JSON value as its JSON text. Anything else is a clear error the worker
    /// answers as `rejected`.
    pub fn from_value(v: &Value) -> Result<Request, ConventionError> {
        let bad = |why: &str| ConventionError::Value {
            what: "request",
            why: why.to_owned(),
        };
        let obj = v
            .as_object()
            .ok_or_else(|| bad("a request must be an object {input: \"...\"}"))?;
        if let Some(r) = obj.get("input_ref").filter(|r| !r.is_null()) {
            if obj.get("input").is_some_and(|i| !i.is_null()) {
                return Err(bad("a request has `input` or `input_ref`, not both"));
            }
            let r = serde_json::from_value(r.clone()).map_err(|e| {
                bad(&format!(
                    "bad `input_ref` (want {{sha256, size, url?}}): {e}"
                ))
            })?;
            return Ok(Request {
                input: Vec::new(),
                input_ref: Some(r),
            });
        }
        match obj.get("input") {
            None | Some(Value::Null) => Err(bad("the request has no `input`")),
            Some(Value::String(s)) => Ok(Request {
                input: s.as_bytes().to_vec(),
                input_ref: None,
            }),
            Some(other) => Ok(Request {
                input: other.to_string().into_bytes(),
                input_ref: None,
            }),
        }
    }
}

/// Who may write requests for a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callers {
    /// Anyone (permissionless trigger).
    Any,
    /// Only these addresses (permissioned trigger).
    Only(Vec<Address>),
}

impl std::str::FromStr for Callers {
    type Err = String;
    fn from_str(s: &str) -> Result<Callers, String> {
        if s.trim() == "any" {
            return Ok(Callers::Any);
        }
        let list = s
            .split(',')
            .map(|a| {
                a.trim()
                    .parse::<Address>()
                    .map_err(|e| format!("{a:?} is not an address: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err("an empty caller list".into());
        }
        Ok(Callers::Only(list))
    }
}

impl fmt::Display for Callers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Callers::Any => f.write_str("any"),
            Callers::Only(l) => {
                let s: Vec<String> = l.iter().map(|a| a.to_string()).collect();
                f.write_str(&s.join(","))
            }
        }
    }
}

/// Which workers may register in an app and answer its calls (`config/workers`).
///
/// The rules read the stored value at each write, so one value write switches every function
/// of the app; a missing or unknown value counts as [`WorkerPolicy::Approved`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkerPolicy {
    /// Only workers the admin listed under `allowed_workers` (closed; the default).
    #[default]
    Approved,
    /// Any key may register itself and then answer (open; an explicit, warned choice).
    Any,
}

impl WorkerPolicy {
    /// The stored value: `approved` or `any`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerPolicy::Approved => "approved",
            WorkerPolicy::Any => "any",
        }
    }

    /// Reads the stored value; anything but `"any"` (missing included) is closed.
    pub fn from_value(v: &Value) -> WorkerPolicy {
        if v.as_str() == Some("any") {
            WorkerPolicy::Any
        } else {
            WorkerPolicy::Approved
        }
    }
}

impl fmt::Display for WorkerPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rules `ain-sre deploy` writes, as `(path, write rule)` pairs.
pub mod rules {
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
    pub fn function_rules(
        p: &AppPaths,
        function: &str,
        callers: &Callers,
    ) -> Vec<(String, String)> {
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
}

/// How many calls of a function the chain keeps in state (`deploy --keep`). Results stay in
/// the blocks forever; only state is pruned, by the node itself, through the
/// `gc_max_siblings` rule state on `calls/<fn>/$call_id` (ain-node-semantics.md §2).
///
/// `Keep(n)` writes `gc_max_siblings = n` and `gc_num_siblings_deleted = max(10, n / 10)`:
/// when a new call makes `n + 1` entries, the node deletes that many of the oldest at once, so
/// state holds between `n + 1 − batch` and `n` calls. The node refuses a batch below
/// `min_gc_num_siblings_deleted` (10 on every network today) or above `n`, hence `n ≥ 10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Keep at most this many calls.
    Keep(u64),
    /// No limit (the rule state is removed).
    Unbounded,
}

impl Retention {
    /// `deploy`'s default: 1,000 calls.
    pub const DEFAULT: Retention = Retention::Keep(1000);
    /// The node's `min_gc_num_siblings_deleted` after its bandages (ain-node-semantics.md §2.1).
    pub const MIN_BATCH: u64 = 10;

    /// `--keep N`: 0 means no limit; 1..=9 is refused (see the type's docs).
    pub fn from_keep(n: u64) -> Result<Retention, ConventionError> {
        match n {
            0 => Ok(Retention::Unbounded),
            n if n < Self::MIN_BATCH => Err(ConventionError::Value {
                what: "retention",
                why: format!(
                    "--keep {n} is below {}: the node prunes at least min_gc_num_siblings_deleted ({}) calls at a time and never more than gc_max_siblings, so the smallest retention is {}",
                    Self::MIN_BATCH,
                    Self::MIN_BATCH,
                    Self::MIN_BATCH
                ),
            }),
            n => Ok(Retention::Keep(n)),
        }
    }

    /// Calls the node deletes at once for `Keep(n)`.
    pub fn batch(n: u64) -> u64 {
        (n / 10).max(Self::MIN_BATCH).min(n)
    }

    /// The least number of calls state holds right after a prune (`n + 1 − batch`).
    pub fn low_water(n: u64) -> u64 {
        n + 1 - Self::batch(n)
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retention::Keep(n) => write!(
                f,
                "the last {n} calls in state (the oldest {} pruned by the node when a call makes {}); all results stay in the blocks",
                Retention::batch(*n),
                n + 1
            ),
            Retention::Unbounded => write!(f, "every call in state (no limit)"),
        }
    }
}

/// The journal key of a call: `<app>/<fn>/<call_id>` (labels never hold `/`).
pub fn call_key(app: &str, function: &str, call_id: &str) -> String {
    format!("{app}/{function}/{call_id}")
}

/// Splits a journal key into `(app, fn, call_id)`.
pub fn split_call_key(key: &str) -> Option<(&str, &str, &str)> {
    let mut it = key.splitn(3, '/');
    Some((it.next()?, it.next()?, it.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_follows_the_nodes_gc_bounds() {
        assert_eq!(Retention::from_keep(0).unwrap(), Retention::Unbounded);
        assert!(
            Retention::from_keep(9).is_err(),
            "batch would be below 10 or above n"
        );
        assert_eq!(Retention::from_keep(10).unwrap(), Retention::Keep(10));
        assert_eq!((Retention::batch(10), Retention::low_water(10)), (10, 1));
        assert_eq!((Retention::batch(20), Retention::low_water(20)), (10, 11));
        assert_eq!(
            (Retention::batch(1000), Retention::low_water(1000)),
            (100, 901)
        );
        let p = AppPaths::new("a").unwrap();
        assert_eq!(
            rules::retention_path(&p, "f"),
            "/apps/a/sre/calls/f/$call_id"
        );
        assert_eq!(
            rules::retention_value(Retention::Keep(20)),
            serde_json::json!({".rule": {"state": {"gc_max_siblings": 20, "gc_num_siblings_deleted": 10}}})
        );
    }

    #[test]
    fn paths_and_parsing() {
        let p = AppPaths::new("my_app").unwrap();
        assert_eq!(p.function("echo"), "/apps/my_app/sre/functions/echo");
        assert_eq!(
            p.request("echo", "c1"),
            "/apps/my_app/sre/calls/echo/c1/request"
        );
        assert_eq!(
            p.response("echo", "c1"),
            "/apps/my_app/sre/calls/echo/c1/response"
        );
        assert_eq!(
            p.request_filter(),
            "/apps/my_app/sre/calls/$fn/$call_id/request"
        );
        assert_eq!(
            p.parse_request("/apps/my_app/sre/calls/echo/c1/request"),
            Some(("echo".into(), "c1".into()))
        );
        assert_eq!(
            p.parse_request("/apps/my_app/sre/calls/echo/c1/response"),
            None
        );
        assert_eq!(
            p.parse_request("/apps/other/sre/calls/echo/c1/request"),
            None
        );
        assert!(AppPaths::new("Bad-App").is_err());
        assert!(check_label("call id", "a.b").is_err());
        assert!(check_label("call id", "1795-ab").is_ok());
        assert_eq!(split_call_key("a/f/c-1"), Some(("a", "f", "c-1")));
    }

    #[test]
    fn spec_roundtrip_and_checks() {
        let spec = FunctionSpec {
            runtime: "wasm".into(),
            code_hash: "ab".repeat(32),
            size: 3,
            code: Some("abc".into()),
            chunks: None,
            code_ref: None,
            entry: None,
            profile: None,
            timeout_ms: None,
            memory_mb: None,
            finality: Some(Finality::Finalized),
            failover_ms: Some(1500),
            version: None,
            public_stderr: Some(true),
            egress: None,
            secrets: None,
        };
        let v = spec.to_value();
        assert_eq!(v["finality"], "finalized");
        assert_eq!(v["failover_ms"], 1500);
        assert_eq!(v["public_stderr"], true);
        assert!(v.get("chunks").is_none(), "no nulls in AIN values");
        assert_eq!(FunctionSpec::from_value(&v).unwrap(), spec);
        let mut bad = v.clone();
        bad["code_hash"] = json!("XYZ");
        assert!(FunctionSpec::from_value(&bad).is_err());
        let mut both = v.clone();
        both["chunks"] = json!(2);
        assert!(FunctionSpec::from_value(&both).is_err());
        assert!(FunctionSpec::from_value(&json!("x")).is_err());
    }

    /// Code by reference: the ref must name the spec's code (hash and size), and stands alone.
    #[test]
    fn code_ref_specs_name_the_same_code() {
        let mut v = json!({"runtime": "python3-wasm", "code_hash": "ab".repeat(32), "size": 20,
            "code_ref": {"sha256": "ab".repeat(32), "size": 20, "url": "http://s:8082/blobs/x"}});
        let spec = FunctionSpec::from_value(&v).unwrap();
        assert_eq!(spec.code_ref.as_ref().unwrap().size, 20);
        assert_eq!(FunctionSpec::from_value(&spec.to_value()).unwrap(), spec);
        let mut other_hash = v.clone();
        other_hash["code_ref"]["sha256"] = json!("cd".repeat(32));
        let e = FunctionSpec::from_value(&other_hash)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not the code the spec names"), "{e}");
        let mut other_size = v.clone();
        other_size["code_ref"]["size"] = json!(21);
        assert!(FunctionSpec::from_value(&other_size).is_err());
        v["code"] = json!("x");
        let e = FunctionSpec::from_value(&v).unwrap_err().to_string();
        assert!(e.contains("exactly one of"), "{e}");
    }

    #[test]
    fn requests() {
        assert_eq!(
            Request::from_value(&json!({"input": "hi"})).unwrap().input,
            b"hi"
        );
        assert_eq!(
            Request::from_value(&json!({"input": {"a": 1}}))
                .unwrap()
                .input,
            b"{\"a\":1}"
        );
        assert!(Request::from_value(&json!({"other": 1})).is_err());
        let sha = "ab".repeat(32);
        let r = Request::from_value(&json!({"input_ref": {"sha256": sha, "size": 5}})).unwrap();
        assert_eq!(r.input_ref.unwrap().size, 5);
        assert!(
            Request::from_value(&json!({"input": "x", "input_ref": {"sha256": sha, "size": 5}}))
                .is_err()
        );
        assert!(Request::from_value(&json!({"input_ref": {"sha256": "zz", "size": 5}})).is_err());
        assert!(Request::from_value(&json!("hi")).is_err());
    }

    #[test]
    fn callers_and_rules() {
        let p = AppPaths::new("a").unwrap();
        assert_eq!("any".parse::<Callers>().unwrap(), Callers::Any);
        let c: Callers = "0x00ADEc28B6a845a085e03591bE7550dd68673C1C"
            .parse()
            .unwrap();
        let r = rules::request(&c);
        assert!(
            r.contains("auth.addr === '0x00ADEc28B6a845a085e03591bE7550dd68673C1C'"),
            "{r}"
        );
        assert!("0xnope".parse::<Callers>().is_err());
        let resp = rules::response(&p, "$fn");
        assert!(resp.starts_with("data === null"), "{resp}");
        assert!(resp.contains("getValue('/apps/a/sre/allowed_workers/' + auth.addr) === true"));
        assert!(resp.contains("getValue('/apps/a/sre/config/workers') === 'any' && getValue('/apps/a/sre/workers/' + auth.addr) !== null"));
        assert!(
            resp.contains(
                "getValue('/apps/a/sre/calls/' + $fn + '/' + $call_id + '/request') !== null"
            ),
            "{resp}"
        );
        let concrete = rules::response(&p, "echo");
        assert!(
            concrete
                .contains("getValue('/apps/a/sre/calls/echo/' + $call_id + '/request') !== null"),
            "{concrete}"
        );
        assert_eq!(rules::app_rules(&p).len(), 8);
        assert!(
            rules::app_rules(&p)
                .contains(&("/apps/a/sre/secrets".to_owned(), rules::admin_only(&p)))
        );
        assert_eq!(WorkerPolicy::from_value(&json!("any")), WorkerPolicy::Any);
        assert_eq!(
            WorkerPolicy::from_value(&Value::Null),
            WorkerPolicy::Approved
        );
        assert_eq!(
            WorkerPolicy::from_value(&json!("open")),
            WorkerPolicy::Approved
        );
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use crate::ledger::json::js_object_sizeof;

    /// `deploy` writes every rule and the worker setting in one `SET`; a real node refuses a tx
    /// body over 10,000 bytes as `object-sizeof` counts them (before its block-2 bandage raises
    /// the limit), so the rules must fit with room for a long app name and a caller list.
    #[test]
    fn the_deploy_rules_tx_fits_a_real_nodes_tx_size_limit() {
        let p = AppPaths::new(&"a".repeat(40)).unwrap();
        let callers: Callers =
            "0x00ADEc28B6a845a085e03591bE7550dd68673C1C,0x01A0980d2D4e418c7F27e1ef539d01A5b5E93204"
                .parse()
                .unwrap();
        let mut ops: Vec<Value> = rules::app_rules(&p)
            .into_iter()
            .chain(rules::function_rules(&p, &"f".repeat(40), &callers))
            .map(|(path, r)| json!({"type": "SET_RULE", "ref": path, "value": rules::rule_value(&r)}))
            .collect();
        ops.push(json!({"type": "SET_VALUE", "ref": p.worker_policy(), "value": "approved"}));
        let body = json!({"operation": {"type": "SET", "op_list": ops}, "nonce": -1,
                          "timestamp": 1_700_000_000_000u64, "gas_price": 0});
        let size = js_object_sizeof(&body);
        eprintln!("the deploy rules tx measures {size} bytes");
        assert!(size < 10_000, "the deploy rules tx measures {size} bytes");
    }
}
