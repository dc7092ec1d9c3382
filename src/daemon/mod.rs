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
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::call::{Call, Origin, Registry};
use crate::config::Catalogs;
use crate::journal::{CallState, Journal, JournalError, Retention};
use crate::ledger::crypto::{Address, Hash, PrivateKey};
use crate::ledger::events::{EventClient, EventsConfig, Filter};
use crate::ledger::follower::{
    CursorStore, FileCursorStore, Follower, FollowerConfig, TrustedGenesis,
};
use crate::ledger::rpc::RpcClient;
use crate::ledger::tx::{OpType, SignedTx};
use crate::node::Node;
use crate::observe::{self, Health};
use crate::onchain::AppPaths;
use crate::poster::{Confirmer, Poster, PosterConfig, Standing, standing};
use crate::scheduler::exec::Executor;
use crate::scheduler::{Scheduler, SchedulerConfig, SchedulerParts};
use crate::trigger::gate::FinalityGate;
use crate::trigger::run::{TriggerCtx, blocks_task, events_task};
use crate::trigger::{Apps, TriggerError};

/// Answers (and journaled responses to resubmit) waiting for the poster.
const ANSWER_BUFFER: usize = 64;
/// Finished calls the registry remembers in memory (~40 bytes each).
const RECENT_CALLS: usize = 65_536;
/// Final request txs of calls in flight the finality gate remembers (~80 bytes each).
const FINAL_TXS: usize = 65_536;

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
        /// Why.
        reason: String,
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
                reason: e.to_string(),
            }),
        }
    }

    /// Stops and waits.
    pub async fn shutdown(self) -> Result<(), DaemonError> {
        self.stop();
        self.wait().await
    }
}

type Death = mpsc::Sender<(String, String)>;

/// Spawns a stage; if it fails, panics, or ends before intake stops, the supervisor hears of it.
fn supervise<F>(name: &str, fut: F, death: &Death, intake: &CancellationToken) -> JoinHandle<()>
where
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    let inner = tokio::spawn(fut);
    let (name, death, intake) = (name.to_owned(), death.clone(), intake.clone());
    tokio::spawn(async move {
        let reason = match inner.await {
            Ok(Ok(())) if intake.is_cancelled() => return,
            Ok(Ok(())) => "ended unexpectedly".to_owned(),
            Ok(Err(e)) => e,
            Err(e) => format!("panicked: {e}"),
        };
        if !intake.is_cancelled() {
            let _ = death.send((name, reason)).await;
        }
    })
}

/// Runs `f` until the node answers: a transient failure (unreachable, timed out, 5xx) is retried
/// with the backoff the follower uses at run time (500 ms doubling to 30 s, one warning per try),
/// for at most `wait` (`None`: as long as it takes), so a worker started before its node waits
/// for it. A permanent error ends at once.
pub async fn with_node_retry<T, E, F, Fut>(
    what: &str,
    wait: Option<Duration>,
    is_transient: impl Fn(&E) -> bool,
    f: F,
) -> Result<T, String>
where
    E: std::fmt::Display,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = wait.map(|w| Instant::now() + w);
    let mut delay = Duration::from_millis(500);
    let mut tries = 0u32;
    loop {
        match f().await {
            Ok(v) => {
                if tries > 0 {
                    tracing::info!(tries, "{what}: the node answers");
                }
                return Ok(v);
            }
            Err(e) if is_transient(&e) && deadline.is_none_or(|d| Instant::now() + delay < d) => {
                tries += 1;
                tracing::warn!(error = %e, tries, next_try_in = ?delay, "{what}: node not reachable yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
}

async fn with_retry<T, F, Fut>(what: &str, wait: Option<Duration>, f: F) -> Result<T, DaemonError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, crate::ledger::rpc::RpcError>>,
{
    with_node_retry(
        what,
        wait,
        |e: &crate::ledger::rpc::RpcError| e.is_transient(),
        f,
    )
    .await
    .map_err(DaemonError::Node)
}

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
    let (death_tx, mut death_rx) = mpsc::channel::<(String, String)>(8);

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

    // Follower and block consumer.
    let (follower, follower_rx, follower_handle) = Follower::new(
        // Its own client, so its own connection: a block list is megabytes, and the read buffer
        // of the connection that carried one stays grown while it is pooled. Sharing the pool
        // would leave such buffers on the many connections the poster uses.
        // Transient node errors are retried, permanent ones stop the worker with the node's
        // answer (`ledger::follower::rpc_source`).
        RpcClient::new(&config.node_url).map_err(|e| DaemonError::Config(e.to_string()))?,
        TrustedGenesis::Hash(genesis),
        cursor_store as Arc<dyn CursorStore>,
        FollowerConfig {
            chain_id,
            poll_interval: config.follower_poll,
            retry_interval: Duration::from_millis(500),
            // One block per fetch and one waiting: a catch-up over full blocks must not hold
            // thousands of txs (a full block is ~2.5 MB decoded). The trigger takes a second
            // per full block at 1,000 calls/s, so a deeper channel buys no throughput.
            batch_size: 1,
            channel_capacity: 1,
            ..FollowerConfig::default()
        },
    );
    let _ = health.follower.set(follower_handle.clone());
    let c = intake.clone();
    supervise(
        "follower",
        async move { follower.run(c).await.map(|_| ()).map_err(|e| e.to_string()) },
        &death_tx,
        &intake,
    );
    let (x, fh) = (ctx.clone(), follower_handle.clone());
    supervise(
        "trigger-blocks",
        async move {
            blocks_task(x, follower_rx, fh)
                .await
                .map_err(|e| e.to_string())
        },
        &death_tx,
        &intake,
    );

    // Event channels: at most 5 filters each; the first also carries BLOCK_FINALIZED.
    let mut groups: Vec<Vec<AppPaths>> = vec![Vec::new()];
    for a in &apps {
        let cap = if groups.len() == 1 { 4 } else { 5 };
        if groups.last().is_some_and(|g| g.len() >= cap) {
            groups.push(Vec::new());
        }
        if let Some(g) = groups.last_mut() {
            g.push(a.clone());
        }
    }
    for (i, group) in groups.into_iter().enumerate() {
        let ec = EventsConfig::new(&config.events_url, format!("{}-{i}", config.client_id));
        let (handle, rx) = EventClient::connect_with_cancel(ec, intake.child_token())
            .map_err(|e| DaemonError::Config(e.to_string()))?;
        for app in &group {
            let f = Filter::value_changed(format!("req-{}", app.app()), app.request_filter(), None)
                .map_err(|e| DaemonError::Config(e.to_string()))?;
            handle
                .register(f)
                .await
                .map_err(|e| DaemonError::Config(e.to_string()))?;
        }
        if i == 0 {
            let f = Filter::block_finalized("blocks", None)
                .map_err(|e| DaemonError::Config(e.to_string()))?;
            handle
                .register(f)
                .await
                .map_err(|e| DaemonError::Config(e.to_string()))?;
        }
        let (x, fh) = (ctx.clone(), follower_handle.clone());
        supervise(
            &format!("trigger-events-{i}"),
            async move {
                let _keep = handle;
                events_task(x, rx, Some(fh))
                    .await
                    .map_err(|e| e.to_string())
            },
            &death_tx,
            &intake,
        );
    }

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
        async move {
            scheduler
                .run(calls_rx, answers_tx, i2, h2, t2)
                .await
                .map_err(|e| e.to_string())
        },
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
    let post = tokio::spawn(async move {
        poster
            .run(answers_rx, resubmit_rx, h3, t3)
            .await
            .map_err(|e| e.to_string())
    });

    // Recovery of unfinished journal entries, then chain-lag reporting.
    let x = ctx.clone();
    let n = node.clone();
    let c = intake.clone();
    supervise(
        "recovery",
        async move {
            recover(x, n, chain_id, address)
                .await
                .map_err(|e| e.to_string())?;
            c.cancelled().await;
            Ok(())
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
                    _ = c.cancelled() => return Ok(()),
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
            Ok(())
        },
        &death_tx,
        &intake,
    );
    drop(ctx);
    drop(death_tx);

    tracing::info!(worker = %address, apps = ?config.apps, node = %config.node_url, chain_id, paired_with = ?paired_with, "worker started");
    let s = stop.clone();
    let k = kill.clone();
    let grace = config.grace;
    let h = health.clone();
    let done = tokio::spawn(async move {
        let failure = tokio::select! {
            _ = s.cancelled() => None,
            d = death_rx.recv() => d,
            _ = k.cancelled() => {
                tracing::warn!("killed: every stage cancelled at once, no drain");
                h.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
                intake.cancel();
                hard.cancel();
                let _ = sched.await;
                let _ = tokio::time::timeout(Duration::from_secs(2), post).await;
                let _ = journal.close().await;
                return Ok(());
            }
        };
        if let Some((stage, reason)) = &failure {
            tracing::error!(%stage, %reason, "a stage died; stopping the worker");
        } else {
            tracing::info!("stopping: no new calls; draining in-flight calls");
            // Before intake stops: the other workers stop ranking this one while it finishes.
            presence.announce_draining(Duration::from_secs(2)).await;
        }
        h.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
        intake.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        let _ = sched.await;
        sched_tasks.close();
        if tokio::time::timeout_at(deadline, sched_tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; calls still running stay journaled");
        }
        drain_poster(&hard, deadline, post, post_tasks).await;
        if let Err(e) = journal.flush().await {
            tracing::error!(error = %e, "journal flush failed");
        }
        let closed = journal.close().await;
        tracing::info!("worker stopped");
        match failure {
            Some((stage, reason)) => Err(DaemonError::StageFailed { stage, reason }),
            None => closed.map_err(DaemonError::from),
        }
    });
    Ok(DaemonHandle {
        stop,
        kill,
        done,
        address,
        metrics_addr,
        health,
    })
}

/// The genesis the worker trusts, once it is sure the data dir (journal and follower cursor)
/// was made for the chain the node serves; records it in a new journal. A reset chain, or another
/// network, is refused before anything is sent: its journaled responses and cursor would answer
/// requests that do not exist there.
async fn same_chain(
    config: &DaemonConfig,
    rpc: &RpcClient,
    journal: &Journal,
    cursor: &FileCursorStore,
) -> Result<Hash, DaemonError> {
    let node = with_retry("genesis block", config.node_wait, || rpc.genesis_hash())
        .await?
        .ok_or_else(|| DaemonError::Node("the node serves no genesis block".into()))?;
    let recorded = journal
        .genesis()?
        .map(|g| {
            g.parse::<Hash>()
                .map_err(|e| DaemonError::Config(format!("journal genesis {g:?}: {e}")))
        })
        .transpose()?;
    // Data dirs from before the journal recorded its chain: the cursor says which it was.
    let ours = match recorded {
        Some(g) => Some(g),
        None => cursor
            .load()
            .map_err(|e| DaemonError::Config(e.to_string()))?
            .map(|c| c.genesis_hash),
    };
    if let Some(ours) = ours
        && ours != node
    {
        return Err(DaemonError::OtherChain {
            dir: config.data_dir.clone(),
            ours,
            node,
        });
    }
    if let Some(pinned) = config.genesis_hash
        && pinned != node
    {
        return Err(DaemonError::Config(format!(
            "the configured genesis_hash {pinned} is not the node's genesis {node}"
        )));
    }
    if ours.is_none() && config.genesis_hash.is_none() {
        tracing::warn!(genesis = %node, "trusting the node's genesis block on first use");
    }
    journal.claim_genesis(&node.to_string())?;
    Ok(node)
}

/// Lets the poster finish what it holds until `deadline`, then abandons the rest (it stays
/// journaled as signed and is re-submitted at the next start).
async fn drain_poster(
    hard: &CancellationToken,
    deadline: tokio::time::Instant,
    post: JoinHandle<Result<(), String>>,
    tasks: TaskTracker,
) {
    let drained = async {
        let _ = post.await;
        tasks.close();
        tasks.wait().await;
    };
    if tokio::time::timeout_at(deadline, drained).await.is_err() {
        tracing::warn!("grace period over; unposted responses stay journaled for the next start");
    }
    hard.cancel();
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), tasks.wait()).await;
}

/// Re-admits the journal's unfinished calls, each only once the chain shows its request present
/// and unanswered: signed responses are submitted again; calls that were only seen or running
/// are fetched from the node and run again. Nothing is sent for a call whose request is gone.
async fn recover<N: Node>(
    ctx: Arc<TriggerCtx>,
    node: Arc<N>,
    chain_id: u64,
    me: Address,
) -> Result<(), TriggerError> {
    let unfinished = ctx
        .registry
        .journal()
        .unfinished()
        .map_err(|e| TriggerError::Journal(e.to_string()))?;
    if unfinished.is_empty() {
        return Ok(());
    }
    tracing::info!(
        calls = unfinished.len(),
        "recovering unfinished calls from the journal"
    );
    for (key, rec) in unfinished {
        let Ok(request_tx) = rec.request_tx.parse::<Hash>() else {
            continue;
        };
        match standing(&*node, &key, &me).await {
            Standing::Open => {}
            Standing::NoRequest => {
                tracing::warn!(call = %key, "recovery: the request is not on chain (its tx failed, or the chain was reset); nothing is sent");
                metrics::counter!("ain_sre_recovery_dropped_total", "reason" => "no_request")
                    .increment(1);
                ctx.registry.finish(&key, CallState::NoRequest);
                continue;
            }
            Standing::Answered { ours } => {
                tracing::info!(call = %key, ours, "recovery: already answered on chain");
                ctx.registry.finish(
                    &key,
                    if ours {
                        CallState::Confirmed
                    } else {
                        CallState::AnsweredElsewhere
                    },
                );
                continue;
            }
            Standing::Unknown => {
                tracing::warn!(call = %key, "recovery: cannot read the call from the node; the follower's catch-up will find it if it stands");
                continue;
            }
        }
        if rec.response.is_some() {
            let Some((app, function, call_id)) = crate::onchain::split_call_key(&key) else {
                continue;
            };
            let call = placeholder_call(&key, app, function, call_id, request_tx);
            ctx.dispatch(call).await?;
            continue;
        }
        match fetch_request(&*node, &ctx.apps, &key, request_tx, chain_id).await {
            Some(call) => {
                ctx.dispatch(call).await?;
            }
            None => {
                tracing::warn!(call = %key, "cannot fetch the request tx; the follower's catch-up will find it")
            }
        }
    }
    Ok(())
}

fn placeholder_call(key: &str, app: &str, function: &str, call_id: &str, request_tx: Hash) -> Call {
    Call {
        key: key.to_owned(),
        app: app.to_owned(),
        function: function.to_owned(),
        call_id: call_id.to_owned(),
        request_tx,
        caller: Address([0; 20]),
        request: serde_json::Value::Null,
        origin: Origin::Recovery,
        seen_at: Instant::now(),
    }
}

async fn fetch_request<N: Node>(
    node: &N,
    apps: &Apps,
    key: &str,
    request_tx: Hash,
    chain_id: u64,
) -> Option<Call> {
    let v = node.transaction(&request_tx).await.ok()??;
    let tx: SignedTx = serde_json::from_value(v).ok()?;
    if tx.hash != request_tx {
        return None;
    }
    let signer = tx.verify(chain_id).ok()?;
    tx.tx_body.operation.ops().iter().find_map(|op| {
        let (app, f, c) = apps.parse(&op.path)?;
        let value = op.value.clone().filter(|v| !v.is_null())?;
        (op.op_type == OpType::SetValue && crate::onchain::call_key(app.app(), &f, &c) == key).then(
            || Call {
                key: key.to_owned(),
                app: app.app().to_owned(),
                function: f,
                call_id: c,
                request_tx,
                caller: signer,
                request: value,
                origin: Origin::Recovery,
                seen_at: Instant::now(),
            },
        )
    })
}
