//! The daemon: wires the stages with bounded channels under one supervisor, and shuts them down
//! in order.
//!
//! ```text
//!  EventClient(s) --ClientEvent--> events_task --+
//!                                                 +--Call (bounded)--> Scheduler --Answer (bounded)--> Poster --> node
//!  Follower --FollowerEvent--> blocks_task ------+                                    ^
//!        ^ finished_height acks      |  confirmations, finality -------------------- +
//!  journal recovery --Resubmit (bounded)-------------------------------------------->+
//! ```
//!
//! Durability: a call's `Seen`/`Running` states are written without waiting (the chain still
//! holds the request, and the follower's cursor is acknowledged only past blocks whose calls are
//! durably signed or final); a signed response is fsynced before it is submitted.
//!
//! Shutdown (stop requested, or a stage died): stop intake (event channels, follower, scheduler
//! loop) → let in-flight calls finish and their responses post, up to the grace period → abandon
//! what is left (it stays journaled) → flush and close the journal. A stage that dies makes
//! [`DaemonHandle::wait`] return [`DaemonError::StageFailed`] naming it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::call::{Call, Registry};
use crate::config::Catalogs;
use crate::journal::{Journal, JournalError, Retention};
use crate::ledger::crypto::{Address, Hash, PrivateKey};
use crate::ledger::follower::FileCursorStore;
use crate::ledger::rpc::RpcClient;
use crate::observe::{self, Health};
use crate::onchain::AppPaths;
use crate::poster::{Confirmer, Poster, PosterConfig};
use crate::scheduler::exec::Executor;
use crate::scheduler::{Scheduler, SchedulerConfig, SchedulerParts};
use crate::trigger::Apps;
use crate::trigger::gate::FinalityGate;
use crate::trigger::run::TriggerCtx;

/// Answers (and journaled responses to resubmit) waiting for the poster.
const ANSWER_BUFFER: usize = 64;
/// Finished calls the registry remembers in memory (~40 bytes each).
const RECENT_CALLS: usize = 65_536;
/// Final request txs of calls in flight the finality gate remembers (~80 bytes each).
const FINAL_TXS: usize = 65_536;

/// Why a stage stopped: its own error, kept with its sources, or the panic.
pub type StageError = Box<dyn std::error::Error + Send + Sync>;

/// Errors that keep the daemon from starting or stop it.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The journal could not be opened or closed.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// The node could not be reached at start-up.
    #[error("node: {0}")]
    Node(String),
    /// The data dir was made for another chain than the one the node serves (a reset chain,
    /// or another network): its journal and cursor would answer requests that do not exist.
    #[error(
        "this data dir ({}) belongs to chain {ours}; the node serves {node}: use a new --data-dir or reset the journal (delete journal.redb and follower.cursor in it)",
        dir.display()
    )]
    OtherChain {
        /// The data dir.
        dir: PathBuf,
        /// The genesis hash the data dir was made for.
        ours: Hash,
        /// The genesis hash the node serves.
        node: Hash,
    },
    /// A local listener or file failed.
    #[error("{0}")]
    Io(String),
    /// A stage died; the daemon stopped.
    #[error("stage `{stage}` failed: {reason}")]
    StageFailed {
        /// Which stage.
        stage: String,
        /// Why: the stage's error (or its panic), with its sources.
        #[source]
        reason: StageError,
    },
}

/// How the daemon runs. [`DaemonConfig::new`] fills every default.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// JSON-RPC endpoint (`http://…/json-rpc`).
    pub node_url: String,
    /// Event-handler endpoint (`ws://…`).
    pub events_url: String,
    /// Apps served.
    pub apps: Vec<String>,
    /// Journal and follower cursor live here.
    pub data_dir: PathBuf,
    /// `/metrics` and `/healthz` listen here when set.
    pub metrics_addr: Option<SocketAddr>,
    /// Chain id; asked from the node when unset.
    pub chain_id: Option<u64>,
    /// Genesis hash to trust; otherwise the stored cursor's, else the node's block 0 (trust on
    /// first use, logged).
    pub genesis_hash: Option<Hash>,
    /// Scheduler tuning.
    pub scheduler: SchedulerConfig,
    /// Poster tuning.
    pub poster: PosterConfig,
    /// How long in-flight calls may take to finish at shutdown. Default 10 s.
    pub grace: Duration,
    /// Event-handler custom client id.
    pub client_id: String,
    /// Runtimes and profiles the scheduler resolves functions in (default: the shipped files).
    /// The tiers passed to [`start`] must serve the same runtimes
    /// ([`crate::sandbox::any::TierConfig::serving`]).
    pub catalogs: Catalogs,
    /// Follower poll interval when no BLOCK_FINALIZED wake-up comes. Default 500 ms.
    pub follower_poll: Duration,
    /// Interval of the liveness heartbeat written to the worker's registry entries
    /// ([`crate::presence`]). Default 10 s.
    pub heartbeat: Duration,
    /// How long start-up waits for an unreachable node before giving up; `None` (the default)
    /// waits as long as it takes, retrying with the same backoff as at run time.
    pub node_wait: Option<Duration>,
    /// How long and how many finished calls the journal keeps (default 7 days, 100,000).
    pub journal: Retention,
}

impl DaemonConfig {
    /// Defaults for a node and apps.
    pub fn new(
        node_url: &str,
        events_url: &str,
        apps: Vec<String>,
        data_dir: PathBuf,
    ) -> DaemonConfig {
        DaemonConfig {
            node_url: node_url.to_owned(),
            events_url: events_url.to_owned(),
            apps,
            data_dir,
            metrics_addr: None,
            chain_id: None,
            genesis_hash: None,
            scheduler: SchedulerConfig::default(),
            poster: PosterConfig::default(),
            grace: Duration::from_secs(10),
            client_id: "ain-sre-worker".into(),
            catalogs: Catalogs::shipped(),
            follower_poll: Duration::from_millis(500),
            heartbeat: crate::presence::DEFAULT_INTERVAL,
            node_wait: None,
            journal: Retention::default(),
        }
    }
}

/// A running daemon.
pub struct DaemonHandle {
    stop: CancellationToken,
    kill: CancellationToken,
    done: JoinHandle<Result<(), DaemonError>>,
    /// The worker address.
    pub address: Address,
    /// Where `/metrics` and `/healthz` are served.
    pub metrics_addr: Option<SocketAddr>,
    /// Health counters.
    pub health: Arc<Health>,
}

impl DaemonHandle {
    /// Asks the daemon to stop (drain and exit).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Ends the daemon abruptly, as `kill -9` would for a worker process: every stage is
    /// cancelled at once, with no grace period for in-flight calls and no draining announcement
    /// (its registry entry keeps its last heartbeat until that goes stale). Unlike a real kill,
    /// the journal is closed cleanly; what was in flight stays journaled as unfinished.
    pub fn kill(&self) {
        self.kill.cancel();
    }

    /// A token that stops the daemon when cancelled.
    pub fn stopper(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Waits for the daemon to end.
    pub async fn wait(self) -> Result<(), DaemonError> {
        match self.done.await {
            Ok(r) => r,
            Err(e) => Err(DaemonError::StageFailed {
                stage: "supervisor".into(),
                reason: Box::new(e),
            }),
        }
    }

    /// Stops and waits.
    pub async fn shutdown(self) -> Result<(), DaemonError> {
        self.stop();
        self.wait().await
    }
}

mod chain;
mod recover;
mod shutdown;
mod sources;
mod supervise;

use chain::same_chain;
use recover::recover;
pub use supervise::with_node_retry;
use supervise::{supervise, with_retry};

/// Starts the daemon with the worker `key` and sandboxes `exec`.
pub async fn start<E: Executor>(
    config: DaemonConfig,
    key: PrivateKey,
    exec: Arc<E>,
) -> Result<DaemonHandle, DaemonError> {
    if config.apps.is_empty() {
        return Err(DaemonError::Config("no app to serve (--app)".into()));
    }
    let apps = config
        .apps
        .iter()
        .map(|a| AppPaths::new(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| DaemonError::Config(e.to_string()))?;
    let Catalogs {
        runtimes,
        profiles,
        accepted_runtimes,
    } = config.catalogs.clone();
    let mut config = config;
    // The scheduler opens the secrets encrypted to this worker with its key.
    config.scheduler.worker_key = secp256k1::SecretKey::from_secret_bytes(*key.secret_bytes())
        .ok()
        .map(|k| crate::secrets::WorkerKey(Arc::new(k)));
    config.scheduler.accepted_runtimes =
        accepted_runtimes.map(|c| c.iter().map(|r| r.name.clone()).collect());
    let rpc = RpcClient::new(&config.node_url).map_err(|e| DaemonError::Config(e.to_string()))?;
    let chain_id = match config.chain_id {
        Some(c) => c,
        None => with_retry("chain id", config.node_wait, || rpc.chain_id()).await?,
    };
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| DaemonError::Io(format!("creating {}: {e}", config.data_dir.display())))?;
    let journal = Journal::open_with(&config.data_dir.join("journal.redb"), config.journal)?;
    let cursor_store = Arc::new(FileCursorStore::new(
        config.data_dir.join("follower.cursor"),
    ));
    let genesis = match same_chain(&config, &rpc, &journal, &cursor_store).await {
        Ok(g) => g,
        Err(e) => {
            // Nothing was sent; release the journal so the data dir can be reused or reset.
            let _ = journal.close().await;
            return Err(e);
        }
    };
    // The node this worker follows, named in its registry entry (`paired_with`). A node without
    // an account (or an older one without the method) leaves it out.
    let paired_with = match rpc.get_address().await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "cannot learn the node's address (ain_getAddress); paired_with is left out");
            None
        }
    };
    let presence = Arc::new(crate::presence::Presence::new(
        crate::client::ChainClient::connect(
            &config.node_url,
            PrivateKey::from_bytes(&key.secret_bytes())
                .map_err(|e| DaemonError::Config(e.to_string()))?,
        )
        .await
        .map_err(|e| DaemonError::Node(format!("presence client: {e}")))?,
        apps.clone(),
        config.heartbeat,
        paired_with,
    ));
    let key = Arc::new(key);
    let address = key.address();
    let health = Arc::new(Health::default());
    // Both windows only shortcut what the journal and the chain also answer, so they are sized
    // for the seconds between a call's sightings, not for the worker's lifetime: at 200,000
    // entries (~200 and ~80 bytes each) they would have held an estimated ~50 MB once full.
    let registry = Arc::new(Registry::new(journal.clone(), RECENT_CALLS));
    let gate = Arc::new(FinalityGate::new(FINAL_TXS));
    let confirmer = Arc::new(Confirmer::new(registry.clone()));
    let node = Arc::new(rpc.clone());

    let stop = CancellationToken::new();
    let kill = CancellationToken::new();
    let intake = CancellationToken::new();
    let hard = CancellationToken::new();
    let (death_tx, death_rx) = mpsc::channel::<(String, StageError)>(8);

    let metrics_addr = match config.metrics_addr {
        Some(a) => Some(
            observe::serve(a, health.clone(), hard.clone())
                .await
                .map_err(|e| DaemonError::Io(format!("metrics listener on {a}: {e}")))?,
        ),
        None => {
            observe::install();
            None
        }
    };

    let (calls_tx, calls_rx) = mpsc::channel::<Call>(config.scheduler.queue_capacity.max(1));
    // Between the sandbox and the poster only a few answers wait: each holds its outputs and
    // receipt (~20 KB), and a deep buffer here is where a 2,000-call catch-up piled up ~1,700
    // answers (seen with heaptrack) while the chain absorbed the responses. A full buffer makes
    // the scheduler wait, and calls stay in the queue as small `Call`s (~1 KB) instead.
    let (answers_tx, answers_rx) = mpsc::channel(ANSWER_BUFFER);
    let (resubmit_tx, resubmit_rx) = mpsc::channel(ANSWER_BUFFER);
    let ctx = Arc::new(TriggerCtx {
        apps: Apps(apps.clone()),
        chain_id,
        registry: registry.clone(),
        calls: calls_tx,
        resubmit: resubmit_tx,
        gate: gate.clone(),
        confirmer: confirmer.clone(),
        health: health.clone(),
    });

    let follower_handle = sources::spawn_follower(
        &config,
        genesis,
        cursor_store,
        chain_id,
        &health,
        &ctx,
        &death_tx,
        &intake,
    )?;
    sources::subscribe_events(&config, &apps, &ctx, &follower_handle, &death_tx, &intake).await?;

    // Scheduler and poster.
    let scheduler = Arc::new(Scheduler::new(
        SchedulerParts {
            node: node.clone(),
            exec,
            runtimes,
            profiles,
            registry: registry.clone(),
            gate,
            health: health.clone(),
            worker: address,
        },
        config.scheduler.clone(),
    ));
    let sched_tasks = TaskTracker::new();
    let (i2, h2, t2) = (intake.clone(), hard.clone(), sched_tasks.clone());
    let sched = supervise(
        "scheduler",
        async move { scheduler.run(calls_rx, answers_tx, i2, h2, t2).await },
        &death_tx,
        &intake,
    );
    let poster = Arc::new(Poster::new(
        node.clone(),
        key,
        chain_id,
        registry.clone(),
        confirmer,
        config.poster.clone(),
    ));
    let post_tasks = TaskTracker::new();
    let (h3, t3) = (hard.clone(), post_tasks.clone());
    let post = tokio::spawn(async move { poster.run(answers_rx, resubmit_rx, h3, t3).await });

    // Recovery of unfinished journal entries, then chain-lag reporting.
    let x = ctx.clone();
    let n = node.clone();
    let c = intake.clone();
    supervise(
        "recovery",
        async move {
            recover(x, n, chain_id, address).await?;
            c.cancelled().await;
            Ok::<(), crate::trigger::TriggerError>(())
        },
        &death_tx,
        &intake,
    );
    let (h, r, c) = (health.clone(), rpc.clone(), intake.clone());
    supervise(
        "lag",
        async move {
            loop {
                tokio::select! {
                    _ = c.cancelled() => return Ok::<(), std::convert::Infallible>(()),
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
                let height = h.follower_height.load(std::sync::atomic::Ordering::Relaxed);
                if let (Ok(Some(tip)), true) = (r.get_last_block_number().await, height != u64::MAX)
                {
                    metrics::gauge!("ain_sre_chain_lag_blocks")
                        .set(tip.saturating_sub(height) as f64);
                }
            }
        },
        &death_tx,
        &intake,
    );
    let (p, c) = (presence.clone(), intake.clone());
    supervise(
        "heartbeat",
        async move {
            p.run(c).await;
            Ok::<(), std::convert::Infallible>(())
        },
        &death_tx,
        &intake,
    );
    drop(ctx);
    drop(death_tx);

    tracing::info!(worker = %address, apps = ?config.apps, node = %config.node_url, chain_id, paired_with = ?paired_with, "worker started");
    let done = tokio::spawn(
        shutdown::Running {
            stop: stop.clone(),
            kill: kill.clone(),
            death_rx,
            health: health.clone(),
            intake,
            hard,
            sched,
            post,
            journal,
            presence,
            grace: config.grace,
            sched_tasks,
            post_tasks,
        }
        .supervise(),
    );
    Ok(DaemonHandle {
        stop,
        kill,
        done,
        address,
        metrics_addr,
        health,
    })
}
