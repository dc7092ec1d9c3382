//! The chain the echo benchmarks (`e2e`, `fleet`) run against: the built-in chain in this
//! process with every call kept, the WASM echo deployed under one app, workers approved and
//! registered for it, and the acceptance of every response watched, so a call's latency can be
//! taken from its request's acceptance to its response's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

use crate::client::{ChainClient, Deployment};
use crate::ledger::crypto::{Address, PrivateKey};
use crate::ledger::devnet::config::DEFAULT_VALIDATOR_KEY;
use crate::ledger::devnet::{Devnet, DevnetConfig, DevnetHandle, StateBudgets};
use crate::ledger::events::{
    ClientEvent, EventClient, EventHandle, EventPayload, EventSource, EventsConfig, Filter,
};
use crate::ledger::sync::LockExt;
use crate::onchain::{Retention, WorkerEntry};

const ECHO_WAT: &str = include_str!("../../../../examples/functions/echo.wat");

/// The echo's deployment limits the benchmark sets (`None`: the chain's defaults).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EchoLimits {
    /// Wall time of one call.
    pub(crate) timeout_ms: Option<u64>,
    /// Delay before the next-ranked worker takes a call over.
    pub(crate) failover_ms: Option<u64>,
}

/// The running chain with the echo deployed; [`shutdown`](Self::shutdown) ends it.
pub(crate) struct EchoChain {
    /// The chain.
    pub(crate) dev: DevnetHandle,
    /// The validator's client (it deployed the echo and approves workers).
    pub(crate) admin: ChainClient,
    /// JSON-RPC URL.
    pub(crate) rpc: String,
    /// Event-handler URL.
    pub(crate) events: String,
    /// Calls sent and their responses' acceptance.
    pub(crate) responses: Responses,
    watcher: EventHandle,
}

impl EchoChain {
    /// Starts the chain, deploys the echo under `app` with `limits`, and starts watching the
    /// responses.
    pub(crate) async fn start(app: &'static str, limits: EchoLimits) -> anyhow::Result<Self> {
        // Every call stays in state and the free tier holds them all: ~15,500 calls of ~3.5 KB
        // would outgrow the default 25 MB free tier, and `deploy`'s default retention (1,000
        // calls) would prune queued requests before a worker is back to answer them. The
        // benchmarks measure the worker, not those limits.
        let dev = Devnet::start(DevnetConfig {
            budgets: StateBudgets::with_limit(100_000_000_000.0),
            ..DevnetConfig::default()
        })
        .await?;
        let (rpc, events) = (dev.rpc_url(), dev.events_url());
        let admin =
            ChainClient::connect(&rpc, PrivateKey::from_hex(DEFAULT_VALIDATOR_KEY)?).await?;
        admin
            .deploy_keeping(
                &Deployment {
                    timeout_ms: limits.timeout_ms,
                    failover_ms: limits.failover_ms,
                    ..Deployment::new(app, "echo", "wasm", ECHO_WAT.as_bytes().to_vec())
                },
                Retention::Unbounded,
            )
            .await?;
        let responses = Responses {
            app,
            waiters: Arc::default(),
        };
        let watcher = responses.watch(&events).await?;
        Ok(EchoChain {
            dev,
            admin,
            rpc,
            events,
            responses,
            watcher,
        })
    }

    /// A new worker identity, approved for the app and registered (WASM, capacity 64): its
    /// address and its key in hex, for the `ain-sre run` child that will serve as it.
    pub(crate) async fn add_worker(&self) -> anyhow::Result<(Address, String)> {
        let key = PrivateKey::generate();
        let key_hex = hex::encode(key.secret_bytes().as_ref());
        let worker = ChainClient::connect(&self.rpc, key).await?;
        let app = self.responses.app;
        self.admin.approve_worker(app, &worker.address()).await?;
        worker
            .register(
                app,
                &WorkerEntry {
                    runtimes: [("wasm".to_owned(), true)].into_iter().collect(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    capacity: 64,
                    profiles: Default::default(),
                    egress: false,
                },
            )
            .await?;
        Ok((worker.address(), key_hex))
    }

    /// Stops watching and shuts the chain down.
    pub(crate) async fn shutdown(self) {
        self.watcher.shutdown();
        self.dev.shutdown().await;
    }
}

/// The calls in flight, each waiting for its response's acceptance. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Responses {
    app: &'static str,
    waiters: Arc<Mutex<HashMap<String, oneshot::Sender<Instant>>>>,
}

impl Responses {
    /// Sends echo call number `n` through `client`; returns its id, when its request tx was
    /// accepted, and the receiver of when its response was.
    pub(crate) async fn send(
        &self,
        client: &ChainClient,
        n: usize,
    ) -> anyhow::Result<(String, Instant, oneshot::Receiver<Instant>)> {
        let id = crate::client::new_call_id();
        let (tx, rx) = oneshot::channel();
        self.waiters.lock_or_recover().insert(id.clone(), tx);
        let op = crate::ledger::tx::SimpleOp::set_value(
            format!("/apps/{}/sre/calls/echo/{id}/request", self.app),
            serde_json::json!({"input": format!("{{\"n\":{n}}}")}),
        );
        client.send(vec![op]).await?;
        Ok((id, Instant::now(), rx))
    }

    /// Subscribes to the responses' VALUE_CHANGED events (written by a user tx: the worker's)
    /// and completes each waiter as its event arrives.
    async fn watch(&self, events: &str) -> anyhow::Result<EventHandle> {
        let (handle, mut rx) =
            EventClient::connect(EventsConfig::new(events, format!("bench-{}", self.app)))?;
        handle
            .register(Filter::value_changed(
                "resp",
                format!("/apps/{}/sre/calls/$fn/$call_id/response", self.app),
                Some(EventSource::User),
            )?)
            .await?;
        let waiters = self.waiters.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if let ClientEvent::Event(e) = ev
                    && let EventPayload::ValueChanged(vc) = e.payload
                    && let Some(id) = vc.params.get("call_id")
                    && let Some(tx) = waiters.lock_or_recover().remove(id)
                {
                    let _ = tx.send(Instant::now());
                }
            }
        });
        Ok(handle)
    }
}
