//! Function specs and code: specs read from the chain (cached briefly per function), code fetched
//! once per code hash (inline, from chunked blobs on chain, or by reference from a blob store),
//! verified against its SHA-256, and prepared once per (runtime, hash) by the executor.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::exec::{Executor, PreparedOf};
use crate::blobs::fetch::FetchError;
use crate::blobs::worker::WorkerBlobs;
use crate::config::runtimes::Runtime;
use crate::ledger::rpc::RpcError;
use crate::ledger::sync::LockExt;
use crate::node::{Node, get_value};
use crate::onchain::{AppPaths, FunctionSpec, MAX_CHUNK_CHARS};
use crate::sandbox::{FunctionCode, Sandbox, SandboxError, Tier};

/// Why a function cannot be made ready.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// The call must be answered `rejected` with this reason; nothing runs.
    #[error("{0}")]
    Rejected(String),
    /// The node could not be read; try again later.
    #[error("node: {0}")]
    Node(#[from] RpcError),
    /// The sandbox host failed while preparing.
    #[error("{0}")]
    Host(String),
    /// This worker cannot run it (no tier here for the runtime); another worker may.
    #[error("{0}")]
    Unservable(String),
}

/// A prepared function.
pub struct Ready<P> {
    /// The tier that prepared it.
    pub tier: Tier,
    /// What the tier prepared.
    pub prepared: P,
}

type Slot<P> = Arc<OnceCell<Arc<Ready<P>>>>;

/// Ready slots kept before the map is trimmed (see [`Library::ready`]).
const MAX_READY: usize = 256;
type SpecCache = HashMap<(String, String), (Instant, Option<Value>)>;

/// Specs and prepared code of every function the worker has run.
pub struct Library<N, E: Executor> {
    node: Arc<N>,
    exec: Arc<E>,
    spec_ttl: Duration,
    max_code_bytes: usize,
    blobs: WorkerBlobs,
    specs: Mutex<SpecCache>,
    ready: Mutex<HashMap<String, Slot<PreparedOf<E>>>>,
}

impl<N: Node, E: Executor> Library<N, E> {
    /// A library reading specs from `node` (cached `spec_ttl`) and preparing code with `exec`.
    pub fn new(
        node: Arc<N>,
        exec: Arc<E>,
        spec_ttl: Duration,
        max_code_bytes: usize,
    ) -> Library<N, E> {
        Library {
            node,
            exec,
            spec_ttl,
            max_code_bytes,
            blobs: WorkerBlobs::default(),
            specs: Mutex::new(HashMap::new()),
            ready: Mutex::new(HashMap::new()),
        }
    }

    /// Fetches code by reference (`code_ref`) as `blobs` fetches inputs: the same address rules,
    /// default store and streaming checks, up to its `max_code_bytes`.
    pub fn with_code_refs(mut self, blobs: WorkerBlobs) -> Library<N, E> {
        self.blobs = blobs;
        self
    }

    /// The executor.
    pub fn executor(&self) -> &Arc<E> {
        &self.exec
    }

    /// The spec of `app`/`function`: `Ok(None)` when no such function is deployed.
    pub async fn spec(
        &self,
        app: &AppPaths,
        function: &str,
    ) -> Result<Option<FunctionSpec>, CodeError> {
        let k = (app.app().to_owned(), function.to_owned());
        let cached = {
            let specs = self.specs.lock_or_recover();
            specs
                .get(&k)
                .filter(|(at, _)| at.elapsed() < self.spec_ttl)
                .map(|(_, v)| v.clone())
        };
        let raw = match cached {
            Some(v) => v,
            None => {
                let v = get_value(&*self.node, &app.function(function)).await?;
                let v = (!v.is_null()).then_some(v);
                let mut specs = self.specs.lock_or_recover();
                if specs.len() > 10_000 {
                    specs.clear();
                }
                specs.insert(k, (Instant::now(), v.clone()));
                v
            }
        };
        raw.map(|v| FunctionSpec::from_value(&v).map_err(|e| CodeError::Rejected(e.to_string())))
            .transpose()
    }

    /// The prepared code of `spec` for `runtime`, fetched and prepared once per code hash.
    pub async fn ready(
        &self,
        app: &AppPaths,
        runtime: &Runtime,
        spec: &FunctionSpec,
    ) -> Result<Arc<Ready<PreparedOf<E>>>, CodeError> {
        let tier = self.exec.tier_for(runtime).map_err(|e| code_error(&e))?;
        let slot = {
            let mut ready = self.ready.lock_or_recover();
            // Bounded: prepared code is cached (and evicted, least recently used first) by the
            // sandbox tiers; this map only deduplicates concurrent prepares, and an entry kept
            // here forever would pin compiled code the tier has evicted.
            if ready.len() >= MAX_READY {
                ready.retain(|_, s| Arc::strong_count(s) > 1);
                if ready.len() >= MAX_READY {
                    ready.clear();
                }
            }
            ready
                .entry(format!("{}:{}:{}", runtime.name, tier, spec.code_hash))
                .or_default()
                .clone()
        };
        let r = slot
            .get_or_try_init(|| async {
                let bytes =
                    fetch_code(&*self.node, &self.blobs, app, spec, self.max_code_bytes).await?;
                let code = FunctionCode::new(runtime.name.clone(), bytes);
                let t = Instant::now();
                let result = match self.exec.sandbox(tier) {
                    Ok(sandbox) => sandbox.prepare(&code).await,
                    Err(e) => Err(e),
                };
                // Failed prepares are recorded too: a refused module's cost must be visible.
                let outcome = match &result {
                    Ok(_) => "ok",
                    Err(SandboxError::Host { .. }) => "host_error",
                    Err(_) => "rejected",
                };
                metrics::histogram!(
                    "ain_sre_sandbox_prepare_seconds",
                    "tier" => tier.as_str(),
                    "outcome" => outcome
                )
                .record(t.elapsed().as_secs_f64());
                let prepared = result.map_err(|e| code_error(&e))?;
                Ok::<_, CodeError>(Arc::new(Ready { tier, prepared }))
            })
            .await?;
        Ok(r.clone())
    }
}

/// Sorts a sandbox error: a missing tier is this host's limit, not the call's fault.
fn code_error(e: &SandboxError) -> CodeError {
    match e {
        SandboxError::Host { .. } => CodeError::Host(e.to_string()),
        SandboxError::NoTier { .. } | SandboxError::Unavailable { .. } => {
            CodeError::Unservable(tier_message(e))
        }
        _ => CodeError::Rejected(tier_message(e)),
    }
}

fn tier_message(e: &SandboxError) -> String {
    match e {
        SandboxError::NoTier { runtime, why } => {
            format!(
                "tier not available: no sandbox tier on this worker can run runtime `{runtime}` ({why})"
            )
        }
        SandboxError::Unavailable { tier, why } => format!("tier not available: {tier}: {why}"),
        SandboxError::Rejected(why) => why.clone(),
        other => other.to_string(),
    }
}

/// Why a `code_ref` could not be used, as the call's rejection says it.
fn code_ref_error(e: FetchError) -> CodeError {
    CodeError::Rejected(match e {
        FetchError::Oversize { size, limit } => format!(
            "code_ref of {size} bytes exceeds the worker's limit of {limit} bytes for code by reference (blobs.max_code_mb)"
        ),
        // The fetch path is shared with input_ref; its messages name that.
        other => other.to_string().replacen("input_ref", "code_ref", 1),
    })
}

/// Fetches a function's code and checks it against `spec.code_hash`: inline or chunked code
/// from the chain (at most `max_bytes`), or a `code_ref` through `blobs` (at most its
/// `max_code_bytes`).
pub async fn fetch_code<N: Node>(
    node: &N,
    blobs: &WorkerBlobs,
    app: &AppPaths,
    spec: &FunctionSpec,
    max_bytes: usize,
) -> Result<Arc<[u8]>, CodeError> {
    let want = &spec.code_hash;
    if let Some(r) = &spec.code_ref {
        // `FunctionSpec::from_value` checked that the ref names `code_hash`; the fetch checks
        // size and hash while streaming.
        if r.sha256.to_string() != *want {
            return Err(CodeError::Rejected(format!(
                "code_ref {} is not the spec's code_hash {want}",
                r.sha256
            )));
        }
        return blobs.fetch_code(r).await.map_err(code_ref_error);
    }
    let matches = |b: &[u8]| hex::encode(Sha256::digest(b)) == *want;
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(code) = &spec.code {
        if matches(code.as_bytes()) {
            return Ok(Arc::from(code.as_bytes()));
        }
        if let Ok(bytes) = b64.decode(code)
            && matches(&bytes)
        {
            return Ok(bytes.into());
        }
        return Err(CodeError::Rejected(format!(
            "code hash mismatch: the inline code does not hash to {want}"
        )));
    }
    let n = spec.chunks.unwrap_or(0) as usize;
    let max_chunks = max_bytes.div_ceil(MAX_CHUNK_CHARS / 4 * 3) + 1;
    if n == 0 || n > max_chunks {
        return Err(CodeError::Rejected(format!(
            "function code of {n} chunks exceeds the worker's limit of {max_bytes} bytes"
        )));
    }
    let paths: Vec<String> = (0..n).map(|i| app.blob_chunk(want, i)).collect();
    let values = node.get_values(&paths).await?;
    let mut text = String::with_capacity(n * MAX_CHUNK_CHARS);
    for (i, v) in values.iter().enumerate() {
        match v.as_str() {
            Some(s) => text.push_str(s),
            None => {
                return Err(CodeError::Rejected(format!(
                    "code chunk {i} of {want} is missing"
                )));
            }
        }
    }
    let bytes = b64
        .decode(text.as_bytes())
        .map_err(|e| CodeError::Rejected(format!("code chunks of {want} are not base64: {e}")))?;
    if !matches(&bytes) {
        return Err(CodeError::Rejected(format!(
            "code hash mismatch: the chunks do not hash to {want}"
        )));
    }
    Ok(bytes.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::runtimes::RuntimeCatalog;
    use crate::node::fake::FakeNode;
    use crate::sandbox::{Invocation, Outcome, Sandbox};

    /// Refuses every module, as the WASM tier refuses one with a forbidden import.
    struct Refuser;

    impl Sandbox for Refuser {
        type Prepared = ();

        fn tier(&self) -> Tier {
            Tier::Wasm
        }

        async fn prepare(&self, _code: &FunctionCode) -> Result<(), SandboxError> {
            Err(SandboxError::Rejected("import refused".into()))
        }

        async fn run(&self, _prepared: &(), _call: Invocation) -> Result<Outcome, SandboxError> {
            unreachable!("nothing is prepared")
        }
    }

    impl Executor for Refuser {
        type Sandbox = Refuser;

        fn tier_for(&self, _runtime: &Runtime) -> Result<Tier, SandboxError> {
            Ok(Tier::Wasm)
        }

        fn sandbox(&self, _tier: Tier) -> Result<&Refuser, SandboxError> {
            Ok(self)
        }
    }

    #[test]
    fn failed_prepares_are_recorded_in_the_prepare_metric() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        metrics::with_local_recorder(&recorder, || {
            rt.block_on(async {
                let lib = Library::new(
                    Arc::new(FakeNode::new()),
                    Arc::new(Refuser),
                    Duration::from_secs(1),
                    1 << 20,
                );
                let code = "(module)";
                let spec = FunctionSpec {
                    runtime: "wasm".into(),
                    code_hash: hex::encode(Sha256::digest(code.as_bytes())),
                    size: code.len() as u64,
                    code: Some(code.into()),
                    chunks: None,
                    code_ref: None,
                    entry: None,
                    profile: None,
                    timeout_ms: None,
                    memory_mb: None,
                    finality: None,
                    failover_ms: None,
                    version: None,
                    public_stderr: None,
                    egress: None,
                    secrets: None,
                };
                let runtime = RuntimeCatalog::shipped().unwrap().resolve("wasm").unwrap();
                let app = AppPaths::new("app").unwrap();
                for _ in 0..2 {
                    let err = lib.ready(&app, &runtime, &spec).await.err().unwrap();
                    assert!(matches!(err, CodeError::Rejected(_)), "{err:?}");
                }
            })
        });
        let text = handle.render();
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("ain_sre_sandbox_prepare_seconds_count")
                    && l.contains("outcome=\"rejected\"")
            })
            .unwrap_or_else(|| panic!("no rejected prepares in:\n{text}"));
        assert!(line.ends_with(" 2"), "{line}");
    }
}
