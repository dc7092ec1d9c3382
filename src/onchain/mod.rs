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

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ledger::crypto::Address;
use crate::ledger::tx::state::{is_valid_app_name, is_valid_state_label};

mod access;
mod retention;
pub mod rules;

pub use access::{Callers, WorkerPolicy};
pub use retention::Retention;

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
        if let Some(r) = &spec.code_ref
            && (r.sha256.to_string() != spec.code_hash || r.size != spec.size)
        {
            return Err(bad(format!(
                "code_ref ({}, {} bytes) is not the code the spec names ({}, {} bytes)",
                r.sha256, r.size, spec.code_hash, spec.size
            )));
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
