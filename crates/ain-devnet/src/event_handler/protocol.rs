//! The client's messages: `REGISTER_FILTER` and `DEREGISTER_FILTER` checked in the node's order,
//! the node's limits on filters and client ids, and its error codes in `EMIT_ERROR` frames.

use serde_json::{Value, json};

use std::time::Instant;

use super::EventHandler;
use super::emit::{delete_filter_and_notify, send_event, send_frame, with_filter_id};
use super::filter::{Filter, FilterKind, is_truthy, parse_filter, value_to_id};

/// Event-handler error codes (`EventHandlerErrorCode` in the node's `common/result-code.js`).
pub(super) mod code {
    pub(in crate::event_handler) const MISSING_MESSAGE_TYPE: i64 = 70003;
    pub(in crate::event_handler) const MISSING_MESSAGE_DATA: i64 = 70004;
    pub(in crate::event_handler) const INVALID_MESSAGE_TYPE: i64 = 70005;
    pub(in crate::event_handler) const MISSING_EVENT_TYPE: i64 = 70006;
    pub(in crate::event_handler) const MISSING_CONFIG: i64 = 70007;
    pub(in crate::event_handler) const DUPLICATED_FILTER_ID: i64 = 70008;
    pub(in crate::event_handler) const INVALID_EVENT_TYPE: i64 = 70009;
    pub(in crate::event_handler) const TOO_MANY_FILTERS: i64 = 70015;
    pub(in crate::event_handler) const TOO_MANY_FILTERS_PER_CHANNEL: i64 = 70016;
    pub(in crate::event_handler) const FAILED_TO_REGISTER_FILTER: i64 = 70020;
    pub(in crate::event_handler) const INVALID_CUSTOM_CLIENT_ID: i64 = 70040;
    pub(in crate::event_handler) const NEGATIVE_BLOCK_NUMBER: i64 = 70100;
    pub(in crate::event_handler) const INVALID_BLOCK_NUMBER_TYPE: i64 = 70101;
    pub(in crate::event_handler) const MISSING_PATH: i64 = 70200;
    pub(in crate::event_handler) const INVALID_PATH: i64 = 70201;
    pub(in crate::event_handler) const MISSING_TX_HASH: i64 = 70300;
    pub(in crate::event_handler) const INVALID_TX_HASH: i64 = 70301;
}

pub(super) struct HandlerError {
    pub(super) code: i64,
    pub(super) message: String,
    pub(super) filter_id: Option<String>,
}

pub(super) fn err(code: i64, message: impl Into<String>) -> HandlerError {
    HandlerError {
        code,
        message: message.into(),
        filter_id: None,
    }
}

impl EventHandler {
    /// Handles one text frame from channel `id`; errors become EMIT_ERROR frames.
    pub(super) fn handle_text(&self, id: u64, text: &str) {
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

    pub(super) fn handle_message(&self, id: u64, text: &str) -> Result<(), HandlerError> {
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

    pub(super) fn register(
        &self,
        channel: u64,
        client_id: &str,
        data: &Value,
    ) -> Result<(), HandlerError> {
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

    pub(super) fn schedule_deletion(&self, channel: u64, client_id: String) {
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
