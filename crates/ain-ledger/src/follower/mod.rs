//! The verifying follower: finalized blocks in, verified `Committed` events out.
//!
//! ```text
//!  BlockSource --block lists (≤20)--> verify (§4.3) --hold until proven--> Committed events
//!       ^   wake (BLOCK_FINALIZED) / poll              |                        | (bounded)
//!       |                                              v                        v
//!       +---------- persisted Cursor <---- finished_height(n) acks <---- consumer
//! ```
//!
//! The [`Follower`] starts from the persisted [`Cursor`] (or from the trusted genesis), fetches
//! block lists in batches, verifies every block with [`verify_block_after`], and sends
//! [`FollowerEvent::Committed`] on a bounded channel. A block is committed only once its
//! successor has been verified too, because the proposer's signature and the votes for block N
//! travel in block N+1: until then block N's contents are vouched for by nobody. So the follower
//! runs one block behind the node's last finalized block.
//!
//! The consumer acknowledges finished work with [`FollowerHandle::finished_height`]; only
//! acknowledged heights reach the cursor store, so a crash re-delivers every unacknowledged block
//! (at-least-once). An invalid block stops the follower with a [`VerifyError`] naming the block and
//! the failed check, after a [`FollowerEvent::Halted`] event; it never skips a block.
//! Finalized blocks are never reverted, so there is no `Reverted` event.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};

use crate::block::Block;
use crate::crypto::Hash;

mod check;
pub mod cursor;
pub mod rpc_source;
mod run;
pub mod source;
pub mod verify;

pub use cursor::{Cursor, CursorError, CursorStore, FileCursorStore, MemoryCursorStore};
pub use source::{BlockSource, MAX_BLOCKS_PER_CALL, MemorySource, SourceError};
pub use verify::{
    Anchor, FailedCheck, TxList, VerifyError, verify_block, verify_block_after, verify_chain,
    verify_genesis,
};

/// The genesis the follower trusts; every later validator set descends from it.
#[derive(Clone, Debug)]
pub enum TrustedGenesis {
    /// A genesis block from configuration (for example the node's `genesis_block.json`). Its
    /// hashes must be self-consistent.
    Block(Box<Block>),
    /// A known genesis hash: block 0 is fetched from the source and must hash to it.
    Hash(Hash),
}

/// Tuning of a [`Follower`]. Every default is written down in [`FollowerConfig::default`].
#[derive(Clone, Debug)]
pub struct FollowerConfig {
    /// Chain id the signatures are verified under (0 local/testnet-prod, 1 mainnet).
    pub chain_id: u64,
    /// Blocks per `block_list` call; clamped to 1..=[`MAX_BLOCKS_PER_CALL`].
    pub batch_size: u64,
    /// How long to wait for a wake-up before asking the source again when caught up.
    pub poll_interval: Duration,
    /// How long to wait before retrying after the source was unavailable; doubles with each
    /// failure in a row, up to `retry_max`.
    pub retry_interval: Duration,
    /// The longest wait between two tries of an unavailable source.
    pub retry_max: Duration,
    /// Capacity of the event channel.
    pub channel_capacity: usize,
    /// Stop fetching while this many delivered blocks are unacknowledged (checked per batch).
    pub max_unacked: usize,
    /// Stop once this height is delivered and acknowledged (`ain-sre follow --to N`). Proving
    /// block N needs block N+1, so the source must serve N+1.
    pub to: Option<u64>,
}

impl Default for FollowerConfig {
    fn default() -> FollowerConfig {
        FollowerConfig {
            chain_id: 0,
            batch_size: MAX_BLOCKS_PER_CALL,
            // A BLOCK_FINALIZED wake-up normally comes first; polling only covers a lost one.
            poll_interval: Duration::from_secs(5),
            retry_interval: Duration::from_secs(1),
            // An outage of minutes costs a handful of tries (and log lines), and a node that
            // comes back is noticed within half a minute.
            retry_max: Duration::from_secs(30),
            channel_capacity: 64,
            max_unacked: 1024,
            to: None,
        }
    }
}

/// What the follower tells its consumer.
#[derive(Clone, Debug)]
pub enum FollowerEvent {
    /// A verified block, proven by its verified successor. Delivered in order, without gaps;
    /// after a restart, unacknowledged blocks are delivered again.
    Committed {
        /// The block.
        block: Arc<Block>,
    },
    /// The follower stopped at an invalid block; [`Follower::run`] returns the same error.
    Halted {
        /// Which block failed which check.
        error: VerifyError,
    },
}

/// How [`Follower::run`] ended without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowerExit {
    /// The cancellation token fired.
    Cancelled,
    /// [`FollowerConfig::to`] was delivered and acknowledged.
    ReachedTarget(u64),
    /// The event receiver was dropped.
    ConsumerGone,
}

/// Why [`Follower::run`] stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum FollowerError {
    /// A block failed verification; the follower did not advance past it.
    #[error("invalid block: {0}")]
    InvalidBlock(#[from] VerifyError),
    /// The source returned data that is not a block list.
    #[error(transparent)]
    Source(SourceError),
    /// The cursor could not be read or written.
    #[error(transparent)]
    Cursor(#[from] CursorError),
    /// The stored cursor belongs to another chain or genesis.
    #[error("stored cursor does not match the configuration: {0}")]
    CursorMismatch(String),
    /// A background task failed.
    #[error("follower task failed: {0}")]
    Task(String),
}

const NONE: u64 = u64::MAX;

/// Counters for the CLI and benchmarks; shared with every [`FollowerHandle`].
#[derive(Debug)]
pub struct FollowerStats {
    blocks_verified: AtomicU64,
    signatures_verified: AtomicU64,
    verify_nanos: AtomicU64,
    delivered: AtomicU64,
    persisted: AtomicU64,
    /// Unix ms of the last delivery (0: none yet).
    delivered_at_ms: AtomicU64,
    /// The node's last block number as last reported (NONE: not yet).
    source_tip: AtomicU64,
    /// Unix ms of the last successful answer of the source (0: none yet).
    source_ok_at_ms: AtomicU64,
    /// Failed tries of the source in a row.
    source_failures: AtomicU64,
}

impl Default for FollowerStats {
    fn default() -> FollowerStats {
        FollowerStats {
            blocks_verified: AtomicU64::new(0),
            signatures_verified: AtomicU64::new(0),
            verify_nanos: AtomicU64::new(0),
            delivered: AtomicU64::new(NONE),
            persisted: AtomicU64::new(NONE),
            delivered_at_ms: AtomicU64::new(0),
            source_tip: AtomicU64::new(NONE),
            source_ok_at_ms: AtomicU64::new(0),
            source_failures: AtomicU64::new(0),
        }
    }
}

impl FollowerStats {
    fn record_verified(&self, signatures: u64, elapsed: Duration) {
        self.blocks_verified.fetch_add(1, Ordering::Relaxed);
        self.signatures_verified
            .fetch_add(signatures, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.verify_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// A consistent-enough copy of the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        let opt = |a: &AtomicU64| Some(a.load(Ordering::Relaxed)).filter(|&v| v != NONE);
        StatsSnapshot {
            blocks_verified: self.blocks_verified.load(Ordering::Relaxed),
            signatures_verified: self.signatures_verified.load(Ordering::Relaxed),
            verify_time: Duration::from_nanos(self.verify_nanos.load(Ordering::Relaxed)),
            delivered_height: opt(&self.delivered),
            persisted_height: opt(&self.persisted),
            delivered_at_ms: Some(self.delivered_at_ms.load(Ordering::Relaxed)).filter(|&t| t > 0),
            source_tip: opt(&self.source_tip),
            source_ok_at_ms: Some(self.source_ok_at_ms.load(Ordering::Relaxed)).filter(|&t| t > 0),
            source_failures: self.source_failures.load(Ordering::Relaxed),
        }
    }

    fn record_source(&self, ok: bool) {
        if ok {
            self.source_ok_at_ms.store(unix_ms(), Ordering::Relaxed);
            self.source_failures.store(0, Ordering::Relaxed);
        } else {
            self.source_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Milliseconds since the Unix epoch.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A copy of [`FollowerStats`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StatsSnapshot {
    /// Blocks verified (including re-verified ones after a restart).
    pub blocks_verified: u64,
    /// Transaction signatures verified (`transactions` and `last_votes`).
    pub signatures_verified: u64,
    /// Time spent inside block verification.
    pub verify_time: Duration,
    /// Highest block delivered as `Committed`.
    pub delivered_height: Option<u64>,
    /// Highest acknowledged block written to the cursor store.
    pub persisted_height: Option<u64>,
    /// When the last block was delivered (Unix ms).
    pub delivered_at_ms: Option<u64>,
    /// The source's last block number, as last reported.
    pub source_tip: Option<u64>,
    /// When the source last answered (Unix ms).
    pub source_ok_at_ms: Option<u64>,
    /// Failed tries of the source in a row (0 while it answers).
    pub source_failures: u64,
}

impl StatsSnapshot {
    /// Signatures verified per second of verification time.
    pub fn signatures_per_second(&self) -> Option<f64> {
        let secs = self.verify_time.as_secs_f64();
        (secs > 0.0).then(|| self.signatures_verified as f64 / secs)
    }
}

/// One acknowledgement; `seq` tells a repeated height from an unseen one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ack {
    seq: u64,
    height: u64,
}

/// The consumer's side: acknowledgements, wake-ups and stats. Cheap to clone.
#[derive(Clone, Debug)]
pub struct FollowerHandle {
    ack: Arc<watch::Sender<Option<Ack>>>,
    wake: Arc<Notify>,
    stats: Arc<FollowerStats>,
}

impl FollowerHandle {
    /// Declares every delivered block up to `height` finished, so the cursor may pass it.
    /// Only the latest call matters and the cursor only moves forward. A height beyond the
    /// delivered one is capped to it and does not cover blocks delivered later.
    pub fn finished_height(&self, height: u64) {
        self.ack.send_modify(|ack| {
            let seq = ack.map_or(1, |a| a.seq.wrapping_add(1));
            *ack = Some(Ack { seq, height });
        });
    }

    /// Asks the follower to look for new blocks now (feed it `BLOCK_FINALIZED` events). A
    /// wake-up sent while the follower is busy is remembered, not lost.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The follower's counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }
}

/// The follower task. Build with [`Follower::new`], drive with [`Follower::run`].
pub struct Follower<S> {
    source: S,
    genesis: TrustedGenesis,
    store: Arc<dyn CursorStore>,
    config: FollowerConfig,
    events: mpsc::Sender<FollowerEvent>,
    acks: watch::Receiver<Option<Ack>>,
    wake: Arc<Notify>,
    stats: Arc<FollowerStats>,
    /// Tries of the source that failed in a row (the retry backoff).
    failures: u32,
}

impl<S: BlockSource> Follower<S> {
    /// A follower over `source`, trusting `genesis`, persisting to `store`. Returns the follower,
    /// the receiving end of its bounded event channel, and the consumer's handle.
    pub fn new(
        source: S,
        genesis: TrustedGenesis,
        store: Arc<dyn CursorStore>,
        mut config: FollowerConfig,
    ) -> (Follower<S>, mpsc::Receiver<FollowerEvent>, FollowerHandle) {
        config.batch_size = config.batch_size.clamp(1, MAX_BLOCKS_PER_CALL);
        config.max_unacked = config.max_unacked.max(1);
        let (events, rx) = mpsc::channel(config.channel_capacity.max(1));
        let (ack, acks) = watch::channel(None);
        let handle = FollowerHandle {
            ack: Arc::new(ack),
            wake: Arc::new(Notify::new()),
            stats: Arc::new(FollowerStats::default()),
        };
        let follower = Follower {
            source,
            genesis,
            store,
            config,
            events,
            acks,
            wake: handle.wake.clone(),
            stats: handle.stats.clone(),
            failures: 0,
        };
        (follower, rx, handle)
    }
}
