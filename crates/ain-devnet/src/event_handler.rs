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

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::chain::{tx_json, tx_json_with_extra};
use ain_ledger::block::Block;
use ain_ledger::tx::SignedTx;

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

/// Event-handler error codes (`EventHandlerErrorCode` in the node's `common/result-code.js`).
mod code {
    pub(super) const MISSING_MESSAGE_TYPE: i64 = 70003;
    pub(super) const MISSING_MESSAGE_DATA: i64 = 70004;
    pub(super) const INVALID_MESSAGE_TYPE: i64 = 70005;
    pub(super) const MISSING_EVENT_TYPE: i64 = 70006;
    pub(super) const MISSING_CONFIG: i64 = 70007;
    pub(super) const DUPLICATED_FILTER_ID: i64 = 70008;
    pub(super) const INVALID_EVENT_TYPE: i64 = 70009;
    pub(super) const TOO_MANY_FILTERS: i64 = 70015;
    pub(super) const TOO_MANY_FILTERS_PER_CHANNEL: i64 = 70016;
    pub(super) const FAILED_TO_REGISTER_FILTER: i64 = 70020;
    pub(super) const INVALID_CUSTOM_CLIENT_ID: i64 = 70040;
    pub(super) const NEGATIVE_BLOCK_NUMBER: i64 = 70100;
    pub(super) const INVALID_BLOCK_NUMBER_TYPE: i64 = 70101;
    pub(super) const MISSING_PATH: i64 = 70200;
    pub(super) const INVALID_PATH: i64 = 70201;
    pub(super) const MISSING_TX_HASH: i64 = 70300;
    pub(super) const INVALID_TX_HASH: i64 = 70301;
}

struct HandlerError {
    code: i64,
    message: String,
    filter_id: Option<String>,
}

fn err(code: i64, message: impl Into<String>) -> HandlerError {
    HandlerError {
        code,
        message: message.into(),
        filter_id: None,
    }
}

#[derive(Debug, Clone)]
enum FilterKind {
    /// Labels of the filter path; `$name` captures, `*` matches without capture.
    Value {
        path: String,
        labels: Vec<String>,
        source: Option<String>,
    },
    Block {
        number: Option<u64>,
    },
    Tx {
        hash: String,
    },
}

struct Filter {
    kind: FilterKind,
    /// Bumped by every event, so a pending deletion timeout knows it is stale.
    events_seen: u64,
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

    /// Delivers a chain event to every matching filter. Never blocks: a channel whose send queue
    /// is full is closed.
    pub fn emit(&self, event: &ChainEvent) {
        let mut reg = self.lock();
        let mut out: Vec<(u64, Value)> = Vec::new();
        let mut ended: Vec<(u64, String)> = Vec::new();
        for ((channel, client_id), filter) in reg.filters.iter_mut() {
            let payload = match (&filter.kind, event) {
                (
                    FilterKind::Value {
                        path,
                        labels,
                        source,
                    },
                    ChainEvent::ValueChanged {
                        path: written,
                        auth,
                        transaction,
                        source: src,
                        before,
                        after,
                    },
                ) => {
                    if source.as_deref().is_some_and(|s| s != *src) {
                        continue;
                    }
                    let Some(params) = match_path(labels, written) else {
                        continue;
                    };
                    json!({"type": "VALUE_CHANGED", "payload": {
                        "filter_path": path,
                        "matched_path": format!("/{}", written.join("/")),
                        "params": params,
                        "auth": auth,
                        "transaction": transaction.to_json(),
                        "event_source": src,
                        "values": {"before": before, "after": after},
                    }})
                }
                (FilterKind::Block { number }, ChainEvent::BlockFinalized { number: n, hash }) => {
                    // The node never reports block 0 (`if (!blockNumber) return`).
                    if *n == 0 || number.is_some_and(|want| want != *n) {
                        continue;
                    }
                    json!({"type": "BLOCK_FINALIZED", "payload": {"block_number": n, "block_hash": hash}})
                }
                (
                    FilterKind::Tx { hash },
                    ChainEvent::TxStateChanged {
                        hash: h,
                        transaction,
                        before,
                        after,
                    },
                ) => {
                    if hash != h {
                        continue;
                    }
                    if is_end_state(after) {
                        ended.push((*channel, client_id.clone()));
                    }
                    json!({"type": "TX_STATE_CHANGED", "payload": {
                        "transaction": transaction.to_json(),
                        "tx_state": {"before": before, "after": after},
                    }})
                }
                _ => continue,
            };
            filter.events_seen += 1;
            out.push((*channel, with_filter_id(payload, client_id)));
        }
        for (channel, data) in out {
            send_event(&mut reg, channel, data);
        }
        for (channel, client_id) in ended {
            delete_filter_and_notify(&mut reg, channel, &client_id, "END_STATE_REACHED");
        }
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

    /// Handles one text frame from channel `id`; errors become EMIT_ERROR frames.
    fn handle_text(&self, id: u64, text: &str) {
        let result = self.handle_message(id, text);
        if let Err(e) = result {
            let mut data = json!({"code": e.code, "message": e.message});
            if let Some(f) = &e.filter_id {
                data["filter_id"] = json!(f);
            }
            let mut reg = self.lock();
            send_frame(&mut reg, id, json!({"type": "EMIT_ERROR", "data": data}));
        }
    }

    fn handle_message(&self, id: u64, text: &str) -> Result<(), HandlerError> {
        let msg: Value = serde_json::from_str(text).map_err(|e| {
            err(
                code::INVALID_MESSAGE_TYPE,
                format!("Invalid JSON message: {e}"),
            )
        })?;
        let msg_type = msg
            .get("type")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        let Some(msg_type) = msg_type else {
            return Err(err(
                code::MISSING_MESSAGE_TYPE,
                format!("No message type in ({text})"),
            ));
        };
        let data = msg.get("data").filter(|d| is_truthy(d));
        let Some(data) = data else {
            return Err(err(
                code::MISSING_MESSAGE_DATA,
                format!("No message data in ({text})"),
            ));
        };
        if msg_type == "PONG" {
            return Ok(()); // Liveness is tracked by the connection task.
        }
        {
            let mut reg = self.lock();
            if let Some(ch) = reg.channels.get_mut(&id) {
                ch.last_message = Instant::now();
            }
        }
        match msg_type {
            "SET_CUSTOM_CLIENT_ID" => {
                let Some(cid) = data.get("customClientId").and_then(Value::as_str) else {
                    return Err(err(
                        code::INVALID_CUSTOM_CLIENT_ID,
                        format!(
                            "Invalid custom client id: {}",
                            data.get("customClientId").unwrap_or(&Value::Null)
                        ),
                    ));
                };
                let truncated: String = cid
                    .chars()
                    .take(self.inner.config.max_client_id_len)
                    .collect();
                if let Some(ch) = self.lock().channels.get_mut(&id) {
                    ch.custom_client_id = Some(truncated);
                }
                Ok(())
            }
            "REGISTER_FILTER" => {
                let client_id = data.get("id").map(value_to_id).unwrap_or_default();
                self.register(id, &client_id, data).map_err(|e| HandlerError {
                    code: code::FAILED_TO_REGISTER_FILTER,
                    message: format!("Failed to register filter with filter ID: {client_id} due to error: {}", e.message),
                    filter_id: Some(client_id.clone()),
                })
            }
            "DEREGISTER_FILTER" => {
                let client_id = data.get("id").map(value_to_id).unwrap_or_default();
                let mut reg = self.lock();
                delete_filter_and_notify(&mut reg, id, &client_id, "DELETED_BY_USER");
                Ok(())
            }
            other => Err(err(
                code::INVALID_MESSAGE_TYPE,
                format!("Invalid message type: {other}"),
            )),
        }
    }

    fn register(&self, channel: u64, client_id: &str, data: &Value) -> Result<(), HandlerError> {
        let cfg = &self.inner.config;
        let kind = {
            let reg = self.lock();
            if reg.filters.len() >= cfg.max_filters {
                return Err(err(
                    code::TOO_MANY_FILTERS,
                    format!(
                        "The number of event filters exceeds its limit ({})",
                        cfg.max_filters
                    ),
                ));
            }
            if reg.filters.keys().filter(|(c, _)| *c == channel).count()
                >= cfg.max_filters_per_channel
            {
                return Err(err(
                    code::TOO_MANY_FILTERS_PER_CHANNEL,
                    format!(
                        "The number of event filters exceeds its limit per channel ({})",
                        cfg.max_filters_per_channel
                    ),
                ));
            }
            let event_type = data
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty());
            let Some(event_type) = event_type else {
                return Err(err(
                    code::MISSING_EVENT_TYPE,
                    format!("Can't find eventType from message.data ({data})"),
                ));
            };
            let config = data.get("config").filter(|c| is_truthy(c));
            let Some(config) = config else {
                return Err(err(
                    code::MISSING_CONFIG,
                    format!("Can't find config from message.data ({data})"),
                ));
            };
            if client_id.is_empty()
                || client_id.contains(':')
                || reg.filters.contains_key(&(channel, client_id.to_owned()))
            {
                return Err(err(
                    code::DUPLICATED_FILTER_ID,
                    format!("Event filter ID {channel}:{client_id} is already in use or invalid"),
                ));
            }
            parse_filter(event_type, config)?
        };
        let tx_hash = match &kind {
            FilterKind::Tx { hash } => Some(hash.clone()),
            _ => None,
        };
        self.lock().filters.insert(
            (channel, client_id.to_owned()),
            Filter {
                kind,
                events_seen: 0,
            },
        );
        if let Some(hash) = tx_hash {
            match (self.inner.tx_lookup)(&hash) {
                Some((state, transaction)) => {
                    let payload = json!({"type": "TX_STATE_CHANGED", "payload": {
                        "transaction": transaction, "tx_state": {"before": null, "after": state}}});
                    let mut reg = self.lock();
                    if let Some(f) = reg.filters.get_mut(&(channel, client_id.to_owned())) {
                        f.events_seen += 1;
                    }
                    send_event(&mut reg, channel, with_filter_id(payload, client_id));
                    // The node deletes a filter only on a state *change* into an end state; the
                    // immediate report of an end state leaves the filter until it times out.
                }
                None => self.schedule_deletion(channel, client_id.to_owned()),
            }
        }
        Ok(())
    }

    fn schedule_deletion(&self, channel: u64, client_id: String) {
        let this = self.clone();
        let timeout = self.inner.config.filter_deletion_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let mut reg = this.lock();
            let untouched = reg
                .filters
                .get(&(channel, client_id.clone()))
                .is_some_and(|f| f.events_seen == 0);
            if untouched {
                delete_filter_and_notify(&mut reg, channel, &client_id, "FILTER_TIMEOUT");
            }
        });
    }
}

fn is_end_state(state: &str) -> bool {
    matches!(state, "FINALIZED" | "REVERTED" | "FAILED" | "TIMED_OUT")
}

/// JS truthiness of a JSON value (the node tests `if (!data)`).
fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0 && !x.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn value_to_id(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn with_filter_id(mut event: Value, client_id: &str) -> Value {
    event["filter_id"] = json!(client_id);
    event
}

fn send_event(reg: &mut Registry, channel: u64, data: Value) {
    send_frame(reg, channel, json!({"type": "EMIT_EVENT", "data": data}));
}

fn send_frame(reg: &mut Registry, channel: u64, frame: Value) {
    let Some(ch) = reg.channels.get(&channel) else {
        return;
    };
    if ch
        .sender
        .try_send(Message::Text(frame.to_string().into()))
        .is_err()
    {
        // Too slow (or already gone): drop the channel rather than buffer without end.
        tracing::warn!(channel, "event channel send queue full; closing it");
        ch.close.cancel();
    }
}

fn delete_filter_and_notify(reg: &mut Registry, channel: u64, client_id: &str, reason: &str) {
    if reg
        .filters
        .remove(&(channel, client_id.to_owned()))
        .is_none()
    {
        return;
    }
    let data = json!({"type": "FILTER_DELETED", "payload": {"filter_id": client_id, "reason": reason}, "filter_id": client_id});
    send_event(reg, channel, data);
}

/// Matches a written path against filter labels at exactly the same depth; returns the captured
/// `$name` parameters.
fn match_path(labels: &[String], written: &[String]) -> Option<serde_json::Map<String, Value>> {
    if labels.len() != written.len() {
        return None;
    }
    let mut params = serde_json::Map::new();
    for (want, got) in labels.iter().zip(written) {
        if let Some(name) = want.strip_prefix('$') {
            params.insert(name.to_owned(), json!(got));
        } else if want != "*" && want != got {
            return None;
        }
    }
    Some(params)
}

fn parse_filter(event_type: &str, config: &Value) -> Result<FilterKind, HandlerError> {
    match event_type {
        "BLOCK_FINALIZED" => match config.get("block_number") {
            None | Some(Value::Null) => Ok(FilterKind::Block { number: None }),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) if x < 0.0 => Err(err(
                    code::NEGATIVE_BLOCK_NUMBER,
                    format!("Invalid block_number. It must not be a negative number ({n})"),
                )),
                // A non-integer number can never equal a block number; keep it as "never".
                _ => Ok(FilterKind::Block {
                    number: Some(n.as_u64().unwrap_or(u64::MAX)),
                }),
            },
            Some(other) => Err(err(
                code::INVALID_BLOCK_NUMBER_TYPE,
                format!("Invalid block_number type. ({})", js_type(other)),
            )),
        },
        "VALUE_CHANGED" => {
            let path = config.get("path").filter(|p| is_truthy(p));
            let Some(path) = path else {
                return Err(err(
                    code::MISSING_PATH,
                    format!("config.path is missing ({config})"),
                ));
            };
            let Some(path_str) = path.as_str() else {
                return Err(err(
                    code::INVALID_PATH,
                    format!("Invalid format path ({path})"),
                ));
            };
            let labels: Vec<String> = path_str
                .split('/')
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            if labels.iter().any(|l| !is_valid_filter_label(l)) {
                return Err(err(
                    code::INVALID_PATH,
                    format!("Invalid format path ({path_str})"),
                ));
            }
            let source = match config.get("event_source") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.is_empty() => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            };
            Ok(FilterKind::Value {
                path: path_str.to_owned(),
                labels,
                source,
            })
        }
        "TX_STATE_CHANGED" => {
            let hash = config.get("tx_hash").filter(|h| is_truthy(h));
            let Some(hash) = hash else {
                return Err(err(
                    code::MISSING_TX_HASH,
                    format!("config.tx_hash is missing ({config})"),
                ));
            };
            let valid = hash.as_str().filter(|h| {
                h.len() == 66
                    && h.starts_with("0x")
                    && h[2..].bytes().all(|b| b.is_ascii_hexdigit())
            });
            let Some(h) = valid else {
                return Err(err(
                    code::INVALID_TX_HASH,
                    format!("Invalid tx hash ({hash})"),
                ));
            };
            Ok(FilterKind::Tx { hash: h.to_owned() })
        }
        other => Err(err(
            code::INVALID_EVENT_TYPE,
            format!("Invalid event type ({other})"),
        )),
    }
}

/// The node's `isValidStateLabel`: no reserved characters, except `*` alone or a `$`/`.` prefix.
fn is_valid_filter_label(label: &str) -> bool {
    let reserved = |c: char| "/.$*#{}[]<>'\"` ".contains(c) || (c as u32) < 0x20 || c == '\u{7f}';
    if label.is_empty() || label.encode_utf16().count() > 150 {
        return false;
    }
    if !label.chars().any(reserved) {
        return true;
    }
    label == "*"
        || ((label.starts_with('$') || label.starts_with('.'))
            && label.len() > 1
            && !label[1..].chars().any(reserved))
}

fn js_type(v: &Value) -> &'static str {
    match v {
        Value::Null | Value::Array(_) | Value::Object(_) => "object",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
    }
}

async fn upgrade(State(handler): State<EventHandler>, ws: WebSocketUpgrade) -> Response {
    let max = handler.inner.config.max_frame_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(handler, socket))
}

/// One connection: a reader loop, a writer draining the bounded queue, and the liveness checks.
async fn serve(handler: EventHandler, socket: WebSocket) {
    let Some((id, mut outgoing, close)) = handler.open_channel() else {
        // Too many channels: the node terminates the socket without a message.
        drop(socket);
        return;
    };
    let cfg = handler.inner.config.clone();
    let (mut sink, mut stream) = socket.split();
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + cfg.heartbeat, cfg.heartbeat);
    let mut idle_check = tokio::time::interval(cfg.idle_check);
    let mut alive = true;
    loop {
        tokio::select! {
            () = close.cancelled() => break,
            frame = outgoing.recv() => match frame {
                Some(m) => if sink.send(m).await.is_err() { break },
                None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if is_pong(&text) {
                        alive = true;
                    }
                    handler.handle_text(id, &text);
                }
                Some(Ok(Message::Binary(bytes))) => {
                    // The `ws` library hands binary frames to the same JSON parser.
                    handler.handle_text(id, &String::from_utf8_lossy(&bytes));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {} // Transport-level ping/pong.
            },
            _ = heartbeat.tick() => {
                if !alive {
                    tracing::debug!(channel = id, "no PONG since the last PING; terminating");
                    break;
                }
                alive = false;
                let ping = json!({"type": "PING", "data": {}}).to_string();
                if sink.send(Message::Text(ping.into())).await.is_err() { break }
            }
            _ = idle_check.tick() => {
                let expired = {
                    let reg = handler.lock();
                    reg.channels.get(&id).is_none_or(|ch| {
                        ch.last_message.elapsed() > cfg.idle_limit || ch.opened.elapsed() > cfg.lifetime
                    })
                };
                if expired {
                    tracing::debug!(channel = id, "closing idle or expired event channel");
                    break;
                }
            }
        }
    }
    handler.close_channel(id);
    let _ = sink.close().await;
}

fn is_pong(text: &str) -> bool {
    serde_json::from_str::<Value>(text).ok().is_some_and(|v| {
        v.get("type").and_then(Value::as_str) == Some("PONG")
            && v.get("data").is_some_and(is_truthy)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
