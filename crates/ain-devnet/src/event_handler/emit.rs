//! Delivery: a chain event matched against every registered filter and sent as `EMIT_EVENT`
//! frames, without ever blocking the chain; a filter whose work is done (a tx in an end state, a
//! block reached) is deleted and its client told.

use axum::extract::ws::Message;
use serde_json::{Value, json};

use super::filter::{FilterKind, is_end_state, match_path};
use super::{ChainEvent, EventHandler, Registry};

impl EventHandler {
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
}

pub(super) fn with_filter_id(mut event: Value, client_id: &str) -> Value {
    event["filter_id"] = json!(client_id);
    event
}

pub(super) fn send_event(reg: &mut Registry, channel: u64, data: Value) {
    send_frame(reg, channel, json!({"type": "EMIT_EVENT", "data": data}));
}

pub(super) fn send_frame(reg: &mut Registry, channel: u64, frame: Value) {
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

pub(super) fn delete_filter_and_notify(
    reg: &mut Registry,
    channel: u64,
    client_id: &str,
    reason: &str,
) {
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
