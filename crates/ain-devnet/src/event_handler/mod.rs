//! The built-in chain's event handler: a WebSocket server speaking the real node's protocol
//! (`ain-protocol.md` §2), so ain-js `ain.em` and ain-sre's own trigger cannot tell it apart.
//!
//! The chain pushes [`ChainEvent`]s into [`EventHandler::emit`]; the handler matches them against
//! the filters clients registered and sends `EMIT_EVENT` frames. It enforces the node's limits
//! (channels, filters per channel and node-wide, client-id length), its liveness rules (PING every
//! heartbeat, termination when a PONG is missing, idle and lifetime limits) and its error codes.
//! Every queue is bounded: a client that does not read its socket is disconnected, never buffered
//! without end.
//!
//! One deliberate difference: a frame that is not JSON at all gets `EMIT_ERROR` 70005 here, where
//! the real node fails inside its error path and sends nothing.

use ain_ledger::sync::LockExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::ws::Message;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::chain::{tx_json, tx_json_with_extra};
use ain_ledger::block::Block;
use ain_ledger::tx::SignedTx;

mod emit;
mod filter;
mod protocol;
mod socket;

use filter::Filter;
use protocol::{HandlerError, code, err};
use socket::upgrade;

/// A transaction as an event carries it: `tx_body`, `signature`, `hash`, `address`, and `extra`
/// while it is pooled or executing. It is rendered to JSON only when an event carrying it is
/// actually sent: most events match no filter, and rendering every tx for every state change
/// cost more CPU than executing it.
#[derive(Debug, Clone)]
pub enum EventTx {
    /// No transaction (genesis writes).
    None,
    /// A tx, with its `extra` when it has one.
    Tx {
        /// The signed tx.
        tx: Arc<SignedTx>,
        /// `{created_at, executed_at, ...}`, or `None` for the four-field form blocks carry.
        extra: Option<Value>,
    },
    /// The `index`th tx of a block, as the block carries it.
    InBlock {
        /// The block.
        block: Arc<Block>,
        /// The tx's index in it.
        index: usize,
    },
}

impl EventTx {
    /// The tx with an `extra`.
    pub fn with_extra(tx: &Arc<SignedTx>, extra: Value) -> EventTx {
        EventTx::Tx {
            tx: tx.clone(),
            extra: Some(extra),
        }
    }

    /// The tx without `extra`, as blocks carry it.
    pub fn plain(tx: &Arc<SignedTx>) -> EventTx {
        EventTx::Tx {
            tx: tx.clone(),
            extra: None,
        }
    }

    /// The JSON object the node sends.
    pub fn to_json(&self) -> Value {
        match self {
            EventTx::None => Value::Null,
            EventTx::Tx { tx, extra: None } => tx_json(tx),
            EventTx::Tx {
                tx,
                extra: Some(extra),
            } => tx_json_with_extra(tx, extra.clone()),
            EventTx::InBlock { block, index } => {
                block.transactions.get(*index).map_or(Value::Null, tx_json)
            }
        }
    }
}

/// A state change the chain reports to event subscribers.
#[derive(Debug, Clone)]
pub enum ChainEvent {
    /// A value was written (or deleted: `after` is null) at `path`.
    ValueChanged {
        /// The written path, split into labels.
        path: Vec<String>,
        /// `{addr}` or `{addr, fid}` of the writer.
        auth: Value,
        /// The transaction, as the node sends it (`tx_body`, `signature`, `hash`, `address`, `extra`).
        transaction: EventTx,
        /// `"USER"` (accepted into the pool) or `"BLOCK"` (executed in a block).
        source: &'static str,
        /// The value before the write.
        before: Value,
        /// The value after the write.
        after: Value,
    },
    /// A transaction changed state (`PENDING`, `EXECUTED`, `IN_BLOCK`, `FINALIZED`, `REVERTED`, ...).
    TxStateChanged {
        /// The tx hash, `0x`-prefixed lowercase hex.
        hash: String,
        /// The transaction object.
        transaction: EventTx,
        /// The previous state, if any.
        before: Option<&'static str>,
        /// The new state.
        after: &'static str,
    },
    /// A block became final.
    BlockFinalized {
        /// Its number.
        number: u64,
        /// Its hash.
        hash: String,
    },
}

/// Answers "what is this tx's current state" for a TX_STATE_CHANGED filter registered late.
pub type TxLookup = Arc<dyn Fn(&str) -> Option<(&'static str, Value)> + Send + Sync>;

/// Limits and timings, defaulting to the real node's `node_params`.
#[derive(Debug, Clone)]
pub struct EventHandlerConfig {
    /// Open channels at once (`MAX_NUM_EVENT_CHANNELS`).
    pub max_channels: usize,
    /// Filters at once across all channels (`MAX_NUM_EVENT_FILTERS`).
    pub max_filters: usize,
    /// Filters per channel (`MAX_NUM_EVENT_FILTERS_PER_CHANNEL`).
    pub max_filters_per_channel: usize,
    /// PING interval; a channel that has not answered the previous PING is terminated.
    pub heartbeat: Duration,
    /// A channel with no non-PONG message for this long is closed.
    pub idle_limit: Duration,
    /// Every channel is closed after this long.
    pub lifetime: Duration,
    /// How often idle and lifetime limits are checked.
    pub idle_check: Duration,
    /// A TX_STATE_CHANGED filter for an unknown tx is deleted after this long without events.
    pub filter_deletion_timeout: Duration,
    /// Longest custom client id kept (longer ones are truncated, as the node does).
    pub max_client_id_len: usize,
    /// Largest incoming frame accepted.
    pub max_frame_bytes: usize,
    /// Outgoing frames queued per channel before the channel is dropped as too slow.
    pub send_queue: usize,
}

impl Default for EventHandlerConfig {
    fn default() -> Self {
        EventHandlerConfig {
            max_channels: 30,
            max_filters: 40,
            max_filters_per_channel: 5,
            heartbeat: Duration::from_secs(15),
            idle_limit: Duration::from_secs(600),
            lifetime: Duration::from_secs(3600),
            idle_check: Duration::from_secs(10),
            filter_deletion_timeout: Duration::from_secs(100),
            max_client_id_len: 100,
            max_frame_bytes: 64 << 10,
            send_queue: 4096,
        }
    }
}

struct Channel {
    sender: mpsc::Sender<Message>,
    custom_client_id: Option<String>,
    opened: Instant,
    last_message: Instant,
    close: CancellationToken,
}

#[derive(Default)]
struct Registry {
    next_channel: u64,
    channels: HashMap<u64, Channel>,
    /// Filters by (channel, client filter id).
    filters: HashMap<(u64, String), Filter>,
}

/// The event-handler server. Cheap to clone; all clones share one registry.
#[derive(Clone)]
pub struct EventHandler {
    inner: Arc<Inner>,
}

struct Inner {
    config: EventHandlerConfig,
    registry: Mutex<Registry>,
    tx_lookup: TxLookup,
    shutdown: CancellationToken,
}

impl EventHandler {
    /// A handler with `config`; `tx_lookup` answers current tx states for late TX filters.
    pub fn new(config: EventHandlerConfig, tx_lookup: TxLookup) -> EventHandler {
        EventHandler {
            inner: Arc::new(Inner {
                config,
                registry: Mutex::new(Registry::default()),
                tx_lookup,
                shutdown: CancellationToken::new(),
            }),
        }
    }

    /// The axum router serving the WebSocket at `/`.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/", axum::routing::any(upgrade))
            .with_state(self.clone())
    }

    /// Closes every channel and stops the background checks.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Number of open channels.
    pub fn channel_count(&self) -> usize {
        self.lock().channels.len()
    }

    /// Number of registered filters.
    pub fn filter_count(&self) -> usize {
        self.lock().filters.len()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A poisoned lock only means a panic elsewhere; the registry itself stays consistent.
        self.inner.registry.lock_or_recover()
    }

    fn open_channel(&self) -> Option<(u64, mpsc::Receiver<Message>, CancellationToken)> {
        let mut reg = self.lock();
        if reg.channels.len() >= self.inner.config.max_channels {
            return None;
        }
        reg.next_channel += 1;
        let id = reg.next_channel;
        let (sender, receiver) = mpsc::channel(self.inner.config.send_queue);
        let close = self.inner.shutdown.child_token();
        let now = Instant::now();
        reg.channels.insert(
            id,
            Channel {
                sender,
                custom_client_id: None,
                opened: now,
                last_message: now,
                close: close.clone(),
            },
        );
        Some((id, receiver, close))
    }

    fn close_channel(&self, id: u64) {
        let mut reg = self.lock();
        if let Some(ch) = reg.channels.remove(&id) {
            ch.close.cancel();
        }
        reg.filters.retain(|(c, _), _| *c != id);
    }
}

#[cfg(test)]
mod tests {
    use super::filter::{match_path, parse_filter};
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_match_at_exact_depth_with_captures_and_wildcards() {
        let labels: Vec<String> = ["apps", "a", "$fn", "*", "request"]
            .map(String::from)
            .to_vec();
        let hit: Vec<String> = ["apps", "a", "echo", "c1", "request"]
            .map(String::from)
            .to_vec();
        let params = match_path(&labels, &hit).unwrap();
        assert_eq!(Value::Object(params), json!({"fn": "echo"}));
        assert!(match_path(&labels, &hit[..4]).is_none());
        let deeper: Vec<String> = ["apps", "a", "echo", "c1", "request", "x"]
            .map(String::from)
            .to_vec();
        assert!(match_path(&labels, &deeper).is_none());
        let other: Vec<String> = ["apps", "b", "echo", "c1", "request"]
            .map(String::from)
            .to_vec();
        assert!(match_path(&labels, &other).is_none());
    }

    #[test]
    fn filter_configs_are_validated_with_node_codes() {
        let code_of = |t: &str, c: Value| parse_filter(t, &c).err().map(|e| e.code);
        assert_eq!(
            code_of("VALUE_CHANGED", json!({})),
            Some(code::MISSING_PATH)
        );
        assert_eq!(
            code_of("VALUE_CHANGED", json!({"path": "/a/b c"})),
            Some(code::INVALID_PATH)
        );
        assert_eq!(
            code_of("VALUE_CHANGED", json!({"path": "/apps/$x/*"})),
            None
        );
        assert_eq!(
            code_of("BLOCK_FINALIZED", json!({"block_number": -1})),
            Some(code::NEGATIVE_BLOCK_NUMBER)
        );
        assert_eq!(
            code_of("BLOCK_FINALIZED", json!({"block_number": "1"})),
            Some(code::INVALID_BLOCK_NUMBER_TYPE)
        );
        assert_eq!(
            code_of("TX_STATE_CHANGED", json!({"tx_hash": "0x12"})),
            Some(code::INVALID_TX_HASH)
        );
        assert_eq!(
            code_of("TX_STATE_CHANGED", json!({})),
            Some(code::MISSING_TX_HASH)
        );
        assert_eq!(code_of("NOPE", json!({})), Some(code::INVALID_EVENT_TYPE));
    }
}
