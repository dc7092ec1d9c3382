//! The client side of the conventions: creating an app, deploying a function (rules, code, spec),
//! registering a worker, and making a call and waiting for its response. Used by `ain-sre deploy`,
//! `register`, `call`, `dev`, the benchmark and the tests.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod deploy;

pub use deploy::{Deployed, Deployment, FunctionVersions};

use serde_json::{Value, json};

use crate::ledger::crypto::{Address, Hash, PrivateKey};
use crate::ledger::now_ms;
use crate::ledger::rpc::{RpcClient, RpcError, codes};
use crate::ledger::tx::{NONCE_UNORDERED, Operation, SimpleOp, TxBody};
use crate::node::{Node, get_value};
use crate::onchain::{
    AppPaths, ConventionError, Request, Retention, WorkerEntry, WorkerPolicy, check_label,
};

/// Errors of client operations.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached or answered badly.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The node refused a transaction.
    #[error("transaction refused ({}): {message}", crate::ledger::codes::describe(*code))]
    Refused {
        /// The node's code.
        code: Option<i64>,
        /// Its message.
        message: String,
    },
    /// A name or value does not follow the conventions.
    #[error(transparent)]
    Convention(#[from] ConventionError),
    /// The app exists and this key is not its admin.
    #[error("app `{app}` exists and {addr} is not its admin")]
    NotAdmin {
        /// The app.
        app: String,
        /// This key's address.
        addr: Address,
    },
    /// The app's rules refused this worker's registry entry.
    #[error(
        "app `{app}` refused {addr} as a worker: the app admin must approve it first (ain-sre workers add --app {app} {addr})"
    )]
    NotApproved {
        /// The app.
        app: String,
        /// This key's address.
        addr: Address,
    },
    /// No response in time.
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// The code could not be uploaded to the blob store (deploy by reference).
    #[error(transparent)]
    Upload(#[from] crate::blobs::client::UploadError),
    /// `deploy --rollback` has nothing to go back to.
    #[error("cannot roll back `{function}`: {why}")]
    Rollback {
        /// The function.
        function: String,
        /// Why not.
        why: String,
    },
}

/// A key and a node, for writing.
#[derive(Clone)]
pub struct ChainClient {
    rpc: RpcClient,
    key: Arc<PrivateKey>,
    chain_id: u64,
}

impl ChainClient {
    /// A client for `url` signing with `key`; asks the node for its chain id.
    pub async fn connect(url: &str, key: PrivateKey) -> Result<ChainClient, ClientError> {
        let rpc = RpcClient::new(url)?;
        let chain_id = rpc.chain_id().await?;
        Ok(ChainClient {
            rpc,
            key: Arc::new(key),
            chain_id,
        })
    }

    /// This client's address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The JSON-RPC client.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// Signs a tx writing `ops` (one op, or a `SET` of several) with nonce -1.
    pub fn sign(
        &self,
        ops: Vec<SimpleOp>,
    ) -> Result<(Value, crate::ledger::crypto::Signature, Hash), ClientError> {
        let op = if ops.len() == 1 {
            Operation::Simple(
                ops.into_iter()
                    .next()
                    .ok_or_else(|| ClientError::Sign("no op".into()))?,
            )
        } else {
            Operation::set(ops).map_err(|e| ClientError::Sign(e.to_string()))?
        };
        let body = TxBody::new(op, NONCE_UNORDERED, now_ms());
        let signed = body
            .sign(&self.key, self.chain_id)
            .map_err(|e| ClientError::Sign(e.to_string()))?;
        let sig = crate::ledger::crypto::Signature::parse(&signed.signature)
            .map_err(|e| ClientError::Sign(e.to_string()))?;
        let v =
            serde_json::to_value(&signed.tx_body).map_err(|e| ClientError::Sign(e.to_string()))?;
        Ok((v, sig, signed.hash))
    }

    /// Sends a tx writing `ops` until accepted; transient refusals are retried for up to 30 s.
    pub async fn send(&self, ops: Vec<SimpleOp>) -> Result<Hash, ClientError> {
        let (body, sig, hash) = self.sign(ops)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut delay = Duration::from_millis(20);
        loop {
            let transient = match self.rpc.send(&body, &sig).await {
                Ok(r) if r.is_success() => return Ok(hash),
                Ok(r) if r.failure_code() == Some(codes::TX_ALREADY_RECEIVED) => return Ok(hash),
                Ok(r) if r.is_transient_failure() => format!("{:?}", r.failure_code()),
                Ok(r) => {
                    return Err(ClientError::Refused {
                        code: r.failure_code(),
                        message: r.message().unwrap_or_default().to_owned(),
                    });
                }
                Err(e) if e.is_transient() => e.to_string(),
                Err(e) => return Err(e.into()),
            };
            if Instant::now() > deadline {
                return Err(ClientError::Refused {
                    code: None,
                    message: format!("still refused after 30 s: {transient}"),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }

    /// Approves `worker` in `app` (admin only): it may then register and answer.
    pub async fn approve_worker(&self, app: &str, worker: &Address) -> Result<Hash, ClientError> {
        let app = AppPaths::new(app)?;
        self.send(vec![SimpleOp::set_value(
            app.allowed_worker(worker),
            Value::Bool(true),
        )])
        .await
    }

    /// Withdraws `worker`'s approval in `app` and deletes its registry entry (admin only): the
    /// chain refuses its answers from the next block on.
    pub async fn remove_worker(&self, app: &str, worker: &Address) -> Result<Hash, ClientError> {
        let app = AppPaths::new(app)?;
        self.send(vec![
            SimpleOp::set_value(app.allowed_worker(worker), Value::Null),
            SimpleOp::set_value(app.worker(worker), Value::Null),
        ])
        .await
    }

    /// Writes this key's worker registry entry in `app`.
    pub async fn register(&self, app: &str, entry: &WorkerEntry) -> Result<Hash, ClientError> {
        let app = AppPaths::new(app)?;
        let mut v = serde_json::to_value(entry).map_err(|e| ClientError::Sign(e.to_string()))?;
        // The key `secrets set` encrypts this worker's copies to (checked against the address).
        v["public_key"] = Value::from(hex::encode(self.key.public_key()));
        match self
            .send(vec![SimpleOp::set_value(app.worker(&self.address()), v)])
            .await
        {
            Err(ClientError::Refused {
                code: Some(codes::EVAL_RULE_FALSE_WRITE_RULE_EVAL),
                ..
            }) => Err(ClientError::NotApproved {
                app: app.app().to_owned(),
                addr: self.address(),
            }),
            other => other,
        }
    }

    /// The signing key's public key (64 bytes: x ‖ y).
    pub fn public_key(&self) -> [u8; 64] {
        self.key.public_key()
    }

    /// The signing key, for opening secrets encrypted to it (`secrets`, `workers add`).
    pub fn secret_key(&self) -> secp256k1::SecretKey {
        secp256k1::SecretKey::from_secret_bytes(*self.key.secret_bytes()).expect("a valid key")
    }

    /// Writes a request with a fresh call id; returns `(call_id, request tx hash)`.
    pub async fn call(
        &self,
        app: &str,
        function: &str,
        input: &str,
    ) -> Result<(String, Hash), ClientError> {
        let app = AppPaths::new(app)?;
        check_label("function name", function)?;
        let call_id = new_call_id();
        let hash = self
            .send(vec![SimpleOp::set_value(
                app.request(function, &call_id),
                Request::value(input),
            )])
            .await?;
        Ok((call_id, hash))
    }
}

/// Roughly what one small call leaves in state: the request and the response with its receipt,
/// in the node's tree bytes. A real ain-blockchain 1.6.0 node charged 580 bytes for an echo
/// request and 4,060 for its response (`gas_amount_total.state`), and an unstaked app's 83,404
/// free bytes held exactly 17 such calls; the built-in chain measures the same.
pub const CALL_STATE_BYTES: u64 = 4_700;

/// An app's state usage, from `ain_getStateUsage` (ain-node-semantics.md §1.6).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateUsage {
    /// Tree bytes the app uses (values, rules, functions and owners).
    pub tree_bytes: f64,
    /// Bytes it may still add: a staked app's own share, or, for an unstaked app, what is left
    /// of the free tier that all unstaked apps share.
    pub available_bytes: f64,
    /// The app's stake (0 = in the free tier).
    pub stake: f64,
}

impl StateUsage {
    /// What `deploy` warns about: an app whose calls, at this retention, would need more than it
    /// has left: for an unstaked app, what is left of the shared free tier (where the node
    /// refuses writes with 10905); for a staked one, its share of the apps budget (10907: a
    /// real node gave an app staked 10 of 1,110 about 73 KB, far from 1,000 calls).
    pub fn free_tier_warning(&self, app: &str, keep: Retention) -> Option<String> {
        let left = self.available_bytes;
        let need = match keep {
            Retention::Keep(n) => (n * CALL_STATE_BYTES) as f64,
            Retention::Unbounded => f64::INFINITY,
        };
        if need <= left {
            return None;
        }
        let how = match keep {
            Retention::Keep(n) => format!(
                "keeping {n} calls needs about {} bytes ({CALL_STATE_BYTES} per call)",
                need as u64
            ),
            Retention::Unbounded => "with --keep 0 its state grows without limit".to_owned(),
        };
        if self.stake > 0.0 {
            return Some(format!(
                "warning: app `{app}` is staked ({}) and its share of the apps budget leaves {} bytes; {how}, so the node will refuse its calls with 10907 (Exceeded state budget limit for app) before then. Stake more (ain-sre deploy ... --stake AMOUNT) or keep fewer calls (--keep N).",
                crate::ledger::json::js_f64(self.stake),
                left as u64
            ));
        }
        Some(format!(
            "warning: app `{app}` is not staked: it shares the free tier with every unstaked app and {} bytes of it are left; {how}, so the node will refuse its calls with 10905 (Exceeded state budget limit for free tier) before then. Stake it out of the free tier (ain-sre deploy ... --stake AMOUNT) or keep fewer calls (--keep N).",
            left as u64
        ))
    }
}

impl ChainClient {
    /// `ain_getStateUsage` for `app`; `None` if the node does not answer it.
    pub async fn state_usage(&self, app: &str) -> Result<Option<StateUsage>, ClientError> {
        let mut params = serde_json::Map::new();
        params.insert("app_name".into(), Value::from(app));
        let v = self.rpc.call("ain_getStateUsage", params).await?.result;
        let num = |a: &str, b: &str| v.get(a).and_then(|x| x.get(b)).and_then(Value::as_f64);
        Ok(
            match (num("usage", "tree_bytes"), num("available", "tree_bytes")) {
                (Some(tree_bytes), Some(available_bytes)) => Some(StateUsage {
                    tree_bytes,
                    available_bytes,
                    stake: num("staking", "app").unwrap_or(0.0),
                }),
                _ => None,
            },
        )
    }

    /// Stakes `amount` of this key's balance on `app`
    /// (`/staking/<app>/<addr>/0/stake/<record>/value`, the node's `_stake`), which takes the
    /// app out of the free tier: it then has its stake's share of the apps budget.
    pub async fn stake(&self, app: &str, amount: f64) -> Result<Hash, ClientError> {
        let app = AppPaths::new(app)?;
        let path = format!(
            "/staking/{}/{}/0/stake/{}/value",
            app.app(),
            self.address(),
            now_ms()
        );
        self.send(vec![SimpleOp::set_value(path, json!(amount))])
            .await
    }
}

/// A fresh call id: milliseconds and 64 random bits.
pub fn new_call_id() -> String {
    format!("{}-{:016x}", now_ms(), rand::random::<u64>())
}

/// Polls for the response of a call until it appears or `timeout` passes.
pub async fn wait_response<N: Node>(
    node: &N,
    app: &str,
    function: &str,
    call_id: &str,
    timeout: Duration,
) -> Result<Value, ClientError> {
    let app = AppPaths::new(app)?;
    let path = app.response(function, call_id);
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(5);
    loop {
        match get_value(node, &path).await {
            Ok(v) if !v.is_null() => return Ok(v),
            Ok(_) => {}
            Err(e) if e.is_transient() => {}
            Err(e) => return Err(e.into()),
        }
        if Instant::now() >= deadline {
            return Err(ClientError::Timeout(timeout));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

/// Who may act as a worker of an app, as the chain's rules decide it (`config/workers`,
/// `allowed_workers`, `workers`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppWorkers {
    /// The app's policy.
    pub policy: WorkerPolicy,
    /// Addresses the admin approved.
    pub approved: std::collections::BTreeSet<Address>,
    /// Registry entries, by address (runtimes, version, capacity).
    pub registered: std::collections::BTreeMap<Address, Value>,
}

impl AppWorkers {
    /// Reads the app's policy, approved set and registry (one `ain_get` of three values).
    pub async fn fetch<N: Node>(node: &N, app: &str) -> Result<AppWorkers, ClientError> {
        let p = AppPaths::new(app)?;
        let v = node
            .get_values(&[p.worker_policy(), p.allowed_workers(), p.workers()])
            .await?;
        let field = |i: usize| v.get(i).cloned().unwrap_or(Value::Null);
        let by_address = |v: Value| -> Vec<(Address, Value)> {
            match v {
                Value::Object(m) => m
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.parse::<Address>().ok()?, v)))
                    .collect(),
                _ => Vec::new(),
            }
        };
        Ok(AppWorkers {
            policy: WorkerPolicy::from_value(&field(0)),
            approved: by_address(field(1))
                .into_iter()
                .filter(|(_, v)| *v == Value::Bool(true))
                .map(|(a, _)| a)
                .collect(),
            registered: by_address(field(2)).into_iter().collect(),
        })
    }

    /// True when the app's rules let `worker` answer: approved, or registered in an open app.
    pub fn may_answer(&self, worker: &Address) -> bool {
        self.approved.contains(worker)
            || (self.policy == WorkerPolicy::Any && self.registered.contains_key(worker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::devnet::exec::budget::usage_bytes;
    use crate::ledger::devnet::state::{State, TreeKind};
    use crate::onchain::KEPT_VERSIONS;
    use crate::receipt::{CallFacts, CallResult, NODE_TX_BYTES_LIMIT, build_response};
    use crate::sandbox::{Outcome, Usage};

    /// Writes `value` at a `/`-separated path of the values tree.
    fn put(state: &mut State, path: &str, value: &Value) {
        let labels: Vec<&str> = path.split('/').filter(|l| !l.is_empty()).collect();
        state.write(TreeKind::Values, &labels, value);
    }

    /// Redeploys keep the current spec as a previous version and at most [`KEPT_VERSIONS`] of
    /// them; a rollback drops the version it restores; numbering never reuses a version.
    #[test]
    fn versions_are_kept_bounded_and_numbered_upwards() {
        let app = AppPaths::new("a").unwrap();
        let spec = |n: u64| json!({"runtime": "wasm", "version": n});
        let ops_of = |ops: Vec<SimpleOp>| -> Vec<(String, Value)> {
            ops.into_iter()
                .map(|o| {
                    let v = serde_json::to_value(&o).unwrap();
                    (v["ref"].as_str().unwrap().to_owned(), v["value"].clone())
                })
                .collect()
        };
        let first = FunctionVersions::default();
        assert_eq!(
            (
                first.next_version(),
                first.archive_ops(&app, "f", None, KEPT_VERSIONS).len()
            ),
            (1, 0)
        );
        // A spec written before versions existed counts as version 1.
        let legacy = FunctionVersions {
            current: Some(json!({"runtime": "wasm"})),
            kept: Default::default(),
        };
        assert_eq!(legacy.next_version(), 2);
        assert_eq!(
            ops_of(legacy.archive_ops(&app, "f", None, KEPT_VERSIONS)),
            vec![(
                "/apps/a/sre/config/versions/f/1".to_owned(),
                json!({"runtime": "wasm"})
            )]
        );
        let full = FunctionVersions {
            current: Some(spec(4)),
            kept: (1..=3).map(|n| (n, spec(n))).collect(),
        };
        assert_eq!(full.next_version(), 5);
        assert_eq!(
            ops_of(full.archive_ops(&app, "f", None, KEPT_VERSIONS)),
            vec![
                ("/apps/a/sre/config/versions/f/4".to_owned(), spec(4)),
                ("/apps/a/sre/config/versions/f/1".to_owned(), Value::Null),
            ],
            "version 4 is kept, 1 (the oldest beyond {KEPT_VERSIONS}) goes"
        );
        // Rolling back from 4 to 3: 4 is kept, 3 becomes current, nothing else goes.
        assert_eq!(
            ops_of(full.archive_ops(&app, "f", Some(3), KEPT_VERSIONS)),
            vec![("/apps/a/sre/config/versions/f/4".to_owned(), spec(4))]
        );
        // --versions 0: the current spec is not kept, and earlier kept ones go.
        assert_eq!(
            ops_of(full.archive_ops(&app, "f", None, 0)),
            (1..=3)
                .map(|n| (format!("/apps/a/sre/config/versions/f/{n}"), Value::Null))
                .collect::<Vec<_>>()
        );
        // After that rollback (current 3, kept 1, 2, 4) the next deploy is 5, not 4.
        let rolled = FunctionVersions {
            current: Some(spec(3)),
            kept: [1, 2, 4].into_iter().map(|n| (n, spec(n))).collect(),
        };
        assert_eq!(rolled.next_version(), 5);
    }

    /// Numbers a real 1-node chain reported for deploys: an unstaked app with 83,404 free bytes
    /// left; an app staked 10 of 1,110 (73,041 bytes left of its share); one staked 1,000
    /// alone (9,883,404 left).
    #[test]
    fn deploy_warns_when_the_retention_will_not_fit_staked_or_not() {
        let usage = |stake: f64, available_bytes: f64| StateUsage {
            tree_bytes: 16_596.0,
            available_bytes,
            stake,
        };
        let keep = Retention::Keep(1000);
        let free = usage(0.0, 83_404.0).free_tier_warning("a", keep).unwrap();
        assert!(
            free.contains("is not staked") && free.contains("10905"),
            "{free}"
        );
        let small = usage(10.0, 73_041.0).free_tier_warning("a", keep).unwrap();
        assert!(
            small.contains("is staked (10)")
                && small.contains("leaves 73041 bytes")
                && small.contains("10907"),
            "{small}"
        );
        assert_eq!(
            usage(1000.0, 9_883_404.0).free_tier_warning("a", keep),
            None
        );
        assert_eq!(
            usage(10.0, 73_041.0).free_tier_warning("a", Retention::Keep(10)),
            None
        );
        assert!(
            usage(1000.0, 9_883_404.0)
                .free_tier_warning("a", Retention::Unbounded)
                .is_some()
        );
    }

    /// The estimate `deploy` warns with covers a small call as the node measures it (the
    /// request `call` writes, the response a worker writes for it), without overstating it
    /// by more than a tenth: it must follow the receipt when that grows.
    #[test]
    fn call_state_bytes_covers_a_small_call() {
        let app = AppPaths::new("myapp").unwrap();
        let input = r#"{"i":18}"#;
        let call_id = new_call_id();
        let mut state = State::default();
        put(
            &mut state,
            &app.request("echo", "earlier"),
            &Request::value(input),
        );
        let before = usage_bytes(&state, &["apps", "myapp"]);
        put(
            &mut state,
            &app.request("echo", &call_id),
            &Request::value(input),
        );
        let facts = CallFacts {
            request_tx: Hash([7; 32]),
            worker: "0xa9e6Ff8125c129fB3358D3F8f78385233Cc8208F"
                .parse()
                .unwrap(),
            code_hash: "4d38b83325fabd8b42bb7892532a28f0ef0f6e73e49ccd44f59f0672a8651201",
            runtime: "wasm",
            sandbox: "wasm",
            profile: "default",
            input: input.as_bytes(),
            started_at: 1_796_600_543_710,
            queued_us: 23_544,
            finished_at: 1_796_600_543_711,
            timeout_limit: None,
            egress: None,
            refs: &crate::blobs::worker::Refs::NONE,
        };
        let out = Outcome::Completed {
            exit_code: 0,
            stdout: input.as_bytes().to_vec(),
            stderr_tail: vec![],
            usage: Usage {
                wall_us: 646,
                cpu_us: 565,
                mem_peak_kb: 128,
            },
        };
        let path = app.response("echo", &call_id);
        let response = build_response(&facts, &CallResult::Ran(out), &path, NODE_TX_BYTES_LIMIT);
        put(&mut state, &path, &response);
        let call = usage_bytes(&state, &["apps", "myapp"]) - before;
        assert!(
            call <= CALL_STATE_BYTES && CALL_STATE_BYTES * 10 <= call * 11,
            "a small call takes {call} bytes; CALL_STATE_BYTES is {CALL_STATE_BYTES}"
        );
    }
}
