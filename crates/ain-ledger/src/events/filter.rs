//! Event filters and the client→node messages (ain-protocol.md §2.2).
//!
//! A [`Filter`] is validated when it is built, so a filter the node would refuse for its id (empty,
//! or containing `:`, which the node uses to join channel and client ids) can never be sent.
//! [`ClientMessage::to_json`] writes the exact bytes the captured client sent: `{"type","data"}`
//! in that order, `null` for an unset option.

use std::fmt::Write as _;

use crate::crypto::Hash;
use crate::json::write_js_string;

use super::frame::EventSource;

/// Longest filter id accepted locally. The node has no limit of its own; ain-js uses 20-char
/// push ids, and a bound keeps every message small.
pub const MAX_FILTER_ID_LEN: usize = 128;

/// Longest custom client id the node keeps (`EVENT_HANDLER_MAX_CUSTOM_CLIENT_ID_LENGTH`); it
/// silently truncates longer ones, so they are refused here instead.
pub const MAX_CLIENT_ID_LEN: usize = 100;

/// Why a filter (or client id) was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The id is empty.
    #[error("filter id is empty")]
    EmptyId,
    /// The id contains `:`, which the node uses as its separator.
    #[error("filter id {0:?} contains ':'")]
    IdContainsColon(String),
    /// The id is longer than [`MAX_FILTER_ID_LEN`] bytes or has control characters.
    #[error("filter id {0:?} is too long or has control characters")]
    BadId(String),
    /// A VALUE_CHANGED path that is not an absolute state path.
    #[error("filter path {0:?} must start with '/' and name at least one label")]
    BadPath(String),
}

/// What a filter listens to, with its node-side config.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FilterKind {
    /// Writes at paths of the same depth matching `path` (`$var` and `*` labels match any).
    ValueChanged {
        /// The filter path.
        path: String,
        /// Only USER or only BLOCK executions; `None` for both.
        event_source: Option<EventSource>,
    },
    /// Finalized blocks: all, or only `block_number`.
    BlockFinalized {
        /// The one block to report, or `None` for every block.
        block_number: Option<u64>,
    },
    /// State changes of one tx. The node deletes the filter once the tx reaches an end state.
    TxStateChanged {
        /// The tx hash (computable before sending).
        tx_hash: Hash,
    },
}

impl FilterKind {
    /// The event type as the node spells it.
    pub fn event_type(&self) -> &'static str {
        match self {
            FilterKind::ValueChanged { .. } => "VALUE_CHANGED",
            FilterKind::BlockFinalized { .. } => "BLOCK_FINALIZED",
            FilterKind::TxStateChanged { .. } => "TX_STATE_CHANGED",
        }
    }
}

/// A validated filter: an id unique on the channel and what it listens to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Filter {
    id: String,
    kind: FilterKind,
}

impl Filter {
    /// A VALUE_CHANGED filter on `path`.
    pub fn value_changed(
        id: impl Into<String>,
        path: impl Into<String>,
        event_source: Option<EventSource>,
    ) -> Result<Filter, FilterError> {
        let path = path.into();
        if !path.starts_with('/') || path.split('/').all(str::is_empty) {
            return Err(FilterError::BadPath(path));
        }
        Filter::new(id, FilterKind::ValueChanged { path, event_source })
    }

    /// A BLOCK_FINALIZED filter: every block, or only `block_number`.
    pub fn block_finalized(
        id: impl Into<String>,
        block_number: Option<u64>,
    ) -> Result<Filter, FilterError> {
        Filter::new(id, FilterKind::BlockFinalized { block_number })
    }

    /// A TX_STATE_CHANGED filter on `tx_hash`.
    pub fn tx_state_changed(id: impl Into<String>, tx_hash: Hash) -> Result<Filter, FilterError> {
        Filter::new(id, FilterKind::TxStateChanged { tx_hash })
    }

    fn new(id: impl Into<String>, kind: FilterKind) -> Result<Filter, FilterError> {
        let id = id.into();
        validate_filter_id(&id)?;
        Ok(Filter { id, kind })
    }

    /// The filter id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What it listens to.
    pub fn kind(&self) -> &FilterKind {
        &self.kind
    }
}

/// Checks a filter id: non-empty, no `:`, at most [`MAX_FILTER_ID_LEN`] bytes, no control
/// characters.
pub fn validate_filter_id(id: &str) -> Result<(), FilterError> {
    if id.is_empty() {
        return Err(FilterError::EmptyId);
    }
    if id.contains(':') {
        return Err(FilterError::IdContainsColon(id.to_owned()));
    }
    if id.len() > MAX_FILTER_ID_LEN || id.chars().any(char::is_control) {
        return Err(FilterError::BadId(id.to_owned()));
    }
    Ok(())
}

/// A client→node message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMessage<'a> {
    /// `SET_CUSTOM_CLIENT_ID`; also the keepalive, since it counts as channel activity.
    SetCustomClientId(&'a str),
    /// `REGISTER_FILTER`.
    RegisterFilter(&'a Filter),
    /// `DEREGISTER_FILTER` of an id.
    DeregisterFilter(&'a str),
    /// `PONG`, the answer to `PING`. It does not count as activity for the idle limit.
    Pong,
}

impl ClientMessage<'_> {
    /// The frame text, byte-identical to what the captured client sent for the same message.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(96);
        match self {
            ClientMessage::SetCustomClientId(id) => {
                out.push_str(r#"{"type":"SET_CUSTOM_CLIENT_ID","data":{"customClientId":"#);
                write_js_string(&mut out, id);
                out.push_str("}}");
            }
            ClientMessage::RegisterFilter(f) => {
                out.push_str(r#"{"type":"REGISTER_FILTER","data":{"id":"#);
                write_js_string(&mut out, f.id());
                out.push_str(r#","type":""#);
                out.push_str(f.kind().event_type());
                out.push_str(r#"","config":{"#);
                match f.kind() {
                    FilterKind::ValueChanged { path, event_source } => {
                        out.push_str(r#""path":"#);
                        write_js_string(&mut out, path);
                        out.push_str(r#","event_source":"#);
                        match event_source {
                            Some(s) => write_js_string(&mut out, s.wire_name()),
                            None => out.push_str("null"),
                        }
                    }
                    FilterKind::BlockFinalized { block_number } => {
                        out.push_str(r#""block_number":"#);
                        match block_number {
                            Some(n) => {
                                let _ = write!(out, "{n}");
                            }
                            None => out.push_str("null"),
                        }
                    }
                    FilterKind::TxStateChanged { tx_hash } => {
                        let _ = write!(out, r#""tx_hash":"{tx_hash}""#);
                    }
                }
                out.push_str("}}}");
            }
            ClientMessage::DeregisterFilter(id) => {
                out.push_str(r#"{"type":"DEREGISTER_FILTER","data":{"id":"#);
                write_js_string(&mut out, id);
                out.push_str("}}");
            }
            ClientMessage::Pong => out.push_str(r#"{"type":"PONG","data":{}}"#),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn ids_are_validated() {
        assert_eq!(
            Filter::block_finalized("", None).unwrap_err(),
            FilterError::EmptyId
        );
        assert!(matches!(
            Filter::block_finalized("a:b", None),
            Err(FilterError::IdContainsColon(_))
        ));
        assert!(matches!(
            Filter::block_finalized("x".repeat(MAX_FILTER_ID_LEN + 1), None),
            Err(FilterError::BadId(_))
        ));
        assert!(matches!(
            Filter::block_finalized("a\nb", None),
            Err(FilterError::BadId(_))
        ));
        assert!(Filter::block_finalized("-Nxyz_09", Some(3)).is_ok());
        for bad in ["", "apps/a", "/", "//"] {
            assert!(
                matches!(
                    Filter::value_changed("v", bad, None),
                    Err(FilterError::BadPath(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn messages_are_valid_json_with_expected_shape() {
        let f = Filter::value_changed("v\"1", "/apps/a/$x", Some(EventSource::User)).unwrap();
        let v: Value = serde_json::from_str(&ClientMessage::RegisterFilter(&f).to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"REGISTER_FILTER","data":{"id":"v\"1","type":"VALUE_CHANGED",
                "config":{"path":"/apps/a/$x","event_source":"USER"}}})
        );
        let f = Filter::block_finalized("b", Some(12)).unwrap();
        let v: Value = serde_json::from_str(&ClientMessage::RegisterFilter(&f).to_json()).unwrap();
        assert_eq!(v["data"]["config"], json!({"block_number":12}));
        let v: Value =
            serde_json::from_str(&ClientMessage::SetCustomClientId("w\\1").to_json()).unwrap();
        assert_eq!(v["data"]["customClientId"], "w\\1");
        assert_eq!(
            ClientMessage::DeregisterFilter("b").to_json(),
            r#"{"type":"DEREGISTER_FILTER","data":{"id":"b"}}"#
        );
        assert_eq!(
            ClientMessage::Pong.to_json(),
            r#"{"type":"PONG","data":{}}"#
        );
    }
}
