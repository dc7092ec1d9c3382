//! Decoding the frames an event-handler node sends (ain-protocol.md §2.2, checked against the 65
//! captured frames).
//!
//! [`decode_frame`] is a pure function of the frame text: it never panics and never allocates
//! more than the input warrants, so it can be fuzzed and a hostile frame costs one skipped message.
//! It is lenient about extra fields (a newer node may add some) and strict about the fields the
//! worker relies on: an `EMIT_EVENT` without a filter id, a block hash that is not a hash or a tx
//! without its signature is an error, not a half-filled event. The tx an event carries is the
//! [`SignedTx`] blocks carry (the node sends the same object), so it is held to the same strict
//! form: a tx whose body does not parse makes the frame malformed. Event types it does not know come
//! back as [`EventPayload::Unknown`], frame types as [`Frame::Other`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::crypto::{Address, Hash};
use crate::rpc::TxState;
use crate::tx::SignedTx;

/// One decoded node→client frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `PING`: the node's heartbeat; must be answered with `PONG`.
    Ping,
    /// `EMIT_EVENT`: an event for one of this channel's filters.
    Event(Event),
    /// `EMIT_ERROR`: the node refused a message (for example a filter registration).
    Error(EmitError),
    /// A well-formed frame of a type this client does not handle.
    Other {
        /// The frame's `type`.
        kind: String,
    },
}

/// An event delivered for a filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The id the client gave the filter when registering it.
    pub filter_id: String,
    /// The typed event.
    pub payload: EventPayload,
}

/// The event kinds of ain-blockchain 1.6.0 (`BlockchainEventTypes`).
#[derive(Debug, Clone, PartialEq)]
pub enum EventPayload {
    /// A value was written at a path matching a VALUE_CHANGED filter (boxed: it carries a tx
    /// and two values, ten times the size of the other variants).
    ValueChanged(Box<ValueChanged>),
    /// A tracked tx changed state (boxed, as it carries the tx).
    TxStateChanged(Box<TxStateChanged>),
    /// A block was finalized.
    BlockFinalized(BlockFinalized),
    /// The node deleted one of this channel's filters.
    FilterDeleted(FilterDeleted),
    /// An event type this version does not know, kept as sent.
    Unknown {
        /// The event's `type`.
        event_type: String,
        /// The event's `payload` (`null` if absent).
        payload: Value,
    },
}

/// Where a VALUE_CHANGED write was executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventSource {
    /// The node executed a newly received tx (before any block).
    User,
    /// The node executed a proposed block's txs. Still not final.
    Block,
}

impl EventSource {
    /// The node's name for the source.
    pub fn wire_name(self) -> &'static str {
        match self {
            EventSource::User => "USER",
            EventSource::Block => "BLOCK",
        }
    }
}

/// `VALUE_CHANGED`: fired at USER and again at BLOCK execution; neither means final.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ValueChanged {
    /// The filter's path, with its `$var` labels.
    pub filter_path: String,
    /// The written path (same depth as the filter path).
    pub matched_path: String,
    /// `$var` labels of the filter path bound to the written path's labels (without `$`).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Who wrote: the signer (`addr`) or a function (`fid`).
    #[serde(default)]
    pub auth: Option<Auth>,
    /// The tx that caused the write; the node omits it for writes without one.
    #[serde(default)]
    pub transaction: Option<SignedTx>,
    /// USER or BLOCK.
    pub event_source: EventSource,
    /// The value before and after the write (`after` is `null` for a deletion).
    pub values: ValueChange,
}

/// The writer of a VALUE_CHANGED write.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Auth {
    /// The signer's address, for tx writes.
    #[serde(default)]
    pub addr: Option<Address>,
    /// The function id, for writes made by a triggered function.
    #[serde(default)]
    pub fid: Option<String>,
}

/// Before and after values of a write.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ValueChange {
    /// The value before (`null` if there was none).
    #[serde(default)]
    pub before: Value,
    /// The value after (`null` for a deletion).
    #[serde(default)]
    pub after: Value,
}

/// `TX_STATE_CHANGED`: the tx and its state transition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TxStateChanged {
    /// The tracked tx.
    pub transaction: SignedTx,
    /// The transition.
    pub tx_state: TxStateChange,
}

/// A state transition; `before` is `None` for the first report of a tx.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TxStateChange {
    /// The previous state, if the node reported one.
    #[serde(default)]
    pub before: Option<TxState>,
    /// The new state.
    pub after: TxState,
}

/// `BLOCK_FINALIZED`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BlockFinalized {
    /// The finalized block's number.
    pub block_number: u64,
    /// The finalized block's hash.
    pub block_hash: Hash,
}

/// `FILTER_DELETED`: the node no longer serves this filter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FilterDeleted {
    /// The deleted filter's id.
    pub filter_id: String,
    /// Why.
    pub reason: DeletionReason,
}

/// Why the node deleted a filter (`FilterDeletionReasons`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeletionReason {
    /// The client deregistered it.
    DeletedByUser,
    /// A TX_STATE_CHANGED filter's tx reached an end state.
    EndStateReached,
    /// A TX_STATE_CHANGED filter on an unknown tx saw no event for 100 s.
    FilterTimeout,
    /// The node failed while serving it.
    ErrorOccurred,
    /// A reason this version does not know.
    Unknown(String),
}

impl DeletionReason {
    /// The node's name for the reason.
    pub fn wire_name(&self) -> &str {
        match self {
            DeletionReason::DeletedByUser => "DELETED_BY_USER",
            DeletionReason::EndStateReached => "END_STATE_REACHED",
            DeletionReason::FilterTimeout => "FILTER_TIMEOUT",
            DeletionReason::ErrorOccurred => "ERROR_OCCURRED",
            DeletionReason::Unknown(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for DeletionReason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DeletionReason, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(match &*s {
            "DELETED_BY_USER" => DeletionReason::DeletedByUser,
            "END_STATE_REACHED" => DeletionReason::EndStateReached,
            "FILTER_TIMEOUT" => DeletionReason::FilterTimeout,
            "ERROR_OCCURRED" => DeletionReason::ErrorOccurred,
            other => DeletionReason::Unknown(other.to_owned()),
        })
    }
}

/// `EMIT_ERROR`: the node refused something this client sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EmitError {
    /// `EventHandlerErrorCode`, for example 70020 failed to register a filter.
    pub code: i64,
    /// The node's explanation.
    #[serde(default)]
    pub message: String,
    /// The filter concerned, when there is one.
    #[serde(default)]
    pub filter_id: Option<String>,
}

/// `EventHandlerErrorCode.FAILED_TO_REGISTER_FILTER`: the filter was not registered.
pub const FAILED_TO_REGISTER_FILTER: i64 = 70020;

/// Why a frame could not be decoded. The frame is skipped; the connection stays up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The text is not JSON.
    #[error("frame is not JSON: {0}")]
    NotJson(String),
    /// The JSON is not an object.
    #[error("frame is not a JSON object")]
    NotObject,
    /// No string `type`.
    #[error("frame has no string `type`")]
    MissingType,
    /// A frame type that needs `data` came without a `data` object.
    #[error("{kind} frame has no `data` object")]
    MissingData {
        /// The frame type.
        kind: String,
    },
    /// A required member is absent or has the wrong JSON type.
    #[error("{frame} frame: `{field}` is missing or not a {expected}")]
    Field {
        /// The frame (or event) type.
        frame: String,
        /// The member.
        field: &'static str,
        /// The JSON type it must have.
        expected: &'static str,
    },
    /// The event payload or error body does not have the node's shape.
    #[error("{what} payload does not decode: {reason}")]
    Payload {
        /// The event or frame type.
        what: String,
        /// serde's reason.
        reason: String,
    },
}

/// Decodes one text frame from the node.
pub fn decode_frame(text: &str) -> Result<Frame, DecodeError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let Value::Object(mut top) = value else {
        return Err(DecodeError::NotObject);
    };
    let kind = match top.get("type") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(DecodeError::MissingType),
    };
    match kind.as_str() {
        // The heartbeat's data is always `{}`; nothing in it is needed.
        "PING" => Ok(Frame::Ping),
        "EMIT_EVENT" => decode_event(take_data(&mut top, &kind)?).map(Frame::Event),
        "EMIT_ERROR" => {
            let data = take_data(&mut top, &kind)?;
            let err = from_value::<EmitError>(Value::Object(data), "EMIT_ERROR")?;
            Ok(Frame::Error(err))
        }
        _ => Ok(Frame::Other { kind }),
    }
}

fn take_data(top: &mut Map<String, Value>, kind: &str) -> Result<Map<String, Value>, DecodeError> {
    match top.remove("data") {
        Some(Value::Object(m)) => Ok(m),
        _ => Err(DecodeError::MissingData {
            kind: kind.to_owned(),
        }),
    }
}

fn decode_event(mut data: Map<String, Value>) -> Result<Event, DecodeError> {
    let field = |field, expected| DecodeError::Field {
        frame: "EMIT_EVENT".into(),
        field,
        expected,
    };
    let event_type = match data.remove("type") {
        Some(Value::String(s)) => s,
        _ => return Err(field("type", "string")),
    };
    let filter_id = match data.remove("filter_id") {
        Some(Value::String(s)) => s,
        _ => return Err(field("filter_id", "string")),
    };
    let payload = data.remove("payload").unwrap_or(Value::Null);
    let known = matches!(
        event_type.as_str(),
        "VALUE_CHANGED" | "TX_STATE_CHANGED" | "BLOCK_FINALIZED" | "FILTER_DELETED"
    );
    if known && !payload.is_object() {
        return Err(DecodeError::Field {
            frame: event_type,
            field: "payload",
            expected: "object",
        });
    }
    let payload = match event_type.as_str() {
        "VALUE_CHANGED" => EventPayload::ValueChanged(from_value(payload, &event_type)?),
        "TX_STATE_CHANGED" => EventPayload::TxStateChanged(from_value(payload, &event_type)?),
        "BLOCK_FINALIZED" => EventPayload::BlockFinalized(from_value(payload, &event_type)?),
        "FILTER_DELETED" => EventPayload::FilterDeleted(from_value(payload, &event_type)?),
        _ => EventPayload::Unknown {
            event_type,
            payload,
        },
    };
    Ok(Event { filter_id, payload })
}

fn from_value<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, DecodeError> {
    serde_json::from_value(v).map_err(|e| DecodeError::Payload {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

impl fmt::Display for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TX: &str = r#"{"tx_body":{"operation":{"type":"SET_VALUE","ref":"/apps/a/j/1/request","value":{"n":1}},"nonce":-1,"timestamp":1,"gas_price":0},"signature":"0xe8f50a40ed261aa2f379e9851082bed64ae7c3f8801cf18bd65435ca46b1879c51b8a79966a1b658ad6b0f63caa1bf97aa72f46f6ed641b1f1ee27620e0db35824604dd7419e6d08f103d5b50298339e82faaeb02b565caedaf83c92215968da1c","hash":"0xe8f50a40ed261aa2f379e9851082bed64ae7c3f8801cf18bd65435ca46b1879c","address":"0x00ADEc28B6a845a085e03591bE7550dd68673C1C"}"#;

    fn event(t: &str, payload: &str) -> String {
        format!(
            r#"{{"type":"EMIT_EVENT","data":{{"type":"{t}","payload":{payload},"filter_id":"f1"}}}}"#
        )
    }

    #[test]
    fn ping_and_other() {
        assert_eq!(
            decode_frame(r#"{"type":"PING","data":{}}"#),
            Ok(Frame::Ping)
        );
        assert_eq!(decode_frame(r#"{"type":"PING"}"#), Ok(Frame::Ping));
        assert_eq!(
            decode_frame(r#"{"type":"HELLO","data":{}}"#),
            Ok(Frame::Other {
                kind: "HELLO".into()
            })
        );
    }

    #[test]
    fn value_changed_with_and_without_tx() {
        let payload = format!(
            r#"{{"filter_path":"/apps/a/j/$id/request","matched_path":"/apps/a/j/1/request","params":{{"id":"1"}},"auth":{{"addr":"0x00ADEc28B6a845a085e03591bE7550dd68673C1C"}},"transaction":{TX},"event_source":"BLOCK","values":{{"before":null,"after":{{"n":1}}}},"future_field":1}}"#
        );
        let Ok(Frame::Event(ev)) = decode_frame(&event("VALUE_CHANGED", &payload)) else {
            panic!()
        };
        assert_eq!(ev.filter_id, "f1");
        let EventPayload::ValueChanged(vc) = ev.payload else {
            panic!()
        };
        assert_eq!(vc.params.get("id").map(String::as_str), Some("1"));
        assert_eq!(vc.event_source, EventSource::Block);
        assert_eq!(vc.values.after, serde_json::json!({"n":1}));
        let tx = vc.transaction.unwrap();
        let sig = crate::crypto::Signature::parse(&tx.signature).unwrap();
        assert_eq!(sig.hash, tx.hash);
        assert!(tx.extra.is_none());
        let bare = r#"{"filter_path":"/a/$x","matched_path":"/a/b","event_source":"USER","values":{"before":1}}"#;
        let Ok(Frame::Event(ev)) = decode_frame(&event("VALUE_CHANGED", bare)) else {
            panic!()
        };
        let EventPayload::ValueChanged(vc) = ev.payload else {
            panic!()
        };
        assert!(vc.transaction.is_none() && vc.auth.is_none());
        assert_eq!(vc.values.after, Value::Null);
    }

    #[test]
    fn tx_state_block_deleted_error() {
        let p =
            format!(r#"{{"transaction":{TX},"tx_state":{{"before":null,"after":"EXECUTED"}}}}"#);
        let Ok(Frame::Event(Event {
            payload: EventPayload::TxStateChanged(t),
            ..
        })) = decode_frame(&event("TX_STATE_CHANGED", &p))
        else {
            panic!()
        };
        assert_eq!(
            (t.tx_state.before, t.tx_state.after),
            (None, TxState::Executed)
        );
        let p = r#"{"block_number":5,"block_hash":"0x9b15267406f9324cd272f8a51eb6c6fb277484ab8a697acae15c3f82878fdb45"}"#;
        let Ok(Frame::Event(Event {
            payload: EventPayload::BlockFinalized(b),
            ..
        })) = decode_frame(&event("BLOCK_FINALIZED", p))
        else {
            panic!()
        };
        assert_eq!(b.block_number, 5);
        let p = r#"{"filter_id":"f1","reason":"SOMETHING_NEW"}"#;
        let Ok(Frame::Event(Event {
            payload: EventPayload::FilterDeleted(d),
            ..
        })) = decode_frame(&event("FILTER_DELETED", p))
        else {
            panic!()
        };
        assert_eq!(d.reason, DeletionReason::Unknown("SOMETHING_NEW".into()));
        let e = decode_frame(r#"{"type":"EMIT_ERROR","data":{"code":70005,"message":"bad"}}"#);
        assert_eq!(
            e,
            Ok(Frame::Error(EmitError {
                code: 70005,
                message: "bad".into(),
                filter_id: None
            }))
        );
    }

    #[test]
    fn unknown_event_type_is_kept() {
        let f = decode_frame(&event("NEW_KIND", r#"{"x":1}"#)).unwrap();
        assert_eq!(
            f,
            Frame::Event(Event {
                filter_id: "f1".into(),
                payload: EventPayload::Unknown {
                    event_type: "NEW_KIND".into(),
                    payload: serde_json::json!({"x":1})
                }
            })
        );
    }

    #[test]
    fn malformed_frames_are_errors() {
        let cases: &[&str] = &[
            "",
            "not json",
            "[1,2]",
            "42",
            r#"{"data":{}}"#,
            r#"{"type":7,"data":{}}"#,
            r#"{"type":"EMIT_EVENT"}"#,
            r#"{"type":"EMIT_EVENT","data":[]}"#,
            r#"{"type":"EMIT_EVENT","data":{"payload":{},"filter_id":"f"}}"#,
            r#"{"type":"EMIT_EVENT","data":{"type":"BLOCK_FINALIZED","payload":{"block_number":1,"block_hash":"0x00"}}}"#,
            r#"{"type":"EMIT_EVENT","data":{"type":"BLOCK_FINALIZED","payload":{"block_number":"1","block_hash":"0x9b15267406f9324cd272f8a51eb6c6fb277484ab8a697acae15c3f82878fdb45"},"filter_id":"f"}}"#,
            r#"{"type":"EMIT_EVENT","data":{"type":"BLOCK_FINALIZED","payload":{"block_number":-1,"block_hash":"0x9b15267406f9324cd272f8a51eb6c6fb277484ab8a697acae15c3f82878fdb45"},"filter_id":"f"}}"#,
            r#"{"type":"EMIT_EVENT","data":{"type":"BLOCK_FINALIZED","payload":null,"filter_id":"f"}}"#,
            r#"{"type":"EMIT_EVENT","data":{"type":"VALUE_CHANGED","payload":{"filter_path":"/a","matched_path":"/a","event_source":"ELSEWHERE","values":{}},"filter_id":"f"}}"#,
            r#"{"type":"EMIT_EVENT","data":{"type":"TX_STATE_CHANGED","payload":{"tx_state":{"after":"EXECUTED"}},"filter_id":"f"}}"#,
            r#"{"type":"EMIT_ERROR","data":{"message":"no code"}}"#,
            r#"{"type":"EMIT_ERROR","data":"x"}"#,
        ];
        for c in cases {
            assert!(decode_frame(c).is_err(), "accepted: {c}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(decode_frame(&deep), Err(DecodeError::NotJson(_))));
    }
}
