//! The client side of the conventions: creating an app, deploying a function (rules, code, spec),
//! registering a worker, and making a call and waiting for its response. Used by `ain-sre deploy`,
//! `register`, `call`, `dev`, the benchmark and the tests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ledger::crypto::{Address, Hash, PrivateKey};
use crate::ledger::now_ms;
use crate::ledger::rpc::{RpcClient, RpcError, codes};
use crate::ledger::tx::{NONCE_UNORDERED, Operation, SimpleOp, TxBody};
use crate::node::{Node, get_value};
use crate::onchain::{
    AppPaths, Callers, ConventionError, Finality, FunctionSpec, MAX_CHUNK_CHARS, MAX_INLINE_CHARS,
    Request, Retention, WorkerEntry, WorkerPolicy, check_label, rules,
};

/// Errors of client operations.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached or answered badly.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The node refused a transaction.
    #[error("transaction refused (code {code:?}): {message}")]
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
}

/// What to deploy.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// App name.
    pub app: String,
    /// Function name.
    pub function: String,
    /// Runtime name.
    pub runtime: String,
    /// The code bytes.
    pub code: Vec<u8>,
    /// Profile name.
    pub profile: Option<String>,
    /// Who may call.
    pub callers: Callers,
    /// When workers may run calls.
    pub finality: Option<Finality>,
    /// Which workers may register and answer (written to `config/workers` for the whole app).
    pub workers: WorkerPolicy,
}

/// What a deployment wrote.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// `/apps/<app>/sre/functions/<fn>`.
    pub path: String,
    /// SHA-256 of the code, hex.
    pub code_hash: String,
    /// Blob chunks written (0 when inline).
    pub chunks: usize,
    /// Whether the app was created.
    pub created_app: bool,
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

    /// Creates the app with this key as admin unless it exists; fails if it exists and this key
    /// is not an admin. Returns whether it was created.
    pub async fn ensure_app(&self, app: &AppPaths) -> Result<bool, ClientError> {
        let me = self.address();
        let admins = get_value(&self.rpc, &app.admin_config()).await?;
        if !admins.is_null() {
            return if admins.get(me.to_string()) == Some(&Value::Bool(true)) {
                Ok(false)
            } else {
                Err(ClientError::NotAdmin {
                    app: app.app().to_owned(),
                    addr: me,
                })
            };
        }
        let value = json!({"admin": {me.to_string(): true}});
        self.send(vec![SimpleOp::set_value(app.create(now_ms()), value)])
            .await?;
        Ok(true)
    }

    /// Deploys a function: app, rules, code (inline or chunked blobs), then the spec.
    pub async fn deploy(&self, d: &Deployment) -> Result<Deployed, ClientError> {
        self.deploy_keeping(d, Retention::DEFAULT).await
    }

    /// [`ChainClient::deploy`] with the function's retention: the rule state that makes the
    /// node prune the oldest calls ([`Retention`]).
    pub async fn deploy_keeping(
        &self,
        d: &Deployment,
        keep: Retention,
    ) -> Result<Deployed, ClientError> {
        let app = AppPaths::new(&d.app)?;
        check_label("function name", &d.function)?;
        let created_app = self.ensure_app(&app).await?;
        let mut rule_ops: Vec<SimpleOp> = rules::app_rules(&app)
            .into_iter()
            .map(|(p, r)| SimpleOp::set_rule(p, rules::rule_value(&r)))
            .collect();
        // Before the request/response rules below it: a rule written where no `.rule` exists
        // yet replaces the whole rule subtree there (ain-node-semantics.md §2.4).
        rule_ops.push(SimpleOp::set_rule(
            rules::retention_path(&app, &d.function),
            rules::retention_value(keep),
        ));
        for (p, r) in rules::function_rules(&app, &d.function, &d.callers) {
            rule_ops.push(SimpleOp::set_rule(p, rules::rule_value(&r)));
        }
        // In the same tx as the rules, so the app is never open by accident in between.
        rule_ops.push(SimpleOp::set_value(
            app.worker_policy(),
            Value::from(d.workers.as_str()),
        ));
        self.send(rule_ops).await?;

        let code_hash = hex::encode(Sha256::digest(&d.code));
        let b64 = base64::engine::general_purpose::STANDARD;
        let text = std::str::from_utf8(&d.code)
            .ok()
            .filter(|t| t.len() <= MAX_INLINE_CHARS);
        let (code, chunks) = match text {
            Some(t) => (Some(t.to_owned()), None),
            None => {
                let enc = b64.encode(&d.code);
                if enc.len() <= MAX_INLINE_CHARS {
                    (Some(enc), None)
                } else {
                    let parts: Vec<&str> = enc
                        .as_bytes()
                        .chunks(MAX_CHUNK_CHARS)
                        .map(|c| std::str::from_utf8(c).unwrap_or_default())
                        .collect();
                    for (i, part) in parts.iter().enumerate() {
                        self.send(vec![SimpleOp::set_value(
                            app.blob_chunk(&code_hash, i),
                            Value::from(*part),
                        )])
                        .await?;
                    }
                    (None, Some(parts.len() as u64))
                }
            }
        };
        let spec = FunctionSpec {
            runtime: d.runtime.clone(),
            code_hash: code_hash.clone(),
            size: d.code.len() as u64,
            code,
            chunks,
            entry: None,
            profile: d.profile.clone(),
            timeout_ms: None,
            memory_mb: None,
            finality: d.finality,
        };
        let path = app.function(&d.function);
        self.send(vec![SimpleOp::set_value(path.clone(), spec.to_value())])
            .await?;
        Ok(Deployed {
            path,
            code_hash,
            chunks: chunks.unwrap_or(0) as usize,
            created_app,
        })
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
        let v = serde_json::to_value(entry).map_err(|e| ClientError::Sign(e.to_string()))?;
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

/// Roughly what one call leaves in state: the request and the response with its receipt
/// (~3.5 KB of the node's tree bytes, measured on the built-in chain and a real node).
pub const CALL_STATE_BYTES: u64 = 3_500;

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
    /// What `deploy` warns about: an unstaked app whose calls, at this retention, would need
    /// more than is left of the shared free tier (where the node refuses writes with 10905).
    pub fn free_tier_warning(&self, app: &str, keep: Retention) -> Option<String> {
        if self.stake > 0.0 {
            return None;
        }
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
