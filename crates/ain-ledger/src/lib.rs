//! The AI Network ledger library: everything ain-sre knows about the chain, and nothing else.
//!
//! It depends on no other crate of the ain-sre workspace, so it can be read, tested and reused alone
//! (the built-in chain is the `ain-devnet` crate, built on this one).
//!
//! - [`json`]: stable JSON text, byte-identical to what ain-util hashes;
//! - [`codes`]: the node's result codes, one table for client and built-in chain;
//! - [`crypto`]: keys, addresses, tx/message hashes, signatures, V3 keystores;
//! - [`tx`]: typed transaction bodies and operations that hash exactly as signed, signed txs,
//!   and the node's state label/value/path rules;
//! - [`block`]: blocks, their body and header hashes, proposals and votes;
//! - [`rpc`]: the JSON-RPC client (send signed txs, reads, blocks, tx lookups, typed node errors);
//! - [`events`]: the event-handler WebSocket client (filters, keepalive, reconnect, typed events);
//! - [`follower`]: the verifying follower of finalized blocks, with its persisted cursor;
//! - [`sync`]: the poison-tolerant lock;

#![forbid(unsafe_code)]

pub mod block;
pub mod codes;
pub mod crypto;
pub mod events;
pub mod follower;
pub mod json;
pub mod rpc;
pub mod sync;
pub mod tx;

/// Milliseconds since the Unix epoch (0 for a clock set before it): the unit of tx timestamps,
/// and the one clock reading every part of ain-sre records times with.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
