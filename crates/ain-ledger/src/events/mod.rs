//! Client for the node's event handler (ain-blockchain 1.6.0, WebSocket on port 5100).
//!
//! Three layers, each usable alone:
//! - [`decode_frame`] turns one node frame into a typed [`Frame`] (pure, fuzzable, never fatal);
//! - [`Filter`] and [`ClientMessage`] build what the client sends, validated before sending;
//! - [`EventClient`] runs the connection: registration, PING/PONG, keepalive inside the node's
//!   600 s idle limit, reconnect with backoff and re-registration (channels also close after
//!   1 h), and typed [`ClientEvent`]s on a bounded channel, including `Connected` and
//!   `Disconnected` notices so the consumer knows when to catch up by reading state (the node
//!   never replays events).
//!
//! Events are hints: VALUE_CHANGED fires at USER and BLOCK execution and neither means final.

mod client;
mod config;
mod filter;
mod frame;
mod manager;

pub use crate::rpc::TxState;
pub use client::{ClientEvent, EventClient, EventHandle, EventStats};
pub use config::EventsConfig;
pub use filter::{
    ClientMessage, Filter, FilterError, FilterKind, MAX_CLIENT_ID_LEN, MAX_FILTER_ID_LEN,
    validate_filter_id,
};
pub use frame::{
    Auth, BlockFinalized, DecodeError, DeletionReason, EmitError, Event, EventPayload, EventSource,
    FAILED_TO_REGISTER_FILTER, FilterDeleted, Frame, TxStateChange, TxStateChanged, ValueChange,
    ValueChanged, decode_frame,
};

/// Errors of the event client's own API (the connection's troubles are
/// [`ClientEvent::Disconnected`] notices, not errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventsError {
    /// A setting is out of range.
    #[error("invalid events config: {0}")]
    Config(String),
    /// A filter failed validation.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// A filter with this id is already registered.
    #[error("filter id {0:?} is already registered")]
    DuplicateFilter(String),
    /// The set already holds the configured maximum of filters.
    #[error("at most {0} filters may be registered per channel")]
    TooManyFilters(usize),
    /// The client has shut down.
    #[error("the event client has shut down")]
    Closed,
}
