//! The running devnet: the chain behind one mutex, the JSON-RPC server, the event-handler server
//! and the block producer, as tasks under one cancellation token.
//!
//! ```text
//!  POST /json-rpc --> rpc (protoVer, envelope) --> methods / send --lock--> Chain
//!                                                        | accept: pool entry --> Persister --fsync--> answer
//!  producer (interval) --draft (lock)--> build (no lock) --> Persister --> commit (lock) --> events
//!  events --> EventHandler (WebSocket, port 5100) <-- TxLookup (lock)
//! ```

use ain_ledger::sync::LockExt;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::serve::ListenerExt;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::chain::{self, Chain, ChainError, ChainParams};
use super::config::DevnetConfig;
use super::event_handler::{ChainEvent, EventHandler, TxLookup};
use super::exec::ExecParams;
use super::perm::RuleCache;
use super::store::{Persister, Store};
use ain_ledger::crypto::{Address, Hash};

#[cfg(any(test, feature = "test-util"))]
mod harness;
mod methods;
pub mod rpc;
mod send;

#[cfg(any(test, feature = "test-util"))]
#[doc(hidden)]
pub use harness::RpcHarness;

/// Why a devnet could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// The chain or its store.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Shared by every request handler and the producer.
pub(crate) struct Server {
    pub(crate) config: DevnetConfig,
    chain: Mutex<Chain>,
    /// Events of accepted txs, waiting for their pool entry to be durable; emitted in order.
    outbox: Mutex<VecDeque<(u64, Vec<ChainEvent>)>>,
    pub(crate) persister: Persister,
    pub(crate) events: EventHandler,
    pub(crate) events_url: String,
}

impl Server {
    pub(crate) fn chain(&self) -> MutexGuard<'_, Chain> {
        // A panic while holding the lock leaves the chain as it was before the panicking call's
        // writes were journaled away; carrying on is better than refusing every request.
        self.chain.lock_or_recover()
    }

    fn outbox(&self) -> MutexGuard<'_, VecDeque<(u64, Vec<ChainEvent>)>> {
        self.outbox.lock_or_recover()
    }

    /// Queues the events of an accepted tx until its pool entry (store sequence `seq`) is durable.
    /// Called under the chain lock, so the queue is in acceptance order.
    pub(crate) fn queue_events(&self, seq: Option<u64>, events: Vec<ChainEvent>) {
        if !events.is_empty() {
            self.outbox().push_back((seq.unwrap_or(0), events));
        }
    }

    /// Emits the queued events that are durable, oldest first. Whoever calls it (a send that is
    /// done waiting, the producer before a block's events) emits everything durable before it,
    /// so a tx's USER events always precede its BLOCK events, even if its sender went away.
    pub(crate) fn flush_events(&self) {
        self.flush_then(&[]);
    }

    fn flush_then(&self, then: &[ChainEvent]) {
        let durable = self.persister.durable_seq();
        let mut outbox = self.outbox();
        while outbox.front().is_some_and(|(seq, _)| *seq <= durable) {
            if let Some((_, events)) = outbox.pop_front() {
                for e in &events {
                    self.events.emit(e);
                }
            }
        }
        for e in then {
            self.events.emit(e);
        }
    }
}

impl Server {
    /// The shared state around an opened chain; `events_addr` is where the event handler listens.
    fn assemble(config: DevnetConfig, chain: Chain, events_addr: SocketAddr) -> Arc<Server> {
        let persister = chain.persister().clone();
        let server_slot: Arc<Mutex<Option<std::sync::Weak<Server>>>> = Arc::new(Mutex::new(None));
        let slot = server_slot.clone();
        let lookup: TxLookup = Arc::new(move |hash: &str| {
            let server = slot.lock().ok()?.as_ref()?.upgrade()?;
            let hash: Hash = hash.parse().ok()?;
            let info = server.chain().tx_info(&hash).ok()??;
            Some((info.state, info.transaction))
        });
        let events = EventHandler::new(config.events.clone(), lookup);
        let server = Arc::new(Server {
            events_url: format!("ws://{events_addr}/"),
            config,
            chain: Mutex::new(chain),
            outbox: Mutex::new(VecDeque::new()),
            persister,
            events,
        });
        *server_slot.lock_or_recover() = Some(Arc::downgrade(&server));
        server
    }
}

/// The chain's parameters from the devnet configuration.
fn no_delay(stream: &mut TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY on a devnet connection");
    }
}

fn chain_params(config: &DevnetConfig) -> ChainParams {
    ChainParams {
        exec: ExecParams {
            min_gas_price: config.min_gas_price,
            set_op_list_size_limit: config.set_op_list_size_limit,
            budgets: config.budgets.clone(),
        },
        chain_id: config.chain_id,
        network_id: config.network_id,
        stake: config.stake,
        pool: config.pool.clone(),
        interval_ms: config.block_interval.as_millis().max(1) as u64,
        max_txs_per_block: config.max_txs_per_block.max(1),
        empty_blocks: config.empty_blocks,
        snapshot_interval: config.snapshot_interval,
        genesis_timestamp: config.genesis_timestamp,
        genesis_balances: config.genesis_balances.clone(),
    }
}

/// The devnet entry point.
pub struct Devnet;

/// A running devnet.
pub struct DevnetHandle {
    server: Arc<Server>,
    rpc_addr: SocketAddr,
    events_addr: SocketAddr,
    genesis_hash: Hash,
    validator: Address,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Devnet {
    /// Opens (or creates) the chain and starts serving. Port 0 in the config's addresses picks
    /// free ports; the bound ones are in the handle.
    pub async fn start(config: DevnetConfig) -> Result<DevnetHandle, DevnetError> {
        let params = chain_params(&config);
        let key = config.validator_key.clone();
        let dir = config.data_dir.clone();
        let chain = tokio::task::spawn_blocking(move || {
            let store = Store::open(dir.as_deref())?;
            Chain::open(store, key, params)
        })
        .await
        .map_err(|e| ChainError::Invalid(format!("chain loader panicked: {e}")))??;
        let genesis_hash = chain.genesis_hash();
        let validator = chain.validator();
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| DevnetError::Bind { addr, source })
        };
        let rpc_listener = bind(config.rpc_addr).await?;
        let events_listener = bind(config.events_addr).await?;
        let local = |l: &TcpListener, fallback| l.local_addr().unwrap_or(fallback);
        let rpc_addr = local(&rpc_listener, config.rpc_addr);
        let events_addr = local(&events_listener, config.events_addr);
        // Answers and event frames are small writes: with Nagle's algorithm on, one written
        // while the previous is unacknowledged waits for the peer's delayed ACK (~40 ms).
        let rpc_listener = rpc_listener.tap_io(no_delay);
        let events_listener = events_listener.tap_io(no_delay);
        let server = Server::assemble(config, chain, events_addr);
        let events = server.events.clone();
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let app = axum::Router::new()
            .route("/json-rpc", axum::routing::post(rpc::handle))
            .with_state(server.clone());
        let c = cancel.clone();
        tasks.spawn(async move {
            let shutdown = async move { c.cancelled().await };
            if let Err(e) = axum::serve(rpc_listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "devnet JSON-RPC server stopped");
            }
        });
        let c = cancel.clone();
        let router = events.router();
        tasks.spawn(async move {
            let shutdown = async move { c.cancelled().await };
            if let Err(e) = axum::serve(events_listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "devnet event handler stopped");
            }
        });
        tasks.spawn(produce_blocks(server.clone(), cancel.clone()));
        tracing::info!(%rpc_addr, %events_addr, genesis = %genesis_hash, %validator, "devnet serving");
        Ok(DevnetHandle {
            server,
            rpc_addr,
            events_addr,
            genesis_hash,
            validator,
            cancel,
            tasks,
        })
    }
}

async fn produce_blocks(server: Arc<Server>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(server.config.block_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rules = RuleCache::default();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(draft) = server.chain().draft() else {
            continue;
        };
        let (built, back) = match tokio::task::spawn_blocking(move || {
            let built = chain::build(draft, &mut rules, ain_ledger::now_ms());
            (built, rules)
        })
        .await
        {
            Ok((Ok(built), r)) => (built, r),
            Ok((Err(e), r)) => {
                tracing::error!(error = %e, "devnet could not sign a block");
                rules = r;
                server.chain().abandon();
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "devnet block builder panicked");
                rules = RuleCache::default();
                server.chain().abandon();
                continue;
            }
        };
        rules = back;
        let seq = server.persister.enqueue(built.write_op());
        if let Err(e) = server.persister.wait(seq).await {
            tracing::error!(error = %e, "devnet cannot store blocks; block production stopped");
            server.chain().abandon();
            return;
        }
        let events = server.chain().commit(built);
        server.flush_then(&events);
    }
}

impl DevnetHandle {
    /// The bound JSON-RPC address.
    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    /// `http://<addr>/json-rpc`.
    pub fn rpc_url(&self) -> String {
        format!("http://{}/json-rpc", self.rpc_addr)
    }

    /// The bound event-handler address.
    pub fn events_addr(&self) -> SocketAddr {
        self.events_addr
    }

    /// `ws://<addr>/`.
    pub fn events_url(&self) -> String {
        format!("ws://{}/", self.events_addr)
    }

    /// The genesis block hash: what a follower of this chain trusts.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// The validator (block proposer, genesis owner) address.
    pub fn validator(&self) -> Address {
        self.validator
    }

    /// The newest finalized block number.
    pub fn finalized_number(&self) -> u64 {
        self.server.chain().finalized_number()
    }

    /// A value in the pending state (for embedding and tests).
    pub fn value(&self, path: &str) -> Value {
        let labels = ain_ledger::tx::state::parse_path(path);
        self.server.chain().pending_state().value(&labels)
    }

    /// Resolves when [`DevnetHandle::shutdown`] is called elsewhere.
    pub async fn stopped(&self) {
        self.cancel.cancelled().await;
    }

    /// Stops serving and producing, waits for the tasks, and closes the store after everything
    /// queued is durable.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.server.events.shutdown();
        self.tasks.close();
        self.tasks.wait().await;
        let persister = self.server.persister.clone();
        let _ = tokio::task::spawn_blocking(move || persister.close()).await;
    }
}
