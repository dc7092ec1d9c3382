//! Deploying a function: what is deployed and what it became ([`Deployment`], [`Deployed`]), the
//! kept versions of a function's spec ([`FunctionVersions`]), and the client's deploy and rollback
//! (app, rules, code inline or in chunked blobs, then the spec).

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ledger::now_ms;
use crate::ledger::tx::SimpleOp;
use crate::node::{Node, get_value};
use crate::onchain::{
    AppPaths, Callers, Finality, FunctionSpec, KEPT_VERSIONS, MAX_CHUNK_CHARS, MAX_INLINE_CHARS,
    Retention, WorkerPolicy, check_label, rules,
};

use super::{ChainClient, ClientError};

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
    /// Wall deadline of a call, ms (never above the profile's); the profile's when `None`.
    pub timeout_ms: Option<u64>,
    /// Fleet failover delay, ms (`FunctionSpec::failover_ms`); 2,000 when `None`.
    pub failover_ms: Option<u64>,
    /// Publish the stderr tail of successful calls too (`FunctionSpec::public_stderr`).
    pub public_stderr: bool,
    /// Where calls may connect through the worker's egress proxy (`FunctionSpec::egress`).
    pub egress: Option<crate::egress::EgressSpec>,
}

impl Deployment {
    /// `code` as `app`'s function `function` in `runtime`, with the defaults `ain-sre deploy`
    /// has: the runtime's default profile, any caller, approved workers only, the profile's
    /// timeout, the default failover, no public stderr, no egress. Set the rest with struct
    /// update syntax.
    pub fn new(
        app: impl Into<String>,
        function: impl Into<String>,
        runtime: impl Into<String>,
        code: impl Into<Vec<u8>>,
    ) -> Deployment {
        Deployment {
            app: app.into(),
            function: function.into(),
            runtime: runtime.into(),
            code: code.into(),
            profile: None,
            callers: Callers::Any,
            finality: None,
            workers: WorkerPolicy::Approved,
            timeout_ms: None,
            failover_ms: None,
            public_stderr: false,
            egress: None,
        }
    }
}

/// What a deployment wrote.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// `/apps/<app>/sre/functions/<fn>`.
    pub path: String,
    /// SHA-256 of the code, hex.
    pub code_hash: String,
    /// Blob chunks written (0 when inline or by reference).
    pub chunks: usize,
    /// Where the code is stored off chain (`deploy_by_ref`), `None` when it is on chain.
    pub code_ref: Option<crate::blobs::BlobRef>,
    /// Whether the app was created.
    pub created_app: bool,
    /// The version number of the spec written (1 for a first deploy).
    pub version: u64,
    /// The version it replaced, now kept under `config/versions` (`None` on a first deploy).
    pub previous: Option<u64>,
}

/// A function's current spec and the previous ones kept in state, as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunctionVersions {
    /// The current spec (`functions/<fn>`), `None` when the function does not exist.
    pub current: Option<Value>,
    /// Kept previous specs by version number (`config/versions/<fn>/<n>`).
    pub kept: std::collections::BTreeMap<u64, Value>,
}

impl FunctionVersions {
    /// Reads them (one `ain_get` of two values).
    pub async fn fetch<N: Node>(
        node: &N,
        app: &AppPaths,
        function: &str,
    ) -> Result<FunctionVersions, ClientError> {
        let v = node
            .get_values(&[app.function(function), app.versions(function)])
            .await?;
        let current = v.first().cloned().filter(|c| !c.is_null());
        let kept = match v.get(1) {
            Some(Value::Object(m)) => m
                .iter()
                .filter_map(|(k, v)| Some((k.parse::<u64>().ok()?, v.clone())))
                .collect(),
            _ => Default::default(),
        };
        Ok(FunctionVersions { current, kept })
    }

    /// The current spec's version: its `version`, 1 for a spec written before versions existed.
    pub fn current_version(&self) -> Option<u64> {
        self.current
            .as_ref()
            .map(|c| c.get("version").and_then(Value::as_u64).unwrap_or(1))
    }

    /// The version number the next deploy gets: one above every version seen.
    pub fn next_version(&self) -> u64 {
        let top = self.kept.keys().next_back().copied().unwrap_or(0);
        top.max(self.current_version().unwrap_or(0)) + 1
    }

    /// The writes that keep the current spec as a previous version and drop the oldest kept
    /// ones beyond `limit` (0: keep none), leaving out `also_drop` (a version being restored).
    pub fn archive_ops(
        &self,
        app: &AppPaths,
        function: &str,
        also_drop: Option<u64>,
        limit: u64,
    ) -> Vec<SimpleOp> {
        let current = self.current.as_ref().zip(self.current_version());
        let mut kept: Vec<u64> = self
            .kept
            .keys()
            .copied()
            .filter(|v| Some(*v) != also_drop)
            .chain(current.map(|(_, n)| n))
            .collect();
        kept.sort_unstable();
        kept.dedup();
        let excess = kept
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(usize::MAX));
        let (drop, keep) = kept.split_at(excess);
        let mut ops = Vec::new();
        if let Some((cur, n)) = current.filter(|(_, n)| keep.contains(n)) {
            ops.push(SimpleOp::set_value(app.version(function, n), cur.clone()));
        }
        for v in drop.iter().filter(|v| self.kept.contains_key(v)) {
            ops.push(SimpleOp::set_value(app.version(function, *v), Value::Null));
        }
        ops
    }
}

impl ChainClient {
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
        self.deploy_versioned(d, keep, KEPT_VERSIONS).await
    }

    /// [`ChainClient::deploy_keeping`] keeping `versions` previous specs of the function for
    /// rollbacks (0: none; each costs its spec's state bytes).
    pub async fn deploy_versioned(
        &self,
        d: &Deployment,
        keep: Retention,
        versions: u64,
    ) -> Result<Deployed, ClientError> {
        self.deploy_placed(d, None, keep, versions).await
    }

    /// [`ChainClient::deploy_versioned`] with the code stored off chain: uploaded (signed by
    /// this client's key) to the blob store at `blobs_base` before anything is written, and named
    /// by the spec's `code_ref` (its url that store's). For code too large for the chain, such
    /// as a component (a Python one is ~19 MB: no chunk txs, no staked state).
    pub async fn deploy_by_ref(
        &self,
        d: &Deployment,
        blobs_base: &str,
        keep: Retention,
        versions: u64,
    ) -> Result<Deployed, ClientError> {
        // Always sent: a redeploy restarts the blob's retention in the store.
        let r =
            crate::blobs::client::upload_refreshing(blobs_base, &self.key, d.code.clone()).await?;
        self.deploy_placed(d, Some(r), keep, versions).await
    }

    async fn deploy_placed(
        &self,
        d: &Deployment,
        code_ref: Option<crate::blobs::BlobRef>,
        keep: Retention,
        versions: u64,
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
            _ if code_ref.is_some() => (None, None),
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
        // The spec this deploy replaces stays reachable as a previous version; in its own tx,
        // since two specs with inline code do not fit one (10,000-byte tx limit).
        let versions_now = FunctionVersions::fetch(&self.rpc, &app, &d.function).await?;
        let archive = versions_now.archive_ops(&app, &d.function, None, versions);
        if !archive.is_empty() {
            self.send(archive).await?;
        }
        let version = versions_now.next_version();
        let spec = FunctionSpec {
            runtime: d.runtime.clone(),
            code_hash: code_hash.clone(),
            size: d.code.len() as u64,
            code,
            chunks,
            code_ref: code_ref.clone(),
            entry: None,
            profile: d.profile.clone(),
            timeout_ms: d.timeout_ms,
            memory_mb: None,
            finality: d.finality,
            failover_ms: d.failover_ms,
            public_stderr: d.public_stderr.then_some(true),
            egress: d.egress.clone(),
            // A redeploy keeps the function's secrets (their values stay under `secrets/`).
            secrets: versions_now
                .current
                .as_ref()
                .and_then(|c| c.get("secrets"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            version: Some(version),
        };
        let path = app.function(&d.function);
        self.send(vec![SimpleOp::set_value(path.clone(), spec.to_value())])
            .await?;
        Ok(Deployed {
            path,
            code_hash,
            chunks: chunks.unwrap_or(0) as usize,
            code_ref,
            created_app,
            version,
            previous: versions_now.current_version(),
        })
    }

    /// `deploy --rollback`: makes the newest kept version below the current one current again
    /// (the current spec is kept in its place, so a rollback can itself be undone by
    /// `functions show --version N` and a redeploy). Returns `(from, to)` version numbers.
    pub async fn rollback(&self, app: &str, function: &str) -> Result<(u64, u64), ClientError> {
        let app = AppPaths::new(app)?;
        check_label("function name", function)?;
        let versions = FunctionVersions::fetch(&self.rpc, &app, function).await?;
        let Some(from) = versions.current_version() else {
            return Err(ClientError::Rollback {
                function: function.to_owned(),
                why: format!("app `{}` has no such function", app.app()),
            });
        };
        let Some((&to, spec)) = versions.kept.range(..from).next_back() else {
            return Err(ClientError::Rollback {
                function: function.to_owned(),
                why: format!(
                    "no version before {from} is kept (deploy keeps the last {KEPT_VERSIONS} unless --versions says otherwise)"
                ),
            });
        };
        FunctionSpec::from_value(spec)?;
        // No pruning here: a rollback only moves specs; the next deploy trims to its limit.
        self.send(versions.archive_ops(&app, function, Some(to), u64::MAX))
            .await?;
        self.send(vec![
            SimpleOp::set_value(app.function(function), spec.clone()),
            SimpleOp::set_value(app.version(function, to), Value::Null),
        ])
        .await?;
        Ok((from, to))
    }
}
